//! Window kinds and per-key window state: which window(s) a record at time t
//! falls in, whether it is late for all of them, and which windows close when
//! the watermark reaches a time. Tumbling and sliding windows share one
//! mechanism: records update a *pane* (size = gcd of window and slide), and a
//! closing window merges its panes, so a record is aggregated once however
//! many windows overlap. Pure: knows nothing of keys, shards or output.

use serde::{Deserialize, Serialize};

use crate::agg::{AggPlan, AggState, SlotValue, TopValues};
use crate::job::WindowSpec;

/// Window arithmetic fixed at start; validated when the job is built.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Layout {
    /// Tumbling (size == slide) and sliding windows.
    Panes {
        size: i64,
        slide: i64,
        pane: i64,
    },
    Session {
        gap: i64,
    },
    Count {
        n: u64,
    },
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Largest multiple of `step` that is <= t (works for negative t).
#[inline]
pub fn floor_to(t: i64, step: i64) -> i64 {
    t.div_euclid(step) * step
}

impl Layout {
    pub fn new(spec: WindowSpec) -> Layout {
        match spec {
            WindowSpec::Tumbling { size } => Layout::Panes {
                size,
                slide: size,
                pane: size,
            },
            WindowSpec::Sliding { size, slide } => Layout::Panes {
                size,
                slide,
                pane: gcd(size, slide),
            },
            WindowSpec::Session { gap } => Layout::Session { gap },
            WindowSpec::Count { n } => Layout::Count { n },
        }
    }

    /// The step between consecutive windows of a key, for alert `for N` runs
    /// (None: session and count windows, numbered one by one).
    pub fn slide(&self) -> Option<i64> {
        match *self {
            Layout::Panes { slide, .. } => Some(slide),
            _ => None,
        }
    }

    /// The first window end E > `t` on this layout's grid (absent() checks).
    pub fn next_end_after(&self, t: i64) -> i64 {
        match *self {
            Layout::Panes { size, slide, .. } => {
                // ends are k*slide + size
                floor_to(t.saturating_sub(size), slide)
                    .saturating_add(slide)
                    .saturating_add(size)
            }
            _ => t.saturating_add(1),
        }
    }

    /// For pane layouts: (end of the first window holding `t`, end of the last
    /// one). A record is late when the watermark before it has reached the
    /// second, and needs the exact path when it has reached only the first.
    #[inline]
    pub fn window_ends(&self, t: i64) -> (i64, i64) {
        match *self {
            Layout::Panes { size, slide, .. } => (
                first_start_containing(t, size, slide).saturating_add(size),
                floor_to(t, slide).saturating_add(size),
            ),
            _ => unreachable!("window ends are asked of pane layouts only"),
        }
    }

    /// The pane holding `t` with the ends of the first and last windows
    /// holding `t` (pane layouts). Those ends are the same for every time in
    /// the pane: its start, the window size and the slide are all multiples
    /// of the pane, so a slide step never falls inside one. A caller that
    /// reads times mostly in order keeps the span while they stay in it
    /// (`PaneSpan::holds`): three divisions a pane, not a record.
    #[inline]
    pub fn pane_span(&self, t: i64) -> PaneSpan {
        match *self {
            Layout::Panes { pane, .. } => {
                let start = floor_to(t, pane);
                let (first_end, last_end) = self.window_ends(t);
                PaneSpan {
                    start,
                    end: start.saturating_add(pane),
                    first_end,
                    last_end,
                }
            }
            _ => unreachable!("panes exist for pane layouts only"),
        }
    }

    /// Tumbling and sliding windows: records can be folded into panes while parsing.
    pub fn has_panes(&self) -> bool {
        matches!(self, Layout::Panes { .. })
    }
}

/// A pane's times, `start..end`, and the ends of the first and last
/// windows that hold each of them ([`Layout::pane_span`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PaneSpan {
    pub start: i64,
    pub end: i64,
    pub first_end: i64,
    pub last_end: i64,
}

impl PaneSpan {
    /// A span that holds no time.
    pub const NONE: PaneSpan = PaneSpan {
        start: 0,
        end: 0,
        first_end: 0,
        last_end: 0,
    };

    #[inline]
    pub fn holds(&self, t: i64) -> bool {
        self.start <= t && t < self.end
    }
}

/// One pane (or, for tumbling windows, one whole window) of a key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pane {
    pub start: i64,
    pub state: AggState,
    /// earliest and latest record time in the pane (absent() checks)
    pub min_t: i64,
    pub max_t: i64,
    /// the top values of its percentile list, found when a sliding window
    /// first needed them and kept for the other windows the pane is in,
    /// found again if a record or partial came since (`top_is_current`:
    /// nothing on a record's path)
    #[serde(skip)]
    top: Option<Box<TopValues>>,
}

