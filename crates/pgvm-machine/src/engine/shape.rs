//! How an instruction becomes block ops: its body's statement shapes, matched once per
//! instruction of the ISA into a [`Template`], then lowered for each copy a block compiles
//! (its word, the window and the mode).
//!
//! Matching a body against the shapes walks its syntax tree; a monitor's code is compiled
//! once for every `R` it runs under (each level of a nested run compiles it again), so the
//! walk is done once, when the engine is made, and what is left per copy is to read the
//! word's fields and develop the addresses.

use pgvm_isa::{BinOp, Expr, Insn, Isa, Mode, Reg, Space, Stmt, UnOp};

use super::block_ops::{Op, Pa};
use crate::exec::{TrapKind, psw_reg, user_trap};
use crate::psw::{Psw, REG_MAX};

/// A value that is fixed once the word is decoded in a block: a constant, a field of the
/// word, or a register of the PSW (the block's mode and `R` are fixed; the assist bit is not
/// part of a block's key, so it is never one).
#[derive(Debug, Clone, Copy)]
enum Val {
    Const(u64),
    /// Field `.1` of format `.0`.
    Field(usize, usize),
    Reg(Reg),
}

impl Val {
    /// The value for instruction word `word` in a block whose PSW, as the body reads it, is
    /// `psw`.
    #[inline]
    fn at(self, isa: &Isa, word: u64, psw: Psw) -> u64 {
        match self {
            Val::Const(v) => v,
            Val::Field(f, i) => isa
                .formats
                .get(f)
                .and_then(|f| f.fields.get(i))
                .map_or(0, |field| field.extract(word)),
            // `Reg::Assist` never becomes a `Val` (see `Matcher::konst`).
            Val::Reg(r) => psw_reg(psw, r).unwrap_or(0),
        }
    }
}

/// A statement shape: `V` is [`Val`] in a template and the apparent address or constant in
/// a lowered copy.
#[derive(Debug, Clone, Copy)]
enum Shape<V> {
    Bin(BinOp, V, V, V),
    BinK(BinOp, V, V, V),
    Set(V, V),
    Mov(V, V),
    LoadX(V, V, V),
    StoreX(V, V, V),
    TrapIf(BinOp, V, V, TrapKind),
    Jump(V),
    Branch(BinOp, V, V, V),
    JumpInd(V),
    Jal(V, V),
    SetReg(Reg, V),
    Out(V),
    Timer(V),
    Trap(TrapKind),
    Halt,
}

impl Shape<Val> {
    /// The shape for one word and PSW. A jump target is an address: it keeps `P`'s bits.
    fn at(self, isa: &Isa, word: u64, psw: Psw) -> Shape<u64> {
        let v = |x: Val| x.at(isa, word, psw);
        let t = |x: Val| x.at(isa, word, psw) & REG_MAX;
        match self {
            Shape::Bin(op, a, b, c) => Shape::Bin(op, v(a), v(b), v(c)),
            Shape::BinK(op, a, b, k) => Shape::BinK(op, v(a), v(b), v(k)),
            Shape::Set(a, k) => Shape::Set(v(a), v(k)),
            Shape::Mov(a, b) => Shape::Mov(v(a), v(b)),
            Shape::LoadX(a, b, c) => Shape::LoadX(v(a), v(b), v(c)),
            Shape::StoreX(a, b, c) => Shape::StoreX(v(a), v(b), v(c)),
            Shape::TrapIf(op, a, k, kind) => Shape::TrapIf(op, v(a), v(k), kind),
            Shape::Jump(x) => Shape::Jump(t(x)),
            Shape::Branch(op, a, k, x) => Shape::Branch(op, v(a), v(k), t(x)),
            Shape::JumpInd(a) => Shape::JumpInd(v(a)),
            Shape::Jal(a, x) => Shape::Jal(v(a), t(x)),
            Shape::SetReg(r, a) => Shape::SetReg(r, v(a)),
            Shape::Out(a) => Shape::Out(v(a)),
            Shape::Timer(a) => Shape::Timer(v(a)),
            Shape::Trap(kind) => Shape::Trap(kind),
            Shape::Halt => Shape::Halt,
        }
    }
}

