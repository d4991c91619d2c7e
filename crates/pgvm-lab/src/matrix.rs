//! The technique matrix: every built-in profile against every technique that applies to it,
//! on the time-sharing OS (`guests/tsos/<profile>.s`) and the workloads (`guests/workloads/`).
//!
//! Each cell is one [`crate::equiv::check`] (equivalence, counts, the first divergence), plus
//! a timed bare run and a timed virtualized run for the slowdown. Beside each cell stands the
//! condition that licenses its technique (DESIGN.md §4c) as the classifier decided it, so
//! that the matrix can be checked against the theorems: a licensed cell must be equivalent.
//!
//! A technique enters the matrix through [`condition`] and [`applies`], whose matches are
//! exhaustive over [`TechniqueKind`]: a new technique does not compile until it says what
//! licenses it and where it applies.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pgvm_asm::{AsmError, Listing, MemorySources};
use pgvm_classify::Report;
use pgvm_isa::Isa;
use pgvm_machine::{Machine, StateView};
use pgvm_vmm::{BareOutcome, Guest, Monitor, Setup, Tally, TechniqueKind, VmmError};
use rayon::prelude::*;
use serde::Serialize;

use crate::equiv::{Divergence, EquivError};
use crate::guest::GuestError;
use crate::program::DEFAULT_ISA;

/// Why the matrix could not be made.
#[derive(Debug, thiserror::Error)]
pub enum MatrixError {
    /// A guest does not assemble.
    #[error("{file}: {source}")]
    Asm {
        /// The guest, relative to `guests/`.
        file: String,
        /// What the assembler said.
        source: AsmError,
    },
    /// An assembled guest does not fit a VM.
    #[error("{file}: {source}")]
    Guest {
        /// The guest, relative to `guests/`.
        file: String,
        /// Why.
        source: GuestError,
    },
    /// The equivalence run could not be set up.
    #[error(transparent)]
    Equiv(#[from] EquivError),
    /// A timed run could not be set up.
    #[error(transparent)]
    Monitor(#[from] VmmError),
    /// A profile the classifier gave no verdict for.
    #[error("No classifier verdict for profile `{0}`")]
    NoVerdict(String),
}

/// The condition on the ISA that licenses a technique (DESIGN.md §4c): where the classifier
/// finds it holds, the technique must be equivalent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Condition {
    /// Sensitive ⊆ privileged (with the profile's assist on, where it has one).
    Theorem1,
    /// User-sensitive ⊆ privileged.
    Theorem3,
    /// The critical set (sensitive and not privileged) is complete by proof: every other
    /// instruction is *proved* privileged or innocuous, so a scan for the set misses nothing.
    CriticalComplete,
    /// No critical instruction runs in user mode unscanned: Theorem 3's condition (no
    /// user-sensitive instruction is unprivileged), and the critical set complete by proof
    /// for the supervisor code that is scanned.
    UserCriticalAbsent,
    /// Theorem 1's condition under the assist, and the assist sound (it removes no trap).
    SoundAssist,
}

impl Condition {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Condition::Theorem1 => "Theorem 1",
            Condition::Theorem3 => "Theorem 3",
            Condition::CriticalComplete => "a proved critical set",
            Condition::UserCriticalAbsent => "Theorem 3 and a proved critical set",
            Condition::SoundAssist => "Theorem 1 under a sound assist",
        }
    }

    /// Whether the classifier's report says it holds.
    pub fn holds(self, report: &Report) -> bool {
        match self {
            Condition::Theorem1 => report.theorem1.holds,
            Condition::Theorem3 => report.theorem3.holds,
            Condition::CriticalComplete => report.critical().complete(),
            Condition::UserCriticalAbsent => report.theorem3.holds && report.critical().complete(),
            Condition::SoundAssist => {
                report.assist && report.theorem1.holds && report.assist_soundness.sound
            }
        }
    }
}

/// What licenses `technique` (DESIGN.md §4c's table).
pub fn condition(technique: TechniqueKind) -> Condition {
    match technique {
        // The VM assist runs the very semantics the dispatcher would, on the same virtual
        // state: it licenses nothing trap-and-emulate does not (DESIGN.md §4c, "as tae").
        TechniqueKind::Tae | TechniqueKind::TaeAssist => Condition::Theorem1,
        TechniqueKind::Hvm => Condition::Theorem3,
        TechniqueKind::BtKernel => Condition::UserCriticalAbsent,
        TechniqueKind::BtAll => Condition::CriticalComplete,
        TechniqueKind::Assist => Condition::SoundAssist,
        // A paravirtualized kernel asks for its critical instructions by hypercall; its user
        // programs run unmodified and directly, as under the hybrid monitor.
        TechniqueKind::Pv => Condition::Theorem3,
    }
}

