//! The SMT backend: each atom of DESIGN.md §2 as one bit-vector satisfiability query.
//!
//! [`encode`] turns one run of an instruction from a symbolic state into formulas (a second
//! reading of the semantics, tested against `pgvm_machine::execute` by the differential test).
//! Here an atom's definition ([`crate::check`]) is stated over one or two such runs, from
//! states related exactly as the definition relates them (the same state in two modes, the
//! paper's shifted copy, another bound, another clock, the assist off and on), and put to an
//! external `z3` ([`solver`]):
//!
//! - `unsat`: no state of any `q` up to `2^21 - 1` is a witness: the atom is absent, by proof
//!   (`proof (smt)`, naming the solver and its version);
//! - `sat`: the model is turned into concrete states, which are checked by the existing
//!   replay path ([`crate::witness::replay`]) and become an ordinary witness. A model that
//!   does not replay is a bug in the encoding and is reported as one, never used;
//! - `unknown` (the per-query timeout): the atom keeps the search's answer, which then says
//!   the solver timed out.
//!
//! Answers are cached by instruction body (with its format, opcode, atom and assist bit), so
//! the base instructions every profile inherits are decided once per process.

pub mod diff;
pub mod encode;
pub mod solver;
pub mod term;

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use pgvm_isa::{InsnId, Isa, Mode};
use pgvm_machine::{MAX_WORDS, REG_MAX};

use crate::check::Observation;
use crate::state::State;
use crate::verdict::{Atom, Evidence};
use crate::witness::{Witness, replay};

pub use encode::{EncodeError, Mutant};
pub use solver::{Solver, SolverError};

use encode::{Input, Memory, Outcome, Words};
use term::{Builder, Sort, T};

/// An environment variable naming a directory: every query is also written there as
/// `PROFILE-INSN-ATOM.smt2`, to be run by hand (`z3 FILE`). A debugging aid.
pub const DUMP_ENV: &str = "PGVM_SMT_DUMP";

/// The default timeout of one query, in seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 20;

/// How the classifier uses the solver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtSettings {
    /// The solver binary.
    pub solver: Solver,
    /// The timeout of each query.
    pub timeout: Duration,
    /// A deliberate encoding error, only for the test that shows the differential test
    /// catches one.
    #[doc(hidden)]
    pub mutant: Mutant,
}

impl SmtSettings {
    /// Finds the solver (`z3`, or `$PGVM_SMT_SOLVER`) and uses `timeout` per query.
    pub fn find(timeout: Duration) -> Result<SmtSettings, SolverError> {
        Ok(SmtSettings {
            solver: Solver::find()?,
            timeout,
            mutant: Mutant::None,
        })
    }
}

/// A witness as the solver's model gives it, already replayed on the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    /// The states, in [`Witness::states`] order.
    pub states: Vec<State>,
    /// The shift, for location.
    pub shift: Option<i64>,
    /// What the replay observed.
    pub observation: Observation,
}

/// The solver's answer to one atom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// No witness exists: proved absent.
    Unsat,
    /// A witness, replayed.
    Sat(Model),
    /// The solver gave up within the timeout.
    Timeout(Duration),
    /// The encoding or the solver failed; the text says how. `bug` marks a model that did not
    /// replay, or a query the solver refused: a bug in the encoding.
    Failed {
        /// What went wrong.
        reason: String,
        /// Whether it is a bug in the encoding (reported loudly).
        bug: bool,
    },
}

fn cache() -> &'static Mutex<HashMap<String, Answer>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Answer>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// What determines an answer: the instruction's format, opcode and body, the atom, the assist
/// bit of the states, and the solver settings (its program, version and timeout). Two profiles that share an instruction share
/// its answers.
fn cache_key(isa: &Isa, id: InsnId, atom: Atom, assist: bool, s: &SmtSettings) -> String {
    let insn = &isa.insns[id];
    format!(
        "{:?}|{:?}|{:?}|{}|{assist}|{}|{}|{:?}|{:?}",
        isa.format_of(id).fields,
        isa.matcher(id),
        insn.body,
        atom.name(),
        s.solver.program,
        s.solver.describe(),
        s.timeout,
        s.mutant
    )
}

