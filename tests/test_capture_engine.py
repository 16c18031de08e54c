"""Flow engine: flow keys and direction, TCP reassembly, expiry, timelines, Community ID, Arrow output."""

from __future__ import annotations

import numpy as np
import pytest

from minewatch.model import FLOW_SCHEMA
from minewatch.net.engine import FlowEngine, FlowInfo, FlowSummary, community_id, summaries_to_arrow
from minewatch.sources.pcap import open_capture
from test_capture_writer import (
    ACK,
    PSH,
    RST,
    SYN,
    eth,
    ipv4,
    ipv6,
    pcap_bytes,
    tcp,
    tcp_session,
    udp,
    write,
)


class Recorder:
    def __init__(self, info: FlowInfo, limit: int | None = None) -> None:
        self.info = info
        self.events: list[tuple] = []
        self.data = [bytearray(), bytearray()]
        self.limit = limit
        self.closed = False

    def feed(self, direction, ts, data):
        self.events.append(("feed", direction, bytes(data)))
        self.data[direction] += data

    def gap(self, direction, ts):
        self.events.append(("gap", direction))

    def datagram(self, direction, ts, payload):
        self.events.append(("dgram", direction, bytes(payload)))

    def wants_more(self):
        return self.limit is None or sum(map(len, self.data)) < self.limit

    def close(self):
        self.closed = True


def run(tmp_path, frames, name="x.pcap", linktype=1, limit=None, **kw):
    recs: list[Recorder] = []
    ends: list[FlowSummary] = []

    def factory(info):
        r = Recorder(info, limit)
        recs.append(r)
        return r

    eng = FlowEngine(factory, on_flow_end=ends.append, **kw)
    eng.process(open_capture(write(tmp_path / name, pcap_bytes(frames, linktype=linktype))))
    eng.finish()
    return eng, recs, ends


def seg(src, dst, sp, dp, seq, data=b"", fl=PSH | ACK, t=0.0, ack=1):
    return (1_700_000_000.0 + t, eth(ipv4(src, dst, 6, tcp(sp, dp, seq, ack, fl, data))))


C, S = "10.0.0.1", "10.0.0.2"


def test_basic_session_direction_and_counters(tmp_path):
    frames = tcp_session(requests=(b'{"id":1,"method":"login"}\n', b'{"id":2}\n'),
                         responses=(b'{"id":1,"result":{}}\n', b'{"id":2,"result":true}\n'))
    eng, recs, ends = run(tmp_path, frames)
    assert len(ends) == 1 and len(recs) == 1
    s = ends[0]
    assert (s.info.src_ip, s.info.src_port, s.info.dst_ip, s.info.dst_port) == (C, 40000, S, 3333)
    assert s.info.direction_certain and s.info.transport == "tcp"
    assert s.packets_fwd == 6 and s.packets_rev == 4
    assert s.payload_bytes_fwd == len(b'{"id":1,"method":"login"}\n') + len(b'{"id":2}\n')
    assert s.tcp_flags_fwd & SYN and s.tcp_flags_rev & (SYN | ACK) == (SYN | ACK)
    assert s.bytes_fwd == sum(len(f) - 14 for _, f in frames if f[26:30] == bytes([10, 0, 0, 1]))
    assert bytes(recs[0].data[0]) == b'{"id":1,"method":"login"}\n{"id":2}\n'
    assert bytes(recs[0].data[1]) == b'{"id":1,"result":{}}\n{"id":2,"result":true}\n'
    assert not any(e[0] == "gap" for e in recs[0].events)
    assert recs[0].closed
    assert s.end_reason == "fin"
    assert len(s.timeline) == 4 and list(s.timeline["direction"]) == [0, 1, 0, 1]
    assert eng.stats.packets == len(frames) and eng.stats.tcp == len(frames) and eng.stats.flows == 1


