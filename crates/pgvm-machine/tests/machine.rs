//! The machine's semantics at the edges: address development, traps, halts, devices.

mod common;

use common::{enc, isa};
use pgvm_isa::Mode;
use pgvm_machine::{Exit, Machine, MachineError, Psw, Reloc, StateView, TrapKind, TrapPolicy};

fn machine(q: u64) -> Machine {
    Machine::new(isa("s370"), q).expect("machine")
}

fn handler_psw() -> u64 {
    Psw::new(Mode::Supervisor, 0x30, 0, 0x40)
        .expect("psw")
        .pack()
}

#[test]
fn memory_size_is_checked() {
    assert_eq!(
        Machine::new(isa("s370"), 0).err(),
        Some(MachineError::MemorySize(0))
    );
    assert!(Machine::new(isa("s370"), pgvm_machine::MAX_WORDS + 1).is_err());
    assert!(
        Machine::new(isa("s370"), 1 << 20).is_ok(),
        "2^20 words must work"
    );
}

#[test]
fn trap_saves_psw_at_physical_zero_and_loads_physical_one() {
    let s = isa("s370");
    let mut m = machine(0x100);
    // The program sits at physical 0x80 and runs relocated, l = 0x80, b = 0x10.
    m.write(1, &[handler_psw()]).expect("fits");
    m.write(0x80, &[enc(&s, "svc", &[5])]).expect("fits");
    let user = Psw {
        mode: Mode::User,
        p: 0,
        r: Reloc { l: 0x80, b: 0x10 },
    };
    m.set_psw(user);
    m.set_trap_policy(TrapPolicy::Hardware);
    m.run(1);
    assert_eq!(
        m.memory()[0],
        user.pack(),
        "old PSW at physical 0, P at the svc"
    );
    assert_eq!(
        m.memory()[0x80],
        enc(&s, "svc", &[5]),
        "relocated E[0] untouched"
    );
    assert_eq!(
        m.psw(),
        Psw::unpack(handler_psw()),
        "new PSW from physical 1"
    );
    assert_eq!(m.stats().instruction, 1);
}

#[test]
fn a_trap_blocks_its_instruction() {
    let s = isa("s370");
    let mut m = machine(0x100);
    m.write(1, &[handler_psw()]).expect("fits");
    // stx writes E[E[b] + E[c]] <- E[a]; the target is out of bounds, so nothing changes.
    m.write(0x80, &[enc(&s, "stx", &[4, 5, 6]), 0, 0, 0, 99, 0x0f, 0x0f])
        .expect("fits");
    let before: Vec<u64> = m.memory().to_vec();
    let user = Psw {
        mode: Mode::User,
        p: 0,
        r: Reloc { l: 0x80, b: 0x10 },
    };
    m.set_psw(user);
    m.set_trap_policy(TrapPolicy::Exit);
    assert_eq!(m.run(1), Exit::Trapped(TrapKind::Memory));
    assert_eq!(m.psw(), user, "P still points at the blocked instruction");
    assert_eq!(
        m.memory(),
        &before[..],
        "a blocked instruction changes nothing"
    );
}

#[test]
fn address_development_in_both_modes() {
    let s = isa("s370");
    for mode in [Mode::Supervisor, Mode::User] {
        let mut m = machine(0x40);
        m.set_trap_policy(TrapPolicy::Exit);
        // a + l >= q: l = 0x38, b = 0x10, address 8 -> 0x40 = q.
        m.write(0x38, &[enc(&s, "mov", &[1, 8])]).expect("fits");
        m.set_psw(Psw {
            mode,
            p: 0,
            r: Reloc { l: 0x38, b: 0x10 },
        });
        assert_eq!(
            m.run(1),
            Exit::Trapped(TrapKind::Memory),
            "{mode}: a + l >= q"
        );
        // a >= b.
        let mut m = machine(0x40);
        m.set_trap_policy(TrapPolicy::Exit);
        m.write(0, &[enc(&s, "mov", &[1, 4])]).expect("fits");
        m.set_psw(Psw {
            mode,
            p: 0,
            r: Reloc { l: 0, b: 4 },
        });
        assert_eq!(m.run(1), Exit::Trapped(TrapKind::Memory), "{mode}: a >= b");
        // A fetch outside the window traps too.
        let mut m = machine(0x40);
        m.set_trap_policy(TrapPolicy::Exit);
        m.set_psw(Psw {
            mode,
            p: 4,
            r: Reloc { l: 0, b: 4 },
        });
        assert_eq!(m.run(1), Exit::Trapped(TrapKind::Memory), "{mode}: fetch");
    }
}

