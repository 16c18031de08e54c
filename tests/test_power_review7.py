"""Review 7 of the meter detector: loads that stop as a whole (plant closures), declared round-the-clock
businesses. Every meter is built here; the evaluation generator is not used."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime

import numpy as np
import pytest

from minewatch.power.calendar import SPRING_FESTIVAL, festival_mask
from minewatch.power.detect import DECLARED_SHARE, subscores_block
from minewatch.power.features import analyse_block, closure_run
from minewatch.power.readers import MeterMeta
from test_power_review6 import DAY, DAYS, HOD, S19, START, H, _plant, _scan, _series  # the same meters

warnings.filterwarnings("ignore", category=RuntimeWarning)


def _festival() -> tuple[int, np.ndarray]:
    """The 2024 Spring Festival's day in these meters, and the festival mask of their days."""
    fest = int((datetime.combine(SPRING_FESTIVAL[2024], datetime.min.time(), tzinfo=UTC).timestamp() - START) // 86400)
    return fest, festival_mask(datetime.fromtimestamp(START, tz=UTC).date(), DAYS)


def _fleet(rng: np.random.Generator, machines: int, fail_days: list[tuple[int, int, int]]) -> np.ndarray:
    """A fleet running all year on a small office; (machine, first day down, days down) per failure."""
    on = np.ones((machines, H.size))
    for j, d0, n in fail_days:
        on[j, (d0 <= DAY) & (d0 + n > DAY)] = 0.0
    office = 8.0 * (0.5 + 0.5 * ((HOD >= 8) & (HOD < 19)))
    return office * (1 + 0.05 * rng.standard_normal(H.size)) + S19 * on.sum(axis=0)


# --- a load that stops as a whole ---------------------------------------------------------------------------


def test_closure_run_measures_a_plant_closure_and_not_a_fleet_losing_machines():
    """A 15-day summer turnaround is a 15-day closure; a fleet whose machines fail one at a time (even all but
    one for two weeks, at different times) and a load switched on mid-year (its months before are low, but
    nothing ran before them) have none."""
    rng = np.random.default_rng(71)
    turn = _plant(rng, 250.0, (DAY >= 150) & (DAY < 165))
    fleet = _fleet(rng, 6, [(0, 40, 14), (1, 45, 14), (2, 50, 14), (3, 120, 7), (4, 200, 30)])
    late = _plant(rng, 100.0, DAY < 120)
    x = np.vstack([turn, fleet, late]).reshape(3, DAYS, 24)
    run = closure_run(x.mean(axis=2))
    assert run[0] == 15
    assert run[1] == 0 and run[2] == 0


def test_a_closure_at_the_end_of_the_data_counts():
    """Exports often end in the Spring Festival: a plant closed for its last 12 days ran before, so the load
    stopped as a whole; it need not be seen coming back."""
    rng = np.random.default_rng(72)
    x = _plant(rng, 80.0, DAY >= DAYS - 12).reshape(1, DAYS, 24)
    assert closure_run(x.mean(axis=2))[0] == 12


def test_a_plant_that_closes_loses_its_whole_load_shape_points():
    """The same flat plant with and without a 20-day closure: with it, the `shutdown` sub-score takes back
    what "never switches off" gave (flat_24_7, always_on, stable_daily_energy); without it nothing."""
    rng = np.random.default_rng(73)
    closed = _plant(rng, 200.0, (DAY >= 230) & (DAY < 250))
    open_ = _plant(rng, 200.0, np.zeros(H.size, dtype=bool))
    meta = {k: MeterMeta(k, tariff_class="industrial", business="manufacturing") for k in ("closed", "open")}
    res = _scan([_series("closed", closed), _series("open", open_)], meta)
    sc, so = res["closed"].finding.subscores, res["open"].finding.subscores
    whole = sc["flat_24_7"] + sc["always_on"] + sc["stable_daily_energy"]
    assert whole > 20  # the plant is flat: the whole-load reading gave it points
    assert sc["shutdown"] <= -0.8 * whole
    assert so["shutdown"] == 0.0
    assert res["closed"].score < res["open"].score - 15
    ev = [e for e in res["closed"].finding.evidence if e.code == "power.shutdown"]
    assert ev and "20 days" in ev[0].text and "20 天" in ev[0].text_zh


def test_a_rig_under_a_plant_that_closes_keeps_its_step():
    """The closure takes back only the whole-load reading and only as far as there is no clear step: a rig
    switched on under a closing plant is still a suspect, dated and sized."""
    rng = np.random.default_rng(74)
    x = _plant(rng, 60.0, (DAY >= 300) & (DAY < 318)) + 20 * S19 * (H >= 150 * 24 + 10)
    res = _scan([_series("rig", x)], {"rig": MeterMeta("rig", tariff_class="industrial", business="manufacturing")})
    f = res["rig"].finding
    assert res["rig"].score >= 50
    assert f.kw_mining == pytest.approx(20 * S19, rel=0.15)


def test_a_household_whose_only_machine_is_away_for_repair_keeps_its_whole_load_points():
    """One S19 on a household, running all year but away for repair for 9 days: the whole load stops, but
    a load of one or two machines cannot tell a repair from a closure, so nothing is taken back."""
    rng = np.random.default_rng(77)
    home = 0.3 + 0.6 * np.exp(-((HOD - 19.5) ** 2) / 4) * (1 + 0.2 * rng.standard_normal(H.size)).clip(0)
    x = home + S19 * ~((DAY >= 200) & (DAY < 209))
    b = analyse_block(x[None, :], 24, first_weekday=0)
    assert b.closure_days[0] == 9
    sub = subscores_block(b, tariff=["residential"], business=["household"])
    assert sub["always_on"][0] > 10
    assert sub["shutdown"][0] == 0.0


# --- declared round-the-clock businesses ----------------------------------------------------------------------


def test_a_declared_flat_business_takes_back_three_quarters_of_the_shape_points():
    """Review 6 took back 60 % of the load-shape points of a declared base station; the declaration explains
    most of a new flat load, so it now takes back 75 % (a quarter stays: lowered, not invisible)."""
    rng = np.random.default_rng(75)
    x = (2.0 + 2.8 * (H >= 180 * 24)) * (1 + 0.02 * rng.standard_normal(H.size))
    b = analyse_block(x[None, :], 24, first_weekday=0)
    sub = subscores_block(b, tariff=["commercial"], business=["5G基站"])
    shape = sum(np.clip(v, 0, None) for k, v in sub.items()
                if k not in ("over_contract", "peer_comparison", "declared_flat_business", "tariff_mismatch"))
    assert shape[0] > 80
    assert DECLARED_SHARE == 0.75
    assert sub["declared_flat_business"][0] == pytest.approx(-0.75 * shape[0], rel=1e-6)


def test_a_weak_step_leaves_the_festival_test_to_the_whole_load():
    """A plant closed over the Spring Festival whose chosen "step" is only its own wander (too weak to be the
    candidate): the festival test used to be weighted by that step's strength and gave nothing, leaving the
    plant its whole-load points. Now the whole load's own keep over the festival (`fest_whole`) is judged."""
    rng = np.random.default_rng(76)
    fest, fd = _festival()
    x = _plant(rng, 150.0, (fest - 2 <= DAY) & (fest + 6 > DAY))
    b = analyse_block(x[None, :], 24, first_weekday=0, festival=fd)
    assert b.split_day[0] >= 0 and b.gain_t[0] < 2  # a step was chosen, but it is no step
    assert b.fest_whole[0] == pytest.approx(0.12, abs=0.05)
    sub = subscores_block(b, tariff=["industrial"], business=["manufacturing"])
    whole = sub["flat_24_7"][0] + sub["always_on"][0] + sub["stable_daily_energy"][0]
    assert whole > 20
    assert sub["festival_shutdown"][0] <= -20


def test_a_one_machine_load_down_over_the_festival_is_not_a_plant_closing():
    """The same single S19 away for repair over the Spring Festival: the whole load falls to the household's
    own standby, as a closing plant's would, but one machine's repair says nothing about the festival; a plant
    of many machines' kW that does the same loses its points."""
    rng = np.random.default_rng(78)
    fest, fd = _festival()
    down = (fest - 2 <= DAY) & (fest + 8 > DAY)
    home = 0.3 + 0.6 * np.exp(-((HOD - 19.5) ** 2) / 4) * (1 + 0.2 * rng.standard_normal(H.size)).clip(0)
    one = home + S19 * ~down
    plant = _plant(rng, 150.0, down)
    b = analyse_block(np.vstack([one, plant]), 24, first_weekday=0, festival=fd)
    assert np.all(b.fest_whole < 0.2)
    sub = subscores_block(b, tariff=["residential", "industrial"], business=["household", "manufacturing"])
    assert sub["festival_shutdown"][0] == 0.0
    assert sub["festival_shutdown"][1] <= -20


def test_a_one_machine_rig_away_for_repair_over_the_festival_keeps_its_points():
    """A household's single S19 switched on in summer and away for repair over the festival days: its step
    vanishes for a week, as a line's would, but a step of one machine cannot tell a repair from a holiday
    (evaluation seed 23's M0230 lost 55 points to it)."""
    rng = np.random.default_rng(79)
    fest, fd = _festival()
    down = (fest - 1 <= DAY) & (fest + 6 > DAY)
    home = 0.3 + 0.6 * np.exp(-((HOD - 19.5) ** 2) / 4) * (1 + 0.2 * rng.standard_normal(H.size)).clip(0)
    x = home + S19 * ((H >= 100 * 24 + 13) & ~down)
    b = analyse_block(x[None, :], 24, first_weekday=0, festival=fd)
    assert b.gain_t[0] > 5 and b.fest_keep[0] < 0.2  # a clear step, gone over the festival
    sub = subscores_block(b, tariff=["residential"], business=["household"])
    assert sub["festival_shutdown"][0] == 0.0


@pytest.mark.parametrize("decl", ["冷藏仓储", "速冻食品冷冻库"])
def test_chinese_cold_chain_names_are_declared_flat(decl):
    """Customer files write cold storage as 冷藏 or 冷冻 as often as 冷库 (review 7, Chinese metadata)."""
    from minewatch.power.detect import FLAT_BUSINESSES

    assert any(w in decl.lower() for w in FLAT_BUSINESSES)
