//! Proofs from the semantics, for all states, without a solver.
//!
//! The tool is *specialization*: fold what is known about a state into an instruction's body
//! and look at what is left. For each mode `m`, the residual body `B|m` is the body with `M`
//! (and, under the assist, the assist bit) replaced by its value wherever the body reads it,
//! branches whose condition became a constant replaced by the branch taken, assignments of `M`
//! to the value it already has dropped, and everything after an unconditional `trap;` or `halt;`
//! dropped. Folding uses the machine's own operators ([`pgvm_isa::ops`]), and a residual is
//! only ever *analysed* (effect summary, equality, "must trap"), never executed: execution goes
//! through the machine.
//!
//! From the residuals, for all states (docs/classification.md gives the full argument):
//!
//! - **Privileged** if `B|user` must trap (every path reaches `trap;` with no `halt;` before it,
//!   so a user-mode run traps, possibly earlier with a memory trap) and `B|super` contains no
//!   `trap;` at all (a supervisor-mode run can only memory-trap). This is the structural form
//!   of the `privileged` sugar, `if M == user { trap; }`, detected from the body itself.
//! - **Not control-sensitive from mode `m`** if `B|m` must trap, or writes none of `M`, `R`,
//!   `PSW`, the assist bit, absolute memory, the console or the timer, reads no console input,
//!   and cannot halt.
//! - **Not location-sensitive in mode `m`** if `B|m` must trap, or neither reads nor writes `R`,
//!   `PSW` or absolute memory (Lemma 1's argument: every reference is developed through the
//!   same `b` at the same apparent address and sees the same window word).
//! - **Not bounds-sensitive in mode `m`** if `B|m` must trap, or never reads `R` (either half)
//!   or `PSW`: then `b` enters a run only through address development, which either traps or
//!   develops the same address under both bounds.
//! - **Not privileged (the premise)** if `B|user` contains no `trap;`: a user-mode run can then
//!   only complete, halt or memory-trap. That alone is not a counterexample (every pair might
//!   memory-trap), so [`crate::construct`] builds the pair and the machine runs it.
//! - **Not timing-dependent in mode `m`** if `B|m` must trap or never reads the clock.
//! - **Not mode-sensitive** if either residual must trap, or `B|user` and `B|super` are the same
//!   body and neither reads `M` or `PSW`.
//!
//! - **The assist is sound** (no state where it removes a trap, DESIGN.md §4c) if the body
//!   never reads the assist bit, or if in each mode the residual with the assist on must trap
//!   or is the residual with it off, reading no assist bit ([`assist_sound`]).
//!
//! A body that touches no primitive at all (Effects::touches_no_primitive) is its own residual
//! in both modes, so it gets every "not" above: that is Lemma 1's innocuous case.

use pgvm_isa::ops::{alu, unary};
use pgvm_isa::visit::stmts;
use pgvm_isa::{BinOp, Effects, Expr, Primitive, Reg, Stmt};
use pgvm_machine::Psw;

/// What is known while folding: the mode, the assist bit, and `let` slots with constant values.
#[derive(Debug, Clone, PartialEq)]
struct Env {
    mode: Option<u64>,
    assist: Option<u64>,
    locals: Vec<Option<u64>>,
}

impl Env {
    fn merge(&mut self, other: &Env) {
        if self.mode != other.mode {
            self.mode = None;
        }
        if self.assist != other.assist {
            self.assist = None;
        }
        for (a, b) in self.locals.iter_mut().zip(&other.locals) {
            if a != b {
                *a = None;
            }
        }
    }
}

/// A body specialized to one starting mode.
#[derive(Debug, Clone, PartialEq)]
pub struct Residual {
    /// The residual statements.
    pub body: Vec<Stmt>,
    /// Its effect summary.
    pub effects: Effects,
    /// Every path traps (a memory trap on the way counts as a trap too).
    pub must_trap: bool,
    /// Some path may reach an explicit `trap;`.
    pub may_trap: bool,
}

/// Specializes `body` to a starting mode, with the assist bit known when `assist` is given.
pub fn residual(body: &[Stmt], mode: pgvm_isa::Mode, assist: Option<bool>) -> Residual {
    let mut env = Env {
        mode: Some(mode.word()),
        assist: assist.map(u64::from),
        locals: vec![None; slots(body)],
    };
    let mut out = Vec::new();
    block(body, &mut env, &mut out);
    Residual {
        effects: Effects::of(&out),
        must_trap: must_trap(&out),
        may_trap: may_trap(&out),
        body: out,
    }
}

