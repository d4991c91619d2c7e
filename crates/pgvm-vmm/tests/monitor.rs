//! The monitor measured: equivalence where Theorem 1 holds, divergence where it fails, and
//! isolation between VMs.

mod common;

use std::sync::Arc;

use common::guest;
use pgvm_isa::{Isa, Mode};
use pgvm_machine::{MAX_WORDS, Psw, TrapKind};
use pgvm_testkit::{enc, isa, supervisor};
use pgvm_vmm::{
    BareOutcome, CP_WORDS, Emulation, Guest, Monitor, TechniqueKind, VmExit, VmmError,
    check_equivalence,
};
use proptest::prelude::*;

/// A supervisor program at 0x10: print 'A' and 'B', then halt.
fn printer(isa: &Isa) -> Guest {
    let code = vec![
        enc(isa, "out", &[0x20]),
        enc(isa, "out", &[0x21]),
        enc(isa, "add", &[0x22, 0x20, 0x21]),
        enc(isa, "halt", &[]),
    ];
    Guest {
        w: 64,
        segments: vec![(0x10, code), (0x20, vec![b'A' as u64, b'B' as u64])],
        entry: supervisor(0x10, 64),
        input: Vec::new(),
        assist: false,
        clock: 0,
    }
}

#[test]
fn equivalent_where_theorem_1_holds_with_counts() {
    let s = isa("s370");
    let r = check_equivalence(s.clone(), &printer(&s), TechniqueKind::Tae, 1000).expect("runs");
    assert!(r.equivalent, "{:?}", r.divergence);
    assert_eq!(r.bare, BareOutcome::Halted);
    assert_eq!(r.console_vm, "AB");
    assert_eq!(r.guest_instructions, 4);
    assert_eq!(
        (r.tally.direct, r.tally.emulated, r.tally.reflected),
        (1, 3, 0),
        "add direct; out, out, halt emulated"
    );
    assert_eq!(r.emulated_by_mnemonic.get("out"), Some(&2));
    let emulation = |mnemonic: &str, count| Emulation {
        mnemonic: mnemonic.into(),
        trap: Some(TrapKind::Privileged),
        mode: Mode::Supervisor,
        count,
    };
    assert_eq!(
        r.emulations,
        vec![emulation("halt", 1), emulation("out", 2)],
        "each emulation came by a privileged-instruction trap in virtual supervisor mode"
    );
    assert!(r.reflected_by_kind.is_empty());
}

#[test]
fn pdp10_jrst1_diverges_at_the_jrst() {
    let p = isa("pdp10");
    // Supervisor code enters user mode at 0x14 with the unprivileged JRST 1 analogue; the
    // user code then tries a privileged halt, which must trap to the handler at E[1].
    let code = vec![
        enc(&p, "li", &[0x30, 7]),
        enc(&p, "jrstu", &[0x14]),
        0,
        0,
        enc(&p, "halt", &[]),
    ];
    let g = Guest {
        w: 64,
        segments: vec![
            (1, vec![supervisor(0x18, 64).pack()]),
            (0x10, code),
            (0x18, vec![enc(&p, "halt", &[])]),
        ],
        entry: supervisor(0x10, 64),
        input: Vec::new(),
        assist: false,
        clock: 0,
    };
    let r = check_equivalence(p, &g, TechniqueKind::Tae, 1000).expect("runs");
    assert!(!r.equivalent);
    let d = r.divergence.expect("a divergence");
    assert_eq!(
        (d.index, d.p, d.mnemonic.as_str()),
        (1, 0x11, "jrstu"),
        "{d:?}"
    );
    assert!(d.differences.iter().any(|l| l.starts_with("PSW")), "{d:?}");
}

#[test]
fn m68000_move_from_sr_diverges() {
    let m = isa("m68000");
    let code = vec![enc(&m, "movesr", &[0x20]), enc(&m, "halt", &[])];
    let g = Guest {
        w: 64,
        segments: vec![(0x10, code)],
        entry: supervisor(0x10, 64),
        input: Vec::new(),
        assist: false,
        clock: 0,
    };
    let r = check_equivalence(m, &g, TechniqueKind::Tae, 100).expect("runs");
    let d = r.divergence.expect("MOVE from SR reads the real mode");
    assert_eq!((d.index, d.mnemonic.as_str()), (0, "movesr"));
    assert!(
        d.differences.iter().any(|l| l.starts_with("E[0x20]")),
        "{d:?}"
    );
}

