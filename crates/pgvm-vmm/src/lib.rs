//! Monitors: the VM map's owner, the control program's dispatcher, allocator and
//! interpreters, the techniques that decide what a trap becomes, and the equivalence checker
//! that measures the paper's three properties by running a guest bare and virtualized.

mod allocator;
mod bt;
mod equiv;
mod host;
mod monitor;
mod nested;
mod pv;
mod technique;
mod vm;

pub use allocator::{AllocError, Allocator, Region, VmId};
pub use bt::{BinaryTranslator, Critical, CriticalSource, MAX_BLOCK};
pub use equiv::{BareOutcome, Divergence, EquivReport, Guest, check_equivalence};
pub use host::Host;
pub use monitor::{CP_WORDS, Monitor, VmmError};
pub use nested::VmHost;
pub use pgvm_machine::{GuestPa, HostPa, VmMap};
pub use pv::{HYPERCALL_BIT, Paravirt, Reference};
pub use technique::{
    Assist, Disposition, Hvm, MustBePrivileged, Plan, Setup, Tae, TaeAssist, Technique,
    TechniqueKind, UnknownTechnique,
};
pub use vm::{Counts, Emulation, Tally, VmExit, VmState};
