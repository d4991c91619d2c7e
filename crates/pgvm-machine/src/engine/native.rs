//! The block engine's native tier: a block that loops on itself, lowered from its ops into
//! native code through [`pgvm_native::Emitter`], and the code's exits read back as the safe
//! loop's [`Out`]. Each op becomes what `exec` does for it, in the same order (the operands,
//! the operation, the store, then the code-map test), so the two agree op by op; the engine
//! tests run random programs through both and the reference interpreter.
//!
//! All of this is safe code: the unsafe part, and the argument for it, is `pgvm-native`'s.

use pgvm_isa::BinOp;
use pgvm_native::{Arg, Emitter, Exit, Left, Native, PINS, Reg};

use super::block::Out;
use super::block_ops::Op;
use crate::exec::TrapKind;
use crate::psw::REG_MAX;

/// The exits' kinds, as [`out`] reads them back.
const NEXT: u32 = 0;
const SIDE: u32 = 1;
const TRAP: u32 = 2;
const STOP: u32 = 3;
const CODE_WRITE: u32 = 4;
const CODE_WRITE_JUMP: u32 = 5;
const CUT: u32 = 6;

/// Where a block sits: its start, its end (apparent) and its window, for a machine of
/// `words` words.
pub(super) struct Frame {
    pub(super) p0: u64,
    pub(super) end: u64,
    pub(super) l: u64,
    pub(super) lim: u64,
    pub(super) words: u64,
}

fn exit(kind: u32, a: Arg, b: u64) -> Exit {
    Exit { kind, a, b }
}

/// Native code for the ops of a block that laps (its terminator may jump to its own start),
/// or `None` when an op has no native form (division) or the host has no native code.
pub(super) fn emit(ops: &[Op], f: &Frame) -> Option<Native> {
    let mut e = Emitter::new(f.words, f.l, f.lim, &most_read(ops)).ok()?;
    let len = f.end - f.p0;
    let at = |i: usize| i as u64;
    // A store of a single instruction's op, or of the first of a fused pair, to fixed `a`.
    let stored = |e: &mut Emitter, a: u32, i: usize, pair: bool| {
        e.store(u64::from(a), Reg::A);
        let b = at(i) | u64::from(pair) << 32;
        e.exit_if_code(u64::from(a), exit(CODE_WRITE, Arg::Const(u64::from(a)), b));
    };
    // Flow to `t` through exit 0: round again when it is the block's start.
    let goto = |e: &mut Emitter, t: u64| {
        let next = exit(NEXT, Arg::Const(t), 0);
        if t == f.p0 {
            e.lap(len, next)
        } else {
            e.exit(next)
        }
    };
    // `A = E[b] op E[c]` or `A = E[b] op k`.
    let bin = |e: &mut Emitter, op: BinOp, b: u32, c: Option<u32>, k: u64| {
        e.load(Reg::A, u64::from(b));
        match c {
            Some(c) => e.load(Reg::B, u64::from(c)),
            None => e.konst(Reg::B, k),
        }
        e.alu(op);
    };
    let fall = exit(NEXT, Arg::Const(f.end), 1);
    for (i, &op) in ops.iter().enumerate() {
        let trap = exit(TRAP, Arg::Const(0), at(i));
        let side = |t: u64| exit(SIDE, Arg::Const(t), at(i));
        if let Some((bop, a, b, c)) = op.three() {
            bin(&mut e, bop, b, Some(c), 0);
            stored(&mut e, a, i, false);
            continue;
        }
        match op {
            Op::AddK(a, b, k) => {
                bin(&mut e, BinOp::Add, b, None, k);
                stored(&mut e, a, i, false);
            }
            Op::BinK(op, a, b, k) => {
                bin(&mut e, op, b, None, k);
                stored(&mut e, a, i, false);
            }
            Op::Set(a, k) => {
                e.konst(Reg::A, k);
                stored(&mut e, a, i, false);
            }
            Op::Mov(a, b) => {
                e.load(Reg::A, u64::from(b));
                stored(&mut e, a, i, false);
            }
            Op::LoadX(a, b, c) => {
                bin(&mut e, BinOp::Add, b, Some(c), 0);
                e.window(trap);
                e.load_window(Reg::A);
                stored(&mut e, a, i, false);
            }
            Op::StoreX(a, b, c) => {
                bin(&mut e, BinOp::Add, b, Some(c), 0);
                e.window(trap);
                e.load(Reg::C, u64::from(a));
                e.store_window(Reg::C);
                e.exit_if_code_window(exit(CODE_WRITE, Arg::Window, at(i)));
            }
            Op::TrapIfZero(a, _) => {
                e.load(Reg::A, u64::from(a));
                e.exit_if(false, trap);
            }
            Op::TrapIf(op, a, k, _) => {
                bin(&mut e, op, a, None, k);
                e.exit_if(true, trap);
            }
            Op::SideNz(a, t) => {
                e.load(Reg::A, u64::from(a));
                e.exit_if(true, side(t));
            }
            Op::SideZ(a, t) => {
                e.load(Reg::A, u64::from(a));
                e.exit_if(false, side(t));
            }
            Op::SideIf(op, a, k, t) => {
                bin(&mut e, op, a, None, k);
                e.exit_if(true, side(t));
            }
            Op::SideCmp(cmp, a, b, c, nz, t) => {
                bin(&mut e, cmp.op(), b, Some(c), 0);
                stored(&mut e, a, i, true);
                e.exit_if(nz, side(t));
            }
            Op::Jump(t) => {
                goto(&mut e, t);
                return e.finish().ok();
            }
            Op::BranchNz(a, t) | Op::BranchZ(a, t) => {
                e.load(Reg::A, u64::from(a));
                e.exit_if(matches!(op, Op::BranchZ(..)), fall);
                goto(&mut e, t);
                return e.finish().ok();
            }
            Op::Branch(op, a, k, t) => {
                bin(&mut e, op, a, None, k);
                e.exit_if(false, fall);
                goto(&mut e, t);
                return e.finish().ok();
            }
            Op::AddKBranchNz(a, b, k, t) | Op::AddKBranchZ(a, b, k, t) => {
                bin(&mut e, BinOp::Add, b, None, k);
                stored(&mut e, a, i, true);
                e.exit_if(matches!(op, Op::AddKBranchZ(..)), fall);
                goto(&mut e, t);
                return e.finish().ok();
            }
            Op::CmpBranch(cmp, a, b, c, nz, t) => {
                bin(&mut e, cmp.op(), b, Some(c), 0);
                stored(&mut e, a, i, true);
                // The comparison's result is 0 or 1: flow falls through when it is not `nz`.
                e.exit_if(!nz, fall);
                goto(&mut e, t);
                return e.finish().ok();
            }
            Op::JumpInd(a) => {
                e.load(Reg::A, u64::from(a));
                e.konst(Reg::B, REG_MAX);
                e.alu(BinOp::And);
                e.exit(exit(NEXT, Arg::A, 0));
                return e.finish().ok();
            }
            Op::Jal(a, t) => {
                e.konst(Reg::A, f.end);
                e.store(u64::from(a), Reg::A);
                let cw = exit(CODE_WRITE_JUMP, Arg::Const(u64::from(a)), t);
                e.exit_if_code(u64::from(a), cw);
                goto(&mut e, t);
                return e.finish().ok();
            }
            Op::SetReg(..)
            | Op::Out(..)
            | Op::Timer(..)
            | Op::Trap(..)
            | Op::Halt
            | Op::Generic(..) => {
                e.exit(exit(STOP, Arg::Const(0), at(i)));
                return e.finish().ok();
            }
            Op::Fall => {
                e.exit(fall);
                return e.finish().ok();
            }
            // The three-address ops, above.
            _ => {}
        }
    }
    e.exit(exit(CUT, Arg::Const(0), 0));
    e.finish().ok()
}

