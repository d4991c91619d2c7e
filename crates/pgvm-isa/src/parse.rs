//! The parser, which checks as it reads: names, types, encodings and profiles are all settled
//! in one pass, so every error points at the token that caused it.

use crate::effects::Effects;
use crate::error::IsaError;
use crate::lexer::{Tok, Token, lex};
use crate::model::{
    BinOp, Expr, Features, Field, Format, Insn, Isa, MODE_SUPER, MODE_USER, Origin, Reg, Space,
    Stmt, TrapCause, UnOp, low_bits,
};

/// The type of an expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Word,
    Bool,
    Mode,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::Word => "word",
            Ty::Bool => "bool",
            Ty::Mode => "mode",
        }
    }
}

struct Parser<F> {
    toks: Vec<Token>,
    pos: usize,
    file: String,
    isa: Isa,
    /// The format of the instruction whose body is being read.
    format: Option<usize>,
    /// `let` names in scope, innermost last, with their slot and type.
    locals: Vec<(String, usize, Ty)>,
    next_slot: usize,
    /// For a `redefine`: the replaced instruction's format, body and local count, which the
    /// statement `inherited;` splices in.
    inherited: Option<(usize, Vec<Stmt>, usize)>,
    /// Loads a parent profile by name, on behalf of `extends`.
    parent: F,
}

/// Parses and checks one description. `parent` resolves `extends`.
pub(crate) fn parse<F>(file: &str, src: &str, parent: F) -> Result<Isa, IsaError>
where
    F: FnMut(&str, &Origin) -> Result<Isa, IsaError>,
{
    let toks = lex(file, src)?;
    let mut p = Parser {
        toks,
        pos: 0,
        file: file.to_string(),
        isa: Isa {
            name: String::new(),
            description: String::new(),
            is_abstract: false,
            ancestors: Vec::new(),
            features: Features::default(),
            formats: Vec::new(),
            insns: Vec::new(),
            file: file.to_string(),
        },
        format: None,
        locals: Vec::new(),
        next_slot: 0,
        inherited: None,
        parent,
    };
    p.header()?;
    while p.peek() != &Tok::Eof {
        p.decl()?;
    }
    p.check_encodings()?;
    Ok(p.isa)
}

type R<T> = Result<T, IsaError>;

/// Most stores, `out`s and `let`s in one body (the interpreter keeps them in fixed arrays).
pub const MAX_EFFECTS: usize = 16;

/// A statement with every local slot moved up by `offset`.
fn shift_locals(s: &Stmt, offset: usize) -> Stmt {
    let e = |x: &Expr| shift_expr(x, offset);
    let b = |v: &[Stmt]| v.iter().map(|s| shift_locals(s, offset)).collect();
    match s {
        Stmt::Store { space, addr, value } => Stmt::Store {
            space: *space,
            addr: e(addr),
            value: e(value),
        },
        Stmt::Set(r, v) => Stmt::Set(*r, e(v)),
        Stmt::Let(slot, v) => Stmt::Let(slot + offset, e(v)),
        Stmt::If(c, t, f) => Stmt::If(e(c), b(t), b(f)),
        Stmt::Out(v) => Stmt::Out(e(v)),
        Stmt::Timer(v) => Stmt::Timer(e(v)),
        Stmt::Trap(_) | Stmt::Halt => s.clone(),
    }
}

fn shift_expr(x: &Expr, offset: usize) -> Expr {
    match x {
        Expr::Local(slot) => Expr::Local(slot + offset),
        Expr::Load(space, a) => Expr::Load(*space, Box::new(shift_expr(a, offset))),
        Expr::Unary(op, a) => Expr::Unary(*op, Box::new(shift_expr(a, offset))),
        Expr::Binary(op, a, b) => Expr::Binary(
            *op,
            Box::new(shift_expr(a, offset)),
            Box::new(shift_expr(b, offset)),
        ),
        _ => x.clone(),
    }
}

/// Stores and `out`s written in a body, counting both arms of every `if`.
fn count_effects(body: &[Stmt]) -> (usize, usize) {
    body.iter().fold((0, 0), |(s, o), st| match st {
        Stmt::Store { .. } => (s + 1, o),
        Stmt::Out(_) => (s, o + 1),
        Stmt::If(_, t, e) => {
            let (s1, o1) = count_effects(t);
            let (s2, o2) = count_effects(e);
            (s + s1 + s2, o + o1 + o2)
        }
        _ => (s, o),
    })
}

