//! Effect summaries: which primitives an instruction body may read or write.
//!
//! The classifier builds its proofs on these. An instruction whose body touches none of the
//! primitives below (a trap aside) cannot depend on `M` or `l` and cannot change `M` or `R`,
//! so it is innocuous by the argument of the paper's Lemma 1.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::model::{Expr, Reg, Space, Stmt};
use crate::visit::{Node, nodes};

/// An explicit primitive of the language, beyond relocated memory and `P`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Primitive {
    /// The mode `M`.
    Mode,
    /// The relocation-bounds register `R` (either half).
    Reloc,
    /// Absolute memory `A[x]`.
    Absolute,
    /// The console device.
    Console,
    /// The interval timer.
    Timer,
    /// The clock (elapsed instructions).
    Clock,
    /// The assist bit.
    Assist,
}

impl Primitive {
    /// The name used in documentation.
    pub fn name(self) -> &'static str {
        match self {
            Primitive::Mode => "M",
            Primitive::Reloc => "R",
            Primitive::Absolute => "absolute memory",
            Primitive::Console => "console",
            Primitive::Timer => "timer",
            Primitive::Clock => "clock",
            Primitive::Assist => "assist",
        }
    }
}

/// What a body may do, over all of its paths.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Effects {
    /// Primitives it may read.
    pub reads: BTreeSet<Primitive>,
    /// Primitives it may write.
    pub writes: BTreeSet<Primitive>,
    /// Whether it reads `PSW` as a whole.
    pub reads_psw: bool,
    /// Whether it loads `PSW` as a whole.
    pub writes_psw: bool,
    /// Whether it may trap explicitly (`trap;`, including the `privileged` sugar).
    pub traps: bool,
    /// Whether it may halt.
    pub halts: bool,
    /// Whether it reads relocated memory.
    pub reads_memory: bool,
    /// Whether it writes relocated memory.
    pub writes_memory: bool,
    /// Whether it reads `P`.
    pub reads_p: bool,
    /// Whether it writes `P`.
    pub writes_p: bool,
}

impl Effects {
    /// Computes the summary of a body.
    pub fn of(body: &[Stmt]) -> Effects {
        let mut e = Effects::default();
        for node in nodes(body) {
            match node {
                Node::Stmt(s) => e.stmt(s),
                Node::Expr(x) => e.expr(x),
            }
        }
        e
    }

    /// True when the body touches no primitive and cannot halt: innocuous by Lemma 1.
    pub fn touches_no_primitive(&self) -> bool {
        self.reads.is_empty() && self.writes.is_empty() && !self.halts
    }

    fn stmt(&mut self, s: &Stmt) {
        match s {
            Stmt::Store { space, .. } => match space {
                Space::Relocated => self.writes_memory = true,
                Space::Absolute => {
                    self.writes.insert(Primitive::Absolute);
                }
            },
            Stmt::Set(reg, _) => match reg {
                Reg::P => self.writes_p = true,
                Reg::M => {
                    self.writes.insert(Primitive::Mode);
                }
                Reg::R | Reg::L | Reg::B => {
                    self.writes.insert(Primitive::Reloc);
                }
                Reg::Psw => {
                    self.writes_psw = true;
                    self.writes_p = true;
                    self.writes.insert(Primitive::Mode);
                    self.writes.insert(Primitive::Reloc);
                }
                Reg::Assist => {
                    self.writes.insert(Primitive::Assist);
                }
            },
            Stmt::Trap(_) => self.traps = true,
            Stmt::Halt => self.halts = true,
            Stmt::Out(_) => {
                self.writes.insert(Primitive::Console);
            }
            Stmt::Timer(_) => {
                self.writes.insert(Primitive::Timer);
            }
            Stmt::Let(..) | Stmt::If(..) => {}
        }
    }

    fn expr(&mut self, e: &Expr) {
        match e {
            Expr::Load(space, _) => match space {
                Space::Relocated => self.reads_memory = true,
                Space::Absolute => {
                    self.reads.insert(Primitive::Absolute);
                }
            },
            Expr::Reg(r) => match r {
                Reg::P => self.reads_p = true,
                Reg::M => {
                    self.reads.insert(Primitive::Mode);
                }
                Reg::R | Reg::L | Reg::B => {
                    self.reads.insert(Primitive::Reloc);
                }
                Reg::Psw => {
                    self.reads_psw = true;
                    self.reads_p = true;
                    self.reads.insert(Primitive::Mode);
                    self.reads.insert(Primitive::Reloc);
                }
                Reg::Assist => {
                    self.reads.insert(Primitive::Assist);
                }
            },
            Expr::Clock => {
                self.reads.insert(Primitive::Clock);
            }
            Expr::In => {
                self.reads.insert(Primitive::Console);
            }
            Expr::Const(_)
            | Expr::Field(_)
            | Expr::Local(_)
            | Expr::Unary(..)
            | Expr::Binary(..) => {}
        }
    }
}
