//! The `pgvm` command end to end: golden runs of every guest, and every kind of bad input.

use std::path::{Path, PathBuf};

mod common;
use common::{fails, pgvm, stderr, stdout};

/// A scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pgvm-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path.to_string_lossy().into_owned()
}

// ---- golden runs ---------------------------------------------------------------------------

fn golden(guest: &str) -> String {
    let o = pgvm(&["run", &format!("guests/{guest}")]);
    assert_eq!(o.status.code(), Some(0), "{guest}: {}", stderr(&o));
    format!("--- stdout\n{}--- stderr\n{}", stdout(&o), stderr(&o))
}

#[test]
fn hello_prints_its_greeting() {
    let o = pgvm(&["run", "guests/hello.s"]);
    assert_eq!(stdout(&o), "Hello from the third-generation machine!\n");
    assert!(stderr(&o).starts_with("halted after "), "{}", stderr(&o));
    insta::assert_snapshot!(golden("hello.s"));
}

#[test]
fn svc_is_served_by_the_handler() {
    insta::assert_snapshot!(golden("svc.s"));
}

#[test]
fn memtrap_is_caught() {
    insta::assert_snapshot!(golden("memtrap.s"));
}

#[test]
fn privtrap_is_caught() {
    insta::assert_snapshot!(golden("privtrap.s"));
}

