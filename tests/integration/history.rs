//! History functions end to end (SPEC 9): Prometheus' worked example through
//! the binary, report columns and rules, thread-count independence, kill -9
//! and resume, keys kept while their history matters, `vigil check` and
//! `vigil test`, and the job errors.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{rfc3339, run_in, tempdir, write};

const MIN: i64 = 60_000;
/// 2026-01-01T00:00:00Z
const T0: i64 = 1_767_225_600_000;

/// The report as rows of cells, header first.
fn table(csv: &str) -> Vec<Vec<String>> {
    csv.lines()
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

fn column<'a>(rows: &'a [Vec<String>], name: &str) -> Vec<&'a str> {
    let c = rows[0]
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name} in {:?}", rows[0]));
    rows[1..].iter().map(|r| r[c].as_str()).collect()
}

fn num(s: &str) -> f64 {
    s.parse()
        .unwrap_or_else(|_| panic!("'{s}' is not a number"))
}

/// Acceptance 2 end to end: Prometheus' deriv/predict_linear example
/// (promql/promqltest/testdata/functions.test: `0+10x4 0+10x5` every 5m,
/// evaluated at 50m) as one record per 5-minute window, in 2026.
#[test]
fn prometheus_worked_example_through_the_binary() {
    let y = [0, 10, 20, 30, 40, 0, 10, 20, 30, 40, 50];
    let mut input = String::from("ts,host,value\n");
    for (k, v) in y.iter().enumerate() {
        // in the window ending at T0 + (k+1)*5m, one second before its end
        let t = T0 + (k as i64 + 1) * 5 * MIN - 1000;
        input.push_str(&format!("{},a,{v}\n", rfc3339(t)));
    }
    let dir = tempdir();
    write(dir.path(), "in.csv", &input);
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
            "5m",
            "--agg",
            "avg(value), deriv(avg(value), 100m), predict_linear(avg(value), 1h, 50m) as pl50, predict_linear(avg(value), 1h, 55m) as pl55",
            "-q",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let rows = table(&out.stdout);
    assert_eq!(
        rows[0].join(","),
        "window_start,window_end,host,avg_value,deriv_avg_value,pl50,pl55"
    );
    let last = |name: &str| num(column(&rows, name).last().unwrap());
    // Prometheus' expected values; its test harness allows 1e-6 relative error.
    for (name, want) in [
        ("deriv_avg_value", 0.010606060606060607),
        ("pl50", 70.0),
        ("pl55", 76.81818181818181),
    ] {
        let got = last(name);
        assert!(
            (got - want).abs() <= 1e-12 * want,
            "{name}: {got} vs {want}"
        );
    }
    // The first window has one point: undefined, an empty field.
    assert_eq!(column(&rows, "pl55")[0], "");
}

/// Hosts whose value ramps up and down with noise, every second, mildly
/// disordered (a few hundred ms).
fn ramps(rows: usize) -> String {
    let mut s = String::from("ts,host,value\n");
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..rows {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let host = i % 5;
        let t = T0 + (i as i64 / 5) * 1000 + (x % 700) as i64;
        let phase = (i / 5) % (600 + 100 * host);
        let trend = if phase < 300 { phase as f64 } else { 0.0 };
        let v = 20.0 + trend * 0.2 + (x >> 20) as f64 % 500.0 / 100.0;
        s.push_str(&format!("{},h{host},{v:.2}\n", rfc3339(t)));
    }
    s
}

const RAMP_JOB: &[&str] = &[
    "--time",
    "ts",
    "--key",
    "host",
    "--window",
    "20s",
    "--slide",
    "10s",
    "--max-delay",
    "1s",
    "--agg",
    "count(), avg(value), predict_linear(avg(value), 2m, 1m) as pl, deriv(max(value), 90s), zscore(avg(value), 2m), robust_z(avg(value), 2m), ewma(avg(value), 0.3), holt(avg(value), 0.5, 0.3, 1m)",
    "--alert",
    "climbing: deriv(avg(value), 1m) > 0.15 for 2 clear deriv(avg(value), 1m) < 0.05",
    "--alert",
    "odd: robust_z(p90(value), 3m) > 3 severity critical",
    "-o",
    "report.csv",
    "--alerts",
    "alerts.csv",
];

