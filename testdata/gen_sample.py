#!/usr/bin/env python3
"""Writes testdata/metrics.csv: a small, deterministic metrics sample.

4 hosts x 2 metrics (cpu, mem), one sample every 10 s for 30 minutes from
2026-01-01T00:00:00Z, a few out-of-order rows, and a CPU spike on web-2
between minutes 12 and 17 so that the sample alert rule fires and resolves.
Run from the repository root: python3 testdata/gen_sample.py
"""
import random
from datetime import datetime, timedelta, timezone

rng = random.Random(7)
start = datetime(2026, 1, 1, tzinfo=timezone.utc)
hosts = ["web-1", "web-2", "db-1", "db-2"]
rows = []
for step in range(180):
    t = start + timedelta(seconds=10 * step)
    for h in hosts:
        minute = step / 6
        cpu = 35 + 10 * rng.random() + (15 if h.startswith("db") else 0)
        if h == "web-2" and 12 <= minute < 17:
            cpu = 92 + 6 * rng.random()
        mem = 60 + 5 * rng.random()
        for metric, value in (("cpu", cpu), ("mem", mem)):
            # a little jitter in arrival order: some rows come up to 2 s late
            jitter = rng.choice([0, 0, 0, 0, 0, 0, 0, 1500])
            rows.append((t, jitter, h, metric, round(value, 2)))
rows.sort(key=lambda r: (r[0] + timedelta(milliseconds=r[1]), r[2], r[3]))
with open("testdata/metrics.csv", "w") as f:
    f.write("ts,host,metric,value\n")
    for t, _, h, metric, value in rows:
        f.write(f"{t.strftime('%Y-%m-%dT%H:%M:%S.000Z')},{h},{metric},{value}\n")
