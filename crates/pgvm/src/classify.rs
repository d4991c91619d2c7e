//! `pgvm classify` and `pgvm replay`: the classifier's table, theorem verdicts and witnesses
//! (the replay's rows come from `pgvm_lab::replay`; this module lays them out).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use pgvm_classify::{
    CLASSES, Class, ClassVerdict, Config, DEFAULT_SAMPLES, Evidence, InsnReport, Report, Theorem,
};
use pgvm_isa::Isa;
use pgvm_lab::classify::Classification;
use pgvm_lab::replay::WitnessReplay;

/// Arguments of `pgvm classify`.
#[derive(clap::Args)]
pub struct ClassifyArgs {
    /// ISA profile name or .isa path; repeat for several [default: every built-in profile].
    #[arg(long = "isa", value_name = "NAME|PATH")]
    pub isa: Vec<String>,
    /// Every built-in profile, with a summary matrix of the theorem verdicts.
    #[arg(long)]
    pub all: bool,
    /// Seed of the generated states (the same seed gives the same states and witnesses).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// States searched per instruction and open question, wherever no proof applies.
    #[arg(long, default_value_t = DEFAULT_SAMPLES)]
    pub samples: u64,
    /// Also check every state of a small stated configuration (q = 4; see the output).
    #[arg(long)]
    pub exhaustive: bool,
    /// Write every witness to FILE, for `pgvm replay`.
    #[arg(long, value_name = "FILE")]
    pub witness_out: Option<PathBuf>,
    /// Decide every question the search leaves open with an SMT solver (the z3 binary).
    ///
    /// Each open question ("is there a state in which this instruction changes M without
    /// trapping?") becomes one bit-vector formula over a symbolic state: memory, M, P, R,
    /// the assist bit, the clock and q up to 2^21 - 1. unsat proves the class absent for
    /// every state ("proof (smt)", naming the solver); sat gives a concrete witness, replayed
    /// on the machine like any other (found by "smt"); a query that runs out of time keeps
    /// the search's answer and says "solver timed out". A model that does not replay is a
    /// bug in the encoding: it is printed as ENCODING BUG and the exit code is 1. Needs z3
    /// (`apt-get install z3`; $PGVM_SMT_SOLVER names another binary); without it pgvm says
    /// so and exits with code 2. See docs/classification.md, "The SMT backend".
    #[arg(long)]
    pub smt: bool,
    /// Seconds each solver query may take with --smt.
    #[arg(long, value_name = "SECS", default_value_t = pgvm_classify::smt::DEFAULT_TIMEOUT_SECS, requires = "smt")]
    pub smt_timeout: u64,
}

/// Arguments of `pgvm replay`.
#[derive(clap::Args)]
pub struct ReplayArgs {
    /// A witness file written by `pgvm classify --witness-out` or `pgvm audit --witness-out`.
    pub file: PathBuf,
    /// Replay on this ISA (name or .isa path) instead of the one each witness names (not for
    /// an audit's witnesses, which are replayed on the emulator they name).
    #[arg(long, value_name = "NAME|PATH")]
    pub isa: Option<String>,
}

/// A progress bar on stderr for the classifier, hidden when stderr is not a terminal.
pub fn progress_bar(total: u64) -> ProgressBar {
    progress_bar_for(
        total,
        "classifying {bar:40} {pos}/{len} instructions {elapsed}",
    )
}

/// A progress bar on stderr drawn with `template`, hidden when stderr is not a terminal.
pub fn progress_bar_for(total: u64, template: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}

/// Runs the classifier on `isas` with a progress bar.
pub fn run_classifier(isas: &[Isa], config: &Config) -> Result<Vec<Report>> {
    let bar = progress_bar(pgvm_classify::job_count(isas));
    let reports = pgvm_classify::classify_all(isas, config, &|| bar.inc(1))?;
    bar.finish_and_clear();
    Ok(reports)
}

