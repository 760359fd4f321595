//! One shard of the keyed state: the keys routed to it by hash, their open
//! windows, their alert trackers, and the timers that close windows and run
//! absent() checks as the watermark passes. A shard is owned by one worker at
//! a time, so neither path into it takes a lock: partial aggregates folded
//! while parsing are merged whole (`merge_partial`), records that need the
//! exact order are applied one by one (`apply`). Shards produce rows, alert
//! events and late-record marks into their own buffers; the pipeline's emit
//! room writes them in report order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use hashbrown::HashTable;
use serde::{Deserialize, Serialize};

use crate::agg::{AggState, AggValue, SlotValue};
use crate::alert::{absent, AlertTracker, Transition};
use crate::history::KeyHistory;
use crate::plan::{same_key, RecordPlan};
use crate::stats::Counters;
use crate::window::{Added, Closed, KeyWindows, Layout};

pub mod rows;
pub mod stamp;

pub use rows::{Row, RowBuf};

/// The shard that owns keys with this hash, among `n`: the top 24 bits of
/// the hash scaled to `n` by a multiply, not a division (which costs tens
/// of cycles for every record routed).
#[inline]
pub fn shard_of(hash: u64, n: usize) -> usize {
    (((hash >> 40) * n as u64) >> 24) as usize
}

/// One alert event.
#[derive(Debug, Clone)]
pub struct AlertEvent {
    pub time: i64,
    pub rule: usize,
    pub transition: Transition,
    pub key: Box<[u8]>,
    pub value: AggValue,
}

/// What the app knows about a record when it hands it to a shard.
#[derive(Debug, Clone, Copy)]
pub struct Routed {
    /// index of the parsed chunk in the batch
    pub chunk: u32,
    /// index of the record in that chunk
    pub index: u32,
    pub wm_before: i64,
    pub seq: u64,
}

/// A record's data as the shard needs it.
pub struct RecordView<'a> {
    pub time: i64,
    pub hash: u64,
    pub key: &'a [u8],
    pub values: &'a [SlotValue],
}

/// A key's bytes, kept in its entry while short (two short key fields), so
/// the lookup that compares it reads the entry alone, not the entry and then
/// a heap block.
pub type EntryKey = smallvec::SmallVec<[u8; 24]>;

/// Per-key state, checkpointed as is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyEntry {
    pub key: EntryKey,
    pub hash: u64,
    pub windows: KeyWindows,
    pub trackers: Vec<AlertTracker>,
    /// per rule: the window end at which its absent() silence fired, while firing
    pub absent_fired: Vec<Option<i64>>,
    /// windows emitted so far (numbering for session and count windows)
    pub emitted: i64,
    /// the key's series for history functions (SPEC 9)
    pub history: KeyHistory,
    #[serde(skip)]
    next_due: i64,
    /// the time of this key's live timer in the shard's heap (`i64::MAX`: none);
    /// never later than `next_due` (see `arm`)
    #[serde(skip)]
    timer_due: i64,
    #[serde(skip)]
    absent_due: i64,
    /// the key's rows in the `--lookup` tables, joined at its first window
    /// (not checkpointed: the tables are part of the job's fingerprint)
    #[serde(skip)]
    lookup_rows: Option<Box<[u32]>>,
}

/// Records of one key in one pane, aggregated while parsing (borrowed from
/// the piece that folded them).
#[derive(Debug, Clone, Copy)]
pub struct PartialRef<'a> {
    pub hash: u64,
    pub key: &'a [u8],
    pub pane: i64,
    pub state: &'a AggState,
    pub min_t: i64,
    pub max_t: i64,
}

/// Everything a shard produced since it was last drained.
#[derive(Debug, Default)]
pub struct ShardOutput {
    pub rows: RowBuf,
    pub alerts: Vec<AlertEvent>,
    /// (seq, chunk, index) of late records
    pub late: Vec<(u64, u32, u32)>,
    /// (seq, chunk, index) of records dropped by --max-keys
    pub dropped: Vec<(u64, u32, u32)>,
    pub counters: Counters,
}

