//! The rows a shard closed since it was last drained, kept without a heap
//! block per row: their heads in one array, key bytes, values and text in
//! three buffers that are cleared, not freed, from batch to batch. Where the
//! report is CSV or JSON lines and no page is drawn, a row is written as
//! text when its window closes, on the shard's worker while its values are
//! in cache, and its values are not kept; otherwise its values are kept for
//! the writer that needs them (a table, the `--html` page). Owns only these
//! buffers; the emit room merges the shards' rows into report order.

use crate::agg::AggValue;
use crate::plan::{compare_keys, key_order_prefix};
use crate::sink::RowText;

/// One report row, as the writers read it.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    /// Ordering: (end, start) for time windows; (closing record's seq, 0) for count windows.
    pub order: (i64, i64),
    pub start: i64,
    pub end: i64,
    pub key: &'a [u8],
    /// Visible aggregate values, in `--agg` order (empty for a row kept as
    /// text, unless one of its values is beyond f64's range: see `RowBuf::push`).
    pub values: &'a [AggValue],
}

/// Where one row's parts are in its buffer.
#[derive(Debug, Clone, Copy)]
struct RowHead {
    order: (i64, i64),
    /// `key_order_prefix` of the key, as (high, low) halves so that the
    /// head stays 8-byte aligned: most comparisons end on it
    key_prefix: (u64, u64),
    start: i64,
    end: i64,
    key_at: usize,
    values_at: usize,
    text_at: usize,
    key_len: u32,
    values_len: u32,
    text_len: u32,
}

impl RowHead {
    /// This row's key bytes in its buffer's `keys`.
    fn key_in<'k>(&self, keys: &'k [u8]) -> &'k [u8] {
        &keys[self.key_at..self.key_at + self.key_len as usize]
    }
}

/// Report order of two rows (each with the key bytes of its buffer):
/// (order, key), the key prefix deciding most comparisons.
fn report_order(a: &RowHead, a_keys: &[u8], b: &RowHead, b_keys: &[u8]) -> std::cmp::Ordering {
    a.order
        .cmp(&b.order)
        .then(a.key_prefix.cmp(&b.key_prefix))
        .then_with(|| compare_keys(a.key_in(a_keys), b.key_in(b_keys)))
}

/// A shard's closed rows.
#[derive(Debug, Default)]
pub struct RowBuf {
    heads: Vec<RowHead>,
    keys: Vec<u8>,
    values: Vec<AggValue>,
    text: Vec<u8>,
    /// rows were added since the last `sort`
    unsorted: bool,
    /// the last window's bounds and their text, kept: the rows of one
    /// window close together
    bounds: Option<(i64, i64)>,
    bounds_text: Vec<u8>,
    /// `sort`'s scratch: the heads' sort keys
    sort_keys: Vec<SortKey>,
}

/// What sorting compares of a row, a quarter of its head's size; the key
/// bytes are read only when the 16-byte prefixes tie.
#[derive(Debug, Clone, Copy)]
struct SortKey {
    prefix: (u64, u64),
    head: u32,
}

impl RowBuf {
    /// Adds a row: as text when `text` is given, else with its values. A
    /// row written as text keeps its values too when one is a float beyond
    /// f64's range, so the emit room can warn of it.
    pub fn push(
        &mut self,
        text: Option<&RowText>,
        order: (i64, i64),
        (start, end): (i64, i64),
        key: &[u8],
        values: &[AggValue],
    ) {
        self.unsorted = true;
        let key_at = self.keys.len();
        self.keys.extend_from_slice(key);
        let text_at = self.text.len();
        let keep_values = match text {
            Some(t) => {
                if self.bounds != Some((start, end)) {
                    self.bounds = Some((start, end));
                    self.bounds_text.clear();
                    t.format_bounds(start, end, &mut self.bounds_text);
                }
                self.text.extend_from_slice(&self.bounds_text);
                t.format_fields(key, values, &mut self.text);
                values.iter().any(|v| v.beyond_f64())
            }
            None => true,
        };
        let values_at = self.values.len();
        if keep_values {
            self.values.extend_from_slice(values);
        }
        self.heads.push(RowHead {
            order,
            key_prefix: {
                let p = key_order_prefix(key);
                ((p >> 64) as u64, p as u64)
            },
            start,
            end,
            key_at,
            values_at,
            text_at,
            key_len: key.len() as u32,
            values_len: (self.values.len() - values_at) as u32,
            text_len: (self.text.len() - text_at) as u32,
        });
    }

    pub fn len(&self) -> usize {
        self.heads.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heads.is_empty()
    }

    fn key_of(&self, h: &RowHead) -> &[u8] {
        h.key_in(&self.keys)
    }

