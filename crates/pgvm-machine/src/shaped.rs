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
    let at = |a: u64| develop(a, start.r, q).ok_or(Step::Trapped(TrapKind::Memory));
    let done = match s {
        Shape::SetReg(reg, a) => at(v(a)).map(|pa| {
            let value = view.load(pa);
            let mut psw = next;
            let mut assist = view.assist();
            set_reg(&mut psw, &mut assist, reg, value);
            view.set_psw(psw);
            if assist != view.assist() {
                view.set_assist(assist);
            }
        }),
        Shape::Out(a) => at(v(a)).map(|pa| {
            let byte = view.load(pa) as u8;
            view.set_psw(next);
            view.console_out(byte);
        }),
        Shape::Timer(a) => at(v(a)).map(|pa| {
            let n = view.load(pa);
            view.set_psw(next);
            view.set_timer(n);
        }),
        Shape::Set(a, k) => at(v(a)).map(|pa| {
            view.store(pa, v(k));
            view.set_psw(next);
        }),
        Shape::Mov(a, b) => at(v(b)).and_then(|from| {
            let value = view.load(from);
            at(v(a)).map(|pa| {
                view.store(pa, value);
                view.set_psw(next);
            })
        }),
        _ => return execute(isa, id, word, view),
    };
    match done {
        Ok(()) => Step::Done,
        Err(trapped) => trapped,
    }
}
