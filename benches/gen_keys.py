#!/usr/bin/env python3
"""Deterministic data for the --html benchmark: `ts,host,value` with many
keys over many windows.

Default: WINDOWS one-second windows, PER_WINDOW records in each, keys drawn
with a steep skew (key 0 busiest, as with a few hot hosts among thousands),
so the top keys have a point in most windows and the page must downsample
long series. With --every-key each window has one record of every key
instead (rows = keys x windows, no skew).

    python3 benches/gen_keys.py --keys 5000 --windows 100000 --per-window 20 --out benches/data/keys.csv
    python3 benches/gen_keys.py --keys 5000 --windows 20 --every-key --out benches/data/keys-flat.csv
"""
import argparse
import random

BASE_MS = 1767225600 * 1000  # 2026-01-01T00:00:00Z


def fmt_ts(ms):
    s, milli = divmod(ms - BASE_MS, 1000)
    days, sod = divmod(s, 86400)
    month_days = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    m = 0
    while days >= month_days[m]:
        days -= month_days[m]
        m += 1
    return "2026-%02d-%02dT%02d:%02d:%02d.%03dZ" % (m + 1, days + 1, sod // 3600, sod % 3600 // 60, sod % 60, milli)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=5000)
    ap.add_argument("--windows", type=int, default=100_000)
    ap.add_argument("--per-window", type=int, default=20)
    ap.add_argument("--every-key", action="store_true")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    names = ["k%05d" % i for i in range(a.keys)]
    out = open(a.out, "w", buffering=1 << 20)
    out.write("ts,host,value\n")
    batch = []
    for w in range(a.windows):
        start = BASE_MS + w * 1000
        if a.every_key:
            picks = range(a.keys)
            n = a.keys
        else:
            n = a.per_window
            picks = [int(a.keys * rng.random() ** 3) for _ in range(n)]
        for j, k in enumerate(picks):
            ms = start + j * 1000 // n
            batch.append("%s,%s,%.2f\n" % (fmt_ts(ms), names[k], rng.random() * 100))
        if len(batch) >= 100_000:
            out.write("".join(batch))
            batch.clear()
    out.write("".join(batch))
    out.close()


if __name__ == "__main__":
    main()