/// Shared, read-only context of a run.
pub struct Engine<'a> {
    pub plan: &'a RecordPlan,
    pub layout: Layout,
    /// true when some rule is absent(DUR): keys are never forgotten
    pub keep_keys: bool,
    /// true when a processing-time or end-of-input close must not fire absent checks
    pub max_keys: u64,
    /// rows are written as text where they close (CSV or JSON lines, no page)
    pub row_text: Option<crate::sink::RowText>,
}

/// Key-count limit for one batch: unlimited when the limit cannot be reached in
/// it, else a counter shared by all shards processed sequentially.
pub enum KeyBudget<'a> {
    Unlimited,
    Counted {
        others: u64,
        max: u64,
        _p: std::marker::PhantomData<&'a ()>,
    },
}

pub struct Shard {
    table: HashTable<u32>,
    keys: Vec<Option<KeyEntry>>,
    free: Vec<u32>,
    live: u64,
    timers: BinaryHeap<Reverse<(i64, u32)>>,
    absent_timers: BinaryHeap<Reverse<(i64, u32)>>,
    /// absent() checks are done for every window end up to this watermark
    absent_done: i64,
    pub out: ShardOutput,
    finished: Vec<AggValue>,
    scratch: Option<AggState>,
    /// the windows a key closes at once, before they are reported, as
    /// (start, end, where its values begin in `closing_values`) (reused)
    closing: Vec<(i64, i64, usize)>,
    closing_values: Vec<AggValue>,
    /// keys left idle by a close, forgotten at the end of the batch unless a
    /// record came for them meanwhile (see `forget_idle`)
    idle: Vec<u32>,
}

impl Default for Shard {
    fn default() -> Shard {
        Shard {
            table: HashTable::new(),
            keys: Vec::new(),
            free: Vec::new(),
            live: 0,
            timers: BinaryHeap::new(),
            absent_timers: BinaryHeap::new(),
            absent_done: i64::MIN,
            out: ShardOutput::default(),
            finished: Vec::new(),
            scratch: None,
            closing: Vec::new(),
            closing_values: Vec::new(),
            idle: Vec::new(),
        }
    }
}

impl Shard {
    pub fn live_keys(&self) -> u64 {
        self.live
    }

    /// Puts this shard's pending rows in report order, so merging the shards'
    /// rows is cheap.
    pub fn sort_rows(&mut self) {
        self.out.rows.sort();
    }

