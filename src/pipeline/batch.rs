//! One batch through the engine: its pieces parsed in parallel, stamped with
//! the watermark record by record in input order and routed to the shards by
//! key hash, applied to the shards in parallel, and what closed handed to the
//! emitter. Batch boundaries are consistent cuts, where checkpoints are taken.

use std::time::Instant;

use rayon::prelude::*;

use crate::error::Result;
use crate::shard::{KeyBudget, RecordView, Routed, Shard};
use crate::source::pieces::Piece;

use super::input::InputState;
use super::parse::{parse_piece, Parsed};
use super::Pipeline;

impl Pipeline<'_> {
    /// Decodes `pieces`, applies them, writes what closed.
    pub(super) fn process(&mut self, inputs: &[InputState], pieces: &[Piece<'_>]) -> Result<()> {
        let plan = self.engine.plan;
        while self.parsed.len() < pieces.len() {
            self.parsed.push(Parsed::default());
        }
        let parsed = &mut self.parsed[..pieces.len()];
        if pieces.len() == 1 {
            parse_piece(plan, &inputs[pieces[0].input], &pieces[0], &mut parsed[0]);
        } else {
            parsed
                .par_iter_mut()
                .zip(pieces.par_iter())
                .for_each(|(out, piece)| parse_piece(plan, &inputs[piece.input], piece, out));
        }
        self.emit.bad_lines(
            inputs,
            pieces,
            &self.parsed[..pieces.len()],
            &mut self.counters,
        )?;

        // Watermark and routing, record by record in input order.
        let nshards = self.shards.len();
        for r in &mut self.routed {
            r.clear();
        }
        let mut new_records = 0u64;
        for (ci, p) in self.parsed[..pieces.len()].iter().enumerate() {
            self.counters.records += p.lines;
            self.counters.bad_values += p.bad_values;
            self.value_tally.add(&p.tally);
            self.counters.filtered += p.filtered;
            for (ri, rec) in p.recs.iter().enumerate() {
                if !rec.filtered {
                    let shard = crate::shard::shard_of(rec.hash, nshards);
                    self.routed[shard].push(Routed {
                        chunk: ci as u32,
                        index: ri as u32,
                        wm_before: self.clock.wm,
                        seq: self.clock.next_seq(),
                    });
                    new_records += 1;
                }
                self.clock.observe(rec.time);
            }
        }
        for piece in pieces {
            self.bytes_read += piece.data.len() as u64;
        }
        self.apply(new_records);
        self.drain(inputs, pieces)
    }

    /// Applies the routed records to the shards and closes windows up to the watermark.
    fn apply(&mut self, new_records: u64) {
        let engine = &self.engine;
        let parsed = &self.parsed;
        let wm_end = self.clock.wm;
        let live: u64 = self.shards.iter().map(|s| s.live_keys()).sum();
        let view = |r: &Routed| {
            let p = &parsed[r.chunk as usize];
            let rec = &p.recs[r.index as usize];
            let n = engine.plan.agg.input_slots().len();
            RecordView {
                time: rec.time,
                hash: rec.hash,
                key: &p.keys[rec.key_start as usize..(rec.key_start + rec.key_len) as usize],
                values: &p.values[rec.val_start as usize..rec.val_start as usize + n],
            }
        };
        if live + new_records <= engine.max_keys {
            let work = |(shard, routed): (&mut Shard, &Vec<Routed>)| {
                let mut budget = KeyBudget::Unlimited;
                for r in routed {
                    shard.apply(engine, &view(r), *r, &mut budget);
                }
                shard.advance(engine, wm_end, true);
                shard.sort_rows();
            };
            if self.shards.len() == 1 {
                work((&mut self.shards[0], &self.routed[0]));
            } else {
                self.shards
                    .par_iter_mut()
                    .zip(self.routed.par_iter())
                    .for_each(work);
            }
        } else {
            // Near the key limit: one record at a time in input order, so the
            // same keys are refused whatever the thread count.
            let mut order: Vec<(usize, Routed)> = Vec::with_capacity(new_records as usize);
            for (s, routed) in self.routed.iter().enumerate() {
                order.extend(routed.iter().map(|r| (s, *r)));
            }
            order.sort_unstable_by_key(|(_, r)| r.seq);
            let mut total = live;
            for (s, r) in order {
                let before = self.shards[s].live_keys();
                let mut budget = KeyBudget::Counted {
                    others: total - before,
                    max: engine.max_keys,
                    _p: std::marker::PhantomData,
                };
                self.shards[s].apply(engine, &view(&r), r, &mut budget);
                total = total - before + self.shards[s].live_keys();
            }
            for shard in &mut self.shards {
                shard.advance(engine, wm_end, true);
            }
        }
        self.last_arrival = Instant::now();
    }

    /// Hands what the shards produced to the emitter.
    pub(super) fn drain(&mut self, inputs: &[InputState], pieces: &[Piece<'_>]) -> Result<()> {
        self.emit.drain(
            self.engine.plan,
            self.engine.max_keys,
            &mut self.shards,
            inputs,
            pieces,
            &self.parsed,
            &mut self.counters,
        )
    }

    /// Moves the watermark without records (wall clock, idle timeout).
    pub(super) fn advance_to(&mut self, wm: i64) -> Result<()> {
        if !self.clock.advance_to(wm) {
            return Ok(());
        }
        let engine = &self.engine;
        for shard in &mut self.shards {
            shard.advance(engine, wm, true);
        }
        self.drain(&[], &[])
    }

    /// End of input: every open window is emitted.
    pub(super) fn flush_all(&mut self) -> Result<()> {
        let engine = &self.engine;
        self.shards.par_iter_mut().for_each(|s| s.flush(engine));
        self.drain(&[], &[])
    }
}
