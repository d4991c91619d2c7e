//! The monitor's round trip, for `valgrind --tool=callgrind`: the `monitor_roundtrip` bench's
//! `lrb_x8` loop (eight privileged instructions an iteration, each trapping to the host-side
//! trap-and-emulate monitor and emulated on the virtual state) run once.
//!
//! `rt_ir [ITERATIONS] [INSN]`: 10,000 iterations of `lrb` by default. Two runs with different
//! iterations, differenced, give host instructions per round trip without the setup.

use pgvm_machine::Reloc;
use pgvm_testkit::{enc, isa, supervisor};
use pgvm_vmm::{CP_WORDS, Monitor, VmExit};

fn main() {
    let iterations: u64 = std::env::args()
        .nth(1)
        .map_or(10_000, |s| s.parse().expect("ITERATIONS: a number"));
    let insn = std::env::args().nth(2).unwrap_or_else(|| "lrb".into());
    let isa = isa("s370");
    const W: u64 = 256;
    const ORG: u64 = 0x10;
    let (i, operand) = (0x80, 0x81);
    // An operand that leaves the guest's state as it was (as the bench's loops do).
    let value = match insn.as_str() {
        "lrb" => Reloc { l: 0, b: W }.pack(),
        "out" => b'.' as u64,
        _ => 0,
    };
    let mut code = vec![enc(&isa, &insn, &[operand]); 8];
    code.push(enc(&isa, "addi", &[i, -1]));
    code.push(enc(&isa, "jnz", &[i, ORG as i128]));
    code.push(enc(&isa, "halt", &[]));
    let mut mon = Monitor::new(isa.clone(), CP_WORDS + W).expect("a monitor");
    let data = [iterations, value];
    mon.create_vm(W, &[(ORG, &code), (i as u64, &data)], supervisor(ORG, W))
        .expect("the guest fits");
    assert_eq!(mon.run_vm(0, u64::MAX), VmExit::Halted);
}
