//! The classifier: derives every instruction's classes (DESIGN.md §2) from its semantics, with a
//! proof or a replayable witness for each answer, and decides the conditions of Theorems 1, 2
//! and 3 (§3).
//!
//! How an instruction is classified ([`classify`]):
//!
//! 1. **Proof** ([`proof`]): the body is specialized to each starting mode and its residual's
//!    effects settle whatever they can, for all states: Lemma 1's innocuous case, the
//!    structural form of privilege, and per-mode "cannot be control-, location-, bounds- or
//!    timing-sensitive". A body that cannot trap in user mode gets its counterexample to
//!    privilege constructed ([`construct`]) rather than left to the search.
//! 2. **Search** ([`search`]): every question still open is put to states generated from the
//!    seed, run through the machine's own interpreter ([`pgvm_machine::step`]) on the
//!    classifier's state view ([`HypoView`]). A witness settles a question; N states without
//!    one are reported as exactly that, never as a proof.
//! 3. **SMT** ([`smt`], on request): every question the search left open is put to an
//!    external `z3` as one bit-vector query: `unsat` proves the atom absent for all states,
//!    `sat` gives a witness that is replayed like any other, a timeout leaves the search's
//!    answer (and says so).
//! 4. **Exhaustive** ([`exhaustive`], on request): what is still open is checked on every state
//!    of a small stated configuration.
//!
//! Instructions are classified in parallel (rayon); each one's states come from its own stream
//! of the seed, so results never depend on scheduling.

pub mod check;
pub mod construct;
pub mod exhaustive;
pub mod generate;
pub mod oracle;
pub mod proof;
pub mod search;
pub mod smt;
pub mod soundness;
pub mod state;
pub mod theorem;
pub mod verdict;
pub mod witness;

use std::collections::BTreeMap;

use pgvm_isa::{InsnId, Isa};
use rayon::prelude::*;

pub use check::Observation;
pub use oracle::{Oracle, OracleReport, OracleWitness, OracleWitnessFile, Outcome};
pub use soundness::{Soundness, Unsound};
pub use state::{HypoView, State};
pub use theorem::{CriticalSet, Theorem};
pub use verdict::{ATOMS, Atom, CLASSES, Class, ClassVerdict, Evidence, Finding, N_ATOMS};
pub use witness::{Replay, Witness, WitnessError, WitnessFile, replay};

use crate::generate::{Target, insn_seed};
use crate::search::Tally;

/// The default number of states searched per instruction and open question.
pub const DEFAULT_SAMPLES: u64 = 100_000;

/// How to classify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The seed of every generated state.
    pub seed: u64,
    /// States searched per instruction and open question (at least 1).
    pub samples: u64,
    /// Also check every state of the small exhaustive configuration.
    pub exhaustive: bool,
    /// Use proofs from the semantics. Off only to test the proofs against the search.
    pub proofs: bool,
    /// The assist bit of every state; `None` means on exactly when the profile has
    /// `feature assist` (the monitor enables it).
    pub assist: Option<bool>,
    /// Put every atom the search leaves open to an SMT solver ([`smt`]).
    pub smt: Option<smt::SmtSettings>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            seed: 0,
            samples: DEFAULT_SAMPLES,
            exhaustive: false,
            proofs: true,
            assist: None,
            smt: None,
        }
    }
}

/// Errors of the classifier's configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClassifyError {
    /// A search of zero states.
    #[error(
        "Samples must be at least 1: a search of no states finds no witness and shows nothing\n  hint: leave it at the default ({DEFAULT_SAMPLES}), or use --exhaustive for a complete check of a small configuration"
    )]
    NoSamples,
}

impl Config {
    /// Refuses settings that would make the evidence meaningless.
    pub fn validate(&self) -> Result<(), ClassifyError> {
        if self.samples == 0 {
            return Err(ClassifyError::NoSamples);
        }
        Ok(())
    }

    /// Whether states of `isa` have the assist bit on.
    pub fn assist_for(&self, isa: &Isa) -> bool {
        isa.features.assist && self.assist.unwrap_or(true)
    }
}

