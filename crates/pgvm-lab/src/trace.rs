//! Traces a person can read: each instruction with the PSW before it, and a line for every
//! trap and interrupt with its vector and the PSW it left and the PSW it loaded, on the bare
//! machine or under a monitor. With the assembler's [`Listing`], addresses are named by the
//! nearest label (`loop+2`).
//!
//! Tracing runs one instruction at a time, so it is for small programs: under a monitor it
//! stops after [`TRACE_LIMIT`] instructions (the run itself goes on untraced).

use std::sync::Arc;

use pgvm_asm::Listing;
use pgvm_isa::Isa;
use pgvm_machine::{Machine, Psw, StateView, TrapKind, develop};
use pgvm_vmm::{CP_WORDS, Guest, Monitor, VmId};

/// Guest instructions traced at most under a monitor.
pub const TRACE_LIMIT: u64 = 100_000;

/// How a guest instruction under a monitor was carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// On the bare machine: no monitor.
    Bare,
    /// Directly by the real processor.
    Direct,
    /// Trapped and interpreted by the monitor on the virtual state.
    Emulated,
    /// Trapped and reflected into the guest's own trap vector.
    Reflected,
    /// A critical instruction a binary translator carried out on the virtual state.
    Translated,
    /// A hypercall, served on the virtual state.
    Hypercall,
}

/// One line of a trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceEvent {
    /// An instruction, with the PSW before it.
    Insn {
        /// The VM, under a monitor that runs several.
        vm: Option<VmId>,
        /// Instructions executed before it.
        step: u64,
        /// The PSW before it.
        psw: Psw,
        /// Its physical address (`l + P`), when `P` develops.
        pa: Option<u64>,
        /// Its disassembly.
        text: String,
        /// How it was carried out.
        how: How,
    },
    /// A trap taken through `E[0]`/`E[1]` (reflected into the guest, under a monitor).
    Trap {
        /// The VM, under a monitor that runs several.
        vm: Option<VmId>,
        /// Why.
        kind: TrapKind,
        /// The PSW stored in `E[0]`.
        old: Psw,
        /// The PSW loaded from `E[1]`.
        new: Psw,
        /// Whether a monitor reflected it into a guest.
        reflected: bool,
    },
    /// A timer interrupt through `E[2t]`/`E[2t+1]` (a virtual one, under a monitor).
    Interrupt {
        /// The VM, under a monitor that runs several.
        vm: Option<VmId>,
        /// The interrupt class `t`.
        class: u64,
        /// The PSW stored in `E[2t]`.
        old: Psw,
        /// The PSW loaded from `E[2t+1]`.
        new: Psw,
        /// Whether it is a VM's virtual interrupt, delivered by a monitor.
        virtual_: bool,
    },
}

/// Where the label comment starts, counted from the instruction.
const LABEL_COLUMN: usize = 24;

impl TraceEvent {
    /// The event as one line; `size` is the memory the PSWs develop in (for labels).
    pub fn render(&self, listing: Option<&Listing>, size: u64) -> String {
        let name = |psw: &Psw| -> String {
            match (listing, develop(psw.p, psw.r, size)) {
                (Some(l), Some(pa)) => l
                    .label_at(pa)
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default(),
                _ => String::new(),
            }
        };
        let prefix = |vm: &Option<VmId>| vm.map_or_else(String::new, |v| format!("vm {v} "));
        match self {
            TraceEvent::Insn {
                vm,
                step,
                psw,
                pa,
                text,
                how,
            } => {
                let mark = match how {
                    How::Bare | How::Direct => "",
                    How::Emulated => "  [emulated]",
                    How::Reflected => "  [reflected]",
                    How::Translated => "  [translated]",
                    How::Hypercall => "  [hypercall]",
                };
                let body = format!("{text}{mark}");
                // The label goes last, as an assembler comment, so the instruction stays
                // right after the PSW whether or not there is one.
                match listing.zip(*pa).and_then(|(l, pa)| l.label_at(pa)) {
                    Some(label) => format!(
                        "{}{step:>10}  {psw}  {body:<LABEL_COLUMN$}  ; {label}",
                        prefix(vm)
                    ),
                    None => format!("{}{step:>10}  {psw}  {body}", prefix(vm)),
                }
            }
            TraceEvent::Trap {
                vm,
                kind,
                old,
                new,
                reflected,
            } => format!(
                "{}{:>10}  ** {} trap {}via E[0]/E[1]: old {old}{} -> new {new}{}",
                prefix(vm),
                "",
                kind.name(),
                if *reflected { "reflected " } else { "" },
                name(old),
                name(new)
            ),
            TraceEvent::Interrupt {
                vm,
                class,
                old,
                new,
                virtual_,
            } => format!(
                "{}{:>10}  ** {}timer interrupt via E[{}]/E[{}]: old {old}{} -> new {new}{}",
                prefix(vm),
                "",
                if *virtual_ { "virtual " } else { "" },
                2 * class,
                2 * class + 1,
                name(old),
                name(new)
            ),
        }
    }
}

