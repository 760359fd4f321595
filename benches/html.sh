#!/usr/bin/env bash
# What --html costs: the same job with and without --html, interleaved in one
# run on the same machine, on data with many keys over many windows
# (benches/gen_keys.py). Prints the median wall time and peak RSS of each,
# their ratios and the page size; exits 1 unless the page is under 5 MB and
# both ratios are within 1.10.
#
#   bash benches/html.sh                                 # 5,000 keys, 100,000 one-second windows
#   KEYS=5000 WINDOWS=20 EVERY_KEY=1 bash benches/html.sh  # 5,000 keys x 20 windows = 100,000 rows
#
# Knobs: KEYS (5000), WINDOWS (100000), PER_WINDOW (20 records a window),
# EVERY_KEY=1 (every key in every window instead), RUNS (5), THREADS (all
# cores), VIGIL=path (skip the build).
set -euo pipefail
cd "$(dirname "$0")/.."

KEYS=${KEYS:-5000}
WINDOWS=${WINDOWS:-100000}
PER_WINDOW=${PER_WINDOW:-20}
EVERY_KEY=${EVERY_KEY:-0}
RUNS=${RUNS:-5}
THREADS=${THREADS:-$(nproc)}
DATA=benches/data
OUT=$DATA/out-html
mkdir -p "$DATA" "$OUT"

if [ -z "${VIGIL:-}" ]; then
  cargo build --release --quiet
  VIGIL=target/release/vigil
fi
if [ ! -x /usr/bin/time ]; then
  echo "html.sh: GNU time (/usr/bin/time) is needed (apt-get install time)" >&2
  exit 1
fi

if [ "$EVERY_KEY" = 1 ]; then
  CSV=$DATA/keys-$KEYS-every-$WINDOWS.csv
  [ -s "$CSV" ] || python3 benches/gen_keys.py --keys "$KEYS" --windows "$WINDOWS" --every-key --out "$CSV"
else
  CSV=$DATA/keys-$KEYS-$WINDOWS-$PER_WINDOW.csv
  [ -s "$CSV" ] || python3 benches/gen_keys.py --keys "$KEYS" --windows "$WINDOWS" --per-window "$PER_WINDOW" --out "$CSV"
fi
cat "$CSV" > /dev/null # warm the page cache

JOB=(run "$CSV" --time ts --key host --window 1s --agg 'count(), avg(value), max(value)'
     --alert 'hot: max(value) > 99.5 for 2' --threads "$THREADS" -q)
# one LABEL EXTRA...: appends "label seconds rss_kb" to the results
one() {
  local label=$1; shift
  /usr/bin/time -f '%e %M %U %S' -o "$OUT/time.txt" "$VIGIL" "${JOB[@]}" -o "$OUT/report-$label.csv" \
    --alerts "$OUT/alerts-$label.csv" "$@" 2>"$OUT/stderr.txt" \
    || { cat "$OUT/stderr.txt" >&2; echo "html.sh: $label run failed" >&2; exit 1; }
  echo "$label $(tail -1 "$OUT/time.txt")" >> "$OUT/results.txt"
}
rm -f "$OUT/results.txt"
for i in $(seq "$RUNS"); do
  # alternate the order so that neither run always goes first
  if [ $((i % 2)) = 1 ]; then one plain; one html --html "$OUT/page.html"
  else one html --html "$OUT/page.html"; one plain; fi
done
for f in report alerts; do
  cmp -s "$OUT/$f-plain.csv" "$OUT/$f-html.csv" || { echo "html.sh: --html changed the $f file" >&2; exit 1; }
done

rows=$(($(wc -l < "$OUT/report-plain.csv") - 1))
page_bytes=$(stat -c %s "$OUT/page.html")
echo
echo "## --html cost"
echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%Y-%m-%d); threads=$THREADS; median of $RUNS runs each, interleaved"
echo "data: $CSV ($(stat -c %s "$CSV") bytes, $KEYS keys, $WINDOWS windows of 1 s); report rows: $rows; page: $page_bytes bytes"
echo
awk -v page="$page_bytes" '
  function median(a, n,   i, j, t) {
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  { if ($1 == "plain") { pt[++np] = $2; pr[np] = $3; pc[np] = $4 + $5 }
    else { ht[++nh] = $2; hr[nh] = $3; hc[nh] = $4 + $5 } }
  END {
    mpt = median(pt, np); mht = median(ht, nh); mpr = median(pr, np); mhr = median(hr, nh)
    mpc = median(pc, np); mhc = median(hc, nh)
    print "| run | wall seconds | CPU seconds (user+sys) | peak RSS MB |"
    print "|---|---|---|---|"
    printf "| without --html | %.2f | %.2f | %.1f |\n", mpt, mpc, mpr / 1024
    printf "| with --html | %.2f | %.2f | %.1f |\n", mht, mhc, mhr / 1024
    printf "| ratio | %.3f | %.3f | %.3f |\n", mht / mpt, mhc / mpc, mhr / mpr
    ok = (page < 5000000 && mht / mpt <= 1.10 && mhr / mpr <= 1.10)
    print ""
    print "(medians; the wall time is what the limit applies to, the CPU time is the figure to trust on a busy machine)"
    print (ok ? "PASS" : "FAIL") ": page " page " bytes (limit 5000000), time x" sprintf("%.3f", mht / mpt) ", RSS x" sprintf("%.3f", mhr / mpr) " (limit 1.10)"
    exit !ok
  }' "$OUT/results.txt"
