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
//! stamps and applies every record in input order (the pieces are stamped
//! in parallel, each from the clock the pieces before it left: the stamps
//! of one pass). Batch boundaries are consistent cuts, where checkpoints
//! are taken.
//!
//! A batch runs in three steps. Decoding (`DecodeStep::run`: fold or parse
//! every piece into a `Decoded`) reads no engine state; `Pipeline::apply`
//! places, routes and applies it on the shards, which close what the
//! watermark passed; `Pipeline::drain` merges and writes what closed. The
//! file driver decodes batch k+1 while batch k drains: the drain is
//! sequential, the decode parallel, so together they keep every core busy.

use std::time::Instant;

use rayon::prelude::*;

use crate::error::Result;
use crate::plan::RecordPlan;
use crate::shard::stamp::Watermark;
use crate::shard::{shard_of, KeyBudget, RecordView, Routed, Shard};
use crate::source::pieces::Piece;
use crate::window::Layout;

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

/// One shard (and its index) with the partials routed to it, as (piece,
/// partial index).
type ShardWork<'a> = ((usize, &'a mut Shard), &'a Vec<(u32, u32)>);

/// A batch's pieces decoded, the first half of a batch. Reused.
#[derive(Default)]
pub(super) struct Decoded {
    /// per piece: its parsed records (per-record path, exact pieces)
    pub(super) parsed: Vec<Parsed>,
    /// per piece: its folded partials (fast path)
    folded: Vec<Folded>,
    /// the pieces were folded, else parsed
    fold: bool,
}

impl Decoded {
    fn ensure(&mut self, pieces: usize) {
        while self.parsed.len() < pieces {
            self.parsed.push(Parsed::default());
        }
        while self.folded.len() < pieces {
            self.folded.push(Folded::default());
        }
    }
}

/// What decoding a batch reads: the plan and the path, no engine state.
#[derive(Clone, Copy)]
pub(super) struct DecodeStep<'p> {
    plan: &'p RecordPlan,
    layout: Layout,
    delay: i64,
    fold: bool,
}

impl DecodeStep<'_> {
    /// Folds or parses every piece into `out`, in parallel.
    pub(super) fn run(&self, inputs: &[InputState], pieces: &[Piece<'_>], out: &mut Decoded) {
        out.ensure(pieces.len());
        out.fold = self.fold;
        let (plan, layout, delay) = (self.plan, self.layout, self.delay);
        if self.fold {
            out.folded[..pieces.len()]
                .par_iter_mut()
                .zip(pieces.par_iter())
                .for_each(|(out, piece)| {
                    fold_piece(plan, &layout, delay, &inputs[piece.input], piece, out)
                });
        } else {
            parse_all(plan, inputs, pieces, &mut out.parsed);
        }
    }
}

impl<'a> Pipeline<'a> {
    /// How the next batch is decoded: folded, unless this job cannot fold
    /// or folding did not pay lately. Both paths give the same state and
    /// outputs (tests/integration/engine_paths.rs), so the choice is only a
    /// matter of speed.
    pub(super) fn decode_step(&mut self) -> DecodeStep<'a> {
        let fold = self.fold && self.fold_skip == 0;
        if self.fold && !fold {
            self.fold_skip -= 1;
        }
        DecodeStep {
            plan: self.engine.plan,
            layout: self.engine.layout,
            delay: self.job.max_delay,
            fold,
        }
    }
}

