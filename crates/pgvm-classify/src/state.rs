//! Hypothetical states: the classifier's own [`StateView`], and the paper's relocation shift.
//!
//! A [`State`] is one point of the paper's state space `<E, M, P, R>` (plus the extensions the
//! machine has: the assist bit and the clock). Memory is *sparse*: the words listed are the
//! state's contents and every other word reads 0. That keeps a state a few hundred bytes even
//! on a machine of `q = 2^21 - 1` words, so the search can put windows at the very top of a
//! full-size memory as cheaply as at the bottom of a small one.
//!
//! A [`HypoView`] is a state being executed: the state itself plus a record of what the
//! instruction did that the state alone does not show (which physical words it stored to,
//! whether it read the clock or touched a device). The classifier never interprets a body
//! itself: it hands a `HypoView` to [`pgvm_machine::step`] and looks at what came back.

use std::cell::Cell;

use pgvm_isa::Mode;
use pgvm_machine::{MAX_BODY_EFFECTS, Psw, REG_MAX, Reloc, StateView, Step};
use serde::{Deserialize, Serialize};

/// One hypothetical machine state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// `q`, the machine's memory size in words.
    pub q: u64,
    /// `M`.
    #[serde(with = "mode_name")]
    pub mode: Mode,
    /// `P`, relative to `R`.
    pub p: u64,
    /// `l`, the relocation.
    pub l: u64,
    /// `b`, the bounds.
    pub b: u64,
    /// The assist bit (always false on profiles without `feature assist`).
    pub assist: bool,
    /// What `clock()` reads: instructions executed before this one.
    pub clock: u64,
    /// The words of `E` that are not zero, as `(physical address, value)`, sorted by address
    /// and without duplicates.
    pub memory: Vec<(u64, u64)>,
}

