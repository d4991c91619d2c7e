//! `pgvm tour`: the main job on built-in defaults.
//!
//! It walks through what pgvm can do today: the built-in profiles, then the sample guests on
//! the bare machine, each with its console output and final state.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use pgvm_classify::{Report, Theorem};
use pgvm_lab::counterexample::Counterexamples;
use pgvm_lab::equiv::Equivalence;
use pgvm_lab::matrix::Matrix;
use pgvm_machine::Exit;
use serde::Serialize;

use pgvm_lab::run;

use crate::guests;

/// What `pgvm tour --json` prints: the same sections as the text, as data.
#[derive(Serialize, Default)]
struct Tour {
    /// The runnable built-in profiles.
    profiles: Vec<Profile>,
    /// The sample guests and tsos on the bare machine.
    guests: Vec<GuestRun>,
    /// Each profile's theorem verdicts.
    classification: Vec<Verdicts>,
    /// tsos bare and under the monitor.
    monitor: Vec<Equivalence>,
    /// The m68000's counterexamples.
    counterexamples: Option<Counterexamples>,
    /// Every profile under every technique, on tsos and the workloads.
    matrix: Option<Matrix>,
    /// The real 68000 and 68010 (the m68k emulator) audited, one line each.
    audit: Vec<crate::audit::TourLine>,
    /// The assembly monitor under itself, depths 1 to 3.
    nesting: Vec<pgvm_lab::nest::NestReport>,
}

#[derive(Serialize)]
struct Profile {
    name: String,
    instructions: usize,
    description: String,
}

#[derive(Serialize)]
struct GuestRun {
    file: String,
    shows: String,
    run: run::RunReport,
}

#[derive(Serialize)]
struct Verdicts {
    isa: String,
    assist: bool,
    theorem1: Theorem,
    theorem2: Theorem,
    theorem3: Theorem,
}

/// The sample guests, with what each one shows.
const GUESTS: &[(&str, &str)] = &[
    (
        "hello.s",
        "console output through the privileged `out`, from supervisor mode",
    ),
    (
        "svc.s",
        "a user program in its own window calls the supervisor with `svc`; the handler at E[1] serves it and resumes",
    ),
    (
        "memtrap.s",
        "a user program reaches past its bounds: address development traps and the mov is blocked",
    ),
    (
        "privtrap.s",
        "a user program tries the privileged `lrb`: it traps instead of widening its window",
    ),
];

/// Where the sample guests live: relative to `guests/`, whose files are built into the
/// binary (see `crate::guests`), so that an installed `pgvm tour` needs no source tree.
fn guests_dir() -> PathBuf {
    PathBuf::new()
}

