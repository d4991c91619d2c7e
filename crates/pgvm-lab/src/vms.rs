//! Several guests at once, each in its own VM, sharing one real machine.

use std::sync::Arc;

use pgvm_isa::Isa;
use pgvm_vmm::{AllocError, Guest, Monitor, VmId};

pub use pgvm_vmm::VmmError;
use serde::Serialize;

use crate::equiv::{VmExit, vm_exit_text};
use crate::trace::{TRACE_LIMIT, TraceEvent, step_vm};

/// Why the VMs could not be run at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VmsError {
    /// The real machine could not be built.
    #[error(transparent)]
    Monitor(#[from] VmmError),
    /// Nothing to run.
    #[error("No guests")]
    NoGuests,
    /// A slice of zero instructions would never run a guest.
    #[error("A time slice must be at least 1 guest instruction")]
    ZeroSlice,
    /// The monitor would turn an unsound assist on.
    #[error(transparent)]
    Assist(#[from] crate::assist::AssistError),
}

/// One guest to run: its name (the file it came from) and the guest itself.
#[derive(Debug, Clone)]
pub struct NamedGuest {
    /// Where it came from, for the report.
    pub name: String,
    /// The guest.
    pub guest: Guest,
    /// The assembler's labels and lines for it, for traces (`None` for an image file).
    pub listing: Option<pgvm_asm::Listing>,
}

/// How a VM ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VmRun {
    /// The monitor's id of the VM.
    pub vm: VmId,
    /// First physical word of its memory.
    pub base: u64,
    /// Why it stopped ([`vm_exit_text`]); a VM still running stopped on its step budget.
    pub exit: &'static str,
    /// Whether the guest halted.
    pub halted: bool,
    /// Guest instructions executed.
    pub guest_instructions: u64,
    /// Executed directly by the real processor.
    pub direct: u64,
    /// Interpreted by the monitor.
    pub emulated: u64,
    /// Traps reflected into the guest.
    pub reflected: u64,
    /// Virtual timer interrupts delivered.
    pub interrupts: u64,
    /// The VM's console output (at most the console's cap, 64 MiB).
    pub console: String,
    /// Console bytes written past the cap, not kept.
    pub console_dropped: u64,
}

impl VmRun {
    /// What the console lost to the cap, in words; `None` when nothing was lost.
    pub fn truncation(&self) -> Option<String> {
        crate::run::truncation_text(
            pgvm_machine::MAX_CONSOLE_OUTPUT as u64,
            self.console_dropped,
        )
    }
}

/// One guest's outcome: run, or refused with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VmReport {
    /// Its position among the guests, from 1.
    pub position: usize,
    /// Its name (file).
    pub guest: String,
    /// The VM's memory `w`.
    pub words: u64,
    /// Why the monitor refused it, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// How it ran, when it was created.
    #[serde(flatten)]
    pub run: Option<VmRun>,
}

/// Every guest's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vms {
    /// The profile they share.
    pub isa: String,
    /// The real machine's memory.
    pub host_words: u64,
    /// In the order the guests were given.
    pub vms: Vec<VmReport>,
}

impl Vms {
    /// Whether every guest got a VM and halted in it.
    pub fn all_halted(&self) -> bool {
        self.vms
            .iter()
            .all(|v| v.run.as_ref().is_some_and(|r| r.halted))
    }

    /// The refused guests.
    pub fn refused(&self) -> impl Iterator<Item = &VmReport> {
        self.vms.iter().filter(|v| v.refused.is_some())
    }
}

/// Why the monitor refused a VM, without the monitor's VM number: a refused guest gets no
/// VM, so the number it would have had names nothing the user can see.
fn refusal(e: &VmmError) -> String {
    match e {
        VmmError::Alloc(AllocError::DoesNotFit { asked, largest, .. }) => {
            format!("it asks for {asked} words; the largest free run is {largest}")
        }
        VmmError::Alloc(AllocError::Empty(_)) => "it asks for no memory".into(),
        VmmError::ImageTooLarge { start, end, w, .. } => {
            format!("its words {start}..{end} do not fit in its {w} words")
        }
        other => other.to_string(),
    }
}

