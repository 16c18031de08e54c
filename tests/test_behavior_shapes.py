"""The slice and conn kernels: named shape tests, their penalties, unknowns, and the diagnostic ceiling."""

from __future__ import annotations

import numpy as np
import pytest

from minewatch.evaluate import encrypted as E
from minewatch.model import combine_subscores
from minewatch.net import behavior as B

EPOCH = 1.7e9


def views(sc: E.Script, seed: int = 0) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    rng = np.random.default_rng(seed)
    mt, md, ml = E.script_messages(sc, rng)
    t, d, ln = E.wire_packets(mt, md, ml, sc.rtt)
    t = t + EPOCH
    return E.slice_view(t, d, ln, float(t.min())), E.conn_view(t, d, ln)


def slices(sv: dict[str, np.ndarray]) -> B.BehaviorScore | None:
    return B.score_slices(
        sv["slice_start"], sv["slice_end"], sv["packets_fwd"], sv["packets_rev"], sv["bytes_fwd"], sv["bytes_rev"]
    )


def conn(cv: dict[str, float]) -> B.BehaviorScore | None:
    return B.score_conn(cv["duration_s"], cv["packets_fwd"], cv["packets_rev"], cv["payload_fwd"], cv["payload_rev"])


def test_shape_test_points_penalties_and_unknown():
    t = B.SLICE_TESTS[1]  # poisson_counts: low -> periodic_client, high -> bursty_client
    assert t.name == "poisson_counts"
    for value, key, pts in ((1.0, "poisson_counts", t.points), (0.1, "periodic_client", t.penalty),
                            (9.0, "bursty_client", t.penalty)):  # fmt: skip
        sub: dict[str, float] = {}
        ev: list = []
        t.apply(value, sub, ev)
        assert sub == {key: pts}
        assert ev[0].code == f"behavior.{key}" and ev[0].text and ev[0].text_zh and ev[0].data["value"] == value
    sub, ev = {}, []
    t.apply(None, sub, ev)
    t.apply(float("nan"), sub, ev)
    assert sub == {} and ev == []


def test_a_test_without_a_high_name_penalises_both_sides_under_its_low_name():
    t = next(x for x in B.SLICE_TESTS if x.name == "small_client_payload")
    for v in (10.0, 500.0):
        sub: dict[str, float] = {}
        t.apply(v, sub, [])
        assert sub == {"unlike_share_payload": t.penalty}


def test_points_make_the_slice_score_a_conjunction():
    # all eleven held (or all but one unknown) plus the smallest generic points (10 min, 1-10 kB/s) reach the
    # threshold ...
    held = sum(t.points for t in B.SLICE_TESTS)
    assert len(B.SLICE_TESTS) == 11
    assert held - B.SLICE_TESTS[0].points + 10 + 5 >= B.THRESHOLD  # one unknown, 10-30 min, ≤ 10 kB/s
    # ... one clear failure with the largest generic points does not
    assert held - B.SLICE_TESTS[0].points + B.SLICE_TESTS[0].penalty + 15 + 10 < B.THRESHOLD
    held_c = sum(t.points for t in B.CONN_TESTS)
    assert held_c + 10 + 7 >= B.THRESHOLD
    assert held_c - B.CONN_TESTS[0].points + B.CONN_TESTS[0].penalty + 15 + 15 < B.THRESHOLD


@pytest.mark.parametrize("kind", ["stratum_ltc", "proxy_xmr", "stratum_btc"])
def test_mining_sessions_pass_every_slice_test(kind):
    rng = np.random.default_rng(31)
    sc = E.mining_script(rng, kind, 3 * 3600)
    sv, cv = views(sc)
    r = slices(sv)
    assert r is not None and r.is_mining, (r.subscores if r else None)
    assert {t.name for t in B.SLICE_TESTS} <= set(r.subscores)
    assert r.score == combine_subscores(r.subscores)
    assert all(e.text and e.text_zh for e in r.evidence)
    c = conn(cv)
    assert c is not None and c.is_mining and {t.name for t in B.CONN_TESTS} <= set(c.subscores)


@pytest.mark.parametrize(
    ("kind", "expected_failures"),
    [
        ("vpn_tcp", {"large_responses", "unpaired_directions", "packet_ratio_off", "varying_client_size"}),
        ("websocket", {"one_sided_payload", "large_responses", "varying_client_size", "unlike_share_payload",
                       "silent_slices", "packet_ratio_off"}),
        ("grpc_stream", {"one_sided_payload", "unlike_share_payload", "large_responses", "packet_ratio_off"}),
    ],
)  # fmt: skip
def test_benign_sessions_fail_named_slice_tests(kind, expected_failures):
    rng = np.random.default_rng(41)
    for _ in range(5):
        sv, _cv = views(E.benign_script(rng, kind, 2 * 3600))
        r = slices(sv)
        assert r is not None and not r.is_mining, r.subscores
        failed = {k for k, v in r.subscores.items() if v < 0}
        assert failed & expected_failures, r.subscores