#[test]
fn an_indexed_address_near_two_to_the_64_traps_instead_of_overflowing() {
    let s = isa("s370");
    let mut m = machine(0x40);
    m.set_trap_policy(TrapPolicy::Exit);
    // ldx: E[1] <- E[E[2] + E[3]] with E[2] + E[3] = u64::MAX; with l = 1, a + l overflows.
    m.write(1, &[enc(&s, "ldx", &[1, 2, 3]), 0, u64::MAX, 0])
        .expect("fits");
    m.set_psw(Psw {
        mode: Mode::User,
        p: 0,
        r: Reloc { l: 1, b: 0x3f },
    });
    assert_eq!(m.run(1), Exit::Trapped(TrapKind::Memory));
}

#[test]
fn privileged_instruction_traps_only_in_user_mode() {
    let s = isa("s370");
    for (mode, expect) in [
        (Mode::User, Exit::Trapped(TrapKind::Privileged)),
        (Mode::Supervisor, Exit::Halted),
    ] {
        let mut m = machine(0x40);
        m.set_trap_policy(TrapPolicy::Exit);
        m.write(0, &[enc(&s, "halt", &[])]).expect("fits");
        m.set_psw(Psw {
            mode,
            p: 0,
            r: Reloc { l: 0, b: 0x40 },
        });
        assert_eq!(m.run(10), expect);
        assert_eq!(
            m.psw().p,
            0,
            "P stays at the halt or the trapping instruction"
        );
    }
}

#[test]
fn console_and_timer() {
    let s = isa("s370");
    let mut m = machine(0x100);
    // Supervisor: arm the timer for 3 instructions, drop to user mode at 0x20, where an
    // endless loop runs until the interrupt (class 1: E[2] old, E[3] new) halts the machine.
    let user = Psw::new(Mode::User, 0x20, 0, 0x100).expect("psw").pack();
    let to_halt = Psw::new(Mode::Supervisor, 0x40, 0, 0x100)
        .expect("psw")
        .pack();
    m.write(3, &[to_halt]).expect("fits");
    m.write(
        0x10,
        &[
            enc(&s, "out", &[0x18]),
            enc(&s, "stmr", &[0x19]),
            enc(&s, "lpsw", &[0x1a]),
        ],
    )
    .expect("fits");
    m.write(0x18, &[b'!' as u64, 5, user]).expect("fits");
    m.write(0x20, &[enc(&s, "jmp", &[0x20])]).expect("fits");
    m.write(0x40, &[enc(&s, "halt", &[])]).expect("fits");
    m.set_psw(Psw::new(Mode::Supervisor, 0x10, 0, 0x100).expect("psw"));
    assert_eq!(m.run(100), Exit::Halted);
    assert_eq!(m.output(), b"!");
    assert_eq!(m.stats().interrupts, 1);
    // stmr at step 2 arms 5 more: lpsw (3), then jmp x4 (4..7): due after step 7.
    assert_eq!(
        m.steps(),
        8,
        "interrupt after exactly 5 more instructions, then the halt"
    );
    assert_eq!(
        Psw::unpack(m.memory()[2]).p,
        0x20,
        "old PSW of the interrupt at E[2]"
    );
}

