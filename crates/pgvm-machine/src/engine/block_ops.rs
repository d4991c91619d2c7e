//! The block engine's ops, and how an instruction becomes ops: the statement shapes of its
//! body, lowered for the window and mode a block is compiled for, and the pairs fused into
//! one op. What runs them is [`super::block`].

use pgvm_isa::ops::Compare;
use pgvm_isa::{BinOp, Expr, InsnId, Isa, Mode, Reg, Space, Stmt, UnOp};

use crate::exec::{TrapKind, psw_reg};
use crate::psw::{Psw, REG_MAX};

/// A physical word index, below `2^21`.
pub(super) type Pa = u32;

/// One op of a compiled block. Addresses are physical indices, already checked against the
/// window the block was compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    /// `E[a] = E[b] op E[c]`, one variant per operator.
    Add(Pa, Pa, Pa),
    Sub(Pa, Pa, Pa),
    Mul(Pa, Pa, Pa),
    Div(Pa, Pa, Pa),
    Rem(Pa, Pa, Pa),
    And(Pa, Pa, Pa),
    Or(Pa, Pa, Pa),
    Xor(Pa, Pa, Pa),
    Shl(Pa, Pa, Pa),
    Shr(Pa, Pa, Pa),
    Sar(Pa, Pa, Pa),
    Eq(Pa, Pa, Pa),
    Ne(Pa, Pa, Pa),
    Lt(Pa, Pa, Pa),
    Le(Pa, Pa, Pa),
    Gt(Pa, Pa, Pa),
    Ge(Pa, Pa, Pa),
    Lts(Pa, Pa, Pa),
    Les(Pa, Pa, Pa),
    /// `E[a] = E[b] + k`, the commonest operator with a constant.
    AddK(Pa, Pa, u64),
    /// `E[a] = E[b] op k`, any other operator.
    BinK(BinOp, Pa, Pa, u64),
    /// `E[a] = k`.
    Set(Pa, u64),
    /// `E[a] = E[b]`.
    Mov(Pa, Pa),
    /// `E[a] = E[E[b] + E[c]]`: the index is developed at run time.
    LoadX(Pa, Pa, Pa),
    /// `E[E[b] + E[c]] = E[a]`.
    StoreX(Pa, Pa, Pa),
    /// `if E[a] op k { trap; }` before the rest of the same instruction (a divisor check).
    TrapIf(BinOp, Pa, u64, TrapKind),
    /// `if E[a] == 0 { trap; }`.
    TrapIfZero(Pa, TrapKind),
    /// Side exits ([`Op::side`]): as the branches below, but flow goes on in the block when
    /// the branch is not taken.
    SideNz(Pa, u64),
    SideZ(Pa, u64),
    SideIf(BinOp, Pa, u64, u64),
    SideCmp(Compare, Pa, Pa, Pa, bool, u64),
    // Terminators: each ends the block.
    /// `P = t` (apparent).
    Jump(u64),
    /// `if E[a] != 0 { P = t; }`.
    BranchNz(Pa, u64),
    /// `if E[a] == 0 { P = t; }`.
    BranchZ(Pa, u64),
    /// `if E[a] op k { P = t; }`.
    Branch(BinOp, Pa, u64, u64),
    /// `E[a] = E[b] + k; if E[a] != 0 { P = t; }`: two instructions.
    AddKBranchNz(Pa, Pa, u64, u64),
    /// `E[a] = E[b] + k; if E[a] == 0 { P = t; }`: two instructions.
    AddKBranchZ(Pa, Pa, u64, u64),
    /// `E[a] = E[b] cmp E[c]; if E[a] != 0 { P = t; }` (when `.4`; `== 0` otherwise): two
    /// instructions, a compare and a `jnz` or `jz` on its result.
    CmpBranch(Compare, Pa, Pa, Pa, bool, u64),
    /// `P = E[a]`.
    JumpInd(Pa),
    /// `E[a] = P + 1; P = t`.
    Jal(Pa, u64),
    /// `reg = E[a]` for a register of the PSW or the assist bit: the mode, `R` or the assist
    /// may change, so the stretch ends after it, as after an interpreted instruction.
    SetReg(Reg, Pa),
    /// `out(E[a])`: a console write. Ends the stretch (the devices were reached).
    Out(Pa),
    /// `timer(E[a])`: arms the timer. Ends the stretch (the stop it was given may move).
    Timer(Pa),
    /// The instruction traps whatever the state.
    Trap(TrapKind),
    /// The instruction halts.
    Halt,
    /// The instruction runs through the interpreter.
    Generic(InsnId),
    /// The block ends without a jump: `P` goes on past its last instruction.
    Fall,
}

