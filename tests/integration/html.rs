//! `--html FILE`: the page opened in headless Chromium (charts, legend,
//! alert span, no console errors, a screenshot kept under target/), the
//! page of a run killed and resumed equal to an uninterrupted run's, the
//! page rewritten atomically while a live run goes on, and the job-file and
//! flag forms.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{bin, run_in, tempdir, watchdog, write};
use crate::components::{chromium, target_dir};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The part of a page between `<section id="NAME">` and its `</section>`.
fn section<'a>(page: &'a str, name: &str) -> &'a str {
    let start = page
        .find(&format!("<section id=\"{name}\">"))
        .unwrap_or_else(|| panic!("no section {name}"));
    let end = page[start..].find("</section>").expect("section end") + start;
    &page[start..end]
}

/// The values of attribute `attr` in `text`, in order.
fn attributes(text: &str, attr: &str) -> Vec<String> {
    let needle = format!("{attr}=\"");
    text.match_indices(&needle)
        .map(|(i, _)| {
            let rest = &text[i + needle.len()..];
            rest[..rest.find('"').unwrap()].to_string()
        })
        .collect()
}

/// The `<svg>` of the chart of `aggregate`.
fn chart<'a>(page: &'a str, aggregate: &str) -> &'a str {
    let start = page
        .find(&format!("data-aggregate=\"{aggregate}\""))
        .unwrap_or_else(|| panic!("no chart of {aggregate}"));
    let end = page[start..].find("</svg>").unwrap() + start;
    &page[start..end]
}

/// (width, height) of a PNG, from its IHDR chunk.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG file");
    let word = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    (word(16), word(20))
}

