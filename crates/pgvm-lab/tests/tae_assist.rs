//! The System/370-style VM assist (`tae-assist`): equivalent wherever trap-and-emulate is
//! (DESIGN.md §4c: "as tae"), on tsos, every workload and random programs; the machine really
//! carries instructions out (fewer traps reach the monitor); what it does not cover still traps
//! and is emulated; and the monitor's virtual state agrees with trap-and-emulate's at every
//! point, on either engine. Where the technique is licensed comes from the classifier.

use std::path::Path;
use std::sync::Arc;

use pgvm_classify::{Config, Report};
use pgvm_isa::Isa;
use pgvm_lab::TechniqueKind;
use pgvm_lab::equiv::{Equivalence, check};
use pgvm_lab::guest::guest_of;
use pgvm_machine::{DEFAULT_WORDS, Engine, Fast, Interpreter, Machine};
use pgvm_testkit::{PROFILES, hostile_guest, isa, random_guest};
use pgvm_vmm::{CP_WORDS, Guest, Monitor};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// The profiles tae-assist runs on, with the classifier's verdict on each.
fn assisted_profiles() -> Vec<(Arc<Isa>, Report)> {
    let isas: Vec<Isa> = PROFILES
        .iter()
        .map(|p| (*isa(p)).clone())
        .filter(|i| TechniqueKind::TaeAssist.applies(i))
        .collect();
    assert!(!isas.is_empty(), "some profile has a VM assist");
    let reports =
        pgvm_classify::classify_all(&isas, &Config::default(), &|| {}).expect("classifies");
    isas.into_iter().map(Arc::new).zip(reports).collect()
}

fn assemble(path: &Path, isa: &Arc<Isa>) -> Guest {
    let image = pgvm_asm::assemble_file(path, isa).unwrap_or_else(|e| panic!("{e}"));
    guest_of(&image, DEFAULT_WORDS).expect("fits")
}

fn tsos(isa: &Arc<Isa>) -> Guest {
    assemble(&root().join(format!("guests/tsos/{}.s", isa.name)), isa)
}

fn assisted(r: &Equivalence, mnemonic: &str) -> u64 {
    r.assisted_by_mnemonic.get(mnemonic).copied().unwrap_or(0)
}

#[test]
fn tsos_is_equivalent_under_the_vm_assist_wherever_trap_and_emulate_is_licensed() {
    let mut licensed = 0;
    for (s, report) in assisted_profiles() {
        if !report.theorem1.holds {
            continue;
        }
        licensed += 1;
        let g = tsos(&s);
        let with = check(&s, &g, TechniqueKind::TaeAssist, 50_000_000).expect("runs");
        let without = check(&s, &g, TechniqueKind::Tae, 50_000_000).expect("runs");
        assert!(with.equivalent, "{}: {:?}", s.name, with.divergence);
        assert!(without.equivalent, "{}: {:?}", s.name, without.divergence);
        assert_eq!(with.guest_instructions, without.guest_instructions);
        // The machine did the work: every assisted instruction is one trap fewer.
        assert!(with.tally.assisted > 0, "{}: {with:?}", s.name);
        assert!(
            assisted(&with, "lpsw") > 0 && assisted(&with, "svc") > 0,
            "{}: {:?}",
            s.name,
            with.assisted_by_mnemonic
        );
        assert!(
            with.tally.by_monitor() < without.tally.by_monitor(),
            "{}: {} traps to the monitor with the assist, {} without",
            s.name,
            with.tally.by_monitor(),
            without.tally.by_monitor()
        );
        assert_eq!(
            with.tally.by_monitor() + with.tally.assisted,
            without.tally.by_monitor(),
            "{}: each assisted instruction is exactly one trap the monitor no longer sees",
            s.name
        );
        assert_eq!(with.tally.direct, without.tally.direct, "{}", s.name);
        assert_eq!(
            with.tally.assisted,
            with.assisted_by_mnemonic.values().sum::<u64>()
        );
    }
    assert!(
        licensed > 0,
        "Theorem 1 holds on a profile with a VM assist"
    );
}

#[test]
fn every_workload_is_equivalent_under_the_vm_assist() {
    let profiles = assisted_profiles();
    let mut ran = 0;
    for entry in std::fs::read_dir(root().join("guests/workloads")).expect("workloads") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "s") {
            continue;
        }
        let src = std::fs::read_to_string(&path).expect("reads");
        // A workload names its profile on its `.isa` line.
        let Some((s, report)) = profiles.iter().find(|(s, _)| {
            src.lines()
                .any(|l| l.split_whitespace().eq([".isa", s.name.as_str()]))
        }) else {
            continue;
        };
        let g = assemble(&path, s);
        let r = check(s, &g, TechniqueKind::TaeAssist, 20_000_000).expect("runs");
        if report.theorem1.holds {
            assert!(r.equivalent, "{}: {:?}", path.display(), r.divergence);
        }
        ran += 1;
    }
    assert!(ran >= 5, "the workloads ran ({ran})");
}

#[test]
fn random_programs_are_equivalent_under_the_vm_assist() {
    for (s, report) in assisted_profiles() {
        if !report.theorem1.holds {
            continue;
        }
        let mut assisted_somewhere = 0;
        for seed in 0..1000 {
            let p = random_guest(&s, seed);
            let g = Guest::whole(p.image, p.entry, p.input);
            let r = check(&s, &g, TechniqueKind::TaeAssist, 2000).expect("runs");
            assert!(r.equivalent, "{} seed {seed}: {:?}", s.name, r.divergence);
            assisted_somewhere += u64::from(r.tally.assisted > 0);
        }
        assert!(
            assisted_somewhere > 50,
            "{}: the random programs exercise the assist ({assisted_somewhere} of 1000)",
            s.name
        );
    }
}

