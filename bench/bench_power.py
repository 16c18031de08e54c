"""Benchmark: the power-load kernel on 100,000 meters x one year hourly (876 M readings), 2 cores.

Two modes. By default (below) the kernel alone on arrays. `--from-file FILE.parquet` runs what an
analyst runs, end to end: a long Parquet (`meter_id`, `ts`, `kw`, written by `write_meters` in
bounded memory when absent) through `minewatch spark power --engine local`, and prints readings/s
from file to findings and the peak RSS. `--write PATH` only writes the file (CSV if PATH ends in .csv).

Data are streamed as arrays, not written to Parquet first: each worker generates a chunk of meters
(2,000 x 8,760 float32, 70 MB), runs `analyse_block` + `subscores_block` on it and drops it, so
memory stays bounded by chunk size x workers whatever the meter count. Generation time is measured
separately and reported apart from detection time.

tsfresh's MinimalFCParameters (the tool an analyst would reach for) runs on a sample of meters of
the same data; its time per reading is extrapolated to the full set, and we say so in the output.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time
import warnings
from typing import Any

import numpy as np
import pyarrow as pa

HOURS = 8760
PROFILE = 0.6 + 0.4 * np.sin(np.linspace(0, 2 * np.pi, 24, endpoint=False) - 2.0) ** 2


def make_chunk(seed: int, m: int) -> np.ndarray:
    """Synthetic hourly kW: daily profile x level x noise, 5 % with a rig fleet switched on."""
    rng = np.random.default_rng(seed)
    level = rng.lognormal(0.0, 1.0, m).astype(np.float32)[:, None]
    prof = np.tile(PROFILE.astype(np.float32), HOURS // 24)[None, :]
    x = level * prof * (1 + 0.25 * rng.standard_normal((m, HOURS), dtype=np.float32))
    np.maximum(x, 0, out=x)
    miners = rng.random(m) < 0.05
    for i in np.flatnonzero(miners):
        x[i, int(rng.integers(60, 300)) * 24 :] += np.float32(3.3 * rng.integers(1, 10))
    x[rng.random((m, HOURS)) < 0.001] = np.nan  # sparse gaps
    return x


#: first reading of the synthetic year (a Sunday: 2023-01-01 00:00 UTC), seconds since 1970
YEAR0_S = 1_672_531_200


def long_table(seed: int, m: int, first_id: int) -> pa.Table:
    """One chunk of `make_chunk` meters in the long layout an export has (`meter_id`, `ts`, `kw`), one row
    a reading, meter by meter; a gap is a missing row, as in an export that leaves out unread hours."""
    x = make_chunk(seed, m)
    ok = ~np.isnan(x)
    ids = np.array([f"M{first_id + i:07d}" for i in range(m)])
    ts = (YEAR0_S + 3600 * np.arange(HOURS, dtype=np.int64))[None, :].repeat(m, axis=0)
    return pa.table({
        "meter_id": pa.array(np.repeat(ids, ok.sum(axis=1))),
        "ts": pa.array(ts[ok] * 1_000_000, pa.timestamp("us", tz="UTC")),
        "kw": pa.array(x[ok].astype(np.float64)),
    })


def write_meters(path: str, meters: int, chunk: int = 1_000) -> int:
    """Write `meters` synthetic meters x one year hourly as Parquet (or CSV if `path` ends in .csv).

    Why chunked: the analyst's file of 876 M readings is tens of GB in memory; the generator holds one
    chunk of meters at a time (a row group each), so it runs in bounded memory at any size. Returns
    the number of readings written."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    writer: Any = None
    n = 0
    try:
        for seed, first in enumerate(range(0, meters, chunk)):
            t = long_table(seed, min(chunk, meters - first), first)
            if writer is None:
                writer = (pcsv.CSVWriter(path, t.schema) if path.endswith(".csv")
                          else pq.ParquetWriter(path, t.schema, compression="zstd"))
            writer.write_table(t)
            n += t.num_rows
    finally:
        if writer is not None:
            writer.close()
    return n


