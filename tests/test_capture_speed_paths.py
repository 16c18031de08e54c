"""The capture scan's shortcuts for speed (session 10) give the results the plain paths gave.

Each shortcut skips or defers work most flows of a capture never need; these tests check both that the
work is skipped and that whatever is read afterwards is what the eager path computed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np

from minewatch.net.engine import FlowEngine, FlowSummary, community_id
from minewatch.sources.pcap import open_capture
from test_capture_engine import seg
from test_capture_writer import eth, ipv4, pcap_bytes, udp, write


def _frames() -> list[tuple[float, bytes]]:
    out = []
    for i in range(6):  # a TCP flow with payload both ways, longer than the kept timeline
        out.append(seg("10.0.0.1", "10.0.0.2", 40000, 3333, 1 + 10 * i, b"x" * 10, t=float(i)))
        out.append(seg("10.0.0.2", "10.0.0.1", 3333, 40000, 1 + 5 * i, b"y" * 5, t=i + 0.5))
    out.append((1_700_000_000.0, eth(ipv4("10.0.0.3", "10.0.0.4", 17, udp(5353, 53, b"q" * 20)))))
    return out


def test_ended_flows_work_out_community_id_and_timeline_when_read(tmp_path):
    ends: list[FlowSummary] = []
    eng = FlowEngine(lambda info: None, on_flow_end=ends.append, timeline_max=4)
    eng.process(open_capture(write(tmp_path / "a.pcap", pcap_bytes(_frames()))))
    eng.finish()
    assert len(ends) == 2
    for s in ends:
        # deferred: nothing hashed or concatenated until someone reads it
        assert s._cid_of is not None
        i = s.info
        assert s.community_id == community_id(i.src_ip, i.dst_ip, 6 if i.transport == "tcp" else 17,
                                              i.src_port, i.dst_port)
        assert s._cid_of is None
    tcp = next(s for s in ends if s.info.transport == "tcp")
    # 12 payload packets, 4 kept (first 2 and last 2): the dropped count is right before the timeline is read
    assert tcp.timeline_dropped == 8
    assert tcp.timeline["payload_len"].tolist() == [10, 5, 10, 5]
    assert np.allclose(tcp.timeline["ts"] - 1_700_000_000.0, [0.0, 0.5, 5.0, 5.5])
    assert tcp.timeline_dropped == 8


def test_open_flow_snapshot_is_worked_out_at_once(tmp_path):
    eng = FlowEngine(lambda info: None, timeline_max=4)
    eng.process(open_capture(write(tmp_path / "a.pcap", pcap_bytes(_frames()))))
    slot = eng.open_flows(float("inf"))[0][0]
    snap = eng.snapshot(slot)
    assert snap is not None and snap._cid_of is None and snap._tl_of is None
    assert snap.timeline_dropped == 8 and len(snap.timeline) == 4


def test_capture_without_flow_exports_does_not_load_the_collector(tmp_path):
    """The NetFlow decoder (and pandas behind it) is imported at the first export datagram only."""
    path = write(tmp_path / "a.pcap", pcap_bytes(_frames()))
    code = textwrap.dedent(f"""
        import sys
        from minewatch.net.intel import PoolIntel
        from minewatch.net.pipeline import CaptureScanner
        sc = CaptureScanner(PoolIntel())
        sc.scan_file({str(path)!r})
        assert sc.exports is not None and sc.exports.take() is None
        print("minewatch.sources.netflow" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _name_per_label(labels: list[bytes]) -> str:
    """The per-label rule `_read_name` applied before it joined plain names in one go."""
    from minewatch.net.dns import _label_text

    return ".".join(_label_text(x) for x in labels)


def test_dns_names_read_whole_give_the_per_label_text():
    from minewatch.net.dns import _read_name

    cases = [
        [b"pool", b"example", b"com"],
        [b"a.b", b"example"],  # a dot inside a label is not a separator
        [b"x", b"a\x00b", b"cn"],
        [b"_srv", b"*", b"xn--fiqs8s"],
        [b"caf\xc3\xa9", b"example"],
        [b"-", b"."],
        [],
    ]
    for labels in cases:
        wire = b"".join(bytes([len(x)]) + x for x in labels) + b"\x00"
        assert _read_name(wire, 0) == (_name_per_label(labels), len(wire)), labels
        # the same name behind a compression pointer
        assert _read_name(wire + b"\xc0\x00", len(wire)) == (_name_per_label(labels), len(wire) + 2)


# ------------------------------------------------------------------------------------------ TLS
class _RefReader:
    """The reader object `tls._parse_body` used before session 10: the reference for the offsets."""

    def __init__(self, b: bytes) -> None:
        self.b, self.p = b, 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.p + n > len(self.b):
            raise ValueError("truncated")
        out = self.b[self.p : self.p + n]
        self.p += n
        return out

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def vec(self, lenbytes: int) -> bytes:
        return self.take(int.from_bytes(self.take(lenbytes), "big"))


def _ref_u16s(b: bytes) -> list[int]:
    return [int.from_bytes(b[i : i + 2], "big") for i in range(0, len(b) - 1, 2)]


def _sni(edata: bytes) -> str | None:
    r = _RefReader(edata)
    lst = _RefReader(r.vec(2))
    while len(lst.b) - lst.p >= 3:
        ntype = lst.take(1)[0]
        name = lst.vec(2)
        if ntype == 0:
            try:
                s = name.decode("ascii")
            except UnicodeDecodeError:
                return None
            s = s.rstrip(".").lower()
            if s and all(c.isalnum() or c in "-._" for c in s):
                return s
            return None
    return None


def _alpn(edata: bytes) -> list[str]:
    r = _RefReader(edata)
    lst = _RefReader(r.vec(2))
    out = []
    while len(lst.b) - lst.p >= 1:
        out.append(lst.vec(1).decode("ascii", "replace"))
    return out


def _ref_parse_body(body: bytes) -> tuple | None:
    r = _RefReader(body)
    try:
        version = r.u16()
        r.take(32)
        r.vec(1)
        suites = _ref_u16s(r.vec(2))
        r.vec(1)
        out: dict = {"v": version, "suites": suites, "ext": [], "sni": None, "alpn": [], "sv": [], "groups": [],
                     "pf": [], "ech": False}
        if len(body) - r.p == 0:
            return tuple(out.values())
        ext = _RefReader(r.vec(2))
        while len(ext.b) - ext.p >= 4:
            etype = ext.u16()
            edata = ext.vec(2)
            out["ext"].append(etype)
            if etype == 0:
                out["sni"] = _sni(edata)
            elif etype == 16:
                out["alpn"] = _alpn(edata)
            elif etype == 43 and edata:
                out["sv"] = _ref_u16s(edata[1 : 1 + edata[0]])
            elif etype == 10 and len(edata) >= 2:
                out["groups"] = _ref_u16s(edata[2 : 2 + int.from_bytes(edata[:2], "big")])
            elif etype == 11 and edata:
                out["pf"] = list(edata[1 : 1 + edata[0]])
            elif etype == 0xFE0D:
                out["ech"] = True
        return tuple(out.values())
    except ValueError:
        return None


def _fields(h: object) -> tuple | None:
    if h is None:
        return None
    return (h.legacy_version, h.cipher_suites, h.extensions, h.sni, h.alpn, h.supported_versions, h.groups,
            h.ec_point_formats, h.ech)


def test_client_hello_offsets_read_what_the_reader_read():
    import random

    from minewatch.net.tls import _parse_body
    from minewatch.synth.tcp import tls_client_hello

    rng = random.Random(7)
    bodies = []
    for sni, alpn in (("pool.example.net", ["h2"]), (None, []), ("a" * 60 + ".cn", ["http/1.1", "h2"]),
                      ("Pool.Example.NET.", ["h2"]), ("bad name.cn", ["x" * 40]), ("xn--fiqs8s.cn", [])):
        rec = tls_client_hello(sni, alpn, rng)
        bodies.append(rec[9:])  # the handshake body: after the record header (5) and handshake header (4)
    for body in list(bodies):
        bodies += [body[:k] for k in range(0, len(body), 7)]  # every cut
        for _ in range(300):  # random byte changes, lengths included
            b = bytearray(body)
            for _ in range(rng.randint(1, 4)):
                b[rng.randrange(len(b))] = rng.randrange(256)
            bodies.append(bytes(b))
        bodies.append(body + b"\x00\x01\x02")  # bytes after the extensions block are ignored
    oks = 0
    for body in bodies:
        ref = _ref_parse_body(body)
        assert _fields(_parse_body(body)) == ref, body.hex()
        oks += ref is not None
    assert oks > 100  # not only failures compared


# ------------------------------------------------------------------------------------------ read-ahead
def _many_frames(n: int = 400) -> list[tuple[float, bytes]]:
    return [(1_700_000_000.0 + k * 0.01, eth(ipv4("10.0.0.1", "10.0.0.2", 17, udp(4000 + k % 50, 53, bytes([k % 256]) * (k % 90)))))
            for k in range(n)]


def _frames_read(path, **patch) -> tuple[list[bytes], object]:
    r = open_capture(path)
    got = []
    for b in r:
        for o, c in zip(b.data_off.tolist(), b.caplen.tolist(), strict=True):
            got.append(bytes(b.buf[o : o + c]))
    return got, r


def test_read_ahead_thread_gives_every_packet_in_order(tmp_path, monkeypatch):
    import minewatch.sources.pcap as pcapmod

    frames = _many_frames()
    path = write(tmp_path / "a.pcap", pcap_bytes(frames))
    monkeypatch.setattr(pcapmod, "CHUNK_BYTES", 257)  # many chunks, records cut at every place
    started = []
    real = pcapmod._ReadAhead

    def spy(*a, **kw):
        started.append(1)
        return real(*a, **kw)

    monkeypatch.setattr(pcapmod, "_ReadAhead", spy)
    got, r = _frames_read(path)
    assert started == [1]
    assert got == [f for _, f in frames]
    assert r.errors == [] and r.packets == len(frames)


def test_read_ahead_thread_ends_with_the_reader(tmp_path, monkeypatch):
    import threading

    import minewatch.sources.pcap as pcapmod

    monkeypatch.setattr(pcapmod, "CHUNK_BYTES", 64)
    path = write(tmp_path / "a.pcap", pcap_bytes(_many_frames()))
    before = {t for t in threading.enumerate() if t.name == "capture-read-ahead"}
    r = open_capture(path)
    it = iter(r)
    next(it)  # stop after the first batch: the thread waits with chunks read ahead
    assert any(t.name == "capture-read-ahead" for t in threading.enumerate())
    it.close()
    assert {t for t in threading.enumerate() if t.name == "capture-read-ahead"} == before


def test_read_error_in_the_read_ahead_thread_is_reported_as_before(tmp_path, monkeypatch):
    import minewatch.sources.pcap as pcapmod

    monkeypatch.setattr(pcapmod, "CHUNK_BYTES", 512)
    frames = _many_frames()
    path = write(tmp_path / "a.pcap", pcap_bytes(frames))
    r = open_capture(path)
    real = r._fh

    class Failing:
        """The file fails with EIO after its first 4 KiB."""

        def __init__(self) -> None:
            self.n = 0

        def read(self, k: int) -> bytes:
            if self.n >= 4096:
                raise OSError(5, "Input/output error")
            out = real.read(min(k, 4096 - self.n))
            self.n += len(out)
            return out

        def close(self) -> None:
            real.close()

    r._fh = Failing()  # type: ignore[assignment]
    got = []
    for b in r:
        got += [bytes(b.buf[o : o + c]) for o, c in zip(b.data_off.tolist(), b.caplen.tolist(), strict=True)]
    assert got and got == [f for _, f in frames[: len(got)]] and len(got) < len(frames)
    assert len(r.errors) == 1 and "Input/output error" in str(r.errors[0])
    assert str(r.path) in str(r.errors[0])


def test_address_canonical_text_is_what_ipaddress_gives():
    import ipaddress
    import random

    from minewatch.net.dns import _norm_ip

    def ref(ip: str) -> str | None:
        try:
            return str(ipaddress.ip_address(ip))
        except ValueError:
            return None

    cases = ["1.2.3.4", "01.2.3.4", "1.2.3", "256.1.1.1", "0.0.0.0", "1.2.3.4 ", "1.2.3.04", "::1", "::ffff:1.2.3.4",
             "1.2.3.4\x00", "\uff11.2.3.4", "0x1.2.3.4", "1..2.3", "", "1.2.3.4.", "fe80::1%eth0", "+1.2.3.4", "2001:DB8::1"]
    rng = random.Random(1)
    for _ in range(5000):
        parts = [rng.choice(["0", "1", "00", "255", "256", "07", "10", "100", " 1", ""]) for _ in range(rng.choice([3, 4, 4, 5]))]
        cases.append(".".join(parts))
    for c in cases:
        assert _norm_ip.__wrapped__(c) == ref(c), c


def test_url_logins_cached_and_short_cut_give_the_plain_answer():
    import random
    from urllib.parse import parse_qsl, unquote, urlsplit

    from minewatch.net.stratum import _url_logins

    def ref(target: str) -> list[str]:
        out: list[str] = []
        try:
            parts = urlsplit(target)
        except ValueError:
            return out
        for _, v in parse_qsl(parts.query, keep_blank_values=False)[:20]:
            if len(v) >= 25:
                out.append(v)
        segs = [unquote(s) for s in parts.path.split("/") if s]
        for i, s in enumerate(segs[:10]):
            if len(s) >= 25:
                out.append("/".join(segs[i : i + 2]))
        return out

    rng = random.Random(3)
    pieces = ["/", "?", "&", "=", "%41", "%C3%A9", "%FF", "+", "x" * 12, "0x" + "ab" * 12, "@", "[", "]", "http://", "w"]
    targets = ["/?miner=30@0x" + "a" * 40 + "@rig", "/0x" + "b" * 40 + "/rig", "http://[::1", "/v2/forecast?city=beijing"]
    targets += ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 12))) for _ in range(3000)]
    for t in targets * 2:  # the second round is answered from the cache
        got = _url_logins(t)
        assert got == ref(t), t
        got.append("changed")  # a caller's list is its own: the cached answer must not change
    assert _url_logins(targets[0]) == ref(targets[0])


