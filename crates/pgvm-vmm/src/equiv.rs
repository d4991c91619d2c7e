//! The equivalence checker: run a guest bare (a real machine of `q = w`) and under the
//! monitor, and compare `f(S2)` with `S2'` at the halt, or after the same number of guest
//! instructions when no halt comes.

use std::collections::BTreeMap;
use std::sync::Arc;

use pgvm_isa::Isa;
use pgvm_machine::{Exit, Machine, Processor, Psw, StateView, TrapKind};
use serde::Serialize;

use crate::monitor::{CP_WORDS, Monitor, VmmError};
use crate::pv::Reference;
use crate::technique::{Setup, TechniqueKind};
use crate::vm::Tally;
use crate::vm::{Emulation, VmExit};

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
    /// The assist bit at entry: the bare machine's, and the VM's virtual one (the real one is
    /// the monitor's). Off for a program; a state the classifier found may have it on.
    pub assist: bool,
    /// The clock at entry (what `clock()` reads before the first instruction), on both
    /// machines; 0 for a program. Instruction counts are from entry, not from this value.
    pub clock: u64,
}

impl Guest {
    /// A program whose image fills its whole memory from word 0, started at `entry` with the
    /// assist off and the clock at 0: how generated test programs become guests.
    pub fn whole(image: Vec<u64>, entry: Psw, input: Vec<u8>) -> Guest {
        Guest {
            w: image.len() as u64,
            segments: vec![(0, image)],
            entry,
            input,
            assist: false,
            clock: 0,
        }
    }
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

/// How the bare run ended: what the comparison point is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BareOutcome {
    /// It halted: the states are compared at the halt.
    Halted,
    /// It got stuck in a trap loop (a trap that re-enters the state it left, or one its memory
    /// is too small to take): nothing would ever change again, so the states are compared
    /// there. This is not a halt.
    Stuck,
    /// It was still running when the step limit came: the states are compared after the same
    /// number of guest instructions.
    StepLimit,
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
    /// How the bare run ended.
    pub bare: BareOutcome,
    /// Why the virtualized run stopped, if it did.
    pub vm_exit: Option<VmExit>,
    /// How the guest's instructions were carried out.
    #[serde(flatten)]
    pub tally: Tally,
    /// Emulated instructions by mnemonic.
    pub emulated_by_mnemonic: BTreeMap<String, u64>,
    /// Instructions the machine's VM assist carried out, by mnemonic (`tae-assist`).
    pub assisted_by_mnemonic: BTreeMap<String, u64>,
    /// Each emulated instruction with the real trap that brought it to the monitor and the
    /// virtual mode it ran in ([`crate::Counts::emulations`]): the evidence for an
    /// efficiency check.
    pub emulations: Vec<Emulation>,
    /// Reflected traps by kind.
    pub reflected_by_kind: BTreeMap<TrapKind, u64>,
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
    /// The bare machine; for a paravirtualized guest, the machine that implements the
    /// hypercalls.
    bare: Reference,
    /// How the bare run stopped, once it has.
    bare_exit: Option<Exit>,
    mon: Monitor,
    /// The clock both started from.
    start: u64,
}

impl Pair {
    fn new(isa: &Arc<Isa>, g: &Guest, technique: &Setup) -> Result<Pair, VmmError> {
        let mut bare = Machine::new(isa.clone(), g.w)?;
        for (org, words) in &g.segments {
            bare.write(*org, words)?;
        }
        bare.set_psw(g.entry);
        bare.set_assist(g.assist);
        Processor::devices_mut(&mut bare).clock = g.clock;
        bare.push_input(&g.input);
        let mut mon = Monitor::with_technique(isa.clone(), CP_WORDS + g.w, technique.clone())?;
        let segs: Vec<(u64, &[u64])> = g.segments.iter().map(|(o, w)| (*o, &w[..])).collect();
        let id = mon.create_vm(g.w, &segs, g.entry)?;
        mon.push_input(id, &g.input);
        let vm = mon.vm_mut(id);
        vm.cpu.assist = g.assist;
        vm.cpu.devices.clock = g.clock;
        Ok(Pair {
            bare: Reference::new(bare, technique.kind == TechniqueKind::Pv),
            bare_exit: None,
            mon,
            start: g.clock,
        })
    }

    /// Guest instructions the bare run executed since entry.
    fn bare_steps(&self) -> u64 {
        self.bare.steps() - self.start
    }

