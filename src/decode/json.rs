//! JSON lines: one object per line; nested fields addressed as `a.b.c`.
//!
//! Owns the hand-written, validating, non-allocating JSON object scanner used
//! on the per-line path, and the shape reader in front of it (a line with
//! the last line's keys, in the same order, read without the scanner). Must not touch: `FieldSlots`/`LineDecoder` (defined in
//! `decode/mod.rs`), time parsing, or any I/O.
//!
//! Semantics (documented contract of this decoder):
//! - A line must be exactly one JSON object (whitespace around it allowed).
//!   Anything else is a [`DecodeError`] `invalid JSON: expected X at byte N`.
//! - Path `a.b.c` looks up key `a`, then `b` inside the object value of `a`,
//!   and so on. As a convenience for "flattened" logs (e.g. ECS `"log.level"`),
//!   the remaining part of a path may also be matched as one literal key at
//!   any level: `a.b.c` also matches `{"a.b.c":..}` and `{"a":{"b.c":..}}`.
//!   Arrays are never indexed: a path through an array value is missing.
//! - Leaf values: strings give the bytes between the quotes (unescaped into
//!   scratch only when they contain escapes); numbers give their text;
//!   `true`/`false` give the text `true`/`false`; `null` is missing; objects
//!   and arrays give their raw JSON text.
//! - Duplicate keys: the last occurrence wins (also for a whole sub-object: a
//!   later `"a":5` makes a previously seen `a.b` missing again).
//! - String contents are not checked for UTF-8 validity nor for raw control
//!   bytes: they are delivered as bytes. Escapes are validated; `\uXXXX` is
//!   decoded to UTF-8, a lone surrogate becomes U+FFFD.
//! - Nesting deeper than [`MAX_DEPTH`] is rejected (no stack overflow on
//!   hostile input).
//!
//! The per-line path allocates nothing once the decoder's reusable buffers
//! have grown to the size of the largest line seen.

use super::{DecodeError, FieldSlots, LineDecoder};

/// Maximum nesting of objects/arrays in one line.
pub const MAX_DEPTH: usize = 512;

/// A decoder filling slot i with the value at path `fields[i]`.
pub fn json_decoder(fields: &[String]) -> Result<Box<dyn LineDecoder>, String> {
    Ok(Box::new(JsonDecoder::new(fields)?))
}

impl JsonDecoder {
    fn new(fields: &[String]) -> Result<JsonDecoder, String> {
        let mut trie = Trie {
            nodes: vec![Node::default()],
        };
        for (slot, field) in fields.iter().enumerate() {
            if field.is_empty() {
                return Err("empty JSON field name".to_string());
            }
            let parts: Vec<&str> = field.split('.').collect();
            if parts.iter().any(|p| p.is_empty()) {
                return Err(format!("JSON field '{field}': empty path component"));
            }
            // Fully nested path, and at every depth the remainder as one literal key.
            for depth in 0..parts.len() {
                let mut node = 0;
                for part in &parts[..depth] {
                    node = trie.child(node, part.as_bytes());
                }
                let rest = parts[depth..].join(".");
                let leaf = trie.child(node, rest.as_bytes());
                if !trie.nodes[leaf].slots.contains(&slot) {
                    trie.nodes[leaf].slots.push(slot);
                }
            }
        }
        // Every node lists the slots below it, to reset them on a duplicate key.
        for n in (0..trie.nodes.len()).rev() {
            let mut below = Vec::new();
            collect_slots(&trie, n, &mut below);
            below.sort_unstable();
            below.dedup();
            trie.nodes[n].below = below;
        }
        Ok(JsonDecoder {
            trie: std::sync::Arc::new(trie),
            found: vec![Found::Missing; fields.len()],
            key_buf: Vec::new(),
            shape: Shape::default(),
            has_shape: false,
            shape_misses: 0,
        })
    }
}

fn collect_slots(trie: &Trie, n: usize, out: &mut Vec<usize>) {
    out.extend_from_slice(&trie.nodes[n].slots);
    for c in &trie.nodes[n].children {
        collect_slots(trie, c.node, out);
    }
}

#[derive(Debug, Default)]
struct Node {
    /// Slots whose path ends at this node.
    slots: Vec<usize>,
    /// Slots at this node or below (reset when the key is seen again).
    below: Vec<usize>,
    children: Vec<Child>,
}

/// One key of a trie node. `tag` is [`key_tag`] of `key`: length and first
/// 8 bytes in one compare, so most keys of a line are matched or rejected
/// without a call to `memcmp`.
#[derive(Debug)]
struct Child {
    key: Box<[u8]>,
    tag: (usize, u64),
    node: usize,
}

#[derive(Debug)]
struct Trie {
    nodes: Vec<Node>,
}

impl Trie {
    fn child(&mut self, node: usize, key: &[u8]) -> usize {
        if let Some(c) = self.nodes[node].children.iter().find(|c| &*c.key == key) {
            return c.node;
        }
        let c = self.nodes.len();
        self.nodes.push(Node::default());
        self.nodes[node].children.push(Child {
            key: key.into(),
            tag: key_tag(key, 0, key.len()),
            node: c,
        });
        c
    }
    /// The child of `node` for key `b[start..end]`.
    #[inline(always)]
    fn lookup(&self, node: usize, b: &[u8], start: usize, end: usize) -> Option<usize> {
        let tag = key_tag(b, start, end);
        self.nodes[node]
            .children
            .iter()
            .find(|c| c.tag == tag && (tag.0 <= 8 || c.key[8..] == b[start + 8..end]))
            .map(|c| c.node)
    }
}

