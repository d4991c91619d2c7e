//! `pgvm equiv` and `pgvm vm`: guests under the trap-and-emulate monitor.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Result, bail};
use pgvm_asm::Image;
use pgvm_isa::Isa;
use pgvm_machine::Psw;
use pgvm_vmm::{
    BareOutcome, EquivReport, Guest, Monitor, TechniqueKind, VmExit, check_equivalence,
};
use serde_json::json;

use crate::program;

/// `--monitor NAME`: one of the techniques `pgvm_vmm` implements, with its description as
/// the help of each value.
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
    #[arg(long, default_value_t = 65536)]
    pub mem: u64,
    /// Compare after this many guest instructions (at least 1) if the guest has not halted.
    #[arg(long, default_value_t = 10_000_000)]
    pub max_steps: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
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
    #[arg(long, default_value_t = 65536)]
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
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Refuses a guest memory size no VM can have.
fn check_mem(mem: u64) -> Result<()> {
    let most = pgvm_machine::MAX_WORDS - pgvm_vmm::CP_WORDS;
    if mem == 0 || mem > most {
        bail!("--mem {mem} is out of range\n  hint: a guest has 1 to {most} words");
    }
    Ok(())
}

/// The image as both the bare machine and a VM start it.
pub fn guest_of(image: &Image, w: u64) -> Result<Guest> {
    let e = image.entry;
    let b = match e.b {
        Some(b) => b,
        None if e.l < w => w - e.l,
        None => bail!(
            "the entry's l = {} leaves no window in {w} words\n  hint: raise --mem",
            e.l
        ),
    };
    let entry = Psw::new(e.mode, e.p, e.l, b)?;
    Ok(Guest {
        w,
        segments: image
            .segments
            .iter()
            .map(|s| (s.org, s.words.clone()))
            .collect(),
        entry,
        input: Vec::new(),
    })
}

