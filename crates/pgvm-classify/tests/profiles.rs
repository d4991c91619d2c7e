//! The built-in profiles: the classifier must *derive* the verdicts of DESIGN.md §7. The table
//! lives here and only here; the classifier never sees it.

use std::sync::OnceLock;

use pgvm_classify::{
    Atom, Class, Config, Evidence, Report, Witness, WitnessFile, classify_all, replay,
};

/// DESIGN.md §7: profile, Theorem 1, Theorem 3, and whether the verdicts are under the assist.
/// Theorem 2 is not in the table; DESIGN.md §3 fixes it as "Theorem 1 and no timing-dependent
/// instruction", checked separately below.
const TABLE: &[(&str, bool, bool, bool)] = &[
    ("s370", true, true, false),
    ("ppc", true, true, false),
    ("pdp10", false, true, false),
    ("m68000", false, true, false),
    ("m68010", true, true, false),
    ("ia32", false, false, false),
    ("ia32-vt", true, true, true),
];

/// Fewer states than the default keeps the debug-build test quick; the verdicts do not depend
/// on it (the benchmark runs the default).
const SAMPLES: u64 = 10_000;

fn reports() -> &'static [Report] {
    static REPORTS: OnceLock<Vec<Report>> = OnceLock::new();
    REPORTS.get_or_init(|| {
        let isas: Vec<_> = TABLE
            .iter()
            .map(|(n, ..)| pgvm_isa::load(n).unwrap_or_else(|e| panic!("{e}")))
            .collect();
        let config = Config {
            samples: SAMPLES,
            ..Config::default()
        };
        classify_all(&isas, &config, &|| {}).unwrap_or_else(|e| panic!("{e}"))
    })
}

#[test]
fn the_derived_matrix_is_design_section_7() {
    let derived: Vec<(&str, bool, bool, bool)> = reports()
        .iter()
        .map(|r| (r.isa.as_str(), r.theorem1.holds, r.theorem3.holds, r.assist))
        .collect();
    assert_eq!(derived, TABLE);
}

/// DESIGN.md §3: Theorem 2 holds where Theorem 1 does and no timing-dependent instruction runs
/// untrapped in user mode. ia32-vt's `rdtsc` traps in user mode under the assist.
const THEOREM_2: &[(&str, bool)] = &[
    ("s370", true),
    ("ppc", true),
    ("pdp10", false),
    ("m68000", false),
    ("m68010", true),
    ("ia32", false),
    ("ia32-vt", true),
];

#[test]
fn theorem_2_fails_exactly_where_theorem_1_fails_or_a_user_mode_clock_read_runs() {
    let derived: Vec<(&str, bool)> = reports()
        .iter()
        .map(|r| (r.isa.as_str(), r.theorem2.holds))
        .collect();
    assert_eq!(derived, THEOREM_2);
    for r in reports() {
        let user_timing = r.instructions.iter().any(|i| {
            matches!(
                i.findings[&Atom::TimingUser],
                pgvm_classify::Finding::Witnessed { .. }
            )
        });
        assert_eq!(
            r.theorem2.holds,
            r.theorem1.holds && !user_timing,
            "{}",
            r.isa
        );
    }
    let ia32 = &reports()[5];
    assert_eq!(ia32.theorem2.timing_dependent, ["rdtsc"]);
    // Under the assist rdtsc still reads the clock in supervisor mode: timing-dependent, but
    // not in user mode, so it does not break Theorem 2.
    let vt = &reports()[6];
    let rdtsc = vt
        .instructions
        .iter()
        .find(|i| i.mnemonic == "rdtsc")
        .expect("rdtsc");
    assert!(rdtsc.is(Class::TimingDependent) && rdtsc.is(Class::Privileged));
    assert!(vt.theorem2.timing_dependent.is_empty());
}

#[test]
fn no_built_in_instruction_breaks_a_theorem_by_bounds_sensitivity_alone() {
    // Every bounds-sensitive unprivileged instruction is also location-sensitive, so adding
    // the class changed no built-in verdict (the matrix above).
    for r in reports() {
        for i in &r.instructions {
            if i.is(Class::BoundsSensitive) && !i.is(Class::Privileged) {
                assert!(i.is(Class::LocationSensitive), "{} {}", r.isa, i.mnemonic);
            }
        }
    }
}

#[test]
fn the_violations_are_the_instructions_the_profiles_document() {
    let violations = |k: usize| -> (Vec<String>, Vec<String>) {
        let r = &reports()[k];
        (r.theorem1.violations.clone(), r.theorem3.violations.clone())
    };
    assert_eq!(violations(2).0, ["jrstu", "jrstf", "jsp"]);
    assert_eq!(violations(3).0, ["movesr"]);
    let (t1, t3) = violations(5);
    assert_eq!(t1, ["sgdt", "sidt", "sldt", "str", "smsw", "pushf", "popf"]);
    assert_eq!(t3, ["sgdt", "sidt", "sldt", "str"]);
}

