//! The two bounded-memory summaries behind `pNN`/`quantile` and `distinct`:
//! exact while small (at most [`EXACT_LIMIT`] values), then a sketch.
//! Percentiles switch to a DDSketch (sketches-ddsketch, 1% relative
//! accuracy, mergeable); distinct counts to a HyperLogLog written here, since
//! the crates we looked at lacked either serde or a fixed, deterministic hash.

use serde::{Deserialize, Serialize};
use sketches_ddsketch::{Config, DDSketch};

/// Values kept exactly per window and key before a sketch takes over.
pub const EXACT_LIMIT: usize = 1000;
/// DDSketch relative accuracy: 1%.
const SKETCH_ALPHA: f64 = 0.01;
/// Bins at most (collapsing the lowest beyond): covers 1e-9..1e12 at 1%.
const SKETCH_BINS: u32 = 4096;
/// Magnitudes below this count as zero in the sketch.
const SKETCH_MIN: f64 = 1e-9;
/// HyperLogLog precision: 2^16 one-byte registers (64 KiB), standard error
/// 1.04/sqrt(65536) = 0.41%, so 2% is about five standard errors.
const HLL_P: u32 = 16;
const HLL_M: usize = 1 << HLL_P;

/// A DDSketch (which has no `Debug` of its own).
#[derive(Clone, Serialize, Deserialize)]
pub struct Sketch(DDSketch);

impl std::fmt::Debug for Sketch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sketch({} values)", self.0.count())
    }
}

impl std::ops::Deref for Sketch {
    type Target = DDSketch;
    fn deref(&self) -> &DDSketch {
        &self.0
    }
}

impl std::ops::DerefMut for Sketch {
    fn deref_mut(&mut self) -> &mut DDSketch {
        &mut self.0
    }
}

fn new_sketch() -> Sketch {
    Sketch(DDSketch::new(Config::new(
        SKETCH_ALPHA,
        SKETCH_BINS,
        SKETCH_MIN,
    )))
}

/// Values for percentiles.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Quantiles {
    Exact(Vec<f64>),
    Sketch(Box<Sketch>),
    /// Only the largest values, of a window merged from panes whose lists
    /// it did not copy (`TopValues`); never checkpointed, never added to.
    #[serde(skip)]
    Top(Box<TopValues>),
}

/// The largest values of a set, at most [`TAIL_RANKS`] of them (as
/// `order_key`s, ascending), and the set's size: all that a percentile near
/// the top needs, the ranks `closest_ranks` finds in its first case. A
/// sliding window takes its percentiles from the top values of its panes,
/// each found once, rather than from a merged copy of the panes' lists:
/// the largest values of a union are the largest of its parts' largest.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TopValues {
    n: usize,
    len: usize,
    keys: [i64; TAIL_RANKS],
}

impl TopValues {
    /// The top values of `values`.
    pub fn of(values: &[f64]) -> TopValues {
        let len = values.len().min(TAIL_RANKS);
        TopValues {
            n: values.len(),
            len,
            keys: if len == 0 {
                [0; TAIL_RANKS]
            } else {
                extreme_keys(values, len, order_key)
            },
        }
    }

    /// The size of the set.
    pub fn count(&self) -> usize {
        self.n
    }

    /// True when these are the top values of `list` as it is now: a list
    /// only grows while its window lives, so its length tells.
    pub fn is_of(&self, list: &Quantiles) -> bool {
        list.exact_len() == Some(self.n)
    }

    /// Becomes the top values of the union of both sets: `other`'s values
    /// inserted from its largest down, until one is too small to be kept
    /// (the rest are smaller still).
    pub fn merge(&mut self, other: &TopValues) {
        self.n += other.n;
        for &k in other.keys[..other.len].iter().rev() {
            if !keep_largest(&mut self.keys, &mut self.len, TAIL_RANKS, k) {
                break;
            }
        }
    }

