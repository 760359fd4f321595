//! Criterion micro-benchmarks for each stage of the hot path, reporting
//! bytes/s or elements/s: CSV split, time parse, float parse, key hash and
//! routing, window update, percentile sketch. Run: `cargo bench --bench stages`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use vigil::agg::{parse_agg_list, AggPlan, SlotValue};
use vigil::decode::csv::CsvDecoder;
use vigil::decode::{FieldSlots, LineDecoder};
use vigil::job::WindowSpec;
use vigil::time::TimeFormat;
use vigil::window::{Closed, KeyWindows, Layout};

/// 100k lines of the benchmark metrics layout.
fn sample_lines() -> Vec<String> {
    (0..100_000)
        .map(|i| {
            let ms = i * 37;
            format!(
                "2026-01-01T{:02}:{:02}:{:02}.{:03}Z,host-{:03},{},{}.{}",
                ms / 3_600_000 % 24,
                ms / 60_000 % 60,
                ms / 1000 % 60,
                ms % 1000,
                i % 100,
                ["cpu", "mem", "disk", "net", "load"][i as usize % 5],
                i % 97,
                i % 10
            )
        })
        .collect()
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn bench(c: &mut Criterion) {
    let lines = sample_lines();
    let bytes: u64 = lines.iter().map(|l| l.len() as u64 + 1).sum();

    let mut g = c.benchmark_group("stages");
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("csv_split", |b| {
        let header = names(&["ts", "host", "metric", "value"]);
        let mut dec = CsvDecoder::new(&header, &header, b',').unwrap();
        let mut slots = FieldSlots::new(4);
        b.iter(|| {
            for l in &lines {
                slots.clear();
                dec.decode(l.as_bytes(), &mut slots).unwrap();
            }
            black_box(&slots);
        })
    });
    let times: Vec<&[u8]> = lines.iter().map(|l| &l.as_bytes()[..24]).collect();
    g.bench_function("time_parse_rfc3339", |b| {
        let tf = TimeFormat::Auto;
        b.iter(|| {
            let mut acc = 0i64;
            for t in &times {
                acc = acc.wrapping_add(tf.parse(t).unwrap());
            }
            black_box(acc)
        })
    });
    let values: Vec<&[u8]> = lines
        .iter()
        .map(|l| l.as_bytes().rsplit(|b| *b == b',').next().unwrap())
        .collect();
    g.bench_function("float_parse", |b| {
        b.iter(|| {
            let mut acc = 0.0;
            for v in &values {
                acc += vigil::plan::parse_number(v).unwrap();
            }
            black_box(acc)
        })
    });
    let keys: Vec<Vec<u8>> = lines
        .iter()
        .map(|l| {
            let mut k = Vec::new();
            for f in l.split(',').skip(1).take(2) {
                vigil::plan::push_key_field(&mut k, f.as_bytes());
            }
            k
        })
        .collect();
    g.bench_function("key_hash_route", |b| {
        b.iter(|| {
            let mut counts = [0u32; 8];
            for k in &keys {
                let h = vigil::plan::hash_bytes(k);
                counts[((h >> 40) as usize) % 8] += 1;
            }
            black_box(counts)
        })
    });
    g.finish();

    let mut g = c.benchmark_group("window");
    g.throughput(Throughput::Elements(100_000));
    let specs =
        parse_agg_list("count(), sum(value), min(value), max(value), avg(value), p95(value)")
            .unwrap();
    let plan = AggPlan::new(&specs);
    for (name, spec) in [
        ("tumbling_update", WindowSpec::Tumbling { size: 60_000 }),
        (
            "sliding_update",
            WindowSpec::Sliding {
                size: 300_000,
                slide: 60_000,
            },
        ),
    ] {
        g.bench_function(name, |b| {
            let layout = Layout::new(spec);
            b.iter(|| {
                let mut w = KeyWindows::new(&layout);
                let mut scratch = None;
                let mut rows = 0u64;
                for i in 0..100_000i64 {
                    let t = i * 37;
                    let v = [SlotValue::Num((i % 97) as f64)];
                    w.add(
                        &layout,
                        &plan,
                        t,
                        i as u64,
                        &v,
                        t - 1,
                        &mut |_c: Closed<'_>| rows += 1,
                    );
                    if i % 1000 == 0 {
                        w.close(
                            &layout,
                            &plan,
                            t - 1,
                            &mut scratch,
                            &mut |_c: Closed<'_>| rows += 1,
                        );
                    }
                }
                black_box(rows)
            })
        });
    }
    // A window's percentile from its exact values: 20 a key and minute in
    // the benchmark data (tumbling), 100 once five panes are merged (sliding 5m/1m).
    let p95 = AggPlan::new(&parse_agg_list("p95(value)").unwrap());
    for n in [20u64, 100] {
        let plan = &p95;
        let states: Vec<_> = (0..1000u64)
            .map(|w| {
                let mut state = plan.new_state();
                for i in 0..n {
                    let x = (w * 7919 + i * 104_729) % 10_007;
                    plan.update(&mut state, i as i64, i, &[SlotValue::Num(x as f64 * 0.25)]);
                }
                state
            })
            .collect();
        g.bench_function(format!("p95_finish_{n}_values_x1000"), |b| {
            let mut out = Vec::new();
            b.iter(|| {
                for state in &states {
                    out.clear();
                    plan.finish(state, 60_000, &mut out);
                }
                black_box(out.len())
            })
        });
    }
    g.bench_function("p95_sketch_10k_per_window", |b| {
        let plan = &p95;
        b.iter(|| {
            let mut state = plan.new_state();
            for i in 0..100_000u64 {
                let v = [SlotValue::Num(((i * 7919) % 10_007) as f64 + 0.5)];
                plan.update(&mut state, i as i64, i, &v);
            }
            let mut out = Vec::new();
            plan.finish(&state, 60_000, &mut out);
            black_box(out)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
