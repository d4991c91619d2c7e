//! The virtual machine as an instruction sees it: the VM's window of real memory, with the
//! virtual `M`, `R`, console, timer and clock. The interpreters run each trapped instruction's
//! own semantics (`pgvm_machine::execute`) against this view.

use pgvm_machine::{Machine, Psw, StateView};

use crate::vm::VmState;

/// One VM seen through the seam.
pub(crate) struct VirtualView<'a> {
    pub real: &'a mut Machine,
    pub vm: &'a mut VmState,
}

impl StateView for VirtualView<'_> {
    fn size(&self) -> u64 {
        self.vm.map.w
    }

    fn load(&self, pa: u64) -> u64 {
        self.real.load(self.vm.map.base + pa)
    }

    fn store(&mut self, pa: u64, value: u64) {
        self.real.store(self.vm.map.base + pa, value);
    }

    fn psw(&self) -> Psw {
        self.vm.psw
    }

    fn set_psw(&mut self, psw: Psw) {
        self.vm.psw = psw;
    }

    fn assist(&self) -> bool {
        self.vm.assist
    }

    fn set_assist(&mut self, on: bool) {
        self.vm.assist = on;
    }

    fn clock(&self) -> u64 {
        // The instruction being interpreted was already counted.
        self.vm.steps.saturating_sub(1)
    }

    fn console_peek(&self, k: usize) -> Option<u8> {
        self.vm.input.get(self.vm.input_pos + k).copied()
    }

    fn console_consume(&mut self, n: usize) {
        self.vm.input_pos = (self.vm.input_pos + n).min(self.vm.input.len());
    }

    fn console_out(&mut self, byte: u8) {
        self.vm.console.push(byte);
    }

    fn set_timer(&mut self, n: u64) {
        // Falls due after n more guest instructions, as on the bare machine.
        self.vm.timer_due = (n != 0).then(|| self.vm.steps.saturating_add(n));
        self.vm.timer_pending = false;
    }
}
