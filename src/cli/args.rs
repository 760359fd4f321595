//! What the user typed, as clap parses it. Nothing here is validated beyond
//! its shape: [`super::config`] turns it into a [`super::Job`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const RUN_EXAMPLES: &str = "\
Examples:
  vigil run testdata/metrics.csv --time ts --key host,metric --window 1m \\
      --agg 'count(), avg(value), p95(value)'
  tail -F access.log | vigil run --format nginx --window 1m \\
      --eval 'is_error = status >= 500' --agg 'count(), avg(is_error) as error_ratio'
  vigil run -c testdata/job.toml --checkpoint run.ckpt --incremental";

const CHECK_EXAMPLES: &str = "\
Examples:
  vigil check -c testdata/job.toml
  vigil check testdata/metrics.csv --time ts --key host --alert 'avg(value) > 90 for 3'";

const TEST_EXAMPLES: &str = "\
Examples:
  vigil test testdata/rules.test.toml";

const EXPORT_FLINK_EXAMPLES: &str = "\
Examples:
  vigil export flink -c testdata/job.toml -o /data/report > job.sql
  sql-client.sh -f job.sql
  vigil export flink --flink-source kafka --kafka-brokers kafka-1:9092 --kafka-topic metrics \\
      --format csv --columns ts,host,metric,value --time ts --key host --window 1m -o /data/report";

/// Windowed event-time aggregates and threshold alerts over files, stdin and TCP.
#[derive(Debug, Parser)]
#[command(name = "vigil", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Process inputs, emit aggregates and alerts.
    ///
    /// Reads the inputs in the order given as one stream, groups records by
    /// --key into windows of event time (--time) or arrival time, writes one
    /// report row per key and window (-o), evaluates --alert rules on each,
    /// and at the end prints a summary line on stderr (records=, bad=, ...).
    #[command(after_help = RUN_EXAMPLES)]
    Run(RunArgs),
    /// Validate a job and print its dataflow plan; exit 0 if valid, 2 if not.
    ///
    /// Takes the inputs and options of vigil run. Each file input is opened
    /// as a run opens it: every field the job names is checked against the
    /// CSV header (or --columns, the log format's fields, the --regex
    /// groups), and its first 1000 lines are decoded, so check refuses what
    /// run would refuse, with the same message, and reports bad lines and
    /// values that are not numbers. Streams (stdin, tcp://) are not read;
    /// nothing is written.
    #[command(after_help = CHECK_EXAMPLES)]
    Check(RunArgs),
    /// Run alert-rule test files; exit 0 if all pass, 1 with a diff if any fails.
    ///
    /// A test file is TOML. It names the job, as config = "job.toml"
    /// (relative to the test file) or as an inline [job] table with the keys
    /// of a job file, and lists [[test]] cases. Each case has an optional
    /// name; its records, inline as input = """...""" (CSV unless
    /// input_format = "jsonl") or as input_file = "PATH" (relative to the
    /// test file); and [[test.expect]] tables, the alert events expected in
    /// order, each with time, rule, state and the key fields, optionally
    /// value and severity.
    ///
    /// Only the fields an expectation names are compared: time as an instant
    /// (2026-01-01T00:03:00Z equals 2026-01-01T00:03:00.000Z; a TOML datetime
    /// works too), state whatever its case (FIRING, firing), value as the
    /// number vigil prints (copy it from vigil run's output). A failing case
    /// prints the expected (-) and actual (+) events.
    #[command(after_help = TEST_EXAMPLES)]
    Test(TestArgs),
    /// Print the same job as a script for another engine (see `vigil export flink`).
    #[command(subcommand)]
    Export(ExportTarget),
    /// Print a shell completion script on stdout.
    Completions(CompletionArgs),
    /// Print the man page (roff) on stdout.
    #[command(hide = true)]
    Man,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Input files, `-` for stdin, or tcp://HOST:PORT to listen on. None means stdin.
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<String>,
    #[command(flatten)]
    pub job: JobArgs,
}

#[derive(Debug, Subcommand)]
pub enum ExportTarget {
    /// Print a Flink SQL script (Flink 2.x, for `sql-client.sh -f`) that runs
    /// the job on a Flink cluster; exit 2 naming any feature that does not map.
    #[command(after_help = EXPORT_FLINK_EXAMPLES)]
    Flink(FlinkExportArgs),
}