fn ramp_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["run", "in.csv"];
    v.extend_from_slice(RAMP_JOB);
    v.extend_from_slice(extra);
    v
}

fn read(dir: &std::path::Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_default()
}

#[test]
fn history_reports_and_rules_are_the_same_for_any_thread_count() {
    let input = ramps(30_000);
    let mut outputs = Vec::new();
    for threads in ["1", "3"] {
        let dir = tempdir();
        write(dir.path(), "in.csv", &input);
        let out = run_in(dir.path(), &ramp_args(&["--threads", threads, "-q"]), None);
        assert_eq!(out.code, 0, "{}", out.stderr);
        outputs.push((
            read(dir.path(), "report.csv"),
            read(dir.path(), "alerts.csv"),
        ));
    }
    assert!(outputs[0] == outputs[1], "--threads 1 and 3 differ");
    let report = String::from_utf8(outputs[0].0.clone()).unwrap();
    let rows = table(&report);
    for name in [
        "pl",
        "deriv_max_value",
        "zscore_avg_value",
        "robust_z_avg_value",
        "ewma_avg_value",
        "holt_avg_value",
    ] {
        let filled = column(&rows, name).iter().filter(|v| !v.is_empty()).count();
        assert!(filled > rows.len() / 2, "{name}: only {filled} values");
    }
    let alerts = String::from_utf8(outputs[0].1.clone()).unwrap();
    assert!(alerts.contains(",climbing,warning,firing,"), "{alerts}");
    assert!(alerts.contains(",climbing,warning,resolved,"), "{alerts}");
}

