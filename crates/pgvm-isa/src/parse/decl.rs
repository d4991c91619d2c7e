//! Declarations: the header, features, formats and instructions, and the encoding check.

use crate::effects::Effects;
use crate::effects::Primitive;
use crate::error::IsaError;
use crate::index::first_overlap;
use crate::lexer::Tok;
use crate::model::{
    BinOp, Expr, Field, Format, Insn, Isa, MODE_USER, Origin, Reg, Stmt, TrapCause, VmAssist,
    low_bits,
};

use super::{MAX_EFFECTS, Parser, R, count_effects};

impl<F> Parser<F>
where
    F: FnMut(&str, &Origin) -> Result<Isa, IsaError>,
{
    pub(super) fn header(&mut self) -> R<()> {
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
            self.renumber();
        }
        Ok(())
    }

    pub(super) fn decl(&mut self) -> R<()> {
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
            "vm_assist" => return self.vm_assist(origin),
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
                    "features are `console`, `timer vector T`, `assist` and `vm_assist { ... }`",
                ));
            }
        }
        self.expect_punct(";")
    }

    /// `vm_assist { perform lpsw, lctl; reflect svc; }`: the instructions a System/370-style VM
    /// assist carries out. A profile that extends one with the feature may declare it again,
    /// which replaces the inherited list.
    fn vm_assist(&mut self, origin: Origin) -> R<()> {
        self.expect_punct("{")?;
        let mut va = VmAssist {
            origin: Some(origin),
            ..VmAssist::default()
        };
        while !self.eat_punct("}") {
            let ko = self.origin();
            let kind = self.ident("`perform`, `reflect` or `}`")?;
            let list = match kind.as_str() {
                "perform" => &mut va.perform,
                "reflect" => &mut va.reflect,
                _ => {
                    return Err(IsaError::at(
                        ko,
                        format!("unknown VM assist action `{kind}`"),
                        "write `perform MNEMONIC, ...;` (done in virtual supervisor mode) or `reflect MNEMONIC, ...;` (its trap reflected into the guest)",
                    ));
                }
            };
            loop {
                list.push(self.ident("a mnemonic")?);
                if !self.eat_punct(",") {
                    break;
                }
            }
            self.expect_punct(";")?;
        }
        self.isa.features.vm_assist = Some(va);
        Ok(())
    }

    /// Checks the VM assist's instructions once the whole description is read: each exists,
    /// and none halts or reaches a device or the clock. The machine performs them on the
    /// guest's virtual state in the middle of a stretch of direct execution, where the VM's own
    /// devices are the monitor's to keep, and a halt is the monitor's to see.
    pub(super) fn check_vm_assist(&self) -> R<()> {
        let Some(va) = &self.isa.features.vm_assist else {
            return Ok(());
        };
        let at = va.origin.clone().unwrap_or_else(|| Origin {
            file: self.file.clone(),
            line: 1,
            col: 1,
        });
        for name in va.perform.iter().chain(&va.reflect) {
            let Some(&id) = self.names.get(name) else {
                return Err(IsaError::at(
                    at,
                    format!(
                        "the VM assist names `{name}`, which is no instruction of this profile"
                    ),
                    self.known_mnemonics(),
                ));
            };
            let e = &self.isa.insns[id].effects;
            let device = [Primitive::Console, Primitive::Timer, Primitive::Clock]
                .into_iter()
                .find(|p| e.reads.contains(p) || e.writes.contains(p));
            if e.halts || device.is_some() {
                let what = device.map_or("halts", Primitive::name);
                return Err(IsaError::at(
                    at,
                    format!(
                        "the VM assist cannot carry out `{name}`: it {}",
                        if e.halts {
                            "halts".to_string()
                        } else {
                            format!("reaches the {what}")
                        }
                    ),
                    "an assisted instruction may change M, P, R and memory only; leave this one to the monitor",
                ));
            }
        }
        Ok(())
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
        let Some(id) = self.names.get(&name).copied() else {
            return Err(IsaError::at(
                origin,
                format!("cannot remove `{name}`: no such instruction"),
                self.known_mnemonics(),
            ));
        };
        self.isa.insns.remove(id);
        self.renumber();
        self.expect_punct(";")
    }

    /// Rebuilds the mnemonic lookup after instructions moved.
    fn renumber(&mut self) {
        self.names = (self.isa.insns.iter().enumerate())
            .map(|(id, i)| (i.mnemonic.clone(), id))
            .collect();
    }

    fn known_mnemonics(&self) -> String {
        let names: Vec<&str> = self.isa.insns.iter().map(|i| i.mnemonic.as_str()).collect();
        format!("instructions defined so far: {}", names.join(", "))
    }

    fn insn(&mut self) -> R<()> {
        let redefine = self.bump() == Tok::Ident("redefine".into());
        let origin = self.origin();
        let mnemonic = self.ident("a mnemonic")?;
        let existing = self.names.get(&mnemonic).copied();
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
        self.nest = 0;
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
            None => {
                self.names
                    .insert(insn.mnemonic.clone(), self.isa.insns.len());
                self.isa.insns.push(insn);
            }
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

    /// No two instructions may share an encoding. Uses the opcode grouping of
    /// [`first_overlap`], so a large repertoire is checked in about linear time.
    pub(super) fn check_encodings(&self) -> R<()> {
        let Some((i, j)) = first_overlap(&self.isa) else {
            return Ok(());
        };
        let (a, b) = (&self.isa.insns[i], &self.isa.insns[j]);
        Err(IsaError::at(
            b.origin.clone(),
            format!(
                "the encoding of `{}` overlaps `{}` (declared at {})",
                b.mnemonic, a.mnemonic, a.origin
            ),
            "give one of them an opcode that no other instruction uses",
        ))
    }
}
