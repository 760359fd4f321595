//! Event times as Flink SQL: an expression turning the time field (read as
//! STRING) into epoch milliseconds (BIGINT, NULL when vigil would call the
//! time bad), following `crate::time` rule by rule. The calendar is integer
//! arithmetic on the matched digits, not Java's date parsers, so that the
//! accepted inputs and the results are vigil's. Pure text; no I/O.

use crate::error::{Error, Result};
use crate::time::TimeFormat;

use super::sql_string;

/// Whitespace vigil trims around a time (Rust's ASCII whitespace; not `\x0B`).
const WS: &str = "[ \\t\\n\\f\\r]*";

/// RFC 3339 / ISO 8601 as `crate::time::parse_rfc3339` reads it, after
/// trimming and one pair of surrounding quotes. Groups: 1 quote, 2 year,
/// 3 month, 4 day, 5 hour, 6 minute, 7 second, 8 fraction, 9 offset.
fn rfc3339_regex() -> String {
    format!(
        "^{WS}(\"?)([0-9]{{4}})-([0-9]{{2}})-([0-9]{{2}})(?:[Tt ]([0-9]{{2}}):([0-9]{{2}})(?::([0-9]{{2}})(?:[.,]([0-9]+))?)?([Zz]|[+-][0-9]{{2}}(?::?[0-9]{{2}})?)?)?\\1{WS}$"
    )
}

/// An epoch number as `parse_plain_number` reads it: a sign, digits and at
/// most one dot, no exponent. Group 2 is the number.
fn epoch_regex() -> String {
    format!("^{WS}(\"?)(-?(?:[0-9]+\\.?[0-9]*|\\.[0-9]+))\\1{WS}$")
}

/// Epoch milliseconds of the STRING expression `raw` read with `format`.
pub fn millis(raw: &str, format: &TimeFormat) -> Result<String> {
    Ok(match format {
        TimeFormat::Auto => format!("COALESCE({}, {})", rfc3339(raw), epoch(raw, None)),
        TimeFormat::Rfc3339 => rfc3339(raw),
        TimeFormat::UnixS => epoch(raw, Some(Scale::Seconds)),
        TimeFormat::UnixMs => epoch(raw, Some(Scale::Millis)),
        TimeFormat::UnixUs => epoch(raw, Some(Scale::Micros)),
        TimeFormat::UnixNs => epoch(raw, Some(Scale::Nanos)),
        TimeFormat::Strftime(_) | TimeFormat::Syslog(_) => {
            return Err(Error::usage(
                "--time-format: a strftime pattern does not map to Flink SQL (Java's date patterns accept and reject other inputs than vigil's); export a job whose times are RFC 3339 or epoch numbers (--time-format auto, rfc3339 or unix_*)",
            ))
        }
    })
}

fn group(raw: &str, re: &str, g: usize) -> String {
    format!("REGEXP_EXTRACT({raw}, {}, {g})", sql_string(re))
}

fn int_group(raw: &str, re: &str, g: usize) -> String {
    format!("CAST({} AS BIGINT)", group(raw, re, g))
}

/// Days since 1970-01-01 of year `y`, month `m`, day `d` (BIGINT
/// expressions): the civil-from-days inverse with the year shifted by 400 so
/// every division is of non-negative numbers (SQL division truncates).
fn days_from_civil(y: &str, m: &str, d: &str) -> String {
    let y400 = format!("({y} - CASE WHEN {m} <= 2 THEN 1 ELSE 0 END + 400)");
    let yoe = format!("MOD({y400}, 400)");
    let doy = format!("((153 * MOD({m} + 9, 12) + 2) / 5 + {d} - 1)");
    format!(
        "(({y400} / 400) * 146097 + {yoe} * 365 + {yoe} / 4 - {yoe} / 100 + {doy} - 719468 - 146097)"
    )
}

