//! One guest bare and under trap-and-emulate: equivalence, and the efficiency check on what
//! the monitor emulated.

use std::collections::BTreeMap;
use std::sync::Arc;

use pgvm_vmm::TechniqueKind;

use pgvm_isa::Isa;
use pgvm_vmm::{Guest, VmmError};
use serde::Serialize;

pub use pgvm_vmm::VmExit;

/// Why an equivalence run could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EquivError {
    /// The monitor or one of the two machines could not be set up.
    #[error(transparent)]
    Monitor(#[from] VmmError),
}

/// The first guest instruction after which the two runs differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Divergence {
    /// 0-based index of the guest instruction.
    pub index: u64,
    /// Its address, as `P` held it on the bare machine.
    pub p: u64,
    /// Its mnemonic on the bare machine (`?` if it does not decode or fetch).
    pub mnemonic: String,
    /// Its physical address `l + P` on the bare machine, when `P` develops.
    pub pa: Option<u64>,
    /// The source line it was assembled from (`file:line`), when the program came from source.
    pub source: Option<String>,
    /// The nearest label at or below it (`loop+2`), when the program came from source.
    pub label: Option<String>,
    /// What differs afterwards, one line each.
    pub differences: Vec<String>,
}

/// An emulated instruction that the classifier does not derive privileged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Breach {
    /// The instruction.
    pub mnemonic: String,
    /// How many times the monitor emulated it.
    pub count: u64,
    /// The classifier's evidence that it is not privileged.
    pub evidence: String,
}

/// One guest, bare and virtualized: the paper's equivalence and efficiency, measured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Equivalence {
    /// The profile.
    pub isa: String,
    /// The technique the guest ran under.
    pub monitor: TechniqueKind,
    /// Whether `f(S2) == S2'` held at the comparison point.
    pub equivalent: bool,
    /// Whether the bare run halted.
    pub halted: bool,
    /// Why the virtualized run stopped early, if it did (serialized as [`vm_exit_text`]).
    #[serde(serialize_with = "opt_exit_text")]
    pub vm_exit: Option<VmExit>,
    /// Guest instructions the bare run executed (the comparison point).
    pub guest_instructions: u64,
    /// Guest instructions the virtualized run executed.
    pub vm_instructions: u64,
    /// Guest instructions executed directly by the real processor.
    pub direct: u64,
    /// Guest instructions interpreted by the monitor.
    pub emulated: u64,
    /// Traps reflected into the guest.
    pub reflected: u64,
    /// Emulated instructions by mnemonic.
    pub emulated_by_mnemonic: BTreeMap<String, u64>,
    /// The bare run's console output.
    pub console_bare: String,
    /// The virtualized run's console output.
    pub console_vm: String,
    /// Console bytes of the bare run past the console's cap (64 MiB), not kept.
    pub console_bare_dropped: u64,
    /// Console bytes of the virtualized run past the console's cap, not kept.
    pub console_vm_dropped: u64,
    /// The first divergence, when the runs differ.
    pub divergence: Option<Divergence>,
    /// Emulated instructions that are neither privileged nor trapping: monitor bugs.
    pub efficiency_breaches: Vec<Breach>,
}

/// Runs `guest` bare and under the monitor for at most `max_steps` guest instructions, and
/// checks every emulated instruction (see [`efficiency_breaches`]).
pub fn check(
    isa: &Arc<Isa>,
    guest: &Guest,
    technique: TechniqueKind,
    max_steps: u64,
) -> Result<Equivalence, EquivError> {
    // The one call into the monitor's checker: adapt here when its interface changes.
    let r = pgvm_vmm::check_equivalence(isa.clone(), guest, technique, max_steps)?;
    let efficiency_breaches = efficiency_breaches(isa, &r.emulated_by_mnemonic);
    Ok(Equivalence {
        isa: isa.name.clone(),
        monitor: r.technique,
        equivalent: r.equivalent,
        halted: r.halted,
        vm_exit: r.vm_exit,
        guest_instructions: r.guest_instructions,
        vm_instructions: r.vm_instructions,
        direct: r.direct,
        emulated: r.emulated,
        reflected: r.reflected,
        emulated_by_mnemonic: r.emulated_by_mnemonic,
        console_bare: r.console_bare,
        console_vm: r.console_vm,
        console_bare_dropped: r.console_bare_dropped,
        console_vm_dropped: r.console_vm_dropped,
        divergence: r.divergence.map(|d| Divergence {
            pa: physical_address(isa, guest, d.index, d.p),
            index: d.index,
            p: d.p,
            mnemonic: d.mnemonic,
            source: None,
            label: None,
            differences: d.differences,
        }),
        efficiency_breaches,
    })
}