/// Whether `technique` can run guests of `isa` at all (the assist technique needs a profile
/// with an assist, `tae-assist` one with a VM assist; the others run on every profile).
pub fn applies(technique: TechniqueKind, isa: &Isa) -> bool {
    technique.applies(isa)
}

/// Which program a row runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GuestKind {
    /// The time-sharing OS, one port per profile.
    Tsos,
    /// A workload alone on the bare machine, on the profile its `.isa` line names.
    Workload,
    /// A paravirtualized tsos (`tsos/<profile>-pv.s`): run under `pv` only, against the
    /// machine that implements its hypercalls.
    Paravirtual,
}

/// One program, assembled for one profile.
#[derive(Debug, Clone)]
pub struct Subject {
    /// Its path relative to `guests/`.
    pub file: String,
    /// What it is.
    pub kind: GuestKind,
    /// The profile.
    pub isa: Arc<Isa>,
    /// The program as the bare machine and a VM start it.
    pub guest: Guest,
    /// Its labels and lines, to name a divergence.
    pub listing: Listing,
}

/// Which rows to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rows {
    /// `tsos/<profile>.s` on each profile.
    pub tsos: bool,
    /// `workloads/*.s` on the profile each one names.
    pub workloads: bool,
}

/// How the workloads are placed, for the report and the docs.
///
/// The assembler refuses a program for another profile than its `.isa` line names, so a
/// workload written for `s370` has an `s370` row only.
pub const WORKLOAD_PROFILES: &str = "each on its own profile only, the one its `.isa` line names";

/// The rows over `isas`, assembled from `files` (`(path relative to guests/, text)`, with
/// everything they include): the source tree's files or the ones built into a binary. A
/// profile without a `tsos/<name>.s` has no tsos row; a workload whose profile is not among
/// `isas` has none either.
pub fn subjects(
    files: &[(&str, &str)],
    isas: &[Arc<Isa>],
    rows: Rows,
) -> Result<Vec<Subject>, MatrixError> {
    let sources = MemorySources::new(files.iter().copied());
    let mut out = Vec::new();
    if rows.tsos {
        for isa in isas {
            let file = format!("tsos/{}.s", isa.name);
            if files.iter().any(|(f, _)| *f == file) {
                out.push(subject(&sources, file, GuestKind::Tsos, isa)?);
            }
            let pv = format!("tsos/{}-pv.s", isa.name);
            if files.iter().any(|(f, _)| *f == pv) {
                out.push(subject(&sources, pv, GuestKind::Paravirtual, isa)?);
            }
        }
    }
    if rows.workloads {
        for (file, text) in files {
            let Some(name) = file.strip_prefix("workloads/") else {
                continue;
            };
            if name.contains('/') {
                continue; // `workloads/prog/`: the programs the workloads include
            }
            let own = pgvm_asm::declared_isa(text).unwrap_or_else(|| DEFAULT_ISA.to_string());
            if let Some(isa) = isas.iter().find(|i| i.name == own) {
                out.push(subject(
                    &sources,
                    file.to_string(),
                    GuestKind::Workload,
                    isa,
                )?);
            }
        }
    }
    Ok(out)
}

fn subject(
    sources: &MemorySources,
    file: String,
    kind: GuestKind,
    isa: &Arc<Isa>,
) -> Result<Subject, MatrixError> {
    let (image, listing) =
        pgvm_asm::assemble_from_listed(Path::new(&file), sources, isa).map_err(|source| {
            MatrixError::Asm {
                file: file.clone(),
                source,
            }
        })?;
    let guest = crate::guest::guest_of(&image, pgvm_machine::DEFAULT_WORDS).map_err(|source| {
        MatrixError::Guest {
            file: file.clone(),
            source,
        }
    })?;
    Ok(Subject {
        file,
        kind,
        isa: isa.clone(),
        guest,
        listing,
    })
}

/// How the cells are run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// At most this many guest instructions per run.
    pub max_steps: u64,
    /// Whether to time a bare and a virtualized run for each cell, besides the equivalence
    /// check (which is not timed: it also searches for the first divergence).
    pub timed: bool,
    /// The timed runs are repeated until each side's repetitions take at least this long (at
    /// most [`MAX_REPEATS`] times), so that a short guest's time is not all timer resolution.
    pub min_time: Duration,
}

