//! The expression lexer: cuts the text into tokens (numbers, quoted strings
//! with `\` escapes, names and the keywords `and`/`or`/`not`, operators,
//! parentheses, commas), each with the character column it starts at, and
//! reports a bad character, a lone `=` or an unterminated string at its
//! column. Owns `Tok` and `Lexer`. Knows no grammar: must not build the tree
//! (`parser`), resolve names (`mod.rs`) or evaluate (`eval`).

use super::ExprError;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    Num(f64),
    Str(Vec<u8>),
    Ident(String),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
    End,
}

pub(super) struct Lexer<'t> {
    pub(super) chars: Vec<char>,
    pub(super) pos: usize,
    pub(super) text: &'t str,
}

impl<'t> Lexer<'t> {
    pub(super) fn err(&self, col: usize, message: impl Into<String>) -> ExprError {
        ExprError {
            text: self.text.to_string(),
            column: col,
            message: message.into(),
        }
    }

    /// Next token and its column.
    pub(super) fn next(&mut self) -> Result<(Tok, usize), ExprError> {
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