fn rfc3339(raw: &str) -> String {
    let re = rfc3339_regex();
    let y = int_group(raw, &re, 2);
    let m = int_group(raw, &re, 3);
    let d = int_group(raw, &re, 4);
    let hour = format!("COALESCE({}, 0)", int_group(raw, &re, 5));
    let minute = format!("COALESCE({}, 0)", int_group(raw, &re, 6));
    let second = format!("COALESCE({}, 0)", int_group(raw, &re, 7));
    // the first three fraction digits, as milliseconds (truncated)
    let frac = format!(
        "COALESCE(CAST(RPAD(SUBSTR({}, 1, 3), 3, '0') AS BIGINT), 0)",
        group(raw, &re, 8)
    );
    let off = group(raw, &re, 9);
    let off_h = format!("CAST(SUBSTR({off}, 2, 2) AS BIGINT)");
    let off_m = format!(
        "CASE WHEN CHAR_LENGTH({off}) = 3 THEN 0 ELSE CAST(SUBSTR({off}, CHAR_LENGTH({off}) - 1, 2) AS BIGINT) END"
    );
    let offset_ms = format!(
        "CASE WHEN {off} IS NULL OR {off} IN ('Z', 'z') THEN 0 ELSE (CASE WHEN SUBSTR({off}, 1, 1) = '-' THEN -1 ELSE 1 END) * ({off_h} * 60 + {off_m}) * 60000 END"
    );
    let leap = format!("(MOD({y}, 4) = 0 AND MOD({y}, 100) <> 0 OR MOD({y}, 400) = 0)");
    let month_days = format!(
        "CASE WHEN {m} = 2 THEN (CASE WHEN {leap} THEN 29 ELSE 28 END) WHEN {m} IN (4, 6, 9, 11) THEN 30 ELSE 31 END"
    );
    let valid = format!(
        "REGEXP({raw}, {re_lit}) AND {m} BETWEEN 1 AND 12 AND {d} >= 1 AND {d} <= {month_days} AND {hour} <= 23 AND {minute} <= 59 AND {second} <= 60 AND ({off} IS NULL OR {off} IN ('Z', 'z') OR ({off_h} <= 23 AND {off_m} <= 59))",
        re_lit = sql_string(&re)
    );
    format!(
        "CASE WHEN {valid} THEN {days} * 86400000 + {hour} * 3600000 + {minute} * 60000 + {second} * 1000 + {frac} - {offset_ms} END",
        days = days_from_civil(&y, &m, &d)
    )
}

#[derive(Debug, Clone, Copy)]
enum Scale {
    Seconds,
    Millis,
    Micros,
    Nanos,
}

/// BIGINT `n` divided by `k`, rounded down (vigil's `div_euclid`).
fn floor_div(n: &str, k: i64) -> String {
    format!("(({n} - MOD(MOD({n}, {k}) + {k}, {k})) / {k})")
}

/// One scale applied to the number text `num` (`int`: its exact BIGINT
/// value when it has no dot; `float`: its DOUBLE value).
fn scaled(int: &str, float: &str, has_dot: &str, scale: Scale) -> String {
    let (exact, factor) = match scale {
        Scale::Seconds => (
            format!("CASE WHEN ABS({int}) <= 9223372036854775 THEN {int} * 1000 END"),
            "1E3",
        ),
        Scale::Millis => (int.to_string(), "1E0"),
        Scale::Micros => (floor_div(int, 1000), "1E-3"),
        Scale::Nanos => (floor_div(int, 1_000_000), "1E-6"),
    };
    format!(
        "CASE WHEN {has_dot} THEN (CASE WHEN ABS(FLOOR({float} * {factor})) < 9.2E18 THEN CAST(FLOOR({float} * {factor}) AS BIGINT) END) ELSE {exact} END"
    )
}