/// The most repetitions of one timed run.
pub const MAX_REPEATS: u32 = 1000;

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            max_steps: 50_000_000,
            timed: true,
            min_time: Duration::from_millis(20),
        }
    }
}

/// One profile's licensing conditions, as the classifier decided them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Licenses {
    /// The profile.
    pub isa: String,
    /// Whether the verdicts are under the profile's assist.
    pub assist: bool,
    /// Theorem 1's condition.
    pub theorem1: bool,
    /// Theorem 3's condition.
    pub theorem3: bool,
    /// The critical instructions (sensitive and not privileged) a binary translator scans
    /// for.
    pub critical: Vec<String>,
    /// Whether every instruction outside the critical set is proved privileged or innocuous.
    pub critical_complete: bool,
    /// Whether the profile's assist is sound (trivially, without one).
    pub assist_sound: bool,
}

/// One technique, as a column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    /// Its name.
    pub technique: TechniqueKind,
    /// What it is.
    pub describe: &'static str,
    /// What licenses it.
    pub condition: Condition,
}

/// One guest under one technique.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cell {
    /// The guest, relative to `guests/`.
    pub guest: String,
    /// What the guest is.
    pub kind: GuestKind,
    /// The profile.
    pub isa: String,
    /// The technique.
    pub technique: TechniqueKind,
    /// What licenses the technique.
    pub condition: Condition,
    /// Whether the classifier found the condition to hold on this profile.
    pub licensed: bool,
    /// Whether the virtualized run equalled the bare one.
    pub equivalent: bool,
    /// Whether the cell agrees with the theorem: a licensed cell must be equivalent (an
    /// unlicensed one may be either: the conditions are sufficient, not necessary).
    pub agrees: bool,
    /// How the bare run ended.
    pub bare: BareOutcome,
    /// Why the virtualized run stopped early, if it did.
    pub vm_exit: Option<&'static str>,
    /// Guest instructions of the bare run.
    pub guest_instructions: u64,
    /// Guest instructions of the virtualized run.
    pub vm_instructions: u64,
    /// How the guest's instructions were carried out.
    #[serde(flatten)]
    pub tally: Tally,
    /// `direct` as a percentage of the virtualized run's instructions.
    pub direct_percent: f64,
    /// Instructions the monitor handled in software (emulated, interpreted, translated or
    /// reflected) per
    /// thousand guest instructions: the slowdown in guest-instruction counts.
    pub monitor_per_mille: f64,
    /// Host seconds of one bare run (`None`: not timed).
    pub bare_seconds: Option<f64>,
    /// Host seconds of one virtualized run (`None`: not timed).
    pub vm_seconds: Option<f64>,
    /// `vm_seconds / bare_seconds`, when both were timed and the bare run took measurable
    /// time.
    pub slowdown: Option<f64>,
    /// The first instruction after which the runs differ, with its source line and label.
    pub divergence: Option<Divergence>,
    /// Emulations that are monitor bugs (see [`crate::equiv::efficiency_breaches`]).
    pub efficiency_breaches: usize,
}

/// The whole matrix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Matrix {
    /// The step limit of every run.
    pub max_steps: u64,
    /// The columns.
    pub techniques: Vec<Column>,
    /// Each profile's conditions.
    pub profiles: Vec<Licenses>,
    /// Where the workloads run ([`WORKLOAD_PROFILES`]).
    pub workloads: &'static str,
    /// Every cell, row by row (guest, then technique).
    pub cells: Vec<Cell>,
}

impl Matrix {
    /// The cells a theorem licenses that are not equivalent: none, if the theorems and the
    /// monitor agree.
    pub fn disagreements(&self) -> Vec<&Cell> {
        self.cells.iter().filter(|c| !c.agrees).collect()
    }
}

/// The columns for `techniques`.
pub fn columns(techniques: &[TechniqueKind]) -> Vec<Column> {
    techniques
        .iter()
        .map(|&t| Column {
            technique: t,
            describe: t.describe(),
            condition: condition(t),
        })
        .collect()
}

