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
}
