//! The control program `CP = <D, A, {v_i}>` of the paper's proof of Theorem 1.
//!
//! - The **dispatcher** ([`Monitor::dispatch`]) owns every trap of the real machine: guests
//!   run in real user mode with the real machine's trap policy set to hand every trap to it.
//! - The **allocator** ([`Allocator`]) owns every physical word given to a VM.
//! - The **interpreters** are not written by hand: the interpreter of a trapped instruction is
//!   its own semantics from the ISA description, run by `pgvm_machine::execute` on the VM's
//!   virtual state ([`VirtualView`]), with the virtual `M` and `R`.

use std::sync::Arc;

use pgvm_isa::{InsnId, Isa, Mode};
use pgvm_machine::{Exit, Machine, MachineError, Psw, StateView, Step, TrapPolicy};

use crate::allocator::{AllocError, Allocator, VmId};
use crate::view::VirtualView;
use crate::vm::{VmExit, VmState};
use crate::vmmap::VmMap;

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
}

/// The monitor and the real machine it controls.
#[derive(Debug, Clone)]
pub struct Monitor {
    isa: Arc<Isa>,
    real: Machine,
    allocator: Allocator,
    vms: Vec<VmState>,
    /// Instructions emulated during the current `run_vm`, by instruction: added to the
    /// VM's `emulated_by_mnemonic` when `run_vm` returns, so that no emulation looks a
    /// name up or allocates one.
    emulated_by_insn: Vec<u64>,
}

impl Monitor {
    /// A monitor on a real machine of `q` words.
    pub fn new(isa: Arc<Isa>, q: u64) -> Result<Monitor, VmmError> {
        let mut real = Machine::new(isa.clone(), q)?;
        real.set_trap_policy(TrapPolicy::Exit);
        // The monitor is the supervisor program that turns a hardware assist on: with it on,
        // the instructions the assist covers trap in real user mode, where guests run.
        if isa.features.assist {
            real.set_assist(true);
        }
        Ok(Monitor {
            emulated_by_insn: vec![0; isa.insns.len()],
            isa,
            real,
            allocator: Allocator::new(q, CP_WORDS),
            vms: Vec::new(),
        })
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
        for &(org, words) in segments {
            self.real.write(region.base + org, words)?;
        }
        let map = VmMap {
            base: region.base,
            w,
        };
        self.vms.push(VmState::new(id, map, entry));
        Ok(id)
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
        self.vms[id].input.extend_from_slice(bytes);
    }

    /// The guest's memory, `E[0..w)`.
    pub fn window(&self, id: VmId) -> &[u64] {
        let m = self.vms[id].map;
        &self.real.memory()[m.base as usize..(m.base + m.w) as usize]
    }

    /// The real machine (for isolation checks).
    pub fn real(&self) -> &Machine {
        &self.real
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
        let by_mnemonic = &mut self.vms[id].counts.emulated_by_mnemonic;
        for (insn, n) in self.emulated_by_insn.iter_mut().enumerate() {
            if *n > 0 {
                let name = &self.isa.insns[insn].mnemonic;
                *by_mnemonic.entry(name.clone()).or_insert(0) += std::mem::take(n);
            }
        }
        exit
    }

