//! The audit beside a built-in profile: the emulator's derived verdicts next to the
//! classifier's verdicts on `isa/m68000.isa` (or `m68010.isa`), instruction by instruction.
//!
//! A profile instruction is set beside the emulator's groups it stands for ([`COUNTERPARTS`]:
//! the profile's own comments say which 68000 instruction each models or stands for; the
//! generic base instructions are set beside their plainest 68000 form). Whether the two
//! *agree* is computed from both sides' derived classes, privileged and sensitive; the table
//! never says in advance which rows differ. docs/audit.md explains every difference.

use pgvm_classify::{Class, Report};
use pgvm_isa::Isa;
use serde::Serialize;

use crate::audit::{Audit, GroupResult};

/// `(profile mnemonic, emulator group names or name prefixes, how they correspond)`. An empty
/// list: the 68000 has no counterpart.
pub const COUNTERPARTS: [(&str, &[&str], &str); 36] = [
    ("movesr", &["MOVE from SR"], "the same instruction"),
    ("movetosr", &["MOVE to SR"], "the same instruction"),
    (
        "moveccr",
        &["MOVE from CCR"],
        "the same instruction (68010)",
    ),
    ("lpsw", &["RTE"], "the profile says lpsw stands for RTE"),
    (
        "halt",
        &["STOP #xxxx"],
        "the profile says halt stands for STOP",
    ),
    (
        "svc",
        &["TRAP #n"],
        "the profile says svc stands for TRAP #n",
    ),
    ("add", &["ADD.L"], "plainest form"),
    ("sub", &["SUB.L"], "plainest form"),
    ("mul", &["MULU.W"], "plainest form"),
    ("div", &["DIVU.W"], "divides, traps on a zero divisor"),
    ("rem", &["DIVU.W"], "DIVU leaves the remainder too"),
    ("and", &["AND.L"], "plainest form"),
    ("or", &["OR.L"], "plainest form"),
    ("xor", &["EOR.L"], "plainest form"),
    ("shl", &["LSL.L"], "plainest form"),
    ("shr", &["LSR.L"], "plainest form"),
    ("sar", &["ASR.L"], "plainest form"),
    ("addi", &["ADDQ.L", "ADDI.L"], "add an immediate"),
    ("seq", &["SEQ"], "set on a condition"),
    ("sltu", &["SCS"], "set on a condition"),
    ("slt", &["SLT"], "set on a condition"),
    ("li", &["MOVEQ"], "load an immediate"),
    ("mov", &["MOVE.L Dn,Dn"], "register move"),
    ("ldx", &["MOVE.L d8(An,Xi),Dn"], "indexed load"),
    ("stx", &["MOVE.L Dn,d8(An,Xi)"], "indexed store"),
    ("jmp", &["JMP"], "jump"),
    ("jz", &["BEQ"], "branch on a condition"),
    ("jnz", &["BNE"], "branch on a condition"),
    ("jneg", &["BMI"], "branch on a condition"),
    ("jr", &["JMP <ea> <mem>"], "indirect jump"),
    ("jal", &["JSR", "BSR"], "jump and link"),
    (
        "lrb",
        &[],
        "no counterpart: the 68000 has no relocation register",
    ),
    (
        "spsw",
        &[],
        "no counterpart: no 68000 instruction stores <M, P, R>",
    ),
    ("out", &[], "no counterpart: 68000 I/O is memory-mapped"),
    ("in", &[], "no counterpart: 68000 I/O is memory-mapped"),
    ("stmr", &[], "no counterpart: the 68000 has no timer"),
];

/// Whether group `name` is one of `pattern`'s: the name itself, or a form of it (`pattern`
/// followed by a space, as in `ADD.L <ea>,Dn <mem>`, or by a size, as in `JSR`/`JSR <ea>`).
fn matches(name: &str, pattern: &str) -> bool {
    name == pattern
        || name
            .strip_prefix(pattern)
            .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('.'))
}

/// Privileged and sensitive, as derived on one side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Privileged.
    pub privileged: bool,
    /// Sensitive (control or behavior).
    pub sensitive: bool,
    /// User-sensitive (§8).
    pub user_sensitive: bool,
}

