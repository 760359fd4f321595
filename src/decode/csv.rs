//! CSV lines (RFC 4180 quoting within a line, any one-byte delimiter). Column
//! positions are resolved once from the header (or `--columns`); a line
//! without quotes is split in one pass that looks for the delimiter and the
//! quote together ([`scan_unquoted`]) and is never copied.

use super::{DecodeError, FieldSlots, LineDecoder};

/// Splits one header or record line into fields (allocating; for headers only).
pub fn split_header(line: &[u8], delimiter: u8) -> Result<Vec<String>, DecodeError> {
    let mut slots = FieldSlots::new(0);
    let mut out = Vec::new();
    let mut spans = Vec::new();
    split_fields(line, delimiter, &mut slots, &mut spans)?;
    for (s, e, owned) in spans {
        let bytes = if owned {
            &slots.scratch_mut()[s..e]
        } else {
            &line[s..e]
        };
        let name = String::from_utf8_lossy(bytes).trim().to_string();
        // ` "host"`: a quoted name after a space is still a quoted name
        let name = match name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
            Some(inner) => inner.replace("\"\"", "\""),
            None => name,
        };
        out.push(name);
    }
    Ok(out)
}

/// Fills `spans` with (start, end, in_scratch) for every field of `line`.
fn split_fields(
    line: &[u8],
    delimiter: u8,
    slots: &mut FieldSlots,
    spans: &mut Vec<(usize, usize, bool)>,
) -> Result<(), DecodeError> {
    spans.clear();
    let mut pos = 0;
    loop {
        if line.get(pos) == Some(&b'"') {
            // Quoted field: unescape "" into scratch.
            let scratch = slots.scratch_mut();
            let start = scratch.len();
            let mut i = pos + 1;
            loop {
                match memchr::memchr(b'"', &line[i..]) {
                    None => {
                        return Err(DecodeError::new(format!(
                            "unterminated quoted field starting at byte {}",
                            pos + 1
                        )))
                    }
                    Some(q) => {
                        scratch.extend_from_slice(&line[i..i + q]);
                        i += q + 1;
                        if line.get(i) == Some(&b'"') {
                            scratch.push(b'"');
                            i += 1;
                        } else {
                            break;
                        }
                    }
                }
            }
            spans.push((start, scratch.len(), true));
            match line.get(i) {
                None => return Ok(()),
                Some(&c) if c == delimiter => pos = i + 1,
                Some(_) => {
                    return Err(DecodeError::new(format!(
                    "unexpected character after closing quote at byte {}; expected the delimiter",
                    i + 1
                )))
                }
            }
        } else {
            match memchr::memchr(delimiter, &line[pos..]) {
                Some(d) => {
                    spans.push((pos, pos + d, false));
                    pos += d + 1;
                }
                None => {
                    spans.push((pos, line.len(), false));
                    return Ok(());
                }
            }
        }
    }
}

/// Calls `on_delimiter(i)` for every `delimiter` at byte `i` of `line`, in
/// order, and returns true; or returns false as soon as a quote (`"`) is seen
/// (then some of the delimiters before it may have been reported). One pass
/// over the line: the setup of two memchr calls is most of the cost on
/// short lines.
#[inline(always)]
fn scan_unquoted(line: &[u8], delimiter: u8, on_delimiter: impl FnMut(usize)) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        scan_sse2(line, delimiter, on_delimiter)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        scan_words(line, delimiter, on_delimiter)
    }
}

/// [`scan_unquoted`] 16 bytes at a time; the last block overlaps the one
/// before it (its first bytes already seen are masked off), lines shorter
/// than 16 bytes go to [`scan_words`].
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn scan_sse2(line: &[u8], delimiter: u8, mut on_delimiter: impl FnMut(usize)) -> bool {
    use core::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
    };
    const BLOCK: usize = 16;
    let len = line.len();
    if len < BLOCK {
        return scan_words(line, delimiter, on_delimiter);
    }
    // (delimiter bits, quote bits) of line[at..at + 16], bit i for byte at + i
    let masks = |at: usize| -> (u32, u32) {
        let block = &line[at..at + BLOCK];
        // SAFETY: SSE2 is part of the x86_64 baseline, so these intrinsics
        // are available on every x86_64 CPU; `block` is 16 bytes of `line`
        // (the slicing above checks it), and _mm_loadu_si128 reads those 16
        // bytes with no alignment requirement.
        unsafe {
            let v = _mm_loadu_si128(block.as_ptr().cast::<__m128i>());
            (
                _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(delimiter as i8))) as u32,
                _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8))) as u32,
            )
        }
    };
    let mut at = 0;
    while at + BLOCK <= len {
        let (d, q) = masks(at);
        if q != 0 {
            return false;
        }
        walk_bits(d, at, &mut on_delimiter);
        at += BLOCK;
    }
    if at < len {
        let last = len - BLOCK;
        let (d, q) = masks(last);
        // bytes last..at were seen in the block before (no quote there)
        if q != 0 {
            return false;
        }
        walk_bits(d & (u32::MAX << (at - last)), last, &mut on_delimiter);
    }
    true
}

