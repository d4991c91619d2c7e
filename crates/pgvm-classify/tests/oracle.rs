//! pgvm's own machine as an oracle: the oracle search agrees with the classifier on the
//! built-in profiles, and its witnesses replay.

use pgvm_classify::generate::Target;
use pgvm_classify::oracle::{self, MachineOracle};
use pgvm_classify::{Atom, Class, Config, Finding, classify};

#[test]
fn the_machine_oracle_agrees_with_the_classifier() {
    for name in ["m68000", "m68010", "pdp10", "ia32"] {
        let isa = pgvm_isa::load(name).expect("built-in");
        let report = classify(
            &isa,
            &Config {
                samples: 2_000,
                ..Config::default()
            },
        )
        .expect("classified");
        let oracle = MachineOracle { isa: &isa };
        for (id, insn) in isa.insns.iter().enumerate() {
            let target = Target::new(&isa, id, false);
            let r = oracle::search(&oracle, &insn.mnemonic, insn.opcode, 0, 300, |rng| {
                let small = rng.chance(1, 2);
                target.sample(rng, small).state
            });
            let classified = &report.instructions[id];
            for (atom, finding) in &r.report.findings {
                if let Finding::Witnessed { witness, .. } = finding {
                    // Whatever the oracle search finds, the classifier knows too: never
                    // proved absent, and found.
                    assert!(
                        matches!(classified.findings[atom], Finding::Witnessed { .. }),
                        "{name} {}: oracle found {atom:?} ({}), the classifier did not",
                        insn.mnemonic,
                        r.witnesses[*witness].claim
                    );
                    let w = &r.witnesses[*witness];
                    let replayed = oracle::replay(&oracle, w).expect("well-formed");
                    assert!(replayed.confirmed, "{w:?}");
                }
            }
        }
    }
}

#[test]
fn the_machine_oracle_finds_movesr_on_the_m68000_profile() {
    let isa = pgvm_isa::load("m68000").expect("built-in");
    let id = isa.insn("movesr").expect("movesr");
    let oracle = MachineOracle { isa: &isa };
    let target = Target::new(&isa, id, false);
    let r = oracle::search(&oracle, "movesr", 0x40, 0, 1_000, |rng| {
        target.sample(rng, true).state
    });
    assert!(r.report.sensitive());
    assert!(!r.report.is(Class::Privileged));
    assert!(matches!(
        r.report.findings[&Atom::ModeSensitive],
        Finding::Witnessed { .. }
    ));
    // No proof is ever claimed by an oracle search.
    for f in r.report.findings.values() {
        if let Finding::Absent { by, .. } = f {
            assert_ne!(*by, pgvm_classify::Evidence::Proof);
        }
    }
}
