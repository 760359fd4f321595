//! Engine properties seen from outside: the same disordered input gives the
//! same bytes with 1 and 8 threads; late records (summary, --late-output,
//! sliding windows late for some only); processing-time windows close on the
//! wall clock; --max-keys drops and counts.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{run_in, run_in_env, tempdir, write};

#[test]
fn threads_1_and_8_give_identical_bytes_on_100k_disordered_records() {
    let dir = tempdir();
    let mut s = String::from("ts,host,metric,value\n");
    let mut x: u64 = 88172645463325252;
    for i in 0..100_000i64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let t = 1_767_225_600_000 + i * 50 - (x % 4000) as i64;
        s.push_str(&format!(
            "{},h{},m{},{}.{}\n",
            crate::common::rfc3339(t),
            x % 97,
            (x >> 8) % 5,
            (x >> 16) % 1000,
            (x >> 24) % 10
        ));
    }
    write(dir.path(), "in.csv", s);
    let job = |threads: &str, out: &str| {
        vec![
            "run".to_string(), "in.csv".into(), "--time".into(), "ts".into(), "--key".into(), "host,metric".into(),
            "--window".into(), "10s".into(), "--slide".into(), "5s".into(), "--max-delay".into(), "1s".into(),
            "--agg".into(), "count(), sum(value), avg(value), stddev(value), first(value), last(value), p95(value), distinct(value)".into(),
            "--alert".into(), "hot: avg(value) > 520 for 2".into(), "--alerts".into(), format!("{out}.alerts"),
            "--late-output".into(), format!("{out}.late"), "--threads".into(), threads.into(), "-o".into(), out.into(), "-q".into(),
        ]
    };
    for (threads, out) in [("1", "one.csv"), ("8", "eight.csv")] {
        let args = job(threads, out);
        let argv: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        let r = run_in(dir.path(), &argv, None);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    for ext in ["", ".alerts", ".late"] {
        let a = std::fs::read(dir.path().join(format!("one.csv{ext}"))).unwrap();
        let b = std::fs::read(dir.path().join(format!("eight.csv{ext}"))).unwrap();
        assert!(!a.is_empty(), "output one.csv{ext} is empty");
        assert!(a == b, "one.csv{ext} differs between --threads 1 and 8");
    }
}

#[test]
fn late_records_are_counted_and_written_in_input_format() {
    let dir = tempdir();
    write(
        dir.path(),
        "in.csv",
        "ts,host,value\n\
         2026-01-01T00:00:10Z,a,1\n\
         2026-01-01T00:01:30Z,a,2\n\
         2026-01-01T00:00:50Z,a,3\n\
         2026-01-01T00:01:40Z,a,4\n",
    );
    let out = run_in(
        dir.path(),
        &[
            "run",
            "in.csv",
            "--time",
            "ts",
            "--key",
            "host",
            "--window",
            "1m",
            "--agg",
            "count(), sum(value)",
            "--late-output",
            "late.csv",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.count("late"), 1);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("late.csv")).unwrap(),
        "ts,host,value\n2026-01-01T00:00:50Z,a,3\n"
    );
    assert!(
        out.stdout
            .contains("00:00:00.000Z,2026-01-01T00:01:00.000Z,a,1,1\n"),
        "{}",
        out.stdout
    );

    // --max-delay keeps it
    let out = run_in(
        dir.path(),
        &[
            "run",
            "in.csv",
            "--time",
            "ts",
            "--key",
            "host",
            "--window",
            "1m",
            "--agg",
            "count()",
            "--max-delay",
            "1m",
        ],
        None,
    );
    assert_eq!(out.count("late"), 0);
}

