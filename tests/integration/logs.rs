//! Log lines as inputs: nginx/apache, logfmt, syslog and regex on the small
//! samples in testdata/logs (CRLF endings, a missing final newline, an
//! unterminated quote, non-UTF-8 bytes), format sniffing, and live output
//! through a pipe.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn vigil(args: &[&str]) -> crate::common::Output {
    crate::common::run_in(root(), args, None)
}

#[test]
fn access_log_by_status_with_crlf_no_final_newline_and_a_bad_line() {
    let out = vigil(&[
        "run",
        "testdata/logs/access.log",
        "--format",
        "nginx",
        "--time",
        "time",
        "--key",
        "status",
        "--window",
        "1m",
        "--agg",
        "count(), sum(body_bytes_sent), p95(request_time)",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "window_start,window_end,status,count,sum_body_bytes_sent,p95_request_time\n\
         2026-01-01T00:00:00.000Z,2026-01-01T00:01:00.000Z,200,1,512,0.012\n\
         2026-01-01T00:00:00.000Z,2026-01-01T00:01:00.000Z,201,1,1024,0.13\n\
         2026-01-01T00:00:00.000Z,2026-01-01T00:01:00.000Z,304,1,,0.002\n\
         2026-01-01T00:00:00.000Z,2026-01-01T00:01:00.000Z,500,1,64,0.87\n\
         2026-01-01T00:01:00.000Z,2026-01-01T00:02:00.000Z,200,1,512,0.02\n\
         2026-01-01T00:01:00.000Z,2026-01-01T00:02:00.000Z,400,1,0,0\n\
         2026-01-01T00:01:00.000Z,2026-01-01T00:02:00.000Z,502,1,90,1.25\n\
         2026-01-01T00:02:00.000Z,2026-01-01T00:03:00.000Z,200,1,2048,0.015\n"
    );
    let s = out.summary();
    assert_eq!((s["records"].as_str(), s["bad"].as_str()), ("9", "1"));
    assert!(
        out.stderr.contains("access.log:5: field 'http_user_agent'"),
        "{}",
        out.stderr
    );
}

#[test]
fn error_ratio_per_minute_with_the_format_sniffed() {
    let out = vigil(&[
        "run",
        "testdata/logs/access.log",
        "--time",
        "time",
        "--window",
        "1m",
        "--eval",
        "is_error = status >= 500",
        "--agg",
        "count(), avg(is_error) as error_ratio",
        "-q",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "window_start,window_end,count,error_ratio\n\
         2026-01-01T00:00:00.000Z,2026-01-01T00:01:00.000Z,4,0.25\n\
         2026-01-01T00:01:00.000Z,2026-01-01T00:02:00.000Z,3,0.3333333333333333\n\
         2026-01-01T00:02:00.000Z,2026-01-01T00:03:00.000Z,1,0\n"
    );
}

#[test]
fn top_talkers_and_path_keys_from_the_request_line() {
    let out = vigil(&[
        "run",
        "testdata/logs/access.log",
        "--format",
        "apache",
        "--time",
        "time",
        "--key",
        "method,path",
        "--window",
        "1h",
        "--agg",
        "count()",
        "-q",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let rows: Vec<&str> = out
        .stdout
        .lines()
        .skip(1)
        .map(|l| l.split_once(".000Z,").unwrap().1.split_once(",").unwrap().1)
        .collect();
    // the "-" request has no method or path: a missing key field makes it a bad record
    assert_eq!(
        rows,
        vec![
            "DELETE,/api/orders/7,1",
            "GET,/api/users,4",
            "GET,/static/app.js,1",
            "POST,/api/orders,1"
        ]
    );
}

#[test]
fn logfmt_with_escapes_and_an_unterminated_quote() {
    let out = vigil(&[
        "run",
        "testdata/logs/app.logfmt",
        "--time",
        "ts",
        "--key",
        "service",
        "--window",
        "1m",
        "--where",
        "level != \"debug\"",
        "--agg",
        "count(), max(duration_ms)",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "window_start,window_end,service,count,max_duration_ms\n\
         2026-01-01T00:00:00.000Z,2026-01-01T00:01:00.000Z,api,2,950\n\
         2026-01-01T00:00:00.000Z,2026-01-01T00:01:00.000Z,worker,1,40\n\
         2026-01-01T00:01:00.000Z,2026-01-01T00:02:00.000Z,worker,1,300\n"
    );
    assert!(
        out.stderr.contains("app.logfmt:4: field 'msg'"),
        "{}",
        out.stderr
    );
}

#[test]
fn syslog_3164_and_5424_mixed() {
    let out = vigil(&[
        "run",
        "testdata/logs/syslog.log",
        "--format",
        "syslog",
        "--time",
        "timestamp",
        "--key",
        "host,app",
        "--window",
        "1h",
        "--agg",
        "count()",
        "-q",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let rows: Vec<&str> = out.stdout.lines().skip(1).map(|l| &l[50..]).collect();
    assert_eq!(
        rows,
        vec!["web1,sshd,3", "web2,cron,1", "web2,kernel,1"],
        "{}",
        out.stdout
    );
    let failed = vigil(&[
        "run",
        "testdata/logs/syslog.log",
        "--format",
        "syslog",
        "--time",
        "timestamp",
        "--key",
        "host",
        "--where",
        "message =~ \"^Failed password\"",
        "--agg",
        "count()",
        "-q",
    ]);
    assert!(failed.stdout.ends_with(",web1,2\n"), "{}", failed.stdout);
}

#[test]
fn regex_named_groups_become_fields() {
    let out = vigil(&[
        "run",
        "testdata/logs/syslog.log",
        "--format",
        "regex",
        "--regex",
        r"^(?P<mon>\w+) +(?P<day>\d+) (?P<clock>[\d:]+) (?P<host>\S+) sshd\[(?P<pid>\d+)\]: (?P<what>\w+)",
        "--key",
        "what",
        "--agg",
        "count(), distinct(pid)",
        "-q",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let rows: Vec<&str> = out
        .stdout
        .lines()
        .skip(1)
        .map(|l| l.splitn(3, ',').nth(2).unwrap())
        .collect();
    assert_eq!(rows, vec!["Accepted,1,1", "Failed,2,1"], "{}", out.stdout);
}

#[test]
fn rows_appear_before_the_writer_closes_the_pipe() {
    let mut child = Command::new(crate::common::bin())
        .args([
            "run", "--format", "nginx", "--time", "time", "--window", "1m", "--agg", "count()",
        ])
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _watchdog = crate::common::watchdog(child.id(), 60);
    let mut stdin = child.stdin.take().unwrap();
    let line = |t: &str| {
        format!("10.0.0.1 - - [01/Jan/2026:{t} +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"x\"\n")
    };
    stdin.write_all(line("00:00:05").as_bytes()).unwrap();
    stdin.write_all(line("00:00:35").as_bytes()).unwrap();
    // the next minute's record moves the watermark past 00:01:00
    stdin.write_all(line("00:01:02").as_bytes()).unwrap();
    stdin.flush().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let started = Instant::now();
    assert_eq!(
        lines.next().unwrap().unwrap(),
        "window_start,window_end,count"
    );
    assert_eq!(
        lines.next().unwrap().unwrap(),
        "2026-01-01T00:00:00.000Z,2026-01-01T00:01:00.000Z,2"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // the pipe is still open here; closing it flushes the last window
    drop(stdin);
    assert_eq!(
        lines.next().unwrap().unwrap(),
        "2026-01-01T00:01:00.000Z,2026-01-01T00:02:00.000Z,1"
    );
    child.wait().unwrap();
}
