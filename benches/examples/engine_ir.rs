//! One engine run, for `valgrind --tool=callgrind` (host instructions per guest instruction
//! are deterministic where wall-clock time on a shared machine is not).
//!
//! `engine_ir <block|block-ops|fast> <alu|compute|guests-relative-path> <profile> <n>`: `n` iterations
//! of the ALU or compute loop, or a guest run for at most `n` instructions, `reps` times (1 by
//! default) on clones of one machine. Prints the guest instructions executed by one run.

use std::sync::Arc;

use pgvm_benches::{alu_loop, compute_loop_on, workload};
use pgvm_machine::{Block, BlockOps, Engine, Fast, Machine};

fn go<E: Engine>(what: &str, profile: &str, n: u64, reps: u32) -> u64 {
    let isa = || Arc::new(pgvm_isa::load(profile).unwrap_or_else(|e| panic!("{e}")));
    let (m, steps): (Machine<E>, u64) = match what {
        "alu" => alu_loop(isa(), n),
        "compute" => compute_loop_on(isa(), n),
        rel => workload(profile, rel, n),
    };
    let mut done = 0;
    for _ in 0..reps {
        let mut run = m.clone();
        run.run(steps);
        done = run.steps();
    }
    done
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (engine, what, profile, n, reps) = match &args[..] {
        [_, e, w, p, n] => (e, w, p, n, 1),
        [_, e, w, p, n, r] => (e, w, p, n, r.parse().unwrap_or_else(|e| panic!("{e}"))),
        _ => {
            eprintln!(
                "usage: engine_ir <block|block-ops|fast> <alu|compute|path> <profile> <n> [reps]"
            );
            std::process::exit(2);
        }
    };
    let n: u64 = n.parse().unwrap_or_else(|e| panic!("{e}"));
    let steps = match engine.as_str() {
        "fast" => go::<Fast>(what, profile, n, reps),
        "block-ops" => go::<BlockOps>(what, profile, n, reps),
        _ => go::<Block>(what, profile, n, reps),
    };
    println!("{steps}");
}