    /// True when the top values of any `n` values hold the `q`-quantile.
    pub fn would_hold(n: usize, q: f64) -> bool {
        n == 0 || n - rank_below(n, q) <= n.min(TAIL_RANKS)
    }
}

/// The lower of the two closest ranks (from 0) of the `q`-quantile of `n > 0` values.
#[inline]
fn rank_below(n: usize, q: f64) -> usize {
    ((n - 1) as f64 * q).floor() as usize
}

/// The `q`-quantile by linear interpolation between the closest ranks (at
/// `lo` and the one above), as numpy's default.
#[inline]
fn interpolate(n: usize, q: f64, (at_lo, at_hi): (f64, f64)) -> f64 {
    let h = (n - 1) as f64 * q;
    at_lo + (h - h.floor()) * (at_hi - at_lo)
}

impl Default for Quantiles {
    fn default() -> Self {
        Quantiles::Exact(Vec::new())
    }
}

impl Quantiles {
    #[inline]
    pub fn add(&mut self, v: f64) {
        if let Quantiles::Exact(values) = self {
            if values.len() < EXACT_LIMIT {
                values.push(v);
                return;
            }
        }
        self.add_beyond_list(v);
    }

    /// `add` for a full exact list (which becomes a sketch) or a sketch.
    #[inline(never)]
    fn add_beyond_list(&mut self, v: f64) {
        match self {
            Quantiles::Exact(_) => self.switch_to_sketch(v),
            Quantiles::Sketch(s) => s.add(v),
            Quantiles::Top(_) => debug_assert!(false, "a merged window takes no values"),
        }
    }

    /// The exact values, and `v`, into a sketch: once a window, out of line
    /// so that `add` keeps a small frame.
    #[cold]
    #[inline(never)]
    fn switch_to_sketch(&mut self, v: f64) {
        let mut s = new_sketch();
        if let Quantiles::Exact(values) = self {
            for x in values.iter() {
                s.add(*x);
            }
        }
        s.add(v);
        *self = Quantiles::Sketch(Box::new(s));
    }

    pub fn merge(&mut self, other: &Quantiles) {
        if let Quantiles::Top(_) = self {
            // (an emptied window's state, merged into as a whole this time)
            *self = Quantiles::default();
        }
        match other {
            Quantiles::Exact(values) => {
                if let Quantiles::Exact(mine) = self {
                    // what adding them one by one gives while both fit
                    if mine.len() + values.len() <= EXACT_LIMIT {
                        mine.extend_from_slice(values);
                        return;
                    }
                }
                for v in values {
                    self.add(*v);
                }
            }
            Quantiles::Sketch(o) => {
                if let Quantiles::Exact(values) = self {
                    let mut s = new_sketch();
                    for x in values.iter() {
                        s.add(*x);
                    }
                    *self = Quantiles::Sketch(Box::new(s));
                }
                if let Quantiles::Sketch(s) = self {
                    s.merge(o).expect("sketches share one configuration");
                }
            }
            Quantiles::Top(_) => debug_assert!(false, "a merged window is merged into nothing"),
        }
    }

    /// Empty again, keeping the exact list's allocation.
    pub fn clear(&mut self) {
        match self {
            Quantiles::Exact(values) => values.clear(),
            Quantiles::Sketch(_) => *self = Quantiles::default(),
            Quantiles::Top(t) => **t = TopValues::default(),
        }
    }

    /// Becomes the top values `top` (of a window merged from panes).
    pub fn set_top(&mut self, top: TopValues) {
        match self {
            Quantiles::Top(t) => **t = top,
            _ => *self = Quantiles::Top(Box::new(top)),
        }
    }

    /// The length of an exact list; None for a sketch.
    pub fn exact_len(&self) -> Option<usize> {
        match self {
            Quantiles::Exact(values) => Some(values.len()),
            _ => None,
        }
    }

    /// The top values of an exact list; None for a sketch.
    pub fn top(&self) -> Option<TopValues> {
        match self {
            Quantiles::Exact(values) => Some(TopValues::of(values)),
            _ => None,
        }
    }

