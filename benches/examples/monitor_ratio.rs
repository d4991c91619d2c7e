//! `guests/workloads/compute.s` under the host-side trap-and-emulate monitor as a fraction of
//! its bare speed, measured in alternating rounds: bare, then under the monitor (one
//! unbounded `run_vm`), then with `pgvm vm`'s 10,000-instruction slices, ROUNDS times; prints
//! each round and the medians of the two ratios. Each run is timed on its own fresh clone,
//! the clone and the drop left out.
//!
//! `monitor_ratio [ROUNDS]` (41 by default). Criterion's `monitor_compute` times the runs one
//! after another, each for seconds, so a change of the machine's load between them moves the
//! ratio by a few points, about the distance between 97 % and 100 %; here the runs are
//! milliseconds apart, in one binary.

use std::path::Path;
use std::time::{Duration, Instant};

use pgvm_benches::{quartiles, ratio};
use pgvm_machine::{Exit, Machine, Psw, StateView};
use pgvm_testkit::isa;
use pgvm_vmm::{CP_WORDS, Monitor, VmExit};

/// Each side repeats its run until it has taken at least this long.
const SIDE: Duration = Duration::from_millis(20);
/// The guest's memory, as `pgvm vm` gives it by default.
const W: u64 = 65536;
/// `pgvm vm`'s default time slice.
const SLICE: u64 = 10_000;

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map_or(41, |n| n.parse().expect("ROUNDS: a number"))
        .max(1);
    let isa = isa("s370");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../guests/workloads/compute.s");
    let image = pgvm_asm::assemble_file(&path, &isa).expect("compute.s assembles");
    let e = image.entry;
    let entry = Psw::new(e.mode, e.p, e.l, e.b.unwrap_or(W - e.l)).expect("a valid entry");
    let mut bare = Machine::new(isa.clone(), W).expect("a machine");
    for s in &image.segments {
        bare.write(s.org, &s.words).expect("fits");
    }
    bare.set_psw(entry);
    let mut mon = Monitor::new(isa.clone(), CP_WORDS + W).expect("a monitor");
    let segs: Vec<(u64, &[u64])> = image
        .segments
        .iter()
        .map(|s| (s.org, &s.words[..]))
        .collect();
    mon.create_vm(W, &segs, entry).expect("the guest fits");
    let mut probe = bare.clone();
    assert_eq!(probe.run(u64::MAX), Exit::Halted);
    let steps = probe.steps();

    // Each run on a fresh clone, timed without the clone and the drop (a copy of 512 KiB of
    // memory each way), as criterion's `iter_batched` times `monitor_compute`.
    let run_bare = || {
        let mut m = bare.clone();
        let t = Instant::now();
        assert_eq!(m.run(u64::MAX), Exit::Halted);
        let d = t.elapsed();
        assert_eq!(m.steps(), steps);
        d
    };
    let run_mon = |slice: u64| {
        let mut m = mon.clone();
        let t = Instant::now();
        if slice == u64::MAX {
            assert_eq!(m.run_vm(0, u64::MAX), VmExit::Halted);
        } else {
            m.run_all(slice, u64::MAX);
        }
        let d = t.elapsed();
        assert_eq!(m.vm(0).exit, Some(VmExit::Halted));
        assert_eq!(m.vm(0).steps(), steps);
        d
    };
    // The time of one run of `f` (which times itself), over runs that take `SIDE` in all.
    let per_run = |f: &dyn Fn() -> Duration| {
        let (t, mut n, mut sum) = (Instant::now(), 0u32, Duration::ZERO);
        while t.elapsed() < SIDE {
            sum += f();
            n += 1;
        }
        sum / n
    };
    let (whole, sliced) = (|| run_mon(u64::MAX), || run_mon(SLICE));
    per_run(&run_bare);
    per_run(&whole);
    per_run(&sliced);
    let mut ratios: (Vec<f64>, Vec<f64>) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let (b, m, s) = (per_run(&run_bare), per_run(&whole), per_run(&sliced));
        let (rm, rs) = (ratio(b, m), ratio(b, s));
        println!(
            "bare {b:?}  monitor {m:?} {:.1} %  sliced {s:?} {:.1} %",
            100.0 * rm,
            100.0 * rs
        );
        ratios.0.push(rm);
        ratios.1.push(rs);
    }
    for (name, r) in [("monitor", ratios.0), ("sliced", ratios.1)] {
        let [low, median, high] = quartiles(r);
        println!(
            "{name}: median of {rounds} rounds {:.1} % of bare speed (quartiles {:.1} to {:.1} %)",
            100.0 * median,
            100.0 * low,
            100.0 * high,
        );
    }
}
