//! `vigil export flink`: a job as one Flink SQL script (Flink 2.x, for
//! `sql-client.sh -f`) that computes the same report, alert events and late
//! records on a Flink cluster (SPEC section 13).
//!
//! Owns the translation: [`script`] reads the resolved [`Job`] (never clap
//! types) and the [`InputLayout`]s, and returns the script text or a usage
//! error naming the feature that does not map and why. Pure: no I/O.
//!
//! How vigil's semantics are kept:
//! - Every input column is read as STRING and the event time is parsed by
//!   SQL arithmetic that accepts what vigil accepts ([`time`]); a row whose
//!   time does not parse (a CSV header row among them) is dropped, as vigil
//!   drops a bad record. Its rowtime is a far-past sentinel so the watermark
//!   assigner never sees NULL.
//! - Flink fires a window `[s, e)` when its watermark reaches `e - 1`, and
//!   its watermark trails the largest time by the declared delay: the script
//!   declares `max-delay + 1 ms`, so windows close when vigil's watermark
//!   reaches their end. `pipeline.auto-watermark-interval` is `0 ms`, so the
//!   watermark moves after every record that raises it, as vigil's does.
//! - A record is late when the watermark before it has passed the end of the
//!   last window that holds it: `CURRENT_WATERMARK` right after the source is
//!   exactly that watermark, so late records are split off there.
//! - Alert rules are two MATCH_RECOGNIZE passes per rule over the key's
//!   windows: one finds each episode `N consecutive windows true, then the
//!   first window whose clear condition holds` (its resolved event); the
//!   other, fed with a marker at each key's first window and at each
//!   resolution, finds the first run of N after each marker (the firing
//!   event, written when it happens rather than when the episode ends).

mod expr;
mod time;

use std::fmt::Write as _;

use crate::agg::{AggFunc, AggSpec};
use crate::alert::{Condition, Rule};
use crate::decode::Format;
use crate::error::{Error, Result};
use crate::export::InputLayout;
use crate::job::{AlertsFormat, BadRecordPolicy, FormatChoice, Job, OutputFormat, WindowSpec};
use crate::plan::RecordPlan;
use expr::{Kind, Name, Sql};

/// Where the Flink job reads its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlinkSource {
    /// The job's file inputs, as `filesystem` tables.
    Files,
    /// A Kafka topic (one record per message).
    Kafka { brokers: String, topic: String },
}

/// Export options that are not job options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlinkOptions {
    pub source: FlinkSource,
}

/// Rowtime given to a record whose time cannot be read, or lies outside the
/// years 0000-9999 that Flink's timestamps hold (TO_TIMESTAMP_LTZ is NULL
/// there, and a NULL rowtime stops the job): 0000-01-01T00:00:00Z, the
/// earliest timestamp Flink holds. It never moves the watermark, and such
/// rows are filtered out before any window.
const BAD_TIME_MS: &str = "-62167219200000";

/// The report's time format, as Java's DateTimeFormatter spells RFC 3339 UTC with ms.
const TIME_PATTERN: &str = "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'";

/// Reserved column names of the script's tables and views.
const RESERVED_PREFIX: &str = "vigil_";

/// A SQL string literal.
pub(crate) fn sql_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A SQL identifier (backquoted).
fn ident(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}

/// Longest duration a Flink day-time interval literal holds (`DAY` has two digits).
const MAX_INTERVAL_MS: i64 = 100 * 86_400_000 - 1;

/// A day-time interval literal of `ms` milliseconds (at most [`MAX_INTERVAL_MS`]).
fn interval(ms: i64) -> String {
    let days = ms / 86_400_000;
    let rest = ms % 86_400_000;
    format!(
        "INTERVAL '{days} {:02}:{:02}:{:02}.{:03}' DAY TO SECOND(3)",
        rest / 3_600_000,
        rest % 3_600_000 / 60_000,
        rest % 60_000 / 1000,
        rest % 1000
    )
}

fn refuse(feature: &str, why: &str) -> Error {
    Error::usage(format!("vigil export flink: {feature}: {why}"))
}

/// How record fields are read from the source's columns.
enum Columns {
    /// CSV: the columns by name, all STRING.
    Csv(Vec<String>),
    /// JSON: the top-level fields the job needs (nested ones as ROW types).
    Json(Vec<JsonColumn>),
    /// `--format regex`: the line, and the Java pattern whose groups are the fields.
    Regex {
        pattern: String,
        groups: Vec<String>,
    },
}

/// A top-level JSON field and, for a nested one, the paths read inside it.
struct JsonColumn {
    name: String,
    children: Vec<JsonColumn>,
}

impl JsonColumn {
    fn insert(columns: &mut Vec<JsonColumn>, path: &[&str]) {
        let Some((first, rest)) = path.split_first() else {
            return;
        };
        let at = match columns.iter().position(|c| c.name == *first) {
            Some(i) => i,
            None => {
                columns.push(JsonColumn {
                    name: first.to_string(),
                    children: Vec::new(),
                });
                columns.len() - 1
            }
        };
        JsonColumn::insert(&mut columns[at].children, rest);
    }

    fn sql_type(&self) -> String {
        if self.children.is_empty() {
            "STRING".to_string()
        } else {
            let fields: Vec<String> = self
                .children
                .iter()
                .map(|c| format!("{} {}", ident(&c.name), c.sql_type()))
                .collect();
            format!("ROW<{}>", fields.join(", "))
        }
    }
}

impl Columns {
    /// The physical columns: (name, type).
    fn physical(&self) -> Vec<(String, String)> {
        match self {
            Columns::Csv(c) => c.iter().map(|n| (n.clone(), "STRING".into())).collect(),
            Columns::Json(c) => c.iter().map(|j| (j.name.clone(), j.sql_type())).collect(),
            Columns::Regex { .. } => vec![("line".into(), "STRING".into())],
        }
    }

