//! Arbitrary UTF-8 as an ISA description: `parse_str` must return a value or an error, never
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|src: &str| {
    let _ = pgvm_isa::parse_str("fuzz.isa", src);
});
