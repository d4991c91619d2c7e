//! One guest bare and under a monitor technique: equivalence, and the efficiency check on what
//! the monitor emulated.

use std::collections::BTreeMap;
use std::sync::Arc;

use pgvm_machine::{Mode, TrapKind};
use pgvm_vmm::{BareOutcome, Critical, Emulation, Setup, Tally, TechniqueKind};

use pgvm_classify::{ClassifyError, Report};
use pgvm_isa::Isa;
use pgvm_vmm::{Guest, VmmError};
use serde::Serialize;

pub use pgvm_vmm::VmExit;

/// Why an equivalence run could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EquivError {
    /// The monitor or one of the two machines could not be set up.
    #[error(transparent)]
    Monitor(#[from] VmmError),
    /// The technique would turn an unsound assist on.
    #[error(transparent)]
    Assist(#[from] crate::assist::AssistError),
    /// The technique does not run on this profile (the assist technique on a profile without
    /// an assist).
    #[error("`{technique}` does not apply to `{isa}`: {}", missing(*technique))]
    NotApplicable {
        /// The technique.
        technique: TechniqueKind,
        /// The profile.
        isa: String,
    },
    /// The classifier, asked for a binary translator's critical set, refused its settings.
    #[error(transparent)]
    Classify(#[from] ClassifyError),
}

/// What a profile lacks when `technique` does not apply to it, with the hint.
fn missing(technique: TechniqueKind) -> &'static str {
    match technique {
        TechniqueKind::TaeAssist => {
            "the profile has no VM assist (`feature vm_assist`) for the machine to carry out its instructions\n  hint: use a profile with `feature vm_assist { ... }` (s370), or another --monitor"
        }
        _ => {
            "the profile has no hardware assist to turn on\n  hint: use a profile with `feature assist;` (ia32-vt), or another --monitor"
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
    /// Its physical address `l + P` on the bare machine, when `P` develops.
    pub pa: Option<u64>,
    /// The source line it was assembled from (`file:line`), when the program came from source.
    pub source: Option<String>,
    /// The nearest label at or below it (`loop+2`), when the program came from source.
    pub label: Option<String>,
    /// What differs afterwards, one line each.
    pub differences: Vec<String>,
}

/// An emulation no correct monitor makes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Breach {
    /// The instruction.
    pub mnemonic: String,
    /// How many times the monitor emulated it.
    pub count: u64,
    /// Why it is a bug.
    pub evidence: String,
}

/// One guest, bare and virtualized: the paper's equivalence and efficiency, measured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Equivalence {
    /// The profile.
    pub isa: String,
    /// The technique the guest ran under.
    pub monitor: TechniqueKind,
    /// Whether `f(S2) == S2'` held at the comparison point.
    pub equivalent: bool,
    /// Whether the bare run halted (a stuck or unfinished run did not).
    pub halted: bool,
    /// How the bare run ended: halted, stuck in a trap loop, or at the step limit.
    pub bare: BareOutcome,
    /// Why the virtualized run stopped early, if it did (serialized as [`vm_exit_text`]).
    #[serde(serialize_with = "opt_exit_text")]
    pub vm_exit: Option<VmExit>,
    /// Guest instructions the bare run executed (the comparison point).
    pub guest_instructions: u64,
    /// Guest instructions the virtualized run executed.
    pub vm_instructions: u64,
    /// How the guest's instructions were carried out.
    #[serde(flatten)]
    pub tally: Tally,
    /// The instructions a binary translator scanned for, in the profile's order: the
    /// classifier's critical ones and its untrapped clock reads
    /// ([`pgvm_classify::CriticalSet::scanned`]); empty for the other techniques.
    pub critical: Vec<String>,
    /// Each emulated instruction with the real trap that brought it and its virtual mode.
    pub emulations: Vec<Emulation>,
    /// Traps reflected into the guest, by kind.
    pub reflected_by_kind: BTreeMap<TrapKind, u64>,
    /// Emulated instructions by mnemonic.
    pub emulated_by_mnemonic: BTreeMap<String, u64>,
    /// Instructions the machine's VM assist carried out, by mnemonic (`tae-assist`).
    pub assisted_by_mnemonic: BTreeMap<String, u64>,
    /// The bare run's console output.
    pub console_bare: String,
    /// The virtualized run's console output.
    pub console_vm: String,
    /// Console bytes of the bare run past the console's cap (64 MiB), not kept.
    pub console_bare_dropped: u64,
    /// Console bytes of the virtualized run past the console's cap, not kept.
    pub console_vm_dropped: u64,
    /// The first divergence, when the runs differ.
    pub divergence: Option<Divergence>,
    /// Every emulation, checked against what trapped it and why.
    pub efficiency: Vec<EmulationCheck>,
    /// The emulations that are monitor bugs.
    pub efficiency_breaches: Vec<Breach>,
}

/// Runs `guest` bare and under the monitor for at most `max_steps` guest instructions, and
/// checks every emulated instruction (see [`efficiency_breaches`]).
pub fn check(
    isa: &Arc<Isa>,
    guest: &Guest,
    technique: TechniqueKind,
    max_steps: u64,
) -> Result<Equivalence, EquivError> {
    let setup = setup(isa, technique, None)?;
    check_with(isa, guest, &setup, max_steps)
}

/// How `technique` is built for `isa`: a binary translator is given the classifier's critical
/// set and untrapped clock reads ([`pgvm_classify::CriticalSet::scanned`]), from `report` when the profile's verdicts are at hand, else by classifying `isa` with
/// the default settings (the same verdicts as `pgvm classify`). Refuses a technique that does
/// not apply to the profile.
pub fn setup(
    isa: &Isa,
    technique: TechniqueKind,
    report: Option<&Report>,
) -> Result<Setup, EquivError> {
    if !technique.applies(isa) {
        return Err(EquivError::NotApplicable {
            technique,
            isa: isa.name.clone(),
        });
    }
    if !technique.translates() {
        return Ok(Setup::from(technique));
    }
    let owned;
    let report = match report {
        Some(r) => r,
        None => {
            owned = pgvm_classify::classify(isa, &pgvm_classify::Config::default())?;
            &owned
        }
    };
    let scanned = report.critical().scanned(&report.instructions);
    Ok(Setup::with_critical(
        technique,
        Critical::from_mnemonics(isa, &scanned),
    ))
}

/// [`check`] with the technique already set up ([`setup`]): what runs many guests under one
/// binary translator classifies the profile once.
pub fn check_with(
    isa: &Arc<Isa>,
    guest: &Guest,
    setup: &Setup,
    max_steps: u64,
) -> Result<Equivalence, EquivError> {
    let technique = setup.kind;
    crate::assist::check(isa, technique)?;
    // The one call into the monitor's checker: adapt here when its interface changes.
    let r = pgvm_vmm::check_equivalence(isa.clone(), guest, setup.clone(), max_steps)?;
    let critical = setup
        .critical
        .as_ref()
        .map(|c| c.mnemonics(isa).into_iter().map(String::from).collect())
        .unwrap_or_default();
    let efficiency = check_emulations(isa, &r.emulations);
    let efficiency_breaches = efficiency_breaches(&efficiency);
    Ok(Equivalence {
        isa: isa.name.clone(),
        monitor: r.technique,
        equivalent: r.equivalent,
        halted: r.bare == BareOutcome::Halted,
        bare: r.bare,
        vm_exit: r.vm_exit,
        guest_instructions: r.guest_instructions,
        vm_instructions: r.vm_instructions,
        tally: r.tally,
        critical,
        emulations: r.emulations,
        reflected_by_kind: r.reflected_by_kind,
        emulated_by_mnemonic: r.emulated_by_mnemonic,
        assisted_by_mnemonic: r.assisted_by_mnemonic,
        console_bare: r.console_bare,
        console_vm: r.console_vm,
        console_bare_dropped: r.console_bare_dropped,
        console_vm_dropped: r.console_vm_dropped,
        divergence: r.divergence.map(|d| Divergence {
            pa: physical_address(isa, guest, d.index, d.p),
            index: d.index,
            p: d.p,
            mnemonic: d.mnemonic,
            source: None,
            label: None,
            differences: d.differences,
        }),
        efficiency,
        efficiency_breaches,
    })
}

/// Where the bare run's `index`-th instruction is in physical memory: the bare run is
/// replayed that far (it is deterministic) for the `R` that `P` developed with. `None` when
/// `P` does not develop, or the replay does not arrive at `p`.
fn physical_address(isa: &Arc<Isa>, g: &Guest, index: u64, p: u64) -> Option<u64> {
    let mut bare = pgvm_machine::Machine::new(isa.clone(), g.w).ok()?;
    for (org, words) in &g.segments {
        bare.write(*org, words).ok()?;
    }
    pgvm_machine::StateView::set_psw(&mut bare, g.entry);
    pgvm_machine::StateView::set_assist(&mut bare, g.assist);
    pgvm_machine::Processor::devices_mut(&mut bare).clock = g.clock;
    bare.push_input(&g.input);
    bare.run(index);
    let psw = pgvm_machine::StateView::psw(&bare);
    (psw.p == p).then(|| pgvm_machine::develop(psw.p, psw.r, g.w))?
}

impl Equivalence {
    /// Names the divergence's address by the source line and the nearest label of the
    /// program the guest was assembled from.
    pub fn locate(&mut self, listing: &pgvm_asm::Listing) {
        if let Some(d) = &mut self.divergence
            && let Some(pa) = d.pa
        {
            d.source = listing.line_at(pa).map(|l| l.to_string());
            d.label = listing.label_at(pa);
        }
    }

    /// What the consoles lost to the cap, one line per run that lost something.
    pub fn truncations(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (run, dropped) in [
            ("bare", self.console_bare_dropped),
            ("virtual", self.console_vm_dropped),
        ] {
            // Output is dropped only once the console holds its cap, all of it kept.
            let cap = pgvm_machine::MAX_CONSOLE_OUTPUT as u64;
            if let Some(t) = crate::run::truncation_text(cap, dropped) {
                out.push(format!("{run} run: {t}"));
            }
        }
        out
    }
}

/// What the efficiency check makes of one emulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EmulationFinding {
    /// A privileged instruction, emulated because it trapped: what trap-and-emulate is.
    Expected,
    /// An instruction that is not privileged, emulated because its own body trapped in real
    /// user mode (on the real mode, relocation or assist) and then completed on the virtual
    /// machine: a known consequence of the definitions (DESIGN.md §2: a trap that depends on
    /// mode or location is no evidence of sensitivity), paid for in efficiency.
    Consequence,
    /// Something no correct monitor does: it ran an instruction in software that nothing
    /// trapped, or that trapped in a way its body cannot, or that trapped on the real machine
    /// by the VM map (a memory or illegal trap) yet completed on the virtual one.
    MonitorBug,
}