#[test]
fn an_unset_trap_vector_is_reported_as_stuck() {
    let mut m = machine(0x40);
    m.set_psw(Psw::new(Mode::User, 0x3f, 0, 4).expect("psw"));
    assert_eq!(m.run(1_000), Exit::Stuck);
    assert!(m.steps() < 10);
}

/// A machine of the largest size allocates its engine's tables as its code runs, not for all
/// of memory: a short program at both ends of 2^21 words touches two pages of the block map
/// (of 2048), and its memory reads back zero where nothing was written.
#[test]
fn a_machine_of_two_to_the_21_words_allocates_only_the_pages_its_code_runs_in() {
    let s = isa("s370");
    let q = pgvm_machine::MAX_WORDS;
    let mut m = Machine::new(s.clone(), q).expect("machine");
    assert_eq!(
        m.engine().pages_allocated(),
        0,
        "nothing before the first run"
    );
    let top = q - 4;
    m.write(
        0x10,
        &[enc(&s, "addi", &[0x20, 7]), enc(&s, "jmp", &[top as i128])],
    )
    .expect("fits");
    m.write(top, &[enc(&s, "addi", &[0x20, 1]), enc(&s, "halt", &[])])
        .expect("fits");
    m.set_psw(Psw::new(Mode::Supervisor, 0x10, 0, q).expect("psw"));
    assert_eq!(m.run(100), Exit::Halted);
    assert_eq!(m.memory()[0x20], 8);
    assert_eq!(m.engine().pages_allocated(), 2);
    assert_eq!(m.engine().live_blocks(), 2);
    assert_eq!(m.memory().len() as u64, q);
    assert!(m.memory()[0x1000..0x2000].iter().all(|&w| w == 0));
}

/// A loop within one block is given native code once it is hot, not before, and only by the
/// engine that makes native code (on an x86-64 host); with or without it, the loop computes
/// the same sum.
#[test]
fn a_looping_block_gets_native_code_once_it_is_hot() {
    // acc += i; i -= 1; until i == 0, from i = n, on engine `E`: the sum and the blocks
    // with native code.
    fn sum<E: pgvm_machine::Engine>(n: u64, natives: fn(&E) -> usize) -> (u64, usize) {
        let s = isa("s370");
        let program = [
            enc(&s, "add", &[0x40, 0x40, 0x41]),
            enc(&s, "addi", &[0x41, -1]),
            enc(&s, "jnz", &[0x41, 0x10]),
            enc(&s, "halt", &[]),
        ];
        let mut m = Machine::<E>::with_engine(s, 0x100).expect("machine");
        m.write(0x10, &program).expect("fits");
        m.write(0x41, &[n]).expect("fits");
        m.set_psw(Psw::new(Mode::Supervisor, 0x10, 0, 0x100).expect("psw"));
        assert_eq!(m.run(10 * n), Exit::Halted);
        (m.memory()[0x40], natives(m.engine()))
    }
    use pgvm_machine::{Block, BlockOps};
    let on_host = usize::from(cfg!(target_arch = "x86_64"));
    // 300 instructions: below the threshold.
    assert_eq!(sum::<Block>(100, Block::native_blocks), (5050, 0));
    assert_eq!(
        sum::<Block>(100_000, Block::native_blocks),
        (5_000_050_000, on_host)
    );
    assert_eq!(
        sum::<BlockOps>(100_000, BlockOps::native_blocks),
        (5_000_050_000, 0)
    );
}

