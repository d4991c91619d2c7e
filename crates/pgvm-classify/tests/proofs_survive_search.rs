//! Every `proof` verdict is checked against a search of a million states that ignores the
//! proofs: a proof that a search could refute would be a bug in the proof.
//!
//! Long-running: `cargo test --release -p pgvm-classify --test proofs_survive_search -- --ignored`.

use std::path::Path;

use pgvm_classify::generate::{Target, insn_seed};
use pgvm_classify::{ATOMS, Config, N_ATOMS, proved, search};
use rayon::prelude::*;

const STATES: u64 = 1_000_000;

fn profiles() -> Vec<pgvm_isa::Isa> {
    let mut isas: Vec<_> = pgvm_isa::builtin_names()
        .into_iter()
        .map(|n| pgvm_isa::load(n).unwrap_or_else(|e| panic!("{e}")))
        .filter(|i| !i.is_abstract)
        .collect();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/isa");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/isa")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    for f in files {
        isas.push(pgvm_isa::load_file(&f).unwrap_or_else(|e| panic!("{e}")));
    }
    isas
}

#[test]
#[ignore = "a million states per proven instruction: run with --release -- --ignored"]
fn every_proof_survives_a_million_state_search() {
    let isas = profiles();
    let config = Config::default();
    // One job per distinct (body, assist): the base repertoire is shared by every profile.
    let mut jobs = Vec::new();
    let mut seen: Vec<(Vec<pgvm_isa::Stmt>, bool)> = Vec::new();
    for isa in &isas {
        let assist = config.assist_for(isa);
        for (id, insn) in isa.insns.iter().enumerate() {
            let key = (insn.body.clone(), assist);
            if !seen.contains(&key) {
                seen.push(key);
                jobs.push((isa, id, assist));
            }
        }
    }
    let failures: Vec<String> = jobs
        .par_iter()
        .flat_map_iter(|&(isa, id, assist)| {
            let proven = proved(isa, id, assist);
            let mut open = [false; N_ATOMS];
            for (atom, _) in &proven {
                open[atom.index()] = true;
            }
            let target = Target::new(isa, id, assist);
            let mnemonic = &isa.insns[id].mnemonic;
            let seed = insn_seed(0x5eed, &isa.name, mnemonic);
            let tally = search::search(&target, seed, STATES, open);
            let mut bad = Vec::new();
            for a in ATOMS {
                if let Some((k, f)) = &tally.found[a.index()] {
                    let reason = proven.iter().find(|(x, _)| *x == a).map(|(_, r)| r.clone());
                    bad.push(format!(
                        "{} {mnemonic}: proof of no {} ({reason:?}) refuted at sample {k}: {}",
                        isa.name,
                        a.name(),
                        f.observation
                    ));
                }
                if open[a.index()] {
                    assert!(
                        tally.checked[a.index()] >= STATES,
                        "{mnemonic} {}",
                        a.name()
                    );
                }
            }
            bad
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
