//! Binary translation (DESIGN.md §4c): `bt-all` is equivalent on tsos, the workloads and
//! random programs; `bt-kernel` runs user mode directly, so the user-mode `sgdt` of the red
//! pill leaks and the equivalence checker finds it; a guest that rewrites its own kernel code
//! stays equivalent because scanned blocks are revalidated. The critical set each translator
//! scans for is the classifier's.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use pgvm_classify::{Config, Report};
use pgvm_isa::Isa;
use pgvm_lab::TechniqueKind;
use pgvm_lab::equiv::{check, check_with, setup};
use pgvm_lab::guest::guest_of;
use pgvm_machine::DEFAULT_WORDS;
use pgvm_testkit::{PROFILES, hostile_guest, isa, random_guest};
use pgvm_vmm::{Guest, check_equivalence};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// The classifier's verdicts on every built-in profile, computed once for the whole file.
fn verdicts() -> &'static [Report] {
    static V: OnceLock<Vec<Report>> = OnceLock::new();
    V.get_or_init(|| {
        let isas: Vec<Isa> = PROFILES.iter().map(|p| (*isa(p)).clone()).collect();
        pgvm_classify::classify_all(&isas, &Config::default(), &|| {}).expect("classifies")
    })
}

fn verdict(name: &str) -> &'static Report {
    verdicts()
        .iter()
        .find(|r| r.isa == name)
        .expect("a verdict")
}

fn assemble(rel: &str, isa: &Arc<Isa>) -> Guest {
    let image =
        pgvm_asm::assemble_file(&root().join("guests").join(rel), isa).unwrap_or_else(|e| {
            panic!("{rel}: {e}");
        });
    guest_of(&image, DEFAULT_WORDS).expect("fits")
}

/// The workloads written for `profile` (each names its own profile on its `.isa` line).
fn workloads(profile: &str) -> Vec<String> {
    let dir = root().join("guests/workloads");
    let mut out: Vec<String> = std::fs::read_dir(&dir)
        .expect("guests/workloads")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".s"))
        .filter(|n| {
            let text = std::fs::read_to_string(dir.join(n)).expect("readable");
            pgvm_asm::declared_isa(&text).as_deref() == Some(profile)
        })
        .map(|n| format!("workloads/{n}"))
        .collect();
    out.sort();
    out
}

#[test]
fn bt_all_is_equivalent_on_tsos_and_the_workloads_of_every_profile() {
    let mut translated = 0;
    let mut ran = 0;
    for name in PROFILES {
        let s = isa(name);
        let bt = setup(&s, TechniqueKind::BtAll, Some(verdict(name))).expect("applies");
        let mut files = vec![format!("tsos/{name}.s")];
        files.extend(workloads(name));
        for file in files {
            let r = check_with(&s, &assemble(&file, &s), &bt, 50_000_000).expect("runs");
            assert!(r.equivalent, "{file} on {name}: {:?}", r.divergence);
            assert!(r.halted, "{file} on {name} halts");
            assert!(
                r.tally.blocks_scanned > 0 && r.tally.direct > 0,
                "{file}: {r:?}"
            );
            assert_eq!(
                r.tally.direct + r.tally.emulated + r.tally.reflected + r.tally.translated,
                r.vm_instructions,
                "{file}: every instruction is counted once"
            );
            assert!(
                r.efficiency_breaches.is_empty(),
                "{file}: {:?}",
                r.efficiency
            );
            translated += r.tally.translated;
            ran += 1;
        }
    }
    assert!(ran > PROFILES.len(), "the workloads ran too");
    assert!(
        translated > 0,
        "some profile's tsos has critical instructions"
    );
}

#[test]
fn the_critical_set_is_the_classifiers() {
    for name in PROFILES {
        let s = isa(name);
        let report = verdict(name);
        let r = check(
            &s,
            &assemble(&format!("tsos/{name}.s"), &s),
            TechniqueKind::BtAll,
            1,
        )
        .expect("runs");
        let mut want = report.theorem1.violations.clone();
        want.extend(report.theorem2.timing_dependent.iter().cloned());
        want.sort_by_key(|m| s.insn(m));
        want.dedup();
        assert_eq!(r.critical, want, "{name}");
    }
    assert_eq!(verdict("ia32").critical().timing, ["rdtsc"]);
    assert!(!verdict("ia32").critical().members.is_empty());
    assert!(verdict("s370").critical().members.is_empty());
}

