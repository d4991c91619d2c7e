//! What every command prints: quiet ends on a closed stdout, each error cause once, `-` for
//! standard input, one JSON value under `--json`, and errors as JSON.

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;

mod common;
use common::{command, fails, pgvm, root, stderr, stdout};

fn pgvm_with_stdin(args: &[&str], input: Vec<u8>) -> std::process::Output {
    let mut child = command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pgvm starts");
    let mut stdin = child.stdin.take().expect("stdin");
    // pgvm may stop reading early (the size limit): a failed write is then expected.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("pgvm runs");
    writer.join().expect("writer");
    out
}

#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    let mut child = command(&["tour"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pgvm starts");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("a line");
    // The reader is dropped here, as `head -1` exits.
    assert!(first.starts_with("pgvm tour"), "{first}");
    let out = child.wait_with_output().expect("pgvm ends");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("Broken pipe"), "{err}");
    assert!(!err.contains("error"), "{err}");
}

#[test]
fn an_os_error_is_printed_once() {
    // A directory named like a profile file, so it is read as one.
    let dir = std::env::temp_dir().join(format!("pgvm-osdir-{}/p.isa", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let dir = dir.to_string_lossy().into_owned();
    // A directory is refused by the bounded reader before the OS is asked; its one cause is
    // printed once.
    for args in [
        &["run", "guests"][..],
        &["isa", "doc", &dir],
        &["run", "guests/hello.s", "--isa", &dir],
        &["disasm", "guests"],
    ] {
        let err = fails(args);
        assert_eq!(
            err.matches("not a regular file").count(),
            1,
            "{args:?}: {err}"
        );
    }
    // A missing file is the OS's refusal: once.
    let missing = format!("{dir}/missing.isa");
    for args in [
        &["run", "guests/none.s"][..],
        &["isa", "doc", &missing],
        &["disasm", "guests/none.json"],
    ] {
        let err = fails(args);
        assert_eq!(err.matches("os error").count(), 1, "{args:?}: {err}");
    }
}

#[test]
fn a_program_on_standard_input_runs() {
    let src = std::fs::read(root().join("guests/hello.s")).expect("hello.s");
    let o = pgvm_with_stdin(&["run", "-"], src);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "Hello from the third-generation machine!\n");
}

#[test]
fn errors_in_standard_input_are_located_there() {
    let o = pgvm_with_stdin(&["run", "-"], b".entry start\nstart: frob 1\n".to_vec());
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.starts_with("error: <stdin>:2:8: "), "{err}");
    assert!(err.contains("hint:"), "{err}");
}

#[test]
fn standard_input_over_16_mib_is_refused() {
    let mut src = b".entry start\nstart: halt\n".to_vec();
    src.resize((16 << 20) + 10, b'\n');
    let o = pgvm_with_stdin(&["run", "-"], src);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("more than 16777216 bytes"), "{err}");
    assert!(err.contains("hint:"), "{err}");
}

/// Parses stdout as exactly one JSON value.
fn json_of(args: &[&str]) -> serde_json::Value {
    let o = pgvm(args);
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", stderr(&o)))
}

