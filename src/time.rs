//! Timestamps and durations: parsing event times into epoch milliseconds and
//! formatting them back as RFC 3339. Pure functions; no I/O, and no allocation
//! on the parse path (patterns are compiled once).

/// How an event-time field is read (`--time-format`).
#[derive(Debug, Clone, PartialEq)]
pub enum TimeFormat {
    /// RFC 3339 / ISO 8601 (with or without offset or `T`), or epoch numbers
    /// told apart by magnitude: below 1e11 seconds, 1e14 ms, 1e17 us, else ns.
    Auto,
    Rfc3339,
    UnixS,
    UnixMs,
    UnixUs,
    UnixNs,
    /// A strftime pattern, compiled once.
    Strftime(StrftimePattern),
    /// Syslog timestamps: RFC 3339 (RFC 5424, rsyslog) or RFC 3164
    /// `Mmm dd hh:mm:ss` without a year (see [`StrftimePattern`] for the year rule).
    Syslog(StrftimePattern),
}

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

    fn parse(&self, s: &[u8]) -> Option<i64> {
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

impl TimeFormat {
    /// Parses the `--time-format` value. Error text says what was expected.
    pub fn from_spec(spec: &str) -> Result<TimeFormat, String> {
        Ok(match spec {
            "auto" => TimeFormat::Auto,
            "rfc3339" | "iso8601" => TimeFormat::Rfc3339,
            "unix_s" | "unix" => TimeFormat::UnixS,
            "unix_ms" => TimeFormat::UnixMs,
            "unix_us" => TimeFormat::UnixUs,
            "unix_ns" => TimeFormat::UnixNs,
            "syslog" => TimeFormat::syslog(),
            s if s.contains('%') => TimeFormat::Strftime(StrftimePattern::compile(s)?),
            other => {
                return Err(format!(
                    "unknown time format '{other}'; expected auto, rfc3339, unix_s, unix_ms, unix_us, unix_ns, or a strftime pattern such as '%d/%b/%Y:%H:%M:%S %z'"
                ))
            }
        })
    }

    /// The syslog format: RFC 3339, else RFC 3164 `%b %e %H:%M:%S` in UTC.
    pub fn syslog() -> TimeFormat {
        TimeFormat::Syslog(StrftimePattern::compile("%b %e %H:%M:%S").expect("valid pattern"))
    }

    /// Parses one field into milliseconds since the Unix epoch, UTC. `None`
    /// if unparsable or outside the years 1 to 9999 ([`TimeFormat::parse_checked`] says which).
    #[inline]
    pub fn parse(&self, field: &[u8]) -> Option<i64> {
        self.parse_checked(field).ok()
    }

    /// Parses one field; an unreadable time and one outside
    /// [`MIN_TIME_MS`]..=[`MAX_TIME_MS`] are told apart, for the bad-record message.
    #[inline]
    pub fn parse_checked(&self, field: &[u8]) -> Result<i64, TimeError> {
        match self.parse_any(field) {
            None => Err(TimeError::Unreadable),
            Some(t) if (MIN_TIME_MS..=MAX_TIME_MS).contains(&t) => Ok(t),
            Some(_) => Err(TimeError::OutOfRange),
        }
    }

    /// Any time the format can express (epoch numbers saturate at the ends of i64).
    fn parse_any(&self, field: &[u8]) -> Option<i64> {
        let f = trim(field);
        match self {
            TimeFormat::Auto => {
                if f.len() >= 10 && f[4] == b'-' {
                    parse_rfc3339(f)
                } else {
                    parse_epoch_auto(f)
                }
            }
            TimeFormat::Rfc3339 => parse_rfc3339(f),
            TimeFormat::UnixS => parse_epoch_scaled(f, 1000.0),
            TimeFormat::UnixMs => parse_epoch_scaled(f, 1.0),
            TimeFormat::UnixUs => parse_epoch_scaled(f, 0.001),
            TimeFormat::UnixNs => parse_epoch_scaled(f, 0.000_001),
            TimeFormat::Strftime(p) => p.parse(f),
            TimeFormat::Syslog(p) => parse_rfc3339(f).or_else(|| p.parse(f)),
        }
    }
}

/// The earliest event time vigil takes: 0001-01-01T00:00:00.000Z. Times are
/// bounded to the years 1-9999 (what RFC 3339 writes with four digits), so
/// that window arithmetic on them, with durations up to [`MAX_DURATION_MS`],
/// stays far inside i64 and every time prints as a real date.
pub const MIN_TIME_MS: i64 = -62_135_596_800_000;
/// The latest event time vigil takes: 9999-12-31T23:59:59.999Z.
pub const MAX_TIME_MS: i64 = 253_402_300_799_999;
/// The longest duration any flag or rule takes (`--window`, `--slide`,
/// `--session`, `--max-delay`, `absent(DUR)`, ...): 36,500 days, about a
/// century. With times within [`MIN_TIME_MS`]..=[`MAX_TIME_MS`], any time
/// plus or minus a few such durations is nowhere near i64's range.
pub const MAX_DURATION_MS: i64 = 36_500 * 86_400_000;

/// Why a time field is not an event time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeError {
    /// not a time in the format
    Unreadable,
    /// a time, but before year 1 or after year 9999
    OutOfRange,
}

