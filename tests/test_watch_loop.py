"""The watch loop with a fake packet source: findings arrive while sessions are open and when idle flows
expire on a silent link, endpoint rules work over a rolling window, and every cache stays under its cap
through tens of thousands of short flows."""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from typing import Any

import pytest

from minewatch.model import Finding
from minewatch.net.watch import FindingSink, LiveScanner, run_watch
from minewatch.scan_cli import Format, _load_intel
from minewatch.sources.live import PcapStream
from minewatch.sources.pcap import PacketBatch
from minewatch.synth import dialects
from minewatch.synth.benign import dns_answer
from minewatch.synth.pcapwriter import (
    ACK,
    RST,
    SYN,
    LinkSpec,
    PcapWriter,
    Pkt,
    ip_packet,
    tcp_header,
    udp_header,
)
from minewatch.synth.tcp import tcp_session

T0 = 1_700_000_000.0
LINK = LinkSpec()


class Feed:
    """Turns timed packets into PacketBatches through the same streaming parser the live source uses."""

    def __init__(self) -> None:
        self.stream = PcapStream("fake")
        bio = io.BytesIO()
        PcapWriter(bio)
        self.stream.feed(bio.getvalue())

    def batch(self, pkts: list[Pkt]) -> PacketBatch:
        bio = io.BytesIO()
        w = PcapWriter(bio)
        for p in sorted(pkts, key=lambda p: p.ts_ns):
            w.write(p.ts_ns, LINK.frame(p.data))
        b = self.stream.feed(bio.getvalue()[24:])
        assert b is not None
        return b


class Sink:
    def __init__(self) -> None:
        self.calls: list[tuple[list[Finding], bool]] = []

    def __call__(self, findings: list[Finding], announce: bool) -> None:
        self.calls.append((list(findings), announce))

    def announced(self) -> list[Finding]:
        return [f for fs, a in self.calls if a for f in fs]


@pytest.fixture(scope="module")
def intel() -> Any:
    return _load_intel(None, [])


def _syn(src: str, sport: int, dst: str, dport: int, ts: float, flags: int = SYN) -> Pkt:
    return Pkt(round(ts * 1e9), ip_packet(src, dst, 6, tcp_header(src, dst, sport, dport, 1000, 0, flags)))


def _stratum(client: tuple[str, int], server: tuple[str, int], start: float, seed: int, duration: float = 120.0,
             ) -> tuple[list[Pkt], Any]:
    rng = random.Random(seed)
    s = dialects.stratum_v1(duration, rng)
    return tcp_session(client, server, s.messages, start, rng), s


def test_open_session_reported_then_closed_by_idle_on_a_silent_link(intel: Any) -> None:
    sink = Sink()
    sc = LiveScanner(intel, sink, idle_timeout_s=60, tick_every_s=0.0, source_name="live:fake")
    pk, sess = _stratum(("10.1.0.5", 40001), ("10.2.0.9", 3333), T0, seed=3, duration=200)
    feed = Feed()
    # the session is still open: only its first half has been seen, no FIN
    half = [p for p in pk if p.ts_ns < (T0 + 100) * 1e9]
    wall = 5_000.0  # the wall clock has nothing to do with the packets' timestamps
    sc.process(feed.batch(half), wall=wall)
    got = sink.announced()
    assert len(got) == 1
    f = got[0]
    assert f.kind == "mining" and f.extra["live_state"] == "open"
    assert f.worker == sess.worker and f.dst_port == 3333 and f.source == "live:fake"
    # silence: ticks with wall time advancing; the flow ends once idle for 60 s of (inferred) packet time
    for dt in (10, 30, 55):
        sc.tick(wall + dt)
    assert len(sink.announced()) == 1
    sc.tick(wall + 70)
    final = sink.announced()[-1]
    assert final.extra["live_state"] == "closed"
    assert final.finding_id == f.finding_id  # the store upserts the open row into its final form
    assert final.last_seen is not None and final.last_seen >= f.last_seen
    assert sc.active_flows == 0 and not sc.open_reported and not sc._analyzers


