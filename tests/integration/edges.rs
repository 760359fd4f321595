//! The promises at the edges (issue 12): each test reproduces one way vigil
//! crashed, hung or lost data silently, and pins the fixed behaviour. Named
//! for what broke.

use std::fs::File;
use std::os::fd::FromRawFd;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{bin, run_in, tempdir, write};

const CSV: &str = "ts,host,value\n\
    2026-01-01T00:00:00Z,a,1\n\
    2026-01-01T00:00:30Z,a,2\n\
    2026-01-01T00:01:10Z,b,3\n";

/// A pipe whose reading end is already closed: every write to the other end
/// fails with EPIPE, whatever the timing (what `| head -1` does, made certain).
fn closed_pipe() -> Stdio {
    let mut fds = [0i32; 2];
    // SAFETY: pipe(2) fills two descriptors that we then own.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both descriptors are fresh and owned here.
    let (read, write) = unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) };
    drop(read);
    Stdio::from(write)
}

struct Ran {
    code: Option<i32>,
    signal: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs vigil in `dir` with the given stdout and stderr.
fn run_with(dir: &Path, args: &[&str], stdout: Stdio, stderr: Stdio) -> Ran {
    let child = Command::new(bin())
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .expect("start vigil");
    let _watchdog = crate::common::watchdog(child.id(), 60);
    let out = child.wait_with_output().expect("wait for vigil");
    use std::os::unix::process::ExitStatusExt;
    Ran {
        code: out.status.code(),
        signal: out.status.signal(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn a_rule_ending_in_severity_with_no_level_panicked() {
    let dir = tempdir();
    write(dir.path(), "m.csv", CSV);
    for cmd in [
        &["run", "m.csv", "--time", "ts", "--key", "host"][..],
        &["check", "--time", "ts", "--key", "host"],
    ] {
        for rule in [
            "avg(value) > 1 severity",
            "avg(value) > 1 for",
            "hot: avg(value) > 1 clear",
        ] {
            let out = run_in(dir.path(), &[cmd, &["--alert", rule]].concat(), None);
            assert_eq!(out.code, 2, "{rule}: {}", out.stderr);
            assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
            assert!(
                out.stderr.contains("expected"),
                "says what was expected: {}",
                out.stderr
            );
            assert!(out.stderr.contains(rule), "echoes the rule: {}", out.stderr);
        }
    }
}

#[test]
fn a_closed_stdout_panicked_in_test_check_completions_and_man() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for args in [
        &["test", "testdata/rules.test.toml"][..],
        &["check", "-c", "testdata/job.toml"],
        &["completions", "bash"],
        &["man"],
        &[
            "run",
            "testdata/metrics.csv",
            "--time",
            "ts",
            "--key",
            "host",
            "-q",
        ],
    ] {
        let out = run_with(root, args, closed_pipe(), Stdio::piped());
        assert_eq!(out.code, Some(0), "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.is_empty(),
            "{args:?} ends quietly: {}",
            out.stderr
        );
    }
}

#[test]
fn a_closed_stderr_was_taken_for_a_closed_stdout_and_cut_the_report_short() {
    let dir = tempdir();
    let mut csv = String::from("ts,host,value\n");
    for i in 0..600 {
        csv.push_str(&format!(
            "2026-01-01T00:{:02}:{:02}Z,h{},95\n",
            i / 60 % 60,
            i % 60,
            i % 3
        ));
    }
    write(dir.path(), "m.csv", &csv);
    // Alerts as text go to stderr: once it is closed, writing them fails, and
    // that is a failure (exit 1), not the quiet end of a closed report stream.
    let job = [
        "run", "m.csv", "--time", "ts", "--key", "host", "--window", "1m",
    ];
    let firing = [&job[..], &["--alert", "avg(value) > 90", "-o", "r.csv"]].concat();
    let out = run_with(dir.path(), &firing, Stdio::null(), closed_pipe());
    assert_eq!(
        out.code,
        Some(1),
        "writing alerts to a closed stderr is an error"
    );
    // Without alerts only diagnostics go to stderr: they are lost, the run is
    // not (eprintln! used to panic on the summary line, exit 101).
    let quiet = [&job[..], &["-o", "r2.csv"]].concat();
    let out = run_with(dir.path(), &quiet, Stdio::null(), closed_pipe());
    assert_eq!(out.code, Some(0));
    let full = run_in(dir.path(), &[&job[..], &["-q"]].concat(), None);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("r2.csv")).unwrap(),
        full.stdout,
        "the whole report"
    );
}

#[test]
fn extreme_event_times_spun_forever_or_printed_year_minus_292275055() {
    let dir = tempdir();
    write(
        dir.path(),
        "x.csv",
        "ts,host,value\n\
         9223372036854775807,a,1\n\
         -9223372036854775808,a,2\n\
         1767225600000,a,3\n\
         253402300800000,a,4\n",
    );
    for window in [
        &["--window", "1m", "--slide", "10s"][..],
        &["--window", "1m"],
    ] {
        let args = [
            &[
                "run",
                "x.csv",
                "--time",
                "ts",
                "--time-format",
                "unix_ms",
                "--key",
                "host",
            ][..],
            window,
        ]
        .concat();
        let started = Instant::now();
        let out = run_with(dir.path(), &args, Stdio::piped(), Stdio::piped());
        assert!(started.elapsed() < Duration::from_secs(20));
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        assert!(out.stderr.contains("records=4 bad=3 "), "{}", out.stderr);
        assert!(
            out.stderr.contains(
                "field 'ts': '9223372036854775807' is a time outside the years 1 to 9999"
            ),
            "the message names the field: {}",
            out.stderr
        );
        assert!(!out.stdout.contains("-292"), "{}", out.stdout);
        let rows: Vec<&str> = out.stdout.lines().skip(1).collect();
        assert!(!rows.is_empty());
        assert!(
            rows.iter()
                .all(|l| l.starts_with("2025-12-31T23:5") || l.starts_with("2026-01-01T00:0")),
            "{}",
            out.stdout
        );
    }
}

#[test]
fn durations_beyond_a_century_could_overflow_window_arithmetic() {
    let dir = tempdir();
    write(dir.path(), "m.csv", CSV);
    for (flag, value) in [
        ("--window", "36501d"),
        ("--max-delay", "99999999h"),
        ("--session", "999999999999999ms"),
    ] {
        let out = run_in(dir.path(), &["check", "--time", "ts", flag, value], None);
        assert_eq!(out.code, 2, "{flag} {value}: {}", out.stderr);
        assert!(out.stderr.contains("longest duration"), "{}", out.stderr);
    }
    let out = run_in(
        dir.path(),
        &["check", "--time", "ts", "--alert", "absent(36501d)"],
        None,
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
}

#[test]
fn five_thousand_parentheses_overflowed_the_stack() {
    let dir = tempdir();
    write(dir.path(), "m.csv", CSV);
    let deep = format!("{}value > 1{}", "(".repeat(5000), ")".repeat(5000));
    let rule = format!(
        "avg(value) > 1 and {}",
        deep.replace("value > 1", "host == \"a\"")
    );
    for args in [
        vec!["run", "m.csv", "--time", "ts", "--where", &deep],
        vec![
            "run",
            "m.csv",
            "--time",
            "ts",
            "--eval",
            &format!("x = {deep}"),
        ],
        vec!["check", "--time", "ts", "--key", "host", "--alert", &rule],
    ] {
        let out = run_with(dir.path(), &args, Stdio::piped(), Stdio::piped());
        assert_eq!(
            out.code,
            Some(2),
            "{:?} {:?}",
            out.signal,
            out.stderr.lines().next()
        );
        assert!(
            out.stderr.contains("nests more than 200 levels"),
            "{}",
            &out.stderr[..300.min(out.stderr.len())]
        );
    }
}

#[test]
fn a_job_file_glob_with_many_stars_backtracked_exponentially() {
    let dir = tempdir();
    write(dir.path(), &format!("{}.csv", "a".repeat(60)), CSV);
    write(
        dir.path(),
        "job.toml",
        format!("inputs = [\"{}b.csv\"]\ntime = \"ts\"\n", "a*".repeat(25)),
    );
    let started = Instant::now();
    let out = run_in(dir.path(), &["check", "-c", "job.toml"], None);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("matches no file"), "{}", out.stderr);
}

#[test]
fn twenty_thousand_threads_took_minutes_to_start() {
    let dir = tempdir();
    write(dir.path(), "m.csv", CSV);
    let started = Instant::now();
    let out = run_in(
        dir.path(),
        &["run", "m.csv", "--time", "ts", "--threads", "20000"],
        None,
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("--threads 20000: at most 1024"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_one_day_window_sliding_by_one_ms_ran_past_6_gb() {
    let dir = tempdir();
    write(dir.path(), "m.csv", CSV);
    let out = run_in(
        dir.path(),
        &[
            "run", "m.csv", "--time", "ts", "--window", "1d", "--slide", "1ms",
        ],
        None,
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("in 86400000 windows"),
        "names the count: {}",
        out.stderr
    );
    assert!(out.stderr.contains("at least 8s640ms"), "{}", out.stderr);
    // 10,000 windows per record is still a job
    let out = run_in(
        dir.path(),
        &[
            "check", "--time", "ts", "--window", "10000s", "--slide", "1s",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn a_table_report_with_checkpoints_lost_rows_on_resume() {
    let dir = tempdir();
    write(dir.path(), "m.csv", CSV);
    let out = run_in(
        dir.path(),
        &[
            "run",
            "m.csv",
            "--time",
            "ts",
            "--output-format",
            "table",
            "--checkpoint",
            "c.ckpt",
        ],
        None,
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("use csv or jsonl with --checkpoint"),
        "{}",
        out.stderr
    );
    assert!(!dir.path().join("c.ckpt").exists());
}

#[test]
fn an_output_naming_an_input_emptied_that_input() {
    let dir = tempdir();
    let input = write(dir.path(), "m.csv", CSV);
    std::os::unix::fs::symlink(&input, dir.path().join("link.csv")).unwrap();
    std::fs::hard_link(&input, dir.path().join("hard.csv")).unwrap();
    let job = ["run", "m.csv", "--time", "ts"];
    for extra in [
        &["-o", "m.csv"][..],
        &["-o", "./m.csv"],
        &["-o", "link.csv"],
        &["-o", "hard.csv"],
        &["--alerts", "m.csv"],
        &["--late-output", "m.csv"],
        &["--on-bad-record", "m.csv"],
        &["--checkpoint", "m.csv"],
    ] {
        let out = run_in(dir.path(), &[&job[..], extra].concat(), None);
        assert_eq!(out.code, 2, "{extra:?}: {}", out.stderr);
        assert!(out.stderr.contains("is also an input"), "{}", out.stderr);
        assert_eq!(
            std::fs::read_to_string(&input).unwrap(),
            CSV,
            "{extra:?} left the input alone"
        );
    }
    let out = run_in(
        dir.path(),
        &[&job[..], &["-o", "r.csv", "--alerts", "r.csv"]].concat(),
        None,
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("are the same file"), "{}", out.stderr);
    // `-o -` is stdout, not a file named '-'
    let out = run_in(dir.path(), &[&job[..], &["-o", "-", "-q"]].concat(), None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.starts_with("window_start,"));
    assert!(!dir.path().join("-").exists());
}

#[test]
fn control_characters_from_the_data_reached_the_terminal() {
    let dir = tempdir();
    write(
        dir.path(),
        "m.csv",
        "ts,host,value\n\
         2026-01-01T00:00:00Z,\"web\rvigil: alert 2026-01-01T00:01:00.000Z RESOLVED\",95\n\
         \x1b[2J\x07,x,1\n",
    );
    let out = run_in(
        dir.path(),
        &[
            "run",
            "m.csv",
            "--time",
            "ts",
            "--key",
            "host",
            "--alert",
            "hot: avg(value) > 90",
            "-o",
            "r.csv",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        !out.stderr.contains('\r') && !out.stderr.contains('\x1b') && !out.stderr.contains('\x07')
    );
    assert!(
        out.stderr.contains("host=web\\rvigil: alert"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("'\\x1b[2J\\x07'"),
        "the bad record, escaped: {}",
        out.stderr
    );
    // the report keeps the exact bytes
    assert!(std::fs::read_to_string(dir.path().join("r.csv"))
        .unwrap()
        .contains("web\r"));
}

#[test]
fn an_error_echoing_a_huge_header_printed_all_of_it() {
    let dir = tempdir();
    let header = format!("GET /{} HTTP/1.1,other", "x".repeat(20_000));
    write(dir.path(), "m.csv", format!("{header}\n1,2\n"));
    let out = run_in(dir.path(), &["run", "m.csv", "--time", "ts"], None);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("the header has: GET /xxx"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains(" bytes in all)"), "{}", out.stderr);
    assert!(
        out.stderr.len() < 1000,
        "{} bytes of message",
        out.stderr.len()
    );
}

#[test]
fn a_nul_byte_in_a_key_stopped_the_hook_from_starting() {
    let dir = tempdir();
    write(
        dir.path(),
        "m.csv",
        "ts,host,value\n2026-01-01T00:00:00Z,a\0b,95\n",
    );
    let out = run_in(
        dir.path(),
        &[
            "run",
            "m.csv",
            "--time",
            "ts",
            "--key",
            "host",
            "--alert",
            "avg(value) > 90",
            "-o",
            "r.csv",
            "--on-alert",
            "printf '%s' \"$VIGIL_KEY\" > key.txt; cat > event.json",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("notify_failed=0 "), "{}", out.stderr);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("key.txt")).unwrap(),
        "a\\0b"
    );
    let event = std::fs::read_to_string(dir.path().join("event.json")).unwrap();
    assert!(
        event.contains("\"host\":\"a\\u0000b\""),
        "exact bytes in the JSON: {event}"
    );
}

#[test]
fn two_runs_on_one_checkpoint_raced_on_its_temporary_file() {
    let dir = tempdir();
    write(dir.path(), "m.csv", CSV);
    // a live run that holds the checkpoint until it is stopped
    let first = spawn_tcp_run(dir.path(), &["--time", "ts", "--checkpoint", "c.ckpt"]);
    let _watchdog = crate::common::watchdog(first.child.id(), 60);
    let second = run_in(
        dir.path(),
        &["run", "m.csv", "--time", "ts", "--checkpoint", "c.ckpt"],
        None,
    );
    assert_eq!(second.code, 2, "{}", second.stderr);
    assert!(
        second.stderr.contains("is in use by another vigil run"),
        "{}",
        second.stderr
    );
    assert!(
        second.stderr.contains(&format!("pid {}", first.child.id())),
        "{}",
        second.stderr
    );
    let out = stop(first);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

#[test]
fn a_mapped_input_truncated_while_read_killed_vigil_with_sigbus() {
    let dir = tempdir();
    // Over one batch (8 MiB), each record its own 1ms window, so the report
    // of the first batch alone is far more than a pipe holds.
    let mut csv = String::from("ts,host,value\n");
    let mut t: i64 = 1_767_225_600_000;
    while csv.len() < 20 << 20 {
        csv.push_str(&format!("{t},h{},1\n", t % 5));
        t += 1;
    }
    let input = write(dir.path(), "big.csv", &csv);
    let fifo = dir.path().join("report.fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo(3) on a path in our temp dir.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let child = Command::new(bin())
        .args([
            "run",
            "big.csv",
            "--time",
            "ts",
            "--time-format",
            "unix_ms",
            "--key",
            "host",
            "--window",
            "1ms",
            "--threads",
            "2",
            "-o",
            "report.fifo",
        ])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _watchdog = crate::common::watchdog(child.id(), 120);
    // vigil blocks writing the report of its first batch until we read
    let mut report = File::open(&fifo).unwrap();
    let mut first = vec![0u8; 4096];
    use std::io::Read;
    report.read_exact(&mut first).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // truncate the input in place, to less than one page
    File::options()
        .write(true)
        .open(&input)
        .unwrap()
        .set_len(1000)
        .unwrap();
    let mut rest = Vec::new();
    report.read_to_end(&mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    use std::os::unix::process::ExitStatusExt;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), None, "killed by a signal: {stderr}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("input big.csv was truncated while being read"),
        "{stderr}"
    );
    assert!(stderr.contains("now has 1000"), "{stderr}");
}

/// What happens to the log file between incremental runs.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// the application appends this many lines
    Append(usize),
    /// logrotate's default: PATH renamed to PATH.1, a new empty PATH
    Rename,
    /// logrotate's copytruncate: PATH copied to PATH.1, then PATH truncated in place
    CopyTruncate,
    /// `vigil run PATH --incremental --checkpoint ...`
    Run,
}

/// Plays `steps` on a log file and returns the final report (a last run
/// without --incremental flushes), and the report of one run over every
/// line in the order written.
fn rotation_reports(steps: &[Step]) -> (String, String) {
    use std::io::Write;
    let dir = tempdir();
    let path = dir.path().join("app.jsonl");
    let old = dir.path().join("app.jsonl.1");
    std::fs::write(&path, "").unwrap();
    let job = [
        "--time",
        "ts",
        "--key",
        "host",
        "--window",
        "10s",
        "--agg",
        "count(), sum(value)",
        "-o",
        "report.csv",
    ];
    let mut all = String::new();
    let mut n = 0u64;
    let run = |extra: &[&str]| {
        let args = [
            &["run", "app.jsonl"][..],
            &job,
            &["--checkpoint", "c.ckpt", "-q"],
            extra,
        ]
        .concat();
        let out = run_in(dir.path(), &args, None);
        assert_eq!(out.code, 0, "{steps:?}: {}", out.stderr);
        assert!(!out.stderr.contains("lost"), "{steps:?}: {}", out.stderr);
    };
    for step in steps {
        match *step {
            Step::Append(k) => {
                let mut f = File::options().append(true).open(&path).unwrap();
                for _ in 0..k {
                    let line = format!(
                        "{{\"ts\":\"{}\",\"host\":\"h{}\",\"value\":{}}}\n",
                        crate::common::rfc3339(1_767_225_600_000 + n as i64 * 1500),
                        n % 3,
                        n % 10
                    );
                    f.write_all(line.as_bytes()).unwrap();
                    all.push_str(&line);
                    n += 1;
                }
            }
            Step::Rename => {
                std::fs::rename(&path, &old).unwrap();
                std::fs::write(&path, "").unwrap();
            }
            Step::CopyTruncate => {
                std::fs::copy(&path, &old).unwrap();
                File::options()
                    .write(true)
                    .open(&path)
                    .unwrap()
                    .set_len(0)
                    .unwrap();
            }
            Step::Run => run(&["--incremental"]),
        }
    }
    run(&[]);
    let rotated = std::fs::read_to_string(dir.path().join("report.csv")).unwrap();
    let whole = tempdir();
    write(whole.path(), "all.jsonl", &all);
    let out = run_in(
        whole.path(),
        &[&["run", "all.jsonl"][..], &job, &["-q"]].concat(),
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let batch = std::fs::read_to_string(whole.path().join("report.csv")).unwrap();
    (rotated, batch)
}

#[test]
fn copytruncate_lost_the_lines_appended_since_the_last_run() {
    use Step::*;
    for steps in [
        // the issue's case: read, append, copytruncate, run
        &[Append(40), Run, Append(30), CopyTruncate, Append(5), Run][..],
        &[
            Append(40),
            Run,
            Append(30),
            CopyTruncate,
            Run,
            Append(7),
            Run,
        ],
        // the rest of a copy read, then the truncated file regrows past the old offset
        &[Append(20), Run, Append(10), CopyTruncate, Append(60), Run],
        // a run that saw the file empty: nothing to compare but PATH.1 being new
        &[Run, Append(25), CopyTruncate, Append(4), Run],
        &[
            Append(10),
            Run,
            CopyTruncate,
            Run,
            Append(15),
            CopyTruncate,
            Append(3),
            Run,
        ],
    ] {
        let (rotated, batch) = rotation_reports(steps);
        assert_eq!(rotated, batch, "{steps:?}");
    }
}

#[test]
fn a_rotation_after_a_run_over_an_empty_new_file_lost_a_whole_generation() {
    use Step::*;
    for steps in [
        &[
            Append(30),
            Run,
            Rename,
            Run,
            Append(20),
            Rename,
            Append(5),
            Run,
        ][..],
        &[
            Append(30),
            Run,
            Append(3),
            Rename,
            Run,
            Append(20),
            Rename,
            Run,
        ],
        &[
            Append(30),
            Run,
            CopyTruncate,
            Run,
            Append(20),
            Rename,
            Append(2),
            Run,
        ],
    ] {
        let (rotated, batch) = rotation_reports(steps);
        assert_eq!(rotated, batch, "{steps:?}");
    }
}

#[test]
fn rotations_between_incremental_runs_match_one_run_over_every_line() {
    // A model test: random appends, rotations (at most one between two runs:
    // logrotate keeps one generation at PATH.1) and runs, against one run
    // over every line in the order written.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |m: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m
    };
    for _ in 0..12 {
        let mut steps = vec![Step::Append(1 + next(20) as usize), Step::Run];
        let mut rotated_since_run = false;
        for _ in 0..(3 + next(6)) {
            let step = match next(5) {
                0 | 1 => Step::Append(1 + next(40) as usize),
                2 if !rotated_since_run => Step::Rename,
                3 if !rotated_since_run => Step::CopyTruncate,
                _ => Step::Run,
            };
            match step {
                Step::Rename | Step::CopyTruncate => rotated_since_run = true,
                Step::Run => rotated_since_run = false,
                _ => {}
            }
            steps.push(step);
        }
        // the last, flushing run does not follow rotations: an incremental one first
        steps.push(Step::Run);
        let (rotated, batch) = rotation_reports(&steps);
        assert_eq!(rotated, batch, "{steps:?}");
    }
}

/// A `vigil run tcp://127.0.0.1:0 ...`: the port is the one vigil bound and
/// printed (a port picked by the test could be taken by a parallel test).
struct TcpRun {
    child: std::process::Child,
    addr: String,
    stderr: std::thread::JoinHandle<String>,
}

fn spawn_tcp_run(dir: &Path, args: &[&str]) -> TcpRun {
    use std::io::BufRead;
    let mut child = Command::new(bin())
        .arg("run")
        .arg("tcp://127.0.0.1:0")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let addr = loop {
        let mut line = String::new();
        if lines.read_line(&mut line).unwrap() == 0 {
            panic!("vigil ended without listening: {seen}");
        }
        seen.push_str(&line);
        if let Some(a) = line.trim().strip_prefix("vigil: listening on tcp://") {
            break a.to_string();
        }
    };
    let stderr = std::thread::spawn(move || {
        let mut rest = String::new();
        use std::io::Read;
        let _ = lines.read_to_string(&mut rest);
        seen + &rest
    });
    TcpRun {
        child,
        addr,
        stderr,
    }
}

fn connect(addr: &str) -> std::net::TcpStream {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match std::net::TcpStream::connect(addr) {
            Ok(s) => return s,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("vigil did not listen on {addr}: {e}"),
        }
    }
}

/// SIGTERM, then the output.
fn stop(run: TcpRun) -> Ran {
    // SAFETY: signalling the child this test started.
    unsafe { libc::kill(run.child.id() as i32, libc::SIGTERM) };
    let out = run.child.wait_with_output().unwrap();
    use std::os::unix::process::ExitStatusExt;
    Ran {
        code: out.status.code(),
        signal: out.status.signal(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: run.stderr.join().unwrap(),
    }
}

/// Whether the peer closed `s` (a read returns end of stream or an error) within `wait`.
fn closed_by_peer(s: &mut std::net::TcpStream, wait: Duration) -> bool {
    use std::io::Read;
    s.set_read_timeout(Some(wait)).unwrap();
    let mut b = [0u8; 16];
    match s.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

#[test]
fn a_tcp_client_without_the_jobs_header_ended_the_whole_run() {
    use std::io::Write;
    let dir = tempdir();
    let run = spawn_tcp_run(
        dir.path(),
        &[
            "--time",
            "ts",
            "--key",
            "host",
            "--agg",
            "count(), sum(value)",
        ],
    );
    let _watchdog = crate::common::watchdog(run.child.id(), 60);
    let addr = run.addr.clone();
    let mut good = connect(&addr);
    good.write_all(b"ts,host,value\n2026-01-01T00:00:01Z,a,1\n")
        .unwrap();
    // an HTTP request and a port scanner's binary probe
    let mut http = connect(&addr);
    http.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut scanner = connect(&addr);
    scanner
        .write_all(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n")
        .unwrap();
    assert!(
        closed_by_peer(&mut http, Duration::from_secs(10)),
        "the HTTP client was not closed"
    );
    assert!(closed_by_peer(&mut scanner, Duration::from_secs(10)));
    // the good client goes on after them, and so does a new one
    good.write_all(b"2026-01-01T00:00:02Z,a,2\n").unwrap();
    let mut late = connect(&addr);
    late.write_all(b"ts,host,value\n2026-01-01T00:00:03Z,b,5\n")
        .unwrap();
    drop((good, late));
    std::thread::sleep(Duration::from_millis(400));
    let out = stop(run);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "window_start,window_end,host,count,sum_value\n\
         2026-01-01T00:00:00.000Z,2026-01-01T00:01:00.000Z,a,2,3\n\
         2026-01-01T00:00:00.000Z,2026-01-01T00:01:00.000Z,b,1,5\n",
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("connections=4 refused_connections=0 bad_connections=2"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("vigil: closed tcp://127.0.0.1:"),
        "reported: {}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("names field 'ts', which is not a column"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains('\x16'), "escaped");
}

#[test]
fn concurrent_tcp_connections_were_unbounded() {
    use std::io::Write;
    let dir = tempdir();
    let run = spawn_tcp_run(
        dir.path(),
        &["--time", "ts", "--agg", "count()", "--max-connections", "2"],
    );
    let _watchdog = crate::common::watchdog(run.child.id(), 60);
    let addr = run.addr.clone();
    let mut first = connect(&addr);
    first.write_all(b"ts,v\n").unwrap();
    let mut second = connect(&addr);
    second.write_all(b"ts,v\n").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let mut third = connect(&addr);
    assert!(
        closed_by_peer(&mut third, Duration::from_secs(10)),
        "the third connection stays open"
    );
    assert!(
        !closed_by_peer(&mut first, Duration::from_millis(200)),
        "the first is served"
    );
    // once one leaves, a new one is served
    drop(second);
    std::thread::sleep(Duration::from_millis(300));
    let mut fourth = connect(&addr);
    fourth.write_all(b"ts,v\n2026-01-01T00:00:01Z,1\n").unwrap();
    assert!(!closed_by_peer(&mut fourth, Duration::from_millis(300)));
    drop((first, fourth));
    std::thread::sleep(Duration::from_millis(300));
    let out = stop(run);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr.contains("connections=3 refused_connections=1 "),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("as many as --max-connections allows"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.contains(",1\n"), "{}", out.stdout);
}

#[test]
fn an_endless_tcp_line_grew_memory_without_bound() {
    use std::io::Write;
    let dir = tempdir();
    let run = spawn_tcp_run(
        dir.path(),
        &[
            "--time",
            "ts",
            "--agg",
            "count()",
            "--max-line-bytes",
            "64K",
            "--on-bad-record",
            "bad.txt",
        ],
    );
    let _watchdog = crate::common::watchdog(run.child.id(), 90);
    let addr = run.addr.clone();
    let mut c = connect(&addr);
    c.write_all(b"ts,v\n2026-01-01T00:00:01Z,1\n").unwrap();
    // 32 MiB without a newline, then the line ends and a good one follows
    let block = vec![b'x'; 1 << 20];
    for _ in 0..32 {
        c.write_all(&block).unwrap();
    }
    // SAFETY: reading our child's status file.
    let rss_kb = std::fs::read_to_string(format!("/proc/{}/status", run.child.id()))
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix("VmRSS:")
                .map(|v| v.trim().trim_end_matches(" kB").parse::<u64>().unwrap())
        })
        .unwrap();
    c.write_all(b"\n2026-01-01T00:00:02Z,1\n").unwrap();
    drop(c);
    std::thread::sleep(Duration::from_millis(400));
    let out = stop(run);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        rss_kb < 40 << 10,
        "{rss_kb} kB resident while a 32 MiB line arrived"
    );
    assert!(out.stderr.contains("records=3 bad=1 "), "{}", out.stderr);
    assert!(
        out.stderr
            .contains(":3: a line longer than --max-line-bytes 65536"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.contains(",2\n"),
        "both good records counted: {}",
        out.stdout
    );
    let bad = std::fs::read(dir.path().join("bad.txt")).unwrap();
    assert_eq!(bad.len(), 65537 + 1, "its first bytes and a newline");
}

#[test]
fn a_long_line_in_a_file_or_on_stdin_is_a_bad_record_and_reading_goes_on() {
    let dir = tempdir();
    let long = "y".repeat(5000);
    // a record of exactly 1 KiB (its value padded with zeros) is within the limit
    let exact = format!("2026-01-01T00:00:03Z,{}1", "0".repeat(1024 - 22));
    assert_eq!(exact.len(), 1024);
    let csv =
        format!("ts,v\n2026-01-01T00:00:01Z,1\n{long}\r\n2026-01-01T00:00:02Z,1\n{exact}\r\n");
    write(dir.path(), "m.csv", &csv);
    let args = [
        "--time",
        "ts",
        "--agg",
        "count()",
        "--max-line-bytes",
        "1K",
        "--on-bad-record",
        "bad.txt",
    ];
    let file = run_in(dir.path(), &[&["run", "m.csv"][..], &args].concat(), None);
    let stdin = run_in(
        dir.path(),
        &[&["run", "-"][..], &args].concat(),
        Some(csv.as_bytes()),
    );
    for out in [&file, &stdin] {
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(
            out.stderr.contains("records=4 bad=1 "),
            "a line of exactly 1K is not too long: {}",
            out.stderr
        );
        assert!(
            out.stderr
                .contains(":3: a line longer than --max-line-bytes 1024"),
            "{}",
            out.stderr
        );
        assert!(out.stdout.ends_with(",3\n"), "{}", out.stdout);
    }
    assert_eq!(
        std::fs::read(dir.path().join("bad.txt")).unwrap().len(),
        1026
    );
    // the limit itself is checked
    let out = run_in(
        dir.path(),
        &["check", "--time", "ts", "--max-line-bytes", "2G"],
        None,
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("from 1 to 1G"), "{}", out.stderr);
}

/// A run where every record was bad (wrong `--time-format`, wrong
/// `--format`) exited 0 with an empty report without even a header. Now it
/// is exit 1 with a message naming what was tried, and the report it leaves
/// still has its header; a run whose records are all filtered out is no
/// failure and also writes the header.
#[test]
fn every_record_bad_exited_0_with_a_report_without_a_header() {
    let dir = tempdir();
    write(dir.path(), "m.csv", CSV);
    for wrong in [
        &["--time-format", "unix_ms"][..],
        &["--format", "json"],
        &["--time-format", "%d/%m/%Y"],
    ] {
        let args = [
            &[
                "run", "m.csv", "--time", "ts", "--key", "host", "-o", "r.csv",
            ][..],
            wrong,
        ]
        .concat();
        let out = run_in(dir.path(), &args, None);
        assert_eq!(out.code, 1, "{wrong:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("records read was bad"),
            "{wrong:?}: {}",
            out.stderr
        );
        let tried = if wrong[0] == "--format" {
            format!("--format {}", wrong[1])
        } else {
            format!("--time-format {}", wrong[1])
        };
        assert!(out.stderr.contains(&tried), "names {tried}: {}", out.stderr);
        let report = std::fs::read_to_string(dir.path().join("r.csv")).unwrap();
        assert!(
            report.starts_with("window_start,window_end,host,"),
            "{wrong:?}: the report keeps its header: {report:?}"
        );
    }
    let out = run_in(
        dir.path(),
        &[
            "run",
            "m.csv",
            "--time",
            "ts",
            "--key",
            "host",
            "--where",
            "value < -1",
            "-o",
            "e.csv",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report = std::fs::read_to_string(dir.path().join("e.csv")).unwrap();
    assert_eq!(report.lines().count(), 1, "only the header: {report:?}");
    assert!(
        report.starts_with("window_start,window_end,host,"),
        "{report:?}"
    );
}
