//! Builds the resolved [`Job`] from the flags and the job file: every value
//! validated and turned into a domain type before any input is opened. Usage
//! errors (exit 2) are raised here; later stages trust what they get.

use std::path::PathBuf;

use super::args::JobArgs;
use super::jobfile::{self, JobFileSource};
use crate::agg;
use crate::alert::Rule;
use crate::decode::Format;
use crate::deliver::target::TargetUrl;
use crate::deliver::{DeliveryJob, DEFAULT_ALERT_TTL_MS, MIN_ALERT_TTL_MS};
use crate::error::{Error, Result};
use crate::expr::{Expr, ExprError};
use crate::job::{
    AlertsFormat, BadRecordPolicy, FormatChoice, InputSpec, Job, OutputFormat, WindowSpec,
    DEFAULT_CHECKPOINT_EVERY_MS, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_KEYS, DEFAULT_MAX_LINE_BYTES,
    DEFAULT_WINDOW_MS, MAX_LINE_BYTES_LIMIT,
};
use crate::origin::{JobOrigins, TextOrigin};
use crate::time::{self, TimeFormat};

/// Where an option came from, for error messages.
struct Origin<'a> {
    file: Option<&'a JobFileSource>,
    from_file: bool,
}

impl Origin<'_> {
    fn name(&self, flag: &str) -> String {
        match (self.from_file, self.file) {
            (true, Some(src)) => src.locate(&flag.replace('-', "_")),
            _ => format!("--{flag}"),
        }
    }
}

macro_rules! pick {
    ($cli:expr, $file:expr, $field:ident) => {{
        match (
            &$cli.$field,
            $file.as_ref().and_then(|f: &JobArgs| f.$field.clone()),
        ) {
            (Some(v), _) => (Some(v.clone()), false),
            (None, Some(v)) => (Some(v), true),
            (None, None) => (None, false),
        }
    }};
}

