//! What the stretch hands on: an instruction a block stops at (a trap, taken through when it
//! may; a halt; an interpreted instruction; an effect) and the interpreter's view of the
//! core from inside the engine, whose stores keep the blocks true.

use std::sync::Arc;

use pgvm_isa::{InsnId, Mode};

use super::exec::effect;
use super::{Blocks, Flow, Stop};
use crate::cycle::{self, Event, Processor};
use crate::engine::Engine;
use crate::engine::block_ops::Op;
use crate::exec::{Step, TrapKind, execute};
use crate::machine::Core;
use crate::view::StateView;

impl<const HOT: u32> Blocks<HOT> {
    /// Carries out stop `s` at the instruction at apparent `at` (physical `at + l`), the
    /// clock at `now` before it: takes its trap, through ([`Engine::run_through`]) when
    /// `THROUGH` and the trap allows, halts, interprets it, or carries out its effect and,
    /// when `THROUGH` and it is a resume or a console write that allows, goes on.
    #[inline(always)]
    pub(super) fn stop<const THROUGH: bool>(
        &mut self,
        core: &mut Core,
        now: u64,
        at: u64,
        l: u64,
        s: Stop,
        op: Op,
    ) -> Flow {
        core.psw.p = at;
        match s {
            Stop::Trap(kind) => {
                core.devices.clock = now + 1;
                if THROUGH {
                    match self.trap_through(core, kind) {
                        Through::On => return Flow::Through,
                        Through::Back => return Flow::End(None),
                        Through::Refused => {}
                    }
                }
                Flow::End(Some(Step::Trapped(kind)))
            }
            Stop::Halt => {
                core.devices.clock = now + 1;
                Flow::End(Some(Step::Halted))
            }
            Stop::Generic(id) => {
                core.devices.clock = now;
                Flow::End(self.interpret(core, at + l, Some(id)))
            }
            Stop::Effect => {
                core.devices.clock = now;
                effect(core, op);
                // A resume (or a console write) goes on in the stretch when it may; a timer
                // set changes where the stretch must stop.
                if THROUGH && matches!(op, Op::SetReg(..) | Op::Out(..)) && !interrupt_due(core) {
                    Flow::Through
                } else {
                    Flow::End(None)
                }
            }
        }
    }

    /// Takes the trap of `kind` that the instruction at the core's `P` raised, as the cycle's
    /// hardware policy does ([`crate::cycle::trap`]), for [`Engine::run_through`].
    #[inline(never)]
    fn trap_through(&mut self, core: &mut Core, kind: TrapKind) -> Through {
        let mut view = BlockView { core, engine: self };
        if cycle::trap(&mut view).stuck() {
            // Nothing changed that taking it again would not change the same way: the cycle
            // takes it and says it is stuck.
            return Through::Refused;
        }
        view.note(Event::Trap(kind));
        if interrupt_due(view.core) {
            Through::Back
        } else {
            Through::On
        }
    }

    /// Executes the instruction at the core's `P` (physical `pa`) through the interpreter,
    /// keeping the blocks true, and counts it. Leaves the stretch: it may change anything.
    /// `id` is the instruction when a block already decoded it (the word is unchanged since:
    /// a store to it would have ended the block).
    #[cold]
    pub(super) fn interpret(
        &mut self,
        core: &mut Core,
        pa: u64,
        id: Option<InsnId>,
    ) -> Option<Step> {
        let isa = Arc::clone(&core.isa);
        let word = core.mem[pa as usize];
        let outcome = match id.or_else(|| isa.decode(word)) {
            Some(id) => {
                if core.psw.mode == Mode::User
                    && let Some(cause) = isa.shape(id).and_then(|s| s.user_trap)
                {
                    Step::Trapped(cause.into())
                } else {
                    let mut view = BlockView { core, engine: self };
                    execute(&isa, id, word, &mut view)
                }
            }
            None => Step::Trapped(TrapKind::Illegal),
        };
        core.devices.clock += 1;
        (outcome != Step::Done).then_some(outcome)
    }
}

/// How [`Blocks::trap_through`] went.
enum Through {
    /// The trap was taken: the stretch goes on under the new PSW.
    On,
    /// The trap was taken, and a timer interrupt waits for the cycle to deliver it.
    Back,
    /// The trap leaves the processor stuck (taking it changed nothing, or it cannot be
    /// taken), and is not counted: the cycle takes it again, which changes nothing more,
    /// counts it and says so.
    Refused,
}

/// Whether the cycle would deliver a timer interrupt at this boundary: a stretch that takes
/// traps and resumes through must leave it then.
#[inline(always)]
fn interrupt_due(core: &Core) -> bool {
    core.psw.mode == Mode::User && core.devices.timer.pending()
}

/// The core seen by the interpreter from inside the block engine: stores keep blocks true.
struct BlockView<'a, const HOT: u32> {
    core: &'a mut Core,
    engine: &'a mut Blocks<HOT>,
}

impl<const HOT: u32> StateView for BlockView<'_, HOT> {
    fn store(&mut self, pa: u64, value: u64) {
        self.core.mem[pa as usize] = value;
        self.engine.invalidate(pa as usize);
    }
    crate::machine::core_methods!(core);
}

impl<const HOT: u32> Processor for BlockView<'_, HOT> {
    crate::machine::core_processor_methods!(core);
}
