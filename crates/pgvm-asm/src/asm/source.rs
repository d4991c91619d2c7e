//! Reading source text into pass 1: a text line by line, and `.include`, which reads another
//! file into the same pass. Included files are untrusted input like any other, so reading one
//! is guarded against cycles, runaway nesting, devices and huge or non-text files.

use std::io::Read;
use std::path::Path;
use std::rc::Rc;

use super::Asm;
use super::error::{AsmError, Here};

/// How deeply `.include`s may nest. Cycles are caught directly; this bounds the rest (for
/// example through symbolic links that make the same file look new).
const MAX_INCLUDE_DEPTH: usize = 32;

/// The largest source file `.include` reads, so that including a device such as `/dev/zero`
/// fails cleanly instead of exhausting memory.
const MAX_SOURCE_BYTES: u64 = 16 << 20;

impl Asm<'_> {
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
        let cannot = |what: String| {
            here.err(
                col,
                format!("cannot include `{display}`: {what}"),
                "include paths are relative to the directory of the including file",
            )
        };
        let canon = std::fs::canonicalize(&path).map_err(|e| cannot(e.to_string()))?;
        self.check_nesting(here, col, &canon)?;
        let text = read_source(&canon).map_err(cannot)?;
        let sub_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        self.stack.push(canon);
        let result = self.source(&display, &text, &sub_dir);
        self.stack.pop();
        result
    }

    /// Refuses to include `canon` if it is already being read (a cycle) or if the includes
    /// are already nested as deeply as allowed.
    fn check_nesting(&self, here: &Here, col: u32, canon: &Path) -> Result<(), AsmError> {
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
        Ok(())
    }
}

/// Reads an included file, which must be a regular file of at most [`MAX_SOURCE_BYTES`] of
/// UTF-8 text. The error is the reason, for a "cannot include" message.
fn read_source(canon: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(canon).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".to_string());
    }
    let mut bytes = Vec::new();
    std::fs::File::open(canon)
        .and_then(|f| f.take(MAX_SOURCE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_SOURCE_BYTES {
        return Err(format!("larger than {MAX_SOURCE_BYTES} bytes"));
    }
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())
}