impl Pane {
    fn new(start: i64, state: AggState) -> Pane {
        Pane {
            start,
            state,
            min_t: i64::MAX,
            max_t: i64::MIN,
            top: None,
        }
    }

    #[inline]
    fn saw(&mut self, min_t: i64, max_t: i64) {
        self.min_t = self.min_t.min(min_t);
        self.max_t = self.max_t.max(max_t);
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub start: i64,
    /// latest record time
    pub last: i64,
    pub state: AggState,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CountWindow {
    pub n: u64,
    pub min: i64,
    pub max: i64,
    pub state: AggState,
}

/// A key's open windows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum KeyWindows {
    Panes {
        /// sorted by start
        panes: Vec<Pane>,
        /// every window of this key ending at or before this was emitted or skipped
        closed_upto: i64,
        /// latest record time in the panes already dropped (i64::MIN: none)
        dropped_max: i64,
        /// the state of a dropped pane, emptied, for the key's next pane: a
        /// new window reuses its allocations (a quantile list above all)
        /// instead of growing them again
        #[serde(skip)]
        spare: Option<AggState>,
    },
    Sessions(Vec<Session>),
    Count(Option<CountWindow>),
}

/// What happened to one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// added to an existing pane: the key's next closing time is unchanged
    Accepted,
    /// a new pane or a changed session: the next closing time may have moved
    Opened,
    Late,
}

/// A window ready to be reported.
pub struct Closed<'a> {
    pub start: i64,
    pub end: i64,
    pub state: &'a AggState,
}

impl KeyWindows {
    pub fn new(layout: &Layout) -> KeyWindows {
        match layout {
            Layout::Panes { .. } => KeyWindows::Panes {
                panes: Vec::new(),
                closed_upto: i64::MIN,
                dropped_max: i64::MIN,
                spare: None,
            },
            Layout::Session { .. } => KeyWindows::Sessions(Vec::new()),
            Layout::Count { .. } => KeyWindows::Count(None),
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            KeyWindows::Panes { panes, .. } => panes.is_empty(),
            KeyWindows::Sessions(s) => s.is_empty(),
            KeyWindows::Count(c) => c.is_none(),
        }
    }

    /// Adds a record at `t`. `wm_before` is the watermark as it stood before this
    /// record; every window of this key ending at or before it must already have
    /// been closed by the caller. Count windows return the full window through
    /// `on_full` as soon as its Nth record arrives.
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        layout: &Layout,
        plan: &AggPlan,
        t: i64,
        seq: u64,
        values: &[SlotValue],
        wm_before: i64,
        on_full: &mut dyn FnMut(Closed<'_>),
    ) -> Added {
        match (self, *layout) {
            (
                KeyWindows::Panes {
                    panes,
                    closed_upto,
                    spare,
                    ..
                },
                Layout::Panes { size, slide, pane },
            ) => {
                // (no division for a record in the key's latest pane, nor
                // a second one where the slide is the pane, as in every
                // tumbling and most sliding jobs: a 64-bit division is slow)
                let pane_start = match panes.last() {
                    Some(p) if p.start <= t && t - p.start < pane => p.start,
                    _ => floor_to(t, pane),
                };
                let slide_start = if slide == pane {
                    pane_start
                } else {
                    floor_to(t, slide)
                };
                if slide_start.saturating_add(size) <= wm_before {
                    return Added::Late;
                }
                if wm_before > *closed_upto {
                    *closed_upto = wm_before;
                }
                let before = panes.len();
                let idx = pane_index(panes, pane_start, || {
                    spare.take().unwrap_or_else(|| plan.new_state())
                });
                let p = &mut panes[idx];
                plan.update(&mut p.state, t, seq, values);
                p.saw(t, t);
                if panes.len() != before {
                    Added::Opened
                } else {
                    Added::Accepted
                }
            }
            (KeyWindows::Sessions(sessions), Layout::Session { gap }) => {
                // Sessions this record joins: gap to either side within GAP.
                let lo = sessions.partition_point(|s| s.last.saturating_add(gap) < t);
                let hi = sessions.partition_point(|s| s.start.saturating_sub(gap) <= t);
                if lo >= hi {
                    if t.saturating_add(gap) <= wm_before {
                        return Added::Late;
                    }
                    let mut state = plan.new_state();
                    plan.update(&mut state, t, seq, values);
                    sessions.insert(
                        lo,
                        Session {
                            start: t,
                            last: t,
                            state,
                        },
                    );
                    return Added::Opened;
                }
                // Merge sessions lo..hi into lo (most records join just one:
                // no drain for them).
                if hi > lo + 1 {
                    let merged: Vec<Session> = sessions.drain(lo + 1..hi).collect();
                    let first = &mut sessions[lo];
                    for other in merged {
                        first.start = first.start.min(other.start);
                        first.last = first.last.max(other.last);
                        plan.merge(&mut first.state, &other.state);
                    }
                }
                let first = &mut sessions[lo];
                first.start = first.start.min(t);
                first.last = first.last.max(t);
                plan.update(&mut first.state, t, seq, values);
                Added::Opened
            }
            (KeyWindows::Count(slot), Layout::Count { n }) => {
                let w = slot.get_or_insert_with(|| CountWindow {
                    n: 0,
                    min: t,
                    max: t,
                    state: plan.new_state(),
                });
                w.n += 1;
                w.min = w.min.min(t);
                w.max = w.max.max(t);
                plan.update(&mut w.state, t, seq, values);
                if w.n >= n {
                    let full = slot.take().expect("count window present");
                    on_full(Closed {
                        start: full.min,
                        end: full.max.saturating_add(1),
                        state: &full.state,
                    });
                }
                Added::Accepted
            }
            _ => unreachable!("window state does not match the layout"),
        }
    }

