//! The statement shapes of instruction bodies: which bodies are one simple effect (a register
//! set, a store, a jump, ...) with at most one guard, matched once when a description is
//! loaded ([`Isa::shape`]).
//!
//! A shape is a property of the body's syntax, so it belongs to the description: the block
//! engine lowers it into ops for one word and window, and a monitor's dispatcher carries a
//! simple one out without walking the body (`pgvm_machine::execute_shaped`). Both start from
//! the same match, made here once. The reference interpreter walks every body itself and
//! reads nothing from here but [`user_trap`], so that testing an engine or a dispatcher
//! against it tests the match as well.

use crate::model::{BinOp, Expr, Isa, MODE_USER, Reg, Space, Stmt, TrapCause, UnOp};

/// A value that is fixed once the word is decoded and the PSW is known but for its effects: a
/// constant, a field of the word, or a register of the PSW (never the assist bit, which is
/// not part of the PSW).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Val {
    /// A constant.
    Const(u64),
    /// Field `.0` of the instruction's format.
    Field(usize),
    /// A register of the PSW, as the body reads it (`P` already past the instruction).
    Reg(Reg),
}

/// One statement's shape. `V` is a [`Val`] as matched here, or what an engine makes of it
/// (an address, a constant) for one word. Addresses are apparent (`E[a]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape<V = Val> {
    /// `E[a] = E[b] op E[c]` (a comparison under `bit(...)` too: it yields 0 or 1 already).
    Bin(BinOp, V, V, V),
    /// `E[a] = E[b] op k`.
    BinK(BinOp, V, V, V),
    /// `E[a] = k`.
    Set(V, V),
    /// `E[a] = E[b]`.
    Mov(V, V),
    /// `E[a] = E[E[b] + E[c]]`.
    LoadX(V, V, V),
    /// `E[E[b] + E[c]] = E[a]`.
    StoreX(V, V, V),
    /// `if E[a] op k { trap; }`: a guard before the rest of the body.
    TrapIf(BinOp, V, V, TrapCause),
    /// `P = t`.
    Jump(V),
    /// `if E[a] op k { P = t; }`.
    Branch(BinOp, V, V, V),
    /// `P = E[a]`.
    JumpInd(V),
    /// `E[a] = P; P = t` (`P` past the instruction: a call's link).
    Jal(V, V),
    /// `reg = E[a]`.
    SetReg(Reg, V),
    /// `out(E[a])`.
    Out(V),
    /// `timer(E[a])`.
    Timer(V),
    /// `trap;`.
    Trap(TrapCause),
    /// `halt;`.
    Halt,
}

/// An instruction's body, matched: the trap its first statement takes in user mode (the
/// `privileged` guard), if any, and the shapes of the rest (at most a guard and one effect),
/// or `None` when the rest has another shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyShape {
    /// The cause of the user-mode guard `if M == user { trap; }`, when the body starts with
    /// one: in user mode the instruction traps before it reads or writes anything else, and
    /// in supervisor mode the guard does nothing.
    pub user_trap: Option<TrapCause>,
    /// The shapes of the body after that guard, in order.
    pub shapes: Option<[Option<Shape>; 2]>,
}

impl BodyShape {
    /// Matches the body of every instruction of `isa`, by instruction id.
    pub(crate) fn all(isa: &Isa) -> Vec<BodyShape> {
        isa.insns
            .iter()
            .map(|insn| {
                let user_trap = user_trap(&insn.body);
                let rest = insn.body.get(usize::from(user_trap.is_some())..);
                let m = Matcher {
                    isa,
                    f: insn.format,
                };
                BodyShape {
                    user_trap,
                    shapes: rest.and_then(|b| m.shape(b)),
                }
            })
            .collect()
    }
}

/// The cause of the trap a body takes first in user mode: its first statement is
/// `if M == user { trap; }` (the expansion of the `privileged` sugar, or the same written out).
pub fn user_trap(body: &[Stmt]) -> Option<TrapCause> {
    let Some(Stmt::If(Expr::Binary(BinOp::Eq, a, b), then, otherwise)) = body.first() else {
        return None;
    };
    let tests_user = matches!(
        (a.as_ref(), b.as_ref()),
        (Expr::Reg(Reg::M), Expr::Const(MODE_USER)) | (Expr::Const(MODE_USER), Expr::Reg(Reg::M))
    );
    match then.as_slice() {
        [Stmt::Trap(cause)] if tests_user && otherwise.is_empty() => Some(*cause),
        _ => None,
    }
}

/// Matches the bodies of one instruction format against the shapes.
struct Matcher<'a> {
    isa: &'a Isa,
    f: usize,
}

