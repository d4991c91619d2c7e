//! The VM assist at the machine level: with a monitor's control block lent, an assisted
//! instruction of virtual supervisor mode is carried out by the machine, and a supervisor call
//! reflected into the guest's own trap pair; without one, or in virtual user mode, everything
//! traps as before. Both engines alike.

use pgvm_isa::Mode;
use pgvm_machine::{
    ControlBlock, Engine, Exit, Fast, HostPa, Interpreter, Machine, Psw, StateView, TrapKind,
    TrapPolicy, VirtualCpu, VmMap,
};
use pgvm_testkit::{enc, isa, psw};

const BASE: u64 = 16;
const W: u64 = 64;

fn map() -> VmMap {
    VmMap {
        base: HostPa(BASE),
        w: W,
    }
}

/// A machine with a guest at `BASE` whose first instruction is `first`, whose `E[1]` holds a
/// supervisor handler at `P = 4` and whose `E[8]` a user-mode PSW at `P = 2`. The guest starts
/// in `mode` at `P = 0`; the control block is lent when `block` is given.
fn setup<E: Engine>(first: u64, mode: Mode, block: Option<fn(&mut ControlBlock)>) -> Machine<E> {
    let s = isa("s370");
    let mut m = Machine::<E>::with_engine(s.clone(), BASE + W).expect("machine");
    m.set_trap_policy(TrapPolicy::Exit);
    m.store(BASE, first);
    m.store(BASE + 1, psw(Mode::Supervisor, 4, 0, W).pack());
    m.store(BASE + 8, psw(Mode::User, 2, 0, W).pack());
    let mut b = ControlBlock::new(&s, map(), VirtualCpu::new(psw(mode, 0, 0, W), 1));
    m.set_psw(b.real_psw());
    if let Some(f) = block {
        f(&mut b);
        m.load_control_block(b);
    }
    m
}

fn lend(_: &mut ControlBlock) {}

fn no_reflection(b: &mut ControlBlock) {
    b.reflect = false;
}

fn lpsw_in<E: Engine>() {
    let lpsw = enc(&isa("s370"), "lpsw", &[8]);
    // Lent a block, virtual supervisor mode: the lpsw is the machine's.
    let mut m = setup::<E>(lpsw, Mode::Supervisor, Some(lend));
    assert_eq!(m.run(1), Exit::BudgetSpent);
    assert_eq!(m.stats().assisted, 1);
    assert_eq!(m.stats().traps(), 0);
    let b = m.control_block().expect("still lent");
    assert_eq!(b.cpu.psw, psw(Mode::User, 2, 0, W));
    assert_eq!(b.assisted, 1);
    assert_eq!(m.psw(), b.real_psw(), "the real PSW comes from the VM map");
    assert_eq!((m.psw().mode, m.psw().r.l), (Mode::User, BASE));

    // No block: it traps, as it always did.
    let mut m = setup::<E>(lpsw, Mode::Supervisor, None);
    assert_eq!(m.run(1), Exit::Trapped(TrapKind::Privileged));
    assert_eq!(m.stats().assisted, 0);

    // Virtual user mode: the guest's own machine traps too, and that is the monitor's.
    let mut m = setup::<E>(lpsw, Mode::User, Some(lend));
    assert_eq!(m.run(1), Exit::Trapped(TrapKind::Privileged));
    assert_eq!(m.psw().p, 0, "blocked, P at the lpsw");
    assert_eq!(m.take_control_block().expect("lent").assisted, 0);
}

#[test]
fn an_lpsw_in_virtual_supervisor_mode_is_carried_out_by_the_machine_on_either_engine() {
    lpsw_in::<Fast>();
    lpsw_in::<Interpreter>();
}

fn svc_in<E: Engine>() {
    let svc = enc(&isa("s370"), "svc", &[3]);
    let mut m = setup::<E>(svc, Mode::User, Some(lend));
    assert_eq!(m.run(1), Exit::BudgetSpent);
    assert_eq!(m.stats().instruction, 0);
    let b = m.control_block().expect("lent");
    assert_eq!(b.cpu.psw, psw(Mode::Supervisor, 4, 0, W), "E[1]'s PSW");
    assert_eq!(
        Psw::unpack(m.load(BASE)),
        psw(Mode::User, 0, 0, W),
        "the guest's own E[0] holds its PSW at the svc"
    );
    assert_eq!(m.psw(), b.real_psw());

    // A monitor that hands the guest's traps on says so: then the trap is its own.
    let mut m = setup::<E>(svc, Mode::User, Some(no_reflection));
    assert_eq!(m.run(1), Exit::Trapped(TrapKind::Instruction));
    assert_eq!(m.load(BASE), svc, "nothing written");
}

#[test]
fn a_supervisor_call_is_reflected_into_the_guests_own_trap_pair_on_either_engine() {
    svc_in::<Fast>();
    svc_in::<Interpreter>();
}

#[test]
fn an_instruction_the_assist_does_not_name_still_traps() {
    let s = isa("s370");
    for first in [enc(&s, "lrb", &[8]), enc(&s, "stctl", &[8, 9])] {
        let mut m = setup::<Fast>(first, Mode::Supervisor, Some(lend));
        assert_eq!(m.run(1), Exit::Trapped(TrapKind::Privileged));
        assert_eq!(m.control_block().expect("lent").cpu.psw.r.l, 0);
    }
}
