#!/usr/bin/env bash
# What a history column costs: the 10M-row benchmark job of benches/compare.sh
# (csv, tumbling 1m, key host,metric, six aggregates) with and without the
# report column `predict_linear(avg(value), 1h, 30m)`, interleaved in one run.
# Prints every run (wall, user, sys, peak RSS, load average before it) and the
# medians and their ratios. The report without the column must equal the
# report with it minus its last column.
#
#   bash benches/history_cost.sh                 # 10M rows, 3 runs each
#   ROWS=1000000 RUNS=5 bash benches/history_cost.sh
#
# Knobs: ROWS (10000000), RUNS (3), THREADS (all cores), COLUMN (the extra
# --agg term), VIGIL=path (skip the build).
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=${ROWS:-10000000}
RUNS=${RUNS:-3}
THREADS=${THREADS:-$(nproc)}
COLUMN=${COLUMN:-'predict_linear(avg(value), 1h, 30m)'}
DATA=benches/data
OUT=$DATA/out-history
mkdir -p "$DATA" "$OUT"

if [ -z "${VIGIL:-}" ]; then
  nice -n 10 cargo build --release --quiet
  VIGIL=target/release/vigil
fi
if [ ! -x /usr/bin/time ]; then
  echo "history_cost.sh: GNU time (/usr/bin/time) is needed (apt-get install time)" >&2
  exit 1
fi
CSV=$DATA/metrics-$ROWS.csv
[ -s "$CSV" ] || python3 benches/gen_metrics.py --rows "$ROWS" --out "$CSV"
cat "$CSV" > /dev/null # warm the page cache

AGGS='count(), sum(value), min(value), max(value), avg(value), p95(value)'
# one LABEL AGGS: appends "label wall user sys rss_kb load1" to the results
one() {
  local label=$1 aggs=$2 load
  load=$(cut -d' ' -f1 /proc/loadavg)
  /usr/bin/time -f '%e %U %S %M' -o "$OUT/time.txt" "$VIGIL" run "$CSV" --time ts --key host,metric \
    --window 1m --agg "$aggs" -o "$OUT/report-$label.csv" --threads "$THREADS" -q 2>"$OUT/stderr.txt" \
    || { cat "$OUT/stderr.txt" >&2; echo "history_cost.sh: $label run failed" >&2; exit 1; }
  echo "$label $(tail -1 "$OUT/time.txt") $load" | tee -a "$OUT/results.txt"
}
rm -f "$OUT/results.txt"
echo "label wall user sys rss_kb load1"
for i in $(seq "$RUNS"); do
  # alternate the order so that neither run always goes first
  if [ $((i % 2)) = 1 ]; then one plain "$AGGS"; one column "$AGGS, $COLUMN"
  else one column "$AGGS, $COLUMN"; one plain "$AGGS"; fi
done
cut -d, -f1-10 "$OUT/report-column.csv" | cmp -s - "$OUT/report-plain.csv" \
  || { echo "history_cost.sh: the column changed the other columns" >&2; exit 1; }

rows=$(($(wc -l < "$OUT/report-plain.csv") - 1))
echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%Y-%m-%d); threads=$THREADS; $RUNS runs each, interleaved"
echo "data: $CSV ($(stat -c %s "$CSV") bytes); report rows: $rows; column: $COLUMN"
echo
awk -v col="$COLUMN" '
  function median(a, n,   i, j, t) {
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  { if ($1 == "plain") { pt[++np] = $2; pc[np] = $3 + $4; pr[np] = $5; pl[np] = $6 }
    else { ct[++nc] = $2; cc[nc] = $3 + $4; cr[nc] = $5; cl[nc] = $6 } }
  END {
    mpt = median(pt, np); mct = median(ct, nc); mpc = median(pc, np); mcc = median(cc, nc)
    mpr = median(pr, np); mcr = median(cr, nc)
    print "| run | wall s | CPU s (user+sys) | peak RSS MB | load avg (1 min) |"
    print "|---|---|---|---|---|"
    printf "| without the column | %.2f | %.2f | %.1f | %.2f |\n", mpt, mpc, mpr / 1024, median(pl, np)
    printf "| with `%s` | %.2f | %.2f | %.1f | %.2f |\n", col, mct, mcc, mcr / 1024, median(cl, nc)
    printf "| ratio | %.3f | %.3f | %.3f | |\n", mct / mpt, mcc / mpc, mcr / mpr
    print ""
    print "(medians; on a busy machine the CPU time is the figure to trust)"
  }' "$OUT/results.txt"
