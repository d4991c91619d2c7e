//! The emitted code against `pgvm_isa::ops::alu` and against the promises the crate makes
//! about memory.

#![allow(clippy::unwrap_used)]

use pgvm_isa::BinOp;
use pgvm_isa::ops::alu;

use crate::{Arg, Emitter, Exit, NativeError, Reg};

const DONE: u32 = 7;
const CODE: u32 = 8;
const OUT: u32 = 9;

fn exit(kind: u32, a: Arg, b: u64) -> Exit {
    Exit {
        kind,
        a,
        b,
        done: 0,
    }
}

/// `mem[2] = mem[0] op mem[1]`, run on `x` and `y`.
fn run_op(op: BinOp, x: u64, y: u64) -> u64 {
    let mut e = Emitter::new(16, 0, 16, &[]).unwrap();
    e.load(Reg::A, 0);
    e.load(Reg::B, 1);
    e.alu(op);
    e.store(2, Reg::A);
    e.exit(exit(DONE, Arg::A, 5));
    let native = e.finish().unwrap();
    let mut mem = vec![0u64; 16];
    mem[0] = x;
    mem[1] = y;
    let left = native.run(&mut mem, &[0; 16], 100).unwrap();
    assert_eq!((left.kind, left.a, left.b), (DONE, mem[2], 5));
    mem[2]
}

#[test]
fn every_operator_agrees_with_the_alu_on_edge_values() {
    let edges = [
        0,
        1,
        2,
        3,
        63,
        64,
        65,
        0x7fff_ffff_ffff_fffe,
        i64::MAX as u64,
        i64::MIN as u64,
        (i64::MIN as u64) + 1,
        u64::MAX - 1,
        u64::MAX,
    ];
    use BinOp::*;
    for op in [
        Add, Sub, Mul, Div, Rem, And, Or, Xor, Shl, Shr, Sar, Eq, Ne, Lt, Le, Gt, Ge, Lts, Les,
    ] {
        for x in edges {
            for y in edges {
                assert_eq!(run_op(op, x, y), alu(op, x, y), "{op:?} {x:#x} {y:#x}");
            }
        }
    }
}

/// Division keeps the code map's base (`rdx`, which `div` writes): a store after a division
/// to a word the code map marks still leaves.
#[test]
fn a_division_keeps_the_code_map() {
    for op in [BinOp::Div, BinOp::Rem] {
        let mut e = Emitter::new(16, 0, 16, &[]).unwrap();
        e.load(Reg::A, 0);
        e.load(Reg::B, 1);
        e.alu(op);
        e.store(3, Reg::A);
        e.exit_if_code(3, exit(CODE, Arg::A, 0));
        e.exit(exit(DONE, Arg::A, 0));
        let native = e.finish().unwrap();
        let mut mem = vec![0u64; 16];
        mem[0] = 100;
        mem[1] = 7;
        let mut code = [0u8; 16];
        code[3] = 1;
        let left = native.run(&mut mem, &code, 10).unwrap();
        assert_eq!((left.kind, left.a), (CODE, alu(op, 100, 7)), "{op:?}");
    }
}

/// `jump` goes to its label; `exit_if_not` leaves exactly when `A` differs from its constant.
#[test]
fn a_jump_and_a_guess_at_a_value() {
    let run = |x: u64| {
        let mut e = Emitter::new(16, 0, 16, &[]).unwrap();
        let there = e.label();
        e.load(Reg::A, 0);
        e.exit_if_not(42, exit(OUT, Arg::A, 1));
        e.jump(there);
        e.bind(there);
        e.konst(Reg::A, 7);
        e.exit(exit(DONE, Arg::A, 2));
        let native = e.finish().unwrap();
        let mut mem = vec![0u64; 16];
        mem[0] = x;
        let left = native.run(&mut mem, &[0; 16], 10).unwrap();
        (left.kind, left.a, left.b)
    };
    assert_eq!(run(42), (DONE, 7, 2));
    assert_eq!(run(43), (OUT, 43, 1));
    assert_eq!(run(42 | 1 << 40), (OUT, 42 | 1 << 40, 1));
    // A jump ends the code's straight line: code that ends in one does not fall off.
    let mut e = Emitter::new(16, 0, 16, &[]).unwrap();
    let back = e.label();
    e.bind(back);
    e.exit_if(true, exit(DONE, Arg::A, 0));
    e.jump(back);
    assert!(e.finish().is_ok());
}

