//! Errors of the ISA language.

use crate::model::Origin;

/// Everything that can go wrong reading an ISA description.
#[derive(Debug, thiserror::Error)]
pub enum IsaError {
    /// A malformed or inconsistent description, located in its source.
    #[error("{origin}: {message}\n  hint: {hint}")]
    Source {
        /// Where.
        origin: Origin,
        /// What is wrong.
        message: String,
        /// What was expected, or how to fix it.
        hint: String,
    },
    /// A name that is neither a built-in profile nor a readable file.
    #[error(
        "Unknown ISA `{name}`; available: {available}\n  hint: name a built-in profile, or give the path of a .isa file (a name containing `/` or ending in `.isa`)"
    )]
    UnknownIsa {
        /// The name given.
        name: String,
        /// The built-in names, comma-separated.
        available: String,
    },
    /// A file that could not be read (missing, not a regular file, too large, not text).
    #[error(transparent)]
    Io(#[from] crate::read::ReadError),
}

impl IsaError {
    pub(crate) fn at(origin: Origin, message: impl Into<String>, hint: impl Into<String>) -> Self {
        IsaError::Source {
            origin,
            message: message.into(),
            hint: hint.into(),
        }
    }
}