#[test]
fn json_report_has_the_documented_keys() {
    let o = pgvm(&["run", "guests/svc.s", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    assert_eq!(v["halted"], true);
    assert!(v["steps"].as_u64().is_some_and(|s| s > 100));
    for key in ["mode", "p", "l", "b"] {
        assert!(!v["psw"][key].is_null(), "psw.{key}");
    }
    assert_eq!(v["psw"]["mode"], "super");
    assert!(
        v["console"]
            .as_str()
            .is_some_and(|c| c.contains("user: hello"))
    );
    assert!(
        v["traps"]["instruction"].as_u64().is_some_and(|n| n > 20),
        "one trap per svc"
    );
}

#[test]
fn trace_shows_each_instruction_with_its_psw() {
    let o = pgvm(&["run", "guests/privtrap.s", "--trace"]);
    let err = stderr(&o);
    assert!(err.contains("lpsw"), "{err}");
    assert!(
        err.contains("<user, P=0x1, R=<l=0x200, b=0x40>>  lrb 32"),
        "{err}"
    );
    // Assembled from source, so the nearest label is named after the instruction.
    assert!(
        err.lines()
            .any(|l| l.contains(">>  lrb 32 ") && l.ends_with("; psw_mask+0x14c")),
        "{err}"
    );
    assert_eq!(stdout(&o), stdout(&pgvm(&["run", "guests/privtrap.s"])));
}

#[test]
fn a_program_that_never_halts_exits_1() {
    let dir = scratch("loop");
    let src = write(&dir, "loop.s", ".entry start\nstart: jmp start\n");
    let o = pgvm(&["run", &src, "--max-steps", "1000"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("step budget spent after 1000 steps"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn asm_disasm_asm_gives_the_same_image() {
    let dir = scratch("roundtrip");
    for guest in ["hello.s", "svc.s", "memtrap.s", "privtrap.s"] {
        let img = dir.join("a.json").to_string_lossy().into_owned();
        assert!(
            pgvm(&["asm", &format!("guests/{guest}"), "-o", &img])
                .status
                .success()
        );
        let text = stdout(&pgvm(&["disasm", &img]));
        let src = write(&dir, "b.s", &text);
        let img2 = dir.join("b.json").to_string_lossy().into_owned();
        let o = pgvm(&["asm", &src, "-o", &img2]);
        assert!(o.status.success(), "{guest}: {}", stderr(&o));
        assert_eq!(
            std::fs::read_to_string(&img).expect("image"),
            std::fs::read_to_string(&img2).expect("image"),
            "{guest}"
        );
        // The image runs like the source.
        assert_eq!(
            stdout(&pgvm(&["run", &img])),
            stdout(&pgvm(&["run", &format!("guests/{guest}")]))
        );
    }
}

#[test]
fn isa_list_shows_all_seven_profiles() {
    let out = stdout(&pgvm(&["isa", "list"]));
    for name in pgvm_testkit::PROFILES {
        assert!(
            out.lines().any(|l| l.starts_with(name)),
            "{name} missing:\n{out}"
        );
    }
}

#[test]
fn isa_doc_documents_the_critical_instructions() {
    let out = stdout(&pgvm(&["isa", "doc", "ia32"]));
    for m in ["sgdt", "sidt", "sldt", "str", "smsw", "pushf", "popf"] {
        assert!(out.contains(&format!("### `{m}`")), "{m}");
    }
    assert!(out.contains("IA-32 SGDT"));
}

// ---- bad input -------------------------------------------------------------------------------

#[test]
fn malformed_isa_file() {
    let dir = scratch("badisa");
    let isa = write(
        &dir,
        "bad.isa",
        "isa bad \"x\"\nextends base\ninsn q rrr 0x70 \"q\" { E[a] = M; }\n",
    );
    let err = fails(&["run", "guests/hello.s", "--isa", &isa]);
    assert!(err.contains("bad.isa:3:30: type mismatch"), "{err}");
    assert!(err.contains("hint:"), "{err}");
}

#[test]
fn malformed_assembly() {
    let dir = scratch("badasm");
    let src = write(&dir, "bad.s", ".entry start\nstart: add 1, 2,\n");
    let err = fails(&["run", &src]);
    assert!(err.contains("bad.s:2:"), "{err}");
    assert!(err.contains("hint:"), "{err}");
}

#[test]
fn unknown_mnemonic() {
    let dir = scratch("mnemonic");
    let src = write(&dir, "bad.s", ".entry start\nstart: frob 1\n");
    let err = fails(&["run", &src]);
    assert!(err.contains("bad.s:2:8"), "{err}");
    assert!(err.contains("frob"), "{err}");
}

#[test]
fn unknown_isa_lists_the_available_ones() {
    let err = fails(&["run", "guests/hello.s", "--isa", "vax"]);
    assert!(err.contains("Unknown ISA `vax`"), "{err}");
    assert!(err.contains("ia32-vt"), "{err}");
    let err = fails(&["isa", "doc", "vax"]);
    assert!(err.contains("s370"), "{err}");
}

#[test]
fn operand_out_of_range() {
    let dir = scratch("range");
    let src = write(&dir, "bad.s", ".entry start\nstart: add 1, 2, 0x40000\n");
    let err = fails(&["run", &src]);
    assert!(err.contains("bad.s:2:"), "{err}");
    assert!(err.contains("out of range"), "{err}");
}

#[test]
fn image_larger_than_memory() {
    let err = fails(&["run", "guests/svc.s", "--mem", "256"]);
    assert!(err.contains("256"), "{err}");
    assert!(err.contains("--mem"), "{err}");
}

#[test]
fn zero_memory() {
    let err = fails(&["run", "guests/hello.s", "--mem", "0"]);
    assert!(err.contains("Memory size 0 is out of range"), "{err}");
}

#[test]
fn unencodable_psw() {
    let dir = scratch("psw");
    let src = write(
        &dir,
        "bad.s",
        ".entry start\nstart: halt\n.psw super, 0x400000, 0, 0\n",
    );
    let err = fails(&["run", &src]);
    assert!(err.contains("bad.s:3:"), "{err}");
    assert!(err.contains("PSW"), "{err}");
}

#[test]
fn isa_contradicting_the_program() {
    let err = fails(&["run", "guests/hello.s", "--isa", "ia32"]);
    assert!(err.contains("contradicts"), "{err}");
}

#[test]
fn missing_file() {
    let err = fails(&["run", "guests/nope.s"]);
    assert!(err.contains("nope.s"), "{err}");
}
