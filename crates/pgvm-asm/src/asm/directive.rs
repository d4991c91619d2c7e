//! The directives other than `.include` (see `source`) and the PSW-valued `.psw` and `.entry`
//! (see `psw`): each parses its arguments and changes the layout, the symbols or the data.

use std::path::Path;

use pgvm_machine::MAX_WORDS;

use super::args::{comma, end, expr, expr_list, string_arg};
use super::error::{AsmError, Here};
use super::expr::Expr;
use super::lex::{Lexer, Tok, Token};
use super::{Asm, ItemKind};

impl Asm<'_> {
    /// `.isa NAME` or `.isa "PATH"`: the program states which ISA it is written for, and must
    /// get it. A path is relative to `dir`, the directory of the file the line is in.
    pub(super) fn isa_directive(
        &mut self,
        here: &Here,
        lx: &mut Lexer,
        dir: &Path,
    ) -> Result<(), AsmError> {
        let Some((name, ncol)) = lx.name_arg().map_err(|e| here.lex(e))? else {
            return Err(here.err(
                lx.end_col(),
                "`.isa` needs a profile name",
                format!("write `.isa {}`", self.isa.name),
            ));
        };
        end(here, lx)?;
        if !pgvm_isa::is_declared(self.isa, &name, dir) {
            let using = if pgvm_isa::is_builtin(self.isa) {
                format!("`{}`", self.isa.name)
            } else {
                format!("`{}` ({})", self.isa.name, self.isa.file)
            };
            return Err(here.err(
                ncol,
                format!(
                    "this program is written for ISA `{name}`, but it is being assembled for {using}"
                ),
                if pgvm_isa::is_path(&name) {
                    format!(
                        "assemble it for the ISA at that path (relative to this file's directory), or change the line to `.isa {}`",
                        self.isa.name
                    )
                } else {
                    format!(
                        "assemble it with --isa {name}, or change the line to `.isa {}`",
                        self.isa.name
                    )
                },
            ));
        }
        Ok(())
    }

    /// `.word VALUE, ...`: words whose values pass 2 computes.
    pub(super) fn word_directive(
        &mut self,
        here: &Here,
        lx: &mut Lexer,
        col: u32,
    ) -> Result<(), AsmError> {
        let exprs = expr_list(here, lx)?;
        if exprs.is_empty() {
            return Err(here.err(
                lx.end_col(),
                "`.word` needs at least one value",
                "write `.word VALUE, ...`",
            ));
        }
        self.emit(here, col, exprs.len() as u64, ItemKind::Words(exprs))
    }

    /// `.string "text"` (one word a byte) or `.stringz "text"` (the same, then a 0 word).
    pub(super) fn string_directive(
        &mut self,
        here: &Here,
        lx: &mut Lexer,
        name: &str,
        col: u32,
    ) -> Result<(), AsmError> {
        let (s, _) = string_arg(here, lx, name)?;
        end(here, lx)?;
        let mut words: Vec<u64> = s.bytes().map(u64::from).collect();
        if name == ".stringz" {
            words.push(0);
        }
        self.emit(here, col, words.len() as u64, ItemKind::Data(words))
    }

    /// `.space N`: `N` zero words.
    pub(super) fn space_directive(
        &mut self,
        here: &Here,
        lx: &mut Lexer,
        col: u32,
    ) -> Result<(), AsmError> {
        let (n, _) = self.layout_arg(here, lx, ".space", |n| {
            (
                format!("`.space` count {n} is out of range"),
                format!("reserve from 0 to {MAX_WORDS} words"),
            )
        })?;
        self.emit(here, col, n, ItemKind::Zeros(n))
    }

    /// `.fill N, VALUE`: `N` copies of `VALUE`. The count is laid out in pass 1, as `.space`'s
    /// is; the value is a `.word` value, evaluated in pass 2.
    pub(super) fn fill_directive(
        &mut self,
        here: &Here,
        lx: &mut Lexer,
        col: u32,
    ) -> Result<(), AsmError> {
        let exprs = expr_list(here, lx)?;
        let at = exprs.get(2).map_or(lx.end_col(), |e| e.col);
        let got = exprs.len();
        let [count, value] = <[Expr; 2]>::try_from(exprs).map_err(|_| {
            here.err(
                at,
                format!("`.fill` takes a count and a value, not {got} values"),
                "write `.fill N, VALUE`: N copies of VALUE (`.space N` for zeros)",
            )
        })?;
        let n = self.layout_value(here, &count, ".fill", |v| {
            (
                format!("`.fill` count {v} is out of range"),
                format!("fill from 0 to {MAX_WORDS} words"),
            )
        })?;
        self.emit(here, col, n, ItemKind::Fill(n, value))
    }

    /// `.org ADDRESS`: the next word goes at `ADDRESS`.
    pub(super) fn org(&mut self, here: &Here, lx: &mut Lexer) -> Result<(), AsmError> {
        let (target, col) = self.layout_arg(here, lx, ".org", |v| {
            (
                format!("`.org` address {v} is out of range"),
                format!("addresses run from 0 to {MAX_WORDS} (the largest memory)"),
            )
        })?;
        self.set_origin(here, col, target)
    }

    /// `.base EXPR`: from here on, labels and `$` are the address minus `EXPR`, so that code
    /// assembled at one physical address can name its words as a relocated program sees them.
    pub(super) fn base_directive(&mut self, here: &Here, lx: &mut Lexer) -> Result<(), AsmError> {
        let (base, _) = self.layout_arg(here, lx, ".base", |v| {
            (
                format!("`.base` {v} is out of range"),
                format!("a base is a physical address, from 0 to {MAX_WORDS}; `.base 0` ends it"),
            )
        })?;
        self.base = base;
        Ok(())
    }

    /// `.equ NAME, VALUE`.
    pub(super) fn equ(&mut self, here: &Here, lx: &mut Lexer) -> Result<(), AsmError> {
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
        let e = expr(here, lx)?;
        end(here, lx)?;
        self.define_equ(here, name, ncol, e)
    }

    /// The one argument of `.org`, `.base` or `.space`, with its column. It decides addresses,
    /// so pass 1 needs its value now, and it must be in `0..=MAX_WORDS`; `out_of_range` gives
    /// the message and hint for a value that is not.
    fn layout_arg(
        &self,
        here: &Here,
        lx: &mut Lexer,
        what: &str,
        out_of_range: impl FnOnce(i128) -> (String, String),
    ) -> Result<(u64, u32), AsmError> {
        let e = expr(here, lx)?;
        end(here, lx)?;
        Ok((self.layout_value(here, &e, what, out_of_range)?, e.col))
    }

    /// The value of a layout expression (see [`Asm::layout_arg`]), known now and in
    /// `0..=MAX_WORDS`.
    fn layout_value(
        &self,
        here: &Here,
        e: &Expr,
        what: &str,
        out_of_range: impl FnOnce(i128) -> (String, String),
    ) -> Result<u64, AsmError> {
        let v = self.eval_now(here, e, what)?;
        u64::try_from(v)
            .ok()
            .filter(|&n| n <= MAX_WORDS)
            .ok_or_else(|| {
                let (message, hint) = out_of_range(v);
                here.err(e.col, message, hint)
            })
    }
}
