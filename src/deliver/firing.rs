//! The alerts firing right now, with the time each started and the value it
//! fired with: what Alertmanager targets re-send every ttl/4, and what a run
//! resumed from a checkpoint re-sends first. Kept from the event stream in
//! emit order, so it always equals the set of (rule, key) trackers that are
//! firing. Pure; serialized into the checkpoint.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::alert::Transition;

/// One firing alert's start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Firing {
    /// the firing event's time (ms since the epoch): Alertmanager's `startsAt`
    pub since: i64,
    /// the firing event's `value`, as the report writes it (empty: undefined)
    pub value: String,
}

/// Firing alerts by (rule index, packed key), in a deterministic order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiringSet {
    alerts: BTreeMap<(u32, Box<[u8]>), Firing>,
}

impl FiringSet {
    /// Applies one event. Returns when the alert started: the event's own
    /// time for `firing`, the matching firing's for `resolved` (the event's
    /// time if none is known).
    pub fn apply(
        &mut self,
        rule: usize,
        key: &[u8],
        state: Transition,
        time: i64,
        value: &str,
    ) -> i64 {
        let id = (rule as u32, Box::<[u8]>::from(key));
        match state {
            Transition::Firing => {
                self.alerts.insert(
                    id,
                    Firing {
                        since: time,
                        value: value.to_string(),
                    },
                );
                time
            }
            Transition::Resolved => self.alerts.remove(&id).map_or(time, |f| f.since),
        }
    }

    pub fn len(&self) -> usize {
        self.alerts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
    }

    /// (rule index, packed key, start) of every firing alert, in order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &[u8], &Firing)> {
        self.alerts
            .iter()
            .map(|((rule, key), f)| (*rule as usize, &key[..], f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_start_of_each_firing_alert_until_it_resolves() {
        let mut s = FiringSet::default();
        assert_eq!(s.apply(0, b"a", Transition::Firing, 100, "95"), 100);
        assert_eq!(s.apply(1, b"a", Transition::Firing, 200, ""), 200);
        assert_eq!(s.apply(0, b"b", Transition::Firing, 300, "91"), 300);
        assert_eq!(s.len(), 3);
        // resolved: reports the firing's start, and forgets it
        assert_eq!(s.apply(0, b"a", Transition::Resolved, 400, "70"), 100);
        let left: Vec<(usize, &[u8], i64)> = s.iter().map(|(r, k, f)| (r, k, f.since)).collect();
        assert_eq!(left, [(0, &b"b"[..], 300), (1, &b"a"[..], 200)]);
        // a resolved event with no known firing starts at its own time
        assert_eq!(s.apply(2, b"z", Transition::Resolved, 500, ""), 500);
        assert_eq!(s.len(), 2);
    }
}
