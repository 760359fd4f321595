#!/usr/bin/env bash
# vigil against DuckDB, Polars and Miller on the same jobs, in one run.
# Makes its data with benches/gen_metrics.py, installs the peers on demand,
# checks that every peer's numbers agree with vigil's, and prints one table.
#
#   bash benches/compare.sh            # 10M rows (about 440 MB of CSV)
#   ROWS=1000000 RUNS=1 bash benches/compare.sh
#
# Knobs: ROWS (10000000), RUNS (3 rounds; best run reported), THREADS (all cores),
# MILLER_ROWS (1000000: Miller is slow, so it runs on a smaller file and its
# rate is reported as measured), SKIP_MILLER=1, VIGIL=path (skip the build),
# CEILING=path (the bare hash aggregate of ../shared/ceiling, built into
# target/ceiling when that folder is there; SKIP_CEILING=1 leaves it out),
# DATA=dir (where the generated inputs are kept; benches/data),
# BASELINE=path (an older vigil binary, measured beside the current one on
# the CSV, JSON-lines, sliding and global-key jobs; its report is not checked).
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=${ROWS:-10000000}
RUNS=${RUNS:-3}
THREADS=${THREADS:-$(nproc)}
MILLER_ROWS=${MILLER_ROWS:-1000000}
DATA=${DATA:-benches/data}
OUT=$DATA/out
mkdir -p "$DATA" "$OUT"

if [ -z "${VIGIL:-}" ]; then
  cargo build --release --quiet
  VIGIL=target/release/vigil
fi
if [ ! -x /usr/bin/time ]; then
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq time >/dev/null; else echo "compare: GNU time (/usr/bin/time) is needed" >&2; exit 1; fi
fi
if [ ! -x benches/.venv/bin/python ] || ! benches/.venv/bin/python -c 'import duckdb, polars' 2>/dev/null; then
  echo "compare: installing DuckDB and Polars into benches/.venv" >&2
  python3 -m venv benches/.venv
  benches/.venv/bin/pip install -q duckdb polars
fi
PY=benches/.venv/bin/python
HAVE_CEILING=0
if [ "${SKIP_CEILING:-0}" != 1 ]; then
  if [ -z "${CEILING:-}" ] && [ -f ../shared/ceiling/Cargo.toml ]; then
    CARGO_TARGET_DIR=target/ceiling cargo build --release --quiet --manifest-path ../shared/ceiling/Cargo.toml
    CEILING=target/ceiling/release/ceiling
  fi
  [ -n "${CEILING:-}" ] && [ -x "$CEILING" ] && HAVE_CEILING=1
fi
HAVE_MILLER=0
if [ "${SKIP_MILLER:-0}" != 1 ]; then
  if ! command -v mlr >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && apt-get install -y -qq miller >/dev/null) || true
  fi
  command -v mlr >/dev/null 2>&1 && HAVE_MILLER=1
fi

CSV=$DATA/metrics-$ROWS.csv
JSONL=$DATA/metrics-$ROWS.jsonl
SMALL=$DATA/metrics-$MILLER_ROWS.csv
[ -s "$CSV" ] || python3 benches/gen_metrics.py --rows "$ROWS" --out "$CSV"
[ -s "$JSONL" ] || python3 benches/gen_metrics.py --rows "$ROWS" --format jsonl --out "$JSONL"
[ "$HAVE_MILLER" = 0 ] || [ -s "$SMALL" ] || python3 benches/gen_metrics.py --rows "$MILLER_ROWS" --out "$SMALL"
cat "$CSV" "$JSONL" > /dev/null # warm the page cache

AGGS='count(), sum(value), min(value), max(value), avg(value), p95(value)'
RESULTS=$(mktemp)
# measure LABEL JOB ROWS BYTES CMD...: one timed run, with its peak RSS and
# CPU time (user+sys; steadier than wall time on a busy machine). Every job
# runs once a round, for RUNS rounds, and the table keeps each job's best
# run: the tools compared on one job run in the same minutes, not each
# tool's runs back to back (on a machine whose speed drifts, that favoured
# whichever tool ran in a fast minute).
measure() {
  local label=$1 job=$2 rows=$3 bytes=$4; shift 4
  local e m u s
  /usr/bin/time -f '%e %M %U %S' -o "$OUT/time.txt" "$@" >/dev/null 2>"$OUT/stderr.txt" || { cat "$OUT/stderr.txt" >&2; echo "compare: $label failed" >&2; exit 1; }
  read -r e m u s < <(tail -1 "$OUT/time.txt")
  echo "$label|$job|$rows|$bytes|$e|$m|$(awk -v u="$u" -v s="$s" 'BEGIN{printf "%.2f", u+s}')" >> "$RESULTS"
}

