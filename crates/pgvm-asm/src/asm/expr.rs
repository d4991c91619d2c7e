//! Expressions: parsing with C-like precedence and evaluation in checked 128-bit arithmetic.
//!
//! Evaluation is in `i128` so that every 64-bit word, signed or unsigned, and every
//! intermediate result of ordinary address arithmetic is exact; anything that would overflow
//! even that is an error rather than a silently wrong operand.

use super::lex::{LexError, Lexer, Punct, Tok};

/// How deeply expressions may nest (parentheses, unary operators, operators of different
/// precedence inside one another). Parsing and evaluation are recursive, so unbounded nesting
/// from hostile input would overflow the stack. A run of operators of one precedence
/// (`1 + 2 - 3 + ...`) is one level however long it is: it is kept flat and folded in a loop.
pub(crate) const MAX_DEPTH: u32 = 200;

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Mul,
    Div,
    Rem,
    Add,
    Sub,
    Shl,
    Shr,
    And,
    Xor,
    Or,
}

impl BinOp {
    /// The operator for a token, with its precedence (higher binds tighter).
    fn of(p: Punct) -> Option<(BinOp, u8)> {
        Some(match p {
            Punct::Star => (BinOp::Mul, 6),
            Punct::Slash => (BinOp::Div, 6),
            Punct::Percent => (BinOp::Rem, 6),
            Punct::Plus => (BinOp::Add, 5),
            Punct::Minus => (BinOp::Sub, 5),
            Punct::Shl => (BinOp::Shl, 4),
            Punct::Shr => (BinOp::Shr, 4),
            Punct::Amp => (BinOp::And, 3),
            Punct::Caret => (BinOp::Xor, 2),
            Punct::Pipe => (BinOp::Or, 1),
            _ => return None,
        })
    }
}

/// An expression node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExprKind {
    Num(i128),
    Sym(String),
    Dollar,
    Neg(Box<Expr>),
    Not(Box<Expr>),
    /// A run of left-associative operators of one precedence, `first op1 e1 op2 e2 ...`,
    /// with each operator's column. Kept flat so that its length costs no depth.
    Chain(Box<Expr>, Vec<(BinOp, u32, Expr)>),
}

/// An expression with the column where it (or, for a binary node, its operator) starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Expr {
    pub(crate) kind: ExprKind,
    pub(crate) col: u32,
    /// Height of the tree, bounded by [`MAX_DEPTH`].
    depth: u32,
}

/// Why an expression has no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EvalError {
    /// A symbol that is not (yet) defined, at its column.
    Undefined(String, u32),
    /// Any other failure: column, message, hint.
    Other(u32, String, String),
}

fn too_deep(col: u32) -> LexError {
    LexError::new(
        col,
        "expression nested too deeply",
        format!("expressions may nest at most {MAX_DEPTH} levels; split it with .equ"),
    )
}

impl Expr {
    /// A literal, for defaults the source leaves out.
    pub(crate) fn number(n: i128, col: u32) -> Expr {
        Expr::leaf(ExprKind::Num(n), col)
    }

    fn leaf(kind: ExprKind, col: u32) -> Expr {
        Expr {
            kind,
            col,
            depth: 1,
        }
    }

    /// A node over children of the given heights, refused when the tree gets too tall.
    fn node(kind: ExprKind, col: u32, child_depth: u32) -> Result<Expr, LexError> {
        let depth = child_depth + 1;
        if depth > MAX_DEPTH {
            return Err(too_deep(col));
        }
        Ok(Expr { kind, col, depth })
    }

    /// `first op1 e1 op2 e2 ...`, or `first` alone; `col` is the first operator's.
    fn chain(first: Expr, rest: Vec<(BinOp, u32, Expr)>) -> Result<Expr, LexError> {
        let Some(&(_, col, _)) = rest.first() else {
            return Ok(first);
        };
        let depth = rest
            .iter()
            .map(|(_, _, e)| e.depth)
            .fold(first.depth, u32::max);
        Expr::node(ExprKind::Chain(Box::new(first), rest), col, depth)
    }

    /// Parses an expression from the lexer.
    pub(crate) fn parse(lx: &mut Lexer) -> Result<Expr, LexError> {
        Parser { lx, nesting: 0 }.binary(0)
    }

