//! How hot a block is, for the native tier: the loops worth native code.

/// How hot a block is: the instructions its laps have run on the ops, and those run since
/// the jump back before each jump back to it, up to `HOT`, counted within a window of
/// `WINDOW * HOT` instructions of the clock (at least `WINDOW * MIN_HOT`) from `since`; or
/// [`super::TRIED`] once native code was made (or could not be) for it.
///
/// The window is what keeps native code for the loops that are much of the run now. A loop
/// that a program enters briefly now and then (printing a number, copying a string) would
/// otherwise add up to `HOT` late in the run and be given code that hardly runs again.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Heat {
    /// The instructions counted in the window, or `TRIED`.
    pub(super) n: u32,
    /// The clock where the window began, its low 32 bits (a window is far shorter).
    since: u32,
}

impl Heat {
    /// `k` more instructions at clock `now`, counted from nothing when the window has passed;
    /// at most `hot`.
    #[inline(always)]
    pub(super) fn add(&mut self, k: u64, now: u64, hot: u32) {
        let now = now as u32;
        if now.wrapping_sub(self.since) > WINDOW.saturating_mul(hot.max(MIN_HOT)) {
            *self = Heat { n: 0, since: now };
        }
        self.n = self.n.saturating_add(k.min(u64::from(hot)) as u32).min(hot);
    }
}

/// A loop is hot when it has run `HOT` instructions within `WINDOW * HOT` of the clock: a
/// quarter of the run's instructions, or more.
const WINDOW: u32 = 4;

/// The threshold below which the window no longer shrinks: the engine tests' thresholds
/// (`Blocks<16>`, so that a few laps make native code) would otherwise forget a loop whose
/// lap is longer than 64 instructions before it got hot, and test fewer regions.
const MIN_HOT: u32 = 1024;

#[cfg(test)]
mod tests {
    use super::*;

    /// Heat adds up within the window, and starts again from nothing after it.
    #[test]
    fn heat_counts_within_its_window_only() {
        let mut h = Heat::default();
        h.add(600, 100, 1024);
        h.add(300, 4000, 1024);
        assert_eq!(h.n, 900);
        // Past `since + WINDOW * HOT`: the 900 are forgotten.
        h.add(300, 100 + 4 * 1024 + 1, 1024);
        assert_eq!((h.n, h.since), (300, 100 + 4 * 1024 + 1));
        // Never more than `hot`, however much at once.
        h.add(5000, 5000, 1024);
        assert_eq!(h.n, 1024);
    }

    /// Below `MIN_HOT` the window stays `WINDOW * MIN_HOT` long.
    #[test]
    fn a_low_threshold_keeps_the_windows_length() {
        let mut h = Heat::default();
        h.add(5, 0, 16);
        h.add(5, 4 * 1024, 16);
        assert_eq!(h.n, 10);
        h.add(5, 4 * 1024 + 1, 16);
        assert_eq!((h.n, h.since), (5, 4 * 1024 + 1));
    }

    /// The clock is kept in 32 bits: a window that spans their wrap still counts.
    #[test]
    fn heat_windows_survive_the_clocks_low_bits_wrapping() {
        let mut h = Heat::default();
        let t = (1u64 << 32) - 10;
        h.add(1, t, 1024);
        h.add(1, t + 20, 1024);
        assert_eq!(h.n, 2);
    }
}
