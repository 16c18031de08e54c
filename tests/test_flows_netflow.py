"""NetFlow v5/v9/IPFIX decoder and collector, on datagrams these tests build byte by byte."""

from __future__ import annotations

import socket
import struct
import time
from datetime import UTC, datetime

import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector_proc import CollectorProcess
from minewatch.sources.collector import Collector, parse_listen
from minewatch.sources.netflow import TemplateCache, decode_datagram, netflow_to_flows, records_to_batch

EXPORT_S = 1_700_000_000  # 2023-11-14T22:13:20Z
UPTIME = 5_000_000  # ms


def ip4(s: str) -> bytes:
    return socket.inet_aton(s)


def v5(records: list[tuple], seq: int = 0, uptime: int = UPTIME, secs: int = EXPORT_S, nsecs: int = 0) -> bytes:
    hdr = struct.pack(">HHIIIIBBH", 5, len(records), uptime, secs, nsecs, seq, 0, 7, 0)
    body = b"".join(
        struct.pack(">4s4s4sHHIIIIHHxBBBHHBBxx", ip4(s), ip4(d), ip4("0.0.0.0"), 1, 2, pk, by, first, last,
                    sp, dp, 0x18, proto, 0, 0, 0, 24, 24)
        for (s, d, sp, dp, proto, pk, by, first, last) in records
    )
    return hdr + body


def v9(flowsets: list[tuple[int, bytes]], seq: int, source_id: int = 1, uptime: int = UPTIME) -> bytes:
    body = b""
    for fid, payload in flowsets:
        pad = (-len(payload)) % 4
        body += struct.pack(">HH", fid, 4 + len(payload) + pad) + payload + b"\0" * pad
    return struct.pack(">HHIIII", 9, len(flowsets), uptime, EXPORT_S, seq, source_id) + body


def ipfix(sets: list[tuple[int, bytes]], seq: int, domain: int = 3, export: int = EXPORT_S) -> bytes:
    body = b"".join(struct.pack(">HH", sid, 4 + len(p)) + p for sid, p in sets)
    return struct.pack(">HHIII", 10, 16 + len(body), export, seq, domain) + body


#: A classic 5-tuple template: src, dst, sport, dport, proto, packets, bytes, first, last (uptime ms)
FIELDS = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (2, 4), (1, 8), (22, 4), (21, 4)]
REC = struct.Struct(">4s4sHHBIQII")


def tmpl(tid: int, fields: list[tuple[int, int]]) -> bytes:
    return struct.pack(">HH", tid, len(fields)) + b"".join(struct.pack(">HH", i, ln) for i, ln in fields)


def data_rec(src: str, dst: str, sp: int, dp: int, pk: int, by: int, first: int, last: int) -> bytes:
    return REC.pack(ip4(src), ip4(dst), sp, dp, 6, pk, by, first, last)


def kinds(events) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in events:
        out[e.kind] = out.get(e.kind, 0) + e.count
    return out


def us(dt: datetime) -> int:
    return int(dt.timestamp() * 1_000_000)


def test_v5_fields_and_uptime_to_utc():
    dg = v5([("10.0.0.1", "192.0.2.9", 40000, 3333, 6, 12, 3456, UPTIME - 60_000, UPTIME - 1_000)],
            nsecs=500_000_000)
    recs, events = decode_datagram(dg, "198.51.100.1:9999", TemplateCache())
    assert kinds(events) == {}
    (r,) = recs
    assert (r["src_ip"], r["dst_ip"], r["src_port"], r["dst_port"]) == ("10.0.0.1", "192.0.2.9", 40000, 3333)
    assert (r["transport"], r["packets"], r["bytes"], r["tcp_flags"], r["version"]) == ("tcp", 12, 3456, 0x18, 5)
    export_us = EXPORT_S * 1_000_000 + 500_000
    assert r["start"] == export_us - 60_000_000 and r["end"] == export_us - 1_000_000
    assert r["observation_domain"] == 7 and r["extra"]["sourceIPv4PrefixLength"] == "24"


def test_v5_uptime_wrap_keeps_flow_before_export():
    # the flow started before the exporter's uptime counter wrapped past 2^32 ms
    dg = v5([("10.0.0.1", "10.0.0.2", 1, 2, 17, 1, 60, (1 << 32) - 2_000, 500)], uptime=1_000)
    (r,), _ = decode_datagram(dg, "e:1", TemplateCache())
    assert r["start"] == (EXPORT_S * 1000 - 3_000) * 1000 and r["end"] == (EXPORT_S * 1000 - 500) * 1000


