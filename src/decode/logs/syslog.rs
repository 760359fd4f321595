//! syslog lines: RFC 3164 (BSD, as written by rsyslog/syslogd to files) and
//! RFC 5424.
//!
//! Owns the syslog header parser (also used by sniffing). Must not touch the
//! other formats, time parsing or `decode/mod.rs`.
//!
//! Semantics:
//! - RFC 3164: `[<PRI>]Mmm dd hh:mm:ss host tag[pid]: message`. The day may be
//!   space-padded (`Jul  1`). rsyslog's high-precision variant, an RFC 3339
//!   timestamp instead of `Mmm dd hh:mm:ss`, is accepted too. `timestamp` is
//!   the timestamp text as written (no year for the BSD form).
//!   - host: the first token after the timestamp, unless that token ends with
//!     `:` or contains `[` (then it is the tag and the host is missing, as in
//!     lines logged without a hostname).
//!   - app: the tag up to `[`, `:` or a space (`sshd(pam_unix)` stays whole);
//!     pid: between `[` and `]`; message: the rest after `: ` (after the tag
//!     and one space when there is no colon, e.g. `syslogd 1.4.1: restart.`).
//! - RFC 5424: `<PRI>VERSION TIMESTAMP HOST APP PROCID MSGID SD [MSG]`; `-`
//!   (nil) is missing; `structured_data` is the raw `[...]` text; a UTF-8 BOM
//!   at the start of MSG is dropped.
//! - `priority` is the PRI number (0-191), `facility` = PRI / 8,
//!   `severity` = PRI % 8; all three missing without `<PRI>`.
//! - A line without a recognisable timestamp (or with a broken 5424 header)
//!   is a [`DecodeError`] saying what was expected.

use super::{Val, MAX_PRESET_FIELDS};
use crate::decode::DecodeError;

pub(super) const FIELDS: &[&str] = &[
    "timestamp",
    "host",
    "app",
    "pid",
    "message",
    "priority",
    "facility",
    "severity",
    "msgid",
    "structured_data",
];

const TIMESTAMP: usize = 0;
const HOST: usize = 1;
const APP: usize = 2;
const PID: usize = 3;
const MESSAGE: usize = 4;
const PRIORITY: usize = 5;
const FACILITY: usize = 6;
const SEVERITY: usize = 7;
const MSGID: usize = 8;
const SD: usize = 9;

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

#[cold]
fn err(what: &str, at: usize, line: &[u8]) -> DecodeError {
    let end = if at >= line.len() {
        " (end of line)"
    } else {
        ""
    };
    DecodeError::new(format!("syslog: expected {what} at byte {at}{end}"))
}

/// Length of `<PRI>` at the start of `b` and its value.
fn pri(b: &[u8]) -> Option<(usize, u32)> {
    if b.first() != Some(&b'<') {
        return None;
    }
    let digits = b[1..]
        .iter()
        .take(4)
        .take_while(|c| c.is_ascii_digit())
        .count();
    if !(1..=3).contains(&digits) || b.get(1 + digits) != Some(&b'>') {
        return None;
    }
    let v = b[1..1 + digits]
        .iter()
        .fold(0u32, |a, &c| a * 10 + (c - b'0') as u32);
    Some((digits + 2, v))
}

/// `Mmm dd hh:mm:ss` (day space- or zero-padded) at the start of `b`.
fn bsd_timestamp(b: &[u8]) -> bool {
    let d = |i: usize| b[i].is_ascii_digit();
    b.len() >= 15
        && MONTHS.iter().any(|m| b[..3] == m[..])
        && b[3] == b' '
        && (b[4] == b' ' || d(4))
        && d(5)
        && b[6] == b' '
        && d(7)
        && d(8)
        && b[9] == b':'
        && d(10)
        && d(11)
        && b[12] == b':'
        && d(13)
        && d(14)
}

/// `YYYY-` at the start of `b` (RFC 3339 timestamp as written by rsyslog).
fn iso_start(b: &[u8]) -> bool {
    b.len() >= 5 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-'
}

pub(super) fn looks_like_syslog(line: &[u8]) -> bool {
    pri(line).is_some() || (bsd_timestamp(line) && line.get(15) == Some(&b' '))
}

fn token_end(line: &[u8], from: usize) -> usize {
    memchr::memchr(b' ', &line[from..]).map_or(line.len(), |o| from + o)
}

