//! `pgvm tour`: the main job on built-in defaults.
//!
//! It walks through what pgvm can do today: the built-in profiles, then the sample guests on
//! the bare machine, each with its console output and final state.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use pgvm_machine::Exit;

use crate::{program, run};

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

/// Where the sample guests live: `guests/` at the top of the source tree.
fn guests_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../guests"))
}

pub fn tour() -> Result<ExitCode> {
    outln!("pgvm tour: Popek & Goldberg's third-generation machine, executable\n");
    outln!("== The built-in ISA profiles (pgvm isa list)\n");
    for name in pgvm_isa::builtin_names() {
        let isa = pgvm_isa::load(name)?;
        if !isa.is_abstract {
            let insns = isa.insns.len();
            outln!(
                "  {:<8} {insns:>2} instructions  {}",
                isa.name,
                isa.description
            );
        }
    }
    outln!(
        "\nEach profile extends `base`, the paper's machine: memory-to-memory instructions whose\n\
         every address goes through R = <l, b>, in both modes.\n"
    );
    let dir = guests_dir();
    let mut failures = 0;
    for (file, what) in GUESTS {
        let path = dir.join(file);
        outln!("== guests/{file}: {what}\n");
        let (isa, image) = program::load(&path, None)
            .with_context(|| format!("The tour needs {}", path.display()))?;
        let mut m = run::boot(isa, &image, 65536)?;
        let exit = m.run(1_000_000);
        for line in String::from_utf8_lossy(m.output()).lines() {
            outln!("  | {line}");
        }
        outln!("  {}\n", run::summary(&m, exit));
        if exit != Exit::Halted {
            failures += 1;
        }
    }
    failures += tsos(&dir)?;
    classification()?;
    monitor(&dir)?;
    counterexamples()?;
    outln!(
        "Next: pgvm run guests/hello.s --trace, pgvm classify --isa ia32, pgvm equiv guests/tsos/pdp10.s, pgvm --help."
    );
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        eprintln!("tour: {failures} guest(s) did not halt");
        ExitCode::from(1)
    })
}

/// The time-sharing OS (guests/tsos/s370.s): its processes' interleaved output, shortened to
/// its first and last lines, and the summary. Returns 1 if it did not halt.
fn tsos(dir: &std::path::Path) -> Result<u32> {
    const HEAD: usize = 12;
    const TAIL: usize = 4;
    let path = dir.join("tsos/s370.s");
    outln!(
        "== guests/tsos/s370.s: tsos, a time-sharing OS: six processes in their own windows,\n   \
         preempted by the interval timer, calling the kernel with svc (docs/guests.md)\n"
    );
    let (isa, image) =
        program::load(&path, None).with_context(|| format!("The tour needs {}", path.display()))?;
    let mut m = run::boot(isa, &image, 65536)?;
    let exit = m.run(50_000_000);
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
    Ok(u32::from(exit != Exit::Halted))
}

/// The classifier's verdict matrix over every built-in profile, with the default settings.
fn classification() -> Result<()> {
    outln!(
        "== The classifier (pgvm classify --all): each instruction's classes derived from its\n   \
         semantics (proof, or a replayable witness), then the conditions of Theorems 1-3\n"
    );
    let mut isas = Vec::new();
    for name in pgvm_isa::builtin_names() {
        let isa = pgvm_isa::load(name)?;
        if !isa.is_abstract {
            isas.push(isa);
        }
    }
    let reports = crate::classify::run_classifier(&isas, &pgvm_classify::Config::default())?;
    for line in crate::classify::matrix(&reports).lines() {
        outln!("  {line}");
    }
    outln!(
        "\n  Sufficient conditions: where one fails, `pgvm classify --isa NAME` names the\n  \
         instructions and their witnesses.\n"
    );
    Ok(())
}

/// The trap-and-emulate monitor: the OS bare and virtualized on a profile where Theorem 1
/// holds and on one where it fails. What it says comes from the reports; the expected
/// outcomes are asserted by the tests, not here.
fn monitor(dir: &std::path::Path) -> Result<()> {
    outln!(
        "== The trap-and-emulate monitor (pgvm equiv): the OS run bare on a machine of w words and\n   \
         in a VM of w words, compared at the halt (docs/monitor.md)\n"
    );
    for profile in ["s370", "m68000"] {
        let path = dir.join(format!("tsos/{profile}.s"));
        let (isa, image) = program::load(&path, None)
            .with_context(|| format!("The tour needs {}", path.display()))?;
        let guest = pgvm_lab::guest::guest_of(&image, 65536)?;
        let report = pgvm_lab::equiv::check(&isa, &guest, 50_000_000)?;
        let text = crate::vmm::equiv_text(&format!("guests/tsos/{profile}.s"), &isa, &report);
        for line in text.lines() {
            outln!("  {line}");
        }
        for line in crate::vmm::breaches_text(&report, &report.efficiency_breaches).lines() {
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
    Ok(())
}

/// One profile's counterexamples: the classifier's witnesses run as guests.
fn counterexamples() -> Result<()> {
    outln!(
        "== Counterexamples (pgvm counterexample --isa m68000): each instruction that breaks\n   \
         Theorem 1, its classifier witness run as a guest, bare and under the monitor\n"
    );
    let isa = std::sync::Arc::new(pgvm_isa::load("m68000")?);
    let bar = crate::classify::progress_bar(isa.insns.len() as u64);
    let found =
        pgvm_lab::counterexample::find(&isa, &pgvm_classify::Config::default(), &|| bar.inc(1))?;
    bar.finish_and_clear();
    for line in crate::counterexample::text(&isa, &found).lines() {
        outln!("{}", format!("  {line}").trim_end());
    }
    outln!();
    Ok(())
}