impl Job {
    /// Merges the job file (if any) under the flags, and validates everything.
    pub fn from_args(cli_inputs: &[String], cli: &JobArgs) -> Result<Job> {
        let (file_args, file_inputs, source) = match &cli.config {
            Some(path) => {
                let (a, i, s) = jobfile::load(path)?;
                (Some(a), i, Some(s))
            }
            None => (None, Vec::new(), None),
        };
        let src = source.as_ref();
        let origin = |from_file: bool| Origin {
            file: src,
            from_file,
        };
        let fa = &file_args;

        let raw_inputs: Vec<String> = if cli_inputs.is_empty() {
            file_inputs
        } else {
            cli_inputs.to_vec()
        };
        let inputs = parse_inputs(&raw_inputs)?;

        let (format, ff) = pick!(cli, fa, format);
        let (regex, rf) = pick!(cli, fa, regex);
        let format = match format.as_deref() {
            // --regex alone means --format regex
            None | Some("auto") if regex.is_some() => FormatChoice::Fixed(Format::Regex),
            None | Some("auto") => FormatChoice::Auto,
            Some(name) => FormatChoice::Fixed(parse_format(name).ok_or_else(|| {
                Error::usage(format!(
                    "{}: unknown format '{name}'; expected csv, jsonl, logfmt, regex, nginx, apache, syslog or auto{}",
                    origin(ff).name("format"),
                    crate::suggest::did_you_mean(name, FORMAT_NAMES)
                ))
            })?),
        };
        if format == FormatChoice::Fixed(Format::Regex) && regex.is_none() {
            return Err(Error::usage(
                "--format regex needs --regex PATTERN with named groups",
            ));
        }
        if let (FormatChoice::Fixed(f), Some(_)) = (format, &regex) {
            if f != Format::Regex {
                return Err(Error::usage(format!(
                    "{} goes with --format regex, but {} is {}; drop one of them",
                    origin(rf).name("regex"),
                    origin(ff).name("format"),
                    f.name()
                )));
            }
        }
        if let Some(r) = &regex {
            if let Err(e) = regex::bytes::Regex::new(r) {
                return Err(Error::usage(format!(
                    "--regex: invalid pattern: {}",
                    e.to_string().lines().last().unwrap_or("")
                )));
            }
        }
        let (delim, df) = pick!(cli, fa, delimiter);
        let delimiter = match delim.as_deref() {
            None => b',',
            Some("\\t") | Some("tab") => b'\t',
            Some(d) if d.len() == 1 => d.as_bytes()[0],
            Some(d) => {
                return Err(Error::usage(format!(
                    "{}: '{d}' is not a single-byte delimiter; expected one character such as ';' or '\\t'",
                    origin(df).name("delimiter")
                )))
            }
        };
        let no_header = cli.no_header || fa.as_ref().is_some_and(|f| f.no_header);
        let (columns, _) = pick!(cli, fa, columns);
        if no_header && columns.is_none() {
            return Err(Error::usage(
                "--no-header needs --columns a,b,c to name the CSV columns",
            ));
        }

        let (time_field, time_from_file) = pick!(cli, fa, time);
        let (tf, tff) = pick!(cli, fa, time_format);
        let time_format_text = tf.clone().unwrap_or_else(|| "auto".to_string());
        let time_format =
            match tf {
                None => None,
                Some(spec) => Some(TimeFormat::from_spec(&spec).map_err(|e| {
                    Error::usage(format!("{}: {e}", origin(tff).name("time-format")))
                })?),
            };
        let (key, key_from_file) = pick!(cli, fa, key);
        let key: Vec<String> = key
            .unwrap_or_default()
            .into_iter()
            .filter(|k| !k.is_empty())
            .collect();

        let dur = |value: Option<String>, from_file: bool, flag: &str| -> Result<Option<i64>> {
            match value {
                None => Ok(None),
                Some(v) => time::parse_duration(&v)
                    .map(Some)
                    .map_err(|e| Error::usage(format!("{}: {e}", origin(from_file).name(flag)))),
            }
        };
        let (w, wf) = pick!(cli, fa, window);
        let window_ms = dur(w, wf, "window")?;
        let (s, sf) = pick!(cli, fa, slide);
        let slide_ms = dur(s, sf, "slide")?;
        let (g, gf) = pick!(cli, fa, session);
        let gap_ms = dur(g, gf, "session")?;
        let (cw, _) = pick!(cli, fa, count_window);
        let kinds = [window_ms.is_some(), gap_ms.is_some(), cw.is_some()]
            .iter()
            .filter(|b| **b)
            .count();
        if kinds > 1 {
            return Err(Error::usage(
                "choose one window kind: --window (with optional --slide), --session or --count-window",
            ));
        }
        let window = match (window_ms, slide_ms, gap_ms, cw) {
            (_, Some(_), Some(_), _) | (_, Some(_), _, Some(_)) => {
                return Err(Error::usage(
                    "--slide goes with --window, not with --session or --count-window",
                ))
            }
            (Some(size), Some(slide), _, _) => {
                if slide > size {
                    return Err(Error::usage(format!(
                        "--slide {} is larger than --window {}; expected a slide no larger than the window",
                        super::check::human_duration(slide),
                        super::check::human_duration(size)
                    )));
                }
                if slide == size {
                    WindowSpec::Tumbling { size }
                } else {
                    let per_record = windows_per_record(size, slide);
                    if per_record > MAX_WINDOWS_PER_RECORD {
                        return Err(Error::usage(format!(
                            "--window {} with --slide {} puts every record in {per_record} windows; at most {MAX_WINDOWS_PER_RECORD} are allowed: expected a --slide of at least {}",
                            super::check::human_duration(size),
                            super::check::human_duration(slide),
                            super::check::human_duration(
                                size.div_euclid(MAX_WINDOWS_PER_RECORD)
                                    + i64::from(size % MAX_WINDOWS_PER_RECORD != 0)
                            )
                        )));
                    }
                    WindowSpec::Sliding { size, slide }
                }
            }
            (Some(size), None, _, _) => WindowSpec::Tumbling { size },
            (None, Some(_), _, _) => return Err(Error::usage("--slide needs --window")),
            (None, None, Some(gap), _) => WindowSpec::Session { gap },
            (None, None, None, Some(0)) => {
                return Err(Error::usage(
                    "--count-window: expected a positive number of records",
                ))
            }
            (None, None, None, Some(n)) => WindowSpec::Count { n },
            (None, None, None, None) => WindowSpec::Tumbling {
                size: DEFAULT_WINDOW_MS,
            },
        };

        let (agg_text, af) = pick!(cli, fa, agg);
        let agg_text = agg_text.unwrap_or_else(|| "count()".to_string());
        let agg_origin = text_origin(af, src.and_then(|s| s.agg.clone()), "agg", &agg_text);
        let aggs = agg::parse_agg_list(&agg_text).map_err(|(col, msg)| {
            Error::usage(agg_origin.describe(&ExprError {
                text: agg_text.clone(),
                column: agg_text[..col.min(agg_text.len())].chars().count(),
                message: msg,
            }))
        })?;

        let (where_text, wf) = pick!(cli, fa, where_);
        let where_origin = text_origin(
            wf,
            src.and_then(|s| s.where_.clone()),
            "where",
            where_text.as_deref().unwrap_or(""),
        );
        let where_expr = match &where_text {
            None => None,
            Some(t) => Some(Expr::parse(t).map_err(|e| Error::usage(where_origin.describe(&e)))?),
        };
        let evals_from_file = cli.eval.is_empty();
        let eval_texts = if evals_from_file {
            fa.as_ref().map(|f| f.eval.clone()).unwrap_or_default()
        } else {
            cli.eval.clone()
        };
        let mut evals = Vec::new();
        let mut eval_origins = Vec::new();
        for (i, text) in eval_texts.into_iter().enumerate() {
            let file_origin = src.and_then(|s| s.evals.get(i).cloned());
            let eval_origin = text_origin(evals_from_file, file_origin, "eval", &text);
            let Some((name, expr)) = text.split_once('=') else {
                return Err(Error::usage(eval_origin.message(&format!(
                    "'{text}': expected NAME=EXPR, e.g. 'is_error = status >= 500'"
                ))));
            };
            let name = name.trim();
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
            {
                return Err(Error::usage(eval_origin.message(&format!(
                    "'{text}': '{name}' is not a field name; expected letters, digits and _"
                ))));
            }
            let parsed = Expr::parse(expr.trim()).map_err(|e| {
                let mut o = eval_origin.clone();
                if o.pieces.is_empty() {
                    o.label = format!("--eval {name}");
                }
                Error::usage(o.describe(&e))
            })?;
            evals.push((name.to_string(), parsed, expr.trim().to_string()));
            eval_origins.push(eval_origin);
        }

        let (md, mdf) = pick!(cli, fa, max_delay);
        let max_delay = match md {
            None => 0,
            Some(v) => time::parse_delay(&v)
                .map_err(|e| Error::usage(format!("{}: {e}", origin(mdf).name("max-delay"))))?,
        };
        let (wm_scope, wmf) = pick!(cli, fa, watermark);
        let watermark_per_input = match wm_scope.as_deref() {
            None | Some("global") => false,
            Some("per-input") => true,
            Some(other) => {
                return Err(Error::usage(format!(
                    "{} '{other}': expected global or per-input",
                    origin(wmf).name("watermark")
                )))
            }
        };
        let (input_field, iff) = pick!(cli, fa, input_field);
        if let Some(name) = &input_field {
            if name.is_empty() || name.chars().any(|c| c.is_control() || c == ',') {
                return Err(Error::usage(format!(
                    "{} '{}': expected a field name",
                    origin(iff).name("input-field"),
                    crate::sink::console::escape_controls(name)
                )));
            }
        }
        // Lookup tables: a repeated flag replaces the file's list, as --eval does.
        let lookup_paths = if cli.lookup.is_empty() {
            fa.as_ref().map(|f| f.lookup.clone()).unwrap_or_default()
        } else {
            cli.lookup.clone()
        };
        let mut taken: Vec<(&str, String)> = evals
            .iter()
            .map(|(name, _, _)| (name.as_str(), "an --eval field".to_string()))
            .collect();
        if let Some(t) = &time_field {
            taken.push((t.as_str(), "the --time field".to_string()));
        }
        if let Some(f) = &input_field {
            taken.push((f.as_str(), "the --input-field field".to_string()));
        }
        let lookups = crate::lookup::Lookups::load(&lookup_paths, &key, &taken)?;
        let (late_output, _) = pick!(cli, fa, late_output);
        let (it, itf) = pick!(cli, fa, idle_timeout);
        let idle_timeout = dur(it, itf, "idle-timeout")?;

        let rules_from_file = cli.alert.is_empty();
        let rule_texts = if rules_from_file {
            fa.as_ref().map(|f| f.alert.clone()).unwrap_or_default()
        } else {
            cli.alert.clone()
        };
        let mut rules = Vec::new();
        let mut rule_origins = Vec::new();
        for (i, text) in rule_texts.iter().enumerate() {
            let file_origin = src.and_then(|s| s.rules.get(i).cloned());
            let rule_origin = text_origin(rules_from_file, file_origin, "alert", text);
            rules.push(Rule::parse(text, i).map_err(|e| Error::usage(rule_origin.describe(&e)))?);
            rule_origins.push(rule_origin);
        }
        for (i, r) in rules.iter().enumerate() {
            if rules[..i].iter().any(|o| o.name == r.name) {
                return Err(Error::usage(rule_origins[i].message(&format!(
                    "two rules are named '{}'; expected distinct names",
                    r.name
                ))));
            }
        }

        let (output, _) = pick!(cli, fa, output);
        // `-o -` is stdout, as everywhere else
        let output = output.filter(|p| p.as_os_str() != "-");
        let (of, off) = pick!(cli, fa, output_format);
        let output_format = match of.as_deref() {
            None | Some("csv") => OutputFormat::Csv,
            Some("jsonl") | Some("json") => OutputFormat::Jsonl,
            Some("table") => OutputFormat::Table,
            Some(o) => {
                return Err(Error::usage(format!(
                    "{}: unknown output format '{o}'; expected csv, jsonl or table{}",
                    origin(off).name("output-format"),
                    crate::suggest::did_you_mean(o, ["csv", "jsonl", "table"])
                )))
            }
        };
        let (alerts, _) = pick!(cli, fa, alerts);
        let (alf, alff) = pick!(cli, fa, alerts_format);
        let alerts_format = match (alf.as_deref(), &alerts) {
            (None, None) => AlertsFormat::Text,
            (None, Some(_)) | (Some("csv"), _) => AlertsFormat::Csv,
            (Some("jsonl") | Some("json"), _) => AlertsFormat::Jsonl,
            (Some("text"), _) => AlertsFormat::Text,
            (Some(o), _) => {
                return Err(Error::usage(format!(
                    "{}: unknown alerts format '{o}'; expected csv or jsonl{}",
                    origin(alff).name("alerts-format"),
                    crate::suggest::did_you_mean(o, ["csv", "jsonl", "text"])
                )))
            }
        };
        let (on_alert, _) = pick!(cli, fa, on_alert);
        let fail_on_alert = cli.fail_on_alert || fa.as_ref().is_some_and(|f| f.fail_on_alert);
        let delivery = {
            // Repeatable: the flags replace the job file's list, like --alert.
            let targets = |flag: &str, cli_list: &[String], file_list: Option<&Vec<String>>| {
                let (list, from_file) = match file_list {
                    Some(f) if cli_list.is_empty() => (f.clone(), true),
                    _ => (cli_list.to_vec(), false),
                };
                list.iter()
                    .map(|text| {
                        TargetUrl::parse(text).map_err(|e| {
                            Error::usage(format!("{}: {e}", origin(from_file).name(flag)))
                        })
                    })
                    .collect::<Result<Vec<_>>>()
            };
            let webhooks = targets("webhook", &cli.webhook, fa.as_ref().map(|f| &f.webhook))?;
            let alertmanagers = targets(
                "alertmanager",
                &cli.alertmanager,
                fa.as_ref().map(|f| &f.alertmanager),
            )?;
            let (ttl, ttlf) = pick!(cli, fa, alert_ttl);
            let alert_ttl_ms = dur(ttl, ttlf, "alert-ttl")?.unwrap_or(DEFAULT_ALERT_TTL_MS);
            if alert_ttl_ms < MIN_ALERT_TTL_MS {
                return Err(Error::usage(format!(
                    "{}: {} is too short; expected at least 1s (firing alerts are re-sent every ttl/4)",
                    origin(ttlf).name("alert-ttl"),
                    super::check::human_duration(alert_ttl_ms)
                )));
            }
            DeliveryJob {
                webhooks,
                alertmanagers,
                alert_ttl_ms,
            }
        };
        let (checkpoint, _) = pick!(cli, fa, checkpoint);
        let (ce, cef) = pick!(cli, fa, checkpoint_every);
        let checkpoint_every =
            dur(ce, cef, "checkpoint-every")?.unwrap_or(DEFAULT_CHECKPOINT_EVERY_MS);
        let incremental = cli.incremental || fa.as_ref().is_some_and(|f| f.incremental);
        if incremental && checkpoint.is_none() {
            return Err(Error::usage(
                "--incremental needs --checkpoint FILE to keep open windows in",
            ));
        }
        if output_format == OutputFormat::Table && checkpoint.is_some() {
            // A table is aligned over all its rows, so it is held to the end
            // of a run while checkpoints move past them: a killed run would
            // resume without them. Refused rather than made a second format.
            return Err(Error::usage(
                "--output-format table cannot be used with --checkpoint: a table is aligned over all its rows and written at the end, so a killed run could not resume it; use csv or jsonl with --checkpoint",
            ));
        }
        let (obr, obrf) = pick!(cli, fa, on_bad_record);
        let on_bad_record = match obr.as_deref() {
            None | Some("skip") => BadRecordPolicy::Skip,
            Some("fail") => BadRecordPolicy::Fail,
            Some(path) => {
                // `fial` is a typo, not a file name: say so instead of creating it
                if let Some(word) = crate::suggest::closest(path, ["skip", "fail"]) {
                    if !path.contains(['/', '.']) {
                        return Err(Error::usage(format!(
                            "{}: '{path}': did you mean '{word}'? (expected skip, fail, or a FILE for the bad lines; write ./{path} for a file of that name)",
                            origin(obrf).name("on-bad-record")
                        )));
                    }
                }
                BadRecordPolicy::File(PathBuf::from(path))
            }
        };
        let (html, _) = pick!(cli, fa, html);
        let (mk, _) = pick!(cli, fa, max_keys);
        let max_keys = mk.unwrap_or(DEFAULT_MAX_KEYS);
        if max_keys == 0 {
            return Err(Error::usage("--max-keys: expected a positive number"));
        }
        let (mlb, mlbf) = pick!(cli, fa, max_line_bytes);
        let max_line_bytes = match mlb {
            None => DEFAULT_MAX_LINE_BYTES,
            Some(text) => parse_size(&text)
                .filter(|n| (1..=MAX_LINE_BYTES_LIMIT).contains(n))
                .ok_or_else(|| {
                    Error::usage(format!(
                        "{} '{text}': expected a number of bytes from 1 to 1G, such as 65536, 64K or 4M",
                        origin(mlbf).name("max-line-bytes")
                    ))
                })?,
        };
        let (mc, mcf) = pick!(cli, fa, max_connections);
        let max_connections = match mc {
            None => DEFAULT_MAX_CONNECTIONS,
            Some(0) => {
                return Err(Error::usage(format!(
                    "{}: expected a positive number",
                    origin(mcf).name("max-connections")
                )))
            }
            Some(n) => n,
        };
        let (th, thf) = pick!(cli, fa, threads);
        let threads = match th {
            Some(0) => return Err(Error::usage("--threads: expected a positive number")),
            Some(n) if n > MAX_THREADS => {
                return Err(Error::usage(format!(
                    "{} {n}: at most {MAX_THREADS} worker threads; expected a number up to {MAX_THREADS} (this machine has {})",
                    origin(thf).name("threads"),
                    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
                )))
            }
            Some(n) => n,
            None => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
        };
        for (i, input) in inputs.iter().enumerate() {
            if matches!(input, InputSpec::Stdin) && inputs[..i].contains(input) {
                return Err(Error::usage("stdin ('-') can be given only once"));
            }
        }
        if checkpoint.is_some()
            && inputs.iter().any(|i| !matches!(i, InputSpec::File(_)))
            && inputs.len() > 1
        {
            return Err(Error::usage(
                "--checkpoint with several inputs needs them all to be files; mix stdin or TCP with files in separate runs",
            ));
        }

        let written: [(&str, Option<&PathBuf>); 6] = [
            ("--output", output.as_ref()),
            ("--alerts", alerts.as_ref()),
            ("--late-output", late_output.as_ref()),
            (
                "--on-bad-record",
                match &on_bad_record {
                    BadRecordPolicy::File(p) => Some(p),
                    _ => None,
                },
            ),
            ("--checkpoint", checkpoint.as_ref()),
            ("--html", html.as_ref()),
        ];
        for (i, (flag, path)) in written.iter().enumerate() {
            let Some(path) = path else { continue };
            // Two outputs (or an output and the checkpoint) in one file would
            // write over each other.
            if let Some((other, Some(other_path))) = written[..i]
                .iter()
                .find(|(_, p)| p.is_some_and(|p| same_path(p, path)))
            {
                return Err(Error::usage(format!(
                    "{flag} {} and {other} {} are the same file; expected a path of its own for each",
                    path.display(),
                    other_path.display()
                )));
            }
            for input in &inputs {
                if let InputSpec::File(input) = input {
                    if same_file(path, input) {
                        return Err(Error::usage(format!(
                            "{flag} {} is also an input: writing it would destroy what is read; choose another path",
                            path.display()
                        )));
                    }
                }
            }
        }
        let origins = JobOrigins {
            time: origin(time_from_file).name("time"),
            key: origin(key_from_file).name("key"),
            agg: agg_origin,
            where_: where_origin,
            evals: eval_origins,
            rules: rule_origins,
        };
        if watermark_per_input {
            if !inputs.iter().all(|i| matches!(i, InputSpec::File(_))) {
                return Err(Error::usage(
                    "--watermark per-input: every input must be a file (stdin and TCP streams share one watermark)",
                ));
            }
            if rules
                .iter()
                .any(|r| matches!(r.condition, crate::alert::Condition::Absent(_)))
            {
                return Err(Error::usage(
                    "--watermark per-input cannot go with absent(): a dead-man switch needs one watermark for all keys",
                ));
            }
        }
        Ok(Job {
            origins,
            inputs,
            format,
            regex,
            delimiter,
            has_header: !no_header,
            columns,
            time_field,
            time_format,
            time_format_text,
            key,
            window,
            aggs,
            where_expr,
            where_text,
            evals,
            lookups,
            max_delay,
            watermark_per_input,
            input_field,
            late_output,
            html,
            idle_timeout,
            rules,
            output,
            output_format,
            alerts,
            alerts_format,
            on_alert,
            delivery,
            fail_on_alert,
            checkpoint,
            checkpoint_every,
            incremental,
            fresh: cli.fresh,
            on_bad_record,
            max_keys,
            max_line_bytes,
            max_connections,
            threads,
            quiet: cli.quiet || fa.as_ref().is_some_and(|f| f.quiet),
            progress: cli.progress || fa.as_ref().is_some_and(|f| f.progress),
            per_record: cli.per_record,
        })
    }
}

