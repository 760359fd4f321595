//! Log-line formats: logfmt, `--regex` with named groups, and the presets
//! nginx / apache (combined log format) and syslog (RFC 3164 and 5424).
//!
//! Owns the public entry points for those formats and the small shared
//! pieces (the per-line value type [`Val`], unescaping, `-` handling). The
//! parsers live in the submodules `logs/{logfmt,regex_groups,access,syslog}.rs`.
//! Must not touch: `decode/mod.rs` types, CSV/JSON decoding, time parsing
//! (presets only *name* their time field and its format).
//!
//! Rules shared by every log format here:
//! - A value that is exactly `-` is missing, not bad (SPEC section 2).
//! - Values are delivered as bytes; invalid UTF-8 is never an error here.
//! - Quoted values are unescaped only when they contain a backslash:
//!   `\"` `\\` `\n` `\t` `\r` are decoded, any other `\x` is kept as is.
//! - No allocation per line: values are spans into the line, or copies into
//!   the slots' reused scratch buffer.

mod access;
mod logfmt;
mod regex_groups;
mod syslog;

use super::{FieldSlots, Format, LineDecoder};
use crate::time::TimeFormat;

/// Fields each preset knows, in order (used for validation and `vigil check`).
pub fn preset_fields(format: Format) -> &'static [&'static str] {
    match format {
        Format::Nginx | Format::Apache => access::FIELDS,
        Format::Syslog => syslog::FIELDS,
        _ => &[],
    }
}

/// The preset's default format for its `time`/`timestamp` field and that field's name.
pub fn preset_time(format: Format) -> Option<(&'static str, TimeFormat)> {
    match format {
        Format::Nginx | Format::Apache => Some((
            "time",
            TimeFormat::from_spec("%d/%b/%Y:%H:%M:%S %z").expect("built-in time format"),
        )),
        // syslog: RFC 3339 or RFC 3164 without a year
        Format::Syslog => Some(("timestamp", TimeFormat::syslog())),
        _ => None,
    }
}

/// logfmt: `key=value key2="quoted value"`; any field name is accepted.
pub fn logfmt_decoder(fields: &[String]) -> Result<Box<dyn LineDecoder>, String> {
    Ok(Box::new(logfmt::LogfmtDecoder::new(fields)))
}

/// `--regex PATTERN`: named capture groups become fields. Err if the pattern is
/// invalid or a wanted field is not a group name.
pub fn regex_decoder(pattern: &str, fields: &[String]) -> Result<Box<dyn LineDecoder>, String> {
    Ok(Box::new(regex_groups::RegexDecoder::new(pattern, fields)?))
}

/// nginx / apache / syslog presets. Err names a wanted field the preset lacks.
pub fn preset_decoder(format: Format, fields: &[String]) -> Result<Box<dyn LineDecoder>, String> {
    let known = preset_fields(format);
    if known.is_empty() {
        return Err(format!(
            "format {} is not a log preset (nginx, apache, syslog)",
            format.name()
        ));
    }
    let mut targets = Vec::with_capacity(fields.len());
    for f in fields {
        match known.iter().position(|k| k == f) {
            Some(p) => targets.push(p),
            // filled after decoding (--input-field)
            None if f == crate::plan::NOT_DECODED => targets.push(usize::MAX),
            None => {
                return Err(format!(
                    "format {} has no field '{}'; fields: {}",
                    format.name(),
                    f,
                    known.join(" ")
                ))
            }
        }
    }
    let kind = match format {
        Format::Syslog => PresetKind::Syslog,
        _ => PresetKind::Access,
    };
    Ok(Box::new(PresetDecoder {
        kind,
        targets: targets.into(),
        vals: [Val::Missing; MAX_PRESET_FIELDS],
    }))
}

/// `--format auto` on a line that is not JSON: recognises logfmt, nginx/apache
/// combined, and syslog; `None` means CSV.
pub fn sniff(first_line: &[u8]) -> Option<Format> {
    if syslog::looks_like_syslog(first_line) {
        return Some(Format::Syslog);
    }
    let mut vals = [Val::Missing; MAX_PRESET_FIELDS];
    if access::parse(first_line, &mut vals).is_ok() {
        return Some(Format::Nginx);
    }
    if logfmt::looks_like_logfmt(first_line) {
        return Some(Format::Logfmt);
    }
    None
}

const MAX_PRESET_FIELDS: usize = 12;

