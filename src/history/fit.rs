//! The arithmetic of the history functions on plain numbers: the
//! least-squares line, the z-score, the robust (median/MAD) z-score, and one
//! step of exponential smoothing. Pure and allocation-free except
//! [`robust_z`]'s working copy; knows nothing of series, keys or windows.

/// A least-squares line, with x in seconds measured from a reference time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Line {
    /// Slope in value units per second.
    pub slope_per_s: f64,
    /// The line's value at the reference time.
    pub at_reference: f64,
}

/// Seconds between two millisecond times. Exact: differences of epoch
/// milliseconds are far below 2^53.
#[inline]
fn seconds_between(from_ms: i64, to_ms: i64) -> f64 {
    to_ms.saturating_sub(from_ms) as f64 / 1000.0
}

/// The least-squares line through `points` (time in ms, value), its value
/// given at `reference_ms`. None below 2 points, or when every point has the
/// same time and the values differ. A constant series has slope exactly 0
/// (as Prometheus' `linearRegression`).
///
/// Precision: times enter as offsets from `reference_ms` (small and exact),
/// and both sums are taken around the means (two passes), so epoch-ms times
/// lose nothing to the squares of large numbers.
pub fn fit_line<I>(points: I, reference_ms: i64) -> Option<Line>
where
    I: Iterator<Item = (i64, f64)> + Clone,
{
    let mut n = 0usize;
    let mut sum_x = 0.0;
    let mut sum_y = 0.0;
    let mut first_y = None;
    let mut constant = true;
    for (t, y) in points.clone() {
        n += 1;
        sum_x += seconds_between(reference_ms, t);
        sum_y += y;
        match first_y {
            None => first_y = Some(y),
            Some(f) => constant &= y == f,
        }
    }
    if n < 2 {
        return None;
    }
    if constant {
        return first_y.map(|y| Line {
            slope_per_s: 0.0,
            at_reference: y,
        });
    }
    let mean_x = sum_x / n as f64;
    let mean_y = sum_y / n as f64;
    let (mut cov, mut var) = (0.0, 0.0);
    for (t, y) in points {
        let dx = seconds_between(reference_ms, t) - mean_x;
        cov += dx * (y - mean_y);
        var += dx * dx;
    }
    if var == 0.0 {
        return None;
    }
    let slope = cov / var;
    let line = Line {
        slope_per_s: slope,
        at_reference: mean_y - slope * mean_x,
    };
    (line.slope_per_s.is_finite() && line.at_reference.is_finite()).then_some(line)
}

/// `(x - mean) / stddev` of `earlier` (sample stddev, divisor n - 1). None
/// below 2 values or when the stddev is 0 (every value equal).
pub fn zscore<I>(x: f64, earlier: I) -> Option<f64>
where
    I: Iterator<Item = f64> + Clone,
{
    // Deviations from the first value: a constant series gives exact zeros.
    let mut it = earlier.clone();
    let shift = it.next()?;
    let mut n = 1usize;
    let mut sum = 0.0;
    let mut constant = true;
    for v in it {
        n += 1;
        sum += v - shift;
        constant &= v == shift;
    }
    if n < 2 || constant {
        return None;
    }
    let mean = sum / n as f64;
    let sq: f64 = earlier
        .map(|v| {
            let d = v - shift - mean;
            d * d
        })
        .sum();
    let sd = (sq / (n - 1) as f64).sqrt();
    if sd == 0.0 || !sd.is_finite() {
        return None;
    }
    let z = (x - shift - mean) / sd;
    z.is_finite().then_some(z)
}

/// The median of `values` (reordered in place); the mean of the two middle
/// values for an even count. None when empty.
pub fn median(values: &mut [f64]) -> Option<f64> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mid = n / 2;
    let (_, &mut upper, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    if n % 2 == 1 {
        return Some(upper);
    }
    // After selection every value left of `mid` is <= upper; the largest of them is the other middle.
    let lower = values[..mid]
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    Some((lower + upper) / 2.0)
}

/// The consistency constant of the robust z-score: 0.6745 is the 0.75 quantile
/// of the standard normal, so the score is comparable to a z-score for normal data.
pub const ROBUST_Z_SCALE: f64 = 0.6745;

/// `0.6745 * (x - median) / MAD` of `earlier`, MAD being the median absolute
/// deviation from their median. None below 3 values or when the MAD is 0.
/// `work` is reused between calls (cleared here).
pub fn robust_z<I>(x: f64, earlier: I, work: &mut Vec<f64>) -> Option<f64>
where
    I: Iterator<Item = f64>,
{
    work.clear();
    work.extend(earlier);
    if work.len() < 3 {
        return None;
    }
    let med = median(work)?;
    for v in work.iter_mut() {
        *v = (*v - med).abs();
    }
    let mad = median(work)?;
    if mad == 0.0 || !mad.is_finite() {
        return None;
    }
    let z = ROBUST_Z_SCALE * (x - med) / mad;
    z.is_finite().then_some(z)
}

/// Exponential smoothing state of one (function, key): the level (and trend)
/// after `points` defined values.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Smoothed {
    pub points: u64,
    pub level: f64,
    pub trend: f64,
}

impl Smoothed {
    /// `s1 = x1`, `s_i = alpha * x_i + (1 - alpha) * s_(i-1)`.
    pub fn ewma_step(&mut self, alpha: f64, x: f64) {
        self.level = if self.points == 0 {
            x
        } else {
            alpha * x + (1.0 - alpha) * self.level
        };
        self.points += 1;
    }

    /// The smoothed value, once there is a point.
    pub fn ewma(&self) -> Option<f64> {
        (self.points >= 1).then_some(self.level)
    }

    /// Double exponential smoothing: `s1 = x1`; at the second point `b1 = x2 - x1`;
    /// from then on `s_i = sf*x_i + (1-sf)*(s_(i-1) + b_(i-1))` and
    /// `b_i = tf*(s_i - s_(i-1)) + (1-tf)*b_(i-1)`.
    pub fn holt_step(&mut self, sf: f64, tf: f64, x: f64) {
        if self.points == 0 {
            self.level = x;
            self.trend = 0.0;
        } else {
            if self.points == 1 {
                self.trend = x - self.level;
            }
            let previous = self.level;
            self.level = sf * x + (1.0 - sf) * (previous + self.trend);
            self.trend = tf * (self.level - previous) + (1.0 - tf) * self.trend;
        }
        self.points += 1;
    }

    /// The forecast `steps` windows ahead (`s + b * steps`), from the second point on.
    pub fn holt_forecast(&self, steps: f64) -> Option<f64> {
        if self.points < 2 {
            return None;
        }
        let f = self.level + self.trend * steps;
        f.is_finite().then_some(f)
    }
}
