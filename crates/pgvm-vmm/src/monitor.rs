//! The control program `CP = <D, A, {v_i}>` of the paper's proof of Theorem 1, with the
//! dispatcher's policy supplied by a [`Technique`].
//!
//! - The **dispatcher** owns every trap of the host: guests run in real user mode with the
//!   host handing every trap back ([`Host::hand_traps_to_monitor`]); the technique decides
//!   what each trap becomes ([`Disposition`]).
//! - The **allocator** ([`Allocator`]) owns every physical word given to a VM.
//! - The **interpreters** are not written by hand: the interpreter of a trapped instruction is
//!   its own semantics from the ISA description, run by `pgvm_machine::step` on the VM's
//!   virtual state ([`Window`]), with the virtual `M` and `R`.
//!
//! The run loop is a small state machine ([`Phase`]): at an instruction boundary, running
//! directly on the host, dispatching a trap, stopped.

use std::sync::Arc;

use pgvm_isa::{InsnId, Isa, Mode};
use pgvm_machine::{
    ControlBlock, Exit, Machine, MachineError, Psw, TrapKind, TrapPolicy, VirtualCpu, VmMap,
    Window, cycle,
};

use crate::allocator::{AllocError, Allocator, VmId};
use crate::host::Host;
use crate::technique::{Disposition, Plan, Setup, Technique};
use crate::vm::{VmExit, VmState};

/// Physical words the control program keeps for itself: the real trap pair and vectors.
pub const CP_WORDS: u64 = 16;

/// Errors setting up VMs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VmmError {
    /// The real machine could not be built.
    #[error(transparent)]
    Machine(#[from] MachineError),
    /// The allocator refused a VM's memory.
    #[error(transparent)]
    Alloc(#[from] AllocError),
    /// A guest's words do not fit in the memory it asked for.
    #[error("VM {vm}: words {start}..{end} do not fit in its {w} words")]
    ImageTooLarge {
        /// The VM.
        vm: VmId,
        /// First address.
        start: u64,
        /// One past the last.
        end: u64,
        /// The VM's memory size.
        w: u64,
    },
    /// An equivalence check asked to compare after no instructions at all.
    #[error("Comparing after 0 guest instructions compares nothing")]
    NoSteps,
}

/// Where the run loop of one VM is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Between two guest instructions: a due virtual interrupt is delivered and the budget
    /// checked.
    Boundary,
    /// The guest runs directly on the host for at most this many instructions.
    Direct(u64),
    /// The host trapped on a guest instruction (blocked, `P` at it), with this real trap: the
    /// dispatcher decides.
    Dispatch(TrapKind),
    /// The technique interprets the next guest instruction in software.
    Interpret,
    /// The run is over.
    Stop(VmExit),
}

/// The monitor and the host it controls.
#[derive(Debug)]
pub struct Monitor<H: Host = Machine> {
    isa: Arc<Isa>,
    host: H,
    technique: Box<dyn Technique<H>>,
    /// What the technique was built from, so that a copy of the monitor gets its own.
    setup: Setup,
    allocator: Allocator,
    vms: Vec<VmState>,
    /// Instructions emulated during the current `run_vm`, by instruction, real trap kind and
    /// virtual mode ([`cause_index`]): added to the VM's counts when `run_vm` returns, so
    /// that no emulation looks a name up or allocates one.
    emulated_by_insn: Vec<u64>,
    /// The VM assist's control block between two stretches of direct execution, when the
    /// technique uses it: its per-instruction counts are drained when `run_vm` returns.
    control: Option<ControlBlock>,
}

impl Clone for Monitor<Machine> {
    fn clone(&self) -> Self {
        Monitor {
            isa: self.isa.clone(),
            host: self.host.clone(),
            technique: self.setup.build(),
            setup: self.setup.clone(),
            allocator: self.allocator.clone(),
            vms: self.vms.clone(),
            emulated_by_insn: self.emulated_by_insn.clone(),
            control: self.control.clone(),
        }
    }
}

impl Monitor<Machine> {
    /// A trap-and-emulate monitor on a real machine of `q` words.
    pub fn new(isa: Arc<Isa>, q: u64) -> Result<Monitor, VmmError> {
        Monitor::with_technique(isa, q, crate::TechniqueKind::Tae)
    }

    /// A monitor of the given technique (a [`crate::TechniqueKind`], or a [`Setup`] that
    /// also carries the critical set a binary translator scans for) on a real machine of `q`
    /// words.
    pub fn with_technique(
        isa: Arc<Isa>,
        q: u64,
        technique: impl Into<Setup>,
    ) -> Result<Monitor, VmmError> {
        let setup = technique.into();
        let host = Machine::new(isa.clone(), q)?;
        let mut mon = Monitor::on(isa, host, setup.build());
        mon.setup = setup;
        Ok(mon)
    }
}

