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
use std::sync::Arc;
use std::time::{Duration, Instant};

use pgvm_asm::Image;
use pgvm_isa::{Isa, Mode};
use pgvm_machine::{Exit, Machine, Psw, Reloc, StateView};
use pgvm_vmm::CP_WORDS;
use serde::Serialize;

use crate::guest::{GuestError, guest_of, words_needed};

mod levels;
mod monitor;
mod report;

use levels::{Layout, NestedExit, run_native, run_self};
pub use monitor::{
    CodeCheck, MONITOR_FILES, MonitorBuild, TimingUse, assemble_monitor, check_code,
};
pub use report::{Deepest, Level, NestReport};
use report::{differences, monitor_level};

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
    /// The size of the first machine the assembly monitors see (the real machine, or the
    /// host-side monitor's VM), in words.
    pub words: u64,
    /// That machine's memory, as the runs of 64-word chunks that hold a non-zero word with
    /// their addresses: all a fresh machine (zero everywhere) needs written. A nested image
    /// is mostly the zeros of the windows; finding its words once, here, spares each run a
    /// scan of all of them, and touching them would cost a page fault per page of host memory.
    pub segments: Vec<(u64, Vec<u64>)>,
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
            words: first_words,
            segments: nonzero_runs(&image),
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
        let n = run_self(isa, self, &layout, budget)?;
        Ok((
            n.per_level.iter().sum(),
            matches!(n.exit, NestedExit::Halted),
        ))
    }
}

/// The runs of 64-word chunks of `image` that hold a non-zero word, with their addresses.
fn nonzero_runs(image: &[u64]) -> Vec<(u64, Vec<u64>)> {
    const CHUNK: usize = 64;
    let mut runs: Vec<(u64, Vec<u64>)> = Vec::new();
    for (i, c) in image.chunks(CHUNK).enumerate() {
        if c.iter().all(|&w| w == 0) {
            continue;
        }
        let org = (i * CHUNK) as u64;
        match runs.last_mut() {
            Some((at, words)) if *at + words.len() as u64 == org => words.extend_from_slice(c),
            _ => runs.push((org, c.to_vec())),
        }
    }
    runs
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
        first_entry,
        ..
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
        L0::SelfHosted => run_self(isa, &nested_image, &layout, budget)?,
        L0::Native => run_native(isa, &nested_image, &layout, budget)?,
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
    let differences = differences(&bare, bare_exit, &nested, window, vpsw);

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
        let mut l = monitor_level(isa, &nested.memory, base);
        l.level = level;
        l.words = opts.q - base;
        l.instructions = nested.per_level[level as usize];
        levels.push(l);
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

#[cfg(test)]
mod tests {
    use super::nonzero_runs;

    #[test]
    fn the_runs_hold_every_non_zero_word_and_skip_the_zero_chunks() {
        let mut image = vec![0u64; 64 * 10];
        image[3] = 1; // chunk 0
        image[64 + 63] = 2; // chunk 1, joined to chunk 0
        image[64 * 5] = 3; // chunk 5, a run of its own
        let runs = nonzero_runs(&image);
        assert_eq!(
            runs.iter()
                .map(|(at, w)| (*at, w.len()))
                .collect::<Vec<_>>(),
            vec![(0, 128), (320, 64)]
        );
        let mut back = vec![0u64; image.len()];
        for (at, words) in &runs {
            back[*at as usize..*at as usize + words.len()].copy_from_slice(words);
        }
        assert_eq!(back, image);
    }
}
