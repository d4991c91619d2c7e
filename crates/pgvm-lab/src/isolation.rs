//! Whether a technique can isolate guests on an ISA at all, decided by the classifier before
//! any guest runs.
//!
//! The VM map confines only what traps: a technique runs guest code directly in real user
//! mode, so an instruction that, from a user-mode state and without a trap, changes `M` or
//! `R`, halts, touches a device, stores outside the window or changes the assist acts on the
//! real machine, and a neighbour VM or the control program's own words are corrupted. Each
//! technique declares the instructions that must therefore be privileged
//! ([`TechniqueKind::isolation_condition`]); [`check`] asks the classifier, and the commands
//! that run guests under a monitor refuse an ISA that fails it (unless told to run anyway).

use std::collections::BTreeMap;

use pgvm_classify::{Atom, Class, Config, Finding, Witness};
use pgvm_isa::{InsnId, Isa};
use pgvm_vmm::{MustBePrivileged, TechniqueKind};
use serde::Serialize;

/// One instruction that breaks a technique's isolation condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Leak {
    /// The instruction.
    pub mnemonic: String,
    /// What the condition needs of it.
    pub condition: MustBePrivileged,
    /// The classifier's witness: a user-mode state where it completes and reaches the real
    /// machine's control.
    pub witness: Witness,
}

impl Leak {
    /// The witness's state in words: mode, `P`, `R` and `q`, and the instruction word at `P`.
    pub fn state_text(&self, isa: &Isa) -> String {
        let Some(s) = self.witness.states.first() else {
            return String::from("no state recorded");
        };
        let pa = s.l.wrapping_add(s.p);
        let word = s
            .memory
            .binary_search_by_key(&pa, |&(a, _)| a)
            .map_or(0, |k| s.memory[k].1);
        format!(
            "M={}, P={:#x}, R=<l={:#x}, b={:#x}>, q={}, E[P]={word:#x} ({})",
            s.mode.name(),
            s.p,
            s.l,
            s.b,
            s.q,
            pgvm_asm::disassemble_word(word, isa).trim()
        )
    }
}

/// The verdict of [`check`] for one technique on one profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Isolation {
    /// The profile.
    pub isa: String,
    /// The technique.
    pub technique: TechniqueKind,
    /// What the technique needs privileged.
    pub condition: Vec<MustBePrivileged>,
    /// Every instruction that breaks it, in the profile's order; empty when it holds.
    pub leaks: Vec<Leak>,
}

impl Isolation {
    /// Whether the technique confines guests on the profile.
    pub fn holds(&self) -> bool {
        self.leaks.is_empty()
    }

    /// Why the technique cannot isolate guests: each leaking instruction with its witness, one
    /// per line, after a sentence naming the condition. Empty when it holds.
    pub fn explain(&self, isa: &Isa) -> String {
        if self.holds() {
            return String::new();
        }
        let conditions: Vec<&str> = self.condition.iter().map(|c| c.describe()).collect();
        let mut out = format!(
            "`{}` cannot isolate guests under {}: guest code runs directly in real user mode, \
             and the condition that confines it fails: {}",
            self.isa,
            self.technique.describe(),
            conditions.join("; ")
        );
        for l in &self.leaks {
            out.push_str(&format!(
                "\n  `{}` is not privileged; {} witness ({}): {}; from the state {}",
                l.mnemonic,
                l.condition.atom_name(),
                l.witness.found_by.name(),
                l.witness.claim,
                l.state_text(isa)
            ));
        }
        out
    }
}

/// The classifier's atom for a condition.
fn atom(c: MustBePrivileged) -> Atom {
    match c {
        MustBePrivileged::ControlUser => Atom::ControlUser,
    }
}

