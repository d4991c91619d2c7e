//! Reading source text into pass 1: a text line by line, and `.include`, which reads another
//! file into the same pass. Included files are untrusted input like any other, so reading one
//! is guarded against cycles, runaway nesting and fan-out, devices and huge or non-text files.
//! Where the text comes from is a [`Sources`]: the file system, or files held in memory.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use pgvm_isa::ReadError;

use super::Asm;
use super::error::{AsmError, Here};

/// How deeply `.include`s may nest. Cycles are caught directly; this bounds the rest (for
/// example through symbolic links that make the same file look new).
pub const MAX_INCLUDE_DEPTH: usize = 32;

/// How many `.include`s one assembly may perform in all. Files that each include the next
/// one twice would otherwise take time exponential in the chain's length, with no cycle and
/// no deep nesting to stop them.
pub const MAX_INCLUDES: usize = 1024;

/// How many bytes of source one assembly may read in all, the main file included (64 MiB).
pub const MAX_TOTAL_SOURCE_BYTES: u64 = 64 << 20;

/// Where the assembler gets source text. A file is named by a path; `.include` paths are
/// joined to the including file's directory before they get here.
pub trait Sources {
    /// The key that identifies the file at `path`, so that a cycle is seen however the path
    /// is spelled (a canonical path for files on disk).
    fn canonical(&self, path: &Path) -> Result<PathBuf, ReadError>;
    /// The text of the file with that key.
    fn read(&self, canonical: &Path) -> Result<String, ReadError>;
}

/// The file system, read through [`pgvm_isa::read_source`] (regular files of bounded size).
pub struct FileSystem;

impl Sources for FileSystem {
    fn canonical(&self, path: &Path) -> Result<PathBuf, ReadError> {
        std::fs::canonicalize(path).map_err(|source| ReadError::Io {
            path: path.display().to_string(),
            source,
        })
    }

    fn read(&self, canonical: &Path) -> Result<String, ReadError> {
        pgvm_isa::read_source(canonical)
    }
}

/// Source files held in memory, by relative path (`tsos/s370.s`): for programs built into a
/// binary. Paths are normalized lexically, so `tsos/../lib/x.s` is `lib/x.s`.
#[derive(Default)]
pub struct MemorySources {
    files: HashMap<PathBuf, String>,
}

impl MemorySources {
    /// The files `(path, text)`.
    pub fn new<P: AsRef<Path>, T: Into<String>>(files: impl IntoIterator<Item = (P, T)>) -> Self {
        MemorySources {
            files: files
                .into_iter()
                .map(|(p, t)| (normalize(p.as_ref()), t.into()))
                .collect(),
        }
    }
}

impl Sources for MemorySources {
    fn canonical(&self, path: &Path) -> Result<PathBuf, ReadError> {
        Ok(normalize(path))
    }

    fn read(&self, canonical: &Path) -> Result<String, ReadError> {
        self.files
            .get(canonical)
            .cloned()
            .ok_or_else(|| ReadError::Io {
                path: canonical.display().to_string(),
                source: std::io::ErrorKind::NotFound.into(),
            })
    }
}

/// `path` without `.` components and with each `..` cancelling the name before it.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if out.file_name().is_some() => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

impl Asm<'_> {
    /// Reads the main file through the sources and runs pass 1 over it.
    pub(super) fn main_file(&mut self, path: &Path) -> Result<(), AsmError> {
        let display = path.display().to_string();
        let canon = self.sources.canonical(path)?;
        let text = self.sources.read(&canon)?;
        // At most MAX_SOURCE_BYTES, so within the total: includes are what can exceed it.
        self.bytes_read = text.len() as u64;
        self.stack.push(canon);
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        self.source(&display, &text, &dir)
    }

    /// Pass 1 over one source text.
    pub(super) fn source(&mut self, file: &str, src: &str, dir: &Path) -> Result<(), AsmError> {
        let file: Rc<str> = Rc::from(file);
        for (i, text) in src.lines().enumerate() {
            let here = Here {
                file: file.clone(),
                line: u32::try_from(i + 1).unwrap_or(u32::MAX),
            };
            self.statement(&here, text, dir)?;
        }
        Ok(())
    }

    /// `.include NAME`, with `NAME` relative to `dir`, the including file's directory.
    pub(super) fn include(
        &mut self,
        here: &Here,
        col: u32,
        name: &str,
        dir: &Path,
    ) -> Result<(), AsmError> {
        let path = dir.join(name);
        let display = path.display().to_string();
        let cannot = |e: ReadError| {
            here.err(
                col,
                format!("cannot include `{display}`: {}", e.reason()),
                format!(
                    "{}; include paths are relative to the directory of the including file",
                    e.hint()
                ),
            )
        };
        let canon = self.sources.canonical(&path).map_err(cannot)?;
        self.check_nesting(here, col, &canon)?;
        let text = self.sources.read(&canon).map_err(cannot)?;
        self.count_bytes(&text).map_err(|()| {
            here.err(
                col,
                format!(
                    "cannot include `{display}`: the program's sources exceed {MAX_TOTAL_SOURCE_BYTES} bytes in all"
                ),
                format!(
                    "one assembly reads at most {} MiB of source, a file included twice counting twice",
                    MAX_TOTAL_SOURCE_BYTES >> 20
                ),
            )
        })?;
        let sub_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        self.stack.push(canon);
        let result = self.source(&display, &text, &sub_dir);
        self.stack.pop();
        result
    }

    /// Adds `text` to the bytes read so far; `Err` past [`MAX_TOTAL_SOURCE_BYTES`].
    fn count_bytes(&mut self, text: &str) -> Result<(), ()> {
        self.bytes_read = self.bytes_read.saturating_add(text.len() as u64);
        if self.bytes_read > MAX_TOTAL_SOURCE_BYTES {
            return Err(());
        }
        Ok(())
    }

    /// Refuses to include `canon` if it is already being read (a cycle), if the includes
    /// are already nested as deeply as allowed, or if this assembly has included as many
    /// files as allowed.
    fn check_nesting(&mut self, here: &Here, col: u32, canon: &Path) -> Result<(), AsmError> {
        if let Some(pos) = self.stack.iter().position(|p| p == canon) {
            let chain: Vec<String> = self.stack[pos..]
                .iter()
                .map(|p| p.as_path())
                .chain(std::iter::once(canon))
                .map(|p| p.display().to_string())
                .collect();
            return Err(here.err(
                col,
                format!("include cycle: {}", chain.join(" -> ")),
                "a file may not include itself, directly or through other files",
            ));
        }
        if self.stack.len() >= MAX_INCLUDE_DEPTH {
            return Err(here.err(
                col,
                "includes nested too deeply",
                format!("includes may nest at most {MAX_INCLUDE_DEPTH} levels"),
            ));
        }
        self.includes += 1;
        if self.includes > MAX_INCLUDES {
            return Err(here.err(
                col,
                format!("more than {MAX_INCLUDES} includes in one assembly"),
                "a file included several times is read each time; include shared files once",
            ));
        }
        Ok(())
    }
}