pub fn tour(json: bool) -> Result<ExitCode> {
    let mut tour = Tour::default();
    if !json {
        outln!("pgvm tour: Popek & Goldberg's third-generation machine, executable\n");
        outln!("== The built-in ISA profiles (pgvm isa list)\n");
    }
    for name in pgvm_isa::builtin_names() {
        let isa = pgvm_isa::load(name)?;
        if !isa.is_abstract {
            let insns = isa.insns.len();
            if !json {
                outln!(
                    "  {:<8} {insns:>2} instructions  {}",
                    isa.name,
                    isa.description
                );
            }
            tour.profiles.push(Profile {
                name: isa.name,
                instructions: insns,
                description: isa.description,
            });
        }
    }
    if !json {
        outln!(
            "\nEach profile extends `base`, the paper's machine: memory-to-memory instructions whose\n\
             every address goes through R = <l, b>, in both modes.\n"
        );
    }
    let dir = guests_dir();
    let mut failures = 0;
    for (file, what) in GUESTS {
        let path = dir.join(file);
        if !json {
            outln!("== guests/{file}: {what}\n");
        }
        let (isa, image) =
            guests::load(&path).with_context(|| format!("The tour needs {}", path.display()))?;
        let mut m = run::boot(isa, &image, pgvm_machine::DEFAULT_WORDS)?;
        let exit = m.run(1_000_000);
        if !json {
            for line in String::from_utf8_lossy(m.output()).lines() {
                outln!("  | {line}");
            }
            outln!("  {}\n", run::summary(&m, exit));
        }
        if exit != Exit::Halted {
            failures += 1;
        }
        tour.guests.push(GuestRun {
            file: format!("guests/{file}"),
            shows: what.to_string(),
            run: run::report(&m, exit),
        });
    }
    failures += tsos(&dir, &mut tour, json)?;
    let reports = classification(&mut tour, json)?;
    monitor(&dir, &mut tour, json)?;
    counterexamples(&mut tour, json)?;
    tour.audit = crate::audit::tour_section(json)?;
    // The matrix closes the tour: every technique against every profile, the summary.
    let disagreements = nesting(&dir, &mut tour, json)?;
    let disagreements = disagreements + technique_matrix(reports, &mut tour, json)?;
    if json {
        crate::cli::print_json(&tour)?;
    } else {
        outln!(
            "Next: pgvm run guests/hello.s --trace, pgvm classify --isa ia32, pgvm equiv guests/tsos/pdp10.s, pgvm matrix, pgvm --help."
        );
    }
    if failures > 0 {
        eprintln!("tour: {failures} guest(s) did not halt");
    }
    if disagreements > 0 {
        eprintln!(
            "tour: {disagreements} matrix cell(s) licensed by a theorem or nested run(s) are not equivalent"
        );
    }
    Ok(if failures == 0 && disagreements == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The time-sharing OS (guests/tsos/s370.s): its processes' interleaved output, shortened to
/// its first and last lines, and the summary. Returns 1 if it did not halt.
fn tsos(dir: &std::path::Path, tour: &mut Tour, json: bool) -> Result<u32> {
    const HEAD: usize = 12;
    const TAIL: usize = 4;
    const SHOWS: &str = "tsos, a time-sharing OS: six processes in their own windows, preempted by the interval timer, calling the kernel with svc (docs/guests.md)";
    let path = dir.join("tsos/s370.s");
    if !json {
        outln!(
            "== guests/tsos/s370.s: tsos, a time-sharing OS: six processes in their own windows,\n   \
             preempted by the interval timer, calling the kernel with svc (docs/guests.md)\n"
        );
    }
    let (isa, image) =
        guests::load(&path).with_context(|| format!("The tour needs {}", path.display()))?;
    let mut m = run::boot(isa, &image, pgvm_machine::DEFAULT_WORDS)?;
    let exit = m.run(50_000_000);
    if !json {
        let output = String::from_utf8_lossy(m.output()).into_owned();
        let lines: Vec<&str> = output.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if i < HEAD || i + TAIL >= lines.len() {
                outln!("  | {line}");
            } else if i == HEAD {
                outln!("  | ... {} more lines ...", lines.len() - HEAD - TAIL);
            }
        }
        outln!("  {}\n", run::summary(&m, exit));
    }
    tour.guests.push(GuestRun {
        file: "guests/tsos/s370.s".into(),
        shows: SHOWS.into(),
        run: run::report(&m, exit),
    });
    Ok(u32::from(exit != Exit::Halted))
}

/// The classifier's verdict matrix over every built-in profile, with the default settings;
/// returns the profiles and their reports, which license the technique matrix's cells.
fn classification(tour: &mut Tour, json: bool) -> Result<(Vec<pgvm_isa::Isa>, Vec<Report>)> {
    if !json {
        outln!(
            "== The classifier (pgvm classify --all): each instruction's classes derived from its\n   \
             semantics (proof, or a replayable witness), then the conditions of Theorems 1-3\n"
        );
    }
    let isas = pgvm_lab::classify::profiles(&[], true)?;
    let reports = crate::classify::run_classifier(&isas, &pgvm_classify::Config::default())?;
    if !json {
        for line in crate::classify::matrix(&reports).lines() {
            outln!("  {line}");
        }
        outln!(
            "\n  Sufficient conditions: where one fails, `pgvm classify --isa NAME` names the\n  \
             instructions and their witnesses.\n"
        );
    }
    tour.classification = reports
        .iter()
        .map(|r| Verdicts {
            isa: r.isa.clone(),
            assist: r.assist,
            theorem1: r.theorem1.clone(),
            theorem2: r.theorem2.clone(),
            theorem3: r.theorem3.clone(),
        })
        .collect();
    Ok((isas, reports))
}

/// The trap-and-emulate monitor: the OS bare and virtualized on a profile where Theorem 1
/// holds and on one where it fails. What it says comes from the reports; the expected
/// outcomes are asserted by the tests, not here.
fn monitor(dir: &std::path::Path, tour: &mut Tour, json: bool) -> Result<()> {
    if !json {
        outln!(
            "== The trap-and-emulate monitor (pgvm equiv): the OS run bare on a machine of w words and\n   \
             in a VM of w words, compared at the halt (docs/monitor.md)\n"
        );
    }
    for profile in ["s370", "m68000"] {
        let path = dir.join(format!("tsos/{profile}.s"));
        let (isa, image) =
            guests::load(&path).with_context(|| format!("The tour needs {}", path.display()))?;
        let guest = pgvm_lab::guest::guest_of(&image, pgvm_machine::DEFAULT_WORDS)?;
        let report =
            pgvm_lab::equiv::check(&isa, &guest, pgvm_lab::TechniqueKind::Tae, 50_000_000)?;
        if !json {
            let text = crate::vmm::equiv_text(&format!("guests/tsos/{profile}.s"), &isa, &report);
            for line in text.lines() {
                outln!("  {line}");
            }
            for line in crate::vmm::efficiency_text(&report).lines() {
                outln!("  {line}");
            }
            if let Some(d) = &report.divergence {
                if report.emulated_by_mnemonic.contains_key(&d.mnemonic) {
                    outln!(
                        "  `{}` was emulated and still diverged: that is a monitor bug.",
                        d.mnemonic
                    );
                } else {
                    outln!(
                        "  `{}` never trapped, so it ran directly in real user mode and saw the real\n  \
                         machine instead of the virtual one.",
                        d.mnemonic
                    );
                }
            }
            outln!();
        }
        tour.monitor.push(report);
    }
    Ok(())
}

/// One profile's counterexamples: the classifier's witnesses run as guests.
fn counterexamples(tour: &mut Tour, json: bool) -> Result<()> {
    if !json {
        outln!(
            "== Counterexamples (pgvm counterexample --isa m68000): each instruction that breaks\n   \
             Theorem 1, its classifier witness run as a guest, bare and under the monitor\n"
        );
    }
    let isa = std::sync::Arc::new(pgvm_isa::load("m68000")?);
    let bar = crate::classify::progress_bar(isa.insns.len() as u64);
    let found =
        pgvm_lab::counterexample::find(&isa, &pgvm_classify::Config::default(), &|| bar.inc(1))?;
    bar.finish_and_clear();
    if !json {
        for line in crate::counterexample::text(&isa, &found).lines() {
            outln!("{}", format!("  {line}").trim_end());
        }
        outln!();
    }
    tour.counterexamples = Some(found);
    Ok(())
}

/// The step limit of the tour's matrix: `pgvm matrix` runs tsos to its halt (about 5.5
/// million instructions), the tour compares it after this many.
const TOUR_MATRIX_STEPS: u64 = 1_000_000;

/// The technique matrix (`pgvm matrix`), on the built-in guests; returns how many licensed
/// cells are not equivalent.
fn technique_matrix(
    (isas, reports): (Vec<pgvm_isa::Isa>, Vec<Report>),
    tour: &mut Tour,
    json: bool,
) -> Result<usize> {
    if !json {
        outln!(
            "== The technique matrix (pgvm matrix): every profile under every technique, on tsos\n   \
             and the workloads, each cell checked against the theorem that licenses it\n"
        );
    }
    let rows = pgvm_lab::matrix::Rows {
        tsos: true,
        workloads: true,
    };
    // Fewer steps than `pgvm matrix` runs, for a tour that stays short even in a debug build;
    // every divergence tsos shows comes long before them.
    let settings = pgvm_lab::matrix::Settings {
        max_steps: TOUR_MATRIX_STEPS,
        ..pgvm_lab::matrix::Settings::default()
    };
    let m = crate::matrix::compute(
        isas,
        &reports,
        &pgvm_lab::TechniqueKind::ALL,
        rows,
        settings,
    )?;
    if !json {
        for line in crate::matrix::text(&m).lines() {
            outln!("{}", format!("  {line}").trim_end());
        }
        outln!(
            "\n  `pgvm matrix` runs every guest to its halt (up to {} instructions).\n",
            pgvm_lab::matrix::Settings::default().max_steps
        );
    }
    let bad = m.disagreements().len();
    tour.matrix = Some(m);
    Ok(bad)
}

/// The guest the tour nests: a workload, so that no interval timer makes the monitors
/// single-step it and the tour stays short.
const NESTED: &str = "workloads/compute.s";

/// The assembly monitor of guests/vmm/ under itself (`pgvm nest`), depths 1 to 3, in one
/// table; returns how many depths were not equivalent.
fn nesting(dir: &std::path::Path, tour: &mut Tour, json: bool) -> Result<usize> {
    use pgvm_lab::nest::{self, L0, MONITOR_FILES, NestOptions};
    let path = dir.join(NESTED);
    let (isa, image) =
        guests::load(&path).with_context(|| format!("The tour needs {}", path.display()))?;
    let build = nest::assemble_monitor(&isa, MONITOR_FILES)?;
    if !json {
        outln!(
            "== Recursive virtualization (pgvm nest): the monitor of guests/vmm/, written in the\n   \
             machine's own assembly, runs under itself with guests/{NESTED} innermost (Theorem 2)\n"
        );
        outln!(
            "  {:<6} {:<11} {:>12} {:>34} {:>9} {:>9}",
            "depth",
            "equivalent",
            "bare instrs",
            "instructions at level 0, 1, ...",
            "L0 traps",
            "slowdown"
        );
    }
    let mut diverged = 0;
    for depth in 1..=3 {
        let opts = NestOptions {
            depth,
            l0: L0::SelfHosted,
            q: pgvm_machine::DEFAULT_WORDS,
            max_steps: 10_000_000,
        };
        let r = nest::run(&isa, &image, &build, &opts)?;
        if !r.equivalent {
            diverged += 1;
        }
        if !json {
            let per: Vec<String> = r
                .levels
                .iter()
                .map(|l| l.instructions.to_string())
                .collect();
            outln!(
                "  {:<6} {:<11} {:>12} {:>34} {:>9} {:>8.2}x",
                depth,
                if r.equivalent { "yes" } else { "NO" },
                r.bare_instructions,
                per.join(" "),
                r.l0_traps,
                r.slowdown_instructions
            );
        }
        tour.nesting.push(r);
    }
    if !json {
        outln!(
            "\n  Each level doubles the traps of the one above (a reflection and the lpsw that ends\n  \
             its handler): at depth n a guest `lpsw` costs 2^(n-1) traps at level 0, and so does a\n  \
             guest `out`: each monitor executes its own `out` right before that `lpsw`, and the\n  \
             monitor below serves the two at one trap. Slowdown: in instructions.\n  \
             `pgvm nest guests/tsos/s370.s --depth 2` nests the time-sharing OS (docs/recursion.md).\n"
        );
    }
    Ok(diverged)
}