impl<H: Host> Monitor<H> {
    /// A monitor on `host`, which it takes over: the control program's words and the rest of
    /// its memory are the monitor's to hand out.
    pub fn on(isa: Arc<Isa>, mut host: H, technique: Box<dyn Technique<H>>) -> Monitor<H> {
        host.hand_traps_to_monitor();
        technique.prepare(&isa, &mut host);
        let q = host.size();
        Monitor {
            emulated_by_insn: vec![0; isa.insns.len() * CAUSES],
            setup: Setup::from(technique.kind()),
            isa,
            host,
            technique,
            allocator: Allocator::new(q, CP_WORDS),
            vms: Vec::new(),
            control: None,
        }
    }

    /// Which technique runs the guests.
    pub fn technique(&self) -> crate::TechniqueKind {
        self.technique.kind()
    }

    /// Creates a VM of `w` words holding `segments` (guest addresses), starting at `entry`.
    /// When the allocator refuses, nothing changes and no VM is created.
    pub fn create_vm(
        &mut self,
        w: u64,
        segments: &[(u64, &[u64])],
        entry: Psw,
    ) -> Result<VmId, VmmError> {
        let id = self.vms.len();
        for &(org, words) in segments {
            let end = org.saturating_add(words.len() as u64);
            if end > w {
                return Err(VmmError::ImageTooLarge {
                    vm: id,
                    start: org,
                    end,
                    w,
                });
            }
        }
        let region = self.allocator.allocate(id, w)?;
        let map = VmMap {
            base: region.base,
            w,
        };
        for &(org, words) in segments {
            for (i, &word) in words.iter().enumerate() {
                self.host.store(map.base.0 + org + i as u64, word);
            }
        }
        let class = self.isa.features.timer.unwrap_or(1);
        self.vms
            .push(VmState::new(id, map, VirtualCpu::new(entry, class)));
        Ok(id)
    }

    /// The guest's memory, `E[0..w)`.
    pub fn window(&self, id: VmId) -> &[u64] {
        let m = self.vms[id].map;
        &self.host.memory()[m.base.0 as usize..m.end().0 as usize]
    }

    /// The VMs.
    pub fn vms(&self) -> &[VmState] {
        &self.vms
    }

    /// A VM's state.
    pub fn vm(&self, id: VmId) -> &VmState {
        &self.vms[id]
    }

    /// Queues console input for a VM.
    pub fn push_input(&mut self, id: VmId, bytes: &[u8]) {
        self.vms[id].cpu.devices.console.push_input(bytes);
    }

    /// The host (for isolation checks).
    pub fn real(&self) -> &H {
        &self.host
    }

    pub(crate) fn host_mut(&mut self) -> &mut H {
        &mut self.host
    }

    pub(crate) fn vm_mut(&mut self, id: VmId) -> &mut VmState {
        &mut self.vms[id]
    }

    /// The allocator.
    pub fn allocator(&self) -> &Allocator {
        &self.allocator
    }

    /// The ISA.
    pub fn isa(&self) -> &Arc<Isa> {
        &self.isa
    }

    /// Runs VM `id` for at most `budget` guest instructions.
    pub fn run_vm(&mut self, id: VmId, budget: u64) -> VmExit {
        let exit = self.run_until(id, budget);
        let counts = &mut self.vms[id].counts;
        for (at, n) in self.emulated_by_insn.iter_mut().enumerate() {
            if *n > 0 {
                let n = std::mem::take(n);
                let (trap, mode) = CAUSE_OF[at % CAUSES];
                let name = &self.isa.insns[at / CAUSES].mnemonic;
                *counts.emulated_by_mnemonic.entry(name.clone()).or_insert(0) += n;
                counts.add_emulation(name, trap, mode, n);
            }
        }
        if let Some(block) = &mut self.control {
            for (at, n) in block.assisted_by_insn.iter_mut().enumerate() {
                if *n > 0 {
                    let name = &self.isa.insns[at].mnemonic;
                    *counts.assisted_by_mnemonic.entry(name.clone()).or_insert(0) +=
                        std::mem::take(n);
                }
            }
        }
        exit
    }

    /// Runs every VM round-robin, `slice` guest instructions a turn, until each has halted
    /// or run `max_steps` instructions. A guest that never halts costs the others nothing
    /// but its own slices.
    pub fn run_all(&mut self, slice: u64, max_steps: u64) {
        let slice = slice.max(1);
        loop {
            let mut ran_any = false;
            for id in 0..self.vms.len() {
                let vm = &self.vms[id];
                if vm.exit.is_some() || vm.steps() >= max_steps {
                    continue;
                }
                let turn = slice.min(max_steps - vm.steps());
                self.run_vm(id, turn);
                ran_any = true;
            }
            if !ran_any {
                return;
            }
        }
    }