def test_open_session_refreshed_in_store_without_reprinting(intel: Any) -> None:
    sink = Sink()
    sc = LiveScanner(intel, sink, idle_timeout_s=600, tick_every_s=0.0, refresh_every_s=30)
    pk, _ = _stratum(("10.1.0.6", 40002), ("10.2.0.9", 3333), T0, seed=4, duration=200)
    feed = Feed()
    early = [p for p in pk if p.ts_ns < (T0 + 40) * 1e9]
    later = [p for p in pk if (T0 + 40) * 1e9 <= p.ts_ns < (T0 + 150) * 1e9]
    sc.process(feed.batch(early), wall=100.0)
    sc.process(feed.batch(later), wall=210.0)
    refreshes = [fs for fs, a in sink.calls if not a]
    assert refreshes, "an open session is rewritten in the store periodically"
    assert refreshes[-1][0].last_seen > sink.announced()[0].last_seen
    assert len(sink.announced()) == 1


def test_endpoint_rule_uses_a_rolling_window(intel: Any) -> None:
    sink = Sink()
    sc = LiveScanner(intel, sink, idle_timeout_s=30, tick_every_s=0.0, endpoint_every_s=0.0, window_s=600)
    pool = ("203.0.113.50", 3333)
    pk, _ = _stratum(("10.1.0.7", 40003), pool, T0, seed=5, duration=60)
    feed = Feed()
    sc.process(feed.batch(pk), wall=0.0)
    assert any(f.kind == "mining" and f.detector == "net.stratum" for f in sink.announced())
    # another host's aborted attempt to the same pool endpoint, 5 minutes later: tied to it
    t1 = T0 + 300
    sc.process(feed.batch([_syn("10.1.0.8", 51000, *pool, t1), _syn(pool[0], pool[1], "10.1.0.8", 51000, t1 + 0.01,
                                                                      RST | ACK)]), wall=300.0)
    sc.tick(300.0 + 20, force=True)
    ends = [f for f in sink.announced() if f.detector == "net.endpoint"]
    assert len(ends) == 1 and ends[0].src_ip == "10.1.0.8" and ends[0].dst_port == 3333
    # two hours later the session has left the window: the same kind of attempt is not tied any more
    t2 = T0 + 7200
    sc.process(feed.batch([_syn("10.1.0.9", 52000, *pool, t2), _syn(pool[0], pool[1], "10.1.0.9", 52000, t2 + 0.01,
                                                                      RST | ACK)]), wall=7200.0)
    sc.tick(7200.0 + 20, force=True)
    sc.finish()
    ends = [f for f in sink.announced() if f.detector == "net.endpoint"]
    assert [f.src_ip for f in ends] == ["10.1.0.8"]
    assert not sc.recent_confirmed


def _many_short_flows(n_seconds: int, per_second: int, seed: int) -> Iterator[tuple[float, list[Pkt]]]:
    rng = random.Random(seed)
    port = 1024
    for sec in range(n_seconds):
        t = T0 + sec
        pkts: list[Pkt] = []
        for i in range(per_second):
            port = port + 1 if port < 65000 else 1024
            src = f"10.{(sec >> 8) & 255}.{sec & 255}.{i % 250 + 1}"
            dst = f"198.51.100.{rng.randrange(1, 250)}"
            pkts.append(_syn(src, port, dst, rng.choice((80, 443, 8443, 25)), t + i / per_second))
        # DNS answers for ever new names/addresses, to push the name cache against its cap
        for j in range(20):
            ip = f"100.{64 + (sec % 60)}.{j}.{(sec // 60) % 250 + 1}"
            ans = dns_answer(f"h{sec}-{j}.example.net", 1 + j, [ip])
            pkts.append(Pkt(round((t + 0.5) * 1e9), ip_packet("192.0.2.53", "10.0.0.2", 17,
                                                              udp_header("192.0.2.53", "10.0.0.2", 53, 33000 + j, ans))))
        yield t, pkts


