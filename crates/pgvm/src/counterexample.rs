//! `pgvm counterexample`: Theorem 1's failures, shown on the monitor.
//!
//! The classifier says which instructions are sensitive but not privileged, and backs each
//! "sensitive" with a witness state. That state is already a program: its memory holds the
//! instruction at `P`, and its `<M, P, R>` is where to start. Running it bare and under
//! trap-and-emulate, the equivalence checker finds where the two part ways: the constructive
//! side of the theorem's "if", shown failing where its condition fails.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use pgvm_classify::{Atom, Config, DEFAULT_SAMPLES, Finding, InsnReport, State, Theorem, Witness};
use pgvm_isa::Isa;
use pgvm_machine::MAX_WORDS;
use pgvm_vmm::{CP_WORDS, EquivReport, Guest, check_equivalence};
use serde_json::json;

use crate::vmm::equiv_json;

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
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The sensitivity atoms, in the order their witnesses are tried: those from supervisor
/// mode first, because the monitor runs virtual supervisor code in real user mode, which is
/// where a sensitive unprivileged instruction gives itself away.
const SENSITIVE: [Atom; 7] = [
    Atom::ModeSensitive,
    Atom::ControlSuper,
    Atom::LocationSuper,
    Atom::BoundsSuper,
    Atom::ControlUser,
    Atom::LocationUser,
    Atom::BoundsUser,
];

/// Other seeds tried when no witness of the first fits in a VM.
const RESEEDS: u64 = 8;

/// One instruction that breaks Theorem 1, and what its witness did on the monitor.
pub struct Case {
    mnemonic: String,
    /// Why it is not privileged, in words.
    unprivileged: String,
    /// The witness that became the guest, and the run; `None` when no witness gave one.
    shown: Option<(Witness, Guest, EquivReport)>,
    /// Witnesses tried that did not become a diverging guest, and why.
    skipped: Vec<String>,
}

