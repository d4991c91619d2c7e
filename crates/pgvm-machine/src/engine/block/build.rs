//! Making blocks: a block's ops compiled from the words at its entry point, and native code
//! for a loop whose head has become hot.

use pgvm_isa::Isa;

use super::{
    Blocks, Compiled, DEAD, Heat, INLINED, MAX_BLOCK, MAX_BLOCKS, MAX_NATIVE, MAX_REGION, NONE,
    PAGE, PAGE_BITS, SIDE_EXITS, Span, TRIED, key,
};
use crate::engine::block_ops::{Op, Pa, fuse, target};
use crate::engine::native::{self, Frame, Part};
use crate::engine::shape::{InsnOps, lower};
use crate::exec::TrapKind;
use crate::psw::{Psw, REG_MAX};

impl<const HOT: u32> Blocks<HOT> {
    /// Gives block `i`, the head of a loop or of a path that stretches start at, native code
    /// for window `<l, lim>` in a machine of `words` words, with the other blocks of its
    /// region ([`Blocks::region`]), if each of the head's ops has a native form and the cap on
    /// native blocks allows; it is tried once.
    #[cold]
    pub(super) fn make_native(&mut self, i: usize, l: u64, lim: u64, words: u64) {
        let Some(heat) = self.heat.get_mut(i) else {
            return;
        };
        heat.n = TRIED;
        if self.natives >= MAX_NATIVE {
            return;
        }
        let region = self.region(i);
        let laps = self.blocks.get(i).is_some_and(|b| b.laps);
        if region.len() < 2 && !laps {
            // One block that does not loop: the code would save the ops' loop nothing but
            // the ops.
            return;
        }
        let parts: Vec<Part> = region.iter().map(|&d| self.part(d)).collect();
        let native = native::emit(&parts, &Frame { l, lim, words });
        if native.is_some() {
            // A store to another block's code must also drop this code, which holds a copy.
            for &d in region.iter().skip(1) {
                let c = &self.blocks[d];
                let words = self.code.get_mut(c.pa as usize..(c.pa + c.len) as usize);
                words.into_iter().flatten().for_each(|w| *w = INLINED);
            }
            self.natives += 1;
        }
        if let Some(b) = self.blocks.get_mut(i) {
            b.native = native;
        }
    }

