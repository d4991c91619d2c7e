//! Loading a program: an assembly source or an image, with the ISA it is written for, and,
//! for a source, the assembler's [`Listing`] (labels and source lines) that traces and
//! divergence reports name addresses with.

use std::path::Path;
use std::sync::Arc;

use pgvm_asm::{AsmError, Image, ImageError, Listing};
use pgvm_isa::{Isa, IsaError, ReadError};

/// The profile used when neither the command line nor the program names one: the paper's
/// virtualizable base machine.
pub const DEFAULT_ISA: &str = "s370";

/// A program ready to run: its ISA, its image, and what the assembler knew of it.
#[derive(Debug, Clone)]
pub struct Program {
    /// The ISA it runs on.
    pub isa: Arc<Isa>,
    /// Its words and entry.
    pub image: Image,
    /// Labels and source lines; `None` for an image read from a file, which keeps neither.
    pub listing: Option<Listing>,
}

/// Why a program could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ProgramError {
    /// The ISA does not load.
    #[error(transparent)]
    Isa(#[from] IsaError),
    /// The source does not assemble.
    #[error(transparent)]
    Asm(#[from] AsmError),
    /// The image does not read.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The source file does not read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// `--isa` names another profile than the program does.
    #[error(
        "--isa {cli} contradicts the {what}, which is for `{declared}`\n  hint: drop --isa, or write the program for `{isa}`"
    )]
    Contradicts {
        /// What the command line said.
        cli: String,
        /// The program or image, in words.
        what: &'static str,
        /// What the program names.
        declared: String,
        /// The name of the profile `--isa` loaded.
        isa: String,
    },
    /// An image for a profile that is not built in, with no `isa_path`.
    #[error(
        "{image}: the image is for ISA `{isa}`, which is not built in, and records no isa_path\n  hint: pass --isa PATH.isa"
    )]
    UnknownImageIsa {
        /// The image file.
        image: String,
        /// The profile it names.
        isa: String,
    },
    /// The image's `isa_path` cannot be read.
    #[error(
        "{image}: the image's ISA `{isa}` is at {file}, which cannot be read: {reason}\n  hint: pass --isa PATH.isa"
    )]
    IsaPathUnreadable {
        /// The image file.
        image: String,
        /// The profile it names.
        isa: String,
        /// Where its `isa_path` points.
        file: String,
        /// Why it cannot be read.
        reason: String,
    },
    /// The image's `isa_path` describes another profile.
    #[error(
        "{image}: the image is for ISA `{isa}`, but its isa_path {file} describes `{found}`\n  hint: pass --isa PATH.isa"
    )]
    IsaPathMismatch {
        /// The image file.
        image: String,
        /// The profile it names.
        isa: String,
        /// Where its `isa_path` points.
        file: String,
        /// The profile found there.
        found: String,
    },
}

/// True for files the assembler reads; anything else must be an image.
pub fn is_source(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("s" | "S" | "asm")
    )
}

/// Picks the ISA: `--isa` if given (loaded first, so that its own errors show), which must
/// then agree with the program when the program names one too. `declared` is what the
/// program names, with the directory it is relative to.
pub fn choose_isa(
    cli: Option<&str>,
    declared: Option<(&str, &Path)>,
    what: &'static str,
) -> Result<Arc<Isa>, ProgramError> {
    let Some(c) = cli else {
        let name = declared.map_or(DEFAULT_ISA, |(d, _)| d);
        return Ok(Arc::new(pgvm_isa::load(name)?));
    };
    let isa = pgvm_isa::load(c)?;
    if let Some((d, dir)) = declared
        && !pgvm_isa::is_declared(&isa, d, dir)
    {
        return Err(ProgramError::Contradicts {
            cli: c.to_string(),
            what,
            declared: d.to_string(),
            isa: isa.name,
        });
    }
    Ok(Arc::new(isa))
}

