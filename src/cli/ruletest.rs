//! `vigil test FILE...`: rule unit tests, in the spirit of Prometheus' rule
//! tests. A test file names a job (an inline `[job]` table with the keys of a
//! job file, or `config = "job.toml"` relative to the test file), and lists
//! `[[test]]` cases, each with input records (inline `input` or `input_file`)
//! and the alert events expected (`[[test.expect]]`: `time`, `rule`, `state`,
//! the key fields, and optionally `value` and `severity`). vigil runs the job
//! on each input and prints a diff of expected against actual events.
//!
//! Expected values compare the way a reader means them: `time` as an instant
//! (`00:01:00Z` equals `00:01:00.000Z`, a TOML datetime works too), `state`
//! without regard to case (stderr prints `FIRING`), `value` as a number read
//! exactly (a value copied from `vigil run` output matches). The scratch
//! directory is removed however the tests end.

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
    crate::outln!("{passed} passed, {failed} failed")?;
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
    let work = WorkDir::new()?;
    let work = work.path();
    let job_path = match (&spec.config, &spec.job) {
        (Some(c), None) => dir.join(c),
        (None, Some(table)) => {
            let p = work.join("job.toml");
            // `lookup` paths of an inline job are relative to the test file,
            // as input_file is (the job file is written elsewhere).
            let mut table = table.clone();
            if let Some(v) = table.get_mut("lookup") {
                let rebase = |v: &mut toml::Value| {
                    if let toml::Value::String(s) = v {
                        if Path::new(s.as_str()).is_relative() {
                            *s = dir.join(s.as_str()).display().to_string();
                        }
                    }
                };
                match v {
                    toml::Value::Array(items) => items.iter_mut().for_each(rebase),
                    other => rebase(other),
                }
            }
            let body = toml::to_string(&table)
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
        // a rule test notifies nobody
        job.delivery = crate::deliver::DeliveryJob::default();
        job.late_output = None;
        crate::pipeline::run(&job)?;
        let actual = read_events(&alerts, &job)?;
        let mut expected: Vec<Event> = Vec::new();
        for (j, table) in case.expect.iter().enumerate() {
            let mut e = Event::new();
            for (k, v) in table {
                let value = expected_field(k, v, &job.key).map_err(|msg| {
                    Error::usage(format!(
                        "{}: [[test]] '{name}', expect {}: {msg}",
                        path.display(),
                        j + 1
                    ))
                })?;
                e.insert(k.clone(), value);
            }
            expected.push(e);
        }
        // Compare only the fields each expectation names (value is optional).
        let matches = expected.len() == actual.len()
            && expected
                .iter()
                .zip(&actual)
                .all(|(e, a)| e.iter().all(|(k, v)| a.get(k) == Some(v)));
        if matches {
            passed += 1;
            crate::outln!("ok   {}: {name}", path.display())?;
        } else {
            failed += 1;
            crate::outln!("FAIL {}: {name}", path.display())?;
            crate::outln!("  --- expected\n  +++ actual")?;
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
                    (Some(e), Some(a)) if e == a => crate::outln!("    {}", render(e))?,
                    (e, a) => {
                        if let Some(e) = e {
                            crate::outln!("  - {}", render(e))?;
                        }
                        if let Some(a) = a {
                            crate::outln!("  + {}", render(a))?;
                        }
                    }
                }
            }
        }
    }
    Ok((passed, failed))
}

/// Fields an expectation may name besides the key fields.
const EVENT_FIELDS: [&str; 5] = ["time", "rule", "severity", "state", "value"];

/// An expected field in the form actual events are compared in (see
/// [`canonical_time`], [`canonical_value`]); Err says what is wrong with it.
fn expected_field(name: &str, v: &toml::Value, keys: &[String]) -> Result<String, String> {
    let text = match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Datetime(d) => d.to_string(),
        other => other.to_string(),
    };
    match name {
        "time" => canonical_time(&text).ok_or_else(|| {
            format!("time '{text}' is not a time; expected RFC 3339 such as 2026-01-01T00:03:00Z")
        }),
        "state" => {
            let state = text.to_ascii_lowercase();
            if state == "firing" || state == "resolved" {
                Ok(state)
            } else {
                Err(format!("state '{text}': expected firing or resolved"))
            }
        }
        "value" => {
            let number = match v {
                toml::Value::Integer(n) => Some(*n as f64),
                toml::Value::Float(f) => Some(*f),
                toml::Value::String(s) if s.trim().is_empty() => return Ok(String::new()),
                toml::Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            number.map(canonical_value).ok_or_else(|| {
                format!("value {text} is not a number; expected a number as vigil writes it, or \"\" for an undefined value")
            })
        }
        "rule" | "severity" => Ok(text),
        field if keys.iter().any(|k| k == field) => Ok(text),
        field => {
            let known: Vec<&str> = EVENT_FIELDS
                .iter()
                .copied()
                .chain(keys.iter().map(String::as_str))
                .collect();
            Err(format!(
                "'{field}' is not a field of alert events (they have {}){}",
                known.join(", "),
                crate::suggest::did_you_mean(field, known.iter().copied())
            ))
        }
    }
}

