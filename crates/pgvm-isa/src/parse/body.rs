//! Instruction bodies: statements and expressions, type-checked as they are read.

use crate::error::IsaError;
use crate::lexer::Tok;
use crate::model::{
    BinOp, Expr, Isa, MODE_SUPER, MODE_USER, Origin, Reg, Space, Stmt, TrapCause, UnOp,
};

use crate::visit::{NodeMut, depth, walk_mut};

use super::{MAX_DEPTH, Parser, R, Ty};

impl<F> Parser<F>
where
    F: FnMut(&str, &Origin) -> Result<Isa, IsaError>,
{
    pub(super) fn block(&mut self) -> R<Vec<Stmt>> {
        self.expect_punct("{")?;
        let depth = self.locals.len();
        let mut out = Vec::new();
        while !self.is_punct("}") {
            if self.peek() == &Tok::Eof {
                return self.unexpected("`}` to close the block");
            }
            if self.is_word("inherited") {
                let o = self.origin();
                self.bump();
                self.expect_punct(";")?;
                out.extend(self.inherited_body(&o)?);
                continue;
            }
            // `if` is read here rather than in `stmt`, whose frame is large, so that nested
            // blocks cost little stack per level.
            if self.eat_word("if") {
                out.push(self.if_rest()?);
                continue;
            }
            out.push(self.stmt()?);
        }
        self.bump();
        self.locals.truncate(depth);
        Ok(out)
    }

    fn typed(&mut self, want: Ty, hint: &str) -> R<Expr> {
        Ok(self.typed_depth(want, hint)?.0)
    }

    fn typed_depth(&mut self, want: Ty, hint: &str) -> R<(Expr, usize)> {
        let o = self.origin();
        let (e, t, d) = self.expr()?;
        if t != want {
            return Err(IsaError::at(
                o,
                format!(
                    "type mismatch: expected {}, found {}",
                    want.name(),
                    t.name()
                ),
                hint,
            ));
        }
        Ok((e, d))
    }

    fn need_feature(&self, o: &Origin, has: bool, what: &str, feature: &str) -> R<()> {
        if has {
            Ok(())
        } else {
            Err(IsaError::at(
                o.clone(),
                format!("{what} needs the `{feature}` feature"),
                format!("declare `feature {feature};` in the profile"),
            ))
        }
    }

    fn stmt(&mut self) -> R<Stmt> {
        let o = self.origin();
        let word = match self.peek() {
            Tok::Ident(w) => w.clone(),
            _ => return self.unexpected("a statement"),
        };
        let s = match word.as_str() {
            "let" => {
                self.bump();
                let no = self.origin();
                let name = self.ident("a local name")?;
                if self.is_reserved(&name) || self.field_index(&name).is_some() {
                    return Err(IsaError::at(
                        no,
                        format!("`{name}` is already a field or built-in name"),
                        "pick another name for the local",
                    ));
                }
                self.expect_punct("=")?;
                let (v, t, _) = self.expr()?;
                let slot = self.next_slot;
                self.next_slot += 1;
                self.locals.push((name, slot, t));
                Stmt::Let(slot, v)
            }
            "trap" => {
                self.bump();
                Stmt::Trap(TrapCause::Instruction)
            }
            "halt" => {
                self.bump();
                Stmt::Halt
            }
            "out" | "timer" => {
                self.bump();
                if word == "out" {
                    self.need_feature(&o, self.isa.features.console, "`out`", "console")?;
                } else {
                    self.need_feature(
                        &o,
                        self.isa.features.timer.is_some(),
                        "`timer`",
                        "timer vector 1",
                    )?;
                }
                self.expect_punct("(")?;
                let v = self.typed(Ty::Word, "device operands are words")?;
                self.expect_punct(")")?;
                if word == "out" {
                    Stmt::Out(v)
                } else {
                    Stmt::Timer(v)
                }
            }
            "E" | "A" if matches!(self.peek2(), Tok::Punct("[")) => {
                self.bump();
                self.bump();
                let addr = self.typed(Ty::Word, "addresses are words")?;
                self.expect_punct("]")?;
                self.expect_punct("=")?;
                let value = self.typed(
                    Ty::Word,
                    "memory holds words; turn a bool or mode into a word with bit(...)",
                )?;
                let space = if word == "E" {
                    Space::Relocated
                } else {
                    Space::Absolute
                };
                Stmt::Store { space, addr, value }
            }
            _ => self.assignment(&word, &o)?,
        };
        self.expect_punct(";")?;
        Ok(s)
    }

    /// `inherited;`: the replaced instruction's body, its locals moved past ours.
    fn inherited_body(&mut self, o: &Origin) -> R<Vec<Stmt>> {
        let Some((format, body, locals)) = self.inherited.clone() else {
            return Err(IsaError::at(
                o.clone(),
                "`inherited` outside a redefinition",
                "only a `redefine` body can splice in the body it replaces",
            ));
        };
        if Some(format) != self.format {
            return Err(IsaError::at(
                o.clone(),
                "`inherited` needs the replaced instruction's format",
                format!(
                    "declare the redefinition with format `{}`",
                    self.isa.formats[format].name
                ),
            ));
        }
        if self.nest + depth(&body) > MAX_DEPTH {
            return self.too_deep(o);
        }
        let offset = self.next_slot;
        self.next_slot += locals;
        Ok(shift_locals(body, offset))
    }

    fn assignment(&mut self, word: &str, o: &Origin) -> R<Stmt> {
        self.bump();
        let (reg, ty) = match word {
            "P" => (Reg::P, Ty::Word),
            "M" => (Reg::M, Ty::Mode),
            "PSW" => (Reg::Psw, Ty::Word),
            "assist" => {
                self.need_feature(o, self.isa.features.assist, "`assist`", "assist")?;
                (Reg::Assist, Ty::Bool)
            }
            "R" => {
                if self.eat_punct(".") {
                    match self.ident("`l` or `b`")?.as_str() {
                        "l" => (Reg::L, Ty::Word),
                        "b" => (Reg::B, Ty::Word),
                        _ => {
                            return Err(IsaError::at(
                                o.clone(),
                                "R has two halves, `R.l` and `R.b`",
                                "write R.l or R.b",
                            ));
                        }
                    }
                } else {
                    (Reg::R, Ty::Word)
                }
            }
            _ => {
                let what = if self.field_index(word).is_some() {
                    format!("`{word}` is an instruction field, and fields are read-only")
                } else if self.locals.iter().any(|(n, _, _)| n == word) {
                    format!("`{word}` is a local, and locals are immutable")
                } else {
                    format!("`{word}` cannot be assigned")
                };
                return Err(IsaError::at(
                    o.clone(),
                    what,
                    "assignable: E[x], A[x], P, M, R, R.l, R.b, PSW, assist; use `let` for a new name",
                ));
            }
        };
        self.expect_punct("=")?;
        let hint = match ty {
            Ty::Mode => "assign a mode: `user`, `super` or `M`",
            Ty::Bool => "assign a condition, e.g. `true`",
            Ty::Word => "registers hold words; turn a bool or mode into a word with bit(...)",
        };
        let v = self.typed(ty, hint)?;
        Ok(Stmt::Set(reg, v))
    }

    fn if_rest(&mut self) -> R<Stmt> {
        let o = self.origin();
        self.enter(&o)?;
        let cond = self.typed(
            Ty::Bool,
            "conditions are bools; compare a word, e.g. `E[a] != 0`",
        )?;
        let then = self.block()?;
        let els = if self.eat_word("else") {
            if self.eat_word("if") {
                vec![self.if_rest()?]
            } else {
                self.block()?
            }
        } else {
            Vec::new()
        };
        self.nest -= 1;
        Ok(Stmt::If(cond, then, els))
    }

    // ---- expressions ---------------------------------------------------------------------

    fn is_reserved(&self, name: &str) -> bool {
        matches!(
            name,
            "E" | "A"
                | "P"
                | "M"
                | "R"
                | "PSW"
                | "user"
                | "super"
                | "true"
                | "false"
                | "assist"
                | "clock"
                | "in"
                | "bit"
                | "lts"
                | "les"
                | "sar"
                | "if"
                | "else"
                | "let"
                | "trap"
                | "halt"
                | "out"
                | "timer"
                | "inherited"
        )
    }

    fn field_index(&self, name: &str) -> Option<usize> {
        self.format.and_then(|f| self.isa.formats[f].field(name))
    }

    /// One level deeper into a body, refused past [`MAX_DEPTH`] before anything deeper is
    /// read, so the parser never recurses further than the limit.
    fn enter(&mut self, o: &Origin) -> R<()> {
        if self.nest >= MAX_DEPTH {
            return self.too_deep(o);
        }
        self.nest += 1;
        Ok(())
    }

    fn too_deep<T>(&self, o: &Origin) -> R<T> {
        Err(IsaError::at(
            o.clone(),
            format!("the body nests more than {MAX_DEPTH} levels deep"),
            "name inner parts with `let`, or combine nested `if`s with && and ||",
        ))
    }

    /// An expression, its type, and its depth in levels (see [`MAX_DEPTH`]).
    fn expr(&mut self) -> R<(Expr, Ty, usize)> {
        self.binary(0)
    }

    /// The binary operator at the current token, with its precedence level (0 binds least).
    fn binop_here(&self) -> Option<(usize, &'static str, BinOp)> {
        const LEVELS: [&[(&str, BinOp)]; 9] = [
            &[("||", BinOp::LogicalOr)],
            &[("&&", BinOp::LogicalAnd)],
            &[
                ("==", BinOp::Eq),
                ("!=", BinOp::Ne),
                ("<=", BinOp::Le),
                (">=", BinOp::Ge),
                ("<", BinOp::Lt),
                (">", BinOp::Gt),
            ],
            &[("|", BinOp::Or)],
            &[("^", BinOp::Xor)],
            &[("&", BinOp::And)],
            &[("<<", BinOp::Shl), (">>", BinOp::Shr)],
            &[("+", BinOp::Add), ("-", BinOp::Sub)],
            &[("*", BinOp::Mul), ("/", BinOp::Div), ("%", BinOp::Rem)],
        ];
        LEVELS.iter().enumerate().find_map(|(level, ops)| {
            ops.iter()
                .find(|(s, _)| self.is_punct(s))
                .map(|&(s, op)| (level, s, op))
        })
    }

    /// Operators of level `min` and tighter, left-associative, by precedence climbing: one
    /// stack frame per operator that binds tighter than the one before it, not one per
    /// level, so nesting costs little stack.
    fn binary(&mut self, min: usize) -> R<(Expr, Ty, usize)> {
        /// The comparisons' level: they do not chain.
        const COMPARISON: usize = 2;
        let (mut lhs, mut lt, mut ld) = self.unary()?;
        loop {
            let o = self.origin();
            let Some((level, sym, op)) = self.binop_here().filter(|&(l, _, _)| l >= min) else {
                return Ok((lhs, lt, ld));
            };
            self.bump();
            let (rhs, rt, rd) = self.binary(level + 1)?;
            let ty = self.binop_type(op, sym, lt, rt, &o)?;
            // A chain `a + b + c` builds `(a + b) + c`: each operator is one level more, so
            // a long flat chain is as deep as heavy nesting and is refused the same way.
            ld = 1 + ld.max(rd);
            if self.nest + ld > MAX_DEPTH {
                return self.too_deep(&o);
            }
            lhs = Expr::Binary(op, Box::new(lhs), Box::new(rhs));
            lt = ty;
            // Comparisons do not chain: `a < b < c` is almost always a mistake.
            if level == COMPARISON && matches!(self.binop_here(), Some((COMPARISON, _, _))) {
                return self.err(
                    "comparisons cannot be chained",
                    "combine them with && or ||",
                );
            }
        }
    }

    fn binop_type(&self, op: BinOp, sym: &str, lt: Ty, rt: Ty, o: &Origin) -> R<Ty> {
        let bad = |hint: &str| {
            Err(IsaError::at(
                o.clone(),
                format!(
                    "type mismatch: `{sym}` cannot combine {} and {}",
                    lt.name(),
                    rt.name()
                ),
                hint.to_string(),
            ))
        };
        match op {
            BinOp::LogicalAnd | BinOp::LogicalOr => {
                if lt == Ty::Bool && rt == Ty::Bool {
                    Ok(Ty::Bool)
                } else {
                    bad("&& and || take bools")
                }
            }
            BinOp::Eq | BinOp::Ne => {
                if lt == rt {
                    Ok(Ty::Bool)
                } else {
                    bad("== and != compare two values of the same type")
                }
            }
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                if lt == Ty::Word && rt == Ty::Word {
                    Ok(Ty::Bool)
                } else {
                    bad("ordering comparisons take words")
                }
            }
            _ => {
                if lt == Ty::Word && rt == Ty::Word {
                    Ok(Ty::Word)
                } else {
                    bad("arithmetic takes words; turn a bool or mode into a word with bit(...)")
                }
            }
        }
    }

    fn unary(&mut self) -> R<(Expr, Ty, usize)> {
        let (sym, op, ty) = match self.peek() {
            Tok::Punct("-") => ("-", UnOp::Neg, Ty::Word),
            Tok::Punct("~") => ("~", UnOp::Not, Ty::Word),
            Tok::Punct("!") => ("!", UnOp::LogicalNot, Ty::Bool),
            _ => return self.primary(),
        };
        let o = self.origin();
        self.bump();
        self.enter(&o)?;
        let (e, t, d) = self.unary()?;
        self.nest -= 1;
        if t != ty {
            return Err(unary_mismatch(o, sym, ty, t));
        }
        Ok((Expr::Unary(op, Box::new(e)), ty, d + 1))
    }

    /// Arguments and their greatest depth.
    fn call_args(&mut self, n: usize) -> R<(Vec<Expr>, usize)> {
        let o = self.origin();
        self.expect_punct("(")?;
        self.enter(&o)?;
        let mut args = Vec::new();
        let mut depth = 0;
        for i in 0..n {
            if i > 0 {
                self.expect_punct(",")?;
            }
            let (e, d) = self.typed_depth(Ty::Word, "this function takes words")?;
            args.push(e);
            depth = depth.max(d);
        }
        self.expect_punct(")")?;
        self.nest -= 1;
        Ok((args, depth))
    }

    fn primary(&mut self) -> R<(Expr, Ty, usize)> {
        match self.peek() {
            &Tok::Num(n) => {
                self.bump();
                Ok((Expr::Const(n), Ty::Word, 0))
            }
            Tok::Punct("(") => {
                let o = self.origin();
                self.bump();
                self.enter(&o)?;
                let (e, t, d) = self.expr()?;
                self.expect_punct(")")?;
                self.nest -= 1;
                Ok((e, t, d + 1))
            }
            Tok::Ident(_) => {
                let o = self.origin();
                let Tok::Ident(name) = self.bump() else {
                    return self.unexpected("an expression");
                };
                match name.as_str() {
                    // Loads are read here rather than in `named`, whose frame is large, so
                    // that nested loads cost little stack per level.
                    "E" => self.load(Space::Relocated, &o),
                    "A" => self.load(Space::Absolute, &o),
                    _ => self.named(&name, &o),
                }
            }
            _ => self.unexpected("an expression"),
        }
    }

    /// `E[a]` or `A[a]`, after the `E` or `A`.
    fn load(&mut self, space: Space, o: &Origin) -> R<(Expr, Ty, usize)> {
        self.expect_punct("[")?;
        self.enter(o)?;
        let (a, d) = self.typed_depth(Ty::Word, "addresses are words")?;
        self.expect_punct("]")?;
        self.nest -= 1;
        Ok((Expr::Load(space, Box::new(a)), Ty::Word, d + 1))
    }

    fn named(&mut self, name: &str, o: &Origin) -> R<(Expr, Ty, usize)> {
        let word = |e| Ok((e, Ty::Word, 0));
        match name {
            "P" => word(Expr::Reg(Reg::P)),
            "PSW" => word(Expr::Reg(Reg::Psw)),
            "M" => Ok((Expr::Reg(Reg::M), Ty::Mode, 0)),
            "R" => {
                if self.eat_punct(".") {
                    match self.ident("`l` or `b`")?.as_str() {
                        "l" => word(Expr::Reg(Reg::L)),
                        "b" => word(Expr::Reg(Reg::B)),
                        _ => Err(IsaError::at(
                            o.clone(),
                            "R has two halves, `R.l` and `R.b`",
                            "write R.l or R.b",
                        )),
                    }
                } else {
                    word(Expr::Reg(Reg::R))
                }
            }
            "user" => Ok((Expr::Const(MODE_USER), Ty::Mode, 0)),
            "super" => Ok((Expr::Const(MODE_SUPER), Ty::Mode, 0)),
            "true" => Ok((Expr::Const(1), Ty::Bool, 0)),
            "false" => Ok((Expr::Const(0), Ty::Bool, 0)),
            "assist" => {
                self.need_feature(o, self.isa.features.assist, "`assist`", "assist")?;
                Ok((Expr::Reg(Reg::Assist), Ty::Bool, 0))
            }
            "clock" => {
                self.call_args(0)?;
                word(Expr::Clock)
            }
            "in" => {
                self.need_feature(o, self.isa.features.console, "`in()`", "console")?;
                self.call_args(0)?;
                word(Expr::In)
            }
            "bit" => {
                self.expect_punct("(")?;
                self.enter(o)?;
                let (c, d) =
                    self.typed_depth(Ty::Bool, "bit(...) turns a condition into 0 or 1")?;
                self.expect_punct(")")?;
                self.nest -= 1;
                Ok((Expr::Unary(UnOp::Bit, Box::new(c)), Ty::Word, d + 1))
            }
            "lts" | "les" | "sar" => {
                let (mut args, d) = self.call_args(2)?;
                let (b, a) = (args.pop(), args.pop());
                let (Some(a), Some(b)) = (a, b) else {
                    return self.err("expected two arguments", "write f(x, y)");
                };
                let (op, ty) = match name {
                    "lts" => (BinOp::Lts, Ty::Bool),
                    "les" => (BinOp::Les, Ty::Bool),
                    _ => (BinOp::Sar, Ty::Word),
                };
                Ok((Expr::Binary(op, Box::new(a), Box::new(b)), ty, d + 1))
            }
            _ => {
                if let Some((_, slot, ty)) = self.locals.iter().rev().find(|(n, _, _)| n == name) {
                    return Ok((Expr::Local(*slot), *ty, 0));
                }
                if let Some(f) = self.field_index(name) {
                    return word(Expr::Field(f));
                }
                let mut known: Vec<String> = self
                    .format
                    .map(|f| {
                        self.isa.formats[f]
                            .fields
                            .iter()
                            .map(|f| f.name.clone())
                            .collect()
                    })
                    .unwrap_or_default();
                known.extend(self.locals.iter().map(|(n, _, _)| n.clone()));
                Err(IsaError::at(
                    o.clone(),
                    format!("undefined name `{name}`"),
                    format!(
                        "names in scope: {}; built-ins: E[x], A[x], P, M, R, R.l, R.b, PSW, user, super, true, false, clock(), in(), bit(c), lts, les, sar",
                        known.join(", ")
                    ),
                ))
            }
        }
    }
}

/// Kept out of [`Parser::unary`] so that its frame, one per nesting level, stays small.
#[cold]
#[inline(never)]
fn unary_mismatch(o: Origin, sym: &str, want: Ty, found: Ty) -> IsaError {
    IsaError::at(
        o,
        format!(
            "type mismatch: `{sym}` takes a {}, found {}",
            want.name(),
            found.name()
        ),
        "`-` and `~` take words, `!` takes a bool",
    )
}

/// A body with every local slot moved up by `offset`.
fn shift_locals(mut body: Vec<Stmt>, offset: usize) -> Vec<Stmt> {
    walk_mut(&mut body, |n| match n {
        NodeMut::Stmt(Stmt::Let(slot, _)) | NodeMut::Expr(Expr::Local(slot)) => *slot += offset,
        _ => {}
    });
    body
}
