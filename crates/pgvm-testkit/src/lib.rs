//! Shared generators for pgvm's tests: random and hostile guest programs.
//!
//! Several test suites need the same thing, a guest program drawn at random from an ISA
//! description, and each used to carry its own copy of the generator. One copy here means a
//! fix or a sharper distribution reaches every suite at once.
//!
//! The small helpers of hand-written tests live here too, once: [`PROFILES`], [`isa`],
//! [`enc`], [`supervisor`] and [`psw`]. A test or bench that needs one takes it from here
//! rather than writing its own. Two places cannot:
//! `pgvm-isa` and `pgvm-machine`'s own unit tests, which would then see two copies of their
//! crate's types; the CLI's helpers for running the binary stay in `crates/pgvm/tests/common`,
//! the one suite that runs it, and the monitor's tests convert a [`Program`] to their `Guest`
//! in `crates/pgvm-vmm/tests/common`.
//!
//! Every generator is a pure function of the ISA and a seed. A failing case is reproduced
//! from the seed printed beside it, with no proptest state and no file to keep.
//!
//! - [`random_guest`]: mostly instructions with small operands (so that most addresses
//!   develop), data words, a trap vector that keeps execution going and a random PSW. It is
//!   meant for comparing two runs of the same program (engine against interpreter, bare
//!   against virtualized).
//! - [`hostile_guest`]: a program that attacks its monitor. It loads `R` and the PSW from
//!   arbitrary words, stores and jumps far outside its window, rewrites its own code, spins
//!   in tight loops and traps in storms. It is meant for the isolation tests.

use std::sync::Arc;

use pgvm_isa::{InsnId, Isa, Mode};
use pgvm_machine::{Psw, REG_MAX, Reloc};

/// Every runnable built-in profile (the abstract `base` aside), for tests that cover them all.
pub const PROFILES: [&str; 7] = [
    "s370", "ppc", "pdp10", "m68000", "m68010", "ia32", "ia32-vt",
];

/// A built-in profile, shared. Panics with the loader's message: a test's own setup failing
/// is a test failure.
pub fn isa(name: &str) -> Arc<Isa> {
    Arc::new(pgvm_isa::load(name).unwrap_or_else(|e| panic!("{name}: {e}")))
}

/// One instruction word, from its mnemonic and operands, for hand-written test programs.
pub fn enc(isa: &Isa, mnemonic: &str, ops: &[i128]) -> u64 {
    let id = isa
        .insn(mnemonic)
        .unwrap_or_else(|| panic!("{} has no `{mnemonic}`", isa.name));
    isa.encode(id, ops)
        .unwrap_or_else(|e| panic!("{mnemonic}: {e}"))
}

/// A supervisor-mode PSW at `p` with `R = <0, w>`: where hand-written test programs start.
pub fn supervisor(p: u64, w: u64) -> Psw {
    psw(Mode::Supervisor, p, 0, w)
}

