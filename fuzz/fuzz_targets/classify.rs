//! The classifier on fuzzed instruction sets: 8 bytes of seed, then ISA declarations appended
//! to `isa f "fuzzed" / extends base`. If the profile parses, a few of its instructions are
//! classified with a tiny search, and every witness the classifier reports must replay on the
//! machine as confirmed: a witness that does not is a classifier bug, not an input error.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((seed, isa)) = common::profile(data) else {
        return;
    };
    let config = pgvm_classify::Config {
        seed,
        samples: 16,
        ..pgvm_classify::Config::default()
    };
    for id in common::chosen(&isa, seed, 3) {
        let report = pgvm_classify::classify_insn(&isa, id, &config);
        for (i, w) in report.witnesses.iter().enumerate() {
            match pgvm_classify::replay(&isa, w, i) {
                Ok(r) => assert!(
                    r.confirmed,
                    "witness {i} of `{}` ({}) does not replay: observed {:?}, claimed {:?}",
                    w.mnemonic,
                    w.atom.name(),
                    r.observed,
                    w.observation
                ),
                Err(e) => panic!("witness {i} of `{}` is refused by replay: {e}", w.mnemonic),
            }
        }
    }
});