/// The ISA of an assembly source `src` (named `name`, in directory `dir`): `--isa` if given,
/// which must agree with the program's `.isa` line; else that line, found the way `extends`
/// finds a parent; else the default.
pub fn source_isa(
    name: &str,
    src: &str,
    dir: &Path,
    cli: Option<&str>,
) -> Result<Arc<Isa>, ProgramError> {
    let declared = pgvm_asm::declared_isa_at(name, src);
    Ok(match (&declared, cli) {
        (Some((d, at)), None) => Arc::new(pgvm_isa::load_declared(d, at, dir)?),
        _ => choose_isa(
            cli,
            declared.as_ref().map(|(d, _)| (d.as_str(), dir)),
            "program's .isa directive",
        )?,
    })
}

/// Assembles source text read from elsewhere (standard input), named `name` in messages;
/// its `.include`s are relative to the current directory.
pub fn from_source(name: &str, src: &str, isa: Option<&str>) -> Result<Program, ProgramError> {
    let isa = source_isa(name, src, Path::new("."), isa)?;
    let (image, listing) = pgvm_asm::assemble_str_listed(name, src, &isa)?;
    Ok(Program {
        isa,
        image,
        listing: Some(listing),
    })
}

/// Loads `path` as an assembly source (by its extension, see [`is_source`]) or an image.
pub fn load(path: &Path, isa: Option<&str>) -> Result<Program, ProgramError> {
    let dir = path.parent().unwrap_or(Path::new(""));
    if is_source(path) {
        let src = pgvm_isa::read_source(path)?;
        let isa = source_isa(&path.display().to_string(), &src, dir, isa)?;
        let (image, listing) = pgvm_asm::assemble_file_listed(path, &isa)?;
        return Ok(Program {
            isa,
            image,
            listing: Some(listing),
        });
    }
    let image = Image::read(path)?;
    let isa = match (&image.isa_path, isa) {
        (Some(p), None) => image_isa(path, &image.isa, p)?,
        (None, None) if !pgvm_isa::builtin_names().contains(&image.isa.as_str()) => {
            return Err(ProgramError::UnknownImageIsa {
                image: path.display().to_string(),
                isa: image.isa.clone(),
            });
        }
        _ => choose_isa(isa, Some((&image.isa, dir)), "image")?,
    };
    Ok(Program {
        isa,
        image,
        listing: None,
    })
}

/// The ISA an image records with `isa_path` (relative to the image's directory), which must
/// still be the profile the image names.
pub fn image_isa(image: &Path, name: &str, isa_path: &str) -> Result<Arc<Isa>, ProgramError> {
    let file = image.parent().unwrap_or(Path::new("")).join(isa_path);
    let isa = match pgvm_isa::load_file(&file) {
        Ok(isa) => isa,
        Err(IsaError::Io(e)) => {
            return Err(ProgramError::IsaPathUnreadable {
                image: image.display().to_string(),
                isa: name.to_string(),
                file: file.display().to_string(),
                reason: e.reason().to_string(),
            });
        }
        Err(e) => return Err(e.into()),
    };
    if isa.name != name {
        return Err(ProgramError::IsaPathMismatch {
            image: image.display().to_string(),
            isa: name.to_string(),
            file: file.display().to_string(),
            found: isa.name,
        });
    }
    Ok(Arc::new(isa))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_comes_with_its_listing_and_contradicting_isa_is_refused() {
        let p = from_source("<t>", ".isa s370\n.entry go\ngo: halt\n", None).expect("loads");
        assert_eq!(p.isa.name, "s370");
        let listing = p.listing.expect("a listing");
        assert_eq!(listing.label_at(0).as_deref(), Some("go"));
        let e = from_source("<t>", ".isa s370\ngo: halt\n", Some("m68000")).expect_err("refused");
        assert!(
            matches!(&e, ProgramError::Contradicts { declared, .. } if declared == "s370"),
            "{e}"
        );
        assert!(e.to_string().contains("\n  hint: drop --isa"), "{e}");
    }
}
