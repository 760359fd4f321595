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
    #[command(after_help = RUN_EXAMPLES)]
    Run(RunArgs),
    /// Validate a job and print its dataflow plan; exit 0 if valid, 2 if not.
    #[command(after_help = CHECK_EXAMPLES)]
    Check(RunArgs),
    /// Run alert-rule test files; exit 0 if all pass, 1 with a diff if any fails.
    #[command(after_help = TEST_EXAMPLES)]
    Test(TestArgs),
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
    #[arg(short = 'c', long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Input format: csv, jsonl, logfmt, regex, nginx, apache, syslog or auto
    /// (by extension .csv .jsonl .ndjson, else by sniffing the first line).
    #[arg(short = 'f', long, value_name = "FMT")]
    pub format: Option<String>,
    /// Named capture groups become fields (with --format regex).
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
    /// auto, rfc3339, unix_s, unix_ms, unix_us, unix_ns, or a strftime pattern
    /// such as '%d/%b/%Y:%H:%M:%S %z'. Times without an offset are UTC.
    #[arg(long, value_name = "F")]
    pub time_format: Option<String>,
    /// Group-by and shard key fields; none means one global key.
    #[arg(short = 'k', long, value_name = "F1,F2", value_delimiter = ',')]
    pub key: Option<Vec<String>>,
    /// Window size (tumbling unless --slide is given), e.g. 1m.
    #[arg(short = 'w', long, value_name = "DUR")]
    pub window: Option<String>,
    /// Sliding windows of --window size every DUR (DUR <= --window).
    #[arg(long, value_name = "DUR")]
    pub slide: Option<String>,
    /// Session windows, closed after GAP without records for the key.
    #[arg(long, value_name = "GAP")]
    pub session: Option<String>,
    /// A window per key every N records.
    #[arg(long, value_name = "N")]
    pub count_window: Option<u64>,
    /// Aggregates, e.g. 'count(), avg(value), p95(latency_ms) as p95_lat'. Default count().
    #[arg(short = 'a', long, value_name = "LIST")]
    pub agg: Option<String>,
    /// Keep only records for which EXPR is true, e.g. 'status >= 500'.
    #[arg(long = "where", value_name = "EXPR")]
    pub where_: Option<String>,
    /// Derived field, repeatable, e.g. 'is_error = status >= 500' (true is 1, false 0).
    #[arg(long, value_name = "NAME=EXPR")]
    pub eval: Vec<String>,
    /// Bounded out-of-orderness (watermark delay); default 0.
    #[arg(long, value_name = "DUR")]
    pub max_delay: Option<String>,
    /// Records too late for their window go to FILE (same format as input).
    #[arg(long, value_name = "FILE")]
    pub late_output: Option<PathBuf>,
    /// Live inputs: with no records for DUR, event time advances with the wall clock.
    #[arg(long, value_name = "DUR")]
    pub idle_timeout: Option<String>,
    /// Alert rule, repeatable: '[NAME:] CONDITION [for N] [clear CONDITION] [severity LEVEL]'.
    #[arg(long, value_name = "RULE")]
    pub alert: Vec<String>,
    /// Aggregates go to FILE (default stdout).
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
    /// Exit status 3 if any alert fired during the run.
    #[arg(long)]
    pub fail_on_alert: bool,
    /// Write checkpoints to FILE; resume from it if it exists.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// Wall time between checkpoints (default 10s); one is also written at the end.
    #[arg(long, value_name = "DUR")]
    pub checkpoint_every: Option<String>,
    /// At end of input keep open windows in the checkpoint instead of flushing them.
    #[arg(long)]
    pub incremental: bool,
    /// Ignore an existing checkpoint and start over.
    #[arg(long)]
    pub fresh: bool,
    /// skip (default; counted, first 10 reported), fail, or a FILE that receives the raw bad lines.
    #[arg(long, value_name = "P")]
    pub on_bad_record: Option<String>,
    /// Refuse to track more than N distinct keys (default 1000000).
    #[arg(long, value_name = "N")]
    pub max_keys: Option<u64>,
    /// Worker threads (default: all cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// No summary line.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Show the progress bar even when stderr is not a terminal.
    #[arg(long)]
    pub progress: bool,
}
