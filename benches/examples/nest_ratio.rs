//! The nested run's speed as a fraction of the bare run's, measured in pairs: `compute.s` (or
//! the guest at path GUEST) bare, then nested DEPTH deep under the assembly monitor on s370,
//! alternately, PAIRS times; prints each pair's bare/nested time ratio and their median.
//!
//! `nest_ratio [DEPTH] [PAIRS] [GUEST]` (3, 41 by default). Criterion's `nest_compute` times
//! the two runs one after the other, each over seconds, so a change in the machine's load
//! between them moves the ratio by several points; a pair here is two runs a few
//! milliseconds apart, in one binary, so both see the same machine and the same code layout.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use pgvm_benches::{nested_image, quartiles, ratio, run_bare, run_nested};

/// Each side of a pair repeats its run until it has taken at least this long.
const SIDE: Duration = Duration::from_millis(20);

fn main() {
    let depth: u32 = std::env::args()
        .nth(1)
        .map_or(3, |d| d.parse().expect("DEPTH: a number"));
    let pairs: usize = std::env::args()
        .nth(2)
        .map_or(41, |n| n.parse().expect("PAIRS: a number"))
        .max(1);
    let path = std::env::args().nth(3).map(PathBuf::from);
    let (isa, nested) = nested_image(path.as_deref(), depth);
    let bare = || run_bare(&isa, &nested);
    let deep = || run_nested(&isa, &nested);
    // Runs `f` until `SIDE` has passed; the time of one run.
    let per_run = |f: &dyn Fn()| {
        let (t, mut n) = (Instant::now(), 0u32);
        while t.elapsed() < SIDE {
            f();
            n += 1;
        }
        t.elapsed() / n
    };
    per_run(&bare);
    per_run(&deep);
    let ratios: Vec<f64> = (0..pairs)
        .map(|_| {
            let (b, d) = (per_run(&bare), per_run(&deep));
            println!(
                "bare {b:?}  depth {depth} {d:?}  {:.1} %",
                100.0 * ratio(b, d)
            );
            ratio(b, d)
        })
        .collect();
    let [low, median, high] = quartiles(ratios);
    println!(
        "median of {pairs} pairs: {:.1} % of bare speed at depth {depth} (quartiles {:.1} to {:.1} %)",
        100.0 * median,
        100.0 * low,
        100.0 * high,
    );
}
