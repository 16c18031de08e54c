"""Independent readers used by the synth tests (no tests here).

Why separate readers: the synth writer must be checked by code that does not share its logic, and
the project's own capture reader must not be used (the generator exists to test it).
"""

from __future__ import annotations

import gzip
import shutil
import struct
import subprocess
from pathlib import Path

TSHARK = shutil.which("tshark")


def read_pcap_any(path: Path) -> tuple[str, list[dict]]:
    """Parse pcap or pcapng (optionally gzipped). Returns (format, records) where each record has
    ts_ns, data, orig_len, linktype, iface."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    magic = raw[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d"):
        e = "<" if magic[0] in (0xD4, 0x4D) else ">"
        ns = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
        _, major, minor, _, _, snaplen, lt = struct.unpack(e + "IHHiIII", raw[:24])
        assert (major, minor) == (2, 4)
        out, off = [], 24
        while off < len(raw):
            sec, frac, incl, orig = struct.unpack(e + "IIII", raw[off : off + 16])
            data = raw[off + 16 : off + 16 + incl]
            assert len(data) == incl and incl <= snaplen
            out.append(
                {
                    "ts_ns": sec * 10**9 + frac * (1 if ns else 1000),
                    "data": data,
                    "orig_len": orig,
                    "linktype": lt,
                    "iface": 0,
                }
            )
            off += 16 + incl
        return ("pcap-ns" if ns else "pcap") + ("-be" if e == ">" else "-le"), out
    assert magic == b"\x0a\x0d\x0d\x0a", magic
    bom = raw[8:12]
    e = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
    assert struct.unpack(e + "I", bom)[0] == 0x1A2B3C4D
    ifaces: list[dict] = []
    out, off = [], 0
    while off < len(raw):
        btype, blen = struct.unpack(e + "II", raw[off : off + 8])
        assert blen % 4 == 0 and struct.unpack(e + "I", raw[off + blen - 4 : off + blen])[0] == blen
        body = raw[off + 8 : off + blen - 4]
        if btype == 1:
            lt, _, snap = struct.unpack(e + "HHI", body[:8])
            tsresol = 6
            o = 8
            while o + 4 <= len(body):
                code, ln = struct.unpack(e + "HH", body[o : o + 4])
                if code == 0:
                    break
                if code == 9:
                    tsresol = body[o + 4]
                o += 4 + ln + (-ln) % 4
            ifaces.append({"linktype": lt, "snaplen": snap, "tsresol": tsresol})
        elif btype == 6:
            iface, hi, lo, cap, orig = struct.unpack(e + "IIIII", body[:20])
            itf = ifaces[iface]
            units = (hi << 32) | lo
            ts_ns = units * 10**9 // 10 ** itf["tsresol"]
            out.append(
                {
                    "ts_ns": ts_ns,
                    "data": body[20 : 20 + cap],
                    "orig_len": orig,
                    "linktype": itf["linktype"],
                    "iface": iface,
                }
            )
        off += blen
    return "pcapng" + ("-be" if e == ">" else "-le"), out


def l3_of(data: bytes, linktype: int) -> bytes:
    """Strip the link layer (Ethernet with any number of VLAN tags, SLL, SLL2, NULL, raw)."""
    if linktype == 1:
        o = 12
        while struct.unpack("!H", data[o : o + 2])[0] in (0x8100, 0x88A8):
            o += 4
        return data[o + 2 :]
    if linktype in (101, 228, 229):
        return data
    if linktype == 0:
        return data[4:]
    if linktype == 113:
        return data[16:]
    if linktype == 276:
        return data[20:]
    raise AssertionError(linktype)


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def check_l3(ip: bytes) -> tuple[int, bytes, bytes, bytes]:
    """Verify IPv4 header and L4 checksums (or IPv6 L4 checksum, walking extension headers).
    Returns (proto, src, dst, l4 bytes). Fragments are returned without L4 checks (proto 0)."""
    if ip[0] >> 4 == 4:
        ihl = (ip[0] & 15) * 4
        assert csum(ip[:ihl]) == 0xFFFF, "bad IPv4 header checksum"
        total = struct.unpack("!H", ip[2:4])[0]
        assert total == len(ip)
        frag = struct.unpack("!H", ip[6:8])[0]
        proto, src, dst, l4 = ip[9], ip[12:16], ip[16:20], ip[ihl:total]
        if frag & 0x3FFF:
            return 0, src, dst, l4
        pseudo = src + dst + struct.pack("!BBH", 0, proto, len(l4))
    else:
        nh, src, dst = ip[6], ip[8:24], ip[24:40]
        o = 40
        while nh in (0, 43, 60):
            nh, o = ip[o], o + (ip[o + 1] + 1) * 8
        proto, l4 = nh, ip[o:]
        pseudo = src + dst + struct.pack("!IxxxB", len(l4), proto)
    if proto in (6, 17):
        assert csum(pseudo + l4) == 0xFFFF, f"bad L4 checksum proto {proto}"
    return proto, src, dst, l4


def tshark(path: Path, *args: str) -> str:
    assert TSHARK is not None
    r = subprocess.run([TSHARK, "-n", "-r", str(path), *args], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout


def tshark_problems(path: Path, *extra: str) -> list[str]:
    """Lines for packets tshark flags as malformed, with bad checksums, or with expert warnings/errors."""
    out = tshark(
        path,
        "-o",
        "tcp.check_checksum:TRUE",
        "-o",
        "udp.check_checksum:TRUE",
        "-o",
        "ip.check_checksum:TRUE",
        *extra,
        "-Y",
        "_ws.malformed || _ws.expert.severity >= warning || tcp.checksum.status == 0 || "
        "udp.checksum.status == 0 || ip.checksum.status == 0",
    )
    return [ln for ln in out.splitlines() if ln.strip()]
