"""`bench/bench_power.py --write/--from-file`: the synthetic meter file the end-to-end benchmark reads."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from minewatch.engines.local import grouped_file, power_config


def _bench():
    p = Path(__file__).resolve().parents[1] / "bench" / "bench_power.py"
    spec = importlib.util.spec_from_file_location("bench_power", p)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_writer_streams_chunks_into_one_long_file(tmp_path):
    b = _bench()
    n = b.write_meters(str(tmp_path / "m.parquet"), 7, chunk=3)  # three row groups: 3 + 3 + 1 meters
    pf = pq.ParquetFile(tmp_path / "m.parquet")
    assert pf.metadata.num_row_groups == 3 and pf.metadata.num_rows == n
    t = pf.read()
    assert t.schema.names == ["meter_id", "ts", "kw"] and t.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    ids = pc.unique(t.column("meter_id")).to_pylist()
    assert ids == [f"M{i:07d}" for i in range(7)]
    # about one gap in a thousand hours, left out as an export leaves out unread hours
    assert 7 * b.HOURS * 0.99 < n < 7 * b.HOURS
    assert t.column("kw").null_count == 0
    # what the engine reads: meter, time and kW columns, meters together (no sort needed)
    cfg = power_config(tmp_path / "m.parquet")
    assert (cfg.meter_col, cfg.ts_col, cfg.value_col, cfg.unit) == ("meter_id", "ts", "kw", "kw")
    assert grouped_file(tmp_path / "m.parquet", "meter_id", ["meter_id", "ts", "kw"])
    assert b.write_meters(str(tmp_path / "m.csv"), 7, chunk=3) == n
    assert pcsv.read_csv(tmp_path / "m.csv").num_rows == n
