//! `pgvm classify` and `pgvm replay`: the classifier's table, theorem verdicts and witnesses.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use pgvm_classify::{
    CLASSES, Class, ClassVerdict, Config, DEFAULT_SAMPLES, Evidence, HypoView, InsnReport, Report,
    State, Theorem, Witness, WitnessFile,
};
use pgvm_isa::Isa;
use pgvm_machine::Step;

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
    /// Print a JSON array with one object per ISA instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Write every witness to FILE, for `pgvm replay`.
    #[arg(long, value_name = "FILE")]
    pub witness_out: Option<PathBuf>,
}

/// Arguments of `pgvm replay`.
#[derive(clap::Args)]
pub struct ReplayArgs {
    /// A witness file written by `pgvm classify --witness-out`.
    pub file: PathBuf,
    /// Replay on this ISA (name or .isa path) instead of the one each witness names.
    #[arg(long, value_name = "NAME|PATH")]
    pub isa: Option<String>,
}

/// The profiles to classify: the named ones, then (with `--all` or when none is named) every
/// runnable built-in.
fn profiles(args: &ClassifyArgs) -> Result<Vec<Isa>> {
    let mut isas = Vec::new();
    for name in &args.isa {
        isas.push(pgvm_isa::load(name)?);
    }
    if args.all || args.isa.is_empty() {
        for name in pgvm_isa::builtin_names() {
            let isa = pgvm_isa::load(name)?;
            if !isa.is_abstract && !isas.iter().any(|i: &Isa| i.name == isa.name) {
                isas.push(isa);
            }
        }
    }
    Ok(isas)
}

