"""End to end on generated captures: every dialect, impaired TCP, every link layer, node and benign traffic.

The generator (minewatch.synth) was written from the specifications independently of the
dissectors, and it records the truth (worker, wallet, the hashrate shares were drawn from), so these
tests check the scan against numbers, not against what the scanner happens to print.
"""

from __future__ import annotations

import math

import pytest

from minewatch.net.pipeline import CaptureScanner
from minewatch.store.intel_tables import load_intel
from minewatch.synth.pcapwriter import (
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
    LinkSpec,
    write_capture,
)
from minewatch.synth.scenario import ScenarioSpec, SessionSpec, build_scenario
from minewatch.synth.tcp import TcpOptions

S = SessionSpec
MINERS = [
    S("stratum1-asic", "10.1.0.1", "198.18.0.1", 1, 1800, 3333, kwargs={"worker": "asic1", "hashrate": 100e12, "difficulty": 65536.0}),
    S("stratum1-cgminer", "10.1.0.2", "198.18.0.2", 2, 1800, 4444, kwargs={"worker": "cg2", "hashrate": 14e12, "difficulty": 8192.0}),
    S("stratum1-nicehash", "10.1.0.3", "198.18.0.3", 3, 1800, 3334, kwargs={"worker": "nh3", "hashrate": 50e12, "difficulty": 32768.0}),
    S("eth-proxy", "10.1.0.4", "198.18.0.4", 4, 1800, 8008, kwargs={"worker": "rig4", "hashrate": 180e6}),
    S("ethstratum1", "10.1.0.5", "198.18.0.5", 5, 1800, 3353, kwargs={"worker": "rig5", "hashrate": 300e6, "difficulty": 2.0}),
    S("ethstratum2", "10.1.0.6", "198.18.0.6", 6, 1800, 1010, kwargs={"worker": "rig6", "hashrate": 420e6, "share_hashes": 8e9,
                                                                     "host": "etc.example-pool.net", "port": 1010}),
    S("xmrig", "10.1.0.7", "198.18.0.7", 7, 1800, 3333, kwargs={"worker": "pc7", "hashrate": 9000.0, "difficulty": 50000.0}),
    S("xmrig-custom", "10.1.0.8", "198.18.0.8", 8, 1800, 5555, kwargs={"worker": "pc8", "hashrate": 5000.0, "difficulty": 30000.0}),
    S("xmrig-noagent", "10.1.0.9", "198.18.0.9", 9, 1800, 10128, kwargs={"worker": "pc9", "hashrate": 3000.0, "difficulty": 20000.0}),
    S("getwork", "10.1.0.10", "198.18.0.10", 10, 600, 8332),
    S("getblocktemplate", "10.1.0.11", "198.18.0.11", 11, 600, 8332),
    S("stratum2", "10.1.0.12", "198.18.0.12", 12, 1800, 34254, kwargs={"worker": "s19", "hashrate": 95e12, "difficulty": 131072.0}),
]
OTHERS = [
    S("http", "10.2.0.1", "198.18.1.1", 1, 60, kwargs={"host": "news.example.cn", "pages": 3}),
    S("tls", "10.2.0.2", "198.18.1.2", 2, 60, kwargs={"sni": "www.example.cn", "requests": 3}),
    S("eth-node-rpc", "10.2.0.3", "10.2.9.1", 0, 600, kwargs={"every": 8.0}),
    S("bitcoin-rpc", "10.2.0.3", "10.2.9.2", 2, 600),
    S("bitcoin-p2p", "10.2.0.4", "198.18.1.4", 1, 900),
    S("monero-levin", "10.2.0.5", "198.18.1.5", 1, 900),
    S("lsp", "10.2.0.6", "10.2.0.7", 100, 300),
    S("json-api", "10.2.0.8", "198.18.1.8", 60, 300),
    S("websocket-tls", "10.2.0.9", "198.18.1.9", 0, 1800),
    S("mqtt-tls", "10.2.0.10", "198.18.1.10", 0, 1800, 8883),
    S("ssh", "10.2.0.11", "10.2.9.3", 4, 1800),
]


def scan(tmp_path, sessions, *, link=None, fmt="pcap", seed=3, **kw):
    pkts, labels = build_scenario(ScenarioSpec(sessions, seed=seed))
    path = write_capture(tmp_path / f"cap.{fmt}", pkts, fmt, link or LinkSpec(), **kw)
    scanner = CaptureScanner(load_intel(None))
    return scanner.scan_file(path), [lab for lab in labels if lab.proto.lower() == "tcp"], scanner.stats


def by_client(findings):
    return {(f.src_ip, f.src_port): f for f in findings}


@pytest.fixture(scope="module")
def clean_scan(tmp_path_factory):
    return scan(tmp_path_factory.mktemp("clean"), MINERS + OTHERS)


def test_every_dialect_is_found_with_its_facts(clean_scan):
    findings, labels, _ = clean_scan
    got = by_client(findings)
    for lab in labels:
        f = got.get((lab.src_ip, lab.src_port))
        if lab.label == "mining":
            assert f is not None and f.kind == "mining", f"{lab.variant} from {lab.src_ip} not found"
            assert f.dst_ip == lab.dst_ip and f.dst_port == lab.dst_port
            encrypted_sv2 = lab.variant in ("stratum-v2", "stratum2")  # Noise hides worker and wallet
            if lab.worker and not encrypted_sv2:
                assert f.worker == lab.worker, (lab.variant, f.worker, lab.worker)
            if lab.wallet and not encrypted_sv2:
                assert f.wallet == lab.wallet, (lab.variant, f.wallet)
        elif lab.label == "node":
            assert f is not None and f.kind == "node", f"node traffic {lab.variant} not reported as node"
        else:
            assert f is None or f.kind != "mining", f"benign {lab.variant} flagged: {f.evidence[0].text}"


