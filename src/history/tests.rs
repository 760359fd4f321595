//! Each function against a direct computation written here (textbook
//! formulas, not the room's code), on series with gaps, undefined values,
//! constant values, too few points and epoch-millisecond times.

use super::*;

const MIN: i64 = 60_000;
/// 2026-01-01T00:00:00Z in epoch milliseconds.
const EPOCH_2026: i64 = 1_767_225_600_000;

const TUMBLING_1M: Spacing = Spacing {
    step_ms: Some(MIN),
    min_gap_ms: Some(MIN),
};

/// Feeds `windows` (end, X) to a plan with the one function `func` and
/// returns its value at each window.
fn run(func: HistFunc, spacing: Spacing, windows: &[(i64, Option<f64>)]) -> Vec<Option<f64>> {
    let plan = HistoryPlan::new(&[(func, 0)], spacing).unwrap();
    let mut h = KeyHistory::default();
    let mut work = Vec::new();
    windows
        .iter()
        .map(|&(end, x)| {
            plan.observe(&mut h, end, 0, x);
            plan.value(&h, end, 0, x, &mut work)
        })
        .collect()
}

/// The defined points among `windows[..=i]`.
fn points_upto(windows: &[(i64, Option<f64>)], i: usize) -> Vec<(i64, f64)> {
    windows[..=i]
        .iter()
        .filter_map(|&(t, x)| x.map(|x| (t, x)))
        .collect()
}

/// Textbook least squares, x in seconds from the first point: slope =
/// (n Sxy - Sx Sy) / (n Sxx - Sx^2); returns (slope, value at `at_ms`).
fn textbook_line(points: &[(i64, f64)], at_ms: i64) -> Option<(f64, f64)> {
    if points.len() < 2 {
        return None;
    }
    let t0 = points[0].0;
    let n = points.len() as f64;
    let xs: Vec<f64> = points.iter().map(|p| (p.0 - t0) as f64 / 1000.0).collect();
    let sx: f64 = xs.iter().sum();
    let sy: f64 = points.iter().map(|p| p.1).sum();
    let sxy: f64 = xs.iter().zip(points).map(|(x, p)| x * p.1).sum();
    let sxx: f64 = xs.iter().map(|x| x * x).sum();
    let slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
    let intercept = (sy - slope * sx) / n;
    Some((slope, intercept + slope * (at_ms - t0) as f64 / 1000.0))
}

fn textbook_z(x: f64, earlier: &[f64]) -> Option<f64> {
    let n = earlier.len() as f64;
    if earlier.len() < 2 {
        return None;
    }
    let mean = earlier.iter().sum::<f64>() / n;
    let var = earlier.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    if earlier.iter().all(|v| *v == earlier[0]) {
        return None;
    }
    Some((x - mean) / var.sqrt())
}

fn textbook_median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

fn textbook_robust_z(x: f64, earlier: &[f64]) -> Option<f64> {
    if earlier.len() < 3 {
        return None;
    }
    let m = textbook_median(earlier);
    let dev: Vec<f64> = earlier.iter().map(|v| (v - m).abs()).collect();
    let mad = textbook_median(&dev);
    if mad == 0.0 {
        return None;
    }
    Some(0.6745 * (x - m) / mad)
}

fn close(got: Option<f64>, want: Option<f64>, what: &str) {
    match (got, want) {
        (Some(g), Some(w)) => assert!(
            (g - w).abs() <= 1e-9 * w.abs().max(1.0),
            "{what}: got {g}, want {w}"
        ),
        _ => assert_eq!(got, want, "{what}"),
    }
}

