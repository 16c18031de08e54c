"""Detector kernels on controlled curves: rigs are found, honest look-alikes are not."""

from __future__ import annotations

import re
import warnings
from datetime import UTC, datetime

import numpy as np
import pytest

from minewatch.assess.hardware import load_catalog
from minewatch.power.detect import subscores_block, total_score
from minewatch.power.features import analyse_block, best_split
from minewatch.power.readers import MeterMeta, MeterSeries
from minewatch.power.scan import scan_series

warnings.filterwarnings("ignore", category=RuntimeWarning)

DAYS = 200
H = np.arange(DAYS * 24)
HOD = H % 24
START = 1_704_067_200  # 2024-01-01 00:00 (Monday)


def office(rng, level=40.0):
    day = ((HOD >= 8) & (HOD < 19)).astype(float)
    weekday = ((H // 24) % 7) < 5
    return level * (0.3 + 0.7 * day * weekday) * (1 + 0.05 * rng.standard_normal(H.size))


def test_best_split_matches_ruptures_binseg():
    rpt = pytest.importorskip("ruptures")
    rng = np.random.default_rng(1)
    y = np.r_[rng.normal(0, 1, 120), rng.normal(3, 1, 80)]
    k, _ = best_split(y[None, :], min_seg=14)
    ref = rpt.Binseg(model="l2", min_size=14, jump=1).fit(y).predict(n_bkps=1)[0]
    assert int(k[0]) == ref


def test_rig_under_office_load_found_with_onset_and_size():
    rng = np.random.default_rng(2)
    x = office(rng)
    onset_day = 120
    x[onset_day * 24 + 14 :] += 10 * 3.25  # ten machines at 14:00
    b = analyse_block(x[None, :], 24, first_weekday=0)
    assert abs(int(b.onset_day[0]) - onset_day) <= 1
    assert b.shift_kw[0] == pytest.approx(32.5, rel=0.05)
    assert b.uniform[0] > 0.9
    score = total_score(subscores_block(b))[0]
    assert score >= 50


def test_ev_chargers_and_greenhouse_lamps_score_low():
    rng = np.random.default_rng(3)
    ev = office(rng)
    ev[(H >= 100 * 24) & ((HOD >= 19) | (HOD < 2))] += 44.0  # evening charging only
    lamps = office(rng)
    lamps[(H >= 100 * 24) & ((HOD < 4) | (HOD >= 16))] += 60.0  # 12 h photoperiod at night
    b = analyse_block(np.vstack([ev, lamps]), 24, first_weekday=0)
    sub = subscores_block(b)
    assert (b.uniform < 0.7).all()
    assert (total_score(sub) < 50).all()


def test_heat_pump_follows_temperature_and_is_penalised():
    rng = np.random.default_rng(4)
    days = np.arange(DAYS)
    temp_d = 10 - 8 * np.sin(2 * np.pi * days / 365) + np.cumsum(rng.normal(0, 1.2, DAYS)) * 0.3 \
        + rng.normal(0, 3, DAYS)
    t_h = np.repeat(temp_d, 24)
    rig = office(rng)
    rig[100 * 24 :] += 30.0
    hp = office(rng)
    hp[100 * 24 :] += 60 * np.clip((18 - t_h[100 * 24 :]) / 20, 0, 1) * (1 + 0.02 * rng.standard_normal(DAYS * 24 - 2400))
    b = analyse_block(np.vstack([rig, hp]), 24, first_weekday=0, temp_daily=np.vstack([temp_d, temp_d]))
    sub = subscores_block(b)
    assert b.temp_frac[1] > 3 * b.temp_frac[0]
    assert sub["temperature_independent"][0] > 0 > sub["temperature_independent"][1]


def test_declared_data_centre_and_peers_reduce_score():
    rng = np.random.default_rng(5)
    rows = []
    for _ in range(6):
        x = 50 * (1 + 0.01 * rng.standard_normal(H.size))
        x[110 * 24 :] += 20.0  # racks added: a flat uniform step, like a rig
        rows.append(x)
    b = analyse_block(np.vstack(rows), 24, first_weekday=0)
    undeclared = total_score(subscores_block(b))
    declared = total_score(subscores_block(b, business=["data center"] * 6))
    assert (undeclared >= 50).all()
    assert (declared < undeclared - 30).all()


def test_missing_days_stay_unknown_and_do_not_create_a_step():
    rng = np.random.default_rng(6)
    x = office(rng)
    x[90 * 24 : 110 * 24] = np.nan  # three weeks without data
    b = analyse_block(x[None, :], 24, first_weekday=0)
    assert total_score(subscores_block(b))[0] < 30


def test_scan_series_builds_bilingual_finding():
    rng = np.random.default_rng(7)
    x = office(rng)
    x[120 * 24 :] += 8 * 3.3
    s = MeterSeries("M17", START, 3600, x, "t.csv", "kw")
    res = scan_series([s], meta={"M17": MeterMeta("M17", "commercial", "retail")}, with_impact=False)
    f = res.scores[0].finding
    assert f.kind == "mining" and f.detector == "power.load" and f.meter_id == "M17"
    assert f.score == pytest.approx(sum(f.subscores.values()), abs=0.5) or f.score == 100
    assert f.onset is not None and abs((f.onset.timestamp() - (START + 120 * 86400)) / 86400) <= 1
    assert f.machines_est is not None and 6 <= f.machines_est <= 10
    assert f.machines_est == int(f.machines_est)  # a count of machines, not 7.6 of them
    step = f.evidence[0]
    assert "stepped up" in step.text and step.text_zh and "阶跃" in step.text_zh


def test_transformer_balance_finds_unmetered_load():
    rng = np.random.default_rng(8)
    a = office(rng, 30)
    c = office(rng, 20)
    tx = a + c + 2.0 * (1 + 0.02 * rng.standard_normal(H.size))
    tx[130 * 24 :] += 25.0  # tapped before the meters
    series = [MeterSeries(n, START, 3600, v, "t", "kw") for n, v in (("A", a), ("C", c), ("T1", tx))]
    meta = {"A": MeterMeta("A", transformer="T1"), "C": MeterMeta("C", transformer="T1"),
            "T1": MeterMeta("T1", role="transformer")}
    res = scan_series(series, meta=meta, with_impact=False)
    resid = next(m for m in res.scores if m.meter_id == "T1:unaccounted")
    assert resid.finding.variant == "transformer_balance"
    assert resid.finding.kw_mining == pytest.approx(25.0, rel=0.1)
    assert resid.score >= 50


def test_rig_step_chosen_over_larger_multiplicative_base_change():
    """Two changes: the business triples at day 60 (its daily shape scales), a rig adds a flat
    load (smaller on the floor) at day 140. One least-squares split lands on the growth; the candidate
    scan must pick the additive step and date it."""
    rng = np.random.default_rng(9)
    x = office(rng, 60.0)
    x[60 * 24 :] *= 3.0
    x[140 * 24 + 10 :] += 5 * 3.3
    k_one, _ = best_split(np.nanquantile(x.reshape(DAYS, 24), 0.2, axis=1)[None, :])
    assert abs(int(k_one[0]) - 60) <= 3  # the single split takes the base change
    b = analyse_block(x[None, :], 24, first_weekday=0)
    assert abs(int(b.onset_day[0]) - 140) <= 1
    assert b.shift_kw[0] == pytest.approx(16.5, rel=0.15)
    assert b.additive[0] > 0.8


def test_step_scan_is_self_normalised():
    """The same 10 kW step is many units on a quiet meter and few on a meter that wanders weekly."""
    from minewatch.power.features import step_scan

    rng = np.random.default_rng(10)
    days = 200
    quiet = 50 + rng.normal(0, 0.5, days)
    wander = 50 + np.repeat(rng.normal(0, 8, days // 7 + 1), 7)[:days]
    y = np.vstack([quiet, wander])
    y[:, 100:] += 10.0
    _step, z = step_scan(y)
    assert np.nanargmax(z[0]) in range(93, 101)
    assert np.nanmax(z[0]) > 5 * np.nanmax(z[1, 93:101])


def test_one_small_machine_is_counted_as_one_not_a_fraction():
    """A single GPU rig of ~1.2 kW is below one catalog ASIC; the count is still one machine."""
    rng = np.random.default_rng(8)
    x = np.full(365 * 24, 0.4) + rng.normal(0, 0.02, 365 * 24)
    x[150 * 24 :] += 1.2
    s = MeterSeries("G1", START, 3600, x, "t.csv", "kw")
    res = scan_series([s], with_impact=False)
    f = res.scores[0].finding
    assert f.kw_mining is not None and 1.0 <= f.kw_mining <= 1.4
    assert f.machines_est == 1.0


def test_data_from_before_asics_still_counts_machines_and_says_which_unit():
    """A public data set from 2012 (the UCI load curves are 2011-2014): the catalog has no SHA-256 model
    released by the onset, so the count uses its earliest models (review 12: today's typical model before),
    as the impact assessment does, and says so."""
    rng = np.random.default_rng(9)
    x = office(rng)
    x[120 * 24 :] += 10 * 3.0
    start_2012 = int(datetime(2012, 1, 2, tzinfo=UTC).timestamp())
    res = scan_series([MeterSeries("U1", start_2012, 3600, x, "t.csv", "kw")], with_impact=False)
    f = res.scores[0].finding
    assert f.onset is not None and f.onset.year == 2012
    first = min(m.release for m in load_catalog().by_algorithm("sha256d") if m.release)
    unit_kw = f.extra["unit_kw"]
    # the assessment's formula and PUE (review 13): kW / (unit kW × PUE)
    assert f.machines_est == round(f.kw_mining / (unit_kw * 1.05))
    assert f"the catalog starts {first}, before it the earliest model is used" in f.evidence[0].text
    assert f"矿机目录始于 {first}，此前按最早的机型计" in f.evidence[0].text_zh
    # a 2024 onset has dated models: no such remark
    res24 = scan_series([MeterSeries("U2", START, 3600, x, "t.csv", "kw")], with_impact=False)
    assert "the catalog starts" not in res24.scores[0].finding.evidence[0].text


def _lab(rng, level=30.0):
    """A machine room's GPU servers: busy 09-21 h on weekdays, idle (a quarter of the draw) otherwise."""
    day = ((HOD >= 9) & (HOD < 21)).astype(float)
    weekday = ((H // 24) % 7) < 5
    return level * (0.25 + 0.75 * day * weekday) * (1 + 0.04 * rng.standard_normal(H.size))


def test_gpu_servers_mining_in_their_idle_hours_are_reported_with_their_mean_load():
    """Mining fills exactly the hours that were idle: the shift is the mirror of the old profile, not a
    constant, so the rig tests give few points; `idle_fill` names it, the kW is the mean added load."""
    rng = np.random.default_rng(5)
    x = _lab(rng)
    after = H >= 100 * 24
    full = 30.0 * (1 + 0.02 * rng.standard_normal(H.size))
    x[after] = np.maximum(x[after], full[after])
    res = scan_series([MeterSeries("LAB1", START, 3600, x, "t.csv", "kw")], with_impact=False)
    f = res.scores[0].finding
    assert f.score >= 50 and f.subscores["idle_fill"] > 10
    # idle 09-21 h on weekdays is 12 h x 5 + 24 h x 2 = 108 of 168 hours at +22.5 kW: 14.5 kW on average
    assert f.kw_mining == pytest.approx(14.5, rel=0.1)
    assert f.machines_est is not None and 6 <= f.machines_est <= 8  # 22.5 kW drawn while mining
    ev = next(e for e in f.evidence if e.code == "power.idle_fill")
    assert "idle" in ev.text and "空闲" in ev.text_zh
    assert not any(e.code == "power.curtailment" for e in f.evidence)  # pausing by day is the pattern


def test_a_rough_night_shift_and_a_constant_rig_get_no_idle_fill_points():
    rng = np.random.default_rng(6)
    shift = _lab(rng)
    after = H >= 100 * 24
    # a production line filling the nights: as flat as a rig from day to night, but its machines cycle
    # hour to hour (+-8 %), which GPUs at full draw do not
    line = 30.0 * (1 + 0.08 * (-1.0) ** H) * (1 + 0.01 * rng.standard_normal(H.size))
    shift[after] = np.maximum(shift[after], line[after])
    rig = _lab(rng)
    rig[after] += 6 * 3.3
    b = analyse_block(np.vstack([shift, rig]), 24, first_weekday=0)
    sub = subscores_block(b)
    assert b.load_factor[0] >= 0.85 and b.fill_corr[0] < -0.9  # level and mirror hold: only smoothness fails
    assert sub["idle_fill"][0] < 2.0
    assert sub["idle_fill"][1] == 0.0
    assert total_score(sub)[1] >= 50  # the additive rig is still found by the rig tests


# review 2: short meters, the onset's day and hour, and steps that are no steps ------------------------


def test_one_day_meter_is_skipped_with_a_reason_and_the_others_still_scanned():
    rng = np.random.default_rng(31)
    x = office(rng)
    x[120 * 24 :] += 10 * 3.25
    tiny = MeterSeries("TINY", START, 3600, np.array([0.1, 0.2, 0.3]), "t.csv", "kwh")
    res = scan_series([MeterSeries("RIG", START, 3600, x, "t.csv", "kw"), tiny], with_impact=False)
    assert [m.meter_id for m in res.scores] == ["RIG"] and res.scores[0].score >= 50
    assert "TINY" in res.skipped and "too little data" in res.skipped["TINY"]
    assert any("TINY" in n for n in res.notes)


def test_kernels_do_not_crash_on_a_single_day():
    k, g = best_split(np.array([[1.0]]))
    assert int(k[0]) == -1 and np.isnan(g[0])
    b = analyse_block(np.full((2, 24), 1.0), 24, first_weekday=0)
    assert (b.split_day == -1).all()


def _household(rng, days=DAYS):
    h = np.arange(days * 24) % 24
    base = 0.3 + 0.5 * np.exp(-((h - 19) ** 2) / 6)
    return base * (1 + 0.1 * rng.standard_normal(days * 24)).clip(0.5)


@pytest.mark.parametrize("hour", [0, 2, 4, 6, 10, 15, 22])
def test_onset_is_the_day_and_hour_the_rig_was_switched_on(hour):
    """The walk-back took the last day that was not up without the + 1: rigs switched on before about
    05:00 (which lift that day's floor) were dated a day early at 00:00."""
    rng = np.random.default_rng(40 + hour)
    x = _household(rng)
    x[120 * 24 + hour :] += 3.2
    res = scan_series([MeterSeries("R", START, 3600, x, "t.csv", "kw")], with_impact=False)
    f = res.scores[0].finding
    want = datetime.fromtimestamp(START + 120 * 86400 + hour * 3600, tz=UTC)
    assert f.onset is not None and abs((f.onset - want).total_seconds()) <= 3600, (f.onset, want)


def test_onset_in_daily_data_is_the_day_the_rig_was_switched_on():
    rng = np.random.default_rng(41)
    d = 10 + rng.normal(0, 0.5, DAYS)
    d[120:] += 3.2 * 24  # kWh per day, as a daily table gives them
    res = scan_series([MeterSeries("D", START, 86400, d / 24, "t.csv", "kwh")], with_impact=False)
    f = res.scores[0].finding
    assert f.onset == datetime.fromtimestamp(START + 120 * 86400, tz=UTC)
    assert "hour" in f.extra["onset_assumption"]


def test_practically_zero_step_has_no_kw_and_no_machine():
    rng = np.random.default_rng(42)
    x = _household(rng)
    x[120 * 24 :] += 0.01
    f = scan_series([MeterSeries("Z", START, 3600, x, "t.csv", "kw")], with_impact=False).scores[0].finding
    assert f.kw_mining is None and f.machines_est is None
    assert not any(e.code == "power.step" for e in f.evidence)


def test_stored_onset_rule_does_not_depend_on_the_cli_language():
    """The detector used to write `extra.onset_assumption` in the CLI's --lang: a finding stored from a
    Chinese session (or by a Spark executor with a Chinese locale) said it in Chinese to everyone."""
    from minewatch import i18n

    rng = np.random.default_rng(41)
    d = 10 + rng.normal(0, 0.5, DAYS)
    d[120:] += 3.2 * 24
    before = i18n.current()
    try:
        i18n.set_lang("zh")
        f = scan_series([MeterSeries("D", START, 86400, d / 24, "t.csv", "kwh")], with_impact=False).scores[0].finding
    finally:
        i18n.set_lang(before)
    en, zh = f.extra["onset_assumption"], f.extra["onset_assumption_zh"]
    assert "hour" in en and not re.search(r"[\u4e00-\u9fff]", en)
    assert re.search(r"[\u4e00-\u9fff]", zh)