/// Decides one atom of instruction `id` with the solver, through the cache. `assist` is the
/// assist bit of the classification's states (the soundness atom compares off with on).
pub fn decide(isa: &Isa, id: InsnId, atom: Atom, assist: bool, s: &SmtSettings) -> Answer {
    let key = cache_key(isa, id, atom, assist, s);
    if let Some(a) = cache().lock().ok().and_then(|c| c.get(&key).cloned()) {
        // A cached witness came from an instruction with the same word layout and body; it
        // is replayed again on this profile before it is used.
        return match a {
            Answer::Sat(m) => confirm(isa, id, atom, m.states, m.shift),
            other => other,
        };
    }
    let answer = decide_uncached(isa, id, atom, assist, s);
    // A failure may be the process's, not the query's: it is asked again next time.
    if !matches!(answer, Answer::Failed { .. })
        && let Ok(mut c) = cache().lock()
    {
        c.insert(key, answer.clone());
    }
    answer
}

/// The variables of a query, for reading its model.
struct Vars {
    q: T,
    p: T,
    l: T,
    b: T,
    clock: T,
    user: T,
    /// `l2`, `b2` or the second clock.
    second: Option<T>,
}

/// One atom's query: the script and how to read its model.
struct Query {
    builder: Builder,
    vars: Vars,
    /// The conjunction of the constraints and the atom's property.
    assertion: T,
}

/// The mode of the query's first state: the atom's own, or supervisor for the mode pairs
/// (whose second state is the same in user mode).
fn mode_of(atom: Atom) -> Option<Mode> {
    match atom {
        Atom::NotPrivileged | Atom::ModeSensitive => Some(Mode::Supervisor),
        a => a.mode(),
    }
}

/// The window contents or `P` differ (DESIGN.md §2's behavior sensitivity), for two runs that
/// did not trap and kept `M` and `R`.
fn behavior(b: &mut Builder, runs: [(&Input, &Outcome); 2], common: T) -> T {
    let mut parts = Vec::new();
    for (i, o) in runs {
        parts.push(b.not(o.trapped));
        let (u, l, bb) = (b.eq(o.user, i.user), b.eq(o.l, i.l), b.eq(o.b, i.b));
        parts.extend([u, l, bb]);
    }
    let off = b.var("offset", Sort::Word);
    let in_common = b.ult(off, common);
    let w1 = runs[0].1.final_window_word(b, runs[0].0, off);
    let w2 = runs[1].1.final_window_word(b, runs[1].0, off);
    let word_differs = b.ne(w1, w2);
    let window = b.and(&[in_common, word_differs]);
    let p = b.ne(runs[0].1.p, runs[1].1.p);
    let differs = b.or(&[window, p]);
    parts.push(differs);
    b.and(&parts)
}

/// Two guarded sequences (a body's executed stores or outputs) are equal: as many executed in
/// each, and the k-th executed of one is the k-th executed of the other.
fn same_sequence(b: &mut Builder, xs: &[(T, T)], ys: &[(T, T)]) -> T {
    let positions = |b: &mut Builder, s: &[(T, T)]| -> (Vec<T>, T) {
        let mut pos = Vec::new();
        let mut n = b.word(0);
        for &(g, _) in s {
            pos.push(n);
            let one = b.bit(g);
            n = b.add(n, one);
        }
        (pos, n)
    };
    let (px, nx) = positions(b, xs);
    let (py, ny) = positions(b, ys);
    let mut parts = vec![b.eq(nx, ny)];
    for (i, &(gx, vx)) in xs.iter().enumerate() {
        for (j, &(gy, vy)) in ys.iter().enumerate() {
            let at = b.eq(px[i], py[j]);
            let both = b.and(&[gx, gy, at]);
            let same = b.eq(vx, vy);
            let nb = b.not(both);
            parts.push(b.or(&[nb, same]));
        }
    }
    b.and(&parts)
}

