//! The pgvm ISA description language.
//!
//! A description is the single source of truth for a machine: the engine, the assembler, the
//! classifier, the monitor's interpreters and the reference documentation all come from the
//! checked [`Isa`] this crate produces. See `docs/isa-language.md` for the language.

mod doc;
mod effects;
mod error;
mod index;
mod lexer;
mod model;
pub mod ops;
mod parse;
mod read;
pub mod shape;
pub mod visit;

pub use doc::{render_body, render_markdown};
pub use effects::{Effects, Primitive};
pub use error::IsaError;
pub use model::*;
pub use parse::{MAX_DEPTH, MAX_EFFECTS};
pub use read::{MAX_DATA_BYTES, MAX_SOURCE_BYTES, ReadError, read_source, read_text};

use std::path::{Path, PathBuf};

/// The built-in profiles, as `(name, source)`. `base` is abstract: the others extend it.
pub const BUILTINS: &[(&str, &str)] = &[
    ("base", include_str!("../../../isa/base.isa")),
    ("s370", include_str!("../../../isa/s370.isa")),
    ("ppc", include_str!("../../../isa/ppc.isa")),
    ("pdp10", include_str!("../../../isa/pdp10.isa")),
    ("m68000", include_str!("../../../isa/m68000.isa")),
    ("m68010", include_str!("../../../isa/m68010.isa")),
    ("ia32", include_str!("../../../isa/ia32.isa")),
    ("ia32-vt", include_str!("../../../isa/ia32-vt.isa")),
];

/// The names of the built-in profiles, abstract ones included.
pub fn builtin_names() -> Vec<&'static str> {
    BUILTINS.iter().map(|(n, _)| *n).collect()
}

/// Loads a built-in profile by name, or a description from a path. A name is tried as a
/// built-in first; anything containing a `/` or ending in `.isa` is a path.
pub fn load(name_or_path: &str) -> Result<Isa, IsaError> {
    if is_path(name_or_path) {
        return load_file(Path::new(name_or_path));
    }
    Loader::default().builtin(name_or_path, None)
}

/// True for a `--isa` or `.isa` argument that is a path rather than a profile name.
pub fn is_path(name_or_path: &str) -> bool {
    name_or_path.contains('/') || name_or_path.ends_with(".isa")
}

/// True if `isa` is a built-in profile rather than one read from a file.
pub fn is_builtin(isa: &Isa) -> bool {
    builtin_names().contains(&isa.name.as_str()) && isa.file == format!("isa/{}.isa", isa.name)
}

/// Loads the ISA a program names with `.isa NAME` or `.isa "PATH"` at `at`, in a file whose
/// directory is `dir`. A path is relative to `dir`. A name is looked up as `extends` looks
/// up its parent: `NAME.isa` in `dir` if there is one, else the built-in profile. Failing to
/// find it is an error located at `at`.
pub fn load_declared(name_or_path: &str, at: &Origin, dir: &Path) -> Result<Isa, IsaError> {
    let locate = |e: ReadError, hint: String| {
        IsaError::at(
            at.clone(),
            format!("cannot read ISA `{}`: {}", e.path(), e.reason()),
            hint,
        )
    };
    if is_path(name_or_path) {
        let path = dir.join(name_or_path);
        return match read_source(&path) {
            Ok(src) => Loader::default().source(
                &path.display().to_string(),
                &src,
                path.parent().map(Path::to_path_buf),
            ),
            Err(e @ ReadError::Io { .. }) => Err(locate(
                e,
                "a `.isa` path is relative to the directory of the file that names it".into(),
            )),
            Err(e) => {
                let hint = e.hint();
                Err(locate(e, hint))
            }
        };
    }
    let beside = dir.join(format!("{name_or_path}.isa"));
    if beside.is_file() {
        return load_file(&beside);
    }
    if BUILTINS.iter().any(|(n, _)| *n == name_or_path) {
        return Loader::default().builtin(name_or_path, None);
    }
    Err(IsaError::at(
        at.clone(),
        format!(
            "Unknown ISA `{name_or_path}`: not a built-in profile ({}), and there is no {}",
            builtin_names().join(", "),
            beside.display()
        ),
        format!("put {name_or_path}.isa beside this file, or write `.isa \"PATH.isa\"`"),
    ))
}

/// True if `isa` is the one a program's `.isa NAME_OR_PATH` names, in a file whose directory
/// is `dir`: a name must be the profile's name; a path must lead to the file it was read from.
pub fn is_declared(isa: &Isa, name_or_path: &str, dir: &Path) -> bool {
    if !is_path(name_or_path) {
        return isa.name == name_or_path;
    }
    if is_builtin(isa) {
        return false;
    }
    match (
        std::fs::canonicalize(dir.join(name_or_path)),
        std::fs::canonicalize(&isa.file),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Loads a description from a file. `extends` names a built-in, or `NAME.isa` beside the file.
pub fn load_file(path: &Path) -> Result<Isa, IsaError> {
    let src = read_source(path)?;
    Loader::default().source(
        &path.display().to_string(),
        &src,
        path.parent().map(Path::to_path_buf),
    )
}

/// Parses a description held in memory. `extends` may only name built-ins.
pub fn parse_str(file: &str, src: &str) -> Result<Isa, IsaError> {
    Loader::default().source(file, src, None)
}

/// Follows `extends` chains, refusing cycles.
#[derive(Default)]
struct Loader {
    /// Profiles being loaded, outermost first.
    stack: Vec<String>,
}

impl Loader {
    fn builtin(&mut self, name: &str, origin: Option<&Origin>) -> Result<Isa, IsaError> {
        let Some((_, src)) = BUILTINS.iter().find(|(n, _)| *n == name) else {
            let available = builtin_names().join(", ");
            return Err(match origin {
                Some(o) => IsaError::Source {
                    origin: o.clone(),
                    message: format!("Unknown ISA `{name}`; available: {available}"),
                    hint: format!("extend a built-in profile, or put {name}.isa beside this file"),
                },
                None => IsaError::UnknownIsa {
                    name: name.to_string(),
                    available,
                },
            });
        };
        self.source(&format!("isa/{name}.isa"), src, None)
    }

    fn source(&mut self, file: &str, src: &str, dir: Option<PathBuf>) -> Result<Isa, IsaError> {
        self.stack.push(file.to_string());
        let resolve = |name: &str, origin: &Origin| -> Result<Isa, IsaError> {
            if let Some(d) = &dir {
                let candidate = d.join(format!("{name}.isa"));
                if candidate.is_file() {
                    let key = candidate.display().to_string();
                    return self.nested(&key, origin, |l| {
                        let src = read_source(&candidate)?;
                        l.source(&key, &src, Some(d.clone()))
                    });
                }
            }
            let key = format!("isa/{name}.isa");
            self.nested(&key, origin, |l| l.builtin(name, Some(origin)))
        };
        let result = parse::parse(file, src, resolve);
        self.stack.pop();
        result
    }

    fn nested(
        &mut self,
        key: &str,
        origin: &Origin,
        load: impl FnOnce(&mut Self) -> Result<Isa, IsaError>,
    ) -> Result<Isa, IsaError> {
        if self.stack.iter().any(|s| s == key) {
            return Err(IsaError::Source {
                origin: origin.clone(),
                message: format!(
                    "profiles extend each other in a cycle: {} -> {key}",
                    self.stack.join(" -> ")
                ),
                hint: "a profile may not extend itself, directly or indirectly".into(),
            });
        }
        load(self)
    }
}