/// A series with a gap (windows 4 and 5 missing), undefined X at two windows
/// and noisy values, ending at 1-minute window ends in 2026.
fn gappy_series() -> Vec<(i64, Option<f64>)> {
    let mut w = Vec::new();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for k in 1..=24i64 {
        if k == 4 || k == 5 {
            continue; // the key had no records: no window
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let v = if k == 9 || k == 15 {
            None // X undefined, e.g. avg over no values
        } else {
            Some(50.0 + k as f64 * 0.7 + (x % 1000) as f64 / 100.0)
        };
        w.push((EPOCH_2026 + k * MIN, v));
    }
    w
}

#[test]
fn predict_linear_and_deriv_match_textbook_least_squares() {
    let w = gappy_series();
    let range = 10 * MIN;
    let horizon = 30 * MIN;
    let pl = run(
        HistFunc::PredictLinear {
            horizon_ms: horizon,
            range_ms: range,
        },
        TUMBLING_1M,
        &w,
    );
    let d = run(HistFunc::Deriv { range_ms: range }, TUMBLING_1M, &w);
    for (i, &(end, _)) in w.iter().enumerate() {
        let pts: Vec<(i64, f64)> = points_upto(&w, i)
            .into_iter()
            .filter(|p| p.0 > end - range)
            .collect();
        let want = textbook_line(&pts, end + horizon);
        close(pl[i], want.map(|l| l.1), &format!("predict_linear #{i}"));
        close(d[i], want.map(|l| l.0), &format!("deriv #{i}"));
    }
    assert_eq!(pl[0], None, "one point: undefined");
    assert!(pl[1].is_some());
}

#[test]
fn the_line_keeps_its_precision_at_epoch_millisecond_times() {
    // An exact line y = 1000 + 0.25 * seconds since 2026, sampled every minute.
    let w: Vec<(i64, Option<f64>)> = (1..=30)
        .map(|k| {
            let t = EPOCH_2026 + k * MIN;
            (t, Some(1000.0 + 0.25 * ((t - EPOCH_2026) / 1000) as f64))
        })
        .collect();
    let horizon = 6 * 60 * MIN;
    let got = run(
        HistFunc::PredictLinear {
            horizon_ms: horizon,
            range_ms: 60 * MIN,
        },
        TUMBLING_1M,
        &w,
    );
    let end = w.last().unwrap().0;
    let want = 1000.0 + 0.25 * ((end + horizon - EPOCH_2026) / 1000) as f64;
    let last = got.last().unwrap().unwrap();
    assert!((last - want).abs() < 1e-9, "{last} vs {want}");
    let slope = run(HistFunc::Deriv { range_ms: 60 * MIN }, TUMBLING_1M, &w);
    assert!((slope.last().unwrap().unwrap() - 0.25).abs() < 1e-15);

    // The same fit with x in absolute epoch seconds loses the answer to
    // cancellation (Sxx - Sx^2/n of numbers near 1.8e9): this is the case the
    // offsets from E guard against.
    let n = w.len() as f64;
    let xs: Vec<f64> = w.iter().map(|p| p.0 as f64 / 1000.0).collect();
    let ys: Vec<f64> = w.iter().map(|p| p.1.unwrap()).collect();
    let (sx, sy) = (xs.iter().sum::<f64>(), ys.iter().sum::<f64>());
    let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| x * y).sum();
    let sxx: f64 = xs.iter().map(|x| x * x).sum();
    let naive_slope = (sxy - sx * sy / n) / (sxx - sx * sx / n);
    assert!(
        (naive_slope - 0.25).abs() > 1e-6,
        "the naive fit should be visibly off here, got {naive_slope}"
    );
}

/// Acceptance 2: Prometheus' own worked example (promql/promqltest/testdata/
/// functions.test, "Tests for deriv() and predict_linear()"): the series
/// `testcounter_reset_middle_total 0+10x4 0+10x5` loaded every 5m, i.e.
/// Y = 0 10 20 30 40 0 10 20 30 40 50 at t = 0, 300, ..., 3000 s, evaluated at
/// t = 50m. Prometheus expects deriv(...[100m]) = 0.010606060606060607,
/// predict_linear(...[50m], 3600) = 70 (since Prometheus 3 a range is
/// left-open, so [50m] leaves out t = 0), and with all 11 points
/// ([55m] @ 3000) 76.81818181818181. The file's own comment derives the last:
/// slope = covXY / varX = 105000 / 9900000, intercept at 3000 s =
/// 38.63636363636364, plus slope * 3600. vigil's points are window ends; the
/// same numbers come out whatever the origin (here 0, and 2026 in epoch ms).
#[test]
fn prometheus_worked_example() {
    let y = [
        0.0, 10.0, 20.0, 30.0, 40.0, 0.0, 10.0, 20.0, 30.0, 40.0, 50.0,
    ];
    let five = 5 * MIN;
    let spacing = Spacing {
        step_ms: Some(five),
        min_gap_ms: Some(five),
    };
    for origin in [0, EPOCH_2026] {
        let w: Vec<(i64, Option<f64>)> = y
            .iter()
            .enumerate()
            .map(|(k, &v)| (origin + k as i64 * five, Some(v)))
            .collect();
        let last = |f: HistFunc| *run(f, spacing, &w).last().unwrap();
        close(
            last(HistFunc::Deriv {
                range_ms: 100 * MIN,
            }),
            Some(0.010606060606060607),
            "deriv[100m]",
        );
        close(
            last(HistFunc::PredictLinear {
                horizon_ms: 3_600_000,
                range_ms: 50 * MIN,
            }),
            Some(70.0),
            "predict_linear[50m]",
        );
        close(
            last(HistFunc::PredictLinear {
                horizon_ms: 3_600_000,
                range_ms: 55 * MIN,
            }),
            Some(76.81818181818181),
            "predict_linear[55m]",
        );
    }
}