/// One emulated instruction, for one cause, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmulationCheck {
    /// The instruction.
    pub mnemonic: String,
    /// The real trap that brought it to the monitor (`None`: nothing did).
    pub trap: Option<TrapKind>,
    /// The guest's virtual mode.
    pub mode: Mode,
    /// How many times.
    pub count: u64,
    /// The verdict.
    pub finding: EmulationFinding,
    /// Why, in words.
    pub why: String,
}

/// The efficiency check, on what the run recorded: each emulation with the real trap that
/// caused it and the virtual mode, against the instruction's body and the classifier's
/// verdict on privilege (with the profile's assist, as the monitor runs it).
pub fn check_emulations(isa: &Isa, emulations: &[Emulation]) -> Vec<EmulationCheck> {
    let config = pgvm_classify::Config::default();
    emulations
        .iter()
        .map(|e| {
            let (finding, why) = judge(isa, &config, e);
            EmulationCheck {
                mnemonic: e.mnemonic.clone(),
                trap: e.trap,
                mode: e.mode,
                count: e.count,
                finding,
                why,
            }
        })
        .collect()
}

fn judge(isa: &Isa, config: &pgvm_classify::Config, e: &Emulation) -> (EmulationFinding, String) {
    use EmulationFinding::*;
    let Some(id) = isa.insn(&e.mnemonic) else {
        return (MonitorBug, "the profile has no such instruction".into());
    };
    let Some(trap) = e.trap else {
        return (
            MonitorBug,
            "nothing trapped: the monitor ran it in software of its own accord".into(),
        );
    };
    if matches!(trap, TrapKind::Memory | TrapKind::Illegal) {
        return (
            MonitorBug,
            format!(
                "it took a {} trap on the real machine yet completed on the virtual one: the VM map disagrees with the guest's machine",
                trap.name()
            ),
        );
    }
    if !isa.insns[id].effects.traps {
        return (
            MonitorBug,
            format!(
                "it was recorded as a {} trap, but its body has no `trap;`",
                trap.name()
            ),
        );
    }
    let insn = pgvm_classify::classify_insn(isa, id, config);
    let privileged = &insn.classes[&pgvm_classify::Class::Privileged];
    if privileged.value {
        (Expected, "privileged: it trapped in real user mode".into())
    } else {
        (
            Consequence,
            format!(
                "not privileged ({}), but its body traps on the real {}: a trap that depends on mode or location, emulated at a cost in efficiency",
                privileged.detail,
                if e.mode == Mode::User {
                    "relocation or assist (virtual and real mode are both user)"
                } else {
                    "mode, relocation or assist"
                }
            ),
        )
    }
}

