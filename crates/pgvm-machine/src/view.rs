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
