//! Compiled strftime patterns (`--time-format '%d/%b/%Y:%H:%M:%S %z'`, the
//! syslog RFC 3164 form): the directives vigil supports, compiled once into
//! items, then matched against each field without allocating; the current
//! year for patterns without one. Owns `StrftimePattern` and its items. Must
//! not read RFC 3339 or epoch numbers itself (`parse`) or format times.

use super::calendar::{civil_from_days, days_from_civil, days_in_month, now_ms, valid_date};
use super::parse::{digits, fraction_ms, num, parse_offset};

/// One element of a compiled strftime pattern.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Item {
    Literal(u8),
    /// any run of spaces (a space in the pattern, or `%e`'s padding)
    Space,
    Year,
    Year2,
    Month,
    MonthName,
    Day,
    Hour,
    Minute,
    Second,
    /// `%f`: fraction digits (any number; milliseconds kept)
    Fraction,
    /// `%z`: `Z`, `+hh`, `+hhmm`, `+hh:mm`
    Offset,
    /// `%s`: epoch seconds
    Epoch,
    DayOfYear,
    /// `%a`/`%A`: a weekday name, read and ignored
    Weekday,
}

/// A compiled strftime pattern. Patterns without a year (`%Y`/`%y`/`%s`) take
/// the current UTC year, read once when the pattern is built; a time that
/// would then lie more than a day in the future is put in the previous year
/// (a log from late December read in early January).
#[derive(Debug, Clone, PartialEq)]
pub struct StrftimePattern {
    items: Vec<Item>,
    default_year: i64,
    /// the build instant, ms (for the previous-year rule)
    now_ms: i64,
    has_year: bool,
}

const MONTHS: [&[u8; 3]; 12] = [
    b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec",
];

