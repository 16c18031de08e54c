"""NetFlow v5, v9 and IPFIX decoding: datagram bytes -> Arrow columns of flow slices, with no I/O.

Why a pure function over explicit state (`TemplateCache`): the collector, the tests, the fuzzer and
the benchmark all feed the same bytes through the same code, and nothing here can block, write or
read the clock except through the `now` argument. Garbage input never raises: every problem becomes
an `Event` of kind "reject" that the caller counts.

Why declarative field tables: v9 field types and IPFIX information elements share numbers for the
common fields (RFC 3954 types are the ancestors of the IANA IPFIX registry), so one table of
`id -> (name, kind)` decodes both, and an element we do not know is still kept, by id, as hex.

Why columns and not one dict per record: a Python object per record caps a collector at ~150 k
records/s, far below what one router exports. Every template whose fields all have a fixed length
is compiled once into a numpy structured dtype; a data set is then only validated and its bytes
kept (`ColumnBuffer.add`), and when the caller asks for a batch all data sets of one template are
joined and read with one `np.frombuffer`, each output column converted with vectorised code. Only
templates with variable-length fields and options records take the per-record path.

Timing: v5/v9 record `First`/`Last` as exporter uptime in ms, turned into UTC with the header's
uptime and wall clock. IPFIX uptime fields (21/22) need `systemInitTimeMilliseconds` (IE 160),
which exporters send in an options record; until one arrives those times stay null, never guessed.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from minewatch.model import FLOW_SCHEMA, TS
from minewatch.sources.convert import convert_or_split, halves

# ---------------------------------------------------------------------------------------------------
# Field tables

#: IANA IPFIX information elements (ids shared with NetFlow v9 field types) we give names and kinds.
#: kinds: u = unsigned integer (any length), ip4, ip6, mac, str, ts_s / ts_ms / ts_us / ts_ns absolute
#: times, up = exporter uptime in ms. Anything else is kept as hex bytes under its id.
IE: dict[int, tuple[str, str]] = {
    1: ("octetDeltaCount", "u"),
    2: ("packetDeltaCount", "u"),
    3: ("deltaFlowCount", "u"),
    4: ("protocolIdentifier", "u"),
    5: ("ipClassOfService", "u"),
    6: ("tcpControlBits", "u"),
    7: ("sourceTransportPort", "u"),
    8: ("sourceIPv4Address", "ip4"),
    9: ("sourceIPv4PrefixLength", "u"),
    10: ("ingressInterface", "u"),
    11: ("destinationTransportPort", "u"),
    12: ("destinationIPv4Address", "ip4"),
    13: ("destinationIPv4PrefixLength", "u"),
    14: ("egressInterface", "u"),
    15: ("ipNextHopIPv4Address", "ip4"),
    16: ("bgpSourceAsNumber", "u"),
    17: ("bgpDestinationAsNumber", "u"),
    18: ("bgpNextHopIPv4Address", "ip4"),
    21: ("flowEndSysUpTime", "up"),
    22: ("flowStartSysUpTime", "up"),
    23: ("postOctetDeltaCount", "u"),
    24: ("postPacketDeltaCount", "u"),
    27: ("sourceIPv6Address", "ip6"),
    28: ("destinationIPv6Address", "ip6"),
    29: ("sourceIPv6PrefixLength", "u"),
    30: ("destinationIPv6PrefixLength", "u"),
    31: ("flowLabelIPv6", "u"),
    32: ("icmpTypeCodeIPv4", "u"),
    34: ("samplingInterval", "u"),
    35: ("samplingAlgorithm", "u"),
    36: ("flowActiveTimeout", "u"),
    37: ("flowIdleTimeout", "u"),
    40: ("exportedOctetTotalCount", "u"),
    41: ("exportedMessageTotalCount", "u"),
    42: ("exportedFlowRecordTotalCount", "u"),
    48: ("samplerId", "u"),
    50: ("samplerRandomInterval", "u"),
    56: ("sourceMacAddress", "mac"),
    57: ("postDestinationMacAddress", "mac"),
    58: ("vlanId", "u"),
    60: ("ipVersion", "u"),
    61: ("flowDirection", "u"),
    62: ("ipNextHopIPv6Address", "ip6"),
    80: ("destinationMacAddress", "mac"),
    82: ("interfaceName", "str"),
    83: ("interfaceDescription", "str"),
    85: ("octetTotalCount", "u"),
    86: ("packetTotalCount", "u"),
    136: ("flowEndReason", "u"),
    139: ("icmpTypeCodeIPv6", "u"),
    144: ("exportingProcessId", "u"),
    148: ("flowId", "u"),
    149: ("observationDomainId", "u"),
    150: ("flowStartSeconds", "ts_s"),
    151: ("flowEndSeconds", "ts_s"),
    152: ("flowStartMilliseconds", "ts_ms"),
    153: ("flowEndMilliseconds", "ts_ms"),
    154: ("flowStartMicroseconds", "ts_us"),
    155: ("flowEndMicroseconds", "ts_us"),
    156: ("flowStartNanoseconds", "ts_ns"),
    157: ("flowEndNanoseconds", "ts_ns"),
    160: ("systemInitTimeMilliseconds", "ts_ms"),
    176: ("icmpTypeIPv4", "u"),
    177: ("icmpCodeIPv4", "u"),
    178: ("icmpTypeIPv6", "u"),
    179: ("icmpCodeIPv6", "u"),
    180: ("udpSourcePort", "u"),
    181: ("udpDestinationPort", "u"),
    182: ("tcpSourcePort", "u"),
    183: ("tcpDestinationPort", "u"),
    239: ("biflowDirection", "u"),
    305: ("samplingPacketInterval", "u"),
    306: ("samplingPacketSpace", "u"),
    309: ("samplingSize", "u"),
    310: ("samplingPopulation", "u"),
}

#: RFC 5103 bidirectional flows: the reverse direction's counter is the same element under the reverse
#: enterprise number (YAF, softflowd -b, some routers). Those few are decoded as if they were IANA
#: elements with an id of their own (`_REV | ie`) so the fast column path treats them like any counter.
REVERSE_PEN = 29305
_REV = 1 << 16
_REVERSE_IES = {1: "reverseOctetDeltaCount", 2: "reversePacketDeltaCount", 6: "reverseTcpControlBits",
                85: "reverseOctetTotalCount", 86: "reversePacketTotalCount"}
IE.update({_REV | ie: (name, "u") for ie, name in _REVERSE_IES.items()})

#: Which IE fills which output column, in order of preference (first present wins).
_SRC_IP = (8, 27)
_DST_IP = (12, 28)
_SRC_PORT = (7, 180, 182)
_DST_PORT = (11, 181, 183)
_BYTES = (1, 85)
_PACKETS = (2, 86)
_START = (152, 150, 154, 156, 22)
_END = (153, 151, 155, 157, 21)


def _sampling_rate(vals: dict[int, Any]) -> int | None:
    """The N of "1 packet in N" that an options record announces, from whichever elements it uses.

    Why not the first element present: RFC 5477's systematic count-based sampling says it as packets
    taken (305 samplingPacketInterval) then packets skipped (306 samplingPacketSpace), so softflowd's
    IPFIX `-s 10` sends 305 = 1 and 306 = 9, and reading 305 alone called it unsampled (1 in 1); random
    n-out-of-N says it as 309 samplingSize out of 310 samplingPopulation. v9's 34 samplingInterval and
    50 samplerRandomInterval state N directly. 305 alone keeps its old reading (N).
    """
    for ie in (34, 50):
        v = vals.get(ie)
        if isinstance(v, int) and v > 0:
            return v
    taken, space = vals.get(305), vals.get(306)
    if isinstance(taken, int) and taken > 0:
        return max(1, round((taken + space) / taken)) if isinstance(space, int) and space >= 0 else taken
    size, population = vals.get(309), vals.get(310)
    if isinstance(size, int) and isinstance(population, int) and 0 < size <= population:
        return max(1, round(population / size))
    return None
_REV_BYTES = (_REV | 1, _REV | 85)
_REV_PACKETS = (_REV | 2, _REV | 86)
_REV_FLAGS = _REV | 6
_CORE_IES = frozenset(
    (*_SRC_IP, *_DST_IP, *_SRC_PORT, *_DST_PORT, *_BYTES, *_PACKETS, *_START, *_END, 4, 6,
     *_REV_BYTES, *_REV_PACKETS, _REV_FLAGS)
)

_PROTO_NAMES = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6", 132: "sctp", 47: "gre", 50: "esp"}
_NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01
_U32 = 1 << 32
_M32 = _U32 - 1
#: how far an uptime may lie *after* the export time and still be read as such, not as 49.7 days
#: earlier: v9/IPFIX headers give the export time in whole seconds, so a flow that ended in the
#: export's own second reads up to 999 ms "late" (softflowd's last flows of a file did this)
_AHEAD_MS = 300_000


def _since_ms(d: int) -> int:
    """Milliseconds from an uptime back to the export, taken modulo 2^32 into [-_AHEAD_MS, 2^32 - _AHEAD_MS)."""
    d %= _U32
    return d - _U32 if d >= _U32 - _AHEAD_MS else d


def _since_ms_vec(d: np.ndarray) -> np.ndarray:
    """`_since_ms` over an int64 array (x & 0xFFFFFFFF is x mod 2^32 in two's complement, ~30x cheaper)."""
    d = d & _M32
    return np.where(d >= _U32 - _AHEAD_MS, d - _U32, d)


_VARLEN = 0xFFFF

#: What an output column can hold. A value outside becomes null (and is counted in
#: `ColumnBuffer.nulled`) on both decoding paths, never an exception: one exporter's bad record must
#: not cost a batch. Times are kept within 1970-01-01 .. 9999-12-31T23:59:59.999999Z because that is
#: what the Parquet partitioning and every reader's `datetime` conversion can take (a year-33658
#: `start` made a whole output directory unscannable), and no flow record predates 1970.
_I64_MAX = (1 << 63) - 1
_I32_MAX = (1 << 31) - 1
_TS_MIN_US = 0  # 1970-01-01T00:00:00Z
_TS_MAX_US = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z

#: Output schema of the collector (one row per exported flow record: a time slice of a flow).
NETFLOW_SCHEMA = pa.schema(
    [
        ("src_ip", pa.string()),
        ("src_port", pa.int32()),
        ("dst_ip", pa.string()),
        ("dst_port", pa.int32()),
        ("proto", pa.int16()),
        ("transport", pa.string()),
        ("packets", pa.int64()),
        ("bytes", pa.int64()),
        ("tcp_flags", pa.int32()),
        ("start", TS),
        ("end", TS),
        ("sampling_interval", pa.int64()),
        ("exporter", pa.string()),
        ("observation_domain", pa.int64()),
        ("version", pa.int16()),
        ("sequence", pa.int64()),
        ("template_id", pa.int32()),
        ("extra", pa.map_(pa.string(), pa.string())),
        # RFC 5103 biflow records only; null (unknown, not 0) for one-way records
        ("packets_rev", pa.int64()),
        ("bytes_rev", pa.int64()),
        ("tcp_flags_rev", pa.int32()),
    ]
)


# ---------------------------------------------------------------------------------------------------
# State and results


@dataclass(slots=True)
class Event:
    """Something the caller should count: reject, seq_gap, template, held, released, expired, options."""

    kind: str
    detail: str = ""
    count: int = 1


@dataclass(slots=True)
class Template:
    template_id: int
    fields: tuple[tuple[int, int, int], ...]  # (element id, length, enterprise number or 0)
    options: bool = False
    scope_count: int = 0
    v9_scope: bool = False  # v9 option scope types are not IPFIX IEs (1 = system, 2 = interface ...)
    _compiled: Any = None

    @property
    def min_length(self) -> int:
        return sum(1 if ln == _VARLEN else ln for _, ln, _ in self.fields)

    @property
    def fixed(self) -> bool:
        return all(ln != _VARLEN for _, ln, _ in self.fields)


@dataclass(slots=True)
class _Ctx:
    """Header facts a data set needs to be decoded later (times are relative to its own message)."""

    version: int
    domain: int
    export_ms: int
    uptime_ms: int | None
    sequence: int
    held_at: float = 0.0


@dataclass
class TemplateCache:
    """All the state one collector keeps between datagrams, keyed by exporter and observation domain.

    Held data: data sets whose template has not been seen yet wait here (at most `max_held` sets,
    at most `max_held_age_s` seconds) and are decoded the moment their template arrives.
    """

    max_held: int = 20_000
    max_held_age_s: float = 3600.0
    templates: dict[tuple[str, int, int], Template] = field(default_factory=dict)
    held: dict[tuple[str, int, int], deque[tuple[bytes, _Ctx]]] = field(default_factory=dict)
    held_count: int = 0
    next_seq: dict[tuple[str, int, int], int | None] = field(default_factory=dict)
    ipfix_seq: dict[tuple[str, int, int], tuple[int, int, int] | None] = field(default_factory=dict)
    system_init_ms: dict[tuple[str, int], int] = field(default_factory=dict)
    sampling: dict[tuple[str, int], int] = field(default_factory=dict)
    #: sFlow: each data source's last cumulative count of samples its agent dropped (`sources.sflow`)
    sflow_drops: dict[tuple[str, int], int] = field(default_factory=dict)

    def expire_held(self, now: float) -> int:
        """Drop held sets older than the limit; returns how many were dropped (the caller counts them)."""
        dropped = 0
        for key in list(self.held):
            q = self.held[key]
            while q and now - q[0][1].held_at > self.max_held_age_s:
                q.popleft()
                dropped += 1
            if not q:
                del self.held[key]
        self.held_count -= dropped
        return dropped

    def drain_held(self) -> int:
        """Forget every held set (at shutdown); returns how many there were."""
        n = self.held_count
        self.held.clear()
        self.held_count = 0
        return n


Record = dict[str, Any]


# ---------------------------------------------------------------------------------------------------
# Value conversion


def _ip4(b: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET, b)


def _ip6(b: bytes) -> str:
    return str(ipaddress.IPv6Address(b))


def _mac(b: bytes) -> str:
    return b.hex(":")


def _uint(b: bytes) -> int:
    return int.from_bytes(b, "big")


def _text(b: bytes) -> str:
    return b.rstrip(b"\x00").decode("utf-8", "replace")


def _ntp_us(b: bytes) -> int:
    """dateTimeMicro/NanoSeconds: NTP 64-bit (seconds since 1900, 2^-32 fractions) -> epoch us."""
    secs, frac = struct.unpack(">II", b)
    return (secs - _NTP_EPOCH_OFFSET) * 1_000_000 + (frac * 1_000_000 >> 32)


def _value(ie: int, pen: int, raw: bytes) -> tuple[str, Any]:
    """Name and Python value of one field; unknown or mis-sized elements keep their bytes as hex."""
    if pen == 0 and ie in IE:
        name, kind = IE[ie]
        n = len(raw)
        if kind in ("u", "up") and 1 <= n <= 8:
            return name, _uint(raw)
        if kind == "ip4" and n == 4:
            return name, _ip4(raw)
        if kind == "ip6" and n == 16:
            return name, _ip6(raw)
        if kind == "mac" and n == 6:
            return name, _mac(raw)
        if kind == "str":
            return name, _text(raw)
        if kind in ("ts_s", "ts_ms") and 1 <= n <= 8:
            return name, _uint(raw)
        if kind in ("ts_us", "ts_ns") and n == 8:
            return name, _ntp_us(raw)
        return name, raw.hex()
    if not pen and ie & 0x7000 == 0x7000:
        return f"scope{ie & 0x0FFF}", raw.hex()
    return (f"e{pen}.{ie}" if pen else f"ie{ie}"), raw.hex()


# ---------------------------------------------------------------------------------------------------
# Record assembly


def _first(vals: dict[int, Any], ids: tuple[int, ...]) -> tuple[int | None, Any]:
    for i in ids:
        v = vals.get(i)
        if v is not None:
            return i, v
    return None, None


def _time_us(ie: int | None, v: Any, ctx: _Ctx, init_ms: int | None) -> int | None:
    """Absolute UTC time in microseconds for a start/end element, or None when it cannot be known."""
    if ie is None or not isinstance(v, int):
        return None
    if ie in (150, 151):
        return v * 1_000_000
    if ie in (152, 153):
        return v * 1000
    if ie in (154, 155, 156, 157):
        return v
    # uptime (21/22): v5/v9 carry the header's uptime; IPFIX needs systemInitTimeMilliseconds.
    if ctx.uptime_ms is not None:
        return (ctx.export_ms - _since_ms(ctx.uptime_ms - v)) * 1000
    if init_ms is not None:
        # Relative to the export time, modulo 2^32: uptime counters wrap every 49.7 days, and a
        # flow lies before its export (give or take the header's whole second), so this is right
        # across a wrap where init + v is not.
        up_now = ctx.export_ms - init_ms
        return (ctx.export_ms - _since_ms(up_now - v)) * 1000
    return None


def _fit(v: Any, hi: int, col: str, nulled: Counter[str], lo: int = 0) -> int | None:
    """`v` when it is an integer the column `col` can hold (lo..hi), else None.

    A non-integer is an element of the wrong size (kept as hex): unknown, not counted. An integer out
    of range is what the exporter really sent, so it is counted in `nulled` by column: the operator
    can see that an exporter sends values no column can hold, while the record itself is kept.
    """
    if not isinstance(v, int):
        return None
    if lo <= v <= hi:
        return v
    nulled[col] += 1
    return None


def _build_record(
    vals: dict[int, Any], extra: dict[str, str], exporter: str, ctx: _Ctx, tid: int, cache: TemplateCache,
    nulled: Counter[str],
) -> Record:
    """One row of the per-record path, every value checked against its column as `_group_batch` does.

    Why every column is checked here: `records_to_batch` converts all pending per-record rows at once,
    so one unchecked value (an 8-byte port, an 8-byte "seconds" time, a sampling interval of 2^64-1)
    used to make the whole batch, every exporter's records, fail to convert.
    """
    dkey = (exporter, ctx.domain)
    _, src = _first(vals, _SRC_IP)
    _, dst = _first(vals, _DST_IP)
    _, sport = _first(vals, _SRC_PORT)
    _, dport = _first(vals, _DST_PORT)
    _, nbytes = _first(vals, _BYTES)
    _, npk = _first(vals, _PACKETS)
    _, rbytes = _first(vals, _REV_BYTES)
    _, rpk = _first(vals, _REV_PACKETS)
    rflags = vals.get(_REV_FLAGS)
    proto = vals.get(4)
    init = cache.system_init_ms.get(dkey)
    s_ie, s_v = _first(vals, _START)
    e_ie, e_v = _first(vals, _END)
    return {
        "src_ip": src if isinstance(src, str) else None,
        "src_port": _fit(sport, _I32_MAX, "src_port", nulled),
        "dst_ip": dst if isinstance(dst, str) else None,
        "dst_port": _fit(dport, _I32_MAX, "dst_port", nulled),
        "proto": _fit(proto, 255, "proto", nulled),
        "transport": _PROTO_NAMES.get(proto, str(proto)) if isinstance(proto, int) else None,
        "packets": _fit(npk, _I64_MAX, "packets", nulled),
        "bytes": _fit(nbytes, _I64_MAX, "bytes", nulled),
        "tcp_flags": _fit(vals.get(6), _I32_MAX, "tcp_flags", nulled),
        "start": _fit(_time_us(s_ie, s_v, ctx, init), _TS_MAX_US, "start", nulled, _TS_MIN_US),
        "end": _fit(_time_us(e_ie, e_v, ctx, init), _TS_MAX_US, "end", nulled, _TS_MIN_US),
        "sampling_interval": _fit(cache.sampling.get(dkey), _I64_MAX, "sampling_interval", nulled),
        "exporter": exporter,
        "observation_domain": ctx.domain,
        "version": ctx.version,
        "sequence": ctx.sequence,
        "template_id": tid,
        "extra": extra or None,
        "packets_rev": _fit(rpk, _I64_MAX, "packets_rev", nulled),
        "bytes_rev": _fit(rbytes, _I64_MAX, "bytes_rev", nulled),
        "tcp_flags_rev": _fit(rflags, _I32_MAX, "tcp_flags_rev", nulled),
    }


def _rows_slow(body: bytes, t: Template, events: list[Event]) -> list[tuple[dict[int, Any], dict[str, str]]]:
    """Per-record decoding for options records and variable-length templates (the rare cases).

    A fixed-length template stops where fewer bytes than one record remain (that is padding); a
    variable-length record that runs past the set is rejected and ends the set.
    """
    rows: list[tuple[dict[int, Any], dict[str, str]]] = []
    pos, n = 0, len(body)
    minlen = max(t.min_length, 1)
    while n - pos >= minlen:
        vals: dict[int, Any] = {}
        extra: dict[str, str] = {}
        for ie, ln, pen in t.fields:
            if ln == _VARLEN:
                if pos >= n:
                    break
                ln = body[pos]
                pos += 1
                if ln == 255:
                    if pos + 2 > n:
                        break
                    ln = int.from_bytes(body[pos : pos + 2], "big")
                    pos += 2
            if pos + ln > n:
                break
            name, v = _value(ie, pen, body[pos : pos + ln])
            pos += ln
            if pen == 0 and ie in IE:
                vals[ie] = v
                if ie not in _CORE_IES:
                    extra[name] = str(v)
            else:
                extra[name] = str(v)
        else:
            rows.append((vals, extra))
            continue
        events.append(Event("reject", "truncated variable-length record"))
        break
    return rows


# ---------------------------------------------------------------------------------------------------
# Columnar fast path

#: How a fixed-length field is read: "int" unsigned big-endian 1-8 bytes, "ntp" 64-bit NTP time,
#: "ip4" IPv4 address, "other" anything else (converted per distinct value with `_value`).
_MAP = pa.map_(pa.string(), pa.string())
_TRANSPORT = pa.array([_PROTO_NAMES.get(i, str(i)) for i in range(256)], pa.string())


@dataclass(slots=True, eq=False)
class _Field:
    name: str  # field of the structured dtype
    ie: int
    pen: int
    length: int
    vk: str


@dataclass(slots=True, eq=False)
class _Layout:
    """A fixed-length template compiled for `np.frombuffer`; shared by every template with its fields."""

    size: int
    dtype: np.dtype
    known: dict[int, _Field]  # IANA element -> its field (the last one, as a dict of values would keep)
    extra: list[tuple[str, _Field]]  # `extra` map keys in first-seen order, value of the last occurrence
    init: _Field | None  # systemInitTimeMilliseconds inside data records


_SLOW = object()  # marks a template that needs the per-record path
_LAYOUTS: dict[tuple[tuple[int, int, int], ...], _Layout] = {}


def _value_kind(ie: int, pen: int, ln: int) -> str:
    kind = IE[ie][1] if pen == 0 and ie in IE else None
    if kind in ("u", "up", "ts_s", "ts_ms") and 1 <= ln <= 8:
        return "int"
    if kind in ("ts_us", "ts_ns") and ln == 8:
        return "ntp"
    if kind == "ip4" and ln == 4:
        return "ip4"
    return "other"


def _layout(fields: tuple[tuple[int, int, int], ...]) -> _Layout:
    """Compile (once per distinct field list) a dtype; `ie < 0` marks padding that is skipped."""
    lay = _LAYOUTS.get(fields)
    if lay is not None:
        return lay
    names: list[str] = []
    formats: list[Any] = []
    offsets: list[int] = []
    known: dict[int, _Field] = {}
    extra: dict[str, _Field] = {}
    off = 0
    for i, (ie, ln, pen) in enumerate(fields):
        if ie >= 0:
            vk = _value_kind(ie, pen, ln)
            f = _Field(f"f{i}", ie, pen, ln, vk)
            names.append(f.name)
            offsets.append(off)
            if vk in ("int", "ip4", "ntp") and ln in (1, 2, 4, 8):
                formats.append(f">u{ln}")
            elif vk == "int":
                formats.append((np.uint8, (ln,)))
            else:
                formats.append(f"V{ln}")
            if pen == 0 and ie in IE:
                known[ie] = f
                if ie not in _CORE_IES:
                    extra[IE[ie][0]] = f
            else:
                extra[f"e{pen}.{ie}" if pen else f"ie{ie}"] = f
        off += ln
    init = known.get(160)
    lay = _Layout(
        size=off,
        dtype=np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": off}),
        known=known,
        extra=list(extra.items()),
        init=init if init is not None and init.vk == "int" else None,
    )
    if len(_LAYOUTS) > 4096:  # exporters that churn templates must not grow this without bound
        _LAYOUTS.clear()
    _LAYOUTS[fields] = lay
    return lay


def _col_uint(rec: np.ndarray, f: _Field) -> np.ndarray:
    """An "int" field as uint64 (odd sizes like 3 or 6 bytes are widened big-endian)."""
    a = rec[f.name]
    if a.ndim == 1:
        return a.astype(np.uint64)
    wide = np.zeros((a.shape[0], 8), np.uint8)
    wide[:, 8 - f.length :] = a
    return wide.view(">u8").ravel().astype(np.uint64)


def _ntp(rec: np.ndarray, f: _Field) -> np.ndarray:
    """dateTimeMicro/NanoSeconds (NTP seconds since 1900 + 2^-32 fractions) -> epoch us, int64."""
    v = rec[f.name].astype(np.uint64)
    secs = (v >> np.uint64(32)).astype(np.int64)
    frac = (v & np.uint64(0xFFFFFFFF)) * np.uint64(1_000_000) >> np.uint64(32)
    return (secs - _NTP_EPOCH_OFFSET) * 1_000_000 + frac.astype(np.int64)


# Text columns: building them was most of the collector's CPU per record. An address was four
# octet lookups joined by Arrow; now it is two lookups in a 65,536-entry table of "a.b" halves
# joined once. The `extra` map's keys (the same k keys for every record) and the exporter column
# were a take per value; now they are one repeated byte pattern written into Arrow's buffers.
# Tried and not kept (docs/flows.md): numba kernels writing the text straight into Arrow buffers
# were faster per record but cost ~0.5 s of CPU per process to load and tear down, more than they
# saved on a 600 k-record run; a pure-numpy byte matrix was slower than Arrow's kernels.

_HALVES: pa.Array | None = None


def _halves() -> pa.Array:
    """"a.b" for every 16-bit value a*256+b; built on first use, then shared.

    Built by Arrow from the 256 octet texts (~3.5 ms) rather than 65,536 f-strings (~30 ms): that was
    paid inside every collector's first batch, ~5 % of the CPU of a 600 k-record run.
    """
    global _HALVES
    if _HALVES is None:
        octets = pa.array([str(i) for i in range(256)], pa.string())
        i = np.arange(65536, dtype=np.int32)
        _HALVES = pc.binary_join_element_wise(octets.take(pa.array(i >> 8)), octets.take(pa.array(i & 255)), ".")
    return _HALVES


#: `_repeat_text` results kept for the next batch, by their texts: (array, repetitions it holds)
_REPEATS: dict[tuple[str, ...], tuple[pa.Array, int]] = {}
_REPEATS_BYTES = [0]
#: what the kept repetitions may take in all (bytes of text); past it they are built afresh each time
_REPEATS_MAX_BYTES = 64 << 20


def _repeat_text(texts: list[str], n: int) -> pa.Array:
    """The strings `texts` one after another, the whole sequence `n` times, without a take per value.

    Every batch of a template repeats the same `extra` keys (v5: eight names, ~170 bytes a record) and
    every group its exporter, so the array is kept and the next batch takes a zero-copy slice of it:
    building 50,000 v5 key sets cost 9-18 ms, about a tenth of the whole conversion. Kept arrays are
    bounded in bytes (`_REPEATS_MAX_BYTES`); when full they are all dropped and built again as needed.
    """
    key = tuple(texts)
    kept = _REPEATS.get(key)
    if kept is not None and kept[1] >= n:
        return kept[0] if kept[1] == n else kept[0].slice(0, n * len(texts))
    per = sum(len(t.encode()) for t in texts)
    cap = n + n // 4  # headroom: the next batch is seldom exactly as large
    size = cap * per
    if size > _REPEATS_MAX_BYTES:
        return _build_repeat(texts, n)
    if kept is not None:
        del _REPEATS[key]
        _REPEATS_BYTES[0] -= kept[1] * per
    if _REPEATS_BYTES[0] + size > _REPEATS_MAX_BYTES:
        _REPEATS.clear()
        _REPEATS_BYTES[0] = 0
    arr = _build_repeat(texts, cap)
    _REPEATS[key] = (arr, cap)
    _REPEATS_BYTES[0] += size
    return arr.slice(0, n * len(texts))


def _build_repeat(texts: list[str], n: int) -> pa.Array:
    kb = [t.encode() for t in texts]
    row = np.frombuffer(b"".join(kb), np.uint8)
    prefix = np.cumsum([0, *(len(b) for b in kb)]).astype(np.int64)
    data = np.empty((n, row.size), np.uint8)
    data[:] = row
    off = np.empty(n * len(kb) + 1, np.int32)
    off[:-1] = (np.arange(n, dtype=np.int64)[:, None] * row.size + prefix[None, :-1]).ravel()
    off[-1] = n * row.size
    return pa.StringArray.from_buffers(n * len(kb), pa.py_buffer(off), pa.py_buffer(data.reshape(-1)))


def _ip4_text(u32: np.ndarray) -> pa.Array:
    """Dotted quads without a Python object per address: "a.b" + "." + "c.d" from one table.

    Flow records repeat addresses (a server, a gateway, a busy client), so the text is built once
    per distinct address (a hash pass, `dictionary_encode`) and then taken: per 50 000 records
    ~1.7x cheaper with 6 000 distinct addresses, ~3x with 100. When most are distinct the result is
    built directly, but the hash pass was paid: ~1.9x the direct cost (~3.6 vs ~1.9 ms) when every
    address differs, the price of the common case.
    """
    u = np.asarray(u32, np.uint32)
    if u.size >= 64:
        enc = pc.dictionary_encode(pa.array(u))
        uniq = enc.dictionary.to_numpy()
        if 2 * uniq.size <= u.size:
            return _ip4_join(uniq).take(enc.indices)
    return _ip4_join(u)


def _ip4_join(u: np.ndarray) -> pa.Array:
    h = _halves()
    return pc.binary_join_element_wise(h.take(pa.array((u >> np.uint32(16)).astype(np.int32))),
                                       h.take(pa.array((u & np.uint32(0xFFFF)).astype(np.int32))), ".")


def _per_distinct(rec: np.ndarray, f: _Field) -> pa.Array:
    """Text of an "other" field: `_value` runs once per distinct value, not once per record."""
    a = rec[f.name]
    uniq, inv = np.unique(a, return_inverse=True)
    text = pa.array([str(_value(f.ie, f.pen, u.tobytes())[1]) for u in uniq], pa.string())
    return text.take(pa.array(inv.ravel().astype(np.int32)))


def _col_text(rec: np.ndarray, f: _Field) -> pa.Array:
    if f.vk == "int":
        return pa.array(_col_uint(rec, f)).cast(pa.string())
    if f.vk == "ip4":
        return _ip4_text(rec[f.name])
    if f.vk == "ntp":
        return pa.array(_ntp(rec, f)).cast(pa.string())
    return _per_distinct(rec, f)


def _nums(rec: np.ndarray, f: _Field | None, limit: int,
          n: int) -> tuple[np.ndarray, np.ndarray | None] | None:
    """(int64 values, null mask) of an integer field; None when absent or not an integer.

    The mask is None when the field is too short to hold a value above `limit` (a 2-byte port, a 1-byte
    protocol): no comparison pass, and a 1-, 2- or 4-byte field is widened to int64 in one pass.
    """
    if f is None or f.vk != "int":
        return None
    if (1 << 8 * f.length) - 1 <= limit:
        a = rec[f.name]
        return (a.astype(np.int64) if a.ndim == 1 else _col_uint(rec, f).view(np.int64)), None
    u = _col_uint(rec, f)
    return u.view(np.int64), u > np.uint64(limit)  # values above `limit` are masked null, so no copy


def _arr(v: tuple[np.ndarray, np.ndarray | None] | None, typ: pa.DataType, n: int) -> pa.Array:
    if v is None:
        return pa.nulls(n, typ)
    vals, mask = v
    return pa.array(vals, pa.int64(), mask=mask if mask is not None and mask.any() else None).cast(typ)


def _pick(lay: _Layout, ids: tuple[int, ...]) -> _Field | None:
    for i in ids:
        f = lay.known.get(i)
        if f is not None:
            return f
    return None


def _time(rec: np.ndarray, f: _Field | None, ctx: dict[str, np.ndarray], init_rec: np.ndarray | None,
          n: int) -> tuple[np.ndarray, np.ndarray, int] | None:
    """Start or end in epoch us with the same rules as `_time_us`, for a whole column.

    Returns (values, null mask, how many were nulled for lying outside _TS_MIN_US.._TS_MAX_US). Unknown
    times (no uptime and no init time) are null but not counted: nothing was wrong with them.
    """
    if f is None:
        return None
    if f.vk == "ntp" and f.ie in (154, 155, 156, 157):
        out = _ntp(rec, f)  # NTP era 0 ends in 2036; only before 1970 is out of range
        bad = out < _TS_MIN_US
        return out, bad, int(bad.sum()) if bad.any() else 0
    if f.vk != "int":
        return None
    if f.ie in (150, 151, 152, 153):
        u = _col_uint(rec, f)
        # compared before multiplying: a uint64 of seconds times 10^6 wraps silently in int64
        scale = 1_000_000 if f.ie in (150, 151) else 1000
        bad = u > np.uint64(_TS_MAX_US // scale)
        return u.astype(np.int64) * scale, bad, int(bad.sum()) if bad.any() else 0
    if f.ie not in (21, 22):
        return None
    # uptime: relative to the export time modulo 2^32, so a flow stays before its export across a wrap
    # x % 2**32 on int64 is x & 0xFFFFFFFF (two's complement, negatives included), ~30x cheaper
    a = rec[f.name]
    if a.ndim == 1 and f.length <= 4:
        v = a.astype(np.int64)  # already below 2^32: one pass instead of widen, mask, convert
    else:
        v = (_col_uint(rec, f) & np.uint64(0xFFFFFFFF)).astype(np.int64)
    export = ctx["export_ms"]
    null = ~ctx["has_uptime"]
    if not null.any():  # v5/v9: the header's uptime dates every record
        out = (export - _since_ms_vec(ctx["uptime_ms"] - v)) * 1000
    else:
        if init_rec is not None:  # systemInitTimeMilliseconds in the data record itself
            up_now = (export - (init_rec & np.uint64(0xFFFFFFFF)).astype(np.int64)) & _M32
            has_init = np.ones(n, bool)
        else:
            up_now, has_init = ctx["up_now"], ctx["has_init"]
        by_init = (export - _since_ms_vec(up_now - v)) * 1000
        # IPFIX: no header uptime at all, so the uptime reading is not computed just to be replaced
        out = by_init if null.all() else np.where(null, by_init, (export - _since_ms_vec(ctx["uptime_ms"] - v)) * 1000)
        null = null & ~has_init
    # an export time near 1970 (a zeroed header) minus the uptime lands before it
    bad = (out < _TS_MIN_US) & ~null
    if bad.any():
        return out, null | bad, int(bad.sum())
    return out, null, 0


@dataclass(slots=True, eq=False)
class _Group:
    """Undecoded data sets of one compiled template from one exporter, with each set's header facts."""

    layout: _Layout
    exporter: str
    template_id: int
    bodies: list[bytes] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    #: (version, domain, export_ms, uptime_ms | None, sequence, system_init_ms | None, sampling | None)
    ctx: list[tuple[int, int, int, int | None, int, int | None, int | None]] = field(default_factory=list)


def _group_batch(g: _Group, nulled: Counter[str]) -> pa.RecordBatch:
    """All data sets of one compiled template as one batch; values that do not fit are counted in `nulled`."""
    lay = g.layout
    rec = np.frombuffer(b"".join(g.bodies), dtype=lay.dtype)
    n = rec.shape[0]
    counts = np.array(g.counts, np.int64)
    version, domain, export_ms, uptime, seq, init, samp = zip(*g.ctx, strict=True)

    def rep(vals: Any, dtype: Any = np.int64) -> np.ndarray:
        # per-message facts are mostly the same for a whole batch (version, domain, uptime-or-not,
        # sampling): a fill is several times cheaper than a repeat
        if vals.count(vals[0]) == len(vals):
            return np.full(n, vals[0], dtype)
        return np.repeat(np.array(vals, dtype), counts)

    ctx = {
        "export_ms": rep(export_ms),
        "uptime_ms": rep([u or 0 for u in uptime]),
        "has_uptime": rep([u is not None for u in uptime], bool),
        "up_now": rep([(e - i) % _U32 if i is not None else 0 for e, i in zip(export_ms, init, strict=True)]),
        "has_init": rep([i is not None for i in init], bool),
    }
    init_rec = _col_uint(rec, lay.init) if lay.init is not None else None
    src = _pick(lay, _SRC_IP)
    dst = _pick(lay, _DST_IP)
    proto = _nums(rec, lay.known.get(4), 255, n)
    if proto is None:
        transport = pa.nulls(n, pa.string())
    else:
        p = proto[0]
        small = (p >= 0) & (p < 256)
        transport = _TRANSPORT.take(pa.array(np.where(small, p, 0).astype(np.int32)))
        if not small.all():
            transport = pc.if_else(pa.array(small), transport, pa.array(p.astype(np.uint64)).cast(pa.string()))
    ok_samp = [s if s is not None and s <= _I64_MAX else None for s in samp]
    has_samp = rep([s is not None for s in ok_samp], bool)
    if ok_samp.count(None) != samp.count(None):
        nulled["sampling_interval"] += sum(c for s, c in zip(samp, g.counts, strict=True)
                                           if s is not None and s > _I64_MAX)
    exporter = _repeat_text([g.exporter], n)

    def num(f: _Field | None, limit: int, typ: pa.DataType, col: str,
            v: tuple[np.ndarray, np.ndarray] | None = None) -> pa.Array:
        v = _nums(rec, f, limit, n) if v is None else v
        if v is not None and v[1] is not None and v[1].any():  # the mask is exactly the values above `limit`
            nulled[col] += int(v[1].sum())
        return _arr(v, typ, n)

    def when(f: _Field | None, col: str) -> pa.Array:
        t = _time(rec, f, ctx, init_rec, n)
        if t is None:
            return pa.nulls(n, TS)
        if t[2]:
            nulled[col] += t[2]
        return _arr(t[:2], TS, n)

    cols = [
        _ip_text(rec, src, n),
        num(_pick(lay, _SRC_PORT), _I32_MAX, pa.int32(), "src_port"),
        _ip_text(rec, dst, n),
        num(_pick(lay, _DST_PORT), _I32_MAX, pa.int32(), "dst_port"),
        num(None, 255, pa.int16(), "proto", proto),
        transport,
        num(_pick(lay, _PACKETS), _I64_MAX, pa.int64(), "packets"),
        num(_pick(lay, _BYTES), _I64_MAX, pa.int64(), "bytes"),
        num(lay.known.get(6), _I32_MAX, pa.int32(), "tcp_flags"),
        when(_pick(lay, _START), "start"),
        when(_pick(lay, _END), "end"),
        _arr((rep([s or 0 for s in ok_samp]), ~has_samp), pa.int64(), n),
        exporter,
        pa.array(rep(domain)),
        pa.array(rep(version)).cast(pa.int16()),
        pa.array(rep(seq)),
        pa.array(np.full(n, g.template_id, np.int32)),
        _extra(rec, lay, n),
        num(_pick(lay, _REV_PACKETS), _I64_MAX, pa.int64(), "packets_rev"),
        num(_pick(lay, _REV_BYTES), _I64_MAX, pa.int64(), "bytes_rev"),
        num(lay.known.get(_REV_FLAGS), _I32_MAX, pa.int32(), "tcp_flags_rev"),
    ]
    return pa.RecordBatch.from_arrays(cols, schema=NETFLOW_SCHEMA)


def _ip_text(rec: np.ndarray, f: _Field | None, n: int) -> pa.Array:
    return pa.nulls(n, pa.string()) if f is None else _col_text(rec, f)


def _text_codes(rec: np.ndarray, f: _Field) -> tuple[pa.Array, np.ndarray]:
    """A field's distinct values as text and each record's index into them (int32).

    Same text as `_col_text`, but each distinct value is converted once: `extra` fields (interfaces,
    AS numbers, prefix lengths, ToS, next hops) take few values, and v5 carries eight of them.
    """
    if f.vk == "other":
        a = rec[f.name]
        uniq, inv = np.unique(a, return_inverse=True)
        text = pa.array([str(_value(f.ie, f.pen, u.tobytes())[1]) for u in uniq], pa.string())
        return text, inv.ravel().astype(np.int32)
    if f.vk == "int":
        vals = _col_uint(rec, f)
    elif f.vk == "ip4":
        vals = np.asarray(rec[f.name], np.uint32)
    else:  # ntp
        vals = _ntp(rec, f)
    enc = pc.dictionary_encode(pa.array(vals))
    uniq = enc.dictionary
    text = _ip4_join(uniq.to_numpy()) if f.vk == "ip4" else uniq.cast(pa.string())
    return text, enc.indices.to_numpy()


def _extra(rec: np.ndarray, lay: _Layout, n: int) -> pa.Array:
    """The `extra` map: same keys for every record of a fixed template, so built by index arithmetic.

    The values are one take, record-major, from the distinct texts of all the map's fields laid end
    to end: converting n*k values and then interleaving them with a second take cost ~2x more (v5,
    eight fields, 50 000 records: 17-18 -> ~8 ms).
    """
    k = len(lay.extra)
    if k == 0:
        return pa.nulls(n, _MAP)
    texts: list[pa.Array] = []
    idx = np.empty((n, k), np.int32)
    base = 0
    for j, (_, f) in enumerate(lay.extra):
        text, codes = _text_codes(rec, f)
        np.add(codes, base, out=idx[:, j], casting="unsafe")
        base += len(text)
        texts.append(text)
    values = pa.concat_arrays(texts).take(pa.array(idx.reshape(-1)))
    keys = _repeat_text([key for key, _ in lay.extra], n)
    offsets = pa.array(np.arange(0, (n + 1) * k, k, dtype=np.int32))
    return pa.MapArray.from_arrays(offsets, keys, values)


def _split_group(g: _Group) -> list[_Group] | None:
    """Halves of a group: by data sets, then a single set by its records; None for one record."""
    if len(g.bodies) > 1:
        h = len(g.bodies) // 2
        return [_Group(g.layout, g.exporter, g.template_id, g.bodies[a:b], g.counts[a:b], g.ctx[a:b])
                for a, b in ((0, h), (h, len(g.bodies)))]
    n = g.counts[0]
    if n <= 1:
        return None
    h, size = n // 2, g.layout.size
    body = g.bodies[0]
    return [_Group(g.layout, g.exporter, g.template_id, [body[:h * size]], [h], g.ctx[:1]),
            _Group(g.layout, g.exporter, g.template_id, [body[h * size:n * size]], [n - h], g.ctx[:1])]


class ColumnBuffer:
    """Decoded flow slices waiting to become one Arrow table; what `decode_into` writes to.

    Fixed-template data sets are kept as raw bytes per template (`add`), so the per-datagram cost is
    a few list appends; `take()` does the numpy/Arrow work once for many datagrams. Row order in the
    table is by template, then arrival; nothing downstream depends on arrival order.

    Besides the rows, the buffer notes what its consumer should count (`take_notes()`): `nulled`,
    values set to null because their column cannot hold them, by column (the record is kept); and
    `failed`, records that could still not be converted, by (reason, "exporter domain template
    sequence"), which are left out of the table instead of failing it.
    """

    __slots__ = ("failed", "groups", "nulled", "rows", "sflow", "slow")

    def __init__(self) -> None:
        self.groups: dict[tuple[_Layout, str, int], _Group] = {}
        self.slow: list[Record] = []
        #: sFlow packet-header samples (`sources.sflow.SflowPending`), decoded together at `take()`
        self.sflow: Any = None
        self.rows = 0
        self.nulled: Counter[str] = Counter()
        self.failed: Counter[tuple[str, str]] = Counter()

    def add(self, lay: _Layout, exporter: str, tid: int, body: bytes, n: int,
            ctx: tuple[int, int, int, int | None, int, int | None, int | None]) -> None:
        key = (lay, exporter, tid)
        g = self.groups.get(key)
        if g is None:
            g = self.groups[key] = _Group(lay, exporter, tid)
        g.bodies.append(body)
        g.counts.append(n)
        g.ctx.append(ctx)
        self.rows += n

    def take(self) -> pa.Table | None:
        """Everything buffered as a NETFLOW_SCHEMA table (None when empty); the buffer is emptied.

        Each template's group and the per-record rows convert on their own, and a part that fails is
        halved until only its bad records are left out (noted in `failed`): one record nothing
        foresaw must not cost the other records of the batch, as it once cost ~50 000 of them.
        """
        groups, slow, sflow = self.groups, self.slow, self.sflow
        self.groups = {}  # emptied first: a conversion bug must not wedge every later batch
        self.slow = []
        self.sflow = None
        self.rows = 0
        batches: list[pa.RecordBatch] = []
        for g in groups.values():
            convert_or_split(g, self._convert_group, _split_group, self._bad_group, batches)
        if slow:
            convert_or_split(slow, records_to_batch, halves, self._bad_rows, batches)
        if sflow is not None and len(sflow):
            from minewatch.sources.sflow import sflow_batch

            try:
                b = sflow_batch(sflow, self.failed)
            except Exception as exc:  # a conversion bug costs these samples, counted, not the batch
                self.failed[(_convert_reason(exc), f"{len(sflow)} sFlow samples")] += len(sflow)
                b = None
            if b is not None:
                batches.append(b)
        return pa.Table.from_batches(batches, schema=NETFLOW_SCHEMA) if batches else None

    def take_notes(self) -> tuple[Counter[str], Counter[tuple[str, str]]]:
        """(`nulled`, `failed`) gathered since the last call, and start them again from zero."""
        notes = self.nulled, self.failed
        self.nulled, self.failed = Counter(), Counter()
        return notes

    def _convert_group(self, g: _Group) -> pa.RecordBatch:
        nulled: Counter[str] = Counter()
        batch = _group_batch(g, nulled)
        self.nulled.update(nulled)  # only once it converted: a retried half must not count twice
        return batch

    def _bad_group(self, g: _Group, exc: Exception) -> None:
        _, domain, _, _, seq, _, _ = g.ctx[0]
        self.failed[(_convert_reason(exc), f"{g.exporter} domain {domain} template {g.template_id} "
                     f"sequence {seq}")] += sum(g.counts)

    def _bad_rows(self, rows: list[Record], exc: Exception) -> None:
        for r in rows:
            self.failed[(_convert_reason(exc), f"{r.get('exporter')} domain {r.get('observation_domain')} "
                         f"template {r.get('template_id')} sequence {r.get('sequence')}")] += 1


def _convert_reason(exc: Exception) -> str:
    return f"decoder error: {type(exc).__name__} converting a record"


def table_to_records(table: pa.Table | pa.RecordBatch | None) -> list[Record]:
    """Rows as dicts (times as epoch us, `extra` as dict): for tests and small tools, not the hot path."""
    if table is None or table.num_rows == 0:
        return []
    t = table if isinstance(table, pa.Table) else pa.Table.from_batches([table])
    t = t.set_column(t.schema.get_field_index("start"), "start", t.column("start").cast(pa.int64()))
    t = t.set_column(t.schema.get_field_index("end"), "end", t.column("end").cast(pa.int64()))
    rows = t.to_pylist()
    for r in rows:
        if r["extra"] is not None:
            r["extra"] = dict(r["extra"])
    return rows


def _data_set(
    data: bytes, a: int, b: int, t: Template, exporter: str, ctx: _Ctx, cache: TemplateCache,
    buf: ColumnBuffer, events: list[Event],
) -> tuple[int, int]:
    """Take one data set (bytes a:b of the message); returns (data records, flow records) in it."""
    lay = t._compiled
    if lay is None:
        lay = t._compiled = _layout(t.fields) if t.fixed and not t.options else _SLOW
    dkey = (exporter, ctx.domain)
    if lay is _SLOW:
        rows = _rows_slow(data[a:b], t, events)
        if t.options:
            for vals, _ in rows:
                init = vals.get(160)
                if isinstance(init, int):
                    cache.system_init_ms[dkey] = init
                samp = _sampling_rate(vals)
                if samp is not None:
                    cache.sampling[dkey] = samp
            events.append(Event("options", f"template {t.template_id}", len(rows)))
            return len(rows), 0
        for vals, extra in rows:
            init = vals.get(160)  # some exporters put the init time in every data record
            if isinstance(init, int):
                cache.system_init_ms[dkey] = init
            buf.slow.append(_build_record(vals, extra, exporter, ctx, t.template_id, cache, buf.nulled))
        buf.rows += len(rows)
        return len(rows), len(rows)
    size = lay.size
    n = (b - a) // size  # what is left over is padding
    if n:
        if lay.init is not None:  # the set's own init time dates later sets of this domain
            off = lay.dtype.fields[lay.init.name][1]
            last = a + (n - 1) * size + off
            cache.system_init_ms[dkey] = int.from_bytes(data[last : last + lay.init.length], "big")
        buf.add(lay, exporter, t.template_id, data[a : a + n * size], n,
                (ctx.version, ctx.domain, ctx.export_ms, ctx.uptime_ms, ctx.sequence,
                 cache.system_init_ms.get(dkey), cache.sampling.get(dkey)))
    return n, n


# ---------------------------------------------------------------------------------------------------
# Datagram level

_V5_HDR = struct.Struct(">HHIIIIBBH")
_V9_HDR = struct.Struct(">HHIIII")
_IPFIX_HDR = struct.Struct(">HHIII")
_SET_HDR = struct.Struct(">HH")
#: The fixed 48-byte v5 record as template fields (negative ids are padding).
_V5_LAYOUT = _layout((
    (8, 4, 0), (12, 4, 0), (15, 4, 0), (10, 2, 0), (14, 2, 0), (2, 4, 0), (1, 4, 0), (22, 4, 0), (21, 4, 0),
    (7, 2, 0), (11, 2, 0), (-1, 1, 0), (6, 1, 0), (4, 1, 0), (5, 1, 0), (16, 2, 0), (17, 2, 0), (9, 1, 0),
    (13, 1, 0), (-1, 2, 0),
))
assert _V5_LAYOUT.size == 48


#: (exporter, version, domain or sub-agent) sequences followed at most
MAX_SEQ_KEYS = 65_536


def _check_seq(
    cache: TemplateCache, key: tuple[str, int, int], seq: int, advance: int | None, events: list[Event]
) -> None:
    """Count a gap when the sequence number jumps ahead; reordering/duplicates are counted apart.

    `advance` is how far this message moves the expected number (None = unknown, e.g. IPFIX data
    that is held because its template is missing), which suspends the check once.
    """
    expected = cache.next_seq.get(key)
    if expected is None and key not in cache.next_seq and len(cache.next_seq) >= MAX_SEQ_KEYS:
        cache.next_seq.clear()  # forged exporters or domains must not grow it: the others restart their check
    if expected is not None:
        diff = (seq - expected) % _U32
        if 0 < diff < (1 << 31):
            events.append(Event("seq_gap", f"{key[0]} domain {key[2]}", diff))
        elif diff != 0:
            events.append(Event("seq_reorder", f"{key[0]} domain {key[2]}"))
    cache.next_seq[key] = None if advance is None else (seq + advance) % _U32


def _check_ipfix_seq(
    cache: TemplateCache, key: tuple[str, int, int], seq: int, counts: tuple[int, int] | None,
    events: list[Event],
) -> None:
    """IPFIX sequence check that accepts the conventions exporters really use.

    RFC 7011 numbers a message by the data records sent *before* it, options records included.
    softflowd 1.1 numbers it by the flow records sent *including* it and leaves options records out.
    A message is in order when any of those readings fits; otherwise the smallest forward distance
    is counted as lost records. `counts` = (all data records, flow records) of this message.
    """
    prev = cache.ipfix_seq.get(key)
    if counts is None:
        cache.ipfix_seq[key] = None
        return
    cache.ipfix_seq[key] = (seq, *counts)
    if prev is None:
        return
    pseq, ptotal, pflows = prev
    total, flows = counts
    candidates = {(pseq + d) % _U32 for d in (ptotal, pflows, total, flows)}
    if seq in candidates:
        return
    diffs = [(seq - c) % _U32 for c in candidates]
    ahead = [d for d in diffs if d < (1 << 31)]
    if ahead:
        events.append(Event("seq_gap", f"{key[0]} domain {key[2]}", min(ahead)))
    else:
        events.append(Event("seq_reorder", f"{key[0]} domain {key[2]}"))




def _decode_v5(data: bytes, exporter: str, cache: TemplateCache, buf: ColumnBuffer) -> list[Event]:
    events: list[Event] = []
    if len(data) < _V5_HDR.size:
        return [Event("reject", "v5 header truncated")]
    _, count, uptime, secs, nsecs, seq, _etype, eid, samp = _V5_HDR.unpack_from(data)
    if count == 0 or count > 30:
        return [Event("reject", f"v5 count {count} out of range 1-30")]
    end = _V5_HDR.size + count * _V5_LAYOUT.size
    if len(data) < end:
        return [Event("reject", "v5 datagram shorter than its record count")]
    domain = eid
    dkey = (exporter, domain)
    interval = samp & 0x3FFF
    if interval:
        cache.sampling[dkey] = interval
    _check_seq(cache, (exporter, 5, domain), seq, count, events)
    buf.add(_V5_LAYOUT, exporter, 0, data[_V5_HDR.size : end], count,
            (5, domain, secs * 1000 + nsecs // 1_000_000, uptime, seq, cache.system_init_ms.get(dkey),
             cache.sampling.get(dkey)))
    return events


def _parse_templates(
    body: bytes, exporter: str, domain: int, version: int, set_id: int, cache: TemplateCache,
    events: list[Event],
) -> list[tuple[str, int, int]]:
    """Learn (or withdraw) the templates in one template/options-template set; returns their keys."""
    learned: list[tuple[str, int, int]] = []
    pos, n = 0, len(body)
    options = set_id in (1, 3)
    while n - pos >= 4:
        if version == 9 and options:
            if n - pos < 6:
                break
            tid, scope_len, opt_len = struct.unpack_from(">HHH", body, pos)
            pos += 6
            if scope_len % 4 or opt_len % 4 or pos + scope_len + opt_len > n:
                events.append(Event("reject", "v9 options template malformed"))
                return learned
            nf = (scope_len + opt_len) // 4
            specs = [(*struct.unpack_from(">HH", body, pos + 4 * i), 0) for i in range(nf)]
            pos += scope_len + opt_len
            scope = scope_len // 4
        else:
            tid, count = struct.unpack_from(">HH", body, pos)
            pos += 4
            if count == 0 and version == 10:
                # RFC 7011 8.1: a withdrawal is (template id, field count 0) in either set, with no
                # scope count even in an options template set. Id 2 in a template set withdraws all
                # data templates, id 3 in an options template set all options templates (only those:
                # the options records date uptime fields and give the sampling interval).
                if tid == set_id:
                    removed = [k for k, old in cache.templates.items()
                               if k[:2] == (exporter, domain) and old.options == options]
                else:
                    removed = [(exporter, domain, tid)] if (exporter, domain, tid) in cache.templates else []
                for k in removed:
                    del cache.templates[k]
                events.append(Event("template_withdrawn", f"{exporter} domain {domain} id {tid}", len(removed)))
                continue
            scope = 0
            if set_id == 3:
                if n - pos < 2:
                    events.append(Event("reject", "options template truncated"))
                    return learned
                (scope,) = struct.unpack_from(">H", body, pos)
                pos += 2
            specs = []
            for _ in range(count):
                if n - pos < 4:
                    events.append(Event("reject", "template truncated"))
                    return learned
                ie, ln = struct.unpack_from(">HH", body, pos)
                pos += 4
                pen = 0
                if version == 10 and ie & 0x8000:
                    if n - pos < 4:
                        events.append(Event("reject", "template truncated"))
                        return learned
                    (pen,) = struct.unpack_from(">I", body, pos)
                    pos += 4
                    ie &= 0x7FFF
                    if pen == REVERSE_PEN and ie in _REVERSE_IES:
                        ie, pen = _REV | ie, 0
                specs.append((ie, ln, pen))
        if tid < 256:
            events.append(Event("reject", f"template id {tid} below 256"))
            continue
        if version == 9 and any(ln == _VARLEN for _, ln, _ in specs):
            events.append(Event("reject", "v9 template with variable length field"))
            continue
        if not specs or any(ln == 0 for _, ln, _ in specs):
            events.append(Event("reject", f"template {tid} has no fields or a zero-length field"))
            continue
        key = (exporter, domain, tid)
        t = Template(tid, tuple(specs), options=options, scope_count=scope, v9_scope=version == 9 and options)
        if t.v9_scope:
            # v9 scope field types are their own numbering space; keep them by id as "scope<N>".
            t.fields = tuple((0x7000 | ie, ln, 0) if i < scope else (ie, ln, p) for i, (ie, ln, p) in enumerate(specs))
        old = cache.templates.get(key)
        if old is None or old.fields != t.fields or old.options != t.options:
            cache.templates[key] = t
            events.append(Event("template", f"{exporter} domain {domain} id {tid}"))
        learned.append(key)
    return learned




def decode_into(data: bytes, exporter: str, templates: TemplateCache, buf: ColumnBuffer,
                now: float = 0.0, wall_s: float | None = None) -> list[Event]:
    """Decode one NetFlow v5/v9, IPFIX or sFlow v5 message into `buf`; returns the events to count.

    Never raises on any input: a malformed datagram yields a "reject" event (and whatever records
    before the damage could be decoded safely). `now` (seconds, any clock) timestamps held data;
    `wall_s` (UTC epoch seconds of arrival) is the only time an sFlow packet sample has (None: null).
    Call `buf.take()` when a batch is wanted: the fewer calls, the cheaper each record.
    """
    try:
        if data[:4] == b"\x00\x00\x00\x05":
            from minewatch.sources.sflow import decode_sflow

            return decode_sflow(data, exporter, templates, buf, wall_s)
        return _decode(data, exporter, templates, buf, now)
    except Exception as exc:  # a decoder bug must cost one datagram, not the collector
        return [Event("reject", f"decoder error: {type(exc).__name__}")]


def decode_datagram(
    data: bytes, exporter: str, templates: TemplateCache, now: float = 0.0, wall_s: float | None = None
) -> tuple[list[Record], list[Event]]:
    """One message -> (rows as dicts, events): the convenient form for tests and one-off use.

    Same decoder as `decode_into`; the dicts are made from the Arrow table afterwards, so this is
    slower than the collector's path by design.
    """
    buf = ColumnBuffer()
    events = decode_into(data, exporter, templates, buf, now, wall_s)
    try:
        rows = table_to_records(buf.take())
    except Exception as exc:
        return [], [*events, Event("reject", f"decoder error: {type(exc).__name__}")]
    _, failed = buf.take_notes()
    return rows, [*events, *(Event("reject", reason, n) for (reason, _), n in failed.items())]


def _decode(data: bytes, exporter: str, cache: TemplateCache, buf: ColumnBuffer, now: float) -> list[Event]:
    """One v9/IPFIX message (v5 goes to `_decode_v5`).

    The common case, a data set of a compiled template without an init-time field, is handled
    inline: its bytes go straight into the template's `_Group` and the `_Ctx` object that held or
    per-record data needs is only built for them. Per datagram this is what the collector pays in
    Python, so each call and object saved here is saved 20 000 times per 600 k records; the other
    cases go through `_data_set` exactly as before.
    """
    if len(data) < 4:
        return [Event("reject", "datagram shorter than 4 bytes")]
    version = (data[0] << 8) | data[1]
    if version == 5:
        return _decode_v5(data, exporter, cache, buf)
    events: list[Event] = []
    if version == 9:
        if len(data) < _V9_HDR.size:
            return [Event("reject", "v9 header truncated")]
        _, _count, uptime, secs, seq, domain = _V9_HDR.unpack_from(data)
        export_ms = secs * 1000
        pos, end = _V9_HDR.size, len(data)
        tmpl_set = 0
    elif version == 10:
        if len(data) < _IPFIX_HDR.size:
            return [Event("reject", "IPFIX header truncated")]
        _, length, export_s, seq, domain = _IPFIX_HDR.unpack_from(data)
        if length < _IPFIX_HDR.size or length > len(data):
            return [Event("reject", f"IPFIX length {length} does not match datagram of {len(data)} bytes")]
        export_ms = export_s * 1000
        uptime = None
        pos, end = _IPFIX_HDR.size, length
        tmpl_set = 2
    else:
        return [Event("reject", f"unknown NetFlow version {version}")]

    ctx: _Ctx | None = None
    templates = cache.templates
    groups = buf.groups
    learned: list[tuple[str, int, int]] = []
    n_data = n_flows = 0
    held_any = False
    unpack_set = _SET_HDR.unpack_from
    while end - pos >= 4:
        set_id, set_len = unpack_set(data, pos)
        if set_len < 4 or pos + set_len > end:
            events.append(Event("reject", f"set {set_id} length {set_len} overruns the message"))
            break
        a = pos + 4
        pos += set_len
        if set_id >= 256:
            key = (exporter, domain, set_id)
            t = templates.get(key)
            if t is None:
                if ctx is None:
                    ctx = _Ctx(version, domain, export_ms, uptime, seq, now)
                _hold(cache, key, data[a:pos], ctx, events)
                held_any = True
                continue
            lay = t._compiled
            if lay is not None and lay is not _SLOW and lay.init is None:
                # inline `_data_set` + `ColumnBuffer.add` for a compiled template (same effect)
                size = lay.size
                nrec = (pos - a) // size  # what is left over is padding
                if nrec:
                    gkey = (lay, exporter, t.template_id)
                    g = groups.get(gkey)
                    if g is None:
                        g = groups[gkey] = _Group(lay, exporter, t.template_id)
                    g.bodies.append(data[a : a + nrec * size])
                    g.counts.append(nrec)
                    dkey = (exporter, domain)
                    g.ctx.append((version, domain, export_ms, uptime, seq, cache.system_init_ms.get(dkey),
                                  cache.sampling.get(dkey)))
                    buf.rows += nrec
                    n_data += nrec
                    n_flows += nrec
                continue
            if ctx is None:
                ctx = _Ctx(version, domain, export_ms, uptime, seq, now)
            nd, nf = _data_set(data, a, pos, t, exporter, ctx, cache, buf, events)
            n_data += nd
            n_flows += nf
        elif set_id == tmpl_set or set_id == tmpl_set + 1:
            learned.extend(_parse_templates(data[a:pos], exporter, domain, version, set_id, cache, events))
        else:
            events.append(Event("reject", f"reserved set id {set_id}"))
    if 0 < end - pos < 4 and version == 10:
        events.append(Event("reject", "trailing bytes after last set"))
    # v9 counts export packets; IPFIX counts data records (unknown if some were held).
    if version == 9:
        skey = (exporter, 9, domain)
        nxt = cache.next_seq
        if nxt.get(skey) == seq:  # in order: nothing to count (`_check_seq` would say the same)
            nxt[skey] = (seq + 1) & _M32
        else:
            _check_seq(cache, skey, seq, 1, events)
    elif held_any:
        _check_ipfix_seq(cache, (exporter, 10, domain), seq, None, events)
    else:
        ikey = (exporter, 10, domain)
        prev = cache.ipfix_seq.get(ikey)
        if prev is not None and seq == (prev[0] + prev[1]) & _M32:  # RFC 7011 numbering, in order
            cache.ipfix_seq[ikey] = (seq, n_data, n_flows)
        else:
            _check_ipfix_seq(cache, ikey, seq, (n_data, n_flows), events)
    if learned:
        for key in dict.fromkeys(learned):
            q = cache.held.pop(key, None)
            if not q:
                continue
            cache.held_count -= len(q)
            t = cache.templates.get(key)
            if t is None:  # learned and withdrawn again in this message: the data waits on
                cache.held[key] = q
                cache.held_count += len(q)
                continue
            for body, hctx in q:
                _data_set(body, 0, len(body), t, exporter, hctx, cache, buf, events)
            events.append(Event("released", f"{key[0]} domain {key[1]} id {key[2]}", len(q)))
    return events


def _hold(cache: TemplateCache, key: tuple[str, int, int], body: bytes, ctx: _Ctx, events: list[Event]) -> None:
    if cache.held_count >= cache.max_held:
        events.append(Event("reject", "no template and hold buffer full"))
        return
    cache.held.setdefault(key, deque()).append((bytes(body), ctx))
    cache.held_count += 1
    events.append(Event("held", f"{key[0]} domain {key[1]} id {key[2]}"))


# ---------------------------------------------------------------------------------------------------
# Arrow


def records_to_batch(records: list[Record]) -> pa.RecordBatch:
    """Rows from `decode_datagram` as an Arrow batch in NETFLOW_SCHEMA."""
    cols: dict[str, list[Any]] = {f.name: [] for f in NETFLOW_SCHEMA}
    for r in records:
        for k, col in cols.items():
            v = r.get(k)
            if k == "extra" and v is not None:
                v = list(v.items())
            col.append(v)
    return pa.RecordBatch.from_arrays(
        [pa.array(cols[f.name], type=f.type) for f in NETFLOW_SCHEMA], schema=NETFLOW_SCHEMA
    )


def _sampled_application(t: pa.Table, n: int) -> pa.Array:
    """`stratum:<method>` where an sFlow packet sample's payload named a mining method (`net.sampled`)."""
    import pyarrow.compute as pc

    if "extra" not in t.column_names or n == 0:
        return pa.nulls(n, pa.string())
    from minewatch.net.sampled import APP_PREFIX

    method = pc.map_lookup(t.column("extra"), "stratum_method", "first")
    if method.null_count == n:
        return pa.nulls(n, pa.string())
    return pc.binary_join_element_wise(APP_PREFIX, method, "")


def netflow_to_flows(batch: pa.RecordBatch | pa.Table, source: str | None = None) -> pa.RecordBatch:
    """Flow slices (unidirectional, as exporters send them) in the project's FLOW_SCHEMA.

    NetFlow records are one-way, so the reverse counters are null (unknown), not 0, unless the
    exporter sent RFC 5103 biflow records (then they are the reverse direction's own counts); payload
    byte counts are unknown either way (exporters count IP bytes). Parquet written before the reverse
    columns existed simply has none: they read as null.
    """
    t = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
    n = t.num_rows

    def opt(name: str, typ: pa.DataType) -> Any:
        return t.column(name) if name in t.column_names else pa.nulls(n, typ)

    start, end = t.column("start"), t.column("end")
    import pyarrow.compute as pc

    # safe=False: a span past 2^53 µs (285 years, a damaged end in the collector's Parquet) is no exact
    # float64; it must not end the scan (`logscan` nulls such times and counts them afterwards)
    dur = pc.divide(pc.cast(pc.subtract(pc.cast(end, pa.int64()), pc.cast(start, pa.int64())), pa.float64(),
                            safe=False), 1000.0)
    nulls_i64 = pa.nulls(n, pa.int64())
    nulls_s = pa.nulls(n, pa.string())
    cols = {
        "src_ip": t.column("src_ip"),
        "src_port": t.column("src_port"),
        "dst_ip": t.column("dst_ip"),
        "dst_port": t.column("dst_port"),
        "transport": t.column("transport"),
        "first_seen": start,
        "last_seen": end,
        "duration_ms": dur,
        "packets_fwd": t.column("packets"),
        "packets_rev": opt("packets_rev", pa.int64()),
        "bytes_fwd": t.column("bytes"),
        "bytes_rev": opt("bytes_rev", pa.int64()),
        "payload_bytes_fwd": nulls_i64,
        "payload_bytes_rev": nulls_i64,
        "tcp_flags_fwd": t.column("tcp_flags"),
        "tcp_flags_rev": opt("tcp_flags_rev", pa.int32()),
        "sni": nulls_s,
        "dns_name": nulls_s,
        "application": _sampled_application(t, n),
        "community_id": nulls_s,
        "source": pa.array([source] * n, pa.string()) if source else nulls_s,
        "slice_start": start,
        "slice_end": end,
    }
    arrays = [pa.chunked_array(cols[f.name]).combine_chunks().cast(f.type) if isinstance(cols[f.name], pa.ChunkedArray)
              else cols[f.name].cast(f.type) for f in FLOW_SCHEMA]
    return pa.RecordBatch.from_arrays(arrays, schema=FLOW_SCHEMA)