/// What a hot loop ran is its own heat: a short loop after it, through two blocks (so that
/// its heat comes from its jump back), is not given native code for the instructions the
/// first one ran, natively or on the ops.
#[test]
fn a_short_loop_after_a_hot_one_stays_on_the_ops() {
    let s = isa("s370");
    let program = [
        // 0x10: a loop within one block, 3 000 instructions: hot.
        enc(&s, "add", &[0x40, 0x40, 0x41]),
        enc(&s, "addi", &[0x41, -1]),
        enc(&s, "jnz", &[0x41, 0x10]),
        // 0x13: a loop through two blocks, 120 instructions.
        enc(&s, "add", &[0x42, 0x42, 0x43]),
        enc(&s, "jmp", &[0x15]),
        enc(&s, "addi", &[0x43, -1]),
        enc(&s, "jnz", &[0x43, 0x13]),
        enc(&s, "halt", &[]),
    ];
    let mut m = Machine::<pgvm_machine::Block>::with_engine(s, 0x100).expect("machine");
    m.write(0x10, &program).expect("fits");
    m.write(0x41, &[1000]).expect("fits");
    m.write(0x43, &[30]).expect("fits");
    m.set_psw(Psw::new(Mode::Supervisor, 0x10, 0, 0x100).expect("psw"));
    assert_eq!(m.run(10_000), Exit::Halted);
    assert_eq!((m.memory()[0x40], m.memory()[0x42]), (500_500, 465));
    let on_host = usize::from(cfg!(target_arch = "x86_64"));
    assert_eq!(m.engine().native_blocks(), on_host);
}

/// A loop through several blocks, a call to a routine and its `jr` back, is given native code
/// for all of them once it is hot (and the routine's `rem` with it); the routine called from
/// a second place, so that its `jr` goes elsewhere, leaves the code there. Every engine
/// computes the same as the reference cycle.
#[test]
fn a_loop_with_a_call_and_its_return_gets_native_code_once_it_is_hot() {
    // loop: jal link, f; add acc, acc, r; addi i, -1; jnz i, loop; jal link, f; halt
    // f:    rem r, i, seven; jr link
    fn run<E: pgvm_machine::Engine>(n: u64, natives: fn(&E) -> usize) -> (Vec<u64>, u64, usize) {
        let s = isa("s370");
        let (acc, i, r, link, seven) = (0x40, 0x41, 0x42, 0x43, 0x44);
        let program = [
            enc(&s, "jal", &[link, 0x18]),
            enc(&s, "add", &[acc, acc, r]),
            enc(&s, "addi", &[i, -1]),
            enc(&s, "jnz", &[i, 0x10]),
            enc(&s, "jal", &[link, 0x18]),
            enc(&s, "halt", &[]),
        ];
        let routine = [enc(&s, "rem", &[r, i, seven]), enc(&s, "jr", &[link])];
        let mut m = Machine::<E>::with_engine(s, 0x100).expect("machine");
        m.write(0x10, &program).expect("fits");
        m.write(0x18, &routine).expect("fits");
        m.write(i as u64, &[n]).expect("fits");
        m.write(seven as u64, &[7]).expect("fits");
        m.set_psw(Psw::new(Mode::Supervisor, 0x10, 0, 0x100).expect("psw"));
        assert_eq!(m.run(10 * n), Exit::Halted);
        (
            m.memory()[0x40..0x45].to_vec(),
            m.steps(),
            natives(m.engine()),
        )
    }
    use pgvm_machine::{Block, BlockOps, Interpreter};
    let n = 100_000;
    let (want, steps, _) = run::<Interpreter>(n, |_| 0);
    // The sum of i % 7 over i = n down to 1 (the call after the loop adds nothing).
    let sum: u64 = (1..=n).map(|i| i % 7).sum();
    assert_eq!(want[0], sum);
    assert_eq!(steps, 6 * n + 4);
    let on_host = usize::from(cfg!(target_arch = "x86_64"));
    let (got, got_steps, natives) = run::<Block>(n, Block::native_blocks);
    assert_eq!((got, got_steps), (want.clone(), steps));
    assert!(
        natives >= on_host,
        "a region for the loop: {natives} blocks with native code"
    );
    assert_eq!(
        run::<BlockOps>(n, BlockOps::native_blocks),
        (want, steps, 0)
    );
}