/// The number of `let` slots a body uses.
fn slots(body: &[Stmt]) -> usize {
    stmts(body)
        .map(|s| match s {
            Stmt::Let(slot, _) => slot + 1,
            _ => 0,
        })
        .max()
        .unwrap_or(0)
}

/// Whether control reached the end of a block.
#[derive(PartialEq)]
enum Flow {
    Continues,
    Stops,
}

fn block(stmts: &[Stmt], env: &mut Env, out: &mut Vec<Stmt>) -> Flow {
    for s in stmts {
        if stmt(s, env, out) == Flow::Stops {
            return Flow::Stops;
        }
    }
    Flow::Continues
}

fn stmt(s: &Stmt, env: &mut Env, out: &mut Vec<Stmt>) -> Flow {
    match s {
        Stmt::Store { space, addr, value } => out.push(Stmt::Store {
            space: *space,
            addr: expr(addr, env),
            value: expr(value, env),
        }),
        Stmt::Set(reg, v) => set(*reg, expr(v, env), env, out),
        Stmt::Let(slot, v) => {
            let v = expr(v, env);
            if let Some(l) = env.locals.get_mut(*slot) {
                *l = constant(&v);
            }
            out.push(Stmt::Let(*slot, v));
        }
        Stmt::If(c, t, e) => return branch(c, t, e, env, out),
        Stmt::Trap(_) | Stmt::Halt => {
            out.push(s.clone());
            return Flow::Stops;
        }
        Stmt::Out(v) => out.push(Stmt::Out(expr(v, env))),
        Stmt::Timer(v) => out.push(Stmt::Timer(expr(v, env))),
    }
    Flow::Continues
}

fn set(reg: Reg, v: Expr, env: &mut Env, out: &mut Vec<Stmt>) {
    let c = constant(&v);
    match reg {
        Reg::M => {
            // The mode the interpreter would set, as a word.
            let m = c.map(|c| pgvm_isa::Mode::from_word(c).word());
            if m.is_some() && m == env.mode {
                return; // `M = m` where M already is m: no effect.
            }
            env.mode = m;
        }
        Reg::Assist => {
            let a = c.map(|c| u64::from(c != 0));
            if a.is_some() && a == env.assist {
                return;
            }
            env.assist = a;
        }
        Reg::Psw => {
            env.mode = c.map(|w| Psw::unpack(w).mode.word());
        }
        Reg::P | Reg::R | Reg::L | Reg::B => {}
    }
    out.push(Stmt::Set(reg, v));
}

fn branch(c: &Expr, t: &[Stmt], e: &[Stmt], env: &mut Env, out: &mut Vec<Stmt>) -> Flow {
    let c = expr(c, env);
    match constant(&c) {
        Some(v) => block(if v != 0 { t } else { e }, env, out),
        None => {
            let (mut et, mut ee) = (env.clone(), env.clone());
            let (mut rt, mut re) = (Vec::new(), Vec::new());
            let ft = block(t, &mut et, &mut rt);
            let fe = block(e, &mut ee, &mut re);
            *env = match (&ft, &fe) {
                (Flow::Stops, Flow::Continues) => ee,
                (Flow::Continues, Flow::Stops) => et,
                _ => {
                    et.merge(&ee);
                    et
                }
            };
            out.push(Stmt::If(c, rt, re));
            if ft == Flow::Stops && fe == Flow::Stops {
                Flow::Stops
            } else {
                Flow::Continues
            }
        }
    }
}

fn constant(e: &Expr) -> Option<u64> {
    match e {
        Expr::Const(c) => Some(*c),
        _ => None,
    }
}

/// Folds an expression. Evaluation order and short-circuiting are the interpreter's, so an
/// expression only becomes a constant when the interpreter would evaluate it without touching
/// memory.
fn expr(e: &Expr, env: &Env) -> Expr {
    match e {
        Expr::Local(s) => match env.locals.get(*s).copied().flatten() {
            Some(v) => Expr::Const(v),
            None => e.clone(),
        },
        Expr::Reg(Reg::M) => env.mode.map_or_else(|| e.clone(), Expr::Const),
        Expr::Reg(Reg::Assist) => env.assist.map_or_else(|| e.clone(), Expr::Const),
        Expr::Load(space, a) => Expr::Load(*space, Box::new(expr(a, env))),
        Expr::Unary(op, a) => {
            let a = expr(a, env);
            match constant(&a) {
                Some(v) => Expr::Const(unary(*op, v)),
                None => Expr::Unary(*op, Box::new(a)),
            }
        }
        Expr::Binary(op, a, b) => binary(*op, a, b, env),
        _ => e.clone(),
    }
}