/// One field's value for the current line, before it is written to the slots.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Val {
    Missing,
    /// `line[s..e]` as is.
    Line(usize, usize),
    /// `line[s..e]` holds backslash escapes to decode.
    Esc(usize, usize),
    /// A number computed from the line (syslog facility/severity).
    Num(u32),
    /// Fixed text (a logfmt flag is `true`).
    Text(&'static [u8]),
}

impl Val {
    /// A token span, `-` being missing.
    #[inline]
    fn token(line: &[u8], s: usize, e: usize) -> Val {
        if e == s + 1 && line[s] == b'-' {
            Val::Missing
        } else {
            Val::Line(s, e)
        }
    }
    /// A quoted value's contents, `-` being missing.
    #[inline]
    fn quoted(line: &[u8], s: usize, e: usize, escaped: bool) -> Val {
        if escaped {
            Val::Esc(s, e)
        } else {
            Val::token(line, s, e)
        }
    }

    fn emit(self, line: &[u8], slot: usize, slots: &mut FieldSlots) {
        match self {
            Val::Missing => {}
            Val::Line(s, e) => slots.set_line(slot, s, e),
            Val::Esc(s, e) => {
                let scratch = slots.scratch_mut();
                let start = scratch.len();
                unescape(&line[s..e], scratch);
                if &scratch[start..] == b"-" {
                    scratch.truncate(start);
                } else {
                    slots.end_owned(slot, start);
                }
            }
            Val::Num(n) => {
                let scratch = slots.scratch_mut();
                let start = scratch.len();
                let mut digits = [0u8; 10];
                let mut k = digits.len();
                let mut n = n;
                loop {
                    k -= 1;
                    digits[k] = b'0' + (n % 10) as u8;
                    n /= 10;
                    if n == 0 {
                        break;
                    }
                }
                scratch.extend_from_slice(&digits[k..]);
                slots.end_owned(slot, start);
            }
            Val::Text(t) => slots.set_owned(slot, t),
        }
    }
}

/// Decodes `\"` `\\` `\n` `\t` `\r`; keeps any other backslash sequence as is.
fn unescape(s: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while let Some(off) = memchr::memchr(b'\\', &s[i..]) {
        out.extend_from_slice(&s[i..i + off]);
        i += off;
        match s.get(i + 1) {
            Some(&c @ (b'"' | b'\\')) => out.push(c),
            Some(b'n') => out.push(b'\n'),
            Some(b't') => out.push(b'\t'),
            Some(b'r') => out.push(b'\r'),
            Some(&c) => out.extend_from_slice(&[b'\\', c]),
            None => {
                out.push(b'\\');
                return;
            }
        }
        i += 2;
    }
    out.extend_from_slice(&s[i..]);
}

/// Finds the closing quote of a quoted value whose contents start at `start`,
/// skipping backslash escapes. Returns (index of the closing quote, had escapes).
#[inline]
fn find_close_quote(line: &[u8], start: usize) -> Option<(usize, bool)> {
    let mut i = start;
    let mut esc = false;
    loop {
        let off = memchr::memchr2(b'"', b'\\', &line[i..])?;
        i += off;
        if line[i] == b'"' {
            return Some((i, esc));
        }
        esc = true;
        i += 2;
        if i > line.len() {
            return None;
        }
    }
}

