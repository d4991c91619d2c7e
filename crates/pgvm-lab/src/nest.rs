//! Recursive virtualization (Theorem 2, DESIGN.md §4b): the monitor of `guests/vmm/`, a
//! program of the machine itself, nested under itself to depth `n` with a guest innermost,
//! and the guest's final state compared with its bare run on a machine of the same `w`.
//!
//! The nested image is built here, level by level: monitor 0 at physical 0, monitor `i` at
//! `i * VMM_K` (it is word 0 of monitor `i - 1`'s guest), the guest at `n * VMM_K`; each
//! monitor's header holds its guest's entry PSW. With [`L0::Native`] the host-side Rust monitor
//! is level 0 instead, and the assembly monitors start in its one VM.
//!
//! Every level is measured: the real machine's instructions are split by the level whose code
//! executed them (a level's code runs with a real `R.l` in its own band of `VMM_K` words, and
//! `R` only changes through level 0, which the run loop sees), and each assembly monitor
//! counts the traps it handled in its header.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pgvm_asm::{Image, Listing, MemorySources};
use pgvm_classify::{Class, Config};
use pgvm_isa::{Isa, Mode};
use pgvm_machine::{Devices, Exit, Machine, Processor, Psw, Reloc, StateView, TrapPolicy, cycle};
use pgvm_vmm::{CP_WORDS, Host, Monitor, TechniqueKind, VmExit};
use serde::Serialize;

use crate::guest::{GuestError, guest_of, words_needed};

/// The control program's words: each monitor owns `0..VMM_K` of its machine, its guest the
/// rest (`VMM_K` in `guests/vmm/monitor.s`).
pub const VMM_K: u64 = 0x400;

/// Where a monitor keeps what the nesting tool writes and reads (`guests/vmm/monitor.s`).
mod header {
    pub const GENTRY: u64 = 0x10;
    pub const VPSW: u64 = 0x11;
    pub const NTRAP: u64 = 0x13;
    pub const NPEEK: u64 = 0x14;
    pub const NREFL: u64 = 0x15;
    pub const NSTEP: u64 = 0x16;
    pub const NVINT: u64 = 0x17;
    pub const BYOP: u64 = 0x20;
}

/// The monitor's sources, as `guests/vmm/` holds them: (path relative to it, text).
pub const MONITOR_FILES: &[(&str, &str)] = &[
    ("monitor.s", include_str!("../../../guests/vmm/monitor.s")),
    (
        "arch/s370.s",
        include_str!("../../../guests/vmm/arch/s370.s"),
    ),
    ("s370.s", include_str!("../../../guests/vmm/s370.s")),
    ("arch/ppc.s", include_str!("../../../guests/vmm/arch/ppc.s")),
    ("ppc.s", include_str!("../../../guests/vmm/ppc.s")),
    (
        "arch/m68k.s",
        include_str!("../../../guests/vmm/arch/m68k.s"),
    ),
    ("m68010.s", include_str!("../../../guests/vmm/m68010.s")),
];

/// The profiles the monitor is written for: the build file of each.
const BUILDS: &[(&str, &str)] = &[("s370", "s370.s"), ("ppc", "ppc.s"), ("m68010", "m68010.s")];

/// What runs at level 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum L0 {
    /// The assembly monitor runs bare on the real machine.
    #[serde(rename = "self")]
    SelfHosted,
    /// The host-side monitor (`pgvm-vmm`, trap-and-emulate) hosts the assembly monitor.
    Native,
}

impl L0 {
    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            L0::SelfHosted => "self",
            L0::Native => "native",
        }
    }
}

