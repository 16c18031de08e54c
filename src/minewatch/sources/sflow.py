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


class SflowPending:
    """Packet-header samples waiting for `ColumnBuffer.take()`: one entry per sample in every list."""

    __slots__ = ("agent", "exporter", "frame_len", "heads", "in_if", "linktype", "out_if", "rate", "seq",
                 "source", "sub_agent", "ts_us")

    def __init__(self) -> None:
        self.heads: list[bytes] = []
        self.linktype: list[int] = []
        self.frame_len: list[int] = []
        self.ts_us: list[int | None] = []
        self.rate: list[int] = []
        self.exporter: list[str] = []
        self.sub_agent: list[int] = []
        self.seq: list[int] = []
        self.agent: list[str] = []
        self.source: list[str] = []
        self.in_if: list[int] = []
        self.out_if: list[int] = []

    def __len__(self) -> int:
        return len(self.heads)


def _item(data: bytes, pos: int, limit: int) -> tuple[int, int, int, int]:
    """A tagged XDR item at `pos` (a sample or a flow record): (tag, data start, data end, next item);
    its length must stay inside `limit` (the datagram, or the sample that holds the record)."""
    if pos + 8 > limit:
        raise _Cut
    tag, ln = _II.unpack_from(data, pos)
    a = pos + 8
    b = a + ln
    if b > limit:
        raise _Cut
    return tag, a, b, a + ((ln + 3) & ~3)


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
    flow = counters = rows = 0
    try:
        for _ in range(n_samples):
            tag, a, b, pos = _item(data, pos, end)
            ln = b - a
            if tag == 1:
                if ln < _FLOW_SAMPLE.size:
                    raise _Cut
                _sseq, source, rate, _pool, drops, in_raw, out_raw, n_rec = _FLOW_SAMPLE.unpack_from(data, a)
                src_type, src_index = source >> 24, source & 0xFFFFFF
                in_if, out_if = in_raw & 0x3FFFFFFF, out_raw & 0x3FFFFFFF
                r = a + _FLOW_SAMPLE.size
            elif tag == 3:
                if ln < _FLOW_SAMPLE_X.size:
                    raise _Cut
                (_sseq, src_type, src_index, rate, _pool, drops, _inf, in_if, _outf, out_if,
                 n_rec) = _FLOW_SAMPLE_X.unpack_from(data, a)
                r = a + _FLOW_SAMPLE_X.size
            else:
                if tag in (2, 4):
                    counters += 1
                continue  # counter samples and other enterprises' samples: passed over by their length
            flow += 1
            if n_rec > _MAX_ITEMS:
                raise ValueError(f"flow record count {n_rec} out of range")
            source_id = f"{src_type}:{src_index}"
            # the agent's count of samples it could not send (resources): cumulative per data source
            dkey = (f"{agent_key} source {source_id}", sub_agent)
            last = drops_seen.get(dkey)
            if last is None and len(drops_seen) >= MAX_DROP_SOURCES:
                drops_seen.clear()  # spoofed or stray sources must not grow it: rises are then read afresh
            drops_seen[dkey] = drops
            if last is not None and drops > last:
                events.append(Event("sflow_agent_drops", dkey[0], drops - last))
            head: tuple[int, int, int, int] | None = None  # protocol, frame length, start, end
            ip_rec: tuple[int, int, int] | None = None  # format, start, end
            for _ in range(n_rec):
                rtag, ra, rb, r = _item(data, r, b)
                rln = rb - ra
                if rtag == 1 and head is None:
                    if rln < _SAMPLED_HEADER.size:
                        raise _Cut
                    proto, frame_len, _stripped, hlen = _SAMPLED_HEADER.unpack_from(data, ra)
                    h0 = ra + _SAMPLED_HEADER.size
                    if h0 + hlen > rb:
                        raise _Cut
                    head = (proto, frame_len, h0, h0 + hlen)
                elif rtag in (3, 4) and ip_rec is None:
                    if rln < (_SAMPLED_V4 if rtag == 3 else _SAMPLED_V6).size:
                        raise _Cut
                    ip_rec = (rtag, ra, rb)
            lt = HEADER_LINKTYPES.get(head[0]) if head is not None else None
            if lt is not None:
                assert head is not None
                pend.heads.append(data[head[2] : head[3]])
                pend.linktype.append(lt)
                pend.frame_len.append(head[1])
                pend.ts_us.append(ts_us)
                pend.rate.append(rate)
                pend.exporter.append(exporter)
                pend.sub_agent.append(sub_agent)
                pend.seq.append(seq)
                pend.agent.append(agent)
                pend.source.append(source_id)
                pend.in_if.append(in_if)
                pend.out_if.append(out_if)
                rows += 1
            elif ip_rec is not None:
                buf.slow.append(_ip_row(data, ip_rec, ts_us, rate, exporter, sub_agent, seq, agent, source_id,
                                        in_if, out_if, buf.nulled))
                rows += 1
            elif head is not None:
                events.append(Event("reject", f"sFlow sampled header of {HEADER_NAMES.get(head[0], head[0])} "
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
    convert.
    """
    from minewatch.net.decode import TUNNEL_NAMES, VER_CUT, decode_batch
    from minewatch.net.engine import _ip_str
    from minewatch.net.sampled import fragment_method
    from minewatch.sources.pcap import PacketBatch

    n = len(p)
    if n == 0:
        return None
    raw = b"".join(p.heads)
    lens = np.fromiter((len(h) for h in p.heads), np.int64, n)
    off = np.zeros(n, np.int64)
    np.cumsum(lens[:-1], out=off[1:])
    frame = np.array(p.frame_len, np.int64)
    batch = PacketBatch(raw, np.frombuffer(raw, np.uint8), off, lens.copy(), np.maximum(frame, lens),
                        np.zeros(n), np.array(p.linktype, np.int32), 0)
    d = decode_batch(batch)
    ok = (d.ver == 4) | (d.ver == 6)
    cut_rows: list[Record] = []
    if not ok.all():
        for j in np.flatnonzero(~ok).tolist():
            if int(d.ver[j]) == VER_CUT:
                row = _cut_row(p, j)
                if row is not None:
                    cut_rows.append(row)
                    continue
            failed[(f"sFlow sampled header {_WHY.get(int(d.ver[j]), 'has a malformed IP header')}",
                    f"{p.exporter[j]} agent {p.agent[j] or '-'} sequence {p.seq[j]}")] += 1
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
        v6 = pa.array([_ip_str(6, int(hi[k]), int(lo[k])) for k in six.tolist()], pa.string())
        return pc.replace_with_mask(text, pa.array(~v4), v6)

    proto = d.proto[idx]
    sport, dport = d.sport[idx], d.dport[idx]
    tcp = proto == 6
    uniq, inv = np.unique(proto, return_inverse=True)
    transport = pa.array([_PROTO_NAMES.get(int(u), str(int(u))) for u in uniq], pa.string()).take(
        pa.array(inv.ravel().astype(np.int32)))
    ip_len = d.ip_len[idx]
    sel = idx.tolist()
    # extra: agent, data source, interfaces, frame length, and where present the tunnel and the mining method
    keys: list[str] = []
    vals: list[str] = []
    offsets = [0]
    tun = d.tun[idx].tolist()
    pay_off, pay_cap = d.pay_off[idx].tolist(), d.pay_cap[idx].tolist()
    plist = proto.tolist()
    for k, j in enumerate(sel):
        keys += ("agent", "source_id", "input_if", "output_if", "frame_length")
        vals += (p.agent[j], p.source[j], str(p.in_if[j]), str(p.out_if[j]), str(p.frame_len[j]))
        if tun[k]:
            keys.append("tunnel")
            vals.append(TUNNEL_NAMES.get(tun[k], str(tun[k])))
        pcap_ = pay_cap[k]
        if pcap_ > 0 and plist[k] in (6, 17):
            po = pay_off[k]
            method = fragment_method(raw[po : po + pcap_])
            if method is not None:
                keys.append("stratum_method")
                vals.append(method)
        offsets.append(len(keys))
    extra = pa.MapArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(keys, pa.string()),
                                    pa.array(vals, pa.string()))

    def pick(lst: list[Any], typ: pa.DataType) -> pa.Array:
        return pa.array([lst[j] for j in sel], typ)

    ts = pick(p.ts_us, pa.int64()).cast(NETFLOW_SCHEMA.field("start").type)
    rate = np.array([p.rate[j] for j in sel], np.int64)
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
        "exporter": pick(p.exporter, pa.string()),
        "observation_domain": pick(p.sub_agent, pa.int64()),
        "version": pa.array(np.full(m, SFLOW_VERSION, np.int16)),
        "sequence": pick(p.seq, pa.int64()),
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


_VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)
#: the tunnels the capture decoder opens (net.decode): a header cut inside one is not read as the outer flow
_TUNNEL_PROTOS = frozenset({4, 41, 47})
_TUNNEL_UDP_PORTS = frozenset({4789, 8472, 6081, 2152})


def _cut_row(p: SflowPending, j: int) -> Record | None:
    """A header cut inside its transport header (an agent keeping 64 bytes: Ethernet, IPv6 and 10 bytes of
    TCP): the addresses, the protocol and, when the first 4 bytes of the transport header are there, the
    ports are still read; TCP flags stay unknown (null). None when even the IP header is incomplete, or
    the packet is a later fragment, or an IPv6 extension header hides the transport."""
    h = p.heads[j]
    lt = p.linktype[j]
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
    ts = p.ts_us[j]
    return {
        "src_ip": socket.inet_ntop(fam, src), "src_port": sport, "dst_ip": socket.inet_ntop(fam, dst),
        "dst_port": dport, "proto": proto, "transport": _PROTO_NAMES.get(proto, str(proto)), "packets": 1,
        "bytes": ip_len or None, "tcp_flags": None, "start": ts, "end": ts,
        "sampling_interval": p.rate[j] or None, "exporter": p.exporter[j], "observation_domain": p.sub_agent[j],
        "version": SFLOW_VERSION, "sequence": p.seq[j], "template_id": None,
        "extra": {**_extra(p.agent[j], p.source[j], p.in_if[j], p.out_if[j]), "frame_length": str(p.frame_len[j]),
                  "header_cut": "transport"},
        "packets_rev": None, "bytes_rev": None, "tcp_flags_rev": None,
    }
