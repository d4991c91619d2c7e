//! The SMT backend (`pgvm_classify::smt`): the encoding against the machine (the differential
//! test, and a deliberately wrong encoding it must catch), the atom queries on the hand-made
//! cases search cannot decide, and unsat proofs for the innocuous base instructions.
//!
//! Every test here needs the `z3` binary. Without it each prints that it was skipped and
//! passes: the README's `cargo test --workspace` must not need a solver. `.ci/run` installs
//! z3 and sets `PGVM_REQUIRE_SMT=1`, under which a missing solver fails the tests instead, so
//! CI always runs them.

use std::path::Path;
use std::time::Duration;

use pgvm_classify::generate::{Rng, Target, insn_seed};
use pgvm_classify::smt::diff;
use pgvm_classify::smt::{self, Answer, Mutant, SmtSettings, Solver, SolverError};
use pgvm_classify::{Atom, Class, Config, Evidence, Finding, Report, State, classify, replay};
use pgvm_isa::{Isa, Mode};
use rayon::prelude::*;

/// The solver, or `None` (and a note on stderr) when it is missing.
fn solver(test: &str) -> Option<Solver> {
    match Solver::find() {
        Ok(s) => Some(s),
        Err(e @ SolverError::Missing { .. }) => {
            if std::env::var_os("PGVM_REQUIRE_SMT").is_some_and(|v| !v.is_empty()) {
                panic!("{test}: PGVM_REQUIRE_SMT is set: {e}");
            }
            eprintln!("{test}: SKIPPED: {e}");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

fn settings(solver: Solver) -> SmtSettings {
    SmtSettings {
        solver,
        timeout: Duration::from_secs(60),
        mutant: Mutant::None,
    }
}

/// States for the differential test: generated as the search generates them, in both modes,
/// with the assist bit both ways where the profile has one; and location pairs, each a state
/// and the shift the search would try.
fn states(isa: &Isa, id: usize, n: u64) -> (Vec<State>, Vec<(State, i64)>) {
    let assist = isa.features.assist;
    let target = Target::new(isa, id, assist);
    let mut rng = Rng::new(insn_seed(16, &isa.name, &isa.insns[id].mnemonic));
    let mut out = Vec::new();
    let mut shifted = Vec::new();
    for k in 0..n {
        let sample = target.sample(&mut rng, k % 2 == 0);
        let s = sample.state;
        let u = s.with_mode(Mode::User);
        if let Some(x) = sample.shift {
            shifted.push((s.clone(), x));
            shifted.push((u.clone(), x));
        }
        if assist {
            for t in [&s, &u] {
                out.push(State {
                    assist: !t.assist,
                    ..t.clone()
                });
            }
        }
        out.push(s);
        out.push(u);
    }
    (out, shifted)
}

/// The built-in profiles and the fuzz corpus's profiles, each instruction once (profiles
/// share the base repertoire).
fn corpus() -> Vec<(Isa, usize)> {
    let mut isas: Vec<Isa> = pgvm_isa::builtin_names()
        .into_iter()
        .map(|n| pgvm_isa::load(n).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/classify");
    let mut files: Vec<_> = std::fs::read_dir(&seeds)
        .unwrap_or_else(|e| panic!("{}: {e}", seeds.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    for f in files {
        let bytes = std::fs::read(&f).unwrap_or_else(|e| panic!("{e}"));
        let text = String::from_utf8_lossy(bytes.get(8..).unwrap_or_default()).to_string();
        let src = format!("isa f \"fuzzed\"\nextends base\n{text}");
        let isa = pgvm_isa::parse_str(&f.display().to_string(), &src)
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        isas.push(isa);
    }
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for isa in isas {
        for id in 0..isa.insns.len() {
            let key = format!(
                "{:?}{:?}{:?}{}",
                isa.format_of(id).fields,
                isa.matcher(id),
                isa.insns[id].body,
                isa.features.assist
            );
            if seen.insert(key) {
                out.push((isa.clone(), id));
            }
        }
    }
    out
}

fn disagreements(
    solver: &Solver,
    mutant: Mutant,
    samples: u64,
    only: &(dyn Fn(&Isa, usize) -> bool + Sync),
) -> Vec<String> {
    corpus()
        .par_iter()
        .filter(|(isa, id)| only(isa, *id))
        .flat_map_iter(|(isa, id)| {
            let (states, pairs) = states(isa, *id, samples);
            let fail = |e: diff::DiffError| panic!("{} {}: {e}", isa.name, isa.insns[*id].mnemonic);
            let mut bad = diff::check(isa, *id, &states, solver, mutant).unwrap_or_else(fail);
            bad.extend(diff::check_shifted(isa, *id, &pairs, solver, mutant).unwrap_or_else(fail));
            bad
        })
        .collect()
}

#[test]
fn the_encoding_agrees_with_the_machine_on_every_instruction() {
    let Some(solver) = solver("the_encoding_agrees_with_the_machine_on_every_instruction") else {
        return;
    };
    let n = corpus().len();
    assert!(n > 50, "the corpus has {n} distinct instructions");
    let bad = disagreements(&solver, Mutant::None, 8, &|_, _| true);
    assert!(
        bad.is_empty(),
        "{} disagreements, first: {}",
        bad.len(),
        bad.join("\n")
    );
}

/// The same check on many more states (`cargo test -- --ignored`).
#[test]
#[ignore = "long: 100 generated states per instruction, each in both modes and shifted (tens of minutes)"]
fn the_encoding_agrees_with_the_machine_on_many_states() {
    let Some(solver) = solver("the_encoding_agrees_with_the_machine_on_many_states") else {
        return;
    };
    let bad = disagreements(&solver, Mutant::None, 100, &|_, _| true);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn a_wrong_operator_in_the_encoding_is_caught() {
    let Some(solver) = solver("a_wrong_operator_in_the_encoding_is_caught") else {
        return;
    };
    // The instructions whose bodies add: `add` itself, and every address computation.
    let adds = |isa: &Isa, id: usize| {
        ["add", "addi", "ldx", "stx"].contains(&isa.insns[id].mnemonic.as_str())
    };
    let bad = disagreements(&solver, Mutant::AddIsSub, 8, &adds);
    assert!(
        bad.iter().any(|b| b.contains("`add`")),
        "the differential test did not notice `+` encoded as `-`: {bad:?}"
    );
}

fn load(file: &str) -> Isa {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/isa")
        .join(file);
    pgvm_isa::load_file(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// Classifies with the solver, after a small search; every witness must replay.
fn classify_smt(isa: &Isa, settings: &SmtSettings, proofs: bool) -> Report {
    let config = Config {
        samples: 2_000,
        seed: 1974,
        proofs,
        smt: Some(settings.clone()),
        ..Config::default()
    };
    let r = classify(isa, &config).unwrap_or_else(|e| panic!("{e}"));
    for i in &r.instructions {
        assert!(i.smt_bugs.is_empty(), "{}: {:?}", i.mnemonic, i.smt_bugs);
        for (k, w) in i.witnesses.iter().enumerate() {
            let rep = replay(isa, w, k).unwrap_or_else(|e| panic!("{e}"));
            assert!(
                rep.confirmed,
                "{} witness {k} does not replay: {rep:?}",
                i.mnemonic
            );
        }
    }
    r
}

/// The witness the solver found for `atom` of the profile's last instruction.
fn solver_witness(r: &Report, atom: Atom) -> &pgvm_classify::Witness {
    let i = r.instructions.last().expect("an instruction");
    match i.findings.get(&atom) {
        Some(Finding::Witnessed { witness, by }) => {
            assert_eq!(*by, Evidence::Solver, "{} {}", i.mnemonic, atom.name());
            &i.witnesses[*witness]
        }
        other => panic!("{} {}: no witness: {other:?}", i.mnemonic, atom.name()),
    }
}

#[test]
fn the_solver_finds_the_magic_word_that_halts() {
    let Some(solver) = solver("the_solver_finds_the_magic_word_that_halts") else {
        return;
    };
    let isa = load("smt-magic-halt.isa");
    let r = classify_smt(&isa, &settings(solver), true);
    for atom in [Atom::ControlUser, Atom::ControlSuper] {
        let w = solver_witness(&r, atom);
        assert_eq!(w.claim, "the processor halted");
        // The word the solver found is the one that unscrambles to the magic value.
        let s = &w.states[0];
        let magic = s
            .memory
            .iter()
            .any(|&(_, v)| (v ^ 0x5deece66d).wrapping_mul(3) == 0x9e37_79b9_7f4a_7c15);
        assert!(magic, "{s:?}");
    }
    assert!(!r.theorem1.holds);
    assert_eq!(r.theorem1.violations, ["mhalt"]);
    assert!(!r.theorem3.holds);
}

#[test]
fn the_solver_finds_the_carry_into_the_mode_bit() {
    let Some(solver) = solver("the_solver_finds_the_carry_into_the_mode_bit") else {
        return;
    };
    let isa = load("smt-carry.isa");
    let r = classify_smt(&isa, &settings(solver), true);
    let w = solver_witness(&r, Atom::ControlSuper);
    let s = &w.states[0];
    assert_eq!(s.p, pgvm_machine::REG_MAX - 1, "{s:?}");
    assert_eq!(w.claim, "M changed: super -> user");
    let w = solver_witness(&r, Atom::ControlUser);
    assert_eq!(w.claim, "M changed: user -> super");
    let bump = r.instructions.last().expect("bump");
    assert!(bump.is(Class::ControlSensitive));
    assert!(!bump.is(Class::Privileged));
    assert!(!r.theorem1.holds);
    assert!(!r.theorem3.holds);
}

#[test]
fn the_solver_finds_the_secret_operand_that_loads_r_in_user_mode() {
    let Some(solver) = solver("the_solver_finds_the_secret_operand_that_loads_r_in_user_mode")
    else {
        return;
    };
    let isa = load("smt-secret-r.isa");
    let r = classify_smt(&isa, &settings(solver), true);
    let w = solver_witness(&r, Atom::NotPrivileged);
    assert_eq!(w.states[1].mode, Mode::User);
    let lrs = r.instructions.last().expect("lrs");
    assert!(!lrs.is(Class::Privileged));
    assert!(lrs.is(Class::ControlSensitive));
    assert!(!r.theorem1.holds);
    assert_eq!(r.theorem1.violations, ["lrs"]);
}

#[test]
fn a_wrong_shift_in_the_encoding_is_caught() {
    let Some(solver) = solver("a_wrong_shift_in_the_encoding_is_caught") else {
        return;
    };
    let loads = |isa: &Isa, id: usize| ["mov", "ldx"].contains(&isa.insns[id].mnemonic.as_str());
    let bad = disagreements(&solver, Mutant::ShiftFromNewWindow, 8, &loads);
    assert!(
        bad.iter().any(|b| b.contains("shifted by")),
        "the differential test did not notice the shifted window read from the wrong place: {bad:?}"
    );
}

/// With the effect analysis switched off, the solver alone must prove the base repertoire's
/// innocuous instructions innocuous, for all states.
#[test]
fn the_solver_proves_the_innocuous_base_instructions() {
    let Some(solver) = solver("the_solver_proves_the_innocuous_base_instructions") else {
        return;
    };
    let isa = pgvm_isa::load("s370").unwrap_or_else(|e| panic!("{e}"));
    let r = classify_smt(&isa, &settings(solver), false);
    let proved: Vec<&str> = [
        "add", "sub", "mul", "div", "mov", "ldx", "stx", "jmp", "jz", "jal", "svc",
    ]
    .into_iter()
    .filter(|m| {
        let i = r
            .instructions
            .iter()
            .find(|i| i.mnemonic == *m)
            .unwrap_or_else(|| panic!("{m}"));
        let v = &i.classes[&Class::Innocuous];
        v.value && v.evidence == Evidence::Proof && v.detail.contains("proof (smt)")
    })
    .collect();
    assert_eq!(proved.len(), 11, "proved only {proved:?}");
    // Without the effect analysis, every theorem verdict rests on the solver's proofs and
    // witnesses alone, and still comes out as DESIGN.md §7 says for s370.
    assert!(r.theorem1.holds);
    assert_eq!(
        r.theorem1.evidence,
        Some(Evidence::Proof),
        "{:?}",
        r.theorem1
    );
}

#[test]
fn a_missing_solver_is_named_with_the_way_to_install_it() {
    // The solver is looked up through the environment variable only in this process's own
    // child: run the test binary's own logic directly.
    let e = SolverError::Missing {
        program: "z3".into(),
    };
    let text = e.to_string();
    assert!(text.contains("apt-get install z3"), "{text}");
}

#[test]
fn answers_are_cached_by_instruction_body() {
    let Some(solver) = solver("answers_are_cached_by_instruction_body") else {
        return;
    };
    let s = settings(solver);
    let a = pgvm_isa::load("s370").unwrap_or_else(|e| panic!("{e}"));
    let b = pgvm_isa::load("ppc").unwrap_or_else(|e| panic!("{e}"));
    let (ia, ib) = (a.insn("ldx").expect("ldx"), b.insn("ldx").expect("ldx"));
    let t = std::time::Instant::now();
    let first = smt::decide(&a, ia, Atom::LocationUser, false, &s);
    let cold = t.elapsed();
    let t = std::time::Instant::now();
    let second = smt::decide(&b, ib, Atom::LocationUser, false, &s);
    let warm = t.elapsed();
    assert_eq!(first, Answer::Unsat);
    assert_eq!(second, Answer::Unsat);
    assert!(
        warm < cold,
        "the second answer took {warm:?}, the first {cold:?}"
    );
}

/// DESIGN.md §7 (the same table as tests/profiles.rs; the classifier never sees it): with the
/// solver, every class of every built-in instruction is known by proof or by a witness, and
/// the theorem verdicts are the literature's.
#[test]
fn with_the_solver_every_builtin_verdict_is_a_proof_or_a_witness() {
    let Some(solver) = solver("with_the_solver_every_builtin_verdict_is_a_proof_or_a_witness")
    else {
        return;
    };
    const TABLE: &[(&str, bool, bool)] = &[
        ("s370", true, true),
        ("ppc", true, true),
        ("pdp10", false, true),
        ("m68000", false, true),
        ("m68010", true, true),
        ("ia32", false, false),
        ("ia32-vt", true, true),
    ];
    let isas: Vec<Isa> = TABLE
        .iter()
        .map(|(n, ..)| pgvm_isa::load(n).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let config = Config {
        samples: 5_000,
        smt: Some(settings(solver)),
        ..Config::default()
    };
    let reports =
        pgvm_classify::classify_all(&isas, &config, &|| {}).unwrap_or_else(|e| panic!("{e}"));
    let derived: Vec<(&str, bool, bool)> = reports
        .iter()
        .map(|r| (r.isa.as_str(), r.theorem1.holds, r.theorem3.holds))
        .collect();
    assert_eq!(derived, TABLE);
    for r in &reports {
        for t in [&r.theorem1, &r.theorem2, &r.theorem3] {
            assert!(
                !t.holds || t.evidence == Some(Evidence::Proof),
                "{}: {t:?}",
                r.isa
            );
        }
        for i in &r.instructions {
            assert!(i.smt_bugs.is_empty(), "{}: {:?}", i.mnemonic, i.smt_bugs);
            for (c, v) in &i.classes {
                assert!(
                    v.witness.is_some() || v.evidence == Evidence::Proof,
                    "{} {} {}: {v:?}",
                    r.isa,
                    i.mnemonic,
                    c.key()
                );
            }
        }
        let s = r.smt_summary().expect("smt ran");
        assert_eq!(s.timed_out, 0, "{}: {s:?}", r.isa);
    }
}

/// A stand-in solver: a shell script that says it is z3 and answers every query with `answer`
/// (no real solver needed, so these tests always run).
#[cfg(unix)]
fn fake_solver(name: &str, answer: &str) -> Solver {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("pgvm-smt-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let path = dir.join("z3");
    let script = format!(
        "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'Z3 version 4.8.12 - 64 bit'; exit 0; fi\ncat > /dev/null\nprintf '%s\\n' '{answer}'\n"
    );
    std::fs::write(&path, script).expect("write the fake solver");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    Solver {
        program: path.display().to_string(),
        version: "4.8.12".into(),
    }
}

/// A solver that gives up leaves the search's answer, labelled as such, and the theorem
/// verdict says it rests on search.
#[cfg(unix)]
#[test]
fn a_timed_out_query_keeps_the_search_and_says_so() {
    let solver = fake_solver("timeout", "unknown");
    let s = SmtSettings {
        timeout: Duration::from_secs(3),
        ..settings(solver)
    };
    let isa = load("smt-magic-halt.isa");
    let config = Config {
        samples: 200,
        smt: Some(s),
        ..Config::default()
    };
    let r = classify(&isa, &config).unwrap_or_else(|e| panic!("{e}"));
    let mhalt = r.instructions.last().expect("mhalt");
    match &mhalt.findings[&Atom::ControlUser] {
        Finding::Absent { by, detail } => {
            assert_eq!(*by, Evidence::Search);
            assert!(detail.contains("solver timed out after 3 s"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    assert!(r.theorem1.holds);
    assert_eq!(r.theorem1.evidence, Some(Evidence::Search));
    assert!(r.smt_summary().expect("smt").timed_out > 0);
}

/// A model that cannot be turned into a replaying witness is an encoding bug: reported, and
/// never used as a verdict.
#[cfg(unix)]
#[test]
fn a_model_that_does_not_replay_is_reported_as_an_encoding_bug() {
    let solver = fake_solver("bogus", "sat\n((|q| #x0000000000000001))");
    let isa = load("smt-magic-halt.isa");
    let config = Config {
        samples: 200,
        smt: Some(settings(solver)),
        ..Config::default()
    };
    let r = classify(&isa, &config).unwrap_or_else(|e| panic!("{e}"));
    let mhalt = r.instructions.last().expect("mhalt");
    assert!(!mhalt.smt_bugs.is_empty());
    assert!(
        mhalt
            .witnesses
            .iter()
            .all(|w| w.found_by != Evidence::Solver),
        "{:?}",
        mhalt.witnesses
    );
    assert!(!r.smt_summary().expect("smt").bugs.is_empty());
}
