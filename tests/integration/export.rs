//! `vigil export flink` without a Flink: the job file exports, the script
//! has the parts SPEC 13 asks for, and each feature that does not map is
//! refused with exit 2 and a message naming it and saying why (snapshots).
//! The exported scripts are run on a real Flink in `flink.rs`.

use crate::common::{run, run_in, tempdir, write};

/// Runs `vigil export flink ARGS` beside a small CSV (`m.csv`) and a second
/// one with other columns (`other.csv`); exit status and stderr, with the
/// temporary directory's path replaced.
fn export(args: &[&str]) -> String {
    let dir = tempdir();
    write(
        dir.path(),
        "m.csv",
        "ts,host,value\n2026-01-01T00:00:01Z,h1,1\n",
    );
    write(
        dir.path(),
        "other.csv",
        "ts,host,cpu\n2026-01-01T00:00:01Z,h1,1\n",
    );
    let mut argv = vec!["export", "flink"];
    argv.extend_from_slice(args);
    let out = run_in(dir.path(), &argv, None);
    assert!(out.stdout.is_empty() || out.code == 0, "{}", out.stdout);
    let stderr = out
        .stderr
        .replace(&dir.path().display().to_string(), "[tmp]");
    format!("exit {}\n{}", out.code, stderr)
}

const JOB: [&str; 5] = ["m.csv", "--time", "ts", "--key", "host"];

fn refused(extra: &[&str]) -> String {
    let mut args = JOB.to_vec();
    args.extend_from_slice(extra);
    let text = export(&args);
    assert!(text.starts_with("exit 2\n"), "{text}");
    text
}

