//! Exact sums of f64 values: the sum is kept as a fixed-point integer wide
//! enough to hold every input bit, so adding and merging are exact and
//! associative. The result (rounded once, to nearest, ties to even) therefore
//! does not depend on the order records arrive in, on how a batch is cut
//! into pieces, on the thread count or on a checkpoint in between: partial
//! aggregates can be combined in any order with byte-identical output.
//!
//! Two representations: a 256-bit integer scaled by 2^-128 holds every value
//! from about 1e-23 to 1e21 (all practical metric values) and is a few integer
//! adds per value; anything outside switches the sum to a 2176-bit integer
//! scaled by 2^-1074, which holds every finite f64 exactly. The sample
//! variance is computed from the exact sums of values and of their squares
//! (each square split exactly into two f64 with a fused multiply-add), with
//! one rounding of the exact numerator `n*S2 - S1^2`.

use serde::{Deserialize, Serialize};

/// Scale of the narrow form: the value is `N * 2^-NARROW_SCALE`.
const NARROW_SCALE: i32 = 128;
/// Largest shift of a 53-bit mantissa kept narrow: values stay below 2^200,
/// so 2^54 of them cannot overflow 256 signed bits.
const NARROW_MAX_SHIFT: i32 = 147;
/// Scale of the wide form: every finite f64 is an integer multiple of 2^-1074.
const WIDE_SCALE: i32 = 1074;
/// Words of the wide form: 2098 bits for the largest f64 times 2^-1074, 64
/// bits of headroom for the count, a sign bit; rounded up to whole words.
const WIDE_WORDS: usize = 34;

/// An exact sum of f64 values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExactSum {
    /// 256-bit two's complement, scaled by 2^-128: (low 128 bits, high 128 bits).
    Narrow(u128, u128),
    /// 2176-bit two's complement, scaled by 2^-1074, little-endian words.
    Wide(Box<[u64]>),
}

impl Default for ExactSum {
    fn default() -> Self {
        ExactSum::Narrow(0, 0)
    }
}

/// `v` as (negative, mantissa, exponent of its lowest bit): v = ±m * 2^e.
#[inline]
fn split(v: f64) -> (bool, u64, i32) {
    let bits = v.to_bits();
    let neg = bits >> 63 == 1;
    let exp = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1 << 52) - 1);
    if exp == 0 {
        (neg, frac, -1074)
    } else {
        (neg, frac | (1 << 52), exp - 1075)
    }
}

/// Adds (or subtracts) `m << shift` into the little-endian two's complement `words`.
fn add_shifted(words: &mut [u64], m: u64, shift: usize, negative: bool) {
    let idx = shift / 64;
    let chunk = (m as u128) << (shift % 64);
    let parts = [chunk as u64, (chunk >> 64) as u64];
    let mut carry = false;
    for (i, w) in words.iter_mut().enumerate().skip(idx) {
        let part = parts.get(i - idx).copied().unwrap_or(0);
        if negative {
            let (d, b1) = w.overflowing_sub(part);
            let (d, b2) = d.overflowing_sub(carry as u64);
            *w = d;
            carry = b1 || b2;
        } else {
            let (s, c1) = w.overflowing_add(part);
            let (s, c2) = s.overflowing_add(carry as u64);
            *w = s;
            carry = c1 || c2;
        }
        if !carry && i > idx {
            break;
        }
    }
}

/// Adds the two's complement `other` into `words` (same length).
fn add_words(words: &mut [u64], other: &[u64]) {
    let mut carry = false;
    for (w, o) in words.iter_mut().zip(other) {
        let (s, c1) = w.overflowing_add(*o);
        let (s, c2) = s.overflowing_add(carry as u64);
        *w = s;
        carry = c1 || c2;
    }
}

fn negate(words: &mut [u64]) {
    let mut carry = true;
    for w in words.iter_mut() {
        let (s, c) = (!*w).overflowing_add(carry as u64);
        *w = s;
        carry = c;
    }
}

fn is_negative(words: &[u64]) -> bool {
    words.last().is_some_and(|w| w >> 63 == 1)
}

/// Narrow (lo, hi) as four little-endian words.
fn narrow_words(lo: u128, hi: u128) -> [u64; 4] {
    [lo as u64, (lo >> 64) as u64, hi as u64, (hi >> 64) as u64]
}

