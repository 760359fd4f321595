//! nginx / apache access logs: combined and common log format, one parser.
//!
//! Owns the access-log layout parser (also used by sniffing). Must not touch
//! the other formats, time parsing or `decode/mod.rs`.
//!
//! Layout: `remote_addr ident remote_user [time] "request" status
//! body_bytes_sent` (common), optionally followed by `"http_referer"
//! "http_user_agent"` (combined) and then optionally a `request_time` number.
//! Semantics:
//! - Fields are separated by one or more spaces. `ident` is read and dropped.
//! - `status` and `body_bytes_sent` must be digits or `-`, else the line does
//!   not fit the layout.
//! - After the user agent, a first token that is a number is `request_time`;
//!   anything further (extra quoted fields some nginx configs append) is
//!   ignored.
//! - `-` is missing, for every field including `request` (SPEC section 2).
//! - `request` is split on its first and last space into `method path
//!   protocol` when the method is 1-20 ASCII capitals and the protocol starts
//!   with `HTTP/`; `METHOD path` (HTTP/0.9) gives method and path. Anything
//!   else keeps `request` and leaves method/path/protocol missing.
//! - Quoted fields may contain backslash escapes (`\"` etc.); `\xHH` stays as is.

use super::{find_close_quote, Val, MAX_PRESET_FIELDS};
use crate::decode::DecodeError;

pub(super) const FIELDS: &[&str] = &[
    "remote_addr",
    "remote_user",
    "time",
    "request",
    "method",
    "path",
    "protocol",
    "status",
    "body_bytes_sent",
    "http_referer",
    "http_user_agent",
    "request_time",
];

const REMOTE_ADDR: usize = 0;
const REMOTE_USER: usize = 1;
const TIME: usize = 2;
const REQUEST: usize = 3;
const METHOD: usize = 4;
const PATH: usize = 5;
const PROTOCOL: usize = 6;
const STATUS: usize = 7;
const BYTES: usize = 8;
const REFERER: usize = 9;
const AGENT: usize = 10;
const REQUEST_TIME: usize = 11;

struct Cur<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cur<'_> {
    #[cold]
    fn err(&self, what: &str) -> DecodeError {
        let at = if self.i >= self.b.len() {
            " (end of line)"
        } else {
            ""
        };
        DecodeError::new(format!(
            "access log: expected {what} at byte {}{at}",
            self.i
        ))
    }
    fn at_end(&self) -> bool {
        self.i >= self.b.len()
    }
    fn spaces(&mut self) -> usize {
        let s = self.i;
        while self.i < self.b.len() && self.b[self.i] == b' ' {
            self.i += 1;
        }
        self.i - s
    }
    /// One or more spaces, then something (not the end of the line).
    fn sep(&mut self, next: &str) -> Result<(), DecodeError> {
        if self.spaces() == 0 || self.at_end() {
            return Err(self.err(next));
        }
        Ok(())
    }
    fn token(&mut self) -> (usize, usize) {
        let s = self.i;
        while self.i < self.b.len() && self.b[self.i] != b' ' {
            self.i += 1;
        }
        (s, self.i)
    }
    /// A token of digits or `-`.
    fn numeric(&mut self, what: &str) -> Result<Val, DecodeError> {
        let (s, e) = self.token();
        let t = &self.b[s..e];
        if t == b"-" {
            return Ok(Val::Missing);
        }
        if t.is_empty() || !t.iter().all(u8::is_ascii_digit) {
            self.i = s;
            return Err(self.err(what));
        }
        Ok(Val::Line(s, e))
    }
    /// A `"..."` field named `name`.
    fn quoted(&mut self, name: &str) -> Result<Val, DecodeError> {
        if self.b.get(self.i) != Some(&b'"') {
            return Err(self.err(&format!("'\"' opening {name}")));
        }
        let start = self.i + 1;
        let Some((close, esc)) = find_close_quote(self.b, start) else {
            return Err(DecodeError::field(
                name,
                format!(
                    "access log: unterminated quoted field starting at byte {}",
                    self.i
                ),
            ));
        };
        self.i = close + 1;
        Ok(Val::quoted(self.b, start, close, esc))
    }
}

/// Parses one access-log line into `vals` (indexed like [`FIELDS`]).
pub(super) fn parse(line: &[u8], vals: &mut [Val; MAX_PRESET_FIELDS]) -> Result<(), DecodeError> {
    let mut c = Cur { b: line, i: 0 };
    let (s, e) = c.token();
    if e == s {
        return Err(c.err("remote address"));
    }
    vals[REMOTE_ADDR] = Val::token(line, s, e);
    c.sep("ident")?;
    c.token();
    c.sep("remote user")?;
    let (s, e) = c.token();
    vals[REMOTE_USER] = Val::token(line, s, e);
    c.sep("'[' (time)")?;
    if line[c.i] != b'[' {
        return Err(c.err("'[' (time)"));
    }
    let Some(close) = memchr::memchr(b']', &line[c.i..]) else {
        return Err(c.err("']' closing the time"));
    };
    vals[TIME] = Val::token(line, c.i + 1, c.i + close);
    c.i += close + 1;
    c.sep("'\"' opening request")?;
    let request = c.quoted("request")?;
    vals[REQUEST] = request;
    split_request(line, request, vals);
    c.sep("status")?;
    vals[STATUS] = c.numeric("status (digits or '-')")?;
    c.sep("body bytes sent")?;
    vals[BYTES] = c.numeric("body bytes sent (digits or '-')")?;
    c.spaces();
    if c.at_end() {
        return Ok(()); // common log format
    }
    if line[c.i] != b'"' {
        return Err(c.err("'\"' opening http_referer, or end of line"));
    }
    vals[REFERER] = c.quoted("http_referer")?;
    c.sep("'\"' opening http_user_agent")?;
    vals[AGENT] = c.quoted("http_user_agent")?;
    c.spaces();
    let (s, e) = c.token();
    if e > s && is_number(&line[s..e]) {
        vals[REQUEST_TIME] = Val::Line(s, e);
    }
    Ok(())
}

