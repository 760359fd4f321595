//! The TOML job file (SPEC section 6): keys are the long flag names with `_`
//! for `-`, plus `[[alert]]`, `[output]` and `[checkpoint]` tables. Read into
//! the same [`JobArgs`] the flags fill; flags then override it.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::args::JobArgs;
use crate::error::{Error, Result};

/// A list given either as a TOML array or as one comma-separated string.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ListOrString {
    List(Vec<String>),
    One(String),
}

impl ListOrString {
    fn into_list(self) -> Vec<String> {
        match self {
            ListOrString::List(v) => v,
            ListOrString::One(s) => s.split(',').map(|p| p.trim().to_string()).collect(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertTable {
    name: Option<String>,
    when: String,
    #[serde(rename = "for")]
    for_windows: Option<u32>,
    clear: Option<String>,
    severity: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutputTable {
    path: Option<PathBuf>,
    format: Option<String>,
    alerts: Option<PathBuf>,
    alerts_format: Option<String>,
    late_output: Option<PathBuf>,
    on_alert: Option<String>,
    fail_on_alert: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckpointTable {
    path: Option<PathBuf>,
    every: Option<String>,
    incremental: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobFile {
    inputs: Option<Vec<String>>,
    format: Option<String>,
    regex: Option<String>,
    delimiter: Option<String>,
    no_header: Option<bool>,
    columns: Option<ListOrString>,
    time: Option<String>,
    time_format: Option<String>,
    key: Option<ListOrString>,
    window: Option<String>,
    slide: Option<String>,
    session: Option<String>,
    count_window: Option<u64>,
    agg: Option<ListOrString>,
    #[serde(rename = "where")]
    where_: Option<String>,
    eval: Option<ListOrString>,
    max_delay: Option<String>,
    late_output: Option<PathBuf>,
    idle_timeout: Option<String>,
    alert: Option<Vec<AlertTable>>,
    output: Option<OutputTable>,
    output_format: Option<String>,
    alerts: Option<PathBuf>,
    alerts_format: Option<String>,
    on_alert: Option<String>,
    fail_on_alert: Option<bool>,
    checkpoint: Option<CheckpointTable>,
    checkpoint_every: Option<String>,
    incremental: Option<bool>,
    on_bad_record: Option<String>,
    max_keys: Option<u64>,
    threads: Option<usize>,
    quiet: Option<bool>,
    progress: Option<bool>,
}

/// Where a key was set in the job file, for messages: `job.toml:12: key 'window'`.
#[derive(Debug, Clone)]
pub struct JobFileSource {
    pub path: PathBuf,
    text: String,
}

impl JobFileSource {
    /// `FILE:LINE: key 'KEY'` for the first line that assigns `key` (or the file alone).
    pub fn locate(&self, key: &str) -> String {
        let bare = key.rsplit('.').next().unwrap_or(key);
        for (i, line) in self.text.lines().enumerate() {
            let t = line.trim_start();
            if let Some(rest) = t.strip_prefix(bare) {
                if rest.trim_start().starts_with('=') {
                    return format!("{}:{}: key '{}'", self.path.display(), i + 1, key);
                }
            }
        }
        format!("{}: key '{}'", self.path.display(), key)
    }
}

/// Reads the job file into a [`JobArgs`] and the list of inputs it names.
pub fn load(path: &Path) -> Result<(JobArgs, Vec<String>, JobFileSource)> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::usage(format!("cannot read job file {}: {e}", path.display())))?;
    let file: JobFile = toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        let msg = e.message().trim().replace('\n', " ");
        match line {
            Some(l) => Error::usage(format!("{}:{l}: {msg}", path.display())),
            None => Error::usage(format!("{}: {msg}", path.display())),
        }
    })?;
    let source = JobFileSource {
        path: path.to_path_buf(),
        text,
    };
    let mut a = JobArgs {
        format: file.format,
        regex: file.regex,
        delimiter: file.delimiter,
        no_header: file.no_header.unwrap_or(false),
        columns: file.columns.map(ListOrString::into_list),
        time: file.time,
        time_format: file.time_format,
        key: file.key.map(ListOrString::into_list),
        window: file.window,
        slide: file.slide,
        session: file.session,
        count_window: file.count_window,
        agg: file.agg.map(|a| a.into_list().join(", ")),
        where_: file.where_,
        eval: file.eval.map(ListOrString::into_list).unwrap_or_default(),
        max_delay: file.max_delay,
        late_output: file.late_output,
        idle_timeout: file.idle_timeout,
        output_format: file.output_format,
        output: None,
        alerts: file.alerts,
        alerts_format: file.alerts_format,
        on_alert: file.on_alert,
        fail_on_alert: file.fail_on_alert.unwrap_or(false),
        checkpoint: None,
        checkpoint_every: file.checkpoint_every,
        incremental: file.incremental.unwrap_or(false),
        fresh: false,
        on_bad_record: file.on_bad_record,
        max_keys: file.max_keys,
        threads: file.threads,
        quiet: file.quiet.unwrap_or(false),
        progress: file.progress.unwrap_or(false),
        ..JobArgs::default()
    };
    if let Some(out) = file.output {
        a.output = out.path;
        a.output_format = out.format.or(a.output_format);
        a.alerts = out.alerts.or(a.alerts);
        a.alerts_format = out.alerts_format.or(a.alerts_format);
        a.late_output = out.late_output.or(a.late_output);
        a.on_alert = out.on_alert.or(a.on_alert);
        a.fail_on_alert |= out.fail_on_alert.unwrap_or(false);
    }
    if let Some(ck) = file.checkpoint {
        a.checkpoint = ck.path;
        a.checkpoint_every = ck.every.or(a.checkpoint_every);
        a.incremental |= ck.incremental.unwrap_or(false);
    }
    for table in file.alert.unwrap_or_default() {
        let mut rule = String::new();
        if let Some(name) = &table.name {
            rule.push_str(name);
            rule.push_str(": ");
        }
        rule.push_str(&table.when);
        if let Some(n) = table.for_windows {
            rule.push_str(&format!(" for {n}"));
        }
        if let Some(c) = &table.clear {
            rule.push_str(" clear ");
            rule.push_str(c);
        }
        if let Some(s) = &table.severity {
            rule.push_str(" severity ");
            rule.push_str(s);
        }
        a.alert.push(rule);
    }
    let inputs = expand_inputs(file.inputs.unwrap_or_default(), &source)?;
    Ok((a, inputs, source))
}

/// Expands `*` and `?` in the file-name part of each input (job files have no
/// shell to do it); matches are sorted. A pattern matching nothing is an error.
fn expand_inputs(patterns: Vec<String>, source: &JobFileSource) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for pattern in patterns {
        if !pattern.contains(['*', '?']) || pattern.starts_with("tcp://") {
            out.push(pattern);
            continue;
        }
        let path = Path::new(&pattern);
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name_pat = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let mut found: Vec<String> = std::fs::read_dir(&dir)
            .map_err(|e| {
                Error::usage(format!(
                    "{}: cannot list {}: {e}",
                    source.locate("inputs"),
                    dir.display()
                ))
            })?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| wildcard_match(name_pat.as_bytes(), n.as_bytes()))
            .map(|n| {
                if path.parent().is_some_and(|d| !d.as_os_str().is_empty()) {
                    dir.join(n).to_string_lossy().into_owned()
                } else {
                    n
                }
            })
            .collect();
        if found.is_empty() {
            return Err(Error::usage(format!(
                "{}: '{pattern}' matches no file",
                source.locate("inputs")
            )));
        }
        found.sort();
        out.extend(found);
    }
    Ok(out)
}

/// `*` matches any run of bytes, `?` one byte.
fn wildcard_match(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|i| wildcard_match(rest, &name[i..])),
        Some((b'?', rest)) => !name.is_empty() && wildcard_match(rest, &name[1..]),
        Some((c, rest)) => name.first() == Some(c) && wildcard_match(rest, &name[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match(b"*.csv", b"a.csv"));
        assert!(wildcard_match(b"m-??.csv", b"m-01.csv"));
        assert!(!wildcard_match(b"m-??.csv", b"m-1.csv"));
        assert!(!wildcard_match(b"*.csv", b"a.json"));
    }

    #[test]
    fn locate_names_line_and_key() {
        let src = JobFileSource {
            path: "j.toml".into(),
            text: "time = \"ts\"\n\nwindow = \"5x\"\n".into(),
        };
        assert_eq!(src.locate("window"), "j.toml:3: key 'window'");
        assert_eq!(src.locate("nothing"), "j.toml: key 'nothing'");
    }
}