/// `Mode` as the words `super` / `user` in witness files.
mod mode_name {
    use pgvm_isa::Mode;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(m: &Mode, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(m.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Mode, D::Error> {
        let name = String::deserialize(d)?;
        match name.as_str() {
            "super" => Ok(Mode::Supervisor),
            "user" => Ok(Mode::User),
            other => Err(serde::de::Error::custom(format!(
                "mode `{other}`: expected \"super\" or \"user\""
            ))),
        }
    }
}

impl State {
    /// A state with empty (all-zero) memory.
    pub fn new(q: u64, mode: Mode, p: u64, r: Reloc) -> State {
        State {
            q,
            mode,
            p,
            l: r.l,
            b: r.b,
            assist: false,
            clock: 0,
            memory: Vec::new(),
        }
    }

    /// `R = <l, b>`.
    pub fn reloc(&self) -> Reloc {
        Reloc {
            l: self.l,
            b: self.b,
        }
    }

    /// `<M, P, R>`.
    pub fn psw(&self) -> Psw {
        Psw {
            mode: self.mode,
            p: self.p,
            r: self.reloc(),
        }
    }

    /// Physical word `pa` (0 where the state lists nothing).
    pub fn word(&self, pa: u64) -> u64 {
        match self.memory.binary_search_by_key(&pa, |&(a, _)| a) {
            Ok(i) => self.memory[i].1,
            Err(_) => 0,
        }
    }

    /// Sets physical word `pa`, keeping the list sorted.
    pub fn set_word(&mut self, pa: u64, value: u64) {
        match self.memory.binary_search_by_key(&pa, |&(a, _)| a) {
            Ok(i) => self.memory[i].1 = value,
            Err(i) => self.memory.insert(i, (pa, value)),
        }
    }

    /// The physical address of apparent address `a`, by the paper's address development.
    pub fn develop(&self, a: u64) -> Option<u64> {
        pgvm_machine::develop(a, self.reloc(), self.q)
    }

    /// The same state in the other mode: the paper's `S1 = <e, s, p, r>` / `S2 = <e, u, p, r>`.
    pub fn with_mode(&self, mode: Mode) -> State {
        State {
            mode,
            ..self.clone()
        }
    }

    /// The same state with bound `b` instead: the second state `<e, m, p, <l, b>>` of a
    /// bounds-sensitivity pair. `None` unless `b` differs from this state's, fits in a 21-bit
    /// register, and still holds the instruction (`P < b`): a state whose instruction cannot
    /// be fetched can only memory-trap.
    pub fn with_bound(&self, b: u64) -> Option<State> {
        (b != self.b && b <= REG_MAX && self.p < b).then(|| State { b, ..self.clone() })
    }

    /// Whether the whole window `E|r` lies inside memory (`l + b <= q`), so that `E|r` is the
    /// paper's `b` words and a shifted copy of it is well defined.
    pub fn window_fits(&self) -> bool {
        self.l.checked_add(self.b).is_some_and(|end| end <= self.q)
    }

    /// The shifts `x` for which `r ⊕ x` is a window that also fits: `l + x >= 0`,
    /// `l + x + b <= q`, `x != 0`, as an inclusive range (which contains 0).
    pub fn shift_range(&self) -> Option<(i64, i64)> {
        if !self.window_fits() || self.b >= self.q {
            return None;
        }
        let lo = -(self.l as i64);
        let hi = (self.q - self.b - self.l) as i64;
        Some((lo, hi))
    }

    /// The paper's shifted state `<e|r⊕x, m, p, r⊕x>`: the window's `b` words copied to
    /// `l + x ..`, the same `M`, `P`, assist and clock, `R = <l + x, b>`. Memory outside the new
    /// window keeps this state's contents (the paper leaves it free; keeping it means an
    /// absolute reference outside both windows sees the same word in both states). The
    /// instruction word is inside the window at `P`, so it moves with the window.
    ///
    /// `None` when `x` is 0 or either window does not fit in memory.
    pub fn shifted(&self, x: i64) -> Option<State> {
        let (lo, hi) = self.shift_range()?;
        if x == 0 || x < lo || x > hi {
            return None;
        }
        let nl = (self.l as i64 + x) as u64;
        let (old, new) = (self.l..self.l + self.b, nl..nl + self.b);
        let mut memory: Vec<(u64, u64)> = self
            .memory
            .iter()
            .filter(|(a, _)| !new.contains(a))
            .copied()
            .collect();
        let moved = self
            .memory
            .iter()
            .filter(|(a, _)| old.contains(a))
            .map(|&(a, v)| (a - self.l + nl, v));
        memory.extend(moved);
        memory.sort_unstable_by_key(|&(a, _)| a);
        Some(State {
            l: nl,
            memory,
            ..self.clone()
        })
    }
}

/// What an executed instruction did beyond the state it left: the observations the
/// definitions of control sensitivity and timing dependence need.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Events {
    /// Physical addresses stored to, in order (a body makes at most `MAX_BODY_EFFECTS`).
    pub stores: Vec<u64>,
    /// Console output bytes.
    pub out: Vec<u8>,
    /// Console input bytes consumed.
    pub consumed: usize,
    /// The interval timer, if the instruction armed (or disarmed) it.
    pub timer: Option<u64>,
}

/// A [`State`] being executed through the machine's state-view seam.
#[derive(Debug, Clone)]
pub struct HypoView {
    /// The state, updated by the instruction's committed effects.
    pub state: State,
    /// What the instruction did besides.
    pub events: Events,
    /// Whether `clock()` was read. A `Cell` because the seam reads the clock through `&self`.
    clock_read: Cell<bool>,
    /// Whether console input was looked at (`in()`), even with no byte waiting.
    console_read: Cell<bool>,
}

impl HypoView {
    /// A view of `state`, with nothing observed yet.
    pub fn new(state: State) -> HypoView {
        HypoView {
            state,
            events: Events::default(),
            clock_read: Cell::new(false),
            console_read: Cell::new(false),
        }
    }

    /// Reuses this view's buffers for a new run from `state`.
    pub fn reset(&mut self, state: &State) {
        self.state.clone_from(state);
        self.events.stores.clear();
        self.events.out.clear();
        self.events.consumed = 0;
        self.events.timer = None;
        self.clock_read.set(false);
        self.console_read.set(false);
    }

