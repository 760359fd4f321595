//! Bounded series for the page: the windows of one (key, aggregate) kept as
//! time buckets of a grid shared by every series of the run. When the run's
//! time range needs more buckets than the grid allows, the bucket width
//! doubles and neighbouring buckets merge, so a series never holds more than
//! the grid's capacity whatever the length of the input. A bucket keeps the
//! minimum and the maximum of its windows, so spikes survive downsampling.
//! Pure: no I/O, no knowledge of rows, keys or pages.

use serde::{Deserialize, Serialize};

/// The windows of one series that fall into one bucket (or, once drawn, into
/// one pixel column).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// The earliest window start and the latest window end in the bucket.
    pub start: i64,
    pub end: i64,
    pub min: f64,
    pub max: f64,
    /// How many windows were merged into it.
    pub windows: u32,
}

impl Bucket {
    /// One window `[start, end)` with value `value`.
    pub fn window(start: i64, end: i64, value: f64) -> Bucket {
        Bucket {
            start,
            end,
            min: value,
            max: value,
            windows: 1,
        }
    }

    pub fn merge(&mut self, other: &Bucket) {
        self.start = self.start.min(other.start);
        self.end = self.end.max(other.end);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.windows = self.windows.saturating_add(other.windows);
    }
}

/// The bucket grid shared by all series: buckets are `[i * width, (i + 1) *
/// width)` of window-end time, and the run's range of window ends spans at
/// most `capacity` of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grid {
    width: i64,
    capacity: i64,
    /// The earliest and latest window end seen (`i64::MAX`, `i64::MIN`: none).
    first: i64,
    last: i64,
}

impl Grid {
    /// `width`: the starting bucket width in ms (the window step, so that
    /// each window has a bucket of its own until the range grows); `capacity`:
    /// buckets per series at most (at least 2).
    pub fn new(width: i64, capacity: usize) -> Grid {
        Grid {
            width: width.max(1),
            capacity: capacity.max(2) as i64,
            first: i64::MAX,
            last: i64::MIN,
        }
    }

    pub fn width(&self) -> i64 {
        self.width
    }

    pub fn capacity(&self) -> usize {
        self.capacity as usize
    }

    /// The earliest and the latest window end seen, if any.
    pub fn range(&self) -> Option<(i64, i64)> {
        (self.first <= self.last).then_some((self.first, self.last))
    }

    pub fn index(&self, end: i64) -> i64 {
        end.div_euclid(self.width)
    }

    /// Takes a window end into the range; true when the bucket width grew
    /// (then every series must be [`Series::regrid`]ded).
    pub fn observe(&mut self, end: i64) -> bool {
        self.first = self.first.min(end);
        self.last = self.last.max(end);
        let mut grew = false;
        while self.index(self.last) - self.index(self.first) + 1 > self.capacity {
            // Doubling keeps bucket boundaries nested: bucket i of the old
            // grid lies inside bucket i / 2 of the new one.
            self.width = self.width.saturating_mul(2);
            grew = true;
        }
        grew
    }
}

/// The buckets of one series, in time order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Series {
    buckets: Vec<Bucket>,
}

