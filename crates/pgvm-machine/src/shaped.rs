//! The short way through one instruction whose body is a single simple effect: a monitor's
//! dispatcher emulates `lpsw`, `lrb`, `spsw`, `out` and their kind at every trap, and walking
//! the body's syntax tree was most of what a trap cost it.
//!
//! The effect comes from the body's shape ([`pgvm_isa::shape`], matched once when the
//! description was loaded), and is committed as [`crate::execute`] commits a body: the
//! stores, then the PSW with `P` past the instruction (and the register set), then the
//! console or the timer. Any other body goes through [`crate::execute`] itself. A property
//! test checks the two against each other on every instruction of every profile.

use pgvm_isa::shape::{Shape, Val};
use pgvm_isa::{InsnId, Isa, Mode};

use crate::engine::shape::value;
use crate::exec::{Step, TrapKind, execute, set_reg};
use crate::psw::{Psw, REG_MAX, develop};
use crate::view::StateView;

/// Executes instruction `id`, already fetched as `word`, against a view, exactly as
/// [`execute`] does.
pub fn execute_shaped<V: StateView + ?Sized>(
    isa: &Isa,
    id: InsnId,
    word: u64,
    view: &mut V,
) -> Step {
    let (Some(shape), Some(insn)) = (isa.shape(id), isa.insns.get(id)) else {
        return execute(isa, id, word, view);
    };
    let start = view.psw();
    if let Some(cause) = shape.user_trap
        && start.mode == Mode::User
    {
        return Step::Trapped(cause.into());
    }
    let Some([Some(s), None]) = shape.shapes else {
        return execute(isa, id, word, view);
    };
    // The PSW as the body reads it, and as it is committed: `P` past the instruction.
    let next = Psw {
        p: (start.p + 1) & REG_MAX,
        ..start
    };
    let v = |x: Val| value(isa, insn.format, x, word, next);
    let q = view.size();
    // `E[a]`'s physical word, or the memory trap the body takes.
    macro_rules! at {
        ($a:expr) => {
            match develop(v($a), start.r, q) {
                Some(pa) => pa,
                None => return Step::Trapped(TrapKind::Memory),
            }
        };
    }
    match s {
        Shape::SetReg(reg, a) => {
            let value = view.load(at!(a));
            let mut psw = next;
            let mut assist = view.assist();
            set_reg(&mut psw, &mut assist, reg, value);
            view.set_psw(psw);
            if assist != view.assist() {
                view.set_assist(assist);
            }
        }
        Shape::Out(a) => {
            let byte = view.load(at!(a)) as u8;
            view.set_psw(next);
            view.console_out(byte);
        }
        Shape::Timer(a) => {
            let n = view.load(at!(a));
            view.set_psw(next);
            view.set_timer(n);
        }
        Shape::Set(a, k) => {
            let pa = at!(a);
            view.store(pa, v(k));
            view.set_psw(next);
        }
        Shape::Mov(a, b) => {
            let value = view.load(at!(b));
            let pa = at!(a);
            view.store(pa, value);
            view.set_psw(next);
        }
        _ => return execute(isa, id, word, view),
    }
    Step::Done
}
