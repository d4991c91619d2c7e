//! Where pass 1 puts words: the current address, `$`, and the segments that runs of words
//! form. Words may not go beyond the largest memory or onto words already placed, so both are
//! checked here, when the words are placed, where the error can point at the statement.

use pgvm_machine::MAX_WORDS;

use super::error::{AsmError, Here};
use super::{Asm, Item, ItemKind};

/// Layout of one segment during pass 1.
pub(super) struct SegInfo {
    pub(super) org: u64,
    pub(super) len: u64,
}

impl Asm<'_> {
    /// The value of `$` here: the current address minus the `.base` in force.
    pub(super) fn dollar(&self) -> i128 {
        i128::from(self.pc) - i128::from(self.base)
    }

    /// Moves the next address to `target` (for `.org`), which may not be inside words already
    /// placed; the next word starts a new segment.
    pub(super) fn set_origin(
        &mut self,
        here: &Here,
        col: u32,
        target: u64,
    ) -> Result<(), AsmError> {
        if let Some((&org, &idx)) = self.occupied.range(..=target).next_back() {
            let seg_end = org + self.segments[idx].len;
            if target < seg_end {
                return Err(here.err(
                    col,
                    format!(
                        "`.org {target:#x}` goes back into words already placed at {org:#x}..{seg_end:#x}"
                    ),
                    format!("choose an address in a gap, or at {seg_end:#x} or above"),
                ));
            }
        }
        self.pc = target;
        self.open = None;
        Ok(())
    }

    /// Places `n` words at the current address (pass 1), opening a segment if needed.
    pub(super) fn emit(
        &mut self,
        here: &Here,
        col: u32,
        n: u64,
        kind: ItemKind,
    ) -> Result<(), AsmError> {
        if n == 0 {
            return Ok(());
        }
        let start = self.pc;
        let end = start
            .checked_add(n)
            .filter(|&e| e <= MAX_WORDS)
            .ok_or_else(|| {
                here.err(
                    col,
                    format!("words at {start:#x}..{:#x} are beyond the largest memory", start.saturating_add(n)),
                    format!("the largest machine has {MAX_WORDS} words; addresses must stay below {MAX_WORDS:#x}"),
                )
            })?;
        if let Some((&org, &idx)) = self.occupied.range(..end).next_back() {
            let seg_end = org + self.segments[idx].len;
            if Some(idx) != self.open && seg_end > start {
                return Err(here.err(
                    col,
                    format!(
                        "words at {start:#x}..{end:#x} overlap words already placed at {org:#x}..{seg_end:#x}"
                    ),
                    "move this code with `.org`, or the earlier code out of its way",
                ));
            }
        }
        let seg = self.open_segment(start);
        if let Some(info) = self.segments.get_mut(seg) {
            info.len += n;
        }
        self.listing.span(start, end, &here.file, here.line);
        self.items.push(Item {
            here: here.clone(),
            dollar: self.dollar(),
            seg,
            kind,
        });
        self.pc = end;
        Ok(())
    }

    /// The segment the next words extend: the open one, or a new one starting at `start`.
    fn open_segment(&mut self, start: u64) -> usize {
        match self.open {
            Some(s) => s,
            None => {
                self.segments.push(SegInfo { org: start, len: 0 });
                let s = self.segments.len() - 1;
                self.occupied.insert(start, s);
                self.open = Some(s);
                s
            }
        }
    }
}
