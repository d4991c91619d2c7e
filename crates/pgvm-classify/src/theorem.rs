//! The conditions of Theorems 1, 2 and 3 (DESIGN.md §3), decided from the derived classes.
//!
//! They are *sufficient* conditions. A verdict that holds is as strong as the weakest evidence
//! it rests on (an instruction counts as fine if it is privileged or, for Theorem 1, innocuous:
//! whichever of the two is known more strongly), and it names the instructions whose part rests
//! on less than a proof. A verdict that fails names the instructions that break it; each of
//! them carries a witness of its sensitivity and a counterexample to its privilege. Failing
//! never means "proven not virtualizable".

use serde::Serialize;

use crate::InsnReport;
use crate::verdict::{Atom, Class, Evidence, Finding};

/// One theorem's condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Theorem {
    /// Whether the condition holds.
    pub holds: bool,
    /// The instructions that break it.
    pub violations: Vec<String>,
    /// When it holds: the weakest evidence it rests on.
    pub evidence: Option<Evidence>,
    /// When it holds: the instructions whose part of it is known only by search or
    /// exhaustively, not by proof.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unproven: Vec<String>,
    /// For Theorem 2: the instructions timing-dependent from a user-mode state without
    /// trapping (also listed in `violations`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub timing_dependent: Vec<String>,
}

fn known(i: &InsnReport, class: Class) -> (bool, Evidence) {
    let v = &i.classes[&class];
    (v.value, v.evidence)
}

/// `bad(i)` says whether an instruction violates the condition and, if not, how strongly that
/// is known.
fn decide(insns: &[InsnReport], bad: impl Fn(&InsnReport) -> Result<Evidence, ()>) -> Theorem {
    let mut violations = Vec::new();
    let mut unproven = Vec::new();
    let mut evidence = Evidence::Proof;
    for i in insns {
        match bad(i) {
            Ok(e) => {
                evidence = evidence.min(e);
                if e != Evidence::Proof {
                    unproven.push(i.mnemonic.clone());
                }
            }
            Err(()) => violations.push(i.mnemonic.clone()),
        }
    }
    let holds = violations.is_empty();
    if !holds {
        unproven.clear();
    }
    Theorem {
        holds,
        evidence: holds.then_some(evidence),
        violations,
        unproven,
        timing_dependent: Vec::new(),
    }
}

/// An instruction is fine for a "⊆ privileged" condition if it is privileged, or if it is
/// outside the sensitive class `class`; the stronger of the two known facts counts.
fn within_privileged(i: &InsnReport, class: Class, outside: bool) -> Result<Evidence, ()> {
    let (privileged, pe) = known(i, Class::Privileged);
    let (value, ce) = known(i, class);
    let not_in_class = value == outside;
    match (privileged, not_in_class) {
        (true, true) => Ok(pe.max(ce)),
        (true, false) => Ok(pe),
        (false, true) => Ok(ce),
        (false, false) => Err(()),
    }
}

/// Theorem 1: every sensitive instruction is privileged (innocuous or privileged).
pub fn theorem1(insns: &[InsnReport]) -> Theorem {
    decide(insns, |i| within_privileged(i, Class::Innocuous, true))
}

/// Theorem 3: every user-sensitive instruction is privileged.
pub fn theorem3(insns: &[InsnReport]) -> Theorem {
    decide(insns, |i| within_privileged(i, Class::UserSensitive, false))
}

/// Theorem 2 (DESIGN.md §3): Theorem 1's condition holds and no timing-dependent
/// instruction runs untrapped in user mode, i.e. no instruction has a `timing_user` witness.
/// A clock read that traps in user mode (privileged, or under the assist) leaves the monitor
/// free to give each VM its own virtual time; supervisor-mode timing does not matter, because
/// a monitor runs all guest code in user mode.
pub fn theorem2(insns: &[InsnReport], t1: &Theorem) -> Theorem {
    let timing = decide(insns, |i| match i.findings.get(&Atom::TimingUser) {
        Some(Finding::Witnessed { .. }) => Err(()),
        Some(Finding::Absent { by, .. }) => Ok(*by),
        None => Ok(Evidence::Search),
    });
    let mut violations = t1.violations.clone();
    for m in &timing.violations {
        if !violations.contains(m) {
            violations.push(m.clone());
        }
    }
    let holds = t1.holds && timing.holds;
    let mut unproven = Vec::new();
    if holds {
        for i in insns {
            let m = &i.mnemonic;
            if t1.unproven.contains(m) || timing.unproven.contains(m) {
                unproven.push(m.clone());
            }
        }
    }
    Theorem {
        holds,
        evidence: match (t1.evidence, timing.evidence) {
            (Some(a), Some(b)) if holds => Some(a.min(b)),
            _ => None,
        },
        violations,
        unproven,
        timing_dependent: timing.violations,
    }
}

/// The critical instructions of a binary translator (DESIGN.md §4c): sensitive and not
/// privileged, the same instructions that break Theorem 1's condition, with how completely
/// the set is known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CriticalSet {
    /// The critical instructions, in the profile's order.
    pub members: Vec<String>,
    /// The instructions that read the clock from user mode without trapping (Theorem 2's
    /// `timing_dependent`), in the profile's order. Not sensitive (DESIGN.md §2), so not
    /// critical; but a translator scans for them too, because run directly they read the
    /// host's clock, and the host never runs the instructions the translator carries out on
    /// the virtual state, so its clock falls behind the guest's.
    pub timing: Vec<String>,
    /// The weakest evidence that an instruction outside the set is privileged or innocuous.
    pub evidence: Evidence,
    /// The instructions outside the set whose place there is known only by search or
    /// exhaustively: a translator could run one of them directly although it is critical.
    pub unproven: Vec<String>,
}

impl CriticalSet {
    /// What a binary translator scans for: the critical instructions and the untrapped clock
    /// reads, in the profile's order.
    pub fn scanned(&self, insns: &[InsnReport]) -> Vec<String> {
        insns
            .iter()
            .map(|i| &i.mnemonic)
            .filter(|m| self.members.contains(m) || self.timing.contains(m))
            .cloned()
            .collect()
    }

    /// Whether the set is complete by proof: every instruction left out is proved privileged
    /// or innocuous.
    pub fn complete(&self) -> bool {
        self.evidence == Evidence::Proof
    }
}

/// The critical set of a profile's classified instructions.
pub fn critical(insns: &[InsnReport]) -> CriticalSet {
    let mut members = Vec::new();
    let mut unproven = Vec::new();
    let mut evidence = Evidence::Proof;
    for i in insns {
        match within_privileged(i, Class::Innocuous, true) {
            Ok(e) => {
                evidence = evidence.min(e);
                if e != Evidence::Proof {
                    unproven.push(i.mnemonic.clone());
                }
            }
            Err(()) => members.push(i.mnemonic.clone()),
        }
    }
    let timing = insns
        .iter()
        .filter(|i| {
            matches!(
                i.findings.get(&Atom::TimingUser),
                Some(Finding::Witnessed { .. })
            )
        })
        .map(|i| i.mnemonic.clone())
        .collect();
    CriticalSet {
        members,
        timing,
        evidence,
        unproven,
    }
}
