//! absent() against a reference written here from SPEC 4's words, on random
//! inputs: gaps of every length, equal times, disorder and late records,
//! tumbling and sliding windows, durations on and off the window grid,
//! thread counts 1-8, and a run cut in two (--incremental, then resumed) that
//! must give the same events as one run.
//!
//! The reference replays the records in input order: a record late for all
//! its windows (the watermark before it has reached the end of the last
//! window holding it) is dropped; otherwise it joins its key's records. When
//! the watermark moves, every window end E it passes is checked in order:
//! an inactive key with a record before E and none in [E - DUR, E) fires at
//! E; a firing key (fired at F) with a record in [F, E) resolves at E. The
//! end of input checks nothing.

use proptest::prelude::*;

use crate::common::{rfc3339, run_in, tempdir, write};

const BASE: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const MIN: i64 = 60_000;
const KEYS: [&str; 3] = ["a", "b", "c"];

#[derive(Debug, Clone)]
struct Rec {
    t: i64,
    key: usize,
}

fn records() -> impl Strategy<Value = Vec<Rec>> {
    prop::collection::vec(
        (
            prop_oneof![3 => 0i64..40_000, 1 => Just(0i64), 1 => 60_000i64..900_000],
            -70_000i64..5_000,
            0usize..3,
        ),
        2..120,
    )
    .prop_map(|raw| {
        let mut t = BASE;
        raw.into_iter()
            .map(|(step, jitter, key)| {
                t += step;
                Rec {
                    t: (t + jitter).max(BASE),
                    key,
                }
            })
            .collect()
    })
}

/// The window ends passed when the watermark moves from `from` to `to`.
fn ends_between(from: i64, to: i64, size: i64, slide: i64) -> Vec<i64> {
    // ends are k * slide + size
    let mut out = Vec::new();
    if to == i64::MIN {
        return out;
    }
    // Before the first watermark there is nothing to check: every record is
    // at or after BASE, and firing needs a record before the end.
    let first = if from == i64::MIN { BASE - MIN } else { from };
    let mut e = (first - size).div_euclid(slide) * slide + slide + size;
    while e <= to {
        if e > first {
            out.push(e);
        }
        e += slide;
    }
    out
}

/// (time, key, state) of every absent event the spec implies.
fn reference(
    recs: &[Rec],
    size: i64,
    slide: i64,
    delay: i64,
    dur: i64,
) -> Vec<(i64, usize, &'static str)> {
    let mut seen: Vec<Vec<i64>> = vec![Vec::new(); KEYS.len()];
    let mut fired: Vec<Option<i64>> = vec![None; KEYS.len()];
    let mut max_seen = i64::MIN;
    let mut wm = i64::MIN;
    let mut events = Vec::new();
    for r in recs {
        let last_end = r.t.div_euclid(slide) * slide + size;
        let late = wm != i64::MIN && last_end <= wm;
        if !late {
            seen[r.key].push(r.t);
        }
        if r.t > max_seen {
            max_seen = r.t;
            let new_wm = max_seen - delay;
            for e in ends_between(wm, new_wm, size, slide) {
                for k in 0..KEYS.len() {
                    match fired[k] {
                        None => {
                            let before = seen[k].iter().any(|&t| t < e);
                            let recent = seen[k].iter().any(|&t| t >= e - dur && t < e);
                            if before && !recent {
                                fired[k] = Some(e);
                                events.push((e, k, "firing"));
                            }
                        }
                        Some(f) => {
                            if seen[k].iter().any(|&t| t >= f && t < e) {
                                fired[k] = None;
                                events.push((e, k, "resolved"));
                            }
                        }
                    }
                }
            }
            wm = new_wm;
        }
    }
    events
}

fn parse_events(csv: &str) -> Vec<(i64, usize, String)> {
    csv.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let key = KEYS.iter().position(|k| *k == f[4]).expect("known key");
            (f[0].to_string(), key, f[3].to_string())
        })
        .map(|(time, key, state)| (time_ms(&time), key, state))
        .collect()
}

fn time_ms(s: &str) -> i64 {
    // 2026-01-DDTHH:MM:SS.mmmZ, within January 2026 for these inputs
    let day: i64 = s[8..10].parse().unwrap();
    let h: i64 = s[11..13].parse().unwrap();
    let m: i64 = s[14..16].parse().unwrap();
    let sec: i64 = s[17..19].parse().unwrap();
    let ms: i64 = s[20..23].parse().unwrap();
    BASE + (day - 1) * 86_400_000 + h * 3_600_000 + m * 60_000 + sec * 1000 + ms
}