fn parse_all(
    plan: &RecordPlan,
    inputs: &[InputState],
    pieces: &[Piece<'_>],
    parsed: &mut [Parsed],
) {
    parsed[..pieces.len()]
        .par_iter_mut()
        .zip(pieces.par_iter())
        .for_each(|(out, piece)| parse_piece(plan, &inputs[piece.input], piece, out));
}

/// Per-batch work buffers of the apply half, reused.
#[derive(Default)]
pub(super) struct BatchBuffers {
    /// per piece: the watermark as it stood before the piece
    starts: Vec<Watermark>,
    /// per piece: parsed again record by record
    exact: Vec<bool>,
    /// per piece, per shard: the exact records routed to it, in input order
    routed: Vec<Vec<Vec<Routed>>>,
    /// per shard: the partials routed to it, as (piece, partial index)
    partials: Vec<Vec<(u32, u32)>>,
    /// late records of the batch, any order (the emitter sorts them)
    late: Vec<LateRef>,
}

impl BatchBuffers {
    fn ensure(&mut self, shards: usize, pieces: usize) {
        if self.routed.len() < pieces {
            self.routed.resize_with(pieces, Vec::new);
        }
        for piece in &mut self.routed {
            piece.resize_with(shards, Vec::new);
            for r in piece {
                r.clear();
            }
        }
        self.partials.resize_with(shards, Vec::new);
        for p in &mut self.partials {
            p.clear();
        }
        self.late.clear();
    }
}

impl Pipeline<'_> {
    /// Decodes `pieces`, applies them, writes what closed.
    pub(super) fn process(&mut self, inputs: &[InputState], pieces: &[Piece<'_>]) -> Result<()> {
        let mut decoded = std::mem::take(&mut self.decoded);
        self.decode_step().run(inputs, pieces, &mut decoded);
        let applied = self
            .apply(inputs, pieces, &mut decoded)
            .and_then(|()| self.drain(inputs, pieces, &decoded.parsed));
        self.decoded = decoded;
        applied
    }

    /// The second half of a batch: `decoded` (from `pieces`) applied to the
    /// shards, which close what the watermark passed; `drain` then writes it.
    pub(super) fn apply(
        &mut self,
        inputs: &[InputState],
        pieces: &[Piece<'_>],
        decoded: &mut Decoded,
    ) -> Result<()> {
        for piece in pieces {
            self.bytes_read += piece.data.len() as u64;
        }
        self.buf.ensure(self.shards.len(), pieces.len());
        if !decoded.fold {
            return self.apply_records(inputs, pieces, decoded, false);
        }
        let plan = self.engine.plan;
        let folded = &decoded.folded[..pieces.len()];
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
            parse_all(plan, inputs, pieces, &mut decoded.parsed);
            return self.apply_records(inputs, pieces, decoded, true);
        }

        // The exact pieces, parsed again.
        let buf = &mut self.buf;
        let exact = &buf.exact;
        decoded.parsed[..pieces.len()]
            .par_iter_mut()
            .zip(pieces.par_iter())
            .enumerate()
            .filter(|(k, _)| exact[*k])
            .for_each(|(_, (out, piece))| parse_piece(plan, &inputs[piece.input], piece, out));

        // Route partials and exact records; collect the late lines.
        let nshards = self.shards.len();
        for (k, f) in decoded.folded[..pieces.len()].iter_mut().enumerate() {
            let start = buf.starts[k];
            if buf.exact[k] {
                let mut piece_max = i64::MIN;
                let mut seq = start.seq;
                for (ri, rec) in decoded.parsed[k].recs.iter().enumerate() {
                    if !rec.filtered {
                        buf.routed[k][shard_of(rec.hash, nshards)].push(Routed {
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
        let parsed = &decoded.parsed;
        let folded = &decoded.folded;
        let wm_end = self.clock.wm;
        let view = |r: &Routed| record_view(engine, parsed, r);
        let routed = &buf.routed[..pieces.len()];
        let work = |((s, shard), partials): ShardWork<'_>| {
            for &(k, i) in partials {
                shard.merge_partial(engine, folded[k as usize].partial(i as usize));
            }
            let mut budget = KeyBudget::Unlimited;
            for r in routed.iter().flat_map(|piece| &piece[s]) {
                shard.apply(engine, &view(r), *r, &mut budget);
            }
            shard.advance(engine, wm_end, true);
            shard.forget_idle();
            shard.sort_rows();
        };
        self.shards
            .par_iter_mut()
            .enumerate()
            .zip(buf.partials.par_iter())
            .for_each(work);
        self.last_arrival = Instant::now();
        Ok(())
    }

    /// The per-record path, on parsed pieces: every record stamped and
    /// applied in input order. `counted`: the batch's lines and bad records
    /// were already counted and reported by the fast path's fold.
    fn apply_records(
        &mut self,
        inputs: &[InputState],
        pieces: &[Piece<'_>],
        decoded: &Decoded,
        counted: bool,
    ) -> Result<()> {
        let parsed = &decoded.parsed[..pieces.len()];
        if !counted {
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
        // Watermark and routing. Each piece starts from the clock as the
        // pieces before it left it (their latest time and record count),
        // then stamps its own records in input order: the same stamps as one
        // pass over the batch, with the pieces routed in parallel.
        let mut clock = self.clock;
        let mut new_records = 0u64;
        self.buf.starts.clear();
        for p in parsed {
            self.buf.starts.push(clock);
            let records = p.recs.len() as u64 - p.filtered;
            clock.absorb(p.max_time, records);
            new_records += records;
        }
        self.clock = clock;
        let nshards = self.shards.len();
        self.buf.routed[..parsed.len()]
            .par_iter_mut()
            .zip(parsed.par_iter().zip(self.buf.starts.par_iter()))
            .enumerate()
            .for_each(|(k, (to, (p, start)))| {
                let mut clock = *start;
                for (ri, rec) in p.recs.iter().enumerate() {
                    if !rec.filtered {
                        to[shard_of(rec.hash, nshards)].push(Routed {
                            chunk: k as u32,
                            index: ri as u32,
                            wm_before: clock.wm,
                            seq: clock.next_seq(),
                        });
                    }
                    clock.observe(rec.time);
                }
            });
        self.apply_routed(&decoded.parsed, new_records);
        Ok(())
    }

    /// Applies the routed records to the shards and closes windows up to the watermark.
    fn apply_routed(&mut self, parsed: &[Parsed], new_records: u64) {
        let routed = &self.buf.routed[..parsed.len()];
        let engine = &self.engine;
        let wm_end = self.clock.wm;
        let live: u64 = self.shards.iter().map(|s| s.live_keys()).sum();
        let view = |r: &Routed| record_view(engine, parsed, r);
        if live + new_records <= engine.max_keys {
            let work = |(s, shard): (usize, &mut Shard)| {
                let mut budget = KeyBudget::Unlimited;
                for r in routed.iter().flat_map(|piece| &piece[s]) {
                    shard.apply(engine, &view(r), *r, &mut budget);
                }
                shard.advance(engine, wm_end, true);
                shard.forget_idle();
                shard.sort_rows();
            };
            self.shards.par_iter_mut().enumerate().for_each(work);
        } else {
            // Near the key limit: one record at a time in input order, so the
            // same keys are refused whatever the thread count.
            let mut order: Vec<(usize, Routed)> = Vec::with_capacity(new_records as usize);
            for piece in routed {
                for (s, to) in piece.iter().enumerate() {
                    order.extend(to.iter().map(|r| (s, *r)));
                }
            }
            order.sort_unstable_by_key(|(_, r)| r.seq);
            let mut wm = i64::MIN;
            for (s, r) in order {
                // Every shard at the watermark this record saw, so the keys
                // counted live in the others are those of one sequential
                // engine (a shard left behind still counted keys whose
                // windows had closed: more refusals with more threads).
                if r.wm_before != wm {
                    wm = r.wm_before;
                    for shard in self.shards.iter_mut() {
                        shard.advance(engine, wm, true);
                        shard.forget_idle();
                    }
                }
                let total: u64 = self.shards.iter().map(|s| s.live_keys()).sum();
                let mut budget = KeyBudget::Counted {
                    others: total - self.shards[s].live_keys(),
                    max: engine.max_keys,
                    _p: std::marker::PhantomData,
                };
                self.shards[s].apply(engine, &view(&r), r, &mut budget);
            }
            for shard in &mut self.shards {
                shard.advance(engine, wm_end, true);
                shard.forget_idle();
            }
        }
        self.last_arrival = Instant::now();
    }

    /// Hands what the shards produced to the emitter. `parsed`: the
    /// batch's parsed pieces, which late records point into.
    pub(super) fn drain(
        &mut self,
        inputs: &[InputState],
        pieces: &[Piece<'_>],
        parsed: &[Parsed],
    ) -> Result<()> {
        for shard in &mut self.shards {
            for (seq, chunk, index) in shard.out.late.drain(..) {
                let rec = &parsed[chunk as usize].recs[index as usize];
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
            shard.forget_idle();
        }
        self.drain(&[], &[], &[])
    }

    /// End of input: every open window is emitted.
    pub(super) fn flush_all(&mut self) -> Result<()> {
        let engine = &self.engine;
        self.shards.par_iter_mut().for_each(|s| {
            s.flush(engine);
            s.sort_rows();
        });
        self.drain(&[], &[], &[])
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
