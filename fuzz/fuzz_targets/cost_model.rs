//! Arbitrary UTF-8 as a cost model: `CostModel::parse` must return a model or a located
//! error, never panic; an accepted model's prices are finite and not negative, and resolve for
//! every technique on a built-in profile.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pgvm_isa::Isa;
use pgvm_lab::TechniqueKind;
use pgvm_lab::cost::{CostError, CostModel};

fn isa() -> Option<&'static Isa> {
    static ISA: OnceLock<Option<Isa>> = OnceLock::new();
    ISA.get_or_init(|| pgvm_isa::load("ia32-vt").ok()).as_ref()
}

fuzz_target!(|text: &str| {
    let Some(isa) = isa() else { return };
    match CostModel::parse("fuzz.toml", text) {
        Ok(m) => {
            for t in TechniqueKind::ALL.map(Some).into_iter().chain([None]) {
                let p = m.prices_for(isa, t);
                let v = p.virtualized(&pgvm_lab::Tally::default());
                assert!(v == 0.0, "no events, no cycles");
                assert!(p.exit.cycles >= 0.0 && p.exit.cycles.is_finite());
            }
        }
        Err(CostError::Source { line, col, .. }) => {
            assert!(line >= 1 && col >= 1, "a location is 1-based");
            assert!(line <= text.lines().count().max(1) + 1, "within the text");
        }
        Err(CostError::Io(_)) => panic!("parsing text reads no file"),
    }
});
