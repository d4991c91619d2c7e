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
/// then agree with the program when the program names one too. `declared` is what the
/// program names, with the directory it is relative to.
fn choose_isa(cli: Option<&str>, declared: Option<(&str, &Path)>, what: &str) -> Result<Arc<Isa>> {
    let Some(c) = cli else {
        let name = declared.map_or(DEFAULT_ISA, |(d, _)| d);
        return Ok(Arc::new(pgvm_isa::load(name)?));
    };
    let isa = pgvm_isa::load(c)?;
    if let Some((d, dir)) = declared
        && !pgvm_isa::is_declared(&isa, d, dir)
    {
        bail!(
            "--isa {c} contradicts the {what}, which is for `{d}`\n  hint: drop --isa, or write the program for `{}`",
            isa.name
        );
    }
    Ok(Arc::new(isa))
}

/// The ISA of an assembly source `src` (named `name`, in directory `dir`): `--isa` if given,
/// which must agree with the program's `.isa` line; else that line, found the way `extends`
/// finds a parent; else the default.
fn source_isa(name: &str, src: &str, dir: &Path, cli: Option<&str>) -> Result<Arc<Isa>> {
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

/// Loads `path` as an assembly source or an image; `-` is an assembly source on standard
/// input (its `.include`s are relative to the current directory).
pub fn load(path: &Path, isa: Option<&str>) -> Result<(Arc<Isa>, Image)> {
    if path.as_os_str() == "-" {
        let src = read_stdin()?;
        let isa = source_isa(STDIN_NAME, &src, Path::new("."), isa)?;
        let image = pgvm_asm::assemble_str(STDIN_NAME, &src, &isa)?;
        return Ok((isa, image));
    }
    let dir = path.parent().unwrap_or(Path::new(""));
    if is_source(path) {
        let src = pgvm_isa::read_source(path)?;
        let isa = source_isa(&path.display().to_string(), &src, dir, isa)?;
        let image = pgvm_asm::assemble_file(path, &isa)?;
        Ok((isa, image))
    } else {
        let image = Image::read(path)?;
        let isa = match (&image.isa_path, isa) {
            (Some(p), None) => image_isa(path, &image.isa, p)?,
            (None, None) if !pgvm_isa::builtin_names().contains(&image.isa.as_str()) => bail!(
                "{}: the image is for ISA `{}`, which is not built in, and records no isa_path\n  hint: pass --isa PATH.isa",
                path.display(),
                image.isa
            ),
            _ => choose_isa(isa, Some((&image.isa, dir)), "image")?,
        };
        Ok((isa, image))
    }
}

/// The ISA an image records with `isa_path` (relative to the image's directory), which must
/// still be the profile the image names.
fn image_isa(image: &Path, name: &str, isa_path: &str) -> Result<Arc<Isa>> {
    let file = image.parent().unwrap_or(Path::new("")).join(isa_path);
    let isa = match pgvm_isa::load_file(&file) {
        Ok(isa) => isa,
        Err(pgvm_isa::IsaError::Io(e)) => bail!(
            "{}: the image's ISA `{name}` is at {}, which cannot be read: {}\n  hint: pass --isa PATH.isa",
            image.display(),
            file.display(),
            e.reason()
        ),
        Err(e) => return Err(e.into()),
    };
    if isa.name != name {
        bail!(
            "{}: the image is for ISA `{name}`, but its isa_path {} describes `{}`\n  hint: pass --isa PATH.isa",
            image.display(),
            file.display(),
            isa.name
        );
    }
    Ok(Arc::new(isa))
}
