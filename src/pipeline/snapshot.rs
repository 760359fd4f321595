//! The pipeline's state to and from a checkpoint, only between batches:
//! output lengths (synced first), input positions, the watermark, every key's
//! windows and alert state, the counters, the firing alerts delivery
//! re-sends and the `--html` page's history (the page itself is written
//! at each checkpoint). The checkpoint room owns the
//! file format and the atomic store; this room only gathers and restores.

use crate::checkpoint::{self, Checkpoint};
use crate::error::Result;
use crate::html::RunFigures;
use crate::shard::stamp::Watermark;
use crate::shard::{shard_of, KeyEntry};
use crate::stats::Counters;

use super::Pipeline;

impl Pipeline<'_> {
    /// Writes a checkpoint of the state as it stands at this batch cut.
    pub(super) fn save_checkpoint(
        &mut self,
        store: &mut checkpoint::Store,
        last: bool,
    ) -> Result<()> {
        let (outputs, to_sync) = self.emit.flush_lengths()?;
        let counters = self.total_counters();
        let keys: Vec<&KeyEntry> = self.shards.iter().flat_map(|s| s.entries()).collect();
        store.save(
            &checkpoint::Snapshot {
                positions: &self.positions,
                outputs,
                max_seen: self.clock.max_seen,
                wm: self.clock.wm,
                seq: self.clock.seq,
                input_clocks: self.input_clock_state(),
                counters,
                keys,
                html: self.emit.html.as_ref().map(|h| h.store()),
                firing: self.emit.delivery.firing(),
                last,
            },
            to_sync,
        )?;
        if !last {
            let figures = self.page_figures(false);
            self.emit.page(|| figures)?;
        }
        Ok(())
    }

    /// Saves a checkpoint when one is due.
    pub(super) fn checkpoint_if_due(
        &mut self,
        store: &mut Option<checkpoint::Store>,
    ) -> Result<()> {
        match store {
            Some(s) if s.due() => self.save_checkpoint(s, false),
            Some(_) => Ok(()),
            None if self.emit.page_due() => {
                let figures = self.page_figures(false);
                self.emit.page(|| figures)
            }
            None => Ok(()),
        }
    }

    /// Continues from `ck`: watermark, counters, input positions, key state.
    pub(super) fn restore(&mut self, ck: Checkpoint) {
        self.clock = Watermark::restored(self.job.max_delay, ck.max_seen, ck.wm, ck.seq);
        self.input_clocks = ck
            .input_clocks
            .iter()
            .map(|&(max_seen, wm)| Watermark::restored(self.job.max_delay, max_seen, wm, ck.seq))
            .collect();
        self.prior = ck.counters;
        self.positions = ck.positions;
        if let Some(h) = &mut self.emit.html {
            h.resume(ck.html);
        }
        let n = self.shards.len();
        for shard in &mut self.shards {
            shard.resume_at(ck.wm);
        }
        for entry in ck.keys {
            let shard = shard_of(entry.hash, n);
            self.shards[shard].restore(&self.engine, entry);
        }
    }

    /// What the `--html` page says about the run so far.
    pub(super) fn page_figures(&self, finished: bool) -> RunFigures {
        RunFigures {
            run: self.counters.clone(),
            all_runs: self.resumed.then(|| self.total_counters()),
            elapsed: self.started.elapsed(),
            written_at: crate::source::now_ms(),
            finished,
        }
    }

    /// Counters of this run and the runs before it (a resumed job).
    pub(super) fn total_counters(&self) -> Counters {
        let mut c = self.prior.clone();
        c.add(&self.counters);
        c
    }
}
