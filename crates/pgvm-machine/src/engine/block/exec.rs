//! The ops' loop: one block's ops run against memory, and the effects that end a stretch.

use pgvm_isa::BinOp;
use pgvm_isa::ops::alu;

use super::{Out, Stop};
use crate::engine::block_ops::{Op, Pa};
use crate::exec::{TrapKind, set_reg};
use crate::machine::Core;
use crate::psw::{Psw, REG_MAX};
use crate::view::StateView;

/// Carries out op `op` (a register set or a device) for the instruction at the core's `P`, as
/// the interpreter commits it: `P` past the instruction, then the register (through the
/// interpreter's own function) or the device, which sees the clock before the instruction;
/// then counts it. Out of line, as [`super::Blocks::interpret`] is, and reading its operand
/// itself: the ops' loop and the stretch's stay as small as they were.
#[cold]
#[inline(never)]
pub(super) fn effect(core: &mut Core, op: Op) {
    let ld = |a: Pa| core.mem.get(a as usize).copied().unwrap_or(0);
    let next = (core.psw.p + 1) & REG_MAX;
    match op {
        Op::SetReg(reg, a) => {
            let v = ld(a);
            let mut psw = Psw {
                p: next,
                ..core.psw
            };
            let mut assist = core.assist;
            set_reg(&mut psw, &mut assist, reg, v);
            core.set_psw(psw);
            core.assist = assist;
        }
        Op::Out(a) => {
            let v = ld(a);
            core.psw.p = next;
            core.console_out(v as u8);
        }
        Op::Timer(a) => {
            let v = ld(a);
            core.psw.p = next;
            core.set_timer(v);
        }
        _ => debug_assert!(false, "not an effect op: {op:?}"),
    }
    core.devices.clock += 1;
}

