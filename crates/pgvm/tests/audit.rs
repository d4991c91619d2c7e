//! `pgvm audit`: the real 68000 family's verdicts from the command line, and their replay.

mod common;

use std::path::PathBuf;

use common::{fails, pgvm, stderr, stdout};

/// Few states per group keep the test fast; the verdicts hold already (see pgvm-audit's tests).
const SAMPLES: &str = "60";

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pgvm-audit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    dir.join(name)
}

#[test]
fn m68000_fails_theorem_1_on_move_from_sr_and_the_witnesses_replay() {
    let out = scratch("m68000.json");
    let out_s = out.to_string_lossy().into_owned();
    let o = pgvm(&[
        "audit",
        "--cpu",
        "m68000",
        "--samples",
        SAMPLES,
        "--witness-out",
        &out_s,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("Theorem 1: fails — sensitive but not privileged: MOVE from SR"),
        "{text}"
    );
    assert!(text.contains("Theorem 3: holds (search"), "{text}");
    let r = pgvm(&["replay", &out_s]);
    assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
    assert!(stdout(&r).contains("witness(es) replayed as claimed"));
    assert!(stdout(&r).contains("A7=USP=SSP"));
    let e = fails(&["replay", &out_s, "--isa", "m68000"]);
    assert!(e.contains("does not apply"), "{e}");

    // An edited claim does not replay: exit code 1.
    let file = std::fs::read_to_string(&out).expect("written");
    let edited = file.replacen(
        "in user mode it did not trap (completed)",
        "in user mode it did not trap (halted)",
        1,
    );
    assert_ne!(file, edited);
    let bad = scratch("edited.json");
    std::fs::write(&bad, edited).expect("write");
    let r = pgvm(&["replay", &bad.to_string_lossy()]);
    assert_eq!(r.status.code(), Some(1), "{}", stdout(&r));
    assert!(stdout(&r).contains("NOT as claimed"));
}

#[test]
fn m68010_holds_theorem_1_as_json() {
    let o = pgvm(&["audit", "--cpu", "m68010", "--samples", SAMPLES, "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["cpu"], "m68010");
    assert_eq!(v["opcode_words"], 65536);
    assert_eq!(v["theorem1"]["holds"], true);
    assert_eq!(v["theorem3"]["holds"], true);
    let groups = v["groups"].as_array().expect("groups");
    let ccr = groups
        .iter()
        .find(|g| g["name"] == "MOVE from CCR <Dn>")
        .expect("MOVE from CCR");
    assert_eq!(ccr["classes"]["innocuous"]["value"], true);
    assert_eq!(ccr["classes"]["innocuous"]["evidence"], "search");
    // Location sensitivity does not apply: no such class is reported.
    assert!(ccr["classes"].get("location_sensitive").is_none());
}

#[test]
fn compare_sets_the_emulator_beside_the_profile() {
    let o = pgvm(&[
        "audit",
        "--cpu",
        "m68000",
        "--samples",
        SAMPLES,
        "--compare",
        "m68000",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let c = &v["compare"];
    assert_eq!(c["profile"], "m68000");
    let rows = c["rows"].as_array().expect("rows");
    let movesr = rows
        .iter()
        .find(|r| r["mnemonic"] == "movesr")
        .expect("movesr");
    assert_eq!(movesr["agree"], true, "{movesr}");
    assert_eq!(movesr["emulator"]["privileged"], false);
    let lrb = rows.iter().find(|r| r["mnemonic"] == "lrb").expect("lrb");
    assert!(
        lrb["emulator"].is_null(),
        "no relocation register on the 68000"
    );
}

#[test]
fn bad_arguments_are_refused() {
    fails(&["audit", "--cpu", "m68000", "--samples", "0"]);
    let e = fails(&["audit", "--cpu", "m68000", "--samples", "1000001"]);
    assert!(e.contains("Samples must be between 1 and 1000000"), "{e}");
    let o = pgvm(&["audit", "--cpu", "z80"]);
    assert_eq!(o.status.code(), Some(2));
}
