//! The block engine's native tier: a region of blocks lowered from their ops into native code
//! through [`pgvm_native::Emitter`], and the code's exits read back as the safe loop's
//! [`Out`]. The region is a hot block (the head) and the blocks its links lead to that lead
//! back to it: the loop's other blocks, such as the other arm of an `if` in its body, or a
//! call and the routine's return. Flow from one of them to another stays in the code; flow
//! anywhere else leaves it. Each op becomes what `exec` does for it, in the same order (the
//! operands, the operation, the store, then the code-map test), so the two agree op by op; the
//! engine tests run random programs through both and the reference interpreter.
//!
//! The head's exits are the ones `exec` gives for the head, and the stretch counts them as it
//! counts the head's. Another block runs only when the room holds all of it; its exits count
//! the room themselves and name the next `P` ([`Out::Jumped`]), and flow back to the head's
//! start goes round again while the room holds the head. An indirect jump stays in the code
//! only to the target it last went to, which the code compares with the one it computes.
//!
//! All of this is safe code: the unsafe part, and the argument for it, is `pgvm-native`'s.

use pgvm_isa::BinOp;
use pgvm_native::{Arg, Emitter, Exit, Label, Left, Native, PINS, Reg, has_native_form};

use super::block::{Out, Stop};
use super::block_ops::{Op, Span};
use crate::exec::TrapKind;
use crate::psw::REG_MAX;

/// The exits' kinds, as [`Code::out`] reads them back.
const NEXT: u32 = 0;
const SIDE: u32 = 1;
/// At an instruction the stretch carries out ([`Stop`]): the code's stop `a`, at `P = b`,
/// the room counted up to it.
const AT: u32 = 3;
const CODE_WRITE: u32 = 4;
const CODE_WRITE_JUMP: u32 = 5;
const CUT: u32 = 6;
/// From a block other than the head: the room is counted; flow goes on at `b`, after
/// invalidating word `a` unless it is [`NO_WORD`].
const JUMPED: u32 = 7;
/// From another block's indirect jump: flow goes on at `a`.
const JUMPED_TO: u32 = 8;

/// [`JUMPED`]'s `a` when no word is to be invalidated.
const NO_WORD: u64 = u64::MAX;

/// The window and machine the code is made for.
pub(super) struct Frame {
    pub(super) l: u64,
    pub(super) lim: u64,
    pub(super) words: u64,
}

/// A block to lower: its ops, their spans, its start and its end (apparent), and where its
/// indirect jump, if it ends in one, last went.
#[derive(Clone, Copy)]
pub(super) struct Part<'a> {
    pub(super) ops: &'a [Op],
    pub(super) spans: &'a [Span],
    pub(super) p0: u64,
    pub(super) end: u64,
    pub(super) guess: Option<u64>,
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

fn exit(kind: u32, a: Arg, b: u64) -> Exit {
    Exit {
        kind,
        a,
        b,
        done: 0,
    }
}

/// From a block other than the head: `done` instructions of it ran, and flow goes on at `p`,
/// after invalidating word `a` (or not, [`NO_WORD`]).
fn jumped(a: Arg, p: u64, done: u64) -> Exit {
    Exit {
        kind: JUMPED,
        a,
        b: p,
        done,
    }
}

/// A region's native code, and the instructions its exits stop at.
#[derive(Debug, Clone)]
pub(super) struct Code {
    native: Native,
    stops: Box<[(Stop, Op)]>,
}

impl Code {
    /// Runs the code (see [`Native::run`]) and says where it left as the stretch's [`Out`],
    /// with the room left.
    #[inline(always)]
    pub(super) fn run(&self, mem: &mut [u64], code: &[u8], room: u64) -> Option<(u64, Out)> {
        let left = self.native.run(mem, code, room).ok()?;
        Some((left.room, self.out(left)))
    }

    /// Stop `k` of the code ([`Out::At`]), and its op.
    #[inline(always)]
    pub(super) fn stop(&self, k: u32) -> Option<(Stop, Op)> {
        self.stops.get(k as usize).copied()
    }

