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

