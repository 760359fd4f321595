//! The exact sums behind sum/avg/rate/var/stddev, checked against Python:
//! `math.fsum` (correctly rounded sums) and `fractions.Fraction` (the exact
//! variance numerator), on random series mixing everyday decimals, huge and
//! tiny magnitudes and cancelling values; and merge order independence.

use std::io::Write;
use std::process::{Command, Stdio};

use vigil::agg::exact::{add_square, sample_variance, ExactSum};

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn value(rng: &mut Rng, squarable: bool) -> f64 {
    let kind = rng.below(6);
    let v = match kind {
        0 => (rng.below(1_000_000) as f64) / 100.0,
        1 => (rng.below(1 << 53) as f64) * 2f64.powi(rng.below(120) as i32 - 60),
        2 => f64::from_bits(rng.next() & !(0x7ffu64 << 52) | ((900 + rng.below(240)) << 52)),
        3 if !squarable => f64::from_bits(rng.next() & 0x000f_ffff_ffff_ffff), // subnormal
        3 => 1e-100 * (1.0 + rng.below(1000) as f64),
        4 if !squarable => f64::from_bits((rng.below(2000) + 20) << 52 | rng.below(1 << 52)),
        4 => 1e140 * (rng.below(1000) as f64),
        _ => -((rng.below(10_000) as f64) / 7.0),
    };
    if rng.below(2) == 0 {
        -v
    } else {
        v
    }
}

const PYTHON: &str = r#"
import sys, math, struct
from fractions import Fraction
def f(b): return struct.unpack('<d', int(b).to_bytes(8, 'little'))[0]
def bits(x): return int.from_bytes(struct.pack('<d', x), 'little')
for line in sys.stdin:
    kind, *vals = line.split()
    xs = [f(v) for v in vals]
    if kind == 's':
        print(bits(math.fsum(xs)) if all(math.isfinite(x) for x in xs) and math.isfinite(sum(abs(x) for x in xs)) else 'skip')
    else:
        n = len(xs)
        s1 = sum(Fraction(x) for x in xs)
        s2 = sum(Fraction(x) * Fraction(x) for x in xs)
        num = n * s2 - s1 * s1
        print(bits(max(float(num) / float(n * (n - 1)), 0.0)))
"#;

fn python(input: &str) -> Vec<String> {
    let mut child = Command::new("python3")
        .args(["-c", PYTHON])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs (it is on every CI machine)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn sums_and_variances_match_exact_rational_arithmetic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut input = String::new();
    let mut ours = Vec::new();
    for case in 0..600 {
        let squarable = case % 2 == 1;
        let n = 1 + rng.below(if case % 10 == 0 { 2000 } else { 60 }) as usize;
        let xs: Vec<f64> = (0..n).map(|_| value(&mut rng, squarable)).collect();
        let mut s1 = ExactSum::default();
        for x in &xs {
            s1.add(*x);
        }
        let line: Vec<String> = xs.iter().map(|x| x.to_bits().to_string()).collect();
        input.push_str(&format!("s {}\n", line.join(" ")));
        ours.push(s1.to_f64().to_bits().to_string());
        if squarable && n >= 2 {
            let mut s2 = ExactSum::default();
            for x in &xs {
                assert!(add_square(&mut s2, *x));
            }
            input.push_str(&format!("v {}\n", line.join(" ")));
            ours.push(sample_variance(&s1, &s2, n as u64).to_bits().to_string());
        }
    }
    let theirs = python(&input);
    assert_eq!(theirs.len(), ours.len());
    let mut compared = 0;
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        if b == "skip" {
            continue;
        }
        compared += 1;
        assert_eq!(
            a,
            b,
            "case line {i}: {}",
            input.lines().nth(i).unwrap_or("")
        );
    }
    assert!(compared > 700, "only {compared} comparisons");
}

#[test]
fn any_grouping_of_partial_sums_gives_the_same_bits() {
    let mut rng = Rng(42);
    for _ in 0..200 {
        let n = 1 + rng.below(300) as usize;
        let xs: Vec<f64> = (0..n).map(|_| value(&mut rng, false)).collect();
        let mut whole = ExactSum::default();
        xs.iter().for_each(|x| whole.add(*x));
        // random cuts into partials, merged in a random order
        let mut parts: Vec<ExactSum> = Vec::new();
        let mut cur = ExactSum::default();
        for x in &xs {
            cur.add(*x);
            if rng.below(7) == 0 {
                parts.push(std::mem::take(&mut cur));
            }
        }
        parts.push(cur);
        while parts.len() > 1 {
            let i = rng.below(parts.len() as u64) as usize;
            let p = parts.swap_remove(i);
            let j = rng.below(parts.len() as u64) as usize;
            parts[j].merge(&p);
        }
        assert_eq!(whole.to_f64().to_bits(), parts[0].to_f64().to_bits());
    }
}