def test_retransmission_and_reordering(tmp_path):
    fr = [
        seg(C, S, 40000, 80, 100, fl=SYN, t=0),
        seg(S, C, 80, 40000, 900, fl=SYN | ACK, t=0.1),
        seg(C, S, 40000, 80, 101, b"AAAA", t=0.2),
        seg(C, S, 40000, 80, 109, b"CCCC", t=0.3),  # out of order
        seg(C, S, 40000, 80, 101, b"AAAA", t=0.4),  # retransmission
        seg(C, S, 40000, 80, 103, b"AABBBB", t=0.5),  # overlapping retransmission filling the hole
        seg(C, S, 40000, 80, 113, b"DD", t=0.6),
    ]
    _, recs, _ = run(tmp_path, fr)
    assert bytes(recs[0].data[0]) == b"AAAABBBBCCCCDD"
    assert not any(e[0] == "gap" for e in recs[0].events)


def test_midsession_start_gives_gap_first_and_guesses_server(tmp_path):
    fr = [
        seg(S, C, 3333, 45678, 5000, b'{"jsonrpc":"2.0"}\n', t=0),
        seg(C, S, 45678, 3333, 7000, b'{"id":4}\n', t=0.1),
    ]
    _, recs, ends = run(tmp_path, fr)
    info = ends[0].info
    assert (info.src_ip, info.src_port, info.dst_port) == (C, 45678, 3333)
    assert not info.direction_certain
    ev = recs[0].events
    # the server sent first (direction 1): a gap announces the missing start before its bytes
    assert ev[0] == ("gap", 1) and ev[1][0:2] == ("feed", 1)
    assert ("gap", 0) in ev


def test_well_known_port_wins_and_first_sender_breaks_ties(tmp_path):
    fr = [seg(S, C, 443, 50000, 1, b"x", t=0), seg("10.9.9.9", "10.8.8.8", 40000, 40001, 1, b"y", t=1)]
    _, _, ends = run(tmp_path, fr)
    by_port = {e.info.dst_port: e.info for e in ends}
    assert by_port[443].src_ip == C
    assert by_port[40001].src_ip == "10.9.9.9"


def test_synack_first_sets_direction(tmp_path):
    fr = [seg(S, C, 3333, 50000, 9, fl=SYN | ACK, t=0), seg(C, S, 50000, 3333, 2, b"hi", t=0.1)]
    _, _, ends = run(tmp_path, fr)
    assert ends[0].info.src_ip == C and ends[0].info.direction_certain


def test_snaplen_cut_segment_gives_gap_and_resync(tmp_path):
    big = b"{" + b"x" * 998 + b"\n"
    frame = eth(ipv4(C, S, 6, tcp(40000, 80, 101, 1, PSH | ACK, big)))
    fr = [seg(C, S, 40000, 80, 100, fl=SYN, t=0), (1_700_000_000.1, frame[:200], len(frame)),
          seg(C, S, 40000, 80, 101 + len(big), b'{"next":1}\n', t=0.2)]
    eng, recs, ends = run(tmp_path, fr)
    ev = recs[0].events
    assert ev[0] == ("feed", 0, big[: 200 - 54]) and ev[1] == ("gap", 0)
    assert ev[2] == ("feed", 0, b'{"next":1}\n')
    assert ends[0].payload_bytes_fwd == len(big) + 11
    assert eng.stats.snaplen_cut == 1


def test_hole_beyond_window_is_skipped_with_gap(tmp_path):
    fr = [seg(C, S, 1, 2, 100, fl=SYN, t=0), seg(C, S, 1, 2, 101, b"a" * 10, t=0.1)]
    # segment 111..120 lost; then more than the window arrives
    seqno = 121
    for k in range(6):
        fr.append(seg(C, S, 1, 2, seqno, bytes([66 + k]) * 100, t=0.2 + k / 10))
        seqno += 100
    _, recs, _ = run(tmp_path, fr, reorder_window_bytes=250)
    ev = recs[0].events
    assert ev[0] == ("feed", 0, b"a" * 10) and ev[1] == ("gap", 0)
    assert bytes(recs[0].data[0]) == b"a" * 10 + b"".join(bytes([66 + k]) * 100 for k in range(6))


def test_held_segments_flushed_at_end(tmp_path):
    fr = [seg(C, S, 1, 2, 100, fl=SYN, t=0), seg(C, S, 1, 2, 111, b"later", t=0.1)]
    _, recs, _ = run(tmp_path, fr)
    assert recs[0].events == [("gap", 0), ("feed", 0, b"later")]