csv_bytes=$(stat -L -c %s "$CSV")
json_bytes=$(stat -L -c %s "$JSONL")

one_round() {
  measure vigil "csv tumbling 1m" "$ROWS" "$csv_bytes" "$VIGIL" run "$CSV" --time ts --key host,metric --window 1m --agg "$AGGS" -o "$OUT/vigil-csv.csv" --threads "$THREADS" -q
  [ -z "${BASELINE:-}" ] || measure baseline "csv tumbling 1m" "$ROWS" "$csv_bytes" "$BASELINE" run "$CSV" --time ts --key host,metric --window 1m --agg "$AGGS" -o "$OUT/baseline-csv.csv" --threads "$THREADS" -q
  measure duckdb "csv tumbling 1m" "$ROWS" "$csv_bytes" "$PY" benches/peers.py duckdb csv "$CSV" "$OUT/duckdb-csv.csv" --threads "$THREADS"
  measure polars "csv tumbling 1m" "$ROWS" "$csv_bytes" env POLARS_MAX_THREADS="$THREADS" "$PY" benches/peers.py polars csv "$CSV" "$OUT/polars-csv.csv"
  measure vigil "jsonl tumbling 1m" "$ROWS" "$json_bytes" "$VIGIL" run "$JSONL" --time ts --key host,metric --window 1m --agg "$AGGS" -o "$OUT/vigil-jsonl.csv" --threads "$THREADS" -q
  [ -z "${BASELINE:-}" ] || measure baseline "jsonl tumbling 1m" "$ROWS" "$json_bytes" "$BASELINE" run "$JSONL" --time ts --key host,metric --window 1m --agg "$AGGS" -o "$OUT/baseline-jsonl.csv" --threads "$THREADS" -q
  measure duckdb "jsonl tumbling 1m" "$ROWS" "$json_bytes" "$PY" benches/peers.py duckdb jsonl "$JSONL" "$OUT/duckdb-jsonl.csv" --threads "$THREADS"
  measure polars "jsonl tumbling 1m" "$ROWS" "$json_bytes" env POLARS_MAX_THREADS="$THREADS" "$PY" benches/peers.py polars jsonl "$JSONL" "$OUT/polars-jsonl.csv"
  if [ "$HAVE_CEILING" = 1 ]; then
    # The ceiling's job adds stddev to the aggregates: vigil runs that job too.
    measure vigil "csv tumbling 1m + stddev (ceiling's job)" "$ROWS" "$csv_bytes" "$VIGIL" run "$CSV" --time ts --key host,metric --window 1m --agg "$AGGS, stddev(value)" -o "$OUT/vigil-stddev.csv" --threads "$THREADS" -q
    measure ceiling "csv tumbling 1m + stddev (ceiling's job)" "$ROWS" "$csv_bytes" "$CEILING" "$CSV" "$OUT/ceiling.csv" "$THREADS"
  fi
  measure vigil "csv sliding 5m/1m" "$ROWS" "$csv_bytes" "$VIGIL" run "$CSV" --time ts --key host,metric --window 5m --slide 1m --agg "$AGGS" -o "$OUT/vigil-sliding.csv" --threads "$THREADS" -q
  [ -z "${BASELINE:-}" ] || measure baseline "csv sliding 5m/1m" "$ROWS" "$csv_bytes" "$BASELINE" run "$CSV" --time ts --key host,metric --window 5m --slide 1m --agg "$AGGS" -o "$OUT/baseline-sliding.csv" --threads "$THREADS" -q
  measure vigil "csv session 30s gap" "$ROWS" "$csv_bytes" "$VIGIL" run "$CSV" --time ts --key host,metric --session 30s --agg "$AGGS" -o "$OUT/vigil-session.csv" --threads "$THREADS" -q
  measure vigil "csv tumbling 1m, one global key" "$ROWS" "$csv_bytes" "$VIGIL" run "$CSV" --time ts --window 1m --agg "$AGGS" -o "$OUT/vigil-global.csv" --threads "$THREADS" -q
  [ -z "${BASELINE:-}" ] || measure baseline "csv tumbling 1m, one global key" "$ROWS" "$csv_bytes" "$BASELINE" run "$CSV" --time ts --window 1m --agg "$AGGS" -o "$OUT/baseline-global.csv" --threads "$THREADS" -q
  rm -f "$OUT/bench.ckpt"
  measure vigil "csv tumbling 1m, checkpoint every 1s" "$ROWS" "$csv_bytes" sh -c "rm -f '$OUT/bench.ckpt'; exec '$VIGIL' run '$CSV' --time ts --key host,metric --window 1m --agg '$AGGS' -o '$OUT/vigil-ckpt.csv' --threads $THREADS --checkpoint '$OUT/bench.ckpt' --checkpoint-every 1s -q"
  if [ "$HAVE_MILLER" = 1 ]; then
    small_bytes=$(stat -L -c %s "$SMALL")
    measure vigil "csv tumbling 1m (small)" "$MILLER_ROWS" "$small_bytes" "$VIGIL" run "$SMALL" --time ts --key host,metric --window 1m --agg "$AGGS" -o "$OUT/vigil-small.csv" --threads "$THREADS" -q
    measure miller "csv tumbling 1m (small)" "$MILLER_ROWS" "$small_bytes" sh -c "mlr --icsv --ocsv put '\$w = substr0(\$ts, 0, 15)' then stats1 -a count,sum,min,max,mean,p95 -f value -g w,host,metric '$SMALL' > '$OUT/miller.csv'"
  fi
}
for _ in $(seq "$RUNS"); do one_round; done

