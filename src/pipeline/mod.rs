//! The driver of a run: builds every piece from the [`Job`] (plan, shards,
//! outputs, checkpoint store), restores a checkpoint if there is one, hands
//! the inputs to the file or the stream driver, then flushes, checkpoints and
//! prints the summary. The exit status is decided by `main` from [`Outcome`].
//!
//! A record goes down through the rooms: source bytes -> a driver cuts
//! batches and pieces (`files`, `streams`, `source::pieces`) -> `parse` ->
//! stamped and routed (`batch`, `shard::stamp`) -> shard apply and window
//! close (`shard`, `window`, `agg`, `alert`) -> `emit` -> `sink`. Checkpoints
//! (`snapshot`) are taken between batches only.

mod batch;
mod emit;
mod files;
mod fold;
pub mod input;
mod parse;
mod snapshot;
mod status;
mod streams;

use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::alert::notify::Notifier;
use crate::checkpoint::{self, Checkpoint, InputPosition};
use crate::deliver::payload::RuleText;
use crate::deliver::{Delivery, Timing};
use crate::error::{Error, Result};
use crate::html::HtmlReport;
use crate::job::{BadRecordPolicy, Job};
use crate::plan::RecordPlan;
use crate::shard::stamp::Watermark;
use crate::shard::{Engine, Shard};
use crate::sink::{AlertWriter, Output, ReportWriter};
use crate::stats::Counters;
use crate::window::Layout;

use batch::{BatchBuffers, Decoded};
use emit::{AlertHooks, Emitter};

/// Concurrent `--on-alert` commands, and each one's time limit.
const NOTIFY_RUNNING: usize = 4;
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);

/// How a run ended, for the exit status.
pub struct Outcome {
    pub alerts_fired: u64,
    /// a file run stopped by this signal (SIGINT, SIGTERM): exit 128 + it
    pub interrupted: Option<i32>,
}

/// The running pipeline: shards, watermark, outputs and counters.
struct Pipeline<'a> {
    job: &'a Job,
    engine: Engine<'a>,
    shards: Vec<Shard>,
    /// fold records into partials while parsing (pane layouts)
    fold: bool,
    /// fold every batch, never switching to the per-record path for
    /// compressing too little (`VIGIL_TEST_ALWAYS_FOLD=1`, for the tests)
    always_fold: bool,
    /// batches left to run on the per-record path before folding is tried
    /// again (see `batch::FOLD_MIN_RECORDS_PER_PARTIAL`)
    fold_skip: u32,
    buf: BatchBuffers,
    /// the decoded batch of a run that does not overlap decoding with applying
    decoded: Decoded,
    clock: Watermark,
    /// `--watermark per-input`: each file input's watermark while another is read
    input_clocks: Vec<Watermark>,
    /// the input whose watermark `clock` is (per-input mode)
    clock_input: Option<usize>,
    emit: Emitter,
    /// this run's counters
    counters: Counters,
    /// the counters of the runs before this one (resumed from a checkpoint)
    prior: Counters,
    /// byte offset reached in each file input (checkpoints)
    positions: Vec<InputPosition>,
    last_arrival: Instant,
    bytes_read: u64,
    /// this run's numbers and non-numbers per aggregate input (not checkpointed)
    value_tally: crate::plan::ValueTally,
    started: Instant,
    /// true when the run continues from a checkpoint
    resumed: bool,
}

impl Pipeline<'_> {
    /// `--watermark per-input`: makes input `i`'s watermark the current one
    /// (the sequence of records goes on across inputs).
    fn use_input_clock(&mut self, i: usize) {
        if self.input_clocks.len() <= i {
            self.input_clocks
                .resize(i + 1, Watermark::new(self.job.max_delay));
        }
        if let Some(cur) = self.clock_input {
            self.input_clocks[cur] = self.clock;
        }
        let seq = self.clock.seq;
        self.clock = self.input_clocks[i];
        self.clock.seq = seq;
        self.clock_input = Some(i);
    }

    /// Every input's watermark as (max event time, watermark), for a checkpoint.
    fn input_clock_state(&self) -> Vec<(i64, i64)> {
        let mut clocks = self.input_clocks.clone();
        if let Some(cur) = self.clock_input {
            clocks[cur] = self.clock;
        }
        clocks.iter().map(|c| (c.max_seen, c.wm)).collect()
    }
}

