//! The block engine: basic blocks pre-decoded into flat ops, for a fixed `R` and mode.
//!
//! A block is the straight line of instructions from an entry point up to the first one that
//! can change the flow (a jump, a trap, a halt, an interpreted instruction), at most
//! [`MAX_BLOCK`] long. It runs on past up to [`SIDE_EXITS`] conditional branches while they
//! are not taken (side exits: a monitor's paths are checks that seldom branch, two or three
//! instructions apart); a branch back to the block's own start, a loop, ends it, so that the
//! loop can lap inside the block. It is compiled for the `R` and the mode it was entered
//! with: direct addresses are developed once, at compile time, into physical indices (an
//! address outside the window becomes a trap op), and the user-mode guard of a privileged
//! instruction is answered then too. Inside a block, an op checks only what depends on
//! memory (an indexed address, a divisor).
//!
//! Blocks are chained: a block keeps, for each of its exits, the block that ran next
//! through it, and leaving a block costs the check that this link's target starts at the new
//! `P` and fits the budget; the window check, the block map and the key compare are for a
//! missed link only. Entry is what dominates blocks of two or three instructions.
//!
//! Stores keep the blocks true through a code map, one byte per physical word that some
//! block was compiled from: a store that hits one invalidates the blocks over it and ends the
//! running block right after the storing instruction, so a block never runs an instruction
//! that changed since it was compiled. `R` and the mode are part of a block's key; they change
//! only in an interpreted instruction, a register-setting op or the cycle's trap entry, and
//! each of those ends the engine's stretch.
//!
//! Ops ([`super::block_ops`]) are lowered from the ISA's statement shapes
//! ([`pgvm_isa::shape`], through [`super::shape`]), one op per operator, with every operator
//! evaluated by [`pgvm_isa::ops::alu`] on a constant operator (so it folds to the one
//! operation, and the semantics stay written once). A pair that is
//! common in any ISA with a compare-and-branch shape (a comparison whose result a `jz`- or
//! `jnz`-like branch tests) is fused into one op, which evaluates the comparison through
//! [`pgvm_isa::ops::Compare`], the same module's branch-free form of it. Since a block's
//! mode and `R` are fixed, a read of a PSW register is a constant of the block
//! (`E[a] = PSW`), and the privileged instructions of the simple shapes
//! (`PSW = E[a]`, `R = E[a]`, `out(E[a])`, `timer(E[a])`) are terminators that carry out the
//! effect with the interpreter's own functions and end the stretch: a monitor resuming its
//! guest, or a kernel its process, does not pay the general interpreter. Everything else runs
//! through the interpreter.
//!
//! A hot loop is also lowered into native code ([`super::native`]): its head (a block whose
//! terminator may jump to its own start, or one that a jump back leads to) and the blocks of
//! its body, a region, which the code runs in place of the ops' loop and leaves through the
//! same outcomes ([`Out`]).
//!
//! All memory lives in pages allocated on first touch: a machine of `2^21` words whose program
//! touches a few pages allocates a few pages of block tables.

use pgvm_isa::{InsnId, Isa, Mode};

use super::Engine;
use super::block_ops::{Op, Span};
use super::native;
use crate::exec::{Step, TrapKind};
use crate::machine::Core;
use crate::psw::{Psw, REG_MAX, Reloc};

mod build;
mod exec;
mod heat;
mod stop;

use exec::exec;
use heat::Heat;

/// The longest block: a longer straight line is several blocks.
pub const MAX_BLOCK: usize = 64;

/// Conditional branches a block runs on past (side exits) before one ends it: each has a
/// link of its own ([`Compiled::next`]).
pub const SIDE_EXITS: usize = 2;

/// Words per page of the block map.
const PAGE_BITS: u32 = 10;
const PAGE: usize = 1 << PAGE_BITS;

/// Compiled blocks past which every block is dropped, so that a guest generating code without
/// end (or changing `R` without end) costs bounded memory.
const MAX_BLOCKS: usize = 1 << 16;

/// An instruction that a block stops at, for the stretch to carry out.
#[derive(Debug, Clone, Copy)]
pub(super) enum Stop {
    /// It traps.
    Trap(TrapKind),
    /// It halts.
    Halt,
    /// It runs through the interpreter.
    Generic(InsnId),
    /// It sets a register or reaches a device: its op, which [`exec::effect`] carries out, is
    /// the one the outcome names.
    Effect,
}