#[test]
fn a_sliding_record_late_for_some_windows_goes_into_the_others() {
    let dir = tempdir();
    // windows 30s every 10s; after 00:00:45 the watermark is 45s: a record at
    // 00:00:22 belongs to [0,30) (closed), [10,40) (closed) and [20,50) (open).
    write(
        dir.path(),
        "in.csv",
        "ts,value\n2026-01-01T00:00:05Z,1\n2026-01-01T00:00:45Z,10\n2026-01-01T00:00:22Z,100\n",
    );
    let out = run_in(
        dir.path(),
        &[
            "run",
            "in.csv",
            "--time",
            "ts",
            "--window",
            "30s",
            "--slide",
            "10s",
            "--agg",
            "count(), sum(value)",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.count("late"),
        0,
        "late for some windows only is not late"
    );
    let rows: Vec<&str> = out.stdout.lines().skip(1).map(|l| &l[11..]).collect();
    assert_eq!(
        rows,
        vec![
            "23:59:40.000Z,2026-01-01T00:00:10.000Z,1,1",
            "23:59:50.000Z,2026-01-01T00:00:20.000Z,1,1",
            "00:00:00.000Z,2026-01-01T00:00:30.000Z,1,1",
            "00:00:20.000Z,2026-01-01T00:00:50.000Z,2,110",
            "00:00:30.000Z,2026-01-01T00:01:00.000Z,1,10",
            "00:00:40.000Z,2026-01-01T00:01:10.000Z,1,10",
        ],
        "{}",
        out.stdout
    );
}

#[test]
fn processing_time_windows_close_with_no_further_input() {
    let mut child = Command::new(crate::common::bin())
        .args(["run", "-", "--window", "1s", "--agg", "count()"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _watchdog = crate::common::watchdog(child.id(), 60);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"host,value\na,1\na,2\n").unwrap();
    stdin.flush().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let started = Instant::now();
    let header = lines.next().unwrap().unwrap();
    let row = lines.next().unwrap().unwrap();
    // The row arrived while stdin is still open: the wall clock closed the window.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(header, "window_start,window_end,count");
    assert!(row.ends_with(",2"), "{row}");
    drop(stdin);
    child.wait().unwrap();
}

#[test]
fn max_keys_drops_new_keys_and_counts_them_the_same_with_any_threads() {
    let dir = tempdir();
    let mut s = String::from("ts,host,value\n");
    for i in 0..1000 {
        s.push_str(&format!("2026-01-01T00:00:{:02}Z,h{},1\n", i % 60, i % 50));
    }
    write(dir.path(), "in.csv", s);
    let mut outs = Vec::new();
    for threads in ["1", "4"] {
        let out = run_in(
            dir.path(),
            &[
                "run",
                "in.csv",
                "--time",
                "ts",
                "--key",
                "host",
                "--max-keys",
                "20",
                "--threads",
                threads,
                "--window",
                "1h",
            ],
            None,
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(out.count("dropped"), 600, "{}", out.stderr);
        assert!(
            out.stderr.contains("--max-keys 20 reached"),
            "{}",
            out.stderr
        );
        assert_eq!(out.stdout.lines().count(), 21);
        outs.push(out.stdout);
    }
    assert_eq!(outs[0], outs[1]);
}

/// Keys that go idle between their windows (200 keys, about 10 records a
/// window) are kept until the end of the batch, then forgotten: with
/// `--max-keys` the keys refused must still be exactly those a model that
/// forgets a key the moment its last window closes refuses, whatever the
/// batch cuts and the thread count.
#[test]
fn keys_idle_between_windows_are_refused_by_max_keys_as_if_forgotten_at_once() {
    let dir = tempdir();
    let mut s = String::from("ts,host,value\n");
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let (max_keys, window) = (6usize, 1000i64);
    let mut records = Vec::new();
    for i in 0..20_000i64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let t = 1_767_225_600_000 + i * 97;
        let key = x % 200;
        records.push((t, key));
        s.push_str(&format!(
            "{},h{key},{}\n",
            crate::common::rfc3339(t),
            x % 100
        ));
    }
    write(dir.path(), "in.csv", s);
    // The model: max-delay 0, times increasing, so a record sees the
    // watermark of the record before it; a key is live while it has a window
    // that the watermark has not passed.
    let mut open_until: std::collections::HashMap<u64, i64> = Default::default();
    let (mut wm, mut dropped) = (i64::MIN, 0u64);
    for &(t, key) in &records {
        open_until.retain(|_, end| *end > wm);
        let end = t - t.rem_euclid(window) + window;
        if !open_until.contains_key(&key) && open_until.len() >= max_keys {
            dropped += 1;
        } else {
            open_until.insert(key, end);
        }
        wm = wm.max(t);
    }
    assert!(
        dropped > 1000 && dropped < 19_000,
        "model dropped {dropped}"
    );
    // One run: THREADS, batches of BATCH bytes (empty: the default), and
    // --max-keys when given.
    let run = |threads: &str, batch: &str, max_keys: Option<&str>| {
        let env: Vec<(&str, &str)> = if batch.is_empty() {
            vec![]
        } else {
            vec![("VIGIL_TEST_BATCH_BYTES", batch)]
        };
        let mut args = vec![
            "run",
            "in.csv",
            "--time",
            "ts",
            "--key",
            "host",
            "--window",
            "1s",
            "--max-delay",
            "0s",
            "--agg",
            "count(), p95(value)",
            "--threads",
            threads,
        ];
        if let Some(max) = max_keys {
            args.extend(["--max-keys", max]);
        }
        let out = run_in_env(dir.path(), &args, None, &env);
        assert_eq!(out.code, 0, "{}", out.stderr);
        out
    };
    let max = max_keys.to_string();
    let mut reports = Vec::new();
    for (threads, batch) in [("1", "4096"), ("3", "4096"), ("2", "65536"), ("2", "")] {
        let out = run(threads, batch, Some(&max));
        assert_eq!(
            out.count("dropped"),
            dropped,
            "threads {threads}, batch {batch}: {}",
            out.stderr
        );
        reports.push(out.stdout);
    }
    assert!(reports.windows(2).all(|w| w[0] == w[1]));
    // Without the limit: the same report with any batch cuts and threads.
    let reports: Vec<String> = [("1", "4096"), ("3", "")]
        .iter()
        .map(|(threads, batch)| {
            let out = run(threads, batch, None);
            assert_eq!(out.count("dropped"), 0);
            out.stdout
        })
        .collect();
    assert_eq!(reports[0], reports[1]);
    assert!(
        reports[0].lines().count() > 1900,
        "{}",
        reports[0].lines().count()
    );
}

#[test]
fn idle_timeout_closes_event_time_windows_of_a_quiet_stream() {
    let mut child = Command::new(crate::common::bin())
        .args([
            "run",
            "-",
            "--time",
            "ts",
            "--window",
            "1s",
            "--idle-timeout",
            "300ms",
            "--agg",
            "count()",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _watchdog = crate::common::watchdog(child.id(), 60);
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"ts\n2026-01-01T00:00:00.100Z\n2026-01-01T00:00:00.200Z\n")
        .unwrap();
    stdin.flush().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let started = Instant::now();
    assert_eq!(
        lines.next().unwrap().unwrap(),
        "window_start,window_end,count"
    );
    // no record moved the watermark; the idle timeout did (after ~0.3 s + the window's 0.8 s)
    assert_eq!(
        lines.next().unwrap().unwrap(),
        "2026-01-01T00:00:00.000Z,2026-01-01T00:00:01.000Z,2"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(stdin);
    child.wait().unwrap();
}

/// `vigil run s.csv --time ts --key host --session 1s EXTRA... -q` in `dir`.
fn run_sessions(dir: &std::path::Path, extra: &[&str]) -> crate::common::Output {
    let mut args = vec![
        "run",
        "s.csv",
        "--time",
        "ts",
        "--key",
        "host",
        "--session",
        "1s",
        "-q",
    ];
    args.extend_from_slice(extra);
    run_in(dir, &args, None)
}

/// A record that falls within the gap of two open sessions of its key joins
/// them into one session holding all three records (SPEC: sessions merge).
#[test]
fn a_record_between_two_sessions_merges_them() {
    let dir = tempdir();
    write(
        dir.path(),
        "s.csv",
        "ts,host,v\n2026-01-01T00:00:00.000Z,a,1\n2026-01-01T00:00:01.600Z,a,2\n2026-01-01T00:00:00.800Z,a,4\n2026-01-01T00:00:00.100Z,b,8\n",
    );
    let out = run_sessions(
        dir.path(),
        &["--max-delay", "5s", "--agg", "count(), sum(v)"],
    );
    assert_eq!(
        out.stdout,
        "window_start,window_end,host,count,sum_v\n\
         2026-01-01T00:00:00.100Z,2026-01-01T00:00:01.100Z,b,1,8\n\
         2026-01-01T00:00:00.000Z,2026-01-01T00:00:02.600Z,a,3,7\n",
        "{}",
        out.stderr
    );
}

/// A session that every record extends keeps one early timer, set again when
/// it fires before the session's end: the session must still close at the
/// first record past its end, not at the end of input. Here a's first
/// timer (1.0 s) fires at the watermark of 1.3 s, when its session already
/// ends at 2.2 s; had the timer not been set again, a's row would come out
/// with the flush, after rows that end later.
#[test]
fn a_session_extended_past_its_first_timer_still_closes_on_time() {
    let dir = tempdir();
    let times = [
        ("00.000", "a"),
        ("00.600", "a"),
        ("01.200", "a"),
        ("01.300", "b"),
        ("01.500", "c"),
        ("02.250", "c"),
        ("02.400", "c"),
        ("10.000", "c"),
    ];
    let mut csv = String::from("ts,host\n");
    for (t, k) in times {
        csv.push_str(&format!("2026-01-01T00:00:{t}Z,{k}\n"));
    }
    write(dir.path(), "s.csv", &csv);
    for threads in ["1", "3"] {
        let out = run_sessions(dir.path(), &["--threads", threads]);
        let rows: Vec<String> = out
            .stdout
            .lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                format!("{} {} {}", &f[1][17..], f[2], f[3])
            })
            .collect();
        assert_eq!(
            rows,
            vec!["02.200Z a 3", "02.300Z b 1", "03.400Z c 3", "11.000Z c 1"],
            "{}",
            out.stdout
        );
    }
}

/// Regression: a key's first session got no closing timer, so it was only
/// emitted at the end of input, after sessions that ended later.
#[test]
fn regression_a_new_session_closes_when_the_watermark_passes_it() {
    let dir = tempdir();
    write(
        dir.path(),
        "s.csv",
        "ts,host\n2026-01-01T00:00:00.500Z,b\n2026-01-01T00:00:00.000Z,c\n2026-01-01T00:00:00.000Z,b\n2026-01-01T00:00:02.500Z,c\n",
    );
    let out = run_sessions(dir.path(), &[]);
    let ends: Vec<String> = out
        .stdout
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            format!("{} {}", &f[1][14..], f[2])
        })
        .collect();
    assert_eq!(
        ends,
        vec!["00:01.000Z c", "00:01.500Z b", "00:03.500Z c"],
        "{}",
        out.stdout
    );
}
