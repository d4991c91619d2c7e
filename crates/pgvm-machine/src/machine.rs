//! The real machine: its state ([`Core`]), its devices, and the engine that executes it.
//!
//! The machine is the state `<E, M, P, R>` with the assist bit and the devices, run by the one
//! processor cycle ([`crate::cycle::run`]) with an [`Engine`] executing the instructions in
//! between. The engine is a type parameter so that the fast engine's loop is monomorphized
//! into the run loop; [`crate::engine::Interpreter`] is the reference every engine is tested
//! against.

use std::sync::Arc;

use pgvm_isa::{Isa, Mode};
use serde::Serialize;

use crate::assist::{AssistAction, ControlBlock};
use crate::cycle::{self, Event, Exit, Processor, TrapPolicy};
use crate::devices::{Devices, Timer};
use crate::engine::{Block, Blocks, Engine};
use crate::exec::TrapKind;
use crate::psw::{MAX_WORDS, Psw, Reloc};
use crate::view::StateView;

/// Counts of what happened, for reports and for the equivalence checker.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Traps by kind.
    pub memory: u64,
    /// Privileged-instruction traps.
    pub privileged: u64,
    /// Explicit traps (supervisor calls, arithmetic traps).
    pub instruction: u64,
    /// Illegal-instruction traps.
    pub illegal: u64,
    /// Timer interrupts delivered.
    pub interrupts: u64,
    /// Instructions the VM assist carried out instead of trapping.
    pub assisted: u64,
}

impl Stats {
    /// All traps, of every kind (interrupts excluded).
    pub fn traps(&self) -> u64 {
        self.memory + self.privileged + self.instruction + self.illegal
    }

    pub(crate) fn count(&mut self, event: Event) {
        match event {
            Event::Trap(TrapKind::Memory) => self.memory += 1,
            Event::Trap(TrapKind::Privileged) => self.privileged += 1,
            Event::Trap(TrapKind::Instruction) => self.instruction += 1,
            Event::Trap(TrapKind::Illegal) => self.illegal += 1,
            Event::Interrupt => self.interrupts += 1,
        }
    }
}

/// Errors building a machine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MachineError {
    /// `q` is zero or larger than a PSW can address.
    #[error("Memory size {0} is out of range")]
    MemorySize(u64),
    /// Words placed outside memory.
    #[error("Words {start}..{end} do not fit in memory of {q} words")]
    DoesNotFit {
        /// First address.
        start: u64,
        /// One past the last address.
        end: u64,
        /// Memory size.
        q: u64,
    },
}

impl MachineError {
    /// The hint printed under the message.
    pub fn hint(&self) -> String {
        match self {
            MachineError::MemorySize(_) => {
                format!("choose a memory size from 1 to {MAX_WORDS} words")
            }
            MachineError::DoesNotFit { end, .. } => {
                format!("give the machine at least {end} words")
            }
        }
    }
}

/// The machine's state as an engine executes it: memory, the PSW, the assist bit, the
/// devices and the counters. Every engine works on the same state, so that switching
/// engines changes how fast a run is and nothing else.
#[derive(Debug, Clone)]
pub struct Core {
    pub(crate) isa: Arc<Isa>,
    pub(crate) mem: Vec<u64>,
    pub(crate) psw: Psw,
    /// Valid apparent addresses are `0..limit` (see [`crate::Reloc::limit`]), recomputed
    /// whenever `R` changes so the engines check an address with one comparison.
    pub(crate) limit: u64,
    pub(crate) assist: bool,
    pub(crate) devices: Devices,
    pub(crate) stats: Stats,
}

impl Core {
    /// The description being executed.
    pub fn isa(&self) -> &Arc<Isa> {
        &self.isa
    }
}

/// Every [`StateView`] method but `store`, for a view that holds its [`Core`] in field
/// `$core`: the machine, and the fast engine's view of the core from inside its loop. The two
/// differ only in how a store keeps the engine's cache true, so each writes `store` itself.
macro_rules! core_methods {
    ($core:ident) => {
        fn size(&self) -> u64 {
            self.$core.size()
        }
        fn load(&self, pa: u64) -> u64 {
            self.$core.load(pa)
        }
        fn psw(&self) -> $crate::Psw {
            self.$core.psw
        }
        fn set_psw(&mut self, psw: $crate::Psw) {
            self.$core.set_psw(psw);
        }
        fn assist(&self) -> bool {
            self.$core.assist
        }
        fn set_assist(&mut self, on: bool) {
            self.$core.assist = on;
        }
        crate::device_methods!($core.devices);
    };
}
pub(crate) use core_methods;

/// The [`Processor`] methods of a type that holds the core in field `$core`: the machine and
/// the block engine's view of the core from inside its stretch share them, so that a trap
/// the engine takes itself is counted as one the cycle takes on the machine.
macro_rules! core_processor_methods {
    ($core:ident) => {
        fn devices(&self) -> &$crate::devices::Devices {
            &self.$core.devices
        }
        fn devices_mut(&mut self) -> &mut $crate::devices::Devices {
            &mut self.$core.devices
        }
        fn timer_class(&self) -> u64 {
            self.$core.isa.features.timer.unwrap_or(1)
        }
        fn note(&mut self, event: $crate::cycle::Event) {
            self.$core.stats.count(event);
        }
    };
}
pub(crate) use core_processor_methods;

