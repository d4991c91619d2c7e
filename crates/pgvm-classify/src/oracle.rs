//! Oracles: DESIGN.md §2's definitions applied to a machine whose semantics pgvm cannot read.
//!
//! The classifier proper ([`crate::classify`]) reads instruction bodies: it proves what it can
//! from their effects and searches the rest. A machine known only by *running* it — a real
//! CPU's emulator — offers none of that. What it does offer is enough for the definitions:
//!
//! - set up a state (mode, registers, memory);
//! - run one instruction from it;
//! - say whether it trapped (and whether that was a memory trap) and what state came after.
//!
//! That is the [`Oracle`] trait. [`observe`] applies each atom's definition to runs of an
//! oracle, exactly as [`crate::check`] does for pgvm's machine, and [`search`] puts an
//! instruction to sampled states. The evidence rules are the same as everywhere else, with one
//! difference: **no `proof`** is ever claimed for an oracle. An atom is settled by a
//! replayable witness ([`OracleWitness`], re-run by [`replay`]) or its absence is reported as
//! `search` (N states, seed) or, for a caller that enumerates a stated configuration,
//! `exhaustive`.
//!
//! An oracle declares the atoms its machine defines ([`Oracle::atoms`]). The others do not
//! apply and are never asked: a machine without a relocation register has no location or
//! bounds sensitivity, one whose instructions cannot read a clock has no timing dependence.
//! A class whose atoms are all inapplicable is reported as not applicable, never as a finding.
//!
//! [`MachineOracle`] is pgvm's own machine as an oracle (states are [`State`]s, runs go
//! through [`pgvm_machine::step`], the checks are [`crate::check`]'s), so the same search can
//! be put to a built-in profile and to a foreign machine, and compared. The 68000 family on the
//! `m68k` emulator is another (`pgvm-audit`). An x86 oracle fits the same trait: its mode is
//! CPL 0 against CPL 3, [`Oracle::shifted`] moves the segment bases (with the memory behind
//! them) to give location sensitivity its `r ⊕ x`, and its control effects are writes to
//! CR0/CR3/CR4, the descriptor-table registers, IF/IOPL and I/O ports.

use std::collections::BTreeMap;
use std::fmt::Debug;

use pgvm_isa::{Isa, Mode};
use pgvm_machine::Step;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::InsnReport;
use crate::check::{self, Run};
use crate::generate::Rng;
use crate::state::{HypoView, State};
use crate::verdict::{self, Atom, CLASSES, Evidence, Finding};

/// What one run of an instruction did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<A> {
    /// The instruction trapped: it is blocked, and the run is no evidence of sensitivity.
    Trapped {
        /// The trap, in words (e.g. `privilege violation`).
        kind: String,
        /// Whether it is a *memory* trap, which the privilege definition sets aside.
        memory: bool,
        /// Whether it is the machine's own *privilege* trap (the 68000's privilege violation),
        /// as opposed to one the operands caused. `false` on a machine without one (pgvm's).
        /// See [`observe`] for the one place it matters.
        privilege: bool,
    },
    /// The instruction completed (or stopped the processor); the state after.
    Completed(A),
}

impl<A> Outcome<A> {
    /// The outcome in words.
    pub fn name(&self) -> String {
        match self {
            Outcome::Trapped { kind, .. } => format!("trapped ({kind})"),
            Outcome::Completed(_) => "completed".to_string(),
        }
    }
}

/// A machine that can be put to the definitions by running it.
pub trait Oracle: Sync {
    /// A starting state: everything a run depends on, so that it replays.
    type State: Clone + Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync;
    /// What a completed run leaves.
    type After;

    /// Names the machine in witness files (e.g. `m68k:m68000`).
    fn machine(&self) -> String;

    /// The atoms this machine defines. The others do not apply and are never asked.
    fn atoms(&self) -> &[Atom];

    /// The state's mode.
    fn mode(&self, s: &Self::State) -> Mode;

    /// The same state in `mode`: the paper's `<e, s, p, r>` / `<e, u, p, r>`. Everything the
    /// program can see stays equal; only what *is* the mode changes.
    fn with_mode(&self, s: &Self::State, mode: Mode) -> Self::State;

    /// Runs the instruction at the state's program counter once.
    fn run(&self, s: &Self::State) -> Outcome<Self::After>;

