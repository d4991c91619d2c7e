//! The checked model of an ISA description: what every other crate consumes.

use serde::Serialize;

use crate::effects::Effects;
use crate::index::Index;

/// The processor mode of the paper's machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Supervisor mode: the whole repertoire is available.
    Supervisor,
    /// User mode: privileged instructions trap.
    User,
}

impl Mode {
    /// The short name used by the assembler and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Supervisor => "super",
            Mode::User => "user",
        }
    }

    /// The word that stands for this mode in a body (`M`, `user`, `super`).
    pub const fn word(self) -> u64 {
        match self {
            Mode::Supervisor => MODE_SUPER,
            Mode::User => MODE_USER,
        }
    }

    /// The mode a body sets with `M = w`: user for [`MODE_USER`], supervisor for any other
    /// word (the checker only lets mode-typed values through, but the interpreter must be
    /// total).
    pub const fn from_word(w: u64) -> Mode {
        if w == MODE_USER {
            Mode::User
        } else {
            Mode::Supervisor
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Optional devices and control state. The base machine is exactly `<E, M, P, R>`; each feature
/// is an extension the paper's §9 allows, never a change to the base semantics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Features {
    /// A console device: `out(x)` and `in()`.
    pub console: bool,
    /// An interval timer counted in executed instructions, interrupting through the vector
    /// pair `(E[2t], E[2t+1])` for the class `t` held here.
    pub timer: Option<u64>,
    /// A one-bit assist control register (a VT-x-like hardware assist).
    pub assist: bool,
    /// A System/370-style VM assist: the instructions the machine itself carries out for a
    /// guest on behalf of its monitor, from a control block the monitor hands it.
    pub vm_assist: Option<VmAssist>,
}

/// The instructions a System/370-style VM assist covers (`feature vm_assist { ... }`).
///
/// Named here, in the description, rather than in the machine, so that which instructions a
/// profile's assist performs is part of the profile, like everything else about it. Names are
/// resolved when the whole description has been read (a profile may declare the feature
/// before the instructions it names), and checked then.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VmAssist {
    /// Instructions the machine performs itself, on the virtual state, when the guest is in
    /// virtual supervisor mode (`perform lpsw, lctl;`).
    pub perform: Vec<String>,
    /// Instructions whose trap the machine reflects into the guest's own `E[0]`/`E[1]`, in
    /// either virtual mode (`reflect svc;`).
    pub reflect: Vec<String>,
    /// Where the feature was declared.
    pub origin: Option<Origin>,
}

/// A bit field of an instruction format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Field {
    /// The field's name, as bodies and documentation use it.
    pub name: String,
    /// The most significant bit (63 is the top of the word).
    pub hi: u32,
    /// The least significant bit.
    pub lo: u32,
    /// Whether the body sees the field sign-extended.
    pub signed: bool,
}

impl Field {
    /// Number of bits.
    pub fn width(&self) -> u32 {
        self.hi - self.lo + 1
    }

    /// The field's bits in place within the word.
    pub fn mask(&self) -> u64 {
        low_bits(self.width()) << self.lo
    }

    /// The value a body sees: zero- or sign-extended to 64 bits.
    #[inline]
    pub fn extract(&self, word: u64) -> u64 {
        let raw = (word >> self.lo) & low_bits(self.width());
        if self.signed {
            let shift = 64 - self.width();
            (((raw << shift) as i64) >> shift) as u64
        } else {
            raw
        }
    }

    /// The smallest and largest value an assembler may put in this field.
    pub fn range(&self) -> (i128, i128) {
        let w = self.width();
        if self.signed {
            (-(1i128 << (w - 1)), (1i128 << (w - 1)) - 1)
        } else {
            (0, (1i128 << w) - 1)
        }
    }

    /// Places `value` in the field, or says it does not fit.
    pub fn encode(&self, value: i128) -> Option<u64> {
        let (min, max) = self.range();
        if value < min || value > max {
            return None;
        }
        Some(((value as u64) & low_bits(self.width())) << self.lo)
    }
}

/// The low `n` bits set (n ≤ 64).
pub fn low_bits(n: u32) -> u64 {
    if n >= 64 { u64::MAX } else { (1u64 << n) - 1 }
}

/// An instruction format: the layout of fields in the 64-bit word.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Format {
    /// The format's name.
    pub name: String,
    /// Its fields, in declaration order.
    pub fields: Vec<Field>,
    /// Index of the field named `op` in `fields`.
    pub op: usize,
}