    /// Merges a partial aggregate of records in the pane starting at `start`,
    /// all of them with every window still open when they arrived (the caller
    /// checked): no lateness to decide, no window to skip. A new pane starts
    /// as a copy of `state`.
    pub fn merge_pane(
        &mut self,
        plan: &AggPlan,
        start: i64,
        state: &AggState,
        min_t: i64,
        max_t: i64,
    ) -> Added {
        let KeyWindows::Panes { panes, .. } = self else {
            unreachable!("partials exist for pane layouts only")
        };
        let before = panes.len();
        let idx = pane_index(panes, start, || state.clone());
        let opened = panes.len() != before;
        let p = &mut panes[idx];
        if !opened {
            plan.merge(&mut p.state, state);
        }
        p.saw(min_t, max_t);
        if opened {
            Added::Opened
        } else {
            Added::Accepted
        }
    }

    /// Record times in this key's windows, for absent() checks: the latest time
    /// in panes already dropped, and each open pane's (start, min, max) in order.
    pub fn times(&self) -> (i64, impl Iterator<Item = (i64, i64, i64)> + '_) {
        match self {
            KeyWindows::Panes {
                panes, dropped_max, ..
            } => (
                *dropped_max,
                panes.iter().map(|p| (p.start, p.min_t, p.max_t)),
            ),
            _ => unreachable!("absent() needs a window grid; refused for other layouts"),
        }
    }

    /// The earliest end of an open window holding data (i64::MAX: none).
    pub fn next_due(&self, layout: &Layout) -> i64 {
        match (self, *layout) {
            (
                KeyWindows::Panes {
                    panes, closed_upto, ..
                },
                Layout::Panes { size, slide, .. },
            ) => {
                let Some(p0) = panes.first() else {
                    return i64::MAX;
                };
                let s = first_start_containing(p0.start, size, slide)
                    .max(first_start_ending_after(*closed_upto, size, slide));
                s.saturating_add(size)
            }
            (KeyWindows::Sessions(s), Layout::Session { gap }) => s
                .iter()
                .map(|x| x.last.saturating_add(gap))
                .min()
                .unwrap_or(i64::MAX),
            _ => i64::MAX,
        }
    }