    /// Control sensitivity of a completed run from `before`: a change to what the machine
    /// calls its mode or its control state, or a device-like effect. `None` if none.
    fn control(&self, before: &Self::State, after: &Self::After) -> Option<String>;

    /// The behavior comparison: the program-visible results of two completed runs that kept
    /// the control state (registers, memory, program counter). `None` if they agree.
    fn differ(
        &self,
        first: (&Self::State, &Self::After),
        second: (&Self::State, &Self::After),
    ) -> Option<String>;

    /// The paper's `r ⊕ x`: the state with its relocation moved by `x` and the window's
    /// contents with it; `None` when the machine has no relocation or `x` does not fit.
    fn shifted(&self, _s: &Self::State, _x: i64) -> Option<Self::State> {
        None
    }

    /// Refuses a state read from a file that the machine cannot run safely or meaningfully
    /// (replay checks every state with it before running any).
    fn validate(&self, _s: &Self::State) -> Result<(), String> {
        Ok(())
    }
}

/// One witness found on an oracle: the states, and the observation that makes them one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OracleWitness {
    /// The machine ([`Oracle::machine`]).
    pub machine: String,
    /// The instruction (group) it belongs to.
    pub instruction: String,
    /// What it witnesses.
    pub atom: Atom,
    /// `search` or `exhaustive`; never `proof`.
    pub found_by: Evidence,
    /// The search's seed.
    pub seed: u64,
    /// The sample's index.
    pub sample: u64,
    /// The states, as the oracle serializes them: one for control sensitivity, `[super,
    /// user]` for privilege and mode sensitivity, `[S, S shifted by x]` for location.
    pub states: Vec<serde_json::Value>,
    /// The shift `x`, for location sensitivity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shift: Option<i64>,
    /// The observation, in words; replay recomputes it.
    pub claim: String,
}

/// A file of oracle witnesses, as `pgvm audit --witness-out` writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OracleWitnessFile {
    /// Format version, 1.
    pub pgvm_oracle_witnesses: u32,
    /// The witnesses.
    pub witnesses: Vec<OracleWitness>,
}

/// Errors of applying a definition to states that are not the pair it talks about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OracleError {
    /// The atom is not defined for this machine.
    #[error("{atom} does not apply to {machine}")]
    NotApplicable {
        /// The atom's name.
        atom: &'static str,
        /// The machine.
        machine: String,
    },
    /// The states are not the pair (or single state) the definition needs.
    #[error("Not a {atom} witness: {reason}")]
    Shape {
        /// The atom's name.
        atom: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A state could not be read as this machine's state.
    #[error("State {index} is not a state of {machine}: {reason}")]
    State {
        /// Its index in the witness.
        index: usize,
        /// The machine.
        machine: String,
        /// What serde said.
        reason: String,
    },
}

fn shape(atom: Atom, reason: impl Into<String>) -> OracleError {
    OracleError::Shape {
        atom: atom.name(),
        reason: reason.into(),
    }
}

/// The runs of `states`, in order.
pub type Runs<O> = Vec<Outcome<<O as Oracle>::After>>;

/// Applies `atom`'s definition to `states` (and `shift`, for location): checks that they are
/// the pair the definition talks about, runs them, and returns the runs and the observation
/// that makes them a witness, if any. [`search`] and [`replay`] both call this, so a witness
/// replays exactly when the definition holds for it.
pub fn observe<O: Oracle>(
    oracle: &O,
    atom: Atom,
    states: &[O::State],
    shift: Option<i64>,
) -> Result<(Runs<O>, Option<String>), OracleError> {
    if !oracle.atoms().contains(&atom) {
        return Err(OracleError::NotApplicable {
            atom: atom.name(),
            machine: oracle.machine(),
        });
    }
    let want = match atom {
        Atom::ControlUser | Atom::ControlSuper => 1,
        _ => 2,
    };
    if states.len() != want {
        return Err(shape(
            atom,
            format!("expected {want} state(s), found {}", states.len()),
        ));
    }
    match atom {
        Atom::NotPrivileged | Atom::ModeSensitive => {
            if oracle.mode(&states[0]) != Mode::Supervisor
                || states[1] != oracle.with_mode(&states[0], Mode::User)
            {
                return Err(shape(
                    atom,
                    "the states must be one state in supervisor mode and the same in user mode",
                ));
            }
        }
        Atom::LocationUser | Atom::LocationSuper => {
            let x = shift.ok_or_else(|| shape(atom, "no shift given"))?;
            if oracle.shifted(&states[0], x).as_ref() != Some(&states[1]) {
                return Err(shape(
                    atom,
                    format!("the second state must be the first shifted by {x}"),
                ));
            }
        }
        Atom::ControlUser | Atom::ControlSuper => {}
        Atom::BoundsUser
        | Atom::BoundsSuper
        | Atom::TimingUser
        | Atom::TimingSuper
        | Atom::AssistUnsound => {
            return Err(OracleError::NotApplicable {
                atom: atom.name(),
                machine: oracle.machine(),
            });
        }
    }
    if let Some(m) = Atom::mode(atom)
        && states.iter().any(|s| oracle.mode(s) != m)
    {
        return Err(shape(
            atom,
            format!("every state must be in {} mode", m.name()),
        ));
    }
    let runs: Runs<O> = states.iter().map(|s| oracle.run(s)).collect();
    let refs: Vec<&O::State> = states.iter().collect();
    let run_refs: Vec<&Outcome<O::After>> = runs.iter().collect();
    let obs = judge(oracle, atom, &refs, &run_refs);
    Ok((runs, obs))
}

