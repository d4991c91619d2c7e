//! Recursive virtualization: the assembly monitor under itself, checked against bare runs.

use std::path::Path;
use std::sync::Arc;

use pgvm_lab::nest::{self, L0, MONITOR_FILES, NestOptions, NestReport};

fn guest(rel: &str) -> (Arc<pgvm_isa::Isa>, pgvm_asm::Image) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guests").join(rel);
    let p = pgvm_lab::program::load(&path, None).expect("the guest loads");
    (p.isa, p.image)
}

fn nest_run(rel: &str, depth: u32, l0: L0) -> NestReport {
    let (isa, image) = guest(rel);
    let build = nest::assemble_monitor(&isa, MONITOR_FILES).expect("the monitor assembles");
    let opts = NestOptions {
        depth,
        l0,
        q: pgvm_machine::DEFAULT_WORDS,
        max_steps: 4_000_000_000,
    };
    nest::run(&isa, &image, &build, &opts).expect("nests")
}

#[test]
fn smoke() {
    for (rel, depth, l0) in [
        ("workloads/compute.s", 1, L0::SelfHosted),
        ("workloads/compute.s", 2, L0::SelfHosted),
        ("tsos/s370.s", 1, L0::SelfHosted),
        ("tsos/s370.s", 2, L0::SelfHosted),
        ("tsos/s370.s", 2, L0::Native),
        ("tsos/s370.s", 3, L0::SelfHosted),
    ] {
        let t = std::time::Instant::now();
        let r = nest_run(rel, depth, l0);
        eprintln!(
            "{rel} depth {depth} {l0:?}: eq {} {:?} bare {} nested {} ({:?}) exit {}",
            r.equivalent,
            r.differences,
            r.bare_instructions,
            r.nested_instructions,
            t.elapsed(),
            r.nested_exit
        );
        for l in &r.levels {
            eprintln!("   {l:?}");
        }
        assert!(r.equivalent);
    }
}