pub fn equiv(args: &EquivArgs) -> Result<ExitCode> {
    let (isa, image) = program::load(&args.guest, args.isa.as_deref())?;
    check_mem(args.mem)?;
    if args.max_steps == 0 {
        bail!(
            "--max-steps 0 compares nothing: two runs of no instructions always agree\n  hint: give --max-steps 1 or more"
        );
    }
    let guest = guest_of(&image, args.mem)?;
    let report = check_equivalence(isa.clone(), &guest, args.monitor, args.max_steps)?;
    let breaches = efficiency_breaches(&isa, &report);
    if args.json {
        let mut json = equiv_json(&isa, &report);
        json["efficiency_breaches"] = serde_json::to_value(&breaches)?;
        outln!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        out!(
            "{}",
            equiv_text(&args.guest.display().to_string(), &isa, &report)
        );
        out!("{}", breaches_text(&report, &breaches));
    }
    Ok(if !breaches.is_empty() {
        ExitCode::from(3)
    } else if report.equivalent {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// An emulated instruction that the classifier does not derive privileged.
#[derive(Debug, serde::Serialize)]
pub struct Breach {
    /// The instruction.
    pub mnemonic: String,
    /// How many times the monitor emulated it.
    pub count: u64,
    /// The classifier's evidence that it is not privileged.
    pub evidence: String,
}

/// Checks the efficiency property: every emulated instruction must be privileged (as the
/// classifier derives it, with the profile's assist, as the monitor runs it) or trapping (a
/// body with an explicit `trap`, which may trap in user mode on some states and not others).
/// The monitor emulates only what trapped in real user mode, so anything else means an
/// instruction that cannot trap was run in software, which trap-and-emulate must never do: a
/// bug in the monitor, not a property of the guest.
pub fn efficiency_breaches(isa: &Isa, r: &EquivReport) -> Vec<Breach> {
    let config = pgvm_classify::Config::default();
    r.emulated_by_mnemonic
        .iter()
        .filter_map(|(mnemonic, &count)| {
            let Some(id) = isa.insn(mnemonic) else {
                return Some(Breach {
                    mnemonic: mnemonic.clone(),
                    count,
                    evidence: "the profile has no such instruction".into(),
                });
            };
            if isa.insns[id].effects.traps {
                return None;
            }
            let insn = pgvm_classify::classify_insn(isa, id, &config);
            let privileged = &insn.classes[&pgvm_classify::Class::Privileged];
            (!privileged.value).then(|| Breach {
                mnemonic: mnemonic.clone(),
                count,
                evidence: privileged.detail.clone(),
            })
        })
        .collect()
}

pub fn breaches_text(r: &EquivReport, breaches: &[Breach]) -> String {
    if r.emulated_by_mnemonic.is_empty() {
        return String::new();
    }
    if breaches.is_empty() {
        return "  efficiency check: every emulated instruction is privileged or trapping\n".into();
    }
    let mut out = String::new();
    for b in breaches {
        out.push_str(&format!(
            "  BUG: the monitor emulated `{}` x{}, which is neither privileged ({}) nor trapping\n",
            b.mnemonic, b.count, b.evidence
        ));
    }
    out
}

pub fn equiv_json(isa: &Isa, r: &EquivReport) -> serde_json::Value {
    json!({
        "isa": isa.name,
        "monitor": r.technique.name(),
        "equivalent": r.equivalent,
        "halted": r.bare == BareOutcome::Halted,
        "bare": r.bare,
        "vm_exit": r.vm_exit.map(vm_exit_text),
        "guest_instructions": r.guest_instructions,
        "vm_instructions": r.vm_instructions,
        "direct": r.direct,
        "emulated": r.emulated,
        "reflected": r.reflected,
        "emulated_by_mnemonic": r.emulated_by_mnemonic,
        "emulations": r.emulations,
        "reflected_by_kind": r.reflected_by_kind,
        "console_bare": r.console_bare,
        "console_vm": r.console_vm,
        "divergence": r.divergence,
    })
}

/// The report as text: the verdict, the efficiency counts, the first divergence.
pub fn equiv_text(name: &str, isa: &Isa, r: &EquivReport) -> String {
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
        r.technique.describe()
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
    let total = (r.direct + r.emulated + r.reflected).max(1);
    out.push_str(&format!(
        "  efficiency: {} direct ({:.2}%), {} emulated, {} reflected\n",
        r.direct,
        100.0 * r.direct as f64 / total as f64,
        r.emulated,
        r.reflected
    ));
    if !r.emulated_by_mnemonic.is_empty() {
        let list: Vec<String> = r
            .emulated_by_mnemonic
            .iter()
            .map(|(m, n)| format!("{m} x{n}"))
            .collect();
        out.push_str(&format!("  emulated: {}\n", list.join(", ")));
    }
    if let Some(d) = &r.divergence {
        out.push_str(&format!(
            "  first divergence: guest instruction #{} at P={:#x} ({})\n",
            d.index, d.p, d.mnemonic
        ));
        for line in &d.differences {
            out.push_str(&format!("    {line}\n"));
        }
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

/// Why a VM stopped, in words.
fn vm_exit_text(exit: VmExit) -> &'static str {
    exit.describe()
}

pub fn vm(args: &VmArgs) -> Result<ExitCode> {
    check_mem(args.mem)?;
    let mut isa: Option<Arc<Isa>> = None;
    let mut guests = Vec::new();
    for path in &args.guests {
        let (gi, image) = program::load(path, args.isa.as_deref())?;
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
        guests.push((path.display().to_string(), guest_of(&image, args.mem)?));
    }
    let Some(isa) = isa else {
        bail!("no guests\n  hint: pgvm vm GUEST...");
    };
    let q = args.host_mem.unwrap_or(pgvm_machine::MAX_WORDS);
    let mut mon = Monitor::new(isa.clone(), q)?;
    let mut placed = Vec::new();
    for (name, g) in &guests {
        let segs: Vec<(u64, &[u64])> = g.segments.iter().map(|(o, w)| (*o, &w[..])).collect();
        match mon.create_vm(g.w, &segs, g.entry) {
            Ok(id) => placed.push((id, name.clone())),
            Err(e) => eprintln!("{name}: refused: {e}"),
        }
    }
    mon.run_all(args.slice, args.max_steps);
    let mut all_halted = true;
    let mut reports = Vec::new();
    for (id, name) in &placed {
        let vm = mon.vm(*id);
        let exit = vm.exit.map_or("step budget spent", vm_exit_text);
        all_halted &= vm.exit == Some(VmExit::Halted);
        if args.json {
            reports.push(json!({
                "vm": id, "guest": name, "base": vm.map.base.0, "words": vm.map.w,
                "exit": exit, "guest_instructions": vm.steps(),
                "direct": vm.counts.direct, "emulated": vm.counts.emulated,
                "reflected": vm.counts.reflected, "interrupts": vm.counts.interrupts,
                "console": String::from_utf8_lossy(vm.console()),
            }));
        } else {
            outln!(
                "== VM {id}: {name} ({} words at physical {:#x})",
                vm.map.w,
                vm.map.base.0
            );
            for line in String::from_utf8_lossy(vm.console()).lines() {
                outln!("  | {line}");
            }
            outln!(
                "  {exit} after {} guest instructions: {} direct, {} emulated, {} reflected, {} interrupts\n",
                vm.steps(),
                vm.counts.direct,
                vm.counts.emulated,
                vm.counts.reflected,
                vm.counts.interrupts
            );
        }
    }
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&json!({ "isa": isa.name, "vms": reports }))?
        );
    }
    Ok(if all_halted && placed.len() == guests.len() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(emulated: &[(&str, u64)]) -> EquivReport {
        EquivReport {
            technique: TechniqueKind::Tae,
            equivalent: true,
            guest_instructions: 0,
            vm_instructions: 0,
            bare: BareOutcome::Halted,
            vm_exit: None,
            direct: 0,
            emulated: emulated.iter().map(|(_, n)| n).sum(),
            reflected: 0,
            emulated_by_mnemonic: emulated.iter().map(|(m, n)| (m.to_string(), *n)).collect(),
            emulations: Vec::new(),
            reflected_by_kind: Default::default(),
            console_bare: String::new(),
            console_vm: String::new(),
            divergence: None,
        }
    }

    #[test]
    fn an_emulated_innocuous_instruction_is_a_breach() {
        let isa = pgvm_isa::load("s370").expect("built-in");
        let breaches = efficiency_breaches(&isa, &report(&[("add", 3), ("lpsw", 2)]));
        assert_eq!(breaches.len(), 1, "{breaches:?}");
        assert_eq!(
            (breaches[0].mnemonic.as_str(), breaches[0].count),
            ("add", 3)
        );
        assert!(
            breaches[0].evidence.contains("did not trap"),
            "{breaches:?}"
        );
        let text = breaches_text(&report(&[("add", 3)]), &breaches);
        assert!(
            text.contains("BUG: the monitor emulated `add` x3"),
            "{text}"
        );
    }

    #[test]
    fn privileged_emulations_pass() {
        let isa = pgvm_isa::load("m68010").expect("built-in");
        let r = report(&[("movesr", 1), ("halt", 1), ("out", 4)]);
        assert!(efficiency_breaches(&isa, &r).is_empty());
        assert!(
            breaches_text(&r, &[]).contains("every emulated instruction is privileged or trapping")
        );
    }
}