#[test]
fn the_sample_job_file_exports_a_complete_script() {
    let out = run(&["export", "flink", "-c", "testdata/job.toml"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let s = &out.stdout;
    let abs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/metrics.csv");
    for part in [
        "SET 'execution.runtime-mode' = 'streaming';",
        "SET 'pipeline.auto-watermark-interval' = '0 ms';",
        "SET 'table.local-time-zone' = 'UTC';",
        // max-delay 5s, plus Flink's end - 1 ms firing
        "WATERMARK FOR `vigil_time` AS `vigil_time` - INTERVAL '0 00:00:05.001' DAY TO SECOND(3)",
        &format!("'path' = '{}'", abs.display()),
        "TUMBLE(TABLE `vigil_selected`, DESCRIPTOR(`vigil_time`), INTERVAL '0 00:01:00.000' DAY TO SECOND(3))",
        "PERCENTILE(",
        "PATTERN (C1 C{2} H*? R)",
        "PATTERN (B X*? C1 C{2})",
        "'connector' = 'print'",
        "EXECUTE STATEMENT SET\nBEGIN\nINSERT INTO `vigil_report`",
        "INSERT INTO `vigil_alerts`",
    ] {
        assert!(s.contains(part), "the script lacks {part}:\n{s}");
    }
    // the report's columns, in vigil's order
    assert!(
        s.contains("`window_start` STRING,\n  `window_end` STRING,\n  `host` STRING,\n  `metric` STRING,\n  `count` BIGINT,\n  `avg_value` DOUBLE,\n  `max_value` DOUBLE,\n  `p95_value` DOUBLE\n"),
        "{s}"
    );
    assert!(s.trim_end().ends_with("END;"), "{s}");
}

#[test]
fn outputs_become_filesystem_sinks_and_kafka_a_source() {
    let dir = tempdir();
    let d = dir.path();
    write(d, "m.csv", "ts,host,value\n2026-01-01T00:00:01Z,h1,1\n");
    let out = run_in(
        d,
        &[
            "export",
            "flink",
            "m.csv",
            "--time",
            "ts",
            "--window",
            "1m",
            "-o",
            "out",
            "--output-format",
            "jsonl",
            "--late-output",
            "late",
            "--alert",
            "avg(value) > 1",
            "--alerts",
            "al",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    for sink in ["out", "late", "al"] {
        let path = format!("'path' = '{}'", d.join(sink).display());
        assert!(out.stdout.contains(&path), "{path}:\n{}", out.stdout);
    }
    assert!(out.stdout.contains("'format' = 'json'"), "{}", out.stdout);
    assert!(
        out.stdout.contains("CURRENT_WATERMARK(`vigil_time`)"),
        "{}",
        out.stdout
    );

    let out = run_in(
        d,
        &[
            "export",
            "flink",
            "-",
            "--flink-source",
            "kafka",
            "--kafka-brokers",
            "k1:9092",
            "--kafka-topic",
            "metrics",
            "--format",
            "csv",
            "--columns",
            "ts,host,value",
            "--time",
            "ts",
            "--key",
            "host",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    for part in [
        "'connector' = 'kafka'",
        "'topic' = 'metrics'",
        "'properties.bootstrap.servers' = 'k1:9092'",
        "'scan.watermark.emit.strategy' = 'on-event'",
        "SET 'execution.checkpointing.interval' = '10000 ms';",
        "`ts` STRING,\n  `host` STRING,\n  `value` STRING,",
    ] {
        assert!(out.stdout.contains(part), "{part}:\n{}", out.stdout);
    }
}

#[test]
fn count_windows_are_refused() {
    insta::assert_snapshot!(refused(&["--count-window", "10"]));
}

#[test]
fn absent_rules_are_refused() {
    insta::assert_snapshot!(refused(&["--alert", "dead: absent(5m)"]));
}

#[test]
fn first_and_last_are_refused() {
    insta::assert_snapshot!(refused(&["--agg", "count(), first(value)"]));
    let last = refused(&["--agg", "last(value)"]);
    assert!(
        last.contains("last(): vigil's first/last are by event time"),
        "{last}"
    );
}

#[test]
fn log_presets_are_refused() {
    insta::assert_snapshot!(refused(&["--format", "nginx"]));
    for f in ["apache", "syslog", "logfmt"] {
        let text = refused(&["--format", f]);
        assert!(
            text.contains(&format!("--format {f}: Flink has no reader")),
            "{text}"
        );
    }
}

#[test]
fn stdin_and_tcp_need_a_kafka_source() {
    insta::assert_snapshot!(export(&["-", "--time", "ts", "--format", "csv"]));
    let tcp = export(&["tcp://127.0.0.1:9000", "--time", "ts", "--format", "csv"]);
    assert!(
        tcp.starts_with("exit 2\n") && tcp.contains("--flink-source kafka"),
        "{tcp}"
    );
    let no_brokers = export(&["-", "--time", "ts", "--flink-source", "kafka"]);
    assert!(no_brokers.contains("needs --kafka-brokers"), "{no_brokers}");
}

#[test]
fn processing_time_is_refused() {
    insta::assert_snapshot!(export(&["m.csv", "--key", "host"]));
}

#[test]
fn table_output_is_refused() {
    insta::assert_snapshot!(refused(&["--output-format", "table"]));
}

#[test]
fn incremental_runs_are_refused() {
    insta::assert_snapshot!(refused(&["--checkpoint", "c.ckpt", "--incremental"]));
}

#[test]
fn bad_record_outputs_are_refused() {
    insta::assert_snapshot!(refused(&["--on-bad-record", "fail"]));
    let file = refused(&["--on-bad-record", "bad.txt"]);
    assert!(file.contains("--on-bad-record bad.txt"), "{file}");
}

#[test]
fn idle_timeout_with_kafka_is_refused() {
    insta::assert_snapshot!(refused(&[
        "--idle-timeout",
        "30s",
        "--flink-source",
        "kafka",
        "--kafka-brokers",
        "k:9092",
        "--kafka-topic",
        "t"
    ]));
}

#[test]
fn late_output_with_sessions_is_refused() {
    insta::assert_snapshot!(refused(&["--session", "30s", "--late-output", "late.csv"]));
}

#[test]
fn strftime_time_formats_are_refused() {
    insta::assert_snapshot!(refused(&["--time-format", "%d/%b/%Y:%H:%M:%S %z"]));
}

#[test]
fn regex_match_on_a_number_is_refused() {
    insta::assert_snapshot!(refused(&[
        "--eval",
        "v = value * 2",
        "--where",
        "v =~ '^1'"
    ]));
}

#[test]
fn slides_that_do_not_divide_the_window_are_refused() {
    insta::assert_snapshot!(refused(&["--window", "1m", "--slide", "25s"]));
}

#[test]
fn windows_longer_than_flinks_intervals_are_refused() {
    insta::assert_snapshot!(refused(&["--window", "100d"]));
}

#[test]
fn inputs_with_other_columns_are_refused() {
    insta::assert_snapshot!(export(&["m.csv", "other.csv", "--time", "ts"]));
}

#[test]
fn history_functions_are_refused() {
    insta::assert_snapshot!(refused(&[
        "--agg",
        "count(), predict_linear(avg(value), 1h, 30m)"
    ]));
    let rule = refused(&["--alert", "odd: zscore(avg(value), 1h) > 3"]);
    assert!(
        rule.contains("history function (zscore_avg_value)"),
        "{rule}"
    );
}

#[test]
fn lookup_tables_are_refused() {
    let dir = tempdir();
    write(
        dir.path(),
        "m.csv",
        "ts,host,value\n2026-01-01T00:00:01Z,h1,1\n",
    );
    write(dir.path(), "limits.csv", "host,max_cpu\nh1,90\n");
    let out = run_in(
        dir.path(),
        &[
            "export",
            "flink",
            "m.csv",
            "--time",
            "ts",
            "--key",
            "host",
            "--lookup",
            "limits.csv",
            "--alert",
            "avg(value) > max_cpu",
        ],
        None,
    );
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    insta::assert_snapshot!(format!("exit {}\n{}", out.code, out.stderr));
}