/// One instruction's classification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsnReport {
    /// The mnemonic.
    pub mnemonic: String,
    /// The opcode.
    pub opcode: u64,
    /// Every class, with its evidence.
    pub classes: BTreeMap<Class, ClassVerdict>,
    /// How each atomic question was settled.
    pub findings: BTreeMap<Atom, Finding>,
    /// The witnesses the findings refer to.
    pub witnesses: Vec<Witness>,
    /// States in the exhaustive configuration, when it ran.
    pub exhaustive_states: Option<u64>,
    /// Bugs of the SMT encoding found while classifying this instruction (a model that did
    /// not replay, a query the solver refused). Never expected; reported loudly.
    pub smt_bugs: Vec<String>,
}

impl InsnReport {
    /// Whether the instruction is in `class`.
    pub fn is(&self, class: Class) -> bool {
        self.classes.get(&class).is_some_and(|v| v.value)
    }

    /// Sensitive: control- or behavior-sensitive.
    pub fn sensitive(&self) -> bool {
        !self.is(Class::Innocuous)
    }
}

/// One profile's classification and theorem verdicts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The profile's name.
    pub isa: String,
    /// The file it was read from.
    pub file: String,
    /// Whether every state had the assist bit on ("under the assist").
    pub assist: bool,
    /// The settings used.
    pub config: Config,
    /// Per instruction, in the profile's order.
    pub instructions: Vec<InsnReport>,
    /// Theorem 1: sensitive ⊆ privileged.
    pub theorem1: Theorem,
    /// Theorem 2: Theorem 1 and no timing dependence that runs untrapped in user mode.
    pub theorem2: Theorem,
    /// Theorem 3: user-sensitive ⊆ privileged.
    pub theorem3: Theorem,
    /// The assist's soundness: no instruction traps with the assist off and not with it on
    /// (DESIGN.md §4c). Trivially sound without `feature assist`.
    pub assist_soundness: Soundness,
}

/// Classifies one profile.
pub fn classify(isa: &Isa, config: &Config) -> Result<Report, ClassifyError> {
    let mut reports = classify_all(std::slice::from_ref(isa), config, &|| {})?;
    Ok(reports.remove(0))
}

/// Classifies several profiles at once, every instruction of every profile in parallel.
/// `progress` is called once per instruction finished.
pub fn classify_all(
    isas: &[Isa],
    config: &Config,
    progress: &(dyn Fn() + Sync),
) -> Result<Vec<Report>, ClassifyError> {
    config.validate()?;
    let jobs: Vec<(usize, InsnId)> = isas
        .iter()
        .enumerate()
        .flat_map(|(k, isa)| (0..isa.insns.len()).map(move |id| (k, id)))
        .collect();
    let mut done: Vec<InsnReport> = jobs
        .par_iter()
        .map(|&(k, id)| {
            let r = classify_insn(&isas[k], id, config);
            progress();
            r
        })
        .collect();
    let mut reports = Vec::new();
    for isa in isas.iter().rev() {
        let instructions = done.split_off(done.len() - isa.insns.len());
        reports.push(report(isa, config, instructions));
    }
    reports.reverse();
    Ok(reports)
}

/// The total number of instructions [`classify_all`] will report progress for.
pub fn job_count(isas: &[Isa]) -> u64 {
    isas.iter().map(|i| i.insns.len() as u64).sum()
}

fn report(isa: &Isa, config: &Config, instructions: Vec<InsnReport>) -> Report {
    let theorem1 = theorem::theorem1(&instructions);
    let theorem3 = theorem::theorem3(&instructions);
    let theorem2 = theorem::theorem2(&instructions, &theorem1);
    let assist_soundness = Soundness::of(isa.features.assist, &instructions);
    Report {
        isa: isa.name.clone(),
        file: isa.file.clone(),
        assist: config.assist_for(isa),
        config: config.clone(),
        instructions,
        theorem1,
        theorem2,
        theorem3,
        assist_soundness,
    }
}

