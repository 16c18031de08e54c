"""Captures from mirror ports and overlays: the traffic inside ERSPAN, VXLAN, GRE, Geneve, GTP-U and IP-in-IP.

Why: a sensor behind a switch's ERSPAN session or a cloud's VXLAN mirror receives every miner as one
GRE or UDP flow between the switch and itself. These tests wrap generated sessions in each tunnel
(header layouts from the specifications, built by `synth.pcapwriter.encapsulate`) and check that the
miners are found with their inner addresses, that the summary says how many packets came out of
which tunnel, that bytes which only sit on a tunnel's port are left alone, and that tshark sees the
same inner conversations.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from minewatch.net.pipeline import CaptureScanner
from minewatch.store.intel_tables import load_intel
from minewatch.synth.pcapwriter import (
    PROTO_UDP,
    TUNNEL_KINDS,
    LinkSpec,
    Pkt,
    encapsulate,
    ip_packet,
    udp_header,
    write_capture,
)
from minewatch.synth.scenario import ScenarioSpec, SessionSpec, build_scenario

S = SessionSpec
SESSIONS = [
    S("stratum1-asic", "10.1.0.1", "198.18.0.1", 1, 900, 3333, kwargs={"worker": "asic1", "hashrate": 100e12,
                                                                    "difficulty": 65536.0}),
    S("xmrig", "10.1.0.7", "198.18.0.7", 7, 900, 3333, kwargs={"worker": "pc7", "hashrate": 9000.0,
                                                            "difficulty": 50000.0}),
    S("tls", "10.2.0.2", "198.18.1.2", 2, 60, kwargs={"sni": "www.example.cn", "requests": 3}),
]
SWITCH, SENSOR = "192.0.2.1", "192.0.2.2"
DECODED_AS = {"ipip": "ip-in-ip", "gre": "gre", "gre-teb": "gre", "erspan1": "erspan", "erspan2": "erspan",
              "erspan3": "erspan", "vxlan": "vxlan", "geneve": "geneve", "gtpu": "gtp-u"}


def _scan(path):
    scanner = CaptureScanner(load_intel(None))
    findings = scanner.scan_file(path)
    return findings, scanner.stats


def _wrapped(tmp_path, kind, sessions=SESSIONS, **kw):
    pkts, labels = build_scenario(ScenarioSpec(sessions, seed=5))
    outer = [Pkt(p.ts_ns, encapsulate(p.data, kind, SWITCH, SENSOR, **kw)) for p in pkts]
    path = write_capture(tmp_path / f"{kind}.pcap", outer, "pcap", LinkSpec())
    return path, pkts, labels


@pytest.mark.parametrize("kind", TUNNEL_KINDS)
def test_miners_inside_each_tunnel_are_found_with_inner_addresses(tmp_path, kind):
    path, pkts, labels = _wrapped(tmp_path, kind, key=42 if kind.startswith("gre") else None)
    findings, stats = _scan(path)
    mining = {(f.src_ip, f.src_port): f for f in findings if f.kind == "mining"}
    miners = [lab for lab in labels if lab.label == "mining"]
    assert len(miners) == 2
    for lab in miners:
        f = mining.get((lab.src_ip, lab.src_port))
        assert f is not None, f"{lab.variant} inside {kind} not found: {[x.src_ip for x in findings]}"
        assert (f.dst_ip, f.dst_port) == (lab.dst_ip, lab.dst_port)
        assert f.worker == lab.worker
    assert not any(SWITCH in (f.src_ip, f.dst_ip) for f in findings)
    assert stats.tunnelled == {DECODED_AS[kind]: len(pkts)}
    # the inner flows, not one outer flow: both miners, the TLS flow and the DNS-free rest
    assert stats.tcp_flows == len([lab for lab in labels if lab.proto.lower() == "tcp"])


def test_gtpu_extension_headers_and_ipv6_inner(tmp_path):
    v6 = [S("xmrig", "2001:db8:1::7", "2001:db8:2::7", 1, 900, 3333,
            kwargs={"worker": "pc7", "hashrate": 9000.0, "difficulty": 50000.0})]
    for kind, extra in (("gtpu", {"gtp_ext": True}), ("vxlan", {}), ("gre", {}), ("ipip", {})):
        path, pkts, _labels = _wrapped(tmp_path, kind, v6, **extra)
        findings, stats = _scan(path)
        got = [f for f in findings if f.kind == "mining"]
        assert [(f.src_ip, f.worker) for f in got] == [("2001:db8:1::7", "pc7")], kind
        assert stats.tunnelled == {DECODED_AS[kind]: len(pkts)}


def test_tunnel_inside_a_tunnel(tmp_path):
    pkts, _labels = build_scenario(ScenarioSpec(SESSIONS[:1], seed=5))
    outer = [Pkt(p.ts_ns, encapsulate(encapsulate(p.data, "vxlan", "10.9.0.1", "10.9.0.2"), "erspan2", SWITCH,
                                      SENSOR)) for p in pkts]
    path = write_capture(tmp_path / "nested.pcap", outer, "pcap", LinkSpec())
    findings, stats = _scan(path)
    assert [(f.src_ip, f.worker) for f in findings if f.kind == "mining"] == [("10.1.0.1", "asic1")]
    assert stats.tunnelled == {"erspan": len(pkts)}  # counted once, by the outermost tunnel


def test_bytes_on_a_tunnel_port_that_are_not_a_tunnel_stay_the_outer_flow(tmp_path):
    # UDP to 4789 without VXLAN's I flag, UDP to 6081 with a Geneve version of 1, GRE version 1 (PPTP),
    # and a VXLAN frame whose inner Ethernet carries ARP: none of them is decoded as an inner packet
    arp_frame = b"\xff" * 6 + b"\x02" * 6 + b"\x08\x06" + b"\x00" * 28
    bodies = [
        ip_packet("10.5.0.1", "10.5.0.2", PROTO_UDP, udp_header("10.5.0.1", "10.5.0.2", 40000, 4789, b"\x00" * 60)),
        ip_packet("10.5.0.1", "10.5.0.3", PROTO_UDP, udp_header("10.5.0.1", "10.5.0.3", 40001, 6081,
                                                                b"\x40" + b"\x00" * 59)),
        ip_packet("10.5.0.1", "10.5.0.4", 47, b"\x30\x01\x88\x0b" + b"\x00" * 40),
        ip_packet("10.5.0.1", "10.5.0.5", PROTO_UDP, udp_header("10.5.0.1", "10.5.0.5", 40002, 4789,
                                                                b"\x08\x00\x00\x00\x00\x13\x89\x00" + arp_frame)),
    ]
    pkts = [Pkt(1_700_000_000_000_000_000 + i * 1_000_000, b) for i, b in enumerate(bodies)]
    path = write_capture(tmp_path / "notunnel.pcap", pkts, "pcap", LinkSpec())
    _findings, stats = _scan(path)
    assert stats.tunnelled == {}
    assert stats.udp_flows == 3 and stats.flows == 4


@pytest.mark.skipif(shutil.which("tshark") is None, reason="Debian tshark not installed")
@pytest.mark.parametrize("kind", ["erspan2", "erspan3", "vxlan", "gre", "geneve", "gtpu"])
def test_inner_tcp_conversations_agree_with_tshark(tmp_path, kind):
    path, _pkts, _labels = _wrapped(tmp_path, kind)
    _findings, stats = _scan(path)
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-q", "-z", "conv,tcp"], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    rows = [ln for ln in out.splitlines() if re.match(r"^\S+:\d+\s+<->\s+\S+:\d+", ln.strip())]
    assert rows, out
    assert stats.tcp_flows == len(rows), out


def test_headers_that_only_look_like_a_tunnel_leave_the_packet_alone(tmp_path):
    # review 7: a DNS query from client port 2152 whose id reads as a GTP-U G-PDU header, and a VXLAN frame
    # whose "IPv4" header is broken (IHL 4), were decoded as inner packets and vanished from their flows
    eth = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00"
    broken_ip = b"\x44" + b"\x00" * 39  # version 4, IHL 4 words: no IPv4 header is that short
    bodies = [
        ip_packet("10.6.0.1", "10.6.0.53", PROTO_UDP, udp_header("10.6.0.1", "10.6.0.53", 2152, 53,
                                                                 b"\x3a\xff\x00\x28" + b"\x00" * 40)),
        ip_packet("10.6.0.2", "10.6.0.9", PROTO_UDP, udp_header("10.6.0.2", "10.6.0.9", 40003, 4789,
                                                                b"\x08\x00\x00\x00\x00\x13\x89\x00" + eth + broken_ip)),
    ]
    pkts = [Pkt(1_700_000_000_000_000_000 + i * 1_000_000, b) for i, b in enumerate(bodies)]
    path = write_capture(tmp_path / "lookalike.pcap", pkts, "pcap", LinkSpec())
    _findings, stats = _scan(path)
    assert stats.tunnelled == {}
    assert stats.udp_flows == 2


def test_findings_name_the_tunnel_they_came_out_of(tmp_path):
    # review 7 (M1): an inner session says which tunnel delivered it, so a forged one can be told apart
    path, _pkts, _labels = _wrapped(tmp_path, "erspan2")
    findings, _stats = _scan(path)
    mining = [f for f in findings if f.kind == "mining"]
    assert mining and all(f.extra.get("tunnel") == f"erspan {SWITCH} -> {SENSOR}" for f in mining)
    ev = [e for f in mining for e in f.evidence if e.code == "net.tunnel"]
    assert ev and "check that these are the expected tunnel endpoints" in ev[0].text and "隧道" in ev[0].text_zh
    # and a plain capture's findings carry no tunnel
    pkts, _ = build_scenario(ScenarioSpec(SESSIONS, seed=5))
    plain = write_capture(tmp_path / "plain.pcap", pkts, "pcap", LinkSpec())
    assert all("tunnel" not in f.extra for f in _scan(plain)[0])