/// Reports `base + i` for every set bit `i` of `bits`, lowest first.
#[inline(always)]
fn walk_bits(mut bits: u32, base: usize, on_delimiter: &mut impl FnMut(usize)) {
    while bits != 0 {
        on_delimiter(base + bits.trailing_zeros() as usize);
        bits &= bits - 1;
    }
}

/// [`scan_unquoted`] 8 bytes at a time in a u64 (SWAR), then byte by byte:
/// the portable path, and short lines on x86_64.
#[inline(always)]
fn scan_words(line: &[u8], delimiter: u8, mut on_delimiter: impl FnMut(usize)) -> bool {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const ONES: u64 = 0x0101_0101_0101_0101;
    // high bit of each byte of `x` that is zero, exactly (no carries
    // between bytes: the low 7 bits are added apart from the high bit)
    fn zero_bytes(x: u64) -> u64 {
        !(((x & LOW7) + LOW7) | x | LOW7)
    }
    let delimiters = ONES * delimiter as u64;
    let quotes = ONES * b'"' as u64;
    let mut words = line.chunks_exact(8);
    let mut at = 0;
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        let w = u64::from_le_bytes(bytes);
        if zero_bytes(w ^ quotes) != 0 {
            return false;
        }
        let mut d = zero_bytes(w ^ delimiters);
        while d != 0 {
            on_delimiter(at + (d.trailing_zeros() / 8) as usize);
            d &= d - 1;
        }
        at += 8;
    }
    for &b in words.remainder() {
        if b == b'"' {
            return false;
        }
        if b == delimiter {
            on_delimiter(at);
        }
        at += 1;
    }
    true
}

/// Decodes lines whose columns are known.
#[derive(Clone)]
pub struct CsvDecoder {
    delimiter: u8,
    columns: usize,
    /// slot for each column position (None: not wanted)
    slot_of_column: Vec<Option<usize>>,
    spans: Vec<(usize, usize, bool)>,
}

impl CsvDecoder {
    /// `header` holds the column names; `fields` the wanted names (slot order).
    /// Err names the first wanted field that is not a column.
    pub fn new(header: &[String], fields: &[String], delimiter: u8) -> Result<CsvDecoder, String> {
        let mut slot_of_column = vec![None; header.len()];
        for (slot, field) in fields.iter().enumerate() {
            if field == crate::plan::NOT_DECODED {
                continue; // filled after decoding (--input-field)
            }
            match header.iter().position(|h| h == field) {
                Some(col) => slot_of_column[col] = Some(slot),
                None => {
                    // The header may be anything a client sent (an HTTP
                    // request, binary): a bounded, escaped echo of it.
                    let columns = header.join(", ");
                    return Err(format!(
                        "field '{field}' is not a column; the header has: {}",
                        crate::sink::console::escape_controls(&crate::sink::console::clip(
                            &columns,
                            crate::sink::console::ECHO_BYTES
                        ))
                    ));
                }
            }
        }
        let decoder = CsvDecoder {
            delimiter,
            columns: header.len(),
            slot_of_column,
            spans: Vec::with_capacity(header.len()),
        };
        Ok(decoder)
    }
}

impl LineDecoder for CsvDecoder {
    // (inline even where it is large: `parse_piece` calls it for every line)
    #[inline(always)]
    fn decode(&mut self, line: &[u8], slots: &mut FieldSlots) -> Result<(), DecodeError> {
        // Fast path: split in place. Slots set before a quote turns up are
        // all set again by the quoted path when it succeeds (it fills every
        // wanted column), and the caller drops the slots of a failed line.
        let mut col = 0;
        let mut start = 0;
        let slot_of_column = &self.slot_of_column[..];
        let unquoted = scan_unquoted(line, self.delimiter, |d| {
            if let Some(&Some(slot)) = slot_of_column.get(col) {
                slots.set_line(slot, start, d);
            }
            col += 1;
            start = d + 1;
        });
        if unquoted {
            if let Some(&Some(slot)) = slot_of_column.get(col) {
                slots.set_line(slot, start, line.len());
            }
            let found = col + 1;
            if found != self.columns {
                return Err(DecodeError::new(format!(
                    "expected {} fields, found {found}",
                    self.columns
                )));
            }
            return Ok(());
        }
        let mut spans = std::mem::take(&mut self.spans);
        let result = split_fields(line, self.delimiter, slots, &mut spans);
        let out = result.and_then(|()| {
            if spans.len() != self.columns {
                return Err(DecodeError::new(format!(
                    "expected {} fields, found {}",
                    self.columns,
                    spans.len()
                )));
            }
            for (col, &(s, e, owned)) in spans.iter().enumerate() {
                if let Some(slot) = self.slot_of_column[col] {
                    if owned {
                        slots.set_scratch(slot, s, e);
                    } else {
                        slots.set_line(slot, s, e);
                    }
                }
            }
            Ok(())
        });
        self.spans = spans;
        out
    }

