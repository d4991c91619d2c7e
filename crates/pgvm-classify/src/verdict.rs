//! Verdicts: the atomic questions the classifier answers, and the classes built from them.
//!
//! Every class of DESIGN.md §2 is a Boolean combination of ten *atoms*, each of which is
//! "does a witness exist?": a counterexample to privilege, a control-sensitivity witness from
//! a user-mode or a supervisor-mode state, a location- and a bounds-sensitivity witness with
//! both states in user or in supervisor mode, a mode-sensitivity witness, and a timing witness
//! from either mode, and one more that no class uses: a state where the hardware assist
//! *removes* a trap (the assist's soundness, DESIGN.md §4c). An atom is settled either by a witness (found by the search or the
//! exhaustive enumeration, or constructed where a proof calls for one, and always replayable)
//! or by the absence of one, known by proof, exhaustively, or only by search. A class inherits
//! the weakest evidence of the atoms its value rests on.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One atomic question: does a witness of this kind exist?
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Atom {
    /// A pair `<e, s, p, r>` / `<e, u, p, r>`, neither memory-trapping, where user mode does not
    /// trap or supervisor mode does.
    NotPrivileged,
    /// Control sensitivity from a user-mode state.
    ControlUser,
    /// Control sensitivity from a supervisor-mode state.
    ControlSuper,
    /// Location sensitivity with both states in user mode.
    LocationUser,
    /// Location sensitivity with both states in supervisor mode.
    LocationSuper,
    /// Bounds sensitivity with both states in user mode.
    BoundsUser,
    /// Bounds sensitivity with both states in supervisor mode.
    BoundsSuper,
    /// Mode sensitivity.
    ModeSensitive,
    /// Timing dependence from a user-mode state.
    TimingUser,
    /// Timing dependence from a supervisor-mode state.
    TimingSuper,
    /// An unsound assist: a state `S` with the assist off in which the instruction traps,
    /// while `S` with the assist on does not (DESIGN.md §4c). No class rests on it; the
    /// report's assist soundness does.
    AssistUnsound,
}

/// The number of atoms: the length of every per-atom array.
pub const N_ATOMS: usize = 11;

/// Every atom, in a fixed order (the index of an atom in per-atom arrays).
pub const ATOMS: [Atom; N_ATOMS] = [
    Atom::NotPrivileged,
    Atom::ControlUser,
    Atom::ControlSuper,
    Atom::LocationUser,
    Atom::LocationSuper,
    Atom::BoundsUser,
    Atom::BoundsSuper,
    Atom::ModeSensitive,
    Atom::TimingUser,
    Atom::TimingSuper,
    Atom::AssistUnsound,
];

impl Atom {
    /// The atom's index in [`ATOMS`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The name used in reports and witness files.
    pub fn name(self) -> &'static str {
        match self {
            Atom::NotPrivileged => "not_privileged",
            Atom::ControlUser => "control_user",
            Atom::ControlSuper => "control_super",
            Atom::LocationUser => "location_user",
            Atom::LocationSuper => "location_super",
            Atom::BoundsUser => "bounds_user",
            Atom::BoundsSuper => "bounds_super",
            Atom::ModeSensitive => "mode_sensitive",
            Atom::TimingUser => "timing_user",
            Atom::TimingSuper => "timing_super",
            Atom::AssistUnsound => "assist_unsound",
        }
    }

    /// The mode every state of the atom's witness is in, for an atom about one mode.
    pub fn mode(self) -> Option<pgvm_isa::Mode> {
        use pgvm_isa::Mode;
        match self {
            Atom::ControlUser | Atom::LocationUser | Atom::BoundsUser | Atom::TimingUser => {
                Some(Mode::User)
            }
            Atom::ControlSuper | Atom::LocationSuper | Atom::BoundsSuper | Atom::TimingSuper => {
                Some(Mode::Supervisor)
            }
            Atom::NotPrivileged | Atom::ModeSensitive | Atom::AssistUnsound => None,
        }
    }
}

/// How a verdict is known. Ordered from weakest to strongest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Evidence {
    /// Random and edge-case states, N of them from a seed: no witness among them. Never a
    /// proof. (For a `true` existential verdict, the witness itself settles it.)
    Search,
    /// Every state of a stated small configuration was checked.
    Exhaustive,
    /// A witness from an SMT solver's model, replayed on the machine (only ever the way a
    /// witness was found: an absence the solver proves is [`Evidence::Proof`]).
    Solver,
    /// From the semantics, for all states.
    Proof,
}

impl Evidence {
    /// The word used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Evidence::Search => "search",
            Evidence::Exhaustive => "exhaustive",
            Evidence::Solver => "smt",
            Evidence::Proof => "proof",
        }
    }
}

