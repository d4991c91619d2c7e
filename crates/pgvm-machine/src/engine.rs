//! The real machine and its engine.
//!
//! Instructions are pre-decoded into a cache beside memory ([`Op`]), one slot per physical
//! word, invalidated by every store to that word. The hot loop allocates nothing, checks an
//! address with one comparison against a bound recomputed only when `R` changes, and leaves
//! the loop only for the rare events: a trap, a halt, an interpreted instruction, the timer.

use std::sync::Arc;

use pgvm_isa::ops::alu;
use pgvm_isa::{InsnId, Isa, Mode};
use serde::Serialize;

use crate::compile::{Op, compile, user_trap};
use crate::exec::{Step, TrapKind, execute};
use crate::psw::{MAX_WORDS, Psw};
use crate::view::{StateView, trap_changed_nothing, trap_entry};

/// Who takes a trap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TrapPolicy {
    /// The hardware does: `E[0] <- PSW; PSW <- E[1]`, and execution goes on.
    Hardware,
    /// A monitor does: the run stops with [`Exit::Trapped`] and the state as it was before the
    /// blocked instruction.
    Exit,
}

/// Why [`Machine::run`] returned. Guest behaviour is a value, never an error.
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
}

/// Counts of what happened, for reports and for the equivalence checker.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Traps by kind.
    pub memory: u64,
    /// Privileged-instruction traps.
    pub privileged: u64,
    /// Explicit traps (supervisor calls, arithmetic traps).
    pub instruction: u64,
    /// Illegal-instruction traps.
    pub illegal: u64,
    /// Timer interrupts delivered.
    pub interrupts: u64,
}

impl Stats {
    /// All traps, of every kind (interrupts excluded).
    pub fn traps(&self) -> u64 {
        self.memory + self.privileged + self.instruction + self.illegal
    }

    fn count(&mut self, kind: TrapKind) {
        match kind {
            TrapKind::Memory => self.memory += 1,
            TrapKind::Privileged => self.privileged += 1,
            TrapKind::Instruction => self.instruction += 1,
            TrapKind::Illegal => self.illegal += 1,
        }
    }
}

/// Errors building a machine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MachineError {
    /// `q` is zero or larger than a PSW can address.
    #[error("Memory size {0} is out of range")]
    MemorySize(u64),
    /// Words placed outside memory.
    #[error("Words {start}..{end} do not fit in memory of {q} words")]
    DoesNotFit {
        /// First address.
        start: u64,
        /// One past the last address.
        end: u64,
        /// Memory size.
        q: u64,
    },
}

impl MachineError {
    /// The hint printed under the message.
    pub fn hint(&self) -> String {
        match self {
            MachineError::MemorySize(_) => {
                format!("choose a memory size from 1 to {MAX_WORDS} words")
            }
            MachineError::DoesNotFit { end, .. } => {
                format!("give the machine at least {end} words")
            }
        }
    }
}

/// The interval timer (an optional feature).
#[derive(Debug, Clone, Copy, Default)]
struct Timer {
    /// The step count at which it falls due, when armed.
    due: Option<u64>,
    /// Fallen due, waiting for user mode.
    pending: bool,
}

/// The paper's machine `S = <E, M, P, R>`, with the optional devices.
#[derive(Debug, Clone)]
pub struct Machine {
    isa: Arc<Isa>,
    mem: Vec<u64>,
    cache: Vec<Op>,
    psw: Psw,
    /// Valid apparent addresses are `0..limit` (see [`crate::Reloc::limit`]).
    limit: u64,
    assist: bool,
    steps: u64,
    timer: Timer,
    /// Console output so far.
    output: Vec<u8>,
    input: Vec<u8>,
    input_pos: usize,
    stats: Stats,
    policy: TrapPolicy,
    /// By instruction: the trap its body takes first thing in user mode, if it begins
    /// `if M == user { trap; }` (as every `privileged` one does).
    user_traps: Vec<Option<TrapKind>>,
}