impl Format {
    /// Bits of the word that belong to no field. An instruction word with any of them set does
    /// not come from the assembler, so the disassembler shows it as data.
    pub fn unused_mask(&self) -> u64 {
        !self.fields.iter().fold(0, |m, f| m | f.mask())
    }

    /// Looks a field up by name.
    pub fn field(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }
}

/// Where a declaration came from, for messages that point back at the source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Origin {
    /// The file (or built-in name) the declaration was read from.
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub col: u32,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// One instruction of the repertoire.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Insn {
    /// The assembler mnemonic.
    pub mnemonic: String,
    /// Index into [`Isa::formats`].
    pub format: usize,
    /// The value of the format's `op` field.
    pub opcode: u64,
    /// Fields the assembler takes as operands, in order (indices into the format's fields).
    pub operands: Vec<usize>,
    /// Whether the description used the `privileged` sugar. Documentation only: the classifier
    /// must derive privilege from `body`.
    pub privileged_sugar: bool,
    /// One-line documentation.
    pub doc: String,
    /// The historical instruction this one is an analogue of.
    pub models: Option<String>,
    /// The semantics, with the `privileged` sugar already expanded.
    pub body: Vec<Stmt>,
    /// Number of `let` slots the body uses.
    pub locals: usize,
    /// Which primitives the body may read or write.
    pub effects: Effects,
    /// Where the instruction was declared.
    pub origin: Origin,
}

/// Which memory a load or store goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Space {
    /// `E[x]`: relocated through `R`, with the paper's address development.
    Relocated,
    /// `A[x]`: absolute, ignoring `R`.
    Absolute,
}

/// Why a body traps. Display only: classification never looks at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TrapCause {
    /// The `privileged` sugar's user-mode trap.
    Privileged,
    /// An explicit `trap;` (a supervisor call, an arithmetic trap, ...).
    Instruction,
}

/// A statement of an instruction body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Stmt {
    /// `E[addr] = value` or `A[addr] = value`.
    Store {
        /// Which memory.
        space: Space,
        /// The address expression.
        addr: Expr,
        /// The stored value.
        value: Expr,
    },
    /// Assignment to a register.
    Set(Reg, Expr),
    /// `let`: evaluate once into a local slot.
    Let(usize, Expr),
    /// `if cond { then } else { els }`.
    If(Expr, Vec<Stmt>, Vec<Stmt>),
    /// Trap: the instruction is blocked.
    Trap(TrapCause),
    /// Stop the processor at this instruction.
    Halt,
    /// Console output of the low byte.
    Out(Expr),
    /// Arm the interval timer.
    Timer(Expr),
}

/// An assignable register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Reg {
    /// The program counter (the next instruction).
    P,
    /// The mode.
    M,
    /// The whole relocation-bounds register, from a packed word.
    R,
    /// The relocation half of `R`.
    L,
    /// The bounds half of `R`.
    B,
    /// `<M, P, R>` from a PSW word.
    Psw,
    /// The assist bit.
    Assist,
}

/// A unary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum UnOp {
    /// Two's complement negation.
    Neg,
    /// Bitwise complement.
    Not,
    /// Boolean not.
    LogicalNot,
    /// `bit(c)`: a boolean as 0 or 1.
    Bit,
}

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[allow(missing_docs)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    And,
    Or,
    Xor,
    Shl,
    Shr,
    Sar,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Lts,
    Les,
    LogicalAnd,
    LogicalOr,
}

/// An expression. Booleans and modes are carried as words 0/1 at run time; the checker has
/// already made sure they are used consistently.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Expr {
    /// A literal (modes: supervisor 0, user 1; booleans: 0, 1).
    Const(u64),
    /// A field of the instruction word, extended as the format says.
    Field(usize),
    /// A `let` slot.
    Local(usize),
    /// A load from memory.
    Load(Space, Box<Expr>),
    /// A register read.
    Reg(Reg),
    /// `clock()`.
    Clock,
    /// `in()`.
    In,
    /// A unary operation.
    Unary(UnOp, Box<Expr>),
    /// A binary operation.
    Binary(BinOp, Box<Expr>, Box<Expr>),
}

/// Mode as the word the checked AST carries.
pub const MODE_SUPER: u64 = 0;
/// Mode as the word the checked AST carries.
pub const MODE_USER: u64 = 1;

