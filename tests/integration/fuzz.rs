//! The command line fuzzed: whatever is typed (every flag's value, rule
//! texts, --where/--eval expressions, aggregate lists, durations, time
//! formats, job files), vigil answers with a result or an error, never a
//! panic, an abort or a hang. In process (clap, `Job::from_args`, the plan
//! compiler and each parser: thousands of cases in seconds), then a few
//! dozen runs of the binary itself.

use std::path::Path;
use std::process::{Command, Stdio};

use clap::{CommandFactory, Parser};
use proptest::prelude::*;
use vigil::cli::args::{Cli, Command as Sub};

/// Pieces of the languages vigil reads, to build inputs that get past the
/// first character of each parser.
const WORDS: &[&str] = &[
    "avg(value)",
    "count()",
    "p95(x)",
    "quantile(v, 0.9)",
    "absent(5m)",
    "rate()",
    "distinct(h)",
    "value",
    "host",
    "ts",
    "a.b.c",
    "and",
    "or",
    "not",
    "for",
    "clear",
    "severity",
    "critical",
    ">",
    ">=",
    "==",
    "!=",
    "=~",
    "!~",
    "+",
    "-",
    "*",
    "/",
    "(",
    ")",
    ",",
    ":",
    "=",
    "'",
    "\"",
    "\"x\"",
    "'re.*'",
    "1",
    "0",
    "-1",
    "1e308",
    "1e-400",
    "NaN",
    "inf",
    "0.5",
    "99999999999999999999",
    "1m",
    "1h30m",
    "0s",
    "36500d",
    "36501d",
    "1.5h",
    "5min",
    "ms",
    "d",
    "%Y-%m-%d",
    "%d/%b/%Y:%H:%M:%S %z",
    "%",
    "%Q",
    "unix_ms",
    "rfc3339",
    "auto",
    "csv",
    "jsonl",
    "table",
    "skip",
    "fail",
    "\\t",
    "tab",
    "tcp://127.0.0.1:0",
    "-",
    "",
    " ",
    "\t",
    "\n",
    "\r",
    "\0",
    "\x1b[2J",
    "é",
    "𝄞",
    "\u{202e}",
    "predict_linear(avg(v), 1h, 2h)",
    "zscore(avg(v), 1h)",
    "ewma(avg(v), 0.5)",
];

/// A value: a few pieces glued together, or any string at all.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::collection::vec(prop::sample::select(WORDS), 0..12).prop_map(|w| w.join(" ")),
        2 => prop::collection::vec(prop::sample::select(WORDS), 0..12).prop_map(|w| w.concat()),
        2 => any::<String>(),
        1 => "[0-9]{0,25}[a-zA-Z]{0,4}",
        1 => (1usize..400).prop_map(|n| format!("{}x{}", "(".repeat(n), ")".repeat(n))),
    ]
}

/// Every long option of `vigil run` that takes a value, and every switch.
fn run_flags() -> (Vec<String>, Vec<String>) {
    let cmd = Cli::command();
    let run = cmd.find_subcommand("run").expect("run").clone();
    let (mut valued, mut switches) = (Vec::new(), Vec::new());
    for arg in run.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if long == "help" || long == "config" {
            continue; // help exits; job files have their own property
        }
        if arg.get_action().takes_values() {
            valued.push(format!("--{long}"));
        } else {
            switches.push(format!("--{long}"));
        }
    }
    (valued, switches)
}

/// An argument vector for `vigil run in.csv ...`: random flags with random values.
fn argv() -> impl Strategy<Value = Vec<String>> {
    let (valued, switches) = run_flags();
    assert!(valued.len() > 30, "the flags were found: {valued:?}");
    let flag = prop_oneof![
        4 => (prop::sample::select(valued), value()).prop_map(|(f, v)| vec![f, v]),
        1 => prop::sample::select(switches).prop_map(|s| vec![s]),
    ];
    prop::collection::vec(flag, 0..8).prop_map(|flags| {
        let mut v = vec!["vigil".to_string(), "run".to_string(), "in.csv".to_string()];
        v.extend(flags.into_iter().flatten());
        v
    })
}

