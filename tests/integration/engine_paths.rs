//! The engine's two paths give the same bytes: the fast path (records folded
//! into (key, pane) partials while parsing, uncertain pieces parsed again
//! exactly) against the per-record path (`--per-record`, every record stamped
//! and applied one by one), on disordered input with late records, for
//! tumbling and sliding windows, every aggregate, a `for` rule, an absent()
//! rule and the late file, with 1 and 3 threads; and the default engine,
//! which switches between the paths batch by batch (a batch that folds too
//! few records per partial sends the next ones down the per-record path),
//! over many small batches (`VIGIL_TEST_BATCH_BYTES`).

use crate::common::{rfc3339, run_in_env, tempdir, write};

const BASE: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

/// About 40,000 records over 20 hosts, one every ~150 ms of event time with
/// up to 200 s of disorder (so many records are late with a 10 s delay), a
/// host that falls silent for a while, values with decimals, missing values.
fn disordered_input() -> String {
    let mut s = String::from("ts,host,value\n");
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..40_000i64 {
        let r = next();
        let jitter = match r % 20 {
            0 => (r >> 8) % 200_000,
            1 | 2 => (r >> 8) % 60_000,
            _ => (r >> 8) % 2_000,
        } as i64;
        let t = BASE + i * 150 - jitter;
        let host = (r >> 20) % 20;
        if host == 7 && (10_000..16_000).contains(&i) {
            continue; // host-7 is silent for 15 minutes
        }
        let value = if r % 97 == 0 {
            String::new()
        } else {
            format!("{}.{:02}", (r >> 32) % 100, (r >> 40) % 100)
        };
        s.push_str(&format!("{},host-{host},{value}\n", rfc3339(t)));
    }
    s
}

/// Which engine path a run takes.
#[derive(Clone, Copy, PartialEq)]
enum Path {
    /// `--per-record`: every record applied one by one
    PerRecord,
    /// fold every batch (`VIGIL_TEST_ALWAYS_FOLD=1`)
    Fold,
    /// the default choice, batch by batch, over batches of 64 KiB
    Switching,
}

fn run_job(
    dir: &std::path::Path,
    window: &[&str],
    threads: &str,
    path: Path,
    tag: &str,
) -> (String, String, String) {
    let (out, alerts, late) = (
        format!("r-{tag}.csv"),
        format!("a-{tag}.csv"),
        format!("l-{tag}.csv"),
    );
    let mut args = vec![
        "run",
        "in.csv",
        "--time",
        "ts",
        "--key",
        "host",
        "--max-delay",
        "10s",
        "--agg",
        "count(), count(value), sum(value), avg(value), min(value), max(value), first(value), last(value), stddev(value), p95(value), distinct(value), rate(value)",
        "--alert",
        "hot: avg(value) > 52 for 2 clear avg(value) < 50",
        "--alert",
        "quiet: absent(3m) severity critical",
        "--threads",
        threads,
        "-o",
        &out,
        "--alerts",
        &alerts,
        "--late-output",
        &late,
        "-q",
    ];
    args.extend_from_slice(window);
    let env: &[(&str, &str)] = match path {
        Path::PerRecord => {
            args.push("--per-record");
            &[]
        }
        Path::Fold => &[("VIGIL_TEST_ALWAYS_FOLD", "1")],
        Path::Switching => &[("VIGIL_TEST_BATCH_BYTES", "65536")],
    };
    let o = run_in_env(dir, &args, None, env);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    (read(&out), read(&alerts), read(&late))
}

