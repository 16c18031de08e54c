"""sFlow version 5 datagrams -> packet-sample rows of the collector's NETFLOW_SCHEMA, with no I/O.

Why sFlow: the switches of campus and data-centre networks (and many Chinese vendors' access and
aggregation switches) export sFlow, not NetFlow: every N-th packet's first bytes plus interface
counters, sent at once. A packet sample carries no flow timing, so what it can show is *who talks to
whom on which port* — the pool addresses, ports and names the pool list knows — which is exactly
what the collector's sampled NetFlow records already give the names-only path (`net.logscan`).

Layout (sflow.org, "sFlow Version 5", XDR: big-endian 32-bit words, opaque data padded to 4 bytes):
datagram header (version 5, agent address, sub-agent id, sequence number, uptime, samples), then
samples tagged `enterprise << 12 | format`. Enterprise 0 formats read here: flow sample (1) and
expanded flow sample (3); counter samples (2, 4) are counted and passed over. Inside a flow sample,
the flow records read are the sampled packet header (1: Ethernet, raw IPv4/IPv6 or PPP, decoded by
the capture decoder, tunnels included) and, when an agent sends no header, the sampled IPv4 (3) and
IPv6 (4) records. Everything else (extended switch/router/gateway data, vendor records) is skipped
by its length, as the specification asks of a collector.

Why columns: a dict per sample capped the first version at ~25 k samples/s, a sixteenth of pmacct's
sfacctd. A datagram's samples are now only parsed (fixed offsets, one `unpack_from` per structure) and
their header bytes and fields appended to `SflowPending`; `ColumnBuffer.take()` decodes every pending
header in one compiled pass of the capture decoder and builds the Arrow columns at once.

One row per flow sample: `packets` 1, `bytes` the sampled packet's IP length (as NetFlow counts
octets at layer 3), `sampling_interval` the agent's 1-in-N rate, `start` = `end` = the time the
datagram arrived (sFlow sends samples at once and carries only the agent's uptime; without an
arrival time — `decode_sflow(..., wall_s=None)` — times stay null, never guessed), and `version`
SFLOW_VERSION. The scan treats every sFlow row as sampled, even at 1-in-1, because packet samples
are not flow slices and the timing views would misread them.
"""

from __future__ import annotations

import socket
import struct
from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from minewatch.sources.netflow import (
    _PROTO_NAMES,
    NETFLOW_SCHEMA,
    ColumnBuffer,
    Event,
    Record,
    TemplateCache,
    _check_seq,
    _ip4_text,
    records_to_batch,
)

#: written to NETFLOW_SCHEMA's `version` column for sFlow rows: sFlow numbers its own versions 2-5, which
#: collide with NetFlow's 5, so its registered UDP port stands for it
SFLOW_VERSION = 6343
_II = struct.Struct(">II")
_HDR_TOP = struct.Struct(">II")  # version, agent address type
_HDR_REST = struct.Struct(">IIII")  # sub-agent, sequence, uptime, samples
_FLOW_SAMPLE = struct.Struct(">IIIIIIII")  # seq, source id, rate, pool, drops, input, output, records
_FLOW_SAMPLE_X = struct.Struct(">IIIIIIIIIII")  # seq, src type, src index, rate, pool, drops, in/out fmt+val, records
_SAMPLED_HEADER = struct.Struct(">IIII")  # header protocol, frame length, stripped, header length
_TAG_FLOW_SAMPLE = struct.Struct(">II" + _FLOW_SAMPLE.format[1:])  # tag, length, then a compact flow sample
_TAG_SAMPLED_HEADER = struct.Struct(">II" + _SAMPLED_HEADER.format[1:])  # tag, length, then a sampled header
_SAMPLED_V4 = struct.Struct(">II4s4sIIII")  # length, protocol, src, dst, sport, dport, tcp flags, tos
_SAMPLED_V6 = struct.Struct(">II16s16sIIII")
#: sFlow header_protocol -> pcap link type of the capture decoder (tcpdump.org/linktypes)
HEADER_LINKTYPES = {1: 1, 7: 9, 11: 228, 12: 229}
HEADER_NAMES = {1: "Ethernet", 2: "token bus", 3: "token ring", 4: "FDDI", 5: "frame relay", 6: "X.25",
                7: "PPP", 8: "SMDS", 9: "AAL5", 10: "AAL5-IP", 11: "IPv4", 12: "IPv6", 13: "MPLS", 14: "POS"}
