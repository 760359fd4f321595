#!/usr/bin/env python3
"""Deterministic benchmark data: a metrics file `ts,host,metric,value`.

100 hosts x 5 metrics, one record every 6 ms of event time (10M rows span
about 16.7 hours), optional bounded disorder. CSV or JSON lines.

    python3 benches/gen_metrics.py --rows 10000000 --out benches/data/metrics-10m.csv
    python3 benches/gen_metrics.py --rows 10000000 --format jsonl --out benches/data/metrics-10m.jsonl
"""
import argparse
import random

METRICS = ["cpu", "mem", "disk", "net", "load"]
BASE_S = 1767225600  # 2026-01-01T00:00:00Z


def fmt_ts(ms):
    s, milli = divmod(ms - BASE_S * 1000, 1000)
    days, sod = divmod(s, 86400)
    # days since 2026-01-01 stay within January..March for any realistic row count
    month_days = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    m = 0
    while days >= month_days[m]:
        days -= month_days[m]
        m += 1
    return "2026-%02d-%02dT%02d:%02d:%02d.%03dZ" % (m + 1, days + 1, sod // 3600, sod % 3600 // 60, sod % 60, milli)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    ap.add_argument("--out", required=True)
    ap.add_argument("--disorder-ms", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    hosts = ["host-%03d" % i for i in range(100)]
    out = open(a.out, "w", buffering=1 << 20)
    if a.format == "csv":
        out.write("ts,host,metric,value\n")
    batch = []
    for i in range(a.rows):
        ms = BASE_S * 1000 + i * 6
        if a.disorder_ms:
            ms -= rng.randrange(a.disorder_ms)
        key = rng.randrange(500)
        host, metric = hosts[key // 5], METRICS[key % 5]
        value = "%.2f" % (rng.random() * 100)
        if a.format == "csv":
            batch.append("%s,%s,%s,%s\n" % (fmt_ts(ms), host, metric, value))
        else:
            batch.append('{"ts":"%s","host":"%s","metric":"%s","value":%s}\n' % (fmt_ts(ms), host, metric, value))
        if len(batch) >= 100_000:
            out.write("".join(batch))
            batch.clear()
    out.write("".join(batch))
    out.close()


if __name__ == "__main__":
    main()
