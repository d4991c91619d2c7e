//! Witnesses: concrete states that show a class, written to a file and replayed on the machine.
//!
//! A witness names its profile, its instruction and its atom, and holds the one or two states
//! the definition needs and the [`Observation`] the classifier made. Replaying re-runs the
//! states through the machine and re-applies the same check ([`crate::check`]); it succeeds
//! only if the same observation comes out and the file's `claim` is that observation's text
//! (the claim is recomputed, never taken from the file). Before running, replay makes sure the states really
//! are the pair the definition talks about (same state in two modes, a shifted copy, the same
//! state with two clocks, the same state with the assist off and on), so a hand-edited file cannot "show" something the definition does
//! not.

use std::path::Path;

use pgvm_isa::{Isa, IsaError, Mode};
use pgvm_machine::{MAX_WORDS, REG_MAX, Step};
use serde::{Deserialize, Serialize};

use crate::check::{self, Observation, Run};
use crate::state::{HypoView, State};
use crate::verdict::{Atom, Evidence};

/// One witness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Witness {
    /// The profile's name.
    pub isa: String,
    /// The file the profile was read from (`isa/NAME.isa` for a built-in).
    pub isa_file: String,
    /// The instruction.
    pub mnemonic: String,
    /// What it witnesses.
    pub atom: Atom,
    /// How it was found: `search` or `exhaustive`, or `proof` for a counterexample to
    /// privilege constructed because the body cannot trap in user mode.
    pub found_by: Evidence,
    /// The run's seed (search) and the index of the sample or enumerated state.
    pub seed: u64,
    /// Index of the sample (search) or of the enumerated state (exhaustive).
    pub sample: u64,
    /// The states: one for control sensitivity; `[super, user]` for privilege and mode
    /// sensitivity; `[S, S shifted by x]` for location; `[S, S with another bound]` for
    /// bounds; `[S, S with another clock]` for timing; `[S with the assist off, S with it
    /// on]` for an unsound assist.
    pub states: Vec<State>,
    /// The shift `x`, for location sensitivity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shift: Option<i64>,
    /// What the classifier observed.
    pub observation: Observation,
    /// The observation in words.
    pub claim: String,
}

/// A file of witnesses, as `--witness-out` writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessFile {
    /// Format version, 1.
    pub pgvm_witnesses: u32,
    /// The witnesses.
    pub witnesses: Vec<Witness>,
}

/// Everything that can go wrong reading or replaying witnesses.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    /// The file could not be read (missing, not a regular file, too large, not text).
    #[error(transparent)]
    Io(#[from] pgvm_isa::ReadError),
    /// The file is not a witness file.
    #[error(
        "{path}:{line}:{column}: {message}\n  hint: a witness file is the JSON that `pgvm classify --witness-out FILE` writes"
    )]
    Json {
        /// The path.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What serde_json said.
        message: String,
    },
    /// A witness that cannot be what it says it is.
    #[error("Witness {index} ({mnemonic}, {atom}): {reason}")]
    Malformed {
        /// 0-based index in the file.
        index: usize,
        /// Its instruction.
        mnemonic: String,
        /// Its atom.
        atom: &'static str,
        /// What is wrong.
        reason: String,
    },
}

impl WitnessFile {
    /// Parses a witness file's text; `path` is only for messages.
    pub fn parse(path: &str, text: &str) -> Result<WitnessFile, WitnessError> {
        let file: WitnessFile = serde_json::from_str(text).map_err(|e| {
            // serde_json appends " at line L column C"; the location leads the message instead.
            let mut message = e.to_string();
            if let Some(i) = message.rfind(" at line ") {
                message.truncate(i);
            }
            WitnessError::Json {
                path: path.to_string(),
                line: e.line(),
                column: e.column().max(1),
                message,
            }
        })?;
        if file.pgvm_witnesses != 1 {
            return Err(WitnessError::Json {
                path: path.to_string(),
                line: 1,
                column: 1,
                message: format!(
                    "format version {} is not supported (expected 1)",
                    file.pgvm_witnesses
                ),
            });
        }
        Ok(file)
    }

    /// Reads a witness file.
    pub fn read(path: &Path) -> Result<WitnessFile, WitnessError> {
        let text = pgvm_isa::read_text(path, pgvm_isa::MAX_DATA_BYTES)?;
        WitnessFile::parse(&path.display().to_string(), &text)
    }

