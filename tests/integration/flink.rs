//! `vigil export flink` on a real Apache Flink (PyFlink's local mini-cluster,
//! from `components::pyflink`): every case runs `vigil run` and the exported
//! script on the same input, and the outputs must agree: the same (window,
//! key) rows with exact counts and other values within 1e-9 relative, the
//! same alert events, the same late records. All cases run as one Flink job
//! (one JVM start, about 15 s of a quiet 2-core machine's time plus the job),
//! through `flink_runner.py`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{rfc3339, run_in, tempdir, watchdog, write};
use crate::components;

/// How long the one Flink job may take before the test fails.
const FLINK_TIMEOUT_S: u64 = 1500;

/// A small deterministic generator (no dependency, same data every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

/// Web-ish metrics, out of order: within a few seconds everywhere, and every
/// 23rd record 40-100 s late (late for 1-minute windows with a 10 s delay;
/// late for only some of its sliding windows).
fn metrics_csv() -> String {
    let mut rng = Lcg(7);
    let mut rows: Vec<(i64, String)> = Vec::new();
    let paths = ["/api/a", "/api/b", "/web", "/api/c"];
    let methods = ["GET", "GET", "POST", "HEAD"];
    for minute in 0..40 {
        for host in ["a", "b", "c"] {
            let n = 2 + rng.below(8);
            for _ in 0..n {
                let t = T0 + minute * 60_000 + rng.below(60_000) as i64;
                let value = match rng.below(20) {
                    0 => String::new(),
                    1 => "n/a".to_string(),
                    _ => format!("{}.{:02}", 40 + rng.below(60), rng.below(100)),
                };
                let status = [200, 200, 200, 404, 500, 503][rng.below(6) as usize];
                let line = format!(
                    "{},{host},{},{},{status},{},{value}",
                    rfc3339(t),
                    paths[rng.below(4) as usize],
                    methods[rng.below(4) as usize],
                    rng.below(5000),
                );
                rows.push((t, line));
            }
        }
    }
    rows.sort();
    // arrival order: small disorder everywhere, some records very late
    let mut arrival: Vec<(i64, String)> = rows
        .into_iter()
        .enumerate()
        .map(|(i, (t, line))| {
            let delay = if i % 23 == 11 {
                40_000 + rng.below(60_000) as i64
            } else {
                rng.below(4_000) as i64
            };
            (t + delay, line)
        })
        .collect();
    arrival.sort();
    let mut s = String::from("ts,host,path,method,status,bytes,value\n");
    for (_, line) in arrival {
        s.push_str(&line);
        s.push('\n');
    }
    s
}

/// Per-minute CPU of two hosts with gaps, built so that `for 3` runs are
/// broken by a false window and by a missing window, and `clear` holds an
/// alert through windows between the thresholds.
fn alerts_csv() -> String {
    // None: no record in that minute (a gap)
    let x = [
        Some(95.0),
        Some(95.0),
        Some(95.0), // fires at the 3rd
        Some(85.0), // between thresholds: still firing
        None,       // gap: still firing
        Some(95.0),
        Some(70.0), // resolves
        Some(95.0),
        Some(95.0),
        None, // gap breaks the run
        Some(95.0),
        Some(95.0),
        Some(95.0), // fires
        Some(99.0), // firing at the end: no resolved event
    ];
    let y = [
        Some(92.0),
        Some(93.0),
        Some(70.0), // false breaks the run
        Some(91.0),
        Some(91.0),
        Some(91.0), // fires
        Some(79.0), // resolves (< 80)
        Some(91.0),
        Some(91.0),
        Some(91.0), // fires again
        Some(50.0), // resolves
        None,
        Some(91.0),
    ];
    let mut s = String::from("ts,host,value\n");
    for minute in 0..14usize {
        for (host, series) in [("x", &x[..]), ("y", &y[..])] {
            if let Some(Some(v)) = series.get(minute) {
                // two records a minute for x (the `busy` rule counts them)
                let copies = if host == "x" && minute % 4 == 0 { 2 } else { 1 };
                for c in 0..copies {
                    let t = T0 + minute as i64 * 60_000 + 1_000 + c * 10_000;
                    s.push_str(&format!("{},{host},{v}\n", rfc3339(t)));
                }
            }
        }
    }
    s
}

