//! The standard VM map `f` of the paper's section 6.
//!
//! Guest `E[i]` lives at physical `base + i` for `0 <= i < w`; the guest runs in real user mode
//! with `R' = <l + base, b'>`. `b'` is chosen so that the VM behaves exactly like a real machine
//! of `w` words: an apparent address `a` traps if and only if `a >= b` or `a + l >= w`.

use pgvm_isa::Mode;
use pgvm_machine::{Psw, Reloc};
use serde::Serialize;

/// Where a VM's memory is, and how its virtual PSW becomes a real one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct VmMap {
    /// The physical address of guest `E[0]`.
    pub base: u64,
    /// The guest's memory size `w`.
    pub w: u64,
}

impl VmMap {
    /// The real `R'` for a virtual `R`.
    ///
    /// With `l < w`: `R' = <base + l, min(b, w - l)>`, so `a` passes the real check exactly
    /// when `a < b` and `a + l < w`. With `l >= w` every address traps on the virtual machine,
    /// and `b' = 0` makes every address trap on the real one.
    pub fn real_reloc(&self, r: Reloc) -> Reloc {
        if r.l < self.w {
            Reloc {
                l: self.base + r.l,
                b: r.b.min(self.w - r.l),
            }
        } else {
            Reloc { l: self.base, b: 0 }
        }
    }

    /// The real PSW that runs a guest whose virtual PSW is `v`: always user mode.
    pub fn real_psw(&self, v: Psw) -> Psw {
        Psw {
            mode: Mode::User,
            p: v.p,
            r: self.real_reloc(v.r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The map preserves address development: the VM is a real machine of `w` words.
        #[test]
        fn real_development_matches_a_machine_of_w_words(
            a in 0u64..5000, l in 0u64..5000, b in 0u64..5000, w in 1u64..4000, base in 16u64..1000,
        ) {
            let map = VmMap { base, w };
            let q_real = base + w;
            let virt = Reloc { l, b };
            let on_small = pgvm_machine::develop(a, virt, w).map(|pa| pa + base);
            let on_real = pgvm_machine::develop(a, map.real_reloc(virt), q_real);
            prop_assert_eq!(on_small, on_real);
        }
    }
}
