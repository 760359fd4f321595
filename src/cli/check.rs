//! `vigil check`: validates a job and prints its dataflow plan in a few
//! lines. It takes the same inputs and flags as `vigil run` and opens each
//! file input the way a run does (`pipeline::input`): the header (or first
//! line) is checked against every field the job names, and the first lines
//! are decoded, so that check never approves a job that run refuses. Streams
//! (stdin, TCP) are not read.

use std::fmt::Write as _;

use std::sync::Arc;

use super::args::RunArgs;
use crate::deliver::target::TargetKind;
use crate::error::{Error, Result};
use crate::job::{
    AlertsFormat, BadRecordPolicy, FormatChoice, InputSpec, Job, OutputFormat, WindowSpec,
};
use crate::pipeline::input::probe;
use crate::plan::RecordPlan;
use crate::source;

/// A duration in the units people write (`1h30m`).
pub fn human_duration(ms: i64) -> String {
    crate::time::format_duration(ms)
}

pub fn describe_window(w: WindowSpec) -> String {
    w.describe()
}

/// The plan as text.
pub fn plan_text(job: &Job, plan: &RecordPlan) -> String {
    let mut s = String::new();
    let inputs: Vec<String> = job
        .inputs
        .iter()
        .map(|i| match i {
            InputSpec::File(p) => format!("{} (file, memory-mapped)", p.display()),
            InputSpec::Stdin => "stdin (stream)".to_string(),
            InputSpec::Tcp(a) => format!("tcp://{a} (listen; a stream per connection)"),
        })
        .collect();
    let _ = writeln!(s, "source:     {}", inputs.join(", "));
    let format = match job.format {
        FormatChoice::Auto => "auto (by extension, else by the first line)".to_string(),
        FormatChoice::Fixed(f) => f.name().to_string(),
    };
    let time = match &job.time_field {
        Some(t) => format!("event time from '{t}' ({})", job.time_format_text),
        None => "processing time (arrival)".to_string(),
    };
    let _ = writeln!(
        s,
        "decoder:    {format}; {time}; fields: {}",
        plan.fields.join(", ")
    );
    for (name, _, text) in &job.evals {
        let _ = writeln!(s, "eval:       {name} = {text}");
    }
    for t in &job.lookups.tables {
        let join: Vec<&str> = t.join.iter().map(|(n, _)| n.as_str()).collect();
        let _ = writeln!(
            s,
            "lookup:     {}: join on {}; fields {}; {} row{}",
            t.path.display(),
            join.join(", "),
            if t.fields.is_empty() {
                "none".to_string()
            } else {
                t.fields.join(", ")
            },
            t.rows(),
            if t.rows() == 1 { "" } else { "s" }
        );
    }
    if let Some(w) = &job.where_text {
        let _ = writeln!(s, "where:      {w}");
    }
    let key = if job.key.is_empty() {
        "one global key".to_string()
    } else {
        job.key.join(", ")
    };
    let _ = writeln!(
        s,
        "shards:     {} (by hash of: {key}; at most {} keys)",
        job.threads, job.max_keys
    );
    let mut window = job.window.describe();
    if job.time_field.is_some() {
        let _ = write!(
            window,
            "; watermark = max event time - {}",
            human_duration(job.max_delay)
        );
    }
    if let Some(it) = job.idle_timeout {
        let _ = write!(window, "; idle timeout {}", human_duration(it));
    }
    let _ = writeln!(s, "window:     {window}");
    let visible: Vec<&str> = plan.specs[..plan.visible]
        .iter()
        .map(|a| a.column.as_str())
        .collect();
    let mut aggs = visible.join(", ");
    for (range, what) in [
        (plan.visible..plan.rule_specs_end, "for rules"),
        (
            plan.rule_specs_end..plan.specs.len(),
            "for history functions",
        ),
    ] {
        if !range.is_empty() {
            let hidden: Vec<&str> = plan.specs[range]
                .iter()
                .map(|a| a.column.as_str())
                .collect();
            let _ = write!(aggs, " ({what}: {})", hidden.join(", "));
        }
    }
    let _ = writeln!(s, "aggregates: {aggs}");
    for h in plan.history_columns() {
        let state = match h.max_points {
            Some(n) => format!("at most {n} points per key"),
            None => "O(1) state per key, kept for the run".to_string(),
        };
        let _ = writeln!(
            s,
            "history:    {} = {}({}, {}){}; series of {} at each window end; {state}",
            h.spec.column,
            h.func.name(),
            h.series,
            h.func.parameters(&human_duration),
            if h.reported { "" } else { " (for rules)" },
            h.series,
        );
    }
    for r in &plan.rules {
        let _ = writeln!(
            s,
            "rule:       {} [{}] for {}: {}",
            r.rule.name, r.rule.severity, r.rule.for_windows, r.rule.text
        );
    }
    let report = match &job.output {
        Some(p) => p.display().to_string(),
        None => "stdout".to_string(),
    };
    let fmt = match job.output_format {
        OutputFormat::Csv => "csv",
        OutputFormat::Jsonl => "jsonl",
        OutputFormat::Table => "table",
    };
    let alerts = match (&job.alerts, job.alerts_format) {
        (None, _) => "stderr (text)".to_string(),
        (Some(p), AlertsFormat::Jsonl) => format!("{} (jsonl)", p.display()),
        (Some(p), _) => format!("{} (csv)", p.display()),
    };
    let _ = write!(
        s,
        "sinks:      report -> {report} ({fmt}); alerts -> {alerts}"
    );
    if let Some(l) = &job.late_output {
        let _ = write!(s, "; late -> {}", l.display());
    }
    match &job.on_bad_record {
        BadRecordPolicy::Skip => {}
        BadRecordPolicy::Fail => s.push_str("; bad records fail the run"),
        BadRecordPolicy::File(p) => {
            let _ = write!(s, "; bad records -> {}", p.display());
        }
    }
    if let Some(h) = &job.html {
        let _ = write!(s, "; html page -> {}", h.display());
    }
    if let Some(cmd) = &job.on_alert {
        let _ = write!(s, "; on alert: sh -c {cmd:?}");
    }
    s.push('\n');
    // URLs as printed: masked, never with a password
    for (kind, url) in job.delivery.targets() {
        let what = match kind {
            TargetKind::Webhook => format!("webhook {url} (one JSON event per POST)"),
            TargetKind::Alertmanager => format!(
                "alertmanager {} (API v2; ttl {}, firing alerts re-sent every {})",
                url.join("/api/v2/alerts"),
                human_duration(job.delivery.alert_ttl_ms),
                human_duration(job.delivery.alert_ttl_ms / 4)
            ),
        };
        let _ = writeln!(s, "deliver:    {what}");
    }
    match &job.checkpoint {
        Some(p) => {
            let _ = writeln!(
                s,
                "checkpoint: {} every {}{}",
                p.display(),
                human_duration(job.checkpoint_every),
                if job.incremental {
                    "; incremental (open windows kept at end of input)"
                } else {
                    ""
                }
            );
        }
        None => s.push_str("checkpoint: none\n"),
    }
    s
}

