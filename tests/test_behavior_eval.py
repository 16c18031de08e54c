"""The labelled encrypted-mining benchmark on a fixed seed: the issue's target, asserted as stated.

Target (issue 4 item 6): recall >= 95 % at a false-positive rate <= 0.1 % of long-lived flows.
On this set (seed 4242: 240 mining, 3,000 benign) the packet-timeline view meets it, and so do the
60 s slices (recall 0.979, no false positive since `result_sized_replies` names MQTT's 4-byte PUBACKs;
held-out seed 2024 in docs/behavior.md). Since round 3 the Zeek-conn view meets it on this seed, at the
limit (3 false positives in 3,000); on held-out seed 2024 it does not (docs/behavior.md).
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from minewatch.evaluate import encrypted as E

SEED = 4242


@pytest.fixture(scope="module")
def result():
    return E.evaluate_scripts(E.make_scripts(240, 3000, SEED, extended=False), seed=SEED)


@pytest.mark.slow
def test_timeline_view_meets_target(result):
    m = result["timeline"]
    assert m["recall"] >= 0.95, m
    assert m["fpr"] <= 0.001, m


@pytest.mark.slow
def test_slices_view_meets_target_on_this_seed(result):
    m = result["slices"]
    assert m["recall"] >= 0.95 and m["fpr"] <= 0.001, m
    # no benign kind may be flagged more than once in 3,000 (event MQTT was the residual before the reply-size test)
    for kind, k in m["per_kind"].items():
        if kind not in E.MINING_KINDS:
            assert k["flagged"] <= 1, (kind, k)


@pytest.mark.slow
def test_conn_view_meets_target_on_this_seed(result):
    # round 3 (job_sized_pushes, share_sized_requests): recall 0.992 with 3 false positives in 3,000, exactly
    # the 0.1 % limit. On held-out seed 2024 conn totals still miss it (FPR 0.175 %, docs/behavior.md).
    m = result["conn"]
    assert m["recall"] >= 0.95 and m["fpr"] <= 0.001, m


@pytest.mark.slow
def test_one_way_netflow_records_meet_target_on_this_seed(result):
    # each direction cut by its own cache (60 s active, 15 s inactive timeout), laid on one grid again
    m = result["netflow"]
    assert m["recall"] >= 0.95 and m["fpr"] <= 0.001, m


@pytest.mark.slow
def test_every_mining_kind_is_found_in_captures(result):
    for kind in E.REVIEW5_MINING:
        k = result["timeline"]["per_kind"][kind]
        assert k["flagged"] / k["n"] >= 0.9, (kind, k)


def test_views_derive_from_the_same_packets():
    sc = E.mining_script(np.random.default_rng(1), "xmrig_xmr", 3600)
    mt, md, ml = E.script_messages(sc, np.random.default_rng(2))
    t, d, ln = E.wire_packets(mt, md, ml, sc.rtt)
    sv = E.slice_view(t, d, ln, float(t.min()))
    cv = E.conn_view(t, d, ln)
    assert sv["packets_fwd"].sum() == cv["packets_fwd"]
    assert sv["bytes_rev"].sum() == cv["payload_rev"] + E.HDR_BYTES * cv["packets_rev"]
    assert cv["payload_fwd"] == ml[md == 0].sum()
    assert np.all(np.diff(sv["slice_start"]) >= E.SLICE_S)


@pytest.mark.slow
@pytest.mark.tools
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_real_tls_over_loopback_agrees_with_simulator():
    try:
        r = E.real_benchmark(n_mining=4, n_benign=4, seed=3, sim_minutes=40)
    except (PermissionError, RuntimeError) as e:  # no capture rights on lo in this environment
        pytest.skip(f"cannot capture on lo: {e}")
    assert r["flows"] == 8
    assert r["timeline_real"]["fp"] == 0, r["timeline_real"]
    assert r["timeline_real"]["recall"] >= 0.75, r["timeline_real"]
    assert r["timeline_verdict_agreement"] == 1.0
    for f in r["per_flow"]:  # same JSON, same TLS 1.3 overhead: record sizes must agree within a few bytes
        if f["label"] == 1:
            assert abs(f["median_client_record_real"] - f["median_client_record_sim"]) <= 4, f
