//! The semantic interpreter: one instruction's body, run against a [`StateView`].
//!
//! A body runs as one indivisible step. Its effects are collected in a [`Pending`] record and
//! committed only if the body finishes without trapping, so a trapping instruction is
//! *blocked*: nothing it did before the trap is visible.

use pgvm_isa::ops::{alu, unary};
use pgvm_isa::{BinOp, Expr, InsnId, Isa, Mode, Reg, Space, Stmt, TrapCause};
use serde::Serialize;

use crate::psw::{Psw, REG_MAX, Reloc};
use crate::view::StateView;

/// Why an instruction trapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum TrapKind {
    /// An address failed development (fetch, load or store).
    Memory,
    /// A `privileged` instruction in user mode.
    Privileged,
    /// An explicit `trap;` (supervisor call, arithmetic trap, ...).
    Instruction,
    /// The word at `P` decodes as no instruction.
    Illegal,
}

/// A body's `trap;` statement, as the trap it takes.
impl From<TrapCause> for TrapKind {
    fn from(cause: TrapCause) -> TrapKind {
        match cause {
            TrapCause::Privileged => TrapKind::Privileged,
            TrapCause::Instruction => TrapKind::Instruction,
        }
    }
}

impl TrapKind {
    /// The short name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            TrapKind::Memory => "memory",
            TrapKind::Privileged => "privileged",
            TrapKind::Instruction => "instruction",
            TrapKind::Illegal => "illegal",
        }
    }
}

/// What one instruction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Step {
    /// It finished; its effects are committed.
    Done,
    /// It halted the processor; `P` stays at the halt.
    Halted,
    /// It trapped and was blocked: the view is unchanged.
    Trapped(TrapKind),
}

/// Most stores, `let`s and console writes one body may make; the checker keeps bodies within.
pub const MAX_BODY_EFFECTS: usize = pgvm_isa::MAX_EFFECTS;

/// Effects collected while a body runs.
struct Pending {
    psw: Psw,
    assist: bool,
    stores: [(u64, u64); MAX_BODY_EFFECTS],
    n_stores: usize,
    out: [u8; MAX_BODY_EFFECTS],
    n_out: usize,
    consumed: usize,
    timer: Option<u64>,
    locals: [u64; MAX_BODY_EFFECTS],
}

/// The body stopped early.
enum Stop {
    Trap(TrapKind),
    Halt,
}

/// Fetches and decodes the instruction at the view's `P`: the instruction and its word, or
/// the trap the fetch itself takes (a memory trap, or an illegal instruction). A dispatcher
/// that wants to know which instruction it is running fetches once with this and then calls
/// [`execute`].
#[inline]
pub fn fetch<V: StateView + ?Sized>(isa: &Isa, view: &V) -> Result<(InsnId, u64), TrapKind> {
    let psw = view.psw();
    let pa = crate::psw::develop(psw.p, psw.r, view.size()).ok_or(TrapKind::Memory)?;
    let word = view.load(pa);
    isa.decode(word)
        .map(|id| (id, word))
        .ok_or(TrapKind::Illegal)
}

/// Fetches, decodes and executes the instruction at the view's `P`, without taking any trap:
/// a trapping instruction leaves the view as it was and its kind comes back, for the caller
/// (the processor cycle, a monitor's dispatcher, the classifier) to handle.
pub fn step<V: StateView + ?Sized>(isa: &Isa, view: &mut V) -> Step {
    match fetch(isa, view) {
        Ok((id, word)) => execute(isa, id, word, view),
        Err(kind) => Step::Trapped(kind),
    }
}

/// Executes instruction `id`, already fetched as `word`, against a view.
pub fn execute<V: StateView + ?Sized>(isa: &Isa, id: InsnId, word: u64, view: &mut V) -> Step {
    let insn = &isa.insns[id];
    let start = view.psw();
    let mut pending = Pending {
        psw: Psw {
            p: (start.p + 1) & REG_MAX,
            ..start
        },
        assist: view.assist(),
        stores: [(0, 0); MAX_BODY_EFFECTS],
        n_stores: 0,
        out: [0; MAX_BODY_EFFECTS],
        n_out: 0,
        consumed: 0,
        timer: None,
        locals: [0; MAX_BODY_EFFECTS],
    };
    let mut cx = Cx {
        isa,
        format: insn.format,
        word,
        view,
        pending: &mut pending,
    };
    // The guard `if M == user { trap; }` decides on the starting mode alone, so it is
    // answered here instead of walked: the commonest statement of a trapped instruction.
    let mut body = &insn.body[..];
    if let Some(kind) = user_trap(body) {
        if start.mode == Mode::User {
            return Step::Trapped(kind);
        }
        body = &body[1..];
    }
    let outcome = cx.block(body);
    match outcome {
        Err(Stop::Trap(kind)) => Step::Trapped(kind),
        Err(Stop::Halt) => {
            pending.psw.p = start.p;
            commit(view, &pending);
            Step::Halted
        }
        Ok(()) => {
            commit(view, &pending);
            Step::Done
        }
    }
}