/// Where a text option came from: its job-file values when the file set it,
/// else the flag.
fn text_origin(from_file: bool, file: Option<TextOrigin>, flag: &str, text: &str) -> TextOrigin {
    match file {
        Some(o) if from_file && o.text == text => o,
        Some(o) if from_file => TextOrigin {
            pieces: Vec::new(),
            text: text.to_string(),
            ..o
        },
        _ => TextOrigin::flag(flag, text),
    }
}

/// True when `a` and `b` name the same existing file (same device and inode).
fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// True when `a` and `b` are one file: the same existing file, or, when
/// neither exists yet, the same place to create it.
fn same_path(a: &std::path::Path, b: &std::path::Path) -> bool {
    if same_file(a, b) {
        return true;
    }
    let place = |p: &std::path::Path| {
        let parent = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => std::path::Path::new("."),
        };
        Some(std::fs::canonicalize(parent).ok()?.join(p.file_name()?))
    };
    !a.exists() && !b.exists() && place(a).is_some() && place(a) == place(b)
}

/// Every `--format` name (for "did you mean").
const FORMAT_NAMES: [&str; 8] = [
    "csv", "jsonl", "logfmt", "regex", "nginx", "apache", "syslog", "auto",
];

/// Most windows one record may belong to (SPEC 1): beyond it a sliding
/// window job does window bookkeeping instead of work (`--window 1d --slide
/// 1ms` is 86,400,000 windows per record).
pub const MAX_WINDOWS_PER_RECORD: i64 = 10_000;
/// Most `--threads`: more only costs thread creation and memory (each is a
/// shard), and 20,000 threads took minutes to start.
pub const MAX_THREADS: usize = 1024;

