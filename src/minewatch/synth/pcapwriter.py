"""Packet builders and capture-file writers for synthetic test traffic.

Why our own writer: the fixtures must exercise every container and link layer the capture reader
claims to support (pcap in micro- and nanoseconds, both byte orders, pcapng with several interfaces
each with its own link type and timestamp resolution, gzip), and must be byte-exact so a reader bug
cannot hide behind a shared library. The builders emit correct IPv4 header and TCP/UDP checksums
(over IPv4 and IPv6 pseudo-headers), optional IPv4 fragmentation and IPv6 extension headers.

Packets travel through the generator as L3 bytes (an IPv4 or IPv6 packet); the link layer is added
only when a file is written, so one scenario can be written under any link type.
"""

from __future__ import annotations

import functools
import gzip as gzip_mod
import hashlib
import ipaddress
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, NamedTuple

# ---- link types (tcpdump.org/linktypes.html) ------------------------------------------------------
LINKTYPE_NULL = 0  # BSD loopback: 4-byte address family in the writer's byte order
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101  # raw IP (DLT_RAW on most systems)
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

PROTO_TCP = 6
PROTO_UDP = 17

# TCP flag bits
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


class Pkt(NamedTuple):
    """One captured packet before link-layer framing: timestamp in ns since the epoch and L3 bytes."""

    ts_ns: int
    data: bytes


# ---- checksums -------------------------------------------------------------------------------------
def ones_sum(data: bytes, start: int = 0) -> int:
    """16-bit one's-complement sum, folded (RFC 1071)."""
    if len(data) % 2:
        data = data + b"\0"
    s = start + sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def inet_checksum(data: bytes, start: int = 0) -> int:
    return ~ones_sum(data, start) & 0xFFFF


def _pseudo_header(src: bytes, dst: bytes, proto: int, length: int) -> bytes:
    if len(src) == 4:
        return src + dst + struct.pack("!BBH", 0, proto, length)
    return src + dst + struct.pack("!IxxxB", length, proto)


@functools.lru_cache(maxsize=65536)
def _addr(ip: str) -> bytes:
    return ipaddress.ip_address(ip).packed


def is_v6(ip: str) -> bool:
    return ":" in ip


# ---- L4 --------------------------------------------------------------------------------------------
def tcp_header(
    src: str,
    dst: str,
    sport: int,
    dport: int,
    seq: int,
    ack: int,
    flags: int,
    payload: bytes = b"",
    window: int = 64240,
    options: bytes = b"",
    urgent: int = 0,
) -> bytes:
    """A TCP segment (header + payload) with a correct checksum over the right pseudo-header."""
    if len(options) % 4:
        options = options + b"\x01" * (4 - len(options) % 4)
    off = (20 + len(options)) // 4
    hdr = struct.pack(
        "!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, off << 4, flags, window, 0, urgent
    )
    seg = hdr + options + payload
    ck = inet_checksum(seg, ones_sum(_pseudo_header(_addr(src), _addr(dst), PROTO_TCP, len(seg))))
    return seg[:16] + struct.pack("!H", ck) + seg[18:]


def udp_header(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    length = 8 + len(payload)
    dgram = struct.pack("!HHHH", sport, dport, length, 0) + payload
    ck = inet_checksum(dgram, ones_sum(_pseudo_header(_addr(src), _addr(dst), PROTO_UDP, length)))
    if ck == 0:  # zero means "no checksum" in UDP; transmit the other zero
        ck = 0xFFFF
    return dgram[:6] + struct.pack("!H", ck) + dgram[8:]


# ---- L3 --------------------------------------------------------------------------------------------
def ipv4_packet(
    src: str,
    dst: str,
    proto: int,
    payload: bytes,
    ident: int = 0,
    ttl: int = 64,
    df: bool = True,
    tos: int = 0,
) -> bytes:
    hdr = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        tos,
        20 + len(payload),
        ident & 0xFFFF,
        0x4000 if df else 0,
        ttl,
        proto,
        0,
        _addr(src),
        _addr(dst),
    )
    ck = inet_checksum(hdr)
    return hdr[:10] + struct.pack("!H", ck) + hdr[12:] + payload