/// How a stretch ended.
enum Flow {
    /// With this, for [`Engine::run`].
    End(Option<Step>),
    /// A trap or a resume was taken through ([`Engine::run_through`]): a new stretch goes on
    /// from the core's state.
    Through,
}

impl Flow {
    fn event(self) -> Option<Step> {
        match self {
            Flow::End(event) => event,
            Flow::Through => None,
        }
    }
}

/// A compiled block.
#[derive(Debug, Clone)]
struct Compiled {
    /// Apparent address of its first instruction, or [`DEAD`] once a store to its code (or a
    /// block compiled over it for another key) took it out of the map. No apparent address
    /// equals [`DEAD`], so the one comparison that checks a link's target starts at the new
    /// `P` also rejects a dead block.
    p: u64,
    /// Instructions it covers, terminator included (at least one).
    len: u64,
    ops: Box<[Op]>,
    spans: Box<[Span]>,
    /// The block last entered after this one through each exit (see [`Out::Next`]; then the
    /// side exits, see [`Out::Side`]), or [`NONE`]. A link is only a hint, checked on use:
    /// its target has this block's key (links are only made within one stretch), so it is
    /// right when it is live and starts at the new `P`.
    next: [u32; 2 + SIDE_EXITS],
    /// Physical index of its first instruction.
    pa: u64,
    /// The window and mode it was compiled for, packed by [`key`].
    key: u64,
    /// Apparent address past its last instruction, where it falls through.
    end: u64,
    /// Its own index in the block list, to link from it.
    index: u32,
    /// Whether its terminator can jump to its own start (a loop within the block).
    laps: bool,
    /// Native code for the region it heads ([`super::native`]).
    native: Option<native::Code>,
}

/// A code-map byte for a word that a region's native code holds a copy of (a block of the
/// region other than its head): a store to it drops all native code.
const INLINED: u8 = 2;

/// `Compiled::p` of a block that is no longer valid.
const DEAD: u64 = u64::MAX;

/// No link: an index no block has, so the look-up that follows a link fails on it.
const NONE: u32 = u32::MAX;

/// A block's key, `R` (as `l`, the address limit, and `b` as the PSW packs it) and the mode,
/// packed into one word so that a look-up compares one value. Injective for 21-bit `l` and
/// `lim` (`lim <= q`), as every `R` a PSW unpacks to has. `b` is there, not only the limit it
/// gives, because a body that reads `R` or the PSW reads it as a constant of the block.
#[inline(always)]
fn key(r: Reloc, lim: u64, mode: Mode) -> u64 {
    debug_assert!(r.l <= REG_MAX && lim <= REG_MAX);
    r.l | lim << 21 | (r.b & REG_MAX) << 42 | u64::from(mode == Mode::User) << 63
}

/// The block engine's state: blocks, the map from physical entry points to blocks, and the
/// code bitmap. The head of a loop is also given native code for its region (the `native`
/// module, where the host has it) once the loop has run `HOT` instructions on the ops, or
/// never when `HOT` is [`NEVER_NATIVE`]; see [`Block`] and [`BlockOps`].
#[derive(Debug, Clone)]
pub struct Blocks<const HOT: u32> {
    /// One byte per physical word: non-zero when some compiled block covers it. A byte, not
    /// a bit: the test is on every store.
    code: Vec<u8>,
    /// Physical entry point to block index + 1 (0: none), in pages allocated on first use.
    map: Vec<Option<Box<[u32]>>>,
    blocks: Vec<Compiled>,
    /// The ops and spans of the block being compiled, kept to be reused.
    scratch: (Vec<Op>, Vec<Span>),
    /// Blocks given native code since the blocks were last all dropped: each holds its code in
    /// executable memory, so there are at most [`MAX_NATIVE`].
    natives: usize,
    /// For each block, how hot it is ([`Heat`]).
    heat: Vec<Heat>,
}

