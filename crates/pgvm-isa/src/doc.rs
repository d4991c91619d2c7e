//! Markdown reference documentation, generated from a checked description.

use std::fmt::Write;

use crate::model::{BinOp, Expr, Format, Insn, Isa, Mode, Reg, Space, Stmt, UnOp};

/// Renders a body as source-like text, one statement per line, indented by `indent` levels.
/// The `privileged` sugar's expansion is shown as the keyword, the way it was written.
pub fn render_body(isa: &Isa, insn: &Insn) -> String {
    let format = &isa.formats[insn.format];
    let body = if insn.privileged_sugar {
        &insn.body[1..]
    } else {
        &insn.body[..]
    };
    let mut out = String::new();
    for s in body {
        stmt(&mut out, format, s, 0);
    }
    out
}

fn stmt(out: &mut String, f: &Format, s: &Stmt, depth: usize) {
    let pad = "    ".repeat(depth);
    match s {
        Stmt::Store { space, addr, value } => {
            let _ = writeln!(
                out,
                "{pad}{}[{}] = {};",
                space_name(*space),
                expr(f, addr),
                expr(f, value)
            );
        }
        Stmt::Set(r, v) => {
            let v = if *r == Reg::M {
                mode_text(v).unwrap_or_else(|| expr(f, v))
            } else {
                expr(f, v)
            };
            let _ = writeln!(out, "{pad}{} = {v};", reg_name(*r));
        }
        Stmt::Let(slot, v) => {
            let _ = writeln!(out, "{pad}let t{slot} = {};", expr(f, v));
        }
        Stmt::If(c, t, e) => {
            let _ = writeln!(out, "{pad}if {} {{", expr(f, c));
            t.iter().for_each(|s| stmt(out, f, s, depth + 1));
            if e.is_empty() {
                let _ = writeln!(out, "{pad}}}");
            } else {
                let _ = writeln!(out, "{pad}}} else {{");
                e.iter().for_each(|s| stmt(out, f, s, depth + 1));
                let _ = writeln!(out, "{pad}}}");
            }
        }
        Stmt::Trap(_) => {
            let _ = writeln!(out, "{pad}trap;");
        }
        Stmt::Halt => {
            let _ = writeln!(out, "{pad}halt;");
        }
        Stmt::Out(v) => {
            let _ = writeln!(out, "{pad}out({});", expr(f, v));
        }
        Stmt::Timer(v) => {
            let _ = writeln!(out, "{pad}timer({});", expr(f, v));
        }
    }
}

fn mode_text(e: &Expr) -> Option<String> {
    match e {
        Expr::Const(v) => Some(Mode::from_word(*v).name().to_string()),
        _ => None,
    }
}

fn space_name(s: Space) -> &'static str {
    match s {
        Space::Relocated => "E",
        Space::Absolute => "A",
    }
}

fn reg_name(r: Reg) -> &'static str {
    match r {
        Reg::P => "P",
        Reg::M => "M",
        Reg::R => "R",
        Reg::L => "R.l",
        Reg::B => "R.b",
        Reg::Psw => "PSW",
        Reg::Assist => "assist",
    }
}

fn expr(f: &Format, e: &Expr) -> String {
    match e {
        Expr::Const(v) if *v < 4096 => v.to_string(),
        Expr::Const(v) => format!("{v:#x}"),
        Expr::Field(i) => f.fields[*i].name.clone(),
        Expr::Local(s) => format!("t{s}"),
        Expr::Load(space, a) => format!("{}[{}]", space_name(*space), expr(f, a)),
        Expr::Reg(r) => reg_name(*r).to_string(),
        Expr::Clock => "clock()".into(),
        Expr::In => "in()".into(),
        Expr::Unary(op, a) => match op {
            UnOp::Neg => format!("-{}", expr(f, a)),
            UnOp::Not => format!("~{}", expr(f, a)),
            UnOp::LogicalNot => format!("!{}", expr(f, a)),
            UnOp::Bit => format!("bit({})", expr(f, a)),
        },
        Expr::Binary(op, a, b) => {
            // A mode compared with a constant reads better as the mode's name.
            let rhs = match (op, &**a) {
                (BinOp::Eq | BinOp::Ne, Expr::Reg(Reg::M)) => {
                    mode_text(b).unwrap_or_else(|| expr(f, b))
                }
                _ => expr(f, b),
            };
            let sym = match op {
                BinOp::Lts => return format!("lts({}, {rhs})", expr(f, a)),
                BinOp::Les => return format!("les({}, {rhs})", expr(f, a)),
                BinOp::Sar => return format!("sar({}, {rhs})", expr(f, a)),
                BinOp::Add => "+",
                BinOp::Sub => "-",
                BinOp::Mul => "*",
                BinOp::Div => "/",
                BinOp::Rem => "%",
                BinOp::And => "&",
                BinOp::Or => "|",
                BinOp::Xor => "^",
                BinOp::Shl => "<<",
                BinOp::Shr => ">>",
                BinOp::Eq => "==",
                BinOp::Ne => "!=",
                BinOp::Lt => "<",
                BinOp::Le => "<=",
                BinOp::Gt => ">",
                BinOp::Ge => ">=",
                BinOp::LogicalAnd => "&&",
                BinOp::LogicalOr => "||",
            };
            format!("({} {sym} {rhs})", expr(f, a))
        }
    }
}

