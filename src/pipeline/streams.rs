//! The stream driver: stdin, non-regular files and TCP connections, read by
//! reader threads (src/source) that send chunks of whole lines. Each stream
//! gets its decoder from its own first line; chunks are batched as they come;
//! between batches the watermark follows the wall clock (processing time,
//! `--idle-timeout`), checkpoints are taken, and SIGINT/SIGTERM end the run.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::checkpoint;
use crate::error::{Error, Result};
use crate::job::{InputSpec, Job};
use crate::source::pieces::{first_line, Piece};
use crate::source::{self, StreamChunk};

use super::input::{open_input, InputState};
use super::status::progress_spinner;
use super::Pipeline;

/// Stream chunks merged into one batch at most.
const STREAM_BATCH_CHUNKS: usize = 256;
/// How often a stream run wakes up without input (signals, wall-clock windows).
const IDLE_TICK: Duration = Duration::from_millis(20);
/// Chunks in flight between the readers and the pipeline.
const CHANNEL_CHUNKS: usize = 64;
/// Stream ids of TCP connections start here, after every stdin or file stream.
const TCP_FIRST_STREAM: u32 = 1 << 20;
/// After a stop signal, the longest wait for readers to hand over what they have.
const STOP_DRAIN: Duration = Duration::from_secs(5);

/// Starts a reader thread per input; returns whether any is a TCP listener.
fn start_readers(
    job: &Job,
    tx: crossbeam_channel::Sender<StreamChunk>,
    stop: &Arc<AtomicBool>,
    names: &mut Vec<Option<std::path::PathBuf>>,
) -> Result<bool> {
    let mut next_stream = 0u32;
    let mut has_tcp = false;
    for input in &job.inputs {
        match input {
            InputSpec::Stdin => {
                source::spawn_reader(
                    Box::new(std::io::stdin()),
                    next_stream,
                    Arc::from("<stdin>"),
                    tx.clone(),
                    0,
                );
                names.push(None);
                next_stream += 1;
            }
            InputSpec::File(path) => {
                let f = std::fs::File::open(path).map_err(|e| Error::io("cannot open", path, e))?;
                source::spawn_reader(
                    Box::new(f),
                    next_stream,
                    Arc::from(path.display().to_string()),
                    tx.clone(),
                    0,
                );
                names.push(Some(path.clone()));
                next_stream += 1;
            }
            InputSpec::Tcp(addr) => {
                has_tcp = true;
                let local = source::spawn_tcp(addr, TCP_FIRST_STREAM, tx.clone(), stop.clone())?;
                if !job.quiet {
                    crate::diag!("vigil: listening on tcp://{local}");
                }
            }
        }
    }
    Ok(has_tcp)
}

/// Reads stdin, TCP connections and non-regular files through reader threads.
pub(super) fn run_streams(
    p: &mut Pipeline<'_>,
    job: &Job,
    store: &mut Option<checkpoint::Store>,
    stop: &Arc<AtomicBool>,
) -> Result<()> {
    let plan = p.engine.plan;
    let (tx, rx) = crossbeam_channel::bounded::<StreamChunk>(CHANNEL_CHUNKS);
    let mut names: Vec<Option<std::path::PathBuf>> = Vec::new();
    let has_tcp = start_readers(job, tx, stop, &mut names)?;
    let processing_time = job.time_field.is_none();
    let mut states: HashMap<u32, InputState> = HashMap::new();
    let mut inputs: Vec<InputState> = Vec::new();
    let mut batch: Vec<StreamChunk> = Vec::new();
    let mut stop_seen: Option<Instant> = None;
    let spinner = progress_spinner(job);
    loop {
        batch.clear();
        match rx.recv_timeout(IDLE_TICK) {
            Ok(c) => {
                batch.push(c);
                while batch.len() < STREAM_BATCH_CHUNKS {
                    match rx.try_recv() {
                        Ok(c) => batch.push(c),
                        Err(_) => break,
                    }
                }
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        }
        if !batch.is_empty() {
            // Decoders for new streams; headers cut off.
            let mut specs: Vec<(usize, usize, usize)> = Vec::new(); // (chunk, input index, skip)
            inputs.clear();
            let mut index_of: HashMap<u32, usize> = HashMap::new();
            for (ci, c) in batch.iter().enumerate() {
                let mut skip = 0;
                #[allow(clippy::map_entry)] // building the state may fail with `?`
                if !states.contains_key(&c.stream) {
                    let first = first_line(&c.data);
                    if first.is_none() && c.last {
                        continue; // a connection that sent nothing
                    }
                    let hint = names.get(c.stream as usize).and_then(|n| n.clone());
                    let (state, consumed) =
                        open_input(job, plan, c.name.clone(), hint.as_deref(), first)?;
                    if consumed {
                        skip = memchr::memchr(b'\n', &c.data)
                            .map(|n| n + 1)
                            .unwrap_or(c.data.len());
                        p.emit.late_header(&state)?;
                    }
                    states.insert(c.stream, state);
                }
                let idx = *index_of.entry(c.stream).or_insert_with(|| {
                    inputs.push(states[&c.stream].fork());
                    inputs.len() - 1
                });
                specs.push((ci, idx, skip));
            }
            let pieces: Vec<Piece<'_>> = specs
                .iter()
                .map(|&(ci, idx, skip)| {
                    let c = &batch[ci];
                    Piece {
                        input: idx,
                        data: &c.data[skip..],
                        offset: c.offset + skip as u64,
                        first_line: Some(c.first_line + if skip > 0 { 1 } else { 0 }),
                        whole: None,
                        arrival_ms: c.arrival_ms,
                    }
                })
                .collect();
            p.process(&inputs, &pieces)?;
            if let Some(sp) = &spinner {
                sp.set_position(p.counters.records);
            }
            for c in &batch {
                if c.last {
                    states.remove(&c.stream);
                }
            }
        }
        // Wall-clock progress of event time.
        let now = source::now_ms();
        if processing_time {
            p.advance_to(now.saturating_sub(job.max_delay))?;
        } else if let Some(idle) = job.idle_timeout {
            let quiet_for = p.last_arrival.elapsed().as_millis() as i64;
            if quiet_for >= idle && p.clock.max_seen != i64::MIN {
                let event_now = p.clock.max_seen.saturating_add(quiet_for);
                p.advance_to(event_now.saturating_sub(job.max_delay))?;
            }
        }
        p.checkpoint_if_due(store)?;
        if stop.load(Ordering::Relaxed) {
            // TCP readers send what they received and end by themselves, which
            // disconnects the channel; a stdin reader may block forever, so
            // stop once what it already sent is processed.
            let since = *stop_seen.get_or_insert_with(Instant::now);
            if (!has_tcp && rx.is_empty()) || since.elapsed() > STOP_DRAIN {
                break;
            }
        }
    }
    if let Some(sp) = spinner {
        sp.finish_and_clear();
    }
    Ok(())
}
