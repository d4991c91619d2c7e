//! `pgvm nest`: the assembly monitor of `guests/vmm/` under itself, rendered from
//! `pgvm_lab::nest`'s report.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use pgvm_lab::nest::{self, L0, MONITOR_FILES, NestOptions, NestReport};

use crate::program;

/// Arguments of `pgvm nest`.
#[derive(clap::Args)]
pub struct NestArgs {
    /// The guest: an assembly source (.s) or an image.
    pub guest: PathBuf,
    /// Monitor levels between the machine and the guest (1: one monitor).
    #[arg(long, default_value_t = 1)]
    pub depth: u32,
    /// What runs at level 0: `self`, the assembly monitor on the bare machine, or `native`,
    /// the host-side monitor (trap-and-emulate) hosting the assembly monitor.
    #[arg(long, default_value = "self", value_parser = ["self", "native"])]
    pub l0: String,
    /// ISA profile name or .isa path [default: the program's own, else s370]. The monitor is
    /// the one for the profile or the nearest profile it extends.
    #[arg(long)]
    pub isa: Option<String>,
    /// The real machine's memory, in words. Each assembly monitor keeps 1024 words and gives
    /// the rest to the level inside it; the guest gets what is left, and its bare run has
    /// that many words too.
    #[arg(long, default_value_t = pgvm_machine::DEFAULT_WORDS)]
    pub mem: u64,
    /// Instructions the bare run may take to halt (the comparison is at the halt). The nested
    /// run may take a thousand times the bare run's count, four times more per level.
    #[arg(long, default_value_t = 100_000_000)]
    pub max_steps: u64,
}

/// Runs `pgvm nest`.
pub fn nest(args: &NestArgs, json: bool) -> Result<ExitCode> {
    let p = program::load_program(&args.guest, args.isa.as_deref())?;
    let l0 = if args.l0 == "native" {
        L0::Native
    } else {
        L0::SelfHosted
    };
    let build = nest::assemble_monitor(&p.isa, MONITOR_FILES)?;
    let opts = NestOptions {
        depth: args.depth,
        l0,
        q: args.mem,
        max_steps: args.max_steps,
    };
    let report = nest::run(&p.isa, &p.image, &build, &opts)?;
    if json {
        crate::cli::print_json(&report)?;
    } else {
        out!("{}", text(&args.guest.display().to_string(), &report));
    }
    // A monitor that reads the clock is not Theorem 2's construction, whatever the run gave.
    Ok(
        if report.equivalent && report.code.timing_dependent.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        },
    )
}

/// The report in words: the verdict, the monitor's code check, the per-level table and the
/// derived figures.
pub fn text(name: &str, r: &NestReport) -> String {
    let mut out = String::new();
    let l0 = match r.l0 {
        L0::SelfHosted => "the assembly monitor on the bare machine",
        L0::Native => "the host-side monitor",
    };
    let verdict = if r.equivalent {
        "equivalent: the guest's window, virtual PSW and console are as bare"
    } else {
        "NOT equivalent"
    };
    out.push_str(&format!(
        "{name} on {}, nested {} deep (level 0: {l0}): {verdict} (w = {} words, {})\n",
        r.isa, r.depth, r.w, r.nested_exit
    ));
    for (i, d) in r.differences.iter().enumerate() {
        let lead = if i == 0 { "first difference" } else { "then" };
        out.push_str(&format!("  {lead}: {d}\n"));
    }
    let timing = if r.code.timing_dependent.is_empty() {
        "none timing-dependent (by the classifier): Theorem 2's monitor reads no clock".to_string()
    } else {
        let at: Vec<String> = r
            .code
            .timing_dependent
            .iter()
            .map(|t| format!("{} at {:#x}", t.mnemonic, t.at))
            .collect();
        format!("TIMING-DEPENDENT: {}", at.join(", "))
    };
    out.push_str(&format!(
        "  monitor guests/vmm/{}: {} instructions of {} kinds, {timing}\n\n",
        r.monitor,
        r.code.instructions,
        r.code.mnemonics.len()
    ));
    out.push_str(&table(r));
    out.push_str(&format!(
        "\n  the guest's privileged instructions: {}; traps and interrupts at level 0: {} ({:.1} per guest privileged instruction)\n",
        r.guest_privileged, r.l0_traps, r.amplification
    ));
    out.push_str(&format!(
        "  slowdown: {:.1}x in instructions ({} nested, {} bare), {:.1}x in host time ({:.1} ms, {:.1} ms)\n",
        r.slowdown_instructions,
        r.nested_instructions,
        r.bare_instructions,
        r.slowdown_time,
        r.nested_ns as f64 / 1e6,
        r.bare_ns as f64 / 1e6
    ));
    out.push_str(&format!(
        "  the deepest nesting that fits: {} levels in {} words, {} in the default memory, {} in the largest\n",
        r.deepest.this,
        r.q,
        r.deepest.default,
        r.deepest.largest
    ));
    out
}

/// One row per level.
pub fn table(r: &NestReport) -> String {
    let mut out = format!(
        "  {:<5} {:<12} {:>8} {:>14} {:>10} {:>10} {:>8} {:>10} {:>12} {:>10}\n",
        "level",
        "role",
        "base",
        "instructions",
        "traps",
        "emulated",
        "peeked",
        "reflected",
        "single steps",
        "timer ints"
    );
    for l in &r.levels {
        let dash = |v: u64, shown: bool| if shown { v.to_string() } else { "-".into() };
        let monitor = l.role != "guest";
        let instructions = if l.role == "host monitor" {
            "(host)".to_string()
        } else {
            l.instructions.to_string()
        };
        out.push_str(&format!(
            "  {:<5} {:<12} {:>8} {:>14} {:>10} {:>10} {:>8} {:>10} {:>12} {:>10}\n",
            l.level,
            l.role,
            format!("{:#x}", l.base),
            instructions,
            dash(l.traps, monitor),
            dash(l.emulated, monitor),
            dash(l.peeked, monitor),
            dash(l.reflected, monitor),
            dash(l.single_steps, monitor),
            dash(l.timer_interrupts, monitor),
        ));
    }
    out
}