/// The two runs' complete results differ (timing's comparison, `check::timing`).
fn results_differ(b: &mut Builder, i: [&Input; 2], o: [&Outcome; 2]) -> T {
    let mut d = vec![
        b.ne(o[0].halt, o[1].halt),
        b.ne(o[0].user, o[1].user),
        b.ne(o[0].p, o[1].p),
        b.ne(o[0].l, o[1].l),
        b.ne(o[0].b, o[1].b),
        b.ne(o[0].assist, o[1].assist),
    ];
    let a = b.var("address", Sort::Word);
    let w1 = o[0].final_word(b, &i[0].mem, a);
    let w2 = o[1].final_word(b, &i[1].mem, a);
    d.push(b.ne(w1, w2));
    let st = |o: &Outcome| {
        o.stores
            .iter()
            .map(|&(g, pa, _)| (g, pa))
            .collect::<Vec<_>>()
    };
    let same_stores = same_sequence(b, &st(o[0]), &st(o[1]));
    d.push(b.not(same_stores));
    let same_outs = same_sequence(b, &o[0].outs, &o[1].outs);
    d.push(b.not(same_outs));
    let (s1, v1) = o[0].timer;
    let (s2, v2) = o[1].timer;
    let set_differs = b.ne(s1, s2);
    let vals = b.ne(v1, v2);
    let both_differ = b.and(&[s1, vals]);
    d.push(b.or(&[set_differs, both_differ]));
    b.or(&d)
}

/// Control sensitivity (`check::control`) of one run from `i`.
fn control(b: &mut Builder, i: &Input, o: &Outcome) -> T {
    let mut d = vec![
        b.ne(o.user, i.user),
        b.ne(o.l, i.l),
        b.ne(o.b, i.b),
        b.ne(o.assist, i.assist),
        o.halt,
        o.console_read,
        o.timer.0,
    ];
    d.extend(o.outs.iter().map(|&(g, _)| g));
    let end = b.add(i.l, i.b);
    let over = b.ult(i.q, end);
    let top = b.ite(over, i.q, end);
    for &(g, pa, _) in &o.stores {
        let below = b.ult(pa, i.l);
        let above = b.ule(top, pa);
        let out = b.or(&[below, above]);
        d.push(b.and(&[g, out]));
    }
    let any = b.or(&d);
    let ok = b.not(o.trapped);
    b.and(&[ok, any])
}

/// Builds the query for one atom.
fn query(
    isa: &Isa,
    id: InsnId,
    atom: Atom,
    assist: bool,
    mutant: Mutant,
) -> Result<Query, EncodeError> {
    let mut b = Builder::new();
    let q = b.var("q", Sort::Word);
    let p = b.var("p", Sort::Word);
    let l = b.var("l", Sort::Word);
    let bound = b.var("b", Sort::Word);
    let clock = b.var("clock", Sort::Word);
    let user = match mode_of(atom) {
        Some(m) => b.boolean(m == Mode::User),
        None => b.var("user", Sort::Bool),
    };
    let assist_t = b.boolean(assist && atom != Atom::AssistUnsound);
    let mut asserts = Vec::new();
    let one = b.word(1);
    let maxq = b.word(MAX_WORDS);
    let maxr = b.word(REG_MAX);
    asserts.push(b.ule(one, q));
    asserts.push(b.ule(q, maxq));
    for r in [p, l, bound] {
        asserts.push(b.ule(r, maxr));
    }
    let i1 = Input {
        q,
        user,
        p,
        l,
        b: bound,
        assist: assist_t,
        clock,
        mem: Memory::Plain(Words::Fresh),
    };
    let o1 = encode::run(&mut b, isa, id, &i1, mutant)?;
    asserts.push(o1.fetched);
    let mut second = None;
    let property = match atom {
        Atom::ControlUser | Atom::ControlSuper => control(&mut b, &i1, &o1),
        _ => {
            let i2 = match atom {
                Atom::NotPrivileged | Atom::ModeSensitive => Input {
                    user: b.boolean(true),
                    ..i1
                },
                Atom::LocationUser | Atom::LocationSuper => {
                    let l2 = b.var("l2", Sort::Word);
                    second = Some(l2);
                    let e1 = b.add(l, bound);
                    let e2 = b.add(l2, bound);
                    asserts.push(b.ule(e1, q));
                    asserts.push(b.ule(e2, q));
                    asserts.push(b.ne(l2, l));
                    Input {
                        l: l2,
                        mem: Memory::Shifted {
                            base: Words::Fresh,
                            l1: l,
                            l2,
                            b: bound,
                        },
                        ..i1
                    }
                }
                Atom::BoundsUser | Atom::BoundsSuper => {
                    let b2 = b.var("b2", Sort::Word);
                    second = Some(b2);
                    asserts.push(b.ne(b2, bound));
                    asserts.push(b.ule(b2, maxr));
                    asserts.push(b.ult(p, b2));
                    Input { b: b2, ..i1 }
                }
                Atom::TimingUser | Atom::TimingSuper => {
                    let c2 = b.var("clock2", Sort::Word);
                    second = Some(c2);
                    asserts.push(b.ne(c2, clock));
                    Input { clock: c2, ..i1 }
                }
                _ => Input {
                    assist: b.boolean(true),
                    ..i1
                },
            };
            let o2 = encode::run(&mut b, isa, id, &i2, mutant)?;
            asserts.push(o2.fetched);
            match atom {
                Atom::NotPrivileged => {
                    let m1 = b.not(o1.trap_memory);
                    let m2 = b.not(o2.trap_memory);
                    let user_ran = b.not(o2.trapped);
                    let either = b.or(&[user_ran, o1.trapped]);
                    b.and(&[m1, m2, either])
                }
                Atom::ModeSensitive | Atom::LocationUser | Atom::LocationSuper => {
                    behavior(&mut b, [(&i1, &o1), (&i2, &o2)], bound)
                }
                Atom::BoundsUser | Atom::BoundsSuper => {
                    let lt = b.ult(bound, i2.b);
                    let common = b.ite(lt, bound, i2.b);
                    behavior(&mut b, [(&i1, &o1), (&i2, &o2)], common)
                }
                Atom::TimingUser | Atom::TimingSuper => {
                    let n1 = b.not(o1.trapped);
                    let n2 = b.not(o2.trapped);
                    let d = results_differ(&mut b, [&i1, &i2], [&o1, &o2]);
                    b.and(&[n1, n2, d])
                }
                _ => {
                    let on_runs = b.not(o2.trapped);
                    b.and(&[o1.trapped, on_runs])
                }
            }
        }
    };
    asserts.push(property);
    asserts.push(b.congruence());
    let assertion = b.and(&asserts);
    let vars = Vars {
        q,
        p,
        l,
        b: bound,
        clock,
        user,
        second,
    };
    Ok(Query {
        builder: b,
        vars,
        assertion,
    })
}

