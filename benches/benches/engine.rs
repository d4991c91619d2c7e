//! The engine's hot loop: a compute-bound guest, for every built-in profile.
//!
//! Target (a later issue measures it): at least 5e8 guest instructions per second.

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pgvm_benches::compute_loop;

const ITERATIONS: u64 = 1_000_000;

fn engine(c: &mut Criterion) {
    let mut group = c.benchmark_group("compute_loop");
    for name in pgvm_isa::builtin_names() {
        let isa = Arc::new(pgvm_isa::load(name).unwrap_or_else(|e| panic!("{e}")));
        if isa.is_abstract {
            continue;
        }
        let (template, steps) = compute_loop(isa, ITERATIONS);
        group.throughput(Throughput::Elements(steps));
        group.bench_function(name, |b| {
            b.iter_batched(
                || template.clone(),
                |mut m| {
                    m.run(steps);
                    assert_eq!(m.steps(), steps);
                    m
                },
                criterion::BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = engine
}
criterion_main!(benches);