pub fn classify(args: &ClassifyArgs, json: bool) -> Result<ExitCode> {
    let smt = if args.smt {
        let timeout = std::time::Duration::from_secs(args.smt_timeout.max(1));
        Some(pgvm_classify::smt::SmtSettings::find(timeout)?)
    } else {
        None
    };
    let config = Config {
        seed: args.seed,
        samples: args.samples,
        exhaustive: args.exhaustive,
        smt,
        ..Config::default()
    };
    config
        .validate()
        .with_context(|| format!("--samples {} is refused", args.samples))?;
    let isas = pgvm_lab::classify::profiles(&args.isa, args.all)?;
    let reports = run_classifier(&isas, &config)?;
    if let Some(path) = &args.witness_out {
        std::fs::write(path, Report::witness_file(&reports).to_json())
            .with_context(|| format!("Cannot write {}", path.display()))?;
    }
    // A solver model that does not replay is a bug in the encoding: said loudly, never used.
    let bugs: Vec<String> = reports
        .iter()
        .filter_map(Report::smt_summary)
        .flat_map(|s| s.bugs)
        .collect();
    for b in &bugs {
        eprintln!("ENCODING BUG: {b}");
    }
    let code = if bugs.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    };
    if json {
        let all: Vec<Classification> = reports.iter().map(Classification::from).collect();
        crate::cli::print_json(&all)?;
        return Ok(code);
    }
    for r in &reports {
        out!("{}", table(r));
        outln!();
    }
    if reports.len() > 1 {
        out!("{}", matrix(&reports));
    }
    if let Some(path) = &args.witness_out {
        let n: usize = reports
            .iter()
            .flat_map(|r| &r.instructions)
            .map(|i| i.witnesses.len())
            .sum();
        eprintln!(
            "{n} witnesses written to {}; replay them with `pgvm replay {}`",
            path.display(),
            path.display()
        );
    }
    Ok(code)
}

/// Column headings, in [`CLASSES`] order.
const HEADS: [&str; 9] = [
    "priv", "ctrl", "loc", "bound", "mode", "user", "super", "timing", "innoc",
];

fn short(class: Class) -> &'static str {
    CLASSES
        .iter()
        .position(|c| *c == class)
        .map_or("?", |i| HEADS[i])
}

fn cell(v: &ClassVerdict) -> String {
    let word = if v.value { "yes" } else { "no" };
    if v.witness.is_some() {
        format!("{word}*")
    } else {
        word.to_string()
    }
}

/// How a row's cells that rest on no witness are known: "proof", or the classes that rest on
/// something weaker.
fn row_evidence(i: &InsnReport) -> String {
    let mut weaker: Vec<(Evidence, &str)> = Vec::new();
    for c in CLASSES {
        let v = &i.classes[&c];
        if v.witness.is_none() && v.evidence != Evidence::Proof {
            weaker.push((v.evidence, short(c)));
        }
    }
    if weaker.is_empty() {
        return "proof".into();
    }
    let mut parts = Vec::new();
    for e in [Evidence::Exhaustive, Evidence::Search] {
        let names: Vec<&str> = weaker
            .iter()
            .filter(|(w, _)| *w == e)
            .map(|(_, n)| *n)
            .collect();
        if !names.is_empty() {
            parts.push(format!("{}: {}", e.name(), names.join(" ")));
        }
    }
    let all_weak = weaker.len() == CLASSES.len();
    if all_weak {
        parts.join("; ")
    } else {
        format!("proof; {}", parts.join("; "))
    }
}

