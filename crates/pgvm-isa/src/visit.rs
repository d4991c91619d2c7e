//! One traversal of instruction bodies, for every analysis that walks them.
//!
//! Effect summaries, the classifier's proofs and state generators, exhaustive enumeration and
//! the parser's own checks all need "every statement and expression of this body". They get it
//! here, from one walk with an explicit stack, so a new kind of node is handled in one place
//! and a deep body cannot overflow the stack of a collecting walk.
//!
//! The order is pre-order, left to right: a statement before its parts; a `Store`'s address
//! before its value; an `if`'s condition, then its `then` arm, then its `else` arm; a binary
//! operator's left operand before its right one. Analyses that keep the first few of something
//! (exhaustive enumeration keeps the body's first constants) rely on it.
//!
//! Walks that follow control flow (must-trap, specialization, the interpreter) keep their own
//! shape: they are recursive over the tree, whose depth the parser bounds ([`crate::MAX_DEPTH`]).

use crate::model::{Expr, Stmt};

/// A node of a body.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Node<'a> {
    /// A statement.
    Stmt(&'a Stmt),
    /// An expression.
    Expr(&'a Expr),
}

/// Whether a [`Visitor`] wants the parts of the node it was just shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walk {
    /// Visit the node's statements and expressions too.
    Into,
    /// Skip them.
    Over,
}

/// Something that looks at the nodes of a body, with [`walk`] or [`walk_expr`]. Both methods
/// default to looking at nothing and descending everywhere.
pub trait Visitor<'a> {
    /// Called on each statement before its parts.
    fn stmt(&mut self, _s: &'a Stmt) -> Walk {
        Walk::Into
    }

    /// Called on each expression before its operands.
    fn expr(&mut self, _e: &'a Expr) -> Walk {
        Walk::Into
    }
}

/// Pushes the parts of `$node` (a `$Node`, [`Node`] or [`NodeMut`]) onto `$stack` so that
/// they pop in pre-order; `$iter` is `iter` or `iter_mut`. The shared and the editing walk
/// differ only in the kind of reference, so what a node's parts are, and in which order, is
/// written once here for both.
macro_rules! push_parts {
    ($node:expr, $stack:expr, $Node:ident, $iter:ident) => {
        match $node {
            $Node::Stmt(s) => match s {
                Stmt::Store { addr, value, .. } => {
                    $stack.push($Node::Expr(value));
                    $stack.push($Node::Expr(addr));
                }
                Stmt::Set(_, e) | Stmt::Let(_, e) | Stmt::Out(e) | Stmt::Timer(e) => {
                    $stack.push($Node::Expr(e));
                }
                Stmt::If(c, t, f) => {
                    $stack.extend(f.$iter().rev().map($Node::Stmt));
                    $stack.extend(t.$iter().rev().map($Node::Stmt));
                    $stack.push($Node::Expr(c));
                }
                Stmt::Trap(_) | Stmt::Halt => {}
            },
            $Node::Expr(e) => match e {
                Expr::Load(_, a) | Expr::Unary(_, a) => $stack.push($Node::Expr(a)),
                Expr::Binary(_, a, b) => {
                    $stack.push($Node::Expr(b));
                    $stack.push($Node::Expr(a));
                }
                Expr::Const(_)
                | Expr::Field(_)
                | Expr::Local(_)
                | Expr::Reg(_)
                | Expr::Clock
                | Expr::In => {}
            },
        }
    };
}

/// Pushes the parts of `node` so that they pop in pre-order.
fn push_parts<'a>(node: Node<'a>, stack: &mut Vec<Node<'a>>) {
    push_parts!(node, stack, Node, iter);
}

fn run<'a, V: Visitor<'a> + ?Sized>(mut stack: Vec<Node<'a>>, v: &mut V) {
    while let Some(node) = stack.pop() {
        let walk = match node {
            Node::Stmt(s) => v.stmt(s),
            Node::Expr(e) => v.expr(e),
        };
        if walk == Walk::Into {
            push_parts(node, &mut stack);
        }
    }
}

/// Shows every node of `body` to `v`, in pre-order.
pub fn walk<'a, V: Visitor<'a> + ?Sized>(body: &'a [Stmt], v: &mut V) {
    run(body.iter().rev().map(Node::Stmt).collect(), v);
}

/// Shows every node of one expression to `v`, in pre-order.
pub fn walk_expr<'a, V: Visitor<'a> + ?Sized>(e: &'a Expr, v: &mut V) {
    run(vec![Node::Expr(e)], v);
}

/// Every node of a body, in pre-order.
pub fn nodes(body: &[Stmt]) -> Nodes<'_> {
    Nodes {
        stack: body.iter().rev().map(Node::Stmt).collect(),
    }
}

/// The iterator of [`nodes`].
#[derive(Debug, Clone)]
pub struct Nodes<'a> {
    stack: Vec<Node<'a>>,
}

impl<'a> Iterator for Nodes<'a> {
    type Item = Node<'a>;

    fn next(&mut self) -> Option<Node<'a>> {
        let node = self.stack.pop()?;
        push_parts(node, &mut self.stack);
        Some(node)
    }
}

