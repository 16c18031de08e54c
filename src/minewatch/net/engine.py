"""Flow tracking over decoded packet batches, handing ordered payload to protocol dissectors.

Why a compiled flow table: counting every packet of a multi-GB capture into its flow is the part that
must run at native speed, so the table (open addressing over unordered 5-tuples, counters per slot)
lives in numpy arrays updated by one numba call per batch. Python is involved only once per flow
(to ask the dissector factory whether the flow is interesting and to build its summary), once per flow
per batch (its payload timeline), and once per payload-bearing packet of a flow whose dissector still
`wants_more()`. Everything else is counted and dropped.

Flows: the key is the unordered 5-tuple (VLAN ids ignored). `src` is the sender of a SYN (or the
receiver of a SYN-ACK) when the handshake is seen (`direction_certain`); otherwise the server is
guessed by port class (TCP: well-known < 1024, then registered < 32768, then ephemeral; UDP and
others: well-known or not) and `src` is the other side; within one class the first sender is `src`. A flow ends when idle for `idle_timeout_s`
of capture time, shortly (`FIN_LINGER_S`) after a FIN from both sides or a RST, or when a SYN with a
new initial sequence number arrives on a finished or already-handshaken tuple (port reuse), which then
starts a new flow; a retransmitted SYN (same sequence number) stays in its flow even after a RST. ICMP flows are keyed without type/code (an echo and its reply are one flow) and
report no ports; the first packet's type/code feeds the Community ID. Non-first IP fragments carry
no ports and form a port-less flow of their own (as in the shared labels).

Byte counters are IP-layer bytes (IP total length, as NetFlow counts), payload counters are the
transport payload as sent (not as captured). Timestamps are seconds since the epoch.
"""

from __future__ import annotations

import base64
import hashlib
import math
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pyarrow as pa
from numba import njit

from minewatch.errors import Rejects
from minewatch.model import FLOW_SCHEMA
from minewatch.net.decode import (
    FRAG_LATER,
    SUPPORTED_LINKTYPES,
    TUN_NONE,
    TUNNEL_NAMES,
    VER_CUT,
    VER_MALFORMED,
    Decoded,
    decode_batch,
    linktype_label,
)
from minewatch.net.reassembly import TcpReassembler
from minewatch.sources.pcap import CaptureReader

#: link types the decoder reads, as an array for the per-batch check of mixed captures
_SUPPORTED_LINKTYPES_ARR = np.fromiter(SUPPORTED_LINKTYPES, np.int64)

FIN_LINGER_S = 10.0
#: Reject reason of packets whose payload the capture's snaplen cut short.
SNAPLEN_REJECT = "payload cut by the capture's snaplen"
_PROTO_NAMES = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmp6", 132: "sctp", 47: "gre", 50: "esp", 51: "ah",
                2: "igmp", 41: "ipv6", 4: "ipip", 89: "ospf", 103: "pim", 112: "vrrp", 136: "udplite"}

# integer state columns of the flow table
C_STATE, C_SRC_IS_A, C_CERTAIN = 0, 1, 2
C_PK0, C_PK1, C_BY0, C_BY1, C_PL0, C_PL1, C_FL0, C_FL1 = 3, 4, 5, 6, 7, 8, 9, 10
C_FIN0, C_FIN1, C_RST, C_ISN_OK, C_ISN, C_ICMP_T, C_ICMP_C, C_SERIAL, C_HANDSHAKE = (
    11, 12, 13, 14, 15, 16, 17, 18, 19)
NCOLS = 20
# key columns
K_META, K_AHI, K_ALO, K_BHI, K_BLO = 0, 1, 2, 3, 4
# meta counters
M_NFREE, M_TOMB, M_USED, M_SERIAL = 0, 1, 2, 3

ST_FREE, ST_ACTIVE, ST_CLOSED = 0, 1, 2


class StreamConsumer(Protocol):
    """What a protocol dissector implements to receive one flow's traffic."""

    def feed(self, direction: int, ts: float, data: bytes) -> None: ...
    def gap(self, direction: int, ts: float) -> None: ...
    def datagram(self, direction: int, ts: float, payload: bytes) -> None: ...
    def wants_more(self) -> bool: ...
    def close(self) -> None: ...


@dataclass(slots=True)
class FlowInfo:
    src_ip: str
    src_port: int | None
    dst_ip: str
    dst_port: int | None
    transport: str
    first_ts: float
    direction_certain: bool
    #: "erspan 192.0.2.1 -> 192.0.2.2" when the flow's first packet came out of a tunnel (its outermost
    #: one): where a mirrored session was delivered from, and a caution — whoever reaches the sensor can
    #: send a tunnel
    tunnel: str | None = None


TIMELINE_DTYPE = np.dtype([("ts", "f8"), ("direction", "i1"), ("payload_len", "i4")])
_EMPTY_TIMELINE = np.empty(0, TIMELINE_DTYPE)


