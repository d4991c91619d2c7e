//! `pgvm bench`: every workload in every configuration (bare, each technique that applies,
//! nested at depths 1 to 4), measured on the host and priced by the cost model ([`crate::cost`]).
//!
//! The technique runs are the technique matrix's cells ([`crate::matrix`]): each is checked for
//! equivalence and timed against a bare run. The nested runs are [`crate::nest`]'s, with the
//! assembly monitor at level 0. Beside the rows of `guests/tsos/` and `guests/workloads/`,
//! the bench builds two tsos variants per profile from the same sources, with another process
//! table: `+syscalls` (one process making system calls) and `+yield` (four processes yielding
//! to one another), so that the syscall-heavy and context-switch-heavy workloads also run
//! under an operating system, where their traps reach the monitor.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use pgvm_asm::MemorySources;
use pgvm_classify::Report;
use pgvm_isa::Isa;
use pgvm_vmm::{Tally, TechniqueKind};
use serde::Serialize;

use crate::cost::{CostModel, Prices};
use crate::matrix::{self, Cell, GuestKind, MatrixError, Rows, Settings, Subject};
use crate::nest::{self, L0, NestError, NestOptions};

/// Why the bench could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The technique runs.
    #[error(transparent)]
    Matrix(#[from] MatrixError),
    /// A nested run.
    #[error("{guest} nested at depth {depth}: {source}")]
    Nest {
        /// The guest.
        guest: String,
        /// The depth.
        depth: u32,
        /// Why.
        source: NestError,
    },
    /// A guest's image for a nested run.
    #[error("{file}: {source}")]
    Asm {
        /// The guest.
        file: String,
        /// What the assembler said.
        source: pgvm_asm::AsmError,
    },
}

/// The process table of the syscall-heavy tsos variant: one process making system calls.
const PROCS_SYSCALLS: &str = "        .include \"programs.s\"\nproc_table:\n        .word 0x4000, 0x1000, prog_syscalls, prog_syscalls_end, 0, pn_syscalls\nproc_table_end:\npn_syscalls: .stringz \"syscalls\"\nimage_end:\n";

/// The process table of the context-switch-heavy tsos variant: four processes yielding.
const PROCS_YIELD: &str = "        .include \"programs.s\"\nproc_table:\n        .word 0x4000, 0x1000, prog_yield, prog_yield_end, 0, pn_yield\n        .word 0x5000, 0x1000, prog_yield, prog_yield_end, 0, pn_yield\n        .word 0x6000, 0x1000, prog_yield, prog_yield_end, 0, pn_yield\n        .word 0x7000, 0x1000, prog_yield, prog_yield_end, 0, pn_yield\nproc_table_end:\npn_yield: .stringz \"yield\"\nimage_end:\n";

/// The tsos variants: (suffix, what it is, its process table).
pub const VARIANTS: &[(&str, &str, &str)] = &[
    (
        "syscalls",
        "tsos running the syscalls workload alone (syscall-heavy)",
        PROCS_SYSCALLS,
    ),
    (
        "yield",
        "tsos running four copies of the yield workload (context-switch-heavy)",
        PROCS_YIELD,
    ),
];

/// The name of the row of tsos on `isa` with the process table of `variant`.
pub fn variant_file(isa: &str, variant: &str) -> String {
    format!("tsos/{isa}.s+{variant}")
}

/// How the bench runs.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchOptions {
    /// At most this many guest instructions per technique run.
    pub max_steps: u64,
    /// Each timed run is repeated until it has taken this long (see [`Settings::min_time`]).
    pub min_time: Duration,
    /// The nesting depths for the workloads (empty: no nested runs). A guest that does not
    /// halt within `max_steps` on the bare machine has no nested rows.
    pub depths: Vec<u32>,
    /// The nesting depths for tsos and its variants, which take far longer nested (each
    /// depth multiplies its timer's single steps).
    pub tsos_depths: Vec<u32>,
}

impl Default for BenchOptions {
    fn default() -> BenchOptions {
        BenchOptions {
            max_steps: Settings::default().max_steps,
            min_time: Duration::from_millis(5),
            depths: vec![1, 2, 3, 4],
            tsos_depths: Vec::new(),
        }
    }
}

/// A configuration a guest ran in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Config {
    /// On the bare machine.
    Bare,
    /// Under a technique of the host-side monitor.
    Technique {
        /// The technique.
        technique: TechniqueKind,
    },
    /// Under the assembly monitor, nested.
    Nested {
        /// Monitor levels.
        depth: u32,
    },
}

