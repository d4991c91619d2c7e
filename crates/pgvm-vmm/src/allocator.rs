//! The allocator: the only part of the monitor that gives out physical memory.
//!
//! It never gives one word to two VMs, and it refuses a request that does not fit, so a VM
//! either gets all the words it asked for or does not run at all.

use pgvm_machine::HostPa;
use serde::Serialize;

/// Identifies a virtual machine.
pub type VmId = usize;

/// A run of physical words owned by one VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Region {
    /// The owner.
    pub vm: VmId,
    /// First physical word.
    pub base: HostPa,
    /// Number of words (`w`).
    pub len: u64,
}

impl Region {
    /// One past the last word.
    pub fn end(&self) -> HostPa {
        HostPa(self.base.0 + self.len)
    }
}

/// Why the allocator refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    /// No free run is long enough.
    #[error("VM {vm} asks for {asked} words; the largest free run is {largest}")]
    DoesNotFit {
        /// The VM.
        vm: VmId,
        /// Words asked for.
        asked: u64,
        /// The largest free run.
        largest: u64,
    },
    /// A VM of zero words.
    #[error("VM {0} asks for no memory")]
    Empty(VmId),
    /// The VM already has memory.
    #[error("VM {0} already has memory")]
    AlreadyAllocated(VmId),
}

/// Physical memory `k..q` as the monitor hands it out (`0..k` is the control program's).
#[derive(Debug, Clone, Serialize)]
pub struct Allocator {
    q: u64,
    k: u64,
    regions: Vec<Region>,
}

impl Allocator {
    /// Memory of `q` words, of which the control program keeps `0..k`.
    pub fn new(q: u64, k: u64) -> Allocator {
        Allocator {
            q,
            k: k.min(q),
            regions: Vec::new(),
        }
    }

    /// Free runs, in address order.
    fn free_runs(&self) -> Vec<(u64, u64)> {
        let mut runs = Vec::new();
        let mut at = self.k;
        for r in &self.regions {
            if r.base.0 > at {
                runs.push((at, r.base.0 - at));
            }
            at = r.end().0;
        }
        if self.q > at {
            runs.push((at, self.q - at));
        }
        runs
    }

    /// Gives `vm` a run of `w` words (first fit), or refuses without changing anything.
    pub fn allocate(&mut self, vm: VmId, w: u64) -> Result<Region, AllocError> {
        if w == 0 {
            return Err(AllocError::Empty(vm));
        }
        if self.regions.iter().any(|r| r.vm == vm) {
            return Err(AllocError::AlreadyAllocated(vm));
        }
        let runs = self.free_runs();
        let Some(&(base, _)) = runs.iter().find(|(_, len)| *len >= w) else {
            return Err(AllocError::DoesNotFit {
                vm,
                asked: w,
                largest: runs.iter().map(|r| r.1).max().unwrap_or(0),
            });
        };
        let region = Region {
            vm,
            base: HostPa(base),
            len: w,
        };
        let at = self.regions.partition_point(|r| r.base.0 < base);
        self.regions.insert(at, region);
        Ok(region)
    }

    /// Takes a VM's memory back.
    pub fn free(&mut self, vm: VmId) {
        self.regions.retain(|r| r.vm != vm);
    }

    /// The VM owning a physical word, if any.
    pub fn owner(&self, pa: HostPa) -> Option<VmId> {
        self.regions
            .iter()
            .find(|r| r.base <= pa && pa < r.end())
            .map(|r| r.vm)
    }

    /// Every region given out, in address order.
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn refuses_what_does_not_fit_and_changes_nothing() {
        let mut a = Allocator::new(100, 10);
        assert!(a.allocate(0, 50).is_ok());
        let before = a.regions().to_vec();
        assert_eq!(
            a.allocate(1, 41),
            Err(AllocError::DoesNotFit {
                vm: 1,
                asked: 41,
                largest: 40
            })
        );
        assert_eq!(a.regions(), &before[..]);
        assert_eq!(a.allocate(1, 40).map(|r| r.base), Ok(HostPa(60)));
    }

    proptest! {
        #[test]
        fn never_gives_a_word_to_two_vms(sizes in proptest::collection::vec(1u64..300, 1..20), frees in proptest::collection::vec(0usize..20, 0..10)) {
            let mut a = Allocator::new(1000, 16);
            for (vm, &w) in sizes.iter().enumerate() {
                let _ = a.allocate(vm, w);
                if let Some(&f) = frees.get(vm) {
                    a.free(f);
                }
            }
            let rs = a.regions();
            for pair in rs.windows(2) {
                prop_assert!(pair[0].end() <= pair[1].base);
            }
            prop_assert!(rs.iter().all(|r| r.base.0 >= 16 && r.end().0 <= 1000));
        }
    }
}