#[inline]
fn is_space(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

#[derive(Debug, Clone, Copy)]
enum PresetKind {
    Access,
    Syslog,
}

struct PresetDecoder {
    kind: PresetKind,
    /// For each slot, the index of its field in the preset's field list.
    targets: std::sync::Arc<[usize]>,
    vals: [Val; MAX_PRESET_FIELDS],
}

impl LineDecoder for PresetDecoder {
    fn decode(&mut self, line: &[u8], slots: &mut FieldSlots) -> Result<(), super::DecodeError> {
        self.vals = [Val::Missing; MAX_PRESET_FIELDS];
        match self.kind {
            PresetKind::Access => access::parse(line, &mut self.vals)?,
            PresetKind::Syslog => syslog::parse(line, &mut self.vals)?,
        }
        for (slot, &t) in self.targets.iter().enumerate() {
            if let Some(v) = self.vals.get(t) {
                v.emit(line, slot, slots);
            }
        }
        Ok(())
    }

    fn fork(&self) -> Box<dyn LineDecoder> {
        Box::new(PresetDecoder {
            kind: self.kind,
            targets: self.targets.clone(),
            vals: [Val::Missing; MAX_PRESET_FIELDS],
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::decode::DecodeError;

    pub(crate) fn run(
        d: &mut dyn LineDecoder,
        n: usize,
        line: &[u8],
    ) -> Result<Vec<Option<String>>, DecodeError> {
        let mut slots = FieldSlots::new(n);
        d.decode(line, &mut slots)?;
        Ok((0..n)
            .map(|i| {
                slots
                    .get(line, i)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
            })
            .collect())
    }

    pub(crate) fn strings(fields: &[&str]) -> Vec<String> {
        fields.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn unescape_rules() {
        let mut out = Vec::new();
        unescape(br#"a\"b\\c\nd\te\x41\"#, &mut out);
        assert_eq!(out, b"a\"b\\c\nd\te\\x41\\");
    }

    #[test]
    fn preset_field_lists_and_unknown_field() {
        assert_eq!(preset_fields(Format::Nginx), preset_fields(Format::Apache));
        assert!(preset_fields(Format::Nginx).contains(&"request_time"));
        assert_eq!(
            &preset_fields(Format::Syslog)[..5],
            &["timestamp", "host", "app", "pid", "message"]
        );
        assert!(preset_fields(Format::Csv).is_empty());
        let e = preset_decoder(Format::Nginx, &strings(&["status", "foo"]))
            .err()
            .unwrap();
        assert!(
            e.starts_with("format nginx has no field 'foo'; fields: remote_addr remote_user time"),
            "{e}"
        );
        let e = preset_decoder(Format::Syslog, &strings(&["status"]))
            .err()
            .unwrap();
        assert!(
            e.starts_with("format syslog has no field 'status'; fields: timestamp host"),
            "{e}"
        );
        assert!(preset_decoder(Format::Csv, &[]).is_err());
    }

    #[test]
    fn sniffing() {
        assert_eq!(
            sniff(b"level=info msg=\"hello there\" took=12ms"),
            Some(Format::Logfmt)
        );
        assert_eq!(
            sniff(b"ts=2024-01-01T00:00:00Z x=1 y=2 note"),
            Some(Format::Logfmt)
        );
        assert_eq!(
            sniff(br#"10.1.2.3 - bob [01/Feb/2024:10:00:00 +0100] "GET / HTTP/1.1" 200 12 "-" "curl/8""#),
            Some(Format::Nginx)
        );
        assert_eq!(
            sniff(br#"::1 - - [01/Feb/2024:10:00:00 +0100] "GET / HTTP/1.0" 304 -"#),
            Some(Format::Nginx)
        );
        assert_eq!(
            sniff(b"<34>1 2003-10-11T22:14:15.003Z host app - ID47 - msg"),
            Some(Format::Syslog)
        );
        assert_eq!(
            sniff(b"<13>Feb  5 17:32:18 host app: m"),
            Some(Format::Syslog)
        );
        assert_eq!(
            sniff(b"Mar  3 01:02:03 box cron[7]: job"),
            Some(Format::Syslog)
        );
        // CSV and other things
        assert_eq!(sniff(b"timestamp,value"), None);
        assert_eq!(sniff(b"a=1,b=2"), None);
        assert_eq!(sniff(b"x=1 just some words here"), None);
        assert_eq!(sniff(b"Mar 3 is not a syslog line"), None);
        assert_eq!(sniff(b"[Sun Dec 04 04:47:44 2005] [notice] hello"), None);
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(b"\xff\xfe=\x00 \x01=\x02"), None);
    }

    use crate::test_rng::Rng;

    #[test]
    fn random_bytes_never_panic() {
        let seeds: &[&[u8]] = &[
            br#"1.2.3.4 - u [01/Feb/2024:10:00:00 +0100] "GET /a\"b HTTP/1.1" 200 12 "-" "ua \"x\"" 0.5"#,
            b"<165>1 2003-10-11T22:14:15.003Z h app 1 ID [a b=\"c\\]\" d=\"e\"][f] \xef\xbb\xbfmsg",
            b"<13>Feb  5 17:32:18 host app[12]: message",
            b"Jun 14 15:16:01 combo sshd(pam_unix)[19939]: auth",
            br#"a=1 b="x \"y\"" c d= e=-"#,
            br#"{"a":{"b":[1,{"c":"\u00e9\n"}],"d":-1.5e3},"e":true,"f":null}"#,
        ];
        let alphabet = b" \t\"\\[]{}<>:=,-.0123456789aeflnrstuHTPGE/\xff\x00\r";
        let json_fields = strings(&["a.b", "a.d", "e", "f", "a"]);
        let mut decs: Vec<(usize, Box<dyn LineDecoder>)> = vec![
            (5, crate::decode::json::json_decoder(&json_fields).unwrap()),
            (4, logfmt_decoder(&strings(&["a", "b", "c", "d"])).unwrap()),
            (
                2,
                regex_decoder(r"(?P<x>\d+)(?:-(?P<y>[a-z]+))?", &strings(&["x", "y"])).unwrap(),
            ),
            (
                2,
                regex_decoder(r"(?-u)^(?P<x>.*?)=(?P<y>.*)$", &strings(&["x", "y"])).unwrap(),
            ),
        ];
        for f in [Format::Nginx, Format::Syslog] {
            let all: Vec<String> = preset_fields(f).iter().map(|s| s.to_string()).collect();
            decs.push((all.len(), preset_decoder(f, &all).unwrap()));
        }
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut line = Vec::new();
        for round in 0..100_000 {
            line.clear();
            if round % 2 == 0 {
                // pure random over a structural alphabet
                for _ in 0..rng.below(80) {
                    line.push(alphabet[rng.below(alphabet.len())]);
                }
            } else {
                // mutated / truncated valid lines
                line.extend_from_slice(seeds[rng.below(seeds.len())]);
                for _ in 0..rng.below(4) {
                    if line.is_empty() {
                        break;
                    }
                    let p = rng.below(line.len());
                    match rng.below(3) {
                        0 => line[p] = rng.next() as u8,
                        1 => line.truncate(p),
                        _ => line.insert(p, alphabet[rng.below(alphabet.len())]),
                    }
                }
            }
            let _ = sniff(&line);
            for (n, d) in decs.iter_mut() {
                let mut slots = FieldSlots::new(*n);
                if d.decode(&line, &mut slots).is_ok() {
                    for i in 0..*n {
                        let _ = slots.get(&line, i);
                    }
                }
            }
        }
    }

    /// Counts decode successes/failures over the real samples in /work/shared/data
    /// (or `$VIGIL_DATA`). Run with `cargo test --lib real_data -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn real_data_counts() {
        let root = std::env::var("VIGIL_DATA").unwrap_or_else(|_| "/work/shared/data".to_string());
        let files = [
            "elastic_examples/apache_logs/apache_logs",
            "loghub/Apache/Apache_2k.log",
            "loghub/Linux/Linux_2k.log",
            "loghub/OpenSSH/OpenSSH_2k.log",
            "loghub/HDFS/HDFS_2k.log",
        ];
        for file in files {
            let Ok(data) = std::fs::read(format!("{root}/{file}")) else {
                eprintln!("skip {file}: not found");
                continue;
            };
            let lines: Vec<&[u8]> = data
                .split(|&b| b == b'\n')
                .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
                .filter(|l| !l.is_empty())
                .collect();
            println!(
                "== {file}: {} lines, sniff(first) = {:?}",
                lines.len(),
                sniff(lines[0])
            );
            let mut decs: Vec<(&str, usize, Box<dyn LineDecoder>)> = Vec::new();
            for f in [Format::Nginx, Format::Syslog] {
                let all: Vec<String> = preset_fields(f).iter().map(|s| s.to_string()).collect();
                decs.push((f.name(), all.len(), preset_decoder(f, &all).unwrap()));
            }
            decs.push((
                "logfmt",
                2,
                logfmt_decoder(&strings(&["uid", "rhost"])).unwrap(),
            ));
            decs.push((
                "jsonl",
                1,
                crate::decode::json::json_decoder(&strings(&["a"])).unwrap(),
            ));
            for (name, n, d) in decs.iter_mut() {
                let mut ok = 0;
                let mut reasons: std::collections::BTreeMap<String, (usize, usize)> =
                    Default::default();
                let mut present = vec![0usize; *n];
                for (no, line) in lines.iter().enumerate() {
                    let mut slots = FieldSlots::new(*n);
                    match d.decode(line, &mut slots) {
                        Ok(()) => {
                            ok += 1;
                            for (i, p) in present.iter_mut().enumerate() {
                                *p += slots.is_set(i) as usize;
                            }
                        }
                        Err(e) => {
                            // group messages by their text without byte offsets
                            let key = e.to_string().split(" at byte").next().unwrap().to_string();
                            reasons.entry(key).or_insert((0, no + 1)).0 += 1;
                        }
                    }
                }
                println!(
                    "  {name:7} ok={ok} failed={} present={present:?}",
                    lines.len() - ok
                );
                for (r, (c, first)) in reasons {
                    println!("      {c:5} x {r} (first at line {first})");
                }
            }
        }
    }
}