def ipv4_fragments(
    src: str, dst: str, proto: int, payload: bytes, mtu: int, ident: int = 0, ttl: int = 64
) -> list[bytes]:
    """Split an L4 payload into IPv4 fragments no larger than `mtu`; offsets are in 8-byte units."""
    chunk = max(8, ((mtu - 20) // 8) * 8)
    out: list[bytes] = []
    for off in range(0, len(payload), chunk):
        part = payload[off : off + chunk]
        more = off + chunk < len(payload)
        frag = ((0x2000 if more else 0) | (off // 8)) & 0xFFFF
        hdr = struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            0,
            20 + len(part),
            ident & 0xFFFF,
            frag,
            ttl,
            proto,
            0,
            _addr(src),
            _addr(dst),
        )
        out.append(hdr[:10] + struct.pack("!H", inet_checksum(hdr)) + hdr[12:] + part)
    return out


# IPv6 extension header numbers
EXT_HOPOPT, EXT_ROUTING, EXT_DSTOPT = 0, 43, 60


def _ext_header(kind: int, next_header: int) -> bytes:
    """An 8-byte extension header: PadN options for hop-by-hop/dst-opts, an empty routing
    header of the experimental type 253 (RFC 4727) with zero segments left, so receivers must
    skip it but need not act on it."""
    if kind in (EXT_HOPOPT, EXT_DSTOPT):
        return struct.pack("!BB", next_header, 0) + b"\x01\x04\x00\x00\x00\x00"
    if kind == EXT_ROUTING:
        return struct.pack("!BBBB", next_header, 0, 253, 0) + b"\0\0\0\0"
    raise ValueError(f"unsupported IPv6 extension header {kind}")


def ipv6_packet(
    src: str,
    dst: str,
    proto: int,
    payload: bytes,
    hop_limit: int = 64,
    ext: Sequence[int] = (),
    flow_label: int = 0,
) -> bytes:
    """IPv6 packet; `ext` lists extension headers (EXT_HOPOPT must come first if present)."""
    chain = b""
    nxt = proto
    for kind in reversed(list(ext)):
        chain = _ext_header(kind, nxt) + chain
        nxt = kind
    body = chain + payload
    hdr = struct.pack("!IHBB", (6 << 28) | (flow_label & 0xFFFFF), len(body), nxt, hop_limit)
    return hdr + _addr(src) + _addr(dst) + body


def ip_packet(
    src: str, dst: str, proto: int, payload: bytes, ident: int = 0, ttl: int = 64, ext: Sequence[int] = ()
) -> bytes:
    if is_v6(src):
        return ipv6_packet(src, dst, proto, payload, hop_limit=ttl, ext=ext)
    return ipv4_packet(src, dst, proto, payload, ident=ident, ttl=ttl)


# ---- link layers -----------------------------------------------------------------------------------
@functools.lru_cache(maxsize=65536)
def _mac_raw(raw: bytes) -> bytes:
    return mac_for(ipaddress.ip_address(raw).compressed)


@functools.lru_cache(maxsize=65536)
def mac_for(ip: str) -> bytes:
    """A stable locally-administered unicast MAC per IP, so one host keeps one MAC across flows."""
    h = hashlib.blake2s(ip.encode(), digest_size=6).digest()
    return bytes([(h[0] & 0xFC) | 0x02]) + h[1:]


def _l3_info(l3: bytes) -> tuple[int, bytes, bytes]:
    """(ethertype, src, dst) of an L3 packet."""
    if l3[0] >> 4 == 6:
        return 0x86DD, l3[8:24], l3[24:40]
    return 0x0800, l3[12:16], l3[16:20]


@dataclass(slots=True)
class LinkSpec:
    """How to frame L3 packets: link type plus its knobs.

    vlans: 802.1Q tags outermost first; two or more tags make QinQ (outer TPID 0x88a8).
    null_big_endian: byte order of the DLT_NULL family word (it follows the capturing host).
    """

    linktype: int = LINKTYPE_ETHERNET
    vlans: tuple[int, ...] = ()
    null_big_endian: bool = False
    sll2_ifindex: int = 2

    def frame(self, l3: bytes) -> bytes:
        et, s, d = _l3_info(l3)
        lt = self.linktype
        if lt == LINKTYPE_ETHERNET:
            src_mac = _mac_raw(s)
            dst_mac = _mac_raw(d)
            tags = b""
            for i, vid in enumerate(self.vlans):
                tpid = 0x88A8 if (i == 0 and len(self.vlans) > 1) else 0x8100
                tags += struct.pack("!HH", tpid, vid & 0x0FFF)
            return dst_mac + src_mac + tags + struct.pack("!H", et) + l3
        if lt in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6):
            return l3
        if lt == LINKTYPE_NULL:
            fam = 2 if et == 0x0800 else 30  # AF_INET; AF_INET6 as on macOS/FreeBSD
            return struct.pack(">I" if self.null_big_endian else "<I", fam) + l3
        if lt == LINKTYPE_LINUX_SLL:
            mac = _mac_raw(s)
            return struct.pack("!HHH", 4, 1, 6) + mac + b"\0\0" + struct.pack("!H", et) + l3
        if lt == LINKTYPE_LINUX_SLL2:
            mac = _mac_raw(s)
            return struct.pack("!HHIHBB", et, 0, self.sll2_ifindex, 1, 4, 6) + mac + b"\0\0" + l3
        raise ValueError(f"unsupported link type {lt}")


# ---- tunnels (what a mirror port or an overlay delivers) -------------------------------------------
#: Tunnel kinds `encapsulate` builds, each as the header layouts of its specification.
TUNNEL_KINDS = ("ipip", "gre", "gre-teb", "erspan1", "erspan2", "erspan3", "vxlan", "geneve", "gtpu")


def encapsulate(l3: bytes, kind: str, outer_src: str, outer_dst: str, *, key: int | None = None,
                session: int = 7, gtp_ext: bool = False) -> bytes:
    """Wrap one L3 packet in a tunnel between `outer_src` and `outer_dst`; returns the outer L3 packet.

    Layouts: GRE RFC 2784/2890 (optional key), ERSPAN type I/II/III as switches send them (GRE
    0x88BE without and with sequence number, 0x22EB with its 12-byte header and the 8-byte platform
    subheader), VXLAN RFC 7348 (UDP 4789), Geneve RFC 8926 (UDP 6081, one 8-byte option), GTP-U TS
    29.281 (UDP 2152, G-PDU, optionally with a PDU-session extension header).
    """
    eth = LinkSpec().frame(l3)
    inner_v6 = l3[0] >> 4 == 6
    if kind == "ipip":
        return ip_packet(outer_src, outer_dst, 41 if inner_v6 else 4, l3)

    def gre(ptype: int, body: bytes, seq: int | None = None) -> bytes:
        flags = (0x2000 if key is not None else 0) | (0x1000 if seq is not None else 0)
        hdr = struct.pack("!HH", flags, ptype)
        if key is not None:
            hdr += struct.pack("!I", key)
        if seq is not None:
            hdr += struct.pack("!I", seq)
        return ip_packet(outer_src, outer_dst, 47, hdr + body)

    if kind == "gre":
        return gre(0x86DD if inner_v6 else 0x0800, l3)
    if kind == "gre-teb":
        return gre(0x6558, eth)
    if kind == "erspan1":
        return gre(0x88BE, eth)
    if kind == "erspan2":
        # Ver 1, VLAN 0, COS 0, En 0, T 0, session id; reserved, index 0
        hdr = struct.pack("!HHI", 0x1000, session & 0x3FF, 0)
        return gre(0x88BE, hdr + eth, seq=len(l3))
    if kind == "erspan3":
        # Ver 2, VLAN 0 | COS, BSO, T, session | timestamp | SGT | P FT HwID D Gra O (O=1: subheader)
        hdr = struct.pack("!HHIHH", 0x2000, session & 0x3FF, 123456, 0, 0x0001) + b"\x00" * 8
        return gre(0x22EB, hdr + eth, seq=len(l3))
    if kind == "vxlan":
        body = struct.pack("!BBHI", 0x08, 0, 0, (5001 << 8)) + eth
        return ip_packet(outer_src, outer_dst, PROTO_UDP, udp_header(outer_src, outer_dst, 49152, 4789, body))
    if kind == "geneve":
        opt = struct.pack("!HBB", 0x0104, 0x01, 1) + b"\x00" * 4  # class, type, length 1 word
        body = struct.pack("!BBHI", len(opt) // 4, 0, 0x6558, 5001 << 8) + opt + eth
        return ip_packet(outer_src, outer_dst, PROTO_UDP, udp_header(outer_src, outer_dst, 49153, 6081, body))
    if kind == "gtpu":
        if gtp_ext:  # E flag: seq/N-PDU/next-type word, then a PDU session container (1 word)
            ext = struct.pack("!BBBB", 1, 0x00, 0x09, 0x00)
            hdr = struct.pack("!BBHI", 0x34, 0xFF, 4 + len(ext) + len(l3), 0x1234) + struct.pack("!HBB", 0, 0, 0x85)
            hdr += ext
        else:
            hdr = struct.pack("!BBHI", 0x30, 0xFF, len(l3), 0x1234)
        return ip_packet(outer_src, outer_dst, PROTO_UDP, udp_header(outer_src, outer_dst, 2152, 2152, hdr + l3))
    raise ValueError(f"unknown tunnel kind {kind!r}")


# ---- file writers ----------------------------------------------------------------------------------
def _open(path: Path | BinaryIO, gz: bool) -> tuple[BinaryIO, bool]:
    if isinstance(path, (str, Path)):
        raw: BinaryIO = open(path, "wb")  # noqa: SIM115 - closed by the writer
        if gz:
            return gzip_mod.GzipFile(fileobj=raw, mode="wb", compresslevel=5, mtime=0), True  # type: ignore[return-value]
        return raw, True
    if gz:
        return gzip_mod.GzipFile(fileobj=path, mode="wb", compresslevel=5, mtime=0), True  # type: ignore[return-value]
    return path, False


class PcapWriter:
    """Classic libpcap file. nanosecond=True writes magic a1b23c4d; big_endian swaps every field."""

    def __init__(
        self,
        path: Path | BinaryIO,
        linktype: int = LINKTYPE_ETHERNET,
        snaplen: int = 262144,
        nanosecond: bool = False,
        big_endian: bool = False,
        gzip: bool = False,
    ) -> None:
        self._f, self._own = _open(path, gzip)
        self._raw_owned = isinstance(path, (str, Path)) and gzip
        self._e = ">" if big_endian else "<"
        self.snaplen = snaplen
        self.nanosecond = nanosecond
        self.linktype = linktype
        magic = 0xA1B23C4D if nanosecond else 0xA1B2C3D4
        self._f.write(struct.pack(self._e + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))
        self.count = 0

    def write(self, ts_ns: int, frame: bytes, orig_len: int | None = None) -> None:
        sec, frac = divmod(ts_ns, 1_000_000_000)
        if not self.nanosecond:
            frac //= 1000
        cap = frame[: self.snaplen]
        self._f.write(struct.pack(self._e + "IIII", sec, frac, len(cap), orig_len or len(frame)) + cap)
        self.count += 1

    def close(self) -> None:
        f = self._f
        if isinstance(f, gzip_mod.GzipFile):
            inner = f.fileobj
            f.close()
            if self._own and inner is not None:
                inner.close()
        elif self._own:
            f.close()
        else:
            f.flush()

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(slots=True)
class Interface:
    """A pcapng interface: link type, snaplen and timestamp resolution as 10^-tsresol seconds."""

    linktype: int = LINKTYPE_ETHERNET
    snaplen: int = 262144
    tsresol: int = 6
    name: str = "eth0"
    link: LinkSpec = field(default_factory=LinkSpec)


def _opt(code: int, value: bytes, e: str) -> bytes:
    pad = (-len(value)) % 4
    return struct.pack(e + "HH", code, len(value)) + value + b"\0" * pad


def _block(btype: int, body: bytes, e: str) -> bytes:
    total = 12 + len(body)
    return struct.pack(e + "II", btype, total) + body + struct.pack(e + "I", total)


class PcapngWriter:
    """pcapng with one Section Header Block and one IDB per interface; packets as Enhanced Packet
    Blocks. Each interface keeps its own link type and if_tsresol (decimal exponent)."""

    def __init__(
        self,
        path: Path | BinaryIO,
        interfaces: Sequence[Interface] = (Interface(),),
        big_endian: bool = False,
        gzip: bool = False,
    ) -> None:
        self._f, self._own = _open(path, gzip)
        self._e = ">" if big_endian else "<"
        self.interfaces = list(interfaces)
        e = self._e
        shb_opts = _opt(4, b"minewatch synth", e) + _opt(0, b"", e)
        self._f.write(_block(0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1) + shb_opts, e))
        for itf in self.interfaces:
            opts = _opt(2, itf.name.encode(), e)
            if itf.tsresol != 6:
                opts += _opt(9, bytes([itf.tsresol]), e)
            opts += _opt(0, b"", e)
            self._f.write(_block(1, struct.pack(e + "HHI", itf.linktype, 0, itf.snaplen) + opts, e))
        self.count = 0

    def write(self, ts_ns: int, frame: bytes, iface: int = 0, orig_len: int | None = None) -> None:
        itf = self.interfaces[iface]
        units = ts_ns * 10**itf.tsresol // 1_000_000_000
        cap = frame[: itf.snaplen]
        pad = (-len(cap)) % 4
        body = (
            struct.pack(
                self._e + "IIIII", iface, units >> 32, units & 0xFFFFFFFF, len(cap), orig_len or len(frame)
            )
            + cap
            + b"\0" * pad
        )
        self._f.write(_block(6, body, self._e))
        self.count += 1

    close = PcapWriter.close

    def __enter__(self) -> PcapngWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_capture(
    path: Path,
    packets: Iterable[Pkt],
    fmt: str = "pcap",
    link: LinkSpec | None = None,
    nanosecond: bool = False,
    big_endian: bool = False,
    gzip: bool = False,
    snaplen: int = 262144,
    interfaces: Sequence[Interface] | None = None,
    iface_of: object = None,
) -> Path:
    """Write L3 packets (sorted by time) to `path` as pcap or pcapng.

    For pcapng with several interfaces, `iface_of(pkt) -> int` picks each packet's interface and the
    packet is framed with that interface's LinkSpec.
    """
    link = link or LinkSpec()
    path = Path(path)
    if fmt == "pcap":
        with PcapWriter(path, link.linktype, snaplen, nanosecond, big_endian, gzip) as w:
            for p in packets:
                w.write(p.ts_ns, link.frame(p.data))
    elif fmt == "pcapng":
        itfs = (
            list(interfaces)
            if interfaces
            else [Interface(link.linktype, snaplen, 9 if nanosecond else 6, link=link)]
        )
        with PcapngWriter(path, itfs, big_endian, gzip) as w:
            for p in packets:
                i = iface_of(p) if callable(iface_of) else 0
                w.write(p.ts_ns, itfs[i].link.frame(p.data), iface=i)
    else:
        raise ValueError(f"unknown capture format {fmt!r}")
    return path