class FlowSummary:
    """A finished flow. `timeline` is a structured array (ts, direction, payload_len) of payload-bearing
    packets: the first timeline_max/2 and the last timeline_max/2 of the flow, in order;
    `timeline_dropped` counts the ones in between that were not kept.

    Why a hand-written class and not a dataclass: the engine hands over `community_id` and `timeline`
    unevaluated (`_lazy`), and they are worked out on first access. Most flows of a capture are DNS
    lookups whose summary only counts (`pipeline.CaptureScanner._flow_end`); hashing their Community ID
    and concatenating their timelines cost ~10 % of a scan of the benchmark capture. The values are
    the same whenever they are read.
    """

    __slots__ = ("_cid", "_cid_of", "_tl", "_tl_of", "bytes_fwd", "bytes_rev", "end_reason", "first_ts", "info",
                 "last_ts", "packets_fwd", "packets_rev", "payload_bytes_fwd", "payload_bytes_rev", "source",
                 "tcp_flags_fwd", "tcp_flags_rev", "timeline_dropped")

    def __init__(
        self,
        info: FlowInfo,
        first_ts: float,
        last_ts: float,
        packets_fwd: int,
        packets_rev: int,
        bytes_fwd: int,
        bytes_rev: int,
        payload_bytes_fwd: int,
        payload_bytes_rev: int,
        tcp_flags_fwd: int | None,
        tcp_flags_rev: int | None,
        community_id: str | None,
        timeline: np.ndarray,
        timeline_dropped: int = 0,
        source: str | None = None,
        end_reason: str = "idle",
    ) -> None:
        self.info = info
        self.first_ts = first_ts
        self.last_ts = last_ts
        self.packets_fwd = packets_fwd
        self.packets_rev = packets_rev
        self.bytes_fwd = bytes_fwd
        self.bytes_rev = bytes_rev
        self.payload_bytes_fwd = payload_bytes_fwd
        self.payload_bytes_rev = payload_bytes_rev
        self.tcp_flags_fwd = tcp_flags_fwd
        self.tcp_flags_rev = tcp_flags_rev
        self._cid = community_id
        self._cid_of: tuple[str, str, int, int | None, int | None] | None = None
        self._tl = timeline
        self._tl_of: _Timeline | None = None
        self.timeline_dropped = timeline_dropped
        self.source = source
        self.end_reason = end_reason

    def _lazy(self, cid_of: tuple[str, str, int, int | None, int | None], tl_of: _Timeline | None) -> None:
        """Work out the Community ID from `cid_of` and the timeline from `tl_of` (a finished flow's, no
        longer added to) when first read."""
        self._cid_of = cid_of
        self._tl_of = tl_of

    @property
    def community_id(self) -> str | None:
        if self._cid_of is not None:
            try:
                self._cid = community_id(*self._cid_of)
            except (OSError, ValueError, struct.error):
                self._cid = None
            self._cid_of = None
        return self._cid

    @community_id.setter
    def community_id(self, value: str | None) -> None:
        self._cid, self._cid_of = value, None

    @property
    def timeline(self) -> np.ndarray:
        if self._tl_of is not None:
            self._tl = self._tl_of.array()
            self._tl_of = None
        return self._tl

    @timeline.setter
    def timeline(self, value: np.ndarray) -> None:
        self._tl, self._tl_of = value, None

    def __repr__(self) -> str:
        return (f"FlowSummary(info={self.info!r}, first_ts={self.first_ts!r}, last_ts={self.last_ts!r}, "
                f"packets_fwd={self.packets_fwd!r}, packets_rev={self.packets_rev!r}, "
                f"community_id={self.community_id!r}, timeline=<{len(self.timeline)} packets>, "
                f"timeline_dropped={self.timeline_dropped!r}, end_reason={self.end_reason!r})")


@dataclass(slots=True)
class EngineStats:
    packets: int = 0
    bytes: int = 0
    ipv4: int = 0
    ipv6: int = 0
    tcp: int = 0
    udp: int = 0
    icmp: int = 0
    other: int = 0
    fragments: int = 0
    #: packets decoded from inside a tunnel, by the outermost tunnel's name (decode.TUNNEL_NAMES)
    tunnelled: dict[str, int] = field(default_factory=dict)
    non_ip: int = 0  #: packets of a decoded link type that carry no IP (ARP, LLDP, STP, ...)
    unsupported_link: int = 0  #: packets of a link type the decoder does not read (also rejects)
    malformed: int = 0
    cut_headers: int = 0
    snaplen_cut: int = 0  #: IP packets whose payload the capture's snaplen cut short (also rejects)
    flows: int = 0
    tcp_flows: int = 0
    udp_flows: int = 0
    active_flows_peak: int = 0
    payload_packets_delivered: int = 0
    reassembly_gaps: int = 0


# ------------------------------------------------------------------------------------------ kernels
@njit(cache=True, inline="always")
def _mix(h: np.uint64, v: np.uint64) -> np.uint64:
    h ^= v + np.uint64(0x9E3779B97F4A7C15) + (h << np.uint64(6)) + (h >> np.uint64(2))
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    return h


@njit(cache=True, inline="always")
def _hash(meta: np.uint64, ahi: np.uint64, alo: np.uint64, bhi: np.uint64, blo: np.uint64) -> np.uint64:
    h = np.uint64(0xCBF29CE484222325)
    h = _mix(h, meta)
    h = _mix(h, ahi)
    h = _mix(h, alo)
    h = _mix(h, bhi)
    h = _mix(h, blo)
    return h


@njit(cache=True)
def _ht_find_pos(ht: np.ndarray, fk: np.ndarray, s: int) -> int:
    mask = np.uint64(ht.shape[0] - 1)
    h = _hash(fk[s, 0], fk[s, 1], fk[s, 2], fk[s, 3], fk[s, 4]) & mask
    while True:
        v = ht[h]
        if v == -1:
            return -1
        if v == s:
            return np.int64(h)
        h = (h + np.uint64(1)) & mask


@njit(cache=True)
def _ht_rebuild(ht: np.ndarray, fk: np.ndarray, fi: np.ndarray) -> int:
    ht[:] = -1
    mask = np.uint64(ht.shape[0] - 1)
    used = 0
    for s in range(fi.shape[0]):
        if fi[s, C_STATE] != ST_ACTIVE:
            continue
        h = _hash(fk[s, 0], fk[s, 1], fk[s, 2], fk[s, 3], fk[s, 4]) & mask
        while ht[h] != -1:
            h = (h + np.uint64(1)) & mask
        ht[h] = s
        used += 1
    return used


