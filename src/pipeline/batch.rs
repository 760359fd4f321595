//! One batch through the engine. The fast path: pieces are folded in
//! parallel into (key, pane) partials (`fold`); the pieces are then walked
//! in input order to place each one on the watermark (its start is the
//! latest time of the pieces before it) and to pick the few that need the
//! exact path, which are parsed again record by record and stamped with the
//! watermark each record saw; partials and exact records go to the shards by
//! key hash; the shards merge the partials, apply the exact records in input
//! order and close what the watermark passed. Merging first is exact: a
//! folded record has every window still open when it arrived, so no window
//! that closes while an exact record is applied can hold it. The per-record
//! path (count and session windows, `--max-keys` near its limit) parses,
//! stamps and applies every record in input order. Batch boundaries are
//! consistent cuts, where checkpoints are taken.

use std::time::Instant;

use rayon::prelude::*;

use crate::error::Result;
use crate::shard::stamp::Watermark;
use crate::shard::{shard_of, KeyBudget, RecordView, Routed, Shard};
use crate::source::pieces::Piece;

use super::emit::LateRef;
use super::fold::{fold_piece, Folded};
use super::input::InputState;
use super::parse::{parse_piece, Parsed};
use super::Pipeline;

/// Folding pays when a partial stands for many records: a (key, pane) that
/// gets fewer than this many records of a batch on average costs more as a
/// piece-local partial (a hash-table entry, a state copied into the shard)
/// than applying its records one by one. Measured on the 10M-row benchmark
/// (2 threads, CPU time user+sys, the two paths alternated): 500 keys with
/// about 20 records per key and minute, per-record 2.41-2.97 s (mean 2.70)
/// vs fold 2.63-3.13 s (2.89) over 6 pairs; 100 keys (about 100 a partial),
/// 1.66-2.06 s vs 1.87-2.02 s over 2 pairs, even; one global key, where the
/// per-record path runs its shard phase on one core, wall 3.08-3.12 s vs
/// 1.95-2.35 s.
const FOLD_MIN_RECORDS_PER_PARTIAL: u64 = 50;
/// Batches run on the per-record path after one that folded too little,
/// before folding is tried again (the data may change).
const FOLD_RETRY_BATCHES: u32 = 16;

/// One shard with the partials, as (piece, partial index), and the exact
/// records routed to it.
type ShardWork<'a> = (&'a mut Shard, (&'a Vec<(u32, u32)>, &'a Vec<Routed>));

/// Per-batch work buffers, reused.
#[derive(Default)]
pub(super) struct BatchBuffers {
    /// per piece: its parsed records (exact path)
    parsed: Vec<Parsed>,
    /// per piece: its folded partials (fast path)
    folded: Vec<Folded>,
    /// per piece: the watermark as it stood before the piece
    starts: Vec<Watermark>,
    /// per piece: parsed again record by record
    exact: Vec<bool>,
    /// per shard: the exact records routed to it
    routed: Vec<Vec<Routed>>,
    /// per shard: the partials routed to it, as (piece, partial index)
    partials: Vec<Vec<(u32, u32)>>,
    /// late records of the batch, any order (the emitter sorts them)
    late: Vec<LateRef>,
}

impl BatchBuffers {
    fn ensure(&mut self, pieces: usize, shards: usize) {
        while self.parsed.len() < pieces {
            self.parsed.push(Parsed::default());
        }
        while self.folded.len() < pieces {
            self.folded.push(Folded::default());
        }
        self.routed.resize_with(shards, Vec::new);
        self.partials.resize_with(shards, Vec::new);
        for r in &mut self.routed {
            r.clear();
        }
        for p in &mut self.partials {
            p.clear();
        }
        self.late.clear();
    }
}

