//! The PSW `<M, P, R>`, packed into one word, and the paper's address development.
//!
//! Layout (bit 63 is the most significant):
//!
//! | bits   | holds |
//! |--------|-------|
//! | 63     | `M`: 1 = user, 0 = supervisor |
//! | 62..42 | `P`, 21 bits |
//! | 41..21 | `l`, 21 bits |
//! | 20..0  | `b`, 21 bits |
//!
//! Every one of the 2^64 words unpacks to a PSW and packs back to itself, so a trap vector can
//! never hold an "invalid" PSW. `P`, `l` and `b` are 21-bit registers, which is why memory is
//! at most `2^21 - 1` words: then `R = <0, q>` (all of memory) is always encodable.

use pgvm_isa::Mode;
use serde::Serialize;

/// Width of `P`, `l` and `b`.
pub const REG_BITS: u32 = 21;
/// The largest value of `P`, `l` or `b`.
pub const REG_MAX: u64 = (1 << REG_BITS) - 1;
/// The largest memory size `q`, in words.
pub const MAX_WORDS: u64 = REG_MAX;
/// The memory size every command gives a machine or a guest unless told otherwise (DESIGN.md
/// §1's default `q`).
pub const DEFAULT_WORDS: u64 = 65536;

const MODE_BIT: u64 = 1 << 63;
const P_SHIFT: u32 = 2 * REG_BITS;
const L_SHIFT: u32 = REG_BITS;

/// The relocation-bounds register `R = <l, b>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub struct Reloc {
    /// Relocation: the absolute address of apparent address 0.
    pub l: u64,
    /// Bounds: the size of the window (not its last address).
    pub b: u64,
}

impl Reloc {
    /// Packs `R` as `l << 21 | b`, the word `R = x` and `R` read and write.
    pub fn pack(self) -> u64 {
        (self.l & REG_MAX) << L_SHIFT | (self.b & REG_MAX)
    }

    /// Unpacks a word, keeping the low 42 bits (the registers are 21 bits each).
    pub fn unpack(w: u64) -> Reloc {
        Reloc {
            l: (w >> L_SHIFT) & REG_MAX,
            b: w & REG_MAX,
        }
    }

    /// The number of apparent addresses that are valid on a machine of `q` words:
    /// `a` is valid if and only if `a < limit`. Equivalent to the paper's two checks
    /// (`a + l >= q` and `a >= b`), computed once when `R` changes.
    #[inline]
    pub fn limit(self, q: u64) -> u64 {
        if self.l < q {
            self.b.min(q - self.l)
        } else {
            0
        }
    }
}

/// The paper's address development, done with checked arithmetic: `None` is a memory trap.
#[inline]
pub fn develop(a: u64, r: Reloc, q: u64) -> Option<u64> {
    let pa = a.checked_add(r.l)?;
    if pa >= q || a >= r.b {
        return None;
    }
    Some(pa)
}

/// The program status word `<M, P, R>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Psw {
    /// The mode.
    pub mode: Mode,
    /// The program counter, relative to `R`.
    pub p: u64,
    /// The relocation-bounds register.
    pub r: Reloc,
}

/// A PSW component that does not fit its 21-bit register.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("PSW field {field} = {value} does not fit in 21 bits (largest is {REG_MAX})")]
pub struct PswError {
    /// Which component.
    pub field: &'static str,
    /// The value given.
    pub value: u64,
}

impl Psw {
    /// Builds a PSW, refusing components wider than their registers.
    pub fn new(mode: Mode, p: u64, l: u64, b: u64) -> Result<Psw, PswError> {
        for (field, value) in [("P", p), ("l", l), ("b", b)] {
            if value > REG_MAX {
                return Err(PswError { field, value });
            }
        }
        Ok(Psw {
            mode,
            p,
            r: Reloc { l, b },
        })
    }

    /// Packs into one word (see the module documentation for the layout).
    pub fn pack(self) -> u64 {
        let m = if self.mode == Mode::User { MODE_BIT } else { 0 };
        m | (self.p & REG_MAX) << P_SHIFT | self.r.pack()
    }

    /// Unpacks any word.
    pub fn unpack(w: u64) -> Psw {
        Psw {
            mode: if w & MODE_BIT != 0 {
                Mode::User
            } else {
                Mode::Supervisor
            },
            p: (w >> P_SHIFT) & REG_MAX,
            r: Reloc::unpack(w),
        }
    }
}

impl std::fmt::Display for Psw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "<{}, P={:#x}, R=<l={:#x}, b={:#x}>>",
            self.mode, self.p, self.r.l, self.r.b
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn every_word_round_trips(w in any::<u64>()) {
            prop_assert_eq!(Psw::unpack(w).pack(), w);
        }

        #[test]
        fn every_valid_psw_round_trips(user in any::<bool>(), p in 0..=REG_MAX, l in 0..=REG_MAX, b in 0..=REG_MAX) {
            let mode = if user { Mode::User } else { Mode::Supervisor };
            let psw = Psw::new(mode, p, l, b).expect("in range");
            prop_assert_eq!(Psw::unpack(psw.pack()), psw);
        }

        #[test]
        fn limit_agrees_with_development(a in any::<u64>(), l in 0..=REG_MAX, b in 0..=REG_MAX, q in 1..=MAX_WORDS) {
            let r = Reloc { l, b };
            prop_assert_eq!(develop(a, r, q).is_some(), a < r.limit(q));
        }
    }

    #[test]
    fn too_wide_components_are_refused() {
        assert_eq!(
            Psw::new(Mode::User, REG_MAX + 1, 0, 0),
            Err(PswError {
                field: "P",
                value: REG_MAX + 1
            })
        );
        assert!(Psw::new(Mode::User, 0, 0, 1 << 40).is_err());
    }

    #[test]
    fn address_development_edges() {
        let q = 100;
        let r = Reloc { l: 90, b: 20 };
        assert_eq!(develop(9, r, q), Some(99));
        assert_eq!(
            develop(10, r, q),
            None,
            "a + l >= q traps even though a < b"
        );
        let r = Reloc { l: 10, b: 5 };
        assert_eq!(develop(4, r, q), Some(14));
        assert_eq!(develop(5, r, q), None, "a >= b traps");
        assert_eq!(develop(u64::MAX, r, q), None, "a + l must not wrap around");
        assert_eq!(develop(u64::MAX - 9, r, q), None);
        assert_eq!(
            develop(0, Reloc { l: 100, b: 5 }, q),
            None,
            "l = q leaves nothing"
        );
        assert_eq!(
            develop(0, Reloc { l: 0, b: 0 }, q),
            None,
            "b = 0 leaves nothing"
        );
    }
}
