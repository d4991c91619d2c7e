//! Engines: what executes the instructions between two turns of the processor cycle.
//!
//! An engine runs a stretch of instructions on a machine's [`Core`] and stops at a halt, a
//! trap (the instruction blocked, `P` at it), or when the clock reaches the stop it was given.
//! The cycle around the stretch (interrupts, the timer, trap entry) is
//! [`crate::cycle::run`], the same for every engine; on the hardware trap policy an engine may
//! take a trap itself with the cycle's own [`crate::cycle::trap`] and go on
//! ([`Engine::run_through`]), as the block engine does. These engines exist:
//!
//! - [`Interpreter`]: every instruction through [`crate::step`], one per stretch. It is the
//!   reference: slow, with nothing to get wrong beyond the semantics themselves.
//! - [`Fast`]: a decode cache of pre-decoded ops specialised from the ISA's shapes, one
//!   instruction per turn of its loop. Kept to compare against (the speed history).
//! - [`Block`]: basic blocks compiled for a fixed `R` and mode and chained block to block
//!   (one budget check and one link check per block), fused pairs, a code map for
//!   self-modifying code. The default. A hot loop, over one block or several, also runs as
//!   native x86-64 code (`native`, through the `pgvm-native` crate).
//! - [`BlockOps`]: the block engine without native code, as it is on other hosts.
//!
//! Each is tested against the reference on the same random and hostile programs.

mod block;
mod block_ops;
mod compile;
mod fast;
mod native;
pub(crate) mod shape;

use std::fmt::Debug;

use pgvm_isa::Isa;

pub use block::{Block, BlockOps, Blocks, MAX_BLOCK, NEVER_NATIVE};
pub use fast::Fast;

use crate::exec::{Step, step};
use crate::machine::Core;
use crate::psw::Psw;

/// A way of executing instructions on a [`Core`].
pub trait Engine: Clone + Debug {
    /// The engine's name, for reports and benchmarks.
    const NAME: &'static str;

    /// An engine for a machine of `q` words executing `isa`.
    fn new(isa: &Isa, q: u64) -> Self;

    /// Physical word `pa` was changed from outside the engine (a trap entry, a monitor, a
    /// loader): forget anything derived from it.
    fn invalidate(&mut self, pa: usize);

    /// Executes from the core's PSW until its clock reaches `stop`, or an instruction halts or
    /// traps, which comes back (a trap leaves the instruction blocked with `P` at it). Counts
    /// every executed instruction, trapped ones included, on the core's clock. May return
    /// `None` early, after any instruction that can change the mode, `R` or the devices.
    fn run(&mut self, core: &mut Core, stop: u64) -> Option<Step>;

    /// Executes like [`Engine::run`], for a machine whose hardware takes every trap and has
    /// no VM assist to consult: the engine may also take a trap itself (the cycle's own
    /// [`crate::cycle::trap`], counted in the core's statistics) and go on under the new PSW,
    /// and go on after an instruction that loads the PSW or `R` or writes the console, so
    /// that one stretch may span modes and windows. It still returns at every moment the
    /// cycle has something to do: a timer interrupt to deliver, a timer set, a trap that
    /// would leave the processor stuck. `seen` is handed each piece of the stretch run
    /// under one PSW: that PSW (as the piece began) and the instructions it counted. By
    /// default, exactly [`Engine::run`], one piece.
    fn run_through<F: FnMut(Psw, u64)>(
        &mut self,
        core: &mut Core,
        stop: u64,
        seen: &mut F,
    ) -> Option<Step> {
        let (psw, before) = (core.psw, core.devices.clock);
        let event = self.run(core, stop);
        seen(psw, core.devices.clock - before);
        event
    }
}

/// The reference engine: one instruction through the semantic interpreter per stretch.
#[derive(Debug, Clone, Copy, Default)]
pub struct Interpreter;

impl Engine for Interpreter {
    const NAME: &'static str = "interpreter";

    fn new(_isa: &Isa, _q: u64) -> Interpreter {
        Interpreter
    }

    fn invalidate(&mut self, _pa: usize) {}

    fn run(&mut self, core: &mut Core, _stop: u64) -> Option<Step> {
        let isa = std::sync::Arc::clone(&core.isa);
        let s = step(&isa, core);
        core.devices.clock += 1;
        (s != Step::Done).then_some(s)
    }
}
