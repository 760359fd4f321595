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
    /// `key_order_prefix` of the key: most comparisons end on it
    key_prefix: u64,
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
            key_prefix: key_order_prefix(key),
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
        let keys = &self.keys;
        self.heads
            .sort_unstable_by(|a, b| report_order(a, keys, b, keys));
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
}
