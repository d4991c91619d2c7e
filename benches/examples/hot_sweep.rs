//! The block engine at several native thresholds (`Blocks<HOT>`), timed in alternating rounds
//! in one binary, so that each threshold sees the same machine load: how the default
//! threshold of [`pgvm_machine::Block`] was chosen (docs/performance.md, "Native code made
//! cheaply").
//!
//! `hot_sweep [ROUNDS] [REL...]` (11 rounds; by default every workload and tsos, on s370).
//! Each run is on a fresh clone of the loaded machine, with the clone and its drop left out
//! of the time, as criterion leaves them out; each threshold's median over the rounds is
//! printed, in guest instructions a second.

use std::time::Duration;

use pgvm_benches::{BARE_WORKLOADS, quartiles, speed, workload};
use pgvm_machine::{Blocks, Engine, Machine, NEVER_NATIVE};

/// Each threshold's turn in a round repeats its run until it has taken at least this long.
const TURN: Duration = Duration::from_millis(30);

/// One threshold's machine, type-erased so that the thresholds fit one list.
trait Timed {
    fn speed(&self, steps: u64) -> f64;
}

impl<E: Engine> Timed for Machine<E> {
    fn speed(&self, steps: u64) -> f64 {
        speed(self, steps, TURN)
    }
}

/// The workload `rel` loaded for threshold `HOT`.
fn load<const HOT: u32>(rel: &str) -> (Box<dyn Timed>, u64) {
    let (m, steps) = workload::<Blocks<HOT>>("s370", rel, u64::MAX);
    (Box::new(m), steps)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args
        .next()
        .map_or(11, |n| n.parse().expect("ROUNDS: a number"))
        .max(1);
    let mut rels: Vec<String> = args.collect();
    if rels.is_empty() {
        rels = BARE_WORKLOADS.map(String::from).to_vec();
    }
    let names = ["256", "1024", "4096", "16384", "ops"];
    println!(
        "{:24} {:>9}  {}",
        "M guest instructions/s",
        "steps",
        names.map(|n| format!("{n:>8}")).join("")
    );
    for rel in &rels {
        let machines = [
            load::<256>(rel),
            load::<1024>(rel),
            load::<4096>(rel),
            load::<16384>(rel),
            load::<NEVER_NATIVE>(rel),
        ];
        let steps = machines[0].1;
        let mut speeds = vec![Vec::new(); machines.len()];
        for _ in 0..rounds {
            for ((m, _), s) in machines.iter().zip(&mut speeds) {
                s.push(m.speed(steps));
            }
        }
        let medians: Vec<String> = speeds
            .into_iter()
            .map(|s| format!("{:8.1}", quartiles(s)[1] / 1e6))
            .collect();
        println!("{rel:24} {steps:>9}  {}", medians.join(""));
    }
}