impl Op {
    /// Whether the op ends its block.
    pub(super) fn ends_block(self) -> bool {
        matches!(
            self,
            Op::Jump(..)
                | Op::BranchNz(..)
                | Op::BranchZ(..)
                | Op::Branch(..)
                | Op::AddKBranchNz(..)
                | Op::AddKBranchZ(..)
                | Op::CmpBranch(..)
                | Op::JumpInd(..)
                | Op::Jal(..)
                | Op::SetReg(..)
                | Op::Out(..)
                | Op::Timer(..)
                | Op::Trap(..)
                | Op::Halt
                | Op::Generic(..)
                | Op::Fall
        )
    }
}

/// Where an op stands in its block's instructions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Span {
    /// The instruction the op starts (offset from the block's first).
    pub(super) at: u16,
    /// Instructions completed once the op has run.
    pub(super) ends: u16,
    /// For a conditional branch inside the block (a side exit), the link its taken branch
    /// follows (`Compiled::next`); 0 otherwise.
    pub(super) exit: u8,
}

impl Op {
    /// The side-exit form of a conditional branch: the same test, but a block runs on past
    /// it when it is not taken. The add-and-branch pairs (a loop's counter) have none.
    pub(super) fn side(self) -> Option<Op> {
        match self {
            Op::BranchNz(a, t) => Some(Op::SideNz(a, t)),
            Op::BranchZ(a, t) => Some(Op::SideZ(a, t)),
            Op::Branch(op, a, k, t) => Some(Op::SideIf(op, a, k, t)),
            Op::CmpBranch(cmp, a, b, c, nz, t) => Some(Op::SideCmp(cmp, a, b, c, nz, t)),
            _ => None,
        }
    }
}

/// The direct target of a terminator, if it has one.
pub(super) fn target(op: Op) -> Option<u64> {
    match op {
        Op::Jump(t)
        | Op::BranchNz(_, t)
        | Op::BranchZ(_, t)
        | Op::Branch(_, _, _, t)
        | Op::AddKBranchNz(_, _, _, t)
        | Op::AddKBranchZ(_, _, _, t)
        | Op::CmpBranch(_, _, _, _, _, t)
        | Op::Jal(_, t) => Some(t),
        _ => None,
    }
}

