//! `--webhook URL` against a local recording server: every event arrives
//! once, in order, as the JSONL alert object; 5xx answers are retried; a
//! silent server costs one timeout; a dead port is counted; and none of it
//! changes the report or the alert file by a byte.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{self, Answer, HttpRecorder};

const METRICS: &str = "ts,host,value\n\
2026-01-01T00:00:10Z,a,95\n\
2026-01-01T00:00:20Z,b,99\n\
2026-01-01T00:01:10Z,a,50\n\
2026-01-01T00:01:20Z,b,97\n\
2026-01-01T00:02:10Z,a,93\n\
2026-01-01T00:02:20Z,b,10\n";

const RULE: &str = "hot: avg(value) > 90 severity critical";

/// Runs vigil in `dir` with `env` set; returns the output and how long it took.
pub fn run_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (common::Output, Duration) {
    let started = Instant::now();
    let out = Command::new(common::bin())
        .args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("https_proxy")
        .env_remove("HTTPS_PROXY")
        .env_remove("ALL_PROXY")
        .stdin(Stdio::null())
        .output()
        .expect("run vigil");
    let elapsed = started.elapsed();
    (
        common::Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        },
        elapsed,
    )
}

/// The job's arguments, with `extra` (delivery flags) at the end.
fn job<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![
        "run",
        "m.csv",
        "--time",
        "ts",
        "--key",
        "host",
        "--window",
        "1m",
        "--agg",
        "count(), avg(value)",
        "--alert",
        RULE,
        "--alerts",
        "alerts.jsonl",
        "--alerts-format",
        "jsonl",
    ];
    a.extend_from_slice(extra);
    a
}

