//! The definitions of DESIGN.md §2, as checks on executed runs.
//!
//! Each check looks at one run (control sensitivity) or two (the behavior sensitivities,
//! timing, privilege) and returns the [`Observation`] that makes the pair a witness, or `None`.
//! The search, the exhaustive enumeration and `replay` all call these same functions, so a
//! witness replays exactly when the definition holds for it.

use std::fmt;

use pgvm_isa::Mode;
use pgvm_machine::{Step, TrapKind};
use serde::{Deserialize, Serialize};

use crate::state::{HypoView, State};

/// One executed run: the state before, the view after, and what the step returned.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    /// The state the instruction started from.
    pub before: &'a State,
    /// The view after the step (unchanged if the instruction trapped).
    pub after: &'a HypoView,
    /// What the step returned.
    pub step: Step,
}

impl Run<'_> {
    fn trapped(&self) -> bool {
        matches!(self.step, Step::Trapped(_))
    }

    fn memory_trapped(&self) -> bool {
        self.step == Step::Trapped(TrapKind::Memory)
    }

    /// The instruction kept `M` and `R`, as the behavior-sensitivity definitions require.
    fn kept_m_and_r(&self) -> bool {
        let (a, b) = (self.before, &self.after.state);
        a.mode == b.mode && a.l == b.l && a.b == b.b
    }
}

/// What a witness shows: the difference the definition asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Observation {
    /// The mode changed.
    ModeChanged {
        /// Before.
        from: String,
        /// After.
        to: String,
    },
    /// `R` changed.
    RelocChanged {
        /// Before, `(l, b)`.
        from: (u64, u64),
        /// After, `(l, b)`.
        to: (u64, u64),
    },
    /// The assist bit changed (machine control state, counted as control sensitivity).
    AssistChanged {
        /// After.
        to: bool,
    },
    /// The processor halted.
    Halted,
    /// A device was touched: console output or input, or the timer.
    Device {
        /// Which, in words.
        what: String,
    },
    /// A store outside the window `E|r`.
    StoreOutsideWindow {
        /// The physical address written.
        physical: u64,
        /// The window, as physical `[l, l + b)`.
        window: (u64, u64),
    },
    /// The two runs left different words at the same window offset.
    WindowWord {
        /// The offset inside the window (the apparent address).
        offset: u64,
        /// The first run's word.
        first: u64,
        /// The second run's word.
        second: u64,
    },
    /// The two runs left different `P`.
    ProgramCounter {
        /// The first run's `P`.
        first: u64,
        /// The second run's `P`.
        second: u64,
    },
    /// The two runs (different clocks) left different states.
    StateDiffers {
        /// What differs, in words.
        what: String,
    },
    /// A counterexample to privilege: in user mode the instruction did not trap.
    UserDidNotTrap {
        /// What it did instead.
        outcome: String,
    },
    /// A counterexample to privilege: in supervisor mode the instruction trapped.
    SupervisorTrapped {
        /// The trap's kind.
        trap: String,
    },
    /// An unsound assist: with the assist off the instruction trapped, with it on it did not.
    AssistRemovedTrap {
        /// The trap's kind with the assist off.
        trap: String,
        /// What it did with the assist on.
        outcome: String,
    },
}

