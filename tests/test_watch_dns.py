"""DNS-only findings in a live watch: a host that keeps resolving a pool whose connections are not seen
(a firewall drops them, or they leave by another path) is reported while the watch runs, refreshed as
it goes on, not reported when a session found lately explains it, and forgotten after a day."""

from __future__ import annotations

import random
from typing import Any

import pytest

from minewatch.net.watch import LiveScanner
from minewatch.scan_cli import _load_intel
from minewatch.synth import dialects
from minewatch.synth.benign import dns_answer, dns_query
from minewatch.synth.pcapwriter import Pkt, ip_packet, udp_header
from minewatch.synth.tcp import tcp_session
from test_watch_behavior import _play
from test_watch_loop import T0, Sink

RESOLVER = "10.0.0.53"
POOL_NAME = "xmr.pool.minergate.com"  # a built-in pool host
POOL_IP = "203.0.113.40"


@pytest.fixture(scope="module")
def intel() -> Any:
    return _load_intel(None, [])


def _lookup(client: str, name: str, at: float, txid: int, port: int = 53000) -> list[Pkt]:
    q = udp_header(client, RESOLVER, port, 53, dns_query(name, txid))
    a = udp_header(RESOLVER, client, 53, port, dns_answer(name, txid, [POOL_IP]))
    return [Pkt(round((T0 + at) * 1e9), ip_packet(client, RESOLVER, 17, q)),
            Pkt(round((T0 + at + 0.01) * 1e9), ip_packet(RESOLVER, client, 17, a))]


def _every(client: str, name: str, start: float, n: int, gap: float) -> list[Pkt]:
    return [p for k in range(n) for p in _lookup(client, name, start + k * gap, 100 + k, 53000 + k)]


def test_repeated_pool_lookups_without_a_session_are_announced_once_then_refreshed(intel):
    # a blocked miner re-resolves its pool every 10 minutes for 2 h; another host resolves it once
    pkts = _every("10.1.2.3", POOL_NAME, 30.0, 12, 600.0) + _lookup("10.1.2.9", POOL_NAME, 40.0, 7)
    sc = LiveScanner(intel, Sink(), idle_timeout_s=60, tick_every_s=0.0, behavior_scan_every_s=0.0,
                     dns_every_s=0.0)
    log = _play(sc, sc.sink, pkts, until=8000.0)
    dns = [(t, announce, f) for t, announce, f in log if f.detector == "net.dns"]
    announced = [f for _t, a, f in dns if a]
    assert [f.src_ip for f in announced] == ["10.1.2.3"]  # once, and not the one-off lookup (a suspect)
    first_t = next(t for t, a, _f in dns if a)
    # reported once the third occasion over 30 min is seen (30 + 3 x 600 s), long before the watch ends
    assert first_t < 2000.0
    refreshes = [f for _t, a, f in dns if not a]
    assert refreshes and {f.finding_id for f in refreshes} == {announced[0].finding_id}
    last = refreshes[-1]
    assert last.extra["dns_lookups"] == 12 and last.extra["live_state"] == "closed"
    assert last.subscores == {"pool_domain": 40.0, "repeated_lookups": 10.0}
    assert sc.counts["dns_only"] == 1


def test_lookups_that_a_found_session_explains_are_not_reported(intel):
    rng = random.Random(5)
    s = dialects.stratum_v1(3000.0, random.Random(9), flavor="cgminer", worker="r1", difficulty=8192.0,
                            hashrate=14e12)
    pkts = _every("10.1.2.3", POOL_NAME, 30.0, 6, 600.0)
    pkts += tcp_session(("10.1.2.3", 50123), (POOL_IP, 3333), s.messages, T0 + 31.0, rng)
    sc = LiveScanner(intel, Sink(), idle_timeout_s=60, tick_every_s=0.0, behavior_scan_every_s=0.0,
                     dns_every_s=0.0)
    log = _play(sc, sc.sink, pkts, until=4000.0)
    assert any(f.kind == "mining" and f.dst_ip == POOL_IP and f.detector != "net.dns" for _t, _a, f in log)
    assert not [f for _t, _a, f in log if f.detector == "net.dns"]


