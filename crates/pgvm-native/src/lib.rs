//! Native x86-64 code for the block engine's hot loops: pgvm's one `unsafe` exception
//! (docs/decisions.md, "The native tier").
//!
//! The block engine's safe loop costs about 19 host instructions a guest instruction on an
//! ALU loop, and no safe rearrangement of it gets near the 10^9 guest instructions a second
//! that issue 14 asks for (the same decision record says why). Native code for the same ops
//! costs five or six. This crate owns that code and nothing else: an [`Emitter`] offers a
//! few operations on words (load a word, store it, an operator of the ISA language, an exit),
//! and the block engine in `pgvm-machine` says, in safe code, which ones make up a block.
//!
//! The safety argument is all here. Every memory access the emitted code makes is one of:
//!
//! - a fixed word below the machine's size, checked when it is emitted (the same index into
//!   the code map, which has one byte per word);
//! - a word of the window `<l, lim>`, whose index the emitted code itself compares with `lim`
//!   before, where `l + lim` was checked against the machine's size when the emitter was
//!   made; the emitter refuses such an access unless the check is on every path to it (it
//!   was emitted since the last label, and nothing else writes the index's register);
//! - the call's own context record.
//!
//! [`Native::run`] refuses memory or a code map shorter than the size the code was emitted
//! for. Every path of the code ends in an exit or a jump back to its start ([`Emitter::finish`]
//! refuses code that can run past its end), and it uses no stack beyond the four registers
//! it saves, and calls nothing.
//!
//! The code lives in executable memory shared by the process (`arena`): a memory file
//! mapped writable at one address and executable at another. Code is written once, before
//! it is first run, and never again.
//!
//! On any other host, [`Emitter::new`] says [`NativeError::Unsupported`] and the engine keeps
//! its safe loop.

use pgvm_isa::BinOp;

/// Why no native code was made, or a run refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NativeError {
    /// The host is not x86-64.
    #[error("Native code is not available on this host")]
    Unsupported,
    /// A fixed word past the machine's size, or a machine too large for 32-bit offsets.
    #[error("Word {0} is outside the {1} words native code was made for")]
    OutOfRange(u64, u64),
    /// An operator with no native form here (the logical operators short-circuit).
    #[error("Operator {0:?} has no native form")]
    Operator(BinOp),
    /// The window does not lie inside the machine.
    #[error("Window <{l}, {lim}> is outside the machine's {words} words")]
    Window {
        /// The window's base.
        l: u64,
        /// Its limit (apparent addresses below it).
        lim: u64,
        /// The machine's size.
        words: u64,
    },
    /// Executable memory could not be mapped.
    #[error("Could not map executable memory")]
    Map,
    /// A label was jumped to but never bound, or bound twice.
    #[error("A label is unbound or bound twice")]
    Label,
    /// The end of the code can be reached: it would run on past it.
    #[error("The code can run past its end")]
    FallsOff,
    /// The code left through an exit it was not made with: it cannot, since it leaves only
    /// through the stubs [`Emitter::finish`] made, but the index is checked all the same.
    #[error("Native code left through exit {0}, which it does not have")]
    Exit(u32),
    /// A window word was read or written where no window index checked by
    /// [`Emitter::window`] reaches (none before it, or a label between).
    #[error("A window access without a checked index")]
    Unchecked,
}

/// A place in the emitted code ([`Emitter::label`]), for jumps within it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label(usize);

/// Whether [`Emitter::alu`] has a native form of operator `op`: all but the short-circuiting
/// logical operators.
pub fn has_native_form(op: BinOp) -> bool {
    !matches!(op, BinOp::LogicalAnd | BinOp::LogicalOr)
}

/// A value register of the emitted code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reg {
    /// The accumulator: operators leave their result here, exits and tests read it.
    A,
    /// The second operand of an operator (and a shift's count).
    B,
    /// A third register, for a value held across a window check.
    C,
}

/// The first word an exit hands back: a constant, or a value the code computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    /// A constant known when the code was emitted.
    Const(u64),
    /// Register [`Reg::A`] at the exit.
    A,
    /// The physical index of the last window word the code developed.
    Window,
}

/// Where the code leaves to, as the block engine names it: a kind and two words, handed
/// back by [`Native::run`] with the room left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    /// The engine's own name for the exit.
    pub kind: u32,
    /// The first word.
    pub a: Arg,
    /// The second word.
    pub b: u64,
    /// Instructions to count off the room on the way out (the room holds them: the code
    /// checked it before running them).
    pub done: u64,
}

/// An exit taken: what [`Native::run`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Left {
    /// [`Exit::kind`].
    pub kind: u32,
    /// [`Exit::a`], evaluated.
    pub a: u64,
    /// [`Exit::b`].
    pub b: u64,
    /// The room left.
    pub room: u64,
}

/// The record the code reads its memory from and leaves the registers an exit reads in: the
/// one interface between the emitted code and Rust.
#[repr(C)]
struct Ctx {
    mem: *mut u64,
    code: *const u8,
    /// The room left, before the exit's own instructions are counted off.
    room: u64,
    /// The accumulator at the exit ([`Arg::A`]).
    a: u64,
    /// The window index at the exit ([`Arg::Window`]).
    b: u64,
}

#[cfg(target_arch = "x86_64")]
mod arena;
#[cfg(target_arch = "x86_64")]
mod x64;
#[cfg(target_arch = "x86_64")]
pub use x64::{Emitter, Native, PINS};

// Compiled in tests on every host, so that its signatures are checked against the
// emitter's (`tests::the_other_hosts_stub_has_the_same_interface`).
#[cfg(any(not(target_arch = "x86_64"), test))]
mod other;
#[cfg(not(target_arch = "x86_64"))]
pub use other::{Emitter, Native, PINS};

#[cfg(test)]
mod tests;