impl Pipeline<'_> {
    /// Decodes `pieces`, applies them, writes what closed.
    pub(super) fn process(&mut self, inputs: &[InputState], pieces: &[Piece<'_>]) -> Result<()> {
        for piece in pieces {
            self.bytes_read += piece.data.len() as u64;
        }
        self.buf.ensure(pieces.len(), self.shards.len());
        // Both paths give the same state and outputs (tests/integration/
        // engine_paths.rs), so the choice is only a matter of speed.
        if !self.fold {
            return self.process_records(inputs, pieces, false);
        }
        if self.fold_skip > 0 {
            self.fold_skip -= 1;
            return self.process_records(inputs, pieces, false);
        }
        let (plan, layout, delay) = (self.engine.plan, self.engine.layout, self.job.max_delay);
        let folded = &mut self.buf.folded[..pieces.len()];
        folded
            .par_iter_mut()
            .zip(pieces.par_iter())
            .for_each(|(out, piece)| {
                fold_piece(plan, &layout, delay, &inputs[piece.input], piece, out)
            });
        let folded = &self.buf.folded[..pieces.len()];
        self.emit.bad_lines(
            inputs,
            pieces,
            folded.iter().map(|f| f.bad.as_slice()),
            &mut self.counters,
        )?;
        let (mut folded_records, mut partials) = (0u64, 0u64);
        for f in folded {
            self.counters.records += f.lines;
            self.counters.bad_values += f.bad_values;
            self.value_tally.add(&f.tally);
            self.counters.filtered += f.filtered;
            folded_records += f.records;
            partials += f.partials().len() as u64;
        }
        if !self.always_fold && folded_records < FOLD_MIN_RECORDS_PER_PARTIAL * partials {
            self.fold_skip = FOLD_RETRY_BATCHES;
        }

        // Place each piece on the watermark; pick the pieces for the exact path.
        let mut clock = self.clock;
        let mut new_keys = 0u64;
        self.buf.starts.clear();
        self.buf.exact.clear();
        for f in folded {
            let exact = f.needs_exact || f.min_end <= clock.before(i64::MIN);
            new_keys += if exact {
                f.records
            } else {
                f.partials().len() as u64
            };
            self.buf.starts.push(clock);
            self.buf.exact.push(exact);
            clock.absorb(f.max_time, f.records);
        }
        let live: u64 = self.shards.iter().map(|s| s.live_keys()).sum();
        if live + new_keys > self.engine.max_keys {
            // Near the key limit: every record in input order decides.
            return self.process_records(inputs, pieces, true);
        }

        // The exact pieces, parsed again.
        let buf = &mut self.buf;
        let exact = &buf.exact;
        buf.parsed[..pieces.len()]
            .par_iter_mut()
            .zip(pieces.par_iter())
            .enumerate()
            .filter(|(k, _)| exact[*k])
            .for_each(|(_, (out, piece))| parse_piece(plan, &inputs[piece.input], piece, out));

        // Route partials and exact records; collect the late lines.
        let nshards = self.shards.len();
        for (k, f) in buf.folded[..pieces.len()].iter_mut().enumerate() {
            let start = buf.starts[k];
            if buf.exact[k] {
                let mut piece_max = i64::MIN;
                let mut seq = start.seq;
                for (ri, rec) in buf.parsed[k].recs.iter().enumerate() {
                    if !rec.filtered {
                        buf.routed[shard_of(rec.hash, nshards)].push(Routed {
                            chunk: k as u32,
                            index: ri as u32,
                            wm_before: start.before(piece_max),
                            seq,
                        });
                        seq += 1;
                    }
                    piece_max = piece_max.max(rec.time);
                }
                continue;
            }
            f.rebase_seq(plan, start.seq);
            for (i, p) in f.partials().iter().enumerate() {
                buf.partials[shard_of(p.hash, nshards)].push((k as u32, i as u32));
            }
            self.counters.late += f.late.len() as u64;
            buf.late.extend(f.late.iter().map(|l| LateRef {
                seq: start.seq + l.seq,
                piece: k as u32,
                line_start: l.line_start,
                line_len: l.line_len,
            }));
        }
        self.clock = clock;

        let engine = &self.engine;
        let parsed = &buf.parsed;
        let folded = &buf.folded;
        let wm_end = self.clock.wm;
        let view = |r: &Routed| record_view(engine, parsed, r);
        let work = |(shard, (partials, routed)): ShardWork<'_>| {
            for &(k, i) in partials {
                shard.merge_partial(engine, folded[k as usize].partial(i as usize));
            }
            let mut budget = KeyBudget::Unlimited;
            for r in routed {
                shard.apply(engine, &view(r), *r, &mut budget);
            }
            shard.advance(engine, wm_end, true);
            shard.sort_rows();
        };
        self.shards
            .par_iter_mut()
            .zip(buf.partials.par_iter().zip(buf.routed.par_iter()))
            .for_each(work);
        self.last_arrival = Instant::now();
        self.drain(inputs, pieces)
    }

    /// The per-record path: every record parsed, stamped and applied in input
    /// order. `counted`: the batch's lines and bad records were already
    /// counted and reported by the fast path's fold.
    fn process_records(
        &mut self,
        inputs: &[InputState],
        pieces: &[Piece<'_>],
        counted: bool,
    ) -> Result<()> {
        let plan = self.engine.plan;
        let parsed = &mut self.buf.parsed[..pieces.len()];
        parsed
            .par_iter_mut()
            .zip(pieces.par_iter())
            .for_each(|(out, piece)| parse_piece(plan, &inputs[piece.input], piece, out));
        if !counted {
            let parsed = &self.buf.parsed[..pieces.len()];
            self.emit.bad_lines(
                inputs,
                pieces,
                parsed.iter().map(|p| p.bad.as_slice()),
                &mut self.counters,
            )?;
            for p in parsed {
                self.counters.records += p.lines;
                self.counters.bad_values += p.bad_values;
                self.value_tally.add(&p.tally);
                self.counters.filtered += p.filtered;
            }
        }
        // Watermark and routing, record by record in input order.
        let nshards = self.shards.len();
        let mut new_records = 0u64;
        for (ci, p) in self.buf.parsed[..pieces.len()].iter().enumerate() {
            for (ri, rec) in p.recs.iter().enumerate() {
                if !rec.filtered {
                    self.buf.routed[shard_of(rec.hash, nshards)].push(Routed {
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
        self.apply_records(new_records);
        self.drain(inputs, pieces)
    }

    /// Applies the routed records to the shards and closes windows up to the watermark.
    fn apply_records(&mut self, new_records: u64) {
        let engine = &self.engine;
        let parsed = &self.buf.parsed;
        let wm_end = self.clock.wm;
        let live: u64 = self.shards.iter().map(|s| s.live_keys()).sum();
        let view = |r: &Routed| record_view(engine, parsed, r);
        if live + new_records <= engine.max_keys {
            let work = |(shard, routed): (&mut Shard, &Vec<Routed>)| {
                let mut budget = KeyBudget::Unlimited;
                for r in routed {
                    shard.apply(engine, &view(r), *r, &mut budget);
                }
                shard.advance(engine, wm_end, true);
                shard.sort_rows();
            };
            self.shards
                .par_iter_mut()
                .zip(self.buf.routed.par_iter())
                .for_each(work);
        } else {
            // Near the key limit: one record at a time in input order, so the
            // same keys are refused whatever the thread count.
            let mut order: Vec<(usize, Routed)> = Vec::with_capacity(new_records as usize);
            for (s, routed) in self.buf.routed.iter().enumerate() {
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
        for shard in &mut self.shards {
            for (seq, chunk, index) in shard.out.late.drain(..) {
                let rec = &self.buf.parsed[chunk as usize].recs[index as usize];
                self.buf.late.push(LateRef {
                    seq,
                    piece: chunk,
                    line_start: rec.line_start,
                    line_len: rec.line_len,
                });
            }
        }
        self.emit.drain(
            self.engine.plan,
            self.engine.max_keys,
            &mut self.shards,
            inputs,
            pieces,
            &mut self.buf.late,
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

fn record_view<'p>(
    engine: &crate::shard::Engine<'_>,
    parsed: &'p [Parsed],
    r: &Routed,
) -> RecordView<'p> {
    let p = &parsed[r.chunk as usize];
    let rec = &p.recs[r.index as usize];
    let n = engine.plan.agg.input_slots().len();
    RecordView {
        time: rec.time,
        hash: rec.hash,
        key: &p.keys[rec.key_start as usize..(rec.key_start + rec.key_len) as usize],
        values: &p.values[rec.val_start as usize..rec.val_start as usize + n],
    }
}
