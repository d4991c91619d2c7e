//! Every engine must agree, state for state, with the processor cycle run on a plain state
//! one instruction at a time: the reference interpreter engine, the fast engine, which
//! specializes common instruction shapes, and the block engine: with native code for its
//! loops once they are hot (`Block`), at once (`Eager`: the random programs are too short to
//! make any loop hot), after a few laps (`Warm`, for detours), and never (`BlockOps`).

mod common;

use std::sync::Arc;

use common::Reference;
use pgvm_isa::Isa;
use pgvm_machine::{Block, BlockOps, Blocks, Engine, Exit, Fast, Interpreter, Machine, StateView};
use pgvm_testkit::{PROFILES, Program, block_guest, hostile_guest, loop_guest, random_guest};
use proptest::prelude::*;

/// The block engine giving every looping block native code the first time it runs.
type Eager = Blocks<0>;

/// The block engine giving a looping block native code after a few laps, by when its side
/// exits have led somewhere: its native code takes those blocks in as detours.
type Warm = Blocks<16>;

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
    // The traps and interrupts counted, against the interpreter's machine, whose cycle takes
    // every one of them (an engine may take them inside its stretch).
    let mut counted = Machine::<Interpreter>::with_engine(isa.clone(), w).expect("machine");
    counted.write(0, &mem).expect("fits");
    counted.set_psw(psw);
    counted.push_input(&input);
    counted.run(3000);
    prop_assert_eq!(
        m.stats(),
        counted.stats(),
        "{} counts (seed {})",
        E::NAME,
        seed
    );
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
    compare::<BlockOps>(&program, isa, seed)?;
    compare::<Eager>(&program, isa, seed)?;
    compare::<Warm>(&program, isa, seed)?;
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

/// Runs a program on engine `E` in stretches of random lengths (so that budgets cut blocks
/// anywhere, fused pairs included) and compares the whole state with the reference after every
/// stretch. `Err` names the first difference.
fn compare_at_every_stop<E: Engine>(
    program: &Program,
    isa: &Arc<Isa>,
    seed: u64,
    total: u64,
) -> Result<(), String> {
    let mut m = Machine::<E>::with_engine(isa.clone(), program.w).map_err(|e| e.to_string())?;
    m.write(0, &program.image).map_err(|e| e.to_string())?;
    m.set_psw(program.entry);
    m.push_input(&program.input);
    let mut r = Reference::new(program.image.clone(), program.entry, isa, &program.input);
    let mut rng = pgvm_testkit::Rng::new(seed ^ 0x5eed);
    let ctx = |what: &str, steps: u64| {
        format!(
            "{} on {}: {what} after {steps} steps (seed {seed})",
            E::NAME,
            isa.name
        )
    };
    while m.steps() < total {
        let chunk = match rng.below(4) {
            0 => 1,
            1 => 1 + rng.below(8),
            _ => 1 + rng.below(200),
        };
        let exit = m.run(chunk);
        r.run_to(isa, m.steps());
        let steps = m.steps();
        if steps != r.devices.clock {
            return Err(ctx("clock disagrees", steps));
        }
        if m.psw() != r.psw {
            return Err(ctx(&format!("PSW {} vs {}", m.psw(), r.psw), steps));
        }
        if m.memory() != &r.mem[..] {
            let at = (0..r.mem.len()).find(|&i| m.memory()[i] != r.mem[i]);
            return Err(ctx(&format!("memory disagrees at {at:?}"), steps));
        }
        if m.devices() != &r.devices || m.assist_bit() != r.assist {
            return Err(ctx("devices or assist disagree", steps));
        }
        if (exit == Exit::Halted) != r.halted || (exit == Exit::Stuck) != r.stuck {
            return Err(ctx("halt or stuck disagrees", steps));
        }
        if r.halted || r.stuck {
            break;
        }
    }
    Ok(())
}