echo
echo "## Agreement"
status=0
for peer in duckdb polars; do
  python3 benches/check_agree.py "$OUT/vigil-csv.csv" "$OUT/$peer-csv.csv" "$peer (csv)" || status=1
  python3 benches/check_agree.py "$OUT/vigil-jsonl.csv" "$OUT/$peer-jsonl.csv" "$peer (jsonl)" || status=1
done
cmp -s "$OUT/vigil-csv.csv" "$OUT/vigil-jsonl.csv" && echo "PASS vigil: CSV and JSON lines reports are identical" || { echo "FAIL vigil: CSV and JSONL reports differ"; status=1; }
cmp -s "$OUT/vigil-csv.csv" "$OUT/vigil-ckpt.csv" && echo "PASS vigil: checkpointing does not change the report" || { echo "FAIL vigil: checkpointing changed the report"; status=1; }
[ "$HAVE_MILLER" = 0 ] || python3 benches/check_agree.py "$OUT/vigil-small.csv" "$OUT/miller.csv" miller || status=1

echo
echo "## Results"
echo
echo "load average at the end: $(cut -d" " -f1-3 /proc/loadavg)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%Y-%m-%d); threads=$THREADS; best of $RUNS rounds (every job once a round); page cache warm"
echo
awk -F'|' '
  { id = $1 "|" $2
    if (!(id in at)) { n++; at[id] = n; label[n]=$1; job[n]=$2; rows[n]=$3; bytes[n]=$4; secs[n]=$5; rss[n]=$6; cpu[n]=$7 }
    else if ($5 + 0 < secs[at[id]] + 0) { i = at[id]; secs[i]=$5; rss[i]=$6; cpu[i]=$7 } }
  END {
    for (i = 1; i <= n; i++) if (label[i] == "vigil" && !(job[i] in base)) base[job[i]] = secs[i]
    tumbling = base["csv tumbling 1m"]
    print "| tool | job | rows | MB | seconds | CPU s | MB/s | rows/s | peak RSS MB | time vs vigil | vigil: time vs csv tumbling |"
    print "|---|---|---|---|---|---|---|---|---|---|---|"
    for (i = 1; i <= n; i++) {
      b = base[job[i]]; ratio = (b > 0) ? sprintf("%.2fx", secs[i] / b) : "-"
      vt = (label[i] == "vigil" && tumbling > 0) ? sprintf("%.2fx", secs[i] / tumbling) : ""
      printf "| %s | %s | %d | %.0f | %.2f | %s | %.0f | %.0f | %.0f | %s | %s |\n", label[i], job[i], rows[i], bytes[i]/1e6, secs[i], cpu[i], bytes[i]/1e6/secs[i], rows[i]/secs[i], rss[i]/1024, ratio, vt
    }
  }' "$RESULTS"
rm -f "$RESULTS"
exit $status