#[test]
fn the_sample_page_opens_in_chromium_with_its_charts_keys_and_alert_span() {
    let Some(browser) = chromium() else { return };
    // The console capture must be able to fail: a page with a broken SVG
    // attribute and a blocked load shows up in it.
    let probe = tempdir();
    let bad = write(
        probe.path(),
        "bad.html",
        "<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'\"></head>\
         <body><svg width=\"10\" height=\"10\"><rect width=\"-1\" height=\"2\"/></svg><img src=\"http://example.com/x.png\"></body></html>",
    );
    let seen = browser.dump_dom(&bad).console;
    assert!(
        seen.iter().any(|l| l.contains("<rect> attribute width"))
            && seen.iter().any(|l| l.contains("Content Security Policy")),
        "console messages are captured: {seen:?}"
    );

    let out_dir = target_dir().join("html-report");
    std::fs::create_dir_all(&out_dir).unwrap();
    let page = out_dir.join("sample.html");
    let _ = std::fs::remove_file(&page);
    let report = out_dir.join("sample.csv");
    let out = run_in(
        repo(),
        &[
            "run",
            "-c",
            "testdata/job.toml",
            "-o",
            report.to_str().unwrap(),
            "--html",
            page.to_str().unwrap(),
            "-q",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = std::fs::read_to_string(&page).unwrap();
    assert!(text.len() < 5_000_000);

    let dom = browser.dump_dom(&page);
    assert!(
        dom.console.is_empty(),
        "console messages: {:?}",
        dom.console
    );
    let dom = dom.stdout;
    // One chart per aggregate of the job, in its order.
    assert_eq!(
        attributes(&dom, "data-aggregate"),
        vec!["count", "avg_value", "max_value", "p95_value"]
    );
    assert_eq!(dom.matches("<svg class=\"chart\"").count(), 4);
    // The legend names the eight keys (host, metric), on every chart.
    let keys = attributes(section(&dom, "charts"), "data-key");
    assert_eq!(keys.len(), 4 * 8, "{keys:?}");
    for host in ["web-1", "web-2", "db-1", "db-2"] {
        for metric in ["cpu", "mem"] {
            let name = format!("{host} · {metric}");
            assert_eq!(keys.iter().filter(|k| **k == name).count(), 4, "{name}");
        }
    }
    // The cpu_hot span, on the chart of the aggregate its rule uses only.
    assert_eq!(
        dom.matches("class=\"span\" data-rule=\"cpu_hot\"").count(),
        1
    );
    assert!(chart(&dom, "avg_value").contains("data-rule=\"cpu_hot\""));
    assert!(chart(&dom, "avg_value")
        .contains("cpu_hot firing for web-2 · cpu: 2026-01-01 00:15:00–00:18:00 UTC"));
    // Tooltips on the points; the alert table; nothing that loads.
    assert!(chart(&dom, "max_value").matches("<circle").count() >= 8 * 30);
    let alerts = section(&dom, "alerts");
    assert!(alerts.contains("2026-01-01T00:15:00.000Z") && alerts.contains("resolved"));
    for needle in ["<script", "<link", " src=", " href=", "url("] {
        assert!(!dom.contains(needle), "the page has {needle}");
    }

    let png = out_dir.join("sample.png");
    let _ = std::fs::remove_file(&png);
    let shot = browser.screenshot(&page, &png, 1000, 1800);
    assert!(
        shot.console.is_empty(),
        "console messages: {:?}",
        shot.console
    );
    let bytes = std::fs::read(&png).expect("the screenshot");
    assert_eq!(png_size(&bytes), (1000, 1800));
    assert!(
        bytes.len() > 20_000,
        "a screenshot of a drawn page, not a blank one"
    );
}

/// A deterministic input: `rows` records one second apart over 50 hosts
/// (host 0 busiest), values in slow waves so the rule fires and resolves,
/// disorder of up to 3 s (late records), a few bad lines, and a wide unused
/// column so the file spans several batches without taking long to parse.
fn wavy_metrics(rows: usize) -> String {
    let pad = "p".repeat(180);
    let mut s = String::from("ts,host,value,note\n");
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for i in 0..rows {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if i % 4999 == 4998 {
            s.push_str("not a record\n");
            continue;
        }
        let u = (x % 10_000) as f64 / 10_000.0;
        let host = (50.0 * u * u) as u64;
        let t = (1_767_225_600 + i as i64) * 1000 - ((x >> 20) % 3000) as i64;
        let wave = 50.0 + 30.0 * ((i as f64) / 2400.0 + host as f64).sin();
        let v = wave + ((x >> 32) % 1000) as f64 / 100.0;
        s.push_str(&format!(
            "{},h{host:02},{v:.2},{pad}\n",
            crate::common::rfc3339(t)
        ));
    }
    s
}

const KILL_JOB: &[&str] = &[
    "--time",
    "ts",
    "--key",
    "host",
    "--window",
    "1m",
    "--max-delay",
    "200ms",
    "--agg",
    "count(), avg(value), max(value)",
    "--alert",
    "hot: avg(value) > 70 for 2 clear avg(value) < 60",
    "-o",
    "report.csv",
    "--alerts",
    "alerts.csv",
    "--html",
    "page.html",
];

fn kill_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["run", "in.csv"];
    v.extend_from_slice(KILL_JOB);
    v.extend_from_slice(extra);
    v
}

/// What must not differ between runs: the charts with their legends, the
/// alert events and the per-input counts (the header has elapsed time and
/// this run's counters).
fn page_body(dir: &Path) -> (String, String, String) {
    let page = std::fs::read_to_string(dir.join("page.html")).expect("the page");
    (
        section(&page, "charts").to_string(),
        section(&page, "alerts").to_string(),
        section(&page, "inputs").to_string(),
    )
}

#[test]
fn a_run_killed_and_resumed_draws_the_same_page_as_an_uninterrupted_one() {
    let input = wavy_metrics(200_000);
    assert!(
        input.len() > 32 << 20,
        "several batches of 8 MB, so checkpoints fall inside the run"
    );
    let reference = tempdir();
    write(reference.path(), "in.csv", &input);
    let started = Instant::now();
    let out = run_in(reference.path(), &kill_args(&["-q"]), None);
    let full_ms = started.elapsed().as_millis() as u64;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let want = page_body(reference.path());
    // The page has what this test is about: a ranking cut (50 keys, 10 drawn),
    // downsampled series (3,334 windows), spans, late and bad records, and
    // more alert events than the table keeps.
    assert!(
        want.0.contains("and 40 more keys not drawn"),
        "{}",
        &want.0[..400]
    );
    assert!(want.0.matches("data-rule=\"hot\"").count() > 3);
    assert!(want.1.contains("events not shown"));
    let counts: Vec<&str> = want.2.split("<td class=\"n\">").skip(1).collect();
    assert!(
        counts[0].starts_with("40<") && !counts[1].starts_with("0<"),
        "40 bad, some late: {}",
        want.2
    );

    let dir = tempdir();
    write(dir.path(), "in.csv", &input);
    let mut seed: u64 = 977;
    let (mut kills, mut resumed) = (0, 0);
    for attempt in 0..40 {
        let args = kill_args(&[
            "--checkpoint",
            "run.ckpt",
            "--checkpoint-every",
            "20ms",
            "-q",
            "--threads",
            if attempt % 2 == 0 { "1" } else { "2" },
        ]);
        if dir.path().join("run.ckpt").exists() {
            resumed += 1;
        }
        let mut child = Command::new(bin())
            .args(&args)
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        // Anywhere in the first half of a run (it resumes, so it advances).
        std::thread::sleep(Duration::from_millis(
            20 + (seed >> 33) % (full_ms / 2 + 20),
        ));
        match child.try_wait().unwrap() {
            Some(status) => {
                assert!(status.success());
                break;
            }
            None => {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
            }
        }
    }
    let out = run_in(dir.path(), &kill_args(&["--checkpoint", "run.ckpt"]), None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        kills >= 3 && resumed >= 3,
        "killed {kills} times, resumed {resumed} times: too few to test anything"
    );
    assert!(
        !out.stderr.contains("holds no page history"),
        "{}",
        out.stderr
    );
    let got = page_body(dir.path());
    assert!(got.0 == want.0, "charts differ after {kills} kills");
    assert!(got.1 == want.1, "alert table differs after {kills} kills");
    assert!(
        got.2 == want.2,
        "per-input counts differ after {kills} kills"
    );
    let page = std::fs::read_to_string(dir.path().join("page.html")).unwrap();
    assert!(
        page.contains("all runs of this job"),
        "a resumed run shows both columns"
    );
}

#[test]
fn a_live_run_rewrites_its_page_atomically_until_the_end() {
    let dir = tempdir();
    let page = dir.path().join("live.html");
    let mut child = Command::new(bin())
        .args([
            "run",
            "-",
            "--format",
            "csv",
            "--time",
            "ts",
            "--key",
            "host",
            "--window",
            "1s",
            "--agg",
            "count(), avg(value)",
            "--checkpoint-every",
            "30ms",
            "-o",
            "report.csv",
            "--html",
            "live.html",
        ])
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _guard = watchdog(child.id(), 60);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"ts,host,value\n").unwrap();
    let mut reads = 0;
    let mut in_progress = 0;
    let started = Instant::now();
    let mut t = 1_767_225_600_000i64;
    while started.elapsed() < Duration::from_secs(3) {
        for h in ["a", "b", "c"] {
            let line = format!("{},{h},{}\n", crate::common::rfc3339(t), t % 97);
            stdin.write_all(line.as_bytes()).unwrap();
        }
        stdin.flush().unwrap();
        t += 250;
        if let Ok(text) = std::fs::read_to_string(&page) {
            reads += 1;
            assert!(
                text.starts_with("<!DOCTYPE html>") && text.ends_with("</html>\n"),
                "a reader sees a whole page, never a half-written one"
            );
            if text.contains("Run in progress") && text.contains("data-key=\"a\"") {
                in_progress += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        reads > 50 && in_progress > 5,
        "read {reads} pages, {in_progress} in progress"
    );
    let last = std::fs::read_to_string(&page).unwrap();
    assert!(last.contains("Run finished"));
    assert_eq!(
        attributes(&last, "data-aggregate"),
        vec!["count", "avg_value"]
    );
    assert!(
        !dir.path().join("live.html.tmp").exists(),
        "no temporary file left"
    );
}

#[test]
fn the_job_file_names_the_page_and_bad_page_paths_are_refused() {
    let dir = tempdir();
    let data = std::fs::read_to_string(repo().join("testdata/metrics.csv")).unwrap();
    write(dir.path(), "m.csv", &data);
    for (name, toml) in [
        (
            "output",
            "[output]\npath = \"r.csv\"\nhtml = \"from-output.html\"\n",
        ),
        ("flag", "html = \"from-flag-form.html\"\n"),
    ] {
        write(
            dir.path(),
            "job.toml",
            format!("inputs = [\"m.csv\"]\ntime = \"ts\"\nkey = [\"host\"]\nagg = \"avg(value)\"\nquiet = true\n{toml}"),
        );
        let out = run_in(dir.path(), &["check", "-c", "job.toml"], None);
        assert_eq!(out.code, 0, "{name}: {}", out.stderr);
        assert!(
            out.stdout.contains("; html page -> from-"),
            "{name}: {}",
            out.stdout
        );
        let out = run_in(dir.path(), &["run", "-c", "job.toml", "-o", "r.csv"], None);
        assert_eq!(out.code, 0, "{name}: {}", out.stderr);
        let page: PathBuf = dir.path().join(if name == "output" {
            "from-output.html"
        } else {
            "from-flag-form.html"
        });
        let text = std::fs::read_to_string(&page).unwrap_or_else(|_| panic!("{name}: no page"));
        // Without count() keys are ranked by windows, and the page says so.
        assert!(
            text.contains("windows (the job has no count() aggregate)"),
            "{name}"
        );
        assert!(text.contains("data-key=\"web-2\""), "{name}");
    }
    let out = run_in(
        dir.path(),
        &["run", "m.csv", "--time", "ts", "--html", "m.csv"],
        None,
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("--html m.csv is also an input"),
        "{}",
        out.stderr
    );
    let out = run_in(
        dir.path(),
        &[
            "run", "m.csv", "--time", "ts", "-o", "r.csv", "--html", "./r.csv",
        ],
        None,
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("are the same file"), "{}", out.stderr);
    let out = run_in(
        dir.path(),
        &[
            "run",
            "m.csv",
            "--time",
            "ts",
            "--html",
            "no/such/dir/p.html",
        ],
        None,
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("the directory no/such/dir does not exist"),
        "{}",
        out.stderr
    );
    assert_eq!(
        std::fs::read(dir.path().join("m.csv")).unwrap(),
        data.as_bytes(),
        "the input is untouched"
    );
}