/// The block engine (as the default and with native code at once) against the reference,
/// stop by stop, on 1000 programs of each kind
/// (random, hostile, and block-attacking: self-modifying lines, `R` loaded mid-line, timer
/// interrupts falling due mid-line) for every built-in profile.
#[test]
fn the_block_engine_agrees_at_every_stop_on_a_thousand_programs_of_each_kind_per_profile() {
    const PROGRAMS: u64 = 1000;
    let mut failures = Vec::new();
    for name in PROFILES {
        let isa = common::isa(name);
        for seed in 0..PROGRAMS {
            let programs = [
                random_guest(&isa, seed),
                hostile_guest(&isa, seed),
                block_guest(&isa, seed),
                loop_guest(&isa, seed),
            ];
            for program in &programs {
                if let Err(e) = compare_at_every_stop::<Block>(program, &isa, seed, 400) {
                    failures.push(e);
                }
                if let Err(e) = compare_at_every_stop::<Eager>(program, &isa, seed, 400) {
                    failures.push(e);
                }
                if let Err(e) = compare_at_every_stop::<Warm>(program, &isa, seed, 400) {
                    failures.push(e);
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} disagreements, first: {:?}",
        failures.len(),
        failures.first()
    );
}

/// The block-attacking programs do what they are for: the timer interrupts them, they trap,
/// and they run the lines they were given (the counts would be zero if the generator broke).
#[test]
fn block_programs_are_interrupted_trap_and_rewrite_their_code() {
    let isa = common::isa("s370");
    let (mut interrupts, mut traps, mut rewritten) = (0, 0, 0);
    for seed in 0..200 {
        let p = block_guest(&isa, seed);
        let mut m = Machine::<Block>::with_engine(isa.clone(), p.w).expect("machine");
        m.write(0, &p.image).expect("fits");
        m.set_psw(p.entry);
        m.run(2000);
        interrupts += m.stats().interrupts;
        traps += m.stats().traps();
        rewritten += (20..184).filter(|&i| m.memory()[i] != p.image[i]).count();
    }
    assert!(interrupts > 100, "{interrupts} interrupts");
    assert!(traps > 100, "{traps} traps");
    assert!(rewritten > 100, "{rewritten} code words rewritten");
}

/// A stop point: the block engine runs up to the first time `P` reaches the chosen address and
/// stops before that instruction, in the very state the reference reaches there.
#[test]
fn the_block_engine_stops_at_the_first_arrival_at_a_stop_point() {
    let mut stopped = 0;
    for name in PROFILES {
        let isa = common::isa(name);
        for seed in 0..150 {
            let program = if seed % 2 == 0 {
                block_guest(&isa, seed)
            } else {
                random_guest(&isa, seed)
            };
            let mut rng = pgvm_testkit::Rng::new(seed);
            let at = rng.below(program.w);
            let mut m = Machine::<Block>::with_engine(isa.clone(), program.w).expect("machine");
            m.write(0, &program.image).expect("fits");
            m.set_psw(program.entry);
            m.push_input(&program.input);
            let exit = m.run_until(500, at);
            let mut r = Reference::new(program.image.clone(), program.entry, &isa, &program.input);
            while r.devices.clock < m.steps() && !r.halted && !r.stuck {
                assert!(
                    r.devices.clock == 0 || r.psw.p != at,
                    "{name} seed {seed}: passed the stop point {at:#x} at clock {}",
                    r.devices.clock
                );
                let next = r.devices.clock + 1;
                r.run_to(&isa, next);
            }
            assert_eq!(m.steps(), r.devices.clock, "{name} seed {seed}: clock");
            assert_eq!(m.psw(), r.psw, "{name} seed {seed}: PSW");
            assert!(m.memory() == &r.mem[..], "{name} seed {seed}: memory");
            if exit.is_none() {
                assert_eq!(m.psw().p, at, "{name} seed {seed}: stopped elsewhere");
                stopped += 1;
            }
        }
    }
    assert!(
        stopped > 100,
        "only {stopped} runs reached their stop point"
    );
}
