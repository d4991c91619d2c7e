//! The paper's third-generation machine: state `<E, M, P, R>`, address development, traps,
//! the state-view seam through which every instruction is executed, and the engine.
//!
//! See `docs/machine.md` for the machine reference.

mod compile;
mod engine;
mod exec;
mod psw;
mod view;

pub use engine::{Exit, Machine, MachineError, Stats, TrapPolicy};
pub use exec::{MAX_BODY_EFFECTS, Step, TrapKind, execute, step, step_decoding};
pub use pgvm_isa::Mode;
pub use psw::{MAX_WORDS, Psw, PswError, REG_BITS, REG_MAX, Reloc, develop};
pub use view::{StateView, trap_changed_nothing, trap_entry};