/// One row: a profile instruction and its emulator counterpart.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The profile's mnemonic.
    pub mnemonic: String,
    /// What the profile says it models, if anything.
    pub models: Option<String>,
    /// The emulator groups set beside it.
    pub groups: Vec<String>,
    /// How they correspond.
    pub note: String,
    /// The classifier's verdict on the profile.
    pub profile: Verdict,
    /// The audit's verdict on the groups (privileged if all are, sensitive if any is); `None`
    /// without a counterpart.
    pub emulator: Option<Verdict>,
    /// Whether privileged and sensitive agree; `None` without a counterpart.
    pub agree: Option<bool>,
}

/// The comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// The profile.
    pub profile: String,
    /// The CPU audited.
    pub cpu: String,
    /// Theorem 1 on each side.
    pub theorem1: [bool; 2],
    /// Theorem 3 on each side.
    pub theorem3: [bool; 2],
    /// One row per profile instruction.
    pub rows: Vec<Row>,
    /// Emulator groups that are privileged or sensitive and that no profile instruction stands
    /// for.
    pub emulator_only: Vec<EmulatorOnly>,
}

/// A privileged or sensitive emulator group the profile does not model.
#[derive(Debug, Clone, Serialize)]
pub struct EmulatorOnly {
    /// The group.
    pub group: String,
    /// Its verdict.
    pub verdict: Verdict,
}

fn of_groups(groups: &[&GroupResult]) -> Verdict {
    Verdict {
        privileged: groups.iter().all(|g| g.privileged()),
        sensitive: groups.iter().any(|g| g.sensitive()),
        user_sensitive: groups.iter().any(|g| g.user_sensitive()),
    }
}

/// Sets `audit` beside `profile` (the classifier's report on `isa`, a built-in profile).
pub fn compare(audit: &Audit, isa: &Isa, profile: &Report) -> Comparison {
    let isa_rows = profile.instructions.iter().map(|i| {
        let entry = COUNTERPARTS.iter().find(|(m, _, _)| *m == i.mnemonic);
        let patterns: &[&str] = entry.map_or(&[], |e| e.1);
        let note = entry.map_or_else(|| "no counterpart listed".to_string(), |e| e.2.to_string());
        let groups: Vec<&GroupResult> = audit
            .groups
            .iter()
            .filter(|g| g.legal && patterns.iter().any(|p| matches(&g.name, p)))
            .collect();
        let mine = Verdict {
            privileged: i.is(Class::Privileged),
            sensitive: i.sensitive(),
            user_sensitive: i.is(Class::UserSensitive),
        };
        let theirs = (!groups.is_empty()).then(|| of_groups(&groups));
        Row {
            mnemonic: i.mnemonic.clone(),
            models: isa
                .insn(&i.mnemonic)
                .and_then(|id| isa.insns[id].models.clone()),
            groups: groups.iter().map(|g| g.name.clone()).collect(),
            note,
            profile: mine,
            emulator: theirs,
            agree: theirs.map(|t| t.privileged == mine.privileged && t.sensitive == mine.sensitive),
        }
    });
    let rows: Vec<Row> = isa_rows.collect();
    let emulator_only = audit
        .groups
        .iter()
        .filter(|g| g.legal && (g.privileged() || g.sensitive()))
        .filter(|g| !rows.iter().any(|r| r.groups.contains(&g.name)))
        .map(|g| EmulatorOnly {
            group: g.name.clone(),
            verdict: of_groups(&[g]),
        })
        .collect();
    Comparison {
        profile: profile.isa.clone(),
        cpu: audit.config.cpu.name().to_string(),
        theorem1: [profile.theorem1.holds, audit.theorem1.holds],
        theorem3: [profile.theorem3.holds, audit.theorem3.holds],
        rows,
        emulator_only,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pattern_matches_its_forms_only() {
        assert!(matches("ADD.L <ea>,Dn <mem>", "ADD.L"));
        assert!(matches("JSR <ea> <pc>", "JSR"));
        assert!(matches("RTE", "RTE"));
        assert!(!matches("ADDA.L <ea>,An <Dn>", "ADD"));
        assert!(!matches("RTED", "RTE"));
    }
}