fn binary(op: BinOp, a: &Expr, b: &Expr, env: &Env) -> Expr {
    let a = expr(a, env);
    let short = match op {
        BinOp::LogicalAnd => Some(0),
        BinOp::LogicalOr => Some(1),
        _ => None,
    };
    if let (Some(decided), Some(x)) = (short, constant(&a)) {
        // `false && _` and `true || _` never evaluate their right operand.
        if (x != 0) == (decided != 0) {
            return Expr::Const(decided);
        }
    }
    let b = expr(b, env);
    match (constant(&a), constant(&b)) {
        (Some(x), Some(y)) => Expr::Const(alu(op, x, y)),
        _ => Expr::Binary(op, Box::new(a), Box::new(b)),
    }
}

/// Every path of the block ends in a trap: a top-level `trap;` (or an `if` whose branches both
/// must trap) comes before anything that could halt. Statements before it may memory-trap,
/// which is a trap too.
fn must_trap(stmts: &[Stmt]) -> bool {
    for s in stmts {
        match s {
            Stmt::Trap(_) => return true,
            Stmt::Halt => return false,
            Stmt::If(_, t, e) => {
                if must_trap(t) && must_trap(e) {
                    return true;
                }
                if may_halt(t) || may_halt(e) {
                    return false;
                }
            }
            _ => {}
        }
    }
    false
}

fn may_halt(body: &[Stmt]) -> bool {
    stmts(body).any(|s| matches!(s, Stmt::Halt))
}

fn may_trap(body: &[Stmt]) -> bool {
    stmts(body).any(|s| matches!(s, Stmt::Trap(_)))
}

/// The facts that follow from the residuals of one instruction, with the reason for each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proofs {
    /// Privileged, and why.
    pub privileged: Option<String>,
    /// Not control-sensitive from user / supervisor mode, and why.
    pub no_control: [Option<String>; 2],
    /// Not location-sensitive in user / supervisor mode, and why.
    pub no_location: [Option<String>; 2],
    /// Not bounds-sensitive in user / supervisor mode, and why.
    pub no_bounds: [Option<String>; 2],
    /// The user-mode residual reaches no `trap;`, and so the reason a counterexample to
    /// privilege is worth constructing.
    pub user_never_traps: Option<String>,
    /// Not timing-dependent in user / supervisor mode, and why.
    pub no_timing: [Option<String>; 2],
    /// Not mode-sensitive, and why.
    pub no_mode: Option<String>,
}

/// Index of a mode in the `[user, super]` arrays of [`Proofs`].
pub fn mode_index(m: pgvm_isa::Mode) -> usize {
    match m {
        pgvm_isa::Mode::User => 0,
        pgvm_isa::Mode::Supervisor => 1,
    }
}

/// Everything provable about one body. `assist` is the assist bit every state has, when the
/// classification fixes it.
pub fn prove(body: &[Stmt], effects: &Effects, assist: Option<bool>) -> Proofs {
    use pgvm_isa::Mode::{Supervisor, User};
    let user = residual(body, User, assist);
    let sup = residual(body, Supervisor, assist);
    let lemma1 = effects.touches_no_primitive();
    let mut p = Proofs::default();
    if user.must_trap && !sup.may_trap {
        p.privileged = Some(
            "user mode always traps; supervisor mode reaches no `trap;` (only memory traps)".into(),
        );
    }
    if !user.may_trap {
        p.user_never_traps = Some(
            "in user mode the body reaches no `trap;`, so a user-mode run without a memory trap completes or halts".into(),
        );
    }
    for (m, r) in [(User, &user), (Supervisor, &sup)] {
        let i = mode_index(m);
        let why = |what: &str| {
            if lemma1 {
                Some("Lemma 1: the body touches no primitive".to_string())
            } else if r.must_trap {
                Some(format!("every {m}-mode run traps"))
            } else {
                Some(format!("in {m} mode the body {what}"))
            }
        };
        let e = &r.effects;
        if r.must_trap || no_control_effect(e) {
            p.no_control[i] = why("changes no M, R, assist, device or outside memory");
        }
        if r.must_trap || no_location_effect(e) {
            p.no_location[i] = why("never touches R, the PSW or absolute memory");
        }
        if r.must_trap || !(e.reads.contains(&Primitive::Reloc) || e.reads_psw) {
            p.no_bounds[i] = why("never reads R or the PSW");
        }
        if r.must_trap || !e.reads.contains(&Primitive::Clock) {
            p.no_timing[i] = why("never reads the clock");
        }
    }
    let reads_mode = |r: &Residual| r.effects.reads.contains(&Primitive::Mode);
    p.no_mode = if lemma1 {
        Some("Lemma 1: the body touches no primitive".into())
    } else if user.must_trap || sup.must_trap {
        Some("one of the two modes always traps".into())
    } else if user.body == sup.body && !reads_mode(&user) {
        Some("the body is the same in both modes and never reads M".into())
    } else {
        None
    };
    p
}