def work(args: tuple[int, int, int]) -> tuple[int, float, float, int]:
    from datetime import date

    from minewatch.power.calendar import festival_mask
    from minewatch.power.detect import subscores_block, total_score
    from minewatch.power.features import analyse_block

    seed, m, _ = args
    t0 = time.perf_counter()
    x = make_chunk(seed, m)
    t1 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        # the year 2023 (a Sunday start is close enough for the cost): the Spring Festival test runs too
        b = analyse_block(x, 24, first_weekday=6, festival=festival_mask(date(2023, 1, 1), HOURS // 24))
        score = total_score(subscores_block(b))
    t2 = time.perf_counter()
    return m * HOURS, t1 - t0, t2 - t1, int((score >= 50).sum())


def tsfresh_per_reading(n_meters: int) -> float:
    import pandas as pd
    from tsfresh import extract_features
    from tsfresh.feature_extraction import MinimalFCParameters

    x = make_chunk(12345, n_meters)
    df = pd.DataFrame({
        "id": np.repeat(np.arange(n_meters), HOURS),
        "time": np.tile(np.arange(HOURS), n_meters),
        "kw": x.reshape(-1).astype(np.float64),
    }).dropna()
    t0 = time.perf_counter()
    extract_features(df, column_id="id", column_sort="time", default_fc_parameters=MinimalFCParameters(),
                     n_jobs=2, disable_progressbar=True)
    return (time.perf_counter() - t0) / (n_meters * HOURS)


def from_file(a: argparse.Namespace) -> None:
    """End to end as an analyst runs it: a long Parquet file in, findings out (`minewatch spark power FILE
    --engine local`: DuckDB's out-of-core sort, the kernel on worker processes). The file is written
    first when it does not exist (timed apart); the tsfresh ratio compares with its minimal features
    on a sample of the same synthetic meters, as the array mode does."""
    import resource
    import tempfile

    import pyarrow.parquet as pq

    from minewatch.engines.kernels import PowerConfig
    from minewatch.engines.local import run_power

    path = a.from_file
    if not os.path.exists(path):
        t0 = time.perf_counter()
        n = write_meters(path, a.meters)
        print(f"wrote {path}: {a.meters:,} meters, {n:,} readings, {os.path.getsize(path) / 1e9:.2f} GB "
              f"in {time.perf_counter() - t0:.0f} s (not counted below)")
    readings = pq.ParquetFile(path).metadata.num_rows
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        res = run_power(path, PowerConfig(keep_all=False), out=out, workers=a.workers)
        wall = time.perf_counter() - t0
    rss = max(resource.getrusage(w).ru_maxrss for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024
    load1 = os.getloadavg()
    print(f"from file {path}: {res.tally.get('meters', 0):,} meters, {readings:,} readings, {a.workers} workers")
    print(f"wall {wall:.1f} s file to findings: {readings / wall:,.0f} readings/s; peak RSS {rss:,.0f} MB "
          f"(largest process); flagged {res.flagged:,}; load average {load0[0]:.1f} -> {load1[0]:.1f}")
    if a.tsfresh_meters:
        per = tsfresh_per_reading(a.tsfresh_meters)
        print(f"tsfresh MinimalFCParameters on {a.tsfresh_meters} meters (n_jobs=2, from memory): {1 / per:,.0f} "
              f"readings/s; extrapolated to {readings:,} readings: {per * readings / 60:.1f} min")
        print(f"ratio (our file-to-findings speed / tsfresh minimal on arrays): {per * readings / wall:.1f}x")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--meters", type=int, default=100_000)
    ap.add_argument("--chunk", type=int, default=2_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tsfresh-meters", type=int, default=50)
    ap.add_argument("--from-file", metavar="PARQUET", help="end to end from a long Parquet file (written with "
                    "--meters meters first if it does not exist) through the local engine")
    ap.add_argument("--write", metavar="PATH", help="only write --meters synthetic meters to PATH (.parquet or .csv)")
    a = ap.parse_args()
    if a.write:
        t0 = time.perf_counter()
        n = write_meters(a.write, a.meters)
        print(f"wrote {a.write}: {n:,} readings in {time.perf_counter() - t0:.0f} s")
        return
    if a.from_file:
        from_file(a)
        return
    jobs = []
    left, seed = a.meters, 0
    while left > 0:
        m = min(a.chunk, left)
        jobs.append((seed, m, 0))
        left -= m
        seed += 1
    t0 = time.perf_counter()
    readings = gen = det = flagged = 0
    ctx = mp.get_context("fork")
    with ctx.Pool(a.workers) as pool:
        for r, g, d, f in pool.imap_unordered(work, jobs):
            readings += r
            gen += g
            det += d
            flagged += f
    wall = time.perf_counter() - t0
    try:
        import resource

        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    except ImportError:
        rss = float("nan")
    print(f"meters {a.meters:,}  readings {readings:,}  workers {a.workers}  chunk {a.chunk} (arrays streamed)")
    print(f"wall {wall:.1f} s  (generation {gen:.1f} s, detection {det:.1f} s, summed over workers)")
    print(f"end-to-end {readings / wall:,.0f} readings/s; detection only {readings / det * a.workers:,.0f} readings/s "
          f"on {a.workers} cores; peak worker RSS {rss:.0f} MB; flagged {flagged}")
    if a.tsfresh_meters:
        per = tsfresh_per_reading(a.tsfresh_meters)
        ours = det / readings / a.workers  # seconds per reading per core-pair, like tsfresh n_jobs=2
        print(f"tsfresh MinimalFCParameters on {a.tsfresh_meters} meters (n_jobs=2): {1 / per:,.0f} readings/s; "
              f"extrapolated to {readings:,} readings: {per * readings / 60:.1f} min")
        print(f"ratio (our detection speed / tsfresh minimal): {per / ours:.1f}x")
    print(f"cpu count {os.cpu_count()}")


if __name__ == "__main__":
    main()
