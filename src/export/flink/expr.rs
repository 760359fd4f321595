//! vigil's expression language (`--where`, `--eval`, alert conditions) as
//! Flink SQL, with vigil's semantics kept: a comparison with a missing value
//! is false (never SQL's NULL), strings compared with numbers are read as
//! numbers, `and`/`or`/`not` see non-zero numbers and non-empty strings as
//! true, arithmetic that divides by zero or overflows is missing. Each piece
//! of SQL carries its static kind, so the right conversion is chosen once.
//! Pure text; no I/O.

use crate::expr::{BinOp, Expr, Syntax, Tree};

use super::sql_string;

/// What a piece of SQL evaluates to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// DOUBLE (or BIGINT); NULL is vigil's missing.
    Num,
    /// STRING; NULL is missing. Record fields are strings.
    Str,
    /// BOOLEAN, never NULL.
    Bool,
}

/// A piece of SQL and its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sql {
    pub kind: Kind,
    pub text: String,
}

impl Sql {
    pub fn new(kind: Kind, text: impl Into<String>) -> Sql {
        Sql {
            kind,
            text: text.into(),
        }
    }
}

/// A name or call in an expression: `Field(name)` or `Call(name, args)`.
pub enum Name<'a> {
    Field(&'a str),
    Call(&'a str, &'a [String]),
}

/// What vigil reads as a number in a string (Rust's float syntax after
/// trimming; infinities and NaN are then refused as not finite).
const NUMBER_REGEX: &str =
    "^[ \\t\\n\\f\\r]*[+-]?(?:[0-9]+\\.?[0-9]*|\\.[0-9]+)(?:[eE][+-]?[0-9]+)?[ \\t\\n\\f\\r]*$";

/// `v` when it is a finite DOUBLE, else NULL.
pub fn finite(v: &str) -> String {
    format!("(CASE WHEN ABS({v}) <= 1.7976931348623157E308 THEN {v} END)")
}

/// A STRING read as vigil reads a number: NULL when it is not one.
pub fn parse_number(s: &str) -> String {
    format!(
        "(CASE WHEN REGEXP({s}, {}) THEN {} END)",
        sql_string(NUMBER_REGEX),
        finite(&format!("CAST({s} AS DOUBLE)"))
    )
}

/// The value as a number (vigil's `number()`): NULL when it is none.
pub fn number(v: &Sql) -> String {
    match v.kind {
        Kind::Num => v.text.clone(),
        Kind::Bool => format!("(CASE WHEN {} THEN 1E0 ELSE 0E0 END)", v.text),
        Kind::Str => parse_number(&v.text),
    }
}

/// The value read by `and`/`or`/`not`.
pub fn truthy(v: &Sql) -> String {
    match v.kind {
        Kind::Bool => v.text.clone(),
        Kind::Num => format!("COALESCE({} <> 0, FALSE)", v.text),
        Kind::Str => format!("COALESCE(CHAR_LENGTH({}) > 0, FALSE)", v.text),
    }
}

/// The value read as a condition (`--where`, alert rules): true only for
/// true or a non-zero number.
pub fn condition(v: &Sql) -> String {
    match v.kind {
        Kind::Bool => v.text.clone(),
        Kind::Num => format!("COALESCE({} <> 0, FALSE)", v.text),
        Kind::Str => "FALSE".to_string(),
    }
}

/// A DOUBLE literal for `n` (always with an exponent, so SQL does not read a DECIMAL).
pub fn double_literal(n: f64) -> String {
    if n.is_finite() {
        format!("{n:e}").to_uppercase()
    } else if n.is_nan() {
        "CAST('NaN' AS DOUBLE)".to_string()
    } else if n > 0.0 {
        "CAST('Infinity' AS DOUBLE)".to_string()
    } else {
        "CAST('-Infinity' AS DOUBLE)".to_string()
    }
}