/// The narrow value, rescaled into the wide form.
fn widen(lo: u128, hi: u128) -> Box<[u64]> {
    let mut wide = vec![0u64; WIDE_WORDS].into_boxed_slice();
    let src = narrow_words(lo, hi);
    let fill = if src[3] >> 63 == 1 { u64::MAX } else { 0 };
    let shift = (WIDE_SCALE - NARROW_SCALE) as usize;
    let (ws, bs) = (shift / 64, shift % 64);
    for (i, w) in wide.iter_mut().enumerate() {
        // bits of the sign-extended source that land in word i
        let word = |j: isize| -> u64 {
            if j < 0 {
                0
            } else {
                src.get(j as usize).copied().unwrap_or(fill)
            }
        };
        let j = i as isize - ws as isize;
        *w = if bs == 0 {
            word(j)
        } else {
            (word(j) << bs) | (word(j - 1) >> (64 - bs))
        };
    }
    wide
}

impl ExactSum {
    /// Adds one finite value. Inlined into the per-record update (a call
    /// and its frame were a fifth of its instructions).
    #[inline(always)]
    pub fn add(&mut self, v: f64) {
        if v == 0.0 {
            return;
        }
        let (neg, mut m, e) = split(v);
        if let ExactSum::Narrow(lo, hi) = self {
            let mut shift = e + NARROW_SCALE;
            if shift < 0 && (m.trailing_zeros() as i32) >= -shift {
                m >>= -shift;
                shift = 0;
            }
            if (0..=NARROW_MAX_SHIFT).contains(&shift) {
                let s = shift as u32;
                let m = m as u128;
                let (xlo, xhi) = if s < 128 {
                    (m << s, if s == 0 { 0 } else { m >> (128 - s) })
                } else {
                    (0, m << (s - 128))
                };
                if neg {
                    let (l, b) = lo.overflowing_sub(xlo);
                    *lo = l;
                    *hi = hi.wrapping_sub(xhi).wrapping_sub(b as u128);
                } else {
                    let (l, c) = lo.overflowing_add(xlo);
                    *lo = l;
                    *hi = hi.wrapping_add(xhi).wrapping_add(c as u128);
                }
                return;
            }
        }
        self.add_wide(neg, m, e);
    }

    /// `add` for a value outside the narrow range or a sum already wide:
    /// rare, out of line.
    #[cold]
    #[inline(never)]
    fn add_wide(&mut self, neg: bool, m: u64, e: i32) {
        if let ExactSum::Narrow(lo, hi) = self {
            *self = ExactSum::Wide(widen(*lo, *hi));
        }
        if let ExactSum::Wide(words) = self {
            add_shifted(words, m, (e + WIDE_SCALE) as usize, neg);
        }
    }

    /// Adds another exact sum.
    pub fn merge(&mut self, other: &ExactSum) {
        match (&mut *self, other) {
            (ExactSum::Narrow(lo, hi), ExactSum::Narrow(olo, ohi)) => {
                let (l, c) = lo.overflowing_add(*olo);
                *lo = l;
                *hi = hi.wrapping_add(*ohi).wrapping_add(c as u128);
            }
            (ExactSum::Wide(words), ExactSum::Narrow(olo, ohi)) => {
                add_words(words, &widen(*olo, *ohi));
            }
            (ExactSum::Narrow(lo, hi), ExactSum::Wide(owords)) => {
                let mut words = widen(*lo, *hi);
                add_words(&mut words, owords);
                *self = ExactSum::Wide(words);
            }
            (ExactSum::Wide(words), ExactSum::Wide(owords)) => add_words(words, owords),
        }
    }

    /// The sum rounded to the nearest f64 (ties to even); ±inf beyond f64's range.
    pub fn to_f64(&self) -> f64 {
        match self {
            ExactSum::Narrow(lo, hi) => {
                let mut w = narrow_words(*lo, *hi);
                signed_to_f64(&mut w, NARROW_SCALE)
            }
            ExactSum::Wide(words) => {
                let mut w = words.to_vec();
                signed_to_f64(&mut w, WIDE_SCALE)
            }
        }
    }

    fn is_wide(&self) -> bool {
        matches!(self, ExactSum::Wide(_))
    }

    /// The sum's two's complement words, at the narrow scale or (with `wide`) the wide one.
    fn words_at(&self, wide: bool) -> (Vec<u64>, i32) {
        match self {
            ExactSum::Narrow(lo, hi) if wide => (widen(*lo, *hi).to_vec(), WIDE_SCALE),
            ExactSum::Narrow(lo, hi) => (narrow_words(*lo, *hi).to_vec(), NARROW_SCALE),
            ExactSum::Wide(words) => (words.to_vec(), WIDE_SCALE),
        }
    }
}

/// Rounds the two's complement `words * 2^-scale` to f64 (`words` is clobbered).
fn signed_to_f64(words: &mut [u64], scale: i32) -> f64 {
    let neg = is_negative(words);
    if neg {
        negate(words);
    }
    let mag = magnitude_to_f64(words, scale);
    if neg {
        -mag
    } else {
        mag
    }
}