/// Classifies the profile's instructions that could break `technique`'s isolation condition
/// and returns every one that does, with its witness.
///
/// An instruction is skipped only when a proof from its semantics settles it: privileged, or
/// never control-sensitive from user mode. The rest are classified with the default settings
/// (the same seed and samples as `pgvm classify`), in parallel; nothing is cached.
pub fn check(isa: &Isa, technique: TechniqueKind) -> Isolation {
    let condition = technique.isolation_condition().to_vec();
    let config = Config::default();
    let assist = config.assist_for(isa);
    let atoms: Vec<Atom> = condition.iter().map(|&c| atom(c)).collect();
    let candidates: Vec<InsnId> = (0..isa.insns.len())
        .filter(|&id| {
            let proved: Vec<Atom> = pgvm_classify::proved(isa, id, assist)
                .into_iter()
                .map(|(a, _)| a)
                .collect();
            !proved.contains(&Atom::NotPrivileged) && atoms.iter().any(|a| !proved.contains(a))
        })
        .collect();
    let reports: BTreeMap<InsnId, pgvm_classify::InsnReport> = std::thread::scope(|s| {
        let handles: Vec<_> = candidates
            .iter()
            .map(|&id| {
                let config = &config;
                (
                    id,
                    s.spawn(move || pgvm_classify::classify_insn(isa, id, config)),
                )
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|(id, h)| h.join().ok().map(|r| (id, r)))
            .collect()
    });
    let mut leaks = Vec::new();
    for (_, r) in reports {
        if r.is(Class::Privileged) {
            continue;
        }
        for &c in &condition {
            if let Some(Finding::Witnessed { witness, .. }) = r.findings.get(&atom(c))
                && let Some(w) = r.witnesses.get(*witness)
            {
                leaks.push(Leak {
                    mnemonic: r.mnemonic.clone(),
                    condition: c,
                    witness: w.clone(),
                });
            }
        }
    }
    Isolation {
        isa: isa.name.clone(),
        technique,
        condition,
        leaks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom(body: &str) -> Isa {
        let text = format!("isa hostile \"a test profile\"\nextends base\n{body}\n");
        pgvm_isa::parse_str("hostile.isa", &text).expect("parses")
    }

    #[test]
    fn an_unprivileged_load_of_r_breaks_every_technique_that_runs_user_code_unscanned() {
        let isa = custom("insn setr rrr 0x50 (a) \"load R\" { R = E[a]; }");
        // bt-all scans user code too and translates `setr`: it declares no condition.
        assert!(check(&isa, TechniqueKind::BtAll).holds());
        for t in TechniqueKind::ALL {
            if t == TechniqueKind::BtAll {
                continue;
            }
            let v = check(&isa, t);
            assert!(!v.holds(), "{t}");
            assert_eq!(v.leaks.len(), 1, "{:?}", v.leaks);
            assert_eq!(v.leaks[0].mnemonic, "setr");
            assert_eq!(v.leaks[0].witness.atom, Atom::ControlUser);
            let text = v.explain(&isa);
            assert!(
                text.contains("`setr` is not privileged; control_user witness"),
                "{text}"
            );
            assert!(text.contains("R changed"), "{text}");
            assert!(text.contains("M=user"), "{text}");
        }
    }

    /// The proofs that let [`check`] skip instructions must not hide a leak: its answer is the
    /// full classification's.
    #[test]
    fn the_check_agrees_with_the_full_classification() {
        let hostile = custom(
            "insn setr rrr 0x50 (a) \"load R\" { R = E[a]; }\n\
             insn sta rrr 0x60 (a, b) \"absolute store\" { A[E[a]] = E[b]; }",
        );
        for isa in [
            pgvm_isa::load("ia32").expect("built-in"),
            pgvm_isa::load("pdp10").expect("built-in"),
            hostile,
        ] {
            let full = pgvm_classify::classify(&isa, &Config::default()).expect("classifies");
            let expected: Vec<&str> = full
                .instructions
                .iter()
                .filter(|i| {
                    !i.is(Class::Privileged)
                        && matches!(
                            i.findings.get(&Atom::ControlUser),
                            Some(Finding::Witnessed { .. })
                        )
                })
                .map(|i| i.mnemonic.as_str())
                .collect();
            let v = check(&isa, TechniqueKind::Tae);
            let got: Vec<&str> = v.leaks.iter().map(|l| l.mnemonic.as_str()).collect();
            assert_eq!(got, expected, "{}", isa.name);
            if isa.name == "hostile" {
                assert_eq!(got, ["setr", "sta"]);
            }
        }
    }

    #[test]
    fn a_privileged_load_of_r_is_isolated() {
        let isa = custom("insn setr rrr 0x50 (a) privileged \"load R\" { R = E[a]; }");
        let v = check(&isa, TechniqueKind::Tae);
        assert!(v.holds(), "{:?}", v.leaks);
        assert!(v.explain(&isa).is_empty());
    }
}