/// What was found for one slot, resolved into `FieldSlots` at the end of the line.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Found {
    Missing,
    /// Raw bytes of the line.
    Raw(usize, usize),
    /// String contents with escapes, to unescape.
    Escaped(usize, usize),
}

struct JsonDecoder {
    trie: std::sync::Arc<Trie>,
    found: Vec<Found>,
    key_buf: Vec<u8>,
    /// the last line's shape, tried first on the next line when `has_shape`
    shape: Shape,
    has_shape: bool,
    /// lines in a row that did not have `shape`
    shape_misses: u32,
}

/// Lines in a row that may miss the shape and each have theirs taken;
/// after that only every `SHAPE_RETRY`th is, so lines of changing shapes
/// cost a second pass rarely.
const SHAPE_TRIES: u32 = 8;
const SHAPE_RETRY: u32 = 16;

/// The shape of a flat JSON line: its text outside the values (`{"ts":`,
/// `,"host":`, ..., and the closing `}`), with where each value goes. Lines
/// written by one program mostly share one: such a line is checked against
/// the previous line's text and its values read in place, without the trie
/// lookups and the byte-by-byte structure of the scanner. Only lines whose
/// values are all scalars (strings without escapes, numbers, true, false,
/// null), with distinct keys that name no nested path, no whitespace, have
/// a shape: on those, what the shape gives is exactly what the scanner
/// gives (tested against it).
/// Its buffers are reused from shape to shape (no allocation per line).
#[derive(Debug, Default)]
struct Shape {
    text: Vec<u8>,
    /// per value: where its key's text ends in `text`, and its slots
    fields: Vec<(usize, std::ops::Range<usize>)>,
    slots: Vec<usize>,
}

impl Shape {
    /// Becomes the shape of `line`, if it has one (false: it has none).
    fn take(&mut self, line: &[u8], trie: &Trie) -> bool {
        self.text.clear();
        self.fields.clear();
        self.slots.clear();
        self.text.push(b'{');
        self.build(line, trie).is_some()
    }

    fn build(&mut self, line: &[u8], trie: &Trie) -> Option<()> {
        let b = line;
        let shape = self;
        if b.first() != Some(&b'{') {
            return None;
        }
        let mut i = 1;
        if b.get(i) == Some(&b'}') {
            shape.text.push(b'}');
            return (b.len() == 2).then_some(());
        }
        loop {
            if b.get(i) != Some(&b'"') {
                return None;
            }
            let q = find_quote_or_backslash(b, i + 1)?;
            if b[q] != b'"' || b.get(q + 1) != Some(&b':') {
                return None;
            }
            // distinct keys: each earlier key is its literal's text between
            // the separator and quote before it and the quote and colon after
            let key = &b[i + 1..q];
            let mut from = 0;
            for &(lit_end, _) in &shape.fields {
                if &shape.text[from + 2..lit_end - 2] == key {
                    return None;
                }
                from = lit_end;
            }
            let root = &trie.nodes[0];
            let node = if root.children.is_empty() {
                None
            } else {
                trie.lookup(0, b, i + 1, q)
            };
            let at = shape.slots.len();
            if let Some(n) = node {
                if !trie.nodes[n].children.is_empty() {
                    return None;
                }
                shape.slots.extend_from_slice(&trie.nodes[n].slots);
            }
            shape.text.extend_from_slice(&b[i..q + 2]);
            shape.fields.push((shape.text.len(), at..shape.slots.len()));
            (_, i) = scalar(b, q + 2)?;
            match b.get(i) {
                Some(b',') => shape.text.push(b','),
                Some(b'}') => {
                    shape.text.push(b'}');
                    return (i + 1 == b.len()).then_some(());
                }
                _ => return None,
            }
            i += 1;
        }
    }

    /// Reads `line` if it has this shape, its values into `slots`.
    #[inline]
    fn read(&self, line: &[u8], slots: &mut FieldSlots) -> bool {
        let mut i = 0;
        let mut from = 0;
        for (lit_end, to) in &self.fields {
            let lit = &self.text[from..*lit_end];
            from = *lit_end;
            if !starts_with_short(&line[i..], lit) {
                return false;
            }
            let Some((value, end)) = scalar(line, i + lit.len()) else {
                return false;
            };
            if let Found::Raw(a, b) = value {
                for &s in &self.slots[to.clone()] {
                    slots.set_line(s, a, b);
                }
            }
            i = end;
        }
        super::short_eq(&line[i..], &self.text[from..])
    }
}

/// `hay.starts_with(lit)` for the short literals between a line's values
/// (`","host":"` and the like), compared inline: a profile of the
/// JSON-lines benchmark had 6.6% of its time in `memcmp` on these.
#[inline(always)]
fn starts_with_short(hay: &[u8], lit: &[u8]) -> bool {
    hay.len() >= lit.len() && super::short_eq(&hay[..lit.len()], lit)
}

