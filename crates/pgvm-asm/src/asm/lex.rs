//! The line lexer of the assembly language.
//!
//! Statements never span lines, so the lexer works on one line at a time and is lazy: the
//! statement parser pulls tokens one by one. Laziness matters for `.isa`, whose argument is a
//! profile name such as `ia32-vt` or `68k` that is not made of ordinary tokens.

/// A punctuation or operator token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Punct {
    Colon,
    Comma,
    LParen,
    RParen,
    Dollar,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Shl,
    Shr,
    Amp,
    Caret,
    Pipe,
    Tilde,
}

impl Punct {
    /// The token as written, for messages.
    pub(crate) fn text(self) -> &'static str {
        match self {
            Punct::Colon => ":",
            Punct::Comma => ",",
            Punct::LParen => "(",
            Punct::RParen => ")",
            Punct::Dollar => "$",
            Punct::Plus => "+",
            Punct::Minus => "-",
            Punct::Star => "*",
            Punct::Slash => "/",
            Punct::Percent => "%",
            Punct::Shl => "<<",
            Punct::Shr => ">>",
            Punct::Amp => "&",
            Punct::Caret => "^",
            Punct::Pipe => "|",
            Punct::Tilde => "~",
        }
    }
}

/// What a token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    /// A label, symbol, mnemonic or directive name.
    Ident(String),
    /// An integer or character literal, already evaluated.
    Num(i128),
    /// A string literal, escapes resolved.
    Str(String),
    /// Punctuation.
    Punct(Punct),
}

impl Tok {
    /// The token as a message names it.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Num(n) => format!("number {n}"),
            Tok::Str(_) => "a string".to_string(),
            Tok::Punct(p) => format!("`{}`", p.text()),
        }
    }
}

/// A token and the 1-based column where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) col: u32,
}

/// A lexical error: column, message, hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LexError {
    pub(crate) col: u32,
    pub(crate) message: String,
    pub(crate) hint: String,
}

impl LexError {
    pub(crate) fn new(col: u32, message: impl Into<String>, hint: impl Into<String>) -> Self {
        LexError {
            col,
            message: message.into(),
            hint: hint.into(),
        }
    }
}

/// Whether `c` may start an identifier.
pub(crate) fn ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == '.'
}

/// Whether `c` may continue an identifier.
pub(crate) fn ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

/// A lazy lexer over one line.
pub(crate) struct Lexer {
    chars: Vec<char>,
    pos: usize,
    peeked: Option<Token>,
}

impl Lexer {
    pub(crate) fn new(line: &str) -> Self {
        Lexer {
            chars: line.chars().collect(),
            pos: 0,
            peeked: None,
        }
    }

    /// The column of the end of the line (one past the last character before any comment),
    /// where "expected ..." errors point when the line ends too early.
    pub(crate) fn end_col(&self) -> u32 {
        let mut end = self.chars.len();
        let mut in_str: Option<char> = None;
        let mut i = 0;
        while i < self.chars.len() {
            let c = self.chars[i];
            match in_str {
                Some(_) if c == '\\' => i += 1,
                Some(q) if c == q => in_str = None,
                Some(_) => {}
                None if c == '"' || c == '\'' => in_str = Some(c),
                None if c == ';' => {
                    end = i;
                    break;
                }
                None => {}
            }
            i += 1;
        }
        while end > 0 && self.chars[end - 1].is_whitespace() {
            end -= 1;
        }
        col_of(end)
    }

    fn skip_space(&mut self) {
        while self.pos < self.chars.len() && self.chars[self.pos].is_whitespace() {
            self.pos += 1;
        }
        if self.pos < self.chars.len() && self.chars[self.pos] == ';' {
            self.pos = self.chars.len();
        }
    }

