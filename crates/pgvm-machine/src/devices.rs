//! The optional devices of DESIGN.md §1 (console, interval timer) and the clock, as one type.
//!
//! The real machine and every virtual machine hold a [`Devices`] each: a VM's console, timer
//! and clock are its own, and the monitor never lets a guest reach the real ones. Keeping them
//! in one type means the rule for when the timer falls due, or what `in()` reads once the
//! input is exhausted, is written once for both.

use serde::Serialize;

/// Console output kept in memory at most. A guest that writes more keeps running; the bytes
/// past the cap are counted, not kept, so a chatty guest cannot grow the host without bound.
pub const MAX_CONSOLE_OUTPUT: usize = 64 << 20;

/// The console device: bytes out, bytes waiting to be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Console {
    output: Vec<u8>,
    /// Bytes written past the cap.
    dropped: u64,
    /// Bytes taken out with [`Console::take_output`]: written, no longer kept here.
    #[serde(skip)]
    taken: u64,
    /// The most output kept ([`MAX_CONSOLE_OUTPUT`] unless set lower).
    #[serde(skip)]
    cap: usize,
    input: Vec<u8>,
    input_pos: usize,
}

impl Default for Console {
    fn default() -> Console {
        Console {
            output: Vec::new(),
            dropped: 0,
            taken: 0,
            cap: MAX_CONSOLE_OUTPUT,
            input: Vec::new(),
            input_pos: 0,
        }
    }
}

impl Console {
    /// The output kept so far (at most [`MAX_CONSOLE_OUTPUT`] bytes).
    pub fn output(&self) -> &[u8] {
        &self.output
    }

    /// Bytes written but not kept, because the output held [`MAX_CONSOLE_OUTPUT`] bytes (or
    /// the cap set with [`Console::set_cap`]) when they came.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Every byte written, kept, taken or dropped.
    pub fn written(&self) -> u64 {
        self.taken + self.output.len() as u64 + self.dropped
    }

    /// Takes the output kept so far, leaving room for more: a reader that drains the console
    /// as it goes (`pgvm run` printing while the program runs) loses nothing to the cap.
    pub fn take_output(&mut self) -> Vec<u8> {
        self.taken += self.output.len() as u64;
        std::mem::take(&mut self.output)
    }

    /// Keeps at most `cap` bytes of output from now on, instead of [`MAX_CONSOLE_OUTPUT`]
    /// (tests reach a small cap without writing 64 MiB).
    pub fn set_cap(&mut self, cap: usize) {
        self.cap = cap;
    }

    /// Emits one byte.
    pub fn put(&mut self, byte: u8) {
        if self.output.len() < self.cap {
            self.output.push(byte);
        } else {
            self.dropped += 1;
        }
    }

    /// Queues bytes for `in()`.
    pub fn push_input(&mut self, bytes: &[u8]) {
        self.input.extend_from_slice(bytes);
    }

    /// The `k`-th input byte not yet consumed.
    pub fn peek(&self, k: usize) -> Option<u8> {
        self.input.get(self.input_pos + k).copied()
    }

    /// Consumes `n` input bytes.
    pub fn consume(&mut self, n: usize) {
        self.input_pos = (self.input_pos + n).min(self.input.len());
    }

    /// How many input bytes the guest has read.
    pub fn input_read(&self) -> usize {
        self.input_pos
    }

    /// Forgets the output (kept, taken and dropped).
    pub fn clear_output(&mut self) {
        self.output.clear();
        self.dropped = 0;
        self.taken = 0;
    }
}

/// The interval timer, counted in executed instructions so that runs stay deterministic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Timer {
    /// The clock value at which it falls due, when armed.
    due: Option<u64>,
    /// Fallen due, waiting for user mode (supervisor code runs with the interrupt masked).
    pending: bool,
}

impl Timer {
    /// Arms the timer from an instruction executing at `clock` (instructions before it) to
    /// fall due after `n` more: that instruction has not been counted yet. `n = 0` disarms.
    pub fn arm(&mut self, clock: u64, n: u64) {
        self.due = (n != 0).then(|| clock.saturating_add(1).saturating_add(n));
        self.pending = false;
    }

