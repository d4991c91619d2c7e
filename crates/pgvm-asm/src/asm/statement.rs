//! The shape of a statement: any number of `label:`s, then one mnemonic or directive with its
//! arguments. This module splits a line into those parts, defines the labels at the right
//! moment, and hands the rest to the directive or instruction that owns it.

use std::path::Path;

use super::Asm;
use super::args::{end, string_arg};
use super::error::{AsmError, Here};
use super::lex::{Lexer, Tok};
use super::suggest::similar;

/// The directives, for "unknown directive" hints.
const DIRECTIVES: &[&str] = &[
    ".isa", ".entry", ".org", ".base", ".word", ".equ", ".include", ".string", ".stringz",
    ".space", ".fill", ".psw",
];

/// A name written on a line, with its column.
type Named = (String, u32);

impl Asm<'_> {
    /// Pass 1 over one line.
    pub(super) fn statement(
        &mut self,
        here: &Here,
        text: &str,
        dir: &Path,
    ) -> Result<(), AsmError> {
        let mut lx = Lexer::new(text);
        let (labels, head) = labels_and_head(here, &mut lx)?;
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
        self.directive_or_insn(here, &mut lx, &name, col, dir)
    }

    /// The statement after its labels, other than `.org` and `.base`.
    fn directive_or_insn(
        &mut self,
        here: &Here,
        lx: &mut Lexer,
        name: &str,
        col: u32,
        dir: &Path,
    ) -> Result<(), AsmError> {
        match name {
            ".isa" => self.isa_directive(here, lx, dir),
            ".entry" => self.entry_directive(here, lx, col),
            ".word" => self.word_directive(here, lx, col),
            ".equ" => self.equ(here, lx),
            ".include" => {
                let (path, pcol) = string_arg(here, lx, ".include")?;
                end(here, lx)?;
                self.include(here, pcol, &path, dir)
            }
            ".string" | ".stringz" => self.string_directive(here, lx, name, col),
            ".space" => self.space_directive(here, lx, col),
            ".fill" => self.fill_directive(here, lx, col),
            ".psw" => self.psw_directive(here, lx, col),
            _ if name.starts_with('.') => Err(here.err(
                col,
                format!("unknown directive `{name}`"),
                match similar(name, DIRECTIVES.iter().copied()) {
                    s if !s.is_empty() => format!("did you mean {s}?"),
                    _ => format!("the directives are {}", DIRECTIVES.join(" ")),
                },
            )),
            _ => self.instruction(here, lx, name, col),
        }
    }
}

/// The `label:`s that start a line, and the mnemonic or directive after them, if any.
fn labels_and_head(here: &Here, lx: &mut Lexer) -> Result<(Vec<Named>, Option<Named>), AsmError> {
    let mut labels = Vec::new();
    loop {
        let Some(t) = lx.next().map_err(|e| here.lex(e))? else {
            return Ok((labels, None));
        };
        match t.tok {
            Tok::Ident(name) => {
                if lx.eat_char(':') {
                    labels.push((name, t.col));
                    continue;
                }
                return Ok((labels, Some((name, t.col))));
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
    }
}