fn bit(words: &[u64], i: i64) -> bool {
    i >= 0 && (i as usize) < words.len() * 64 && (words[i as usize / 64] >> (i % 64)) & 1 == 1
}

/// Any bit set below index `i`.
fn any_below(words: &[u64], i: i64) -> bool {
    if i <= 0 {
        return false;
    }
    let i = i as usize;
    let full = i / 64;
    if words[..full.min(words.len())].iter().any(|w| *w != 0) {
        return true;
    }
    let rem = i % 64;
    full < words.len() && rem > 0 && words[full] & ((1u64 << rem) - 1) != 0
}

/// Bits `[low, low + 64)` of `words` (low may be negative: zeros shift in).
fn bits_from(words: &[u64], low: i64) -> u64 {
    if low < 0 {
        let s = -low;
        return if s >= 64 { 0 } else { words[0] << s };
    }
    let (w, b) = (low as usize / 64, low as usize % 64);
    let lo = words.get(w).copied().unwrap_or(0) >> b;
    let hi = if b == 0 {
        0
    } else {
        words.get(w + 1).copied().unwrap_or(0) << (64 - b)
    };
    lo | hi
}

/// Rounds the unsigned `words * 2^-scale` to the nearest f64, ties to even.
fn magnitude_to_f64(words: &[u64], scale: i32) -> f64 {
    let Some(top_word) = words.iter().rposition(|w| *w != 0) else {
        return 0.0;
    };
    let p = (top_word * 64 + 63 - words[top_word].leading_zeros() as usize) as i64;
    let scale = scale as i64;
    // Lowest kept bit: 53 significant bits, or fewer where the result is subnormal.
    let low = (p - 52).max(scale - 1074);
    let mut mant = bits_from(words, low) & ((1u64 << 54) - 1);
    let round = bit(words, low - 1);
    let sticky = any_below(words, low - 1);
    if round && (sticky || mant & 1 == 1) {
        mant += 1;
    }
    let mut low = low;
    if mant == 1 << 53 {
        mant >>= 1;
        low += 1;
    }
    let e = low - scale; // exponent of the lowest kept bit
    if mant < 1 << 52 {
        // subnormal (e == -1074), or zero after rounding
        return f64::from_bits(mant);
    }
    let biased = e + 52 + 1023;
    if biased >= 2047 {
        return f64::INFINITY;
    }
    f64::from_bits(((biased as u64) << 52) | (mant - (1 << 52)))
}

/// Multiplies the unsigned `a` by the unsigned `b` into `out` (zeroed, len >= a+b).
fn mul_unsigned(a: &[u64], b: &[u64], out: &mut [u64]) {
    for (i, &x) in a.iter().enumerate() {
        if x == 0 {
            continue;
        }
        let mut carry = 0u128;
        for (j, &y) in b.iter().enumerate() {
            let t = (x as u128) * (y as u128) + out[i + j] as u128 + carry;
            out[i + j] = t as u64;
            carry = t >> 64;
        }
        let mut k = i + b.len();
        while carry != 0 && k < out.len() {
            let t = out[k] as u128 + carry;
            out[k] = t as u64;
            carry = t >> 64;
            k += 1;
        }
    }
}

/// The sample variance `(n*S2 - S1^2) / (n*(n-1))` from the exact sums of the
/// values (`s1`) and of their squares (`s2`), for n >= 2.
pub fn sample_variance(s1: &ExactSum, s2: &ExactSum, n: u64) -> f64 {
    let wide = s1.is_wide() || s2.is_wide();
    let (mut a, scale) = s1.words_at(wide);
    if is_negative(&a) {
        negate(&mut a);
    }
    let (b, _) = s2.words_at(wide);
    // S1^2 at scale 2*scale; n*S2 at scale `scale`, lifted to 2*scale.
    let len = 2 * a.len().max(b.len()) + 2;
    let mut sq = vec![0u64; len];
    mul_unsigned(&a, &a, &mut sq);
    let mut ns2 = vec![0u64; len];
    let mut b_ext = b.clone();
    let neg_b = is_negative(&b_ext);
    if neg_b {
        negate(&mut b_ext);
    }
    mul_unsigned(&b_ext, &[n], &mut ns2);
    shift_left(&mut ns2, scale as usize);
    if neg_b {
        negate(&mut ns2);
    }
    // numerator = n*S2 - S1^2 (both at scale 2*sa), never negative in exact arithmetic
    negate(&mut sq);
    add_words(&mut ns2, &sq);
    let num = signed_to_f64(&mut ns2, 2 * scale);
    let denom = n as f64 * (n - 1) as f64;
    (num / denom).max(0.0)
}

