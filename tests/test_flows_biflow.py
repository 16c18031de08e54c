"""RFC 5103 biflow IPFIX: the reverse direction's counters (enterprise 29305) are kept, and a biflow
export is judged like two-way flow slices: aligned windows, `lockstep` readable, no pairing needed."""

from __future__ import annotations

import json
import socket
import struct
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.dataset as ds
from typer.testing import CliRunner

from minewatch.cli import app
from minewatch.evaluate import encrypted as E
from minewatch.sources.collector import Collector
from minewatch.sources.netflow import (
    ColumnBuffer,
    TemplateCache,
    decode_datagram,
    decode_into,
    netflow_to_flows,
)

EXPORT_S = 1_700_000_000
PEN = 29305
#: src, dst, sport, dport, proto, packets, bytes, reverse packets, reverse bytes, reverse flags, start/end ms
TEMPLATE = (struct.pack(">HH", 300, 12) + struct.pack(">HHHHHHHHHHHHHH", 8, 4, 12, 4, 7, 2, 11, 2, 4, 1, 2, 8, 1, 8)
            + struct.pack(">HHI", 0x8000 | 2, 8, PEN) + struct.pack(">HHI", 0x8000 | 1, 8, PEN)
            + struct.pack(">HHI", 0x8000 | 6, 1, PEN) + struct.pack(">HHHH", 152, 8, 153, 8))
REC = struct.Struct(">4s4sHHBQQQQBQQ")


def message(records: list[tuple], seq: int, export: int = EXPORT_S) -> bytes:
    sets = [(2, TEMPLATE), (300, b"".join(REC.pack(*r) for r in records))]
    body = b"".join(struct.pack(">HH", sid, 4 + len(p)) + p for sid, p in sets)
    return struct.pack(">HHIII", 10, 16 + len(body), export, seq, 1) + body


def rec(src: str, dst: str, sp: int, dp: int, pk: int, by: int, rpk: int, rby: int, t0_ms: int, t1_ms: int) -> tuple:
    return (socket.inet_aton(src), socket.inet_aton(dst), sp, dp, 6, pk, by, rpk, rby, 0x1A, t0_ms, t1_ms)


def test_reverse_counters_decoded_by_both_decoders_and_mapped_to_flows():
    msg = message([rec("10.0.0.1", "192.0.2.9", 40000, 443, 12, 1500, 9, 4200, 1_700_000_000_000,
                       1_700_000_060_000)], seq=0)
    (r,), events = decode_datagram(msg, "e:1", TemplateCache())
    assert [e.kind for e in events if e.kind == "reject"] == []
    assert (r["packets"], r["bytes"], r["packets_rev"], r["bytes_rev"], r["tcp_flags_rev"]) == (12, 1500, 9, 4200, 0x1A)
    assert not any(k.startswith("e29305") for k in (r["extra"] or {}))
    buf = ColumnBuffer()
    decode_into(msg, "e:1", TemplateCache(), buf, 0.0)
    t = buf.take()
    assert t.column("packets_rev").to_pylist() == [9] and t.column("bytes_rev").to_pylist() == [4200]
    assert t.column("tcp_flags_rev").to_pylist() == [0x1A]
    flows = netflow_to_flows(t, source="x")
    assert flows.column("packets_rev").to_pylist() == [9] and flows.column("bytes_rev").to_pylist() == [4200]
    # a one-way record keeps its reverse side unknown, not 0
    one_way = netflow_to_flows(t.drop_columns(["packets_rev", "bytes_rev", "tcp_flags_rev"]), source="x")
    assert one_way.column("packets_rev").null_count == 1


def biflow_dir(tmp_path: Path, n_mining: int = 4, n_benign: int = 4, seed: int = 31) -> tuple[Path, list, Any]:
    """Simulated sessions as biflow IPFIX 60 s slices, through an in-process collector into Parquet."""
    scripts = E.make_scripts(n_mining, n_benign, seed, dur=(1800.0, 2400.0), extended=False)
    rng = np.random.default_rng(seed + 1)
    out = tmp_path / "nf"
    col = Collector("127.0.0.1:0", out)
    seq = 0
    for i, sc in enumerate(scripts):
        mt, md, ml = E.script_messages(sc, rng)
        t, d, ln = E.wire_packets(mt, md, ml, sc.rtt)
        t0 = 1.7e9 + 4000 * i
        v = E.slice_view(t + t0, d, ln, t0)
        recs = [rec(f"10.2.0.{i + 2}", "198.51.100.9", 40000 + i, 443, int(pf), int(bf), int(pr), int(br),
                    int(a * 1000), int(b * 1000))
                for a, b, pf, pr, bf, br in zip(v["slice_start"], v["slice_end"], v["packets_fwd"], v["packets_rev"],
                                                v["bytes_fwd"], v["bytes_rev"], strict=True)]
        for j in range(0, len(recs), 20):
            part = recs[j : j + 20]
            col.handle(message(part, seq, export=int(v["slice_end"].max()) + 1), "e:1", 0.0)
            seq += len(part)
    return out, scripts, col.close()


def test_biflow_60s_slices_through_the_collector_are_judged_from_aligned_slices(tmp_path, tmp_home):
    out, scripts, c = biflow_dir(tmp_path)
    assert c.rejects.total == 0 and c.seq_gaps == 0
    table = ds.dataset(out, partitioning="hive").to_table()
    assert table.column("packets_rev").null_count == 0
    r = CliRunner().invoke(app, ["scan", str(out), "--no-store", "--format", "jsonl", "-q"])
    assert r.exit_code == 0, r.output
    got = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    mining = {40000 + i for i, sc in enumerate(scripts) if sc.label}
    ports = {f["src_port"] for f in got}
    assert ports <= mining and len(ports) >= 3, (ports, mining)
    assert all(f["extra"]["behavior_view"] == "slices" for f in got)
    assert datetime.fromisoformat(got[0]["first_seen"].replace("Z", "+00:00")) > datetime(2023, 1, 1, tzinfo=UTC)
