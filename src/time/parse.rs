//! Reading event times that need no pattern: RFC 3339 / ISO 8601 (with or
//! without `T`, fraction and offset) and epoch numbers (by magnitude or a
//! fixed unit), plus the digit, fraction and offset readers `strftime` and
//! `duration` share. Returns any time it can express; the years 1 to 9999
//! bound is `TimeFormat::parse_checked`'s (`mod.rs`). Must not allocate on
//! the parse path, format times or know about patterns.

use super::calendar::cached_days;

pub(super) fn trim(b: &[u8]) -> &[u8] {
    let b = b.trim_ascii();
    // quoted times in CSV arrive unquoted; JSON strings too. Tolerate stray quotes.
    b.strip_prefix(b"\"")
        .and_then(|x| x.strip_suffix(b"\""))
        .unwrap_or(b)
}

/// Reads between `min` and `max` ASCII digits; (value, count).
#[inline]
pub(super) fn digits(s: &[u8], min: usize, max: usize) -> Option<(i64, usize)> {
    let mut v = 0i64;
    let mut n = 0;
    while n < max && n < s.len() && s[n].is_ascii_digit() {
        v = v * 10 + (s[n] - b'0') as i64;
        n += 1;
    }
    if n < min {
        None
    } else {
        Some((v, n))
    }
}

#[inline]
pub(super) fn num(s: &[u8], p: usize, min: usize, max: usize) -> Option<(i64, usize)> {
    let (v, n) = digits(s.get(p..)?, min, max)?;
    Some((v, p + n))
}

/// Fraction digits after a '.', as milliseconds (truncated); (ms, digits read).
#[inline]
pub(super) fn fraction_ms(s: &[u8]) -> (i64, usize) {
    let mut ms = 0i64;
    let mut n = 0;
    while n < s.len() && s[n].is_ascii_digit() {
        if n < 3 {
            ms = ms * 10 + (s[n] - b'0') as i64;
        }
        n += 1;
    }
    for _ in n..3 {
        ms *= 10;
    }
    (ms, n)
}

/// `Z`, `z`, `+hh`, `+hhmm`, `+hh:mm` (and `-`); (offset ms, bytes read).
pub(super) fn parse_offset(s: &[u8]) -> Option<(i64, usize)> {
    match s.first()? {
        b'Z' | b'z' => Some((0, 1)),
        &sign @ (b'+' | b'-') => {
            let (h, _) = digits(s.get(1..3)?, 2, 2)?;
            let mut n = 3;
            let mut m = 0;
            if s.get(3) == Some(&b':') {
                m = digits(s.get(4..6)?, 2, 2)?.0;
                n = 6;
            } else if s.len() >= 5 && s[3].is_ascii_digit() {
                m = digits(&s[3..5], 2, 2)?.0;
                n = 5;
            }
            if h > 23 || m > 59 {
                return None;
            }
            let off = (h * 60 + m) * 60_000;
            Some((if sign == b'-' { -off } else { off }, n))
        }
        _ => None,
    }
}

/// RFC 3339 / ISO 8601: `YYYY-MM-DD`, then optionally `T` or space and
/// `hh:mm[:ss[.fff...]]`, then optionally `Z` or an offset. No offset means UTC.
pub fn parse_rfc3339(s: &[u8]) -> Option<i64> {
    parse_rfc3339_ms(s)
        .or_else(|| parse_rfc3339_fixed(s))
        .or_else(|| parse_rfc3339_general(s))
}

/// Eight bytes of `s` from `at`, little-endian (byte `at` lowest).
#[inline(always)]
fn word(s: &[u8; 24], at: usize) -> u64 {
    u64::from_le_bytes(s[at..at + 8].try_into().expect("8 bytes"))
}

/// A mask with 0xff at the given byte positions of a word.
const fn byte_mask(at: &[usize]) -> u64 {
    let mut m = 0u64;
    let mut i = 0;
    while i < at.len() {
        m |= 0xff << (8 * at[i]);
        i += 1;
    }
    m
}

/// `b` at every byte of a word.
const fn bytes(b: u8) -> u64 {
    u64::from_le_bytes([b; 8])
}

/// True when every byte of `v` under `mask` is an ASCII digit: its high
/// nibble is 3, and adding 6 keeps it 3 (0x3a-0x3f would become 0x40-0x45).
#[inline(always)]
fn all_digits(v: u64, mask: u64) -> bool {
    let x = v & mask;
    let high = bytes(0xf0) & mask;
    let three = bytes(0x30) & mask;
    x & high == three && (x + (bytes(0x06) & mask)) & high == three
}