@njit(cache=True, inline="always")
def _port_class(p: int) -> int:
    if p < 0:
        return 3
    if p < 1024:
        return 0
    if p < 32768:
        return 1
    return 2


@njit(cache=True)
def _track(
    ver: np.ndarray,
    proto: np.ndarray,
    s_hi: np.ndarray,
    s_lo: np.ndarray,
    d_hi: np.ndarray,
    d_lo: np.ndarray,
    sport: np.ndarray,
    dport: np.ndarray,
    flags: np.ndarray,
    seq: np.ndarray,
    ip_len: np.ndarray,
    pay_len: np.ndarray,
    ts: np.ndarray,
    start: int,
    ht: np.ndarray,
    fk: np.ndarray,
    fi: np.ndarray,
    ff: np.ndarray,
    free: np.ndarray,
    meta: np.ndarray,
    o_slot: np.ndarray,
    o_dir: np.ndarray,
    o_new: np.ndarray,
    o_closed: np.ndarray,
    counts: np.ndarray,
) -> int:
    """Assign packets [start:] to flows. Returns the index it stopped at (== n when done; less when
    the table is out of free slots or too full, and Python must grow it)."""
    n = ver.shape[0]
    mask = np.uint64(ht.shape[0] - 1)
    limit = (ht.shape[0] * 7) // 10
    n_new = counts[0]
    n_closed = counts[1]
    for i in range(start, n):
        o_slot[i] = -1
        o_dir[i] = 0
        v = ver[i]
        if v != 4 and v != 6:
            continue
        pr = proto[i]
        sp = sport[i]
        dp = dport[i]
        if pr == 1 or pr == 58:
            sp = -1
            dp = -1
        # canonical order: a <= b by (hi, lo, port)
        sender_is_a = True
        if s_hi[i] > d_hi[i] or (s_hi[i] == d_hi[i] and (s_lo[i] > d_lo[i] or (s_lo[i] == d_lo[i] and sp > dp))):
            sender_is_a = False
        if sender_is_a:
            ahi, alo, bhi, blo, pa_, pb_ = s_hi[i], s_lo[i], d_hi[i], d_lo[i], sp, dp
        else:
            ahi, alo, bhi, blo, pa_, pb_ = d_hi[i], d_lo[i], s_hi[i], s_lo[i], dp, sp
        km = (
            (np.uint64(v) << np.uint64(56))
            | (np.uint64(pr & 0xFF) << np.uint64(48))
            | (np.uint64(pa_ + 1) << np.uint64(24))
            | np.uint64(pb_ + 1)
        )
        h = _hash(km, ahi, alo, bhi, blo) & mask
        first_tomb = -1
        s = -1
        while True:
            e = ht[h]
            if e == -1:
                break
            if e == -2:
                if first_tomb < 0:
                    first_tomb = np.int64(h)
            elif (
                fk[e, 0] == km and fk[e, 1] == ahi and fk[e, 2] == alo and fk[e, 3] == bhi and fk[e, 4] == blo
            ):
                s = e
                break
            h = (h + np.uint64(1)) & mask
        fl = flags[i]
        is_tcp = pr == 6
        syn_only = is_tcp and (fl & 0x12) == 0x02
        if s >= 0 and syn_only:
            finished = (fi[s, C_FIN0] and fi[s, C_FIN1]) or fi[s, C_RST]
            sender_src = sender_is_a == (fi[s, C_SRC_IS_A] == 1)
            same_isn = fi[s, C_ISN_OK] == 1 and fi[s, C_ISN] == seq[i] and sender_src
            new_isn = fi[s, C_ISN_OK] == 1 and fi[s, C_ISN] != seq[i]
            reused = (new_isn and sender_src) or (fi[s, C_HANDSHAKE] == 1 and not sender_src)
            if (finished and not same_isn) or reused:
                ht[h] = -2
                meta[M_TOMB] += 1
                meta[M_USED] -= 1
                fi[s, C_STATE] = ST_CLOSED
                o_closed[n_closed] = s
                n_closed += 1
                s = -1
                first_tomb = np.int64(h)
        if s < 0:
            if meta[M_NFREE] == 0 or meta[M_USED] + meta[M_TOMB] >= limit:
                counts[0] = n_new
                counts[1] = n_closed
                return i
            meta[M_NFREE] -= 1
            s = free[meta[M_NFREE]]
            if first_tomb >= 0:
                ht[first_tomb] = s
                meta[M_TOMB] -= 1
            else:
                ht[h] = s
            meta[M_USED] += 1
            fk[s, 0] = km
            fk[s, 1] = ahi
            fk[s, 2] = alo
            fk[s, 3] = bhi
            fk[s, 4] = blo
            for c in range(NCOLS):
                fi[s, c] = 0
            fi[s, C_STATE] = ST_ACTIVE
            certain = 0
            sender_src = True
            if syn_only:
                certain = 1
            elif is_tcp and (fl & 0x12) == 0x12:
                certain = 1
                sender_src = False
            else:
                cs = _port_class(sport[i]) if pr != 1 and pr != 58 else 3
                cd = _port_class(dport[i]) if pr != 1 and pr != 58 else 3
                if not is_tcp:
                    # UDP peers (P2P, games, media) often both use registered ports: only a
                    # well-known port marks a server there
                    cs = 0 if cs == 0 else 2
                    cd = 0 if cd == 0 else 2
                if cs < cd:
                    sender_src = False  # the sender looks like the server
            fi[s, C_CERTAIN] = certain
            fi[s, C_SRC_IS_A] = 1 if sender_src == sender_is_a else 0
            fi[s, C_ICMP_T] = sport[i]
            fi[s, C_ICMP_C] = dport[i]
            fi[s, C_SERIAL] = meta[M_SERIAL]
            meta[M_SERIAL] += 1
            ff[s, 0] = ts[i]
            ff[s, 1] = ts[i]
            o_new[n_new] = s
            n_new += 1
        d = 0 if sender_is_a == (fi[s, C_SRC_IS_A] == 1) else 1
        fi[s, C_PK0 + d] += 1
        fi[s, C_BY0 + d] += ip_len[i]
        fi[s, C_PL0 + d] += pay_len[i]
        if is_tcp:
            fi[s, C_FL0 + d] |= fl
            if fl & 0x01:
                fi[s, C_FIN0 + d] = 1
            if fl & 0x04:
                fi[s, C_RST] = 1
            if syn_only and d == 0:
                fi[s, C_ISN_OK] = 1
                fi[s, C_ISN] = seq[i]
            if (fl & 0x12) == 0x12:
                fi[s, C_HANDSHAKE] = 1
        t = ts[i]
        if t > ff[s, 1]:
            ff[s, 1] = t
        if t < ff[s, 0]:
            ff[s, 0] = t
        o_slot[i] = s
        o_dir[i] = d
    counts[0] = n_new
    counts[1] = n_closed
    return n


