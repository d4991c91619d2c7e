//! The symbol table: labels and `.equ` names, and evaluating expressions against it.
//!
//! Pass 1 knows only the symbols defined above the line, which is enough for what decides
//! addresses; an `.equ` that uses later symbols waits in `pending` until pass 1 ends. Pass 2
//! knows every symbol, so an undefined one there is a real error, with a suggestion.

use super::Asm;
use super::error::{AsmError, Here};
use super::expr::{EvalError, Expr};
use super::suggest::similar;
use pgvm_isa::Origin;

/// A symbol: a label or an `.equ` name. `value` is `None` while an `.equ` waits for symbols
/// defined further down.
pub(super) struct Symbol {
    pub(super) value: Option<i128>,
    pub(super) origin: Origin,
}

/// An `.equ` whose expression used symbols not yet defined in pass 1.
pub(super) struct PendingEqu {
    name: String,
    expr: Expr,
    dollar: i128,
    here: Here,
}

impl Asm<'_> {
    /// Defines the labels of a statement as `$`.
    pub(super) fn define_labels(
        &mut self,
        here: &Here,
        labels: &[(String, u32)],
    ) -> Result<(), AsmError> {
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
            self.listing.label(self.pc, name);
        }
        Ok(())
    }

    /// Defines `name` as the value of `e` now if it can be computed, or else once the symbols
    /// it waits for are defined.
    pub(super) fn define_equ(
        &mut self,
        here: &Here,
        name: String,
        col: u32,
        e: Expr,
    ) -> Result<(), AsmError> {
        match e.eval(&|s| self.lookup(s), self.dollar()) {
            Ok(v) => self.define(here, &name, col, Some(v)),
            Err(EvalError::Undefined(..)) => {
                self.define(here, &name, col, None)?;
                self.pending.push(PendingEqu {
                    name,
                    expr: e,
                    dollar: self.dollar(),
                    here: here.clone(),
                });
                Ok(())
            }
            Err(EvalError::Other(col, message, hint)) => Err(here.err(col, message, hint)),
        }
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
    pub(super) fn eval_now(&self, here: &Here, e: &Expr, what: &str) -> Result<i128, AsmError> {
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

    /// Evaluates in pass 2, when every symbol is known.
    pub(super) fn eval_late(&self, here: &Here, e: &Expr, dollar: i128) -> Result<i128, AsmError> {
        e.eval(&|s| self.lookup(s), dollar)
            .map_err(|err| match err {
                EvalError::Undefined(name, col) => self.undefined(here, &name, col),
                EvalError::Other(col, message, hint) => here.err(col, message, hint),
            })
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

    /// Gives the waiting `.equ`s their values, in as many rounds as their dependencies take.
    pub(super) fn resolve_pending(&mut self) -> Result<(), AsmError> {
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
                        return Err(p.here.err(col, message, hint));
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
        match pending.first() {
            Some(p) => self.unresolved(p),
            None => Ok(()),
        }
    }

    /// The error for an `.equ` that cannot be resolved.
    fn unresolved(&self, p: &PendingEqu) -> Result<(), AsmError> {
        let here = &p.here;
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
            Err(EvalError::Undefined(name, col)) => Err(self.undefined(here, &name, col)),
            Err(EvalError::Other(col, message, hint)) => Err(here.err(col, message, hint)),
            Ok(_) => Ok(()),
        }
    }
}