/// 1,000 generated programs per profile: three in four random, one in four hostile (loads of
/// `M` and `R` from arbitrary words, stores and jumps anywhere, trap storms).
#[test]
fn random_programs_are_equivalent_under_bt_all() {
    let mut translated = 0;
    for name in PROFILES {
        let s = isa(name);
        let bt = setup(&s, TechniqueKind::BtAll, Some(verdict(name))).expect("applies");
        for seed in 0..1000 {
            let p = if seed % 4 == 0 {
                hostile_guest(&s, seed)
            } else {
                random_guest(&s, seed)
            };
            let g = Guest::whole(p.image, p.entry, p.input);
            // The monitor's checker itself: the lab's adds the efficiency check, which
            // classifies every emulated instruction again.
            let r = check_equivalence(s.clone(), &g, bt.clone(), 2000).expect("runs");
            assert!(r.equivalent, "{name} seed {seed}: {:?}", r.divergence);
            translated += r.tally.translated;
        }
    }
    assert!(
        translated > 100,
        "random programs reach critical instructions"
    );
}

#[test]
fn random_programs_under_bt_kernel_diverge_only_at_user_sensitive_instructions() {
    // bt-kernel runs virtual user mode directly: where Theorem 3 holds it must be equivalent;
    // where it fails, a divergence is one of Theorem 3's violations.
    let mut diverged = 0;
    for name in ["ia32", "pdp10", "m68000"] {
        let s = isa(name);
        let report = verdict(name);
        let bt = setup(&s, TechniqueKind::BtKernel, Some(report)).expect("applies");
        for seed in 0..300 {
            let p = random_guest(&s, seed);
            let g = Guest::whole(p.image, p.entry, p.input);
            let r = check_equivalence(s.clone(), &g, bt.clone(), 2000).expect("runs");
            if report.theorem3.holds {
                assert!(r.equivalent, "{name} seed {seed}: {:?}", r.divergence);
            } else if let Some(d) = &r.divergence {
                diverged += 1;
                assert!(
                    report.theorem3.violations.contains(&d.mnemonic),
                    "{name} seed {seed}: {d:?}"
                );
            }
        }
    }
    assert!(diverged > 0, "ia32's user-sensitive instructions show");
}

#[test]
fn the_red_pill_is_found_under_bt_kernel_and_hvm_and_hidden_by_bt_all() {
    let s = isa("ia32");
    let report = verdict("ia32");
    assert!(
        report.theorem3.violations.iter().any(|m| m == "sgdt"),
        "sgdt is user-sensitive and unprivileged: {:?}",
        report.theorem3
    );
    let g = assemble("redpill.s", &s);
    for t in [
        TechniqueKind::Tae,
        TechniqueKind::Hvm,
        TechniqueKind::BtKernel,
    ] {
        let setup = setup(&s, t, Some(report)).expect("applies");
        let r = check_with(&s, &g, &setup, 10_000).expect("runs");
        assert!(!r.equivalent, "{t}");
        let d = r.divergence.expect("a divergence");
        assert_eq!(d.mnemonic, "sgdt", "{t}: {d:?}");
        assert_ne!(
            r.console_bare, r.console_vm,
            "{t}: the program prints what it saw"
        );
    }
    let bt = setup(&s, TechniqueKind::BtAll, Some(report)).expect("applies");
    let r = check_with(&s, &g, &bt, 10_000).expect("runs");
    assert!(r.equivalent, "{:?}", r.divergence);
    assert!(r.halted);
    assert_eq!(r.tally.translated, 1, "the one sgdt, in user mode");
    assert_eq!(r.console_vm, "user-mode sgdt saw l=0x000200\n");
}

/// ia32 kernel code (supervisor mode, l = 0, so that every critical instruction shows when it
/// runs directly) that rewrites itself:
///
/// - the word right after a critical instruction (`smsw`), on the second pass of a loop,
///   becomes `sidt`, and the first word of the block after it becomes `pushf`: both blocks
///   were cached on the first pass and must be scanned again;
/// - a `mov` writes `sgdt` into the very next word of its own block, and an `stx` (whose
///   address is computed) writes `str` into the next word of its block: neither may run
///   directly as scanned.
const SELF_MODIFYING: &str = "
        .isa   ia32
        .entry start
        .org   0
        .word  0
        .psw   super, 0x10, 0, 0x100
        .org   0x10
start:  li     n, 2
loop:   smsw   x
patch:  addi   cnt, 1
        jmp    mid
mid:    addi   cnt, 2
        addi   n, -1
        jz     n, after
        mov    patch, new_patch
        mov    mid, new_mid
        jmp    loop
after:  mov    later, new_later
later:  addi   cnt, 4
        stx    new_later2, zero, at_later2
later2: addi   cnt, 8
        halt
