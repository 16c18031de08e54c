"""Read the server name (SNI), ALPN and a JA3 fingerprint from a TLS ClientHello.

Why: Stratum over TLS hides every message, but the ClientHello still names the pool host in
clear text (unless ECH is used), and pool-name intelligence can match it. The ClientHello may span
several TLS records and several TCP segments, so the parser works on the reassembled client byte
stream and says when it needs more bytes.
"""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass, field

#: GREASE values (RFC 8701) are random per connection and left out of JA3.
_GREASE = {0x0A0A + 0x1010 * i for i in range(16)}

#: Largest ClientHello we wait for; beyond this the flow is not followed further.
MAX_CLIENT_HELLO = 32 * 1024


@dataclass(slots=True)
class ClientHello:
    legacy_version: int
    sni: str | None
    alpn: list[str] = field(default_factory=list)
    supported_versions: list[int] = field(default_factory=list)
    cipher_suites: list[int] = field(default_factory=list)
    extensions: list[int] = field(default_factory=list)
    groups: list[int] = field(default_factory=list)
    ec_point_formats: list[int] = field(default_factory=list)
    ech: bool = False

    @property
    def ja3_string(self) -> str:
        def j(xs: list[int]) -> str:
            return "-".join([str(x) for x in xs if x not in _GREASE])

        return ",".join(
            [
                str(self.legacy_version),
                j(self.cipher_suites),
                j(self.extensions),
                j(self.groups),
                j(self.ec_point_formats),
            ]
        )

    @property
    def ja3(self) -> str:
        return hashlib.md5(self.ja3_string.encode(), usedforsecurity=False).hexdigest()


def looks_like_tls_record(data: bytes) -> bool:
    """A TLS record header: content type 20-23, version 3.0-3.4 (3.1 in most ClientHellos)."""
    return len(data) >= 3 and data[0] in (0x14, 0x15, 0x16, 0x17) and data[1] == 3 and data[2] <= 4


def client_hello_status(data: bytes) -> tuple[str, ClientHello | None]:
    """("ok", hello) | ("need_more", None) | ("not_tls", None) for the start of a client stream."""
    if len(data) < 5:
        return ("need_more", None) if (not data or data[0] == 0x16) else ("not_tls", None)
    if data[0] != 0x16 or data[1] != 3 or data[2] > 4:
        return "not_tls", None
    hs = bytearray()
    pos = 0
    need: int | None = None
    while True:
        if pos + 5 > len(data):
            return ("need_more", None) if len(data) < MAX_CLIENT_HELLO else ("not_tls", None)
        ctype, rlen = data[pos], int.from_bytes(data[pos + 3 : pos + 5], "big")
        if ctype != 0x16 or data[pos + 1] != 3 or rlen == 0 or rlen > 18432:
            return "not_tls", None
        frag = data[pos + 5 : pos + 5 + rlen]
        hs += frag
        complete_record = len(frag) == rlen
        pos += 5 + rlen
        if need is None and len(hs) >= 4:
            if hs[0] != 0x01:
                return "not_tls", None
            need = 4 + int.from_bytes(hs[1:4], "big")
            if need > MAX_CLIENT_HELLO:
                return "not_tls", None
        if need is not None and len(hs) >= need:
            hello = _parse_body(bytes(hs[4:need]))
            return ("ok", hello) if hello is not None else ("not_tls", None)
        if not complete_record:
            return "need_more", None


def parse_client_hello(data: bytes) -> ClientHello | None:
    """The ClientHello at the start of `data`, or None when absent, malformed or incomplete."""
    status, hello = client_hello_status(data)
    return hello if status == "ok" else None


def _u16s(b: bytes) -> list[int]:
    """Big-endian 16-bit values of `b` (an odd last byte is left out)."""
    return list(struct.unpack_from(f">{len(b) // 2}H", b))


def _vec(b: bytes, p: int, lenbytes: int) -> tuple[int, int]:
    """Start and end of the length-prefixed vector at `p`; ValueError when `b` is too short for it."""
    q = p + lenbytes
    if q > len(b):
        raise ValueError("truncated")
    n = b[p] if lenbytes == 1 else (b[p] << 8) | b[p + 1]
    if q + n > len(b):
        raise ValueError("truncated")
    return q, q + n


def _parse_body(body: bytes) -> ClientHello | None:
    """The ClientHello fields of a handshake body, None when it is cut short.

    Why offsets and no reader object: every TLS flow of a capture comes through here, and a method
    call per field was most of the cost of reading one ClientHello.
    """
    try:
        if len(body) < 34:
            raise ValueError("truncated")
        version = (body[0] << 8) | body[1]
        _, p = _vec(body, 34, 1)  # session id, after the 32-byte random
        a, p = _vec(body, p, 2)
        suites = _u16s(body[a:p])
        _, p = _vec(body, p, 1)  # compression methods
        hello = ClientHello(legacy_version=version, sni=None, cipher_suites=suites)
        if p == len(body):
            return hello
        a, end = _vec(body, p, 2)
        ext = body[a:end]  # an extension may not run past the extensions' own length
        exts = hello.extensions
        a = 0
        while len(ext) - a >= 4:
            etype = (ext[a] << 8) | ext[a + 1]
            e0, a = _vec(ext, a + 2, 2)
            edata = ext[e0:a]
            exts.append(etype)
            if etype == 0:
                hello.sni = _sni(edata)
            elif etype == 16:
                hello.alpn = _alpn(edata)
            elif etype == 43 and edata:
                hello.supported_versions = _u16s(edata[1 : 1 + edata[0]])
            elif etype == 10 and len(edata) >= 2:
                hello.groups = _u16s(edata[2 : 2 + int.from_bytes(edata[:2], "big")])
            elif etype == 11 and edata:
                hello.ec_point_formats = list(edata[1 : 1 + edata[0]])
            elif etype == 0xFE0D:
                hello.ech = True
        return hello
    except ValueError:
        return None


#: a server name as kept: ASCII letters, digits, '-', '.', '_' (the same test as `str.isalnum` on ASCII)
_SNI_OK = re.compile(r"[A-Za-z0-9._\-]+\Z")


def _sni(edata: bytes) -> str | None:
    _, end = _vec(edata, 0, 2)  # the server name list; bytes after it are ignored
    lst = edata[2:end]
    p = 0
    while len(lst) - p >= 3:
        ntype = lst[p]
        a, p = _vec(lst, p + 1, 2)
        if ntype == 0:
            try:
                s = lst[a:p].decode("ascii")
            except UnicodeDecodeError:
                return None
            s = s.rstrip(".").lower()
            return s if _SNI_OK.match(s) else None
    return None


def _alpn(edata: bytes) -> list[str]:
    _, end = _vec(edata, 0, 2)
    lst = edata[2:end]
    out = []
    p = 0
    while len(lst) - p >= 1:
        a, p = _vec(lst, p, 1)
        out.append(lst[a:p].decode("ascii", "replace"))
    return out


def is_server_hello(data: bytes) -> bool:
    """Start of a server stream carrying a TLS ServerHello (handshake type 2)."""
    return len(data) >= 6 and data[0] == 0x16 and data[1] == 3 and data[2] <= 4 and data[5] == 0x02
