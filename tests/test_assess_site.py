"""Site assessment from power and from hashrate, against hand-worked figures."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from minewatch.assess.network import NetworkSnapshot
from minewatch.assess.site import assess_from_hashrate, assess_from_power

# hashprice exactly 0.4 USD per TH/s per day
NET = NetworkSnapshot(day=date(2021, 6, 1), hashrate_ths=1e8, price_usd=40_000, revenue_usd_per_day=4e7, source="test")


def test_power_hand_worked_s19():
    a = assess_from_power(3250, tariff=0.3, currency="CNY", model="S19", network=NET, fx=7.0, pue=1.0)
    assert a.model == "Antminer S19 (95Th)"
    assert a.machines == pytest.approx(1000)  # 3250 kW / 3.25 kW
    assert a.hashrate_hs == pytest.approx(95_000e12)
    assert a.kwh_per_year == pytest.approx(3250 * 8766)
    assert a.coal_t_per_year == pytest.approx(3250 * 8766 * 0.3055 / 1000)
    assert a.co2_t_per_year == pytest.approx(3250 * 8766 * 0.5366 / 1000)
    assert a.revenue_per_day == pytest.approx(95_000 * 0.4 * 7)  # 266,000 CNY
    assert a.cost_per_day == pytest.approx(3250 * 24 * 0.3)  # 23,400 CNY
    assert a.profit_per_day == pytest.approx(266_000 - 23_400)
    assert a.profit_per_year == pytest.approx((266_000 - 23_400) * 365.25)
    eff = 3250 / 95  # J/TH
    assert a.break_even_tariff == pytest.approx(0.4 * 7 / (eff * 24 / 1000))
    chosen = a.by_model[0]
    assert chosen.model_class == "chosen"
    # payback = 1785 USD * 7 / (95 TH/s * 0.4 * 7 - 3.25 kW * 24 h * 0.3) per machine
    assert chosen.payback_days == pytest.approx(1785 * 7 / (95 * 0.4 * 7 - 3.25 * 24 * 0.3))


def test_ranges_bracket_point_and_pue_reduces_machines():
    a = assess_from_power(1000, network=NET, pue=1.0, until=datetime(2023, 1, 1, tzinfo=UTC))
    b = assess_from_power(1000, network=NET, pue=1.2, until=datetime(2023, 1, 1, tzinfo=UTC))
    assert a.machines_range[0] <= a.machines <= a.machines_range[1]
    assert a.hashrate_range_hs[0] < a.hashrate_range_hs[1]
    assert b.machines == pytest.approx(a.machines / 1.2)
    assert {m.model_class for m in a.by_model} == {"efficient", "typical", "legacy"}
    assert all(m.kw == pytest.approx(1000) for m in a.by_model)


def test_hashrate_basis_and_onset():
    a = assess_from_hashrate(
        1e17, algorithm="bitcoin", model="S19 Pro", network=NET, pue=1.1, tariff=0.05, currency="USD",
        onset="2021-01-01T00:00:00Z", until="2021-01-11T00:00:00Z",
    )  # fmt: skip
    assert a.machines == pytest.approx(100_000 / 110)
    assert a.kw == pytest.approx(100_000 / 110 * 3.25 * 1.1)
    assert a.kwh_since_onset == pytest.approx(a.kw * 240)
    assert a.coal_t_since_onset == pytest.approx(a.kw * 240 * 0.3055 / 1000)
    assert a.revenue_since_onset == pytest.approx(100_000 * 0.4 * 10)
    assert all(m.hashrate_hs == pytest.approx(1e17) for m in a.by_model)


def test_unknowns_stay_null():
    a = assess_from_power(100, network=NET)  # no tariff
    assert a.cost_per_day is None and a.profit_per_day is None and a.kwh_since_onset is None
    assert a.revenue_per_day is not None
    x = assess_from_hashrate(50_000, algorithm="monero", tariff=0.5)  # no hashprice for RandomX
    assert x.revenue_per_day is None and x.profit_per_day is None and x.break_even_tariff is None
    assert x.cost_per_day is not None and x.kw > 0
    y = assess_from_hashrate(50_000, algorithm="monero", tariff=0.5, hashprice_usd=0.01, currency="USD")
    assert y.revenue_per_day == pytest.approx(50 * 0.01)  # 50 kH/s at 0.01 USD per kH/s per day


def test_province_factor_and_assumptions_complete():
    a = assess_from_power(500, province="sichuan", network=NET, tariff=0.35)
    assert a.co2_t_per_year == pytest.approx(500 * 8766 * 0.1404 / 1000)
    names = {x["name"] for x in a.assumptions}
    assert {"pue", "hashprice", "btc_price", "coal_factor_equivalent", "co2_factor_sichuan", "tariff",
            "fx_CNY_per_USD", "model_typical"} <= names  # fmt: skip
    for x in a.assumptions:
        assert set(x) >= {"name", "value", "unit", "source", "as_of"}
    hp = next(x for x in a.assumptions if x["name"] == "hashprice")
    assert hp["as_of"] == "2021-06-01"
    d = json.loads(json.dumps(a.to_dict()))
    assert d["coal_t"] == pytest.approx(a.coal_t_per_year) and d["basis"] == "power"


def test_bad_inputs():
    with pytest.raises(ValueError):
        assess_from_power(0, network=NET)
    with pytest.raises(ValueError):
        assess_from_power(100, model="L7", network=NET)  # a scrypt machine for a sha256d site
    with pytest.raises(KeyError):
        assess_from_power(100, model="nonexistent-9", network=NET)


def test_fallback_snapshot_without_any_metrics(monkeypatch):
    from minewatch.assess import network

    monkeypatch.setattr(network, "default_metrics_path", lambda: None)
    a = assess_from_power(100, tariff=0.4)
    hp = next(x for x in a.assumptions if x["name"] == "hashprice")
    assert "fallback" in hp["source"] and hp["as_of"] == "2022-12-31"


def test_standard_coal_is_given_under_both_conventions():
    """GB/T 2589 reports a consumer's electricity at 当量值 (0.1229 kgce/kWh) by default and the coal burnt
    for it at 等价值 (~0.3 kgce/kWh); one figure left the other reader to redo it by a factor of 2.5."""
    from minewatch.assess.energy import coal_factor
    from minewatch.assess.site import assess_from_power

    a = assess_from_power(100.0)
    by = a.coal_t_per_year_by_convention
    assert set(by) >= {"equivalent", "calorific"}
    for name, tce in by.items():
        assert tce == pytest.approx(a.kwh_per_year * coal_factor(name).value / 1000)
    assert by["equivalent"] == pytest.approx(a.coal_t_per_year)  # the default convention is the headline figure
    assert 2.0 < by["equivalent"] / by["calorific"] < 3.0
