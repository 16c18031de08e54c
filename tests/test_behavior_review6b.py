"""Review 6, second pass (timing): pools that answer shares after the client's delayed-ACK timer (D6) in
slices, one-way NetFlow and connection totals; slice excess that follows the requests (item 3); header size
without TCP timestamps (D9); whole-token pool name hints (D10)."""

from __future__ import annotations

import numpy as np
import pytest

from minewatch.evaluate import encrypted as E
from minewatch.net import behavior as B

EPOCH = 1.7e9


def _flow_views(sc: E.Script, rng: np.random.Generator) -> dict[str, B.BehaviorScore | None]:
    """Slices, one-way NetFlow and totals of one simulated session (no timeline: it is not under test)."""
    mt, md, ml = E.script_messages(sc, rng)
    t, d, ln = E.wire_packets(mt, md, ml, sc.rtt)
    t = t + EPOCH
    sv = E.slice_view(t, d, ln, float(t.min()))
    cv = E.conn_view(t, d, ln)
    return {
        "slices": B.score_slices(sv["slice_start"], sv["slice_end"], sv["packets_fwd"], sv["packets_rev"],
                                 sv["bytes_fwd"], sv["bytes_rev"]),
        "netflow": E.netflow_view(t, d, ln),
        "conn": B.score_conn(cv["duration_s"], cv["packets_fwd"], cv["packets_rev"], cv["payload_fwd"],
                             cv["payload_rev"]),
    }


def test_late_answers_are_read_from_the_packet_ratio():
    """A bare ACK before each late answer makes one server packet per client packet; prompt answers carry the
    ACK (about one server packet per two client packets)."""
    assert B.late_answers(1000, 1000)
    assert B.late_answers(1003, 1000)
    assert not B.late_answers(550, 1000)
    assert not B.late_answers(800, 1000)  # between the two behaviours: neither
    assert not B.late_answers(0, 0)
    assert not B.late_answers(1200, 1000)  # more server than client packets: neither


def test_conn_totals_of_a_late_pool_read_the_server_payload_per_data_packet():
    """1 h, 600 shares of 130 B answered late by 58 B results (bare ACK first), 30 jobs of 400 B: the server's
    1,230 packets hold 600 bare ACKs; per data packet it sends ~76 B, not ~38 B (bare acknowledgements)."""
    shares, jobs = 600, 30
    pf = 2 * shares + jobs
    pr = 2 * shares + jobs
    f = B.conn_features(np.array([3600.0]), np.array([pf]), np.array([pr]), np.array([shares * 130.0]),
                        np.array([shares * 58.0 + jobs * 400.0]))
    assert 60.0 <= float(f["rev_payload_per_packet"][0]) < 90.0  # 76 B; per packet it would be 38 B
    assert float(f["client_payload_per_request"][0]) >= B.MIN_SHARE_RECORD_B
    r = B.score_conn(3600.0, pf, pr, shares * 130, shares * 58 + jobs * 400)
    assert r is not None
    assert "symmetric_packets" in r.subscores and "packet_ratio_off" not in r.subscores
    assert "answered_with_data" in r.subscores


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["stratum_btc", "stratum_ltc", "xmrig_xmr", "proxy_btc"])
def test_pools_answering_after_the_delayed_ack_timer_are_mining_in_flow_views(kind):
    """Before D6 every such session failed `packet_ratio_off` (ratio ~1.0) and often `bare_acks` in all
    three flow views (seed 1 of the benchmark: 33 of 45 late pools missed in slices)."""
    rng = np.random.default_rng(66)
    hits = {"slices": 0, "netflow": 0, "conn": 0}
    n = 4
    for _ in range(n):
        sc = E.mining_script(rng, kind, 3600.0, slow_pool_share=1.0)
        assert sc.meta.get("reply_delay") == E.SLOW_POOL_DELAY_S
        res = _flow_views(sc, rng)
        for v, r in res.items():
            assert r is not None
            hits[v] += int(r.is_mining)
            assert "packet_ratio_off" not in r.subscores, (v, r.stats)
    assert hits["slices"] >= n - 1 and hits["netflow"] >= n - 1 and hits["conn"] >= n - 1, hits


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["vpn_tcp", "websocket", "grpc_unary", "mqtt_event_fixed"])
def test_late_answer_reading_does_not_admit_benign_kinds_in_between(kind):
    """Benign flows whose ratio falls between the two ACK behaviours (VPN keepalives with pushes: 0.67-0.98)
    must not pass as late pools: the late reading needs ~1.0, not anything above 0.75."""
    rng = np.random.default_rng(67)
    for _ in range(6):
        res = _flow_views(E.benign_script(rng, kind, 3600.0), rng)
        for v, r in res.items():
            if r is not None and r.stats.get("rev_fwd_packet_ratio") is not None:
                ratio = float(r.stats["rev_fwd_packet_ratio"])
                if 0.75 < ratio < B.LATE_ANSWER_RATIO:
                    assert "symmetric_packets" not in r.subscores, (v, ratio)


