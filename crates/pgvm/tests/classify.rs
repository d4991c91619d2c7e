//! `pgvm classify` and `pgvm replay` end to end, and their bad input.

use std::path::PathBuf;

mod common;
use common::{fails, pgvm, stderr, stdout};

fn ok(args: &[&str]) -> String {
    let o = pgvm(args);
    assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
    stdout(&o)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pgvm-classify-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// A small search keeps the debug binary quick; every verdict below is settled by a proof or
/// a witness found early.
const FEW: &str = "2000";

#[test]
fn pdp10_fails_theorem_1_and_names_the_culprits() {
    let out = ok(&["classify", "--isa", "pdp10", "--samples", FEW]);
    assert!(out.starts_with("pdp10\n"), "{out}");
    assert!(out.contains("search: 2000 states per instruction"), "{out}");
    let header = out.lines().find(|l| l.starts_with("insn")).expect("table");
    for h in [
        "priv", "ctrl", "loc", "bound", "mode", "user", "super", "timing", "innoc", "evidence",
    ] {
        assert!(header.contains(h), "{header}");
    }
    assert!(
        out.lines()
            .any(|l| l.starts_with("add ") && l.ends_with("proof")),
        "{out}"
    );
    assert!(
        out.contains("Theorem 1: fails — sensitive but not privileged: jrstu, jrstf, jsp"),
        "{out}"
    );
    assert!(
        out.contains("jrstu: not_privileged: in user mode it did not trap"),
        "{out}"
    );
    assert!(out.contains("Theorem 3: holds (proof)"), "{out}");
    assert!(
        out.contains("Theorem 2: fails — Theorem 1's condition fails"),
        "{out}"
    );
    assert!(!out.contains("proven not virtualizable"));
}

#[test]
fn ia32_vt_is_classified_under_the_assist() {
    let out = ok(&["classify", "--isa", "ia32-vt", "--samples", FEW]);
    assert!(out.contains("under the assist"), "{out}");
    assert!(out.contains("Theorem 1: holds under the assist"), "{out}");
    // rdtsc traps in user mode under the assist, so no clock read runs untrapped there.
    assert!(out.contains("Theorem 2: holds under the assist"), "{out}");
}

#[test]
fn ia32_fails_theorem_2_on_its_user_mode_clock_read() {
    let out = ok(&["classify", "--isa", "ia32", "--samples", FEW]);
    assert!(
        out.contains("timing-dependent without trapping in user mode: rdtsc"),
        "{out}"
    );
}

#[test]
fn all_prints_every_profile_and_the_summary_matrix() {
    let out = ok(&["classify", "--all", "--samples", FEW]);
    let matrix: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("profile "))
        .collect();
    assert_eq!(matrix.len(), 8, "{out}");
    let row = |name: &str| {
        *matrix
            .iter()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name}"))
    };
    assert!(row("s370").contains("holds"));
    assert!(row("pdp10").contains("fails (jrstu, jrstf, jsp)"));
    assert!(row("ia32-vt").contains("holds under the assist"));
}