#: more samples or records than this cannot be part of one UDP datagram's honest content
_MAX_ITEMS = 4096
#: data sources whose drop counter is followed at most (a switch has one per port; the table is emptied
#: when a flood of new ones fills it)
MAX_DROP_SOURCES = 65_536


def is_sflow(data: bytes) -> bool:
    """An sFlow v5 datagram starts with the 32-bit version 5 (a NetFlow v5 header with 16-bit version 5
    is followed by a non-zero record count, so the two never read alike)."""
    return len(data) >= 4 and data[:4] == b"\x00\x00\x00\x05"


class _Cut(Exception):
    """The datagram ends inside an item its own lengths announced."""


#: one kept packet-header sample in `SflowPending.fields`: where its header lies in `SflowPending.raw`, its
#: length, link type, frame length, rate, data source (type, index), interfaces and datagram number
_PEND = struct.Struct("=qqiqqqqqqq")
_PEND_DT = np.dtype([("off", "=i8"), ("hlen", "=i8"), ("lt", "=i4"), ("frame", "=i8"), ("rate", "=i8"),
                     ("stype", "=i8"), ("sidx", "=i8"), ("in_if", "=i8"), ("out_if", "=i8"), ("dg", "=i8")])
assert _PEND_DT.itemsize == _PEND.size


class SflowPending:
    """Packet-header samples waiting for `ColumnBuffer.take()`.

    Why this shape: per sample the walk pays one `pack` onto a bytearray (read back with one
    `np.frombuffer`), not twelve list appends; a datagram that gave a sample is kept whole in `raw`
    (one copy, no slice per header) with its header facts once in `dgrams`, so the capture decoder reads
    the headers where they lie and the batch takes per-datagram columns by index.
    """

    __slots__ = ("dgrams", "fields", "raw")

    def __init__(self) -> None:
        self.raw = bytearray()
        self.fields = bytearray()
        #: (exporter, sub-agent, sequence, agent address text, arrival in epoch us or None) per datagram
        self.dgrams: list[tuple[str, int, int, str, int | None]] = []

    def __len__(self) -> int:
        return len(self.fields) // _PEND.size


def decode_sflow(data: bytes, exporter: str, cache: TemplateCache, buf: ColumnBuffer,
                 wall_s: float | None) -> list[Event]:
    """Parse one sFlow v5 datagram into `buf` (never raises); returns the events to count.

    A datagram cut inside a sample keeps the samples before the cut (each is complete and checked)
    and is rejected as "sFlow datagram truncated". A sample's header is only decoded at `take()`: one
    that holds no IP packet is then left out and counted in the buffer's `failed` notes by name.
    """
    events: list[Event] = []
    try:
        _decode(data, exporter, cache, buf, wall_s, events)
    except _Cut:
        events.append(Event("reject", "sFlow datagram truncated"))
    except ValueError as exc:
        events.append(Event("reject", f"sFlow {exc}"))
    except Exception as exc:  # a decoder bug must cost one datagram, not the collector
        events.append(Event("reject", f"decoder error: {type(exc).__name__}"))
    return events


