"""The CPU-saving conversions give exactly what the plain ones give.

Addresses built once per distinct value (against the C library's `inet_ntoa`), the "a.b" table
built by Arrow (against f-strings), the `extra` map built from each field's distinct texts (against
the per-record decoder), uptime arithmetic with a mask instead of a modulo (against the scalar
`_time_us`), and the inlined common case of `_decode` (against `_data_set`/`_check_seq` on random
streams with templates, options, gaps, reordering, padding and garbage).
"""

from __future__ import annotations

import random
import socket
import struct

import numpy as np
import pyarrow as pa
import pytest

from minewatch.sources.netflow import (
    ColumnBuffer,
    Event,
    Template,
    TemplateCache,
    _check_ipfix_seq,
    _check_seq,
    _Ctx,
    _data_set,
    _halves,
    _hold,
    _ip4_text,
    _parse_templates,
    _rows_slow,
    _time_us,
    decode_into,
    table_to_records,
)

EXPORT_S = 1_700_000_000
UPTIME = 7_000_000
FIELDS = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (2, 4), (1, 4), (22, 4), (21, 4)]
REC = struct.Struct(">4s4sHHBIIII")
WIDTH = 2048  # the collector's slot size (MMsgReceiver.SMALL)


def _rec(k: int, j: int) -> bytes:
    return REC.pack(socket.inet_aton(f"10.{k % 7}.{j % 5}.1"), socket.inet_aton("192.0.2.7"), 1024 + j, 443, 6,
                    1 + j, 60 * (j + 1), UPTIME - 9_000 - k, UPTIME - 1_000)


def _sets(sets: list[tuple[int, bytes]]) -> bytes:
    return b"".join(struct.pack(">HH", sid, 4 + len(p)) + p for sid, p in sets)


def _v9(sets: list[tuple[int, bytes]], seq: int, domain: int = 1, tail: bytes = b"") -> bytes:
    return struct.pack(">HHIIII", 9, len(sets), UPTIME, EXPORT_S, seq, domain) + _sets(sets) + tail


def _ipfix(sets: list[tuple[int, bytes]], seq: int, domain: int = 4, tail: bytes = b"") -> bytes:
    body = _sets(sets) + tail
    return struct.pack(">HHIII", 10, 16 + len(body), EXPORT_S, seq, domain) + body


def _tmpl(tid: int, fields: list[tuple[int, int]] = FIELDS) -> bytes:
    return struct.pack(">HH", tid, len(fields)) + b"".join(struct.pack(">HH", i, ln) for i, ln in fields)


def _v9_msg(r: float, body: bytes, seq: int, rng: random.Random) -> bytes:
    if r < 0.04:
        return _v9([(0, _tmpl(300))], seq)
    if r < 0.06:
        return _v9([(0, _tmpl(300, FIELDS[::-1]))], seq)  # the template changes
    if r < 0.08:
        return _v9([(300, body), (300, body)], seq)
    if r < 0.10:
        return _v9([(300, body + b"\0\0\0")], seq)  # padding inside the set
    if r < 0.12:
        return _v9([(300, body)], seq, tail=b"\0\0")  # < 4 trailing bytes
    if r < 0.13:
        return _v9([(300, body)], seq, tail=b"\0\0\0\0\0")  # a broken set header
    if r < 0.15:
        return _v9([(300, body)], seq, domain=2)  # no template in that domain
    if r < 0.16:
        return _v9([(300, b"\0" * 10)], seq)  # shorter than one record
    if r < 0.17:
        return bytes(rng.randbytes(rng.randint(0, 40)))
    return _v9([(300, body)], seq)


def _stream(rng: random.Random, n: int) -> list[bytes]:
    """Mostly steady v9 and IPFIX traffic, with everything that leaves the common case sprinkled in."""
    out: list[bytes] = []
    opt_t = struct.pack(">HHH", 256, 2, 1) + struct.pack(">HHHH", 149, 4, 160, 8)
    opt_d = struct.pack(">IQ", 4, EXPORT_S * 1000 - UPTIME)
    init_t = _tmpl(401, [*FIELDS, (160, 8)])  # init time inside data records: the `_data_set` path
    v9_seq = ip_seq = 0
    per = 6
    for k in range(n):
        r = rng.random() if rng.random() < 0.5 else 1.0
        body = b"".join(_rec(k, j) for j in range(per))
        if rng.random() < 0.5:
            out.append(_v9_msg(r, body, v9_seq, rng))
            v9_seq = (v9_seq + 1 + (rng.choice([2, 5, -1, -3, 1 << 31]) if rng.random() < 0.03 else 0)) & 0xFFFFFFFF
        else:
            nrec = per
            if r < 0.04:
                out.append(_ipfix([(2, _tmpl(400)), (3, opt_t), (256, opt_d)], ip_seq))
                nrec = 1
            elif r < 0.06:
                out.append(_ipfix([(2, init_t), (401, body + struct.pack(">Q", EXPORT_S * 1000 - UPTIME))], ip_seq))
                nrec = 1
            elif r < 0.08:
                out.append(_ipfix([(400, body)], ip_seq, tail=b"\0"))  # trailing bytes: a reject
            elif r < 0.10:
                out.append(_ipfix([(400, body), (400, body)], ip_seq))
                nrec = 2 * per
            elif r < 0.12:
                out.append(_ipfix([(500, body)], ip_seq))  # no such template: held, released never
            else:
                out.append(_ipfix([(400, body)], ip_seq))
            ip_seq = (ip_seq + nrec + (rng.choice([1, 7, -6]) if rng.random() < 0.03 else 0)) & 0xFFFFFFFF
    return out


