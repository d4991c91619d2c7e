//! Unit tests of the assembler: one per directive, expressions, labels and includes; the
//! tests of its errors, one per kind, are in `errors`.

use std::path::PathBuf;
use std::sync::Arc;

use pgvm_isa::{Isa, Mode, Origin};
use pgvm_machine::{MAX_WORDS, Psw, REG_MAX};
use pgvm_testkit::isa;

use super::*;
use crate::image::{Entry, Image, Segment};

fn s370() -> Arc<Isa> {
    isa("s370")
}

fn asm(src: &str) -> Result<Image, AsmError> {
    assemble_str("t.s", src, &s370())
}

fn ok(src: &str) -> Image {
    match asm(src) {
        Ok(img) => img,
        Err(e) => panic!("expected success, got:\n{e}"),
    }
}

/// The error's location and message, asserting it is a located error.
fn err(src: &str) -> (u32, u32, String, String) {
    match asm(src) {
        Ok(img) => panic!("expected an error, got {img:?}"),
        Err(AsmError::Source {
            origin,
            message,
            hint,
        }) => (origin.line, origin.col, message, hint),
        Err(e) => panic!("expected a located error, got {e}"),
    }
}

/// Just the error's line and column.
fn at(src: &str) -> (u32, u32) {
    let (line, col, _, _) = err(src);
    (line, col)
}

fn words(img: &Image) -> Vec<u64> {
    img.segments.iter().flat_map(|s| s.words.clone()).collect()
}

fn enc(mnemonic: &str, ops: &[i128]) -> u64 {
    pgvm_testkit::enc(&s370(), mnemonic, ops)
}

/// A scratch directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("pgvm-asm-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            panic!("cannot create {}: {e}", dir.display());
        }
        TempDir(dir)
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.0.join(rel);
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        if let Err(e) = std::fs::write(&path, text) {
            panic!("cannot write {}: {e}", path.display());
        }
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---- directives ----

#[test]
fn isa_directive_accepts_the_right_name() {
    let img = ok(".isa s370\n.entry 0\nhalt");
    assert_eq!(img.isa, "s370");
    let vt = isa("ia32-vt");
    assert!(assemble_str("t.s", ".isa ia32-vt\n.entry 0\n", &vt).is_ok());
    assert!(assemble_str("t.s", ".isa \"ia32-vt\"\n.entry 0\n", &vt).is_ok());
}

#[test]
fn entry_single_form_is_supervisor_at_p() {
    let img = ok(".entry 0x10\n");
    assert_eq!(
        img.entry,
        Entry {
            mode: Mode::Supervisor,
            p: 0x10,
            l: 0,
            b: None
        }
    );
}

#[test]
fn entry_full_forms() {
    let img = ok(".entry user, go, 0x100, 0x80\n.org 4\ngo: halt");
    assert_eq!(
        img.entry,
        Entry {
            mode: Mode::User,
            p: 4,
            l: 0x100,
            b: Some(0x80)
        }
    );
    let img = ok(".entry super, 2, 0x100\n");
    assert_eq!(
        img.entry,
        Entry {
            mode: Mode::Supervisor,
            p: 2,
            l: 0x100,
            b: None
        }
    );
}

#[test]
fn entry_defaults_to_start() {
    let img = ok(".org 0x20\nstart: halt");
    assert_eq!(img.entry.p, 0x20);
    assert_eq!(img.entry.mode, Mode::Supervisor);
    assert_eq!(img.entry.b, None);
}

#[test]
fn org_makes_segments_with_gaps() {
    let img = ok(".entry 0\n.word 1, 2\n.org 0x10\n.word 3\n.org 0x8\n.word 4");
    assert_eq!(
        img.segments,
        vec![
            Segment {
                org: 0,
                words: vec![1, 2]
            },
            Segment {
                org: 0x10,
                words: vec![3]
            },
            Segment {
                org: 8,
                words: vec![4]
            },
        ]
    );
    assert_eq!(img.size(), 0x11);
}