    /// Whether the instruction read the clock.
    pub fn clock_read(&self) -> bool {
        self.clock_read.get()
    }

    /// Whether the instruction touched a device: console output or input, or the timer.
    pub fn touched_device(&self) -> bool {
        self.console_read.get() || !self.events.out.is_empty() || self.events.timer.is_some()
    }
}

impl StateView for HypoView {
    fn size(&self) -> u64 {
        self.state.q
    }
    fn load(&self, pa: u64) -> u64 {
        self.state.word(pa)
    }
    fn store(&mut self, pa: u64, value: u64) {
        if self.events.stores.len() < 4 * MAX_BODY_EFFECTS {
            self.events.stores.push(pa);
        }
        self.state.set_word(pa, value);
    }
    fn psw(&self) -> Psw {
        self.state.psw()
    }
    fn set_psw(&mut self, psw: Psw) {
        self.state.mode = psw.mode;
        self.state.p = psw.p;
        self.state.l = psw.r.l;
        self.state.b = psw.r.b;
    }
    fn assist(&self) -> bool {
        self.state.assist
    }
    fn set_assist(&mut self, on: bool) {
        self.state.assist = on;
    }
    fn clock(&self) -> u64 {
        self.clock_read.set(true);
        self.state.clock
    }
    fn console_peek(&self, _k: usize) -> Option<u8> {
        // No input is ever waiting: `in()` reads all ones. Looking counts as a device access.
        self.console_read.set(true);
        None
    }
    fn console_consume(&mut self, n: usize) {
        self.events.consumed += n;
    }
    fn console_out(&mut self, byte: u8) {
        self.events.out.push(byte);
    }
    fn set_timer(&mut self, n: u64) {
        self.events.timer = Some(n);
    }
}

/// Runs the instruction at `P` of `view` (already reset to the state to run), through the
/// machine's own interpreter. The clock is the state's.
pub fn run(isa: &pgvm_isa::Isa, view: &mut HypoView) -> Step {
    pgvm_machine::step(isa, view)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> State {
        let mut s = State::new(16, Mode::User, 1, Reloc { l: 4, b: 3 });
        s.set_word(0, 7);
        s.set_word(5, 55);
        s.set_word(6, 66);
        s.set_word(9, 99);
        s
    }

    #[test]
    fn sparse_memory_reads_zero_where_nothing_is_listed() {
        let s = state();
        assert_eq!(s.word(5), 55);
        assert_eq!(s.word(4), 0);
        assert_eq!(s.develop(1), Some(5));
        assert_eq!(s.develop(3), None, "a >= b");
    }

    #[test]
    fn shift_moves_the_window_and_nothing_else() {
        let s = state();
        let t = s.shifted(5).expect("fits");
        assert_eq!((t.l, t.b, t.p, t.mode), (9, 3, 1, Mode::User));
        // The window [4, 7) is copied to [9, 12); the old word at 9 is overwritten.
        assert_eq!(t.word(10), 55);
        assert_eq!(t.word(11), 66);
        assert_eq!(t.word(9), 0);
        // Outside the new window nothing changes, including the old window.
        assert_eq!(t.word(0), 7);
        assert_eq!(t.word(5), 55);
        for a in 0..3 {
            assert_eq!(
                s.word(s.develop(a).expect("in")),
                t.word(t.develop(a).expect("in"))
            );
        }
    }

    #[test]
    fn shifts_must_keep_the_window_inside_memory() {
        let s = state();
        assert_eq!(s.shift_range(), Some((-4, 9)));
        assert!(s.shifted(0).is_none());
        assert!(s.shifted(-5).is_none());
        assert!(s.shifted(10).is_none());
        assert!(s.shifted(9).is_some(), "l + b at q");
        let full = State::new(8, Mode::User, 0, Reloc { l: 0, b: 8 });
        assert!(full.shift_range().is_none(), "no room to move");
    }
}