    /// The q-quantile: exact with linear interpolation between closest ranks
    /// (numpy's default) while exact, else the sketch's estimate. `scratch`
    /// is reused for the selection.
    pub fn quantile(&self, q: f64, scratch: &mut Vec<f64>) -> Option<f64> {
        match self {
            Quantiles::Exact(values) => {
                if values.is_empty() {
                    return None;
                }
                let n = values.len();
                Some(interpolate(
                    n,
                    q,
                    closest_ranks(values, rank_below(n, q), scratch),
                ))
            }
            Quantiles::Sketch(s) => s.quantile(q).ok().flatten(),
            Quantiles::Top(t) => {
                if t.n == 0 {
                    return None;
                }
                // the ranks closest_ranks's first case finds, from the same keys
                let above = t.n - rank_below(t.n, q);
                debug_assert!(above <= t.len, "the caller checked `holds`");
                let at = t.len.checked_sub(above)?;
                let at_lo = from_order_key(t.keys[at]);
                let at_hi = if above > 1 {
                    from_order_key(t.keys[at + 1])
                } else {
                    at_lo
                };
                Some(interpolate(t.n, q, (at_lo, at_hi)))
            }
        }
    }
}

/// Ranks this near either end are found in one pass over the values,
/// keeping the few largest (or smallest) in order, without a copy.
const TAIL_RANKS: usize = 8;

/// The `lo`-th smallest of `values` (from 0, in `f64::total_cmp` order)
/// and the next one above it (itself when it is the largest): the two
/// closest ranks of a quantile. Near either end (p95 of a few dozen values,
/// the usual case) one pass keeps the few values beyond the rank; else a
/// selection on a copy in `scratch`. Values equal in that order are the
/// same bits, so every way gives the same pair.
fn closest_ranks(values: &[f64], lo: usize, scratch: &mut Vec<f64>) -> (f64, f64) {
    let n = values.len();
    let above = n - lo; // values at rank lo or higher
    if above <= TAIL_RANKS {
        let top = extreme_keys(values, above, order_key);
        let at_lo = from_order_key(top[0]);
        return (
            at_lo,
            if above > 1 {
                from_order_key(top[1])
            } else {
                at_lo
            },
        );
    }
    if lo + 2 <= TAIL_RANKS {
        // the lo + 2 smallest (or all), largest first, by the reversed key
        let kept = (lo + 2).min(n);
        let low = extreme_keys(values, kept, |v| !order_key(v));
        return if kept > lo + 1 {
            (from_order_key(!low[1]), from_order_key(!low[0]))
        } else {
            let at_lo = from_order_key(!low[0]);
            (at_lo, at_lo)
        };
    }
    scratch.clear();
    scratch.extend_from_slice(values);
    let (_, &mut at_lo, rest) = scratch.select_nth_unstable_by(lo, f64::total_cmp);
    let at_hi = rest.iter().copied().min_by(f64::total_cmp).unwrap_or(at_lo);
    (at_lo, at_hi)
}

/// `f64::total_cmp`'s order as an integer order.
#[inline]
fn order_key(v: f64) -> i64 {
    let bits = v.to_bits() as i64;
    bits ^ (((bits >> 63) as u64) >> 1) as i64
}

#[inline]
fn from_order_key(k: i64) -> f64 {
    f64::from_bits((k ^ (((k >> 63) as u64) >> 1) as i64) as u64)
}

/// The `m` largest keys of `values` (1 <= m <= TAIL_RANKS, m <= its
/// length), ascending in `kept[..m]`.
#[inline]
fn extreme_keys(values: &[f64], m: usize, key: impl Fn(f64) -> i64) -> [i64; TAIL_RANKS] {
    let mut kept = [0i64; TAIL_RANKS];
    let mut len = 0;
    for &v in values {
        keep_largest(&mut kept, &mut len, m, key(v));
    }
    kept
}