/// Parses one syslog line into `vals` (indexed like [`FIELDS`]).
pub(super) fn parse(line: &[u8], vals: &mut [Val; MAX_PRESET_FIELDS]) -> Result<(), DecodeError> {
    let n = line.len();
    let mut i = 0;
    if line.first() == Some(&b'<') {
        let Some((len, p)) = pri(line) else {
            return Err(err("'<PRI>' (1 to 3 digits, then '>')", 1, line));
        };
        if p > 191 {
            return Err(err("a priority of at most 191", 1, line));
        }
        vals[PRIORITY] = Val::Line(1, len - 1);
        vals[FACILITY] = Val::Num(p / 8);
        vals[SEVERITY] = Val::Num(p % 8);
        i = len;
        // RFC 5424: VERSION (1-2 digits, not 0) then a space
        let v = line[i..]
            .iter()
            .take(3)
            .take_while(|c| c.is_ascii_digit())
            .count();
        if (1..=2).contains(&v) && line[i] != b'0' && line.get(i + v) == Some(&b' ') {
            return parse_5424(line, i + v + 1, vals);
        }
    }
    // RFC 3164
    let ts_end = if bsd_timestamp(&line[i..]) {
        i + 15
    } else if iso_start(&line[i..]) {
        token_end(line, i)
    } else {
        return Err(err(
            "a timestamp 'Mmm dd hh:mm:ss' or RFC 3339, or an RFC 5424 header",
            i,
            line,
        ));
    };
    vals[TIMESTAMP] = Val::Line(i, ts_end);
    i = ts_end;
    if i == n {
        return Ok(());
    }
    if line[i] != b' ' {
        return Err(err("' ' after the timestamp", i, line));
    }
    let skip = |mut i: usize| {
        while i < n && line[i] == b' ' {
            i += 1;
        }
        i
    };
    i = skip(i);
    if i == n {
        return Ok(());
    }
    let first_end = token_end(line, i);
    let first = &line[i..first_end];
    if !(first.ends_with(b":") || first.contains(&b'[')) {
        vals[HOST] = Val::token(line, i, first_end);
        i = skip(first_end);
        if i == n {
            return Ok(());
        }
    }
    // tag
    let app_start = i;
    while i < n && !matches!(line[i], b' ' | b'[' | b':') {
        i += 1;
    }
    if i > app_start {
        vals[APP] = Val::token(line, app_start, i);
    }
    if i < n && line[i] == b'[' {
        let tag_end = token_end(line, i);
        match memchr::memchr(b']', &line[i..tag_end]) {
            Some(o) => {
                vals[PID] = Val::token(line, i + 1, i + o);
                i += o + 1;
            }
            None => {
                // no closing bracket: the whole token is the app name
                vals[APP] = Val::token(line, app_start, tag_end);
                i = tag_end;
            }
        }
    }
    if i < n && line[i] == b':' {
        i += 1;
    }
    if i < n && line[i] == b' ' {
        i += 1;
    }
    if i < n {
        vals[MESSAGE] = Val::token(line, i, n);
    }
    Ok(())
}