/// The block engine, the default: ops for every block, and native code for a loop once it
/// has run 1024 instructions within four times as many of the clock ([`Heat`]), on x86-64
/// hosts. Making a region's code costs 2-3 µs on this project's machine (about a thousand
/// instructions on the ops; docs/performance.md, "Native code made cheaply"), so a loop that
/// has run that many is as likely as not to run as many again. A loop that runs less than
/// that in all (most of a kernel's or a monitor's) would lose more than it gains.
pub type Block = Blocks<1024>;

/// The block engine with its ops only, never native code: what [`Block`] does on a host
/// without native code, kept to compare against.
pub type BlockOps = Blocks<NEVER_NATIVE>;

/// `Blocks::<NEVER_NATIVE>` never makes native code.
pub const NEVER_NATIVE: u32 = u32::MAX;

/// Blocks with native code at once, at most.
const MAX_NATIVE: usize = 1 << 10;

/// Blocks in one native region at most: a loop's head and the blocks of its body.
const MAX_REGION: usize = 8;

/// [`Blocks::heat`] once native code was tried.
const TRIED: u32 = NEVER_NATIVE;

/// What a block run ended with. An op is named by its index in the block, for its span.
pub(super) enum Out {
    /// The block ran whole and flow goes on to `P = .0` through exit `.1`: 0 for the
    /// terminator's target (a jump, a branch taken, a call, an indirect jump), 1 past the
    /// block's end. Each exit has its own link ([`Compiled::next`]).
    Next(u64, usize),
    /// Op `.1`, a conditional branch inside the block, was taken to `P = .0`: the block ran
    /// up to it, and flow follows the op's own link ([`Span::exit`]).
    Side(u64, usize),
    /// The budget or a stop point cut the block: its ops ran out without a terminator.
    Cut,
    /// Op `.0`'s instruction stops the block: it traps, halts, is interpreted, or has an
    /// effect ([`Stop`]).
    Stop(usize, Stop),
    /// Native code stopped at the instruction at `P = .0`, its stop `.1`
    /// ([`native::Code::stop`]), in a block of its region, and counted the room up to it.
    At(u64, u32),
    /// Op `.1` stored to code word `pa` (`.0`), and flow goes on past its instruction or,
    /// when `.2`, past the first instruction of its fused pair.
    CodeWrite(u64, usize, bool),
    /// A call stored its link to code word `pa` (`.0`) and jumps to `.1`.
    CodeWriteJump(u64, u64),
    /// Native code left from a block of its region other than the head ([`super::native`])
    /// and counted its room itself: flow goes on at `P = .0`, after invalidating code word
    /// `.1`, if any.
    Jumped(u64, Option<u64>),
}

impl<const HOT: u32> Engine for Blocks<HOT> {
    const NAME: &'static str = match HOT {
        NEVER_NATIVE => "block-ops",
        0 => "block-native",
        _ => "block",
    };

    fn new(_isa: &Isa, q: u64) -> Blocks<HOT> {
        Blocks {
            code: vec![0; q as usize],
            map: vec![None; (q as usize).div_ceil(PAGE)],
            blocks: Vec::new(),
            scratch: (Vec::new(), Vec::new()),
            natives: 0,
            heat: Vec::new(),
        }
    }

    fn invalidate(&mut self, pa: usize) {
        if is_code(&self.code, pa) {
            invalidate(&mut self.map, &mut self.blocks, &self.code, pa as u64);
        }
    }

    fn run(&mut self, core: &mut Core, stop: u64) -> Option<Step> {
        self.stretch::<false, false>(core, stop, None).event()
    }

    fn run_through<F: FnMut(Psw, u64)>(
        &mut self,
        core: &mut Core,
        stop: u64,
        seen: &mut F,
    ) -> Option<Step> {
        // A trap or a resume taken through starts the stretch again under the new PSW: its
        // window and mode are fixed for the whole of one.
        loop {
            let (psw, before) = (core.psw, core.devices.clock);
            let flow = self.stretch::<false, true>(core, stop, None);
            seen(psw, core.devices.clock - before);
            if let Flow::End(event) = flow {
                return event;
            }
        }
    }
}

#[inline(always)]
fn is_code(code: &[u8], pa: usize) -> bool {
    code.get(pa).is_some_and(|&c| c != 0)
}