def test_v5_count_lies_is_rejected():
    dg = v5([("10.0.0.1", "10.0.0.2", 1, 2, 17, 1, 60, 0, 0)])
    recs, events = decode_datagram(dg[:-10], "e:1", TemplateCache())
    assert recs == [] and kinds(events) == {"reject": 1}


def test_v9_data_before_template_is_held_then_released_and_seq_gap_counted():
    cache = TemplateCache()
    data = data_rec("10.1.1.1", "203.0.113.5", 50000, 443, 7, 900, UPTIME - 10_000, UPTIME - 5_000)
    recs, ev = decode_datagram(v9([(300, data * 2)], seq=10), "e:1", cache, now=1.0)
    assert recs == [] and kinds(ev) == {"held": 1} and cache.held_count == 1
    # the template arrives two export packets later (one lost in between)
    recs, ev = decode_datagram(v9([(0, tmpl(300, FIELDS))], seq=12), "e:1", cache, now=2.0)
    k = kinds(ev)
    assert k["template"] == 1 and k["released"] == 1 and k["seq_gap"] == 1
    assert len(recs) == 2 and cache.held_count == 0
    assert recs[0]["dst_port"] == 443 and recs[0]["bytes"] == 900 and recs[0]["template_id"] == 300
    assert recs[0]["start"] == (EXPORT_S * 1000 - 10_000) * 1000
    # another exporter using the same template id does not see this template
    recs, ev = decode_datagram(v9([(300, data)], seq=1), "e:2", cache, now=3.0)
    assert recs == [] and kinds(ev) == {"held": 1}
    # neither does another source id of the same exporter
    recs, ev = decode_datagram(v9([(300, data)], seq=1, source_id=2), "e:1", cache, now=3.0)
    assert recs == [] and kinds(ev) == {"held": 1}
    assert cache.expire_held(now=3.0 + cache.max_held_age_s + 1) == 2


def test_v9_options_template_sets_sampling():
    cache = TemplateCache()
    # scope: system (type 1, 4 bytes); option: SAMPLING_INTERVAL (34, 4 bytes)
    opt_t = struct.pack(">HHHHHHH", 400, 4, 4, 1, 4, 34, 4)
    opt_d = struct.pack(">II", 0, 100)
    recs, ev = decode_datagram(
        v9([(1, opt_t), (400, opt_d), (0, tmpl(300, FIELDS)),
            (300, data_rec("10.0.0.1", "10.0.0.2", 1, 2, 3, 4, UPTIME, UPTIME))], seq=0),
        "e:1", cache,
    )
    assert kinds(ev).get("options") == 1 and len(recs) == 1
    assert recs[0]["sampling_interval"] == 100


@pytest.mark.parametrize("options, rate", [
    ([(305, 4, 1), (306, 4, 9)], 10),  # softflowd IPFIX -s 10: 1 packet taken, 9 skipped
    ([(305, 4, 2), (306, 4, 198)], 100),  # 2 taken, 198 skipped
    ([(309, 4, 1), (310, 4, 1000)], 1000),  # random 1 out of 1000
    ([(305, 4, 50)], 50),  # the interval alone keeps its old reading
    ([(34, 4, 64), (305, 4, 1), (306, 4, 9)], 64),  # v9's interval, when given, wins
])
def test_ipfix_sampling_is_read_from_interval_and_space(options, rate):
    """RFC 5477: count-based sampling is "packets taken, then packets skipped"; 305 alone read softflowd's
    `-s 10` (305 = 1, 306 = 9) as 1 in 1, so its sampled records reached the timing views."""
    cache = TemplateCache()
    opt_t = struct.pack(">HHH", 256, 1 + len(options), 1) + struct.pack(">HH", 149, 4)
    opt_t += b"".join(struct.pack(">HH", ie, ln) for ie, ln, _ in options)
    opt_d = struct.pack(">I", 3) + b"".join(struct.pack(">I", v) for _, _, v in options)
    dt = struct.pack(">HH", 257, 2) + struct.pack(">HHHH", 8, 4, 12, 4)
    msg = ipfix([(3, opt_t), (2, dt), (256, opt_d), (257, ip4("10.0.0.1") + ip4("10.0.0.2"))], seq=0)
    recs, ev = decode_datagram(msg, "e:1", cache)
    assert kinds(ev).get("options") == 1 and len(recs) == 1
    assert recs[0]["sampling_interval"] == rate