/// The one layout nearly every machine writes, `YYYY-MM-DDThh:mm:ss.fffZ`
/// (24 bytes), read as three 8-byte words: the separators and the digits
/// are checked a word at a time, and the minute (the first sixteen bytes)
/// and the date (the first ten) are looked up by their bytes in the last
/// time this thread read, so mostly only the seconds are converted. None
/// for anything else (`parse_rfc3339_fixed` and the general reader decide
/// those); where this gives a time, it is the general reader's time
/// (tested).
#[inline(always)]
pub(super) fn parse_rfc3339_ms(s: &[u8]) -> Option<i64> {
    const SEP_B: (u64, u64) = (
        byte_mask(&[2, 5]),
        u64::from_le_bytes([0, 0, b'T', 0, 0, b':', 0, 0]),
    );
    const SEP_C: (u64, u64) = (
        byte_mask(&[0, 3, 7]),
        u64::from_le_bytes([b':', 0, 0, b'.', 0, 0, 0, b'Z']),
    );
    const DIGITS_B: u64 = byte_mask(&[0, 1, 3, 4, 6, 7]);
    const DIGITS_C: u64 = byte_mask(&[1, 2, 4, 5, 6]);
    let s: &[u8; 24] = s.try_into().ok()?;
    // "YYYY-MM-", "DDThh:mm", ":ss.fffZ"
    let (a, b, c) = (word(s, 0), word(s, 8), word(s, 16));
    if c & SEP_C.0 != SEP_C.1 || !all_digits(c, DIGITS_C) {
        return None;
    }
    let last = LAST_READ.with(|l| l.get());
    // The minute is the last one read (nearly every record of a log): only
    // the seconds are new. The cache only ever holds words that were checked
    // (it starts at the epoch's), so a match needs no check of its own.
    let minute_ms = if (a, b) == (last.date, last.minute) {
        last.minute_ms
    } else {
        if b & SEP_B.0 != SEP_B.1 || !all_digits(b, DIGITS_B) {
            return None;
        }
        let dd = b & 0xffff;
        let days = if (a, dd) == (last.date, last.minute & 0xffff) {
            last.days
        } else {
            const DASHES: (u64, u64) = (
                byte_mask(&[4, 7]),
                u64::from_le_bytes([0, 0, 0, 0, b'-', 0, 0, b'-']),
            );
            if a & DASHES.0 != DASHES.1 || !all_digits(a, byte_mask(&[0, 1, 2, 3, 5, 6])) {
                return None;
            }
            let d = |i: usize| (s[i] - b'0') as i64;
            let year = d(0) * 1000 + d(1) * 100 + d(2) * 10 + d(3);
            cached_days(year, d(5) * 10 + d(6), d(8) * 10 + d(9))?
        };
        let xb = b - (bytes(b'0') & DIGITS_B);
        let at = |i: usize| ((xb >> (8 * i)) & 0xff) as i64;
        let (hour, minute) = (at(3) * 10 + at(4), at(6) * 10 + at(7));
        if hour > 23 || minute > 59 {
            return None;
        }
        let minute_ms = days * 86_400_000 + hour * 3_600_000 + minute * 60_000;
        LAST_READ.with(|l| {
            l.set(LastRead {
                date: a,
                minute: b,
                days,
                minute_ms,
            })
        });
        minute_ms
    };
    let xc = c - (bytes(b'0') & DIGITS_C);
    let at = |i: usize| ((xc >> (8 * i)) & 0xff) as i64;
    let second = at(1) * 10 + at(2);
    let milli = at(4) * 100 + at(5) * 10 + at(6);
    if second > 60 {
        return None;
    }
    Some(minute_ms + second * 1000 + milli)
}

/// The date and minute words of the last valid time `parse_rfc3339_ms`
/// read on this thread, with their values; before the first, those of
/// 1970-01-01T00:00.
#[derive(Clone, Copy)]
struct LastRead {
    /// "YYYY-MM-"
    date: u64,
    /// "DDThh:mm"
    minute: u64,
    /// days since the epoch of the date
    days: i64,
    /// ms since the epoch of the minute
    minute_ms: i64,
}

