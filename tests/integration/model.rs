//! vigil's reports against a deliberately simple reference model kept here:
//! random records with random disorder, every window kind, the aggregates of
//! SPEC section 3. The model re-derives windows record by record with plain
//! loops and vectors; it shares no code with the engine.

use proptest::prelude::*;
use std::collections::BTreeMap;

const BASE: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const KEYS: [&str; 4] = ["a", "b", "c", "d"];
const AGGS: &str = "count(), count(value), sum(value), min(value), max(value), avg(value), first(value), last(value), var(value), stddev(value), p50(value), quantile(value, 0.9), distinct(value), rate(value), rate()";

#[derive(Debug, Clone)]
struct Rec {
    t: i64,
    key: &'static str,
    /// value in hundredths, or missing
    v: Option<i64>,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Tumbling { size: i64 },
    Sliding { size: i64, slide: i64 },
    Session { gap: i64 },
    Count { n: usize },
}

fn records() -> impl Strategy<Value = Vec<Rec>> {
    prop::collection::vec(
        (
            0i64..4000,
            -3000i64..3000,
            0usize..4,
            prop::option::weighted(0.9, -500i64..5000),
        ),
        1..250,
    )
    .prop_map(|raw| {
        let mut t = BASE;
        raw.into_iter()
            .map(|(step, jitter, k, v)| {
                t += step;
                Rec {
                    t: t + jitter,
                    key: KEYS[k],
                    v,
                }
            })
            .collect()
    })
}

fn fmt_v(v: i64) -> String {
    format!("{}", v as f64 / 100.0)
}

fn csv_input(recs: &[Rec]) -> String {
    let mut s = String::from("ts,host,value\n");
    for r in recs {
        let v = r.v.map(fmt_v).unwrap_or_default();
        s.push_str(&format!(
            "{},{},{}\n",
            crate::common::rfc3339(r.t),
            r.key,
            v
        ));
    }
    s
}

/// (time, seq, value) of the records in one window.
type Members = Vec<(i64, usize, Option<f64>)>;

/// Expected cells of one row after the key: the aggregates in AGGS order,
/// for a window `len_ms` long.
fn aggregates(m: &Members, len_ms: i64) -> Vec<Option<f64>> {
    let vals: Vec<f64> = m.iter().filter_map(|x| x.2).collect();
    let n = vals.len();
    let sum: f64 = vals.iter().sum();
    let with_v: Vec<&(i64, usize, Option<f64>)> = m.iter().filter(|x| x.2.is_some()).collect();
    let first = with_v.iter().min_by_key(|x| (x.0, x.1)).and_then(|x| x.2);
    let last = with_v.iter().max_by_key(|x| (x.0, x.1)).and_then(|x| x.2);
    let mean = sum / n as f64;
    let var = if n >= 2 {
        Some(vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64)
    } else {
        None
    };
    let mut sorted = vals.clone();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let quantile = |q: f64| {
        if n == 0 {
            return None;
        }
        let h = (n - 1) as f64 * q;
        let lo = h.floor() as usize;
        let hi = (lo + 1).min(n - 1);
        Some(sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo]))
    };
    let secs = len_ms as f64 / 1000.0;
    let mut distinct: Vec<String> = m
        .iter()
        .filter_map(|x| x.2)
        .map(|v| format!("{v}"))
        .collect();
    distinct.sort();
    distinct.dedup();
    let some = |x: f64| if n == 0 { None } else { Some(x) };
    vec![
        Some(m.len() as f64),
        Some(n as f64),
        some(sum),
        vals.iter().cloned().reduce(f64::min),
        vals.iter().cloned().reduce(f64::max),
        some(mean),
        first,
        last,
        var,
        var.map(f64::sqrt),
        quantile(0.5),
        quantile(0.9),
        Some(distinct.len() as f64),
        some(sum / secs),
        Some(m.len() as f64 / secs),
    ]
}

/// One expected row: (order, start, end, key, aggregates).
type ModelRow = (i64, i64, i64, String, Vec<Option<f64>>);

