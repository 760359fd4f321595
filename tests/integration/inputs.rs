//! Several inputs in one run: files of different series (one per file, as
//! NAB ships them) warn when they start behind the watermark, keep their own
//! watermark with `--watermark per-input`, and can be keyed by file with
//! `--input-field`; a file run stopped by SIGINT/SIGTERM checkpoints at a
//! batch cut and exits 130/143, and the same command then finishes it.

use std::process::{Command, Stdio};

use crate::common::{bin, rfc3339, run_in, tempdir, write};

const BASE: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

/// A series of `n` values one minute apart from `start`.
fn series(start: i64, n: i64, scale: f64) -> String {
    let mut s = String::from("ts,value\n");
    for i in 0..n {
        s.push_str(&format!(
            "{},{}\n",
            rfc3339(start + i * 60_000),
            (i as f64) * scale
        ));
    }
    s
}

#[test]
fn a_file_behind_the_watermark_is_late_and_said_so() {
    let dir = tempdir();
    write(dir.path(), "later.csv", series(BASE + 86_400_000, 120, 1.0));
    write(dir.path(), "earlier.csv", series(BASE, 120, 2.0));
    let out = run_in(
        dir.path(),
        &[
            "run",
            "later.csv",
            "earlier.csv",
            "--time",
            "ts",
            "--window",
            "1h",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.count("late"), 120, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("earlier.csv starts behind the watermark")
            && out.stderr.contains("--watermark per-input"),
        "{}",
        out.stderr
    );
}

#[test]
fn per_input_watermarks_read_each_file_as_its_own_series() {
    let dir = tempdir();
    write(dir.path(), "b.csv", series(BASE + 86_400_000, 180, 1.0));
    write(dir.path(), "a.csv", series(BASE, 180, 2.0));
    let args = [
        "--time",
        "ts",
        "--window",
        "1h",
        "--input-field",
        "series",
        "--key",
        "series",
        "--agg",
        "count(), sum(value)",
        "-q",
    ];
    let both = run_in(
        dir.path(),
        &[
            &["run", "b.csv", "a.csv", "--watermark", "per-input"][..],
            &args,
        ]
        .concat(),
        None,
    );
    assert_eq!(both.code, 0, "{}", both.stderr);
    assert!(
        !both.stderr.contains("behind the watermark"),
        "{}",
        both.stderr
    );
    // the same rows as each file alone, file by file
    let mut alone = String::new();
    for f in ["b.csv", "a.csv"] {
        let o = run_in(dir.path(), &[&["run", f][..], &args].concat(), None);
        assert_eq!(o.code, 0, "{}", o.stderr);
        let body: Vec<&str> = o.stdout.lines().collect();
        if alone.is_empty() {
            alone.push_str(body[0]);
            alone.push('\n');
        }
        for l in &body[1..] {
            alone.push_str(l);
            alone.push('\n');
        }
    }
    // the same rows; a file's window still open when the file ends closes
    // at the end of the run (or when a later file's times pass it)
    let sorted = |t: &str| {
        let mut l: Vec<String> = t.lines().map(str::to_string).collect();
        l.sort();
        l
    };
    assert_eq!(sorted(&both.stdout), sorted(&alone));
    assert!(both.stdout.contains(",a.csv,60,"), "{}", both.stdout);
    // the input field also works in --where
    let only_a = run_in(
        dir.path(),
        &[
            &[
                "run",
                "b.csv",
                "a.csv",
                "--watermark",
                "per-input",
                "--where",
                "series == \"a.csv\"",
            ][..],
            &args,
        ]
        .concat(),
        None,
    );
    assert!(
        only_a.stdout.lines().skip(1).all(|l| l.contains(",a.csv,")),
        "{}",
        only_a.stdout
    );
    assert_eq!(only_a.stdout.lines().count(), 4);
}

#[test]
fn per_input_watermarks_are_refused_where_they_cannot_hold() {
    let dir = tempdir();
    write(dir.path(), "a.csv", series(BASE, 3, 1.0));
    let streams = run_in(
        dir.path(),
        &["run", "-", "--time", "ts", "--watermark", "per-input"],
        Some(b"ts,value\n"),
    );
    assert_eq!(streams.code, 2, "{}", streams.stderr);
    assert!(
        streams.stderr.contains("every input must be a file"),
        "{}",
        streams.stderr
    );
    let absent = run_in(
        dir.path(),
        &[
            "run",
            "a.csv",
            "--time",
            "ts",
            "--watermark",
            "per-input",
            "--alert",
            "absent(5m)",
        ],
        None,
    );
    assert_eq!(absent.code, 2, "{}", absent.stderr);
    assert!(absent.stderr.contains("absent()"), "{}", absent.stderr);
    let typo = run_in(
        dir.path(),
        &["run", "a.csv", "--watermark", "per-file"],
        None,
    );
    assert_eq!(typo.code, 2);
    assert!(
        typo.stderr.contains("expected global or per-input"),
        "{}",
        typo.stderr
    );
}

#[test]
fn a_file_run_stopped_by_a_signal_checkpoints_and_resumes_exactly() {
    let dir = tempdir();
    // about 60 MB: many batches, so the signal lands in the middle
    let mut big = String::with_capacity(64 << 20);
    big.push_str("ts,host,value\n");
    for i in 0..1_400_000i64 {
        big.push_str(&format!(
            "{},h{},{}.5\n",
            rfc3339(BASE + i * 20),
            i % 13,
            i % 97
        ));
    }
    write(dir.path(), "big.csv", &big);
    let args = |out: &'static str, ckpt: &'static str| {
        vec![
            "run",
            "big.csv",
            "--time",
            "ts",
            "--key",
            "host",
            "--window",
            "1m",
            "--agg",
            "count(), avg(value)",
            "-o",
            out,
            "--checkpoint",
            ckpt,
            "--threads",
            "2",
            "-q",
        ]
    };
    let whole = run_in(dir.path(), &args("whole.csv", "w.ckpt"), None);
    assert_eq!(whole.code, 0, "{}", whole.stderr);
    let mut stopped = 0;
    for (sig, code) in [("INT", 130), ("TERM", 143)] {
        let _ = std::fs::remove_file(dir.path().join("c.ckpt"));
        let _ = std::fs::remove_file(dir.path().join("r.csv"));
        let child = Command::new(bin())
            .args(args("r.csv", "c.ckpt"))
            .current_dir(dir.path())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let _guard = crate::common::watchdog(child.id(), 60);
        // the report file appears when the run starts; let it read a little
        let started = std::time::Instant::now();
        while !dir.path().join("r.csv").exists() && started.elapsed().as_secs() < 20 {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        std::thread::sleep(std::time::Duration::from_millis(60));
        Command::new("kill")
            .args([&format!("-{sig}"), &child.id().to_string()])
            .status()
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.code() == Some(0) {
            // the run finished before the signal landed: nothing to check here
            continue;
        }
        assert_eq!(out.status.code(), Some(code), "{stderr}");
        stopped += 1;
        assert!(
            stderr.contains("run the same command again to resume"),
            "{stderr}"
        );
        let again = run_in(dir.path(), &args("r.csv", "c.ckpt"), None);
        assert_eq!(again.code, 0, "{}", again.stderr);
        assert_eq!(
            std::fs::read(dir.path().join("r.csv")).unwrap(),
            std::fs::read(dir.path().join("whole.csv")).unwrap(),
            "SIG{sig}: resumed report differs"
        );
    }
    assert!(stopped > 0, "no run was still going when its signal came");
}
