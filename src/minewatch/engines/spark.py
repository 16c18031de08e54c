"""The cluster engine: the engine kernels of `engines.kernels` inside Spark, over Parquet.

How the work is cut (the only thing this module decides; scoring is the kernels'):
- meter data: readings are shuffled by a hash bucket of the meter id (`groupBy(bucket)`), so each
  Python call gets every reading of a few hundred meters and runs the block kernel on them
  (`applyInArrow`); the peer medians are one more `groupBy(peer_group)`; scoring is row-local
  (`mapInArrow`) after a join;
- flows: slices are shuffled by a hash bucket of the connection key and scored per bucket; rows
  without slices (connection totals) need no shuffle and go through `mapInArrow`.
A bucket holds many groups because a Python call per meter or per connection would cost more than
the kernel itself; the bucket count follows the data so one call stays within executor memory.

pyspark is an optional extra (`pip install minewatch[spark]`); it is imported lazily so the rest of
the package never needs a JVM. Spark 4 provides `groupBy().applyInArrow`; on Spark 3.5 the same
kernels run through `applyInPandas` (converted back to Arrow inside the worker).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from minewatch.engines.kernels import (
    FINDING_ROWS,
    POWER_FEATURES,
    POWER_PEERS,
    FlowConfig,
    PowerConfig,
    flow_findings,
    power_features,
    power_peers,
    power_score,
    resolve_hellos,
    sampled_miner_hosts,
)
from minewatch.engines.local import EngineResult, flow_columns, power_config
from minewatch.errors import InputError, MinewatchError

#: Readings per Python call of the block kernel (~ 100 meters of a year of hourly data).
READINGS_PER_BUCKET = 1_000_000
#: Flow rows per Python call of the flow kernel.
FLOWS_PER_BUCKET = 500_000
_TALLY = pa.field("tally", pa.string())


class SparkUnavailable(MinewatchError):
    """pyspark or a Java runtime is missing: say which and how to get it."""


def spark_available() -> str | None:
    """None when a local Spark can start here, else the reason it cannot (for skips and the CLI)."""
    import shutil

    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install 'minewatch[spark]')"
    java_home = os.environ.get("JAVA_HOME")
    if not (java_home and Path(java_home, "bin", "java").exists()) and shutil.which("java") is None:
        return "no Java runtime found (Spark needs Java 17+: install openjdk-17-jre or set JAVA_HOME)"
    return None


def session(master: str = "local[2]", app: str = "minewatch", conf: dict[str, str] | None = None) -> Any:
    """A SparkSession that keeps timestamps in UTC and, when local, stays on the loopback interface.

    Why UTC: Spark converts timestamps to its session time zone when it hands Arrow batches to
    Python; the kernels expect UTC, and `model.iso` writes UTC.
    """
    why = spark_available()
    if why:
        raise SparkUnavailable(why)
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if master.startswith("local"):
        # the JVM picks its "local" address before reading the conf below (and would take eth0's when the
        # host name resolves to loopback): a local session stays on loopback from the first socket on
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    b = SparkSession.builder.appName(app).master(master)
    settings = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.execution.arrow.useLargeVarTypes": "false",
        "spark.ui.showConsoleProgress": "false",
    }
    if master.startswith("local"):
        settings.update({
            "spark.ui.enabled": "false",
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.sql.shuffle.partitions": "4",
            "spark.default.parallelism": "2",
        })  # fmt: skip
    settings.update(conf or {})
    for k, v in settings.items():
        b = b.config(k, v)
    return b.getOrCreate()


def _struct(schema: pa.Schema) -> Any:
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)


def _grouped(gdf: Any, fn: Callable[[pa.Table], pa.Table], schema: pa.Schema) -> Any:
    """`applyInArrow` (Spark 4) or, on 3.5, `applyInPandas` with the Arrow kernel inside."""
    if hasattr(gdf, "applyInArrow"):
        def run(table: pa.Table) -> pa.Table:
            return fn(table)

        return gdf.applyInArrow(run, schema=_struct(schema))

    def run_pd(pdf: Any) -> Any:
        return fn(pa.Table.from_pandas(pdf, preserve_index=False)).to_pandas()

    return gdf.applyInPandas(run_pd, schema=_struct(schema))


def _read(spark: Any, path: str | Path) -> Any:
    p = Path(path)
    if not p.exists():
        raise InputError("no such file or folder", path=str(p))
    return spark.read.parquet(str(p))


def _write(rows_df: Any, out: str | Path | None, flagged_only: bool) -> list[Path]:
    if out is None:
        return []
    d = Path(out) / "findings"
    sel = rows_df.filter("flagged") if flagged_only else rows_df
    sel.select("finding").write.mode("overwrite").text(str(d))
    return sorted(d.glob("part-*"))


def _collect(rows_df: Any) -> pa.Table:
    """The finding rows on the driver (sorted like the local engine's) as Arrow."""
    if hasattr(rows_df, "toArrow"):
        t = rows_df.toArrow()
    else:  # Spark 3.5
        t = pa.Table.from_pandas(rows_df.toPandas(), preserve_index=False)
    t = t.cast(FINDING_ROWS) if t.num_rows else FINDING_ROWS.empty_table()
    return t.sort_by([("finding_id", "ascending")]) if t.num_rows else t


def _buckets(n_rows: int, per_bucket: int) -> int:
    return max(1, math.ceil(n_rows / max(1, per_bucket)))


# ---------------------------------------------------------------------------------------------
# meter data
# ---------------------------------------------------------------------------------------------


def run_power(spark: Any, path: str | Path, cfg: PowerConfig | None = None, *, out: str | Path | None = None,
              readings_per_bucket: int = READINGS_PER_BUCKET) -> EngineResult:
    """Score every meter of a long-format meter Parquet with Spark; same rows as `local.run_power`."""
    from pyspark.sql import functions as F

    t0 = time.perf_counter()
    df = _read(spark, path)
    cfg = power_config(path, cfg, columns=df.columns)
    cols = [cfg.meter_col, cfg.ts_col, cfg.value_col] + ([cfg.temp_col] if cfg.temp_col else [])
    df = df.select(*cols)
    n = df.count()
    nb = _buckets(n, readings_per_bucket)
    feat_schema = POWER_FEATURES.append(_TALLY)

    def features(table: pa.Table) -> pa.Table:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            f, tally = power_features(table.drop_columns(["_bucket"]), cfg)
        # the tally rides on one extra row without a meter id, so the driver can add the counts up
        extra = {c.name: [None] for c in POWER_FEATURES}
        extra["tally"] = [json.dumps(tally)]
        f = f.append_column(_TALLY, pa.nulls(f.num_rows, pa.string()))
        return pa.concat_tables([f, pa.table(extra, schema=feat_schema)])

    bucketed = df.withColumn("_bucket", F.pmod(F.xxhash64(F.col(cfg.meter_col).cast("string")), F.lit(nb)))
    feats_all = _grouped(bucketed.groupBy("_bucket"), features, feat_schema).persist()
    tally: Counter[str] = Counter()
    for r in feats_all.filter(F.col("meter_id").isNull()).select("tally").collect():
        tally.update(json.loads(r["tally"]))
    feats = feats_all.filter(F.col("meter_id").isNotNull()).drop("tally")
    if feats.filter(F.col("peer_group").isNotNull()).limit(1).count():
        peers = _grouped(feats.filter(F.col("peer_group").isNotNull()).groupBy("peer_group"), power_peers, POWER_PEERS)
        joined = feats.join(peers, on="meter_id", how="left")
    else:
        joined = feats.withColumn("peer_lf", F.lit(None).cast("double"))

    def score(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import warnings

        for b in batches:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                yield from power_score(pa.Table.from_batches([b]), cfg).to_batches()

    rows_df = joined.mapInArrow(score, _struct(FINDING_ROWS)).persist()
    written = _write(rows_df, out, flagged_only=not cfg.keep_all)
    rows = _collect(rows_df)
    rows_df.unpersist()
    feats_all.unpersist()
    tally["buckets"] = nb
    return EngineResult("spark", rows, dict(tally), written, time.perf_counter() - t0)


# ---------------------------------------------------------------------------------------------
# flows
# ---------------------------------------------------------------------------------------------


def run_flows(spark: Any, path: str | Path, cfg: FlowConfig | None = None, *, out: str | Path | None = None,
              keep_all: bool = False, flows_per_bucket: int = FLOWS_PER_BUCKET) -> EngineResult:
    """Score every connection of a flow Parquet input with Spark; same rows as `local.run_flows`."""
    from pyspark.sql import functions as F

    t0 = time.perf_counter()
    cfg = cfg or FlowConfig()
    if cfg.source is None:
        cfg.source = str(path)
    df = _read(spark, path)
    cols, keys = flow_columns(path, columns=df.columns)
    df = df.select(*cols)
    start, end = ("slice_start", "slice_end") if "slice_start" in cols else ("start", "end")
    has_slice = F.col(start).isNotNull() & F.col(end).isNotNull()
    sliced, single = df.filter(has_slice), df.filter(~has_slice)
    n = df.count()
    nb = _buckets(n, flows_per_bucket)

    def grouped(table: pa.Table) -> pa.Table:
        return flow_findings(table.drop_columns(["_bucket"]), cfg, keep_pending=True)

    def mapped(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for b in batches:
            yield from flow_findings(pa.Table.from_batches([b]), cfg, keep_pending=True).to_batches()

    if keys[0] == "_end_lo":  # one-way NetFlow records: both directions of a connection in one bucket
        a = F.concat_ws("|", F.col("src_ip").cast("string"), F.col("src_port").cast("string"))
        b = F.concat_ws("|", F.col("dst_ip").cast("string"), F.col("dst_port").cast("string"))
        key_hash = F.xxhash64(F.least(a, b), F.greatest(a, b), F.col("transport").cast("string"))
    else:
        key_hash = F.xxhash64(*[F.col(k).cast("string") for k in keys])
    bucketed = sliced.withColumn("_bucket", F.pmod(key_hash, F.lit(nb)))
    scored = _grouped(bucketed.groupBy("_bucket"), grouped, FINDING_ROWS).unionByName(
        single.mapInArrow(mapped, _struct(FINDING_ROWS))
    ).persist()
    # a sampled hello's host may have mined in another bucket: the (few) hosts whose samples showed mining
    # come to the driver, and the pending hellos are decided against them (`kernels.resolve_hellos`)
    sampled = scored.filter(F.col("finding").contains('"net.sampled_protocol"'))
    hosts = sampled_miner_hosts(_collect(sampled))

    def resolved(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for b in batches:
            yield from resolve_hellos(pa.Table.from_batches([b]), hosts).cast(FINDING_ROWS).to_batches()

    rows_df = scored.mapInArrow(resolved, _struct(FINDING_ROWS)).persist()
    scored.unpersist()
    written = _write(rows_df, out, flagged_only=not keep_all)
    rows = _collect(rows_df)
    rows_df.unpersist()
    return EngineResult("spark", rows, {"rows": n, "buckets": nb}, written, time.perf_counter() - t0)