    /// Emits, in order of end, every window of this key whose end is <= `wm`,
    /// and drops state no open window needs. `scratch` is a reusable state for
    /// merging panes. Count windows: with `wm == i64::MAX` the partial window is
    /// emitted (end of input).
    pub fn close(
        &mut self,
        layout: &Layout,
        plan: &AggPlan,
        wm: i64,
        scratch: &mut Option<AggState>,
        emit: &mut dyn FnMut(Closed<'_>),
    ) {
        match (self, *layout) {
            (
                KeyWindows::Panes {
                    panes,
                    closed_upto,
                    dropped_max,
                    spare,
                },
                Layout::Panes { size, slide, pane },
            ) => {
                if size == slide && pane == size {
                    let done = panes.partition_point(|p| p.start.saturating_add(size) <= wm);
                    for p in &panes[..done] {
                        emit(Closed {
                            start: p.start,
                            end: p.start + size,
                            state: &p.state,
                        });
                    }
                    drop_panes(plan, panes, done, dropped_max, spare);
                } else if let Some(p0) = panes.first() {
                    let mut s = first_start_containing(p0.start, size, slide)
                        .max(first_start_ending_after(*closed_upto, size, slide));
                    while s.saturating_add(size) <= wm {
                        let lo = panes.partition_point(|p| p.start < s);
                        let hi = panes.partition_point(|p| p.start < s + size);
                        if lo == hi {
                            if lo == panes.len() {
                                break;
                            }
                            s = (s + slide).max(first_start_containing(
                                panes[lo].start,
                                size,
                                slide,
                            ));
                            continue;
                        }
                        let merged = scratch.get_or_insert_with(|| plan.new_state());
                        // emptied and merged into, not cloned: its allocations are reused
                        plan.reset_state(merged);
                        // percentiles from the panes' top values where they
                        // hold them (p95 of a few panes), else from a merged list
                        let window = &mut panes[lo..hi];
                        let mut tops = plan.tops_may_serve(window.iter().map(|p| &p.state));
                        for p in window.iter_mut() {
                            if !tops {
                                break;
                            }
                            if !p
                                .top
                                .as_ref()
                                .is_some_and(|t| plan.top_is_current(&p.state, t))
                            {
                                p.top = plan.top_of(&p.state).map(Box::new);
                            }
                            tops = p.top.is_some();
                        }
                        let by_tops = tops
                            && plan.merge_by_tops(
                                merged,
                                window
                                    .iter()
                                    .filter_map(|p| Some((&p.state, &**p.top.as_ref()?))),
                            );
                        if !by_tops {
                            for p in window.iter() {
                                plan.merge(merged, &p.state);
                            }
                        }
                        emit(Closed {
                            start: s,
                            end: s + size,
                            state: merged,
                        });
                        s += slide;
                    }
                    // A pane is needed until the last window containing it closes.
                    let keep_from = panes
                        .partition_point(|p| floor_to(p.start, slide).saturating_add(size) <= wm);
                    drop_panes(plan, panes, keep_from, dropped_max, spare);
                }
                if wm > *closed_upto {
                    *closed_upto = wm;
                }
            }
            (KeyWindows::Sessions(sessions), Layout::Session { gap }) => {
                // Sessions do not overlap, so ordering by start orders by end too.
                let mut i = 0;
                while i < sessions.len() {
                    let end = sessions[i].last.saturating_add(gap);
                    if end <= wm {
                        let s = sessions.remove(i);
                        emit(Closed {
                            start: s.start,
                            end,
                            state: &s.state,
                        });
                    } else {
                        i += 1;
                    }
                }
            }
            (KeyWindows::Count(slot), Layout::Count { .. }) => {
                if wm == i64::MAX {
                    if let Some(w) = slot.take() {
                        emit(Closed {
                            start: w.min,
                            end: w.max.saturating_add(1),
                            state: &w.state,
                        });
                    }
                }
            }
            _ => unreachable!("window state does not match the layout"),
        }
    }
}

/// The index of the pane starting at `start`, inserted (sorted) when missing.
#[inline]
fn pane_index(panes: &mut Vec<Pane>, start: i64, state: impl FnOnce() -> AggState) -> usize {
    if panes.capacity() == 0 {
        // A key's first pane: most keys of a tumbling job never hold more
        // than one or two, and a Vec's first growth would make room for
        // four (224 bytes a key, 20% of a million keys' memory).
        panes.reserve_exact(1);
    }
    match panes.last() {
        Some(p) if p.start == start => panes.len() - 1,
        Some(p) if p.start > start => match panes.binary_search_by_key(&start, |p| p.start) {
            Ok(i) => i,
            Err(i) => {
                panes.insert(i, Pane::new(start, state()));
                i
            }
        },
        _ => {
            panes.push(Pane::new(start, state()));
            panes.len() - 1
        }
    }
}

/// Drops the first `n` panes, remembering their latest record time; the
/// last one's state, emptied, becomes the key's spare when it has none.
fn drop_panes(
    plan: &AggPlan,
    panes: &mut Vec<Pane>,
    n: usize,
    dropped_max: &mut i64,
    spare: &mut Option<AggState>,
) {
    for p in &panes[..n] {
        *dropped_max = (*dropped_max).max(p.max_t);
    }
    let mut dropped = panes.drain(..n);
    if spare.is_none() {
        if let Some(mut p) = dropped.next_back() {
            plan.reset_state(&mut p.state);
            *spare = Some(p.state);
        }
    }
}

/// Smallest multiple of `slide` strictly greater than `p - size`: the first
/// window start whose window contains time `p`.
#[inline]
fn first_start_containing(p: i64, size: i64, slide: i64) -> i64 {
    floor_to(p.saturating_sub(size), slide).saturating_add(slide)
}

/// Smallest multiple of `slide` whose window ends after `t`.
#[inline]
fn first_start_ending_after(t: i64, size: i64, slide: i64) -> i64 {
    if t == i64::MIN {
        return i64::MIN;
    }
    floor_to(t.saturating_sub(size), slide).saturating_add(slide)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;

    #[test]
    fn a_pane_span_holds_the_pane_and_window_ends_of_every_time_in_it() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..20_000 {
            // window and slide as multiples of a unit, the slide up to the window
            let unit = 1 + rng.below(5_000) as i64;
            let size = unit * (1 + rng.below(12) as i64);
            let slide = unit * (1 + rng.below((size / unit) as usize) as i64);
            let layout = Layout::new(WindowSpec::Sliding { size, slide });
            let Layout::Panes { pane, .. } = layout else {
                unreachable!()
            };
            let t = rng.below(4_000_000_000) as i64 - 2_000_000_000;
            let span = layout.pane_span(t);
            assert!(span.holds(t), "{t} outside {span:?}");
            assert_eq!(span.end - span.start, pane);
            // every time of the pane, its ends included, against the direct arithmetic
            for u in [
                span.start,
                span.end - 1,
                span.start + rng.below(pane as usize) as i64,
            ] {
                assert!(span.holds(u));
                assert_eq!(
                    floor_to(u, pane),
                    span.start,
                    "size {size} slide {slide} t {u}"
                );
                assert_eq!(
                    layout.window_ends(u),
                    (span.first_end, span.last_end),
                    "size {size} slide {slide} t {u}"
                );
            }
            assert!(!span.holds(span.end) && !span.holds(span.start - 1));
        }
        assert!(!PaneSpan::NONE.holds(0));
    }

