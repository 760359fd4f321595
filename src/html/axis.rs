//! Chart axes: round UTC time ticks and round value ticks, and the text of
//! their labels and of tooltip times and values. Pure.

use crate::agg::{write_value, AggValue};
use crate::time::civil_from_days;

const SECOND: i64 = 1000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// Tick steps a reader can count in, shortest first.
const TIME_STEPS: &[i64] = &[
    1,
    2,
    5,
    10,
    20,
    50,
    100,
    200,
    500,
    SECOND,
    2 * SECOND,
    5 * SECOND,
    10 * SECOND,
    15 * SECOND,
    30 * SECOND,
    MINUTE,
    2 * MINUTE,
    5 * MINUTE,
    10 * MINUTE,
    15 * MINUTE,
    30 * MINUTE,
    HOUR,
    2 * HOUR,
    3 * HOUR,
    6 * HOUR,
    12 * HOUR,
    DAY,
    2 * DAY,
    7 * DAY,
    14 * DAY,
    28 * DAY,
    91 * DAY,
    182 * DAY,
    364 * DAY,
];

/// Ticks on `[t0, t1]` at multiples of a round step (since the epoch, so
/// days start at UTC midnight), at most `max` of them. Returns the step and
/// the tick times.
pub fn time_ticks(t0: i64, t1: i64, max: usize) -> (i64, Vec<i64>) {
    let span = (t1 as i128 - t0 as i128).max(1);
    let max = max.max(2) as i128;
    let mut step = *TIME_STEPS.last().expect("steps");
    match TIME_STEPS.iter().find(|&&s| span / (s as i128) < max) {
        Some(&s) => step = s,
        None => {
            while span / (step as i128) >= max {
                step = step.saturating_mul(2);
            }
        }
    }
    let mut ticks = Vec::new();
    let mut t = t0.div_euclid(step).saturating_mul(step);
    if t < t0 {
        t = t.saturating_add(step);
    }
    while t <= t1 {
        ticks.push(t);
        match t.checked_add(step) {
            Some(n) => t = n,
            None => break,
        }
    }
    (step, ticks)
}

/// (days since epoch, ms within the day)
fn split_day(t: i64) -> (i64, i64) {
    (t.div_euclid(DAY), t.rem_euclid(DAY))
}

