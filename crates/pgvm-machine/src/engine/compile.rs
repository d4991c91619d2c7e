//! Specialization for the fast engine: recognize common body *shapes* in the checked AST and
//! turn a decoded word into a flat [`Op`] with its field values baked in.
//!
//! This is not a second copy of any instruction's semantics. It matches shapes of the
//! description's own statements (`E[f] = E[g] op E[h]`, `if E[f] == 0 { P = imm; }`, ...), and
//! the operators go through [`pgvm_isa::ops::alu`], the same function the interpreter uses. Anything
//! that does not match runs through the interpreter. A property test compares the two on
//! random programs for every built-in profile.

use pgvm_isa::{BinOp, Expr, InsnId, Isa, Reg, Space, Stmt};

/// An apparent address, saturated to 32 bits. Every valid address is below `2^21`, so a
/// saturated address still fails development exactly when the full one does; the saving is
/// a decode cache of 24-byte ops instead of 40-byte ones.
pub(crate) type Addr = u32;

fn addr(v: u64) -> Addr {
    v.min(Addr::MAX as u64) as Addr
}

/// A pre-decoded instruction, as the engine's decode cache holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// Not decoded yet, or the word changed since.
    Stale,
    /// The word decodes as no instruction.
    Illegal,
    /// Run through the interpreter.
    Generic(InsnId),
    /// `E[a] = E[b] op E[c]`.
    Bin {
        op: BinOp,
        a: Addr,
        b: Addr,
        c: Addr,
    },
    /// `E[a] = E[b] op k`.
    BinK { op: BinOp, a: Addr, b: Addr, k: u64 },
    /// `E[a] = E[b] + k`, the commonest `BinK`, without the operator dispatch.
    AddK { a: Addr, b: Addr, k: u64 },
    /// `E[a] = k`.
    Set { a: Addr, k: u64 },
    /// `E[a] = E[b]`.
    Mov { a: Addr, b: Addr },
    /// `E[a] = E[E[b] + E[c]]`.
    LoadX { a: Addr, b: Addr, c: Addr },
    /// `E[E[b] + E[c]] = E[a]`.
    StoreX { a: Addr, b: Addr, c: Addr },
    /// `P = t` (`t` already cut to the width of `P`).
    Jump { t: Addr },
    /// `if E[a] op k { P = t; }`.
    Branch { op: BinOp, a: Addr, k: u64, t: Addr },
    /// `if E[a] != 0 { P = t; }`, the commonest `Branch`.
    BranchNz { a: Addr, t: Addr },
    /// `if E[a] == 0 { P = t; }`.
    BranchZ { a: Addr, t: Addr },
}

/// A jump target as `P` will hold it.
fn target(t: u64) -> Addr {
    (t & crate::psw::REG_MAX) as Addr
}

/// A value that is fixed once the word is decoded.
fn konst(isa: &Isa, format: usize, word: u64, e: &Expr) -> Option<u64> {
    match e {
        Expr::Const(v) => Some(*v),
        Expr::Field(i) => Some(isa.formats[format].fields[*i].extract(word)),
        _ => None,
    }
}

/// `E[k]` with a fixed `k`.
fn mem_at(isa: &Isa, format: usize, word: u64, e: &Expr) -> Option<u64> {
    match e {
        Expr::Load(Space::Relocated, a) => konst(isa, format, word, a),
        _ => None,
    }
}

/// `E[E[b] + E[c]]`.
fn indexed(isa: &Isa, format: usize, word: u64, e: &Expr) -> Option<(u64, u64)> {
    match e {
        Expr::Binary(BinOp::Add, x, y) => {
            Some((mem_at(isa, format, word, x)?, mem_at(isa, format, word, y)?))
        }
        _ => None,
    }
}

/// Word-valued operators the fast path handles (comparisons yield 0/1 words too).
fn word_op(op: BinOp) -> bool {
    !matches!(op, BinOp::LogicalAnd | BinOp::LogicalOr)
}

pub(crate) fn compile(isa: &Isa, id: InsnId, word: u64) -> Op {
    match shape(isa, id, word) {
        Op::BinK {
            op: BinOp::Add,
            a,
            b,
            k,
        } => Op::AddK { a, b, k },
        Op::Branch {
            op: BinOp::Ne,
            a,
            k: 0,
            t,
        } => Op::BranchNz { a, t },
        Op::Branch {
            op: BinOp::Eq,
            a,
            k: 0,
            t,
        } => Op::BranchZ { a, t },
        op => op,
    }
}

fn shape(isa: &Isa, id: InsnId, word: u64) -> Op {
    let insn = &isa.insns[id];
    let f = insn.format;
    let generic = Op::Generic(id);
    let [stmt] = insn.body.as_slice() else {
        return generic;
    };
    let k = |e| konst(isa, f, word, e);
    let m = |e| mem_at(isa, f, word, e).map(addr);
    match stmt {
        Stmt::Store {
            space: Space::Relocated,
            addr,
            value,
        } => {
            if let Some(a) = k(addr).map(self::addr) {
                if let Some(kv) = k(value) {
                    return Op::Set { a, k: kv };
                }
                if let Some(b) = m(value) {
                    return Op::Mov { a, b };
                }
                if let Expr::Load(Space::Relocated, inner) = value
                    && let Some((b, c)) = indexed(isa, f, word, inner)
                {
                    return Op::LoadX {
                        a,
                        b: self::addr(b),
                        c: self::addr(c),
                    };
                }
                if let Expr::Binary(op, x, y) = value
                    && word_op(*op)
                    && let Some(b) = m(x)
                {
                    if let Some(c) = m(y) {
                        return Op::Bin { op: *op, a, b, c };
                    }
                    if let Some(kv) = k(y) {
                        return Op::BinK {
                            op: *op,
                            a,
                            b,
                            k: kv,
                        };
                    }
                }
                if let Expr::Unary(pgvm_isa::UnOp::Bit, inner) = value
                    && let Expr::Binary(op, x, y) = &**inner
                    && word_op(*op)
                    && let (Some(b), Some(c)) = (m(x), m(y))
                {
                    // bit(E[b] cmp E[c]): comparisons already yield 0 or 1.
                    return Op::Bin { op: *op, a, b, c };
                }
            } else if let Some((b, c)) = indexed(isa, f, word, addr)
                && let Some(a) = m(value)
            {
                return Op::StoreX {
                    a,
                    b: self::addr(b),
                    c: self::addr(c),
                };
            }
            generic
        }
        Stmt::Set(Reg::P, t) => match k(t) {
            Some(t) => Op::Jump { t: target(t) },
            None => generic,
        },
        Stmt::If(Expr::Binary(op, x, y), then, els) if els.is_empty() && word_op(*op) => {
            match (m(x), k(y), then.as_slice()) {
                (Some(a), Some(kv), [Stmt::Set(Reg::P, t)]) => match k(t) {
                    Some(t) => Op::Branch {
                        op: *op,
                        a,
                        k: kv,
                        t: target(t),
                    },
                    None => generic,
                },
                _ => generic,
            }
        }
        _ => generic,
    }
}
