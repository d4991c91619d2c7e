//! Unit tests of the assembler's errors: one per kind of error, each checking where it points
//! and what it says, and hostile input that must produce errors rather than panics.

use super::*;

#[test]
fn error_unknown_mnemonic_lists_similar() {
    let (line, col, message, hint) = err(".entry 0\n  addd 1, 2, 3");
    assert_eq!((line, col), (2, 3));
    assert!(message.contains("unknown mnemonic `addd`"), "{message}");
    assert!(hint.contains("`add`"), "{hint}");
    let (_, _, _, hint) = err(".entry 0\nzzzzzzzz");
    assert!(hint.contains("lpsw") && hint.contains("halt"), "{hint}");
}

#[test]
fn error_operand_out_of_range_points_at_the_operand() {
    let (line, col, message, hint) = err(".entry 0\nadd 1, 0x40000, 3");
    assert_eq!((line, col), (2, 8));
    assert!(message.contains("out of range"), "{message}");
    assert!(hint.contains("0 to 262143"), "{hint}");
    let (_, col, _, hint) = err(".entry 0\nli 1, -0x2000000001");
    assert_eq!(col, 7);
    assert!(hint.contains("signed"), "{hint}");
}

#[test]
fn error_wrong_number_of_operands() {
    let (line, col, message, hint) = err(".entry 0\nadd 1, 2");
    assert_eq!((line, col), (2, 1));
    assert!(message.contains("takes 3 operands, found 2"), "{message}");
    assert!(hint.contains("add a, b, c"), "{hint}");
    let (_, col, message, _) = err(".entry 0\nhalt 1");
    assert_eq!(col, 6);
    assert!(message.contains("no operands"), "{message}");
}

#[test]
fn error_malformed_syntax_has_line_and_column() {
    assert_eq!(at(".entry 0\n\n  .word 1 +"), (3, 12));
    assert_eq!(at(".entry 0\nadd 1,, 2"), (2, 7));
    assert_eq!(at(".entry 0\n.word 1 2"), (2, 9));
    assert_eq!(at(".entry 0\n.word (1"), (2, 9));
    assert_eq!(at(".entry 0\n  @"), (2, 3));
    assert_eq!(at(".entry 0\n.word 12ab"), (2, 7));
    assert_eq!(at(".entry 0\n.string \"abc"), (2, 9));
    assert_eq!(at(".entry 0\n.word '\\q'"), (2, 8));
    assert_eq!(at(".entry 0\n42"), (2, 1));
    assert_eq!(at(".entry 0\n.equ 5, 3"), (2, 6));
    assert_eq!(at(".entry 0\n.equ X 3"), (2, 8));
    assert_eq!(at(".entry 0\n.string 5"), (2, 9));
}

#[test]
fn error_undefined_label() {
    let (line, col, message, hint) = err(".entry 0\njmp nowhere");
    assert_eq!((line, col), (2, 5));
    assert!(message.contains("undefined symbol `nowhere`"), "{message}");
    assert!(hint.contains(".equ nowhere"), "{hint}");
    let (_, _, _, hint) = err(".entry 0\nloop: jmp lop");
    assert!(hint.contains("`loop`"), "{hint}");
    let (_, _, message, _) = err(".entry 0\n.equ A, missing + 1");
    assert!(message.contains("undefined symbol `missing`"), "{message}");
}

#[test]
fn error_duplicate_label_says_where_the_first_was() {
    let (line, col, message, hint) = err(".entry 0\nx: halt\n  x: halt");
    assert_eq!((line, col), (3, 3));
    assert!(message.contains("duplicate symbol `x`"), "{message}");
    assert!(hint.contains("t.s:2:1"), "{hint}");
    let (_, _, message, _) = err(".entry 0\n.equ x, 1\nx: halt");
    assert!(message.contains("duplicate"), "{message}");
}

#[test]
fn error_bad_psw() {
    let (line, col, message, hint) = err(".entry 0\n.psw user, 0, 0x200000, 0");
    assert_eq!((line, col), (2, 15));
    assert!(message.contains("PSW cannot be encoded"), "{message}");
    assert!(message.contains("field l"), "{message}");
    assert!(hint.contains("21-bit"), "{hint}");
    let (_, _, message, _) = err(".entry 0\n.psw user, -1, 0, 0");
    assert!(message.contains("PSW cannot be encoded"), "{message}");
    let (_, col, message, _) = err(".entry 0\n.psw kernel, 0, 0, 0");
    assert_eq!(col, 6);
    assert!(message.contains("mode"), "{message}");
    assert!(err(".entry 0\n.psw user, 0, 0").2.contains("expected `,`"));
    let (_, _, message, _) = err(".entry user, 0x200000, 0");
    assert!(message.contains("entry PSW cannot be encoded"), "{message}");
}

#[test]
fn error_isa_mismatch() {
    let (line, col, message, hint) = err("; x\n.isa ppc\n.entry 0");
    assert_eq!((line, col), (2, 6));
    assert!(
        message.contains("`ppc`") && message.contains("`s370`"),
        "{message}"
    );
    assert!(hint.contains("--isa ppc"), "{hint}");
}

#[test]
fn error_no_entry_point() {
    let (line, col, message, hint) = err("halt");
    assert_eq!((line, col), (1, 1));
    assert_eq!(message, "no entry point");
    assert!(hint.contains("start"), "{hint}");
}

#[test]
fn error_duplicate_entry() {
    let (line, _, message, hint) = err(".entry 0\n.entry 1");
    assert_eq!(line, 2);
    assert!(message.contains("duplicate `.entry`"), "{message}");
    assert!(hint.contains("t.s:1:1"), "{hint}");
}