impl Config {
    /// Its name in tables and plots.
    pub fn name(self) -> String {
        match self {
            Config::Bare => "bare".to_string(),
            Config::Technique { technique } => technique.name().to_string(),
            Config::Nested { depth } => format!("nested-{depth}"),
        }
    }
}

/// One guest in one configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    /// The guest, relative to `guests/` (a tsos variant as `tsos/<profile>.s+<variant>`).
    pub guest: String,
    /// The profile.
    pub isa: String,
    /// How it ran.
    pub config: Config,
    /// Whether the run's result equalled the bare run's (the bare run: true).
    pub equivalent: bool,
    /// Guest instructions (the bare run's count: the same work in every configuration).
    pub guest_instructions: u64,
    /// Instructions the real machine executed: the guest's, and for a nested run the
    /// monitors' too.
    pub machine_instructions: u64,
    /// Traps: for a technique, those that reached the monitor (emulated and reflected) and
    /// hypercalls; for the bare run, the guest's own (the ones every monitor reflects); for a
    /// nested run, those taken at level 0.
    pub traps: u64,
    /// Traps per thousand guest instructions.
    pub trap_density: f64,
    /// Guest instructions executed directly, as a fraction of the guest's instructions (for a
    /// nested run, of all the machine's instructions).
    pub direct_fraction: f64,
    /// Host seconds of one run.
    pub seconds: Option<f64>,
    /// Guest instructions per host second.
    pub instructions_per_second: Option<f64>,
    /// Traps per host second.
    pub traps_per_second: Option<f64>,
    /// Host time against the bare run's.
    pub slowdown_measured: Option<f64>,
    /// Model cycles of the run.
    pub model_cycles: f64,
    /// Model cycles of the bare run.
    pub bare_model_cycles: f64,
    /// Model cycles against the bare run's.
    pub slowdown_modelled: f64,
    /// The bare run's model cycles as a percentage of this run's.
    pub percent_of_native: f64,
    /// The counts, for a technique run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tally: Option<Tally>,
}

/// Where binary translation and the hardware assist cost the same, on one guest: the modelled
/// cost of the assist's runs grows with the exit price, the translator's does not (its traps
/// are not VM exits).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Crossover {
    /// The guest.
    pub guest: String,
    /// The profile (one with a hardware assist).
    pub isa: String,
    /// The binary translator compared.
    pub translator: TechniqueKind,
    /// The exit price of the model, for the assist on this profile.
    pub model_exit: f64,
    /// VM exits of the assist's run: its emulated instructions (its reflected traps pay
    /// `reflect`, which the sweep leaves alone).
    pub exits: u64,
    /// The assist's model cycles without its exits.
    pub assist_base: f64,
    /// The translator's model cycles.
    pub translator_cycles: f64,
    /// The exit price above which the translator is cheaper (`None`: it never is, even with
    /// free exits, or the assist takes no exits).
    pub breakeven_exit: Option<f64>,
    /// The sweep: (exit price, assist slowdown, translator slowdown), modelled.
    pub sweep: Vec<(f64, f64, f64)>,
}

/// The assist's gain on one guest: trap-and-emulate's cost over `tae-assist`'s.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AssistGain {
    /// The guest.
    pub guest: String,
    /// The profile.
    pub isa: String,
    /// tae's modelled slowdown over tae-assist's.
    pub modelled: f64,
    /// tae's host time over tae-assist's.
    pub measured: Option<f64>,
}

/// Everything `pgvm bench` reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchReport {
    /// The cost model, with every price's source.
    pub cost_model: CostModel,
    /// The profiles benched.
    pub profiles: Vec<String>,
    /// The techniques benched (every one that exists).
    pub techniques: Vec<TechniqueKind>,
    /// The step limit of each technique run.
    pub max_steps: u64,
    /// The tsos variants.
    pub variants: Vec<String>,
    /// Every run, guest by guest, bare first.
    pub runs: Vec<Run>,
    /// Binary translation against the hardware assist, on the profiles that have one.
    pub crossovers: Vec<Crossover>,
    /// The VM assist's gain, on every guest where both `tae` and `tae-assist` ran equivalent
    /// (empty when no profile benched has the assist).
    pub assist_gains: Vec<AssistGain>,
}