/// The scalar value at `b[i]` as the scanner would find it (a string
/// without escapes, a number, true, false or null) and where it ends; None
/// for anything else, invalid or not.
#[inline(always)]
fn scalar(b: &[u8], i: usize) -> Option<(Found, usize)> {
    match b.get(i)? {
        b'"' => {
            let q = find_quote_or_backslash(b, i + 1)?;
            (b[q] == b'"').then_some((Found::Raw(i + 1, q), q + 1))
        }
        b'-' | b'0'..=b'9' => {
            let end = number_end(b, i).ok()?;
            Some((Found::Raw(i, end), end))
        }
        b't' if b[i..].starts_with(b"true") => Some((Found::Raw(i, i + 4), i + 4)),
        b'f' if b[i..].starts_with(b"false") => Some((Found::Raw(i, i + 5), i + 5)),
        b'n' if b[i..].starts_with(b"null") => Some((Found::Missing, i + 4)),
        _ => None,
    }
}

/// Where the JSON number at `b[i]` ends,
/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`; else where it goes
/// wrong and what was expected there.
#[inline(always)]
fn number_end(b: &[u8], mut i: usize) -> Result<usize, (usize, &'static str)> {
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = digits_end(b, i + 1),
        _ => return Err((i, "a digit")),
    }
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = digits_end(b, start);
        if i == start {
            return Err((i, "a digit after '.'"));
        }
    }
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = b.get(i) {
            i += 1;
        }
        let start = i;
        i = digits_end(b, start);
        if i == start {
            return Err((i, "a digit in the exponent"));
        }
    }
    Ok(i)
}

impl LineDecoder for JsonDecoder {
    fn decode(&mut self, line: &[u8], slots: &mut FieldSlots) -> Result<(), DecodeError> {
        if self.has_shape {
            if self.shape.read(line, slots) {
                self.shape_misses = 0;
                return Ok(());
            }
            // (slots set by a partial match are all set again below, or
            // dropped with the line's error)
            slots.clear();
        }
        self.scan(line, slots)?;
        self.shape_misses += 1;
        if self.shape_misses <= SHAPE_TRIES || self.shape_misses % SHAPE_RETRY == 0 {
            self.has_shape = self.shape.take(line, &self.trie);
        }
        Ok(())
    }

    fn fork(&self) -> Box<dyn LineDecoder> {
        Box::new(JsonDecoder {
            trie: self.trie.clone(),
            found: vec![Found::Missing; self.found.len()],
            key_buf: Vec::new(),
            shape: Shape::default(),
            has_shape: false,
            shape_misses: 0,
        })
    }
}

impl JsonDecoder {
    /// The validating scanner, for any line.
    fn scan(&mut self, line: &[u8], slots: &mut FieldSlots) -> Result<(), DecodeError> {
        self.found.iter_mut().for_each(|f| *f = Found::Missing);
        let mut s = Scanner {
            b: line,
            i: 0,
            trie: &self.trie,
            found: &mut self.found,
            key_buf: &mut self.key_buf,
        };
        s.ws();
        if s.peek() != Some(b'{') {
            return Err(s.expected("'{'"));
        }
        s.object(Some(0), 1)?;
        s.ws();
        if s.i != line.len() {
            return Err(s.expected("end of line"));
        }
        for (slot, f) in self.found.iter().enumerate() {
            match *f {
                Found::Missing => {}
                Found::Raw(a, b) => slots.set_line(slot, a, b),
                Found::Escaped(a, b) => {
                    let scratch = slots.scratch_mut();
                    let start = scratch.len();
                    unescape(&line[a..b], scratch);
                    slots.end_owned(slot, start);
                }
            }
        }
        Ok(())
    }
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
    trie: &'a Trie,
    found: &'a mut [Found],
    key_buf: &'a mut Vec<u8>,
}

impl Scanner<'_> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline(always)]
    fn ws(&mut self) {
        // compact JSON: the next byte is usually not whitespace
        if self.b.get(self.i).is_none_or(|&c| c > b' ') {
            return;
        }
        while let Some(&c) = self.b.get(self.i) {
            if c == b' ' || c == b'\t' || c == b'\n' || c == b'\r' {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    /// Whether the next byte after any whitespace is `c` (the whitespace is
    /// consumed); compact JSON pays one compare.
    #[inline(always)]
    fn at_after_ws(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            return true;
        }
        self.ws();
        self.peek() == Some(c)
    }

    /// [`Self::expected`] after moving to byte `i`.
    #[cold]
    fn expected_at(&mut self, i: usize, what: &str) -> DecodeError {
        self.i = i;
        self.expected(what)
    }

    #[cold]
    fn expected(&self, what: &str) -> DecodeError {
        if self.i >= self.b.len() {
            DecodeError::new(format!(
                "invalid JSON: expected {what} at byte {} (end of line)",
                self.i
            ))
        } else {
            DecodeError::new(format!("invalid JSON: expected {what} at byte {}", self.i))
        }
    }

    /// `self.i` is at `{`. `node`: trie node of this object (None: skip only).
    fn object(&mut self, node: Option<usize>, depth: usize) -> Result<(), DecodeError> {
        if self.open_container(depth, b'}')? {
            return Ok(());
        }
        loop {
            if !self.at_after_ws(b'"') {
                return Err(self.expected("'\"' (object key)"));
            }
            let (ks, ke, kesc) = self.string()?;
            let child = match node {
                None => None,
                Some(n) if self.trie.nodes[n].children.is_empty() => None,
                Some(n) => {
                    if kesc {
                        self.key_buf.clear();
                        unescape(&self.b[ks..ke], self.key_buf);
                        self.trie.lookup(n, self.key_buf, 0, self.key_buf.len())
                    } else {
                        self.trie.lookup(n, self.b, ks, ke)
                    }
                }
            };
            if !self.at_after_ws(b':') {
                return Err(self.expected("':'"));
            }
            self.i += 1;
            self.ws();
            match child {
                None => self.skip_value(depth)?,
                Some(c) => {
                    // Last duplicate wins: forget what an earlier occurrence
                    // set. A node without children has `below == slots`, all
                    // of which `wanted_value` sets anyway.
                    let node = &self.trie.nodes[c];
                    if !node.children.is_empty() {
                        for &s in &node.below {
                            self.found[s] = Found::Missing;
                        }
                    }
                    self.wanted_value(c, depth)?;
                }
            }
            let mut next = self.peek();
            if !matches!(next, Some(b',' | b'}')) {
                self.ws();
                next = self.peek();
            }
            match next {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(self.expected("',' or '}'")),
            }
        }
    }

    /// A value whose key matched trie node `c`.
    #[inline(always)]
    fn wanted_value(&mut self, c: usize, depth: usize) -> Result<(), DecodeError> {
        let start = self.i;
        let trie = self.trie;
        let node = &trie.nodes[c];
        let val = match self.peek() {
            Some(b'"') => {
                let (s, e, esc) = self.string()?;
                if esc {
                    Found::Escaped(s, e)
                } else {
                    Found::Raw(s, e)
                }
            }
            Some(b'{') if !node.children.is_empty() => {
                self.object(Some(c), depth + 1)?;
                Found::Raw(start, self.i)
            }
            Some(b'n') => {
                self.literal(b"null")?;
                Found::Missing
            }
            Some(b'-' | b'0'..=b'9') => {
                self.number()?;
                Found::Raw(start, self.i)
            }
            _ => {
                self.skip_value(depth)?;
                Found::Raw(start, self.i)
            }
        };
        for &s in &node.slots {
            self.found[s] = val;
        }
        Ok(())
    }

    /// Validates and skips any value at `self.i`.
    fn skip_value(&mut self, depth: usize) -> Result<(), DecodeError> {
        match self.peek() {
            Some(b'"') => self.string().map(|_| ()),
            Some(b'{') => self.object(None, depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.expected("a value")),
        }
    }

    /// `self.i` is at `{` or `[`: checks the depth, steps in, and says whether
    /// the container is empty (then its `close` is consumed too).
    fn open_container(&mut self, depth: usize, close: u8) -> Result<bool, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(DecodeError::new(format!(
                "invalid JSON: nesting deeper than {MAX_DEPTH} at byte {}",
                self.i
            )));
        }
        self.i += 1;
        self.ws();
        if self.peek() == Some(close) {
            self.i += 1;
            return Ok(true);
        }
        Ok(false)
    }

    fn array(&mut self, depth: usize) -> Result<(), DecodeError> {
        if self.open_container(depth, b']')? {
            return Ok(());
        }
        loop {
            self.skip_value(depth)?;
            self.ws();
            match self.peek() {
                Some(b',') => {
                    self.i += 1;
                    self.ws();
                }
                Some(b']') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(self.expected("',' or ']'")),
            }
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), DecodeError> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(self.expected(match word {
                b"true" => "'true'",
                b"false" => "'false'",
                _ => "'null'",
            }))
        }
    }

    /// A number (`number_end`'s grammar) at `self.i`.
    #[inline]
    fn number(&mut self) -> Result<(), DecodeError> {
        match number_end(self.b, self.i) {
            Ok(end) => {
                self.i = end;
                Ok(())
            }
            Err((at, what)) => Err(self.expected_at(at, what)),
        }
    }

    /// `self.i` at the opening quote. Returns (content start, content end, has escapes)
    /// and leaves `self.i` after the closing quote. Validates escapes.
    #[inline(always)]
    fn string(&mut self) -> Result<(usize, usize, bool), DecodeError> {
        let start = self.i + 1;
        match find_quote_or_backslash(self.b, start) {
            Some(at) if self.b[at] == b'"' => {
                self.i = at + 1;
                Ok((start, at, false))
            }
            other => self.string_rest(start, other),
        }
    }

    /// [`Self::string`] from the first backslash `at` (or a missing closing
    /// quote) on.
    #[inline(never)]
    fn string_rest(
        &mut self,
        start: usize,
        mut at: Option<usize>,
    ) -> Result<(usize, usize, bool), DecodeError> {
        loop {
            let Some(mut i) = at else {
                self.i = self.b.len();
                return Err(self.expected("closing '\"'"));
            };
            if self.b[i] == b'"' {
                self.i = i + 1;
                return Ok((start, i, true));
            }
            match self.b.get(i + 1) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                Some(b'u') => {
                    let hex = self.b.get(i + 2..i + 6);
                    if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                        self.i = i + 2;
                        return Err(self.expected("4 hex digits after '\\u'"));
                    }
                    i += 6;
                }
                _ => {
                    self.i = i + 1;
                    return Err(self.expected("an escape character after '\\'"));
                }
            }
            at = find_quote_or_backslash(self.b, i);
        }
    }
}

/// The first index from `i` on that is not an ASCII digit (or `b.len()`).
#[inline(always)]
fn digits_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    i
}

/// (length, first 8 bytes as a little-endian u64 with zeros past the end) of
/// the key `b[start..end]`: keys of at most 8 bytes are equal exactly when
/// their tags are; longer keys also need their bytes from 8 on compared.
#[inline(always)]
fn key_tag(b: &[u8], start: usize, end: usize) -> (usize, u64) {
    let len = end - start;
    let word = match b.get(start..start + 8) {
        Some(w) => {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(w);
            let w = u64::from_le_bytes(bytes);
            if len >= 8 {
                w
            } else {
                w & ((1u64 << (8 * len)) - 1)
            }
        }
        None => {
            let n = len.min(8);
            let mut bytes = [0u8; 8];
            bytes[..n].copy_from_slice(&b[start..start + n]);
            u64::from_le_bytes(bytes)
        }
    };
    (len, word)
}

/// Index of the first `"` or `\` in `b[from..]` (as an index of `b`), if
/// any; `from <= b.len()`. Finds the end of a string's plain run.
#[inline(always)]
fn find_quote_or_backslash(b: &[u8], from: usize) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        find_special_sse2(b, from)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        find_special_words(b, from)
    }
}

/// [`find_quote_or_backslash`] 16 bytes at a time; the last block overlaps
/// the one before it (its bytes already seen are masked off), buffers
/// shorter than 16 bytes go to [`find_special_words`].
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn find_special_sse2(b: &[u8], from: usize) -> Option<usize> {
    use core::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };
    const BLOCK: usize = 16;
    let len = b.len();
    if len < BLOCK {
        return find_special_words(b, from);
    }
    // bit i set when b[at + i] is a quote or a backslash
    let mask = |at: usize| -> u32 {
        let block = &b[at..at + BLOCK];
        // SAFETY: SSE2 is part of the x86_64 baseline, so these intrinsics
        // are available on every x86_64 CPU; `block` is 16 bytes of `b` (the
        // slicing above checks it), and _mm_loadu_si128 reads those 16 bytes
        // with no alignment requirement.
        unsafe {
            let v = _mm_loadu_si128(block.as_ptr().cast::<__m128i>());
            let q = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
            let e = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
            _mm_movemask_epi8(_mm_or_si128(q, e)) as u32
        }
    };
    let mut at = from;
    while at + BLOCK <= len {
        let m = mask(at);
        if m != 0 {
            return Some(at + m.trailing_zeros() as usize);
        }
        at += BLOCK;
    }
    if at < len {
        let last = len - BLOCK;
        // bytes last..at were seen already (no quote or backslash there)
        let m = mask(last) & (u32::MAX << (at - last));
        if m != 0 {
            return Some(last + m.trailing_zeros() as usize);
        }
    }
    None
}