/// Acceptance 3: history functions in the report and in rules, the run
/// killed with SIGKILL at random moments and resumed, to byte-identical
/// outputs. The input is 30 files (a batch, and so a possible checkpoint,
/// at least every file), and the test counts the restarts that resumed from
/// a checkpoint, so it cannot pass by restarting from scratch every time.
#[test]
fn killed_at_random_moments_resumes_history_to_identical_output() {
    let input = ramps(600_000);
    let lines: Vec<&str> = input.lines().collect();
    let (header, body) = (lines[0], &lines[1..]);
    let names: Vec<String> = (0..30).map(|i| format!("in{i:02}.csv")).collect();
    let write_inputs = |dir: &std::path::Path| {
        for (i, chunk) in body.chunks(body.len().div_ceil(names.len())).enumerate() {
            write(dir, &names[i], format!("{header}\n{}\n", chunk.join("\n")));
        }
    };
    let args_for = |extra: &[&'static str]| -> Vec<String> {
        let mut v = vec!["run".to_string()];
        v.extend(names.iter().cloned());
        v.extend(RAMP_JOB.iter().map(|s| s.to_string()));
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let reference = tempdir();
    write_inputs(reference.path());
    let args = args_for(&["-q"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_in(reference.path(), &args, None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let want_report = read(reference.path(), "report.csv");
    let want_alerts = read(reference.path(), "alerts.csv");
    assert!(want_report.len() > 100_000 && !want_alerts.is_empty());

    let dir = tempdir();
    write_inputs(dir.path());
    let mut seed: u64 = 987_654_321;
    let (mut kills, mut resumes) = (0, 0);
    for attempt in 0..80 {
        let args = args_for(&[
            "--checkpoint",
            "run.ckpt",
            "--checkpoint-every",
            "10ms",
            "-q",
            "--threads",
            if attempt % 2 == 0 { "1" } else { "2" },
        ]);
        if dir.path().join("run.ckpt").exists() {
            resumes += 1;
        }
        let mut child = Command::new(crate::common::bin())
            .args(&args)
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_millis(15 + (seed >> 33) % 60));
        match child.try_wait().unwrap() {
            Some(status) => {
                let mut err = String::new();
                use std::io::Read;
                child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                assert!(status.success(), "run failed: {err}");
                break;
            }
            None => {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
            }
        }
    }
    let args = args_for(&["--checkpoint", "run.ckpt", "-q"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_in(dir.path(), &args, None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        kills >= 3 && resumes >= 3,
        "killed {kills} times, resumed from a checkpoint {resumes} times"
    );
    assert!(
        read(dir.path(), "report.csv") == want_report,
        "report differs after {kills} kills and {resumes} resumes"
    );
    assert!(
        read(dir.path(), "alerts.csv") == want_alerts,
        "alerts differ after {kills} kills and {resumes} resumes"
    );
}

/// A disk filling at 2 points an hour from 70%: a 6-hour forecast over the
/// last 2 hours crosses 95% once the disk is past 83%, hours before it is full.
#[test]
fn disk_full_forecast_fires_hours_ahead() {
    let mut input = String::from("ts,host,mount,used_pct\n");
    for m in 0..(12 * 60) {
        let t = T0 + m * MIN;
        let used = 70.0 + 2.0 * m as f64 / 60.0;
        input.push_str(&format!("{},db-1,/data,{used}\n", rfc3339(t)));
        input.push_str(&format!("{},db-2,/data,41\n", rfc3339(t)));
    }
    let dir = tempdir();
    write(dir.path(), "disk.csv", &input);
    let out = run_in(
        dir.path(),
        &[
            "run",
            "disk.csv",
            "--time",
            "ts",
            "--key",
            "host,mount",
            "--window",
            "10m",
            "--agg",
            "max(used_pct), predict_linear(max(used_pct), 6h, 2h) as used_in_6h",
            "--alert",
            "disk_full_soon: predict_linear(max(used_pct), 6h, 2h) > 95 for 2",
            "--alerts",
            "alerts.csv",
            "-q",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let alerts = std::fs::read_to_string(dir.path().join("alerts.csv")).unwrap();
    let lines: Vec<&str> = alerts.lines().collect();
    assert_eq!(lines.len(), 2, "{alerts}");
    // The max of the window ending at E is at E - 1m; forecast at E + 6h is
    // 70 + 2 * (E - 1m + 6h - T0) / 1h, > 95 from E = 6h40m; the second such window fires.
    assert!(
        lines[1].starts_with("2026-01-01T06:50:00.000Z,disk_full_soon,warning,firing,db-1,/data,"),
        "{alerts}"
    );
    let value = num(lines[1].split(',').nth(6).unwrap());
    let want = 70.0 + 2.0 * (6.0 * 60.0 + 50.0 - 1.0 + 360.0) / 60.0;
    assert!((value - want).abs() < 1e-6, "{value} vs {want}");
    let rows = table(&out.stdout);
    let db2: Vec<&Vec<String>> = rows.iter().filter(|r| r[2] == "db-2").collect();
    assert!(
        db2[1..].iter().all(|r| r[5] == "41"),
        "a flat disk forecasts itself"
    );
}

/// A key's history lives on while the key has no open window, and is
/// forgotten RANGE after its last window: with --max-keys 1, key b is dropped
/// while a's history still matters, and c accepted once it does not. Records
/// with a negative value only move the watermark (filtered by --where).
#[test]
fn keys_are_kept_while_their_history_matters_then_forgotten() {
    let at = |ms: i64, host: &str, v: i32| format!("{},{host},{v}\n", rfc3339(T0 + ms));
    let input = [
        "ts,host,value\n".to_string(),
        at(30_000, "a", 1),
        at(MIN + 30_000, "a", 3),
        at(4 * MIN, "x", -1), // watermark 4m: a's last window [1m, 2m) closes
        at(4 * MIN + 30_000, "b", 5),
        // a's points can matter to a window ending before 2m + 5m
        at(7 * MIN + 30_000, "x", -1),
        at(8 * MIN + 30_000, "c", 5),
        at(9 * MIN + 30_000, "c", 6),
    ]
    .concat();
    let dir = tempdir();
    write(dir.path(), "in.csv", &input);
    let job = |agg: &str| {
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
                "--max-keys",
                "1",
                "--where",
                "value >= 0",
                "--agg",
                agg,
                // one shard: near the key limit, a key in another shard is
                // only closed at the end of the batch (a separate issue)
                "--threads",
                "1",
            ],
            None,
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        let rows = table(&out.stdout);
        let hosts: Vec<String> = rows[1..].iter().map(|r| r[2].clone()).collect();
        (out.count("dropped"), hosts, rows)
    };
    let (dropped, hosts, rows) = job("avg(value), deriv(avg(value), 5m)");
    assert_eq!((dropped, hosts.join(" ")), (1, "a a c c".to_string()));
    // a's second window reads its first, a minute earlier: 2 per 60 s.
    assert_eq!(rows[2][4], (2.0f64 / 60.0).to_string());
    // Without a history function a is forgotten when its last window closes.
    let (dropped, hosts, _) = job("avg(value)");
    assert_eq!((dropped, hosts.join(" ")), (0, "a a b c c".to_string()));
}

#[test]
fn check_shows_history_functions_and_what_they_keep() {
    let out = crate::common::run(&[
        "check",
        "--time",
        "ts",
        "--key",
        "host",
        "--window",
        "1m",
        "--agg",
        "avg(value), predict_linear(avg(value), 6h, 2h) as in_6h, ewma(max(value), 0.2)",
        "--alert",
        "odd: robust_z(p95(latency_ms), 1h) > 3.5 for 2",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let s = &out.stdout;
    assert!(
        s.contains("aggregates: avg_value, in_6h, ewma_max_value (for rules: robust_z_p95_latency_ms) (for history functions: max_value, p95_latency_ms)"),
        "{s}"
    );
    assert!(s.contains("history:    in_6h = predict_linear(avg(value), 6h, 2h); series of avg(value) at each window end; at most 121 points per key"), "{s}");
    assert!(s.contains("history:    ewma_max_value = ewma(max(value), 0.2); series of max(value) at each window end; O(1) state per key, kept for the run"), "{s}");
    assert!(
        s.contains(
            "history:    robust_z_p95_latency_ms = robust_z(p95(latency_ms), 1h) (for rules);"
        ),
        "{s}"
    );
}

#[test]
fn rule_tests_run_history_rules() {
    let dir = tempdir();
    let mut input = String::from("ts,host,value\n");
    for m in 0..8 {
        let v = if m < 6 { 10 } else { 40 };
        input.push_str(&format!("{},a,{v}\n", rfc3339(T0 + m * MIN + 1000)));
        input.push_str(&format!(
            "{},a,{}\n",
            rfc3339(T0 + m * MIN + 2000),
            v + m % 2
        ));
    }
    let test = |expect_time: &str| {
        format!(
            r#"
[job]
time = "ts"
key = "host"
window = "1m"
agg = ["avg(value)"]

[[job.alert]]
name = "jump"
when = "zscore(avg(value), 5m) > 3"

[[test]]
name = "a jump from 10 to 40 is unusual"
input = """
{input}"""

[[test.expect]]
time = "{expect_time}"
rule = "jump"
state = "firing"
host = "a"

# the next window is 40 again, among earlier 10s and one 40: not unusual
[[test.expect]]
time = "2026-01-01T00:08:00.000Z"
rule = "jump"
state = "resolved"
host = "a"
"#
        )
    };
    write(dir.path(), "ok.test.toml", test("2026-01-01T00:07:00.000Z"));
    let out = run_in(dir.path(), &["test", "ok.test.toml"], None);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("1 passed, 0 failed"), "{}", out.stdout);
    write(
        dir.path(),
        "bad.test.toml",
        test("2026-01-01T00:06:00.000Z"),
    );
    let out = run_in(dir.path(), &["test", "bad.test.toml"], None);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout
            .contains("  - host=a rule=jump state=firing time=2026-01-01T00:06:00.000Z"),
        "{}",
        out.stdout
    );
}

#[test]
fn history_job_errors_are_exit_2_and_say_what_to_change() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--session", "5m", "--agg", "holt(avg(v), 0.5, 0.5, 1h)"],
            "session and count windows have no step",
        ),
        (
            &["--agg", "zscore(deriv(avg(v), 1h), 1h)"],
            "history functions do not nest",
        ),
        (
            &["--window", "1s", "--agg", "zscore(avg(v), 2d)"],
            "at most 100000",
        ),
        (&["--agg", "deriv(avg(v))"], "deriv() takes 2 arguments"),
        (
            &["--alert", "ewma(avg(v), 2) > 1"],
            "ALPHA must be a number with 0 < ALPHA <= 1",
        ),
        (
            &["--alert", "deriv(avg(v) + nope, 1h) > 1"],
            "'nope' is not a key field",
        ),
    ];
    for (args, want) in cases {
        let mut v = vec!["check", "--time", "ts"];
        v.extend_from_slice(args);
        let out = crate::common::run(&v);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(want), "{args:?}: {}", out.stderr);
    }
}
