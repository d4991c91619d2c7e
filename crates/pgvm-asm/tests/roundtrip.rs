//! Round trips: assemble → disassemble → assemble gives the identical image for every runnable
//! built-in ISA, and any words at all survive disassembly and reassembly.

use std::sync::OnceLock;

use pgvm_asm::{Entry, Image, Segment, assemble_str, disassemble, disassemble_word};
use pgvm_isa::{Isa, Mode};
use proptest::prelude::*;

/// The runnable built-in profiles (`base` is abstract), loaded once.
fn isas() -> &'static [Isa] {
    static ISAS: OnceLock<Vec<Isa>> = OnceLock::new();
    ISAS.get_or_init(|| {
        pgvm_isa::builtin_names()
            .into_iter()
            .filter(|&n| n != "base")
            .map(|n| match pgvm_isa::load(n) {
                Ok(isa) => isa,
                Err(e) => panic!("built-in {n} must load: {e}"),
            })
            .collect()
    })
}

/// One generated statement.
#[derive(Debug, Clone)]
enum Stmt {
    /// Instruction number `.0 % insns`, operands drawn from `.1` into each field's range.
    Insn(usize, Vec<u64>),
    /// A raw data word.
    Word(u64),
    /// A jump of the origin forward by a few words (a new segment).
    Skip(u8),
}

fn stmt() -> impl Strategy<Value = Stmt> {
    prop_oneof![
        6 => (any::<usize>(), prop::collection::vec(any::<u64>(), 3)).prop_map(|(i, v)| Stmt::Insn(i, v)),
        2 => any::<u64>().prop_map(Stmt::Word),
        1 => any::<u8>().prop_map(Stmt::Skip),
    ]
}

/// Source text for the statements, with operands in each field's allowed range.
fn render(isa: &Isa, stmts: &[Stmt], entry: &str) -> String {
    let mut src = format!(".isa {}\n{entry}\n", isa.name);
    let mut pc: u64 = 0;
    for s in stmts {
        match s {
            Stmt::Insn(i, raw) => {
                let id = i % isa.insns.len();
                let insn = &isa.insns[id];
                let format = isa.format_of(id);
                let ops: Vec<String> = insn
                    .operands
                    .iter()
                    .zip(raw.iter().cycle())
                    .map(|(&f, &r)| {
                        let (min, max) = format.fields[f].range();
                        let span = (max - min + 1) as u128;
                        (min + (u128::from(r) % span) as i128).to_string()
                    })
                    .collect();
                src.push_str(&format!("  {} {}\n", insn.mnemonic, ops.join(", ")));
                pc += 1;
            }
            Stmt::Word(w) => {
                src.push_str(&format!("  .word {w}\n"));
                pc += 1;
            }
            Stmt::Skip(n) => {
                pc += u64::from(*n);
                src.push_str(&format!(".org {pc}\n"));
            }
        }
    }
    src
}

fn assemble(name: &str, src: &str, isa: &Isa) -> Image {
    match assemble_str(name, src, isa) {
        Ok(img) => img,
        Err(e) => panic!("{e}\n--- source ---\n{src}"),
    }
}

fn mode(user: bool) -> Mode {
    if user { Mode::User } else { Mode::Supervisor }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn assemble_disassemble_assemble_is_identity(
        which in any::<usize>(),
        stmts in prop::collection::vec(stmt(), 0..60),
        user in any::<bool>(),
        p in 0u64..0x1000,
        l in 0u64..0x1000,
        b in prop::option::of(0u64..0x1000),
    ) {
        let isa = &isas()[which % isas().len()];
        let entry = match b {
            Some(b) => format!(".entry {}, {p}, {l}, {b}", mode(user)),
            None => format!(".entry {}, {p}, {l}", mode(user)),
        };
        let src = render(isa, &stmts, &entry);
        let first = assemble("gen.s", &src, isa);
        // Every instruction statement encodes to a word that disassembles as an instruction.
        let insns = stmts.iter().filter(|s| matches!(s, Stmt::Insn(..))).count();
        let shown = first
            .segments
            .iter()
            .flat_map(|s| &s.words)
            .filter(|&&w| !disassemble_word(w, isa).starts_with(".word"))
            .count();
        prop_assert!(shown >= insns, "{shown} < {insns}");
        let text = disassemble(&first, isa);
        let second = assemble("disasm.s", &text, isa);
        prop_assert_eq!(&first, &second, "disassembly:\n{}", text);
    }

    #[test]
    fn arbitrary_words_survive_disassembly(
        which in any::<usize>(),
        segs in prop::collection::vec((0u64..64, prop::collection::vec(any::<u64>(), 1..40)), 0..5),
        user in any::<bool>(),
        p in 0u64..=pgvm_machine::REG_MAX,
        l in 0u64..=pgvm_machine::REG_MAX,
        b in prop::option::of(0u64..=pgvm_machine::REG_MAX),
    ) {
        let isa = &isas()[which % isas().len()];
        // Lay the segments out without overlaps, each after a gap, then reverse some so that
        // source order differs from address order.
        let mut org = 0u64;
        let mut segments = Vec::new();
        for (gap, words) in segs {
            org += gap;
            let len = words.len() as u64;
            segments.push(Segment { org, words });
            org += len;
        }
        if which % 2 == 1 {
            segments.reverse();
        }
        let image = Image {
            isa: isa.name.clone(),
            isa_path: None,
            entry: Entry { mode: mode(user), p, l, b },
            segments,
        };
        let text = disassemble(&image, isa);
        let back = assemble("disasm.s", &text, isa);
        prop_assert_eq!(&image, &back, "disassembly:\n{}", text);
        let json = image.to_json();
        match Image::from_json("img.json", &json) {
            Ok(again) => prop_assert_eq!(&image, &again),
            Err(e) => prop_assert!(false, "{e}\n{json}"),
        }
    }

    #[test]
    fn every_word_disassembles_to_one_line(w in any::<u64>(), which in any::<usize>()) {
        let isa = &isas()[which % isas().len()];
        let line = disassemble_word(w, isa);
        prop_assert!(!line.contains('\n'));
        let src = format!(".entry 0\n{line}\n");
        let img = assemble("w.s", &src, isa);
        prop_assert_eq!(img.segments.len(), 1);
        prop_assert_eq!(&img.segments[0].words, &vec![w]);
    }

    #[test]
    fn arbitrary_text_never_panics(src in "\\PC{0,200}") {
        let isa = &isas()[0];
        let _ = assemble_str("fuzz.s", &src, isa);
        let _ = pgvm_asm::declared_isa(&src);
        let _ = Image::from_json("fuzz.json", &src);
    }
}

#[test]
fn every_builtin_isa_is_covered() {
    let names: Vec<&str> = isas().iter().map(|i| i.name.as_str()).collect();
    for n in pgvm_testkit::PROFILES {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
}

#[test]
fn disassembly_shows_addresses_and_instructions() {
    let isa = &isas()[0];
    let img = assemble("t.s", ".entry 0x12\n.org 0x12\nadd 5, 6, 7\n.word 0\n", isa);
    let text = disassemble(&img, isa);
    assert!(text.contains(".entry 0x12"), "{text}");
    assert!(text.contains(".org 0x12"), "{text}");
    let line = text
        .lines()
        .find(|l| l.contains("add 5, 6, 7"))
        .unwrap_or_default();
    assert!(line.ends_with("; 0x0012"), "{text}");
    assert!(text.contains(".word 0x0"), "{text}");
}
