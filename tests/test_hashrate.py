"""Hashrate-from-shares formulas, worked by hand."""

from __future__ import annotations

import math

import pytest

from minewatch.net.coins import family_of, host_coin, infer_coin
from minewatch.net.hashrate import (
    ShareAccumulator,
    cryptonote_target_difficulty,
    estimate_hashrate,
    hashes_per_share,
    target256_hashes,
)


def test_sha256d_hand_worked():
    # 11 shares at difficulty 1024, one every 60 s: shares 2..11 carry 10 x 1024 x 2^32 hashes in 600 s.
    events = [(60.0 * i, hashes_per_share("sha256d", 1024.0)) for i in range(11)]
    est = estimate_hashrate(events, "sha256d")
    assert est is not None
    assert est.hashrate_hs == pytest.approx(10 * 1024 * 2**32 / 600)  # 73.3 GH/s
    assert est.hashrate_hs == pytest.approx(7.3300e10, rel=1e-4)
    rel = 1.96 / math.sqrt(10)
    assert est.low_hs == pytest.approx(est.hashrate_hs * math.exp(-rel))
    assert est.high_hs == pytest.approx(est.hashrate_hs * math.exp(rel))
    assert est.low_hs < est.hashrate_hs < est.high_hs


def test_scrypt_uses_2_16():
    assert hashes_per_share("scrypt", 2.0) == 2 * 65536
    events = [(0.0, 131072.0), (50.0, 131072.0), (100.0, 131072.0)]
    est = estimate_hashrate(events, "scrypt")
    assert est is not None and est.hashrate_hs == pytest.approx(2 * 131072 / 100)


def test_cryptonote_target():
    # "69ba0000" little-endian = 0x0000ba69 = 47721; difficulty = 2^32 / 47721
    assert cryptonote_target_difficulty("69ba0000") == pytest.approx(2**32 / 47721)
    # 8 bytes little-endian: byte 5 = 0x01 -> 2^40; difficulty 2^64 / 2^40
    assert cryptonote_target_difficulty("0000000000010000") == pytest.approx(2**24)
    assert cryptonote_target_difficulty("zz") is None
    assert cryptonote_target_difficulty("00000000") is None


def test_target256():
    assert target256_hashes(
        "0x00000000ffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
    ) == pytest.approx(2**32)
    # Zcash set_target 0004189300.. -> 2^256 / (0x41893 << 224 shifted) = 2^32 / 0x41893 solutions per share
    t = "0004189300000000000000000000000000000000000000000000000000000000"
    assert target256_hashes(t) == pytest.approx(2**32 / 0x00041893)
    assert target256_hashes("0x0") is None
    assert target256_hashes("0x" + "f" * 65) is None


def test_no_estimate_with_few_shares_or_short_span():
    two = [(0.0, 1e9), (100.0, 1e9)]
    assert estimate_hashrate(two, "sha256d") is None
    short = [(0.0, 1e9), (10.0, 1e9), (20.0, 1e9), (30.0, 1e9)]
    assert estimate_hashrate(short, "sha256d") is None


def test_out_of_order_and_bad_values_ignored():
    acc = ShareAccumulator()
    for ts, h in [(100.0, 10.0), (0.0, 10.0), (200.0, 10.0), (150.0, float("nan")), (120.0, -1.0)]:
        acc.add(ts, h)
    est = acc.estimate("cryptonote")
    assert est is not None and est.n_shares == 3
    assert est.hashrate_hs == pytest.approx(20.0 / 200.0)


def test_interval_narrows_with_more_shares():
    few = estimate_hashrate([(i * 30.0, 1e6) for i in range(5)], "cryptonote")
    many = estimate_hashrate([(i * 30.0, 1e6) for i in range(101)], "cryptonote")
    assert few and many
    assert (many.high_hs / many.low_hs) < (few.high_hs / few.low_hs)


def test_units():
    est = estimate_hashrate([(0.0, 16000.0), (60.0, 16000.0), (120.0, 16000.0)], "equihash")
    assert est is not None and est.unit == "Sol/s"


@pytest.mark.parametrize(
    ("kwargs", "coin", "algorithm"),
    [
        ({"agent": "XMRig/6.21.0"}, "monero", "randomx"),
        ({"agent": "XMRig/6.21.0", "algo": "kawpow"}, "ravencoin", "kawpow"),
        ({"agent": "cgminer/4.10.0"}, None, None),  # scrypt ASIC firmware too: no claim (review 6, D4)
        ({"agent": "ethminer-0.19"}, None, "ethash"),
        ({"agent": "ethminer-0.19", "hosts": ("eth-eu1.nanopool.org",)}, "ethereum", "ethash"),
        ({"hosts": ("etc.2miners.com",)}, "ethereum-classic", "etchash"),
        ({"hosts": ("xmr-eu1.nanopool.org",)}, "monero", "randomx"),
        ({"hosts": ("zec-eu.suprnova.cc",), "agent": "equihashminer"}, "zcash", "equihash-200-9"),
        ({"wallet_coin": "litecoin", "agent": "cgminer/4"}, "litecoin", "scrypt"),
        ({"hosts": ("www.ethz.ch",)}, None, None),
        ({}, None, None),
    ],
)
def test_infer_coin(kwargs, coin, algorithm):
    g = infer_coin(**kwargs)
    assert (g.coin, g.algorithm) == (coin, algorithm)


def test_family_and_host_tokens():
    assert family_of("rx/0") == "cryptonote"
    assert family_of(None, "kaspa") == "kheavyhash"
    assert host_coin("rvn-eu1.example-pool.org") == ("ravencoin", "rvn")
    assert host_coin("example.com") is None
    assert host_coin("us2.litecoinpool.org") == ("litecoin", "litecoin")
    assert host_coin("pool.supportxmr.com") == ("monero", "supportxmr")
    assert host_coin("xmrpool.eu") == ("monero", "xmr")
    assert host_coin("kasse.de") is None and host_coin("www.ethz.ch") is None


def test_rates_are_shown_in_their_familys_unit():
    """Equihash shares count solutions: an estimate in Sol/s was printed as H/s in the tables, the report
    and the finding page."""
    from minewatch.net.hashrate import format_rate

    assert format_rate(4.2e5, "equihash-200-9") == "420.00 kSol/s"
    assert format_rate(4.2e5, None, "zcash") == "420.00 kSol/s"
    assert format_rate(1.06e14, "sha256d") == "106.00 TH/s"
    assert format_rate(11230.0, "rx/0") == "11.23 kH/s"
    assert format_rate(None) == "—" and format_rate(0.0) == "—"
