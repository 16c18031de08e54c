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


def test_sampled_records_are_still_judged_by_pool_names(tmp_path, tmp_home):
    import pyarrow.compute as pc

    sessions = list(_oneway_sessions(2, 0, seed=3))
    plain = _collector_dir(tmp_path, sessions)
    t = ds.dataset(str(plain), format="parquet", partitioning="hive").to_table()
    t = t.select([c for c in t.column_names if c not in ("date", "hour")])
    # the first client's sessions go to a stratum port of a built-in pool, named by a DNS answer
    pool_ip = "198.51.100.1"
    for col in ("dst_port", "src_port"):
        ip_col = "dst_ip" if col == "dst_port" else "src_ip"
        moved = pc.if_else(pc.and_(pc.equal(t[ip_col], pool_ip), pc.equal(t[col], 443)), 3333, t[col])
        t = t.set_column(t.schema.get_field_index(col), col, moved.cast(pa.int32()))
    t = t.set_column(t.schema.get_field_index("sampling_interval"), "sampling_interval",
                     pa.array([1000] * t.num_rows, pa.int64()))
    out = tmp_path / "sampled"
    w = PartitionedWriter(out)
    w.add(t, arrived_us=0, now=0.0)
    w.flush()
    first = pc.min(t["start"]).as_py().timestamp()
    dns = tmp_path / "dns.log"
    head = ["#separator \\x09", "#set_separator\t,", "#empty_field\t(empty)", "#unset_field\t-", "#path\tdns",
            "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tquery\tanswers\tTTLs",
            "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tvector[string]\tvector[interval]"]
    dns.write_text("\n".join([*head, f"{first - 5:.6f}\tD1\t10.0.1.2\t5353\t10.0.0.53\t53\tudp\txmr.f2pool.com\t"
                              f"{pool_ip}\t600.0"]) + "\n")
    r = CliRunner().invoke(app, ["scan", str(dns), str(out), "--no-store", "--format", "jsonl"])
    assert r.exit_code == 0, r.output
    got = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert got and all(f["dst_ip"] == pool_ip and f["dst_port"] == 3333 for f in got)
    assert all("pool_domain" in f["subscores"] and not any(k.startswith("timing") for k in f["subscores"])
               for f in got)
    assert all(f["detector"] != "net.behavior" for f in got)
