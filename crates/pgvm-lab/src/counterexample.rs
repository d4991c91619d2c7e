//! Theorem 1's failures, shown on the monitor.
//!
//! The classifier says which instructions are sensitive but not privileged, and backs each
//! "sensitive" with a witness state. That state is already a program: its memory holds the
//! instruction at `P`, and its `<M, P, R>` is where to start. Running it bare and under
//! trap-and-emulate, the equivalence checker finds where the two part ways: the constructive
//! side of the theorem's "if", shown failing where its condition fails.

use std::sync::Arc;

use pgvm_classify::{
    Atom, ClassifyError, Config, Finding, InsnReport, Report, State, Theorem, Witness,
};
use pgvm_isa::Isa;
use pgvm_machine::Psw;
use serde::Serialize;

use crate::equiv::{EquivError, Equivalence};
use crate::guest::{Guest, guest_of_state};

/// Why the counterexamples could not be sought.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CounterexampleError {
    /// The classifier refused its configuration.
    #[error(transparent)]
    Classify(#[from] ClassifyError),
    /// A run on the monitor could not be set up.
    #[error(transparent)]
    Equiv(#[from] EquivError),
    /// The classifier's report names an instruction the profile does not have.
    #[error("The classifier named `{0}`, which the profile lacks")]
    UnknownInsn(String),
}

/// The sensitivity atoms, in the order their witnesses are tried: those from supervisor
/// mode first, because the monitor runs virtual supervisor code in real user mode, which is
/// where a sensitive unprivileged instruction gives itself away.
const SENSITIVE: [Atom; 7] = [
    Atom::ModeSensitive,
    Atom::ControlSuper,
    Atom::LocationSuper,
    Atom::BoundsSuper,
    Atom::ControlUser,
    Atom::LocationUser,
    Atom::BoundsUser,
];

/// Other seeds tried when no witness of the first fits in a VM.
const RESEEDS: u64 = 8;

/// A run of a guest's words, with each word disassembled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Segment {
    /// The guest address of the first word.
    pub org: u64,
    /// The words.
    pub words: Vec<u64>,
    /// Each word as assembly.
    pub disasm: Vec<String>,
}

/// The guest a witness became.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GuestView {
    /// Its memory `w`.
    pub w: u64,
    /// Where it starts.
    #[serde(serialize_with = "crate::display")]
    pub entry: Psw,
    /// Its words.
    pub segments: Vec<Segment>,
}

impl GuestView {
    fn new(g: &Guest, isa: &Isa) -> GuestView {
        GuestView {
            w: g.w,
            entry: g.entry,
            segments: g
                .segments
                .iter()
                .map(|(org, words)| Segment {
                    org: *org,
                    words: words.clone(),
                    disasm: words
                        .iter()
                        .map(|w| pgvm_asm::disassemble_word(*w, isa))
                        .collect(),
                })
                .collect(),
        }
    }

    /// The physical address of the entry's `P`, when it is inside the guest's memory.
    pub fn entry_address(&self) -> Option<u64> {
        pgvm_machine::develop(self.entry.p, self.entry.r, self.w)
    }
}

/// One instruction that breaks Theorem 1, and what its witness did on the monitor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Case {
    /// The instruction.
    pub mnemonic: String,
    /// Why it is not privileged, in words.
    pub not_privileged: String,
    /// The witness that became a diverging guest; `None` when none did.
    pub witness: Option<Witness>,
    /// That guest.
    pub guest: Option<GuestView>,
    /// Its two runs.
    pub equiv: Option<Equivalence>,
    /// Witnesses tried that did not become a diverging guest, and why.
    pub skipped: Vec<String>,
}

impl Case {
    /// Whether a witness became a diverging guest.
    pub fn shown(&self) -> bool {
        self.equiv.is_some()
    }
}

/// A profile's verdict on Theorem 1 and a case for each violation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Counterexamples {
    /// The profile.
    pub isa: String,
    /// The classifier's verdict on Theorem 1's condition.
    pub theorem1: Theorem,
    /// One per violation, in the verdict's order.
    pub counterexamples: Vec<Case>,
}

impl Counterexamples {
    /// Whether every violation gave a divergence.
    pub fn all_shown(&self) -> bool {
        self.counterexamples.iter().all(Case::shown)
    }
}

/// Classifies the profile (calling `progress` once per instruction) and demonstrates each
/// instruction that breaks Theorem 1.
pub fn find(
    isa: &Arc<Isa>,
    config: &Config,
    progress: &(dyn Fn() + Sync),
) -> Result<Counterexamples, CounterexampleError> {
    let mut reports = pgvm_classify::classify_all(std::slice::from_ref(&**isa), config, progress)?;
    let report = reports.remove(0);
    from_report(isa, &report, config)
}

/// Demonstrates each violation of Theorem 1 in a classifier report made with `config`.
pub fn from_report(
    isa: &Arc<Isa>,
    report: &Report,
    config: &Config,
) -> Result<Counterexamples, CounterexampleError> {
    let mut cases = Vec::new();
    for name in &report.theorem1.violations {
        let Some(insn) = report.instructions.iter().find(|i| &i.mnemonic == name) else {
            continue;
        };
        cases.push(demonstrate(isa, insn, config)?);
    }
    Ok(Counterexamples {
        isa: isa.name.clone(),
        theorem1: report.theorem1.clone(),
        counterexamples: cases,
    })
}

