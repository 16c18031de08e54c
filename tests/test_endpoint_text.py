"""Endpoints written for people: an IPv6 address is bracketed, or its port would read as part of it."""

from __future__ import annotations

import json
from types import SimpleNamespace

from minewatch.model import endpoint
from minewatch.net.stratum import SessionAnalyzer


def test_endpoint_brackets_ipv6_only():
    assert endpoint("2001:db8:20::16", 48301) == "[2001:db8:20::16]:48301"
    assert endpoint("10.0.0.5", 3333) == "10.0.0.5:3333"
    assert endpoint("pool.example.net", 3333) == "pool.example.net:3333"
    assert endpoint("fd00::5", None) == "[fd00::5]" and endpoint(None, 1) == "?:1"


def test_stratum_evidence_names_an_ipv6_pool_with_brackets():
    info = SimpleNamespace(src_ip="fd00::5", src_port=40001, dst_ip="2a01:4f8:1:2::21", dst_port=3333, transport="tcp")
    a = SessionAnalyzer(info)
    login = {"id": 1, "method": "mining.subscribe", "params": ["cgminer/4.10"]}
    a.feed(0, 1_700_000_000.0, (json.dumps(login) + "\n").encode())
    texts = [e.text for e in a.facts().evidence]
    assert texts and "to [2a01:4f8:1:2::21]:3333" in texts[0]


def test_a_timing_finding_is_encrypted_only_when_a_handshake_or_name_says_so():
    from minewatch.net.behavior import BehaviorScore, FlowMeta, to_finding

    res = BehaviorScore("conn", {"long_lived": 40.0, "low_rate": 40.0}, [])
    bare = to_finding(res, FlowMeta(src_ip="10.0.0.5", dst_ip="203.0.113.9", dst_port=3333))
    tls = to_finding(res, FlowMeta(src_ip="10.0.0.5", dst_ip="203.0.113.9", dst_port=443, sni="x.example"))
    assert bare is not None and bare.encrypted is None and bare.variant == "unknown"
    assert tls is not None and tls.encrypted is True and tls.variant == "tls"
