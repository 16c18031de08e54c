"""The `episode` sub-score: a load of machines' size that ran flat for weeks after a step and then went."""

from __future__ import annotations

import warnings

import numpy as np

from minewatch.power.detect import build_finding, subscores_block, total_score
from minewatch.power.features import analyse_block

warnings.filterwarnings("ignore", category=RuntimeWarning)

DAYS = 200
H = np.arange(DAYS * 24)
HOD = H % 24
S19 = 3.25
ON, OFF = 80, 115  #: the load runs from day 80 for five weeks


def household(rng: np.random.Generator) -> np.ndarray:
    """About 0.5 kW: a standby floor, a morning and an evening peak, appliance noise."""
    peaks = 0.6 * np.exp(-((HOD - 7.5) ** 2) / 2) + 0.9 * np.exp(-((HOD - 19) ** 2) / 4)
    return 0.2 + peaks * (1 + 0.3 * rng.standard_normal(H.size)) + 0.05 * rng.standard_normal(H.size) ** 2


def _weather(rng: np.random.Generator) -> np.ndarray:
    """Daily mean °C of a winter: cold, with day-to-day weather of a few degrees."""
    w = np.zeros(DAYS)
    for d in range(1, DAYS):
        w[d] = 0.7 * w[d - 1] + rng.normal(0, 2.5)
    return 4.0 + w


def test_two_machines_that_ran_five_weeks_on_a_household_score_as_an_episode() -> None:
    rng = np.random.default_rng(11)
    gone = household(rng)
    on = (H >= ON * 24 + 10) & (H < OFF * 24)
    gone[on] += 2 * S19 * (1 + 0.005 * rng.standard_normal(int(on.sum())))
    plain = household(rng)
    b = analyse_block(np.vstack([gone, plain]), 24, first_weekday=0)
    sub = subscores_block(b, tariff=["residential"] * 2)
    # the step points need a plateau to the end of the data, and the fleet left none
    assert b.persist[0] < 0.5
    assert abs(b.ep_kw[0] - 2 * S19) < 0.5
    assert sub["episode"][0] >= 30.0
    assert sub["episode"][1] == 0.0
    assert total_score(sub)[0] >= total_score(sub)[1] + 30.0
    f = build_finding(b, 0, sub, meter_id="h1", day0_s=0, steps_per_day=24, unit=None, source=None)
    ev = {e.code: e for e in f.evidence}
    assert "power.episode" in ev and "周" in ev["power.episode"].text_zh
    assert f.kw_mining is not None and abs(f.kw_mining - 2 * S19) < 0.5  # the machines' draw, not the later floor


def test_a_heater_that_follows_the_weather_for_five_weeks_is_no_episode() -> None:
    """An electric heater of the same kW on the same household: its load follows each day's cold, so the floor
    does not hold from day to day."""
    rng = np.random.default_rng(12)
    temp = _weather(rng)
    heat = household(rng)
    t_h = np.repeat(temp, 24)
    on = (H >= ON * 24 + 10) & (H < OFF * 24)
    heat[on] += 2 * S19 * np.clip((16 - t_h[on]) / 16, 0, 1) * 1.3
    b = analyse_block(heat[None, :], 24, first_weekday=0, temp_daily=temp[None, :])
    sub = subscores_block(b, tariff=["residential"])
    assert b.ep_rough[0] > 0.08  # where `steady` reaches 0
    assert sub["episode"][0] == 0.0


def test_a_temporary_line_on_a_business_is_no_episode() -> None:
    """A line of 1.5 times a workshop's own load for five weeks: on a business that is one more job, not a load
    out of place, so the size against the host (ep_host) keeps the episode out."""
    rng = np.random.default_rng(13)
    day = ((HOD >= 8) & (HOD < 19)).astype(float)
    shop = 40.0 * (0.3 + 0.7 * day) * (1 + 0.05 * rng.standard_normal(H.size))
    on = (H >= ON * 24) & (H < OFF * 24)
    shop[on] += 1.5 * shop.mean() * (1 + 0.01 * rng.standard_normal(int(on.sum())))
    b = analyse_block(shop[None, :], 24, first_weekday=0)
    sub = subscores_block(b, tariff=["industrial"])
    assert b.ep_host[0] < 2.0
    assert sub["episode"][0] == 0.0
