//! `pgvm audit`: a real instruction set's verdict, derived from an emulator nobody here wrote
//! (the 68000 family on the `m68k` crate, through the classifier's oracle interface), and
//! `pgvm replay` for the oracle witnesses it writes.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use pgvm_audit::audit::{self, Audit, AuditConfig, GroupResult};
use pgvm_audit::compare::{self, Comparison, Verdict};
use pgvm_audit::family::{M68kAfter, M68kState};
use pgvm_audit::{Cpu, M68kOracle};
use pgvm_classify::oracle::{self, OracleWitness, OracleWitnessFile, Outcome};
use pgvm_classify::{Atom, Class, Config, Theorem};
use serde::Serialize;

/// Arguments of `pgvm audit`.
#[derive(clap::Args)]
pub struct AuditArgs {
    /// The CPU: m68000 or m68010.
    #[arg(long, value_parser = ["m68000", "m68010"])]
    pub cpu: String,
    /// States per group of opcode words (1 to 10^6).
    #[arg(long, default_value_t = audit::DEFAULT_SAMPLES)]
    pub samples: u64,
    /// Seed of the sampled states (the same seed gives the same states and witnesses).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Set the derived table beside this built-in profile's verdicts (m68000 or m68010).
    #[arg(long, value_name = "PROFILE", value_parser = ["m68000", "m68010"])]
    pub compare: Option<String>,
    /// Write every witness to FILE, for `pgvm replay`.
    #[arg(long, value_name = "FILE")]
    pub witness_out: Option<PathBuf>,
}

/// What `pgvm audit --json` prints.
#[derive(Serialize)]
struct AuditJson<'a> {
    cpu: &'a str,
    emulator: &'a str,
    samples: u64,
    seed: u64,
    opcode_words: usize,
    groups: Vec<GroupJson<'a>>,
    theorem1: &'a Theorem,
    theorem3: &'a Theorem,
    #[serde(skip_serializing_if = "Option::is_none")]
    compare: Option<Comparison>,
}

#[derive(Serialize)]
struct GroupJson<'a> {
    #[serde(flatten)]
    group: &'a GroupResult,
    classes: &'a std::collections::BTreeMap<Class, pgvm_classify::ClassVerdict>,
    witnesses: &'a [OracleWitness],
}

/// Runs one CPU's audit with a progress bar on stderr.
pub fn run_audit(config: AuditConfig) -> Result<Audit> {
    let groups = pgvm_audit::groups::groups(config.cpu);
    let bar = crate::classify::progress_bar_for(
        groups.len() as u64,
        "auditing {bar:40} {pos}/{len} groups of opcode words {elapsed}",
    );
    let audit = audit::audit_groups(config, &groups, &|| bar.inc(1))?;
    bar.finish_and_clear();
    Ok(audit)
}