#[test]
fn the_assist_is_the_monitors_and_a_guest_without_it_sees_none() {
    // On ia32-vt the monitor runs with the assist on, so `sgdt` traps for real; a guest that
    // never turned it on must still see `sgdt` complete in user mode, with its own R.
    let v = isa("ia32-vt");
    let user = Psw::new(Mode::User, 0x10, 0, 64).expect("psw");
    let g = Guest {
        w: 64,
        segments: vec![
            (1, vec![supervisor(0x18, 64).pack()]),
            (0x10, vec![enc(&v, "sgdt", &[0x20]), enc(&v, "halt", &[])]),
            (0x18, vec![enc(&v, "halt", &[])]),
        ],
        entry: user,
        input: Vec::new(),
        assist: false,
        clock: 0,
    };
    let r = check_equivalence(v, &g, TechniqueKind::Tae, 100).expect("runs");
    assert!(r.equivalent, "{:?}", r.divergence);
    assert_eq!(r.emulated_by_mnemonic.get("sgdt"), Some(&1));
    assert_eq!(
        r.tally.reflected, 1,
        "the user-mode halt is the guest's trap"
    );
    assert_eq!(
        r.emulations,
        vec![
            Emulation {
                mnemonic: "halt".into(),
                trap: Some(TrapKind::Privileged),
                mode: Mode::Supervisor,
                count: 1,
            },
            Emulation {
                mnemonic: "sgdt".into(),
                trap: Some(TrapKind::Instruction),
                mode: Mode::User,
                count: 1,
            },
        ],
        "the assist's explicit trap brought sgdt from virtual user mode; the handler's halt"
    );
    assert_eq!(
        r.reflected_by_kind.into_iter().collect::<Vec<_>>(),
        vec![(TrapKind::Privileged, 1)]
    );
}

#[test]
fn a_stuck_guest_is_reported_stuck_not_halted() {
    // A user-mode halt traps through E[1] back to itself, with E[0] already holding that PSW:
    // the bare machine loops there forever.
    let s = isa("s370");
    let user = Psw::new(Mode::User, 0x10, 0, 64).expect("psw");
    let g = Guest {
        w: 64,
        segments: vec![
            (0, vec![user.pack(), user.pack()]),
            (0x10, vec![enc(&s, "halt", &[])]),
        ],
        entry: user,
        input: Vec::new(),
        assist: false,
        clock: 0,
    };
    let r = check_equivalence(s, &g, TechniqueKind::Tae, 1000).expect("runs");
    assert!(r.equivalent, "{:?}", r.divergence);
    assert_eq!(r.bare, BareOutcome::Stuck);
    assert_eq!(r.vm_exit, Some(VmExit::Stuck));
    let spinning = Guest {
        segments: vec![(0x10, vec![enc(&isa("s370"), "jmp", &[0x10])])],
        ..g
    };
    let r = check_equivalence(isa("s370"), &spinning, TechniqueKind::Tae, 50).expect("runs");
    assert_eq!(r.bare, BareOutcome::StepLimit);
    assert_eq!(r.guest_instructions, 50);
}

#[test]
fn zero_steps_compare_nothing_and_are_refused() {
    let s = isa("s370");
    assert_eq!(
        check_equivalence(s.clone(), &printer(&s), TechniqueKind::Tae, 0),
        Err(VmmError::NoSteps)
    );
}

#[test]
fn a_late_divergence_in_a_two_million_word_guest_is_found() {
    // m68000's movesr reads the real mode: after a countdown of 2k instructions it is the
    // first instruction whose result differs. The guest is as large as a VM can be, so a
    // search that copied both machines at each checkpoint would copy ~128 MB dozens of times.
    let m = isa("m68000");
    let w = MAX_WORDS - CP_WORDS;
    let k = 30_000;
    let code = vec![
        enc(&m, "addi", &[0x20, -1]),
        enc(&m, "jnz", &[0x20, 0x10]),
        enc(&m, "movesr", &[0x21]),
        enc(&m, "halt", &[]),
    ];
    let g = Guest {
        w,
        segments: vec![(0x10, code), (0x20, vec![k])],
        entry: supervisor(0x10, w),
        input: Vec::new(),
        assist: false,
        clock: 0,
    };
    let r = check_equivalence(m, &g, TechniqueKind::Tae, 1_000_000).expect("runs");
    assert!(!r.equivalent);
    let d = r.divergence.expect("a divergence");
    assert_eq!((d.index, d.p, d.mnemonic.as_str()), (2 * k, 0x12, "movesr"));
    assert!(
        d.differences.iter().any(|l| l.starts_with("E[0x21]")),
        "{d:?}"
    );
}

