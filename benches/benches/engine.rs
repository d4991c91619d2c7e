//! The engine's hot loop, for every built-in profile, and the workloads bare.
//!
//! - `compute_loop/<profile>`: `acc += i; i -= 1; until i == 0` (3 instructions a lap) on the
//!   default engine (the block engine); the name is the one earlier measurements used.
//! - `alu_loop/<profile>/<engine>`: issue 14's ALU loop (`add`, `xor`, `addi`, `jnz`), the
//!   loop `bench/peer/` runs under QEMU and natively, on the block engine (`block`: native
//!   code for a block that loops on itself, on x86-64), the same without native code
//!   (`block-ops`) and the fast engine.
//! - `workload_bare/<guest>/<engine>`: the workloads of `guests/workloads` and tsos on s370,
//!   bare, on the same three engines.
//!
//! Targets (issue 14): at least 1e9 guest instructions per second for the loops and the
//! compute workload, 4e8 for the syscall-heavy and context-switch-heavy workloads and tsos.

use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use pgvm_benches::{BARE_WORKLOADS, alu_loop, compute_loop, workload};
use pgvm_machine::{Block, BlockOps, Engine, Fast, Machine};

const ITERATIONS: u64 = 1_000_000;

fn timed<E: Engine>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    template: &Machine<E>,
    steps: u64,
) {
    group.throughput(Throughput::Elements(steps));
    group.bench_function(name, |b| {
        b.iter_batched(
            || template.clone(),
            |mut m| {
                m.run(steps);
                assert_eq!(m.steps(), steps);
                m
            },
            BatchSize::LargeInput,
        )
    });
}

fn profiles() -> Vec<(&'static str, Arc<pgvm_isa::Isa>)> {
    pgvm_isa::builtin_names()
        .iter()
        .map(|&name| {
            (
                name,
                Arc::new(pgvm_isa::load(name).unwrap_or_else(|e| panic!("{e}"))),
            )
        })
        .filter(|(_, isa)| !isa.is_abstract)
        .collect()
}

fn engine(c: &mut Criterion) {
    let mut group = c.benchmark_group("compute_loop");
    for (name, isa) in profiles() {
        let (template, steps) = compute_loop(isa, ITERATIONS);
        timed(&mut group, name, &template, steps);
    }
    group.finish();
}

fn alu(c: &mut Criterion) {
    let mut group = c.benchmark_group("alu_loop");
    for (name, isa) in profiles() {
        let (block, steps) = alu_loop::<Block>(isa.clone(), ITERATIONS);
        timed(&mut group, &format!("{name}/block"), &block, steps);
        let (ops, steps) = alu_loop::<BlockOps>(isa.clone(), ITERATIONS);
        timed(&mut group, &format!("{name}/block-ops"), &ops, steps);
        let (fast, steps) = alu_loop::<Fast>(isa, ITERATIONS);
        timed(&mut group, &format!("{name}/fast"), &fast, steps);
    }
    group.finish();
}

fn workloads(c: &mut Criterion) {
    let mut group = c.benchmark_group("workload_bare");
    for (profile, rel) in BARE_WORKLOADS.map(|rel| ("s370", rel)) {
        let (block, steps) = workload::<Block>(profile, rel, u64::MAX);
        timed(&mut group, &format!("{rel}/block"), &block, steps);
        let (ops, steps) = workload::<BlockOps>(profile, rel, u64::MAX);
        timed(&mut group, &format!("{rel}/block-ops"), &ops, steps);
        let (fast, steps) = workload::<Fast>(profile, rel, u64::MAX);
        timed(&mut group, &format!("{rel}/fast"), &fast, steps);
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = engine, alu, workloads
}
criterion_main!(benches);
