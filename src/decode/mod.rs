//! Decoders turn one input line into the fields a job needs. They see bytes
//! only: no I/O, no time parsing, no knowledge of windows. Field names are
//! resolved to slot indexes once (at construction or from a CSV header); the
//! per-line path fills a reused [`FieldSlots`] without allocating.

pub mod csv;
pub mod json;
pub mod logs;

use std::fmt;

/// Input formats (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
    Logfmt,
    Regex,
    Nginx,
    Apache,
    Syslog,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
            Format::Logfmt => "logfmt",
            Format::Regex => "regex",
            Format::Nginx => "nginx",
            Format::Apache => "apache",
            Format::Syslog => "syslog",
        }
    }
}

/// Where one wanted field sits for the current line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    Missing,
    /// byte range of the line itself
    Line(u32, u32),
    /// byte range of [`FieldSlots::scratch`] (unescaped values)
    Scratch(u32, u32),
}

/// One slot per wanted field, refilled for every line.
#[derive(Debug, Clone, Default)]
pub struct FieldSlots {
    spans: Vec<Span>,
    scratch: Vec<u8>,
}

impl FieldSlots {
    pub fn new(count: usize) -> FieldSlots {
        FieldSlots {
            spans: vec![Span::Missing; count],
            scratch: Vec::new(),
        }
    }
    pub fn len(&self) -> usize {
        self.spans.len()
    }
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
    /// Marks every slot missing; called before each line.
    pub fn clear(&mut self) {
        self.spans.iter_mut().for_each(|s| *s = Span::Missing);
        self.scratch.clear();
    }
    /// Slot `slot` is `line[start..end]`.
    #[inline]
    pub fn set_line(&mut self, slot: usize, start: usize, end: usize) {
        self.spans[slot] = Span::Line(start as u32, end as u32);
    }
    /// Slot `slot` is a value that had to be rewritten (unescaped): copied into scratch.
    pub fn set_owned(&mut self, slot: usize, value: &[u8]) {
        let start = self.scratch.len();
        self.scratch.extend_from_slice(value);
        self.spans[slot] = Span::Scratch(start as u32, self.scratch.len() as u32);
    }
    /// Gives access to scratch for building a value in place; finish with [`FieldSlots::end_owned`].
    pub fn scratch_mut(&mut self) -> &mut Vec<u8> {
        &mut self.scratch
    }
    /// Slot `slot` is `scratch[start..]` (as built through `scratch_mut`).
    pub fn end_owned(&mut self, slot: usize, start: usize) {
        self.spans[slot] = Span::Scratch(start as u32, self.scratch.len() as u32);
    }
    /// Slot `slot` is `scratch[start..end]`, already written through `scratch_mut`.
    pub fn set_scratch(&mut self, slot: usize, start: usize, end: usize) {
        self.spans[slot] = Span::Scratch(start as u32, end as u32);
    }
    pub fn is_set(&self, slot: usize) -> bool {
        self.spans[slot] != Span::Missing
    }
    /// The value of slot `slot` for `line` (the same line passed to the decoder).
    #[inline]
    pub fn get<'a>(&'a self, line: &'a [u8], slot: usize) -> Option<&'a [u8]> {
        match self.spans[slot] {
            Span::Missing => None,
            Span::Line(s, e) => Some(&line[s as usize..e as usize]),
            Span::Scratch(s, e) => Some(&self.scratch[s as usize..e as usize]),
        }
    }
}

/// Why a line could not be decoded. The caller adds file and line number.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeError {
    /// The field concerned, when there is one.
    pub field: Option<String>,
    pub message: String,
}

impl DecodeError {
    pub fn new(message: impl Into<String>) -> DecodeError {
        DecodeError {
            field: None,
            message: message.into(),
        }
    }
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> DecodeError {
        DecodeError {
            field: Some(field.into()),
            message: message.into(),
        }
    }
}

/// Shown to people (bad-record messages on stderr): messages quote the
/// data, so control characters in them are escaped here, once for every decoder.
impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::sink::console::escape_controls;
        match &self.field {
            Some(field) => write!(
                f,
                "field '{}': {}",
                escape_controls(field),
                escape_controls(&self.message)
            ),
            None => f.write_str(&escape_controls(&self.message)),
        }
    }
}

/// Decodes the lines of one stream. `line` never contains the `\n` terminator
/// nor a trailing `\r`. Lines may be any bytes (invalid UTF-8 included).
pub trait LineDecoder: Send + Sync {
    /// Fills `slots` (already cleared) for one line. Missing fields stay missing;
    /// an error means the line is not a record at all.
    fn decode(&mut self, line: &[u8], slots: &mut FieldSlots) -> Result<(), DecodeError>;
    /// An independent copy, for decoding another chunk of the same stream in parallel.
    fn fork(&self) -> Box<dyn LineDecoder>;
    /// The CSV decoder itself, for callers that decode many lines with it:
    /// called on its own type, `decode` is inlined, not called through the
    /// trait object for every line. None for the other decoders.
    fn as_csv(&mut self) -> Option<&mut csv::CsvDecoder> {
        None
    }
}

/// Byte strings equal, for the short ones the engine compares per record
/// (keys of a field or two, the literals between a JSON line's values):
/// there a call to libc's memcmp costs more than the compare, so up to 32
/// bytes are compared inline, as (overlapping) words.
#[inline(always)]
pub fn short_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().unwrap());
    let half = |s: &[u8], at: usize| u32::from_le_bytes(s[at..at + 4].try_into().unwrap());
    match n {
        0 => true,
        1..=3 => a.iter().zip(b).all(|(x, y)| x == y),
        4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        17..=32 => {
            word(a, 0) == word(b, 0)
                && word(a, 8) == word(b, 8)
                && word(a, n - 16) == word(b, n - 16)
                && word(a, n - 8) == word(b, n - 8)
        }
        _ => a == b,
    }
}
