//! The 68000 family as an [`Oracle`], on the `m68k` emulator (safe Rust, MIT; nobody here
//! wrote it). How DESIGN.md §2's terms map to the real machine (docs/audit.md says why):
//!
//! - **Mode** is the S bit of SR (bit 13).
//! - **A mode pair** changes only S. Every register the program can see is equal: D0–D7,
//!   A0–A6, A7, PC, the condition codes, the interrupt mask and the trace bit, and memory. The
//!   68000 banks A7: user mode sees the user stack pointer (USP), supervisor mode the
//!   supervisor stack pointer (SSP). A state has *one* A7 value, and a run starts with USP and
//!   SSP both set to it, so the A7 each mode sees is the same number.
//! - **A trap** is any exception the instruction raises: bus or address error (the *memory*
//!   traps, which the privilege definition sets aside), illegal instruction, line A, line F,
//!   privilege violation, zero divide, CHK, TRAPV, TRAP #n, trace, format error; also a halt
//!   on a double fault. Traps are never evidence of sensitivity (§2).
//! - **Control sensitivity**: a run that does not trap and changes the system byte of SR (S,
//!   the interrupt mask, the trace bit), a 68010 control register (VBR, SFC, DFC), or stops
//!   the processor (STOP) or resets the devices (RESET).
//! - **Behavior (mode) sensitivity**: neither run traps, neither is control-sensitive, and the
//!   registers the program sees (D0–D7, A0–A7 as that mode sees A7, PC, CCR) or the bytes
//!   written differ.
//! - **Location sensitivity does not apply**: the 68000 and 68010 have no relocation register
//!   (addresses are physical; an MMU is an external chip), so there is no `r ⊕ x` to build.
//!   Neither do bounds sensitivity or timing dependence (no instruction reads a clock).
//!
//! Memory is the 24-bit address space, all of it readable and writable, the same in both
//! modes (the bus ignores the function codes, as a system without an MMU does). A state lists
//! the instruction's words at PC; every other byte comes from a pattern seeded by `fill`, so a
//! state is small and replays exactly.

use std::collections::BTreeMap;

use m68k::{AddressBus, CpuCore, CpuType, StepResult};
use pgvm_classify::Atom;
use pgvm_classify::oracle::{Oracle, Outcome};
use pgvm_isa::Mode;
use serde::{Deserialize, Serialize};

/// Which CPU of the family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cpu {
    /// The MC68000.
    M68000,
    /// The MC68010.
    M68010,
}

impl Cpu {
    /// Both, in order.
    pub const ALL: [Cpu; 2] = [Cpu::M68000, Cpu::M68010];

    /// The name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            Cpu::M68000 => "m68000",
            Cpu::M68010 => "m68010",
        }
    }

    /// The CPU of that name.
    pub fn from_name(name: &str) -> Option<Cpu> {
        Cpu::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The emulator's CPU type.
    pub fn cpu_type(self) -> CpuType {
        match self {
            Cpu::M68000 => CpuType::M68000,
            Cpu::M68010 => CpuType::M68010,
        }
    }
}

/// The S bit of SR.
pub const S_BIT: u16 = 0x2000;

/// One starting state of a 68000-family CPU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct M68kState {
    /// SR; its S bit is the mode.
    pub sr: u16,
    /// D0–D7.
    pub d: [u32; 8],
    /// A0–A7. A7 is both the user and the supervisor stack pointer at the start.
    pub a: [u32; 8],
    /// The program counter: the instruction's address.
    pub pc: u32,
    /// The instruction: its opcode word and the extension words after it, at PC.
    pub code: Vec<u16>,
    /// The pattern of every other byte of memory (0: all zero).
    pub fill: u64,
    /// VBR, SFC and DFC (68010; 0 on the 68000).
    #[serde(default)]
    pub control: [u32; 3],
}

/// The most words a state's instruction may have: the opcode and up to five extension words
/// is the 68000's longest instruction; a little room above that.
pub const MAX_CODE_WORDS: usize = 8;

/// 24-bit address space.
const ADDRESS_MASK: u32 = 0x00FF_FFFF;

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl M68kState {
    /// The mode of the S bit.
    pub fn mode(&self) -> Mode {
        if self.sr & S_BIT != 0 {
            Mode::Supervisor
        } else {
            Mode::User
        }
    }

    /// The byte at `addr` before the run.
    pub fn byte(&self, addr: u32) -> u8 {
        let addr = addr & ADDRESS_MASK;
        let off = addr.wrapping_sub(self.pc & ADDRESS_MASK);
        if (off as usize) < 2 * self.code.len() {
            let w = self.code[off as usize / 2];
            return if off.is_multiple_of(2) {
                (w >> 8) as u8
            } else {
                w as u8
            };
        }
        if self.fill == 0 {
            0
        } else {
            mix(self.fill ^ u64::from(addr)) as u8
        }
    }
}

/// The memory one run sees: the state's bytes under the run's writes.
struct Bus<'a> {
    state: &'a M68kState,
    writes: BTreeMap<u32, u8>,
    reset: bool,
}