fn effects_text(insn: &Insn) -> (String, String) {
    let e = &insn.effects;
    let mut reads: Vec<&str> = e.reads.iter().map(|p| p.name()).collect();
    let mut writes: Vec<&str> = e.writes.iter().map(|p| p.name()).collect();
    if e.reads_memory {
        reads.push("E");
    }
    if e.reads_p {
        reads.push("P");
    }
    if e.writes_memory {
        writes.push("E");
    }
    if e.writes_p {
        writes.push("P");
    }
    if e.halts {
        writes.push("halt");
    }
    if e.traps {
        writes.push("trap");
    }
    let join = |v: Vec<&str>| {
        if v.is_empty() {
            "—".to_string()
        } else {
            v.join(", ")
        }
    };
    (join(reads), join(writes))
}

/// Renders the whole reference for `pgvm isa doc`.
pub fn render_markdown(isa: &Isa) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# `{}` — {}\n", isa.name, isa.description);
    if !isa.ancestors.is_empty() {
        let _ = writeln!(out, "Extends: {}.\n", isa.ancestors.join(" → "));
    }
    let f = &isa.features;
    let mut feats = Vec::new();
    if f.console {
        feats.push("console (`out`, `in`)".to_string());
    }
    if let Some(t) = f.timer {
        feats.push(format!(
            "interval timer, interrupt class {t}: vector pair (E[{}], E[{}])",
            2 * t,
            2 * t + 1
        ));
    }
    if f.assist {
        feats.push("hardware assist bit (`assist`)".to_string());
    }
    if let Some(va) = &f.vm_assist {
        let list = |v: &[String]| {
            if v.is_empty() {
                "nothing".to_string()
            } else {
                v.iter()
                    .map(|m| format!("`{m}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        feats.push(format!(
            "VM assist (`vm_assist`): the machine performs {} in virtual supervisor mode and reflects {} itself, from the monitor's control block",
            list(&va.perform),
            list(&va.reflect)
        ));
    }
    let _ = writeln!(
        out,
        "Features: {}.\n",
        if feats.is_empty() {
            "none".to_string()
        } else {
            feats.join("; ")
        }
    );
    let _ = writeln!(out, "## Formats\n");
    let _ = writeln!(out, "| format | fields (bits 63..0) |\n|---|---|");
    for fm in &isa.formats {
        let fields: Vec<String> = fm
            .fields
            .iter()
            .map(|fl| {
                format!(
                    "`{}` {}..{}{}",
                    fl.name,
                    fl.hi,
                    fl.lo,
                    if fl.signed { " signed" } else { "" }
                )
            })
            .collect();
        let _ = writeln!(out, "| `{}` | {} |", fm.name, fields.join(", "));
    }
    let _ = writeln!(out, "\n## Summary\n");
    let _ = writeln!(
        out,
        "`privileged` marks the keyword in the description; the classes themselves are derived by `pgvm classify`.\nPrimitives are `M`, `R`, `PSW`, absolute memory, devices, the clock, the assist bit and `halt`.\n"
    );
    let _ = writeln!(
        out,
        "| mnemonic | opcode | privileged | reads | writes | models |\n|---|---|---|---|---|---|"
    );
    for insn in &isa.insns {
        let (r, w) = effects_text(insn);
        let _ = writeln!(
            out,
            "| `{}` | `{:#04x}` | {} | {r} | {w} | {} |",
            insn.mnemonic,
            insn.opcode,
            if insn.privileged_sugar { "yes" } else { "" },
            insn.models.as_deref().unwrap_or("")
        );
    }
    let _ = writeln!(out, "\n## Instructions\n");
    for insn in &isa.insns {
        let fm = &isa.formats[insn.format];
        let ops: Vec<&str> = insn
            .operands
            .iter()
            .map(|&i| fm.fields[i].name.as_str())
            .collect();
        let _ = writeln!(out, "### `{}` — {}\n", insn.mnemonic, insn.doc);
        if let Some(m) = &insn.models {
            let _ = writeln!(out, "Models: {m}.\n");
        }
        let _ = writeln!(
            out,
            "- Assembler: `{}{}{}`",
            insn.mnemonic,
            if ops.is_empty() { "" } else { " " },
            ops.join(", ")
        );
        let _ = writeln!(
            out,
            "- Encoding: format `{}`, `op` = `{:#x}`",
            fm.name, insn.opcode
        );
        if insn.privileged_sugar {
            let _ = writeln!(out, "- Declared `privileged`: traps first when `M == user`");
        }
        let (r, w) = effects_text(insn);
        let _ = writeln!(out, "- Reads: {r}\n- Writes: {w}");
        let _ = writeln!(out, "\n```\n{}```\n", render_body(isa, insn));
    }
    out
}
