"""Review 7b: the job-paced reading of connection totals (Zeek conn).

The rows are built by hand from the delayed-ACK packet budget the conn rules assume (a request answered
promptly by one server record costs the client two packets and the server one; a push costs one packet each
way), with message sizes from the dialects' JSON layouts, not taken from the benchmark generator.
"""

from __future__ import annotations

import numpy as np
import pytest

from minewatch.net import behavior as B

HOUR = 3600.0
RESULT_B = 58  # {"id":N,"result":true,"error":null} plus a TLS 1.3 record


def budget(requests: list[tuple[int, int, int]], pushes: list[tuple[int, int]]) -> tuple[int, int, int, int]:
    """Totals (packets_fwd, packets_rev, payload_fwd, payload_rev) of (count, request B, reply B) requests
    and (count, push B) pushes, every record in one segment, every answer prompt."""
    n_req = sum(n for n, _, _ in requests)
    n_push = sum(n for n, _ in pushes)
    return (
        2 * n_req + n_push,
        n_req + n_push,
        sum(n * q for n, q, _ in requests),
        sum(n * a for n, _, a in requests) + sum(n * s for n, s in pushes),
    )


def _codes(r: B.BehaviorScore) -> dict[str, B.Evidence]:
    return {e.code.removeprefix("behavior."): e for e in r.evidence}


def test_kaspa_bridge_in_totals_is_read_job_paced_and_found():
    # a share of ~185 B (kaspa:address.worker, job id, nonce) every 10 s, a ~172 B job every second
    pf, pr, bf, br = budget([(360, 185, RESULT_B)], [(3600, 172)])
    r = B.score_conn(HOUR, pf, pr, bf, br)
    assert r is not None and r.is_mining, r.subscores
    assert r.stats["pushes_per_request"] == pytest.approx(10.0)
    assert r.stats["share_packet_payload"] == pytest.approx(92.5)
    for held in ("job_paced_packets", "small_client_payload", "job_bounded_pushes", "job_sized_pushes"):
        assert held in r.subscores, held
    # the jobs tilt the payload towards the server by design: not read, neither held nor failed
    assert "balanced_payload" not in r.subscores and "one_sided_payload" not in r.subscores
    assert "heavy_server_pushes" not in r.subscores and "packet_ratio_off" not in r.subscores
    ev = _codes(r)
    assert "10.0" in ev["job_paced_packets"].text and ev["job_paced_packets"].text_zh
    assert "header-hash" in ev["job_sized_pushes"].text and "区块头" in ev["job_sized_pushes"].text_zh
    assert "per second" in ev["job_bounded_pushes"].text and "每秒" in ev["job_bounded_pushes"].text_zh


def test_etc_in_totals_is_found_with_ethereumstratum_shares():
    # EthereumStratum/1.0.0 on ETC: 120 B shares every 20 s, a ~218 B job per 13 s block
    pf, pr, bf, br = budget([(180, 120, RESULT_B)], [(277, 218)])
    r = B.score_conn(HOUR, pf, pr, bf, br)
    assert r is not None and r.is_mining, r.subscores
    assert 1.0 < r.stats["pushes_per_request"] < 2.0
    assert "job_paced_packets" in r.subscores and "small_client_payload" in r.subscores
    assert "small_requests" not in r.subscores and r.subscores["share_sized_requests"] == 0.0


def test_stream_with_requests_a_minute_apart_is_not_job_paced():
    # an HTTP/2 server stream: updates pushed every ~20 s, the client's WINDOW_UPDATE/PING "requests" ~90 s apart
    pf, pr, bf, br = budget([(40, 200, 40)], [(180, 250)])
    r = B.score_conn(HOUR, pf, pr, bf, br)
    assert r is not None
    assert r.stats["pushes_per_request"] > B.CONN_JOB_PACED_PUSHES_PER_REQUEST
    assert r.stats["seconds_per_request"] > B.CONN_PACED_MAX_SHARE_GAP_S
    assert "job_paced_packets" not in r.subscores and "packet_ratio_off" in r.subscores
    assert not r.is_mining