#[test]
fn the_emitter_has_a_native_form_exactly_where_has_native_form_says() {
    use BinOp::*;
    for op in [
        Add, Sub, Mul, Div, Rem, And, Or, Xor, Shl, Shr, Sar, Eq, Ne, Lt, Le, Gt, Ge, Lts, Les,
        LogicalAnd, LogicalOr,
    ] {
        let mut e = Emitter::new(16, 0, 16, &[]).unwrap();
        e.alu(op);
        e.exit(exit(DONE, Arg::A, 0));
        let made = e.finish();
        assert_eq!(made.is_ok(), crate::has_native_form(op), "{op:?}");
        if !crate::has_native_form(op) {
            assert_eq!(made.err(), Some(NativeError::Operator(op)));
        }
    }
    assert!(!crate::has_native_form(LogicalAnd) && !crate::has_native_form(LogicalOr));
}

#[test]
fn fixed_words_past_the_machine_and_windows_outside_it_are_refused() {
    let mut e = Emitter::new(16, 0, 16, &[]).unwrap();
    e.store(16, Reg::A);
    e.exit(exit(DONE, Arg::A, 0));
    assert_eq!(e.finish().err(), Some(NativeError::OutOfRange(16, 16)));
    assert!(matches!(
        Emitter::new(16, 8, 9, &[]).err(),
        Some(NativeError::Window { l: 8, lim: 9, .. })
    ));
    let mut e = Emitter::new(16, 0, 16, &[]).unwrap();
    e.exit(exit(DONE, Arg::A, 0));
    let native = e.finish().unwrap();
    assert!(native.run(&mut [0; 15], &[0; 16], 1).is_err());
    assert!(native.run(&mut [0; 16], &[0; 15], 1).is_err());
}

/// `mem[l + mem[0]] = mem[1]` in window `<4, 8>`, leaving through `OUT` with the address when
/// it is outside.
fn window_store(mem: &mut [u64], code: &[u8]) -> (u32, u64) {
    let mut e = Emitter::new(16, 4, 8, &[]).unwrap();
    e.load(Reg::A, 0);
    e.window(exit(OUT, Arg::A, 0));
    e.load(Reg::C, 1);
    e.store_window(Reg::C);
    e.exit_if_code_window(exit(CODE, Arg::Window, 0));
    e.load_window(Reg::A);
    e.exit(exit(DONE, Arg::A, 0));
    let left = e.finish().unwrap().run(mem, code, 1).unwrap();
    (left.kind, left.a)
}

#[test]
fn window_words_are_checked_against_the_limit_and_the_code_map() {
    let mut code = [0u8; 16];
    let mut mem = [0u64; 16];
    mem[1] = 42;
    for x in [0, 3, 7] {
        mem[0] = x;
        assert_eq!(window_store(&mut mem, &code), (DONE, 42));
        assert_eq!(mem[4 + x as usize], 42);
    }
    for x in [8, 9, u64::MAX] {
        mem[0] = x;
        let before = mem;
        assert_eq!(window_store(&mut mem, &code), (OUT, x));
        assert_eq!(mem, before, "nothing is stored outside the window");
    }
    code[9] = 1;
    mem[0] = 5;
    assert_eq!(window_store(&mut mem, &code), (CODE, 9));
}

