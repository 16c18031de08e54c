"""The collector's faster paths give exactly what the plain ones give.

Addresses are checked against the C library's `inet_ntoa`, repeated texts against Python string
joins, and the collector's inlined receive loop against `Collector.handle` on the same bytes.
"""

from __future__ import annotations

import socket
import struct
import time
from pathlib import Path

import numpy as np

from minewatch.sources.collector import Collector
from minewatch.sources.netflow import (
    ColumnBuffer,
    TemplateCache,
    _ip4_text,
    _repeat_text,
    decode_into,
    table_to_records,
)

V5_REC = struct.Struct(">4s4s4sHHIIIIHHxBBBHHBBxx")


def test_dotted_quads_match_inet_ntoa() -> None:
    rng = np.random.default_rng(5)
    edge = [0, 1, 9, 10, 99, 100, 255, 256, 0x0A000064, 0x7F000001, 0xC0A80001, 0xFFFFFFFF, 0x01020304,
            0x00FF00FF, 0xFF00FF00]
    u = np.concatenate([np.array(edge, np.uint64), rng.integers(0, 1 << 32, 5000, dtype=np.uint64)])
    got = _ip4_text(u.astype(np.uint32)).to_pylist()
    assert got == [socket.inet_ntoa(int(x).to_bytes(4, "big")) for x in u]


def test_repeated_texts_are_laid_out_record_major() -> None:
    keys = ["ipNextHopIPv4Address", "ingressInterface", "", "é"]  # an empty key and a non-ASCII one
    assert _repeat_text(keys, 3).to_pylist() == keys * 3
    assert _repeat_text(["127.0.0.1:9"], 0).to_pylist() == []


def _v5(k: int, per: int = 3) -> bytes:
    hdr = struct.pack(">HHIIIIBBH", 5, per, 86_400_000, 1_700_000_000, 0, k * per, 0, 1, 0)
    body = b"".join(
        V5_REC.pack(socket.inet_aton(f"10.{k}.{j}.{200 + j}"), socket.inet_aton("192.0.2.7"),
                    socket.inet_aton("198.51.100.1"), 3 + j, 4, 5 + j, 500 * j + 1, 86_390_000, 86_399_000,
                    1024 + j, 443, 0x1B, 6, j, 64500 + j, 64510, 24, 16)
        for j in range(per)
    )
    return hdr + body


def test_v5_extra_map_matches_per_record_values() -> None:
    buf = ColumnBuffer()
    decode_into(_v5(1) + b"", "192.0.2.1:2055", TemplateCache(), buf)
    rows = table_to_records(buf.take())
    assert [r["src_ip"] for r in rows] == ["10.1.0.200", "10.1.1.201", "10.1.2.202"]
    for j, r in enumerate(rows):
        assert r["extra"] == {
            "ipNextHopIPv4Address": "198.51.100.1", "ingressInterface": str(3 + j), "egressInterface": "4",
            "ipClassOfService": str(j), "bgpSourceAsNumber": str(64500 + j), "bgpDestinationAsNumber": "64510",
            "sourceIPv4PrefixLength": "24", "destinationIPv4PrefixLength": "16",
        }  # fmt: skip


def test_inlined_receive_loop_counts_like_handle(tmp_path: Path) -> None:
    dgs = [_v5(k) for k in range(40)] + [b"\x00\x07garbage", b"\x00"]
    dgs.insert(10, _v5(20))  # a duplicate: counted as a reordering, its records kept
    live = Collector("127.0.0.1:0", tmp_path / "live", take_rows=1_000_000)
    ref = Collector("127.0.0.1:0", tmp_path / "ref", take_rows=1_000_000)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        exporter = f"127.0.0.1:{s.getsockname()[1]}"
        for d in dgs:
            s.sendto(d, live.bound)
        deadline = time.monotonic() + 10
        while live.counters.datagrams < len(dgs) and time.monotonic() < deadline:
            live._recv_one()
    for d in dgs:
        ref.handle(d, exporter, 0.0)
    a, b = live.close(), ref.close()
    for name in ("datagrams", "datagram_bytes", "records", "rows_written", "seq_gaps", "seq_lost", "seq_reorder"):
        assert getattr(a, name) == getattr(b, name), name
    assert a.by_version == b.by_version == {5: 41, 7: 1}
    assert a.rejects.counts == b.rejects.counts and a.rejects.total == 2
    assert a.records == 41 * 3
