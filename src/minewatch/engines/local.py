"""The reference engine: the engine kernels in this process, over Parquet read in bounded batches.

Why DuckDB sorts the input: a kernel needs whole groups (every reading of a meter, every slice of
a connection), and a file gives no such promise. DuckDB sorts by the group key out of core
(spilling to disk when the data is larger than memory) and streams record batches; we cut each
batch at the last group boundary and carry the incomplete tail into the next one. Memory then
follows the batch size plus one group, not the input size. The Spark engine must give the same
answers; `tests/test_engines_spark.py` checks that it does.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from minewatch.engines.kernels import (
    FINDING_ROWS,
    FLOW_KEY,
    POWER_FEATURES,
    FlowConfig,
    PowerConfig,
    flow_findings,
    is_netflow,
    netflow_columns,
    power_features,
    power_peers,
    power_score,
    resolve_hellos,
    sampled_miner_hosts,
)
from minewatch.errors import InputError
from minewatch.model import FLOW_SCHEMA, Finding

#: Rows per batch read from DuckDB: ~60 meters of a year of hourly readings, or 200 k flow slices.
BATCH_ROWS = 500_000


@dataclass
class EngineResult:
    """What an engine run produced: finding rows, counts, and where they were written."""

    engine: str
    rows: pa.Table
    tally: dict[str, int] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def flagged(self) -> int:
        return int(pc.sum(pc.cast(self.rows.column("flagged"), pa.int64())).as_py() or 0) if self.rows.num_rows else 0

    def findings(self, flagged_only: bool = False) -> list[Finding]:
        rows = self.rows.filter(self.rows.column("flagged")) if flagged_only else self.rows
        return [Finding.from_record(json.loads(s)) for s in rows.column("finding").to_pylist()]

    def summary(self) -> dict[str, Any]:
        return {"engine": self.engine, "rows": self.rows.num_rows, "flagged": self.flagged, "tally": self.tally,
                "seconds": round(self.seconds, 2), "written": [str(p) for p in self.written]}


# ---------------------------------------------------------------------------------------------
# input
# ---------------------------------------------------------------------------------------------


def parquet_glob(path: str | Path) -> str:
    """A Parquet file, or every `*.parquet` under a folder (hive partitions included)."""
    p = Path(path)
    if not p.exists():
        raise InputError("no such file or folder", path=str(p))
    return str(p / "**" / "*.parquet") if p.is_dir() else str(p)


def _connect(spill: str | None = None) -> Any:
    """An in-memory DuckDB on UTC; `spill` is the folder its out-of-core sort writes to.

    Why a folder of our own: DuckDB's default for an in-memory database is `.tmp` in the current
    folder, so a sort larger than memory wrote gigabytes into whatever folder the analyst ran the
    command from (a repository, a share), and two runs from one folder shared it."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    if spill is not None:
        con.execute(f"SET temp_directory='{spill.replace(chr(39), chr(39) * 2)}'")
    return con


def _scan_sql(glob: str) -> str:
    return f"read_parquet('{glob.replace(chr(39), chr(39) * 2)}', hive_partitioning=true, union_by_name=true)"


def input_columns(path: str | Path) -> list[str]:
    """Column names of a Parquet input (the union over its files)."""
    glob = parquet_glob(path)
    con = _connect()
    try:
        return [d[0] for d in con.execute(f"SELECT * FROM {_scan_sql(glob)} LIMIT 0").description]
    except Exception as e:  # duckdb raises IOException/InvalidInputException for unreadable files
        raise InputError(f"not readable as Parquet ({str(e).splitlines()[0]})", path=str(path), offset=0) from e
    finally:
        con.close()


def _same_key_as_last(t: pa.Table, keys: tuple[str, ...]) -> pa.Array:
    """True for rows whose key equals the last row's key (nulls equal nulls, as in GROUP BY)."""
    mask = pa.array([True] * t.num_rows)
    for k in keys:
        col = t.column(k)
        last = col[t.num_rows - 1]
        eq = pc.is_null(col) if not last.is_valid else pc.fill_null(pc.equal(col, last), False)
        mask = pc.and_(mask, eq)
    return mask


