"""Turn timed application messages into the packets a tap next to the client would see.

Why model TCP at all: a dissector that only ever sees one message per segment passes tests and
then fails on real traffic, where messages span several segments, segments get retransmitted,
arrive out of order, go missing from the capture, or the capture starts in the middle of a session.
Each of those can be switched on here, deterministically from a seeded `random.Random`.

Timing model: the capture point sits next to the client. Client data is seen when sent; the
server's ACK arrives one RTT later. Server data is seen as it arrives (dialects already place
server replies about one RTT after the request); the client ACKs it within a fraction of a ms.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from minewatch.synth.pcapwriter import (
    ACK,
    FIN,
    PROTO_TCP,
    PROTO_UDP,
    PSH,
    RST,
    SYN,
    Pkt,
    ip_packet,
    ipv4_fragments,
    is_v6,
    tcp_header,
    udp_header,
)

C2S, S2C = "c2s", "s2c"

#: (seconds since session start, direction C2S/S2C, payload bytes)
Msg = tuple[float, str, bytes]


@dataclass(slots=True)
class TcpOptions:
    """Knobs for one TCP conversation.

    split: "mss" cuts messages at the MSS; "random" cuts every message into 1..max_parts pieces of
    random size (so even short JSON lines span segments).
    drop_segments: indexes (0-based, over all data segments of the session in send order) that the
    capture misses entirely; the peers behave as if they were delivered.
    skip_seconds: start the capture this many seconds into the session (no handshake is seen).
    """

    mss: int = 1460
    split: str = "mss"
    max_parts: int = 3
    rtt: float = 0.030
    bandwidth_bps: float = 100e6
    retransmit_prob: float = 0.0
    reorder_prob: float = 0.0
    drop_segments: frozenset[int] = frozenset()
    skip_seconds: float = 0.0
    handshake: bool = True
    close: str = "fin"  # "fin", "rst" or "none" (session still open when the capture ends)
    fragment_mtu: int | None = None
    ipv6_ext: tuple[int, ...] = ()
    ttl_client: int = 64
    ttl_server: int = 52
    window: int = 502
    extra: dict[str, object] = field(default_factory=dict)


def _syn_options(mss: int) -> bytes:
    return struct.pack("!BBH", 2, 4, mss) + b"\x01\x01\x04\x02" + b"\x01\x03\x03\x07"


class _Side:
    __slots__ = ("ident", "ip", "next_seq", "port", "ttl")

    def __init__(self, ip: str, port: int, isn: int, ttl: int, ident: int) -> None:
        self.ip, self.port, self.next_seq, self.ttl, self.ident = ip, port, isn, ttl, ident


def _split(payload: bytes, opts: TcpOptions, rng: random.Random) -> list[bytes]:
    if opts.split == "random" and len(payload) > 1:
        parts = rng.randint(1, min(opts.max_parts, len(payload)))
        cuts = sorted(rng.sample(range(1, len(payload)), parts - 1))
        pieces = [payload[a:b] for a, b in zip([0, *cuts], [*cuts, len(payload)], strict=True)]
    else:
        pieces = [payload]
    out: list[bytes] = []
    for p in pieces:
        out.extend(p[i : i + opts.mss] for i in range(0, len(p), opts.mss))
    return out


def tcp_session(
    client: tuple[str, int],
    server: tuple[str, int],
    messages: Sequence[Msg],
    start_ts: float,
    rng: random.Random,
    opts: TcpOptions | None = None,
) -> list[Pkt]:
    """Packets (sorted by time) of one TCP conversation carrying `messages`."""
    o = opts or TcpOptions()
    c = _Side(client[0], client[1], rng.getrandbits(32), o.ttl_client, rng.getrandbits(16))
    s = _Side(server[0], server[1], rng.getrandbits(32), o.ttl_server, rng.getrandbits(16))
    out: list[tuple[float, int, bytes]] = []  # (ts, order, l3)
    order = 0

    def emit(
        ts: float,
        frm: _Side,
        to: _Side,
        flags: int,
        payload: bytes = b"",
        seq: int | None = None,
        options: bytes = b"",
    ) -> None:
        nonlocal order
        seg = tcp_header(
            frm.ip,
            to.ip,
            frm.port,
            to.port,
            frm.next_seq if seq is None else seq,
            to.next_seq if flags & ACK else 0,
            flags,
            payload,
            o.window,
            options,
        )
        frm.ident = (frm.ident + 1) & 0xFFFF
        if not is_v6(frm.ip) and o.fragment_mtu and 20 + len(seg) > o.fragment_mtu:
            for frag in ipv4_fragments(frm.ip, to.ip, PROTO_TCP, seg, o.fragment_mtu, frm.ident, frm.ttl):
                out.append((ts, order, frag))
                order += 1
                ts += 2e-6
            return
        out.append((ts, order, ip_packet(frm.ip, to.ip, PROTO_TCP, seg, frm.ident, frm.ttl, o.ipv6_ext)))
        order += 1

    t0 = start_ts
    if o.handshake:
        emit(t0, c, s, SYN, options=_syn_options(o.mss))
        c.next_seq += 1
        emit(t0 + o.rtt, s, c, SYN | ACK, options=_syn_options(o.mss))
        s.next_seq += 1
        emit(t0 + o.rtt + 0.00015, c, s, ACK)
    else:
        c.next_seq += 1
        s.next_seq += 1
    base = t0 + o.rtt + 0.0003
    seg_index = 0
    last_t = base
    for rel, direction, payload in sorted(messages, key=lambda m: m[0]):
        if not payload:
            continue
        frm, to = (c, s) if direction == C2S else (s, c)
        t = max(base + rel, last_t + 1e-6)
        pieces = _split(payload, o, rng)
        sent: list[tuple[float, int, bytes]] = []
        for piece in pieces:
            sent.append((t, frm.next_seq, piece))
            frm.next_seq += len(piece)
            t += len(piece) * 8 / o.bandwidth_bps + rng.uniform(2e-6, 40e-6)
        if o.reorder_prob and len(sent) > 1 and rng.random() < o.reorder_prob:
            i = rng.randrange(len(sent) - 1)
            (ta, sa, pa), (tb, sb, pb) = sent[i], sent[i + 1]
            sent[i], sent[i + 1] = (ta, sb, pb), (tb, sa, pa)
        end_seq = frm.next_seq
        for k, (ts, seq, piece) in enumerate(sent):
            flags = ACK | (PSH if k == len(sent) - 1 else 0)
            if seg_index not in o.drop_segments:
                emit(ts, frm, to, flags, piece, seq=seq)
            seg_index += 1
            if o.retransmit_prob and rng.random() < o.retransmit_prob:
                emit(ts + max(0.2, 3 * o.rtt) + rng.uniform(0, 0.05), frm, to, flags, piece, seq=seq)
        frm.next_seq = end_seq
        ack_delay = o.rtt if frm is c else rng.uniform(5e-5, 4e-4)
        emit(t + ack_delay, to, frm, ACK)
        last_t = t
    if o.close in ("fin", "rst"):
        t = last_t + 0.5 + rng.uniform(0, 0.5)
        if o.close == "rst":
            emit(t, c, s, RST | ACK)
        else:
            emit(t, c, s, FIN | ACK)
            c.next_seq += 1
            emit(t + o.rtt, s, c, FIN | ACK)
            s.next_seq += 1
            emit(t + o.rtt + 0.0001, c, s, ACK)
    out.sort(key=lambda x: (x[0], x[1]))
    cut = start_ts + o.skip_seconds if o.skip_seconds > 0 else None
    return [Pkt(round(ts * 1e9), data) for ts, _, data in out if cut is None or ts >= cut]


def udp_session(
    client: tuple[str, int],
    server: tuple[str, int],
    messages: Sequence[Msg],
    start_ts: float,
    fragment_mtu: int | None = None,
    ipv6_ext: tuple[int, ...] = (),
    ident: int = 0,
) -> list[Pkt]:
    """One datagram per message; IPv4 datagrams larger than `fragment_mtu` are fragmented."""
    out: list[Pkt] = []
    for rel, direction, payload in sorted(messages, key=lambda m: m[0]):
        (sip, sp), (dip, dp) = (client, server) if direction == C2S else (server, client)
        dg = udp_header(sip, dip, sp, dp, payload)
        ident = (ident + 1) & 0xFFFF
        ts = round((start_ts + rel) * 1e9)
        if not is_v6(sip) and fragment_mtu and 20 + len(dg) > fragment_mtu:
            for i, frag in enumerate(ipv4_fragments(sip, dip, PROTO_UDP, dg, fragment_mtu, ident)):
                out.append(Pkt(ts + i * 1000, frag))
        else:
            out.append(Pkt(ts, ip_packet(sip, dip, PROTO_UDP, dg, ident, 64, ipv6_ext)))
    return out


# ---- TLS 1.3 framing -------------------------------------------------------------------------------
# Real handshakes, sized like real ones, so DPI sees a genuine ClientHello (SNI, ALPN, JA3/JA4 input)
# and flow statistics see realistic record sizes; the encrypted parts are random bytes of the right
# length (plaintext + 1 content-type byte + 16-byte AEAD tag per record).

_CIPHERS = (
    0x1301,
    0x1302,
    0x1303,
    0xC02B,
    0xC02F,
    0xC02C,
    0xC030,
    0xCCA9,
    0xCCA8,
    0xC013,
    0xC014,
    0x009C,
    0x009D,
    0x002F,
    0x0035,
)
_SIGALGS = (0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601)


def _ext(code: int, body: bytes) -> bytes:
    return struct.pack("!HH", code, len(body)) + body


def _u16list(values: Sequence[int]) -> bytes:
    body = b"".join(struct.pack("!H", v) for v in values)
    return struct.pack("!H", len(body)) + body


def tls_client_hello(sni: str | None, alpn: Sequence[str], rng: random.Random) -> bytes:
    """A TLS 1.3 ClientHello record (legacy version fields as browsers send them)."""
    exts = b""
    if sni:
        name = sni.encode()
        entry = b"\x00" + struct.pack("!H", len(name)) + name
        exts += _ext(0, struct.pack("!H", len(entry)) + entry)
    exts += _ext(23, b"") + _ext(0xFF01, b"\x00")
    exts += _ext(10, _u16list((0x001D, 0x0017, 0x0018))) + _ext(11, b"\x01\x00") + _ext(35, b"")
    if alpn:
        protos = b"".join(bytes([len(p)]) + p.encode() for p in alpn)
        exts += _ext(16, struct.pack("!H", len(protos)) + protos)
    exts += _ext(5, b"\x01\x00\x00\x00\x00") + _ext(13, _u16list(_SIGALGS))
    key = rng.randbytes(32)
    share = struct.pack("!HH", 0x001D, 32) + key
    exts += _ext(51, struct.pack("!H", len(share)) + share)
    exts += _ext(45, b"\x01\x01") + _ext(43, b"\x04\x03\x04\x03\x03")
    body = (
        b"\x03\x03"
        + rng.randbytes(32)
        + b"\x20"
        + rng.randbytes(32)
        + _u16list(_CIPHERS)
        + b"\x01\x00"
        + struct.pack("!H", len(exts))
        + exts
    )
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


def tls_server_hello(rng: random.Random, session_id: bytes) -> bytes:
    exts = _ext(43, b"\x03\x04") + _ext(51, struct.pack("!HH", 0x001D, 32) + rng.randbytes(32))
    body = (
        b"\x03\x03"
        + rng.randbytes(32)
        + bytes([len(session_id)])
        + session_id
        + b"\x13\x01\x00"
        + struct.pack("!H", len(exts))
        + exts
    )
    hs = b"\x02" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x03" + struct.pack("!H", len(hs)) + hs


CCS = b"\x14\x03\x03\x00\x01\x01"


def tls_app_records(plain_len: int, rng: random.Random) -> bytes:
    """Application-data records carrying `plain_len` bytes of plaintext (max 16384 per record)."""
    out = b""
    while plain_len > 0:
        n = min(plain_len, 16384)
        out += b"\x17\x03\x03" + struct.pack("!H", n + 17) + rng.randbytes(n + 17)
        plain_len -= n
    return out


def tls_wrap(
    messages: Sequence[Msg],
    sni: str | None,
    alpn: Sequence[str],
    rng: random.Random,
    rtt: float = 0.03,
    cert_bytes: int = 2900,
) -> list[Msg]:
    """Put a TLS 1.3 handshake in front and encrypt every message into records of matching size."""
    ch = tls_client_hello(sni, alpn, rng)
    sid = ch[44:76]
    out: list[Msg] = [(0.0, C2S, ch)]
    out.append((rtt, S2C, tls_server_hello(rng, sid) + CCS + tls_app_records(cert_bytes, rng)))
    out.append((rtt * 1.05 + 0.002, C2S, CCS + tls_app_records(36, rng)))
    out.append((rtt * 2.05 + 0.002, S2C, tls_app_records(240, rng) + tls_app_records(240, rng)))
    shift = rtt * 1.1 + 0.003
    for t, d, payload in messages:
        out.append((t + shift, d, tls_app_records(len(payload), rng)))
    return out
