//! The `absent(DUR)` dead-man switch on event time (SPEC 4), as a pure
//! schedule: given the record times a key has so far (summarised per pane)
//! and whether it is firing, the next window end at which it fires or
//! resolves. The shard asks again whenever the key's times change or an event
//! happens, and applies the events the watermark has passed, in order.
//!
//! Fires at a window end E (on the slide grid) when the key has a record with
//! time < E and none in `[E - DUR, E)`; resolves at the first window end
//! E' > E such that the key has a record in `[E, E')`. Only records seen
//! before the watermark passed E count for the check at E: the caller
//! evaluates checks before applying records that arrived after. Window ends
//! are pane-aligned, so a pane's records are either all before E or all at
//! or after it: per-pane minima and maxima answer every question exactly.

use crate::window::Layout;

use super::Transition;

/// The next absent event of a key after window end `after` (checks up to and
/// including `after` are done). `dropped_max`: the latest record time in
/// panes already dropped (i64::MIN: none); `panes`: (start, min time, max
/// time) of the open panes holding records, by start. `fired_at`: the window
/// end at which the current silence fired, if it is firing.
pub fn next_event(
    layout: &Layout,
    dur: i64,
    fired_at: Option<i64>,
    dropped_max: i64,
    panes: impl Iterator<Item = (i64, i64, i64)>,
    after: i64,
) -> Option<(i64, Transition)> {
    match fired_at {
        Some(e) => {
            // The first record at or after E resolves it, one window end later.
            let mut first_after = None;
            for (start, min_t, _) in panes {
                if start >= e {
                    first_after = Some(min_t);
                    break;
                }
            }
            let r = first_after?;
            Some((layout.next_end_after(r.max(after)), Transition::Resolved))
        }
        None => {
            // Latest record before each candidate end; the first silence that
            // ends before the next pane's records starts is the one that fires.
            let mut latest = dropped_max;
            let mut panes = panes.peekable();
            loop {
                let next_start = panes.peek().map(|p| p.0);
                if latest != i64::MIN {
                    let end = layout.next_end_after(after.max(latest.saturating_add(dur)));
                    if next_start.is_none_or(|s| end <= s) {
                        return Some((end, Transition::Firing));
                    }
                }
                let (_, _, max_t) = panes.next()?;
                latest = latest.max(max_t);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn tumbling() -> Layout {
        Layout::Panes {
            size: MIN,
            slide: MIN,
            pane: MIN,
        }
    }

    /// Panes of 1-minute tumbling windows holding records at `times` (ms).
    fn panes(times: &[i64]) -> Vec<(i64, i64, i64)> {
        let mut out: Vec<(i64, i64, i64)> = Vec::new();
        for &t in times {
            let start = t.div_euclid(MIN) * MIN;
            match out.iter_mut().find(|p| p.0 == start) {
                Some(p) => {
                    p.1 = p.1.min(t);
                    p.2 = p.2.max(t);
                }
                None => out.push((start, t, t)),
            }
        }
        out.sort();
        out
    }

    #[test]
    fn a_gap_ended_by_the_keys_own_next_record_still_fires() {
        // a at 00:00 and at 00:30, absent(10m): fires at 00:11, resolves at 00:31.
        let p = panes(&[0, 30 * MIN]);
        let fire = next_event(
            &tumbling(),
            10 * MIN,
            None,
            i64::MIN,
            p.iter().copied(),
            i64::MIN,
        );
        assert_eq!(fire, Some((11 * MIN, Transition::Firing)));
        let resolve = next_event(
            &tumbling(),
            10 * MIN,
            Some(11 * MIN),
            i64::MIN,
            p.iter().copied(),
            11 * MIN,
        );
        assert_eq!(resolve, Some((31 * MIN, Transition::Resolved)));
    }

    #[test]
    fn no_silence_no_event_and_no_record_no_event() {
        let p = panes(&[0, 5 * MIN, 9 * MIN]);
        assert_eq!(
            next_event(
                &tumbling(),
                10 * MIN,
                None,
                i64::MIN,
                p.iter().copied(),
                i64::MIN
            ),
            Some((20 * MIN, Transition::Firing)),
            "the silence after the last record"
        );
        assert_eq!(
            next_event(&tumbling(), 10 * MIN, None, i64::MIN, std::iter::empty(), 0),
            None
        );
        // firing with no record after it: nothing resolves it
        assert_eq!(
            next_event(
                &tumbling(),
                10 * MIN,
                Some(20 * MIN),
                i64::MIN,
                p.iter().copied(),
                20 * MIN
            ),
            None
        );
    }

    #[test]
    fn checks_already_done_are_not_repeated() {
        // dropped record at 00:00 only; checks done up to 00:30: next end is 00:31.
        let fire = next_event(&tumbling(), 10 * MIN, None, 0, std::iter::empty(), 30 * MIN);
        assert_eq!(fire, Some((31 * MIN, Transition::Firing)));
    }

    #[test]
    fn sliding_grid_and_unaligned_durations() {
        let sliding = Layout::Panes {
            size: 5 * MIN,
            slide: MIN,
            pane: MIN,
        };
        // record at 00:00:30, absent(90s): the first end E with no record in
        // [E - 90s, E) is 00:03 (ends are whole minutes on this grid).
        let p = panes(&[30_000]);
        assert_eq!(
            next_event(
                &sliding,
                90_000,
                None,
                i64::MIN,
                p.iter().copied(),
                i64::MIN
            ),
            Some((3 * MIN, Transition::Firing))
        );
    }
}