def _reference_decode(data: bytes, exporter: str, cache: TemplateCache, buf: ColumnBuffer) -> list[Event]:
    """`_decode` for v9/IPFIX as it was before the common case was inlined: every data set through
    `_data_set`, every sequence number through `_check_seq` / `_check_ipfix_seq`."""
    if len(data) < 4 or (data[0] << 8 | data[1]) not in (9, 10):
        return decode_into(data, exporter, cache, buf)
    version = data[0] << 8 | data[1]
    events: list[Event] = []
    if version == 9:
        if len(data) < 20:
            return [Event("reject", "v9 header truncated")]
        _, _count, uptime, secs, seq, domain = struct.unpack_from(">HHIIII", data)
        ctx = _Ctx(9, domain, secs * 1000, uptime, seq, 0.0)
        pos, end, tmpl_set = 20, len(data), 0
    else:
        if len(data) < 16:
            return [Event("reject", "IPFIX header truncated")]
        _, length, export_s, seq, domain = struct.unpack_from(">HHIII", data)
        if length < 16 or length > len(data):
            return [Event("reject", f"IPFIX length {length} does not match datagram of {len(data)} bytes")]
        ctx = _Ctx(10, domain, export_s * 1000, None, seq, 0.0)
        pos, end, tmpl_set = 16, length, 2
    learned: list = []
    n_data = n_flows = 0
    held_any = False
    while end - pos >= 4:
        set_id, set_len = struct.unpack_from(">HH", data, pos)
        if set_len < 4 or pos + set_len > end:
            events.append(Event("reject", f"set {set_id} length {set_len} overruns the message"))
            break
        a = pos + 4
        pos += set_len
        if set_id >= 256:
            key = (exporter, domain, set_id)
            t = cache.templates.get(key)
            if t is None:
                _hold(cache, key, data[a:pos], ctx, events)
                held_any = True
            else:
                nd, nf = _data_set(data, a, pos, t, exporter, ctx, cache, buf, events)
                n_data += nd
                n_flows += nf
        elif set_id in (tmpl_set, tmpl_set + 1):
            learned.extend(_parse_templates(data[a:pos], exporter, domain, version, set_id, cache, events))
        else:
            events.append(Event("reject", f"reserved set id {set_id}"))
    if 0 < end - pos < 4 and version == 10:
        events.append(Event("reject", "trailing bytes after last set"))
    if version == 9:
        _check_seq(cache, (exporter, 9, domain), seq, 1, events)
    else:
        _check_ipfix_seq(cache, (exporter, 10, domain), seq, None if held_any else (n_data, n_flows), events)
    for key in dict.fromkeys(learned):
        q = cache.held.pop(key, None)
        if not q:
            continue
        cache.held_count -= len(q)
        for body, hctx in q:
            _data_set(body, 0, len(body), cache.templates[key], exporter, hctx, cache, buf, events)
        events.append(Event("released", f"{key[0]} domain {key[1]} id {key[2]}", len(q)))
    return events


def _state(cache: TemplateCache) -> tuple:
    return (sorted(cache.next_seq.items()), sorted(cache.ipfix_seq.items()), sorted(cache.system_init_ms.items()),
            sorted(cache.sampling.items()), cache.held_count, sorted((k, t.fields) for k, t in cache.templates.items()))


@pytest.mark.parametrize("seed", range(4))
def test_inlined_common_case_decodes_like_the_general_path(seed: int) -> None:
    rng = random.Random(seed)
    msgs = [(e, d) for e, s in (("192.0.2.1:2055", _stream(rng, 700)), ("192.0.2.2:9995", _stream(rng, 300)))
            for d in s]
    rng.shuffle(msgs) if seed % 2 else None  # the two exporters interleaved, or one after the other
    got_cache, got_buf, ref_cache, ref_buf = TemplateCache(), ColumnBuffer(), TemplateCache(), ColumnBuffer()
    got, ref = [], []
    for i, (e, d) in enumerate(msgs):
        got.append([(x.kind, x.detail, x.count) for x in decode_into(d, e, got_cache, got_buf)])
        ref.append([(x.kind, x.detail, x.count) for x in _reference_decode(d, e, ref_cache, ref_buf)])
        if i % 150 == 149:
            assert got_buf.take().equals(ref_buf.take())
    assert got == ref
    assert _state(got_cache) == _state(ref_cache)
    table = got_buf.take()
    assert table.equals(ref_buf.take())
    kinds = {k for ev in ref for k, _, _ in ev}
    assert {"seq_gap", "seq_reorder", "reject", "held", "template", "options"} <= kinds  # the stream did all that