pub fn audit(args: &AuditArgs, json: bool) -> Result<ExitCode> {
    let Some(cpu) = Cpu::from_name(&args.cpu) else {
        bail!("Unknown CPU `{}`\n  hint: m68000 or m68010", args.cpu);
    };
    let config = AuditConfig {
        cpu,
        samples: args.samples,
        seed: args.seed,
    };
    let audit =
        run_audit(config).with_context(|| format!("--samples {} is refused", args.samples))?;
    if let Some(path) = &args.witness_out {
        let text = serde_json::to_string_pretty(&audit.witness_file())?;
        std::fs::write(path, text).with_context(|| format!("Cannot write {}", path.display()))?;
    }
    let comparison = match &args.compare {
        Some(name) => {
            let isa = pgvm_isa::load(name)?;
            let report = pgvm_classify::classify(&isa, &Config::default())?;
            Some(compare::compare(&audit, &isa, &report))
        }
        None => None,
    };
    if json {
        let groups = audit
            .groups
            .iter()
            .map(|g| GroupJson {
                group: g,
                classes: &g.report.classes,
                witnesses: &g.witnesses,
            })
            .collect();
        crate::cli::print_json(&AuditJson {
            cpu: cpu.name(),
            emulator: &audit.emulator,
            samples: config.samples,
            seed: config.seed,
            opcode_words: audit.groups.iter().map(|g| g.words).sum(),
            groups,
            theorem1: &audit.theorem1,
            theorem3: &audit.theorem3,
            compare: comparison,
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    out!("{}", text(&audit));
    if let Some(c) = &comparison {
        outln!();
        out!("{}", comparison_text(c));
    }
    if let Some(path) = &args.witness_out {
        eprintln!(
            "{} witnesses written to {}; replay them with `pgvm replay {}`",
            audit.witness_file().witnesses.len(),
            path.display(),
            path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn cell(g: &GroupResult, class: Class) -> String {
    match g.report.classes.get(&class) {
        Some(v) if v.witness.is_some() => format!("{}*", yes(v.value)),
        Some(v) => yes(v.value).to_string(),
        None => "n/a".into(),
    }
}

/// States per group in the tour: few enough to keep the tour short (a second or two in a
/// release build), enough to recover both verdicts.
pub const TOUR_SAMPLES: u64 = 100;

/// One CPU's line in the tour.
#[derive(Serialize)]
pub struct TourLine {
    cpu: &'static str,
    samples: u64,
    theorem1: bool,
    theorem3: bool,
    violations: Vec<String>,
    line: String,
}

/// The tour's section: both CPUs audited with [`TOUR_SAMPLES`], one line each.
pub fn tour_section(json: bool) -> Result<Vec<TourLine>> {
    if !json {
        outln!(
            "== Auditing real instruction sets (pgvm audit --cpu m68000|m68010): every opcode word\n   \
             of a real 68000 emulator (the m68k crate), classified by the same definitions\n"
        );
    }
    let mut lines = Vec::new();
    for cpu in Cpu::ALL {
        let a = run_audit(AuditConfig {
            cpu,
            samples: TOUR_SAMPLES,
            seed: 0,
        })?;
        let line = one_line(&a);
        if !json {
            outln!("  {line}");
        }
        lines.push(TourLine {
            cpu: cpu.name(),
            samples: TOUR_SAMPLES,
            theorem1: a.theorem1.holds,
            theorem3: a.theorem3.holds,
            violations: a.theorem1.violations.clone(),
            line,
        });
    }
    if !json {
        outln!(
            "\n  The literature's verdicts, recovered from an emulator nobody here wrote; `pgvm audit\n  \
             --cpu m68000 --compare m68000` sets them beside our model (docs/audit.md).\n"
        );
    }
    Ok(lines)
}

/// The one-line result, as the tour shows it.
pub fn one_line(a: &Audit) -> String {
    let t1 = if a.theorem1.holds {
        "Theorem 1 holds (search)".to_string()
    } else {
        let mut names: Vec<String> = Vec::new();
        for v in &a.theorem1.violations {
            let base = v.split(" <").next().unwrap_or(v).to_string();
            if !names.contains(&base) {
                names.push(base);
            }
        }
        format!(
            "Theorem 1 fails: {} sensitive, not privileged",
            names.join(", ")
        )
    };
    let t3 = if a.theorem3.holds {
        "Theorem 3 holds (search)".to_string()
    } else {
        format!("Theorem 3 fails: {}", a.theorem3.violations.join(", "))
    };
    format!(
        "{}: {}; {} ({} groups, {} states each, seed {})",
        a.config.cpu.name(),
        t1,
        t3,
        a.groups.len(),
        a.config.samples,
        a.config.seed
    )
}

/// The audit as text.
pub fn text(a: &Audit) -> String {
    let words: usize = a.groups.iter().map(|g| g.words).sum();
    let legal: Vec<&GroupResult> = a.groups.iter().filter(|g| g.legal).collect();
    let illegal_words: usize = a.groups.iter().filter(|g| !g.legal).map(|g| g.words).sum();
    let mut out = format!(
        "audit of the {} on the {} emulator: {words} opcode words, {} groups of instructions ({illegal_words} words are not instructions of this CPU)\n\
         {} states per group, seed {}; evidence: witnesses (*) and search, never proof\n\n",
        a.config.cpu.name(),
        a.emulator,
        legal.len(),
        a.config.samples,
        a.config.seed
    );
    let shown: Vec<&GroupResult> = legal
        .iter()
        .copied()
        .filter(|g| g.sensitive() || g.privileged())
        .collect();
    let heads = [
        (Class::Privileged, "priv"),
        (Class::ControlSensitive, "ctrl"),
        (Class::ModeSensitive, "mode"),
        (Class::UserSensitive, "user"),
        (Class::SupervisorSensitive, "super"),
        (Class::Innocuous, "innoc"),
    ];
    let w = shown
        .iter()
        .map(|g| g.name.len())
        .max()
        .unwrap_or(10)
        .max(11);
    out += &format!("{:w$}  {:>5}", "instruction", "words");
    for (_, h) in heads {
        out += &format!("  {h:>5}");
    }
    out += "\n";
    for g in &shown {
        out += &format!("{:w$}  {:>5}", g.name, g.words);
        for (c, _) in heads {
            out += &format!("  {:>5}", cell(g, c));
        }
        out += "\n";
    }
    out += &format!(
        "({} other groups: innocuous and not privileged; `--json` lists every group)\n\
         (location and bounds sensitivity do not apply: the 68000 has no relocation register;\n\
         timing does not apply: no instruction reads a clock)\n\n",
        legal.len() - shown.len()
    );
    for (n, t, what) in [
        (1, &a.theorem1, "sensitive but not privileged"),
        (3, &a.theorem3, "user-sensitive but not privileged"),
    ] {
        if t.holds {
            out += &format!(
                "Theorem {n}: holds (search; not a proof: no witness in {} states per group, seed {})\n",
                a.config.samples, a.config.seed
            );
        } else {
            out += &format!("Theorem {n}: fails — {what}: {}\n", t.violations.join(", "));
            for v in &t.violations {
                if let Some(g) = a.group(v) {
                    for w in &g.witnesses {
                        out += &format!("    {v}: {}: {}\n", w.atom.name(), w.claim);
                    }
                }
            }
        }
    }
    out += "(Sufficient conditions: a failure names what breaks them, it does not prove that no\n";
    out +=
        "monitor can exist. Replay the witnesses: --witness-out FILE, then `pgvm replay FILE`.)\n";
    out
}

fn verdict_text(v: &Verdict) -> String {
    let p = if v.privileged { "priv" } else { "unpriv" };
    let s = if v.user_sensitive {
        "user-sensitive"
    } else if v.sensitive {
        "sensitive"
    } else {
        "innocuous"
    };
    format!("{p}, {s}")
}

/// The comparison as text.
pub fn comparison_text(c: &Comparison) -> String {
    let mut out = format!(
        "== the emulator ({}) beside the profile isa/{}.isa\n\
         Theorem 1: profile {}, emulator {}; Theorem 3: profile {}, emulator {}\n\n",
        c.cpu,
        c.profile,
        holds(c.theorem1[0]),
        holds(c.theorem1[1]),
        holds(c.theorem3[0]),
        holds(c.theorem3[1]),
    );
    let w = c
        .rows
        .iter()
        .map(|r| r.mnemonic.len())
        .max()
        .unwrap_or(8)
        .max(8);
    out += &format!(
        "{:w$}  {:26}  {:26}  {:6}  {}\n",
        "profile", "profile's verdict", "emulator's verdict", "agree", "emulator groups"
    );
    for r in &c.rows {
        let (theirs, agree) = match (&r.emulator, r.agree) {
            (Some(v), Some(a)) => (verdict_text(v), if a { "yes" } else { "NO" }),
            _ => ("—".to_string(), "—"),
        };
        let groups = if r.groups.is_empty() {
            r.note.clone()
        } else {
            let mut names: Vec<String> = Vec::new();
            for g in &r.groups {
                let base = g.split(" <").next().unwrap_or(g).to_string();
                if !names.contains(&base) {
                    names.push(base);
                }
            }
            let n = r.groups.len();
            let s = if n == 1 { "" } else { "s" };
            format!("{} ({n} group{s}; {})", names.join(", "), r.note)
        };
        out += &format!(
            "{:w$}  {:26}  {:26}  {:6}  {}\n",
            r.mnemonic,
            verdict_text(&r.profile),
            theirs,
            agree,
            groups
        );
    }
    if !c.emulator_only.is_empty() {
        out += "\nprivileged or sensitive on the emulator, not modelled by the profile:\n";
        for e in &c.emulator_only {
            out += &format!("  {:24}  {}\n", e.group, verdict_text(&e.verdict));
        }
    }
    out += "\nEvery difference is explained in docs/audit.md.\n";
    out
}

fn holds(b: bool) -> &'static str {
    if b { "holds" } else { "fails" }
}

// ---- replay ----------------------------------------------------------------------------------

/// If `path` is an oracle witness file (`pgvm audit --witness-out`), replays it and returns
/// the exit code; `None` for any other file (the classifier's replay handles it). `isa` is
/// `pgvm replay --isa`, which does not apply: each witness names its emulator.
pub fn replay_if_oracle(path: &Path, isa: Option<&str>, json: bool) -> Result<Option<ExitCode>> {
    let Ok(text) = pgvm_isa::read_text(path, pgvm_isa::MAX_DATA_BYTES) else {
        return Ok(None);
    };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Ok(None);
    };
    if value.get("pgvm_oracle_witnesses").is_none() {
        return Ok(None);
    }
    if let Some(isa) = isa {
        bail!(
            "--isa {isa} does not apply to {}: an audit's witnesses are replayed on the emulator each names\n  hint: leave out --isa",
            path.display()
        );
    }
    let file: OracleWitnessFile = serde_json::from_value(value)
        .with_context(|| format!("{}: not an oracle witness file", path.display()))?;
    if file.pgvm_oracle_witnesses != 1 {
        bail!(
            "{}: format version {} is not supported (expected 1)",
            path.display(),
            file.pgvm_oracle_witnesses
        );
    }
    let mut rows = Vec::new();
    for (index, w) in file.witnesses.iter().enumerate() {
        let Some(cpu) = w.machine.strip_prefix("m68k:").and_then(Cpu::from_name) else {
            bail!(
                "{}: witness {index}: unknown machine `{}`\n  hint: this pgvm replays m68k:m68000 and m68k:m68010",
                path.display(),
                w.machine
            );
        };
        let oracle = M68kOracle { cpu };
        let r = oracle::replay(&oracle, w)
            .with_context(|| format!("{}: witness {index} ({})", path.display(), w.instruction))?;
        rows.push((index, w, r));
    }
    let failed = rows.iter().filter(|(_, _, r)| !r.confirmed).count();
    if json {
        #[derive(Serialize)]
        struct Row<'a> {
            index: usize,
            machine: &'a str,
            instruction: &'a str,
            atom: &'static str,
            claim: &'a str,
            observed: Option<&'a str>,
            confirmed: bool,
        }
        let out: Vec<Row> = rows
            .iter()
            .map(|(index, w, r)| Row {
                index: *index,
                machine: &w.machine,
                instruction: &w.instruction,
                atom: w.atom.name(),
                claim: &w.claim,
                observed: r.observed.as_deref(),
                confirmed: r.confirmed,
            })
            .collect();
        crate::cli::print_json(&out)?;
    } else {
        for (index, w, r) in &rows {
            out!(
                "{}",
                side_by_side(*index, w, &r.runs, r.observed.as_deref(), r.confirmed)
            );
        }
        let n = rows.len();
        if failed == 0 {
            outln!("all {n} witness(es) replayed as claimed");
        } else {
            outln!("{failed} of {n} witness(es) did NOT replay as claimed");
        }
    }
    Ok(Some(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }))
}

fn state_rows(s: &M68kState) -> Vec<(String, String)> {
    let mut rows = vec![
        ("SR".to_string(), format!("{:#06x}", s.sr)),
        ("PC".to_string(), format!("{:#08x}", s.pc)),
        (
            "code".to_string(),
            s.code
                .iter()
                .map(|w| format!("{w:04x}"))
                .collect::<Vec<_>>()
                .join(" "),
        ),
    ];
    for k in 0..8 {
        rows.push((format!("D{k}"), format!("{:#010x}", s.d[k])));
    }
    for k in 0..8 {
        let label = if k == 7 {
            "A7=USP=SSP".to_string()
        } else {
            format!("A{k}")
        };
        rows.push((label, format!("{:#010x}", s.a[k])));
    }
    rows.push(("fill".to_string(), format!("{:#x}", s.fill)));
    rows
}

fn after_rows(o: &Outcome<M68kAfter>) -> Vec<(String, String)> {
    match o {
        Outcome::Trapped { kind, .. } => vec![("outcome".into(), format!("trapped ({kind})"))],
        Outcome::Completed(a) => {
            let mut rows = vec![
                ("outcome".to_string(), "completed".to_string()),
                ("SR".to_string(), format!("{:#06x}", a.sr)),
                ("PC".to_string(), format!("{:#08x}", a.pc)),
            ];
            for k in 0..8 {
                rows.push((format!("D{k}"), format!("{:#010x}", a.d[k])));
            }
            for k in 0..8 {
                rows.push((format!("A{k}"), format!("{:#010x}", a.a[k])));
            }
            let writes: Vec<String> = a
                .writes
                .iter()
                .take(8)
                .map(|(addr, b)| format!("{addr:06x}={b:02x}"))
                .collect();
            rows.push(("written".to_string(), writes.join(" ")));
            if a.stopped {
                rows.push(("stopped".into(), "yes".into()));
            }
            if a.reset {
                rows.push(("RESET".into(), "yes".into()));
            }
            rows
        }
    }
}

fn side_by_side(
    index: usize,
    w: &OracleWitness,
    runs: &[Outcome<M68kAfter>],
    observed: Option<&str>,
    confirmed: bool,
) -> String {
    let mut out = format!(
        "witness {index}: {} {} — {} (found by {}, seed {}, sample {})\nclaim:    {}\n",
        w.machine,
        w.instruction,
        w.atom.name(),
        w.found_by.name(),
        w.seed,
        w.sample,
        observed.unwrap_or("(none: the definition's check finds no difference)")
    );
    let states: Vec<M68kState> = w
        .states
        .iter()
        .filter_map(|v| serde_json::from_value(v.clone()).ok())
        .collect();
    let columns = match w.atom {
        Atom::ControlUser | Atom::ControlSuper => ["state", ""],
        _ => ["supervisor", "user"],
    };
    let pair = |a: Vec<(String, String)>, b: Vec<(String, String)>| {
        let mut s = String::new();
        for (k, (label, left)) in a.iter().enumerate() {
            let right = b.get(k).map_or("", |r| r.1.as_str());
            let mark = if !b.is_empty() && left != right {
                "   <-- differs"
            } else {
                ""
            };
            s += &format!("  {label:11} {left:30} {right}{mark}\n");
        }
        s
    };
    out += &format!("\n  {:11} {:30} {}\n", "before", columns[0], columns[1]);
    out += &pair(
        states.first().map(state_rows).unwrap_or_default(),
        states.get(1).map(state_rows).unwrap_or_default(),
    );
    out += &format!("  {:11}\n", "after");
    out += &pair(
        runs.first().map(after_rows).unwrap_or_default(),
        runs.get(1).map(after_rows).unwrap_or_default(),
    );
    out += &match (observed, confirmed) {
        (Some(o), true) => format!("replayed: {o} (as claimed)\n\n"),
        (Some(o), false) => format!(
            "NOT as claimed: observed {o}, but the file claims \"{}\"\n\n",
            w.claim
        ),
        (None, _) => "NOT as claimed: the definition's check finds no difference\n\n".into(),
    };
    out
}