n:      .word  0
x:      .word  0
y:      .word  0
z:      .word  0
w:      .word  0
v:      .word  0
cnt:    .word  0
zero:   .word  0
at_later2: .word later2
new_patch:  sidt  y
new_mid:    pushf z
new_later:  sgdt  w
new_later2: str   v
";

#[test]
fn kernel_code_that_rewrites_itself_stays_equivalent() {
    let s = isa("ia32");
    let report = verdict("ia32");
    let image = pgvm_asm::assemble_str("smc.s", SELF_MODIFYING, &s).expect("assembles");
    let g = guest_of(&image, 0x100).expect("fits");
    // Run directly, the rewritten instructions leak the real R and mode: trap-and-emulate
    // diverges, so the check below could fail.
    let tae = check(&s, &g, TechniqueKind::Tae, 1000).expect("runs");
    assert!(!tae.equivalent);
    for t in [TechniqueKind::BtKernel, TechniqueKind::BtAll] {
        let bt = setup(&s, t, Some(report)).expect("applies");
        let r = check_with(&s, &g, &bt, 1000).expect("runs");
        assert!(r.equivalent, "{t}: {:?}", r.divergence);
        assert!(r.halted, "{t}");
        // smsw twice; sidt and pushf once each after the rewrite; sgdt and str once.
        assert_eq!(r.tally.translated, 6, "{t}: {r:?}");
        assert!(r.tally.blocks_rescanned >= 2, "{t}: {r:?}");
    }
}

/// A user program on a profile with an unprivileged load of `R` (`setr`, the CLI tests'
/// hostile `load-r.isa`) widens its window from 0x20 to 0x80 words and stores past the old
/// bound. Run directly, `setr` changes the *real* R and the monitor can only stop the VM after
/// the fact; `bt-all` finds `setr` in the classifier's critical set and carries it out on the
/// virtual R, so the store lands in the VM's own memory, where the bare machine puts it.
const WIDENS_ITS_WINDOW: &str = "
        .entry start
        .org   0
        .word  0
        .psw   super, kernel, 0, 0x100
        .org   0x10
start:  lpsw   user_psw
kernel: halt
user_psw: .psw user, 0, 0x80, 0x20
        .org   0x80
        setr   0x10
        li     0x40, 7
        svc    0
        .org   0x90
        .word  0x10000080
";

#[test]
fn bt_all_contains_an_unprivileged_load_of_r() {
    let path = root().join("crates/pgvm/tests/isa/load-r.isa");
    let s = Arc::new(pgvm_isa::load_file(&path).unwrap_or_else(|e| panic!("{e}")));
    let report = pgvm_classify::classify(&s, &Config::default()).expect("classifies");
    assert!(report.critical().members.iter().any(|m| m == "setr"));
    let image = pgvm_asm::assemble_str("widen.s", WIDENS_ITS_WINDOW, &s).expect("assembles");
    let g = guest_of(&image, 0x100).expect("fits");
    let tae = check_equivalence(s.clone(), &g, TechniqueKind::Tae, 100).expect("runs");
    assert!(!tae.equivalent);
    assert_eq!(tae.vm_exit, Some(pgvm_vmm::VmExit::Escaped));
    let bt = setup(&s, TechniqueKind::BtAll, Some(&report)).expect("applies");
    let r = check_equivalence(s.clone(), &g, bt, 100).expect("runs");
    assert!(r.equivalent, "{:?}", r.divergence);
    assert_eq!(r.tally.translated, 1);
    assert_eq!(r.bare, pgvm_vmm::BareOutcome::Halted);
}

/// The efficiency target for binary translation: on the compute workload, which runs
/// alone in (virtual) supervisor mode, at least 90 % of the guest-kernel instructions run
/// directly under `bt-kernel`.
#[test]
fn bt_kernel_runs_the_compute_workload_at_least_90_percent_directly() {
    let s = isa("s370");
    let bt = setup(&s, TechniqueKind::BtKernel, Some(verdict("s370"))).expect("applies");
    let g = assemble("workloads/compute.s", &s);
    assert_eq!(
        g.entry.mode,
        pgvm_isa::Mode::Supervisor,
        "kernel code throughout"
    );
    let r = check_equivalence(s.clone(), &g, bt, 2_000_000).expect("runs");
    assert!(r.equivalent, "{:?}", r.divergence);
    assert!(r.tally.blocks_scanned > 0);
    assert!(
        r.tally.direct * 10 >= r.vm_instructions * 9,
        "{} of {} direct",
        r.tally.direct,
        r.vm_instructions
    );
}
