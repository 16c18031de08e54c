"""The benchmark capture writer: size, time order, valid checksums after NumPy patching, needles kept."""

from __future__ import annotations

import ipaddress
import struct

import pytest

from minewatch.synth.big import write_big_capture
from minewatch.synth.scenario import read_labels_csv
from test_synth_helpers import TSHARK, check_l3, l3_of, read_pcap_any, tshark, tshark_problems


@pytest.mark.slow
def test_big_capture_small_instance(tmp_path):
    path = tmp_path / "big.pcap"
    st = write_big_capture(path, 12_000_000, seed=3, duration=300.0, n_mining=11, window=20.0)
    assert path.stat().st_size == st.bytes >= 12_000_000
    fmt, recs = read_pcap_any(path)
    assert fmt == "pcap-le" and len(recs) == st.packets
    ts = [r["ts_ns"] for r in recs]
    assert ts == sorted(ts)
    flows = set()
    for r in recs:
        proto, src, dst, l4 = check_l3(l3_of(r["data"], 1))  # raises on any bad checksum
        sp, dp = struct.unpack("!HH", l4[:4])
        a, b = (src, sp), (dst, dp)
        flows.add((min(a, b), max(a, b), proto))
    assert len(flows) > 1000
    labels = read_labels_csv(st.labels_path)
    mining = [x for x in labels if x["label"] == "mining" and x["proto"] == "tcp"]
    assert len(mining) == st.mining_flows == 11
    for m in mining:  # every needle's 5-tuple is in the file with the stated packet count
        a = (ipaddress.ip_address(m["src_ip"]).packed, int(m["src_port"]))
        b = (ipaddress.ip_address(m["dst_ip"]).packed, int(m["dst_port"]))
        assert (min(a, b), max(a, b), 6) in flows
    if TSHARK:
        assert tshark_problems(path) == []
        conv = tshark(path, "-q", "-z", "conv,tcp").count("<->")
        assert conv == sum(1 for f in flows if f[2] == 6)