/// A progress bar on stderr, hidden when stderr is not a terminal.
fn progress_bar(total: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("classifying {bar:40} {pos}/{len} instructions {elapsed}")
    {
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

pub fn classify(args: &ClassifyArgs) -> Result<ExitCode> {
    let config = Config {
        seed: args.seed,
        samples: args.samples,
        exhaustive: args.exhaustive,
        ..Config::default()
    };
    config
        .validate()
        .with_context(|| format!("--samples {} is refused", args.samples))?;
    let isas = profiles(args)?;
    let reports = run_classifier(&isas, &config)?;
    if let Some(path) = &args.witness_out {
        std::fs::write(path, Report::witness_file(&reports).to_json())
            .with_context(|| format!("Cannot write {}", path.display()))?;
    }
    if args.json {
        let all: Vec<serde_json::Value> = reports.iter().map(Report::to_json).collect();
        outln!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(ExitCode::SUCCESS);
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
    Ok(ExitCode::SUCCESS)
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
    out += "states searched: evidence, not a proof).\n\n";
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

pub fn replay(args: &ReplayArgs) -> Result<ExitCode> {
    let file = WitnessFile::read(&args.file)?;
    if file.witnesses.is_empty() {
        outln!("{}: no witnesses", args.file.display());
        return Ok(ExitCode::SUCCESS);
    }
    let mut isas: HashMap<(String, String), Isa> = HashMap::new();
    let mut failed = 0;
    for (k, w) in file.witnesses.iter().enumerate() {
        let key = (w.isa.clone(), w.isa_file.clone());
        if !isas.contains_key(&key) {
            let isa = match &args.isa {
                Some(name) => pgvm_isa::load(name)?,
                None => w
                    .load_isa()
                    .with_context(|| format!("Witness {k} needs profile `{}`", w.isa))?,
            };
            isas.insert(key.clone(), isa);
        }
        let isa = &isas[&key];
        let r = pgvm_classify::replay(isa, w, k)?;
        out!("{}", side_by_side(isa, w, k, &r));
        if !r.confirmed {
            failed += 1;
        }
    }
    let n = file.witnesses.len();
    if failed == 0 {
        outln!("all {n} witness(es) replayed as claimed");
        Ok(ExitCode::SUCCESS)
    } else {
        outln!("{failed} of {n} witness(es) did NOT replay as claimed");
        Ok(ExitCode::from(1))
    }
}

/// Labels of a witness's columns.
fn column_labels(w: &Witness) -> [String; 2] {
    use pgvm_classify::Atom::*;
    match w.atom {
        ControlUser | ControlSuper => ["before".into(), "after".into()],
        NotPrivileged | ModeSensitive => ["S1 (supervisor)".into(), "S2 (user)".into()],
        LocationUser | LocationSuper => [
            "S1".into(),
            format!("S2 = S1 shifted by x = {}", w.shift.unwrap_or(0)),
        ],
        BoundsUser | BoundsSuper => [
            "S1".into(),
            format!("S2 = S1 with b = {:#x}", w.states.get(1).map_or(0, |s| s.b)),
        ],
        TimingUser | TimingSuper => ["clock 1".into(), "clock 2".into()],
    }
}

/// One row of a side-by-side display.
struct Row {
    label: String,
    left: String,
    right: String,
    /// Whether the underlying values differ (the text may differ only in annotations).
    differs: bool,
}

fn row(label: impl Into<String>, left: String, right: String) -> Row {
    let differs = left != right;
    Row {
        label: label.into(),
        left,
        right,
        differs,
    }
}

/// What to show of two states.
#[derive(Clone, Copy)]
struct Show {
    /// The instruction's apparent address, shown disassembled.
    at: u64,
    /// Physical words outside the first state's window that differ (meaningless when the two
    /// states have different windows).
    physical: bool,
    /// The clock (when it matters to the witness, or differs).
    clock: bool,
}

/// Rows for two states.
fn state_rows(isa: &Isa, a: &State, b: &State, show: Show) -> Vec<Row> {
    let mut rows = vec![
        row("PSW", a.psw().to_string(), b.psw().to_string()),
        row("q", format!("{:#x}", a.q), format!("{:#x}", b.q)),
    ];
    if a.assist || b.assist {
        rows.push(row("assist", a.assist.to_string(), b.assist.to_string()));
    }
    if show.clock || a.clock != b.clock {
        rows.push(row("clock", a.clock.to_string(), b.clock.to_string()));
    }
    let word = |s: &State, off: u64| -> (Option<u64>, String) {
        match s.develop(off) {
            Some(pa) => {
                let v = s.word(pa);
                let text = if off == show.at {
                    format!("{v:#x}  ({})", pgvm_asm::disassemble_word(v, isa))
                } else {
                    format!("{v:#x}")
                };
                (Some(v), text)
            }
            None => (None, "-".into()),
        }
    };
    let mut offsets: Vec<u64> = [a, b]
        .iter()
        .flat_map(|s| s.memory.iter().filter_map(|&(pa, _)| pa.checked_sub(s.l)))
        .filter(|&off| off < a.b.max(b.b))
        .collect();
    offsets.sort_unstable();
    offsets.dedup();
    for off in offsets.into_iter().take(16) {
        let ((x, left), (y, right)) = (word(a, off), word(b, off));
        rows.push(Row {
            label: format!("E|r[{off:#x}]"),
            left,
            right,
            differs: x != y,
        });
    }
    if show.physical {
        let outside = |s: &State, pa: u64| pa < s.l || pa >= s.l.saturating_add(s.b);
        let mut phys: Vec<u64> = a
            .memory
            .iter()
            .chain(&b.memory)
            .map(|&(pa, _)| pa)
            .filter(|&pa| outside(a, pa) && a.word(pa) != b.word(pa))
            .collect();
        phys.sort_unstable();
        phys.dedup();
        for pa in phys.into_iter().take(8) {
            rows.push(row(
                format!("E[{pa:#x}] (physical)"),
                format!("{:#x}", a.word(pa)),
                format!("{:#x}", b.word(pa)),
            ));
        }
    }
    rows
}

fn events(v: &HypoView) -> String {
    let e = &v.events;
    let mut parts = Vec::new();
    if !e.out.is_empty() {
        parts.push(format!("console out {:02x?}", e.out));
    }
    if let Some(n) = e.timer {
        parts.push(format!("timer {n}"));
    }
    if v.touched_device() && e.out.is_empty() && e.timer.is_none() {
        parts.push("console input read".into());
    }
    if v.clock_read() {
        parts.push("clock read".into());
    }
    if !e.stores.is_empty() {
        let s: Vec<String> = e.stores.iter().map(|a| format!("{a:#x}")).collect();
        parts.push(format!("stores to physical {}", s.join(", ")));
    }
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join("; ")
    }
}

fn step_text(s: Step) -> String {
    pgvm_classify::check::step_name(s)
}

/// The rows of a replay, in sections: one (before/after) for a single run, "before" and
/// "after" for a pair.
fn sections(isa: &Isa, w: &Witness, r: &pgvm_classify::Replay) -> Vec<(&'static str, Vec<Row>)> {
    let Some(at) = r.runs.first().map(|(s, _, _)| s.p) else {
        return Vec::new();
    };
    let show = Show {
        at,
        physical: w.shift.is_none(),
        clock: r.runs.iter().any(|(_, v, _)| v.clock_read()),
    };
    if let [(before, after, step)] = r.runs.as_slice() {
        let mut rows = state_rows(isa, before, &after.state, show);
        rows.push(row("step", String::new(), step_text(*step)));
        rows.push(row("events", String::new(), events(after)));
        return vec![("", rows)];
    }
    let [(a, va, sa), (b, vb, sb), ..] = r.runs.as_slice() else {
        return Vec::new();
    };
    let before = Show {
        physical: false,
        ..show
    };
    let mut after = vec![row("step", step_text(*sa), step_text(*sb))];
    let shown = Show {
        clock: false,
        ..show
    };
    after.extend(
        state_rows(isa, &va.state, &vb.state, shown)
            .into_iter()
            .filter(|r| r.label != "q"),
    );
    // Store addresses are physical: they differ between shifted windows without meaning it.
    after.push(Row {
        differs: false,
        ..row("events", events(va), events(vb))
    });
    vec![("before", state_rows(isa, a, b, before)), ("after", after)]
}

fn side_by_side(isa: &Isa, w: &Witness, k: usize, r: &pgvm_classify::Replay) -> String {
    // The claim shown is recomputed from what replay observed, never echoed from the file.
    let mut out = format!(
        "witness {k}: {} {} — {} (found by {}, seed {}, sample {})\nclaim:    {}\n",
        w.isa,
        w.mnemonic,
        w.atom.name(),
        w.found_by.name(),
        w.seed,
        w.sample,
        r.claim
            .as_deref()
            .unwrap_or("(none: the definition's check finds no difference)")
    );
    let labels = column_labels(w);
    let sections = sections(isa, w, r);
    let rows = || sections.iter().flat_map(|(_, rows)| rows);
    let lw = rows().map(|r| r.label.len()).max().unwrap_or(8).max(8);
    let cw = rows()
        .map(|r| r.left.chars().count())
        .chain(std::iter::once(labels[0].len()))
        .max()
        .unwrap_or(10);
    out += &format!("\n{:7} {:lw$}  {:cw$}  {}\n", "", "", labels[0], labels[1]);
    for (name, rows) in &sections {
        for (i, r) in rows.iter().enumerate() {
            let head = if i == 0 { *name } else { "" };
            let mark = if r.differs && !r.left.is_empty() {
                "   <-- differs"
            } else {
                ""
            };
            out += &format!(
                "{head:7} {:lw$}  {:cw$}  {}{mark}\n",
                r.label, r.left, r.right
            );
        }
    }
    out += &match (&r.observed, r.confirmed) {
        (Some(o), true) => format!("replayed: {o} (as claimed)\n\n"),
        (Some(o), false) if r.observation_matches => format!(
            "NOT as claimed: observed {o}, but the file claims \"{}\"\n\n",
            w.claim
        ),
        (Some(o), false) => format!(
            "NOT as claimed: observed {o}, but the file's observation is {}\n\n",
            w.observation
        ),
        (None, _) => "NOT as claimed: the definition's check finds no difference\n\n".into(),
    };
    out
}
