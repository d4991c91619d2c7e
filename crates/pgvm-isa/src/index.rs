//! Lookups built once an ISA is loaded: an opcode table for [`Isa::decode`] and a mnemonic
//! index for [`Isa::insn`], and the encoding check that uses the same grouping.
//!
//! Formats may put the `op` field at different positions and widths, so instructions are
//! grouped by *op layout* (the field's low bit and width). Within one layout an instruction is
//! known by its opcode alone; decoding tries each layout in turn, and a profile usually has
//! one or two.

use std::collections::{HashMap, HashSet};

use crate::model::{InsnId, Isa, low_bits};
use crate::shape::BodyShape;

/// Op fields up to this wide get a dense table (at most 4096 entries); wider ones a hash map.
const DENSE_BITS: u32 = 12;

/// No instruction, in a dense table.
const NONE: usize = usize::MAX;

/// The lookups of one [`Isa`]. Derived from its formats and instructions, so two ISAs with
/// equal descriptions are equal whatever their indexes hold, and it is never serialized.
#[derive(Clone, Default)]
pub(crate) struct Index {
    by_name: HashMap<String, InsnId>,
    layouts: Vec<Layout>,
    /// Each instruction's body shape, by instruction id.
    shapes: Vec<BodyShape>,
}

impl PartialEq for Index {
    fn eq(&self, _: &Index) -> bool {
        true
    }
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("mnemonics", &self.by_name.len())
            .field("layouts", &self.layouts.len())
            .finish()
    }
}

#[derive(Clone)]
struct Layout {
    lo: u32,
    /// `low_bits(width)` of the op field, kept so that decoding masks without a branch.
    mask: u64,
    table: Table,
}

#[derive(Clone)]
enum Table {
    Dense(Vec<InsnId>),
    Sparse(HashMap<u64, InsnId>),
}

/// The op layout of each group, with its instructions in declaration order.
fn groups(isa: &Isa) -> Vec<((u32, u32), Vec<InsnId>)> {
    let mut out: Vec<((u32, u32), Vec<InsnId>)> = Vec::new();
    for (id, insn) in isa.insns.iter().enumerate() {
        let format = &isa.formats[insn.format];
        let op = &format.fields[format.op];
        let key = (op.lo, op.width());
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some((_, ids)) => ids.push(id),
            None => out.push((key, vec![id])),
        }
    }
    out
}

impl Index {
    /// Builds the lookups. Where encodings overlap (which the parser refuses), the earlier
    /// instruction wins.
    pub(crate) fn build(isa: &Isa) -> Index {
        let mut by_name = HashMap::with_capacity(isa.insns.len());
        for (id, insn) in isa.insns.iter().enumerate() {
            by_name.entry(insn.mnemonic.clone()).or_insert(id);
        }
        let layouts = groups(isa)
            .into_iter()
            .map(|((lo, width), ids)| {
                let table = if width <= DENSE_BITS {
                    let mut t = vec![NONE; 1 << width];
                    for &id in ids.iter().rev() {
                        t[isa.insns[id].opcode as usize] = id;
                    }
                    Table::Dense(t)
                } else {
                    let mut t = HashMap::with_capacity(ids.len());
                    for &id in &ids {
                        t.entry(isa.insns[id].opcode).or_insert(id);
                    }
                    Table::Sparse(t)
                };
                Layout {
                    lo,
                    mask: low_bits(width),
                    table,
                }
            })
            .collect();
        Index {
            by_name,
            layouts,
            shapes: BodyShape::all(isa),
        }
    }

    pub(crate) fn shape(&self, id: InsnId) -> Option<&BodyShape> {
        self.shapes.get(id)
    }

    pub(crate) fn insn(&self, mnemonic: &str) -> Option<InsnId> {
        self.by_name.get(mnemonic).copied()
    }

    /// A plain loop, not an iterator chain: a monitor decodes every instruction it traps on,
    /// and the chain did not fold into the one table look-up a profile's single layout needs.
    #[inline]
    pub(crate) fn decode(&self, word: u64) -> Option<InsnId> {
        for l in &self.layouts {
            let op = word.checked_shr(l.lo).unwrap_or(0) & l.mask;
            let id = match &l.table {
                Table::Dense(t) => t.get(op as usize).copied(),
                Table::Sparse(t) => t.get(&op).copied(),
            };
            if let Some(id) = id.filter(|&id| id != NONE) {
                return Some(id);
            }
        }
        None
    }
}

/// The pair of instructions whose encodings overlap that a check of every pair `(i, j)`,
/// `j` ascending and then `i < j` ascending, would report first; `(i, j)`. Linear in the
/// number of instructions for each pair of op layouts.
pub(crate) fn first_overlap(isa: &Isa) -> Option<(InsnId, InsnId)> {
    let groups = groups(isa);
    // The smallest `(j, i)`.
    let mut best: Option<(InsnId, InsnId)> = None;
    let mut consider = |a: InsnId, b: InsnId| {
        let pair = (a.max(b), a.min(b));
        if best.is_none_or(|b| pair < b) {
            best = Some(pair);
        }
    };
    for (_, ids) in &groups {
        // One layout: the same opcode is the same encoding.
        let mut first: HashMap<u64, InsnId> = HashMap::with_capacity(ids.len());
        for &id in ids {
            match first.get(&isa.insns[id].opcode) {
                Some(&earlier) => consider(earlier, id),
                None => {
                    first.insert(isa.insns[id].opcode, id);
                }
            }
        }
    }
    for (g, (_, ids1)) in groups.iter().enumerate() {
        for (_, ids2) in &groups[g + 1..] {
            // Two layouts: words of both exist exactly when the values agree on the bits both
            // op masks cover, so bucket by those bits. The earliest of each side per bucket
            // gives that bucket's first pair.
            let shared = isa.matcher(ids1[0]).0 & isa.matcher(ids2[0]).0;
            let mut earliest: HashMap<u64, InsnId> = HashMap::new();
            for &id in ids1 {
                earliest.entry(isa.matcher(id).1 & shared).or_insert(id);
            }
            let mut seen: HashSet<u64> = HashSet::new();
            for &id in ids2 {
                let key = isa.matcher(id).1 & shared;
                if let Some(&other) = earliest.get(&key)
                    && seen.insert(key)
                {
                    consider(other, id);
                }
            }
        }
    }
    best.map(|(j, i)| (i, j))
}
