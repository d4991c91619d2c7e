//! Untrusted input files through the binary: every command that reads a file refuses devices
//! and directories at once; custom ISAs are found from the program that names them; the tour
//! runs from an installed binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{refused, root, stderr, stdout};

/// A scratch directory for one test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("pgvm-inputs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("dir");
        }
        std::fs::write(&path, text).expect("write");
        path.to_string_lossy().into_owned()
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `exe args` in `dir`, killing it if it outlives `limit` (an unbounded read would).
fn run_within(exe: &Path, args: &[&str], dir: &Path, limit: Duration) -> Output {
    let mut cmd = Command::new(exe);
    cmd.args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // A binary this test process has just copied can be briefly "busy": a child forked by a
    // test on another thread may still hold the copy's write descriptor until it execs.
    let mut tries = 0;
    let mut child = loop {
        match cmd.spawn() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 50 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            r => break r.expect("pgvm starts"),
        }
    };
    let started = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("pgvm {args:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

fn pgvm_in(dir: &Path, args: &[&str]) -> Output {
    run_within(
        Path::new(env!("CARGO_BIN_EXE_pgvm")),
        args,
        dir,
        Duration::from_secs(20),
    )
}

/// Bad input: exit 2, no panic, one `error:` message; returns stderr.
fn fails_in(dir: &Path, args: &[&str]) -> String {
    refused(&pgvm_in(dir, args), args)
}

// ---- bounded reads -------------------------------------------------------------------------

#[test]
fn devices_and_directories_are_refused_promptly() {
    let s = Scratch::new("devices");
    let out = s.path("out.json");
    // A source that is really a device, and a directory that looks like a source.
    std::os::unix::fs::symlink("/dev/zero", s.0.join("zero.s")).expect("symlink");
    std::fs::create_dir_all(s.0.join("dir.s")).expect("dir");
    let zero_s = s.path("zero.s");
    let dir_s = s.path("dir.s");
    let cases: Vec<Vec<&str>> = vec![
        vec!["asm", "/dev/zero", "-o", &out],
        vec!["asm", &zero_s, "-o", &out],
        vec!["asm", &dir_s, "-o", &out],
        vec!["run", "/dev/zero"],
        vec!["run", &zero_s],
        vec!["run", "guests"],
        vec!["disasm", "/dev/zero"],
        vec!["disasm", "guests"],
        vec!["isa", "doc", "/dev/zero"],
        vec!["isa", "doc", "guests/"],
        vec!["run", "guests/hello.s", "--isa", "/dev/zero"],
        vec!["classify", "--isa", "/dev/zero"],
        vec!["replay", "/dev/zero"],
        vec!["replay", "guests"],
    ];
    for args in &cases {
        let err = fails_in(&root(), args);
        assert!(err.contains("not a regular file"), "{args:?}: {err}");
        assert!(err.contains("hint:"), "{args:?}: {err}");
    }
    assert!(!Path::new(&out).exists(), "no image is written on error");
}

// ---- custom ISAs ---------------------------------------------------------------------------

const TOY: &str = "isa toy \"a toy profile\"\nextends s370\n";
const PROGRAM: &str = ".entry start\n.org 0x10\nstart: li c, 72\nout c\nhalt\nc: .word 0\n";

/// `dir/toy.isa` and `dir/prog.s` declaring the ISA with `decl`; runs happen from `dir/sub`,
/// so that nothing is found through the current directory by accident.
fn toy_workspace(name: &str, decl: &str) -> Scratch {
    let s = Scratch::new(name);
    s.write("toy.isa", TOY);
    s.write("prog.s", &format!("{decl}\n{PROGRAM}"));
    std::fs::create_dir_all(s.0.join("sub")).expect("sub");
    s
}

#[test]
fn a_name_declared_in_the_source_finds_the_isa_beside_it() {
    let s = toy_workspace("beside", ".isa toy");
    let o = pgvm_in(&s.0.join("sub"), &["run", "../prog.s"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "H");
}

#[test]
fn a_path_declared_in_the_source_is_relative_to_it() {
    let s = toy_workspace("path", ".isa \"toy.isa\"");
    let sub = s.0.join("sub");
    let o = pgvm_in(&sub, &["run", "../prog.s"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "H");
    // --isa naming the same file (relative to the current directory) agrees with it.
    let o = pgvm_in(&sub, &["run", "../prog.s", "--isa", "../toy.isa"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // A different profile contradicts it, with one hint.
    let err = fails_in(&sub, &["run", "../prog.s", "--isa", "s370"]);
    assert!(err.contains("contradicts"), "{err}");
    assert_eq!(err.matches("hint:").count(), 1, "{err}");
}

#[test]
fn an_unknown_declared_isa_is_located_with_one_hint() {
    let s = toy_workspace("unknown", "; a comment\n  .isa toyz");
    let err = fails_in(&s.0.join("sub"), &["run", "../prog.s"]);
    assert!(err.contains("prog.s:2:8: Unknown ISA `toyz`"), "{err}");
    assert!(err.contains("s370"), "{err}");
    assert_eq!(err.matches("hint:").count(), 1, "{err}");
    assert!(err.contains("put toyz.isa beside this file"), "{err}");

    let s = toy_workspace("missing-path", ".isa \"nope/toy.isa\"");
    let err = fails_in(&s.0.join("sub"), &["run", "../prog.s"]);
    assert!(err.contains("prog.s:1:6: cannot read ISA"), "{err}");
    assert_eq!(err.matches("hint:").count(), 1, "{err}");
    assert!(
        err.contains("relative to the directory of the file"),
        "{err}"
    );
}

#[test]
fn an_image_finds_its_isa_again() {
    let s = toy_workspace("image", ".isa toy");
    let sub = s.0.join("sub");
    let o = pgvm_in(&sub, &["asm", "../prog.s", "-o", "prog.json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let json = std::fs::read_to_string(sub.join("prog.json")).expect("image");
    let v: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(v["isa"], "toy");
    let recorded = v["isa_path"].as_str().expect("isa_path for a custom ISA");
    assert!(
        Path::new(recorded).is_absolute() || sub.join(recorded).is_file(),
        "{recorded}"
    );
    // From anywhere: the image's isa_path leads back to toy.isa.
    for (dir, image) in [
        (&sub, "prog.json".to_string()),
        (&root(), s.path("sub/prog.json")),
    ] {
        let o = pgvm_in(dir, &["run", &image]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_eq!(stdout(&o), "H");
    }
    // An image written inside the ISA's directory records a relative path.
    let o = pgvm_in(&sub, &["asm", "../prog.s", "-o", "../near.json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let near = std::fs::read_to_string(s.0.join("near.json")).expect("image");
    assert!(near.contains("\"isa_path\": \"toy.isa\""), "{near}");
    // A built-in profile records none, so images of built-ins are as before.
    let o = pgvm_in(
        &sub,
        &[
            "asm",
            &root().join("guests/hello.s").to_string_lossy(),
            "-o",
            "hello.json",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let hello = std::fs::read_to_string(sub.join("hello.json")).expect("image");
    assert!(!hello.contains("isa_path"), "{hello}");
}

#[test]
fn an_image_of_a_custom_isa_without_its_path_says_what_to_do() {
    let s = toy_workspace("old-image", ".isa toy");
    let sub = s.0.join("sub");
    let o = pgvm_in(&sub, &["asm", "../prog.s", "-o", "prog.json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // An image from before isa_path existed.
    let json = std::fs::read_to_string(sub.join("prog.json")).expect("image");
    let old: String = json
        .lines()
        .filter(|l| !l.contains("isa_path"))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(sub.join("old.json"), old).expect("write");
    let err = fails_in(&sub, &["run", "old.json"]);
    assert!(
        err.contains("`toy`") && err.contains("not built in"),
        "{err}"
    );
    assert_eq!(err.matches("hint:").count(), 1, "{err}");
    let o = pgvm_in(&sub, &["run", "old.json", "--isa", "../toy.isa"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // A recorded path that no longer leads anywhere.
    std::fs::remove_file(s.0.join("toy.isa")).expect("rm");
    let err = fails_in(&sub, &["run", "prog.json"]);
    assert!(err.contains("cannot be read"), "{err}");
    assert_eq!(err.matches("hint:").count(), 1, "{err}");
}

// ---- an installed binary -------------------------------------------------------------------

/// The tour needs no source tree: a copy of the binary, run from elsewhere, shows it all.
#[test]
fn the_tour_runs_from_an_installed_binary() {
    let s = Scratch::new("installed");
    let bin = s.0.join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    let exe = bin.join("pgvm");
    std::fs::copy(env!("CARGO_BIN_EXE_pgvm"), &exe).expect("copy the binary");
    let away = s.0.join("elsewhere");
    std::fs::create_dir_all(&away).expect("dir");
    let o = run_within(&exe, &["tour"], &away, Duration::from_secs(600));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("== guests/tsos/s370.s: tsos"), "{out}");
    assert!(out.contains("== guests/hello.s"), "{out}");
    assert!(
        out.contains("Hello from the third-generation machine!"),
        "{out}"
    );
    assert!(out.contains("== Counterexamples"), "{out}");
    // The matrix's guests are built in too: every row assembled and ran.
    assert!(out.contains("== The technique matrix"), "{out}");
    assert!(out.contains("workloads/sieve.s"), "{out}");
    assert!(out.contains("Agreement with the theorems: all"), "{out}");
    assert!(
        out.contains("`movesr` at P="),
        "m68000's divergence is named: {out}"
    );
}

#[test]
fn an_unknown_isa_on_the_command_line_has_one_hint() {
    let err = fails_in(&root(), &["run", "guests/hello.s", "--isa", "vax"]);
    assert!(err.contains("Unknown ISA `vax`"), "{err}");
    assert_eq!(err.matches("hint:").count(), 1, "{err}");
    assert!(err.contains("path of a .isa file"), "{err}");
}
