//! The file driver: every input a mapped regular file, read in order as one
//! stream. Checks the inputs against the checkpoint (resume offsets, rotated
//! generations), cuts each into batches of whole lines and the batches into
//! pieces, advances each input's position where its bytes are consumed, and
//! releases consumed pages. Knows no format beyond the header line.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::checkpoint::{self, Segment};
use crate::error::{Error, Result};
use crate::job::{InputSpec, Job};
use crate::source::{self, pieces};

use super::batch;
use super::input::open_input;
use super::status::progress_bar;
use super::Pipeline;

/// Bytes of a mapped file decoded per batch: large enough to keep every core
/// busy, small enough that a checkpoint is never far away.
const BATCH_BYTES: usize = 8 << 20;
/// Pieces per thread in a batch, so uneven lines still balance.
const PIECES_PER_THREAD: usize = 4;

/// Reads every input as a mapped file, in order.
/// How a file run ended.
pub(super) enum FilesEnd {
    /// every input read to its end
    Done,
    /// SIGINT or SIGTERM (the signal's number) arrived: stopped at a batch cut
    Interrupted(i32),
}

pub(super) fn run_files(
    p: &mut Pipeline<'_>,
    job: &Job,
    store: &mut Option<checkpoint::Store>,
    signal: &AtomicUsize,
) -> Result<FilesEnd> {
    let plan = p.engine.plan;
    let mut files = Vec::new();
    for input in &job.inputs {
        let InputSpec::File(path) = input else {
            unreachable!("run_files takes files only")
        };
        match source::open_file(path)? {
            Some(f) => files.push(f),
            None => {
                return Err(Error::usage(format!(
                    "{} is not a regular file: read it as a stream with `cat {} | vigil run -`",
                    path.display(),
                    path.display()
                )))
            }
        }
    }
    let total: u64 = files.iter().map(|f| f.bytes().len() as u64).sum();
    // Tests make batches small to cross many batch cuts on little data.
    let batch_bytes = std::env::var("VIGIL_TEST_BATCH_BYTES")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .map_or(BATCH_BYTES, |b| b.max(4096));
    if job.time_field.is_none() && total > 0 {
        // Replaying a file on arrival time is rarely what was meant: the
        // whole file lands in the window of the second it was read in.
        crate::diag!(
            "vigil: note: no --time: windows are on processing (arrival) time, so the records of a file read in one go share a window or two; to window on the records' own times, name their field with --time FIELD"
        );
    }
    let bar = progress_bar(job, total);
    let resume = std::mem::take(&mut p.positions);
    let plans = checkpoint::verify_inputs(&files, &resume, job.incremental)?;
    p.positions = plans.iter().map(|(pos, _)| pos.clone()).collect();
    // Pieces and decoded records of two batches: `cur` is the one to apply.
    let mut batches: [Vec<pieces::Piece<'_>>; 2] = [Vec::new(), Vec::new()];
    let mut decoded: [batch::Decoded; 2] = Default::default();
    let mut cur = 0;
    for (i, (file, (_, segments))) in files.iter().zip(plans.iter()).enumerate() {
        let mut warn_behind = i > 0 && !job.watermark_per_input;
        if job.watermark_per_input {
            p.use_input_clock(i);
        }
        for seg in segments {
            let read = match seg {
                Segment::Mapped { .. } => file,
                Segment::Rotated { file: old, .. } => old.as_ref(),
            };
            let (Segment::Mapped { from } | Segment::Rotated { from, .. }) = *seg;
            let bytes = read.bytes();
            if bytes.is_empty() {
                // Still where reading stands: an empty new file after a
                // rotation is the file to follow next time, or the next
                // rotation would look for the previous one and lose a generation.
                p.positions[i].set_offset(seg, file, from);
                continue;
            }
            let name: Arc<str> = Arc::from(read.path.display().to_string());
            // The header is the file's first line, wherever reading resumes.
            let header_end = pieces::line_end_after(bytes, 0, bytes.len());
            let (state, consumed) =
                open_input(job, plan, name, Some(&file.path), pieces::first_line(bytes))?;
            let mut pos = from as usize;
            if consumed && pos < header_end {
                pos = header_end;
                p.emit.late_header(&state)?;
            }
            let inputs = [state];
            let behind_before = p.clock.wm;
            // With --incremental a last line without its newline may still be
            // being written: leave it for the next run.
            let limit = if job.incremental {
                memchr::memrchr(b'\n', bytes)
                    .map(|n| n + 1)
                    .unwrap_or(0)
                    .max(pos)
            } else {
                bytes.len()
            };
            // Two batches in flight: the one cut last is decoded while the
            // one before it drains (see `batch`). `pos` is where the applied
            // batches end, `cut_at` where the cut ones do.
            let mut cut_at = pos;
            let mut pending: Option<usize> = None;
            loop {
                let next_end = (cut_at < limit).then(|| {
                    let next = &mut batches[1 - cur];
                    next.clear();
                    match pieces::batch_end(bytes, cut_at, batch_bytes, limit, job.max_line_bytes) {
                        pieces::BatchEnd::At(end) => {
                            pieces::split_pieces(
                                bytes,
                                cut_at,
                                end,
                                job.threads * PIECES_PER_THREAD,
                                0,
                                source::now_ms(),
                                next,
                            );
                            end
                        }
                        pieces::BatchEnd::Overlong { shown_end } => {
                            // A line past --max-line-bytes: its first bytes go to
                            // the parser, which reports it as a bad record; the
                            // rest is skipped without becoming resident.
                            pieces::split_pieces(
                                bytes,
                                cut_at,
                                shown_end,
                                1,
                                0,
                                source::now_ms(),
                                next,
                            );
                            let line_end = pieces::skip_line(bytes, shown_end, limit, |upto| {
                                read.release_before(upto)
                            });
                            p.bytes_read += (line_end - shown_end) as u64;
                            line_end
                        }
                    }
                });
                if let Some(end) = next_end {
                    cut_at = end;
                }
                let step = next_end.map(|_| p.decode_step());
                let [first, second] = &mut decoded;
                let (now, next) = if cur == 0 {
                    (first, second)
                } else {
                    (second, first)
                };
                let decode_next = |next: &mut batch::Decoded| {
                    if let Some(step) = step {
                        step.run(&inputs, &batches[1 - cur], next);
                    }
                };
                let Some(end) = pending else {
                    // Nothing to apply yet: the first batch is decoded alone.
                    match next_end {
                        None => break,
                        Some(_) => {
                            decode_next(next);
                            pending = next_end;
                            cur = 1 - cur;
                            continue;
                        }
                    }
                };
                let late_before = p.counters.late;
                // The shards use every core; then the next batch is decoded
                // while this one's rows are sorted and written (the drain,
                // queued first, is what an idle worker takes first).
                p.apply(&inputs, &batches[cur], now)?;
                let ((), drained) = rayon::join(
                    || decode_next(next),
                    || p.drain(&inputs, &batches[cur], &now.parsed),
                );
                drained?;
                if warn_behind {
                    warn_behind = false;
                    warn_input_behind(
                        &inputs[0].name,
                        behind_before,
                        p.counters.late - late_before,
                    );
                }
                // A file truncated under us read as zeros past its new end:
                // stop before a checkpoint can record that batch.
                read.check_intact()?;
                pos = end;
                read.release_before(pos);
                p.positions[i].set_offset(seg, file, pos as u64);
                if let Some(b) = &bar {
                    b.set_position(p.bytes_read);
                }
                p.checkpoint_if_due(store)?;
                let sig = signal.load(Ordering::Relaxed);
                if sig != 0 {
                    p.positions[i].set_offset(seg, file, pos as u64);
                    if let Some(b) = bar {
                        b.finish_and_clear();
                    }
                    return Ok(FilesEnd::Interrupted(sig as i32));
                }
                pending = next_end;
                cur = 1 - cur;
            }
            p.positions[i].set_offset(seg, file, pos as u64);
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(FilesEnd::Done)
}

/// Inputs after the first are one stream with the ones before: when most of
/// a new input's first batch came in late, its times are behind what the
/// inputs before it reached (NAB-style one file per series). Say so, once,
/// with the way out.
fn warn_input_behind(name: &str, wm: i64, late: u64) {
    if wm == i64::MIN || late == 0 {
        return;
    }
    let mut at = Vec::new();
    crate::time::format_rfc3339_ms(wm, &mut at);
    crate::diag!(
        "vigil: warning: {} starts behind the watermark ({}) that the inputs before it set: {late} of its first records were late. Files read in one run are one stream in event time; for one series per file use --watermark per-input (and --input-field NAME to key by file)",
        crate::sink::console::escape_controls(name),
        String::from_utf8_lossy(&at)
    );
}
