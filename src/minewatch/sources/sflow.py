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
from typing import Any

import numpy as np

from minewatch.sources.netflow import (
    _PROTO_NAMES,
    ColumnBuffer,
    Event,
    Record,
    TemplateCache,
    _check_seq,
)

#: written to NETFLOW_SCHEMA's `version` column for sFlow rows: sFlow numbers its own versions 2-5, which
#: collide with NetFlow's 5, so its registered UDP port stands for it
SFLOW_VERSION = 6343
SFLOW_PORT = 6343
_U32 = struct.Struct(">I")
_HDR_V4 = struct.Struct(">IIIIIII")  # version, addr type, addr, sub-agent, sequence, uptime, samples
_FLOW_SAMPLE = struct.Struct(">IIIIIII")  # seq, source id, rate, pool, drops, input, output
_FLOW_SAMPLE_X = struct.Struct(">IIIIIIIIIII")  # seq, src type, src index, rate, pool, drops, in fmt/val, out
_SAMPLED_HEADER = struct.Struct(">IIII")  # header protocol, frame length, stripped, header length
_SAMPLED_V4 = struct.Struct(">II4s4sIIII")  # length, protocol, src, dst, sport, dport, tcp flags, tos
_SAMPLED_V6 = struct.Struct(">II16s16sIIII")
#: sFlow header_protocol -> pcap link type of the capture decoder (tcpdump.org/linktypes)
HEADER_LINKTYPES = {1: 1, 7: 9, 11: 228, 12: 229}
HEADER_NAMES = {1: "Ethernet", 2: "token bus", 3: "token ring", 4: "FDDI", 5: "frame relay", 6: "X.25",
                7: "PPP", 8: "SMDS", 9: "AAL5", 10: "AAL5-IP", 11: "IPv4", 12: "IPv6", 13: "MPLS", 14: "POS"}
#: a sample or record longer than this cannot be part of one UDP datagram's honest content
_MAX_ITEMS = 4096


def is_sflow(data: bytes) -> bool:
    """An sFlow v5 datagram starts with the 32-bit version 5 (a NetFlow v5 header with 16-bit version 5
    is followed by a non-zero record count, so the two never read alike)."""
    return len(data) >= 4 and data[:4] == b"\x00\x00\x00\x05"


class _Cut(Exception):
    """The datagram ends inside an item its own lengths announced."""


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def u32(self) -> int:
        if self.pos + 4 > len(self.data):
            raise _Cut
        v: int = _U32.unpack_from(self.data, self.pos)[0]
        self.pos += 4
        return v

    def opaque(self) -> tuple[int, int]:
        """(start, end) of an opaque item; the position moves past its padding."""
        n = self.u32()
        a = self.pos
        b = a + n
        if b > len(self.data):
            raise _Cut
        self.pos = a + ((n + 3) & ~3)
        return a, b


def _address(r: _Reader) -> str | None:
    kind = r.u32()
    if kind == 1:
        a = r.pos
        r.pos += 4
        if r.pos > len(r.data):
            raise _Cut
        return socket.inet_ntop(socket.AF_INET, r.data[a : a + 4])
    if kind == 2:
        a = r.pos
        r.pos += 16
        if r.pos > len(r.data):
            raise _Cut
        return socket.inet_ntop(socket.AF_INET6, r.data[a : a + 16])
    if kind == 0:
        return None
    raise ValueError(f"agent address type {kind}")


