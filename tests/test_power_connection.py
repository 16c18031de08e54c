"""A meter installed before its customer is connected reads exact zeros for weeks: that is not a load
switching on (a rig's step) but the start of the customer, and is judged from the connection on."""

from __future__ import annotations

import warnings

import numpy as np

from minewatch.power.features import mask_unconnected
from minewatch.power.readers import MeterSeries
from minewatch.power.scan import scan_series

DAY_H = 14 * 24  # MIN_UNCONNECTED_DAYS in hours

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


def test_connection_needs_weeks_of_exact_zeros() -> None:
    x = np.r_[np.zeros(DAY_H), [np.nan] * 5, np.zeros(3), np.ones(100)]
    masked, at = mask_unconnected(x, 3600)
    assert at == DAY_H + 8  # missing hours inside the run do not end it
    assert np.isnan(masked[:at]).all() and (masked[at:] == 1).all() and (x[:DAY_H] == 0).all()  # a copy
    assert mask_unconnected(np.r_[np.zeros(DAY_H - 1), np.ones(100)], 3600)[1] == 0  # too short
    assert mask_unconnected(np.r_[np.full(500, 0.01), np.zeros(400), np.ones(5)], 3600)[1] == 0  # not leading
    assert mask_unconnected(np.zeros(1000), 3600)[1] == 0
    # the run is measured in days, not slots: 14 daily readings are two weeks, 14 hourly ones are not
    assert mask_unconnected(np.r_[np.zeros(14), np.ones(30)], 86400)[1] == 14
    assert mask_unconnected(np.r_[np.zeros(14), np.ones(30)], 3600)[1] == 0


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
