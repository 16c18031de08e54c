"""The network index: a hand-worked synthetic case, the CBECI comparison points, country split, output."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta

import pytest

from minewatch.assess import network_index as ni
from minewatch.assess.network import NetworkDay, read_metrics
from minewatch.errors import InputError

H = 1e8  # TH/s
REV_AT_006 = 7.2e6  # USD/day that makes the threshold exactly 0.06 J/GH at 0.05 USD/kWh and H


def _ts(y: int, m: int, d: int) -> int:
    return int(datetime(y, m, d, tzinfo=UTC).timestamp())


MODELS = [
    ni.IndexModel("A", _ts(2020, 1, 1), 0.10),
    ni.IndexModel("B", _ts(2020, 6, 1), 0.05),
    ni.IndexModel("C", _ts(2020, 6, 10), 0.03),
]


def _days(start: date, n: int, rev: float = REV_AT_006) -> list[NetworkDay]:
    return [NetworkDay(day=start + timedelta(days=i), hashrate_ths=H, issuance_usd=rev, fees_usd=0.0) for i in range(n)]


def test_synthetic_selection_bounds_and_pue():
    days = _days(date(2020, 6, 1), 30)
    r = ni.compute_index(days, MODELS, output_window=1).by_date()
    assert r[date(2020, 6, 1)].guess_gw is None  # B is released that very instant: not yet counted
    d = r[date(2020, 6, 5)]  # only B (0.05 < 0.06); A too inefficient
    assert d.threshold_j_gh == pytest.approx(0.06)
    assert (d.lower_gw, d.guess_gw, d.upper_gw) == pytest.approx((5.05, 5.5, 6.0))
    assert d.guess_twh == pytest.approx(5.5 * 8766 / 1000)
    d = r[date(2020, 6, 11)]  # B and C
    assert d.profitable == 2
    assert (d.lower_gw, d.guess_gw, d.upper_gw) == pytest.approx((3.03, 4.4, 6.0))


def test_synthetic_smoothing_and_price():
    days = _days(date(2020, 6, 1), 30)
    r = ni.compute_index(days, MODELS).by_date()
    assert r[date(2020, 6, 13)].guess_gw == pytest.approx((4 * 5.5 + 3 * 4.4) / 7)  # 7-day trailing mean
    assert r[date(2020, 6, 2)].guess_gw == pytest.approx(5.5)  # window shorter at the start
    r8 = ni.compute_index(days, MODELS, price=0.08, output_window=1).by_date()  # threshold 0.0375: only C
    assert r8[date(2020, 6, 20)].guess_gw == pytest.approx(0.03 * 100 * 1.1)
    assert r8[date(2020, 6, 5)].guess_gw is None


def test_threshold_is_smoothed_over_14_days_and_unprofitable_days_carry_over():
    days = _days(date(2020, 6, 1), 30)
    days[19].issuance_usd = 0.0  # 2020-06-20: no revenue, nothing profitable that day
    raw = ni.compute_index(days, MODELS, threshold_window=1, output_window=1).by_date()
    assert raw[date(2020, 6, 20)].profitable == 0
    assert raw[date(2020, 6, 20)].guess_gw == pytest.approx(4.4)  # the previous set is kept
    sm = ni.compute_index(days, MODELS, output_window=1).by_date()
    assert sm[date(2020, 6, 20)].threshold_j_gh == pytest.approx(0.06 * 13 / 14)
    assert sm[date(2020, 6, 20)].profitable == 2


def test_age_weights_and_2023_method():
    rel = _ts(2020, 1, 1)
    lag = ni.DEPLOY_LAG_S
    month = ni.MONTH_S
    assert ni.age_weight(rel + 1, rel) == 1.0
    assert ni.age_weight(int(rel + lag + 11.5 * month), rel) == 1.0
    assert ni.age_weight(int(rel + lag + 12.5 * month), rel) == 0.8
    assert ni.age_weight(int(rel + lag + 47 * month), rel) == 0.4
    assert ni.age_weight(int(rel + lag + 59.5 * month), rel) == 0.2
    models = [
        ni.IndexModel("old", _ts(2014, 1, 1), 0.02),
        ni.IndexModel("B", _ts(2020, 6, 1), 0.05),
        ni.IndexModel("E", _ts(2021, 6, 1), 0.03),
    ]
    days = _days(date(2021, 9, 1), 1)
    o = ni.compute_index(days, models, method="cbeci-2019").rows[0]
    n = ni.compute_index(days, models, method="cbeci-2023").rows[0]
    assert o.lower_gw == pytest.approx(0.02 * 100 * 1.01)  # the 2014 model still counts in 2019's method
    assert o.guess_gw == pytest.approx((0.02 + 0.05 + 0.03) / 3 * 100 * 1.1)
    # 2023: 'old' is past 5 years; B is 13 months past release+2 months (0.8), E 1 month (1.0)
    assert n.lower_gw == pytest.approx(0.03 * 100 * 1.01)
    assert n.guess_gw == pytest.approx((0.8 * 0.05 + 1.0 * 0.03) / 1.8 * 100 * 1.1)
    with pytest.raises(ValueError):
        ni.compute_index(days, models, method="cbeci-1999")


def test_digiconomist_top_down():
    r = ni.compute_index(_days(date(2020, 6, 1), 3), MODELS).rows[-1]
    assert r.digiconomist_twh == pytest.approx(REV_AT_006 * 365.25 * 0.6 / 0.05 / 1e9)


def test_output_csv_columns_and_plot(tmp_path):
    res = ni.compute_index(_days(date(2020, 6, 1), 30), MODELS)
    out = tmp_path / "idx.csv"
    ni.write_csv(res, out)
    with out.open() as f:
        rows = list(csv.reader(f))
    assert rows[0][:7] == ["date", "lower_twh", "guess_twh", "upper_twh", "lower_gw", "guess_gw", "upper_gw"]
    assert len(rows) == 31 and rows[1][0] == "2020-06-01" and rows[1][2] == ""
    assert float(rows[-1][5]) == pytest.approx(res.rows[-1].guess_gw, rel=1e-3)
    png = tmp_path / "idx.png"
    ni.plot(res, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_country_split_press_figures(tmp_path):
    shares = tmp_path / "shares.csv"
    shares.write_text(
        "date,country,share\n2021-08-01,United States,35.4\n2021-08-01,Kazakhstan,18.1\n"
        "2021-08-01,Russian Federation,11.23\n2021-08-01,Mainland China,0\n",
        encoding="utf-8",
    )
    sh = ni.read_shares(shares)
    assert sh["2021-08"]["United States"] == pytest.approx(0.354)
    res = ni.compute_index(_days(date(2021, 7, 25), 14), MODELS)
    split = ni.country_split(res, sh)
    aug10 = {r["country"]: r for r in split if r["date"] == "2021-08-05"}
    day = res.by_date()[date(2021, 8, 5)]
    assert aug10["United States"]["guess_twh"] == pytest.approx(day.guess_twh * 0.354)
    assert aug10["Kazakhstan"]["guess_twh"] == pytest.approx(day.guess_twh * 0.181)
    assert aug10["Russian Federation"]["upper_twh"] == pytest.approx(day.upper_twh * 0.1123)
    assert aug10["Mainland China"]["guess_twh"] == 0
    assert not any(r["date"] < "2021-08-01" for r in split)  # July has no shares: not split
    bad = tmp_path / "bad.csv"
    bad.write_text("when,who\n", encoding="utf-8")
    with pytest.raises(InputError):
        ni.read_shares(bad)


@pytest.fixture(scope="module")
def btc(shared):
    return read_metrics(shared / "btc" / "btc.csv")


@pytest.mark.shared
def test_cbeci_original_2021_05_10(shared, btc):
    """The press figure 149.37 TWh: Cambridge's May-2020 hardware list, Coin Metrics inputs, original method."""
    models, _ = ni.index_models(shared / "cbeci" / "miners.csv")
    res = ni.compute_index(btc, models, method="cbeci-2019")
    day = res.by_date()[date(2021, 5, 10)]
    assert day.guess_twh == pytest.approx(149.4, abs=1.5)
    assert day.lower_twh < day.guess_twh < day.upper_twh


