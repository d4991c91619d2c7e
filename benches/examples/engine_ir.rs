//! One engine run, for `valgrind --tool=callgrind` (host instructions per guest instruction
//! are deterministic where wall-clock time on a shared machine is not).
//!
//! `engine_ir <block|block-ops|fast> <alu|compute|guests-relative-path> <profile> <n>`: `n` iterations
//! of the ALU or compute loop, or a guest run for at most `n` instructions. Prints the guest
//! instructions executed.

use std::sync::Arc;

use pgvm_benches::{alu_loop, compute_loop_on, workload};
use pgvm_machine::{Block, BlockOps, Engine, Fast, Machine};

fn go<E: Engine>(what: &str, profile: &str, n: u64) -> u64 {
    let isa = || Arc::new(pgvm_isa::load(profile).unwrap_or_else(|e| panic!("{e}")));
    let (mut m, steps): (Machine<E>, u64) = match what {
        "alu" => alu_loop(isa(), n),
        "compute" => compute_loop_on(isa(), n),
        rel => workload(profile, rel, n),
    };
    m.run(steps);
    m.steps()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, engine, what, profile, n] = &args[..] else {
        eprintln!("usage: engine_ir <block|block-ops|fast> <alu|compute|path> <profile> <n>");
        std::process::exit(2);
    };
    let n: u64 = n.parse().unwrap_or_else(|e| panic!("{e}"));
    let steps = match engine.as_str() {
        "fast" => go::<Fast>(what, profile, n),
        "block-ops" => go::<BlockOps>(what, profile, n),
        _ => go::<Block>(what, profile, n),
    };
    println!("{steps}");
}