    /// Closes every window (and fires every absent check) due at `wm`, then
    /// adds one record that arrived with watermark `wm_before`.
    pub fn apply(
        &mut self,
        engine: &Engine<'_>,
        rec: &RecordView<'_>,
        routed: Routed,
        budget: &mut KeyBudget<'_>,
    ) {
        self.advance(engine, routed.wm_before, true);
        if matches!(budget, KeyBudget::Counted { .. }) {
            self.forget_idle();
        }
        let id = match self.find_or_insert(engine, rec, budget) {
            Some(id) => id,
            None => {
                self.out.counters.dropped += 1;
                self.out
                    .dropped
                    .push((routed.seq, routed.chunk, routed.index));
                return;
            }
        };
        let Shard {
            keys,
            out,
            finished,
            timers,
            absent_timers,
            ..
        } = self;
        let entry = keys[id as usize].as_mut().expect("live key");
        let mut full: Option<(i64, i64)> = None;
        let added = entry.windows.add(
            &engine.layout,
            &engine.plan.agg,
            rec.time,
            routed.seq,
            rec.values,
            routed.wm_before,
            &mut |c: Closed<'_>| {
                finished.clear();
                engine.plan.agg.finish(c.state, c.end - c.start, finished);
                full = Some((c.start, c.end));
            },
        );
        if added == Added::Late {
            out.counters.late += 1;
            out.late.push((routed.seq, routed.chunk, routed.index));
            return;
        }
        if let Some((start, end)) = full {
            emit_window(
                engine,
                entry,
                out,
                (routed.seq as i64, 0),
                (start, end),
                finished,
            );
        }
        if added == Added::Opened {
            entry.next_due = entry.windows.next_due(&engine.layout);
            arm(timers, entry, id);
        }
        if engine.keep_keys {
            schedule_absent(engine, entry, id, self.absent_done, absent_timers);
        }
    }

    /// Merges records folded while parsing (every one of them with all its
    /// windows still open when it arrived). Windows close later, in `advance`.
    pub fn merge_partial(&mut self, engine: &Engine<'_>, partial: PartialRef<'_>) {
        let PartialRef {
            hash,
            key,
            pane,
            state,
            min_t,
            max_t,
        } = partial;
        let id = match self.find(hash, key) {
            Some(id) => id,
            None => {
                let entry = new_entry(engine, key.into(), hash);
                self.insert_entry(entry)
            }
        };
        let entry = self.keys[id as usize].as_mut().expect("live key");
        let added = entry
            .windows
            .merge_pane(&engine.plan.agg, pane, state, min_t, max_t);
        if added == Added::Opened {
            entry.next_due = entry.windows.next_due(&engine.layout);
            arm(&mut self.timers, entry, id);
        }
        if engine.keep_keys {
            schedule_absent(engine, entry, id, self.absent_done, &mut self.absent_timers);
        }
    }

    /// Closes windows with end <= `wm`; with `absent_checks`, fires absent rules
    /// whose deadline is <= `wm`. Called before every record: inline, it
    /// is a look at the earliest timer, mostly.
    #[inline]
    pub fn advance(&mut self, engine: &Engine<'_>, wm: i64, absent_checks: bool) {
        let due = self
            .timers
            .peek()
            .is_some_and(|&Reverse((due, _))| due <= wm);
        if due || (absent_checks && engine.keep_keys) {
            self.advance_now(engine, wm, absent_checks);
        }
    }

    /// [`Shard::advance`] when a timer is due or absent() rules are checked.
    #[inline(never)]
    fn advance_now(&mut self, engine: &Engine<'_>, wm: i64, absent_checks: bool) {
        // absent() first: closing drops panes whose record times it reads.
        if absent_checks && engine.keep_keys {
            self.run_absent(engine, wm);
        }
        while let Some(&Reverse((due, id))) = self.timers.peek() {
            if due > wm {
                break;
            }
            self.timers.pop();
            let Some(entry) = self.keys[id as usize].as_mut() else {
                continue;
            };
            if entry.timer_due != due {
                continue; // superseded by an earlier timer
            }
            if entry.next_due <= wm {
                self.close_key(engine, id, wm);
            } else {
                // set early, before the key's windows moved on: set it again
                entry.timer_due = i64::MAX;
                arm(&mut self.timers, entry, id);
            }
        }
    }

    /// Fires and resolves absent() rules at every window end up to `wm`, in
    /// time order, with the records each key had when the watermark got there.
    fn run_absent(&mut self, engine: &Engine<'_>, wm: i64) {
        while let Some(&Reverse((due, id))) = self.absent_timers.peek() {
            if due > wm {
                break;
            }
            self.absent_timers.pop();
            let Some(entry) = self.keys[id as usize].as_mut() else {
                continue;
            };
            if entry.absent_due != due {
                continue;
            }
            // This key had no event at any end before `due`: check exactly `due`.
            let before = due.saturating_sub(1);
            for (r, rule) in engine.plan.rules.iter().enumerate() {
                let Some(ms) = rule.absent_ms else { continue };
                let (dropped, panes) = entry.windows.times();
                let Some((time, t)) = absent::next_event(
                    &engine.layout,
                    ms,
                    entry.absent_fired[r],
                    dropped,
                    panes,
                    before,
                ) else {
                    continue;
                };
                if time != due {
                    continue;
                }
                let changed = match t {
                    Transition::Firing => {
                        entry.absent_fired[r] = Some(due);
                        entry.trackers[r].on_absent()
                    }
                    Transition::Resolved => {
                        entry.absent_fired[r] = None;
                        entry.trackers[r].on_present()
                    }
                };
                if let Some(t) = changed {
                    self.out.counters.alerts += 1;
                    if t == Transition::Firing {
                        self.out.counters.alerts_fired += 1;
                    }
                    self.out.alerts.push(AlertEvent {
                        time: due,
                        rule: r,
                        transition: t,
                        key: entry.key[..].into(),
                        value: AggValue::Null,
                    });
                }
            }
            schedule_absent(engine, entry, id, due, &mut self.absent_timers);
        }
        self.absent_done = self.absent_done.max(wm);
    }

    /// End of input: closes every window (count windows too), without absent checks.
    pub fn flush(&mut self, engine: &Engine<'_>) {
        for id in 0..self.keys.len() as u32 {
            if self.keys[id as usize].is_some() {
                self.close_key(engine, id, i64::MAX);
                // nothing comes after the flush: each key goes at once
                self.forget_idle();
            }
        }
        self.timers.clear();
    }

    fn close_key(&mut self, engine: &Engine<'_>, id: u32, wm: i64) {
        let Shard {
            keys,
            out,
            scratch,
            timers,
            closing: closed,
            closing_values,
            ..
        } = self;
        let entry = keys[id as usize].as_mut().expect("live key");
        entry.windows.close(
            &engine.layout,
            &engine.plan.agg,
            wm,
            scratch,
            &mut |c: Closed<'_>| {
                let at = closing_values.len();
                engine
                    .plan
                    .agg
                    .finish(c.state, c.end - c.start, closing_values);
                closed.push((c.start, c.end, at));
            },
        );
        for w in 0..closed.len() {
            let (start, end, at) = closed[w];
            let upto = closed.get(w + 1).map_or(closing_values.len(), |n| n.2);
            let order = match engine.layout {
                Layout::Count { .. } => (i64::MAX, 0),
                _ => (end, start),
            };
            emit_window(
                engine,
                entry,
                out,
                order,
                (start, end),
                &mut closing_values[at..upto],
            );
        }
        closed.clear();
        closing_values.clear();
        let (due, history_idle) = next_due_with_history(engine, entry, wm);
        entry.next_due = due;
        entry.timer_due = i64::MAX;
        arm(timers, entry, id);
        let idle = entry.windows.is_empty()
            && !engine.keep_keys
            && history_idle
            && entry.trackers.iter().all(|t| t.is_idle());
        if idle {
            if defers_forgetting(engine) {
                self.idle.push(id);
            } else {
                self.forget(id);
            }
        }
    }

    /// Forgets the keys a close left idle that are idle still. Called at
    /// the end of every batch (so checkpoints and key counts are as if each
    /// was forgotten at once) and before a record is applied against the
    /// `--max-keys` budget. Meanwhile a key whose next window opens within
    /// the batch keeps its entry, its allocations and its pane spare: with
    /// a watermark that closes a key's window before its next record comes,
    /// most keys went idle between two windows (callgrind, 1M rows: 31,000
    /// entries made again for 50,000 windows).
    pub fn forget_idle(&mut self) {
        let mut idle = std::mem::take(&mut self.idle);
        for id in idle.drain(..) {
            let still = self.keys[id as usize]
                .as_ref()
                .is_some_and(|e| e.windows.is_empty());
            if still {
                self.forget(id);
            }
        }
        self.idle = idle;
    }

    fn forget(&mut self, id: u32) {
        if let Some(entry) = self.keys[id as usize].take() {
            if let Ok(found) = self.table.find_entry(entry.hash, |&k| k == id) {
                found.remove();
            }
            self.free.push(id);
            self.live -= 1;
        }
    }

    /// The id of the key `key` (hash `hash`), when it has an entry. Called
    /// for every record: the candidates come from `iter_hash` and are
    /// compared here, inline (`HashTable::find` calls its compare through a
    /// `dyn` closure).
    #[inline(always)]
    fn find(&self, hash: u64, key: &[u8]) -> Option<u32> {
        for &k in self.table.iter_hash(hash) {
            let same = self.keys[k as usize]
                .as_ref()
                .is_some_and(|e| e.hash == hash && same_key(&e.key, key));
            if same {
                return Some(k);
            }
        }
        None
    }

    fn find_or_insert(
        &mut self,
        engine: &Engine<'_>,
        rec: &RecordView<'_>,
        budget: &mut KeyBudget<'_>,
    ) -> Option<u32> {
        if let Some(id) = self.find(rec.hash, rec.key) {
            return Some(id);
        }
        if let KeyBudget::Counted { others, max, .. } = budget {
            if *others + self.live >= *max {
                return None;
            }
        }
        let entry = new_entry(engine, rec.key.into(), rec.hash);
        Some(self.insert_entry(entry))
    }

    fn insert_entry(&mut self, entry: KeyEntry) -> u32 {
        let hash = entry.hash;
        let id = match self.free.pop() {
            Some(id) => {
                self.keys[id as usize] = Some(entry);
                id
            }
            None => {
                self.keys.push(Some(entry));
                (self.keys.len() - 1) as u32
            }
        };
        let keys = &self.keys;
        self.table.insert_unique(hash, id, |&k| {
            keys[k as usize].as_ref().map_or(0, |e| e.hash)
        });
        self.live += 1;
        id
    }

    /// Every key's state, for a checkpoint (order: by key bytes, so the file
    /// does not depend on the shard count).
    pub fn entries(&self) -> impl Iterator<Item = &KeyEntry> {
        self.keys.iter().flatten()
    }

    /// Continues a checkpointed run: absent() checks were done up to `wm`.
    pub fn resume_at(&mut self, wm: i64) {
        self.absent_done = wm;
    }

    /// Restores a key from a checkpoint (after `resume_at`).
    pub fn restore(&mut self, engine: &Engine<'_>, mut entry: KeyEntry) {
        entry.next_due = next_due_with_history(engine, &mut entry, i64::MIN).0;
        entry.absent_due = i64::MAX;
        entry.timer_due = i64::MAX;
        let id = self.insert_entry(entry);
        let entry = self.keys[id as usize].as_mut().expect("just inserted");
        arm(&mut self.timers, entry, id);
        if engine.keep_keys {
            schedule_absent(engine, entry, id, self.absent_done, &mut self.absent_timers);
        }
    }
}