/// A trap handler's path, entered at every `svc` of a user loop, is given native code with
/// the blocks it goes through once it has been entered often enough; every engine computes
/// the same as the reference cycle, and counts the same instructions in each mode
/// (`run_observed`, which the block engine serves piece by piece when it takes the traps and
/// resumes itself).
#[test]
fn a_trap_handlers_path_gets_native_code_once_it_is_hot() {
    // user (R = <0x100, 0x40>):  loop: svc 1; jmp loop
    // handler (E[1]):  addi cnt, 1; sltu t, cnt, n; jz t, done; jmp resume
    // resume:          add 0, 0, p_one; lpsw 0        (P + 1 in the saved PSW)
    // done:            halt
    type Run = (Vec<u64>, u64, [u64; 2], usize);
    fn run<E: pgvm_machine::Engine>(n: u64, natives: fn(&E) -> usize) -> Run {
        let s = isa("s370");
        let (cnt, t, limit, p_one) = (0x60u64, 0x61u64, 0x62u64, 0x63u64);
        let c = |x: u64| i128::from(x);
        let handler = [
            enc(&s, "addi", &[c(cnt), 1]),
            enc(&s, "sltu", &[c(t), c(cnt), c(limit)]),
            enc(&s, "jz", &[c(t), 0x30]),
            enc(&s, "jmp", &[0x28]),
        ];
        let resume = [enc(&s, "add", &[0, 0, c(p_one)]), enc(&s, "lpsw", &[0])];
        let user = [enc(&s, "svc", &[1]), enc(&s, "jmp", &[0])];
        let mut m = Machine::<E>::with_engine(s.clone(), 0x200).expect("machine");
        let handler_psw = Psw::new(Mode::Supervisor, 0x20, 0, 0x200).expect("psw");
        m.write(1, &[handler_psw.pack()]).expect("fits");
        m.write(0x20, &handler).expect("fits");
        m.write(0x28, &resume).expect("fits");
        m.write(0x30, &[enc(&s, "halt", &[])]).expect("fits");
        m.write(limit, &[n, 1 << 42]).expect("fits");
        m.write(0x100, &user).expect("fits");
        m.set_psw(Psw::new(Mode::User, 0, 0x100, 0x40).expect("psw"));
        let mut modes = [0u64; 2];
        let exit = m.run_observed(20 * n, |psw, k| {
            modes[usize::from(psw.mode == Mode::User)] += k;
        });
        assert_eq!(exit, Exit::Halted);
        let memory = m.memory()[..0x140].to_vec();
        (memory, m.steps(), modes, natives(m.engine()))
    }
    use pgvm_machine::{Block, BlockOps, Interpreter};
    let n = 5000;
    let (want, steps, modes, _) = run::<Interpreter>(n, |_| 0);
    assert_eq!(want[0x60], n);
    // Per lap: the handler's six in supervisor mode (four on the last, which halts); svc
    // and jmp in user mode (no jmp after the last svc).
    assert_eq!(modes, [6 * n - 2, 2 * n - 1]);
    let on_host = usize::from(cfg!(target_arch = "x86_64"));
    let (got, got_steps, got_modes, natives) = run::<Block>(n, Block::native_blocks);
    assert_eq!((got, got_steps, got_modes), (want.clone(), steps, modes));
    assert!(
        natives >= on_host,
        "a region for the handler's path: {natives} blocks with native code"
    );
    assert_eq!(
        run::<BlockOps>(n, BlockOps::native_blocks),
        (want, steps, modes, 0)
    );
}

