"""The demo capture: small, deterministic, labelled, and readable by tshark as intended."""

from __future__ import annotations

import pytest

from minewatch.synth import pcapwriter as pw
from minewatch.synth.scenario import (
    ScenarioSpec,
    SessionSpec,
    build_scenario,
    read_labels_csv,
    write_demo_capture,
)
from minewatch.synth.tcp import TcpOptions
from test_synth_helpers import TSHARK, check_l3, l3_of, read_pcap_any, tshark, tshark_problems


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    d = tmp_path_factory.mktemp("demo")
    return write_demo_capture(d / "demo.pcap")


def test_demo_small_deterministic_and_labelled(demo, tmp_path):
    assert demo.stat().st_size < 2_000_000
    again = write_demo_capture(tmp_path / "again.pcap")
    assert again.read_bytes() == demo.read_bytes()
    labels = read_labels_csv(demo.with_suffix(".labels.csv"))
    mining = [r for r in labels if r["label"] == "mining" and r["proto"] == "tcp"]
    assert len({r["variant"] for r in mining}) >= 5
    assert all(r["src_ip"].startswith("10.") and r["worker"] and r["wallet"] for r in mining)
    assert all(float(r["true_hashrate_hs"]) > 0 for r in mining)
    assert {r["label"] for r in labels} == {"mining", "node", "benign"}
    assert all(r["true_hashrate_hs"] == "" for r in labels if r["label"] != "mining")
    # every label's 5-tuple appears in the capture with the stated packet count
    _, recs = read_pcap_any(demo)
    counts: dict = {}
    for r in recs:
        proto, src, dst, l4 = check_l3(l3_of(r["data"], r["linktype"]))
        import ipaddress
        import struct

        sp, dp = struct.unpack("!HH", l4[:4])
        a, b = (ipaddress.ip_address(src).compressed, sp), (ipaddress.ip_address(dst).compressed, dp)
        key = (min(a, b), max(a, b), proto)
        counts[key] = counts.get(key, 0) + 1
    for r in labels:
        a, b = (r["src_ip"], int(r["src_port"])), (r["dst_ip"], int(r["dst_port"]))
        key = (min(a, b), max(a, b), 6 if r["proto"] == "tcp" else 17)
        assert counts[key] == int(r["packets"])
    assert len(counts) == len(labels)


@pytest.mark.skipif(TSHARK is None, reason="tshark not installed")
def test_demo_in_tshark(demo):
    labels = read_labels_csv(demo.with_suffix(".labels.csv"))
    assert tshark_problems(demo) == []
    conv = tshark(demo, "-q", "-z", "conv,tcp")
    assert conv.count("<->") == sum(1 for r in labels if r["proto"] == "tcp")
    # DNS answers tie pool names to the miners' server addresses
    dns = tshark(demo, "-Y", "dns.flags.response == 1", "-T", "fields", "-e", "dns.qry.name", "-e", "dns.a")
    answers = dict(ln.split("\t") for ln in dns.splitlines())
    for r in labels:
        if r["proto"] == "tcp" and r["label"] == "mining":
            host = next(
                (x["host"] for x in labels if x["variant"] == "dns" and x["src_ip"] == r["src_ip"]), None
            )
            if host:
                assert answers[host] == r["dst_ip"]
    sni = tshark(
        demo, "-Y", "tls.handshake.type == 1", "-T", "fields", "-e", "tls.handshake.extensions_server_name"
    )
    assert "xmr-eu1.nanopool.org" in sni.split()
    js = tshark(demo, "-d", "tcp.port==3333,json", "-Y", "json", "-T", "fields", "-e", "json.value.string")
    assert "mining.configure" in js and "login" in js


def test_scenario_options_link_types_and_impairments(tmp_path):
    spec = ScenarioSpec(
        [
            SessionSpec(
                "ethstratum1",
                "10.1.1.1",
                "192.0.2.1",
                0,
                120,
                tcp=TcpOptions(split="random", retransmit_prob=0.05, skip_seconds=10),
            ),
            SessionSpec("xmrig", "fd00::9", "2001:db8::9", 2, 120, tls_sni="", kwargs={"hashrate": 5000.0}),
            SessionSpec("bitcoin-p2p", "10.1.1.2", "192.0.2.2", 0, 200),
            SessionSpec("monero-levin", "10.1.1.3", "192.0.2.3", 0, 200),
            SessionSpec("lsp", "10.1.1.4", "10.1.1.5", 0, 60),
            SessionSpec(
                "dns", "10.1.1.6", "10.0.0.53", 0, kwargs={"name": "pool.example", "ips": ["2001:db8::9"]}
            ),
        ],
        seed=5,
    )
    pkts, labels = build_scenario(spec)
    assert [p.ts_ns for p in pkts] == sorted(p.ts_ns for p in pkts)
    assert len(labels) == 6 and labels[1].variant == "xmrig+tls" and labels[1].sni is None
    for lt in (pw.LINKTYPE_LINUX_SLL2, pw.LINKTYPE_NULL):
        path = pw.write_capture(tmp_path / f"s{lt}.pcapng", pkts, "pcapng", pw.LinkSpec(lt), nanosecond=True)
        if TSHARK:
            assert tshark_problems(path) == []
            assert len(tshark(path).splitlines()) == len(pkts)
            cmds = tshark(
                path, "-d", "tcp.port==3333,bitcoin", "-Y", "bitcoin", "-T", "fields", "-e", "bitcoin.command"
            )
            assert "version" in cmds and "inv" in cmds