def test_ipfix_variable_length_enterprise_and_system_init():
    cache = TemplateCache()
    # options template 256: scope observationDomainId(149,4), systemInitTimeMilliseconds(160,8)
    opt_t = struct.pack(">HHH", 256, 2, 1) + struct.pack(">HHHH", 149, 4, 160, 8)
    init_ms = EXPORT_S * 1000 - 3_600_000  # booted an hour before export
    opt_d = struct.pack(">IQ", 3, init_ms)
    # data template 257: src, dst, bytes(4, reduced size), interfaceName(82, varlen), PEN field, uptimes
    dt = struct.pack(">HH", 257, 7) + struct.pack(">HHHHHH", 8, 4, 12, 4, 1, 4) + struct.pack(">HH", 82, 0xFFFF)
    dt += struct.pack(">HHI", 0x8000 | 42, 2, 9999) + struct.pack(">HHHH", 22, 4, 21, 4)
    long_name = b"x" * 300

    def rec(name: bytes) -> bytes:
        ln = struct.pack(">B", len(name)) if len(name) < 255 else struct.pack(">BH", 255, len(name))
        return ip4("10.0.0.1") + ip4("10.0.0.2") + struct.pack(">I", 1234) + ln + name + b"\xab\xcd" + \
            struct.pack(">II", 1_000, 2_000)

    msg = ipfix([(3, opt_t), (2, dt), (256, opt_d), (257, rec(b"eth0") + rec(long_name) + rec(b""))], seq=0)
    recs, ev = decode_datagram(msg, "e:1", cache)
    assert kinds(ev).get("reject") is None, ev
    assert len(recs) == 3
    assert recs[0]["extra"]["interfaceName"] == "eth0" and recs[1]["extra"]["interfaceName"] == "x" * 300
    assert recs[2]["extra"]["interfaceName"] == ""
    assert recs[0]["extra"]["e9999.42"] == "abcd" and recs[0]["bytes"] == 1234
    assert recs[0]["start"] == (init_ms + 1_000) * 1000 and recs[0]["end"] == (init_ms + 2_000) * 1000
    # next message: RFC numbering (4 data records before it, options included) -> no gap
    more = ipfix([(257, rec(b"a"))], seq=4)
    _, ev = decode_datagram(more, "e:1", cache)
    assert "seq_gap" not in kinds(ev)
    _, ev = decode_datagram(ipfix([(257, rec(b"a"))], seq=50), "e:1", cache)
    assert kinds(ev)["seq_gap"] == 45
    # withdrawal (field count 0) forgets the template: later data is held again
    _, ev = decode_datagram(ipfix([(2, struct.pack(">HH", 257, 0))], seq=51), "e:1", cache)
    assert "template_withdrawn" in kinds(ev)
    recs, ev = decode_datagram(ipfix([(257, rec(b"a"))], seq=51), "e:1", cache)
    assert recs == [] and kinds(ev) == {"held": 1}


def test_ipfix_options_template_withdrawal_and_withdraw_all_by_kind():
    """Review #8: RFC 7011 8.1 withdraws an options template with (template id, field count 0) in an
    options template set, without a scope count; that was rejected as "options template truncated"
    and the template stayed. Id 2 in a template set withdraws the data templates only, id 3 in an
    options template set the options templates only (id 2 used to delete both kinds)."""
    opt_t = struct.pack(">HHH", 400, 2, 1) + struct.pack(">HHHH", 149, 4, 34, 4)
    opt_d = struct.pack(">II", 3, 64)
    cache = TemplateCache()

    def learn(seq: int) -> None:
        _, ev = decode_datagram(ipfix([(3, opt_t), (2, tmpl(300, FIELDS))], seq=seq), "e:1", cache)
        assert "reject" not in kinds(ev)

    def ids() -> set[int]:
        return {k[2] for k in cache.templates}

    learn(0)
    assert ids() == {300, 400}
    _, ev = decode_datagram(ipfix([(3, struct.pack(">HH", 400, 0))], seq=0), "e:1", cache)
    assert kinds(ev) == {"template_withdrawn": 1} and ids() == {300}
    _, ev = decode_datagram(ipfix([(400, opt_d)], seq=0), "e:1", cache)
    assert kinds(ev) == {"held": 1}  # options data waits for a template again
    cache = TemplateCache()
    learn(0)
    _, ev = decode_datagram(ipfix([(2, struct.pack(">HH", 2, 0))], seq=0), "e:1", cache)  # all data templates
    assert kinds(ev) == {"template_withdrawn": 1} and ids() == {400}
    learn(0)
    _, ev = decode_datagram(ipfix([(3, struct.pack(">HH", 3, 0))], seq=0), "e:1", cache)  # all options templates
    assert kinds(ev) == {"template_withdrawn": 1} and ids() == {300}
    # a template learned and withdrawn in one message: its held data keeps waiting (was a KeyError
    # that lost the whole datagram)
    rec = data_rec("10.0.0.1", "10.0.0.2", 1, 2, 3, 4, 5, 6)
    decode_datagram(ipfix([(301, rec)], seq=0), "e:1", cache)
    _, ev = decode_datagram(ipfix([(2, tmpl(301, FIELDS) + struct.pack(">HH", 301, 0))], seq=0), "e:1", cache)
    assert "reject" not in kinds(ev) and cache.held_count == 1