def test_short_sessions_leave_the_slow_rate_unknown_not_failed():
    sc = E.mining_script(np.random.default_rng(5), "stratum_zec", 25 * 60)
    sv, _ = views(sc)
    r = slices(sv)
    assert r is not None
    assert r.stats["fwd_dispersion_slow"] is None
    assert not {"steady_rate", "clocked_rate", "drifting_rate"} & set(r.subscores)


def test_conn_bare_acks_and_bulk_are_named():
    # MQTT QoS 1 publishing: 90 B publishes, 4 B PUBACK + 22 B TLS per reply, one ACK per publish
    r = B.score_conn(3600.0, 2000, 1000, 90_000, 26_000)
    assert r is not None and "bare_acks" in r.subscores and not r.is_mining
    # a download: server packets full, client mostly ACKs
    r = B.score_conn(3600.0, 5000, 10000, 100_000, 14_480_000)
    assert r is not None and {"bulk_server", "one_sided_payload"} <= set(r.subscores) and not r.is_mining


def test_conn_vectorised_matches_scalar_and_unknown_earns_nothing():
    rng = np.random.default_rng(9)
    rows = [views(E.mining_script(rng, "xmrig_xmr", 2 * 3600))[1], views(E.benign_script(rng, "mqtt_event", 2 * 3600))[1]]
    arrs = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    parts = B.conn_subscores(arrs["duration_s"], arrs["packets_fwd"], arrs["packets_rev"], arrs["payload_fwd"],
                             arrs["payload_rev"])  # fmt: skip
    for i, cv in enumerate(rows):
        scalar = conn(cv)
        assert scalar is not None
        vec = {k: float(v[i]) for k, v in parts.items() if float(v[i]) != 0.0}
        # the point-less checks (job_sized_pushes, share_sized_requests) appear in the scalar score at 0 when held
        assert vec == {k: v for k, v in scalar.subscores.items() if v != 0.0}
    # payload unknown (NaN): the payload tests neither score nor penalise
    p = B.conn_subscores(np.array([3600.0]), np.array([1000.0]), np.array([520.0]), np.array([np.nan]),
                         np.array([np.nan]))  # fmt: skip
    for name in ("small_client_payload", "unlike_share_payload", "answered_with_data", "bare_acks", "balanced_payload"):
        assert p[name][0] == 0.0
    assert p["symmetric_packets"][0] > 0


@pytest.mark.slow  # gradient boosting, 5 folds: ~15 s on a busy 2-core machine
def test_information_ceiling_tells_separable_from_random():
    rng = np.random.default_rng(0)
    n = 400
    y = np.r_[np.ones(100, dtype=bool), np.zeros(n - 100, dtype=bool)]
    sep = [{"fwd_packets_per_min": float(v), "duration_s": 3600.0} for v in np.where(y, 50.0, 5.0) + rng.normal(0, 1, n)]
    noise = [{"fwd_packets_per_min": float(v), "duration_s": 3600.0} for v in rng.normal(0, 1, n)]
    good = E.information_ceiling(sep, y, "conn", target_fpr=0.01, max_iter=30)
    bad = E.information_ceiling(noise, y, "conn", target_fpr=0.01, max_iter=30)
    assert good["recall_at_fpr"] >= 0.95
    assert bad["recall_at_fpr"] <= 0.3


def test_slow_sessions_need_job_sized_server_packets():
    # 5 client packets per minute, 80 B of server payload per server packet: fine for a fast session,
    # but a slow miner's server packets are mostly jobs of a few hundred bytes
    slow = B.score_conn(3600.0, 300, 180, 15_000, 180 * 80)
    fast = B.score_conn(3600.0, 3000, 1800, 150_000, 1800 * 80)
    assert slow is not None and fast is not None
    assert slow.stats["fwd_packets_per_min"] <= B.CONN_SLOW_PACE < fast.stats["fwd_packets_per_min"]
    assert slow.subscores.get("bare_acks") == B.CONN_SLOW_REPLY_TEST.penalty
    assert fast.subscores.get("answered_with_data", 0) > 0 and "bare_acks" not in fast.subscores
    vec = B.conn_subscores(np.array([3600.0, 3600.0]), np.array([300.0, 3000.0]), np.array([180.0, 1800.0]),
                           np.array([15_000.0, 150_000.0]), np.array([14_400.0, 144_000.0]))  # fmt: skip
    assert list(vec["bare_acks"]) == [B.CONN_SLOW_REPLY_TEST.penalty, 0.0]
    assert list(vec["answered_with_data"]) == [0.0, B.CONN_SLOW_REPLY_TEST.points]
