//! logfmt lines: `key=value key2="quoted \"value\"" flag`.
//!
//! Owns the logfmt tokenizer and the logfmt sniffing heuristic. Must not
//! touch the other log formats or `decode/mod.rs`.
//!
//! Semantics:
//! - Pairs are separated by spaces or tabs; any key is accepted (bytes up to
//!   `=`, space or tab); the value runs to the next space/tab, or is a
//!   double-quoted string with backslash escapes (see `logs.rs`).
//! - A bare key without `=` (a flag) is present with the value `true`.
//! - `key=` is present with an empty value; `key=-` is missing.
//! - Duplicate keys: the last one wins.
//! - An unterminated quote, or a byte other than a space right after a closing
//!   quote, is a [`DecodeError`] naming the key. A line without a single
//!   `key=value` pair is a [`DecodeError`] (it is not logfmt at all).

use super::{find_close_quote, is_space, Val};
use crate::decode::{DecodeError, FieldSlots, LineDecoder};
use std::sync::Arc;

pub(super) struct LogfmtDecoder {
    /// Wanted key per slot.
    names: Arc<[Box<[u8]>]>,
    found: Vec<Val>,
}

impl LogfmtDecoder {
    pub(super) fn new(fields: &[String]) -> LogfmtDecoder {
        let names: Vec<Box<[u8]>> = fields.iter().map(|f| f.as_bytes().into()).collect();
        LogfmtDecoder {
            found: vec![Val::Missing; names.len()],
            names: names.into(),
        }
    }
}

/// Walks the pairs of `line`, calling `pair(key_start, key_end, value)`.
/// Returns (number of `key=value` pairs, number of bare flags).
fn scan(
    line: &[u8],
    mut pair: impl FnMut(usize, usize, Val),
) -> Result<(usize, usize), DecodeError> {
    let (mut pairs, mut flags) = (0, 0);
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && is_space(line[i]) {
            i += 1;
        }
        if i == n {
            return Ok((pairs, flags));
        }
        let ks = i;
        while i < n && !is_space(line[i]) && line[i] != b'=' {
            i += 1;
        }
        let ke = i;
        if i < n && line[i] == b'=' {
            i += 1;
            let val = if i < n && line[i] == b'"' {
                let Some((close, esc)) = find_close_quote(line, i + 1) else {
                    return Err(DecodeError::field(
                        String::from_utf8_lossy(&line[ks..ke]),
                        format!("unterminated quoted value starting at byte {i}"),
                    ));
                };
                let v = Val::quoted(line, i + 1, close, esc);
                i = close + 1;
                if i < n && !is_space(line[i]) {
                    return Err(DecodeError::field(
                        String::from_utf8_lossy(&line[ks..ke]),
                        format!("expected a space after the closing quote at byte {i}"),
                    ));
                }
                v
            } else {
                let vs = i;
                while i < n && !is_space(line[i]) {
                    i += 1;
                }
                Val::token(line, vs, i)
            };
            if ke > ks {
                pairs += 1;
                pair(ks, ke, val);
            }
        } else {
            flags += 1;
            pair(ks, ke, Val::Text(b"true"));
        }
    }
}

impl LineDecoder for LogfmtDecoder {
    fn decode(&mut self, line: &[u8], slots: &mut FieldSlots) -> Result<(), DecodeError> {
        self.found.iter_mut().for_each(|v| *v = Val::Missing);
        let names = &self.names;
        let found = &mut self.found;
        let (pairs, _) = scan(line, |ks, ke, val| {
            let key = &line[ks..ke];
            for (slot, name) in names.iter().enumerate() {
                if **name == *key {
                    found[slot] = val;
                }
            }
        })?;
        if pairs == 0 {
            return Err(DecodeError::new(
                "logfmt: expected key=value pairs, found none",
            ));
        }
        for (slot, v) in self.found.iter().enumerate() {
            v.emit(line, slot, slots);
        }
        Ok(())
    }