    /// Evaluates with `lookup` for symbols and `dollar` for `$`.
    pub(crate) fn eval(
        &self,
        lookup: &dyn Fn(&str) -> Option<i128>,
        dollar: i128,
    ) -> Result<i128, EvalError> {
        match &self.kind {
            ExprKind::Num(n) => Ok(*n),
            ExprKind::Dollar => Ok(dollar),
            ExprKind::Sym(s) => lookup(s).ok_or_else(|| EvalError::Undefined(s.clone(), self.col)),
            ExprKind::Neg(e) => e
                .eval(lookup, dollar)?
                .checked_neg()
                .ok_or_else(|| overflow(self.col)),
            ExprKind::Not(e) => Ok(!e.eval(lookup, dollar)?),
            ExprKind::Chain(first, rest) => {
                let mut x = first.eval(lookup, dollar)?;
                for (op, col, e) in rest {
                    x = apply(*op, x, e.eval(lookup, dollar)?, *col)?;
                }
                Ok(x)
            }
        }
    }
}

fn overflow(col: u32) -> EvalError {
    EvalError::Other(
        col,
        "arithmetic overflow".to_string(),
        "expressions are computed in 128-bit signed arithmetic".to_string(),
    )
}

/// One binary operator, in checked arithmetic; `col` is the operator's, for errors.
fn apply(op: BinOp, x: i128, y: i128, col: u32) -> Result<i128, EvalError> {
    let shift = |y: i128| {
        u32::try_from(y).ok().filter(|&n| n < 128).ok_or_else(|| {
            EvalError::Other(
                col,
                format!("shift count {y} is out of range"),
                "shift by 0 to 127 bits".to_string(),
            )
        })
    };
    let zero = || {
        EvalError::Other(
            col,
            "division by zero".to_string(),
            "the divisor of / and % must not be 0".to_string(),
        )
    };
    match op {
        BinOp::Add => x.checked_add(y).ok_or_else(|| overflow(col)),
        BinOp::Sub => x.checked_sub(y).ok_or_else(|| overflow(col)),
        BinOp::Mul => x.checked_mul(y).ok_or_else(|| overflow(col)),
        BinOp::Div if y == 0 => Err(zero()),
        BinOp::Rem if y == 0 => Err(zero()),
        BinOp::Div => x.checked_div(y).ok_or_else(|| overflow(col)),
        BinOp::Rem => x.checked_rem(y).ok_or_else(|| overflow(col)),
        BinOp::Shl => {
            let n = shift(y)?;
            let r = x << n;
            if r >> n == x {
                Ok(r)
            } else {
                Err(overflow(col))
            }
        }
        BinOp::Shr => Ok(x >> shift(y)?),
        BinOp::And => Ok(x & y),
        BinOp::Xor => Ok(x ^ y),
        BinOp::Or => Ok(x | y),
    }
}

struct Parser<'a> {
    lx: &'a mut Lexer,
    /// Current recursion depth of `unary`, bounded so hostile input cannot overflow the stack.
    nesting: u32,
}

