"""The recvmmsg receive path gives exactly what the portable recvfrom loop gives.

Both collectors get the same datagrams from the same sender sockets over loopback (v5, v9 with data
before its template, IPFIX with an options record, a 60 KB datagram, garbage), then their Parquet
output and counters are compared. Also: batching really happens, the fallback is chosen and
reported when recvmmsg is missing, and raw sockaddrs are named as Python's own recvfrom names them.
"""

from __future__ import annotations

import json
import re
import socket
import struct
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

import minewatch.sources.collector as collector_mod
from collector_proc import CollectorProcess
from minewatch.errors import InputError
from minewatch.sources.collector import Collector, sockaddr_name

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="recvmmsg is Linux-only")

EXPORT_S = 1_700_000_000
UPTIME = 5_000_000
FIELDS = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (2, 4), (1, 4), (22, 4), (21, 4)]
REC = struct.Struct(">4s4sHHBIIII")
V5_REC = struct.Struct(">4s4s4sHHIIIIHHxBBBHHBBxx")


def _rec(k: int, j: int) -> bytes:
    return REC.pack(socket.inet_aton(f"10.{k % 250}.{j % 250}.1"), socket.inet_aton("192.0.2.7"), 1024 + j, 443, 6,
                    1 + j, 60 * (j + 1), UPTIME - 9_000, UPTIME - 1_000)


def _tmpl(tid: int) -> bytes:
    return struct.pack(">HH", tid, len(FIELDS)) + b"".join(struct.pack(">HH", i, ln) for i, ln in FIELDS)


def _v9(sets: list[tuple[int, bytes]], seq: int, source_id: int = 1) -> bytes:
    body = b"".join(struct.pack(">HH", sid, 4 + len(p)) + p for sid, p in sets)
    return struct.pack(">HHIIII", 9, len(sets), UPTIME, EXPORT_S, seq, source_id) + body


def _ipfix(sets: list[tuple[int, bytes]], seq: int) -> bytes:
    body = b"".join(struct.pack(">HH", sid, 4 + len(p)) + p for sid, p in sets)
    return struct.pack(">HHIII", 10, 16 + len(body), EXPORT_S, seq, 4) + body


def _v5(k: int) -> bytes:
    hdr = struct.pack(">HHIIIIBBH", 5, 3, UPTIME, EXPORT_S, 0, 3 * k, 0, 1, 0)
    return hdr + b"".join(
        V5_REC.pack(socket.inet_aton(f"172.16.{k % 250}.{j}"), socket.inet_aton("198.51.100.9"), b"\0" * 4, 1, 2,
                    2 + j, 100 + j, UPTIME - 4_000, UPTIME - 500, 2000 + j, 3333, 0x18, 17, 0, 0, 0, 16, 24)
        for j in range(3)
    )


def _streams() -> tuple[list[bytes], list[bytes]]:
    """Two exporters' datagrams: (v9 + v5 + garbage, IPFIX with options and a 60 KB datagram)."""
    a: list[bytes] = [_v9([(300, b"".join(_rec(0, j) for j in range(5)))], seq=0)]  # before its template
    a.append(_v9([(0, _tmpl(300))], seq=1))
    a += [_v9([(300, b"".join(_rec(k, j) for j in range(20)))], seq=k + 1) for k in range(1, 150)]
    a += [_v5(k) for k in range(40)] + [b"\x00\x09junk", b"\x01"]
    opt_t = struct.pack(">HHH", 256, 2, 1) + struct.pack(">HHHH", 149, 4, 160, 8)
    opt_d = struct.pack(">IQ", 4, EXPORT_S * 1000 - UPTIME)
    b: list[bytes] = [_ipfix([(2, _tmpl(400)), (3, opt_t), (256, opt_d)], seq=0)]
    seq = 1
    for k in range(60):
        n = 2_000 if k == 30 else 25  # 2 000 x 29 bytes: a 58 KB datagram, near the UDP limit
        b.append(_ipfix([(400, b"".join(_rec(k, j) for j in range(n)))], seq=seq))
        seq += n
    return a, b


