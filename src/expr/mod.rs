//! The expression language shared by `--where`, `--eval` and alert rules:
//! parsing with caret-pointing errors, name resolution, evaluation over
//! borrowed field values. Pure: no I/O, no knowledge of records or windows.
//!
//! Grammar, lowest precedence first: `or` (`||`); `and` (`&&`); `not` (`!`);
//! comparisons `> >= < <= == != =~ !~` (not chained); `+ -`; `* /`; unary
//! `-`; operands: numbers (`1e6`, `0.5`), strings in double or single quotes
//! (`\"`, `\\`), `true`/`false`, field names (`status`, `a.b.c`), calls
//! (`avg(value)`, `quantile(x, 0.9)`) and parentheses.
//!
//! Semantics: a string compared with a number is read as a number (spaces
//! trimmed), and the comparison is false when it is not one; two strings
//! compare byte by byte; any comparison with a missing value is false (`!=`
//! too). Arithmetic reads strings as numbers and booleans as 1/0; anything
//! else, and division by zero, gives a missing value. `and`/`or`/`not` take
//! true, non-zero numbers and non-empty strings as true; missing is false.
//!
//! Files: `lexer` (text to tokens), `parser` (tokens to tree, `Expr::parse`),
//! `eval` (values of a compiled tree); this one holds the shared types, the
//! read-only `Syntax` view and name resolution (`Expr::compile`).

use std::fmt;

use regex::bytes::Regex;

mod eval;
mod lexer;
mod parser;

pub use parser::MAX_DEPTH;

/// A parse or resolution error: the text, the 0-based character column where it
/// went wrong and what was expected there. `Display` prints a one-line
/// message, the text, and a caret under the column.
#[derive(Debug, Clone, PartialEq)]
pub struct ExprError {
    pub text: String,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (column {})\n  {}\n  {}^",
            self.message,
            self.column + 1,
            self.text,
            " ".repeat(self.column)
        )
    }
}
impl std::error::Error for ExprError {}

/// A name the expression refers to, resolved once before evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum Ref<'a> {
    /// A field (or key field, or `--eval` name): `status`, `a.b`.
    Field(&'a str),
    /// A call such as `avg(value)` or `quantile(x, 0.9)`: name and raw argument texts.
    Call { name: &'a str, args: &'a [String] },
}

/// A binary operator, as [`Syntax::Binary`] shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Or,
    And,
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Debug, Clone)]
enum Node {
    Num(f64),
    Str(Vec<u8>),
    Bool(bool),
    Field {
        name: String,
        col: usize,
    },
    Call {
        name: String,
        args: Vec<String>,
        col: usize,
    },
    /// a resolved field or call
    Slot(usize),
    Neg(Box<Node>),
    Not(Box<Node>),
    Bin(BinOp, Box<Node>, Box<Node>),
    Match {
        negate: bool,
        left: Box<Node>,
        re: Regex,
    },
}

/// A parsed expression (AST kept with the source text for error reporting).
#[derive(Debug, Clone)]
pub struct Expr {
    text: String,
    root: Node,
}

/// A value during evaluation; strings borrow the record's bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Missing,
    Num(f64),
    Str(&'a [u8]),
    Bool(bool),
}

/// An expression whose names are resolved to slot indexes.
#[derive(Debug, Clone)]
pub struct Compiled {
    root: Node,
}

/// A read-only view of one node of a parsed expression, for code that
/// translates vigil's language into another one (`vigil export flink`).
/// Evaluation never goes through it.
#[derive(Debug, Clone, Copy)]
pub enum Syntax<'a> {
    Num(f64),
    Str(&'a [u8]),
    Bool(bool),
    /// A field, key field or `--eval` name.
    Field(&'a str),
    /// A call such as `avg(value)`: name and raw argument texts.
    Call {
        name: &'a str,
        args: &'a [String],
    },
    Neg(Tree<'a>),
    Not(Tree<'a>),
    Binary(BinOp, Tree<'a>, Tree<'a>),
    /// `left =~ pattern` (`negate`: `!~`); the pattern as written.
    Match {
        negate: bool,
        left: Tree<'a>,
        pattern: &'a str,
    },
}

/// A node of a parsed expression; [`Tree::syntax`] shows what it is.
#[derive(Debug, Clone, Copy)]
pub struct Tree<'a>(&'a Node);

impl<'a> Tree<'a> {
    pub fn syntax(self) -> Syntax<'a> {
        match self.0 {
            Node::Num(n) => Syntax::Num(*n),
            Node::Str(s) => Syntax::Str(s),
            Node::Bool(b) => Syntax::Bool(*b),
            Node::Field { name, .. } => Syntax::Field(name),
            Node::Call { name, args, .. } => Syntax::Call { name, args },
            Node::Neg(a) => Syntax::Neg(Tree(a)),
            Node::Not(a) => Syntax::Not(Tree(a)),
            Node::Bin(op, a, b) => Syntax::Binary(*op, Tree(a), Tree(b)),
            Node::Match { negate, left, re } => Syntax::Match {
                negate: *negate,
                left: Tree(left),
                pattern: re.as_str(),
            },
            // Slots exist only in compiled expressions, never in a parsed one.
            Node::Slot(_) => unreachable!("a parsed expression has no resolved slots"),
        }
    }
}

fn collect_refs<'n>(node: &'n Node, out: &mut Vec<Ref<'n>>) {
    match node {
        Node::Field { name, .. } => {
            let r = Ref::Field(name);
            if !out.contains(&r) {
                out.push(r);
            }
        }
        Node::Call { name, args, .. } => {
            let r = Ref::Call { name, args };
            if !out.contains(&r) {
                out.push(r);
            }
        }
        Node::Neg(a) | Node::Not(a) => collect_refs(a, out),
        Node::Bin(_, a, b) => {
            collect_refs(a, out);
            collect_refs(b, out);
        }
        Node::Match { left, .. } => collect_refs(left, out),
        Node::Num(_) | Node::Str(_) | Node::Bool(_) | Node::Slot(_) => {}
    }
}

