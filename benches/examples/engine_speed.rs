//! Guest instructions a second of the bare workloads under `block` and `block-ops`, timed in
//! alternating pairs in one binary (the two engines see the same machine load), with each
//! engine's median over the pairs.
//!
//! `engine_speed [PAIRS] [REL...]` (11 pairs; by default every workload and tsos, on s370).
//! Criterion's `workload_bare` is the record; this is the quick look between two changes.

use std::time::Duration;

use pgvm_benches::{BARE_WORKLOADS, quartiles, speed, workload};
use pgvm_machine::{Block, BlockOps};

/// Each side of a pair repeats its run until it has taken at least this long.
const SIDE: Duration = Duration::from_millis(30);

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
        rels = BARE_WORKLOADS.map(String::from).to_vec();
    }
    for rel in &rels {
        let (block, steps) = workload::<Block>("s370", rel, u64::MAX);
        let (ops, _) = workload::<BlockOps>("s370", rel, u64::MAX);
        let (mut b, mut o) = (Vec::new(), Vec::new());
        for _ in 0..pairs {
            b.push(speed(&block, steps, SIDE));
            o.push(speed(&ops, steps, SIDE));
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
