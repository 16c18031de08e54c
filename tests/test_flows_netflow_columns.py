"""The columnar NetFlow path: one numpy dtype per template, many datagrams per Arrow batch.

The expected values here are computed by hand from the bytes each test packs, never by the decoder.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from minewatch.sources.collector import Collector, PartitionedWriter
from minewatch.sources.netflow import (
    NETFLOW_SCHEMA,
    ColumnBuffer,
    TemplateCache,
    decode_datagram,
    decode_into,
    table_to_records,
)

EXPORT_S = 1_700_000_000
UPTIME = 5_000_000
NTP_OFFSET = 2_208_988_800


def ip4(s: str) -> bytes:
    return socket.inet_aton(s)


def ipfix(sets: list[tuple[int, bytes]], seq: int, domain: int = 3, export: int = EXPORT_S) -> bytes:
    body = b"".join(struct.pack(">HH", sid, 4 + len(p)) + p for sid, p in sets)
    return struct.pack(">HHIII", 10, 16 + len(body), export, seq, domain) + body


def v9(sets: list[tuple[int, bytes]], seq: int, uptime: int = UPTIME, secs: int = EXPORT_S) -> bytes:
    body = b"".join(struct.pack(">HH", sid, 4 + len(p)) + p for sid, p in sets)
    return struct.pack(">HHIIII", 9, len(sets), uptime, secs, seq, 1) + body


def v5(recs: list[tuple[str, str, int, int, int, int]], seq: int, uptime: int = UPTIME) -> bytes:
    hdr = struct.pack(">HHIIIIBBH", 5, len(recs), uptime, EXPORT_S, 0, seq, 0, 2, 0)
    return hdr + b"".join(
        struct.pack(">4s4s4sHHIIIIHHxBBBHHBBxx", ip4(s), ip4(d), ip4("192.0.2.254"), 3, 4, pk, by,
                    uptime - 2_000, uptime - 1_000, sp, dp, 0x12, 17, 8, 64512, 64513, 16, 24)
        for s, d, sp, dp, pk, by in recs
    )


def tmpl(tid: int, fields: list[tuple[int, int]] | list[tuple[int, int, int]]) -> bytes:
    out = struct.pack(">HH", tid, len(fields))
    for f in fields:
        if len(f) == 3 and f[2]:
            out += struct.pack(">HHI", 0x8000 | f[0], f[1], f[2])
        else:
            out += struct.pack(">HH", f[0], f[1])
    return out


def test_odd_field_kinds_on_the_fast_path():
    # src IPv6, dst IPv4, 3-byte bytes, 6-byte packets, MAC, NTP microsecond start, seconds end,
    # an enterprise element, an unknown element, and dstport twice (the last one counts).
    fields = [(27, 16), (12, 4), (1, 3), (2, 6), (56, 6), (154, 8), (151, 4), (77, 2, 4242), (999, 3),
              (11, 2), (11, 2)]
    src6 = "2001:db8::1:0:0:5"
    frac = 1 << 31  # half a second
    rec = (ipaddress.IPv6Address(src6).packed + ip4("198.51.100.20") + (70_000).to_bytes(3, "big")
           + (5_000_000_000).to_bytes(6, "big") + bytes.fromhex("0a1b2c3d4e5f")
           + struct.pack(">II", EXPORT_S + NTP_OFFSET - 10, frac) + struct.pack(">I", EXPORT_S)
           + b"\xbe\xef" + b"\x01\x02\x03" + struct.pack(">HH", 80, 8080))
    msg = ipfix([(2, tmpl(400, fields)), (400, rec * 2 + b"\x00\x00\x00")], seq=0)  # 3 bytes of padding
    recs, ev = decode_datagram(msg, "e:1", TemplateCache())
    assert [e.kind for e in ev] == ["template"]
    assert len(recs) == 2
    r = recs[0]
    assert r["src_ip"] == src6 and r["dst_ip"] == "198.51.100.20"
    assert r["bytes"] == 70_000 and r["packets"] == 5_000_000_000 and r["dst_port"] == 8080
    assert r["start"] == (EXPORT_S - 10) * 1_000_000 + 500_000 and r["end"] == EXPORT_S * 1_000_000
    assert r["proto"] is None and r["transport"] is None and r["src_port"] is None
    assert r["extra"] == {"sourceMacAddress": "0a:1b:2c:3d:4e:5f", "e4242.77": "beef", "ie999": "010203"}


def test_values_that_do_not_fit_become_null_not_errors():
    # 8-byte flowStartSeconds far beyond any date, a 4-byte port above int32, a 2-byte protocol of 300
    fields = [(8, 4), (150, 8), (7, 4), (4, 2), (6, 8)]
    rec = ip4("10.0.0.1") + struct.pack(">QIHQ", (1 << 64) - 1, 3_000_000_000, 300, 1 << 40)
    (r,), _ = decode_datagram(ipfix([(2, tmpl(300, fields)), (300, rec)], seq=0), "e:1", TemplateCache())
    assert r["src_ip"] == "10.0.0.1" and r["start"] is None and r["src_port"] is None
    assert r["proto"] is None and r["transport"] == "300" and r["tcp_flags"] is None


def test_per_record_path_values_that_do_not_fit_become_null_and_are_counted():
    """Review #1: on the variable-length (per-record) path an 8-byte port of 2^40, 8-byte start/end
    seconds beyond year 9999 and a sampling interval of 2^64-1 from an options record each made
    `take()` raise, losing every buffered record of every exporter. Now each value is null, the
    records (and the fixed-template records buffered with them) are kept, and the nulls are counted."""
    cache, buf = TemplateCache(), ColumnBuffer()
    good = [(8, 4), (12, 4), (7, 2), (2, 4)]
    var = [(8, 4), (7, 8), (11, 2), (82, 0xFFFF), (150, 8), (151, 8), (2, 8)]
    opt_t = struct.pack(">HHH", 256, 2, 1) + struct.pack(">HHHH", 149, 4, 34, 8)  # 8-byte interval
    far_s = 10**12  # seconds: year ~33658
    bad = (ip4("10.0.0.6") + struct.pack(">QH", 1 << 40, 3333) + b"\x03eth"
           + struct.pack(">QQQ", far_s, far_s + 60, 5))
    msgs = [
        ipfix([(2, tmpl(300, good)), (300, ip4("10.0.0.1") + ip4("10.0.0.2") + struct.pack(">HI", 80, 7))], seq=0),
        ipfix([(3, opt_t), (256, struct.pack(">IQ", 3, (1 << 64) - 1)), (2, tmpl(301, var)), (301, bad)], seq=1),
    ]
    for m in msgs:
        assert [e for e in decode_into(m, "e:1", cache, buf) if e.kind == "reject"] == []
    rows = {r["src_ip"]: r for r in table_to_records(buf.take())}
    assert rows["10.0.0.1"]["packets"] == 7 and rows["10.0.0.1"]["src_port"] == 80
    r = rows["10.0.0.6"]
    assert (r["src_port"], r["dst_port"], r["packets"], r["extra"]) == (None, 3333, 5, {"interfaceName": "eth"})
    assert r["start"] is None and r["end"] is None and r["sampling_interval"] is None
    nulled, failed = buf.take_notes()
    assert nulled == {"src_port": 1, "start": 1, "end": 1, "sampling_interval": 1} and not failed
    assert buf.take_notes() == (Counter(), Counter())  # read once


def test_times_outside_1970_to_9999_become_null_on_both_paths():
    """Review #3: an 8-byte flowStartSeconds of 10^12 (year ~33658) fits int64 microseconds, so the
    fixed-template path wrote it and every later `scan` of the output directory failed converting it
    to a datetime. Times must lie in 1970-01-01 .. 9999-12-31 on the fixed and the per-record path;
    outside they are null and counted (an NTP time of 0 is 1900; the last representable instant stays)."""
    last_s = 253_402_300_799  # 9999-12-31T23:59:59Z, still representable
    fields = [(8, 4), (150, 8), (153, 8), (154, 8)]
    rows = [("10.0.0.1", 10**12, (last_s + 1) * 1000, 0),  # start, end too late; NTP 0 = 1900
            ("10.0.0.2", last_s, EXPORT_S * 1000, (EXPORT_S + NTP_OFFSET) << 32)]
    body = b"".join(ip4(a) + struct.pack(">QQQ", s, e, ntp) for a, s, e, ntp in rows)
    for extra_field in ([], [(82, 0xFFFF)]):  # fixed template (column path), then variable-length
        suffix = b"\x00" if extra_field else b""
        rec = b"".join(body[i * 28:(i + 1) * 28] + suffix for i in range(2))
        cache, buf = TemplateCache(), ColumnBuffer()
        decode_into(ipfix([(2, tmpl(300, fields + extra_field)), (300, rec)], seq=0), "e:1", cache, buf)
        table = buf.take()
        got = {r["src_ip"]: (r["start"], r["end"]) for r in table_to_records(table)}
        assert got == {"10.0.0.1": (None, None), "10.0.0.2": (last_s * 1_000_000, EXPORT_S * 1_000_000)}
        table.to_pylist()  # every time converts to a datetime
        assert buf.take_notes()[0] == {"start": 1, "end": 1}
    # NTP start (the column used when no seconds/milliseconds start is present) before 1970
    fields = [(8, 4), (154, 8), (155, 8)]
    rec = ip4("10.0.0.3") + struct.pack(">QQ", 5 << 32, (EXPORT_S + NTP_OFFSET) << 32)
    buf = ColumnBuffer()
    decode_into(ipfix([(2, tmpl(300, fields)), (300, rec)], seq=0), "e:1", TemplateCache(), buf)
    (r,) = table_to_records(buf.take())
    assert r["start"] is None and r["end"] == EXPORT_S * 1_000_000
    assert buf.take_notes()[0] == {"start": 1}
    # v5 uptimes with a zeroed export time would land before 1970
    buf = ColumnBuffer()
    dg = v5([("10.0.0.4", "10.0.0.5", 1, 2, 3, 4)], seq=0)
    dg = dg[:8] + struct.pack(">I", 0) + dg[12:]  # unix_secs = 0
    decode_into(dg, "e:5", TemplateCache(), buf)
    (r,) = table_to_records(buf.take())
    assert r["start"] is None and r["end"] is None and buf.take_notes()[0] == {"start": 1, "end": 1}


def test_a_record_that_cannot_be_converted_costs_only_itself(monkeypatch):
    """Review #1, last line of defence: should a record still fail to convert (a bug nothing
    foresaw), `take()` halves the batch until only that record is left out, and names it by
    exporter, domain, template and message sequence; every other record, of its own data set, its
    own template and other exporters, is in the table."""
    import minewatch.sources.netflow as nf

    real = nf._group_batch
    poison = ip4("10.66.6.6")

    def fragile(g, *args):
        if any(poison in b for b in g.bodies):
            raise OverflowError("simulated conversion bug")
        return real(g, *args)

    monkeypatch.setattr(nf, "_group_batch", fragile)
    cache, buf = TemplateCache(), ColumnBuffer()
    fields = [(8, 4), (7, 2)]
    sets = [b"".join(ip4(f"10.1.{k}.{j}") + struct.pack(">H", 1 << 15 | j) for j in range(8)) for k in range(5)]
    sets[3] = sets[3][:18] + poison + sets[3][22:]  # record 3 of data set 3 (its port is 2^15 + 3)
    decode_into(ipfix([(2, tmpl(300, fields))], seq=0), "e:1", cache, buf)
    for k, body in enumerate(sets):
        decode_into(ipfix([(300, body)], seq=100 + k), "e:1", cache, buf)
    decode_into(v5([("10.5.0.1", "10.5.0.2", 1, 2, 3, 4)], seq=0), "e:5", cache, buf)
    # and a per-record row that cannot convert, among good ones from the variable-length path
    buf.slow.append({"src_ip": "10.77.0.1", "src_port": 1 << 40, "exporter": "e:7", "observation_domain": 3,
                     "template_id": 400, "sequence": 9})
    buf.slow.append({"src_ip": "10.77.0.2", "src_port": 7, "exporter": "e:7"})
    table = buf.take()
    ips = set(table.column("src_ip").to_pylist())
    assert len(ips) == table.num_rows == 5 * 8 - 1 + 1 + 1
    assert "10.66.6.6" not in ips and "10.77.0.1" not in ips and {"10.1.3.2", "10.1.3.4", "10.77.0.2"} <= ips
    _, failed = buf.take_notes()
    assert failed == {
        ("decoder error: OverflowError converting a record", "e:1 domain 3 template 300 sequence 103"): 1,
        ("decoder error: ArrowInvalid converting a record", "e:7 domain 3 template 400 sequence 9"): 1,
    }
    # `decode_datagram` reports it as a reject instead of returning nothing
    recs, ev = decode_datagram(ipfix([(300, sets[3])], seq=104 + 8), "e:1", cache)  # in sequence
    assert len(recs) == 7 and [(e.kind, e.count) for e in ev] == [("reject", 1)]


def test_system_init_inside_data_records_dates_each_record():
    fields = [(8, 4), (160, 8), (22, 4), (21, 4)]
    init_a, init_b = EXPORT_S * 1000 - 7_200_000, EXPORT_S * 1000 - 60_000
    body = (ip4("10.0.0.1") + struct.pack(">QII", init_a, 1_000, 2_000)
            + ip4("10.0.0.2") + struct.pack(">QII", init_b, 5_000, 6_000))
    cache = TemplateCache()
    recs, _ = decode_datagram(ipfix([(2, tmpl(300, fields)), (300, body)], seq=0), "e:1", cache)
    assert [(r["start"], r["end"]) for r in recs] == [
        ((init_a + 1_000) * 1000, (init_a + 2_000) * 1000),
        ((init_b + 5_000) * 1000, (init_b + 6_000) * 1000),
    ]
    assert recs[0]["extra"] == {"systemInitTimeMilliseconds": str(init_a)}
    assert cache.system_init_ms[("e:1", 3)] == init_b  # the last one seen dates later data


def test_options_between_data_sets_apply_only_to_later_data_in_the_same_batch():
    cache, buf = TemplateCache(), ColumnBuffer()
    fields = [(8, 4), (2, 4)]
    opt_t = struct.pack(">HHH", 256, 2, 1) + struct.pack(">HHHH", 149, 4, 34, 4)
    first = ipfix([(2, tmpl(300, fields)), (300, ip4("10.0.0.1") + struct.pack(">I", 1))], seq=0)
    second = ipfix([(3, opt_t), (256, struct.pack(">II", 3, 64)), (300, ip4("10.0.0.2") + struct.pack(">I", 2))],
                   seq=1)
    assert [e.kind for e in decode_into(first, "e:1", cache, buf)] == ["template"]
    assert "options" in [e.kind for e in decode_into(second, "e:1", cache, buf)]
    rows = sorted(table_to_records(buf.take()), key=lambda r: r["src_ip"])
    assert [(r["src_ip"], r["sampling_interval"], r["sequence"]) for r in rows] == [
        ("10.0.0.1", None, 0), ("10.0.0.2", 64, 1)]
    assert buf.rows == 0 and buf.take() is None


def _mixed_stream() -> list[tuple[str, bytes]]:
    """v5, v9 and IPFIX from three exporters, templates changing mid-stream, data held before its template."""
    out: list[tuple[str, bytes]] = []
    f9 = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (2, 4), (1, 4), (22, 4), (21, 4)]
    f9b = [(12, 4), (8, 4), (1, 8), (2, 8), (4, 1), (22, 4), (21, 4), (10, 2)]
    for k in range(40):
        out.append(("r5:1", v5([(f"10.5.{k}.{j}", "192.0.2.1", 1000 + j, 53, j + 1, 60 * (j + 1)) for j in range(7)],
                               seq=k * 7, uptime=UPTIME + 1000 * k)))
        sets: list[tuple[int, bytes]] = []
        if k in (0, 20):
            sets.append((0, tmpl(300, f9 if k == 0 else f9b)))
        lay = f9 if k < 20 else f9b
        body = b""
        for j in range(k % 5 + 1):
            if lay is f9:
                body += ip4(f"10.9.{k}.{j}") + ip4("203.0.113.9") + struct.pack(
                    ">HHBIIII", 40000 + j, 443, 6, 2 + j, 500 + j, UPTIME - 9000, UPTIME - 100 * j)
            else:
                body += ip4("203.0.113.9") + ip4(f"10.9.{k}.{j}") + struct.pack(
                    ">QQBIIH", 900 + j, 3 + j, 17, UPTIME - 500, UPTIME, 7)
        sets.append((300, body))
        out.append(("r9:2055", v9(sets, seq=k, uptime=UPTIME + 10 * k, secs=EXPORT_S + k)))
    opt_t = struct.pack(">HHH", 256, 2, 1) + struct.pack(">HHHH", 149, 4, 160, 8)
    fx = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (2, 4), (1, 4), (22, 4), (21, 4), (82, 0xFFFF)]
    data = b"".join(ip4(f"10.10.0.{j}") + ip4("198.51.100.1") + struct.pack(">HHBIIII", 5000 + j, 3333, 6, 1, 99,
                                                                           1000 + j, 2000 + j) + b"\x03abc"
                    for j in range(4))
    out.append(("rx:4739", ipfix([(257, data)], seq=0)))  # held: template comes next
    out.append(("rx:4739", ipfix([(3, opt_t), (256, struct.pack(">IQ", 3, EXPORT_S * 1000 - 50_000)),
                                  (2, tmpl(257, fx))], seq=4)))
    return out


def test_one_batch_for_many_datagrams_equals_one_batch_each():
    stream = _mixed_stream()
    cache_a, cache_b, buf = TemplateCache(), TemplateCache(), ColumnBuffer()
    separate: list[dict] = []
    for exporter, dg in stream:
        separate.extend(decode_datagram(dg, exporter, cache_a)[0])
        decode_into(dg, exporter, cache_b, buf)
    assert buf.rows == len(separate)
    table = buf.take()
    assert table.schema == NETFLOW_SCHEMA
    together = table_to_records(table)

    def key(r: dict) -> tuple:
        return tuple(sorted((k, str(v)) for k, v in r.items()))

    assert Counter(map(key, together)) == Counter(map(key, separate))
    # spot checks against the packed bytes
    by_src = {r["src_ip"]: r for r in together}
    r = by_src["10.9.3.2"]  # v9, first template, datagram k=3
    assert (r["dst_port"], r["bytes"], r["sequence"]) == (443, 502, 3)
    assert r["end"] == ((EXPORT_S + 3) * 1000 - (UPTIME + 30 - (UPTIME - 200))) * 1000
    r = by_src["10.9.25.0"]  # second template: destination field first, 8-byte counters
    assert (r["dst_ip"], r["bytes"], r["packets"], r["transport"], r["extra"]) == (
        "203.0.113.9", 900, 3, "udp", {"ingressInterface": "7"})
    r = by_src["10.5.39.6"]  # v5
    assert (r["packets"], r["bytes"], r["observation_domain"], r["extra"]["bgpDestinationAsNumber"]) == (
        7, 420, 2, "64513")
    r = by_src["10.10.0.3"]  # IPFIX, held, variable-length template, dated by the options record
    assert r["start"] == (EXPORT_S * 1000 - 50_000 + 1003) * 1000 and r["extra"]["interfaceName"] == "abc"


def test_writer_splits_a_batch_by_hour_and_keeps_undated_rows_by_arrival(tmp_path):
    h0 = datetime(2024, 3, 1, 10, 59, 59, tzinfo=UTC)
    h1 = datetime(2024, 3, 1, 11, 0, 0, tzinfo=UTC)
    rows = []
    for i, end in enumerate([h0, h1, None, h1]):
        rows.append({"src_ip": f"10.0.0.{i}", "end": int(end.timestamp() * 1e6) if end else None,
                     "start": None, "exporter": "e", "version": 9})
    buf = ColumnBuffer()
    buf.slow.extend(rows)
    table = buf.take()
    w = PartitionedWriter(tmp_path, max_rows=10)
    arrived = datetime(2024, 3, 2, 0, 30, tzinfo=UTC)
    w.add(table, int(arrived.timestamp() * 1e6), 0.0)
    assert w.flush() == 4
    got = {p.parent.parent.name + "/" + p.parent.name: ds.dataset(p).to_table().num_rows
           for p in tmp_path.rglob("part-*.parquet")}
    assert got == {"date=2024-03-01/hour=10": 1, "date=2024-03-01/hour=11": 2, "date=2024-03-02/hour=00": 1}


def test_collector_serve_loop_batches_and_writes_everything(tmp_path):
    col = Collector("127.0.0.1:0", tmp_path, flush_rows=1_000_000, flush_seconds=3600, take_rows=400)
    cap = Path("/proc/sys/net/core/rmem_max")
    # asked for 32 MiB: the kernel grants at least that or its cap (doubled for its bookkeeping)
    assert col.rcvbuf >= min(32 << 20, int(cap.read_text()) if cap.exists() else 1)
    fields = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (2, 4), (1, 4), (22, 4), (21, 4)]
    dgs = [v9([(0, tmpl(300, fields))], seq=0)]
    total = 0
    for k in range(1, 301):
        body = b"".join(ip4(f"10.1.{k % 250}.{j}") + ip4("10.2.0.1") + struct.pack(
            ">HHBIIII", 1000 + j, 443, 6, 1, k * 100 + j, UPTIME - 5000, UPTIME) for j in range(10))
        total += sum(k * 100 + j for j in range(10))
        dgs.append(v9([(300, body)], seq=k))
    th = threading.Thread(target=col.serve, kwargs={"max_seconds": 30})
    th.start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("127.0.0.1", col.bound[1]))
        for d in dgs:
            s.send(d)
    deadline = time.monotonic() + 20
    while col.counters.datagrams < len(dgs) and time.monotonic() < deadline:
        time.sleep(0.05)
    col.request_stop()
    th.join(timeout=30)
    c = col.counters
    assert not th.is_alive() and c.datagrams == len(dgs) and c.records == 3000 and c.seq_gaps == 0
    t = ds.dataset(tmp_path, format="parquet", partitioning="hive").to_table()
    assert t.num_rows == c.rows_written == 3000 and pc.sum(t["bytes"]).as_py() == total
    assert pa.types.is_timestamp(t.schema.field("start").type)
    assert list((tmp_path / "_stats").glob("collector-*.json"))


def test_a_failure_that_hits_every_record_is_not_bisected_to_single_records():
    """A conversion bug that fails every record must not cost ~2n conversions on the receive thread:
    the search stops at SPLIT_BUDGET and the rest is rejected whole; every record is still accounted for."""
    from minewatch.sources.convert import SPLIT_BUDGET, convert_or_split

    calls = 0
    rejected: list[int] = []

    def convert(item):
        nonlocal calls
        calls += 1
        raise OverflowError("always")

    def split(item):
        return None if len(item) <= 1 else [item[: len(item) // 2], item[len(item) // 2 :]]

    out: list = []
    convert_or_split(list(range(50_000)), convert, split, lambda it, exc: rejected.append(len(it)), out)
    assert calls <= SPLIT_BUDGET + 1 and sum(rejected) == 50_000 and not out