def test_wants_more_false_stops_delivery_but_not_counting(tmp_path):
    frames = tcp_session(requests=(b"a" * 100,) * 10, responses=(b"b" * 100,) * 10)
    _, recs, ends = run(tmp_path, frames, limit=150)
    assert sum(map(len, recs[0].data)) == 200
    assert ends[0].payload_bytes_fwd == 1000 and ends[0].payload_bytes_rev == 1000


def test_fin_then_new_syn_starts_new_flow_retransmitted_syn_does_not(tmp_path):
    s1 = tcp_session(t0=1_700_000_000.0)
    s2 = tcp_session(t0=1_700_000_001.0)
    s2 = [(t, f[:38] + b"\x00\x00\x09\x99" + f[42:]) if k == 0 else (t, f) for k, (t, f) in enumerate(s2)]
    # a refused connection: SYN, RST, the same SYN again, RST -> one flow
    rf = [seg(C, S, 41000, 25, 7, fl=SYN, t=5), seg(S, C, 25, 41000, 0, fl=RST | ACK, t=5.1, ack=8),
          seg(C, S, 41000, 25, 7, fl=SYN, t=6), seg(S, C, 25, 41000, 0, fl=RST | ACK, t=6.1, ack=8)]
    _eng, _, ends = run(tmp_path, s1 + s2 + rf)
    tuples = [(e.info.src_port, e.info.dst_port) for e in ends]
    assert tuples.count((40000, 3333)) == 2
    assert tuples.count((41000, 25)) == 1
    refused = next(e for e in ends if e.info.dst_port == 25)
    assert refused.packets_fwd == 2 and refused.packets_rev == 2


def test_udp_datagrams_both_directions(tmp_path):
    q = (1_700_000_000.0, eth(ipv4("192.168.1.42", "8.8.8.8", 17, udp(4242, 53, b"query"))))
    a = (1_700_000_000.1, eth(ipv4("8.8.8.8", "192.168.1.42", 17, udp(53, 4242, b"answer"))))
    _, recs, ends = run(tmp_path, [q, a])
    assert recs[0].events == [("dgram", 0, b"query"), ("dgram", 1, b"answer")]
    assert ends[0].community_id == "1:vTdrngJjlP5eZ9mw9JtnKyn99KM="
    assert ends[0].tcp_flags_fwd is None


def test_community_id_vectors():
    assert community_id("192.168.1.42", "8.8.8.8", 17, 4242, 53) == "1:vTdrngJjlP5eZ9mw9JtnKyn99KM="
    # direction does not matter
    assert community_id("8.8.8.8", "192.168.1.42", 17, 53, 4242) == "1:vTdrngJjlP5eZ9mw9JtnKyn99KM="
    # ICMP echo request and its reply map to the same id
    assert community_id("10.0.0.1", "10.0.0.2", 1, 8, 0) == community_id("10.0.0.2", "10.0.0.1", 1, 0, 0)
    assert community_id("2001:db8::1", "2001:db8::2", 6, 1, 2) != community_id("2001:db8::1", "2001:db8::2",
                                                                               17, 1, 2)


def test_icmp_echo_pair_is_one_flow_without_ports(tmp_path):
    req = (1.0, eth(ipv4(C, S, 1, b"\x08\x00\x00\x00\x00\x01\x00\x01")))
    rep = (1.1, eth(ipv4(S, C, 1, b"\x00\x00\x00\x00\x00\x01\x00\x01")))
    eng, _, ends = run(tmp_path, [req, rep])
    assert len(ends) == 1 and ends[0].info.src_port is None and ends[0].info.transport == "icmp"
    assert ends[0].community_id == community_id(C, S, 1, 8, 0)
    assert eng.stats.icmp == 2


