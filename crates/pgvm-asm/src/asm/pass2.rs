//! Pass 2: once every symbol is known, turns the items pass 1 laid out into words, segment by
//! segment, and builds the image with its entry point.

use super::error::{AsmError, Here};
use super::{Asm, Item, ItemKind};
use crate::image::{Image, Segment};
use crate::listing::Listing;

impl Asm<'_> {
    /// Resolves the `.equ`s that waited for later symbols, then runs pass 2.
    pub(super) fn finish(mut self) -> Result<(Image, Listing), AsmError> {
        self.resolve_pending()?;
        let mut segments: Vec<Segment> = self
            .segments
            .iter()
            .map(|s| Segment {
                org: s.org,
                words: Vec::with_capacity(usize::try_from(s.len).unwrap_or(0)),
            })
            .collect();
        for item in &self.items {
            let Some(out) = segments.get_mut(item.seg) else {
                continue;
            };
            self.item_words(item, &mut out.words)?;
        }
        let entry = self.entry()?;
        let image = Image {
            isa: self.isa.name.clone(),
            isa_path: None,
            entry,
            segments,
        };
        Ok((image, self.listing.finish()))
    }

    /// Appends the words of one item to its segment's words.
    fn item_words(&self, item: &Item, out: &mut Vec<u64>) -> Result<(), AsmError> {
        let here = &item.here;
        let dollar = item.dollar;
        match &item.kind {
            ItemKind::Insn { id, operands, col } => {
                out.push(self.encode(here, *id, *col, operands, dollar)?);
            }
            ItemKind::Words(exprs) => {
                for e in exprs {
                    let v = self.eval_late(here, e, dollar)?;
                    out.push(word_of(here, e.col, v)?);
                }
            }
            ItemKind::Data(words) => out.extend_from_slice(words),
            ItemKind::Zeros(n) => {
                out.extend(std::iter::repeat_n(0, usize::try_from(*n).unwrap_or(0)));
            }
            ItemKind::Fill(n, e) => {
                let v = word_of(here, e.col, self.eval_late(here, e, dollar)?)?;
                out.extend(std::iter::repeat_n(v, usize::try_from(*n).unwrap_or(0)));
            }
            ItemKind::Psw(spec) => {
                let psw = self.psw(here, spec, dollar, "PSW")?;
                out.push(psw.pack());
            }
        }
        Ok(())
    }
}

/// A `.word` value as a word: `-2^63..=2^64-1`, negatives in two's complement.
fn word_of(here: &Here, col: u32, v: i128) -> Result<u64, AsmError> {
    if v < i128::from(i64::MIN) || v > i128::from(u64::MAX) {
        return Err(here.err(
            col,
            format!("value {v} does not fit in a 64-bit word"),
            "a word holds -2^63..=2^64-1; negative values are stored in two's complement",
        ));
    }
    // Truncation keeps the low 64 bits: exactly two's complement for the negative range.
    Ok(v as u64)
}