    /// The run loop, one [`Phase`] at a time.
    fn run_until(&mut self, id: VmId, budget: u64) -> VmExit {
        let end = self.vms[id].steps().saturating_add(budget);
        let mut phase = Phase::Boundary;
        loop {
            phase = match phase {
                Phase::Boundary => self.boundary(id, end),
                Phase::Direct(n) => self.direct(id, n),
                Phase::Dispatch(trap) => self.dispatch(id, Some(trap)),
                Phase::Interpret => self.dispatch(id, None),
                Phase::Stop(exit) => {
                    if !matches!(exit, VmExit::BudgetSpent | VmExit::Trapped(_)) {
                        self.vms[id].exit = Some(exit);
                    }
                    return exit;
                }
            };
        }
    }

    /// Between two guest instructions: the virtual timer's interrupt, then how far the guest
    /// may run directly (to the budget, or to where its timer falls due).
    fn boundary(&mut self, id: VmId, end: u64) -> Phase {
        let vm = &mut self.vms[id];
        if let Some(exit) = vm.exit {
            return Phase::Stop(exit);
        }
        let mut view = Window {
            host: &mut self.host,
            map: vm.map,
            cpu: &mut vm.cpu,
        };
        if cycle::interrupt(&mut view) {
            vm.counts.interrupts += 1;
        }
        let clock = vm.steps();
        if clock >= end {
            return Phase::Stop(VmExit::BudgetSpent);
        }
        let mut view = Window {
            host: &mut self.host,
            map: vm.map,
            cpu: &mut vm.cpu,
        };
        match self.technique.plan(&self.isa, &mut view, &mut vm.counts) {
            Plan::Interpret => Phase::Interpret,
            Plan::Direct(n) => {
                let room = vm.cpu.devices.timer.stop(clock, end) - clock;
                Phase::Direct(n.min(room).max(1))
            }
        }
    }

    /// The guest runs on the host in real user mode, `R' = f(R)`, for at most `n`
    /// instructions.
    fn direct(&mut self, id: VmId, n: u64) -> Phase {
        let vm = &mut self.vms[id];
        let real_psw = vm.map.real_psw(vm.cpu.psw);
        self.host.set_psw(real_psw);
        // The VM assist, when the technique uses one and the host has it: the machine gets the
        // VM's virtual PSW and map (its control block), and may carry out some of the guest's
        // privileged instructions itself while it runs.
        let assisting = self.technique.kind().uses_vm_assist() && self.host.has_vm_assist();
        if assisting {
            let mut block = self.control.take().unwrap_or_else(|| {
                ControlBlock::new(
                    &self.isa,
                    vm.map,
                    VirtualCpu::new(vm.cpu.psw, vm.cpu.timer_class),
                )
            });
            block.map = vm.map;
            block.cpu.psw = vm.cpu.psw;
            block.cpu.assist = vm.cpu.assist;
            block.reflect = vm.policy == TrapPolicy::Hardware;
            // A virtual interrupt waiting for user mode is delivered at the monitor's next
            // boundary; an assisted return to user mode would run past it.
            block.enabled = !vm.cpu.devices.timer.pending();
            self.host.load_control_block(block);
        }
        let before = self.host.clock();
        let exit = self.host.run(n);
        let ran = self.host.clock() - before;
        let now = self.host.psw();
        // The monitor's virtual PSW is the control block's: whatever the assist did, the two
        // agree again before anything else looks at the VM.
        let mut assisted = 0;
        if assisting && let Some(mut block) = self.host.take_control_block() {
            vm.cpu.psw = block.cpu.psw;
            vm.cpu.assist = block.cpu.assist;
            assisted = std::mem::take(&mut block.assisted);
            self.control = Some(block);
        }
        vm.counts.assisted += assisted;
        let direct = ran - assisted;
        let expected = vm.map.real_reloc(vm.cpu.psw.r);
        vm.cpu.psw.p = now.p;
        // In real user mode only a trap may change M, R or the assist (or the VM assist, which
        // sets R from the VM map as the monitor does), and the real devices
        // are the monitor's (it interprets every device instruction on the VM's own); a trap
        // is transactional, so after one all of these are as set. Anything else is an
        // unprivileged instruction reaching real control state or devices, and the VM map no
        // longer confines the guest: stop it, and clear the devices so that nothing carries
        // over to the next VM. A real machine ends its run right after such an instruction
        // (`Exit::Escaped`), so nothing after it ran in real supervisor mode or with a wrong
        // `R`, nor was counted direct; the state checks catch any other host, and an
        // instruction that changed the mode and then halted.
        if exit == Exit::Escaped
            || now.mode != Mode::User
            || now.r != expected
            || self.host.assist() != self.isa.features.assist
            || self.host.devices().touched()
        {
            vm.counts.direct += direct;
            vm.cpu.devices.retire(ran);
            self.host.devices_mut().reset();
            self.host.set_assist(self.isa.features.assist);
            return Phase::Stop(VmExit::Escaped);
        }
        match exit {
            Exit::Trapped(kind) => {
                vm.counts.direct += direct - 1;
                vm.cpu.devices.retire(ran - 1);
                Phase::Dispatch(kind)
            }
            Exit::Halted => {
                // Only an unprivileged halt gets here: the real processor stopped.
                vm.counts.direct += direct;
                vm.cpu.devices.retire(ran);
                Phase::Stop(VmExit::Halted)
            }
            Exit::BudgetSpent | Exit::Stuck | Exit::Escaped => {
                vm.counts.direct += direct;
                vm.cpu.devices.retire(ran);
                Phase::Boundary
            }
        }
    }