fn is_number(t: &[u8]) -> bool {
    let mut dots = 0;
    let mut digits = 0;
    for &b in t {
        match b {
            b'0'..=b'9' => digits += 1,
            b'.' => dots += 1,
            _ => return false,
        }
    }
    digits > 0 && dots <= 1
}

fn split_request(line: &[u8], request: Val, vals: &mut [Val; MAX_PRESET_FIELDS]) {
    let (s, e, esc) = match request {
        Val::Line(s, e) => (s, e, false),
        Val::Esc(s, e) => (s, e, true),
        _ => return,
    };
    let r = &line[s..e];
    let Some(first) = memchr::memchr(b' ', r) else {
        return;
    };
    let last = memchr::memrchr(b' ', r).unwrap_or(first);
    let method = &r[..first];
    if method.is_empty() || method.len() > 20 || !method.iter().all(u8::is_ascii_uppercase) {
        return;
    }
    let part = |a: usize, b: usize| {
        if esc {
            Val::Esc(s + a, s + b)
        } else {
            Val::token(line, s + a, s + b)
        }
    };
    if last == first {
        // `METHOD path` (HTTP/0.9)
        if first + 1 < r.len() {
            vals[METHOD] = Val::Line(s, s + first);
            vals[PATH] = part(first + 1, r.len());
        }
        return;
    }
    if !r[last + 1..].starts_with(b"HTTP/") || last == first + 1 {
        return;
    }
    vals[METHOD] = Val::Line(s, s + first);
    vals[PATH] = part(first + 1, last);
    vals[PROTOCOL] = part(last + 1, r.len());
}

#[cfg(test)]
mod tests {
    use super::super::tests::{run, strings};
    use super::super::{preset_decoder, preset_fields};
    use super::*;
    use crate::decode::{FieldSlots, Format, LineDecoder};

    fn all(line: &[u8]) -> Result<Vec<Option<String>>, DecodeError> {
        let mut d = preset_decoder(Format::Apache, &strings(FIELDS)).unwrap();
        run(&mut *d, FIELDS.len(), line)
    }