impl fmt::Display for Observation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Observation::ModeChanged { from, to } => write!(f, "M changed: {from} -> {to}"),
            Observation::RelocChanged { from, to } => write!(
                f,
                "R changed: <l={:#x}, b={:#x}> -> <l={:#x}, b={:#x}>",
                from.0, from.1, to.0, to.1
            ),
            Observation::AssistChanged { to } => write!(f, "assist changed to {to}"),
            Observation::Halted => write!(f, "the processor halted"),
            Observation::Device { what } => write!(f, "device touched: {what}"),
            Observation::StoreOutsideWindow { physical, window } => write!(
                f,
                "stored to physical {physical:#x}, outside the window [{:#x}, {:#x})",
                window.0, window.1
            ),
            Observation::WindowWord {
                offset,
                first,
                second,
            } => write!(
                f,
                "window word {offset:#x} differs: {first:#x} vs {second:#x}"
            ),
            Observation::ProgramCounter { first, second } => {
                write!(f, "P differs: {first:#x} vs {second:#x}")
            }
            Observation::StateDiffers { what } => write!(f, "results differ: {what}"),
            Observation::UserDidNotTrap { outcome } => {
                write!(f, "in user mode it did not trap ({outcome})")
            }
            Observation::SupervisorTrapped { trap } => {
                write!(f, "in supervisor mode it trapped ({trap})")
            }
            Observation::AssistRemovedTrap { trap, outcome } => write!(
                f,
                "with the assist off it trapped ({trap}); with it on it did not ({outcome})"
            ),
        }
    }
}

/// A step, in words.
pub fn step_name(step: Step) -> String {
    match step {
        Step::Done => "done".into(),
        Step::Halted => "halted".into(),
        Step::Trapped(k) => format!("trapped ({})", k.name()),
    }
}

/// Control sensitivity (DESIGN.md §2): the run did not trap and changed `M`, `R` or the
/// assist bit, halted, touched a device, or stored outside the window of the state it
/// started from.
pub fn control(run: Run<'_>) -> Option<Observation> {
    if run.trapped() {
        return None;
    }
    let (s, t) = (run.before, &run.after.state);
    if s.mode != t.mode {
        return Some(Observation::ModeChanged {
            from: s.mode.name().into(),
            to: t.mode.name().into(),
        });
    }
    if (s.l, s.b) != (t.l, t.b) {
        return Some(Observation::RelocChanged {
            from: (s.l, s.b),
            to: (t.l, t.b),
        });
    }
    if s.assist != t.assist {
        return Some(Observation::AssistChanged { to: t.assist });
    }
    if run.step == Step::Halted {
        return Some(Observation::Halted);
    }
    if run.after.touched_device() {
        let e = &run.after.events;
        let what = if let Some(&byte) = e.out.first() {
            format!("console output {byte:#04x}")
        } else if let Some(n) = e.timer {
            format!("timer armed with {n}")
        } else {
            "console input read".to_string()
        };
        return Some(Observation::Device { what });
    }
    let window = (s.l, s.l.saturating_add(s.b).min(s.q));
    run.after
        .events
        .stores
        .iter()
        .find(|&&pa| pa < window.0 || pa >= window.1)
        .map(|&physical| Observation::StoreOutsideWindow { physical, window })
}

/// The behavior-sensitivity comparison shared by location, mode and bounds sensitivity:
/// neither run traps, both keep `M` and `R`, and the windows (compared offset by offset, each
/// run in its own window) or `P` differ. Where the two windows have different bounds (bounds
/// sensitivity) the offsets compared are those both windows have.
fn behavior(first: Run<'_>, second: Run<'_>) -> Option<Observation> {
    if first.trapped() || second.trapped() || !first.kept_m_and_r() || !second.kept_m_and_r() {
        return None;
    }
    let (s, t) = (&first.after.state, &second.after.state);
    let common = s.b.min(t.b);
    // Every offset that either run's memory lists inside its window; all others read 0 in both.
    let offsets = s
        .memory
        .iter()
        .filter_map(|&(a, _)| a.checked_sub(s.l))
        .chain(t.memory.iter().filter_map(|&(a, _)| a.checked_sub(t.l)))
        .filter(|&off| off < common);
    let mut diff: Option<(u64, u64, u64)> = None;
    for off in offsets {
        let (x, y) = (s.word(s.l + off), t.word(t.l + off));
        if x != y && diff.is_none_or(|(d, _, _)| off < d) {
            diff = Some((off, x, y));
        }
    }
    if let Some((offset, first, second)) = diff {
        return Some(Observation::WindowWord {
            offset,
            first,
            second,
        });
    }
    (s.p != t.p).then_some(Observation::ProgramCounter {
        first: s.p,
        second: t.p,
    })
}

