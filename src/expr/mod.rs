//! The expression language shared by `--where`, `--eval` and alert rules:
//! parsing with caret-pointing errors, name resolution, evaluation over
//! borrowed field values. Pure: no I/O, no knowledge of records or windows.

use std::fmt;

/// A parse or resolution error: the text, the 0-based character column where it
/// went wrong and what was expected there. `Display` prints the text, a caret
/// line under the column and the message.
#[derive(Debug, Clone, PartialEq)]
pub struct ExprError {
    pub text: String,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let _ = f;
        todo!()
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

/// A parsed expression (AST kept with the source text for error reporting).
#[derive(Debug, Clone)]
pub struct Expr {
    _todo: (),
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
    _todo: (),
}

impl Expr {
    pub fn parse(text: &str) -> Result<Expr, ExprError> {
        let _ = text;
        todo!()
    }
    /// Every field name and call, in order of appearance (with duplicates removed).
    pub fn refs(&self) -> Vec<Ref<'_>> {
        todo!()
    }
    /// Resolves every reference through `resolve` (which returns a slot index or
    /// an error message, reported at the reference's column).
    pub fn compile(
        &self,
        resolve: &mut dyn FnMut(&Ref<'_>) -> Result<usize, String>,
    ) -> Result<Compiled, ExprError> {
        let _ = resolve;
        todo!()
    }
}

impl Compiled {
    /// Evaluates with `lookup(slot)` giving each resolved reference's value.
    pub fn eval<'a>(&self, lookup: &dyn Fn(usize) -> Value<'a>) -> Value<'a> {
        let _ = lookup;
        todo!()
    }
    /// `eval` read as a condition: true only for `Bool(true)` or a non-zero number.
    pub fn eval_bool<'a>(&self, lookup: &dyn Fn(usize) -> Value<'a>) -> bool {
        let _ = lookup;
        todo!()
    }
}