def test_pairs_are_forgotten_a_day_after_the_last_lookup(intel):
    pkts = _every("10.1.2.3", POOL_NAME, 30.0, 4, 600.0) + _lookup("10.1.2.3", POOL_NAME, 3000.0 + 5000.0, 99)
    sc = LiveScanner(intel, Sink(), idle_timeout_s=60, tick_every_s=0.0, behavior_scan_every_s=0.0,
                     dns_every_s=0.0, dns_keep_s=3600.0)
    log = _play(sc, sc.sink, pkts, until=9000.0, step=300.0)
    assert sc.counts["dns_expired"] >= 1
    # the lookup after the gap starts a new count: one lookup is a suspect, nothing more is reported
    announced = [f for _t, a, f in log if a and f.detector == "net.dns"]
    assert len(announced) == 1 and announced[0].extra["dns_lookups"] == 4
    assert sc.memory_stats()["dns_lookup_pairs"] <= 1



def _last_states(log: list) -> dict[str, str]:
    out: dict[str, str] = {}
    for _t, _a, f in log:
        if f.detector == "net.dns":
            out[f.finding_id] = f.extra.get("live_state")
    return out


def test_a_finding_is_closed_before_its_pair_is_forgotten(intel):
    pkts = _every("10.1.2.3", POOL_NAME, 30.0, 6, 600.0)
    sc = LiveScanner(intel, Sink(), idle_timeout_s=60, tick_every_s=0.0, behavior_scan_every_s=0.0,
                     dns_every_s=0.0, dns_keep_s=1800.0)
    log = _play(sc, sc.sink, pkts, until=7200.0, step=300.0)
    assert sc.counts["dns_expired"] == 1
    states = _last_states(log)
    assert len(states) == 1 and set(states.values()) == {"closed"}


def test_a_finding_a_later_session_explains_is_closed_with_the_reason(intel):
    s = dialects.stratum_v1(1500.0, random.Random(9), flavor="cgminer", worker="r1", difficulty=8192.0,
                            hashrate=14e12)
    pkts = _every("10.1.2.3", POOL_NAME, 30.0, 6, 600.0)  # blocked for an hour: a DNS-only finding
    pkts += tcp_session(("10.1.2.3", 50123), (POOL_IP, 3333), s.messages, T0 + 4000.0, random.Random(5))
    sc = LiveScanner(intel, Sink(), idle_timeout_s=60, tick_every_s=0.0, behavior_scan_every_s=0.0,
                     dns_every_s=0.0)
    log = _play(sc, sc.sink, pkts, until=7000.0, step=300.0)
    dns = [f for _t, _a, f in log if f.detector == "net.dns"]
    assert dns and set(_last_states(log).values()) == {"closed"}
    assert "dns.explained" in {e.code for e in dns[-1].evidence}


def test_an_endpoint_finding_explains_the_lookups_of_its_host(intel):
    """Host B sends undecodable bytes to a confirmed pool endpoint (the endpoint rule reports it) and
    resolves the pool: reported once, not again as a DNS-only finding."""
    rng = random.Random(3)
    s = dialects.stratum_v1(1500.0, random.Random(9), flavor="cgminer", worker="r1", difficulty=8192.0,
                            hashrate=14e12)
    pkts = tcp_session(("10.1.2.3", 50123), (POOL_IP, 443), s.messages, T0 + 100.0, random.Random(5))
    pkts += _every("10.1.2.4", POOL_NAME, 30.0, 4, 600.0)
    for k in range(4):
        msgs = [(0, 0.0, rng.randbytes(300)), (1, 0.05, rng.randbytes(200)), (0, 1.0, rng.randbytes(120))]
        pkts += tcp_session(("10.1.2.4", 41000 + k), (POOL_IP, 443), msgs, T0 + 31.0 + 600 * k, random.Random(k))
    sc = LiveScanner(intel, Sink(), idle_timeout_s=60, tick_every_s=0.0, behavior_scan_every_s=0.0,
                     dns_every_s=0.0)
    log = _play(sc, sc.sink, pkts, until=4000.0, step=300.0)
    detectors = {f.detector for _t, _a, f in log if f.src_ip == "10.1.2.4"}
    assert detectors == {"net.endpoint"}