/// The instruction at `psw` in a memory of `size` words read by `load`, disassembled.
fn instruction(isa: &Isa, psw: Psw, size: u64, load: impl Fn(u64) -> u64) -> (Option<u64>, String) {
    let pa = develop(psw.p, psw.r, size);
    let text = pa.map_or_else(
        || "(fetch outside the window)".to_string(),
        |pa| pgvm_asm::disassemble_word(load(pa), isa),
    );
    (pa, text)
}

/// The kind of the trap that moved a count in `after` over `before`.
fn trap_kind(before: &pgvm_machine::Stats, after: &pgvm_machine::Stats) -> Option<TrapKind> {
    [
        (after.memory > before.memory, TrapKind::Memory),
        (after.privileged > before.privileged, TrapKind::Privileged),
        (
            after.instruction > before.instruction,
            TrapKind::Instruction,
        ),
        (after.illegal > before.illegal, TrapKind::Illegal),
    ]
    .into_iter()
    .find_map(|(moved, k)| moved.then_some(k))
}

/// The trap and interrupt lines of one step, in the order the hardware took them: the trap
/// of the instruction (whose new PSW is `E[1]`), then an interrupt delivered at the next
/// boundary (whose old PSW is in `E[2t]`). `load` reads the memory the vectors are in.
#[allow(clippy::too_many_arguments)]
fn after_step(
    vm: Option<VmId>,
    monitored: bool,
    trapped: Option<TrapKind>,
    interrupted: Option<u64>,
    before: Psw,
    now: Psw,
    load: impl Fn(u64) -> Option<u64>,
    on: &mut dyn FnMut(&TraceEvent),
) {
    if let Some(kind) = trapped {
        let new = match interrupted {
            Some(_) => load(1).map_or(now, Psw::unpack),
            None => now,
        };
        on(&TraceEvent::Trap {
            vm,
            kind,
            old: before,
            new,
            reflected: monitored,
        });
    }
    if let Some(class) = interrupted {
        let old = load(2 * class).map_or(before, Psw::unpack);
        on(&TraceEvent::Interrupt {
            vm,
            class,
            old,
            new: now,
            virtual_: monitored,
        });
    }
}

/// One instruction of the bare machine, traced: a due interrupt first (its own line), then
/// the instruction, then the trap it took and the interrupt delivered after it, if any.
/// Returns how the step ended.
pub fn step_bare(m: &mut Machine, on: &mut dyn FnMut(&TraceEvent)) -> pgvm_machine::Exit {
    let class = pgvm_machine::Processor::timer_class(m);
    let before = m.stats().clone();
    let old = m.psw();
    // A budget of 0 delivers a due interrupt and runs nothing.
    m.run(0);
    if m.stats().interrupts > before.interrupts {
        on(&TraceEvent::Interrupt {
            vm: None,
            class,
            old,
            new: m.psw(),
            virtual_: false,
        });
    }
    let psw = m.psw();
    let (pa, text) = instruction(m.isa(), psw, m.size(), |pa| m.load(pa));
    on(&TraceEvent::Insn {
        vm: None,
        step: m.steps(),
        psw,
        pa,
        text,
        how: How::Bare,
    });
    let before = m.stats().clone();
    let exit = m.run(1);
    let interrupted = (m.stats().interrupts > before.interrupts).then_some(class);
    let size = m.size();
    after_step(
        None,
        false,
        trap_kind(&before, m.stats()),
        interrupted,
        psw,
        m.psw(),
        |pa| (pa < size).then(|| m.load(pa)),
        on,
    );
    exit
}

