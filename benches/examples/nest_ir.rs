//! One nested run of `guests/workloads/compute.s`, for `valgrind --tool=callgrind`.
//!
//! `nest_ir <bare|DEPTH> [TIMES] [GUEST]`: the compute workload (or the guest at path GUEST)
//! bare, or nested DEPTH deep under the assembly monitor on s370 (level 0: the monitor on the
//! bare machine), TIMES times (1 by default; more for a whole-process timing, to outweigh the
//! assembly of the monitor).

use std::path::PathBuf;

use pgvm_benches::{nested_image, run_bare, run_nested};

fn main() {
    let arg = std::env::args().nth(1).unwrap_or_else(|| "3".into());
    let path = std::env::args().nth(3).map(PathBuf::from);
    let depth = if arg == "bare" {
        3
    } else {
        arg.parse().expect("the first argument: bare or a depth")
    };
    let times: u32 = std::env::args()
        .nth(2)
        .map_or(1, |t| t.parse().expect("TIMES: a number"));
    let (isa, nested) = nested_image(path.as_deref(), depth);
    for _ in 0..times {
        if arg == "bare" {
            run_bare(&isa, &nested);
        } else {
            run_nested(&isa, &nested);
        }
    }
}