    /// Block `d` as native code lowers it, with the start of the block its indirect jump last
    /// led to.
    fn part(&self, d: usize) -> Part<'_> {
        let b = &self.blocks[d];
        let guess = self
            .blocks
            .get(b.next[0] as usize)
            .filter(|t| t.p != DEAD)
            .map(|t| t.p);
        Part {
            ops: &b.ops,
            spans: &b.spans,
            p0: b.p,
            end: b.end,
            guess,
        }
    }

    /// The region headed by block `i`: `i` first, then the blocks found from it through
    /// links (at most [`MAX_REGION`], breadth first), each live, of `i`'s key, and with a
    /// native form for every op; when some lead back to `i` (a loop), only those. Links are
    /// only hints: the code follows the ops' own targets, and a block of the region is
    /// entered only where one of them names its start.
    fn region(&self, i: usize) -> Vec<usize> {
        let Some(head) = self.blocks.get(i) else {
            return Vec::new();
        };
        let mut found = vec![i];
        let mut k = 0;
        while let Some(&f) = found.get(k) {
            for &n in &self.blocks[f].next {
                let n = n as usize;
                if found.len() < MAX_REGION
                    && !found.contains(&n)
                    && let Some(d) = self.blocks.get(n)
                    && d.p != DEAD
                    && d.key == head.key
                    && native::lowerable(&d.ops)
                {
                    found.push(n);
                }
            }
            k += 1;
        }
        // Which of them lead back to the head, through the others.
        let mut back: Vec<bool> = found.iter().map(|&f| f == i).collect();
        let mut grew = true;
        while grew {
            grew = false;
            for x in 0..found.len() {
                let leads = self.blocks[found[x]].next.iter().any(|&n| {
                    let y = found.iter().position(|&f| f == n as usize);
                    y.is_some_and(|y| back[y])
                });
                if leads && !back[x] {
                    back[x] = true;
                    grew = true;
                }
            }
        }
        let looped = head.laps || back.iter().skip(1).any(|&b| b);
        found
            .into_iter()
            .zip(back)
            .filter_map(|(f, b)| (b || !looped).then_some(f))
            .collect()
    }

    /// Compiles the block entered at apparent `p` (physical `pa`) for the PSW `psw` (its `P`
    /// aside) and the address limit `lim`, and returns its index.
    #[cold]
    pub(super) fn compile(
        &mut self,
        isa: &Isa,
        mem: &[u64],
        pa: u64,
        p: u64,
        lim: u64,
        psw: Psw,
    ) -> usize {
        let l = psw.r.l;
        if self.blocks.len() >= MAX_BLOCKS {
            self.blocks.clear();
            self.heat.clear();
            self.natives = 0;
            self.map.iter_mut().for_each(|p| *p = None);
            self.code.iter_mut().for_each(|w| *w = 0);
        }
        // Scratch lists kept between compilations, so that a block costs two allocations.
        let (mut ops, mut spans) = std::mem::take(&mut self.scratch);
        ops.clear();
        spans.clear();
        let mut k: u64 = 0;
        let mut sides = 0;
        let dev = |a: u64| (a < lim).then(|| (a + l) as Pa);
        loop {
            let ap = p + k;
            if ap >= lim || k as usize >= MAX_BLOCK {
                // Ends at the window's edge (the next fetch traps) or at the length cap.
                ops.push(Op::Fall);
                spans.push(Span {
                    at: k as u16,
                    ends: k as u16,
                    exit: 0,
                });
                break;
            }
            let wpa = (ap + l) as usize;
            let word = mem[wpa];
            let insn_ops = match isa.decode(word) {
                Some(id) => {
                    // The PSW as the body reads it: `P` past the instruction.
                    let at = Psw {
                        p: (ap + 1) & REG_MAX,
                        ..psw
                    };
                    match isa.shape(id) {
                        Some(t) => lower(isa, t, id, word, at, &dev),
                        None => InsnOps::one(Op::Generic(id)),
                    }
                }
                None => InsnOps::one(Op::Trap(TrapKind::Illegal)),
            };
            self.code[wpa] = self.code[wpa].max(1);
            let insn_ops = insn_ops.as_slice();
            let last = insn_ops.len().saturating_sub(1);
            for (j, &op) in insn_ops.iter().enumerate() {
                let done = if j == last { k + 1 } else { k };
                // A one-instruction ALU op followed by a branch that tests its result.
                if let Some(fused) = fuse(ops.last().copied(), op, &spans, k)
                    && j == 0
                    && last == 0
                {
                    *ops.last_mut().unwrap_or(&mut Op::Fall) = fused;
                    if let Some(s) = spans.last_mut() {
                        s.ends = done as u16;
                    }
                    continue;
                }
                ops.push(op);
                spans.push(Span {
                    at: k as u16,
                    ends: done as u16,
                    exit: 0,
                });
            }
            k += 1;
            if let Some(&last) = ops.last()
                && last.ends_block()
            {
                // A conditional branch that is not a loop back to the start is a side exit
                // while links for them are left; anything else ends the block.
                let side = (target(last) != Some(p) && sides < SIDE_EXITS)
                    .then(|| last.side())
                    .flatten();
                let (Some(side), Some(s)) = (side, spans.last_mut()) else {
                    break;
                };
                s.exit = (2 + sides) as u8;
                sides += 1;
                *ops.last_mut().unwrap_or(&mut Op::Fall) = side;
            }
        }
        let len = spans.last().map_or(0, |s| u64::from(s.ends));
        let idx = self.blocks.len();
        let laps = ops.last().is_some_and(|&o| target(o) == Some(p));
        self.heat.push(Heat::default());
        self.blocks.push(Compiled {
            p,
            len,
            spans: spans[..].into(),
            next: [NONE; 2 + SIDE_EXITS],
            pa,
            key: key(psw.r, lim, psw.mode),
            end: p + len,
            index: idx as u32,
            laps,
            native: None,
            ops: ops[..].into(),
        });
        self.scratch = (ops, spans);
        let page = &mut self.map[(pa >> PAGE_BITS) as usize];
        let page = page.get_or_insert_with(|| vec![0u32; PAGE].into_boxed_slice());
        let slot = &mut page[(pa as usize) & (PAGE - 1)];
        if let Some(old) = (*slot as usize)
            .checked_sub(1)
            .and_then(|i| self.blocks.get_mut(i))
        {
            old.p = DEAD;
        }
        *slot = idx as u32 + 1;
        idx
    }
}