thread_local! {
    static LAST_READ: std::cell::Cell<LastRead> = const {
        std::cell::Cell::new(LastRead {
            date: u64::from_le_bytes(*b"1970-01-"),
            minute: u64::from_le_bytes(*b"01T00:00"),
            days: 0,
            minute_ms: 0,
        })
    };
}

fn parse_rfc3339_general(s: &[u8]) -> Option<i64> {
    if s.len() < 10 || s[4] != b'-' || s[7] != b'-' {
        return None;
    }
    let year = digits(&s[0..4], 4, 4)?.0;
    let month = digits(&s[5..7], 2, 2)?.0;
    let day = digits(&s[8..10], 2, 2)?.0;
    let mut ms = cached_days(year, month, day)? * 86_400_000;
    if s.len() == 10 {
        return Some(ms);
    }
    if !matches!(s[10], b'T' | b't' | b' ') || s.len() < 16 || s[13] != b':' {
        return None;
    }
    let hour = digits(&s[11..13], 2, 2)?.0;
    let minute = digits(&s[14..16], 2, 2)?.0;
    let mut p = 16;
    let mut second = 0;
    if s.get(p) == Some(&b':') {
        second = digits(s.get(p + 1..p + 3)?, 2, 2)?.0;
        p += 3;
        if matches!(s.get(p), Some(b'.') | Some(b',')) {
            let (f, n) = fraction_ms(&s[p + 1..]);
            if n == 0 {
                return None;
            }
            ms += f;
            p += 1 + n;
        }
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    ms += hour * 3_600_000 + minute * 60_000 + second * 1000;
    if p < s.len() {
        let (off, n) = parse_offset(&s[p..])?;
        if p + n != s.len() {
            return None;
        }
        ms -= off;
    }
    Some(ms)
}

/// The layout most logs and exports write, `YYYY-MM-DDThh:mm:ss[.f...]Z`,
/// read at fixed offsets with one digit check for all fourteen digits. None
/// for anything else, which `parse_rfc3339`'s general reader then decides;
/// where this returns a time, it is the general reader's time (tested).
#[inline]
fn parse_rfc3339_fixed(s: &[u8]) -> Option<i64> {
    const DIGITS: [usize; 14] = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18];
    let b: &[u8; 20] = s.get(..20)?.try_into().ok()?;
    if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let mut bad = false;
    for i in DIGITS {
        bad |= b[i].wrapping_sub(b'0') > 9;
    }
    if bad {
        return None;
    }
    let d = |i: usize| (b[i] - b'0') as i64;
    let two = |i: usize| d(i) * 10 + d(i + 1);
    let year = two(0) * 100 + two(2);
    let (month, day) = (two(5), two(8));
    let (hour, minute, second) = (two(11), two(14), two(17));
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut frac = 0;
    if rest[0] == b'.' {
        // up to three digits count (milliseconds, truncated), any more are read
        let mut n = 1;
        while n < rest.len() && rest[n].is_ascii_digit() {
            if n <= 3 {
                frac = frac * 10 + (rest[n] - b'0') as i64;
            }
            n += 1;
        }
        if n == 1 {
            return None;
        }
        for _ in n..4 {
            frac *= 10;
        }
        rest = &rest[n..];
    }
    if rest != b"Z" {
        return None;
    }
    let days = cached_days(year, month, day)?;
    Some(days * 86_400_000 + hour * 3_600_000 + minute * 60_000 + second * 1000 + frac)
}

/// An epoch number with an optional fraction and sign, scaled to ms by magnitude.
pub(super) fn parse_epoch_auto(s: &[u8]) -> Option<i64> {
    let v = parse_plain_number(s)?;
    let a = v.abs();
    let scale = if a < 1e11 {
        1000.0
    } else if a < 1e14 {
        1.0
    } else if a < 1e17 {
        0.001
    } else {
        0.000_001
    };
    scaled(s, v, scale)
}

pub(super) fn parse_epoch_scaled(s: &[u8], scale: f64) -> Option<i64> {
    let v = parse_plain_number(s)?;
    scaled(s, v, scale)
}

