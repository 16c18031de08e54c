"""A host's hashrate per algorithm, each in its own unit, sessions added only while concurrent (review item 1).

Before: `rollup_by_host` summed the top rate per pool over every algorithm, and the host line printed
it as H/s when the host had several coins: Zcash's 348 Sol/s showed as "348 H/s" beside Ethereum and
Monero sessions, and two Zcash sessions one after the other (348 then 480 Sol/s) made "828 Sol/s".
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from minewatch.cli import app
from minewatch.model import Finding
from minewatch.net.findings import rollup_by_host
from minewatch.net.hashrate import peak_concurrent_rate, unit_of
from minewatch.scan_cli import Format, Group, emit, host_rates_text

T0 = datetime(2017, 1, 16, 15, 56, tzinfo=UTC)
PCAPS = Path(__file__).resolve().parents[2] / "shared" / "data" / "pcap"


def session(start_min: float, minutes: float, rate: float, coin: str | None, algorithm: str | None,
            pool: str, host: str = "147.229.13.222") -> Finding:
    return Finding(kind="mining", detector="net.stratum", score=95.0, subscores={"protocol": 60.0}, evidence=[],
                   first_seen=T0 + timedelta(minutes=start_min), last_seen=T0 + timedelta(minutes=start_min + minutes),
                   src_ip=host, src_port=40000, dst_ip="203.0.113.7", dst_port=3333, transport="tcp",
                   coin=coin, algorithm=algorithm, pool_host=pool, hashrate_hs=rate)


def test_peak_of_concurrent_sessions():
    assert peak_concurrent_rate([(0, 100, 348.0), (200, 300, 480.0)]) == 480.0  # one after the other
    assert peak_concurrent_rate([(0, 100, 348.0), (50, 300, 480.0)]) == 828.0  # overlapping
    assert peak_concurrent_rate([(0, 100, 5.0), (100, 200, 7.0)]) == 7.0  # one ends as the next starts
    assert peak_concurrent_rate([(0, 100, 5.0), (None, None, 9.0)]) == 9.0  # untimed: compared, never added
    assert peak_concurrent_rate([(10, 10, 4.0), (0, 20, 3.0)]) == 7.0  # an instant inside another session
    assert peak_concurrent_rate([]) is None
    assert (unit_of("equihash-200-9"), unit_of(None, "zcash"), unit_of("ethash"), unit_of(None)) == (
        "Sol/s", "Sol/s", "H/s", "H/s")


def test_two_zcash_sessions_in_turn_are_not_added():
    [h] = rollup_by_host([session(0, 4, 479.4, "zcash", "equihash-200-9", "zec-eu1.nanopool.org"),
                          session(5, 2, 348.3, "zcash", "equihash-200-9", "zec-eu.suprnova.cc")])
    assert h.hashrate_hs == pytest.approx(479.4)
    assert [(a.algorithm, a.unit, a.sessions) for a in h.hashrates] == [("equihash-200-9", "Sol/s", 2)]


def test_several_algorithms_keep_their_own_rates_and_units(capsys):
    found = [
        session(0, 4, 479.4, "zcash", "equihash-200-9", "zec-eu1.nanopool.org"),
        session(10, 5, 31.2e6, "ethereum", "ethash", "eth-eu1.nanopool.org"),
        session(20, 5, 750.0, "monero", None, "xmr-eu1.nanopool.org"),  # algorithm from the coin
    ]
    [h] = rollup_by_host(found)
    assert h.hashrate_hs is None  # no single number for three units
    rec = h.to_record()
    assert [(x["algorithm"], x["unit"]) for x in rec["hashrates"]] == [
        ("equihash-200-9", "Sol/s"), ("ethash", "H/s"), ("randomx", "H/s")]
    assert host_rates_text(h) == "equihash-200-9 479 Sol/s; ethash 31.20 MH/s; randomx 750 H/s"
    emit(found, Format.table, Group.session)
    out = capsys.readouterr().out
    host_table = out[: out.index("Sessions")]
    assert "Sol/s" in host_table and "MH/s" in host_table and "31,200,479" not in out


def test_host_rows_in_jsonl_carry_rates_per_algorithm():
    import io

    buf = io.StringIO()
    emit([session(0, 4, 479.4, "zcash", "equihash-200-9", "a"), session(1, 4, 10.0, "zcash", None, "b")],
         Format.jsonl, Group.host, out=buf)
    [row] = [json.loads(x) for x in buf.getvalue().splitlines()]
    assert row["hashrates"] == [{"algorithm": "equihash-200-9", "rate": pytest.approx(489.4), "unit": "Sol/s",
                                 "sessions": 2}]
    assert row["hashrate_hs"] == pytest.approx(489.4)  # overlapping sessions of one algorithm do add


@pytest.mark.skipif(not (PCAPS / "nesfit__zec-eu1.nanopool.org.pcapng").exists(),
                    reason="shared captures (../shared/data/pcap) not present")
def test_shared_zcash_captures_scanned_together(tmp_home):
    files = [str(PCAPS / f"nesfit__{n}.pcapng") for n in ("zec-eu.suprnova.cc", "zec-eu1.nanopool.org")]
    r = CliRunner().invoke(app, ["scan", *files, "--no-store", "-q", "--format", "jsonl", "--group", "host"])
    assert r.exit_code == 0, r.output
    [row] = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    [rate] = row["hashrates"]
    assert rate["unit"] == "Sol/s" and rate["sessions"] == 2
    assert 400 < rate["rate"] < 600  # the larger of two sessions in turn, not their sum (~828)


@pytest.mark.parametrize(("alg", "coin", "rate"), [("rx/0", "monero", 5000.0), ("RandomX", "monero", 5000.0),
                                                   ("equihash", "zcash", 300.0), ("rx/wow", "wownero", 900.0)])
def test_one_algorithm_under_several_spellings_is_one_rate(alg, coin, rate):
    """Review: XMRig's "rx/0" beside a session known only as Monero ("randomx") were two algorithms, so a
    reconnecting rig had no host rate (hashrate_hs None) and two rows; "equihash" vs "equihash-200-9" too."""
    [h] = rollup_by_host([session(0, 30, rate, coin, alg, "pool.example.net"),
                          session(31, 30, rate, coin, None, "pool.example.net")])
    assert h.hashrate_hs == rate  # one after the other: the same machines measured again, not added
    assert [(a.sessions) for a in h.hashrates] == [2]
    [h] = rollup_by_host([session(0, 30, rate, coin, alg, "a.example.net"),
                          session(10, 30, rate, coin, None, "b.example.net")])
    assert h.hashrate_hs == 2 * rate  # at the same time: added


def test_canonical_algorithm_names():
    from minewatch.net.coins import COINS, canonical_algorithm

    assert canonical_algorithm("rx/0") == canonical_algorithm("randomx") == canonical_algorithm("RandomXMonero")
    assert canonical_algorithm("equihash") == canonical_algorithm("Equihash_200_9") == "equihash-200-9"
    assert canonical_algorithm("zhash") == "equihash-144-5"
    assert canonical_algorithm(None) is None and canonical_algorithm(" ") is None
    for c in COINS.values():  # the coin table's own names are the canonical ones
        assert canonical_algorithm(c.algorithm) == c.algorithm
