//! The conditions of Theorems 1, 2 and 3 (DESIGN.md §3), decided from the derived classes.
//!
//! They are *sufficient* conditions. A verdict that holds is as strong as the weakest evidence
//! it rests on (an instruction counts as fine if it is privileged or, for Theorem 1, innocuous:
//! whichever of the two is known more strongly). A verdict that fails names the instructions
//! that break it; each of them carries a witness of its sensitivity and a counterexample to
//! its privilege. Failing never means "proven not virtualizable".

use serde::Serialize;

use crate::InsnReport;
use crate::verdict::{Class, Evidence};

/// One theorem's condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Theorem {
    /// Whether the condition holds.
    pub holds: bool,
    /// The instructions that break it.
    pub violations: Vec<String>,
    /// When it holds: the weakest evidence it rests on.
    pub evidence: Option<Evidence>,
    /// For Theorem 2: the timing-dependent instructions (also listed in `violations`).
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
    let mut evidence = Evidence::Proof;
    for i in insns {
        match bad(i) {
            Ok(e) => evidence = evidence.min(e),
            Err(()) => violations.push(i.mnemonic.clone()),
        }
    }
    Theorem {
        holds: violations.is_empty(),
        evidence: violations.is_empty().then_some(evidence),
        violations,
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

/// Theorem 2: Theorem 1's condition holds and no instruction is timing-dependent.
pub fn theorem2(insns: &[InsnReport], t1: &Theorem) -> Theorem {
    let timing = decide(insns, |i| {
        let (value, e) = known(i, Class::TimingDependent);
        if value { Err(()) } else { Ok(e) }
    });
    let mut violations = t1.violations.clone();
    for m in &timing.violations {
        if !violations.contains(m) {
            violations.push(m.clone());
        }
    }
    let holds = t1.holds && timing.holds;
    Theorem {
        holds,
        evidence: match (t1.evidence, timing.evidence) {
            (Some(a), Some(b)) if holds => Some(a.min(b)),
            _ => None,
        },
        violations,
        timing_dependent: timing.violations,
    }
}
