//! Arbitrary UTF-8 as a witness file: `WitnessFile::parse` must return a file or an error,
//! never panic; an accepted file must survive its own JSON round trip, and replaying each of
//! its witnesses (a hand-edited file's states go straight into the machine) must return a
//! replay or an error, never panic. Witnesses replay on the built-in profile they name, else
//! on `s370`: the fuzzer never reads a profile from a path in the file.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pgvm_classify::WitnessFile;
use pgvm_isa::Isa;

fn builtins() -> &'static [Isa] {
    static ISAS: OnceLock<Vec<Isa>> = OnceLock::new();
    ISAS.get_or_init(|| {
        pgvm_isa::builtin_names()
            .into_iter()
            .filter_map(|n| pgvm_isa::load(n).ok())
            .collect()
    })
}

fuzz_target!(|text: &str| {
    let Ok(file) = WitnessFile::parse("fuzz.json", text) else {
        return;
    };
    let again = WitnessFile::parse("again.json", &file.to_json());
    assert!(
        again.as_ref().ok() == Some(&file),
        "witness JSON does not round-trip"
    );
    let isas = builtins();
    let Some(fallback) = isas.iter().find(|i| i.name == "s370") else {
        return;
    };
    for (i, w) in file.witnesses.iter().enumerate() {
        let isa = isas.iter().find(|i| i.name == w.isa).unwrap_or(fallback);
        let _ = pgvm_classify::replay(isa, w, i);
    }
});