#[test]
fn zscore_and_robust_z_match_direct_computations() {
    let w = gappy_series();
    let range = 8 * MIN;
    let z = run(HistFunc::Zscore { range_ms: range }, TUMBLING_1M, &w);
    let r = run(HistFunc::RobustZ { range_ms: range }, TUMBLING_1M, &w);
    let mut defined = (0, 0);
    for (i, &(end, x)) in w.iter().enumerate() {
        let earlier: Vec<f64> = points_upto(&w, i)
            .into_iter()
            .filter(|p| p.0 >= end - range && p.0 < end)
            .map(|p| p.1)
            .collect();
        let want_z = x.and_then(|x| textbook_z(x, &earlier));
        let want_r = x.and_then(|x| textbook_robust_z(x, &earlier));
        close(z[i], want_z, &format!("zscore #{i}"));
        close(r[i], want_r, &format!("robust_z #{i}"));
        defined.0 += z[i].is_some() as usize;
        defined.1 += r[i].is_some() as usize;
    }
    assert!(defined.0 > 10 && defined.1 > 10, "{defined:?}");
    // The current window is not among the earlier points: at window 2 there is
    // one earlier point, so zscore is undefined; robust_z needs 3.
    assert_eq!((z[1], r[2]), (None, None));
    // An undefined current X has no score.
    let nine = w.iter().position(|p| p.0 == EPOCH_2026 + 9 * MIN).unwrap();
    assert_eq!((z[nine], r[nine]), (None, None));
}

#[test]
fn even_counts_take_the_mean_of_the_middle_values() {
    // earlier = 1, 2, 4, 10: median 3, deviations 2 1 1 7 -> MAD 1.5
    let w: Vec<(i64, Option<f64>)> = [1.0, 2.0, 4.0, 10.0, 6.0]
        .iter()
        .enumerate()
        .map(|(k, &v)| ((k as i64 + 1) * MIN, Some(v)))
        .collect();
    let r = run(HistFunc::RobustZ { range_ms: 60 * MIN }, TUMBLING_1M, &w);
    close(r[4], Some(0.6745 * (6.0 - 3.0) / 1.5), "robust_z");
}

#[test]
fn constant_series_have_no_score_and_a_flat_line() {
    // 0.1 three times does not average to exactly 0.1 by naive summation: the
    // scores must still be undefined, not huge.
    let w: Vec<(i64, Option<f64>)> = (1..=10).map(|k| (k * MIN, Some(0.1))).collect();
    let range = 60 * MIN;
    assert!(run(HistFunc::Zscore { range_ms: range }, TUMBLING_1M, &w)
        .iter()
        .all(Option::is_none));
    assert!(run(HistFunc::RobustZ { range_ms: range }, TUMBLING_1M, &w)
        .iter()
        .all(Option::is_none));
    let d = run(HistFunc::Deriv { range_ms: range }, TUMBLING_1M, &w);
    assert_eq!(d[9], Some(0.0), "slope exactly 0");
    let p = run(
        HistFunc::PredictLinear {
            horizon_ms: range,
            range_ms: range,
        },
        TUMBLING_1M,
        &w,
    );
    assert_eq!(p[9], Some(0.1));
    // MAD 0 with a spread: more than half the earlier values equal.
    let w: Vec<(i64, Option<f64>)> = [5.0, 5.0, 5.0, 9.0, 7.0]
        .iter()
        .enumerate()
        .map(|(k, &v)| ((k as i64 + 1) * MIN, Some(v)))
        .collect();
    let r = run(HistFunc::RobustZ { range_ms: range }, TUMBLING_1M, &w);
    assert_eq!(r[4], None, "MAD of 5 5 5 9 is 0");
    let z = run(HistFunc::Zscore { range_ms: range }, TUMBLING_1M, &w);
    close(z[4], textbook_z(7.0, &[5.0, 5.0, 5.0, 9.0]), "zscore");
}

