//! `pgvm matrix`: every built-in profile against every technique, on tsos and the workloads,
//! checked against the theorems. The cells come from `pgvm_lab::matrix`; this module lays
//! them out.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use pgvm_classify::Report;
use pgvm_lab::matrix::{self, Cell, Matrix, Rows, Settings};
use pgvm_lab::{BareOutcome, TechniqueKind};

use crate::guests::GUESTS;

/// Arguments of `pgvm matrix`.
#[derive(clap::Args)]
pub struct MatrixArgs {
    /// Only these techniques (repeat for several) [default: every one].
    #[arg(long = "technique", value_name = "NAME", value_parser = crate::vmm::technique_parser())]
    pub techniques: Vec<TechniqueKind>,
    /// Only tsos, without the workloads.
    #[arg(long)]
    pub tsos_only: bool,
    /// Stop each run after this many guest instructions (at least 1) if it has not halted.
    #[arg(long, default_value_t = Settings::default().max_steps)]
    pub max_steps: u64,
}

pub fn matrix(args: &MatrixArgs, json: bool) -> Result<ExitCode> {
    if args.max_steps == 0 {
        anyhow::bail!("--max-steps 0 is out of range: two runs of no instructions say nothing");
    }
    let isas = pgvm_lab::classify::profiles(&[], true)?;
    let reports = crate::classify::run_classifier(&isas, &pgvm_classify::Config::default())?;
    let mut techniques: Vec<TechniqueKind> = Vec::new();
    for t in &args.techniques {
        if !techniques.contains(t) {
            techniques.push(*t); // a technique named twice is one column
        }
    }
    if techniques.is_empty() {
        techniques = TechniqueKind::ALL.to_vec();
    }
    let rows = Rows {
        tsos: true,
        workloads: !args.tsos_only,
    };
    let settings = Settings {
        max_steps: args.max_steps,
        ..Settings::default()
    };
    let m = compute(isas, &reports, &techniques, rows, settings)?;
    if json {
        crate::cli::print_json(&m)?;
    } else {
        out!("{}", text(&m));
    }
    Ok(if m.disagreements().is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The matrix over `isas` from the built-in guests, with a progress bar.
pub fn compute(
    isas: Vec<pgvm_isa::Isa>,
    reports: &[Report],
    techniques: &[TechniqueKind],
    rows: Rows,
    settings: Settings,
) -> Result<Matrix> {
    let isas: Vec<Arc<pgvm_isa::Isa>> = isas.into_iter().map(Arc::new).collect();
    let subjects = matrix::subjects(GUESTS, &isas, rows)?;
    let bar = crate::classify::progress_bar_for(
        matrix::cell_count(&subjects, techniques),
        "matrix {bar:40} {pos}/{len} cells {elapsed}",
    );
    let m = matrix::run(&subjects, reports, techniques, settings, &|| bar.inc(1))?;
    bar.finish_and_clear();
    Ok(m)
}

fn verdict(holds: bool) -> &'static str {
    if holds { "holds" } else { "fails" }
}

/// One cell in a few words; a divergence gets a footnote number instead of figures, since a
/// run that diverged measures another computation than the bare one.
fn cell_text(c: &Cell, note: usize) -> String {
    if !c.equivalent {
        return format!("DIVERGES [{note}]");
    }
    let slowdown = c
        .slowdown
        .map_or_else(|| "?".to_string(), |s| format!("{s:.1}x"));
    format!("equiv {:5.1}% {slowdown:>5}", c.direct_percent)
}

/// Where a divergence is, in words: the instruction, its address, line and label.
fn divergence_text(c: &Cell) -> String {
    let Some(d) = &c.divergence else {
        return format!(
            "{} under {}: not equivalent, with no single first difference found",
            c.guest, c.technique
        );
    };
    let mut at = format!("P={:#x}", d.p);
    if let Some(pa) = d.pa {
        at += &format!(" (physical {pa:#x})");
    }
    if let Some(src) = &d.source {
        at += &format!(", {src}");
    }
    if let Some(label) = &d.label {
        at += &format!(", {label}");
    }
    let licensed = if c.licensed {
        format!(
            "; {} holds, so this DISAGREES with the theorem",
            c.condition.name()
        )
    } else {
        format!("; {} fails on {}", c.condition.name(), c.isa)
    };
    let mut out = format!(
        "{} on {} under {}: `{}` at {at}, guest instruction {}{licensed}",
        c.guest, c.isa, c.technique, d.mnemonic, d.index
    );
    for diff in d.differences.iter().take(2) {
        out += &format!("\n      {diff}");
    }
    out
}

/// The matrix as a table, its divergences as footnotes, and its agreement with the theorems.
pub fn text(m: &Matrix) -> String {
    let mut out = String::new();
    for col in &m.techniques {
        out += &format!(
            "{:<9} {}; licensed by {}\n",
            col.technique.name(),
            col.technique.describe(),
            col.condition.name()
        );
    }
    out += &format!(
        "\nEach guest runs bare and under each technique for at most {} guest instructions,\n\
         compared at the bare run's halt or at that limit.\n\n",
        m.max_steps
    );
    // Rows: (guest, profile), in the order of the cells.
    let mut rows: Vec<(&str, &str)> = Vec::new();
    for c in &m.cells {
        if !rows.contains(&(c.guest.as_str(), c.isa.as_str())) {
            rows.push((&c.guest, &c.isa));
        }
    }
    let mut notes: Vec<&Cell> = Vec::new();
    let mut table: Vec<Vec<String>> = Vec::new();
    let mut head = vec![
        "guest".to_string(),
        "profile".into(),
        "bare run".into(),
        "T1".into(),
        "T3".into(),
        "crit".into(),
    ];
    head.extend(m.techniques.iter().map(|c| c.technique.name().to_string()));
    table.push(head);
    for (guest, isa) in &rows {
        let lic = m.profiles.iter().find(|p| p.isa == *isa);
        let bare = m
            .cells
            .iter()
            .find(|c| c.guest == *guest && c.isa == *isa)
            .map_or("?", |c| match c.bare {
                BareOutcome::Halted => "halted",
                BareOutcome::Stuck => "stuck",
                _ => "step limit",
            });
        let mut line = vec![
            guest.to_string(),
            isa.to_string(),
            bare.to_string(),
            lic.map_or("?", |l| verdict(l.theorem1)).to_string(),
            lic.map_or("?", |l| verdict(l.theorem3)).to_string(),
            lic.map_or("?", |l| {
                if l.critical_complete {
                    "proved"
                } else {
                    "search"
                }
            })
            .to_string(),
        ];
        for col in &m.techniques {
            let cell = m
                .cells
                .iter()
                .find(|c| c.guest == *guest && c.isa == *isa && c.technique == col.technique);
            line.push(match cell {
                Some(c) => {
                    if !c.equivalent {
                        notes.push(c);
                    }
                    cell_text(c, notes.len())
                }
                None => "-".into(),
            });
        }
        table.push(line);
    }
    let widths: Vec<usize> = (0..table[0].len())
        .map(|k| {
            table
                .iter()
                .map(|r| r[k].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in &table {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(s, w)| format!("{s:<w$}"))
            .collect();
        out += cells.join("  ").trim_end();
        out += "\n";
    }
    out += "\nEach cell: equiv(alent), with the percentage of guest instructions run directly and the\n";
    out +=
        "host-time slowdown of the virtualized run against the bare run (each timed on its own;\n";
    out += "host times vary from run to run), or DIVERGES, with the first diverging instruction\n";
    out += "below. For bt-kernel and bt-all, \"directly\" counts every instruction the translator let\n";
    out +=
        "run on the real machine (the rest were translated, emulated after a trap or reflected).\n";
    out += "For tae-assist, the instructions the machine's VM assist carried out (no trap to the\n";
    out += "monitor) count as assisted, neither direct nor handled by the monitor.\n";
    out += "T1, T3: the classifier's verdicts on Theorems 1 and 3 (under the assist where the\n";
    out +=
        "profile has one). crit: whether the critical set the translators scan for is complete\n";
    out +=
        "by proof (every other instruction proved privileged or innocuous) or rests on search.\n";
    out += "A condition is sufficient: where it holds, the technique it licenses must be\n";
    out += "equivalent; where it fails, the technique may still be.\n";
    out += &format!("Workloads: {}.\n", m.workloads);
    if !notes.is_empty() {
        out += "\n";
        for (i, c) in notes.iter().enumerate() {
            out += &format!("[{}] {}\n", i + 1, divergence_text(c));
        }
    }
    let licensed = m.cells.iter().filter(|c| c.licensed).count();
    let bad = m.disagreements();
    out += "\n";
    if bad.is_empty() {
        out += &format!(
            "Agreement with the theorems: all {licensed} licensed cells of {} are equivalent.\n",
            m.cells.len()
        );
    } else {
        out += &format!(
            "DISAGREEMENT with the theorems: {} of {licensed} licensed cells are not equivalent.\n",
            bad.len()
        );
    }
    out
}