/// The rows over `isas` from `files` (as [`matrix::subjects`]), with the tsos variants.
pub fn subjects(files: &[(&str, &str)], isas: &[Arc<Isa>]) -> Result<Vec<Subject>, MatrixError> {
    let mut out = matrix::subjects(
        files,
        isas,
        Rows {
            tsos: true,
            workloads: true,
        },
    )?;
    for (name, _, procs) in VARIANTS {
        let changed: Vec<(&str, &str)> = files
            .iter()
            .map(|&(f, t)| {
                if f == "tsos/procs.s" {
                    (f, *procs)
                } else {
                    (f, t)
                }
            })
            .collect();
        let rows = Rows {
            tsos: true,
            workloads: false,
        };
        for mut s in matrix::subjects(&changed, isas, rows)? {
            if s.kind == GuestKind::Tsos {
                s.file = variant_file(&s.isa.name, name);
                out.push(s);
            }
        }
    }
    Ok(out)
}

/// The number of runs [`run`] makes that take time (technique cells and nested runs), for a
/// progress bar.
pub fn job_count(subjects: &[Subject], opts: &BenchOptions) -> u64 {
    let cells = matrix::cell_count(subjects, &TechniqueKind::ALL);
    let nested: usize = subjects
        .iter()
        .filter(|s| nest::assemble_monitor(&s.isa, nest::MONITOR_FILES).is_ok())
        .filter(|s| s.kind != GuestKind::Paravirtual)
        .map(|s| depths_for(s, opts).len())
        .sum();
    cells + nested as u64
}

fn depths_for<'o>(s: &Subject, opts: &'o BenchOptions) -> &'o [u32] {
    match s.kind {
        GuestKind::Workload => &opts.depths,
        GuestKind::Tsos => &opts.tsos_depths,
        GuestKind::Paravirtual => &[],
    }
}

/// Runs the bench: `files` are the guests' sources (for the nested runs' images), `reports`
/// the classifier's verdicts for the subjects' profiles; `progress` is called once per
/// technique cell and nested run.
pub fn run(
    files: &[(&str, &str)],
    subjects: &[Subject],
    reports: &[Report],
    model: &CostModel,
    opts: &BenchOptions,
    progress: &(dyn Fn() + Sync),
) -> Result<BenchReport, BenchError> {
    let settings = Settings {
        max_steps: opts.max_steps,
        timed: true,
        min_time: opts.min_time,
    };
    let techniques = TechniqueKind::ALL.to_vec();
    let m = matrix::run(subjects, reports, &techniques, settings, progress)?;
    let mut runs = Vec::new();
    for s in subjects {
        let cells: Vec<&Cell> = m
            .cells
            .iter()
            .filter(|c| c.guest == s.file && c.isa == s.isa.name)
            .collect();
        let Some(first) = cells.first() else {
            continue;
        };
        let own_traps = cells
            .iter()
            .find(|c| c.equivalent)
            .map_or(0, |c| c.tally.reflected);
        let bare_prices = model.prices_for(&s.isa, None);
        let bare_cycles = bare_prices.bare(first.guest_instructions, own_traps);
        let timed: Vec<f64> = cells.iter().filter_map(|c| c.bare_seconds).collect();
        let bare_seconds =
            (!timed.is_empty()).then(|| timed.iter().sum::<f64>() / timed.len() as f64);
        runs.push(bare_run(
            s,
            first.guest_instructions,
            own_traps,
            bare_cycles,
            bare_seconds,
        ));
        for c in &cells {
            runs.push(technique_run(s, c, model, bare_cycles, bare_seconds));
        }
        if !depths_for(s, opts).is_empty()
            && let Ok(build) = nest::assemble_monitor(&s.isa, nest::MONITOR_FILES)
        {
            let image = image_of(files, s)?;
            for &depth in depths_for(s, opts) {
                let o = NestOptions {
                    depth,
                    l0: L0::SelfHosted,
                    q: pgvm_machine::DEFAULT_WORDS,
                    max_steps: opts.max_steps,
                };
                let r = match nest::run(&s.isa, &image, &build, &o) {
                    Ok(r) => r,
                    // Nesting compares at the halt: a guest that does not halt within the
                    // step limit has no nested rows.
                    Err(NestError::NoHalt(_)) => {
                        progress();
                        continue;
                    }
                    Err(source) => {
                        return Err(BenchError::Nest {
                            guest: s.file.clone(),
                            depth,
                            source,
                        });
                    }
                };
                progress();
                let p = model.prices_for(&s.isa, None);
                let bare = p.bare(r.bare_instructions, own_traps);
                let cycles = p.nested(r.nested_instructions, r.l0_traps);
                let secs = r.nested_ns as f64 / 1e9;
                let bare_secs = r.bare_ns as f64 / 1e9;
                runs.push(Run {
                    guest: s.file.clone(),
                    isa: s.isa.name.clone(),
                    config: Config::Nested { depth },
                    equivalent: r.equivalent,
                    guest_instructions: r.bare_instructions,
                    machine_instructions: r.nested_instructions,
                    traps: r.l0_traps,
                    trap_density: per_mille(r.l0_traps, r.bare_instructions),
                    direct_fraction: 1.0,
                    seconds: Some(secs),
                    instructions_per_second: rate(r.bare_instructions, Some(secs)),
                    traps_per_second: rate(r.l0_traps, Some(secs)),
                    slowdown_measured: (bare_secs > 0.0).then(|| secs / bare_secs),
                    model_cycles: cycles,
                    bare_model_cycles: bare,
                    slowdown_modelled: ratio(cycles, bare),
                    percent_of_native: 100.0 * ratio(bare, cycles),
                    tally: None,
                });
            }
        }
    }
    let crossovers = crossovers(&runs, subjects, model);
    let assist_gains = assist_gains(&runs);
    let mut profiles: Vec<String> = Vec::new();
    for s in subjects {
        if !profiles.contains(&s.isa.name) {
            profiles.push(s.isa.name.clone());
        }
    }
    Ok(BenchReport {
        cost_model: model.clone(),
        profiles,
        techniques,
        max_steps: opts.max_steps,
        variants: VARIANTS
            .iter()
            .map(|(n, d, _)| format!("+{n}: {d}"))
            .collect(),
        runs,
        crossovers,
        assist_gains,
    })
}

