//! Every opcode word of the 68000 family, grouped by the instruction the emulator decodes it as.
//!
//! The `m68k` crate's decoder is a chain of tests with no names; its disassembler
//! (`m68k::dasm::disassemble`) is what names a word. The key of a word's group is:
//!
//! 1. the disassembler's text with register numbers and immediates abstracted (`MOVEQ #5,D3`
//!    becomes `MOVEQ #n,Dn`);
//! 2. for the words the disassembler mislabels or leaves as `DC.W`, the name from Motorola's
//!    opcode map instead ([`CORRECTIONS`]: names only, never a verdict; docs/audit.md lists
//!    them and why);
//! 3. where the text has `<ea>`, the class of the effective address in the word's low six
//!    bits (`Dn`, `An`, `mem`, `pc`, `imm`), because the same text covers words the CPU treats
//!    differently (`ORI.W #xx,<ea>` with `<ea>` = immediate is ORI to SR);
//! 4. a word on which the emulator raises illegal instruction, line 1010 or line 1111 in
//!    supervisor mode, on a plain probe state, is not an instruction of this CPU: it goes to the
//!    group `(illegal)`, `(line 1010)` or `(line 1111)`.

use std::collections::BTreeMap;

use pgvm_classify::oracle::Outcome;

use crate::family::{Cpu, M68kOracle, M68kState, S_BIT};

/// Names from Motorola's opcode map (M68000 Family Programmer's Reference Manual, §8) for
/// the words the emulator's disassembler mislabels or does not name: `(mask, value, name)`,
/// first match wins.
pub const CORRECTIONS: [(u16, u16, &str); 18] = [
    (0xFFFF, 0x003C, "ORI to CCR"),
    (0xFFFF, 0x007C, "ORI to SR"),
    (0xFFFF, 0x023C, "ANDI to CCR"),
    (0xFFFF, 0x027C, "ANDI to SR"),
    (0xFFFF, 0x0A3C, "EORI to CCR"),
    (0xFFFF, 0x0A7C, "EORI to SR"),
    (0xFFC0, 0x40C0, "MOVE from SR"),
    (0xFFC0, 0x42C0, "MOVE from CCR"),
    (0xFFC0, 0x44C0, "MOVE to CCR"),
    (0xFFC0, 0x46C0, "MOVE to SR"),
    (0xFFFF, 0x4AFC, "ILLEGAL"),
    (0xFFC0, 0x4800, "NBCD"),
    (0xFFF8, 0x4848, "BKPT"),
    (0xFFFF, 0x4E74, "RTD"),
    (0xFFFF, 0x4E76, "TRAPV"),
    (0xFFFE, 0x4E7A, "MOVEC"),
    (0xFF00, 0x0E00, "MOVES"),
    (0xF000, 0xA000, "line 1010"),
];

/// One group: a name, and the opcode words in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The instruction's name, with its `<ea>` class where it has one.
    pub name: String,
    /// What the emulator's disassembler prints for the first word (before correction).
    pub dasm: String,
    /// The words, ascending.
    pub opcodes: Vec<u16>,
}

/// Abstracts register numbers and immediates.
fn normalize(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let alnum = |k: usize| c.get(k).is_some_and(|x| x.is_ascii_alphanumeric());
    while i < c.len() {
        let ch = c[i];
        if (ch == 'D' || ch == 'A')
            && c.get(i + 1).is_some_and(|x| ('0'..='7').contains(x))
            && (i == 0 || !alnum(i - 1))
            && !alnum(i + 2)
        {
            out.push(ch);
            out.push('n');
            i += 2;
        } else if ch == '#'
            && c.get(i + 1)
                .is_some_and(|x| *x == '-' || x.is_ascii_digit())
        {
            out.push_str("#n");
            i += 1;
            if c.get(i) == Some(&'-') {
                i += 1;
            }
            while c.get(i).is_some_and(|x| x.is_ascii_digit()) {
                i += 1;
            }
        } else {
            out.push(ch);
            i += 1;
        }
    }
    out
}