/// One profile's table and theorem verdicts.
pub fn table(r: &Report) -> String {
    let mut out = String::new();
    let assist = if r.assist {
        " (under the assist: every state has assist = 1, as the monitor sets it)"
    } else {
        ""
    };
    out += &format!("{}{assist}\n", r.isa);
    let c = &r.config;
    out += &format!(
        "search: {} states per instruction and open question, seed {}",
        c.samples, c.seed
    );
    if c.exhaustive {
        out += &format!("\nexhaustive: {}", pgvm_classify::exhaustive::describe());
    }
    if let Some(s) = r.smt_summary() {
        out += &format!(
            "\nsmt: {}, {} s per query, on every question the search left open: {} proved (unsat), {} witnessed (sat, replayed), {} timed out",
            s.solver, s.timeout_secs, s.proved, s.witnessed, s.timed_out
        );
        if !s.bugs.is_empty() {
            out += &format!(", {} ENCODING BUG(S)", s.bugs.len());
        }
    }
    out += "\n\n";
    let width = r
        .instructions
        .iter()
        .map(|i| i.mnemonic.len())
        .max()
        .unwrap_or(4)
        .max(4);
    out += &format!("{:<width$}", "insn");
    for h in HEADS {
        out += &format!("  {h:<6}");
    }
    out += "  evidence\n";
    for i in &r.instructions {
        out += &format!("{:<width$}", i.mnemonic);
        for c in CLASSES {
            out += &format!("  {:<6}", cell(&i.classes[&c]));
        }
        out += &format!("  {}\n", row_evidence(i));
    }
    out +=
        "\n* = settled by a witness (write them with --witness-out, replay with `pgvm replay`).\n";
    out +=
        "evidence = how the other cells are known: proof (from the semantics, for all states),\n";
    out += "exhaustive (every state of the stated configuration), search (no witness in the\n";
    out += "states searched: evidence, not a proof).\n";
    if r.config.smt.is_some() {
        out += "With --smt, a proof may come from the solver (\"proof (smt)\" in --json's\n";
        out += "evidence_detail) and a witness from its model (found by smt).\n";
    }
    out += "\n";
    out += &theorems(r);
    out
}

fn held(t: &Theorem, assist: bool) -> String {
    let under = if assist { " under the assist" } else { "" };
    let how = match t.evidence {
        Some(Evidence::Proof) => "proof".to_string(),
        Some(e) => format!(
            "{}; not a proof; resting on search or exhaustive evidence: {}",
            e.name(),
            t.unproven.join(", ")
        ),
        None => "?".into(),
    };
    format!("holds{under} ({how})")
}

/// One line per violating instruction: its witnesses' claims.
fn violation_lines(r: &Report, names: &[String]) -> String {
    let mut out = String::new();
    for name in names {
        if let Some(i) = r.instructions.iter().find(|i| &i.mnemonic == name) {
            let claims: Vec<String> = i
                .witnesses
                .iter()
                .map(|w| format!("{}: {}", w.atom.name(), w.claim))
                .collect();
            out += &format!("    {name}: {}\n", claims.join("; "));
        }
    }
    out
}

fn theorems(r: &Report) -> String {
    let mut out = String::new();
    for (n, t, what) in [
        (1, &r.theorem1, "sensitive but not privileged"),
        (3, &r.theorem3, "user-sensitive but not privileged"),
    ] {
        if t.holds {
            out += &format!("Theorem {n}: {}\n", held(t, r.assist));
        } else {
            out += &format!("Theorem {n}: fails — {what}: {}\n", t.violations.join(", "));
            out += &violation_lines(r, &t.violations);
        }
    }
    let t2 = &r.theorem2;
    if t2.holds {
        out += &format!("Theorem 2: {}\n", held(t2, r.assist));
    } else {
        let mut why = Vec::new();
        if !r.theorem1.holds {
            why.push("Theorem 1's condition fails".to_string());
        }
        if !t2.timing_dependent.is_empty() {
            why.push(format!(
                "timing-dependent without trapping in user mode: {}",
                t2.timing_dependent.join(", ")
            ));
        }
        out += &format!("Theorem 2: fails — {}\n", why.join("; "));
        out += &violation_lines(r, &t2.timing_dependent);
    }
    out += &format!("assist: {}\n", r.assist_soundness.summary());
    out += "(Sufficient conditions: a failure names what breaks them, it does not prove that no\n";
    out += "monitor can exist.)\n";
    out
}

fn verdict_word(t: &Theorem, assist: bool) -> String {
    match (t.holds, assist) {
        (true, true) => "holds under the assist".into(),
        (true, false) => "holds".into(),
        (false, _) => format!("fails ({})", t.violations.join(", ")),
    }
}

