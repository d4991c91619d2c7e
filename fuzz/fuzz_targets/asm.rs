//! Arbitrary UTF-8 as assembly source for the s370 profile: `assemble_str` must return an
//! image or an error, never panic. A successful image must also survive the disassembler.
//!
//! The same text is also assembled from an in-memory source provider in which `main.s` is the
//! text and `inc.s` is the text without its first line, so `.include "inc.s"` reaches the
//! include machinery (nesting, cycles, the caps) without touching the disk.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pgvm_asm::MemorySources;
use pgvm_isa::Isa;

fn isa() -> Option<&'static Isa> {
    static ISA: OnceLock<Option<Isa>> = OnceLock::new();
    ISA.get_or_init(|| pgvm_isa::load("s370").ok()).as_ref()
}

fuzz_target!(|src: &str| {
    let Some(isa) = isa() else { return };
    let _ = pgvm_asm::declared_isa(src);
    if let Ok(image) = pgvm_asm::assemble_str("fuzz.s", src, isa) {
        let text = pgvm_asm::disassemble(&image, isa);
        let again = pgvm_asm::assemble_str("disasm.s", &text, isa);
        assert!(
            again.as_ref().ok() == Some(&image),
            "disassembly does not round-trip"
        );
    }
    let rest = src.split_once('\n').map_or("", |(_, r)| r);
    let files = MemorySources::new([("main.s", src), ("inc.s", rest)]);
    let _ = pgvm_asm::assemble_from(Path::new("main.s"), &files, isa);
});