    /// If the next character (after blanks) is `c`, consumes it. Used to tell a label
    /// (`name:`) from a mnemonic without lexing what follows the name.
    pub(crate) fn eat_char(&mut self, c: char) -> bool {
        if self.peeked.is_some() {
            return false;
        }
        self.skip_space();
        if self.chars.get(self.pos) == Some(&c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Reads a profile name (letters, digits, `_`, `.` and `-`) or a string literal, for `.isa`.
    pub(crate) fn name_arg(&mut self) -> Result<Option<(String, u32)>, LexError> {
        if let Some(t) = self.peeked.take() {
            // Only reached if the caller peeked; a string or identifier is still a name.
            return Ok(match t.tok {
                Tok::Ident(s) | Tok::Str(s) => Some((s, t.col)),
                _ => {
                    self.peeked = Some(t);
                    None
                }
            });
        }
        self.skip_space();
        let start = self.pos;
        if self.chars.get(start) == Some(&'"') {
            return match self.next()? {
                Some(Token {
                    tok: Tok::Str(s),
                    col,
                }) => Ok(Some((s, col))),
                _ => Ok(None),
            };
        }
        while self.pos < self.chars.len() {
            let c = self.chars[self.pos];
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' {
                self.pos += 1;
            } else {
                break;
            }
        }
        if self.pos == start {
            return Ok(None);
        }
        Ok(Some((
            self.chars[start..self.pos].iter().collect(),
            col_of(start),
        )))
    }

    /// Looks at the next token without consuming it.
    pub(crate) fn peek(&mut self) -> Result<Option<&Token>, LexError> {
        if self.peeked.is_none() {
            self.peeked = self.lex()?;
        }
        Ok(self.peeked.as_ref())
    }

    /// Consumes the next token.
    #[allow(clippy::should_implement_trait)]
    pub(crate) fn next(&mut self) -> Result<Option<Token>, LexError> {
        match self.peeked.take() {
            Some(t) => Ok(Some(t)),
            None => self.lex(),
        }
    }

    /// Consumes the next token if it is the punctuation `p`.
    pub(crate) fn eat(&mut self, p: Punct) -> Result<bool, LexError> {
        if matches!(self.peek()?, Some(Token { tok: Tok::Punct(q), .. }) if *q == p) {
            self.peeked = None;
            return Ok(true);
        }
        Ok(false)
    }

    fn lex(&mut self) -> Result<Option<Token>, LexError> {
        self.skip_space();
        let start = self.pos;
        let Some(&c) = self.chars.get(start) else {
            return Ok(None);
        };
        let col = col_of(start);
        let tok = if ident_start(c) {
            while self.pos < self.chars.len() && ident_char(self.chars[self.pos]) {
                self.pos += 1;
            }
            Tok::Ident(self.chars[start..self.pos].iter().collect())
        } else if c.is_ascii_digit() {
            Tok::Num(self.number(col)?)
        } else if c == '\'' {
            Tok::Num(self.char_lit(col)?)
        } else if c == '"' {
            Tok::Str(self.string_lit(col)?)
        } else {
            let two: String = self.chars[start..(start + 2).min(self.chars.len())]
                .iter()
                .collect();
            let (p, len) = match (c, two.as_str()) {
                (_, "<<") => (Punct::Shl, 2),
                (_, ">>") => (Punct::Shr, 2),
                (':', _) => (Punct::Colon, 1),
                (',', _) => (Punct::Comma, 1),
                ('(', _) => (Punct::LParen, 1),
                (')', _) => (Punct::RParen, 1),
                ('$', _) => (Punct::Dollar, 1),
                ('+', _) => (Punct::Plus, 1),
                ('-', _) => (Punct::Minus, 1),
                ('*', _) => (Punct::Star, 1),
                ('/', _) => (Punct::Slash, 1),
                ('%', _) => (Punct::Percent, 1),
                ('&', _) => (Punct::Amp, 1),
                ('^', _) => (Punct::Caret, 1),
                ('|', _) => (Punct::Pipe, 1),
                ('~', _) => (Punct::Tilde, 1),
                _ => {
                    return Err(LexError::new(
                        col,
                        format!("unexpected character `{}`", c.escape_debug()),
                        "comments start with `;`; operators are + - * / % << >> & ^ | ~",
                    ));
                }
            };
            self.pos += len;
            Tok::Punct(p)
        };
        Ok(Some(Token { tok, col }))
    }

    fn number(&mut self, col: u32) -> Result<i128, LexError> {
        let start = self.pos;
        let rest = |i: usize| self.chars.get(start + i).copied();
        let (radix, skip) = match (rest(0), rest(1)) {
            (Some('0'), Some('x' | 'X')) => (16, 2),
            (Some('0'), Some('b' | 'B')) => (2, 2),
            _ => (10, 0),
        };
        self.pos += skip;
        let digits_start = self.pos;
        while self.pos < self.chars.len() && ident_char(self.chars[self.pos]) {
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        let malformed = || {
            LexError::new(
                col,
                format!("malformed number `{text}`"),
                "numbers are decimal (42), hexadecimal (0x2a) or binary (0b101010), with optional `_` separators",
            )
        };
        let mut value: u128 = 0;
        let mut any = false;
        for &d in &self.chars[digits_start..self.pos] {
            if d == '_' {
                continue;
            }
            let v = d.to_digit(radix).ok_or_else(malformed)?;
            any = true;
            value = value
                .checked_mul(u128::from(radix))
                .and_then(|x| x.checked_add(u128::from(v)))
                .ok_or_else(|| too_large(col, &text))?;
        }
        if !any {
            return Err(malformed());
        }
        i128::try_from(value).map_err(|_| too_large(col, &text))
    }

    /// Reads one character of a literal, resolving escapes. `quote` is the delimiter.
    fn literal_char(&mut self, col: u32, quote: char) -> Result<char, LexError> {
        let unterminated = || {
            LexError::new(
                col,
                if quote == '"' {
                    "unterminated string"
                } else {
                    "unterminated character literal"
                },
                format!("close it with {quote} on the same line"),
            )
        };
        let c = *self.chars.get(self.pos).ok_or_else(unterminated)?;
        self.pos += 1;
        if c != '\\' {
            return Ok(c);
        }
        let e = *self.chars.get(self.pos).ok_or_else(unterminated)?;
        let at = col_of(self.pos - 1);
        self.pos += 1;
        Ok(match e {
            'n' => '\n',
            't' => '\t',
            '\\' => '\\',
            '\'' => '\'',
            '"' => '"',
            '0' => '\0',
            _ => {
                return Err(LexError::new(
                    at,
                    format!("unknown escape `\\{}`", e.escape_debug()),
                    "escapes are \\n \\t \\\\ \\' \\\" and \\0",
                ));
            }
        })
    }

    fn char_lit(&mut self, col: u32) -> Result<i128, LexError> {
        self.pos += 1;
        if self.chars.get(self.pos) == Some(&'\'') {
            return Err(LexError::new(
                col,
                "empty character literal",
                "write one character between the quotes, such as 'a' or '\\n'",
            ));
        }
        let c = self.literal_char(col, '\'')?;
        if self.chars.get(self.pos) != Some(&'\'') {
            return Err(LexError::new(
                col,
                "character literal must hold exactly one character",
                "use a string with .string for several characters",
            ));
        }
        self.pos += 1;
        Ok(i128::from(u32::from(c)))
    }

    fn string_lit(&mut self, col: u32) -> Result<String, LexError> {
        self.pos += 1;
        let mut s = String::new();
        loop {
            if self.chars.get(self.pos) == Some(&'"') {
                self.pos += 1;
                return Ok(s);
            }
            s.push(self.literal_char(col, '"')?);
        }
    }
}

fn too_large(col: u32, text: &str) -> LexError {
    LexError::new(
        col,
        format!("number `{text}` is too large"),
        "values are computed in 128-bit signed arithmetic; a word holds at most 0xffff_ffff_ffff_ffff",
    )
}

/// A 0-based character index as a 1-based column, saturating on absurdly long lines.
pub(crate) fn col_of(index: usize) -> u32 {
    u32::try_from(index.saturating_add(1)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(line: &str) -> Vec<Tok> {
        let mut l = Lexer::new(line);
        let mut out = Vec::new();
        while let Ok(Some(t)) = l.next() {
            out.push(t.tok);
        }
        out
    }

    #[test]
    fn lexes_numbers_chars_and_operators() {
        assert_eq!(
            toks("0x1_0 0b101 42 'a' '\\n' << >> ; comment"),
            vec![
                Tok::Num(16),
                Tok::Num(5),
                Tok::Num(42),
                Tok::Num(97),
                Tok::Num(10),
                Tok::Punct(Punct::Shl),
                Tok::Punct(Punct::Shr),
            ]
        );
    }

    #[test]
    fn reports_bad_tokens_with_columns() {
        let mut l = Lexer::new("  12ab");
        assert_eq!(l.next().map_err(|e| e.col), Err(3));
        let mut l = Lexer::new("x @");
        assert!(l.next().is_ok());
        assert_eq!(l.next().map_err(|e| e.col), Err(3));
        let mut l = Lexer::new("\"abc");
        assert!(l.next().is_err());
        let mut l = Lexer::new("'ab'");
        assert!(l.next().is_err());
        let mut l = Lexer::new("0x");
        assert!(l.next().is_err());
        let mut l = Lexer::new("999999999999999999999999999999999999999999999");
        assert!(l.next().is_err());
    }

    #[test]
    fn end_col_ignores_comments_and_strings() {
        assert_eq!(Lexer::new("abc ; x").end_col(), 4);
        assert_eq!(Lexer::new("\"a;b\"  ").end_col(), 6);
    }
}
