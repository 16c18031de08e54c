"""Detection-quality evidence added for issue 3: persistence of a step, capacity use, the added load's scatter."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from minewatch.power.detect import subscores_block, total_score
from minewatch.power.features import _scan_pre, analyse_block, choose_split

warnings.filterwarnings("ignore", category=RuntimeWarning)

DAYS = 300
H = np.arange(DAYS * 24)
HOD = H % 24


def feeder(rng: np.random.Generator, level: float = 60.0) -> np.ndarray:
    """A business feeder: day shape, weekends, 5 % hourly noise and a slow random-walk level."""
    day = ((HOD >= 8) & (HOD < 19)).astype(float)
    weekday = ((H // 24) % 7) < 5
    walk = np.repeat(np.cumsum(rng.normal(0, 0.01, DAYS)), 24)
    return level * (0.5 + 0.5 * day * weekday + walk) * (1 + 0.05 * rng.standard_normal(H.size))


def test_scan_pre_is_the_trailing_mean_and_ignores_gaps():
    y = np.arange(40, dtype=float)[None, :]
    y[0, 10] = np.nan
    pre = _scan_pre(y, 4)
    assert pre[0, 20] == pytest.approx(np.mean([16, 17, 18, 19]))
    assert pre[0, 12] == pytest.approx(np.mean([8, 9, 11]))  # day 10 missing does not vote
    assert np.isnan(pre[0, 1])  # fewer than half of the window's days


def test_persistent_step_chosen_over_larger_step_that_falls_back():
    """A temporary job (a big step that is gone after six weeks) and a smaller rig that stays: the
    candidate scan must date the one that persists, and report how much of the later data it covers."""
    rng = np.random.default_rng(21)
    x = feeder(rng)
    x[60 * 24 : 102 * 24] += 45.0  # temporary load, gone after 6 weeks
    x[200 * 24 :] += 8 * 3.3  # rig stays to the end
    xb = x.reshape(1, DAYS, 24)
    floor = np.nanquantile(xb, 0.2, axis=2)
    k, _z, _add, persist, _rec = choose_split(floor, xb)
    assert abs(int(k[0]) - 200) <= 3
    assert persist[0] > 0.9
    b = analyse_block(x[None, :], 24, first_weekday=0)
    assert abs(int(b.onset_day[0]) - 200) <= 1
    assert b.persist[0] > 0.9


def test_step_that_falls_back_scores_lower_than_one_that_stays():
    rng = np.random.default_rng(22)
    stay = feeder(rng)
    stay[150 * 24 :] += 30.0
    back = feeder(rng)
    back[150 * 24 : 200 * 24] += 30.0  # a seasonal or temporary load: gone after 50 days
    b = analyse_block(np.vstack([stay, back]), 24, first_weekday=0)
    assert b.persist[0] > 0.9 and b.persist[1] < 0.5
    sc = total_score(subscores_block(b))
    assert sc[0] > sc[1] + 30
    b.persist[1] = 1.0  # the same meter, had its level stayed: the step points come back
    assert total_score(subscores_block(b))[1] > sc[1] + 5


def test_capacity_use_is_graded_and_over_contract_counts_most():
    rng = np.random.default_rng(23)
    rows = [feeder(rng) for _ in range(3)]
    b = analyse_block(np.vstack(rows), 24, first_weekday=0)
    peak = b.peak_kw
    cap = np.array([peak[0] / 0.5, peak[1] / 0.85, peak[2] / 1.2])  # 50 %, 85 %, 120 % of the contract
    sub = subscores_block(b, contracted_kw=cap)["over_contract"]
    assert sub[0] == 0.0
    assert 0.0 < sub[1] < sub[2]
    unknown = subscores_block(b, contracted_kw=np.full(3, np.nan))["over_contract"]
    assert (unknown == 0.0).all()  # no contract on file is no evidence, not a penalty


def test_added_scatter_separates_a_rig_from_a_machine_line():
    """A rig adds a constant; a production line adds its own autocorrelated wander (8 % of its load)."""
    rng = np.random.default_rng(24)
    rig = feeder(rng)
    rig[150 * 24 :] += 40.0
    line = feeder(rng)
    e = np.zeros(H.size)
    for t in range(1, H.size):
        e[t] = 0.7 * e[t - 1] + rng.normal(0, 0.08 * np.sqrt(1 - 0.49))
    line[150 * 24 :] += 40.0 * (1 + e[150 * 24 :])
    b = analyse_block(np.vstack([rig, line]), 24, first_weekday=0)
    assert abs(b.added_spread[0]) < 0.03
    assert b.added_spread[1] > 0.03