/// The definitions on runs that are already known to be the right pair.
fn judge<O: Oracle>(
    oracle: &O,
    atom: Atom,
    states: &[&O::State],
    runs: &[&Outcome<O::After>],
) -> Option<String> {
    match atom {
        Atom::NotPrivileged => {
            let (sup, user) = (runs[0], runs[1]);
            let memory = |o: &Outcome<O::After>| matches!(o, Outcome::Trapped { memory: true, .. });
            if memory(sup) || memory(user) {
                return None;
            }
            // The user run raised the machine's privilege trap, the supervisor run a trap of its
            // operands (a 68010 RTE's format error, MOVEC's unknown control register): the mode
            // decided one trap and the operands the other, so the pair says nothing about
            // privilege, and is set aside like a memory trap. Never on a machine without a
            // privilege trap of its own.
            if matches!(
                user,
                Outcome::Trapped {
                    privilege: true,
                    ..
                }
            ) && matches!(sup, Outcome::Trapped { .. })
            {
                return None;
            }
            match (sup, user) {
                (_, Outcome::Completed(_)) => {
                    Some("in user mode it did not trap (completed)".to_string())
                }
                (Outcome::Trapped { kind, .. }, _) => {
                    Some(format!("in supervisor mode it trapped ({kind})"))
                }
                _ => None,
            }
        }
        Atom::ControlUser | Atom::ControlSuper => match runs[0] {
            Outcome::Completed(a) => oracle.control(states[0], a),
            Outcome::Trapped { .. } => None,
        },
        Atom::ModeSensitive | Atom::LocationUser | Atom::LocationSuper => {
            let (Outcome::Completed(a), Outcome::Completed(b)) = (runs[0], runs[1]) else {
                return None;
            };
            if oracle.control(states[0], a).is_some() || oracle.control(states[1], b).is_some() {
                return None;
            }
            oracle.differ((states[0], a), (states[1], b))
        }
        _ => None,
    }
}

/// One instruction's classification on an oracle: the same report as the classifier's
/// (findings and classes; its `witnesses` stay empty), and the oracle witnesses its findings
/// index.
#[derive(Debug, Clone)]
pub struct OracleReport {
    /// Findings and classes. Classes whose atoms all do not apply are left out.
    pub report: InsnReport,
    /// The witnesses, indexed by the findings.
    pub witnesses: Vec<OracleWitness>,
    /// States drawn.
    pub samples: u64,
}