/// Tries the instruction's sensitivity witnesses, then those of other seeds, until one
/// becomes a guest whose two runs part ways.
pub fn demonstrate(
    isa: &Arc<Isa>,
    insn: &InsnReport,
    config: &Config,
) -> Result<Case, CounterexampleError> {
    let mut case = Case {
        mnemonic: insn.mnemonic.clone(),
        not_privileged: witnessed(insn, Atom::NotPrivileged)
            .map_or_else(|| "not privileged".into(), |w| w.claim.clone()),
        witness: None,
        guest: None,
        equiv: None,
        skipped: Vec::new(),
    };
    let id = isa
        .insn(&insn.mnemonic)
        .ok_or_else(|| CounterexampleError::UnknownInsn(insn.mnemonic.clone()))?;
    for k in 0..=RESEEDS {
        let reseeded;
        let report = if k == 0 {
            insn
        } else {
            let c = Config {
                seed: config.seed.wrapping_add(k),
                ..config.clone()
            };
            reseeded = pgvm_classify::classify_insn(isa, id, &c);
            &reseeded
        };
        for atom in SENSITIVE {
            let Some(w) = witnessed(report, atom) else {
                continue;
            };
            let guest = match guest_of_state(witness_state(w)) {
                Ok(g) => g,
                Err(why) => {
                    case.skipped
                        .push(format!("seed {}, {}: {why}", w.seed, atom.name()));
                    continue;
                }
            };
            // One instruction: the witness's own, which is where the definitions say it differs.
            let r = crate::equiv::check(isa, &guest, crate::TechniqueKind::Tae, 1)?;
            if r.equivalent {
                case.skipped.push(format!(
                    "seed {}, {}: the runs agree after the instruction",
                    w.seed,
                    atom.name()
                ));
                continue;
            }
            case.witness = Some(w.clone());
            case.guest = Some(GuestView::new(&guest, isa));
            case.equiv = Some(r);
            return Ok(case);
        }
    }
    Ok(case)
}

/// The state of a witness to run as a guest: the first, except for bounds sensitivity, where
/// the monitor only changes what the guest sees for a window hanging over the end of the VM
/// (it shrinks the bound to `w - l`), so the state whose window does that is the one to run.
fn witness_state(w: &Witness) -> &State {
    let hangs = |s: &&State| s.l.saturating_add(s.b) > s.q;
    match w.atom {
        Atom::BoundsUser | Atom::BoundsSuper => w.states.iter().find(hangs).unwrap_or(&w.states[0]),
        _ => &w.states[0],
    }
}

fn witnessed(insn: &InsnReport, atom: Atom) -> Option<&Witness> {
    match insn.findings.get(&atom) {
        Some(Finding::Witnessed { witness, .. }) => insn.witnesses.get(*witness),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_violation_on_m68000_diverges_at_its_own_instruction() {
        let isa = pgvm_testkit::isa("m68000");
        let config = Config {
            samples: 2000,
            ..Config::default()
        };
        let found = find(&isa, &config, &|| ()).expect("runs");
        assert!(!found.theorem1.holds);
        assert_eq!(found.counterexamples.len(), found.theorem1.violations.len());
        for c in &found.counterexamples {
            let r = c.equiv.as_ref().expect("shown");
            let d = r.divergence.as_ref().expect("diverges");
            assert_eq!(d.mnemonic, c.mnemonic);
            assert_eq!(d.index, 0);
        }
        assert!(found.all_shown());
    }

    #[test]
    fn witnesses_with_the_assist_on_become_diverging_guests() {
        // A sound assist that covers only sgdt: Theorem 1 fails under it, and every witness
        // has the assist on, as the monitor runs the guest.
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../pgvm-classify/tests/isa/assist-partial.isa"
        );
        let isa = Arc::new(
            pgvm_isa::load_file(std::path::Path::new(path)).unwrap_or_else(|e| panic!("{e}")),
        );
        let config = Config {
            samples: 2000,
            ..Config::default()
        };
        let found = find(&isa, &config, &|| ()).expect("runs");
        assert!(!found.theorem1.holds);
        assert!(!found.counterexamples.is_empty());
        for c in &found.counterexamples {
            let w = c.witness.as_ref().expect("shown");
            assert!(w.states.iter().all(|s| s.assist), "{}", c.mnemonic);
            let d = c.equiv.as_ref().and_then(|e| e.divergence.as_ref());
            assert_eq!(d.map(|d| d.mnemonic.as_str()), Some(c.mnemonic.as_str()));
            assert!(
                c.skipped.iter().all(|s| !s.contains("assist")),
                "{:?}",
                c.skipped
            );
        }
        assert!(found.all_shown());
    }

    #[test]
    fn no_case_where_theorem_1_holds() {
        let isa = pgvm_testkit::isa("s370");
        let config = Config {
            samples: 500,
            ..Config::default()
        };
        let found = find(&isa, &config, &|| ()).expect("runs");
        assert!(found.theorem1.holds);
        assert!(found.counterexamples.is_empty());
    }
}
