"""Hand-worked examples for every conversion: kWh, coal, CO2, hashprice, threshold, break-even, payback."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from minewatch.assess import economics as eco
from minewatch.assess.energy import (
    co2_factor,
    co2_tonnes,
    coal_factor,
    coal_tonnes,
    kwh_between,
    kwh_per_year,
    load_factors,
)
from minewatch.assess.network import halving_schedule, read_metrics, subsidy_at_height, subsidy_on


def test_kwh_per_year_and_between():
    assert kwh_per_year(3250) == pytest.approx(3250 * 8766)  # 365.25 d x 24 h
    assert kwh_per_year(100, uptime=0.5) == pytest.approx(438_300)
    s = datetime(2021, 1, 1, tzinfo=UTC)
    assert kwh_between(100, s, datetime(2021, 1, 3, tzinfo=UTC)) == pytest.approx(4800)
    assert kwh_between(100, "2021-01-01T00:00:00Z", "2021-01-01T06:00:00Z") == pytest.approx(600)
    with pytest.raises(ValueError):
        kwh_between(100, datetime(2021, 1, 3, tzinfo=UTC), s)


def test_coal_seed_figure_identifies_equivalent_value_convention():
    """5.2 bn kWh ~ 1.6 Mt standard coal only under the equivalent-value (coal-for-power) convention."""
    eq = coal_factor()  # the default
    assert eq.name == "coal_factor_equivalent"
    assert coal_tonnes(5.2e9, eq.value) == pytest.approx(1.6e6, rel=0.02)
    cal = coal_factor("calorific")
    assert cal.value == pytest.approx(0.1229)
    assert coal_tonnes(5.2e9, cal.value) == pytest.approx(0.639e6, rel=0.01)
    implied = 1.6e9 / 5.2e9  # kgce/kWh
    assert abs(implied - eq.value) < abs(implied - cal.value) / 10
    assert coal_factor(0.3).value == 0.3
    with pytest.raises(ValueError):
        coal_factor("lignite")


def test_coal_default_configurable_by_yaml(tmp_path):
    p = tmp_path / "f.yaml"
    p.write_text("coal:\n  default: calorific\n", encoding="utf-8")
    f = load_factors(p)
    assert coal_factor(None, f).value == pytest.approx(0.1229)
    assert f["co2"]["countries"]["CN"]["value"] == pytest.approx(0.5366)  # untouched keys survive the merge


def test_co2_factors():
    assert co2_factor().value == pytest.approx(0.5366)
    assert co2_tonnes(5.2e9, co2_factor().value) == pytest.approx(2.79e6, rel=0.001)
    assert co2_factor("Sichuan").value == pytest.approx(0.1404)
    hebei = co2_factor("hebei")  # 2022 provincial factor (MEE/NBS), not the 2012 North grid average 0.8843
    assert hebei.value == pytest.approx(0.7252) and hebei.name == "co2_factor_hebei"
    assert co2_factor("inner mongolia").value == pytest.approx(0.6849)
    shandong = co2_factor("shandong")  # no provincial value on record: the 2022 North China grid average
    assert shandong.value == pytest.approx(0.6776) and "shandong" in shandong.source
    assert co2_factor(country="US").value < co2_factor(country="KZ").value
    assert co2_factor(value=0.1).value == 0.1
    with pytest.raises(ValueError):
        co2_factor("atlantis")
    with pytest.raises(ValueError):
        co2_factor(country="XX")


def test_hashprice_from_difficulty_hand_worked():
    # D = 1e14, reward 3.125 BTC, price 100k USD: 8.64e16 / (1e14 * 2^32) blocks/day * 3.125 * 1e5
    assert eco.hashprice_from_difficulty(1e14, 3.125, 100_000) == pytest.approx(0.06287, rel=1e-3)
    assert eco.hashprice_from_revenue(60e6, 170e6) == pytest.approx(0.352941, rel=1e-5)
    with pytest.raises(ValueError):
        eco.hashprice_from_revenue(1, 0)


def test_threshold_hand_worked():
    # Rev 60 M USD/day, 170 EH/s, 0.05 USD/kWh -> ~294 J/TH (CBECI's worked check)
    assert eco.profitability_threshold_j_per_gh(60e6, 170e6, 0.05) == pytest.approx(0.2941, rel=1e-3)
    # doubling the price halves the threshold
    assert eco.profitability_threshold_j_per_gh(60e6, 170e6, 0.10) == pytest.approx(0.14706, rel=1e-3)


def test_break_even_and_payback_hand_worked():
    # 34.2 J/TH uses 0.8208 kWh per TH/s per day; at 0.377 USD/TH/day that breaks even at 0.4593 USD/kWh
    assert eco.break_even_tariff(34.2, 0.377) == pytest.approx(0.4593, rel=1e-3)
    assert eco.break_even_tariff(34.2, 0.377, pue=1.1, fx=7.0) == pytest.approx(0.4593 * 7 / 1.1, rel=1e-3)
    # the break-even tariff indeed zeroes the profit
    be = eco.break_even_tariff(20.0, 0.05)
    assert eco.revenue_per_day(1.0, 0.05) == pytest.approx(eco.electricity_cost_per_day(0.020, be))
    assert eco.payback_days(1785, 10) == pytest.approx(178.5)
    assert eco.payback_days(1785, -1) is None
    assert eco.payback_days(None, 10) is None


@pytest.mark.shared
def test_hashprice_two_ways_agree_on_real_day(shared):
    """Revenue/hashrate equals the difficulty formula on Coin Metrics data (HashRate is derived from it)."""
    day = next(d for d in read_metrics(shared / "btc" / "btc.csv") if d.day == date(2021, 5, 10))
    per_block_btc = (day.issuance_btc + day.fees_btc) / day.blocks
    hp = eco.hashprice_from_difficulty(day.difficulty, per_block_btc, day.price_usd)
    assert hp == pytest.approx(day.hashprice_usd, rel=1e-6)
    assert 0.3 < hp < 0.5  # May 2021 boom


def test_halvings():
    assert subsidy_at_height(0) == 50
    assert subsidy_at_height(209_999) == 50
    assert subsidy_at_height(210_000) == 25
    assert subsidy_at_height(840_000) == 3.125
    assert subsidy_at_height(64 * 210_000) == 0
    assert subsidy_on(date(2020, 5, 10)) == 12.5
    assert subsidy_on(date(2020, 5, 11)) == 6.25
    assert subsidy_on(date(2024, 4, 20)) == 3.125
    sched = halving_schedule(5)
    assert [s["expected"] for s in sched] == [False, False, False, False, True]
    assert sched[4]["date"].startswith("2028")
