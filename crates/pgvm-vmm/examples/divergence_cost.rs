//! What the equivalence checker's search for a late first divergence costs, against a bare
//! run of the same guest. A measurement to run by hand, not a test:
//!
//! ```text
//! cargo run --release -p pgvm-vmm --example divergence_cost -- W N
//! ```
//!
//! The guest (m68000, `w = W` words) counts down from `N / 2` in a two-instruction loop, then
//! executes `movesr`, which reads the real mode under the monitor: the runs diverge after
//! about `N` instructions.

use std::sync::Arc;
use std::time::Instant;

use pgvm_isa::{Isa, Mode};
use pgvm_machine::{Machine, Psw, StateView};
use pgvm_vmm::{Guest, TechniqueKind, check_equivalence};

fn enc(isa: &Isa, m: &str, ops: &[i128]) -> u64 {
    isa.encode(isa.insn(m).expect("mnemonic"), ops)
        .expect("operands fit")
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.replace('_', "").parse().expect("W and N are numbers"))
        .collect();
    let w = args.first().copied().unwrap_or(1 << 16);
    let n = args.get(1).copied().unwrap_or(10_000_000);
    let isa = Arc::new(pgvm_isa::load("m68000").expect("built-in"));
    let code = vec![
        enc(&isa, "addi", &[0x20, -1]),
        enc(&isa, "jnz", &[0x20, 0x10]),
        enc(&isa, "movesr", &[0x21]),
        enc(&isa, "halt", &[]),
    ];
    let guest = Guest {
        w,
        segments: vec![(0x10, code), (0x20, vec![n / 2])],
        entry: Psw::new(Mode::Supervisor, 0x10, 0, w).expect("psw"),
        input: Vec::new(),
        assist: false,
        clock: 0,
    };

    let t = Instant::now();
    let mut bare = Machine::new(isa.clone(), w).expect("machine");
    for (org, words) in &guest.segments {
        bare.write(*org, words).expect("fits");
    }
    bare.set_psw(guest.entry);
    bare.run(u64::MAX);
    let bare_time = t.elapsed();

    let t = Instant::now();
    let r = check_equivalence(isa, &guest, TechniqueKind::Tae, u64::MAX).expect("runs");
    let check_time = t.elapsed();
    let d = r.divergence.expect("movesr diverges");
    println!(
        "w = {w}, {} guest instructions, divergence at #{} ({})",
        r.guest_instructions, d.index, d.mnemonic
    );
    println!(
        "bare run {:.3} s, check with search {:.3} s ({:.1}x)",
        bare_time.as_secs_f64(),
        check_time.as_secs_f64(),
        check_time.as_secs_f64() / bare_time.as_secs_f64()
    );
}