def test_flow_ending_in_the_export_second_is_not_put_49_days_back():
    """IPFIX (and v9) headers give the export time in whole seconds, so a flow that ended in that same
    second has an uptime up to 999 ms past the header's instant. Taken modulo 2^32 naively it lands
    49.7 days before the export (softflowd's last flows of a file did this); it belongs 0.5 s after it.
    Both decoders: the per-record one and the collector's column path."""
    from minewatch.sources.netflow import ColumnBuffer, decode_into

    opt_t = struct.pack(">HHH", 256, 2, 1) + struct.pack(">HHHH", 149, 4, 160, 8)
    init_ms = EXPORT_S * 1000 - 3_600_000
    dt = struct.pack(">HH", 257, 3) + struct.pack(">HHHHHH", 8, 4, 22, 4, 21, 4)
    msg = ipfix([(3, opt_t), (2, dt), (256, struct.pack(">IQ", 3, init_ms)),
                 (257, ip4("10.0.0.1") + struct.pack(">II", 3_000_000, 3_600_500))], seq=0)
    (r,), _ = decode_datagram(msg, "e:1", TemplateCache())
    assert r["end"] == (EXPORT_S * 1000 + 500) * 1000 and r["start"] == (init_ms + 3_000_000) * 1000
    buf = ColumnBuffer()
    decode_into(msg, "e:1", TemplateCache(), buf, 0.0)
    t = buf.take()
    assert us(t.column("end")[0].as_py()) == (EXPORT_S * 1000 + 500) * 1000
    assert us(t.column("start")[0].as_py()) == (init_ms + 3_000_000) * 1000
    # v9: the same with the header's uptime
    v9_t = struct.pack(">HH", 256, 3) + struct.pack(">HHHHHH", 8, 4, 22, 4, 21, 4)
    dg = v9([(0, v9_t), (256, ip4("10.0.0.1") + struct.pack(">II", UPTIME - 10_000, UPTIME + 400))], seq=0)
    (r9,), _ = decode_datagram(dg, "e:2", TemplateCache())
    assert r9["end"] == (EXPORT_S * 1000 + 400) * 1000


def test_ipfix_uptime_without_system_init_stays_null():
    fields = struct.pack(">HH", 256, 3) + struct.pack(">HHHHHH", 8, 4, 22, 4, 21, 4)
    msg = ipfix([(2, fields), (256, ip4("10.0.0.1") + struct.pack(">II", 1, 2))], seq=0)
    (r,), _ = decode_datagram(msg, "e:1", TemplateCache())
    assert r["start"] is None and r["end"] is None and r["packets"] is None and r["bytes"] is None


def test_truncated_variable_length_record_is_rejected_not_raised():
    dt = struct.pack(">HH", 300, 2) + struct.pack(">HHHH", 8, 4, 82, 0xFFFF)
    body = ip4("10.0.0.1") + b"\xff\x10\x00" + b"abc"  # claims 4096 bytes, has 3
    recs, ev = decode_datagram(ipfix([(2, dt), (300, body)], seq=0), "e:1", TemplateCache())
    assert recs == [] and kinds(ev)["reject"] == 1


