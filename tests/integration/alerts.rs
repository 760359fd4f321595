//! Alert rules end to end: event order across rules and keys, absent(),
//! --on-alert delivery (slow, failing, hostile keys), --fail-on-alert,
//! and `vigil test` passing and failing with a diff.

use crate::common::{run_in, tempdir, write};

/// Minute `m`, second `s` of 2026-01-01.
fn ts(m: u32, s: u32) -> String {
    format!("2026-01-01T00:{m:02}:{s:02}Z")
}

fn input(rows: &[(u32, &str, f64)]) -> String {
    let mut out = String::from("ts,host,value\n");
    for (m, host, v) in rows {
        out.push_str(&format!("{},{host},{v}\n", ts(*m, 10)));
    }
    out
}

#[test]
fn several_rules_and_keys_interleave_in_time_key_rule_order() {
    let dir = tempdir();
    let rows = [
        (0, "b", 95.0),
        (0, "a", 95.0),
        (1, "a", 95.0),
        (1, "b", 10.0),
        (2, "a", 50.0),
        (2, "b", 10.0),
        (3, "a", 50.0),
    ];
    write(dir.path(), "in.csv", input(&rows));
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
            "--alert",
            "high: avg(value) > 90",
            "--alert",
            "low: min(value) < 20 for 2 severity info",
            "--alerts",
            "alerts.csv",
            "-q",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let alerts = std::fs::read_to_string(dir.path().join("alerts.csv")).unwrap();
    assert_eq!(
        alerts,
        "time,rule,severity,state,host,value,condition\n\
         2026-01-01T00:01:00.000Z,high,warning,firing,a,95,high: avg(value) > 90\n\
         2026-01-01T00:01:00.000Z,high,warning,firing,b,95,high: avg(value) > 90\n\
         2026-01-01T00:02:00.000Z,high,warning,resolved,b,10,high: avg(value) > 90\n\
         2026-01-01T00:03:00.000Z,high,warning,resolved,a,50,high: avg(value) > 90\n\
         2026-01-01T00:03:00.000Z,low,info,firing,b,10,low: min(value) < 20 for 2 severity info\n"
    );
    // the report has only the --agg column; the rules' aggregates are hidden
    assert!(
        out.stdout
            .starts_with("window_start,window_end,host,count\n"),
        "{}",
        out.stdout
    );
}

#[test]
fn absent_fires_for_a_silent_key_and_resolves_when_it_returns() {
    let dir = tempdir();
    // b is silent from minute 1 to minute 5
    let rows = [
        (0, "a", 1.0),
        (0, "b", 1.0),
        (1, "a", 1.0),
        (2, "a", 1.0),
        (3, "a", 1.0),
        (4, "a", 1.0),
        (5, "a", 1.0),
        (5, "b", 1.0),
        (6, "a", 1.0),
    ];
    write(dir.path(), "in.csv", input(&rows));
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
            "--alert",
            "gone: absent(2m) severity critical",
            "--alerts",
            "a.jsonl",
            "--alerts-format",
            "jsonl",
            "-q",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let events = std::fs::read_to_string(dir.path().join("a.jsonl")).unwrap();
    // b's last record is 00:00:10; the first window end E with 00:00:10 < E - 2m is 00:03:00
    assert_eq!(
        events,
        "{\"time\":\"2026-01-01T00:03:00.000Z\",\"rule\":\"gone\",\"severity\":\"critical\",\"state\":\"firing\",\"host\":\"b\",\"value\":null,\"condition\":\"gone: absent(2m) severity critical\"}\n\
         {\"time\":\"2026-01-01T00:06:00.000Z\",\"rule\":\"gone\",\"severity\":\"critical\",\"state\":\"resolved\",\"host\":\"b\",\"value\":null,\"condition\":\"gone: absent(2m) severity critical\"}\n"
    );
}

#[test]
fn slow_and_failing_commands_never_stall_the_run() {
    let dir = tempdir();
    let rows: Vec<(u32, &str, f64)> = (0..20)
        .map(|m| (m, if m % 2 == 0 { "a" } else { "b" }, 99.0))
        .collect();
    write(dir.path(), "in.csv", input(&rows));
    for (cmd, counter) in [
        ("sleep 30", "notify_timed_out"),
        ("exit 7", "notify_failed"),
    ] {
        let started = std::time::Instant::now();
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
                "--alert",
                "hot: avg(value) > 90",
                "--on-alert",
                cmd,
                "-o",
                "r.csv",
            ],
            None,
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        let report = std::fs::read_to_string(dir.path().join("r.csv")).unwrap();
        assert_eq!(report.lines().count(), 21, "the report is complete");
        let s = out.summary();
        assert_eq!(s["alerts"], "2", "{}", out.stderr);
        assert_eq!(s[counter], "2", "{}", out.stderr);
        assert!(
            started.elapsed().as_secs() < 25,
            "commands are bounded by the timeout"
        );
    }
}

