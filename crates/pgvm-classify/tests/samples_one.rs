//! DESIGN.md §2: the absence of a witness is never the stronger answer by default. With a
//! search of one state, instructions whose bodies cannot trap in user mode must still come out
//! not privileged, by proof (a constructed, replayable counterexample), not "privileged
//! (search)".

use pgvm_classify::{Atom, Class, Config, Evidence, Finding, classify, replay};

#[test]
fn one_sample_does_not_make_ia32_s_critical_instructions_privileged() {
    let isa = pgvm_isa::load("ia32").unwrap_or_else(|e| panic!("{e}"));
    let config = Config {
        samples: 1,
        ..Config::default()
    };
    let r = classify(&isa, &config).unwrap_or_else(|e| panic!("{e}"));
    for m in ["smsw", "pushf", "popf"] {
        let i = r
            .instructions
            .iter()
            .find(|i| i.mnemonic == m)
            .unwrap_or_else(|| panic!("{m}"));
        let v = &i.classes[&Class::Privileged];
        assert!(!v.value, "{m}: {v:?}");
        assert_eq!(v.evidence, Evidence::Proof, "{m}");
        let Finding::Witnessed { witness, by } = i.findings[&Atom::NotPrivileged] else {
            panic!("{m}: {:?}", i.findings[&Atom::NotPrivileged]);
        };
        assert_eq!(by, Evidence::Proof, "{m}");
        let w = &i.witnesses[witness];
        assert_eq!(w.found_by, Evidence::Proof);
        let rep = replay(&isa, w, witness).unwrap_or_else(|e| panic!("{e}"));
        assert!(rep.confirmed, "{m}: {rep:?}");
        assert!(
            w.claim.contains("in user mode it did not trap"),
            "{}",
            w.claim
        );
    }
    assert!(!r.theorem1.holds);
}

#[test]
fn a_body_that_traps_in_user_mode_gets_no_constructed_counterexample() {
    // lgdt is privileged by its shape: nothing to construct, and the proof stands.
    let isa = pgvm_isa::load("ia32").unwrap_or_else(|e| panic!("{e}"));
    let config = Config {
        samples: 1,
        ..Config::default()
    };
    let r = classify(&isa, &config).unwrap_or_else(|e| panic!("{e}"));
    let lgdt = r
        .instructions
        .iter()
        .find(|i| i.mnemonic == "lgdt")
        .expect("lgdt");
    assert!(lgdt.is(Class::Privileged));
    assert_eq!(lgdt.classes[&Class::Privileged].evidence, Evidence::Proof);
    assert!(lgdt.witnesses.iter().all(|w| w.found_by != Evidence::Proof));
}