#[test]
fn hostile_programs_are_equivalent_under_the_vm_assist() {
    for (s, report) in assisted_profiles() {
        if !report.theorem1.holds {
            continue;
        }
        for seed in 0..300 {
            let p = hostile_guest(&s, seed);
            let g = Guest::whole(p.image, p.entry, p.input);
            let r = check(&s, &g, TechniqueKind::TaeAssist, 3000).expect("runs");
            assert!(r.equivalent, "{} seed {seed}: {:?}", s.name, r.divergence);
        }
    }
}

/// Virtual supervisor code that runs each assisted instruction and some the assist leaves to
/// the monitor, then enters user mode, whose `lpsw` (privileged there too) and `svc` trap.
const MIXED: &str = "
        .isa   s370
        .entry start
        .org   0
        .word  0
        .psw   super, handler, 0, 0x1000
        .org   0x10
start:  lctl   rl, rb            ; assisted: R <- <0, 0x1000>
        spsw   saved             ; assisted
        stctl  sl, sb            ; not assisted: emulated
        lrb    whole             ; not assisted: emulated
        lpsw   user_psw          ; assisted: into user mode
handler:
        mov    cause, 0          ; E[0]: the trapped PSW
        sub    count, count, minus1
        seq    t, count, two
        jnz    t, done
        add    0, 0, one         ; resume after the svc
        lpsw   0                 ; assisted: back to user mode
done:   halt                     ; not assisted: emulated, the end
rl:     .word  0
rb:     .word  0x1000
saved:  .word  0
sl:     .word  0
sb:     .word  0
whole:  .psw   super, 0, 0, 0x1000
user_psw: .psw user, 0x200, 0, 0x1000
cause:  .word  0
count:  .word  0
minus1: .word  -1
one:    .word  1 << 42           ; 1 in a PSW's P field
two:    .word  2
t:      .word  0
        .org   0x200
        svc    7                 ; reflected by the assist
        lpsw   user_psw          ; privileged in virtual user mode: the monitor reflects it
";

#[test]
fn what_the_assist_does_not_cover_still_traps_and_is_emulated() {
    let s = isa("s370");
    let image = pgvm_asm::assemble_str("mixed.s", MIXED, &s).unwrap_or_else(|e| panic!("{e}"));
    let g = guest_of(&image, 0x1000).expect("fits");
    let r = check(&s, &g, TechniqueKind::TaeAssist, 10_000).expect("runs");
    assert!(r.equivalent, "{:?}", r.divergence);
    assert!(r.halted, "{r:?}");
    for m in ["stctl", "lrb", "halt"] {
        assert_eq!(r.emulated_by_mnemonic.get(m), Some(&1), "{m}: {r:?}");
        assert_eq!(assisted(&r, m), 0, "{m}");
    }
    assert_eq!(assisted(&r, "lctl"), 1, "{:?}", r.assisted_by_mnemonic);
    assert_eq!(assisted(&r, "spsw"), 1, "{:?}", r.assisted_by_mnemonic);
    assert_eq!(assisted(&r, "svc"), 1, "{:?}", r.assisted_by_mnemonic);
    // The first lpsw enters user mode, the handler's second one too: both assisted. The user
    // mode lpsw traps on the guest's own machine: reflected by the monitor, not assisted.
    assert_eq!(assisted(&r, "lpsw"), 2, "{:?}", r.assisted_by_mnemonic);
    assert_eq!(r.tally.reflected, 1, "{r:?}");
    assert!(!r.emulated_by_mnemonic.contains_key("lpsw"), "{r:?}");
}

/// Runs `guest` under `technique` on engine `E`, in chunks of `chunk` guest instructions,
/// recording after each the VM's virtual PSW, its window and how far it got.
fn trace<E: Engine>(
    s: &Arc<Isa>,
    g: &Guest,
    technique: TechniqueKind,
    chunk: u64,
    chunks: usize,
) -> Vec<(pgvm_machine::Psw, Vec<u64>, u64)> {
    let host = Machine::<E>::with_engine(s.clone(), CP_WORDS + g.w).expect("machine");
    let mut mon = Monitor::on(s.clone(), host, technique.build());
    let segs: Vec<(u64, &[u64])> = g.segments.iter().map(|(o, w)| (*o, &w[..])).collect();
    let id = mon.create_vm(g.w, &segs, g.entry).expect("fits");
    mon.push_input(id, &g.input);
    (0..chunks)
        .map(|_| {
            mon.run_vm(id, chunk);
            let vm = mon.vm(id);
            (vm.psw(), mon.window(id).to_vec(), vm.steps())
        })
        .collect()
}

#[test]
fn the_monitors_virtual_state_agrees_with_trap_and_emulate_at_every_point_on_either_engine() {
    let s = isa("s370");
    let g = tsos(&s);
    // Chunks of a prime length end at every kind of instruction, assisted ones included.
    let tae = trace::<Fast>(&s, &g, TechniqueKind::Tae, 997, 300);
    let fast = trace::<Fast>(&s, &g, TechniqueKind::TaeAssist, 997, 300);
    let slow = trace::<Interpreter>(&s, &g, TechniqueKind::TaeAssist, 997, 300);
    for (i, ((t, f), sl)) in tae.iter().zip(&fast).zip(&slow).enumerate() {
        assert!(t == f, "chunk {i}: tae {:?}, tae-assist {:?}", t.0, f.0);
        assert!(f == sl, "chunk {i}: fast {:?}, interpreter {:?}", f.0, sl.0);
    }
}
