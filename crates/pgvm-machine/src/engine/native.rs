//! The block engine's native tier: a block that loops on itself (the head), and the blocks
//! its side exits lead to (detours, such as the other arm of an `if` in the loop's body),
//! lowered from their ops into native code through [`pgvm_native::Emitter`], and the code's
//! exits read back as the safe loop's [`Out`]. Each op becomes what `exec` does for it, in the
//! same order (the operands, the operation, the store, then the code-map test), so the two
//! agree op by op; the engine tests run random programs through both and the reference
//! interpreter.
//!
//! The head's exits are the ones `exec` gives for the head, and the stretch counts them as
//! it counts the head's. A detour runs only when the room holds all of it; its exits count
//! the room themselves and name the next `P` ([`Out::Jumped`]), and when it ends by jumping
//! to the head's start, the code goes round again while the room holds a whole lap.
//!
//! All of this is safe code: the unsafe part, and the argument for it, is `pgvm-native`'s.

use pgvm_isa::BinOp;
use pgvm_native::{Arg, Emitter, Exit, Label, Left, Native, PINS, Reg, has_native_form};

use super::block::Out;
use super::block_ops::{Op, Span};
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
/// From a detour: the room is counted; flow goes on at `b`, after invalidating word `a`
/// unless it is [`NO_WORD`].
const JUMPED: u32 = 7;
/// From a detour's indirect jump: flow goes on at `a`.
const JUMPED_TO: u32 = 8;

/// [`JUMPED`]'s `a` when no word is to be invalidated.
const NO_WORD: u64 = u64::MAX;

/// The window and machine the code is made for.
pub(super) struct Frame {
    pub(super) l: u64,
    pub(super) lim: u64,
    pub(super) words: u64,
}

/// A block to lower: its ops, their spans, its start and its end (apparent).
#[derive(Clone, Copy)]
pub(super) struct Part<'a> {
    pub(super) ops: &'a [Op],
    pub(super) spans: &'a [Span],
    pub(super) p0: u64,
    pub(super) end: u64,
}

impl Part<'_> {
    fn len(&self) -> u64 {
        self.end - self.p0
    }

    /// Where the instruction of op `i` starts, and where it ends, counted from the start.
    fn span(&self, i: usize) -> (u64, u64) {
        self.spans
            .get(i)
            .map_or((0, 0), |s| (u64::from(s.at), u64::from(s.ends)))
    }
}

/// How a block's exits are made: the head's, or a detour's of a head of `head_len`
/// instructions at `head`.
#[derive(Clone, Copy)]
enum Role {
    Head,
    Detour { head: u64, head_len: u64 },
}

fn exit(kind: u32, a: Arg, b: u64) -> Exit {
    Exit {
        kind,
        a,
        b,
        done: 0,
    }
}

/// From a detour: `done` instructions of it ran, and flow goes on at `p`, after invalidating
/// word `a` (or not, [`NO_WORD`]).
fn jumped(a: Arg, p: u64, done: u64) -> Exit {
    Exit {
        kind: JUMPED,
        a,
        b: p,
        done,
    }
}

/// Native code for a looping block `head` and the detours its side exits lead to (each
/// with the index of its side-exit op in the head), or `None` when an op has no native form
/// (division) or the host has no native code.
pub(super) fn emit(head: Part, detours: &[(usize, Part)], f: &Frame) -> Option<Native> {
    let ops = head
        .ops
        .iter()
        .chain(detours.iter().flat_map(|(_, d)| d.ops));
    let mut e = Emitter::new(f.words, f.l, f.lim, &most_read(ops)).ok()?;
    let labels: Vec<(usize, Label)> = detours.iter().map(|&(i, _)| (i, e.label())).collect();
    lower(&mut e, head, Role::Head, &labels);
    let role = Role::Detour {
        head: head.p0,
        head_len: head.len(),
    };
    for (&(i, d), &(_, label)) in detours.iter().zip(&labels) {
        e.bind(label);
        // The side exit as it is without the detour, unless the room holds the head up to
        // the side exit and the whole detour.
        let (_, ends) = head.span(i);
        let target = d.p0;
        e.exit_if_room_below(ends + d.len(), exit(SIDE, Arg::Const(target), i as u64));
        e.take_room(ends);
        lower(&mut e, d, role, &[]);
    }
    e.finish().ok()
}