/// Runs every guest in its own VM on a real machine of `host_words`, round-robin, `slice`
/// guest instructions a turn, until each has halted or run `max_steps`. A guest the
/// allocator refuses is reported as refused; the others still run. With `trace`, the first
/// [`TRACE_LIMIT`] guest instructions (of all VMs together) are run one at a time and
/// reported, in the same turns; the rest run untraced.
pub fn run(
    isa: &Arc<Isa>,
    guests: &[NamedGuest],
    host_words: u64,
    slice: u64,
    max_steps: u64,
    trace: Option<&mut dyn FnMut(&str)>,
) -> Result<Vms, VmsError> {
    if guests.is_empty() {
        return Err(VmsError::NoGuests);
    }
    if slice == 0 {
        return Err(VmsError::ZeroSlice);
    }
    crate::assist::check(isa, pgvm_vmm::TechniqueKind::Tae)?;
    // The monitor is used here only: adapt here when its interface changes.
    let mut mon = Monitor::new(isa.clone(), host_words)?;
    let mut placed: Vec<Result<VmId, String>> = Vec::new();
    for g in guests {
        let segs: Vec<(u64, &[u64])> = g.guest.segments.iter().map(|(o, w)| (*o, &w[..])).collect();
        placed.push(
            mon.create_vm(g.guest.w, &segs, g.guest.entry)
                .map_err(|e| refusal(&e)),
        );
    }
    if let Some(on) = trace {
        // What each VM's lines are rendered with: its guest's listing and memory.
        let by_vm: Vec<(Option<&pgvm_asm::Listing>, u64)> = guests
            .iter()
            .zip(&placed)
            .filter(|(_, p)| p.is_ok())
            .map(|(g, _)| (g.listing.as_ref(), g.guest.w))
            .collect();
        let mut render = |e: &TraceEvent| {
            let vm = match e {
                TraceEvent::Insn { vm, .. }
                | TraceEvent::Trap { vm, .. }
                | TraceEvent::Interrupt { vm, .. } => vm.unwrap_or(0),
            };
            let (listing, w) = by_vm.get(vm).copied().unwrap_or((None, 0));
            on(&e.render(listing, w));
        };
        run_traced(&mut mon, slice, max_steps, &mut render);
    }
    mon.run_all(slice, max_steps);
    let vms = guests
        .iter()
        .zip(placed)
        .enumerate()
        .map(|(k, (g, placed))| {
            let (refused, run) = match placed {
                Err(why) => (Some(why), None),
                Ok(id) => {
                    let vm = mon.vm(id);
                    let run = VmRun {
                        vm: id,
                        base: vm.map.base.0,
                        exit: vm.exit.map_or("step budget spent", vm_exit_text),
                        halted: vm.exit == Some(VmExit::Halted),
                        guest_instructions: vm.steps(),
                        direct: vm.counts.direct,
                        emulated: vm.counts.emulated,
                        reflected: vm.counts.reflected,
                        interrupts: vm.counts.interrupts,
                        console: String::from_utf8_lossy(vm.console()).into_owned(),
                        console_dropped: vm.cpu.devices.console.dropped(),
                    };
                    (None, Some(run))
                }
            };
            VmReport {
                position: k + 1,
                guest: g.name.clone(),
                words: g.guest.w,
                refused,
                run,
            }
        })
        .collect();
    Ok(Vms {
        isa: isa.name.clone(),
        host_words,
        vms,
    })
}

/// [`Monitor::run_all`]'s turns, one traced instruction at a time, until every VM stopped
/// or [`TRACE_LIMIT`] instructions were traced.
fn run_traced(mon: &mut Monitor, slice: u64, max_steps: u64, on: &mut dyn FnMut(&TraceEvent)) {
    let several = mon.vms().len() > 1;
    let mut traced = 0;
    loop {
        let mut ran_any = false;
        for id in 0..mon.vms().len() {
            let vm = mon.vm(id);
            if vm.exit.is_some() || vm.steps() >= max_steps {
                continue;
            }
            ran_any = true;
            let turn = slice.min(max_steps - vm.steps());
            for _ in 0..turn {
                if traced >= TRACE_LIMIT {
                    return;
                }
                traced += 1;
                if step_vm(mon, id, several.then_some(id), on).is_some() {
                    break;
                }
            }
        }
        if !ran_any {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn halt_guest(isa: &Isa, w: u64) -> NamedGuest {
        let image =
            pgvm_asm::assemble_str("halt.s", ".entry start\nstart: halt\n", isa).expect("asm");
        NamedGuest {
            name: format!("halt{w}"),
            guest: crate::guest::guest_of(&image, w).expect("guest"),
            listing: None,
        }
    }

    #[test]
    fn a_refused_guest_is_named_by_position_and_the_rest_run() {
        let isa = pgvm_testkit::isa("s370");
        let guests = [
            halt_guest(&isa, 4096),
            halt_guest(&isa, 4096),
            halt_guest(&isa, 64),
        ];
        let r = run(&isa, &guests, 6000, 100, 1000, None).expect("runs");
        assert_eq!(r.vms.len(), 3);
        assert!(r.vms[0].run.is_some());
        assert_eq!(r.vms[1].position, 2);
        let why = r.vms[1].refused.as_deref().expect("refused");
        assert!(why.starts_with("it asks for 4096 words"), "{why}");
        assert!(!why.contains("VM "), "no monitor numbering: {why}");
        assert!(r.vms[2].run.as_ref().is_some_and(|v| v.halted), "{r:?}");
        assert!(!r.all_halted());
        let v = serde_json::to_value(&r).expect("json");
        assert!(v["vms"][1]["refused"].is_string(), "{v}");
        assert!(v["vms"][1].get("base").is_none(), "{v}");
        assert_eq!(v["vms"][2]["exit"], "halted", "{v}");
    }

    #[test]
    fn a_zero_slice_is_refused() {
        let isa = pgvm_testkit::isa("s370");
        let guests = [halt_guest(&isa, 64)];
        assert_eq!(
            run(&isa, &guests, 6000, 0, 10, None),
            Err(VmsError::ZeroSlice)
        );
    }
}
