//! The ISA language: every built-in loads, and every class of bad input is a located error.

use pgvm_isa::{IsaError, Primitive, builtin_names, load, parse_str};

const HEAD: &str = "isa t \"test\"\nformat rrr { op 63..56, a 55..38, b 37..20, c 19..2 }\n";

/// Parses `HEAD + body` and returns the error text, which must carry a location and a hint.
fn error(body: &str) -> String {
    let src = format!("{HEAD}{body}");
    let err = parse_str("t.isa", &src).expect_err("should not parse");
    let text = err.to_string();
    assert!(
        matches!(err, IsaError::Source { .. }),
        "expected a located error, got {text}"
    );
    assert!(text.starts_with("t.isa:"), "no file:line:col in {text}");
    assert!(text.contains("hint:"), "no hint in {text}");
    text
}

#[test]
fn every_builtin_loads_and_has_the_console() {
    for name in builtin_names() {
        let isa = load(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(isa.name, name);
        assert!(isa.features.console, "{name} has no console");
        assert!(isa.insns.len() >= 30, "{name} has a thin repertoire");
    }
    assert_eq!(
        builtin_names().len(),
        8,
        "seven profiles and the abstract base"
    );
}

#[test]
fn profiles_inherit_and_redefine() {
    let m68010 = load("m68010").expect("loads");
    assert_eq!(m68010.ancestors, ["m68000", "base"]);
    let movesr = m68010.insn("movesr").expect("inherited");
    assert!(
        m68010.insns[movesr].privileged_sugar,
        "redefined as privileged"
    );
    let m68000 = load("m68000").expect("loads");
    let movesr = m68000.insn("movesr").expect("present");
    assert!(!m68000.insns[movesr].privileged_sugar);
}

#[test]
fn effect_summaries() {
    let isa = load("ia32").expect("loads");
    let add = &isa.insns[isa.insn("add").expect("add")];
    assert!(add.effects.touches_no_primitive());
    let sgdt = &isa.insns[isa.insn("sgdt").expect("sgdt")];
    assert!(sgdt.effects.reads.contains(&Primitive::Reloc));
    let lpsw = &isa.insns[isa.insn("lpsw").expect("lpsw")];
    assert!(lpsw.effects.writes_psw && lpsw.effects.reads.contains(&Primitive::Mode));
    let halt = &isa.insns[isa.insn("halt").expect("halt")];
    assert!(halt.effects.halts && !halt.effects.touches_no_primitive());
    let svc = &isa.insns[isa.insn("svc").expect("svc")];
    assert!(svc.effects.traps && svc.effects.touches_no_primitive());
}

#[test]
fn error_positions_are_exact() {
    let text = error("insn add rrr 0x01 \"add\" { E[a] = M; }\n");
    assert!(
        text.starts_with("t.isa:3:34: type mismatch: expected word, found mode"),
        "{text}"
    );
}

#[test]
fn overlapping_encodings() {
    let text = error("insn x rrr 1 \"x\" { }\ninsn y rrr 1 \"y\" { }\n");
    assert!(text.contains("overlaps `x`"), "{text}");
    assert!(text.starts_with("t.isa:4:6:"), "{text}");
}

#[test]
fn fields_that_do_not_fit_the_word() {
    assert!(error("format f { op 64..56 }\n").contains("does not fit the 64-bit word"));
    assert!(error("format f { op 7..0, a 5..1 }\n").contains("overlaps field `op`"));
    assert!(error("format f { a 7..0 }\n").contains("has no `op` field"));
    assert!(error("insn x rrr 0x100 \"x\" { }\n").contains("does not fit"));
}

#[test]
fn undefined_names() {
    assert!(error("insn x rrr 1 \"x\" { E[d] = 0; }\n").contains("undefined name `d`"));
    assert!(error("insn x nope 1 \"x\" { }\n").contains("undefined format `nope`"));
    assert!(error("insn x rrr 1 (d) \"x\" { }\n").contains("has no field `d`"));
    assert!(error("remove nothing;\n").contains("no such instruction"));
    assert!(error("redefine nothing rrr 1 \"x\" { }\n").contains("no such instruction"));
}

#[test]
fn type_errors() {
    assert!(error("insn x rrr 1 \"x\" { if E[a] { } }\n").contains("expected bool, found word"));
    assert!(error("insn x rrr 1 \"x\" { M = 1; }\n").contains("expected mode, found word"));
    assert!(
        error("insn x rrr 1 \"x\" { E[a] = M + 1; }\n").contains("cannot combine mode and word")
    );
    assert!(error("insn x rrr 1 \"x\" { a = 1; }\n").contains("read-only"));
    assert!(error("insn x rrr 1 \"x\" { E[a] = 1 < 2 < 3; }\n").contains("chained"));
}

#[test]
fn devices_need_their_feature() {
    assert!(error("insn x rrr 1 \"x\" { out(E[a]); }\n").contains("needs the `console` feature"));
    assert!(
        error("insn x rrr 1 \"x\" { assist = true; }\n").contains("needs the `assist` feature")
    );
}

#[test]
fn duplicate_declarations() {
    assert!(error("insn x rrr 1 \"x\" { }\ninsn x rrr 2 \"x\" { }\n").contains("use `redefine`"));
    assert!(error("format rrr { op 7..0 }\n").contains("already defined"));
}

#[test]
fn a_profile_that_extends_itself() {
    let err = parse_str("t.isa", "isa t \"x\"\nextends t\n").expect_err("refused");
    assert!(
        err.to_string()
            .starts_with("t.isa:2:9: profile `t` extends itself"),
        "{err}"
    );
}

#[test]
fn a_cycle_through_files_is_refused() {
    let dir = std::env::temp_dir().join(format!("pgvm-isa-cycle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("p.isa"), "isa p \"p\"\nextends q\n").expect("write");
    std::fs::write(dir.join("q.isa"), "isa q \"q\"\nextends p\n").expect("write");
    let err = load(dir.join("p.isa").to_str().expect("utf-8")).expect_err("cycle");
    assert!(err.to_string().contains("cycle"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unknown_isa_lists_the_available_ones() {
    let err = load("vax").expect_err("unknown");
    let text = err.to_string();
    assert!(
        text.contains("Unknown ISA `vax`") && text.contains("s370, ppc"),
        "{text}"
    );
}

#[test]
fn malformed_tokens() {
    assert!(error("insn x rrr 1 \"x { }\n").contains("unterminated string"));
    assert!(error("insn x rrr 1 \"x\" { E[a] = 0x; }\n").contains("malformed number"));
    assert!(error("insn x rrr 1 \"x\" { E[a] = 1 $ 2; }\n").contains("unexpected character"));
    assert!(error("insn x rrr 1 { }\n").contains("one-line documentation"));
}

#[test]
fn docs_render_for_every_builtin() {
    for name in builtin_names() {
        let isa = load(name).expect("loads");
        let md = pgvm_isa::render_markdown(&isa);
        for insn in &isa.insns {
            assert!(
                md.contains(&format!("### `{}`", insn.mnemonic)),
                "{name}: {}",
                insn.mnemonic
            );
        }
    }
}

#[test]
fn inherited_splices_the_replaced_body() {
    let vt = load("ia32-vt").expect("loads");
    let ia32 = load("ia32").expect("loads");
    let popf = |isa: &pgvm_isa::Isa| isa.insns[isa.insn("popf").expect("popf")].clone();
    let (old, new) = (popf(&ia32), popf(&vt));
    assert_eq!(
        new.body.len(),
        old.body.len() + 1,
        "the check, then the old statements"
    );
    assert_eq!(new.locals, old.locals);
    assert!(new.effects.reads.contains(&Primitive::Assist));
    let text = error("insn x rrr 1 \"x\" { inherited; }\n");
    assert!(text.contains("outside a redefinition"), "{text}");
}

#[test]
fn descriptions_are_read_with_bounds() {
    for path in ["/dev/zero", "/tmp/"] {
        match pgvm_isa::load(path) {
            Err(IsaError::Io(e)) => {
                assert!(matches!(e, pgvm_isa::ReadError::NotAFile { .. }), "{e}");
                assert!(e.to_string().contains("hint:"), "{e}");
            }
            other => panic!(
                "{path}: expected a read error, got {:?}",
                other.map(|i| i.name)
            ),
        }
    }
}

#[test]
fn a_declared_isa_is_found_beside_the_file_that_names_it() {
    let dir = std::env::temp_dir().join(format!("pgvm-isa-declared-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("toy.isa"), "isa toy \"t\"\nextends s370\n").expect("write");
    let at = pgvm_isa::Origin {
        file: "prog.s".into(),
        line: 3,
        col: 6,
    };
    let by_name = pgvm_isa::load_declared("toy", &at, &dir).expect("beside");
    assert_eq!(by_name.name, "toy");
    assert!(pgvm_isa::is_declared(&by_name, "toy", &dir));
    assert!(pgvm_isa::is_declared(&by_name, "toy.isa", &dir));
    assert!(!pgvm_isa::is_builtin(&by_name));
    let by_path = pgvm_isa::load_declared("./toy.isa", &at, &dir).expect("path");
    assert_eq!(by_path.name, "toy");
    let builtin = pgvm_isa::load_declared("s370", &at, &dir).expect("built-in");
    assert!(pgvm_isa::is_builtin(&builtin));
    assert!(!pgvm_isa::is_declared(&builtin, "toy.isa", &dir));
    for bad in ["vax", "nope.isa"] {
        match pgvm_isa::load_declared(bad, &at, &dir) {
            Err(e @ IsaError::Source { .. }) => {
                let text = e.to_string();
                assert!(text.starts_with("prog.s:3:6: "), "{text}");
                assert_eq!(text.matches("hint:").count(), 1, "{text}");
            }
            other => panic!(
                "{bad}: expected a located error, got {:?}",
                other.map(|i| i.name)
            ),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_vm_assist_names_its_instructions_and_refuses_what_it_cannot_carry_out() {
    let s370 = load("s370").expect("loads");
    let va = s370
        .features
        .vm_assist
        .as_ref()
        .expect("s370 has a VM assist");
    assert_eq!(va.perform, ["lpsw", "lctl", "spsw"]);
    assert_eq!(va.reflect, ["svc"]);
    assert!(load("ppc").expect("loads").features.vm_assist.is_none());
    let doc = pgvm_isa::render_markdown(&s370);
    assert!(doc.contains("VM assist (`vm_assist`)"), "{doc}");

    // Declared before the instructions it names: resolved at the end.
    let ok = format!(
        "{HEAD}feature vm_assist {{ perform ld; reflect sc; }}\ninsn ld rrr 0x01 (a) \"load\" {{ PSW = E[a]; }}\ninsn sc rrr 0x02 () \"call\" {{ trap; }}\n"
    );
    parse_str("t.isa", &ok).unwrap_or_else(|e| panic!("{e}"));

    let missing = error("feature vm_assist { perform nope; }\n");
    assert!(
        missing.contains("t.isa:3:9") && missing.contains("`nope`"),
        "{missing}"
    );
    let device = error(
        "feature console;\nfeature vm_assist { perform put; }\ninsn put rrr 0x01 (a) \"put\" { out(E[a]); }\n",
    );
    assert!(device.contains("reaches the console"), "{device}");
    let halts = error("feature vm_assist { reflect h; }\ninsn h rrr 0x01 () \"stop\" { halt; }\n");
    assert!(halts.contains("`h`: it halts"), "{halts}");
    let action = error("feature vm_assist { emulate x; }\n");
    assert!(
        action.contains("unknown VM assist action `emulate`"),
        "{action}"
    );
}
