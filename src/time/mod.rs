//! Timestamps and durations: parsing event times into epoch milliseconds and
//! formatting them back as RFC 3339. Pure functions; no I/O, and no allocation
//! on the parse path (patterns are compiled once).
//!
//! Files: `parse` (RFC 3339 and epoch numbers), `strftime` (compiled
//! `--time-format` patterns), `format` (RFC 3339 output), `calendar` (civil
//! dates to day counts and back), `duration` (`--window` and the other
//! duration flags); this one holds `TimeFormat`, which picks a reader, and
//! the bounds every time and duration is held to.

mod calendar;
mod duration;
mod format;
mod parse;
mod strftime;

pub use calendar::{civil_from_days, days_from_civil};
pub use duration::{format_duration, parse_delay, parse_duration, DURATION_UNITS};
pub use format::format_rfc3339_ms;
pub use parse::parse_rfc3339;
pub use strftime::StrftimePattern;

use parse::{parse_epoch_auto, parse_epoch_scaled, parse_rfc3339_ms, trim};

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
    #[inline(always)]
    pub fn parse_checked(&self, field: &[u8]) -> Result<i64, TimeError> {
        match self.parse_any(field) {
            None => Err(TimeError::Unreadable),
            Some(t) if (MIN_TIME_MS..=MAX_TIME_MS).contains(&t) => Ok(t),
            Some(_) => Err(TimeError::OutOfRange),
        }
    }

    /// Any time the format can express (epoch numbers saturate at the ends
    /// of i64). The common layout is read inline, where the record is read.
    #[inline(always)]
    fn parse_any(&self, field: &[u8]) -> Option<i64> {
        if matches!(self, TimeFormat::Auto | TimeFormat::Rfc3339) {
            // the common layout first: a field it reads has no spaces or
            // quotes to trim, so the time is the one read after trimming
            if let Some(t) = parse_rfc3339_ms(field) {
                return Some(t);
            }
        }
        self.parse_other(field)
    }

    /// [`TimeFormat::parse_any`] past the common layout, out of line.
    #[inline(never)]
    fn parse_other(&self, field: &[u8]) -> Option<i64> {
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

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn fmt(ms: i64) -> String {
        let mut v = Vec::new();
        format_rfc3339_ms(ms, &mut v);
        String::from_utf8(v).unwrap()
    }

    pub(super) const T2026: i64 = 1_767_225_600_000;

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
}
