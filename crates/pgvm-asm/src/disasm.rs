//! The disassembler: images back to source that reassembles to the identical image.
//!
//! Every word is shown as an instruction only when re-encoding its operands gives back the
//! very same word (`Isa::operands_of` guarantees this: no stray bits outside the operand
//! fields); anything else is shown as `.word`, so the round trip is exact for every word.

use std::fmt::Write as _;

use pgvm_isa::{Isa, Mode};

use crate::image::Image;

/// Width of the statement column, before the address comment.
const COMMENT_COL: usize = 32;

/// One word as `mnemonic op1, op2` or `.word 0x...` (used by `pgvm run --trace`).
pub fn disassemble_word(word: u64, isa: &Isa) -> String {
    let decoded = isa
        .decode(word)
        .and_then(|id| Some((id, isa.operands_of(id, word)?)));
    match decoded {
        Some((id, ops)) => {
            let mnemonic = &isa.insns[id].mnemonic;
            if ops.is_empty() {
                mnemonic.clone()
            } else {
                let ops: Vec<String> = ops.iter().map(i128::to_string).collect();
                format!("{mnemonic} {}", ops.join(", "))
            }
        }
        None => format!(".word {word:#x}"),
    }
}

/// Source text that assembles back to exactly the same image: `.isa`, `.entry`, one `.org`
/// per segment and one line per word, with each word's address in a comment. Labels are not
/// recovered; operands are plain numbers.
pub fn disassemble(image: &Image, isa: &Isa) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "; disassembly of a {} image: {} segment(s), {} word(s)",
        image.isa,
        image.segments.len(),
        image.segments.iter().map(|g| g.words.len()).sum::<usize>()
    );
    let _ = writeln!(s, ".isa {}", image.isa);
    let e = &image.entry;
    let _ = match (e.mode, e.l, e.b) {
        (Mode::Supervisor, 0, None) => writeln!(s, ".entry {:#x}", e.p),
        (mode, l, None) => writeln!(s, ".entry {mode}, {:#x}, {l:#x}", e.p),
        (mode, l, Some(b)) => writeln!(s, ".entry {mode}, {:#x}, {l:#x}, {b:#x}", e.p),
    };
    for seg in &image.segments {
        let _ = writeln!(s, ".org {:#x}", seg.org);
        for (i, &w) in seg.words.iter().enumerate() {
            let addr = seg.org.saturating_add(i as u64);
            let text = format!("    {}", disassemble_word(w, isa));
            let _ = writeln!(s, "{text:<COMMENT_COL$} ; {addr:#06x}");
        }
    }
    s
}
