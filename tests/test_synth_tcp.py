"""TCP conversations: reassembly gives back the messages, impairments show up as tshark sees them."""

from __future__ import annotations

import random
import struct

from minewatch.synth import pcapwriter as pw
from minewatch.synth.tcp import C2S, S2C, TcpOptions, tcp_session, tls_client_hello, tls_wrap
from test_synth_helpers import TSHARK, check_l3, tshark, tshark_problems

CLIENT, SERVER = ("10.0.0.5", 45000), ("192.0.2.10", 3333)


def _msgs(n: int = 30) -> list:
    rng = random.Random(9)
    out = []
    for i in range(n):
        out.append(
            (
                i * 1.0,
                C2S,
                f'{{"id":{i},"method":"mining.submit","params":["{rng.randbytes(40).hex()}"]}}\n'.encode(),
            )
        )
        out.append(
            (i * 1.0 + 0.04, S2C, f'{{"id":{i},"result":true,"error":null}}\n'.encode() * rng.randint(1, 80))
        )
    return out


def _segments(pkts):
    """(direction, seq, payload, flags) of every TCP packet, checksums verified."""
    out = []
    for p in pkts:
        proto, src, _, l4 = check_l3(p.data)
        assert proto == 6
        off = (l4[12] >> 4) * 4
        d = C2S if src == bytes([10, 0, 0, 5]) else S2C
        out.append((d, struct.unpack("!I", l4[4:8])[0], l4[off:], l4[13]))
    return out


def _reassemble(segs, direction):
    data = {}
    for d, seq, payload, _ in segs:
        if d == direction and payload:
            data[seq] = payload
    if not data:
        return b""
    start = min(data)
    buf = bytearray()
    for seq in sorted(data):
        rel = (seq - start) % 2**32
        assert rel <= len(buf), "gap in stream"
        buf[rel : rel + len(data[seq])] = data[seq]
    return bytes(buf)


def test_reassembly_with_random_split_reorder_and_retransmissions():
    msgs = _msgs()
    opts = TcpOptions(split="random", max_parts=4, retransmit_prob=0.1, reorder_prob=0.3, mss=536)
    pkts = tcp_session(CLIENT, SERVER, msgs, 1_700_000_000.0, random.Random(1), opts)
    segs = _segments(pkts)
    assert segs[0][3] == pw.SYN and segs[1][3] == pw.SYN | pw.ACK
    assert any(s[3] & pw.FIN for s in segs)
    assert _reassemble(segs, C2S) == b"".join(m[2] for m in msgs if m[1] == C2S)
    assert _reassemble(segs, S2C) == b"".join(m[2] for m in msgs if m[1] == S2C)
    data_segs = [s for s in segs if s[2]]
    assert len(data_segs) > len(msgs)  # messages really span segments
    assert all(len(s[2]) <= 536 for s in data_segs)
    assert len({(s[0], s[1]) for s in data_segs}) < len(data_segs)  # some retransmitted
    assert [p.ts_ns for p in pkts] == sorted(p.ts_ns for p in pkts)


def test_tshark_sees_the_impairments(tmp_path):
    if not TSHARK:
        return
    msgs = _msgs()
    pk = tcp_session(
        CLIENT,
        SERVER,
        msgs,
        1_700_000_000.0,
        random.Random(2),
        TcpOptions(split="random", retransmit_prob=0.15, reorder_prob=0.5),
    )
    path = pw.write_capture(tmp_path / "r.pcap", pk)
    out = tshark(path, "-Y", "tcp.analysis.retransmission", "-T", "fields", "-e", "frame.number")
    assert out.split()
    out = tshark(path, "-Y", "tcp.analysis.out_of_order", "-T", "fields", "-e", "frame.number")
    assert out.split()
    conv = tshark(path, "-q", "-z", "conv,tcp")
    assert conv.count("<->") == 1


def test_missing_segment_leaves_a_gap(tmp_path):
    msgs = _msgs(5)
    pk = tcp_session(
        CLIENT, SERVER, msgs, 1_700_000_000.0, random.Random(3), TcpOptions(drop_segments=frozenset({2}))
    )
    segs = _segments(pk)
    c2s = b"".join(m[2] for m in msgs if m[1] == C2S)
    s2c = b"".join(m[2] for m in msgs if m[1] == S2C)
    got = sum(len(s[2]) for s in segs)
    assert got < len(c2s) + len(s2c)
    if TSHARK:
        path = pw.write_capture(tmp_path / "g.pcap", pk)
        out = tshark(
            path,
            "-Y",
            "tcp.analysis.lost_segment || tcp.analysis.ack_lost_segment",
            "-T",
            "fields",
            "-e",
            "frame.number",
        )
        assert out.split()


def test_start_mid_session_has_no_handshake():
    msgs = _msgs(20)
    t0 = 1_700_000_000.0
    pk = tcp_session(CLIENT, SERVER, msgs, t0, random.Random(4), TcpOptions(skip_seconds=7.5))
    segs = _segments(pk)
    assert not any(s[3] & pw.SYN for s in segs)
    assert min(p.ts_ns for p in pk) >= (t0 + 7.5) * 1e9
    c2s = b"".join(s[2] for s in segs if s[0] == C2S)
    assert b'{"id":8,' in c2s and b'{"id":7,' not in c2s  # messages sent at 7.03 s are cut, 8.03 s kept


def test_ipv6_conversation_and_udp(tmp_path):
    pk = tcp_session(("fd00::5", 50000), ("2001:db8::1", 4444), _msgs(3), 1_700_000_000.0, random.Random(5))
    assert all(p.data[0] >> 4 == 6 for p in pk)
    for p in pk:
        check_l3(p.data)
    if TSHARK:
        path = pw.write_capture(tmp_path / "v6.pcap", pk)
        assert tshark_problems(path) == []


def test_tls_client_hello_and_record_sizes(tmp_path):
    rng = random.Random(6)
    ch = tls_client_hello("pool.example.org", ("h2",), rng)
    assert ch[0] == 0x16 and struct.unpack("!H", ch[3:5])[0] == len(ch) - 5
    assert b"pool.example.org" in ch
    plain = [(0.0, C2S, b"x" * 100), (0.1, S2C, b"y" * 20000)]
    wrapped = tls_wrap(plain, "pool.example.org", (), rng)
    app = wrapped[-2:]
    assert len(app[0][2]) == 100 + 22  # 5-byte header + 1 content type + 16-byte tag
    assert len(app[1][2]) == 20000 + 2 * 22  # two records: 16384 + 3616 plaintext
    if TSHARK:
        pk = tcp_session(CLIENT, ("192.0.2.10", 443), wrapped, 1_700_000_000.0, rng)
        path = pw.write_capture(tmp_path / "t.pcap", pk)
        out = tshark(
            path,
            "-Y",
            "tls.handshake.type == 1",
            "-T",
            "fields",
            "-e",
            "tls.handshake.extensions_server_name",
            "-e",
            "tls.handshake.extensions.supported_version",
        )
        assert out.split("\t")[0] == "pool.example.org"
        assert tshark_problems(path) == []
        recs = tshark(
            path,
            "-Y",
            "tls.record.opaque_type == 23 || tls.record.content_type == 23",
            "-T",
            "fields",
            "-e",
            "tls.record.length",
        )
        lengths = [int(x) for ln in recs.split() for x in ln.split(",")]
        assert 117 in lengths and 16401 in lengths