/// Puts `k` among the `len` keys kept ascending in `kept[..len]`, at most
/// `cap` of them: while full, the smallest goes for a larger key, and a key
/// no larger than the smallest is not kept (false).
#[inline(always)]
fn keep_largest(kept: &mut [i64; TAIL_RANKS], len: &mut usize, cap: usize, k: i64) -> bool {
    if *len < cap {
        let mut j = *len;
        while j > 0 && kept[j - 1] > k {
            kept[j] = kept[j - 1];
            j -= 1;
        }
        kept[j] = k;
        *len += 1;
        true
    } else if k > kept[0] {
        // the smallest kept goes: k moves down to its place
        let mut j = 0;
        while j + 1 < cap && kept[j + 1] < k {
            kept[j] = kept[j + 1];
            j += 1;
        }
        kept[j] = k;
        true
    } else {
        false
    }
}

/// Distinct values, by 64-bit hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Distinct {
    Exact(Vec<u64>),
    Hll(Box<Hll>),
}

impl Default for Distinct {
    fn default() -> Self {
        Distinct::Exact(Vec::new())
    }
}

impl Distinct {
    #[inline]
    pub fn add(&mut self, hash: u64) {
        match self {
            Distinct::Exact(set) => {
                if set.contains(&hash) {
                    return;
                }
                if set.len() < EXACT_LIMIT {
                    set.push(hash);
                } else {
                    let mut h = Hll::new();
                    for x in set.iter() {
                        h.add(*x);
                    }
                    h.add(hash);
                    *self = Distinct::Hll(Box::new(h));
                }
            }
            Distinct::Hll(h) => h.add(hash),
        }
    }

    pub fn merge(&mut self, other: &Distinct) {
        match other {
            Distinct::Exact(set) => {
                for x in set {
                    self.add(*x);
                }
            }
            Distinct::Hll(o) => {
                if let Distinct::Exact(set) = self {
                    let mut h = Hll::new();
                    for x in set.iter() {
                        h.add(*x);
                    }
                    *self = Distinct::Hll(Box::new(h));
                }
                if let Distinct::Hll(h) = self {
                    h.merge(o);
                }
            }
        }
    }

    /// Empty again, keeping the exact set's allocation.
    pub fn clear(&mut self) {
        match self {
            Distinct::Exact(set) => set.clear(),
            Distinct::Hll(_) => *self = Distinct::default(),
        }
    }

    pub fn count(&self) -> u64 {
        match self {
            Distinct::Exact(set) => set.len() as u64,
            Distinct::Hll(h) => h.estimate(),
        }
    }
}

/// HyperLogLog over 64-bit hashes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hll {
    registers: Vec<u8>,
}

/// splitmix64's finalizer: spreads the bits of an already-hashed value.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Hll {
    pub fn new() -> Hll {
        Hll {
            registers: vec![0; HLL_M],
        }
    }

    #[inline]
    pub fn add(&mut self, hash: u64) {
        let h = mix(hash);
        let idx = (h >> (64 - HLL_P)) as usize;
        let rest = h << HLL_P;
        let rank = (rest.leading_zeros().min(64 - HLL_P) + 1) as u8;
        if rank > self.registers[idx] {
            self.registers[idx] = rank;
        }
    }

    pub fn merge(&mut self, other: &Hll) {
        for (a, b) in self.registers.iter_mut().zip(&other.registers) {
            *a = (*a).max(*b);
        }
    }

    /// The standard estimator with linear counting for small cardinalities.
    pub fn estimate(&self) -> u64 {
        let m = HLL_M as f64;
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let mut sum = 0.0;
        let mut zeros = 0usize;
        for &r in &self.registers {
            sum += 1.0 / (1u64 << r) as f64;
            if r == 0 {
                zeros += 1;
            }
        }
        let raw = alpha * m * m / sum;
        let est = if raw <= 2.5 * m && zeros > 0 {
            m * (m / zeros as f64).ln()
        } else {
            raw
        };
        est.round() as u64
    }
}

