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
pub mod input;
mod parse;
mod snapshot;
mod status;
mod streams;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::alert::notify::Notifier;
use crate::checkpoint::{self, Checkpoint, InputPosition};
use crate::error::{Error, Result};
use crate::html::HtmlReport;
use crate::job::{BadRecordPolicy, Job};
use crate::plan::RecordPlan;
use crate::shard::stamp::Watermark;
use crate::shard::{Engine, Routed, Shard};
use crate::sink::{AlertWriter, Output, ReportWriter};
use crate::stats::Counters;
use crate::window::Layout;

use emit::Emitter;
use parse::Parsed;

/// Concurrent `--on-alert` commands, and each one's time limit.
const NOTIFY_RUNNING: usize = 4;
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);

/// How a run ended, for the exit status.
pub struct Outcome {
    pub alerts_fired: u64,
}

/// The running pipeline: shards, watermark, outputs and counters.
struct Pipeline<'a> {
    job: &'a Job,
    engine: Engine<'a>,
    shards: Vec<Shard>,
    /// per shard: the records of the current batch routed to it
    routed: Vec<Vec<Routed>>,
    /// per piece of the current batch: its parsed records
    parsed: Vec<Parsed>,
    clock: Watermark,
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

/// Opens the outputs: created, or on resume truncated to their checkpointed length.
fn open_outputs(
    job: &Job,
    plan: &RecordPlan,
    resumed: Option<&Checkpoint>,
    notifier: Option<Notifier>,
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
        notifier,
        html,
        &job.on_bad_record,
    ))
}

/// Runs a job to completion.
pub fn run(job: &Job) -> Result<Outcome> {
    let started = Instant::now();
    let plan = RecordPlan::new(job)?;
    let engine = Engine {
        plan: &plan,
        layout: Layout::new(job.window),
        keep_keys: plan.rules.iter().any(|r| r.absent_ms.is_some()),
        max_keys: job.max_keys,
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
    let emit = open_outputs(job, &plan, resumed.as_ref(), notifier)?;
    let mut p = Pipeline {
        job,
        engine,
        shards: (0..job.threads).map(|_| Shard::default()).collect(),
        routed: vec![Vec::new(); job.threads],
        parsed: Vec::new(),
        clock: Watermark::new(job.max_delay),
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
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register(sig, stop.clone());
    }

    let mut store = job
        .checkpoint
        .as_ref()
        .map(|path| checkpoint::Store::new(path.clone(), fingerprint, job.checkpoint_every));
    if job.all_files() {
        files::run_files(&mut p, job, &mut store)?;
    } else {
        streams::run_streams(&mut p, job, &mut store, &stop)?;
    }
    if !job.incremental {
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
                store: store.as_ref(),
            })
        );
    }
    // SPEC 1: records were read and every one was bad is a failed run (exit 1).
    let c = &p.counters;
    if c.records > 0 && c.bad == c.records {
        return Err(Error::runtime(format!(
            "every one of the {} records read was bad (the first are shown above), so nothing was aggregated; `vigil check` with the same arguments shows the first bad line",
            c.records
        )));
    }
    Ok(Outcome {
        alerts_fired: p.total_counters().alerts_fired,
    })
}