    /// The SQL reading record field `name` (STRING).
    fn field(&self, name: &str) -> String {
        match self {
            Columns::Csv(_) => ident(name),
            Columns::Json(_) => name.split('.').map(ident).collect::<Vec<_>>().join("."),
            Columns::Regex { pattern, groups } => {
                let g = groups.iter().position(|n| n == name).map_or(0, |i| i + 1);
                format!(
                    "NULLIF(REGEXP_EXTRACT({}, {}, {g}), '-')",
                    ident("line"),
                    sql_string(pattern)
                )
            }
        }
    }
}

/// The aggregate columns of the windows view, and which the report shows.
struct Aggregates {
    specs: Vec<AggSpec>,
    visible: usize,
    /// For each rule: the index in `specs` of the first aggregate in its condition.
    rule_values: Vec<Option<usize>>,
}

/// Writes the Flink SQL script for `job` reading `inputs` (from
/// [`crate::export::inspect_inputs`]), or refuses with a usage error.
pub fn script(job: &Job, options: &FlinkOptions, inputs: &[InputLayout]) -> Result<String> {
    refuse_what_does_not_map(job, options)?;
    let plan = RecordPlan::new(job)?;
    let aggregates = Aggregates {
        specs: plan.specs.clone(),
        visible: plan.visible,
        rule_values: plan.rules.iter().map(|r| r.value_output).collect(),
    };
    for spec in &aggregates.specs {
        if let AggFunc::History(_) = spec.func {
            return Err(refuse(
                &format!("history function ({})", spec.column),
                "predict_linear, deriv, zscore, robust_z, ewma and holt read a key's series of earlier windows; Flink SQL's window aggregates keep no state from one window to the next",
            ));
        }
        if matches!(spec.func, AggFunc::First | AggFunc::Last) {
            return Err(refuse(
                &format!("{}()", if spec.func == AggFunc::First { "first" } else { "last" }),
                "vigil's first/last are by event time; Flink's FIRST_VALUE/LAST_VALUE follow arrival order, which differs as soon as records are out of order",
            ));
        }
    }
    let time_field = job.time_field.as_deref().ok_or_else(|| {
        refuse(
            "processing time (no --time)",
            "vigil stamps records as it reads them, so the result depends on how fast they are read; give --time FIELD so Flink windows by the records' own times",
        )
    })?;
    let format = inputs
        .first()
        .map(|l| l.format)
        .ok_or_else(|| refuse("no input", "give the input files (or --flink-source kafka)"))?;
    if inputs.iter().any(|l| l.format != format) {
        return Err(refuse(
            "inputs of different formats",
            "one Flink job reads one format; export each format's files as their own job",
        ));
    }
    let columns = columns_for(job, format, inputs, &plan.fields)?;
    for (name, _) in columns.physical() {
        if name.starts_with(RESERVED_PREFIX) {
            return Err(refuse(
                &format!("input column '{name}'"),
                "names starting with vigil_ are the script's own; rename the column",
            ));
        }
    }

    let mut s = String::new();
    header(&mut s, job, options);
    settings(&mut s, job, options);
    let late = job.late_output.is_some();
    let needs_ms = late
        || (matches!(job.window, WindowSpec::Session { .. })
            && aggregates
                .specs
                .iter()
                .any(|a| matches!(a.func, AggFunc::Rate | AggFunc::RateCount)));
    let raw_time = columns.field(time_field);
    let time_format = job
        .time_format
        .clone()
        .unwrap_or(crate::time::TimeFormat::Auto);
    let ms = time::millis(&raw_time, &time_format)?;
    sources(&mut s, job, options, inputs, &columns, &ms, needs_ms);
    records(&mut s, job, inputs, &columns, late, needs_ms)?;
    let window_aggs = selected(&mut s, job, &columns, &aggregates, late, needs_ms)?;
    windows(&mut s, job, &window_aggs, late);
    let rules = rule_views(&mut s, job, &aggregates)?;
    sinks(&mut s, job, format, &columns, &aggregates, &plan.fields)?;
    inserts(&mut s, job, &columns, &aggregates, &rules);
    Ok(s)
}

/// The job's features that Flink SQL cannot express the same way.
fn refuse_what_does_not_map(job: &Job, options: &FlinkOptions) -> Result<()> {
    let durations = match job.window {
        WindowSpec::Tumbling { size } => vec![("--window", size)],
        WindowSpec::Sliding { size, slide } => vec![("--window", size), ("--slide", slide)],
        WindowSpec::Session { gap } => vec![("--session", gap)],
        WindowSpec::Count { .. } => vec![],
    };
    for (flag, ms) in durations
        .into_iter()
        .chain([("--max-delay", job.max_delay.saturating_add(1))])
    {
        if ms > MAX_INTERVAL_MS {
            return Err(refuse(
                &format!("{flag} of {}", crate::time::format_duration(ms)),
                "Flink SQL's interval literals hold at most 99 days",
            ));
        }
    }
    if let Some(t) = job.lookups.tables.first() {
        return Err(refuse(
            &format!("--lookup {}", t.path.display()),
            "a Flink lookup join reads the table as it stands when each record arrives (processing time), where vigil reads it once when the job starts; join the fields into the records before they reach Flink, or use fixed thresholds",
        ));
    }
    if let WindowSpec::Count { .. } = job.window {
        return Err(refuse(
            "--count-window",
            "Flink SQL's windows are time windows (TUMBLE, HOP, SESSION); it has no window of every N records of a key",
        ));
    }
    if let WindowSpec::Sliding { size, slide } = job.window {
        if size % slide != 0 {
            return Err(refuse(
                "--slide that does not divide --window",
                "Flink's HOP windows need the window size to be a whole multiple of the slide",
            ));
        }
    }
    for rule in &job.rules {
        if let Condition::Absent(_) = rule.condition {
            return Err(refuse(
                &format!("--alert {}: absent()", rule.name),
                "it fires on silence, a window that has no row; Flink's MATCH_RECOGNIZE only sees the windows that have records",
            ));
        }
    }
    if job.output_format == OutputFormat::Table {
        return Err(refuse(
            "--output-format table",
            "it is a view for people on a terminal; a Flink sink writes csv or jsonl",
        ));
    }
    if job.incremental {
        return Err(refuse(
            "--incremental",
            "a Flink job keeps running and keeps its own state; to read what is appended, export with --flink-source kafka",
        ));
    }
    match &job.on_bad_record {
        BadRecordPolicy::Skip => {}
        BadRecordPolicy::Fail => {
            return Err(refuse(
                "--on-bad-record fail",
                "the script drops rows whose time or key cannot be read, as vigil's skip does; Flink SQL has no way to stop the job on one",
            ))
        }
        BadRecordPolicy::File(p) => {
            return Err(refuse(
                &format!("--on-bad-record {}", p.display()),
                "Flink SQL has no side output for rows it cannot read; they are dropped, as with vigil's skip",
            ))
        }
    }
    if job.idle_timeout.is_some() && matches!(options.source, FlinkSource::Kafka { .. }) {
        return Err(refuse(
            "--idle-timeout",
            "vigil advances event time with the wall clock when no record comes; Flink's idle timeout only stops an idle partition from holding the others back, so the last windows would stay open",
        ));
    }
    if job.late_output.is_some() {
        if let WindowSpec::Session { .. } = job.window {
            return Err(refuse(
                "--late-output with --session",
                "whether a record is late depends on the key's open sessions, which a Flink SQL filter cannot see (Flink's session operator drops late records without a side output)",
            ));
        }
    }
    if let FormatChoice::Fixed(f) = job.format {
        refuse_format(f)?;
    }
    Ok(())
}

