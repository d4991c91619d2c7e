//! Instructions. Pass 1 checks the mnemonic against the ISA and counts the operands, so that
//! the layout is right and the errors come early; pass 2 evaluates the operands and encodes
//! the word, turning the ISA's encoding errors into ones that point at the operand.

use pgvm_isa::{EncodeError, InsnId};

use super::args::expr_list;
use super::error::{AsmError, Here};
use super::expr::Expr;
use super::lex::Lexer;
use super::suggest::similar;
use super::{Asm, ItemKind};

impl Asm<'_> {
    /// Pass 1 of an instruction `name operands`.
    pub(super) fn instruction(
        &mut self,
        here: &Here,
        lx: &mut Lexer,
        name: &str,
        col: u32,
    ) -> Result<(), AsmError> {
        let Some(id) = self.isa.insn(name) else {
            return Err(self.unknown_mnemonic(here, name, col));
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

    fn unknown_mnemonic(&self, here: &Here, name: &str, col: u32) -> AsmError {
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
        here.err(
            col,
            format!("unknown mnemonic `{name}` in ISA {}", self.isa.name),
            hint,
        )
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

    /// Pass 2 of an instruction: its word.
    pub(super) fn encode(
        &self,
        here: &Here,
        id: InsnId,
        col: u32,
        operands: &[Expr],
        dollar: i128,
    ) -> Result<u64, AsmError> {
        let values = operands
            .iter()
            .map(|e| self.eval_late(here, e, dollar))
            .collect::<Result<Vec<_>, _>>()?;
        self.isa
            .encode(id, &values)
            .map_err(|e| self.encode_error(here, id, col, operands, e))
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
}
