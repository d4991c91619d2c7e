//! The block engine's ops, and the pairs fused into one op. How an instruction becomes ops
//! is [`super::shape`]; what runs them is [`super::block`].

use pgvm_isa::ops::Compare;
use pgvm_isa::{BinOp, InsnId, Reg};

use crate::exec::TrapKind;

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
    /// A three-address op (`E[a] = E[b] op E[c]`) as its operator and operands.
    pub(super) fn three(self) -> Option<(BinOp, Pa, Pa, Pa)> {
        Some(match self {
            Op::Add(a, b, c) => (BinOp::Add, a, b, c),
            Op::Sub(a, b, c) => (BinOp::Sub, a, b, c),
            Op::Mul(a, b, c) => (BinOp::Mul, a, b, c),
            Op::Div(a, b, c) => (BinOp::Div, a, b, c),
            Op::Rem(a, b, c) => (BinOp::Rem, a, b, c),
            Op::And(a, b, c) => (BinOp::And, a, b, c),
            Op::Or(a, b, c) => (BinOp::Or, a, b, c),
            Op::Xor(a, b, c) => (BinOp::Xor, a, b, c),
            Op::Shl(a, b, c) => (BinOp::Shl, a, b, c),
            Op::Shr(a, b, c) => (BinOp::Shr, a, b, c),
            Op::Sar(a, b, c) => (BinOp::Sar, a, b, c),
            Op::Eq(a, b, c) => (BinOp::Eq, a, b, c),
            Op::Ne(a, b, c) => (BinOp::Ne, a, b, c),
            Op::Lt(a, b, c) => (BinOp::Lt, a, b, c),
            Op::Le(a, b, c) => (BinOp::Le, a, b, c),
            Op::Gt(a, b, c) => (BinOp::Gt, a, b, c),
            Op::Ge(a, b, c) => (BinOp::Ge, a, b, c),
            Op::Lts(a, b, c) => (BinOp::Lts, a, b, c),
            Op::Les(a, b, c) => (BinOp::Les, a, b, c),
            _ => return None,
        })
    }

    /// The fixed words the op reads (its operands' cells, not a word an index develops).
    pub(super) fn reads(self) -> [Option<Pa>; 3] {
        match self {
            Op::AddK(_, b, _)
            | Op::BinK(_, _, b, _)
            | Op::Mov(_, b)
            | Op::AddKBranchNz(_, b, ..)
            | Op::AddKBranchZ(_, b, ..) => [Some(b), None, None],
            Op::LoadX(_, b, c) | Op::SideCmp(_, _, b, c, ..) | Op::CmpBranch(_, _, b, c, ..) => {
                [Some(b), Some(c), None]
            }
            Op::StoreX(a, b, c) => [Some(b), Some(c), Some(a)],
            Op::TrapIf(_, a, ..)
            | Op::TrapIfZero(a, _)
            | Op::SideNz(a, _)
            | Op::SideZ(a, _)
            | Op::SideIf(_, a, ..)
            | Op::BranchNz(a, _)
            | Op::BranchZ(a, _)
            | Op::Branch(_, a, ..)
            | Op::JumpInd(a)
            | Op::SetReg(_, a)
            | Op::Out(a)
            | Op::Timer(a) => [Some(a), None, None],
            op => match op.three() {
                Some((_, _, b, c)) => [Some(b), Some(c), None],
                None => [None; 3],
            },
        }
    }

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
            // A comparison (`Compare::of` refuses any other operator).
            let (op, a, b, c) = prev.three()?;
            let (nz, x, t) = match branch {
                Op::BranchNz(x, t) => (true, x, t),
                Op::BranchZ(x, t) => (false, x, t),
                _ => return None,
            };
            (x == a).then_some(Op::CmpBranch(Compare::of(op)?, a, b, c, nz, t))
        }
    }
}