#[test]
fn ewma_and_holt_follow_their_recurrences() {
    let w = gappy_series();
    let (alpha, sf, tf) = (0.3, 0.5, 0.2);
    let horizon = 10 * MIN;
    let e = run(HistFunc::Ewma { alpha }, TUMBLING_1M, &w);
    let h = run(
        HistFunc::Holt {
            smoothing: sf,
            trend: tf,
            horizon_ms: horizon,
        },
        TUMBLING_1M,
        &w,
    );
    let mut s: Option<f64> = None;
    let (mut level, mut trend, mut n) = (0.0, 0.0, 0);
    for (i, &(_, x)) in w.iter().enumerate() {
        if let Some(x) = x {
            s = Some(match s {
                None => x,
                Some(prev) => alpha * x + (1.0 - alpha) * prev,
            });
            n += 1;
            if n == 1 {
                level = x;
            } else {
                if n == 2 {
                    trend = x - level;
                }
                let prev = level;
                level = sf * x + (1.0 - sf) * (prev + trend);
                trend = tf * (level - prev) + (1.0 - tf) * trend;
            }
        }
        close(e[i], s, &format!("ewma #{i}"));
        let want = (n >= 2).then_some(level + trend * 10.0); // HORIZON / STEP = 10 windows
        close(h[i], want, &format!("holt #{i}"));
    }
    assert_eq!(h[0], None, "holt needs two points");
    assert!(e[0].is_some());
    // ALPHA = 1 follows the values exactly.
    let e1 = run(HistFunc::Ewma { alpha: 1.0 }, TUMBLING_1M, &w);
    assert_eq!(e1[3], w[3].1);
}

#[test]
fn the_second_holt_point_is_exact_and_forecasts_its_slope() {
    // s2 = x2 and b2 = x2 - x1, so the forecast is x2 + (x2 - x1) * HORIZON / STEP.
    let w = [(MIN, Some(10.0)), (2 * MIN, Some(14.0))];
    let h = run(
        HistFunc::Holt {
            smoothing: 0.5,
            trend: 0.5,
            horizon_ms: 3 * MIN,
        },
        TUMBLING_1M,
        &w,
    );
    assert_eq!(h, vec![None, Some(14.0 + 4.0 * 3.0)]);
}

#[test]
fn two_functions_share_a_series_and_state_stays_within_the_largest_range() {
    let spacing = TUMBLING_1M;
    let plan = HistoryPlan::new(
        &[
            (HistFunc::Deriv { range_ms: 5 * MIN }, 0),
            (HistFunc::Zscore { range_ms: 20 * MIN }, 0),
            (HistFunc::Ewma { alpha: 0.5 }, 1),
        ],
        spacing,
    )
    .unwrap();
    assert_eq!(plan.series_count(), 2);
    assert_eq!(plan.funcs_of(0), &[0, 1]);
    assert_eq!(plan.max_points(0, spacing), Some(21));
    assert_eq!(plan.max_points(1, spacing), None);
    let mut h = KeyHistory::default();
    for k in 1..=200 {
        plan.observe(&mut h, k * MIN, 0, Some(k as f64));
        plan.observe(&mut h, k * MIN, 1, Some(1.0));
        let st = h.0.as_deref().unwrap();
        assert!(st.series[0].len() <= 21, "{}", st.series[0].len());
        assert!(st.series[1].is_empty(), "ewma keeps no points");
    }
    // Round trip through the checkpoint encoding.
    let bytes = postcard::to_stdvec(&h).unwrap();
    let back: KeyHistory = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(back, h);
    let mut work = Vec::new();
    assert_eq!(
        plan.value(&back, 200 * MIN, 0, Some(200.0), &mut work),
        Some(1.0 / 60.0)
    );
}

