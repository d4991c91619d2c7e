//! How an instruction becomes block ops: its body's shape ([`pgvm_isa::shape`], matched once
//! when the description was loaded), lowered for each copy a block compiles: the word's
//! fields read and the addresses developed for the block's window and mode.

use pgvm_isa::shape::{BodyShape, Shape, Val};
use pgvm_isa::{BinOp, InsnId, Isa, Mode};

use super::block_ops::{Op, Pa};
use crate::exec::{TrapKind, psw_reg};
use crate::psw::{Psw, REG_MAX};

/// The value of `v` for instruction word `word` of format `f` in a block whose PSW, as the
/// body reads it, is `psw`.
#[inline(always)]
pub(crate) fn value(isa: &Isa, f: usize, v: Val, word: u64, psw: Psw) -> u64 {
    match v {
        Val::Const(k) => k,
        Val::Field(i) => isa
            .formats
            .get(f)
            .and_then(|f| f.fields.get(i))
            .map_or(0, |field| field.extract(word)),
        // The match never makes a `Val` of the assist bit.
        Val::Reg(r) => psw_reg(psw, r).unwrap_or(0),
    }
}

/// Shape `s` for one word and PSW. A jump target is an address: it keeps `P`'s bits.
fn at(isa: &Isa, f: usize, s: Shape, word: u64, psw: Psw) -> Shape<u64> {
    let v = |x: Val| value(isa, f, x, word, psw);
    let t = |x: Val| value(isa, f, x, word, psw) & REG_MAX;
    match s {
        Shape::Bin(op, a, b, c) => Shape::Bin(op, v(a), v(b), v(c)),
        Shape::BinK(op, a, b, k) => Shape::BinK(op, v(a), v(b), v(k)),
        Shape::Set(a, k) => Shape::Set(v(a), v(k)),
        Shape::Mov(a, b) => Shape::Mov(v(a), v(b)),
        Shape::LoadX(a, b, c) => Shape::LoadX(v(a), v(b), v(c)),
        Shape::StoreX(a, b, c) => Shape::StoreX(v(a), v(b), v(c)),
        Shape::TrapIf(op, a, k, cause) => Shape::TrapIf(op, v(a), v(k), cause),
        Shape::Jump(x) => Shape::Jump(t(x)),
        Shape::Branch(op, a, k, x) => Shape::Branch(op, v(a), v(k), t(x)),
        Shape::JumpInd(a) => Shape::JumpInd(v(a)),
        Shape::Jal(a, x) => Shape::Jal(v(a), t(x)),
        Shape::SetReg(r, a) => Shape::SetReg(r, v(a)),
        Shape::Out(a) => Shape::Out(v(a)),
        Shape::Timer(a) => Shape::Timer(v(a)),
        Shape::Trap(cause) => Shape::Trap(cause),
        Shape::Halt => Shape::Halt,
    }
}

/// The op of shape `s`, or `None` when an address is outside the window (a memory trap).
fn lower_one(s: Shape<u64>, dev: &dyn Fn(u64) -> Option<Pa>) -> Option<Op> {
    Some(match s {
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
        Shape::TrapIf(BinOp::Eq, a, 0, cause) => Op::TrapIfZero(dev(a)?, cause.into()),
        Shape::TrapIf(op, a, k, cause) => Op::TrapIf(op, dev(a)?, k, cause.into()),
        Shape::Jump(t) => Op::Jump(t),
        Shape::Branch(BinOp::Ne, a, 0, t) => Op::BranchNz(dev(a)?, t),
        Shape::Branch(BinOp::Eq, a, 0, t) => Op::BranchZ(dev(a)?, t),
        Shape::Branch(op, a, k, t) => Op::Branch(op, dev(a)?, k, t),
        Shape::JumpInd(a) => Op::JumpInd(dev(a)?),
        Shape::Jal(a, t) => Op::Jal(dev(a)?, t),
        Shape::SetReg(r, a) => Op::SetReg(r, dev(a)?),
        Shape::Out(a) => Op::Out(dev(a)?),
        Shape::Timer(a) => Op::Timer(dev(a)?),
        Shape::Trap(cause) => Op::Trap(cause.into()),
        Shape::Halt => Op::Halt,
    })
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

/// The ops of instruction `id` (body shape `t`, word `word`) for a window developed by `dev`,
/// in a block whose PSW, as the body reads it, is `psw` (`P` already past the instruction):
/// the block's mode and `R` are fixed, so a read of a PSW register is a constant. Traps that
/// do not depend on memory are decided here.
pub(super) fn lower(
    isa: &Isa,
    t: &BodyShape,
    id: InsnId,
    word: u64,
    psw: Psw,
    dev: &dyn Fn(u64) -> Option<Pa>,
) -> InsnOps {
    if let Some(cause) = t.user_trap
        && psw.mode == Mode::User
    {
        return InsnOps::one(Op::Trap(cause.into()));
    }
    let Some(shapes) = t.shapes else {
        return InsnOps::one(Op::Generic(id));
    };
    let f = isa.insns.get(id).map_or(0, |i| i.format);
    let mut ops = InsnOps {
        ops: [Op::Fall; 2],
        n: 0,
    };
    for s in shapes.into_iter().flatten() {
        // An address outside the window traps: the instruction is blocked there.
        let Some(op) = lower_one(at(isa, f, s, word, psw), dev) else {
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
