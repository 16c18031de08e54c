"""Round 3 of the conn-totals rules: the two point-less checks that read the packet budget.

The rows are built by hand from the delayed-ACK packet budget the checks assume (a request answered by one
server record costs the client two packets and the server one; a push costs one packet each way), not taken
from the benchmark generator, so a change in the generator cannot make these tests pass by itself.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from minewatch.net import behavior as B

HOUR = 3600.0


def budget(requests: list[tuple[int, int, int]], pushes: list[tuple[int, int]]) -> tuple[int, int, int, int]:
    """Totals (packets_fwd, packets_rev, payload_fwd, payload_rev) of (count, request B, reply B) requests
    and (count, push B) pushes, every record in one segment."""
    n_req = sum(n for n, _, _ in requests)
    n_push = sum(n for n, _ in pushes)
    pf = 2 * n_req + n_push
    pr = n_req + n_push
    bf = sum(n * q for n, q, _ in requests)
    br = sum(n * a for n, _, a in requests) + sum(n * s for n, s in pushes)
    return pf, pr, bf, br


def _check(name: str) -> B.ShapeTest:
    return next(t for t in B.CONN_TESTS if t.name == name)


def test_slow_stratum_session_holds_both_checks_and_is_found():
    # 150 shares of 140 B answered by 58 B results, 90 jobs of 1,000 B in one hour
    pf, pr, bf, br = budget([(150, 140, 58)], [(90, 1000)])
    r = B.score_conn(HOUR, pf, pr, bf, br)
    assert r is not None and r.is_mining, r.subscores
    assert r.stats["client_payload_per_request"] == pytest.approx(140.0)
    # (br - bf / 2) / pushes: the 58 B results are below half the share, so this is a lower bound on 1,000 B
    assert r.stats["push_payload_per_push"] == pytest.approx((br - 0.5 * bf) / 90, rel=1e-3)
    assert r.stats["push_payload_per_push"] <= 1000.0
    assert r.subscores["job_sized_pushes"] == 0.0 and r.subscores["share_sized_requests"] == 0.0
    assert "oversized_pushes" not in r.subscores and "small_requests" not in r.subscores
    held = {e.code.removeprefix("behavior."): e for e in r.evidence}
    assert held["job_sized_pushes"].text_zh and held["share_sized_requests"].text_zh


def test_push_channel_with_large_events_is_named_and_not_mining():
    # requests of share size answered briefly, but the server's own records average 2 kB: content, not jobs
    pf, pr, bf, br = budget([(150, 140, 58)], [(60, 2000)])
    r = B.score_conn(HOUR, pf, pr, bf, br)
    assert r is not None
    assert r.stats["push_payload_per_push"] > B.MAX_JOB_RECORD_B
    assert r.subscores["oversized_pushes"] == _check("job_sized_pushes").penalty
    assert "share_sized_requests" in r.subscores and not r.is_mining
    ev = next(e for e in r.evidence if e.code == "behavior.oversized_pushes")
    assert "1250" in ev.text and "1250" in ev.text_zh


def test_websocket_with_pings_and_large_replies_fails_both():
    # 120 pings (28 B, pong 28 B), 40 actions of 300 B answered by 1,300 B, 20 events of 500 B: the large replies
    # look like pushes to the packet budget, and the pings make the average request small
    pf, pr, bf, br = budget([(120, 28, 28), (40, 300, 1300)], [(20, 500)])
    r = B.score_conn(HOUR, pf, pr, bf, br)
    assert r is not None
    assert {"oversized_pushes", "small_requests"} <= set(r.subscores)
    assert r.stats["client_payload_per_request"] == pytest.approx(bf / 160)
    assert not r.is_mining


def test_ping_dominated_requests_are_too_small_for_shares():
    # 200 keepalive-style requests of 60 B answered by 20 B and a few 400 B pushes: everything else looks fine
    pf, pr, bf, br = budget([(200, 60, 20)], [(30, 400)])
    r = B.score_conn(HOUR, pf, pr, bf, br)
    assert r is not None
    assert r.stats["client_payload_per_request"] == pytest.approx(60.0)
    assert r.subscores["small_requests"] == _check("share_sized_requests").penalty
    assert "job_sized_pushes" in r.subscores


def test_merged_acks_move_both_statistics_towards_passing():
    # a fast session whose client ACKs ride on the next share: fewer client packets than the budget says
    pf, pr, bf, br = budget([(3000, 130, 58)], [(120, 1100)])
    full = B.conn_features(*(np.array([x], dtype=float) for x in (HOUR, pf, pr, bf, br)))
    merged = B.conn_features(*(np.array([x], dtype=float) for x in (HOUR, int(pf * 0.75), pr, bf, br)))
    assert merged["push_payload_per_push"][0] < full["push_payload_per_push"][0] <= B.MAX_JOB_RECORD_B
    assert (
        merged["client_payload_per_request"][0]
        > full["client_payload_per_request"][0]
        >= B.MIN_SHARE_RECORD_B
    )


def test_no_estimated_pushes_or_requests_is_unknown_not_zero():
    # as many server packets as client packets per two: no pushes in the budget; more server than client: no requests
    for pf, pr in ((2000, 1000), (1000, 1200)):
        f = B.conn_features(*(np.array([x], dtype=float) for x in (HOUR, pf, pr, 100_000, 50_000)))
        r = B.score_conn(HOUR, pf, pr, 100_000, 50_000)
        assert r is not None
        if 2 * pr <= pf:
            assert math.isnan(f["push_payload_per_push"][0])
            assert not {"job_sized_pushes", "oversized_pushes"} & set(r.subscores)
        if pf <= pr:
            assert math.isnan(f["client_payload_per_request"][0])
            assert not {"share_sized_requests", "small_requests"} & set(r.subscores)


def test_vectorised_checks_match_the_scalar_ones():
    rows = [budget([(150, 140, 58)], [(90, 1000)]), budget([(150, 140, 58)], [(60, 2000)]),
            budget([(200, 60, 20)], [(30, 400)]), (2000, 1000, 100_000, 50_000)]  # fmt: skip
    cols = [np.array([float(r[i]) for r in rows]) for i in range(4)]
    vec = B.conn_subscores(np.full(len(rows), HOUR), *cols)
    for i, row in enumerate(rows):
        s = B.score_conn(HOUR, *row)
        assert s is not None
        for name in ("oversized_pushes", "small_requests"):
            assert vec[name][i] == s.subscores.get(name, 0.0), (i, name)


def test_one_failed_check_keeps_a_full_marks_session_below_threshold():
    best = 15.0 + 15.0 + sum(t.points for t in B.CONN_TESTS)  # 30 min or more, <= 1 kB/s, every test held
    assert best >= B.THRESHOLD
    for name in ("job_sized_pushes", "share_sized_requests"):
        t = _check(name)
        assert t.points == 0.0  # a check only: holding it adds nothing, so no benign flow gains from it
        assert best + t.penalty < B.THRESHOLD
