"""Review 8: connection totals (Zeek conn) whose server answers late, and the checks added with them.

Rows are built by hand from the delayed-ACK packet budget the conn rules assume, with message sizes from the
dialects' JSON layouts, not taken from the benchmark generator. A late answer (after the client's 40 ms
delayed-ACK timer) costs two packets each way: the request and the client's ACK of the answer, the server's
bare ACK and the answer; a push costs one packet each way.
"""

from __future__ import annotations

import numpy as np

from minewatch.net import behavior as B

HOUR = 3600.0
RESULT_B = 58  # {"id":N,"result":true,"error":null} plus a TLS 1.3 record


def late_budget(requests: list[tuple[int, int, int]], pushes: list[tuple[int, int]]) -> tuple[int, int, int, int]:
    """Totals (packets_fwd, packets_rev, payload_fwd, payload_rev) of (count, request B, reply B) requests
    answered late and (count, push B) pushes, every record in one segment."""
    n_req = sum(n for n, _, _ in requests)
    n_push = sum(n for n, _ in pushes)
    return (
        2 * n_req + n_push,
        2 * n_req + n_push,
        sum(n * q for n, q, _ in requests),
        sum(n * a for n, _, a in requests) + sum(n * s for n, s in pushes),
    )


def _codes(r: B.BehaviorScore) -> dict[str, B.Evidence]:
    return {e.code.removeprefix("behavior."): e for e in r.evidence}


def _features(pf: float, pr: float, bf: float, br: float, d: float = HOUR) -> dict[str, np.ndarray]:
    return B.conn_features(*(np.array([x], dtype=float) for x in (d, pf, pr, bf, br)))


def test_kaspa_bridge_answering_late_is_read_job_paced_and_found():
    # a ~185 B share every 10 s answered after the delayed-ACK timer, a ~172 B job every second
    pf, pr, bf, br = late_budget([(360, 185, RESULT_B)], [(3600, 172)])
    f = _features(pf, pr, bf, br)
    assert bool(B.late_paced_reading(f)[0])
    r = B.score_conn(HOUR, pf, pr, bf, br)
    assert r is not None and r.is_mining, r.subscores
    # read with the late ratio and the late job-paced push checks, not the share-size checks the bound assumes
    for held in ("symmetric_packets", "job_sized_pushes", "job_bounded_pushes", "steady_packets"):
        assert held in r.subscores, held
    for unread in ("small_requests", "share_sized_requests", "unlike_share_payload", "one_sided_payload",
                   "heavy_server_pushes"):  # fmt: skip
        assert unread not in r.subscores, unread
    ev = _codes(r)
    assert "late answers" in ev["job_sized_pushes"].text and "迟到应答" in ev["job_sized_pushes"].text_zh
    # the bound: at most 64,800 B / 115 B requests, so at least 4,320 - 2 * 563 pushes
    assert r.stats["late_pushes_per_request"] > B.CONN_LATE_PACED_PUSHES_PER_REQUEST
    assert r.stats["late_pushes_per_s"] >= B.CONN_LATE_PACED_MIN_PUSHES_PER_S


def test_kaspa_bridge_answering_late_was_missed_by_the_review7b_reading():
    # the same session read as if every late client packet pair were a request: 23 B per request, no pushes
    pf, pr, bf, br = late_budget([(360, 185, RESULT_B)], [(3600, 172)])
    f = _features(pf, pr, bf, br)
    assert f["client_payload_per_request"][0] < B.MIN_SHARE_RECORD_B
    assert np.isnan(f["pushes_per_request"][0])


def test_vpn_keepalives_answering_late_are_not_read_job_paced():
    # OpenVPN over TCP: a 63 B ping each way every 10 s, tunnelled requests of ~140 B answered late by ~400 B
    pings = 360
    pf, pr, bf, br = late_budget([(400, 140, 420)], [(pings, 63)])
    pf += pings  # the client's own pings cost one packet each way, like a push the other way round
    pr += pings
    bf += pings * 63
    f = _features(pf, pr, bf, br)
    assert not bool(B.late_paced_reading(f)[0])
    assert f["late_pushes_per_request"][0] <= B.CONN_LATE_PACED_PUSHES_PER_REQUEST
    r = B.score_conn(HOUR, pf, pr, bf, br)
    assert r is not None and not r.is_mining, r.subscores