    /// After the clock advanced to `clock`: the timer falls due once it is reached.
    pub fn tick(&mut self, clock: u64) {
        if let Some(due) = self.due
            && clock >= due
        {
            self.due = None;
            self.pending = true;
        }
    }

    /// Where a stretch of instructions starting at `clock` must stop so that no instruction
    /// runs past the moment the timer falls due, within `end`.
    pub fn stop(&self, clock: u64, end: u64) -> u64 {
        match self.due {
            Some(due) => due.clamp(clock + 1, end),
            None => end,
        }
    }

    /// Takes a pending interrupt if it may be delivered in `mode` (only user mode takes it).
    pub fn take(&mut self, user: bool) -> bool {
        let take = self.pending && user;
        if take {
            self.pending = false;
        }
        take
    }

    /// Neither armed nor pending: nothing will ever interrupt.
    pub fn quiet(&self) -> bool {
        self.due.is_none() && !self.pending
    }

    /// Fallen due and waiting for user mode.
    pub fn pending(&self) -> bool {
        self.pending
    }

    /// When it falls due, if armed.
    pub fn due(&self) -> Option<u64> {
        self.due
    }
}

/// Everything of a machine that is not `<E, M, P, R>`: the console, the timer and the clock.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Devices {
    /// The console.
    pub console: Console,
    /// The interval timer.
    pub timer: Timer,
    /// Instructions executed (completed, halted or trapped): what `clock()` reads while the
    /// next one runs.
    pub clock: u64,
}

impl Devices {
    /// Devices as a machine is reset with: no output, the timer disarmed, the clock at 0.
    pub fn new() -> Devices {
        Devices::default()
    }

    /// Arms the timer from the instruction now executing.
    pub fn set_timer(&mut self, n: u64) {
        self.timer.arm(self.clock, n);
    }

    /// Counts `n` executed instructions; the timer may fall due.
    pub fn retire(&mut self, n: u64) {
        self.clock += n;
        self.timer.tick(self.clock);
    }

    /// Whether a program reached the console output or the timer.
    pub fn touched(&self) -> bool {
        !self.timer.quiet() || self.console.written() > 0
    }

    /// Disarms the timer and forgets the console output.
    pub fn reset(&mut self) {
        self.timer = Timer::default();
        self.console.clear_output();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timer_falls_due_after_n_more_instructions() {
        let mut d = Devices::new();
        d.clock = 10;
        d.set_timer(3); // armed by instruction 10 (the 11th), due once 14 have executed
        d.retire(1);
        assert_eq!(d.timer.stop(d.clock, 100), 14);
        d.retire(2);
        assert!(!d.timer.take(true), "13 executed: not yet");
        d.retire(1);
        assert!(!d.timer.take(false), "masked in supervisor mode");
        assert!(d.timer.take(true));
        assert!(d.timer.quiet());
    }

    #[test]
    fn console_output_is_capped_not_lost_track_of() {
        let mut c = Console::default();
        for _ in 0..MAX_CONSOLE_OUTPUT + 5 {
            c.put(b'x');
        }
        assert_eq!(c.output().len(), MAX_CONSOLE_OUTPUT);
        assert_eq!(c.dropped(), 5);
        assert_eq!(c.written(), MAX_CONSOLE_OUTPUT as u64 + 5);
    }

    #[test]
    fn taking_the_output_makes_room_and_keeps_the_count() {
        let mut c = Console::default();
        c.set_cap(4);
        for b in b"abcdef" {
            c.put(*b);
        }
        assert_eq!((c.output(), c.dropped()), (&b"abcd"[..], 2));
        assert_eq!(c.take_output(), b"abcd");
        c.put(b'g');
        assert_eq!(c.output(), b"g");
        assert_eq!(c.written(), 7, "taken, kept and dropped all count");
        c.clear_output();
        assert_eq!(c.written(), 0);
    }
}
