"""A meter installed before its customer is connected reads exact zeros for weeks: that is not a load
switching on (a rig's step) but the start of the customer, and is judged from the connection on."""

from __future__ import annotations

import warnings

import numpy as np

from minewatch.power.readers import MeterSeries
from minewatch.power.scan import MIN_UNCONNECTED_H, _connection_hour, scan_series

T0 = 1_704_067_200  # 2024-01-01


def _business(rng: np.random.Generator, days: int) -> np.ndarray:
    hod = np.arange(days * 24) % 24
    dow = (np.arange(days * 24) // 24) % 7
    open_ = (hod >= 8) & (hod < 19) & (dow < 5)
    return 30.0 * (0.25 + 0.75 * open_) * (1 + 0.08 * rng.standard_normal(days * 24))


def _scan(series: list[MeterSeries]):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return scan_series(series, with_impact=False)


def test_connection_hour_needs_weeks_of_exact_zeros() -> None:
    x = np.r_[np.zeros(MIN_UNCONNECTED_H), [np.nan] * 5, np.zeros(3), np.ones(100)]
    assert _connection_hour(x) == MIN_UNCONNECTED_H + 8  # missing hours inside the run do not end it
    assert _connection_hour(np.r_[np.zeros(MIN_UNCONNECTED_H - 1), np.ones(100)]) == 0  # too short
    assert _connection_hour(np.r_[np.full(500, 0.01), np.zeros(400), np.ones(5)]) == 0  # not leading
    assert _connection_hour(np.zeros(1000)) == 0


def test_new_customer_is_not_a_switch_on_but_a_rig_after_connection_still_is() -> None:
    rng = np.random.default_rng(1)
    days, conn = 240, 60
    shop = _business(rng, days)
    shop[: conn * 24] = 0.0  # installed on day 0, customer connected on day 60
    rig_shop = _business(rng, days)
    rig_shop[: conn * 24] = 0.0
    rig_shop[150 * 24 :] += 6 * 3.3  # six machines switched on 90 days after the connection
    res = _scan([MeterSeries("NEW", T0, 3600, shop, "t", "kw"), MeterSeries("NEWRIG", T0, 3600, rig_shop, "t", "kw")])
    by = {m.meter_id: m for m in res.scores}
    assert by["NEW"].score < 50 <= by["NEWRIG"].score
    # the connection itself earns no step points (without the rule, 0 -> business load scored a step)
    assert by["NEW"].finding.subscores.get("step", 0.0) == 0.0
    onset = by["NEWRIG"].finding.onset
    assert onset is not None and (onset.year, onset.month) == (2024, 5)  # day 150 = 2024-05-30
    assert any("NEW: reads exactly 0 until 2024-03-01" in n for n in res.notes)
