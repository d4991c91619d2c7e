//! Untrusted input files through the binary: every command that reads a file refuses devices
//! and directories at once; custom ISAs are found from the program that names them; the tour
//! runs from an installed binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{root, stderr, stdout};

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
    let mut child = Command::new(exe)
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pgvm starts");
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
    let o = pgvm_in(dir, args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "args {args:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.starts_with("error: "), "{err}");
    err
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