/// Classifies one instruction: proofs, then search, then (on request) the exhaustive check.
pub fn classify_insn(isa: &Isa, id: InsnId, config: &Config) -> InsnReport {
    let insn = &isa.insns[id];
    let Settled {
        findings,
        witnesses,
        exhaustive_states,
        smt_bugs,
    } = settle(isa, id, config, [true; N_ATOMS]);
    let claims: Vec<String> = witnesses
        .iter()
        .map(|w: &Witness| w.claim.clone())
        .collect();
    let classes = CLASSES
        .iter()
        .map(|&c| (c, verdict::derive(c, &findings, &claims)))
        .collect();
    InsnReport {
        mnemonic: insn.mnemonic.clone(),
        opcode: insn.opcode,
        classes,
        findings,
        witnesses,
        exhaustive_states,
        smt_bugs,
    }
}

/// Decides only the assist's soundness (DESIGN.md §4c) for every instruction of `isa`: the
/// same proofs, search and exhaustive check as [`classify`], with every other question left
/// unasked. What a monitor asks before it turns the assist on. The instructions' reports
/// carry only [`Atom::AssistUnsound`] and no classes.
pub fn assist_soundness(isa: &Isa, config: &Config) -> Result<Soundness, ClassifyError> {
    config.validate()?;
    let mut wanted = [false; N_ATOMS];
    wanted[Atom::AssistUnsound.index()] = true;
    let insns: Vec<InsnReport> = (0..isa.insns.len())
        .into_par_iter()
        .map(|id| {
            let s = settle(isa, id, config, wanted);
            InsnReport {
                mnemonic: isa.insns[id].mnemonic.clone(),
                opcode: isa.insns[id].opcode,
                classes: BTreeMap::new(),
                findings: s.findings,
                witnesses: s.witnesses,
                exhaustive_states: s.exhaustive_states,
                smt_bugs: s.smt_bugs,
            }
        })
        .collect();
    Ok(Soundness::of(isa.features.assist, &insns))
}

/// One instruction's settled atoms.
struct Settled {
    findings: BTreeMap<Atom, Finding>,
    witnesses: Vec<Witness>,
    exhaustive_states: Option<u64>,
    smt_bugs: Vec<String>,
}

