//! `guests/workloads/compute.s` under the host-side trap-and-emulate monitor as a fraction of
//! its bare speed, measured in alternating pairs: bare, then under the monitor (one unbounded
//! `run_vm`), then with `pgvm vm`'s 10,000-instruction slices, PAIRS times; prints each
//! triple and the medians.
//!
//! `monitor_ratio [PAIRS]` (41 by default). Criterion's `monitor_compute` times the runs one
//! after another, each for seconds, so a change of the machine's load between them moves the
//! ratio by a few points, about the distance between 97 % and 100 %; here the runs are
//! milliseconds apart, in one binary.

use std::path::Path;
use std::time::{Duration, Instant};

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
    let pairs: usize = std::env::args()
        .nth(1)
        .map_or(41, |n| n.parse().expect("PAIRS: a number"))
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

    let run_bare = || {
        let mut m = bare.clone();
        assert_eq!(m.run(u64::MAX), Exit::Halted);
        assert_eq!(m.steps(), steps);
    };
    let run_mon = |slice: u64| {
        let mut m = mon.clone();
        if slice == u64::MAX {
            assert_eq!(m.run_vm(0, u64::MAX), VmExit::Halted);
        } else {
            m.run_all(slice, u64::MAX);
        }
        assert_eq!(m.vm(0).exit, Some(VmExit::Halted));
        assert_eq!(m.vm(0).steps(), steps);
    };
    // The time of one run of `f`, over at least `SIDE`.
    let per_run = |f: &dyn Fn()| {
        let (t, mut n) = (Instant::now(), 0u32);
        while t.elapsed() < SIDE {
            f();
            n += 1;
        }
        t.elapsed() / n
    };
    let (whole, sliced) = (|| run_mon(u64::MAX), || run_mon(SLICE));
    per_run(&run_bare);
    per_run(&whole);
    let mut ratios: (Vec<f64>, Vec<f64>) = (Vec::new(), Vec::new());
    for _ in 0..pairs {
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
    for (name, mut r) in [("monitor", ratios.0), ("sliced", ratios.1)] {
        r.sort_by(f64::total_cmp);
        println!(
            "{name}: median of {pairs} pairs {:.1} % of bare speed (quartiles {:.1} to {:.1} %)",
            100.0 * r[pairs / 2],
            100.0 * r[pairs / 4],
            100.0 * r[3 * pairs / 4],
        );
    }
}

fn ratio(bare: Duration, other: Duration) -> f64 {
    bare.as_secs_f64() / other.as_secs_f64()
}
