//! The file driver: every input a mapped regular file, read in order as one
//! stream. Checks the inputs against the checkpoint (resume offsets, rotated
//! generations), cuts each into batches of whole lines and the batches into
//! pieces, advances each input's position where its bytes are consumed, and
//! releases consumed pages. Knows no format beyond the header line.

use std::sync::Arc;

use crate::checkpoint::{self, Segment};
use crate::error::{Error, Result};
use crate::job::{InputSpec, Job};
use crate::source::{self, pieces};

use super::input::open_input;
use super::status::progress_bar;
use super::Pipeline;

/// Bytes of a mapped file decoded per batch: large enough to keep every core
/// busy, small enough that a checkpoint is never far away.
const BATCH_BYTES: usize = 8 << 20;
/// Pieces per thread in a batch, so uneven lines still balance.
const PIECES_PER_THREAD: usize = 4;

/// Reads every input as a mapped file, in order.
pub(super) fn run_files(
    p: &mut Pipeline<'_>,
    job: &Job,
    store: &mut Option<checkpoint::Store>,
) -> Result<()> {
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
    let bar = progress_bar(job, total);
    let resume = std::mem::take(&mut p.positions);
    let plans = checkpoint::verify_inputs(&files, &resume, job.incremental)?;
    p.positions = plans.iter().map(|(pos, _)| pos.clone()).collect();
    let mut batch: Vec<pieces::Piece<'_>> = Vec::new();
    for (i, (file, (_, segments))) in files.iter().zip(plans.iter()).enumerate() {
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
            while pos < limit {
                let end = pieces::line_end_after(bytes, (pos + BATCH_BYTES).min(limit), limit);
                batch.clear();
                pieces::split_pieces(
                    bytes,
                    pos,
                    end,
                    job.threads * PIECES_PER_THREAD,
                    0,
                    source::now_ms(),
                    &mut batch,
                );
                p.process(&inputs, &batch)?;
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
            }
            p.positions[i].set_offset(seg, file, pos as u64);
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(())
}