/// Click streams of four users in two chronological files, with pauses
/// longer and shorter than the 30 s session gap.
fn sessions_csv() -> (String, String) {
    let mut rng = Lcg(11);
    let mut events: Vec<(i64, String)> = Vec::new();
    for user in ["u1", "u2", "u3", "u4"] {
        let mut t = T0 + rng.below(20_000) as i64;
        for _ in 0..40 {
            let pause = if rng.below(5) == 0 {
                31_000 + rng.below(90_000) as i64
            } else {
                1_000 + rng.below(28_000) as i64
            };
            t += pause;
            events.push((t, format!("{},{user},{}", rfc3339(t), 1 + rng.below(900))));
        }
    }
    events.sort();
    let half = events.len() / 2;
    let mut first = String::from("ts,user,ms\n");
    // the second file orders its columns differently
    let mut second = String::from("user,ms,ts\n");
    for (i, (_, line)) in events.iter().enumerate() {
        if i < half {
            first.push_str(line);
            first.push('\n');
        } else {
            let f: Vec<&str> = line.split(',').collect();
            second.push_str(&format!("{},{},{}\n", f[1], f[2], f[0]));
        }
    }
    (first, second)
}

/// JSON lines with a nested field and a malformed line.
fn requests_jsonl() -> String {
    let mut rng = Lcg(5);
    let mut s = String::new();
    for i in 0..300i64 {
        let t = T0 + i * 997;
        let svc = ["auth", "cart", "search"][rng.below(3) as usize];
        let status = if rng.below(10) == 0 { "500" } else { "200" };
        s.push_str(&format!(
            "{{\"time\":\"{}\",\"svc\":\"{svc}\",\"status\":{status},\"req\":{{\"ms\":{}.{}}}}}\n",
            rfc3339(t),
            rng.below(400),
            rng.below(10)
        ));
        if i == 100 {
            s.push_str("{not json\n");
        }
    }
    s
}

/// Times in every form vigil reads (and some it does not), in increasing
/// order so none is late; each is its own 1 ms window.
fn times_csv() -> String {
    let times = [
        "1767225600",                       // epoch seconds
        "1767225600.25",                    // fractional seconds
        "2026-01-01T00:00:01.123Z",         //
        "2026-01-01T00:00:01.5",            // no offset: UTC
        "2026-01-01 00:00:02",              // space
        "2026-01-01T01:30:03,123456+01:30", // comma fraction, offset
        "2026-01-01T00:00:04-0000",         //
        "1767225605123",                    // milliseconds
        "1767225606123456",                 // microseconds
        "1767225607123456789",              // nanoseconds
        "1767225608123.9",                  // fractional milliseconds
        " 2026-01-01T00:00:09Z ",           // spaces
        "\"\"\"2026-01-01T00:00:10Z\"\"\"", // quotes inside the CSV field
        "2026-01-01T00:01",                 // no seconds
        "2026-01-02",                       // a date
        "2024-02-29T00:00:00Z",             // out of order: late (counted by both)
        "2026-02-29T00:00:00Z",             // no such day: bad
        "2026-13-01T00:00:00Z",             // bad month
        "2026-01-03T24:00:00Z",             // bad hour
        "2026-01-03T10:00:00+01",           //
        "2026-06-30T23:59:60Z",             // leap second: the next minute
        "2026-07-01T00:00:00.001+00:00",    //
        "tomorrow",                         // bad
        "1e9",                              // bad: no exponents
        "2099-12-31T23:59:59.999Z",
    ];
    let mut s = String::from("t,v\n");
    for t in times {
        s.push_str(&format!("{t},1\n"));
    }
    s
}

