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

use std::fmt;

use regex::bytes::Regex;

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

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Str(Vec<u8>),
    Ident(String),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
    End,
}

struct Lexer<'t> {
    chars: Vec<char>,
    pos: usize,
    text: &'t str,
}

impl<'t> Lexer<'t> {
    fn err(&self, col: usize, message: impl Into<String>) -> ExprError {
        ExprError {
            text: self.text.to_string(),
            column: col,
            message: message.into(),
        }
    }

    /// Next token and its column.
    fn next(&mut self) -> Result<(Tok, usize), ExprError> {
        while self.pos < self.chars.len() && self.chars[self.pos].is_whitespace() {
            self.pos += 1;
        }
        let start = self.pos;
        let Some(&c) = self.chars.get(self.pos) else {
            return Ok((Tok::End, start));
        };
        let peek = self.chars.get(self.pos + 1).copied();
        let two = |s: &'static str| (Tok::Op(s), 2);
        let (tok, len) = match (c, peek) {
            ('(', _) => (Tok::LParen, 1),
            (')', _) => (Tok::RParen, 1),
            (',', _) => (Tok::Comma, 1),
            ('>', Some('=')) => two(">="),
            ('<', Some('=')) => two("<="),
            ('=', Some('=')) => two("=="),
            ('=', Some('~')) => two("=~"),
            ('!', Some('=')) => two("!="),
            ('!', Some('~')) => two("!~"),
            ('&', Some('&')) => two("and"),
            ('|', Some('|')) => two("or"),
            ('>', _) => (Tok::Op(">"), 1),
            ('<', _) => (Tok::Op("<"), 1),
            ('!', _) => (Tok::Op("not"), 1),
            ('+', _) => (Tok::Op("+"), 1),
            ('-', _) => (Tok::Op("-"), 1),
            ('*', _) => (Tok::Op("*"), 1),
            ('/', _) => (Tok::Op("/"), 1),
            ('=', _) => {
                return Err(self.err(
                    start,
                    "expected '==' to compare ('=' alone is not an operator)",
                ))
            }
            ('"' | '\'', _) => {
                let quote = c;
                let mut s = String::new();
                let mut i = self.pos + 1;
                loop {
                    match self.chars.get(i) {
                        None => {
                            return Err(
                                self.err(start, "unterminated string: expected a closing quote")
                            )
                        }
                        Some('\\') => {
                            match self.chars.get(i + 1) {
                                Some(&e) => s.push(e),
                                None => return Err(self.err(i, "expected a character after '\\'")),
                            }
                            i += 2;
                        }
                        Some(&ch) if ch == quote => break,
                        Some(&ch) => {
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                self.pos = i + 1;
                return Ok((Tok::Str(s.into_bytes()), start));
            }
            (d, _)
                if d.is_ascii_digit() || (d == '.' && peek.is_some_and(|p| p.is_ascii_digit())) =>
            {
                let mut i = self.pos;
                while i < self.chars.len()
                    && (self.chars[i].is_ascii_alphanumeric()
                        || self.chars[i] == '.'
                        || ((self.chars[i] == '+' || self.chars[i] == '-')
                            && matches!(self.chars[i - 1], 'e' | 'E')))
                {
                    i += 1;
                }
                let lit: String = self.chars[self.pos..i].iter().collect();
                let v: f64 = lit
                    .parse()
                    .map_err(|_| self.err(start, format!("'{lit}' is not a number")))?;
                (Tok::Num(v), i - self.pos)
            }
            (a, _) if a.is_alphabetic() || a == '_' => {
                let mut i = self.pos;
                while i < self.chars.len()
                    && (self.chars[i].is_alphanumeric() || matches!(self.chars[i], '_' | '.'))
                {
                    i += 1;
                }
                let word: String = self.chars[self.pos..i].iter().collect();
                let len = i - self.pos;
                match word.as_str() {
                    "and" => (Tok::Op("and"), len),
                    "or" => (Tok::Op("or"), len),
                    "not" => (Tok::Op("not"), len),
                    _ => (Tok::Ident(word), len),
                }
            }
            (other, _) => return Err(self.err(start, format!("unexpected character '{other}'"))),
        };
        self.pos += len;
        Ok((tok, start))
    }
}

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
    use super::*;

    /// Compiles with fields named in `names` and evaluates with `values`.
    fn eval_with(text: &str, names: &[&str], values: &[Value<'static>]) -> Value<'static> {
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
