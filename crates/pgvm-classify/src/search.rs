//! The witness search: run states through the machine and apply the definitions.
//!
//! [`Prober::probe`] takes one state and checks every atom still open on it: the state in
//! supervisor and in user mode (privilege, mode sensitivity, control sensitivity from each
//! mode), each mode's state shifted by each given `x` (location sensitivity), each mode's
//! state with each given other bound `b` (bounds sensitivity), and each mode's state with a
//! second clock (timing, only when the first run actually read the clock: a run that never
//! called `clock()` cannot depend on it), and, for the assist's soundness, each mode's state
//! with the assist off and on. The random search ([`search`]) and the
//! exhaustive enumeration (`crate::exhaustive`) both feed states to it.

use pgvm_isa::{Isa, Mode};

use crate::check::{self, Observation, Run};
use crate::generate::{Rng, Target};
use crate::state::{self, HypoView, State};
use crate::verdict::{ATOMS, Atom, N_ATOMS};

/// A witness as the search finds it, before it is dressed with its profile and instruction.
#[derive(Debug, Clone)]
pub struct Found {
    /// The atom it witnesses.
    pub atom: Atom,
    /// The states, in the order [`crate::Witness::states`] documents.
    pub states: Vec<State>,
    /// The shift, for location.
    pub shift: Option<i64>,
    /// What the check observed.
    pub observation: Observation,
}

impl Found {
    fn new(atom: Atom, states: Vec<State>, shift: Option<i64>, observation: Observation) -> Found {
        Found {
            atom,
            states,
            shift,
            observation,
        }
    }
}

/// What a search (or part of an enumeration) found: per atom, the first witness (with the
/// index of its state) and how many states the atom was checked on.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// The first witness of each atom, with its state's index.
    pub found: [Option<(u64, Found)>; N_ATOMS],
    /// States checked, per atom.
    pub checked: [u64; N_ATOMS],
}

impl Tally {
    fn record(&mut self, index: u64, found: Found) {
        let slot = &mut self.found[found.atom.index()];
        if slot.as_ref().is_none_or(|(i, _)| index < *i) {
            *slot = Some((index, found));
        }
    }

    /// Folds another part's tally in: counts add, the earliest witness wins.
    pub fn merge(&mut self, other: Tally) {
        for (i, f) in other.found.into_iter().enumerate() {
            self.checked[i] += other.checked[i];
            if let Some((index, found)) = f {
                self.record(index, found);
            }
        }
    }
}

/// A check on a `(supervisor, user)` pair of runs.
type PairCheck = fn(Run<'_>, Run<'_>) -> Option<Observation>;

/// Scratch views reused from state to state, so that the search allocates little.
pub struct Prober<'a> {
    isa: &'a Isa,
    views: [HypoView; 3],
}

/// The atoms a mode's runs decide: control, location, bounds, timing.
fn mode_atoms(m: Mode) -> [Atom; 4] {
    match m {
        Mode::User => [
            Atom::ControlUser,
            Atom::LocationUser,
            Atom::BoundsUser,
            Atom::TimingUser,
        ],
        Mode::Supervisor => [
            Atom::ControlSuper,
            Atom::LocationSuper,
            Atom::BoundsSuper,
            Atom::TimingSuper,
        ],
    }
}

/// The other states a probe compares a state with: shifted copies, copies with another bound,
/// and the same state with another clock.
#[derive(Debug, Clone, Copy)]
pub struct Others<'s> {
    /// Shifts `x` for location sensitivity (each tried until one gives a witness).
    pub shifts: &'s [i64],
    /// Other bounds `b` for bounds sensitivity (likewise).
    pub bounds: &'s [u64],
    /// A second clock value for timing.
    pub clock2: u64,
}

impl<'a> Prober<'a> {
    /// A prober for one profile.
    pub fn new(isa: &'a Isa) -> Prober<'a> {
        let blank = HypoView::new(State::new(1, Mode::Supervisor, 0, Default::default()));
        Prober {
            isa,
            views: [blank.clone(), blank.clone(), blank],
        }
    }

    /// Checks every atom in `open` on the state `sup` (in supervisor mode) and its user-mode
    /// twin, against the `others` states.
    pub fn probe(
        &mut self,
        sup: &State,
        others: Others<'_>,
        open: [bool; N_ATOMS],
        index: u64,
        tally: &mut Tally,
    ) {
        let user = sup.with_mode(Mode::User);
        let [vs, vu, scratch] = &mut self.views;
        let unsound = Atom::AssistUnsound;
        if open[unsound.index()] {
            tally.checked[unsound.index()] += 1;
            for s in [sup, &user] {
                if let Some(f) = assist_pair(self.isa, [&mut *vs, &mut *vu], s) {
                    tally.record(index, f);
                    break;
                }
            }
        }
        vs.reset(sup);
        let step = state::run(self.isa, vs);
        let rs = Run {
            before: sup,
            after: vs,
            step,
        };
        vu.reset(&user);
        let step = state::run(self.isa, vu);
        let ru = Run {
            before: &user,
            after: vu,
            step,
        };
        let pairs: [(Atom, PairCheck); 2] = [
            (Atom::NotPrivileged, check::not_privileged),
            (Atom::ModeSensitive, check::mode),
        ];
        for (atom, check) in pairs {
            if open[atom.index()] {
                tally.checked[atom.index()] += 1;
                if let Some(observation) = check(rs, ru) {
                    let states = vec![sup.clone(), user.clone()];
                    tally.record(index, Found::new(atom, states, None, observation));
                }
            }
        }
        let per_mode = PerMode {
            isa: self.isa,
            others,
            open,
            index,
        };
        per_mode.probe(rs, scratch, tally);
        per_mode.probe(ru, scratch, tally);
    }
}

/// The checks made on one mode's run: control, location (shifted runs), bounds (runs with
/// another bound), timing (a second clock).
struct PerMode<'s> {
    isa: &'s Isa,
    others: Others<'s>,
    open: [bool; N_ATOMS],
    index: u64,
}