fn trim(b: &[u8]) -> &[u8] {
    let b = b.trim_ascii();
    // quoted times in CSV arrive unquoted; JSON strings too. Tolerate stray quotes.
    b.strip_prefix(b"\"")
        .and_then(|x| x.strip_suffix(b"\""))
        .unwrap_or(b)
}

/// Reads between `min` and `max` ASCII digits; (value, count).
#[inline]
fn digits(s: &[u8], min: usize, max: usize) -> Option<(i64, usize)> {
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
fn num(s: &[u8], p: usize, min: usize, max: usize) -> Option<(i64, usize)> {
    let (v, n) = digits(s.get(p..)?, min, max)?;
    Some((v, p + n))
}

/// Fraction digits after a '.', as milliseconds (truncated); (ms, digits read).
#[inline]
fn fraction_ms(s: &[u8]) -> (i64, usize) {
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
fn parse_offset(s: &[u8]) -> Option<(i64, usize)> {
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

/// An epoch number with an optional fraction and sign, scaled to ms by magnitude.
fn parse_epoch_auto(s: &[u8]) -> Option<i64> {
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

fn parse_epoch_scaled(s: &[u8], scale: f64) -> Option<i64> {
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

/// Days since the epoch of a valid date, remembering the last date asked for
/// on this thread: consecutive records nearly always share their date.
#[inline]
fn cached_days(y: i64, m: i64, d: i64) -> Option<i64> {
    thread_local! {
        static LAST: std::cell::Cell<(i64, i64)> = const { std::cell::Cell::new((-1, 0)) };
    }
    let packed = (y * 100 + m) * 100 + d;
    let (key, days) = LAST.with(|c| c.get());
    if key == packed {
        return Some(days);
    }
    if !valid_date(y, m, d) {
        return None;
    }
    let days = days_from_civil(y, m, d);
    LAST.with(|c| c.set((packed, days)));
    Some(days)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        _ => 28,
    }
}

fn valid_date(y: i64, m: i64, d: i64) -> bool {
    (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

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

/// Duration units, largest first: what `--window` and the other duration
/// flags accept (`500ms`, `10s`, `5m`, `1h`, `1d`, combined as `1h30m`).
pub const DURATION_UNITS: [(&str, i64); 5] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1000),
    ("ms", 1),
];

/// Unit spellings people try, and the unit vigil writes for them.
const UNIT_ALIASES: [(&str, &str); 16] = [
    ("msec", "ms"),
    ("msecs", "ms"),
    ("millis", "ms"),
    ("sec", "s"),
    ("secs", "s"),
    ("second", "s"),
    ("seconds", "s"),
    ("min", "m"),
    ("mins", "m"),
    ("minute", "m"),
    ("minutes", "m"),
    ("hr", "h"),
    ("hour", "h"),
    ("hours", "h"),
    ("day", "d"),
    ("days", "d"),
];

/// A duration in the units people write: `90000` -> `1m30s`, `0` -> `0`.
pub fn format_duration(ms: i64) -> String {
    let mut out = String::new();
    let mut rest = ms;
    for (unit, size) in DURATION_UNITS {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    if out.is_empty() {
        out.push('0');
    }
    out
}

/// Parses `500ms`, `10s`, `5m`, `1h`, `1d`, `1h30m` into milliseconds (> 0).
pub fn parse_duration(text: &str) -> Result<i64, String> {
    parse_duration_from(text, false)
}

/// The same, where zero (`0`, `0s`) is allowed (`--max-delay`).
pub fn parse_delay(text: &str) -> Result<i64, String> {
    if text.trim() == "0" {
        return Ok(0);
    }
    parse_duration_from(text, true)
}

fn unit_size(unit: &str) -> Option<i64> {
    DURATION_UNITS
        .iter()
        .find(|(u, _)| *u == unit)
        .map(|(_, size)| *size)
}

/// For `1.5h`: the same duration in whole units (`1h30m`), when it is a whole
/// number of milliseconds.
fn whole_units(text: &str) -> Option<String> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    let ms = value * unit_size(unit)? as f64;
    (ms > 0.0 && ms.fract() == 0.0 && ms < 1e15).then(|| format_duration(ms as i64))
}

fn parse_duration_from(text: &str, allow_zero: bool) -> Result<i64, String> {
    const EXPECTED: &str = "expected a duration such as 500ms, 10s, 5m, 1h or 1h30m";
    let t = text.trim();
    if t.is_empty() {
        return Err(format!("empty duration; {EXPECTED}"));
    }
    let b = t.as_bytes();
    let mut total: i64 = 0;
    let mut i = 0;
    while i < b.len() {
        let (v, n) = digits(&b[i..], 1, 15).ok_or_else(|| format!("'{t}': {EXPECTED}"))?;
        if matches!(b.get(i + n), Some(b'.' | b',')) {
            // a fraction: say what the whole-unit spelling is
            let term_end = t[i + n + 1..]
                .find(|c: char| !c.is_ascii_digit())
                .map(|p| i + n + 1 + p)
                .unwrap_or(t.len());
            let unit_end = t[term_end..]
                .find(|c: char| !c.is_ascii_alphabetic())
                .map(|p| term_end + p)
                .unwrap_or(t.len());
            let term = t[i..unit_end].replace(',', ".");
            return Err(match whole_units(&term) {
                Some(w) => format!(
                    "'{t}': durations are whole numbers of units (ms, s, m, h, d); write {} as {w}",
                    &t[i..unit_end]
                ),
                None => format!(
                    "'{t}': durations are whole numbers of units (ms, s, m, h, d), combined as in 1h30m"
                ),
            });
        }
        i += n;
        let unit_start = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit_text = &t[unit_start..i];
        let unit = match unit_size(unit_text) {
            Some(size) => size,
            None if unit_text.is_empty() => {
                return Err(format!(
                    "'{t}': a number needs a unit (ms, s, m, h, d); {EXPECTED}"
                ))
            }
            None => {
                let alias = UNIT_ALIASES
                    .iter()
                    .find(|(a, _)| a.eq_ignore_ascii_case(unit_text))
                    .map(|(_, u)| *u)
                    .or_else(|| unit_size(&unit_text.to_ascii_lowercase()).map(|_| ""));
                return Err(match alias {
                    Some(u) => {
                        let u = if u.is_empty() {
                            unit_text.to_ascii_lowercase()
                        } else {
                            u.to_string()
                        };
                        format!(
                            "'{t}': unknown unit '{unit_text}'; did you mean '{v}{u}'? Units are ms, s, m, h, d"
                        )
                    }
                    None => format!("'{t}': unknown unit '{unit_text}'; {EXPECTED}"),
                });
            }
        };
        total = v
            .checked_mul(unit)
            .and_then(|x| total.checked_add(x))
            .ok_or_else(|| format!("'{t}': too large"))?;
    }
    if total < 0 || (total == 0 && !allow_zero) {
        return Err(format!("'{t}': must be greater than zero; {EXPECTED}"));
    }
    if total > MAX_DURATION_MS {
        return Err(format!(
            "'{t}': longer than the longest duration vigil takes, 36500d (about 100 years)"
        ));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(ms: i64) -> String {
        let mut v = Vec::new();
        format_rfc3339_ms(ms, &mut v);
        String::from_utf8(v).unwrap()
    }

    const T2026: i64 = 1_767_225_600_000;

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
    fn times_outside_years_1_to_9999_are_refused_not_wrapped() {
        use TimeError::*;
        for (format, raw) in [
            (TimeFormat::UnixMs, &b"9223372036854775807"[..]),
            (TimeFormat::UnixMs, b"-9223372036854775808"),
            (TimeFormat::UnixMs, b"99999999999999999999999"),
            (TimeFormat::UnixS, b"9223372036854775807"),
            (TimeFormat::UnixS, b"1e300"),
            (TimeFormat::UnixS, b"253402300800"),
            (TimeFormat::UnixS, b"-62135596801"),
            (TimeFormat::UnixNs, b"-99999999999999999999"),
            // auto reads these as nanoseconds: beyond year 9999 even so
            (TimeFormat::Auto, b"99999999999999999999999"),
            (TimeFormat::Auto, b"-99999999999999999999999"),
            (TimeFormat::Auto, b"0000-12-31T23:59:59Z"),
            (TimeFormat::Auto, b"9999-12-31T23:59:59-01:00"),
            (TimeFormat::from_spec("%Y-%m-%d").unwrap(), b"-0005-01-01"),
        ] {
            let r = format.parse_checked(raw);
            let want = if raw == b"1e300" {
                Unreadable
            } else {
                OutOfRange
            };
            assert_eq!(r, Err(want), "{format:?} {}", String::from_utf8_lossy(raw));
            assert_eq!(format.parse(raw), None);
        }
        let a = TimeFormat::Auto;
        assert_eq!(a.parse(b"0001-01-01T00:00:00Z"), Some(MIN_TIME_MS));
        assert_eq!(a.parse(b"9999-12-31T23:59:59.999Z"), Some(MAX_TIME_MS));
        assert_eq!(
            TimeFormat::UnixMs.parse(b"253402300799999"),
            Some(MAX_TIME_MS)
        );
        assert_eq!(fmt(MIN_TIME_MS), "0001-01-01T00:00:00.000Z");
        assert_eq!(fmt(MAX_TIME_MS), "9999-12-31T23:59:59.999Z");
        assert_eq!(a.parse_checked(b"soon"), Err(Unreadable));
        // i64::MAX as auto is nanoseconds: 2262, a real time
        assert_eq!(a.parse(b"9223372036854775807"), Some(9_223_372_036_854));
    }

    #[test]
    fn durations_are_bounded_so_window_arithmetic_cannot_overflow() {
        assert_eq!(parse_duration("36500d"), Ok(MAX_DURATION_MS));
        let e = parse_duration("36501d").unwrap_err();
        assert!(e.contains("longest duration"), "{e}");
        assert!(parse_delay("99999999h").unwrap_err().contains("longest"));
        // the extremes together stay inside i64 with room to spare
        let far = MAX_TIME_MS + 4 * MAX_DURATION_MS;
        let near = MIN_TIME_MS - 4 * MAX_DURATION_MS;
        assert!(far < i64::MAX / 1000 && near > i64::MIN / 1000);
    }

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

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(500));
        assert_eq!(parse_duration("10s"), Ok(10_000));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("1d"), Ok(86_400_000));
        assert_eq!(parse_duration("1m30s500ms"), Ok(90_500));
        assert!(parse_duration("5x")
            .unwrap_err()
            .contains("unknown unit 'x'"));
        assert!(parse_duration("10").unwrap_err().contains("needs a unit"));
        assert!(parse_duration("0s").is_err());
        assert_eq!(parse_delay("0ms"), Ok(0));
        assert_eq!(parse_delay("0"), Ok(0));
        assert_eq!(parse_delay("2s"), Ok(2000));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-5s").is_err());
        assert!(parse_duration("99999999999999d")
            .unwrap_err()
            .contains("too large"));
    }

    #[test]
    fn fractional_durations_are_refused_with_their_whole_unit_spelling() {
        let e = parse_duration("1.5h").unwrap_err();
        assert!(e.contains("whole numbers of units"), "{e}");
        assert!(e.contains("write 1.5h as 1h30m"), "{e}");
        assert!(parse_duration("0.5s").unwrap_err().contains("as 500ms"));
        assert!(parse_duration("1h2.25m")
            .unwrap_err()
            .contains("2.25m as 2m15s"));
        // no exact spelling: the rule alone
        let e = parse_duration("0.0001ms").unwrap_err();
        assert!(e.contains("whole numbers") && !e.contains("write"), "{e}");
    }

    #[test]
    fn unit_spellings_get_a_suggestion() {
        assert!(parse_duration("5min")
            .unwrap_err()
            .contains("did you mean '5m'?"));
        assert!(parse_duration("10sec")
            .unwrap_err()
            .contains("did you mean '10s'?"));
        assert!(parse_duration("2Hours")
            .unwrap_err()
            .contains("did you mean '2h'?"));
        assert!(parse_duration("1H")
            .unwrap_err()
            .contains("did you mean '1h'?"));
    }

    #[test]
    fn durations_format_in_the_largest_units() {
        assert_eq!(format_duration(5_400_000), "1h30m");
        assert_eq!(format_duration(90_500), "1m30s500ms");
        assert_eq!(format_duration(0), "0");
        for ms in [1, 999, 60_000, 86_400_001] {
            assert_eq!(parse_duration(&format_duration(ms)), Ok(ms));
        }
    }
}