/// The core as a view for the reference interpreter. Its stores reach memory directly: only
/// [`crate::engine::Interpreter`], which keeps no cache, executes through it.
impl StateView for Core {
    fn size(&self) -> u64 {
        self.mem.len() as u64
    }
    fn load(&self, pa: u64) -> u64 {
        self.mem[pa as usize]
    }
    fn store(&mut self, pa: u64, value: u64) {
        self.mem[pa as usize] = value;
    }
    fn psw(&self) -> Psw {
        self.psw
    }
    fn set_psw(&mut self, psw: Psw) {
        self.psw = psw;
        self.limit = psw.r.limit(self.mem.len() as u64);
    }
    fn assist(&self) -> bool {
        self.assist
    }
    fn set_assist(&mut self, on: bool) {
        self.assist = on;
    }
    crate::device_methods!(devices);
}

/// The paper's machine `S = <E, M, P, R>`, with the optional devices, executed by engine `E`.
#[derive(Debug, Clone)]
pub struct Machine<E: Engine = Block> {
    core: Core,
    engine: E,
    policy: TrapPolicy,
    /// The VM assist's control block, while a monitor has lent it one.
    control: Option<ControlBlock>,
    /// What the VM assist does with each instruction, and the ISA it decodes by: kept apart
    /// from `core`, and taken out while the assist runs, so that an assisted instruction
    /// borrows them beside the machine without cloning an `Arc` (two atomic increments and
    /// decrements an instruction, about as long as the rest of the assist's work).
    assist_tables: Option<(Arc<Isa>, Arc<[AssistAction]>)>,
}

impl Machine<Block> {
    /// A machine of `q` words on the block engine, all zero, in supervisor mode at `P = 0` with
    /// `R = <0, q>`.
    pub fn new(isa: Arc<Isa>, q: u64) -> Result<Machine, MachineError> {
        Machine::with_engine(isa, q)
    }
}

impl<E: Engine> Machine<E> {
    /// A machine of `q` words on engine `E`, reset as [`Machine::new`] says.
    pub fn with_engine(isa: Arc<Isa>, q: u64) -> Result<Machine<E>, MachineError> {
        if q == 0 || q > MAX_WORDS {
            return Err(MachineError::MemorySize(q));
        }
        let psw = Psw {
            mode: Mode::Supervisor,
            p: 0,
            r: Reloc { l: 0, b: q },
        };
        Ok(Machine {
            control: None,
            assist_tables: Some((Arc::clone(&isa), AssistAction::table(&isa).into())),
            engine: E::new(&isa, q),
            core: Core {
                mem: vec![0; q as usize],
                psw,
                limit: psw.r.limit(q),
                assist: false,
                devices: Devices::new(),
                stats: Stats::default(),
                isa,
            },
            policy: TrapPolicy::Hardware,
        })
    }

    /// The description this machine executes.
    pub fn isa(&self) -> &Arc<Isa> {
        &self.core.isa
    }

    /// Sets who takes traps.
    pub fn set_trap_policy(&mut self, policy: TrapPolicy) {
        self.policy = policy;
    }

    /// Writes words at physical addresses `start..`.
    pub fn write(&mut self, start: u64, words: &[u64]) -> Result<(), MachineError> {
        let q = self.size();
        let end = start.saturating_add(words.len() as u64);
        if end > q {
            return Err(MachineError::DoesNotFit { start, end, q });
        }
        self.core.mem[start as usize..end as usize].copy_from_slice(words);
        // As a store from outside the engine's loop: nothing it cached about a word survives.
        for pa in start..end {
            self.engine.invalidate(pa as usize);
        }
        Ok(())
    }

    /// Physical memory.
    pub fn memory(&self) -> &[u64] {
        &self.core.mem
    }

    /// Physical memory, taken out of the machine, for a caller that keeps the final state after
    /// the run without copying it.
    pub fn into_memory(self) -> Vec<u64> {
        self.core.mem
    }

    /// Instructions executed (completed, halted or trapped) since reset.
    pub fn steps(&self) -> u64 {
        self.core.devices.clock
    }

    /// Trap and interrupt counts.
    pub fn stats(&self) -> &Stats {
        &self.core.stats
    }

    /// The console, timer and clock.
    pub fn devices(&self) -> &Devices {
        &self.core.devices
    }

    /// Console output so far.
    pub fn output(&self) -> &[u8] {
        self.core.devices.console.output()
    }

    /// Queues console input.
    pub fn push_input(&mut self, bytes: &[u8]) {
        self.core.devices.console.push_input(bytes);
    }

    /// The assist bit.
    pub fn assist_bit(&self) -> bool {
        self.core.assist
    }

    /// Whether the interval timer is armed or its interrupt is waiting.
    pub fn timer_armed(&self) -> bool {
        !self.core.devices.timer.quiet()
    }