/// Opens the outputs: created, or on resume truncated to their checkpointed length.
fn open_outputs(
    job: &Job,
    plan: &RecordPlan,
    resumed: Option<&Checkpoint>,
    notifier: Option<Notifier>,
    delivery: Delivery,
) -> Result<Emitter> {
    let live = !job.all_files();
    let agg_columns: Vec<String> = plan.specs[..plan.visible]
        .iter()
        .map(|s| s.column.clone())
        .collect();
    let open = |path: &Option<std::path::PathBuf>, idx: usize| -> Result<Option<Output>> {
        match path {
            None => Ok(None),
            Some(p) => {
                Output::file(p, resumed.map(|c| c.outputs.get(idx).copied().unwrap_or(0))).map(Some)
            }
        }
    };
    let report_out = open(&job.output, 0)?.unwrap_or_else(Output::stdout);
    let report_header = report_out.written() > 0;
    let report = ReportWriter::new(
        report_out,
        job.output_format,
        &job.key,
        &agg_columns,
        live,
        report_header,
    );
    let alerts_out = open(&job.alerts, 1)?.unwrap_or_else(Output::stderr);
    let alerts_header = alerts_out.written() > 0;
    let alerts = AlertWriter::new(alerts_out, job.alerts_format, &job.key, live, alerts_header);
    let late = open(&job.late_output, 2)?;
    let bad_file = match &job.on_bad_record {
        BadRecordPolicy::File(p) => open(&Some(p.clone()), 3)?,
        _ => None,
    };
    let html = match &job.html {
        Some(path) => Some(HtmlReport::new(job, plan, path, job.checkpoint_every)?),
        None => None,
    };
    Ok(Emitter::new(
        report,
        alerts,
        late,
        bad_file,
        AlertHooks { notifier, delivery },
        html,
        &job.on_bad_record,
    ))
}