/// The emulations that are monitor bugs, one per instruction, for the exit code and the
/// report.
pub fn efficiency_breaches(checks: &[EmulationCheck]) -> Vec<Breach> {
    let mut out: Vec<Breach> = Vec::new();
    for c in checks
        .iter()
        .filter(|c| c.finding == EmulationFinding::MonitorBug)
    {
        match out.iter_mut().find(|b| b.mnemonic == c.mnemonic) {
            Some(b) => b.count += c.count,
            None => out.push(Breach {
                mnemonic: c.mnemonic.clone(),
                count: c.count,
                evidence: c.why.clone(),
            }),
        }
    }
    out
}

/// Why a VM stopped, in words.
pub fn vm_exit_text(exit: VmExit) -> &'static str {
    exit.describe()
}

fn opt_exit_text<S: serde::Serializer>(exit: &Option<VmExit>, s: S) -> Result<S::Ok, S::Error> {
    match exit {
        Some(e) => s.serialize_str(vm_exit_text(*e)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emulation(mnemonic: &str, trap: Option<TrapKind>, mode: Mode) -> Emulation {
        Emulation {
            mnemonic: mnemonic.into(),
            trap,
            mode,
            count: 2,
        }
    }

    fn findings(isa: &str, list: &[Emulation]) -> Vec<EmulationFinding> {
        let isa = pgvm_isa::load(isa).expect("built-in");
        check_emulations(&isa, list)
            .into_iter()
            .map(|c| c.finding)
            .collect()
    }

    #[test]
    fn privileged_emulations_are_expected() {
        let p = Some(TrapKind::Privileged);
        let list = [
            emulation("movesr", p, Mode::Supervisor),
            emulation("halt", p, Mode::Supervisor),
            emulation("out", p, Mode::Supervisor),
        ];
        assert_eq!(findings("m68010", &list), [EmulationFinding::Expected; 3]);
    }

    #[test]
    fn what_nothing_could_have_trapped_is_a_monitor_bug() {
        use EmulationFinding::*;
        let list = [
            // Nothing trapped it.
            emulation("lpsw", None, Mode::Supervisor),
            // `add` has no `trap;`, so no privileged trap can have brought it.
            emulation("add", Some(TrapKind::Privileged), Mode::Supervisor),
            // A memory trap on the real machine that completes on the virtual one.
            emulation("lpsw", Some(TrapKind::Memory), Mode::Supervisor),
            // No such instruction.
            emulation("frob", Some(TrapKind::Privileged), Mode::Supervisor),
        ];
        assert_eq!(findings("s370", &list), [MonitorBug; 4]);
        let isa = pgvm_isa::load("s370").expect("built-in");
        let breaches = efficiency_breaches(&check_emulations(&isa, &list));
        let names: Vec<&str> = breaches.iter().map(|b| b.mnemonic.as_str()).collect();
        assert_eq!(names, ["lpsw", "add", "frob"], "one per instruction");
        assert_eq!(breaches[0].count, 4, "lpsw's two causes add up");
    }

    #[test]
    fn the_report_serializes_with_the_documented_keys() {
        let isa = pgvm_testkit::isa("s370");
        let guest = Guest {
            w: 64,
            segments: vec![(0, vec![0; 2])],
            entry: pgvm_machine::Psw::new(pgvm_machine::Mode::Supervisor, 0, 0, 64).expect("psw"),
            input: Vec::new(),
            assist: false,
            clock: 0,
        };
        let r = check(&isa, &guest, TechniqueKind::Tae, 10).expect("runs");
        let v = serde_json::to_value(&r).expect("serializes");
        for key in [
            "isa",
            "monitor",
            "equivalent",
            "halted",
            "vm_exit",
            "guest_instructions",
            "direct",
            "emulated_by_mnemonic",
            "divergence",
            "efficiency",
            "efficiency_breaches",
        ] {
            assert!(v.get(key).is_some(), "{key}: {v}");
        }
        assert_eq!(v["monitor"], "tae");
        assert_eq!(v["isa"], "s370");
        assert_eq!(v["console_vm_dropped"], 0);
        assert!(r.truncations().is_empty());
    }

    #[test]
    fn a_truncated_console_is_said_per_run() {
        let isa = Arc::new(pgvm_isa::load("s370").expect("built-in"));
        let guest = Guest {
            w: 64,
            segments: vec![(0, vec![0; 2])],
            entry: pgvm_machine::Psw::new(pgvm_machine::Mode::Supervisor, 0, 0, 64).expect("psw"),
            input: Vec::new(),
            assist: false,
            clock: 0,
        };
        let mut r = check(&isa, &guest, TechniqueKind::Tae, 10).expect("runs");
        r.console_vm_dropped = 12;
        let t = r.truncations();
        assert_eq!(
            t,
            [format!(
                "virtual run: console output truncated after {} bytes; 12 more were written",
                pgvm_machine::MAX_CONSOLE_OUTPUT
            )]
        );
    }

    #[test]
    fn a_divergence_is_located_by_its_physical_address() {
        let src = ".isa m68000\n.entry start\n.org 0x10\nstart: addi x, 1\nsense: movesr x\n halt\nx: .word 0\n";
        let p = crate::program::from_source("m.s", src, None).expect("assembles");
        let guest = crate::guest::guest_of(&p.image, 256).expect("guest");
        let mut r = check(&p.isa, &guest, TechniqueKind::Tae, 100).expect("runs");
        assert!(!r.equivalent);
        r.locate(p.listing.as_ref().expect("listing"));
        let d = r.divergence.expect("a divergence");
        assert_eq!((d.p, d.pa), (0x11, Some(0x11)));
        assert_eq!(d.source.as_deref(), Some("m.s:5"));
        assert_eq!(d.label.as_deref(), Some("sense"));
    }
}