impl Machine {
    /// A machine of `q` words, all zero, in supervisor mode at `P = 0` with `R = <0, q>`.
    pub fn new(isa: Arc<Isa>, q: u64) -> Result<Machine, MachineError> {
        if q == 0 || q > MAX_WORDS {
            return Err(MachineError::MemorySize(q));
        }
        let psw = Psw {
            mode: Mode::Supervisor,
            p: 0,
            r: crate::Reloc { l: 0, b: q },
        };
        Ok(Machine {
            mem: vec![0; q as usize],
            cache: vec![Op::Stale; q as usize],
            psw,
            limit: psw.r.limit(q),
            assist: false,
            steps: 0,
            timer: Timer::default(),
            output: Vec::new(),
            input: Vec::new(),
            input_pos: 0,
            stats: Stats::default(),
            policy: TrapPolicy::Hardware,
            user_traps: isa.insns.iter().map(|i| user_trap(&i.body)).collect(),
            isa,
        })
    }

    /// The description this machine executes.
    pub fn isa(&self) -> &Arc<Isa> {
        &self.isa
    }

    /// Sets who takes traps.
    pub fn set_trap_policy(&mut self, policy: TrapPolicy) {
        self.policy = policy;
    }

    /// Writes words at physical addresses `start..`.
    pub fn write(&mut self, start: u64, words: &[u64]) -> Result<(), MachineError> {
        let q = self.size();
        let end = start.saturating_add(words.len() as u64);
        if end > q {
            return Err(MachineError::DoesNotFit { start, end, q });
        }
        for (i, &w) in words.iter().enumerate() {
            self.store(start + i as u64, w);
        }
        Ok(())
    }

    /// Physical memory.
    pub fn memory(&self) -> &[u64] {
        &self.mem
    }

    /// Instructions executed (completed, halted or trapped) since reset.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Trap and interrupt counts.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Console output so far.
    pub fn output(&self) -> &[u8] {
        &self.output
    }

    /// Queues console input.
    pub fn push_input(&mut self, bytes: &[u8]) {
        self.input.extend_from_slice(bytes);
    }

    /// The assist bit.
    pub fn assist_bit(&self) -> bool {
        self.assist
    }

    /// Whether the interval timer is armed or its interrupt is waiting.
    pub fn timer_armed(&self) -> bool {
        self.timer.due.is_some() || self.timer.pending
    }

    /// Disarms the timer and forgets the console output: what a monitor does after a guest
    /// reached the real devices, so that nothing of it carries over to the next guest.
    pub fn reset_devices(&mut self) {
        self.timer = Timer::default();
        self.output.clear();
    }

    /// Runs until a halt, a trap the monitor owns, a stuck state, or `budget` instructions.
    pub fn run(&mut self, budget: u64) -> Exit {
        let end = self.steps.saturating_add(budget);
        loop {
            if self.timer.pending && self.psw.mode == Mode::User {
                self.deliver_interrupt();
            }
            if self.steps >= end {
                return Exit::BudgetSpent;
            }
            let stop = match self.timer.due {
                Some(due) => due.clamp(self.steps + 1, end),
                None => end,
            };
            let event = self.run_fast(stop);
            if let Some(due) = self.timer.due
                && self.steps >= due
            {
                self.timer.due = None;
                self.timer.pending = true;
            }
            match event {
                None => {}
                Some(Event::Halt) => return Exit::Halted,
                Some(Event::Trap(kind)) => {
                    self.stats.count(kind);
                    match self.policy {
                        TrapPolicy::Exit => return Exit::Trapped(kind),
                        TrapPolicy::Hardware => {
                            if self.take_trap() {
                                return Exit::Stuck;
                            }
                        }
                    }
                }
            }
        }
    }

    /// The paper's trap; true if it re-entered the state it started from.
    fn take_trap(&mut self) -> bool {
        let (before, old_e0) = (self.psw, self.mem.first().copied().unwrap_or(0));
        if !trap_entry(self, 0) {
            return true;
        }
        let quiet = self.timer.due.is_none() && !self.timer.pending;
        quiet && trap_changed_nothing(before, old_e0, self.psw)
    }

    fn deliver_interrupt(&mut self) {
        self.timer.pending = false;
        let class = self.isa.features.timer.unwrap_or(1);
        if trap_entry(self, class) {
            self.stats.interrupts += 1;
        }
    }

