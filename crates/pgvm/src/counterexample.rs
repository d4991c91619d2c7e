//! `pgvm counterexample`: Theorem 1's failures, shown on the monitor (the experiment is
//! `pgvm_lab::counterexample`; this module parses the arguments and renders its report).

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use pgvm_classify::{Config, DEFAULT_SAMPLES};
use pgvm_isa::Isa;
use pgvm_lab::counterexample::Counterexamples;

/// Arguments of `pgvm counterexample`.
#[derive(clap::Args)]
pub struct CounterexampleArgs {
    /// ISA profile name or .isa path.
    #[arg(long, value_name = "NAME|PATH")]
    pub isa: String,
    /// Seed of the classifier's search (the same seed gives the same witnesses).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// States the classifier searches per instruction and open question.
    #[arg(long, default_value_t = DEFAULT_SAMPLES)]
    pub samples: u64,
}

pub fn counterexample(args: &CounterexampleArgs, json: bool) -> Result<ExitCode> {
    let isa = Arc::new(pgvm_isa::load(&args.isa)?);
    let config = Config {
        seed: args.seed,
        samples: args.samples,
        ..Config::default()
    };
    if args.samples == 0 {
        anyhow::bail!(
            "--samples 0 searches no states, so no witness could be found\n  hint: leave it at the default ({DEFAULT_SAMPLES})"
        );
    }
    config.validate()?;
    let found = find(&isa, &config)?;
    if json {
        crate::cli::print_json(&found)?;
    } else {
        out!("{}", text(&isa, &found));
    }
    Ok(if found.all_shown() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The experiment, with a progress bar while the classifier runs.
pub fn find(isa: &Arc<Isa>, config: &Config) -> Result<Counterexamples> {
    let bar = crate::classify::progress_bar(isa.insns.len() as u64);
    let found = pgvm_lab::counterexample::find(isa, config, &|| bar.inc(1))?;
    bar.finish_and_clear();
    Ok(found)
}

/// The verdict and every case, as the command prints them.
pub fn text(isa: &Isa, found: &Counterexamples) -> String {
    let (t1, cases) = (&found.theorem1, &found.counterexamples);
    let mut out = String::new();
    if t1.holds {
        out.push_str(&format!(
            "{}: Theorem 1's condition holds (every sensitive instruction is privileged), so\n\
             no instruction gives a counterexample. `pgvm equiv GUEST` on a guest written for\n\
             {} shows trap-and-emulate keeping it equivalent.\n",
            isa.name, isa.name
        ));
        return out;
    }
    out.push_str(&format!(
        "{}: Theorem 1's condition fails: {} sensitive but not privileged.\n\
         Each witness state below is run as a guest, bare and under trap-and-emulate.\n",
        isa.name,
        t1.violations.join(", ")
    ));
    for c in cases {
        out.push('\n');
        out.push_str(&format!(
            "{}: not privileged ({})\n",
            c.mnemonic, c.not_privileged
        ));
        let (Some(w), Some(g), Some(r)) = (&c.witness, &c.guest, &c.equiv) else {
            out.push_str("  no witness became a diverging guest:\n");
            for s in &c.skipped {
                out.push_str(&format!("    {s}\n"));
            }
            continue;
        };
        out.push_str(&format!(
            "  witness ({}, {} seed {} sample {}): {}\n",
            w.atom.name(),
            w.found_by.name(),
            w.seed,
            w.sample,
            w.claim
        ));
        out.push_str(&format!("  guest: w = {} words, entry {}\n", g.w, g.entry));
        for seg in &g.segments {
            for (i, (word, disasm)) in seg.words.iter().zip(&seg.disasm).enumerate() {
                let a = seg.org + i as u64;
                let mark = if g.entry_address() == Some(a) {
                    "  <- P"
                } else {
                    ""
                };
                out.push_str(&format!("    E[{a:#x}] = {word:#018x}  {disasm}{mark}\n"));
            }
        }
        // With one guest instruction the counts say what became of the witness's instruction.
        if r.tally.direct + r.tally.emulated + r.tally.reflected == 1 {
            let how = if r.tally.direct == 1 {
                "ran directly: in real user mode it did not trap, so the monitor never saw it"
            } else if r.tally.emulated == 1 {
                "trapped and was emulated on the virtual state"
            } else {
                "trapped and was reflected into the guest"
            };
            out.push_str(&format!("  under the monitor it {how}\n"));
        }
        match &r.divergence {
            Some(d) => {
                out.push_str(&format!(
                    "  diverges at guest instruction #{} (P={:#x}, {}):\n",
                    d.index, d.p, d.mnemonic
                ));
                for line in &d.differences {
                    out.push_str(&format!("    {line}\n"));
                }
            }
            None => out.push_str("  the runs differ in length only\n"),
        }
    }
    out
}