fn csv(recs: &[Rec]) -> String {
    let mut s = String::from("ts,host\n");
    for r in recs {
        s.push_str(&format!("{},{}\n", rfc3339(r.t), KEYS[r.key]));
    }
    s
}

fn run(
    dir: &std::path::Path,
    window: &[String],
    delay: i64,
    dur: &str,
    threads: usize,
    extra: &[&str],
) -> String {
    let delay = format!("{delay}ms");
    let rule = format!("gone: absent({dur})");
    let threads = threads.to_string();
    let mut args: Vec<&str> = vec![
        "run",
        "in.csv",
        "--time",
        "ts",
        "--key",
        "host",
        "--max-delay",
        &delay,
        "--alert",
        &rule,
        "--alerts",
        "alerts.csv",
        "--threads",
        &threads,
        "-q",
    ];
    args.extend(window.iter().map(|s| s.as_str()));
    args.extend_from_slice(extra);
    let out = run_in(dir, &args, None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    std::fs::read_to_string(dir.join("alerts.csv")).unwrap()
}

fn check(
    recs: &[Rec],
    sliding: bool,
    delay: i64,
    dur_ms: i64,
    threads: usize,
) -> Result<(), TestCaseError> {
    let (size, slide) = if sliding { (3 * MIN, MIN) } else { (MIN, MIN) };
    let window: Vec<String> = if sliding {
        vec![
            "--window".into(),
            "3m".into(),
            "--slide".into(),
            "1m".into(),
        ]
    } else {
        vec!["--window".into(), "1m".into()]
    };
    let dur = format!("{dur_ms}ms");
    let expected: Vec<(i64, usize, String)> = reference(recs, size, slide, delay, dur_ms)
        .into_iter()
        .map(|(t, k, s)| (t, k, s.to_string()))
        .collect();
    let mut expected_sorted = expected.clone();
    expected_sorted.sort();

    let dir = tempdir();
    write(dir.path(), "in.csv", csv(recs));
    let got = parse_events(&run(dir.path(), &window, delay, &dur, threads, &[]));
    prop_assert_eq!(&got, &expected_sorted, "one run, {} threads", threads);

    // The same input in two runs: the first stops halfway (--incremental), the
    // second resumes from the checkpoint over the grown file.
    let cut = recs.len() / 2;
    let dir = tempdir();
    write(dir.path(), "in.csv", csv(&recs[..cut]));
    run(
        dir.path(),
        &window,
        delay,
        &dur,
        threads,
        &["--checkpoint", "c.ckpt", "--incremental"],
    );
    let mut all = csv(&recs[..cut]);
    all.push_str(&csv(&recs[cut..])["ts,host\n".len()..]);
    write(dir.path(), "in.csv", all);
    // the resumed run appends to the alerts file: it then holds both runs' events
    let resumed = run(
        dir.path(),
        &window,
        delay,
        &dur,
        1 + threads % 4,
        &["--checkpoint", "c.ckpt"],
    );
    prop_assert_eq!(
        &parse_events(&resumed),
        &expected_sorted,
        "cut at record {} and resumed",
        cut
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn absent_matches_the_reference(
        recs in records(),
        sliding in any::<bool>(),
        delay in prop_oneof![Just(0i64), 0i64..20_000],
        dur in prop_oneof![Just(2 * MIN), Just(150_000i64), 30_000i64..600_000],
        threads in 1usize..=8,
    ) {
        check(&recs, sliding, delay, dur, threads)?;
    }
}

#[test]
fn a_gap_ended_by_the_keys_own_next_record_fires_once_and_resolves() {
    let recs = vec![
        Rec { t: BASE, key: 0 },
        Rec {
            t: BASE + 30 * MIN,
            key: 0,
        },
        Rec {
            t: BASE + 31 * MIN,
            key: 0,
        },
    ];
    let expected = reference(&recs, MIN, MIN, 0, 10 * MIN);
    assert_eq!(
        expected,
        vec![
            (BASE + 11 * MIN, 0, "firing"),
            (BASE + 31 * MIN, 0, "resolved")
        ]
    );
    check(&recs, false, 0, 10 * MIN, 2).unwrap();
}