impl StrftimePattern {
    pub fn compile(pattern: &str) -> Result<StrftimePattern, String> {
        let b = pattern.as_bytes();
        let mut items = Vec::new();
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            if c == b'%' {
                let Some(&d) = b.get(i + 1) else {
                    return Err(format!("time format '{pattern}': a lone '%' at the end"));
                };
                i += 2;
                match d {
                    b'Y' => items.push(Item::Year),
                    b'y' => items.push(Item::Year2),
                    b'm' => items.push(Item::Month),
                    b'b' | b'h' | b'B' => items.push(Item::MonthName),
                    b'a' | b'A' => items.push(Item::Weekday),
                    b'd' => items.push(Item::Day),
                    b'e' => {
                        items.push(Item::Space);
                        items.push(Item::Day);
                    }
                    b'H' => items.push(Item::Hour),
                    b'M' => items.push(Item::Minute),
                    b'S' => items.push(Item::Second),
                    b'f' => items.push(Item::Fraction),
                    b'z' | b'Z' => items.push(Item::Offset),
                    b's' => items.push(Item::Epoch),
                    b'j' => items.push(Item::DayOfYear),
                    b'T' => items.extend([Item::Hour, Item::Literal(b':'), Item::Minute, Item::Literal(b':'), Item::Second]),
                    b'F' => items.extend([Item::Year, Item::Literal(b'-'), Item::Month, Item::Literal(b'-'), Item::Day]),
                    b'D' => items.extend([Item::Month, Item::Literal(b'/'), Item::Day, Item::Literal(b'/'), Item::Year2]),
                    b'%' => items.push(Item::Literal(b'%')),
                    b'.' if b.get(i) == Some(&b'f') || (b.get(i).is_some_and(|x| x.is_ascii_digit()) && b.get(i + 1) == Some(&b'f')) => {
                        // %.f / %.3f: an optional '.' and fraction
                        items.push(Item::Literal(b'.'));
                        items.push(Item::Fraction);
                        i += if b[i] == b'f' { 1 } else { 2 };
                    }
                    other => {
                        return Err(format!(
                            "time format '{pattern}': unsupported directive %{}; supported: %Y %y %m %b %B %a %d %e %H %M %S %f %z %s %j %T %F %D %%",
                            other as char
                        ))
                    }
                }
            } else if c == b' ' {
                items.push(Item::Space);
                i += 1;
            } else {
                items.push(Item::Literal(c));
                i += 1;
            }
        }
        let has_year = items
            .iter()
            .any(|x| matches!(x, Item::Year | Item::Year2 | Item::Epoch));
        let now_ms = now_ms();
        let (y, _, _) = civil_from_days(now_ms.div_euclid(86_400_000));
        Ok(StrftimePattern {
            items,
            default_year: y,
            now_ms,
            has_year,
        })
    }

    pub(super) fn parse(&self, s: &[u8]) -> Option<i64> {
        let mut p = 0;
        let (mut year, mut month, mut day, mut hour, mut minute, mut second, mut frac) =
            (self.default_year, 1i64, 1i64, 0i64, 0i64, 0i64, 0i64);
        let mut offset_ms = 0i64;
        let mut epoch: Option<i64> = None;
        let mut yday: Option<i64> = None;
        for item in &self.items {
            match *item {
                Item::Literal(c) => {
                    if s.get(p) != Some(&c) {
                        return None;
                    }
                    p += 1;
                }
                Item::Space => {
                    while s.get(p) == Some(&b' ') {
                        p += 1;
                    }
                }
                Item::Year => {
                    let neg = s.get(p) == Some(&b'-');
                    if neg {
                        p += 1;
                    }
                    let (v, n) = digits(&s[p..], 4, 4)?;
                    p += n;
                    year = if neg { -v } else { v };
                }
                Item::Year2 => {
                    let (v, n) = digits(&s[p..], 2, 2)?;
                    p += n;
                    year = if v < 69 { 2000 + v } else { 1900 + v };
                }
                Item::Month => (month, p) = num(s, p, 1, 2)?,
                Item::Day => (day, p) = num(s, p, 1, 2)?,
                Item::Hour => (hour, p) = num(s, p, 1, 2)?,
                Item::Minute => (minute, p) = num(s, p, 1, 2)?,
                Item::Second => (second, p) = num(s, p, 1, 2)?,
                Item::DayOfYear => {
                    let (v, np) = num(s, p, 1, 3)?;
                    yday = Some(v);
                    p = np;
                }
                Item::MonthName => {
                    let name = s.get(p..p + 3)?;
                    let lower = [
                        name[0].to_ascii_lowercase(),
                        name[1].to_ascii_lowercase(),
                        name[2].to_ascii_lowercase(),
                    ];
                    month = MONTHS.iter().position(|m| **m == lower)? as i64 + 1;
                    p += 3;
                    // a full name (%B): skip the rest of the word
                    while s.get(p).is_some_and(|c| c.is_ascii_alphabetic()) {
                        p += 1;
                    }
                }
                Item::Weekday => {
                    let start = p;
                    while s.get(p).is_some_and(|c| c.is_ascii_alphabetic()) {
                        p += 1;
                    }
                    if p - start < 3 {
                        return None;
                    }
                }
                Item::Fraction => {
                    let (ms, n) = fraction_ms(&s[p..]);
                    if n == 0 {
                        return None;
                    }
                    frac = ms;
                    p += n;
                }
                Item::Offset => {
                    let (off, n) = parse_offset(&s[p..])?;
                    offset_ms = off;
                    p += n;
                }
                Item::Epoch => {
                    let neg = s.get(p) == Some(&b'-');
                    let (v, n) = digits(&s[p + neg as usize..], 1, 12)?;
                    p += n + neg as usize;
                    epoch = Some(if neg { -v } else { v });
                }
            }
        }
        if p != s.len() {
            return None;
        }
        if let Some(e) = epoch {
            return Some(e * 1000 + frac);
        }
        let days = match yday {
            Some(d) if (1..=366).contains(&d) => days_from_civil(year, 1, 1) + d - 1,
            Some(_) => return None,
            None => {
                if !valid_date(year, month, day) {
                    return None;
                }
                days_from_civil(year, month, day)
            }
        };
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        let mut t = days * 86_400_000 + hour * 3_600_000 + minute * 60_000 + second * 1000 + frac
            - offset_ms;
        if !self.has_year && t > self.now_ms + 86_400_000 {
            // A year-less time more than a day ahead belongs to last year.
            let prev = days_from_civil(year - 1, month, day.min(days_in_month(year - 1, month)));
            t = prev * 86_400_000 + hour * 3_600_000 + minute * 60_000 + second * 1000 + frac
                - offset_ms;
        }
        Some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::super::calendar::{civil_from_days, days_from_civil, now_ms};
    use super::super::tests::T2026;
    use super::super::TimeFormat;

    #[test]
    fn strftime_patterns() {
        let apache = TimeFormat::from_spec("%d/%b/%Y:%H:%M:%S %z").unwrap();
        assert_eq!(apache.parse(b"01/Jan/2026:01:00:00 +0100"), Some(T2026));
        assert_eq!(apache.parse(b"01/jan/2026:00:00:00 -0000"), Some(T2026));
        assert_eq!(apache.parse(b"01/Jxn/2026:00:00:00 +0000"), None);
        let nab = TimeFormat::from_spec("%Y-%m-%d %H:%M:%S").unwrap();
        assert_eq!(nab.parse(b"2026-01-01 00:00:05"), Some(T2026 + 5000));
        assert_eq!(nab.parse(b"2026-01-01 00:00:05x"), None);
        let apache_error = TimeFormat::from_spec("%a %b %d %H:%M:%S %Y").unwrap();
        assert_eq!(apache_error.parse(b"Thu Jan 01 00:00:00 2026"), Some(T2026));
        let long = TimeFormat::from_spec("%A, %B %d %Y %H:%M").unwrap();
        assert_eq!(long.parse(b"Thursday, January 01 2026 00:00"), Some(T2026));
        let frac = TimeFormat::from_spec("%s.%f").unwrap();
        assert_eq!(frac.parse(b"1767225600.042"), Some(T2026 + 42));
        assert!(TimeFormat::from_spec("%Q").unwrap_err().contains("%Q"));
        assert!(TimeFormat::from_spec("bogus")
            .unwrap_err()
            .contains("expected auto"));
    }

    #[test]
    fn syslog_without_year_uses_this_year_or_the_last() {
        let s = TimeFormat::syslog();
        let (year, _, _) = civil_from_days(now_ms().div_euclid(86_400_000));
        let t = s.parse(b"Jan  1 00:00:00").unwrap();
        assert_eq!(t, days_from_civil(year, 1, 1) * 86_400_000);
        assert_eq!(s.parse(b"2026-01-01T00:00:00Z"), Some(T2026));
        // Dec 31 23:59 of this year is in the future unless today is Dec 31: then last year.
        let dec = s.parse(b"Dec 31 23:59:59").unwrap();
        assert!(dec <= now_ms() + 86_400_000);
    }
}