    /// Disarms the timer and forgets the console output: what a monitor does after a guest
    /// reached the real devices, so that nothing of it carries over to the next guest.
    pub fn reset_devices(&mut self) {
        self.core.devices.timer = Timer::default();
        self.core.devices.console.clear_output();
    }

    /// Whether the profile has a VM assist (`feature vm_assist`).
    pub fn has_vm_assist(&self) -> bool {
        self.core.isa.features.vm_assist.is_some()
    }

    /// Lends the VM assist a monitor's control block: from now on, until
    /// [`Machine::take_control_block`], an instruction the assist covers no longer traps in
    /// real user mode but is carried out on the block's virtual state. A machine whose profile
    /// has no VM assist keeps the block and does nothing with it.
    pub fn load_control_block(&mut self, block: ControlBlock) {
        self.control = Some(block);
    }

    /// Gives the control block back, with the virtual state as the assist left it.
    pub fn take_control_block(&mut self) -> Option<ControlBlock> {
        self.control.take()
    }

    /// The control block the VM assist holds, if any.
    pub fn control_block(&self) -> Option<&ControlBlock> {
        self.control.as_ref()
    }

    /// The engine, for its counters.
    pub fn engine(&self) -> &E {
        &self.engine
    }

    /// Runs until a halt, a trap the monitor owns, a stuck state, or `budget` instructions.
    pub fn run(&mut self, budget: u64) -> Exit {
        if self.through() {
            return self.run_through(budget);
        }
        let policy = self.policy;
        cycle::run(self, budget, policy, |m, stop| {
            m.engine.run(&mut m.core, stop)
        })
    }

    /// [`Machine::run`] where the engine takes traps and resumes through. Out of line, so
    /// that a monitor's run loop, which inlines [`Machine::run`], stays as small as it was.
    #[inline(never)]
    fn run_through(&mut self, budget: u64) -> Exit {
        let policy = self.policy;
        cycle::run(self, budget, policy, |m, stop| {
            m.engine.run_through(&mut m.core, stop, &mut |_, _| {})
        })
    }

    /// Whether the hardware takes every trap and no assist has a say in one: then the engine
    /// may take traps itself, and the resumes after them, without a turn of the cycle
    /// ([`Engine::run_through`]).
    fn through(&self) -> bool {
        self.policy == TrapPolicy::Hardware && self.control.is_none()
    }

    /// Runs like [`Machine::run`], and hands `observe` each stretch's instructions with the
    /// PSW it started under. The mode and `R` are fixed within a stretch (every engine ends
    /// one after an instruction that changes them, and a trap or an interrupt comes between
    /// two; an engine that takes traps and resumes through hands over each piece run under
    /// one PSW), so counting by that PSW is exact: how `pgvm nest` counts each level's
    /// instructions without leaving the cycle at every trap and every resume.
    pub fn run_observed<F: FnMut(Psw, u64)>(&mut self, budget: u64, mut observe: F) -> Exit {
        let policy = self.policy;
        if self.through() {
            return cycle::run(self, budget, policy, |m, stop| {
                m.engine.run_through(&mut m.core, stop, &mut observe)
            });
        }
        cycle::run(self, budget, policy, |m, stop| {
            let (psw, before) = (m.core.psw, m.core.devices.clock);
            let event = m.engine.run(&mut m.core, stop);
            observe(psw, m.core.devices.clock - before);
            event
        })
    }
}

impl<const HOT: u32> Machine<Blocks<HOT>> {
    /// Runs like [`Machine::run`], but stops before the instruction at apparent address `at`
    /// when execution reaches it (`None` then; that instruction has not run): blocks run
    /// directly up to it. What a binary translator needs to run a block up to its first
    /// critical instruction. Stops at once when `P` is already at `at`.
    pub fn run_until(&mut self, budget: u64, at: u64) -> Option<Exit> {
        let policy = self.policy;
        cycle::run_until(
            self,
            budget,
            policy,
            |m, stop| m.engine.run_to(&mut m.core, stop, at),
            |m| m.core.psw.p == at,
        )
    }
}

impl<E: Engine> StateView for Machine<E> {
    /// A store from outside the engine's loop (a trap entry, a monitor, a loader): the engine
    /// hears of it, so that nothing it cached about the word survives.
    fn store(&mut self, pa: u64, value: u64) {
        self.core.mem[pa as usize] = value;
        self.engine.invalidate(pa as usize);
    }
    core_methods!(core);
}

impl<E: Engine> Processor for Machine<E> {
    core_processor_methods!(core);
    /// The assist works on the machine itself, as a host for the VM's window: its stores go
    /// through [`Machine`]'s own, which keep the engine's cache true.
    fn assist_trap(&mut self, kind: TrapKind) -> bool {
        let Some(mut block) = self.control.take() else {
            return false;
        };
        let Some((isa, actions)) = self.assist_tables.take() else {
            self.control = Some(block);
            return false;
        };
        let done = crate::assist::assist(&isa, &actions, self, &mut block, kind);
        self.assist_tables = Some((isa, actions));
        self.control = Some(block);
        if done {
            self.core.stats.assisted += 1;
        }
        done
    }
}
