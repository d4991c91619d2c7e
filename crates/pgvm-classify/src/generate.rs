//! State generation for the witness search: structured edge cases mixed with random states,
//! deterministic from a seed.
//!
//! Witnesses of sensitivity usually sit at edges: a window at the top of memory, an operand
//! that is the last word of the window or the first word past it, a word that happens to be the
//! current `R` or looks like a PSW, the one constant a body compares against. So every choice
//! below draws from a small menu of such edges most of the time and from the whole range the
//! rest of the time. The menu of constants is harvested from the instruction's own body
//! ([`dictionary`]): its literals, their neighbours, and the bits its shifts and masks pick
//! out, which is where a profile keeps its mode bits.
//!
//! Randomness is a SplitMix64 stream ([`Rng`]): tiny, fast, and fully determined by its seed,
//! so `--seed S` reproduces a run exactly on any platform.

use pgvm_isa::visit::exprs;
use pgvm_isa::{BinOp, Expr, InsnId, Isa, Mode, Stmt};
use pgvm_machine::{MAX_WORDS, Psw, REG_MAX, Reloc};

use crate::state::State;

/// SplitMix64 (Steele, Lea and Flood, 2014): a 64-bit state advanced by a constant and
/// scrambled; passes BigCrush, and needs no dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A stream from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`); the tiny modulo bias is irrelevant here.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo).saturating_add(1))
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    /// One element of a non-empty slice.
    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
}

/// A stable 64-bit hash of a string (FNV-1a), to give each instruction its own stream.
pub fn hash_str(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The seed of instruction `mnemonic`'s stream in profile `isa` under the run's seed: the
/// states one instruction sees do not depend on what else the profile contains.
pub fn insn_seed(seed: u64, isa: &str, mnemonic: &str) -> u64 {
    let mut r = Rng::new(seed ^ hash_str(isa).rotate_left(17) ^ hash_str(mnemonic));
    r.next_u64()
}

/// Interesting words for one body: its constants, their neighbours, and single bits and masks
/// that its shifts and `&` select, plus 0, 1, 2 and all ones.
pub fn dictionary(body: &[Stmt]) -> Vec<u64> {
    let mut d = vec![0, 1, 2, u64::MAX];
    for e in exprs(body) {
        match e {
            Expr::Const(c) => d.extend([*c, c.wrapping_add(1), c.wrapping_sub(1)]),
            Expr::Binary(op, _, b) => {
                if let (BinOp::Shr | BinOp::Shl | BinOp::Sar, Expr::Const(k)) = (op, &**b) {
                    d.push(1u64 << (k & 63));
                    d.push(u64::MAX << (k & 63));
                }
                if let (BinOp::And, Expr::Const(m)) = (op, &**b) {
                    d.push(*m);
                }
            }
            _ => {}
        }
    }
    d.sort_unstable();
    d.dedup();
    d
}

/// Everything the generator needs to know about one instruction.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// The profile.
    pub isa: &'a Isa,
    /// The instruction.
    pub id: InsnId,
    /// Fields of its format that the body reads (the others stay 0 in generated words).
    pub fields: Vec<usize>,
    /// Its dictionary.
    pub dict: Vec<u64>,
    /// The assist bit of every state.
    pub assist: bool,
}

impl<'a> Target<'a> {
    /// The target for instruction `id`.
    pub fn new(isa: &'a Isa, id: InsnId, assist: bool) -> Target<'a> {
        let insn = &isa.insns[id];
        let mut fields: Vec<usize> = exprs(&insn.body)
            .filter_map(|e| match e {
                Expr::Field(f) => Some(*f),
                _ => None,
            })
            .collect();
        fields.sort_unstable();
        fields.dedup();
        Target {
            isa,
            id,
            fields,
            dict: dictionary(&insn.body),
            assist,
        }
    }

    /// The instruction word with the given values in the used fields (raw bits, masked to
    /// each field's width).
    pub fn word(&self, values: &[u64]) -> u64 {
        let format = self.isa.format_of(self.id);
        let (_, mut w) = self.isa.matcher(self.id);
        for (&f, &v) in self.fields.iter().zip(values) {
            let field = &format.fields[f];
            w |= (v << field.lo) & field.mask();
        }
        w
    }
}

/// One generated sample: a state (whose mode the search sets to each of the two), a shift for
/// the location check when the window leaves room for one, a second bound for the bounds
/// check, and a second clock value.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The state, in supervisor mode.
    pub state: State,
    /// A shift `x != 0` for which `r ⊕ x` fits, if any does.
    pub shift: Option<i64>,
    /// A bound `b2 != b` that still holds the instruction (`P < b2`).
    pub bound2: Option<u64>,
    /// A clock value different from the state's.
    pub clock2: u64,
}

/// Memory sizes: small ones make windows and edges collide; the largest puts `l + b` at the
/// very top of what a PSW can address.
fn pick_q(rng: &mut Rng) -> u64 {
    match rng.below(8) {
        0..=3 => rng.range(4, 64),
        4 | 5 => rng.range(65, 4096),
        6 => MAX_WORDS,
        _ => rng.range(4097, MAX_WORDS),
    }
}

