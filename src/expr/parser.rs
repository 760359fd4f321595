//! The expression parser: recursive descent over the lexer's tokens by the
//! grammar in `mod.rs`, from text to the `Node` tree (`Expr::parse`).
//! Regular expressions are compiled here, once; calls keep their raw argument
//! texts; nesting and tree height are bounded by [`MAX_DEPTH`]. Owns `Parser`
//! and the depth limit. Must not resolve names (`Expr::compile`, in `mod.rs`)
//! or evaluate (`eval`); tokens are the lexer's business.

use regex::bytes::Regex;

use super::lexer::{Lexer, Tok};
use super::{BinOp, Expr, ExprError, Node};

struct Parser<'t> {
    lex: Lexer<'t>,
    tok: Tok,
    col: usize,
    /// parentheses, `not` and unary `-` entered and not yet left
    nesting: usize,
}

const OPERAND: &str = "expected a number, string, field name, call or '('";

/// How deep an expression may nest: parentheses, `not` and `-` inside one
/// another, and the height of its tree (`a + b + c` is 3 levels). Parsing,
/// resolving and evaluating recurse over the tree, so an unbounded depth
/// (5,000 parentheses) would overflow the stack; no real condition comes near.
pub const MAX_DEPTH: usize = 200;

/// A parsed subtree and its height.
type Sub = (Node, usize);

impl<'t> Parser<'t> {
    fn bump(&mut self) -> Result<(), ExprError> {
        let (t, c) = self.lex.next()?;
        self.tok = t;
        self.col = c;
        Ok(())
    }

    fn err(&self, message: impl Into<String>) -> ExprError {
        self.lex.err(self.col, message)
    }

    fn too_deep(&self) -> ExprError {
        self.err(format!(
            "the expression nests more than {MAX_DEPTH} levels deep (parentheses, operators, 'not'); expected a shallower expression (split it with --eval)"
        ))
    }

    /// Enters one level of nesting (before recursing), refusing past the limit.
    fn enter(&mut self) -> Result<(), ExprError> {
        self.nesting += 1;
        if self.nesting > MAX_DEPTH {
            return Err(self.too_deep());
        }
        Ok(())
    }

    /// A binary node over two subtrees, refusing a tree higher than the limit.
    fn bin(&self, op: BinOp, left: Sub, right: Sub) -> Result<Sub, ExprError> {
        let height = left.1.max(right.1) + 1;
        if height > MAX_DEPTH {
            return Err(self.too_deep());
        }
        Ok((Node::Bin(op, Box::new(left.0), Box::new(right.0)), height))
    }

    /// A one-child node (`not`, `-`, a regex match) over a subtree.
    fn wrap(&self, sub: Sub, make: impl FnOnce(Box<Node>) -> Node) -> Result<Sub, ExprError> {
        if sub.1 + 1 > MAX_DEPTH {
            return Err(self.too_deep());
        }
        Ok((make(Box::new(sub.0)), sub.1 + 1))
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(&self.tok, Tok::Op(o) if *o == op)
    }