/// Integers are scaled exactly; decimals through f64.
fn scaled(s: &[u8], v: f64, scale: f64) -> Option<i64> {
    let int = s
        .iter()
        .enumerate()
        .all(|(i, c)| c.is_ascii_digit() || (i == 0 && *c == b'-'));
    if int {
        // Beyond i64 (or beyond it once scaled): a number, but no sane time;
        // saturated so the range check reports it as out of range.
        let n: i64 = match std::str::from_utf8(s).ok()?.parse() {
            Ok(n) => n,
            Err(_) => return Some(if s[0] == b'-' { i64::MIN } else { i64::MAX }),
        };
        return Some(if scale >= 1.0 {
            n.saturating_mul(scale as i64)
        } else {
            n.div_euclid((1.0 / scale).round() as i64)
        });
    }
    let ms = (v * scale).floor();
    // `as` saturates at the ends of i64; NaN cannot come from digits.
    ms.is_finite().then_some(ms as i64)
}

/// Digits with an optional sign and one optional '.'; no exponent.
fn parse_plain_number(s: &[u8]) -> Option<f64> {
    if s.is_empty() {
        return None;
    }
    let body = s.strip_prefix(b"-").unwrap_or(s);
    let mut dots = 0;
    if body.is_empty()
        || !body.iter().all(|c| {
            c.is_ascii_digit()
                || (*c == b'.' && {
                    dots += 1;
                    dots == 1
                })
        })
    {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::super::tests::T2026;
    use super::super::TimeFormat;
    use super::{parse_rfc3339, parse_rfc3339_fixed, parse_rfc3339_general, parse_rfc3339_ms};

    #[test]
    fn rfc3339_variants() {
        let a = TimeFormat::Auto;
        assert_eq!(a.parse(b"2026-01-01T00:00:00Z"), Some(T2026));
        assert_eq!(a.parse(b"2026-01-01 00:00:00"), Some(T2026));
        assert_eq!(a.parse(b"2026-01-01T01:00:00+01:00"), Some(T2026));
        assert_eq!(a.parse(b"2025-12-31T19:00:00-0500"), Some(T2026));
        assert_eq!(
            a.parse(b"2026-01-01T00:00:00.123456789Z"),
            Some(T2026 + 123)
        );
        assert_eq!(a.parse(b"2026-01-01T00:00:00.5"), Some(T2026 + 500));
        assert_eq!(a.parse(b"2026-01-01T00:01"), Some(T2026 + 60_000));
        assert_eq!(a.parse(b"2026-01-01"), Some(T2026));
        assert_eq!(a.parse(b"2024-02-29T00:00:00Z").map(|t| t > 0), Some(true));
        for bad in [
            &b"2026-13-01T00:00:00Z"[..],
            b"2026-02-29T00:00:00Z",
            b"2026-01-01T24:00:00Z",
            b"2026-01-01T00:00:00Q",
            b"2026-01-01T00:00:00.Z",
            b"yesterday",
            b"",
        ] {
            assert_eq!(a.parse(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn epoch_magnitudes() {
        let a = TimeFormat::Auto;
        assert_eq!(a.parse(b"1767225600"), Some(T2026));
        assert_eq!(a.parse(b"1767225600.25"), Some(T2026 + 250));
        assert_eq!(a.parse(b"1767225600000"), Some(T2026));
        assert_eq!(a.parse(b"1767225600000000"), Some(T2026));
        assert_eq!(a.parse(b"1767225600000000000"), Some(T2026));
        assert_eq!(a.parse(b"99999999999"), Some(99_999_999_999_000)); // below 1e11: seconds
        assert_eq!(a.parse(b"100000000000"), Some(100_000_000_000)); // 1e11: milliseconds
        assert_eq!(a.parse(b"-10"), Some(-10_000));
        assert_eq!(TimeFormat::UnixMs.parse(b"1500"), Some(1500));
        assert_eq!(TimeFormat::UnixUs.parse(b"1500"), Some(1));
        assert_eq!(TimeFormat::UnixNs.parse(b"-1"), Some(-1));
        assert_eq!(a.parse(b"1e9"), None);
    }

    #[test]
    fn the_minute_cache_before_any_read_matches_only_its_own_minute() {
        // a new thread: its cache of the last minute read is still empty
        std::thread::spawn(|| {
            let mut field = [0u8; 24];
            field[16..].copy_from_slice(b":00.000Z");
            assert_eq!(super::parse_rfc3339_ms(&field), None);
            assert_eq!(TimeFormat::Rfc3339.parse_any(&field), None);
            // the minute the empty cache starts with reads as itself
            assert_eq!(
                super::parse_rfc3339_ms(b"1970-01-01T00:00:05.007Z"),
                Some(5007)
            );
            assert_eq!(
                super::parse_rfc3339_ms(b"1970-01-01T00:01:00.000Z"),
                Some(60_000)
            );
        })
        .join()
        .unwrap();
    }

    #[test]
    fn the_fixed_layout_reader_agrees_with_the_general_one() {
        // Valid times of the fixed layout, and every one-byte change of them
        // (digits out of range, other separators, offsets, truncations):
        // wherever the fixed reader gives a time, the general one gives it too.
        let bases: [&[u8]; 9] = [
            b"2026-01-01T00:00:00.000Z",
            b"2024-02-29T23:59:60.999Z",
            b"2023-02-28T09:05:07.010Z",
            b"0001-01-01T00:00:00.000Z",
            b"1999-12-31T23:59:59Z",
            b"2024-02-29T12:34:56.789123Z",
            b"0001-01-01T00:00:00.5Z",
            b"9999-12-31T23:59:60.999Z",
            b"2023-02-29T10:00:00Z",
        ];
        let bytes = b"0123456789-:.,TtZz+ x";
        let mut fixed_hits = 0;
        let mut ms_hits = 0;
        for base in bases {
            let mut cases = vec![base.to_vec()];
            for at in 0..base.len() {
                for &b in bytes {
                    let mut c = base.to_vec();
                    c[at] = b;
                    cases.push(c);
                }
                cases.push(base[..at].to_vec());
            }
            cases.push([base, b"+01:00"].concat());
            for c in cases {
                // each case after its base, so the base's date is the one
                // the 24-byte reader remembers
                for d in [base, &c[..]] {
                    if let Some(t) = parse_rfc3339_ms(d) {
                        ms_hits += 1;
                        assert_eq!(
                            parse_rfc3339_general(d),
                            Some(t),
                            "{}",
                            String::from_utf8_lossy(d)
                        );
                    }
                }
                if let Some(t) = parse_rfc3339_fixed(&c) {
                    fixed_hits += 1;
                    assert_eq!(
                        parse_rfc3339_general(&c),
                        Some(t),
                        "{}",
                        String::from_utf8_lossy(&c)
                    );
                }
                assert_eq!(
                    parse_rfc3339(&c),
                    parse_rfc3339_general(&c),
                    "{}",
                    String::from_utf8_lossy(&c)
                );
                // the format reads the 24-byte layout before trimming: the
                // same time as trimming first, with spaces or quotes around
                for field in [
                    c.clone(),
                    [b" ", &c[..], b" "].concat(),
                    [b"\"", &c[..], b"\""].concat(),
                ] {
                    for f in [TimeFormat::Auto, TimeFormat::Rfc3339] {
                        let trimmed = super::trim(&field);
                        let want = if f == TimeFormat::Auto
                            && !(trimmed.len() >= 10 && trimmed[4] == b'-')
                        {
                            super::parse_epoch_auto(trimmed)
                        } else {
                            parse_rfc3339(trimmed)
                        };
                        assert_eq!(
                            f.parse_any(&field),
                            want,
                            "{}",
                            String::from_utf8_lossy(&field)
                        );
                    }
                }
            }
        }
        assert!(
            fixed_hits > 300,
            "the fixed reader took only {fixed_hits} cases"
        );
        assert!(
            ms_hits > 3000,
            "the 24-byte reader took only {ms_hits} cases"
        );
    }

    #[test]
    fn the_24_byte_reader_agrees_with_the_general_one_on_random_times() {
        // Random digits in the layout: invalid months, days (Feb 29-31 in
        // and out of leap years), hours, minutes and seconds included, in
        // runs that share a date and runs that do not.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let mut hits = 0;
        let mut date = String::new();
        for i in 0..200_000 {
            if i % 7 == 0 || date.is_empty() {
                date = format!(
                    "{:04}-{:02}-{:02}",
                    [0, 1, 1900, 2000, 2023, 2024, 9999][next(7) as usize] + next(3),
                    next(14),
                    next(33)
                );
            }
            let t = format!(
                "{date}T{:02}:{:02}:{:02}.{:03}Z",
                next(25),
                next(61),
                next(62),
                next(1000)
            );
            let got = parse_rfc3339(t.as_bytes());
            assert_eq!(got, parse_rfc3339_general(t.as_bytes()), "{t}");
            hits += got.is_some() as u32;
        }
        assert!(hits > 50_000, "only {hits} valid times");
    }
}
