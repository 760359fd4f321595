//! What the page remembers of a run, fed with the report rows and alert
//! events as they are written: a record count per key, the series of the
//! keys that may be drawn, alert firing spans, the alert events for the
//! table, and late and bad counts per input. Every part is bounded, and the
//! whole is checkpointed, so a resumed run draws the whole history. Pure: no
//! I/O; its state depends only on the sequence of rows and events fed to it,
//! never on batch boundaries or thread count.
//!
//! Which keys are drawn: the [`SHOWN_KEYS`] with the most records (ties: the
//! smaller key). A key's record count is the sum of its `count()` column when
//! the job has one; otherwise the number of its windows, and the page says so.
//! Series are kept for the [`CANDIDATE_KEYS`] best-ranked keys only. Rows of
//! one report group (one window end) arrive key by key, so rankings are
//! compared when a group is complete: a key outside the candidates whose
//! count reaches the worst candidate's keeps its rows of the group aside,
//! and enters (its rows with it) if it ranks above that candidate once the
//! group ends. So the candidates are always the best-ranked keys, and a key
//! that is among them from its first window has its whole history; a key
//! that climbs into them later is drawn from the window it entered, and the
//! legend says from when.

use std::collections::VecDeque;

use hashbrown::HashTable;
use serde::{Deserialize, Serialize};

use super::series::{Bucket, Grid, Series};
use crate::agg::{write_value, AggValue};
use crate::alert::Transition;
use crate::plan::{compare_keys, hash_bytes};
use crate::shard::{AlertEvent, Row};

/// Keys drawn on each chart.
pub const SHOWN_KEYS: usize = 10;
/// Keys whose series are kept: the drawn ones and the next ones in rank, so
/// that a key overtaking a drawn one has its history.
pub const CANDIDATE_KEYS: usize = 32;
/// Keys whose record counts are kept; beyond it the lower-ranked half is
/// forgotten (they count from zero if they come back).
pub const RANKED_KEYS: usize = 65_536;
/// Buckets of all candidate series together (40 bytes each: about 5 MB).
pub const SERIES_BUCKET_BUDGET: usize = 131_072;
/// Buckets per series: about one per pixel column of a chart at most, never
/// fewer than enough to show a shape.
pub const MAX_SERIES_BUCKETS: usize = 1024;
pub const MIN_SERIES_BUCKETS: usize = 64;
/// Closed alert spans kept (the oldest are dropped first, and counted).
pub const KEPT_SPANS: usize = 10_000;
/// Alert events kept for the table: the first ones and the latest ones.
pub const FIRST_EVENTS: usize = 500;
pub const LAST_EVENTS: usize = 500;
/// Inputs with a row of their own in the per-input table; the rest share one.
pub const NAMED_INPUTS: usize = 100;

const NO_CANDIDATE: u32 = u32::MAX;
const NO_KEY: u32 = u32::MAX;

/// Buckets per series for `aggs` visible aggregates.
pub fn series_capacity(aggs: usize) -> usize {
    (SERIES_BUCKET_BUDGET / (CANDIDATE_KEYS * aggs.max(1)))
        .clamp(MIN_SERIES_BUCKETS, MAX_SERIES_BUCKETS)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct KeyTally {
    key: Box<[u8]>,
    /// `hash_bytes(key)`: compared before the bytes, and used to rehash.
    hash: u64,
    /// Sum of the key's `count()` values (0 when the job has no count()).
    records: u64,
    windows: u64,
    /// The end of the key's first window.
    first_end: i64,
    /// Index in `candidates`, or NO_CANDIDATE.
    candidate: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Candidate {
    key: u32,
    /// The end of the first window in its series.
    since: i64,
    /// One per visible aggregate.
    series: Vec<Series>,
}

/// A row of a key outside the candidates, kept until its group is complete.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct PendingRow {
    key: u32,
    start: i64,
    end: i64,
    /// Offset of its values in `pending_values`.
    values: u32,
}

/// A firing span of one (rule, key): `[from, to)`, or still firing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Span {
    pub rule: u32,
    pub key: Box<[u8]>,
    pub from: i64,
    pub to: Option<i64>,
}

