//! Tokens of the ISA language, each with its position.

use crate::error::IsaError;
use crate::model::Origin;

/// A token kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    Ident(String),
    Num(u64),
    Str(String),
    /// Punctuation and operators, as their source text.
    Punct(&'static str),
    Eof,
}

impl Tok {
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Num(n) => format!("number {n}"),
            Tok::Str(_) => "a string".to_string(),
            Tok::Punct(p) => format!("`{p}`"),
            Tok::Eof => "end of file".to_string(),
        }
    }
}

/// A token and where it starts.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    pub line: u32,
    pub col: u32,
}

/// Longest first, so that `<<` wins over `<`.
const PUNCT: [&str; 33] = [
    "..", "==", "!=", "<=", ">=", "<<", ">>", "&&", "||", "{", "}", "(", ")", "[", "]", ",", ";",
    ".", "=", "<", ">", "+", "-", "*", "/", "%", "&", "|", "^", "~", "!", ":", "#",
];

pub(crate) fn lex(file: &str, src: &str) -> Result<Vec<Token>, IsaError> {
    let mut out = Vec::new();
    let chars: Vec<char> = src.chars().collect();
    let (mut i, mut line, mut col) = (0usize, 1u32, 1u32);
    let err = |line, col, msg: String, hint: &str| {
        IsaError::at(
            Origin {
                file: file.to_string(),
                line,
                col,
            },
            msg,
            hint,
        )
    };
    while i < chars.len() {
        let c = chars[i];
        let (tl, tc) = (line, col);
        let advance = |i: &mut usize, line: &mut u32, col: &mut u32, n: usize| {
            for _ in 0..n {
                if chars.get(*i) == Some(&'\n') {
                    *line += 1;
                    *col = 1;
                } else {
                    *col += 1;
                }
                *i += 1;
            }
        };
        if c.is_whitespace() {
            advance(&mut i, &mut line, &mut col, 1);
        } else if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                advance(&mut i, &mut line, &mut col, 1);
            }
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                advance(&mut i, &mut line, &mut col, 1);
            }
            out.push(Token {
                tok: Tok::Ident(chars[start..i].iter().collect()),
                line: tl,
                col: tc,
            });
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                advance(&mut i, &mut line, &mut col, 1);
            }
            let text: String = chars[start..i].iter().filter(|&&c| c != '_').collect();
            let parsed = if let Some(h) = text.strip_prefix("0x") {
                u64::from_str_radix(h, 16)
            } else if let Some(b) = text.strip_prefix("0b") {
                u64::from_str_radix(b, 2)
            } else {
                text.parse::<u64>()
            };
            let n = parsed.map_err(|_| {
                err(
                    tl,
                    tc,
                    format!("malformed number `{text}`"),
                    "numbers are decimal, 0x hexadecimal or 0b binary, and fit in 64 bits",
                )
            })?;
            out.push(Token {
                tok: Tok::Num(n),
                line: tl,
                col: tc,
            });
        } else if c == '"' {
            advance(&mut i, &mut line, &mut col, 1);
            let start = i;
            while i < chars.len() && chars[i] != '"' && chars[i] != '\n' {
                advance(&mut i, &mut line, &mut col, 1);
            }
            if chars.get(i) != Some(&'"') {
                return Err(err(
                    tl,
                    tc,
                    "unterminated string".into(),
                    "close the string with `\"` on the same line",
                ));
            }
            let s: String = chars[start..i].iter().collect();
            advance(&mut i, &mut line, &mut col, 1);
            out.push(Token {
                tok: Tok::Str(s),
                line: tl,
                col: tc,
            });
        } else {
            let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
            let Some(p) = PUNCT.iter().find(|p| rest.starts_with(**p)) else {
                return Err(err(
                    tl,
                    tc,
                    format!("unexpected character `{c}`"),
                    "expected a name, a number, a string or an operator",
                ));
            };
            advance(&mut i, &mut line, &mut col, p.len());
            out.push(Token {
                tok: Tok::Punct(p),
                line: tl,
                col: tc,
            });
        }
    }
    out.push(Token {
        tok: Tok::Eof,
        line,
        col,
    });
    Ok(out)
}
