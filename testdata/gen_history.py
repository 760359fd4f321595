#!/usr/bin/env python3
"""Writes the small synthetic series of the README's "Trends, forecasts and
anomalies" recipes (deterministic; run from the repository root):

- testdata/disk.csv: disk use of two hosts every 5 minutes for 12 hours
  from 2026-01-01T00:00:00Z. db-1 fills at 2 points an hour from 70% (full
  at 15:00), with noise; db-2 stays near 41%.
- testdata/latency.csv: request latencies of two web hosts, a request every
  6 s for 2 hours. web-2's latency triples from 01:30 to 01:36.
- testdata/hosts.csv: a lookup table with a CPU threshold per host.
"""
import random
from datetime import datetime, timedelta, timezone

rng = random.Random(15)
start = datetime(2026, 1, 1, tzinfo=timezone.utc)


def stamp(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


with open("testdata/disk.csv", "w") as f:
    f.write("ts,host,mount,used_pct\n")
    for step in range(12 * 12):
        t = start + timedelta(minutes=5 * step)
        hours = step / 12
        db1 = 70 + 2 * hours + rng.uniform(-0.3, 0.3)
        db2 = 41 + rng.uniform(-0.5, 0.5)
        f.write(f"{stamp(t)},db-1,/data,{db1:.2f}\n")
        f.write(f"{stamp(t)},db-2,/data,{db2:.2f}\n")

with open("testdata/latency.csv", "w") as f:
    f.write("ts,host,latency_ms\n")
    for step in range(2 * 3600 // 6):
        t = start + timedelta(seconds=6 * step)
        for host in ("web-1", "web-2"):
            ms = rng.lognormvariate(3.4, 0.35)  # median about 30 ms
            if host == "web-2" and timedelta(hours=1, minutes=30) <= t - start < timedelta(hours=1, minutes=36):
                ms *= 3
            f.write(f"{stamp(t)},{host},{ms:.1f}\n")

with open("testdata/hosts.csv", "w") as f:
    f.write("host,max_cpu,team\n")
    f.write("web-1,90,frontend\n")
    f.write("web-2,95,frontend\n")
    f.write("db-1,60,storage\n")
