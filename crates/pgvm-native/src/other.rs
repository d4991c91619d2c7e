//! Hosts other than x86-64: no native code; the block engine keeps its safe loop.

use pgvm_isa::BinOp;

use crate::{Exit, Label, Left, NativeError, Reg};

/// Words that can be pinned at once (none here).
pub const PINS: usize = 0;

/// Never made on this host: [`Emitter::new`] says [`NativeError::Unsupported`].
pub struct Emitter(());

/// Never made on this host.
#[derive(Debug, Clone)]
pub struct Native(());

#[allow(missing_docs, clippy::unused_self)]
impl Emitter {
    pub fn new(_words: u64, _l: u64, _lim: u64, _pins: &[u64]) -> Result<Emitter, NativeError> {
        Err(NativeError::Unsupported)
    }
    pub fn load(&mut self, _r: Reg, _cell: u64) {}
    pub fn konst(&mut self, _r: Reg, _k: u64) {}
    pub fn store(&mut self, _cell: u64, _r: Reg) {}
    pub fn exit_if_code(&mut self, _cell: u64, _e: Exit) {}
    pub fn alu(&mut self, _op: BinOp) {}
    pub fn window(&mut self, _e: Exit) {}
    pub fn load_window(&mut self, _r: Reg) {}
    pub fn store_window(&mut self, _r: Reg) {}
    pub fn exit_if_code_window(&mut self, _e: Exit) {}
    pub fn exit_if(&mut self, _nonzero: bool, _e: Exit) {}
    pub fn exit(&mut self, _e: Exit) {}
    pub fn label(&mut self) -> Label {
        Label(0)
    }
    pub fn bind(&mut self, _l: Label) {}
    pub fn jump_if(&mut self, _nonzero: bool, _l: Label) {}
    pub fn jump(&mut self, _l: Label) {}
    pub fn exit_if_not(&mut self, _k: u64, _e: Exit) {}
    pub fn exit_if_room_below(&mut self, _k: u64, _e: Exit) {}
    pub fn take_room(&mut self, _k: u64) {}
    pub fn restart(&mut self) {}
    pub fn lap(&mut self, _len: u64, _e: Exit) {}
    pub fn finish(self) -> Result<Native, NativeError> {
        Err(NativeError::Unsupported)
    }
}

impl Native {
    /// Never called on this host.
    pub fn run(&self, _mem: &mut [u64], _code: &[u8], _room: u64) -> Result<Left, NativeError> {
        Err(NativeError::Unsupported)
    }
}