impl Shape<u64> {
    /// The op, or `None` when an address is outside the window (a memory trap).
    fn lower(self, dev: &dyn Fn(u64) -> Option<Pa>) -> Option<Op> {
        Some(match self {
            Shape::Bin(op, a, b, c) => {
                // Evaluation order is the interpreter's: the operands, then the target.
                let (b, c) = (dev(b)?, dev(c)?);
                let a = dev(a)?;
                match op {
                    BinOp::Add => Op::Add(a, b, c),
                    BinOp::Sub => Op::Sub(a, b, c),
                    BinOp::Mul => Op::Mul(a, b, c),
                    BinOp::Div => Op::Div(a, b, c),
                    BinOp::Rem => Op::Rem(a, b, c),
                    BinOp::And => Op::And(a, b, c),
                    BinOp::Or => Op::Or(a, b, c),
                    BinOp::Xor => Op::Xor(a, b, c),
                    BinOp::Shl => Op::Shl(a, b, c),
                    BinOp::Shr => Op::Shr(a, b, c),
                    BinOp::Sar => Op::Sar(a, b, c),
                    BinOp::Eq => Op::Eq(a, b, c),
                    BinOp::Ne => Op::Ne(a, b, c),
                    BinOp::Lt => Op::Lt(a, b, c),
                    BinOp::Le => Op::Le(a, b, c),
                    BinOp::Gt => Op::Gt(a, b, c),
                    BinOp::Ge => Op::Ge(a, b, c),
                    BinOp::Lts => Op::Lts(a, b, c),
                    BinOp::Les => Op::Les(a, b, c),
                    // Never matched (they short-circuit).
                    BinOp::LogicalAnd | BinOp::LogicalOr => return None,
                }
            }
            Shape::BinK(BinOp::Add, a, b, k) => {
                let b = dev(b)?;
                Op::AddK(dev(a)?, b, k)
            }
            Shape::BinK(op, a, b, k) => {
                let b = dev(b)?;
                Op::BinK(op, dev(a)?, b, k)
            }
            Shape::Set(a, k) => Op::Set(dev(a)?, k),
            Shape::Mov(a, b) => {
                let b = dev(b)?;
                Op::Mov(dev(a)?, b)
            }
            Shape::LoadX(a, b, c) => {
                let (b, c) = (dev(b)?, dev(c)?);
                Op::LoadX(dev(a)?, b, c)
            }
            Shape::StoreX(a, b, c) => {
                // The interpreter develops the address expression first, then the value.
                let (b, c) = (dev(b)?, dev(c)?);
                Op::StoreX(dev(a)?, b, c)
            }
            Shape::TrapIf(BinOp::Eq, a, 0, kind) => Op::TrapIfZero(dev(a)?, kind),
            Shape::TrapIf(op, a, k, kind) => Op::TrapIf(op, dev(a)?, k, kind),
            Shape::Jump(t) => Op::Jump(t),
            Shape::Branch(BinOp::Ne, a, 0, t) => Op::BranchNz(dev(a)?, t),
            Shape::Branch(BinOp::Eq, a, 0, t) => Op::BranchZ(dev(a)?, t),
            Shape::Branch(op, a, k, t) => Op::Branch(op, dev(a)?, k, t),
            Shape::JumpInd(a) => Op::JumpInd(dev(a)?),
            Shape::Jal(a, t) => Op::Jal(dev(a)?, t),
            Shape::SetReg(r, a) => Op::SetReg(r, dev(a)?),
            Shape::Out(a) => Op::Out(dev(a)?),
            Shape::Timer(a) => Op::Timer(dev(a)?),
            Shape::Trap(kind) => Op::Trap(kind),
            Shape::Halt => Op::Halt,
        })
    }
}

/// An instruction's body, matched once: the trap its guard takes in user mode, if any, and
/// the shapes of the rest (at most a guard `if E[a] op k { trap; }` and one effect), or
/// `None` when the rest has another shape and runs through the interpreter.
#[derive(Debug, Clone)]
pub(super) struct Template {
    user_trap: Option<TrapKind>,
    shapes: Option<[Option<Shape<Val>>; 2]>,
}

impl Template {
    /// The template of every instruction of `isa`, by instruction id.
    pub(super) fn all(isa: &Isa) -> Vec<Template> {
        isa.insns.iter().map(|i| Template::of(isa, i)).collect()
    }