def _decode(data: bytes, exporter: str, cache: TemplateCache, buf: ColumnBuffer, wall_s: float | None,
            events: list[Event]) -> None:
    """The walk over one datagram's samples and their flow records.

    Per sample this is what the collector pays in Python, so the tagged items' length checks are
    inlined and nothing is formatted unless an event needs the text: the drop counters are keyed by
    (agent, data source type, index, sub-agent) numbers, the data source's "type:index" is made at
    `take()` once per distinct source.
    """
    end = len(data)
    if end < 8:
        raise _Cut
    version, atype = _HDR_TOP.unpack_from(data, 0)
    if version != 5:
        raise ValueError("version is not 5")
    if atype == 1:
        pos = 12
        agent = socket.inet_ntop(socket.AF_INET, data[8:12]) if end >= 12 else ""
    elif atype == 2:
        pos = 24
        agent = socket.inet_ntop(socket.AF_INET6, data[8:24]) if end >= 24 else ""
    elif atype == 0:
        pos, agent = 8, ""
    else:
        raise ValueError(f"agent address type {atype}")
    if pos + 16 > end:
        raise _Cut
    sub_agent, seq, _uptime, n_samples = _HDR_REST.unpack_from(data, pos)  # uptime: no wall clock
    pos += 16
    agent_key = f"{exporter} agent {agent or '-'}"
    # the datagram arrived, whatever follows: its number must not be counted lost when the next one comes
    _check_seq(cache, (agent_key, SFLOW_VERSION, sub_agent), seq, 1, events)
    if n_samples > _MAX_ITEMS:
        raise ValueError(f"sample count {n_samples} out of range")
    pend = buf.sflow
    if pend is None:
        pend = buf.sflow = SflowPending()
    ts_us = None if wall_s is None else round(wall_s * 1e6)
    drops_seen = cache.sflow_drops
    unpack_ii = _II.unpack_from
    unpack_sample = _TAG_FLOW_SAMPLE.unpack_from
    unpack_record = _TAG_SAMPLED_HEADER.unpack_from
    pack = _PEND.pack
    fields = pend.fields
    dgi = base = -1  # this datagram's number and place in `pend.raw`, once a sample of it is kept
    flow = counters = rows = 0
    try:
        for _ in range(n_samples):
            # the tag, the length and a compact flow sample's words in one read; they are used only once
            # the length is checked (a compact sample that does not fit the 40 bytes is cut either way)
            if pos + 40 <= end:
                tag, ln, _sseq, source, rate, _pool, drops, in_raw, out_raw, n_rec = unpack_sample(data, pos)
            elif pos + 8 <= end:
                tag, ln = unpack_ii(data, pos)
            else:
                raise _Cut
            a = pos + 8
            b = a + ln
            if b > end:
                raise _Cut
            pos = a + ((ln + 3) & ~3)
            if tag == 1:
                if ln < 32:  # _FLOW_SAMPLE.size
                    raise _Cut
                src_type, src_index = source >> 24, source & 0xFFFFFF
                in_if, out_if = in_raw & 0x3FFFFFFF, out_raw & 0x3FFFFFFF
                r = a + 32
            elif tag == 3:
                if ln < 44:  # _FLOW_SAMPLE_X.size
                    raise _Cut
                (_sseq, src_type, src_index, rate, _pool, drops, _inf, in_if, _outf, out_if,
                 n_rec) = _FLOW_SAMPLE_X.unpack_from(data, a)
                r = a + 44
            else:
                if tag in (2, 4):
                    counters += 1
                continue  # counter samples and other enterprises' samples: passed over by their length
            flow += 1
            if n_rec > _MAX_ITEMS:
                raise ValueError(f"flow record count {n_rec} out of range")
            # the agent's count of samples it could not send (resources): cumulative per data source
            dkey = (agent_key, src_type, src_index, sub_agent)
            last = drops_seen.get(dkey)
            if last is None and len(drops_seen) >= MAX_DROP_SOURCES:
                drops_seen.clear()  # spoofed or stray sources must not grow it: rises are then read afresh
            drops_seen[dkey] = drops
            if last is not None and drops > last:
                events.append(Event("sflow_agent_drops", f"{agent_key} source {src_type}:{src_index}", drops - last))
            head_proto = -1  # the first sampled header: protocol, frame length, start, end
            frame_len = h0 = h1 = 0
            ip_rec: tuple[int, int, int] | None = None  # format, start, end
            for _ in range(n_rec):
                if r + 24 <= b:  # as above: a sampled header's four words read with its tag and length
                    rtag, rln, proto, flen, _stripped, hlen = unpack_record(data, r)
                elif r + 8 <= b:
                    rtag, rln = unpack_ii(data, r)
                else:
                    raise _Cut
                ra = r + 8
                rb = ra + rln
                if rb > b:
                    raise _Cut
                r = ra + ((rln + 3) & ~3)
                if rtag == 1 and head_proto < 0:
                    if rln < 16:  # _SAMPLED_HEADER.size
                        raise _Cut
                    head_proto, frame_len = proto, flen
                    h0 = ra + 16
                    h1 = h0 + hlen
                    if h1 > rb:
                        raise _Cut
                elif (rtag == 3 or rtag == 4) and ip_rec is None:
                    if rln < (_SAMPLED_V4 if rtag == 3 else _SAMPLED_V6).size:
                        raise _Cut
                    ip_rec = (rtag, ra, rb)
            lt = HEADER_LINKTYPES.get(head_proto) if head_proto >= 0 else None
            if lt is not None:
                if dgi < 0:
                    dgi = len(pend.dgrams)
                    pend.dgrams.append((exporter, sub_agent, seq, agent, ts_us))
                    base = len(pend.raw)
                    pend.raw += data
                fields += pack(base + h0, h1 - h0, lt, frame_len, rate, src_type, src_index, in_if, out_if, dgi)
                rows += 1
            elif ip_rec is not None:
                buf.slow.append(_ip_row(data, ip_rec, ts_us, rate, exporter, sub_agent, seq, agent,
                                        f"{src_type}:{src_index}", in_if, out_if, buf.nulled))
                rows += 1
            elif head_proto >= 0:
                events.append(Event("reject", f"sFlow sampled header of {HEADER_NAMES.get(head_proto, head_proto)} "
                                    "not decoded"))
            else:
                events.append(Event("reject", "sFlow flow sample without a packet header or IP record"))
    finally:  # the complete samples before a cut are kept
        buf.rows += rows
        if flow:
            events.append(Event("sflow_flow_samples", "", flow))
        if counters:
            events.append(Event("sflow_counter_samples", "", counters))