impl Default for Hll {
    fn default() -> Self {
        Hll::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_rng::Rng;

    #[test]
    fn top_values_of_parts_merge_into_those_of_the_union() {
        let mut rng = Rng(0x7095);
        for round in 0..5_000 {
            let parts: Vec<Vec<f64>> = (0..1 + rng.below(6))
                .map(|_| {
                    (0..rng.below(14))
                        .map(|_| match rng.below(8) {
                            0 => -0.0,
                            1 => f64::from_bits(rng.next()).abs().min(1e300),
                            _ => rng.below(20) as f64 - 10.0,
                        })
                        .collect()
                })
                .collect();
            let mut merged = TopValues::default();
            for p in &parts {
                merged.merge(&TopValues::of(p));
            }
            let union: Vec<f64> = parts.concat();
            assert_eq!(merged, TopValues::of(&union), "round {round}: {parts:?}");
            // and where they hold a percentile, it is the exact list's
            for q in [0.5, 0.9, 0.95, 0.99, 1.0] {
                if TopValues::would_hold(merged.count(), q) {
                    let mut top = Quantiles::default();
                    top.set_top(merged);
                    let exact = Quantiles::Exact(union.clone());
                    let mut scratch = Vec::new();
                    let (a, b) = (
                        top.quantile(q, &mut scratch),
                        exact.quantile(q, &mut scratch),
                    );
                    assert_eq!(
                        a.map(f64::to_bits),
                        b.map(f64::to_bits),
                        "round {round}, q {q}"
                    );
                }
            }
        }
    }

    fn exact(sorted: &[f64], q: f64) -> (f64, f64) {
        let h = (sorted.len() - 1) as f64 * q;
        (sorted[h.floor() as usize], sorted[h.ceil() as usize])
    }

    #[test]
    fn exact_quantiles_follow_numpy_linear() {
        let mut q = Quantiles::default();
        for v in [4.0, 1.0, 3.0, 2.0] {
            q.add(v);
        }
        assert_eq!(q.quantile(0.5, &mut Vec::new()), Some(2.5));
        assert_eq!(q.quantile(0.95, &mut Vec::new()), Some(3.8499999999999996)); // numpy.percentile([1,2,3,4], 95)
        assert_eq!(q.quantile(0.0, &mut Vec::new()), Some(1.0));
        assert_eq!(Quantiles::default().quantile(0.5, &mut Vec::new()), None);
    }

    #[test]
    fn closest_ranks_match_a_full_sort_at_every_rank() {
        // few distinct values (ties), both zeros, negatives, NaN with either
        // sign: every rank of every length up to 40, tails and middle alike
        let pool = [
            -0.0,
            0.0,
            1.5,
            -1.5,
            2.0,
            1e300,
            -1e-300,
            f64::NAN,
            -f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::from_bits(u64::MAX),
        ];
        let mut rng = Rng(7);
        let mut scratch = Vec::new();
        for n in 1..=40 {
            for round in 0..30 {
                let values: Vec<f64> = (0..n)
                    .map(|_| match round % 3 {
                        0 => pool[rng.below(pool.len())],
                        1 => rng.below(5) as f64,
                        _ => rng.unit() * 200.0 - 100.0,
                    })
                    .collect();
                let mut sorted = values.clone();
                sorted.sort_by(f64::total_cmp);
                for lo in 0..n {
                    let (a, b) = closest_ranks(&values, lo, &mut scratch);
                    let want = (sorted[lo], sorted[(lo + 1).min(n - 1)]);
                    assert_eq!(
                        (a.to_bits(), b.to_bits()),
                        (want.0.to_bits(), want.1.to_bits()),
                        "n {n}, rank {lo}, {values:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn sketch_within_one_percent_on_100k_values() {
        for (name, gen) in [
            (
                "lognormal-ish",
                Box::new(|r: &mut Rng| (r.unit() * 8.0).exp()) as Box<dyn Fn(&mut Rng) -> f64>,
            ),
            (
                "uniform with negatives",
                Box::new(|r: &mut Rng| r.unit() * 2000.0 - 500.0),
            ),
        ] {
            let mut rng = Rng(42);
            let mut q = Quantiles::default();
            let mut all = Vec::new();
            for _ in 0..100_000 {
                let v = gen(&mut rng);
                q.add(v);
                all.push(v);
            }
            assert!(matches!(q, Quantiles::Sketch(_)));
            all.sort_by(f64::total_cmp);
            for p in [0.5, 0.9, 0.95, 0.99] {
                let got = q.quantile(p, &mut Vec::new()).unwrap();
                let (lo, hi) = exact(&all, p);
                let (lo, hi) = (lo.min(hi), lo.max(hi));
                let ok = got >= lo - lo.abs() * 0.01 && got <= hi + hi.abs() * 0.01;
                assert!(ok, "{name} p{p}: {got} not within 1% of [{lo}, {hi}]");
            }
        }
    }

    #[test]
    fn merging_exact_into_sketch_and_back() {
        let mut a = Quantiles::default();
        let mut b = Quantiles::default();
        for i in 0..600 {
            a.add(i as f64);
            b.add((i + 600) as f64);
        }
        a.merge(&b);
        assert!(
            matches!(a, Quantiles::Sketch(_)),
            "1200 values switch to the sketch"
        );
        let median = a.quantile(0.5, &mut Vec::new()).unwrap();
        assert!((median - 599.5).abs() <= 599.5 * 0.011, "{median}");
    }

    #[test]
    fn distinct_exact_then_within_two_percent() {
        let mut d = Distinct::default();
        for i in 0..1000u64 {
            d.add(crate::plan::hash_bytes(&i.to_le_bytes()));
            d.add(crate::plan::hash_bytes(&i.to_le_bytes()));
        }
        assert_eq!(d.count(), 1000);
        for n in [5_000u64, 100_000, 1_000_000] {
            let mut d = Distinct::default();
            for i in 0..n {
                d.add(crate::plan::hash_bytes(format!("user-{i}").as_bytes()));
            }
            let est = d.count() as f64;
            assert!((est - n as f64).abs() / n as f64 <= 0.02, "n={n} est={est}");
        }
    }

    #[test]
    fn merging_exact_lists_is_adding_their_values_one_by_one() {
        let list = |n: usize, seed: u64| {
            let mut q = Quantiles::default();
            for i in 0..n as u64 {
                q.add(((i * 7919 + seed) % 1013) as f64 / 4.0);
            }
            q
        };
        let sizes = [
            (0, 0),
            (10, 20),
            (500, 500),
            (999, 1),
            (1000, 0),
            (0, 1000),
            (600, 401),
            (1, 1000),
            (1000, 1),
        ];
        for (na, nb) in sizes {
            let (a, b) = (list(na, 3), list(nb, 11));
            let mut merged = a.clone();
            merged.merge(&b);
            let mut added = a.clone();
            if let Quantiles::Exact(values) = &b {
                for v in values {
                    added.add(*v);
                }
            }
            assert_eq!(format!("{merged:?}"), format!("{added:?}"), "{na} + {nb}");
            let mut scratch = Vec::new();
            for q in [0.0, 0.5, 0.95, 1.0] {
                assert_eq!(
                    merged.quantile(q, &mut scratch),
                    added.quantile(q, &mut scratch)
                );
            }
        }
    }

    #[test]
    fn distinct_merge_is_a_union() {
        let mut a = Distinct::default();
        let mut b = Distinct::default();
        for i in 0..3000u64 {
            a.add(crate::plan::hash_bytes(&i.to_le_bytes()));
            b.add(crate::plan::hash_bytes(&(i + 1500).to_le_bytes()));
        }
        a.merge(&b);
        let est = a.count() as f64;
        assert!((est - 4500.0).abs() / 4500.0 <= 0.02, "{est}");
    }
}
