"""The `weekly_schedule` sub-score: an added load whose daytime falls on a rest day is a staffed line's week."""

from __future__ import annotations

import warnings

import numpy as np

from minewatch.power.detect import build_finding, subscores_block
from minewatch.power.features import analyse_block

warnings.filterwarnings("ignore", category=RuntimeWarning)

DAYS = 210
H = np.arange(DAYS * 24)
HOD = H % 24
DOW = (H // 24) % 7  # day 0 is a Monday (first_weekday=0)
STEP_DAY = 110


def feeder(rng: np.random.Generator) -> np.ndarray:
    """A 100-kW business feeder with its own week (weekends lower by day) and slow wander."""
    day = ((HOD >= 8) & (HOD < 19)).astype(float)
    week = np.where(DOW >= 5, 0.6, 1.0)
    wander = 1 + 0.05 * np.sin(2 * np.pi * H / (24 * 45))
    return 100.0 * (0.6 + 0.4 * day * week) * wander * (1 + 0.03 * rng.standard_normal(H.size))


def _added(rng: np.random.Generator, rest_day: bool) -> np.ndarray:
    """80 kW from STEP_DAY on; with `rest_day`, Sunday's day shift stops for maintenance (08-16 at 30 %)."""
    add = np.where(H >= STEP_DAY * 24, 80.0, 0.0) * (1 + 0.01 * rng.standard_normal(H.size))
    if rest_day:
        add = np.where((DOW == 6) & (HOD >= 8) & (HOD < 16), 0.3 * add, add)
    return add


def test_a_line_that_stops_on_sunday_daytime_loses_its_step_points_and_a_rig_does_not() -> None:
    rng = np.random.default_rng(21)
    line = feeder(rng) + _added(rng, rest_day=True)
    rig = feeder(rng) + _added(rng, rest_day=False)
    b = analyse_block(np.vstack([line, rig]), 24, first_weekday=0)
    sub = subscores_block(b, tariff=["industrial"] * 2)
    assert b.rest_dip[0] > 0.5 > 0.15 > b.rest_dip[1]
    assert sub["weekly_schedule"][1] == 0.0
    family = sub["step"] + sub["uniform_shift"] + sub["steady_added_load"]
    assert family[0] > 20  # the step itself is as clear as the rig's
    assert sub["weekly_schedule"][0] < -0.6 * family[0]
    f = build_finding(b, 0, sub, meter_id="line", day0_s=0, steps_per_day=24, unit=None, source=None)
    ev = {e.code: e for e in f.evidence}
    assert "power.weekly_schedule" in ev and "休息日" in ev["power.weekly_schedule"].text_zh


def test_a_household_is_not_judged_on_its_week() -> None:
    rng = np.random.default_rng(22)
    line = feeder(rng) / 50 + _added(rng, rest_day=True) / 25
    b = analyse_block(line[None, :], 24, first_weekday=0)
    assert b.rest_dip[0] > 0.5
    assert subscores_block(b, tariff=["residential"])["weekly_schedule"][0] == 0.0
    assert subscores_block(b, tariff=["commercial"])["weekly_schedule"][0] < 0.0