def test_hashrate_estimates_cover_the_truth(clean_scan):
    findings, labels, _ = clean_scan
    got = by_client(findings)
    checked = 0
    for lab in labels:
        if lab.label != "mining" or not lab.true_hashrate_hs or not lab.shares or lab.shares < 30:
            continue
        f = got.get((lab.src_ip, lab.src_port))
        if f is None or f.hashrate_hs is None:  # a missing session fails the test above
            continue
        checked += 1
        # Poisson: with n shares the relative error is about 1/sqrt(n); allow 4 sigma plus rejects.
        tol = 4.0 / math.sqrt(lab.shares) + 0.05
        assert abs(f.hashrate_hs / lab.true_hashrate_hs - 1) < tol, (lab.variant, f.hashrate_hs, lab.true_hashrate_hs)
    assert checked >= 5


IMPAIRED = TcpOptions(split="random", max_parts=4, retransmit_prob=0.05, reorder_prob=0.05)


@pytest.mark.parametrize(
    ("link", "fmt", "extra"),
    [
        (LinkSpec(LINKTYPE_ETHERNET, vlans=(100, 200)), "pcapng", {}),
        (LinkSpec(LINKTYPE_LINUX_SLL), "pcap", {"nanosecond": True}),
        (LinkSpec(LINKTYPE_LINUX_SLL2), "pcap", {"gzip": True}),
        (LinkSpec(LINKTYPE_RAW), "pcap", {"big_endian": True}),
        (LinkSpec(LINKTYPE_NULL), "pcapng", {}),
    ],
)
def test_impaired_tcp_on_every_link_layer(tmp_path, link, fmt, extra):
    sessions = [
        S(s.kind, s.client, s.server, s.start, 600, s.server_port, tcp=IMPAIRED, kwargs=s.kwargs)
        for s in MINERS if s.kind in ("stratum1-asic", "eth-proxy", "xmrig", "ethstratum1")
    ] + [S("bitcoin-p2p", "10.2.0.4", "198.18.1.4", 1, 300, tcp=IMPAIRED)]
    findings, labels, _ = scan(tmp_path, sessions, link=link, fmt=fmt, **extra)
    got = by_client(findings)
    for lab in labels:
        f = got.get((lab.src_ip, lab.src_port))
        assert f is not None and f.kind == lab.label, (lab.variant, link.linktype)
        if lab.worker:
            assert f.worker == lab.worker


def test_mid_session_capture_still_finds_the_miner(tmp_path):
    late = TcpOptions(skip_seconds=120.0, handshake=True)
    sessions = [S("stratum1-asic", "10.1.0.1", "198.18.0.1", 1, 900, 3333, tcp=late,
                  kwargs={"worker": "asic1", "hashrate": 100e12, "difficulty": 65536.0}),
                S("xmrig", "10.1.0.7", "198.18.0.7", 7, 900, 3333, tcp=late,
                  kwargs={"worker": "pc7", "hashrate": 9000.0, "difficulty": 50000.0})]
    findings, _labels, _ = scan(tmp_path, sessions)
    mining = [f for f in findings if f.kind == "mining"]
    assert {f.src_ip for f in mining} == {"10.1.0.1", "10.1.0.7"}
    assert all(f.dst_port == 3333 for f in mining)  # the miner side is src even without a SYN


def test_lost_segments_do_not_hide_the_session(tmp_path):
    lossy = TcpOptions(drop_segments=frozenset({1, 5, 9}))
    sessions = [S("stratum1-asic", "10.1.0.1", "198.18.0.1", 1, 900, 3333, tcp=lossy,
                  kwargs={"worker": "asic1", "hashrate": 100e12, "difficulty": 65536.0})]
    findings, _, _ = scan(tmp_path, sessions)
    assert [f.kind for f in findings] == ["mining"]


def test_ipv6_with_extension_headers_and_fragmented_ipv4(tmp_path):
    from minewatch.synth.pcapwriter import EXT_DSTOPT, EXT_HOPOPT

    sessions = [
        S("xmrig", "fd00::7", "2001:db8::7", 7, 600, 3333, tcp=TcpOptions(ipv6_ext=(EXT_HOPOPT, EXT_DSTOPT)),
          kwargs={"worker": "v6", "hashrate": 9000.0, "difficulty": 50000.0}),
        S("stratum1-asic", "10.1.0.1", "198.18.0.1", 1, 600, 3333, tcp=TcpOptions(fragment_mtu=200),
          kwargs={"worker": "frag", "hashrate": 100e12, "difficulty": 65536.0}),
    ]
    findings, _, stats = scan(tmp_path, sessions)
    workers = {f.worker for f in findings if f.kind == "mining"}
    assert "v6" in workers
    assert stats.fragments > 0  # fragments are counted, not crashed on


def test_miner_reported_hashrate_reaches_the_finding_beside_the_estimate(clean_scan):
    """eth_submitHashrate was parsed but never reached the finding (docs said it was kept): the miner's
    own figure is shown in `extra`, the estimate from shares stays the estimate."""
    findings, _, _ = clean_scan
    f = by_client(findings)
    eth = next(x for (ip, _p), x in f.items() if ip == "10.1.0.4")
    assert eth.extra["reported_hashrate_hs"] == pytest.approx(180e6, rel=0.05)
    assert eth.hashrate_hs is None or eth.hashrate_hs != eth.extra["reported_hashrate_hs"]
    asic = next(x for (ip, _p), x in f.items() if ip == "10.1.0.1")
    assert "reported_hashrate_hs" not in asic.extra  # Stratum v1 miners report nothing of themselves
