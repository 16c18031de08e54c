"""The reader and engine on the shared public captures: no surprises, flows agree with the labels
(src = SYN sender), and packet / TCP-conversation counts agree with tshark when it is installed."""

from __future__ import annotations

import csv
import hashlib
import shutil
import subprocess

import pytest

from minewatch.errors import InputError
from minewatch.net.engine import FlowEngine, FlowSummary
from minewatch.sources.pcap import open_capture

pytestmark = pytest.mark.shared

NESFIT = [
    "nesfit__cgminer.s0.pcapng",
    "nesfit__cgminer.s2.pcapng",
    "nesfit__xmr-eu1.nanopool.org.pcapng",
    "nesfit__zec-eu1.nanopool.org.pcapng",
    "nesfit__pool.eth.pp.ua.pcapng",
]
TSHARK_FILES = [*NESFIT[:2], "ndpi__bitcoin.pcap", "ndpi__ethereum.pcap", "peafowl__802.1Q_dvlan.cap"]


def _scan(path) -> tuple[FlowEngine, list[FlowSummary], object]:
    ends: list[FlowSummary] = []
    eng = FlowEngine(lambda info: None, on_flow_end=ends.append)
    reader = open_capture(path)
    eng.process(reader)
    eng.finish()
    return eng, ends, reader


def test_every_shared_capture_reads(shared):
    files = sorted(p for p in (shared / "pcap").iterdir() if p.name != "labels.csv")
    assert len(files) > 100
    total = 0
    for p in files:
        try:
            eng, ends, reader = _scan(p)
        except InputError:
            continue  # a clear, expected refusal (not a capture); anything else fails the test
        total += eng.stats.packets
        assert eng.stats.packets == reader.packets
        assert sum(s.packets_fwd + s.packets_rev for s in ends) <= eng.stats.packets
    assert total > 50_000


def _labels(shared, name):
    out = set()
    with open(shared / "pcap" / "labels.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            if r["file_name"] == name and r["proto"] in ("TCP", "UDP"):
                out.add((r["proto"].lower(), r["src_ip"], int(r["src_port"]), r["dst_ip"], int(r["dst_port"]),
                         r["file_sha256"]))
    return out


@pytest.mark.parametrize("name", NESFIT)
def test_flow_tuples_agree_with_labels(shared, name):
    p = shared / "pcap" / name
    if not p.exists():
        pytest.skip(f"{name} not in shared data")
    labels = _labels(shared, name)
    sha = hashlib.sha256(p.read_bytes()).hexdigest()
    want = {t[:5] for t in labels if t[5] == sha}
    if not want:
        pytest.skip(f"{name}: file content differs from the labelled version")
    _, ends, _ = _scan(p)
    got = {(s.info.transport, s.info.src_ip, s.info.src_port, s.info.dst_ip, s.info.dst_port)
           for s in ends if s.info.transport in ("tcp", "udp") and s.info.src_port is not None}
    assert got == want


def _tshark(args):
    return subprocess.run(["tshark", *args], capture_output=True, text=True, check=True, timeout=120).stdout


@pytest.mark.tools
@pytest.mark.skipif(shutil.which("tshark") is None, reason="Debian tshark not installed")
@pytest.mark.parametrize("name", TSHARK_FILES)
def test_counts_agree_with_tshark(shared, name):
    p = shared / "pcap" / name
    if not p.exists():
        pytest.skip(f"{name} not in shared data")
    eng, ends, _ = _scan(p)
    frames = len([x for x in _tshark(["-r", str(p), "-T", "fields", "-e", "frame.number"]).split("\n") if x])
    assert eng.stats.packets == frames
    conv = _tshark(["-r", str(p), "-q", "-z", "conv,tcp"])
    n_conv = sum(1 for line in conv.split("\n") if "<->" in line)
    assert sum(1 for s in ends if s.info.transport == "tcp") == n_conv
