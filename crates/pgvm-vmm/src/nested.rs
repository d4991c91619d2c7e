//! A VM as a machine: the host interface implemented by one VM of a monitor, so that another
//! monitor can run on it (recursive virtualization, the paper's §7).
//!
//! [`VmHost`] owns a monitor and names one of its VMs. To the monitor running on it, it is a
//! machine of `w` words: its memory is the VM's window, its PSW the VM's virtual PSW, its
//! devices the VM's own. Running it runs the VM under the outer monitor with the VM's trap
//! policy set to [`TrapPolicy::Exit`]: every trap the guest's own machine would take comes
//! back as [`Exit::Trapped`], blocked, instead of being reflected into the VM, exactly as the
//! real machine hands its traps to a monitor. Privileged instructions that the inner monitor
//! itself executes (in virtual supervisor mode of the outer VM) are emulated by the outer
//! monitor as usual, so each level sees only what the paper says it should.

use pgvm_machine::{Devices, Exit, Processor, Psw, StateView, TrapPolicy};

use crate::allocator::VmId;
use crate::host::Host;
use crate::monitor::Monitor;
use crate::vm::VmExit;

/// One VM of `monitor`, as a machine another monitor can run on.
#[derive(Debug)]
pub struct VmHost<H: Host> {
    monitor: Monitor<H>,
    id: VmId,
}

impl<H: Host> VmHost<H> {
    /// VM `id` of `monitor` as a machine.
    pub fn new(monitor: Monitor<H>, id: VmId) -> VmHost<H> {
        VmHost { monitor, id }
    }

    /// The outer monitor.
    pub fn monitor(&self) -> &Monitor<H> {
        &self.monitor
    }

    /// The VM this machine is.
    pub fn id(&self) -> VmId {
        self.id
    }

    fn host_pa(&self, pa: u64) -> u64 {
        self.monitor.vm(self.id).map.base.0 + pa
    }
}

impl<H: Host> StateView for VmHost<H> {
    fn size(&self) -> u64 {
        self.monitor.vm(self.id).map.w
    }
    fn load(&self, pa: u64) -> u64 {
        self.monitor.real().load(self.host_pa(pa))
    }
    fn store(&mut self, pa: u64, value: u64) {
        let at = self.host_pa(pa);
        self.monitor.host_mut().store(at, value);
    }
    fn psw(&self) -> Psw {
        self.monitor.vm(self.id).psw()
    }
    fn set_psw(&mut self, psw: Psw) {
        self.monitor.vm_mut(self.id).cpu.psw = psw;
    }
    fn assist(&self) -> bool {
        self.monitor.vm(self.id).cpu.assist
    }
    fn set_assist(&mut self, on: bool) {
        self.monitor.vm_mut(self.id).cpu.assist = on;
    }
    pgvm_machine::device_methods!(Processor);
}

impl<H: Host> Processor for VmHost<H> {
    fn devices(&self) -> &Devices {
        &self.monitor.vm(self.id).cpu.devices
    }
    fn devices_mut(&mut self) -> &mut Devices {
        &mut self.monitor.vm_mut(self.id).cpu.devices
    }
    fn timer_class(&self) -> u64 {
        self.monitor.vm(self.id).cpu.timer_class
    }
}

impl<H: Host> Host for VmHost<H> {
    fn hand_traps_to_monitor(&mut self) {
        self.monitor.vm_mut(self.id).policy = TrapPolicy::Exit;
    }

    fn run(&mut self, budget: u64) -> Exit {
        match self.monitor.run_vm(self.id, budget) {
            VmExit::Halted => Exit::Halted,
            VmExit::BudgetSpent => Exit::BudgetSpent,
            VmExit::Trapped(kind) => Exit::Trapped(kind),
            // A VM that escaped its own monitor is no machine any more: nothing it runs can
            // make progress under that monitor's control.
            VmExit::Stuck | VmExit::Escaped => Exit::Stuck,
        }
    }

    fn memory(&self) -> &[u64] {
        let map = self.monitor.vm(self.id).map;
        &self.monitor.real().memory()[map.base.0 as usize..map.end().0 as usize]
    }
}