    fn run_until(&mut self, id: VmId, budget: u64) -> VmExit {
        let end = self.vms[id].steps.saturating_add(budget);
        loop {
            if let Some(exit) = self.vms[id].exit {
                return exit;
            }
            self.deliver_interrupt(id);
            let vm = &self.vms[id];
            if vm.steps >= end {
                return VmExit::BudgetSpent;
            }
            let stop = vm.timer_due.map_or(end, |due| due.min(end));
            let n = stop.saturating_sub(vm.steps).max(1);
            let real_psw = vm.map.real_psw(vm.psw);
            self.real.set_psw(real_psw);
            let before = self.real.steps();
            let exit = self.real.run(n);
            let ran = self.real.steps() - before;
            let now = self.real.psw();
            let vm = &mut self.vms[id];
            vm.steps += ran;
            vm.psw.p = now.p;
            // In real user mode only a trap may change M, R or the assist, and the real
            // devices are the monitor's (it interprets every device instruction on the VM's
            // own); a trap is transactional, so after one all of these are as set. Anything
            // else is an unprivileged instruction reaching real control state or devices,
            // and the VM map no longer confines the guest: stop it, and clear the devices so
            // that nothing carries over to the next VM.
            if now.mode != Mode::User
                || now.r != real_psw.r
                || self.real.assist_bit() != self.isa.features.assist
                || self.real.timer_armed()
                || !self.real.output().is_empty()
            {
                vm.counts.direct += ran;
                vm.exit = Some(VmExit::Escaped);
                self.real.reset_devices();
                self.real.set_assist(self.isa.features.assist);
                continue;
            }
            match exit {
                Exit::Trapped(_) => {
                    vm.counts.direct += ran - 1;
                    self.dispatch(id);
                }
                Exit::Halted => {
                    // Only an unprivileged halt gets here: the real processor stopped.
                    vm.counts.direct += ran;
                    vm.exit = Some(VmExit::Halted);
                }
                Exit::BudgetSpent | Exit::Stuck => vm.counts.direct += ran,
            }
            let vm = &mut self.vms[id];
            if let Some(due) = vm.timer_due
                && vm.steps >= due
            {
                vm.timer_due = None;
                vm.timer_pending = true;
            }
        }
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
                if vm.exit.is_some() || vm.steps >= max_steps {
                    continue;
                }
                let turn = slice.min(max_steps - vm.steps);
                self.run_vm(id, turn);
                ran_any = true;
            }
            if !ran_any {
                return;
            }
        }
    }

    fn deliver_interrupt(&mut self, id: VmId) {
        let class = self.isa.features.timer.unwrap_or(1);
        let vm = &mut self.vms[id];
        if vm.timer_pending && vm.psw.mode == Mode::User {
            vm.timer_pending = false;
            let mut view = VirtualView {
                real: &mut self.real,
                vm,
            };
            if pgvm_machine::trap_entry(&mut view, class) {
                view.vm.counts.interrupts += 1;
            }
        }
    }

    /// The dispatcher: every trap of the real machine comes here.
    ///
    /// The real machine trapped; the question is what the bare machine would have done, and
    /// the instruction's own semantics run on the virtual state answer it:
    ///
    /// - in virtual supervisor mode a privileged instruction completes there (it trapped only
    ///   because the guest really runs in user mode): the interpreter has applied its effect;
    /// - in virtual user mode a privileged instruction traps there too, and so do supervisor
    ///   calls and memory traps in either mode: the trap is the guest's and is reflected.
    ///
    /// Asking the semantics rather than the mode also covers a real machine that is stricter
    /// than the virtual one: with the hardware assist on for the monitor but off in the VM, an
    /// instruction the assist covers traps for real yet completes on the virtual machine.
    fn dispatch(&mut self, id: VmId) {
        // Borrowing the fields one by one keeps the ISA's reference count out of the loop.
        let Monitor {
            isa,
            real,
            vms,
            emulated_by_insn,
            ..
        } = self;
        let mut view = VirtualView {
            real,
            vm: &mut vms[id],
        };
        let (outcome, insn) = interpret(isa, &mut view);
        match outcome {
            Step::Done => record_emulated(emulated_by_insn, insn, view.vm),
            Step::Halted => {
                record_emulated(emulated_by_insn, insn, view.vm);
                view.vm.exit = Some(VmExit::Halted);
            }
            Step::Trapped(_) => reflect(&mut view),
        }
    }
}

/// `pgvm_machine::step` on the virtual state: the word at the virtual `P`, run with the
/// virtual `M` and `R`. The real processor has just fetched the same word and trapped on it,
/// so its decode cache already knows the instruction; asking it skips the ISA's search.
fn interpret(isa: &Isa, view: &mut VirtualView<'_>) -> (Step, Option<InsnId>) {
    pgvm_machine::step_decoding(isa, view, |view, pa| {
        view.real.decoded(view.vm.map.base + pa)
    })
}

fn record_emulated(by_insn: &mut [u64], insn: Option<InsnId>, vm: &mut VmState) {
    vm.counts.emulated += 1;
    if let Some(id) = insn {
        by_insn[id] += 1;
    }
}

/// Reflects a trap into the guest: its own `E[0] <- PSW; PSW <- E[1]`. A VM whose trap
/// re-enters exactly the state it left is stuck, as the bare machine would be.
fn reflect(view: &mut VirtualView<'_>) {
    let before = view.psw();
    let old_e0 = if view.size() > 0 { view.load(0) } else { 0 };
    if !pgvm_machine::trap_entry(view, 0) {
        view.vm.exit = Some(VmExit::Stuck);
        return;
    }
    view.vm.counts.reflected += 1;
    let quiet = view.vm.timer_due.is_none() && !view.vm.timer_pending;
    if quiet && pgvm_machine::trap_changed_nothing(before, old_e0, view.psw()) {
        view.vm.exit = Some(VmExit::Stuck);
    }
}