/// Runs ops of one block (a prefix of them when the budget or a stop point cuts it) on
/// memory. `p0` is the block's first apparent address and `end` the one past its last
/// instruction, where a branch not taken goes. With `LAP` (a block that can jump to its own
/// start), the block goes round without leaving while a lap fits in `room`, which it
/// decreases by each lap but the last. Exits name the op they left at by index, for the
/// caller to find in the block's spans: the fewer values live across the ops, the fewer the
/// compiler keeps on the stack.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn exec<const LAP: bool>(
    ops: &[Op],
    mem: &mut [u64],
    code: &[u8],
    end: u64,
    l: u64,
    lim: u64,
    p0: u64,
    room: &mut u64,
) -> Out {
    let len = end - p0;
    let mut i = 0;
    macro_rules! ld {
        ($a:expr) => {
            mem[$a as usize]
        };
    }
    // A store; leaves the block after the instruction when it hits code (after the first
    // instruction of a fused pair when `pair` is given as `true`).
    macro_rules! st {
        ($a:expr, $v:expr) => {
            st!($a, $v, false)
        };
        ($a:expr, $v:expr, $pair:expr) => {{
            let pa = $a as usize;
            mem[pa] = $v;
            if code[pa] != 0 {
                return Out::CodeWrite(pa as u64, i - 1, $pair);
            }
        }};
    }
    macro_rules! bin {
        ($op:expr, $a:expr, $b:expr, $c:expr) => {{
            let v = alu($op, ld!($b), ld!($c));
            st!($a, v)
        }};
    }
    // Flow goes to `t` through exit `e`. With `LAP`, a jump back to the block's start goes
    // round again while another whole lap fits in the room (the caller counts the last).
    macro_rules! goto {
        ($t:expr, $e:expr) => {{
            let t = $t;
            if LAP && t == p0 && len <= *room - len {
                *room -= len;
                i = 0;
                continue;
            }
            return Out::Next(t, $e);
        }};
    }
    // A conditional branch: to `t` through exit 0 when `c` holds, else past the block's end
    // through exit 1.
    macro_rules! branch {
        ($c:expr, $t:expr) => {{
            if $c {
                goto!($t, 0)
            } else {
                return Out::Next(end, 1);
            }
        }};
    }
    // A side exit: taken, the block ends at it; not taken, the block runs on.
    macro_rules! side {
        ($c:expr, $t:expr) => {{
            if $c {
                return Out::Side($t, i - 1);
            }
        }};
    }
    while let Some(op) = ops.get(i) {
        i += 1;
        match *op {
            Op::Add(a, b, c) => bin!(BinOp::Add, a, b, c),
            Op::Sub(a, b, c) => bin!(BinOp::Sub, a, b, c),
            Op::Mul(a, b, c) => bin!(BinOp::Mul, a, b, c),
            Op::Div(a, b, c) => bin!(BinOp::Div, a, b, c),
            Op::Rem(a, b, c) => bin!(BinOp::Rem, a, b, c),
            Op::And(a, b, c) => bin!(BinOp::And, a, b, c),
            Op::Or(a, b, c) => bin!(BinOp::Or, a, b, c),
            Op::Xor(a, b, c) => bin!(BinOp::Xor, a, b, c),
            Op::Shl(a, b, c) => bin!(BinOp::Shl, a, b, c),
            Op::Shr(a, b, c) => bin!(BinOp::Shr, a, b, c),
            Op::Sar(a, b, c) => bin!(BinOp::Sar, a, b, c),
            Op::Eq(a, b, c) => bin!(BinOp::Eq, a, b, c),
            Op::Ne(a, b, c) => bin!(BinOp::Ne, a, b, c),
            Op::Lt(a, b, c) => bin!(BinOp::Lt, a, b, c),
            Op::Le(a, b, c) => bin!(BinOp::Le, a, b, c),
            Op::Gt(a, b, c) => bin!(BinOp::Gt, a, b, c),
            Op::Ge(a, b, c) => bin!(BinOp::Ge, a, b, c),
            Op::Lts(a, b, c) => bin!(BinOp::Lts, a, b, c),
            Op::Les(a, b, c) => bin!(BinOp::Les, a, b, c),
            Op::AddK(a, b, k) => st!(a, ld!(b).wrapping_add(k)),
            Op::BinK(op, a, b, k) => st!(a, alu(op, ld!(b), k)),
            Op::Set(a, k) => st!(a, k),
            Op::Mov(a, b) => st!(a, ld!(b)),
            Op::LoadX(a, b, c) => {
                let x = ld!(b).wrapping_add(ld!(c));
                if x >= lim {
                    return Out::Stop(i - 1, Stop::Trap(TrapKind::Memory));
                }
                st!(a, ld!(x + l))
            }
            Op::StoreX(a, b, c) => {
                let x = ld!(b).wrapping_add(ld!(c));
                if x >= lim {
                    return Out::Stop(i - 1, Stop::Trap(TrapKind::Memory));
                }
                st!(x + l, ld!(a))
            }
            Op::TrapIfZero(a, kind) => {
                if ld!(a) == 0 {
                    return Out::Stop(i - 1, Stop::Trap(kind));
                }
            }
            Op::TrapIf(op, a, k, kind) => {
                if alu(op, ld!(a), k) != 0 {
                    return Out::Stop(i - 1, Stop::Trap(kind));
                }
            }
            // Terminators: the block has run whole.
            Op::Jump(t) => goto!(t, 0),
            Op::BranchNz(a, t) => branch!(ld!(a) != 0, t),
            Op::BranchZ(a, t) => branch!(ld!(a) == 0, t),
            Op::Branch(op, a, k, t) => branch!(alu(op, ld!(a), k) != 0, t),
            Op::AddKBranchNz(a, b, k, t) => {
                let v = ld!(b).wrapping_add(k);
                st!(a, v, true);
                branch!(v != 0, t)
            }
            Op::AddKBranchZ(a, b, k, t) => {
                let v = ld!(b).wrapping_add(k);
                st!(a, v, true);
                branch!(v == 0, t)
            }
            Op::CmpBranch(cmp, a, b, c, nz, t) => {
                let v = cmp.eval(ld!(b), ld!(c));
                st!(a, u64::from(v), true);
                branch!(v == nz, t)
            }
            Op::SideNz(a, t) => side!(ld!(a) != 0, t),
            Op::SideZ(a, t) => side!(ld!(a) == 0, t),
            Op::SideIf(op, a, k, t) => side!(alu(op, ld!(a), k) != 0, t),
            Op::SideCmp(cmp, a, b, c, nz, t) => {
                let v = cmp.eval(ld!(b), ld!(c));
                st!(a, u64::from(v), true);
                side!(v == nz, t)
            }
            Op::JumpInd(a) => return Out::Next(ld!(a) & REG_MAX, 0),
            Op::Jal(a, t) => {
                let pa = a as usize;
                mem[pa] = end;
                if code[pa] != 0 {
                    return Out::CodeWriteJump(pa as u64, t);
                }
                goto!(t, 0)
            }
            Op::SetReg(..) | Op::Out(..) | Op::Timer(..) => {
                return Out::Stop(i - 1, Stop::Effect);
            }
            Op::Trap(kind) => return Out::Stop(i - 1, Stop::Trap(kind)),
            Op::Halt => return Out::Stop(i - 1, Stop::Halt),
            Op::Generic(id) => return Out::Stop(i - 1, Stop::Generic(id)),
            Op::Fall => return Out::Next(end, 1),
        }
    }
    // Cut short by the budget or a stop point, after a whole instruction.
    Out::Cut
}