#[inline]
fn commit<V: StateView + ?Sized>(view: &mut V, p: &Pending) {
    for &(pa, v) in &p.stores[..p.n_stores] {
        view.store(pa, v);
    }
    view.set_psw(p.psw);
    if p.assist != view.assist() {
        view.set_assist(p.assist);
    }
    for &b in &p.out[..p.n_out] {
        view.console_out(b);
    }
    if p.consumed > 0 {
        view.console_consume(p.consumed);
    }
    if let Some(n) = p.timer {
        view.set_timer(n);
    }
}

/// The trap a body takes first in user mode: its first statement is `if M == user { trap; }`
/// ([`pgvm_isa::shape::user_trap`]), so in user mode it traps before it reads or writes
/// anything else, and in supervisor mode it does nothing.
pub(crate) fn user_trap(body: &[Stmt]) -> Option<TrapKind> {
    pgvm_isa::shape::user_trap(body).map(TrapKind::from)
}

/// The value a body reads from register `r` when its PSW is `psw`; `None` for the assist bit,
/// which is not part of the PSW. Written once for the interpreter and for the block engine,
/// which answers these reads when it compiles a block (its PSW is fixed but for `P`).
#[inline(always)]
pub(crate) fn psw_reg(psw: Psw, r: Reg) -> Option<u64> {
    Some(match r {
        Reg::P => psw.p,
        Reg::M => psw.mode.word(),
        Reg::R => psw.r.pack(),
        Reg::L => psw.r.l,
        Reg::B => psw.r.b,
        Reg::Psw => psw.pack(),
        Reg::Assist => return None,
    })
}

/// A body's `reg = v` on its pending PSW and assist bit: written once for the interpreter and
/// for the block engine's register-setting ops.
#[inline(always)]
pub(crate) fn set_reg(psw: &mut Psw, assist: &mut bool, r: Reg, v: u64) {
    match r {
        Reg::P => psw.p = v & REG_MAX,
        Reg::M => psw.mode = Mode::from_word(v),
        Reg::R => psw.r = Reloc::unpack(v),
        Reg::L => psw.r.l = v & REG_MAX,
        Reg::B => psw.r.b = v & REG_MAX,
        Reg::Psw => *psw = Psw::unpack(v),
        Reg::Assist => *assist = v != 0,
    }
}

struct Cx<'a, V: StateView + ?Sized> {
    isa: &'a Isa,
    format: usize,
    word: u64,
    view: &'a mut V,
    pending: &'a mut Pending,
}

