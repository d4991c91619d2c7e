//! The two-pass assembler. See `docs/assembler.md` for the language.
//!
//! Pass 1 reads every line (following `.include`s), defines labels and lays out addresses;
//! pass 2 evaluates operands, so that labels may be used before they are defined. Everything
//! a program can get wrong is an [`AsmError`] pointing at `file:line:col` with a hint; no input
//! makes the assembler panic.

mod expr;
mod lex;

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use pgvm_isa::{EncodeError, InsnId, Isa, Mode, Origin};
use pgvm_machine::{MAX_WORDS, Psw, REG_MAX};

use crate::image::{Entry, Image, Segment};
use expr::{EvalError, Expr, ExprKind};
use lex::{LexError, Lexer, Punct, Tok, Token};

/// How deeply `.include`s may nest. Cycles are caught directly; this bounds the rest (for
/// example through symbolic links that make the same file look new).
const MAX_INCLUDE_DEPTH: usize = 32;

/// The largest source file `.include` reads, so that including a device such as `/dev/zero`
/// fails cleanly instead of exhausting memory.
const MAX_SOURCE_BYTES: u64 = 16 << 20;

/// The directives, for "unknown directive" hints.
const DIRECTIVES: &[&str] = &[
    ".isa", ".entry", ".org", ".base", ".word", ".equ", ".include", ".string", ".stringz",
    ".space", ".psw",
];

/// Everything that can go wrong assembling a program.
#[derive(Debug, thiserror::Error)]
pub enum AsmError {
    /// A problem located in the source.
    #[error("{origin}: {message}\n  hint: {hint}")]
    Source {
        /// Where: the file (the included file's own name for an `.include`d one), line, column.
        origin: Origin,
        /// What is wrong.
        message: String,
        /// What was expected, or how to fix it.
        hint: String,
    },
    /// The main source file could not be read.
    #[error("Cannot read {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl AsmError {
    fn at(
        file: &str,
        line: u32,
        col: u32,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        AsmError::Source {
            origin: Origin {
                file: file.to_string(),
                line,
                col,
            },
            message: message.into(),
            hint: hint.into(),
        }
    }
}

/// Scans source for a `.isa NAME` directive (the first one; comments are ignored). Includes are
/// not followed. The CLI uses it to pick the ISA before assembling.
pub fn declared_isa(src: &str) -> Option<String> {
    for text in src.lines() {
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
                && let Ok(Some((isa, _))) = lx.name_arg()
            {
                return Some(isa);
            }
            break;
        }
    }
    None
}

/// Assembles a file; `.include "x.s"` paths are relative to the including file's directory.
pub fn assemble_file(path: &Path, isa: &Isa) -> Result<Image, AsmError> {
    let display = path.display().to_string();
    let io = |source| AsmError::Io {
        path: display.clone(),
        source,
    };
    let src = std::fs::read_to_string(path).map_err(io)?;
    let mut asm = Asm::new(isa, &display);
    if let Ok(canon) = std::fs::canonicalize(path) {
        asm.stack.push(canon);
    }
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    asm.source(&display, &src, &dir)?;
    asm.finish()
}

/// Assembles in-memory source named `name` (for errors). `.include` paths are relative to the
/// current directory.
pub fn assemble_str(name: &str, src: &str, isa: &Isa) -> Result<Image, AsmError> {
    let mut asm = Asm::new(isa, name);
    asm.source(name, src, Path::new(""))?;
    asm.finish()
}

/// A symbol: a label or an `.equ` name. `value` is `None` while an `.equ` waits for symbols
/// defined further down.
struct Symbol {
    value: Option<i128>,
    origin: Origin,
}

/// An `.equ` whose expression used symbols not yet defined in pass 1.
struct PendingEqu {
    name: String,
    expr: Expr,
    dollar: i128,
    file: Rc<str>,
    line: u32,
}

/// Words whose values pass 2 computes, at an address pass 1 assigned.
struct Item {
    file: Rc<str>,
    line: u32,
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
    Psw(PswSpec),
}

/// A PSW written as `MODE, P, L[, B]`.
struct PswSpec {
    mode: Mode,
    p: Expr,
    l: Expr,
    b: Option<Expr>,
}

