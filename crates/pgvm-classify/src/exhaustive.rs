//! Exhaustive checking on a small stated configuration.
//!
//! The configuration ([`describe`] prints it): a machine of `q = 4` words; every `R = <l, b>`
//! with `b >= 1` and `l + b <= q`; every `P < b` (the instruction sits at `l + P`); both modes;
//! every operand field the body reads set to each of `0, 1, 2, 3, 4` and all ones (-1 for a
//! signed field); every other word of memory, the trap vectors included, set to each value
//! of `V = {0, 1, 2, 3, 4, 2^64 - 1}` plus up to four constants of the body itself (its
//! literals and the bits its shifts select); the clock 0, against 1 for timing; every shift
//! `x` that keeps the window inside memory; for bounds, every other bound `b2` with
//! `P < b2 <= q - l + 1` (so one hanging over the end of memory), and `2^21 - 1`. The assist
//! bit is the classification's, except for the assist's soundness, which runs every state with
//! it off and on.
//!
//! Every state is checked for every atom still open, through the same [`Prober`] as the
//! search. The enumeration is split into chunks run in parallel with rayon; the witness kept
//! for an atom is the one at the lowest index, so the result does not depend on scheduling.

use pgvm_isa::visit::{Visitor, Walk, walk, walk_expr};
use pgvm_isa::{BinOp, Expr, Mode, Stmt};
use pgvm_machine::{REG_MAX, Reloc};
use rayon::prelude::*;

use crate::generate::Target;
use crate::search::{Others, Prober, Tally};
use crate::state::State;
use crate::verdict::N_ATOMS;

/// The memory size of the exhaustive configuration.
pub const Q: u64 = 4;

/// Values every operand field takes.
const FIELD_VALUES: [u64; 6] = [0, 1, 2, 3, 4, u64::MAX];

/// Values every memory word takes, before the body's own constants are added.
const WORD_VALUES: [u64; 6] = [0, 1, 2, 3, 4, u64::MAX];

/// At most this many of the body's constants join [`WORD_VALUES`].
const MAX_BODY_CONSTANTS: usize = 4;

/// States enumerated per parallel chunk.
const CHUNK: u64 = 4096;

/// The configuration, in words, for reports.
pub fn describe() -> String {
    format!(
        "q = {Q}; every R = <l, b> with b >= 1 and l + b <= q; every P < b; both modes; operand fields in {{0, 1, 2, 3, 4, -1}}; every other word in {{0, 1, 2, 3, 4, 2^64-1}} plus up to {MAX_BODY_CONSTANTS} constants of the body; clock 0 (1 for timing); every shift that fits; every other bound b2 with P < b2 <= q - l + 1, and b2 = 2^21-1"
    )
}

/// The windows and program counters of the configuration: `(l, b, p)`.
fn windows() -> Vec<(u64, u64, u64)> {
    let mut w = Vec::new();
    for l in 0..Q {
        for b in 1..=Q - l {
            for p in 0..b {
                w.push((l, b, p));
            }
        }
    }
    w
}

/// The word values for one instruction: `0, 1, 2, 3, 4, 2^64 - 1` and the body's literal constants and
/// shifted bits, in order of appearance.
pub fn word_values(body: &[Stmt]) -> Vec<u64> {
    let mut literals = Literals(Vec::new());
    walk(body, &mut literals);
    let mut v = WORD_VALUES.to_vec();
    for c in literals.0 {
        if v.len() == WORD_VALUES.len() + MAX_BODY_CONSTANTS {
            break;
        }
        if !v.contains(&c) {
            v.push(c);
        }
    }
    v
}

/// A body's literals in order of appearance, except that a shift by a constant contributes the
/// bit it selects instead of the shift count.
struct Literals(Vec<u64>);

impl<'a> Visitor<'a> for Literals {
    fn expr(&mut self, e: &'a Expr) -> Walk {
        match e {
            // Bits picked out by shifts first: they are where profiles keep their mode bits.
            Expr::Binary(BinOp::Shr | BinOp::Shl | BinOp::Sar, a, b) => {
                if let Expr::Const(k) = **b {
                    self.0.push(1u64 << (k & 63));
                }
                // The shifted operand only: the count is not a value memory should hold. The
                // nesting is bounded by the parser's depth limit.
                walk_expr(a, self);
                Walk::Over
            }
            Expr::Const(c) => {
                self.0.push(*c);
                Walk::Into
            }
            _ => Walk::Into,
        }
    }
}

/// The enumeration for one instruction: a mixed-radix counter over window, fields and words.
struct Space<'t, 'a> {
    target: &'t Target<'a>,
    windows: Vec<(u64, u64, u64)>,
    words: Vec<u64>,
}

