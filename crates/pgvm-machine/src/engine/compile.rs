//! Specialization for the fast engine: a decoded word whose body has one of the common
//! *shapes* ([`pgvm_isa::shape`]: `E[f] = E[g] op E[h]`, `if E[f] == 0 { P = imm; }`, ...)
//! becomes a flat [`Op`] with its field values baked in.
//!
//! This is not a second copy of any instruction's semantics: the shapes are the description's
//! own statements, matched once when it was loaded (the block engine lowers the same match),
//! and the operators go through [`pgvm_isa::ops::alu`], the same function the interpreter
//! uses. Anything else runs through the interpreter. A property test compares the two on
//! random programs for every built-in profile.

use pgvm_isa::shape::{BodyShape, Shape, Val};
use pgvm_isa::{BinOp, InsnId, Isa};

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

pub(crate) fn compile(isa: &Isa, id: InsnId, word: u64) -> Op {
    match shape(isa, id, word).unwrap_or(Op::Generic(id)) {
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

/// The op of a body that is one statement of a shape the engine has an op for, with no
/// register read: the decode cache is not keyed by the PSW.
fn shape(isa: &Isa, id: InsnId, word: u64) -> Option<Op> {
    let BodyShape {
        user_trap: None,
        shapes: Some([Some(s), None]),
    } = isa.shape(id)?
    else {
        return None;
    };
    let format = &isa.formats[isa.insns.get(id)?.format];
    let k = |v: Val| match v {
        Val::Const(c) => Some(c),
        Val::Field(i) => Some(format.fields.get(i)?.extract(word)),
        Val::Reg(_) => None,
    };
    let a = |v: Val| k(v).map(addr);
    Some(match *s {
        Shape::Bin(op, x, y, z) => Op::Bin {
            op,
            a: a(x)?,
            b: a(y)?,
            c: a(z)?,
        },
        Shape::BinK(op, x, y, c) => Op::BinK {
            op,
            a: a(x)?,
            b: a(y)?,
            k: k(c)?,
        },
        Shape::Set(x, c) => Op::Set { a: a(x)?, k: k(c)? },
        Shape::Mov(x, y) => Op::Mov { a: a(x)?, b: a(y)? },
        Shape::LoadX(x, y, z) => Op::LoadX {
            a: a(x)?,
            b: a(y)?,
            c: a(z)?,
        },
        Shape::StoreX(x, y, z) => Op::StoreX {
            a: a(x)?,
            b: a(y)?,
            c: a(z)?,
        },
        Shape::Jump(t) => Op::Jump { t: target(k(t)?) },
        Shape::Branch(op, x, c, t) => Op::Branch {
            op,
            a: a(x)?,
            k: k(c)?,
            t: target(k(t)?),
        },
        _ => return None,
    })
}