impl Bus<'_> {
    fn get(&self, addr: u32) -> u8 {
        let addr = addr & ADDRESS_MASK;
        match self.writes.get(&addr) {
            Some(&b) => b,
            None => self.state.byte(addr),
        }
    }
    fn put(&mut self, addr: u32, v: u8) {
        // Bounded: one instruction writes a few dozen bytes at most (MOVEM, exception frames).
        if self.writes.len() < 4096 {
            self.writes.insert(addr & ADDRESS_MASK, v);
        }
    }
}

impl AddressBus for Bus<'_> {
    fn read_byte(&mut self, address: u32) -> u8 {
        self.get(address)
    }
    fn read_word(&mut self, address: u32) -> u16 {
        u16::from_be_bytes([self.get(address), self.get(address.wrapping_add(1))])
    }
    fn read_long(&mut self, address: u32) -> u32 {
        (u32::from(self.read_word(address)) << 16)
            | u32::from(self.read_word(address.wrapping_add(2)))
    }
    fn write_byte(&mut self, address: u32, value: u8) {
        self.put(address, value);
    }
    fn write_word(&mut self, address: u32, value: u16) {
        let [h, l] = value.to_be_bytes();
        self.put(address, h);
        self.put(address.wrapping_add(1), l);
    }
    fn write_long(&mut self, address: u32, value: u32) {
        self.write_word(address, (value >> 16) as u16);
        self.write_word(address.wrapping_add(2), value as u16);
    }
    fn reset_devices(&mut self) {
        self.reset = true;
    }
}

/// What a completed run leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct M68kAfter {
    /// SR after.
    pub sr: u16,
    /// D0–D7.
    pub d: [u32; 8],
    /// A0–A7, A7 as the mode after the run sees it.
    pub a: [u32; 8],
    /// The PC after.
    pub pc: u32,
    /// VBR, SFC, DFC after.
    pub control: [u32; 3],
    /// The bytes written, with their final values.
    pub writes: BTreeMap<u32, u8>,
    /// STOP: the processor waits for an interrupt.
    pub stopped: bool,
    /// RESET: the devices were reset.
    pub reset: bool,
}

/// The name of an exception vector.
pub fn vector_name(v: u32) -> String {
    match v {
        2 => "bus error".into(),
        3 => "address error".into(),
        4 => "illegal instruction".into(),
        5 => "zero divide".into(),
        6 => "CHK".into(),
        7 => "TRAPV".into(),
        8 => "privilege violation".into(),
        9 => "trace".into(),
        10 => "line 1010".into(),
        11 => "line 1111".into(),
        14 => "format error".into(),
        24..=31 => format!("interrupt (vector {v})"),
        32..=47 => format!("TRAP #{}", v - 32),
        _ => format!("exception vector {v}"),
    }
}

/// The 68000 or 68010 of the `m68k` crate, as an oracle.
#[derive(Debug, Clone, Copy)]
pub struct M68kOracle {
    /// Which CPU.
    pub cpu: Cpu,
}

const ATOMS: [Atom; 4] = [
    Atom::NotPrivileged,
    Atom::ControlUser,
    Atom::ControlSuper,
    Atom::ModeSensitive,
];

impl M68kOracle {
    /// Runs `s`, also returning the raw exception vector (if any) for the probe.
    pub fn execute(&self, s: &M68kState) -> Outcome<M68kAfter> {
        let mut bus = Bus {
            state: s,
            writes: BTreeMap::new(),
            reset: false,
        };
        let mut cpu = CpuCore::new();
        cpu.set_cpu_type(self.cpu.cpu_type());
        cpu.pulse_reset();
        let a7 = s.a[7];
        cpu.dar[..8].copy_from_slice(&s.d);
        cpu.dar[8..].copy_from_slice(&s.a);
        // USP and SSP (ISP; the MSP does not exist before the 68020) both equal A7.
        cpu.sp = [a7; 8];
        cpu.set_sr_noint_nosp(s.sr);
        cpu.dar[15] = a7;
        if self.cpu == Cpu::M68010 {
            cpu.vbr = s.control[0];
            cpu.sfc = s.control[1] & 7;
            cpu.dfc = s.control[2] & 7;
        }
        cpu.pc = s.pc & ADDRESS_MASK;
        cpu.invalidate_prefetch();
        cpu.last_exception_vector = None;
        let result = cpu.step(&mut bus);
        let trapped = |kind: String, memory: bool| Outcome::Trapped {
            privilege: kind == "privilege violation",
            kind,
            memory,
        };
        match result {
            StepResult::Ok { .. } | StepResult::Stopped => {}
            StepResult::AlineTrap { .. } => return trapped("line 1010".into(), false),
            StepResult::FlineTrap { .. } => return trapped("line 1111".into(), false),
            StepResult::TrapInstruction { trap_num } => {
                return trapped(format!("TRAP #{trap_num}"), false);
            }
            StepResult::Breakpoint { bp_num } => return trapped(format!("BKPT #{bp_num}"), false),
            StepResult::IllegalInstruction { .. } => {
                return trapped("illegal instruction".into(), false);
            }
        }
        if let Some(v) = cpu.last_exception_vector {
            return trapped(vector_name(v), v == 2 || v == 3);
        }
        if cpu.is_halted() {
            return trapped("halted on a double fault".into(), true);
        }
        let mut a = [0u32; 8];
        a.copy_from_slice(&cpu.dar[8..]);
        let mut d = [0u32; 8];
        d.copy_from_slice(&cpu.dar[..8]);
        let writes = bus.writes.clone();
        Outcome::Completed(M68kAfter {
            sr: cpu.get_sr(),
            d,
            a,
            pc: cpu.pc & ADDRESS_MASK,
            control: if self.cpu == Cpu::M68010 {
                [cpu.vbr, cpu.sfc & 7, cpu.dfc & 7]
            } else {
                [0; 3]
            },
            writes,
            stopped: cpu.is_stopped(),
            reset: bus.reset,
        })
    }
}

