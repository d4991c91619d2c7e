//! The host interface: what a monitor needs of the machine it runs its guests on.
//!
//! A monitor runs a guest directly on its host in real user mode, with every trap handed back
//! to it, and inspects the host's control state and devices afterwards. The real machine is
//! one host; a VM of another monitor is meant to be a second, so that a monitor can itself run
//! as a guest (recursive virtualization).

use pgvm_machine::{ControlBlock, Engine, Exit, Machine, Processor, TrapPolicy};

/// A machine a monitor can run guests on.
pub trait Host: Processor + std::fmt::Debug {
    /// Hands every trap to the monitor: from now on a trapping instruction ends
    /// [`Host::run`] with [`Exit::Trapped`], blocked, with `P` at it.
    fn hand_traps_to_monitor(&mut self);

    /// Runs from the current PSW for at most `budget` instructions.
    fn run(&mut self, budget: u64) -> Exit;

    /// Physical memory, for comparisons and isolation checks.
    fn memory(&self) -> &[u64];

    /// Whether the host has a System/370-style VM assist to lend a control block to. A VM of
    /// another monitor has none: the assist is the real machine's microcode.
    fn has_vm_assist(&self) -> bool {
        false
    }

    /// Lends the VM assist a control block, until [`Host::take_control_block`].
    fn load_control_block(&mut self, _block: ControlBlock) {}

    /// Takes the control block back, as the assist left it.
    fn take_control_block(&mut self) -> Option<ControlBlock> {
        None
    }
}

impl<E: Engine> Host for Machine<E> {
    fn hand_traps_to_monitor(&mut self) {
        self.set_trap_policy(TrapPolicy::Exit);
    }

    fn run(&mut self, budget: u64) -> Exit {
        Machine::run(self, budget)
    }

    fn memory(&self) -> &[u64] {
        Machine::memory(self)
    }

    fn has_vm_assist(&self) -> bool {
        Machine::has_vm_assist(self)
    }

    fn load_control_block(&mut self, block: ControlBlock) {
        Machine::load_control_block(self, block);
    }

    fn take_control_block(&mut self) -> Option<ControlBlock> {
        Machine::take_control_block(self)
    }
}