def _valid_datagrams() -> list[bytes]:
    return [
        v5([("10.0.0.1", "10.0.0.2", 1, 2, 6, 3, 4, 5, 6)] * 3),
        v9([(0, tmpl(300, FIELDS)), (300, data_rec("1.2.3.4", "5.6.7.8", 1, 2, 3, 4, 5, 6))], seq=1),
        ipfix([(2, tmpl(256, FIELDS)), (256, data_rec("1.2.3.4", "5.6.7.8", 1, 2, 3, 4, 5, 6))], seq=0),
    ]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_fuzz_garbage_never_raises(blob):
    cache = TemplateCache(max_held=50)
    for prefix in (b"", b"\x00\x05", b"\x00\x09", b"\x00\x0a"):
        recs, events = decode_datagram(prefix + blob, "f:1", cache)
        assert isinstance(recs, list)
        assert all(e.kind != "reject" or "decoder error" not in e.detail for e in events), events
        records_to_batch(recs)  # whatever was decoded fits the output schema


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2), st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), max_size=8))
def test_fuzz_mutated_valid_datagrams_never_raise(which, flips):
    dg = bytearray(_valid_datagrams()[which])
    for pos, val in flips:
        dg[pos % len(dg)] = val
    cache = TemplateCache(max_held=50)
    recs, events = decode_datagram(bytes(dg), "f:1", cache)
    assert all("decoder error" not in e.detail for e in events), events
    records_to_batch(recs)


def test_records_to_flow_schema_keeps_unknown_reverse_null():
    recs, _ = decode_datagram(_valid_datagrams()[0], "e:1", TemplateCache())
    flows = netflow_to_flows(records_to_batch(recs), source="test")
    assert flows.num_rows == 3
    assert flows.column("bytes_rev").null_count == 3 and flows.column("packets_fwd").to_pylist() == [3, 3, 3]
    assert flows.column("duration_ms").to_pylist() == [1.0, 1.0, 1.0]


def test_parse_listen():
    assert parse_listen("127.0.0.1:0") == ("127.0.0.1", 0)
    assert parse_listen("[::1]:2055") == ("::1", 2055)
    with pytest.raises(Exception, match="HOST:PORT"):
        parse_listen("localhost")


def _send(port: int, datagrams: list[bytes]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("127.0.0.1", port))
        for d in datagrams:
            s.send(d)


def _stream(n_msgs: int, per_msg: int = 20) -> tuple[list[bytes], int, int]:
    """v9 export: template first, then data; returns datagrams, total packets and bytes."""
    out, pk, by = [v9([(0, tmpl(300, FIELDS))], seq=0)], 0, 0
    for i in range(n_msgs):
        recs = b""
        for j in range(per_msg):
            recs += data_rec("10.0.0.1", "10.9.9.9", 1000 + j, 443, i + 1, 100 * (j + 1), UPTIME - 5000, UPTIME)
            pk += i + 1
            by += 100 * (j + 1)
        out.append(v9([(300, recs)], seq=i + 1))
    return out, pk, by


def test_collector_in_process_flushes_by_rows_and_on_stop(tmp_path):
    col = Collector("127.0.0.1:0", tmp_path, flush_rows=50, flush_seconds=3600)
    dgs, pk, by = _stream(10)
    _send(col.bound[1], dgs)
    for _ in range(len(dgs)):
        col._recv_one()
        col._housekeeping(time.monotonic())
    assert col.writer.files >= 3  # 200 rows, flushed every 50
    c = col.close()
    t = ds.dataset(tmp_path, format="parquet", partitioning="hive").to_table()
    assert c.records == t.num_rows == 200 and pc.sum(t["packets"]).as_py() == pk and pc.sum(t["bytes"]).as_py() == by
    end = datetime.fromtimestamp(EXPORT_S, tz=UTC)
    assert (tmp_path / f"date={end:%Y-%m-%d}" / f"hour={end:%H}").is_dir()
    assert set(t.column("date").to_pylist()) == {f"{end:%Y-%m-%d}"}


def _drain_until(col: Collector, datagrams: int) -> None:
    deadline = time.monotonic() + 10
    while col.counters.datagrams < datagrams and time.monotonic() < deadline:
        if not col._recv_one():
            time.sleep(0.01)


