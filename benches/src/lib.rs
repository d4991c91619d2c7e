//! Workloads shared by the benchmarks, built straight from the ISA descriptions.

use std::sync::Arc;

use pgvm_isa::{Isa, Mode};
use pgvm_machine::{Machine, Psw, StateView};

/// Where the compute loop starts.
const ORG: u64 = 0x10;

/// A machine running the compute loop `acc += i; i -= 1; until i == 0`, three instructions an
/// iteration, in user mode with `R = <0x100, 0x100>` (so every reference is relocated).
/// Returns the machine and the number of instructions one full run executes.
pub fn compute_loop(isa: Arc<Isa>, iterations: u64) -> (Machine, u64) {
    let enc = |m: &str, ops: &[i128]| -> u64 {
        let id = isa
            .insn(m)
            .unwrap_or_else(|| panic!("{} has no {m}", isa.name));
        isa.encode(id, ops).unwrap_or_else(|e| panic!("{m}: {e}"))
    };
    let (acc, i) = (0x40, 0x41);
    let program = [
        enc("add", &[acc, acc, i]),
        enc("addi", &[i, -1]),
        enc("jnz", &[i, ORG as i128]),
        enc("jmp", &[ORG as i128 + 3]),
    ];
    let mut m = Machine::new(isa, 0x200).unwrap_or_else(|e| panic!("{e}"));
    let l = 0x100;
    m.write(l + ORG, &program).unwrap_or_else(|e| panic!("{e}"));
    m.write(l + 0x41, &[iterations])
        .unwrap_or_else(|e| panic!("{e}"));
    m.set_psw(Psw::new(Mode::User, ORG, l, 0x100).unwrap_or_else(|e| panic!("{e}")));
    (m, 3 * iterations)
}