impl Space<'_, '_> {
    /// States per window: field combinations times memory contents (the instruction's own
    /// word is fixed by the fields).
    fn per_window(&self) -> u64 {
        let fields = (FIELD_VALUES.len() as u64).pow(self.target.fields.len() as u32);
        fields * (self.words.len() as u64).pow(Q as u32 - 1)
    }

    fn total(&self) -> u64 {
        self.windows.len() as u64 * self.per_window()
    }

    /// The `index`-th state, in supervisor mode.
    fn state(&self, index: u64) -> State {
        let per = self.per_window();
        let (l, b, p) = self.windows[(index / per) as usize];
        let mut rest = index % per;
        let mut digit = |radix: u64| {
            let d = rest % radix;
            rest /= radix;
            d as usize
        };
        let fields: Vec<u64> = (0..self.target.fields.len())
            .map(|_| FIELD_VALUES[digit(FIELD_VALUES.len() as u64)])
            .collect();
        let mut s = State::new(Q, Mode::Supervisor, p, Reloc { l, b });
        s.assist = self.target.assist;
        for pa in 0..Q {
            if pa == l + p {
                s.set_word(pa, self.target.word(&fields));
            } else {
                let v = self.words[digit(self.words.len() as u64)];
                s.set_word(pa, v);
            }
        }
        s
    }
}

/// How many states the configuration has for `target`.
pub fn size(target: &Target<'_>) -> u64 {
    let space = Space {
        target,
        windows: windows(),
        words: word_values(&target.isa.insns[target.id].body),
    };
    space.total()
}

/// Checks every state of the configuration for every atom in `open`.
pub fn enumerate(target: &Target<'_>, open: [bool; N_ATOMS]) -> Tally {
    let space = Space {
        target,
        windows: windows(),
        words: word_values(&target.isa.insns[target.id].body),
    };
    let total = space.total();
    let chunks = total.div_ceil(CHUNK);
    (0..chunks)
        .into_par_iter()
        .map(|c| {
            let mut tally = Tally::default();
            let mut prober = Prober::new(target.isa);
            for index in c * CHUNK..((c + 1) * CHUNK).min(total) {
                let mut now = open;
                for (i, n) in now.iter_mut().enumerate() {
                    *n &= tally.found[i].is_none();
                }
                if !now.contains(&true) {
                    break;
                }
                let s = space.state(index);
                let shifts: Vec<i64> = match s.shift_range() {
                    Some((lo, hi)) => (lo..=hi).filter(|&x| x != 0).collect(),
                    None => Vec::new(),
                };
                let bounds: Vec<u64> = (s.p + 1..=Q - s.l + 1)
                    .chain([REG_MAX])
                    .filter(|&b| b != s.b)
                    .collect();
                let others = Others {
                    shifts: &shifts,
                    bounds: &bounds,
                    clock2: 1,
                };
                prober.probe(&s, others, now, index, &mut tally);
            }
            tally
        })
        .reduce(Tally::default, |mut a, b| {
            a.merge(b);
            a
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_has_twenty_windows() {
        assert_eq!(windows().len(), 20);
    }

    #[test]
    fn the_enumeration_finds_witnesses_and_counts_every_state() {
        use crate::verdict::Atom;
        let isa = pgvm_isa::load("m68000").expect("loads");
        let id = isa.insn("movesr").expect("exists");
        let t = Target::new(&isa, id, false);
        let mut open = [false; N_ATOMS];
        open[Atom::ModeSensitive.index()] = true;
        open[Atom::ControlSuper.index()] = true;
        let tally = enumerate(&t, open);
        let (index, found) = tally.found[Atom::ModeSensitive.index()]
            .as_ref()
            .expect("movesr is mode-sensitive on q = 4");
        assert_eq!(found.states[0].q, Q);
        assert!(*index < size(&t));
        assert!(tally.found[Atom::ControlSuper.index()].is_none());
        assert_eq!(tally.checked[Atom::ControlSuper.index()], size(&t));
    }

    #[test]
    fn every_index_is_a_distinct_fetchable_state() {
        let isa = pgvm_isa::load("ppc").expect("loads");
        let id = isa.insn("mtmsr").expect("exists");
        let t = Target::new(&isa, id, false);
        let space = Space {
            target: &t,
            windows: windows(),
            words: word_values(&isa.insns[id].body),
        };
        assert!(
            space.words.contains(&(1 << 14)),
            "PR bit: {:x?}",
            space.words
        );
        let n = space.total();
        assert_eq!(n, 20 * 6 * (space.words.len() as u64).pow(3));
        let mut seen = std::collections::HashSet::new();
        for i in (0..n).step_by(97) {
            let s = space.state(i);
            let pa = s.develop(s.p).expect("fetchable");
            assert_eq!(isa.decode(s.word(pa)), Some(id));
            assert!(seen.insert(format!("{s:?}")));
        }
    }
}