impl Oracle for M68kOracle {
    type State = M68kState;
    type After = M68kAfter;

    fn machine(&self) -> String {
        format!("m68k:{}", self.cpu.name())
    }

    fn atoms(&self) -> &[Atom] {
        &ATOMS
    }

    fn mode(&self, s: &M68kState) -> Mode {
        s.mode()
    }

    fn with_mode(&self, s: &M68kState, mode: Mode) -> M68kState {
        let mut t = s.clone();
        t.sr = match mode {
            Mode::Supervisor => s.sr | S_BIT,
            Mode::User => s.sr & !S_BIT,
        };
        t
    }

    fn run(&self, s: &M68kState) -> Outcome<M68kAfter> {
        self.execute(s)
    }

    fn validate(&self, s: &M68kState) -> Result<(), String> {
        if s.code.is_empty() || s.code.len() > MAX_CODE_WORDS {
            return Err(format!(
                "`code` must hold the instruction: 1 to {MAX_CODE_WORDS} words, not {}",
                s.code.len()
            ));
        }
        if self.cpu == Cpu::M68010 && s.control[0] & 1 != 0 {
            // The emulator recurses without end on an exception through an odd vector table.
            return Err("VBR must be even".into());
        }
        if s.control[1] > 7 || s.control[2] > 7 {
            return Err("SFC and DFC are 3-bit function codes (0 to 7)".into());
        }
        Ok(())
    }

    fn control(&self, before: &M68kState, after: &M68kAfter) -> Option<String> {
        if after.reset {
            return Some("RESET: the external devices were reset".into());
        }
        if after.stopped {
            return Some("STOP: the processor stopped".into());
        }
        let (x, y) = (before.sr & 0xFF00, after.sr & 0xFF00);
        if (x ^ y) & S_BIT != 0 {
            let m = |sr: u16| if sr & S_BIT != 0 { "super" } else { "user" };
            return Some(format!("S changed: {} -> {}", m(x), m(y)));
        }
        if x != y {
            return Some(format!("SR system byte changed: {x:#06x} -> {y:#06x}"));
        }
        let names = ["VBR", "SFC", "DFC"];
        let control = if self.cpu == Cpu::M68010 {
            [
                before.control[0],
                before.control[1] & 7,
                before.control[2] & 7,
            ]
        } else {
            [0; 3]
        };
        (0..3).find(|&k| control[k] != after.control[k]).map(|k| {
            format!(
                "{} changed: {:#x} -> {:#x}",
                names[k], control[k], after.control[k]
            )
        })
    }

    fn differ(
        &self,
        first: (&M68kState, &M68kAfter),
        second: (&M68kState, &M68kAfter),
    ) -> Option<String> {
        let (s, x) = first;
        let (t, y) = second;
        if let Some(k) = (0..8).find(|&k| x.d[k] != y.d[k]) {
            return Some(format!("D{k} differs: {:#x} vs {:#x}", x.d[k], y.d[k]));
        }
        if let Some(k) = (0..8).find(|&k| x.a[k] != y.a[k]) {
            return Some(format!("A{k} differs: {:#x} vs {:#x}", x.a[k], y.a[k]));
        }
        let addrs = x.writes.keys().chain(y.writes.keys());
        let mut first_diff: Option<u32> = None;
        for &addr in addrs {
            let bx = x.writes.get(&addr).copied().unwrap_or_else(|| s.byte(addr));
            let by = y.writes.get(&addr).copied().unwrap_or_else(|| t.byte(addr));
            if bx != by && first_diff.is_none_or(|d| addr < d) {
                first_diff = Some(addr);
            }
        }
        if let Some(addr) = first_diff {
            let bx = x.writes.get(&addr).copied().unwrap_or_else(|| s.byte(addr));
            let by = y.writes.get(&addr).copied().unwrap_or_else(|| t.byte(addr));
            return Some(format!(
                "memory byte {addr:#08x} differs: {bx:#04x} vs {by:#04x}"
            ));
        }
        if x.pc != y.pc {
            return Some(format!("PC differs: {:#x} vs {:#x}", x.pc, y.pc));
        }
        let (cx, cy) = (x.sr & 0xFF, y.sr & 0xFF);
        (cx != cy).then(|| format!("CCR differs: {cx:#04x} vs {cy:#04x}"))
    }
}