    /// Row `i`, in the order the rows are in (report order after `sort`).
    pub fn row(&self, i: usize) -> Row<'_> {
        let h = &self.heads[i];
        Row {
            order: h.order,
            start: h.start,
            end: h.end,
            key: self.key_of(h),
            values: &self.values[h.values_at..h.values_at + h.values_len as usize],
        }
    }

    /// Row `i`'s text (empty when it was kept with its values).
    pub fn text(&self, i: usize) -> &[u8] {
        let h = &self.heads[i];
        &self.text[h.text_at..h.text_at + h.text_len as usize]
    }

    /// True when row `i` comes before row `j` of `other` in report order.
    pub fn before(&self, i: usize, other: &RowBuf, j: usize) -> bool {
        let (a, b) = (&self.heads[i], &other.heads[j]);
        report_order(a, &self.keys, b, &other.keys).is_lt()
    }

    /// Puts the rows in report order: (order, key), unless they are.
    pub fn sort(&mut self) {
        if !std::mem::take(&mut self.unsorted) {
            return;
        }
        let (heads, keys) = (&self.heads, &self.keys);
        let by_key = |a: &SortKey, b: &SortKey| {
            a.prefix.cmp(&b.prefix).then_with(|| {
                let (ha, hb) = (&heads[a.head as usize], &heads[b.head as usize]);
                compare_keys(ha.key_in(keys), hb.key_in(keys))
            })
        };
        self.sort_keys.clear();
        self.sort_keys
            .extend(heads.iter().enumerate().map(|(i, h)| SortKey {
                prefix: h.key_prefix,
                head: i as u32,
            }));
        let order = |k: &SortKey| heads[k.head as usize].order;
        if heads.windows(2).all(|w| w[0].order <= w[1].order) {
            // Windows close as the watermark passes their ends, so the rows
            // usually come in order already but for the keys of one window:
            // each run of one order is sorted by key alone.
            for run in self.sort_keys.chunk_by_mut(|a, b| order(a) == order(b)) {
                run.sort_unstable_by(by_key);
            }
        } else {
            self.sort_keys
                .sort_unstable_by(|a, b| order(a).cmp(&order(b)).then_with(|| by_key(a, b)));
        }
        // the heads into that order in place, cycle by cycle: place j takes
        // the head at `sort_keys[j].head`, and a key is marked once used
        const PLACED: u32 = u32::MAX;
        for i in 0..self.heads.len() {
            if self.sort_keys[i].head == PLACED {
                continue;
            }
            let first = self.heads[i];
            let mut j = i;
            loop {
                let from = std::mem::replace(&mut self.sort_keys[j].head, PLACED) as usize;
                if from == i {
                    self.heads[j] = first;
                    break;
                }
                self.heads[j] = self.heads[from];
                j = from;
            }
        }
    }

    /// Forgets every row, keeping the buffers' memory for the next batch.
    pub fn clear(&mut self) {
        self.heads.clear();
        self.keys.clear();
        self.values.clear();
        self.text.clear();
        self.unsorted = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::OutputFormat;
    use crate::plan::push_key_field;

    fn key(k: &str) -> Vec<u8> {
        let mut b = Vec::new();
        push_key_field(&mut b, k.as_bytes());
        b
    }

    fn columns() -> Vec<String> {
        ["window_start", "window_end", "host", "sum"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn rows_sort_by_order_then_key_and_keep_text_or_values() {
        let text = RowText::new(OutputFormat::Csv, columns());
        for as_text in [true, false] {
            let mut rows = RowBuf::default();
            let t = as_text.then_some(&text);
            // pushed out of order: (order, key) = (20, b), (10, b), (20, a), (10, a)
            for (end, k, v) in [
                (20, "b", 1.5),
                (10, "b", 2.0),
                (20, "a", f64::INFINITY),
                (10, "a", 4.0),
            ] {
                rows.push(
                    t,
                    (end, end - 10),
                    (end - 10, end),
                    &key(k),
                    &[AggValue::Float(v)],
                );
            }
            rows.sort();
            let got: Vec<(i64, Vec<u8>)> = (0..rows.len())
                .map(|i| (rows.row(i).end, rows.row(i).key.to_vec()))
                .collect();
            assert_eq!(
                got,
                vec![
                    (10, key("a")),
                    (10, key("b")),
                    (20, key("a")),
                    (20, key("b"))
                ]
            );
            let mut want = Vec::new();
            text.format_row(10, 20, &key("b"), &[AggValue::Float(1.5)], &mut want);
            if as_text {
                assert_eq!(rows.text(3), &want[..]);
                // values kept only for the row with a value beyond f64's range
                assert!(rows.row(3).values.is_empty());
                assert_eq!(rows.row(2).values.len(), 1);
            } else {
                assert!(rows.text(3).is_empty());
                assert_eq!(rows.row(3).values.len(), 1);
            }
            let mut other = RowBuf::default();
            other.push(t, (15, 5), (5, 15), &key("z"), &[AggValue::Null]);
            assert!(rows.before(1, &other, 0) && other.before(0, &rows, 2));
            rows.clear();
            assert!(rows.is_empty());
        }
    }

    #[test]
    fn sort_gives_report_order_whether_rows_come_grouped_or_not() {
        // random rows, pushed either in order runs (as windows close) or
        // shuffled; keys of two fields, some longer than the 16-byte prefix
        // and some equal for their first 16 bytes, so that ties are broken
        // by the key bytes
        let mut rng = crate::test_rng::Rng(0x5017);
        let names = [
            "a",
            "b",
            "host-0001",
            "host-0001-long-name",
            "host-0001-long-nam",
        ];
        for round in 0..400 {
            let grouped = round % 2 == 0;
            let n = rng.below(60);
            let mut rows: Vec<((i64, i64), Vec<u8>)> = (0..n)
                .map(|_| {
                    let mut k = Vec::new();
                    push_key_field(&mut k, names[rng.below(names.len())].as_bytes());
                    push_key_field(&mut k, names[rng.below(names.len())].as_bytes());
                    let end = 10 * rng.below(4) as i64;
                    ((end, end - rng.below(2) as i64), k)
                })
                .collect();
            if grouped {
                rows.sort_by_key(|r| r.0);
            }
            let mut buf = RowBuf::default();
            for (order, k) in &rows {
                buf.push(None, *order, (order.1, order.0), k, &[]);
            }
            buf.sort();
            let got: Vec<((i64, i64), Vec<u8>)> = (0..buf.len())
                .map(|i| (buf.row(i).order, buf.row(i).key.to_vec()))
                .collect();
            let mut want = rows.clone();
            want.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| compare_keys(&a.1, &b.1)));
            assert_eq!(got, want, "round {round}");
        }
    }
}