/// One alert event as the table shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRow {
    pub time: i64,
    pub rule: u32,
    pub firing: bool,
    pub key: Box<[u8]>,
    /// The event's value as the alert file writes it (empty: undefined).
    pub value: String,
}

/// Bad and late records of one input.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputTally {
    pub name: String,
    pub bad: u64,
    pub late: u64,
}

/// A key as the page draws it.
#[derive(Debug)]
pub struct ShownKey<'a> {
    pub key: &'a [u8],
    /// Records (sum of count()), when the job has count().
    pub records: Option<u64>,
    pub windows: u64,
    pub first_end: i64,
    /// The end of the first window drawn (later than `first_end` when the
    /// key climbed into the candidates during the run).
    pub since: i64,
    /// One per visible aggregate.
    pub series: &'a [Series],
}

/// The page's memory of the run. Serializable (checkpoints).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PageStore {
    aggs: usize,
    count_column: Option<usize>,
    grid: Grid,
    keys: Vec<KeyTally>,
    #[serde(skip)]
    index: HashTable<u32>,
    /// Bumped when the key table is trimmed (key ids change).
    #[serde(skip)]
    generation: u64,
    keys_forgotten: u64,
    candidates: Vec<Candidate>,
    /// Weight of the worst candidate when the current group began.
    floor: u64,
    /// `order` of the rows of the current report group.
    group: Option<(i64, i64)>,
    pending: Vec<PendingRow>,
    pending_values: Vec<Option<f64>>,
    spans: VecDeque<Span>,
    spans_dropped: u64,
    /// Spans still firing, sorted by (rule, key).
    open: Vec<Span>,
    first_events: Vec<EventRow>,
    last_events: VecDeque<EventRow>,
    events: u64,
    inputs: Vec<InputTally>,
    other_inputs: InputTally,
}

fn number(v: AggValue) -> Option<f64> {
    match v {
        AggValue::Int(n) => Some(n as f64),
        AggValue::Float(f) if f.is_finite() => Some(f),
        _ => None,
    }
}

fn push_window(
    series: &mut [Series],
    grid: &Grid,
    start: i64,
    end: i64,
    values: impl Iterator<Item = Option<f64>>,
) {
    for (s, v) in series.iter_mut().zip(values) {
        if let Some(v) = v {
            s.add(grid, Bucket::window(start, end, v));
        }
    }
}

impl PageStore {
    /// `aggs`: visible aggregates; `count_column`: the visible `count()`
    /// column, if any; `step`: the window step in ms (slide or size; 1 for
    /// session and count windows); `inputs`: the job's inputs, listed first.
    pub fn new(
        aggs: usize,
        count_column: Option<usize>,
        step: i64,
        inputs: &[String],
    ) -> PageStore {
        PageStore {
            aggs,
            count_column,
            grid: Grid::new(step, series_capacity(aggs)),
            keys: Vec::new(),
            index: HashTable::new(),
            generation: 0,
            keys_forgotten: 0,
            candidates: Vec::new(),
            floor: 0,
            group: None,
            pending: Vec::new(),
            pending_values: Vec::new(),
            spans: VecDeque::new(),
            spans_dropped: 0,
            open: Vec::new(),
            first_events: Vec::new(),
            last_events: VecDeque::new(),
            events: 0,
            inputs: inputs
                .iter()
                .take(NAMED_INPUTS)
                .map(|n| InputTally {
                    name: n.clone(),
                    ..InputTally::default()
                })
                .collect(),
            other_inputs: InputTally::default(),
        }
    }

    /// After deserializing: rebuilds the key index (not serialized). Refuses
    /// a history made for another shape of job.
    pub fn restored(mut self, aggs: usize, count_column: Option<usize>) -> Option<PageStore> {
        if self.aggs != aggs || self.count_column != count_column {
            return None;
        }
        self.rebuild_index();
        Some(self)
    }

    fn rebuild_index(&mut self) {
        self.index = HashTable::with_capacity(self.keys.len());
        let keys = &self.keys;
        for (i, t) in keys.iter().enumerate() {
            self.index
                .insert_unique(t.hash, i as u32, |&k| keys[k as usize].hash);
        }
    }

    fn weight(&self, id: u32) -> u64 {
        let t = &self.keys[id as usize];
        if self.count_column.is_some() {
            t.records
        } else {
            t.windows
        }
    }