#[test]
fn error_org_backwards_into_words() {
    let (line, col, message, _) = err(".entry 0\n.word 1, 2, 3\n.org 1");
    assert_eq!((line, col), (3, 6));
    assert!(message.contains("goes back"), "{message}");
    let (line, _, message, _) = err(".entry 0\n.org 4\n.word 1\n.org 0\n.space 5");
    assert_eq!(line, 5);
    assert!(message.contains("overlap"), "{message}");
}

#[test]
fn error_org_and_space_need_values_known_in_pass_1() {
    let (line, col, message, _) = err(".entry 0\n.org later\nlater: halt");
    assert_eq!((line, col), (2, 6));
    assert!(message.contains("not defined yet"), "{message}");
    let (_, _, message, _) = err(".entry 0\n.space N\n.equ N, 3");
    assert!(message.contains("not defined yet"), "{message}");
    let (_, _, message, _) = err(".entry 0\n.space -1");
    assert!(message.contains("out of range"), "{message}");
}

#[test]
fn error_addresses_beyond_the_largest_memory() {
    let (_, _, message, _) = err(&format!(".entry 0\n.org {MAX_WORDS}\nhalt"));
    assert!(message.contains("beyond the largest memory"), "{message}");
    let (_, _, message, _) = err(&format!(".entry 0\n.org {}", MAX_WORDS + 1));
    assert!(message.contains("out of range"), "{message}");
    assert!(asm(&format!(".entry 0\n.org {}\nhalt", MAX_WORDS - 1)).is_ok());
    let (_, _, message, _) = err(".entry 0\n.space 0x1fffff\n.word 1");
    assert!(message.contains("beyond"), "{message}");
}

#[test]
fn error_word_out_of_range() {
    let (_, col, message, _) = err(".entry 0\n.word 1, 0x10000000000000000");
    assert_eq!(col, 10);
    assert!(
        message.contains("does not fit in a 64-bit word"),
        "{message}"
    );
    assert!(
        err(".entry 0\n.word -0x8000000000000001")
            .2
            .contains("does not fit")
    );
}

#[test]
fn error_expression_failures() {
    let (_, col, message, _) = err(".entry 0\n.word 1 / (2 - 2)");
    assert_eq!(col, 9);
    assert_eq!(message, "division by zero");
    assert!(err(".entry 0\n.word 1 << 200").2.contains("shift count"));
    assert!(
        err(".entry 0\n.word 0x7fffffffffffffffffffffffffffffff * 2")
            .2
            .contains("overflow")
    );
}

#[test]
fn error_circular_equ() {
    let (_, _, message, _) = err(".entry 0\n.equ A, B\n.equ B, A + 1");
    assert!(message.contains("circular"), "{message}");
}

#[test]
fn error_unknown_directive() {
    let (_, col, message, hint) = err(".entry 0\n  .wrod 1");
    assert_eq!(col, 3);
    assert!(message.contains("unknown directive `.wrod`"), "{message}");
    assert!(hint.contains(".word"), "{hint}");
}

#[test]
fn error_io_on_the_main_file() {
    let r = assemble_file(std::path::Path::new("/nonexistent/pgvm/main.s"), &s370());
    assert!(matches!(r, Err(AsmError::Io { .. })));
}

#[test]
fn error_display_is_file_line_col_message_hint() {
    let e = AsmError::Source {
        origin: Origin {
            file: "a.s".into(),
            line: 3,
            col: 7,
        },
        message: "m".into(),
        hint: "h".into(),
    };
    assert_eq!(e.to_string(), "a.s:3:7: m\n  hint: h");
}

#[test]
fn hostile_input_does_not_panic() {
    let isa = s370();
    for src in [
        "\u{0}",
        "'",
        "'\\",
        "\"\\",
        ".isa",
        ".entry",
        ".entry user,",
        ".psw",
        ".org",
        ".base",
        ".base 0x1fffff\nx: .org 0\ny:",
        ".equ",
        ".include",
        "x:::",
        ": :",
        ".space 0x1fffff\n.space 1",
        &"(".repeat(100_000),
        &"-".repeat(100_000),
        &"1+".repeat(100_000),
        &format!(".entry {}", REG_MAX + 1),
        ".equ start, -5",
        ".word 0x8000000000000000000000000000000",
    ] {
        let _ = assemble_str("fuzz.s", src, &isa);
        let _ = declared_isa(src);
    }
    let (_, _, message, _) = err(".equ start, -5");
    assert!(message.contains("not an address"), "{message}");
}

#[test]
fn error_fill_needs_a_count_known_in_pass_1_and_a_value() {
    let (line, col, message, hint) = err(".entry 0\n.fill 3");
    assert_eq!((line, col), (2, 8));
    assert!(message.contains("a count and a value, not 1"), "{message}");
    assert!(hint.contains(".fill N, VALUE"), "{hint}");
    let (_, col, message, _) = err(".entry 0\n.fill 1, 2, 3");
    assert_eq!(col, 13);
    assert!(message.contains("not 3 values"), "{message}");
    let (_, col, message, _) = err(".entry 0\n.fill -1, 0");
    assert_eq!(col, 7);
    assert!(message.contains("out of range"), "{message}");
    let (_, _, message, _) = err(".entry 0\n.fill N, 0\n.equ N, 3");
    assert!(message.contains("not defined yet"), "{message}");
    let (_, _, message, _) = err(".entry 0\n.fill 1, 1 << 70");
    assert!(message.contains("does not fit"), "{message}");
}