#[test]
fn org_to_the_current_address_starts_an_adjacent_segment() {
    let img = ok(".entry 0\n.word 1\n.org $\n.word 2\n.org 0x40\n.org 0x50\n.word 3");
    assert_eq!(img.segments.len(), 3, "{:?}", img.segments);
    assert_eq!(img.segments[1].org, 1);
    assert_eq!(img.segments[2].org, 0x50);
}

#[test]
fn label_on_org_line_names_the_new_origin() {
    let img = ok(".entry 0\nhere: .org 0x30\n.word here");
    assert_eq!(words(&img), vec![0x30]);
}

#[test]
fn base_makes_labels_and_dollar_relative() {
    // Code placed at 0x200 names its words as a program relocated to l = 0x200 sees them.
    let img = ok(concat!(
        ".entry 0\n.org 0x200\n.base 0x200\n",
        "top: jmp top\n",
        "here: .word $, here, top\n",
        ".equ LEN, $ - top\n",
        ".word LEN\n",
        ".base 0\n",
        "after: .word after, $\n",
    ));
    assert_eq!(img.segments.len(), 1);
    assert_eq!(img.segments[0].org, 0x200);
    assert_eq!(
        words(&img),
        vec![enc("jmp", &[0]), 1, 1, 0, 4, 0x205, 0x205]
    );
}

#[test]
fn label_on_base_line_takes_the_new_base() {
    let img = ok(".entry 0\n.org 0x40\nfirst: .base 0x30\n.word first");
    assert_eq!(words(&img), vec![0x10]);
}

#[test]
fn base_is_visible_to_forward_references_and_psw() {
    // Pass 2 sees the relative values of labels defined later, under any base.
    let img = ok(concat!(
        ".entry 0\n.word late, early\n",
        ".org 0x100\n.base 0x100 - 0x10\n",
        "early: .word late\n",
        "late: .psw user, early, 0x100 - 0x10, 0x20\n",
    ));
    let psw = match Psw::new(Mode::User, 0x10, 0xf0, 0x20) {
        Ok(p) => p.pack(),
        Err(e) => panic!("{e}"),
    };
    assert_eq!(words(&img), vec![0x11, 0x10, 0x11, psw]);
}

#[test]
fn error_base_out_of_range_or_unknown_in_pass_1() {
    let (line, col, message, _) = err(".entry 0\n.base -1");
    assert_eq!((line, col), (2, 7));
    assert!(message.contains("out of range"), "{message}");
    let (_, _, message, _) = err(&format!(".entry 0\n.base {}", MAX_WORDS + 1));
    assert!(message.contains("out of range"), "{message}");
    let (line, _, message, _) = err(".entry 0\n.base later\nlater: halt");
    assert_eq!(line, 2);
    assert!(message.contains("not defined yet"), "{message}");
}

#[test]
fn error_label_below_the_base() {
    let (line, col, message, hint) = err(".entry 0\n.org 0x10\n.base 0x20\nlow: halt");
    assert_eq!((line, col), (4, 1));
    assert!(message.contains("would be negative"), "{message}");
    assert!(hint.contains(".base 0"), "{hint}");
}

#[test]
fn word_values_and_twos_complement() {
    let img = ok(".entry 0\n.word 0, -1, 0xffff_ffff_ffff_ffff, -0x8000000000000000, 'a', 0b101");
    assert_eq!(words(&img), vec![0, u64::MAX, u64::MAX, 1 << 63, 97, 5]);
}

#[test]
fn equ_defines_constants_before_and_after_use() {
    let img =
        ok(".entry 0\n.equ A, 5\n.word A, B, C\n.equ B, A * 2\n.equ C, D + 1\n.equ D, end\nend:");
    assert_eq!(words(&img), vec![5, 10, 4]);
}

#[test]
fn equ_may_use_dollar_of_its_own_line() {
    let img = ok(".entry 0\n.org 7\n.equ HERE, $\n.word HERE");
    assert_eq!(words(&img), vec![7]);
}