    /// Executes until `stop` steps or an event. Everything common stays in this loop, with
    /// the step count and `P` in locals and `l` and the address limit hoisted: only an
    /// interpreted instruction can change them, and it leaves the loop.
    fn run_fast(&mut self, stop: u64) -> Option<Event> {
        let l = self.psw.r.l;
        let lim = self.limit;
        let mut steps = self.steps;
        let mut p = self.psw.p;
        // Physical index of apparent address `a`, which the caller has checked is `< lim`.
        let at = |a: u64| (a + l) as usize;
        let event = loop {
            if steps >= stop {
                break None;
            }
            if p >= lim {
                steps += 1;
                break Some(Event::Trap(TrapKind::Memory));
            }
            let pa = at(p);
            let mut op = self.cache[pa];
            if op == Op::Stale {
                op = self.decode(pa);
            }
            steps += 1;
            // p < lim <= REG_MAX, so p + 1 still fits P.
            let next = p + 1;
            // Each arm checks every address before it writes anything: a trap blocks.
            match op {
                Op::AddK { a, b, k } => {
                    let (a, b) = (a as u64, b as u64);
                    if a >= lim || b >= lim {
                        break Some(Event::Trap(TrapKind::Memory));
                    }
                    let v = self.mem[at(b)].wrapping_add(k);
                    self.poke(at(a), v);
                    p = next;
                }
                Op::BranchNz { a, t } => {
                    let a = a as u64;
                    if a >= lim {
                        break Some(Event::Trap(TrapKind::Memory));
                    }
                    p = if self.mem[at(a)] != 0 { t as u64 } else { next };
                }
                Op::BranchZ { a, t } => {
                    let a = a as u64;
                    if a >= lim {
                        break Some(Event::Trap(TrapKind::Memory));
                    }
                    p = if self.mem[at(a)] == 0 { t as u64 } else { next };
                }
                Op::Bin { op, a, b, c } => {
                    let (a, b, c) = (a as u64, b as u64, c as u64);
                    if a >= lim || b >= lim || c >= lim {
                        break Some(Event::Trap(TrapKind::Memory));
                    }
                    let v = alu(op, self.mem[at(b)], self.mem[at(c)]);
                    self.poke(at(a), v);
                    p = next;
                }
                Op::BinK { op, a, b, k } => {
                    let (a, b) = (a as u64, b as u64);
                    if a >= lim || b >= lim {
                        break Some(Event::Trap(TrapKind::Memory));
                    }
                    let v = alu(op, self.mem[at(b)], k);
                    self.poke(at(a), v);
                    p = next;
                }
                Op::Set { a, k } => {
                    let a = a as u64;
                    if a >= lim {
                        break Some(Event::Trap(TrapKind::Memory));
                    }
                    self.poke(at(a), k);
                    p = next;
                }
                Op::Mov { a, b } => {
                    let (a, b) = (a as u64, b as u64);
                    if a >= lim || b >= lim {
                        break Some(Event::Trap(TrapKind::Memory));
                    }
                    let v = self.mem[at(b)];
                    self.poke(at(a), v);
                    p = next;
                }
                Op::LoadX { a, b, c } => {
                    let (a, b, c) = (a as u64, b as u64, c as u64);
                    if a >= lim || b >= lim || c >= lim {
                        break Some(Event::Trap(TrapKind::Memory));
                    }
                    let x = self.mem[at(b)].wrapping_add(self.mem[at(c)]);
                    if x >= lim {
                        break Some(Event::Trap(TrapKind::Memory));
                    }
                    let v = self.mem[at(x)];
                    self.poke(at(a), v);
                    p = next;
                }
                Op::StoreX { a, b, c } => {
                    let (a, b, c) = (a as u64, b as u64, c as u64);
                    if a >= lim || b >= lim || c >= lim {
                        break Some(Event::Trap(TrapKind::Memory));
                    }
                    let x = self.mem[at(b)].wrapping_add(self.mem[at(c)]);
                    if x >= lim {
                        break Some(Event::Trap(TrapKind::Memory));
                    }
                    let v = self.mem[at(a)];
                    self.poke(at(x), v);
                    p = next;
                }
                Op::Jump { t } => p = t as u64,
                Op::Branch { op, a, k, t } => {
                    let a = a as u64;
                    if a >= lim {
                        break Some(Event::Trap(TrapKind::Memory));
                    }
                    p = if alu(op, self.mem[at(a)], k) != 0 {
                        t as u64
                    } else {
                        next
                    };
                }
                Op::Illegal | Op::Stale => break Some(Event::Trap(TrapKind::Illegal)),
                Op::Generic(id) => {
                    // What the body's first statement does in user mode, without the
                    // interpreter: the common case under a monitor, which runs guests there.
                    if self.psw.mode == Mode::User
                        && let Some(kind) = self.user_traps[id]
                    {
                        break Some(Event::Trap(kind));
                    }
                    // The view's clock reads the instructions executed before this one.
                    self.steps = steps - 1;
                    self.psw.p = p;
                    let word = self.mem[pa];
                    let isa = Arc::clone(&self.isa);
                    let outcome = execute(&isa, id, word, self);
                    // Interpreted instructions may change R, the mode or the timer: leave the
                    // loop so that `run` sees the new state.
                    self.steps = steps;
                    return match outcome {
                        Step::Done => None,
                        Step::Halted => Some(Event::Halt),
                        Step::Trapped(kind) => Some(Event::Trap(kind)),
                    };
                }
            }
        };
        self.steps = steps;
        self.psw.p = p;
        event
    }

