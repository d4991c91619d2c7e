//! The fast engine: a decode cache beside memory.
//!
//! Instructions are pre-decoded into a cache ([`Op`]), one slot per physical word, invalidated
//! by every store to that word. The hot loop allocates nothing, checks an address with one
//! comparison against a bound recomputed only when `R` changes, and leaves the loop only for
//! the rare events: a trap, a halt, an interpreted instruction, the stop.

use std::sync::Arc;

use pgvm_isa::{Isa, Mode};

use super::Engine;
use super::compile::{Op, compile};
use crate::exec::user_trap;
use crate::exec::{Step, TrapKind, execute};
use crate::machine::Core;
use crate::view::StateView;
use pgvm_isa::ops::alu;

/// The fast engine's state: the decode cache and what it knows about each instruction.
#[derive(Debug, Clone)]
pub struct Fast {
    cache: Vec<Op>,
    /// By instruction: the trap its body takes first thing in user mode, if it begins
    /// `if M == user { trap; }` (as every `privileged` one does).
    user_traps: Vec<Option<TrapKind>>,
}

impl Engine for Fast {
    const NAME: &'static str = "fast";

    fn new(isa: &Isa, q: u64) -> Fast {
        Fast {
            cache: vec![Op::Stale; q as usize],
            user_traps: isa.insns.iter().map(|i| user_trap(&i.body)).collect(),
        }
    }

    fn invalidate(&mut self, pa: usize) {
        if let Some(op) = self.cache.get_mut(pa) {
            *op = Op::Stale;
        }
    }