@pytest.mark.parametrize("distinct", [1, 3, 100, 3_000, 40_000])
def test_addresses_built_once_per_distinct_value_match_inet_ntoa(distinct: int) -> None:
    rng = np.random.default_rng(distinct)
    pool = rng.integers(0, 1 << 32, distinct, dtype=np.uint64).astype(np.uint32)
    pool[0] = 0xFFFFFFFF
    for n in (0, 1, 63, 64, 65, 5_000, 40_000):
        u = pool[rng.integers(0, distinct, n)] if n else np.zeros(0, np.uint32)
        got = _ip4_text(u)
        assert got.type == pa.string() and got.null_count == 0
        assert got.to_pylist() == [socket.inet_ntoa(int(x).to_bytes(4, "big")) for x in u]


def test_halves_table_is_every_a_dot_b() -> None:
    h = _halves()
    h.validate(full=True)
    assert h.to_pylist() == [f"{i >> 8}.{i & 255}" for i in range(65536)]


def test_extra_map_from_distinct_texts_matches_per_record_path() -> None:
    """A fixed template with every kind of `extra` field, decoded columnar and per record."""
    fields = [(8, 4), (12, 4), (10, 3), (14, 2), (15, 4), (56, 6), (154, 8), (999, 5), (82, 6), (5, 1), (61, 1)]
    rng = random.Random(9)
    recs = []
    for j in range(300):
        recs.append(socket.inet_aton(f"10.0.{j % 3}.{j % 250}") + socket.inet_aton("192.0.2.9")
                    + rng.choice([1, 2, 70000]).to_bytes(3, "big") + (j % 4).to_bytes(2, "big")
                    + socket.inet_aton(rng.choice(["198.51.100.1", "198.51.100.2"]))
                    + bytes([0, 1, 2, 3, 4, j % 3]) + struct.pack(">II", 3_900_000_000 + j % 5, rng.choice([0, 1 << 31]))
                    + bytes([j % 2] * 5) + rng.choice([b"eth0\0\0", b"ge-0/1"]) + bytes([j % 8, j % 2]))
    body = b"".join(recs)
    cache, buf = TemplateCache(), ColumnBuffer()
    decode_into(_ipfix([(2, _tmpl(500, fields)), (500, body)], seq=0), "e", cache, buf)
    rows = table_to_records(buf.take())
    ref = _rows_slow(body, Template(500, tuple((i, ln, 0) for i, ln in fields)), [])
    assert len(rows) == len(ref) == 300
    assert [r["extra"] for r in rows] == [extra for _, extra in ref]
    assert len({tuple(r["extra"].values()) for r in rows}) > 10  # many distinct maps, not one repeated


def test_uptime_times_with_a_mask_equal_the_scalar_modulo() -> None:
    """Uptimes past the header's (a wrap), at 0 and 2^32-1, with and without systemInitTime."""
    fields = [(8, 4), (22, 4), (21, 4)]
    vals = [0, 1, UPTIME - 1, UPTIME, UPTIME + 1, (1 << 32) - 1, (1 << 31), 123_456_789]
    body = b"".join(socket.inet_aton("10.0.0.1") + struct.pack(">II", v, vals[-1 - i]) for i, v in enumerate(vals))
    for uptime_hdr in (0, UPTIME, (1 << 32) - 1):
        cache, buf = TemplateCache(), ColumnBuffer()
        msg = struct.pack(">HHIIII", 9, 2, uptime_hdr, EXPORT_S, 0, 1) + _sets([(0, _tmpl(300, fields)), (300, body)])
        decode_into(msg, "e", cache, buf)
        rows = table_to_records(buf.take())
        ctx = _Ctx(9, 1, EXPORT_S * 1000, uptime_hdr, 0)
        assert [r["start"] for r in rows] == [_time_us(22, v, ctx, None) for v in vals]
        assert [r["end"] for r in rows] == [_time_us(21, v, ctx, None) for v in vals[::-1]]
    for init in (EXPORT_S * 1000 - UPTIME, EXPORT_S * 1000 + 5, 0):  # IPFIX dated by systemInitTime
        cache, buf = TemplateCache(), ColumnBuffer()
        cache.system_init_ms[("e", 4)] = init
        decode_into(_ipfix([(2, _tmpl(300, fields)), (300, body)], seq=0), "e", cache, buf)
        rows = table_to_records(buf.take())
        ctx = _Ctx(10, 4, EXPORT_S * 1000, None, 0)
        assert [r["start"] for r in rows] == [_time_us(22, v, ctx, init) for v in vals]
