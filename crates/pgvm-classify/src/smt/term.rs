//! SMT-LIB 2 terms, written as text as they are built.
//!
//! Every compound term becomes one `define-fun` line and is referred to by name afterwards, so
//! a term shared by many others (the pending `R` of a body, read by every address development)
//! is written once: the script grows linearly with the body, never with the number of paths
//! through it. Identical terms are built once (hash-consing on their text).

use std::collections::HashMap;
use std::fmt::Write;

/// A built term: its index in the builder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct T(u32);

/// The sorts the encoding uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// `Bool`.
    Bool,
    /// `(_ BitVec 64)`: a machine word.
    Word,
    /// `(Array (_ BitVec 64) (_ BitVec 64))`: physical memory.
    Mem,
}

impl Sort {
    fn text(self) -> &'static str {
        match self {
            Sort::Bool => "Bool",
            Sort::Word => "(_ BitVec 64)",
            Sort::Mem => "(Array (_ BitVec 64) (_ BitVec 64))",
        }
    }
}

/// Builds terms and the script's declarations.
#[derive(Debug, Default)]
pub struct Builder {
    /// Declarations and definitions, one per line, in order.
    lines: String,
    /// Each term's name (or literal text).
    names: Vec<String>,
    /// Each term's sort.
    sorts: Vec<Sort>,
    /// Definition text to term, for hash-consing.
    seen: HashMap<String, T>,
    /// Memory reads as fresh words: (address, word), one per distinct address term.
    reads: Vec<(T, T)>,
}

/// A word as an SMT-LIB literal.
pub fn word_lit(v: u64) -> String {
    format!("#x{v:016x}")
}

impl Builder {
    /// An empty builder.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// The declarations and definitions so far.
    pub fn text(&self) -> &str {
        &self.lines
    }

    /// How a term is written in a command (`get-value`, `assert`).
    pub fn name(&self, t: T) -> &str {
        &self.names[t.0 as usize]
    }

    /// The sort of a term.
    pub fn sort(&self, t: T) -> Sort {
        self.sorts[t.0 as usize]
    }

    fn push(&mut self, name: String, sort: Sort) -> T {
        let t = T(self.names.len() as u32);
        self.names.push(name);
        self.sorts.push(sort);
        t
    }

    fn literal(&mut self, text: String, sort: Sort) -> T {
        if let Some(&t) = self.seen.get(&text) {
            return t;
        }
        let t = self.push(text.clone(), sort);
        self.seen.insert(text, t);
        t
    }

    /// A fresh constant (`declare-const`); `name` must be unique and a plain symbol.
    pub fn var(&mut self, name: &str, sort: Sort) -> T {
        let n = format!("|{name}|");
        let _ = writeln!(self.lines, "(declare-const {n} {})", sort.text());
        self.push(n, sort)
    }

    /// A word literal.
    pub fn word(&mut self, v: u64) -> T {
        self.literal(word_lit(v), Sort::Word)
    }

    /// A Boolean literal.
    pub fn boolean(&mut self, b: bool) -> T {
        self.literal(if b { "true" } else { "false" }.into(), Sort::Bool)
    }

    /// A compound term `(op args...)` of sort `sort`.
    pub fn app(&mut self, sort: Sort, op: &str, args: &[T]) -> T {
        let mut def = format!("({op}");
        for &a in args {
            def.push(' ');
            def.push_str(self.name(a));
        }
        def.push(')');
        if let Some(&t) = self.seen.get(&def) {
            return t;
        }
        let name = format!("t{}", self.names.len());
        let _ = writeln!(self.lines, "(define-fun {name} () {} {def})", sort.text());
        let t = self.push(name, sort);
        self.seen.insert(def, t);
        t
    }

    // ---- Booleans ----------------------------------------------------------------------

    /// `not`.
    pub fn not(&mut self, a: T) -> T {
        self.app(Sort::Bool, "not", &[a])
    }

    /// `and` of any number of terms (`true` for none).
    pub fn and(&mut self, xs: &[T]) -> T {
        match xs {
            [] => self.boolean(true),
            [x] => *x,
            _ => self.app(Sort::Bool, "and", xs),
        }
    }

    /// `or` of any number of terms (`false` for none).
    pub fn or(&mut self, xs: &[T]) -> T {
        match xs {
            [] => self.boolean(false),
            [x] => *x,
            _ => self.app(Sort::Bool, "or", xs),
        }
    }

    /// `=` (any sort).
    pub fn eq(&mut self, a: T, b: T) -> T {
        self.app(Sort::Bool, "=", &[a, b])
    }

    /// `distinct`.
    pub fn ne(&mut self, a: T, b: T) -> T {
        self.app(Sort::Bool, "distinct", &[a, b])
    }

    /// `ite`, of the sort of its arms.
    pub fn ite(&mut self, c: T, a: T, b: T) -> T {
        let sort = self.sort(a);
        self.app(sort, "ite", &[c, a, b])
    }

    /// A Boolean as the word 0 or 1.
    pub fn bit(&mut self, c: T) -> T {
        let (one, zero) = (self.word(1), self.word(0));
        self.ite(c, one, zero)
    }

