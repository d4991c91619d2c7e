//! What a nested run reports: every level's measurements, the comparison with the bare run,
//! and how deep the guest could go.

use std::collections::BTreeMap;

use pgvm_isa::Isa;
use pgvm_machine::{Exit, Machine, Psw, StateView};
use serde::Serialize;

use super::levels::{Nested, NestedExit};
use super::{CodeCheck, L0, header};

/// One level's measurements.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Level {
    /// 0 is the real machine's own.
    pub level: u32,
    /// `monitor` (assembly), `host monitor` (the Rust one) or `guest`.
    pub role: &'static str,
    /// Where its memory starts, in real words.
    pub base: u64,
    /// The machine it runs on, in words.
    pub words: u64,
    /// Real instructions its own code executed.
    pub instructions: u64,
    /// Traps it took through its `E[0]`/`E[1]` (a monitor).
    pub traps: u64,
    /// Privileged instructions of its guest it emulated.
    pub emulated: u64,
    /// Privileged instructions of its guest that a look ahead after an emulation found and
    /// handled (emulated, or reflected when an operand is outside the window) without a trap
    /// of their own: `traps + peeked = emulated + reflected`.
    pub peeked: u64,
    /// Traps it reflected into its guest.
    pub reflected: u64,
    /// Single-step timer interrupts it took (its guest's timer was running).
    pub single_steps: u64,
    /// Timer interrupts it reflected into its guest.
    pub timer_interrupts: u64,
    /// Emulations by instruction.
    pub emulated_by_mnemonic: BTreeMap<String, u64>,
}

/// The nested run against the bare one.
#[derive(Debug, Clone, Serialize)]
pub struct NestReport {
    /// The profile.
    pub isa: String,
    /// The monitor's build file.
    pub monitor: String,
    /// Monitor levels.
    pub depth: u32,
    /// What ran at level 0.
    pub l0: L0,
    /// The real machine's words.
    pub q: u64,
    /// The guest's words, on both machines.
    pub w: u64,
    /// Whether the guest's window, virtual PSW and console matched the bare run's.
    pub equivalent: bool,
    /// What differs, the first difference first (empty when equivalent).
    pub differences: Vec<String>,
    /// The bare run: instructions and host time.
    pub bare_instructions: u64,
    /// Host time of the bare run, in nanoseconds.
    pub bare_ns: u64,
    /// Real instructions of the nested run, every level.
    pub nested_instructions: u64,
    /// Host time of the nested run, in nanoseconds.
    pub nested_ns: u64,
    /// How the nested run stopped.
    pub nested_exit: String,
    /// Per level, 0 first; the guest last.
    pub levels: Vec<Level>,
    /// The guest's privileged instructions (emulated by the innermost monitor).
    pub guest_privileged: u64,
    /// Traps and interrupts taken at level 0.
    pub l0_traps: u64,
    /// L0 traps per guest privileged instruction.
    pub amplification: f64,
    /// Nested real instructions per bare instruction.
    pub slowdown_instructions: f64,
    /// Nested host time over bare host time.
    pub slowdown_time: f64,
    /// The bare console output.
    pub console: String,
    /// The monitor's code against the classifier: no timing dependency.
    pub code: CodeCheck,
    /// The deepest depth that fits in this memory, in the default one and in the largest.
    pub deepest: Deepest,
}

/// How deep the guest can be nested, by memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Deepest {
    /// In the memory of this run.
    pub this: u64,
    /// In the default memory.
    pub default: u64,
    /// In the largest memory.
    pub largest: u64,
}

/// How the nested run's end differs from the bare run's: the stop, the PSW (the innermost
/// monitor's virtual one, `vpsw`), the first differing words of the guest's `window`, and
/// the first differing console byte. Empty when they are equivalent.
pub(super) fn differences(
    bare: &Machine,
    bare_exit: Exit,
    nested: &Nested,
    window: &[u64],
    vpsw: Psw,
) -> Vec<String> {
    let mut differences = Vec::new();
    let halted = matches!(nested.exit, NestedExit::Halted);
    if (bare_exit == Exit::Halted) != halted {
        differences.push(format!(
            "stopped: bare {}, nested {}",
            exit_text(bare_exit),
            nested.exit.text()
        ));
    }
    if bare.psw() != vpsw {
        differences.push(format!("PSW: bare {}, nested {}", bare.psw(), vpsw));
    }
    differences.extend(
        bare.memory()
            .iter()
            .zip(window)
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .take(4)
            .map(|(i, (a, b))| format!("E[{i:#x}]: bare {a:#x}, nested {b:#x}")),
    );
    if bare.output() != nested.console.as_slice() {
        let at = bare
            .output()
            .iter()
            .zip(&nested.console)
            .take_while(|(a, b)| a == b)
            .count();
        differences.push(format!(
            "console: from byte {at}: bare {:?}, nested {:?}",
            snippet(bare.output(), at),
            snippet(&nested.console, at)
        ));
    }
    differences
}

/// What the assembly monitor at real word `base` counted in its header (the caller fills in
/// its level, its words and its instructions).
pub(super) fn monitor_level(isa: &Isa, memory: &[u64], base: u64) -> Level {
    let h = |off: u64| memory[(base + off) as usize];
    // The monitor counts each emulation once, by opcode (one instruction on its hot paths
    // instead of two): the total is the sum.
    let mut by = BTreeMap::new();
    let mut emulated = 0u64;
    for op in 0..128u64 {
        let count = h(header::BYOP + op);
        emulated = emulated.saturating_add(count);
        if count > 0 {
            let name = isa.decode(op << 56).map_or_else(
                || format!("op {op:#x}"),
                |id| isa.insns[id].mnemonic.clone(),
            );
            by.insert(name, count);
        }
    }
    Level {
        level: 0,
        role: "monitor",
        base,
        words: 0,
        instructions: 0,
        traps: h(header::NTRAP),
        emulated,
        peeked: h(header::NPEEK),
        reflected: h(header::NREFL),
        single_steps: h(header::NSTEP),
        timer_interrupts: h(header::NVINT),
        emulated_by_mnemonic: by,
    }
}

fn snippet(bytes: &[u8], at: usize) -> String {
    let end = (at + 24).min(bytes.len());
    String::from_utf8_lossy(&bytes[at.min(end)..end]).into_owned()
}

fn exit_text(e: Exit) -> &'static str {
    match e {
        Exit::Halted => "halted",
        Exit::Stuck => "stuck",
        _ => "running",
    }
}