/// Where the bare run's `index`-th instruction is in physical memory: the bare run is
/// replayed that far (it is deterministic) for the `R` that `P` developed with. `None` when
/// `P` does not develop, or the replay does not arrive at `p`.
fn physical_address(isa: &Arc<Isa>, g: &Guest, index: u64, p: u64) -> Option<u64> {
    let mut bare = pgvm_machine::Machine::new(isa.clone(), g.w).ok()?;
    for (org, words) in &g.segments {
        bare.write(*org, words).ok()?;
    }
    pgvm_machine::StateView::set_psw(&mut bare, g.entry);
    bare.push_input(&g.input);
    bare.run(index);
    let psw = pgvm_machine::StateView::psw(&bare);
    (psw.p == p).then(|| pgvm_machine::develop(psw.p, psw.r, g.w))?
}

impl Equivalence {
    /// Names the divergence's address by the source line and the nearest label of the
    /// program the guest was assembled from.
    pub fn locate(&mut self, listing: &pgvm_asm::Listing) {
        if let Some(d) = &mut self.divergence
            && let Some(pa) = d.pa
        {
            d.source = listing.line_at(pa).map(|l| l.to_string());
            d.label = listing.label_at(pa);
        }
    }

    /// What the consoles lost to the cap, one line per run that lost something.
    pub fn truncations(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (run, dropped) in [
            ("bare", self.console_bare_dropped),
            ("virtual", self.console_vm_dropped),
        ] {
            // Output is dropped only once the console holds its cap, all of it kept.
            let cap = pgvm_machine::MAX_CONSOLE_OUTPUT as u64;
            if let Some(t) = crate::run::truncation_text(cap, dropped) {
                out.push(format!("{run} run: {t}"));
            }
        }
        out
    }
}

/// Checks the efficiency property: every emulated instruction must be privileged (as the
/// classifier derives it, with the profile's assist, as the monitor runs it) or trapping (a
/// body with an explicit `trap`, which may trap in user mode on some states and not others).
/// The monitor emulates only what trapped in real user mode, so anything else means an
/// instruction that cannot trap was run in software, which trap-and-emulate must never do: a
/// bug in the monitor, not a property of the guest.
pub fn efficiency_breaches(isa: &Isa, emulated_by_mnemonic: &BTreeMap<String, u64>) -> Vec<Breach> {
    let config = pgvm_classify::Config::default();
    emulated_by_mnemonic
        .iter()
        .filter_map(|(mnemonic, &count)| {
            let Some(id) = isa.insn(mnemonic) else {
                return Some(Breach {
                    mnemonic: mnemonic.clone(),
                    count,
                    evidence: "the profile has no such instruction".into(),
                });
            };
            if isa.insns[id].effects.traps {
                return None;
            }
            let insn = pgvm_classify::classify_insn(isa, id, &config);
            let privileged = &insn.classes[&pgvm_classify::Class::Privileged];
            (!privileged.value).then(|| Breach {
                mnemonic: mnemonic.clone(),
                count,
                evidence: privileged.detail.clone(),
            })
        })
        .collect()
}

/// Why a VM stopped, in words.
pub fn vm_exit_text(exit: VmExit) -> &'static str {
    exit.describe()
}

