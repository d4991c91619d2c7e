//! The parser, which checks as it reads: names, types, encodings and profiles are all settled
//! in one pass, so every error points at the token that caused it.

use std::collections::HashMap;

use crate::error::IsaError;
use crate::lexer::{Tok, Token, lex};
use crate::model::{Features, Isa, Origin, Stmt};
use crate::visit::stmts;

mod body;
mod decl;

/// The type of an expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Word,
    Bool,
    Mode,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::Word => "word",
            Ty::Bool => "bool",
            Ty::Mode => "mode",
        }
    }
}

struct Parser<F> {
    toks: Vec<Token>,
    pos: usize,
    file: String,
    isa: Isa,
    /// The format of the instruction whose body is being read.
    format: Option<usize>,
    /// `let` names in scope, innermost last, with their slot and type.
    locals: Vec<(String, usize, Ty)>,
    next_slot: usize,
    /// How many levels deep the body being read is at the current token (see [`MAX_DEPTH`]).
    nest: usize,
    /// For a `redefine`: the replaced instruction's format, body and local count, which the
    /// statement `inherited;` splices in.
    inherited: Option<(usize, Vec<Stmt>, usize)>,
    /// Loads a parent profile by name, on behalf of `extends`.
    parent: F,
    /// Mnemonic to index in `isa.insns`, kept current as instructions are added, redefined
    /// and removed (the ISA's own index is built once, at the end).
    names: HashMap<String, usize>,
}

/// Parses and checks one description. `parent` resolves `extends`.
pub(crate) fn parse<F>(file: &str, src: &str, parent: F) -> Result<Isa, IsaError>
where
    F: FnMut(&str, &Origin) -> Result<Isa, IsaError>,
{
    let toks = lex(file, src)?;
    let mut p = Parser {
        toks,
        pos: 0,
        file: file.to_string(),
        isa: Isa {
            name: String::new(),
            description: String::new(),
            is_abstract: false,
            ancestors: Vec::new(),
            features: Features::default(),
            formats: Vec::new(),
            insns: Vec::new(),
            file: file.to_string(),
            index: Default::default(),
        },
        format: None,
        locals: Vec::new(),
        next_slot: 0,
        nest: 0,
        inherited: None,
        parent,
        names: HashMap::new(),
    };
    p.header()?;
    while p.peek() != &Tok::Eof {
        p.decl()?;
    }
    p.isa.reindex();
    p.check_encodings()?;
    p.check_vm_assist()?;
    Ok(p.isa)
}

type R<T> = Result<T, IsaError>;

/// Most stores, `out`s and `let`s in one body (the interpreter keeps them in fixed arrays).
pub const MAX_EFFECTS: usize = 16;

/// How deeply a body may nest. Each `if` (an `else if` too), each pair of parentheses, each
/// memory access `E[...]`/`A[...]`, each call (`bit`, `lts`, `les`, `sar`), each unary operator
/// and each binary operator counts one level over what it contains; a chain `a + b + c` is
/// `(a + b) + c`, two levels. The parser refuses a deeper body before reading further, so it
/// and every later recursive walk of a body (the interpreter, the proofs, the documentation)
/// use a bounded stack. The built-in profiles stay well below (a test checks).
pub const MAX_DEPTH: usize = 64;

/// Stores and `out`s written in a body, counting both arms of every `if`.
fn count_effects(body: &[Stmt]) -> (usize, usize) {
    stmts(body).fold((0, 0), |(s, o), st| match st {
        Stmt::Store { .. } => (s + 1, o),
        Stmt::Out(_) => (s, o + 1),
        _ => (s, o),
    })
}

impl<F> Parser<F>
where
    F: FnMut(&str, &Origin) -> Result<Isa, IsaError>,
{
    // ---- token helpers -------------------------------------------------------------------

    fn peek(&self) -> &Tok {
        &self.toks[self.pos].tok
    }

    fn peek2(&self) -> &Tok {
        &self.toks[(self.pos + 1).min(self.toks.len() - 1)].tok
    }

    fn origin(&self) -> Origin {
        let t = &self.toks[self.pos];
        Origin {
            file: self.file.clone(),
            line: t.line,
            col: t.col,
        }
    }

    fn bump(&mut self) -> Tok {
        let t = self.toks[self.pos].tok.clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    fn err<T>(&self, message: impl Into<String>, hint: impl Into<String>) -> R<T> {
        Err(IsaError::at(self.origin(), message, hint))
    }

    fn unexpected<T>(&self, expected: &str) -> R<T> {
        self.err(
            format!("expected {expected}, found {}", self.peek().describe()),
            format!("write {expected} here"),
        )
    }

    fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Tok::Punct(q) if *q == p)
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s == w)
    }

    fn eat_punct(&mut self, p: &str) -> bool {
        if self.is_punct(p) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn eat_word(&mut self, w: &str) -> bool {
        if self.is_word(w) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn expect_punct(&mut self, p: &str) -> R<()> {
        if self.eat_punct(p) {
            Ok(())
        } else {
            self.unexpected(&format!("`{p}`"))
        }
    }

    fn ident(&mut self, what: &str) -> R<String> {
        match self.peek() {
            Tok::Ident(s) => {
                let s = s.clone();
                self.bump();
                Ok(s)
            }
            _ => self.unexpected(what),
        }
    }

    fn number(&mut self, what: &str) -> R<u64> {
        match self.peek() {
            Tok::Num(n) => {
                let n = *n;
                self.bump();
                Ok(n)
            }
            _ => self.unexpected(what),
        }
    }

    fn string(&mut self, what: &str, hint: &str) -> R<String> {
        match self.peek() {
            Tok::Str(s) => {
                let s = s.clone();
                self.bump();
                Ok(s)
            }
            _ => self.err(
                format!("expected {what}, found {}", self.peek().describe()),
                hint,
            ),
        }
    }

    /// A profile name: identifiers and numbers joined by `-` (`ia32-vt`).
    fn profile_name(&mut self) -> R<String> {
        let mut name = self.ident("a profile name")?;
        while self.is_punct("-") && matches!(self.peek2(), Tok::Ident(_) | Tok::Num(_)) {
            self.bump();
            match self.bump() {
                Tok::Ident(s) => name.push_str(&format!("-{s}")),
                Tok::Num(n) => name.push_str(&format!("-{n}")),
                _ => {}
            }
        }
        Ok(name)
    }
}
