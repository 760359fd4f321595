//! `vigil test FILE...`: rule unit tests, in the spirit of Prometheus' rule
//! tests. A test file names a job (an inline `[job]` table with the keys of a
//! job file, or `config = "job.toml"` relative to the test file), and lists
//! `[[test]]` cases, each with input records (inline `input` or `input_file`)
//! and the alert events expected (`[[test.expect]]`: `time`, `rule`, `state`,
//! the key fields, and optionally `value`). vigil runs the job on each input
//! and prints a diff of expected against actual events.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::args::JobArgs;
use crate::error::{Error, Result};
use crate::job::{AlertsFormat, InputSpec, Job};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    config: Option<PathBuf>,
    job: Option<toml::Table>,
    #[serde(rename = "test", default)]
    tests: Vec<TestCase>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestCase {
    name: Option<String>,
    input: Option<String>,
    input_file: Option<PathBuf>,
    /// file name suffix for the inline input, which picks the format: csv, jsonl, log
    input_format: Option<String>,
    #[serde(default)]
    expect: Vec<toml::Table>,
}

/// One event reduced to the fields a test compares, as `name=value` pairs.
type Event = BTreeMap<String, String>;

fn render(e: &Event) -> String {
    e.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn run(files: &[PathBuf]) -> Result<i32> {
    let mut failed = 0;
    let mut passed = 0;
    for file in files {
        let (p, f) = run_file(file)?;
        passed += p;
        failed += f;
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed > 0 { 1 } else { 0 })
}

fn run_file(path: &Path) -> Result<(usize, usize)> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::usage(format!("cannot read {}: {e}", path.display())))?;
    let spec: TestFile = toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
            .unwrap_or(0);
        Error::usage(format!("{}:{line}: {}", path.display(), e.message().trim()))
    })?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let work = tempdir()?;
    let job_path = match (&spec.config, &spec.job) {
        (Some(c), None) => dir.join(c),
        (None, Some(table)) => {
            let p = work.join("job.toml");
            let body = toml::to_string(table)
                .map_err(|e| Error::usage(format!("{}: [job]: {e}", path.display())))?;
            std::fs::write(&p, body).map_err(|e| Error::io("cannot write", &p, e))?;
            p
        }
        _ => {
            return Err(Error::usage(format!(
                "{}: give either config = \"job.toml\" or a [job] table",
                path.display()
            )))
        }
    };
    if spec.tests.is_empty() {
        return Err(Error::usage(format!(
            "{}: no [[test]] cases",
            path.display()
        )));
    }
    let (mut passed, mut failed) = (0, 0);
    for (i, case) in spec.tests.iter().enumerate() {
        let name = case
            .name
            .clone()
            .unwrap_or_else(|| format!("test {}", i + 1));
        let input = match (&case.input, &case.input_file) {
            (Some(inline), None) => {
                let ext = case.input_format.as_deref().unwrap_or("csv");
                let p = work.join(format!("input-{i}.{ext}"));
                std::fs::write(&p, inline.trim_start_matches('\n'))
                    .map_err(|e| Error::io("cannot write", &p, e))?;
                p
            }
            (None, Some(f)) => dir.join(f),
            _ => {
                return Err(Error::usage(format!(
                    "{}: [[test]] '{name}': give either input = \"\"\"...\"\"\" or input_file",
                    path.display()
                )))
            }
        };
        let alerts = work.join(format!("alerts-{i}.jsonl"));
        let args = JobArgs {
            config: Some(job_path.clone()),
            quiet: true,
            ..JobArgs::default()
        };
        let mut job = Job::from_args(&[input.display().to_string()], &args)?;
        job.inputs = vec![InputSpec::File(input.clone())];
        job.output = Some(work.join(format!("report-{i}.csv")));
        job.alerts = Some(alerts.clone());
        job.alerts_format = AlertsFormat::Jsonl;
        job.checkpoint = None;
        job.incremental = false;
        job.on_alert = None;
        job.late_output = None;
        crate::pipeline::run(&job)?;
        let actual = read_events(&alerts, &job)?;
        let expected: Vec<Event> = case
            .expect
            .iter()
            .map(|t| t.iter().map(|(k, v)| (k.clone(), plain(v))).collect())
            .collect();
        // Compare only the fields each expectation names (value is optional).
        let matches = expected.len() == actual.len()
            && expected
                .iter()
                .zip(&actual)
                .all(|(e, a)| e.iter().all(|(k, v)| a.get(k) == Some(v)));
        if matches {
            passed += 1;
            println!("ok   {}: {name}", path.display());
        } else {
            failed += 1;
            println!("FAIL {}: {name}", path.display());
            println!("  --- expected\n  +++ actual");
            let shown: Vec<Event> = actual
                .iter()
                .enumerate()
                .map(|(j, a)| match expected.get(j) {
                    Some(e) => a
                        .iter()
                        .filter(|(k, _)| e.contains_key(*k))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                    None => a.clone(),
                })
                .collect();
            let n = expected.len().max(shown.len());
            for j in 0..n {
                match (expected.get(j), shown.get(j)) {
                    (Some(e), Some(a)) if e == a => println!("    {}", render(e)),
                    (e, a) => {
                        if let Some(e) = e {
                            println!("  - {}", render(e));
                        }
                        if let Some(a) = a {
                            println!("  + {}", render(a));
                        }
                    }
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok((passed, failed))
}

fn plain(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Float(f) => format!("{f}"),
        other => other.to_string(),
    }
}

fn read_events(path: &Path, job: &Job) -> Result<Vec<Event>> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| Error::runtime(format!("reading alert events: {e}")))?;
        let mut e = Event::new();
        for field in ["time", "rule", "severity", "state"]
            .iter()
            .map(|s| s.to_string())
            .chain(job.key.iter().cloned())
            .chain(["value".to_string()])
        {
            let s = match v.get(&field) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Null) | None => String::new(),
                Some(serde_json::Value::Number(n)) => {
                    n.as_f64().map(|f| format!("{f}")).unwrap_or_default()
                }
                Some(other) => other.to_string(),
            };
            e.insert(field, s);
        }
        out.push(e);
    }
    Ok(out)
}

fn tempdir() -> Result<PathBuf> {
    let base = std::env::temp_dir().join(format!(
        "vigil-test-{}-{}",
        std::process::id(),
        crate::source::now_ms()
    ));
    std::fs::create_dir_all(&base).map_err(|e| Error::io("cannot create", &base, e))?;
    Ok(base)
}
