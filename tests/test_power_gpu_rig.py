"""A household's GPU rig (about 1 kW, below one ASIC) is found, counted in GPU rigs, and honest ~1 kW
household additions that follow the weather or the hour are not reported."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from minewatch.power.detect import (
    REPORT_THRESHOLD,
    small_rig_quality,
    small_rig_step,
    subscores_block,
    total_score,
)
from minewatch.power.features import analyse_block
from minewatch.power.readers import MeterMeta, MeterSeries
from minewatch.power.scan import MeterScore, scan_series

warnings.filterwarnings("ignore", category=RuntimeWarning)

DAYS = 240
H = np.arange(DAYS * 24)
HOD = H % 24
START = 1_696_118_400  # 2023-10-01 00:00 UTC (a Sunday)
ONSET_DAY = 130


def household(rng: np.random.Generator) -> np.ndarray:
    """A household's hourly kW: a 0.25 kW standby floor, morning and evening peaks, day-to-day wander."""
    shape = 0.25 + 0.5 * np.exp(-((HOD - 7.5) ** 2) / 2) + 0.9 * np.exp(-((HOD - 19.5) ** 2) / 4)
    wander = np.repeat(np.exp(rng.normal(0, 0.15, DAYS)), 24)
    return shape * wander * np.exp(rng.normal(0, 0.25, H.size))


def winter(rng: np.random.Generator) -> np.ndarray:
    """Daily mean temperature (°C): a winter's trough around day 100, weather on top."""
    days = np.arange(DAYS)
    w = np.zeros(DAYS)
    for i in range(1, DAYS):
        w[i] = 0.8 * w[i - 1] + rng.normal(0, 1.5)
    return 12 - 10 * np.cos(2 * np.pi * (days - 100) / 365) + w


def rig(rng: np.random.Generator, kw: float) -> np.ndarray:
    """One GPU rig: flat kW from the onset, 2 % ripple."""
    return kw * (H >= ONSET_DAY * 24 + 15) * (1 + rng.normal(0, 0.02, H.size))


def _scan(kw_rows: list[np.ndarray], tariff: str, temp_d: np.ndarray) -> dict[str, MeterScore]:
    series, meta, temps = [], {}, {}
    ts = START + np.arange(DAYS * 24, dtype=np.int64) * 3600
    for k, kw in enumerate(kw_rows):
        mid = f"H{k}"
        series.append(MeterSeries(mid, START, 3600, kw, "test", "kw"))
        meta[mid] = MeterMeta(mid, tariff_class=tariff, business="household" if tariff == "residential" else "shop")
        temps[mid] = (ts, np.repeat(temp_d, 24))
    res = scan_series(series, meta=meta, temperature=temps, with_impact=True)
    return {s.meter_id: s for s in res.scores}


def test_household_gpu_rig_is_reported_and_counted_in_gpu_rigs():
    rng = np.random.default_rng(11)
    temp_d = winter(rng)
    rows = [household(rng) + rig(rng, kw) for kw in (0.9, 1.2)]
    got = _scan(rows, "residential", temp_d)
    for mid in ("H0", "H1"):
        s = got[mid]
        assert s.score >= REPORT_THRESHOLD, (mid, s.score, s.finding.subscores)
        f = s.finding
        assert f.algorithm == "ethash"
        assert "GPU rig" in str(f.extra["machine_model"])
        assert f.machines_est == 1.0  # one rig of ~0.9 kW × PUE, not a third of an ASIC rounded up
        assert f.impact is not None and f.impact["algorithm"] == "ethash"
        # kWh and CO2 come from the kW; the revenue is unknown and says why
        assert f.impact["kwh_per_year"] == pytest.approx(f.kw_mining * 8760, rel=0.05)
        assert f.impact["revenue_per_year"] is None
        assert "hashprice_unknown" in {w["code"] for w in f.impact["warnings"]}
        assert abs((f.onset.timestamp() - START) / 86400 - ONSET_DAY) <= 1