/// A size in bytes: digits, then optionally K, M or G (1024-based; `KiB`,
/// `MiB`, `GiB` and `KB`... read the same), any case.
fn parse_size(text: &str) -> Option<usize> {
    let t = text.trim();
    let digits = t.len() - t.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let (number, unit) = t.split_at(digits);
    let n: usize = number.parse().ok()?;
    let scale: usize = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(scale)
}

/// How many sliding windows of `size` every `slide` hold one record.
fn windows_per_record(size: i64, slide: i64) -> i64 {
    size / slide + i64::from(size % slide != 0)
}

fn parse_format(name: &str) -> Option<Format> {
    Some(match name {
        "csv" => Format::Csv,
        "jsonl" | "json" | "ndjson" => Format::Jsonl,
        "logfmt" => Format::Logfmt,
        "regex" => Format::Regex,
        "nginx" => Format::Nginx,
        "apache" => Format::Apache,
        "syslog" => Format::Syslog,
        _ => return None,
    })
}

fn parse_inputs(raw: &[String]) -> Result<Vec<InputSpec>> {
    if raw.is_empty() {
        return Ok(vec![InputSpec::Stdin]);
    }
    raw.iter()
        .map(|r| {
            if r == "-" {
                Ok(InputSpec::Stdin)
            } else if let Some(addr) = r.strip_prefix("tcp://") {
                check_tcp_address(addr).map_err(|why| {
                    Error::usage(format!(
                        "input '{r}': {why}; expected tcp://HOST:PORT, e.g. tcp://127.0.0.1:9000"
                    ))
                })?;
                Ok(InputSpec::Tcp(addr.to_string()))
            } else {
                Ok(InputSpec::File(PathBuf::from(r)))
            }
        })
        .collect()
}

