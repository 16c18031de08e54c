"""Evaluate the detector on real curves with injected rigs and look-alikes: `python -m minewatch.power.evaluate`.

The detector sees only what an inspector would have (series, customer metadata, weather); the
truth stays here. Metrics: ROC AUC of the score (mining vs everything else), precision at k,
recall at the report threshold, onset error (days) and machine-count error (relative) on detected
fleets whose onset lies inside the window.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from minewatch.paths import shared_data
from minewatch.power.detect import REPORT_THRESHOLD
from minewatch.power.inject import TX_KINDS, generate, generate_transformers
from minewatch.power.scan import scan_series

TARGETS = {"auc": 0.95, "onset_days": 1.0, "machines_rel": 0.10}


def evaluate(shared: Path, n_meters: int = 300, seed: int = 7) -> dict[str, Any]:
    pop = generate(shared, n_meters=n_meters, seed=seed)
    res = scan_series(pop.series, meta=pop.meta, temperature=pop.temperature, with_impact=False)
    by_id = {s.meter_id: s for s in res.scores}
    y = np.array([t.label for t in pop.truth])
    score = np.array([by_id[t.meter_id].score if t.meter_id in by_id else 0.0 for t in pop.truth])
    order = np.argsort(-score, kind="stable")
    out: dict[str, Any] = {"meters": len(pop.truth), "mining": int(y.sum()), "seed": seed}
    out["auc"] = float(roc_auc_score(y, score))
    for k in (10, 50, 100):
        out[f"precision_at_{k}"] = float(y[order[:k]].mean())
    flagged = score >= REPORT_THRESHOLD
    out["recall"] = float((flagged & (y == 1)).sum() / max(1, y.sum()))
    out["precision"] = float((flagged & (y == 1)).sum() / max(1, flagged.sum()))
    fp_kinds = Counter(t.kind for t, f in zip(pop.truth, flagged, strict=True) if f and t.label == 0)
    fn_kinds = Counter("pre-window" if t.onset_s is None else "in-window"
                       for t, f in zip(pop.truth, flagged, strict=True) if not f and t.label == 1)
    out["false_positives_by_kind"] = dict(fp_kinds)
    # time-of-use fleets (inject.TOU_SCHEDULES): recall of the fleets that run in part of the day only
    tou = [f for t, f in zip(pop.truth, flagged, strict=True) if t.kind.startswith("mining_")]
    out["recall_tou"] = float(np.mean(tou)) if tou else None
    out["tou_fleets"] = len(tou)
    out["missed_by_kind"] = dict(fn_kinds)
    # The truth is the generator's machine count. The generator adds machines × unit kW to a meter, with no
    # site overhead, while the detector sizes machines as the assessment does, kW / (unit kW × PUE) (review
    # 13): that assumption costs accuracy here and the target is judged on it all the same. What a detector
    # following the formula exactly would answer, round(machines / PUE), is kept beside it as a diagnostic.
    from minewatch.assess.site import site_pue

    pue = site_pue()
    onset_err, mach_err, raw_err, kw_err, rows = [], [], [], [], []
    for t, s in zip(pop.truth, score, strict=True):
        if t.label != 1 or t.onset_s is None or s < REPORT_THRESHOLD:
            continue
        f = by_id[t.meter_id].finding
        row = {"meter": t.meter_id, "score": s, "true_machines": t.machines, "model": t.model,
               "est_machines": f.machines_est}
        if f.onset is not None:
            e = (f.onset.timestamp() - t.onset_s) / 86400
            onset_err.append(abs(e))
            row["onset_err_days"] = round(e, 2)
        if f.machines_est is not None and t.machines:
            ref = max(1, round(t.machines / pue))
            row["true_machines_at_pue"] = ref
            mach_err.append(abs(f.machines_est - t.machines) / t.machines)
            raw_err.append(abs(f.machines_est - ref) / ref)
        if f.kw_mining is not None and t.mining_kw:
            kw_err.append(abs(f.kw_mining - t.mining_kw) / t.mining_kw)
        rows.append(row)
    out["detected_with_onset"] = len(rows)
    out["onset_err_days_median"] = float(np.median(onset_err)) if onset_err else None
    out["onset_within_1_day"] = float(np.mean(np.array(onset_err) <= 1.0)) if onset_err else None
    out["machines_rel_err_median"] = float(np.median(mach_err)) if mach_err else None
    out["machines_within_10pct"] = float(np.mean(np.array(mach_err) <= 0.10)) if mach_err else None
    out["machines_pue"] = pue
    out["machines_rel_err_median_vs_formula"] = float(np.median(raw_err)) if raw_err else None
    out["machines_within_10pct_vs_formula"] = float(np.mean(np.array(raw_err) <= 0.10)) if raw_err else None
    out["kw_rel_err_median"] = float(np.median(kw_err)) if kw_err else None
    out["targets"] = TARGETS
    out["meets"] = {
        "auc": out["auc"] >= TARGETS["auc"],
        "onset": out["onset_err_days_median"] is not None and out["onset_err_days_median"] <= TARGETS["onset_days"],
        "machines": out["machines_rel_err_median"] is not None
        and out["machines_rel_err_median"] <= TARGETS["machines_rel"],
    }
    out["_rows"] = rows
    out["_scores"] = [(t.meter_id, t.kind, t.label, float(s)) for t, s in zip(pop.truth, score, strict=True)]
    return out


def evaluate_transformers(shared: Path, n_transformers: int = 60, seed: int = 7) -> dict[str, Any]:
    """How often the transformer balance (`<id>:unaccounted`) finds a rig wired before the meters.

    Recall over bypassed transformers, false-alarm rate per honest kind (clean, a new metered
    customer, a seasonal loss change), ROC AUC, onset and kW errors of the detected bypasses. The
    added kW the detector reports includes the rig's own extra losses, so a small positive kW error
    is expected. Customers' own scores are reported too (they are all honest here).
    """
    pop = generate_transformers(shared, n_transformers=n_transformers, seed=seed)
    temps = dict(pop.temperature)
    # the scan looks weather up by meter id or site; the residual series has no metadata row of its own,
    # so its site's weather is passed under its id (see the report: scan could inherit the site)
    for t in pop.truth:
        temps[f"{t.meter_id}:unaccounted"] = pop.temperature[t.meter_id]
    res = scan_series(pop.series, meta=pop.meta, temperature=temps, with_impact=False)
    by_id = {s.meter_id: s for s in res.scores}
    y = np.array([t.label for t in pop.truth])
    keys = [f"{t.meter_id}:unaccounted" for t in pop.truth]
    score = np.array([by_id[k].score if k in by_id else np.nan for k in keys])
    out: dict[str, Any] = {"transformers": len(pop.truth), "bypass": int(y.sum()), "seed": seed,
                           "no_residual": int(np.isnan(score).sum())}
    sc = np.nan_to_num(score, nan=0.0)  # no residual = no evidence
    out["auc"] = float(roc_auc_score(y, sc)) if 0 < y.sum() < y.size else None
    flagged = sc >= REPORT_THRESHOLD
    out["recall"] = float((flagged & (y == 1)).sum() / max(1, y.sum()))
    out["false_alarm_rate"] = {
        k: float(np.mean([f for t, f in zip(pop.truth, flagged, strict=True) if t.kind == k]))
        for k in TX_KINDS[1:] if any(t.kind == k for t in pop.truth)
    }
    out["false_alarms"] = int((flagged & (y == 0)).sum())
    onset_err, kw_err, rows = [], [], []
    for t, s, k in zip(pop.truth, sc, keys, strict=True):
        row: dict[str, Any] = {"transformer": t.meter_id, "kind": t.kind, "score": round(float(s), 1),
                               "true_kw": t.mining_kw}
        if k in by_id:
            f = by_id[k].finding
            row["est_kw"] = f.kw_mining
            if t.label == 1 and s >= REPORT_THRESHOLD:
                if f.onset is not None and t.onset_s is not None:
                    e = (f.onset.timestamp() - t.onset_s) / 86400
                    onset_err.append(abs(e))
                    row["onset_err_days"] = round(e, 2)
                if f.kw_mining is not None and t.mining_kw:
                    kw_err.append((f.kw_mining - t.mining_kw) / t.mining_kw)
        rows.append(row)
    out["onset_err_days_median"] = float(np.median(onset_err)) if onset_err else None
    out["onset_within_1_day"] = float(np.mean(np.array(onset_err) <= 1.0)) if onset_err else None
    out["kw_rel_err_median"] = float(np.median(np.abs(kw_err))) if kw_err else None
    out["kw_rel_bias_median"] = float(np.median(kw_err)) if kw_err else None
    cust = {m.meter_id: m.score for m in res.scores if pop.meta.get(m.meter_id) and pop.meta[m.meter_id].transformer}
    out["customers"] = len(cust)
    out["customers_flagged"] = int(sum(c >= REPORT_THRESHOLD for c in cust.values()))
    # the newly connected customer is the last one under its transformer: its own meter steps up from 0
    new_ids = [max(m for m in cust if m.startswith(f"{t.meter_id}-")) for t in pop.truth if t.kind == "new_customer"]
    out["new_customer_meters"] = len(new_ids)
    out["new_customer_meters_flagged"] = int(sum(cust[m] >= REPORT_THRESHOLD for m in new_ids))
    out["_rows"] = rows
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Evaluate the power-load detector on injected mining loads.")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--meters", type=int, default=300)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--transformers", type=int, default=0, metavar="N",
                    help="evaluate the transformer balance (meter bypass) on N generated transformers instead")
    a = ap.parse_args(argv)
    shared = shared_data()
    if shared is None:
        print("shared data folder is absent (set MINEWATCH_SHARED_DATA)", file=sys.stderr)
        return 2
    a.out.mkdir(parents=True, exist_ok=True)
    if a.transformers > 0:
        r = evaluate_transformers(shared, a.transformers, a.seed)
        (a.out / "power_eval_transformers.json").write_text(
            json.dumps({k: v for k, v in r.items() if not k.startswith("_")}, indent=2))
        (a.out / "power_eval_transformers_rows.json").write_text(json.dumps(r["_rows"], indent=1))
        print(json.dumps({k: v for k, v in r.items() if not k.startswith("_")}, indent=2))
        return 0
    r = evaluate(shared, a.meters, a.seed)
    (a.out / "power_eval.json").write_text(json.dumps({k: v for k, v in r.items() if not k.startswith("_")},
                                                      indent=2))
    (a.out / "power_eval_detected.json").write_text(json.dumps(r["_rows"], indent=1))
    (a.out / "power_eval_scores.csv").write_text(
        "meter,kind,label,score\n" + "".join(f"{m},{k},{lab},{s}\n" for m, k, lab, s in r["_scores"]))
    print(json.dumps({k: v for k, v in r.items() if not k.startswith("_")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