#[test]
fn string_and_stringz_emit_bytes() {
    let img = ok(".entry 0\n.string \"a\\n\\t\\\\\\\"\\0;\"\n.stringz \"hi\"");
    assert_eq!(words(&img), vec![97, 10, 9, 92, 34, 0, 59, 104, 105, 0]);
}

#[test]
fn string_bytes_are_utf8() {
    let img = ok(".entry 0\n.string \"é\"");
    assert_eq!(words(&img), vec![0xc3, 0xa9]);
}

#[test]
fn space_reserves_zero_words() {
    let img = ok(".entry 0\n.word 1\n.space 3\nafter: .word after\n.space 0");
    assert_eq!(words(&img), vec![1, 0, 0, 0, 4]);
}

#[test]
fn fill_repeats_a_value_that_may_name_a_later_label() {
    let img = ok(".entry 0\n.fill 3, later\n.fill 0, 9\n.fill 2, -1\nlater: .word 7");
    assert_eq!(words(&img), vec![5, 5, 5, u64::MAX, u64::MAX, 7]);
}

#[test]
fn psw_directive_packs_a_psw() {
    let img = ok(".entry 0\n.psw user, 0x10, 0x100, 0x80\n.psw super, 0, 0, 0");
    let expected = match Psw::new(Mode::User, 0x10, 0x100, 0x80) {
        Ok(p) => p.pack(),
        Err(e) => panic!("{e}"),
    };
    assert_eq!(words(&img), vec![expected, 0]);
}

