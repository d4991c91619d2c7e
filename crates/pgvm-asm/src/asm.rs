//! The two-pass assembler. See `docs/assembler.md` for the language.
//!
//! Pass 1 reads every line (following `.include`s), defines labels and lays out addresses;
//! pass 2 evaluates operands, so that labels may be used before they are defined. Everything
//! a program can get wrong is an [`AsmError`] pointing at `file:line:col` with a hint; no input
//! makes the assembler panic.
//!
//! This module holds the entry points and the state the two passes share. Each submodule owns
//! one part of the work:
//!
//! - `lex`, `expr`: tokens, and expressions over symbols;
//! - `source`: reading source text, and following `.include`s safely;
//! - `statement`, `args`: the shape of a line, and the argument syntax the statements share;
//! - `directive`, `psw`: the directives; `.psw` and `.entry`, which share the PSW syntax;
//! - `insn`: instructions, checked in pass 1 and encoded in pass 2;
//! - `layout`: where pass 1 puts words (addresses, segments, overlaps);
//! - `symbols`: labels and `.equ`s, and evaluating expressions against them;
//! - `pass2`: turning what pass 1 laid out into the image;
//! - `error`, `suggest`: the error type, where errors point, and "did you mean" hints.

mod args;
mod directive;
mod error;
mod expr;
mod insn;
mod layout;
mod lex;
mod pass2;
mod psw;
mod source;
mod statement;
mod suggest;
mod symbols;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use pgvm_isa::{InsnId, Isa, Origin};

use crate::image::Image;
use crate::listing::{Listing, ListingBuilder};
use error::Here;
use expr::Expr;
use layout::SegInfo;
use lex::{Lexer, Tok, Token};
use psw::{EntrySpec, PswSpec};
use symbols::{PendingEqu, Symbol};

pub use error::AsmError;
pub use source::{
    FileSystem, MAX_INCLUDE_DEPTH, MAX_INCLUDES, MAX_TOTAL_SOURCE_BYTES, MemorySources, Sources,
};

/// Scans source for a `.isa NAME` directive (the first one; comments are ignored). Includes are
/// not followed. The CLI uses it to pick the ISA before assembling.
pub fn declared_isa(src: &str) -> Option<String> {
    declared_isa_at("", src).map(|(name, _)| name)
}

/// [`declared_isa`], with where the directive's argument is in `file`, so that an ISA that
/// cannot be found is reported at the line that names it.
pub fn declared_isa_at(file: &str, src: &str) -> Option<(String, Origin)> {
    for (i, text) in src.lines().enumerate() {
        let mut lx = Lexer::new(text);
        while let Ok(Some(Token {
            tok: Tok::Ident(name),
            ..
        })) = lx.next()
        {
            if lx.eat_char(':') {
                continue;
            }
            if name == ".isa"
                && let Ok(Some((isa, col))) = lx.name_arg()
            {
                let origin = Origin {
                    file: file.to_string(),
                    line: u32::try_from(i + 1).unwrap_or(u32::MAX),
                    col,
                };
                return Some((isa, origin));
            }
            break;
        }
    }
    None
}

/// Assembles a file; `.include "x.s"` paths are relative to the including file's directory.
pub fn assemble_file(path: &Path, isa: &Isa) -> Result<Image, AsmError> {
    assemble_file_listed(path, isa).map(|(image, _)| image)
}

/// [`assemble_file`], with the program's labels and line table.
pub fn assemble_file_listed(path: &Path, isa: &Isa) -> Result<(Image, Listing), AsmError> {
    assemble_from_listed(path, &FileSystem, isa)
}

/// Assembles the file at `path` in `sources`, which also provides what it includes: for
/// programs that are not on disk, such as those built into a binary ([`MemorySources`]).
pub fn assemble_from(path: &Path, sources: &dyn Sources, isa: &Isa) -> Result<Image, AsmError> {
    assemble_from_listed(path, sources, isa).map(|(image, _)| image)
}

/// [`assemble_from`], with the program's labels and line table.
pub fn assemble_from_listed(
    path: &Path,
    sources: &dyn Sources,
    isa: &Isa,
) -> Result<(Image, Listing), AsmError> {
    let mut asm = Asm::new(isa, &path.display().to_string(), sources);
    asm.main_file(path)?;
    asm.finish()
}

/// Assembles in-memory source named `name` (for errors). `.include` paths are relative to the
/// current directory.
pub fn assemble_str(name: &str, src: &str, isa: &Isa) -> Result<Image, AsmError> {
    assemble_str_listed(name, src, isa).map(|(image, _)| image)
}

/// [`assemble_str`], with the program's labels and line table.
pub fn assemble_str_listed(name: &str, src: &str, isa: &Isa) -> Result<(Image, Listing), AsmError> {
    let mut asm = Asm::new(isa, name, &FileSystem);
    asm.bytes_read = src.len() as u64;
    asm.source(name, src, Path::new(""))?;
    asm.finish()
}

/// Words whose values pass 2 computes, at an address pass 1 assigned.
struct Item {
    /// The statement, for errors.
    here: Here,
    /// The value of `$` at the statement: its address minus the `.base` in force.
    dollar: i128,
    /// Index of the segment the words go to.
    seg: usize,
    kind: ItemKind,
}

enum ItemKind {
    Insn {
        id: InsnId,
        operands: Vec<Expr>,
        col: u32,
    },
    Words(Vec<Expr>),
    Data(Vec<u64>),
    Zeros(u64),
    /// `.fill N, VALUE`: `N` copies of one value, evaluated in pass 2 (it may name a label
    /// defined later, as a dispatch table's entries do).
    Fill(u64, Expr),
    Psw(PswSpec),
}

/// The assembler's state across both passes.
struct Asm<'i> {
    isa: &'i Isa,
    /// The main file's name, for errors that belong to no line.
    main: String,
    symbols: HashMap<String, Symbol>,
    pending: Vec<PendingEqu>,
    items: Vec<Item>,
    segments: Vec<SegInfo>,
    /// Segments by origin, to find overlaps quickly.
    occupied: BTreeMap<u64, usize>,
    /// The address of the next word.
    pc: u64,
    /// The `.base` in force: labels and `$` are addresses minus this (0 when none).
    base: u64,
    /// The segment that the next word extends, if no `.org` intervened.
    open: Option<usize>,
    entry: Option<EntrySpec>,
    /// Canonical paths of the files being read, outermost first, for cycle detection.
    stack: Vec<PathBuf>,
    /// Where source text comes from.
    sources: &'i dyn Sources,
    /// `.include`s performed so far, against [`MAX_INCLUDES`].
    includes: usize,
    /// Bytes of source read so far, against [`MAX_TOTAL_SOURCE_BYTES`].
    bytes_read: u64,
    /// Labels and the line of every word, for [`Listing`].
    listing: ListingBuilder,
}

impl<'i> Asm<'i> {
    fn new(isa: &'i Isa, main: &str, sources: &'i dyn Sources) -> Self {
        Asm {
            isa,
            main: main.to_string(),
            symbols: HashMap::new(),
            pending: Vec::new(),
            items: Vec::new(),
            segments: Vec::new(),
            occupied: BTreeMap::new(),
            pc: 0,
            base: 0,
            open: None,
            entry: None,
            stack: Vec::new(),
            sources,
            includes: 0,
            bytes_read: 0,
            listing: ListingBuilder::default(),
        }
    }
}

#[cfg(test)]
mod tests;