/// A block that laps on itself, longer than the engine's threshold, still stops when the
/// budget does: its laps counted towards the threshold are given at least one whole lap of
/// room, never less (less wrapped the lap test, and the loop ran to its end).
#[test]
fn a_lapping_block_longer_than_the_threshold_keeps_the_budget() {
    fn run<E: pgvm_machine::Engine>(budget: u64) -> (Exit, u64, Psw, Vec<u64>) {
        let s = isa("s370");
        let (i, x, y) = (0x40, 0x41, 0x42);
        let program = [
            enc(&s, "li", &[i, 100]),
            enc(&s, "add", &[x, x, y]),
            enc(&s, "add", &[x, x, y]),
            enc(&s, "add", &[x, x, y]),
            enc(&s, "add", &[x, x, y]),
            enc(&s, "addi", &[i, -1]),
            enc(&s, "jnz", &[i, 0x11]),
            enc(&s, "halt", &[]),
        ];
        let mut m = Machine::<E>::with_engine(s, 0x100).expect("machine");
        m.write(0x10, &program).expect("fits");
        m.write(0x42, &[1]).expect("fits");
        m.set_psw(Psw::new(Mode::Supervisor, 0x10, 0, 0x100).expect("psw"));
        let exit = m.run(budget);
        (exit, m.steps(), m.psw(), m.memory()[0x40..0x43].to_vec())
    }
    use pgvm_machine::{Blocks, Interpreter};
    for budget in [1, 7, 50, 333] {
        let want = run::<Interpreter>(budget);
        assert_eq!(want.0, Exit::BudgetSpent);
        assert_eq!(run::<Blocks<3>>(budget), want, "budget {budget}");
        assert_eq!(run::<Blocks<16>>(budget), want, "budget {budget}");
    }
}

/// A loop whose detour (the other arm of its test) stores through an index that walks up
/// memory, into the detour's own first instruction after a while: the native code that holds
/// the detour must be dropped then, and the new instruction run, as on the reference.
#[test]
fn a_store_from_a_detour_into_its_own_code_drops_the_native_code_that_holds_it() {
    let s = isa("s370");
    let (c, t, x, one, sum, base, idx, val) = (0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77);
    let program = [
        (0x10, enc(&s, "li", &[c, 200])),
        (0x11, enc(&s, "and", &[t, x, one])),
        (0x12, enc(&s, "jz", &[t, 0x20])),
        (0x13, enc(&s, "xor", &[x, x, one])),
        (0x14, enc(&s, "add", &[sum, sum, x])),
        (0x15, enc(&s, "addi", &[c, -1])),
        (0x16, enc(&s, "jnz", &[c, 0x11])),
        (0x17, enc(&s, "halt", &[])),
        (0x20, enc(&s, "xor", &[x, x, one])),
        (0x21, enc(&s, "stx", &[val, base, idx])),
        (0x22, enc(&s, "addi", &[idx, 1])),
        (0x23, enc(&s, "jmp", &[0x11])),
        (one as u64, 1),
        (idx as u64, 0x18),
        (val as u64, enc(&s, "addi", &[sum, 100])),
    ];
    let load = |m: &mut dyn FnMut(u64, u64)| program.iter().for_each(|&(a, w)| m(a, w));
    let entry = Psw::new(Mode::Supervisor, 0x10, 0, 0x100).expect("psw");
    let mut native =
        Machine::<pgvm_machine::Blocks<16>>::with_engine(s.clone(), 0x100).expect("machine");
    load(&mut |a, w| native.write(a, &[w]).expect("fits"));
    native.set_psw(entry);
    let mut reference =
        Machine::<pgvm_machine::Interpreter>::with_engine(s.clone(), 0x100).expect("machine");
    load(&mut |a, w| reference.write(a, &[w]).expect("fits"));
    reference.set_psw(entry);
    // In stretches of 97, the two compared after each.
    let mut most = 0;
    while native.steps() < 3000 {
        let exit = native.run(97);
        assert_eq!(reference.run(97), exit, "exit at {}", native.steps());
        assert_eq!(native.steps(), reference.steps(), "clock");
        assert_eq!(native.psw(), reference.psw(), "PSW at {}", native.steps());
        assert!(
            native.memory() == reference.memory(),
            "memory at {}",
            native.steps()
        );
        most = most.max(native.engine().native_blocks());
        if matches!(exit, Exit::Halted | Exit::Stuck) {
            break;
        }
    }
    assert!(
        most >= usize::from(cfg!(target_arch = "x86_64")),
        "the loop never ran as native code"
    );
    assert_ne!(
        native.memory()[0x20],
        program[8].1,
        "the detour was rewritten"
    );
}