fn job_of(argv: &[String]) -> Option<vigil::error::Result<vigil::job::Job>> {
    let cli = Cli::try_parse_from(argv).ok()?;
    let Sub::Run(args) = cli.command else {
        unreachable!("always run")
    };
    Some(vigil::job::Job::from_args(&args.inputs, &args.job))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn any_flags_give_a_job_or_a_usage_error(argv in argv()) {
        if let Some(result) = job_of(&argv) {
            match result {
                Ok(job) => {
                    // the plan compiles, or refuses with a usage error
                    if let Err(e) = vigil::plan::RecordPlan::new(&job) {
                        prop_assert_eq!(e.exit_code(), 2, "{}", e);
                    }
                }
                Err(e) => {
                    prop_assert_eq!(e.exit_code(), 2, "{}", e);
                    prop_assert!(!e.to_string().is_empty());
                }
            }
        }
    }

    #[test]
    fn any_expression_parses_or_points_at_a_column(text in value()) {
        match vigil::expr::Expr::parse(&text) {
            Ok(e) => prop_assert_eq!(e.text(), text.as_str()),
            Err(e) => prop_assert!(e.column <= text.chars().count(), "caret past the end: {}", e),
        }
    }

    #[test]
    fn any_rule_parses_or_points_at_a_column(text in value(), index in 0usize..5) {
        if let Err(e) = vigil::alert::Rule::parse(&text, index) {
            prop_assert!(e.column <= text.chars().count(), "caret past the end: {}", e);
        }
    }

    #[test]
    fn any_aggregate_list_parses_or_points_inside_it(text in value()) {
        if let Err((col, msg)) = vigil::agg::parse_agg_list(&text) {
            prop_assert!(col <= text.len(), "{}", msg);
        }
    }

    #[test]
    fn any_duration_is_bounded_or_refused(text in value()) {
        for parse in [vigil::time::parse_duration, vigil::time::parse_delay] {
            if let Ok(ms) = parse(&text) {
                prop_assert!((0..=vigil::time::MAX_DURATION_MS).contains(&ms), "{} -> {}", text, ms);
            }
        }
    }

    #[test]
    fn any_time_format_reads_any_field_into_years_1_to_9999(spec in value(), field in value()) {
        for format in [vigil::time::TimeFormat::from_spec(&spec).ok(), Some(vigil::time::TimeFormat::Auto)]
            .into_iter()
            .flatten()
        {
            if let Some(t) = format.parse(field.as_bytes()) {
                prop_assert!((vigil::time::MIN_TIME_MS..=vigil::time::MAX_TIME_MS).contains(&t));
            }
        }
    }
}

/// The keys of a job file, and the tables.
const JOB_KEYS: &[&str] = &[
    "inputs",
    "format",
    "regex",
    "delimiter",
    "no_header",
    "columns",
    "time",
    "time_format",
    "key",
    "window",
    "slide",
    "session",
    "count_window",
    "agg",
    "where",
    "eval",
    "max_delay",
    "late_output",
    "idle_timeout",
    "output_format",
    "alerts",
    "alerts_format",
    "on_alert",
    "fail_on_alert",
    "checkpoint_every",
    "incremental",
    "on_bad_record",
    "max_keys",
    "max_line_bytes",
    "max_connections",
    "threads",
    "quiet",
    "progress",
    "windwo",
];