/// Settles the `wanted` atoms of one instruction: proofs, then search, then (on request) the
/// exhaustive check.
fn settle(isa: &Isa, id: InsnId, config: &Config, wanted: [bool; N_ATOMS]) -> Settled {
    let insn = &isa.insns[id];
    let assist = config.assist_for(isa);
    let target = Target::new(isa, id, assist);
    let mut findings: BTreeMap<Atom, Finding> = BTreeMap::new();
    let mut witnesses = Vec::new();
    if config.proofs {
        let p = proofs_of(isa, id, assist);
        for (atom, reason) in absences(isa, id, assist, &p) {
            if !wanted[atom.index()] {
                continue;
            }
            findings.insert(
                atom,
                Finding::Absent {
                    by: Evidence::Proof,
                    detail: format!("proof: {reason}"),
                },
            );
        }
        if wanted[Atom::NotPrivileged.index()]
            && p.user_never_traps.is_some()
            && !findings.contains_key(&Atom::NotPrivileged)
            && let Some(found) = construct::not_privileged(&target)
        {
            let mut tally = Tally::default();
            tally.found[Atom::NotPrivileged.index()] = Some(found);
            take_witnesses(
                isa,
                id,
                config,
                tally,
                Evidence::Proof,
                &mut findings,
                &mut witnesses,
            );
        }
    }
    let open =
        |f: &BTreeMap<Atom, Finding>| ATOMS.map(|a| wanted[a.index()] && !f.contains_key(&a));
    let seed = insn_seed(config.seed, &isa.name, &insn.mnemonic);
    let tally = search::search(&target, seed, config.samples, open(&findings));
    let searched = tally.checked;
    take_witnesses(
        isa,
        id,
        config,
        tally,
        Evidence::Search,
        &mut findings,
        &mut witnesses,
    );
    let mut smt_notes: [Option<String>; N_ATOMS] = Default::default();
    let mut smt_bugs = Vec::new();
    if let Some(settings) = &config.smt {
        // The atoms' queries run in parallel too (each is its own solver process).
        // The soundness atom compares the assist off with on whatever the classification's
        // assist; it is only ever open on a profile with the feature.
        let still_open = open(&findings);
        let answers: Vec<(Atom, smt::Answer)> = ATOMS
            .into_par_iter()
            .filter(|a| still_open[a.index()])
            .map(|atom| (atom, smt::decide(isa, id, atom, assist, settings)))
            .collect();
        for (atom, answer) in answers {
            match answer {
                smt::Answer::Unsat => {
                    findings.insert(
                        atom,
                        Finding::Absent {
                            by: Evidence::Proof,
                            detail: format!(
                                "proof (smt): {} finds no witness in any state (unsat), q up to {}",
                                settings.solver.describe(),
                                pgvm_machine::MAX_WORDS
                            ),
                        },
                    );
                }
                smt::Answer::Sat(m) => {
                    let mut tally = Tally::default();
                    let found = search::Found {
                        atom,
                        states: m.states,
                        shift: m.shift,
                        observation: m.observation,
                    };
                    tally.found[atom.index()] = Some((0, found));
                    take_witnesses(
                        isa,
                        id,
                        config,
                        tally,
                        Evidence::Solver,
                        &mut findings,
                        &mut witnesses,
                    );
                }
                smt::Answer::Timeout(t) => {
                    smt_notes[atom.index()] =
                        Some(format!("solver timed out after {} s", t.as_secs()));
                }
                smt::Answer::Failed { reason, bug } => {
                    if bug {
                        smt_bugs.push(reason.clone());
                    }
                    smt_notes[atom.index()] = Some(format!("solver gave no answer: {reason}"));
                }
            }
        }
    }
    let mut exhaustive_states = None;
    if config.exhaustive && open(&findings).contains(&true) {
        let n = exhaustive::size(&target);
        exhaustive_states = Some(n);
        let tally = exhaustive::enumerate(&target, open(&findings));
        take_witnesses(
            isa,
            id,
            config,
            tally,
            Evidence::Exhaustive,
            &mut findings,
            &mut witnesses,
        );
        for a in ATOMS.into_iter().filter(|a| wanted[a.index()]) {
            findings.entry(a).or_insert_with(|| Finding::Absent {
                by: Evidence::Exhaustive,
                detail: format!(
                    "exhaustive: no witness in all {n} states of the configuration (nor in {} searched, seed {})",
                    searched[a.index()],
                    config.seed
                ),
            });
        }
    }
    for a in ATOMS.into_iter().filter(|a| wanted[a.index()]) {
        let note = smt_notes[a.index()]
            .as_ref()
            .map_or(String::new(), |n| format!("; {n}"));
        findings.entry(a).or_insert_with(|| Finding::Absent {
            by: Evidence::Search,
            detail: format!(
                "search: no witness in {} states, seed {}{note}",
                searched[a.index()],
                config.seed
            ),
        });
    }
    Settled {
        findings,
        witnesses,
        exhaustive_states,
        smt_bugs,
    }
}

/// The atoms proven absent for instruction `id`, with the reason.
pub fn proved(isa: &Isa, id: InsnId, assist: bool) -> Vec<(Atom, String)> {
    absences(isa, id, assist, &proofs_of(isa, id, assist))
}

fn proofs_of(isa: &Isa, id: InsnId, assist: bool) -> proof::Proofs {
    let insn = &isa.insns[id];
    proof::prove(&insn.body, &insn.effects, Some(assist))
}