/// Access lines for `--format regex`, with a line that does not match and a `-`.
fn access_log() -> String {
    let mut rng = Lcg(3);
    let mut s = String::new();
    for i in 0..200i64 {
        let t = T0 + i * 1_500;
        let method = ["GET", "POST"][rng.below(2) as usize];
        let bytes = if i % 17 == 0 {
            "-".to_string()
        } else {
            rng.below(9000).to_string()
        };
        s.push_str(&format!(
            "{} {method} /p{} {} {bytes}\n",
            rfc3339(t),
            rng.below(3),
            [200, 404][rng.below(2) as usize]
        ));
        if i == 50 {
            s.push_str("garbage line\n");
        }
    }
    s
}

struct Case {
    name: &'static str,
    inputs: Vec<&'static str>,
    job: Vec<&'static str>,
    alerts: bool,
    late: bool,
    /// number of key columns in the report and the alerts
    keys: usize,
    /// run from the repository root (the job file names its inputs from there)
    from_repo: bool,
}

fn cases() -> Vec<Case> {
    let every_agg = "count(), count(value), sum(value), avg(value), min(value), max(value), stddev(value), var(value), rate(value), rate(), p50(value), p95(value), quantile(value, 0.3) as q30, distinct(value), distinct(path)";
    vec![
        Case {
            name: "tumbling",
            inputs: vec!["metrics.csv"],
            job: vec![
                "--time", "ts", "--key", "host", "--window", "1m", "--max-delay", "10s",
                "--agg", every_agg,
            ],
            alerts: false,
            late: true,
            keys: 1,
            from_repo: false,
        },
        Case {
            name: "sliding",
            inputs: vec!["metrics.csv"],
            job: vec![
                "--time", "ts", "--key", "host,method", "--window", "1m", "--slide", "20s",
                "--max-delay", "10s", "--agg", "count(), avg(value), p90(value), max(value)",
            ],
            alerts: false,
            late: true,
            keys: 2,
            from_repo: false,
        },
        Case {
            name: "where_eval",
            inputs: vec!["metrics.csv"],
            job: vec![
                "--time", "ts", "--key", "path", "--window", "5m", "--max-delay", "2m",
                "--eval", "is_err = status >= 500",
                "--eval", "kb = bytes / 1024",
                "--eval", "big = kb > 2 and not (method == 'HEAD')",
                "--where", "path =~ '^/api/' and method != \"HEAD\" or status == 404",
                "--agg", "count(), avg(is_err) as error_ratio, sum(kb), max(kb), avg(big), count(value), distinct(status)",
            ],
            alerts: false,
            late: true,
            keys: 1,
            from_repo: false,
        },
        Case {
            name: "session",
            inputs: vec!["sessions-1.csv", "sessions-2.csv"],
            job: vec![
                "--time", "ts", "--key", "user", "--session", "30s", "--max-delay", "1s",
                "--agg", "count(), sum(ms), avg(ms), rate(), rate(ms), p99(ms)",
            ],
            alerts: false,
            late: false,
            keys: 1,
            from_repo: false,
        },
        Case {
            name: "alerts",
            inputs: vec!["alerts.csv"],
            job: vec![
                "--time", "ts", "--key", "host", "--window", "1m",
                "--agg", "avg(value), count()",
                "--alert", "hot: avg(value) > 90 for 3 clear avg(value) < 80 severity critical",
                "--alert", "busy: count() >= 2",
                "--alert", "y_high: max(value) > 92 and host == 'y' for 1 clear max(value) < 60",
            ],
            alerts: true,
            late: false,
            keys: 1,
            from_repo: false,
        },
        Case {
            name: "json",
            inputs: vec!["requests.jsonl"],
            job: vec![
                "--time", "time", "--key", "svc", "--window", "1m", "--slide", "30s",
                "--where", "status != 500",
                "--agg", "count(), avg(req.ms), p90(req.ms), min(req.ms)",
            ],
            alerts: false,
            late: true,
            keys: 1,
            from_repo: false,
        },
        Case {
            name: "times",
            inputs: vec!["times.csv"],
            job: vec!["--time", "t", "--window", "1ms", "--agg", "count()"],
            alerts: false,
            late: true,
            keys: 0,
            from_repo: false,
        },
        Case {
            name: "regex",
            inputs: vec!["access.log"],
            job: vec![
                "--format", "regex",
                "--regex", r"^(?P<ts>\S+) (?P<method>[A-Z]+) (?P<path>\S+) (?P<status>\d+) (?P<bytes>\S+)$",
                "--time", "ts", "--key", "method,status", "--window", "1m",
                "--agg", "count(), sum(bytes), count(bytes)",
            ],
            alerts: false,
            late: false,
            keys: 2,
            from_repo: false,
        },
        // the README's recipe: the sample job file, as documented
        Case {
            name: "job_file",
            inputs: vec![],
            job: vec!["-c", "testdata/job.toml"],
            alerts: true,
            late: false,
            keys: 2,
            from_repo: true,
        },
    ]
}