fn image_of(files: &[(&str, &str)], s: &Subject) -> Result<pgvm_asm::Image, BenchError> {
    let (file, procs) = match s.file.split_once('+') {
        Some((f, v)) => (
            f.to_string(),
            VARIANTS.iter().find(|x| x.0 == v).map(|x| x.2),
        ),
        None => (s.file.clone(), None),
    };
    let changed: Vec<(&str, &str)> = files
        .iter()
        .map(|&(f, t)| match procs {
            Some(p) if f == "tsos/procs.s" => (f, p),
            _ => (f, t),
        })
        .collect();
    let sources = MemorySources::new(changed.iter().copied());
    pgvm_asm::assemble_from(Path::new(&file), &sources, &s.isa).map_err(|source| BenchError::Asm {
        file: s.file.clone(),
        source,
    })
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

fn per_mille(n: u64, of: u64) -> f64 {
    1000.0 * ratio(n as f64, of as f64)
}

fn rate(n: u64, seconds: Option<f64>) -> Option<f64> {
    seconds.filter(|s| *s > 0.0).map(|s| n as f64 / s)
}

fn bare_run(s: &Subject, n: u64, traps: u64, cycles: f64, seconds: Option<f64>) -> Run {
    Run {
        guest: s.file.clone(),
        isa: s.isa.name.clone(),
        config: Config::Bare,
        equivalent: true,
        guest_instructions: n,
        machine_instructions: n,
        traps,
        trap_density: per_mille(traps, n),
        direct_fraction: 1.0,
        seconds,
        instructions_per_second: rate(n, seconds),
        traps_per_second: rate(traps, seconds),
        slowdown_measured: seconds.map(|_| 1.0),
        model_cycles: cycles,
        bare_model_cycles: cycles,
        slowdown_modelled: 1.0,
        percent_of_native: 100.0,
        tally: None,
    }
}

fn technique_run(
    s: &Subject,
    c: &Cell,
    model: &CostModel,
    bare_cycles: f64,
    bare_seconds: Option<f64>,
) -> Run {
    let p = model.prices_for(&s.isa, Some(c.technique));
    let cycles = p.virtualized(&c.tally);
    let traps = c.tally.emulated + c.tally.reflected + c.tally.hypercalls;
    Run {
        guest: s.file.clone(),
        isa: s.isa.name.clone(),
        config: Config::Technique {
            technique: c.technique,
        },
        equivalent: c.equivalent,
        guest_instructions: c.guest_instructions,
        machine_instructions: c.vm_instructions,
        traps,
        trap_density: per_mille(traps, c.vm_instructions),
        direct_fraction: ratio(c.tally.direct as f64, c.vm_instructions as f64),
        seconds: c.vm_seconds,
        instructions_per_second: rate(c.vm_instructions, c.vm_seconds),
        traps_per_second: rate(traps, c.vm_seconds),
        slowdown_measured: match (c.vm_seconds, bare_seconds) {
            (Some(v), Some(b)) if b > 0.0 => Some(v / b),
            _ => None,
        },
        model_cycles: cycles,
        bare_model_cycles: bare_cycles,
        slowdown_modelled: ratio(cycles, bare_cycles),
        percent_of_native: 100.0 * ratio(bare_cycles, cycles),
        tally: Some(c.tally),
    }
}

/// The exit prices the crossover plot sweeps, in model cycles.
pub fn sweep_prices() -> Vec<f64> {
    (0..=40).map(|i| f64::from(i) * 100.0).collect()
}

/// For each guest on a profile with a hardware assist, the assist's modelled cost as its exit
/// price varies against the kernel translator's (the one VMware's first software VMM was).
fn crossovers(runs: &[Run], subjects: &[Subject], model: &CostModel) -> Vec<Crossover> {
    let mut out = Vec::new();
    for s in subjects.iter().filter(|s| s.isa.features.assist) {
        let find = |t: TechniqueKind| {
            runs.iter().find(|r| {
                r.guest == s.file
                    && r.isa == s.isa.name
                    && r.config == Config::Technique { technique: t }
                    && r.equivalent
            })
        };
        let (Some(assist), Some(bt)) = (find(TechniqueKind::Assist), find(TechniqueKind::BtKernel))
        else {
            continue;
        };
        let Some(tally) = assist.tally else { continue };
        let p = model.prices_for(&s.isa, Some(TechniqueKind::Assist));
        let exits = Prices::exits(&tally);
        let assist_base = assist.model_cycles - exits as f64 * p.exit.cycles;
        let breakeven = (exits > 0)
            .then(|| (bt.model_cycles - assist_base) / exits as f64)
            .filter(|x| *x >= 0.0);
        let bare = assist.bare_model_cycles;
        let sweep = sweep_prices()
            .into_iter()
            .map(|x| {
                (
                    x,
                    ratio(assist_base + exits as f64 * x, bare),
                    ratio(bt.model_cycles, bare),
                )
            })
            .collect();
        out.push(Crossover {
            guest: s.file.clone(),
            isa: s.isa.name.clone(),
            translator: TechniqueKind::BtKernel,
            model_exit: p.exit.cycles,
            exits,
            assist_base,
            translator_cycles: bt.model_cycles,
            breakeven_exit: breakeven,
            sweep,
        });
    }
    out
}

fn assist_gains(runs: &[Run]) -> Vec<AssistGain> {
    let ta = TechniqueKind::TaeAssist;
    let mut out = Vec::new();
    for r in runs.iter().filter(|r| {
        r.config
            == Config::Technique {
                technique: TechniqueKind::Tae,
            }
            && r.equivalent
    }) {
        if let Some(a) = runs.iter().find(|a| {
            a.guest == r.guest
                && a.isa == r.isa
                && a.config == Config::Technique { technique: ta }
                && a.equivalent
        }) {
            out.push(AssistGain {
                guest: r.guest.clone(),
                isa: r.isa.clone(),
                modelled: ratio(r.model_cycles, a.model_cycles),
                measured: match (r.seconds, a.seconds) {
                    (Some(t), Some(x)) if x > 0.0 => Some(t / x),
                    _ => None,
                },
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variants_replace_the_process_table_only() {
        let s370 = Arc::new(pgvm_isa::load("s370").expect("built-in"));
        let files = [
            (
                "tsos/s370.s",
                ".isa s370\n.entry 0x10\n.org 0x10\nhalt\n.include \"procs.s\"\n",
            ),
            ("tsos/procs.s", "image_end:\n"),
            (
                "tsos/programs.s",
                "prog_syscalls:\nprog_syscalls_end:\nprog_yield:\nprog_yield_end:\n",
            ),
        ];
        let got = subjects(&files, &[s370]).expect("assembles");
        let names: Vec<&str> = got.iter().map(|s| s.file.as_str()).collect();
        assert_eq!(
            names,
            ["tsos/s370.s", "tsos/s370.s+syscalls", "tsos/s370.s+yield"]
        );
        let words =
            |i: usize| -> usize { got[i].guest.segments.iter().map(|(_, w)| w.len()).sum() };
        assert!(words(2) > words(1) && words(1) > words(0), "bigger tables");
    }
}
