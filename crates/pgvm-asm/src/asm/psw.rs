//! PSW-valued statements: `.psw`, a PSW as a data word, and `.entry`, the PSW the program
//! starts with. Both are written `MODE, P, L, B` (`.entry` also takes a bare address, and may
//! omit `B`), and both are checked against the PSW's register widths in pass 2. Without an
//! `.entry`, a label `start` is the entry point.

use pgvm_isa::Mode;
use pgvm_machine::{Psw, REG_MAX};

use super::args::{comma, end, expr};
use super::error::{AsmError, Here};
use super::expr::{Expr, ExprKind};
use super::lex::{Lexer, Punct};
use super::{Asm, ItemKind};
use crate::image::Entry;

/// A PSW written as `MODE, P, L[, B]`.
pub(super) struct PswSpec {
    mode: Mode,
    p: Expr,
    l: Expr,
    b: Option<Expr>,
}

/// The `.entry` statement.
pub(super) struct EntrySpec {
    spec: PswSpec,
    here: Here,
    col: u32,
    dollar: i128,
}

impl Asm<'_> {
    /// `.psw MODE, P, L, B`: a PSW as a data word.
    pub(super) fn psw_directive(
        &mut self,
        here: &Here,
        lx: &mut Lexer,
        col: u32,
    ) -> Result<(), AsmError> {
        let spec = psw_spec(here, lx, col, true)?;
        self.emit(here, col, 1, ItemKind::Psw(spec))
    }

    /// `.entry ADDRESS` (supervisor mode, `l` 0) or `.entry MODE, P, L[, B]`; at most one.
    pub(super) fn entry_directive(
        &mut self,
        here: &Here,
        lx: &mut Lexer,
        col: u32,
    ) -> Result<(), AsmError> {
        if let Some(first) = &self.entry {
            return Err(here.err(
                col,
                "duplicate `.entry`",
                format!(
                    "the entry point was already set at {}:{}:{}",
                    first.here.file, first.here.line, first.col
                ),
            ));
        }
        let first = expr(here, lx)?;
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
            here: here.clone(),
            col,
            dollar: self.dollar(),
        });
        Ok(())
    }

    /// Builds a PSW from its spec; `b` absent means 0 (only `.entry` may omit it, and there it
    /// is only range-checked here).
    pub(super) fn psw(
        &self,
        here: &Here,
        spec: &PswSpec,
        dollar: i128,
        what: &str,
    ) -> Result<Psw, AsmError> {
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

    /// The image's entry point (pass 2): the `.entry` PSW, or else the label `start`.
    pub(super) fn entry(&self) -> Result<Entry, AsmError> {
        if let Some(e) = &self.entry {
            let psw = self.psw(&e.here, &e.spec, e.dollar, "entry PSW")?;
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
    let first = expr(here, lx)?;
    let mode = mode_of(here, &first)?;
    comma(here, lx, "write `MODE, P, L, B`")?;
    psw_rest(here, lx, mode, need_b)
}

/// The `P, L[, B]` after a mode.
fn psw_rest(here: &Here, lx: &mut Lexer, mode: Mode, need_b: bool) -> Result<PswSpec, AsmError> {
    let usage = "write `MODE, P, L, B`";
    let p = expr(here, lx)?;
    comma(here, lx, usage)?;
    let l = expr(here, lx)?;
    let b = if need_b {
        comma(here, lx, usage)?;
        Some(expr(here, lx)?)
    } else if lx.eat(Punct::Comma).map_err(|e| here.lex(e))? {
        Some(expr(here, lx)?)
    } else {
        None
    };
    end(here, lx)?;
    Ok(PswSpec { mode, p, l, b })
}
