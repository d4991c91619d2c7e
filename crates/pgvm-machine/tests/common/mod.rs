//! Helpers shared by the machine's integration tests.
#![allow(dead_code)]

use std::sync::Arc;

use pgvm_isa::Isa;
use pgvm_machine::{Psw, StateView, Step, step, trap_entry};

pub fn isa(name: &str) -> Arc<Isa> {
    Arc::new(pgvm_isa::load(name).expect("built-in profile loads"))
}

pub fn enc(isa: &Isa, mnemonic: &str, ops: &[i128]) -> u64 {
    let id = isa.insn(mnemonic).expect("mnemonic exists");
    isa.encode(id, ops).expect("operands fit")
}

/// A plain state for the reference run: every instruction through `pgvm_machine::step`, every
/// trap through `trap_entry`, with the timer semantics written out longhand.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    pub mem: Vec<u64>,
    pub psw: Psw,
    pub assist: bool,
    pub steps: u64,
    pub out: Vec<u8>,
    pub timer_due: Option<u64>,
    pub pending: bool,
    pub halted: bool,
}

impl StateView for Reference {
    fn size(&self) -> u64 {
        self.mem.len() as u64
    }
    fn load(&self, pa: u64) -> u64 {
        self.mem[pa as usize]
    }
    fn store(&mut self, pa: u64, value: u64) {
        self.mem[pa as usize] = value;
    }
    fn psw(&self) -> Psw {
        self.psw
    }
    fn set_psw(&mut self, psw: Psw) {
        self.psw = psw;
    }
    fn assist(&self) -> bool {
        self.assist
    }
    fn set_assist(&mut self, on: bool) {
        self.assist = on;
    }
    fn clock(&self) -> u64 {
        self.steps
    }
    fn console_out(&mut self, byte: u8) {
        self.out.push(byte);
    }
    fn set_timer(&mut self, n: u64) {
        self.timer_due = (n != 0).then(|| self.steps + 1 + n);
        self.pending = false;
    }
}

impl Reference {
    pub fn new(mem: Vec<u64>, psw: Psw) -> Reference {
        Reference {
            mem,
            psw,
            assist: false,
            steps: 0,
            out: Vec::new(),
            timer_due: None,
            pending: false,
            halted: false,
        }
    }

    /// Runs until `steps` instructions have executed or the processor halts.
    pub fn run_to(&mut self, isa: &Isa, steps: u64, timer_class: u64) {
        while self.steps < steps && !self.halted {
            if self.pending && self.psw.mode == pgvm_isa::Mode::User {
                self.pending = false;
                trap_entry(self, timer_class);
            }
            let s = step(isa, self);
            self.steps += 1;
            if let Some(due) = self.timer_due
                && self.steps >= due
            {
                self.timer_due = None;
                self.pending = true;
            }
            match s {
                Step::Done => {}
                Step::Halted => self.halted = true,
                Step::Trapped(_) => {
                    trap_entry(self, 0);
                }
            }
        }
    }
}