/// How one atom was settled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Finding {
    /// A witness exists: the instruction's `witnesses[witness]`, found by `by`.
    Witnessed {
        /// Index into the instruction's witnesses.
        witness: usize,
        /// Search or exhaustive; proof for the witness a proof calls for and constructs
        /// (see `crate::construct`).
        by: Evidence,
    },
    /// No witness, known by `by`; `detail` says how (the proof's reason, or N and the seed).
    Absent {
        /// Proof, exhaustive or search.
        by: Evidence,
        /// The reason or the extent of the search.
        detail: String,
    },
}

/// A class of DESIGN.md §2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// Privileged.
    Privileged,
    /// Control-sensitive.
    ControlSensitive,
    /// Location-sensitive.
    LocationSensitive,
    /// Bounds-sensitive (pgvm's addition to the paper's behavior sensitivities).
    BoundsSensitive,
    /// Mode-sensitive.
    ModeSensitive,
    /// User-sensitive (§8).
    UserSensitive,
    /// Supervisor-sensitive (§8).
    SupervisorSensitive,
    /// Timing-dependent.
    TimingDependent,
    /// Innocuous: not sensitive.
    Innocuous,
}

/// Every class, in table order.
pub const CLASSES: [Class; 9] = [
    Class::Privileged,
    Class::ControlSensitive,
    Class::LocationSensitive,
    Class::BoundsSensitive,
    Class::ModeSensitive,
    Class::UserSensitive,
    Class::SupervisorSensitive,
    Class::TimingDependent,
    Class::Innocuous,
];

impl Class {
    /// The JSON key.
    pub fn key(self) -> &'static str {
        match self {
            Class::Privileged => "privileged",
            Class::ControlSensitive => "control_sensitive",
            Class::LocationSensitive => "location_sensitive",
            Class::BoundsSensitive => "bounds_sensitive",
            Class::ModeSensitive => "mode_sensitive",
            Class::UserSensitive => "user_sensitive",
            Class::SupervisorSensitive => "supervisor_sensitive",
            Class::TimingDependent => "timing_dependent",
            Class::Innocuous => "innocuous",
        }
    }

    /// The atoms whose disjunction the class is (negated for privileged and innocuous).
    pub fn atoms(self) -> &'static [Atom] {
        use Atom::*;
        match self {
            Class::Privileged => &[NotPrivileged],
            Class::ControlSensitive => &[ControlUser, ControlSuper],
            Class::LocationSensitive => &[LocationUser, LocationSuper],
            Class::BoundsSensitive => &[BoundsUser, BoundsSuper],
            Class::ModeSensitive => &[ModeSensitive],
            Class::UserSensitive => &[ControlUser, LocationUser, BoundsUser],
            Class::SupervisorSensitive => &[ControlSuper, LocationSuper, BoundsSuper],
            Class::TimingDependent => &[TimingUser, TimingSuper],
            Class::Innocuous => &[
                ControlUser,
                ControlSuper,
                LocationUser,
                LocationSuper,
                BoundsUser,
                BoundsSuper,
                ModeSensitive,
            ],
        }
    }

    /// Whether the class is the *absence* of its atoms' witnesses.
    fn negated(self) -> bool {
        matches!(self, Class::Privileged | Class::Innocuous)
    }
}

/// The value of one class for one instruction, and how it is known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClassVerdict {
    /// Whether the instruction is in the class.
    pub value: bool,
    /// How that is known.
    pub evidence: Evidence,
    /// The witness it rests on, when a witness settles it.
    pub witness: Option<usize>,
    /// In words: the witness's observation, the proof's reason, or the search's extent.
    pub detail: String,
}

/// Derives a class from the atoms' findings.
pub fn derive(
    class: Class,
    findings: &BTreeMap<Atom, Finding>,
    observations: &[String],
) -> ClassVerdict {
    let atoms = class.atoms();
    let witnessed = atoms.iter().find_map(|a| match findings.get(a) {
        Some(Finding::Witnessed { witness, by }) => Some((*a, *witness, *by)),
        _ => None,
    });
    let (any, evidence, witness, detail) = match witnessed {
        Some((atom, w, by)) => {
            let obs = observations.get(w).map_or("", String::as_str);
            let how = match by {
                Evidence::Proof => ", constructed",
                Evidence::Solver => ", from the solver's model",
                _ => "",
            };
            (
                true,
                by,
                Some(w),
                format!("witness {w} ({}{how}): {obs}", atom.name()),
            )
        }
        None => {
            let mut weakest = Evidence::Proof;
            let mut details: Vec<String> = Vec::new();
            for a in atoms {
                if let Some(Finding::Absent { by, detail }) = findings.get(a) {
                    weakest = weakest.min(*by);
                    if !details.contains(detail) {
                        details.push(detail.clone());
                    }
                }
            }
            (false, weakest, None, details.join("; "))
        }
    };
    ClassVerdict {
        value: any != class.negated(),
        evidence,
        witness,
        detail,
    }
}
