//! The opcode table: decoding and mnemonic lookup are table lookups that agree with the
//! encodings, large repertoires load quickly, and overlapping encodings are refused whatever
//! the op layouts.

use pgvm_isa::{IsaError, builtin_names, load, parse_str};

/// What decoding means: the instruction whose `(mask, value)` the word matches.
fn decode_by_search(isa: &pgvm_isa::Isa, word: u64) -> Option<usize> {
    (0..isa.insns.len()).find(|&id| {
        let (mask, value) = isa.matcher(id);
        word & mask == value
    })
}

#[test]
fn the_table_agrees_with_the_encodings_of_every_builtin() {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for name in builtin_names() {
        let isa = load(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        for (id, insn) in isa.insns.iter().enumerate() {
            assert_eq!(
                isa.insn(&insn.mnemonic),
                Some(id),
                "{name} {}",
                insn.mnemonic
            );
            let (_, value) = isa.matcher(id);
            assert_eq!(isa.decode(value), Some(id), "{name} {}", insn.mnemonic);
            assert_eq!(isa.decode(value | !isa.matcher(id).0), Some(id));
        }
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Random words, and random operand bits under every opcode byte.
            for w in [x, (x >> 8) | ((x & 0xff) << 56)] {
                assert_eq!(isa.decode(w), decode_by_search(&isa, w), "{name} {w:#x}");
            }
        }
        assert_eq!(isa.insn("no-such-insn"), None);
    }
}

#[test]
fn a_hundred_thousand_instructions_load_and_decode() {
    let n: u64 = 100_000;
    let mut src = String::from("isa big \"big\"\nformat w { op 63..40, a 39..20, b 19..0 }\n");
    for k in 0..n {
        src.push_str(&format!(
            "insn i{k} w {} \"\" {{ E[a] = E[b] + {k}; }}\n",
            k * 7 + 3
        ));
    }
    let start = std::time::Instant::now();
    let isa = parse_str("big.isa", &src).unwrap_or_else(|e| panic!("{e}"));
    let elapsed = start.elapsed();
    assert_eq!(isa.insns.len(), n as usize);
    // Quadratic work (5e9 pair checks or name comparisons) would take minutes.
    assert!(elapsed.as_secs() < 60, "parsing took {elapsed:?}");
    for k in [0, 1, 4_999, 77_777, n - 1] {
        let id = isa.insn(&format!("i{k}")).expect("found by mnemonic");
        assert_eq!(isa.insns[id].mnemonic, format!("i{k}"));
        let word = ((k * 7 + 3) << 40) | (5 << 20) | 9;
        assert_eq!(isa.decode(word), Some(id));
        assert_eq!(isa.operands_of(id, word), Some(vec![5, 9]));
    }
    assert_eq!(isa.decode(2 << 40), None, "opcode 2 is unused");
}

const TWO_LAYOUTS: &str = "isa t \"test\"
format byte { op 63..56, a 55..0 }
format half { op 63..48, a 47..0 }
";

#[test]
fn overlaps_across_op_layouts_are_refused() {
    // `half 0x1234` is a word whose top byte is 0x12: it also decodes as `byte 0x12`.
    let src = format!("{TWO_LAYOUTS}insn x byte 0x12 \"\" {{ }}\ninsn y half 0x1234 \"\" {{ }}\n");
    let err = parse_str("t.isa", &src).expect_err("overlap");
    assert!(matches!(err, IsaError::Source { .. }));
    assert_eq!(
        err.to_string(),
        "t.isa:5:6: the encoding of `y` overlaps `x` (declared at t.isa:4:6)\n  \
         hint: give one of them an opcode that no other instruction uses"
    );
    // Declared the other way round, the later one is blamed.
    let src = format!("{TWO_LAYOUTS}insn y half 0x1234 \"\" {{ }}\ninsn x byte 0x12 \"\" {{ }}\n");
    let err = parse_str("t.isa", &src).expect_err("overlap").to_string();
    assert!(err.contains("the encoding of `x` overlaps `y`"), "{err}");
    // Disjoint on the shared bits: both decode.
    let src = format!("{TWO_LAYOUTS}insn x byte 0x12 \"\" {{ }}\ninsn y half 0x1334 \"\" {{ }}\n");
    let isa = parse_str("t.isa", &src).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(isa.decode(0x12ff << 48), isa.insn("x"));
    assert_eq!(isa.decode(0x1334 << 48), isa.insn("y"));
    assert_eq!(isa.decode(0x1335 << 48), None);
}

#[test]
fn the_first_overlap_is_the_one_reported() {
    // Two clashes; the one completed first in declaration order is reported.
    let src = format!(
        "{TWO_LAYOUTS}insn a byte 0x12 \"\" {{ }}\ninsn b byte 0x13 \"\" {{ }}\n\
         insn c half 0x1300 \"\" {{ }}\ninsn d byte 0x12 \"\" {{ }}\n"
    );
    let err = parse_str("t.isa", &src).expect_err("overlap").to_string();
    assert!(err.contains("the encoding of `c` overlaps `b`"), "{err}");
}

#[test]
fn remove_and_redefine_keep_lookups_right() {
    let src = format!(
        "{TWO_LAYOUTS}insn x byte 1 \"\" {{ }}\ninsn y byte 2 \"\" {{ }}\ninsn z byte 3 \"\" {{ }}\n\
         remove x;\nredefine z byte 4 \"\" {{ }}\ninsn w byte 1 \"\" {{ }}\n"
    );
    let isa = parse_str("t.isa", &src).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = isa.insns.iter().map(|i| i.mnemonic.as_str()).collect();
    assert_eq!(names, ["y", "z", "w"]);
    assert_eq!(isa.insn("x"), None);
    assert_eq!(isa.decode(4 << 56), isa.insn("z"));
    assert_eq!(isa.decode(3 << 56), None);
    assert_eq!(isa.decode(1 << 56), isa.insn("w"));
    let isa2 = isa.clone();
    assert_eq!(isa, isa2);
    assert_eq!(isa2.decode(2 << 56), isa.insn("y"));
}