impl<V: StateView + ?Sized> Cx<'_, V> {
    fn block(&mut self, body: &[Stmt]) -> Result<(), Stop> {
        for s in body {
            self.stmt(s)?;
        }
        Ok(())
    }

    /// Physical address of a reference, developed with the body's current `R`.
    fn develop(&self, space: Space, a: u64) -> Result<u64, Stop> {
        let q = self.view.size();
        let ok = match space {
            Space::Relocated => crate::psw::develop(a, self.pending.psw.r, q),
            Space::Absolute => (a < q).then_some(a),
        };
        ok.ok_or(Stop::Trap(TrapKind::Memory))
    }

    fn stmt(&mut self, s: &Stmt) -> Result<(), Stop> {
        match s {
            Stmt::Store { space, addr, value } => {
                let a = self.operand(addr)?;
                let v = self.operand(value)?;
                let pa = self.develop(*space, a)?;
                let p = &mut *self.pending;
                if p.n_stores == MAX_BODY_EFFECTS {
                    return Err(Stop::Trap(TrapKind::Instruction));
                }
                p.stores[p.n_stores] = (pa, v);
                p.n_stores += 1;
            }
            Stmt::Set(reg, v) => {
                let v = self.operand(v)?;
                let p = &mut *self.pending;
                set_reg(&mut p.psw, &mut p.assist, *reg, v);
            }
            Stmt::Let(slot, v) => {
                let v = self.operand(v)?;
                if let Some(l) = self.pending.locals.get_mut(*slot) {
                    *l = v;
                }
            }
            Stmt::If(c, t, e) => {
                if self.operand(c)? != 0 {
                    self.block(t)?;
                } else {
                    self.block(e)?;
                }
            }
            Stmt::Trap(cause) => {
                return Err(Stop::Trap((*cause).into()));
            }
            Stmt::Halt => return Err(Stop::Halt),
            Stmt::Out(v) => {
                let v = self.operand(v)?;
                let p = &mut *self.pending;
                if p.n_out < MAX_BODY_EFFECTS {
                    p.out[p.n_out] = v as u8;
                    p.n_out += 1;
                }
            }
            Stmt::Timer(v) => {
                let v = self.operand(v)?;
                self.pending.timer = Some(v);
            }
        }
        Ok(())
    }

    fn load(&self, pa: u64) -> u64 {
        // Read your own writes: the latest pending store to `pa` wins.
        let p = &*self.pending;
        p.stores[..p.n_stores]
            .iter()
            .rev()
            .find(|(a, _)| *a == pa)
            .map_or_else(|| self.view.load(pa), |&(_, v)| v)
    }

    /// An operand: a leaf (constant, field, register) is evaluated here, inline, and only a
    /// compound expression costs a call. Most operands are leaves, and the recursive
    /// [`Cx::expr`] is a large function whose every call is dear.
    #[inline(always)]
    fn operand(&mut self, e: &Expr) -> Result<u64, Stop> {
        match e {
            Expr::Const(v) => Ok(*v),
            Expr::Field(i) => Ok(self.field(*i)),
            Expr::Reg(r) => Ok(self.reg(*r)),
            _ => self.expr(e),
        }
    }

    #[inline(always)]
    fn field(&self, i: usize) -> u64 {
        self.isa.formats[self.format].fields[i].extract(self.word)
    }

    #[inline(always)]
    fn reg(&self, r: Reg) -> u64 {
        psw_reg(self.pending.psw, r).unwrap_or(self.pending.assist as u64)
    }

    fn expr(&mut self, e: &Expr) -> Result<u64, Stop> {
        Ok(match e {
            Expr::Const(v) => *v,
            Expr::Field(i) => self.field(*i),
            Expr::Local(s) => self.pending.locals.get(*s).copied().unwrap_or(0),
            Expr::Load(space, a) => {
                let a = self.operand(a)?;
                let pa = self.develop(*space, a)?;
                self.load(pa)
            }
            Expr::Reg(r) => self.reg(*r),
            Expr::Clock => self.view.clock(),
            Expr::In => {
                let k = self.pending.consumed;
                match self.view.console_peek(k) {
                    Some(b) => {
                        self.pending.consumed += 1;
                        b as u64
                    }
                    None => u64::MAX,
                }
            }
            Expr::Unary(op, a) => {
                let v = self.operand(a)?;
                unary(*op, v)
            }
            Expr::Binary(op, a, b) => {
                let x = self.operand(a)?;
                match op {
                    BinOp::LogicalAnd if x == 0 => 0,
                    BinOp::LogicalOr if x != 0 => 1,
                    _ => {
                        let y = self.operand(b)?;
                        alu(*op, x, y)
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each instruction's body, from a one-off ISA.
    fn bodies(insns: &str) -> Vec<(String, Vec<Stmt>)> {
        let src = format!("isa t \"guards\"\nextends base\n{insns}");
        let isa = pgvm_isa::parse_str("t.isa", &src).unwrap_or_else(|e| panic!("{e}"));
        let from = isa.insns.len() - insns.lines().count();
        isa.insns[from..]
            .iter()
            .map(|i| (i.mnemonic.clone(), i.body.clone()))
            .collect()
    }

    #[test]
    fn only_a_guard_that_traps_exactly_in_user_mode_is_answered_without_the_walk() {
        let insns = "\
insn g1 rrr 0x50 () privileged \"sugar\" { E[0] = 1; }
insn g2 rrr 0x51 () \"written out, reversed\" { if user == M { trap; } E[0] = 1; }
insn g3 rrr 0x52 () \"an else branch\" { if M == user { trap; } else { E[0] = 2; } }
insn g4 rrr 0x53 () \"tests supervisor mode\" { if M == super { trap; } }
insn g5 rrr 0x54 () \"more than a trap\" { if M == user { E[0] = 3; trap; } }
insn g6 rrr 0x55 () \"guard not first\" { E[0] = 1; if M == user { trap; } }
";
        let found: Vec<(String, bool)> = bodies(insns)
            .into_iter()
            .map(|(m, b)| (m, user_trap(&b).is_some()))
            .collect();
        let expect = [("g1", true), ("g2", true), ("g3", false), ("g4", false)]
            .into_iter()
            .chain([("g5", false), ("g6", false)])
            .map(|(m, g)| (m.to_string(), g))
            .collect::<Vec<_>>();
        assert_eq!(found, expect);
    }
}