fn new_entry(engine: &Engine<'_>, key: EntryKey, hash: u64) -> KeyEntry {
    KeyEntry {
        key,
        hash,
        windows: KeyWindows::new(&engine.layout),
        trackers: vec![AlertTracker::default(); engine.plan.rules.len()],
        absent_fired: vec![None; engine.plan.rules.len()],
        emitted: 0,
        history: KeyHistory::default(),
        next_due: i64::MAX,
        timer_due: i64::MAX,
        absent_due: i64::MAX,
        lookup_rows: None,
    }
}

/// Makes sure a timer fires at or before the key's `next_due`. A timer is
/// pushed only when that time moved earlier than the live one; one that
/// fires before `next_due` is set again by `advance`. A session that every
/// record extends therefore costs a heap push per gap, not per record, and
/// the key still closes in the same `advance` as with one exact timer.
fn arm(timers: &mut BinaryHeap<Reverse<(i64, u32)>>, entry: &mut KeyEntry, id: u32) {
    if entry.next_due < entry.timer_due {
        timers.push(Reverse((entry.next_due, id)));
        entry.timer_due = entry.next_due;
    }
}

/// Recomputes when the key's next absent() event is due (checks up to
/// `after` are done) and sets a timer when it changed.
fn schedule_absent(
    engine: &Engine<'_>,
    entry: &mut KeyEntry,
    id: u32,
    after: i64,
    timers: &mut BinaryHeap<Reverse<(i64, u32)>>,
) {
    let mut due = i64::MAX;
    for (r, rule) in engine.plan.rules.iter().enumerate() {
        let Some(ms) = rule.absent_ms else { continue };
        let (dropped, panes) = entry.windows.times();
        if let Some((time, _)) = absent::next_event(
            &engine.layout,
            ms,
            entry.absent_fired[r],
            dropped,
            panes,
            after,
        ) {
            due = due.min(time);
        }
    }
    if due != entry.absent_due {
        entry.absent_due = due;
        if due != i64::MAX {
            timers.push(Reverse((due, id)));
        }
    }
}