def _extra(agent: str, source_id: str, in_if: int, out_if: int) -> dict[str, str]:
    return {"agent": agent, "source_id": source_id, "input_if": str(in_if), "output_if": str(out_if)}


def _ip_row(data: bytes, rec: tuple[int, int, int], ts_us: int | None, rate: int, exporter: str, sub_agent: int,
            seq: int, agent: str, source_id: str, in_if: int, out_if: int, nulled: Counter[str]) -> Record:
    """A sampled IPv4/IPv6 record (agents that keep no header) as a per-record row.

    Its fields are 32-bit words: a port above 65,535, a protocol above 255, TCP flags above 511 or a rate
    of 0 cannot be, and are written as null and counted (`values_nulled`), the sample kept."""
    fmt, ra, _rb = rec
    st = _SAMPLED_V4 if fmt == 3 else _SAMPLED_V6
    length, ipproto, src, dst, sport, dport, flags, _tos = st.unpack_from(data, ra)
    fam = socket.AF_INET if fmt == 3 else socket.AF_INET6

    def fit(v: int | None, hi: int, col: str) -> int | None:
        if v is not None and v > hi:
            nulled[col] += 1
            return None
        return v

    proto = fit(ipproto, 255, "proto")
    ported = proto in (6, 17, 132)
    return {
        "src_ip": socket.inet_ntop(fam, src), "src_port": fit(sport, 65_535, "src_port") if ported else None,
        "dst_ip": socket.inet_ntop(fam, dst), "dst_port": fit(dport, 65_535, "dst_port") if ported else None,
        "proto": proto, "transport": None if proto is None else _PROTO_NAMES.get(proto, str(proto)), "packets": 1,
        "bytes": fit(length, (1 << 31) - 1, "bytes") or None,
        "tcp_flags": fit(flags, 511, "tcp_flags") if proto == 6 else None, "start": ts_us, "end": ts_us,
        "sampling_interval": rate or None, "exporter": exporter, "observation_domain": sub_agent,
        "version": SFLOW_VERSION, "sequence": seq, "template_id": None,
        "extra": _extra(agent, source_id, in_if, out_if),
        "packets_rev": None, "bytes_rev": None, "tcp_flags_rev": None,
    }


_WHY = {0: "carries no IP packet", -2: "is cut inside its IP or transport header", -1: "has a malformed IP header"}


