"""The second-round shape tests: reply size in quiet slices (`result_sized_replies`) and the job-bounded
server surplus in connection totals (`job_bounded_pushes`)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from minewatch.evaluate import encrypted as E
from minewatch.net import behavior as B

EPOCH = 1.7e9
HDR = 52.0


def slice_rows(
    shares: np.ndarray, reply: int, share: int, jobs: np.ndarray, job: int
) -> dict[str, np.ndarray]:
    """Hand-made 60 s slices: per share one client record + one client ACK, one server reply (carrying the
    ACK); per job one server record and one client ACK."""
    n = shares.size
    start = EPOCH + 60.0 * np.arange(n)
    pf = 2 * shares + jobs
    pr = shares + jobs
    return {
        "slice_start": start,
        "slice_end": start + 60.0,
        "packets_fwd": pf,
        "packets_rev": pr,
        "bytes_fwd": shares * share + HDR * pf,
        "bytes_rev": shares * reply + jobs * job + HDR * pr,
    }


def score(sv: dict[str, np.ndarray]) -> B.BehaviorScore | None:
    return B.score_slices(
        sv["slice_start"], sv["slice_end"], sv["packets_fwd"], sv["packets_rev"], sv["bytes_fwd"], sv["bytes_rev"]
    )


def test_quiet_slices_measure_the_reply_size_not_the_jobs():
    rng = np.random.default_rng(3)
    shares = rng.poisson(3.0, 60) + 1
    jobs = (rng.random(60) < 0.5).astype(int)  # a job push in half of the slices
    r = score(slice_rows(shares, reply=58, share=127, jobs=jobs, job=969))
    assert r is not None
    assert r.stats["quiet_rev_payload_per_packet"] == pytest.approx(58.0)
    assert r.subscores["result_sized_replies"] > 0
    assert "ack_sized_replies" not in r.subscores
    # the mean over all slices is pulled up by the jobs: that is why the low decile is used
    assert r.stats["rev_payload_per_packet"] > 2 * 58


def test_puback_sized_replies_are_counter_evidence():
    rng = np.random.default_rng(4)
    shares = rng.poisson(3.0, 60) + 1
    jobs = (rng.random(60) < 0.3).astype(int)
    # MQTT QoS 1: a 4-byte PUBACK in a TLS 1.2 record (29 B), commands of ~150 B now and then
    r = score(slice_rows(shares, reply=33, share=150, jobs=jobs, job=180))
    assert r is not None
    assert r.stats["quiet_rev_payload_per_packet"] == pytest.approx(33.0)
    pen = next(t for t in B.SLICE_TESTS if t.name == "result_sized_replies").penalty
    assert r.subscores["ack_sized_replies"] == pen < 0
    ev = next(e for e in r.evidence if e.code == "behavior.ack_sized_replies")
    assert "33" in ev.text and "33" in ev.text_zh and ev.data["value"] == pytest.approx(33.0)


def test_plaintext_stratum_results_are_not_taken_for_acks():
    """NetFlow of a plaintext pool: `{"id":4,"result":true,"error":null}` is 36 B without a TLS record
    around it; it must not be mistaken for a 4-byte acknowledgement (26-33 B in TLS)."""
    rng = np.random.default_rng(5)
    shares = rng.poisson(3.0, 60) + 1
    jobs = (rng.random(60) < 0.5).astype(int)
    r = score(slice_rows(shares, reply=36, share=105, jobs=jobs, job=900))
    assert r is not None
    assert r.stats["quiet_rev_payload_per_packet"] == pytest.approx(36.0)
    assert "ack_sized_replies" not in r.subscores and r.subscores["result_sized_replies"] > 0


def test_too_few_answered_slices_leave_the_reply_size_unknown():
    short = slice_rows(np.full(7, 2), reply=33, share=127, jobs=np.zeros(7, dtype=int), job=0)
    # a long connection whose traffic sits in only 8 of 30 slices (absent rows are silent slices)
    sparse = slice_rows(np.full(30, 2), reply=33, share=127, jobs=np.zeros(30, dtype=int), job=0)
    keep = np.r_[0, 5, 9, 13, 17, 21, 25, 29]
    sparse = {k: v[keep] for k, v in sparse.items()}
    for sv in (short, sparse):
        r = score(sv)
        assert r is not None and r.stats["quiet_rev_payload_per_packet"] is None
        assert not {"result_sized_replies", "ack_sized_replies"} & set(r.subscores)


@pytest.mark.parametrize("kind", ["stratum_ltc", "stratum_btc", "xmrig_xmr", "proxy_btc"])
def test_simulated_pool_sessions_have_result_sized_replies(kind):
    rng = np.random.default_rng(77)
    for _ in range(3):
        sc = E.mining_script(rng, kind, 2 * 3600)
        mt, md, ml = E.script_messages(sc, rng)
        t, d, ln = E.wire_packets(mt, md, ml, sc.rtt)
        sv = E.slice_view(t + EPOCH, d, ln, float(t.min()) + EPOCH)
        r = score(sv)
        assert r is not None
        # the smallest pool answer in the generator is Stratum's result (36 B) in a TLS 1.3 record (22 B)
        assert r.stats["quiet_rev_payload_per_packet"] >= 36 + 22, r.stats
        assert "result_sized_replies" in r.subscores


def test_simulated_qos1_mqtt_has_ack_sized_replies():
    rng = np.random.default_rng(78)
    seen = 0
    while seen < 4:
        sc = E.benign_script(rng, "mqtt_event", 2 * 3600)
        if not any(c[2] == 4 for c in sc.client) or len(sc.client) < 200:
            continue  # QoS 0 (no PUBACK) or too quiet to have ten answered slices
        mt, md, ml = E.script_messages(sc, rng)
        t, d, ln = E.wire_packets(mt, md, ml, sc.rtt)
        r = score(E.slice_view(t + EPOCH, d, ln, float(t.min()) + EPOCH))
        assert r is not None and not r.is_mining
        assert r.stats["quiet_rev_payload_per_packet"] <= 4 + 29, r.stats
        assert "ack_sized_replies" in r.subscores
        seen += 1


def test_conn_server_surplus_beyond_jobs_is_named():
    # OpenVPN-like: 60 client packets/min of 70 B, server sends 380 B per packet: ~220 B/s more than the client
    d = 3600.0
    vpn = B.score_conn(d, 3600, 2200, 3600 * 70, 2200 * 380)
    assert vpn is not None
    assert vpn.stats["server_excess_payload_per_s"] == pytest.approx((2200 * 380 - 3600 * 70) / d, rel=1e-3)
    assert vpn.subscores.get("heavy_server_pushes", 0) < 0 and not vpn.is_mining
    # a pool: 20 shares/min of 127 B answered by 58 B, a 969 B job every 60 s: surplus ~ 3 B/s
    n_sh, n_job = 20 * 60, 60
    pool = B.score_conn(d, 2 * n_sh + n_job, n_sh + n_job, n_sh * 127, n_sh * 58 + n_job * 969)
    assert pool is not None and pool.subscores.get("job_bounded_pushes", 0) > 0
    assert "heavy_server_pushes" not in pool.subscores
    # a proxy whose client sends more than the server: a negative surplus passes
    proxy = B.score_conn(d, 20000, 10400, 20000 * 115, 10400 * 90)
    assert proxy is not None and proxy.stats["server_excess_payload_per_s"] < 0
    assert proxy.subscores.get("job_bounded_pushes", 0) > 0


def test_conn_surplus_vectorised_and_unknown():
    vec = B.conn_subscores(np.array([3600.0, 3600.0, 3600.0]), np.array([3600.0, 2460.0, 1000.0]),
                           np.array([2200.0, 1260.0, 500.0]), np.array([252_000.0, 152_400.0, np.nan]),
                           np.array([836_000.0, 127_740.0, np.nan]))  # fmt: skip
    t = next(x for x in B.CONN_TESTS if x.name == "job_bounded_pushes")
    assert list(vec["heavy_server_pushes"]) == [t.penalty, 0.0, 0.0]
    assert list(vec["job_bounded_pushes"]) == [0.0, t.points, 0.0]  # unknown payload earns nothing
    assert math.isinf(t.lo) and t.hi == B.MAX_JOB_PAYLOAD_PER_S