/// Every statement of a body, nested ones included, in pre-order.
pub fn stmts(body: &[Stmt]) -> impl Iterator<Item = &Stmt> {
    nodes(body).filter_map(|n| match n {
        Node::Stmt(s) => Some(s),
        Node::Expr(_) => None,
    })
}

/// Every expression of a body, subexpressions included, in pre-order.
pub fn exprs(body: &[Stmt]) -> impl Iterator<Item = &Expr> {
    nodes(body).filter_map(|n| match n {
        Node::Expr(e) => Some(e),
        Node::Stmt(_) => None,
    })
}

/// A node of a body, for editing in place.
#[derive(Debug)]
pub enum NodeMut<'a> {
    /// A statement.
    Stmt(&'a mut Stmt),
    /// An expression.
    Expr(&'a mut Expr),
}

/// Calls `f` on every node of `body`, in pre-order, letting it edit the node. `f` sees a node
/// before its parts, and the parts it sees are those the node has after `f` returns.
pub fn walk_mut(body: &mut [Stmt], mut f: impl FnMut(NodeMut<'_>)) {
    let mut stack: Vec<NodeMut<'_>> = body.iter_mut().rev().map(NodeMut::Stmt).collect();
    while let Some(node) = stack.pop() {
        // `f` edits the node first; its parts are then taken from what it left.
        let node = match node {
            NodeMut::Stmt(s) => {
                f(NodeMut::Stmt(&mut *s));
                NodeMut::Stmt(s)
            }
            NodeMut::Expr(e) => {
                f(NodeMut::Expr(&mut *e));
                NodeMut::Expr(e)
            }
        };
        push_parts!(node, stack, NodeMut, iter_mut);
    }
}

/// How deeply a body nests: each `if` and each operator, load or call counts one level over
/// the things inside it; leaves (constants, fields, locals, registers) count none. Measured
/// without recursion, so it is safe on any tree.
pub fn depth(body: &[Stmt]) -> usize {
    let mut stack: Vec<(Node<'_>, usize)> = body.iter().map(|s| (Node::Stmt(s), 0)).collect();
    let mut deepest = 0;
    let mut parts = Vec::new();
    while let Some((node, d)) = stack.pop() {
        deepest = deepest.max(d);
        parts.clear();
        push_parts(node, &mut parts);
        // A statement's own expressions sit at its level; an `if` nests what it contains.
        let inner = match node {
            Node::Stmt(Stmt::If(..)) | Node::Expr(_) => d + 1,
            Node::Stmt(_) => d,
        };
        stack.extend(parts.drain(..).map(|n| (n, inner)));
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BinOp, Reg, Space};

    fn sample() -> Vec<Stmt> {
        let one = || Box::new(Expr::Const(1));
        vec![
            Stmt::Store {
                space: Space::Relocated,
                addr: Expr::Field(0),
                value: Expr::Binary(BinOp::Add, Box::new(Expr::Local(0)), one()),
            },
            Stmt::If(
                Expr::Reg(Reg::M),
                vec![Stmt::Trap(crate::TrapCause::Instruction)],
                vec![Stmt::Let(0, Expr::Load(Space::Absolute, one()))],
            ),
        ]
    }

    #[test]
    fn nodes_come_in_pre_order() {
        let body = sample();
        let kinds: Vec<String> = nodes(&body)
            .map(|n| match n {
                Node::Stmt(s) => format!("{s:?}").chars().take(4).collect(),
                Node::Expr(e) => format!("{e:?}").chars().take(4).collect(),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "Stor", "Fiel", "Bina", "Loca", "Cons", "If(R", "Reg(", "Trap", "Let(", "Load",
                "Cons"
            ]
        );
    }

    #[test]
    fn a_visitor_can_skip_parts() {
        struct NoLoads(usize);
        impl<'a> Visitor<'a> for NoLoads {
            fn expr(&mut self, e: &'a Expr) -> Walk {
                self.0 += 1;
                if matches!(e, Expr::Load(..)) {
                    Walk::Over
                } else {
                    Walk::Into
                }
            }
        }
        let mut v = NoLoads(0);
        walk(&sample(), &mut v);
        assert_eq!(v.0, exprs(&sample()).count() - 1);
    }

    #[test]
    fn walk_mut_edits_every_node() {
        let mut body = sample();
        walk_mut(&mut body, |n| {
            if let NodeMut::Expr(Expr::Const(c)) = n {
                *c += 10;
            }
        });
        let consts: Vec<u64> = exprs(&body)
            .filter_map(|e| match e {
                Expr::Const(c) => Some(*c),
                _ => None,
            })
            .collect();
        assert_eq!(consts, [11, 11]);
    }

    #[test]
    fn depth_counts_ifs_and_operators() {
        assert_eq!(depth(&sample()), 2);
        let mut e = Expr::Const(0);
        for _ in 0..10_000 {
            e = Expr::Unary(crate::UnOp::Neg, Box::new(e));
        }
        let body = vec![Stmt::Out(e)];
        assert_eq!(depth(&body), 10_000);
        // Dropping a tree this deep recurses; leak it instead, the test is about `depth`.
        std::mem::forget(body);
    }
}