/// The class of the effective address in the low six bits.
fn ea_class(op: u16) -> &'static str {
    match ((op >> 3) & 7, op & 7) {
        (0, _) => "Dn",
        (1, _) => "An",
        (2..=6, _) | (7, 0 | 1) => "mem",
        (7, 2 | 3) => "pc",
        (7, 4) => "imm",
        _ => "bad",
    }
}

/// The plain state a word is probed on: supervisor mode, every register even and in the
/// middle of memory, zero memory, zero extension words.
pub fn probe_state(op: u16) -> M68kState {
    M68kState {
        sr: S_BIT | 0x0700,
        d: [0x0000_2000; 8],
        a: [0x0000_4000; 8],
        pc: 0x0001_0000,
        code: vec![op, 0, 0, 0, 0, 0],
        fill: 0,
        control: [0; 3],
    }
}

/// The word's group name, or `None` if the emulator does not decode it as an instruction of
/// this CPU (with the illegal group's name).
fn name_of(cpu: Cpu, op: u16) -> (String, String, bool) {
    let (text, _) = m68k::dasm::disassemble(0, op, cpu.cpu_type());
    let oracle = M68kOracle { cpu };
    if let Outcome::Trapped { kind, .. } = oracle.execute(&probe_state(op))
        && matches!(
            kind.as_str(),
            "illegal instruction" | "line 1010" | "line 1111"
        )
    {
        return (format!("({kind})"), text, false);
    }
    let corrected = CORRECTIONS
        .iter()
        .find(|(mask, value, _)| op & mask == *value);
    // A name whose pattern fixes the addressing mode already says what `<ea>` is.
    let has_ea = (text.contains("<ea>") || corrected.is_some())
        && corrected.is_none_or(|(mask, _, _)| mask & 0x38 != 0x38);
    let base = match corrected {
        Some((_, _, n)) => n.to_string(),
        None => normalize(&text),
    };
    let name = if has_ea {
        format!("{base} <{}>", ea_class(op))
    } else {
        base
    };
    (name, text, true)
}

/// All 65,536 words of `cpu`, grouped; groups in order of their first word, the illegal
/// groups last.
pub fn groups(cpu: Cpu) -> Vec<Group> {
    let mut by_name: BTreeMap<String, Group> = BTreeMap::new();
    let mut order: Vec<(bool, u16, String)> = Vec::new();
    for op in 0..=u16::MAX {
        let (name, text, legal) = name_of(cpu, op);
        let g = by_name.entry(name.clone()).or_insert_with(|| {
            order.push((!legal, op, name.clone()));
            Group {
                name,
                dasm: text,
                opcodes: Vec::new(),
            }
        });
        g.opcodes.push(op);
    }
    order.sort();
    order
        .into_iter()
        .filter_map(|(_, _, n)| by_name.remove(&n))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_abstracts_registers_and_immediates() {
        assert_eq!(normalize("MOVEQ #-5,D3"), "MOVEQ #n,Dn");
        assert_eq!(normalize("ADDQ.W #8,<ea>"), "ADDQ.W #n,<ea>");
        assert_eq!(normalize("EXG A1,D7"), "EXG An,Dn");
        assert_eq!(normalize("DBRA D0"), "DBRA Dn");
        assert_eq!(normalize("ORI.B #xx,<ea>"), "ORI.B #xx,<ea>");
    }

    #[test]
    fn ea_classes_follow_the_low_six_bits() {
        assert_eq!(ea_class(0x40C0), "Dn");
        assert_eq!(ea_class(0x40C8), "An");
        assert_eq!(ea_class(0x40D0), "mem");
        assert_eq!(ea_class(0x40F9), "mem");
        assert_eq!(ea_class(0x40FA), "pc");
        assert_eq!(ea_class(0x007C), "imm");
    }
}