    fn or(&mut self) -> Result<Sub, ExprError> {
        let mut left = self.and()?;
        while self.is_op("or") {
            self.bump()?;
            let right = self.and()?;
            left = self.bin(BinOp::Or, left, right)?;
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Sub, ExprError> {
        let mut left = self.not()?;
        while self.is_op("and") {
            self.bump()?;
            let right = self.not()?;
            left = self.bin(BinOp::And, left, right)?;
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Sub, ExprError> {
        if self.is_op("not") {
            self.enter()?;
            self.bump()?;
            let inner = self.not()?;
            self.nesting -= 1;
            return self.wrap(inner, Node::Not);
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Sub, ExprError> {
        let left = self.sum()?;
        let op = match &self.tok {
            Tok::Op(o) if matches!(*o, ">" | ">=" | "<" | "<=" | "==" | "!=" | "=~" | "!~") => *o,
            _ => return Ok(left),
        };
        self.bump()?;
        if op == "=~" || op == "!~" {
            let Tok::Str(pattern) = &self.tok else {
                return Err(self.err(format!("expected a quoted regular expression after '{op}'")));
            };
            let pattern = String::from_utf8_lossy(pattern).into_owned();
            let re = Regex::new(&pattern).map_err(|e| {
                self.err(format!(
                    "invalid regular expression: {}",
                    e.to_string().lines().last().unwrap_or("")
                ))
            })?;
            self.bump()?;
            return self.wrap(left, |left| Node::Match {
                negate: op == "!~",
                left,
                re,
            });
        }
        let right = self.sum()?;
        let bin = match op {
            ">" => BinOp::Gt,
            ">=" => BinOp::Ge,
            "<" => BinOp::Lt,
            "<=" => BinOp::Le,
            "==" => BinOp::Eq,
            _ => BinOp::Ne,
        };
        if matches!(&self.tok, Tok::Op(o) if matches!(*o, ">" | ">=" | "<" | "<=" | "==" | "!=")) {
            return Err(self.err("comparisons do not chain: join them with 'and'"));
        }
        self.bin(bin, left, right)
    }

    fn sum(&mut self) -> Result<Sub, ExprError> {
        let mut left = self.product()?;
        loop {
            let op = if self.is_op("+") {
                BinOp::Add
            } else if self.is_op("-") {
                BinOp::Sub
            } else {
                return Ok(left);
            };
            self.bump()?;
            let right = self.product()?;
            left = self.bin(op, left, right)?;
        }
    }

    fn product(&mut self) -> Result<Sub, ExprError> {
        let mut left = self.unary()?;
        loop {
            let op = if self.is_op("*") {
                BinOp::Mul
            } else if self.is_op("/") {
                BinOp::Div
            } else {
                return Ok(left);
            };
            self.bump()?;
            let right = self.unary()?;
            left = self.bin(op, left, right)?;
        }
    }

    fn unary(&mut self) -> Result<Sub, ExprError> {
        if self.is_op("-") {
            self.enter()?;
            self.bump()?;
            let inner = self.unary()?;
            self.nesting -= 1;
            return self.wrap(inner, Node::Neg);
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Sub, ExprError> {
        let col = self.col;
        match std::mem::replace(&mut self.tok, Tok::End) {
            Tok::Num(v) => {
                self.bump()?;
                Ok((Node::Num(v), 1))
            }
            Tok::Str(s) => {
                self.bump()?;
                Ok((Node::Str(s), 1))
            }
            Tok::LParen => {
                self.tok = Tok::LParen;
                self.enter()?;
                self.bump()?;
                let inner = self.or()?;
                if self.tok != Tok::RParen {
                    return Err(self.err("expected ')'"));
                }
                self.nesting -= 1;
                self.bump()?;
                Ok(inner)
            }
            Tok::Ident(name) => {
                self.bump()?;
                match name.as_str() {
                    "true" => return Ok((Node::Bool(true), 1)),
                    "false" => return Ok((Node::Bool(false), 1)),
                    _ => {}
                }
                if self.tok != Tok::LParen {
                    return Ok((Node::Field { name, col }, 1));
                }
                // A call: keep the raw argument texts.
                let open = self.lex.pos; // just after '('
                let mut depth = 1;
                let mut i = open;
                let chars = &self.lex.chars;
                let mut args = Vec::new();
                let mut arg_start = open;
                let mut quote: Option<char> = None;
                while i < chars.len() {
                    let c = chars[i];
                    match (quote, c) {
                        (Some(q), ch) if ch == q => quote = None,
                        (Some(_), _) => {}
                        (None, '"' | '\'') => quote = Some(c),
                        (None, '(') => depth += 1,
                        (None, ')') => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        (None, ',') if depth == 1 => {
                            args.push(
                                chars[arg_start..i]
                                    .iter()
                                    .collect::<String>()
                                    .trim()
                                    .to_string(),
                            );
                            arg_start = i + 1;
                        }
                        _ => {}
                    }
                    i += 1;
                }
                if i >= chars.len() {
                    return Err(self
                        .lex
                        .err(col, format!("expected ')' to close the call to {name}(")));
                }
                let last: String = chars[arg_start..i]
                    .iter()
                    .collect::<String>()
                    .trim()
                    .to_string();
                if !last.is_empty() || !args.is_empty() {
                    args.push(last);
                }
                self.lex.pos = i + 1;
                self.bump()?;
                Ok((Node::Call { name, args, col }, 1))
            }
            Tok::End => Err(self.err(format!("{OPERAND}, found the end of the expression"))),
            other => {
                self.tok = other;
                Err(self.err(OPERAND))
            }
        }
    }
}

impl Expr {
    pub fn parse(text: &str) -> Result<Expr, ExprError> {
        let mut p = Parser {
            lex: Lexer {
                chars: text.chars().collect(),
                pos: 0,
                text,
            },
            tok: Tok::End,
            col: 0,
            nesting: 0,
        };
        p.bump()?;
        let (root, _) = p.or()?;
        if p.tok != Tok::End {
            return Err(p.err("unexpected text after the end of the expression; expected an operator such as 'and', '>' or '+'"));
        }
        Ok(Expr {
            text: text.to_string(),
            root,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::tests::eval_with;
    use crate::expr::Value;

    #[test]
    fn deep_nesting_is_an_error_with_a_caret_not_a_stack_overflow() {
        let deep = format!("{}x{}", "(".repeat(5000), ")".repeat(5000));
        let e = Expr::parse(&deep).unwrap_err();
        assert!(
            e.message.contains("nests more than 200 levels"),
            "{}",
            e.message
        );
        assert_eq!(
            e.column, MAX_DEPTH,
            "the caret sits on the first '(' too many"
        );
        for text in [
            "not ".repeat(5000) + "x",
            "-".repeat(5000) + "1",
            vec!["a"; 100_000].join(" or "),
            vec!["1"; 100_000].join(" + "),
            vec!["1"; 100_000].join(" * "),
        ] {
            let e = Expr::parse(&text).unwrap_err();
            assert!(e.message.contains("nests more than"), "{}", e.message);
        }
        // just inside the limit: parses and evaluates
        let ok = format!("{}1{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert_eq!(eval_with(&ok, &[], &[]), Value::Num(1.0));
        assert_eq!(
            eval_with(&vec!["1"; MAX_DEPTH].join(" + "), &[], &[]),
            Value::Num(MAX_DEPTH as f64)
        );
    }
}