    /// True when key `a` ranks above key `b`: more records, or as many and a smaller key.
    fn outranks(&self, a: u32, b: u32) -> bool {
        let (wa, wb) = (self.weight(a), self.weight(b));
        wa > wb
            || (wa == wb
                && compare_keys(&self.keys[a as usize].key, &self.keys[b as usize].key).is_lt())
    }

    fn find(&self, key: &[u8], hash: u64) -> Option<u32> {
        let keys = &self.keys;
        self.index
            .find(hash, |&k| {
                let t = &keys[k as usize];
                t.hash == hash && *t.key == *key
            })
            .copied()
    }

    fn find_or_insert(&mut self, key: &[u8], hash: u64, end: i64) -> u32 {
        if let Some(id) = self.find(key, hash) {
            return id;
        }
        let id = self.keys.len() as u32;
        self.keys.push(KeyTally {
            key: key.into(),
            hash,
            records: 0,
            windows: 0,
            first_end: end,
            candidate: NO_CANDIDATE,
        });
        let keys = &self.keys;
        self.index
            .insert_unique(hash, id, |&k| keys[k as usize].hash);
        id
    }

    fn admit(&mut self, id: u32, since: i64) -> usize {
        let c = self.candidates.len();
        self.candidates.push(Candidate {
            key: id,
            since,
            series: vec![Series::default(); self.aggs],
        });
        self.keys[id as usize].candidate = c as u32;
        c
    }

    fn evict(&mut self, c: usize) {
        let gone = self.candidates.swap_remove(c);
        self.keys[gone.key as usize].candidate = NO_CANDIDATE;
        if let Some(moved) = self.candidates.get(c) {
            self.keys[moved.key as usize].candidate = c as u32;
        }
    }

    /// Takes report rows, in report order: the same as [`Self::add_row`] on
    /// each, faster. A row's key and values sit in allocations of their own,
    /// usually out of cache, and so do the key table's entries; a block of
    /// rows goes through in stages (hash and count; then the key's entry; then
    /// the bookkeeping) with no dependency between the rows of a stage, so
    /// their cache misses overlap instead of following one another.
    pub fn add_rows(&mut self, rows: &[Row]) {
        const BLOCK: usize = 32;
        let mut pre = [(0u64, 0u64); BLOCK];
        let mut ids = [NO_KEY; BLOCK];
        for block in rows.chunks(BLOCK) {
            for (p, row) in pre.iter_mut().zip(block) {
                *p = (hash_bytes(row.key), self.records_of(row));
            }
            let generation = self.generation;
            for ((id, &(hash, _)), row) in ids.iter_mut().zip(&pre).zip(block) {
                *id = self.find(row.key, hash).unwrap_or(NO_KEY);
                if *id != NO_KEY {
                    // the entry, for the last stage
                    std::hint::black_box(self.keys[*id as usize].windows);
                }
            }
            for ((&id, &(hash, records)), row) in ids.iter().zip(&pre).zip(block) {
                self.start_row(row);
                let id = if id != NO_KEY && self.generation == generation {
                    id
                } else {
                    // a new key, or the table was trimmed since the lookup
                    self.find_or_insert(row.key, hash, row.end)
                };
                self.count_row(row, id, records);
            }
        }
    }

    fn records_of(&self, row: &Row) -> u64 {
        match self.count_column.and_then(|c| row.values.get(c)) {
            Some(AggValue::Int(n)) => *n,
            _ => 0,
        }
    }

    /// Takes one report row, in report order.
    pub fn add_row(&mut self, row: &Row) {
        self.start_row(row);
        let id = self.find_or_insert(row.key, hash_bytes(row.key), row.end);
        self.count_row(row, id, self.records_of(row));
    }

    /// What a row does before its key counts: a new report group completes
    /// the last one; the grid takes its window end.
    fn start_row(&mut self, row: &Row) {
        if self.group != Some(row.order) {
            self.close_group();
            self.group = Some(row.order);
        }
        if self.grid.observe(row.end) {
            for c in &mut self.candidates {
                for s in &mut c.series {
                    s.regrid(&self.grid);
                }
            }
        }
    }