fn parse_5424(
    line: &[u8],
    mut i: usize,
    vals: &mut [Val; MAX_PRESET_FIELDS],
) -> Result<(), DecodeError> {
    let n = line.len();
    for (field, what) in [
        (TIMESTAMP, "TIMESTAMP"),
        (HOST, "HOSTNAME"),
        (APP, "APP-NAME"),
        (PID, "PROCID"),
        (MSGID, "MSGID"),
    ] {
        let e = token_end(line, i);
        if e == i || e == n {
            return Err(err(&format!("{what} then ' ' (RFC 5424)"), e, line));
        }
        vals[field] = Val::token(line, i, e);
        i = e + 1;
    }
    // STRUCTURED-DATA: '-' or one or more [id k="v" ...] elements
    let sd_start = i;
    let first = line.get(i).copied();
    if first == Some(b'-') {
        i += 1;
    } else if first == Some(b'[') {
        while i < n && line[i] == b'[' {
            let mut j = i + 1;
            let mut quoted = false;
            loop {
                if j >= n {
                    return Err(err("']' closing the structured data (RFC 5424)", n, line));
                }
                match line[j] {
                    b'\\' => j += 1,
                    b'"' => quoted = !quoted,
                    b']' if !quoted => break,
                    _ => {}
                }
                j += 1;
            }
            i = j + 1;
        }
        vals[SD] = Val::Line(sd_start, i);
    } else {
        return Err(err("'-' or '[' (RFC 5424 structured data)", i, line));
    }
    if i == n {
        return Ok(());
    }
    if line[i] != b' ' {
        return Err(err("' ' before the message (RFC 5424)", i, line));
    }
    i += 1;
    if line[i..].starts_with(b"\xef\xbb\xbf") {
        i += 3;
    }
    if i < n {
        vals[MESSAGE] = Val::token(line, i, n);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::preset_decoder;
    use super::super::tests::{run, strings};
    use super::*;
    use crate::decode::{FieldSlots, Format};

    fn all(line: &[u8]) -> Result<Vec<Option<String>>, DecodeError> {
        let mut d = preset_decoder(Format::Syslog, &strings(FIELDS)).unwrap();
        run(&mut *d, FIELDS.len(), line)
    }

    fn some(v: &[Option<&str>]) -> Vec<Option<String>> {
        v.iter().map(|s| s.map(String::from)).collect()
    }

    #[test]
    fn rfc3164_file_lines() {
        let got = all(b"Feb  3 07:08:09 web1 nginx(worker)[4242]: upstream timed out ").unwrap();
        assert_eq!(
            got,
            some(&[
                Some("Feb  3 07:08:09"),
                Some("web1"),
                Some("nginx(worker)"),
                Some("4242"),
                Some("upstream timed out "),
                None,
                None,
                None,
                None,
                None
            ])
        );
        let got = all(b"Nov 30 23:59:59 gw kernel: eth0: link up").unwrap();
        assert_eq!(
            got[1..5],
            some(&[Some("gw"), Some("kernel"), None, Some("eth0: link up")])
        );
        // tag without colon: the app is the first word
        let got = all(b"Jan 11 04:09:11 box ntpd 4.2.8: started").unwrap();
        assert_eq!(
            got[2..5],
            some(&[Some("ntpd"), None, Some("4.2.8: started")])
        );
        // no hostname
        let got = all(b"Jan 11 04:09:11 cron[77]: tick").unwrap();
        assert_eq!(
            got[1..5],
            some(&[None, Some("cron"), Some("77"), Some("tick")])
        );
        // only a timestamp and a host
        let got = all(b"Jan 11 04:09:11 box").unwrap();
        assert_eq!(
            got[..3],
            some(&[Some("Jan 11 04:09:11"), Some("box"), None])
        );
    }

    #[test]
    fn rfc3164_with_pri_and_iso_timestamp() {
        let got = all(b"<86>Mar 14 01:02:03 h su[9]: ok").unwrap();
        assert_eq!(got[5..8], some(&[Some("86"), Some("10"), Some("6")]));
        assert_eq!(got[0], Some("Mar 14 01:02:03".into()));
        let got = all(b"<0>2024-05-06T07:08:09.123+02:00 h app: m").unwrap();
        assert_eq!(
            got[..5],
            some(&[
                Some("2024-05-06T07:08:09.123+02:00"),
                Some("h"),
                Some("app"),
                None,
                Some("m")
            ])
        );
        assert_eq!(got[5..8], some(&[Some("0"), Some("0"), Some("0")]));
    }

    #[test]
    fn rfc5424() {
        let line = b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Appl\\]ication\"][x@1] \xef\xbb\xbfAn application event";
        let got = all(line).unwrap();
        assert_eq!(
            got,
            some(&[
                Some("2003-10-11T22:14:15.003Z"),
                Some("mymachine.example.com"),
                Some("evntslog"),
                None,
                Some("An application event"),
                Some("165"),
                Some("20"),
                Some("5"),
                Some("ID47"),
                Some("[exampleSDID@32473 iut=\"3\" eventSource=\"Appl\\]ication\"][x@1]"),
            ])
        );
        let got = all(b"<13>1 - - - - - -").unwrap();
        assert_eq!(got[..5], some(&[None, None, None, None, None]));
        assert_eq!(got[9], None);
    }

    #[test]
    fn errors() {
        let msg = |l: &[u8]| all(l).unwrap_err().to_string();
        assert_eq!(
            msg(b"[Sun Dec 04 04:47:44 2005] [notice] x"),
            "syslog: expected a timestamp 'Mmm dd hh:mm:ss' or RFC 3339, or an RFC 5424 header at byte 0"
        );
        assert!(msg(b"Jun 4 15:16:01 h a: m").contains("at byte 0"));
        assert_eq!(
            msg(b"<999>Jun 14 15:16:01 h a: m"),
            "syslog: expected a priority of at most 191 at byte 1"
        );
        assert!(msg(b"<1x>Jun").contains("'<PRI>'"));
        assert_eq!(
            msg(b"<13>1 2003-10-11T22:14:15Z host"),
            "syslog: expected HOSTNAME then ' ' (RFC 5424) at byte 31 (end of line)"
        );
        assert!(msg(b"<13>1 t h a p m [x a=\"]").contains("']' closing the structured data"));
        assert!(msg(b"<13>1 t h a p m x").contains("'-' or '['"));
        assert!(msg(b"<13>1 t h a p m ")
            .contains("'-' or '[' (RFC 5424 structured data) at byte 16 (end of line)"));
        assert!(msg(b"Jun 14 15:16:01x").contains("' ' after the timestamp"));
    }

    #[test]
    fn non_utf8_and_cr_in_message() {
        let line = b"Jun 14 15:16:01 h\xff a[1]: m\r\xfe";
        let mut d = preset_decoder(Format::Syslog, &strings(&["host", "message"])).unwrap();
        let mut slots = FieldSlots::new(2);
        d.decode(line, &mut slots).unwrap();
        assert_eq!(slots.get(line, 0), Some(&b"h\xff"[..]));
        assert_eq!(slots.get(line, 1), Some(&b"m\r\xfe"[..]));
    }
}
