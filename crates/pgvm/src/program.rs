//! Loading a program: an assembly source or an image, with the ISA it is written for.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use pgvm_asm::Image;
use pgvm_isa::Isa;

/// The profile used when neither the command line nor the program names one: the paper's
/// virtualizable base machine.
pub const DEFAULT_ISA: &str = "s370";

/// True for files the assembler reads; anything else must be an image.
fn is_source(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("s" | "S" | "asm")
    )
}

/// Picks the ISA: `--isa` if given (loaded first, so that its own errors show), which must
/// then agree with the program when the program names one too.
fn choose_isa(cli: Option<&str>, declared: Option<&str>, what: &str) -> Result<Arc<Isa>> {
    let isa = pgvm_isa::load(cli.or(declared).unwrap_or(DEFAULT_ISA))?;
    if let (Some(c), Some(d)) = (cli, declared)
        && isa.name != d
    {
        bail!(
            "--isa {c} contradicts the {what}, which is for `{d}`\n  hint: drop --isa, or write the program for `{}`",
            isa.name
        );
    }
    Ok(Arc::new(isa))
}

/// The most standard input read as a program: the assembler's limit for a source file.
pub const MAX_STDIN_BYTES: u64 = 16 << 20;

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

/// Loads `path` as an assembly source or an image; `-` is an assembly source on standard
/// input (its `.include`s are relative to the current directory).
pub fn load(path: &Path, isa: Option<&str>) -> Result<(Arc<Isa>, Image)> {
    if path.as_os_str() == "-" {
        let src = read_stdin()?;
        let declared = pgvm_asm::declared_isa(&src);
        let isa = choose_isa(isa, declared.as_deref(), "program's .isa directive")?;
        let image = pgvm_asm::assemble_str(STDIN_NAME, &src, &isa)?;
        return Ok((isa, image));
    }
    if is_source(path) {
        let src = std::fs::read_to_string(path)
            .with_context(|| format!("Cannot read {}", path.display()))?;
        let declared = pgvm_asm::declared_isa(&src);
        let isa = choose_isa(isa, declared.as_deref(), "program's .isa directive")?;
        let image = pgvm_asm::assemble_file(path, &isa)?;
        Ok((isa, image))
    } else {
        let image = Image::read(path)?;
        let isa = choose_isa(isa, Some(&image.isa), "image")?;
        Ok((isa, image))
    }
}