#[test]
fn fast_path_equals_the_per_record_path_on_disordered_input() {
    let dir = tempdir();
    write(dir.path(), "in.csv", disordered_input());
    for (name, window) in [
        ("tumbling", vec!["--window", "1m"]),
        ("sliding", vec!["--window", "2m", "--slide", "30s"]),
    ] {
        let reference = run_job(
            dir.path(),
            &window,
            "1",
            Path::PerRecord,
            &format!("{name}-ref"),
        );
        assert!(
            reference.0.lines().count() > 500,
            "{name}: report too small"
        );
        assert!(
            reference.2.lines().count() > 100,
            "{name}: want late records, got {}",
            reference.2.lines().count()
        );
        assert!(
            reference.1.contains("quiet,critical,firing,host-7"),
            "{name}: {}",
            reference.1
        );
        assert!(
            reference.1.contains("hot,warning,firing"),
            "{name}: {}",
            reference.1
        );
        for (path, what) in [(Path::Fold, "fold"), (Path::Switching, "switching")] {
            for threads in ["1", "3"] {
                let fast = run_job(
                    dir.path(),
                    &window,
                    threads,
                    path,
                    &format!("{name}-{what}-{threads}"),
                );
                assert!(
                    fast.0 == reference.0,
                    "{name} {what} --threads {threads}: reports differ"
                );
                assert!(
                    fast.1 == reference.1,
                    "{name} {what} --threads {threads}: alerts differ"
                );
                assert!(
                    fast.2 == reference.2,
                    "{name} {what} --threads {threads}: late files differ"
                );
            }
        }
    }
}

/// Where no page is drawn, the shards write a CSV or JSON-lines report's rows
/// as text where they close them; with `--html` they keep the values and the
/// report writer formats them. The two give the same report, over many
/// batches (so many drains merge the shards' rows) and 1 or 3 threads, with
/// the disordered input's late records and a sum beyond f64's range (written
/// as undefined, with a warning for each column it makes undefined).
#[test]
fn rows_written_as_text_in_the_shards_equal_rows_formatted_by_the_writer() {
    let dir = tempdir();
    let mut input = disordered_input();
    // one window whose sum is beyond f64's range
    input.push_str(&format!(
        "{},host-big,1e308\n{},host-big,1e308\n",
        rfc3339(BASE + 6_000_000),
        rfc3339(BASE + 6_000_001)
    ));
    write(dir.path(), "in.csv", input);
    for format in ["csv", "jsonl"] {
        let mut reports = Vec::new();
        for threads in ["1", "3"] {
            for html in [false, true] {
                let out = format!("r-{format}-{threads}-{html}");
                let mut args = vec![
                    "run",
                    "in.csv",
                    "--time",
                    "ts",
                    "--key",
                    "host",
                    "--max-delay",
                    "10s",
                    "--window",
                    "1m",
                    "--agg",
                    "count(), sum(value), avg(value), p95(value), last(value)",
                    "--output-format",
                    format,
                    "--threads",
                    threads,
                    "-o",
                    &out,
                ];
                if html {
                    args.extend_from_slice(&["--html", "page.html"]);
                }
                let o = run_in_env(
                    dir.path(),
                    &args,
                    None,
                    &[("VIGIL_TEST_BATCH_BYTES", "65536")],
                );
                assert_eq!(o.code, 0, "{}", o.stderr);
                let warnings: Vec<&str> = o
                    .stderr
                    .lines()
                    .filter(|l| l.starts_with("vigil: warning:"))
                    .collect();
                assert_eq!(warnings.len(), 2, "{format} html={html}: {}", o.stderr);
                for (w, column) in warnings.iter().zip(["sum_value", "avg_value"]) {
                    assert!(
                        w.contains(&format!("{column} is beyond the range"))
                            && w.contains("window ending 2026-01-01T01:41:00.000Z"),
                        "{w}"
                    );
                }
                let report = std::fs::read_to_string(dir.path().join(&out)).unwrap();
                assert!(report.lines().count() > 500, "{format}: report too small");
                reports.push((format!("--threads {threads} html={html}"), report));
            }
        }
        for (what, report) in &reports[1..] {
            assert!(
                *report == reports[0].1,
                "{format}: {what} differs from {}",
                reports[0].0
            );
        }
    }
}