/// Searches `samples` states drawn by `draw` (a supervisor-mode state from the sample's own
/// stream) for a witness of every atom the oracle defines. Each state is run in both modes,
/// which settles privilege, mode and both control atoms at once; location, where the oracle
/// has it, also runs the state shifted by a drawn `x`. An atom without a witness is reported
/// as `search: no witness in N states, seed S`.
pub fn search<O, F>(
    oracle: &O,
    instruction: &str,
    opcode: u64,
    seed: u64,
    samples: u64,
    draw: F,
) -> OracleReport
where
    O: Oracle,
    F: Fn(&mut Rng) -> O::State,
{
    let atoms = oracle.atoms().to_vec();
    let mut found: BTreeMap<Atom, OracleWitness> = BTreeMap::new();
    let mut drawn = 0;
    let stream = crate::generate::insn_seed(seed, &oracle.machine(), instruction);
    for k in 0..samples {
        if atoms.iter().all(|a| found.contains_key(a)) {
            break;
        }
        drawn += 1;
        let mut rng = Rng::new(stream ^ k.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let s = draw(&mut rng);
        let sup = oracle.with_mode(&s, Mode::Supervisor);
        let user = oracle.with_mode(&s, Mode::User);
        let runs = [oracle.run(&sup), oracle.run(&user)];
        let mk =
            |atom: Atom, states: Vec<&O::State>, shift: Option<i64>, claim: String| OracleWitness {
                machine: oracle.machine(),
                instruction: instruction.to_string(),
                atom,
                found_by: Evidence::Search,
                seed,
                sample: k,
                states: states
                    .iter()
                    .map(|s| serde_json::to_value(s).unwrap_or(serde_json::Value::Null))
                    .collect(),
                shift,
                claim,
            };
        for atom in [Atom::NotPrivileged, Atom::ModeSensitive] {
            if atoms.contains(&atom)
                && let Some(c) = judge(oracle, atom, &[&sup, &user], &[&runs[0], &runs[1]])
            {
                found
                    .entry(atom)
                    .or_insert_with(|| mk(atom, vec![&sup, &user], None, c));
            }
        }
        for (atom, st, run) in [
            (Atom::ControlSuper, &sup, &runs[0]),
            (Atom::ControlUser, &user, &runs[1]),
        ] {
            if atoms.contains(&atom)
                && let Outcome::Completed(a) = run
                && let Some(c) = oracle.control(st, a)
            {
                found
                    .entry(atom)
                    .or_insert_with(|| mk(atom, vec![st], None, c));
            }
        }
        for (atom, st, run) in [
            (Atom::LocationSuper, &sup, &runs[0]),
            (Atom::LocationUser, &user, &runs[1]),
        ] {
            if !atoms.contains(&atom) || found.contains_key(&atom) {
                continue;
            }
            let x = match rng.below(3) {
                0 => 1,
                1 => -1,
                _ => rng.range(1, 1 << 20) as i64 * if rng.chance(1, 2) { 1 } else { -1 },
            };
            if let Some(t) = oracle.shifted(st, x) {
                let second = oracle.run(&t);
                if let Some(c) = judge(oracle, atom, &[st, &t], &[run, &second]) {
                    found
                        .entry(atom)
                        .or_insert_with(|| mk(atom, vec![st, &t], Some(x), c));
                }
            }
        }
    }
    let mut findings = BTreeMap::new();
    let mut witnesses = Vec::new();
    for atom in atoms {
        match found.remove(&atom) {
            Some(w) => {
                findings.insert(
                    atom,
                    Finding::Witnessed {
                        witness: witnesses.len(),
                        by: Evidence::Search,
                    },
                );
                witnesses.push(w);
            }
            None => {
                findings.insert(
                    atom,
                    Finding::Absent {
                        by: Evidence::Search,
                        detail: format!("search: no witness in {drawn} states, seed {seed}"),
                    },
                );
            }
        }
    }
    let report = report_of(instruction, opcode, oracle.atoms(), findings, &witnesses);
    OracleReport {
        report,
        witnesses,
        samples: drawn,
    }
}

/// Builds an instruction report from findings, leaving out the classes that rest only on
/// atoms the machine does not define.
pub fn report_of(
    instruction: &str,
    opcode: u64,
    applicable: &[Atom],
    findings: BTreeMap<Atom, Finding>,
    witnesses: &[OracleWitness],
) -> InsnReport {
    let claims: Vec<String> = witnesses.iter().map(|w| w.claim.clone()).collect();
    let classes = CLASSES
        .iter()
        .filter(|c| c.atoms().iter().any(|a| applicable.contains(a)))
        .map(|&c| (c, verdict::derive(c, &findings, &claims)))
        .collect();
    InsnReport {
        mnemonic: instruction.to_string(),
        opcode,
        classes,
        findings,
        witnesses: Vec::new(),
        exhaustive_states: None,
        // No solver reads a foreign machine's semantics.
        smt_bugs: Vec::new(),
    }
}

/// A replayed oracle witness.
#[derive(Debug, Clone)]
pub struct OracleReplay<A> {
    /// The states, as read from the file.
    pub states: Vec<serde_json::Value>,
    /// Each state's run.
    pub runs: Vec<Outcome<A>>,
    /// The observation recomputed from the runs.
    pub observed: Option<String>,
    /// Whether it is exactly the file's claim.
    pub confirmed: bool,
}

/// Re-runs a witness on `oracle`: reads its states as the oracle's, checks they are the pair
/// the atom's definition talks about, runs them and recomputes the observation. Confirmed only
/// if the observation is exactly the file's claim.
pub fn replay<O: Oracle>(
    oracle: &O,
    w: &OracleWitness,
) -> Result<OracleReplay<O::After>, OracleError> {
    let states: Vec<O::State> = w
        .states
        .iter()
        .enumerate()
        .map(|(index, v)| {
            serde_json::from_value(v.clone()).map_err(|e| OracleError::State {
                index,
                machine: oracle.machine(),
                reason: e.to_string(),
            })
        })
        .collect::<Result<_, _>>()?;
    for (index, s) in states.iter().enumerate() {
        oracle.validate(s).map_err(|reason| OracleError::State {
            index,
            machine: oracle.machine(),
            reason,
        })?;
    }
    let (runs, observed) = observe(oracle, w.atom, &states, w.shift)?;
    let confirmed = observed.as_deref() == Some(w.claim.as_str());
    Ok(OracleReplay {
        states: w.states.clone(),
        runs,
        observed,
        confirmed,
    })
}

/// pgvm's own machine as an oracle: states are the classifier's [`State`]s, a run is one
/// [`pgvm_machine::step`] on a [`HypoView`], and the checks are [`crate::check`]'s. Every atom
/// but the assist's applies (bounds and timing are searched by the classifier proper, not by
/// [`search`]).
#[derive(Debug, Clone, Copy)]
pub struct MachineOracle<'a> {
    /// The profile.
    pub isa: &'a Isa,
}