#[test]
fn a_pinned_word_stored_through_the_window_is_read_again() {
    // mem[4 + mem[0]] = mem[1], then mem[2] = mem[5], with 5 and 1 pinned.
    let mut e = Emitter::new(16, 4, 8, &[5, 1]).unwrap();
    e.load(Reg::A, 0);
    e.window(exit(OUT, Arg::A, 0));
    e.load(Reg::C, 1);
    e.store_window(Reg::C);
    e.load(Reg::A, 5);
    e.store(2, Reg::A);
    e.exit(exit(DONE, Arg::A, 0));
    let native = e.finish().unwrap();
    let mut mem = [0u64; 16];
    mem[1] = 42;
    mem[5] = 7;
    assert_eq!(native.run(&mut mem, &[0; 16], 1).unwrap().a, 7);
    mem[0] = 1;
    assert_eq!(native.run(&mut mem, &[0; 16], 1).unwrap().a, 42);
    assert_eq!(mem[2], 42);
}

#[test]
fn a_loop_laps_while_two_laps_fit_and_a_fixed_store_to_code_leaves() {
    for pins in [&[][..], &[0]] {
        a_loop(pins);
    }
}

fn a_loop(pins: &[u64]) {
    // mem[0] -= 1 until zero, three instructions a lap; then the room left comes back.
    let native = {
        let mut e = Emitter::new(16, 0, 16, pins).unwrap();
        e.load(Reg::A, 0);
        e.konst(Reg::B, 1);
        e.alu(BinOp::Sub);
        e.store(0, Reg::A);
        e.exit_if_code(0, exit(CODE, Arg::Const(0), 0));
        e.exit_if(false, exit(DONE, Arg::Const(0), 0));
        e.lap(3, exit(OUT, Arg::Const(0), 0));
        e.finish().unwrap()
    };
    let mut mem = [0u64; 16];
    mem[0] = 10;
    let left = native.run(&mut mem, &[0; 16], 100).unwrap();
    let room = left.room;
    // Nine laps go round (27 instructions); the tenth leaves, for the caller to count.
    assert_eq!((left.kind, mem[0], room), (DONE, 0, 73));
    mem[0] = 10;
    let left = native.run(&mut mem, &[0; 16], 10).unwrap();
    let room = left.room;
    // Room for three laps: two go round, the third leaves with room for itself.
    assert_eq!((left.kind, mem[0], room), (OUT, 7, 4));
    let mut code = [0u8; 16];
    code[0] = 1;
    let left = native.run(&mut mem, &code, 100).unwrap();
    assert_eq!((left.kind, mem[0], room), (CODE, 6, 4));
}

#[test]
fn a_window_access_without_a_checked_index_on_every_path_is_refused() {
    // None at all.
    let mut e = Emitter::new(16, 0, 16, &[]).unwrap();
    e.load_window(Reg::A);
    e.exit(exit(DONE, Arg::A, 0));
    assert_eq!(e.finish().err(), Some(NativeError::Unchecked));
    // One, but a label after it: another path may reach the access.
    let mut e = Emitter::new(16, 0, 16, &[]).unwrap();
    let join = e.label();
    e.load(Reg::A, 0);
    e.jump_if(true, join);
    e.window(exit(OUT, Arg::A, 0));
    e.bind(join);
    e.store_window(Reg::A);
    e.exit(exit(DONE, Arg::A, 0));
    assert_eq!(e.finish().err(), Some(NativeError::Unchecked));
    // A label never bound.
    let mut e = Emitter::new(16, 0, 16, &[]).unwrap();
    let nowhere = e.label();
    e.jump_if(true, nowhere);
    e.exit(exit(DONE, Arg::A, 0));
    assert_eq!(e.finish().err(), Some(NativeError::Label));
}

#[test]
fn code_that_can_run_past_its_end_is_refused() {
    let mut e = Emitter::new(16, 0, 16, &[]).unwrap();
    e.konst(Reg::A, 7);
    assert_eq!(e.finish().err(), Some(NativeError::FallsOff));
    // A label after the last exit makes the end reachable again.
    let mut e = Emitter::new(16, 0, 16, &[]).unwrap();
    let l = e.label();
    e.load(Reg::A, 0);
    e.jump_if(true, l);
    e.exit(exit(DONE, Arg::A, 0));
    e.bind(l);
    assert_eq!(e.finish().err(), Some(NativeError::FallsOff));
    e = Emitter::new(16, 0, 16, &[]).unwrap();
    e.restart();
    assert!(e.finish().is_ok(), "a jump back to the start ends the code");
}