@pytest.mark.slow
def test_memory_stays_bounded_through_many_short_flows(intel: Any) -> None:
    caps = {"max_undecided": 1500, "max_confirmed": 5, "max_flows": 3000, "name_cache_ips": 400}
    sink = Sink()
    sc = LiveScanner(intel, sink, idle_timeout_s=120, min_idle_s=5, tick_every_s=0.0, endpoint_every_s=0.0,
                     window_s=60, **caps)
    feed = Feed()
    state = {"t": 0.0}
    n_seconds, per_second = 60, 400
    sessions = {12: 0, 25: 1, 31: 2, 40: 3, 47: 4, 50: 5, 52: 6, 55: 7}  # short mining sessions mixed in

    def source() -> Iterator[PacketBatch | None]:
        for t, pkts in _many_short_flows(n_seconds, per_second, seed=9):
            sec = int(t - T0)
            if sec in sessions:
                k = sessions[sec]
                pk, _ = _stratum((f"10.200.0.{k + 1}", 41000 + k), (f"203.0.113.{k + 1}", 3333), t, seed=k, duration=3)
                pkts += pk
            state["t"] = t
            yield feed.batch(pkts)
            state["t"] = t + 0.5
            yield None

    peaks: dict[str, int] = {}

    def on_stats(d: dict[str, Any]) -> None:
        for k in ("active_flows", "undecided_window", "confirmed_window", "dns_cache_ips", "announced_ids",
                  "analyzers", "engine_slots"):
            peaks[k] = max(peaks.get(k, 0), d[k])

    run_watch(source(), sc, stats_every_s=1e-9, on_stats=on_stats, clock=lambda: state["t"])
    total = n_seconds * per_second
    assert sc.opened >= total
    assert peaks["undecided_window"] <= caps["max_undecided"]
    assert peaks["confirmed_window"] <= caps["max_confirmed"]
    assert peaks["dns_cache_ips"] <= caps["name_cache_ips"]
    assert peaks["announced_ids"] <= sc.max_emitted
    # open flows: the idle timeout is shortened under pressure, so at most a few batches above the cap
    # (without it 120 s x 400 flows/s = 48,000 flows would be open)
    assert sc.counts["pressure_events"] > 0
    assert peaks["active_flows"] <= 2 * caps["max_flows"]
    assert peaks["analyzers"] <= 2 * caps["max_flows"]
    assert peaks["engine_slots"] <= 16384
    assert sc.counts["undecided_evicted"] > 0
    mining = {f.src_ip for f in sink.announced() if f.detector == "net.stratum"}
    assert mining == {f"10.200.0.{k + 1}" for k in sessions.values()}


def test_sink_writes_store_and_jsonl(tmp_path: Any, intel: Any) -> None:
    import json

    from minewatch.store import Store

    out = io.StringIO()
    db = tmp_path / "w.duckdb"
    sink = FindingSink(db, Format.jsonl, out)
    sc = LiveScanner(intel, sink, idle_timeout_s=30, tick_every_s=0.0)
    pk, sess = _stratum(("10.1.0.5", 40011), ("10.2.0.9", 3333), T0, seed=11, duration=60)
    sc.process(Feed().batch(pk), wall=0.0)
    sc.finish()
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert lines and all(r["worker"] == sess.worker for r in lines)
    with Store(db, read_only=True) as st:
        rows = st.findings()
    assert len(rows) == 1 and rows[0].worker == sess.worker and rows[0].extra.get("live_state") == "closed"


def test_a_held_store_does_not_stall_the_capture_thread(tmp_path: Any, intel: Any, monkeypatch: Any) -> None:
    """docs/watch.md: findings are kept and written on the next try while capture carries on. The
    sink must not wait for the store (open_store's default wait is for commands, not the capture loop)."""
    import subprocess
    import sys
    import time

    from minewatch.store import Store

    monkeypatch.setenv("MINEWATCH_DB_WAIT", "30")
    db = tmp_path / "w.duckdb"
    Store(db).close()
    holder = subprocess.Popen([sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(db)!r}); "
                               "print('held', flush=True); time.sleep(20)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        out = io.StringIO()
        sink = FindingSink(db, Format.jsonl, out)
        sc = LiveScanner(intel, sink, idle_timeout_s=30, tick_every_s=0.0)
        pk, _ = _stratum(("10.1.0.5", 40011), ("10.2.0.9", 3333), T0, seed=11, duration=60)
        t0 = time.monotonic()
        sc.process(Feed().batch(pk), wall=0.0)
        sc.finish()
        took = time.monotonic() - t0
    finally:
        holder.kill()
        holder.wait()
    assert took < 10, f"the capture thread waited {took:.1f} s for the store"
    assert sink.store_errors >= 1 and out.getvalue()  # kept for the next write, still announced