#[test]
fn prune_and_forget_at_follow_the_watermark() {
    let plan =
        HistoryPlan::new(&[(HistFunc::Deriv { range_ms: 10 * MIN }, 0)], TUMBLING_1M).unwrap();
    let mut h = KeyHistory::default();
    assert_eq!(plan.forget_at(&h), Some(i64::MIN));
    for k in 1..=5 {
        plan.observe(&mut h, k * MIN, 0, Some(k as f64));
    }
    assert_eq!(plan.forget_at(&h), Some(15 * MIN));
    // A window ending after 14m can still read the point at 5m (> E - 10m).
    plan.prune(&mut h, 14 * MIN);
    assert_eq!(h.0.as_deref().unwrap().series[0].len(), 1);
    plan.prune(&mut h, 15 * MIN);
    assert!(h.0.as_deref().unwrap().series[0].is_empty());
    assert_eq!(plan.forget_at(&h), Some(i64::MIN));
    // Smoothing state covers all points so far: never forgotten.
    let sm = HistoryPlan::new(&[(HistFunc::Ewma { alpha: 0.5 }, 0)], TUMBLING_1M).unwrap();
    let mut g = KeyHistory::default();
    sm.observe(&mut g, MIN, 0, None);
    assert_eq!(sm.forget_at(&g), Some(i64::MIN), "no defined point yet");
    sm.observe(&mut g, 2 * MIN, 0, Some(1.0));
    assert_eq!(sm.forget_at(&g), None);
}

#[test]
fn count_windows_keep_at_most_max_points() {
    let spacing = Spacing {
        step_ms: None,
        min_gap_ms: None,
    };
    let plan = HistoryPlan::new(
        &[(
            HistFunc::Deriv {
                range_ms: i64::MAX / 4,
            },
            0,
        )],
        spacing,
    )
    .unwrap();
    let mut h = KeyHistory::default();
    for k in 0..(MAX_POINTS as i64 + 10) {
        plan.observe(&mut h, k, 0, Some(k as f64));
    }
    let st = h.0.as_deref().unwrap();
    assert_eq!(st.series[0].len(), MAX_POINTS);
    assert_eq!(st.series[0].front().unwrap().0, 10);
}

#[test]
fn plans_refuse_what_they_cannot_bound_or_define() {
    let e = HistoryPlan::new(
        &[(
            HistFunc::Zscore {
                range_ms: 200 * 86_400_000,
            },
            0,
        )],
        TUMBLING_1M,
    )
    .unwrap_err();
    assert!(e.contains("288001 windows"), "{e}");
    let e = HistoryPlan::new(
        &[(
            HistFunc::Holt {
                smoothing: 0.5,
                trend: 0.5,
                horizon_ms: MIN,
            },
            0,
        )],
        Spacing {
            step_ms: None,
            min_gap_ms: Some(MIN),
        },
    )
    .unwrap_err();
    assert!(e.contains("no step"), "{e}");
}

#[test]
fn calls_parse_with_durations_fractions_and_clear_errors() {
    assert_eq!(
        parse_call("predict_linear", &["max(used_pct)", " 6h", "2h "]).unwrap(),
        (
            HistFunc::PredictLinear {
                horizon_ms: 6 * 3_600_000,
                range_ms: 2 * 3_600_000
            },
            "max(used_pct)".to_string()
        )
    );
    assert_eq!(
        parse_call("holt", &["max(used) / max(total)", "0.5", "0.1", "0"]).unwrap(),
        (
            HistFunc::Holt {
                smoothing: 0.5,
                trend: 0.1,
                horizon_ms: 0
            },
            "max(used) / max(total)".to_string()
        )
    );
    let err = |name: &str, args: &[&str]| parse_call(name, args).unwrap_err();
    assert!(err("deriv", &["avg(v)"]).contains("takes 2 arguments"));
    assert!(err("predict_linear", &[""]).contains("got 0"));
    assert!(err("zscore", &["avg(v)", "1x"]).contains("RANGE"));
    assert!(err("zscore", &["avg(v)", "0s"]).contains("RANGE"));
    assert!(err("ewma", &["avg(v)", "1.5"]).contains("0 < ALPHA <= 1"));
    assert!(err("holt", &["avg(v)", "1", "0.5", "1h"]).contains("strictly between 0 and 1"));
    assert!(err("zscore", &["deriv(avg(v), 1h)", "1h"]).contains("do not nest"));
    assert!(err("zscore", &["value", "1h"]).contains("uses no aggregate"));
    assert!(err("zscore", &["avg(v) >", "1h"]).contains("not an expression"));
    assert!(parse_call("ewma", &["avg(v)", "1"]).is_ok());
}