fn opt_exit_text<S: serde::Serializer>(exit: &Option<VmExit>, s: S) -> Result<S::Ok, S::Error> {
    match exit {
        Some(e) => s.serialize_str(vm_exit_text(*e)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emulated(list: &[(&str, u64)]) -> BTreeMap<String, u64> {
        list.iter().map(|(m, n)| (m.to_string(), *n)).collect()
    }

    #[test]
    fn an_emulated_innocuous_instruction_is_a_breach() {
        let isa = pgvm_isa::load("s370").expect("built-in");
        let breaches = efficiency_breaches(&isa, &emulated(&[("add", 3), ("lpsw", 2)]));
        assert_eq!(breaches.len(), 1, "{breaches:?}");
        assert_eq!(
            (breaches[0].mnemonic.as_str(), breaches[0].count),
            ("add", 3)
        );
        assert!(
            breaches[0].evidence.contains("did not trap"),
            "{breaches:?}"
        );
    }

    #[test]
    fn privileged_emulations_pass() {
        let isa = pgvm_isa::load("m68010").expect("built-in");
        let r = emulated(&[("movesr", 1), ("halt", 1), ("out", 4)]);
        assert!(efficiency_breaches(&isa, &r).is_empty());
    }

    #[test]
    fn an_unknown_mnemonic_is_a_breach() {
        let isa = pgvm_isa::load("s370").expect("built-in");
        let breaches = efficiency_breaches(&isa, &emulated(&[("frob", 1)]));
        assert_eq!(breaches.len(), 1);
        assert!(breaches[0].evidence.contains("no such instruction"));
    }

    #[test]
    fn the_report_serializes_with_the_documented_keys() {
        let isa = Arc::new(pgvm_isa::load("s370").expect("built-in"));
        let guest = Guest {
            w: 64,
            segments: vec![(0, vec![0; 2])],
            entry: pgvm_machine::Psw::new(pgvm_machine::Mode::Supervisor, 0, 0, 64).expect("psw"),
            input: Vec::new(),
        };
        let r = check(&isa, &guest, TechniqueKind::Tae, 10).expect("runs");
        let v = serde_json::to_value(&r).expect("serializes");
        for key in [
            "isa",
            "monitor",
            "equivalent",
            "halted",
            "vm_exit",
            "guest_instructions",
            "direct",
            "emulated_by_mnemonic",
            "divergence",
            "efficiency_breaches",
        ] {
            assert!(v.get(key).is_some(), "{key}: {v}");
        }
        assert_eq!(v["monitor"], "tae");
        assert_eq!(v["isa"], "s370");
        assert_eq!(v["console_vm_dropped"], 0);
        assert!(r.truncations().is_empty());
    }

    #[test]
    fn a_truncated_console_is_said_per_run() {
        let isa = Arc::new(pgvm_isa::load("s370").expect("built-in"));
        let guest = Guest {
            w: 64,
            segments: vec![(0, vec![0; 2])],
            entry: pgvm_machine::Psw::new(pgvm_machine::Mode::Supervisor, 0, 0, 64).expect("psw"),
            input: Vec::new(),
        };
        let mut r = check(&isa, &guest, TechniqueKind::Tae, 10).expect("runs");
        r.console_vm_dropped = 12;
        let t = r.truncations();
        assert_eq!(
            t,
            [format!(
                "virtual run: console output truncated after {} bytes; 12 more were written",
                pgvm_machine::MAX_CONSOLE_OUTPUT
            )]
        );
    }

    #[test]
    fn a_divergence_is_located_by_its_physical_address() {
        let src = ".isa m68000\n.entry start\n.org 0x10\nstart: addi x, 1\nsense: movesr x\n halt\nx: .word 0\n";
        let p = crate::program::from_source("m.s", src, None).expect("assembles");
        let guest = crate::guest::guest_of(&p.image, 256).expect("guest");
        let mut r = check(&p.isa, &guest, TechniqueKind::Tae, 100).expect("runs");
        assert!(!r.equivalent);
        r.locate(p.listing.as_ref().expect("listing"));
        let d = r.divergence.expect("a divergence");
        assert_eq!((d.p, d.pa), (0x11, Some(0x11)));
        assert_eq!(d.source.as_deref(), Some("m.s:5"));
        assert_eq!(d.label.as_deref(), Some("sense"));
    }
}
