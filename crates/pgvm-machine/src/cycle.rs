//! The processor cycle around one instruction, written once, on any view:
//! interrupt → step → timer → trap entry → stuck.
//!
//! [`crate::step`] executes one instruction and takes no trap. Everything the hardware does
//! between instructions is here: delivering a due timer interrupt at the first boundary in
//! user mode, counting the instruction on the clock (where the timer may fall due), the
//! paper's trap entry, and noticing a trap that re-enters the very state it left. The real
//! machine's run loop is [`run`], whatever engine executes its stretches of instructions; a
//! monitor uses the same pieces on a VM's virtual state; the tests' reference machine is
//! [`run`] with one [`step_once`] per stretch.

use pgvm_isa::{Isa, Mode};
use serde::Serialize;

use crate::devices::Devices;
use crate::exec::{Step, TrapKind, step};
use crate::view::StateView;

/// A state view with devices: a whole processor, real or virtual.
pub trait Processor: StateView {
    /// The console, timer and clock.
    fn devices(&self) -> &Devices;
    /// The console, timer and clock, to change.
    fn devices_mut(&mut self) -> &mut Devices;
    /// The interrupt class of the timer: its vector pair is `(E[2t], E[2t+1])`.
    fn timer_class(&self) -> u64;
    /// Told of each trap and interrupt the cycle takes, for counters.
    fn note(&mut self, _event: Event) {}
    /// The hardware's last word on an instruction that trapped (`kind`), before the trap is
    /// taken or handed to a monitor: a processor with a VM assist may carry the instruction
    /// out itself ([`crate::ControlBlock`]) and say so with `true`; then no trap happened.
    /// Without one, as by default, every trap is taken.
    fn assist_trap(&mut self, _kind: TrapKind) -> bool {
        false
    }
}

/// What the cycle reports to [`Processor::note`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// An instruction trapped.
    Trap(TrapKind),
    /// A timer interrupt was delivered.
    Interrupt,
}

/// Who takes a trap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TrapPolicy {
    /// The hardware does: `E[0] <- PSW; PSW <- E[1]`, and execution goes on.
    Hardware,
    /// A monitor does: the run stops with [`Exit::Trapped`] and the state as it was before the
    /// blocked instruction. The monitor then owns the control state and the devices as well:
    /// an instruction that changes `M`, `R` or the assist, or reaches the console or timer,
    /// without a trap ends the run with [`Exit::Escaped`] right after it.
    Exit,
}

/// Why a run returned. Guest behaviour is a value, never an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Exit {
    /// The processor halted; `P` is at the halt instruction.
    Halted,
    /// An instruction trapped under [`TrapPolicy::Exit`]; `P` is at it.
    Trapped(TrapKind),
    /// The step budget ran out.
    BudgetSpent,
    /// A trap re-entered the very state it started from (for example `E[1]` holds a PSW whose
    /// first fetch traps again, and `E[0]` already holds that PSW). Nothing can change any
    /// more, so running on would only spend the budget.
    Stuck,
    /// Under [`TrapPolicy::Exit`], an instruction completed without a trap yet changed `M`,
    /// `R` or the assist, or reached the console or timer: what a monitor owning every trap
    /// must own too. `P` is past it; nothing after it ran.
    Escaped,
}

/// What [`Exit::Escaped`] watches: the control state and whether the devices were reached.
fn control<V: Processor + ?Sized>(v: &V) -> (Mode, crate::Reloc, bool, bool) {
    let psw = v.psw();
    (psw.mode, psw.r, v.assist(), v.devices().touched())
}

/// How a trap entry went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// The trap was taken and the processor goes on.
    Taken,
    /// The trap was taken but re-entered exactly the state it left, with no timer to break
    /// the loop: the processor is stuck.
    Looped,
    /// The view cannot take it: it is smaller than its trap pair. Stuck too.
    Refused,
}

impl Entry {
    /// Whether the processor can make no more progress.
    pub fn stuck(self) -> bool {
        self != Entry::Taken
    }
}

/// Performs the paper's trap on a view: `E[0] <- PSW` (whose `P` still points at the blocked
/// instruction), then `<M, P, R> <- E[1]`; nothing else changes. With `class = t`, the pair is
/// `(E[2t], E[2t+1])`, for interrupts. A view smaller than the pair cannot take the trap; then
/// `false` comes back and nothing changes.
pub fn trap_entry<V: StateView + ?Sized>(view: &mut V, class: u64) -> bool {
    let (old, new) = (2 * class, 2 * class + 1);
    if new >= view.size() {
        return false;
    }
    let psw = view.psw();
    view.store(old, psw.pack());
    view.set_psw(crate::Psw::unpack(view.load(new)));
    true
}