def test_job_paced_pushes_must_be_header_jobs():
    # pushes outnumber brisk requests, but each carries 600 B (tunnelled replies, documents): not a fast coin's job
    pf, pr, bf, br = budget([(360, 185, RESULT_B)], [(1000, 600)])
    r = B.score_conn(HOUR, pf, pr, bf, br)
    assert r is not None and "job_paced_packets" in r.subscores
    assert r.subscores["oversized_pushes"] == B.CONN_PACED_PUSH_SIZE_CHECK.penalty
    assert str(int(B.MAX_HEADER_JOB_RECORD_B)) in _codes(r)["oversized_pushes"].text
    assert not r.is_mining
    # and at least a job's bytes: 60 B pings are not jobs
    pf, pr, bf, br = budget([(360, 185, RESULT_B)], [(1000, 60)])
    r = B.score_conn(HOUR, pf, pr, bf, br)
    assert r is not None and r.subscores["small_pushes"] == B.CONN_PACED_PUSH_SIZE_CHECK.penalty
    assert not r.is_mining


def test_job_paced_push_rate_is_bounded_by_the_fastest_block():
    # a share every 2 s and twice as many pushes as the fastest coin has blocks (eight per share)
    fastest = min(B.coin_block_times().values())
    pf, pr, bf, br = budget([(1800, 185, RESULT_B)], [(int(HOUR * 2.0 / fastest), 172)])
    r = B.score_conn(HOUR, pf, pr, bf, br)
    assert r is not None and "job_paced_packets" in r.subscores
    assert r.subscores["heavy_server_pushes"] < 0 and "job_bounded_pushes" not in r.subscores


def test_vectorised_twin_reads_job_paced_sessions_the_same():
    rows = [
        budget([(360, 185, RESULT_B)], [(3600, 172)]),
        budget([(180, 120, RESULT_B)], [(277, 218)]),
        budget([(360, 185, RESULT_B)], [(1000, 600)]),
        budget([(150, 140, RESULT_B)], [(90, 1000)]),
    ]
    arr = [np.array([float(x[i]) for x in rows]) for i in range(4)]
    sub = B.conn_subscores(np.full(len(rows), HOUR), *arr)
    assert sub["job_paced_packets"][:3].tolist() == [7.5, 7.5, 7.5] and sub["job_paced_packets"][3] == 0.0
    for i, (pf, pr, bf, br) in enumerate(rows):
        r = B.score_conn(HOUR, pf, pr, bf, br)
        assert r is not None
        for k, v in sub.items():
            assert r.subscores.get(k, 0.0) == pytest.approx(float(v[i])), (i, k)


def test_exactly_one_push_per_request_is_a_second_answer_record():
    # an MQTT device-shadow client: each 140 B PUBLISH gets a 26 B PUBACK (carrying the ACK), then the broker's
    # 250 B /update/accepted document, which the client ACKs: one "push" per request by the budget, ratio 2/3
    pf, pr, bf, br = budget([(400, 140, 26)], [(400, 250)])
    r = B.score_conn(HOUR, pf, pr, bf, br)
    assert r is not None and r.stats["pushes_per_request"] == pytest.approx(1.0)
    assert r.subscores["pushes_paired"] == B.CONN_PAIRED_PUSH_CHECK.penalty
    ev = _codes(r)["pushes_paired"]
    assert "1.00" in ev.text and "1.00" in ev.text_zh
    # the same session without the paired check would pass every point-earning test
    assert r.score - r.subscores["pushes_paired"] >= B.THRESHOLD
    assert not r.is_mining


def test_pool_pushes_off_one_per_share_hold_the_paired_check():
    # a slow-coin pool: 150 shares, 90 jobs; and ETC-like 180 shares, 277 jobs: pushes follow blocks, not shares
    for shares, pushes, size, job in ((150, 90, 140, 1000), (180, 277, 120, 218)):
        pf, pr, bf, br = budget([(shares, size, RESULT_B)], [(pushes, job)])
        r = B.score_conn(HOUR, pf, pr, bf, br)
        assert r is not None and r.is_mining, r.subscores
        assert r.subscores["pushes_unpaired"] == 0.0 and "pushes_paired" not in r.subscores