def _slice_series(rng: np.random.Generator, answers_vary: bool, n: int = 120) -> B.BehaviorScore | None:
    """60 s biflow slices, wire bytes with 52 B headers: answered requests (prompt ACK model) plus, for a pool,
    jobs pushed at their own rhythm. `answers_vary`: a lookup service whose rows are 40-600 B, no pushes."""
    # the lookup service's load varies (users come and go); a miner's share rate is steady
    req = (rng.poisson(rng.uniform(10, 50, n)) if answers_vary else rng.poisson(10, n)).astype(float)
    if answers_vary:
        payf = req * 60.0
        payr = np.array([float(np.sum(rng.lognormal(np.log(150), 0.6, int(k)))) for k in req])
        pushes = np.zeros(n)
    else:
        pushes = rng.poisson(1.0, n).astype(float)
        payf = req * 150.0
        payr = req * 58.0 + pushes * 400.0
    pf = 2 * req + pushes
    pr = req + pushes
    start = EPOCH + 60.0 * np.arange(n)
    return B.score_slices(start, start + 60.0, pf, pr, payf + 52 * pf, payr + 52 * pr)


def test_slice_excess_that_follows_the_requests_is_answers_not_jobs():
    """Review 6 item 3: varied-size answers (PostgreSQL rows) exceed the answers-only envelope in many slices,
    so `job_pushes` held; their excess grows with the requests in the slice, a pool's jobs do not."""
    rng = np.random.default_rng(63)
    pg = _slice_series(rng, answers_vary=True)
    pool = _slice_series(rng, answers_vary=False)
    assert pg is not None and pool is not None
    assert "job_pushes" in pg.subscores  # the older check alone lets it through
    assert "excess_follows_requests" in pg.subscores and pg.stats["excess_request_t"] > B.MAX_EXCESS_REQUEST_T
    assert "excess_follows_requests" not in pool.subscores
    assert "pushes_unasked" in pool.subscores


@pytest.mark.slow
def test_pool_sessions_without_tcp_timestamps_are_read_with_40_byte_headers(monkeypatch):
    """D9: a Windows miner negotiates no TCP timestamps, so its packets carry 40 B of headers, not 52 B; read
    with 52 B the client's payload per packet came out 12 B small and some sessions failed
    `unlike_share_payload` (here 2 of 12 Stratum sessions; one has a record of bare ACKs that proves the
    smaller header, the other has none and stays missed)."""
    rng = np.random.default_rng(69)
    hits, read_40 = 0, 0
    n = 0
    for kind in ("stratum_btc", "stratum_zec"):
        for _ in range(6):
            sc = E.mining_script(rng, kind, 3600.0)
            mt, md, ml = E.script_messages(sc, rng)
            t, d, ln = E.wire_packets(mt, md, ml, sc.rtt)
            t = t + EPOCH
            with monkeypatch.context() as m:
                m.setattr(E, "HDR_BYTES", 40)
                sv = E.slice_view(t, d, ln, float(t.min()))
            r = B.score_slices(sv["slice_start"], sv["slice_end"], sv["packets_fwd"], sv["packets_rev"],
                               sv["bytes_fwd"], sv["bytes_rev"])
            assert r is not None
            n += 1
            hits += int(r.is_mining)
            read_40 += int(r.stats.get("header_bytes") == 40)
    assert hits >= n - 1 and read_40 >= 1


