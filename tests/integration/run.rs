//! End-to-end runs of the built binary: inputs (file, several files, stdin,
//! JSON lines, TCP), report format, and bad input of every kind.

use std::io::Write;
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{run_in, tempdir, write};

const HEADER: &str = "ts,host,value\n";

fn rows(report: &str) -> Vec<&str> {
    report.lines().skip(1).collect()
}

#[test]
fn one_file_report_has_spec_columns_times_and_floats() {
    let dir = tempdir();
    write(
        dir.path(),
        "m.csv",
        format!(
            "{HEADER}2026-01-01T00:00:10Z,h1,1.5\n2026-01-01T00:00:20Z,h2,2\n2026-01-01T00:00:50Z,h1,2.5\n2026-01-01T00:01:05Z,h1,10\n"
        ),
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
            "--window",
            "1m",
            "--agg",
            "count(), sum(value), avg(value), max(value) as peak",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "window_start,window_end,host,count,sum_value,avg_value,peak\n\
         2026-01-01T00:00:00.000Z,2026-01-01T00:01:00.000Z,h1,2,4,2,2.5\n\
         2026-01-01T00:00:00.000Z,2026-01-01T00:01:00.000Z,h2,1,2,2,2\n\
         2026-01-01T00:01:00.000Z,2026-01-01T00:02:00.000Z,h1,1,10,10,10\n"
    );
    let s = out.summary();
    assert_eq!(s["records"], "4");
    assert_eq!(s["windows"], "3");
    assert_eq!(s["bad"], "0");
    // scripts may read the summary by position: the spec's keys come first, in its order
    let line = out
        .stderr
        .lines()
        .find(|l| l.starts_with("vigil: records="))
        .unwrap();
    assert!(
        line.starts_with(
            "vigil: records=4 bad=0 bad_values=0 late=0 dropped=0 windows=3 alerts=0 elapsed="
        ),
        "{line}"
    );
}

#[test]
fn several_files_are_one_stream_in_order() {
    let dir = tempdir();
    write(
        dir.path(),
        "a.csv",
        format!("{HEADER}2026-01-01T00:00:10Z,h1,1\n"),
    );
    // a different column order in the second file is resolved from its own header
    write(
        dir.path(),
        "b.csv",
        "host,value,ts\nh1,3,2026-01-01T00:00:40Z\nh1,5,2026-01-01T00:01:10Z\n",
    );
    let out = run_in(
        dir.path(),
        &[
            "run",
            "a.csv",
            "b.csv",
            "--time",
            "ts",
            "--key",
            "host",
            "--agg",
            "count(), sum(value)",
            "-q",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        rows(&out.stdout),
        vec![
            "2026-01-01T00:00:00.000Z,2026-01-01T00:01:00.000Z,h1,2,4",
            "2026-01-01T00:01:00.000Z,2026-01-01T00:02:00.000Z,h1,1,5"
        ]
    );
    assert!(out.stderr.is_empty(), "-q prints nothing: {}", out.stderr);
}

#[test]
fn stdin_and_dash_read_the_same() {
    let dir = tempdir();
    let data = format!("{HEADER}2026-01-01T00:00:10Z,h1,1\n2026-01-01T00:00:11Z,h1,2\n");
    let a = run_in(
        dir.path(),
        &["run", "--time", "ts", "--agg", "sum(value)", "-q"],
        Some(data.as_bytes()),
    );
    let b = run_in(
        dir.path(),
        &["run", "-", "--time", "ts", "--agg", "sum(value)", "-q"],
        Some(data.as_bytes()),
    );
    assert_eq!(a.code, 0, "{}", a.stderr);
    assert_eq!(a.stdout, b.stdout);
    assert_eq!(
        rows(&a.stdout),
        vec!["2026-01-01T00:00:00.000Z,2026-01-01T00:01:00.000Z,3"]
    );
}

#[test]
fn json_lines_with_nested_fields() {
    let dir = tempdir();
    write(
        dir.path(),
        "e.jsonl",
        "{\"ts\":1767225610,\"host\":{\"name\":\"h1\"},\"m\":{\"v\":2}}\n\
         {\"ts\":1767225620000,\"host\":{\"name\":\"h1\"},\"m\":{\"v\":4}}\n\
         {\"ts\":\"2026-01-01T00:00:30Z\",\"host\":{\"name\":\"h2\"},\"m\":{\"v\":null}}\n",
    );
    let out = run_in(
        dir.path(),
        &[
            "run",
            "e.jsonl",
            "--time",
            "ts",
            "--key",
            "host.name",
            "--agg",
            "count(), avg(m.v)",
            "--output-format",
            "jsonl",
            "-q",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "{\"window_start\":\"2026-01-01T00:00:00.000Z\",\"window_end\":\"2026-01-01T00:01:00.000Z\",\"host.name\":\"h1\",\"count\":2,\"avg_m.v\":3}\n\
         {\"window_start\":\"2026-01-01T00:00:00.000Z\",\"window_end\":\"2026-01-01T00:01:00.000Z\",\"host.name\":\"h2\",\"count\":1,\"avg_m.v\":null}\n"
    );
}

/// Starts vigil listening on a free loopback port with `args` after the input.
fn spawn_tcp(dir: &std::path::Path, args: &[&str]) -> (std::process::Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let input = format!("tcp://{addr}");
    let child = Command::new(crate::common::bin())
        .arg("run")
        .arg(&input)
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (child, addr)
}

/// Connects to vigil, retrying while it starts listening.
fn connect(addr: &str) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpStream::connect(addr) {
            Ok(s) => return s,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("vigil did not listen on {addr}: {e}"),
        }
    }
}