/// The summary matrix over several profiles.
pub fn matrix(reports: &[Report]) -> String {
    let rows: Vec<[String; 4]> = reports
        .iter()
        .map(|r| {
            [
                r.isa.clone(),
                verdict_word(&r.theorem1, r.assist),
                verdict_word(&r.theorem3, r.assist),
                verdict_word(&r.theorem2, r.assist),
            ]
        })
        .collect();
    let head = ["profile", "Theorem 1", "Theorem 3", "Theorem 2"].map(String::from);
    let width = |k: usize| {
        rows.iter()
            .chain(std::iter::once(&head))
            .map(|r| r[k].chars().count())
            .max()
            .unwrap_or(0)
    };
    let w = [width(0), width(1), width(2)];
    let line = |r: &[String; 4]| {
        format!(
            "{:<a$}  {:<b$}  {:<c$}  {}\n",
            r[0],
            r[1],
            r[2],
            r[3],
            a = w[0],
            b = w[1],
            c = w[2]
        )
    };
    let mut out = line(&head);
    for r in &rows {
        out += &line(r);
    }
    out
}

// ---- replay ----------------------------------------------------------------------------------

pub fn replay(args: &ReplayArgs, json: bool) -> Result<ExitCode> {
    if let Some(code) = crate::audit::replay_if_oracle(&args.file, args.isa.as_deref(), json)? {
        return Ok(code);
    }
    let report = pgvm_lab::replay::replay_file(&args.file, args.isa.as_deref())?;
    if json {
        crate::cli::print_json(&report)?;
        return Ok(if report.failed() == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    if report.witnesses.is_empty() {
        outln!("{}: no witnesses", args.file.display());
        return Ok(ExitCode::SUCCESS);
    }
    for w in &report.witnesses {
        out!("{}", side_by_side(w));
    }
    let (failed, n) = (report.failed(), report.witnesses.len());
    if failed == 0 {
        outln!("all {n} witness(es) replayed as claimed");
        Ok(ExitCode::SUCCESS)
    } else {
        outln!("{failed} of {n} witness(es) did NOT replay as claimed");
        Ok(ExitCode::from(1))
    }
}

fn side_by_side(r: &WitnessReplay) -> String {
    let mut out = format!(
        "witness {}: {} {} — {} (found by {}, seed {}, sample {})\nclaim:    {}\n",
        r.index,
        r.isa,
        r.mnemonic,
        r.atom.name(),
        r.found_by.name(),
        r.seed,
        r.sample,
        // The claim shown is recomputed from what replay observed, never echoed from the file.
        r.claim
            .as_deref()
            .unwrap_or("(none: the definition's check finds no difference)")
    );
    let labels = &r.columns;
    let rows = || r.sections.iter().flat_map(|s| &s.rows);
    let lw = rows().map(|r| r.label.len()).max().unwrap_or(8).max(8);
    let cw = rows()
        .map(|r| r.left.chars().count())
        .chain(std::iter::once(labels[0].len()))
        .max()
        .unwrap_or(10);
    out += &format!("\n{:7} {:lw$}  {:cw$}  {}\n", "", "", labels[0], labels[1]);
    for section in &r.sections {
        for (i, row) in section.rows.iter().enumerate() {
            let head = if i == 0 { section.name } else { "" };
            let mark = if row.differs && !row.left.is_empty() {
                "   <-- differs"
            } else {
                ""
            };
            out += &format!(
                "{head:7} {:lw$}  {:cw$}  {}{mark}\n",
                row.label, row.left, row.right
            );
        }
    }
    out += &match (&r.observed, r.confirmed) {
        (Some(o), true) => format!("replayed: {o} (as claimed)\n\n"),
        (Some(o), false) if r.observation_matches => format!(
            "NOT as claimed: observed {o}, but the file claims \"{}\"\n\n",
            r.file_claim
        ),
        (Some(o), false) => format!(
            "NOT as claimed: observed {o}, but the file's observation is {}\n\n",
            r.file_observation
        ),
        (None, _) => "NOT as claimed: the definition's check finds no difference\n\n".into(),
    };
    out
}
