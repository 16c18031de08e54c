"""Transformer balance (meter bypass) on a small generated set: the generator is physical, the scan finds it.

The generator tests check that its assumptions hold (losses of a few % that grow with load, a rig seen
by the transformer meter only, a new customer metered from its connection); the evaluation test
asserts recall, false alarms, onset and kW error of `<id>:unaccounted` against the truth, which the
scan never sees. Numbers measured on this set are in docs/power.md.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from minewatch.power.evaluate import evaluate_transformers
from minewatch.power.inject import TX_KINDS, Population, generate_transformers
from minewatch.power.scan import transformer_residuals

pytestmark = [pytest.mark.shared]

SEED = 5
N_TX = 30


@pytest.fixture(scope="module")
def pop(shared: Path) -> Population:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return generate_transformers(shared, n_transformers=N_TX, seed=SEED)


def _residuals(pop: Population, *, compensated: bool) -> dict[str, np.ndarray]:
    from unittest import mock

    with warnings.catch_warnings(), mock.patch(
        "minewatch.power.scan._loss_compensated", (lambda r, _load: r) if not compensated else
        __import__("minewatch.power.scan", fromlist=["x"])._loss_compensated,
    ):  # fmt: skip
        warnings.simplefilter("ignore", RuntimeWarning)
        return {s.meter_id.split(":")[0]: s.kw for s in transformer_residuals(pop.series, pop.meta)}


@pytest.fixture(scope="module")
def residuals(pop: Population) -> dict[str, np.ndarray]:
    """Transformer minus customers, as metered (the generator's losses left in)."""
    return _residuals(pop, compensated=False)


def test_loss_compensation_removes_the_load_dependent_part(pop: Population, residuals: dict) -> None:
    """What the scan uses: the losses that follow the customers' load are fitted out, so a big new
    metered customer does not look like a step; what is left no longer grows with load."""
    comp = _residuals(pop, compensated=True)
    by_id = {s.meter_id: s for s in pop.series}
    raw_ratio, comp_swing = [], []
    for t in [t for t in pop.truth if t.kind == "clean"]:
        tx, r, c = by_id[t.meter_id].kw, residuals[t.meter_id], comp[t.meter_id]
        ok = ~np.isnan(r) & ~np.isnan(c)
        hi, lo = tx[ok] >= np.quantile(tx[ok], 0.9), tx[ok] <= np.quantile(tx[ok], 0.1)
        raw_ratio.append(np.mean(r[ok][hi]) - np.mean(r[ok][lo]))
        comp_swing.append(abs(np.mean(c[ok][hi]) - np.mean(c[ok][lo])))
    assert all(x > 0 for x in raw_ratio)
    assert float(np.median(comp_swing)) < 0.3 * float(np.median(raw_ratio))


def test_inputs_do_not_reveal_the_kind(pop: Population) -> None:
    # every kind is generated, and nothing the scan gets (ids, source, metadata) differs by kind
    assert {t.kind for t in pop.truth} == set(TX_KINDS)
    by_id = {s.meter_id: s for s in pop.series}
    for t in pop.truth:
        m = pop.meta[t.meter_id]
        assert m.role == "transformer" and m.tariff_class is None and m.business is None
        assert by_id[t.meter_id].source == "synthetic:transformer"
        kids = [mm for mm in pop.meta.values() if mm.transformer == t.meter_id]
        assert 3 <= len(kids) <= 9


def test_clean_losses_are_a_few_percent_and_grow_with_load(pop: Population, residuals: dict) -> None:
    by_id = {s.meter_id: s for s in pop.series}
    shares, load_dependent = [], 0
    clean = [t for t in pop.truth if t.kind == "clean"]
    for t in clean:
        r, tx = residuals[t.meter_id], by_id[t.meter_id].kw
        ok = ~np.isnan(r)
        shares.append(np.sum(r[ok]) / np.sum(tx[ok]))
        hi = tx[ok] >= np.quantile(tx[ok], 0.9)
        lo = tx[ok] <= np.quantile(tx[ok], 0.1)
        load_dependent += np.mean(r[ok][hi]) > 1.5 * np.mean(r[ok][lo])
    assert 0.01 <= float(np.median(shares)) <= 0.06, shares
    # copper and line losses grow with the square of the load (the no-load loss and the meters'
    # calibration errors, proportional to the load, do not)
    assert load_dependent == len(clean)


def test_rig_is_seen_by_the_transformer_only(pop: Population, residuals: dict) -> None:
    start = pop.series[0].start_s
    seen = []
    for t in pop.truth:
        if t.kind != "bypass":
            continue
        assert t.onset_s is not None and t.mining_kw is not None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # days with a customer hour missing
            d = np.nanmean(residuals[t.meter_id].reshape(-1, 24), axis=1)
        on = (t.onset_s - start) // 86400
        # weeks 2-3 after the switch-on (after the ramp), against the month before it
        seen.append((np.nanmedian(d[on + 8 : on + 22]) - np.nanmedian(d[on - 28 : on])) / t.mining_kw)
    # most rigs are running then (a few fail early); the step is the rig plus its own extra losses
    assert np.mean((np.array(seen) > 0.8) & (np.array(seen) < 1.3)) >= 0.75, np.round(seen, 2)


def test_new_customer_is_metered_from_its_connection(pop: Population) -> None:
    by_id = {s.meter_id: s for s in pop.series}
    for t in pop.truth:
        if t.kind != "new_customer":
            continue
        last = sorted(m for m, mm in pop.meta.items() if mm.transformer == t.meter_id)[-1]
        kw = by_id[last].kw
        assert np.all(np.abs(kw[: 45 * 24]) == 0)  # connected after day 45: nothing before
        assert np.nanmean(kw[-24 * 60 :]) > 0


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_bypass_found_and_look_alikes_not_flagged(shared: Path) -> None:
    r = evaluate_transformers(shared, n_transformers=N_TX, seed=SEED)
    assert r["bypass"] == 12 and r["no_residual"] == 0
    assert r["recall"] >= 0.75, r  # measured 0.83: the misses are single machines that died early
    assert r["false_alarm_rate"]["clean"] == 0.0, r
    assert r["false_alarms"] <= 1, r
    assert r["auc"] >= 0.9, r
    assert r["onset_err_days_median"] is not None and r["onset_err_days_median"] <= 1.0, r
    assert r["kw_rel_err_median"] is not None and r["kw_rel_err_median"] <= 0.15, r
