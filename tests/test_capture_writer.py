"""Tiny capture writers for the capture tests (struct-packed, independent of minewatch.synth).

Kept apart from the reader on purpose: the bytes are laid out from the format specs, so a reader bug
cannot hide behind a writer that shares its code. The tests at the bottom check the writers
against tshark's reading when tshark is installed.
"""

from __future__ import annotations

import gzip
import ipaddress
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def tcp(sport: int, dport: int, seq: int, ack: int = 0, flags: int = ACK, payload: bytes = b"",
        options: bytes = b"") -> bytes:
    doff = (20 + len(options)) // 4
    return struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack, doff << 4, flags, 65535, 0, 0) + \
        options + payload


def udp(sport: int, dport: int, payload: bytes = b"") -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def ipv4(src: str, dst: str, proto: int, payload: bytes, *, frag_off: int = 0, mf: bool = False,
         ident: int = 1, total_len: int | None = None) -> bytes:
    flags_fo = (0x2000 if mf else 0) | (frag_off // 8)
    tl = 20 + len(payload) if total_len is None else total_len
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, tl, ident, flags_fo, 64, proto, 0,
                      ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed)
    hdr = hdr[:10] + struct.pack("!H", _csum(hdr)) + hdr[12:]
    return hdr + payload


def ipv6(src: str, dst: str, nh: int, payload: bytes, ext: list[tuple[int, bytes]] | None = None) -> bytes:
    """`ext`: (header type, body) pairs in order; each body is padded to the header's length rule."""
    chain = b""
    types = [t for t, _ in ext or []] + [nh]
    for k, (t, body) in enumerate(ext or []):
        nxt = types[k + 1]
        if t == 44:  # fragment header: fixed 8 bytes, body = 6 bytes (offset/flags + id)
            chain += struct.pack("!BB", nxt, 0) + body[:6].ljust(6, b"\0")
        elif t == 51:  # AH: length in 4-byte units minus 2
            body = body.ljust(((len(body) + 2 + 3) // 4) * 4 - 2, b"\0")
            chain += struct.pack("!BB", nxt, (len(body) + 2) // 4 - 2) + body
        else:
            body = body.ljust(((len(body) + 2 + 7) // 8) * 8 - 2, b"\0")
            chain += struct.pack("!BB", nxt, (len(body) + 2) // 8 - 1) + body
    first = (ext[0][0] if ext else nh)
    body = chain + payload
    return struct.pack("!IHBB16s16s", 6 << 28, len(body), first, 64, ipaddress.IPv6Address(src).packed,
                       ipaddress.IPv6Address(dst).packed) + body


def eth(payload: bytes, ethertype: int = ETH_IPV4, vlans: tuple[tuple[int, int], ...] = ()) -> bytes:
    """`vlans`: (tpid, vid) outermost first, e.g. ((0x88A8, 100), (0x8100, 200)) for QinQ."""
    out = b"\x00\x11\x22\x33\x44\x55" + b"\x66\x77\x88\x99\xaa\xbb"
    for tpid, vid in vlans:
        out += struct.pack("!HH", tpid, vid)
    return out + struct.pack("!H", ethertype) + payload


def sll(payload: bytes, proto: int = ETH_IPV4) -> bytes:
    return struct.pack("!HHH8sH", 0, 1, 6, b"\x00\x11\x22\x33\x44\x55\0\0", proto) + payload


def sll2(payload: bytes, proto: int = ETH_IPV4) -> bytes:
    return struct.pack("!HHIHBB8s", proto, 0, 2, 1, 0, 6, b"\x00\x11\x22\x33\x44\x55\0\0") + payload


def null_lo(payload: bytes, family: int = 2, big: bool = False) -> bytes:
    return struct.pack(">I" if big else "<I", family) + payload


Packet = tuple[float, bytes] | tuple[float, bytes, int]


def pcap_bytes(packets: list[Packet], linktype: int = 1, *, ns: bool = False, big: bool = False,
               snaplen: int = 65535) -> bytes:
    """pcap file; a packet is (ts, frame) or (ts, frame, original length) for snaplen-cut frames."""
    e = ">" if big else "<"
    magic = 0xA1B23C4D if ns else 0xA1B2C3D4
    out = [struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    for p in packets:
        ts, frame = p[0], p[1]
        orig = p[2] if len(p) > 2 else len(frame)  # type: ignore[misc]
        sec = int(ts)
        frac = round((ts - sec) * (1e9 if ns else 1e6))
        out.append(struct.pack(e + "IIII", sec, frac, len(frame), orig) + frame)
    return b"".join(out)


def _ng_block(btype: int, body: bytes, e: str) -> bytes:
    body = body + b"\0" * (-len(body) % 4)
    n = len(body) + 12
    return struct.pack(e + "II", btype, n) + body + struct.pack(e + "I", n)


def pcapng_bytes(interfaces: list[tuple[int, int | None]], packets: list[tuple[int, int, bytes]], *,
                 big: bool = False) -> bytes:
    """pcapng with one section. interfaces: (linktype, if_tsresol byte or None for µs);
    packets: (interface id, raw timestamp in that interface's units, frame)."""
    e = ">" if big else "<"
    out = [_ng_block(0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1), e)]
    for lt, res in interfaces:
        opts = b""
        if res is not None:
            opts += struct.pack(e + "HH", 9, 1) + bytes([res]) + b"\0\0\0"
        opts += struct.pack(e + "HH", 0, 0)
        out.append(_ng_block(1, struct.pack(e + "HHI", lt, 0, 0) + opts, e))
    for iface, raw, frame in packets:
        body = struct.pack(e + "IIIII", iface, raw >> 32, raw & 0xFFFFFFFF, len(frame), len(frame)) + frame
        out.append(_ng_block(6, body, e))
    return b"".join(out)


def write(path: Path, data: bytes, *, gz: bool = False) -> Path:
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def tcp_session(client: str = "10.0.0.1", server: str = "10.0.0.2", cport: int = 40000, sport: int = 3333,
                t0: float = 1_700_000_000.0, requests: tuple[bytes, ...] = (b'{"id":1}\n',),
                responses: tuple[bytes, ...] = (b'{"result":true}\n',), handshake: bool = True,
                close: bool = True) -> list[tuple[float, bytes]]:
    """A plain TCP session (Ethernet frames): handshake, request/response pairs, FIN/FIN."""
    frames: list[tuple[float, bytes]] = []
    c_seq, s_seq = 1000, 5000
    t = t0

    def add(src: str, dst: str, sp: int, dp: int, seq: int, ack: int, fl: int, data: bytes = b"") -> None:
        nonlocal t
        frames.append((t, eth(ipv4(src, dst, 6, tcp(sp, dp, seq, ack, fl, data)))))
        t += 0.001

    if handshake:
        add(client, server, cport, sport, c_seq, 0, SYN)
        add(server, client, sport, cport, s_seq, c_seq + 1, SYN | ACK)
        add(client, server, cport, sport, c_seq + 1, s_seq + 1, ACK)
    c_seq += 1
    s_seq += 1
    for req, resp in zip(requests, responses, strict=False):
        add(client, server, cport, sport, c_seq, s_seq, PSH | ACK, req)
        c_seq += len(req)
        add(server, client, sport, cport, s_seq, c_seq, PSH | ACK, resp)
        s_seq += len(resp)
    if close:
        add(client, server, cport, sport, c_seq, s_seq, FIN | ACK)
        add(server, client, sport, cport, s_seq, c_seq + 1, FIN | ACK)
        add(client, server, cport, sport, c_seq + 1, s_seq + 1, ACK)
    return frames


# ------------------------------------------------------------------------------------------ self-checks
@pytest.mark.tools
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_writers_agree_with_tshark(tmp_path):
    """The writers themselves are checked by an independent reader, so reader tests rest on real bytes."""
    frames = tcp_session()
    p = write(tmp_path / "a.pcap", pcap_bytes(frames))
    out = subprocess.run(["tshark", "-r", str(p), "-T", "fields", "-e", "tcp.srcport", "-e", "tcp.len"],
                         capture_output=True, text=True, check=True).stdout.split("\n")
    rows = [r.split("\t") for r in out if r]
    assert len(rows) == len(frames)
    assert rows[3] == ["40000", "9"]
    ng = pcapng_bytes([(1, None), (101, 9)], [(0, 1_700_000_000_000_000, frames[0][1]),
                                              (1, 1_700_000_000_123_456_789, frames[1][1][14:])])
    p2 = write(tmp_path / "b.pcapng", ng)
    out = subprocess.run(["tshark", "-r", str(p2), "-T", "fields", "-e", "frame.time_epoch", "-e", "ip.src"],
                         capture_output=True, text=True, check=True).stdout.split("\n")
    rows = [r.split("\t") for r in out if r]
    assert rows[1][1] == "10.0.0.2"
    assert rows[1][0].startswith("1700000000.123456789")