    /// Guest instructions the virtualized run executed since entry.
    fn vm_steps(&self) -> u64 {
        self.mon.vm(0).steps() - self.start
    }

    /// Runs both sides `n` guest instructions (fewer if a side halts).
    fn advance(&mut self, n: u64) {
        if self.bare_exit.is_none() {
            match self.bare.run(n) {
                Exit::BudgetSpent => {}
                exit => self.bare_exit = Some(exit),
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
        // Compared whole first (a memory comparison), since equal memories are the rule at
        // every checkpoint of the search.
        if self.bare.memory() != self.mon.window(0) {
            let diffs = self
                .bare
                .memory()
                .iter()
                .zip(self.mon.window(0))
                .enumerate()
                .filter(|(_, (a, b))| a != b)
                .take(4)
                .map(|(i, (a, b))| format!("E[{i:#x}]: bare {a:#x}, virtual {b:#x}"));
            out.extend(diffs);
        }
        if self.bare.output() != vm.console() {
            out.push(format!(
                "console: bare {:?}, virtual {:?}",
                String::from_utf8_lossy(self.bare.output()),
                String::from_utf8_lossy(vm.console())
            ));
        }
        if self.bare_exit.is_some() != vm.exit.is_some() {
            out.push(format!(
                "stopped: bare {}, virtual {}",
                self.bare_exit.is_some(),
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
/// words, so that comparing a checkpoint (proportional to `w`) never costs more
/// than running the stretch.
fn first_stretch(w: u64) -> u64 {
    w.max(pgvm_machine::DEFAULT_WORDS)
}

/// Runs `guest` bare and under the monitor for at most `max_steps` guest instructions and
/// compares the outcomes; on a difference, replays both to find the first instruction after
/// which they differ. `max_steps = 0` is refused ([`VmmError::NoSteps`]): two runs of no
/// instructions are equal whatever the monitor does, so the verdict would say nothing.
///
/// `technique` is a [`TechniqueKind`], or a [`Setup`] that also gives a binary translator the
/// classifier's critical set.
pub fn check_equivalence(
    isa: Arc<Isa>,
    guest: &Guest,
    technique: impl Into<Setup>,
    max_steps: u64,
) -> Result<EquivReport, VmmError> {
    if max_steps == 0 {
        return Err(VmmError::NoSteps);
    }
    let setup: Setup = technique.into();
    let technique = &setup;
    let mut whole = Pair::new(&isa, guest, technique)?;
    // Run in the search's first stretches, noting how far its checkpoints are known equal
    // (`clean`), so that a search need not run them again to compare.
    let stretch = first_stretch(guest.w);
    let (mut done, mut clean, mut clean_so_far) = (0, 0, true);
    while done < max_steps {
        let len = stretch.min(max_steps - done);
        whole.advance(len);
        done += len;
        // While the bare run goes on, this is a checkpoint of the search: its stretches end
        // here too, the last one at the step limit.
        clean_so_far &= whole.bare_exit.is_none() && whole.differences().is_empty();
        if clean_so_far {
            clean = done;
        }
        if whole.bare_exit.is_some() && whole.mon.vm(0).exit.is_some() {
            break;
        }
    }
    // Compare after the bare run's own instruction count.
    let steps = whole.bare_steps();
    if whole.vm_steps() > steps {
        // The bare run stopped early (a halt) while the virtualized one ran on: compare
        // both at the bare run's count instead.
        whole = Pair::new(&isa, guest, technique)?;
        whole.advance(steps);
    }
    let equivalent = whole.differences().is_empty() && whole.vm_steps() == steps;
    let divergence = if equivalent {
        None
    } else {
        first_divergence(&isa, guest, technique, steps, clean.min(steps))?
    };
    let vm_instructions = whole.vm_steps();
    let vm = whole.mon.vm(0);
    Ok(EquivReport {
        technique: setup.kind,
        equivalent,
        guest_instructions: steps,
        vm_instructions,
        bare: match whole.bare_exit {
            Some(Exit::Halted) => BareOutcome::Halted,
            // The bare machine takes its own traps: it stops only by halting or getting stuck.
            Some(_) => BareOutcome::Stuck,
            None => BareOutcome::StepLimit,
        },
        vm_exit: vm.exit,
        tally: vm.counts.tally(),
        emulated_by_mnemonic: vm.counts.emulated_by_mnemonic.clone(),
        assisted_by_mnemonic: vm.counts.assisted_by_mnemonic.clone(),
        emulations: vm.counts.emulations.clone(),
        reflected_by_kind: vm.counts.reflected_by_kind.clone(),
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
///
/// Nothing is copied at a checkpoint, since copying both machines costs their memory each
/// time. The runs are deterministic: the checkpoints up to `clean`, which
/// [`check_equivalence`] found equal as it ran, are reached again in one stretch, and the
/// start of a diverging stretch by replaying from the start of the stretch that contained
/// it; only that point is copied, once per sixteenfold narrowing. The search costs about one
/// run plus the narrowing, however many checkpoints it passes.
fn first_divergence(
    isa: &Arc<Isa>,
    guest: &Guest,
    technique: &Setup,
    steps: u64,
    clean: u64,
) -> Result<Option<Divergence>, VmmError> {
    let mut pair = Pair::new(isa, guest, technique)?;
    // Both runs at the start of the stretch being narrowed down, and where that is (`None`:
    // the start of the run).
    let mut base: Option<(Pair, u64)> = None;
    if clean > 0 {
        pair.advance(clean);
        base = Some((pair.clone(), clean));
    }
    let mut done = clean;
    let mut stretch = first_stretch(guest.w);
    while done < steps {
        let len = stretch.min(steps - done);
        if len > 1 {
            pair.advance(len);
            if pair.differences().is_empty() {
                done += len;
                continue;
            }
            // Somewhere in this stretch: replay it in shorter ones, from its start.
            let (mut start, at) = match base.take() {
                Some(b) => b,
                None => (Pair::new(isa, guest, technique)?, 0),
            };
            start.advance(done - at);
            pair = start;
            stretch = len.div_ceil(FANOUT);
            if stretch > 1 {
                base = Some((pair.clone(), done));
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The search as it was, copying both runs at every checkpoint: the reference the
    /// replaying search must agree with.
    fn first_divergence_by_copying(
        isa: &Arc<Isa>,
        guest: &Guest,
        technique: TechniqueKind,
        steps: u64,
    ) -> Option<Divergence> {
        let mut pair = Pair::new(isa, guest, &technique.into()).expect("pair");
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
                pair = checkpoint;
                stretch = len.div_ceil(FANOUT);
                continue;
            }
            let (p, mnemonic) = pair.next_instruction();
            pair.advance(1);
            let differences = pair.differences();
            if !differences.is_empty() {
                return Some(Divergence {
                    index: done,
                    p,
                    mnemonic,
                    differences,
                });
            }
            done += 1;
        }
        let differences = pair.differences();
        (!differences.is_empty()).then(|| {
            let (p, mnemonic) = pair.next_instruction();
            Divergence {
                index: steps,
                p,
                mnemonic,
                differences,
            }
        })
    }

    #[test]
    fn replaying_finds_the_divergence_copying_found() {
        let mut diverged = 0;
        for name in ["pdp10", "m68000", "ia32"] {
            let isa = Arc::new(pgvm_isa::load(name).expect("built-in"));
            for seed in 0..150 {
                let p = if seed % 4 == 0 {
                    pgvm_testkit::hostile_guest(&isa, seed)
                } else {
                    pgvm_testkit::random_guest(&isa, seed)
                };
                let guest = Guest::whole(p.image, p.entry, p.input);
                let r =
                    check_equivalence(isa.clone(), &guest, TechniqueKind::Tae, 3000).expect("runs");
                let want = first_divergence_by_copying(
                    &isa,
                    &guest,
                    TechniqueKind::Tae,
                    r.guest_instructions,
                );
                assert_eq!(r.divergence, want, "{name} seed {seed}");
                diverged += usize::from(want.is_some());
            }
        }
        assert!(diverged >= 20, "only {diverged} programs diverged");
    }

    /// ia32-vt: `insn 0x20` at 0x10 in `mode`, then `halt`, entered with the given assist bit
    /// and clock.
    fn vt_guest(isa: &Isa, insn: &str, mode: pgvm_isa::Mode, assist: bool, clock: u64) -> Guest {
        let enc = |m: &str, ops: &[i128]| {
            isa.encode(isa.insn(m).expect("mnemonic"), ops)
                .expect("operands fit")
        };
        Guest {
            w: 64,
            segments: vec![(0x10, vec![enc(insn, &[0x20]), enc("halt", &[])])],
            entry: Psw::new(mode, 0x10, 0, 64).expect("psw"),
            input: Vec::new(),
            assist,
            clock,
        }
    }

    #[test]
    fn the_entry_clock_reaches_both_runs_and_counts_start_at_entry() {
        let isa = Arc::new(pgvm_isa::load("ia32-vt").expect("built-in"));
        let g = vt_guest(&isa, "rdtsc", pgvm_isa::Mode::Supervisor, true, 1000);
        let r = check_equivalence(isa.clone(), &g, TechniqueKind::Tae, 10).expect("runs");
        assert!(r.equivalent, "{:?}", r.divergence);
        assert_eq!((r.guest_instructions, r.vm_instructions), (2, 2));
        assert_eq!(r.bare, BareOutcome::Halted);
        // The clock read is what both saw: a VM left at clock 0 would have stored 0.
        let mut pair = Pair::new(&isa, &g, &TechniqueKind::Tae.into()).expect("pair");
        pair.advance(1);
        assert_eq!(pair.bare.memory()[0x20], 1000);
        assert!(pair.differences().is_empty());
    }

    #[test]
    fn the_entry_assist_reaches_both_runs() {
        let isa = Arc::new(pgvm_isa::load("ia32-vt").expect("built-in"));
        // In virtual user mode, smsw traps exactly when the guest's assist is on: then the
        // trap is the guest's (reflected); with it off, the monitor's real assist trapped it
        // and the monitor completes it (emulated). Both agree with the bare machine.
        for (assist, reflected, emulated) in [(true, 1, 0), (false, 0, 1)] {
            let g = vt_guest(&isa, "smsw", pgvm_isa::Mode::User, assist, 0);
            let r = check_equivalence(isa.clone(), &g, TechniqueKind::Tae, 1).expect("runs");
            assert!(r.equivalent, "assist {assist}: {:?}", r.divergence);
            assert_eq!(
                (r.tally.reflected, r.tally.emulated),
                (reflected, emulated),
                "assist {assist}"
            );
        }
    }

    /// m68000: count down from `k1`, `movesr` (which reads the real mode under the monitor),
    /// count down from `k2`, halt.
    fn countdown(isa: &Isa, w: u64, k1: u64, k2: u64) -> Guest {
        let enc = |m: &str, ops: &[i128]| {
            isa.encode(isa.insn(m).expect("mnemonic"), ops)
                .expect("operands fit")
        };
        let code = vec![
            enc("addi", &[0x20, -1]),
            enc("jnz", &[0x20, 0x10]),
            enc("movesr", &[0x21]),
            enc("addi", &[0x22, -1]),
            enc("jnz", &[0x22, 0x13]),
            enc("halt", &[]),
        ];
        Guest {
            w,
            segments: vec![(0x10, code), (0x20, vec![k1, 0, k2])],
            entry: Psw::new(pgvm_isa::Mode::Supervisor, 0x10, 0, w).expect("psw"),
            input: Vec::new(),
            assist: false,
            clock: 0,
        }
    }

    #[test]
    fn checkpoints_found_equal_while_checking_are_not_searched_again() {
        let isa = Arc::new(pgvm_isa::load("m68000").expect("built-in"));
        // Divergences before, at and after the first checkpoints (65,536 instructions
        // apart), with and without a long run after them.
        for (k1, k2) in [
            (100, 40_000),
            (32_767, 1),
            (32_768, 1),
            (32_768, 40_000),
            (40_000, 50_000),
            (70_000, 1),
        ] {
            let guest = countdown(&isa, 64, k1, k2);
            let r = check_equivalence(isa.clone(), &guest, TechniqueKind::Tae, 1_000_000)
                .expect("runs");
            let want =
                first_divergence_by_copying(&isa, &guest, TechniqueKind::Tae, r.guest_instructions);
            let d = r.divergence.clone().expect("movesr diverges");
            assert_eq!((d.index, d.mnemonic.as_str()), (2 * k1, "movesr"));
            assert_eq!(r.divergence, want, "k1 = {k1}, k2 = {k2}");
        }
        // A step limit inside the countdown after the divergence.
        let guest = countdown(&isa, 64, 40_000, 1_000_000);
        let r = check_equivalence(isa.clone(), &guest, TechniqueKind::Tae, 200_000).expect("runs");
        assert_eq!(r.bare, BareOutcome::StepLimit);
        let want = first_divergence_by_copying(&isa, &guest, TechniqueKind::Tae, 200_000);
        assert_eq!(r.divergence, want);
    }
}
