"""How the valley-hours band's strength grades combine (detect.band_quality, BAND_STRENGTH_EXP)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from minewatch.power.detect import band_quality


def _band(**over: float) -> SimpleNamespace:
    """A band fairly clear on every count: each strength grade at 0.7 (see band_quality's ramps)."""
    v = {"band_gain_t": 4.3, "band_flat": 0.81, "band_quiet": 0.81, "band_persist": 0.78, "band_rough": 0.225,
         "band_temp": 0.05, "band_kw": 6.5, "band_fill": 2.0, "band_cold": 0.5}
    v.update(over)
    return SimpleNamespace(**{k: np.array([x], dtype=np.float64) for k, x in v.items()})


def test_a_band_fairly_clear_on_every_count_keeps_most_of_its_quality() -> None:
    # a plain product of the four strength grades of 0.7 is 0.24; the cube root of it is 0.62; the persistence
    # grade (0.7) is a look-alike guard and multiplies in full (review 11): 0.44 (a plain product of all five: 0.17)
    q = float(band_quality(_band())[0])
    assert 0.4 < q < 0.47


def test_the_guards_against_honest_night_loads_still_act_in_full() -> None:
    base = float(band_quality(_band())[0])
    weather = float(band_quality(_band(band_temp=0.45))[0])  # a storage heater's charge follows the cold
    heating = float(band_quality(_band(band_cold=1.0))[0])  # a band that only lived in the heating season
    lamps = float(band_quality(_band(band_fill=1.05))[0])  # the night now runs like the day (a second shift)
    assert weather == 0.0
    assert abs(heating - 0.3 * base) < 1e-9
    assert abs(lamps - 0.2 * base) < 1e-9


def test_a_band_that_fails_one_count_entirely_gets_nothing() -> None:
    assert float(band_quality(_band(band_gain_t=1.0))[0]) == 0.0  # no step of the band at all
    assert float(band_quality(_band(band_persist=0.4))[0]) == 0.0  # gone again