def test_header_size_is_read_from_records_of_bare_acks():
    """Fewer bytes per packet than 52 can only be bare ACKs with 40 B headers; otherwise 52 B is kept (reading
    every connection both ways let PostgreSQL lookups pass as share submissions)."""
    pf, pr = np.array([10.0, 3.0]), np.array([5.0, 2.0])
    assert B._header_bytes_seen(pf, pr, np.array([1500.0, 120.0]), np.array([800.0, 400.0]), 52.0) == 40.0
    assert B._header_bytes_seen(pf, pr, np.array([1500.0, 160.0]), np.array([800.0, 400.0]), 52.0) == 52.0
    assert B._header_bytes_seen(pf, pr, np.array([1500.0, 160.0]), np.array([800.0, 110.0]), 72.0) == 60.0


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("minecraft.example.net", False), ("determine.example.org", False), ("jasmine.example.com", False),
        ("examine.io", False), ("xmr-eu1.example.com", True), ("xmrpool.example", True),
        ("minexmr.example", True), ("stratum.example.com", True), ("eu1.hashvault.pro", True),
    ],
)
def test_pool_name_hint_matches_whole_words_not_substrings(name, hint):
    """D10: `mine` inside `minecraft`, `determine` or `jasmine` made a conn total 'pool-like' (+15)."""
    assert B.name_hint(name) is hint


def test_conn_totals_without_pushes_in_the_packet_budget_are_not_pool_sessions():
    """Item 3: gRPC unary calls (a 150 B request, a 60 B answer, no pushes) passed every conn test as a suspect;
    their packet budget holds no server packet beyond the answers, while a pool pushes a job on every block
    (the slowest coin in the table, BTC, every 600 s on average), also to a quiet miner."""
    hour, calls = 3600.0, 900
    grpc = B.score_conn(hour, 2 * calls, calls, calls * 150, calls * 60)
    assert grpc is not None
    assert "no_pushes" in grpc.subscores and not grpc.is_mining
    jobs = 12  # a BTC pool: ~6 blocks and a 60 s refresh timer make more; 12 is few (one per 300 s, review 8)
    # the ACKs of answers that rode on the client's next share (`merged_acks`) are not in its packets, as on a
    # real stack (review 8: the check's bound is one push per 600 s, so the merges can no longer be ignored)
    merged = round(float(B.merged_acks(calls, hour)))
    pool = B.score_conn(hour, 2 * calls + jobs - merged, calls + jobs, calls * 150, calls * 60 + jobs * 700)
    assert pool is not None
    assert "pushes_present" in pool.subscores and "no_pushes" not in pool.subscores
    # late answers: a push cannot be told from a request, so the check does not judge
    late = B.score_conn(hour, 2 * calls + jobs, 2 * calls + jobs, calls * 150, calls * 60 + jobs * 700)
    assert late is not None and not {"no_pushes", "pushes_present"} & set(late.subscores)
    vec = B.conn_subscores(np.array([hour]), np.array([2.0 * calls]), np.array([float(calls)]),
                           np.array([calls * 150.0]), np.array([calls * 60.0]))
    assert float(vec["no_pushes"][0]) == B._CF_PUSH


@pytest.mark.slow
def test_fast_job_sessions_are_read_per_share_packet_in_slices():
    """Item 2 (partly): ETC pools push a job every ~13 s and the client ACKs each one, so the client's payload
    per packet was diluted below the 45 B of a share record plus its ACK (here 7 of 12 ETC sessions missed).
    The packet budget (2 x server - client packets, prompt answers) counts those ACKs; taken out, an
    EthereumStratum submit reads ~57-64 B per share packet."""
    rng = np.random.default_rng(71)
    hits = 0
    for _ in range(12):
        res = _flow_views(E.mining_script(rng, "etchash_etc", 3600.0), rng)
        r = res["slices"]
        assert r is not None
        assert B.SLICE_TESTS[3].lo <= r.stats["fwd_payload_per_packet"] <= B.SLICE_TESTS[3].hi
        hits += int(r.is_mining)
    assert hits >= 10
