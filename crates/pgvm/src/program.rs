//! Loading a program for a command: standard input is read here (I/O only); choosing the ISA,
//! assembling and reading images is `pgvm_lab::program`'s.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, bail};
use pgvm_lab::program::{Program, ProgramError};

pub use pgvm_lab::program::DEFAULT_ISA;

/// The most standard input read as a program: the assembler's limit for a source file.
pub const MAX_STDIN_BYTES: u64 = pgvm_isa::MAX_SOURCE_BYTES;

/// The name standard input goes by in messages.
const STDIN_NAME: &str = "<stdin>";

/// Reads an assembly source from standard input, refusing more than [`MAX_STDIN_BYTES`].
fn read_stdin() -> Result<String> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(MAX_STDIN_BYTES + 1)
        .read_to_end(&mut bytes)
        .context("Cannot read standard input")?;
    if bytes.len() as u64 > MAX_STDIN_BYTES {
        bail!(
            "Standard input holds more than {MAX_STDIN_BYTES} bytes (16 MiB), the most a source may have\n  hint: split the program with .include, or pass it as a file"
        );
    }
    String::from_utf8(bytes).map_err(|_| {
        anyhow::anyhow!(
            "Standard input is not UTF-8 text\n  hint: `-` reads an assembly source; pass an image as a file"
        )
    })
}

/// The library error itself, so that `diag` finds its location and hint.
fn unwrap(e: ProgramError) -> anyhow::Error {
    match e {
        ProgramError::Isa(e) => e.into(),
        ProgramError::Asm(e) => e.into(),
        ProgramError::Image(e) => e.into(),
        ProgramError::Read(e) => e.into(),
        e => e.into(),
    }
}

/// Loads `path` as an assembly source or an image; `-` is an assembly source on standard
/// input (its `.include`s are relative to the current directory).
pub fn load_program(path: &Path, isa: Option<&str>) -> Result<Program> {
    if path.as_os_str() == "-" {
        let src = read_stdin()?;
        return pgvm_lab::program::from_source(STDIN_NAME, &src, isa).map_err(unwrap);
    }
    pgvm_lab::program::load(path, isa).map_err(unwrap)
}

/// [`load_program`], for commands that need no listing.
pub fn load(
    path: &Path,
    isa: Option<&str>,
) -> Result<(std::sync::Arc<pgvm_isa::Isa>, pgvm_asm::Image)> {
    let p = load_program(path, isa)?;
    Ok((p.isa, p.image))
}
