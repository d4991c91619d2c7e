//! The hardware assist's soundness (DESIGN.md §4c), decided per profile from each
//! instruction's [`Atom::AssistUnsound`] finding.
//!
//! A monitor that turns the assist on relies on it only *adding* traps: every instruction
//! that traps with the assist off must also trap with it on, for the same state otherwise.
//! An assist that removes a trap lets a guest run something directly that the monitor was
//! meant to see. The verdict is as strong as its weakest instruction's evidence, as the
//! theorems' are; an unsound verdict names each instruction and its replayable witness.

use serde::Serialize;

use crate::InsnReport;
use crate::verdict::{Atom, Evidence, Finding};
use crate::witness::Witness;

/// One instruction the assist is unsound for, with its witness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unsound {
    /// The instruction.
    pub mnemonic: String,
    /// The witness: `[S with the assist off, S with it on]`.
    pub witness: Witness,
}

/// A profile's assist soundness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Soundness {
    /// Whether the profile has `feature assist` at all (without it, soundness is trivial).
    pub feature: bool,
    /// Whether no instruction has a witness of unsoundness.
    pub sound: bool,
    /// When sound: the weakest evidence it rests on.
    pub evidence: Option<Evidence>,
    /// When sound: the instructions whose part rests on search or exhaustive evidence.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unproven: Vec<String>,
    /// When unsound: every instruction with a witness.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unsound: Vec<Unsound>,
}

impl Soundness {
    /// Decides soundness from the instructions' findings.
    pub fn of(feature: bool, insns: &[InsnReport]) -> Soundness {
        let mut unsound = Vec::new();
        let mut unproven = Vec::new();
        let mut evidence = Evidence::Proof;
        for i in insns {
            match i.findings.get(&Atom::AssistUnsound) {
                Some(Finding::Witnessed { witness, .. }) => {
                    if let Some(w) = i.witnesses.get(*witness) {
                        unsound.push(Unsound {
                            mnemonic: i.mnemonic.clone(),
                            witness: w.clone(),
                        });
                    }
                }
                Some(Finding::Absent { by, .. }) => {
                    evidence = evidence.min(*by);
                    if *by != Evidence::Proof {
                        unproven.push(i.mnemonic.clone());
                    }
                }
                // Not asked: nothing is known, so nothing is claimed.
                None => {
                    evidence = Evidence::Search;
                    unproven.push(i.mnemonic.clone());
                }
            }
        }
        let sound = unsound.is_empty();
        if !sound {
            unproven.clear();
        }
        Soundness {
            feature,
            sound,
            evidence: sound.then_some(evidence),
            unproven,
            unsound,
        }
    }

    /// One line for reports: `none (...)` without an assist, else `sound (proof)`,
    /// `sound (search; ...)` or `UNSOUND: insn ...: claim`.
    pub fn summary(&self) -> String {
        if let Some(u) = self.unsound.first() {
            let more = match self.unsound.len() {
                1 => String::new(),
                n => format!(" (and {} more)", n - 1),
            };
            return format!("UNSOUND: insn {}: {}{more}", u.mnemonic, u.witness.claim);
        }
        if !self.feature {
            return "none (no `feature assist`: nothing a monitor turns on)".into();
        }
        let how = match self.evidence {
            Some(Evidence::Proof) => "proof".to_string(),
            Some(e) => format!(
                "{}; not a proof; resting on search or exhaustive evidence: {}",
                e.name(),
                self.unproven.join(", ")
            ),
            None => "?".into(),
        };
        format!("sound ({how})")
    }
}