/// `R = <l, b>`: at the bottom, at the top (`l + b = q`), one word, random, or hanging over the
/// end of memory. `b = 0` never starts a state: the instruction itself is fetched through `R`,
/// so such a state can only memory-trap.
fn pick_window(rng: &mut Rng, q: u64) -> Reloc {
    let b_small = |rng: &mut Rng, max: u64| -> u64 {
        if rng.chance(1, 2) {
            rng.range(1, max.min(16))
        } else {
            rng.range(1, max)
        }
    };
    match rng.below(10) {
        0 | 1 => Reloc {
            l: 0,
            b: b_small(rng, q - 1),
        },
        2 | 3 => {
            let b = b_small(rng, q - 1);
            Reloc { l: q - b, b }
        }
        4 => Reloc {
            l: rng.range(0, q - 2),
            b: 1,
        },
        5 => {
            let l = rng.range(1, q - 1);
            // b > q - l, as far as a 21-bit register allows (q - l < q <= REG_MAX).
            let b = rng.range(q - l + 1, (q - l + 16).min(REG_MAX));
            Reloc { l, b }
        }
        _ => {
            let b = b_small(rng, q - 1);
            Reloc {
                l: rng.range(0, q - b),
                b,
            }
        }
    }
}

impl Target<'_> {
    /// Generates one sample from `rng`. A `small` sample has `q <= 16`: there windows, trap
    /// vectors and operands collide most, and a witness found there is short to read.
    pub fn sample(&self, rng: &mut Rng, small: bool) -> Sample {
        let q = if small { rng.range(4, 16) } else { pick_q(rng) };
        let r = pick_window(rng, q);
        let limit = r.limit(q);
        let p = match rng.below(4) {
            0 => 0,
            1 => limit - 1,
            _ => rng.below(limit),
        };
        let mut s = State::new(q, Mode::Supervisor, p, r);
        s.assist = self.assist;
        s.clock = self.clock(rng);
        let mut values = Vec::with_capacity(self.fields.len());
        for _ in 0..self.fields.len() {
            let v = self.field_value(rng, &s, &values);
            values.push(v);
        }
        // The trap vectors: PSW-like words (a trap is never evidence, but a body may read them).
        for pa in 0..2.min(q) {
            let w = self.psw_like(rng, &s);
            s.set_word(pa, w);
        }
        for &v in &values {
            if let Some(pa) = s.develop(v) {
                let w = self.value(rng, &s);
                s.set_word(pa, w);
            }
        }
        for _ in 0..rng.below(4) {
            let pa = if rng.chance(3, 4) {
                s.develop(rng.below(limit))
            } else {
                Some(rng.below(q))
            };
            if let Some(pa) = pa {
                let w = self.value(rng, &s);
                s.set_word(pa, w);
            }
        }
        s.set_word(r.l + p, self.word(&values));
        let shift = s.shift_range().map(|(lo, hi)| pick_shift(rng, lo, hi));
        let clock2 = loop {
            let c = self.clock(rng);
            if c != s.clock {
                break c;
            }
        };
        // The second bound comes from a stream of its own, seeded from this sample, so that
        // the bounds question left the states of every other question as they were.
        let mut own = Rng::new(clock2 ^ s.clock.rotate_left(32) ^ 0xb0b0_5eed);
        let bound2 = pick_bound2(&mut own, &s);
        Sample {
            state: s,
            shift,
            bound2,
            clock2,
        }
    }

    fn clock(&self, rng: &mut Rng) -> u64 {
        match rng.below(4) {
            0 => rng.below(2),
            1 => rng.below(1 << 20),
            2 => rng.pick(&self.dict),
            _ => rng.next_u64(),
        }
    }

    /// An operand field's raw value: an edge of the window, the instruction's own address,
    /// another operand's value, a constant of the body, or anything.
    fn field_value(&self, rng: &mut Rng, s: &State, earlier: &[u64]) -> u64 {
        let (b, l, q) = (s.b, s.l, s.q);
        match rng.below(14) {
            0 => 0,
            1 => 1,
            2 => s.p,
            3 => b.saturating_sub(1),
            4 => b,
            5 => b + 1,
            6 => q.saturating_sub(l).saturating_sub(1),
            7 => q.saturating_sub(l),
            8 if !earlier.is_empty() => rng.pick(earlier),
            8 | 9 => rng.pick(&self.dict),
            10 => u64::MAX,
            11 => rng.next_u64(),
            _ => rng.below(b.min(q - l)),
        }
    }

    /// A memory word: small numbers, addresses inside and around the window (apparent and
    /// absolute), constants of the body, words shaped like `R` or a PSW, or anything.
    fn value(&self, rng: &mut Rng, s: &State) -> u64 {
        match rng.below(12) {
            0 => rng.below(3),
            1 => u64::MAX,
            2 | 3 => rng.pick(&self.dict),
            4 => rng.below(s.b.saturating_add(2)),
            5 => s.l + rng.below(s.b.saturating_add(2)),
            6 => s.reloc().pack(),
            7 => Reloc {
                l: near(rng, s.l),
                b: near(rng, s.b),
            }
            .pack(),
            8 | 9 => self.psw_like(rng, s),
            10 => 1u64 << rng.below(64),
            _ => rng.next_u64(),
        }
    }

    /// A word that looks like a PSW: this state's own (as `spsw` would store it), or one with
    /// a nearby `P`, `R` or the other mode.
    fn psw_like(&self, rng: &mut Rng, s: &State) -> u64 {
        let mode = if rng.chance(1, 2) {
            Mode::User
        } else {
            Mode::Supervisor
        };
        Psw {
            mode,
            p: near(rng, s.p + 1),
            r: Reloc {
                l: near(rng, s.l),
                b: near(rng, s.b),
            },
        }
        .pack()
    }
}

