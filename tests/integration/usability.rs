//! What a new user meets in the first hour: messages that say where and
//! what would be right (snapshots, reviewed by eye), flags that mean what
//! they mean elsewhere (`-o -`, `--regex`), job files in the flags' own
//! form, and rule tests that compare values the way they were printed.

use crate::common::{run_in, tempdir, write};

const METRICS: &str = "ts,host,value\n\
2026-01-01T00:00:10Z,h1,97.1\n\
2026-01-01T00:01:10Z,h1,95.5\n\
2026-01-01T00:01:20Z,h1,96.17\n\
2026-01-01T00:01:30Z,h1,95.83\n\
2026-01-01T00:02:10Z,h1,10\n\
2026-01-01T00:03:10Z,h1,10\n";

/// Runs vigil in a directory holding `m.csv` and the given files; returns
/// "exit N" and stderr with the directory replaced by `[tmp]`.
fn case_with(files: &[(&str, &str)], args: &[&str]) -> String {
    let dir = tempdir();
    write(dir.path(), "m.csv", METRICS);
    for (name, text) in files {
        write(dir.path(), name, text);
    }
    let out = run_in(dir.path(), args, None);
    let stderr = out
        .stderr
        .replace(&dir.path().display().to_string(), "[tmp]");
    format!("exit {}\n{}", out.code, stderr)
}

fn case(args: &[&str]) -> String {
    case_with(&[], args)
}

#[test]
fn fractional_duration_says_durations_are_whole_units() {
    insta::assert_snapshot!(case(&["run", "m.csv", "--time", "ts", "--window", "1.5h"]));
}

#[test]
fn unit_spelling_gets_a_suggestion() {
    insta::assert_snapshot!(case(&["run", "m.csv", "--time", "ts", "--window", "5min"]));
}

