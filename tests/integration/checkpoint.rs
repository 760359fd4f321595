//! Checkpoints: kill -9 at random moments and resume to byte-identical
//! outputs; every refusal; --fresh; --incremental growth and rotation.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{run_in, tempdir, write};

/// A deterministic input: `rows` records over a few hosts, mildly disordered.
fn metrics(rows: usize, start_s: i64) -> String {
    let mut s = String::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ rows as u64;
    for i in 0..rows {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let t = (start_s + i as i64) * 1000 + (x % 1500) as i64;
        let host = x % 7;
        let v = (x >> 8) % 10_000;
        s.push_str(&format!(
            "{},h{host},{}.{:02}\n",
            crate::common::rfc3339(t),
            v / 100,
            v % 100
        ));
    }
    s
}

const JOB: &[&str] = &[
    "--time",
    "ts",
    "--key",
    "host",
    "--window",
    "10s",
    "--slide",
    "5s",
    "--max-delay",
    "2s",
    "--agg",
    "count(), avg(value), p95(value), last(value)",
    "--alert",
    "hot: avg(value) > 52 for 2 clear avg(value) < 48",
    "-o",
    "report.csv",
    "--alerts",
    "alerts.csv",
    "--late-output",
    "late.csv",
];

fn job_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["run", "in.csv"];
    v.extend_from_slice(JOB);
    v.extend_from_slice(extra);
    v
}

fn read(dir: &std::path::Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_default()
}

#[test]
fn killed_at_random_moments_resumes_to_identical_output() {
    let input = format!("ts,host,value\n{}", metrics(400_000, 1_767_225_600));
    let reference = tempdir();
    write(reference.path(), "in.csv", &input);
    let out = run_in(reference.path(), &job_args(&["-q"]), None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let want_report = read(reference.path(), "report.csv");
    let want_alerts = read(reference.path(), "alerts.csv");
    let want_late = read(reference.path(), "late.csv");
    assert!(want_report.len() > 10_000 && !want_alerts.is_empty() && !want_late.is_empty());

    let dir = tempdir();
    write(dir.path(), "in.csv", &input);
    let mut seed: u64 = 12345;
    let mut kills = 0;
    for attempt in 0..60 {
        let args = job_args(&[
            "--checkpoint",
            "run.ckpt",
            "--checkpoint-every",
            "20ms",
            "-q",
            "--threads",
            if attempt % 2 == 0 { "1" } else { "2" },
        ]);
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
        let wait_ms = 20 + (seed >> 33) % 150;
        std::thread::sleep(Duration::from_millis(wait_ms));
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
    // finish whatever is left
    let out = run_in(
        dir.path(),
        &job_args(&["--checkpoint", "run.ckpt", "-q"]),
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        kills >= 3,
        "the input should take long enough to be killed several times (killed {kills})"
    );
    assert!(
        read(dir.path(), "report.csv") == want_report,
        "report differs after {kills} kills"
    );
    assert!(
        read(dir.path(), "alerts.csv") == want_alerts,
        "alerts differ after {kills} kills"
    );
    assert!(
        read(dir.path(), "late.csv") == want_late,
        "late records differ after {kills} kills"
    );
}

fn prepared() -> tempfile::TempDir {
    let dir = tempdir();
    write(
        dir.path(),
        "in.csv",
        format!("ts,host,value\n{}", metrics(2000, 1_767_225_600)),
    );
    let out = run_in(
        dir.path(),
        &job_args(&["--checkpoint", "run.ckpt", "-q"]),
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    dir
}

#[test]
fn corrupt_or_truncated_checkpoint_is_refused() {
    let dir = prepared();
    let ck = dir.path().join("run.ckpt");
    let mut bytes = std::fs::read(&ck).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&ck, &bytes).unwrap();
    let out = run_in(dir.path(), &job_args(&["--checkpoint", "run.ckpt"]), None);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("checksum"), "{}", out.stderr);
    bytes[mid] ^= 0x55;
    std::fs::write(&ck, &bytes[..bytes.len() - 10]).unwrap();
    let out = run_in(dir.path(), &job_args(&["--checkpoint", "run.ckpt"]), None);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("truncated"), "{}", out.stderr);
    std::fs::write(&ck, b"hello").unwrap();
    let out = run_in(dir.path(), &job_args(&["--checkpoint", "run.ckpt"]), None);
    assert_eq!(out.code, 2, "{}", out.stderr);
}