#: One-way NetFlow records of both directions of a connection share this key (the two endpoints in a
#: fixed order), so a group holds both halves for `net.behavior.pair_one_way`.
ENDPOINT_KEYS: dict[str, str] = {
    "_end_lo": "least(concat(src_ip, '|', src_port), concat(dst_ip, '|', dst_port))",
    "_end_hi": "greatest(concat(src_ip, '|', src_port), concat(dst_ip, '|', dst_port))",
}


def _filled(reader: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    """The reader's batches joined into batches of at least `rows` rows (the last may be smaller).

    Why: DuckDB streams vectors of about 122,880 rows whatever batch size is asked for, about 14
    meters of a year of hourly readings. The block kernel is vectorised across meters, and a call on
    14 meters cost 2-3 times as much per reading as one on 500 (the per-call work of the step scans
    and medians dominates)."""
    pending: list[pa.RecordBatch] = []
    have = 0
    for b in reader:
        pending.append(b)
        have += b.num_rows
        if have >= rows:
            yield pa.Table.from_batches(pending)
            pending, have = [], 0
    if pending:
        yield pa.Table.from_batches(pending)


def iter_groups(path: str | Path, columns: list[str], keys: tuple[str, ...], order: list[str],
                batch_rows: int = BATCH_ROWS, computed: dict[str, str] | None = None) -> Iterator[pa.Table]:
    """Tables of whole groups (rows sorted by `order`, which starts with `keys`), about `batch_rows` each.
    `computed` adds SQL expressions as named columns (keys may use them)."""
    import tempfile

    glob = parquet_glob(path)
    spill = tempfile.TemporaryDirectory(prefix="minewatch-duckdb-")
    con = _connect(spill.name)
    cols = ", ".join([f'"{c}"' for c in columns] + [f'{e} AS "{n}"' for n, e in (computed or {}).items()])
    by = ", ".join(f'"{c}"' for c in order)
    try:
        rel = con.sql(f"SELECT {cols} FROM {_scan_sql(glob)} ORDER BY {by}")
        # duckdb 2 renamed fetch_arrow_reader to to_arrow_reader; 1.x has only the former
        reader = (rel.to_arrow_reader if hasattr(rel, "to_arrow_reader") else rel.fetch_arrow_reader)(batch_rows)
    except Exception as e:
        con.close()
        spill.cleanup()
        raise InputError(f"not readable as Parquet ({str(e).splitlines()[0]})", path=str(path), offset=0) from e
    try:
        yield from _whole_groups(_filled(reader, batch_rows), keys)
    finally:
        con.close()
        spill.cleanup()


def _whole_groups(tables: Iterator[pa.Table], keys: tuple[str, ...]) -> Iterator[pa.Table]:
    """Tables of rows where each group's rows are together, cut so that no group spans two tables."""
    carry: pa.Table | None = None
    for t in tables:
        if carry is not None and carry.num_rows:
            t = pa.concat_tables([carry, t.cast(carry.schema)])
        if t.num_rows == 0:
            continue
        same = _same_key_as_last(t, keys).to_numpy(zero_copy_only=False)
        cut = int(t.num_rows - (same[::-1].argmin() if not same.all() else t.num_rows))
        if cut == 0:  # one group larger than a batch: keep collecting it
            carry = t
            continue
        yield t.slice(0, cut)
        carry = t.slice(cut)
    if carry is not None and carry.num_rows:
        yield carry


def grouped_file(path: str | Path, key: str, columns: list[str], batch_rows: int = BATCH_ROWS) -> bool:
    """Whether one Parquet file already holds each `key` value's rows together (as an export written
    meter by meter does), so it can be read in file order with no sort.

    Why: DuckDB's sort of the whole input was most of the engine's own work (4.4 of 5.9 CPU-s on 17.5 M
    readings), and none of the kernel's results depend on the order of meters. One pass over the key
    column, one batch at a time, tells: a value that starts a second run means the rows are not
    grouped, and the pass stops there (a file ordered by time stops within its first hour). Folders
    and files whose columns are not all in the file (hive partitions) take the sort."""
    import pyarrow.parquet as pq

    p = Path(path)
    if p.is_dir():
        return False
    try:
        pf = pq.ParquetFile(p)
    except Exception:  # the DuckDB path names the problem with its position
        return False
    schema = pf.schema_arrow
    if not set(columns) <= set(schema.names):
        return False
    if any(pa.types.is_timestamp(schema.field(c).type) and schema.field(c).type.unit == "ns" for c in columns):
        return False  # DuckDB reads nanoseconds as microseconds, cut; an Arrow cast would refuse them
    md = pf.metadata
    if any(md.row_group(i).num_rows > MAX_ROW_GROUP_ROWS for i in range(md.num_row_groups)):
        return False  # row groups are read whole: memory must not follow the writer's choice
    seen: set[Any] = set()
    last: Any = object()
    for b in _row_groups(pf, [key], batch_rows):
        col = b.column(0)
        if col.null_count:
            return False  # rows without a meter are counted by the kernel; one run of them is not promised
        if len(col) == 0:
            continue
        change = pc.not_equal(col[1:], col[:-1]).to_numpy(zero_copy_only=False)
        starts = [0, *(np.flatnonzero(change) + 1).tolist()]
        firsts = pc.take(col, pa.array(starts, pa.int64())).to_pylist()
        if firsts[0] == last:
            firsts = firsts[1:]
        for v in firsts:
            if v in seen:
                return False
            seen.add(v)
        last = col[len(col) - 1].as_py()
    return True


#: Largest Parquet row group read whole on the path without sort; a file with larger ones takes the sort.
MAX_ROW_GROUP_ROWS = 16 * BATCH_ROWS


def _row_groups(pf: Any, columns: list[str], batch_rows: int) -> Iterator[pa.RecordBatch]:
    """Batches of at most `batch_rows` rows, one row group at a time.

    Why not one `ParquetFile.iter_batches` over the file: in pyarrow 26 it held on to memory as it
    went (about 3 MB a 500,000-row batch here: 0.7 GB after 10,000 meters of a year of hourly
    readings, 5.9 GB after 100,000); an iterator per row group returns its memory when done. Why not
    `read_row_group(...).to_batches()`: its batches are slices of the whole group, and a slice sent
    to a worker process took the group's buffers along (a third more CPU on 5,000 meters, mostly
    system time)."""
    for i in range(pf.metadata.num_row_groups):
        yield from pf.iter_batches(batch_size=batch_rows, row_groups=[i], columns=columns)


def iter_file_groups(path: str | Path, columns: list[str], keys: tuple[str, ...],
                     batch_rows: int = BATCH_ROWS) -> Iterator[pa.Table]:
    """Tables of whole groups of a file that `grouped_file` found grouped, in file order (no sort)."""
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(Path(path))
        yield from _whole_groups(_filled(_row_groups(pf, columns, batch_rows), batch_rows), keys)
    except (OSError, pa.ArrowException) as e:
        raise InputError(f"not readable as Parquet ({str(e).splitlines()[0]})", path=str(path), offset=0) from e


def write_rows(rows: pa.Table, out: str | Path, *, flagged_only: bool) -> list[Path]:
    """Findings as JSON lines in OUT/findings/part-00000.jsonl (the layout Spark's text writer uses)."""
    d = Path(out) / "findings"
    d.mkdir(parents=True, exist_ok=True)
    for old in d.glob("part-*"):
        old.unlink()
    sel = rows.filter(rows.column("flagged")) if flagged_only and rows.num_rows else rows
    p = d / "part-00000.jsonl"
    with open(p, "w", encoding="utf-8") as fh:
        for s in sel.column("finding").to_pylist():
            fh.write(s + "\n")
    return [p]


def read_findings(out: str | Path) -> list[Finding]:
    """Every Finding an engine wrote under OUT/findings (local or Spark part files)."""
    d = Path(out) / "findings"
    if not d.is_dir():
        raise InputError("no findings folder here (run `minewatch spark` with --out first)", path=str(d))
    found: list[Finding] = []
    for p in sorted(d.glob("part-*")):
        with open(p, encoding="utf-8") as fh:
            for n, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    found.append(Finding.from_record(json.loads(line)))
                except (ValueError, KeyError, TypeError) as e:
                    raise InputError(f"not a finding record ({e})", path=str(p), line=n) from e
    return found


# ---------------------------------------------------------------------------------------------
# runs
# ---------------------------------------------------------------------------------------------


def power_config(path: str | Path, cfg: PowerConfig | None = None, columns: list[str] | None = None) -> PowerConfig:
    """Fill the column names of a long meter table the way `power.readers` finds them."""
    from minewatch.power.readers import METER_COLS, TEMP_COLS, TS_COLS, VALUE_COLS, _find, _unit_from_name

    cols = columns if columns is not None else input_columns(path)
    cfg = cfg or PowerConfig()
    m, t = _find(cols, METER_COLS), _find(cols, TS_COLS)
    v = _find(cols, VALUE_COLS)
    if m is None or t is None or v is None:
        raise InputError(
            f"a long meter table needs meter, time and value columns; found {', '.join(cols)}", path=str(path), line=1
        )
    cfg.meter_col, cfg.ts_col, cfg.value_col = m, t, v
    cfg.unit = _unit_from_name(v, None) or cfg.unit
    cfg.temp_col = _find(cols, TEMP_COLS)
    if not cfg.source:
        cfg.source = str(path)
    return cfg


def _sorted(t: pa.Table) -> pa.Table:
    return t.sort_by([("finding_id", "ascending")]) if t.num_rows else t


def _features_job(t: pa.Table, cfg: PowerConfig) -> tuple[pa.Table, dict[str, int]]:
    """`power_features` in a worker process (all-NaN slices are expected there too: gaps stay gaps)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return power_features(t, cfg)


def default_workers() -> int:
    """Worker processes for the meter kernel: one a core (at most 8), one when there is a single core."""
    import os

    return max(1, min(8, os.cpu_count() or 1))


def _power_features_all(groups: Iterator[pa.Table], cfg: PowerConfig, workers: int) -> Iterator[tuple[pa.Table, dict[str, int]]]:
    """`power_features` of each batch of whole meters, in input order, on `workers` processes.

    Why processes: the kernel is NumPy plus a Python loop per meter (the reader's `regularise`), so one
    process uses one core, and reading/sorting waits on it. Why bounded: at most `workers + 1` batches
    are in flight, so memory follows the batch size times the workers, not the input. Why spawn: the
    DuckDB reader runs threads, and a forked child of a threaded process may hang on a held lock.
    Each meter's features depend on its own readings only, so the split changes no result."""
    first = next(groups, None)
    if first is None:
        return
    if workers <= 1:
        yield _features_job(first, cfg)
        for t in groups:
            yield _features_job(t, cfg)
        return
    import multiprocessing as mp
    from collections import deque
    from concurrent.futures import Future, ProcessPoolExecutor

    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as ex:
        inflight: deque[Future[tuple[pa.Table, dict[str, int]]]] = deque([ex.submit(_features_job, first, cfg)])
        for t in groups:
            inflight.append(ex.submit(_features_job, t, cfg))
            while len(inflight) > workers:
                yield inflight.popleft().result()
        while inflight:
            yield inflight.popleft().result()


def run_power(path: str | Path, cfg: PowerConfig | None = None, *, out: str | Path | None = None,
              batch_rows: int = BATCH_ROWS, workers: int = 1) -> EngineResult:
    """Score every meter of a long-format meter Parquet (file or folder); `workers` processes run the kernel."""
    import time
    import warnings

    t0 = time.perf_counter()
    cfg = power_config(path, cfg)
    cols = [cfg.meter_col, cfg.ts_col, cfg.value_col] + ([cfg.temp_col] if cfg.temp_col else [])
    tally: Counter[str] = Counter()
    feats: list[pa.Table] = []
    if grouped_file(path, cfg.meter_col, cols, batch_rows):
        groups = iter_file_groups(path, cols, (cfg.meter_col,), batch_rows)
    else:
        # the value too: a repeated time stamp keeps its smallest reading, as the kernel's own sort would
        groups = iter_groups(path, cols, (cfg.meter_col,), [cfg.meter_col, cfg.ts_col, cfg.value_col], batch_rows)
    for f, tl in _power_features_all(groups, cfg, workers):
        feats.append(f)
        tally.update(tl)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices are expected: gaps stay gaps
        features = pa.concat_tables(feats) if feats else POWER_FEATURES.empty_table()
        features = features.append_column("peer_lf", power_peers(features).column("peer_lf"))
        step = max(1, batch_rows // 1000)
        parts = [power_score(features.slice(i, step), cfg) for i in range(0, features.num_rows, step)]
    rows = _sorted(pa.concat_tables(parts) if parts else pa.table({f.name: [] for f in FINDING_ROWS}, FINDING_ROWS))
    res = EngineResult("local", rows, dict(tally))
    if out is not None:
        res.written = write_rows(rows, out, flagged_only=not cfg.keep_all)
    res.seconds = time.perf_counter() - t0
    return res


def flow_columns(path: str | Path, columns: list[str] | None = None) -> tuple[list[str], tuple[str, ...]]:
    """(columns to read, group key) of a flow input: collector NetFlow or FLOW_SCHEMA Parquet."""
    cols = columns if columns is not None else input_columns(path)
    if is_netflow(cols):
        # one-way records: both directions of a connection in one group (ENDPOINT_KEYS)
        return netflow_columns(cols), ("_end_lo", "_end_hi", "transport")
    have = [f.name for f in FLOW_SCHEMA if f.name in cols]
    missing = {"src_ip", "dst_ip", "src_port", "dst_port"} - set(have)
    if missing:
        raise InputError(f"not a flow table: missing {', '.join(sorted(missing))}", path=str(path), line=1)
    return have, tuple(k for k in FLOW_KEY if k in have)


def run_flows(path: str | Path, cfg: FlowConfig | None = None, *, out: str | Path | None = None,
              keep_all: bool = False, batch_rows: int = BATCH_ROWS) -> EngineResult:
    """Score every connection of a flow Parquet input (collector output or FLOW_SCHEMA rows)."""
    import time

    t0 = time.perf_counter()
    cfg = cfg or FlowConfig()
    if cfg.source is None:
        cfg.source = str(path)
    cols, keys = flow_columns(path)
    order = list(keys) + [c for c in ("slice_start", "start") if c in cols]
    parts: list[pa.Table] = []
    tally: Counter[str] = Counter()
    computed = ENDPOINT_KEYS if keys[0] == "_end_lo" else None
    for t in iter_groups(path, cols, keys, order, batch_rows, computed=computed):
        tally["rows"] += t.num_rows
        parts.append(flow_findings(t, cfg, keep_pending=True))
    rows = pa.concat_tables(parts) if parts else pa.table({f.name: [] for f in FINDING_ROWS}, FINDING_ROWS)
    # a sampled hello's host may have mined in another batch of connections: decided once all are in
    rows = _sorted(resolve_hellos(rows, sampled_miner_hosts(rows)))
    res = EngineResult("local", rows, dict(tally))
    if out is not None:
        res.written = write_rows(rows, out, flagged_only=not keep_all)
    res.seconds = time.perf_counter() - t0
    return res