impl Query {
    /// The script: definitions, the assertion, `check-sat`, and a `get-value` of everything
    /// a model needs to become states.
    fn script(&mut self) -> (String, Vec<T>, Vec<(T, T)>) {
        let assertion = self.assertion;
        let v = &self.vars;
        let mut scalars = vec![v.q, v.p, v.l, v.b, v.clock, v.user];
        scalars.extend(v.second);
        let cells = self.builder.fresh_reads();
        let mut s = self.builder.text().to_string();
        let _ = writeln!(s, "(assert {})", self.builder.name(assertion));
        s.push_str("(check-sat)\n");
        s.push_str("(get-value (");
        for &t in &scalars {
            let _ = write!(s, " {}", self.builder.name(t));
        }
        for &(a, w) in &cells {
            let _ = write!(s, " {} {}", self.builder.name(a), self.builder.name(w));
        }
        s.push_str("))\n");
        (s, scalars, cells)
    }
}

fn decide_uncached(isa: &Isa, id: InsnId, atom: Atom, assist: bool, s: &SmtSettings) -> Answer {
    let failed = |reason: String, bug: bool| Answer::Failed { reason, bug };
    let mut q = match query(isa, id, atom, assist, s.mutant) {
        Ok(q) => q,
        Err(e) => return failed(e.to_string(), false),
    };
    let (script, scalars, cells) = q.script();
    let hard = s.timeout + Duration::from_secs(5);
    if let Ok(dir) = std::env::var(DUMP_ENV) {
        let name = format!(
            "{dir}/{}-{}-{}.smt2",
            isa.name,
            isa.insns[id].mnemonic,
            atom.name()
        );
        let _ = std::fs::write(name, &script);
    }
    let out = match s.solver.run(&script, s.timeout, hard) {
        Ok(out) => out,
        Err(e) => return failed(e.to_string(), false),
    };
    match out.first().and_then(solver::Sexp::atom) {
        Some("unsat") => Answer::Unsat,
        Some("sat") => {
            if let Some(e) = solver::first_error(&out) {
                return failed(SolverError::Refused(e).to_string(), true);
            }
            let Some(vals) = out.get(1).and_then(solver::values) else {
                return failed("the solver's model could not be read".into(), true);
            };
            if vals.len() != scalars.len() + 2 * cells.len() {
                return failed("the solver's model has the wrong length".into(), true);
            }
            let (sc, rest) = vals.split_at(scalars.len());
            let [q, p, l, b, clock, user] = [sc[0], sc[1], sc[2], sc[3], sc[4], sc[5]];
            let second = sc.get(6).copied();
            let mut memory: Vec<(u64, u64)> = rest
                .chunks(2)
                .filter(|c| c[0] < q && c[1] != 0)
                .map(|c| (c[0], c[1]))
                .collect();
            memory.sort_unstable();
            memory.dedup();
            let mode = if user != 0 {
                Mode::User
            } else {
                Mode::Supervisor
            };
            let s1 = State {
                q,
                mode,
                p,
                l,
                b,
                assist: assist && atom != Atom::AssistUnsound,
                clock,
                memory,
            };
            let (states, shift) = match pair(atom, &s1, second) {
                Ok(x) => x,
                Err(e) => return failed(e, true),
            };
            confirm(isa, id, atom, states, shift)
        }
        Some("unknown") => Answer::Timeout(s.timeout),
        _ => match solver::first_error(&out) {
            Some(e) => failed(SolverError::Refused(e).to_string(), true),
            // No answer at all: the process hit its hard limit.
            None => Answer::Timeout(s.timeout),
        },
    }
}