    /// The row counts for its key `id`, and goes into its series if the key
    /// is a candidate (or aside, if it may become one when the group ends).
    fn count_row(&mut self, row: &Row, id: u32, records: u64) {
        let tally = &mut self.keys[id as usize];
        tally.windows += 1;
        tally.records += records;
        let values = row.values.iter().take(self.aggs).map(|v| number(*v));
        let candidate = tally.candidate;
        if candidate != NO_CANDIDATE {
            let series = &mut self.candidates[candidate as usize].series;
            push_window(series, &self.grid, row.start, row.end, values);
        } else if self.candidates.len() < CANDIDATE_KEYS {
            let c = self.admit(id, row.end);
            push_window(
                &mut self.candidates[c].series,
                &self.grid,
                row.start,
                row.end,
                values,
            );
        } else if self.weight(id) >= self.floor {
            let offset = self.pending_values.len() as u32;
            self.pending_values.extend(values);
            self.pending_values
                .resize(offset as usize + self.aggs, None);
            self.pending.push(PendingRow {
                key: id,
                start: row.start,
                end: row.end,
                values: offset,
            });
        }
    }

    /// The index of the worst-ranked candidate.
    fn worst_candidate(&self) -> Option<usize> {
        let mut worst: Option<usize> = None;
        for (i, c) in self.candidates.iter().enumerate() {
            match worst {
                Some(w) if !self.outranks(self.candidates[w].key, c.key) => {}
                _ => worst = Some(i),
            }
        }
        worst
    }

    /// The current report group is complete: keys that overtook a candidate
    /// take its place; then the record-count table is trimmed if it is full.
    fn close_group(&mut self) {
        if !self.pending.is_empty() {
            let worst = self.worst_candidate().map(|w| self.candidates[w].key);
            let overtakes = match worst {
                Some(w) => self.pending.iter().any(|p| self.outranks(p.key, w)),
                None => true,
            };
            if overtakes {
                self.rebalance();
            }
            self.pending.clear();
            self.pending_values.clear();
        }
        if self.keys.len() > RANKED_KEYS {
            self.forget_lower_half();
        }
        self.floor = if self.candidates.len() < CANDIDATE_KEYS {
            0
        } else {
            self.worst_candidate()
                .map_or(0, |w| self.weight(self.candidates[w].key))
        };
    }

    fn rank_sort(&self, ids: &mut [u32]) {
        ids.sort_unstable_by(|&a, &b| {
            self.weight(b)
                .cmp(&self.weight(a))
                .then_with(|| compare_keys(&self.keys[a as usize].key, &self.keys[b as usize].key))
        });
    }

    fn rebalance(&mut self) {
        let mut pool: Vec<u32> = self.candidates.iter().map(|c| c.key).collect();
        pool.extend(self.pending.iter().map(|p| p.key));
        pool.sort_unstable();
        pool.dedup();
        self.rank_sort(&mut pool);
        pool.truncate(CANDIDATE_KEYS);
        let mut c = 0;
        while c < self.candidates.len() {
            if pool.contains(&self.candidates[c].key) {
                c += 1;
            } else {
                self.evict(c);
            }
        }
        let pending = std::mem::take(&mut self.pending);
        for p in &pending {
            if !pool.contains(&p.key) {
                continue;
            }
            let c = match self.keys[p.key as usize].candidate {
                NO_CANDIDATE => self.admit(p.key, p.end),
                c => c as usize,
            };
            let at = p.values as usize;
            let values = self.pending_values[at..at + self.aggs].iter().copied();
            push_window(
                &mut self.candidates[c].series,
                &self.grid,
                p.start,
                p.end,
                values,
            );
        }
        self.pending = pending;
    }

    /// Forgets the lower-ranked half of the record-count table (never a candidate).
    fn forget_lower_half(&mut self) {
        self.generation += 1;
        let mut order: Vec<u32> = (0..self.keys.len() as u32).collect();
        self.rank_sort(&mut order);
        let keep = (RANKED_KEYS / 2).max(self.candidates.len());
        order.truncate(keep);
        order.sort_unstable();
        self.keys_forgotten += (self.keys.len() - order.len()) as u64;
        let old = std::mem::take(&mut self.keys);
        let mut new_id = vec![NO_CANDIDATE; old.len()];
        for (new, &id) in order.iter().enumerate() {
            new_id[id as usize] = new as u32;
        }
        self.keys = old
            .into_iter()
            .enumerate()
            .filter(|(i, _)| new_id[*i] != NO_CANDIDATE)
            .map(|(_, t)| t)
            .collect();
        for c in &mut self.candidates {
            c.key = new_id[c.key as usize];
        }
        self.rebuild_index();
    }