def test_http2_server_stream_is_not_read_job_paced():
    # gRPC server stream: an ~320 B update every 6 s, each met by a 35 B WINDOW_UPDATE the server ACKs late,
    # and a 39 B PING every 60 s: few client bytes per client packet, as a late Kaspa session, but slow pushes
    # (each WINDOW_UPDATE and the client's ACK of the update it follows are the "request" pair of late_budget,
    # the server's bare ACK of it and the update the "answer" pair)
    pf, pr, bf, br = late_budget([(600, 35, 320), (60, 39, 39)], [])
    f = _features(pf, pr, bf, br)
    assert f["late_pushes_per_s"][0] < B.CONN_LATE_PACED_MIN_PUSHES_PER_S
    assert not bool(B.late_paced_reading(f)[0])
    r = B.score_conn(HOUR, pf, pr, bf, br)
    assert r is not None and not r.is_mining, r.subscores


def test_late_paced_reading_is_vectorised_like_score_conn():
    kas = late_budget([(360, 185, RESULT_B)], [(3600, 172)])
    vpn = late_budget([(400, 140, 420)], [(720, 63)])
    prompt = (1080, 720, 360 * 140, 360 * RESULT_B + 360 * 800)
    rows = np.array([kas, vpn, prompt], dtype=float)
    d = np.full(3, HOUR)
    sub = B.conn_subscores(d, rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3])
    total = sum(sub.values())
    for i, row in enumerate(rows):
        r = B.score_conn(HOUR, *row)
        assert r is not None
        assert total[i] == r.score, (i, r.subscores)


def prompt_budget(requests: list[tuple[int, int, int]], pushes: list[tuple[int, int]], late: int = 0
                  ) -> tuple[int, int, int, int]:
    """Totals of (count, request B, reply B) requests answered within the client's delayed-ACK timer (two client
    packets, one server packet), `late` of them answered after the server's own ACK timer (two packets each way),
    and (count, push B) pushes."""
    n_req = sum(n for n, _, _ in requests)
    n_push = sum(n for n, _ in pushes)
    return (
        2 * n_req + n_push,
        n_req + late + n_push,
        sum(n * q for n, q, _ in requests),
        sum(n * a for n, _, a in requests) + sum(n * s for n, s in pushes),
    )


def test_unary_rpc_whose_few_answers_straddle_the_ack_timer_has_no_pushes():
    # 20 calls a minute (200 B request, 100 B answer), 10 of 1,200 answered after the server's delayed-ACK timer:
    # each costs two packets each way, which the budget reads as pushes, ~0.7 per 600 s after the merged ACKs
    pf, pr, bf, br = prompt_budget([(1200, 200, 100)], [], late=10)
    r = B.score_conn(HOUR, pf, pr, bf, br)
    assert r is not None
    assert B.MIN_PUSHES_PER_BLOCK < r.stats["pushes_per_slowest_block"] < B.CONN_MIN_PUSHES_PER_BLOCK
    assert r.subscores.get("no_pushes") == -20.0 and not r.is_mining, r.subscores
    ev = _codes(r)
    assert "300 s" in ev["no_pushes"].text and "300 秒" in ev["no_pushes"].text_zh
    # every other conn test holds: without the check it would score 75
    assert r.score == 55.0


def test_cryptonote_pool_pushing_only_on_300_s_blocks_keeps_its_pushes():
    # XMRig: a ~200 B share every 30 s answered by a ~90 B status, a ~400 B job per 300 s block (the slowest
    # CryptoNote coin in the table, whose pools push on new blocks only)
    pf, pr, bf, br = prompt_budget([(120, 200, 90)], [(12, 400)])
    r = B.score_conn(HOUR, pf, pr, bf, br)
    assert r is not None and r.is_mining, r.subscores
    assert r.stats["pushes_per_slowest_block"] >= B.CONN_MIN_PUSHES_PER_BLOCK
    assert "pushes_present" in r.subscores and "no_pushes" not in r.subscores


