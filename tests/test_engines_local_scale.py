"""The local engine at scale: batches the kernel is efficient on, worker processes, no sort of sorted
rows, none of which may change a result (bench/bench_power.py --from-file measures the speed)."""

from __future__ import annotations

import warnings

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from minewatch.engines.kernels import PowerConfig, _in_order, power_features
from minewatch.engines.local import iter_groups, power_config, run_power
from minewatch.engines.samples import write_samples
from minewatch.power.scan import machine_unit


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    return write_samples(tmp_path_factory.mktemp("samples"), n_meters=48, days=200, seed=11)


def test_batches_join_duckdb_vectors(samples):
    # DuckDB streams ~122,880-row vectors whatever batch size is asked; 230,400 rows are two of them,
    # and a kernel call on a few meters cost 2-3x as much per reading: one batch of whole meters now
    cfg = power_config(samples["meters"])
    cols = [cfg.meter_col, cfg.ts_col, cfg.value_col]
    got = list(iter_groups(samples["meters"], cols, (cfg.meter_col,), cols, batch_rows=10_000_000))
    # all meters in one batch but the last, which waits in case the next batch goes on with it
    assert [t.num_rows for t in got] == [47 * 200 * 24, 200 * 24]
    # smaller batches still end on whole meters
    parts = list(iter_groups(samples["meters"], cols, (cfg.meter_col,), cols, batch_rows=50_000))
    assert len(parts) > 2 and sum(t.num_rows for t in parts) == 48 * 200 * 24
    seen: set[str] = set()
    for t in parts:
        ids = set(pc.unique(t.column(cfg.meter_col)).to_pylist())
        assert not ids & seen
        seen |= ids


def test_workers_do_not_change_results(samples):
    one = run_power(samples["meters"], batch_rows=15_000, workers=1)
    two = run_power(samples["meters"], batch_rows=15_000, workers=2)
    assert one.rows.num_rows == 48
    assert one.rows.equals(two.rows)
    assert one.tally == two.tally


def test_in_order_is_the_kernels_sort_order():
    def t(m: list[str], ts: list[int], v: list[float | None]) -> pa.Table:
        return pa.table({"m": m, "t": ts, "v": pa.array(v, pa.float64())})

    assert _in_order(t(["a", "a", "b"], [1, 2, 0], [1.0, 0.0, 5.0]))
    assert _in_order(t(["a", "a"], [1, 1], [1.0, 1.0]))
    assert not _in_order(t(["a", "a", "b"], [2, 1, 0], [1.0, 0.0, 5.0]))
    assert not _in_order(t(["b", "a"], [1, 1], [1.0, 1.0]))
    assert not _in_order(t(["a", "a"], [1, 1], [2.0, 1.0]))  # a repeated stamp keeps the smaller reading
    assert not _in_order(t(["a", "a"], [1, 1], [1.0, float("nan")]))  # left to the sort
    assert not _in_order(t(["a", "a"], [1, 1], [1.0, None]))


def test_features_of_shuffled_rows_equal_sorted_ones(samples):
    import pyarrow.parquet as pq

    table = pq.read_table(samples["meters"])
    # repeated time stamps with other values: which reading is kept must not depend on the row order
    table = pa.concat_tables([table, table.slice(500, 40).set_column(2, "kwh", pa.array(np.arange(40.0)))])
    cfg = power_config(samples["meters"], PowerConfig())
    order = np.random.default_rng(3).permutation(table.num_rows)
    srt = table.sort_by([(cfg.meter_col, "ascending"), (cfg.ts_col, "ascending"), (cfg.value_col, "ascending")])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        a, ta = power_features(table.take(pa.array(order)), cfg)
        b, tb = power_features(srt, cfg)
    assert ta == tb and ta["issue:duplicate"] >= 40
    assert a.schema == b.schema and a.num_rows == b.num_rows == 48
    for name in a.schema.names:  # NaN is a value here (a feature that could not be computed)
        x, y = a.column(name).to_numpy(zero_copy_only=False), b.column(name).to_numpy(zero_copy_only=False)
        if x.dtype.kind == "f":
            np.testing.assert_array_equal(x, y, err_msg=name)
        else:
            assert x.tolist() == y.tolist(), name