    /// Everything common stays in this loop, with the clock and `P` in locals and `l` and the
    /// address limit hoisted: only an interpreted instruction can change them, and it leaves
    /// the loop.
    fn run(&mut self, core: &mut Core, stop: u64) -> Option<Step> {
        let l = core.psw.r.l;
        let lim = core.limit;
        let mut steps = core.devices.clock;
        let mut p = core.psw.p;
        // Physical index of apparent address `a`, which the caller has checked is `< lim`.
        let at = |a: u64| (a + l) as usize;
        let cache = &mut self.cache;
        let event = loop {
            if steps >= stop {
                break None;
            }
            if p >= lim {
                steps += 1;
                break Some(Step::Trapped(TrapKind::Memory));
            }
            let pa = at(p);
            let mut op = cache[pa];
            if op == Op::Stale {
                op = decode(&core.isa, &core.mem, cache, pa);
            }
            steps += 1;
            // p < lim <= REG_MAX, so p + 1 still fits P.
            let next = p + 1;
            let mem = &mut core.mem;
            // Each arm checks every address before it writes anything: a trap blocks.
            match op {
                Op::AddK { a, b, k } => {
                    let (a, b) = (a as u64, b as u64);
                    if a >= lim || b >= lim {
                        break Some(Step::Trapped(TrapKind::Memory));
                    }
                    let v = mem[at(b)].wrapping_add(k);
                    poke(mem, cache, at(a), v);
                    p = next;
                }
                Op::BranchNz { a, t } => {
                    let a = a as u64;
                    if a >= lim {
                        break Some(Step::Trapped(TrapKind::Memory));
                    }
                    p = if mem[at(a)] != 0 { t as u64 } else { next };
                }
                Op::BranchZ { a, t } => {
                    let a = a as u64;
                    if a >= lim {
                        break Some(Step::Trapped(TrapKind::Memory));
                    }
                    p = if mem[at(a)] == 0 { t as u64 } else { next };
                }
                Op::Bin { op, a, b, c } => {
                    let (a, b, c) = (a as u64, b as u64, c as u64);
                    if a >= lim || b >= lim || c >= lim {
                        break Some(Step::Trapped(TrapKind::Memory));
                    }
                    let v = alu(op, mem[at(b)], mem[at(c)]);
                    poke(mem, cache, at(a), v);
                    p = next;
                }
                Op::BinK { op, a, b, k } => {
                    let (a, b) = (a as u64, b as u64);
                    if a >= lim || b >= lim {
                        break Some(Step::Trapped(TrapKind::Memory));
                    }
                    let v = alu(op, mem[at(b)], k);
                    poke(mem, cache, at(a), v);
                    p = next;
                }
                Op::Set { a, k } => {
                    let a = a as u64;
                    if a >= lim {
                        break Some(Step::Trapped(TrapKind::Memory));
                    }
                    poke(mem, cache, at(a), k);
                    p = next;
                }
                Op::Mov { a, b } => {
                    let (a, b) = (a as u64, b as u64);
                    if a >= lim || b >= lim {
                        break Some(Step::Trapped(TrapKind::Memory));
                    }
                    let v = mem[at(b)];
                    poke(mem, cache, at(a), v);
                    p = next;
                }
                Op::LoadX { a, b, c } => {
                    let (a, b, c) = (a as u64, b as u64, c as u64);
                    if a >= lim || b >= lim || c >= lim {
                        break Some(Step::Trapped(TrapKind::Memory));
                    }
                    let x = mem[at(b)].wrapping_add(mem[at(c)]);
                    if x >= lim {
                        break Some(Step::Trapped(TrapKind::Memory));
                    }
                    let v = mem[at(x)];
                    poke(mem, cache, at(a), v);
                    p = next;
                }
                Op::StoreX { a, b, c } => {
                    let (a, b, c) = (a as u64, b as u64, c as u64);
                    if a >= lim || b >= lim || c >= lim {
                        break Some(Step::Trapped(TrapKind::Memory));
                    }
                    let x = mem[at(b)].wrapping_add(mem[at(c)]);
                    if x >= lim {
                        break Some(Step::Trapped(TrapKind::Memory));
                    }
                    let v = mem[at(a)];
                    poke(mem, cache, at(x), v);
                    p = next;
                }
                Op::Jump { t } => p = t as u64,
                Op::Branch { op, a, k, t } => {
                    let a = a as u64;
                    if a >= lim {
                        break Some(Step::Trapped(TrapKind::Memory));
                    }
                    p = if alu(op, mem[at(a)], k) != 0 {
                        t as u64
                    } else {
                        next
                    };
                }
                Op::Illegal | Op::Stale => break Some(Step::Trapped(TrapKind::Illegal)),
                Op::Generic(id) => {
                    // What the body's first statement does in user mode, without the
                    // interpreter: the common case under a monitor, which runs guests there.
                    if core.psw.mode == Mode::User
                        && let Some(kind) = self.user_traps[id]
                    {
                        break Some(Step::Trapped(kind));
                    }
                    // The view's clock reads the instructions executed before this one.
                    core.devices.clock = steps - 1;
                    core.psw.p = p;
                    let word = core.mem[pa];
                    let isa = Arc::clone(&core.isa);
                    let outcome = execute(&isa, id, word, &mut CachedView { core, cache });
                    // Interpreted instructions may change R, the mode or the timer: leave the
                    // loop so that the cycle sees the new state.
                    core.devices.clock = steps;
                    return (outcome != Step::Done).then_some(outcome);
                }
            }
        };
        core.devices.clock = steps;
        core.psw.p = p;
        event
    }
}

/// Decodes the word at `pa` into the cache.
#[cold]
fn decode(isa: &Isa, mem: &[u64], cache: &mut [Op], pa: usize) -> Op {
    let word = mem[pa];
    let op = match isa.decode(word) {
        Some(id) => compile(isa, id, word),
        None => Op::Illegal,
    };
    cache[pa] = op;
    op
}

/// A store that keeps the decode cache true.
#[inline(always)]
fn poke(mem: &mut [u64], cache: &mut [Op], pa: usize, v: u64) {
    mem[pa] = v;
    // Data words are almost never decoded: a predictable test beats a 24-byte store.
    if cache[pa] != Op::Stale {
        cache[pa] = Op::Stale;
    }
}

/// The core seen by the interpreter from inside the fast loop: stores keep the cache true.
struct CachedView<'a> {
    core: &'a mut Core,
    cache: &'a mut [Op],
}

impl StateView for CachedView<'_> {
    fn store(&mut self, pa: u64, value: u64) {
        poke(&mut self.core.mem, self.cache, pa as usize, value);
    }
    crate::machine::core_methods!(core);
}
