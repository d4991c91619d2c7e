//! The ISA language's semantics as bit-vector formulas: one instruction, run from a symbolic
//! state, becomes the terms of its outcome.
//!
//! This is a second reading of `pgvm_machine::execute`, statement for statement, and is tested
//! against it (`tests/smt.rs`): the same evaluation order, the same short-circuits, the same
//! pending effects committed only by a run that does not trap, read-your-own-writes inside a
//! body, the paper's address development with the body's current `R`, `P` advanced before the
//! body runs and put back by a halt.
//!
//! Branches are not forked. The walk keeps a *path condition* and a *stopped* condition (the
//! run has trapped or halted on some earlier path); every effect is taken under the guard
//! "on this path and not stopped", as `ite` over the old value. The two arms of an `if` run one
//! after the other under disjoint path conditions, so neither sees the other's effects. The
//! formulas grow with the body, not with its number of paths.

use pgvm_isa::{BinOp, Expr, InsnId, Isa, MAX_EFFECTS, Reg, Space, Stmt, UnOp};
use pgvm_machine::{MAX_BODY_EFFECTS, REG_MAX};

use super::term::{Builder, Sort, T};

/// A deliberate error in the encoding, for the test that shows the differential test catches
/// one. Never set outside that test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mutant {
    /// The encoding as it should be.
    #[default]
    None,
    /// `+` encoded as `-`.
    AddIsSub,
    /// The shifted state's window read at the shifted offset of the *new* window in the
    /// first state's memory (`l2 + a` instead of `l1 + a`).
    ShiftFromNewWindow,
}

/// Where the words of a starting memory come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Words {
    /// An array term (the differential test's concrete memories).
    Array(T),
    /// Every read is a fresh word, and reads of equal addresses read equal words
    /// ([`Builder::fresh_read`]): memory as an uninterpreted function, Ackermann-reduced, so a
    /// query stays in pure bit-vector logic, where the solver is at its fastest.
    Fresh,
}

/// Physical memory as a run starts with it.
#[derive(Debug, Clone, Copy)]
pub enum Memory {
    /// The words themselves.
    Plain(Words),
    /// The paper's shifted copy of another state's memory: the window `[l2, l2 + b)` holds
    /// the words of `[l1, l1 + b)` of `base`, every other word is `base`'s
    /// (`State::shifted`).
    Shifted {
        /// The first state's memory.
        base: Words,
        /// The first state's relocation.
        l1: T,
        /// The shifted relocation.
        l2: T,
        /// The common bound.
        b: T,
    },
}

/// A symbolic starting state `<E, M, P, R>` with the assist bit and the clock.
#[derive(Debug, Clone, Copy)]
pub struct Input {
    /// `q`.
    pub q: T,
    /// `M`, as "user mode" (Bool).
    pub user: T,
    /// `P`.
    pub p: T,
    /// `l`.
    pub l: T,
    /// `b`.
    pub b: T,
    /// The assist bit (Bool).
    pub assist: T,
    /// The clock.
    pub clock: T,
    /// `E`.
    pub mem: Memory,
}

/// The outcome of one run, as terms.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The instruction was fetched and decodes as itself: `P` develops and the word there
    /// matches the instruction's opcode.
    pub fetched: T,
    /// A memory trap (the fetch or a reference of the body).
    pub trap_memory: T,
    /// The `privileged` sugar's user-mode trap.
    pub trap_privileged: T,
    /// An explicit `trap;`.
    pub trap_instruction: T,
    /// A halt.
    pub halt: T,
    /// Any trap.
    pub trapped: T,
    /// `M` after the run (user?), meaningful where the run did not trap.
    pub user: T,
    /// `P` after.
    pub p: T,
    /// `l` after.
    pub l: T,
    /// `b` after.
    pub b: T,
    /// The assist bit after.
    pub assist: T,
    /// Stores in body order: (executed?, physical address, value).
    pub stores: Vec<(T, T, T)>,
    /// Console output in body order: (executed?, the byte as a word).
    pub outs: Vec<(T, T)>,
    /// The timer was armed, and with what.
    pub timer: (T, T),
    /// `in()` was evaluated.
    pub console_read: T,
    /// `clock()` was evaluated.
    pub clock_read: T,
    /// The word at `P`.
    pub word: T,
}