def sflow_batch(p: SflowPending, failed: Counter[tuple[str, str]]) -> pa.RecordBatch | None:
    """The pending samples as one NETFLOW_SCHEMA batch: their headers decoded in one compiled pass.

    A header that holds no IP packet (or is cut inside its IP/transport header, or malformed) is left
    out and counted in `failed` by reason and exporter, as the collector counts records it could not
    convert. The columns are built with no Python per sample: per-datagram facts are taken by datagram
    number, the `extra` map is laid out from a rows x keys index matrix, and only payloads whose first
    byte can open a JSON object are read for a mining method (`fragment_method` returns None for any
    other: that was a Python call per TCP/UDP sample, and a Python loop over every sample for the map
    cost ~3 us each, more than the rest of the batch).
    """
    from minewatch.net.decode import TUNNEL_NAMES, VER_CUT, decode_batch
    from minewatch.sources.pcap import PacketBatch

    n = len(p)
    if n == 0:
        return None
    raw = bytes(p.raw)
    fa = np.frombuffer(p.fields, _PEND_DT)
    off = fa["off"].copy()
    lens = fa["hlen"].copy()
    frame = fa["frame"]
    dgrams = p.dgrams
    batch = PacketBatch(raw, np.frombuffer(raw, np.uint8), off, lens.copy(), np.maximum(frame, lens),
                        np.zeros(n), fa["lt"].astype(np.int32), 0)
    d = decode_batch(batch)
    ok = (d.ver == 4) | (d.ver == 6)
    cut_rows: list[Record] = []
    if not ok.all():
        for j in np.flatnonzero(~ok).tolist():
            dg = dgrams[int(fa["dg"][j])]
            if int(d.ver[j]) == VER_CUT:
                row = _cut_row(raw, fa[j], dg)
                if row is not None:
                    cut_rows.append(row)
                    continue
            failed[(f"sFlow sampled header {_WHY.get(int(d.ver[j]), 'has a malformed IP header')}",
                    f"{dg[0]} agent {dg[3] or '-'} sequence {dg[2]}")] += 1
    idx = np.flatnonzero(ok)
    m = idx.size
    if m == 0:
        return records_to_batch(cut_rows) if cut_rows else None
    ver = d.ver[idx]
    v4 = ver == 4

    def addr(hi: np.ndarray, lo: np.ndarray) -> pa.Array:
        text = _ip4_text((lo & np.uint64(0xFFFFFFFF)).astype(np.uint32))
        if v4.all():
            return text
        # only the IPv6 rows go through Python (one IPv6 sample in 50,000 used to send them all)
        six = np.flatnonzero(~v4)
        v6 = pa.array([socket.inet_ntop(socket.AF_INET6, int(hi[k]).to_bytes(8, "big") + int(lo[k]).to_bytes(8, "big"))
                       for k in six.tolist()], pa.string())
        return pc.replace_with_mask(text, pa.array(~v4), v6)

    proto = d.proto[idx]
    sport, dport = d.sport[idx], d.dport[idx]
    tcp = proto == 6
    uniq, inv = np.unique(proto, return_inverse=True)
    transport = pa.array([_PROTO_NAMES.get(int(u), str(int(u))) for u in uniq], pa.string()).take(
        pa.array(inv.ravel().astype(np.int32)))
    ip_len = d.ip_len[idx]
    fs = fa[idx]
    dg_idx = pa.array(fs["dg"])

    def per_dgram(k: int, typ: pa.DataType) -> pa.Array:
        return pa.array([g[k] for g in dgrams], typ).take(dg_idx)

    # extra: agent, data source, interfaces, frame length, and where present the tunnel and the mining method
    tun = d.tun[idx]
    has_tun = tun != 0
    tun_text = pa.nulls(m, pa.string())
    if has_tun.any():
        tu, ti = np.unique(tun, return_inverse=True)
        tun_text = pa.array([TUNNEL_NAMES.get(int(t), str(int(t))) for t in tu], pa.string()).take(
            pa.array(ti.ravel().astype(np.int32)))
    pay_off, pay_cap = d.pay_off[idx], d.pay_cap[idx]
    cand = np.flatnonzero((pay_cap > 0) & ((proto == 6) | (proto == 17)) & (pay_off >= 0) & (pay_off < len(raw)))
    if cand.size:
        first = np.frombuffer(raw, np.uint8)[pay_off[cand]]
        cand = cand[np.isin(first, _JSON_FIRST)]
    methods: list[str | None] = [None] * m
    if cand.size:
        # imported only when a payload may hold a message: it brings the Stratum tables (~0.07 CPU-s)
        from minewatch.net.sampled import fragment_method

        offs, caps = pay_off[cand].tolist(), pay_cap[cand].tolist()
        for k, po, cap in zip(cand.tolist(), offs, caps, strict=True):
            methods[k] = fragment_method(raw[po : po + cap])
    meth_text = pa.array(methods, pa.string())
    src = (fs["stype"].astype(np.uint64) << np.uint64(32)) | fs["sidx"].astype(np.uint64)
    su, si = np.unique(src, return_inverse=True)
    source_text = pa.array([f"{int(s) >> 32}:{int(s) & 0xFFFFFFFF}" for s in su], pa.string()).take(
        pa.array(si.ravel().astype(np.int32)))
    texts = [per_dgram(3, pa.string()), source_text, pa.array(fs["in_if"]).cast(pa.string()),
             pa.array(fs["out_if"]).cast(pa.string()), pa.array(fs["frame"]).cast(pa.string()), tun_text, meth_text]
    present = np.ones((m, len(_EXTRA_KEYS)), bool)
    present[:, 5] = has_tun
    present[:, 6] = meth_text.is_valid().to_numpy(zero_copy_only=False)
    cell = np.arange(m, dtype=np.int64)[:, None] + m * np.arange(len(_EXTRA_KEYS), dtype=np.int64)[None, :]
    values = pa.concat_arrays(texts).take(pa.array(cell[present]))
    keys = _EXTRA_KEY_TEXT.take(pa.array(np.broadcast_to(np.arange(len(_EXTRA_KEYS), dtype=np.int32),
                                                         present.shape)[present]))
    offsets = np.zeros(m + 1, np.int32)
    np.cumsum(present.sum(axis=1), out=offsets[1:])
    extra = pa.MapArray.from_arrays(pa.array(offsets), keys, values)

    ts = per_dgram(4, pa.int64()).cast(NETFLOW_SCHEMA.field("start").type)
    rate = fs["rate"]
    cols = {
        "src_ip": addr(d.s_hi[idx], d.s_lo[idx]),
        "src_port": pa.array(sport, pa.int32(), mask=sport < 0),
        "dst_ip": addr(d.d_hi[idx], d.d_lo[idx]),
        "dst_port": pa.array(dport, pa.int32(), mask=dport < 0),
        "proto": pa.array(proto, pa.int16()),
        "transport": transport,
        "packets": pa.array(np.ones(m, np.int64)),
        "bytes": pa.array(ip_len, pa.int64(), mask=ip_len <= 0),
        "tcp_flags": pa.array(d.flags[idx], pa.int32(), mask=~tcp),
        "start": ts,
        "end": ts,
        "sampling_interval": pa.array(rate, pa.int64(), mask=rate <= 0),
        "exporter": per_dgram(0, pa.string()),
        "observation_domain": per_dgram(1, pa.int64()),
        "version": pa.array(np.full(m, SFLOW_VERSION, np.int16)),
        "sequence": per_dgram(2, pa.int64()),
        "template_id": pa.nulls(m, pa.int32()),
        "extra": extra,
        "packets_rev": pa.nulls(m, pa.int64()),
        "bytes_rev": pa.nulls(m, pa.int64()),
        "tcp_flags_rev": pa.nulls(m, pa.int32()),
    }
    out = pa.RecordBatch.from_arrays([cols[f.name].cast(f.type) for f in NETFLOW_SCHEMA], schema=NETFLOW_SCHEMA)
    if cut_rows:
        out = pa.Table.from_batches([out, records_to_batch(cut_rows)]).combine_chunks().to_batches()[0]
    return out


