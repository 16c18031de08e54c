"""The Spark engine must give the local engine's answers: same meters and connections flagged, same
scores and sub-scores. One local[2] session for the whole file (starting a JVM costs ~10 s)."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from minewatch.engines import local
from minewatch.engines.kernels import FlowConfig, PowerConfig, meta_tuples
from minewatch.engines.samples import write_samples
from minewatch.engines.spark import spark_available

pytestmark = pytest.mark.slow

_why = spark_available()
if _why:
    pytest.skip(f"Spark engine not testable here: {_why}", allow_module_level=True)


@pytest.fixture(scope="module")
def spark():
    from minewatch.engines.spark import session

    sp = session("local[2]", app="minewatch-test", conf={"spark.sql.shuffle.partitions": "3"})
    sp.sparkContext.setLogLevel("ERROR")
    yield sp
    sp.stop()


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    return write_samples(tmp_path_factory.mktemp("spark_samples"), n_meters=200, days=160, seed=21)


def _same(a: pa.Table, b: pa.Table) -> None:
    assert a.num_rows == b.num_rows > 0
    ra = {r["finding_id"]: r for r in a.to_pylist()}
    rb = {r["finding_id"]: r for r in b.to_pylist()}
    assert set(ra) == set(rb)
    assert {k for k, r in ra.items() if r["flagged"]} == {k for k, r in rb.items() if r["flagged"]}
    for k, x in ra.items():
        y = rb[k]
        assert x["subject"] == y["subject"]
        assert abs(x["score"] - y["score"]) <= 1e-9 and abs(x["rank_score"] - y["rank_score"]) <= 1e-9
        fx, fy = json.loads(x["finding"]), json.loads(y["finding"])
        assert set(fx["subscores"]) == set(fy["subscores"])
        for s, v in fx["subscores"].items():
            assert abs(v - fy["subscores"][s]) <= 1e-9, (k, s)
        assert [e["code"] for e in fx["evidence"]] == [e["code"] for e in fy["evidence"]]
        assert (fx["onset"], fx["kw_mining"], fx["src_ip"], fx["first_seen"]) == \
            (fy["onset"], fy["kw_mining"], fy["src_ip"], fy["first_seen"])


def test_power_on_spark_equals_local(spark, samples, tmp_path):
    from minewatch.engines.spark import run_power
    from minewatch.power.readers import read_meta

    meta = meta_tuples(read_meta(samples["meta"]))
    ref = local.run_power(samples["meters"], PowerConfig(meta=meta))
    got = run_power(spark, samples["meters"], PowerConfig(meta=meta), out=tmp_path / "p", readings_per_bucket=250_000)
    assert got.tally["buckets"] >= 3  # the meters really were spread over several kernel calls
    _same(got.rows, ref.rows)
    assert ref.flagged >= 40  # 50 rigs among 200 meters; the comparison is about something
    assert got.tally["readings"] == ref.tally["readings"] and got.tally["issue:gap"] == ref.tally["issue:gap"]
    written = local.read_findings(tmp_path / "p")
    assert sorted(f.finding_id for f in written) == sorted(ref.rows.column("finding_id").to_pylist())


def test_flows_on_spark_equal_local(spark, samples, tmp_path):
    from minewatch.engines.spark import run_flows

    ref = local.run_flows(samples["flows"], FlowConfig(), keep_all=True)
    got = run_flows(spark, samples["flows"], FlowConfig(), out=tmp_path / "f", keep_all=True, flows_per_bucket=700)
    assert got.tally["rows"] > 1500 and got.tally["buckets"] >= 3  # enough rows to span several buckets
    _same(got.rows, ref.rows)
    assert 0 < ref.flagged < ref.rows.num_rows  # named findings flagged, timing-only ones not
    assert len(local.read_findings(tmp_path / "f")) == ref.rows.num_rows


def test_one_way_netflow_on_spark_equals_local(spark, tmp_path):
    """Collector output: both directions of a connection must meet in one kernel call on Spark too."""
    from minewatch.engines.spark import run_flows
    from test_flows_oneway import _collector_dir, _oneway_sessions

    out = _collector_dir(tmp_path, list(_oneway_sessions(4, 4, seed=3)))
    ref = local.run_flows(out, FlowConfig(intel=False), keep_all=True)
    got = run_flows(spark, out, FlowConfig(intel=False), keep_all=True, flows_per_bucket=50)
    assert got.tally["buckets"] >= 3
    _same(got.rows, ref.rows)
    assert ref.flagged >= 3  # slice verdicts of the mining sessions, reported on their own


def test_biflow_netflow_on_spark_equals_local(spark, tmp_path):
    """IPFIX biflow records (reverse counters present): scored as two-way slices on both engines."""
    from minewatch.engines.spark import run_flows
    from test_flows_biflow import biflow_dir

    out, _scripts, _ = biflow_dir(tmp_path, 3, 3, seed=41)
    ref = local.run_flows(out, FlowConfig(intel=False), keep_all=True)
    got = run_flows(spark, out, FlowConfig(intel=False), keep_all=True, flows_per_bucket=2)
    _same(got.rows, ref.rows)
    assert ref.flagged >= 2


def test_sampled_hello_of_a_miner_on_spark_equals_local(spark, tmp_path):
    """sFlow samples: a miner's hello to its backup pool and its shares to the main pool fall in different
    buckets (one connection each); Spark must still report the hello as the miner's next pool."""
    from pyspark.sql import functions as F

    from minewatch.engines.spark import run_flows
    from test_flows_sflow import sampled_hello_dir

    out = sampled_hello_dir(tmp_path)
    # the engine's bucket of each connection (run_flows: both directions hashed together, 3 buckets)
    df = spark.read.option("basePath", str(out)).parquet(str(out))
    a = F.concat_ws("|", F.col("src_ip").cast("string"), F.col("src_port").cast("string"))
    b = F.concat_ws("|", F.col("dst_ip").cast("string"), F.col("dst_port").cast("string"))
    key = F.pmod(F.xxhash64(F.least(a, b), F.greatest(a, b), F.col("transport").cast("string")), F.lit(3))
    bucket = {r["dst_ip"]: r["b"] for r in df.select("dst_ip", key.alias("b")).collect()}
    assert bucket["198.51.100.99"] != bucket["198.51.100.20"]  # else this test would prove nothing
    ref = local.run_flows(out, FlowConfig(source="t"), batch_rows=1)
    got = run_flows(spark, out, FlowConfig(source="t"), flows_per_bucket=1)
    assert got.tally["buckets"] >= 3
    _same(got.rows, ref.rows)
    codes = {c for s in got.rows.column("finding").to_pylist() for c in
             (e["code"] for e in json.loads(s)["evidence"])}
    assert "net.sampled_hello_of_a_miner" in codes and got.rows.num_rows == 2


# last in the file: the CLI stops the Spark session it gets, which is this module's shared one
def test_cli_spark_flows(spark, samples, tmp_path):
    """Last in the file: the command stops the (shared) session when it is done."""
    from typer.testing import CliRunner

    from minewatch.engines.cli import app

    out = tmp_path / "cli"
    r = CliRunner().invoke(app, ["flows", str(samples["flows"]), "--out", str(out), "--master", "local[2]"])
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "summary.json").read_text())
    ref = local.run_flows(samples["flows"], FlowConfig())
    assert summary["engine"] == "spark" and summary["flagged"] == ref.flagged
    assert len(local.read_findings(out)) == ref.flagged