/// Why an instruction cannot be encoded (the classifier then keeps the search's answer).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// More effects than the interpreter's fixed buffers hold.
    #[error("The body has more than {MAX_EFFECTS} stores, outputs or lets")]
    TooManyEffects,
}

/// Reads of a starting memory.
struct MemReader {
    mem: Memory,
}

fn base_load(b: &mut Builder, words: Words, a: T) -> T {
    match words {
        Words::Array(m) => b.select(m, a),
        Words::Fresh => b.fresh_read(a),
    }
}

impl MemReader {
    fn load(&mut self, b: &mut Builder, a: T) -> T {
        match self.mem {
            Memory::Plain(w) => base_load(b, w, a),
            Memory::Shifted {
                base,
                l1,
                l2,
                b: bound,
            } => {
                let end = b.add(l2, bound);
                let lo = b.ule(l2, a);
                let hi = b.ult(a, end);
                let inside = b.and(&[lo, hi]);
                let off = b.sub(a, l2);
                let from = b.add(off, l1);
                let moved = base_load(b, base, from);
                let kept = base_load(b, base, a);
                b.ite(inside, moved, kept)
            }
        }
    }

    /// A relocated read of apparent address `a` with the run's *starting* `R`, which the
    /// caller only uses where the development succeeded (`a < b`, so inside the window).
    /// In a shifted memory the word is then the first state's word at `l1 + a`: written so,
    /// the two runs of a location pair read the very same term, and the solver need not
    /// rediscover through the adders that the window moved.
    fn load_in_window(&mut self, b: &mut Builder, a: T, pa: T, mutant: Mutant) -> T {
        match self.mem {
            Memory::Plain(w) => base_load(b, w, pa),
            Memory::Shifted { base, l1, l2, .. } => {
                let l = if mutant == Mutant::ShiftFromNewWindow {
                    l2
                } else {
                    l1
                };
                let from = b.add(a, l);
                base_load(b, base, from)
            }
        }
    }
}

/// The paper's address development: the physical address and whether it is valid.
fn develop(b: &mut Builder, space: Space, a: T, l: T, bound: T, q: T) -> (T, T) {
    match space {
        Space::Relocated => {
            let pa = b.add(a, l);
            let wrapped = b.ult(pa, a);
            let no_wrap = b.not(wrapped);
            let in_q = b.ult(pa, q);
            let in_b = b.ult(a, bound);
            let ok = b.and(&[no_wrap, in_q, in_b]);
            (pa, ok)
        }
        Space::Absolute => {
            let ok = b.ult(a, q);
            (a, ok)
        }
    }
}

/// Packs `R` as the machine does: `l << 21 | b`.
fn pack_r(b: &mut Builder, l: T, bound: T) -> T {
    let lm = b.mask(l, REG_MAX);
    let hi = b.shl(lm, 21);
    let bm = b.mask(bound, REG_MAX);
    b.bor(hi, bm)
}

struct Cx<'a> {
    b: &'a mut Builder,
    isa: &'a Isa,
    format: usize,
    word: T,
    mem: MemReader,
    mutant: Mutant,
    // Pending state.
    user: T,
    p: T,
    l: T,
    bound: T,
    assist: T,
    clock: T,
    q: T,
    start_l: T,
    start_b: T,
    stores: Vec<(T, T, T)>,
    outs: Vec<(T, T)>,
    timer: (T, T),
    locals: Vec<T>,
    console_read: T,
    clock_read: T,
    // Stops.
    stopped: T,
    trap_memory: T,
    trap_privileged: T,
    trap_instruction: T,
    halt: T,
}