pub fn date(t: i64) -> String {
    let (y, m, d) = civil_from_days(split_day(t).0);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `HH:MM`, `HH:MM:SS` or `HH:MM:SS.mmm`: as precise as `step` needs.
pub fn clock(t: i64, step: i64) -> String {
    let ms = split_day(t).1;
    let (h, m, s, milli) = (
        ms / HOUR,
        ms % HOUR / MINUTE,
        ms % MINUTE / SECOND,
        ms % SECOND,
    );
    if step % SECOND != 0 {
        format!("{h:02}:{m:02}:{s:02}.{milli:03}")
    } else if step % MINUTE != 0 {
        format!("{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}")
    }
}

/// The labels of time ticks: dates for steps of days, else clock times,
/// with the date (`MM-DD`) in front of the first tick and of each new day.
pub fn time_labels(ticks: &[i64], step: i64) -> Vec<String> {
    let mut last_day = None;
    ticks
        .iter()
        .map(|&t| {
            if step % DAY == 0 {
                return date(t);
            }
            let day = split_day(t).0;
            let clock = clock(t, step);
            if last_day != Some(day) {
                last_day = Some(day);
                let (_, m, d) = civil_from_days(day);
                format!("{m:02}-{d:02} {clock}")
            } else {
                clock
            }
        })
        .collect()
}

/// A window `[start, end)` for a tooltip: `2026-01-01 00:14:00–00:15:00`
/// (the date once when both ends share it; milliseconds only when present).
pub fn window_text(start: i64, end: i64) -> String {
    let precision = if start % SECOND != 0 || end % SECOND != 0 {
        1
    } else {
        SECOND
    };
    let left = format!("{} {}", date(start), clock(start, precision));
    let right = if split_day(start).0 == split_day(end).0 {
        clock(end, precision)
    } else {
        format!("{} {}", date(end), clock(end, precision))
    };
    format!("{left}–{right}")
}

/// The same without the year, for point tooltips: `01-01 00:14:00–00:15:00`.
pub fn short_window_text(start: i64, end: i64) -> String {
    let precision = if start % SECOND != 0 || end % SECOND != 0 {
        1
    } else {
        SECOND
    };
    let month_day = |t: i64| {
        let (_, m, d) = civil_from_days(split_day(t).0);
        format!("{m:02}-{d:02}")
    };
    let left = format!("{} {}", month_day(start), clock(start, precision));
    if split_day(start).0 == split_day(end).0 {
        format!("{left}–{}", clock(end, precision))
    } else {
        format!("{left}–{} {}", month_day(end), clock(end, precision))
    }
}

/// Round value ticks covering `[lo, hi]` (at most `max`), and the axis range
/// they span. A flat series gets a range around its value.
pub fn value_ticks(lo: f64, hi: f64, max: usize) -> (f64, f64, Vec<f64>) {
    let (mut lo, mut hi) = if lo.is_finite() && hi.is_finite() && lo <= hi {
        (lo, hi)
    } else {
        (0.0, 1.0)
    };
    if lo == hi {
        // A flat series: from zero to a little above it (or below, if negative).
        if lo > 0.0 {
            (lo, hi) = (0.0, hi * 1.25);
        } else if lo < 0.0 {
            (lo, hi) = (lo * 1.25, 0.0);
        } else {
            hi = 1.0;
        }
    } else if lo > 0.0 && lo < hi * 0.5 {
        lo = 0.0;
    }
    let max = max.max(2);
    let raw = (hi - lo) / (max - 1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| (((hi / s).ceil() - (lo / s).floor()) as usize) < max)
        .unwrap_or(10.0 * magnitude);
    let first = (lo / step).floor() * step;
    let last = (hi / step).ceil() * step;
    let mut ticks = Vec::new();
    let mut i = 0;
    loop {
        let v = first + step * i as f64;
        if v > last + step * 1e-9 || ticks.len() > max + 1 {
            break;
        }
        ticks.push(if v.abs() < step * 1e-9 { 0.0 } else { v });
        i += 1;
    }
    (first, last, ticks)
}

/// A tick label: as many decimals as the step needs, and k/M/G/T for large values.
pub fn value_label(v: f64, step: f64) -> String {
    let big = v.abs().max(step);
    let (div, suffix) = if big >= 1e12 {
        (1e12, "T")
    } else if big >= 1e9 {
        (1e9, "G")
    } else if big >= 1e6 {
        (1e6, "M")
    } else if big >= 1e4 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    let s = step / div;
    let exponent = s.log10().floor();
    // a step of 2.5 x 10^e needs one more decimal than 1, 2 or 5 x 10^e
    let quarter = ((s / 10f64.powf(exponent)) - 2.5).abs() < 1e-9;
    let decimals = (i64::from(quarter) - exponent as i64).clamp(0, 12) as usize;
    format!("{:.*}{suffix}", decimals, v / div)
}

/// A value for a tooltip, as the report writes it.
pub fn value_text(v: f64) -> String {
    let mut out = Vec::new();
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        write_value(AggValue::Int(v.abs() as u64), &mut out);
        let s = String::from_utf8_lossy(&out).into_owned();
        return if v < 0.0 { format!("-{s}") } else { s };
    }
    write_value(AggValue::Float(v), &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

    #[test]
    fn half_an_hour_gets_five_minute_ticks_with_the_date_once() {
        let (step, ticks) = time_ticks(T0 + 60_000, T0 + 30 * 60_000, 8);
        assert_eq!(step, 5 * MINUTE);
        assert_eq!(ticks.len(), 6);
        assert_eq!(ticks[0], T0 + 5 * MINUTE);
        assert_eq!(
            time_labels(&ticks, step),
            vec!["01-01 00:05", "00:10", "00:15", "00:20", "00:25", "00:30"]
        );
    }

    #[test]
    fn ticks_cross_midnight_with_the_new_date() {
        let (step, ticks) = time_ticks(T0 - 3 * HOUR, T0 + 3 * HOUR, 8);
        assert_eq!(step, HOUR);
        let labels = time_labels(&ticks, step);
        assert_eq!(labels[0], "12-31 21:00");
        assert_eq!(labels[3], "01-01 00:00");
        assert_eq!(labels[4], "01:00");
    }

    #[test]
    fn long_and_short_ranges() {
        let (step, ticks) = time_ticks(T0, T0 + 30 * DAY, 8);
        assert_eq!(step, 7 * DAY);
        assert!(
            time_labels(&ticks, step).iter().all(|l| l.len() == 10),
            "dates"
        );
        let (step, ticks) = time_ticks(T0, T0 + 3 * SECOND, 8);
        assert_eq!(step, 500);
        assert_eq!(time_labels(&ticks, step)[1], "00:00:00.500");
        let (step, _) = time_ticks(i64::MIN / 2, i64::MAX / 2, 8);
        assert!(step > 364 * DAY, "a huge range still gets few ticks");
        let (_, one) = time_ticks(T0, T0, 8);
        assert_eq!(one, vec![T0]);
    }

    #[test]
    fn value_ticks_are_round_and_cover_the_data() {
        let (lo, hi, ticks) = value_ticks(37.2, 97.9, 6);
        assert_eq!((lo, hi), (0.0, 100.0));
        assert_eq!(ticks, vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        let (lo, hi, ticks) = value_ticks(-0.73, 0.41, 6);
        assert!(lo <= -0.73 && hi >= 0.41 && ticks.len() <= 6);
        assert!(ticks.contains(&0.0));
        let (lo, hi, _) = value_ticks(6.0, 6.0, 6);
        assert!(
            lo == 0.0 && hi > 6.0 && hi < 10.0,
            "a flat series has a range from 0"
        );
        let (lo, hi, _) = value_ticks(-4.0, -4.0, 6);
        assert!(lo < -4.0 && hi == 0.0);
        let (lo, hi, _) = value_ticks(0.0, 0.0, 6);
        assert_eq!((lo, hi), (0.0, 1.0));
        let (lo, hi, _) = value_ticks(f64::NAN, 1.0, 6);
        assert_eq!((lo, hi), (0.0, 1.0));
    }

    #[test]
    fn value_labels() {
        assert_eq!(value_label(20.0, 20.0), "20");
        assert_eq!(value_label(0.25, 0.25), "0.25");
        assert_eq!(value_label(0.2, 0.2), "0.2");
        assert_eq!(value_label(7.5, 2.5), "7.5");
        assert_eq!(value_label(75.0, 25.0), "75");
        assert_eq!(value_label(25_000.0, 5_000.0), "25k");
        assert_eq!(value_label(2_500_000.0, 500_000.0), "2.5M");
        assert_eq!(value_text(60.0), "60");
        assert_eq!(value_text(-3.0), "-3");
        assert_eq!(value_text(2018.4269999999992), "2018.4269999999992");
    }

    #[test]
    fn window_texts() {
        assert_eq!(
            short_window_text(T0, T0 + MINUTE),
            "01-01 00:00:00–00:01:00"
        );
        assert_eq!(
            short_window_text(T0 - 500, T0 + 500),
            "12-31 23:59:59.500–01-01 00:00:00.500"
        );
        assert_eq!(window_text(T0, T0 + MINUTE), "2026-01-01 00:00:00–00:01:00");
        assert_eq!(
            window_text(T0 - 500, T0 + 500),
            "2025-12-31 23:59:59.500–2026-01-01 00:00:00.500"
        );
    }
}
