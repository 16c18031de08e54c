"""Scoring and roll-up rules in net.findings, independent of any capture."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from minewatch.model import Evidence
from minewatch.net.findings import FlowView, endpoint_findings, rollup_by_host, session_finding

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC).timestamp()


@dataclass
class Facts:
    kind: str | None = None
    variant: str | None = None
    coin: str | None = None
    worker: str | None = None
    pool_host: str | None = None
    sni: str | None = None
    client_is_src: bool | None = None
    subscores: dict = field(default_factory=dict)
    evidence: list = field(default_factory=list)


def flow(src="10.0.0.5", sport=40000, dst="198.51.100.9", dport=3333, t=T0, dur=600.0, pay=(500, 900), syn=True):
    return FlowView(src, sport, dst, dport, "tcp", t, t + dur, True, 10, 10, pay[0], pay[1], syn)


def mining_facts(**kw):
    base = dict(kind="mining", variant="stratum-v1", coin="bitcoin", worker="rig1",
                subscores={"protocol": 70.0, "both_directions": 15.0},
                evidence=[Evidence("stratum.subscribe", "sent mining.subscribe", ts=None)])
    base.update(kw)
    return Facts(**base)


def test_protocol_facts_make_a_mining_finding_with_their_subscores():
    f = session_finding(flow(), mining_facts(), None)
    assert f is not None and f.kind == "mining" and f.score == 85.0
    assert f.subscores == {"protocol": 70.0, "both_directions": 15.0}
    assert f.worker == "rig1" and f.src_ip == "10.0.0.5"


def test_pool_side_as_src_is_swapped_so_src_is_the_miner():
    f = session_finding(flow(src="198.51.100.9", sport=3333, dst="10.0.0.5", dport=40000),
                        mining_facts(client_is_src=False), None)
    assert f.src_ip == "10.0.0.5" and f.dst_port == 3333


def test_node_facts_never_become_mining_even_with_pool_intel():
    facts = Facts(kind="node", variant="bitcoin-p2p", subscores={"protocol": 60.0})
    f = session_finding(flow(dport=8333), facts, ({"pool_ip": 30.0}, []))
    assert f.kind == "node" and "pool_ip" not in f.subscores


def test_pool_name_alone_on_a_short_https_visit_is_not_mining():
    facts = Facts(kind=None, sni="www.f2pool.example")
    intel = ({"pool_domain": 60.0}, [Evidence("intel.pool_domain", "known pool")])
    assert session_finding(flow(dport=443, dur=5.0, pay=(2000, 90000)), facts, intel) is None
    # the same name on a long, quiet connection to a non-web port is reported
    f = session_finding(flow(dport=5555, dur=3600.0, pay=(20000, 60000)), facts, intel)
    assert f is not None and f.kind == "mining" and f.variant == "tls" and f.encrypted is True


def test_weak_intel_below_threshold_is_not_reported():
    intel = ({"pool_keyword": 15.0}, [])
    assert session_finding(flow(), Facts(), intel) is None


def test_endpoint_rules_tie_failed_attempts_to_confirmed_pools():
    confirmed = [session_finding(flow(), mining_facts(), None)]
    same_endpoint = flow(sport=40001, t=T0 + 10, dur=1.0, pay=(0, 0))
    failover = flow(sport=40002, dst="45.77.0.200", dport=8008, t=T0 + 20, dur=3.0, pay=(0, 0))
    private = flow(sport=40003, dst="10.9.9.9", dport=7680, t=T0 + 20, dur=1.0, pay=(0, 0))
    no_syn = flow(sport=40004, dst="45.77.0.201", dport=443, t=T0 + 20, dur=1.0, pay=(0, 0), syn=False)
    with_data = flow(sport=40005, dst="45.77.0.202", dport=443, t=T0 + 20, dur=9.0, pay=(500, 4000))
    other_host = flow(src="10.0.0.99", sport=40006, dst="45.77.0.203", dport=8008, t=T0 + 20, pay=(0, 0))
    later = flow(sport=40007, dst="45.77.0.204", dport=8008, t=T0 + 5000, dur=1.0, pay=(0, 0))
    cands = [(x, Facts()) for x in (same_endpoint, failover, private, no_syn, with_data, other_host, later)]
    got = endpoint_findings(cands, confirmed)
    ports = sorted(f.src_port for f in got)
    assert ports == [40001, 40002]
    by = {f.src_port: f for f in got}
    assert "pool_endpoint" in by[40001].subscores and "miner_failover" in by[40002].subscores
    assert all(f.score >= 50 and f.variant == "unknown" for f in got)


def test_rollup_adds_only_sessions_that_run_at_the_same_time():
    a = session_finding(flow(sport=1), mining_facts(pool_host="p1.example"), None)
    b = session_finding(flow(sport=2, t=T0 + 700), mining_facts(pool_host="p1.example"), None)
    c = session_finding(flow(sport=3), mining_facts(pool_host="p2.example", worker="rig2"), None)
    a.hashrate_hs, b.hashrate_hs, c.hashrate_hs = 1e12, 1.2e12, 5e11
    [r] = rollup_by_host([a, b, c])
    assert r.sessions == 3 and r.pools == {"p1.example", "p2.example"}
    assert r.workers == {"rig1", "rig2"}
    # a and c run together (1.5 TH/s); b, the reconnect after a, runs alone (1.2 TH/s): the peak is 1.5
    assert r.hashrate_hs == 1e12 + 5e11
    assert [(h.algorithm, h.unit) for h in r.hashrates] == [("sha256d", "H/s")]