    fn fork(&self) -> Box<dyn LineDecoder> {
        Box::new(LogfmtDecoder {
            names: self.names.clone(),
            found: vec![Val::Missing; self.names.len()],
        })
    }
}

/// Sniffing: at least two `key=value` pairs with identifier-like keys, and
/// pairs are most of the tokens.
pub(super) fn looks_like_logfmt(line: &[u8]) -> bool {
    let mut good_keys = true;
    let Ok((pairs, flags)) = scan(line, |ks, ke, val| {
        let ident = line[ks..ke]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b'/' | b'@'));
        if !ident && !matches!(val, Val::Text(_)) {
            good_keys = false;
        }
    }) else {
        return false;
    };
    good_keys && pairs >= 2 && pairs > flags
}

#[cfg(test)]
mod tests {
    use super::super::tests::{run, strings};
    use super::*;

    fn dec(fields: &[&str], line: &[u8]) -> Result<Vec<Option<String>>, DecodeError> {
        let mut d = LogfmtDecoder::new(&strings(fields));
        run(&mut d, fields.len(), line)
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    #[test]
    fn pairs_quotes_flags_and_dash() {
        let line = br#"level=info msg="quoted \"value\" here" debug  took=12ms empty= dash=- qdash="-" path=/a=b"#;
        let got = dec(
            &[
                "msg", "level", "debug", "took", "empty", "dash", "qdash", "path", "nope",
            ],
            line,
        )
        .unwrap();
        assert_eq!(
            got,
            vec![
                s("quoted \"value\" here"),
                s("info"),
                s("true"),
                s("12ms"),
                s(""),
                None,
                None,
                s("/a=b"),
                None
            ]
        );
    }

    #[test]
    fn unescaped_quoted_value_is_a_span_of_the_line() {
        let line = b"a=\"x y\"\tb=2";
        let mut d = LogfmtDecoder::new(&strings(&["a", "b"]));
        let mut slots = FieldSlots::new(2);
        d.decode(line, &mut slots).unwrap();
        assert!(
            slots.scratch_mut().is_empty(),
            "no copy for a value without escapes"
        );
        assert_eq!(slots.get(line, 0), Some(&b"x y"[..]));
        assert_eq!(slots.get(line, 1), Some(&b"2"[..]));
    }

    #[test]
    fn duplicate_keys_last_wins() {
        assert_eq!(dec(&["a"], b"a=1 a=2").unwrap(), vec![s("2")]);
        assert_eq!(dec(&["a"], b"a=1 a=-").unwrap(), vec![None]);
    }

    #[test]
    fn cr_inside_quotes_and_non_utf8() {
        // Stripping a trailing `\r` is the caller's job: here it is part of the value.
        assert_eq!(dec(&["a"], b"a=1\r").unwrap(), vec![s("1\r")]);
        assert_eq!(
            dec(&["a", "b"], b"a=\"x\ry\" b=1").unwrap(),
            vec![s("x\ry"), s("1")]
        );
        let line = b"k=\xff\xfe v=\"\xc3(\"";
        let mut d = LogfmtDecoder::new(&strings(&["k", "v"]));
        let mut slots = FieldSlots::new(2);
        d.decode(line, &mut slots).unwrap();
        assert_eq!(slots.get(line, 0), Some(&b"\xff\xfe"[..]));
        assert_eq!(slots.get(line, 1), Some(&b"\xc3("[..]));
    }

    #[test]
    fn errors_name_the_field() {
        let e = dec(&["a"], br#"a=1 msg="never closed \" still"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("msg"));
        assert!(e.message.contains("unterminated quoted value"), "{e}");
        let e = dec(&["a"], br#"a="x"y"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("a"));
        let e = dec(&["a"], b"just words").unwrap_err();
        assert!(e.message.contains("found none"));
        assert!(dec(&["a"], b"").is_err());
    }
}
