//! Evaluating a compiled expression by the semantics in `mod.rs`: strings
//! read as numbers, missing values, truthiness, byte-wise string order, regex
//! matches, arithmetic that gives a missing value rather than infinity. Values
//! come only from the `lookup` the caller passes for each resolved slot. Owns
//! `Compiled::eval` and the value rules; must not parse (`parser`), resolve
//! names (`mod.rs`) or change the tree.

use super::{BinOp, Compiled, Node, Value};

/// A value read as a number, if it is one.
fn number(v: Value<'_>) -> Option<f64> {
    match v {
        Value::Num(n) => Some(n),
        Value::Bool(b) => Some(if b { 1.0 } else { 0.0 }),
        Value::Str(s) => std::str::from_utf8(s)
            .ok()?
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite()),
        Value::Missing => None,
    }
}

fn truthy(v: Value<'_>) -> bool {
    match v {
        Value::Bool(b) => b,
        Value::Num(n) => n != 0.0,
        Value::Str(s) => !s.is_empty(),
        Value::Missing => false,
    }
}

fn compare(op: BinOp, a: Value<'_>, b: Value<'_>) -> bool {
    use std::cmp::Ordering;
    let ord: Option<Ordering> = match (a, b) {
        (Value::Missing, _) | (_, Value::Missing) => None,
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(&y)),
        (x, y) => match (number(x), number(y)) {
            (Some(p), Some(q)) => p.partial_cmp(&q),
            _ => None,
        },
    };
    let Some(ord) = ord else { return false };
    match op {
        BinOp::Gt => ord == Ordering::Greater,
        BinOp::Ge => ord != Ordering::Less,
        BinOp::Lt => ord == Ordering::Less,
        BinOp::Le => ord != Ordering::Greater,
        BinOp::Eq => ord == Ordering::Equal,
        BinOp::Ne => ord != Ordering::Equal,
        _ => unreachable!("not a comparison"),
    }
}

fn eval_node<'a>(node: &'a Node, lookup: &dyn Fn(usize) -> Value<'a>) -> Value<'a> {
    match node {
        Node::Num(n) => Value::Num(*n),
        Node::Str(s) => Value::Str(s),
        Node::Bool(b) => Value::Bool(*b),
        Node::Slot(i) => lookup(*i),
        Node::Field { .. } | Node::Call { .. } => Value::Missing,
        Node::Neg(a) => number(eval_node(a, lookup)).map_or(Value::Missing, |n| Value::Num(-n)),
        Node::Not(a) => Value::Bool(!truthy(eval_node(a, lookup))),
        Node::Match { negate, left, re } => match eval_node(left, lookup) {
            Value::Missing => Value::Bool(false),
            Value::Str(s) => Value::Bool(re.is_match(s) != *negate),
            Value::Num(n) => Value::Bool(re.is_match(format!("{n}").as_bytes()) != *negate),
            Value::Bool(b) => {
                Value::Bool(re.is_match(if b { b"true" } else { b"false" }) != *negate)
            }
        },
        Node::Bin(op, a, b) => match op {
            BinOp::Or => Value::Bool(truthy(eval_node(a, lookup)) || truthy(eval_node(b, lookup))),
            BinOp::And => Value::Bool(truthy(eval_node(a, lookup)) && truthy(eval_node(b, lookup))),
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div => {
                match (number(eval_node(a, lookup)), number(eval_node(b, lookup))) {
                    (Some(x), Some(y)) => {
                        let r = match op {
                            BinOp::Add => x + y,
                            BinOp::Sub => x - y,
                            BinOp::Mul => x * y,
                            _ if y == 0.0 => return Value::Missing,
                            _ => x / y,
                        };
                        if r.is_finite() {
                            Value::Num(r)
                        } else {
                            Value::Missing
                        }
                    }
                    _ => Value::Missing,
                }
            }
            cmp => Value::Bool(compare(*cmp, eval_node(a, lookup), eval_node(b, lookup))),
        },
    }
}

impl Compiled {
    /// Evaluates with `lookup(slot)` giving each resolved reference's value.
    pub fn eval<'a>(&'a self, lookup: &dyn Fn(usize) -> Value<'a>) -> Value<'a> {
        eval_node(&self.root, lookup)
    }
    /// `eval` read as a condition: true only for `Bool(true)` or a non-zero number.
    pub fn eval_bool<'a>(&'a self, lookup: &dyn Fn(usize) -> Value<'a>) -> bool {
        match self.eval(lookup) {
            Value::Bool(b) => b,
            Value::Num(n) => n != 0.0,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::expr::tests::eval_with;
    use crate::expr::{Expr, Value};

    #[test]
    fn precedence_and_arithmetic() {
        assert_eq!(eval_with("1 + 2 * 3", &[], &[]), Value::Num(7.0));
        assert_eq!(eval_with("(1 + 2) * 3", &[], &[]), Value::Num(9.0));
        assert_eq!(eval_with("-2 * -3 - 1", &[], &[]), Value::Num(5.0));
        assert_eq!(eval_with("1 / 0", &[], &[]), Value::Missing);
        assert_eq!(
            eval_with("b / 1e6", &["b"], &[Value::Str(b"2500000")]),
            Value::Num(2.5)
        );
        assert_eq!(
            eval_with("1 < 2 and 2 < 1 or true", &[], &[]),
            Value::Bool(true)
        );
        assert_eq!(
            eval_with("not 1 > 2 and 3 > 2", &[], &[]),
            Value::Bool(true)
        );
    }

    #[test]
    fn comparisons_between_strings_numbers_and_missing() {
        let s = |v: &'static [u8]| Value::Str(v);
        assert_eq!(
            eval_with("status >= 500", &["status"], &[s(b"503")]),
            Value::Bool(true)
        );
        assert_eq!(
            eval_with("status >= 500", &["status"], &[s(b"abc")]),
            Value::Bool(false)
        );
        assert_eq!(
            eval_with("status >= 500", &["status"], &[Value::Missing]),
            Value::Bool(false)
        );
        assert_eq!(
            eval_with("status != 500", &["status"], &[Value::Missing]),
            Value::Bool(false)
        );
        assert_eq!(
            eval_with("metric == \"cpu\"", &["metric"], &[s(b"cpu")]),
            Value::Bool(true)
        );
        assert_eq!(
            eval_with("metric == 'cpu'", &["metric"], &[s(b"mem")]),
            Value::Bool(false)
        );
        assert_eq!(
            eval_with("m == \"say \\\"hi\\\"\"", &["m"], &[s(b"say \"hi\"")]),
            Value::Bool(true)
        );
        assert_eq!(
            eval_with("a < b", &["a", "b"], &[s(b"apple"), s(b"banana")]),
            Value::Bool(true)
        );
    }

    #[test]
    fn regex_match_is_compiled_once_and_matches_bytes() {
        let s = |v: &'static [u8]| Value::Str(v);
        assert_eq!(
            eval_with("path =~ \"^/api/\"", &["path"], &[s(b"/api/x")]),
            Value::Bool(true)
        );
        assert_eq!(
            eval_with("path !~ \"^/api/\"", &["path"], &[s(b"/web")]),
            Value::Bool(true)
        );
        assert_eq!(
            eval_with("path =~ \"x\"", &["path"], &[s(b"\xffx")]),
            Value::Bool(true)
        );
        let e = Expr::parse("path =~ \"(\"").unwrap_err();
        assert_eq!(e.column, 8);
        assert!(
            e.message.contains("invalid regular expression"),
            "{}",
            e.message
        );
    }
}