fn epoch(raw: &str, scale: Option<Scale>) -> String {
    let re = epoch_regex();
    let num = group(raw, &re, 2);
    let int = format!("TRY_CAST({num} AS BIGINT)");
    let float = format!("CAST({num} AS DOUBLE)");
    let has_dot = format!("POSITION('.' IN {num}) > 0");
    let body = match scale {
        Some(s) => scaled(&int, &float, &has_dot, s),
        None => format!(
            "CASE WHEN ABS({float}) < 1E11 THEN {} WHEN ABS({float}) < 1E14 THEN {} WHEN ABS({float}) < 1E17 THEN {} ELSE {} END",
            scaled(&int, &float, &has_dot, Scale::Seconds),
            scaled(&int, &float, &has_dot, Scale::Millis),
            scaled(&int, &float, &has_dot, Scale::Micros),
            scaled(&int, &float, &has_dot, Scale::Nanos),
        ),
    };
    format!("CASE WHEN {num} IS NOT NULL THEN {body} END")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The regexes must accept exactly what vigil's parser accepts; the
    /// `regex` crate and Java agree on these simple patterns.
    #[test]
    fn rfc3339_regex_accepts_what_vigil_reads_and_nothing_else() {
        // the `regex` crate has no backreferences: test without the quote pair
        let re =
            regex::Regex::new(&rfc3339_regex().replace("(\"?)", "()").replace("\\1", "")).unwrap();
        for good in [
            "2026-01-01",
            "2026-01-01T00:00",
            "2026-01-01 12:30:15",
            "2026-01-01t12:30:15.5Z",
            "2026-01-01T12:30:15,123456+01:00",
            "2026-01-01T12:30:15-0230",
            "2026-01-01T12:30:15+02",
            " 2026-01-01T00:00:00Z ",
        ] {
            assert!(re.is_match(good), "{good}");
            assert!(
                crate::time::TimeFormat::Auto
                    .parse(good.as_bytes())
                    .is_some(),
                "{good}"
            );
        }
        for bad in [
            "2026-01-01Z",
            "2026-01-01T00",
            "2026-01-01T00:00:00.",
            "2026-01-01T00:00:00+1",
            "2026-01-01T00:00:00+01:0",
            "26-01-01",
        ] {
            assert!(!re.is_match(bad), "{bad}");
            assert!(
                crate::time::parse_rfc3339(bad.as_bytes()).is_none(),
                "{bad}"
            );
        }
    }

    #[test]
    fn epoch_regex_is_a_plain_number() {
        let re =
            regex::Regex::new(&epoch_regex().replace("(\"?)", "()").replace("\\1", "")).unwrap();
        for good in ["1767225600", "-5", "1767225600.5", "5.", ".5", " 12 "] {
            assert!(re.is_match(good), "{good}");
        }
        for bad in ["1e9", "+5", ".", "-", "", "1.2.3", "12a"] {
            assert!(!re.is_match(bad), "{bad}");
        }
    }

    /// The calendar arithmetic, evaluated here with SQL's truncating integer
    /// division, agrees with vigil's over four centuries and year 0.
    #[test]
    fn days_from_civil_matches_vigil() {
        fn sql_days(y: i64, m: i64, d: i64) -> i64 {
            let y400 = y - i64::from(m <= 2) + 400;
            let yoe = y400 % 400;
            let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
            (y400 / 400) * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468 - 146097
        }
        for y in (0..2).chain(1899..2401) {
            for m in 1..=12 {
                for d in [1, 28] {
                    assert_eq!(
                        sql_days(y, m, d),
                        crate::time::days_from_civil(y, m, d),
                        "{y}-{m}-{d}"
                    );
                }
            }
        }
        // the expression has the same shape as the function above
        let text = days_from_civil("y", "m", "d");
        assert!(text.contains("146097") && text.contains("719468"), "{text}");
    }

    #[test]
    fn strftime_patterns_are_refused_with_the_reason() {
        let f = TimeFormat::from_spec("%d/%b/%Y:%H:%M:%S %z").unwrap();
        let e = millis("`t`", &f).unwrap_err().to_string();
        assert!(e.contains("strftime") && e.contains("rfc3339"), "{e}");
    }
}
