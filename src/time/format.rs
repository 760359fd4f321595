//! Writing a time back out as RFC 3339 in UTC with milliseconds
//! (`2026-01-01T00:01:00.000Z`), appended to a caller's buffer for the
//! report, alert and checkpoint writers. Owns formatting only: must not
//! parse, and must stay allocation-free for years 0 to 9999.

use super::calendar::civil_from_days;

fn push2(out: &mut Vec<u8>, v: i64) {
    out.push(b'0' + (v / 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

/// Appends `ms` as `2026-01-01T00:01:00.000Z`.
pub fn format_rfc3339_ms(ms: i64, out: &mut Vec<u8>) {
    let days = ms.div_euclid(86_400_000);
    let rest = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    if (0..=9999).contains(&y) {
        push2(out, y / 100);
        push2(out, y % 100);
    } else {
        out.extend_from_slice(format!("{y:04}").as_bytes());
    }
    out.push(b'-');
    push2(out, m);
    out.push(b'-');
    push2(out, d);
    out.push(b'T');
    push2(out, rest / 3_600_000);
    out.push(b':');
    push2(out, rest / 60_000 % 60);
    out.push(b':');
    push2(out, rest / 1000 % 60);
    out.push(b'.');
    let milli = rest % 1000;
    out.push(b'0' + (milli / 100) as u8);
    push2(out, milli % 100);
    out.push(b'Z');
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse_rfc3339;
    use super::super::tests::{fmt, T2026};

    #[test]
    fn formatting_round_trips() {
        assert_eq!(fmt(T2026 + 60_000), "2026-01-01T00:01:00.000Z");
        assert_eq!(fmt(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(fmt(-1), "1969-12-31T23:59:59.999Z");
        for ms in [
            T2026 + 123,
            -86_400_001,
            951_782_400_000, /* 2000-02-29 */
            4_102_444_800_000,
        ] {
            assert_eq!(parse_rfc3339(fmt(ms).as_bytes()), Some(ms), "{}", fmt(ms));
        }
    }
}
