//! `pgvm equiv` and `pgvm vm`: guests under a monitor.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Result, bail};
use pgvm_asm::Image;
use pgvm_isa::Isa;
use pgvm_lab::equiv::{EmulationFinding, Equivalence, vm_exit_text};
use pgvm_lab::guest::{Guest, GuestError, MAX_GUEST_WORDS};
use pgvm_lab::vms::{NamedGuest, VmmError, Vms, VmsError};
use pgvm_lab::{BareOutcome, TechniqueKind};

use crate::program;

/// `--monitor NAME`: one of the techniques the monitor implements, each value's help its
/// description.
pub fn technique_parser() -> impl clap::builder::TypedValueParser<Value = TechniqueKind> {
    let values =
        TechniqueKind::ALL.map(|k| clap::builder::PossibleValue::new(k.name()).help(k.describe()));
    clap::builder::TypedValueParser::try_map(
        clap::builder::PossibleValuesParser::new(values),
        |s| s.parse::<TechniqueKind>(),
    )
}

/// Arguments of `pgvm equiv`.
#[derive(clap::Args)]
pub struct EquivArgs {
    /// An assembly source (.s) or an image.
    pub guest: PathBuf,
    /// ISA profile name or .isa path [default: the program's own, else s370].
    #[arg(long)]
    pub isa: Option<String>,
    /// The monitor to compare against the bare machine.
    #[arg(long, default_value = "tae", value_parser = technique_parser())]
    pub monitor: TechniqueKind,
    /// The guest's memory w: the bare machine has q = w words.
    #[arg(long, default_value_t = pgvm_machine::DEFAULT_WORDS)]
    pub mem: u64,
    /// Compare after this many guest instructions (at least 1) if the guest has not halted.
    #[arg(long, default_value_t = 10_000_000)]
    pub max_steps: u64,
    /// Print the guest's instructions under the monitor to stderr, each marked emulated or
    /// reflected when it trapped, with its traps and virtual interrupts (the first 100000).
    #[arg(long)]
    pub trace: bool,
    /// Run even when the classifier finds an instruction that escapes the VM map from user
    /// mode (the monitor cannot then isolate the guest); a warning names it.
    #[arg(long)]
    pub unsafe_isolation: bool,
}

/// Arguments of `pgvm vm`.
#[derive(clap::Args)]
pub struct VmArgs {
    /// Guests, each an assembly source or an image; each runs in its own VM.
    #[arg(required = true)]
    pub guests: Vec<PathBuf>,
    /// ISA profile name or .isa path; every guest must be written for it.
    #[arg(long)]
    pub isa: Option<String>,
    /// Memory w of each VM, in words.
    #[arg(long, default_value_t = pgvm_machine::DEFAULT_WORDS)]
    pub mem: u64,
    /// Memory of the real machine the monitor shares out [default: the largest possible].
    #[arg(long)]
    pub host_mem: Option<u64>,
    /// Guest instructions a VM runs before the monitor switches to the next.
    #[arg(long, default_value_t = 10_000)]
    pub slice: u64,
    /// Stop a VM after this many guest instructions if it has not halted.
    #[arg(long, default_value_t = 10_000_000)]
    pub max_steps: u64,
    /// Print the guests' instructions to stderr as the VMs take turns, each marked emulated
    /// or reflected when it trapped, with traps and virtual interrupts (the first 100000).
    #[arg(long)]
    pub trace: bool,
    /// Run even when the classifier finds an instruction that escapes the VM map from user
    /// mode (a VM could then corrupt the others and the control program); a warning names it.
    #[arg(long)]
    pub unsafe_isolation: bool,
}

/// The image as a guest of `--mem` words, with a hint at the flag when that is too little.
pub fn guest_for(image: &Image, mem: u64) -> Result<Guest> {
    pgvm_lab::guest::guest_of(image, mem).map_err(|e| mem_error(e, mem))
}

/// A guest error as the CLI says it: in terms of `--mem`, with the size needed.
fn mem_error(e: GuestError, mem: u64) -> anyhow::Error {
    match e {
        GuestError::Words { .. } => anyhow::anyhow!(
            "--mem {mem} is out of range\n  hint: a guest has 1 to {MAX_GUEST_WORDS} words"
        ),
        GuestError::TooSmall { needed, .. } => {
            anyhow::anyhow!("{e}\n  hint: raise --mem to at least {needed}")
        }
        GuestError::NoWindow { l, .. } => {
            anyhow::anyhow!("{e}\n  hint: raise --mem above {l}")
        }
        e => e.into(),
    }
}