/// The fused op for `prev` (the last op so far, one whole instruction) followed by `next`, a
/// whole instruction's only op, if the pair has one.
pub(super) fn fuse(prev: Option<Op>, next: Op, spans: &[Span], k: u64) -> Option<Op> {
    let s = spans.last()?;
    // The previous op must be exactly the previous instruction.
    if u64::from(s.at) + 1 != k || u64::from(s.ends) != k {
        return None;
    }
    match (prev?, next) {
        (Op::AddK(a, b, kv), Op::BranchNz(x, t)) if a == x => Some(Op::AddKBranchNz(a, b, kv, t)),
        (Op::AddK(a, b, kv), Op::BranchZ(x, t)) if a == x => Some(Op::AddKBranchZ(a, b, kv, t)),
        (prev, branch) => {
            let (op, a, b, c) = match prev {
                Op::Eq(a, b, c) => (BinOp::Eq, a, b, c),
                Op::Ne(a, b, c) => (BinOp::Ne, a, b, c),
                Op::Lt(a, b, c) => (BinOp::Lt, a, b, c),
                Op::Le(a, b, c) => (BinOp::Le, a, b, c),
                Op::Gt(a, b, c) => (BinOp::Gt, a, b, c),
                Op::Ge(a, b, c) => (BinOp::Ge, a, b, c),
                Op::Lts(a, b, c) => (BinOp::Lts, a, b, c),
                Op::Les(a, b, c) => (BinOp::Les, a, b, c),
                _ => return None,
            };
            let (nz, x, t) = match branch {
                Op::BranchNz(x, t) => (true, x, t),
                Op::BranchZ(x, t) => (false, x, t),
                _ => return None,
            };
            (x == a).then_some(Op::CmpBranch(Compare::of(op)?, a, b, c, nz, t))
        }
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

/// The ops of instruction `id` (word `word`) for a window developed by `dev`, in a block
/// whose PSW, as the body reads it, is `psw` (`P` already past the instruction): the block's
/// mode and `R` are fixed, so a read of a PSW register is a constant. Traps that do not
/// depend on memory are decided here.
pub(super) fn lower(
    isa: &Isa,
    id: InsnId,
    word: u64,
    psw: Psw,
    user_traps: &[Option<TrapKind>],
    dev: &dyn Fn(u64) -> Option<Pa>,
) -> InsnOps {
    let insn = &isa.insns[id];
    let mut body = &insn.body[..];
    if let Some(kind) = user_traps[id] {
        if psw.mode == Mode::User {
            return InsnOps::one(Op::Trap(kind));
        }
        body = &body[1..];
    }
    let generic = InsnOps::one(Op::Generic(id));
    let w = Word {
        isa,
        f: insn.format,
        word,
        psw,
    };
    let Some(shapes) = shape(&w, body) else {
        return generic;
    };
    let mut ops = InsnOps {
        ops: [Op::Fall; 2],
        n: 0,
    };
    for s in shapes.into_iter().flatten() {
        // An address outside the window traps: the instruction is blocked there.
        let Some(op) = s.lower(dev) else {
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

/// A statement shape with apparent addresses.
#[derive(Debug, Clone, Copy)]
enum Shape {
    Bin(BinOp, u64, u64, u64),
    BinK(BinOp, u64, u64, u64),
    Set(u64, u64),
    Mov(u64, u64),
    LoadX(u64, u64, u64),
    StoreX(u64, u64, u64),
    TrapIf(BinOp, u64, u64, TrapKind),
    Jump(u64),
    Branch(BinOp, u64, u64, u64),
    JumpInd(u64),
    Jal(u64, u64),
    SetReg(Reg, u64),
    Out(u64),
    Timer(u64),
    Trap(TrapKind),
    Halt,
}

impl Shape {
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
                    // Never produced by `shape` (they short-circuit).
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

/// An instruction word being lowered: its format, and the PSW its body starts with.
struct Word<'a> {
    isa: &'a Isa,
    f: usize,
    word: u64,
    psw: Psw,
}

impl Word<'_> {
    /// A value fixed once the word is decoded in the block: a constant, a field, or a
    /// register of the PSW (the assist bit is not part of a block's key). Bodies with one
    /// statement (and a guard) read the registers before they set any.
    fn konst(&self, e: &Expr) -> Option<u64> {
        match e {
            Expr::Const(v) => Some(*v),
            Expr::Field(i) => Some(self.isa.formats[self.f].fields[*i].extract(self.word)),
            Expr::Reg(r) => psw_reg(self.psw, *r),
            _ => None,
        }
    }

    /// `E[k]` with a fixed `k`.
    fn mem_at(&self, e: &Expr) -> Option<u64> {
        match e {
            Expr::Load(Space::Relocated, a) => self.konst(a),
            _ => None,
        }
    }
}

/// Word-valued operators an op evaluates with both operands (not the short-circuiting ones).
fn word_op(op: BinOp) -> bool {
    !matches!(op, BinOp::LogicalAnd | BinOp::LogicalOr)
}

/// The shapes of a body: at most one guard `if E[a] op k { trap; }`, then one effect (or a
/// `jal`-like link and jump). `None` when the body has another shape.
fn shape(w: &Word, body: &[Stmt]) -> Option<[Option<Shape>; 2]> {
    let k = |e: &Expr| w.konst(e);
    let m = |e: &Expr| w.mem_at(e);
    match body {
        [Stmt::If(Expr::Binary(op, x, y), then, els), rest @ ..]
            if els.is_empty() && word_op(*op) && matches!(then.as_slice(), [Stmt::Trap(_)]) =>
        {
            let [Stmt::Trap(cause)] = then.as_slice() else {
                return None;
            };
            let (a, kv) = (m(x)?, k(y)?);
            let guard = Shape::TrapIf(*op, a, kv, TrapKind::from(*cause));
            match rest {
                [] => Some([Some(guard), None]),
                [s] => Some([Some(guard), Some(one(w, s)?)]),
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
        ] => Some([Some(Shape::Jal(k(addr)?, k(t)? & REG_MAX)), None]),
        [s] => Some([Some(one(w, s)?), None]),
        _ => None,
    }
}

/// The shape of one statement.
fn one(w: &Word, stmt: &Stmt) -> Option<Shape> {
    let k = |e: &Expr| w.konst(e);
    let m = |e: &Expr| w.mem_at(e);
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
                Some(Shape::Jump(t & REG_MAX))
            } else {
                m(t).map(Shape::JumpInd)
            }
        }
        Stmt::If(Expr::Binary(op, x, y), then, els) if els.is_empty() && word_op(*op) => {
            match then.as_slice() {
                [Stmt::Set(Reg::P, t)] => Some(Shape::Branch(*op, m(x)?, k(y)?, k(t)? & REG_MAX)),
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
