"""Sampled NetFlow (1 packet in N counted) is judged by names, addresses and ports, never by timing.

Why: a router exporting 1:1000 counts a thousandth of a session's packets, so the packet and byte
counts a timing kernel reads say nothing about message sizes or pushes; a miner's day of shares is
about nine sampled packets. The same sliced records that give timing verdicts unsampled must give
none once the exporter says it samples, and the summary must say why.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.dataset as ds
from typer.testing import CliRunner

from minewatch.cli import app
from minewatch.sources.collector import PartitionedWriter
from test_flows_oneway import _collector_dir, _oneway_sessions


def _sampled_copy(src, dst, every: int, only_ports: set[int] | None = None):
    t = ds.dataset(str(src), format="parquet", partitioning="hive").to_table()
    t = t.select([c for c in t.column_names if c not in ("date", "hour")])
    ports = t["src_port"].to_pylist()
    rate = [every if only_ports is None or p in only_ports else None for p in ports]
    t = t.set_column(t.schema.get_field_index("sampling_interval"), "sampling_interval", pa.array(rate, pa.int64()))
    w = PartitionedWriter(dst)
    w.add(t, arrived_us=0, now=0.0)
    w.flush()
    return dst


def _scan(path):
    r = CliRunner().invoke(app, ["scan", str(path), "--no-store", "--format", "jsonl", "--suspects"])
    assert r.exit_code == 0, r.output
    return {json.loads(x)["src_port"] for x in r.stdout.splitlines() if x.startswith("{")}, r.stderr


def test_sampled_records_get_no_timing_verdict(tmp_path, tmp_home):
    sessions = list(_oneway_sessions(4, 4, seed=3))
    plain = _collector_dir(tmp_path, sessions)
    found, _ = _scan(plain)
    mining_ports = {40000 + i for i, (sc, _) in enumerate(sessions) if sc.label}
    assert len(found & mining_ports) >= 3  # the same records, unsampled, give timing verdicts
    sampled = _sampled_copy(plain, tmp_path / "sampled", 1000)
    n_records = sum(len(recs) for _, recs in sessions)
    found_s, err = _scan(sampled)
    assert found_s == set()
    assert f"{n_records} NetFlow record(s) come from sampled exports" in err
    # an exporter that samples only some interfaces: the unsampled sessions are still judged
    keep = sorted(found & mining_ports)[:2]
    partly = _sampled_copy(plain, tmp_path / "partly", 100, only_ports=set(keep[1:]))
    found_p, _ = _scan(partly)
    assert keep[0] in found_p and keep[1] not in found_p
