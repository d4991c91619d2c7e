//! The gate before a monitor turns a hardware assist on: the assist must be *sound*
//! (DESIGN.md §4c), every instruction that traps with it off trapping with it on too.
//!
//! An assist that removes a trap would let a guest run, directly and unseen, an instruction
//! the monitor relies on trapping; no equivalence run can be trusted on such a machine, so the
//! monitor is never built for it. The classifier decides the question
//! ([`pgvm_classify::assist_soundness`]): by proof where it can, else by its search, whose
//! witness the error carries.

use std::fmt;

use pgvm_classify::{ClassifyError, Config, Soundness, Witness};
use pgvm_isa::Isa;
use pgvm_vmm::TechniqueKind;

/// An unsound assist a technique would turn on, with the witness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsoundAssist {
    /// The profile.
    pub isa: String,
    /// Its file, for the hint.
    pub file: String,
    /// The technique that would turn the assist on.
    pub technique: TechniqueKind,
    /// The first instruction the assist is unsound for.
    pub mnemonic: String,
    /// Its witness's claim.
    pub claim: String,
    /// The witness's state, `<M, P, R>` (the assist off).
    pub state: String,
    /// The witness: `[S with the assist off, S with it on]`, replayable.
    pub witness: Witness,
}

impl fmt::Display for UnsoundAssist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "The assist of `{}` is unsound: `{}` from {}: {}; the {} monitor turns the assist on\n  hint: see the witness with `pgvm classify --isa {} --witness-out w.json` and `pgvm replay w.json`; a sound assist only adds traps (`if assist && M == user {{ trap; }}`)",
            self.isa, self.mnemonic, self.state, self.claim, self.technique, self.file
        )
    }
}

/// Why a monitor was not built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssistError {
    /// The profile's assist removes a trap.
    #[error("{0}")]
    Unsound(Box<UnsoundAssist>),
    /// The classifier refused its configuration.
    #[error(transparent)]
    Classify(#[from] ClassifyError),
}

/// Refuses a monitor of `technique` on `isa` when the technique turns the profile's assist on
/// and the assist is unsound. Returns the soundness verdict it relied on (`None` when the
/// assist stays off, or the profile has none). The question is the classifier's, with its
/// default seed and samples.
pub fn check(isa: &Isa, technique: TechniqueKind) -> Result<Option<Soundness>, AssistError> {
    if !(isa.features.assist && technique.enables_assist()) {
        return Ok(None);
    }
    let s = pgvm_classify::assist_soundness(isa, &Config::default())?;
    if let Some(u) = s.unsound.first() {
        return Err(AssistError::Unsound(Box::new(UnsoundAssist {
            isa: isa.name.clone(),
            file: isa.file.clone(),
            technique,
            mnemonic: u.mnemonic.clone(),
            claim: u.witness.claim.clone(),
            state: u
                .witness
                .states
                .first()
                .map_or_else(|| "?".into(), |s| s.psw().to_string()),
            witness: u.witness.clone(),
        })));
    }
    Ok(Some(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(name: &str) -> Isa {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../pgvm-classify/tests/isa/");
        pgvm_isa::load_file(&std::path::Path::new(path).join(name))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn an_unsound_assist_is_refused_with_a_witness_that_replays() {
        let isa = profile("assist-unsound.isa");
        for technique in TechniqueKind::ALL {
            let Err(AssistError::Unsound(u)) = check(&isa, technique) else {
                panic!("{technique}: not refused");
            };
            assert_eq!(u.mnemonic, "sr");
            let r = pgvm_classify::replay(&isa, &u.witness, 0).expect("replays");
            assert!(r.confirmed, "{r:?}");
        }
    }

    #[test]
    fn the_assist_technique_is_refused_an_unsound_assist_and_a_profile_without_one() {
        use crate::equiv::{EquivError, check};
        let guest = |w: u64| {
            let entry = pgvm_machine::Psw::new(pgvm_isa::Mode::Supervisor, 0, 0, w).expect("psw");
            pgvm_vmm::Guest::whole(vec![0; w as usize], entry, Vec::new())
        };
        let unsound = std::sync::Arc::new(profile("assist-unsound.isa"));
        match check(&unsound, &guest(16), TechniqueKind::Assist, 10) {
            Err(EquivError::Assist(AssistError::Unsound(u))) => assert_eq!(u.mnemonic, "sr"),
            other => panic!("not refused: {other:?}"),
        }
        let s370 = pgvm_testkit::isa("s370");
        let e = check(&s370, &guest(16), TechniqueKind::Assist, 10).expect_err("no assist");
        assert!(matches!(e, EquivError::NotApplicable { .. }), "{e}");
        let vt = pgvm_testkit::isa("ia32-vt");
        let r = check(&vt, &guest(16), TechniqueKind::Assist, 10).expect("runs");
        assert!(r.equivalent);
    }

    #[test]
    fn sound_assists_and_profiles_without_one_pass() {
        let vt = pgvm_isa::load("ia32-vt").expect("built-in");
        let s = check(&vt, TechniqueKind::Tae)
            .expect("sound")
            .expect("asked");
        assert!(s.sound && s.feature);
        assert!(check(&profile("assist-partial.isa"), TechniqueKind::Hvm).is_ok());
        let s370 = pgvm_isa::load("s370").expect("built-in");
        assert_eq!(check(&s370, TechniqueKind::Tae), Ok(None));
    }
}