/// Runs every subject under every technique that applies to its profile, the cells in
/// parallel; `progress` is called once per cell done. `reports` are the classifier's verdicts
/// for the subjects' profiles.
pub fn run(
    subjects: &[Subject],
    reports: &[Report],
    techniques: &[TechniqueKind],
    settings: Settings,
    progress: &(dyn Fn() + Sync),
) -> Result<Matrix, MatrixError> {
    let jobs = jobs(subjects, techniques);
    let cells = jobs
        .par_iter()
        .map(|&(s, t)| {
            let report = reports
                .iter()
                .find(|r| r.isa == s.isa.name)
                .ok_or_else(|| MatrixError::NoVerdict(s.isa.name.clone()))?;
            let c = cell(s, t, report, settings);
            progress();
            c
        })
        .collect::<Result<Vec<Cell>, MatrixError>>()?;
    let mut profiles: Vec<Licenses> = Vec::new();
    for s in subjects {
        if profiles.iter().any(|p| p.isa == s.isa.name) {
            continue;
        }
        if let Some(r) = reports.iter().find(|r| r.isa == s.isa.name) {
            let critical = r.critical();
            profiles.push(Licenses {
                isa: r.isa.clone(),
                assist: r.assist,
                theorem1: Condition::Theorem1.holds(r),
                theorem3: Condition::Theorem3.holds(r),
                critical_complete: critical.complete(),
                critical: critical.members,
                assist_sound: r.assist_soundness.sound,
            });
        }
    }
    Ok(Matrix {
        max_steps: settings.max_steps,
        techniques: columns(techniques),
        profiles,
        workloads: WORKLOAD_PROFILES,
        cells,
    })
}

/// The number of cells [`run`] makes, for a progress bar.
pub fn cell_count(subjects: &[Subject], techniques: &[TechniqueKind]) -> u64 {
    jobs(subjects, techniques).len() as u64
}

fn jobs<'s>(
    subjects: &'s [Subject],
    techniques: &[TechniqueKind],
) -> Vec<(&'s Subject, TechniqueKind)> {
    subjects
        .iter()
        .flat_map(|s| {
            techniques
                .iter()
                .filter(|t| {
                    applies(**t, &s.isa)
                        && ((**t == TechniqueKind::Pv) == (s.kind == GuestKind::Paravirtual))
                })
                .map(move |&t| (s, t))
        })
        .collect()
}

fn cell(
    s: &Subject,
    technique: TechniqueKind,
    report: &Report,
    settings: Settings,
) -> Result<Cell, MatrixError> {
    let condition = condition(technique);
    let licensed = condition.holds(report);
    let setup = crate::equiv::setup(&s.isa, technique, Some(report))?;
    let (bare_seconds, vm_seconds) = if settings.timed {
        let (bare, vm) = timed(settings.min_time, || {
            Ok((
                bare_run(s, technique, settings.max_steps)?,
                virtual_run(s, &setup, settings.max_steps)?,
            ))
        })?;
        (Some(bare), Some(vm))
    } else {
        (None, None)
    };
    let mut r = crate::equiv::check_with(&s.isa, &s.guest, &setup, settings.max_steps)?;
    r.locate(&s.listing);
    let per = |n: u64, of: u64| {
        if of == 0 {
            0.0
        } else {
            n as f64 * 100.0 / of as f64
        }
    };
    Ok(Cell {
        guest: s.file.clone(),
        kind: s.kind,
        isa: s.isa.name.clone(),
        technique,
        condition,
        licensed,
        equivalent: r.equivalent,
        agrees: r.equivalent || !licensed,
        bare: r.bare,
        vm_exit: r.vm_exit.map(crate::equiv::vm_exit_text),
        guest_instructions: r.guest_instructions,
        vm_instructions: r.vm_instructions,
        tally: r.tally,
        direct_percent: per(r.tally.direct, r.vm_instructions),
        monitor_per_mille: per(r.tally.by_monitor(), r.vm_instructions) * 10.0,
        bare_seconds,
        vm_seconds,
        slowdown: match (bare_seconds, vm_seconds) {
            (Some(b), Some(v)) if b > 0.0 => Some(v / b),
            _ => None,
        },
        divergence: r.divergence,
        efficiency_breaches: r.efficiency_breaches.len(),
    })
}

