//! The VM window: the standard VM map `f` of the paper's §6, as a view.
//!
//! Guest `E[i]` lives at host-physical `base + i` for `0 <= i < w`; the guest runs in real
//! user mode with `R' = <l + base, b'>`. `b'` is chosen so that the VM behaves exactly like a
//! real machine of `w` words: an apparent address `a` traps if and only if `a >= b` or
//! `a + l >= w`.
//!
//! The map and the view of a VM through it live in the machine, not in a monitor, because
//! they are the machine's address development applied twice: a monitor's interpreters run
//! instructions on a [`Window`], and a machine-level assist can use the same map.
//!
//! Two address spaces meet here, so they have their own types: a [`HostPa`] indexes the real
//! machine's memory, a [`GuestPa`] a guest's own `E[0..w)`.

use pgvm_isa::Mode;
use serde::Serialize;

use crate::cycle::Processor;
use crate::devices::Devices;
use crate::psw::{Psw, Reloc};
use crate::view::StateView;

/// A physical address of the real (host) machine's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct HostPa(pub u64);

/// A physical address of a guest's own memory `E[0..w)`: what the guest calls `E[i]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct GuestPa(pub u64);

/// Where a VM's memory is, and how its virtual PSW becomes a real one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct VmMap {
    /// Where guest `E[0]` is.
    pub base: HostPa,
    /// The guest's memory size `w`.
    pub w: u64,
}

impl VmMap {
    /// The host address of guest word `a`, or `None` outside `E[0..w)`.
    pub fn host(&self, a: GuestPa) -> Option<HostPa> {
        (a.0 < self.w).then(|| HostPa(self.base.0 + a.0))
    }

    /// One past the VM's last host word.
    pub fn end(&self) -> HostPa {
        HostPa(self.base.0 + self.w)
    }

    /// The real `R'` for a virtual `R`.
    ///
    /// With `l < w`: `R' = <base + l, min(b, w - l)>`, so `a` passes the real check exactly
    /// when `a < b` and `a + l < w`. With `l >= w` every address traps on the virtual machine,
    /// and `b' = 0` makes every address trap on the real one.
    pub fn real_reloc(&self, r: Reloc) -> Reloc {
        if r.l < self.w {
            Reloc {
                l: self.base.0 + r.l,
                b: r.b.min(self.w - r.l),
            }
        } else {
            Reloc {
                l: self.base.0,
                b: 0,
            }
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

/// What a monitor keeps of a VM's processor: the virtual PSW (the guest's own `M`, `P` and
/// `R`), the virtual assist bit and the VM's own devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VirtualCpu {
    /// The virtual PSW.
    pub psw: Psw,
    /// The virtual assist bit.
    pub assist: bool,
    /// The VM's console, timer and clock (guest instructions executed).
    pub devices: Devices,
    /// The interrupt class of the VM's timer.
    pub timer_class: u64,
}

impl VirtualCpu {
    /// A virtual processor starting at `psw` with fresh devices.
    pub fn new(psw: Psw, timer_class: u64) -> VirtualCpu {
        VirtualCpu {
            psw,
            assist: false,
            devices: Devices::new(),
            timer_class,
        }
    }
}

/// One VM seen through the seam: the window `E[0..w)` of the host's memory, with the virtual
/// processor state. An instruction run on it sees exactly a machine of `w` words.
pub struct Window<'a, H: StateView + ?Sized> {
    /// The machine the VM's memory is in.
    pub host: &'a mut H,
    /// Where.
    pub map: VmMap,
    /// The virtual processor.
    pub cpu: &'a mut VirtualCpu,
}

impl<H: StateView + ?Sized> Window<'_, H> {
    fn host_pa(&self, pa: u64) -> u64 {
        // The interpreter develops every address against `size()` = w first.
        debug_assert!(pa < self.map.w);
        self.map.base.0 + pa
    }
}

impl<H: StateView + ?Sized> StateView for Window<'_, H> {
    fn size(&self) -> u64 {
        self.map.w
    }
    fn load(&self, pa: u64) -> u64 {
        self.host.load(self.host_pa(pa))
    }
    fn store(&mut self, pa: u64, value: u64) {
        let at = self.host_pa(pa);
        self.host.store(at, value);
    }
    fn psw(&self) -> Psw {
        self.cpu.psw
    }
    fn set_psw(&mut self, psw: Psw) {
        self.cpu.psw = psw;
    }
    fn assist(&self) -> bool {
        self.cpu.assist
    }
    fn set_assist(&mut self, on: bool) {
        self.cpu.assist = on;
    }
    crate::device_methods!(cpu.devices);
}

impl<H: StateView + ?Sized> Processor for Window<'_, H> {
    fn devices(&self) -> &Devices {
        &self.cpu.devices
    }
    fn devices_mut(&mut self) -> &mut Devices {
        &mut self.cpu.devices
    }
    fn timer_class(&self) -> u64 {
        self.cpu.timer_class
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
            let map = VmMap { base: HostPa(base), w };
            let q_real = base + w;
            let virt = Reloc { l, b };
            let on_small = crate::develop(a, virt, w).map(|pa| pa + base);
            let on_real = crate::develop(a, map.real_reloc(virt), q_real);
            prop_assert_eq!(on_small, on_real);
        }
    }

    #[test]
    fn host_addresses_stop_at_the_window() {
        let map = VmMap {
            base: HostPa(16),
            w: 4,
        };
        assert_eq!(map.host(GuestPa(3)), Some(HostPa(19)));
        assert_eq!(map.host(GuestPa(4)), None);
        assert_eq!(map.end(), HostPa(20));
    }
}