    fn get<'a>(got: &'a [Option<String>], name: &str) -> Option<&'a str> {
        got[FIELDS.iter().position(|f| *f == name).unwrap()].as_deref()
    }

    #[test]
    fn combined_line_all_fields() {
        let got = all(br#"192.0.2.7 - alice [10/Oct/2023:13:55:36 -0700] "POST /api/v1/items?id=3 HTTP/2.0" 201 5123 "https://ex.test/a" "Mozilla/5.0 (X11)""#)
            .unwrap();
        let want = [
            Some("192.0.2.7"),
            Some("alice"),
            Some("10/Oct/2023:13:55:36 -0700"),
            Some("POST /api/v1/items?id=3 HTTP/2.0"),
            Some("POST"),
            Some("/api/v1/items?id=3"),
            Some("HTTP/2.0"),
            Some("201"),
            Some("5123"),
            Some("https://ex.test/a"),
            Some("Mozilla/5.0 (X11)"),
            None,
        ];
        assert_eq!(got, want.map(|v| v.map(String::from)));
    }

    #[test]
    fn common_format_and_dashes_are_missing() {
        let got = all(br#"2001:db8::1 - - [01/Jan/2024:00:00:01 +0000] "GET /x HTTP/1.0" 304 -"#)
            .unwrap();
        assert_eq!(get(&got, "remote_user"), None);
        assert_eq!(get(&got, "body_bytes_sent"), None);
        assert_eq!(get(&got, "status"), Some("304"));
        assert_eq!(get(&got, "http_referer"), None);
        assert_eq!(get(&got, "http_user_agent"), None);
        // trailing spaces after the common layout are fine
        assert!(all(br#"h - - [t] "GET / HTTP/1.1" 200 1   "#).is_ok());
    }

    #[test]
    fn request_time_and_extra_trailing_fields() {
        let got = all(br#"h - - [t] "GET / HTTP/1.1" 200 1 "-" "ua" 0.042"#).unwrap();
        assert_eq!(get(&got, "request_time"), Some("0.042"));
        assert_eq!(get(&got, "http_referer"), None);
        let got = all(br#"h - - [t] "GET / HTTP/1.1" 200 1 "-" "ua" "10.0.0.1" 7"#).unwrap();
        assert_eq!(get(&got, "request_time"), None);
        let got = all(br#"h - - [t] "GET / HTTP/1.1" 200 1 "-" "ua" 12 "x""#).unwrap();
        assert_eq!(get(&got, "request_time"), Some("12"));
    }

    #[test]
    fn request_splitting() {
        let r = |req: &str| {
            let line = format!(r#"h - - [t] "{req}" 400 0"#);
            let got = all(line.as_bytes()).unwrap();
            ["request", "method", "path", "protocol"].map(|f| get(&got, f).map(String::from))
        };
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            r("GET /a b HTTP/1.1"),
            [s("GET /a b HTTP/1.1"), s("GET"), s("/a b"), s("HTTP/1.1")]
        );
        assert_eq!(r("GET /old"), [s("GET /old"), s("GET"), s("/old"), None]);
        assert_eq!(r("-"), [None, None, None, None]);
        assert_eq!(r(""), [s(""), None, None, None]);
        assert_eq!(
            r("\\x16\\x03\\x01"),
            [s("\\x16\\x03\\x01"), None, None, None]
        );
        assert_eq!(r("get / HTTP/1.1"), [s("get / HTTP/1.1"), None, None, None]);
        assert_eq!(r("GET / SPDY/3"), [s("GET / SPDY/3"), None, None, None]);
        assert_eq!(r("GET  HTTP/1.1"), [s("GET  HTTP/1.1"), None, None, None]);
    }

    #[test]
    fn escaped_quotes_and_cr_inside_quotes() {
        let line = br#"h - - [t] "GET /q=\"x\" HTTP/1.1" 200 1 "-" "say \"hi\"\r""#;
        let got = all(line).unwrap();
        assert_eq!(get(&got, "request"), Some(r#"GET /q="x" HTTP/1.1"#));
        assert_eq!(get(&got, "path"), Some(r#"/q="x""#));
        assert_eq!(get(&got, "method"), Some("GET"));
        assert_eq!(get(&got, "http_user_agent"), Some("say \"hi\"\r"));
        let got = all(b"h - - [t] \"GET / HTTP/1.1\" 200 1 \"a\rb\" \"c\"").unwrap();
        assert_eq!(get(&got, "http_referer"), Some("a\rb"));
    }

    #[test]
    fn non_utf8_values_are_bytes() {
        let line = b"h\xff - - [t] \"GET /\xfe HTTP/1.1\" 200 1 \"\xc3\" \"ua\"";
        let mut d = preset_decoder(
            Format::Nginx,
            &strings(&["remote_addr", "path", "http_referer"]),
        )
        .unwrap();
        let mut slots = FieldSlots::new(3);
        d.decode(line, &mut slots).unwrap();
        assert_eq!(slots.get(line, 0), Some(&b"h\xff"[..]));
        assert_eq!(slots.get(line, 1), Some(&b"/\xfe"[..]));
        assert_eq!(slots.get(line, 2), Some(&b"\xc3"[..]));
    }

    #[test]
    fn layout_errors_say_what_was_expected() {
        let msg = |line: &[u8]| all(line).unwrap_err().to_string();
        assert_eq!(
            msg(br#"h - - [t] "GET / HTTP/1.1" 200 1 "-" "Mozilla/5.0 (compat"#),
            "field 'http_user_agent': access log: unterminated quoted field starting at byte 37"
        );
        assert_eq!(
            msg(br#"h - - [t] "GET / HTTP/1.1"#),
            "field 'request': access log: unterminated quoted field starting at byte 10"
        );
        assert_eq!(
            msg(b"h - -"),
            "access log: expected '[' (time) at byte 5 (end of line)"
        );
        assert_eq!(msg(b"h - - t"), "access log: expected '[' (time) at byte 6");
        assert_eq!(
            msg(b"h - - [t"),
            "access log: expected ']' closing the time at byte 6"
        );
        assert_eq!(
            msg(br#"h - - [t] "GET /" ok 1"#),
            "access log: expected status (digits or '-') at byte 18"
        );
        assert_eq!(
            msg(br#"h - - [t] "GET /" 200 1 junk"#),
            "access log: expected '\"' opening http_referer, or end of line at byte 24"
        );
        assert_eq!(
            msg(br#"h - - [t] "GET /" 200 1 "r""#),
            "access log: expected '\"' opening http_user_agent at byte 27 (end of line)"
        );
        assert_eq!(
            msg(b""),
            "access log: expected remote address at byte 0 (end of line)"
        );
        assert!(preset_fields(Format::Apache).len() == 12);
    }

    #[test]
    fn only_wanted_slots_are_filled_in_order() {
        let mut d: Box<dyn LineDecoder> =
            preset_decoder(Format::Nginx, &strings(&["status", "remote_addr"])).unwrap();
        let got = run(&mut *d, 2, br#"h - - [t] "GET / HTTP/1.1" 503 1"#).unwrap();
        assert_eq!(got, vec![Some("503".into()), Some("h".into())]);
    }
}