impl Cx<'_> {
    fn guard(&mut self, pc: T) -> T {
        let live = self.b.not(self.stopped);
        self.b.and(&[pc, live])
    }

    fn stop(&mut self, g: T) {
        self.stopped = self.b.or(&[self.stopped, g]);
    }

    fn memory_trap_unless(&mut self, pc: T, ok: T) {
        let g = self.guard(pc);
        let bad = self.b.not(ok);
        let t = self.b.and(&[g, bad]);
        self.trap_memory = self.b.or(&[self.trap_memory, t]);
        self.stop(t);
    }

    fn set(&mut self, g: T, old: T, new: T) -> T {
        self.b.ite(g, new, old)
    }

    fn block(&mut self, body: &[Stmt], pc: T) {
        for s in body {
            self.stmt(s, pc);
        }
    }

    fn stmt(&mut self, s: &Stmt, pc: T) {
        match s {
            Stmt::Store { space, addr, value } => {
                let a = self.expr(addr, pc);
                let v = self.expr(value, pc);
                let (pa, ok) = develop(self.b, *space, a, self.l, self.bound, self.q);
                self.memory_trap_unless(pc, ok);
                let g = self.guard(pc);
                self.stores.push((g, pa, v));
            }
            Stmt::Set(reg, v) => {
                let v = self.expr(v, pc);
                let g = self.guard(pc);
                match reg {
                    Reg::P => {
                        let n = self.b.mask(v, REG_MAX);
                        self.p = self.set(g, self.p, n);
                    }
                    Reg::M => {
                        let one = self.b.word(1);
                        let n = self.b.eq(v, one);
                        self.user = self.set(g, self.user, n);
                    }
                    Reg::R => {
                        let hi = self.b.shr(v, 21);
                        let l = self.b.mask(hi, REG_MAX);
                        let bound = self.b.mask(v, REG_MAX);
                        self.l = self.set(g, self.l, l);
                        self.bound = self.set(g, self.bound, bound);
                    }
                    Reg::L => {
                        let n = self.b.mask(v, REG_MAX);
                        self.l = self.set(g, self.l, n);
                    }
                    Reg::B => {
                        let n = self.b.mask(v, REG_MAX);
                        self.bound = self.set(g, self.bound, n);
                    }
                    Reg::Psw => {
                        let top = self.b.shr(v, 63);
                        let user = self.b.nonzero(top);
                        let hp = self.b.shr(v, 42);
                        let p = self.b.mask(hp, REG_MAX);
                        let hl = self.b.shr(v, 21);
                        let l = self.b.mask(hl, REG_MAX);
                        let bound = self.b.mask(v, REG_MAX);
                        self.user = self.set(g, self.user, user);
                        self.p = self.set(g, self.p, p);
                        self.l = self.set(g, self.l, l);
                        self.bound = self.set(g, self.bound, bound);
                    }
                    Reg::Assist => {
                        let n = self.b.nonzero(v);
                        self.assist = self.set(g, self.assist, n);
                    }
                }
            }
            Stmt::Let(slot, v) => {
                let v = self.expr(v, pc);
                let g = self.guard(pc);
                if let Some(old) = self.locals.get(*slot).copied() {
                    self.locals[*slot] = self.b.ite(g, v, old);
                }
            }
            Stmt::If(c, t, e) => {
                let cv = self.expr(c, pc);
                let cond = self.b.nonzero(cv);
                let not = self.b.not(cond);
                let pt = self.b.and(&[pc, cond]);
                let pe = self.b.and(&[pc, not]);
                self.block(t, pt);
                self.block(e, pe);
            }
            Stmt::Trap(cause) => {
                let g = self.guard(pc);
                match cause {
                    pgvm_isa::TrapCause::Privileged => {
                        self.trap_privileged = self.b.or(&[self.trap_privileged, g]);
                    }
                    pgvm_isa::TrapCause::Instruction => {
                        self.trap_instruction = self.b.or(&[self.trap_instruction, g]);
                    }
                }
                self.stop(g);
            }
            Stmt::Halt => {
                let g = self.guard(pc);
                self.halt = self.b.or(&[self.halt, g]);
                self.stop(g);
            }
            Stmt::Out(v) => {
                let v = self.expr(v, pc);
                let g = self.guard(pc);
                let byte = self.b.mask(v, 0xff);
                self.outs.push((g, byte));
            }
            Stmt::Timer(v) => {
                let v = self.expr(v, pc);
                let g = self.guard(pc);
                let t = self.b.boolean(true);
                let set = self.b.ite(g, t, self.timer.0);
                let val = self.b.ite(g, v, self.timer.1);
                self.timer = (set, val);
            }
        }
    }

    /// A load through the pending stores: the latest one to `pa` on this path wins. `a` is
    /// the apparent address of a relocated load.
    fn load(&mut self, space: Space, a: T, pa: T) -> T {
        // Exact for every run in which the load does not trap (the only runs whose values
        // matter): with the starting `R` still in force a successful development lands
        // inside the starting window.
        let starting_r = self.l == self.start_l && self.bound == self.start_b;
        let mut v = if space == Space::Relocated && starting_r {
            self.mem.load_in_window(self.b, a, pa, self.mutant)
        } else {
            self.mem.load(self.b, pa)
        };
        for i in 0..self.stores.len() {
            let (g, a, w) = self.stores[i];
            let same = self.b.eq(a, pa);
            let hit = self.b.and(&[g, same]);
            v = self.b.ite(hit, w, v);
        }
        v
    }

    fn expr(&mut self, e: &Expr, pc: T) -> T {
        match e {
            Expr::Const(v) => self.b.word(*v),
            Expr::Field(i) => match self.isa.formats[self.format].fields.get(*i) {
                Some(f) => {
                    let (hi, lo, signed) = (f.hi, f.lo, f.signed);
                    self.b.field(self.word, hi, lo, signed)
                }
                None => self.b.word(0),
            },
            Expr::Local(s) => match self.locals.get(*s) {
                Some(&t) => t,
                None => self.b.word(0),
            },
            Expr::Load(space, a) => {
                let a = self.expr(a, pc);
                let (pa, ok) = develop(self.b, *space, a, self.l, self.bound, self.q);
                self.memory_trap_unless(pc, ok);
                self.load(*space, a, pa)
            }
            Expr::Reg(r) => match r {
                Reg::P => self.p,
                Reg::M => self.b.bit(self.user),
                Reg::R => pack_r(self.b, self.l, self.bound),
                Reg::L => self.l,
                Reg::B => self.bound,
                Reg::Psw => {
                    let r = pack_r(self.b, self.l, self.bound);
                    let pm = self.b.mask(self.p, REG_MAX);
                    let ps = self.b.shl(pm, 42);
                    let top = self.b.word(1 << 63);
                    let zero = self.b.word(0);
                    let m = self.b.ite(self.user, top, zero);
                    let x = self.b.bor(ps, r);
                    self.b.bor(m, x)
                }
                Reg::Assist => self.b.bit(self.assist),
            },
            Expr::Clock => {
                let g = self.guard(pc);
                self.clock_read = self.b.or(&[self.clock_read, g]);
                self.clock
            }
            Expr::In => {
                // A hypothetical state has no console input waiting: `in()` reads all ones
                // and only records that it looked (`HypoView::console_peek`).
                let g = self.guard(pc);
                self.console_read = self.b.or(&[self.console_read, g]);
                self.b.word(u64::MAX)
            }
            Expr::Unary(op, a) => {
                let v = self.expr(a, pc);
                match op {
                    UnOp::Neg => self.b.app(Sort::Word, "bvneg", &[v]),
                    UnOp::Not => self.b.app(Sort::Word, "bvnot", &[v]),
                    UnOp::LogicalNot => {
                        let z = self.b.word(0);
                        let c = self.b.eq(v, z);
                        self.b.bit(c)
                    }
                    UnOp::Bit => v,
                }
            }
            Expr::Binary(op, a, c) => {
                let x = self.expr(a, pc);
                match op {
                    BinOp::LogicalAnd | BinOp::LogicalOr => {
                        // The right operand is evaluated (and may trap) only when needed.
                        let xt = self.b.nonzero(x);
                        let need = if *op == BinOp::LogicalAnd {
                            xt
                        } else {
                            self.b.not(xt)
                        };
                        let pr = self.b.and(&[pc, need]);
                        let y = self.expr(c, pr);
                        let yt = self.b.nonzero(y);
                        let r = if *op == BinOp::LogicalAnd {
                            self.b.and(&[xt, yt])
                        } else {
                            self.b.or(&[xt, yt])
                        };
                        self.b.bit(r)
                    }
                    _ => {
                        let y = self.expr(c, pc);
                        self.alu(*op, x, y)
                    }
                }
            }
        }
    }

    /// `pgvm_isa::ops::alu`, as formulas.
    fn alu(&mut self, op: BinOp, x: T, y: T) -> T {
        let b = &mut *self.b;
        let shift = |b: &mut Builder, name: &str| {
            let k = b.mask(y, 63);
            b.bv(name, x, k)
        };
        let cmp = |b: &mut Builder, name: &str, x: T, y: T| {
            let c = b.cmp(name, x, y);
            b.bit(c)
        };
        match op {
            BinOp::Add if self.mutant == Mutant::AddIsSub => b.sub(x, y),
            BinOp::Add => b.add(x, y),
            BinOp::Sub => b.sub(x, y),
            BinOp::Mul => b.bv("bvmul", x, y),
            // SMT-LIB's division by zero is all ones and its remainder by zero is the
            // dividend: exactly `ops::alu`.
            BinOp::Div => b.bv("bvudiv", x, y),
            BinOp::Rem => b.bv("bvurem", x, y),
            BinOp::And => b.band(x, y),
            BinOp::Or => b.bor(x, y),
            BinOp::Xor => b.bv("bvxor", x, y),
            BinOp::Shl => shift(b, "bvshl"),
            BinOp::Shr => shift(b, "bvlshr"),
            BinOp::Sar => shift(b, "bvashr"),
            BinOp::Eq => {
                let c = b.eq(x, y);
                b.bit(c)
            }
            BinOp::Ne => {
                let c = b.ne(x, y);
                b.bit(c)
            }
            BinOp::Lt => cmp(b, "bvult", x, y),
            BinOp::Le => cmp(b, "bvule", x, y),
            BinOp::Gt => cmp(b, "bvugt", x, y),
            BinOp::Ge => cmp(b, "bvuge", x, y),
            BinOp::Lts => cmp(b, "bvslt", x, y),
            BinOp::Les => cmp(b, "bvsle", x, y),
            BinOp::LogicalAnd | BinOp::LogicalOr => {
                let (xt, yt) = (b.nonzero(x), b.nonzero(y));
                let r = if op == BinOp::LogicalAnd {
                    b.and(&[xt, yt])
                } else {
                    b.or(&[xt, yt])
                };
                b.bit(r)
            }
        }
    }
}

