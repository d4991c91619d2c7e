//! The hybrid monitor (Theorem 3): equivalent wherever the classifier derives Theorem 3's
//! condition, and the user-mode leak shown where it fails. The expectations come from the
//! classifier's verdicts, never from a table.

use std::path::Path;
use std::sync::Arc;

use pgvm_classify::{Config, Report};
use pgvm_isa::Isa;
use pgvm_lab::TechniqueKind;
use pgvm_lab::equiv::check;
use pgvm_lab::guest::guest_of;
use pgvm_machine::DEFAULT_WORDS;
use pgvm_testkit::{PROFILES, isa, random_guest};
use pgvm_vmm::Guest;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn verdicts() -> Vec<Report> {
    let isas: Vec<Isa> = PROFILES.iter().map(|p| (*isa(p)).clone()).collect();
    pgvm_classify::classify_all(&isas, &Config::default(), &|| {}).expect("classifies")
}

fn tsos(isa: &Arc<Isa>) -> Guest {
    let path = root().join(format!("guests/tsos/{}.s", isa.name));
    let image = pgvm_asm::assemble_file(&path, isa).unwrap_or_else(|e| panic!("{e}"));
    guest_of(&image, DEFAULT_WORDS).expect("fits")
}

#[test]
fn tsos_is_equivalent_under_the_hybrid_monitor_wherever_theorem_3_holds() {
    let mut licensed = 0;
    for report in verdicts() {
        if !report.theorem3.holds {
            continue;
        }
        licensed += 1;
        let s = isa(&report.isa);
        let r = check(&s, &tsos(&s), TechniqueKind::Hvm, 50_000_000).expect("runs");
        assert!(r.equivalent, "{}: {:?}", report.isa, r.divergence);
        assert!(
            r.tally.interpreted > 0 && r.tally.direct > 0,
            "{}: {r:?}",
            report.isa
        );
        assert_eq!(
            r.tally.emulated, 0,
            "{}: hvm interprets, it never emulates",
            report.isa
        );
    }
    assert!(licensed >= 2, "Theorem 3 holds somewhere");
}

#[test]
fn random_programs_are_equivalent_under_the_hybrid_monitor_wherever_theorem_3_holds() {
    for report in verdicts() {
        if !report.theorem3.holds {
            continue;
        }
        let s = isa(&report.isa);
        for seed in 0..1000 {
            let p = random_guest(&s, seed);
            let g = Guest::whole(p.image, p.entry, p.input);
            let r = check(&s, &g, TechniqueKind::Hvm, 2000).expect("runs");
            assert!(
                r.equivalent,
                "{} seed {seed}: {:?}",
                report.isa, r.divergence
            );
        }
    }
}

/// Supervisor code enters user mode with a window at l = 0x200; the user program stores R
/// with `sgdt` (unprivileged, user location-sensitive on ia32) and calls the kernel, which
/// halts. Bare, the stored word holds l = 0x200; under a monitor the real R' holds l + base.
const SGDT_IN_USER_MODE: &str = "
        .isa   ia32
        .entry start
        .org   0
        .word  0
        .psw   super, kernel, 0, 0x1000
        .org   0x10
start:  lpsw   user_psw
kernel: halt
user_psw: .psw user, 0, 0x200, 0x40
        .org   0x200
        sgdt   0x20
        svc    0
";

#[test]
fn a_user_mode_sgdt_leaks_the_real_relocation_where_theorem_3_fails() {
    let report = verdicts()
        .into_iter()
        .find(|r| r.isa == "ia32")
        .expect("ia32");
    assert!(
        !report.theorem3.holds && report.theorem3.violations.iter().any(|m| m == "sgdt"),
        "the classifier names sgdt as user-sensitive and unprivileged: {:?}",
        report.theorem3
    );
    let s = isa("ia32");
    let image = pgvm_asm::assemble_str("sgdt.s", SGDT_IN_USER_MODE, &s).expect("assembles");
    let g = guest_of(&image, 0x1000).expect("fits");
    let r = check(&s, &g, TechniqueKind::Hvm, 1000).expect("runs");
    assert!(!r.equivalent);
    let d = r.divergence.expect("a divergence");
    assert_eq!(d.mnemonic, "sgdt", "{d:?}");
    // The same program where Theorem 3 holds... is not a program there: m68010 has no sgdt.
    assert!(isa("m68010").insn("sgdt").is_none());
}
