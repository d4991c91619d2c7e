//! `pgvm bench`: every workload in every configuration, measured and priced by the cost
//! model; the runs come from `pgvm_lab::bench`, the plots and the page from `pgvm_lab::plot`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use pgvm_lab::bench::{self, BenchOptions, BenchReport, Config};
use pgvm_lab::cost::CostModel;

use crate::guests::GUESTS;

/// The profiles benched unless --isa says otherwise.
pub const DEFAULT_PROFILES: &[&str] = &["s370", "ia32-vt", "ia32"];

/// Arguments of `pgvm bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// Write the four plots as SVG files into this directory (created if missing).
    #[arg(long, value_name = "DIR")]
    pub svg: Option<PathBuf>,
    /// Write one self-contained HTML page (matrix, plots, tables), readable offline.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// A cost model (TOML) that replaces the built-in one; every price must be given, each
    /// with its source (see crates/pgvm-lab/cost/default.toml and docs/practice.md).
    #[arg(long, value_name = "FILE")]
    pub cost_model: Option<PathBuf>,
    /// Bench these profiles (repeat for several) [default: s370, ia32-vt and ia32: s370 for
    /// the System/370 claims, trap-and-emulate, the VM assist and the nested monitor; ia32-vt
    /// for binary translation against first-generation hardware assist; ia32 for the
    /// paravirtualized tsos under pv].
    #[arg(long = "isa", value_name = "NAME")]
    pub isas: Vec<String>,
    /// Stop each technique run after this many guest instructions (at least 1).
    #[arg(long, default_value_t = BenchOptions::default().max_steps)]
    pub max_steps: u64,
    /// Repeat each timed run until it has taken this many milliseconds (more: steadier host
    /// times, a longer bench).
    #[arg(long, default_value_t = 5)]
    pub min_time_ms: u64,
    /// The deepest nesting for the workloads (0: no nested runs).
    #[arg(long, default_value_t = 4)]
    pub depth: u32,
    /// The deepest nesting for tsos and its variants (0: none). The default is 1: tsos
    /// nested takes a few seconds at depth 1 and about a minute a variant at depth 4, as the
    /// monitor single-steps the guest while its interval timer runs.
    #[arg(long, default_value_t = 1)]
    pub tsos_depth: u32,
}

