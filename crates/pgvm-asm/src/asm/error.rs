//! The assembler's error type, and [`Here`], the place a statement came from, which every
//! check uses to point its error at `file:line:col`.

use std::rc::Rc;

use pgvm_isa::Origin;

use super::lex::LexError;

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
    #[error(transparent)]
    Io(#[from] pgvm_isa::ReadError),
}

impl AsmError {
    pub(super) fn at(
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

/// Where a statement is, for building errors.
#[derive(Clone)]
pub(super) struct Here {
    pub(super) file: Rc<str>,
    pub(super) line: u32,
}

impl Here {
    pub(super) fn err(
        &self,
        col: u32,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> AsmError {
        AsmError::at(&self.file, self.line, col, message, hint)
    }

    pub(super) fn lex(&self, e: LexError) -> AsmError {
        self.err(e.col, e.message, e.hint)
    }

    pub(super) fn origin(&self, col: u32) -> Origin {
        Origin {
            file: self.file.to_string(),
            line: self.line,
            col,
        }
    }
}
