//! Hand-made ISAs, one per tricky case of the definitions (tests/isa/*.isa): the classifier
//! must derive exactly what DESIGN.md §2 implies, say how it knows, and every witness must
//! replay.

use std::path::Path;

use pgvm_classify::{Atom, Class, Config, Evidence, Finding, InsnReport, Report, classify, replay};

/// Fewer states than the default keeps `cargo test` quick in a debug build; every verdict
/// asserted here is settled by a proof or found within the first few hundred states.
const SAMPLES: u64 = 20_000;

fn report(file: &str) -> Report {
    report_with(file, SAMPLES)
}

fn report_with(file: &str, samples: u64) -> Report {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/isa")
        .join(file);
    let isa = pgvm_isa::load_file(&path).unwrap_or_else(|e| panic!("{e}"));
    let config = Config {
        samples,
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
    // Unprivileged: it reads the clock untrapped in user mode, so Theorem 2 fails.
    assert!(matches!(
        i.findings[&Atom::TimingUser],
        Finding::Witnessed { .. }
    ));
    assert!(!r.theorem2.holds);
    assert_eq!(r.theorem2.violations, ["rdclk"]);
    assert_eq!(r.theorem2.timing_dependent, ["rdclk"]);
}

#[test]
fn a_privileged_clock_read_leaves_theorem_2_holding() {
    let r = report("clock-priv.isa");
    let i = insn(&r, "rdclk");
    // Timing-dependent in supervisor mode only; user mode always traps.
    classes(i, &[Privileged, TimingDependent, Innocuous]);
    assert!(matches!(
        i.findings[&Atom::TimingSuper],
        Finding::Witnessed { .. }
    ));
    assert!(matches!(
        i.findings[&Atom::TimingUser],
        Finding::Absent {
            by: Evidence::Proof,
            ..
        }
    ));
    assert!(r.theorem1.holds && r.theorem3.holds);
    assert!(r.theorem2.holds, "{:?}", r.theorem2);
    assert!(r.theorem2.timing_dependent.is_empty());
    assert_eq!(r.theorem2.evidence, Some(Evidence::Proof));
}

#[test]
fn reading_the_bound_is_bounds_sensitive() {
    let r = report("bounds-read.isa");
    let i = insn(&r, "rdb");
    classes(i, &[BoundsSensitive, UserSensitive, SupervisorSensitive]);
    for atom in [Atom::BoundsUser, Atom::BoundsSuper] {
        let Finding::Witnessed { witness, .. } = i.findings[&atom] else {
            panic!("{atom:?}: {:?}", i.findings[&atom]);
        };
        let w = &i.witnesses[witness];
        let (s1, s2) = (&w.states[0], &w.states[1]);
        assert_eq!(s1.with_bound(s2.b).as_ref(), Some(s2), "the same but for b");
        assert!(w.claim.contains("differs"), "{}", w.claim);
    }
    // A shift keeps b: not location-sensitive, though only the search can say so (it reads R).
    assert_eq!(evidence(i, LocationSensitive), Evidence::Search);
    assert!(!r.theorem1.holds && !r.theorem3.holds && !r.theorem2.holds);
    assert_eq!(r.theorem1.violations, ["rdb"]);
    // Memory through E[] alone is not bounds-sensitive, and the proof says so.
    let ldi = insn(&r, "ldi");
    classes(ldi, &[Innocuous]);
    assert_eq!(evidence(ldi, BoundsSensitive), Evidence::Proof);
}

#[test]
fn an_edited_bounds_witness_is_refused() {
    let r = report("bounds-read.isa");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/isa/bounds-read.isa");
    let isa = pgvm_isa::load_file(&path).unwrap_or_else(|e| panic!("{e}"));
    let i = insn(&r, "rdb");
    let k = i.classes[&BoundsSensitive].witness.expect("a witness");
    let mut bad = i.witnesses[k].clone();
    bad.states[1].l += 1;
    assert!(replay(&isa, &bad, k).is_err(), "l must be the same");
    let mut bad = i.witnesses[k].clone();
    bad.claim = "window word 0x0 differs: 0x1 vs 0x2".into();
    let rep = replay(&isa, &bad, k).expect("runs");
    assert!(rep.observation_matches && !rep.claim_matches && !rep.confirmed);
}

#[test]
fn with_one_sample_a_theorem_resting_on_search_says_so() {
    // One state does not find the 0x5eed counterexample: privileged by search only.
    let few = report_with("priv-search.isa", 1);
    let i = insn(&few, "pls");
    assert!(i.is(Privileged));
    assert_eq!(evidence(i, Privileged), Evidence::Search);
    assert!(few.theorem1.holds);
    assert_eq!(few.theorem1.evidence, Some(Evidence::Search));
    assert_eq!(few.theorem1.unproven, ["pls"]);
    // Enough states find it, and the verdict fails.
    let many = report("priv-search.isa");
    let i = insn(&many, "pls");
    assert!(!i.is(Privileged));
    assert!(!many.theorem1.holds);
    assert!(many.theorem1.unproven.is_empty());
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
    // Always inside the window at the same offset: neither control- nor location-sensitive,
    // by search (it reads R). The offset is E[a] mod b, so a second bound moves it.
    let stw = insn(&r, "stw");
    classes(stw, &[BoundsSensitive, UserSensitive, SupervisorSensitive]);
    assert_eq!(evidence(stw, ControlSensitive), Evidence::Search);
    assert_eq!(evidence(stw, LocationSensitive), Evidence::Search);
    assert_eq!(r.theorem1.violations, ["sta", "stw"]);
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

#[test]
fn an_assist_that_removes_a_trap_is_unsound_with_a_witness_that_replays() {
    // `report` replays every witness, this one included.
    let r = report("assist-unsound.isa");
    let s = &r.assist_soundness;
    assert!(s.feature && !s.sound, "{s:?}");
    let names: Vec<&str> = s.unsound.iter().map(|u| u.mnemonic.as_str()).collect();
    assert_eq!(names, ["sr"]);
    let w = &s.unsound[0].witness;
    assert_eq!(w.atom, Atom::AssistUnsound);
    assert!(!w.states[0].assist && w.states[1].assist);
    assert_eq!(w.states[0].mode, pgvm_isa::Mode::User);
    assert!(
        w.claim.contains("with the assist off it trapped"),
        "{}",
        w.claim
    );
    assert!(
        s.summary().starts_with("UNSOUND: insn sr:"),
        "{}",
        s.summary()
    );
    // vmxon never reads the assist: proved sound on its own.
    let v = insn(&r, "vmxon");
    assert!(matches!(
        v.findings[&Atom::AssistUnsound],
        Finding::Absent {
            by: Evidence::Proof,
            ..
        }
    ));
    // The monitor's question alone gives the same answer.
    let isa = pgvm_isa::load_file(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/isa/assist-unsound.isa"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let only = pgvm_classify::assist_soundness(&isa, &Config::default()).expect("valid");
    assert_eq!(only.unsound.len(), 1);
    assert_eq!(only.unsound[0].mnemonic, "sr");
}

#[test]
fn an_assist_that_only_adds_traps_is_proved_sound() {
    let r = report("assist-partial.isa");
    let s = &r.assist_soundness;
    assert!(s.sound && s.evidence == Some(Evidence::Proof), "{s:?}");
    assert_eq!(s.summary(), "sound (proof)");
    // And Theorem 1 still fails under it: the assist covers only sgdt.
    assert!(r.assist && !r.theorem1.holds);
    assert!(!r.theorem1.violations.contains(&"sgdt".to_string()));
}

#[test]
fn a_sound_assist_without_a_proof_says_how_it_is_known() {
    let r = report_with("assist-search.isa", 2000);
    let s = &r.assist_soundness;
    assert!(s.sound, "{s:?}");
    assert_eq!(s.evidence, Some(Evidence::Search));
    assert_eq!(s.unproven, ["chk"]);
    assert!(
        s.summary().starts_with("sound (search; not a proof"),
        "{}",
        s.summary()
    );
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/isa/assist-search.isa");
    let isa = pgvm_isa::load_file(&path).unwrap_or_else(|e| panic!("{e}"));
    let config = Config {
        samples: 100,
        exhaustive: true,
        ..Config::default()
    };
    let s = pgvm_classify::assist_soundness(&isa, &config).expect("valid");
    assert!(s.sound);
    assert_eq!(s.evidence, Some(Evidence::Exhaustive));
}
