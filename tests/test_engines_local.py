"""The local engine is the reference the Spark engine is held to, so it is held to the CLI's own paths:
`power.scan.scan_series` for meters and `net.behavior.findings_from_flow_table` for flows."""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from minewatch.engines.cli import app
from minewatch.engines.kernels import FlowConfig, PowerConfig, meta_tuples, to_flow_table
from minewatch.engines.local import read_findings, run_flows, run_power
from minewatch.engines.samples import flow_table, meter_table, write_samples
from minewatch.errors import InputError
from minewatch.power.readers import read_file, read_meta
from minewatch.power.scan import scan_series


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    return write_samples(tmp_path_factory.mktemp("samples"), n_meters=48, days=200, seed=11)


def test_power_equals_the_scan_command(samples):
    meta = read_meta(samples["meta"])
    res = run_power(samples["meters"], PowerConfig(meta=meta_tuples(meta)), batch_rows=60_000)
    rr = read_file(samples["meters"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = scan_series(rr.series, meta=meta, temperature=rr.temperature, with_impact=False)
    assert res.rows.num_rows == len(ref.scores) == 48
    mine = {f.meter_id: f for f in res.findings()}
    for s in ref.scores:
        assert mine[s.meter_id].to_json() == s.finding.to_json()
    flagged = set(res.rows.filter(res.rows.column("flagged")).column("subject").to_pylist())
    assert flagged == {s.meter_id for s in ref.scores if s.score >= 50.0}
    # the sample has rigs on residential tariffs (kind index 1 and 4 of 8): they must be among the flagged
    assert {f"M{i:05d}" for i in range(48) if i % 8 in (1, 4)} <= flagged
    # peers were in play (groups of >= 5 meters), and the gaps of the sample were counted
    assert any(f.subscores.get("peer_comparison") for f in res.findings())
    assert res.tally["issue:gap"] > 0 and res.tally["readings"] == 48 * 200 * 24


def test_batch_size_does_not_change_results(samples):
    small = run_power(samples["meters"], batch_rows=15_000)
    big = run_power(samples["meters"], batch_rows=10_000_000)
    assert small.rows.column("finding").to_pylist() == big.rows.column("finding").to_pylist()
    f_small = run_flows(samples["flows"], keep_all=True, batch_rows=100)
    f_big = run_flows(samples["flows"], keep_all=True)
    assert f_small.rows.equals(f_big.rows)


def test_duplicate_and_null_rows_are_counted(tmp_path):
    t, _ = meter_table(4, 120, seed=2)
    dup = t.slice(100, 3)
    nul = pa.table({"meter_id": pa.array([None, "M00001"], pa.string()),
                    "ts": pa.array([datetime(2023, 2, 1, tzinfo=UTC), None], pa.timestamp("us", tz="UTC")),
                    "kwh": [1.0, 2.0], "temp_c": [1.0, 1.0]})
    p = tmp_path / "m.parquet"
    pq.write_table(pa.concat_tables([t, dup, nul]), p)
    res = run_power(p)
    assert res.tally["rejected:row without meter id or timestamp"] == 2
    assert res.tally["issue:duplicate"] == 3
    assert res.rows.num_rows == 4


def test_flows_equal_the_behaviour_kernel(samples):
    table = pq.read_table(samples["flows"])
    src = str(samples["flows"])
    ref = __import__("minewatch.net.behavior", fromlist=["x"]).findings_from_flow_table(
        to_flow_table(table, FlowConfig(source=src)))
    res = run_flows(samples["flows"], FlowConfig(intel=False), keep_all=True)
    assert len(ref) > 10
    got = {f.finding_id: f for f in res.findings()}
    assert set(got) == {f.finding_id for f in ref}
    for f in ref:
        assert got[f.finding_id].subscores == f.subscores
    # a slice verdict is reported on its own; a totals-only verdict without a name behind it is a suspect
    n_slices = sum(1 for f in ref if f.extra["behavior_view"] == "slices")
    assert 0 < n_slices < len(ref)
    assert res.flagged == n_slices
    assert run_flows(samples["flows"], FlowConfig(intel=False, include_timing_only=True)).flagged == len(ref)


def test_pool_names_merge_with_timing(samples):
    res = run_flows(samples["flows"], keep_all=True)
    by_det: dict[str, int] = {}
    for f in res.findings():
        by_det[f.detector] = by_det.get(f.detector, 0) + 1
    merged = [f for f in res.findings() if f.detector == "net.intel+net.behavior"]
    assert merged and all("pool_domain" in f.subscores and "low_rate" in f.subscores for f in merged)
    assert all(f.sni == "eu.f2pool.com" for f in merged)
    # flagged: everything with a name behind it, and timing-only verdicts from slices (not from totals)
    assert res.flagged == sum(1 for f in res.findings()
                              if not f.extra.get("timing_only") or f.extra["behavior_view"] == "slices")
    assert any(f.extra.get("timing_only") and f.extra["behavior_view"] == "conn" for f in res.findings())


def test_collector_output_is_read_as_slices(tmp_path):
    """Hive-partitioned NETFLOW_SCHEMA Parquet, as `sources.collector.PartitionedWriter` writes it."""
    from minewatch.net.behavior import findings_from_flow_table
    from minewatch.sources.collector import PartitionedWriter
    from minewatch.sources.netflow import NETFLOW_SCHEMA, netflow_to_flows

    ft = flow_table(6, 6, seed=3).filter(pa.compute.is_valid(flow_table(6, 6, seed=3).column("slice_start")))
    n = ft.num_rows
    nf = {f.name: pa.nulls(n, f.type) for f in NETFLOW_SCHEMA}
    nf.update({"src_ip": ft["src_ip"], "src_port": ft["src_port"], "dst_ip": ft["dst_ip"], "dst_port": ft["dst_port"],
               "transport": ft["transport"], "packets": ft["packets_fwd"], "bytes": ft["bytes_fwd"],
               "start": ft["slice_start"], "end": ft["slice_end"]})
    table = pa.table({k: nf[k] for k in NETFLOW_SCHEMA.names}, schema=NETFLOW_SCHEMA)
    out = tmp_path / "nf"
    w = PartitionedWriter(out)
    w.add(table, arrived_us=0, now=0.0)
    w.flush()
    assert len(list(out.glob("date=*/hour=*/*.parquet"))) >= 1
    res = run_flows(out, keep_all=True)
    ref = findings_from_flow_table(netflow_to_flows(table, str(out)))
    assert {f.finding_id for f in res.findings()} == {f.finding_id for f in ref}
    assert all(f.source == str(out) for f in res.findings())


def test_bad_inputs_name_the_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        run_power(tmp_path / "absent.parquet")
    p = tmp_path / "x.parquet"
    pq.write_table(pa.table({"a": [1], "b": [2.0]}), p)
    with pytest.raises(InputError) as e:
        run_power(p)
    assert str(p) in str(e.value) and "meter" in str(e.value)
    with pytest.raises(InputError, match="not a flow table"):
        run_flows(p)
    garbage = tmp_path / "g.parquet"
    garbage.write_bytes(b"not parquet at all")
    with pytest.raises(InputError, match="Parquet"):
        run_flows(garbage)


def test_cli_local_then_load_into_store(samples, tmp_path, tmp_home):
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["flows", str(samples["flows"]), "--out", str(out), "--engine", "local"])
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "summary.json").read_text())
    found = read_findings(out)
    assert len(found) == summary["flagged"] > 0
    db = tmp_path / "s.duckdb"
    from minewatch.store import Store
    from minewatch.store.backend import as_db
    from minewatch.store.cases import case_finding_ids, create_site, open_case, site_finding_ids

    # a site covering the flagged hosts and its open case exist before the engine's findings arrive:
    # `spark load` used to store them without attaching them, as a local scan does
    with Store(db) as st:
        site = create_site(as_db(st), "campus", ip_ranges=["0.0.0.0/0", "::/0"], actor="t")
        case = open_case(as_db(st), "miners", actor="t", site_id=site.site_id)
    r = CliRunner().invoke(app, ["load", str(out), "--db", str(db)])
    assert r.exit_code == 0, r.output
    with Store(db) as st:
        assert st.count() == len(found)
        assert len(site_finding_ids(as_db(st), site.site_id)) == len(found)
        assert len(case_finding_ids(as_db(st), case.case_id)) == len(found)
    (out / "findings" / "part-00000.jsonl").write_text('{"kind": "mining"}\n')
    with pytest.raises(InputError, match="line 1"):
        read_findings(out)


