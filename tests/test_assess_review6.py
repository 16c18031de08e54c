"""Review 6 of the impact module: each test fails on the code before the fix it names."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from minewatch.assess.energy import co2_factor, load_factors
from minewatch.assess.network import NetworkSnapshot
from minewatch.assess.site import assess_from_power
from minewatch.cli import app

runner = CliRunner()
NET = NetworkSnapshot(day=__import__("datetime").date(2021, 6, 1), hashrate_ths=1e8, price_usd=40_000,
                      revenue_usd_per_day=4e7, source="test")  # fmt: skip

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
    a = assess_from_power(100, province="xizang", network=NET)
    assert a.co2_t_per_year == pytest.approx(100 * 8766 * 0.2268 / 1000)
    assert [w["code"] for w in a.warnings] == ["co2_factor_xizang"]
    assert not assess_from_power(100, province="qinghai", network=NET).warnings
    r = runner.invoke(app, ["assess", "site", "--kw", "100", "--province", "xizang", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["warnings"][0]["code"] == "co2_factor_xizang"


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
