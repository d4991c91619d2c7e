//! Every engine must agree, state for state, with the processor cycle run on a plain state
//! one instruction at a time: the reference interpreter engine and the fast engine, which
//! specializes common instruction shapes.

mod common;

use std::sync::Arc;

use common::Reference;
use pgvm_isa::Isa;
use pgvm_machine::{Block, Engine, Exit, Fast, Interpreter, Machine, StateView};
use pgvm_testkit::{PROFILES, Program, hostile_guest, random_guest};
use proptest::prelude::*;

/// Runs a program on engine `E` and on the reference and compares the states.
fn compare<E: Engine>(program: &Program, isa: &Arc<Isa>, seed: u64) -> Result<(), TestCaseError> {
    let Program {
        w,
        image: mem,
        entry: psw,
        input,
    } = program.clone();
    let mut m = Machine::<E>::with_engine(isa.clone(), w).expect("machine");
    m.write(0, &mem).expect("fits");
    m.set_psw(psw);
    m.push_input(&input);
    let exit = m.run(3000);
    let mut r = Reference::new(mem, psw, isa, &input);
    r.run_to(isa, m.steps());
    let engine = E::NAME;
    prop_assert_eq!(
        m.steps(),
        r.devices.clock,
        "{} clock (seed {})",
        engine,
        seed
    );
    prop_assert_eq!(
        exit == Exit::Halted,
        r.halted,
        "{} halt disagrees (seed {})",
        engine,
        seed
    );
    prop_assert_eq!(
        exit == Exit::Stuck,
        r.stuck,
        "{} stuck (seed {})",
        engine,
        seed
    );
    prop_assert_eq!(m.psw(), r.psw, "{} PSW disagrees (seed {})", engine, seed);
    prop_assert_eq!(
        m.devices(),
        &r.devices,
        "{} devices (seed {})",
        engine,
        seed
    );
    prop_assert_eq!(
        m.assist_bit(),
        r.assist,
        "{} assist (seed {})",
        engine,
        seed
    );
    prop_assert!(
        m.memory() == &r.mem[..],
        "{} memory disagrees (seed {})",
        engine,
        seed
    );
    Ok(())
}

fn check(program: Program, isa: &Arc<Isa>, seed: u64) -> Result<(), TestCaseError> {
    compare::<Block>(&program, isa, seed)?;
    compare::<Fast>(&program, isa, seed)?;
    compare::<Interpreter>(&program, isa, seed)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn engines_agree_with_the_cycle(seed in any::<u64>(), which in 0usize..PROFILES.len()) {
        let isa = common::isa(PROFILES[which]);
        check(random_guest(&isa, seed), &isa, seed)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Hostile programs reach the engine's edges: `R` loaded from arbitrary words, addresses
    /// at the top of their fields, indexed stores that wrap around 2^64, self-modifying code.
    #[test]
    fn engines_agree_with_the_cycle_on_hostile_programs(seed in any::<u64>(), which in 0usize..PROFILES.len()) {
        let isa = common::isa(PROFILES[which]);
        check(hostile_guest(&isa, seed), &isa, seed)?;
    }
}