#[test]
fn bad_record_policy_typo_is_refused_and_creates_nothing() {
    let dir = tempdir();
    write(dir.path(), "m.csv", METRICS);
    let out = run_in(
        dir.path(),
        &["run", "m.csv", "--time", "ts", "--on-bad-record", "fial"],
        None,
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        !dir.path().join("fial").exists(),
        "no file named after the typo"
    );
    insta::assert_snapshot!(out.stderr);
    // a path is still a path
    let out = run_in(
        dir.path(),
        &[
            "run",
            "m.csv",
            "--time",
            "ts",
            "--on-bad-record",
            "./fial",
            "-q",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(dir.path().join("fial").exists());
}

#[test]
fn format_typo_gets_a_suggestion() {
    insta::assert_snapshot!(case(&["run", "m.csv", "--format", "jsnol"]));
}

#[test]
fn aggregate_typo_gets_a_suggestion() {
    insta::assert_snapshot!(case(&["run", "m.csv", "--agg", "count(), avgg(value)"]));
}

#[test]
fn invalid_tcp_address_is_a_usage_error() {
    let out = case(&["run", "tcp://256.0.0.1:99"]);
    assert!(out.starts_with("exit 2\n"), "{out}");
    insta::assert_snapshot!(out);
    for bad in ["tcp://127.0.0.1:70000", "tcp://:99", "tcp://host_name:1"] {
        let out = case(&["run", bad]);
        assert!(out.starts_with("exit 2\n"), "{bad}: {out}");
    }
}

#[test]
fn dash_output_is_stdout() {
    let dir = tempdir();
    write(dir.path(), "m.csv", METRICS);
    let out = run_in(
        dir.path(),
        &["run", "m.csv", "--time", "ts", "-o", "-", "-q"],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.starts_with("window_start,window_end,count\n"),
        "{}",
        out.stdout
    );
    assert!(!dir.path().join("-").exists(), "no file named '-'");
}

#[test]
fn an_output_that_is_an_input_is_refused_and_the_input_kept() {
    let dir = tempdir();
    write(dir.path(), "m.csv", METRICS);
    for flag in ["-o", "--alerts", "--late-output", "--checkpoint"] {
        let out = run_in(
            dir.path(),
            &["run", "m.csv", "--time", "ts", flag, "./m.csv"],
            None,
        );
        assert_eq!(out.code, 2, "{flag}: {}", out.stderr);
        assert!(out.stderr.contains("is also an input"), "{}", out.stderr);
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join("m.csv")).unwrap(),
        METRICS
    );
}

#[test]
fn regex_alone_implies_the_regex_format() {
    let dir = tempdir();
    write(
        dir.path(),
        "app.log",
        "2026-01-01T00:00:01Z GET /a 200\n2026-01-01T00:00:02Z GET /b 500\n2026-01-01T00:01:03Z PUT /a 200\n",
    );
    let out = run_in(
        dir.path(),
        &[
            "run",
            "app.log",
            "--regex",
            r"^(?P<ts>\S+) (?P<method>\S+) (?P<path>\S+) (?P<status>\d+)$",
            "--time",
            "ts",
            "--key",
            "method",
            "-q",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "window_start,window_end,method,count\n\
         2026-01-01T00:00:00.000Z,2026-01-01T00:01:00.000Z,GET,2\n\
         2026-01-01T00:01:00.000Z,2026-01-01T00:02:00.000Z,PUT,1\n"
    );
    // --regex with another format is a contradiction, said so
    insta::assert_snapshot!(case(&[
        "run",
        "m.csv",
        "--regex",
        "(?P<ts>.*)",
        "--format",
        "csv"
    ]));
}

const FLAG_FORM_JOB: &str = r#"inputs = ["m.csv"]
time = "ts"
key = ["host"]
agg = ["count()", "avg(value)"]
output = "report.csv"
alerts = "alerts.csv"
alert = ["hot: avg(value) > 90 for 2 clear avg(value) < 50"]
"#;

const TABLE_FORM_JOB: &str = r#"inputs = ["m.csv"]
time = "ts"
key = ["host"]
agg = ["count()", "avg(value)"]

[output]
path = "report.csv"
alerts = "alerts.csv"

[[alert]]
name = "hot"
when = "avg(value) > 90"
for = 2
clear = "avg(value) < 50"
"#;

#[test]
fn job_file_flag_forms_run_like_the_table_forms() {
    let mut results = Vec::new();
    for job in [FLAG_FORM_JOB, TABLE_FORM_JOB] {
        let dir = tempdir();
        write(dir.path(), "m.csv", METRICS);
        write(dir.path(), "job.toml", job);
        let out = run_in(dir.path(), &["run", "-c", "job.toml", "-q"], None);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
        results.push((read("report.csv"), read("alerts.csv")));
    }
    assert_eq!(results[0], results[1]);
    assert!(
        results[0].1.contains(",hot,warning,firing,h1,"),
        "{}",
        results[0].1
    );
}

#[test]
fn rule_error_in_a_job_file_points_at_its_line_and_column() {
    let table = "inputs = [\"m.csv\"]\ntime = \"ts\"\nkey = \"host\"\n\n[[alert]]\nname = \"hot\"\nwhen = \"avg(value) > > 90\"\nfor = 2\n";
    insta::assert_snapshot!(
        "rule_error_in_alert_table",
        case_with(&[("job.toml", table)], &["check", "-c", "job.toml"])
    );
    let flag = "inputs = [\"m.csv\"]\ntime = \"ts\"\nkey = \"host\"\nalert = [\n  \"cold: avg(value) < 1\",\n  'hot: avg(value) > 90 and region == \"eu\" for 2',\n]\n";
    insta::assert_snapshot!(
        "rule_error_in_alert_array",
        case_with(&[("job.toml", flag)], &["check", "-c", "job.toml"])
    );
    let agg = "inputs = [\"m.csv\"]\ntime = \"ts\"\nagg = [\"count()\", \"avgg(value)\"]\n";
    insta::assert_snapshot!(
        "agg_error_in_job_file",
        case_with(&[("job.toml", agg)], &["check", "-c", "job.toml"])
    );
}

#[test]
fn job_file_key_typo_gets_a_suggestion() {
    let job = "time = \"ts\"\n[output]\npaht = \"r.csv\"\n";
    insta::assert_snapshot!(case_with(
        &[("job.toml", job)],
        &["check", "-c", "job.toml"]
    ));
}

/// Runs `vigil test` on `test_file` (with `m.csv` and a job beside it) with
/// TMPDIR pointing at an empty directory; returns the output and what was
/// left in that directory.
fn rule_test(test_file: &str) -> (crate::common::Output, Vec<String>) {
    let dir = tempdir();
    write(dir.path(), "m.csv", METRICS);
    write(dir.path(), "job.toml", FLAG_FORM_JOB);
    write(dir.path(), "rules.test.toml", test_file);
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let out = std::process::Command::new(crate::common::bin())
        .args(["test", "rules.test.toml"])
        .current_dir(dir.path())
        .env("TMPDIR", &tmp)
        .output()
        .unwrap();
    let left = std::fs::read_dir(&tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    (
        crate::common::Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        },
        left,
    )
}

#[test]
fn rule_test_accepts_values_copied_from_a_run() {
    // What `vigil run` printed: the alert, with its value to the last digit.
    let dir = tempdir();
    write(dir.path(), "m.csv", METRICS);
    write(dir.path(), "job.toml", FLAG_FORM_JOB);
    let out = run_in(dir.path(), &["run", "-c", "job.toml", "-q"], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let alerts = std::fs::read_to_string(dir.path().join("alerts.csv")).unwrap();
    let firing: Vec<&str> = alerts.lines().nth(1).unwrap().split(',').collect();
    let (time, value) = (firing[0], firing[5]);
    assert_eq!(
        value, "95.83333333333333",
        "the average of 95.5, 96.17, 95.83"
    );
    // Copied as printed on stderr (FIRING, the time without milliseconds) and in the file.
    let test = format!(
        "config = \"job.toml\"\n[[test]]\ninput_file = \"m.csv\"\n\
         [[test.expect]]\ntime = \"{}\"\nrule = \"hot\"\nstate = \"FIRING\"\nhost = \"h1\"\nvalue = {value}\n\
         [[test.expect]]\ntime = 2026-01-01T00:03:00Z\nrule = \"hot\"\nstate = \"resolved\"\nhost = \"h1\"\nvalue = \"10\"\n",
        time.replace(".000Z", "Z")
    );
    let (out, left) = rule_test(&test);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("1 passed, 0 failed"), "{}", out.stdout);
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn failing_rule_test_shows_a_diff_and_leaves_nothing_behind() {
    let test = "config = \"job.toml\"\n[[test]]\nname = \"wrong value\"\ninput_file = \"m.csv\"\n\
                [[test.expect]]\ntime = \"2026-01-01T00:02:00Z\"\nrule = \"hot\"\nstate = \"firing\"\nvalue = 95.8\n";
    let (out, left) = rule_test(test);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    insta::assert_snapshot!(out.stdout);
    assert!(left.is_empty(), "left behind: {left:?}");
    // an error in the test file (a misspelt field) also cleans up
    let test = "config = \"job.toml\"\n[[test]]\ninput_file = \"m.csv\"\n\
                [[test.expect]]\ntime = \"2026-01-01T00:02:00Z\"\nrule = \"hot\"\nstate = \"firing\"\nhots = \"h1\"\n";
    let (out, left) = rule_test(test);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("'hots' is not a field of alert events")
            && out.stderr.contains("did you mean 'host'?"),
        "{}",
        out.stderr
    );
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// Each job here is one `vigil run` refuses; `vigil check` with the same
/// arguments refuses it too (exit 2) with the same message.
#[test]
fn check_refuses_what_run_refuses_with_the_same_message() {
    let dir = tempdir();
    write(dir.path(), "m.csv", METRICS);
    write(
        dir.path(),
        "access.log",
        "1.2.3.4 - - [17/May/2015:10:05:03 +0000] \"GET /a HTTP/1.1\" 200 5 \"-\" \"x\"\n",
    );
    write(dir.path(), "app.log", "2026-01-01T00:00:01Z GET\n");
    let cases: &[&[&str]] = &[
        &["m.csv", "--time", "ts", "--key", "hots"],
        &["m.csv", "--time", "timestamp"],
        &["m.csv", "--time", "ts", "--agg", "avg(valeu)"],
        &["m.csv", "--time", "ts", "--where", "vaule > 1"],
        &["m.csv", "--time", "ts", "--alert", "max(vlaue) > 1"],
        &["m.csv", "--no-header", "--columns", "a,b,c", "--time", "ts"],
        &[
            "access.log",
            "--format",
            "apache",
            "--time",
            "time",
            "--key",
            "stauts",
        ],
        &[
            "app.log",
            "--regex",
            r"^(?P<ts>\S+) (?P<method>\S+)$",
            "--time",
            "ts",
            "--key",
            "methd",
        ],
        &["nosuch.csv", "--time", "ts"],
    ];
    for args in cases {
        let run: Vec<&str> = ["run"].iter().chain(args.iter()).copied().collect();
        let check: Vec<&str> = ["check"].iter().chain(args.iter()).copied().collect();
        let r = run_in(dir.path(), &run, None);
        let c = run_in(dir.path(), &check, None);
        assert_ne!(r.code, 0, "run {args:?} should refuse: {}", r.stderr);
        assert_eq!(c.code, 2, "check {args:?}: {}{}", c.stdout, c.stderr);
        assert_eq!(c.stderr, r.stderr, "check {args:?} says what run says");
        assert!(
            c.stdout.is_empty(),
            "no plan for an invalid job: {}",
            c.stdout
        );
    }
    // the messages name the flag and the closest field
    let c = run_in(
        dir.path(),
        &[
            "check",
            "m.csv",
            "--time",
            "ts",
            "--alert",
            "max(vlaue) > 1",
        ],
        None,
    );
    insta::assert_snapshot!(c.stderr);
}

#[test]
fn check_reads_the_inputs_of_a_valid_job() {
    let dir = tempdir();
    write(dir.path(), "m.csv", METRICS);
    write(dir.path(), "job.toml", FLAG_FORM_JOB);
    let c = run_in(
        dir.path(),
        &["check", "m.csv", "--time", "ts", "--key", "host"],
        None,
    );
    assert_eq!(c.code, 0, "{}", c.stderr);
    assert!(
        c.stdout.contains("input:      m.csv: csv (header: ts, host, value); all 6 records read\nok: the job is valid\n"),
        "{}",
        c.stdout
    );
    // inputs named by the job file are read too; flags still override it
    let c = run_in(
        dir.path(),
        &["check", "-c", "job.toml", "--key", "hots"],
        None,
    );
    assert_eq!(c.code, 2, "{}", c.stdout);
    assert!(c.stderr.contains("did you mean 'host'?"), "{}", c.stderr);
    let c = run_in(dir.path(), &["check", "-c", "job.toml"], None);
    assert_eq!(c.code, 0, "{}", c.stderr);
    assert!(
        c.stdout
            .contains("sinks:      report -> report.csv (csv); alerts -> alerts.csv (csv)"),
        "{}",
        c.stdout
    );
    assert!(
        !dir.path().join("report.csv").exists(),
        "check writes nothing"
    );
}

#[test]
fn check_refuses_an_input_whose_first_records_are_all_bad() {
    let dir = tempdir();
    write(dir.path(), "m.csv", METRICS);
    let c = run_in(
        dir.path(),
        &["check", "m.csv", "--time", "ts", "--time-format", "unix_s"],
        None,
    );
    assert_eq!(c.code, 2, "{}", c.stdout);
    insta::assert_snapshot!(c.stderr);
    let r = run_in(
        dir.path(),
        &["run", "m.csv", "--time", "ts", "--time-format", "unix_s"],
        None,
    );
    assert_eq!(r.code, 1, "a run of it fails: {}", r.stderr);
    // some bad lines are a note, not a refusal
    write(
        dir.path(),
        "some_bad.csv",
        "ts,value\n2026-01-01T00:00:00Z,1\nyesterday,2\n2026-01-01T00:00:02Z,x\n",
    );
    let c = run_in(
        dir.path(),
        &[
            "check",
            "some_bad.csv",
            "--time",
            "ts",
            "--agg",
            "avg(value)",
        ],
        None,
    );
    assert_eq!(c.code, 0, "{}", c.stderr);
    assert!(
        c.stdout.contains("all 3 records read, 1 bad (first at line 3: field 'ts': cannot read 'yesterday' as a time), 1 values not numbers"),
        "{}",
        c.stdout
    );
}

#[test]
fn aggregates_over_a_field_that_never_held_a_number_are_warned_about_once() {
    let dir = tempdir();
    write(
        dir.path(),
        "m.csv",
        "ts,host,value,mixed\n2026-01-01T00:00:10Z,h1,1,x\n2026-01-01T00:00:20Z,h2,2,3\n2026-01-01T00:01:20Z,h2,2,y\n",
    );
    let out = run_in(
        dir.path(),
        &[
            "run",
            "m.csv",
            "--time",
            "ts",
            "--agg",
            "first(host), max(host), distinct(host), avg(value), max(mixed)",
            "--alert",
            "avg(host) > 1",
            "-q",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("vigil: warning:"))
        .collect();
    assert_eq!(
        warnings.len(),
        1,
        "one line for the one field: {}",
        out.stderr
    );
    insta::assert_snapshot!(warnings[0]);
    // the column is empty, as the warning says
    assert!(
        out.stdout
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("2026-01-01T00:00:00.000Z,2026-01-01T00:01:00.000Z,,,2,1.5,3"),
        "{}",
        out.stdout
    );
}

/// A result beyond f64's range (the variance of values near 1e308) is
/// undefined in every format: an empty CSV and table field, JSON null, never
/// `inf` or `NaN`; a rule comparing it is false; one warning per column.
#[test]
fn results_beyond_f64_are_undefined_in_csv_json_and_table() {
    let dir = tempdir();
    write(
        dir.path(),
        "big.csv",
        "ts,v\n2026-01-01T00:00:01Z,1e308\n2026-01-01T00:00:02Z,1.7e308\n2026-01-01T00:00:03Z,-1e308\n2026-01-01T00:01:01Z,1\n2026-01-01T00:01:02Z,3\n",
    );
    let run = |format: &str| {
        run_in(
            dir.path(),
            &[
                "run",
                "big.csv",
                "--time",
                "ts",
                "--agg",
                "count(), var(v)",
                "--alert",
                "big: var(v) > 1",
                "--output-format",
                format,
                "-q",
            ],
            None,
        )
    };
    let csv = run("csv");
    assert_eq!(csv.code, 0, "{}", csv.stderr);
    assert_eq!(
        csv.stdout,
        "window_start,window_end,count,var_v\n\
         2026-01-01T00:00:00.000Z,2026-01-01T00:01:00.000Z,3,\n\
         2026-01-01T00:01:00.000Z,2026-01-01T00:02:00.000Z,2,2\n"
    );
    let json = run("jsonl");
    assert!(
        json.stdout
            .lines()
            .next()
            .unwrap()
            .ends_with(",\"count\":3,\"var_v\":null}"),
        "{}",
        json.stdout
    );
    let table = run("table");
    assert!(
        !table.stdout.contains("inf") && !table.stdout.to_lowercase().contains("nan"),
        "{}",
        table.stdout
    );
    for out in [&csv, &json, &table] {
        let warnings: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.starts_with("vigil: warning:"))
            .collect();
        assert_eq!(warnings.len(), 1, "{}", out.stderr);
        assert!(
            warnings[0].contains("var_v is beyond the range of a 64-bit float"),
            "{}",
            warnings[0]
        );
        // the undefined variance did not fire the rule; the second window's (2 > 1) did
        let alerts: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.contains("FIRING"))
            .collect();
        assert_eq!(alerts.len(), 1, "{}", out.stderr);
        assert!(
            alerts[0].contains("2026-01-01T00:02:00.000Z") && alerts[0].contains("value=2 "),
            "{}",
            alerts[0]
        );
    }
}

/// Runs vigil with `--progress` (stderr is not a terminal: one line per
/// drawing) at COLUMNS=60; returns stderr's progress lines and the summary.
fn progress_lines(args: &[&str], stdin: Option<Vec<u8>>) -> (Vec<String>, String) {
    let dir = tempdir();
    let mut big = String::from("ts,host,value\n");
    for i in 0..400_000u32 {
        big.push_str(&format!(
            "2026-01-01T{:02}:{:02}:{:02}Z,h{},{}\n",
            i / 36_000 % 24,
            i / 600 % 60,
            i / 10 % 60,
            i % 7,
            i % 100
        ));
    }
    write(dir.path(), "big.csv", &big);
    let mut child = std::process::Command::new(crate::common::bin())
        .args(args)
        .current_dir(dir.path())
        .env("COLUMNS", "60")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        use std::io::Write;
        if stdin.is_some() {
            let _ = input.write_all(big.as_bytes());
            // keep the stream open long enough for the spinner to draw
            std::thread::sleep(std::time::Duration::from_millis(2500));
        }
    });
    let _guard = crate::common::watchdog(child.id(), 60);
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let summary = stderr
        .lines()
        .find(|l| l.starts_with("vigil: records="))
        .unwrap_or_else(|| panic!("no summary: {stderr}"))
        .to_string();
    let lines = stderr
        .lines()
        .filter(|l| !l.starts_with("vigil:"))
        .map(str::to_string)
        .collect();
    (lines, summary)
}

