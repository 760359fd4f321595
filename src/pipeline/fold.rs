//! Folding one piece: its lines decoded and aggregated straight into a
//! piece-local table of (key, pane) partial aggregates, so no per-record
//! array is built, routed or read again (Flink's local-global aggregation).
//! Lateness stays exact: the piece knows only the watermark its own earlier
//! records make, so a record late by that is late for sure (kept as a late
//! line); one whose windows all stay open by it is folded, and the piece
//! remembers the earliest window end it folded into. Once the pieces before
//! it are known, the batch checks that end against the real watermark; a
//! piece that fails, or holds a record late for only some of its windows,
//! is parsed again record by record (`parse`). Owns `Folded`; writes nothing.

use hashbrown::HashTable;

use crate::agg::{AggState, SlotValue};
use crate::decode::LineDecoder;
use crate::plan::{hash_bytes, same_key, Extracted, RecordPlan, Scratch, ValueTally};
use crate::shard::PartialRef;
use crate::source::pieces::{for_each_line, Piece};
use crate::window::{Layout, PaneSpan};

use super::input::InputState;
use super::parse::{decode_line, time_of_filtered, BadLine};

/// A record of a piece that is late by the piece's own watermark.
#[derive(Debug, Clone, Copy)]
pub struct LateLine {
    /// its sequence number within the piece
    pub seq: u64,
    pub line_start: u32,
    pub line_len: u32,
}

/// The records of one key in one pane of a piece. Slots are reused from
/// batch to batch, states emptied in place.
pub struct PieceAgg {
    /// the key's hash (routing)
    pub hash: u64,
    /// the table hash (key hash mixed with the pane)
    table_hash: u64,
    key_start: u32,
    key_len: u32,
    pub pane: i64,
    pub state: AggState,
    pub min_t: i64,
    pub max_t: i64,
}

/// One piece, folded. Reused from batch to batch.
pub struct Folded {
    table: HashTable<u32>,
    /// partials in use: `aggs[..used]`; the rest are emptied slots
    aggs: Vec<PieceAgg>,
    used: usize,
    /// key bytes of the partials
    keys: Vec<u8>,
    pub late: Vec<LateLine>,
    pub bad: Vec<BadLine>,
    pub lines: u64,
    pub bad_values: u64,
    /// per aggregate input: numbers and non-numbers seen
    pub tally: ValueTally,
    pub filtered: u64,
    /// records that take a sequence number (not filtered, not bad)
    pub records: u64,
    /// latest time of any record or filtered line (i64::MIN: none)
    pub max_time: i64,
    /// earliest end of a window a folded record went into (i64::MAX: none)
    pub min_end: i64,
    /// a record was late for some of its windows only: parse it exactly
    pub needs_exact: bool,
    key: Vec<u8>,
    values: Vec<SlotValue>,
}

impl Default for Folded {
    fn default() -> Folded {
        Folded {
            table: HashTable::new(),
            aggs: Vec::new(),
            used: 0,
            keys: Vec::new(),
            late: Vec::new(),
            bad: Vec::new(),
            lines: 0,
            bad_values: 0,
            tally: ValueTally::default(),
            filtered: 0,
            records: 0,
            max_time: i64::MIN,
            min_end: i64::MAX,
            needs_exact: false,
            key: Vec::new(),
            values: Vec::new(),
        }
    }
}

/// Mixes the pane into a key hash for the piece table.
#[inline]
fn table_hash(key_hash: u64, pane: i64) -> u64 {
    key_hash
        ^ (pane as u64)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(29)
}

impl Folded {
    /// The partials in use.
    pub fn partials(&self) -> &[PieceAgg] {
        &self.aggs[..self.used]
    }