impl Series {
    pub fn buckets(&self) -> &[Bucket] {
        &self.buckets
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// Adds one window (or a bucket of windows) into its bucket of `grid`.
    pub fn add(&mut self, grid: &Grid, b: Bucket) {
        let idx = grid.index(b.end);
        match self.buckets.last_mut() {
            None => self.buckets.push(b),
            Some(last) if grid.index(last.end) == idx => last.merge(&b),
            Some(last) if grid.index(last.end) < idx => self.buckets.push(b),
            // Windows come in report order, which is time order except for
            // count windows: place it by binary search.
            Some(_) => {
                let pos = self.buckets.partition_point(|x| grid.index(x.end) < idx);
                match self.buckets.get_mut(pos) {
                    Some(x) if grid.index(x.end) == idx => x.merge(&b),
                    _ => self.buckets.insert(pos, b),
                }
            }
        }
    }

    /// Merges buckets that share a bucket of `grid` (after its width grew).
    pub fn regrid(&mut self, grid: &Grid) {
        let mut kept = 0;
        for i in 0..self.buckets.len() {
            let b = self.buckets[i];
            if kept > 0 && grid.index(self.buckets[kept - 1].end) == grid.index(b.end) {
                self.buckets[kept - 1].merge(&b);
            } else {
                self.buckets[kept] = b;
                kept += 1;
            }
        }
        self.buckets.truncate(kept);
    }
}

/// Merges `buckets` (in time order) into `columns` pixel columns spread over
/// the window-end range `[t0, t1]`: what one column of the chart shows.
/// Returns (column, merged bucket) in column order.
pub fn columns(buckets: &[Bucket], t0: i64, t1: i64, columns: usize) -> Vec<(usize, Bucket)> {
    let mut out: Vec<(usize, Bucket)> = Vec::new();
    let last = columns.saturating_sub(1);
    let span = (t1 as i128 - t0 as i128).max(1);
    for b in buckets {
        let col = if columns <= 1 {
            0
        } else {
            let offset = (b.end as i128 - t0 as i128).clamp(0, span);
            ((offset * last as i128 + span / 2) / span) as usize
        };
        match out.last_mut() {
            Some((c, m)) if *c == col => m.merge(b),
            _ => out.push((col, *b)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(s: &Series) -> Vec<(f64, f64, u32)> {
        s.buckets()
            .iter()
            .map(|b| (b.min, b.max, b.windows))
            .collect()
    }

    #[test]
    fn each_window_has_its_bucket_while_the_range_fits() {
        let mut grid = Grid::new(10, 8);
        let mut s = Series::default();
        for i in 0..8 {
            assert!(!grid.observe(10 * (i + 1)));
            s.add(&grid, Bucket::window(10 * i, 10 * (i + 1), i as f64));
        }
        assert_eq!(grid.width(), 10);
        assert_eq!(s.buckets().len(), 8);
        assert_eq!(s.buckets()[3], Bucket::window(30, 40, 3.0));
    }

    #[test]
    fn a_long_series_stays_bounded_and_keeps_its_spike() {
        let mut grid = Grid::new(1000, 64);
        let mut s = Series::default();
        let n = 100_000i64;
        for i in 0..n {
            let end = (i + 1) * 1000;
            if grid.observe(end) {
                s.regrid(&grid);
            }
            let v = if i == 77_777 { 1e6 } else { (i % 10) as f64 };
            s.add(&grid, Bucket::window(end - 1000, end, v));
        }
        assert!(s.buckets().len() <= 64, "{} buckets", s.buckets().len());
        assert!(s.buckets().len() > 32, "the grid uses its capacity");
        let total: u32 = s.buckets().iter().map(|b| b.windows).sum();
        assert_eq!(total as i64, n, "no window is lost by merging");
        let spike = s
            .buckets()
            .iter()
            .find(|b| b.max == 1e6)
            .expect("the spike");
        assert!(spike.start <= 77_777_000 && spike.end >= 77_778_000);
        assert_eq!(spike.min, 0.0);
        let max_other = s
            .buckets()
            .iter()
            .filter(|b| b.max != 1e6)
            .map(|b| b.max)
            .fold(f64::MIN, f64::max);
        assert_eq!(max_other, 9.0);
    }

    #[test]
    fn merging_late_gives_what_merging_early_would() {
        // The same windows, added on a grid that grows as they come, equal
        // the windows added on the final grid from the start.
        let ends: Vec<i64> = (1..=500).map(|i| i * 7).collect();
        let mut grid = Grid::new(7, 16);
        let mut grown = Series::default();
        for &e in &ends {
            if grid.observe(e) {
                grown.regrid(&grid);
            }
            grown.add(&grid, Bucket::window(e - 7, e, (e % 13) as f64));
        }
        let mut direct = Series::default();
        for &e in &ends {
            direct.add(&grid, Bucket::window(e - 7, e, (e % 13) as f64));
        }
        assert_eq!(grown, direct);
    }

    #[test]
    fn out_of_order_windows_land_in_their_bucket() {
        let grid = Grid::new(10, 100);
        let mut s = Series::default();
        for end in [30, 10, 50, 20, 10] {
            s.add(&grid, Bucket::window(end - 10, end, end as f64));
        }
        let ends: Vec<i64> = s.buckets().iter().map(|b| b.end).collect();
        assert_eq!(ends, vec![10, 20, 30, 50]);
        assert_eq!(values(&s)[0], (10.0, 10.0, 2));
    }

    #[test]
    fn negative_times_bucket_by_floor() {
        let mut grid = Grid::new(10, 4);
        let mut s = Series::default();
        for end in [-35, -25, -15, -5] {
            grid.observe(end);
            s.add(&grid, Bucket::window(end - 10, end, 1.0));
        }
        assert_eq!(grid.width(), 10);
        assert_eq!(s.buckets().len(), 4);
        assert!(grid.observe(5));
        s.regrid(&grid);
        assert_eq!(grid.width(), 20);
        assert_eq!(s.buckets().len(), 2, "-35,-25 | -15,-5 at width 20");
    }

    #[test]
    fn columns_merge_buckets_into_pixels_with_min_and_max() {
        let buckets: Vec<Bucket> = (0..100)
            .map(|i| Bucket::window(i * 10, (i + 1) * 10, if i == 42 { -5.0 } else { i as f64 }))
            .collect();
        let cols = columns(&buckets, 10, 1000, 10);
        assert_eq!(cols.len(), 10);
        assert_eq!(cols.first().unwrap().0, 0);
        assert_eq!(cols.last().unwrap().0, 9);
        let windows: u32 = cols.iter().map(|(_, b)| b.windows).sum();
        assert_eq!(windows, 100);
        assert!(cols.iter().any(|(_, b)| b.min == -5.0));
        let one = columns(&buckets[..1], 10, 10, 300);
        assert_eq!(one, vec![(0, buckets[0])]);
    }
}