/// A time as the report writes it (RFC 3339 with milliseconds), so equal instants compare equal.
fn canonical_time(text: &str) -> Option<String> {
    let ms = crate::time::TimeFormat::Auto.parse(text.trim().as_bytes())?;
    let mut out = Vec::new();
    crate::time::format_rfc3339_ms(ms, &mut out);
    String::from_utf8(out).ok()
}

/// A number as the report writes it (shortest digits that read back exactly).
fn canonical_value(f: f64) -> String {
    let mut out = Vec::new();
    crate::agg::write_value(crate::agg::AggValue::Float(f), &mut out);
    String::from_utf8_lossy(&out).into_owned()
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
                Some(serde_json::Value::String(s)) if field == "time" => {
                    canonical_time(s).unwrap_or_else(|| s.clone())
                }
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Null) | None => String::new(),
                // serde_json's float_roundtrip: the number reads back exactly
                Some(serde_json::Value::Number(n)) => {
                    n.as_f64().map(canonical_value).unwrap_or_default()
                }
                Some(other) => other.to_string(),
            };
            e.insert(field, s);
        }
        out.push(e);
    }
    Ok(out)
}

/// A scratch directory for one test file, removed when dropped: after the
/// tests pass, fail, or stop on an error.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new() -> Result<WorkDir> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let base = std::env::temp_dir().join(format!(
            "vigil-test-{}-{}-{n}",
            std::process::id(),
            crate::source::now_ms()
        ));
        std::fs::create_dir_all(&base).map_err(|e| Error::io("cannot create", &base, e))?;
        Ok(WorkDir(base))
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, toml_value: &str) -> Result<String, String> {
        let t: toml::Table = toml::from_str(&format!("x = {toml_value}")).unwrap();
        expected_field(name, &t["x"], &["host".to_string()])
    }

    #[test]
    fn times_compare_as_instants() {
        let want = Ok("2026-01-01T00:01:00.000Z".to_string());
        assert_eq!(field("time", "\"2026-01-01T00:01:00Z\""), want);
        assert_eq!(field("time", "\"2026-01-01T00:01:00.000Z\""), want);
        assert_eq!(field("time", "\"2026-01-01T01:01:00+01:00\""), want);
        assert_eq!(
            field("time", "2026-01-01T00:01:00Z"),
            want,
            "a TOML datetime"
        );
        assert!(field("time", "\"yesterday\"").is_err());
    }

    #[test]
    fn values_read_back_exactly() {
        assert_eq!(
            field("value", "95.84237014666667"),
            Ok("95.84237014666667".to_string())
        );
        assert_eq!(
            field("value", "\"95.84237014666667\""),
            Ok("95.84237014666667".to_string())
        );
        assert_eq!(field("value", "97"), Ok("97".to_string()));
        assert_eq!(field("value", "97.0"), Ok("97".to_string()));
        assert_eq!(field("value", "\"\""), Ok(String::new()));
        // the JSON side reads the same digits to the same number
        let json: serde_json::Value = serde_json::from_str("{\"v\":95.84237014666667}").unwrap();
        assert_eq!(
            canonical_value(json["v"].as_f64().unwrap()),
            "95.84237014666667"
        );
    }

    #[test]
    fn state_ignores_case_and_unknown_fields_are_named() {
        assert_eq!(field("state", "\"FIRING\""), Ok("firing".to_string()));
        assert!(field("state", "\"fired\"").is_err());
        let e = field("hots", "\"web-1\"").unwrap_err();
        assert!(e.contains("did you mean 'host'?"), "{e}");
    }
}