#[test]
fn checkpoint_of_another_job_is_refused_and_fresh_starts_over() {
    let dir = prepared();
    let report = read(dir.path(), "report.csv");
    let mut args = job_args(&["--checkpoint", "run.ckpt"]);
    let w = args.iter().position(|a| *a == "10s").unwrap();
    args[w] = "20s";
    let out = run_in(dir.path(), &args, None);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("different job"), "{}", out.stderr);
    assert_eq!(
        read(dir.path(), "report.csv"),
        report,
        "a refused run leaves outputs alone"
    );
    args.push("--fresh");
    let out = run_in(dir.path(), &args, None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_ne!(read(dir.path(), "report.csv"), report);
    // threads, -q and --checkpoint-every are not part of the job
    let out = run_in(
        dir.path(),
        &[
            &args[..args.len() - 1],
            &["--threads", "3", "--checkpoint-every", "1s", "-q"],
        ]
        .concat(),
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn changed_input_is_refused_without_incremental() {
    let dir = prepared();
    // same size, different first bytes
    let text = std::fs::read_to_string(dir.path().join("in.csv")).unwrap();
    std::fs::remove_file(dir.path().join("in.csv")).unwrap();
    write(dir.path(), "in.csv", text.replacen("h", "x", 1));
    let out = run_in(dir.path(), &job_args(&["--checkpoint", "run.ckpt"]), None);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("no longer the file"), "{}", out.stderr);
}

/// Runs over `parts` appended step by step with --incremental, then a final
/// flushing run; returns the report.
fn incremental_report(parts: &[String], rotate: bool) -> Vec<u8> {
    let dir = tempdir();
    let path = dir.path().join("in.csv");
    for (i, part) in parts.iter().enumerate() {
        if rotate && i > 0 {
            std::fs::rename(&path, dir.path().join("in.csv.1")).unwrap();
            std::fs::write(&path, format!("ts,host,value\n{part}")).unwrap();
        } else {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .unwrap();
            use std::io::Write;
            if i == 0 {
                f.write_all(b"ts,host,value\n").unwrap();
            }
            f.write_all(part.as_bytes()).unwrap();
        }
        let out = run_in(
            dir.path(),
            &job_args(&["--checkpoint", "run.ckpt", "--incremental", "-q"]),
            None,
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        if rotate && i > 0 {
            assert!(
                out.stderr.contains("rotated"),
                "a notice names the rotation: {}",
                out.stderr
            );
        }
    }
    let out = run_in(
        dir.path(),
        &job_args(&["--checkpoint", "run.ckpt", "-q"]),
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    read(dir.path(), "report.csv")
}

fn batch_report(all: &str) -> Vec<u8> {
    let dir = tempdir();
    write(dir.path(), "in.csv", format!("ts,host,value\n{all}"));
    let out = run_in(dir.path(), &job_args(&["-q"]), None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    read(dir.path(), "report.csv")
}

#[test]
fn incremental_runs_over_a_growing_file_equal_one_batch_run() {
    let all = metrics(3000, 1_767_225_600);
    let lines: Vec<&str> = all.lines().collect();
    let parts: Vec<String> = lines.chunks(700).map(|c| c.join("\n") + "\n").collect();
    let batch = batch_report(&all);
    assert!(!batch.is_empty());
    assert!(incremental_report(&parts, false) == batch);
}

#[test]
fn rotation_between_incremental_runs_loses_no_record() {
    let all = metrics(3000, 1_767_225_600);
    let lines: Vec<&str> = all.lines().collect();
    let parts: Vec<String> = lines.chunks(1100).map(|c| c.join("\n") + "\n").collect();
    assert!(incremental_report(&parts, true) == batch_report(&all));
}

#[test]
fn an_unterminated_last_line_waits_for_the_next_incremental_run() {
    let dir = tempdir();
    let path = dir.path().join("in.csv");
    std::fs::write(
        &path,
        "ts,host,value\n2026-01-01T00:00:01Z,h1,1\n2026-01-01T00:00:02Z,h1,",
    )
    .unwrap();
    let out = run_in(
        dir.path(),
        &job_args(&["--checkpoint", "run.ckpt", "--incremental"]),
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.count("records"), 1);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    use std::io::Write;
    f.write_all(b"5\n").unwrap();
    let out = run_in(dir.path(), &job_args(&["--checkpoint", "run.ckpt"]), None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.count("records"), 1);
    assert_eq!(out.count("bad"), 0);
}