    fn of(isa: &Isa, insn: &Insn) -> Template {
        let user_trap = user_trap(&insn.body);
        // The guard a user-mode trap comes from is answered per block (by its mode).
        let body = insn.body.get(usize::from(user_trap.is_some())..);
        let m = Matcher {
            isa,
            f: insn.format,
        };
        Template {
            user_trap,
            shapes: body.and_then(|b| m.shape(b)),
        }
    }

    /// The trap the instruction takes first thing in user mode, if any.
    pub(super) fn user_trap(&self) -> Option<TrapKind> {
        self.user_trap
    }
}

/// An instruction's ops: at most a guard and an effect. Held inline, not in a `Vec`: a block
/// is compiled when a monitor first runs its code under a new `R`, and an allocation per
/// instruction was most of what compiling cost.
#[derive(Debug, Clone, Copy)]
pub(super) struct InsnOps {
    ops: [Op; 2],
    n: usize,
}

impl InsnOps {
    pub(super) fn one(op: Op) -> InsnOps {
        InsnOps {
            ops: [op, Op::Fall],
            n: 1,
        }
    }

    fn push(&mut self, op: Op) {
        if let Some(slot) = self.ops.get_mut(self.n) {
            *slot = op;
            self.n += 1;
        }
    }

    /// The ops, in order.
    pub(super) fn as_slice(&self) -> &[Op] {
        self.ops.get(..self.n).unwrap_or_default()
    }
}

/// The ops of instruction `t` (`id`, word `word`) for a window developed by `dev`, in a
/// block whose PSW, as the body reads it, is `psw` (`P` already past the instruction): the
/// block's mode and `R` are fixed, so a read of a PSW register is a constant. Traps that do
/// not depend on memory are decided here.
pub(super) fn lower(
    isa: &Isa,
    t: &Template,
    id: pgvm_isa::InsnId,
    word: u64,
    psw: Psw,
    dev: &dyn Fn(u64) -> Option<Pa>,
) -> InsnOps {
    if let Some(kind) = t.user_trap
        && psw.mode == Mode::User
    {
        return InsnOps::one(Op::Trap(kind));
    }
    let Some(shapes) = t.shapes else {
        return InsnOps::one(Op::Generic(id));
    };
    let mut ops = InsnOps {
        ops: [Op::Fall; 2],
        n: 0,
    };
    for s in shapes.into_iter().flatten() {
        // An address outside the window traps: the instruction is blocked there.
        let Some(op) = s.at(isa, word, psw).lower(dev) else {
            ops.push(Op::Trap(TrapKind::Memory));
            return ops;
        };
        ops.push(op);
        if let Op::Trap(_) = op {
            return ops;
        }
    }
    ops
}

/// Matches the bodies of one instruction format against the shapes.
struct Matcher<'a> {
    isa: &'a Isa,
    f: usize,
}

impl Matcher<'_> {
    /// A value fixed once the word is decoded in a block. Bodies with one statement (and a
    /// guard) read the registers before they set any.
    fn konst(&self, e: &Expr) -> Option<Val> {
        match e {
            Expr::Const(v) => Some(Val::Const(*v)),
            Expr::Field(i) => {
                self.isa.formats.get(self.f)?.fields.get(*i)?;
                Some(Val::Field(self.f, *i))
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
    fn shape(&self, body: &[Stmt]) -> Option<[Option<Shape<Val>>; 2]> {
        let k = |e: &Expr| self.konst(e);
        let m = |e: &Expr| self.mem_at(e);
        match body {
            [Stmt::If(Expr::Binary(op, x, y), then, els), rest @ ..]
                if els.is_empty() && word_op(*op) && matches!(then.as_slice(), [Stmt::Trap(_)]) =>
            {
                let [Stmt::Trap(cause)] = then.as_slice() else {
                    return None;
                };
                let guard = Shape::TrapIf(*op, m(x)?, k(y)?, TrapKind::from(*cause));
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
    fn one(&self, stmt: &Stmt) -> Option<Shape<Val>> {
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
            Stmt::Trap(cause) => Some(Shape::Trap(TrapKind::from(*cause))),
            Stmt::Halt => Some(Shape::Halt),
            _ => None,
        }
    }
}

/// Word-valued operators an op evaluates with both operands (not the short-circuiting ones).
fn word_op(op: BinOp) -> bool {
    !matches!(op, BinOp::LogicalAnd | BinOp::LogicalOr)
}