/// Why a nested run could not be made.
#[derive(Debug, thiserror::Error)]
pub enum NestError {
    /// No assembly monitor for this profile.
    #[error(
        "No assembly monitor for `{isa}`: guests/vmm/ has one for {have}\n  hint: pass --isa with one of those, or a profile that extends one"
    )]
    NoMonitor {
        /// The profile.
        isa: String,
        /// The profiles that have one.
        have: String,
    },
    /// The monitor's own profile does not load.
    #[error("The monitor's profile does not load: {0}")]
    Profile(String),
    /// The monitor's source does not assemble.
    #[error("The monitor does not assemble: {0}")]
    Asm(#[from] pgvm_asm::AsmError),
    /// The monitor's image reaches into its guest's memory.
    #[error("The monitor's image needs {0} words, more than its {VMM_K}")]
    MonitorTooLarge(u64),
    /// A label the nesting tool needs is missing from the monitor.
    #[error("The monitor has no label `{0}`")]
    MissingLabel(&'static str),
    /// The depth asked for.
    #[error("The depth must be at least 1, not {0}")]
    Depth(u32),
    /// The memory is too small for the depth.
    #[error(
        "Depth {depth} needs at least {needed} words ({monitors} and the guest's {guest}); the machine has {q}\n  hint: pass --mem {needed} or more, or a smaller --depth"
    )]
    TooSmall {
        /// The depth asked for.
        depth: u32,
        /// Words needed.
        needed: u64,
        /// What the monitors take, in words.
        monitors: String,
        /// The guest's image.
        guest: u64,
        /// The memory given.
        q: u64,
    },
    /// A memory size no machine has.
    #[error("Memory size {0} is out of range (1 to {max} words)", max = pgvm_machine::MAX_WORDS)]
    Memory(u64),
    /// The guest cannot start in the memory left for it.
    #[error(transparent)]
    Guest(#[from] GuestError),
    /// The real machine or the host-side monitor could not be built.
    #[error(transparent)]
    Machine(#[from] pgvm_machine::MachineError),
    /// The host-side monitor refused the VM.
    #[error(transparent)]
    Vmm(#[from] pgvm_vmm::VmmError),
    /// The bare run never stops, so there is no point to compare at.
    #[error(
        "The guest did not halt within {0} instructions on the bare machine\n  hint: nesting compares at the halt; pass a larger --max-steps"
    )]
    NoHalt(u64),
}

/// The monitor assembled for one profile.
#[derive(Debug, Clone)]
pub struct MonitorBuild {
    /// The build file (relative to `guests/vmm/`).
    pub file: String,
    /// Its image.
    pub image: Image,
    /// Its labels and source lines.
    pub listing: Listing,
    /// The files it was assembled from.
    files: Vec<(String, String)>,
}

impl MonitorBuild {
    fn label(&self, name: &'static str) -> Result<u64, NestError> {
        self.listing
            .labels()
            .find(|(_, n)| *n == name)
            .map(|(a, _)| a)
            .ok_or(NestError::MissingLabel(name))
    }
}

/// The profile and build file for `isa`: its own, or the nearest ancestor's.
fn build_file(isa: &Isa) -> Option<(&'static str, &'static str)> {
    std::iter::once(&isa.name)
        .chain(isa.ancestors.iter())
        .find_map(|n| BUILDS.iter().find(|(p, _)| p == n).copied())
}

