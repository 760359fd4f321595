#!/usr/bin/env python3
"""Soak test of vigil's TCP input (issue 12, acceptance 3).

1,000 clients at once against one `vigil run tcp://...`:
  - well-behaved clients send a CSV header and their records, then close;
  - garbage clients send an HTTP request or binary bytes instead of a header;
  - endless clients send a header, then one line that never ends;
  - slow clients send their header one byte a second.
When every well-behaved client is done, vigil gets SIGTERM. Checked:
  - vigil exits 0 by itself, with its summary line;
  - its report is byte for byte the report of a file run over the
    well-behaved clients' records (the job's --max-delay covers the whole
    time span, so nothing is late and arrival order cannot matter);
  - the garbage clients (and the slow ones, cut off mid-header by the stop)
    are counted as bad_connections, each endless line as one bad record;
  - vigil's peak RSS (VmHWM) stays under --rss-bound-mb.

  python3 benches/soak_tcp.py --vigil target/release/vigil
Data is generated here (deterministic, --seed) in a temporary directory.
"""

import argparse
import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time

JOB = [
    "--time", "ts", "--key", "host", "--window", "1m", "--max-delay", "30m",
    "--agg", "count(), sum(value), min(value), max(value), avg(value), p95(value)",
]
BASE_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
BURSTS = 10
PAUSE_S = 0.6
SPAN_MS = 20 * 60 * 1000


def rfc3339(ms):
    s, milli = divmod(ms, 1000)
    t = time.gmtime(s)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + ".%03dZ" % milli


def good_lines(rng, client, n):
    host = "h%03d" % (client % 97)
    out = []
    for _ in range(n):
        t = BASE_MS + rng.randrange(SPAN_MS)
        out.append("%s,%s,%d.%02d\n" % (rfc3339(t), host, rng.randrange(1000), rng.randrange(100)))
    return out