fn absences(isa: &Isa, id: InsnId, assist: bool, p: &proof::Proofs) -> Vec<(Atom, String)> {
    let insn = &isa.insns[id];
    let assist_note = |r: String| {
        if assist && insn.effects.reads.contains(&pgvm_isa::Primitive::Assist) {
            format!("{r} (under the assist)")
        } else {
            r
        }
    };
    let mut out = Vec::new();
    let mut add = |a: Atom, r: &Option<String>| {
        if let Some(r) = r {
            out.push((a, assist_note(r.clone())));
        }
    };
    add(Atom::NotPrivileged, &p.privileged);
    add(Atom::ControlUser, &p.no_control[0]);
    add(Atom::ControlSuper, &p.no_control[1]);
    add(Atom::LocationUser, &p.no_location[0]);
    add(Atom::LocationSuper, &p.no_location[1]);
    add(Atom::BoundsUser, &p.no_bounds[0]);
    add(Atom::BoundsSuper, &p.no_bounds[1]);
    add(Atom::ModeSensitive, &p.no_mode);
    add(Atom::TimingUser, &p.no_timing[0]);
    add(Atom::TimingSuper, &p.no_timing[1]);
    // Soundness compares the assist off with on, whatever the classification's assist.
    if let Some(r) = proof::assist_sound(&insn.body, &insn.effects, isa.features.assist) {
        out.push((Atom::AssistUnsound, r));
    }
    out
}

fn take_witnesses(
    isa: &Isa,
    id: InsnId,
    config: &Config,
    tally: Tally,
    by: Evidence,
    findings: &mut BTreeMap<Atom, Finding>,
    witnesses: &mut Vec<Witness>,
) {
    for (sample, found) in tally.found.into_iter().flatten() {
        findings.insert(
            found.atom,
            Finding::Witnessed {
                witness: witnesses.len(),
                by,
            },
        );
        witnesses.push(Witness {
            isa: isa.name.clone(),
            isa_file: isa.file.clone(),
            mnemonic: isa.insns[id].mnemonic.clone(),
            atom: found.atom,
            found_by: by,
            seed: config.seed,
            sample,
            states: found.states,
            shift: found.shift,
            claim: found.observation.to_string(),
            observation: found.observation,
        });
    }
}

/// What the SMT backend did for one profile: how many atoms it settled each way.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SmtSummary {
    /// The solver, with its version (`z3 4.8.12`).
    pub solver: String,
    /// The timeout of each query, in seconds.
    pub timeout_secs: u64,
    /// Atoms proved absent (`unsat`).
    pub proved: usize,
    /// Atoms witnessed by a model (`sat`), each replayed.
    pub witnessed: usize,
    /// Atoms the solver did not decide in time (they keep the search's answer).
    pub timed_out: usize,
    /// Bugs of the encoding: models that did not replay, queries the solver refused.
    pub bugs: Vec<String>,
}

impl Report {
    /// The binary translator's critical set: sensitive and not privileged (Theorem 1's
    /// violations), and whether it is complete by proof.
    pub fn critical(&self) -> theorem::CriticalSet {
        theorem::critical(&self.instructions)
    }

    /// What the SMT backend did, when the classification used it.
    pub fn smt_summary(&self) -> Option<SmtSummary> {
        let s = self.config.smt.as_ref()?;
        let mut sum = SmtSummary {
            solver: s.solver.describe(),
            timeout_secs: s.timeout.as_secs(),
            proved: 0,
            witnessed: 0,
            timed_out: 0,
            bugs: Vec::new(),
        };
        for i in &self.instructions {
            for f in i.findings.values() {
                match f {
                    Finding::Witnessed {
                        by: Evidence::Solver,
                        ..
                    } => sum.witnessed += 1,
                    Finding::Absent { detail, .. } if detail.starts_with("proof (smt)") => {
                        sum.proved += 1
                    }
                    Finding::Absent { detail, .. } if detail.contains("solver timed out") => {
                        sum.timed_out += 1
                    }
                    _ => {}
                }
            }
            sum.bugs.extend(i.smt_bugs.iter().cloned());
        }
        Some(sum)
    }

    /// Every witness of every instruction, as a witness file.
    pub fn witness_file(reports: &[Report]) -> WitnessFile {
        WitnessFile {
            pgvm_witnesses: 1,
            witnesses: reports
                .iter()
                .flat_map(|r| &r.instructions)
                .flat_map(|i| i.witnesses.iter().cloned())
                .collect(),
        }
    }
}
