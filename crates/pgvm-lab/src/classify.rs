//! The classifier's report in the form `pgvm classify --json` prints: one object per
//! profile, each instruction's classes as flat boolean keys.

use std::collections::BTreeMap;

use pgvm_classify::{Report, SmtSummary, Soundness, Theorem, Witness};
use pgvm_isa::{Isa, IsaError};
use serde::Serialize;

/// The profiles to classify: the named ones (names or paths), then, with `all` or when none
/// is named, every runnable built-in not already there.
pub fn profiles(names: &[String], all: bool) -> Result<Vec<Isa>, IsaError> {
    let mut isas = Vec::new();
    for name in names {
        isas.push(pgvm_isa::load(name)?);
    }
    if all || names.is_empty() {
        for name in pgvm_isa::builtin_names() {
            let isa = pgvm_isa::load(name)?;
            if !isa.is_abstract && !isas.iter().any(|i: &Isa| i.name == isa.name) {
                isas.push(isa);
            }
        }
    }
    Ok(isas)
}

/// The search settings of a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Search {
    /// States per instruction and open question.
    pub samples: u64,
    /// The seed.
    pub seed: u64,
}

/// One class's evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Detail {
    /// The witness's observation, the proof's reason, or the search's extent.
    pub detail: String,
    /// The witness it rests on (an index into `witnesses`).
    pub witness: Option<usize>,
}

/// One instruction's classes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InsnClasses {
    /// The mnemonic.
    pub mnemonic: String,
    /// The opcode.
    pub opcode: u64,
    /// Each class by its key (`privileged`, `control_sensitive`...): whether it holds.
    #[serde(flatten)]
    pub classes: BTreeMap<&'static str, bool>,
    /// How each class is known: `proof`, `exhaustive` or `search` (or how its witness was
    /// found: also `smt`).
    pub evidence: BTreeMap<&'static str, &'static str>,
    /// Each class's evidence in words.
    pub evidence_detail: BTreeMap<&'static str, Detail>,
    /// States in the exhaustive configuration, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exhaustive_states: Option<u64>,
    /// The witnesses the classes rest on.
    pub witnesses: Vec<Witness>,
}

/// One profile's classification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classification {
    /// The profile.
    pub isa: String,
    /// The file it was read from.
    pub file: String,
    /// Whether every state had the assist bit on.
    pub assist: bool,
    /// The search's settings.
    pub search: Search,
    /// The exhaustive configuration, when it ran.
    pub exhaustive: Option<String>,
    /// What the SMT backend did, when `--smt` asked for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smt: Option<SmtSummary>,
    /// Per instruction, in the profile's order.
    pub instructions: Vec<InsnClasses>,
    /// Theorem 1: sensitive ⊆ privileged.
    pub theorem1: Theorem,
    /// Theorem 2: Theorem 1 and no timing dependence.
    pub theorem2: Theorem,
    /// Theorem 3: user-sensitive ⊆ privileged.
    pub theorem3: Theorem,
    /// The assist's soundness (DESIGN.md §4c): no instruction traps with the assist off and
    /// not with it on.
    pub assist_soundness: Soundness,
}

impl From<&Report> for Classification {
    fn from(r: &Report) -> Classification {
        Classification {
            isa: r.isa.clone(),
            file: r.file.clone(),
            assist: r.assist,
            search: Search {
                samples: r.config.samples,
                seed: r.config.seed,
            },
            exhaustive: r
                .config
                .exhaustive
                .then(pgvm_classify::exhaustive::describe),
            smt: r.smt_summary(),
            instructions: r
                .instructions
                .iter()
                .map(|i| InsnClasses {
                    mnemonic: i.mnemonic.clone(),
                    opcode: i.opcode,
                    classes: i.classes.iter().map(|(c, v)| (c.key(), v.value)).collect(),
                    evidence: i
                        .classes
                        .iter()
                        .map(|(c, v)| (c.key(), v.evidence.name()))
                        .collect(),
                    evidence_detail: i
                        .classes
                        .iter()
                        .map(|(c, v)| {
                            (
                                c.key(),
                                Detail {
                                    detail: v.detail.clone(),
                                    witness: v.witness,
                                },
                            )
                        })
                        .collect(),
                    exhaustive_states: i.exhaustive_states,
                    witnesses: i.witnesses.clone(),
                })
                .collect(),
            theorem1: r.theorem1.clone(),
            theorem2: r.theorem2.clone(),
            theorem3: r.theorem3.clone(),
            assist_soundness: r.assist_soundness.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_flat_keys_beside_the_evidence() {
        let isas = profiles(&["m68000".to_string()], false).expect("loads");
        assert_eq!(isas.len(), 1);
        let config = pgvm_classify::Config {
            samples: 500,
            ..Default::default()
        };
        let reports = pgvm_classify::classify_all(&isas, &config, &|| ()).expect("classifies");
        let v = serde_json::to_value(Classification::from(&reports[0])).expect("json");
        let movesr = v["instructions"]
            .as_array()
            .expect("instructions")
            .iter()
            .find(|i| i["mnemonic"] == "movesr")
            .expect("movesr");
        assert_eq!(movesr["mode_sensitive"], true);
        assert_eq!(movesr["privileged"], false);
        assert_eq!(movesr["evidence"]["control_sensitive"], "proof");
        assert!(movesr.get("exhaustive_states").is_none());
        assert_eq!(v["search"]["samples"], 500);
        assert!(v["exhaustive"].is_null());
        assert_eq!(v["assist_soundness"]["sound"], true);
        assert_eq!(v["assist_soundness"]["evidence"], "proof");
    }

    #[test]
    fn all_adds_every_runnable_builtin_once() {
        let isas = profiles(&["s370".to_string()], true).expect("loads");
        assert_eq!(isas.iter().filter(|i| i.name == "s370").count(), 1);
        assert!(isas.iter().all(|i| !i.is_abstract));
        assert!(isas.len() >= 7);
    }
}