def _collect(col: Collector, senders: list[tuple[socket.socket, list[bytes]]]) -> None:
    """Send every datagram (interleaving the senders), then drain until all arrived."""
    total = sum(len(d) for _, d in senders)
    for i in range(max(len(d) for _, d in senders)):
        for s, dgs in senders:
            if i < len(dgs):
                s.sendto(dgs[i], col.bound)
    deadline = time.monotonic() + 20
    while col.counters.datagrams < total and time.monotonic() < deadline:
        col._recv_one()


def _table(out: Path) -> pa.Table:
    t = ds.dataset(out, format="parquet", partitioning="hive").to_table()
    keys = ["exporter", "version", "sequence", "src_ip", "src_port", "dst_ip", "dst_port", "bytes"]
    return t.sort_by([(k, "ascending") for k in keys])


def _run_both(tmp_path: Path, host: str, family: socket.AddressFamily) -> tuple[pa.Table, pa.Table]:
    a, b = _streams()
    mm = Collector(f"[{host}]:0" if ":" in host else f"{host}:0", tmp_path / "mm", receiver="recvmmsg",
                   take_rows=1_000_000)
    rf = Collector(f"[{host}]:0" if ":" in host else f"{host}:0", tmp_path / "rf", receiver="recvfrom",
                   take_rows=1_000_000)
    assert mm.counters.receive_path == "recvmmsg" and rf.counters.receive_path == "recvfrom"
    with socket.socket(family, socket.SOCK_DGRAM) as s1, socket.socket(family, socket.SOCK_DGRAM) as s2:
        s1.bind((host, 0))
        s2.bind((host, 0))
        for col in (mm, rf):
            _collect(col, [(s1, a), (s2, b)])
    cm, cr = mm.close(), rf.close()
    da, dr = cm.as_dict(), cr.as_dict()
    for k in ("receive_path", "receive_fallback", "receive_calls"):
        da.pop(k), dr.pop(k)
    assert da == dr
    assert cm.datagrams == len(a) + len(b) and cm.rejects.total == 2
    return _table(tmp_path / "mm"), _table(tmp_path / "rf")


def test_recvmmsg_and_recvfrom_write_identical_parquet(tmp_path: Path) -> None:
    tm, tr = _run_both(tmp_path, "127.0.0.1", socket.AF_INET)
    assert tm.num_rows == 5 + 149 * 20 + 40 * 3 + 59 * 25 + 2_000
    assert tm.equals(tr)
    assert set(tm["exporter"].to_pylist()) <= {f"127.0.0.1:{p}" for p in range(1, 65536)}
    assert len(set(tm["exporter"].to_pylist())) == 2
    assert tm.filter(pa.compute.equal(tm["version"], 10))["start"].null_count == 0  # options record dated them


def test_ipv6_exporters_are_named_alike(tmp_path: Path) -> None:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    tm, tr = _run_both(tmp_path, "::1", socket.AF_INET6)
    assert tm.equals(tr) and tm.num_rows > 0
    assert all(re.fullmatch(r"::1:\d+", e) for e in tm["exporter"].to_pylist())


def test_recvmmsg_batches_and_respects_the_limit(tmp_path: Path) -> None:
    col = Collector("127.0.0.1:0", tmp_path, receiver="recvmmsg", mmsg_slots=16)
    dgs = [_v5(k) for k in range(100)]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for d in dgs:
            s.sendto(d, col.bound)
    time.sleep(0.2)
    assert col._drain(5) == 5 and col.counters.receive_calls == 1  # one call, capped at the limit
    assert col._drain(None) == 95
    assert col.counters.receive_calls <= 1 + 7  # 95 in slots of 16 (loopback queues them all at once)
    c = col.close()
    assert c.records == 300 and c.seq_gaps == 0 and c.seq_reorder == 0