/// Counts the statements of a body that fill the interpreter's fixed buffers.
fn effect_counts(body: &[Stmt]) -> (usize, usize) {
    let mut stores = 0;
    let mut outs = 0;
    for n in pgvm_isa::visit::stmts(body) {
        match n {
            Stmt::Store { .. } => stores += 1,
            Stmt::Out(_) => outs += 1,
            _ => {}
        }
    }
    (stores, outs)
}

/// Encodes one run of instruction `id` from `input`: fetch at `P` through `R`, decode, and the
/// body, exactly as `pgvm_machine::step` runs it.
pub fn run(
    b: &mut Builder,
    isa: &Isa,
    id: InsnId,
    input: &Input,
    mutant: Mutant,
) -> Result<Outcome, EncodeError> {
    let insn = &isa.insns[id];
    let (stores, outs) = effect_counts(&insn.body);
    // The interpreter traps on a store past its buffer and drops output past it; the parser
    // never lets a body get there, and the encoding does not model it.
    if stores > MAX_BODY_EFFECTS || outs > MAX_BODY_EFFECTS || insn.locals > MAX_BODY_EFFECTS {
        return Err(EncodeError::TooManyEffects);
    }
    let mut mem = MemReader { mem: input.mem };
    let (fpa, fok) = develop(b, Space::Relocated, input.p, input.l, input.b, input.q);
    // Fetched only if it develops, so inside the window (see `load_in_window`).
    let word = mem.load_in_window(b, input.p, fpa, mutant);
    let (mask, value) = isa.matcher(id);
    let op = b.mask(word, mask);
    let want = b.word(value);
    let decodes = b.eq(op, want);
    let fetched = b.and(&[fok, decodes]);
    let one = b.word(1);
    let next = b.add(input.p, one);
    let p = b.mask(next, REG_MAX);
    let f = b.boolean(false);
    let zero = b.word(0);
    let not_fetched = b.not(fok);
    let mut cx = Cx {
        b,
        isa,
        format: insn.format,
        word,
        mem,
        mutant,
        user: input.user,
        p,
        l: input.l,
        bound: input.b,
        assist: input.assist,
        clock: input.clock,
        q: input.q,
        start_l: input.l,
        start_b: input.b,
        stores: Vec::new(),
        outs: Vec::new(),
        timer: (f, zero),
        locals: vec![zero; MAX_BODY_EFFECTS],
        console_read: f,
        clock_read: f,
        stopped: not_fetched,
        trap_memory: not_fetched,
        trap_privileged: f,
        trap_instruction: f,
        halt: f,
    };
    let pc = cx.b.boolean(true);
    cx.block(&insn.body, pc);
    let trapped =
        cx.b.or(&[cx.trap_memory, cx.trap_privileged, cx.trap_instruction]);
    let p = cx.b.ite(cx.halt, input.p, cx.p);
    Ok(Outcome {
        fetched,
        trap_memory: cx.trap_memory,
        trap_privileged: cx.trap_privileged,
        trap_instruction: cx.trap_instruction,
        halt: cx.halt,
        trapped,
        user: cx.user,
        p,
        l: cx.l,
        b: cx.bound,
        assist: cx.assist,
        stores: cx.stores,
        outs: cx.outs,
        timer: cx.timer,
        console_read: cx.console_read,
        clock_read: cx.clock_read,
        word,
    })
}

impl Outcome {
    /// The word at physical address `a` after the run, for a run that did not trap: the last
    /// executed store to `a`, else the starting memory's word (read through `mem`).
    pub fn final_word(&self, b: &mut Builder, mem: &Memory, a: T) -> T {
        let mut r = MemReader { mem: *mem };
        let v = r.load(b, a);
        self.final_from(b, v, a)
    }

    /// The word at window offset `o` after the run, for a run that did not trap and an
    /// offset inside the starting window (`o < b`, which the caller asserts): physical
    /// `l + o`, read as `MemReader::load_in_window` reads it.
    pub fn final_window_word(&self, b: &mut Builder, input: &Input, o: T) -> T {
        let mut r = MemReader { mem: input.mem };
        let pa = b.add(o, input.l);
        let v = r.load_in_window(b, o, pa, Mutant::None);
        self.final_from(b, v, pa)
    }

    fn final_from(&self, b: &mut Builder, start: T, a: T) -> T {
        let mut v = start;
        for &(g, pa, w) in &self.stores {
            let same = b.eq(pa, a);
            let hit = b.and(&[g, same]);
            v = b.ite(hit, w, v);
        }
        v
    }
}
