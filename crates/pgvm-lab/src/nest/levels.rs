//! How a nested image runs, and how its instructions are counted by level: with the assembly
//! monitor at level 0 on the real machine, or with the host-side monitor at level 0.

use std::sync::Arc;

use pgvm_isa::{Isa, Mode};
use pgvm_machine::{Devices, Exit, Machine, Processor, Psw, StateView, TrapPolicy, cycle};
use pgvm_vmm::{Host, Monitor, TechniqueKind, VmExit};

use super::{NestError, NestedImage, VMM_K};

/// Where the levels are.
#[derive(Debug, Clone, Copy)]
pub(super) struct Layout {
    pub(super) depth: u32,
    /// Words the host-side monitor keeps below the first assembly monitor (0 when none).
    pub(super) host: u64,
}

impl Layout {
    /// The level whose code runs with real PSW `psw`: level 0's own code runs in supervisor
    /// mode; assembly monitor `i` runs with `R.l` at its base, the guest above them all.
    pub(super) fn level(&self, psw: Psw) -> usize {
        let first = u64::from(self.host > 0);
        if psw.mode == Mode::Supervisor && self.host == 0 {
            return 0;
        }
        let band = psw.r.l.saturating_sub(self.host) / VMM_K;
        (first + band).min(u64::from(self.depth)) as usize
    }
}

pub(super) enum NestedExit {
    Halted,
    Stuck,
    Budget,
    Escaped,
}

impl NestedExit {
    pub(super) fn text(&self) -> &'static str {
        match self {
            NestedExit::Halted => "halted",
            NestedExit::Stuck => "stuck",
            NestedExit::Budget => "step limit",
            NestedExit::Escaped => "escaped",
        }
    }
}

/// What a nested run leaves for the report.
pub(super) struct Nested {
    pub(super) memory: Vec<u64>,
    pub(super) console: Vec<u8>,
    /// Real instructions by level.
    pub(super) per_level: Vec<u64>,
    pub(super) exit: NestedExit,
    /// Traps and interrupts the real machine took.
    pub(super) l0_traps: u64,
    /// With the host-side monitor at level 0: its VM's virtual PSW, and its counts.
    pub(super) host_vpsw: Option<Psw>,
    pub(super) host_counts: Option<pgvm_vmm::Counts>,
}

/// Level 0 is the assembly monitor on the real machine: the hardware takes every trap and
/// interrupt, and each stretch of instructions, run with one `R`, is counted for the level
/// whose code ran it ([`Machine::run_observed`]).
pub(super) fn run_self(
    isa: &Arc<Isa>,
    image: &NestedImage,
    layout: &Layout,
    budget: u64,
) -> Result<Nested, NestError> {
    let mut m = Machine::new(isa.clone(), image.words)?;
    for (org, words) in &image.segments {
        m.write(*org, words)?;
    }
    m.set_psw(image.first_entry);
    // The hardware takes every trap and interrupt: level 0 is the assembly monitor.
    m.set_trap_policy(TrapPolicy::Hardware);
    let mut per_level = vec![0u64; layout.depth as usize + 1];
    let exit = m.run_observed(budget, |psw, n| per_level[layout.level(psw)] += n);
    let exit = match exit {
        Exit::Halted => NestedExit::Halted,
        Exit::Stuck => NestedExit::Stuck,
        Exit::BudgetSpent => NestedExit::Budget,
        // Neither comes back under the hardware's policy; named for completeness.
        Exit::Trapped(_) | Exit::Escaped => NestedExit::Escaped,
    };
    let l0_traps = m.stats().traps() + m.stats().interrupts;
    Ok(Nested {
        console: m.output().to_vec(),
        memory: m.into_memory(),
        per_level,
        exit,
        l0_traps,
        host_vpsw: None,
        host_counts: None,
    })
}

/// The real machine under the host-side monitor, counting each stretch it runs for the level
/// whose code ran it (the monitor changes `R` only between stretches).
#[derive(Debug)]
struct LevelHost {
    machine: Machine,
    layout: Layout,
    per_level: Vec<u64>,
}

impl StateView for LevelHost {
    fn size(&self) -> u64 {
        self.machine.size()
    }
    fn load(&self, pa: u64) -> u64 {
        self.machine.load(pa)
    }
    fn store(&mut self, pa: u64, value: u64) {
        self.machine.store(pa, value);
    }
    fn psw(&self) -> Psw {
        self.machine.psw()
    }
    fn set_psw(&mut self, psw: Psw) {
        self.machine.set_psw(psw);
    }
    fn assist(&self) -> bool {
        StateView::assist(&self.machine)
    }
    fn set_assist(&mut self, on: bool) {
        self.machine.set_assist(on);
    }
    pgvm_machine::device_methods!(Processor);
}

impl Processor for LevelHost {
    fn devices(&self) -> &Devices {
        Processor::devices(&self.machine)
    }
    fn devices_mut(&mut self) -> &mut Devices {
        Processor::devices_mut(&mut self.machine)
    }
    fn timer_class(&self) -> u64 {
        self.machine.timer_class()
    }
    fn note(&mut self, event: cycle::Event) {
        self.machine.note(event);
    }
}

impl Host for LevelHost {
    fn hand_traps_to_monitor(&mut self) {
        self.machine.set_trap_policy(TrapPolicy::Exit);
    }
    fn run(&mut self, budget: u64) -> Exit {
        let level = self.layout.level(self.machine.psw());
        let before = self.machine.steps();
        let exit = self.machine.run(budget);
        self.per_level[level] += self.machine.steps() - before;
        exit
    }
    fn memory(&self) -> &[u64] {
        self.machine.memory()
    }
}

/// Level 0 is the host-side monitor: the assembly monitors and the guest are its one VM.
pub(super) fn run_native(
    isa: &Arc<Isa>,
    image: &NestedImage,
    layout: &Layout,
    budget: u64,
) -> Result<Nested, NestError> {
    let q = layout.host + image.words;
    let host = LevelHost {
        machine: Machine::new(isa.clone(), q)?,
        layout: *layout,
        per_level: vec![0; layout.depth as usize + 1],
    };
    let mut mon = Monitor::on(isa.clone(), host, TechniqueKind::Tae.build::<LevelHost>());
    let chunks: Vec<_> = image
        .segments
        .iter()
        .map(|(org, words)| (*org, &words[..]))
        .collect();
    let id = mon.create_vm(image.words, &chunks, image.first_entry)?;
    let mut left = budget;
    let exit = loop {
        let before = mon.vm(id).steps();
        let e = mon.run_vm(id, left.min(1 << 24));
        left = left.saturating_sub(mon.vm(id).steps() - before);
        match e {
            VmExit::Halted => break NestedExit::Halted,
            VmExit::Stuck => break NestedExit::Stuck,
            VmExit::Escaped => break NestedExit::Escaped,
            VmExit::BudgetSpent | VmExit::Trapped(_) if left == 0 => break NestedExit::Budget,
            VmExit::BudgetSpent | VmExit::Trapped(_) => {}
        }
    };
    let vm = mon.vm(id);
    let real = mon.real();
    let mut memory = vec![0u64; layout.host as usize];
    memory.extend_from_slice(mon.window(id));
    Ok(Nested {
        memory,
        console: vm.console().to_vec(),
        per_level: real.per_level.clone(),
        exit,
        l0_traps: 0,
        host_vpsw: Some(vm.psw()),
        host_counts: Some(vm.counts.clone()),
    })
}
