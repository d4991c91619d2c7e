//! One nested run of `guests/workloads/compute.s`, for `valgrind --tool=callgrind`.
//!
//! `nest_ir <bare|DEPTH> [TIMES] [GUEST]`: the compute workload (or the guest at path GUEST)
//! bare, or nested DEPTH deep under the assembly monitor on s370 (level 0: the monitor on the
//! bare machine), TIMES times (1 by default; more for a whole-process timing, to outweigh the
//! assembly of the monitor).

use std::path::Path;

use pgvm_lab::nest::{self, L0, MONITOR_FILES, NestOptions, NestedImage};
use pgvm_machine::{Exit, Machine, StateView};

fn main() {
    let arg = std::env::args().nth(1).unwrap_or_else(|| "3".into());
    let path = std::env::args().nth(3).map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../guests/workloads/compute.s"),
        std::path::PathBuf::from,
    );
    let p = pgvm_lab::program::load(&path, None).expect("the guest loads");
    let isa = p.isa.clone();
    let build = nest::assemble_monitor(&isa, MONITOR_FILES).expect("the monitor assembles");
    let depth = if arg == "bare" {
        3
    } else {
        arg.parse().expect("the first argument: bare or a depth")
    };
    let times: u32 = std::env::args()
        .nth(2)
        .map_or(1, |t| t.parse().expect("TIMES: a number"));
    let o = NestOptions {
        depth,
        l0: L0::SelfHosted,
        q: pgvm_machine::DEFAULT_WORDS,
        max_steps: 100_000_000,
    };
    let nested = NestedImage::new(&p.image, &build, &o).expect("fits");
    for _ in 0..times {
        once(&arg, &isa, &nested);
    }
}

fn once(arg: &str, isa: &std::sync::Arc<pgvm_isa::Isa>, nested: &NestedImage) {
    if arg == "bare" {
        let mut m = Machine::new(isa.clone(), nested.w).expect("machine");
        for (org, words) in &nested.guest.segments {
            m.write(*org, words).expect("fits");
        }
        m.set_psw(nested.guest.entry);
        assert_eq!(m.run(u64::MAX), Exit::Halted);
    } else {
        let (_, halted) = nested.run_self(isa, u64::MAX).expect("runs");
        assert!(halted);
    }
}