    /// What exit `left` means, as `exec` would have said it for the head (or, from another
    /// block, where flow goes on).
    fn out(&self, left: Left) -> Out {
        match left.kind {
            NEXT => Out::Next(left.a, left.b as usize),
            SIDE => Out::Side(left.a, left.b as usize),
            AT => Out::At(left.b, left.a as u32),
            CODE_WRITE => {
                Out::CodeWrite(left.a, (left.b & 0xffff_ffff) as usize, left.b >> 32 != 0)
            }
            CODE_WRITE_JUMP => Out::CodeWriteJump(left.a, left.b),
            JUMPED => Out::Jumped(left.b, (left.a != NO_WORD).then_some(left.a)),
            JUMPED_TO => Out::Jumped(left.a, None),
            // `CUT`, the only other kind `emit` makes.
            _ => Out::Cut,
        }
    }
}

/// Native code for region `parts`, the head first, or `None` when an op has no native form
/// or the host has no native code.
pub(super) fn emit(parts: &[Part], f: &Frame) -> Option<Code> {
    let mut e = Emitter::new(
        f.words,
        f.l,
        f.lim,
        &most_read(parts.iter().flat_map(|p| p.ops)),
    )
    .ok()?;
    let labels = (0..parts.len())
        .map(|i| (i > 0).then(|| e.label()))
        .collect();
    let mut r = Region {
        parts,
        labels,
        stubs: Vec::new(),
        stops: Vec::new(),
    };
    for i in 0..parts.len() {
        if let Some(&Some(l)) = r.labels.get(i) {
            e.bind(l);
        }
        lower(&mut e, &mut r, i);
    }
    // The conditional transfers, each after a label of its own.
    while let Some(Stub {
        label,
        from,
        done,
        t,
        away,
    }) = r.stubs.pop()
    {
        e.bind(label);
        r.transfer(&mut e, from, done, t, away);
    }
    let native = e.finish().ok()?;
    Some(Code {
        native,
        stops: r.stops.into(),
    })
}

/// The blocks being lowered, and the transfers between them still to emit.
struct Region<'a> {
    parts: &'a [Part<'a>],
    /// Each block's label, but the head's, which is the code's start.
    labels: Vec<Option<Label>>,
    stubs: Vec<Stub>,
    /// The instructions the exits stop at, named by index ([`AT`]).
    stops: Vec<(Stop, Op)>,
}

/// A conditional transfer ([`Region::transfer_if`]), emitted after the blocks.
struct Stub {
    label: Label,
    from: usize,
    done: u64,
    t: u64,
    away: Exit,
}

impl Region<'_> {
    /// The block of the region that starts at `t`.
    fn find(&self, t: u64) -> Option<usize> {
        self.parts.iter().position(|p| p.p0 == t)
    }

    /// Flow from block `from`, `done` of its instructions run, to `t`: to the block of the
    /// region there if the room holds it, or out through exit `away`.
    fn transfer(&mut self, e: &mut Emitter, from: usize, done: u64, t: u64, away: Exit) {
        let head = self.parts.first().map_or(0, Part::len);
        match self.find(t) {
            // The head's own loop, once it ran whole.
            Some(0) if from == 0 && done == head => e.lap(head, away),
            Some(0) if from != 0 => {
                e.take_room(done);
                e.exit_if_room_below(head, jumped(Arg::Const(NO_WORD), t, 0));
                e.restart();
            }
            Some(y) if y != 0 => {
                let len = self.parts.get(y).map_or(0, Part::len);
                if from == 0 {
                    // The head's instructions are counted by the stretch unless it goes on.
                    e.exit_if_room_below(done + len, away);
                    e.take_room(done);
                } else {
                    e.take_room(done);
                    e.exit_if_room_below(len, jumped(Arg::Const(NO_WORD), t, 0));
                }
                match self.labels.get(y) {
                    Some(&Some(l)) => e.jump(l),
                    _ => e.exit(away),
                }
            }
            _ => e.exit(away),
        }
    }

    /// [`Region::transfer`] when `A` is non-zero (`nonzero`) or zero; otherwise flow goes on.
    fn transfer_if(
        &mut self,
        e: &mut Emitter,
        nonzero: bool,
        from: usize,
        done: u64,
        t: u64,
        away: Exit,
    ) {
        let within = match self.find(t) {
            Some(0) => from != 0 || done == self.parts.first().map_or(0, Part::len),
            Some(_) => true,
            None => false,
        };
        if !within {
            return e.exit_if(nonzero, away);
        }
        let label = e.label();
        e.jump_if(nonzero, label);
        self.stubs.push(Stub {
            label,
            from,
            done,
            t,
            away,
        });
    }
}

