//! The watermark and the record sequence: the only writer of both. Records
//! are stamped one by one in input order with the watermark as it stood
//! before them and a sequence number (ties for first/last, count-window
//! order); the watermark is `max event time seen - max-delay`.

/// Watermark state of a run, checkpointed as is.
#[derive(Debug, Clone, Copy)]
pub struct Watermark {
    /// max event time seen (i64::MIN: none)
    pub max_seen: i64,
    /// current watermark (i64::MIN: none yet)
    pub wm: i64,
    /// sequence number the next routed record gets
    pub seq: u64,
    delay: i64,
}

impl Watermark {
    pub fn new(delay: i64) -> Watermark {
        Watermark {
            max_seen: i64::MIN,
            wm: i64::MIN,
            seq: 0,
            delay,
        }
    }

    /// A watermark restored from a checkpoint.
    pub fn restored(delay: i64, max_seen: i64, wm: i64, seq: u64) -> Watermark {
        Watermark {
            max_seen,
            wm,
            seq,
            delay,
        }
    }

    /// The next sequence number.
    #[inline]
    pub fn next_seq(&mut self) -> u64 {
        let s = self.seq;
        self.seq += 1;
        s
    }

    /// A record (or a filtered line) at `time` was read: the watermark may move.
    #[inline]
    pub fn observe(&mut self, time: i64) {
        if time > self.max_seen {
            self.max_seen = time;
            self.wm = self.max_seen.saturating_sub(self.delay);
        }
    }

    /// The watermark before a record whose piece so far saw `piece_max`
    /// (i64::MIN: nothing), with every piece before it already absorbed.
    #[inline]
    pub fn before(&self, piece_max: i64) -> i64 {
        let max = self.max_seen.max(piece_max);
        if max == i64::MIN {
            i64::MIN
        } else {
            max.saturating_sub(self.delay)
        }
    }

    /// A whole piece was read: `records` sequence numbers used, `max_time` its
    /// latest time (records and filtered lines).
    pub fn absorb(&mut self, max_time: i64, records: u64) {
        self.observe(max_time);
        self.seq += records;
    }

    /// How far the watermark trails the latest event time (--max-delay).
    pub fn delay(&self) -> i64 {
        self.delay
    }

    /// Moves the watermark without records (wall clock, idle timeout).
    /// Returns false when it would not move forward.
    pub fn advance_to(&mut self, wm: i64) -> bool {
        if wm <= self.wm {
            return false;
        }
        self.wm = wm;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermark_follows_the_max_minus_the_delay() {
        let mut w = Watermark::new(5);
        assert_eq!(w.wm, i64::MIN);
        w.observe(100);
        assert_eq!(w.wm, 95);
        w.observe(90);
        assert_eq!(w.wm, 95);
        w.observe(i64::MIN + 1);
        assert_eq!((w.max_seen, w.wm), (100, 95));
        assert!(w.advance_to(200));
        assert!(!w.advance_to(150));
        assert_eq!((w.next_seq(), w.next_seq()), (0, 1));
    }
}