#[test]
fn every_command_prints_one_json_value() {
    let dir = std::env::temp_dir().join(format!("pgvm-json-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let img = dir.join("a.json").to_string_lossy().into_owned();
    let v = json_of(&["asm", "guests/hello.s", "-o", &img, "--json"]);
    assert_eq!(v["isa"], "s370");
    assert!(v["words"].as_u64().is_some_and(|w| w > 0), "{v}");
    let v = json_of(&["disasm", &img, "--json"]);
    assert!(
        v["source"].as_str().is_some_and(|s| s.contains("halt")),
        "{v}"
    );
    let v = json_of(&["isa", "list", "--json"]);
    let names: Vec<&str> = v
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert!(
        names.contains(&"ia32-vt") && names.contains(&"base"),
        "{names:?}"
    );
    let v = json_of(&["isa", "doc", "ia32", "--json"]);
    assert_eq!(v["name"], "ia32");
    assert!(v["insns"].as_array().is_some_and(|i| i.len() > 30));
    let v = json_of(&["run", "guests/hello.s", "--json"]);
    assert_eq!(v["halted"], true);
    let witnesses = dir.join("w.json").to_string_lossy().into_owned();
    let o = pgvm(&[
        "classify",
        "--isa",
        "m68000",
        "--samples",
        "2000",
        "--witness-out",
        &witnesses,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json_of(&["replay", &witnesses, "--json"]);
    let ws = v["witnesses"].as_array().expect("witnesses");
    assert!(!ws.is_empty());
    assert!(ws.iter().all(|w| w["confirmed"] == true), "{v}");
    assert!(ws[0]["sections"][0]["rows"].as_array().is_some());
}

#[test]
fn the_tour_as_json() {
    let o = pgvm(&["tour", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON value");
    assert_eq!(
        v["profiles"].as_array().map(Vec::len),
        Some(7),
        "{}",
        v["profiles"]
    );
    assert!(v["guests"].as_array().is_some_and(|g| g.len() == 5));
    assert_eq!(v["monitor"][0]["equivalent"], true);
    assert_eq!(v["monitor"][1]["equivalent"], false);
    assert_eq!(v["counterexamples"]["isa"], "m68000");
    assert_eq!(v["audit"][0]["cpu"], "m68000");
    assert_eq!(v["audit"][0]["theorem1"], false);
    assert_eq!(v["audit"][1]["cpu"], "m68010");
    assert_eq!(v["audit"][1]["theorem1"], true);
    let nesting = v["nesting"].as_array().expect("the nesting section");
    assert_eq!(nesting.len(), 3, "depths 1 to 3");
    assert!(
        nesting.iter().all(|r| r["equivalent"] == true),
        "{}",
        v["nesting"]
    );
    let cells = v["matrix"]["cells"].as_array().expect("the matrix's cells");
    assert!(cells.len() >= 14, "tsos on 7 profiles under 2 techniques");
    assert!(
        cells
            .iter()
            .all(|c| c["agrees"] == true && c["licensed"].is_boolean()),
        "{}",
        v["matrix"]
    );
}

#[test]
fn errors_under_json_are_one_json_object_on_stderr() {
    let dir = std::env::temp_dir().join(format!("pgvm-jsonerr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let src = dir.join("bad.s");
    std::fs::write(&src, ".entry start\nstart: frob 1\n").expect("write");
    let src = src.to_string_lossy().into_owned();
    let o = pgvm(&["run", &src, "--json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
    let v: serde_json::Value = serde_json::from_slice(&o.stderr).expect("JSON error");
    assert_eq!(v["location"]["file"], src.as_str());
    assert_eq!(v["location"]["line"], 2);
    assert_eq!(v["location"]["col"], 8);
    assert!(
        v["message"].as_str().is_some_and(|m| m.contains("frob")),
        "{v}"
    );
    assert!(v["hint"].is_string(), "{v}");
    let o = pgvm(&["equiv", "guests/hello.s", "--mem", "0", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stderr).expect("JSON error");
    assert_eq!(v["message"], "--mem 0 is out of range");
    assert!(v["location"].is_null());
    assert!(v["hint"].as_str().is_some_and(|h| h.contains("words")));
}

/// Runs `pgvm` with extra environment variables.
fn pgvm_env(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = command(args);
    cmd.env_remove("NO_COLOR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("pgvm runs")
}

#[test]
fn a_drawn_error_shows_the_source_line_with_a_caret() {
    let dir = std::env::temp_dir().join(format!("pgvm-fancy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let src = dir.join("bad.s");
    std::fs::write(&src, ".entry start\nstart: frob 1\n").expect("write");
    let src = src.to_string_lossy().into_owned();
    // CLICOLOR_FORCE draws as on a terminal; NO_COLOR keeps the escape codes out.
    let o = pgvm_env(
        &["run", &src],
        &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("start: frob 1"), "the source line: {err}");
    assert!(err.contains("bad.s:2:8"), "{err}");
    assert!(err.contains('┬'), "a caret under the column: {err}");
    assert!(err.contains("did you mean"), "the hint: {err}");
    assert!(!err.contains('\u{1b}'), "NO_COLOR: {err}");
    let o = pgvm_env(&["run", &src], &[("CLICOLOR_FORCE", "1")]);
    assert!(stderr(&o).contains('\u{1b}'), "colour: {}", stderr(&o));
    // Not a terminal and not forced: the plain form the other tests read.
    let o = pgvm_env(&["run", &src], &[]);
    assert!(stderr(&o).starts_with(&format!("error: {src}:2:8: ")));
}

#[test]
fn a_bad_command_line_under_json_is_a_json_error() {
    let o = pgvm(&["run", "--frob", "--json"]);
    assert_eq!(o.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&o.stderr).expect("JSON error");
    assert!(
        v["message"].as_str().is_some_and(|m| m.contains("--frob")),
        "{v}"
    );
    let o = pgvm(&["run", "--frob"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).starts_with("error: unexpected argument"),
        "{}",
        stderr(&o)
    );
}
