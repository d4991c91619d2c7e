//! The paper's third-generation machine: state `<E, M, P, R>`, address development, traps,
//! the state-view seam through which every instruction is executed, the processor cycle
//! around it, the devices, the VM window, the System/370-style VM assist, and the engines.
//!
//! See `docs/machine.md` for the machine reference.

mod assist;
pub mod cycle;
mod devices;
pub mod engine;
mod exec;
mod machine;
mod psw;
mod shaped;
mod view;
mod window;

pub use assist::{AssistAction, ControlBlock};
pub use cycle::{Exit, Processor, TrapPolicy, trap_entry};
pub use devices::{Console, Devices, MAX_CONSOLE_OUTPUT, Timer};
pub use engine::{Block, BlockOps, Blocks, Engine, Fast, Interpreter, NEVER_NATIVE};
pub use exec::{MAX_BODY_EFFECTS, Step, TrapKind, execute, fetch, step};
pub use machine::{Core, Machine, MachineError, Stats};
pub use pgvm_isa::Mode;
pub use psw::{DEFAULT_WORDS, MAX_WORDS, Psw, PswError, REG_BITS, REG_MAX, Reloc, develop};
pub use shaped::execute_shaped;
pub use view::StateView;
pub use window::{GuestPa, HostPa, VirtualCpu, VmMap, Window};