/// Refuses a profile on which `technique` cannot confine guests (see
/// [`pgvm_lab::isolation`]), naming each instruction that escapes and its witness; with
/// `--unsafe-isolation` the same text is a warning and the run goes on.
fn require_isolation(isa: &Isa, technique: TechniqueKind, unsafe_isolation: bool) -> Result<()> {
    let v = pgvm_lab::isolation::check(isa, technique);
    if v.holds() {
        return Ok(());
    }
    let why = v.explain(isa);
    if unsafe_isolation {
        eprintln!(
            "warning: {why}\n  running anyway (--unsafe-isolation): what these instructions reach is not protected"
        );
        return Ok(());
    }
    bail!(
        "{why}\n  hint: mark them `privileged` in the profile, or pass --unsafe-isolation to run anyway"
    )
}

pub fn equiv(args: &EquivArgs, json: bool) -> Result<ExitCode> {
    let p = program::load_program(&args.guest, args.isa.as_deref())?;
    let isa = p.isa;
    let guest = guest_for(&p.image, args.mem)?;
    if args.max_steps == 0 {
        bail!(
            "--max-steps 0 compares nothing: two runs of no instructions always agree\n  hint: give --max-steps 1 or more"
        );
    }
    require_isolation(&isa, args.monitor, args.unsafe_isolation)?;
    // A binary translator's critical set is the classifier's: classified once here.
    let setup = pgvm_lab::equiv::setup(&isa, args.monitor, None)?;
    if args.trace {
        let traced = pgvm_lab::trace::trace_guest(
            &isa,
            &guest,
            p.listing.as_ref(),
            setup.clone(),
            args.max_steps,
            &mut |line| eprintln!("{line}"),
        )?;
        if traced >= pgvm_lab::trace::TRACE_LIMIT {
            eprintln!("(trace stopped after {traced} guest instructions; the check runs on)");
        }
    }
    let mut report = pgvm_lab::equiv::check_with(&isa, &guest, &setup, args.max_steps)?;
    if let Some(listing) = &p.listing {
        report.locate(listing);
    }
    if json {
        crate::cli::print_json(&report)?;
    } else {
        out!(
            "{}",
            equiv_text(&args.guest.display().to_string(), &isa, &report)
        );
        out!("{}", efficiency_text(&report));
    }
    Ok(if !report.efficiency_breaches.is_empty() {
        ExitCode::from(3)
    } else if report.equivalent {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The efficiency check, in words: each monitor bug, each emulation that a mode- or
/// location-dependent trap caused, or that every emulation was a privileged instruction.
pub fn efficiency_text(r: &Equivalence) -> String {
    if r.efficiency.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    for b in &r.efficiency_breaches {
        out.push_str(&format!(
            "  BUG: the monitor emulated `{}` x{}: {}\n",
            b.mnemonic, b.count, b.evidence
        ));
    }
    let count = |f: EmulationFinding| {
        r.efficiency
            .iter()
            .filter(|c| c.finding == f)
            .map(|c| c.count)
            .sum::<u64>()
    };
    for c in r
        .efficiency
        .iter()
        .filter(|c| c.finding == EmulationFinding::Consequence)
    {
        out.push_str(&format!(
            "  note: `{}` emulated x{} in virtual {} mode: {}\n",
            c.mnemonic, c.count, c.mode, c.why
        ));
    }
    if r.efficiency_breaches.is_empty() {
        let (expected, consequence) = (
            count(EmulationFinding::Expected),
            count(EmulationFinding::Consequence),
        );
        out.push_str(&format!(
            "  efficiency check: every emulated instruction is privileged or trapping ({expected} privileged, {consequence} by a mode- or location-dependent trap)\n"
        ));
    }
    out
}

/// The report as text: the verdict, the efficiency counts, the first divergence.
pub fn equiv_text(name: &str, isa: &Isa, r: &Equivalence) -> String {
    let mut out = String::new();
    let n = r.guest_instructions;
    let at = match r.bare {
        BareOutcome::Halted => format!("at the halt, after {n} guest instructions"),
        BareOutcome::Stuck => {
            format!("where the bare run got stuck in a trap loop, after {n} guest instructions")
        }
        BareOutcome::StepLimit => format!("after {n} guest instructions (no halt)"),
    };
    let verdict = if r.equivalent {
        "equivalent: f(S2) == S2'"
    } else {
        "NOT equivalent"
    };
    out.push_str(&format!(
        "{name} on {} under {}: {verdict} {at}\n",
        isa.name,
        r.monitor.describe()
    ));
    if r.vm_instructions != r.guest_instructions {
        let why = match r.vm_exit {
            Some(exit) => format!(" ({})", vm_exit_text(exit)),
            None => String::new(),
        };
        out.push_str(&format!(
            "  the virtualized run stopped after {} guest instructions{why}\n",
            r.vm_instructions
        ));
    }
    let total = (r.tally.direct
        + r.tally.emulated
        + r.tally.reflected
        + r.tally.interpreted
        + r.tally.translated
        + r.tally.hypercalls
        + r.tally.assisted)
        .max(1);
    let interpreted = if r.tally.interpreted > 0 {
        format!(", {} interpreted", r.tally.interpreted)
    } else {
        String::new()
    };
    let translated = if r.monitor.translates() {
        format!(", {} translated", r.tally.translated)
    } else {
        String::new()
    };
    let hypercalls = if r.monitor == TechniqueKind::Pv {
        format!(", {} hypercalls", r.tally.hypercalls)
    } else {
        String::new()
    };
    let assisted = if r.monitor.uses_vm_assist() {
        format!(", {} assisted", r.tally.assisted)
    } else {
        String::new()
    };
    out.push_str(&format!(
        "  efficiency: {} direct ({:.2}%), {} emulated, {} reflected{interpreted}{translated}{hypercalls}{assisted}\n",
        r.tally.direct,
        100.0 * r.tally.direct as f64 / total as f64,
        r.tally.emulated,
        r.tally.reflected
    ));
    if r.monitor.translates() {
        let critical = if r.critical.is_empty() {
            "none".to_string()
        } else {
            r.critical.join(", ")
        };
        out.push_str(&format!(
            "  binary translation: {} blocks scanned ({} re-scanned after the guest changed their code); the classifier's critical instructions and untrapped clock reads: {critical}\n",
            r.tally.blocks_scanned, r.tally.blocks_rescanned
        ));
    }
    if !r.emulated_by_mnemonic.is_empty() {
        let list: Vec<String> = r
            .emulated_by_mnemonic
            .iter()
            .map(|(m, n)| format!("{m} x{n}"))
            .collect();
        out.push_str(&format!("  emulated: {}\n", list.join(", ")));
    }
    if !r.assisted_by_mnemonic.is_empty() {
        let list: Vec<String> = r
            .assisted_by_mnemonic
            .iter()
            .map(|(m, n)| format!("{m} x{n}"))
            .collect();
        out.push_str(&format!(
            "  assisted (by the machine, no trap to the monitor): {}\n",
            list.join(", ")
        ));
    }
    if let Some(d) = &r.divergence {
        let mut at = format!("P={:#x}", d.p);
        if let Some(label) = &d.label {
            at.push_str(&format!(" ({label})"));
        }
        if let Some(source) = &d.source {
            at.push_str(&format!(", {source}"));
        }
        out.push_str(&format!(
            "  first divergence: guest instruction #{} at {at} ({})\n",
            d.index, d.mnemonic
        ));
        for line in &d.differences {
            out.push_str(&format!("    {line}\n"));
        }
    }
    for t in r.truncations() {
        out.push_str(&format!("  {t}\n"));
    }
    if r.console_bare != r.console_vm {
        let (bare, virt, at) = first_difference(&r.console_bare, &r.console_vm);
        out.push_str(&format!(
            "  console differs from byte {at}:\n    bare:    {bare:?}\n    virtual: {virt:?}\n"
        ));
    }
    out
}

/// The two texts from the first byte where they differ, each cut to one short line.
fn first_difference<'a>(a: &'a str, b: &'a str) -> (&'a str, &'a str, usize) {
    let mut at = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    while !a.is_char_boundary(at) || !b.is_char_boundary(at) {
        at -= 1;
    }
    let cut = |s: &'a str| {
        let rest = &s[at..];
        let end = rest.char_indices().nth(72).map_or(rest.len(), |(i, _)| i);
        &rest[..end]
    };
    (cut(a), cut(b), at)
}

pub fn vm(args: &VmArgs, json: bool) -> Result<ExitCode> {
    pgvm_lab::guest::check_words(args.mem).map_err(|e| mem_error(e, args.mem))?;
    if args.slice == 0 {
        bail!(
            "--slice 0 would never run a guest\n  hint: give each VM at least 1 guest instruction a turn (default 10000)"
        );
    }
    let mut isa: Option<Arc<Isa>> = None;
    let mut guests = Vec::new();
    for path in &args.guests {
        let p = program::load_program(path, args.isa.as_deref())?;
        let (gi, image) = (p.isa, p.image);
        if let Some(first) = &isa
            && first.name != gi.name
        {
            bail!(
                "{} is for `{}` but the first guest is for `{}`\n  hint: all VMs share one real machine, so they need one ISA",
                path.display(),
                gi.name,
                first.name
            );
        }
        isa.get_or_insert(gi);
        guests.push(NamedGuest {
            name: path.display().to_string(),
            guest: guest_for(&image, args.mem)?,
            listing: p.listing,
        });
    }
    let Some(isa) = isa else {
        bail!("no guests\n  hint: pgvm vm GUEST...");
    };
    require_isolation(&isa, TechniqueKind::Tae, args.unsafe_isolation)?;
    let q = args.host_mem.unwrap_or(pgvm_machine::MAX_WORDS);
    let mut trace = |line: &str| eprintln!("{line}");
    let trace: Option<&mut dyn FnMut(&str)> = if args.trace { Some(&mut trace) } else { None };
    let report = pgvm_lab::vms::run(&isa, &guests, q, args.slice, args.max_steps, trace).map_err(
        |e| match e {
            VmsError::Monitor(VmmError::Machine(m)) => {
                anyhow::anyhow!("--host-mem {q}: {m}\n  hint: {}", m.hint())
            }
            e => e.into(),
        },
    )?;
    for v in report.refused() {
        if let Some(why) = &v.refused {
            eprintln!("{} (guest {}): refused: {why}", v.guest, v.position);
        }
    }
    if json {
        crate::cli::print_json(&report)?;
    } else {
        vms_text(&report)?;
    }
    Ok(if report.refused().next().is_some() {
        ExitCode::from(2)
    } else if report.all_halted() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn vms_text(report: &Vms) -> Result<()> {
    for v in &report.vms {
        let Some(run) = &v.run else {
            continue;
        };
        outln!(
            "== VM {}: {} ({} words at physical {:#x})",
            run.vm,
            v.guest,
            v.words,
            run.base
        );
        for line in run.console.lines() {
            outln!("  | {line}");
        }
        if let Some(t) = run.truncation() {
            outln!("  {t}");
        }
        outln!(
            "  {} after {} guest instructions: {} direct, {} emulated, {} reflected, {} interrupts\n",
            run.exit,
            run.guest_instructions,
            run.direct,
            run.emulated,
            run.reflected,
            run.interrupts
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use pgvm_lab::equiv::{Breach, EmulationCheck};
    use pgvm_machine::{Mode, TrapKind};

    use super::*;

    fn report(checks: Vec<EmulationCheck>, breaches: Vec<Breach>) -> Equivalence {
        Equivalence {
            isa: "s370".into(),
            monitor: TechniqueKind::Tae,
            equivalent: true,
            guest_instructions: 0,
            vm_instructions: 0,
            halted: true,
            bare: BareOutcome::Halted,
            emulations: Vec::new(),
            reflected_by_kind: Default::default(),
            vm_exit: None,
            tally: pgvm_lab::Tally {
                emulated: checks.iter().map(|c| c.count).sum(),
                ..Default::default()
            },
            critical: Vec::new(),
            emulated_by_mnemonic: BTreeMap::new(),
            assisted_by_mnemonic: BTreeMap::new(),
            console_bare: String::new(),
            console_vm: String::new(),
            console_bare_dropped: 0,
            console_vm_dropped: 0,
            divergence: None,
            efficiency: checks,
            efficiency_breaches: breaches,
        }
    }

    fn check(mnemonic: &str, finding: EmulationFinding) -> EmulationCheck {
        EmulationCheck {
            mnemonic: mnemonic.into(),
            trap: Some(TrapKind::Privileged),
            mode: Mode::Supervisor,
            count: 3,
            finding,
            why: "because".into(),
        }
    }

    #[test]
    fn a_breach_is_reported_as_a_monitor_bug() {
        let b = Breach {
            mnemonic: "add".into(),
            count: 3,
            evidence: "nothing trapped".into(),
        };
        let r = report(vec![check("add", EmulationFinding::MonitorBug)], vec![b]);
        let text = efficiency_text(&r);
        assert!(
            text.contains("BUG: the monitor emulated `add` x3: nothing trapped"),
            "{text}"
        );
        assert!(!text.contains("efficiency check: every"), "{text}");
    }

    #[test]
    fn a_truncated_console_is_said_in_the_text() {
        let isa = pgvm_isa::load("s370").expect("built-in");
        let mut r = report(Vec::new(), Vec::new());
        assert!(!equiv_text("g.s", &isa, &r).contains("truncated"));
        r.console_bare_dropped = 7;
        let text = equiv_text("g.s", &isa, &r);
        assert!(
            text.contains(&format!(
                "bare run: console output truncated after {} bytes; 7 more were written",
                pgvm_machine::MAX_CONSOLE_OUTPUT
            )),
            "{text}"
        );
    }

    #[test]
    fn no_breach_says_the_check_passed_and_names_the_consequences() {
        let r = report(
            vec![
                check("lpsw", EmulationFinding::Expected),
                check("rdl", EmulationFinding::Consequence),
            ],
            Vec::new(),
        );
        let text = efficiency_text(&r);
        assert!(
            text.contains("every emulated instruction is privileged or trapping (3 privileged, 3 by a mode- or location-dependent trap)"),
            "{text}"
        );
        assert!(text.contains("note: `rdl` emulated x3"), "{text}");
        assert!(efficiency_text(&report(Vec::new(), Vec::new())).is_empty());
    }
}