    #[test]
    fn sliding_windows_read_from_pane_tops_equal_those_of_the_merged_lists() {
        // Disordered records through a key's sliding windows, closed as the
        // watermark moves. A record late for some of its windows is still
        // added to its pane, which changes a pane whose top values an
        // earlier window read: every window must equal the aggregates of
        // the records accepted before it closed, computed from one list.
        // (percentiles near the top, read from the tops while the windows
        // are small; with p50 too, never)
        let plans = [
            "p95(value), p99(value), p90(value), count(), max(value)",
            "p95(value), p50(value), count()",
        ]
        .map(|specs| AggPlan::new(&crate::agg::parse_agg_list(specs).unwrap()));
        let mut rng = Rng(0x70b5);
        let mut windows = 0;
        for round in 0..400 {
            let plan = &plans[round % plans.len()];
            let slide = 1_000 * (1 + rng.below(4) as i64);
            let size = slide * (1 + rng.below(6) as i64);
            let layout = Layout::new(WindowSpec::Sliding { size, slide });
            let delay = rng.below(3_000) as i64;
            let mut kw = KeyWindows::new(&layout);
            let mut scratch = None;
            let (mut max_seen, mut accepted) = (i64::MIN, Vec::new());
            let mut check = |kw: &mut KeyWindows, wm: i64, accepted: &[(i64, f64)]| {
                kw.close(&layout, plan, wm, &mut scratch, &mut |c: Closed<'_>| {
                    let mut got = Vec::new();
                    plan.finish(c.state, c.end - c.start, &mut got);
                    let mut state = plan.new_state();
                    for &(t, v) in accepted
                        .iter()
                        .filter(|(t, _)| (c.start..c.end).contains(t))
                    {
                        plan.update(&mut state, t, 0, &[SlotValue::Num(v)]);
                    }
                    let mut want = Vec::new();
                    plan.finish(&state, c.end - c.start, &mut want);
                    assert_eq!(got, want, "round {round}: window {}..{}", c.start, c.end);
                    windows += 1;
                });
            };
            for i in 0..400 {
                let t = i as i64 * 60 - rng.below(4_000) as i64;
                let wm = max_seen.saturating_sub(delay);
                check(&mut kw, wm, &accepted);
                // values with ties, so that equal values are ranked too
                let v = rng.below(50) as f64 * 0.5;
                let added = kw.add(&layout, plan, t, i, &[SlotValue::Num(v)], wm, &mut |_| {});
                if added != Added::Late {
                    accepted.push((t, v));
                }
                max_seen = max_seen.max(t);
            }
            check(&mut kw, max_seen + 2 * size, &accepted);
        }
        assert!(windows > 5_000, "{windows} windows checked");
    }
}
