#!/usr/bin/env python3
"""Shares of CPU samples per engine phase in a `perf record --call-graph dwarf`
profile of vigil, for BENCHMARKS.md's before/after table.

    perf record --call-graph dwarf,16384 -F 1000 -o perf.data vigil run ...
    python3 benches/perf_phases.py perf.data

A sample goes to the first phase (in the order below) whose functions appear
anywhere on its stack: writing and closing run inside the shard workers'
stacks, so they are tested before merge and decode.
"""
import collections
import re
import subprocess
import sys

PHASES = [
    ("write", r"ReportWriter|write_rows|format_row|Output::write|sink::|write_display|AlertWriter"),
    ("close", r"Shard::advance|close_key|emit_window|flush_all"),
    ("merge", r"merge_partial|Pipeline::apply|Shard::apply|merge_pane|apply_records"),
    ("decode", r"parse_piece|fold_piece|for_each_line|Folded::fold|parse_checked|CsvDecoder"),
    ("stamp/route", r"stamp|route|Watermark|place|Pipeline::process"),
]


def main():
    data = sys.argv[1] if len(sys.argv) > 1 else "perf.data"
    script = subprocess.run(
        ["perf", "script", "-i", data, "-F", "comm,tid,ip,sym"],
        capture_output=True, text=True, check=True,
    ).stdout
    rules = [(name, re.compile(rx)) for name, rx in PHASES]
    counts = collections.Counter()
    total = 0
    for block in script.split("\n\n"):
        lines = [l for l in block.strip().split("\n") if l.strip()]
        if not lines:
            continue
        total += 1
        stack = "\n".join(lines[1:])
        phase = next((name for name, rx in rules if rx.search(stack)), "other")
        counts[phase] += 1
    for name, n in counts.most_common():
        print(f"{name:12s} {100 * n / total:5.1f}%")
    print(f"samples      {total}")


if __name__ == "__main__":
    main()