#: the `extra` keys of a packet-header sample, in the order they are written (the last two only where present)
_EXTRA_KEYS = ("agent", "source_id", "input_if", "output_if", "frame_length", "tunnel", "stratum_method")
_EXTRA_KEY_TEXT = pa.array(_EXTRA_KEYS, pa.string())
#: bytes a payload may start with and still be a JSON object after `bytes.lstrip()` (ASCII whitespace, "{")
_JSON_FIRST = np.frombuffer(b"{ \t\n\r\x0b\x0c", np.uint8)


_VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)
#: the tunnels the capture decoder opens (net.decode): a header cut inside one is not read as the outer flow
_TUNNEL_PROTOS = frozenset({4, 41, 47})
_TUNNEL_UDP_PORTS = frozenset({4789, 8472, 6081, 2152})


def _cut_row(raw: bytes, s: Any, dg: tuple[str, int, int, str, int | None]) -> Record | None:
    """A header cut inside its transport header (an agent keeping 64 bytes: Ethernet, IPv6 and 10 bytes of
    TCP): the addresses, the protocol and, when the first 4 bytes of the transport header are there, the
    ports are still read; TCP flags stay unknown (null). None when even the IP header is incomplete, or
    the packet is a later fragment, or an IPv6 extension header hides the transport."""
    o = int(s["off"])
    h = raw[o : o + int(s["hlen"])]
    lt = int(s["lt"])
    pos = 0
    if lt == 1:
        if len(h) < 14:
            return None
        et = int.from_bytes(h[12:14], "big")
        pos = 14
        while et in _VLAN_TPIDS and len(h) >= pos + 4:
            et = int.from_bytes(h[pos + 2 : pos + 4], "big")
            pos += 4
    elif lt == 228:
        et = 0x0800
    elif lt == 229:
        et = 0x86DD
    else:
        return None
    if et == 0x0800 and len(h) >= pos + 20 and h[pos] >> 4 == 4:
        ihl = (h[pos] & 0x0F) * 4
        proto, fam = h[pos + 9], socket.AF_INET
        src, dst = h[pos + 12 : pos + 16], h[pos + 16 : pos + 20]
        ip_len = int.from_bytes(h[pos + 2 : pos + 4], "big")
        later = int.from_bytes(h[pos + 6 : pos + 8], "big") & 0x1FFF
        if later or ihl < 20:
            return None
        l4 = pos + ihl
    elif et == 0x86DD and len(h) >= pos + 40 and h[pos] >> 4 == 6:
        proto, fam = h[pos + 6], socket.AF_INET6
        src, dst = h[pos + 8 : pos + 24], h[pos + 24 : pos + 40]
        ip_len = 40 + int.from_bytes(h[pos + 4 : pos + 6], "big")
        l4 = pos + 40
        if proto not in (6, 17, 132, 58):
            return None  # an extension header: the transport is further than the header kept
    else:
        return None
    if proto in _TUNNEL_PROTOS:
        return None  # GRE, IP-in-IP: the connection is inside, and the header was cut in it
    ports = proto in (6, 17, 132) and len(h) >= l4 + 4
    sport = int.from_bytes(h[l4 : l4 + 2], "big") if ports else None
    dport = int.from_bytes(h[l4 + 2 : l4 + 4], "big") if ports else None
    if proto == 17 and dport in _TUNNEL_UDP_PORTS:
        return None  # VXLAN, Geneve, GTP-U: the inner packet was cut, the outer one is not the connection
    exporter, sub_agent, seq, agent, ts = dg
    return {
        "src_ip": socket.inet_ntop(fam, src), "src_port": sport, "dst_ip": socket.inet_ntop(fam, dst),
        "dst_port": dport, "proto": proto, "transport": _PROTO_NAMES.get(proto, str(proto)), "packets": 1,
        "bytes": ip_len or None, "tcp_flags": None, "start": ts, "end": ts,
        "sampling_interval": int(s["rate"]) or None, "exporter": exporter, "observation_domain": sub_agent,
        "version": SFLOW_VERSION, "sequence": seq, "template_id": None,
        "extra": {**_extra(agent, f"{int(s['stype'])}:{int(s['sidx'])}", int(s["in_if"]), int(s["out_if"])),
                  "frame_length": str(int(s["frame"])), "header_cut": "transport"},
        "packets_rev": None, "bytes_rev": None, "tcp_flags_rev": None,
    }
