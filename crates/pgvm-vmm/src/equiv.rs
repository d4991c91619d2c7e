//! The equivalence checker: run a guest bare (a real machine of `q = w`) and under the
//! monitor, and compare `f(S2)` with `S2'` at the halt, or after the same number of guest
//! instructions when no halt comes.

use std::collections::BTreeMap;
use std::sync::Arc;

use pgvm_isa::Isa;
use pgvm_machine::{Exit, Machine, Psw, StateView};
use serde::Serialize;

use crate::monitor::{CP_WORDS, Monitor, VmmError};
use crate::technique::TechniqueKind;
use crate::vm::VmExit;

/// A guest program as both runs start it.
#[derive(Debug, Clone)]
pub struct Guest {
    /// Its memory size `w`.
    pub w: u64,
    /// Words to place, at guest addresses.
    pub segments: Vec<(u64, Vec<u64>)>,
    /// The PSW it starts from.
    pub entry: Psw,
    /// Console input.
    pub input: Vec<u8>,
}

/// The first guest instruction after which the two runs differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Divergence {
    /// 0-based index of the guest instruction.
    pub index: u64,
    /// Its address, as `P` held it on the bare machine.
    pub p: u64,
    /// Its mnemonic on the bare machine (`?` if it does not decode or fetch).
    pub mnemonic: String,
    /// What differs afterwards, one line each.
    pub differences: Vec<String>,
}

/// What the checker measured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EquivReport {
    /// The technique the guest ran under.
    pub technique: TechniqueKind,
    /// Whether `f(S2) == S2'` held at the comparison point.
    pub equivalent: bool,
    /// Guest instructions the bare run executed (the comparison point).
    pub guest_instructions: u64,
    /// Guest instructions the virtualized run executed (fewer when it stopped early).
    pub vm_instructions: u64,
    /// Whether the bare run halted.
    pub halted: bool,
    /// Why the virtualized run stopped, if it did.
    pub vm_exit: Option<VmExit>,
    /// Guest instructions executed directly by the real processor.
    pub direct: u64,
    /// Guest instructions interpreted by the monitor.
    pub emulated: u64,
    /// Traps reflected into the guest.
    pub reflected: u64,
    /// Emulated instructions by mnemonic.
    pub emulated_by_mnemonic: BTreeMap<String, u64>,
    /// The bare run's console output.
    pub console_bare: String,
    /// The virtualized run's console output.
    pub console_vm: String,
    /// Console bytes of the bare run past the console's cap, not kept.
    pub console_bare_dropped: u64,
    /// Console bytes of the virtualized run past the console's cap, not kept.
    pub console_vm_dropped: u64,
    /// The first divergence, when the runs differ.
    pub divergence: Option<Divergence>,
}

/// The two runs side by side.
#[derive(Clone)]
struct Pair {
    bare: Machine,
    bare_stopped: bool,
    mon: Monitor,
}

impl Pair {
    fn new(isa: &Arc<Isa>, g: &Guest, technique: TechniqueKind) -> Result<Pair, VmmError> {
        let mut bare = Machine::new(isa.clone(), g.w)?;
        for (org, words) in &g.segments {
            bare.write(*org, words)?;
        }
        bare.set_psw(g.entry);
        bare.push_input(&g.input);
        let mut mon = Monitor::with_technique(isa.clone(), CP_WORDS + g.w, technique)?;
        let segs: Vec<(u64, &[u64])> = g.segments.iter().map(|(o, w)| (*o, &w[..])).collect();
        let id = mon.create_vm(g.w, &segs, g.entry)?;
        mon.push_input(id, &g.input);
        Ok(Pair {
            bare,
            bare_stopped: false,
            mon,
        })
    }

    /// Runs both sides `n` guest instructions (fewer if a side halts).
    fn advance(&mut self, n: u64) {
        if !self.bare_stopped {
            match self.bare.run(n) {
                Exit::BudgetSpent => {}
                _ => self.bare_stopped = true,
            }
        }
        self.mon.run_vm(0, n);
    }

    fn differences(&self) -> Vec<String> {
        let vm = self.mon.vm(0);
        let mut out = Vec::new();
        if self.bare.psw() != vm.psw() {
            out.push(format!(
                "PSW: bare {}, virtual {}",
                self.bare.psw(),
                vm.psw()
            ));
        }
        if self.bare.assist_bit() != vm.cpu.assist {
            out.push(format!(
                "assist: bare {}, virtual {}",
                self.bare.assist_bit(),
                vm.cpu.assist
            ));
        }
        let diffs: Vec<String> = self
            .bare
            .memory()
            .iter()
            .zip(self.mon.window(0))
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .take(4)
            .map(|(i, (a, b))| format!("E[{i:#x}]: bare {a:#x}, virtual {b:#x}"))
            .collect();
        out.extend(diffs);
        if self.bare.output() != vm.console() {
            out.push(format!(
                "console: bare {:?}, virtual {:?}",
                String::from_utf8_lossy(self.bare.output()),
                String::from_utf8_lossy(vm.console())
            ));
        }
        if self.bare_stopped != vm.exit.is_some() {
            out.push(format!(
                "stopped: bare {}, virtual {}",
                self.bare_stopped,
                vm.exit.is_some()
            ));
        }
        out
    }

