"""The Spring Festival test: a flat load that stops while businesses close is a production line, not a rig."""

from __future__ import annotations

import warnings
from datetime import UTC, date, datetime

import numpy as np

from minewatch.power.calendar import SPRING_FESTIVAL, factory_closure, festival_mask
from minewatch.power.readers import MeterSeries
from minewatch.power.scan import scan_series

warnings.filterwarnings("ignore", category=RuntimeWarning)


def test_festival_mask_follows_the_lunar_calendar():
    m = festival_mask(date(2024, 1, 1), 200)
    assert np.flatnonzero(m).tolist() == list(range(40, 46))  # 10-15 February 2024
    # across a year boundary, and a year whose festival falls in January
    m = festival_mask(date(2022, 12, 1), 120)
    first = (SPRING_FESTIVAL[2023] - date(2022, 12, 1)).days
    assert np.flatnonzero(m).tolist() == list(range(first, first + 6))
    assert not festival_mask(date(2009, 1, 1), 300).any()  # outside the table: no claim
    assert factory_closure(2024) == (date(2024, 2, 7), date(2024, 2, 22))


START = int(datetime(2023, 9, 4, tzinfo=UTC).timestamp())  # a Monday
DAYS = 238  # to 30 April 2024
H = np.arange(DAYS * 24)
HOD = H % 24


def _office(rng: np.random.Generator, level: float = 40.0) -> np.ndarray:
    day = ((HOD >= 8) & (HOD < 19)).astype(float)
    weekday = ((H // 24) % 7) < 5
    return level * (0.3 + 0.7 * day * weekday) * (1 + 0.04 * rng.standard_normal(H.size))


def _closure_hours() -> np.ndarray:
    lo, hi = factory_closure(2024)
    t = START + H * 3600
    return (t >= datetime(lo.year, lo.month, lo.day, tzinfo=UTC).timestamp()) & (
        t < datetime(hi.year, hi.month, hi.day, tzinfo=UTC).timestamp())


def test_a_line_that_stops_for_the_festival_loses_points_a_rig_does_not():
    rng = np.random.default_rng(8)
    on = H >= 70 * 24
    rig = _office(rng) + 40.0 * on * (1 + 0.005 * rng.standard_normal(H.size))
    line = _office(rng) + 40.0 * on * (1 + 0.01 * rng.standard_normal(H.size))
    line[_closure_hours()] -= 36.0  # the line stops for the plant's closure, the office's standby stays
    series = [MeterSeries("rig", START, 3600, rig, "t"), MeterSeries("line", START, 3600, line, "t")]
    res = {s.meter_id: s for s in scan_series(series, with_impact=False).scores}
    assert res["rig"].finding.subscores.get("festival_shutdown", 0.0) == 0.0
    assert res["line"].finding.subscores["festival_shutdown"] <= -20.0
    assert res["rig"].score - res["line"].score >= 20.0
    ev = [e for e in res["line"].finding.evidence if e.code == "power.festival"]
    assert ev and ev[0].data["festival_keep"] < 0.3 and "春节" in ev[0].text_zh
    # the same line without a calendar year in the table is not judged by it
    early = [MeterSeries("line", START - 15 * 365 * 86400, 3600, line, "t")]
    assert scan_series(early, with_impact=False).scores[0].finding.subscores.get("festival_shutdown", 0.0) == 0.0


def test_daily_totals_are_not_judged_by_the_festival():
    """With one reading a day the floor is the day's mean, which a closing host business loses too."""
    rng = np.random.default_rng(9)
    on = H >= 70 * 24
    line = _office(rng) + 40.0 * on
    line[_closure_hours()] -= 36.0
    daily = line.reshape(-1, 24).sum(axis=1)  # kWh per day
    res = scan_series([MeterSeries("line", START, 86400, daily, "t")], with_impact=False).scores[0]
    assert res.finding.subscores.get("festival_shutdown", 0.0) == 0.0


def test_the_engines_apply_the_festival_test_like_the_scan(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from minewatch.engines.kernels import PowerConfig
    from minewatch.engines.local import run_power

    rng = np.random.default_rng(8)
    on = H >= 70 * 24
    line = _office(rng) + 40.0 * on
    line[_closure_hours()] -= 36.0
    ts = pa.array((START + H * 3600) * 1_000_000, pa.timestamp("us", tz="UTC"))
    p = tmp_path / "m.parquet"
    pq.write_table(pa.table({"meter_id": ["line"] * H.size, "ts": ts, "kwh": line}), p)
    got = run_power(p, PowerConfig(unit="kw", interval_s=3600)).findings()
    ref = scan_series([MeterSeries("line", START, 3600, line, "t")], with_impact=False).scores[0].finding
    assert got[0].subscores["festival_shutdown"] == ref.subscores["festival_shutdown"] <= -20.0
