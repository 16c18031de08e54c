"""Review 6, D5: a one-way flow record that ends before it starts is rejected with its position; the scan goes on.

NetFlow v5 First > Last (a buggy exporter) reached `behavior._spread` as a negative span and stopped the
whole scan (`ValueError: repeats may not contain negative values`), losing every verdict of the input.
"""

from __future__ import annotations

import json
import struct
from datetime import UTC, datetime, timedelta

import pyarrow as pa
from typer.testing import CliRunner

from minewatch.cli import app
from minewatch.net import behavior as B
from minewatch.net.intel import PoolIntel
from minewatch.net.logscan import REVERSED_RECORD, FlowLogScanner
from minewatch.sources.collector import PartitionedWriter
from minewatch.sources.netflow import ColumnBuffer, TemplateCache, decode_into

UPTIME = 20_000_000  # exporter uptime (ms) at export
EXPORT_S = 1_709_251_200  # 2024-03-01T00:00:00Z
CLIENT, SERVER = "10.9.9.9", "198.51.100.200"


def _ip4(s: str) -> bytes:
    return bytes(int(x) for x in s.split("."))


def _v5(records: list[tuple[str, str, int, int, int, int, int, int]], seq: int) -> bytes:
    """A NetFlow v5 export datagram (header + 48-byte records) as a router sends it."""
    hdr = struct.pack(">HHIIIIBBH", 5, len(records), UPTIME, EXPORT_S, 0, seq, 0, 0, 0)
    body = b"".join(
        struct.pack(">4s4s4sHHIIIIHHxBBBHHBBxx", _ip4(s), _ip4(d), _ip4("0.0.0.0"), 1, 2, pk, by, first, last,
                    sp, dp, 0x18, 6, 0, 0, 0, 24, 24)
        for (s, d, sp, dp, pk, by, first, last) in records
    )
    return hdr + body


def _connection_records(bad_at: int | None) -> list[tuple[str, str, int, int, int, int, int, int]]:
    """40 minutes of one connection in 60 s one-way records per direction; record `bad_at` of the client
    has First 150 s after Last (more than one grid bin back, the case that crashed)."""
    base = UPTIME - 41 * 60_000
    recs = []
    for k in range(40):
        a = base + k * 60_000
        b = a + 59_000
        first, last = (a + 150_000, a) if k == bad_at else (a, b)
        recs.append((CLIENT, SERVER, 40999, 443, 10, 10 * 52 + 600, first, last))
        recs.append((SERVER, CLIENT, 443, 40999, 5, 5 * 52 + 500, a + 100, b + 100))
    return recs


def _collector_dir(tmp_path, bad_at: int | None):
    """The collector's path: datagrams decoded into its column buffer, written as its Parquet folder."""
    recs = _connection_records(bad_at)
    cache, buf = TemplateCache(), ColumnBuffer()
    for i in range(0, len(recs), 30):
        events = decode_into(_v5(recs[i : i + 30], seq=i), "192.0.2.9:2055", cache, buf)
        assert not [e for e in events if e.kind == "reject"]
    out = tmp_path / "nf"
    w = PartitionedWriter(out)
    w.add(buf.take(), arrived_us=0, now=0.0)
    w.flush()
    return out


def test_v5_record_with_first_after_last_is_rejected_with_position_and_the_scan_goes_on(tmp_path, tmp_home):
    out = _collector_dir(tmp_path, bad_at=5)
    logs = FlowLogScanner(PoolIntel.builtin())
    logs.add_file(out, "netflow-parquet")
    logs.findings()  # raised ValueError before
    assert logs.rejects.counts[REVERSED_RECORD] == 1
    (example,) = [x for x in logs.rejects.examples if REVERSED_RECORD in x]
    assert str(out) in example and "record " in example and CLIENT in example
    r = CliRunner().invoke(app, ["scan", str(out), "--no-store", "--format", "jsonl", "-q"])
    assert r.exit_code == 0, r.output


def test_eve_netflow_event_ending_before_it_starts_is_rejected_by_line(tmp_path, tmp_home):
    t0 = datetime(2024, 3, 1, tzinfo=UTC)

    def ev(i: int, src: str, sp: int, dst: str, dp: int, pk: int, by: int, start: datetime, end: datetime) -> str:
        fmt = "%Y-%m-%dT%H:%M:%S.%f+0000"
        return json.dumps({"timestamp": end.strftime(fmt), "flow_id": 1000 + i, "event_type": "netflow",
                           "src_ip": src, "src_port": sp, "dest_ip": dst, "dest_port": dp, "proto": "TCP",
                           "netflow": {"pkts": pk, "bytes": by, "start": start.strftime(fmt), "end": end.strftime(fmt)}})

    lines = []
    for k in range(40):
        a, b = t0 + timedelta(minutes=k), t0 + timedelta(minutes=k, seconds=59)
        if k == 5:
            a, b = b + timedelta(seconds=150), a  # end 150 s before start
        lines.append(ev(2 * k, CLIENT, 40999, SERVER, 443, 10, 1120, a, b))
        lines.append(ev(2 * k + 1, SERVER, 443, CLIENT, 40999, 5, 760, a, b))
    path = tmp_path / "eve.json"
    path.write_text("\n".join(lines) + "\n")
    logs = FlowLogScanner(PoolIntel.builtin())
    logs.add_file(path, "eve")
    logs.findings()
    assert logs.rejects.counts["malformed EVE line: netflow end before start"] == 2
    assert any(x.startswith(f"{path}:11") for x in logs.rejects.examples), logs.rejects.examples
    r = CliRunner().invoke(app, ["scan", str(path), "--no-store", "--format", "jsonl", "-q"])
    assert r.exit_code == 0, r.output


def test_flow_table_with_a_reversed_one_way_record_is_scored_not_raised():
    """Other callers of the kernel (Spark, tests) hand rows straight to it: the record is skipped and tallied."""
    t0 = datetime(2024, 3, 1, tzinfo=UTC)
    rows = []
    for k in range(40):
        a, b = t0 + timedelta(minutes=k), t0 + timedelta(minutes=k, seconds=59)
        ca, cb = (b + timedelta(seconds=150), a) if k == 5 else (a, b)
        for src, sp, dst, dp, pk, by, s, e in ((CLIENT, 40999, SERVER, 443, 10, 1120, ca, cb),
                                               (SERVER, 443, CLIENT, 40999, 5, 760, a, b)):
            rows.append({"src_ip": src, "src_port": sp, "dst_ip": dst, "dst_port": dp, "transport": "tcp",
                         "source": None, "slice_start": s, "slice_end": e, "first_seen": s, "last_seen": e,
                         "duration_ms": None, "packets_fwd": pk, "bytes_fwd": by, "packets_rev": None,
                         "bytes_rev": None})
    tally: dict[str, int] = {}
    B.findings_from_flow_table(pa.Table.from_pylist(rows), tally=tally)
    assert tally["records_end_before_start"] == 1