#[test]
fn include_is_relative_to_the_including_file() {
    let dir = TempDir::new("include");
    dir.write("lib/defs.s", ".equ ANSWER, 42\n.include \"more.s\"\n");
    dir.write("lib/more.s", "more: .word ANSWER\n");
    let main = dir.write("main.s", ".entry 0\n.include \"lib/defs.s\"\n.word more\n");
    let img = match assemble_file(&main, &s370()) {
        Ok(i) => i,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(words(&img), vec![42, 0]);
}

#[test]
fn include_errors_name_the_included_file() {
    let dir = TempDir::new("include-err");
    let inc = dir.write("inc.s", "; ok\n  .word 1 +\n");
    let main = dir.write("main.s", ".entry 0\n.include \"inc.s\"\n");
    match assemble_file(&main, &s370()) {
        Err(AsmError::Source { origin, .. }) => {
            assert_eq!(origin.file, inc.display().to_string());
            assert_eq!((origin.line, origin.col), (2, 12));
        }
        other => panic!("expected an error in inc.s, got {other:?}"),
    }
}

#[test]
fn include_cycles_are_detected() {
    let dir = TempDir::new("include-cycle");
    dir.write("a.s", ".include \"b.s\"\n");
    dir.write("b.s", ".include \"a.s\"\n");
    let main = dir.write("main.s", ".entry 0\n.include \"a.s\"\n");
    match assemble_file(&main, &s370()) {
        Err(AsmError::Source { message, .. }) => {
            assert!(message.contains("include cycle"), "{message}");
        }
        other => panic!("expected a cycle error, got {other:?}"),
    }
    let selfish = dir.write("self.s", ".include \"self.s\"\n");
    match assemble_file(&selfish, &s370()) {
        Err(AsmError::Source { message, .. }) => assert!(message.contains("include cycle")),
        other => panic!("expected a cycle error, got {other:?}"),
    }
}

#[test]
fn include_of_a_missing_file_is_located() {
    let (line, col, message, _) = err(".entry 0\n.include \"/nonexistent/pgvm/x.s\"");
    assert_eq!((line, col), (2, 10));
    assert!(message.contains("cannot include"), "{message}");
}

#[test]
fn include_of_a_directory_is_refused() {
    let dir = TempDir::new("include-dir");
    let main = dir.write("main.s", ".entry 0\n.include \".\"\n");
    assert!(matches!(
        assemble_file(&main, &s370()),
        Err(AsmError::Source { .. })
    ));
}

#[test]
fn the_main_file_must_be_a_regular_file() {
    for path in ["/dev/zero", "/"] {
        match assemble_file(std::path::Path::new(path), &s370()) {
            Err(AsmError::Io(e)) => {
                assert!(matches!(e, pgvm_isa::ReadError::NotAFile { .. }), "{e}");
                assert!(e.to_string().contains(path), "{e}");
            }
            other => panic!("{path}: expected a read error, got {other:?}"),
        }
    }
}

#[test]
fn include_of_a_device_is_refused_at_once() {
    let (line, col, message, hint) = err(".entry 0\n.include \"/dev/zero\"");
    assert_eq!((line, col), (2, 10));
    assert!(message.contains("not a regular file"), "{message}");
    assert!(hint.contains("relative to the directory"), "{hint}");
}

/// `f0.s` includes `f1.s` twice, which includes `f2.s` twice, and so on: 2^depth includes
/// without a cycle or deep nesting. The cap stops it, at a located include.
#[test]
fn include_fan_out_is_capped() {
    let dir = TempDir::new("fan-out");
    let depth = 24;
    for i in 0..depth {
        dir.write(
            &format!("f{i}.s"),
            &format!(".include \"f{n}.s\"\n.include \"f{n}.s\"\n", n = i + 1),
        );
    }
    dir.write(&format!("f{depth}.s"), ".word 1\n");
    let main = dir.write("main.s", ".entry 0\n.include \"f0.s\"\n");
    let started = std::time::Instant::now();
    match assemble_file(&main, &s370()) {
        Err(AsmError::Source {
            origin, message, ..
        }) => {
            assert!(message.contains("includes in one assembly"), "{message}");
            assert!(origin.file.ends_with(".s") && origin.line >= 1, "{origin}");
        }
        other => panic!("expected the include cap, got {other:?}"),
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "the cap took {:?}",
        started.elapsed()
    );
    // Within the cap the same shape assembles: 2^9 = 512 leaves.
    let small = TempDir::new("fan-out-small");
    for i in 0..9 {
        small.write(
            &format!("f{i}.s"),
            &format!(".include \"f{n}.s\"\n.include \"f{n}.s\"\n", n = i + 1),
        );
    }
    small.write("f9.s", ".word 1\n");
    let main = small.write("main.s", ".entry 0\n.include \"f0.s\"\n");
    match assemble_file(&main, &s370()) {
        Ok(img) => assert_eq!(words(&img).len(), 512),
        Err(e) => panic!("{e}"),
    }
}

/// Files within the size limit, included often enough to pass the total: refused at the
/// include that crosses it.
#[test]
fn total_source_read_is_capped() {
    let per_file = usize::try_from(MAX_TOTAL_SOURCE_BYTES / 4).unwrap_or(usize::MAX);
    let big = format!(";{}\n", "x".repeat(per_file));
    let files = MemorySources::new([
        ("big.s", big),
        (
            "main.s",
            ".entry 0\n.include \"big.s\"\n.include \"big.s\"\n.include \"big.s\"\n.include \"big.s\"\n.word 1\n".to_string(),
        ),
    ]);
    match assemble_from(std::path::Path::new("main.s"), &files, &s370()) {
        Err(AsmError::Source {
            origin, message, ..
        }) => {
            assert_eq!(
                (origin.file.as_str(), origin.line),
                ("main.s", 5),
                "{message}"
            );
            assert!(message.contains("in all"), "{message}");
        }
        other => panic!(
            "expected the total cap, got {:?}",
            other.map(|i| i.segments.len())
        ),
    }
}

#[test]
fn memory_sources_follow_relative_includes() {
    let files = MemorySources::new([
        (
            "tsos/main.s",
            ".entry 0\n.include \"../lib/a.s\"\n.word B\n",
        ),
        ("lib/a.s", ".include \"./b.s\"\n"),
        ("lib/b.s", ".equ B, 7\n.word 3\n"),
    ]);
    match assemble_from(std::path::Path::new("tsos/main.s"), &files, &s370()) {
        Ok(img) => assert_eq!(words(&img), vec![3, 7]),
        Err(e) => panic!("{e}"),
    }
    let missing = MemorySources::new([("m.s", ".include \"nope.s\"\n")]);
    match assemble_from(std::path::Path::new("m.s"), &missing, &s370()) {
        Err(AsmError::Source { message, .. }) => {
            assert!(message.contains("cannot include `nope.s`"), "{message}")
        }
        other => panic!("expected a missing include, got {other:?}"),
    }
    let cyclic = MemorySources::new([("a/x.s", ".include \"../a/x.s\"\n")]);
    match assemble_from(std::path::Path::new("a/x.s"), &cyclic, &s370()) {
        Err(AsmError::Source { message, .. }) => {
            assert!(message.contains("include cycle"), "{message}")
        }
        other => panic!("expected a cycle, got {other:?}"),
    }
}

#[test]
fn declared_isa_finds_the_first_isa_line() {
    assert_eq!(
        declared_isa("; .isa nope\n  x: y: .isa ia32-vt ; c\n.isa s370"),
        Some("ia32-vt".to_string())
    );
    assert_eq!(declared_isa("halt\n"), None);
    assert_eq!(declared_isa(".isa \"pdp10\""), Some("pdp10".to_string()));
}

// ---- instructions, expressions and labels ----

#[test]
fn instructions_encode_through_the_isa() {
    let img = ok(".entry 0\nadd 5, 6, 7\nli 1, -2\nhalt\nmov 1, 2");
    assert_eq!(
        words(&img),
        vec![
            enc("add", &[5, 6, 7]),
            enc("li", &[1, -2]),
            enc("halt", &[]),
            enc("mov", &[1, 2])
        ]
    );
}

#[test]
fn expressions_use_c_precedence_and_dollar() {
    let img = ok(
        ".entry 0\n.org 4\n.word $ + 1 * 2, (1 + 2) * 3, 1 << 4 | 1, ~0 & 0xff, -(-3), 7 % 4, 9 / 2, 6 ^ 3, 256 >> 4",
    );
    assert_eq!(words(&img), vec![6, 9, 17, 0xff, 3, 3, 4, 5, 16]);
}

#[test]
fn dollar_is_the_address_of_each_statement() {
    let img = ok(".entry 0\njmp $\njmp $ + 5");
    assert_eq!(words(&img), vec![enc("jmp", &[0]), enc("jmp", &[6])]);
}

#[test]
fn labels_several_per_line_and_forward_references() {
    let img = ok(".entry 0\n  jmp fwd\na: b: .word a, b, fwd\nfwd: halt\n.lbl_2: .word .lbl_2");
    assert_eq!(
        words(&img),
        vec![enc("jmp", &[4]), 1, 1, 4, enc("halt", &[]), 5]
    );
}

#[test]
fn label_alone_on_a_line() {
    let img = ok(".entry 0\nx:\n   ; comment only\n\n.word x");
    assert_eq!(words(&img), vec![0]);
}

#[test]
fn the_documented_example_assembles() {
    let src = "; Count down from 5, then halt.
.isa s370                   ; the profile this program is written for
.entry start                ; initial PSW: supervisor mode, P = start, R = all of memory

.org 0                      ; the trap vector: E[0] receives the old PSW, E[1] holds the new
        .word 0
        .psw super, trapped, 0, 0x1000

.org 0x10
start:  li    counter, 5
loop:   addi  counter, -1
        jnz   counter, loop
        halt
trapped: halt

counter: .word 0
message: .stringz \"done\\n\"
.equ MESSAGE_LEN, $ - message
";
    let img = ok(src);
    assert_eq!(img.entry.p, 0x10);
    assert_eq!(img.segments.len(), 2);
    assert_eq!(img.segments[1].words[0], enc("li", &[0x15, 5]));
    assert_eq!(img.size(), 0x16 + 6);
}

mod errors;
