//! CSV lines (RFC 4180 quoting within a line, any one-byte delimiter). Column
//! positions are resolved once from the header (or `--columns`); a line
//! without quotes is split with memchr and never copied.

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
    fn decode(&mut self, line: &[u8], slots: &mut FieldSlots) -> Result<(), DecodeError> {
        let has_quote = memchr::memchr(b'"', line).is_some();
        if !has_quote {
            // Fast path: split in place.
            let mut col = 0;
            let mut start = 0;
            for d in memchr::memchr_iter(self.delimiter, line) {
                if col < self.columns {
                    if let Some(slot) = self.slot_of_column[col] {
                        slots.set_line(slot, start, d);
                    }
                }
                col += 1;
                start = d + 1;
            }
            if col < self.columns {
                if let Some(slot) = self.slot_of_column[col] {
                    slots.set_line(slot, start, line.len());
                }
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
}
