//! Durations as the flags and rules write them (`500ms`, `10s`, `1h30m`;
//! `--window`, `--slide`, `--max-delay`, `absent(DUR)`): parsing with the
//! error texts that suggest a unit or a whole-unit spelling, the bound
//! [`MAX_DURATION_MS`](super::MAX_DURATION_MS), and formatting in the largest
//! units. Owns the unit tables. Must not touch event times.

use super::parse::digits;
use super::MAX_DURATION_MS;

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
    use super::super::{MAX_TIME_MS, MIN_TIME_MS};
    use super::*;

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