/// A TOML value of any type, from the values above.
fn toml_value() -> impl Strategy<Value = String> {
    prop_oneof![
        value().prop_map(|v| toml_string(&v)),
        prop::collection::vec(value(), 0..4).prop_map(|v| format!(
            "[{}]",
            v.iter()
                .map(|s| toml_string(s))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        Just("1.5".to_string()),
        Just("{ a = 1 }".to_string()),
        value(), // not TOML at all
    ]
}

fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn job_file() -> impl Strategy<Value = String> {
    let line =
        (prop::sample::select(JOB_KEYS), toml_value()).prop_map(|(k, v)| format!("{k} = {v}\n"));
    let alert = prop::collection::vec(
        (
            prop::sample::select(&["name", "when", "for", "clear", "severity", "bogus"][..]),
            toml_value(),
        ),
        0..5,
    )
    .prop_map(|kv| {
        let mut t = String::from("[[alert]]\n");
        for (k, v) in kv {
            t.push_str(&format!("{k} = {v}\n"));
        }
        t
    });
    let table = (
        prop::sample::select(&["output", "checkpoint"][..]),
        prop::collection::vec(
            (
                prop::sample::select(
                    &["path", "format", "every", "incremental", "alerts", "x"][..],
                ),
                toml_value(),
            ),
            0..4,
        ),
    )
        .prop_map(|(name, kv)| {
            let mut t = format!("[{name}]\n");
            for (k, v) in kv {
                t.push_str(&format!("{k} = {v}\n"));
            }
            t
        });
    (
        prop::collection::vec(line, 0..10),
        prop::collection::vec(prop_oneof![alert, table], 0..3),
    )
        .prop_map(|(lines, tables)| lines.concat() + &tables.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn any_job_file_gives_a_job_or_an_error_naming_the_file(text in job_file()) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("in.csv"), "ts,value\n").unwrap();
        let path = dir.path().join("job.toml");
        std::fs::write(&path, &text).unwrap();
        let args = vigil::cli::args::JobArgs { config: Some(path), ..Default::default() };
        match vigil::job::Job::from_args(&[dir.path().join("in.csv").display().to_string()], &args) {
            Ok(job) => {
                if let Err(e) = vigil::plan::RecordPlan::new(&job) {
                    prop_assert_eq!(e.exit_code(), 2, "{}", e);
                }
            }
            Err(e) => prop_assert_eq!(e.exit_code(), 2, "{}", e),
        }
    }
}

/// A few dozen runs of the binary with random flags over a small file: an
/// exit status of 0, 1 or 2, never a signal, never a panic message.
#[test]
fn the_binary_answers_random_command_lines_with_a_status() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("in.csv"),
        "ts,host,value\n2026-01-01T00:00:00Z,a,1\n2026-01-01T00:00:30Z,b,x\nbad line\n",
    )
    .unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let strategy = (argv(), any::<bool>());
    runner
        .run(&strategy, |(mut argv, check)| {
            if check {
                argv[1] = "check".to_string();
            }
            // no TCP listener or stdin reader left waiting: a file input only;
            // an argument cannot hold a NUL byte (exec refuses it)
            argv.retain(|a| !a.starts_with("tcp://") && a != "-");
            for a in &mut argv {
                *a = a.replace('\0', "0");
            }
            // nothing run or reached outside the temp dir: no hooks, no
            // deliveries, no paths that leave it
            let mut i = 3;
            while i < argv.len() {
                let unsafe_flag = matches!(
                    argv[i].as_str(),
                    "--on-alert" | "--webhook" | "--alertmanager"
                );
                let leaves = argv
                    .get(i + 1)
                    .is_some_and(|v| v.starts_with('/') || v.contains(".."));
                if argv[i].starts_with("--") && (unsafe_flag || leaves) && i + 1 < argv.len() {
                    argv.drain(i..i + 2);
                } else {
                    i += 1;
                }
            }
            let code = run_binary(dir.path(), &argv[1..]);
            prop_assert!(matches!(code, Ok(0..=2)), "{:?}: {:?}", argv, code);
            Ok(())
        })
        .unwrap();
}

/// Runs vigil; Ok(status) or Err(what went wrong: a signal, a panic).
fn run_binary(dir: &Path, args: &[String]) -> Result<i32, String> {
    let child = Command::new(crate::common::bin())
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let _watchdog = crate::common::watchdog(child.id(), 60);
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("panicked") || stderr.contains("RUST_BACKTRACE") {
        return Err(stderr.into_owned());
    }
    out.status
        .code()
        .ok_or_else(|| format!("killed by a signal: {stderr}"))
}