@pytest.mark.shared
def test_lower_bound_follows_most_efficient_model(shared, btc):
    """Lower bound = 7-day mean of min efficiency x H x 1.01; on 2021-05-10 the minimum is the S19 Pro."""
    models, _ = ni.index_models(shared / "cbeci" / "miners.csv")
    day = ni.compute_index(btc, models).by_date()[date(2021, 5, 10)]
    week = [d.hashrate_ths for d in btc if date(2021, 5, 4) <= d.day <= date(2021, 5, 10)]
    expected_gw = sum(0.02955 * h / 1e6 * 1.01 for h in week) / 7
    assert day.lower_gw == pytest.approx(expected_gw, rel=1e-9)


@pytest.mark.shared
def test_cbeci_2023_method_yearly_means(shared, btc):
    """Cambridge: 2021 104 -> 89.0 TWh, 2022 105.3 -> 95.5 TWh. See docs/impact.md for what remains."""
    models, _ = ni.index_models(shared / "cbeci" / "miners.csv")
    old = ni.compute_index(btc, models, method="cbeci-2019")
    new = ni.compute_index(btc, models, method="cbeci-2023")
    for y in (2021, 2022):
        assert new.yearly_mean(y) < old.yearly_mean(y)
    # miners.csv stops in May 2020: without later, better machines both years stay above Cambridge's
    assert new.yearly_mean(2021) == pytest.approx(103.7, abs=0.5)
    assert new.yearly_mean(2022) == pytest.approx(120.1, abs=0.5)
    # with the built-in catalog (machines to 2024) the 2023 method lands near Cambridge's published values
    own, _ = ni.index_models(None)
    mine = ni.compute_index(btc, own, method="cbeci-2023")
    assert mine.yearly_mean(2021) == pytest.approx(89.0, rel=0.15)
    assert mine.yearly_mean(2022) == pytest.approx(95.5, rel=0.15)


def test_network_chart_is_labelled_in_the_chosen_language(tmp_path, monkeypatch):
    """`assess network --plot` drew an English chart under --lang zh (the power plots were Chinese)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = ni.compute_index(_days(date(2020, 6, 1), 30), MODELS)
    seen: list[tuple[str, str, list[str]]] = []
    real_close = plt.close

    def grab(fig=None):
        if fig is not None and fig.axes:
            ax = fig.axes[0]
            seen.append((ax.get_title(), ax.get_ylabel(), [t.get_text() for t in ax.get_legend().get_texts()]))
        return real_close(fig)

    monkeypatch.setattr(plt, "close", grab)
    ni.plot(res, tmp_path / "zh.png", lang="zh")
    ni.plot(res, tmp_path / "en.png", lang="en")
    (zt, zy, zl), (et, ey, el) = seen
    assert "比特币网络耗电量" in zt and "太瓦时" in zy and any("最佳估计" in x for x in zl)
    assert "Bitcoin network electricity" in et and "TWh" in ey and not any("最佳" in x for x in el)