@njit(cache=True)
def _expire(
    ht: np.ndarray, fk: np.ndarray, fi: np.ndarray, ff: np.ndarray, meta: np.ndarray,
    idle_before: float, fin_before: float, out: np.ndarray,
) -> int:
    k = 0
    for s in range(fi.shape[0]):
        if fi[s, C_STATE] != ST_ACTIVE:
            continue
        last = ff[s, 1]
        done = (fi[s, C_FIN0] and fi[s, C_FIN1]) or fi[s, C_RST]
        if last < idle_before or (done and last < fin_before):
            pos = _ht_find_pos(ht, fk, s)
            if pos >= 0:
                ht[pos] = -2
                meta[M_TOMB] += 1
                meta[M_USED] -= 1
            fi[s, C_STATE] = ST_CLOSED
            out[k] = s
            k += 1
    return k


# ------------------------------------------------------------------------------------------ python side
def community_id(src_ip: str, dst_ip: str, proto: int, sport: int | None, dport: int | None,
                 seed: int = 0) -> str:
    """Community ID v1 (Corelight spec): the same flow gets the same id in Zeek, Suricata and here."""
    fam = socket.AF_INET6 if ":" in src_ip else socket.AF_INET
    a = socket.inet_pton(fam, src_ip)
    b = socket.inet_pton(fam, dst_ip)
    one_way = False
    if proto in (1, 58) and sport is not None and dport is not None:
        table = _ICMP4_PAIRS if proto == 1 else _ICMP6_PAIRS
        t, c = sport, dport
        if t in table:
            sport, dport = t, table[t]
        else:
            sport, dport = t, c
            one_way = True
    if not one_way and (a > b or (a == b and (sport or 0) > (dport or 0))):
        a, b, sport, dport = b, a, dport, sport
    data = struct.pack("!H", seed) + a + b + struct.pack("!BB", proto, 0)
    if sport is not None and dport is not None and proto in (1, 6, 17, 58, 132):
        data += struct.pack("!HH", sport, dport)
    return "1:" + base64.b64encode(hashlib.sha1(data).digest()).decode()


_ICMP4_PAIRS = {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 17: 18, 18: 17, 10: 9, 9: 10}
_ICMP6_PAIRS = {128: 129, 129: 128, 133: 134, 134: 133, 135: 136, 136: 135, 130: 131, 131: 130,
                139: 140, 140: 139, 144: 145, 145: 144}


_IP_CACHE: dict[tuple[int, int, int], str] = {}


def _ip_str(ver: int, hi: int, lo: int) -> str:
    """Text form of an address; cached because the same hosts open flow after flow."""
    key = (ver, hi, lo)
    s = _IP_CACHE.get(key)
    if s is None:
        if ver == 4:
            s = socket.inet_ntop(socket.AF_INET, (lo & 0xFFFFFFFF).to_bytes(4, "big"))
        else:
            s = socket.inet_ntop(socket.AF_INET6, hi.to_bytes(8, "big") + lo.to_bytes(8, "big"))
        if len(_IP_CACHE) >= 65536:
            _IP_CACHE.clear()
        _IP_CACHE[key] = s
    return s


class _Timeline:
    """First `half` entries kept in full, then a rolling window of the latest `half`."""

    __slots__ = ("dropped", "half", "head", "head_n", "tail", "tail_n")

    def __init__(self, half: int, first: np.ndarray | None = None) -> None:
        self.half = half
        self.head: list[np.ndarray] = []
        self.head_n = 0
        self.tail: list[np.ndarray] = []
        self.tail_n = 0
        self.dropped = 0
        if first is not None:
            if len(first) <= half:  # the usual first piece of a flow: all of it goes to the head
                self.head.append(first)
                self.head_n = len(first)
            else:
                self.add(first)

    def add(self, arr: np.ndarray) -> None:
        if self.head_n < self.half:
            take = min(self.half - self.head_n, len(arr))
            self.head.append(arr[:take])
            self.head_n += take
            arr = arr[take:]
            if not len(arr):
                return
        self.tail.append(arr)
        self.tail_n += len(arr)
        if self.tail_n > 2 * self.half:
            self._trim()

    def _trim(self) -> None:
        cat = np.concatenate(self.tail)
        if len(cat) > self.half:
            self.dropped += len(cat) - self.half
            cat = cat[-self.half :]
        self.tail = [cat]
        self.tail_n = len(cat)

    def final_dropped(self) -> int:
        """`dropped` as it will be once `array()` has trimmed the tail (without trimming it now)."""
        return self.dropped + (self.tail_n - self.half if self.tail_n > self.half else 0)

    def array(self) -> np.ndarray:
        if self.tail_n > self.half:
            self._trim()
        parts = self.head + self.tail
        return np.concatenate(parts) if parts else np.empty(0, TIMELINE_DTYPE)