impl Expr {
    /// The source text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The root of the syntax tree (read-only; for translation to other languages).
    pub fn tree(&self) -> Tree<'_> {
        Tree(&self.root)
    }

    /// Every field name and call, in order of appearance (with duplicates removed).
    pub fn refs(&self) -> Vec<Ref<'_>> {
        let mut out = Vec::new();
        collect_refs(&self.root, &mut out);
        out
    }

    /// Resolves every reference through `resolve` (which returns a slot index or
    /// an error message, reported at the reference's column).
    pub fn compile(
        &self,
        resolve: &mut dyn FnMut(&Ref<'_>) -> Result<usize, String>,
    ) -> Result<Compiled, ExprError> {
        let mut cache: Vec<(Ref<'_>, usize)> = Vec::new();
        let root = self.resolve(&self.root, resolve, &mut cache)?;
        Ok(Compiled { root })
    }

    fn resolve<'n>(
        &self,
        node: &'n Node,
        resolve: &mut dyn FnMut(&Ref<'_>) -> Result<usize, String>,
        cache: &mut Vec<(Ref<'n>, usize)>,
    ) -> Result<Node, ExprError> {
        let mut slot = |r: Ref<'n>,
                        col: usize,
                        cache: &mut Vec<(Ref<'n>, usize)>|
         -> Result<Node, ExprError> {
            if let Some((_, s)) = cache.iter().find(|(c, _)| *c == r) {
                return Ok(Node::Slot(*s));
            }
            let s = resolve(&r).map_err(|message| ExprError {
                text: self.text.clone(),
                column: col,
                message,
            })?;
            cache.push((r, s));
            Ok(Node::Slot(s))
        };
        Ok(match node {
            Node::Field { name, col } => slot(Ref::Field(name), *col, cache)?,
            Node::Call { name, args, col } => slot(Ref::Call { name, args }, *col, cache)?,
            Node::Neg(a) => Node::Neg(Box::new(self.resolve(a, resolve, cache)?)),
            Node::Not(a) => Node::Not(Box::new(self.resolve(a, resolve, cache)?)),
            Node::Bin(op, a, b) => Node::Bin(
                *op,
                Box::new(self.resolve(a, resolve, cache)?),
                Box::new(self.resolve(b, resolve, cache)?),
            ),
            Node::Match { negate, left, re } => Node::Match {
                negate: *negate,
                left: Box::new(self.resolve(left, resolve, cache)?),
                re: re.clone(),
            },
            other => other.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compiles with fields named in `names` and evaluates with `values`.
    pub(super) fn eval_with(
        text: &str,
        names: &[&str],
        values: &[Value<'static>],
    ) -> Value<'static> {
        let e = Expr::parse(text).unwrap();
        let c = e
            .compile(&mut |r| match r {
                Ref::Field(f) => names
                    .iter()
                    .position(|n| n == f)
                    .ok_or_else(|| format!("unknown field '{f}'")),
                Ref::Call { .. } => Err("no calls here".into()),
            })
            .unwrap();
        let c: &'static Compiled = Box::leak(Box::new(c));
        let values: Vec<Value<'static>> = values.to_vec();
        c.eval(&move |i| values[i])
    }

    #[test]
    fn errors_point_at_the_column() {
        let e = Expr::parse("avg(value) > and x").unwrap_err();
        assert_eq!(e.column, 13);
        assert!(e.message.starts_with("expected a number"), "{}", e.message);
        assert_eq!(
            e.to_string(),
            format!(
                "{} (column 14)\n  avg(value) > and x\n               ^",
                e.message
            )
        );
        assert_eq!(Expr::parse("(1 + 2").unwrap_err().message, "expected ')'");
        assert_eq!(Expr::parse("a b").unwrap_err().column, 2);
        assert_eq!(Expr::parse("a = 1").unwrap_err().column, 2);
        assert!(Expr::parse("1 < 2 < 3")
            .unwrap_err()
            .message
            .contains("chain"));
        assert!(Expr::parse("'abc")
            .unwrap_err()
            .message
            .contains("unterminated"));
        let unknown = Expr::parse("x > 1 and zz > 2")
            .unwrap()
            .compile(&mut |r| match r {
                Ref::Field("x") => Ok(0),
                _ => Err("unknown field".into()),
            })
            .unwrap_err();
        assert_eq!(unknown.column, 10);
    }

    #[test]
    fn calls_keep_raw_arguments_and_refs_are_deduplicated() {
        let e = Expr::parse(
            "avg(value) > 90 and quantile(lat, 0.9) < avg(value) * 2 and metric == \"cpu\"",
        )
        .unwrap();
        let refs = e.refs();
        assert_eq!(
            refs,
            vec![
                Ref::Call {
                    name: "avg",
                    args: &["value".to_string()]
                },
                Ref::Call {
                    name: "quantile",
                    args: &["lat".to_string(), "0.9".to_string()]
                },
                Ref::Field("metric"),
            ]
        );
        let empty = Expr::parse("count() > 3").unwrap();
        assert_eq!(
            empty.refs(),
            vec![Ref::Call {
                name: "count",
                args: &[]
            }]
        );
    }
}