#[test]
fn every_sensitive_verdict_has_a_witness_and_every_other_an_evidence() {
    for r in reports() {
        for i in &r.instructions {
            for (c, v) in &i.classes {
                let existential = !matches!(c, Class::Privileged | Class::Innocuous);
                if existential && v.value || !existential && !v.value {
                    let w = v
                        .witness
                        .unwrap_or_else(|| panic!("{} {}", i.mnemonic, c.key()));
                    assert!(w < i.witnesses.len());
                } else {
                    assert!(v.witness.is_none());
                    if v.evidence == Evidence::Search {
                        assert!(v.detail.contains("no witness in"), "{}", v.detail);
                        assert!(v.detail.contains("seed"), "{}", v.detail);
                    }
                }
            }
        }
    }
}

#[test]
fn lemma_1_proves_the_base_repertoire_innocuous() {
    let s370 = &reports()[0];
    for m in ["add", "ldx", "stx", "jal", "div", "svc"] {
        let i = s370.instructions.iter().find(|i| i.mnemonic == m).expect(m);
        assert!(i.is(Class::Innocuous), "{m}");
        assert_eq!(
            i.classes[&Class::Innocuous].evidence,
            Evidence::Proof,
            "{m}"
        );
    }
    // stidp is privileged and innocuous, by proof: the keyword never implies sensitivity.
    let stidp = s370
        .instructions
        .iter()
        .find(|i| i.mnemonic == "stidp")
        .expect("stidp");
    assert!(stidp.is(Class::Privileged) && stidp.is(Class::Innocuous));
    assert_eq!(stidp.classes[&Class::Innocuous].evidence, Evidence::Proof);
}

#[test]
fn every_witness_replays_and_shows_its_difference() {
    let mut n = 0;
    for r in reports() {
        let isa = pgvm_isa::load(&r.isa).unwrap_or_else(|e| panic!("{e}"));
        for i in &r.instructions {
            for (k, w) in i.witnesses.iter().enumerate() {
                let rep = replay(&isa, w, k).unwrap_or_else(|e| panic!("{e}"));
                assert!(rep.confirmed, "{} {}: {rep:?}", r.isa, w.claim);
                assert_eq!(rep.observed.as_ref(), Some(&w.observation));
                n += 1;
            }
        }
    }
    assert!(n > 200, "{n} witnesses");
}

#[test]
fn witnesses_survive_a_round_trip_through_a_file() {
    let file = Report::witness_file(reports());
    let text = file.to_json();
    let back = WitnessFile::parse("mem.json", &text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, file);
    let w: &Witness = &back.witnesses[0];
    let isa = w.load_isa().unwrap_or_else(|e| panic!("{e}"));
    assert!(replay(&isa, w, 0).expect("replays").confirmed);
}

#[test]
fn a_tampered_witness_does_not_replay() {
    let ia32 = &reports()[5];
    let isa = pgvm_isa::load("ia32").expect("loads");
    let sgdt = ia32
        .instructions
        .iter()
        .find(|i| i.mnemonic == "sgdt")
        .expect("sgdt");
    let w = sgdt
        .witnesses
        .iter()
        .find(|w| w.shift.is_some())
        .expect("a location witness");
    // A second state that is not the first one shifted is refused outright.
    let mut bad = w.clone();
    bad.states[1].l += 1;
    assert!(replay(&isa, &bad, 0).is_err());
    // A claim that the runs do not show is reported as not confirmed.
    let mut wrong = w.clone();
    wrong.observation = pgvm_classify::Observation::Halted;
    assert!(!replay(&isa, &wrong, 0).expect("runs").confirmed);
}

#[test]
fn witness_files_are_read_with_bounds() {
    for path in ["/dev/zero", "/"] {
        match WitnessFile::read(std::path::Path::new(path)) {
            Err(pgvm_classify::WitnessError::Io(e)) => {
                assert!(matches!(e, pgvm_isa::ReadError::NotAFile { .. }), "{e}")
            }
            other => panic!("{path}: expected a read error, got {other:?}"),
        }
    }
}

/// DESIGN.md §4c: a monitor may turn an assist on only if it is sound. Every built-in's is,
/// by proof: ia32-vt's only adds traps, and the others have none.
#[test]
fn every_builtin_assist_is_proved_sound() {
    for r in reports() {
        let s = &r.assist_soundness;
        assert!(s.sound, "{}: {}", r.isa, s.summary());
        assert_eq!(
            s.evidence,
            Some(Evidence::Proof),
            "{}: {:?}",
            r.isa,
            s.unproven
        );
        assert_eq!(s.feature, r.isa == "ia32-vt", "{}", r.isa);
    }
}