/// Removes from the map every block that covers physical word `pa` (whose code-map byte is
/// in `code`); drops all native code when some holds a copy of the word.
#[cold]
fn invalidate(map: &mut [Option<Box<[u32]>>], blocks: &mut [Compiled], code: &[u8], pa: u64) {
    if code.get(pa as usize) == Some(&INLINED) {
        blocks.iter_mut().for_each(|b| b.native = None);
    }
    let first = pa.saturating_sub(MAX_BLOCK as u64 - 1);
    for s in first..=pa {
        let Some(page) = map
            .get_mut((s >> PAGE_BITS) as usize)
            .and_then(|p| p.as_deref_mut())
        else {
            continue;
        };
        let slot = &mut page[(s as usize) & (PAGE - 1)];
        if *slot == 0 {
            continue;
        }
        if let Some(b) = blocks.get_mut(*slot as usize - 1)
            && b.pa + b.len > pa
        {
            b.p = DEAD;
            *slot = 0;
        }
    }
}

impl<const HOT: u32> Blocks<HOT> {
    /// Whether this engine makes native code at all.
    const NATIVE: bool = HOT != NEVER_NATIVE;

    /// Heat a block gains each time a stretch starts at it (a trap handler, the instruction
    /// after a system call), with no window: a path entered 1024 times is hot, however far
    /// apart.
    const ENTRY_HEAT: u32 = if HOT / 1024 > 0 { HOT / 1024 } else { 1 };

    /// Pages of the block map allocated so far: a machine allocates them as its code is
    /// first run, not for all of memory up front.
    pub fn pages_allocated(&self) -> usize {
        self.map.iter().filter(|p| p.is_some()).count()
    }

    /// Blocks that have native code (still valid or not, until the blocks are next all
    /// dropped).
    pub fn native_blocks(&self) -> usize {
        self.blocks.iter().filter(|b| b.native.is_some()).count()
    }

    /// Blocks compiled and still valid.
    pub fn live_blocks(&self) -> usize {
        self.blocks.iter().filter(|b| b.p != DEAD).count()
    }

    /// Executes like [`Engine::run`], and also stops before the instruction at apparent
    /// address `stop_at`, if it reaches it (a block runs directly up to it; the instruction
    /// itself does not run). A binary translator runs a block up to its first critical
    /// instruction this way.
    pub fn run_to(&mut self, core: &mut Core, stop: u64, stop_at: u64) -> Option<Step> {
        self.stretch::<true, false>(core, stop, Some(stop_at))
            .event()
    }