/// Host seconds of one bare and one virtualized run, from `f` doing one of each: the means
/// over as many pairs as `min_time` asks for. The two runs alternate, so that a load on the
/// host that comes and goes weighs on both alike.
fn timed(
    min_time: Duration,
    mut f: impl FnMut() -> Result<(Duration, Duration), MatrixError>,
) -> Result<(f64, f64), MatrixError> {
    let (mut bare, mut vm, mut n) = (Duration::ZERO, Duration::ZERO, 0u32);
    loop {
        let (b, v) = f()?;
        bare += b;
        vm += v;
        n += 1;
        if bare.min(vm) >= min_time || n >= MAX_REPEATS {
            let n = f64::from(n);
            return Ok((bare.as_secs_f64() / n, vm.as_secs_f64() / n));
        }
    }
}

/// The bare run on a machine of `w` words, timed from the first instruction to the last; for
/// `pv`, on the machine that implements the hypercalls.
fn bare_run(
    s: &Subject,
    technique: TechniqueKind,
    max_steps: u64,
) -> Result<Duration, MatrixError> {
    let g = &s.guest;
    let mut m = Machine::new(s.isa.clone(), g.w).map_err(VmmError::from)?;
    for (org, words) in &g.segments {
        m.write(*org, words).map_err(VmmError::from)?;
    }
    m.set_psw(g.entry);
    m.push_input(&g.input);
    let mut m = pgvm_vmm::Reference::new(m, technique == TechniqueKind::Pv);
    let start = Instant::now();
    m.run(max_steps);
    Ok(start.elapsed())
}

/// The virtualized run in a VM of `w` words, timed likewise.
fn virtual_run(s: &Subject, setup: &Setup, max_steps: u64) -> Result<Duration, MatrixError> {
    let g = &s.guest;
    let mut mon = Monitor::with_technique(s.isa.clone(), pgvm_vmm::CP_WORDS + g.w, setup.clone())?;
    let segs: Vec<(u64, &[u64])> = g.segments.iter().map(|(o, w)| (*o, &w[..])).collect();
    let id = mon.create_vm(g.w, &segs, g.entry)?;
    mon.push_input(id, &g.input);
    let start = Instant::now();
    mon.run_vm(id, max_steps);
    Ok(start.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_technique_has_a_condition_and_the_assist_needs_one() {
        let isa = pgvm_isa::load("s370").expect("built-in");
        for t in TechniqueKind::ALL {
            assert_eq!(applies(t, &isa), t != TechniqueKind::Assist, "{t}");
        }
        let vt = pgvm_isa::load("ia32-vt").expect("built-in");
        for t in TechniqueKind::ALL {
            assert_eq!(applies(t, &vt), t != TechniqueKind::TaeAssist, "{t}");
        }
        assert_eq!(
            condition(TechniqueKind::TaeAssist),
            condition(TechniqueKind::Tae)
        );
        assert_eq!(condition(TechniqueKind::Tae), Condition::Theorem1);
        assert_eq!(condition(TechniqueKind::Hvm), Condition::Theorem3);
    }

    #[test]
    fn workloads_run_on_their_own_profile_only() {
        let s370 = Arc::new(pgvm_isa::load("s370").expect("built-in"));
        let ppc = Arc::new(pgvm_isa::load("ppc").expect("built-in"));
        let files = [
            ("workloads/w.s", ".isa s370\n.entry 0x10\n.org 0x10\nhalt\n"),
            ("workloads/prog/w.s", "halt\n"),
            ("tsos/ppc.s", ".isa ppc\n.entry 0x10\n.org 0x10\nhalt\n"),
        ];
        let rows = Rows {
            tsos: true,
            workloads: true,
        };
        let got = subjects(&files, &[s370.clone(), ppc.clone()], rows).expect("assembles");
        let names: Vec<(&str, &str)> = got
            .iter()
            .map(|s| (s.file.as_str(), s.isa.name.as_str()))
            .collect();
        assert_eq!(names, [("tsos/ppc.s", "ppc"), ("workloads/w.s", "s370")]);
        let none = subjects(&files, &[ppc], rows).expect("assembles");
        assert_eq!(none.len(), 1, "no s370, no workload row");
    }

    #[test]
    fn a_short_run_is_timed_over_repetitions() {
        let mut calls = 0;
        let (bare, vm) = timed(Duration::from_millis(2), || {
            calls += 1;
            Ok((Duration::from_micros(500), Duration::from_millis(1)))
        })
        .expect("times");
        assert_eq!(calls, 4, "until the shorter side has taken 2 ms");
        assert!((bare - 0.0005).abs() < 1e-9, "{bare}");
        assert!((vm - 0.001).abs() < 1e-9, "{vm}");
    }
}