    /// The instruction about to run on the bare machine.
    fn next_instruction(&self) -> (u64, String) {
        let psw = self.bare.psw();
        let isa = self.bare.isa();
        let mnemonic = pgvm_machine::develop(psw.p, psw.r, self.bare.size())
            .map(|pa| self.bare.load(pa))
            .and_then(|w| isa.decode(w))
            .map_or_else(|| "?".to_string(), |id| isa.insns[id].mnemonic.clone());
        (psw.p, mnemonic)
    }
}

/// Checkpoints split a stretch of instructions into this many parts while the search
/// narrows down on a divergence.
const FANOUT: u64 = 16;

/// The first stretch a checkpoint covers: at least as many instructions as the guest has
/// words, so that copying and comparing a checkpoint (proportional to `w`) never costs more
/// than running the stretch.
fn first_stretch(w: u64) -> u64 {
    w.max(pgvm_machine::DEFAULT_WORDS)
}

/// Runs `guest` bare and under the monitor for at most `max_steps` guest instructions and
/// compares the outcomes; on a difference, replays both to find the first instruction after
/// which they differ.
pub fn check_equivalence(
    isa: Arc<Isa>,
    guest: &Guest,
    technique: TechniqueKind,
    max_steps: u64,
) -> Result<EquivReport, VmmError> {
    let mut whole = Pair::new(&isa, guest, technique)?;
    whole.advance(max_steps);
    // Compare after the bare run's own instruction count.
    let steps = whole.bare.steps();
    let vm = whole.mon.vm(0);
    if vm.steps() > steps {
        // The bare run stopped early (a halt) while the virtualized one ran on: compare
        // both at the bare run's count instead.
        whole = Pair::new(&isa, guest, technique)?;
        whole.advance(steps);
    }
    let equivalent = whole.differences().is_empty() && whole.mon.vm(0).steps() == steps;
    let divergence = if equivalent {
        None
    } else {
        first_divergence(&isa, guest, technique, steps)?
    };
    let vm = whole.mon.vm(0);
    Ok(EquivReport {
        technique,
        equivalent,
        guest_instructions: steps,
        vm_instructions: vm.steps(),
        halted: whole.bare_stopped,
        vm_exit: vm.exit,
        direct: vm.counts.direct,
        emulated: vm.counts.emulated,
        reflected: vm.counts.reflected,
        emulated_by_mnemonic: vm.counts.emulated_by_mnemonic.clone(),
        console_bare: String::from_utf8_lossy(whole.bare.output()).into_owned(),
        console_vm: String::from_utf8_lossy(vm.console()).into_owned(),
        console_bare_dropped: whole.bare.devices().console.dropped(),
        console_vm_dropped: vm.cpu.devices.console.dropped(),
        divergence,
    })
}

/// The first guest instruction after which the two runs differ and still differ at the
/// next checkpoint: the runs advance in lockstep in stretches; a stretch that ends with a
/// difference is replayed from its start in [`FANOUT`] shorter stretches, down to single
/// instructions. A difference that appears and disappears again inside one stretch (a word
/// written and then restored) is not seen; the comparison itself is always at the halt or the
/// step limit, as DESIGN.md §4 defines equivalence.
fn first_divergence(
    isa: &Arc<Isa>,
    guest: &Guest,
    technique: TechniqueKind,
    steps: u64,
) -> Result<Option<Divergence>, VmmError> {
    let mut pair = Pair::new(isa, guest, technique)?;
    let mut done = 0;
    let mut stretch = first_stretch(guest.w);
    while done < steps {
        let len = stretch.min(steps - done);
        let checkpoint = pair.clone();
        if len > 1 {
            pair.advance(len);
            if pair.differences().is_empty() {
                done += len;
                continue;
            }
            // Somewhere in this stretch: replay it in shorter ones.
            pair = checkpoint;
            stretch = len.div_ceil(FANOUT);
            continue;
        }
        let (p, mnemonic) = pair.next_instruction();
        pair.advance(1);
        let differences = pair.differences();
        if !differences.is_empty() {
            return Ok(Some(Divergence {
                index: done,
                p,
                mnemonic,
                differences,
            }));
        }
        done += 1;
    }
    let differences = pair.differences();
    Ok((!differences.is_empty()).then(|| {
        let (p, mnemonic) = pair.next_instruction();
        Divergence {
            index: steps,
            p,
            mnemonic,
            differences,
        }
    }))
}