impl Matcher<'_> {
    /// A value fixed once the word is decoded. Bodies with one statement (and a guard) read
    /// the registers before they set any.
    fn konst(&self, e: &Expr) -> Option<Val> {
        match e {
            Expr::Const(v) => Some(Val::Const(*v)),
            Expr::Field(i) => {
                self.isa.formats.get(self.f)?.fields.get(*i)?;
                Some(Val::Field(*i))
            }
            Expr::Reg(Reg::Assist) => None,
            Expr::Reg(r) => Some(Val::Reg(*r)),
            _ => None,
        }
    }

    /// `E[k]` with a fixed `k`.
    fn mem_at(&self, e: &Expr) -> Option<Val> {
        match e {
            Expr::Load(Space::Relocated, a) => self.konst(a),
            _ => None,
        }
    }

    /// The shapes of a body: at most one guard `if E[a] op k { trap; }`, then one effect (or
    /// a `jal`-like link and jump). `None` when the body has another shape.
    fn shape(&self, body: &[Stmt]) -> Option<[Option<Shape>; 2]> {
        let k = |e: &Expr| self.konst(e);
        let m = |e: &Expr| self.mem_at(e);
        match body {
            [Stmt::If(Expr::Binary(op, x, y), then, els), rest @ ..]
                if els.is_empty() && word_op(*op) && matches!(then.as_slice(), [Stmt::Trap(_)]) =>
            {
                let [Stmt::Trap(cause)] = then.as_slice() else {
                    return None;
                };
                let guard = Shape::TrapIf(*op, m(x)?, k(y)?, *cause);
                match rest {
                    [] => Some([Some(guard), None]),
                    [s] => Some([Some(guard), Some(self.one(s)?)]),
                    _ => None,
                }
            }
            [
                Stmt::Store {
                    space: Space::Relocated,
                    addr,
                    value: Expr::Reg(Reg::P),
                },
                Stmt::Set(Reg::P, t),
            ] => Some([Some(Shape::Jal(k(addr)?, k(t)?)), None]),
            [s] => Some([Some(self.one(s)?), None]),
            _ => None,
        }
    }

    /// The shape of one statement.
    fn one(&self, stmt: &Stmt) -> Option<Shape> {
        let k = |e: &Expr| self.konst(e);
        let m = |e: &Expr| self.mem_at(e);
        let indexed = |e: &Expr| match e {
            Expr::Binary(BinOp::Add, x, y) => Some((m(x)?, m(y)?)),
            _ => None,
        };
        match stmt {
            Stmt::Store {
                space: Space::Relocated,
                addr,
                value,
            } => {
                if let Some(a) = k(addr) {
                    if let Some(kv) = k(value) {
                        return Some(Shape::Set(a, kv));
                    }
                    if let Some(b) = m(value) {
                        return Some(Shape::Mov(a, b));
                    }
                    if let Expr::Load(Space::Relocated, inner) = value
                        && let Some((b, c)) = indexed(inner)
                    {
                        return Some(Shape::LoadX(a, b, c));
                    }
                    if let Expr::Binary(op, x, y) = value
                        && word_op(*op)
                        && let Some(b) = m(x)
                    {
                        if let Some(c) = m(y) {
                            return Some(Shape::Bin(*op, a, b, c));
                        }
                        if let Some(kv) = k(y) {
                            return Some(Shape::BinK(*op, a, b, kv));
                        }
                    }
                    if let Expr::Unary(UnOp::Bit, inner) = value
                        && let Expr::Binary(op, x, y) = &**inner
                        && word_op(*op)
                        && let (Some(b), Some(c)) = (m(x), m(y))
                    {
                        // bit(E[b] cmp E[c]): comparisons already yield 0 or 1.
                        return Some(Shape::Bin(*op, a, b, c));
                    }
                    None
                } else if let Some((b, c)) = indexed(addr)
                    && let Some(a) = m(value)
                {
                    Some(Shape::StoreX(a, b, c))
                } else {
                    None
                }
            }
            Stmt::Set(Reg::P, t) => {
                if let Some(t) = k(t) {
                    Some(Shape::Jump(t))
                } else {
                    m(t).map(Shape::JumpInd)
                }
            }
            Stmt::If(Expr::Binary(op, x, y), then, els) if els.is_empty() && word_op(*op) => {
                match then.as_slice() {
                    [Stmt::Set(Reg::P, t)] => Some(Shape::Branch(*op, m(x)?, k(y)?, k(t)?)),
                    _ => None,
                }
            }
            Stmt::Set(reg, v) => m(v).map(|a| Shape::SetReg(*reg, a)),
            Stmt::Out(v) => m(v).map(Shape::Out),
            Stmt::Timer(v) => m(v).map(Shape::Timer),
            Stmt::Trap(cause) => Some(Shape::Trap(*cause)),
            Stmt::Halt => Some(Shape::Halt),
            _ => None,
        }
    }
}

/// Word-valued operators a shape evaluates with both operands (not the short-circuiting ones).
fn word_op(op: BinOp) -> bool {
    !matches!(op, BinOp::LogicalAnd | BinOp::LogicalOr)
}