    /// The file's JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

impl Witness {
    /// Loads the witness's profile: the built-in of that name if it came from one, else its
    /// file.
    pub fn load_isa(&self) -> Result<Isa, IsaError> {
        let builtin = pgvm_isa::builtin_names().contains(&self.isa.as_str())
            && self.isa_file == format!("isa/{}.isa", self.isa);
        if builtin {
            pgvm_isa::load(&self.isa)
        } else {
            pgvm_isa::load_file(Path::new(&self.isa_file))
        }
    }
}

/// A replayed witness: each state's run, and what the check saw this time.
#[derive(Debug, Clone)]
pub struct Replay {
    /// The states and their results, in the witness's order.
    pub runs: Vec<(State, HypoView, Step)>,
    /// What the definition's check observed on these runs.
    pub observed: Option<Observation>,
    /// The claim recomputed from `observed`: what the witness file's `claim` must say.
    pub claim: Option<String>,
    /// Whether the file's observation is exactly `observed`.
    pub observation_matches: bool,
    /// Whether the file's claim is exactly `claim`.
    pub claim_matches: bool,
    /// Whether both match: the witness shows what it says.
    pub confirmed: bool,
}

/// Re-executes a witness on `isa` and checks it.
pub fn replay(isa: &Isa, w: &Witness, index: usize) -> Result<Replay, WitnessError> {
    let bad = |reason: String| WitnessError::Malformed {
        index,
        mnemonic: w.mnemonic.clone(),
        atom: w.atom.name(),
        reason,
    };
    let id = isa.insn(&w.mnemonic).ok_or_else(|| {
        bad(format!(
            "profile `{}` has no instruction `{}`",
            isa.name, w.mnemonic
        ))
    })?;
    let expected = match w.atom {
        Atom::ControlUser | Atom::ControlSuper => 1,
        _ => 2,
    };
    if w.states.len() != expected {
        return Err(bad(format!(
            "expected {expected} state(s), found {}",
            w.states.len()
        )));
    }
    let mut states = w.states.clone();
    for s in &mut states {
        normalize(s).map_err(&bad)?;
        let fetched = s.develop(s.p).map(|pa| isa.decode(s.word(pa)));
        if fetched != Some(Some(id)) {
            return Err(bad(format!(
                "the word at P of a state is not `{}`",
                w.mnemonic
            )));
        }
    }
    check_relation(w, &states).map_err(bad)?;
    let runs: Vec<(State, HypoView, Step)> = states
        .into_iter()
        .map(|s| {
            let mut v = HypoView::new(s.clone());
            let step = crate::state::run(isa, &mut v);
            (s, v, step)
        })
        .collect();
    let run = |i: usize| Run {
        before: &runs[i].0,
        after: &runs[i].1,
        step: runs[i].2,
    };
    let observed = match w.atom {
        Atom::ControlUser | Atom::ControlSuper => check::control(run(0)),
        Atom::NotPrivileged => check::not_privileged(run(0), run(1)),
        Atom::ModeSensitive => check::mode(run(0), run(1)),
        Atom::LocationUser | Atom::LocationSuper => check::location(run(0), run(1)),
        Atom::BoundsUser | Atom::BoundsSuper => check::bounds(run(0), run(1)),
        Atom::TimingUser | Atom::TimingSuper => check::timing(run(0), run(1)),
        Atom::AssistUnsound => check::assist_unsound(run(0), run(1)),
    };
    let claim = observed.as_ref().map(Observation::to_string);
    let observation_matches = observed.as_ref() == Some(&w.observation);
    let claim_matches = claim.as_deref() == Some(w.claim.as_str());
    Ok(Replay {
        runs,
        observed,
        claim,
        observation_matches,
        claim_matches,
        confirmed: observation_matches && claim_matches,
    })
}

/// Makes a state from a file safe to run: sizes in range, memory sorted and inside `q`.
fn normalize(s: &mut State) -> Result<(), String> {
    if s.q == 0 || s.q > MAX_WORDS {
        return Err(format!("q = {} is outside 1..={MAX_WORDS}", s.q));
    }
    if s.p > REG_MAX || s.l > REG_MAX || s.b > REG_MAX {
        return Err(format!(
            "P, l and b must fit in 21 bits (largest {REG_MAX})"
        ));
    }
    if let Some(&(a, _)) = s.memory.iter().find(|(a, _)| *a >= s.q) {
        return Err(format!("memory word {a:#x} is outside q = {:#x}", s.q));
    }
    s.memory.sort_unstable_by_key(|&(a, _)| a);
    let n = s.memory.len();
    s.memory.dedup_by_key(|&mut (a, _)| a);
    if s.memory.len() != n {
        return Err("a memory address is listed twice".into());
    }
    Ok(())
}

/// The states must be the pair the atom's definition is about.
fn check_relation(w: &Witness, s: &[State]) -> Result<(), String> {
    if let Some(m) = Atom::mode(w.atom)
        && s.iter().any(|st| st.mode != m)
    {
        return Err(format!("every state must be in {m} mode"));
    }
    match w.atom {
        Atom::NotPrivileged | Atom::ModeSensitive => {
            if s[0].mode != Mode::Supervisor || s[1] != s[0].with_mode(Mode::User) {
                return Err("the states must be <e, s, p, r> and <e, u, p, r>".into());
            }
        }
        Atom::LocationUser | Atom::LocationSuper => {
            let x = w.shift.ok_or("a location witness needs its shift x")?;
            if s[0].shifted(x).as_ref() != Some(&s[1]) {
                return Err(format!(
                    "the second state must be the first shifted by x = {x}: <e|r⊕x, m, p, r⊕x>"
                ));
            }
        }
        Atom::BoundsUser | Atom::BoundsSuper => {
            if s[0].with_bound(s[1].b).as_ref() != Some(&s[1]) {
                return Err(
                    "the states must be <e, m, p, <l, b1>> and <e, m, p, <l, b2>>: the same but for b, and P < b in both"
                        .into(),
                );
            }
        }
        Atom::TimingUser | Atom::TimingSuper => {
            let same = State {
                clock: s[0].clock,
                ..s[1].clone()
            };
            if same != s[0] || s[0].clock == s[1].clock {
                return Err("the states must differ in the clock and nothing else".into());
            }
        }
        Atom::AssistUnsound => {
            let on = State {
                assist: true,
                ..s[0].clone()
            };
            if s[0].assist || s[1] != on {
                return Err(
                    "the states must be the same but for the assist bit, off in the first and on in the second"
                        .into(),
                );
            }
        }
        Atom::ControlUser | Atom::ControlSuper => {}
    }
    Ok(())
}
