"""Review 6 of the impact module: each test fails on the code before the fix it names."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from typer.testing import CliRunner

from minewatch.assess import network as netmod
from minewatch.assess.energy import co2_factor, load_factors
from minewatch.assess.hardware import load_catalog, newest_release
from minewatch.assess.network import NetworkSnapshot
from minewatch.assess.site import assess_from_hashrate, assess_from_power
from minewatch.cli import app

runner = CliRunner()
NET = NetworkSnapshot(day=date(2021, 6, 1), hashrate_ths=1e8, price_usd=40_000, revenue_usd_per_day=4e7,
                      source="test")  # fmt: skip
HEADER = "time,BlkCnt,DiffMean,HashRate,IssTotNtv,IssTotUSD,FeeTotNtv,FeeTotUSD,PriceUSD\n"


def _metrics(path, start: date, revenues: list[float], hashrate: float = 1e8):
    """A Coin Metrics-style file: one day per revenue (USD/day) at a constant hashrate (TH/s)."""
    rows = [f"{start + timedelta(days=i)},144,2e13,{hashrate},900,{rev - 1e6},25,1000000,40000\n"
            for i, rev in enumerate(revenues)]  # fmt: skip
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    return path

# MEE/NBS 2022 power CO2 emission factors (announcement of 2024-12-20), as quoted by 新京报 2024-12-26.
MEE_2022_PROVINCES = {"hebei": 0.7252, "shanxi": 0.7096, "tianjin": 0.7041, "inner_mongolia": 0.6849,
                      "anhui": 0.6782, "fujian": 0.4092, "guangxi": 0.4044, "qinghai": 0.1567,
                      "sichuan": 0.1404, "yunnan": 0.1073}  # fmt: skip
MEE_2022_REGIONS = {"north": 0.6776, "northeast": 0.5564, "east": 0.5617, "central": 0.5395,
                    "northwest": 0.5857, "south": 0.3869, "southwest": 0.2268}  # fmt: skip


# --- defect 1: 2022 provincial and regional CO2 factors, Southwest grid, Tibet -------------------------


@pytest.mark.parametrize(("province", "value"), sorted(MEE_2022_PROVINCES.items()))
def test_provinces_use_their_2022_factor_without_warning(province, value):
    f = co2_factor(province)
    assert f.value == pytest.approx(value)
    assert f.as_of == "2022" and "2022" in f.source and f.source_zh
    assert f.warnings == ()


def test_regions_are_the_2022_values_and_include_the_southwest_grid():
    regions = load_factors()["co2"]["regions"]
    assert {k: v["value"] for k, v in regions.items()} == MEE_2022_REGIONS
    assert all(str(v["as_of"]) == "2022" for v in regions.values())


@pytest.mark.parametrize(("province", "region"), [("xizang", "southwest"), ("Tibet", "southwest"),
                                                  ("chongqing", "southwest"), ("guangdong", "south"),
                                                  ("shandong", "north"), ("hubei", "central")])  # fmt: skip
def test_other_provinces_fall_back_to_their_2022_region_and_say_so(province, region):
    f = co2_factor(province)
    assert f.value == pytest.approx(MEE_2022_REGIONS[region])
    assert f.as_of == "2022"
    assert len(f.warnings) == 1 and "no provincial CO2 factor" in f.warnings[0][0] and f.warnings[0][1]


def test_fallback_warning_reaches_the_assessment_and_the_text_output(tmp_home):
    a = assess_from_power(100, province="xizang", network=NET, until="2021-06-01")
    assert a.co2_t_per_year == pytest.approx(100 * 8766 * 0.2268 / 1000)
    assert [w["code"] for w in a.warnings] == ["co2_factor_xizang"]
    assert not assess_from_power(100, province="qinghai", network=NET, until="2021-06-01").warnings
    r = runner.invoke(app, ["assess", "site", "--kw", "100", "--province", "xizang", "--json"])
    assert r.exit_code == 0, r.output
    assert "co2_factor_xizang" in [w["code"] for w in json.loads(r.output)["warnings"]]


def test_named_official_series_and_bad_names():
    assert co2_factor(value="cn_2021_national").value == pytest.approx(0.5568)
    assert co2_factor(value="cn_2022_fossil").value == pytest.approx(0.8325)
    assert co2_factor(value="0.5").value == pytest.approx(0.5)
    with pytest.raises(ValueError, match="cn_2021_national"):
        co2_factor(value="ets_2099")
    with pytest.raises(ValueError, match="finite"):
        co2_factor(value="nan")


def test_approximate_country_factor_and_ignored_province_warn():
    f = co2_factor("sichuan", country="US")
    msgs = " ".join(en for en, _ in f.warnings)
    assert "approximate" in msgs and "ignored" in msgs


# --- defect 2: revenue since onset is the sum over the days, not the end day's rate x days ------------


def test_revenue_since_onset_integrates_the_daily_hashprice(tmp_path):
    # revenue rises 1e7 -> 6.9e7 USD/day at a constant 1e8 TH/s: hashprice 0.10 -> 0.69 USD/TH/day
    revs = [1e7 + 1e6 * i for i in range(60)]
    m = _metrics(tmp_path / "m.csv", date(2021, 7, 1), revs)
    a = assess_from_hashrate(1e14, algorithm="sha256d", currency="USD", metrics=m,
                             onset="2021-07-01T12:00:00Z", until="2021-07-31T00:00:00Z")  # fmt: skip
    # 100 TH/s: half of 07-01, then 07-02 .. 07-30 whole
    want = 100 * (0.5 * revs[0] + sum(revs[1:30])) / 1e8
    assert a.revenue_since_onset == pytest.approx(want)
    end_rate = a.revenue_per_day * 29.5
    assert abs(a.revenue_since_onset - end_rate) > 0.1 * want  # the old figure, far off on a ramp
    method = next(x for x in a.assumptions if x["name"] == "revenue_since_onset_method")
    assert method["value"] == "daily"


def test_revenue_since_onset_outside_the_metrics_says_it_is_end_rate(tmp_path):
    m = _metrics(tmp_path / "m.csv", date(2021, 7, 1), [4e7] * 60)
    a = assess_from_power(1000, metrics=m, onset="2021-06-01", until="2021-07-20")
    method = next(x for x in a.assumptions if x["name"] == "revenue_since_onset_method")
    assert method["value"] == "end_rate_x_days" and "end-of-period" in method["source"]
    assert "revenue_end_rate" in [w["code"] for w in a.warnings]
    assert a.revenue_since_onset == pytest.approx(a.revenue_per_day * 49)


# --- defect 3: no silent time travel -----------------------------------------------------------------------


def test_day_before_the_first_model_is_an_error():
    with pytest.raises(ValueError, match="released on or before 2013-06-01"):
        assess_from_hashrate(1e9, algorithm="scrypt", until="2013-06-01", hashprice_usd=0.01)
    with pytest.raises(ValueError, match="released 2020"):  # S19 (2020) for a 2019 site
        assess_from_power(100, model="S19", until="2019-06-01", network=NET)


def test_day_outside_the_metrics_leaves_revenue_unknown_and_the_fallback_snapshot_cannot_go_back(
    tmp_path, monkeypatch
):
    """A later day's price would be time travel: no hashprice, no revenue; but the kW-based figures need
    no network data (review 13: the whole assessment was lost)."""
    m = _metrics(tmp_path / "m.csv", date(2021, 7, 1), [4e7] * 60)
    with_file = assess_from_power(100, until="2016-01-01", metrics=m)
    monkeypatch.setattr(netmod, "default_metrics_path", lambda: None)  # a plain install: the built-in snapshot
    for a in (with_file, assess_from_power(100, until="2016-01-01")):
        w = {x["code"]: x for x in a.warnings}
        assert "no network data on or before 2016-01-01" in w["network_not_covered"]["message"]
        assert a.hashprice_usd is None and a.revenue_per_day is None and a.break_even_tariff is None
        assert a.kwh_per_year == pytest.approx(876_600) and a.co2_t_per_year > 0 and a.machines > 0
    a = assess_from_power(100, until="2023-01-10")
    assert "network_fallback" in [w["code"] for w in a.warnings]


def test_missing_metrics_file_is_an_error(tmp_home):
    r = runner.invoke(app, ["assess", "site", "--kw", "100", "--metrics", "/nonexistent/m.csv"])
    assert r.exit_code == 2 and "no such file" in r.output and "Traceback" not in r.output


def test_window_after_the_catalog_ends_keeps_the_newest_fleet():
    cat = load_catalog()
    newest = newest_release(cat, "sha256d")
    assert newest is not None
    late = cat.classes("sha256d", date(newest.year + 6, 1, 1))
    assert late == cat.classes("sha256d", newest)
    assert late["legacy"].release is not None and late["legacy"].release >= date(newest.year - 4, 1, 1)
    a = assess_from_power(3250, network=NET, until=f"{newest.year + 6}-01-01")
    assert "catalog_stale" in [w["code"] for w in a.warnings]


# --- defect 6: stale network data and halvings are said --------------------------------------------------


def test_stale_network_data_and_a_halving_in_between_warn(tmp_path):
    m = _metrics(tmp_path / "m.csv", date(2021, 7, 1), [4e7] * 60)
    codes = [w["code"] for w in assess_from_power(100, metrics=m, until="2024-06-01").warnings]
    assert "network_stale" in codes and "halving_between" in codes
    codes = [w["code"] for w in assess_from_power(100, metrics=m, until="2021-08-20").warnings]
    assert "network_stale" not in codes and "halving_between" not in codes


# --- defect 4: uptime on revenue as on cost; factors-file values checked -------------------------------


def test_uptime_scales_revenue_and_profit_like_cost(tmp_path):
    up = tmp_path / "up.yaml"
    up.write_text("site:\n  uptime: {value: 0.5}\n", encoding="utf-8")
    full = assess_from_power(3250, model="S19", tariff=0.3, network=NET, until="2021-06-01", pue=1.0)
    half = assess_from_power(3250, model="S19", tariff=0.3, network=NET, until="2021-06-01", pue=1.0, factors=up)
    assert half.revenue_per_day == pytest.approx(full.revenue_per_day / 2)
    assert half.cost_per_day == pytest.approx(full.cost_per_day / 2)
    assert half.profit_per_year == pytest.approx(full.profit_per_year / 2)
    assert half.profit_per_year < half.revenue_per_year
    assert half.by_model[0].profit_per_machine_day == pytest.approx(full.by_model[0].profit_per_machine_day / 2)
    assert half.by_model[0].payback_days == pytest.approx(full.by_model[0].payback_days * 2)
    src = next(x for x in half.assumptions if x["name"] == "uptime")["source"]
    assert "24/7" not in src and str(up) in src


@pytest.mark.parametrize("body", ["site:\n  uptime: {value: 1.5}\n", "site:\n  pue: {value: 0.2}\n",
                                  "site:\n  uptime: {value: .nan}\n", "fx:\n  CNY: {value: -7}\n",
                                  "coal:\n  conventions:\n    equivalent: {value: .inf}\n",
                                  "co2:\n  countries:\n    CN: {value: .nan}\n"])  # fmt: skip
def test_factors_file_values_are_checked_like_typed_ones(tmp_path, body):
    f = tmp_path / "bad.yaml"
    f.write_text(body, encoding="utf-8")
    with pytest.raises(ValueError):
        assess_from_power(3250, network=NET, until="2021-06-01", factors=f)
    r = runner.invoke(app, ["assess", "site", "--kw", "3250", "--factors", str(f), "--json"])
    assert r.exit_code == 2 and "Traceback" not in r.output and "NaN" not in r.output


# --- defect 12: implausible inputs are said ----------------------------------------------------------------


def test_hashrate_beyond_the_network_or_below_one_machine_warns():
    big = assess_from_hashrate(1e22, algorithm="sha256d", network=NET, until="2021-06-01")  # 1e10 TH/s vs 1e8
    assert "implausible_share" in [w["code"] for w in big.warnings]
    tiny = assess_from_hashrate(100, algorithm="sha256d", network=NET, until="2021-06-01")  # TH/s typed as H/s
    assert "below_one_machine" in [w["code"] for w in tiny.warnings]
    ok = assess_from_hashrate(1e17, algorithm="sha256d", network=NET, until="2021-06-01")
    assert not {"implausible_share", "below_one_machine"} & {w["code"] for w in ok.warnings}