/// The report and the alert file of a run without any delivery target.
fn baseline(dir: &Path) -> (String, String) {
    let (out, _) = run_env(dir, &job(&[]), &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let alerts = std::fs::read_to_string(dir.join("alerts.jsonl")).unwrap();
    assert_eq!(alerts.lines().count(), 5, "{alerts}");
    (out.stdout, alerts)
}

fn assert_same_outputs(dir: &Path, out: &common::Output, base: &(String, String)) {
    assert_eq!(out.stdout, base.0, "the report changed");
    assert_eq!(
        std::fs::read_to_string(dir.join("alerts.jsonl")).unwrap(),
        base.1,
        "the alert file changed"
    );
}

#[test]
fn every_event_arrives_once_in_order_as_the_jsonl_alert_object() {
    let dir = common::tempdir();
    common::write(dir.path(), "m.csv", METRICS);
    let base = baseline(dir.path());
    let server = HttpRecorder::start(|_| Answer::Status(200));
    let url = server.url("/hooks/vigil?team=ops");
    let (out, _) = run_env(dir.path(), &job(&["--webhook", &url]), &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_same_outputs(dir.path(), &out, &base);
    let got = server.requests();
    let bodies: Vec<String> = got
        .iter()
        .map(|r| String::from_utf8(r.body.clone()).unwrap())
        .collect();
    let expected: Vec<&str> = base.1.lines().collect();
    assert_eq!(bodies, expected, "one POST per event, in event order");
    for r in &got {
        assert_eq!(r.method, "POST");
        // no event value ever in the URL
        assert_eq!(r.path, "/hooks/vigil?team=ops");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(
            r.header("content-length"),
            Some(r.body.len().to_string().as_str())
        );
        assert_eq!(r.header("transfer-encoding"), None);
    }
    let first = got[0].json();
    assert_eq!(first["rule"], "hot");
    assert_eq!(first["state"], "firing");
    assert_eq!(first["host"], "a");
    assert_eq!(first["value"], 95);
    assert_eq!(first["time"], "2026-01-01T00:01:00.000Z");
    let s = out.summary();
    assert_eq!(
        (
            s["notify_delivered"].as_str(),
            s["notify_failed"].as_str(),
            s["notify_dropped"].as_str()
        ),
        ("5", "0", "0")
    );
}

#[test]
fn a_server_answering_500_twice_gets_the_event_on_the_third_try() {
    let dir = common::tempdir();
    // one event: a fires in the first window
    common::write(
        dir.path(),
        "m.csv",
        "ts,host,value\n2026-01-01T00:00:10Z,a,95\n",
    );
    let server = HttpRecorder::start(|n| Answer::Status(if n < 2 { 500 } else { 200 }));
    let (out, elapsed) = run_env(dir.path(), &job(&["--webhook", &server.url("/h")]), &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let got = server.requests();
    assert_eq!(got.len(), 3, "three tries");
    assert!(got.iter().all(|r| r.body == got[0].body));
    // backoff between the tries: 250 ms, then 500 ms
    assert!(got[1].at - got[0].at >= Duration::from_millis(200));
    assert!(got[2].at - got[1].at >= Duration::from_millis(400));
    assert_eq!(out.count("notify_delivered"), 1);
    assert_eq!(out.count("notify_failed"), 0);
    assert!(!out.stderr.contains("not delivered"), "{}", out.stderr);
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[test]
fn a_server_failing_every_try_is_counted_and_reported_once() {
    let dir = common::tempdir();
    common::write(dir.path(), "m.csv", METRICS);
    let base = baseline(dir.path());
    let server = HttpRecorder::start(|_| Answer::Status(503));
    let (out, _) = run_env(dir.path(), &job(&["--webhook", &server.url("/h")]), &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_same_outputs(dir.path(), &out, &base);
    assert_eq!(server.requests().len(), 15, "3 tries for each of 5 events");
    assert_eq!(out.count("notify_failed"), 5);
    let reports: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("--webhook"))
        .collect();
    assert_eq!(reports.len(), 1, "{}", out.stderr);
    assert!(reports[0].contains("HTTP 503"), "{}", reports[0]);
}

#[test]
fn a_server_that_never_answers_costs_at_most_the_timeout_and_is_counted() {
    let dir = common::tempdir();
    common::write(
        dir.path(),
        "m.csv",
        "ts,host,value\n2026-01-01T00:00:10Z,a,95\n",
    );
    let (base_out, _) = run_env(dir.path(), &job(&[]), &[]);
    let base_alerts = std::fs::read_to_string(dir.path().join("alerts.jsonl")).unwrap();
    let server = HttpRecorder::start(|_| Answer::Silent);
    // the 10 s request timeout, shortened to 1 s by the test knob
    let (out, elapsed) = run_env(
        dir.path(),
        &job(&["--webhook", &server.url("/h")]),
        &[("VIGIL_TEST_DELIVERY_TIMEOUT_MS", "1000")],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_same_outputs(dir.path(), &out, &(base_out.stdout, base_alerts));
    assert_eq!(server.requests().len(), 1, "a timeout is not retried");
    assert_eq!(out.count("notify_failed"), 1);
    assert!(out.stderr.contains("timed out"), "{}", out.stderr);
    assert!(elapsed >= Duration::from_millis(1000), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(2500), "{elapsed:?}");
}

#[test]
fn the_end_of_run_wait_is_bounded_and_what_is_left_is_dropped() {
    let dir = common::tempdir();
    common::write(dir.path(), "m.csv", METRICS);
    let base = baseline(dir.path());
    let server = HttpRecorder::start(|_| Answer::Silent);
    // 5 events, 1 s each against a silent server; the 10 s end-of-run wait shortened to 1.5 s
    let (out, elapsed) = run_env(
        dir.path(),
        &job(&["--webhook", &server.url("/h")]),
        &[
            ("VIGIL_TEST_DELIVERY_TIMEOUT_MS", "1000"),
            ("VIGIL_TEST_DELIVERY_FLUSH_MS", "1500"),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_same_outputs(dir.path(), &out, &base);
    assert!(elapsed < Duration::from_millis(3000), "{elapsed:?}");
    let (failed, dropped) = (out.count("notify_failed"), out.count("notify_dropped"));
    assert_eq!(failed + dropped, 5, "{}", out.stderr);
    assert!(
        failed <= 2 && dropped >= 3,
        "failed={failed} dropped={dropped}"
    );
}

#[test]
fn a_dead_port_is_counted_and_changes_nothing() {
    let dir = common::tempdir();
    common::write(dir.path(), "m.csv", METRICS);
    let base = baseline(dir.path());
    let port = crate::components::free_port();
    let url = format!("http://alice:hunter2@127.0.0.1:{port}/h");
    let (out, elapsed) = run_env(dir.path(), &job(&["--webhook", &url]), &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_same_outputs(dir.path(), &out, &base);
    assert_eq!(out.count("notify_failed"), 5);
    assert_eq!(out.count("notify_delivered"), 0);
    assert!(out.stderr.contains("connection refused"), "{}", out.stderr);
    assert!(out.stderr.contains("alice:***@"), "{}", out.stderr);
    assert!(
        !out.stderr.contains("hunter2"),
        "the password was printed: {}",
        out.stderr
    );
    // 5 events x 3 tries with 0.75 s of backoff each, within the 10 s end-of-run wait
    assert!(elapsed < Duration::from_secs(8), "{elapsed:?}");
}

#[test]
fn a_hostile_key_arrives_as_data() {
    let dir = common::tempdir();
    let evil = "$(touch pwned) `touch pwned2` \"quoted\" 'single'";
    // a newline (JSON escape), quotes, a shell substitution, and in a second
    // record bytes that are not UTF-8
    let mut data = format!(
        "{{\"ts\":\"2026-01-01T00:00:10Z\",\"host\":{},\"value\":95}}\n",
        serde_json::to_string(&format!("{evil}\nline two")).unwrap()
    )
    .into_bytes();
    data.extend_from_slice(
        b"{\"ts\":\"2026-01-01T00:00:20Z\",\"host\":\"bytes \xff\xfe end\",\"value\":99}\n",
    );
    common::write(dir.path(), "m.jsonl", data);
    let server = HttpRecorder::start(|_| Answer::Status(200));
    let (out, _) = run_env(
        dir.path(),
        &[
            "run",
            "m.jsonl",
            "--time",
            "ts",
            "--key",
            "host",
            "--window",
            "1m",
            "--alert",
            RULE,
            "--alerts",
            "alerts.jsonl",
            "--alerts-format",
            "jsonl",
            "--webhook",
            &server.url("/h"),
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let got = server.requests();
    let hosts: Vec<String> = got
        .iter()
        .map(|r| r.json()["host"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(hosts.len(), 2, "{}", out.stderr);
    assert!(hosts.contains(&format!("{evil}\nline two")), "{hosts:?}");
    assert!(
        hosts.contains(&"bytes \u{fffd}\u{fffd} end".to_string()),
        "{hosts:?}"
    );
    assert!(!dir.path().join("pwned").exists() && !dir.path().join("pwned2").exists());
    for r in &got {
        assert_eq!(r.path, "/h");
    }
}

#[test]
fn check_shows_the_delivery_targets_with_passwords_masked() {
    let dir = common::tempdir();
    common::write(
        dir.path(),
        "job.toml",
        "time = \"ts\"\nwindow = \"1m\"\nalert_ttl = \"10m\"\n\
         webhook = [\"http://ops:hunter2@127.0.0.1:8080/hook\", \"https://hooks.example/x?a=b,c\"]\n\
         alertmanager = \"http://127.0.0.1:9093/\"\n",
    );
    let (out, _) = run_env(dir.path(), &["check", "-c", "job.toml"], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("deliver:"))
        .collect();
    assert_eq!(
        lines,
        [
            "deliver:    webhook http://ops:***@127.0.0.1:8080/hook (one JSON event per POST)",
            "deliver:    webhook https://hooks.example/x?a=b,c (one JSON event per POST)",
            "deliver:    alertmanager http://127.0.0.1:9093/api/v2/alerts (API v2; ttl 10m, firing alerts re-sent every 2m30s)",
        ],
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("hunter2"));
    // flags replace the job file's list
    let (out, _) = run_env(
        dir.path(),
        &[
            "check",
            "-c",
            "job.toml",
            "--webhook",
            "http://127.0.0.1:1/only",
        ],
        &[],
    );
    assert_eq!(
        out.stdout.matches("deliver:    webhook").count(),
        1,
        "{}",
        out.stdout
    );
}

#[test]
fn bad_targets_and_ttls_are_usage_errors_that_name_where() {
    let dir = common::tempdir();
    common::write(
        dir.path(),
        "job.toml",
        "time = \"ts\"\n\nwebhook = [\"ftp://u:hunter2@h/x\"]\n",
    );
    let (out, _) = run_env(dir.path(), &["check", "-c", "job.toml"], &[]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("job.toml:3: key 'webhook'"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("not an http:// or https:// URL"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("hunter2"), "{}", out.stderr);
    let (out, _) = run_env(
        dir.path(),
        &[
            "check",
            "--alertmanager",
            "http://h:9093",
            "--alert-ttl",
            "500ms",
        ],
        &[],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("--alert-ttl: 500ms is too short"),
        "{}",
        out.stderr
    );
    let (out, _) = run_env(
        dir.path(),
        &["check", "--alertmanager", "127.0.0.1:9093"],
        &[],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("--alertmanager: '127.0.0.1:9093' is not an http://"),
        "{}",
        out.stderr
    );
}