pub fn counterexample(args: &CounterexampleArgs) -> Result<ExitCode> {
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
    let (t1, cases) = find(&isa, &config)?;
    let all_shown = cases.iter().all(|c| c.shown.is_some());
    if args.json {
        let json = json!({
            "isa": isa.name,
            "theorem1": t1,
            "counterexamples": cases.iter().map(|c| case_json(&isa, c)).collect::<Vec<_>>(),
        });
        outln!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        out!("{}", text(&isa, &t1, &cases));
    }
    Ok(if all_shown {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Classifies the profile and demonstrates each instruction that breaks Theorem 1.
pub fn find(isa: &Arc<Isa>, config: &Config) -> Result<(Theorem, Vec<Case>)> {
    let report = crate::classify::run_classifier(std::slice::from_ref(&**isa), config)?.remove(0);
    let mut cases = Vec::new();
    for name in &report.theorem1.violations {
        let Some(insn) = report.instructions.iter().find(|i| &i.mnemonic == name) else {
            continue;
        };
        cases.push(demonstrate(isa, insn, config)?);
    }
    Ok((report.theorem1, cases))
}

/// Tries the instruction's sensitivity witnesses, then those of other seeds, until one
/// becomes a guest whose two runs part ways.
fn demonstrate(isa: &Arc<Isa>, insn: &InsnReport, config: &Config) -> Result<Case> {
    let mut case = Case {
        mnemonic: insn.mnemonic.clone(),
        unprivileged: witnessed(insn, Atom::NotPrivileged)
            .map_or_else(|| "not privileged".into(), |w| w.claim.clone()),
        shown: None,
        skipped: Vec::new(),
    };
    let id = isa
        .insn(&insn.mnemonic)
        .context("the classifier named an instruction the profile lacks")?;
    for k in 0..=RESEEDS {
        let reseeded;
        let report = if k == 0 {
            insn
        } else {
            let c = Config {
                seed: config.seed.wrapping_add(k),
                ..config.clone()
            };
            reseeded = pgvm_classify::classify_insn(isa, id, &c);
            &reseeded
        };
        for atom in SENSITIVE {
            let Some(w) = witnessed(report, atom) else {
                continue;
            };
            let guest = match guest_of_state(witness_state(w)) {
                Ok(g) => g,
                Err(why) => {
                    case.skipped
                        .push(format!("seed {}, {}: {why}", w.seed, atom.name()));
                    continue;
                }
            };
            // One instruction: the witness's own, which is where the definitions say it differs.
            let r = check_equivalence(isa.clone(), &guest, 1)?;
            if r.equivalent {
                case.skipped.push(format!(
                    "seed {}, {}: the runs agree after the instruction",
                    w.seed,
                    atom.name()
                ));
                continue;
            }
            case.shown = Some((w.clone(), guest, r));
            return Ok(case);
        }
    }
    Ok(case)
}

/// The state of a witness to run as a guest: the first, except for bounds sensitivity, where
/// the monitor only changes what the guest sees for a window hanging over the end of the VM
/// (it shrinks the bound to `w - l`), so the state whose window does that is the one to run.
fn witness_state(w: &Witness) -> &State {
    let hangs = |s: &&State| s.l.saturating_add(s.b) > s.q;
    match w.atom {
        Atom::BoundsUser | Atom::BoundsSuper => w.states.iter().find(hangs).unwrap_or(&w.states[0]),
        _ => &w.states[0],
    }
}

fn witnessed(insn: &InsnReport, atom: Atom) -> Option<&Witness> {
    match insn.findings.get(&atom) {
        Some(Finding::Witnessed { witness, .. }) => insn.witnesses.get(*witness),
        _ => None,
    }
}

/// The witness state as a guest of `w = q` words: its memory as segments, its PSW as the
/// entry. Nothing is moved or shrunk, so the guest is exactly the state the classifier saw.
fn guest_of_state(s: &State) -> Result<Guest, String> {
    let most = MAX_WORDS - CP_WORDS;
    if s.q > most {
        return Err(format!(
            "its q = {} words does not fit in a VM (at most {most} beside the monitor)",
            s.q
        ));
    }
    if s.assist {
        return Err("it starts with the assist on, and a guest starts with it off".into());
    }
    let mut segments: Vec<(u64, Vec<u64>)> = Vec::new();
    for &(pa, value) in &s.memory {
        match segments.last_mut() {
            Some((org, words)) if *org + words.len() as u64 == pa => words.push(value),
            _ => segments.push((pa, vec![value])),
        }
    }
    Ok(Guest {
        w: s.q,
        segments,
        entry: s.psw(),
        input: Vec::new(),
    })
}

/// The verdict and every case, as the command prints them.
pub fn text(isa: &Isa, t1: &Theorem, cases: &[Case]) -> String {
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
            c.mnemonic, c.unprivileged
        ));
        let Some((w, g, r)) = &c.shown else {
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
        for (org, words) in &g.segments {
            for (i, word) in words.iter().enumerate() {
                let a = org + i as u64;
                let mark = if pgvm_machine::develop(g.entry.p, g.entry.r, g.w) == Some(a) {
                    "  <- P"
                } else {
                    ""
                };
                out.push_str(&format!(
                    "    E[{a:#x}] = {word:#018x}  {}{mark}\n",
                    pgvm_asm::disassemble_word(*word, isa)
                ));
            }
        }
        // With one guest instruction the counts say what became of the witness's instruction.
        if r.direct + r.emulated + r.reflected == 1 {
            let how = if r.direct == 1 {
                "ran directly: in real user mode it did not trap, so the monitor never saw it"
            } else if r.emulated == 1 {
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

fn case_json(isa: &Isa, c: &Case) -> serde_json::Value {
    match &c.shown {
        Some((w, g, r)) => json!({
            "mnemonic": c.mnemonic,
            "not_privileged": c.unprivileged,
            "witness": w,
            "guest": {
                "w": g.w,
                "entry": g.entry.to_string(),
                "segments": g.segments.iter().map(|(org, words)| json!({
                    "org": org,
                    "words": words,
                    "disasm": words.iter().map(|x| pgvm_asm::disassemble_word(*x, isa)).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            },
            "equiv": equiv_json(isa, r),
        }),
        None => json!({
            "mnemonic": c.mnemonic,
            "not_privileged": c.unprivileged,
            "witness": null,
            "skipped": c.skipped,
        }),
    }
}