class _PyFlow:
    __slots__ = ("consumer", "info", "interested", "proto", "reasm", "timeline")

    def __init__(self, info: FlowInfo, proto: int, consumer: StreamConsumer | None, half: int,
                 window: int) -> None:
        self.info = info
        self.proto = proto
        self.consumer = consumer
        self.interested = consumer is not None
        self.reasm = TcpReassembler(consumer, window) if (consumer is not None and proto == 6) else None
        self.timeline: _Timeline | None = None  # made on the first payload packet


class FlowEngine:
    def __init__(
        self,
        consumer_factory: Callable[[FlowInfo], StreamConsumer | None],
        *,
        idle_timeout_s: float = 300.0,
        reorder_window_bytes: int = 256 * 1024,
        timeline_max: int = 4096,
        on_flow_end: Callable[[FlowSummary], None] | None = None,
        initial_slots: int = 1 << 14,
    ) -> None:
        self.factory = consumer_factory
        self.idle_timeout_s = idle_timeout_s
        self.window = reorder_window_bytes
        self.timeline_half = max(1, timeline_max // 2)
        self.on_flow_end = on_flow_end
        self.stats = EngineStats()
        self.rejects = Rejects()
        self.source: str | None = None
        self._offset_note = ""  # " (decompressed)" when batch offsets count a gzip stream's bytes
        self._linktypes_named: set[int] = set()
        self._now = -math.inf
        self._alloc(initial_slots)
        self._flows: dict[int, _PyFlow] = {}

    # -- table management -----------------------------------------------------------------------
    def _alloc(self, slots: int) -> None:
        self.fk = np.zeros((slots, 5), np.uint64)
        self.fi = np.zeros((slots, NCOLS), np.int64)
        self.ff = np.zeros((slots, 2), np.float64)
        self.interest = np.zeros(slots, np.bool_)
        self.free = np.arange(slots - 1, -1, -1, dtype=np.int64)
        self.meta = np.zeros(4, np.int64)
        self.meta[M_NFREE] = slots
        self.ht = np.full(slots * 2, -1, np.int64)

    def _grow(self) -> None:
        old = self.fi.shape[0]
        live = int(self.meta[M_USED])
        new = old * 2 if live > old // 2 or self.meta[M_NFREE] == 0 else old
        if new != old:
            self.fk = np.concatenate([self.fk, np.zeros((new - old, 5), np.uint64)])
            self.fi = np.concatenate([self.fi, np.zeros((new - old, NCOLS), np.int64)])
            self.ff = np.concatenate([self.ff, np.zeros((new - old, 2), np.float64)])
            self.interest = np.concatenate([self.interest, np.zeros(new - old, np.bool_)])
            nfree = int(self.meta[M_NFREE])
            free = np.empty(new, np.int64)
            free[:nfree] = self.free[:nfree]
            added = np.arange(new - 1, old - 1, -1, dtype=np.int64)
            free[nfree : nfree + len(added)] = added
            self.free = free
            self.meta[M_NFREE] = nfree + len(added)
        self.ht = np.full(new * 2, -1, np.int64)
        self.meta[M_USED] = _ht_rebuild(self.ht, self.fk, self.fi)
        self.meta[M_TOMB] = 0

    def _release(self, slots: np.ndarray) -> None:
        # `slots` never holds a slot twice (a slot ends once, and is reused only after this), so the free
        # list grows by them in order, as one array write
        k = int(self.meta[M_NFREE])
        self.fi[slots, C_STATE] = ST_FREE
        self.interest[slots] = False
        self.free[k : k + len(slots)] = slots
        self.meta[M_NFREE] = k + len(slots)

    # -- per batch ------------------------------------------------------------------------------
    def process(self, reader: CaptureReader, progress: Callable[[int], None] | None = None) -> None:
        """Consume the whole capture. Reader errors stay in `reader.errors`; flows stay open until
        `finish()` (so several files can be chained)."""
        self.source = reader.path
        self._offset_note = " (decompressed)" if getattr(reader, "compressed", False) else ""
        for batch in reader:
            self.process_batch(batch)
            if progress is not None:
                progress(reader.bytes_read())
        if progress is not None:
            progress(reader.bytes_read())

    def process_batch(self, batch: object) -> None:
        dec = decode_batch(batch)  # type: ignore[arg-type]
        n = len(dec.ver)
        if n == 0:
            return
        ts = np.nan_to_num(batch.ts, nan=self._now if math.isfinite(self._now) else 0.0)  # type: ignore[attr-defined]
        self._count(batch, dec)
        o_slot = np.empty(n, np.int64)
        o_dir = np.empty(n, np.int64)
        o_new = np.empty(n, np.int64)
        o_closed = np.empty(n, np.int64)
        counts = np.zeros(2, np.int64)
        start = 0
        while True:
            start = _track(
                dec.ver, dec.proto, dec.s_hi, dec.s_lo, dec.d_hi, dec.d_lo, dec.sport, dec.dport, dec.flags,
                dec.seq, dec.ip_len, dec.pay_len, ts, start, self.ht, self.fk, self.fi, self.ff, self.free,
                self.meta, o_slot, o_dir, o_new, o_closed, counts,
            )
            if start >= n:
                break
            self._grow()
        new_slots = o_new[: counts[0]]
        closed = o_closed[: counts[1]]
        self._open_flows(new_slots, dec, o_slot)
        self._payloads(batch, dec, ts, o_slot, o_dir)
        if len(closed):
            self._end_flows(closed, "port reuse")
        tmax = float(np.max(ts))
        if tmax > self._now:
            self._now = tmax
        self._expire_idle()
        active = int(self.meta[M_USED])
        if active > self.stats.active_flows_peak:
            self.stats.active_flows_peak = active

    def _count(self, batch: object, dec: Decoded) -> None:
        st = self.stats
        n = len(dec.ver)
        st.packets += n
        st.bytes += int(batch.origlen.sum())  # type: ignore[attr-defined]
        ver = dec.ver
        ip = (ver == 4) | (ver == 6)
        st.ipv4 += int(np.count_nonzero(ver == 4))
        st.ipv6 += int(np.count_nonzero(ver == 6))
        non_ip = int(np.count_nonzero(ver == 0))
        if non_ip:
            non_ip -= self._count_unsupported_links(batch)
        st.non_ip += non_ip
        mal = int(np.count_nonzero(ver == VER_MALFORMED))
        cut = int(np.count_nonzero(ver == VER_CUT))
        st.malformed += mal
        st.cut_headers += cut
        if mal:
            self.rejects.counts["malformed IP header"] += mal
        if cut:
            self.rejects.counts["packet cut inside its headers"] += cut
        pr = dec.proto[ip]
        st.tcp += int(np.count_nonzero(pr == 6))
        st.udp += int(np.count_nonzero(pr == 17))
        icmp = int(np.count_nonzero((pr == 1) | (pr == 58)))
        st.icmp += icmp
        st.fragments += int(np.count_nonzero(dec.frag[ip] != 0))
        if dec.tun.any():
            kinds, counts = np.unique(dec.tun[dec.tun != TUN_NONE], return_counts=True)
            for k, c in zip(kinds.tolist(), counts.tolist(), strict=True):
                name = TUNNEL_NAMES[k]
                st.tunnelled[name] = st.tunnelled.get(name, 0) + c
        st.other += len(pr) - int(np.count_nonzero((pr == 6) | (pr == 17))) - icmp
        snap = int(np.count_nonzero(dec.pay_cap[ip] < dec.pay_len[ip]))
        if snap:
            # Still read (reassembly marks the missing bytes as a gap), but the content dissectors
            # see only what the snaplen kept: counted so the summary can say detection is blunted.
            st.snaplen_cut += snap
            self.rejects.counts[SNAPLEN_REJECT] += snap

    def _count_unsupported_links(self, batch: object) -> int:
        """Count packets of link types the decoder cannot read as rejects; returns how many.

        Why: `_decode` leaves such packets as non-IP, and a whole 802.11 or USB capture would
        otherwise read as "no traffic, nothing found". The first packet of each link type is named
        with its byte offset (of the decompressed stream for gzip input).
        """
        lt: np.ndarray = batch.linktype  # type: ignore[attr-defined]
        lo, hi = int(lt.min()), int(lt.max())
        if lo == hi:
            if lo in SUPPORTED_LINKTYPES:
                return 0
            bad = np.ones(len(lt), np.bool_)
        else:
            bad = ~np.isin(lt, _SUPPORTED_LINKTYPES_ARR)
        n = int(np.count_nonzero(bad))
        if not n:
            return 0
        self.stats.unsupported_link += n
        idx = np.flatnonzero(bad)
        types, first, counts = np.unique(lt[idx], return_index=True, return_counts=True)
        for t, i, c in zip(types.tolist(), first.tolist(), counts.tolist(), strict=True):
            reason = f"packet of unsupported link type {linktype_label(t)}"
            if t not in self._linktypes_named:
                self._linktypes_named.add(t)
                off = int(batch.base_offset) + int(batch.data_off[idx[i]])  # type: ignore[attr-defined]
                self.rejects.add(reason, f"{self.source or 'capture'}@{off}{self._offset_note}")
                c -= 1
            self.rejects.counts[reason] += c
        return n

    def _open_flows(self, new_slots: np.ndarray, dec: Decoded, o_slot: np.ndarray | None = None) -> None:
        if not len(new_slots):
            return
        tunnel_of: dict[int, str] = {}
        if o_slot is not None and dec.tun.any():
            # the first packet of each new flow in this batch: was it taken out of a tunnel?
            slots, first_idx = np.unique(o_slot, return_index=True)
            for s_, i in zip(slots.tolist(), first_idx.tolist(), strict=True):
                k = int(dec.tun[i])
                if s_ >= 0 and k:
                    ov = int(dec.o_ver[i])
                    tunnel_of[s_] = (f"{TUNNEL_NAMES[k]} {_ip_str(ov, int(dec.o_s_hi[i]), int(dec.o_s_lo[i]))} -> "
                                     f"{_ip_str(ov, int(dec.o_d_hi[i]), int(dec.o_d_lo[i]))}")
        # Key fields of all new flows unpacked with numpy first: the loop below runs once per flow, and
        # most flows of a capture (DNS lookups) cost little else.
        fk = self.fk[new_slots]
        meta = fk[:, K_META]
        vers = (meta >> np.uint64(56)).tolist()
        protos_arr = (meta >> np.uint64(48)) & np.uint64(0xFF)
        protos = protos_arr.tolist()
        pas = (((meta >> np.uint64(24)) & np.uint64(0xFFFFFF)).astype(np.int64) - 1).tolist()
        pbs = ((meta & np.uint64(0xFFFFFF)).astype(np.int64) - 1).tolist()
        fi = self.fi[new_slots]
        factory = self.factory
        flows = self._flows
        half, window = self.timeline_half, self.window
        cache = _IP_CACHE
        names = _PROTO_NAMES
        interested: list[int] = []
        for s, ver, proto, pa_, pb_, ahi, alo, bhi, blo, src_is_a, certain, first in zip(
            new_slots.tolist(), vers, protos, pas, pbs, fk[:, K_AHI].tolist(), fk[:, K_ALO].tolist(),
            fk[:, K_BHI].tolist(), fk[:, K_BLO].tolist(), fi[:, C_SRC_IS_A].tolist(), fi[:, C_CERTAIN].tolist(),
            self.ff[new_slots, 0].tolist(), strict=True,
        ):
            a = cache.get((ver, ahi, alo)) or _ip_str(ver, ahi, alo)
            b = cache.get((ver, bhi, blo)) or _ip_str(ver, bhi, blo)
            if src_is_a:
                src, sp, dst, dp = a, pa_, b, pb_
            else:
                src, sp, dst, dp = b, pb_, a, pa_
            info = FlowInfo(src, sp if sp >= 0 else None, dst, dp if dp >= 0 else None,
                            names.get(proto) or str(proto), first, bool(certain), tunnel_of.get(s))
            f = _PyFlow(info, proto, factory(info), half, window)
            flows[s] = f
            if f.interested:
                interested.append(s)
        if interested:
            self.interest[interested] = True
        self.stats.flows += len(new_slots)
        self.stats.tcp_flows += int(np.count_nonzero(protos_arr == np.uint64(6)))
        self.stats.udp_flows += int(np.count_nonzero(protos_arr == np.uint64(17)))

    def _payloads(self, batch: object, dec: Decoded, ts: np.ndarray, o_slot: np.ndarray,
                  o_dir: np.ndarray) -> None:
        has_flow = o_slot >= 0
        carries = has_flow & (dec.pay_len > 0) & (dec.frag != FRAG_LATER)
        # timelines: payload-bearing packets of every flow
        idx = np.flatnonzero(carries)
        if len(idx):
            sl = o_slot[idx]
            order = np.argsort(sl, kind="stable")
            idx = idx[order]
            sl = sl[order]
            tl = np.empty(len(idx), TIMELINE_DTYPE)
            tl["ts"] = ts[idx]
            tl["direction"] = o_dir[idx]
            tl["payload_len"] = dec.pay_len[idx]
            bounds = np.flatnonzero(np.diff(sl)) + 1
            starts = np.concatenate(([0], bounds)).tolist()
            ends = [*bounds.tolist(), len(sl)]
            slots = sl[starts].tolist()
            flows = self._flows
            half = self.timeline_half
            for s, a, b in zip(slots, starts, ends, strict=True):
                f = flows[s]
                if f.timeline is None:
                    f.timeline = _Timeline(half, tl[a:b])
                else:
                    f.timeline.add(tl[a:b])
        # payload (and SYNs, which anchor sequence numbers) for flows still wanted by a dissector
        sel = has_flow & self.interest[np.where(has_flow, o_slot, 0)]
        sel &= ((dec.pay_len > 0) & (dec.frag == 0)) | ((dec.proto == 6) & ((dec.flags & 0x02) != 0))
        idx = np.flatnonzero(sel)
        if not len(idx):
            return
        raw: bytes = batch.raw  # type: ignore[attr-defined]
        flows = self._flows
        delivered = 0
        for s, d, t, po, pc, pl, sq, fl, pr in zip(
            o_slot[idx].tolist(), o_dir[idx].tolist(), ts[idx].tolist(), dec.pay_off[idx].tolist(),
            dec.pay_cap[idx].tolist(), dec.pay_len[idx].tolist(), dec.seq[idx].tolist(),
            dec.flags[idx].tolist(), dec.proto[idx].tolist(), strict=True,
        ):
            f = flows[s]
            if not f.interested:
                continue
            c = f.consumer
            assert c is not None
            if pr == 6:
                f.reasm.segment(d, t, sq, fl, raw[po : po + pc], pl)  # type: ignore[union-attr]
            else:
                if pc < pl:
                    c.gap(d, t)
                c.datagram(d, t, raw[po : po + pc])
            delivered += 1
            if not c.wants_more():
                f.interested = False
                self.interest[s] = False
                if f.reasm is not None:
                    f.reasm.drop()
        self.stats.payload_packets_delivered += delivered

    def _expire_idle(self) -> None:
        out = np.empty(self.fi.shape[0], np.int64)
        k = _expire(self.ht, self.fk, self.fi, self.ff, self.meta, self._now - self.idle_timeout_s,
                    self._now - FIN_LINGER_S, out)
        if k:
            self._end_flows(out[:k], "idle")

    def _end_flows(self, slots: np.ndarray, reason: str) -> None:
        # the table rows of all ending flows in one read each, not one numpy access per flow
        rows = self.fi[slots].tolist()
        times = self.ff[slots].tolist()
        flows = self._flows
        on_end = self.on_flow_end
        stats = self.stats
        for s, row, (first, last) in zip(slots.tolist(), rows, times, strict=True):
            f = flows.pop(s, None)
            if f is None:
                continue
            c = f.consumer
            if c is not None:  # close the consumer (held TCP segments delivered first)
                r = f.reasm
                if r is not None:
                    if f.interested:
                        r.flush()
                    stats.reassembly_gaps += r.gaps
                c.close()
            if on_end is not None:
                on_end(self._summary(s, f, reason, row, first, last, lazy=True))
        self._release(slots)

    def _summary(self, s: int, f: _PyFlow, reason: str, row: list[int] | None = None,
                 first: float | None = None, last: float | None = None, lazy: bool = False) -> FlowSummary:
        """The flow's summary; `row`, `first`, `last` when the caller already read them for many flows.
        `lazy` (a flow that has ended, whose timeline no longer grows) leaves the Community ID and the
        timeline to be worked out when read (`FlowSummary`)."""
        if row is None:
            row = self.fi[s].tolist()
            first, last = float(self.ff[s, 0]), float(self.ff[s, 1])
        info = f.info
        tcp = f.proto == 6
        fi_done = (row[C_FIN0] and row[C_FIN1]) or row[C_RST]
        if reason in ("idle", "end of capture") and fi_done:
            reason = "fin" if not row[C_RST] else "rst"
        sp, dp = info.src_port, info.dst_port
        if f.proto in (1, 58):
            sp, dp = row[C_ICMP_T], row[C_ICMP_C]
            if sp < 0:
                sp = dp = None
        ftl = f.timeline
        summary = FlowSummary(
            info,
            first,  # type: ignore[arg-type]
            last,  # type: ignore[arg-type]
            row[C_PK0],
            row[C_PK1],
            row[C_BY0],
            row[C_BY1],
            row[C_PL0],
            row[C_PL1],
            row[C_FL0] if tcp else None,
            row[C_FL1] if tcp else None,
            None,
            _EMPTY_TIMELINE if ftl is None else None,  # type: ignore[arg-type]
            0 if ftl is None else ftl.final_dropped(),
            self.source,
            reason,
        )
        if lazy:
            summary._lazy((info.src_ip, info.dst_ip, f.proto, sp, dp), ftl)
        else:
            summary._lazy((info.src_ip, info.dst_ip, f.proto, sp, dp), None)
            summary.community_id  # noqa: B018 - worked out now
            if ftl is not None:
                summary.timeline = ftl.array()
        return summary

    # -- open flows (live watch) -----------------------------------------------------------------
    def open_flows(self, started_before: float, proto: int = 6) -> list[tuple[int, FlowInfo]]:
        """`(slot, info)` of the open flows of one IP protocol first seen at or before `started_before`.

        Why here and vectorised: a live watcher must judge week-long encrypted sessions while they are
        open, but must not walk every open flow in Python each time; the table already holds state,
        protocol and first timestamp per slot, so the selection is one numpy pass and Python sees only
        the long-lived survivors. Nothing on the packet path changes.
        """
        fi, ff = self.fi, self.ff
        sel = (fi[:, C_STATE] == ST_ACTIVE) & (ff[:, 0] <= started_before)
        sel &= ((self.fk[:, K_META] >> np.uint64(48)) & np.uint64(0xFF)) == np.uint64(proto)
        flows = self._flows
        out: list[tuple[int, FlowInfo]] = []
        for s in np.flatnonzero(sel).tolist():
            f = flows.get(s)
            if f is not None:
                out.append((s, f.info))
        return out

    def snapshot(self, slot: int) -> FlowSummary | None:
        """The summary an open flow would get if it ended now (`end_reason="open"`); the flow goes on.

        The timeline is the same bounded head-and-tail the final summary carries, so a verdict on a
        snapshot is the verdict the capture scan would give the flow cut at this moment.
        """
        f = self._flows.get(slot)
        if f is None or self.fi[slot, C_STATE] != ST_ACTIVE:
            return None
        return self._summary(slot, f, "open")

    def finish(self) -> None:
        """Expire every flow still open: consumers are closed and `on_flow_end` called, oldest first."""
        live = np.flatnonzero(self.fi[:, C_STATE] == ST_ACTIVE)
        if len(live):
            live = live[np.argsort(self.fi[live, C_SERIAL], kind="stable")]
            for s in live.tolist():
                pos = _ht_find_pos(self.ht, self.fk, s)
                if pos >= 0:
                    self.ht[pos] = -2
                    self.meta[M_TOMB] += 1
                    self.meta[M_USED] -= 1
                self.fi[s, C_STATE] = ST_CLOSED
            self._end_flows(live, "end of capture")


def summaries_to_arrow(summaries: list[FlowSummary]) -> pa.Table:
    """Flow summaries as a FLOW_SCHEMA table (timestamps in µs UTC, no payload timeline)."""
    def us(t: float) -> int | None:
        return None if t is None or not math.isfinite(t) else round(t * 1e6)

    cols: dict[str, list] = {f.name: [] for f in FLOW_SCHEMA}
    for s in summaries:
        i = s.info
        cols["src_ip"].append(i.src_ip)
        cols["src_port"].append(i.src_port)
        cols["dst_ip"].append(i.dst_ip)
        cols["dst_port"].append(i.dst_port)
        cols["transport"].append(i.transport)
        cols["first_seen"].append(us(s.first_ts))
        cols["last_seen"].append(us(s.last_ts))
        dur = (s.last_ts - s.first_ts) * 1000.0
        cols["duration_ms"].append(dur if math.isfinite(dur) else None)
        cols["packets_fwd"].append(s.packets_fwd)
        cols["packets_rev"].append(s.packets_rev)
        cols["bytes_fwd"].append(s.bytes_fwd)
        cols["bytes_rev"].append(s.bytes_rev)
        cols["payload_bytes_fwd"].append(s.payload_bytes_fwd)
        cols["payload_bytes_rev"].append(s.payload_bytes_rev)
        cols["tcp_flags_fwd"].append(s.tcp_flags_fwd)
        cols["tcp_flags_rev"].append(s.tcp_flags_rev)
        cols["sni"].append(None)
        cols["dns_name"].append(None)
        cols["application"].append(None)
        cols["community_id"].append(s.community_id)
        cols["source"].append(s.source)
        cols["slice_start"].append(None)
        cols["slice_end"].append(None)
    arrays = [pa.array(cols[f.name], type=f.type) for f in FLOW_SCHEMA]
    return pa.Table.from_arrays(arrays, schema=FLOW_SCHEMA)


@dataclass
class _Collect:
    """Convenience: collect summaries (used by tests and the bench)."""

    summaries: list[FlowSummary] = field(default_factory=list)

    def __call__(self, s: FlowSummary) -> None:
        self.summaries.append(s)
