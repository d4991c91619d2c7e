//! The argument syntax that statements share: a comma, the end of the line, a list of
//! expressions, a string. Each turns what it did not find into an error that says what was.

use super::error::{AsmError, Here};
use super::expr::Expr;
use super::lex::{Lexer, Punct, Tok, Token};

/// Requires the end of the line.
pub(super) fn end(here: &Here, lx: &mut Lexer) -> Result<(), AsmError> {
    match lx.next().map_err(|e| here.lex(e))? {
        None => Ok(()),
        Some(t) => Err(here.err(
            t.col,
            format!("expected the end of the line, found {}", t.tok.describe()),
            "separate operands with `,`; comments start with `;`",
        )),
    }
}

/// Requires a `,`; `usage` is the hint if it is missing.
pub(super) fn comma(here: &Here, lx: &mut Lexer, usage: &str) -> Result<(), AsmError> {
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

/// One expression.
pub(super) fn expr(here: &Here, lx: &mut Lexer) -> Result<Expr, AsmError> {
    Expr::parse(lx).map_err(|e| here.lex(e))
}

/// A possibly empty comma-separated list of expressions up to the end of the line.
pub(super) fn expr_list(here: &Here, lx: &mut Lexer) -> Result<Vec<Expr>, AsmError> {
    let mut out = Vec::new();
    if lx.peek().map_err(|e| here.lex(e))?.is_none() {
        return Ok(out);
    }
    loop {
        out.push(expr(here, lx)?);
        if !lx.eat(Punct::Comma).map_err(|e| here.lex(e))? {
            break;
        }
    }
    end(here, lx)?;
    Ok(out)
}

/// A string argument of the directive `what`, with its column.
pub(super) fn string_arg(
    here: &Here,
    lx: &mut Lexer,
    what: &str,
) -> Result<(String, u32), AsmError> {
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