    /// End of input: the last group is complete.
    pub fn finish(&mut self) {
        self.close_group();
        self.group = None;
    }

    /// Takes one alert event, in alert order.
    pub fn add_alert(&mut self, e: &AlertEvent) {
        self.events += 1;
        let mut value = Vec::new();
        write_value(e.value, &mut value);
        let row = EventRow {
            time: e.time,
            rule: e.rule as u32,
            firing: e.transition == Transition::Firing,
            key: e.key.clone(),
            value: String::from_utf8_lossy(&value).into_owned(),
        };
        if self.first_events.len() < FIRST_EVENTS {
            self.first_events.push(row);
        } else {
            self.last_events.push_back(row);
            if self.last_events.len() > LAST_EVENTS {
                self.last_events.pop_front();
            }
        }
        let rule = e.rule as u32;
        let at = self
            .open
            .binary_search_by(|s| s.rule.cmp(&rule).then_with(|| compare_keys(&s.key, &e.key)));
        match (e.transition, at) {
            (Transition::Firing, Err(pos)) => self.open.insert(
                pos,
                Span {
                    rule,
                    key: e.key.clone(),
                    from: e.time,
                    to: None,
                },
            ),
            (Transition::Resolved, Ok(pos)) => {
                let mut span = self.open.remove(pos);
                span.to = Some(e.time);
                self.spans.push_back(span);
                if self.spans.len() > KEPT_SPANS {
                    self.spans.pop_front();
                    self.spans_dropped += 1;
                }
            }
            // Firing while firing, or resolved without firing (its firing
            // was before a history existed): nothing to draw.
            _ => {}
        }
    }

    /// Adds bad and late records of the input named `name`.
    pub fn add_input_counts(&mut self, name: &str, bad: u64, late: u64) {
        if bad == 0 && late == 0 {
            return;
        }
        let tally = match self.inputs.iter().position(|i| i.name == name) {
            Some(i) => &mut self.inputs[i],
            None if self.inputs.len() < NAMED_INPUTS => {
                self.inputs.push(InputTally {
                    name: name.to_string(),
                    ..InputTally::default()
                });
                self.inputs.last_mut().expect("just pushed")
            }
            None => &mut self.other_inputs,
        };
        tally.bad += bad;
        tally.late += late;
    }