/// Rows and the late count.
fn model(recs: &[Rec], kind: Kind, delay: i64) -> (Vec<ModelRow>, u64) {
    let mut rows = Vec::new();
    let mut late = 0;
    let mut wm = i64::MIN;
    let mut max_seen = i64::MIN;
    match kind {
        Kind::Tumbling { .. } | Kind::Sliding { .. } => {
            let (size, slide) = match kind {
                Kind::Tumbling { size } => (size, size),
                Kind::Sliding { size, slide } => (size, slide),
                _ => unreachable!(),
            };
            let mut windows: BTreeMap<(i64, &str), Members> = BTreeMap::new();
            for (seq, r) in recs.iter().enumerate() {
                let mut any = false;
                let mut s = r.t.div_euclid(slide) * slide;
                while s > r.t - size {
                    if s + size > wm {
                        windows.entry((s, r.key)).or_default().push((
                            r.t,
                            seq,
                            r.v.map(|v| v as f64 / 100.0),
                        ));
                        any = true;
                    }
                    s -= slide;
                }
                if !any {
                    late += 1;
                }
                max_seen = max_seen.max(r.t);
                wm = max_seen - delay;
            }
            for ((s, k), m) in windows {
                rows.push((s + size, s, s + size, k.to_string(), aggregates(&m, size)));
            }
        }
        Kind::Session { gap } => {
            // open sessions per key: (start, last, members)
            let mut open: BTreeMap<&str, Vec<(i64, i64, Members)>> = BTreeMap::new();
            let mut closed = Vec::new();
            for (seq, r) in recs.iter().enumerate() {
                for (k, list) in open.iter_mut() {
                    list.retain(|(s, l, m)| {
                        if l + gap <= wm {
                            closed.push((*s, l + gap, k.to_string(), m.clone()));
                            false
                        } else {
                            true
                        }
                    });
                }
                let list = open.entry(r.key).or_default();
                let member = (r.t, seq, r.v.map(|v| v as f64 / 100.0));
                let (joined, rest): (Vec<_>, Vec<_>) = list
                    .drain(..)
                    .partition(|(s, l, _)| s - gap <= r.t && r.t <= l + gap);
                *list = rest;
                if joined.is_empty() && r.t + gap <= wm {
                    late += 1;
                } else {
                    let mut start = r.t;
                    let mut last = r.t;
                    let mut members = vec![member];
                    for (s, l, m) in joined {
                        start = start.min(s);
                        last = last.max(l);
                        members.extend(m);
                    }
                    list.push((start, last, members));
                }
                max_seen = max_seen.max(r.t);
                wm = max_seen - delay;
            }
            for (k, list) in open {
                for (s, l, m) in list {
                    closed.push((s, l + gap, k.to_string(), m));
                }
            }
            for (s, e, k, m) in closed {
                rows.push((e, s, e, k, aggregates(&m, e - s)));
            }
        }
        Kind::Count { n } => {
            let mut open: BTreeMap<&str, Members> = BTreeMap::new();
            for (seq, r) in recs.iter().enumerate() {
                let m = open.entry(r.key).or_default();
                m.push((r.t, seq, r.v.map(|v| v as f64 / 100.0)));
                if m.len() == n {
                    let m = std::mem::take(m);
                    let s = m.iter().map(|x| x.0).min().unwrap();
                    let e = m.iter().map(|x| x.0).max().unwrap() + 1;
                    rows.push((seq as i64, s, e, r.key.to_string(), aggregates(&m, e - s)));
                }
            }
            for (k, m) in open {
                if !m.is_empty() {
                    let s = m.iter().map(|x| x.0).min().unwrap();
                    let e = m.iter().map(|x| x.0).max().unwrap() + 1;
                    rows.push((i64::MAX, s, e, k.to_string(), aggregates(&m, e - s)));
                }
            }
        }
    }
    match kind {
        Kind::Count { .. } => rows.sort_by(|a, b| (a.0, &a.3).cmp(&(b.0, &b.3))),
        _ => rows.sort_by(|a, b| (a.2, a.1, &a.3).cmp(&(b.2, b.1, &b.3))),
    }
    (rows, late)
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn check(recs: &[Rec], kind: Kind, delay: i64, threads: &str) -> Result<(), TestCaseError> {
    let dir = crate::common::tempdir();
    let input = crate::common::write(dir.path(), "in.csv", csv_input(recs));
    let delay_arg = format!("{delay}ms");
    let mut args: Vec<String> = vec![
        "run".into(),
        input.display().to_string(),
        "--time".into(),
        "ts".into(),
        "--key".into(),
        "host".into(),
        "--max-delay".into(),
        delay_arg,
        "--agg".into(),
        AGGS.into(),
        "--threads".into(),
        threads.into(),
    ];
    match kind {
        Kind::Tumbling { size } => args.extend(["--window".into(), format!("{size}ms")]),
        Kind::Sliding { size, slide } => args.extend([
            "--window".into(),
            format!("{size}ms"),
            "--slide".into(),
            format!("{slide}ms"),
        ]),
        Kind::Session { gap } => args.extend(["--session".into(), format!("{gap}ms")]),
        Kind::Count { n } => args.extend(["--count-window".into(), n.to_string()]),
    }
    let argv: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let out = crate::common::run_in(dir.path(), &argv, None);
    prop_assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    let (expected, late) = model(recs, kind, delay);
    prop_assert_eq!(out.count("late"), late);
    let mut lines = out.stdout.lines();
    let header = lines.next().unwrap_or("");
    if !expected.is_empty() {
        prop_assert_eq!(
            header,
            "window_start,window_end,host,count,count_value,sum_value,min_value,max_value,avg_value,first_value,last_value,var_value,stddev_value,p50_value,p90_value,distinct_value,rate_value,rate"
        );
    }
    let got: Vec<&str> = lines.collect();
    prop_assert_eq!(got.len(), expected.len(), "rows:\n{}", out.stdout);
    for (line, (_, s, e, k, aggs)) in got.iter().zip(&expected) {
        let cells: Vec<&str> = line.split(',').collect();
        let (want_start, want_end) = (crate::common::rfc3339(*s), crate::common::rfc3339(*e));
        prop_assert_eq!(cells[0], want_start.as_str(), "row {}", line);
        prop_assert_eq!(cells[1], want_end.as_str(), "row {}", line);
        prop_assert_eq!(cells[2], k.as_str());
        for (i, want) in aggs.iter().enumerate() {
            let cell = cells[3 + i];
            match want {
                None => prop_assert_eq!(cell, "", "column {} of {}", i, line),
                Some(w) => {
                    let g: f64 = cell
                        .parse()
                        .map_err(|_| TestCaseError::fail(format!("cell '{cell}' in {line}")))?;
                    prop_assert!(
                        close(g, *w),
                        "column {} of {}: got {} want {}",
                        i,
                        line,
                        g,
                        w
                    );
                }
            }
        }
    }
    Ok(())
}

fn kinds() -> impl Strategy<Value = Kind> {
    prop_oneof![
        (1i64..20).prop_map(|s| Kind::Tumbling { size: s * 1000 }),
        (1i64..6, 1i64..4)
            .prop_map(|(k, sl)| Kind::Sliding {
                size: sl * 1000 * k + 500 * (k % 2),
                slide: sl * 1000
            })
            .prop_filter(
                "slide <= size",
                |k| matches!(k, Kind::Sliding { size, slide } if slide <= size)
            ),
        (1i64..15).prop_map(|g| Kind::Session { gap: g * 1000 }),
        (1usize..8).prop_map(|n| Kind::Count { n }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn report_matches_model(recs in records(), kind in kinds(), delay in prop_oneof![Just(0i64), 0i64..5000], threads in prop_oneof![Just("1"), Just("3")]) {
        check(&recs, kind, delay, threads)?;
    }
}
