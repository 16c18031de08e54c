"""DNS messages off the wire, and a cache that ties the IPs in answers back to the names asked for.

Why parse DNS at all: most pool connections are opened by name, and the answer that gave the miner its
pool's IP usually travels in the same capture. A flow to a bare IP then inherits the pool's name, so
the pool list applies even when the session itself is encrypted or carries no SNI.

Why write the parser here instead of using a library: captures hold truncated, fragmented and hostile
packets, and the parser runs on every UDP/53 payload; it must never raise, never loop on a
compression pointer and never allocate more than the payload justifies. The rules it enforces are
RFC 1035 §4.1.4 plus the obvious safety limits: a pointer must point strictly backwards (so a chain
cannot loop), a name is at most 255 octets, and record counts are bounded by the bytes available.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
import struct
from collections import OrderedDict
from dataclasses import dataclass, field

#: Record types this module gives a readable value for; others keep raw rdata only.
TYPE_NAMES: dict[int, str] = {
    1: "A",
    2: "NS",
    5: "CNAME",
    6: "SOA",
    12: "PTR",
    15: "MX",
    16: "TXT",
    28: "AAAA",
    33: "SRV",
    41: "OPT",
    65: "HTTPS",
}
_NAME_RDATA = {2, 5, 12}  # rdata is a single (possibly compressed) domain name
_MAX_NAME = 255
_MAX_JUMPS = 64


@dataclass(slots=True, frozen=True)
class Question:
    name: str
    qtype: int
    qclass: int

    @property
    def type_name(self) -> str:
        return TYPE_NAMES.get(self.qtype, str(self.qtype))


@dataclass(slots=True, frozen=True)
class ResourceRecord:
    """One answer/authority/additional record; `value` is the IP or name for A/AAAA/CNAME/NS/PTR."""

    name: str
    rtype: int
    rclass: int
    ttl: int
    rdata: bytes
    value: str | None = None

    @property
    def type_name(self) -> str:
        return TYPE_NAMES.get(self.rtype, str(self.rtype))


@dataclass(slots=True)
class DnsMessage:
    """A parsed message. `complete` is False when the payload ended (or broke) inside a section:
    whatever parsed before that point is kept, because a truncated answer still names real IPs."""

    id: int
    is_response: bool
    opcode: int
    rcode: int
    truncated: bool
    questions: list[Question] = field(default_factory=list)
    answers: list[ResourceRecord] = field(default_factory=list)
    authority: list[ResourceRecord] = field(default_factory=list)
    additional: list[ResourceRecord] = field(default_factory=list)
    complete: bool = True

    @property
    def qname(self) -> str | None:
        return self.questions[0].name if self.questions else None


class _Malformed(Exception):
    """Internal: the payload broke a rule; caught inside `parse_dns`, never escapes."""


_PLAIN_LABEL = re.compile(rb"[A-Za-z0-9_*\-]+\Z")


def _label_text(raw: bytes) -> str:
    """Printable label: letters, digits, '-' and '_' as they are, anything else as \\DDD (RFC 4343)."""
    if _PLAIN_LABEL.match(raw):
        return raw.decode("ascii")  # the usual case, without the per-byte loop below
    out = []
    for b in raw:
        c = chr(b)
        if c.isascii() and (c.isalnum() or c in "-_*"):
            out.append(c)
        else:
            out.append(f"\\{b:03d}")
    return "".join(out)


#: A whole name whose labels are all plain (`_PLAIN_LABEL`) once joined with dots; `_read_name` checks
#: that the dots are only the ones it put in, so one match replaces a match per label.
_PLAIN_NAME = re.compile(rb"[A-Za-z0-9_*\-.]+\Z")


def _read_name(buf: bytes, pos: int, memo: dict[int, tuple[str, int]] | None = None) -> tuple[str, int]:
    """Decode a name at `pos`; returns (name without trailing dot, position after it in the record).

    Why labels are collected raw and joined once: this runs for every name of every DNS answer in a
    capture (two or more per response), and one regex check and one decode of the whole name cost a
    third of a check and a decode per label. Names with any other byte go through `_label_text`.

    `memo` (one message's names read so far, by start: text and pointers followed) answers a name that
    is nothing but a pointer to one of them, as an answer's owner pointing at the question is: reading
    from there again would follow the same bytes to the same text, one pointer deeper.
    """
    start = pos
    n = len(buf)
    raws: list[bytes] = []
    total = 0
    jumps = 0
    end_pos: int | None = None
    lowest = pos  # a pointer must go strictly below every place this name has read from
    while True:
        if pos >= n:
            raise _Malformed("name runs past end")
        length = buf[pos]
        if length >= 0xC0:
            if pos + 1 >= n:
                raise _Malformed("pointer cut short")
            target = ((length & 0x3F) << 8) | buf[pos + 1]
            if end_pos is None:
                end_pos = pos + 2
            if target >= lowest:
                raise _Malformed("compression pointer does not point backwards")
            jumps += 1
            if jumps > _MAX_JUMPS:
                raise _Malformed("too many compression pointers")
            if memo is not None and jumps == 1 and not raws:
                known = memo.get(target)
                if known is not None and known[1] + 1 <= _MAX_JUMPS:
                    memo[start] = (known[0], known[1] + 1)
                    return known[0], end_pos
            pos = lowest = target
            continue
        if length >= 0x40:
            raise _Malformed("unsupported label type")
        if length == 0:
            pos += 1
            break
        stop = pos + 1 + length
        if stop > n:
            raise _Malformed("label runs past end")
        total += length + 1
        if total > _MAX_NAME:
            raise _Malformed("name longer than 255 octets")
        raws.append(buf[pos + 1 : stop])
        pos = stop
    joined = b".".join(raws)
    if _PLAIN_NAME.match(joined) and joined.count(b".") == len(raws) - 1:
        name = joined.decode("ascii")
    else:
        name = ".".join([_label_text(r) for r in raws])
    if memo is not None:
        memo[start] = (name, jumps)
    return name, (end_pos if end_pos is not None else pos)


def _read_record(buf: bytes, pos: int, memo: dict[int, tuple[str, int]] | None = None) -> tuple[ResourceRecord, int]:
    name, pos = _read_name(buf, pos, memo)
    if pos + 10 > len(buf):
        raise _Malformed("record header cut short")
    rtype, rclass, ttl, rdlen = struct.unpack_from("!HHIH", buf, pos)
    pos += 10
    if pos + rdlen > len(buf):
        raise _Malformed("rdata cut short")
    rdata = buf[pos : pos + rdlen]
    value: str | None = None
    if rtype == 1 and rdlen == 4:
        value = socket.inet_ntop(socket.AF_INET, rdata)
    elif rtype == 28 and rdlen == 16:
        value = socket.inet_ntop(socket.AF_INET6, rdata)
    elif rtype in _NAME_RDATA:
        target, after = _read_name(buf, pos, memo)
        if after > pos + rdlen:
            raise _Malformed("name in rdata overruns its length")
        value = target
    if ttl & 0x80000000:  # RFC 2181 §8: a TTL with the top bit set is treated as zero
        ttl = 0
    return ResourceRecord(name, rtype, rclass, ttl, rdata, value), pos + rdlen


def parse_dns(payload: bytes, *, tcp: bool = False, answers_only: bool = False) -> DnsMessage | None:
    """Parse one DNS message (UDP payload, or a TCP segment with its 2-byte length prefix when `tcp`).

    Returns None when not even the 12-byte header and a plausible shape are there. Never raises on
    bad bytes: a message that breaks mid-way comes back with `complete=False` and what parsed so far.
    `answers_only` stops after the answer section: the authority and additional records cost as much
    to decode and tie no address to the name a client asked for.
    """
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        return None
    buf = bytes(payload)
    if tcp:
        if len(buf) < 2:
            return None
        length = struct.unpack_from("!H", buf)[0]
        buf = buf[2 : 2 + length]
    if len(buf) < 12:
        return None
    ident, flags, qd, an, ns, ar = struct.unpack_from("!HHHHHH", buf)
    # A question needs >= 5 bytes: a question count the payload cannot hold marks garbage, not DNS.
    # (Record counts are not checked up front: a truncated answer section still carries real answers.)
    if qd * 5 > len(buf) - 12:
        return None
    msg = DnsMessage(
        id=ident,
        is_response=bool(flags & 0x8000),
        opcode=(flags >> 11) & 0xF,
        rcode=flags & 0xF,
        truncated=bool(flags & 0x0200),
    )
    pos = 12
    memo: dict[int, tuple[str, int]] = {}
    try:
        for _ in range(qd):
            name, pos = _read_name(buf, pos, memo)
            if pos + 4 > len(buf):
                raise _Malformed("question cut short")
            qtype, qclass = struct.unpack_from("!HH", buf, pos)
            pos += 4
            msg.questions.append(Question(name, qtype, qclass))
        sections = ((an, msg.answers),) if answers_only else ((an, msg.answers), (ns, msg.authority), (ar, msg.additional))
        for count, section in sections:
            for _ in range(count):
                rr, pos = _read_record(buf, pos, memo)
                section.append(rr)
    except (_Malformed, struct.error, ValueError):
        msg.complete = False
    if not msg.questions and not msg.answers and not msg.complete:
        return None
    return msg


def _norm_name(name: str) -> str:
    return name.rstrip(".").lower()


@functools.lru_cache(maxsize=65536)
def _norm_ip(ip: str) -> str | None:
    """Canonical text of an address (cached: the same servers recur through a whole capture).

    A dotted quad that `inet_pton` reads and `inet_ntop` writes back unchanged is already canonical
    (what `ipaddress` would give) and is returned as it is: DNS answers and flows bring a new address
    at almost every call, and `ipaddress` costs several times more. Anything else goes to `ipaddress`.
    """
    try:
        if socket.inet_ntop(socket.AF_INET, socket.inet_pton(socket.AF_INET, ip)) == ip:
            return ip
    except (OSError, ValueError, TypeError):
        pass
    try:
        return str(ipaddress.ip_address(ip))
    except ValueError:
        return None


_NEVER = (float("-inf"), False)


class NameCache:
    """IP -> names learnt from DNS answers, each with an expiry, bounded in size (least recently used
    IP is dropped first).

    Why a floor on the TTL (`min_ttl_s`): miners resolve once and connect a moment later, and CDNs and
    pools answer with TTLs of 0-60 s; a flow that starts a second after a TTL-0 answer still went to
    that name. Why a cap (`max_ttl_s`): an answer with a week-long TTL must not name an IP that has
    since been reassigned, for the rest of a long capture.
    """

    def __init__(self, max_ips: int = 100_000, min_ttl_s: float = 300.0, max_ttl_s: float = 86_400.0) -> None:
        self.max_ips = max_ips
        self.min_ttl_s = min_ttl_s
        self.max_ttl_s = max_ttl_s
        # ip -> name -> (expires, asked): `asked` marks the name a client queried, shown first.
        self._map: OrderedDict[str, dict[str, tuple[float, bool]]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._map)

    def add(self, ip: str, name: str, ts: float, ttl: float, *, asked: bool = False) -> None:
        if name:
            self._add(ip, _norm_name(name), ts, ttl, asked)

    def _add(self, ip: str, n: str, ts: float, ttl: float, asked: bool) -> None:
        """`add` of a non-empty name already normalised (`_norm_name`), as `feed` has it."""
        key = _norm_ip(ip)
        if key is None:
            return
        ttl = min(max(float(ttl), self.min_ttl_s), self.max_ttl_s)
        names = self._map.get(key)
        if names is None:
            names = self._map[key] = {}
        else:
            self._map.move_to_end(key)
        old_exp, old_asked = names.get(n, _NEVER)
        names[n] = (max(old_exp, ts + ttl), old_asked or asked)
        while len(self._map) > self.max_ips:
            self._map.popitem(last=False)

    def feed(self, msg: DnsMessage, ts: float) -> int:
        """Learn from a response: every A/AAAA address maps to its owner name and to every name that
        reaches the owner through CNAMEs (the name the client asked for). Returns addresses learnt."""
        if not msg.is_response or msg.rcode != 0:
            return 0
        # alias -> (canonical, ttl). Lower-cased so that case randomisation (0x20) does not split chains.
        cname: dict[str, tuple[str, int]] = {}
        for rr in msg.answers:
            if rr.rtype == 5 and rr.value:
                cname[_norm_name(rr.name)] = (_norm_name(rr.value), rr.ttl)
        # Invert: for each name, the aliases that lead to it (transitively), with the lowest TTL on the way.
        learnt = 0
        asked: set[str] | None = None
        for rr in msg.answers:
            if rr.rtype not in (1, 28) or not rr.value:
                continue
            owner = _norm_name(rr.name)
            chain = {owner: rr.ttl}
            changed = bool(cname)
            hops = 0
            while changed and hops < 16:
                changed = False
                hops += 1
                for alias, (target, ttl) in cname.items():
                    if target in chain and alias not in chain:
                        chain[alias] = min(ttl, chain[target])
                        changed = True
            if asked is None:
                asked = {_norm_name(q.name) for q in msg.questions}
            for name, ttl in chain.items():
                if name:
                    self._add(rr.value, name, ts, ttl, name in asked)
            learnt += 1
        return learnt

    def lookup(self, ip: str, ts: float) -> list[str]:
        """Names for `ip` still valid at `ts`: names clients asked for first (that is what a miner was
        configured with), then canonical names; longest-lived first within each group."""
        key = _norm_ip(ip)
        if key is None or key not in self._map:
            return []
        names = self._map[key]
        self._map.move_to_end(key)
        live = [(not asked, -exp, n) for n, (exp, asked) in names.items() if exp >= ts]
        return [n for _, _, n in sorted(live)]

    def known(self, ip: str) -> bool:
        """Whether any name was ever seen for `ip` (expired or not): was it resolved at all?"""
        key = _norm_ip(ip)
        return key is not None and key in self._map

    def expire(self, ts: float) -> int:
        """Drop every name that expired before `ts`; returns how many IPs were emptied and removed."""
        gone = 0
        for key in list(self._map):
            names = {n: v for n, v in self._map[key].items() if v[0] >= ts}
            if names:
                self._map[key] = names
            else:
                del self._map[key]
                gone += 1
        return gone