#[test]
fn progress_bar_fits_the_width_and_uses_the_summary_units() {
    let (lines, summary) = progress_lines(
        &[
            "run",
            "big.csv",
            "--time",
            "ts",
            "--progress",
            "--threads",
            "1",
        ],
        None,
    );
    assert!(!lines.is_empty(), "the bar drew at least once");
    for l in &lines {
        assert!(l.chars().count() <= 60, "wider than 60 columns: {l:?}");
        assert!(
            l.contains(" MB/") && l.contains(" MB/s") && !l.contains("MiB"),
            "{l:?}"
        );
    }
    assert!(summary.contains("MB/s"), "{summary}");
}

#[test]
fn stream_spinner_prints_a_whole_record_rate() {
    let (lines, _) = progress_lines(
        &["run", "-", "--time", "ts", "--progress"],
        Some(Vec::new()),
    );
    assert!(!lines.is_empty(), "the spinner drew at least once");
    for l in &lines {
        // "⠙ 294,789 records, 413,310/s, 0s"
        let rate = l
            .split(", ")
            .nth(1)
            .and_then(|r| r.strip_suffix("/s"))
            .unwrap_or_else(|| panic!("no rate in {l:?}"));
        assert!(
            !rate.is_empty() && rate.chars().all(|c| c.is_ascii_digit() || c == ','),
            "a whole number: {l:?}"
        );
        assert!(l.chars().count() <= 60, "{l:?}");
    }
}

