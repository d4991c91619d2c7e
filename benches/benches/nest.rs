//! The assembly monitor of `guests/vmm/` under itself (`pgvm nest`), on s370.
//!
//! - `nest_compute`: `guests/workloads/compute.s` bare and nested three deep. It has no
//!   interval timer, so every monitor runs it directly; target (issue): at least 90 % of bare
//!   speed by host time.
//! - `nest_compute_long`: the same program run ten times further
//!   (`benches/guests/compute-long.s`, 1..10000). The monitors' work for the guest's prints
//!   (their instructions, run on the ops, and their blocks compiled) does not grow with the
//!   run, so here it weighs a fourteenth as much and the ratio is mostly what running
//!   innocuous instructions directly gives.
//! - `nest_lpsw`: one guest `lpsw` in virtual supervisor mode at depths 1 to 4, as the time of
//!   a loop of 100 divided by 100 (the loop's other two instructions run directly). The
//!   model of docs/recursion.md says it costs 2^(n-1) traps at level 0.
//!
//! Each iteration builds the machine afresh (the image is built once), so the numbers include
//! copying the image into it; see docs/performance.md.

use std::path::Path;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pgvm_benches::{nested_image, run_bare, run_nested};
use pgvm_isa::Isa;
use pgvm_lab::nest::{self, L0, MONITOR_FILES, NestOptions, NestedImage};

const LPSW_LOOP: &str = "
        .entry go
        .org   0x10
go:     lpsw  next
back:   addi  n, -1
        jnz   n, go
        halt
next:   .psw  super, back, 0, 0x1fffff
n:      .word 100
";

fn opts(depth: u32) -> NestOptions {
    NestOptions {
        depth,
        l0: L0::SelfHosted,
        q: pgvm_machine::DEFAULT_WORDS,
        max_steps: 100_000_000,
    }
}

fn image(isa: &Arc<Isa>, src: &str, depth: u32) -> NestedImage {
    let p = pgvm_lab::program::from_source("<bench>", src, Some(&isa.name)).expect("assembles");
    let build = nest::assemble_monitor(isa, MONITOR_FILES).expect("the monitor assembles");
    NestedImage::new(&p.image, &build, &opts(depth)).expect("fits")
}

fn nest_compute(c: &mut Criterion) {
    let (isa, nested) = nested_image(None, 3);
    let mut g = c.benchmark_group("nest_compute");
    g.sample_size(20);
    g.bench_function("bare", |b| b.iter(|| run_bare(&isa, &nested)));
    g.bench_function("depth3", |b| b.iter(|| run_nested(&isa, &nested)));
    g.finish();
    let long = Path::new(env!("CARGO_MANIFEST_DIR")).join("guests/compute-long.s");
    let (isa, nested) = nested_image(Some(&long), 3);
    let mut g = c.benchmark_group("nest_compute_long");
    g.sample_size(20);
    g.bench_function("bare", |b| b.iter(|| run_bare(&isa, &nested)));
    g.bench_function("depth3", |b| b.iter(|| run_nested(&isa, &nested)));
    g.finish();
}

fn nest_lpsw(c: &mut Criterion) {
    let isa = Arc::new(pgvm_isa::load("s370").expect("s370"));
    let mut g = c.benchmark_group("nest_lpsw");
    g.throughput(Throughput::Elements(100));
    for depth in 1..=4 {
        let nested = image(&isa, LPSW_LOOP, depth);
        g.bench_function(format!("depth{depth}"), |b| {
            b.iter(|| {
                let (_, halted) = nested.run_self(&isa, u64::MAX).expect("runs");
                assert!(halted);
            });
        });
    }
    g.finish();
}

criterion_group!(benches, nest_compute, nest_lpsw);
criterion_main!(benches);
