"""Review 12 item 7: the CNY/USD rate of the assessed period's year, not 7.2 (2023-24) for every date."""

from __future__ import annotations

from datetime import date

import pytest

from minewatch.assess.economics import fx_factor, fx_table
from minewatch.assess.network import NetworkSnapshot
from minewatch.assess.site import assess_from_power

NET = NetworkSnapshot(day=date(2021, 5, 10), hashrate_ths=1.5e8, price_usd=56_000, revenue_usd_per_day=6e7,
                      source="test")  # fmt: skip
FACTORS_FX = {"fx": {"CNY": {"value": 7.2, "source": "fixed", "as_of": "2024"}}}


def _fx(a) -> dict:
    return next(x for x in a.assumptions if x["name"] == "fx_CNY_per_USD")


def test_a_2021_assessment_uses_2021s_average_rate():
    a = assess_from_power(1000, onset="2021-01-01", until="2021-05-10", network=NET)
    fx = _fx(a)
    assert fx["value"] == pytest.approx(6.4515) and fx["as_of"] == "2021" and "NBS" in fx["source"]
    assert "fx_fixed_rate" not in [w["code"] for w in a.warnings]
    assert a.revenue_per_day == pytest.approx(a.hashrate_hs / 1e12 * NET.hashprice_usd * 6.4515)


def test_a_year_outside_the_table_uses_the_fixed_rate_and_warns():
    a = assess_from_power(1000, until="2013-06-01", hashprice_usd=0.5)
    assert _fx(a)["value"] == pytest.approx(7.2)
    w = next(w for w in a.warnings if w["code"] == "fx_fixed_rate")
    assert "2013" in w["message"] and "2014-2024" in w["message"] and "2013" in w["message_zh"]


def test_a_given_rate_wins_and_the_table_is_complete():
    assert fx_factor("CNY", FACTORS_FX, 7.0, year=2021).value == 7.0
    assert fx_factor("USD", {"fx": {"USD": {"value": 1.0}}}, year=2021).warnings == ()
    years = sorted(y for c, y in fx_table() if c == "CNY")
    assert years == list(range(2014, 2025))
    assert all(6.0 < fx_table()[("CNY", y)][0] < 7.5 for y in years)


def test_revenue_since_onset_takes_each_days_year(tmp_path):
    """A period over New Year: the days of 2020 at 2020's rate, those of 2021 at 2021's."""
    header = "time,BlkCnt,DiffMean,HashRate,IssTotNtv,IssTotUSD,FeeTotNtv,FeeTotUSD,PriceUSD\n"
    rows = [f"2020-12-{d:02d},144,2e13,1.5e8,900,4e7,0,0,40000\n" for d in range(1, 32)]
    rows += [f"2021-01-{d:02d},144,2e13,1.5e8,900,4e7,0,0,40000\n" for d in range(1, 32)]
    m = tmp_path / "m.csv"
    m.write_text(header + "".join(rows))
    a = assess_from_power(1000, onset="2020-12-30", until="2021-01-03", metrics=m)
    names = {x["name"]: x for x in a.assumptions}
    assert names["revenue_since_onset_method"]["value"] == "daily"
    assert names["fx_by_year"]["value"] == "2020: 6.8974"
    per_usd_day = a.revenue_per_day / 6.4515  # same hashprice every day
    assert a.revenue_since_onset == pytest.approx(per_usd_day * (2 * 6.8974 + 2 * 6.4515), rel=1e-6)


def test_a_rate_in_a_factors_file_wins_over_the_table(tmp_path):
    f = tmp_path / "fx.yaml"
    f.write_text("fx:\n  CNY: {value: 6.9, source: my bank}\n", encoding="utf-8")
    a = assess_from_power(1000, until="2021-05-10", network=NET, factors=f)
    assert _fx(a)["value"] == pytest.approx(6.9) and "fx_fixed_rate" not in [w["code"] for w in a.warnings]
