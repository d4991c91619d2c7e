//! The fast engine specializes common instruction shapes. It must agree, state for state,
//! with the one semantic interpreter that the monitor and the classifier use.

mod common;

use std::sync::Arc;

use common::Reference;
use pgvm_isa::Isa;
use pgvm_machine::{Exit, Machine, StateView};
use pgvm_testkit::{Program, hostile_guest, random_guest};
use proptest::prelude::*;

fn check(name: &str, seed: u64) -> Result<(), TestCaseError> {
    let isa = common::isa(name);
    compare(random_guest(&isa, seed), &isa, seed)
}

fn check_hostile(name: &str, seed: u64) -> Result<(), TestCaseError> {
    let isa = common::isa(name);
    compare(hostile_guest(&isa, seed), &isa, seed)
}

/// Runs a program on the engine and on the reference interpreter and compares the states.
/// Console input is left out: the reference has no input device.
fn compare(program: Program, isa: &Arc<Isa>, seed: u64) -> Result<(), TestCaseError> {
    let Program {
        w,
        image: mem,
        entry: psw,
        ..
    } = program;
    let mut m = Machine::new(isa.clone(), w).expect("machine");
    m.write(0, &mem).expect("fits");
    m.set_psw(psw);
    let exit = m.run(3000);
    let mut r = Reference::new(mem, psw);
    r.run_to(isa, m.steps(), isa.features.timer.unwrap_or(1));
    prop_assert_eq!(
        exit == Exit::Halted,
        r.halted,
        "halt disagrees (seed {})",
        seed
    );
    prop_assert_eq!(m.psw(), r.psw, "PSW disagrees (seed {})", seed);
    prop_assert_eq!(m.output(), &r.out[..], "console disagrees (seed {})", seed);
    prop_assert_eq!(m.assist_bit(), r.assist, "assist disagrees (seed {})", seed);
    prop_assert!(m.memory() == &r.mem[..], "memory disagrees (seed {})", seed);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn engine_agrees_with_interpreter(seed in any::<u64>(), which in 0usize..7) {
        let names = ["s370", "ppc", "pdp10", "m68000", "m68010", "ia32", "ia32-vt"];
        check(names[which], seed)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Hostile programs reach the engine's edges: `R` loaded from arbitrary words, addresses
    /// at the top of their fields, indexed stores that wrap around 2^64, self-modifying code.
    #[test]
    fn engine_agrees_with_interpreter_on_hostile_programs(seed in any::<u64>(), which in 0usize..7) {
        let names = ["s370", "ppc", "pdp10", "m68000", "m68010", "ia32", "ia32-vt"];
        check_hostile(names[which], seed)?;
    }
}
