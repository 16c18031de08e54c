"""Run the load-curve detector over meters: group, batch, score, compare with peers, assess impact.

This is the glue between I/O (readers, the hardware catalog, the impact module) and the pure
kernels (`features.analyse_block`, `detect.subscores_block`). Meters that share a day grid are
batched through one kernel call, so a file of 10,000 meters costs a handful of NumPy passes.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from minewatch.i18n import tr
from minewatch.model import Finding
from minewatch.power.calendar import festival_mask
from minewatch.power.detect import (
    REPORT_THRESHOLD,
    MachineUnit,
    build_finding,
    clock_label,
    peer_flatness,
    residential,
    small_rig_step,
    subscores_block,
    total_score,
)
from minewatch.power.features import (
    MIN_SEG,
    Block,
    analyse_block,
    hourly,
    judged_days,
    mask_unconnected,
    to_day_grid,
)
from minewatch.power.readers import MeterMeta, MeterSeries

if TYPE_CHECKING:
    from minewatch.assess.hardware import Catalog


@dataclass
class MeterScore:
    meter_id: str
    score: float
    finding: Finding


#: fewest days with at least half their readings a meter needs to be judged (features.MIN_SEG, the fewest
#: valid days on each side of a split): with less there is no weekly cycle, no usual change of the floor
#: to measure a step against and no load shape, and a one-day meter used to crash the kernel
MIN_JUDGE_DAYS = MIN_SEG


@dataclass
class ScanResult:
    scores: list[MeterScore] = field(default_factory=list)
    meters: int = 0
    notes: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  #: meter id -> why it was not judged

    def suspects(self, threshold: float = REPORT_THRESHOLD, top: int | None = None) -> list[Finding]:
        s = sorted((m for m in self.scores if m.score >= threshold), key=lambda m: (-m.score, m.meter_id))
        return [m.finding for m in (s[:top] if top else s)]


#: the catalog algorithm a household's GPU rig is sized with (its GPU rigs are listed under Ethash; after
#: Ethereum's move to proof of stake the same cards mine Ethereum Classic's Etchash at about the same rate)
GPU_ALGORITHM = "ethash"


@lru_cache(maxsize=1)
def _builtin_catalog() -> Catalog:
    """The package's hardware catalog, read once per process: `machine_unit` misses once per onset day, and each
    miss used to read and parse the CSV again (1,637 reads on 2,000 meters)."""
    from minewatch.assess.hardware import load_catalog

    return load_catalog()


@lru_cache(maxsize=4096)  # one entry a (day, catalog, algorithm): a year of onset days times two algorithms
def machine_unit(day: str | None, catalog: Catalog | None = None, algorithm: str = "sha256d") -> MachineUnit | None:
    """The catalog's typical machine of `algorithm` at a date: the unit kW is divided by (None if no catalog).

    The same rule as the impact assessment (`hardware.fleet_classes` on the onset day), so the machines in
    the evidence and the assessment's point estimate are one model. A day before the catalog's first model
    takes the earliest models, and `undated` makes the evidence say so."""
    try:
        from minewatch.assess.hardware import fleet_classes
        from minewatch.assess.site import site_pue

        at = datetime.fromisoformat(day).date() if day else None
        classes, first = fleet_classes(catalog or _builtin_catalog(), algorithm, at)
        pue = site_pue()
    except (ImportError, KeyError, OSError, ValueError):
        return None
    m = classes["typical"]
    return MachineUnit(str(m.model), float(m.power_w) / 1000.0, kind="ASIC" if algorithm == "sha256d" else "GPU rig",
                       algorithm=algorithm, undated=first is not None,
                       catalog_start=first.isoformat() if first else None, pue=pue)


def sized_unit(b: Block, i: int, tariff: str | None, day: str | None, catalog: Catalog | None = None) -> MachineUnit | None:
    """The machine meter `i`'s finding is counted in: a GPU rig for a household step the detector took as one
    (`detect.small_rig_step`), else the typical SHA-256 machine. Falls back to the SHA-256 machine when the
    catalog (a user's `--hardware`) lists no GPU rig."""
    if b.split_day[i] >= 0 and bool(small_rig_step(b.shift_kw[i : i + 1], residential([tariff], 1))[0]):
        gpu = machine_unit(day, catalog, GPU_ALGORITHM)
        if gpu is not None:
            return gpu
    return machine_unit(day, catalog)


#: most points of a finding's daily profile: two years of days; a longer meter gets several days a point
DAILY_POINTS = 731


def _round(v: float) -> float | None:
    return None if not np.isfinite(v) else float(f"{v:.4g}")


def daily_profile(
    row: np.ndarray, steps_per_day: int, day0_s: int, tz_offset_h: float, end_s: int | None = None
) -> dict[str, Any]:
    """A meter's daily min, mean and max kW, small enough to keep in its finding (`extra["daily_kw"]`).

    Why: the store holds findings, not series, and the case report drew a made-up ramp from the step's two
    levels (review 12). Days are the meter's clock (`start`, `clock`, as `power/plot.py` draws them); a day
    without readings is null, not 0. At most `DAILY_POINTS` points: longer data is put into groups of
    `days_per_point` days (min of the minima, mean of the means, max of the maxima), 4 significant digits.
    The profile ends where the data end (`end_s`, meter clock, `data_end_s`), as `last_seen` does: a day
    after it is no day of the data (review 13: the `24:00` point alone made a 151st day)."""
    n_days = row.size // steps_per_day
    if end_s is not None:
        n_days = max(0, min(n_days, -(-(end_s - day0_s) // 86_400)))
    d = row[: n_days * steps_per_day].reshape(-1, steps_per_day)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, mean, hi = np.nanmin(d, axis=1), np.nanmean(d, axis=1), np.nanmax(d, axis=1)
        k = -(-d.shape[0] // DAILY_POINTS)
        if k > 1:
            pad = (-d.shape[0]) % k
            lo, mean, hi = (np.r_[a, np.full(pad, np.nan)].reshape(-1, k) for a in (lo, mean, hi))
            lo, mean, hi = np.nanmin(lo, axis=1), np.nanmean(mean, axis=1), np.nanmax(hi, axis=1)
    return {
        "start": datetime.fromtimestamp(day0_s, tz=UTC).date().isoformat(),
        "clock": clock_label(tz_offset_h),
        "tz_offset_h": tz_offset_h,
        "days_per_point": int(k),
        "min": [_round(v) for v in lo],
        "mean": [_round(v) for v in mean],
        "max": [_round(v) for v in hi],
    }


def data_end_s(s: MeterSeries) -> int:
    """Where the meter's data end, on its wall clock (seconds): the end of the last valid reading's slot.

    Why not `start + slots x interval`: a slot is named by its reading's time stamp, and grid exports
    label a reading by the end of its interval (`00:15` … `24:00`): the `24:00` point ends the day, and
    adding one interval put the data's end at 00:15 of a day never read (review 12). A last reading at
    midnight is such a `24:00` point; any other is taken as the start of its slot (hourly `23:00` covers
    the hour to 24:00), and daily readings cover their whole day. Trailing slots without a reading are
    not data either. At worst (start labels that end on a midnight reading) one slot is left out."""
    last = _last_label(s)
    if end_labelled(s):
        return last
    return last + s.interval_s


def _last_label(s: MeterSeries) -> int:
    valid = np.flatnonzero(~np.isnan(s.kw))
    return s.start_s + int(valid[-1] if valid.size else s.kw.size - 1) * s.interval_s


def end_labelled(s: MeterSeries) -> bool:
    """Whether a meter's readings are labelled by the end of their interval (`00:15` … `24:00`): it reads
    more often than daily, its last valid reading is at midnight, and its first is not (a series that
    starts at 00:00 and ends at 00:00 is start-labelled with one reading of the next day: review 14 found
    every reading of such a meter moved back a slot). The rule of `data_end_s`.

    Why one rule: the data's end, the onset and the daily profile must read the labels alike. An hourly
    reading labelled 01:00 is the energy of 00:00-01:00; taken as the start of its hour, a rig switched
    on at 00:00 had its onset at 01:00, one slot late (review 13), and the `24:00` point made a day of
    its own in the daily profile."""
    if s.interval_s >= 86_400 or _last_label(s) % 86_400 != 0:
        return False
    valid = np.flatnonzero(~np.isnan(s.kw))
    first = s.start_s + int(valid[0] if valid.size else 0) * s.interval_s
    return first % 86_400 != 0


def assess_impact(
    kw: float | None, onset: datetime | None, until: datetime | None, unit: MachineUnit | None,
    tariff: float | None = None, currency: str = "CNY", catalog: Catalog | None = None,
) -> tuple[dict[str, Any] | None, str | None]:
    """Assessment dict from the impact module, or None and the reason it could not be made.

    No model is named: the assessment's typical model on the onset day is the detector's `unit` (one rule,
    `hardware.fleet_classes`), and naming it made a "chosen" row beside the typical one that could differ."""
    if kw is None or kw <= 0:
        return None, None
    try:
        from minewatch.assess.site import assess_from_power

        a = assess_from_power(
            kw, onset=onset, until=until, tariff=tariff, currency=currency,
            algorithm=unit.algorithm if unit is not None else "sha256d", catalog=catalog,
        )  # fmt: skip
        return a.to_dict(), None
    except Exception as e:  # the impact module is optional context; a failure must not hide the suspect
        return None, f"impact assessment failed: {type(e).__name__}: {e}"


def _daily_temp(
    temps: dict[str, tuple[np.ndarray, np.ndarray]], keys: list[str], day0_s: int, days: int
) -> np.ndarray | None:
    for k in keys:
        if k in temps:
            t, v = temps[k]
            d = (t - day0_s) // 86400
            ok = (d >= 0) & (d < days) & ~np.isnan(v)
            if not ok.any():
                return None
            s = np.bincount(d[ok], weights=v[ok], minlength=days)
            c = np.bincount(d[ok], minlength=days)
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where(c > 0, s / np.maximum(c, 1), np.nan)
    return None


def transformer_residuals(series: list[MeterSeries], meta: dict[str, MeterMeta]) -> list[MeterSeries]:
    """Transformer reading minus the sum of its customers, per hour: load nobody is billed for.

    Only hours where the transformer and every customer have a reading count (a missing customer
    hour makes the residual unknown, not larger).
    """
    by_id = {s.meter_id: s for s in series}
    out = []
    for tx in [s for s in series if (meta.get(s.meter_id) and (meta[s.meter_id].role or "").lower()
                                     .startswith("transformer"))]:
        kids = [by_id[m] for m, mm in meta.items() if mm.transformer == tx.meter_id and m in by_id
                and m != tx.meter_id]
        if not kids:
            continue
        h, st, _ = hourly(tx.kw, tx.start_s, tx.interval_s)
        resid = h.copy()
        load = np.zeros(h.size)
        for k in kids:
            kh, ks, kint = hourly(k.kw, k.start_s, k.interval_s)
            if kint != 3600:
                resid[:] = np.nan
                break
            off = (ks - st) // 3600
            aligned = np.full(h.size, np.nan)
            lo, hi = max(0, off), min(h.size, off + kh.size)
            if hi > lo:
                aligned[lo:hi] = kh[lo - off : hi - off]
            resid = resid - aligned
            load = load + aligned
        out.append(MeterSeries(f"{tx.meter_id}:unaccounted", st, 3600, _loss_compensated(resid, load), tx.source, "kw"))
    return out


def _loss_compensated(resid: np.ndarray, load: np.ndarray) -> np.ndarray:
    """The residual without the losses that move with the customers' load.

    Why: copper and line losses grow with the square of the load, so a newly connected (metered)
    customer raises the residual with no theft; a rig adds the same kW every hour. Fitting
    a*L + b*L^2 on within-day deviations (each day's mean removed) learns the losses from the daily
    load swing without absorbing a rig's step, which moves day means only. Fewer than 28 complete
    days: left as it is."""
    n = resid.size // 24 * 24
    ok = ~np.isnan(resid[:n]) & ~np.isnan(load[:n])

    def dev(a: np.ndarray) -> np.ndarray:
        d = np.where(ok, a[:n], np.nan).reshape(-1, 24)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN days stay NaN
            return (d - np.nanmean(d, axis=1, keepdims=True)).ravel()

    a = np.column_stack([dev(load), dev(load**2)])
    y = dev(resid)
    good = ~np.isnan(y) & ~np.isnan(a).any(axis=1)
    if good.sum() < 24 * 28:
        return resid
    coef, *_ = np.linalg.lstsq(a[good], y[good], rcond=None)
    return resid - (coef[0] * (load - np.nanmean(load)) + coef[1] * (load**2 - np.nanmean(load**2)))


def scan_series(
    series: list[MeterSeries],
    *,
    meta: dict[str, MeterMeta] | None = None,
    temperature: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
    tz_offset_h: float = 0.0,
    with_impact: bool = True,
    impact_threshold: float = REPORT_THRESHOLD,
    tariff: float | None = None,
    currency: str = "CNY",
    catalog: Catalog | None = None,
) -> ScanResult:
    """Score every meter; findings for all, impact only for suspects (it is the slow part).

    `catalog` (`power scan --hardware`) is the one both the machine count and the assessment use."""
    meta = meta or {}
    temperature = temperature or {}
    res = ScanResult(meters=len(series))
    all_series = list(series) + transformer_residuals(series, meta)
    groups: dict[tuple[int, int, int], list[tuple[MeterSeries, np.ndarray, int]]] = defaultdict(list)
    for s in all_series:
        # end labels are put at their interval's start, so each hour holds the energy read in it (see end_labelled)
        start = s.start_s - s.interval_s if end_labelled(s) else s.start_s
        kw, st, step = hourly(s.kw, start, s.interval_s)
        if kw.size == 0 or np.all(np.isnan(kw)):
            why = tr(f"meter {s.meter_id}: no valid readings; skipped", f"电表 {s.meter_id}：无有效读数；跳过")
            res.notes.append(why)
            res.skipped[s.meter_id] = why
            continue
        kw, connected = mask_unconnected(kw, step)
        if connected:
            day = datetime.fromtimestamp(st + connected * step, tz=UTC).date().isoformat()
            res.notes.append(tr(f"meter {s.meter_id}: reads exactly 0 until {day}; judged from its connection on",
                                f"电表 {s.meter_id}：{day} 之前读数恒为 0；从接电之日起判定"))
        row, S, day0, wd = to_day_grid(kw, st, step)
        n_days = judged_days(row, S)
        if n_days < MIN_JUDGE_DAYS:
            # one short meter must not stop the scan of the others, nor get a score it cannot earn
            n_ok = int(np.count_nonzero(~np.isnan(s.kw)))
            why = tr(f"meter {s.meter_id}: {n_ok} readings, {n_days} day(s) with at least half their readings; "
                     f"too little data to judge (needs {MIN_JUDGE_DAYS} days); skipped",
                     f"电表 {s.meter_id}：{n_ok} 条读数，{n_days} 天读数过半；数据太少无法判定"
                     f"（至少需要 {MIN_JUDGE_DAYS} 天）；跳过")
            res.notes.append(why)
            res.skipped[s.meter_id] = why
            continue
        groups[(day0, S, row.size)].append((s, row, wd))
    blocks: list[tuple[Block, list[MeterSeries], int, int, np.ndarray]] = []
    for (day0, S, _n), items in groups.items():
        x = np.vstack([r for _, r, _ in items])
        days = x.shape[1] // S
        temps = [
            _daily_temp(temperature, [s.meter_id, (meta.get(s.meter_id) or MeterMeta("")).site or "", "*"], day0, days)
            for s, _, _ in items
        ]
        td = None
        if any(t is not None for t in temps):
            td = np.vstack([t if t is not None else np.full(days, np.nan) for t in temps])
        fest = festival_mask(datetime.fromtimestamp(day0, tz=UTC).date(), days)
        b = analyse_block(x, S, first_weekday=items[0][2], temp_daily=td, festival=fest)
        for i, (s, _, _) in enumerate(items):
            if s.meter_id.endswith(":unaccounted"):
                # unbilled load is theft for as long as it ran: a rig that later failed or was switched
                # off is not a customer's own wander, so the persistence discount does not apply
                b.persist[i] = np.nan
                # nor does the festival test: unbilled load is theft whether or not it stops for the holiday
                b.fest_keep[i] = np.nan
        blocks.append((b, [s for s, _, _ in items], day0, S, x))
    # peers across all blocks
    ids = [s.meter_id for _, ss, *_ in blocks for s in ss]
    lf_all = np.concatenate([b.load_factor for b, *_ in blocks]) if blocks else np.zeros(0)
    nd_all = np.concatenate([b.night_day for b, *_ in blocks]) if blocks else np.zeros(0)

    def group_of(mid: str) -> str | None:
        mm = meta.get(mid)
        if mm is None or (mm.tariff_class is None and mm.business is None):
            return None
        return f"{(mm.tariff_class or '').lower()}|{(mm.business or '').lower()}"

    peer_lf, _peer_nd = peer_flatness(lf_all, nd_all, [group_of(i) for i in ids])
    pos = 0
    for b, ss, day0, S, x in blocks:
        k = len(ss)
        mm = [meta.get(s.meter_id) or MeterMeta(s.meter_id) for s in ss]
        cap = np.array([m.contracted_kw if m.contracted_kw else np.nan for m in mm], dtype=np.float64)
        sub = subscores_block(
            b,
            tariff=[m.tariff_class for m in mm],
            business=[m.business for m in mm],
            contracted_kw=cap,
            peer_lf=peer_lf[pos : pos + k],
            unbilled=np.array([s.meter_id.endswith(":unaccounted") for s in ss]),
        )
        pos += k
        tot = total_score(sub)
        for i, s in enumerate(ss):
            onset_day = None
            if b.split_day[i] >= 0:
                onset_day = datetime.fromtimestamp(day0 + int(b.onset_day[i]) * 86400, tz=UTC).date().isoformat()
            end_s = data_end_s(s)
            # the data's end is on the meter's clock like every slot: the impact's `until` is UTC, as `last_seen`
            # (until review 12 it was the local end read as UTC: 8 h too many at --tz-offset 8)
            end_day = datetime.fromtimestamp(end_s - tz_offset_h * 3600, tz=UTC)
            unit = sized_unit(b, i, mm[i].tariff_class, onset_day or end_day.date().isoformat(), catalog)
            f = build_finding(
                b, i, sub, meter_id=s.meter_id, day0_s=day0, steps_per_day=S, unit=unit, source=s.source,
                tz_offset_h=tz_offset_h, end_s=end_s,
            )
            # the assessment takes the fleet of the finding's UTC onset day (hardware.fleet_day); the local day
            # above can be the next one (models are dated by their month's first day), or the band's onset
            # another: sized again with that day's unit when it differs, so both name one model
            fleet = sized_unit(b, i, mm[i].tariff_class, (f.onset or end_day).date().isoformat(), catalog)
            if fleet != unit:
                unit = fleet
                f = build_finding(
                    b, i, sub, meter_id=s.meter_id, day0_s=day0, steps_per_day=S, unit=unit, source=s.source,
                    tz_offset_h=tz_offset_h, end_s=end_s,
                )
            if s.meter_id.endswith(":unaccounted"):
                f.variant = "transformer_balance"
            if with_impact and float(tot[i]) >= impact_threshold:
                # an episode that ended (detect.build_finding) ran to its end day, not to the end of the data
                ep_end = f.extra.get("episode_end")
                until = datetime.fromisoformat(ep_end) if ep_end else end_day
                f.impact, why = assess_impact(f.kw_mining, f.onset, until, unit, tariff, currency, catalog)
                if why:
                    f.extra["impact_error"] = why
                if f.impact is not None:  # one count for one finding (review 13)
                    from minewatch.assess.site import with_finding_count

                    f.impact = with_finding_count(f.impact, f.machines_est, unit.model if unit else None)
                # the store keeps findings, not series: the case report draws the meter from this
                f.extra["daily_kw"] = daily_profile(x[i], S, day0, tz_offset_h, end_s=end_s)
            if mm[i].site:
                f.site = mm[i].site
            res.scores.append(MeterScore(s.meter_id, float(tot[i]), f))
    return res