/// The key's next timer: its earliest open window's end, or, once it has no
/// open window, the watermark at which its history (SPEC 9) stops mattering.
/// Also whether that history is already useless at `wm` (after dropping the
/// points no later window can read), so the key may be forgotten.
fn next_due_with_history(engine: &Engine<'_>, entry: &mut KeyEntry, wm: i64) -> (i64, bool) {
    let due = entry.windows.next_due(&engine.layout);
    let history = &engine.plan.history.plan;
    if history.is_empty() {
        return (due, true);
    }
    history.prune(&mut entry.history, wm);
    match history.forget_at(&entry.history) {
        None => (due, false),
        Some(at) if at <= wm => (due, true),
        Some(at) if entry.windows.is_empty() => (due.min(at), false),
        Some(_) => (due, false),
    }
}

/// Whether an idle key may wait for the end of the batch to be forgotten:
/// on a window grid, with no alert rule and no history function, an idle
/// entry (no pane, no absent() state) holds nothing a fresh one would not;
/// sessions and count windows number their windows per key, trackers and
/// history series have their own idleness, so those keys go at once.
fn defers_forgetting(engine: &Engine<'_>) -> bool {
    matches!(engine.layout, Layout::Panes { .. })
        && !engine.keep_keys
        && engine.plan.rules.is_empty()
        && engine.plan.history.plan.is_empty()
}

