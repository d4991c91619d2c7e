//! Traps and resumes taken through (`Engine::run_through`) against the interpreter's machine,
//! whose cycle takes every trap itself: small random s370 kernels made to reach the
//! boundaries where the engine must hand back to the cycle. They set the timer (`stmr`),
//! make system calls from both modes, resume into user or supervisor PSWs (so a timer
//! interrupt may wait for user mode), write the console, jump to words 0 to 3 (so a trap
//! entry overwrites code), and take memory and privileged traps in user mode. After every
//! stretch of a random budget the whole state, the trap and interrupt counts and, through
//! `run_observed`, the instructions counted under each mode and window must agree.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::{enc, isa};
use pgvm_isa::{Isa, Mode};
use pgvm_machine::{Block, BlockOps, Blocks, Engine, Exit, Interpreter, Machine, Psw, StateView};
use pgvm_testkit::Rng;

/// Native code at once, and after a few laps.
type Eager = Blocks<0>;
type Warm = Blocks<16>;

/// Words of the machine: supervisor code at `0x20..0x60`, PSWs to load at `0x60..0x68`,
/// small numbers (timer values, branch tests) at `0x68..0x70`, user code at `0x100..0x120`.
const WORDS: u64 = 0x200;

fn kernel(s: &Arc<Isa>, seed: u64) -> (Vec<u64>, Psw) {
    let mut rng = Rng::new(seed);
    let mut mem = vec![0u64; WORDS as usize];
    let c = |x: u64| i128::from(x);
    let sup = |p: u64| Psw::new(Mode::Supervisor, p, 0, WORDS).expect("psw");
    let usr = |p: u64| Psw::new(Mode::User, p, 0x100, 0x40).expect("psw");
    let psws = [
        sup(0x20),
        sup(0x30),
        usr(0),
        usr(8),
        usr(0x10),
        sup(0x40),
        usr(0x18),
        sup(0x50),
    ];
    for (i, p) in psws.iter().enumerate() {
        mem[0x60 + i] = p.pack();
    }
    for i in 0..8 {
        mem[0x68 + i] = rng.below(6);
    }
    mem[0x70] = 1;
    // The trap's and the timer's new PSWs.
    mem[1] = psws[rng.below(8) as usize].pack();
    mem[3] = psws[rng.below(8) as usize].pack();
    for k in 0..0x40 {
        let jump = if rng.below(3) == 0 {
            rng.below(4)
        } else {
            0x20 + rng.below(0x40)
        };
        mem[0x20 + k] = match rng.below(13) {
            0 | 1 => enc(s, "addi", &[c(0x78 + rng.below(4)), 1]),
            2 => enc(s, "stmr", &[c(0x68 + rng.below(8))]),
            3 => enc(s, "svc", &[0]),
            4 => enc(s, "lpsw", &[c(0x60 + rng.below(8))]),
            5 => enc(s, "out", &[c(0x78)]),
            6 => enc(s, "jmp", &[c(jump)]),
            // The saved PSW past the trapped instruction, then back to it.
            7 => enc(s, "add", &[0, 0, c(0x70)]),
            8 => enc(s, "lpsw", &[0]),
            9 => enc(s, "lpsw", &[2]),
            10 if rng.below(4) == 0 => enc(s, "halt", &[]),
            10 => enc(s, "addi", &[c(0x7c), 1]),
            11 => enc(s, "add", &[2, 2, c(0x70)]),
            _ => enc(
                s,
                "jz",
                &[c(0x68 + rng.below(8)), c(0x20 + rng.below(0x40))],
            ),
        };
    }
    for k in 0..0x20 {
        mem[0x100 + k] = match rng.below(8) {
            0..=2 => enc(s, "addi", &[c(0x30 + rng.below(4)), 1]),
            3 => enc(s, "svc", &[0]),
            4 => enc(s, "jmp", &[c(rng.below(0x20))]),
            // Privileged in user mode.
            5 => enc(s, "lpsw", &[0x30]),
            // An index that may leave the window.
            6 => enc(s, "ldx", &[0x30, 0x31, 0x32]),
            _ => enc(s, "jnz", &[c(0x30 + rng.below(4)), c(rng.below(0x20))]),
        };
    }
    (mem, psws[rng.below(8) as usize])
}