#[test]
fn json_has_the_documented_keys() {
    let out = ok(&["classify", "--isa", "m68000", "--json", "--samples", FEW]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let r = &v[0];
    assert_eq!(r["isa"], "m68000");
    let movesr = r["instructions"]
        .as_array()
        .expect("instructions")
        .iter()
        .find(|i| i["mnemonic"] == "movesr")
        .expect("movesr");
    for key in [
        "opcode",
        "privileged",
        "control_sensitive",
        "location_sensitive",
        "bounds_sensitive",
        "mode_sensitive",
        "user_sensitive",
        "supervisor_sensitive",
        "timing_dependent",
        "innocuous",
        "evidence",
        "witnesses",
    ] {
        assert!(!movesr[key].is_null(), "{key}");
    }
    assert_eq!(movesr["mode_sensitive"], true);
    assert_eq!(movesr["privileged"], false);
    assert_eq!(movesr["evidence"]["control_sensitive"], "proof");
    assert!(
        movesr["witnesses"]
            .as_array()
            .is_some_and(|w| !w.is_empty())
    );
    assert_eq!(r["theorem1"]["holds"], false);
    assert_eq!(r["theorem1"]["violations"], serde_json::json!(["movesr"]));
    assert_eq!(r["theorem3"]["holds"], true);
    assert_eq!(r["theorem2"]["holds"], false);
}

#[test]
fn witnesses_written_by_classify_replay_side_by_side() {
    let dir = scratch("replay");
    let file = dir.join("w.json").to_string_lossy().into_owned();
    let o = pgvm(&[
        "classify",
        "--isa",
        "ia32",
        "--samples",
        FEW,
        "--witness-out",
        &file,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("witnesses written to"),
        "{}",
        stderr(&o)
    );
    let out = ok(&["replay", &file]);
    assert!(
        out.contains("witness 0: ia32 add — not_privileged"),
        "{out}"
    );
    assert!(out.contains("S2 = S1 shifted by x ="), "{out}");
    assert!(out.contains("<-- differs"), "{out}");
    assert!(out.contains("(as claimed)"), "{out}");
    assert!(!out.contains("NOT as claimed"), "{out}");
    assert!(out.trim_end().ends_with("replayed as claimed"), "{out}");
}

#[test]
fn exhaustive_mode_states_its_configuration() {
    let out = ok(&[
        "classify",
        "--isa",
        "crates/pgvm-classify/tests/isa/user-nop.isa",
        "--samples",
        FEW,
        "--exhaustive",
    ]);
    assert!(out.contains("exhaustive: q = 4;"), "{out}");
    let unop = out
        .lines()
        .find(|l| l.starts_with("unop "))
        .expect("unop row");
    assert!(unop.contains("exhaustive: loc mode"), "{unop}");
}

// ---- bad input -------------------------------------------------------------------------------

#[test]
fn zero_samples_are_refused() {
    let err = fails(&["classify", "--isa", "s370", "--samples", "0"]);
    assert!(err.contains("--samples 0 is refused"), "{err}");
    assert!(err.contains("hint:"), "{err}");
}

#[test]
fn an_unknown_isa_lists_the_available_ones() {
    let err = fails(&["classify", "--isa", "vax"]);
    assert!(err.contains("Unknown ISA `vax`"), "{err}");
    assert!(err.contains("ia32-vt"), "{err}");
}

#[test]
fn a_malformed_witness_file_is_located() {
    let dir = scratch("badwitness");
    let path = dir.join("bad.json");
    std::fs::write(
        &path,
        "{\n  \"pgvm_witnesses\": 1,\n  \"witnesses\": [ { \"isa\": 3 } ]\n}\n",
    )
    .expect("write");
    let p = path.to_string_lossy().into_owned();
    let err = fails(&["replay", &p]);
    assert!(err.contains(&format!("{p}:3:")), "{err}");
    assert!(err.contains("expected a string"), "{err}");
    assert!(err.contains("hint:"), "{err}");
    std::fs::write(&path, "not json").expect("write");
    assert!(fails(&["replay", &p]).contains(&format!("{p}:1:")));
    let err = fails(&["replay", "no/such/file.json"]);
    assert!(err.contains("no/such/file.json"), "{err}");
}

#[test]
fn a_witness_for_a_missing_instruction_is_refused() {
    let dir = scratch("wrongisa");
    let file = dir.join("w.json").to_string_lossy().into_owned();
    let o = pgvm(&[
        "classify",
        "--isa",
        "m68000",
        "--samples",
        FEW,
        "--witness-out",
        &file,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Replayed on a profile without movesr.
    let err = fails(&["replay", &file, "--isa", "s370"]);
    assert!(err.contains("has no instruction"), "{err}");
}

/// Writes `ia32`'s witnesses, lets `edit` change the first one, and replays the result.
fn replay_edited(name: &str, edit: impl Fn(&mut serde_json::Value)) -> std::process::Output {
    let dir = scratch(name);
    let file = dir.join("w.json").to_string_lossy().into_owned();
    let o = pgvm(&[
        "classify",
        "--isa",
        "ia32",
        "--samples",
        FEW,
        "--witness-out",
        &file,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&file).expect("read");
    let mut json: serde_json::Value = serde_json::from_str(&text).expect("json");
    edit(&mut json["witnesses"][0]);
    std::fs::write(&file, json.to_string()).expect("write");
    pgvm(&["replay", &file])
}

#[test]
fn replay_prints_the_claim_it_recomputes_and_refuses_an_edited_claim() {
    let o = replay_edited("claim", |w| {
        w["claim"] = serde_json::json!("in user mode it did not trap (it halted the moon)");
    });
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    // The header shows the recomputed claim, not the file's.
    let header = out
        .lines()
        .find(|l| l.starts_with("claim:"))
        .expect("a claim line");
    assert_eq!(header, "claim:    in user mode it did not trap (done)");
    assert!(
        out.contains("NOT as claimed: observed in user mode it did not trap (done), but the file claims \"in user mode it did not trap (it halted the moon)\""),
        "{out}"
    );
    assert!(out.contains("1 of "), "{out}");
}

#[test]
fn replay_refuses_an_edited_observation() {
    let o = replay_edited("observation", |w| {
        w["observation"] = serde_json::json!({ "kind": "halted" });
    });
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("but the file's observation is the processor halted"),
        "{out}"
    );
}

#[test]
fn a_bounds_sensitive_instruction_diverges_under_the_monitor() {
    // rdb stores R.b: its witness state's window hangs over the end of the VM, the monitor
    // shrinks the real bound, and the guest sees the difference.
    let out = ok(&[
        "counterexample",
        "--isa",
        "crates/pgvm-classify/tests/isa/bounds-read.isa",
        "--samples",
        FEW,
    ]);
    assert!(out.contains("witness (bounds_"), "{out}");
    assert!(out.contains("diverges at guest instruction #0"), "{out}");
}

#[test]
fn a_theorem_resting_on_search_names_what_it_rests_on() {
    let out = ok(&[
        "classify",
        "--isa",
        "crates/pgvm-classify/tests/isa/priv-search.isa",
        "--samples",
        "1",
        "--seed",
        "1974",
    ]);
    assert!(
        out.contains(
            "Theorem 1: holds (search; not a proof; resting on search or exhaustive evidence: pls)"
        ),
        "{out}"
    );
}

#[test]
fn an_unsound_assist_is_reported_with_a_witness_that_replays() {
    let isa = "crates/pgvm-classify/tests/isa/assist-unsound.isa";
    let file = scratch("assist-unsound").join("w.json");
    let path = file.to_str().expect("utf-8 path");
    let out = ok(&[
        "classify",
        "--isa",
        isa,
        "--samples",
        FEW,
        "--witness-out",
        path,
    ]);
    assert!(
        out.contains("\nassist: UNSOUND: insn sr: with the assist off it trapped"),
        "{out}"
    );
    let json = pgvm(&["classify", "--isa", isa, "--samples", FEW, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    let s = &v[0]["assist_soundness"];
    assert_eq!(s["sound"], false, "{s}");
    assert_eq!(s["unsound"][0]["mnemonic"], "sr");
    assert_eq!(s["unsound"][0]["witness"]["atom"], "assist_unsound");
    let replayed = ok(&["replay", path]);
    assert!(replayed.contains("sr — assist_unsound"), "{replayed}");
    assert!(
        replayed.contains("witness(es) replayed as claimed"),
        "{replayed}"
    );
}

#[test]
fn ia32_vt_reports_its_assist_sound_by_proof() {
    let out = ok(&["classify", "--isa", "ia32-vt", "--samples", FEW]);
    assert!(out.contains("\nassist: sound (proof)\n"), "{out}");
    let out = ok(&["classify", "--isa", "s370", "--samples", FEW]);
    assert!(out.contains("\nassist: none ("), "{out}");
}

#[test]
fn smt_without_a_solver_says_how_to_install_one() {
    let args = ["classify", "--isa", "s370", "--smt"];
    let o = common::command(&args)
        .env("PGVM_SMT_SOLVER", "/nonexistent/pgvm-test/z3")
        .output()
        .expect("pgvm runs");
    let err = common::refused(&o, &args);
    assert!(err.contains("was not found"), "{err}");
    assert!(err.contains("apt-get install z3"), "{err}");
}

#[test]
fn smt_turns_the_searched_carry_into_a_witness() {
    if pgvm_classify_solver_missing() {
        eprintln!("smt_turns_the_searched_carry_into_a_witness: SKIPPED: z3 is not installed");
        return;
    }
    let isa = "crates/pgvm-classify/tests/isa/smt-carry.isa";
    let out = ok(&["classify", "--isa", isa, "--samples", FEW, "--smt"]);
    assert!(out.contains("smt: z3 "), "{out}");
    assert!(out.contains("Theorem 1: fails"), "{out}");
    assert!(
        out.contains("control_super: M changed: super -> user"),
        "{out}"
    );
}

/// Whether the solver pgvm would run (`$PGVM_SMT_SOLVER`, else `z3`) is missing (then the
/// SMT end-to-end test is skipped, unless CI requires it).
fn pgvm_classify_solver_missing() -> bool {
    let program = std::env::var("PGVM_SMT_SOLVER")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "z3".into());
    let missing = std::process::Command::new(program)
        .arg("--version")
        .output()
        .is_err();
    if missing && std::env::var_os("PGVM_REQUIRE_SMT").is_some_and(|v| !v.is_empty()) {
        panic!("PGVM_REQUIRE_SMT is set but z3 is not installed");
    }
    missing
}

/// A solver whose model cannot be replayed (a stand-in script) makes `classify --smt` say
/// ENCODING BUG and exit 1.
#[cfg(unix)]
#[test]
fn smt_reports_an_encoding_bug_loudly() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("fake-z3");
    let fake = dir.join("z3");
    std::fs::write(
        &fake,
        "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'Z3 version 4.8.12 - 64 bit'; exit 0; fi\ncat > /dev/null\necho sat\necho '((|q| #x0000000000000001))'\n",
    )
    .expect("write");
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let args = ["classify", "--isa", "s370", "--samples", FEW, "--smt"];
    let o = common::command(&args)
        .env("PGVM_SMT_SOLVER", &fake)
        .output()
        .expect("pgvm runs");
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("ENCODING BUG"), "{err}");
    assert!(stdout(&o).contains("ENCODING BUG(S)"), "{}", stdout(&o));
}