def test_meter_sample_is_regular():
    t, meta = meter_table(3, 100, seed=1)
    assert t.num_rows == 3 * 100 * 24 and set(meta) == {"M00000", "M00001", "M00002"}
    ts = t.column("ts").cast(pa.int64()).to_numpy()
    assert np.all(np.diff(ts[:2400]) == 3_600_000_000)


def test_not_yet_connected_meter_is_read_the_same_by_the_engine_and_the_scan(tmp_path):
    """Weeks of exact zeros before the first load are masked in the engine kernel as in `power scan`."""
    t, _ = meter_table(3, 150, seed=5)
    kwh = t.column("kwh").to_numpy(zero_copy_only=False).copy()
    mids = t.column("meter_id").to_numpy(zero_copy_only=False)
    first = np.flatnonzero(mids == "M00000")[: 40 * 24]
    kwh[first] = 0.0  # installed 40 days before its customer was connected
    t = t.set_column(t.schema.get_field_index("kwh"), "kwh", pa.array(kwh))
    p = tmp_path / "m.parquet"
    pq.write_table(t, p)
    res = run_power(p)
    rr = read_file(p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = scan_series(rr.series, temperature=rr.temperature, with_impact=False)
    assert res.tally["issue:not yet connected"] == 1
    assert any("M00000: reads exactly 0 until" in n for n in ref.notes)
    mine = {f.meter_id: f for f in res.findings()}
    assert {s.meter_id: s.finding.to_json() for s in ref.scores} == {m: f.to_json() for m, f in mine.items()}


def test_a_meter_with_one_day_is_counted_not_judged_as_in_the_scan(tmp_path):
    t, _ = meter_table(3, 120, seed=5)
    short = pa.table({"meter_id": pa.array(["SHORT"] * 24, pa.string()),
                      "ts": pa.array([datetime(2023, 3, 1, h, tzinfo=UTC) for h in range(24)],
                                     pa.timestamp("us", tz="UTC")),
                      "kwh": [1.0] * 24, "temp_c": [5.0] * 24})  # fmt: skip
    p = tmp_path / "m.parquet"
    pq.write_table(pa.concat_tables([t, short.cast(t.schema)]), p)
    res = run_power(p)
    assert res.tally["meters too short to judge"] == 1
    assert res.rows.num_rows == 3 and "SHORT" not in res.rows.column("subject").to_pylist()