/// A completed run on pgvm's machine: the view after, and the step's result.
#[derive(Debug, Clone)]
pub struct MachineAfter {
    /// The view after the step.
    pub view: HypoView,
    /// Done or halted.
    pub step: Step,
}

const MACHINE_ATOMS: [Atom; 6] = [
    Atom::NotPrivileged,
    Atom::ControlUser,
    Atom::ControlSuper,
    Atom::LocationUser,
    Atom::LocationSuper,
    Atom::ModeSensitive,
];

impl MachineOracle<'_> {
    fn as_run<'b>(&self, before: &'b State, after: &'b MachineAfter) -> Run<'b> {
        Run {
            before,
            after: &after.view,
            step: after.step,
        }
    }
}

impl Oracle for MachineOracle<'_> {
    type State = State;
    type After = MachineAfter;

    fn machine(&self) -> String {
        format!("pgvm:{}", self.isa.name)
    }

    fn atoms(&self) -> &[Atom] {
        &MACHINE_ATOMS
    }

    fn mode(&self, s: &State) -> Mode {
        s.mode
    }

    fn with_mode(&self, s: &State, mode: Mode) -> State {
        s.with_mode(mode)
    }

    fn run(&self, s: &State) -> Outcome<MachineAfter> {
        let mut view = HypoView::new(s.clone());
        match crate::state::run(self.isa, &mut view) {
            Step::Trapped(k) => Outcome::Trapped {
                kind: k.name().to_string(),
                memory: k == pgvm_machine::TrapKind::Memory,
                privilege: false,
            },
            step => Outcome::Completed(MachineAfter { view, step }),
        }
    }

    fn control(&self, before: &State, after: &MachineAfter) -> Option<String> {
        check::control(self.as_run(before, after)).map(|o| o.to_string())
    }

    fn differ(
        &self,
        first: (&State, &MachineAfter),
        second: (&State, &MachineAfter),
    ) -> Option<String> {
        let (a, b) = (
            self.as_run(first.0, first.1),
            self.as_run(second.0, second.1),
        );
        let obs = if first.0.mode != second.0.mode {
            check::mode(a, b)
        } else {
            check::location(a, b)
        };
        obs.map(|o| o.to_string())
    }

    fn shifted(&self, s: &State, x: i64) -> Option<State> {
        s.shifted(x)
    }
}
