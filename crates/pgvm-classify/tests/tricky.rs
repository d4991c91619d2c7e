//! Hand-made ISAs, one per tricky case of the definitions (tests/isa/*.isa): the classifier
//! must derive exactly what DESIGN.md §2 implies, say how it knows, and every witness must
//! replay.

use std::path::Path;

use pgvm_classify::{Class, Config, Evidence, InsnReport, Report, classify, replay};

/// Fewer states than the default keeps `cargo test` quick in a debug build; every verdict
/// asserted here is settled by a proof or found within the first few hundred states.
const SAMPLES: u64 = 20_000;

fn report(file: &str) -> Report {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/isa")
        .join(file);
    let isa = pgvm_isa::load_file(&path).unwrap_or_else(|e| panic!("{e}"));
    let config = Config {
        samples: SAMPLES,
        seed: 1974,
        ..Config::default()
    };
    let r = classify(&isa, &config).unwrap_or_else(|e| panic!("{e}"));
    for i in &r.instructions {
        for (k, w) in i.witnesses.iter().enumerate() {
            let rep = replay(&isa, w, k).unwrap_or_else(|e| panic!("{e}"));
            assert!(
                rep.confirmed,
                "{} witness {k} does not replay: {rep:?}",
                i.mnemonic
            );
        }
    }
    r
}

fn insn<'a>(r: &'a Report, m: &str) -> &'a InsnReport {
    r.instructions
        .iter()
        .find(|i| i.mnemonic == m)
        .unwrap_or_else(|| panic!("no {m}"))
}

/// Asserts the classes that hold (all others must not), for one instruction.
fn classes(i: &InsnReport, expected: &[Class]) {
    for c in pgvm_classify::CLASSES {
        assert_eq!(
            i.is(c),
            expected.contains(&c),
            "{}: {} ({:?})",
            i.mnemonic,
            c.key(),
            i.classes[&c]
        );
    }
}

fn evidence(i: &InsnReport, c: Class) -> Evidence {
    i.classes[&c].evidence
}

use Class::*;

#[test]
fn privileged_for_some_operands_only_is_not_privileged() {
    let r = report("priv-some-operands.isa");
    let i = insn(&r, "pso");
    classes(i, &[Innocuous]);
    let w = &i.witnesses[i.classes[&Privileged].witness.expect("a counterexample")];
    assert!(
        w.claim.contains("in user mode it did not trap"),
        "{}",
        w.claim
    );
    assert!(r.theorem1.holds && r.theorem3.holds);
}

#[test]
fn a_user_mode_nop_is_not_privileged() {
    let r = report("user-nop.isa");
    let i = insn(&r, "unop");
    classes(i, &[ControlSensitive, SupervisorSensitive]);
    assert_eq!(
        evidence(i, UserSensitive),
        Evidence::Proof,
        "nothing happens in user mode"
    );
    assert!(!r.theorem1.holds);
    assert_eq!(r.theorem1.violations, ["unop"]);
    assert!(r.theorem3.holds, "not user-sensitive");
}

#[test]
fn sensitivity_only_through_a_memory_trap_is_no_sensitivity() {
    let r = report("memtrap-only.isa");
    for m in ["mprobe", "lprobe"] {
        classes(insn(&r, m), &[Innocuous]);
    }
    // Neither proof applies (one reads M, the other R): the search says so, with its extent.
    let i = insn(&r, "mprobe");
    assert_eq!(evidence(i, ModeSensitive), Evidence::Search);
    assert!(
        i.classes[&ModeSensitive]
            .detail
            .contains("states, seed 1974")
    );
    assert_eq!(
        evidence(insn(&r, "lprobe"), LocationSensitive),
        Evidence::Search
    );
    assert!(r.theorem1.holds);
}