    /// The stretch, with the stop-point tests compiled in only when `STOPS`, and with traps
    /// and resumes taken inside it when `THROUGH` ([`Engine::run_through`]).
    ///
    /// Block to block, the common path follows the running block's link for the exit it
    /// left through and checks only that the target starts at the new `P` (which also
    /// rejects a dead block) and that it fits in the budget and before the stop point; the
    /// map, the window check and the key compare are for a missed link. The budget is kept
    /// as `room`, the instructions left before `stop`, so that one comparison with a block's
    /// length decides whether it runs whole.
    #[inline(always)]
    fn stretch<const STOPS: bool, const THROUGH: bool>(
        &mut self,
        core: &mut Core,
        stop: u64,
        stop_at: Option<u64>,
    ) -> Flow {
        let l = core.psw.r.l;
        let lim = core.limit;
        let key = key(core.psw.r, lim, core.psw.mode);
        // No apparent address is near `u64::MAX`: `stop_at - p < len` never holds for it.
        let stop_at = if STOPS {
            stop_at.unwrap_or(u64::MAX)
        } else {
            u64::MAX
        };
        let clock = core.devices.clock;
        let room0 = stop.saturating_sub(clock);
        let mut room = room0;
        // The room at the last jump back, for the heat of its target.
        let mut mark = room0;
        let mut p = core.psw.p;
        // The block last run and the exit it left through, to link to the next one.
        let mut from: Option<(usize, usize)> = None;
        // The head of a loop that has become hot, to be given native code before it runs again.
        let mut hot: Option<usize> = None;
        let event = 'stretch: loop {
            if let Some(i) = hot.take() {
                self.make_native(i, l, lim, core.mem.len() as u64);
            }
            // A missed link: the budget, the stop point, the window, the map.
            if room == 0 || (STOPS && stop_at == p) {
                break None;
            }
            if p >= lim {
                room -= 1;
                break Some(Step::Trapped(TrapKind::Memory));
            }
            let pa = p + l;
            let idx = match self.lookup(pa, key) {
                Some(i) => i,
                None => self.compile(&core.isa, &core.mem, pa, p, lim, core.psw),
            };
            if let Some((f, exit)) = from.take()
                && let Some(b) = self.blocks.get_mut(f)
                && b.key == key
            {
                b.next[exit] = idx as u32;
            }
            if Self::NATIVE
                && !STOPS
                && room == room0
                && let Some(h) = self.heat.get_mut(idx)
                && h.n != TRIED
            {
                // The stretch's first block: where a trap handler's path starts, or a
                // process's once the kernel resumes it. A path run this often from here is
                // given native code with the blocks it goes through.
                if h.n >= HOT {
                    hot = Some(idx);
                    continue 'stretch;
                }
                h.n = h.n.saturating_add(Self::ENTRY_HEAT).min(HOT);
            }
            let blocks = &self.blocks[..];
            let mem = &mut core.mem[..];
            // Same length as memory: a store that passed its bounds check needs no second one.
            let code = &self.code[..mem.len()];
            let Some(mut blk) = blocks.get(idx) else {
                break None;
            };
            // Block after block while the links hold; `p` is the running block's start.
            loop {
                let whole = blk.len <= room && !(STOPS && stop_at.wrapping_sub(blk.p) < blk.len);
                let ops = if whole {
                    &blk.ops[..]
                } else {
                    // The budget or the stop point cuts the block.
                    p = blk.p;
                    if room == 0 || (STOPS && stop_at == p) {
                        break 'stretch None;
                    }
                    let r = if STOPS && stop_at > p {
                        room.min(stop_at - p)
                    } else {
                        room
                    };
                    let n = blk
                        .spans
                        .iter()
                        .take_while(|s| u64::from(s.at) < r && u64::from(s.ends) <= r)
                        .count();
                    if n == 0 {
                        // Not even the first op fits (a fused pair, one instruction left
                        // before the stop): one instruction through the interpreter keeps
                        // the run going.
                        core.devices.clock = clock + (room0 - room);
                        core.psw.p = p;
                        return Flow::End(self.interpret(core, p + l, None));
                    }
                    blk.ops.get(..n).unwrap_or_default()
                };
                // Native code, if the block heads some; not with stop points: native code runs
                // other blocks than this one, which the stop-point test above does not cover.
                // Otherwise one of two copies of `exec`: the one for a loop within one block
                // keeps its laps inside, and the other has no lap state to keep in registers.
                let native = match &blk.native {
                    Some(n) if Self::NATIVE && !STOPS && whole => Some(n),
                    _ => None,
                };
                let out = if let Some(n) = native {
                    // `run` refuses memory shorter than the code was made for, which a
                    // machine's never is, before running; the ops run then. (Its other error,
                    // an exit the code does not have, cannot happen: the code leaves only
                    // through the stubs `finish` made for its exits.)
                    match n.run(mem, code, room) {
                        Some((left, out)) => {
                            // Never more room than it was given, whatever the code says: a
                            // fault in the lowering shows as a wrong count, not a run without
                            // end.
                            room = left.min(room);
                            // What ran in the code is no heat for the next jump back.
                            mark = room;
                            out
                        }
                        None => exec::<false>(ops, mem, code, blk.end, l, lim, blk.p, &mut room),
                    }
                } else if blk.laps && whole {
                    let i = blk.index as usize;
                    let heat = self.heat.get(i).map_or(TRIED, |h| h.n);
                    if Self::NATIVE && !STOPS && heat < HOT {
                        // Laps counted towards `HOT`, a bounded number at a time.
                        let cap = room.min(u64::from(HOT).max(blk.len));
                        let mut left = cap;
                        let out = exec::<true>(ops, mem, code, blk.end, l, lim, blk.p, &mut left);
                        room -= cap - left;
                        // The laps are this block's heat, not the next jump back's.
                        mark = room;
                        if let Some(h) = self.heat.get_mut(i) {
                            h.add(cap - left + blk.len, clock + (room0 - room), HOT);
                        }
                        out
                    } else if Self::NATIVE && !STOPS && heat != TRIED {
                        // Hot: out to the map, which finds this block again once it has
                        // native code.
                        hot = Some(i);
                        p = blk.p;
                        continue 'stretch;
                    } else {
                        exec::<true>(ops, mem, code, blk.end, l, lim, blk.p, &mut room)
                    }
                } else {
                    exec::<false>(ops, mem, code, blk.end, l, lim, blk.p, &mut room)
                };
                // Where the instruction of op `i` starts, and where it ends.
                let span = |i: usize| {
                    blk.spans
                        .get(i)
                        .map_or((0, 0), |s| (u64::from(s.at), u64::from(s.ends)))
                };
                // Flow goes on to `np` through link `exit`, unless the block ended otherwise.
                let (np, exit) = match out {
                    Out::Next(np, exit) => {
                        room -= blk.len;
                        (np, exit)
                    }
                    Out::Side(np, i) => {
                        let s = blk.spans.get(i).copied().unwrap_or_default();
                        room -= u64::from(s.ends);
                        (np, usize::from(s.exit))
                    }
                    Out::Cut => {
                        let done = ops.len().checked_sub(1).map_or(0, |i| span(i).1);
                        room -= done;
                        p = blk.p + done;
                        continue 'stretch;
                    }
                    Out::CodeWrite(wpa, i, first) => {
                        let (at, ends) = span(i);
                        let done = if first { at + 1 } else { ends };
                        room -= done;
                        p = blk.p + done;
                        invalidate(&mut self.map, &mut self.blocks, code, wpa);
                        continue 'stretch;
                    }
                    Out::CodeWriteJump(wpa, t) => {
                        room -= blk.len;
                        p = t;
                        invalidate(&mut self.map, &mut self.blocks, code, wpa);
                        continue 'stretch;
                    }
                    Out::Jumped(np, word) => {
                        if let Some(wpa) = word {
                            invalidate(&mut self.map, &mut self.blocks, code, wpa);
                        }
                        p = np;
                        continue 'stretch;
                    }
                    // An instruction the stretch carries out itself.
                    Out::Stop(i, s) => {
                        let at = span(i).0;
                        let now = clock + (room0 - room) + at;
                        let op = blk.ops.get(i).copied().unwrap_or(Op::Fall);
                        return self.stop::<THROUGH>(core, now, blk.p + at, l, s, op);
                    }
                    Out::At(at, k) => {
                        let Some((s, op)) = blk.native.as_ref().and_then(|c| c.stop(k)) else {
                            // The code names only stops it has; without one, the ops run it.
                            p = at;
                            continue 'stretch;
                        };
                        let now = clock + (room0 - room);
                        return self.stop::<THROUGH>(core, now, at, l, s, op);
                    }
                };
                if np == blk.p {
                    // A loop within the block: round again, no link to follow.
                    continue;
                }
                let link = blk.next[exit] as usize;
                if let Some(b) = blocks.get(link)
                    && b.p == np
                {
                    if Self::NATIVE && !STOPS && np < blk.p && b.native.is_none() {
                        // A jump back, perhaps to the head of a loop through several blocks:
                        // it is given the instructions run since the last jump back, and
                        // native code for its loop once they reach `HOT`.
                        let i = b.index as usize;
                        if let Some(h) = self.heat.get_mut(i)
                            && h.n != TRIED
                        {
                            if h.n >= HOT {
                                hot = Some(i);
                                p = np;
                                continue 'stretch;
                            }
                            h.add(mark - room, clock + (room0 - room), HOT);
                            mark = room;
                        }
                    }
                    blk = b;
                    continue;
                }
                p = np;
                from = Some((blk.index as usize, exit));
                continue 'stretch;
            }
        };
        core.devices.clock = clock + (room0 - room);
        core.psw.p = p;
        Flow::End(event)
    }

    /// The block entered at physical `pa` for this key, if compiled.
    #[inline(always)]
    fn lookup(&self, pa: u64, key: u64) -> Option<usize> {
        let page = self.map.get((pa >> PAGE_BITS) as usize)?.as_deref()?;
        let i = *page.get((pa as usize) & (PAGE - 1))?;
        let i = (i as usize).checked_sub(1)?;
        (self.blocks.get(i)?.key == key).then_some(i)
    }
}