def test_resolvers_seen_are_bounded_and_the_counts_are_said(intel, monkeypatch):
    import minewatch.net.lookups as L

    monkeypatch.setattr(L, "MAX_SERVERS", 10)
    pkts = []
    for k in range(40):  # answers from 40 different resolvers
        q = udp_header("10.1.2.9", f"10.0.1.{k + 1}", 53000 + k, 53, dns_query("www.example.org", k))
        a = udp_header(f"10.0.1.{k + 1}", "10.1.2.9", 53, 53000 + k, dns_answer("www.example.org", k, ["192.0.2.1"]))
        pkts += [Pkt(round((T0 + 10 * k) * 1e9), ip_packet("10.1.2.9", f"10.0.1.{k + 1}", 17, q)),
                 Pkt(round((T0 + 10 * k + 0.01) * 1e9), ip_packet(f"10.0.1.{k + 1}", "10.1.2.9", 17, a))]
    pkts += _every("10.1.2.3", POOL_NAME, 30.0, 4, 600.0)
    sc = LiveScanner(intel, Sink(), idle_timeout_s=60, tick_every_s=0.0, behavior_scan_every_s=0.0,
                     dns_every_s=0.0)
    _play(sc, sc.sink, pkts, until=3000.0, step=300.0)
    line = sc.stats_line()
    assert line["dns_servers"] <= 10 and line["findings_dns_only"] == 1
    assert {"dns_pairs_expired", "dns_lookups_dropped", "dns_lookup_pairs", "dns_covering"} <= set(line)


def test_a_withdrawn_alarm_explains_nothing_and_a_host_turned_resolver_is_not_closed_as_explained(intel):
    from minewatch.model import Finding

    sc = LiveScanner(intel, Sink(), idle_timeout_s=60, tick_every_s=0.0, behavior_scan_every_s=0.0,
                     dns_every_s=0.0)
    open_ = Finding(kind="mining", detector="net.behavior", score=70.0, subscores={}, evidence=[],
                    src_ip="10.1.2.3", dst_ip=POOL_IP, extra={"live_state": "open"})
    sc._announce([open_])
    assert ("10.1.2.3", POOL_IP) in sc._covering
    gone = Finding(kind="mining", detector="net.behavior", score=40.0, subscores={}, evidence=[],
                   src_ip="10.1.2.3", dst_ip=POOL_IP, extra={"live_state": "withdrawn"})
    sc._announce([gone], announce=False)
    assert ("10.1.2.3", POOL_IP) not in sc._covering
    # a reported host later seen answering DNS: its finding is closed at the end, not "explained"
    pkts = _every("10.1.2.3", POOL_NAME, 30.0, 6, 600.0)
    a = udp_header("10.1.2.3", "10.9.9.9", 53, 5353, dns_answer("www.example.org", 1, ["192.0.2.1"]))
    pkts.append(Pkt(round((T0 + 3500) * 1e9), ip_packet("10.1.2.3", "10.9.9.9", 17, a)))
    sc2 = LiveScanner(intel, Sink(), idle_timeout_s=60, tick_every_s=0.0, behavior_scan_every_s=0.0,
                      dns_every_s=0.0)
    log = _play(sc2, sc2.sink, pkts, until=4000.0, step=300.0)
    dns = [f for _t, _a, f in log if f.detector == "net.dns"]
    assert dns and dns[-1].extra["live_state"] == "closed"
    assert not any(e.code == "dns.explained" for f in dns for e in f.evidence)