/// Reports one closed window of `entry`: its row, and its alert transitions.
fn emit_window(
    engine: &Engine<'_>,
    entry: &mut KeyEntry,
    out: &mut ShardOutput,
    order: (i64, i64),
    (start, end): (i64, i64),
    values: &mut [AggValue],
) {
    let plan = engine.plan;
    let index = match engine.layout.slide() {
        Some(slide) => start.div_euclid(slide),
        None => entry.emitted,
    };
    entry.emitted += 1;
    let rows = entry
        .lookup_rows
        .get_or_insert_with(|| plan.window_rows(&entry.key));
    plan.eval_history(&mut entry.history, end, values, &entry.key, rows);
    for (r, rule) in plan.rules.iter().enumerate() {
        if rule.absent_ms.is_some() {
            continue; // absent() follows the watermark, not the windows
        }
        let cond = plan.eval_rule(r, false, values, &entry.key, rows);
        let clear = rule
            .clear
            .as_ref()
            .map(|_| plan.eval_rule(r, true, values, &entry.key, rows));
        let transition = entry.trackers[r].on_window(rule.rule.for_windows, index, cond, clear);
        if let Some(t) = transition {
            out.counters.alerts += 1;
            if t == Transition::Firing {
                out.counters.alerts_fired += 1;
            }
            out.alerts.push(AlertEvent {
                time: end,
                rule: r,
                transition: t,
                key: entry.key[..].into(),
                value: rule.value_output.map_or(AggValue::Null, |o| values[o]),
            });
        }
    }
    out.counters.windows += 1;
    out.rows.push(
        engine.row_text.as_ref(),
        order,
        (start, end),
        &entry.key,
        &values[..plan.visible],
    );
}

#[cfg(test)]
mod tests {
    use super::shard_of;
    use crate::test_rng::Rng;

    #[test]
    fn shard_of_spreads_hashes_over_every_shard_and_stays_in_range() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for n in 1..=64 {
            let mut counts = vec![0u32; n];
            for _ in 0..20_000 {
                let s = shard_of(rng.next(), n);
                assert!(s < n, "{s} of {n}");
                counts[s] += 1;
            }
            let even = 20_000 / n as u32;
            for (s, &c) in counts.iter().enumerate() {
                assert!(c > even / 2 && c < even * 2, "shard {s} of {n}: {c}");
            }
        }
        assert_eq!(shard_of(0, 7), 0);
        assert_eq!(shard_of(u64::MAX, 7), 6);
        assert_eq!(shard_of(u64::MAX, 1), 0);
    }
}
