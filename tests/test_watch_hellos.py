"""Lone mining hellos in a live watch: reported when their host mines, dropped (and counted) otherwise.

`scan` decides them at the end of the capture; a watch has no end, so before this the hellos of every
port scanner piled up in memory for days and none was ever reported."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from minewatch.net import watch as W
from minewatch.net.watch import LiveScanner
from minewatch.scan_cli import _load_intel
from minewatch.synth import dialects
from minewatch.synth.tcp import C2S, tcp_session
from test_watch_behavior import _play
from test_watch_loop import T0, Sink

HELLO = json.dumps({"id": 1, "method": "mining.subscribe", "params": ["cgminer/4.10.0"]}).encode() + b"\n"


@pytest.fixture(scope="module")
def intel() -> Any:
    return _load_intel(None, [])


def _lone(client: tuple[str, int], server: tuple[str, int], at: float, rng: random.Random) -> list:
    return tcp_session(client, server, [(0.0, C2S, HELLO)], T0 + at, rng)


def test_a_probe_is_dropped_and_a_miners_backup_pool_hello_is_kept(intel, monkeypatch):
    monkeypatch.setattr(W, "HELLO_WAIT_S", 600.0)
    rng = random.Random(3)
    s = dialects.stratum_v1(900.0, random.Random(31), flavor="cgminer", worker="r1", difficulty=8192.0,
                            hashrate=14e12)
    pkts = tcp_session(("10.1.2.3", 50123), ("198.51.100.20", 3333), s.messages, T0 + 60, rng)
    pkts += _lone(("10.1.2.3", 50200), ("198.51.100.99", 3333), 30.0, rng)  # the miner's dead backup pool
    pkts += _lone(("192.0.2.77", 40001), ("10.20.0.6", 3333), 40.0, rng)  # a port scanner
    sc = LiveScanner(intel, Sink(), idle_timeout_s=60, tick_every_s=0.0, behavior_scan_every_s=0.0)
    sink = sc.sink
    log = _play(sc, sink, pkts, until=3000.0)
    mining = {(f.src_ip, f.dst_ip) for _t, _a, f in log if f.kind == "mining"}
    assert ("10.1.2.3", "198.51.100.99") in mining
    assert not any(src == "192.0.2.77" for src, _ in mining)
    assert sc.counts["hellos_dropped"] == 1 and sc._hellos == []


def test_pending_hellos_are_bounded(intel, monkeypatch):
    monkeypatch.setattr(W, "MAX_PENDING_HELLOS", 5)
    rng = random.Random(4)
    pkts = []
    for k in range(12):
        pkts += _lone((f"192.0.2.{k + 1}", 40000 + k), ("10.20.0.6", 3333), 1.0 + k, rng)
    sc = LiveScanner(intel, Sink(), idle_timeout_s=30, tick_every_s=0.0, behavior_scan_every_s=0.0)
    _play(sc, sc.sink, pkts, until=300.0, step=30.0)
    assert len(sc._hellos) <= 5 and sc.counts["hellos_dropped"] >= 7