/// Lowers the ops of block `i` of the region.
fn lower(e: &mut Emitter, r: &mut Region, i: usize) {
    let Some(&part) = r.parts.get(i) else {
        return;
    };
    let head = i == 0;
    let len = part.len();
    let at = |j: usize| j as u64;
    // The exit for flow to `t` after `done` of the block's instructions, leaving the region:
    // the head's own exit `own`, or from another block the count and the place.
    let away = |t: u64, done: u64, own: Exit| {
        if head {
            own
        } else {
            jumped(Arg::Const(NO_WORD), t, done)
        }
    };
    // Flow to `t` once the whole block ran.
    let goto = |e: &mut Emitter, r: &mut Region, t: u64| {
        r.transfer(e, i, len, t, away(t, len, exit(NEXT, Arg::Const(t), 0)));
    };
    // Past the block's end, not taking its terminator's branch, when `A` is non-zero
    // (`nonzero`) or zero.
    let fall = |e: &mut Emitter, r: &mut Region, nonzero: bool| {
        let t = part.end;
        r.transfer_if(
            e,
            nonzero,
            i,
            len,
            t,
            away(t, len, exit(NEXT, Arg::Const(t), 1)),
        );
    };
    // Op `j`'s instruction is for the stretch to carry out (`s`): a trap, a halt, the
    // interpreter, an effect.
    let leave = |r: &mut Region, j: usize, s: Stop| {
        let (start, _) = part.span(j);
        r.stops
            .push((s, part.ops.get(j).copied().unwrap_or(Op::Fall)));
        Exit {
            kind: AT,
            a: Arg::Const(r.stops.len() as u64 - 1),
            b: part.p0 + start,
            done: start,
        }
    };
    // A store of op `j` (the first of a fused pair, with `pair`) hit code word `a`.
    let code_write = |j: usize, a: Arg, pair: bool| {
        if head {
            exit(CODE_WRITE, a, at(j) | u64::from(pair) << 32)
        } else {
            let (start, ends) = part.span(j);
            let done = if pair { start + 1 } else { ends };
            jumped(a, part.p0 + done, done)
        }
    };
    let stored = |e: &mut Emitter, a: u32, j: usize, pair: bool| {
        e.store(u64::from(a), Reg::A);
        e.exit_if_code(u64::from(a), code_write(j, Arg::Const(u64::from(a)), pair));
    };
    // A side exit of op `j` to `t`, taken when `A` is non-zero (`nonzero`) or zero.
    let side = |e: &mut Emitter, r: &mut Region, j: usize, nonzero: bool, t: u64| {
        let (_, ends) = part.span(j);
        let own = exit(SIDE, Arg::Const(t), at(j));
        r.transfer_if(e, nonzero, i, ends, t, away(t, ends, own));
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
    for (j, &op) in part.ops.iter().enumerate() {
        if let Some((bop, a, b, c)) = op.three() {
            bin(e, bop, b, Some(c), 0);
            stored(e, a, j, false);
            continue;
        }
        match op {
            Op::AddK(a, b, k) => {
                bin(e, BinOp::Add, b, None, k);
                stored(e, a, j, false);
            }
            Op::BinK(op, a, b, k) => {
                bin(e, op, b, None, k);
                stored(e, a, j, false);
            }
            Op::Set(a, k) => {
                e.konst(Reg::A, k);
                stored(e, a, j, false);
            }
            Op::Mov(a, b) => {
                e.load(Reg::A, u64::from(b));
                stored(e, a, j, false);
            }
            Op::LoadX(a, b, c) => {
                bin(e, BinOp::Add, b, Some(c), 0);
                e.window(leave(r, j, Stop::Trap(TrapKind::Memory)));
                e.load_window(Reg::A);
                stored(e, a, j, false);
            }
            Op::StoreX(a, b, c) => {
                bin(e, BinOp::Add, b, Some(c), 0);
                e.window(leave(r, j, Stop::Trap(TrapKind::Memory)));
                e.load(Reg::C, u64::from(a));
                e.store_window(Reg::C);
                e.exit_if_code_window(code_write(j, Arg::Window, false));
            }
            Op::TrapIfZero(a, kind) => {
                e.load(Reg::A, u64::from(a));
                e.exit_if(false, leave(r, j, Stop::Trap(kind)));
            }
            Op::TrapIf(op, a, k, kind) => {
                bin(e, op, a, None, k);
                e.exit_if(true, leave(r, j, Stop::Trap(kind)));
            }
            Op::SideNz(a, t) | Op::SideZ(a, t) => {
                e.load(Reg::A, u64::from(a));
                side(e, r, j, matches!(op, Op::SideNz(..)), t);
            }
            Op::SideIf(op, a, k, t) => {
                bin(e, op, a, None, k);
                side(e, r, j, true, t);
            }
            Op::SideCmp(cmp, a, b, c, nz, t) => {
                bin(e, cmp.op(), b, Some(c), 0);
                stored(e, a, j, true);
                side(e, r, j, nz, t);
            }
            Op::Jump(t) => return goto(e, r, t),
            Op::BranchNz(a, t) | Op::BranchZ(a, t) => {
                e.load(Reg::A, u64::from(a));
                fall(e, r, matches!(op, Op::BranchZ(..)));
                return goto(e, r, t);
            }
            Op::Branch(op, a, k, t) => {
                bin(e, op, a, None, k);
                fall(e, r, false);
                return goto(e, r, t);
            }
            Op::AddKBranchNz(a, b, k, t) | Op::AddKBranchZ(a, b, k, t) => {
                bin(e, BinOp::Add, b, None, k);
                stored(e, a, j, true);
                fall(e, r, matches!(op, Op::AddKBranchZ(..)));
                return goto(e, r, t);
            }
            Op::CmpBranch(cmp, a, b, c, nz, t) => {
                bin(e, cmp.op(), b, Some(c), 0);
                stored(e, a, j, true);
                // The comparison's result is 0 or 1: flow falls through when it is not `nz`.
                fall(e, r, !nz);
                return goto(e, r, t);
            }
            Op::JumpInd(a) => {
                e.load(Reg::A, u64::from(a));
                e.konst(Reg::B, REG_MAX);
                e.alu(BinOp::And);
                let to = if head {
                    exit(NEXT, Arg::A, 0)
                } else {
                    Exit {
                        kind: JUMPED_TO,
                        a: Arg::A,
                        b: 0,
                        done: len,
                    }
                };
                // On to the block it last went to, if that is in the region and it goes
                // there again.
                return match part.guess.filter(|&g| r.find(g).is_some()) {
                    Some(g) => {
                        e.exit_if_not(g, to);
                        goto(e, r, g);
                    }
                    None => e.exit(to),
                };
            }
            Op::Jal(a, t) => {
                e.konst(Reg::A, part.end);
                e.store(u64::from(a), Reg::A);
                let cw = if head {
                    exit(CODE_WRITE_JUMP, Arg::Const(u64::from(a)), t)
                } else {
                    jumped(Arg::Const(u64::from(a)), t, len)
                };
                e.exit_if_code(u64::from(a), cw);
                return goto(e, r, t);
            }
            Op::SetReg(..) | Op::Out(..) | Op::Timer(..) => {
                return e.exit(leave(r, j, Stop::Effect));
            }
            Op::Trap(kind) => return e.exit(leave(r, j, Stop::Trap(kind))),
            Op::Halt => return e.exit(leave(r, j, Stop::Halt)),
            Op::Generic(id) => return e.exit(leave(r, j, Stop::Generic(id))),
            Op::Fall => {
                let t = part.end;
                return r.transfer(e, i, len, t, away(t, len, exit(NEXT, Arg::Const(t), 1)));
            }
            // The three-address ops, above.
            _ => {}
        }
    }
    // The ops ran out without a terminator (never for a block that runs whole).
    if head {
        e.exit(exit(CUT, Arg::Const(0), 0));
    } else {
        goto(e, r, part.end);
    }
}

/// Whether every op of `ops` has a native form ([`pgvm_native::has_native_form`]). A block
/// is taken into a region only then, so that one without leaves its head native code of its
/// own.
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
