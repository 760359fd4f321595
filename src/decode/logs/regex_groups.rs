//! `--regex PATTERN`: named capture groups become fields.
//!
//! Owns the regex decoder. Must not touch the other formats or `decode/mod.rs`.
//!
//! Semantics:
//! - The pattern is searched anywhere in the line (unanchored, like grep);
//!   write `^...$` to anchor it. It uses `regex::bytes` with the crate's
//!   default Unicode mode, so `.` and `\w` match UTF-8 characters only and a
//!   line with invalid UTF-8 where the pattern needs `.` does not match; start
//!   the pattern with `(?-u)` to match raw bytes.
//! - A line that does not match is a [`DecodeError`]. A group that did not
//!   take part in the match, or captured exactly `-`, is missing.
//! - Capture positions are read into a reused `CaptureLocations`.

use super::Val;
use crate::decode::{DecodeError, FieldSlots, LineDecoder};
use regex::bytes::{CaptureLocations, Regex};
use std::sync::Arc;

pub(super) struct RegexDecoder {
    re: Regex,
    locs: CaptureLocations,
    /// Capture group index per slot.
    groups: Arc<[usize]>,
}

impl RegexDecoder {
    pub(super) fn new(pattern: &str, fields: &[String]) -> Result<RegexDecoder, String> {
        let re = Regex::new(pattern).map_err(|e| format!("invalid --regex: {e}"))?;
        let mut groups = Vec::with_capacity(fields.len());
        for f in fields {
            let idx = re.capture_names().position(|n| n == Some(f.as_str()));
            match idx {
                Some(i) => groups.push(i),
                None => {
                    let names: Vec<&str> = re.capture_names().flatten().collect();
                    let names = if names.is_empty() {
                        "(none)".to_string()
                    } else {
                        names.join(", ")
                    };
                    return Err(format!("--regex has no named group '{f}'; groups: {names}"));
                }
            }
        }
        Ok(RegexDecoder {
            locs: re.capture_locations(),
            re,
            groups: groups.into(),
        })
    }
}

impl LineDecoder for RegexDecoder {
    fn decode(&mut self, line: &[u8], slots: &mut FieldSlots) -> Result<(), DecodeError> {
        if self.re.captures_read(&mut self.locs, line).is_none() {
            return Err(DecodeError::new("line does not match --regex"));
        }
        for (slot, &g) in self.groups.iter().enumerate() {
            if let Some((s, e)) = self.locs.get(g) {
                Val::token(line, s, e).emit(line, slot, slots);
            }
        }
        Ok(())
    }

    fn fork(&self) -> Box<dyn LineDecoder> {
        Box::new(RegexDecoder {
            re: self.re.clone(),
            locs: self.re.capture_locations(),
            groups: self.groups.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{run, strings};
    use super::*;

    const PAT: &str = r"^(?P<ts>\S+) (?P<level>[A-Z]+)(?: code=(?P<code>\d+))? (?P<msg>.*)$";

    #[test]
    fn named_groups_become_fields() {
        let mut d = RegexDecoder::new(PAT, &strings(&["level", "code", "msg", "ts"])).unwrap();
        let got = run(&mut d, 4, b"2024-01-01 WARN code=503 upstream \"slow\"").unwrap();
        let want = [
            Some("WARN"),
            Some("503"),
            Some("upstream \"slow\""),
            Some("2024-01-01"),
        ];
        assert_eq!(got, want.map(|v| v.map(String::from)));
        // optional group absent, `-` missing
        let got = run(&mut d, 4, b"- INFO started").unwrap();
        assert_eq!(
            got,
            vec![Some("INFO".into()), None, Some("started".into()), None]
        );
    }

    #[test]
    fn no_match_is_a_decode_error() {
        let mut d = RegexDecoder::new(PAT, &strings(&["level"])).unwrap();
        let e = run(&mut d, 1, b"garbage").unwrap_err();
        assert_eq!(e.message, "line does not match --regex");
    }

    #[test]
    fn missing_group_lists_the_groups() {
        let e = RegexDecoder::new(PAT, &strings(&["level", "status"]))
            .err()
            .unwrap();
        assert_eq!(
            e,
            "--regex has no named group 'status'; groups: ts, level, code, msg"
        );
        let e = RegexDecoder::new(r"(\d+)", &strings(&["x"])).err().unwrap();
        assert!(e.ends_with("groups: (none)"), "{e}");
        assert!(RegexDecoder::new(r"(?P<a>", &[])
            .err()
            .unwrap()
            .starts_with("invalid --regex"));
    }

    #[test]
    fn bytes_mode_and_non_utf8() {
        let mut d = RegexDecoder::new(r"(?-u)v=(?P<v>\S+)", &strings(&["v"])).unwrap();
        let line = b"x v=\xff\xfe! y";
        let mut slots = FieldSlots::new(1);
        d.decode(line, &mut slots).unwrap();
        assert_eq!(slots.get(line, 0), Some(&b"\xff\xfe!"[..]));
        let mut f = d.fork();
        let mut slots = FieldSlots::new(1);
        f.decode(b"v=1", &mut slots).unwrap();
        assert_eq!(slots.get(b"v=1", 0), Some(&b"1"[..]));
    }
}