impl PerMode<'_> {
    fn probe(&self, run: Run<'_>, scratch: &mut HypoView, tally: &mut Tally) {
        let [control, location, bounds, timing] = mode_atoms(run.before.mode);
        let need = |a: Atom| self.open[a.index()];
        if need(control) {
            tally.checked[control.index()] += 1;
            if let Some(observation) = check::control(run) {
                let states = vec![run.before.clone()];
                tally.record(self.index, Found::new(control, states, None, observation));
            }
        }
        if need(location) && !self.others.shifts.is_empty() {
            tally.checked[location.index()] += 1;
            for &x in self.others.shifts {
                if let Some(f) = self_shift(self.isa, scratch, run, x, location) {
                    tally.record(self.index, f);
                    break;
                }
            }
        }
        if need(bounds) && !self.others.bounds.is_empty() {
            tally.checked[bounds.index()] += 1;
            for &b in self.others.bounds {
                if let Some(f) = other_bound(self.isa, scratch, run, b, bounds) {
                    tally.record(self.index, f);
                    break;
                }
            }
        }
        if need(timing) {
            tally.checked[timing.index()] += 1;
            // A run that never called clock() cannot depend on it.
            if run.after.clock_read() {
                let other = State {
                    clock: self.others.clock2,
                    ..run.before.clone()
                };
                scratch.reset(&other);
                let step = state::run(self.isa, scratch);
                let second = Run {
                    before: &other,
                    after: scratch,
                    step,
                };
                if let Some(observation) = check::timing(run, second) {
                    let states = vec![run.before.clone(), other.clone()];
                    tally.record(self.index, Found::new(timing, states, None, observation));
                }
            }
        }
    }
}

/// Runs `s` with the assist off and on (in the two views) and checks the assist's soundness.
fn assist_pair(isa: &Isa, views: [&mut HypoView; 2], s: &State) -> Option<Found> {
    let off = State {
        assist: false,
        ..s.clone()
    };
    let on = State {
        assist: true,
        ..s.clone()
    };
    let [v0, v1] = views;
    v0.reset(&off);
    let step0 = state::run(isa, v0);
    v1.reset(&on);
    let step1 = state::run(isa, v1);
    let observation = check::assist_unsound(
        Run {
            before: &off,
            after: v0,
            step: step0,
        },
        Run {
            before: &on,
            after: v1,
            step: step1,
        },
    )?;
    Some(Found::new(
        Atom::AssistUnsound,
        vec![off, on],
        None,
        observation,
    ))
}

/// Runs `run`'s state shifted by `x` and compares.
fn self_shift(
    isa: &Isa,
    scratch: &mut HypoView,
    run: Run<'_>,
    x: i64,
    atom: Atom,
) -> Option<Found> {
    let shifted = run.before.shifted(x)?;
    scratch.reset(&shifted);
    let step = state::run(isa, scratch);
    let second = Run {
        before: &shifted,
        after: scratch,
        step,
    };
    let observation = check::location(run, second)?;
    Some(Found {
        atom,
        states: vec![run.before.clone(), shifted],
        shift: Some(x),
        observation,
    })
}

/// Runs `run`'s state with bound `b` instead and compares.
fn other_bound(
    isa: &Isa,
    scratch: &mut HypoView,
    run: Run<'_>,
    b: u64,
    atom: Atom,
) -> Option<Found> {
    let other = run.before.with_bound(b)?;
    scratch.reset(&other);
    let step = state::run(isa, scratch);
    let second = Run {
        before: &other,
        after: scratch,
        step,
    };
    let observation = check::bounds(run, second)?;
    Some(Found {
        atom,
        states: vec![run.before.clone(), other],
        shift: None,
        observation,
    })
}

/// The random search for one instruction: samples from the instruction's own stream (every
/// other one small, so that witnesses tend to be short) until every atom in `open` has a
/// witness or has been checked on `samples` states. A location atom is only checked on states
/// whose window leaves room to shift, so the search may draw more samples than `samples` (at
/// most four times as many).
pub fn search(target: &Target<'_>, seed: u64, samples: u64, open: [bool; N_ATOMS]) -> Tally {
    let mut rng = Rng::new(seed);
    let mut tally = Tally::default();
    let mut prober = Prober::new(target.isa);
    for k in 0..samples.saturating_mul(4) {
        let mut now = [false; N_ATOMS];
        for a in ATOMS {
            let i = a.index();
            now[i] = open[i] && tally.found[i].is_none() && tally.checked[i] < samples;
        }
        if !now.contains(&true) {
            break;
        }
        let sample = target.sample(&mut rng, k % 2 == 0);
        let shifts: Vec<i64> = sample.shift.into_iter().collect();
        let bounds: Vec<u64> = sample.bound2.into_iter().collect();
        let others = Others {
            shifts: &shifts,
            bounds: &bounds,
            clock2: sample.clock2,
        };
        prober.probe(&sample.state, others, now, k, &mut tally);
    }
    tally
}