/// Instructions counted under each mode and window.
type Counts = BTreeMap<(bool, u64), u64>;

fn count(counts: &mut Counts, psw: Psw, n: u64) {
    if n > 0 {
        *counts.entry((psw.mode == Mode::User, psw.r.l)).or_default() += n;
    }
}

/// Runs the kernel on engine `E` and on the interpreter in the same stretches (with
/// `run_observed` when `observe`), and names the first difference.
fn compare<E: Engine>(
    s: &Arc<Isa>,
    mem: &[u64],
    entry: Psw,
    seed: u64,
    observe: bool,
) -> Result<(), String> {
    let machine = |mem: &[u64]| -> Result<_, String> {
        let mut m =
            Machine::<Interpreter>::with_engine(s.clone(), WORDS).map_err(|e| e.to_string())?;
        m.write(0, mem).map_err(|e| e.to_string())?;
        m.set_psw(entry);
        Ok(m)
    };
    let mut r = machine(mem)?;
    let mut m = Machine::<E>::with_engine(s.clone(), WORDS).map_err(|e| e.to_string())?;
    m.write(0, mem).map_err(|e| e.to_string())?;
    m.set_psw(entry);
    let mut rng = Rng::new(seed ^ 77);
    let (mut got, mut want) = (Counts::new(), Counts::new());
    while m.steps() < 3000 {
        let chunk = match rng.below(3) {
            0 => 1 + rng.below(5),
            _ => 1 + rng.below(400),
        };
        let (exit, expected) = if observe {
            (
                m.run_observed(chunk, |p, n| count(&mut got, p, n)),
                r.run_observed(chunk, |p, n| count(&mut want, p, n)),
            )
        } else {
            (m.run(chunk), r.run(chunk))
        };
        let at = |what: String| format!("{} seed {seed} at {}: {what}", E::NAME, r.steps());
        if exit != expected {
            return Err(at(format!("exit {exit:?} vs {expected:?}")));
        }
        if m.steps() != r.steps() || m.psw() != r.psw() {
            return Err(at(format!("PSW {} vs {}", m.psw(), r.psw())));
        }
        if m.memory() != r.memory() || m.devices() != r.devices() {
            return Err(at("memory or devices".into()));
        }
        if m.stats() != r.stats() {
            return Err(at(format!("counts {:?} vs {:?}", m.stats(), r.stats())));
        }
        if got != want {
            return Err(at(format!("by mode and window {got:?} vs {want:?}")));
        }
        if matches!(exit, Exit::Halted | Exit::Stuck) {
            break;
        }
    }
    Ok(())
}

#[test]
fn kernels_agree_with_the_cycle_when_the_engine_takes_traps_through() {
    const KERNELS: u64 = 1000;
    let s = isa("s370");
    let mut failures = Vec::new();
    let (mut interrupts, mut traps) = (0, 0);
    for seed in 0..KERNELS {
        let (mem, entry) = kernel(&s, seed);
        let observe = seed % 2 == 1;
        for result in [
            compare::<Block>(&s, &mem, entry, seed, observe),
            compare::<Eager>(&s, &mem, entry, seed, observe),
            compare::<Warm>(&s, &mem, entry, seed, observe),
            compare::<BlockOps>(&s, &mem, entry, seed, observe),
        ] {
            failures.extend(result.err());
        }
        let mut m = Machine::<Interpreter>::with_engine(s.clone(), WORDS).expect("machine");
        m.write(0, &mem).expect("fits");
        m.set_psw(entry);
        m.run(3000);
        interrupts += m.stats().interrupts;
        traps += m.stats().traps();
    }
    assert!(
        failures.is_empty(),
        "{} disagreements, first: {:?}",
        failures.len(),
        failures.first()
    );
    // The kernels reach what they are for.
    assert!(
        interrupts > 1000 && traps > 100_000,
        "{interrupts} interrupts, {traps} traps"
    );
}
