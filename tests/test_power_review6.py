"""Review 6 of the meter detector: valley-hours rigs, plants that close and reopen, daily totals,
declared round-the-clock businesses and the host's own festival dip. Every meter is built here."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime

import numpy as np
import pytest

from minewatch.power.calendar import SPRING_FESTIVAL
from minewatch.power.detect import FLAT_BUSINESSES, subscores_block
from minewatch.power.features import analyse_block, band_hours
from minewatch.power.readers import MeterMeta, MeterSeries
from minewatch.power.scan import scan_series

warnings.filterwarnings("ignore", category=RuntimeWarning)

START = int(datetime(2023, 5, 1, tzinfo=UTC).timestamp())  # a Monday
DAYS = 364
H = np.arange(DAYS * 24)
HOD = H % 24
DAY = H // 24
S19 = 3.25


def _temp(rng: np.random.Generator) -> np.ndarray:
    """Daily mean °C of a temperate site (seasonal cycle from May, plus weather), one value per day."""
    d = np.arange(DAYS)
    w = np.zeros(DAYS)
    for i in range(1, DAYS):
        w[i] = 0.8 * w[i - 1] + rng.normal(0, 2.0)
    return 16 + 12 * np.cos(2 * np.pi * (d - 80) / 365) + w


def _household(rng: np.random.Generator, level: float = 1.0) -> np.ndarray:
    """A household: low nights, morning and evening peaks, appliances switching at random."""
    shape = 0.25 + 0.5 * np.exp(-((HOD - 7.5) ** 2) / 2) + 1.0 * np.exp(-((HOD - 19.5) ** 2) / 4)
    spikes = (rng.random(H.size) < 0.08) * rng.uniform(0.5, 2.0, H.size)
    return level * shape * (1 + 0.15 * rng.standard_normal(H.size)).clip(0.3) + spikes


def _series(mid: str, x: np.ndarray) -> MeterSeries:
    return MeterSeries(mid, START, 3600, x, "test", "kw")


def _temps(ids: list[str], t_daily: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    ts = START + H.astype(np.int64) * 3600
    return {i: (ts, np.repeat(t_daily, 24)) for i in ids}


def _scan(series: list[MeterSeries], meta: dict[str, MeterMeta] | None = None, temps=None) -> dict:
    return {s.meter_id: s for s in scan_series(series, meta=meta, temperature=temps, with_impact=False).scores}


# --- H1: a rig that runs only in the valley hours ------------------------------------------------------------


def test_valley_hours_rig_is_found_by_its_band_of_hours():
    """2 S19 running 23:00-07:00 only (the valley tariff) never lift the 20th-percentile floor; the band of
    hours that stepped up together by the same kW, every night, is the evidence."""
    rng = np.random.default_rng(61)
    t = _temp(rng)
    on = 150 * 24 + 12  # switched on at noon: the first valley hour is 23:00 that day
    valley = (HOD >= 23) | (HOD < 7)
    x = _household(rng) + 2 * S19 * valley * (on <= H) * (1 + 0.005 * rng.standard_normal(H.size))
    ids = ["rig"]
    res = _scan([_series("rig", x)], {"rig": MeterMeta("rig", tariff_class="residential", business="household")},
                _temps(ids, t))
    f = res["rig"].finding
    assert res["rig"].score >= 50
    assert f.subscores["band_load"] > 0
    assert f.machines_est == 2
    assert f.kw_mining == pytest.approx(2 * S19 * 8 / 24, rel=0.1)  # energy average over the day
    assert abs(f.onset.timestamp() - (START + on * 3600 + 11 * 3600)) <= 86400
    ev = [e for e in f.evidence if e.code == "power.band"]
    assert ev and "23:00-07:00" in ev[0].text and "23:00-07:00" in ev[0].text_zh


def test_peak_avoiding_rig_in_two_runs_of_hours_is_found():
    """Off in the morning (08-11) and evening (17-22) peaks, on 16 h: two runs of hours, one band."""
    rng = np.random.default_rng(62)
    off = ((HOD >= 8) & (HOD < 11)) | ((HOD >= 17) & (HOD < 22))
    x = _household(rng) + 3 * S19 * ~off * (H >= 200 * 24)
    res = _scan([_series("rig", x)], {"rig": MeterMeta("rig", tariff_class="residential")})
    assert res["rig"].score >= 50
    assert res["rig"].finding.machines_est == 3


def test_honest_night_loads_are_not_a_band():
    """Storage heater (charge hours follow the cold), household EV (needs vary, some nights none),
    night irrigation (dry nights of one season) and a battery (charges in the valley, discharges in the
    peaks): none is flat, every night the same, persistent and alone."""
    rng = np.random.default_rng(63)
    t = _temp(rng)
    th = np.repeat(t, 24)
    since23 = (HOD - 23) % 24
    heat_season = (DAY >= 198) | (DAY < 30)  # mid-November to March
    heater = _household(rng) + 9.0 * (since23 < np.clip(8 * (16 - th) / 20, 1.5, 8)) * heat_season
    need = np.repeat(rng.uniform(1.5, 5.5, DAYS) * (rng.random(DAYS) < 0.75), 24)
    ev = _household(rng) + 7.0 * (since23 < need) * (H >= 120 * 24)
    dry = np.repeat(rng.random(DAYS) < 0.5, 24)
    irr = _household(rng, 2.0) + 15.0 * ((HOD >= 23) | (HOD < 7)) * dry * (DAY >= 30) * (DAY < 150)
    charge = ((HOD >= 23) | (HOD < 7)) * 12.5
    dis = (((HOD >= 8) & (HOD < 12)) | ((HOD >= 17) & (HOD < 21))) * 11.0
    batt = 40 + 10 * np.sin(2 * np.pi * (HOD - 14) / 24) + 2 * rng.standard_normal(H.size) \
        + (charge - dis) * (H >= 150 * 24)
    series = [_series("heater", heater), _series("ev", ev), _series("irr", irr), _series("batt", batt)]
    meta = {"heater": MeterMeta("heater", tariff_class="residential"), "ev": MeterMeta("ev", tariff_class="residential"),
            "irr": MeterMeta("irr", tariff_class="agricultural", business="crop farm"),
            "batt": MeterMeta("batt", tariff_class="commercial", business="retail")}
    res = _scan(series, meta, _temps([s.meter_id for s in series], t))
    for mid, r in res.items():
        assert r.score < 50, (mid, r.score, r.finding.subscores)
        assert r.finding.subscores.get("band_load", 0.0) < 10, (mid, r.finding.subscores)


def test_band_hours_lists_the_runs_from_the_longest_gap():
    bits = sum(1 << h for h in (23, 0, 1, 2, 3, 4, 5, 6))
    assert band_hours(bits) == [(23, 8)]
    two = sum(1 << h for h in list(range(22, 24)) + list(range(0, 8)) + list(range(11, 17)))
    assert band_hours(two) == [(11, 6), (22, 10)]


# --- H2: a plant that closes and reopens ---------------------------------------------------------------------


def _plant(rng: np.random.Generator, mean: float, closed: np.ndarray) -> np.ndarray:
    ar = np.zeros(H.size)
    e = rng.normal(0, 0.06 * np.sqrt(1 - 0.49), H.size)
    for i in range(1, H.size):
        ar[i] = 0.7 * ar[i - 1] + e[i]
    f = (1 + ar) * (1 + 0.08 * ((HOD >= 8) & (HOD < 20)))
    return mean * np.where(closed, 0.12 * (1 + 0.05 * rng.standard_normal(H.size)), f)


def _days_from(d: datetime) -> int:
    return int((d.timestamp() - START) // 86400)


def test_a_plant_reopening_after_a_closure_is_a_recovery_not_an_onset():
    """Spring Festival closure of 20 days and a 15-day summer turnaround: the reopening returns the floor
    to where it was, so it is not a step; a rig switched on under the plant months before is still dated."""
    rng = np.random.default_rng(64)
    fest = _days_from(datetime.combine(SPRING_FESTIVAL[2024], datetime.min.time(), tzinfo=UTC))
    closed_f = (fest - 3 <= DAY) & (fest + 17 > DAY)
    closed_t = (DAY >= 100) & (DAY < 115)
    honest = _plant(rng, 300.0, closed_f)
    turn = _plant(rng, 250.0, closed_t)
    rig_on = 190
    rig = _plant(rng, 300.0, closed_f) + 25 * S19 * (rig_on * 24 + 10 <= H)
    res = _scan([_series("fest", honest), _series("turn", turn), _series("rig", rig)],
                {k: MeterMeta(k, tariff_class="industrial", business="manufacturing") for k in ("fest", "turn", "rig")})
    assert res["fest"].score < 50 and res["turn"].score < 50
    f = res["rig"].finding
    assert f.onset is not None and abs(f.onset.timestamp() - (START + (rig_on * 24 + 10) * 3600)) <= 2 * 86400
    assert f.kw_mining == pytest.approx(25 * S19, rel=0.2)


def test_the_hosts_own_festival_dip_is_not_charged_to_a_rig():
    """A business whose own load falls by 40 % over the festival while its rig keeps hashing keeps its points;
    a line of the same size that stops for the festival loses them."""
    rng = np.random.default_rng(68)
    fest = _days_from(datetime.combine(SPRING_FESTIVAL[2024], datetime.min.time(), tzinfo=UTC))
    dip = np.where((fest - 2 <= DAY) & (fest + 12 > DAY), 0.6, 1.0)

    def host(level: float) -> np.ndarray:
        return level * (0.6 + 0.4 * ((HOD >= 8) & (HOD < 19))) * (1 + 0.03 * rng.standard_normal(H.size))

    rig = host(100.0) * dip + 9 * S19 * (H >= 200 * 24)  # the host's floor falls by 24 kW, the rig draws 29 kW
    line = host(40.0) + 12 * S19 * (H >= 200 * 24) * np.where(dip < 1, 0.05, 1.0)
    res = _scan([_series("rig", rig), _series("line", line)])
    assert res["rig"].finding.subscores.get("festival_shutdown", 0.0) > -5
    assert res["line"].finding.subscores["festival_shutdown"] < -20


def test_recovery_share_is_reported_by_the_kernel():
    rng = np.random.default_rng(65)
    closed = (DAY >= 200) & (DAY < 225)
    b = analyse_block(_plant(rng, 200.0, closed)[None, :], 24, first_weekday=0)
    assert b.split_day[0] < 0 or b.recovery[0] > 0.5 or b.gain_t[0] < 2


# --- H3: daily totals ----------------------------------------------------------------------------------------


def test_daily_totals_give_no_hourly_shape_points():
    """One reading a day has no hours: always_on, uniform_shift and steady_added_load are unknown (0), and a
    big household whose load does not change is not a flat load on a residential tariff."""
    rng = np.random.default_rng(66)
    big = _household(rng, 2.5)  # ~2 kW mean: 48 kWh a day, an ordinary house with air-conditioning
    light = _household(rng) + 3.0 * ((HOD >= 18) | (HOD < 6)) * (H >= 150 * 24)  # a lighting extension
    daily = np.vstack([big, light]).reshape(2, DAYS, 24).mean(axis=2)  # the day's mean kW
    b = analyse_block(daily, 1, first_weekday=0)
    sub = subscores_block(b, tariff=["residential", "commercial"])
    for k in ("always_on", "uniform_shift", "steady_added_load"):
        assert np.all(sub[k] == 0.0), (k, sub[k])
    assert sub["tariff_mismatch"][0] == 0.0


# --- H4: declared round-the-clock businesses ----------------------------------------------------------------


@pytest.mark.parametrize("decl", ["中国铁塔基站", "5G基站", "China Mobile site", "water supply 泵站", "污水处理",
                                  "水产养殖 aquaculture", "broiler house", "电解铝", "electroplating", "医院",
                                  "制氢站", "Hydrogen production (PEM electrolysers)"])
def test_new_flat_businesses_are_declared(decl):
    assert any(w in decl.lower() for w in FLAT_BUSINESSES)


def test_office_tower_is_not_a_telecom_tower():
    assert not any(w in "office tower" for w in FLAT_BUSINESSES)


def test_declared_base_station_with_new_5g_load_stays_below_threshold_but_is_not_invisible():
    rng = np.random.default_rng(67)
    t = _temp(rng)
    ac = np.clip((np.repeat(t, 24) - 24) / 10, 0, 1) * 1.0
    g5 = 2.8 * (1 + 0.12 * np.sin(2 * np.pi * (HOD - 14) / 24)) * (H >= 180 * 24)
    x = (2.0 + ac + g5) * (1 + 0.02 * rng.standard_normal(H.size))
    same = x.copy()
    meta = {"bts": MeterMeta("bts", tariff_class="commercial", business="5G基站"),
            "plain": MeterMeta("plain", tariff_class="commercial", business="retail")}
    res = _scan([_series("bts", x), _series("plain", same)], meta, _temps(["bts", "plain"], t))
    assert res["bts"].score < 50 <= res["plain"].score
    assert res["bts"].score >= 20  # lowered, not zeroed
    ev = [e for e in res["bts"].finding.evidence if e.code == "power.declared_flat_business"]
    assert ev and "can still hide a rig" in ev[0].text and "矿机" in ev[0].text_zh


def test_every_finding_states_the_small_load_limit():
    rng = np.random.default_rng(69)
    gpu = _household(rng) + 1.0 * (H >= 200 * 24)  # a 1 kW GPU rig
    f = _scan([_series("gpu", gpu)])["gpu"].finding
    for key in ("detection_limit", "detection_limit_zh"):
        assert "0.6 kW" in f.extra[key] and "1.5 kW" in f.extra[key]