/// The assist's soundness for one body (DESIGN.md §4c), for all states: no state in which the
/// body traps with the assist off and does not trap with it on. `None` when this does not
/// follow from the residuals. Proved when the profile has no assist, when the body never
/// reads the assist bit (the two runs are then the same run), or when in each mode either
/// every run with the assist on traps, or the residuals with the assist off and on are the
/// same body and read no assist bit (the two runs again the same).
pub fn assist_sound(body: &[Stmt], effects: &Effects, feature: bool) -> Option<String> {
    use pgvm_isa::Mode::{Supervisor, User};
    if !feature {
        return Some("the profile has no assist (`feature assist`)".into());
    }
    if !effects.reads.contains(&Primitive::Assist) {
        return Some("the body never reads the assist bit: off and on are the same run".into());
    }
    let mut why = Vec::new();
    for m in [User, Supervisor] {
        let on = residual(body, m, Some(true));
        let off = residual(body, m, Some(false));
        let reads = |r: &Residual| r.effects.reads.contains(&Primitive::Assist);
        if on.must_trap {
            why.push(format!("in {m} mode every run with the assist on traps"));
        } else if on.body == off.body && !reads(&on) {
            why.push(format!(
                "in {m} mode the body is the same with the assist off and on"
            ));
        } else {
            return None;
        }
    }
    Some(why.join("; "))
}

fn no_control_effect(e: &Effects) -> bool {
    use Primitive::*;
    let writes = [Mode, Reloc, Absolute, Console, Timer, Assist];
    !writes.iter().any(|w| e.writes.contains(w))
        && !e.writes_psw
        && !e.halts
        && !e.reads.contains(&Console)
}