    /// The keys to draw, best-ranked first.
    pub fn shown(&self) -> Vec<ShownKey<'_>> {
        let mut ids: Vec<u32> = self.candidates.iter().map(|c| c.key).collect();
        self.rank_sort(&mut ids);
        ids.truncate(SHOWN_KEYS);
        ids.iter()
            .map(|&id| {
                let t = &self.keys[id as usize];
                let c = &self.candidates[t.candidate as usize];
                ShownKey {
                    key: &t.key,
                    records: self.count_column.map(|_| t.records),
                    windows: t.windows,
                    first_end: t.first_end,
                    since: c.since,
                    series: &c.series,
                }
            })
            .collect()
    }

    /// Keys with a record count (including those forgotten when the table was full).
    pub fn keys_seen(&self) -> u64 {
        self.keys.len() as u64 + self.keys_forgotten
    }

    /// True when keys are ranked by their `count()` values, false: by windows.
    pub fn ranks_by_records(&self) -> bool {
        self.count_column.is_some()
    }

    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// Closed spans kept, then the ones still firing; and how many closed
    /// spans were dropped to stay within [`KEPT_SPANS`].
    pub fn spans(&self) -> (impl Iterator<Item = &Span>, u64) {
        (
            self.spans.iter().chain(self.open.iter()),
            self.spans_dropped,
        )
    }

    /// Alert events kept, in order: the first ones, how many were left out
    /// after them, and the latest ones.
    pub fn events(&self) -> (&[EventRow], u64, impl Iterator<Item = &EventRow>) {
        let kept = (self.first_events.len() + self.last_events.len()) as u64;
        (
            &self.first_events,
            self.events - kept,
            self.last_events.iter(),
        )
    }

    /// (rule, key) pairs still firing.
    pub fn firing(&self) -> usize {
        self.open.len()
    }

    /// Named inputs, then the total of the others (None when there are none).
    pub fn inputs(&self) -> (&[InputTally], Option<&InputTally>) {
        let other = &self.other_inputs;
        (
            &self.inputs,
            (other.bad > 0 || other.late > 0).then_some(other),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> Box<[u8]> {
        let mut k = Vec::new();
        crate::plan::push_key_field(&mut k, name.as_bytes());
        k.into()
    }

    /// A row that owns its key and values, as tests build them.
    struct TestRow {
        order: (i64, i64),
        start: i64,
        end: i64,
        key: Box<[u8]>,
        values: Vec<AggValue>,
    }

    impl TestRow {
        fn view(&self) -> Row<'_> {
            Row {
                order: self.order,
                start: self.start,
                end: self.end,
                key: &self.key,
                values: &self.values,
            }
        }
    }

    fn views(rows: &[TestRow]) -> Vec<Row<'_>> {
        rows.iter().map(TestRow::view).collect()
    }

    fn row(end: i64, k: &str, count: u64, value: f64) -> TestRow {
        TestRow {
            order: (end, end - 10),
            start: end - 10,
            end,
            key: key(k),
            values: vec![AggValue::Int(count), AggValue::Float(value)],
        }
    }

    fn names(h: &PageStore) -> Vec<String> {
        h.shown()
            .iter()
            .map(|s| String::from_utf8_lossy(&s.key[4..]).into_owned())
            .collect()
    }

    /// Rows of `keys` (name, records per window) for windows 1..=n, in report order.
    fn feed(h: &mut PageStore, windows: std::ops::RangeInclusive<i64>, keys: &[(String, u64)]) {
        for w in windows {
            let mut group: Vec<&(String, u64)> = keys.iter().filter(|(_, c)| *c > 0).collect();
            group.sort_by(|a, b| compare_keys(&key(&a.0), &key(&b.0)));
            for (k, c) in group {
                h.add_row(&row(w * 10, k, *c, w as f64).view());
            }
        }
    }

    #[test]
    fn the_ten_keys_with_most_records_are_shown_with_their_whole_history() {
        let mut h = PageStore::new(2, Some(0), 10, &[]);
        // 200 keys; key i has i+1 records per window: the top ten are k199..k190.
        let keys: Vec<(String, u64)> = (0..200)
            .map(|i| (format!("k{i:03}"), i as u64 + 1))
            .collect();
        feed(&mut h, 1..=50, &keys);
        h.finish();
        let shown = h.shown();
        assert_eq!(
            names(&h),
            (190..200)
                .rev()
                .map(|i| format!("k{i:03}"))
                .collect::<Vec<_>>()
        );
        for s in &shown {
            assert_eq!(s.windows, 50);
            assert_eq!(s.since, 10, "{:?} drawn from its first window", s.key);
            assert_eq!(s.series[1].buckets().len(), 50);
        }
        assert_eq!(shown[0].records, Some(200 * 50));
        assert_eq!(h.keys_seen(), 200);
    }

    #[test]
    fn uniform_keys_keep_a_stable_set_of_candidates() {
        // 100 keys with equal counts: ties go to the smaller key, every time.
        let mut h = PageStore::new(2, Some(0), 10, &[]);
        let keys: Vec<(String, u64)> = (0..100).map(|i| (format!("k{i:03}"), 3)).collect();
        feed(&mut h, 1..=30, &keys);
        h.finish();
        assert_eq!(
            names(&h),
            (0..10).map(|i| format!("k{i:03}")).collect::<Vec<_>>()
        );
        assert!(h.shown().iter().all(|s| s.series[1].buckets().len() == 30));
    }

    #[test]
    fn a_key_that_climbs_late_is_drawn_from_when_it_entered() {
        let mut h = PageStore::new(2, Some(0), 10, &[]);
        let mut keys: Vec<(String, u64)> = (0..40).map(|i| (format!("k{i:03}"), 5)).collect();
        keys.push(("late".to_string(), 1));
        feed(&mut h, 1..=10, &keys);
        keys.last_mut().unwrap().1 = 1000;
        feed(&mut h, 11..=20, &keys);
        h.finish();
        let shown = h.shown();
        let late = &shown[0];
        assert_eq!(&late.key[4..], b"late");
        assert_eq!(late.first_end, 10);
        assert_eq!(
            late.since, 110,
            "entered with its first big window, that window kept"
        );
        assert_eq!(late.series[1].buckets().len(), 10);
        assert_eq!(late.series[1].buckets()[0].min, 11.0);
    }

    #[test]
    fn without_count_keys_rank_by_windows() {
        let mut h = PageStore::new(1, None, 10, &[]);
        for w in 1..=20 {
            let mut group = vec!["always"];
            if w % 2 == 0 {
                group.insert(0, "a-half");
            }
            for k in group {
                let mut r = row(w * 10, k, 0, 1.0);
                r.values = vec![AggValue::Float(w as f64)];
                h.add_row(&r.view());
            }
        }
        h.finish();
        assert!(!h.ranks_by_records());
        assert_eq!(names(&h), vec!["always", "a-half"]);
        assert_eq!(h.shown()[0].records, None);
        assert_eq!(h.shown()[1].windows, 10);
    }

    #[test]
    fn the_result_does_not_depend_on_where_a_checkpoint_cut_the_rows() {
        let keys: Vec<(String, u64)> = (0..60)
            .map(|i| (format!("k{i:02}"), (i % 7) as u64 + 1))
            .collect();
        let mut rows = Vec::new();
        for w in 1..=40i64 {
            let mut group: Vec<(String, u64)> = keys
                .iter()
                .map(|(k, c)| (k.clone(), if w > 20 && k == "k49" { 50 } else { *c }))
                .collect();
            group.sort_by(|a, b| compare_keys(&key(&a.0), &key(&b.0)));
            for (k, c) in group {
                rows.push(row(w * 10, &k, c, (w * c as i64) as f64));
            }
        }
        let mut whole = PageStore::new(2, Some(0), 10, &[]);
        whole.add_rows(&views(&rows)); // by blocks, where the others go row by row
        whole.finish();
        for cut in [1, 59, 60, 61, 777, rows.len() - 1] {
            let mut first = PageStore::new(2, Some(0), 10, &[]);
            rows[..cut].iter().for_each(|r| first.add_row(&r.view()));
            let bytes = postcard::to_stdvec(&first).unwrap();
            let back: PageStore = postcard::from_bytes(&bytes).unwrap();
            let mut resumed = back.restored(2, Some(0)).unwrap();
            rows[cut..].iter().for_each(|r| resumed.add_row(&r.view()));
            resumed.finish();
            let a: Vec<_> = whole
                .shown()
                .iter()
                .map(|s| (s.key.to_vec(), s.since, s.series.to_vec()))
                .collect();
            let b: Vec<_> = resumed
                .shown()
                .iter()
                .map(|s| (s.key.to_vec(), s.since, s.series.to_vec()))
                .collect();
            assert_eq!(a, b, "cut at row {cut}");
        }
        let top = &whole.shown()[0];
        assert_eq!((&top.key[4..], top.since), (&b"k49"[..], 220), "k49 (20 records) gets 50 a window from window 21 and passes the worst candidate (4 a window) in window 22");
        assert!(PageStore::new(2, Some(0), 10, &[])
            .restored(3, Some(0))
            .is_none());
    }

    #[test]
    fn the_record_count_table_is_bounded() {
        let mut h = PageStore::new(1, Some(0), 10, &[]);
        let n = RANKED_KEYS + 10;
        for i in 0..n {
            let mut r = row(10, &format!("k{i:06}"), 1 + (i % 3) as u64, 1.0);
            r.values.truncate(1);
            h.add_row(&r.view());
        }
        let mut r = row(20, "k000002", 1, 1.0);
        r.values.truncate(1);
        h.add_row(&r.view());
        assert_eq!(h.keys.len(), RANKED_KEYS / 2);
        assert_eq!(h.keys_seen(), n as u64);
        // the best-ranked keys survive: counts of 3, smallest keys first
        assert_eq!(names(&h)[0], "k000002");
        for (i, t) in h.keys.iter().enumerate() {
            let found = h.index.find(hash_bytes(&t.key), |&k| k as usize == i);
            assert!(found.is_some(), "index rebuilt");
        }
    }

    #[test]
    fn rows_by_blocks_equal_rows_one_by_one_across_a_trim_of_the_key_table() {
        // Groups of 7,000 new keys each (counts 1..3), over 12 windows: the
        // table is trimmed several times, in the middle of blocks of rows.
        let mut rows = Vec::new();
        for w in 1..=12i64 {
            let mut group: Vec<TestRow> = (0..7000u64)
                .map(|i| {
                    let k = format!("w{w:02}k{i:05}");
                    let mut r = row(w * 10, &k, 1 + (i * w as u64) % 3, i as f64);
                    r.values.truncate(2);
                    r
                })
                .collect();
            group.sort_by(|a, b| compare_keys(&a.key, &b.key));
            rows.extend(group);
        }
        let mut by_row = PageStore::new(2, Some(0), 10, &[]);
        rows.iter().for_each(|r| by_row.add_row(&r.view()));
        let mut by_block = PageStore::new(2, Some(0), 10, &[]);
        for slice in rows.chunks(1000 + 7) {
            by_block.add_rows(&views(slice));
        }
        by_row.finish();
        by_block.finish();
        assert!(by_row.keys_forgotten > 0, "the table was trimmed");
        assert_eq!(by_row.keys_seen(), by_block.keys_seen());
        assert_eq!(by_row.keys.len(), by_block.keys.len());
        let view = |h: &PageStore| -> Vec<_> {
            h.shown()
                .iter()
                .map(|s| (s.key.to_vec(), s.records, s.since, s.series.to_vec()))
                .collect()
        };
        assert_eq!(view(&by_row), view(&by_block));
    }

    #[test]
    fn alert_events_make_spans_and_a_bounded_table() {
        let mut h = PageStore::new(1, None, 10, &[]);
        let ev = |time: i64, k: &str, t: Transition| AlertEvent {
            time,
            rule: 0,
            transition: t,
            key: key(k),
            value: AggValue::Float(91.5),
        };
        h.add_alert(&ev(100, "a", Transition::Firing));
        h.add_alert(&ev(110, "b", Transition::Firing));
        h.add_alert(&ev(150, "a", Transition::Resolved));
        let (spans, dropped) = h.spans();
        let spans: Vec<&Span> = spans.collect();
        assert_eq!(dropped, 0);
        assert_eq!(spans.len(), 2);
        assert_eq!((spans[0].from, spans[0].to), (100, Some(150)));
        assert_eq!((&spans[1].key[4..], spans[1].to), (&b"b"[..], None));
        assert_eq!(h.firing(), 1);
        for i in 0..2000 {
            h.add_alert(&ev(
                200 + i,
                "c",
                if i % 2 == 0 {
                    Transition::Firing
                } else {
                    Transition::Resolved
                },
            ));
        }
        let (first, omitted, last) = h.events();
        let events: Vec<&EventRow> = first.iter().chain(last).collect();
        assert_eq!(events.len(), FIRST_EVENTS + LAST_EVENTS);
        assert_eq!(omitted, 2003 - (FIRST_EVENTS + LAST_EVENTS) as u64);
        assert_eq!(events[0].value, "91.5");
        assert_eq!(events.last().unwrap().time, 200 + 1999);
        assert_eq!(h.spans().0.count(), 1 + 1000 + 1);
    }

    #[test]
    fn input_counts_keep_names_in_order_and_bound_the_list() {
        let mut h = PageStore::new(1, None, 10, &["a.csv".to_string(), "b.csv".to_string()]);
        h.add_input_counts("b.csv", 2, 1);
        h.add_input_counts("b.csv", 1, 0);
        for i in 0..NAMED_INPUTS + 5 {
            h.add_input_counts(&format!("tcp://peer{i}"), 1, 0);
        }
        let (named, other) = h.inputs();
        assert_eq!(named.len(), NAMED_INPUTS);
        assert_eq!(
            named[0],
            InputTally {
                name: "a.csv".into(),
                bad: 0,
                late: 0
            }
        );
        assert_eq!(
            named[1],
            InputTally {
                name: "b.csv".into(),
                bad: 3,
                late: 1
            }
        );
        assert_eq!(other.unwrap().bad, 7);
    }
}