/// `v`, or a value near it, or anything that fits a 21-bit register.
fn near(rng: &mut Rng, v: u64) -> u64 {
    match rng.below(4) {
        0 | 1 => v,
        2 => (v + rng.below(3)).saturating_sub(1) & REG_MAX,
        _ => rng.below(REG_MAX + 1),
    }
}

/// A second bound for `s`. Mostly the pair the monitor's VM map tells apart: for a window
/// hanging over the end of memory, the bound the monitor would give it (`q - l`); for one
/// that fits, a bound that hangs over (`q - l + 1`, the largest register value, or anything
/// above `q - l`). Sometimes one word more or less, or the smallest that still holds the
/// instruction. `None` only if every pick equals `b`.
fn pick_bound2(rng: &mut Rng, s: &State) -> Option<u64> {
    let room = s.q.saturating_sub(s.l);
    let hangs = s.b > room;
    for _ in 0..8 {
        let b = match rng.below(8) {
            0..=2 if hangs => room,
            0 => room + 1,
            1 => REG_MAX,
            2 => rng.range(room + 1, REG_MAX),
            3 => s.b + 1,
            4 => s.b.saturating_sub(1),
            5 => s.p + 1,
            6 => room,
            _ => rng.range(s.p + 1, REG_MAX),
        };
        if s.with_bound(b).is_some() {
            return Some(b);
        }
    }
    [s.p + 1, s.b + 1]
        .into_iter()
        .find(|&b| s.with_bound(b).is_some())
}

/// A shift in `lo..=hi` other than 0: by one word, to an end of memory, or anywhere.
fn pick_shift(rng: &mut Rng, lo: i64, hi: i64) -> i64 {
    let candidates = [1, -1, lo, hi];
    for _ in 0..4 {
        let x = if rng.chance(1, 2) {
            rng.pick(&candidates)
        } else {
            lo + rng.below((hi - lo + 1) as u64) as i64
        };
        if x != 0 && x >= lo && x <= hi {
            return x;
        }
    }
    if hi > 0 { hi } else { lo }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_is_deterministic_and_known() {
        // The first output for seed 0 is the published reference value.
        assert_eq!(Rng::new(0).next_u64(), 0xe220_a839_7b1d_cdaf);
        let (mut a, mut b) = (Rng::new(42), Rng::new(42));
        assert!((0..100).all(|_| a.next_u64() == b.next_u64()));
    }

    #[test]
    fn samples_are_well_formed() {
        let isa = pgvm_isa::load("ia32").expect("loads");
        for id in 0..isa.insns.len() {
            let t = Target::new(&isa, id, false);
            let mut rng = Rng::new(insn_seed(7, &isa.name, &isa.insns[id].mnemonic));
            for _ in 0..2000 {
                let small = rng.chance(1, 2);
                let s = t.sample(&mut rng, small);
                let st = &s.state;
                assert!(st.q >= 4 && st.q <= MAX_WORDS);
                assert!(st.b >= 1 && st.l < st.q && st.p < st.reloc().limit(st.q));
                let pa = st.develop(st.p).expect("the instruction is fetchable");
                assert_eq!(isa.decode(st.word(pa)), Some(id));
                if let Some(x) = s.shift {
                    assert!(st.shifted(x).is_some());
                }
                let b2 = s.bound2.expect("a second bound always exists");
                let other = st.with_bound(b2).expect("fetchable with the other bound");
                assert_eq!(other.word(other.develop(other.p).expect("in")), st.word(pa));
                assert_ne!(s.clock2, st.clock);
                assert!(st.memory.windows(2).all(|w| w[0].0 < w[1].0), "sorted");
            }
        }
    }

    #[test]
    fn the_dictionary_holds_mode_bits() {
        let isa = pgvm_isa::load("m68000").expect("loads");
        let id = isa.insn("movetosr").expect("exists");
        let d = dictionary(&isa.insns[id].body);
        assert!(d.contains(&(1 << 13)), "{d:x?}");
    }
}
