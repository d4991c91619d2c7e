//! Loading a program: an assembly source or an image, with the ISA it is written for.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Result, bail};
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

/// Loads `path` as an assembly source or an image.
pub fn load(path: &Path, isa: Option<&str>) -> Result<(Arc<Isa>, Image)> {
    if is_source(path) {
        let src = pgvm_isa::read_source(path)?;
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