/// The fixed words the ops read most, most first, at most [`PINS`]: the ones worth a
/// register ([`Emitter::new`]).
fn most_read(ops: &[Op]) -> Vec<u64> {
    let mut reads: Vec<(u32, usize)> = Vec::new();
    for a in ops.iter().flat_map(|op| op.reads()).flatten() {
        match reads.iter_mut().find(|(c, _)| *c == a) {
            Some((_, n)) => *n += 1,
            None => reads.push((a, 1)),
        }
    }
    reads.sort_by_key(|&(c, n)| (std::cmp::Reverse(n), c));
    reads
        .into_iter()
        .take(PINS)
        .map(|(c, _)| u64::from(c))
        .collect()
}

/// What the native code's exit `left` means for the block's ops `ops`, as `exec` would have
/// said it.
pub(super) fn out(left: Left, ops: &[Op], end: u64) -> Out {
    let i = left.b as usize;
    let op = ops.get(i).copied().unwrap_or(Op::Fall);
    match left.kind {
        NEXT => Out::Next(left.a, left.b as usize),
        SIDE => Out::Side(left.a, i),
        TRAP => match op {
            Op::TrapIf(.., kind) | Op::TrapIfZero(_, kind) => Out::Trap(kind, i),
            _ => Out::Trap(TrapKind::Memory, i),
        },
        STOP => match op {
            Op::Trap(kind) => Out::Trap(kind, i),
            Op::Halt => Out::Halt(i),
            Op::Generic(id) => Out::Generic(i, id),
            Op::Fall => Out::Next(end, 1),
            _ => Out::Effect(i),
        },
        CODE_WRITE => Out::CodeWrite(left.a, (left.b & 0xffff_ffff) as usize, left.b >> 32 != 0),
        CODE_WRITE_JUMP => Out::CodeWriteJump(left.a, left.b),
        // `CUT`, the only other kind `emit` makes.
        _ => Out::Cut,
    }
}