/// Live tables keep their column widths from the header and the first rows;
/// a wider value widens its column once, with a note and the header again;
/// a narrower one later does not shrink it.
#[test]
fn live_table_columns_stay_put() {
    let mut child = std::process::Command::new(crate::common::bin())
        .args([
            "run",
            "-",
            "--time",
            "ts",
            "--key",
            "host",
            "--agg",
            "avg(value)",
            "--output-format",
            "table",
            "-q",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let _guard = crate::common::watchdog(child.id(), 30);
    let mut input = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        use std::io::Write;
        for part in [
            "ts,host,value\n2026-01-01T00:00:10Z,h1,1\n2026-01-01T00:01:10Z,h1,2\n",
            "2026-01-01T00:02:10Z,h1,123456789.5\n",
            "2026-01-01T00:03:10Z,h1,3\n",
            "2026-01-01T00:04:10Z,h1,4\n",
        ] {
            input.write_all(part.as_bytes()).unwrap();
            input.flush().unwrap();
            std::thread::sleep(std::time::Duration::from_millis(400));
        }
    });
    feeder.join().unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stdout,
        "window_start              window_end                host  avg_value\n\
         2026-01-01T00:00:00.000Z  2026-01-01T00:01:00.000Z  h1            1\n\
         2026-01-01T00:01:00.000Z  2026-01-01T00:02:00.000Z  h1            2\n\
         window_start              window_end                host    avg_value\n\
         2026-01-01T00:02:00.000Z  2026-01-01T00:03:00.000Z  h1    123456789.5\n\
         2026-01-01T00:03:00.000Z  2026-01-01T00:04:00.000Z  h1              3\n\
         2026-01-01T00:04:00.000Z  2026-01-01T00:05:00.000Z  h1              4\n",
        "stderr: {stderr}"
    );
    assert_eq!(
        stderr,
        "vigil: note: table columns widened to fit new values: avg_value (11)\n"
    );
}

/// Replaying an access log without `--time` put all 10,000 records of
/// 2015 into the hour it was read in, without a word (seen on the Apache
/// log of ../shared/data). A file run on processing time now says so and
/// names the flag; with `--time` there is no such note.
#[test]
fn a_file_run_without_time_says_its_windows_are_on_arrival_time() {
    let dir = tempdir();
    write(dir.path(), "m.csv", METRICS);
    let out = run_in(dir.path(), &["run", "m.csv", "-q"], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("no --time: windows are on processing (arrival) time")
            && out.stderr.contains("--time FIELD"),
        "{}",
        out.stderr
    );
    let out = run_in(dir.path(), &["run", "m.csv", "--time", "ts", "-q"], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stderr.contains("no --time"), "{}", out.stderr);
}
