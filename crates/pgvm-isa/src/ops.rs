//! The semantics of the operators, in one place.
//!
//! The interpreter, the fast engine and the classifier's constant folding all evaluate
//! operators through these functions, so an operator cannot mean one thing when run and
//! another when reasoned about.

use crate::model::{BinOp, UnOp};

/// A binary operator on two words. Comparisons and the logical operators yield 0 or 1.
/// Short-circuiting is the caller's business: `alu` always has both operands.
#[inline(always)]
pub fn alu(op: BinOp, x: u64, y: u64) -> u64 {
    match op {
        BinOp::Add => x.wrapping_add(y),
        BinOp::Sub => x.wrapping_sub(y),
        BinOp::Mul => x.wrapping_mul(y),
        BinOp::Div => x.checked_div(y).unwrap_or(u64::MAX),
        BinOp::Rem => x.checked_rem(y).unwrap_or(x),
        BinOp::And => x & y,
        BinOp::Or => x | y,
        BinOp::Xor => x ^ y,
        BinOp::Shl => x << (y & 63),
        BinOp::Shr => x >> (y & 63),
        BinOp::Sar => ((x as i64) >> (y & 63)) as u64,
        BinOp::Eq => (x == y) as u64,
        BinOp::Ne => (x != y) as u64,
        BinOp::Lt => (x < y) as u64,
        BinOp::Le => (x <= y) as u64,
        BinOp::Gt => (x > y) as u64,
        BinOp::Ge => (x >= y) as u64,
        BinOp::Lts => ((x as i64) < (y as i64)) as u64,
        BinOp::Les => ((x as i64) <= (y as i64)) as u64,
        BinOp::LogicalAnd => (x != 0 && y != 0) as u64,
        BinOp::LogicalOr => (x != 0 || y != 0) as u64,
    }
}

/// A unary operator on a word (a boolean is the word 0 or 1).
#[inline(always)]
pub fn unary(op: UnOp, v: u64) -> u64 {
    match op {
        UnOp::Neg => v.wrapping_neg(),
        UnOp::Not => !v,
        UnOp::LogicalNot => (v == 0) as u64,
        UnOp::Bit => v,
    }
}

/// A comparison operator in one branch-free form: `x' < y'` or `x' == y'`, negated or not,
/// where `x'` and `y'` are the operands, swapped or not, with the sign bit flipped for a
/// signed comparison. It means what [`alu`] means for the operator (a test checks every one),
/// and it is here, beside `alu`, so that the operators' meaning stays in one place. The block
/// engine's fused compare-and-branch evaluates it without dispatching on the operator: in a
/// loop whose test is a compare and a branch, that dispatch was a mispredicted jump per lap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compare {
    eq: bool,
    swap: bool,
    signed: bool,
    negate: bool,
}

impl Compare {
    /// The form of a comparison operator; `None` for any other.
    pub fn of(op: BinOp) -> Option<Compare> {
        let c = |eq, swap, signed, negate| {
            Some(Compare {
                eq,
                swap,
                signed,
                negate,
            })
        };
        match op {
            BinOp::Eq => c(true, false, false, false),
            BinOp::Ne => c(true, false, false, true),
            BinOp::Lt => c(false, false, false, false),
            BinOp::Gt => c(false, true, false, false),
            BinOp::Ge => c(false, false, false, true),
            BinOp::Le => c(false, true, false, true),
            BinOp::Lts => c(false, false, true, false),
            BinOp::Les => c(false, true, true, true),
            _ => None,
        }
    }

    /// The operator this is the form of: `Compare::of(op)?.op() == op`.
    pub fn op(self) -> BinOp {
        match (self.eq, self.swap, self.signed, self.negate) {
            (true, _, _, false) => BinOp::Eq,
            (true, _, _, true) => BinOp::Ne,
            (false, false, false, false) => BinOp::Lt,
            (false, true, false, false) => BinOp::Gt,
            (false, false, false, true) => BinOp::Ge,
            (false, true, false, true) => BinOp::Le,
            (false, false, true, _) => BinOp::Lts,
            (false, true, true, _) => BinOp::Les,
        }
    }

    /// `x op y` as a boolean: `alu(op, x, y) != 0`.
    #[inline(always)]
    pub fn eval(self, x: u64, y: u64) -> bool {
        let bias = u64::from(self.signed) << 63;
        let (a, b) = if self.swap { (y, x) } else { (x, y) };
        let (a, b) = (a ^ bias, b ^ bias);
        let r = if self.eq { a == b } else { a < b };
        r != self.negate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn division_by_zero_is_defined() {
        assert_eq!(alu(BinOp::Div, 7, 0), u64::MAX);
        assert_eq!(alu(BinOp::Rem, 7, 0), 7);
    }

    #[test]
    fn unary_agrees_with_the_binary_forms() {
        for v in [0, 1, 2, 0x8000_0000_0000_0000, u64::MAX] {
            assert_eq!(unary(UnOp::Neg, v), alu(BinOp::Sub, 0, v));
            assert_eq!(unary(UnOp::Not, v), alu(BinOp::Xor, v, u64::MAX));
            assert_eq!(unary(UnOp::LogicalNot, v), alu(BinOp::Eq, v, 0));
        }
    }

    #[test]
    fn the_branch_free_comparison_agrees_with_the_alu_on_every_operator_and_edge_value() {
        let edges = [
            0,
            1,
            2,
            0x7fff_ffff_ffff_fffe,
            i64::MAX as u64,
            i64::MIN as u64,
            (i64::MIN as u64) + 1,
            u64::MAX - 1,
            u64::MAX,
        ];
        let ops = [
            BinOp::Eq,
            BinOp::Ne,
            BinOp::Lt,
            BinOp::Le,
            BinOp::Gt,
            BinOp::Ge,
            BinOp::Lts,
            BinOp::Les,
        ];
        for op in ops {
            let cmp = Compare::of(op).expect("a comparison");
            for x in edges {
                for y in edges {
                    assert_eq!(cmp.eval(x, y), alu(op, x, y) != 0, "{op:?} {x:#x} {y:#x}");
                }
            }
        }
        for op in ops {
            assert_eq!(Compare::of(op).map(Compare::op), Some(op));
        }
        for op in [BinOp::Add, BinOp::And, BinOp::Sar, BinOp::LogicalAnd] {
            assert_eq!(Compare::of(op), None, "{op:?}");
        }
    }
}
