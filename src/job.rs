//! The resolved job: every flag and job-file key validated and turned into
//! domain types before any input is opened. `cli::config` builds it
//! (`Job::from_args`, the only place flags become these types); every stage
//! reads it and none changes it. Data only: no parsing of flags here, no I/O.

use std::path::PathBuf;

use crate::agg::AggSpec;
use crate::alert::Rule;
use crate::decode::Format;
use crate::expr::Expr;
use crate::origin::JobOrigins;
use crate::time::TimeFormat;

/// Default `--max-keys`.
pub const DEFAULT_MAX_KEYS: u64 = 1_000_000;
/// Default `--checkpoint-every`, in milliseconds of wall time.
pub const DEFAULT_CHECKPOINT_EVERY_MS: i64 = 10_000;
/// Default `--max-line-bytes`: longer than any log or JSON event line seen in
/// practice, small enough that a thousand connections each holding one
/// endless line stay within a gigabyte.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;
/// The largest `--max-line-bytes`: line spans are 32-bit, and a batch holds
/// at least one whole line.
pub const MAX_LINE_BYTES_LIMIT: usize = 1 << 30;
/// Default `--max-connections`: TCP connections open at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Window used when none of --window, --session, --count-window is given.
pub const DEFAULT_WINDOW_MS: i64 = 60_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum InputSpec {
    File(PathBuf),
    Stdin,
    /// `tcp://HOST:PORT`: the `HOST:PORT` part.
    Tcp(String),
}

impl InputSpec {
    pub fn describe(&self) -> String {
        match self {
            InputSpec::File(p) => p.display().to_string(),
            InputSpec::Stdin => "<stdin>".to_string(),
            InputSpec::Tcp(a) => format!("tcp://{a}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatChoice {
    Auto,
    Fixed(Format),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowSpec {
    Tumbling { size: i64 },
    Sliding { size: i64, slide: i64 },
    Session { gap: i64 },
    Count { n: u64 },
}

impl WindowSpec {
    /// The window in words: `tumbling 1m`, `sliding 5m every 1m`, ...
    pub fn describe(self) -> String {
        use crate::time::format_duration as human_duration;
        match self {
            WindowSpec::Tumbling { size } => format!("tumbling {}", human_duration(size)),
            WindowSpec::Sliding { size, slide } => {
                format!(
                    "sliding {} every {}",
                    human_duration(size),
                    human_duration(slide)
                )
            }
            WindowSpec::Session { gap } => format!("session, gap {}", human_duration(gap)),
            WindowSpec::Count { n } => format!("count, every {n} records per key"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Csv,
    Jsonl,
    Table,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertsFormat {
    /// Human-readable lines (stderr default).
    Text,
    Csv,
    Jsonl,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadRecordPolicy {
    Skip,
    Fail,
    File(PathBuf),
}

/// A fully validated job.
#[derive(Debug, Clone)]
pub struct Job {
    /// Where the options were given (flag or job-file line), for messages only.
    pub origins: JobOrigins,
    pub inputs: Vec<InputSpec>,
    pub format: FormatChoice,
    pub regex: Option<String>,
    pub delimiter: u8,
    pub has_header: bool,
    pub columns: Option<Vec<String>>,
    pub time_field: Option<String>,
    /// None: the format's default (presets) or auto.
    pub time_format: Option<TimeFormat>,
    pub time_format_text: String,
    pub key: Vec<String>,
    pub window: WindowSpec,
    pub aggs: Vec<AggSpec>,
    pub where_expr: Option<Expr>,
    pub where_text: Option<String>,
    pub evals: Vec<(String, Expr, String)>,
    /// `--lookup FILE`: per-key fields from CSV tables, loaded and checked
    pub lookups: crate::lookup::Lookups,
    pub max_delay: i64,
    pub late_output: Option<PathBuf>,
    /// `--html FILE`: the page written at checkpoints and at the end.
    pub html: Option<PathBuf>,
    pub idle_timeout: Option<i64>,
    pub rules: Vec<Rule>,
    pub output: Option<PathBuf>,
    pub output_format: OutputFormat,
    pub alerts: Option<PathBuf>,
    pub alerts_format: AlertsFormat,
    pub on_alert: Option<String>,
    /// `--webhook`, `--alertmanager`, `--alert-ttl`
    pub delivery: crate::deliver::DeliveryJob,
    pub fail_on_alert: bool,
    pub checkpoint: Option<PathBuf>,
    pub checkpoint_every: i64,
    pub incremental: bool,
    pub fresh: bool,
    pub on_bad_record: BadRecordPolicy,
    pub max_keys: u64,
    /// `--max-line-bytes`: a longer line is a bad record
    pub max_line_bytes: usize,
    /// `--watermark per-input`: each file input keeps its own watermark
    pub watermark_per_input: bool,
    /// `--input-field NAME`: a field holding each record's input name
    pub input_field: Option<String>,
    /// `--max-connections`: TCP connections open at once
    pub max_connections: usize,
    pub threads: usize,
    pub quiet: bool,
    pub progress: bool,
    /// engine path for tests: every record applied one by one (hidden flag)
    pub per_record: bool,
}

impl Job {
    /// True when every input is a file (output may be buffered for throughput).
    pub fn all_files(&self) -> bool {
        self.inputs.iter().all(|i| matches!(i, InputSpec::File(_)))
    }
}