    /// Partial `i` as the shards take it.
    pub fn partial(&self, i: usize) -> PartialRef<'_> {
        let a = &self.aggs[i];
        PartialRef {
            hash: a.hash,
            key: &self.keys[a.key_start as usize..(a.key_start + a.key_len) as usize],
            pane: a.pane,
            state: &a.state,
            min_t: a.min_t,
            max_t: a.max_t,
        }
    }

    /// Moves the first/last input positions of every partial by `base`.
    pub fn rebase_seq(&mut self, plan: &RecordPlan, base: u64) {
        for a in &mut self.aggs[..self.used] {
            plan.agg.rebase_seq(&mut a.state, base);
        }
    }

    fn reset(&mut self) {
        self.table.clear();
        self.used = 0;
        self.keys.clear();
        self.late.clear();
        self.bad.clear();
        self.lines = 0;
        self.bad_values = 0;
        self.filtered = 0;
        self.records = 0;
        self.max_time = i64::MIN;
        self.min_end = i64::MAX;
        self.needs_exact = false;
    }

    /// Adds the record in `self.key` / `self.values` to its (key, pane) partial.
    #[inline]
    fn fold(&mut self, plan: &RecordPlan, pane: i64, time: i64, seq: u64) {
        let key_hash = hash_bytes(&self.key);
        let th = table_hash(key_hash, pane);
        let (aggs, keys, key) = (&self.aggs, &self.keys, &self.key);
        let found = self
            .table
            .find(th, |&i| {
                let a = &aggs[i as usize];
                a.pane == pane
                    && same_key(
                        &keys[a.key_start as usize..(a.key_start + a.key_len) as usize],
                        key,
                    )
            })
            .copied();
        let idx = match found {
            Some(i) => i as usize,
            None => {
                let i = self.used;
                self.used += 1;
                let key_start = self.keys.len() as u32;
                self.keys.extend_from_slice(&self.key);
                let slot = PieceAgg {
                    hash: key_hash,
                    table_hash: th,
                    key_start,
                    key_len: self.key.len() as u32,
                    pane,
                    state: AggState::default(),
                    min_t: i64::MAX,
                    max_t: i64::MIN,
                };
                if i < self.aggs.len() {
                    let old = std::mem::replace(&mut self.aggs[i], slot);
                    self.aggs[i].state = old.state;
                    plan.agg.reset_state(&mut self.aggs[i].state);
                } else {
                    self.aggs.push(PieceAgg {
                        state: plan.agg.new_state(),
                        ..slot
                    });
                }
                let aggs = &self.aggs;
                self.table
                    .insert_unique(th, i as u32, |&j| aggs[j as usize].table_hash);
                i
            }
        };
        let p = &mut self.aggs[idx];
        plan.agg.update(&mut p.state, time, seq, &self.values);
        p.min_t = p.min_t.min(time);
        p.max_t = p.max_t.max(time);
    }
}

/// Decodes and folds every line of `piece` into `out` (reset first).
pub fn fold_piece(
    plan: &RecordPlan,
    layout: &Layout,
    delay: i64,
    input: &InputState,
    piece: &Piece<'_>,
    out: &mut Folded,
) {
    let mut decoder = input.decoder.fork();
    let job = (plan, layout, delay);
    match decoder.as_csv() {
        Some(csv) => fold_piece_with(csv, job, input, piece, out),
        None => fold_piece_with(decoder.as_mut(), job, input, piece, out),
    }
}

/// [`fold_piece`] with `decoder`, of its own type where it can be.
fn fold_piece_with<D: LineDecoder + ?Sized>(
    decoder: &mut D,
    (plan, layout, delay): (&RecordPlan, &Layout, i64),
    input: &InputState,
    piece: &Piece<'_>,
    out: &mut Folded,
) {
    out.reset();
    out.tally.reset(plan.agg.input_slots().len());
    let mut scratch = Scratch::new(plan);
    // the latest time before the current line, in this piece
    let mut local_max = i64::MIN;
    // the pane of the record before, with its window ends
    let mut span = PaneSpan::NONE;
    for_each_line(piece.data, |start, line| {
        out.lines += 1;
        let bad = |error, out: &mut Folded| out.bad.push(BadLine::new(start, line, error));
        if let Err(b) = decode_line(plan, decoder, input, &mut scratch, start, line) {
            out.bad.push(b);
            return;
        }
        out.key.clear();
        out.values.clear();
        match plan.extract(
            line,
            &mut scratch,
            &input.time_format,
            piece.arrival_ms,
            &mut out.key,
            &mut out.values,
            &mut out.tally,
        ) {
            Err(e) => bad(e, out),
            Ok(Extracted::Filtered) => {
                out.filtered += 1;
                let t = time_of_filtered(plan, line, &scratch, input, piece.arrival_ms);
                local_max = local_max.max(t);
            }
            Ok(Extracted::Record { time }) => {
                let seq = out.records;
                out.records += 1;
                let wm = if local_max == i64::MIN {
                    i64::MIN
                } else {
                    local_max.saturating_sub(delay)
                };
                if !span.holds(time) {
                    span = layout.pane_span(time);
                }
                let (first_end, last_end) = (span.first_end, span.last_end);
                if last_end <= wm {
                    out.late.push(LateLine {
                        seq,
                        line_start: start as u32,
                        line_len: line.len() as u32,
                    });
                } else if first_end <= wm {
                    out.needs_exact = true;
                } else {
                    out.min_end = out.min_end.min(first_end);
                    out.fold(plan, span.start, time, seq);
                }
                local_max = local_max.max(time);
            }
        }
    });
    out.max_time = local_max;
    out.bad_values = out.tally.bad_values();
}
