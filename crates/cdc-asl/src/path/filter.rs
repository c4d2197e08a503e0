//! Filter expressions: `[?(@.price < 10 && @.isbn)]`.

use std::cmp::Ordering;

use serde_json::Value;

use super::{Segment, step_singular};

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Operand {
    Current(Vec<Segment>),
    Root(Vec<Segment>),
    Literal(Value),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum FilterExpr {
    Or(Vec<FilterExpr>),
    And(Vec<FilterExpr>),
    Not(Box<FilterExpr>),
    Exists(Operand),
    Compare(Operand, CompareOp, Operand),
}

impl Operand {
    fn resolve<'v>(&'v self, current: &'v Value, root: &'v Value) -> Option<&'v Value> {
        let (start, segments) = match self {
            Operand::Literal(value) => return Some(value),
            Operand::Current(segments) => (current, segments),
            Operand::Root(segments) => (root, segments),
        };
        let mut node = start;
        for segment in segments {
            node = step_singular(node, &segment.selector)?;
        }
        Some(node)
    }
}

impl FilterExpr {
    pub(super) fn test(&self, current: &Value, root: &Value) -> bool {
        match self {
            FilterExpr::Or(parts) => parts.iter().any(|p| p.test(current, root)),
            FilterExpr::And(parts) => parts.iter().all(|p| p.test(current, root)),
            FilterExpr::Not(inner) => !inner.test(current, root),
            FilterExpr::Exists(operand) => operand.resolve(current, root).is_some(),
            FilterExpr::Compare(left, op, right) => {
                let (l, r) = (left.resolve(current, root), right.resolve(current, root));
                match op {
                    CompareOp::Eq => values_equal(l, r),
                    CompareOp::Ne => !values_equal(l, r),
                    _ => {
                        let Some(ordering) = l.zip(r).and_then(|(l, r)| compare_values(l, r)) else {
                            return false;
                        };
                        match op {
                            CompareOp::Lt => ordering == Ordering::Less,
                            CompareOp::Le => ordering != Ordering::Greater,
                            CompareOp::Gt => ordering == Ordering::Greater,
                            _ => ordering != Ordering::Less,
                        }
                    }
                }
            }
        }
    }
}

fn values_equal(l: Option<&Value>, r: Option<&Value>) -> bool {
    match (l, r) {
        (Some(Value::Number(a)), Some(Value::Number(b))) => a.as_f64() == b.as_f64(),
        (Some(a), Some(b)) => a == b,
        (None, None) => true,
        _ => false,
    }
}

fn compare_values(l: &Value, r: &Value) -> Option<Ordering> {
    match (l, r) {
        (Value::Number(a), Value::Number(b)) => a.as_f64()?.partial_cmp(&b.as_f64()?),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        _ => None,
    }
}