/// The `.entry` statement.
struct EntrySpec {
    spec: PswSpec,
    file: Rc<str>,
    line: u32,
    col: u32,
    dollar: i128,
}

/// Layout of one segment during pass 1.
struct SegInfo {
    org: u64,
    len: u64,
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
}

/// Where a statement is, for building errors.
#[derive(Clone)]
struct Here {
    file: Rc<str>,
    line: u32,
}

impl Here {
    fn err(&self, col: u32, message: impl Into<String>, hint: impl Into<String>) -> AsmError {
        AsmError::at(&self.file, self.line, col, message, hint)
    }

    fn lex(&self, e: LexError) -> AsmError {
        self.err(e.col, e.message, e.hint)
    }

    fn origin(&self, col: u32) -> Origin {
        Origin {
            file: self.file.to_string(),
            line: self.line,
            col,
        }
    }
}

impl<'i> Asm<'i> {
    fn new(isa: &'i Isa, main: &str) -> Self {
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
        }
    }

    /// Pass 1 over one source text.
    fn source(&mut self, file: &str, src: &str, dir: &Path) -> Result<(), AsmError> {
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

    fn statement(&mut self, here: &Here, text: &str, dir: &Path) -> Result<(), AsmError> {
        let mut lx = Lexer::new(text);
        let mut labels: Vec<(String, u32)> = Vec::new();
        let head = loop {
            let Some(t) = lx.next().map_err(|e| here.lex(e))? else {
                break None;
            };
            match t.tok {
                Tok::Ident(name) => {
                    if lx.eat_char(':') {
                        labels.push((name, t.col));
                        continue;
                    }
                    break Some((name, t.col));
                }
                other => {
                    return Err(here.err(
                        t.col,
                        format!(
                            "expected a label, an instruction or a directive, found {}",
                            other.describe()
                        ),
                        "a statement is `label: mnemonic operands` or `label: .directive arguments`",
                    ));
                }
            }
        };
        let Some((name, col)) = head else {
            return self.define_labels(here, &labels);
        };
        if name == ".org" {
            // Labels on a `.org` line name the new origin.
            self.org(here, &mut lx)?;
            return self.define_labels(here, &labels);
        }
        if name == ".base" {
            // Likewise, labels on a `.base` line take the new base.
            self.base_directive(here, &mut lx)?;
            return self.define_labels(here, &labels);
        }
        self.define_labels(here, &labels)?;
        match name.as_str() {
            ".isa" => self.isa_directive(here, &mut lx),
            ".entry" => self.entry_directive(here, &mut lx, col),
            ".word" => {
                let exprs = expr_list(here, &mut lx)?;
                if exprs.is_empty() {
                    return Err(here.err(
                        lx.end_col(),
                        "`.word` needs at least one value",
                        "write `.word VALUE, ...`",
                    ));
                }
                self.emit(here, col, exprs.len() as u64, ItemKind::Words(exprs))
            }
            ".equ" => self.equ(here, &mut lx),
            ".include" => {
                let (path, pcol) = string_arg(here, &mut lx, ".include")?;
                end(here, &mut lx)?;
                self.include(here, pcol, &path, dir)
            }
            ".string" | ".stringz" => {
                let (s, _) = string_arg(here, &mut lx, &name)?;
                end(here, &mut lx)?;
                let mut words: Vec<u64> = s.bytes().map(u64::from).collect();
                if name == ".stringz" {
                    words.push(0);
                }
                self.emit(here, col, words.len() as u64, ItemKind::Data(words))
            }
            ".space" => {
                let e = Expr::parse(&mut lx).map_err(|e| here.lex(e))?;
                end(here, &mut lx)?;
                let n = self.eval_now(here, &e, ".space")?;
                let n = u64::try_from(n)
                    .ok()
                    .filter(|&n| n <= MAX_WORDS)
                    .ok_or_else(|| {
                        here.err(
                            e.col,
                            format!("`.space` count {n} is out of range"),
                            format!("reserve from 0 to {MAX_WORDS} words"),
                        )
                    })?;
                self.emit(here, col, n, ItemKind::Zeros(n))
            }
            ".psw" => {
                let spec = psw_spec(here, &mut lx, col, true)?;
                self.emit(here, col, 1, ItemKind::Psw(spec))
            }
            _ if name.starts_with('.') => Err(here.err(
                col,
                format!("unknown directive `{name}`"),
                match similar(&name, DIRECTIVES.iter().copied()) {
                    s if !s.is_empty() => format!("did you mean {s}?"),
                    _ => format!("the directives are {}", DIRECTIVES.join(" ")),
                },
            )),
            _ => self.instruction(here, &mut lx, &name, col),
        }
    }

    /// The value of `$` here: the current address minus the `.base` in force.
    fn dollar(&self) -> i128 {
        i128::from(self.pc) - i128::from(self.base)
    }

    fn define_labels(&mut self, here: &Here, labels: &[(String, u32)]) -> Result<(), AsmError> {
        let value = self.dollar();
        for (name, col) in labels {
            if value < 0 {
                return Err(here.err(
                    *col,
                    format!(
                        "label `{name}` would be negative: address {:#x} is below the `.base` {:#x}",
                        self.pc, self.base
                    ),
                    "under `.base B`, labels are address - B: place them at or above B, or end the base with `.base 0`",
                ));
            }
            self.define(here, name, *col, Some(value))?;
        }
        Ok(())
    }

    fn define(
        &mut self,
        here: &Here,
        name: &str,
        col: u32,
        value: Option<i128>,
    ) -> Result<(), AsmError> {
        if let Some(first) = self.symbols.get(name) {
            return Err(here.err(
                col,
                format!("duplicate symbol `{name}`"),
                format!("`{name}` was first defined at {}", first.origin),
            ));
        }
        self.symbols.insert(
            name.to_string(),
            Symbol {
                value,
                origin: here.origin(col),
            },
        );
        Ok(())
    }

    /// Looks a symbol up; `None` if it is undefined or still waiting for its value.
    fn lookup(&self, name: &str) -> Option<i128> {
        self.symbols.get(name).and_then(|s| s.value)
    }

    /// Evaluates an expression in pass 1, where only the symbols defined above are known.
    fn eval_now(&self, here: &Here, e: &Expr, what: &str) -> Result<i128, AsmError> {
        e.eval(&|s| self.lookup(s), self.dollar())
            .map_err(|err| match err {
                EvalError::Undefined(name, col) => here.err(
                    col,
                    format!("`{what}` needs a value known here, but `{name}` is not defined yet"),
                    format!(
                        "define `{name}` above this line: {what} is laid out in the first pass"
                    ),
                ),
                EvalError::Other(col, message, hint) => here.err(col, message, hint),
            })
    }

    fn isa_directive(&mut self, here: &Here, lx: &mut Lexer) -> Result<(), AsmError> {
        let Some((name, ncol)) = lx.name_arg().map_err(|e| here.lex(e))? else {
            return Err(here.err(
                lx.end_col(),
                "`.isa` needs a profile name",
                format!("write `.isa {}`", self.isa.name),
            ));
        };
        end(here, lx)?;
        if name != self.isa.name {
            return Err(here.err(
                ncol,
                format!(
                    "this program is written for ISA `{name}`, but it is being assembled for `{}`",
                    self.isa.name
                ),
                format!(
                    "assemble it with --isa {name}, or change the `.isa` line to `.isa {}`",
                    self.isa.name
                ),
            ));
        }
        Ok(())
    }

    fn entry_directive(&mut self, here: &Here, lx: &mut Lexer, col: u32) -> Result<(), AsmError> {
        if let Some(first) = &self.entry {
            return Err(here.err(
                col,
                "duplicate `.entry`",
                format!(
                    "the entry point was already set at {}:{}:{}",
                    first.file, first.line, first.col
                ),
            ));
        }
        let first = Expr::parse(lx).map_err(|e| here.lex(e))?;
        let spec = if lx.eat(Punct::Comma).map_err(|e| here.lex(e))? {
            let mode = mode_of(here, &first)?;
            psw_rest(here, lx, mode, false)?
        } else {
            end(here, lx)?;
            PswSpec {
                mode: Mode::Supervisor,
                p: first,
                l: Expr::number(0, col),
                b: None,
            }
        };
        self.entry = Some(EntrySpec {
            spec,
            file: here.file.clone(),
            line: here.line,
            col,
            dollar: self.dollar(),
        });
        Ok(())
    }

    fn org(&mut self, here: &Here, lx: &mut Lexer) -> Result<(), AsmError> {
        let e = Expr::parse(lx).map_err(|e| here.lex(e))?;
        end(here, lx)?;
        let v = self.eval_now(here, &e, ".org")?;
        let target = u64::try_from(v)
            .ok()
            .filter(|&t| t <= MAX_WORDS)
            .ok_or_else(|| {
                here.err(
                    e.col,
                    format!("`.org` address {v} is out of range"),
                    format!("addresses run from 0 to {MAX_WORDS} (the largest memory)"),
                )
            })?;
        if let Some((&org, &idx)) = self.occupied.range(..=target).next_back() {
            let seg_end = org + self.segments[idx].len;
            if target < seg_end {
                return Err(here.err(
                    e.col,
                    format!(
                        "`.org {target:#x}` goes back into words already placed at {org:#x}..{seg_end:#x}"
                    ),
                    format!("choose an address in a gap, or at {seg_end:#x} or above"),
                ));
            }
        }
        self.pc = target;
        self.open = None;
        Ok(())
    }

    /// `.base EXPR`: from here on, labels and `$` are the address minus `EXPR`, so that code
    /// assembled at one physical address can name its words as a relocated program sees them.
    fn base_directive(&mut self, here: &Here, lx: &mut Lexer) -> Result<(), AsmError> {
        let e = Expr::parse(lx).map_err(|e| here.lex(e))?;
        end(here, lx)?;
        let v = self.eval_now(here, &e, ".base")?;
        self.base = u64::try_from(v)
            .ok()
            .filter(|&b| b <= MAX_WORDS)
            .ok_or_else(|| {
                here.err(
                    e.col,
                    format!("`.base` {v} is out of range"),
                    format!(
                        "a base is a physical address, from 0 to {MAX_WORDS}; `.base 0` ends it"
                    ),
                )
            })?;
        Ok(())
    }

    fn equ(&mut self, here: &Here, lx: &mut Lexer) -> Result<(), AsmError> {
        let usage = "write `.equ NAME, VALUE`";
        let (name, ncol) = match lx.next().map_err(|e| here.lex(e))? {
            Some(Token {
                tok: Tok::Ident(name),
                col,
            }) => (name, col),
            Some(t) => {
                return Err(here.err(
                    t.col,
                    format!("expected a name, found {}", t.tok.describe()),
                    usage,
                ));
            }
            None => return Err(here.err(lx.end_col(), "`.equ` needs a name", usage)),
        };
        comma(here, lx, usage)?;
        let e = Expr::parse(lx).map_err(|e| here.lex(e))?;
        end(here, lx)?;
        match e.eval(&|s| self.lookup(s), self.dollar()) {
            Ok(v) => self.define(here, &name, ncol, Some(v)),
            Err(EvalError::Undefined(..)) => {
                self.define(here, &name, ncol, None)?;
                self.pending.push(PendingEqu {
                    name,
                    expr: e,
                    dollar: self.dollar(),
                    file: here.file.clone(),
                    line: here.line,
                });
                Ok(())
            }
            Err(EvalError::Other(col, message, hint)) => Err(here.err(col, message, hint)),
        }
    }

    fn include(&mut self, here: &Here, col: u32, name: &str, dir: &Path) -> Result<(), AsmError> {
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
        if let Some(pos) = self.stack.iter().position(|p| *p == canon) {
            let chain: Vec<String> = self.stack[pos..]
                .iter()
                .chain(std::iter::once(&canon))
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
        let meta = std::fs::metadata(&canon).map_err(|e| cannot(e.to_string()))?;
        if !meta.is_file() {
            return Err(cannot("not a regular file".to_string()));
        }
        let mut bytes = Vec::new();
        std::fs::File::open(&canon)
            .and_then(|f| f.take(MAX_SOURCE_BYTES + 1).read_to_end(&mut bytes))
            .map_err(|e| cannot(e.to_string()))?;
        if bytes.len() as u64 > MAX_SOURCE_BYTES {
            return Err(cannot(format!("larger than {MAX_SOURCE_BYTES} bytes")));
        }
        let text = String::from_utf8(bytes).map_err(|_| cannot("not UTF-8 text".to_string()))?;
        let sub_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        self.stack.push(canon);
        let result = self.source(&display, &text, &sub_dir);
        self.stack.pop();
        result
    }

    fn instruction(
        &mut self,
        here: &Here,
        lx: &mut Lexer,
        name: &str,
        col: u32,
    ) -> Result<(), AsmError> {
        let Some(id) = self.isa.insn(name) else {
            let names = self.isa.insns.iter().map(|i| i.mnemonic.as_str());
            let near = similar(name, names.clone());
            let hint = if near.is_empty() {
                format!(
                    "the mnemonics of {} are: {}",
                    self.isa.name,
                    names.collect::<Vec<_>>().join(" ")
                )
            } else {
                format!("did you mean {near}? (mnemonics are case-sensitive)")
            };
            return Err(here.err(
                col,
                format!("unknown mnemonic `{name}` in ISA {}", self.isa.name),
                hint,
            ));
        };
        let operands = expr_list(here, lx)?;
        let expected = self.isa.insns[id].operands.len();
        if operands.len() != expected {
            let at = operands.get(expected).map_or(col, |e| e.col);
            let takes = match expected {
                0 => "no operands".to_string(),
                1 => "1 operand".to_string(),
                n => format!("{n} operands"),
            };
            return Err(here.err(
                at,
                format!("`{name}` takes {takes}, found {}", operands.len()),
                format!("usage: {}", self.usage(id)),
            ));
        }
        self.emit(here, col, 1, ItemKind::Insn { id, operands, col })
    }

    /// `mnemonic field, field, ...`, for hints.
    fn usage(&self, id: InsnId) -> String {
        let insn = &self.isa.insns[id];
        let format = self.isa.format_of(id);
        let fields: Vec<&str> = insn
            .operands
            .iter()
            .filter_map(|&f| format.fields.get(f).map(|f| f.name.as_str()))
            .collect();
        if fields.is_empty() {
            insn.mnemonic.clone()
        } else {
            format!("{} {}", insn.mnemonic, fields.join(", "))
        }
    }

    /// Places `n` words at the current address (pass 1), opening a segment if needed.
    fn emit(&mut self, here: &Here, col: u32, n: u64, kind: ItemKind) -> Result<(), AsmError> {
        if n == 0 {
            return Ok(());
        }
        let start = self.pc;
        let end = start
            .checked_add(n)
            .filter(|&e| e <= MAX_WORDS)
            .ok_or_else(|| {
                here.err(
                    col,
                    format!("words at {start:#x}..{:#x} are beyond the largest memory", start.saturating_add(n)),
                    format!("the largest machine has {MAX_WORDS} words; addresses must stay below {MAX_WORDS:#x}"),
                )
            })?;
        if let Some((&org, &idx)) = self.occupied.range(..end).next_back() {
            let seg_end = org + self.segments[idx].len;
            if Some(idx) != self.open && seg_end > start {
                return Err(here.err(
                    col,
                    format!(
                        "words at {start:#x}..{end:#x} overlap words already placed at {org:#x}..{seg_end:#x}"
                    ),
                    "move this code with `.org`, or the earlier code out of its way",
                ));
            }
        }
        let seg = match self.open {
            Some(s) => s,
            None => {
                self.segments.push(SegInfo { org: start, len: 0 });
                let s = self.segments.len() - 1;
                self.occupied.insert(start, s);
                self.open = Some(s);
                s
            }
        };
        if let Some(info) = self.segments.get_mut(seg) {
            info.len += n;
        }
        self.items.push(Item {
            file: here.file.clone(),
            line: here.line,
            dollar: self.dollar(),
            seg,
            kind,
        });
        self.pc = end;
        Ok(())
    }

    /// Resolves the `.equ`s that waited for later symbols, then runs pass 2.
    fn finish(mut self) -> Result<Image, AsmError> {
        self.resolve_pending()?;
        let mut segments: Vec<Segment> = self
            .segments
            .iter()
            .map(|s| Segment {
                org: s.org,
                words: Vec::with_capacity(usize::try_from(s.len).unwrap_or(0)),
            })
            .collect();
        for item in &self.items {
            let here = Here {
                file: item.file.clone(),
                line: item.line,
            };
            let dollar = item.dollar;
            let Some(out) = segments.get_mut(item.seg) else {
                continue;
            };
            match &item.kind {
                ItemKind::Insn { id, operands, col } => {
                    let values = operands
                        .iter()
                        .map(|e| self.eval_late(&here, e, dollar))
                        .collect::<Result<Vec<_>, _>>()?;
                    let word = self
                        .isa
                        .encode(*id, &values)
                        .map_err(|e| self.encode_error(&here, *id, *col, operands, e))?;
                    out.words.push(word);
                }
                ItemKind::Words(exprs) => {
                    for e in exprs {
                        let v = self.eval_late(&here, e, dollar)?;
                        out.words.push(word_of(&here, e.col, v)?);
                    }
                }
                ItemKind::Data(words) => out.words.extend_from_slice(words),
                ItemKind::Zeros(n) => {
                    out.words
                        .extend(std::iter::repeat_n(0, usize::try_from(*n).unwrap_or(0)));
                }
                ItemKind::Psw(spec) => {
                    let psw = self.psw(&here, spec, dollar, "PSW")?;
                    out.words.push(psw.pack());
                }
            }
        }
        let entry = self.entry()?;
        Ok(Image {
            isa: self.isa.name.clone(),
            entry,
            segments,
        })
    }

    fn resolve_pending(&mut self) -> Result<(), AsmError> {
        let mut pending = std::mem::take(&mut self.pending);
        loop {
            let before = pending.len();
            let mut still = Vec::new();
            for p in pending {
                match p.expr.eval(&|s| self.lookup(s), p.dollar) {
                    Ok(v) => {
                        if let Some(sym) = self.symbols.get_mut(&p.name) {
                            sym.value = Some(v);
                        }
                    }
                    Err(EvalError::Undefined(..)) => still.push(p),
                    Err(EvalError::Other(col, message, hint)) => {
                        return Err(AsmError::at(&p.file, p.line, col, message, hint));
                    }
                }
            }
            pending = still;
            if pending.is_empty() {
                return Ok(());
            }
            if pending.len() == before {
                break;
            }
        }
        // No progress: the first one left names an undefined symbol or sits in a cycle.
        let Some(p) = pending.first() else {
            return Ok(());
        };
        let here = Here {
            file: p.file.clone(),
            line: p.line,
        };
        match p.expr.eval(&|s| self.lookup(s), p.dollar) {
            Err(EvalError::Undefined(name, col)) if self.symbols.contains_key(&name) => Err(here
                .err(
                    col,
                    format!(
                        "circular definition: `{}` depends on `{name}`, which depends on it",
                        p.name
                    ),
                    "`.equ` values may refer to each other, but not in a cycle",
                )),
            Err(EvalError::Undefined(name, col)) => Err(self.undefined(&here, &name, col)),
            Err(EvalError::Other(col, message, hint)) => Err(here.err(col, message, hint)),
            Ok(_) => Ok(()),
        }
    }

    fn undefined(&self, here: &Here, name: &str, col: u32) -> AsmError {
        let near = similar(name, self.symbols.keys().map(String::as_str));
        let hint = if near.is_empty() {
            format!("define it as a label (`{name}:`) or with `.equ {name}, VALUE`")
        } else {
            format!("did you mean {near}?")
        };
        here.err(col, format!("undefined symbol `{name}`"), hint)
    }

    /// Evaluates in pass 2, when every symbol is known.
    fn eval_late(&self, here: &Here, e: &Expr, dollar: i128) -> Result<i128, AsmError> {
        e.eval(&|s| self.lookup(s), dollar)
            .map_err(|err| match err {
                EvalError::Undefined(name, col) => self.undefined(here, &name, col),
                EvalError::Other(col, message, hint) => here.err(col, message, hint),
            })
    }

    fn encode_error(
        &self,
        here: &Here,
        id: InsnId,
        col: u32,
        operands: &[Expr],
        e: EncodeError,
    ) -> AsmError {
        let mnemonic = &self.isa.insns[id].mnemonic;
        match e {
            EncodeError::Range {
                operand,
                field,
                value,
                min,
                max,
            } => {
                let at = operands.get(operand).map_or(col, |e| e.col);
                let (bits, kind) = self
                    .isa
                    .format_of(id)
                    .field(&field)
                    .and_then(|f| self.isa.format_of(id).fields.get(f))
                    .map_or((0, "an unsigned"), |f| {
                        (f.width(), if f.signed { "a signed" } else { "an unsigned" })
                    });
                here.err(
                    at,
                    format!(
                        "operand out of range: operand {} ({field}) of `{mnemonic}` is {value}, outside {min}..={max}",
                        operand + 1
                    ),
                    format!("`{field}` is {kind} {bits}-bit field: give a value from {min} to {max}"),
                )
            }
            EncodeError::Arity { expected, found } => here.err(
                col,
                format!("`{mnemonic}` takes {expected} operand(s), found {found}"),
                format!("usage: {}", self.usage(id)),
            ),
        }
    }

    /// Builds a PSW from its spec; `b` absent means 0 (only `.entry` may omit it, and there it
    /// is only range-checked here).
    fn psw(&self, here: &Here, spec: &PswSpec, dollar: i128, what: &str) -> Result<Psw, AsmError> {
        let mut parts = [0u64; 3];
        let exprs = [Some(&spec.p), Some(&spec.l), spec.b.as_ref()];
        for (slot, e) in parts.iter_mut().zip(exprs) {
            let Some(e) = e else { continue };
            let v = self.eval_late(here, e, dollar)?;
            *slot = u64::try_from(v).map_err(|_| {
                here.err(
                    e.col,
                    format!("{what} cannot be encoded: {v} is negative"),
                    format!("P, l and b are 21-bit registers: each must be 0..={REG_MAX}"),
                )
            })?;
        }
        let [p, l, b] = parts;
        Psw::new(spec.mode, p, l, b).map_err(|e| {
            let col = match e.field {
                "P" => spec.p.col,
                "l" => spec.l.col,
                _ => spec.b.as_ref().map_or(spec.p.col, |b| b.col),
            };
            here.err(
                col,
                format!("{what} cannot be encoded: {e}"),
                format!("P, l and b are 21-bit registers: each must be 0..={REG_MAX}"),
            )
        })
    }

    fn entry(&self) -> Result<Entry, AsmError> {
        if let Some(e) = &self.entry {
            let here = Here {
                file: e.file.clone(),
                line: e.line,
            };
            let psw = self.psw(&here, &e.spec, e.dollar, "entry PSW")?;
            return Ok(Entry {
                mode: psw.mode,
                p: psw.p,
                l: psw.r.l,
                b: e.spec.b.as_ref().map(|_| psw.r.b),
            });
        }
        if let Some(sym) = self.symbols.get("start") {
            let v = sym.value.unwrap_or(-1);
            let p = u64::try_from(v)
                .ok()
                .filter(|&p| p <= REG_MAX)
                .ok_or_else(|| {
                    AsmError::at(
                        &sym.origin.file,
                        sym.origin.line,
                        sym.origin.col,
                        format!("entry point `start` = {v} is not an address"),
                        format!("the entry P must be 0..={REG_MAX}"),
                    )
                })?;
            return Ok(Entry {
                mode: Mode::Supervisor,
                p,
                l: 0,
                b: None,
            });
        }
        Err(AsmError::at(
            &self.main,
            1,
            1,
            "no entry point",
            "add `.entry ADDRESS` (or `.entry MODE, P, L, B`), or define a label `start`",
        ))
    }
}

/// A `.word` value as a word: `-2^63..=2^64-1`, negatives in two's complement.
fn word_of(here: &Here, col: u32, v: i128) -> Result<u64, AsmError> {
    if v < i128::from(i64::MIN) || v > i128::from(u64::MAX) {
        return Err(here.err(
            col,
            format!("value {v} does not fit in a 64-bit word"),
            "a word holds -2^63..=2^64-1; negative values are stored in two's complement",
        ));
    }
    // Truncation keeps the low 64 bits: exactly two's complement for the negative range.
    Ok(v as u64)
}

/// Requires the end of the line.
fn end(here: &Here, lx: &mut Lexer) -> Result<(), AsmError> {
    match lx.next().map_err(|e| here.lex(e))? {
        None => Ok(()),
        Some(t) => Err(here.err(
            t.col,
            format!("expected the end of the line, found {}", t.tok.describe()),
            "separate operands with `,`; comments start with `;`",
        )),
    }
}

fn comma(here: &Here, lx: &mut Lexer, usage: &str) -> Result<(), AsmError> {
    if lx.eat(Punct::Comma).map_err(|e| here.lex(e))? {
        return Ok(());
    }
    let end_col = lx.end_col();
    let (col, found) = match lx.peek().map_err(|e| here.lex(e))? {
        Some(t) => (t.col, t.tok.describe()),
        None => (end_col, "the end of the line".to_string()),
    };
    Err(here.err(col, format!("expected `,`, found {found}"), usage))
}

/// A possibly empty comma-separated list of expressions up to the end of the line.
fn expr_list(here: &Here, lx: &mut Lexer) -> Result<Vec<Expr>, AsmError> {
    let mut out = Vec::new();
    if lx.peek().map_err(|e| here.lex(e))?.is_none() {
        return Ok(out);
    }
    loop {
        out.push(Expr::parse(lx).map_err(|e| here.lex(e))?);
        if !lx.eat(Punct::Comma).map_err(|e| here.lex(e))? {
            break;
        }
    }
    end(here, lx)?;
    Ok(out)
}

fn string_arg(here: &Here, lx: &mut Lexer, what: &str) -> Result<(String, u32), AsmError> {
    let hint = format!("write `{what} \"text\"`");
    match lx.next().map_err(|e| here.lex(e))? {
        Some(Token {
            tok: Tok::Str(s),
            col,
        }) => Ok((s, col)),
        Some(t) => Err(here.err(
            t.col,
            format!("expected a string, found {}", t.tok.describe()),
            hint,
        )),
        None => Err(here.err(lx.end_col(), format!("`{what}` needs a string"), hint)),
    }
}

/// `super` or `user`, written as a bare name.
fn mode_of(here: &Here, e: &Expr) -> Result<Mode, AsmError> {
    match &e.kind {
        ExprKind::Sym(s) if s == "super" => Ok(Mode::Supervisor),
        ExprKind::Sym(s) if s == "user" => Ok(Mode::User),
        _ => Err(here.err(
            e.col,
            "expected a mode, `super` or `user`",
            "a PSW is written `MODE, P, L, B`, for example `user, 0x10, 0x1000, 0x800`",
        )),
    }
}

/// `.psw MODE, P, L, B` (all four required) or, for `.entry`, `MODE, P, L[, B]`.
fn psw_spec(here: &Here, lx: &mut Lexer, col: u32, need_b: bool) -> Result<PswSpec, AsmError> {
    if lx.peek().map_err(|e| here.lex(e))?.is_none() {
        return Err(here.err(
            col,
            "`.psw` needs MODE, P, L, B",
            "for example `.psw user, 0x10, 0x1000, 0x800`",
        ));
    }
    let first = Expr::parse(lx).map_err(|e| here.lex(e))?;
    let mode = mode_of(here, &first)?;
    comma(here, lx, "write `MODE, P, L, B`")?;
    psw_rest(here, lx, mode, need_b)
}

/// The `P, L[, B]` after a mode.
fn psw_rest(here: &Here, lx: &mut Lexer, mode: Mode, need_b: bool) -> Result<PswSpec, AsmError> {
    let usage = "write `MODE, P, L, B`";
    let p = Expr::parse(lx).map_err(|e| here.lex(e))?;
    comma(here, lx, usage)?;
    let l = Expr::parse(lx).map_err(|e| here.lex(e))?;
    let b = if need_b {
        comma(here, lx, usage)?;
        Some(Expr::parse(lx).map_err(|e| here.lex(e))?)
    } else if lx.eat(Punct::Comma).map_err(|e| here.lex(e))? {
        Some(Expr::parse(lx).map_err(|e| here.lex(e))?)
    } else {
        None
    };
    end(here, lx)?;
    Ok(PswSpec { mode, p, l, b })
}

/// Names close to `name` (by edit distance, ignoring case), formatted for a hint.
fn similar<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> String {
    let lower = name.to_lowercase();
    let limit = if lower.chars().count() <= 3 { 1 } else { 2 };
    let mut near: Vec<(usize, &str)> = candidates
        .filter_map(|c| {
            let d = edit_distance(&lower, &c.to_lowercase());
            (d <= limit).then_some((d, c))
        })
        .collect();
    near.sort();
    near.truncate(5);
    near.iter()
        .map(|(_, c)| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Levenshtein distance, for suggestions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            let del = prev[j + 1] + 1;
            let ins = cur[j] + 1;
            cur.push(sub.min(del).min(ins));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests;
