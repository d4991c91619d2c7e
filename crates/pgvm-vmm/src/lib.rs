//! The trap-and-emulate monitor of Theorem 1: the VM map, the control program's dispatcher,
//! allocator and interpreters, and the equivalence checker that measures the paper's three
//! properties by running a guest bare and virtualized.

mod allocator;
mod equiv;
mod monitor;
mod view;
mod vm;
mod vmmap;

pub use allocator::{AllocError, Allocator, Region, VmId};
pub use equiv::{Divergence, EquivReport, Guest, check_equivalence};
pub use monitor::{CP_WORDS, Monitor, VmmError};
pub use vm::{Counts, VmExit, VmState};
pub use vmmap::VmMap;
