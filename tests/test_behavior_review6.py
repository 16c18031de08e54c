"""Review 6 (timing): pushes are required (D1/D2), the capture's kept head and tail are judged as two windows
(D4), timing-only verdicts do not spread or feed block lists by default (D3), IPv6 headers (D2)."""

from __future__ import annotations

import numpy as np
import pytest

from minewatch.evaluate import encrypted as E
from minewatch.model import Evidence
from minewatch.net import behavior as B
from minewatch.net.findings import FlowView, endpoint_findings, session_finding, timing_only

EPOCH = 1.7e9


def _views(sc: E.Script, rng: np.random.Generator) -> dict[str, B.BehaviorScore | None]:
    mt, md, ml = E.script_messages(sc, rng)
    t, d, ln = E.wire_packets(mt, md, ml, sc.rtt)
    return E.score_views(t + EPOCH, d, ln)


@pytest.mark.parametrize("kind", E.RPC_KINDS)
def test_answered_fixed_format_requests_without_pushes_are_not_mining_on_the_timeline(kind):
    """Constant-size requests at Poisson times, each answered (an event sensor, gRPC unary calls, Redis INCR,
    padded DNS over TLS, webhooks) used to score 70-75 on timing alone; the server never pushes a job."""
    rng = np.random.default_rng(61)
    for _ in range(4):
        res = _views(E.benign_script(rng, kind, 3600.0), rng)
        tl = res["timeline"]
        assert tl is not None and not tl.is_mining, (kind, tl.subscores)
        if kind != "postgres_lookup":  # varied rows: a known slice limit (docs/behavior.md)
            for v in ("slices", "netflow"):
                assert res[v] is None or not res[v].is_mining, (kind, v, res[v].subscores)


def test_answers_in_two_parts_are_not_taken_for_jobs():
    """An AWS IoT shadow update gets a PUBACK and, ms later, the /update/accepted document: an unanswered
    server message per request, but timed by the request, so it earns no push points."""
    rng = np.random.default_rng(7)
    sc = E.Script("shadow", 0, None, 3600.0, 0.04, 22)
    for t in E._poisson(rng, 1 / 30, 3600.0, t_start=1.0):
        sc.client.append((float(t), 95, 4, "publish"))
        sc.pushes.append((float(t) + 0.06, 230, "accepted"))
    tl = _views(sc, rng)["timeline"]
    assert tl is not None and not tl.is_mining
    assert "no_job_pushes" in tl.subscores and "coin_block_time" not in tl.subscores
    assert tl.stats["push_lag_ks"] > tl.stats["push_lag_critical"]


@pytest.mark.parametrize("kind", ["stratum_btc", "xmrig_xmr", "etchash_etc", "kawpow_rvn"])
def test_pool_sessions_keep_their_push_evidence(kind):
    rng = np.random.default_rng(5)
    for _ in range(3):
        tl = _views(E.mining_script(rng, kind, 3600.0), rng)["timeline"]
        assert tl is not None and tl.is_mining, (kind, tl.subscores if tl else None)
        assert "no_job_pushes" not in tl.subscores


def test_fast_proxy_is_judged_on_the_capture_head_and_tail_with_its_true_duration():
    """A 2 h xmrig-proxy upstream at 4 shares/s: the capture keeps 2 x 2,048 payload packets (about 4 min
    each). The tail alone was under 5 min (not judged); now both windows are judged, 2 h long."""
    rng = np.random.default_rng(3)
    sc = E.mining_script(rng, "proxy_xmr", 7200.0)
    sc.client = sc.client[:1]
    for i, t in enumerate(E._poisson(rng, 4.0, 7200.0, t_start=1.0), start=2):
        sc.client.append((float(t), 224 + len(str(i)), 80 + len(str(i)), "share"))
    mt, md, ml = E.script_messages(sc, rng)
    t, d, ln = E.wire_packets(mt, md, ml, sc.rtt)
    assert int((ln > 0).sum()) > 4 * E.CAPTURE_TIMELINE_MAX
    tl = E.capture_timeline(t + EPOCH, d, ln)
    assert tl is not None and tl.is_mining, tl.subscores if tl else None
    assert tl.stats["duration_s"] > 7000 and tl.subscores["long_lived"] == 15.0
    assert tl.stats["windows"] == 2 and tl.stats["observed_s"] < 1200


def test_merged_answers_of_a_fast_session_are_not_pushes():
    """Two answers leaving within the 10 ms merge gap read as one message of twice the size; they answer
    two requests, not one request and a push."""
    t, d, ln = [], [], []
    for k in range(30):  # single shares, each answered
        t += [k * 1.0, k * 1.0 + 0.05]
        d += [0, 1]
        ln += [240.0, 102.0]
    t += [40.0, 40.003, 40.06]  # two shares within 10 ms: one message of 480 B; their answers merged: 204 B
    d += [0, 0, 1]
    ln += [240.0, 240.0, 204.0]
    mt, md, ml = B.to_messages(np.array(t), np.array(d), np.array(ln))
    is_reply, answered, _ = B._classify(mt, md, ml)
    assert is_reply[md == 1].all() and answered[md == 0].all()


def _flow(sport: int, dport: int = 8883, dur: float = 3600.0) -> FlowView:
    return FlowView("10.30.0.11", sport, "52.16.0.10", dport, "tcp", EPOCH, EPOCH + dur, True, 100, 80, 9000, 4000,
                    True)


def test_a_timing_only_verdict_does_not_spread_to_the_endpoint():
    timing = B.to_finding(B.BehaviorScore("timeline", {"long_lived": 15.0, "share_poisson": 50.0},
                                          [Evidence("behavior.share_poisson", "x", "x")]),
                          B.FlowMeta("10.30.0.11", 40000, "52.16.0.10", 8883, first_ts=EPOCH, last_ts=EPOCH + 3600))
    assert timing is not None and timing_only(timing)
    other = [(_flow(40001), None)]
    assert endpoint_findings(other, [timing]) == []

    class Facts:
        kind, variant, coin, worker, pool_host, sni, client_is_src = "mining", "stratum-v1", None, "w", None, None, True
        subscores = {"protocol": 70.0}  # noqa: RUF012
        evidence = [Evidence("stratum.subscribe", "sent mining.subscribe")]  # noqa: RUF012

    content = session_finding(_flow(40000), Facts(), None)
    assert content is not None and not timing_only(content)
    assert [f.src_port for f in endpoint_findings(other, [content])] == [40001]


def test_ipv6_records_use_the_ipv6_header_size():
    assert B.header_bytes_of({"src_ip": "2001:db8::1"}) == 72.0
    assert B.header_bytes_of({"src_ip": "192.0.2.1"}) == 52.0