fn shift_left(words: &mut [u64], by: usize) {
    let (ws, bs) = (by / 64, by % 64);
    for i in (0..words.len()).rev() {
        let hi = if i >= ws { words[i - ws] } else { 0 };
        let lo = if i > ws { words[i - ws - 1] } else { 0 };
        words[i] = if bs == 0 {
            hi
        } else {
            (hi << bs) | (lo >> (64 - bs))
        };
    }
}

/// Adds `v * v` to `s2` exactly: the square as `h + l` with `l = fma(v, v, -h)`
/// (exact while `v * v` neither overflows nor underflows, i.e. for |v| between
/// about 1e-145 and 1e154). Returns false when the square overflows f64: the
/// variance is then infinite for all practical purposes.
#[inline]
pub fn add_square(s2: &mut ExactSum, v: f64) -> bool {
    let h = v * v;
    if !h.is_finite() {
        return false;
    }
    s2.add(h);
    s2.add(v.mul_add(v, -h));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum_of(values: &[f64]) -> f64 {
        let mut s = ExactSum::default();
        for v in values {
            s.add(*v);
        }
        s.to_f64()
    }

    #[test]
    fn small_sums_are_exact() {
        assert_eq!(sum_of(&[]), 0.0);
        assert_eq!(sum_of(&[1.0, 2.0, 3.5]), 6.5);
        assert_eq!(sum_of(&[0.1, 0.2]), 0.30000000000000004);
        assert_eq!(sum_of(&[0.1, 0.2, -0.3]), 2.7755575615628914e-17);
        assert_eq!(sum_of(&[1e20, 1.0, -1e20]), 1.0);
        assert_eq!(sum_of(&[-5.0]), -5.0);
    }

    #[test]
    fn order_and_grouping_do_not_change_the_result() {
        let values: Vec<f64> = (0..2000)
            .map(|i| ((i * 7919 % 1000) as f64) / 100.0 - 3.3)
            .collect();
        let forward = sum_of(&values);
        let mut rev = values.clone();
        rev.reverse();
        assert_eq!(forward.to_bits(), sum_of(&rev).to_bits());
        let mut a = ExactSum::default();
        let mut b = ExactSum::default();
        for (i, v) in values.iter().enumerate() {
            if i % 3 == 0 {
                a.add(*v)
            } else {
                b.add(*v)
            }
        }
        b.merge(&a);
        assert_eq!(forward.to_bits(), b.to_f64().to_bits());
    }

    #[test]
    fn extreme_values_switch_to_the_wide_form_and_stay_exact() {
        let tiny = 5e-324; // smallest subnormal
        assert_eq!(sum_of(&[tiny, tiny]), 1e-323);
        assert_eq!(sum_of(&[1.0, tiny, -1.0]), tiny);
        let big = f64::MAX;
        assert_eq!(sum_of(&[big, -big, 3.0]), 3.0);
        assert_eq!(sum_of(&[big, big]), f64::INFINITY);
        assert_eq!(sum_of(&[-big, -big]), f64::NEG_INFINITY);
        // narrow merged into wide and back again
        let mut a = ExactSum::default();
        a.add(0.5);
        let mut b = ExactSum::default();
        b.add(1e300);
        b.add(-1e300);
        b.merge(&a);
        assert_eq!(b.to_f64(), 0.5);
        let mut c = ExactSum::default();
        c.add(-0.25);
        c.merge(&b);
        assert_eq!(c.to_f64(), 0.25);
    }

    #[test]
    fn rounding_is_to_nearest_even() {
        // 2^53 + 1 is a tie between 2^53 and 2^53 + 2: even wins.
        let two53 = 9007199254740992.0;
        assert_eq!(sum_of(&[two53, 1.0]), two53);
        assert_eq!(sum_of(&[two53, 1.0, 1e-10]), two53 + 2.0);
        assert_eq!(sum_of(&[two53 + 2.0, 1.0]), two53 + 4.0);
    }

    #[test]
    fn variance_of_known_series() {
        let var = |vals: &[f64]| {
            let mut s1 = ExactSum::default();
            let mut s2 = ExactSum::default();
            for v in vals {
                s1.add(*v);
                assert!(add_square(&mut s2, *v));
            }
            sample_variance(&s1, &s2, vals.len() as u64)
        };
        assert_eq!(var(&[1.0, 2.0, 3.0, 4.0]), 1.6666666666666667);
        assert_eq!(var(&[5.0, 5.0, 5.0]), 0.0);
        // a large mean does not cost precision: exact numerator
        assert_eq!(var(&[1e9 + 1.0, 1e9 + 2.0, 1e9 + 3.0]), 1.0);
        assert_eq!(var(&[-2.0, 2.0]), 8.0);
    }
}
