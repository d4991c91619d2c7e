//! The differential check of the encoding against the machine: the same concrete states run
//! through `pgvm_machine::step` and evaluated in the encoding by the solver must agree on
//! everything a definition can observe.
//!
//! The encoding is built once per instruction with every input a variable; each state is then
//! one `push`/`assert the inputs`/`check-sat`/`get-value`/`pop` block of the same script, so a
//! whole batch of states costs one solver process.

use std::fmt::Write;
use std::time::Duration;

use pgvm_isa::{InsnId, Isa, Mode};
use pgvm_machine::{Step, TrapKind};

use super::encode::{self, Input, Memory, Mutant, Words};
use super::solver::{self, SolverError};
use super::term::{Builder, Sort, T, word_lit};
use crate::state::{HypoView, State};

/// What the differential check can report besides a disagreement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiffError {
    /// The solver failed.
    #[error(transparent)]
    Solver(#[from] SolverError),
    /// The instruction cannot be encoded.
    #[error(transparent)]
    Encode(#[from] encode::EncodeError),
    /// The solver's answers do not match the script.
    #[error("The solver answered {0}")]
    Answer(String),
}

/// Evaluates the encoding of instruction `id` on every state (each must hold the instruction
/// at `P`) and compares it with the machine's run of the same state. Returns the
/// disagreements, one line each (empty when the encoding agrees with the machine).
pub fn check(
    isa: &Isa,
    id: InsnId,
    states: &[State],
    solver: &solver::Solver,
    mutant: Mutant,
) -> Result<Vec<String>, DiffError> {
    let plain: Vec<(State, i64)> = states.iter().map(|s| (s.clone(), 0)).collect();
    compare_runs(isa, id, &plain, false, solver, mutant)
}

/// The same check for the second state of a location pair: each `(state, x)` is run on the
/// machine as `state.shifted(x)` and evaluated in the encoding as the first state's memory
/// seen through the shift (`Memory::Shifted`), as the location queries state it. Pairs whose
/// shift is not valid are skipped.
pub fn check_shifted(
    isa: &Isa,
    id: InsnId,
    pairs: &[(State, i64)],
    solver: &solver::Solver,
    mutant: Mutant,
) -> Result<Vec<String>, DiffError> {
    let valid: Vec<(State, i64)> = pairs
        .iter()
        .filter(|(s, x)| s.shifted(*x).is_some())
        .cloned()
        .collect();
    compare_runs(isa, id, &valid, true, solver, mutant)
}

fn compare_runs(
    isa: &Isa,
    id: InsnId,
    pairs: &[(State, i64)],
    shifted: bool,
    solver: &solver::Solver,
    mutant: Mutant,
) -> Result<Vec<String>, DiffError> {
    let mut b = Builder::new();
    let q = b.var("q", Sort::Word);
    let p = b.var("p", Sort::Word);
    let l = b.var("l", Sort::Word);
    let bound = b.var("b", Sort::Word);
    let clock = b.var("clock", Sort::Word);
    let mem = b.var("mem", Sort::Mem);
    let user = b.var("user", Sort::Bool);
    let assist = b.var("assist", Sort::Bool);
    let l2 = b.var("l2", Sort::Word);
    let first = Input {
        q,
        user,
        p,
        l,
        b: bound,
        assist,
        clock,
        mem: Memory::Plain(Words::Array(mem)),
    };
    let input = if shifted {
        Input {
            l: l2,
            mem: Memory::Shifted {
                base: Words::Array(mem),
                l1: l,
                l2,
                b: bound,
            },
            ..first
        }
    } else {
        first
    };
    let o = encode::run(&mut b, isa, id, &input, mutant)?;
    let mut addresses: Vec<u64> = Vec::new();
    let mut concrete = Vec::new();
    for (s, x) in pairs {
        let run_on = if shifted {
            s.shifted(*x).unwrap_or_else(|| s.clone())
        } else {
            s.clone()
        };
        addresses.extend(run_on.memory.iter().map(|&(a, _)| a));
        let mut v = HypoView::new(run_on);
        let step = crate::state::run(isa, &mut v);
        addresses.extend(s.memory.iter().map(|&(a, _)| a));
        addresses.extend(v.state.memory.iter().map(|&(a, _)| a));
        concrete.push((step, v));
    }
    addresses.sort_unstable();
    addresses.dedup();
    let finals: Vec<T> = addresses
        .iter()
        .map(|&a| {
            let at = b.word(a);
            o.final_word(&mut b, &input.mem, at)
        })
        .collect();
    let mut terms = vec![
        o.fetched,
        o.trap_memory,
        o.trap_privileged,
        o.trap_instruction,
        o.halt,
        o.user,
        o.p,
        o.l,
        o.b,
        o.assist,
        o.console_read,
        o.clock_read,
        o.timer.0,
        o.timer.1,
    ];
    for &(g, pa, _) in &o.stores {
        terms.extend([g, pa]);
    }
    for &(g, byte) in &o.outs {
        terms.extend([g, byte]);
    }
    terms.extend(finals.iter().copied());
    let mut script = b.text().to_string();
    let mut get = String::from("(get-value (");
    for &t in &terms {
        let _ = write!(get, " {}", b.name(t));
    }
    get.push_str("))\n");
    for (s, x) in pairs {
        script.push_str("(push 1)\n");
        let second_l = s.l.wrapping_add(*x as u64);
        for (var, v) in [
            (q, s.q),
            (p, s.p),
            (l, s.l),
            (l2, second_l),
            (bound, s.b),
            (clock, s.clock),
        ] {
            let _ = writeln!(script, "(assert (= {} {}))", b.name(var), word_lit(v));
        }
        let _ = writeln!(
            script,
            "(assert (= {} {}))",
            b.name(mem),
            b.memory_literal(0, &s.memory)
        );
        let _ = writeln!(
            script,
            "(assert (= {} {}))",
            b.name(user),
            s.mode == Mode::User
        );
        let _ = writeln!(script, "(assert (= {} {}))", b.name(assist), s.assist);
        script.push_str("(check-sat)\n");
        script.push_str(&get);
        script.push_str("(pop 1)\n");
    }
    let n = pairs.len() as u64;
    let soft = Duration::from_secs(30);
    if let Ok(dir) = std::env::var(super::DUMP_ENV) {
        let _ = std::fs::write(
            format!("{dir}/{}-{}.smt2", isa.name, isa.insns[id].mnemonic),
            &script,
        );
    }
    let out = solver.run(&script, soft, Duration::from_secs(60 + 5 * n))?;
    if let Some(e) = solver::first_error(&out) {
        return Err(DiffError::Solver(SolverError::Refused(e)));
    }
    if out.len() != 2 * pairs.len() {
        return Err(DiffError::Answer(format!(
            "{} responses to {} states",
            out.len(),
            pairs.len()
        )));
    }
    let mut bad = Vec::new();
    for (k, ((s, x), (step, after))) in pairs.iter().zip(&concrete).enumerate() {
        if out[2 * k].atom() != Some("sat") {
            bad.push(format!("state {k}: the solver answered {:?}", out[2 * k]));
            continue;
        }
        let Some(v) = solver::values(&out[2 * k + 1]) else {
            return Err(DiffError::Answer("an unreadable model".into()));
        };
        if v.len() != terms.len() {
            return Err(DiffError::Answer("a model of the wrong length".into()));
        }
        if let Some(why) = compare(&o, &v, &addresses, step, after) {
            let how = if shifted {
                format!(" shifted by {x}")
            } else {
                String::new()
            };
            bad.push(format!(
                "`{}` from {}{how}: {why}",
                isa.insns[id].mnemonic,
                describe(s)
            ));
        }
    }
    Ok(bad)
}

fn describe(s: &State) -> String {
    format!(
        "q={} {} P={:#x} l={:#x} b={:#x} assist={} clock={} memory={:x?}",
        s.q,
        s.mode.name(),
        s.p,
        s.l,
        s.b,
        s.assist,
        s.clock,
        s.memory
    )
}

/// The first difference between the encoding's values and the machine's run.
fn compare(
    o: &encode::Outcome,
    v: &[u64],
    addresses: &[u64],
    step: &Step,
    after: &HypoView,
) -> Option<String> {
    let [
        fetched,
        tm,
        tp,
        ti,
        halt,
        user,
        p,
        l,
        b,
        assist,
        console,
        clock_read,
        tset,
        tval,
    ] = [
        v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13],
    ];
    let mut rest = &v[14..];
    let mut take = |n: usize| {
        let (a, r) = rest.split_at(n.min(rest.len()));
        rest = r;
        a.to_vec()
    };
    let stores = take(2 * o.stores.len());
    let outs = take(2 * o.outs.len());
    let finals = take(addresses.len());
    let sym_step = if tm != 0 {
        Step::Trapped(TrapKind::Memory)
    } else if fetched == 0 {
        Step::Trapped(TrapKind::Illegal)
    } else if tp != 0 {
        Step::Trapped(TrapKind::Privileged)
    } else if ti != 0 {
        Step::Trapped(TrapKind::Instruction)
    } else if halt != 0 {
        Step::Halted
    } else {
        Step::Done
    };
    if sym_step != *step {
        return Some(format!(
            "the machine's step is {step:?}, the encoding's {sym_step:?}"
        ));
    }
    if (clock_read != 0) != after.clock_read() {
        return Some("they disagree on whether the clock was read".into());
    }
    let trapped = matches!(step, Step::Trapped(_));
    let sym_outs: Vec<u8> = outs
        .chunks(2)
        .filter(|c| c[0] != 0)
        .map(|c| c[1] as u8)
        .collect();
    let sym_device = console != 0 || (!trapped && (!sym_outs.is_empty() || tset != 0));
    if sym_device != after.touched_device() {
        return Some("they disagree on whether a device was touched".into());
    }
    if trapped {
        return None;
    }
    let s = &after.state;
    let mode = if user != 0 {
        Mode::User
    } else {
        Mode::Supervisor
    };
    if (mode, p, l, b, assist != 0) != (s.mode, s.p, s.l, s.b, s.assist) {
        return Some(format!(
            "the machine ends at <{}, P={:#x}, l={:#x}, b={:#x}, assist={}>, the encoding at <{}, P={p:#x}, l={l:#x}, b={b:#x}, assist={}>",
            s.mode,
            s.p,
            s.l,
            s.b,
            s.assist,
            mode,
            assist != 0
        ));
    }
    let sym_stores: Vec<u64> = stores
        .chunks(2)
        .filter(|c| c[0] != 0)
        .map(|c| c[1])
        .collect();
    if sym_stores != after.events.stores {
        return Some(format!(
            "the machine stored to {:x?}, the encoding to {sym_stores:x?}",
            after.events.stores
        ));
    }
    if sym_outs != after.events.out {
        return Some(format!(
            "the machine wrote {:x?}, the encoding {sym_outs:x?}",
            after.events.out
        ));
    }
    let timer = (tset != 0).then_some(tval);
    if timer != after.events.timer {
        return Some(format!(
            "the machine armed the timer {:?}, the encoding {timer:?}",
            after.events.timer
        ));
    }
    for (&a, &w) in addresses.iter().zip(&finals) {
        if a < s.q && w != s.word(a) {
            return Some(format!(
                "physical word {a:#x}: the machine has {:#x}, the encoding {w:#x}",
                s.word(a)
            ));
        }
    }
    None
}