/// Location sensitivity: `second` started from `first`'s state shifted by some `x`, in the same
/// mode.
pub fn location(first: Run<'_>, second: Run<'_>) -> Option<Observation> {
    if first.before.mode != second.before.mode || first.before.l == second.before.l {
        return None;
    }
    behavior(first, second)
}

/// Bounds sensitivity: `second` started from `first`'s state with another bound `b`, and
/// nothing else changed (same `E`, mode, `P` and `l`).
pub fn bounds(first: Run<'_>, second: Run<'_>) -> Option<Observation> {
    let (s, t) = (first.before, second.before);
    if s.mode != t.mode || s.l != t.l || s.b == t.b {
        return None;
    }
    behavior(first, second)
}

/// Mode sensitivity: `sup` and `user` started from `<e, s, p, r>` and `<e, u, p, r>`.
pub fn mode(sup: Run<'_>, user: Run<'_>) -> Option<Observation> {
    if sup.before.mode != Mode::Supervisor || user.before.mode != Mode::User {
        return None;
    }
    behavior(sup, user)
}

/// A counterexample to privilege: neither run memory-traps, and the user run does not trap
/// or the supervisor run does.
pub fn not_privileged(sup: Run<'_>, user: Run<'_>) -> Option<Observation> {
    if sup.before.mode != Mode::Supervisor || user.before.mode != Mode::User {
        return None;
    }
    if sup.memory_trapped() || user.memory_trapped() {
        return None;
    }
    if !user.trapped() {
        return Some(Observation::UserDidNotTrap {
            outcome: step_name(user.step),
        });
    }
    match sup.step {
        Step::Trapped(k) => Some(Observation::SupervisorTrapped {
            trap: k.name().into(),
        }),
        _ => None,
    }
}

/// An unsound assist (DESIGN.md §4c): `off` and `on` started from the same state but for the
/// assist bit (off, then on); `off` trapped and `on` did not. Any trap counts: a trap is what
/// hands the monitor control, whatever its kind.
pub fn assist_unsound(off: Run<'_>, on: Run<'_>) -> Option<Observation> {
    if off.before.assist || !on.before.assist {
        return None;
    }
    match off.step {
        Step::Trapped(k) if !on.trapped() => Some(Observation::AssistRemovedTrap {
            trap: k.name().into(),
            outcome: step_name(on.step),
        }),
        _ => None,
    }
}

/// Timing dependence: the same state run with two clock values; neither traps and the results
/// differ anywhere (memory, `<M, P, R>`, the assist bit, devices, halting).
pub fn timing(first: Run<'_>, second: Run<'_>) -> Option<Observation> {
    if first.trapped() || second.trapped() || first.before.clock == second.before.clock {
        return None;
    }
    let (s, t) = (&first.after.state, &second.after.state);
    let what = if first.step != second.step {
        format!("{} vs {}", step_name(first.step), step_name(second.step))
    } else if s.psw() != t.psw() {
        format!("PSW {} vs {}", s.psw(), t.psw())
    } else if s.assist != t.assist {
        format!("assist {} vs {}", s.assist, t.assist)
    } else if let Some(pa) = first_memory_difference(s, t) {
        format!(
            "physical word {pa:#x}: {:#x} vs {:#x}",
            s.word(pa),
            t.word(pa)
        )
    } else if first.after.events != second.after.events {
        "device effects differ".to_string()
    } else {
        return None;
    };
    Some(Observation::StateDiffers { what })
}

/// The lowest physical address at which two states' memories differ.
fn first_memory_difference(s: &State, t: &State) -> Option<u64> {
    s.memory
        .iter()
        .chain(&t.memory)
        .map(|&(a, _)| a)
        .filter(|&a| s.word(a) != t.word(a))
        .min()
}