#[test]
fn location_sensitive_for_one_operand_value() {
    let r = report("loc-one-operand.isa");
    let i = insn(&r, "lone");
    classes(i, &[LocationSensitive, UserSensitive, SupervisorSensitive]);
    let w = &i.witnesses[i.classes[&LocationSensitive].witness.expect("witness")];
    let s = &w.states[0];
    let word = s.word(s.develop(s.p).expect("fetchable"));
    assert_eq!(word >> 20 & 0x3ffff, 42, "the witness uses b = 42");
    assert!(!r.theorem1.holds && !r.theorem3.holds);
}

#[test]
fn mode_sensitive_only_when_a_particular_word_is_read() {
    let r = report("mode-word.isa");
    let i = insn(&r, "mword");
    classes(i, &[ModeSensitive]);
    let w = &i.witnesses[i.classes[&ModeSensitive].witness.expect("witness")];
    assert!(w.states[0].memory.iter().any(|&(_, v)| v == 0x5eed));
    assert!(!r.theorem1.holds);
    assert!(r.theorem3.holds, "mode sensitivity is not user sensitivity");
}

#[test]
fn a_supervisor_call_that_traps_in_both_modes_is_innocuous() {
    let r = report("svc-both.isa");
    for m in ["svc", "sc2"] {
        let i = insn(&r, m);
        classes(i, &[Innocuous]);
        assert_eq!(evidence(i, Innocuous), Evidence::Proof, "{m}");
    }
    assert!(r.theorem1.holds && r.theorem3.holds && r.theorem2.holds);
}

#[test]
fn an_unprivileged_halt_is_control_sensitive() {
    let r = report("halt-unpriv.isa");
    let i = insn(&r, "uhalt");
    classes(i, &[ControlSensitive, UserSensitive, SupervisorSensitive]);
    assert!(
        i.witnesses
            .iter()
            .any(|w| w.claim == "the processor halted")
    );
    assert!(!r.theorem1.holds && !r.theorem3.holds && !r.theorem2.holds);
}

#[test]
fn a_clock_read_is_timing_dependent_and_nothing_else() {
    let r = report("clock-read.isa");
    let i = insn(&r, "rdclk");
    classes(i, &[TimingDependent, Innocuous]);
    assert_eq!(evidence(i, Innocuous), Evidence::Proof);
    assert!(r.theorem1.holds && r.theorem3.holds);
    assert!(!r.theorem2.holds);
    assert_eq!(r.theorem2.violations, ["rdclk"]);
    assert_eq!(r.theorem2.timing_dependent, ["rdclk"]);
}

#[test]
fn absolute_stores_are_classified_by_where_they_land() {
    let r = report("abs-store.isa");
    // Outside the window: control-sensitive; a fixed physical address: location-sensitive.
    let sta = insn(&r, "sta");
    classes(
        sta,
        &[
            ControlSensitive,
            LocationSensitive,
            UserSensitive,
            SupervisorSensitive,
        ],
    );
    assert!(
        sta.witnesses
            .iter()
            .any(|w| w.claim.contains("outside the window"))
    );
    // Always inside the window at the same offset: innocuous, by search (it reads R).
    let stw = insn(&r, "stw");
    classes(stw, &[Innocuous]);
    assert_eq!(evidence(stw, Innocuous), Evidence::Search);
    assert_eq!(r.theorem1.violations, ["sta"]);
}

#[test]
fn privilege_comes_from_the_body_not_the_keyword() {
    let r = report("hand-guard.isa");
    let h = insn(&r, "hlrb");
    classes(h, &[Privileged, ControlSensitive, SupervisorSensitive]);
    assert_eq!(evidence(h, Privileged), Evidence::Proof);
    // `privileged`, but a zero divisor traps in supervisor mode too.
    let d = insn(&r, "pdiv");
    classes(d, &[Innocuous]);
    let w = &d.witnesses[d.classes[&Privileged].witness.expect("counterexample")];
    assert!(
        w.claim.contains("in supervisor mode it trapped"),
        "{}",
        w.claim
    );
}

#[test]
fn the_same_seed_gives_the_same_report() {
    assert_eq!(report("mode-word.isa"), report("mode-word.isa"));
}