impl Parser<'_> {
    /// Precedence climbing. The operators this loop sees never bind tighter than the one
    /// before (the recursive call took those), so a run of one precedence collects into one
    /// flat [`ExprKind::Chain`], and a looser operator closes the run and starts another with
    /// it as its first operand.
    fn binary(&mut self, min_prec: u8) -> Result<Expr, LexError> {
        let mut first = self.unary()?;
        let mut rest = Vec::new();
        let mut run_prec = None;
        while let Some((op, prec, col)) = self.operator(min_prec)? {
            self.lx.next()?;
            let rhs = self.binary(prec)?;
            if run_prec.is_some_and(|p| p != prec) {
                first = Expr::chain(first, std::mem::take(&mut rest))?;
            }
            run_prec = Some(prec);
            rest.push((op, col, rhs));
        }
        Expr::chain(first, rest)
    }

    /// The binary operator ahead, if it binds tighter than `min_prec`.
    fn operator(&mut self, min_prec: u8) -> Result<Option<(BinOp, u8, u32)>, LexError> {
        Ok(match self.lx.peek()? {
            Some(t) => match &t.tok {
                Tok::Punct(p) => BinOp::of(*p)
                    .filter(|&(_, prec)| prec > min_prec)
                    .map(|(op, prec)| (op, prec, t.col)),
                _ => None,
            },
            None => None,
        })
    }

    fn unary(&mut self) -> Result<Expr, LexError> {
        let end = self.lx.end_col();
        let Some(t) = self.lx.next()? else {
            return Err(LexError::new(
                end,
                "expected an expression",
                "write a number, a symbol, `$` or a parenthesized expression",
            ));
        };
        self.nesting += 1;
        if self.nesting > MAX_DEPTH {
            return Err(too_deep(t.col));
        }
        let result = match t.tok {
            Tok::Num(n) => Ok(Expr::leaf(ExprKind::Num(n), t.col)),
            Tok::Ident(s) => Ok(Expr::leaf(ExprKind::Sym(s), t.col)),
            Tok::Punct(Punct::Dollar) => Ok(Expr::leaf(ExprKind::Dollar, t.col)),
            Tok::Punct(Punct::Minus) => {
                let e = self.unary()?;
                let depth = e.depth;
                Expr::node(ExprKind::Neg(Box::new(e)), t.col, depth)
            }
            Tok::Punct(Punct::Plus) => self.unary(),
            Tok::Punct(Punct::Tilde) => {
                let e = self.unary()?;
                let depth = e.depth;
                Expr::node(ExprKind::Not(Box::new(e)), t.col, depth)
            }
            Tok::Punct(Punct::LParen) => {
                let e = self.binary(0)?;
                if !self.lx.eat(Punct::RParen)? {
                    let (col, found) = match self.lx.peek()? {
                        Some(n) => (n.col, n.tok.describe()),
                        None => (self.lx.end_col(), "the end of the line".to_string()),
                    };
                    return Err(LexError::new(
                        col,
                        format!("expected `)`, found {found}"),
                        format!("close the parenthesis opened at column {}", t.col),
                    ));
                }
                Ok(e)
            }
            other => Err(LexError::new(
                t.col,
                format!("expected an expression, found {}", other.describe()),
                "write a number, a symbol, `$` or a parenthesized expression",
            )),
        };
        self.nesting -= 1;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(src: &str) -> Result<i128, String> {
        let mut lx = Lexer::new(src);
        let e = Expr::parse(&mut lx).map_err(|e| e.message)?;
        if let Ok(Some(t)) = lx.peek() {
            return Err(format!("trailing {:?}", t.tok));
        }
        let lookup = |s: &str| (s == "x").then_some(10);
        e.eval(&lookup, 100).map_err(|e| format!("{e:?}"))
    }

    #[test]
    fn precedence_is_c_like() {
        assert_eq!(eval("1 + 2 * 3"), Ok(7));
        assert_eq!(eval("(1 + 2) * 3"), Ok(9));
        assert_eq!(eval("1 << 2 + 1"), Ok(8));
        assert_eq!(eval("6 & 3 | 8"), Ok(10));
        assert_eq!(eval("1 | 2 ^ 3"), Ok(1));
        assert_eq!(eval("2 ^ 7 & 3"), Ok(1));
        assert_eq!(eval("10 - 3 - 2"), Ok(5));
        assert_eq!(eval("-x + $"), Ok(90));
        assert_eq!(eval("~0"), Ok(-1));
        assert_eq!(eval("-7 / 2"), Ok(-3));
        assert_eq!(eval("-7 % 2"), Ok(-1));
        assert_eq!(eval("-8 >> 1"), Ok(-4));
        assert_eq!(eval("'A' + 1"), Ok(66));
        assert_eq!(eval("+5"), Ok(5));
    }

    #[test]
    fn errors_are_values() {
        assert!(eval("1 / 0").is_err());
        assert!(eval("1 % (2 - 2)").is_err());
        assert!(eval("1 << 128").is_err());
        assert!(eval("1 << -1").is_err());
        assert!(eval("1 << 127").is_err());
        assert!(eval("0x7fffffffffffffffffffffffffffffff + 1").is_err());
        assert!(eval("y").is_err());
        assert!(eval("(1").is_err());
        assert!(eval("1 +").is_err());
        assert!(eval(",").is_err());
    }

    #[test]
    fn deep_nesting_is_refused_not_a_crash() {
        let deep = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(eval(&deep).is_err());
        let nested_sums = format!("{}1{}", "(1 + ".repeat(10_000), ")".repeat(10_000));
        assert!(eval(&nested_sums).is_err());
        let neg = format!("{}1", "-".repeat(10_000));
        assert!(eval(&neg).is_err());
        let ok = vec!["1"; 100].join("+");
        assert_eq!(eval(&ok), Ok(100));
    }

    #[test]
    fn a_flat_chain_is_one_level_however_long() {
        // 10,000 terms: far more than MAX_DEPTH, and evaluated in a loop.
        let long = vec!["1"; 10_000].join(" + ");
        assert_eq!(eval(&long), Ok(10_000));
        let mixed = vec!["3 - 1"; 5_000].join(" + ");
        assert_eq!(eval(&mixed), Ok(10_000));
        let products = vec!["2 * 3"; 5_000].join(" - ");
        assert_eq!(eval(&products), Ok(6 - 6 * 4_999));
        // Left to right within a run, and precedence across runs.
        assert_eq!(eval("100 - 10 - 1"), Ok(89));
        assert_eq!(eval("1 + 2 * 3 * 4 + 5 | 64"), Ok(94));
        assert_eq!(eval("2 * 3 + 4 * 5 << 1"), Ok(52));
        // Errors still point at the operator that failed.
        assert_eq!(
            eval("1 + 2 / 0 + 3"),
            Err(r#"Other(7, "division by zero", "the divisor of / and % must not be 0")"#.into())
        );
    }
}
