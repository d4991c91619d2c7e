//! The one seam of the design: executing one instruction against a *state view*.
//!
//! The real machine is one view (physical memory, real `M` and `R`). A monitor's virtual
//! machine is another (the VM's window, virtual `M` and `R`). The classifier's hypothetical
//! states are a third. [`crate::execute`] runs an instruction's semantics, as the ISA
//! description states them, against any of them; nothing else interprets bodies.

use crate::psw::Psw;

/// A machine state as an instruction sees it.
///
/// Memory is addressed *physically* here, `0..size()`: address development (relocation and
/// bounds) is done by the interpreter, identically for every view, with the `R` of the view.
pub trait StateView {
    /// `q`: the number of words of memory this view has.
    fn size(&self) -> u64;
    /// Reads physical word `pa` (`pa < size()`).
    fn load(&self, pa: u64) -> u64;
    /// Writes physical word `pa` (`pa < size()`).
    fn store(&mut self, pa: u64, value: u64);
    /// `<M, P, R>`, with `P` at the instruction about to execute.
    fn psw(&self) -> Psw;
    /// Replaces `<M, P, R>`.
    fn set_psw(&mut self, psw: Psw);
    /// The assist bit, for profiles with `feature assist`.
    fn assist(&self) -> bool {
        false
    }
    /// Sets the assist bit.
    fn set_assist(&mut self, _on: bool) {}
    /// Instructions executed before the current one (what `clock()` reads).
    fn clock(&self) -> u64 {
        0
    }
    /// The `k`-th console input byte not yet consumed, if any.
    fn console_peek(&self, _k: usize) -> Option<u8> {
        None
    }
    /// Consumes `n` console input bytes.
    fn console_consume(&mut self, _n: usize) {}
    /// Emits one console output byte.
    fn console_out(&mut self, _byte: u8) {}
    /// Arms the interval timer to fall due after `n` more instructions (0 disarms).
    fn set_timer(&mut self, _n: u64) {}
}

/// Performs the paper's trap on a view: `E[0] <- PSW` (whose `P` still points at the blocked
/// instruction), then `<M, P, R> <- E[1]`; nothing else changes. With `class = t`, the pair is
/// `(E[2t], E[2t+1])`, for interrupts. A view smaller than the pair cannot take the trap; then
/// `false` comes back and nothing changes.
pub fn trap_entry<V: StateView + ?Sized>(view: &mut V, class: u64) -> bool {
    let (old, new) = (2 * class, 2 * class + 1);
    if new >= view.size() {
        return false;
    }
    let psw = view.psw();
    view.store(old, psw.pack());
    view.set_psw(Psw::unpack(view.load(new)));
    true
}

/// True when a trap entry changed nothing: `E[0]` already held the PSW it stored and the new
/// PSW is the one it replaced. Without a timer to break it, such a machine repeats that trap
/// forever, so a run can stop and say so.
pub fn trap_changed_nothing(before: Psw, old_e0: u64, after: Psw) -> bool {
    after == before && old_e0 == before.pack()
}
