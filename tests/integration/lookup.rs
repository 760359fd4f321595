//! `--lookup FILE` (SPEC 10): per-key fields from a CSV table, joined on the
//! `--key` fields it has, in rules, `--where`, `--eval` and aggregates. The
//! expected events are computed here from vigil's own report of the same
//! windows without a table (or from the raw CSV), so each test can fail; the
//! refusals are pinned by snapshots like `errors.rs`.

use std::collections::BTreeMap;
use std::path::Path;

use crate::common::{run_in, tempdir, write};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn metrics() -> String {
    root().join("testdata/metrics.csv").display().to_string()
}

/// Splits a CSV text into rows of fields (no quoted fields in these outputs
/// except the last alert column, which is not read).
fn rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

/// Per host: the per-minute avg(value) of its cpu metric, in window order,
/// as vigil reports it (no lookup involved).
fn cpu_minutes(dir: &Path) -> BTreeMap<String, Vec<(String, f64)>> {
    let m = metrics();
    let out = run_in(
        dir,
        &[
            "run",
            &m,
            "--time",
            "ts",
            "--key",
            "host,metric",
            "--window",
            "1m",
            "--agg",
            "avg(value)",
            "--where",
            "metric == \"cpu\"",
            "-q",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut by_host: BTreeMap<String, Vec<(String, f64)>> = BTreeMap::new();
    for r in rows(&out.stdout) {
        // window_start,window_end,host,metric,avg_value
        by_host
            .entry(r[2].clone())
            .or_default()
            .push((r[1].clone(), r[4].parse().unwrap()));
    }
    by_host
}

/// The events a `for 1` rule without clear gives on a series: firing at the
/// first window above the threshold, resolved at the next one that is not.
fn expected_events(series: &[(String, f64)], threshold: f64) -> Vec<(String, String)> {
    let mut firing = false;
    let mut out = Vec::new();
    for (end, avg) in series {
        let hot = *avg > threshold;
        if hot != firing {
            firing = hot;
            out.push((
                end.clone(),
                if hot { "firing" } else { "resolved" }.to_string(),
            ));
        }
    }
    out
}

/// (host, time, state) of each alert event in an alerts CSV.
fn events(text: &str) -> Vec<(String, String, String)> {
    rows(text)
        .into_iter()
        // time,rule,severity,state,host,metric,value,condition
        .map(|r| (r[4].clone(), r[0].clone(), r[3].clone()))
        .collect()
}

const CPU_OVER: &str = "cpu_over: avg(value) > max_cpu and metric == \"cpu\"";

#[test]
fn thresholds_per_host_fire_where_the_average_exceeds_that_hosts_value_only() {
    let dir = tempdir();
    let d = dir.path();
    // Each listed host's threshold sits below its busiest minute, so each
    // fires at some point; db-2 is not in the table.
    write(
        d,
        "limits.csv",
        "host,max_cpu,team\nweb-1,40,frontend\nweb-2,95,frontend\ndb-1,55,storage\n",
    );
    let minutes = cpu_minutes(d);
    let limits = [("web-1", 40.0), ("web-2", 95.0), ("db-1", 55.0)];
    let mut expected = Vec::new();
    for (host, limit) in limits {
        let e = expected_events(&minutes[host], limit);
        assert!(
            !e.is_empty(),
            "{host} should cross {limit} in the sample data"
        );
        expected.extend(e.into_iter().map(|(t, s)| (host.to_string(), t, s)));
    }
    // the report's order: time, then key
    expected.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
    let m = metrics();
    let mut outputs = Vec::new();
    for threads in ["1", "4"] {
        let alerts = format!("alerts-{threads}.csv");
        let out = run_in(
            d,
            &[
                "run",
                &m,
                "--time",
                "ts",
                "--key",
                "host,metric",
                "--window",
                "1m",
                "--lookup",
                "limits.csv",
                "--alert",
                CPU_OVER,
                "--alerts",
                &alerts,
                "-o",
                "report.csv",
                "--threads",
                threads,
                "-q",
            ],
            None,
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        let text = std::fs::read_to_string(d.join(&alerts)).unwrap();
        assert_eq!(events(&text), expected, "--threads {threads}\n{text}");
        outputs.push(text);
    }
    assert_eq!(outputs[0], outputs[1], "the same alerts for any --threads");
    // db-2 would fire on web-1's threshold: its silence is the table's doing
    assert!(!expected_events(&minutes["db-2"], 40.0).is_empty());
}

#[test]
fn a_key_missing_from_the_table_or_with_an_empty_cell_never_fires() {
    let dir = tempdir();
    let d = dir.path();
    // web-1 has a threshold every minute exceeds; db-1's cell is empty;
    // web-2 and db-2 have no row.
    write(d, "t.csv", "max_cpu,host\n0,web-1\n,db-1\n");
    let m = metrics();
    let out = run_in(
        d,
        &[
            "run",
            &m,
            "--time",
            "ts",
            "--key",
            "host,metric",
            "--lookup",
            "t.csv",
            "--alert",
            "over: avg(value) > max_cpu",
            "--alert",
            "other: avg(value) != max_cpu",
            "--alerts",
            "a.csv",
            "-o",
            "r.csv",
            "-q",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = std::fs::read_to_string(d.join("a.csv")).unwrap();
    let evs = events(&text);
    let hosts: std::collections::BTreeSet<&str> = evs.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        hosts.into_iter().collect::<Vec<_>>(),
        vec!["web-1"],
        "{text}"
    );
    // web-1: both rules, for its cpu and mem series, fire at the first minute
    let firing = evs.iter().filter(|e| e.2 == "firing").count();
    assert_eq!(firing, 4, "{text}");
}

#[test]
fn a_table_joins_on_several_key_fields_in_any_column_order() {
    let dir = tempdir();
    let d = dir.path();
    // per (host, metric) limits, columns not in --key order
    write(
        d,
        "t.csv",
        "metric,limit,host\ncpu,50,db-1\nmem,50,db-1\ncpu,50,web-2\n",
    );
    let m = metrics();
    let out = run_in(
        d,
        &[
            "run",
            &m,
            "--time",
            "ts",
            "--key",
            "host,metric",
            "--window",
            "1h",
            "--lookup",
            "t.csv",
            "--where",
            "value > limit",
            "--agg",
            "count(), max(limit)",
            "-q",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    // the same count from the raw CSV
    let raw = std::fs::read_to_string(metrics()).unwrap();
    let mut want: BTreeMap<(String, String), u64> = BTreeMap::new();
    for r in rows(&raw) {
        let limit = match (r[1].as_str(), r[2].as_str()) {
            ("db-1", "cpu") | ("db-1", "mem") | ("web-2", "cpu") => 50.0,
            _ => continue,
        };
        if r[3].parse::<f64>().unwrap() > limit {
            *want.entry((r[1].clone(), r[2].clone())).or_default() += 1;
        }
    }
    let got: BTreeMap<(String, String), u64> = rows(&out.stdout)
        .into_iter()
        .map(|r| {
            assert_eq!(r[5], "50", "max(limit) is the row's value");
            ((r[2].clone(), r[3].clone()), r[4].parse().unwrap())
        })
        .collect();
    assert!(!want.is_empty());
    assert_eq!(got, want, "{}", out.stdout);
}

#[test]
fn eval_and_where_read_the_records_row() {
    let dir = tempdir();
    let d = dir.path();
    let m = metrics();
    let hosts = root().join("testdata/hosts.csv").display().to_string();
    let out = run_in(
        d,
        &[
            "run",
            &m,
            "--time",
            "ts",
            "--key",
            "host,metric",
            "--window",
            "1h",
            "--lookup",
            &hosts,
            "--eval",
            "headroom = max_cpu - value",
            "--where",
            "team == \"frontend\" and metric == \"cpu\"",
            "--agg",
            "count(), min(headroom)",
            "-q",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let raw = std::fs::read_to_string(metrics()).unwrap();
    let limits = [("web-1", 90.0), ("web-2", 95.0)];
    let mut want = BTreeMap::new();
    for r in rows(&raw) {
        let Some((_, limit)) = limits.iter().find(|(h, _)| *h == r[1]) else {
            continue;
        };
        if r[2] != "cpu" {
            continue;
        }
        let headroom = limit - r[3].parse::<f64>().unwrap();
        let e = want.entry(r[1].clone()).or_insert((0u64, f64::MAX));
        e.0 += 1;
        e.1 = e.1.min(headroom);
    }
    let got: BTreeMap<String, (u64, f64)> = rows(&out.stdout)
        .into_iter()
        .map(|r| (r[2].clone(), (r[4].parse().unwrap(), r[5].parse().unwrap())))
        .collect();
    assert_eq!(got.len(), 2, "{}", out.stdout);
    for (host, (n, min)) in &want {
        let (gn, gmin) = got[host];
        assert_eq!(gn, *n, "{host}");
        assert!((gmin - min).abs() < 1e-9, "{host}: {gmin} vs {min}");
    }
}

#[test]
fn the_job_file_lists_tables_and_check_shows_them() {
    let dir = tempdir();
    let d = dir.path();
    let hosts = root().join("testdata/hosts.csv").display().to_string();
    let m = metrics();
    write(
        d,
        "job.toml",
        format!(
            "inputs = [{m:?}]\ntime = \"ts\"\nkey = [\"host\", \"metric\"]\nlookup = [{hosts:?}]\n\n[[alert]]\nname = \"cpu_over\"\nwhen = 'avg(value) > max_cpu and metric == \"cpu\"'\n"
        ),
    );
    let out = run_in(d, &["check", "-c", "job.toml"], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains(&format!(
            "lookup:     {hosts}: join on host; fields max_cpu, team; 3 rows\n"
        )),
        "{}",
        out.stdout
    );
    let run = run_in(d, &["run", "-c", "job.toml", "-q", "-o", "r.csv"], None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("FIRING cpu_over") && run.stderr.contains("host=web-2"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("host=web-1"), "{}", run.stderr);
}

#[test]
fn a_changed_table_refuses_the_resume_and_the_same_table_resumes() {
    let dir = tempdir();
    let d = dir.path();
    let input = "ts,host,value\n2026-01-01T00:00:01Z,a,5\n2026-01-01T00:01:01Z,a,7\n";
    write(d, "m.csv", input);
    write(d, "t.csv", "host,limit\na,6\n");
    let args = [
        "run",
        "m.csv",
        "--time",
        "ts",
        "--key",
        "host",
        "--lookup",
        "t.csv",
        "--alert",
        "avg(value) > limit",
        "--checkpoint",
        "c.ckpt",
        "--incremental",
        "-o",
        "r.csv",
        "-q",
    ];
    let first = run_in(d, &args, None);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let same = run_in(d, &args, None);
    assert_eq!(same.code, 0, "the same table resumes: {}", same.stderr);
    write(d, "t.csv", "host,limit\na,8\n");
    let changed = run_in(d, &args, None);
    assert_eq!(changed.code, 2, "{}", changed.stderr);
    assert!(
        changed.stderr.contains("made by a different job") && changed.stderr.contains("--lookup"),
        "{}",
        changed.stderr
    );
}

#[test]
fn rule_tests_read_tables_relative_to_the_test_file() {
    let dir = tempdir();
    let d = dir.path();
    std::fs::create_dir(d.join("rules")).unwrap();
    write(d, "rules/limits.csv", "host,max_cpu\nweb-1,90\nweb-2,50\n");
    write(
        d,
        "rules/t.test.toml",
        r#"
[job]
time = "ts"
key = ["host"]
lookup = ["limits.csv"]
alert = ["hot: avg(value) > max_cpu"]

[[test]]
name = "each host against its own limit"
input = """
ts,host,value
2026-01-01T00:00:10Z,web-1,60
2026-01-01T00:00:20Z,web-2,60
2026-01-01T00:00:30Z,db-9,99
2026-01-01T00:01:10Z,web-1,60
"""

[[test.expect]]
time = "2026-01-01T00:01:00Z"
rule = "hot"
state = "firing"
host = "web-2"
value = 60
"#,
    );
    let out = run_in(d, &["test", "rules/t.test.toml"], None);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("1 passed, 0 failed"), "{}", out.stdout);
}

/// Exit status and stderr of a run with `args`, beside a small input and the
/// tables each refusal needs.
fn refusal(args: &[&str]) -> String {
    let dir = tempdir();
    let d = dir.path();
    write(d, "m.csv", "ts,host,value\n2026-01-01T00:00:01Z,h1,1\n");
    write(d, "nokey.csv", "server,max_cpu\nh1,90\n");
    write(d, "dup.csv", "host,max_cpu\nh1,90\nh2,80\nh1,70\n");
    write(d, "input_clash.csv", "host,max_cpu,value\nh1,90,1\n");
    write(d, "eval_clash.csv", "host,max_cpu,ratio\nh1,90,1\n");
    write(d, "width.csv", "host,max_cpu\nh1,90,1\n");
    write(d, "ok.csv", "host,max_cpu\nh1,90\n");
    let mut argv = vec!["run", "m.csv", "--time", "ts", "--key", "host"];
    argv.extend_from_slice(args);
    let out = run_in(d, &argv, None);
    assert_eq!(out.code, 2, "{}", out.stderr);
    format!(
        "exit {}\n{}",
        out.code,
        out.stderr.replace(&d.display().to_string(), "[tmp]")
    )
}

macro_rules! refused {
    ($name:ident, $($arg:expr),+) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(refusal(&[$($arg),+]));
        }
    };
}

refused!(a_table_without_key_columns, "--lookup", "nokey.csv");
refused!(a_duplicate_key_row, "--lookup", "dup.csv");
refused!(
    a_column_named_like_an_input_field,
    "--lookup",
    "input_clash.csv"
);
refused!(
    a_column_named_like_an_eval_field,
    "--lookup",
    "eval_clash.csv",
    "--eval",
    "ratio = value / 100"
);
refused!(a_table_that_cannot_be_read, "--lookup", "nosuch.csv");
refused!(a_row_with_too_many_fields, "--lookup", "width.csv");
refused!(
    a_rule_naming_neither_key_nor_lookup_field,
    "--lookup",
    "ok.csv",
    "--alert",
    "avg(value) > max_mem"
);

#[test]
fn history_functions_read_lookup_fields_in_their_series() {
    let dir = tempdir();
    let d = dir.path();
    let m = metrics();
    let hosts = root().join("testdata/hosts.csv").display().to_string();
    // ewma with alpha 1 is the current point: avg(value) / max_cpu
    let out = run_in(
        d,
        &[
            "run",
            &m,
            "--time",
            "ts",
            "--key",
            "host,metric",
            "--window",
            "10m",
            "--lookup",
            &hosts,
            "--where",
            "metric == \"cpu\"",
            "--agg",
            "avg(value), ewma(avg(value) / max_cpu, 1) as load",
            "-q",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let limits = [("web-1", 90.0), ("web-2", 95.0), ("db-1", 60.0)];
    let mut checked = 0;
    for r in rows(&out.stdout) {
        match limits.iter().find(|(h, _)| *h == r[2]) {
            Some((_, limit)) => {
                let avg: f64 = r[4].parse().unwrap();
                let load: f64 = r[5].parse().unwrap();
                assert!((load - avg / limit).abs() < 1e-12, "{r:?}");
                checked += 1;
            }
            // no row: the series has no points
            None => assert_eq!(r[5], "", "{r:?}"),
        }
    }
    assert!(checked >= 9, "{}", out.stdout);
}