/// One CSV line's fields (RFC 4180 quotes).
fn csv_fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (false, '"') => quoted = true,
            (false, ',') => out.push(std::mem::take(&mut cur)),
            (_, c) => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// The lines of every part file Flink wrote into `dir` (none if it made no dir).
fn flink_lines(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut lines = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let text = std::fs::read_to_string(e.path()).unwrap();
        lines.extend(text.lines().map(str::to_string));
    }
    lines
}

/// Values agree: both empty, equal text, or numbers within 1e-9 relative.
fn same_value(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()),
        _ => false,
    }
}

/// Compares rows keyed by their first `key_len` fields; the other fields
/// must agree value by value. Returns a description of every difference.
fn compare_rows(what: &str, vigil: &[String], flink: &[String], key_len: usize) -> Vec<String> {
    let index = |rows: &[String]| -> BTreeMap<Vec<String>, Vec<Vec<String>>> {
        let mut m: BTreeMap<Vec<String>, Vec<Vec<String>>> = BTreeMap::new();
        for r in rows {
            let f = csv_fields(r);
            m.entry(f[..key_len].to_vec())
                .or_default()
                .push(f[key_len..].to_vec());
        }
        m
    };
    let (v, f) = (index(vigil), index(flink));
    let mut diffs = Vec::new();
    for (k, rows) in &v {
        match f.get(k) {
            None => diffs.push(format!("{what}: only vigil has {k:?} -> {rows:?}")),
            Some(other) if other.len() != rows.len() => {
                diffs.push(format!("{what}: {k:?}: vigil {rows:?}, flink {other:?}"))
            }
            Some(other) => {
                let mut a = rows.clone();
                let mut b = other.clone();
                a.sort();
                b.sort();
                for (x, y) in a.iter().zip(&b) {
                    if x.len() != y.len() || x.iter().zip(y).any(|(p, q)| !same_value(p, q)) {
                        diffs.push(format!("{what}: {k:?}: vigil {x:?}, flink {y:?}"));
                    }
                }
            }
        }
    }
    for (k, rows) in &f {
        if !v.contains_key(k) {
            diffs.push(format!("{what}: only flink has {k:?} -> {rows:?}"));
        }
    }
    diffs
}

