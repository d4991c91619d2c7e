//! A monitor running on a VM of another monitor: the host interface implemented by a VM
//! (`VmHost`), nested two and three levels deep, compared with the bare machine.

use std::sync::Arc;

use pgvm_isa::Isa;
use pgvm_machine::{Exit, Machine, Psw, StateView};
use pgvm_testkit::{Program, enc, isa, random_guest, supervisor};
use pgvm_vmm::{CP_WORDS, Host, Monitor, TechniqueKind, VmExit, VmHost};

/// What a run leaves: the guest's memory, PSW, console, instructions, and whether it halted.
#[derive(Debug, PartialEq)]
struct Outcome {
    window: Vec<u64>,
    psw: Psw,
    console: Vec<u8>,
    steps: u64,
    halted: bool,
}

fn bare(isa: &Arc<Isa>, p: &Program, budget: u64) -> Outcome {
    let mut m = Machine::new(isa.clone(), p.w).expect("machine");
    m.write(0, &p.image).expect("fits");
    m.set_psw(p.entry);
    m.push_input(&p.input);
    let mut exit = m.run(budget);
    // Stuck is the bare machine's way of saying "this loops for ever": run it out, as the
    // VM (which sees the loop as its own `Stuck`) stops too.
    if exit == Exit::Stuck {
        exit = Exit::BudgetSpent;
    }
    Outcome {
        window: m.memory().to_vec(),
        psw: m.psw(),
        console: m.output().to_vec(),
        steps: m.steps(),
        halted: exit == Exit::Halted,
    }
}

/// Runs `p` under `levels` trap-and-emulate monitors, each on a VM of the one below.
fn nested(isa: &Arc<Isa>, p: &Program, levels: usize, budget: u64) -> Outcome {
    fn guest_in<H: Host>(mut mon: Monitor<H>, p: &Program, budget: u64) -> Outcome {
        let id = mon
            .create_vm(p.w, &[(0, &p.image)], p.entry)
            .expect("guest fits");
        mon.push_input(id, &p.input);
        let exit = mon.run_vm(id, budget);
        let vm = mon.vm(id);
        Outcome {
            window: mon.window(id).to_vec(),
            psw: vm.psw(),
            console: vm.console().to_vec(),
            steps: vm.steps(),
            halted: exit == VmExit::Halted,
        }
    }
    fn level<H: Host>(isa: &Arc<Isa>, mon: Monitor<H>, w: u64) -> Monitor<VmHost<H>> {
        let mut mon = mon;
        let id = mon
            .create_vm(w, &[], supervisor(0, w))
            .expect("the inner monitor's machine fits");
        Monitor::on(
            isa.clone(),
            VmHost::new(mon, id),
            TechniqueKind::Tae.build(),
        )
    }
    let words = |depth: usize| p.w + CP_WORDS * depth as u64;
    let l0 = Monitor::new(isa.clone(), words(levels)).expect("real machine");
    match levels {
        1 => guest_in(l0, p, budget),
        2 => guest_in(level(isa, l0, words(1)), p, budget),
        3 => {
            let l1 = level(isa, l0, words(2));
            guest_in(level(isa, l1, words(1)), p, budget)
        }
        _ => unreachable!("levels 1 to 3"),
    }
}

/// A supervisor program: print "AB", load R and the PSW (privileged, so each level's
/// monitor must emulate them), then halt.
fn printer(isa: &Isa) -> Program {
    let w = 64;
    let mut image = vec![0; w as usize];
    let code = [
        enc(isa, "out", &[0x20]),
        enc(isa, "out", &[0x21]),
        enc(isa, "lrb", &[0x22]),
        enc(isa, "lpsw", &[0x23]),
        0,
        enc(isa, "halt", &[]),
    ];
    image[0x10..0x10 + code.len()].copy_from_slice(&code);
    image[0x20] = u64::from(b'A');
    image[0x21] = u64::from(b'B');
    image[0x22] = pgvm_machine::Reloc { l: 0, b: w }.pack();
    image[0x23] = supervisor(0x15, w).pack();
    Program {
        w,
        image,
        entry: supervisor(0x10, w),
        input: Vec::new(),
    }
}

#[test]
fn a_privileged_program_is_equivalent_two_and_three_levels_deep() {
    for name in ["s370", "ppc", "m68010", "ia32-vt"] {
        let s = isa(name);
        let p = printer(&s);
        let want = bare(&s, &p, 1000);
        assert!(want.halted, "{name}: the program halts bare");
        assert_eq!(want.console, b"AB");
        for levels in 1..=3 {
            assert_eq!(
                nested(&s, &p, levels, 1000),
                want,
                "{name} at {levels} levels"
            );
        }
    }
}

#[test]
fn random_programs_are_equivalent_two_levels_deep() {
    for name in ["s370", "ppc", "m68010"] {
        let s = isa(name);
        for seed in 0..150 {
            let p = random_guest(&s, seed);
            let want = bare(&s, &p, 2000);
            let got = nested(&s, &p, 2, want.steps.max(1));
            assert_eq!(got, want, "{name} seed {seed}");
        }
    }
}