    /// A word as a Boolean: not zero.
    pub fn nonzero(&mut self, a: T) -> T {
        let zero = self.word(0);
        self.ne(a, zero)
    }

    // ---- words -------------------------------------------------------------------------

    /// A binary word operator (`bvadd`, ...).
    pub fn bv(&mut self, op: &str, a: T, b: T) -> T {
        self.app(Sort::Word, op, &[a, b])
    }

    /// A word comparison (`bvult`, ...).
    pub fn cmp(&mut self, op: &str, a: T, b: T) -> T {
        self.app(Sort::Bool, op, &[a, b])
    }

    /// `a < b`, unsigned.
    pub fn ult(&mut self, a: T, b: T) -> T {
        self.cmp("bvult", a, b)
    }

    /// `a <= b`, unsigned.
    pub fn ule(&mut self, a: T, b: T) -> T {
        self.cmp("bvule", a, b)
    }

    /// `a + b`, wrapping.
    pub fn add(&mut self, a: T, b: T) -> T {
        self.bv("bvadd", a, b)
    }

    /// `a - b`, wrapping.
    pub fn sub(&mut self, a: T, b: T) -> T {
        self.bv("bvsub", a, b)
    }

    /// `a & b`.
    pub fn band(&mut self, a: T, b: T) -> T {
        self.bv("bvand", a, b)
    }

    /// `a | b`.
    pub fn bor(&mut self, a: T, b: T) -> T {
        self.bv("bvor", a, b)
    }

    /// `a & k` for a literal mask.
    pub fn mask(&mut self, a: T, k: u64) -> T {
        let k = self.word(k);
        self.band(a, k)
    }

    /// `a >> k`, logical, for a literal shift.
    pub fn shr(&mut self, a: T, k: u32) -> T {
        let k = self.word(u64::from(k));
        self.bv("bvlshr", a, k)
    }

    /// `a << k` for a literal shift.
    pub fn shl(&mut self, a: T, k: u32) -> T {
        let k = self.word(u64::from(k));
        self.bv("bvshl", a, k)
    }

    /// Bits `hi..lo` of a word, zero- or sign-extended back to 64 bits.
    pub fn field(&mut self, w: T, hi: u32, lo: u32, signed: bool) -> T {
        let width = hi - lo + 1;
        if width >= 64 {
            return w;
        }
        let ext = if signed { "sign_extend" } else { "zero_extend" };
        let op = format!("(_ {ext} {}) ((_ extract {hi} {lo})", 64 - width);
        // Written by hand: the inner application is not a term of its own sort.
        let def = format!("({op} {}))", self.name(w));
        if let Some(&t) = self.seen.get(&def) {
            return t;
        }
        let name = format!("t{}", self.names.len());
        let _ = writeln!(
            self.lines,
            "(define-fun {name} () {} {def})",
            Sort::Word.text()
        );
        let t = self.push(name, Sort::Word);
        self.seen.insert(def, t);
        t
    }

    /// The word of memory at `a`, as a fresh variable (one per distinct address term). The
    /// caller asserts [`Builder::congruence`]: equal addresses read equal words.
    pub fn fresh_read(&mut self, a: T) -> T {
        if let Some(&(_, v)) = self.reads.iter().find(|(x, _)| *x == a) {
            return v;
        }
        let v = self.var(&format!("m{}", self.reads.len()), Sort::Word);
        self.reads.push((a, v));
        v
    }

    /// Every fresh read so far: (address, word).
    pub fn fresh_reads(&self) -> Vec<(T, T)> {
        self.reads.clone()
    }

    /// Memory is a function: two fresh reads of equal addresses read equal words (Ackermann's
    /// reduction of an uninterpreted function).
    pub fn congruence(&mut self) -> T {
        let reads = self.reads.clone();
        let mut parts = Vec::new();
        for (i, &(a, v)) in reads.iter().enumerate() {
            for &(c, w) in &reads[i + 1..] {
                let differ = self.ne(a, c);
                let same = self.eq(v, w);
                parts.push(self.or(&[differ, same]));
            }
        }
        self.and(&parts)
    }

    /// `(select m a)`.
    pub fn select(&mut self, m: T, a: T) -> T {
        self.app(Sort::Word, "select", &[m, a])
    }

    /// An array of words, every one `v`, with `stores` written over it (a concrete memory).
    pub fn memory_literal(&self, default: u64, stores: &[(u64, u64)]) -> String {
        let mut s = format!("((as const {}) {})", Sort::Mem.text(), word_lit(default));
        for &(a, v) in stores {
            s = format!("(store {s} {} {})", word_lit(a), word_lit(v));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_terms_are_defined_once() {
        let mut b = Builder::new();
        let x = b.var("x", Sort::Word);
        let one = b.word(1);
        let s1 = b.add(x, one);
        let s2 = b.add(x, one);
        assert_eq!(s1, s2);
        assert_eq!(b.text().matches("bvadd").count(), 1);
        let f = b.field(x, 7, 0, true);
        assert!(b.text().contains("(_ sign_extend 56) ((_ extract 7 0)"));
        assert_eq!(b.sort(f), Sort::Word);
    }
}