/// A Rust `regex` pattern as a Java one: named groups become plain groups
/// (Java names allow no `_`), the rest is kept; both engines search anywhere
/// in the text.
pub fn java_regex(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len());
    let mut i = 0;
    let mut class_depth = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            out.push(c);
            if let Some(&n) = chars.get(i + 1) {
                out.push(n);
            }
            i += 2;
            continue;
        }
        if class_depth > 0 {
            match c {
                '[' => class_depth += 1,
                ']' => class_depth -= 1,
                _ => {}
            }
            out.push(c);
            i += 1;
            continue;
        }
        if c == '[' {
            class_depth = 1;
            out.push(c);
            // a `]` right after `[` or `[^` is a literal
            if chars.get(i + 1) == Some(&'^') {
                out.push('^');
                i += 1;
            }
            if chars.get(i + 1) == Some(&']') {
                out.push(']');
                i += 1;
            }
            i += 1;
            continue;
        }
        if c == '(' {
            let rest: String = chars[i..chars.len().min(i + 4)].iter().collect();
            let name_start = if rest.starts_with("(?P<") {
                Some(i + 4)
            } else if rest.starts_with("(?<") && !matches!(chars.get(i + 3), Some('=') | Some('!'))
            {
                Some(i + 3)
            } else {
                None
            };
            if let Some(start) = name_start {
                if let Some(end) = chars[start..].iter().position(|&ch| ch == '>') {
                    out.push('(');
                    i = start + end + 1;
                    continue;
                }
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Translates `expr`; `resolve` gives the SQL of each field and call. An
/// error says what does not map.
pub fn translate(
    expr: &Expr,
    resolve: &dyn Fn(Name<'_>) -> Result<Sql, String>,
) -> Result<Sql, String> {
    node(expr.tree(), resolve)
}

fn node(t: Tree<'_>, resolve: &dyn Fn(Name<'_>) -> Result<Sql, String>) -> Result<Sql, String> {
    Ok(match t.syntax() {
        Syntax::Num(n) => Sql::new(Kind::Num, double_literal(n)),
        Syntax::Str(s) => Sql::new(Kind::Str, sql_string(&String::from_utf8_lossy(s))),
        Syntax::Bool(b) => Sql::new(Kind::Bool, if b { "TRUE" } else { "FALSE" }),
        Syntax::Field(f) => resolve(Name::Field(f))?,
        Syntax::Call { name, args } => resolve(Name::Call(name, args))?,
        Syntax::Neg(a) => Sql::new(Kind::Num, format!("(-{})", number(&node(a, resolve)?))),
        Syntax::Not(a) => Sql::new(Kind::Bool, format!("(NOT {})", truthy(&node(a, resolve)?))),
        Syntax::Binary(op, a, b) => {
            let (a, b) = (node(a, resolve)?, node(b, resolve)?);
            match op {
                BinOp::Or | BinOp::And => Sql::new(
                    Kind::Bool,
                    format!(
                        "({} {} {})",
                        truthy(&a),
                        if op == BinOp::Or { "OR" } else { "AND" },
                        truthy(&b)
                    ),
                ),
                BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div => {
                    let sym = match op {
                        BinOp::Add => "+",
                        BinOp::Sub => "-",
                        BinOp::Mul => "*",
                        _ => "/",
                    };
                    // x / 0 is infinite or NaN in DOUBLE arithmetic: finite() makes it missing
                    Sql::new(
                        Kind::Num,
                        finite(&format!(
                            "(CAST({} AS DOUBLE) {sym} {})",
                            number(&a),
                            number(&b)
                        )),
                    )
                }
                cmp => {
                    let sym = match cmp {
                        BinOp::Gt => ">",
                        BinOp::Ge => ">=",
                        BinOp::Lt => "<",
                        BinOp::Le => "<=",
                        BinOp::Eq => "=",
                        _ => "<>",
                    };
                    let same = a.kind == b.kind && a.kind != Kind::Num;
                    let (l, r) = if same {
                        (a.text.clone(), b.text.clone())
                    } else {
                        (number(&a), number(&b))
                    };
                    Sql::new(Kind::Bool, format!("COALESCE({l} {sym} {r}, FALSE)"))
                }
            }
        }
        Syntax::Match {
            negate,
            left,
            pattern,
        } => {
            let l = node(left, resolve)?;
            let text = match l.kind {
                Kind::Str => l.text,
                Kind::Bool => format!("(CASE WHEN {} THEN 'true' ELSE 'false' END)", l.text),
                Kind::Num => {
                    return Err(format!(
                        "'=~' on a number: vigil matches the number as Rust prints it, Flink would match Java's digits; match a field's text instead (pattern '{pattern}')"
                    ))
                }
            };
            let test = format!("REGEXP({text}, {})", sql_string(&java_regex(pattern)));
            let test = if negate { format!("NOT {test}") } else { test };
            Sql::new(Kind::Bool, format!("COALESCE({test}, FALSE)"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tr(text: &str) -> Result<Sql, String> {
        let e = Expr::parse(text).unwrap();
        translate(&e, &|n| match n {
            Name::Field("x") => Ok(Sql::new(Kind::Num, "`x`")),
            Name::Field(f) => Ok(Sql::new(Kind::Str, format!("`{f}`"))),
            Name::Call(name, args) => Ok(Sql::new(Kind::Num, format!("{name}_{}", args.join("_")))),
        })
    }

    #[test]
    fn comparisons_are_two_valued_and_pick_number_or_string_reading() {
        let s = tr("status >= 500").unwrap();
        assert_eq!(s.kind, Kind::Bool);
        assert!(
            s.text.starts_with("COALESCE((CASE WHEN REGEXP(`status`"),
            "{}",
            s.text
        );
        assert!(s.text.ends_with(">= 5E2, FALSE)"), "{}", s.text);
        let s = tr("metric == \"cpu\"").unwrap();
        assert_eq!(s.text, "COALESCE(`metric` = 'cpu', FALSE)");
        let s = tr("not x > 1").unwrap();
        assert_eq!(s.text, "(NOT COALESCE(`x` > 1E0, FALSE))");
    }

    #[test]
    fn logic_reads_truthiness_and_arithmetic_is_finite() {
        let s = tr("host and x").unwrap();
        assert_eq!(
            s.text,
            "(COALESCE(CHAR_LENGTH(`host`) > 0, FALSE) AND COALESCE(`x` <> 0, FALSE))"
        );
        let s = tr("avg(v) / 2").unwrap();
        assert_eq!(s.kind, Kind::Num);
        assert!(
            s.text.contains("(CAST(avg_v AS DOUBLE) / 2E0)"),
            "{}",
            s.text
        );
        assert!(s.text.starts_with("(CASE WHEN ABS("), "{}", s.text);
    }

    #[test]
    fn regex_matches_keep_missing_false_and_numbers_are_refused() {
        let s = tr("path !~ '^/api/(?P<v>[0-9]+)'").unwrap();
        assert_eq!(
            s.text,
            "COALESCE(NOT REGEXP(`path`, '^/api/([0-9]+)'), FALSE)"
        );
        let e = tr("x =~ '5'").unwrap_err();
        assert!(e.contains("'=~' on a number"), "{e}");
    }

    #[test]
    fn literals_are_doubles_and_strings_escape_quotes() {
        assert_eq!(double_literal(90.0), "9E1");
        assert_eq!(double_literal(0.5), "5E-1");
        assert_eq!(double_literal(0.0), "0E0");
        assert_eq!(
            tr("m == \"it's\"").unwrap().text,
            "COALESCE(`m` = 'it''s', FALSE)"
        );
    }

    #[test]
    fn java_regex_drops_group_names_only() {
        assert_eq!(
            java_regex(r"(?P<a_b>\d+) (?<c>x)(?:y)(?<=z)[(?P<]\(?P<q>"),
            r"(\d+) (x)(?:y)(?<=z)[(?P<]\(?P<q>"
        );
    }

    #[test]
    fn number_regex_agrees_with_vigil() {
        let re = regex::Regex::new(NUMBER_REGEX).unwrap();
        for s in ["1", " -2.5 ", "+3", "1e5", "1.", ".5", "1E-3"] {
            assert!(re.is_match(s), "{s}");
            assert!(crate::plan::parse_number(s.as_bytes()).is_some(), "{s}");
        }
        for s in ["", "abc", "0x10", "1.5d", "1e", ".", "1,5"] {
            assert!(!re.is_match(s), "{s}");
            assert!(crate::plan::parse_number(s.as_bytes()).is_none(), "{s}");
        }
    }
}