#[test]
fn a_label_of_another_emitter_is_refused() {
    let mut other = Emitter::new(16, 0, 16, &[]).unwrap();
    let (_, foreign) = (other.label(), other.label());
    let mut e = Emitter::new(16, 0, 16, &[]).unwrap();
    e.load(Reg::A, 0);
    e.jump_if(true, foreign);
    e.exit(exit(DONE, Arg::A, 0));
    assert_eq!(e.finish().err(), Some(NativeError::Label));
}

/// Every call the block engine makes, on an emitter type: the same source must compile for
/// the x86-64 emitter and for the other hosts' stub.
macro_rules! every_call {
    ($emitter:ty) => {{
        let mut e = <$emitter>::new(16, 0, 16, &[1])?;
        let l = e.label();
        e.load(Reg::A, 0);
        e.konst(Reg::B, 1);
        e.alu(BinOp::Add);
        e.store(2, Reg::A);
        e.exit_if_code(2, exit(CODE, Arg::Const(2), 0));
        e.window(exit(OUT, Arg::A, 0));
        e.load_window(Reg::C);
        e.store_window(Reg::C);
        e.exit_if_code_window(exit(CODE, Arg::Window, 0));
        e.exit_if(true, exit(OUT, Arg::A, 0));
        e.jump_if(false, l);
        e.exit_if_room_below(3, exit(OUT, Arg::A, 0));
        e.take_room(1);
        e.lap(3, exit(DONE, Arg::A, 0));
        e.bind(l);
        let m = e.label();
        e.jump_if(true, m);
        e.restart();
        e.bind(m);
        let n = e.label();
        e.exit_if_not(0, exit(OUT, Arg::A, 0));
        e.jump(n);
        e.bind(n);
        e.exit(exit(DONE, Arg::A, 0));
        e.finish()
            .and_then(|n| n.run(&mut [0; 16], &[0; 16], 100))
            .map(|left| left.room)
    }};
}

#[test]
fn the_other_hosts_stub_has_the_same_interface() {
    let native: Result<u64, NativeError> = (|| every_call!(Emitter))();
    assert!(native.is_ok(), "{native:?}");
    let stub: Result<u64, NativeError> = (|| every_call!(crate::other::Emitter))();
    assert_eq!(stub, Err(NativeError::Unsupported));
    assert_eq!(crate::other::PINS, 0);
}

/// Code that stores `k + i` into word `i % 16` for `i` below `n`, and exits with `k`.
fn stores(k: u64, n: u64) -> crate::Native {
    let mut e = Emitter::new(16, 0, 16, &[]).unwrap();
    for i in 0..n {
        e.konst(Reg::A, k + i);
        e.store(i % 16, Reg::A);
    }
    e.exit(exit(DONE, Arg::Const(k), 0));
    e.finish().unwrap()
}

/// Runs `code` made by `stores(k, n)` and checks what it did.
fn check_stores(code: &crate::Native, k: u64, n: u64) {
    let mut mem = vec![0u64; 16];
    let left = code.run(&mut mem, &[0; 16], 1).unwrap();
    assert_eq!((left.kind, left.a, left.room), (DONE, k, 1));
    for i in n.saturating_sub(16)..n {
        assert_eq!(mem[(i % 16) as usize], k + i, "code {k}, word {}", i % 16);
    }
}

/// Code is appended to shared executable memory: pieces made past the end of one chunk, and
/// made again once the earlier ones are dropped (the chunk written again from its start),
/// each still runs as emitted, and so does a piece too large to share a chunk.
#[test]
fn code_runs_wherever_the_arena_puts_it() {
    // About 2.5 KB each: 300 of them fill more than two chunks.
    for round in 0..2u64 {
        let codes: Vec<_> = (0..300).map(|k| stores(round * 1000 + k, 200)).collect();
        for (k, code) in (0..).zip(&codes) {
            check_stores(code, round * 1000 + k, 200);
        }
    }
    // About 80 KB: a mapping of its own.
    let large = stores(7, 6000);
    check_stores(&large, 7, 6000);
}