#[test]
fn tcp_three_concurrent_clients_each_with_a_header() {
    let dir = tempdir();
    let (child, addr) = spawn_tcp(
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
    let _watchdog = crate::common::watchdog(child.id(), 60);
    let mut clients: Vec<TcpStream> = (0..3).map(|_| connect(&addr)).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        c.write_all(HEADER.as_bytes()).unwrap();
        for j in 0..10 {
            writeln!(c, "2026-01-01T00:00:{:02}Z,h{},{}", 10 + j, i, j).unwrap();
        }
    }
    // one client that connects and sends nothing
    drop(connect(&addr));
    drop(clients);
    std::thread::sleep(Duration::from_millis(300));
    unsafe { libc_kill(child.id() as i32, 15) };
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        rows(&stdout),
        vec![
            "2026-01-01T00:00:00.000Z,2026-01-01T00:01:00.000Z,h0,10,45",
            "2026-01-01T00:00:00.000Z,2026-01-01T00:01:00.000Z,h1,10,45",
            "2026-01-01T00:00:00.000Z,2026-01-01T00:01:00.000Z,h2,10,45"
        ],
        "{stderr}"
    );
    assert!(stderr.contains("records=30 "), "{stderr}");
}

#[test]
fn tcp_client_hanging_up_mid_line_is_counted_not_fatal() {
    let dir = tempdir();
    let (child, addr) = spawn_tcp(dir.path(), &["--time", "ts", "--agg", "count()"]);
    let _watchdog = crate::common::watchdog(child.id(), 60);
    let mut c = connect(&addr);
    c.write_all(b"ts,host,value\n2026-01-01T00:00:01Z,h,1\n2026-01-01T00:0")
        .unwrap();
    drop(c);
    std::thread::sleep(Duration::from_millis(300));
    unsafe { libc_kill(child.id() as i32, 2) };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("records=2 bad=1 "), "{stderr}");
    assert!(
        stderr.contains(":3: "),
        "bad record reported with its line: {stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(",1\n"));
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

fn bad_input_run(content: &[u8], extra: &[&str]) -> (crate::common::Output, tempfile::TempDir) {
    let dir = tempdir();
    write(dir.path(), "in.csv", content);
    let mut args = vec![
        "run",
        "in.csv",
        "--time",
        "ts",
        "--key",
        "host",
        "--agg",
        "count(), sum(value)",
    ];
    args.extend_from_slice(extra);
    (run_in(dir.path(), &args, None), dir)
}

#[test]
fn bad_input_of_every_kind_is_counted_and_located() {
    let mut input = Vec::new();
    input.extend_from_slice(b"ts,host,value\n");
    input.extend_from_slice(b"2026-01-01T00:00:01Z,h1,1\n"); // 2 good
    input.extend_from_slice(b"2026-01-01T00:00:02Z,h\xff\xfe,1\n"); // 3 invalid UTF-8 in a key: fine, a key of bytes
    input.extend_from_slice(b"2026-01-01T00:00:03Z,h1\n"); // 4 wrong column count
    input.extend_from_slice(b"2026-01-01T00:00:04Z,h1,abc\n"); // 5 bad number: bad_values, record still counts
    input.extend_from_slice(b"yesterday,h1,1\n"); // 6 bad time
    input.extend_from_slice(b"\x00\x01\x02garbage\x7f\n"); // 7 binary garbage
    let mut huge = b"2026-01-01T00:00:05Z,h1,".to_vec();
    huge.extend(std::iter::repeat_n(b'9', 10 << 20)); // 8 a 10 MB line (a number too large: inf is not a number)
    huge.push(b'\n');
    input.extend_from_slice(&huge);
    input.extend_from_slice(b"2026-01-01T00:00:06Z,h1,2\n"); // 9 good
    input.extend_from_slice(b"2026-01-01T00:00:0"); // 10 truncated last line

    // the 10 MB line is within the line limit here (past the default 1M it
    // is a bad record: edges::a_long_line_in_a_file_or_on_stdin_...)
    let (out, dir) = bad_input_run(
        &input,
        &["--on-bad-record", "bad.txt", "--max-line-bytes", "16M"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let s = out.summary();
    assert_eq!(s["records"], "9", "{}", out.stderr);
    assert_eq!(s["bad"], "4", "{}", out.stderr);
    assert_eq!(s["bad_values"], "2", "{}", out.stderr);
    for line in [":4: ", ":6: ", ":7: ", ":10: "] {
        assert!(
            out.stderr.contains(&format!("in.csv{line}")),
            "missing {line} in {}",
            out.stderr
        );
    }
    assert!(out.stderr.contains("field 'ts'"), "{}", out.stderr);
    let bad = std::fs::read(dir.path().join("bad.txt")).unwrap();
    let expected: Vec<u8> = [
        &b"2026-01-01T00:00:03Z,h1\n"[..],
        b"yesterday,h1,1\n",
        b"\x00\x01\x02garbage\x7f\n",
        b"2026-01-01T00:00:0\n",
    ]
    .concat();
    assert_eq!(bad, expected);
    // h1: lines 2, 5 (value missing), 8 (value missing), 9; h\xff\xfe: line 3
    assert!(out.stdout.contains(",h1,4,3\n"), "{}", out.stdout);
}

#[test]
fn fail_policy_exits_1_at_the_first_bad_record() {
    let (out, _dir) = bad_input_run(
        b"ts,host,value\n2026-01-01T00:00:01Z,h1,1\nnot a time,h1,1\n",
        &["--on-bad-record", "fail"],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("in.csv:3:"), "{}", out.stderr);
}

#[test]
fn usage_errors_exit_2_with_one_line() {
    let dir = tempdir();
    write(
        dir.path(),
        "m.csv",
        format!("{HEADER}2026-01-01T00:00:01Z,h1,1\n"),
    );
    write(dir.path(), "bad.toml", "time = \"ts\"\nwindow = [\n");
    for args in [
        vec!["run", "m.csv", "--bogus"],
        vec!["run", "m.csv", "--time", "ts", "--key", "nosuch"],
        vec!["run", "-c", "bad.toml"],
    ] {
        let out = run_in(dir.path(), &args, None);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        let first = out.stderr.lines().next().unwrap_or("");
        assert!(
            !first.is_empty() && (first.contains("error")),
            "{args:?}: {}",
            out.stderr
        );
    }
    let out = run_in(
        dir.path(),
        &["run", "m.csv", "--time", "ts", "--key", "nosuch"],
        None,
    );
    assert!(
        out.stderr.contains("'nosuch'") && out.stderr.contains("ts, host, value"),
        "{}",
        out.stderr
    );
    let out = run_in(dir.path(), &["run", "-c", "bad.toml"], None);
    assert!(out.stderr.contains("bad.toml:"), "{}", out.stderr);
}