/// Delivers a due timer interrupt, if the processor is at a boundary in user mode; true when
/// one was delivered.
pub fn interrupt<V: Processor + ?Sized>(v: &mut V) -> bool {
    let user = v.psw().mode == Mode::User;
    if !v.devices_mut().timer.take(user) {
        return false;
    }
    let class = v.timer_class();
    let delivered = trap_entry(v, class);
    if delivered {
        v.note(Event::Interrupt);
    }
    delivered
}

/// Takes a trap through `(E[0], E[1])`, and says whether the processor is stuck: a trap that
/// changed nothing (`E[0]` already held the PSW it stored and the new PSW is the one it
/// replaced) repeats forever unless a timer can break in.
pub fn trap<V: Processor + ?Sized>(v: &mut V) -> Entry {
    let before = v.psw();
    let old_e0 = if v.size() > 0 { v.load(0) } else { 0 };
    if !trap_entry(v, 0) {
        return Entry::Refused;
    }
    let quiet = v.devices().timer.quiet();
    if quiet && v.psw() == before && old_e0 == before.pack() {
        Entry::Looped
    } else {
        Entry::Taken
    }
}

/// Executes one instruction and counts it on the clock: a stretch of one instruction, for
/// [`run`]. `None` when it completed.
pub fn step_once<V: Processor + ?Sized>(isa: &Isa, v: &mut V) -> Option<Step> {
    let s = step(isa, v);
    v.devices_mut().clock += 1;
    (s != Step::Done).then_some(s)
}

/// Runs a processor for at most `budget` instructions: the cycle, with the instructions
/// themselves executed in stretches by `stretch(v, stop)`, which executes until the clock
/// reaches `stop` or an instruction halts or traps (returning it), counting each executed
/// instruction on the clock. A stretch never runs past the moment the timer falls due, and
/// may return early with `None` (after an instruction that can change the mode, `R` or the
/// timer, say); the cycle then simply goes round again.
///
/// Under [`TrapPolicy::Exit`] the control state is compared once per stretch: only an
/// interpreted instruction can change it, and every engine ends its stretch after one, so the
/// comparison sees the very instruction that changed it and costs nothing per instruction.
pub fn run<V, S>(v: &mut V, budget: u64, policy: TrapPolicy, stretch: S) -> Exit
where
    V: Processor + ?Sized,
    S: FnMut(&mut V, u64) -> Option<Step>,
{
    run_until(v, budget, policy, stretch, |_| false).unwrap_or(Exit::BudgetSpent)
}

/// [`run`], that also comes back, with `None`, at the first boundary between two stretches
/// where `stopped` holds (after a due interrupt is delivered there, so that the state is the
/// one the next instruction would run in): a monitor's stop point. The stretches themselves
/// must end where `stopped` will hold.
pub fn run_until<V, S, F>(
    v: &mut V,
    budget: u64,
    policy: TrapPolicy,
    mut stretch: S,
    stopped: F,
) -> Option<Exit>
where
    V: Processor + ?Sized,
    S: FnMut(&mut V, u64) -> Option<Step>,
    F: Fn(&V) -> bool,
{
    let end = v.devices().clock.saturating_add(budget);
    Some(loop {
        interrupt(v);
        if stopped(v) {
            return None;
        }
        let clock = v.devices().clock;
        if clock >= end {
            break Exit::BudgetSpent;
        }
        let stop = v.devices().timer.stop(clock, end);
        let before = (policy == TrapPolicy::Exit).then(|| control(v));
        let event = stretch(v, stop);
        let d = v.devices_mut();
        d.timer.tick(d.clock);
        match event {
            None | Some(Step::Done) => {
                if before.is_some_and(|b| b != control(v)) {
                    break Exit::Escaped;
                }
            }
            Some(Step::Halted) => break Exit::Halted,
            Some(Step::Trapped(kind)) => {
                if v.assist_trap(kind) {
                    continue;
                }
                v.note(Event::Trap(kind));
                match policy {
                    TrapPolicy::Exit => break Exit::Trapped(kind),
                    TrapPolicy::Hardware => {
                        if trap(v).stuck() {
                            break Exit::Stuck;
                        }
                    }
                }
            }
        }
    })
}

/// One whole cycle, the hardware taking any trap: the reference for every engine.
pub fn cycle<V: Processor + ?Sized>(isa: &Isa, v: &mut V) -> Exit {
    run(v, 1, TrapPolicy::Hardware, |v, _| step_once(isa, v))
}