/// Assembles the monitor for `isa` from `files` (normally [`MONITOR_FILES`]; a test passes a
/// changed copy).
pub fn assemble_monitor(isa: &Isa, files: &[(&str, &str)]) -> Result<MonitorBuild, NestError> {
    let Some((profile, file)) = build_file(isa) else {
        return Err(NestError::NoMonitor {
            isa: isa.name.clone(),
            have: BUILDS
                .iter()
                .map(|(p, _)| *p)
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    // A profile that extends the monitor's runs it as its ancestor assembles it: extending
    // keeps every inherited instruction's encoding.
    let own;
    let asm_isa = if isa.name == profile {
        isa
    } else {
        own = pgvm_isa::load(profile).map_err(|e| NestError::Profile(e.to_string()))?;
        &own
    };
    let sources = MemorySources::new(files.iter().copied());
    let (image, listing) = pgvm_asm::assemble_from_listed(Path::new(file), &sources, asm_isa)?;
    let needed = words_needed(&image);
    if needed > VMM_K {
        return Err(NestError::MonitorTooLarge(needed));
    }
    Ok(MonitorBuild {
        file: file.to_string(),
        image,
        listing,
        files: files
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
    })
}

/// One instruction of the monitor's code that depends on time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimingUse {
    /// Where, in the monitor's words.
    pub at: u64,
    /// The instruction.
    pub mnemonic: String,
}

/// The Theorem 2 check of the monitor's own code: every word assembled from an instruction
/// line, decoded, against the classifier's timing-dependent class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CodeCheck {
    /// Instruction words in the monitor.
    pub instructions: u64,
    /// Distinct instructions it uses.
    pub mnemonics: Vec<String>,
    /// The ones the classifier calls timing-dependent, where they are (none: the monitor
    /// has no timing dependency, condition (b) of Theorem 2 by construction).
    pub timing_dependent: Vec<TimingUse>,
}

/// Checks that the monitor's code executes no timing-dependent instruction.
pub fn check_code(isa: &Isa, build: &MonitorBuild) -> CodeCheck {
    let mut used: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    let mut instructions = 0;
    for seg in &build.image.segments {
        for (i, &word) in seg.words.iter().enumerate() {
            let pa = seg.org + i as u64;
            if !is_instruction_line(isa, build, pa) {
                continue;
            }
            if let Some(id) = isa.decode(word) {
                instructions += 1;
                used.entry(id).or_default().push(pa);
            }
        }
    }
    let config = Config::default();
    let mut timing_dependent = Vec::new();
    for (&id, places) in &used {
        if pgvm_classify::classify_insn(isa, id, &config).is(Class::TimingDependent) {
            timing_dependent.extend(places.iter().map(|&at| TimingUse {
                at,
                mnemonic: isa.insns[id].mnemonic.clone(),
            }));
        }
    }
    CodeCheck {
        instructions,
        mnemonics: used
            .keys()
            .map(|&id| isa.insns[id].mnemonic.clone())
            .collect(),
        timing_dependent,
    }
}

/// Whether the word at `pa` was assembled from an instruction (its line's first word, after
/// any label, is a mnemonic), not from data.
fn is_instruction_line(isa: &Isa, build: &MonitorBuild, pa: u64) -> bool {
    let Some(line) = build.listing.line_at(pa) else {
        return false;
    };
    let Some((_, text)) = build
        .files
        .iter()
        .find(|(name, _)| line.file.ends_with(name.as_str()))
    else {
        return false;
    };
    let Some(src) = text.lines().nth(line.line as usize - 1) else {
        return false;
    };
    let code = src.split(';').next().unwrap_or("");
    let code = match code.split_once(':') {
        Some((label, rest)) if !label.contains(char::is_whitespace) => rest,
        _ => code,
    };
    code.split_whitespace()
        .next()
        .is_some_and(|m| isa.insns.iter().any(|i| i.mnemonic == m))
}

/// What to nest.
#[derive(Debug, Clone)]
pub struct NestOptions {
    /// Monitor levels: the guest runs at level `depth`.
    pub depth: u32,
    /// What runs at level 0.
    pub l0: L0,
    /// The real machine's words.
    pub q: u64,
    /// Instructions the bare run may take to halt. The nested run may take
    /// [`nested_budget`] of the bare run's count.
    pub max_steps: u64,
}

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
    /// Of those, the ones a look ahead after another emulation found and emulated without a
    /// trap of their own: `traps + peeked = emulated + reflected`.
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

/// The words a guest of `image` and `depth` monitor levels need.
fn words_for(depth: u32, l0: L0, guest: u64) -> u64 {
    let asm_levels = match l0 {
        L0::SelfHosted => u64::from(depth),
        L0::Native => u64::from(depth) - 1,
    };
    let host = if l0 == L0::Native { CP_WORDS } else { 0 };
    host + asm_levels * VMM_K + guest
}

fn deepest(q: u64, l0: L0, guest: u64) -> u64 {
    let host = if l0 == L0::Native { CP_WORDS } else { 0 };
    let levels = q.saturating_sub(host + guest) / VMM_K;
    levels + u64::from(l0 == L0::Native)
}

/// The nested image: every assembly monitor at its level, each header holding the entry PSW
/// of the level inside it, and the guest innermost.
#[derive(Debug, Clone)]
pub struct NestedImage {
    /// Monitor levels.
    pub depth: u32,
    /// Words the host-side monitor keeps below the first assembly monitor (0 when none).
    pub host: u64,
    /// Assembly monitors.
    pub asm_levels: u64,
    /// Where the guest's `E[0]` is, in real words.
    pub gbase: u64,
    /// The guest's memory.
    pub w: u64,
    /// The guest, as the bare machine and the innermost monitor start it.
    pub guest: crate::guest::Guest,
    /// The words of the first machine the assembly monitors see (the real machine's, or
    /// the host-side monitor's VM).
    pub image: Vec<u64>,
    /// Where that machine starts.
    pub first_entry: Psw,
}

impl NestedImage {
    /// Checks the depth and the memory, and builds the image.
    pub fn new(
        guest: &Image,
        build: &MonitorBuild,
        opts: &NestOptions,
    ) -> Result<NestedImage, NestError> {
        let n = opts.depth;
        if n == 0 {
            return Err(NestError::Depth(n));
        }
        if opts.q == 0 || opts.q > pgvm_machine::MAX_WORDS {
            return Err(NestError::Memory(opts.q));
        }
        let gneed = words_needed(guest);
        let needed = words_for(n, opts.l0, gneed);
        if needed > opts.q {
            let asm = match opts.l0 {
                L0::SelfHosted => n,
                L0::Native => n - 1,
            };
            let mut monitors = format!(
                "{asm} assembly monitor{} of {VMM_K} words",
                if asm == 1 { "" } else { "s" }
            );
            if opts.l0 == L0::Native {
                monitors = format!("the host monitor's {CP_WORDS} words, {monitors}");
            }
            return Err(NestError::TooSmall {
                depth: n,
                needed,
                monitors,
                guest: gneed,
                q: opts.q,
            });
        }
        let host = if opts.l0 == L0::Native { CP_WORDS } else { 0 };
        let asm_levels = u64::from(n) - u64::from(opts.l0 == L0::Native);
        let gbase = host + asm_levels * VMM_K;
        let w = opts.q - gbase;
        let g = guest_of(guest, w)?;
        let boot = build.label("m_boot")?;
        let first_words = opts.q - host;
        let mut image = vec![0u64; first_words as usize];
        for i in 0..asm_levels {
            let base = i * VMM_K;
            for s in &build.image.segments {
                for (k, &word) in s.words.iter().enumerate() {
                    image[(base + s.org) as usize + k] = word;
                }
            }
            let entry = if i + 1 < asm_levels {
                Psw {
                    mode: Mode::Supervisor,
                    p: boot,
                    r: Reloc {
                        l: 0,
                        b: first_words - (i + 1) * VMM_K,
                    },
                }
            } else {
                g.entry
            };
            image[(base + header::GENTRY) as usize] = entry.pack();
        }
        for (org, words) in &g.segments {
            let at = (asm_levels * VMM_K + org) as usize;
            image[at..at + words.len()].copy_from_slice(words);
        }
        let first_entry = if asm_levels == 0 {
            g.entry
        } else {
            Psw {
                mode: Mode::Supervisor,
                p: boot,
                r: Reloc {
                    l: 0,
                    b: first_words,
                },
            }
        };
        Ok(NestedImage {
            depth: n,
            host,
            asm_levels,
            gbase,
            w,
            guest: g,
            image,
            first_entry,
        })
    }

    /// Runs the image with the assembly monitor at level 0, for at most `budget` real
    /// instructions, and returns the real instructions executed and whether it halted: the
    /// nested run alone, without the bare run or any comparison (for benchmarks).
    pub fn run_self(&self, isa: &Arc<Isa>, budget: u64) -> Result<(u64, bool), NestError> {
        let layout = Layout {
            depth: self.depth,
            host: self.host,
        };
        let n = run_self(isa, &self.image, self.first_entry, &layout, budget)?;
        Ok((
            n.per_level.iter().sum(),
            matches!(n.exit, NestedExit::Halted),
        ))
    }
}

/// Builds the nested image, runs it and the bare guest, and compares them.
pub fn run(
    isa: &Arc<Isa>,
    guest: &Image,
    build: &MonitorBuild,
    opts: &NestOptions,
) -> Result<NestReport, NestError> {
    let gneed = words_needed(guest);
    let nested_image = NestedImage::new(guest, build, opts)?;
    let NestedImage {
        depth: n,
        host,
        asm_levels,
        gbase,
        w,
        guest: ref g,
        ref image,
        first_entry,
    } = nested_image;

    // The bare run, on a machine of the guest's w.
    let mut bare = Machine::new(isa.clone(), w)?;
    for (org, words) in &g.segments {
        bare.write(*org, words)?;
    }
    bare.set_psw(g.entry);
    let t = Instant::now();
    let bare_exit = bare.run(opts.max_steps);
    let bare_ns = t.elapsed();
    if !matches!(bare_exit, Exit::Halted | Exit::Stuck) {
        return Err(NestError::NoHalt(opts.max_steps));
    }

    let budget = nested_budget(bare.steps(), n);
    let layout = Layout { depth: n, host };
    let t = Instant::now();
    let nested = match opts.l0 {
        L0::SelfHosted => run_self(isa, image, first_entry, &layout, budget)?,
        L0::Native => run_native(isa, image, first_entry, &layout, budget)?,
    };
    let nested_ns = t.elapsed();

    // The comparison at the halt.
    let window = &nested.memory[gbase as usize..(gbase + w) as usize];
    let vpsw = if asm_levels == 0 {
        nested.host_vpsw.unwrap_or(first_entry)
    } else {
        let inner = (asm_levels - 1) * VMM_K + host;
        Psw::unpack(nested.memory[(inner + header::VPSW) as usize])
    };
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

    // Per level.
    let mut levels = Vec::new();
    if opts.l0 == L0::Native {
        let c = nested.host_counts.clone().unwrap_or_default();
        levels.push(Level {
            level: 0,
            role: "host monitor",
            base: 0,
            words: opts.q,
            instructions: 0,
            traps: c.emulated + c.reflected,
            emulated: c.emulated,
            peeked: 0,
            reflected: c.reflected,
            single_steps: 0,
            timer_interrupts: c.interrupts,
            emulated_by_mnemonic: c.emulated_by_mnemonic,
        });
    }
    for i in 0..asm_levels {
        let level = u32::try_from(i).unwrap_or(u32::MAX) + u32::from(opts.l0 == L0::Native);
        let base = host + i * VMM_K;
        let h = |off: u64| nested.memory[(base + off) as usize];
        // The monitor counts each emulation once, by opcode (one instruction on its hot
        // paths instead of two): the total is the sum.
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
        levels.push(Level {
            level,
            role: "monitor",
            base,
            words: opts.q - base,
            instructions: nested.per_level[level as usize],
            traps: h(header::NTRAP),
            emulated,
            peeked: h(header::NPEEK),
            reflected: h(header::NREFL),
            single_steps: h(header::NSTEP),
            timer_interrupts: h(header::NVINT),
            emulated_by_mnemonic: by,
        });
    }
    levels.push(Level {
        level: n,
        role: "guest",
        base: gbase,
        words: w,
        instructions: nested.per_level[n as usize],
        traps: 0,
        emulated: 0,
        peeked: 0,
        reflected: 0,
        single_steps: 0,
        timer_interrupts: 0,
        emulated_by_mnemonic: BTreeMap::new(),
    });
    let guest_privileged = levels[levels.len() - 2].emulated;
    let l0_traps = match opts.l0 {
        L0::SelfHosted => nested.l0_traps,
        L0::Native => levels[0].traps + levels[0].timer_interrupts,
    };
    let nested_instructions: u64 = nested.per_level.iter().sum();
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    Ok(NestReport {
        isa: isa.name.clone(),
        monitor: build.file.clone(),
        depth: n,
        l0: opts.l0,
        q: opts.q,
        w,
        equivalent: differences.is_empty(),
        differences,
        bare_instructions: bare.steps(),
        bare_ns: nanos(bare_ns),
        nested_instructions,
        nested_ns: nanos(nested_ns),
        nested_exit: nested.exit.text().to_string(),
        levels,
        guest_privileged,
        l0_traps,
        amplification: ratio(l0_traps as f64, guest_privileged as f64),
        slowdown_instructions: ratio(nested_instructions as f64, bare.steps() as f64),
        slowdown_time: ratio(nested_ns.as_secs_f64(), bare_ns.as_secs_f64()),
        console: String::from_utf8_lossy(bare.output()).into_owned(),
        code: check_code(isa, build),
        deepest: Deepest {
            this: deepest(opts.q, opts.l0, gneed),
            default: deepest(pgvm_machine::DEFAULT_WORDS, opts.l0, gneed),
            largest: deepest(pgvm_machine::MAX_WORDS, opts.l0, gneed),
        },
    })
}

/// The real instructions a nested run may take for a guest whose bare run took `bare`: a
/// thousand times as many, four times more per level (single-stepping a timed guest costs
/// a few dozen instructions a level), so that only a monitor that loops gives up.
pub fn nested_budget(bare: u64, depth: u32) -> u64 {
    let per_level = 4u64.saturating_pow(depth);
    bare.max(1000)
        .saturating_mul(1000)
        .saturating_mul(per_level)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
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

/// Where the levels are.
#[derive(Debug, Clone, Copy)]
struct Layout {
    depth: u32,
    /// Words the host-side monitor keeps below the first assembly monitor (0 when none).
    host: u64,
}

impl Layout {
    /// The level whose code runs with real PSW `psw`: level 0's own code runs in supervisor
    /// mode; assembly monitor `i` runs with `R.l` at its base, the guest above them all.
    fn level(&self, psw: Psw) -> usize {
        let first = u64::from(self.host > 0);
        if psw.mode == Mode::Supervisor && self.host == 0 {
            return 0;
        }
        let band = psw.r.l.saturating_sub(self.host) / VMM_K;
        (first + band).min(u64::from(self.depth)) as usize
    }
}

enum NestedExit {
    Halted,
    Stuck,
    Budget,
    Escaped,
}

impl NestedExit {
    fn text(&self) -> &'static str {
        match self {
            NestedExit::Halted => "halted",
            NestedExit::Stuck => "stuck",
            NestedExit::Budget => "step limit",
            NestedExit::Escaped => "escaped",
        }
    }
}

struct Nested {
    memory: Vec<u64>,
    console: Vec<u8>,
    per_level: Vec<u64>,
    exit: NestedExit,
    l0_traps: u64,
    host_vpsw: Option<Psw>,
    host_counts: Option<pgvm_vmm::Counts>,
}

/// Level 0 is the assembly monitor on the real machine. The machine hands every trap to
/// this loop, which takes it exactly as the hardware would (`cycle::trap`), so that each
/// stretch of instructions runs with one `R` and is counted for its level.
fn run_self(
    isa: &Arc<Isa>,
    image: &[u64],
    entry: Psw,
    layout: &Layout,
    budget: u64,
) -> Result<Nested, NestError> {
    let mut m = Machine::new(isa.clone(), image.len() as u64)?;
    for (org, words) in nonzero_chunks(image) {
        m.write(org, words)?;
    }
    m.set_psw(entry);
    // The hardware takes every trap and interrupt: level 0 is the assembly monitor.
    m.set_trap_policy(TrapPolicy::Hardware);
    let mut per_level = vec![0u64; layout.depth as usize + 1];
    let exit = m.run_observed(budget, |psw, n| per_level[layout.level(psw)] += n);
    let exit = match exit {
        Exit::Halted => NestedExit::Halted,
        Exit::Stuck => NestedExit::Stuck,
        Exit::BudgetSpent => NestedExit::Budget,
        // Neither comes back under the hardware's policy; named for completeness.
        Exit::Trapped(_) | Exit::Escaped => NestedExit::Escaped,
    };
    let l0_traps = m.stats().traps() + m.stats().interrupts;
    Ok(Nested {
        console: m.output().to_vec(),
        memory: m.into_memory(),
        per_level,
        exit,
        l0_traps,
        host_vpsw: None,
        host_counts: None,
    })
}

/// The real machine under the host-side monitor, counting each stretch it runs for the level
/// whose code ran it (the monitor changes `R` only between stretches).
#[derive(Debug)]
struct LevelHost {
    machine: Machine,
    layout: Layout,
    per_level: Vec<u64>,
}

impl StateView for LevelHost {
    fn size(&self) -> u64 {
        self.machine.size()
    }
    fn load(&self, pa: u64) -> u64 {
        self.machine.load(pa)
    }
    fn store(&mut self, pa: u64, value: u64) {
        self.machine.store(pa, value);
    }
    fn psw(&self) -> Psw {
        self.machine.psw()
    }
    fn set_psw(&mut self, psw: Psw) {
        self.machine.set_psw(psw);
    }
    fn assist(&self) -> bool {
        StateView::assist(&self.machine)
    }
    fn set_assist(&mut self, on: bool) {
        self.machine.set_assist(on);
    }
    pgvm_machine::device_methods!(Processor);
}

impl Processor for LevelHost {
    fn devices(&self) -> &Devices {
        Processor::devices(&self.machine)
    }
    fn devices_mut(&mut self) -> &mut Devices {
        Processor::devices_mut(&mut self.machine)
    }
    fn timer_class(&self) -> u64 {
        self.machine.timer_class()
    }
    fn note(&mut self, event: cycle::Event) {
        self.machine.note(event);
    }
}

impl Host for LevelHost {
    fn hand_traps_to_monitor(&mut self) {
        self.machine.set_trap_policy(TrapPolicy::Exit);
    }
    fn run(&mut self, budget: u64) -> Exit {
        let level = self.layout.level(self.machine.psw());
        let before = self.machine.steps();
        let exit = self.machine.run(budget);
        self.per_level[level] += self.machine.steps() - before;
        exit
    }
    fn memory(&self) -> &[u64] {
        self.machine.memory()
    }
}

/// The image's chunks that hold a non-zero word, with their addresses: all a fresh machine
/// (zero everywhere) needs written. A nested image is mostly the zeros of the windows, and
/// touching them would cost a page fault per page of host memory.
fn nonzero_chunks(image: &[u64]) -> impl Iterator<Item = (u64, &[u64])> {
    const CHUNK: usize = 64;
    image
        .chunks(CHUNK)
        .enumerate()
        .filter(|(_, c)| c.iter().fold(0, |acc, &w| acc | w) != 0)
        .map(|(i, c)| ((i * CHUNK) as u64, c))
}

/// Level 0 is the host-side monitor: the assembly monitors and the guest are its one VM.
fn run_native(
    isa: &Arc<Isa>,
    image: &[u64],
    entry: Psw,
    layout: &Layout,
    budget: u64,
) -> Result<Nested, NestError> {
    let q = layout.host + image.len() as u64;
    let host = LevelHost {
        machine: Machine::new(isa.clone(), q)?,
        layout: *layout,
        per_level: vec![0; layout.depth as usize + 1],
    };
    let mut mon = Monitor::on(isa.clone(), host, TechniqueKind::Tae.build::<LevelHost>());
    let chunks: Vec<_> = nonzero_chunks(image).collect();
    let id = mon.create_vm(image.len() as u64, &chunks, entry)?;
    let mut left = budget;
    let exit = loop {
        let before = mon.vm(id).steps();
        let e = mon.run_vm(id, left.min(1 << 24));
        left = left.saturating_sub(mon.vm(id).steps() - before);
        match e {
            VmExit::Halted => break NestedExit::Halted,
            VmExit::Stuck => break NestedExit::Stuck,
            VmExit::Escaped => break NestedExit::Escaped,
            VmExit::BudgetSpent | VmExit::Trapped(_) if left == 0 => break NestedExit::Budget,
            VmExit::BudgetSpent | VmExit::Trapped(_) => {}
        }
    };
    let vm = mon.vm(id);
    let real = mon.real();
    let mut memory = vec![0u64; layout.host as usize];
    memory.extend_from_slice(mon.window(id));
    Ok(Nested {
        memory,
        console: vm.console().to_vec(),
        per_level: real.per_level.clone(),
        exit,
        l0_traps: 0,
        host_vpsw: Some(vm.psw()),
        host_counts: Some(vm.counts.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The code check finds a clock read where one is, and only in instruction lines.
    #[test]
    fn the_code_check_finds_a_clock_read() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/isa/s370-stck.isa");
        let isa = pgvm_isa::load_file(&path).expect("the test profile loads");
        let src = "start: stck t\n    halt\nt: .word 0\n";
        let (image, listing) = pgvm_asm::assemble_str_listed("<t>", src, &isa).expect("assembles");
        let build = MonitorBuild {
            file: "<t>".into(),
            image,
            listing,
            files: vec![("<t>".into(), src.into())],
        };
        let check = check_code(&isa, &build);
        assert_eq!(check.instructions, 2, "the data word is not an instruction");
        assert_eq!(
            check.timing_dependent,
            vec![TimingUse {
                at: 0,
                mnemonic: "stck".into()
            }]
        );
    }

    #[test]
    fn the_monitors_read_no_clock() {
        for name in ["s370", "ppc", "m68010"] {
            let isa = pgvm_isa::load(name).expect("loads");
            let build = assemble_monitor(&isa, MONITOR_FILES).expect("assembles");
            let check = check_code(&isa, &build);
            assert!(check.instructions > 150, "{name}: {}", check.instructions);
            assert!(check.timing_dependent.is_empty(), "{name}: {check:?}");
        }
    }
}