# ------------------------------------------------------------------------------------------ DNS names
def _parse_without_memo(monkeypatch, payload: bytes) -> object:
    import minewatch.net.dns as dns

    real = dns._read_name
    monkeypatch.setattr(dns, "_read_name", lambda buf, pos, memo=None: real(buf, pos, None))
    try:
        return dns.parse_dns(payload)
    finally:
        monkeypatch.setattr(dns, "_read_name", real)


def test_names_that_only_point_at_an_earlier_name_read_as_before(monkeypatch):
    import random
    import struct as st

    from minewatch.net.dns import parse_dns
    from test_intel_dns import header, response_with_cname

    # pointer chains: question k is a pointer to question k-1, so it takes k pointers to read; past 64
    # the message is cut there, with or without the names already read
    for n in (3, 64, 65, 70):
        body = b"\x04pool\x07example\x00" + st.pack("!HH", 1, 1)
        at = [12]
        for _ in range(n):
            at.append(12 + len(body))
            body += st.pack("!H", 0xC000 | at[-2]) + st.pack("!HH", 1, 1)
        msg = header(qd=n + 1) + body
        got = parse_dns(msg)
        assert got == _parse_without_memo(monkeypatch, msg)
        assert len(got.questions) == min(n + 1, 65) and got.complete == (n <= 64)
    rng = random.Random(5)
    base = response_with_cname()
    for _ in range(1500):
        b = bytearray(base)
        for _ in range(rng.randint(1, 3)):
            b[rng.randrange(len(b))] = rng.choice([0xC0, 0x0C, 0x00, rng.randrange(256)])
        assert parse_dns(bytes(b)) == _parse_without_memo(monkeypatch, bytes(b))