    /// The dispatcher: the technique decides what the real trap `trap` becomes (or, with no
    /// trap, carries out the next instruction in software), and the instruction is counted,
    /// with the real trap that brought it and the virtual mode it ran in.
    fn dispatch(&mut self, id: VmId, trap: Option<TrapKind>) -> Phase {
        let interpret = trap.is_none();
        let vm = &mut self.vms[id];
        let mode = vm.cpu.psw.mode;
        let mut view = Window {
            host: &mut self.host,
            map: vm.map,
            cpu: &mut vm.cpu,
        };
        let disposition = if interpret {
            self.technique.interpret(&self.isa, &mut view)
        } else {
            self.technique.dispatch(&self.isa, &mut view)
        };
        view.cpu.devices.retire(1);
        let counts = &mut vm.counts;
        let mut emulated = |insn: Option<InsnId>| {
            counts.emulated += 1;
            if let Some(i) = insn {
                self.emulated_by_insn[i * CAUSES + cause_index(trap, mode)] += 1;
            }
        };
        match disposition {
            Disposition::Emulated { insn } => {
                emulated(insn);
                Phase::Boundary
            }
            Disposition::Interpreted { .. } => {
                counts.interpreted += 1;
                Phase::Boundary
            }
            Disposition::Translated { .. } => {
                counts.translated += 1;
                Phase::Boundary
            }
            Disposition::Hypercall { .. } => {
                counts.hypercalls += 1;
                Phase::Boundary
            }
            Disposition::Halted { .. } if interpret => {
                if self.technique.kind().translates() {
                    counts.translated += 1;
                } else {
                    counts.interpreted += 1;
                }
                Phase::Stop(VmExit::Halted)
            }
            Disposition::Halted { insn } => {
                emulated(insn);
                Phase::Stop(VmExit::Halted)
            }
            Disposition::Reflected(kind) => {
                if vm.policy == TrapPolicy::Exit {
                    return Phase::Stop(VmExit::Trapped(kind));
                }
                match cycle::trap(&mut view) {
                    cycle::Entry::Taken => {
                        counts.reflect(kind);
                        Phase::Boundary
                    }
                    cycle::Entry::Looped => {
                        counts.reflect(kind);
                        Phase::Stop(VmExit::Stuck)
                    }
                    cycle::Entry::Refused => Phase::Stop(VmExit::Stuck),
                }
            }
            Disposition::Stuck => Phase::Stop(VmExit::Stuck),
            Disposition::Escaped => Phase::Stop(VmExit::Escaped),
        }
    }
}

/// Why an emulated instruction came to the monitor: one of the real trap kinds, in one of the
/// virtual modes.
const CAUSES: usize = 10;

/// Every cause, by [`cause_index`].
const CAUSE_OF: [(Option<TrapKind>, Mode); CAUSES] = [
    (Some(TrapKind::Memory), Mode::User),
    (Some(TrapKind::Memory), Mode::Supervisor),
    (Some(TrapKind::Privileged), Mode::User),
    (Some(TrapKind::Privileged), Mode::Supervisor),
    (Some(TrapKind::Instruction), Mode::User),
    (Some(TrapKind::Instruction), Mode::Supervisor),
    (Some(TrapKind::Illegal), Mode::User),
    (Some(TrapKind::Illegal), Mode::Supervisor),
    (None, Mode::User),
    (None, Mode::Supervisor),
];

/// Where a cause is counted, so that counting one is an index, not a lookup.
fn cause_index(trap: Option<TrapKind>, mode: Mode) -> usize {
    let t = match trap {
        Some(TrapKind::Memory) => 0,
        Some(TrapKind::Privileged) => 1,
        Some(TrapKind::Instruction) => 2,
        Some(TrapKind::Illegal) => 3,
        None => 4,
    };
    2 * t + usize::from(mode == Mode::Supervisor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cause_has_its_own_counter() {
        for (i, &(trap, mode)) in CAUSE_OF.iter().enumerate() {
            assert_eq!(cause_index(trap, mode), i);
        }
    }
}