/// Runs a job to completion.
pub fn run(job: &Job) -> Result<Outcome> {
    let started = Instant::now();
    let plan = RecordPlan::new(job)?;
    let mut engine = Engine {
        plan: &plan,
        layout: Layout::new(job.window),
        keep_keys: plan.rules.iter().any(|r| r.absent_ms.is_some()),
        max_keys: job.max_keys,
        row_text: None,
    };
    rayon::ThreadPoolBuilder::new()
        .num_threads(job.threads)
        .build_global()
        .ok();

    // Before the checkpoint is read or any output opened: two runs on one
    // checkpoint would race on it and on the outputs.
    let _lock = job
        .checkpoint
        .as_deref()
        .map(checkpoint::lock)
        .transpose()?;
    // Resume from a checkpoint if there is one.
    let fingerprint = checkpoint::fingerprint(job);
    let resumed: Option<Checkpoint> = match &job.checkpoint {
        Some(path) if !job.fresh && path.exists() => Some(checkpoint::load(path, fingerprint)?),
        _ => None,
    };
    let notifier = job
        .on_alert
        .clone()
        .map(|cmd| Notifier::new(cmd, NOTIFY_RUNNING, NOTIFY_TIMEOUT));
    // Delivery threads start now: Alertmanager targets re-send the
    // checkpoint's firing alerts at once.
    let delivery = Delivery::start(
        &job.delivery,
        &job.key,
        plan.rules
            .iter()
            .map(|r| RuleText {
                name: r.rule.name.clone(),
                severity: r.rule.severity.clone(),
                text: r.rule.text.clone(),
            })
            .collect(),
        resumed
            .as_ref()
            .map(|c| c.firing.clone())
            .unwrap_or_default(),
        Timing::from_env(),
    );
    let mut emit = open_outputs(job, &plan, resumed.as_ref(), notifier, delivery)?;
    engine.row_text = emit.row_text();
    let fold = engine.layout.has_panes() && !job.per_record;
    let mut p = Pipeline {
        job,
        engine,
        shards: (0..job.threads).map(|_| Shard::default()).collect(),
        fold,
        always_fold: std::env::var_os("VIGIL_TEST_ALWAYS_FOLD").is_some_and(|v| v == "1"),
        fold_skip: 0,
        buf: BatchBuffers::default(),
        decoded: Decoded::default(),
        clock: Watermark::new(job.max_delay),
        input_clocks: Vec::new(),
        clock_input: None,
        emit,
        counters: Counters::default(),
        prior: Counters::default(),
        positions: Vec::new(),
        last_arrival: Instant::now(),
        bytes_read: 0,
        value_tally: Default::default(),
        started,
        resumed: resumed.is_some(),
    };
    if let Some(ck) = resumed {
        p.restore(ck);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let signal = Arc::new(AtomicUsize::new(0));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register(sig, stop.clone());
        let _ = signal_hook::flag::register_usize(sig, signal.clone(), sig as usize);
    }

    let mut store = job
        .checkpoint
        .as_ref()
        .map(|path| checkpoint::Store::new(path.clone(), fingerprint, job.checkpoint_every));
    let mut interrupted = None;
    let connections = if job.all_files() {
        // The file driver runs on a pool worker, so each batch step it hands
        // the pool is joined by a thread that was running already: joined
        // from outside the pool, every step ended by waking the main thread,
        // and on a 2-core VM that left a core idle for milliseconds each
        // time (BENCHMARKS.md, eighth pass).
        if let files::FilesEnd::Interrupted(sig) =
            rayon::scope(|_| files::run_files(&mut p, job, &mut store, &signal))?
        {
            interrupted = Some(sig);
        }
        None
    } else {
        streams::run_streams(&mut p, job, &mut store, &stop)?
    };
    // A file run stopped by a signal keeps its open windows in the checkpoint,
    // so running the same command again resumes exactly; without one, what
    // was read is reported.
    let keep_open = job.incremental || (interrupted.is_some() && store.is_some());
    if !keep_open {
        p.flush_all()?;
    }
    p.emit.finish()?;
    // The page's last group of windows is complete before its state is saved.
    let figures = p.page_figures(true);
    p.emit.finish_page(|| figures)?;
    if let Some(store) = &mut store {
        p.save_checkpoint(store, true)?;
    }
    for warning in plan.never_numeric(&p.value_tally) {
        eprintln!("vigil: warning: {warning}");
    }
    let notify = p
        .emit
        .notifier
        .take()
        .map(Notifier::finish)
        .unwrap_or_default();
    let delivery = p.emit.delivery.finish();
    if !job.quiet {
        let firing: usize = p
            .shards
            .iter()
            .flat_map(|s| s.entries())
            .map(|e| e.trackers.iter().filter(|t| t.is_firing()).count())
            .sum();
        crate::diag!(
            "{}",
            status::summary_line(&status::Summary {
                counters: &p.counters,
                bytes_read: p.bytes_read,
                firing,
                elapsed: started.elapsed(),
                notify: &notify,
                delivery: &delivery,
                store: store.as_ref(),
                connections: connections.as_ref(),
            })
        );
    }
    // SPEC 1: records were read and every one was bad is a failed run (exit 1).
    let c = &p.counters;
    if c.records > 0 && c.bad == c.records {
        let format = match job.format {
            crate::job::FormatChoice::Auto => "auto (from each input's name or first line)",
            crate::job::FormatChoice::Fixed(f) => f.name(),
        };
        return Err(Error::runtime(format!(
            "every one of the {} records read was bad (the first are shown above), so nothing was aggregated; they were read with --format {format} and --time-format {}: if either is wrong for this input, change it; `vigil check` with the same arguments shows the first bad line",
            c.records, job.time_format_text
        )));
    }
    if let Some(sig) = interrupted {
        crate::diag!(
            "vigil: stopped by signal {sig} after {} bytes{}",
            p.bytes_read,
            if store.is_some() {
                "; the checkpoint holds where it stopped: run the same command again to resume"
            } else {
                ""
            }
        );
    }
    Ok(Outcome {
        alerts_fired: p.total_counters().alerts_fired,
        interrupted,
    })
}