#[test]
fn a_segment_one_word_past_w_is_refused_and_reaches_no_other_vm() {
    let s = isa("s370");
    let w = 8;
    let mut mon = Monitor::new(s.clone(), CP_WORDS + 2 * w).expect("monitor");
    let nine: Vec<u64> = (1..=w + 1).collect();
    let before = mon.real().memory().to_vec();
    for (org, words) in [(0, &nine[..]), (1, &nine[..w as usize])] {
        assert_eq!(
            mon.create_vm(w, &[(org, words)], supervisor(0, w)),
            Err(VmmError::ImageTooLarge {
                vm: 0,
                start: org,
                end: w + 1,
                w
            })
        );
    }
    assert!(mon.vms().is_empty(), "no VM was created");
    assert_eq!(mon.real().memory(), &before[..], "nothing was written");
    // Up to w exactly fits; the next VM's word 0 is its own.
    let a = mon
        .create_vm(w, &[(1, &nine[..w as usize - 1])], supervisor(0, w))
        .expect("fits");
    let b = mon
        .create_vm(w, &[(0, &[0xb0])], supervisor(0, w))
        .expect("fits");
    assert_eq!(mon.window(a)[w as usize - 1], w - 1);
    assert_eq!(mon.window(b)[0], 0xb0);
    assert_eq!(
        mon.real().memory()[CP_WORDS as usize + w as usize],
        0xb0,
        "B starts right after A"
    );
}

#[test]
fn a_looping_guest_does_not_starve_another_and_cannot_touch_it() {
    let s = isa("s370");
    let mut mon = Monitor::new(s.clone(), 16 + 64 + 64 + 10).expect("monitor");
    let spin = vec![enc(&s, "jmp", &[0x10])];
    let a = mon
        .create_vm(64, &[(0x10, &spin)], supervisor(0x10, 64))
        .expect("fits");
    let p = printer(&s);
    let segs: Vec<(u64, &[u64])> = p.segments.iter().map(|(o, w)| (*o, &w[..])).collect();
    let b = mon.create_vm(64, &segs, p.entry).expect("fits");
    assert!(
        mon.create_vm(64, &segs, p.entry).is_err(),
        "a third VM does not fit"
    );
    let before_b: Vec<u64> = mon.window(b).to_vec();
    mon.run_all(3, 10_000);
    assert_eq!(mon.vm(a).exit, None, "the spinner never halts");
    assert_eq!(mon.vm(b).exit, Some(VmExit::Halted));
    assert_eq!(mon.vm(b).console(), b"AB");
    let after_b = mon.window(b);
    assert_eq!(after_b[0x22], b'A' as u64 + b'B' as u64);
    assert_eq!(
        before_b.iter().zip(after_b).filter(|(x, y)| x != y).count(),
        1,
        "only the add's target changed in B"
    );
}

/// A shared generated program (`pgvm_testkit`) as the monitor runs it: one in four is a
/// hostile one (loads of arbitrary PSW and R words, stores and jumps outside the window,
/// trap storms), the rest random instructions, operands, PSW words and trap pairs.
fn generated_guest(isa: &Isa, seed: u64) -> Guest {
    guest(if seed.is_multiple_of(4) {
        pgvm_testkit::hostile_guest(isa, seed)
    } else {
        pgvm_testkit::random_guest(isa, seed)
    })
}

/// Where sensitive ⊆ privileged, the program runs the same bare and virtualized.
fn equivalent_on(name: &str, seed: u64) -> Result<(), TestCaseError> {
    let isa = isa(name);
    let g = generated_guest(&isa, seed);
    let r = check_equivalence(isa, &g, TechniqueKind::Tae, 2000).expect("runs");
    prop_assert!(r.equivalent, "{} seed {}: {:?}", name, seed, r.divergence);
    Ok(())
}

proptest! {
    // 1,000 programs for each profile where Theorem 1 holds.
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn generated_programs_are_equivalent_on_s370(seed in any::<u64>()) {
        equivalent_on("s370", seed)?;
    }

    #[test]
    fn generated_programs_are_equivalent_on_ppc(seed in any::<u64>()) {
        equivalent_on("ppc", seed)?;
    }

    #[test]
    fn generated_programs_are_equivalent_on_m68010(seed in any::<u64>()) {
        equivalent_on("m68010", seed)?;
    }

    #[test]
    fn generated_programs_are_equivalent_on_ia32_vt(seed in any::<u64>()) {
        equivalent_on("ia32-vt", seed)?;
    }
}