    /// Decodes the word at `pa` into the cache.
    #[cold]
    fn decode(&mut self, pa: usize) -> Op {
        let word = self.mem[pa];
        let op = match self.isa.decode(word) {
            Some(id) => compile(&self.isa, id, word),
            None => Op::Illegal,
        };
        self.cache[pa] = op;
        op
    }

    /// The instruction the word at physical `pa` decodes as: what `isa.decode` says of it,
    /// taken from the decode cache when the engine interprets that instruction (as it does
    /// every privileged one), so that a monitor asking about the instruction that just
    /// trapped skips the ISA's search.
    pub fn decoded(&mut self, pa: u64) -> Option<InsnId> {
        let pa = pa as usize;
        let mut op = self.cache[pa];
        if op == Op::Stale {
            op = self.decode(pa);
        }
        match op {
            Op::Generic(id) => Some(id),
            Op::Illegal => None,
            _ => self.isa.decode(self.mem[pa]),
        }
    }

    /// A store that keeps the decode cache true.
    #[inline(always)]
    fn poke(&mut self, pa: usize, v: u64) {
        self.mem[pa] = v;
        // Data words are almost never decoded: a predictable test beats a 24-byte store.
        if self.cache[pa] != Op::Stale {
            self.cache[pa] = Op::Stale;
        }
    }
}

/// What stopped the fast loop.
enum Event {
    Halt,
    Trap(TrapKind),
}

impl StateView for Machine {
    fn size(&self) -> u64 {
        self.mem.len() as u64
    }

    fn load(&self, pa: u64) -> u64 {
        self.mem[pa as usize]
    }

    fn store(&mut self, pa: u64, value: u64) {
        self.poke(pa as usize, value);
    }

    fn psw(&self) -> Psw {
        self.psw
    }

    fn set_psw(&mut self, psw: Psw) {
        self.psw = psw;
        self.limit = psw.r.limit(self.mem.len() as u64);
    }

    fn assist(&self) -> bool {
        self.assist
    }

    fn set_assist(&mut self, on: bool) {
        self.assist = on;
    }

    fn clock(&self) -> u64 {
        self.steps
    }

    fn console_peek(&self, k: usize) -> Option<u8> {
        self.input.get(self.input_pos + k).copied()
    }

    fn console_consume(&mut self, n: usize) {
        self.input_pos = (self.input_pos + n).min(self.input.len());
    }

    fn console_out(&mut self, byte: u8) {
        self.output.push(byte);
    }

    fn set_timer(&mut self, n: u64) {
        // Falls due after n more instructions: this one has not been counted yet.
        self.timer.due = (n != 0).then(|| self.steps.saturating_add(1).saturating_add(n));
        self.timer.pending = false;
    }
}