fn refuse_format(f: Format) -> Result<()> {
    match f {
        Format::Csv | Format::Jsonl | Format::Regex => Ok(()),
        Format::Logfmt | Format::Nginx | Format::Apache | Format::Syslog => Err(refuse(
            &format!("--format {}", f.name()),
            "Flink has no reader for this log format; describe the lines with --format regex and --regex PATTERN, which the export maps",
        )),
    }
}

/// Works out the source columns and checks that every field the job reads exists.
fn columns_for(
    job: &Job,
    format: Format,
    inputs: &[InputLayout],
    fields: &[String],
) -> Result<Columns> {
    refuse_format(format)?;
    match format {
        Format::Csv => {
            let first = &inputs[0];
            for layout in inputs {
                let where_ = layout
                    .path
                    .as_ref()
                    .map_or("the Kafka records".to_string(), |p| p.display().to_string());
                for (i, c) in layout.columns.iter().enumerate() {
                    if layout.columns[..i].contains(c) {
                        return Err(refuse(
                            &format!("{where_}: column '{c}' twice"),
                            "a Flink table needs distinct column names",
                        ));
                    }
                }
                let mut a = layout.columns.clone();
                let mut b = first.columns.clone();
                a.sort();
                b.sort();
                if a != b {
                    return Err(refuse(
                        &format!("{where_}: other columns than the first input"),
                        "the script reads every input into one table shape; export files with different columns as separate jobs",
                    ));
                }
                for f in fields {
                    if !layout.columns.contains(f) {
                        return Err(Error::usage(format!(
                            "{where_}: no column '{f}' (columns: {})",
                            layout.columns.join(", ")
                        )));
                    }
                }
            }
            Ok(Columns::Csv(first.columns.clone()))
        }
        Format::Jsonl => {
            let mut cols = Vec::new();
            for f in fields {
                let path: Vec<&str> = f.split('.').collect();
                if path.iter().any(|p| p.is_empty()) {
                    return Err(refuse(
                        &format!("JSON field '{f}'"),
                        "an empty name between dots has no Flink column",
                    ));
                }
                JsonColumn::insert(&mut cols, &path);
            }
            // a field both read whole and as a parent of a nested one: read it whole
            Ok(Columns::Json(cols))
        }
        Format::Regex => {
            let pattern = job.regex.clone().unwrap_or_default();
            let re = regex::Regex::new(&pattern)
                .map_err(|e| Error::usage(format!("--regex: invalid pattern: {e}")))?;
            let groups: Vec<String> = re
                .capture_names()
                .skip(1)
                .map(|n| n.unwrap_or("").to_string())
                .collect();
            for f in fields {
                if !groups.iter().any(|g| g == f) {
                    return Err(Error::usage(format!(
                        "--regex has no named group '{f}'; groups: {}",
                        groups
                            .iter()
                            .filter(|g| !g.is_empty())
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
            }
            Ok(Columns::Regex {
                pattern: expr::java_regex(&pattern),
                groups,
            })
        }
        _ => unreachable!("refused above"),
    }
}

/// The window in words, for the script's first lines.
fn describe_window(w: WindowSpec) -> String {
    let d = crate::time::format_duration;
    match w {
        WindowSpec::Tumbling { size } => format!("tumbling {}", d(size)),
        WindowSpec::Sliding { size, slide } => format!("sliding {} every {}", d(size), d(slide)),
        WindowSpec::Session { gap } => format!("session, gap {}", d(gap)),
        WindowSpec::Count { n } => format!("count, every {n} records per key"),
    }
}

fn header(s: &mut String, job: &Job, options: &FlinkOptions) {
    let _ = writeln!(
        s,
        "-- Flink SQL (Flink 2.x) written by `vigil export flink`: the same job on a Flink cluster."
    );
    let _ = writeln!(s, "-- Run it with: sql-client.sh -f THIS_FILE");
    let _ = writeln!(
        s,
        "-- Window: {}; watermark = max event time - {}.",
        describe_window(job.window),
        crate::time::format_duration(job.max_delay)
    );
    if let FlinkSource::Kafka { .. } = options.source {
        let _ = writeln!(
            s,
            "-- The Kafka source needs the flink-sql-connector-kafka jar on the cluster's classpath."
        );
    }
    let mut not_exported = Vec::new();
    if job.on_alert.is_some() {
        not_exported.push("--on-alert (Flink's alert events go to the alerts sink)");
    }
    if job.fail_on_alert {
        not_exported.push("--fail-on-alert (a Flink job has no exit status per alert)");
    }
    if job.checkpoint.is_some() {
        not_exported.push("--checkpoint (Flink keeps its own checkpoints)");
    }
    if job.max_keys != crate::job::DEFAULT_MAX_KEYS {
        not_exported.push("--max-keys (Flink's state grows with the keys)");
    }
    if job.idle_timeout.is_some() {
        not_exported.push("--idle-timeout (file inputs end; the last windows close at their end)");
    }
    for n in not_exported {
        let _ = writeln!(s, "-- Not exported: {n}.");
    }
    s.push('\n');
}

fn settings(s: &mut String, job: &Job, options: &FlinkOptions) {
    let mut set = |k: &str, v: &str, why: &str| {
        let _ = writeln!(s, "-- {why}");
        let _ = writeln!(s, "SET {} = {};", sql_string(k), sql_string(v));
    };
    set(
        "execution.runtime-mode",
        "streaming",
        "Event time, watermarks and MATCH_RECOGNIZE as vigil runs them.",
    );
    set(
        "table.local-time-zone",
        "UTC",
        "Windows aligned to the Unix epoch and times printed in UTC.",
    );
    set(
        "pipeline.auto-watermark-interval",
        "0 ms",
        "The watermark moves after every record that raises it (the default, 200 ms, makes lateness depend on timing).",
    );
    set(
        "parallelism.default",
        "1",
        "One reader per input keeps late records exactly vigil's; raise it for throughput when the input has no out-of-order records to count (see the README).",
    );
    if let FlinkSource::Kafka { .. } = options.source {
        let every = format!("{} ms", job.checkpoint_every);
        let _ = writeln!(
            s,
            "-- The filesystem sinks commit their files at each checkpoint (--checkpoint-every)."
        );
        let _ = writeln!(
            s,
            "SET {} = {};",
            sql_string("execution.checkpointing.interval"),
            sql_string(&every)
        );
    }
    s.push('\n');
}

/// The `WITH (...)` options of a source or sink reading `format`.
fn format_options(format: Format, delimiter: u8) -> Vec<(String, String)> {
    match format {
        Format::Csv => {
            let d = match delimiter {
                b'\t' => "\\t".to_string(),
                d => (d as char).to_string(),
            };
            vec![
                ("format".into(), "csv".into()),
                ("csv.field-delimiter".into(), d),
                ("csv.ignore-parse-errors".into(), "true".into()),
            ]
        }
        Format::Jsonl => vec![
            ("format".into(), "json".into()),
            ("json.ignore-parse-errors".into(), "true".into()),
        ],
        _ => vec![("format".into(), "raw".into())],
    }
}

fn with_clause(options: &[(String, String)]) -> String {
    let items: Vec<String> = options
        .iter()
        .map(|(k, v)| format!("  {} = {}", sql_string(k), sql_string(v)))
        .collect();
    format!("WITH (\n{}\n)", items.join(",\n"))
}

fn source_name(i: usize, n: usize) -> String {
    if n == 1 {
        "vigil_input".to_string()
    } else {
        format!("vigil_input_{}", i + 1)
    }
}

fn sources(
    s: &mut String,
    job: &Job,
    options: &FlinkOptions,
    inputs: &[InputLayout],
    columns: &Columns,
    ms: &str,
    needs_ms: bool,
) {
    let _ = writeln!(
        s,
        "-- Sources: every column as STRING; the event time parsed as vigil parses it (NULL when it cannot be read).",
    );
    let delay = interval(job.max_delay.saturating_add(1));
    for (i, layout) in inputs.iter().enumerate() {
        let mut cols: Vec<String> = columns
            .physical()
            .iter()
            .map(|(n, t)| format!("  {} {t}", ident(n)))
            .collect();
        // CSV inputs may order their columns differently: declare this file's order
        if let (Columns::Csv(_), false) = (columns, layout.columns.is_empty()) {
            cols = layout
                .columns
                .iter()
                .map(|n| format!("  {} STRING", ident(n)))
                .collect();
        }
        cols.push(format!(
            "  `vigil_time` AS COALESCE(TO_TIMESTAMP_LTZ({ms}, 3), TO_TIMESTAMP_LTZ({BAD_TIME_MS}, 3))"
        ));
        if needs_ms {
            cols.push(format!("  `vigil_ms` AS {ms}"));
        }
        cols.push(format!(
            "  WATERMARK FOR `vigil_time` AS `vigil_time` - {delay}"
        ));
        let mut with = match (&options.source, &layout.path) {
            (FlinkSource::Kafka { brokers, topic }, _) => vec![
                ("connector".to_string(), "kafka".to_string()),
                ("topic".into(), topic.clone()),
                ("properties.bootstrap.servers".into(), brokers.clone()),
                ("properties.group.id".into(), "vigil".into()),
                ("scan.startup.mode".into(), "earliest-offset".into()),
                // the watermark is pushed into the Kafka source: emit it per record, as vigil does
                ("scan.watermark.emit.strategy".into(), "on-event".into()),
            ],
            (FlinkSource::Files, path) => vec![
                ("connector".to_string(), "filesystem".to_string()),
                (
                    "path".into(),
                    path.as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                ),
            ],
        };
        with.extend(format_options(layout.format, job.delimiter));
        let _ = writeln!(
            s,
            "CREATE TEMPORARY TABLE {} (\n{}\n) {};\n",
            ident(&source_name(i, inputs.len())),
            cols.join(",\n"),
            with_clause(&with)
        );
    }
}

/// The late test: the watermark before the record (Flink's, one ms behind
/// vigil's) has reached the end of the last window holding it.
fn late_expr(job: &Job) -> String {
    let (size, slide) = match job.window {
        WindowSpec::Tumbling { size } => (size, size),
        WindowSpec::Sliding { size, slide } => (size, slide),
        _ => unreachable!("late output is refused for other windows"),
    };
    let last_start = format!("(`vigil_ms` - MOD(MOD(`vigil_ms`, {slide}) + {slide}, {slide}))");
    format!(
        "COALESCE(CURRENT_WATERMARK(`vigil_time`) >= TO_TIMESTAMP_LTZ({last_start} + {}, 3), FALSE)",
        size - 1
    )
}

/// `vigil_records`: the readable rows of every input, in one shape; the late
/// test is made per input, right after its source, on its own watermark.
fn records(
    s: &mut String,
    job: &Job,
    inputs: &[InputLayout],
    columns: &Columns,
    late: bool,
    needs_ms: bool,
) -> Result<()> {
    let physical: Vec<String> = columns.physical().iter().map(|(n, _)| ident(n)).collect();
    let mut keep = vec![format!("`vigil_time` > TO_TIMESTAMP_LTZ({BAD_TIME_MS}, 3)")];
    for k in &job.key {
        keep.push(format!("{} IS NOT NULL", columns.field(k)));
    }
    let mut selects = Vec::new();
    for i in 0..inputs.len() {
        let mut cols = physical.clone();
        cols.push("`vigil_time`".into());
        if needs_ms {
            cols.push("`vigil_ms`".into());
        }
        if late {
            cols.push(format!("{} AS `vigil_late`", late_expr(job)));
        }
        selects.push(format!(
            "SELECT {} FROM {} WHERE {}",
            cols.join(", "),
            ident(&source_name(i, inputs.len())),
            keep.join(" AND ")
        ));
    }
    let _ = writeln!(
        s,
        "-- Rows whose time or key cannot be read are dropped (vigil counts them as bad).{}",
        if late {
            " A row is late when the watermark before it has passed the end of its last window."
        } else {
            ""
        }
    );
    let _ = writeln!(
        s,
        "CREATE TEMPORARY VIEW `vigil_records` AS\n{};\n",
        selects.join("\nUNION ALL\n")
    );
    Ok(())
}

/// The aggregate inputs of the windows view: (SQL value, column alias).
struct Inputs {
    items: Vec<(String, String)>,
}

impl Inputs {
    fn alias(&mut self, sql: String) -> String {
        if let Some((_, a)) = self.items.iter().find(|(s, _)| *s == sql) {
            return a.clone();
        }
        let a = format!("vigil_in_{}", self.items.len());
        self.items.push((sql, a.clone()));
        a
    }
}

/// The SQL of each `--eval` (inlined in order) and a resolver for record expressions.
fn eval_sql(job: &Job, columns: &Columns) -> Result<Vec<(String, String)>> {
    let mut done: Vec<(String, String)> = Vec::new();
    for (name, e, _) in &job.evals {
        let sql = expr::translate(e, &|n| record_name(n, &done, columns))
            .map_err(|m| refuse(&format!("--eval {name}"), &m))?;
        done.push((name.clone(), expr::number(&sql)));
    }
    Ok(done)
}

fn record_name(n: Name<'_>, evals: &[(String, String)], columns: &Columns) -> Result<Sql, String> {
    match n {
        Name::Field(f) => Ok(match evals.iter().find(|(e, _)| e == f) {
            Some((_, sql)) => Sql::new(Kind::Num, sql.clone()),
            None => Sql::new(Kind::Str, columns.field(f)),
        }),
        Name::Call(name, _) => Err(format!(
            "'{name}(...)' is an aggregate; record expressions see one record's fields"
        )),
    }
}

/// `vigil_selected`: rows kept by `--where`, with `--eval` fields, the key
/// and every aggregate input computed. Returns the aggregates over those
/// inputs, for the windows view.
fn selected(
    s: &mut String,
    job: &Job,
    columns: &Columns,
    aggregates: &Aggregates,
    late: bool,
    needs_ms: bool,
) -> Result<Vec<String>> {
    let evals = eval_sql(job, columns)?;
    let mut inputs = Inputs { items: Vec::new() };
    let mut agg_sql = Vec::new();
    for spec in &aggregates.specs {
        agg_sql.push(aggregate_sql(
            job,
            spec,
            &aggregates.specs,
            &evals,
            columns,
            &mut inputs,
        ));
    }
    let mut cols: Vec<String> = columns.physical().iter().map(|(n, _)| ident(n)).collect();
    cols.push("`vigil_time`".into());
    if needs_ms {
        cols.push("`vigil_ms`".into());
    }
    if late {
        cols.push("`vigil_late`".into());
    }
    for (i, k) in job.key.iter().enumerate() {
        cols.push(format!("{} AS `vigil_key_{i}`", columns.field(k)));
    }
    for (sql, alias) in &inputs.items {
        cols.push(format!("{sql} AS {}", ident(alias)));
    }
    let filter = match &job.where_expr {
        None => String::new(),
        Some(w) => {
            let sql = expr::translate(w, &|n| record_name(n, &evals, columns))
                .map_err(|m| refuse("--where", &m))?;
            format!("\nWHERE {}", expr::condition(&sql))
        }
    };
    let _ = writeln!(
        s,
        "-- --where and --eval, the key and the aggregates' inputs (a value that is not a number is missing)."
    );
    let _ = writeln!(
        s,
        "CREATE TEMPORARY VIEW `vigil_selected` AS\nSELECT {}\nFROM `vigil_records`{filter};\n",
        cols.join(",\n  ")
    );
    if late {
        let _ = writeln!(
            s,
            "CREATE TEMPORARY VIEW `vigil_on_time` AS SELECT * FROM `vigil_selected` WHERE NOT `vigil_late`;\n"
        );
    }
    Ok(agg_sql)
}

/// One aggregate over the windowed rows.
fn aggregate_sql(
    job: &Job,
    spec: &AggSpec,
    specs: &[AggSpec],
    evals: &[(String, String)],
    columns: &Columns,
    inputs: &mut Inputs,
) -> String {
    let field = spec.field.as_deref().unwrap_or("");
    let eval = evals
        .iter()
        .find(|(e, _)| e == field)
        .map(|(_, s)| s.clone());
    let mut numeric = || {
        let sql = match &eval {
            Some(e) => e.clone(),
            None => expr::parse_number(&columns.field(field)),
        };
        ident(&inputs.alias(sql))
    };
    let seconds = match job.window {
        WindowSpec::Tumbling { size } | WindowSpec::Sliding { size, .. } => {
            expr::double_literal(size as f64 / 1000.0)
        }
        WindowSpec::Session { gap } => {
            format!("(CAST(MAX(`vigil_ms`) - MIN(`vigil_ms`) + {gap} AS DOUBLE) / 1E3)")
        }
        WindowSpec::Count { .. } => unreachable!("refused"),
    };
    match spec.func {
        AggFunc::Count => "COUNT(*)".to_string(),
        AggFunc::CountField | AggFunc::Distinct => {
            // vigil's count(FIELD) counts numbers when the field also feeds a
            // numeric aggregate, else non-empty values; distinct is of the text
            let numbers = spec.func == AggFunc::CountField
                && specs.iter().any(|o| {
                    o.field.as_deref() == Some(field)
                        && !matches!(
                            o.func,
                            AggFunc::Count
                                | AggFunc::CountField
                                | AggFunc::RateCount
                                | AggFunc::Distinct
                        )
                });
            let col = if numbers {
                numeric()
            } else {
                let sql = match &eval {
                    Some(e) => e.clone(),
                    None => format!("NULLIF({}, '')", columns.field(field)),
                };
                ident(&inputs.alias(sql))
            };
            if spec.func == AggFunc::Distinct {
                format!("COUNT(DISTINCT {col})")
            } else {
                format!("COUNT({col})")
            }
        }
        AggFunc::Sum => format!("SUM({})", numeric()),
        AggFunc::Avg => format!("AVG({})", numeric()),
        AggFunc::Min => format!("MIN({})", numeric()),
        AggFunc::Max => format!("MAX({})", numeric()),
        AggFunc::Stddev => format!("STDDEV_SAMP({})", numeric()),
        AggFunc::Var => format!("VAR_SAMP({})", numeric()),
        AggFunc::Rate => format!("SUM({}) / {seconds}", numeric()),
        AggFunc::RateCount => format!("COUNT(*) / {seconds}"),
        AggFunc::Quantile(q) => format!("PERCENTILE({}, {q})", numeric()),
        AggFunc::First | AggFunc::Last | AggFunc::History(_) => unreachable!("refused"),
    }
}

fn key_list(job: &Job) -> Vec<String> {
    (0..job.key.len())
        .map(|i| format!("`vigil_key_{i}`"))
        .collect()
}

/// `vigil_windows`: one row per (window, key) with every aggregate (`aggs`).
fn windows(s: &mut String, job: &Job, aggs: &[String], late: bool) {
    let table = if late {
        "`vigil_on_time`"
    } else {
        "`vigil_selected`"
    };
    let keys = key_list(job);
    let tvf = match job.window {
        WindowSpec::Tumbling { size } => format!(
            "TUMBLE(TABLE {table}, DESCRIPTOR(`vigil_time`), {})",
            interval(size)
        ),
        WindowSpec::Sliding { size, slide } => format!(
            "HOP(TABLE {table}, DESCRIPTOR(`vigil_time`), {}, {})",
            interval(slide),
            interval(size)
        ),
        WindowSpec::Session { gap } => format!(
            "SESSION(TABLE {table}{}, DESCRIPTOR(`vigil_time`), {})",
            if keys.is_empty() {
                String::new()
            } else {
                format!(" PARTITION BY {}", keys.join(", "))
            },
            interval(gap)
        ),
        WindowSpec::Count { .. } => unreachable!("refused"),
    };
    let mut cols = vec![
        "window_start AS `vigil_start`".to_string(),
        "window_end AS `vigil_end`".to_string(),
        "window_time AS `vigil_wtime`".to_string(),
    ];
    cols.extend(keys.iter().cloned());
    for (i, a) in aggs.iter().enumerate() {
        cols.push(format!("{a} AS `vigil_agg_{i}`"));
    }
    let mut group = vec![
        "window_start".to_string(),
        "window_end".to_string(),
        "window_time".to_string(),
    ];
    group.extend(keys);
    let _ = writeln!(
        s,
        "-- One row per window and key that received records; window_time (end - 1 ms) is its rowtime."
    );
    let _ = writeln!(
        s,
        "CREATE TEMPORARY VIEW `vigil_windows` AS\nSELECT {}\nFROM TABLE({tvf})\nGROUP BY {};\n",
        cols.join(",\n  "),
        group.join(", ")
    );
}

/// Names of one rule's views.
struct RuleViews {
    fired: String,
    resolved: String,
}

/// The SQL of a rule condition over a window row (key fields and aggregates).
fn rule_condition(job: &Job, aggregates: &Aggregates, e: &crate::expr::Expr) -> Result<String> {
    let sql = expr::translate(e, &|n| match n {
        Name::Field(f) => match job.key.iter().position(|k| k == f) {
            Some(i) => Ok(Sql::new(Kind::Str, format!("`vigil_key_{i}`"))),
            None => Err(format!("'{f}' is not a key field")),
        },
        Name::Call(name, args) => {
            let argv: Vec<&str> = args.iter().map(|a| a.as_str()).collect();
            let spec = AggSpec::from_call(name, &argv)?;
            let i = aggregates
                .specs
                .iter()
                .position(|s| s.func == spec.func && s.field == spec.field)
                .ok_or_else(|| format!("{name}() is not computed"))?;
            Ok(Sql::new(
                Kind::Num,
                format!("CAST(`vigil_agg_{i}` AS DOUBLE)"),
            ))
        }
    })
    .map_err(|m| refuse("--alert", &m))?;
    Ok(expr::condition(&sql))
}

fn rule_views(s: &mut String, job: &Job, aggregates: &Aggregates) -> Result<Vec<RuleViews>> {
    let mut out = Vec::new();
    let keys = key_list(job);
    let partition = if keys.is_empty() {
        String::new()
    } else {
        format!("PARTITION BY {} ", keys.join(", "))
    };
    for (r, rule) in job.rules.iter().enumerate() {
        let Condition::Expr(cond) = &rule.condition else {
            unreachable!("absent() is refused")
        };
        let met = rule_condition(job, aggregates, cond)?;
        let resolve = match &rule.clear {
            Some(c) => rule_condition(job, aggregates, c)?,
            None => format!("NOT {met}"),
        };
        let value = match aggregates.rule_values[r] {
            Some(i) => format!("CAST(`vigil_agg_{i}` AS DOUBLE)"),
            None => "CAST(NULL AS DOUBLE)".to_string(),
        };
        let next = match job.window {
            WindowSpec::Tumbling { size: step } | WindowSpec::Sliding { slide: step, .. } => {
                format!(
                    "MIN(`vigil_start`) OVER w + {} = `vigil_start`",
                    interval(step)
                )
            }
            // consecutive sessions of a key always follow each other
            _ => "TRUE".to_string(),
        };
        let base = format!("vigil_rule_{}", r + 1);
        let win = format!("`{base}_windows`");
        let resolved = format!("`{base}_resolved`");
        let marked = format!("`{base}_marked`");
        let fired = format!("`{base}_fired`");
        let _ = writeln!(
            s,
            "-- Alert rule {}: {}\n-- Each window of a key: the condition, the resolving condition, and whether it follows the key's previous window.",
            rule.name,
            rule.text.replace('\n', " ")
        );
        let mut cols = keys.clone();
        cols.extend([
            "`vigil_start`".to_string(),
            "`vigil_end`".to_string(),
            "`vigil_wtime`".to_string(),
            format!("{met} AS `vigil_met`"),
            format!("{resolve} AS `vigil_resolve`"),
            format!("{value} AS `vigil_value`"),
            "COUNT(*) OVER w = 1 AS `vigil_first`".to_string(),
            format!("{next} AS `vigil_next`"),
        ]);
        let _ = writeln!(
            s,
            "CREATE TEMPORARY VIEW {win} AS\nSELECT {}\nFROM `vigil_windows`\nWINDOW w AS ({partition}ORDER BY `vigil_wtime` ROWS BETWEEN 1 PRECEDING AND CURRENT ROW);\n",
            cols.join(",\n  ")
        );
        let n = rule.for_windows;
        let run = if n > 1 {
            format!("C1 C{{{}}}", n - 1)
        } else {
            "C1".to_string()
        };
        let last_c = if n > 1 { "C" } else { "C1" };
        let _ = writeln!(
            s,
            "-- Episodes: {n} consecutive windows with the condition, then the first window that resolves it (the resolved event)."
        );
        let _ = writeln!(
            s,
            "CREATE TEMPORARY VIEW {resolved} AS\nSELECT * FROM {win} MATCH_RECOGNIZE (\n  {partition}ORDER BY `vigil_wtime`\n  MEASURES LAST(R.`vigil_end`) AS `vigil_at`, LAST(R.`vigil_value`) AS `vigil_value`, MATCH_ROWTIME() AS `vigil_mtime`\n  ONE ROW PER MATCH\n  AFTER MATCH SKIP PAST LAST ROW\n  PATTERN ({run} H*? R)\n  DEFINE C1 AS C1.`vigil_met`,{}\n    H AS NOT H.`vigil_resolve`,\n    R AS R.`vigil_resolve`\n);\n",
            if n > 1 {
                "\n    C AS C.`vigil_met` AND C.`vigil_next`,"
            } else {
                ""
            }
        );
        let mut plain = keys.clone();
        plain.extend([
            "`vigil_wtime`".to_string(),
            "`vigil_end`".to_string(),
            "`vigil_value`".to_string(),
            "`vigil_met`".to_string(),
            "`vigil_next`".to_string(),
        ]);
        let mut start = keys.clone();
        start.extend([
            "`vigil_wtime`".to_string(),
            "`vigil_end`".to_string(),
            "`vigil_value`".to_string(),
            "FALSE".to_string(),
            "FALSE".to_string(),
        ]);
        let mut after = keys.clone();
        after.extend([
            "`vigil_mtime`".to_string(),
            "`vigil_at`".to_string(),
            "`vigil_value`".to_string(),
            "FALSE".to_string(),
            "FALSE".to_string(),
        ]);
        let _ = writeln!(
            s,
            "-- The windows, with a marker before each key's first window (kind 0) and after each resolving window (kind 2)."
        );
        let _ = writeln!(
            s,
            "CREATE TEMPORARY VIEW {marked} AS\nSELECT {}, 1 AS `vigil_kind` FROM {win}\nUNION ALL\nSELECT {}, 0 FROM {win} WHERE `vigil_first`\nUNION ALL\nSELECT {}, 2 FROM {resolved};\n",
            plain.join(", "),
            start.join(", "),
            after.join(", ")
        );
        let _ = writeln!(
            s,
            "-- Firing: the first {n} consecutive windows with the condition after a marker."
        );
        let _ = writeln!(
            s,
            "CREATE TEMPORARY VIEW {fired} AS\nSELECT * FROM {marked} MATCH_RECOGNIZE (\n  {partition}ORDER BY `vigil_wtime`, `vigil_kind`\n  MEASURES LAST({last_c}.`vigil_end`) AS `vigil_at`, LAST({last_c}.`vigil_value`) AS `vigil_value`\n  ONE ROW PER MATCH\n  AFTER MATCH SKIP PAST LAST ROW\n  PATTERN (B X*? {run})\n  DEFINE B AS B.`vigil_kind` <> 1,\n    X AS X.`vigil_kind` = 1,\n    C1 AS C1.`vigil_kind` = 1 AND C1.`vigil_met`{}\n);\n",
            if n > 1 {
                ",\n    C AS C.`vigil_kind` = 1 AND C.`vigil_met` AND C.`vigil_next`"
            } else {
                ""
            }
        );
        out.push(RuleViews { fired, resolved });
    }
    Ok(out)
}

fn sink_with(path: Option<&std::path::Path>, format: Vec<(String, String)>, id: &str) -> String {
    match path {
        Some(p) => {
            let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
            let mut w = vec![
                ("connector".to_string(), "filesystem".to_string()),
                ("path".to_string(), abs.display().to_string()),
            ];
            w.extend(format);
            with_clause(&w)
        }
        None => with_clause(&[
            ("connector".to_string(), "print".to_string()),
            ("print-identifier".to_string(), id.to_string()),
        ]),
    }
}

fn output_format(f: OutputFormat) -> Vec<(String, String)> {
    match f {
        OutputFormat::Jsonl => vec![("format".into(), "json".into())],
        _ => vec![("format".into(), "csv".into())],
    }
}

fn sinks(
    s: &mut String,
    job: &Job,
    format: Format,
    columns: &Columns,
    aggregates: &Aggregates,
    _fields: &[String],
) -> Result<()> {
    let _ = writeln!(
        s,
        "-- Sinks: a directory of part files each (no header rows); without a path, the task managers' stdout."
    );
    let mut cols = vec![
        "  `window_start` STRING".to_string(),
        "  `window_end` STRING".to_string(),
    ];
    for k in &job.key {
        cols.push(format!("  {} STRING", ident(k)));
    }
    for spec in &aggregates.specs[..aggregates.visible] {
        cols.push(format!("  {} {}", ident(&spec.column), agg_type(spec)));
    }
    let _ = writeln!(
        s,
        "CREATE TEMPORARY TABLE `vigil_report` (\n{}\n) {};\n",
        cols.join(",\n"),
        sink_with(
            job.output.as_deref(),
            output_format(job.output_format),
            "report"
        )
    );
    if !job.rules.is_empty() {
        let mut cols = vec![
            "  `time` STRING".to_string(),
            "  `rule` STRING".to_string(),
            "  `severity` STRING".to_string(),
            "  `state` STRING".to_string(),
        ];
        for k in &job.key {
            cols.push(format!("  {} STRING", ident(k)));
        }
        cols.push("  `value` DOUBLE".into());
        cols.push("  `condition` STRING".into());
        let format = match job.alerts_format {
            AlertsFormat::Jsonl => output_format(OutputFormat::Jsonl),
            _ => output_format(OutputFormat::Csv),
        };
        let _ = writeln!(
            s,
            "CREATE TEMPORARY TABLE `vigil_alerts` (\n{}\n) {};\n",
            cols.join(",\n"),
            sink_with(job.alerts.as_deref(), format, "alerts")
        );
    }
    if let Some(late) = &job.late_output {
        let cols: Vec<String> = columns
            .physical()
            .iter()
            .map(|(n, t)| format!("  {} {t}", ident(n)))
            .collect();
        let mut fmt = format_options(format, job.delimiter);
        fmt.retain(|(k, _)| !k.ends_with("ignore-parse-errors"));
        let _ = writeln!(
            s,
            "CREATE TEMPORARY TABLE `vigil_late` (\n{}\n) {};\n",
            cols.join(",\n"),
            sink_with(Some(late), fmt, "late")
        );
    }
    Ok(())
}

fn agg_type(spec: &AggSpec) -> &'static str {
    match spec.func {
        AggFunc::Count | AggFunc::CountField | AggFunc::Distinct => "BIGINT",
        _ => "DOUBLE",
    }
}

fn rfc3339(col: &str) -> String {
    format!("DATE_FORMAT({col}, {})", sql_string(TIME_PATTERN))
}

fn inserts(
    s: &mut String,
    job: &Job,
    columns: &Columns,
    aggregates: &Aggregates,
    rules: &[RuleViews],
) {
    let keys = key_list(job);
    let mut statements = Vec::new();
    let mut report = vec![rfc3339("`vigil_start`"), rfc3339("`vigil_end`")];
    report.extend(keys.iter().cloned());
    for i in 0..aggregates.visible {
        report.push(format!("`vigil_agg_{i}`"));
    }
    statements.push(format!(
        "INSERT INTO `vigil_report`\nSELECT {}\nFROM `vigil_windows`;",
        report.join(", ")
    ));
    if !rules.is_empty() {
        let mut parts = Vec::new();
        for (rule, views) in job.rules.iter().zip(rules) {
            for (state, view) in [("firing", &views.fired), ("resolved", &views.resolved)] {
                parts.push(alert_select(rule, state, view, &keys));
            }
        }
        statements.push(format!(
            "INSERT INTO `vigil_alerts`\n{};",
            parts.join("\nUNION ALL\n")
        ));
    }
    if job.late_output.is_some() {
        let cols: Vec<String> = columns.physical().iter().map(|(n, _)| ident(n)).collect();
        statements.push(format!(
            "INSERT INTO `vigil_late`\nSELECT {}\nFROM `vigil_selected`\nWHERE `vigil_late`;",
            cols.join(", ")
        ));
    }
    let _ = writeln!(
        s,
        "EXECUTE STATEMENT SET\nBEGIN\n{}\nEND;",
        statements.join("\n\n")
    );
}

fn alert_select(rule: &Rule, state: &str, view: &str, keys: &[String]) -> String {
    let mut cols = vec![
        rfc3339("`vigil_at`"),
        sql_string(&rule.name),
        sql_string(&rule.severity),
        sql_string(state),
    ];
    cols.extend(keys.iter().cloned());
    cols.push("`vigil_value`".into());
    cols.push(sql_string(&rule.text));
    format!("SELECT {} FROM {view}", cols.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_are_day_time_literals_with_milliseconds() {
        assert_eq!(interval(1), "INTERVAL '0 00:00:00.001' DAY TO SECOND(3)");
        assert_eq!(
            interval(90_061_001),
            "INTERVAL '1 01:01:01.001' DAY TO SECOND(3)"
        );
    }

    #[test]
    fn identifiers_and_strings_are_quoted() {
        assert_eq!(ident("a`b"), "`a``b`");
        assert_eq!(sql_string("it's"), "'it''s'");
    }

    #[test]
    fn json_columns_nest_dotted_fields() {
        let mut cols = Vec::new();
        JsonColumn::insert(&mut cols, &["ts"]);
        JsonColumn::insert(&mut cols, &["req", "ms"]);
        JsonColumn::insert(&mut cols, &["req", "path"]);
        let c = Columns::Json(cols);
        assert_eq!(
            c.physical(),
            vec![
                ("ts".to_string(), "STRING".to_string()),
                (
                    "req".to_string(),
                    "ROW<`ms` STRING, `path` STRING>".to_string()
                )
            ]
        );
        assert_eq!(c.field("req.ms"), "`req`.`ms`");
    }
}