def decode_sflow(data: bytes, exporter: str, cache: TemplateCache, buf: ColumnBuffer,
                 wall_s: float | None) -> list[Event]:
    """Decode one sFlow v5 datagram into `buf.slow`; returns the events to count (never raises).

    A datagram cut inside a sample keeps the samples before the cut (each is complete and checked)
    and is rejected as "sFlow datagram truncated"; the decoded rows are counted like NetFlow records.
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
    r = _Reader(data)
    if r.u32() != 5:
        raise ValueError("version is not 5")
    agent = _address(r)
    sub_agent = r.u32()
    seq = r.u32()
    r.u32()  # agent uptime (ms): no wall clock, so not a time the rows can use
    n_samples = r.u32()
    if n_samples > _MAX_ITEMS:
        raise ValueError(f"sample count {n_samples} out of range")
    agent_key = f"{exporter} agent {agent}"
    _check_seq(cache, (agent_key, SFLOW_VERSION, sub_agent), seq, 1, events)
    pending: list[tuple[Record, bytes | None, int]] = []  # row, sampled header, its link type
    flow = counters = 0
    try:
        for _ in range(n_samples):
            tag = r.u32()
            a, b = r.opaque()
            enterprise, fmt = tag >> 12, tag & 0xFFF
            if enterprise != 0 or fmt not in (1, 3):
                if enterprise == 0 and fmt in (2, 4):
                    counters += 1
                continue
            flow += 1
            row, hdr, lt = _flow_sample(data, a, b, fmt == 3, exporter, agent, sub_agent, seq, cache, wall_s,
                                        events)
            if row is not None:
                pending.append((row, hdr, lt))
    finally:  # the complete samples before a cut are kept
        if flow:
            events.append(Event("sflow_flow_samples", "", flow))
        if counters:
            events.append(Event("sflow_counter_samples", "", counters))
        _finish(pending, buf, events)


def _flow_sample(data: bytes, a: int, b: int, expanded: bool, exporter: str, agent: str | None, sub_agent: int,
                 seq: int, cache: TemplateCache, wall_s: float | None,
                 events: list[Event]) -> tuple[Record | None, bytes | None, int]:
    """One flow sample's row (addresses filled later from its header) or None when it holds no packet."""
    r = _Reader(data[a:b])
    if expanded:
        _sseq, src_type, src_index, rate, _pool, drops, _inf, in_if, _outf, out_if, n_rec = \
            _unpack(r, _FLOW_SAMPLE_X)
    else:
        _sseq, source, rate, _pool, drops, in_raw, out_raw = _unpack(r, _FLOW_SAMPLE)
        src_type, src_index = source >> 24, source & 0xFFFFFF
        in_if, out_if = in_raw & 0x3FFFFFFF, out_raw & 0x3FFFFFFF
        n_rec = r.u32()
    if n_rec > _MAX_ITEMS:
        raise ValueError(f"flow record count {n_rec} out of range")
    # the agent's count of samples it could not send (resources): cumulative per data source
    dkey = (f"{exporter} agent {agent} source {src_type}:{src_index}", sub_agent)
    last = cache.sflow_drops.get(dkey)
    cache.sflow_drops[dkey] = drops
    if last is not None and drops > last:
        events.append(Event("sflow_agent_drops", dkey[0], drops - last))
    header: tuple[int, int, int, int] | None = None  # protocol, frame length, start, end
    fields: dict[str, Any] | None = None
    for _ in range(n_rec):
        tag = r.u32()
        ra, rb = r.opaque()
        if tag == 1 and header is None:  # sampled header
            if rb - ra < _SAMPLED_HEADER.size:
                raise _Cut
            proto, frame_len, _stripped, hlen = _SAMPLED_HEADER.unpack_from(r.data, ra)
            h0 = ra + _SAMPLED_HEADER.size
            if h0 + hlen > rb:
                raise _Cut
            header = (proto, frame_len, h0, h0 + hlen)
        elif tag in (3, 4) and fields is None:  # sampled IPv4 / IPv6
            st = _SAMPLED_V4 if tag == 3 else _SAMPLED_V6
            if rb - ra < st.size:
                raise _Cut
            length, ipproto, src, dst, sport, dport, flags, _tos = st.unpack_from(r.data, ra)
            fam = socket.AF_INET if tag == 3 else socket.AF_INET6
            fields = {"src_ip": socket.inet_ntop(fam, src), "dst_ip": socket.inet_ntop(fam, dst),
                      "proto": ipproto, "src_port": sport if ipproto in (6, 17, 132) else None,
                      "dst_port": dport if ipproto in (6, 17, 132) else None,
                      "tcp_flags": flags if ipproto == 6 else None, "bytes": length}
    if header is None and fields is None:
        events.append(Event("reject", "sFlow flow sample without a packet header or IP record"))
        return None, None, 0
    ts_us = None if wall_s is None else round(wall_s * 1e6)
    row: Record = {
        "src_ip": None, "src_port": None, "dst_ip": None, "dst_port": None, "proto": None, "transport": None,
        "packets": 1, "bytes": None, "tcp_flags": None, "start": ts_us, "end": ts_us,
        "sampling_interval": rate or None, "exporter": exporter, "observation_domain": sub_agent,
        "version": SFLOW_VERSION, "sequence": seq, "template_id": None,
        "extra": {"agent": agent or "", "source_id": f"{src_type}:{src_index}", "input_if": str(in_if),
                  "output_if": str(out_if)},
        "packets_rev": None, "bytes_rev": None, "tcp_flags_rev": None,
    }
    if header is not None:
        proto, frame_len, h0, h1 = header
        lt = HEADER_LINKTYPES.get(proto)
        if lt is None:
            if fields is None:
                events.append(Event("reject", f"sFlow sampled header of {HEADER_NAMES.get(proto, proto)} not decoded"))
                return None, None, 0
        else:
            row["extra"]["frame_length"] = str(frame_len)
            if fields is None:
                return row, r.data[h0:h1], lt
    assert fields is not None
    row.update(fields)
    return row, None, 0


