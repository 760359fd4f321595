//! Named counters for everything a run reads, drops or emits. They feed the
//! summary line, the checkpoint and the tests.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    /// Records read by this run (header lines excluded; bad records included).
    pub records: u64,
    /// Lines that were not records (undecodable, bad time or key).
    pub bad: u64,
    /// Values present but not numbers, in fields aggregated as numbers.
    pub bad_values: u64,
    /// Records too late for every window they belong to.
    pub late: u64,
    /// Records dropped by `--max-keys`.
    pub dropped: u64,
    /// Records removed by `--where`.
    pub filtered: u64,
    /// Report rows written.
    pub windows: u64,
    /// Alert events (firing and resolved).
    pub alerts: u64,
    /// Firing events.
    pub alerts_fired: u64,
}

impl Counters {
    pub fn add(&mut self, other: &Counters) {
        self.records += other.records;
        self.bad += other.bad;
        self.bad_values += other.bad_values;
        self.late += other.late;
        self.dropped += other.dropped;
        self.filtered += other.filtered;
        self.windows += other.windows;
        self.alerts += other.alerts;
        self.alerts_fired += other.alerts_fired;
    }
}