fn no_location_effect(e: &Effects) -> bool {
    use Primitive::*;
    [Reloc, Absolute]
        .iter()
        .all(|p| !e.reads.contains(p) && !e.writes.contains(p))
        && !e.reads_psw
        && !e.writes_psw
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgvm_isa::Mode;

    fn body(src: &str) -> (Vec<Stmt>, Effects) {
        let text = format!("isa t \"t\"\nextends base\nfeature assist;\n{src}\n");
        let isa = pgvm_isa::parse_str("t.isa", &text).unwrap_or_else(|e| panic!("{e}"));
        let insn = isa.insns.last().expect("one instruction");
        (insn.body.clone(), insn.effects.clone())
    }

    fn proofs(src: &str, assist: Option<bool>) -> Proofs {
        let (b, e) = body(src);
        prove(&b, &e, assist)
    }

    #[test]
    fn the_privileged_sugar_is_found_in_the_body() {
        let p = proofs("insn x rrr 0x60 (a) privileged \"\" { R = E[a]; }", None);
        assert!(p.privileged.is_some());
        assert!(p.no_control[0].is_some(), "user mode always traps");
        assert!(p.no_control[1].is_none(), "supervisor mode loads R");
    }

    #[test]
    fn a_hand_written_guard_is_just_as_privileged() {
        for guard in [
            "M == user",
            "M != super",
            "!(M == super)",
            "true && M == user",
        ] {
            let src = format!("insn x rrr 0x60 (a) \"\" {{ if {guard} {{ trap; }} R = E[a]; }}");
            assert!(proofs(&src, None).privileged.is_some(), "{guard}");
        }
    }

    #[test]
    fn a_user_mode_nop_is_not_proven_privileged() {
        let p = proofs(
            "insn x rrr 0x60 (a) \"\" { if M == super { R = E[a]; } }",
            None,
        );
        assert!(p.privileged.is_none());
        assert!(p.no_control[0].is_some(), "nothing happens in user mode");
        assert!(p.no_mode.is_none());
    }

    #[test]
    fn a_trap_reachable_in_supervisor_mode_defeats_the_proof() {
        let p = proofs(
            "insn x rrr 0x60 (a, c) privileged \"\" { if E[c] == 0 { trap; } E[a] = 1; }",
            None,
        );
        assert!(p.privileged.is_none());
    }

    #[test]
    fn the_assist_guard_is_privileged_only_under_the_assist() {
        let src = "insn x rrr 0x60 (a) \"\" { if assist && M == user { trap; } E[a] = R; }";
        assert!(proofs(src, Some(true)).privileged.is_some());
        assert!(proofs(src, Some(false)).privileged.is_none());
        assert!(proofs(src, None).privileged.is_none());
    }

    #[test]
    fn lemma_1_covers_bodies_without_primitives() {
        let p = proofs(
            "insn x rrr 0x60 \"\" { if E[c] == 0 { trap; } E[a] = E[b] / E[c]; }",
            None,
        );
        assert!(p.privileged.is_none());
        assert!(p.no_control.iter().all(Option::is_some));
        assert!(p.no_location.iter().all(Option::is_some));
        assert!(p.no_timing.iter().all(Option::is_some));
        assert!(p.no_mode.is_some());
    }

    #[test]
    fn reading_the_mode_is_mode_dependent() {
        let p = proofs("insn x rrr 0x60 (a) \"\" { E[a] = bit(M == user); }", None);
        assert!(p.no_mode.is_none());
        assert!(p.no_control.iter().all(Option::is_some));
        assert!(p.no_location.iter().all(Option::is_some));
    }

    #[test]
    fn setting_the_mode_it_already_has_is_no_effect() {
        let (b, _) = body("insn x ri 0x60 (imm) \"\" { M = user; P = imm; }");
        let user = residual(&b, Mode::User, None);
        assert!(!user.effects.writes.contains(&Primitive::Mode));
        let sup = residual(&b, Mode::Supervisor, None);
        assert!(sup.effects.writes.contains(&Primitive::Mode));
    }

    #[test]
    fn a_mode_left_unknown_by_a_branch_is_not_folded() {
        // The user-mode and supervisor-mode residuals are the same text, but the body reads
        // M after a branch that may or may not set it: not provably mode-insensitive.
        let p = proofs(
            "insn x rrr 0x60 (a, b) \"\" { if E[b] == 0 { PSW = E[a]; } E[b] = bit(M == user); }",
            None,
        );
        assert!(p.no_mode.is_none());
    }

    #[test]
    fn reading_the_bound_is_not_provably_bounds_insensitive() {
        let p = proofs("insn x rrr 0x60 (a) \"\" { E[a] = R.b; }", None);
        assert!(p.no_bounds.iter().all(Option::is_none));
        assert!(p.user_never_traps.is_some());
        let p = proofs("insn x rrr 0x60 (a, b) \"\" { E[a] = E[E[b]]; }", None);
        assert!(p.no_bounds.iter().all(Option::is_some), "memory alone");
        let p = proofs("insn x rrr 0x60 (a) privileged \"\" { E[a] = R.b; }", None);
        assert!(p.no_bounds[0].is_some() && p.no_bounds[1].is_none());
        assert!(p.user_never_traps.is_none());
    }

    #[test]
    fn an_assist_that_adds_a_trap_is_proved_sound_and_one_that_removes_one_is_not() {
        let sound = "insn x rrr 0x60 (a) \"\" { if assist && M == user { trap; } E[a] = R; }";
        let (b, e) = body(sound);
        assert!(assist_sound(&b, &e, true).is_some());
        let unsound = "insn x rrr 0x60 (a) \"\" { if !assist && M == user { trap; } E[a] = R; }";
        let (b, e) = body(unsound);
        assert!(assist_sound(&b, &e, true).is_none());
        assert!(
            assist_sound(&b, &e, false).is_some(),
            "no assist, no question"
        );
        let (b, e) = body("insn x rrr 0x60 (a) \"\" { E[a] = R; }");
        assert!(
            assist_sound(&b, &e, true).is_some(),
            "never reads the assist"
        );
    }

    #[test]
    fn code_after_a_trap_is_unreachable() {
        let (b, _) = body("insn x rrr 0x60 (a) \"\" { trap; M = user; }");
        let r = residual(&b, Mode::Supervisor, None);
        assert_eq!(r.body.len(), 1);
        assert!(r.must_trap);
    }
}