/// One guest instruction of VM `id` under `mon`, traced: a due virtual interrupt first, then
/// the instruction marked direct, emulated or reflected (with the trap reflected into the
/// guest's own vector), then a virtual interrupt delivered after it. `vm` is what the lines
/// call the VM (`None` when there is only one).
pub fn step_vm(
    mon: &mut Monitor,
    id: VmId,
    vm: Option<VmId>,
    on: &mut dyn FnMut(&TraceEvent),
) -> Option<pgvm_vmm::VmExit> {
    let c0 = mon.vm(id).counts.clone();
    let old = mon.vm(id).psw();
    let class = mon.vm(id).cpu.timer_class;
    // A budget of 0 stops at the first boundary, after delivering a due interrupt.
    mon.run_vm(id, 0);
    let state = mon.vm(id);
    if state.counts.interrupts > c0.interrupts {
        on(&TraceEvent::Interrupt {
            vm,
            class,
            old,
            new: state.psw(),
            virtual_: true,
        });
    }
    if let Some(exit) = state.exit {
        return Some(exit);
    }
    let psw = state.psw();
    let (pa, text) = {
        let window = mon.window(id);
        instruction(mon.isa(), psw, window.len() as u64, |pa| {
            window[pa as usize]
        })
    };
    let step = state.steps();
    let c1 = state.counts.clone();
    let host_before = mon.real().stats().clone();
    let exit = mon.run_vm(id, 1);
    let c2 = &mon.vm(id).counts;
    let how = if c2.emulated > c1.emulated {
        How::Emulated
    } else if c2.reflected > c1.reflected {
        How::Reflected
    } else if c2.translated > c1.translated {
        How::Translated
    } else if c2.hypercalls > c1.hypercalls {
        How::Hypercall
    } else {
        How::Direct
    };
    let interrupted = (c2.interrupts > c1.interrupts).then_some(class);
    on(&TraceEvent::Insn {
        vm,
        step,
        psw,
        pa,
        text,
        how,
    });
    let trapped = (how == How::Reflected)
        .then(|| trap_kind(&host_before, mon.real().stats()).unwrap_or(TrapKind::Instruction));
    let window = mon.window(id);
    after_step(
        vm,
        true,
        trapped,
        interrupted,
        psw,
        mon.vm(id).psw(),
        |pa| window.get(pa as usize).copied(),
        on,
    );
    (exit != pgvm_vmm::VmExit::BudgetSpent).then_some(exit)
}

/// Runs `guest` alone under a monitor of `technique` (a kind, or a [`pgvm_vmm::Setup`] from
/// [`crate::equiv::setup`] that gives a binary translator the classifier's critical set), one
/// instruction at a time, for at most `max_steps` (and [`TRACE_LIMIT`]) guest instructions,
/// giving each event's line (named with `listing`) to `on`; returns the instructions traced.
pub fn trace_guest(
    isa: &Arc<Isa>,
    guest: &Guest,
    listing: Option<&Listing>,
    technique: impl Into<pgvm_vmm::Setup>,
    max_steps: u64,
    on: &mut dyn FnMut(&str),
) -> Result<u64, crate::equiv::EquivError> {
    let setup: pgvm_vmm::Setup = technique.into();
    crate::assist::check(isa, setup.kind)?;
    let mut mon = Monitor::with_technique(isa.clone(), CP_WORDS + guest.w, setup)?;
    let segs: Vec<(u64, &[u64])> = guest.segments.iter().map(|(o, w)| (*o, &w[..])).collect();
    let id = mon.create_vm(guest.w, &segs, guest.entry)?;
    mon.push_input(id, &guest.input);
    let limit = max_steps.min(TRACE_LIMIT);
    while mon.vm(id).steps() < limit {
        let mut render = |e: &TraceEvent| on(&e.render(listing, guest.w));
        if step_vm(&mut mon, id, None, &mut render).is_some() {
            break;
        }
    }
    Ok(mon.vm(id).steps())
}