def test_mqtt_publisher_with_pushed_commands_fails_pushes_fit_jobs():
    # QoS 1 publishes of 170 B answered by 4 B PUBACKs (26 B in TLS 1.3), and 126 pushed 250 B commands: every
    # other conn test holds, but even with 58 B answers the pushes could carry only ~95 B each
    pf, pr, bf, br = prompt_budget([(600, 170, 26)], [(126, 250)])
    r = B.score_conn(HOUR, pf, pr, bf, br)
    assert r is not None
    assert r.stats["push_payload_per_push_most"] < B.MIN_JOB_EXCESS_B
    assert r.subscores.get("small_pushes") == -20.0 and not r.is_mining, r.subscores
    assert r.score == 55.0  # 75 without the check
    ev = _codes(r)
    assert "58 B" in ev["small_pushes"].text and "58 字节" in ev["small_pushes"].text_zh


def test_stratum_pool_pushes_fit_jobs():
    # 140 B shares every 6 s answered by 58 B results, an ~800 B notify every 30 s
    pf, pr, bf, br = prompt_budget([(600, 140, 58)], [(120, 800)])
    r = B.score_conn(HOUR, pf, pr, bf, br)
    assert r is not None and r.is_mining, r.subscores
    assert r.stats["push_payload_per_push_most"] >= 800.0  # an upper bound: at least the real job
    assert "pushes_fit_jobs" in r.subscores and "small_pushes" not in r.subscores


def test_ethereumstratum_submits_pass_the_share_check_with_header_sized_pushes():
    # EthereumStratum/1.0.0 on ETC: 108 B submits (a 5-character worker and a two-digit id) every 20 s answered by
    # 58 B results, a ~237 B header-hash job per 13 s block: below Stratum's 115 B, above EthereumStratum's 101 B
    pf, pr, bf, br = prompt_budget([(180, 108, RESULT_B)], [(277, 237)])
    r = B.score_conn(HOUR, pf, pr, bf, br)
    assert r is not None
    assert B.MIN_HEADER_SHARE_RECORD_B <= r.stats["client_payload_per_request"] < B.MIN_SHARE_RECORD_B
    assert "share_sized_requests" in r.subscores and "small_requests" not in r.subscores
    ev = _codes(r)
    assert "EthereumStratum" in ev["share_sized_requests"].text and "EthereumStratum" in ev["share_sized_requests"].text_zh
    assert r.is_mining, r.subscores


def test_short_requests_with_kilobyte_pushes_keep_the_stratum_share_floor():
    # the same 108 B requests, but the server's pushes are ~900 B (a WebSocket's events, or Stratum v1 jobs, whose
    # submits are at least 115 B): the header-job floor does not apply
    pf, pr, bf, br = prompt_budget([(180, 108, RESULT_B)], [(60, 900)])
    r = B.score_conn(HOUR, pf, pr, bf, br)
    assert r is not None
    assert r.stats["push_payload_per_push"] > B.MAX_HEADER_JOB_RECORD_B
    assert r.subscores.get("small_requests") == -20.0 and not r.is_mining, r.subscores


def test_late_stratum_session_counts_the_pushes_its_server_bytes_need():
    # Stratum answered late: a 130 B share every 10 s, a ~900 B job every 30 s. Read as if every pair of client
    # packets were a request, the pushes' ACKs dilute the request to 111 B (`small_requests`); the server's bytes
    # beyond the answers need at least (payload_rev - payload_fwd / 2) / 1,250 B pushes, which are not requests
    pf, pr, bf, br = late_budget([(360, 130, RESULT_B)], [(120, 900)])
    assert 2.0 * bf / pf < B.MIN_SHARE_RECORD_B
    r = B.score_conn(HOUR, pf, pr, bf, br)
    assert r is not None
    assert B.MIN_SHARE_RECORD_B <= r.stats["client_payload_per_request"] < 130.0  # a lower bound on the share
    assert "share_sized_requests" in r.subscores and "small_requests" not in r.subscores
    assert r.is_mining and r.score == 75.0, r.subscores


def test_late_vpn_keepalives_stay_small_requests_with_the_push_allowance():
    # the OpenVPN session above: even with the fewest pushes its server bytes need, its requests average < 115 B
    pings = 360
    pf, pr, bf, br = late_budget([(400, 140, 420)], [(pings, 63)])
    pf, pr, bf = pf + pings, pr + pings, bf + pings * 63
    r = B.score_conn(HOUR, pf, pr, bf, br)
    assert r is not None
    assert 2.0 * bf / pf < r.stats["client_payload_per_request"] < B.MIN_SHARE_RECORD_B
    assert r.subscores.get("small_requests") == -20.0 and not r.is_mining, r.subscores