#[derive(Debug, Args)]
pub struct FlinkExportArgs {
    /// Input files (they become Flink filesystem tables at their absolute
    /// paths); `-` and tcp:// inputs need --flink-source kafka.
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<String>,
    #[command(flatten)]
    pub job: JobArgs,
    /// Where the Flink job reads its records: `files` (default: the inputs) or
    /// `kafka` (a topic, with --kafka-brokers and --kafka-topic).
    #[arg(long, value_name = "KIND")]
    pub flink_source: Option<String>,
    /// Kafka bootstrap servers for --flink-source kafka, e.g. kafka-1:9092,kafka-2:9092.
    #[arg(long, value_name = "HOSTS")]
    pub kafka_brokers: Option<String>,
    /// Kafka topic for --flink-source kafka; each message is one record (a CSV
    /// line or a JSON object).
    #[arg(long, value_name = "TOPIC")]
    pub kafka_topic: Option<String>,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Rule test files (TOML).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// bash, zsh, fish, elvish or powershell.
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// Every job option; each is also settable in the TOML job file.
#[derive(Debug, Args, Default, Clone)]
pub struct JobArgs {
    /// TOML job file; flags given on the command line override it.
    ///
    /// Its keys are the long flag names with _ for - (max_delay = "5s"),
    /// inputs = ["metrics/*.csv"] for the INPUTs (* and ? expand), lists as
    /// arrays (key = ["host", "metric"], agg = ["count()", "avg(value)"]).
    /// Three tables group flags: [output] with path, format, alerts,
    /// alerts_format, late_output, html, on_alert, fail_on_alert; [checkpoint] with
    /// path, every, incremental; and one [[alert]] table per rule with name,
    /// when, for, clear, severity. The flag forms work as well: output =
    /// "report.csv", checkpoint = "run.ckpt", alert = ["hot: avg(value) > 90
    /// for 3"]. A flag on the command line replaces the file's value; a
    /// repeated flag (--alert, --eval) replaces the file's whole list. Errors
    /// name the file, line and column.
    #[arg(short = 'c', long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Input format: csv, jsonl, logfmt, regex, nginx, apache, syslog or auto (default).
    ///
    /// auto goes by extension (.csv, .jsonl, .ndjson), else by the first
    /// line: { is jsonl, key=value pairs logfmt, an access-log or syslog line
    /// nginx or syslog, anything else csv with that line as its header.
    /// Fields: csv by its header (or --columns); jsonl by name, nested ones
    /// with dots (a.b.c); logfmt by key; regex by the named groups of
    /// --regex; nginx and apache (combined or common log format):
    /// remote_addr remote_user time request method path protocol status
    /// body_bytes_sent http_referer http_user_agent request_time; syslog
    /// (RFC 3164 and 5424): timestamp host app pid message priority facility
    /// severity msgid structured_data. In the log formats a field that is -
    /// is missing. nginx and apache read their time field as
    /// %d/%b/%Y:%H:%M:%S %z and syslog its timestamp, unless --time-format
    /// says otherwise.
    #[arg(short = 'f', long, value_name = "FMT")]
    pub format: Option<String>,
    /// Named capture groups become fields; implies --format regex.
    ///
    /// For example '^(?P<ts>\S+) (?P<level>\w+) (?P<msg>.*)$'. Lines the
    /// pattern does not match are bad records.
    #[arg(long, value_name = "PATTERN")]
    pub regex: Option<String>,
    /// CSV field delimiter (one byte; `\t` for tab).
    #[arg(long, value_name = "C")]
    pub delimiter: Option<String>,
    /// CSV input has no header row; name the columns with --columns.
    #[arg(long)]
    pub no_header: bool,
    /// CSV column names, for input without a header.
    #[arg(long, value_name = "a,b,c", value_delimiter = ',')]
    pub columns: Option<Vec<String>>,
    /// Event-time field. Without it, processing time (arrival wall clock).
    #[arg(short = 't', long, value_name = "FIELD")]
    pub time: Option<String>,
    /// Time format: auto (default), rfc3339, unix_s, unix_ms, unix_us, unix_ns or a strftime pattern.
    ///
    /// auto reads RFC 3339 / ISO 8601 with or without the T and the offset
    /// (2026-01-01T00:00:00Z, 2014-07-01 00:00:00), and epoch numbers told
    /// apart by magnitude (below 1e11 seconds, 1e14 milliseconds, 1e17
    /// microseconds, else nanoseconds). A pattern such as
    /// '%d/%b/%Y:%H:%M:%S %z' reads anything else. Times without an offset
    /// are UTC; times are kept in whole milliseconds.
    #[arg(long, value_name = "F")]
    pub time_format: Option<String>,
    /// Group-by and shard key fields; none means one global key.
    #[arg(short = 'k', long, value_name = "F1,F2", value_delimiter = ',')]
    pub key: Option<Vec<String>>,
    /// Window size, tumbling unless --slide is given (default 1m).
    ///
    /// DUR, here and for every duration flag, is a whole number of ms, s, m,
    /// h or d, or several combined: 500ms, 10s, 5m, 1h30m, 1d (1.5h is
    /// written 1h30m). Windows are aligned to the Unix epoch and half-open,
    /// [start, end). Without --window, --session or --count-window, windows
    /// are tumbling 1m.
    #[arg(short = 'w', long, value_name = "DUR")]
    pub window: Option<String>,
    /// Sliding windows of --window size every DUR (DUR <= --window).
    #[arg(long, value_name = "DUR")]
    pub slide: Option<String>,
    /// Session windows, closed after GAP (a DUR as for --window) without records for the key.
    #[arg(long, value_name = "GAP")]
    pub session: Option<String>,
    /// A window per key every N records.
    #[arg(long, value_name = "N")]
    pub count_window: Option<u64>,
    /// Aggregates, e.g. 'count(), avg(value), p95(latency_ms) as p95_lat'. Default count().
    ///
    /// Functions: count(), count(FIELD), sum, avg (or mean), min, max,
    /// stddev, var, first, last, rate(FIELD), rate(), p50, p90, p95, p99,
    /// quantile(FIELD, q), distinct(FIELD). Each is a report column named
    /// FUNC_FIELD (avg_value) or its alias. A value that is empty or not a
    /// number is missing for the aggregates over it (counted as bad_values).
    /// An undefined result (the stddev of one value, a result beyond the
    /// range of a 64-bit float) is an empty CSV field and null in JSON.
    #[arg(short = 'a', long, value_name = "LIST")]
    pub agg: Option<String>,
    /// Keep only records for which EXPR is true, e.g. 'status >= 500'.
    #[arg(long = "where", value_name = "EXPR")]
    pub where_: Option<String>,
    /// Derived field, repeatable, e.g. 'is_error = status >= 500' (true is 1, false 0).
    #[arg(long, value_name = "NAME=EXPR")]
    pub eval: Vec<String>,
    /// Per-key fields from a CSV table (header first), repeatable, e.g. thresholds: 'avg(value) > max_cpu'.
    ///
    /// The table's columns named like --key fields are the join key (any of
    /// them: a host,metric job can join a table of host alone); its other
    /// columns become fields that alert rules, --where, --eval and
    /// aggregates use by name. A key without a row, or an empty cell, has
    /// the field missing (a comparison with it is false). Refused (exit 2):
    /// a table without key columns, two rows for one key, a column named
    /// like an input, --eval, --time or other table's field. vigil check
    /// lists the tables; their content is part of the checkpoint's job.
    #[arg(long, value_name = "FILE")]
    pub lookup: Vec<PathBuf>,
    /// Bounded out-of-orderness (watermark delay, a DUR as for --window); default 0.
    #[arg(long, value_name = "DUR")]
    pub max_delay: Option<String>,
    /// `global` (default): the inputs are one stream in event time and share
    /// one watermark. `per-input`: each file input has its own watermark
    /// (one series per file, as NAB's files are): a file's records are late
    /// only by that file's own times, and windows still open when a file
    /// ends close as later files' times pass them or at the end. File inputs
    /// only; not with absent(), which needs one watermark; rows are in
    /// report order within each file.
    #[arg(long, value_name = "SCOPE")]
    pub watermark: Option<String>,
    /// Adds a field NAME holding each record's input (its path as given,
    /// `<stdin>` or `tcp://PEER`), usable in --key, --where, --eval and
    /// aggregates like any field, e.g. `--input-field series --key series`.
    #[arg(long, value_name = "NAME")]
    pub input_field: Option<String>,
    /// Records too late for their window go to FILE (same format as input).
    #[arg(long, value_name = "FILE")]
    pub late_output: Option<PathBuf>,
    /// Live inputs: with no records for DUR (as for --window), event time advances with the wall clock.
    #[arg(long, value_name = "DUR")]
    pub idle_timeout: Option<String>,
    /// Alert rule, repeatable: '[NAME:] CONDITION [for N] [clear CONDITION] [severity LEVEL]'.
    ///
    /// CONDITION compares aggregates (avg(value): computed even when not in
    /// --agg), key fields and literals with > >= < <= == != and =~ (regex),
    /// joined by and, or, not, parentheses and + - * /. for N: N consecutive
    /// windows of the key (default 1); clear: the condition that resolves a
    /// firing alert (default: the condition is false); severity: one word
    /// (default warning). absent(DUR) fires for a key that has sent nothing
    /// for DUR of event time.
    #[arg(long, value_name = "RULE")]
    pub alert: Vec<String>,
    /// Aggregates go to FILE (default stdout; - is stdout).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// csv (default), jsonl or table.
    #[arg(long, value_name = "F")]
    pub output_format: Option<String>,
    /// Write a self-contained HTML page to FILE at the end of the run and at
    /// each checkpoint (or every --checkpoint-every without one): a chart per
    /// aggregate for the 10 keys with the most records, alert spans shaded,
    /// the alert events and the run's counters. Under 5 MB for any input.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Alert events go to FILE (default: human-readable lines on stderr).
    #[arg(long, value_name = "FILE")]
    pub alerts: Option<PathBuf>,
    /// csv (default for files) or jsonl.
    #[arg(long, value_name = "F")]
    pub alerts_format: Option<String>,
    /// Shell command run once per alert event; the event arrives as JSON on
    /// stdin and as VIGIL_* environment variables.
    #[arg(long, value_name = "CMD")]
    pub on_alert: Option<String>,
    /// POST each alert event as one JSON object (the JSONL alert fields) to
    /// URL; repeatable. http:// and https://; user:password@ in the URL is
    /// sent as Basic authentication and never printed.
    #[arg(long, value_name = "URL")]
    pub webhook: Vec<String>,
    /// Send alerts to a Prometheus Alertmanager (API v2, URL/api/v2/alerts);
    /// repeatable. Firing alerts are re-sent every --alert-ttl/4.
    #[arg(long, value_name = "URL")]
    pub alertmanager: Vec<String>,
    /// How long Alertmanager keeps a firing alert that is not re-sent
    /// (endsAt = now + DUR; default 5m). vigil re-sends every DUR/4 while it runs.
    #[arg(long, value_name = "DUR")]
    pub alert_ttl: Option<String>,
    /// Exit status 3 if any alert fired during the run.
    #[arg(long)]
    pub fail_on_alert: bool,
    /// Write checkpoints to FILE; resume from it if it exists.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// Wall time between checkpoints, a DUR as for --window (default 10s); one is also written at the end.
    #[arg(long, value_name = "DUR")]
    pub checkpoint_every: Option<String>,
    /// At end of input keep open windows in the checkpoint instead of flushing them.
    #[arg(long)]
    pub incremental: bool,
    /// Ignore an existing checkpoint and start over.
    #[arg(long)]
    pub fresh: bool,
    /// skip (default; counted, first 10 reported), fail, or a FILE that receives the raw bad lines.
    ///
    /// A word one letter away from skip or fail (fial) is refused as a typo;
    /// write ./fial for a file of that name.
    #[arg(long, value_name = "P")]
    pub on_bad_record: Option<String>,
    /// Refuse to track more than N distinct keys (default 1000000).
    #[arg(long, value_name = "N")]
    pub max_keys: Option<u64>,
    /// Longest input line, in bytes (default 1M; K, M and G are 1024-based;
    /// at most 1G). A longer line is a bad record (counted, reported, its
    /// first bytes go to an --on-bad-record file) and reading goes on; a
    /// stream holds at most this much of one line.
    #[arg(long, value_name = "BYTES")]
    pub max_line_bytes: Option<String>,
    /// TCP connections open at once (default 1024); more are closed as they
    /// arrive and counted (refused_connections= in the summary).
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// Worker threads (default: all cores, at most 1024).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// No summary line.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Show the progress bar even when stderr is not a terminal.
    ///
    /// On a terminal the bar (files) or spinner (streams) redraws in place;
    /// elsewhere it is written as one line a second, COLUMNS wide (default 80).
    #[arg(long)]
    pub progress: bool,
    /// Apply every record one by one instead of folding them into partial
    /// aggregates while parsing (for tests comparing the two engine paths).
    #[arg(long, hide = true)]
    pub per_record: bool,
}
