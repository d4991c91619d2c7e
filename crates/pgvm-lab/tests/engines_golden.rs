//! Golden runs: every guest in `guests/` that assembles on its own runs to the same final
//! state (exit, clock, PSW, memory, console, trap counts) under every engine backend.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pgvm_isa::Isa;
use pgvm_machine::{
    Block, BlockOps, DEFAULT_WORDS, Engine, Exit, Fast, Interpreter, Machine, StateView,
};

/// What a run ends with, for comparison across engines.
#[derive(Debug, PartialEq)]
struct Final {
    exit: Exit,
    steps: u64,
    psw: pgvm_machine::Psw,
    output: Vec<u8>,
    stats: pgvm_machine::Stats,
    memory: Vec<u64>,
}

fn run<E: Engine>(isa: &Arc<Isa>, image: &pgvm_asm::Image, budget: u64) -> Final {
    let mut m = Machine::<E>::with_engine(isa.clone(), DEFAULT_WORDS).expect("machine");
    image.load_into(&mut m).expect("loads");
    let exit = m.run(budget);
    Final {
        exit,
        steps: m.steps(),
        psw: m.psw(),
        output: m.output().to_vec(),
        stats: m.stats().clone(),
        memory: m.memory().to_vec(),
    }
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("guests/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "s") {
            out.push(p);
        }
    }
}

/// Every guest that assembles on its own (the others are fragments for `.include`).
fn guests() -> Vec<(PathBuf, pgvm_lab::program::Program)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guests");
    let mut files = Vec::new();
    sources(&root, &mut files);
    files
        .into_iter()
        .filter_map(|f| pgvm_lab::program::load(&f, None).ok().map(|p| (f, p)))
        .collect()
}

/// Compares the engines on every guest for `budget(steps)` instructions, where `steps`
/// is how long the guest runs on the block engine within `cap`; returns how many halted.
fn compare_all(cap: u64, budget: impl Fn(u64) -> u64) -> usize {
    let all = guests();
    assert!(all.len() >= 20, "found only {} guests", all.len());
    let mut halted = 0;
    for (path, p) in &all {
        let probe = run::<Block>(&p.isa, &p.image, cap);
        let b = budget(probe.steps);
        let block = run::<Block>(&p.isa, &p.image, b);
        let ops = run::<BlockOps>(&p.isa, &p.image, b);
        let fast = run::<Fast>(&p.isa, &p.image, b);
        let reference = run::<Interpreter>(&p.isa, &p.image, b);
        let name = path.display();
        assert!(
            block == reference,
            "{name}: block engine differs from the interpreter"
        );
        assert!(
            ops == reference,
            "{name}: block engine without native code differs from the interpreter"
        );
        assert!(
            fast == reference,
            "{name}: fast engine differs from the interpreter"
        );
        halted += usize::from(reference.exit == Exit::Halted);
    }
    halted
}

/// Guests that halt within about a million instructions run to their halt; the longer ones
/// (tsos, the assembly monitors) for their first 300 000 instructions.
#[test]
fn every_guest_ends_in_the_same_state_under_every_engine() {
    let halted = compare_all(
        1_200_000,
        |steps| {
            if steps < 1_200_000 { steps } else { 300_000 }
        },
    );
    assert!(halted >= 10, "only {halted} guests halted");
}

/// Every guest to its halt (tsos on every profile: about 5 million instructions each) or 30
/// million instructions. Slow under the interpreter in a debug build: run with
/// `cargo test --release -p pgvm-lab --test engines_golden -- --ignored`.
#[test]
#[ignore = "minutes in a debug build; run with --release -- --ignored"]
fn every_guest_to_its_halt_ends_in_the_same_state_under_every_engine() {
    let halted = compare_all(30_000_000, |steps| steps);
    assert!(halted >= 18, "only {halted} guests halted");
}
