//! Guest instructions a second of the bare workloads under `block` and `block-ops`, timed in
//! alternating pairs in one binary (the two engines see the same machine load), with each
//! engine's median over the pairs.
//!
//! `engine_speed [PAIRS] [REL...]` (11 pairs; by default every workload and tsos, on s370).
//! Criterion's `workload_bare` is the record; this is the quick look between two changes.

use std::time::{Duration, Instant};

use pgvm_benches::{quartiles, workload};
use pgvm_machine::{Block, BlockOps, Engine, Machine};

/// Each side of a pair repeats its run until it has taken at least this long.
const SIDE: Duration = Duration::from_millis(30);

/// Guest instructions a second of runs of `template`, each `steps` long, for `SIDE`. Each
/// run is on a fresh clone, and the clone and its drop are left out of the time, as
/// criterion's `iter_batched` leaves them out.
fn speed<E: Engine>(template: &Machine<E>, steps: u64) -> f64 {
    let (t, mut n, mut busy) = (Instant::now(), 0u32, Duration::ZERO);
    while t.elapsed() < SIDE {
        let mut m = template.clone();
        let run = Instant::now();
        m.run(steps);
        busy += run.elapsed();
        assert_eq!(m.steps(), steps);
        n += 1;
    }
    steps as f64 * f64::from(n) / busy.as_secs_f64()
}

fn median(v: Vec<f64>) -> f64 {
    quartiles(v)[1]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let pairs: usize = args
        .next()
        .map_or(11, |n| n.parse().expect("PAIRS: a number"))
        .max(1);
    let mut rels: Vec<String> = args.collect();
    if rels.is_empty() {
        rels = [
            "workloads/compute.s",
            "workloads/sieve.s",
            "workloads/sort.s",
            "workloads/syscalls.s",
            "workloads/yield.s",
            "tsos/s370.s",
        ]
        .map(String::from)
        .to_vec();
    }
    for rel in &rels {
        let (block, steps) = workload::<Block>("s370", rel, u64::MAX);
        let (ops, _) = workload::<BlockOps>("s370", rel, u64::MAX);
        let (mut b, mut o) = (Vec::new(), Vec::new());
        for _ in 0..pairs {
            b.push(speed(&block, steps));
            o.push(speed(&ops, steps));
        }
        let (b, o) = (median(b), median(o));
        println!(
            "{rel:24} {steps:>9} steps  block {:7.1} M/s  block-ops {:7.1} M/s  ({:.2}x)",
            b / 1e6,
            o / 1e6,
            b / o
        );
    }
}
