#!/usr/bin/env python3
"""Runs one benchmark job with a peer engine and writes a normalised CSV:
window_start_ms,host,metric,count,sum,min,max,avg,p95

    peers.py duckdb|polars csv|jsonl INPUT OUTPUT [--window-ms 60000] [--threads N]
"""
import argparse
import os
import sys


def duckdb_job(fmt, inp, out, window_ms, threads):
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    reader = (
        f"read_csv('{inp}', header=true, columns={{'ts':'VARCHAR','host':'VARCHAR','metric':'VARCHAR','value':'DOUBLE'}})"
        if fmt == "csv"
        else f"read_json('{inp}', format='newline_delimited', columns={{'ts':'VARCHAR','host':'VARCHAR','metric':'VARCHAR','value':'DOUBLE'}})"
    )
    con.execute(
        f"""
        COPY (
          SELECT (epoch_ms(strptime(ts, '%Y-%m-%dT%H:%M:%S.%gZ')) // {window_ms}) * {window_ms} AS w,
                 host, metric, count(*) AS count, sum(value) AS sum, min(value) AS min, max(value) AS max,
                 avg(value) AS avg, quantile_cont(value, 0.95) AS p95
          FROM {reader}
          GROUP BY ALL
        ) TO '{out}' (HEADER, DELIMITER ',')
        """
    )


def polars_job(fmt, inp, out, window_ms, threads):
    import polars as pl

    lf = pl.scan_csv(inp) if fmt == "csv" else pl.scan_ndjson(inp)
    ms = pl.col("ts").str.to_datetime("%Y-%m-%dT%H:%M:%S%.3fZ", time_unit="ms").dt.epoch("ms")
    res = (
        lf.with_columns(((ms // window_ms) * window_ms).alias("w"))
        .group_by(["w", "host", "metric"])
        .agg(
            pl.len().alias("count"),
            pl.col("value").sum().alias("sum"),
            pl.col("value").min().alias("min"),
            pl.col("value").max().alias("max"),
            pl.col("value").mean().alias("avg"),
            pl.col("value").quantile(0.95, interpolation="linear").alias("p95"),
        )
        .collect()
    )
    res.write_csv(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("engine", choices=["duckdb", "polars"])
    ap.add_argument("format", choices=["csv", "jsonl"])
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--window-ms", type=int, default=60000)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    if a.engine == "duckdb":
        duckdb_job(a.format, a.input, a.output, a.window_ms, a.threads)
    else:
        polars_job(a.format, a.input, a.output, a.window_ms, a.threads)


if __name__ == "__main__":
    sys.exit(main())