def vm(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


async def good_client(port, lines, done):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"ts,host,value\n")
    # in bursts with pauses, as a real agent would, over several seconds, so
    # that every client is connected at the same time
    step = max(1, len(lines) // BURSTS)
    for i in range(0, len(lines), step):
        w.write("".join(lines[i:i + step]).encode())
        await w.drain()
        await asyncio.sleep(PAUSE_S)
    w.close()
    await w.wait_closed()
    done.append(1)


async def garbage_client(port, i):
    try:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        if i % 2:
            w.write(b"GET /metrics HTTP/1.1\r\nHost: vigil\r\nUser-Agent: scanner\r\n\r\n")
        else:
            w.write(bytes(random.Random(i).randrange(256) for _ in range(300)) + b"\n")
        await w.drain()
        await r.read()  # vigil closes it
        w.close()
    except (ConnectionError, OSError):
        pass


async def endless_client(port, stop, rate):
    try:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(b"ts,host,value\n")
        block = b"x" * 65536
        per_block = len(block) / rate
        while not stop.is_set():
            w.write(block)
            await w.drain()
            await asyncio.sleep(per_block)
        w.close()
    except (ConnectionError, OSError):
        pass


async def slow_client(port, stop):
    try:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        for b in b"ts,host,value\n":
            if stop.is_set():
                break
            w.write(bytes([b]))
            await w.drain()
            await asyncio.sleep(1.0)
        w.close()
    except (ConnectionError, OSError):
        pass


async def clients(port, plan, stop, done):
    tasks = []
    for role, arg in plan:
        if role == "good":
            tasks.append(asyncio.create_task(good_client(port, arg, done)))
        elif role == "garbage":
            tasks.append(asyncio.create_task(garbage_client(port, arg)))
        elif role == "endless":
            tasks.append(asyncio.create_task(endless_client(port, stop, arg)))
        else:
            tasks.append(asyncio.create_task(slow_client(port, stop)))
        await asyncio.sleep(0.002)  # 1,000 connections over about 2 s
    return tasks


async def main_async(args, port, plan, vigil_pid):
    stop = asyncio.Event()
    done = []
    started = time.time()
    tasks = await clients(port, plan, stop, done)
    goods = sum(1 for r, _ in plan if r == "good")
    peak_open = 0
    while len(done) < goods:
        await asyncio.sleep(0.1)
        peak_open = max(peak_open, vm(vigil_pid, "Threads"))
        if time.time() - started > args.timeout:
            print("soak: well-behaved clients did not finish in time", file=sys.stderr)
            break
    # everything well-behaved arrived: let it be processed, then stop vigil
    await asyncio.sleep(1.0)
    peak_open = max(peak_open, vm(vigil_pid, "Threads"))
    os.kill(vigil_pid, signal.SIGTERM)
    stop.set()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return time.time() - started, peak_open


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vigil", default="target/release/vigil")
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--garbage", type=int, default=100)
    ap.add_argument("--endless", type=int, default=20)
    ap.add_argument("--endless-rate", type=float, default=2e6, help="bytes/s per endless client")
    ap.add_argument("--slow", type=int, default=150)
    ap.add_argument("--records", type=int, default=2000, help="per well-behaved client")
    ap.add_argument("--rss-bound-mb", type=float, default=250)
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--seed", type=int, default=12)
    args = ap.parse_args()
    vigil = os.path.abspath(args.vigil)
    rng = random.Random(args.seed)
    goods = args.clients - args.garbage - args.endless - args.slow
    plan = [("good", good_lines(rng, i, args.records)) for i in range(goods)]
    plan += [("garbage", i) for i in range(args.garbage)]
    plan += [("endless", args.endless_rate) for _ in range(args.endless)]
    plan += [("slow", None) for _ in range(args.slow)]
    random.Random(args.seed + 1).shuffle(plan)

    with tempfile.TemporaryDirectory() as work:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        stderr = open(os.path.join(work, "stderr.txt"), "w")
        proc = subprocess.Popen(
            [vigil, "run", "tcp://127.0.0.1:%d" % port, *JOB, "-o", "tcp-report.csv"],
            cwd=work, stdout=subprocess.DEVNULL, stderr=stderr,
        )
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    print("soak: vigil did not listen", file=sys.stderr)
                    return 1
                time.sleep(0.05)
        elapsed, threads = asyncio.run(main_async(args, port, plan, proc.pid))
        peak_kb = vm(proc.pid, "VmHWM")
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            print("soak: vigil did not end on SIGTERM within 60 s", file=sys.stderr)
            return 1
        stderr.close()
        summary = [l for l in open(os.path.join(work, "stderr.txt")) if l.startswith("vigil: records=")]

        # the same records as one file, one run
        with open(os.path.join(work, "all.csv"), "w") as f:
            f.write("ts,host,value\n")
            for role, lines in plan:
                if role == "good":
                    f.writelines(lines)
        subprocess.run([vigil, "run", "all.csv", *JOB, "-o", "file-report.csv", "-q"], cwd=work, check=True)
        tcp = open(os.path.join(work, "tcp-report.csv"), "rb").read()
        ref = open(os.path.join(work, "file-report.csv"), "rb").read()

        good_records = goods * args.records
        print("soak: %d clients (%d well-behaved x %d records, %d garbage headers, %d endless lines at %.1f MB/s each, %d one byte a second)"
              % (args.clients, goods, args.records, args.garbage, args.endless, args.endless_rate / 1e6, args.slow))
        print("soak: %.1f s until SIGTERM; vigil had at most %d threads (one per open connection); exit %d" % (elapsed, threads, code))
        print("soak: " + (summary[-1].strip() if summary else "no summary line"))
        print("soak: peak RSS %.1f MB (bound %.0f MB)" % (peak_kb / 1024, args.rss_bound_mb))
        ok = True
        if code != 0 or not summary:
            print("soak: FAIL vigil did not end cleanly", file=sys.stderr)
            ok = False
        if tcp != ref:
            print("soak: FAIL the TCP report differs from the file run's (%d vs %d bytes)" % (len(tcp), len(ref)), file=sys.stderr)
            ok = False
        else:
            print("soak: the TCP report equals the file run's report (%d rows, %d records)" % (tcp.count(b"\n") - 1, good_records))
        fields = dict(kv.split("=", 1) for kv in summary[-1].split()[1:] if "=" in kv) if summary else {}
        # the slow clients are cut off mid-header by the stop: refused too
        if fields.get("bad_connections") != str(args.garbage + args.slow):
            print("soak: FAIL bad_connections=%s, expected %d" % (fields.get("bad_connections"), args.garbage + args.slow), file=sys.stderr)
            ok = False
        if fields.get("bad") != str(args.endless):
            print("soak: FAIL bad=%s, expected one per endless line (%d)" % (fields.get("bad"), args.endless), file=sys.stderr)
            ok = False
        if peak_kb / 1024 > args.rss_bound_mb:
            print("soak: FAIL peak RSS above the bound", file=sys.stderr)
            ok = False
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