#[test]
fn a_hostile_key_reaches_the_command_only_as_data() {
    let dir = tempdir();
    let pwned = dir.path().join("pwned");
    write(
        dir.path(),
        "in.csv",
        format!("ts,host,value\n{},$(touch pwned),99\n", ts(0, 1)),
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
            "--alert",
            "hot: avg(value) > 90",
            "--on-alert",
            "printf '%s' \"$VIGIL_KEY\" > key.txt; cat > event.json",
            "-q",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!pwned.exists(), "the key was run as a command");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("key.txt")).unwrap(),
        "$(touch pwned)"
    );
    let event = std::fs::read_to_string(dir.path().join("event.json")).unwrap();
    assert!(event.contains("\"host\":\"$(touch pwned)\""), "{event}");
}

#[test]
fn fail_on_alert_exits_3() {
    let dir = tempdir();
    write(dir.path(), "in.csv", input(&[(0, "a", 99.0)]));
    let args = [
        "run",
        "in.csv",
        "--time",
        "ts",
        "--alert",
        "avg(value) > 90",
        "-q",
    ];
    assert_eq!(run_in(dir.path(), &args, None).code, 0);
    let out = run_in(
        dir.path(),
        &[&args[..], &["--fail-on-alert"]].concat(),
        None,
    );
    assert_eq!(out.code, 3, "{}", out.stderr);
    let calm = [
        "run",
        "in.csv",
        "--time",
        "ts",
        "--alert",
        "avg(value) > 100",
        "-q",
        "--fail-on-alert",
    ];
    assert_eq!(run_in(dir.path(), &calm, None).code, 0);
}

#[test]
fn a_bad_rule_shows_a_caret() {
    let dir = tempdir();
    write(dir.path(), "in.csv", input(&[(0, "a", 1.0)]));
    let out = run_in(
        dir.path(),
        &[
            "run",
            "in.csv",
            "--time",
            "ts",
            "--alert",
            "hot: avg(value) > > 3",
        ],
        None,
    );
    assert_eq!(out.code, 2);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert!(lines[0].contains("expected a number"), "{}", out.stderr);
    let text_line = lines
        .iter()
        .position(|l| l.trim_start().starts_with("hot:"))
        .unwrap();
    let caret = lines[text_line + 1].find('^').unwrap();
    assert_eq!(&lines[text_line][caret..caret + 1], ">", "{}", out.stderr);
    assert_eq!(
        lines[text_line][..caret].matches('>').count(),
        1,
        "the caret sits under the second '>'"
    );
}

#[test]
fn vigil_test_passes_the_example_and_fails_a_broken_one_with_a_diff() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = run_in(
        std::path::Path::new(root),
        &["test", "testdata/rules.test.toml"],
        None,
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("3 passed, 0 failed"), "{}", out.stdout);

    let dir = tempdir();
    let example = std::fs::read_to_string(format!("{root}/testdata/rules.test.toml")).unwrap();
    let broken = example
        .replace(
            "config = \"job.toml\"",
            &format!("config = \"{root}/testdata/job.toml\""),
        )
        .replacen(
            "time = \"2026-01-01T00:03:00.000Z\"",
            "time = \"2026-01-01T00:04:00.000Z\"",
            1,
        );
    std::fs::write(
        dir.path().join("metrics.csv"),
        std::fs::read(format!("{root}/testdata/metrics.csv")).unwrap(),
    )
    .unwrap();
    write(dir.path(), "broken.test.toml", broken);
    let out = run_in(dir.path(), &["test", "broken.test.toml"], None);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("FAIL"), "{}", out.stdout);
    assert!(
        out.stdout.contains("  - ") && out.stdout.contains("time=2026-01-01T00:04:00.000Z"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("  + ") && out.stdout.contains("time=2026-01-01T00:03:00.000Z"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("2 passed, 1 failed"), "{}", out.stdout);
}