def _unpack(r: _Reader, st: struct.Struct) -> tuple[int, ...]:
    if r.pos + st.size > len(r.data):
        raise _Cut
    v = st.unpack_from(r.data, r.pos)
    r.pos += st.size
    return v


def _finish(pending: list[tuple[Record, bytes | None, int]], buf: ColumnBuffer, events: list[Event]) -> None:
    """Decode the sampled headers in one compiled pass and move the rows into the buffer."""
    heads = [(i, h, lt) for i, (_row, h, lt) in enumerate(pending) if h is not None]
    bad: set[int] = set()
    if heads:
        from minewatch.net.decode import TUNNEL_NAMES, VER_CUT, VER_NON_IP, decode_batch
        from minewatch.net.engine import _ip_str
        from minewatch.net.sampled import fragment_method
        from minewatch.sources.pcap import PacketBatch

        raw = b"".join(h for _, h, _ in heads)
        lens = np.array([len(h) for _, h, _ in heads], np.int64)
        off = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
        orig = np.array([max(int(pending[i][0]["extra"].get("frame_length", 0)), len(h)) for i, h, _ in heads],
                        np.int64)
        batch = PacketBatch(raw, np.frombuffer(raw, np.uint8), off, lens.copy(), orig,
                            np.zeros(len(heads)), np.array([lt for _, _, lt in heads], np.int32), 0)
        d = decode_batch(batch)
        for j, (i, _h, _lt) in enumerate(heads):
            row = pending[i][0]
            ver = int(d.ver[j])
            if ver not in (4, 6):
                why = "carries no IP packet" if ver == VER_NON_IP else \
                    "is cut inside its IP or transport header" if ver == VER_CUT else "has a malformed IP header"
                events.append(Event("reject", f"sFlow sampled header {why}"))
                bad.add(i)
                continue
            p = int(d.proto[j])
            row["src_ip"] = _ip_str(ver, int(d.s_hi[j]), int(d.s_lo[j]))
            row["dst_ip"] = _ip_str(ver, int(d.d_hi[j]), int(d.d_lo[j]))
            row["proto"] = p
            sp, dp = int(d.sport[j]), int(d.dport[j])
            row["src_port"] = sp if sp >= 0 else None
            row["dst_port"] = dp if dp >= 0 else None
            row["tcp_flags"] = int(d.flags[j]) if p == 6 else None
            row["bytes"] = int(d.ip_len[j]) or None
            if int(d.tun[j]):
                row["extra"]["tunnel"] = TUNNEL_NAMES.get(int(d.tun[j]), str(int(d.tun[j])))
            po, pcap = int(d.pay_off[j]), int(d.pay_cap[j])
            if pcap > 0 and p in (6, 17):
                method = fragment_method(raw[po : po + pcap])
                if method is not None:
                    row["extra"]["stratum_method"] = method
    for i, (row, _h, _lt) in enumerate(pending):
        if i in bad:
            continue
        p = row["proto"]
        row["transport"] = _PROTO_NAMES.get(p, str(p)) if isinstance(p, int) else None
        buf.slow.append(row)
        buf.rows += 1
