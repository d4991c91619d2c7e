//! Helpers shared by the machine's integration tests.
#![allow(dead_code)]

use pgvm_isa::Isa;
use pgvm_machine::{Devices, Exit, Processor, Psw, StateView, cycle};
#[allow(unused_imports)]
pub use pgvm_testkit::{enc, isa};

/// The test oracle: a plain state (a vector of words, no decode cache) run one
/// `pgvm_machine::cycle::cycle` at a time, the processor cycle as written once.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    pub mem: Vec<u64>,
    pub psw: Psw,
    pub assist: bool,
    pub devices: Devices,
    pub timer_class: u64,
    pub halted: bool,
    pub stuck: bool,
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
    pgvm_machine::device_methods!(devices);
}

impl Processor for Reference {
    fn devices(&self) -> &Devices {
        &self.devices
    }
    fn devices_mut(&mut self) -> &mut Devices {
        &mut self.devices
    }
    fn timer_class(&self) -> u64 {
        self.timer_class
    }
}

impl Reference {
    pub fn new(mem: Vec<u64>, psw: Psw, isa: &Isa, input: &[u8]) -> Reference {
        let mut devices = Devices::new();
        devices.console.push_input(input);
        Reference {
            mem,
            psw,
            assist: false,
            devices,
            timer_class: isa.features.timer.unwrap_or(1),
            halted: false,
            stuck: false,
        }
    }

    /// Runs until `steps` instructions have executed, the processor halts or gets stuck.
    pub fn run_to(&mut self, isa: &Isa, steps: u64) {
        while self.devices.clock < steps && !self.halted && !self.stuck {
            match cycle::cycle(isa, self) {
                Exit::Halted => self.halted = true,
                Exit::Stuck => self.stuck = true,
                Exit::BudgetSpent | Exit::Trapped(_) | Exit::Escaped => {}
            }
        }
    }
}