impl<F> Parser<F>
where
    F: FnMut(&str, &Origin) -> Result<Isa, IsaError>,
{
    // ---- token helpers -------------------------------------------------------------------

    fn peek(&self) -> &Tok {
        &self.toks[self.pos].tok
    }

    fn peek2(&self) -> &Tok {
        &self.toks[(self.pos + 1).min(self.toks.len() - 1)].tok
    }

    fn origin(&self) -> Origin {
        let t = &self.toks[self.pos];
        Origin {
            file: self.file.clone(),
            line: t.line,
            col: t.col,
        }
    }

    fn bump(&mut self) -> Tok {
        let t = self.toks[self.pos].tok.clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    fn err<T>(&self, message: impl Into<String>, hint: impl Into<String>) -> R<T> {
        Err(IsaError::at(self.origin(), message, hint))
    }

    fn unexpected<T>(&self, expected: &str) -> R<T> {
        self.err(
            format!("expected {expected}, found {}", self.peek().describe()),
            format!("write {expected} here"),
        )
    }

    fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Tok::Punct(q) if *q == p)
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s == w)
    }

    fn eat_punct(&mut self, p: &str) -> bool {
        if self.is_punct(p) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn eat_word(&mut self, w: &str) -> bool {
        if self.is_word(w) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn expect_punct(&mut self, p: &str) -> R<()> {
        if self.eat_punct(p) {
            Ok(())
        } else {
            self.unexpected(&format!("`{p}`"))
        }
    }

    fn ident(&mut self, what: &str) -> R<String> {
        match self.peek() {
            Tok::Ident(s) => {
                let s = s.clone();
                self.bump();
                Ok(s)
            }
            _ => self.unexpected(what),
        }
    }

    fn number(&mut self, what: &str) -> R<u64> {
        match self.peek() {
            Tok::Num(n) => {
                let n = *n;
                self.bump();
                Ok(n)
            }
            _ => self.unexpected(what),
        }
    }

    fn string(&mut self, what: &str, hint: &str) -> R<String> {
        match self.peek() {
            Tok::Str(s) => {
                let s = s.clone();
                self.bump();
                Ok(s)
            }
            _ => self.err(
                format!("expected {what}, found {}", self.peek().describe()),
                hint,
            ),
        }
    }

    /// A profile name: identifiers and numbers joined by `-` (`ia32-vt`).
    fn profile_name(&mut self) -> R<String> {
        let mut name = self.ident("a profile name")?;
        while self.is_punct("-") && matches!(self.peek2(), Tok::Ident(_) | Tok::Num(_)) {
            self.bump();
            match self.bump() {
                Tok::Ident(s) => name.push_str(&format!("-{s}")),
                Tok::Num(n) => name.push_str(&format!("-{n}")),
                _ => {}
            }
        }
        Ok(name)
    }

    // ---- declarations --------------------------------------------------------------------

    fn header(&mut self) -> R<()> {
        if !self.eat_word("isa") {
            return self.err(
                format!(
                    "expected `isa NAME \"description\"`, found {}",
                    self.peek().describe()
                ),
                "every description starts with its name, e.g. `isa s370 \"IBM System/370 analogue\"`",
            );
        }
        self.isa.name = self.profile_name()?;
        self.isa.description = self.string(
            "the profile's one-line description",
            "write the description as a string after the name",
        )?;
        self.isa.is_abstract = self.eat_word("abstract");
        if self.is_word("extends") {
            self.bump();
            let origin = self.origin();
            let name = self.profile_name()?;
            if name == self.isa.name {
                return Err(IsaError::at(
                    origin,
                    format!("profile `{name}` extends itself"),
                    "extend a different profile, or drop the `extends` line",
                ));
            }
            let parent = (self.parent)(&name, &origin)?;
            self.isa.ancestors = std::iter::once(parent.name.clone())
                .chain(parent.ancestors.iter().cloned())
                .collect();
            self.isa.features = parent.features;
            self.isa.formats = parent.formats;
            self.isa.insns = parent.insns;
        }
        Ok(())
    }

    fn decl(&mut self) -> R<()> {
        match self.peek() {
            Tok::Ident(w) if w == "feature" => self.feature(),
            Tok::Ident(w) if w == "format" => self.format_decl(),
            Tok::Ident(w) if w == "insn" || w == "redefine" => self.insn(),
            Tok::Ident(w) if w == "remove" => self.remove(),
            Tok::Ident(w) if w == "extends" => self.err(
                "`extends` must come right after the `isa` line",
                "move it up, under `isa NAME \"description\"`",
            ),
            _ => self.unexpected("`feature`, `format`, `insn`, `redefine` or `remove`"),
        }
    }

    fn feature(&mut self) -> R<()> {
        self.bump();
        let origin = self.origin();
        let name = self.ident("a feature name")?;
        match name.as_str() {
            "console" => self.isa.features.console = true,
            "assist" => self.isa.features.assist = true,
            "timer" => {
                if !self.eat_word("vector") {
                    return self.unexpected("`vector T` (the timer's interrupt class)");
                }
                let vo = self.origin();
                let t = self.number("the interrupt class T")?;
                if t == 0 || t > 1 << 19 {
                    return Err(IsaError::at(
                        vo,
                        format!("interrupt class {t} is not usable"),
                        "class 0 is the trap pair E[0]/E[1]; pick T >= 1 so the pair (E[2T], E[2T+1]) is its own",
                    ));
                }
                self.isa.features.timer = Some(t);
            }
            _ => {
                return Err(IsaError::at(
                    origin,
                    format!("unknown feature `{name}`"),
                    "features are `console`, `timer vector T` and `assist`",
                ));
            }
        }
        self.expect_punct(";")
    }

    fn format_decl(&mut self) -> R<()> {
        self.bump();
        let origin = self.origin();
        let name = self.ident("a format name")?;
        if self.isa.formats.iter().any(|f| f.name == name) {
            return Err(IsaError::at(
                origin,
                format!("format `{name}` is already defined"),
                "give the new format another name",
            ));
        }
        self.expect_punct("{")?;
        let mut fields: Vec<Field> = Vec::new();
        loop {
            let fo = self.origin();
            let fname = self.ident("a field name")?;
            let hi = self.number("the field's high bit")?;
            self.expect_punct("..")?;
            let lo = self.number("the field's low bit")?;
            let signed = self.eat_word("signed");
            if hi > 63 || lo > hi {
                return Err(IsaError::at(
                    fo,
                    format!("field `{fname}` ({hi}..{lo}) does not fit the 64-bit word"),
                    "write HI..LO with 63 >= HI >= LO >= 0",
                ));
            }
            let field = Field {
                name: fname.clone(),
                hi: hi as u32,
                lo: lo as u32,
                signed,
            };
            if let Some(other) = fields.iter().find(|f| f.name == fname) {
                return Err(IsaError::at(
                    fo,
                    format!("field `{}` is declared twice", other.name),
                    "give each field its own name",
                ));
            }
            if let Some(other) = fields.iter().find(|f| f.mask() & field.mask() != 0) {
                return Err(IsaError::at(
                    fo,
                    format!(
                        "field `{fname}` ({hi}..{lo}) overlaps field `{}` ({}..{})",
                        other.name, other.hi, other.lo
                    ),
                    "fields of one format must use disjoint bits",
                ));
            }
            fields.push(field);
            if !self.eat_punct(",") {
                break;
            }
            if self.is_punct("}") {
                break;
            }
        }
        self.expect_punct("}")?;
        let Some(op) = fields.iter().position(|f| f.name == "op") else {
            return Err(IsaError::at(
                origin,
                format!("format `{name}` has no `op` field"),
                "every format needs a field named `op` for the opcode, e.g. `op 63..56`",
            ));
        };
        if fields[op].signed {
            return Err(IsaError::at(
                origin,
                "the `op` field cannot be signed",
                "drop `signed` from `op`",
            ));
        }
        self.isa.formats.push(Format { name, fields, op });
        Ok(())
    }

    fn remove(&mut self) -> R<()> {
        self.bump();
        let origin = self.origin();
        let name = self.ident("the mnemonic to remove")?;
        let Some(id) = self.isa.insn(&name) else {
            return Err(IsaError::at(
                origin,
                format!("cannot remove `{name}`: no such instruction"),
                self.known_mnemonics(),
            ));
        };
        self.isa.insns.remove(id);
        self.expect_punct(";")
    }

    fn known_mnemonics(&self) -> String {
        let names: Vec<&str> = self.isa.insns.iter().map(|i| i.mnemonic.as_str()).collect();
        format!("instructions defined so far: {}", names.join(", "))
    }

    fn insn(&mut self) -> R<()> {
        let redefine = self.bump() == Tok::Ident("redefine".into());
        let origin = self.origin();
        let mnemonic = self.ident("a mnemonic")?;
        let existing = self.isa.insn(&mnemonic);
        match (redefine, existing) {
            (false, Some(_)) => {
                return Err(IsaError::at(
                    origin,
                    format!("instruction `{mnemonic}` is already defined"),
                    "use `redefine` to replace an inherited instruction, or pick another mnemonic",
                ));
            }
            (true, None) => {
                return Err(IsaError::at(
                    origin,
                    format!("cannot redefine `{mnemonic}`: no such instruction"),
                    "use `insn` to add a new instruction",
                ));
            }
            _ => {}
        }
        let fo = self.origin();
        let fname = self.ident("a format name")?;
        let Some(format) = self.isa.formats.iter().position(|f| f.name == fname) else {
            let names: Vec<&str> = self.isa.formats.iter().map(|f| f.name.as_str()).collect();
            return Err(IsaError::at(
                fo,
                format!("undefined format `{fname}`"),
                format!("declared formats: {}", names.join(", ")),
            ));
        };
        let oo = self.origin();
        let opcode = self.number("the opcode")?;
        let opf = &self.isa.formats[format].fields[self.isa.formats[format].op];
        if opcode > low_bits(opf.width()) {
            return Err(IsaError::at(
                oo,
                format!(
                    "opcode {opcode:#x} does not fit the {}-bit `op` field of `{fname}`",
                    opf.width()
                ),
                format!("use an opcode up to {:#x}", low_bits(opf.width())),
            ));
        }
        let operands = self.operand_list(format)?;
        let privileged_sugar = self.eat_word("privileged");
        let doc = self.string(
            "the instruction's one-line documentation",
            "write a short description in quotes after the opcode, e.g. \"load PSW\"",
        )?;
        let models = if self.eat_word("models") {
            Some(self.string("the historical instruction", "e.g. models \"S/360 LPSW\"")?)
        } else {
            None
        };
        self.format = Some(format);
        self.locals.clear();
        self.next_slot = 0;
        self.inherited = existing.map(|id| {
            let old = &self.isa.insns[id];
            (old.format, old.body.clone(), old.locals)
        });
        let mut body = Vec::new();
        if privileged_sugar {
            body.push(Stmt::If(
                Expr::Binary(
                    BinOp::Eq,
                    Box::new(Expr::Reg(Reg::M)),
                    Box::new(Expr::Const(MODE_USER)),
                ),
                vec![Stmt::Trap(TrapCause::Privileged)],
                vec![],
            ));
        }
        body.extend(self.block()?);
        self.format = None;
        let (stores, outs) = count_effects(&body);
        if stores > MAX_EFFECTS || outs > MAX_EFFECTS || self.next_slot > MAX_EFFECTS {
            return Err(IsaError::at(
                origin,
                format!("the body of `{mnemonic}` is too large"),
                format!(
                    "a body may have at most {MAX_EFFECTS} stores, {MAX_EFFECTS} `out`s and {MAX_EFFECTS} `let`s, so that the engine never allocates"
                ),
            ));
        }
        let insn = Insn {
            mnemonic,
            format,
            opcode,
            operands,
            privileged_sugar,
            doc,
            models,
            effects: Effects::of(&body),
            body,
            locals: self.next_slot,
            origin,
        };
        match existing {
            Some(id) => self.isa.insns[id] = insn,
            None => self.isa.insns.push(insn),
        }
        Ok(())
    }

    fn operand_list(&mut self, format: usize) -> R<Vec<usize>> {
        let fmt = &self.isa.formats[format];
        if !self.is_punct("(") {
            return Ok((0..fmt.fields.len()).filter(|&i| i != fmt.op).collect());
        }
        self.bump();
        let mut out = Vec::new();
        while !self.is_punct(")") {
            let o = self.origin();
            let name = self.ident("an operand field name or `)`")?;
            let fmt = &self.isa.formats[format];
            match fmt.field(&name) {
                Some(i) if i != fmt.op && !out.contains(&i) => out.push(i),
                Some(_) => {
                    return Err(IsaError::at(
                        o,
                        format!("`{name}` cannot be an operand here"),
                        "operands are the format's fields other than `op`, each at most once",
                    ));
                }
                None => {
                    let names: Vec<&str> = fmt.fields.iter().map(|f| f.name.as_str()).collect();
                    return Err(IsaError::at(
                        o,
                        format!("format `{}` has no field `{name}`", fmt.name),
                        format!("its fields: {}", names.join(", ")),
                    ));
                }
            }
            if !self.eat_punct(",") {
                break;
            }
        }
        self.expect_punct(")")?;
        Ok(out)
    }

    fn check_encodings(&self) -> R<()> {
        for j in 0..self.isa.insns.len() {
            for i in 0..j {
                let (mi, vi) = self.isa.matcher(i);
                let (mj, vj) = self.isa.matcher(j);
                if (vi ^ vj) & mi & mj == 0 {
                    let (a, b) = (&self.isa.insns[i], &self.isa.insns[j]);
                    return Err(IsaError::at(
                        b.origin.clone(),
                        format!(
                            "the encoding of `{}` overlaps `{}` (declared at {})",
                            b.mnemonic, a.mnemonic, a.origin
                        ),
                        "give one of them an opcode that no other instruction uses",
                    ));
                }
            }
        }
        Ok(())
    }

    // ---- statements ----------------------------------------------------------------------

    fn block(&mut self) -> R<Vec<Stmt>> {
        self.expect_punct("{")?;
        let depth = self.locals.len();
        let mut out = Vec::new();
        while !self.is_punct("}") {
            if self.peek() == &Tok::Eof {
                return self.unexpected("`}` to close the block");
            }
            if self.is_word("inherited") {
                let o = self.origin();
                self.bump();
                self.expect_punct(";")?;
                out.extend(self.inherited_body(&o)?);
                continue;
            }
            out.push(self.stmt()?);
        }
        self.bump();
        self.locals.truncate(depth);
        Ok(out)
    }

    fn typed(&mut self, want: Ty, hint: &str) -> R<Expr> {
        let o = self.origin();
        let (e, t) = self.expr()?;
        if t != want {
            return Err(IsaError::at(
                o,
                format!(
                    "type mismatch: expected {}, found {}",
                    want.name(),
                    t.name()
                ),
                hint,
            ));
        }
        Ok(e)
    }

    fn need_feature(&self, o: &Origin, has: bool, what: &str, feature: &str) -> R<()> {
        if has {
            Ok(())
        } else {
            Err(IsaError::at(
                o.clone(),
                format!("{what} needs the `{feature}` feature"),
                format!("declare `feature {feature};` in the profile"),
            ))
        }
    }

    fn stmt(&mut self) -> R<Stmt> {
        let o = self.origin();
        let word = match self.peek() {
            Tok::Ident(w) => w.clone(),
            _ => return self.unexpected("a statement"),
        };
        let s = match word.as_str() {
            "if" => {
                self.bump();
                return self.if_rest();
            }
            "let" => {
                self.bump();
                let no = self.origin();
                let name = self.ident("a local name")?;
                if self.is_reserved(&name) || self.field_index(&name).is_some() {
                    return Err(IsaError::at(
                        no,
                        format!("`{name}` is already a field or built-in name"),
                        "pick another name for the local",
                    ));
                }
                self.expect_punct("=")?;
                let (v, t) = self.expr()?;
                let slot = self.next_slot;
                self.next_slot += 1;
                self.locals.push((name, slot, t));
                Stmt::Let(slot, v)
            }
            "trap" => {
                self.bump();
                Stmt::Trap(TrapCause::Instruction)
            }
            "halt" => {
                self.bump();
                Stmt::Halt
            }
            "out" | "timer" => {
                self.bump();
                if word == "out" {
                    self.need_feature(&o, self.isa.features.console, "`out`", "console")?;
                } else {
                    self.need_feature(
                        &o,
                        self.isa.features.timer.is_some(),
                        "`timer`",
                        "timer vector 1",
                    )?;
                }
                self.expect_punct("(")?;
                let v = self.typed(Ty::Word, "device operands are words")?;
                self.expect_punct(")")?;
                if word == "out" {
                    Stmt::Out(v)
                } else {
                    Stmt::Timer(v)
                }
            }
            "E" | "A" if matches!(self.peek2(), Tok::Punct("[")) => {
                self.bump();
                self.bump();
                let addr = self.typed(Ty::Word, "addresses are words")?;
                self.expect_punct("]")?;
                self.expect_punct("=")?;
                let value = self.typed(
                    Ty::Word,
                    "memory holds words; turn a bool or mode into a word with bit(...)",
                )?;
                let space = if word == "E" {
                    Space::Relocated
                } else {
                    Space::Absolute
                };
                Stmt::Store { space, addr, value }
            }
            _ => self.assignment(&word, &o)?,
        };
        self.expect_punct(";")?;
        Ok(s)
    }

    /// `inherited;`: the replaced instruction's body, its locals moved past ours.
    fn inherited_body(&mut self, o: &Origin) -> R<Vec<Stmt>> {
        let Some((format, body, locals)) = self.inherited.clone() else {
            return Err(IsaError::at(
                o.clone(),
                "`inherited` outside a redefinition",
                "only a `redefine` body can splice in the body it replaces",
            ));
        };
        if Some(format) != self.format {
            return Err(IsaError::at(
                o.clone(),
                "`inherited` needs the replaced instruction's format",
                format!(
                    "declare the redefinition with format `{}`",
                    self.isa.formats[format].name
                ),
            ));
        }
        let offset = self.next_slot;
        self.next_slot += locals;
        Ok(body.iter().map(|s| shift_locals(s, offset)).collect())
    }

    fn assignment(&mut self, word: &str, o: &Origin) -> R<Stmt> {
        self.bump();
        let (reg, ty) = match word {
            "P" => (Reg::P, Ty::Word),
            "M" => (Reg::M, Ty::Mode),
            "PSW" => (Reg::Psw, Ty::Word),
            "assist" => {
                self.need_feature(o, self.isa.features.assist, "`assist`", "assist")?;
                (Reg::Assist, Ty::Bool)
            }
            "R" => {
                if self.eat_punct(".") {
                    match self.ident("`l` or `b`")?.as_str() {
                        "l" => (Reg::L, Ty::Word),
                        "b" => (Reg::B, Ty::Word),
                        _ => {
                            return Err(IsaError::at(
                                o.clone(),
                                "R has two halves, `R.l` and `R.b`",
                                "write R.l or R.b",
                            ));
                        }
                    }
                } else {
                    (Reg::R, Ty::Word)
                }
            }
            _ => {
                let what = if self.field_index(word).is_some() {
                    format!("`{word}` is an instruction field, and fields are read-only")
                } else if self.locals.iter().any(|(n, _, _)| n == word) {
                    format!("`{word}` is a local, and locals are immutable")
                } else {
                    format!("`{word}` cannot be assigned")
                };
                return Err(IsaError::at(
                    o.clone(),
                    what,
                    "assignable: E[x], A[x], P, M, R, R.l, R.b, PSW, assist; use `let` for a new name",
                ));
            }
        };
        self.expect_punct("=")?;
        let hint = match ty {
            Ty::Mode => "assign a mode: `user`, `super` or `M`",
            Ty::Bool => "assign a condition, e.g. `true`",
            Ty::Word => "registers hold words; turn a bool or mode into a word with bit(...)",
        };
        let v = self.typed(ty, hint)?;
        Ok(Stmt::Set(reg, v))
    }

    fn if_rest(&mut self) -> R<Stmt> {
        let cond = self.typed(
            Ty::Bool,
            "conditions are bools; compare a word, e.g. `E[a] != 0`",
        )?;
        let then = self.block()?;
        let els = if self.eat_word("else") {
            if self.eat_word("if") {
                vec![self.if_rest()?]
            } else {
                self.block()?
            }
        } else {
            Vec::new()
        };
        Ok(Stmt::If(cond, then, els))
    }

    // ---- expressions ---------------------------------------------------------------------

    fn is_reserved(&self, name: &str) -> bool {
        matches!(
            name,
            "E" | "A"
                | "P"
                | "M"
                | "R"
                | "PSW"
                | "user"
                | "super"
                | "true"
                | "false"
                | "assist"
                | "clock"
                | "in"
                | "bit"
                | "lts"
                | "les"
                | "sar"
                | "if"
                | "else"
                | "let"
                | "trap"
                | "halt"
                | "out"
                | "timer"
                | "inherited"
        )
    }

    fn field_index(&self, name: &str) -> Option<usize> {
        self.format.and_then(|f| self.isa.formats[f].field(name))
    }

    fn expr(&mut self) -> R<(Expr, Ty)> {
        self.binary(0)
    }

    fn binary(&mut self, level: usize) -> R<(Expr, Ty)> {
        const LEVELS: [&[(&str, BinOp)]; 9] = [
            &[("||", BinOp::LogicalOr)],
            &[("&&", BinOp::LogicalAnd)],
            &[
                ("==", BinOp::Eq),
                ("!=", BinOp::Ne),
                ("<=", BinOp::Le),
                (">=", BinOp::Ge),
                ("<", BinOp::Lt),
                (">", BinOp::Gt),
            ],
            &[("|", BinOp::Or)],
            &[("^", BinOp::Xor)],
            &[("&", BinOp::And)],
            &[("<<", BinOp::Shl), (">>", BinOp::Shr)],
            &[("+", BinOp::Add), ("-", BinOp::Sub)],
            &[("*", BinOp::Mul), ("/", BinOp::Div), ("%", BinOp::Rem)],
        ];
        if level == LEVELS.len() {
            return self.unary();
        }
        let (mut lhs, mut lt) = self.binary(level + 1)?;
        loop {
            let o = self.origin();
            let Some(&(sym, op)) = LEVELS[level].iter().find(|(s, _)| self.is_punct(s)) else {
                return Ok((lhs, lt));
            };
            self.bump();
            let (rhs, rt) = self.binary(level + 1)?;
            let ty = self.binop_type(op, sym, lt, rt, &o)?;
            lhs = Expr::Binary(op, Box::new(lhs), Box::new(rhs));
            lt = ty;
            if level == 2 {
                // Comparisons do not chain: `a < b < c` is almost always a mistake.
                if LEVELS[2].iter().any(|(s, _)| self.is_punct(s)) {
                    return self.err(
                        "comparisons cannot be chained",
                        "combine them with && or ||",
                    );
                }
                return Ok((lhs, lt));
            }
        }
    }

    fn binop_type(&self, op: BinOp, sym: &str, lt: Ty, rt: Ty, o: &Origin) -> R<Ty> {
        let bad = |hint: &str| {
            Err(IsaError::at(
                o.clone(),
                format!(
                    "type mismatch: `{sym}` cannot combine {} and {}",
                    lt.name(),
                    rt.name()
                ),
                hint.to_string(),
            ))
        };
        match op {
            BinOp::LogicalAnd | BinOp::LogicalOr => {
                if lt == Ty::Bool && rt == Ty::Bool {
                    Ok(Ty::Bool)
                } else {
                    bad("&& and || take bools")
                }
            }
            BinOp::Eq | BinOp::Ne => {
                if lt == rt {
                    Ok(Ty::Bool)
                } else {
                    bad("== and != compare two values of the same type")
                }
            }
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                if lt == Ty::Word && rt == Ty::Word {
                    Ok(Ty::Bool)
                } else {
                    bad("ordering comparisons take words")
                }
            }
            _ => {
                if lt == Ty::Word && rt == Ty::Word {
                    Ok(Ty::Word)
                } else {
                    bad("arithmetic takes words; turn a bool or mode into a word with bit(...)")
                }
            }
        }
    }

    fn unary(&mut self) -> R<(Expr, Ty)> {
        let o = self.origin();
        for (sym, op, ty) in [
            ("-", UnOp::Neg, Ty::Word),
            ("~", UnOp::Not, Ty::Word),
            ("!", UnOp::LogicalNot, Ty::Bool),
        ] {
            if self.eat_punct(sym) {
                let (e, t) = self.unary()?;
                if t != ty {
                    return Err(IsaError::at(
                        o,
                        format!(
                            "type mismatch: `{sym}` takes a {}, found {}",
                            ty.name(),
                            t.name()
                        ),
                        "`-` and `~` take words, `!` takes a bool",
                    ));
                }
                return Ok((Expr::Unary(op, Box::new(e)), ty));
            }
        }
        self.primary()
    }

    fn call_args(&mut self, n: usize) -> R<Vec<Expr>> {
        self.expect_punct("(")?;
        let mut args = Vec::new();
        for i in 0..n {
            if i > 0 {
                self.expect_punct(",")?;
            }
            args.push(self.typed(Ty::Word, "this function takes words")?);
        }
        self.expect_punct(")")?;
        Ok(args)
    }

    fn primary(&mut self) -> R<(Expr, Ty)> {
        let o = self.origin();
        match self.peek().clone() {
            Tok::Num(n) => {
                self.bump();
                Ok((Expr::Const(n), Ty::Word))
            }
            Tok::Punct("(") => {
                self.bump();
                let e = self.expr()?;
                self.expect_punct(")")?;
                Ok(e)
            }
            Tok::Ident(name) => {
                self.bump();
                self.named(&name, &o)
            }
            _ => self.unexpected("an expression"),
        }
    }

    fn named(&mut self, name: &str, o: &Origin) -> R<(Expr, Ty)> {
        let word = |e| Ok((e, Ty::Word));
        match name {
            "E" | "A" => {
                self.expect_punct("[")?;
                let a = self.typed(Ty::Word, "addresses are words")?;
                self.expect_punct("]")?;
                let space = if name == "E" {
                    Space::Relocated
                } else {
                    Space::Absolute
                };
                word(Expr::Load(space, Box::new(a)))
            }
            "P" => word(Expr::Reg(Reg::P)),
            "PSW" => word(Expr::Reg(Reg::Psw)),
            "M" => Ok((Expr::Reg(Reg::M), Ty::Mode)),
            "R" => {
                if self.eat_punct(".") {
                    match self.ident("`l` or `b`")?.as_str() {
                        "l" => word(Expr::Reg(Reg::L)),
                        "b" => word(Expr::Reg(Reg::B)),
                        _ => Err(IsaError::at(
                            o.clone(),
                            "R has two halves, `R.l` and `R.b`",
                            "write R.l or R.b",
                        )),
                    }
                } else {
                    word(Expr::Reg(Reg::R))
                }
            }
            "user" => Ok((Expr::Const(MODE_USER), Ty::Mode)),
            "super" => Ok((Expr::Const(MODE_SUPER), Ty::Mode)),
            "true" => Ok((Expr::Const(1), Ty::Bool)),
            "false" => Ok((Expr::Const(0), Ty::Bool)),
            "assist" => {
                self.need_feature(o, self.isa.features.assist, "`assist`", "assist")?;
                Ok((Expr::Reg(Reg::Assist), Ty::Bool))
            }
            "clock" => {
                self.call_args(0)?;
                word(Expr::Clock)
            }
            "in" => {
                self.need_feature(o, self.isa.features.console, "`in()`", "console")?;
                self.call_args(0)?;
                word(Expr::In)
            }
            "bit" => {
                self.expect_punct("(")?;
                let c = self.typed(Ty::Bool, "bit(...) turns a condition into 0 or 1")?;
                self.expect_punct(")")?;
                word(Expr::Unary(UnOp::Bit, Box::new(c)))
            }
            "lts" | "les" | "sar" => {
                let mut args = self.call_args(2)?;
                let (b, a) = (args.pop(), args.pop());
                let (Some(a), Some(b)) = (a, b) else {
                    return self.err("expected two arguments", "write f(x, y)");
                };
                let (op, ty) = match name {
                    "lts" => (BinOp::Lts, Ty::Bool),
                    "les" => (BinOp::Les, Ty::Bool),
                    _ => (BinOp::Sar, Ty::Word),
                };
                Ok((Expr::Binary(op, Box::new(a), Box::new(b)), ty))
            }
            _ => {
                if let Some((_, slot, ty)) = self.locals.iter().rev().find(|(n, _, _)| n == name) {
                    return Ok((Expr::Local(*slot), *ty));
                }
                if let Some(f) = self.field_index(name) {
                    return word(Expr::Field(f));
                }
                let mut known: Vec<String> = self
                    .format
                    .map(|f| {
                        self.isa.formats[f]
                            .fields
                            .iter()
                            .map(|f| f.name.clone())
                            .collect()
                    })
                    .unwrap_or_default();
                known.extend(self.locals.iter().map(|(n, _, _)| n.clone()));
                Err(IsaError::at(
                    o.clone(),
                    format!("undefined name `{name}`"),
                    format!(
                        "names in scope: {}; built-ins: E[x], A[x], P, M, R, R.l, R.b, PSW, user, super, true, false, clock(), in(), bit(c), lts, les, sar",
                        known.join(", ")
                    ),
                ))
            }
        }
    }
}