/// [`find_quote_or_backslash`] 8 bytes at a time in a u64 (SWAR), then byte
/// by byte: the portable path, and short buffers on x86_64.
#[cfg_attr(not(target_arch = "x86_64"), inline(always))]
fn find_special_words(b: &[u8], from: usize) -> Option<usize> {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const ONES: u64 = 0x0101_0101_0101_0101;
    // high bit of each byte of `x` that is zero, exactly (no carries
    // between bytes: the low 7 bits are added apart from the high bit)
    fn zero_bytes(x: u64) -> u64 {
        !(((x & LOW7) + LOW7) | x | LOW7)
    }
    let quotes = ONES * b'"' as u64;
    let backslashes = ONES * b'\\' as u64;
    let rest = &b[from..];
    let mut words = rest.chunks_exact(8);
    let mut at = from;
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        let w = u64::from_le_bytes(bytes);
        let m = zero_bytes(w ^ quotes) | zero_bytes(w ^ backslashes);
        if m != 0 {
            return Some(at + (m.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&c| c == b'"' || c == b'\\')
        .map(|off| at + off)
}

fn hex4(h: &[u8]) -> u32 {
    h.iter().fold(0u32, |acc, &c| {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => c - b'A' + 10,
        };
        acc * 16 + d as u32
    })
}

/// Unescapes already validated string contents, appending to `out`.
fn unescape(s: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < s.len() {
        let Some(off) = memchr::memchr(b'\\', &s[i..]) else {
            out.extend_from_slice(&s[i..]);
            return;
        };
        out.extend_from_slice(&s[i..i + off]);
        i += off;
        let c = s[i + 1];
        i += 2;
        let simple = match c {
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => 0,
            other => other,
        };
        if c != b'u' {
            out.push(simple);
            continue;
        }
        let mut cp = hex4(&s[i..i + 4]);
        i += 4;
        if (0xD800..0xDC00).contains(&cp) {
            // High surrogate: combine with a following low surrogate if present.
            if s.len() >= i + 6 && s[i] == b'\\' && s[i + 1] == b'u' {
                let lo = hex4(&s[i + 2..i + 6]);
                if (0xDC00..0xE000).contains(&lo) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    i += 6;
                }
            }
        }
        let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
        let mut buf = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_with_short_matches_starts_with() {
        // every literal length, every haystack length around it, and a
        // one-byte difference at every position of either
        for n in 0..=24usize {
            let lit: Vec<u8> = (0..n as u8).map(|i| b'a' + i).collect();
            for extra in 0..=3usize {
                let mut hay = lit.clone();
                hay.extend(std::iter::repeat_n(b'z', extra));
                for cut in 0..=hay.len() {
                    let h = &hay[..cut];
                    assert_eq!(starts_with_short(h, &lit), h.starts_with(&lit), "{n} {cut}");
                }
                for pos in 0..hay.len() {
                    let mut h = hay.clone();
                    h[pos] ^= 0x20;
                    assert_eq!(
                        starts_with_short(&h, &lit),
                        h.starts_with(&lit),
                        "{n} {pos}"
                    );
                }
            }
        }
    }

    fn dec(fields: &[&str], line: &[u8]) -> Result<Vec<Option<Vec<u8>>>, DecodeError> {
        let fields: Vec<String> = fields.iter().map(|s| s.to_string()).collect();
        let mut d = json_decoder(&fields).unwrap();
        let mut slots = FieldSlots::new(fields.len());
        d.decode(line, &mut slots)?;
        Ok((0..fields.len())
            .map(|i| slots.get(line, i).map(|v| v.to_vec()))
            .collect())
    }

    fn v(s: &str) -> Option<Vec<u8>> {
        Some(s.as_bytes().to_vec())
    }

    #[test]
    fn flat_values_of_every_kind() {
        let line = br#"{"s":"abc","n":-12.5e+3,"t":true,"f":false,"z":null,"o":{"x":[1,2]},"a":[{"b":1}, "x"]}"#;
        let got = dec(&["s", "n", "t", "f", "z", "o", "a", "absent"], line).unwrap();
        assert_eq!(
            got,
            vec![
                v("abc"),
                v("-12.5e+3"),
                v("true"),
                v("false"),
                None,
                v(r#"{"x":[1,2]}"#),
                v(r#"[{"b":1}, "x"]"#),
                None
            ]
        );
    }

    #[test]
    fn nested_paths_and_whole_object() {
        let line = br#"{"req":{"http":{"status":503,"path":"/x"},"ms":12},"req2":1}"#;
        let got = dec(
            &[
                "req.http.status",
                "req.ms",
                "req.http",
                "req.http.nope",
                "req2.x",
            ],
            line,
        )
        .unwrap();
        assert_eq!(
            got,
            vec![
                v("503"),
                v("12"),
                v(r#"{"status":503,"path":"/x"}"#),
                None,
                None
            ]
        );
    }

    #[test]
    fn dotted_literal_keys() {
        assert_eq!(
            dec(&["log.level"], br#"{"log.level":"warn"}"#).unwrap(),
            vec![v("warn")]
        );
        assert_eq!(
            dec(&["a.b.c"], br#"{"a":{"b.c":7}}"#).unwrap(),
            vec![v("7")]
        );
    }

    #[test]
    fn paths_through_non_objects_are_missing() {
        let got = dec(&["a.b", "c.d"], br#"{"a":[{"b":1}],"c":"d"}"#).unwrap();
        assert_eq!(got, vec![None, None]);
    }

    #[test]
    fn escaped_strings_are_unescaped_into_scratch() {
        let line = br#"{"m":"say \"hi\"\\n\/\t\u00e9\ud83d\ude00\ud800x","k\u0065y":"v"}"#;
        let got = dec(&["m", "key"], line).unwrap();
        assert_eq!(
            got[0].as_deref().unwrap(),
            "say \"hi\"\\n/\té😀\u{FFFD}x".as_bytes()
        );
        assert_eq!(got[1], v("v"));
    }

    #[test]
    fn whitespace_everywhere() {
        let line = b"  { \"a\" :\t{ \"b\" : [ 1 , 2 ] , \"c\" : \"x\" } , \"d\":1 }  ";
        assert_eq!(
            dec(&["a.c", "d", "a.b"], line).unwrap(),
            vec![v("x"), v("1"), v("[ 1 , 2 ]")]
        );
        assert_eq!(dec(&["a"], b"{ }").unwrap(), vec![None]);
    }

    #[test]
    fn duplicate_keys_last_wins() {
        assert_eq!(
            dec(&["a"], br#"{"a":1,"a":"two"}"#).unwrap(),
            vec![v("two")]
        );
        assert_eq!(dec(&["a"], br#"{"a":1,"a":null}"#).unwrap(), vec![None]);
        assert_eq!(
            dec(&["a.b"], br#"{"a":{"b":1},"a":5}"#).unwrap(),
            vec![None]
        );
        assert_eq!(
            dec(&["a.b"], br#"{"a":{"b":1},"a":{"c":2,"b":"\u0041"}}"#).unwrap(),
            vec![v("A")]
        );
    }

    #[test]
    fn same_field_twice_fills_both_slots() {
        assert_eq!(
            dec(&["a", "a"], br#"{"a":1}"#).unwrap(),
            vec![v("1"), v("1")]
        );
    }

    #[test]
    fn cr_inside_string_and_non_utf8_bytes() {
        assert_eq!(
            dec(&["a"], b"{\"a\":\"x\ry\"}").unwrap(),
            vec![Some(b"x\ry".to_vec())]
        );
        assert_eq!(
            dec(&["a"], b"{\"a\":\"\xff\xfe\"}").unwrap(),
            vec![Some(b"\xff\xfe".to_vec())]
        );
    }

    fn err(line: &[u8]) -> String {
        dec(&["a.b"], line).unwrap_err().message
    }

    #[test]
    fn invalid_json_errors_say_what_and_where() {
        assert_eq!(
            err(b""),
            "invalid JSON: expected '{' at byte 0 (end of line)"
        );
        assert_eq!(err(b"[1]"), "invalid JSON: expected '{' at byte 0");
        assert_eq!(
            err(br#"{"a":1"#),
            "invalid JSON: expected ',' or '}' at byte 6 (end of line)"
        );
        assert_eq!(err(br#"{"a" 1}"#), "invalid JSON: expected ':' at byte 5");
        assert_eq!(
            err(br#"{"a":1,}"#),
            "invalid JSON: expected '\"' (object key) at byte 7"
        );
        assert_eq!(
            err(br#"{"a":{"b":tru}}"#),
            "invalid JSON: expected 'true' at byte 10"
        );
        assert_eq!(
            err(br#"{"a":01}"#),
            "invalid JSON: expected ',' or '}' at byte 6"
        );
        assert_eq!(
            err(br#"{"a":1.}"#),
            "invalid JSON: expected a digit after '.' at byte 7"
        );
        assert_eq!(
            err(br#"{"a":"x}"#),
            "invalid JSON: expected closing '\"' at byte 8 (end of line)"
        );
        assert_eq!(
            err(br#"{"a":"\x"}"#),
            "invalid JSON: expected an escape character after '\\' at byte 7"
        );
        assert_eq!(
            err(br#"{"a":"\u12"}"#),
            "invalid JSON: expected 4 hex digits after '\\u' at byte 8"
        );
        assert_eq!(
            err(br#"{"a":[1 2]}"#),
            "invalid JSON: expected ',' or ']' at byte 8"
        );
        assert_eq!(
            err(br#"{"a":1} x"#),
            "invalid JSON: expected end of line at byte 8"
        );
        assert_eq!(
            err(br#"{"a":}"#),
            "invalid JSON: expected a value at byte 5"
        );
        assert!(err(br#"{"x":{"y":[-]}}"#).contains("expected a digit at byte 12"));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let mut line = b"{\"a\":".to_vec();
        line.extend(std::iter::repeat_n(b'[', 100_000));
        assert!(err(&line).contains("nesting deeper than"));
        let mut line = Vec::new();
        for _ in 0..100_000 {
            line.extend_from_slice(b"{\"a\":");
        }
        assert!(err(&line).contains("nesting deeper than"));
    }

    #[test]
    fn fork_is_independent_and_equivalent() {
        let fields = vec!["a".to_string()];
        let d = json_decoder(&fields).unwrap();
        let mut f = d.fork();
        let mut slots = FieldSlots::new(1);
        f.decode(br#"{"a":"\"q\""}"#, &mut slots).unwrap();
        assert_eq!(slots.get(br#"{"a":"\"q\""}"#, 0), Some(&b"\"q\""[..]));
    }

    #[test]
    fn bad_field_names_rejected() {
        assert!(json_decoder(&["a..b".to_string()]).is_err());
        assert!(json_decoder(&["".to_string()]).is_err());
    }
}

#[cfg(test)]
mod scan_tests {
    use super::*;

    use crate::test_rng::Rng;

    /// 0..=200 bytes: quotes and backslashes (sometimes dense, sometimes
    /// none), escape letters, hex digits, and bytes that differ from a
    /// quote or a backslash only in the high bit or the low bit.
    fn random_bytes(rng: &mut Rng) -> Vec<u8> {
        const ALPHABET: &[u8] = b"\"\\\\u0aF/nbtx#]\xa2\xdc\x23\x5d ";
        let len = rng.below(201);
        let special_per_256 = [0, 4, 32, 128][rng.below(4)];
        (0..len)
            .map(|_| {
                if rng.below(256) < special_per_256 {
                    ALPHABET[rng.below(3)]
                } else {
                    ALPHABET[rng.below(ALPHABET.len())]
                }
            })
            .collect()
    }

    fn reference_find(b: &[u8], from: usize) -> Option<usize> {
        (from..b.len()).find(|&i| b[i] == b'"' || b[i] == b'\\')
    }

    fn check_find(b: &[u8], from: usize) {
        let want = reference_find(b, from);
        assert_eq!(find_quote_or_backslash(b, from), want, "{b:?} from {from}");
        assert_eq!(find_special_words(b, from), want, "{b:?} from {from}");
        #[cfg(target_arch = "x86_64")]
        assert_eq!(find_special_sse2(b, from), want, "{b:?} from {from}");
    }

    #[test]
    fn find_quote_or_backslash_matches_reference() {
        // one special byte at every position of every length, from everywhere
        for len in 0..=70 {
            for special in [b'"', b'\\'] {
                for pos in 0..=len {
                    let mut b = vec![b'x'; len];
                    if pos < len {
                        b[pos] = special;
                    }
                    for from in 0..=len {
                        check_find(&b, from);
                    }
                }
            }
        }
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..3000 {
            let b = random_bytes(&mut rng);
            for from in 0..=b.len() {
                check_find(&b, from);
            }
        }
    }

    /// Byte-at-a-time string scanner: (start, end, escaped) and the index
    /// after the closing quote, or the error's byte and text.
    fn reference_string(b: &[u8], quote: usize) -> Result<(usize, usize, bool, usize), String> {
        let at = |i: usize, what: &str| {
            if i >= b.len() {
                format!("invalid JSON: expected {what} at byte {i} (end of line)")
            } else {
                format!("invalid JSON: expected {what} at byte {i}")
            }
        };
        let start = quote + 1;
        let mut i = start;
        let mut esc = false;
        loop {
            match b.get(i) {
                None => return Err(at(b.len(), "closing '\"'")),
                Some(b'"') => return Ok((start, i, esc, i + 1)),
                Some(b'\\') => {
                    esc = true;
                    match b.get(i + 1) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                        Some(b'u') => {
                            for k in 0..4 {
                                if !b.get(i + 2 + k).is_some_and(u8::is_ascii_hexdigit) {
                                    return Err(at(i + 2, "4 hex digits after '\\u'"));
                                }
                            }
                            i += 6;
                        }
                        _ => return Err(at(i + 1, "an escape character after '\\'")),
                    }
                }
                Some(_) => i += 1,
            }
        }
    }

    fn scan_string(b: &[u8], quote: usize) -> Result<(usize, usize, bool, usize), String> {
        let trie = Trie {
            nodes: vec![Node::default()],
        };
        let mut found = [];
        let mut key_buf = Vec::new();
        let mut s = Scanner {
            b,
            i: quote,
            trie: &trie,
            found: &mut found,
            key_buf: &mut key_buf,
        };
        match s.string() {
            Ok((start, end, esc)) => Ok((start, end, esc, s.i)),
            Err(e) => Err(e.message),
        }
    }

    #[test]
    fn string_scan_matches_byte_at_a_time_reference() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let mut ok = 0;
        for _ in 0..3000 {
            let mut b = random_bytes(&mut rng);
            b.insert(0, b'"');
            for quote in 0..b.len() {
                if b[quote] == b'"' {
                    let want = reference_string(&b, quote);
                    ok += want.is_ok() as usize;
                    assert_eq!(scan_string(&b, quote), want, "{b:?} at {quote}");
                }
            }
        }
        assert!(ok > 1000, "too few valid strings generated: {ok}");
    }

    #[test]
    fn key_lookup_matches_plain_compare() {
        let mut trie = Trie {
            nodes: vec![Node::default()],
        };
        let keys: &[&[u8]] = &[
            b"",
            b"a",
            b"ab",
            b"ba",
            b"abcdefg",
            b"abcdefgh",
            b"abcdefghi",
            b"abcdefghij",
            b"abcdefgha",
            b"bbcdefghij",
            b"a.b",
            b"\0",
            b"a\0",
        ];
        for k in keys {
            trie.child(0, k);
        }
        let mut rng = Rng(7);
        for _ in 0..20_000 {
            // a key at any place of a short buffer, often right at its end
            let mut buf: Vec<u8> = (0..rng.below(24))
                .map(|_| b"abcdefghij.\0"[rng.below(12)])
                .collect();
            if rng.below(2) == 0 {
                let k = keys[rng.below(keys.len())];
                let at = rng.below(buf.len() + 1);
                buf.splice(at..at, k.iter().copied());
            }
            let start = rng.below(buf.len() + 1);
            let end = start + rng.below(buf.len() - start + 1);
            let want = trie.nodes[0]
                .children
                .iter()
                .find(|c| *c.key == buf[start..end])
                .map(|c| c.node);
            assert_eq!(
                trie.lookup(0, &buf, start, end),
                want,
                "{buf:?} {start}..{end}"
            );
        }
    }

    /// Lines that mostly share a shape, with every kind of change: the
    /// decoder (which reads a line by the last line's shape when it can)
    /// gives what the scanner alone gives, value for value and error for error.
    #[test]
    fn shapes_give_what_the_scanner_gives() {
        let fields: Vec<String> = ["ts", "host", "value", "a.b", "host", "x.y.z", "absent"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut shaped = JsonDecoder::new(&fields).unwrap();
        let mut reference = JsonDecoder::new(&fields).unwrap();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let values = [
            "\"h1\"",
            "\"\"",
            "12",
            "-0.5e3",
            "1.",
            "01",
            "-",
            "true",
            "false",
            "null",
            "nul",
            "\"a\\\"b\"",
            "{\"b\":1}",
            "[1,2]",
            "\"x",
            "1e",
            "7",
        ];
        let keys = [
            "ts",
            "host",
            "value",
            "a",
            "a.b",
            "x.y.z",
            "other",
            "ho\\u0073t",
        ];
        let (mut read_by_shape, mut lines) = (0, 0);
        for round in 0..20_000 {
            // a run of lines of one shape, then a change
            let n = 1 + next(5) as usize;
            let mut order: Vec<usize> = (0..n).map(|_| next(keys.len() as u64) as usize).collect();
            if next(3) > 0 {
                order = vec![0, 1, 2]; // the common shape
            }
            for _ in 0..1 + next(6) {
                let mut line = String::from("{");
                for (k, &key) in order.iter().enumerate() {
                    if k > 0 {
                        line.push_str(if next(50) == 0 { ", " } else { "," });
                    }
                    let v = if next(4) == 0 {
                        values[next(values.len() as u64) as usize].to_string()
                    } else {
                        format!("\"v{}\"", next(1000))
                    };
                    line.push_str(&format!("\"{}\":{v}", keys[key]));
                }
                line.push('}');
                if next(40) == 0 {
                    line.push(' ');
                }
                if next(60) == 0 {
                    line.push('x');
                }
                let line = line.as_bytes();
                let mut got = FieldSlots::new(fields.len());
                let mut want = FieldSlots::new(fields.len());
                let had_shape = shaped_has(&shaped, line);
                let g = shaped.decode(line, &mut got);
                let w = reference.scan(line, &mut want);
                let context = format!("round {round}: {}", String::from_utf8_lossy(line));
                assert_eq!(g, w, "{context}");
                if g.is_ok() {
                    for i in 0..fields.len() {
                        assert_eq!(got.get(line, i), want.get(line, i), "slot {i}, {context}");
                    }
                }
                lines += 1;
                read_by_shape += had_shape as u32;
            }
        }
        assert!(
            read_by_shape > lines / 5,
            "only {read_by_shape} of {lines} lines read by shape"
        );
    }

    /// Whether the decoder would read `line` by its shape.
    fn shaped_has(d: &JsonDecoder, line: &[u8]) -> bool {
        d.has_shape && d.shape.read(line, &mut FieldSlots::new(d.found.len()))
    }
}