/// A checked, fully resolved ISA description.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Isa {
    /// The profile's name.
    pub name: String,
    /// One-line description.
    pub description: String,
    /// Whether the profile only exists to be extended.
    pub is_abstract: bool,
    /// The chain of profiles this one extends, nearest first.
    pub ancestors: Vec<String>,
    /// Devices and control state.
    pub features: Features,
    /// Instruction formats.
    pub formats: Vec<Format>,
    /// The repertoire, in declaration order (inherited ones first).
    pub insns: Vec<Insn>,
    /// The file the profile was read from.
    pub file: String,
    /// The opcode table and mnemonic index, built by the parser ([`Isa::reindex`]).
    #[serde(skip)]
    pub(crate) index: Index,
}

/// Index into [`Isa::insns`].
pub type InsnId = usize;

impl Isa {
    /// The format of an instruction.
    pub fn format_of(&self, id: InsnId) -> &Format {
        &self.formats[self.insns[id].format]
    }

    /// The `(mask, value)` pair a word must match to be this instruction.
    pub fn matcher(&self, id: InsnId) -> (u64, u64) {
        let insn = &self.insns[id];
        let op = &self.formats[insn.format].fields[self.formats[insn.format].op];
        (op.mask(), insn.opcode << op.lo)
    }

    /// Which instruction a word encodes, if any. The checker guarantees at most one matches.
    /// One table lookup per op layout (usually one or two), whatever the repertoire's size.
    #[inline]
    pub fn decode(&self, word: u64) -> Option<InsnId> {
        self.index.decode(word)
    }

    /// Looks an instruction up by mnemonic.
    pub fn insn(&self, mnemonic: &str) -> Option<InsnId> {
        self.index.insn(mnemonic)
    }

    /// The shape of an instruction's body, matched when the description was loaded
    /// ([`crate::shape`]); `None` for an id out of range.
    pub fn shape(&self, id: InsnId) -> Option<&crate::shape::BodyShape> {
        self.index.shape(id)
    }

    /// Rebuilds the opcode table, the mnemonic index and the body shapes from `formats` and
    /// `insns`. The parser does this once a description is read; code that edits those fields
    /// of a loaded ISA must call it before [`Isa::decode`], [`Isa::insn`] or [`Isa::shape`].
    pub fn reindex(&mut self) {
        self.index = Index::build(self);
    }

    /// Encodes an instruction from its operand values, in operand order.
    pub fn encode(&self, id: InsnId, operands: &[i128]) -> Result<u64, EncodeError> {
        let insn = &self.insns[id];
        let format = &self.formats[insn.format];
        if operands.len() != insn.operands.len() {
            return Err(EncodeError::Arity {
                expected: insn.operands.len(),
                found: operands.len(),
            });
        }
        let (_, mut word) = self.matcher(id);
        for (i, (&fid, &value)) in insn.operands.iter().zip(operands).enumerate() {
            let field = &format.fields[fid];
            let bits = field.encode(value).ok_or_else(|| {
                let (min, max) = field.range();
                EncodeError::Range {
                    operand: i,
                    field: field.name.clone(),
                    value,
                    min,
                    max,
                }
            })?;
            word |= bits;
        }
        Ok(word)
    }

    /// The operand values of a word that decodes as `id`, in operand order, if the assembler
    /// could have produced the word (no stray bits in non-operand fields or unused bits).
    pub fn operands_of(&self, id: InsnId, word: u64) -> Option<Vec<i128>> {
        let insn = &self.insns[id];
        let format = &self.formats[insn.format];
        if word & format.unused_mask() != 0 {
            return None;
        }
        for (fid, field) in format.fields.iter().enumerate() {
            if fid != format.op && !insn.operands.contains(&fid) && word & field.mask() != 0 {
                return None;
            }
        }
        Some(
            insn.operands
                .iter()
                .map(|&fid| {
                    let f = &format.fields[fid];
                    let v = f.extract(word);
                    if f.signed {
                        v as i64 as i128
                    } else {
                        v as i128
                    }
                })
                .collect(),
        )
    }
}

/// Why [`Isa::encode`] refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// Wrong number of operands.
    #[error("Expected {expected} operand(s), found {found}")]
    Arity {
        /// How many the instruction takes.
        expected: usize,
        /// How many were given.
        found: usize,
    },
    /// An operand does not fit its field.
    #[error("Operand {} ({field}) is {value}, outside {min}..={max}", operand + 1)]
    Range {
        /// 0-based operand index.
        operand: usize,
        /// The field's name.
        field: String,
        /// The value given.
        value: i128,
        /// Smallest allowed value.
        min: i128,
        /// Largest allowed value.
        max: i128,
    },
}
