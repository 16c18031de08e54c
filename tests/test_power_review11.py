"""Review 11 of the power detector: the episode, the band's cube root, and weekly_schedule under a host's closure."""

from __future__ import annotations

import math
import warnings
from datetime import UTC, datetime

import numpy as np

from minewatch.power.detect import REPORT_THRESHOLD, band_quality, build_finding, subscores_block
from minewatch.power.features import analyse_block
from minewatch.power.readers import MeterMeta, MeterSeries
from minewatch.power.scan import scan_series
from test_power_band_strength import _band

warnings.filterwarnings("ignore", category=RuntimeWarning)

T0 = 1682899200  #: 2023-05-01 00:00 UTC, a Monday
D = 392
H = np.arange(D * 24)
HOD = H % 24
DAY = H // 24
DOW = DAY % 7


def household(rng: np.random.Generator) -> np.ndarray:
    """About 0.5 kW: a standby floor, a morning and an evening peak, appliance noise."""
    base = 0.35 + 0.5 * np.exp(-(((HOD - 19) % 24) ** 2) / 6) + 0.15 * np.exp(-(((HOD - 8) % 24) ** 2) / 3)
    return base * (1 + rng.normal(0, 0.15, H.size)).clip(0.3)


def _temporary(rng: np.random.Generator, d0: int, weeks: int, kw: float) -> np.ndarray:
    """A flat load of `kw` around the clock from day d0 for `weeks` (drying, site heaters, a grain dryer)."""
    return ((d0 <= DAY) & (d0 + 7 * weeks > DAY)) * kw * (1 + rng.normal(0, 0.03, H.size))


def test_an_honest_temporary_flat_load_alone_is_a_suspect_not_a_report() -> None:
    """Water-damage drying or a renovation's heaters: 2.5-4 kW flat for 4-6 weeks on a household, then gone. The
    episode ranks it above the same household without it, but alone it stays below the report threshold."""
    series, meta = [], {}
    for i, (d0, weeks, kw) in enumerate([(150, 4, 3.0), (200, 5, 3.0), (120, 4, 4.0), (240, 6, 2.5), (150, 4, 3.0)]):
        rng = np.random.default_rng(i)
        series.append(MeterSeries(f"tmp{i}", T0, 3600, household(rng) + _temporary(rng, d0, weeks, kw), "t", "kw"))
        meta[f"tmp{i}"] = MeterMeta(f"tmp{i}", "residential")
    series.append(MeterSeries("plain", T0, 3600, household(np.random.default_rng(99)), "t", "kw"))
    res = scan_series(series, meta=meta, with_impact=False)
    sc = {s.meter_id: s for s in res.scores}
    for i in range(5):
        s = sc[f"tmp{i}"]
        assert s.finding.subscores["episode"] > 0
        assert s.score < REPORT_THRESHOLD, (s.meter_id, s.score, s.finding.subscores)
        assert s.score > sc["plain"].score + 15
    assert not res.suspects()


def test_an_episode_is_assessed_over_the_days_it_ran() -> None:
    """3 kW for four weeks from day 150: the impact counts those 28 days, not onset to the end of the data."""
    rng = np.random.default_rng(0)
    base = household(rng)
    extra = _temporary(rng, 150, 4, 3.0)
    res = scan_series([MeterSeries("m1", T0, 3600, base + extra, "t", "kw")],
                      meta={"m1": MeterMeta("m1", "residential")}, impact_threshold=0.0)
    f = res.scores[0].finding
    assert f.subscores["episode"] > 0
    end = datetime.fromisoformat(f.extra["episode_end"])
    assert abs((end - datetime.fromtimestamp(T0 + 178 * 86400, tz=end.tzinfo)).days) <= 2
    assert f.last_seen == end
    if f.impact is not None:  # the impact module is optional
        assert abs(f.impact["kwh_since_onset"] - extra.sum()) < 0.15 * extra.sum()
    ev = {e.code: e for e in f.evidence}
    assert "days it ran" in ev["power.episode"].text and "消失" in ev["power.episode"].text_zh
    assert f.kw_mining is not None and abs(f.kw_mining - 3.0) < 0.3


