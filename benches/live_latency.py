#!/usr/bin/env python3
"""Live latency: how long after the record that moves the watermark past a
window's end does that window's row appear on vigil's stdout (stdin input)?

    python3 benches/live_latency.py [VIGIL_BINARY] [--windows 300]

Prints p50, p99 and max in milliseconds.
"""
import argparse
import subprocess
import time

BASE_MS = 1767225600000


def ts(ms):
    s, milli = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + ".%03dZ" % milli


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("vigil", nargs="?", default="target/release/vigil")
    ap.add_argument("--windows", type=int, default=300)
    a = ap.parse_args()
    p = subprocess.Popen(
        [a.vigil, "run", "-", "--time", "ts", "--key", "host", "--window", "1s", "--agg", "count()", "-q"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    p.stdin.write(b"ts,host\n")
    lat = []
    for k in range(a.windows):
        body = "".join("%s,h\n" % ts(BASE_MS + k * 1000 + j * 100) for j in range(1, 9))
        p.stdin.write(body.encode())
        closer = "%s,h\n" % ts(BASE_MS + (k + 1) * 1000)
        t0 = time.perf_counter()
        p.stdin.write(closer.encode())
        row = p.stdout.readline()
        if k == 0:
            assert row.startswith(b"window_start"), row  # the header comes with the first row
            row = p.stdout.readline()
        lat.append((time.perf_counter() - t0) * 1000)
        assert row.endswith(b",h,%d\n" % (9 if k else 8)), row
        time.sleep(0.002)
    p.stdin.close()
    p.wait()
    lat.sort()
    print("windows=%d p50=%.2fms p99=%.2fms max=%.2fms" % (len(lat), lat[len(lat) // 2], lat[int(len(lat) * 0.99)], lat[-1]))


if __name__ == "__main__":
    main()