/// `HOST:PORT` as a listen address: the port a number up to 65535, the host
/// an IPv4 address (four numbers up to 255), `[IPv6]`, or a host name. Checked
/// here so a typo is a usage error (exit 2), not a failure to listen.
fn check_tcp_address(addr: &str) -> std::result::Result<(), String> {
    let Some((host, port)) = addr.rsplit_once(':') else {
        return Err("no port".to_string());
    };
    if port.parse::<u16>().is_err() {
        return Err(format!("'{port}' is not a port (0 to 65535)"));
    }
    if host.is_empty() {
        return Err(
            "no host (0.0.0.0 listens on every address, 127.0.0.1 on this machine only)"
                .to_string(),
        );
    }
    if let Some(inner) = host.strip_prefix('[') {
        let ip = inner.strip_suffix(']').unwrap_or(inner);
        return match ip.parse::<std::net::Ipv6Addr>() {
            Ok(_) => Ok(()),
            Err(_) => Err(format!("'{host}' is not an IPv6 address")),
        };
    }
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return match host.parse::<std::net::Ipv4Addr>() {
            Ok(_) => Ok(()),
            Err(_) => Err(format!(
                "'{host}' is not an IPv4 address (four numbers from 0 to 255)"
            )),
        };
    }
    let valid_name = host.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    });
    if valid_name {
        Ok(())
    } else {
        Err(format!("'{host}' is not a host name or address"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_addresses() {
        for ok in [
            "127.0.0.1:9000",
            "0.0.0.0:0",
            "localhost:99",
            "[::1]:9000",
            "my-host.example:1",
        ] {
            assert_eq!(check_tcp_address(ok), Ok(()), "{ok}");
        }
        for bad in [
            "256.0.0.1:99",
            "1.2.3:99",
            "127.0.0.1:65536",
            "127.0.0.1",
            ":99",
            "[::g]:1",
            "a_b:1",
            "-x:1",
        ] {
            assert!(check_tcp_address(bad).is_err(), "{bad}");
        }
    }
}