/// Validates the job of `args` against its inputs and prints the plan; exit
/// 0 if valid, a usage error (exit 2) if not.
pub fn run(args: &RunArgs) -> Result<i32> {
    let job = Job::from_args(&args.inputs, &args.job)?;
    let plan = RecordPlan::new(&job)?;
    let mut notes = Vec::new();
    for input in &job.inputs {
        notes.push(check_input(&job, &plan, input)?);
    }
    crate::sink::console::print(&plan_text(&job, &plan))?;
    for note in notes {
        crate::outln!("input:      {note}")?;
    }
    crate::outln!("ok: the job is valid")?;
    Ok(0)
}

/// Opens one input as a run would and decodes its first lines; the line
/// describing what was found, or the error a run would stop with.
fn check_input(job: &Job, plan: &RecordPlan, input: &InputSpec) -> Result<String> {
    let path = match input {
        InputSpec::File(p) => p,
        other => return Ok(format!("{}: a stream, not read by check", other.describe())),
    };
    // Whatever stops a run here makes the job invalid: exit 2.
    let as_usage = |e: Error| match e {
        Error::Runtime(m) => Error::Usage(m),
        other => other,
    };
    let file = source::open_file(path).map_err(as_usage)?.ok_or_else(|| {
        Error::usage(format!(
            "{} is not a regular file: read it as a stream with `cat {} | vigil run -`",
            path.display(),
            path.display()
        ))
    })?;
    let name = path.display().to_string();
    let bytes = file.bytes();
    let probe = probe(job, plan, Arc::from(name.as_str()), Some(path), bytes)?;
    for field in &probe.never_seen {
        crate::diag!(
            "vigil: warning: {name}: field '{field}' is in none of the first {} records",
            probe.lines
        );
    }
    for warning in &probe.never_numeric {
        eprintln!(
            "vigil: warning: {name}: in the first {} records, {warning}",
            probe.lines
        );
    }
    if probe.lines > 0 && probe.bad == probe.lines {
        return Err(Error::usage(format!(
            "{name}: every one of the first {} records is bad, so a run would fail; {}",
            probe.lines,
            probe.first_bad.as_deref().unwrap_or("")
        )));
    }
    let mut note = format!("{name}: {}", probe.format.name());
    if let Some(columns) = &probe.columns {
        // the header is data: bounded and escaped
        let header = columns.join(", ");
        let shown = crate::sink::console::clip(&header, crate::sink::console::ECHO_BYTES);
        let _ = write!(
            note,
            " (header: {})",
            crate::sink::console::escape_controls(&shown)
        );
    }
    if probe.lines == 0 {
        note.push_str("; no records");
        return Ok(note);
    }
    let _ = write!(
        note,
        "; {} {} record{} read",
        if probe.complete { "all" } else { "first" },
        probe.lines,
        if probe.lines == 1 { "" } else { "s" }
    );
    if probe.bad > 0 {
        let _ = write!(
            note,
            ", {} bad (first at {})",
            probe.bad,
            probe.first_bad.as_deref().unwrap_or("?")
        );
    }
    if probe.bad_values > 0 {
        let _ = write!(note, ", {} values not numbers", probe.bad_values);
    }
    if probe.filtered > 0 {
        let _ = write!(note, ", {} removed by --where", probe.filtered);
    }
    Ok(note)
}