@pytest.mark.parametrize("seed", [21, 22, 23])
def test_the_same_kilowatt_following_the_weather_is_not_reported(seed: int):
    """A heat pump switched on for the winter: part of its kW is steady, part follows the cold and the night.
    Flat enough for the whole-load and step points (50-73 before `small_rig_quality`), not for a GPU rig."""
    rng = np.random.default_rng(seed)
    temp_d = winter(rng)
    t_h = np.repeat(temp_d, 24)
    night = 1 + 0.15 * np.cos(2 * np.pi * (HOD - 3) / 24)
    heat = (0.6 + 0.8 * np.clip((14 - t_h) / 10, 0, 1.5)) * night * (H >= ONSET_DAY * 24) \
        * (1 + rng.normal(0, 0.03, H.size))
    got = _scan([household(rng) + heat], "residential", temp_d)
    assert got["H0"].score < REPORT_THRESHOLD, got["H0"].finding.subscores


def test_small_step_on_a_shop_is_not_a_gpu_rig():
    """The GPU-rig size is a household rule: on a shop's meter 1 kW is below any machine the detector counts."""
    rng = np.random.default_rng(13)
    temp_d = winter(rng)
    got = _scan([household(rng) + rig(rng, 1.0)], "commercial", temp_d)
    s = got["H0"]
    assert s.score < REPORT_THRESHOLD
    assert s.finding.algorithm != "ethash"


def test_small_rig_step_and_quality_rules():
    home = np.array([True, True, True, False])
    step = np.array([0.5, 0.9, 1.6, 0.9])
    # below 60 % of a 1 kW rig: nothing; 0.6-1.5 kW on a household: a GPU step; 1.5 kW and up: an ASIC step
    assert small_rig_step(step, home).tolist() == [False, True, False, False]
    rng = np.random.default_rng(14)
    temp_d = winter(rng)
    x = np.vstack([household(rng) + rig(rng, 1.0), household(rng) + rig(rng, 1.0)])
    with_w = analyse_block(x, 24, first_weekday=6, temp_daily=np.vstack([temp_d, temp_d]))
    without = analyse_block(x, 24, first_weekday=6)
    q_w, q_n = small_rig_quality(with_w), small_rig_quality(without)
    assert (q_w > 0.8).all()
    # without weather the temperature test cannot be passed: the step keeps half its weight at most
    assert (q_n <= 0.5 + 1e-9).all() and (q_n < q_w).all()
    # the quality weighs the household's points, not an ASIC-sized step's
    sub = subscores_block(with_w, tariff=["residential", "residential"])
    assert (total_score(sub) >= REPORT_THRESHOLD).all()


def test_household_rig_running_before_the_data_is_reported_by_its_floor():
    """No step to see: one 3.25 kW machine already running when the data starts. A household's load that never
    falls below a machine's kW is out of place on a residential tariff (it scored 47-55 before RES_FLOOR_PTS)."""
    rng = np.random.default_rng(15)
    temp_d = winter(rng)
    x = household(rng) + 3.25 * (1 + rng.normal(0, 0.01, H.size))
    x[rng.integers(0, H.size, 40)] *= 0.3  # a few pool outages: the rig idles for an hour
    s = _scan([x], "residential", temp_d)["H0"]
    assert s.score >= REPORT_THRESHOLD, s.finding.subscores
    assert s.finding.subscores["tariff_mismatch"] > 25.0


def test_a_nightly_charging_band_gets_no_floor_points():
    """A 7 kW wallbox every night 22:00-05:00: a band of hours, not a floor; the floor points stay at 0."""
    rng = np.random.default_rng(16)
    temp_d = winter(rng)
    x = household(rng) + 7.0 * (((HOD >= 22) | (HOD < 5)) & (H >= ONSET_DAY * 24))
    s = _scan([x], "residential", temp_d)["H0"]
    assert s.finding.subscores.get("tariff_mismatch", 0.0) <= 25.0
