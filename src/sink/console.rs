//! Text for people and for commands that print: lines on stdout for `check`
//! and `test` (a closed stdout ends the command quietly), diagnostics on
//! stderr that never panic (a closed stderr loses the diagnostic, never the
//! run), and the escaping of control characters in anything taken from the
//! data and shown to people (a key holding `\r` or ESC must not rewrite the
//! terminal). Owns no report or alert output: those are [`super::Output`]s.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Write};

use crate::error::{Error, Result};

/// Bytes of a header (or other echoed input) shown in a message at most.
pub const ECHO_BYTES: usize = 300;

/// Writes `text` to stdout and flushes it. A closed stdout (the reader of a
/// pipe went away, e.g. `| head -1`) is [`Error::BrokenPipe`]: the caller
/// stops and the process ends with status 0. Any other failure is an error.
pub fn print(text: &str) -> Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map_err(stdout_error)
}

/// `print` with `format!` arguments and a newline.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::sink::console::print(&format!("{}\n", format_args!($($arg)*)))
    };
}

fn stdout_error(e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Error::BrokenPipe
    } else {
        Error::runtime(format!("writing to stdout: {e}"))
    }
}

/// Writes one diagnostic line to stderr (the caller gives the `vigil: `
/// prefix). Control characters other than the line breaks of a multi-line
/// message are escaped. Never panics: when stderr is closed the line is lost.
pub fn diag(args: fmt::Arguments<'_>) {
    let text = args.to_string();
    let shown = escape_controls_keep_newlines(&text);
    let mut err = io::stderr().lock();
    let _ = err.write_all(shown.as_bytes());
    let _ = err.write_all(b"\n");
}

/// `eprintln!` that never panics and escapes control characters; see [`diag`].
#[macro_export]
macro_rules! diag {
    ($($arg:tt)*) => {
        $crate::sink::console::diag(format_args!($($arg)*))
    };
}

/// Whether `c` would act on a terminal instead of printing: C0 controls,
/// DEL and the C1 controls (U+0080..U+009F, which some terminals obey).
fn is_control(c: char) -> bool {
    c.is_control()
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\0' => out.push_str("\\0"),
        c if (c as u32) < 0x100 => {
            use fmt::Write as _;
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            use fmt::Write as _;
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

fn escape_where(s: &str, escape: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(&escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if escape(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `s` with every control character written as a visible escape (`\r`,
/// `\x1b`, `\0`, `\u{9b}`), for data shown on one line to people.
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    escape_where(s, is_control)
}

/// The same, keeping line breaks: for whole messages that span lines
/// (caret diagnostics), where data has been escaped already.
pub fn escape_controls_keep_newlines(s: &str) -> Cow<'_, str> {
    escape_where(s, |c| c != '\n' && is_control(c))
}

/// Bytes from the data (any encoding) as one printable line: invalid UTF-8
/// replaced, control characters escaped.
pub fn escape_bytes(b: &[u8]) -> String {
    escape_controls(&String::from_utf8_lossy(b)).into_owned()
}

/// Appends `b` to `out` as [`escape_bytes`] writes it, copying it as it is
/// when there is nothing to escape (the usual case: no allocation).
pub fn push_escaped_bytes(out: &mut Vec<u8>, b: &[u8]) {
    match std::str::from_utf8(b) {
        Ok(s) => out.extend_from_slice(escape_controls(s).as_bytes()),
        Err(_) => out.extend_from_slice(escape_bytes(b).as_bytes()),
    }
}

/// At most `max` bytes of `s` (cut at a character boundary), with a note of
/// how long it was when cut: for echoing headers and other input in messages.
pub fn clip(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return Cow::Borrowed(s);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}... ({} bytes in all)", &s[..end], s.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_become_visible_escapes() {
        assert_eq!(escape_controls("web-1"), "web-1");
        assert!(matches!(escape_controls("web-1"), Cow::Borrowed(_)));
        assert_eq!(
            escape_controls("a\rRESOLVED\x1b[2K\x07\0\t\n\u{9b}z"),
            "a\\rRESOLVED\\x1b[2K\\x07\\0\\t\\n\\x9bz"
        );
        assert_eq!(escape_controls_keep_newlines("x\n\ry"), "x\n\\ry");
        assert_eq!(escape_bytes(b"k\xff\x1b"), "k\u{fffd}\\x1b");
    }

    #[test]
    fn clip_keeps_short_text_and_cuts_long_text_at_a_character() {
        assert_eq!(clip("a,b,c", 300), "a,b,c");
        let long = "é".repeat(400);
        let c = clip(&long, 301);
        assert!(c.starts_with(&"é".repeat(150)), "{c}");
        assert!(c.ends_with("... (800 bytes in all)"), "{c}");
        assert!(c.len() < 330);
    }
}