/// The block engine links a block to the one it ran next; a link to code that changed since
/// (from outside the run, here) must not be followed: the new code runs, not the old block.
#[test]
fn a_linked_block_whose_code_changed_is_not_run() {
    let s = isa("s370");
    let mut m = machine(0x100);
    // A: count laps; B: count down, back to A until zero.
    m.write(
        0x10,
        &[enc(&s, "addi", &[0x30, 1]), enc(&s, "jmp", &[0x20])],
    )
    .expect("fits");
    m.write(
        0x20,
        &[
            enc(&s, "addi", &[0x31, -1]),
            enc(&s, "jnz", &[0x31, 0x10]),
            enc(&s, "halt", &[]),
        ],
    )
    .expect("fits");
    m.write(0x31, &[100]).expect("fits");
    m.set_psw(Psw::new(Mode::Supervisor, 0x10, 0, 0x100).expect("psw"));
    // Ten laps of four instructions: A -> B -> A linked both ways.
    assert_eq!(m.run(40), Exit::BudgetSpent);
    assert_eq!((m.memory()[0x30], m.memory()[0x31]), (10, 90));
    // B now also counts in E[0x32]; A's link to the old B must be dropped.
    m.write(
        0x20,
        &[
            enc(&s, "addi", &[0x32, 1]),
            enc(&s, "addi", &[0x31, -1]),
            enc(&s, "jnz", &[0x31, 0x10]),
            enc(&s, "halt", &[]),
        ],
    )
    .expect("fits");
    assert_eq!(m.run(1_000), Exit::Halted);
    assert_eq!(m.memory()[0x30], 100);
    assert_eq!(m.memory()[0x31], 0);
    assert_eq!(m.memory()[0x32], 90, "the new B ran on every remaining lap");
}

/// The block engine answers a read of the PSW when it compiles a block, so a block must not
/// be reused for an `R` that differs only where the address limit does not show: here `b`
/// grows past the end of memory (same limit, another PSW word). Both rounds of `spsw` must
/// store the PSW of their own round, as the reference interpreter does.
#[test]
fn a_psw_read_sees_the_bounds_even_where_the_limit_hides_them() {
    let s = isa("s370");
    let program = |m: &mut dyn FnMut(u64, &[u64])| {
        m(
            0x10,
            &[
                enc(&s, "spsw", &[0x40]),
                enc(&s, "jnz", &[0x41, 0x15]),
                enc(&s, "mov", &[0x41, 0x40]),
                enc(&s, "lrb", &[0x50]),
                enc(&s, "jmp", &[0x10]),
                enc(&s, "halt", &[]),
            ],
        );
        m(0x50, &[Reloc { l: 0, b: 0x200 }.pack()]);
    };
    let mut block = machine(0x100);
    let mut reference =
        Machine::<pgvm_machine::Interpreter>::with_engine(s.clone(), 0x100).expect("machine");
    program(&mut |at, words| block.write(at, words).expect("fits"));
    program(&mut |at, words| reference.write(at, words).expect("fits"));
    let start = Psw::new(Mode::Supervisor, 0x10, 0, 0x100).expect("psw");
    block.set_psw(start);
    reference.set_psw(start);
    assert_eq!(block.run(100), Exit::Halted);
    assert_eq!(reference.run(100), Exit::Halted);
    let psw_at = |b| Psw::new(Mode::Supervisor, 0x11, 0, b).expect("psw").pack();
    assert_eq!(block.memory()[0x41], psw_at(0x100), "first round");
    assert_eq!(block.memory()[0x40], psw_at(0x200), "second round");
    assert_eq!(block.memory(), reference.memory());
    assert_eq!(block.steps(), reference.steps());
    assert_eq!(block.psw(), reference.psw());
}