fn lines_after_header(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn exported_jobs_give_vigils_answers_on_flink() {
    let Some(python) = components::pyflink() else {
        return;
    };
    let dir = tempdir();
    let d = dir.path();
    write(d, "metrics.csv", metrics_csv());
    write(d, "alerts.csv", alerts_csv());
    let (s1, s2) = sessions_csv();
    write(d, "sessions-1.csv", s1);
    write(d, "sessions-2.csv", s2);
    write(d, "requests.jsonl", requests_jsonl());
    write(d, "times.csv", times_csv());
    write(d, "access.log", access_log());

    let cases = cases();
    let mut scripts: Vec<PathBuf> = Vec::new();
    let mut vigil_late = Vec::new();
    for case in &cases {
        let name = case.name;
        let mut run = strings(&["run"]);
        let mut export = strings(&["export", "flink"]);
        for i in &case.inputs {
            run.push(i.to_string());
            export.push(i.to_string());
        }
        for a in &case.job {
            run.push(a.to_string());
            export.push(a.to_string());
        }
        let at = |file: String| d.join(file).display().to_string();
        run.extend(strings(&["-o", &at(format!("{name}.vigil.csv"))]));
        export.extend(strings(&["-o", &at(format!("{name}.flink"))]));
        if case.alerts {
            run.extend(strings(&[
                "--alerts",
                &at(format!("{name}.vigil-alerts.csv")),
            ]));
            export.extend(strings(&["--alerts", &at(format!("{name}.flink-alerts"))]));
        }
        if case.late {
            run.extend(strings(&[
                "--late-output",
                &at(format!("{name}.vigil-late")),
            ]));
            export.extend(strings(&[
                "--late-output",
                &at(format!("{name}.flink-late")),
            ]));
        }
        let cwd = if case.from_repo {
            Path::new(env!("CARGO_MANIFEST_DIR"))
        } else {
            d
        };
        let argv: Vec<&str> = run.iter().map(String::as_str).collect();
        let out = run_in(cwd, &argv, None);
        assert_eq!(out.code, 0, "{name}: vigil run: {}", out.stderr);
        vigil_late.push(out.count("late"));
        let argv: Vec<&str> = export.iter().map(String::as_str).collect();
        let out = run_in(cwd, &argv, None);
        assert_eq!(out.code, 0, "{name}: vigil export flink: {}", out.stderr);
        scripts.push(write(d, &format!("{name}.sql"), out.stdout));
    }
    // the data exercises what it is meant to
    assert!(
        vigil_late[0] > 5 && vigil_late[1] > 0,
        "late records: {vigil_late:?}"
    );

    let runner = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration/flink_runner.py");
    let started = std::time::Instant::now();
    let child = Command::new(&python)
        .arg(&runner)
        .args(&scripts)
        .current_dir(d)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the Flink runner");
    let _guard = watchdog(child.id(), FLINK_TIMEOUT_S);
    let out = child.wait_with_output().expect("wait for Flink");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "Flink failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .filter(|l| !l.contains("WARN"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    eprintln!(
        "flink export tests: {} cases in one Flink job; runner {:.1} s ({})",
        cases.len(),
        started.elapsed().as_secs_f64(),
        stdout.trim()
    );

    let mut diffs = Vec::new();
    for (case, late) in cases.iter().zip(&vigil_late) {
        let name = case.name;
        let vigil = lines_after_header(&d.join(format!("{name}.vigil.csv")));
        let flink = flink_lines(&d.join(format!("{name}.flink")));
        assert!(!vigil.is_empty(), "{name}: vigil wrote no rows");
        diffs.extend(compare_rows(name, &vigil, &flink, 2 + case.keys));
        if case.alerts {
            let v = lines_after_header(&d.join(format!("{name}.vigil-alerts.csv")));
            let f = flink_lines(&d.join(format!("{name}.flink-alerts")));
            let least = if name == "alerts" { 8 } else { 2 };
            assert!(
                v.len() >= least,
                "{name}: the data fires and resolves: {v:?}"
            );
            // key: time, rule, severity, state, the key fields
            diffs.extend(compare_rows(
                &format!("{name} alerts"),
                &v,
                &f,
                4 + case.keys,
            ));
        }
        if case.late {
            let mut v = lines_after_header(&d.join(format!("{name}.vigil-late")));
            let mut f = flink_lines(&d.join(format!("{name}.flink-late")));
            assert_eq!(v.len() as u64, *late, "{name}: vigil's late file and count");
            v.sort();
            f.sort();
            // CSV late records are the input's lines; Flink's JSON sink writes
            // only the fields the job reads, so JSON ones are compared by count
            let comparable = !case.inputs[0].ends_with(".jsonl");
            if v.len() != f.len() || (comparable && v != f) {
                diffs.push(format!(
                    "{name}: late records differ:\nvigil {v:?}\nflink {f:?}"
                ));
            }
        }
    }
    assert!(
        diffs.is_empty(),
        "vigil and Flink disagree:\n{}",
        diffs.join("\n")
    );
}