#[test]
fn a_guest_that_writes_the_real_r_without_a_trap_is_stopped() {
    // An ISA whose user mode may load R: no VM map can confine a guest on it. The monitor
    // must notice when it regains control, stop the VM, and say why.
    let src = r#"isa leaky "base with an unprivileged load of R"
extends base
insn setr rrr 0x50 (a) "load R, unprivileged" { R = E[a]; }
"#;
    let leaky = Arc::new(pgvm_isa::parse_str("leaky.isa", src).expect("parses"));
    let wide = Psw::new(Mode::User, 0, 0, 200).expect("psw").pack();
    let code = vec![enc(&leaky, "setr", &[0x20]), enc(&leaky, "jmp", &[0x11])];
    let mut mon = Monitor::new(leaky.clone(), 16 + 64 + 64).expect("monitor");
    let a = mon
        .create_vm(64, &[(0x10, &code), (0x20, &[wide])], supervisor(0x10, 64))
        .expect("fits");
    assert_eq!(mon.run_vm(a, 1000), VmExit::Escaped);
    assert_eq!(mon.vm(a).exit, Some(VmExit::Escaped));
    assert!(mon.vm(a).steps() <= 1000);
}

#[test]
fn an_unprivileged_switch_to_supervisor_stops_the_vm_at_that_instruction() {
    // On this ISA user mode may enter supervisor mode: a guest doing so runs on in *real*
    // supervisor mode, where its privileged instructions would not trap. The VM must stop
    // right at the switch, with nothing after it run directly.
    let src = r#"isa leaky "base with an unprivileged switch to supervisor mode"
extends base
insn usuper rrr 0x50 () "enter supervisor mode, unprivileged" { M = super; }
"#;
    let leaky = Arc::new(pgvm_isa::parse_str("leaky.isa", src).expect("parses"));
    let code = vec![
        enc(&leaky, "li", &[0x30, 1]),
        enc(&leaky, "usuper", &[]),
        enc(&leaky, "li", &[0x31, 7]),
        enc(&leaky, "out", &[0x30]),
        enc(&leaky, "halt", &[]),
    ];
    for mode in [Mode::User, Mode::Supervisor] {
        let mut mon = Monitor::new(leaky.clone(), 16 + 64).expect("monitor");
        let entry = Psw::new(mode, 0x10, 0, 64).expect("psw");
        let a = mon.create_vm(64, &[(0x10, &code)], entry).expect("fits");
        assert_eq!(mon.run_vm(a, 1000), VmExit::Escaped, "{mode}");
        let vm = mon.vm(a);
        assert_eq!(vm.steps(), 2, "{mode}: stopped at the switch");
        assert_eq!(
            (vm.counts.direct, vm.counts.emulated),
            (2, 0),
            "{mode}: li and usuper ran directly, nothing after them"
        );
        assert_eq!(vm.psw().p, 0x12, "{mode}");
        assert_eq!(mon.window(a)[0x30], 1, "{mode}");
        assert_eq!(mon.window(a)[0x31], 0, "{mode}: the next li never ran");
        assert!(mon.real().output().is_empty(), "{mode}: nor the out");
    }
}

#[test]
fn a_guest_that_arms_the_real_timer_is_stopped_and_nobody_else_is_blamed() {
    let src = r#"isa leaky "base with an unprivileged timer"
extends base
insn utmr rrr 0x50 (a) "arm the timer, unprivileged" { timer(E[a]); }
"#;
    let leaky = Arc::new(pgvm_isa::parse_str("leaky.isa", src).expect("parses"));
    // Arm the real timer, then halt: the interrupt would land in the next VM's turn.
    let arm = vec![enc(&leaky, "utmr", &[0x20]), enc(&leaky, "halt", &[])];
    let mut mon = Monitor::new(leaky.clone(), 16 + 64 + 64).expect("monitor");
    let a = mon
        .create_vm(64, &[(0x10, &arm), (0x20, &[5])], supervisor(0x10, 64))
        .expect("fits");
    let p = printer(&leaky);
    let segs: Vec<(u64, &[u64])> = p.segments.iter().map(|(o, w)| (*o, &w[..])).collect();
    let b = mon.create_vm(64, &segs, p.entry).expect("fits");
    mon.run_all(2, 1000);
    assert_eq!(mon.vm(a).exit, Some(VmExit::Escaped));
    assert_eq!(mon.vm(b).exit, Some(VmExit::Halted));
    assert_eq!(mon.vm(b).console(), b"AB");
}
