//! What the assembler knows about the program it assembled and the image does not keep: the
//! labels and the source line of every word. Traces and divergence reports use it to name an
//! address as `loop+2` and `prog.s:14` instead of a bare number.

use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;

/// A source line: the file as the assembler named it (as given, or as included) and the line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourceLine {
    /// The file.
    pub file: String,
    /// 1-based line.
    pub line: u32,
}

impl fmt::Display for SourceLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// Words `start..end` came from line `line` of file `file` (an index into the file names).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Span {
    start: u64,
    end: u64,
    file: usize,
    line: u32,
}

/// Labels and the line table of an assembled program, by physical address (the address the
/// word has in the image, which is `l + P` for code run with relocation `l`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Labels by physical address, in address order (the first defined first at one address).
    labels: Vec<(u64, String)>,
    /// Spans of words, in address order; they never overlap, as segments never do.
    spans: Vec<Span>,
    files: Vec<String>,
}

impl Listing {
    /// The nearest label at or below `pa`, as `name` or `name+offset` (offset in hex above 9),
    /// when `pa` holds a word the program placed: elsewhere (code a program copied there at
    /// run time, say) a label and an offset would name something that is not there.
    pub fn label_at(&self, pa: u64) -> Option<String> {
        self.line_at(pa)?;
        let i = self.labels.partition_point(|(a, _)| *a <= pa);
        let (at, _) = self.labels.get(i.checked_sub(1)?)?;
        // The first label defined at that address: the run of equal addresses starts here.
        let first = self.labels.partition_point(|(a, _)| a < at);
        let name = &self.labels[first].1;
        Some(match pa - at {
            0 => name.clone(),
            d if d < 10 => format!("{name}+{d}"),
            d => format!("{name}+{d:#x}"),
        })
    }

    /// The source line the word at physical address `pa` was assembled from.
    pub fn line_at(&self, pa: u64) -> Option<SourceLine> {
        let i = self.spans.partition_point(|s| s.start <= pa);
        let s = self.spans.get(i.checked_sub(1)?)?;
        (pa < s.end).then(|| SourceLine {
            file: self.files[s.file].clone(),
            line: s.line,
        })
    }

    /// Every label with its physical address, in address order.
    pub fn labels(&self) -> impl Iterator<Item = (u64, &str)> {
        self.labels.iter().map(|(a, n)| (*a, n.as_str()))
    }
}

/// The listing as pass 1 collects it.
#[derive(Default)]
pub(crate) struct ListingBuilder {
    labels: Vec<(u64, String)>,
    spans: Vec<(u64, u64, Rc<str>, u32)>,
}

impl ListingBuilder {
    /// A label defined at physical address `pa`.
    pub(crate) fn label(&mut self, pa: u64, name: &str) {
        self.labels.push((pa, name.to_string()));
    }

    /// Words `start..end` placed by line `line` of `file`.
    pub(crate) fn span(&mut self, start: u64, end: u64, file: &Rc<str>, line: u32) {
        self.spans.push((start, end, file.clone(), line));
    }

    pub(crate) fn finish(self) -> Listing {
        let mut labels = self.labels;
        labels.sort_by_key(|(a, _)| *a);
        let mut index: HashMap<Rc<str>, usize> = HashMap::new();
        let mut files = Vec::new();
        let mut spans: Vec<Span> = self
            .spans
            .into_iter()
            .map(|(start, end, file, line)| {
                let file = *index.entry(file.clone()).or_insert_with(|| {
                    files.push(file.to_string());
                    files.len() - 1
                });
                Span {
                    start,
                    end,
                    file,
                    line,
                }
            })
            .collect();
        spans.sort_by_key(|s| s.start);
        Listing {
            labels,
            spans,
            files,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::assemble_str_listed;

    #[test]
    fn labels_and_lines_name_physical_addresses() {
        let isa = pgvm_isa::load("s370").expect("built-in");
        let src = "        .entry start\n        .org 0x10\nstart:  li ptr, 0\nloop:   addi ptr, 1\n        addi ptr, 1\n        jmp loop\nptr:    .word 0\n        .org 0x40\n        .space 3\n";
        let (image, listing) = assemble_str_listed("t.s", src, &isa).expect("assembles");
        assert_eq!(image.segments.len(), 2);
        assert_eq!(listing.label_at(0x10).as_deref(), Some("start"));
        assert_eq!(listing.label_at(0x11).as_deref(), Some("loop"));
        assert_eq!(listing.label_at(0x13).as_deref(), Some("loop+2"));
        assert_eq!(listing.label_at(0x14).as_deref(), Some("ptr"));
        assert_eq!(listing.label_at(0x42).as_deref(), Some("ptr+0x2e"));
        assert_eq!(
            listing.label_at(0x3f),
            None,
            "a gap holds nothing of the program"
        );
        assert_eq!(listing.label_at(0xf), None, "no label below the first");
        let line = listing.line_at(0x12).expect("a line");
        assert_eq!(line.to_string(), "t.s:5");
        assert_eq!(listing.line_at(0x42).map(|l| l.line), Some(9));
        assert_eq!(listing.line_at(0x43), None, "past the last word");
        assert_eq!(listing.line_at(0x20), None, "in a gap");
    }
}