/// Lowers `part`'s ops in role `role`; a side exit of op `i` with a label in `detours` goes
/// on at that label.
fn lower(e: &mut Emitter, part: Part, role: Role, detours: &[(usize, Label)]) {
    let at = |i: usize| i as u64;
    let detour = |i: usize| detours.iter().find(|&&(j, _)| j == i).map(|&(_, l)| l);
    // Flow to `t` once the whole block ran.
    let goto = |e: &mut Emitter, t: u64| match role {
        Role::Head => {
            let next = exit(NEXT, Arg::Const(t), 0);
            if t == part.p0 {
                e.lap(part.len(), next);
            } else {
                e.exit(next);
            }
        }
        Role::Detour { head, head_len } if t == head => {
            e.take_room(part.len());
            e.exit_if_room_below(head_len, jumped(Arg::Const(NO_WORD), head, 0));
            e.restart();
        }
        Role::Detour { .. } => e.exit(jumped(Arg::Const(NO_WORD), t, part.len())),
    };
    // Past the block's end, not taking its terminator's branch.
    let fall = |e: &mut Emitter, nonzero: bool| match role {
        Role::Head => e.exit_if(nonzero, exit(NEXT, Arg::Const(part.end), 1)),
        Role::Detour { .. } => {
            let past = e.label();
            e.jump_if(!nonzero, past);
            goto(e, part.end);
            e.bind(past);
        }
    };
    // The op's instruction is to run through the stretch: a trap, a stop, an effect.
    let leave = |i: usize, kind: u32| match role {
        Role::Head => exit(kind, Arg::Const(0), at(i)),
        Role::Detour { .. } => {
            let (start, _) = part.span(i);
            jumped(Arg::Const(NO_WORD), part.p0 + start, start)
        }
    };
    // A store of op `i` (the first of a fused pair, with `pair`) hit code word `a`.
    let code_write = |i: usize, a: Arg, pair: bool| match role {
        Role::Head => exit(CODE_WRITE, a, at(i) | u64::from(pair) << 32),
        Role::Detour { .. } => {
            let (start, ends) = part.span(i);
            let done = if pair { start + 1 } else { ends };
            jumped(a, part.p0 + done, done)
        }
    };
    let stored = |e: &mut Emitter, a: u32, i: usize, pair: bool| {
        e.store(u64::from(a), Reg::A);
        e.exit_if_code(u64::from(a), code_write(i, Arg::Const(u64::from(a)), pair));
    };
    // A side exit of op `i` to `t`, taken when `A` is non-zero (`nonzero`) or zero.
    let side = |e: &mut Emitter, i: usize, nonzero: bool, t: u64| match (role, detour(i)) {
        (Role::Head, Some(label)) => e.jump_if(nonzero, label),
        (Role::Head, None) => e.exit_if(nonzero, exit(SIDE, Arg::Const(t), at(i))),
        (Role::Detour { .. }, _) => {
            let (_, ends) = part.span(i);
            e.exit_if(nonzero, jumped(Arg::Const(NO_WORD), t, ends));
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
    for (i, &op) in part.ops.iter().enumerate() {
        if let Some((bop, a, b, c)) = op.three() {
            bin(e, bop, b, Some(c), 0);
            stored(e, a, i, false);
            continue;
        }
        match op {
            Op::AddK(a, b, k) => {
                bin(e, BinOp::Add, b, None, k);
                stored(e, a, i, false);
            }
            Op::BinK(op, a, b, k) => {
                bin(e, op, b, None, k);
                stored(e, a, i, false);
            }
            Op::Set(a, k) => {
                e.konst(Reg::A, k);
                stored(e, a, i, false);
            }
            Op::Mov(a, b) => {
                e.load(Reg::A, u64::from(b));
                stored(e, a, i, false);
            }
            Op::LoadX(a, b, c) => {
                bin(e, BinOp::Add, b, Some(c), 0);
                e.window(leave(i, TRAP));
                e.load_window(Reg::A);
                stored(e, a, i, false);
            }
            Op::StoreX(a, b, c) => {
                bin(e, BinOp::Add, b, Some(c), 0);
                e.window(leave(i, TRAP));
                e.load(Reg::C, u64::from(a));
                e.store_window(Reg::C);
                e.exit_if_code_window(code_write(i, Arg::Window, false));
            }
            Op::TrapIfZero(a, _) => {
                e.load(Reg::A, u64::from(a));
                e.exit_if(false, leave(i, TRAP));
            }
            Op::TrapIf(op, a, k, _) => {
                bin(e, op, a, None, k);
                e.exit_if(true, leave(i, TRAP));
            }
            Op::SideNz(a, t) | Op::SideZ(a, t) => {
                e.load(Reg::A, u64::from(a));
                side(e, i, matches!(op, Op::SideNz(..)), t);
            }
            Op::SideIf(op, a, k, t) => {
                bin(e, op, a, None, k);
                side(e, i, true, t);
            }
            Op::SideCmp(cmp, a, b, c, nz, t) => {
                bin(e, cmp.op(), b, Some(c), 0);
                stored(e, a, i, true);
                side(e, i, nz, t);
            }
            Op::Jump(t) => return goto(e, t),
            Op::BranchNz(a, t) | Op::BranchZ(a, t) => {
                e.load(Reg::A, u64::from(a));
                fall(e, matches!(op, Op::BranchZ(..)));
                return goto(e, t);
            }
            Op::Branch(op, a, k, t) => {
                bin(e, op, a, None, k);
                fall(e, false);
                return goto(e, t);
            }
            Op::AddKBranchNz(a, b, k, t) | Op::AddKBranchZ(a, b, k, t) => {
                bin(e, BinOp::Add, b, None, k);
                stored(e, a, i, true);
                fall(e, matches!(op, Op::AddKBranchZ(..)));
                return goto(e, t);
            }
            Op::CmpBranch(cmp, a, b, c, nz, t) => {
                bin(e, cmp.op(), b, Some(c), 0);
                stored(e, a, i, true);
                // The comparison's result is 0 or 1: flow falls through when it is not `nz`.
                fall(e, !nz);
                return goto(e, t);
            }
            Op::JumpInd(a) => {
                e.load(Reg::A, u64::from(a));
                e.konst(Reg::B, REG_MAX);
                e.alu(BinOp::And);
                let to = match role {
                    Role::Head => exit(NEXT, Arg::A, 0),
                    Role::Detour { .. } => Exit {
                        kind: JUMPED_TO,
                        a: Arg::A,
                        b: 0,
                        done: part.len(),
                    },
                };
                return e.exit(to);
            }
            Op::Jal(a, t) => {
                e.konst(Reg::A, part.end);
                e.store(u64::from(a), Reg::A);
                let cw = match role {
                    Role::Head => exit(CODE_WRITE_JUMP, Arg::Const(u64::from(a)), t),
                    Role::Detour { .. } => jumped(Arg::Const(u64::from(a)), t, part.len()),
                };
                e.exit_if_code(u64::from(a), cw);
                return goto(e, t);
            }
            Op::SetReg(..)
            | Op::Out(..)
            | Op::Timer(..)
            | Op::Trap(..)
            | Op::Halt
            | Op::Generic(..) => return e.exit(leave(i, STOP)),
            Op::Fall => {
                fall(e, true);
                return goto(e, part.end);
            }
            // The three-address ops, above.
            _ => {}
        }
    }
    // The ops ran out without a terminator (never for a block that runs whole).
    match role {
        Role::Head => e.exit(exit(CUT, Arg::Const(0), 0)),
        Role::Detour { .. } => goto(e, part.end),
    }
}

/// Whether every op of `ops` has a native form ([`pgvm_native::has_native_form`]). A
/// detour is taken in only then, so that one without leaves its head native code of its own.
pub(super) fn lowerable(ops: &[Op]) -> bool {
    ops.iter().all(|&op| {
        let bin = match op {
            Op::BinK(b, ..) | Op::TrapIf(b, ..) | Op::SideIf(b, ..) | Op::Branch(b, ..) => Some(b),
            op => op.three().map(|(b, ..)| b),
        };
        bin.is_none_or(has_native_form)
    })
}

/// The fixed words the ops read most, most first, at most [`PINS`]: the ones worth a
/// register ([`Emitter::new`]).
fn most_read<'a>(ops: impl Iterator<Item = &'a Op>) -> Vec<u64> {
    let mut reads: Vec<(u32, usize)> = Vec::new();
    for a in ops.flat_map(|op| op.reads()).flatten() {
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

/// What the native code's exit `left` means for the head's ops `ops`, as `exec` would have
/// said it (or, from a detour, where flow goes on).
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
        JUMPED => Out::Jumped(left.b, (left.a != NO_WORD).then_some(left.a)),
        JUMPED_TO => Out::Jumped(left.a, None),
        // `CUT`, the only other kind `emit` makes.
        _ => Out::Cut,
    }
}
