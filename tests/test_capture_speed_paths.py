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
