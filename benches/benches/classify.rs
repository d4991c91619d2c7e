//! The classifier: all seven built-in profiles with the default settings (10^5 states per
//! instruction and open question, seed 0), every instruction in parallel.
//!
//! Target (issue 4): under 5 s on the 2-core development machine.

use criterion::{Criterion, criterion_group, criterion_main};
use pgvm_classify::{Config, classify_all};

fn classify(c: &mut Criterion) {
    let isas: Vec<_> = pgvm_isa::builtin_names()
        .into_iter()
        .map(|n| pgvm_isa::load(n).unwrap_or_else(|e| panic!("{e}")))
        .filter(|i| !i.is_abstract)
        .collect();
    let config = Config::default();
    let mut group = c.benchmark_group("classify");
    group.sample_size(10);
    group.measurement_time(std::time::Duration::from_secs(25));
    group.bench_function("all_builtin_profiles", |b| {
        b.iter(|| {
            let reports = classify_all(&isas, &config, &|| {}).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(reports.len(), 7);
            reports
        })
    });
    group.finish();
}

criterion_group!(benches, classify);
criterion_main!(benches);