/// The states of a witness from the model's first state.
fn pair(atom: Atom, s1: &State, second: Option<u64>) -> Result<(Vec<State>, Option<i64>), String> {
    let missing = || format!("the model of {} lacks its second state", atom.name());
    Ok(match atom {
        Atom::ControlUser | Atom::ControlSuper => (vec![s1.clone()], None),
        Atom::NotPrivileged | Atom::ModeSensitive => {
            (vec![s1.clone(), s1.with_mode(Mode::User)], None)
        }
        Atom::LocationUser | Atom::LocationSuper => {
            let l2 = second.ok_or_else(missing)?;
            let x = l2 as i64 - s1.l as i64;
            let t = s1
                .shifted(x)
                .ok_or_else(|| format!("the model's shift x = {x} is not a valid shift"))?;
            (vec![s1.clone(), t], Some(x))
        }
        Atom::BoundsUser | Atom::BoundsSuper => {
            let b2 = second.ok_or_else(missing)?;
            let t = s1
                .with_bound(b2)
                .ok_or_else(|| format!("the model's second bound {b2} is not valid"))?;
            (vec![s1.clone(), t], None)
        }
        Atom::TimingUser | Atom::TimingSuper => {
            let c2 = second.ok_or_else(missing)?;
            let t = State {
                clock: c2,
                ..s1.clone()
            };
            (vec![s1.clone(), t], None)
        }
        Atom::AssistUnsound => {
            let off = State {
                assist: false,
                ..s1.clone()
            };
            let on = State {
                assist: true,
                ..s1.clone()
            };
            (vec![off, on], None)
        }
    })
}

/// Replays a model's states on the machine through [`replay`]: the observation is what the
/// definition's check sees, and a model it does not confirm is an encoding bug.
fn confirm(isa: &Isa, id: InsnId, atom: Atom, states: Vec<State>, shift: Option<i64>) -> Answer {
    let mut w = Witness {
        isa: isa.name.clone(),
        isa_file: isa.file.clone(),
        mnemonic: isa.insns[id].mnemonic.clone(),
        atom,
        found_by: Evidence::Solver,
        seed: 0,
        sample: 0,
        states,
        shift,
        observation: Observation::Halted,
        claim: String::new(),
    };
    let bug = |reason: String| Answer::Failed {
        reason: format!(
            "ENCODING BUG: the solver's witness for {} of `{}` does not replay: {reason}",
            atom.name(),
            isa.insns[id].mnemonic
        ),
        bug: true,
    };
    let observed = match replay(isa, &w, 0) {
        Ok(r) => r.observed,
        Err(e) => return bug(e.to_string()),
    };
    let Some(observation) = observed else {
        return bug("the definition's check finds no difference on the model's states".into());
    };
    w.claim = observation.to_string();
    w.observation = observation.clone();
    match replay(isa, &w, 0) {
        Ok(r) if r.confirmed => Answer::Sat(Model {
            states: w.states,
            shift: w.shift,
            observation,
        }),
        Ok(_) => bug("the replay is not deterministic".into()),
        Err(e) => bug(e.to_string()),
    }
}