def test_machine_unit_cache_holds_a_year_of_days():
    # 64 entries thrashed on 100,000 meters: every finding's onset day loaded the catalog again
    days = [f"2023-{m:02d}-{d:02d}" for m in range(1, 13) for d in range(1, 29)]
    machine_unit.cache_clear()
    for day in days * 2:
        machine_unit(day)
    assert machine_unit.cache_info().hits == len(days)


def test_duckdb_spills_to_a_folder_of_its_own_and_removes_it(samples, tmp_path, monkeypatch):
    # DuckDB's default for an in-memory database was `.tmp` in the current folder
    import tempfile

    from minewatch.engines.local import _connect

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    con = _connect(str(tmp_path / "spill's"))
    assert con.execute("SELECT current_setting('temp_directory')").fetchone()[0] == str(tmp_path / "spill's")
    con.close()
    cfg = power_config(samples["meters"])
    cols = [cfg.meter_col, cfg.ts_col, cfg.value_col]
    it = iter_groups(samples["meters"], cols, (cfg.meter_col,), cols, batch_rows=50_000)
    next(it)
    assert len(list(tmp_path.glob("minewatch-duckdb-*"))) == 1
    list(it)
    assert not list(tmp_path.glob("minewatch-duckdb-*")) and not list(work.iterdir())


def test_a_file_grouped_by_meter_is_read_without_sort_and_scores_alike(samples, tmp_path):
    import pyarrow.parquet as pq

    from minewatch.engines.local import grouped_file

    table = pq.read_table(samples["meters"])
    cols = ["meter_id", "ts", "kwh"]
    # meters together but in descending order, each meter's hours reversed: grouped, not sorted
    grouped = table.sort_by([("meter_id", "descending"), ("ts", "descending")])
    pq.write_table(grouped, tmp_path / "grouped.parquet", row_group_size=7_000)
    by_time = table.sort_by([("ts", "ascending"), ("meter_id", "ascending")])
    pq.write_table(by_time, tmp_path / "by_time.parquet")
    # one meter split in two runs, far apart
    split = pa.concat_tables([table.slice(0, 100), table.slice(4800), table.slice(100, 4700)])
    pq.write_table(split, tmp_path / "split.parquet")
    assert grouped_file(tmp_path / "grouped.parquet", "meter_id", cols, batch_rows=5_000)
    assert not grouped_file(tmp_path / "by_time.parquet", "meter_id", cols)
    assert not grouped_file(tmp_path / "split.parquet", "meter_id", cols, batch_rows=5_000)
    assert not grouped_file(tmp_path, "meter_id", cols)  # a folder takes the sort
    ref = run_power(tmp_path / "by_time.parquet", PowerConfig(source="meters"))  # findings name their source
    for name in ("grouped.parquet", "split.parquet"):
        got = run_power(tmp_path / name, PowerConfig(source="meters"), batch_rows=20_000)
        assert got.rows.num_rows == 48
        assert got.rows.column("finding").to_pylist() == ref.rows.column("finding").to_pylist(), name
        assert got.tally == ref.tally


def test_row_groups_larger_than_the_limit_take_the_sort(samples, tmp_path, monkeypatch):
    # the path without sort reads a row group whole: a writer's huge row group must not set the memory
    import pyarrow.parquet as pq

    import minewatch.engines.local as local

    cols = ["meter_id", "ts", "kwh"]
    pq.write_table(pq.read_table(samples["meters"]), tmp_path / "m.parquet", row_group_size=10_000)
    assert local.grouped_file(tmp_path / "m.parquet", "meter_id", cols)
    monkeypatch.setattr(local, "MAX_ROW_GROUP_ROWS", 9_999)
    assert not local.grouped_file(tmp_path / "m.parquet", "meter_id", cols)
    got = list(local.iter_file_groups(tmp_path / "m.parquet", cols, ("meter_id",), batch_rows=3_000))
    assert sum(t.num_rows for t in got) == 48 * 200 * 24 and max(t.num_rows for t in got) < 2 * 3_000 + 4_800