    fn fork(&self) -> Box<dyn LineDecoder> {
        Box::new(self.clone())
    }

    fn as_csv(&mut self) -> Option<&mut CsvDecoder> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn fast_path_picks_wanted_columns() {
        let mut d = CsvDecoder::new(
            &names(&["ts", "host", "value"]),
            &names(&["value", "ts"]),
            b',',
        )
        .unwrap();
        let mut slots = FieldSlots::new(2);
        let line = b"2026-01-01T00:00:00Z,h1,3.5";
        d.decode(line, &mut slots).unwrap();
        assert_eq!(slots.get(line, 0), Some(&b"3.5"[..]));
        assert_eq!(slots.get(line, 1), Some(&b"2026-01-01T00:00:00Z"[..]));
    }

    #[test]
    fn quoted_fields_are_unescaped() {
        let mut d = CsvDecoder::new(&names(&["a", "b", "c"]), &names(&["b", "c"]), b',').unwrap();
        let mut slots = FieldSlots::new(2);
        let line = br#"1,"x, ""y""",z"#;
        d.decode(line, &mut slots).unwrap();
        assert_eq!(slots.get(line, 0), Some(&br#"x, "y""#[..]));
        assert_eq!(slots.get(line, 1), Some(&b"z"[..]));
    }

    #[test]
    fn wrong_column_count_is_an_error() {
        let mut d = CsvDecoder::new(&names(&["a", "b"]), &names(&["a"]), b',').unwrap();
        let mut slots = FieldSlots::new(1);
        let e = d.decode(b"1,2,3", &mut slots).unwrap_err();
        assert_eq!(e.message, "expected 2 fields, found 3");
        slots.clear();
        assert!(d.decode(b"1", &mut slots).is_err());
        slots.clear();
        assert!(d
            .decode(b"\"1,2", &mut slots)
            .unwrap_err()
            .message
            .contains("unterminated"));
    }

    #[test]
    fn unknown_field_names_the_header() {
        let e = CsvDecoder::new(&names(&["a", "b"]), &names(&["zz"]), b',')
            .err()
            .unwrap();
        assert!(e.contains("'zz'") && e.contains("a, b"), "{e}");
    }

    #[test]
    fn header_split_trims_and_unquotes() {
        assert_eq!(
            split_header(b"ts, \"host\",value", b',').unwrap(),
            names(&["ts", "host", "value"])
        );
        assert_eq!(split_header(b"a;b", b';').unwrap(), names(&["a", "b"]));
    }
    use crate::test_rng::Rng;

    /// A line of 0..=200 bytes: delimiters at random places (sometimes
    /// dense, sometimes none), a quote in some lines, and bytes that
    /// differ from the delimiter or the quote only in the high bit.
    fn random_line(rng: &mut Rng, delimiter: u8) -> Vec<u8> {
        let len = rng.below(201);
        let delimiter_per_256 = [0, 8, 40, 128, 256][rng.below(5)];
        let quote_per_1024 = if rng.below(3) == 0 { 8 } else { 0 };
        (0..len)
            .map(|_| {
                if (rng.below(256)) < delimiter_per_256 {
                    delimiter
                } else if rng.below(1024) < quote_per_1024 {
                    b'"'
                } else {
                    match rng.below(6) {
                        0 => delimiter ^ 0x80,
                        1 => b'"' ^ 0x80,
                        2 => delimiter.wrapping_add(1),
                        3 => b',',
                        _ => rng.next() as u8,
                    }
                }
            })
            .collect()
    }

    const DELIMITERS: [u8; 8] = [b',', b'\t', b';', b'|', b' ', 0x00, 0x80, 0xff];

    /// The reference: Some(every delimiter position) for a line without
    /// quotes, None for a line with one.
    fn reference_scan(line: &[u8], delimiter: u8) -> Option<Vec<usize>> {
        if line.contains(&b'"') {
            return None;
        }
        Some((0..line.len()).filter(|&i| line[i] == delimiter).collect())
    }

    /// A scan under test, with its callback as a trait object.
    type Scan = fn(&[u8], u8, &mut dyn FnMut(usize)) -> bool;

    fn check_scan(name: &str, scan: Scan, line: &[u8], delimiter: u8) {
        let mut seen = Vec::new();
        let unquoted = scan(line, delimiter, &mut |i| seen.push(i));
        let all: Vec<usize> = (0..line.len()).filter(|&i| line[i] == delimiter).collect();
        match reference_scan(line, delimiter) {
            Some(want) => assert!(
                unquoted && seen == want,
                "{name}: delimiter {delimiter:#x}, line {line:?}: got {unquoted} {seen:?}, want {want:?}"
            ),
            None => assert!(
                !unquoted && all.starts_with(&seen),
                "{name}: delimiter {delimiter:#x}, quoted line {line:?}: got {unquoted} {seen:?}"
            ),
        }
    }

    #[test]
    fn scans_match_the_reference_on_random_lines() {
        fn words(line: &[u8], delimiter: u8, f: &mut dyn FnMut(usize)) -> bool {
            scan_words(line, delimiter, f)
        }
        fn unquoted(line: &[u8], delimiter: u8, f: &mut dyn FnMut(usize)) -> bool {
            scan_unquoted(line, delimiter, f)
        }
        let mut lines = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..20_000 {
            let delimiter = DELIMITERS[round % DELIMITERS.len()];
            let line = random_line(&mut lines, delimiter);
            check_scan("scan_words", words, &line, delimiter);
            check_scan("scan_unquoted", unquoted, &line, delimiter);
        }
        // every length, every delimiter place, and one quote at every place
        for len in 0..=70 {
            for at in 0..len {
                let mut line = vec![b'x'; len];
                line[at] = b';';
                line[len - 1 - at] = b';';
                check_scan("scan_words", words, &line, b';');
                check_scan("scan_unquoted", unquoted, &line, b';');
                line[at] = b'"';
                check_scan("scan_words", words, &line, b';');
                check_scan("scan_unquoted", unquoted, &line, b';');
            }
        }
    }

    /// What decode did before the one-pass scan: memchr for a quote, then a
    /// plain split, or split_fields.
    fn reference_decode(
        line: &[u8],
        delimiter: u8,
        slot_of_column: &[Option<usize>],
        slots: &mut FieldSlots,
    ) -> Result<(), DecodeError> {
        let columns = slot_of_column.len();
        let mut spans = Vec::new();
        if line.contains(&b'"') {
            split_fields(line, delimiter, slots, &mut spans)?;
        } else {
            let mut start = 0;
            for field in line.split(|&b| b == delimiter) {
                spans.push((start, start + field.len(), false));
                start += field.len() + 1;
            }
        }
        if spans.len() != columns {
            return Err(DecodeError::new(format!(
                "expected {columns} fields, found {}",
                spans.len()
            )));
        }
        for (col, &(s, e, owned)) in spans.iter().enumerate() {
            if let Some(slot) = slot_of_column[col] {
                if owned {
                    slots.set_scratch(slot, s, e);
                } else {
                    slots.set_line(slot, s, e);
                }
            }
        }
        Ok(())
    }

    #[test]
    fn decode_matches_the_reference_on_random_lines() {
        let mut lines = Rng(0x2545_f491_4f6c_dd1d);
        for round in 0..20_000 {
            let delimiter = DELIMITERS[round % DELIMITERS.len()];
            let columns = 1 + lines.below(12);
            let header: Vec<String> = (0..columns).map(|c| format!("c{c}")).collect();
            // wanted: a random subset, in a random order
            let mut fields: Vec<String> = header
                .iter()
                .filter(|_| lines.below(2) == 0)
                .cloned()
                .collect();
            for i in (1..fields.len()).rev() {
                fields.swap(i, lines.below(i + 1));
            }
            let mut decoder = CsvDecoder::new(&header, &fields, delimiter).unwrap();
            let slot_of_column = decoder.slot_of_column.clone();
            // lines with the right field count often enough to test slots
            let line = if lines.below(2) == 0 {
                random_line(&mut lines, delimiter)
            } else {
                let mut line = Vec::new();
                for c in 0..columns {
                    if c > 0 {
                        line.push(delimiter);
                    }
                    let len = lines.below(20);
                    line.extend((0..len).map(|_| b'a' + lines.below(26) as u8));
                }
                line
            };
            let mut got = FieldSlots::new(fields.len());
            let mut want = FieldSlots::new(fields.len());
            let got_result = decoder.decode(&line, &mut got);
            let want_result = reference_decode(&line, delimiter, &slot_of_column, &mut want);
            let context = format!("delimiter {delimiter:#x}, {columns} columns, line {line:?}");
            match (got_result, want_result) {
                (Ok(()), Ok(())) => {
                    for slot in 0..fields.len() {
                        assert_eq!(got.get(&line, slot), want.get(&line, slot), "{context}");
                    }
                }
                (Err(g), Err(w)) => assert_eq!(g.message, w.message, "{context}"),
                (g, w) => panic!("{context}: got {g:?}, want {w:?}"),
            }
        }
    }
}
