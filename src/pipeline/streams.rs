//! The stream driver: stdin, non-regular files and TCP connections, read by
//! reader threads (src/source) that send chunks of whole lines. Each stream
//! gets its decoder from its own first line; chunks are batched as they come;
//! between batches the watermark follows the wall clock (processing time,
//! `--idle-timeout`), checkpoints are taken, and SIGINT/SIGTERM end the run.

use std::collections::{HashMap, HashSet};
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
/// Stream ids each TCP listener has for its connections.
const TCP_STREAMS_PER_LISTENER: u32 = 1 << 26;
/// After a stop signal, the longest wait for readers to hand over what they have.
const STOP_DRAIN: Duration = Duration::from_secs(5);

/// Bad connections (refused for what they sent first) reported on stderr
/// before the rest are only counted.
const BAD_CONNECTION_REPORTS: u64 = 10;

/// What the TCP listeners of a run did, for the summary.
#[derive(Debug, Clone, Default)]
pub struct ConnectionCounts {
    pub accepted: u64,
    /// closed on arrival: --max-connections were open
    pub refused: u64,
    /// closed after their first line: not a header or format of this job
    pub bad: u64,
}

/// Starts a reader thread per input; returns the TCP listeners' counters.
fn start_readers(
    job: &Job,
    tx: crossbeam_channel::Sender<StreamChunk>,
    stop: &Arc<AtomicBool>,
    names: &mut Vec<Option<std::path::PathBuf>>,
) -> Result<Vec<Arc<source::TcpCounters>>> {
    let mut next_stream = 0u32;
    let mut listeners = Vec::new();
    let limits = source::StreamLimits::stdin(job.max_line_bytes);
    for input in &job.inputs {
        match input {
            InputSpec::Stdin => {
                source::spawn_reader(
                    Box::new(std::io::stdin()),
                    next_stream,
                    Arc::from("<stdin>"),
                    tx.clone(),
                    0,
                    limits,
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
                    limits,
                );
                names.push(Some(path.clone()));
                next_stream += 1;
            }
            InputSpec::Tcp(addr) => {
                let tcp = source::TcpLimits {
                    stream: source::StreamLimits::tcp(job.max_line_bytes),
                    max_connections: job.max_connections,
                };
                // Each listener numbers its connections from its own base.
                let first = TCP_FIRST_STREAM + (listeners.len() as u32) * TCP_STREAMS_PER_LISTENER;
                let (local, counters) =
                    source::spawn_tcp(addr, first, tx.clone(), stop.clone(), tcp)?;
                listeners.push(counters);
                if !job.quiet {
                    crate::diag!("vigil: listening on tcp://{local}");
                }
            }
        }
    }
    Ok(listeners)
}

/// Reads stdin, TCP connections and non-regular files through reader threads.
pub(super) fn run_streams(
    p: &mut Pipeline<'_>,
    job: &Job,
    store: &mut Option<checkpoint::Store>,
    stop: &Arc<AtomicBool>,
) -> Result<Option<ConnectionCounts>> {
    let plan = p.engine.plan;
    let (tx, rx) = crossbeam_channel::bounded::<StreamChunk>(CHANNEL_CHUNKS);
    let mut names: Vec<Option<std::path::PathBuf>> = Vec::new();
    let listeners = start_readers(job, tx, stop, &mut names)?;
    let has_tcp = !listeners.is_empty();
    // Connections refused for their first line: their chunks still in flight are dropped.
    let mut refused: HashSet<u32> = HashSet::new();
    let mut bad_connections = 0u64;
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
                if refused.contains(&c.stream) {
                    if c.last {
                        refused.remove(&c.stream);
                    }
                    continue;
                }
                #[allow(clippy::map_entry)] // building the state may fail with `?`
                if !states.contains_key(&c.stream) {
                    let first = first_line(&c.data);
                    if first.is_none() && c.last {
                        continue; // a connection that sent nothing
                    }
                    let hint = names.get(c.stream as usize).and_then(|n| n.clone());
                    let opened = open_input(job, plan, c.name.clone(), hint.as_deref(), first);
                    let (state, consumed) = match (opened, &c.hang_up) {
                        (Ok(o), _) => o,
                        // One client that does not speak the job's format
                        // (an HTTP request, a port scanner) must not end a
                        // server: that connection is closed, the others go on.
                        (Err(e), Some(hang_up)) => {
                            hang_up.store(true, Ordering::Relaxed);
                            bad_connections += 1;
                            if bad_connections <= BAD_CONNECTION_REPORTS {
                                crate::diag!("vigil: closed {}: {e}", c.name);
                                if bad_connections == BAD_CONNECTION_REPORTS {
                                    crate::diag!(
                                        "vigil: further bad connections are counted, not shown"
                                    );
                                }
                            }
                            if !c.last {
                                refused.insert(c.stream);
                            }
                            continue;
                        }
                        (Err(e), None) => return Err(e),
                    };
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
    if !has_tcp {
        return Ok(None);
    }
    let mut counts = ConnectionCounts {
        bad: bad_connections,
        ..ConnectionCounts::default()
    };
    for l in &listeners {
        counts.accepted += l.accepted.load(Ordering::Acquire) as u64;
        counts.refused += l.refused.load(Ordering::Acquire) as u64;
    }
    Ok(Some(counts))
}