/// A small deterministic generator (xorshift64). A seed fixes every draw, so a failing case
/// reproduces from its seed on any machine, and a test needs no random-number crate.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`. The seed is scrambled first (one SplitMix64 step):
    /// xorshift's first draws from small, nearby seeds are nearly alike, and tests number their
    /// cases 0, 1, 2, ... Xorshift needs a non-zero state; SplitMix64 is a bijection, so only
    /// one seed maps to 0, and it gets 1 instead.
    pub fn new(seed: u64) -> Rng {
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        Rng(z.max(1))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n` (0 when `n` is 0, so that a degenerate range is not a panic).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// True once in `n` draws on average.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    /// Supervisor or user mode, evenly.
    pub fn mode(&mut self) -> Mode {
        if self.one_in(2) {
            Mode::User
        } else {
            Mode::Supervisor
        }
    }

    /// A value in `min..=max` (a field's range), drawn evenly.
    pub fn in_range(&mut self, min: i128, max: i128) -> i128 {
        let span = (max - min + 1).clamp(1, u64::MAX as i128) as u64;
        min + self.below(span) as i128
    }
}

/// A guest program as the generators produce it: `image` fills the whole guest memory
/// `E[0..w)` and execution starts from `entry`.
///
/// The testkit stops at the machine's types, so that the monitor's own tests can use it as a
/// dev-dependency without a cycle. `pgvm_vmm::Guest::whole(image, entry, input)` is the
/// monitor's guest for a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// The guest's memory size, in words.
    pub w: u64,
    /// `E[0..w)`, exactly `w` words.
    pub image: Vec<u64>,
    /// The PSW the program starts from.
    pub entry: Psw,
    /// Console input queued before the start.
    pub input: Vec<u8>,
}

/// A PSW from any components: each is cut to its 21-bit register, as `Psw::unpack` would.
/// Never fails, so generators need no `unwrap`.
pub fn psw(mode: Mode, p: u64, l: u64, b: u64) -> Psw {
    Psw {
        mode,
        p: p & REG_MAX,
        r: Reloc {
            l: l & REG_MAX,
            b: b & REG_MAX,
        },
    }
}

/// The memory size of every [`random_guest`] program.
pub const RANDOM_WORDS: u64 = 256;

/// A random program of [`RANDOM_WORDS`] words: mostly instructions with small operands (so
/// that most addresses develop) and now and then an operand anywhere in its field's range (so
/// that memory traps happen too), some data words and PSW words, a supervisor trap vector in
/// `E[1]` that keeps execution going, and a random entry PSW in either mode.
pub fn random_guest(isa: &Isa, seed: u64) -> Program {
    let mut rng = Rng::new(seed);
    let mut image = vec![0u64; RANDOM_WORDS as usize];
    for word in image.iter_mut() {
        *word = match rng.below(10) {
            0..=6 => {
                let id = rng.below(isa.insns.len() as u64) as usize;
                let insn = &isa.insns[id];
                let format = &isa.formats[insn.format];
                let ops: Vec<i128> = insn
                    .operands
                    .iter()
                    .map(|&f| {
                        let (min, max) = format.fields[f].range();
                        if rng.one_in(8) {
                            rng.in_range(min, max)
                        } else {
                            (rng.below(80) as i128).clamp(min, max)
                        }
                    })
                    .collect();
                isa.encode(id, &ops).unwrap_or(0)
            }
            7 => rng.below(8),
            8 => rng.next_u64(),
            _ => psw(Mode::User, rng.below(64), rng.below(64), rng.below(200)).pack(),
        };
    }
    image[1] = psw(Mode::Supervisor, rng.below(64), 0, RANDOM_WORDS).pack();
    let mode = rng.mode();
    let entry = psw(mode, rng.below(64), rng.below(40), 64 + rng.below(200));
    Program {
        w: RANDOM_WORDS,
        image,
        entry,
        input: b"xy".to_vec(),
    }
}

/// The memory size of every [`block_guest`] program.
pub const BLOCK_WORDS: u64 = 256;

/// Where a [`block_guest`] program's data cells start; its code is below them.
const BLOCK_DATA: u64 = 192;

/// The handlers of [`block_guest`] and [`loop_guest`] programs, and their vectors: the trap
/// handler skips the trapping instruction; the timer handler re-arms the timer with `timer`
/// (kept in `E[190]`) and resumes.
fn block_handlers(isa: &Isa, image: &mut [u64], timer: u64) {
    let enc = |m: &str, ops: &[i128]| -> Option<u64> { isa.encode(isa.insn(m)?, ops).ok() };
    let one_p = 1u64 << (2 * pgvm_machine::REG_BITS);
    let (th, ih) = (BLOCK_DATA - 8, BLOCK_DATA - 5);
    let words = [
        (th, enc("add", &[0, 0, (th + 2) as i128])),
        (th + 1, enc("lpsw", &[0])),
        (th + 2, Some(one_p)),
        (ih, enc("stmr", &[190])),
        (ih + 1, enc("lpsw", &[2])),
        (190, Some(timer)),
    ];
    for (at, word) in words {
        image[at as usize] = word.unwrap_or(0);
    }
    image[1] = psw(Mode::Supervisor, th, 0, BLOCK_WORDS).pack();
    image[3] = psw(Mode::Supervisor, ih, 0, BLOCK_WORDS).pack();
}

/// The prologue of [`block_guest`] and [`loop_guest`] programs, at 16: arm the timer, then
/// enter the code at 20, in user mode (where the timer interrupts) or supervisor mode.
fn block_prologue(isa: &Isa, image: &mut [u64], user: bool) {
    let enc = |m: &str, ops: &[i128]| -> Option<u64> { isa.encode(isa.insn(m)?, ops).ok() };
    let mode = if user { Mode::User } else { Mode::Supervisor };
    image[189] = psw(mode, 20, 0, BLOCK_WORDS).pack();
    image[16] = enc("stmr", &[190]).unwrap_or(0);
    image[17] = enc("lpsw", &[189]).unwrap_or(0);
}

/// A program that attacks a block engine: long straight lines of ALU instructions ending in
/// fused pairs (`addi` + `jnz`, compare + branch), with, inside those lines, stores into the
/// program's own later instructions (instruction words copied or loaded over them), `R` and
/// the PSW loaded mid-line, `div` and `rem` by zero, `jal` and `jr`, and an interval timer
/// re-armed by its own handler with small counts, so that interrupts fall due in the middle
/// of lines. Half the programs run in user mode (where the timer interrupts and the
/// privileged loads trap), half in supervisor mode (where the loads change `R` mid-line).
///
/// Layout: `E[0..4]` the trap and timer pairs, a prologue that arms the timer and enters the
/// code, the code, handlers, and data cells in `E[192..256)`, some holding instruction words
/// and code addresses.
pub fn block_guest(isa: &Isa, seed: u64) -> Program {
    let mut rng = Rng::new(seed);
    let w = BLOCK_WORDS;
    let mut image = vec![0u64; w as usize];
    let code_end = BLOCK_DATA - 8;
    let enc = |m: &str, ops: &[i128]| -> Option<u64> { isa.encode(isa.insn(m)?, ops).ok() };
    let data = |rng: &mut Rng| (BLOCK_DATA + rng.below(w - BLOCK_DATA)) as i128;
    let code = |rng: &mut Rng| (16 + rng.below(code_end - 16)) as i128;
    let timer = 1 + rng.below(40);
    block_handlers(isa, &mut image, timer);
    // Data cells: small numbers, instruction words, code addresses, PSW and R words.
    for a in BLOCK_DATA..w {
        image[a as usize] = match rng.below(8) {
            0..=3 => rng.below(20),
            4 => code(&mut rng) as u64,
            5 => image[16 + rng.below(code_end - 16) as usize],
            6 => Reloc {
                l: rng.below(3),
                b: w - rng.below(80),
            }
            .pack(),
            _ => rng.next_u64(),
        };
    }
    block_prologue(isa, &mut image, rng.one_in(2));
    let alu = [
        "add", "sub", "xor", "and", "or", "mul", "shl", "shr", "sar", "seq", "sltu", "slt",
    ];
    let mut i = 20;
    while i < code_end {
        let word = match rng.below(24) {
            0..=7 => {
                let m = alu[rng.below(alu.len() as u64) as usize];
                let a = if rng.one_in(12) {
                    code(&mut rng)
                } else {
                    data(&mut rng)
                };
                enc(m, &[a, data(&mut rng), data(&mut rng)])
            }
            8 | 9 => enc("addi", &[data(&mut rng), rng.below(5) as i128 - 2]),
            10 => {
                // A counted loop back to somewhere before: addi + jnz, the fused pair.
                let c = data(&mut rng);
                let back = (i - rng.below(6).min(i - 20)) as i128;
                image[i as usize] = enc("addi", &[c, -1]).unwrap_or(0);
                i += 1;
                if i >= code_end {
                    break;
                }
                enc(if rng.one_in(3) { "jz" } else { "jnz" }, &[c, back])
            }
            11 => {
                // Compare + branch.
                let t = data(&mut rng);
                let m = ["seq", "sltu", "slt"][rng.below(3) as usize];
                image[i as usize] = enc(m, &[t, data(&mut rng), data(&mut rng)]).unwrap_or(0);
                i += 1;
                if i >= code_end {
                    break;
                }
                enc(
                    if rng.one_in(2) { "jz" } else { "jnz" },
                    &[t, code(&mut rng)],
                )
            }
            12 => {
                // Self-modifying: an instruction word over a later instruction of the line.
                let target = (i + 1 + rng.below(4)) as i128;
                if rng.one_in(2) {
                    enc("mov", &[target, data(&mut rng)])
                } else {
                    let src = code(&mut rng);
                    enc("mov", &[target, src])
                }
            }
            13 => enc(
                "li",
                &[(i + 1 + rng.below(3)) as i128, rng.below(1 << 20) as i128],
            ),
            14 => enc(
                ["div", "rem"][rng.below(2) as usize],
                &[data(&mut rng), data(&mut rng), data(&mut rng)],
            ),
            15 => enc("jal", &[data(&mut rng), code(&mut rng)]),
            16 => enc("jr", &[data(&mut rng)]),
            17 => enc(["lrb", "lpsw"][rng.below(2) as usize], &[data(&mut rng)]),
            18 => enc("stmr", &[190]),
            19 => enc(
                ["ldx", "stx"][rng.below(2) as usize],
                &[data(&mut rng), data(&mut rng), data(&mut rng)],
            ),
            20 => enc("mov", &[data(&mut rng), data(&mut rng)]),
            21 => enc("jmp", &[code(&mut rng)]),
            22 => {
                let id = rng.below(isa.insns.len() as u64) as usize;
                let format = &isa.formats[isa.insns[id].format];
                let ops: Vec<i128> = isa.insns[id]
                    .operands
                    .iter()
                    .map(|&f| {
                        let (min, max) = format.fields[f].range();
                        data(&mut rng).clamp(min, max)
                    })
                    .collect();
                isa.encode(id, &ops).ok()
            }
            _ => enc("li", &[data(&mut rng), rng.below(8) as i128]),
        };
        image[i as usize] = word.unwrap_or(0);
        i += 1;
    }
    Program {
        w,
        image,
        entry: psw(Mode::Supervisor, 16, 0, w),
        input: b"ab".to_vec(),
    }
}

/// A program of counted loops whose bodies branch out to a detour and back, for a block
/// engine that runs a loop and its detours as one piece of native code: each loop is a
/// line of ALU instructions with a test (`and` or a comparison) and a conditional branch to
/// its detour in the middle, ending in `addi` + `jnz` back to its start, and each detour is
/// a short line that jumps back to its loop's start (sometimes elsewhere, or indirectly). A
/// loop may call a routine of its own from one or two places, which returns through `jr`.
/// Inside the lines: stores into the loop's or the detour's own code, indexed loads and
/// stores with indexes that leave the window, `div` by zero, `svc`, and, in user runs, the
/// timer's interrupts. Same layout and handlers as [`block_guest`].
pub fn loop_guest(isa: &Isa, seed: u64) -> Program {
    let mut rng = Rng::new(seed ^ 0x100b);
    let w = BLOCK_WORDS;
    let mut image = vec![0u64; w as usize];
    let code_end = BLOCK_DATA - 8;
    let enc = |m: &str, ops: &[i128]| -> Option<u64> { isa.encode(isa.insn(m)?, ops).ok() };
    let data = |rng: &mut Rng| (BLOCK_DATA + rng.below(w - BLOCK_DATA)) as i128;
    let timer = 20 + rng.below(200);
    block_handlers(isa, &mut image, timer);
    for a in BLOCK_DATA..w {
        image[a as usize] = match rng.below(6) {
            0..=3 => rng.below(50),
            4 => 16 + rng.below(code_end - 16),
            _ => rng.next_u64(),
        };
    }
    block_prologue(isa, &mut image, rng.one_in(2));
    let alu = [
        "add", "sub", "xor", "and", "or", "mul", "shr", "seq", "sltu", "slt",
    ];
    // An instruction of a loop's or a detour's line, which may write over `code` words.
    let body = |rng: &mut Rng, code: (u64, u64)| -> Option<u64> {
        match rng.below(20) {
            0..=9 => {
                let m = alu[rng.below(alu.len() as u64) as usize];
                enc(m, &[data(rng), data(rng), data(rng)])
            }
            10..=12 => enc("addi", &[data(rng), rng.below(7) as i128 - 3]),
            13 => enc("mov", &[data(rng), data(rng)]),
            14 => enc(
                ["ldx", "stx"][rng.below(2) as usize],
                &[data(rng), data(rng), data(rng)],
            ),
            15 if rng.one_in(3) => {
                // Over one of the lines' own words: an instruction word or a data word.
                let at = code.0 + rng.below(code.1 - code.0);
                enc("mov", &[at as i128, data(rng)])
            }
            16 if rng.one_in(4) => enc("div", &[data(rng), data(rng), data(rng)]),
            17 if rng.one_in(4) => enc("svc", &[0]),
            _ => enc("li", &[data(rng), rng.below(9) as i128]),
        }
    };
    // Loops from 20, detours after them, up to `code_end`.
    let loops = 1 + rng.below(3);
    let mut heads = Vec::new();
    let mut i = 20u64;
    let mut pending = Vec::new();
    // Each call's place and its loop.
    let mut calls: Vec<(u64, usize)> = Vec::new();
    for _ in 0..loops {
        let counter = data(&mut rng);
        image[i as usize] = enc("li", &[counter, 5 + rng.below(40) as i128]).unwrap_or(0);
        i += 1;
        let head = i;
        heads.push(head);
        let lines = (head, (head + 20).min(code_end));
        for _ in 0..rng.below(4) {
            image[i as usize] = body(&mut rng, lines).unwrap_or(0);
            i += 1;
        }
        // Calls to the loop's routine, from up to two places: its return alternates.
        for _ in 0..rng.below(3) {
            calls.push((i, heads.len() - 1));
            i += 1;
        }
        let t = data(&mut rng);
        let one = data(&mut rng);
        let test = ["and", "seq", "sltu"][rng.below(3) as usize];
        image[i as usize] = enc(test, &[t, t, one]).unwrap_or(0);
        image[i as usize + 1] = 0; // the branch, once the detour's place is known
        pending.push((i + 1, t, head));
        i += 2;
        for _ in 0..rng.below(4) {
            image[i as usize] = body(&mut rng, lines).unwrap_or(0);
            i += 1;
        }
        image[i as usize] = enc("addi", &[counter, -1]).unwrap_or(0);
        image[i as usize + 1] = enc("jnz", &[counter, head as i128]).unwrap_or(0);
        i += 2;
    }
    image[i as usize] = enc("halt", &[]).unwrap_or(0);
    i += 1;
    for (branch, t, head) in pending {
        let detour = i;
        let jump = if rng.one_in(2) { "jz" } else { "jnz" };
        image[branch as usize] = enc(jump, &[t, detour as i128]).unwrap_or(0);
        let lines = (head, (detour + 6).min(code_end));
        for _ in 0..rng.below(4) {
            if i + 2 >= code_end {
                break;
            }
            image[i as usize] = body(&mut rng, lines).unwrap_or(0);
            i += 1;
        }
        image[i as usize] = match rng.below(8) {
            0 => enc(
                "jmp",
                &[heads[rng.below(heads.len() as u64) as usize] as i128],
            ),
            1 => enc("jr", &[data(&mut rng)]),
            _ => enc("jmp", &[head as i128]),
        }
        .unwrap_or(0);
        i += 1;
    }
    // Each loop's routine, after the detours: a short line, then `jr` through its link word,
    // which a line may overwrite.
    for (k, &head) in heads.iter().enumerate() {
        if !calls.iter().any(|&(_, c)| c == k) || i + 4 >= code_end {
            continue;
        }
        let (routine, link) = (i, data(&mut rng));
        for _ in 0..rng.below(3) {
            image[i as usize] = body(&mut rng, (head, i + 3)).unwrap_or(0);
            i += 1;
        }
        image[i as usize] = enc("jr", &[link]).unwrap_or(0);
        i += 1;
        for &(at, _) in calls.iter().filter(|&&(_, c)| c == k) {
            image[at as usize] = enc("jal", &[link, routine as i128]).unwrap_or(0);
        }
    }
    Program {
        w,
        image,
        entry: psw(Mode::Supervisor, 16, 0, w),
        input: b"ab".to_vec(),
    }
}

/// The largest memory of a [`hostile_guest`] program, in words.
pub const HOSTILE_MAX_WORDS: u64 = 256;

/// Instructions of the base machine that attack a monitor most directly: they load `M` and
/// `R`, read the PSW, arm the timer, trap, halt, jump and store anywhere.
const CORE_HOSTILE: &[&str] = &[
    "lpsw", "lrb", "spsw", "stmr", "svc", "halt", "jmp", "jr", "stx", "mov", "ldx", "jal", "jz",
    "div", "out", "in",
];

/// The profiles' own sensitive, privileged or trapping instructions. A profile lacks most of
/// them; the generator skips what it lacks.
const PROFILE_HOSTILE: &[&str] = &[
    "rfi", "sc", "mtsr", "mtmsr", "mfsr", "mfmsr", "lctl", "stctl", "lra", "lgdt", "lidt", "lmsw",
    "popf", "pushf", "sgdt", "sidt", "str", "smsw", "rdtsc", "movetosr", "movesr", "jrstu",
    "jrstf", "jsp", "vmxon", "vmxoff",
];

/// Instructions that load `M`, `R` or the whole PSW from the cell their first operand names:
/// that cell gets an arbitrary word.
const LOADS_CONTROL: &[&str] = &[
    "lpsw", "lrb", "mtsr", "mtmsr", "lctl", "lgdt", "lidt", "lmsw", "popf", "movetosr", "jrstf",
    "stmr", "jr",
];

/// A hostile program, for isolation tests: everything a guest can do to escape its window,
/// take the processor or confuse its monitor, drawn at random.
///
/// - Memory of 1 to [`HOSTILE_MAX_WORDS`] words: sometimes too small to hold its own trap pair,
///   so that the monitor cannot reflect a trap into it.
/// - `lpsw`, `lrb` and the profiles' loads of `M` and `R`, with arbitrary 64-bit words in
///   their operand cells: any `R` at all, either mode, `P` anywhere.
/// - Stores (`mov`, `stx`, arithmetic) to addresses beyond the window and to the top of the
///   address field, indexed stores whose index wraps around 2^64, and stores into the program's
///   own next instruction.
/// - `jmp`, `jr` and `jal` far outside the window, and `jmp` to itself: a tight infinite loop.
/// - Half the time, a loop that sweeps stores from inside the window upwards past its end,
///   by an indexed store or by a `mov` that rewrites its own address field.
/// - `svc`, `halt` (in user mode it traps), `stmr` with random counts, the console devices.
/// - A random trap pair `E[0]`/`E[1]` and timer pair `E[2]`/`E[3]`: most often a handler
///   that resumes after the trapping instruction (so the program goes on through its attacks),
///   else a PSW into random code, garbage, or a PSW whose first fetch traps again (a trap
///   storm).
/// - A random entry PSW in either mode, usually inside the window, sometimes not.
pub fn hostile_guest(isa: &Isa, seed: u64) -> Program {
    let mut rng = Rng::new(seed);
    let w = match rng.below(10) {
        0 => 1 + rng.below(4),
        1 => HOSTILE_MAX_WORDS,
        _ => 5 + rng.below(HOSTILE_MAX_WORDS - 4),
    };
    let ids =
        |names: &[&str]| -> Vec<InsnId> { names.iter().filter_map(|m| isa.insn(m)).collect() };
    let mut g = Hostile {
        isa,
        rng,
        w,
        image: vec![0; w as usize],
        plants: Vec::new(),
        reserved: Vec::new(),
        core: ids(CORE_HOSTILE),
        profile: ids(PROFILE_HOSTILE),
    };
    for i in 0..w {
        let word = g.word(i);
        g.image[i as usize] = word;
    }
    // Operand cells get their arbitrary words after the code, so that later code does not
    // cover them; the trap pairs come last, so that their distribution is the one stated.
    for (at, value) in std::mem::take(&mut g.plants) {
        if let Some(cell) = g.image.get_mut(at as usize) {
            *cell = value;
        }
    }
    // Most programs get a handler that skips the trapping instruction, so that they go on
    // through all of their attacks instead of dying in their first trap storm.
    let new_trap = if g.rng.below(10) < 6 {
        g.skip_handler()
    } else {
        None
    };
    let new_trap = new_trap.unwrap_or_else(|| g.trap_psw());
    let new_timer = if g.rng.one_in(2) {
        g.resume_handler()
    } else {
        None
    };
    let new_timer = new_timer.unwrap_or_else(|| g.trap_psw());
    let sweep = if g.rng.one_in(2) { g.sweep() } else { None };
    let pairs = [g.arbitrary(), new_trap, g.arbitrary(), new_timer];
    for (cell, value) in g.image.iter_mut().zip(pairs) {
        *cell = value;
    }
    let mut entry = g.entry();
    if let Some(start) = sweep
        && g.rng.one_in(2)
    {
        entry.p = start;
        entry.r.l = 0;
    }
    let input = (0..g.rng.below(5))
        .map(|_| g.rng.next_u64() as u8)
        .collect();
    Program {
        w,
        image: g.image,
        entry,
        input,
    }
}

/// The state of one hostile draw.
struct Hostile<'a> {
    isa: &'a Isa,
    rng: Rng,
    w: u64,
    image: Vec<u64>,
    /// `(address, word)`: operand cells to fill once the code is laid out.
    plants: Vec<(u64, u64)>,
    /// `[start, end)` of the handlers and gadgets laid out so far.
    reserved: Vec<(u64, u64)>,
    core: Vec<InsnId>,
    profile: Vec<InsnId>,
}

impl Hostile<'_> {
    /// The word at guest address `i`.
    fn word(&mut self, i: u64) -> u64 {
        match self.rng.below(20) {
            0..=8 => {
                let pool = if self.profile.is_empty() || self.rng.below(3) != 0 {
                    &self.core
                } else {
                    &self.profile
                };
                match pool.get(self.rng.below(pool.len() as u64) as usize) {
                    Some(&id) => self.insn(id, i),
                    None => self.rng.next_u64(),
                }
            }
            9..=13 => {
                let id = self.rng.below(self.isa.insns.len() as u64) as usize;
                self.insn(id, i)
            }
            14 | 15 => self.rng.next_u64(),
            16 | 17 => self.psw_word(),
            _ => self.small(),
        }
    }

    /// Instruction `id` at address `i`, with hostile operands; its operand cells may be
    /// planted with words that make it as harmful as it can be.
    fn insn(&mut self, id: InsnId, i: u64) -> u64 {
        let isa = self.isa;
        let insn = &isa.insns[id];
        let format = &isa.formats[insn.format];
        let ops: Vec<i128> = insn
            .operands
            .iter()
            .map(|&f| {
                let field = &format.fields[f];
                let (min, max) = field.range();
                let v = if field.signed || field.name == "imm" {
                    self.target(i, min, max)
                } else {
                    self.address(i, max)
                };
                v.clamp(min, max)
            })
            .collect();
        let m = insn.mnemonic.as_str();
        let cell = |k: usize| ops.get(k).map(|&v| v as u64);
        if LOADS_CONTROL.contains(&m) {
            for k in 0..ops.len().min(2) {
                if let Some(a) = cell(k)
                    && !self.rng.one_in(4)
                {
                    // A timer that falls due soon, now and then: interrupts in the storm.
                    let v = if m == "stmr" && self.rng.one_in(2) {
                        1 + self.rng.below(50)
                    } else {
                        self.arbitrary()
                    };
                    self.plants.push((a, v));
                }
            }
        }
        if matches!(m, "stx" | "ldx")
            && let (Some(b), Some(c)) = (cell(1), cell(2))
        {
            // E[b] + E[c] wraps around 2^64 or lands beyond the window.
            let base = match self.rng.below(4) {
                0 => self.rng.next_u64(),
                1 => u64::MAX - self.rng.below(self.w + 8),
                2 => self.w + self.rng.below(4096),
                _ => self.rng.below(self.w),
            };
            let offset = match self.rng.below(3) {
                0 => self.rng.next_u64(),
                _ => self.rng.below(self.w + 8),
            };
            self.plants.push((b, base));
            self.plants.push((c, offset));
        }
        if matches!(m, "div" | "rem")
            && let Some(c) = cell(2)
            && self.rng.one_in(2)
        {
            self.plants.push((c, 0));
        }
        isa.encode(id, &ops).unwrap_or(0)
    }

    /// Lays out a trap handler that resumes after the trapping instruction, `E[0] <- E[0] +
    /// (1 << 42)` (`P` is bits 62..42 of a PSW) then `lpsw E[0]`, somewhere in the window,
    /// and returns the supervisor PSW that enters it. `None` when the window or the profile
    /// cannot hold it.
    fn skip_handler(&mut self) -> Option<u64> {
        let (add, lpsw) = (self.isa.insn("add")?, self.isa.insn("lpsw")?);
        let h = self.stub_at(3)?;
        let one_p = 1u64 << (2 * pgvm_machine::REG_BITS);
        self.image[h as usize] = self.isa.encode(add, &[0, 0, i128::from(h + 2)]).ok()?;
        self.image[h as usize + 1] = self.isa.encode(lpsw, &[0]).ok()?;
        self.image[h as usize + 2] = one_p;
        Some(psw(Mode::Supervisor, h, 0, self.w).pack())
    }

    /// Lays out an interrupt handler that returns at once, `lpsw E[2]`, and returns the PSW
    /// that enters it.
    fn resume_handler(&mut self) -> Option<u64> {
        let lpsw = self.isa.insn("lpsw")?;
        let h = self.stub_at(1)?;
        self.image[h as usize] = self.isa.encode(lpsw, &[2]).ok()?;
        Some(psw(Mode::Supervisor, h, 0, self.w).pack())
    }

    /// Lays out a loop that stores a non-zero word at every address from just inside the
    /// window upwards, and returns its first address. Every store past the end must trap; a
    /// skip handler then lets the sweep go on, one address further each time. One of two
    /// forms: an indexed store `stx` with an incremented index, or a `mov` whose own address
    /// field the loop increments (self-modifying code).
    fn sweep(&mut self) -> Option<u64> {
        let isa = self.isa;
        let id = |m: &str| isa.insn(m);
        let (li, stx, mov, addi, add, jmp) = (
            id("li")?,
            id("stx")?,
            id("mov")?,
            id("addi")?,
            id("add")?,
            id("jmp")?,
        );
        let g = self.stub_at(7)?;
        let w = i128::from(self.w);
        let at = |k: u64| i128::from(g + k);
        let start = w - 1 - self.rng.below(3) as i128;
        let value = self.rng.next_u64() | 1;
        let words = if self.rng.one_in(2) {
            // g: li X, start; g+1: stx V, X, Z; g+2: addi X, 1; g+3: jmp g+1; X, V, Z.
            [
                isa.encode(li, &[at(4), start]).ok()?,
                isa.encode(stx, &[at(5), at(4), at(6)]).ok()?,
                isa.encode(addi, &[at(4), 1]).ok()?,
                isa.encode(jmp, &[at(1)]).ok()?,
                0,
                value,
                0,
            ]
        } else {
            // g: jmp g+1; g+1: mov start, V; g+2: add g+1, g+1, K; g+3: jmp g+1; 0, V, K,
            // with K = 1 << 38, the lowest bit of `mov`'s address field `a`.
            let a_lo = isa.formats[isa.insns[mov].format]
                .field("a")
                .map(|f| isa.formats[isa.insns[mov].format].fields[f].lo)?;
            [
                isa.encode(jmp, &[at(1)]).ok()?,
                isa.encode(mov, &[start, at(5)]).ok()?,
                isa.encode(add, &[at(1), at(1), at(6)]).ok()?,
                isa.encode(jmp, &[at(1)]).ok()?,
                0,
                value,
                1u64 << a_lo,
            ]
        };
        for (k, word) in words.into_iter().enumerate() {
            self.image[g as usize + k] = word;
        }
        Some(g)
    }

    /// Where `n` words of a handler or gadget go: past the trap pairs, inside the window, and
    /// clear of those laid out before it when a few tries find such a place.
    fn stub_at(&mut self, n: u64) -> Option<u64> {
        let room = self.w.checked_sub(4 + n)?;
        let mut at = 4 + self.rng.below(room + 1);
        for _ in 0..8 {
            if self.reserved.iter().all(|&(s, e)| at + n <= s || e <= at) {
                break;
            }
            at = 4 + self.rng.below(room + 1);
        }
        self.reserved.push((at, at + n));
        Some(at)
    }

    /// An address operand at instruction address `i`, for a field whose largest value is
    /// `max`: mostly inside the window, else the trap pair, the instruction itself or the next
    /// one, the window's edge, far beyond it, or anywhere in the field.
    fn address(&mut self, i: u64, max: i128) -> i128 {
        let w = self.w;
        let a = match self.rng.below(16) {
            0..=5 => self.rng.below(w),
            6 | 7 => (w + self.rng.below(3)).saturating_sub(1),
            8 => 0,
            9 => 1,
            10 => i,
            11 => i + 1,
            12 => w + self.rng.below(4096),
            13 => return max,
            14 => return self.rng.in_range(0, max),
            _ => self.rng.below(16),
        };
        a as i128
    }

    /// A jump target (or immediate) at instruction address `i`: itself (a tight loop), the
    /// next word, inside the window, far beyond it, or anywhere in the field, negative values
    /// included.
    fn target(&mut self, i: u64, min: i128, max: i128) -> i128 {
        let w = self.w;
        let t = match self.rng.below(8) {
            0 | 1 => i,
            2 => i + 1,
            3 | 4 => self.rng.below(w),
            5 => w + self.rng.below(4096),
            6 => self.rng.below(REG_MAX + 1),
            _ => return self.rng.in_range(min, max),
        };
        t as i128
    }

    /// A value for a PSW or `R` component: 0, near or at the window's size, the register's
    /// largest value, anything, or small.
    fn component(&mut self) -> u64 {
        match self.rng.below(6) {
            0 => 0,
            1 => self.rng.below(self.w + 2),
            2 => self.w,
            3 => REG_MAX,
            4 => self.rng.below(REG_MAX + 1),
            _ => self.rng.below(16),
        }
    }

    /// A PSW word built from hostile components, in either mode.
    fn psw_word(&mut self) -> u64 {
        let mode = self.rng.mode();
        let (p, l, b) = (self.component(), self.component(), self.component());
        psw(mode, p, l, b).pack()
    }

    /// An arbitrary word for a cell that an instruction loads `M`, `R` or the PSW from.
    fn arbitrary(&mut self) -> u64 {
        match self.rng.below(4) {
            0 | 1 => self.rng.next_u64(),
            2 => self.psw_word(),
            _ => Reloc {
                l: self.component(),
                b: self.component(),
            }
            .pack(),
        }
    }

    /// A small data word, or one at the edges of the window or of the word.
    fn small(&mut self) -> u64 {
        match self.rng.below(8) {
            0 => 0,
            1 => 1,
            2 => self.w.saturating_sub(1),
            3 => self.w,
            4 => self.w + 1,
            5 => u64::MAX,
            6 => u64::MAX - self.rng.below(self.w + 1),
            _ => self.rng.below(8),
        }
    }

    /// A trap or interrupt vector's new PSW: a valid supervisor handler in the window, an
    /// arbitrary word, a supervisor PSW whose first fetch traps again (a trap storm), or a
    /// user-mode PSW.
    fn trap_psw(&mut self) -> u64 {
        let w = self.w;
        match self.rng.below(10) {
            0..=5 => psw(Mode::Supervisor, self.rng.below(w), 0, w).pack(),
            6 => self.rng.next_u64(),
            7 => psw(Mode::Supervisor, w + self.rng.below(8), 0, w).pack(),
            8 => {
                let (l, b) = (self.component(), self.component());
                psw(Mode::User, self.rng.below(w), l, b).pack()
            }
            _ => self.psw_word(),
        }
    }

    /// The entry PSW: either mode, usually `R = <0, w>` and `P` inside the window.
    fn entry(&mut self) -> Psw {
        let mode = self.rng.mode();
        let w = self.w;
        let p = if self.rng.one_in(8) {
            self.component()
        } else {
            self.rng.below(w)
        };
        let l = if self.rng.one_in(4) {
            self.component()
        } else {
            0
        };
        // Half the time `R` claims more than the memory holds: the monitor must still stop
        // every reference at the end of the window.
        let b = match self.rng.below(8) {
            0..=3 => w,
            4 => w + 1 + self.rng.below(8),
            5 => REG_MAX,
            _ => self.component(),
        };
        psw(mode, p, l, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_program() {
        let s = isa("s370");
        assert_eq!(random_guest(&s, 7), random_guest(&s, 7));
        assert_eq!(hostile_guest(&s, 7), hostile_guest(&s, 7));
        assert_ne!(hostile_guest(&s, 7), hostile_guest(&s, 9));
    }

    #[test]
    fn images_fill_the_memory_they_ask_for() {
        for name in ["s370", "pdp10", "ia32-vt"] {
            let i = isa(name);
            for seed in 0..200 {
                let r = random_guest(&i, seed);
                assert_eq!(r.image.len() as u64, r.w);
                let h = hostile_guest(&i, seed);
                assert_eq!(h.image.len() as u64, h.w, "{name} seed {seed}");
                assert!((1..=HOSTILE_MAX_WORDS).contains(&h.w));
            }
        }
    }

    /// The hostile generator is only worth its name if the attacks actually appear.
    #[test]
    fn hostile_programs_contain_the_attacks() {
        let s = isa("s370");
        let id = |m: &str| s.insn(m).expect("mnemonic");
        let (mut lpsw, mut far_jump, mut self_loop, mut tiny) = (0, 0, 0, 0);
        for seed in 0..300 {
            let h = hostile_guest(&s, seed);
            tiny += usize::from(h.w < 4);
            for (i, &word) in h.image.iter().enumerate() {
                let Some(d) = s.decode(word) else { continue };
                let ops = s.operands_of(d, word).unwrap_or_default();
                if d == id("lpsw") {
                    lpsw += 1;
                }
                if d == id("jmp") {
                    match ops.first() {
                        Some(&t) if t == i as i128 => self_loop += 1,
                        Some(&t) if t >= h.w as i128 => far_jump += 1,
                        _ => {}
                    }
                }
            }
        }
        assert!(lpsw > 100, "lpsw {lpsw}");
        assert!(far_jump > 50, "far jumps {far_jump}");
        assert!(self_loop > 50, "self loops {self_loop}");
        assert!(tiny > 10, "memories too small for both trap pairs {tiny}");
    }

    #[test]
    fn rng_ranges_hold() {
        let mut r = Rng::new(0);
        assert_eq!(r.below(0), 0);
        for _ in 0..1000 {
            assert!(r.below(5) < 5);
            let v = r.in_range(-3, 3);
            assert!((-3..=3).contains(&v));
        }
    }
}
