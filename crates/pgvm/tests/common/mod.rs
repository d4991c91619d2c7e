//! Helpers shared by the CLI's integration tests: run the built `pgvm` from the repo root.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The top of the source tree, where `guests/` and `isa/` live.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The built `pgvm` with `args`, to run from the repo root; for tests that need more than
/// [`pgvm`] (a pipe, the environment).
pub fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pgvm"));
    cmd.args(args).current_dir(root());
    cmd
}

/// Runs `pgvm` with `args` from the repo root.
pub fn pgvm(args: &[&str]) -> Output {
    command(args).output().expect("pgvm runs")
}

/// Standard output as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs with bad input: exit code 2, no panic, an `error: ` line; the message is returned.
pub fn fails(args: &[&str]) -> String {
    refused(&pgvm(args), args)
}

/// Checks that a run of `pgvm args` refused its input: exit code 2, no panic, an `error: `
/// line; the message is returned. For tests that run the binary their own way.
pub fn refused(o: &Output, args: &[&str]) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "args {args:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.starts_with("error: "), "{err}");
    err
}
