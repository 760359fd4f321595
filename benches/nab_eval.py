#!/usr/bin/env python3
"""Scores vigil alert rules against NAB's labelled anomaly windows.

    python3 benches/nab_eval.py [CSV] [--vigil PATH] [--labels DIR] [--events]

CSV defaults to ../shared/data/nab/realKnownCause/machine_temperature_system_failure.csv
relative to the repository; the labels are read from the `labels/` directory next
to the file's category directory (override with --labels). Python stdlib only.

Each candidate rule runs through `vigil run` as a user would run it (one run per
candidate, alerts written as CSV). A labelled window counts as caught when a
`firing` event falls inside it (NAB windows are inclusive at both ends). For a
caught window the table gives the first firing's lead over the labelled
anomaly timestamp (positive: before it) and its delay after the window start.
A false alert is a `firing` event outside every window ("early": how many of
those came in the 12 hours before a window start). Alert times are window
ends, the moment vigil could have sent them.
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from datetime import datetime, timezone

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CSV = os.path.join(REPO, "..", "shared", "data", "nab", "realKnownCause",
                           "machine_temperature_system_failure.csv")
TIME_FLAGS = ["--time", "timestamp", "--time-format", "%Y-%m-%d %H:%M:%S",
              # the file steps back an hour once (2014-01-07 02:55 -> 02:00)
              "--max-delay", "1h"]

# (label, window flags, rule). The rule's name is the label's first word.
CANDIDATES = [
    ("A robust_z 1h/1d", ["--window", "1h"],
     "robust_z(avg(value), 1d) < -3.5 for 2"),
    ("B zscore 6h/7d", ["--window", "6h", "--slide", "1h"],
     "zscore(avg(value), 7d) < -2.5 for 2"),
    ("C robust_z 12h/7d", ["--window", "12h", "--slide", "1h"],
     "robust_z(avg(value), 7d) < -3.5 for 6"),
    ("D deriv 12h", ["--window", "1h"],
     "deriv(avg(value), 12h) * 3600 < -2 for 3"),
    ("E predict_linear 12h", ["--window", "1h"],
     "predict_linear(avg(value), 12h, 12h) < 50 for 6"),
]

def parse_label_time(s):
    s = s.split(".")[0]
    return datetime.strptime(s, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)


def parse_event_time(s):
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def hours(td):
    return td.total_seconds() / 3600


def load_labels(csv_path, labels_dir):
    path = os.path.abspath(csv_path)
    key = os.path.basename(os.path.dirname(path)) + "/" + os.path.basename(path)
    if labels_dir is None:
        labels_dir = os.path.join(os.path.dirname(os.path.dirname(path)), "labels")
    with open(os.path.join(labels_dir, "combined_windows.json")) as f:
        windows = json.load(f)[key]
    with open(os.path.join(labels_dir, "combined_labels.json")) as f:
        points = json.load(f)[key]
    windows = [(parse_label_time(a), parse_label_time(b)) for a, b in windows]
    points = [parse_label_time(p) for p in points]
    out = []
    for start, end in windows:
        inside = [p for p in points if start <= p <= end]
        out.append((start, end, inside[0] if inside else None))
    return out


def run_vigil(vigil, csv_path, window_flags, rule, tmp):
    alerts = os.path.join(tmp, "alerts.csv")
    cmd = [vigil, "run", csv_path, *TIME_FLAGS, *window_flags,
           "--alert", rule, "--alerts", alerts, "-o", os.devnull, "-q"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode not in (0, 3):
        sys.exit("nab_eval: vigil failed (%d): %s\n%s" % (res.returncode, " ".join(cmd), res.stderr))
    with open(alerts) as f:
        rows = list(csv.DictReader(f))
    return cmd, [parse_event_time(r["time"]) for r in rows if r["state"] == "firing"]


EARLY_HOURS = 12


def score(firings, windows):
    """First firing in each window, the firings outside every window, and how
    many of those came within EARLY_HOURS before a window's start."""
    per_window = []
    false = early = 0
    for t in firings:
        if not any(s <= t <= e for s, e, _ in windows):
            false += 1
            if any(0 < hours(s - t) <= EARLY_HOURS for s, _, _ in windows):
                early += 1
    for s, e, label in windows:
        inside = [t for t in firings if s <= t <= e]
        per_window.append(min(inside) if inside else None)
    return per_window, false, early


def fmt_lead(first, start, label):
    if first is None:
        return "missed"
    lead = "%+.1fh" % hours(label - first) if label else "?"
    return "%s (%s, +%.1fh)" % (first.strftime("%m-%d %H:%M"), lead, hours(first - start))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv", nargs="?", default=DEFAULT_CSV)
    ap.add_argument("--vigil", default=os.path.join(REPO, "target", "release", "vigil"))
    ap.add_argument("--labels", help="directory with combined_windows.json and combined_labels.json")
    ap.add_argument("--events", action="store_true", help="also list every firing time")
    a = ap.parse_args()
    if not os.path.exists(a.csv):
        sys.exit("nab_eval: %s not found (give the NAB CSV as the argument)" % a.csv)
    windows = load_labels(a.csv, a.labels)
    print("labelled windows (start .. end, anomaly):")
    for i, (s, e, label) in enumerate(windows, 1):
        print("  W%d %s .. %s, %s" % (i, s.strftime("%Y-%m-%d %H:%M"), e.strftime("%Y-%m-%d %H:%M"),
                                      label.strftime("%Y-%m-%d %H:%M") if label else "?"))
    print()
    head = ["candidate", "rule", "caught", "false (early)"] + ["W%d first (lead, after start)" % i
                                                       for i in range(1, len(windows) + 1)]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    with tempfile.TemporaryDirectory() as tmp:
        for label, window_flags, rule in CANDIDATES:
            name = label.split()[0]
            cmd, firings = run_vigil(a.vigil, a.csv, window_flags, name + ": " + rule, tmp)
            per_window, false, early = score(firings, windows)
            caught = sum(1 for f in per_window if f is not None)
            cells = [label, "`%s %s`" % (" ".join(window_flags), rule), "%d/%d" % (caught, len(windows)),
                     "%d (%d)" % (false, early)] + [fmt_lead(f, s, lab) for f, (s, _, lab) in zip(per_window, windows)]
            print("| " + " | ".join(cells) + " |")
            if a.events:
                print("    firings: " + ", ".join(t.strftime("%m-%d %H:%M") for t in firings))
    print()
    print("lead: labelled anomaly time minus first firing (positive = before it);")
    print("after start: first firing minus window start; false: firings outside every window,")
    print("(early): how many of those came in the %dh before a window's start" % EARLY_HOURS)


if __name__ == "__main__":
    main()