def test_auto_falls_back_and_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Missing:
        def __init__(self, fd: int, slots: int = 64) -> None:
            raise AttributeError("undefined symbol: recvmmsg")

    monkeypatch.setattr(collector_mod, "MMsgReceiver", Missing)
    col = Collector("127.0.0.1:0", tmp_path, receiver="auto")
    assert col.counters.receive_path == "recvfrom" and "recvmmsg" in (col.counters.receive_fallback or "")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(_v5(0), col.bound)
    assert col._recv_one()
    c = col.close()
    assert c.records == 3 and c.receive_calls == 1
    stats = json.loads(next((tmp_path / "_stats").glob("*.json")).read_text())
    assert stats["receive_path"] == "recvfrom" and "recvmmsg" in stats["receive_fallback"]
    with pytest.raises(AttributeError):
        Collector("127.0.0.1:0", tmp_path, receiver="recvmmsg")
    with pytest.raises(InputError, match="receiver"):
        Collector("127.0.0.1:0", tmp_path, receiver="epoll")


def test_sockaddr_names_match_python() -> None:
    fam = socket.AF_INET.to_bytes(2, sys.byteorder)
    assert sockaddr_name(fam + struct.pack(">H4s", 2055, socket.inet_aton("192.0.2.1")) + b"\0" * 8) == "192.0.2.1:2055"
    fam6 = socket.AF_INET6.to_bytes(2, sys.byteorder)
    raw = fam6 + struct.pack(">HI16s", 9995, 0, socket.inet_pton(socket.AF_INET6, "2001:db8::7")) + b"\0" * 4
    assert sockaddr_name(raw) == "2001:db8::7:9995"
    assert sockaddr_name(b"\x01\x00junk").startswith("family1:")


@pytest.mark.parametrize("receiver", ["recvmmsg", "recvfrom"])
def test_sigterm_loses_nothing_on_either_path(tmp_path: Path, receiver: str) -> None:
    out = tmp_path / "out"
    with CollectorProcess(out, env={"MINEWATCH_COLLECTOR_RECEIVER": receiver}) as col:
        dgs = [_v5(k) for k in range(300)]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for d in dgs:
                s.sendto(d, ("127.0.0.1", col.port))
        rc, err = col.stop()  # at once: some datagrams are likely still in the kernel queue
    assert rc == 0, err
    t = ds.dataset(out, format="parquet", partitioning="hive").to_table()
    assert t.num_rows == 900 and "datagrams 300" in err
    stats = json.loads(next((out / "_stats").glob("*.json")).read_text())
    assert stats["receive_path"] == receiver


def test_a_receiver_that_misreads_fails_its_self_test(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class OffByOne(collector_mod.MMsgReceiver):  # as a libc with another msghdr layout would read
        def batch(self, k: int) -> tuple[list[int], list[int]]:
            lens, names = super().batch(k)
            return [n + 1 for n in lens], names

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s, pytest.raises(OSError, match="self-test"):
        OffByOne(s.fileno())
    monkeypatch.setattr(collector_mod, "MMsgReceiver", OffByOne)
    col = Collector("127.0.0.1:0", tmp_path)
    assert col.counters.receive_path == "recvfrom" and "self-test" in (col.counters.receive_fallback or "")
    col.close()


def test_payloads_across_the_two_iovecs_arrive_whole() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx_sock, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        rx_sock.bind(("127.0.0.1", 0))
        rx = collector_mod.MMsgReceiver(rx_sock.fileno(), slots=8)
        small = rx.SMALL
        sizes = [1, small - 1, small, small + 1, 3 * small + 5, 65_507]
        sent = [bytes((i * 7 + j) % 251 for j in range(n)) for i, n in enumerate(sizes)]
        for d in sent:
            tx.sendto(d, rx_sock.getsockname())
        time.sleep(0.1)
        k = rx.recv()
        lens, name_lens = rx.batch(k)
        assert k == len(sizes) and lens == sizes and set(name_lens) == {16}
        assert [rx.payload(i, n) for i, n in enumerate(lens)] == sent
        assert rx.recv() == 0  # drained: EAGAIN is "nothing", not an error