/// Checks that `dir` can take the plots before anything runs.
fn writable_dir(dir: &Path) -> Result<()> {
    let hint = "\n  hint: pass --svg a directory you can write to (it is created if missing)";
    std::fs::create_dir_all(dir).map_err(|e| {
        anyhow::anyhow!(
            "Cannot create the SVG directory {}: {e}{hint}",
            dir.display()
        )
    })?;
    let probe = dir.join(".pgvm-bench-probe");
    std::fs::write(&probe, b"").map_err(|e| {
        anyhow::anyhow!(
            "Cannot write into the SVG directory {}: {e}{hint}",
            dir.display()
        )
    })?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

pub fn bench(args: &BenchArgs, json: bool) -> Result<ExitCode> {
    if args.max_steps == 0 {
        bail!("--max-steps 0 is out of range: a run of no instructions measures nothing");
    }
    let model = match &args.cost_model {
        Some(f) => CostModel::read(f)?,
        None => CostModel::builtin()?,
    };
    if let Some(dir) = &args.svg {
        writable_dir(dir)?;
    }
    let names: Vec<String> = if args.isas.is_empty() {
        DEFAULT_PROFILES.iter().map(|s| s.to_string()).collect()
    } else {
        args.isas.clone()
    };
    let isas = pgvm_lab::classify::profiles(&names, false)?;
    let reports = crate::classify::run_classifier(&isas, &pgvm_classify::Config::default())?;
    let isas: Vec<Arc<pgvm_isa::Isa>> = isas.into_iter().map(Arc::new).collect();
    let subjects = bench::subjects(GUESTS, &isas)?;
    let opts = BenchOptions {
        max_steps: args.max_steps,
        min_time: Duration::from_millis(args.min_time_ms),
        depths: (1..=args.depth).collect(),
        tsos_depths: (1..=args.tsos_depth.min(args.depth)).collect(),
    };
    let bar = crate::classify::progress_bar_for(
        bench::job_count(&subjects, &opts),
        "bench {bar:40} {pos}/{len} runs {elapsed}",
    );
    let report = bench::run(GUESTS, &subjects, &reports, &model, &opts, &|| bar.inc(1))?;
    bar.finish_and_clear();
    let plots = pgvm_lab::plot::plots(&report)?;
    if let Some(dir) = &args.svg {
        for p in &plots {
            let path = dir.join(p.file);
            std::fs::write(&path, &p.svg)
                .with_context(|| format!("Cannot write {}", path.display()))?;
        }
    }
    if let Some(file) = &args.html {
        std::fs::write(file, pgvm_lab::plot::html(&report, &plots))
            .with_context(|| format!("Cannot write {}", file.display()))?;
    }
    if json {
        crate::cli::print_json(&report)?;
    } else {
        out!("{}", text(&report));
    }
    Ok(ExitCode::SUCCESS)
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{x:.digits$}"))
}

/// The runs as a table, then the crossovers and the assist's gains.
pub fn text(r: &BenchReport) -> String {
    let mut table: Vec<Vec<String>> = vec![
        [
            "guest",
            "profile",
            "config",
            "eq",
            "guest insns",
            "insn/s",
            "traps/s",
            "traps/1k",
            "direct",
            "slow(host)",
            "slow(model)",
            "% native",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for x in &r.runs {
        table.push(vec![
            x.guest.clone(),
            x.isa.clone(),
            x.config.name(),
            if x.equivalent { "yes" } else { "NO" }.into(),
            x.guest_instructions.to_string(),
            x.instructions_per_second
                .map_or_else(|| "-".into(), |v| format!("{:.1}M", v / 1e6)),
            x.traps_per_second
                .map_or_else(|| "-".into(), |v| format!("{:.2}M", v / 1e6)),
            format!("{:.2}", x.trap_density),
            format!("{:.1}%", x.direct_fraction * 100.0),
            opt(x.slowdown_measured, 2),
            format!("{:.2}", x.slowdown_modelled),
            format!("{:.1}", x.percent_of_native),
        ]);
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
    let mut out = String::new();
    for row in &table {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(k, (s, w))| {
                if k < 4 {
                    format!("{s:<w$}")
                } else {
                    format!("{s:>w$}")
                }
            })
            .collect();
        out += cells.join("  ").trim_end();
        out += "\n";
    }
    out += "\nguest insns: the guest's instructions (nested: the real machine runs more). traps: those\n";
    out += "reaching the monitor (bare: the guest's own; nested: those taken at level 0). direct: the\n";
    out +=
        "share run directly. slow(host): host time against the bare run, varies from run to run;\n";
    out += &format!(
        "slow(model) and % native: the cost model `{}` ({}), the same on every host.\n",
        r.cost_model.name, r.cost_model.file
    );
    for v in &r.variants {
        out += &format!("tsos/<profile>.s{v}\n");
    }
    if !r.crossovers.is_empty() {
        out += "\nBinary translation against the hardware assist (modelled):\n";
        for c in &r.crossovers {
            out += &format!(
                "  {} on {}: {} exits; {} beats the assist when an exit costs more than {} model cycles (the model's price: {})\n",
                c.guest,
                c.isa,
                c.exits,
                c.translator,
                opt(c.breakeven_exit, 0),
                c.model_exit
            );
        }
    }
    out += "\nThe VM assist (tae-assist against tae): ";
    if r.assist_gains.is_empty() {
        out += "no equivalent runs on the profiles benched.\n";
    } else {
        out += "\n";
        for g in &r.assist_gains {
            out += &format!(
                "  {} on {}: {:.2}x modelled, {}x measured\n",
                g.guest,
                g.isa,
                g.modelled,
                opt(g.measured, 2)
            );
        }
    }
    let bad = r.runs.iter().filter(|x| !x.equivalent).count();
    if bad > 0 {
        out += &format!(
            "\n{bad} run(s) were not equivalent to the bare run (see `pgvm matrix`); their figures measure another computation.\n"
        );
    }
    let nested = r
        .runs
        .iter()
        .filter(|x| matches!(x.config, Config::Nested { .. }))
        .count();
    if nested == 0 {
        out += "\nNo nested runs (no benched profile has an assembly monitor, or --depth 0).\n";
    }
    out
}
