#!/usr/bin/env python3
"""Checks that a peer's result agrees with vigil's report.

    check_agree.py VIGIL_REPORT.csv PEER.csv PEER_KIND

vigil's report: window_start,window_end,host,metric,count,sum_value,min_value,
max_value,avg_value,p95_value. Peer CSVs (from peers.py): w,host,metric,count,
sum,min,max,avg,p95 with w in epoch ms; Miller's: w (minute prefix),host,
metric,value_count,value_sum,value_min,value_max,value_mean,value_p95.
count must match exactly; sum/min/max/avg within 1e-9 relative; p95 within 1%
relative (vigil is exact up to 1,000 values per window and key, then a 1%
sketch; Miller's p95 is not interpolated, so it is not compared).
"""
import csv
import sys
from datetime import datetime, timezone


def ms_of(rfc):
    return int(datetime.strptime(rfc, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp() * 1000)


def close(a, b, rel):
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-12)


def main():
    vigil_path, peer_path, kind = sys.argv[1:4]
    mine = {}
    with open(vigil_path) as f:
        for r in csv.DictReader(f):
            mine[(ms_of(r["window_start"]), r["host"], r["metric"])] = (
                int(r["count"]), float(r["sum_value"]), float(r["min_value"]), float(r["max_value"]),
                float(r["avg_value"]), float(r["p95_value"]))
    theirs = {}
    with open(peer_path) as f:
        for r in csv.DictReader(f):
            if kind == "miller":
                w = ms_of(r["w"] + ":00.000Z")
                theirs[(w, r["host"], r["metric"])] = (
                    int(r["value_count"]), float(r["value_sum"]), float(r["value_min"]), float(r["value_max"]),
                    float(r["value_mean"]), None)
            else:
                theirs[(int(float(r["w"])), r["host"], r["metric"])] = (
                    int(r["count"]), float(r["sum"]), float(r["min"]), float(r["max"]), float(r["avg"]), float(r["p95"]))
    problems = []
    if set(mine) != set(theirs):
        problems.append(f"row keys differ: {len(set(mine) - set(theirs))} only in vigil, {len(set(theirs) - set(mine))} only in {kind}")
    worst_p95 = 0.0
    for k in set(mine) & set(theirs):
        a, b = mine[k], theirs[k]
        if a[0] != b[0]:
            problems.append(f"{k}: count {a[0]} vs {b[0]}")
        for i, name in ((1, "sum"), (2, "min"), (3, "max"), (4, "avg")):
            if not close(a[i], b[i], 1e-9):
                problems.append(f"{k}: {name} {a[i]} vs {b[i]}")
        if b[5] is not None:
            err = abs(a[5] - b[5]) / max(abs(b[5]), 1e-12)
            worst_p95 = max(worst_p95, err)
            if err > 0.01:
                problems.append(f"{k}: p95 {a[5]} vs {b[5]}")
        if len(problems) > 5:
            break
    if problems:
        print(f"FAIL {kind}: " + "; ".join(problems[:5]))
        return 1
    print(f"PASS {kind}: {len(mine)} rows agree (worst p95 relative difference {worst_p95:.2e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