def test_fragments_counted_and_ipv6_flows(tmp_path):
    payload = udp(53, 4444, b"z" * 40)
    f1 = (1.0, eth(ipv4(C, S, 17, payload[:24], mf=True)))
    f2 = (1.1, eth(ipv4(C, S, 17, payload[24:], frag_off=24)))
    v6 = (1.2, eth(ipv6("2001:db8::1", "2001:db8::2", 6, tcp(1234, 80, 1, 0, SYN)), 0x86DD))
    eng, recs, ends = run(tmp_path, [f1, f2, v6])
    assert eng.stats.fragments == 2 and eng.stats.ipv6 == 1
    ports = {(e.info.src_port, e.info.dst_port) for e in ends if e.info.transport == "udp"}
    assert ports == {(None, None), (4444, 53)}  # later fragment: port-less flow; 4444 looks like the client
    v6flow = next(e for e in ends if e.info.transport == "tcp")
    assert v6flow.info.src_ip == "2001:db8::1" and v6flow.info.dst_port == 80
    # the first fragment's partial datagram is not handed to the dissector as if whole
    assert not any(ev[0] == "dgram" for r in recs for ev in r.events)


def test_idle_expiry_keeps_memory_bounded(tmp_path):
    """Sequential short flows far apart in time: expired while reading, the table never holds them all."""
    frames = []
    for k in range(3000):
        t = k * 10.0
        frames.append((1_700_000_000 + t, eth(ipv4(C, S, 17, udp(10000 + k, 53, b"q")))))
    ended_before_finish = []
    eng = FlowEngine(lambda i: None, idle_timeout_s=60.0, on_flow_end=ended_before_finish.append)
    import minewatch.sources.pcap as pm

    old = pm.BATCH_PACKETS
    pm.BATCH_PACKETS = 256
    try:
        eng.process(open_capture(write(tmp_path / "i.pcap", pcap_bytes(frames))))
    finally:
        pm.BATCH_PACKETS = old
    n_before = len(ended_before_finish)
    eng.finish()
    assert len(ended_before_finish) == 3000
    assert n_before > 2500
    assert eng.stats.active_flows_peak < 300


def test_table_grows_for_many_concurrent_flows(tmp_path):
    frames = [(1_700_000_000 + k * 1e-4, eth(ipv4(f"10.{k >> 16 & 255}.{k >> 8 & 255}.{k & 255}", S, 17,
                                                  udp(1000 + k % 50000, 53, b"q")))) for k in range(20000)]
    frames += [(1_700_000_003 + k * 1e-4, f) for k, (_, f) in enumerate(frames[:5000])]
    ends = []
    eng = FlowEngine(lambda i: None, on_flow_end=ends.append, initial_slots=16)
    eng.process(open_capture(write(tmp_path / "g.pcap", pcap_bytes(frames))))
    eng.finish()
    assert len(ends) == 20000
    assert sum(e.packets_fwd for e in ends) == 25000
    assert eng.fi.shape[0] >= 20000


def test_timeline_bounded_head_and_tail(tmp_path):
    frames = [seg(C, S, 40000, 3333, 100, fl=SYN, t=0)]
    seqno = 101
    for k in range(1000):
        frames.append(seg(C, S, 40000, 3333, seqno, b"x" * (1 + k % 7), t=1 + k))
        seqno += 1 + k % 7
    _, _, ends = run(tmp_path, frames, timeline_max=100)
    tl = ends[0].timeline
    assert len(tl) == 100 and ends[0].timeline_dropped == 900
    assert list(tl["ts"][:50] - 1_700_000_000) == pytest.approx([1 + k for k in range(50)])
    assert list(tl["ts"][50:] - 1_700_000_000) == pytest.approx([1 + k for k in range(950, 1000)])
    assert list(tl["payload_len"][:7]) == [1, 2, 3, 4, 5, 6, 7]
    assert np.all(np.diff(tl["ts"]) > 0)


def test_summaries_to_arrow(tmp_path):
    _, _, ends = run(tmp_path, tcp_session())
    t = summaries_to_arrow(ends)
    assert t.schema == FLOW_SCHEMA
    row = t.to_pylist()[0]
    assert row["src_port"] == 40000 and row["packets_fwd"] == 5 and row["sni"] is None
    assert row["duration_ms"] == pytest.approx((ends[0].last_ts - ends[0].first_ts) * 1000)
    assert row["community_id"].startswith("1:")


def test_progress_reports_bytes(tmp_path):
    p = write(tmp_path / "p.pcap", pcap_bytes(tcp_session()))
    seen = []
    eng = FlowEngine(lambda i: None)
    eng.process(open_capture(p), progress=seen.append)
    assert seen and seen[-1] == p.stat().st_size
