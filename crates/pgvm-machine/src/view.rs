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

/// The [`StateView`] device methods of a view whose devices are one [`crate::Devices`]: the
/// clock, the console and the timer, read and written there.
///
/// Every processor (the real machine, its core, the fast engine's view, a VM window, a nested
/// monitor's VM, the tests' reference) reaches its devices the same way, and the five methods
/// were written out in each. Written once here, they cannot drift apart. A macro rather than a
/// trait's default methods: a view names its devices by a field path, so each expansion is the
/// same direct field access as before, with nothing added to the engine's path.
///
/// Invoke it inside `impl StateView for ...` as `device_methods!(path.to.devices)`, a field
/// path from `self`, or as `device_methods!(Processor)` for a type that implements
/// [`crate::Processor`], whose devices are then reached by its own `devices()` and
/// `devices_mut()`.
#[macro_export]
macro_rules! device_methods {
    (Processor) => {
        fn clock(&self) -> u64 {
            $crate::Processor::devices(self).clock
        }
        fn console_peek(&self, k: usize) -> Option<u8> {
            $crate::Processor::devices(self).console.peek(k)
        }
        fn console_consume(&mut self, n: usize) {
            $crate::Processor::devices_mut(self).console.consume(n);
        }
        fn console_out(&mut self, byte: u8) {
            $crate::Processor::devices_mut(self).console.put(byte);
        }
        fn set_timer(&mut self, n: u64) {
            $crate::Processor::devices_mut(self).set_timer(n);
        }
    };
    ($($field:ident).+) => {
        fn clock(&self) -> u64 {
            self.$($field).+.clock
        }
        fn console_peek(&self, k: usize) -> Option<u8> {
            self.$($field).+.console.peek(k)
        }
        fn console_consume(&mut self, n: usize) {
            self.$($field).+.console.consume(n);
        }
        fn console_out(&mut self, byte: u8) {
            self.$($field).+.console.put(byte);
        }
        fn set_timer(&mut self, n: u64) {
            self.$($field).+.set_timer(n);
        }
    };
}