def test_collector_one_unfit_value_costs_nothing_else(tmp_path, monkeypatch):
    """Review #1, live: 200 IPFIX records on a fixed template, 30 v5 records, then one record on a
    variable-length template whose 8-byte sourceTransportPort is 2^40. All 231 used to be rejected
    ("decoder error: ArrowInvalid: 231", no example). Now all 231 are written, the port is null and
    counted in `values_nulled`; and should a record still fail to convert, only it is rejected, with
    an example naming its exporter and message, and `records == rows_written + records_rejected`."""
    std = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (2, 8), (1, 8)]
    var = [(8, 4), (12, 4), (7, 8), (11, 2), (82, 0xFFFF), (2, 8), (1, 8)]
    good = b"".join(ip4("10.0.0.5") + ip4("198.51.100.7") + struct.pack(">HHBQQ", 40000 + i, 3333, 6, 10, 1000)
                    for i in range(20))
    bad = ip4("10.0.0.6") + ip4("198.51.100.7") + struct.pack(">QH", 1 << 40, 3333) + b"\x03eth" + \
        struct.pack(">QQ", 5, 500)
    dgs = [ipfix([(2, tmpl(256, std) + tmpl(257, var))], seq=0)]
    dgs += [ipfix([(256, good)], seq=20 * i) for i in range(10)]
    dgs += [ipfix([(257, bad)], seq=200),
            v5([(f"10.0.1.{i}", "198.51.100.9", 41000 + i, 3333, 6, 5, 500, UPTIME - 9, UPTIME) for i in range(30)])]
    col = Collector("127.0.0.1:0", tmp_path / "a", receiver="recvfrom")
    _send(col.bound[1], dgs)
    _drain_until(col, len(dgs))
    c = col.close()
    assert (c.records, c.rows_written, c.rejects.total) == (231, 231, 0)
    assert c.records_rejected == 0 and c.values_nulled == {"src_port": 1}
    (stats,) = (tmp_path / "a" / "_stats").glob("collector-*.json")
    assert '"src_port": 1' in stats.read_text()
    t = ds.dataset(tmp_path / "a", format="parquet", partitioning="hive").to_table()
    assert t.num_rows == 231 and t.filter(pc.equal(t["src_ip"], "10.0.0.6"))["src_port"].to_pylist() == [None]

    import minewatch.sources.netflow as nf

    real = nf._group_batch

    def fragile(g, *args):  # a conversion bug nothing foresaw, hitting one record of each data set
        if any(ip4("10.0.0.5") + ip4("198.51.100.7") + struct.pack(">H", 40007) in b for b in g.bodies):
            raise ValueError("simulated")
        return real(g, *args)

    monkeypatch.setattr(nf, "_group_batch", fragile)
    col = Collector("127.0.0.1:0", tmp_path / "b", receiver="recvfrom")
    _send(col.bound[1], dgs)
    _drain_until(col, len(dgs))
    c = col.close()
    assert (c.records, c.rows_written) == (231, 221)  # record 7 of each of the 10 data sets is lost
    assert c.records_rejected == 10 and c.rejects.as_dict() == {"decoder error: ValueError converting a record": 10}
    assert any(e.startswith("127.0.0.1:") and " domain 3 template 256 sequence 60:" in e for e in c.rejects.examples)


def test_collector_counts_expired_held_data_per_data_set(tmp_path):
    """Review #11: five held data sets that expired were one reject; `held_expired` said 5. Rejects
    for held data count data sets, as `held` and the shutdown drop do."""
    col = Collector("127.0.0.1:0", tmp_path, receiver="recvfrom")
    rec = data_rec("10.0.0.1", "10.0.0.2", 1, 2, 3, 4, 5, 6)
    for i in range(5):  # held 50 s ago (expiry reads the monotonic clock)
        col.handle(ipfix([(300, rec * 3)], seq=3 * i), "127.0.0.1:9", now=time.monotonic() - 50)
    col.handle(ipfix([(301, rec)], seq=15), "127.0.0.1:9", now=time.monotonic())
    col.cache.max_held_age_s = 10
    col._last_expire = time.monotonic() - 61
    col._housekeeping(time.monotonic())
    c = col.close()
    assert (c.held, c.held_expired, c.held_dropped_at_shutdown) == (6, 5, 1)
    assert c.rejects.as_dict() == {"held data expired without its template": 5,
                                   "held data without template at shutdown": 1}
    assert c.rejects.total == 6


def test_collect_cli_sigterm_writes_everything(tmp_path):
    out = tmp_path / "out"
    with CollectorProcess(out) as col:
        dgs, pk, by = _stream(30)
        garbage = [b"\x00\x09junk", b"\x01"]
        _send(col.port, dgs + garbage)
        time.sleep(0.5)
        rc, err = col.stop()
    assert rc == 0, err
    t = ds.dataset(out, format="parquet", partitioning="hive").to_table()
    assert t.num_rows == 600 and pc.sum(t["bytes"]).as_py() == by and pc.sum(t["packets"]).as_py() == pk
    assert "datagrams 33" in err and "rejects 2" in err and "records 600" in err