def test_a_rig_that_runs_on_is_not_said_to_have_gone() -> None:
    """A persistent rig whose first weeks also earn `episode` points (the review found 11 of 12 such households):
    its evidence must not say the load went, and its kW stays the step's reading, not the first weeks'."""
    rng = np.random.default_rng(101)
    rig = (H >= 130 * 24) * 2 * 3.25 * (1 + rng.normal(0, 0.08, H.size))
    b = analyse_block((household(rng) + rig)[None, :], 24, first_weekday=0)
    sub = subscores_block(b, tariff=["residential"])
    sub["episode"] = np.array([5.0])  # whatever the points, the finding must say what was measured
    assert b.ep_after[0] > 0.9 and b.ep_end[0] == -1
    f = build_finding(b, 0, sub, meter_id="rig", day0_s=T0, steps_per_day=24, unit=None, source=None, end_s=T0 + D * 86400)
    ev = {e.code: e for e in f.evidence}
    assert "ended" not in ev["power.episode"].text and "went" not in ev["power.episode"].text
    assert "消失" not in ev["power.episode"].text_zh
    assert "episode_end" not in f.extra
    assert f.kw_mining == round(float(b.shift_kw[0]), 2)
    assert f.last_seen == datetime.fromtimestamp(T0 + D * 86400, tz=UTC)


def test_the_band_persistence_multiplies_in_full() -> None:
    """Seasonal night loads (greenhouse lamps October-March, night irrigation) stop at the season's end: their
    persistence grade (0.7 here) costs them in full, as the other look-alike guards do, not its cube root."""
    full = float(band_quality(_band(band_persist=0.95))[0])
    seasonal = float(band_quality(_band(band_persist=0.78))[0])
    assert abs(seasonal - 0.7 * full) < 1e-6


def test_a_hosts_multi_week_closure_is_not_the_rigs_rest_day() -> None:
    """A 7-day rig under a workshop (Mon-Sat 08-18) that closes 22 days over the Spring Festival (2024-02-10)
    inside the rig's plateau: the closure is not a whole number of weeks, and must not read as a rest day."""
    fest = 285
    series, meta = [], {}
    for i in range(4):
        r = np.random.default_rng(20 + i)
        p = r.uniform(20, 40)
        a, n_closed = fest - int(r.integers(5, 12)), 22 + i
        od = a - int(r.integers(5, 20))
        rig = (od * 24 + 10 <= H) * 8 * 3.25 * (1 + 0.005 * r.standard_normal(H.size))
        closed = (a <= DAY) & (a + n_closed > DAY)
        work = (DOW < 6) & (HOD >= 8) & (HOD < 18) & ~closed
        base = (4 * np.where(closed, 0.5, 1.0) + work * p) * (1 + 0.05 * r.standard_normal(H.size))
        series.append(MeterSeries(f"w{i}", T0, 3600, base + rig, "t", "kw"))
        meta[f"w{i}"] = MeterMeta(f"w{i}", "commercial", "workshop")
    res = scan_series(series, meta=meta, with_impact=False)
    ws = {s.meter_id: s.finding.subscores["weekly_schedule"] for s in res.scores}
    assert all(v == 0.0 for v in ws.values()), ws


def test_an_untouched_meter_has_weekly_schedule_zero_not_minus_zero() -> None:
    res = scan_series([MeterSeries("h", T0, 3600, household(np.random.default_rng(5)), "t", "kw")], with_impact=False)
    ws = res.scores[0].finding.subscores["weekly_schedule"]
    assert ws == 0.0 and math.copysign(1.0, ws) == 1.0  # written as 0.0, not -0.0


def test_an_episode_on_unbilled_load_is_reported_where_a_customers_is_not() -> None:
    """The same weeks-long machines' load: on a customer's meter an honest temporary appliance could be
    behind it (a suspect), on a transformer's unbilled residual nothing honest is (the cap does not apply)."""
    rng = np.random.default_rng(5)
    kw = 0.4 * (1 + rng.normal(0, 0.05, H.size)).clip(0.5) + _temporary(rng, 150, 5, 3.3)
    series = [MeterSeries("C1", T0, 3600, kw.copy(), "t", "kw"), MeterSeries("T1:unaccounted", T0, 3600, kw.copy(),
                                                                           "t", "kw")]
    res = scan_series(series, meta={"C1": MeterMeta("C1", "residential")}, with_impact=False)
    sc = {s.meter_id: s for s in res.scores}
    assert sc["C1"].score < REPORT_THRESHOLD
    assert sc["T1:unaccounted"].score >= REPORT_THRESHOLD, sc["T1:unaccounted"].finding.subscores
    assert sc["T1:unaccounted"].finding.subscores["episode"] > sc["C1"].finding.subscores["episode"]
