"""The content-blind kernels on sessions made by the benchmark's generator, plus the block feed."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pytest

from minewatch.errors import InputError, Rejects
from minewatch.evaluate import encrypted as E
from minewatch.model import FLOW_SCHEMA
from minewatch.net import behavior as B
from minewatch.net.blocks import read_blocks_csv

EPOCH = 1.7e9


def packets(sc: E.Script, seed: int = 0):
    rng = np.random.default_rng(seed)
    mt, md, ml = E.script_messages(sc, rng)
    t, d, ln = E.wire_packets(mt, md, ml, sc.rtt)
    return t + EPOCH, d, ln


def timeline(sc: E.Script, **kw):
    t, d, ln = packets(sc)
    pay = ln > 0
    return B.score_timeline(t[pay], d[pay], ln[pay], first_ts=t.min(), last_ts=t.max(), **kw)


def test_messages_merge_segments_and_modes():
    t = np.array([0.0, 0.0001, 0.5, 0.6, 0.6001])
    d = np.array([0, 0, 1, 0, 0])
    ln = np.array([1448, 100, 40, 200, 0])
    _mt, md, ml = B.to_messages(t, d, ln)
    assert list(md) == [0, 1, 0]
    assert list(ml) == [1548, 40, 200]
    modes = B.size_modes(np.array([150, 151, 152, 400, 150, 900]))
    assert modes[0][1] == 4 and abs(modes[0][0] - 150.5) < 1


def test_exponential_gaps_pass_ks_and_clock_gaps_fail():
    rng = np.random.default_rng(3)
    g = rng.exponential(10.0, 400)
    assert B.exp_ks(g) < B.ks_critical(g.size)
    periodic = 10.0 + rng.normal(0, 0.05, 400)
    assert B.exp_ks(periodic) > 3 * B.ks_critical(periodic.size)


def test_xmrig_session_is_flagged_with_named_parts():
    sc = E.mining_script(np.random.default_rng(11), "xmrig_xmr", 2 * 3600)
    r = timeline(sc)
    assert r is not None and r.is_mining
    assert {"long_lived", "share_poisson", "share_size_constant", "request_response"} <= set(r.subscores)
    assert all(e.text and e.text_zh for e in r.evidence)
    assert r.score == pytest.approx(min(100.0, sum(r.subscores.values())), abs=0.11)


def test_btc_proxy_is_flagged_and_single_miner_shows_refresh_timer():
    sc = E.mining_script(np.random.default_rng(5), "proxy_btc", 3 * 3600)
    r = timeline(sc)
    assert r is not None and r.is_mining
    rng = np.random.default_rng(6)
    sc = E.mining_script(rng, "stratum_btc", 3 * 3600)
    while sc.meta["refresh"] is None or sc.meta["rate"] > 0.2:
        sc = E.mining_script(rng, "stratum_btc", 3 * 3600)
    r = timeline(sc)
    assert r is not None and r.subscores.get("job_refresh") == 5.0
    assert r.stats["coin"] in ("BTC", "BCH", "LTC")  # block time estimated from few blocks


@pytest.mark.parametrize("kind", ["mqtt_telemetry", "ssh_interactive", "grpc_stream", "websocket", "video"])
def test_benign_long_lived_sessions_are_not_flagged(kind):
    rng = np.random.default_rng(21)
    flagged = 0
    for _ in range(8):
        r = timeline(E.benign_script(rng, kind, 2 * 3600))
        flagged += int(r is not None and r.is_mining)
    assert flagged == 0


def test_keyboard_bursts_are_penalised():
    sc = E.benign_script(np.random.default_rng(2), "ssh_interactive", 3 * 3600)
    r = timeline(sc)
    assert r is not None and r.subscores.get("bursty_client", 0) < 0


def test_short_connection_is_not_judged():
    sc = E.mining_script(np.random.default_rng(1), "stratum_btc", 200)
    assert timeline(sc) is None
    assert B.score_conn(120.0, 10, 10, 1000, 1000) is None
    assert B.score_conn(None, 10, 10, 1000, 1000) is None


def test_block_feed_correlation_names_the_coin_and_a_wrong_feed_does_not():
    rng = np.random.default_rng(8)
    sc = E.mining_script(rng, "stratum_ltc", 3 * 3600)
    # block arrivals = the pushes the generator tagged as blocks, minus the pool's 0.1-2 s delay
    real = np.array([t for t, _s, tag in sc.pushes if tag == "block"]) + EPOCH - 1.0
    wrong = np.sort(rng.uniform(EPOCH, EPOCH + 3 * 3600, real.size))
    good = timeline(sc, blocks={"LTC": real})
    bad = timeline(sc, blocks={"LTC": wrong})
    assert good is not None and good.subscores.get("block_correlation", 0) > 0 and good.coin == "LTC"
    assert bad is not None and "block_correlation" not in bad.subscores


def test_finding_fields_and_flow_table_paths():
    sc = E.mining_script(np.random.default_rng(4), "xmrig_xmr", 2 * 3600)
    r = timeline(sc)
    f = B.to_finding(r, B.FlowMeta(src_ip="10.0.0.5", src_port=40000, dst_ip="192.0.2.9", dst_port=443,
                                   first_ts=EPOCH, last_ts=EPOCH + 7200, sni="example.net"))
    assert f is not None
    assert (f.kind, f.detector, f.encrypted, f.variant) == ("mining", "net.behavior", True, "tls")
    assert f.extra["behavior_view"] == "timeline"
    assert B.to_finding(r, B.FlowMeta(), threshold=101) is None
    # time-sliced rows and totals rows in FLOW_SCHEMA
    t, d, ln = packets(sc)
    sv = E.slice_view(t, d, ln, float(t.min()))
    rows = []
    for i in range(sv["slice_start"].size):
        rows.append({
            "src_ip": "10.0.0.5", "src_port": 40000, "dst_ip": "192.0.2.9", "dst_port": 8443, "transport": "tcp",
            "packets_fwd": int(sv["packets_fwd"][i]), "packets_rev": int(sv["packets_rev"][i]),
            "bytes_fwd": int(sv["bytes_fwd"][i]), "bytes_rev": int(sv["bytes_rev"][i]),
            "slice_start": datetime.fromtimestamp(sv["slice_start"][i], UTC),
            "slice_end": datetime.fromtimestamp(sv["slice_end"][i], UTC),
        })
    cv = E.conn_view(t, d, ln)
    rows.append({
        "src_ip": "10.0.0.6", "src_port": 40001, "dst_ip": "192.0.2.9", "dst_port": 8443, "transport": "tcp",
        "duration_ms": cv["duration_s"] * 1000, "packets_fwd": int(cv["packets_fwd"]),
        "packets_rev": int(cv["packets_rev"]), "payload_bytes_fwd": int(cv["payload_fwd"]),
        "payload_bytes_rev": int(cv["payload_rev"]), "dns_name": "xmr.pool.example",
    })
    table = pa.Table.from_pylist(rows, schema=FLOW_SCHEMA)
    found = B.findings_from_flow_table(table)
    views = sorted(f.extra["behavior_view"] for f in found)
    assert views == ["conn", "slices"]
    conn = next(f for f in found if f.extra["behavior_view"] == "conn")
    assert "pool_like_name" in conn.subscores and conn.variant == "unknown"


def test_block_csv_reader(tmp_path):
    p = tmp_path / "blocks.csv"
    p.write_text("coin,height,timestamp\nxmr,1,1700000000\nXMR,2,2023-11-14T22:15:20Z\nBTC,x,1\nBTC,5,1700000000000\n")
    rej = Rejects()
    b = read_blocks_csv(p, rej)
    assert list(b["XMR"]) == [1700000000.0, 1700000120.0]
    assert list(b["BTC"]) == [1700000000.0]
    assert rej.total == 1 and ":4" in rej.examples[0]
    bad = tmp_path / "bad.csv"
    bad.write_text("coin,when\nXMR,1\n")
    with pytest.raises(InputError) as ei:
        read_blocks_csv(bad)
    assert ei.value.line == 1 and "bad.csv" in str(ei.value)
