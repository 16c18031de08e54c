"""Load-shape features of many meters at once: pure NumPy over a (meters, days, slots) block.

Why a block kernel: the same function runs on one meter in the CLI, on 2,000-meter chunks in the
benchmark and on a Spark partition later; vectorising across meters is what makes 876 M readings fit
in minutes on two cores. Everything is NaN-aware and nothing is filled: a missing slot simply does
not vote (weights, nan-medians), and a day with less than half its slots is no day at all.

What the features look for (research notes, energy.md part A): rigs add a *constant* to every hour
from the day they are switched on. So we find the day the daily floor steps up (one least-squares
split, the l2 cost of `ruptures` Binseg, done in closed form with cumulative sums), then measure how
the hour-of-day profile shifted (uniform for rigs; evening-only for EV chargers; night-only for
greenhouse lamps), whether the added load added roughness (compressors cycle, rigs do not), and
whether the added load follows temperature or season (heat pumps, boilers and cold rooms do).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

PRE_DAYS = 42  #: days before the onset that describe the customer's own load
POST_GAP = 10  #: days after the split skipped before the plateau is measured (ramp-up)
POST_DAYS = 56  #: days of plateau used for the step size and the hour-of-day shift
MIN_SEG = 14  #: fewest valid days each side of a split
MIN_COVER = 0.5  #: a day needs half its slots to count
FLOOR_Q = 0.2  #: the daily floor is this quantile of the day's readings
SHAPE_DAYS = 112  #: days (from the plateau, or the last ones without a step) that describe the load's shape


@dataclass(slots=True)
class Block:
    """Per-meter features of one block; arrays of length m (NaN = could not be measured)."""

    n_valid: np.ndarray
    n_days: np.ndarray
    mean_kw: np.ndarray
    peak_kw: np.ndarray
    split_day: np.ndarray  # first day of the new level (int, -1 = none)
    onset_day: np.ndarray  # first day with added load (int, -1 = none)
    onset_slot: np.ndarray  # slot of that day where the added load first shows
    gain_t: np.ndarray  # step of the floor / the meter's usual week-to-week change (step_scan)
    step_kw: np.ndarray  # floor after minus floor before
    shift_kw: np.ndarray  # median hour-of-day shift: the added constant load
    shift_mean_kw: np.ndarray  # mean load of the plateau minus the mean before (all hours, weekends too)
    uniform: np.ndarray  # fraction of hours shifted like the median hour
    rough_added: np.ndarray  # extra slot-to-slot roughness after the onset, in kW
    temp_frac: np.ndarray  # added load's temperature-driven swing / added load
    drift: np.ndarray  # later step down of the floor / added load (0 = the load stayed)
    load_factor: np.ndarray  # mean/peak after onset (or last 8 weeks)
    night_day: np.ndarray  # 00-05 h mean / 10-17 h mean, same window
    weekend_ratio: np.ndarray  # weekend mean / weekday mean
    daily_cv: np.ndarray  # CV of daily energy, same window
    pre_kw: np.ndarray
    post_kw: np.ndarray
    curtailed_frac: np.ndarray  # share of plateau slots well below the plateau (curtailment/failures)
    additive: np.ndarray  # share of hours whose shift at the chosen step is within 30 % of the median shift
    floor_share: np.ndarray  # 10th percentile of the hourly load / mean load, same window as load_factor
    hourly_rough: np.ndarray  # median |hour-to-hour change| / mean load, same window
    dow_amp: np.ndarray  # (highest - lowest weekday mean) / mean, same window
    added_spread: np.ndarray  # growth of the scatter around the hour-of-day profile / added load
    persist: np.ndarray  # share of the days after the step whose floor stays above half of it
    fest_keep: np.ndarray  # share of the candidate load kept over the Spring Festival (festival_keep)
    fest_drop: np.ndarray  # its fall in units of the meter's usual weekly change of the floor
    fest_abs: np.ndarray  # the festival floor / the step (a running rig keeps at least its own kW)
    fest_whole: np.ndarray  # the festival floor / the floor before it, whatever the step (the whole load's keep)
    fill_corr: np.ndarray  # correlation over the hours of the day of the added load with the old profile
    pre_night_day: np.ndarray  # 00-05 h / 10-17 h of the hour profile before the step
    slots_per_day: np.ndarray  # readings per day of the grid (1 = daily totals: no hour-of-day shape)
    recovery: np.ndarray  # share of the chosen step that only returns the floor to its level before a dip
    closure_days: np.ndarray  # longest run of days the whole load stopped (day's mean < CLOSED_FRAC of usual) and came back
    # the first weeks after the step (episode_features): what a load added before it went away again
    ep_kw: np.ndarray  # median hour-of-day shift over the SCAN_W days after the ramp-up week
    ep_uniform: np.ndarray  # share of hours shifted like it (as `uniform`)
    ep_rough: np.ndarray  # day-to-day change of the floor over those days (robust SD) / ep_kw
    ep_host: np.ndarray  # ep_kw / the customer's own mean load before the step
    ep_after: np.ndarray  # share of the days after those weeks whose floor still holds half of ep_kw
    ep_end: np.ndarray  # the day the episode's load ended (int, -1 = it did not end: ep_after >= EP_ENDED)
    rest_dip: np.ndarray  # fall of the added daytime load on its lowest weekday below the median weekday / shift_kw
    # a constant load added in a band of hours only (valley-hours mining; band_features); NaN = none
    band_mask: np.ndarray  # the band's hours as a 24-bit mask (bit h = hour h; band_hours() lists its runs)
    band_len: np.ndarray  # hours in the band
    band_fill: np.ndarray  # after the step, the band's level / the other hours' level (1 = runs all day alike)
    band_kw: np.ndarray  # median added kW over the band's hours (plateau against the 42 days before)
    band_gain_t: np.ndarray  # step of the band's daily mean in units of its own usual weekly change
    band_flat: np.ndarray  # share of the band's hours whose added kW is within 30 % of band_kw
    band_quiet: np.ndarray  # share of the other hours whose load moved by less than 30 % of band_kw
    band_persist: np.ndarray  # share of the later nights whose band excess stays above half of band_kw
    band_rough: np.ndarray  # night-to-night change the band added (robust SD beyond the same before) / band_kw
    band_temp: np.ndarray  # swing of the band excess explained by temperature / band_kw
    band_cold: np.ndarray  # share of the days since the band's step colder than BAND_COLD_C (a heating season)
    band_onset_day: np.ndarray  # day of the band's first raised hour (-1 = none)
    band_onset_slot: np.ndarray  # its hour


def judged_days(row: np.ndarray, steps_per_day: int) -> int:
    """Days with at least half their slots read: what a meter has to be judged on (`MIN_SEG` of them)."""
    valid = np.sum(~np.isnan(row.reshape(-1, steps_per_day)), axis=1)
    return int(np.count_nonzero(valid >= 0.5 * steps_per_day))


def _nanq_sorted(x: np.ndarray, q: float, axis: int = -1) -> np.ndarray:
    """Quantile ignoring NaN via one sort (NaNs sort last); much faster than np.nanquantile."""
    s = np.sort(x, axis=axis)
    n = np.sum(~np.isnan(x), axis=axis)
    k = np.clip(np.floor(q * (n - 1)).astype(np.int64), 0, None)
    out = np.take_along_axis(s, np.expand_dims(k, axis), axis=axis).squeeze(axis)
    return np.where(n > 0, out, np.nan)


def _profile_shift(x: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Per meter, the hour-of-day median of the SCAN_W days after `days` + SCAN_GAP (the ramp-up
    skipped) minus that of the SCAN_W days before: what a candidate step added in each hour. The
    floor's candidates (`choose_split`) and the band's (`band_features`) read it the same way."""
    pre = _nanq_sorted(_window(x, days - SCAN_W, SCAN_W), 0.5, axis=1)
    post = _nanq_sorted(_window(x, days + SCAN_GAP, SCAN_W), 0.5, axis=1)
    return post - pre


def _window(a: np.ndarray, start: np.ndarray, length: int) -> np.ndarray:
    """Rows a[i, start[i]:start[i]+length] with NaN outside the array (bounded, no copies of the rest)."""
    m, n = a.shape[:2]
    idx = start[:, None] + np.arange(length)[None, :]
    ok = (idx >= 0) & (idx < n)
    idxc = np.clip(idx, 0, n - 1)
    if a.ndim == 2:
        out = a[np.arange(m)[:, None], idxc]
        return np.where(ok, out, np.nan)
    out = a[np.arange(m)[:, None], idxc, :]
    return np.where(ok[:, :, None], out, np.nan)


def best_split(y: np.ndarray, min_seg: int = MIN_SEG) -> tuple[np.ndarray, np.ndarray]:
    """Single mean-shift change point per row (least squares), NaN-aware through weights.

    Returns (k, gain): k = first index of the right segment (-1 if no valid split), gain = reduction
    of the sum of squares. Same objective as ruptures' Binseg with the l2 cost for one break.
    """
    m = y.shape[0]
    if y.ndim != 2 or y.shape[1] < 2:  # one day (or none): nothing to split, and no argmax of nothing
        return np.full(m, -1, dtype=np.int64), np.full(m, np.nan)
    w = (~np.isnan(y)).astype(np.float64)
    x = np.where(w > 0, y, 0.0)
    cw = np.cumsum(w, axis=1)
    cx = np.cumsum(x, axis=1)
    W = cw[:, -1:]
    X = cx[:, -1:]
    left_w = cw[:, :-1]
    left_x = cx[:, :-1]
    right_w = W - left_w
    right_x = X - left_x
    with np.errstate(invalid="ignore", divide="ignore"):
        gain = left_x**2 / left_w + right_x**2 / right_w - X**2 / W
    ok = (left_w >= min_seg) & (right_w >= min_seg)
    gain = np.where(ok & np.isfinite(gain), gain, -np.inf)
    k = np.argmax(gain, axis=1)
    g = gain[np.arange(y.shape[0]), k]
    valid = np.isfinite(g)
    return np.where(valid, k + 1, -1), np.where(valid, g, np.nan)


SCAN_W = 28  #: days each side of a candidate step in the step scan
SCAN_GAP = 7  #: days skipped after a candidate day (fleets are switched on over up to a week)
N_CAND = 4  #: candidate steps per meter examined for rig-likeness
#: days before a candidate step whose median floor is "the level before a dip": longer than a plant's
#: closure (Spring Festival 7-30 days, maintenance turnarounds 10-21 days) so the closure is a minority
REF_DAYS = 91
#: the host business's own dip of its floor over the Spring Festival that is not charged to a candidate load
HOST_DIP_MAX = 0.5


def _scan(floor: np.ndarray, w: int, gap: int) -> np.ndarray:
    """mean of floor[d+gap : d+gap+w] minus mean of floor[d-w : d] for every day d (NaN-aware)."""
    m, D = floor.shape
    ok = ~np.isnan(floor)
    cw = np.concatenate([np.zeros((m, 1)), np.cumsum(ok, axis=1)], axis=1)
    cx = np.concatenate([np.zeros((m, 1)), np.cumsum(np.where(ok, floor, 0.0), axis=1)], axis=1)

    def at(c: np.ndarray, off: int) -> np.ndarray:
        # c[:, clip(d + off, 0, D)] for d = 0..D-1, by slicing (a gather per element is 3-4x slower)
        lo, hi = max(0, -off), min(D, D - off)  # d whose index d + off lies in [0, D]
        if hi <= lo:
            return np.repeat(c[:, :1] if off < 0 else c[:, D : D + 1], D, axis=1)
        parts = [np.repeat(c[:, :1], lo, axis=1), c[:, lo + off : hi + off + 1][:, : hi - lo + 1]]
        out = np.concatenate(parts, axis=1)[:, :D]
        if out.shape[1] < D:
            out = np.concatenate([out, np.repeat(c[:, D : D + 1], D - out.shape[1], axis=1)], axis=1)
        return out

    cw_a0, cw_a1, cw_b0, cw_b1 = at(cw, -w), cw[:, :D], at(cw, gap), at(cw, gap + w)
    cx_a0, cx_a1, cx_b0, cx_b1 = at(cx, -w), cx[:, :D], at(cx, gap), at(cx, gap + w)
    n_pre = cw_a1 - cw_a0
    n_post = cw_b1 - cw_b0
    with np.errstate(invalid="ignore", divide="ignore"):
        pre = (cx_a1 - cx_a0) / n_pre
        post = (cx_b1 - cx_b0) / n_post
    good = (n_pre >= (w + 1) // 2) & (n_post >= (w + 1) // 2)
    return np.where(good, post - pre, np.nan)


#: a day whose mean load is below this share of the meter's usual one is a day the load as a whole was stopped
CLOSED_FRAC = 0.4
#: ... and the load ran before and after such a run: the mean of CLOSED_CTX days either side of it is at least
#: CLOSED_BACK of the usual level
CLOSED_CTX = 28
CLOSED_BACK = 0.7
CLOSED_AFTER = 3  #: fewest days read after a closure that show the load came back


def closure_run(daily: np.ndarray) -> np.ndarray:
    """Per meter, the longest run of days whose level (`daily`: (meters, days), the day's mean load in the
    kernel) fell below CLOSED_FRAC of the meter's usual level (its median over the days read) while the
    load ran before and after it (the mean level of the CLOSED_CTX days on each side at least CLOSED_BACK of
    the usual one; 0 = none).

    Why: a load that never switches off is what the whole-load shape points reward. A plant that closes for
    the Spring Festival or a maintenance turnaround stops as a whole for one to four weeks and then runs as
    before; a fleet of machines loses them one at a time (failures, repairs), so its load keeps most of its
    level. A run at the start of the data (a load switched on later) is no closure: it needs the load
    before it, and after it unless the data end in it (exports often end in the Spring Festival). A missing
    day ends a run (unknown is not closed).
    """
    m, D = daily.shape
    if D == 0:
        return np.zeros(m)
    lvl = _nanq_sorted(daily, 0.5)
    with np.errstate(invalid="ignore"):
        low = daily < CLOSED_FRAC * lvl[:, None]
    # length of the run of low days ending at each day (cumulative count reset at every non-low day)
    idx = np.arange(1, D + 1)[None, :]
    last_break = np.maximum.accumulate(np.where(low, 0, idx), axis=1)
    run = np.where(low, idx - last_break, 0)
    ends = low & ~np.concatenate([low[:, 1:], np.zeros((m, 1), dtype=bool)], axis=1)
    ok = ~np.isnan(daily)
    cw = np.concatenate([np.zeros((m, 1)), np.cumsum(ok, axis=1)], axis=1)
    cx = np.concatenate([np.zeros((m, 1)), np.cumsum(np.where(ok, daily, 0.0), axis=1)], axis=1)
    d = np.arange(D)[None, :]
    start = d - run + 1  # first low day of the run ending at d
    b0, b1 = np.clip(start - CLOSED_CTX, 0, D), np.clip(start, 0, D)
    a0, a1 = np.clip(d + 1, 0, D), np.clip(d + 1 + CLOSED_CTX, 0, D)
    r = np.arange(m)[:, None]
    nb, na = cw[r, b1] - cw[r, b0], cw[r, a1] - cw[r, a0]
    with np.errstate(invalid="ignore", divide="ignore"):
        before = (cx[r, b1] - cx[r, b0]) / nb
        after = (cx[r, a1] - cx[r, a0]) / na
        back = lvl[:, None] * CLOSED_BACK
        # the load ran before (half the context read) and came back (a few days suffice: a plant that reopens
        # a week before the data ends), or the data ends in the closure (a festival at the end of an export)
        last = D - 1 - np.argmax(ok[:, ::-1], axis=1)
        came_back = ((na >= CLOSED_AFTER) & (after >= back)) | (d == last[:, None])
        good = ends & (nb >= CLOSED_CTX // 2) & (before >= back) & came_back
    return np.max(np.where(good, run, 0), axis=1).astype(np.float64)


def _scan_pre(floor: np.ndarray, w: int) -> np.ndarray:
    """Mean of floor[d-w : d] for every day d (NaN-aware, NaN with fewer than w/2 valid days)."""
    m, D = floor.shape
    ok = ~np.isnan(floor)
    cw = np.concatenate([np.zeros((m, 1)), np.cumsum(ok, axis=1)], axis=1)
    cx = np.concatenate([np.zeros((m, 1)), np.cumsum(np.where(ok, floor, 0.0), axis=1)], axis=1)
    d = np.arange(D)
    a0 = np.clip(d - w, 0, D)
    n = cw[:, d] - cw[:, a0]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n >= (w + 1) // 2, (cx[:, d] - cx[:, a0]) / n, np.nan)


def step_scan(
    floor: np.ndarray, w: int = SCAN_W, gap: int = SCAN_GAP, *, fast: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Step of the daily floor at every day and its size in units of the meter's own weekly change.

    step[d] = mean floor of days [d+gap, d+gap+w) minus mean of [d-w, d). Why self-normalised: a
    feeder whose level wanders from week to week must show a step far above its own usual change,
    a quiet household only above its quiet noise. The unit is the MAD over the year of the same
    statistic on one-week windows: it contains the day-to-day noise and the base's own drift, while
    a rig's step (sharp, done within a week) only moves it on ~two weeks of the year. Means come
    from cumulative sums, so the scan costs O(days) per meter.
    """
    step = _scan(floor, w, gap)
    s7 = _scan(floor, 7, gap)
    if fast:  # one sort per row (lower median) instead of masked-array medians: the per-hour band scan
        med = _nanq_sorted(s7, 0.5)[:, None]
        mad = 1.4826 * _nanq_sorted(np.abs(s7 - med), 0.5)
        lvl = _nanq_sorted(floor, 0.5)
        scale = np.maximum(mad, 0.01 * np.abs(lvl) + 1e-3)
        return step, step / scale[:, None]
    med = np.nanmedian(s7, axis=1, keepdims=True)
    mad = 1.4826 * np.nanmedian(np.abs(s7 - med), axis=1)
    lvl = np.nanmedian(floor, axis=1)
    scale = np.maximum(mad, 0.01 * np.abs(lvl) + 1e-3)
    return step, step / scale[:, None]


def candidate_days(z: np.ndarray, k: int = N_CAND, sep: int = SCAN_W) -> np.ndarray:
    """Up to k days of the largest positive z, at least `sep` days apart (-1 = no more candidates)."""
    m, D = z.shape
    zz = np.where(np.isnan(z) | (z <= 0), -np.inf, z)
    out = np.full((m, k), -1, dtype=np.int64)
    d = np.arange(D)[None, :]
    for j in range(k):
        a = np.argmax(zz, axis=1)
        okj = np.isfinite(zz[np.arange(m), a])
        out[:, j] = np.where(okj, a, -1)
        zz = np.where(okj[:, None] & (np.abs(d - a[:, None]) < sep), -np.inf, zz)
    return out


def _analyse_block(
    x: np.ndarray,
    steps_per_day: int,
    *,
    first_weekday: int = 0,
    temp_daily: np.ndarray | None = None,
    festival: np.ndarray | None = None,
) -> Block:
    """Features of m meters whose readings x (m, days*steps_per_day) start at local midnight.

    `first_weekday` is the weekday of day 0 (Monday = 0); `temp_daily` (m, days) is the day's mean
    temperature in °C or None; `festival` (days,) marks the core Spring Festival days
    (`calendar.festival_mask`) or is None. Pure: no I/O, no state.
    """
    m, n = x.shape
    S = steps_per_day
    D = n // S
    x = np.asarray(x[:, : D * S], dtype=np.float64).reshape(m, D, S)
    valid = ~np.isnan(x)
    cnt = valid.sum(axis=2)
    dayok = cnt >= MIN_COVER * S
    with np.errstate(invalid="ignore", divide="ignore"):
        dmean = np.where(dayok, np.nansum(x, axis=2) / np.maximum(cnt, 1), np.nan)
    floor = np.where(dayok, _nanq_sorted(x, FLOOR_Q) if S > 1 else dmean, np.nan)
    n_valid = valid.sum(axis=(1, 2))
    n_days = dayok.sum(axis=1)
    mean_kw = np.nanmean(np.where(dayok, dmean, np.nan), axis=1) if D else np.full(m, np.nan)
    peak_kw = _nanq_sorted(x.reshape(m, -1), 0.995)

    rows = np.arange(m)
    closure_days = closure_run(dmean)
    k, zbest, additive, persist, recovery = choose_split(floor, x)
    has = k > 0
    kk = np.where(has, k, 0)
    pre_w = _window(floor, kk - PRE_DAYS, PRE_DAYS)
    post_w = _window(floor, kk + POST_GAP, POST_DAYS)
    pre_lvl = np.nanmedian(pre_w, axis=1) if D else np.full(m, np.nan)
    post_lvl = np.nanmedian(post_w, axis=1) if D else np.full(m, np.nan)
    step = post_lvl - pre_lvl
    # day-to-day noise of the floor from the pre window (MAD of differences, robust to weekends)
    dpre = np.diff(pre_w, axis=1)
    noise = 1.4826 * np.nanmedian(np.abs(dpre - np.nanmedian(dpre, axis=1, keepdims=True)), axis=1) / np.sqrt(2)
    noise = np.maximum(noise, 0.01 * np.abs(pre_lvl) + 1e-3)
    gain_t = np.where(has, zbest, np.nan)

    # onset: walk back from the split over the run of days that are "up" (the day's floor and the next
    # day's both above the old floor by the threshold); the run must reach the split
    look = 21
    back = _window(floor, kk - look, look + 1)
    nxt = _window(floor, kk - look + 1, look + 1)
    thr = np.maximum(3 * noise, 0.1 * np.abs(step))[:, None]
    up = ((back - pre_lvl[:, None]) > thr) & ((nxt - pre_lvl[:, None]) > thr)
    # first up day of that run = the last day that is not up, plus one (the split day itself counts as up)
    notup = ~up
    notup[:, -1] = False
    last_not = np.where(notup.any(axis=1), np.minimum(look - np.argmax(notup[:, ::-1], axis=1) + 1, look), 0)
    first_up = np.where(has, np.clip(kk - look + last_not, 0, max(D - 1, 0)), -1)
    # the hour: a rig switched on after ~05:00 does not yet lift that day's floor (a low quantile of
    # its hours), so its first up day is the next one. When the day before the first up day ends in a
    # run of hours above the old hour profile (at least 2 slots, 80 % of them above, the first and the
    # last too), the onset is the start of that run; otherwise it is the first hour of the first up day
    # above the old profile. Both by half the threshold.
    pre_x = _window(x, kk - PRE_DAYS, PRE_DAYS)  # the customer's own load before the step
    prof_pre = np.nanmedian(pre_x, axis=1) if D else np.full((m, S), np.nan)
    fu = np.clip(first_up, 0, max(D - 1, 0))
    day_x = x[rows, fu, :] if D else np.full((m, S), np.nan)
    exc = (day_x - prof_pre) > (0.5 * thr)
    slot_up = np.where(exc.any(axis=1), np.argmax(exc, axis=1), 0)
    prev = np.clip(fu - 1, 0, max(D - 1, 0))
    prev_x = x[rows, prev, :] if D else np.full((m, S), np.nan)
    tail_slot = _tail_run(prev_x - prof_pre, 0.5 * thr) if S > 1 else np.full(m, -1)
    use_prev = has & (fu >= 1) & (tail_slot >= 0)
    onset_day = np.where(use_prev, fu - 1, first_up)
    onset_slot = np.where(use_prev, tail_slot, slot_up)

    # hour-of-day shift between the pre window and the plateau
    post_x = _window(x, kk + POST_GAP, POST_DAYS)
    prof_post = np.nanmedian(post_x, axis=1)
    shift = prof_post - prof_pre
    shift_kw = np.nanmedian(shift, axis=1)
    # the added energy per hour when the added load is not constant (idle-hours mining): every hour and
    # every weekday counts, which the median hour profiles above do not
    shift_mean_kw = np.nanmean(post_x.reshape(m, -1), axis=1) - np.nanmean(pre_x.reshape(m, -1), axis=1)
    tol = 0.25 * np.abs(shift_kw)[:, None] + 2 * noise[:, None]
    uniform = np.mean(np.abs(shift - shift_kw[:, None]) <= tol, axis=1) if S > 1 else np.full(m, np.nan)
    ep_kw, ep_uniform, ep_rough, ep_host, ep_after, ep_end = episode_features(x, floor, kk, prof_pre, pre_x, noise)
    fd = np.zeros(D, dtype=bool) if festival is None else np.asarray(festival, dtype=bool)[:D]
    rest_dip = rest_day_dip(pre_x, post_x, kk, first_weekday, shift_kw, festival=fd if fd.size == D else None)

    # idle capacity put to work: does the added load fill exactly the hours that were low before (GPU
    # servers mining when their owners do not use them)? Then it is anti-correlated with the old profile.
    if S >= 24:
        hh = np.arange(S) * 24 // S
        pre_night_day = np.nanmean(prof_pre[:, hh < 5], axis=1) / np.nanmean(prof_pre[:, (hh >= 10) & (hh < 17)], axis=1)
        fill_corr = _row_corr(shift, prof_pre)
    else:
        pre_night_day = fill_corr = np.full(m, np.nan)

    # roughness: median over days of the mean absolute slot-to-slot change
    if S > 1:
        r_pre = np.nanmedian(np.nanmean(np.abs(np.diff(pre_x, axis=2)), axis=2), axis=1)
        r_post = np.nanmedian(np.nanmean(np.abs(np.diff(post_x, axis=2)), axis=2), axis=1)
        rough_added = r_post - r_pre
        # the added component's own scatter: spread of the readings around each window's own
        # hour-of-day profile. A rig adds a constant, so the scatter does not grow; a machine line,
        # compressors or cooling add their own wandering component. Reported as evidence, not scored:
        # on the evaluation set the base feeders' own scatter changes as much between two windows.
        e_pre = pre_x - prof_pre[:, None, :]
        e_post = post_x - prof_post[:, None, :]
        added_spread = (_robust_sd(e_post.reshape(m, -1)) - _robust_sd(e_pre.reshape(m, -1))) \
            / np.maximum(np.abs(shift_kw), 1e-9)
    else:
        rough_added = np.full(m, np.nan)
        added_spread = np.full(m, np.nan)

    # temperature: did the load become more weather-sensitive at the onset? Day-to-day deviations
    # from a 7-day running mean are compared, so the customer's own seasonal drift does not count.
    day_idx = np.arange(D)[None, :]
    pre_mask = (day_idx >= (kk - 90)[:, None]) & (day_idx < kk[:, None]) & has[:, None]
    post_mask = (day_idx >= (kk + POST_GAP)[:, None]) & (day_idx < (kk + POST_GAP + 120)[:, None]) & has[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        if temp_daily is not None and D:
            t = np.asarray(temp_daily, dtype=np.float64)[:, :D]
            t_res = t - _roll_mean(t, 7)
            d_res = dmean - _roll_mean(dmean, 7)
            b_post, sd_post = _slope(t_res, d_res, post_mask)
            b_pre, _ = _slope(t_res, d_res, pre_mask)
            b_pre = np.where(np.isnan(b_pre), 0.0, b_pre)
            temp_frac = np.abs(b_post - b_pre) * 2 * sd_post / np.abs(step)
        else:
            temp_frac = np.full(m, np.nan)
        # does the added load stop again (heating season, greenhouse season, a temporary job)?
        after = np.where(day_idx >= (kk + POST_GAP)[:, None], floor, np.nan)
        k2, _ = best_split(after, min_seg=MIN_SEG)
        has2 = has & (k2 > 0)
        k2c = np.where(has2, k2, 0)
        lvl_a = np.nanmedian(_window(floor, k2c - 28, 28), axis=1) if D else np.full(m, np.nan)
        lvl_b = np.nanmedian(_window(floor, k2c + 3, 28), axis=1) if D else np.full(m, np.nan)
        down = lvl_a - lvl_b
        drift = np.where(has2 & (down / noise > 5), down / np.abs(step), 0.0)
        drift = np.where(has, drift, np.nan)

    # shape of the load since the onset (or the last 8 weeks when there is no onset)
    start_shape = np.where(has, np.minimum(kk + POST_GAP, np.maximum(D - POST_DAYS, 0)),
                           np.maximum(D - SHAPE_DAYS, 0))
    wx = _window(x, start_shape, SHAPE_DAYS)
    wflat = wx.reshape(m, -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        w_mean = np.nanmean(wflat, axis=1)
        load_factor = w_mean / _nanq_sorted(wflat, 0.99)
        if S >= 24:
            h = np.arange(S) * 24 // S
            night = np.nanmean(wx[:, :, (h >= 0) & (h < 5)].reshape(m, -1), axis=1)
            daym = np.nanmean(wx[:, :, (h >= 10) & (h < 17)].reshape(m, -1), axis=1)
            night_day = night / daym
        else:
            night_day = np.full(m, np.nan)
        wd = (first_weekday + start_shape[:, None] + np.arange(SHAPE_DAYS)[None, :]) % 7
        wdm = np.nanmean(wx, axis=2)
        weekend = np.nanmean(np.where(wd >= 5, wdm, np.nan), axis=1)
        weekday = np.nanmean(np.where(wd < 5, wdm, np.nan), axis=1)
        weekend_ratio = weekend / weekday
        # robust spread: a machine down for a week must not make a rig's energy look unstable
        med_d = np.nanmedian(wdm, axis=1)
        daily_cv = 1.4826 * np.nanmedian(np.abs(wdm - med_d[:, None]), axis=1) / med_d
        wfl = _nanq_sorted(wx, FLOOR_Q, axis=2)
        floor_share = np.nanmedian(wfl, axis=1) / med_d
        hourly_rough = np.nanmedian(np.abs(np.diff(wflat, axis=1)), axis=1) / w_mean
        dows = np.stack([np.nanmean(np.where(wd == j, wdm, np.nan), axis=1) for j in range(7)], axis=1)
        dow_amp = (np.nanmax(dows, axis=1) - np.nanmin(dows, axis=1)) / w_mean
        # curtailment/failures: plateau slots that lost more than half of the added load
        low = (post_x - prof_pre[:, None, :]) < 0.5 * shift_kw[:, None, None]
        cnt_post = np.sum(~np.isnan(post_x), axis=(1, 2))
        curtailed_frac = np.where(cnt_post > 0, np.sum(low & ~np.isnan(post_x), axis=(1, 2)) / cnt_post, np.nan)

    # Spring Festival (calendar.py), only with readings within the day: a daily total's "floor" is the
    # day's mean, which an office that closes for the holiday loses too
    fest_keep = fest_drop = fest_abs = fest_whole = np.full(m, np.nan)
    if S > 1 and fd.size == D and fd.sum() >= 3:
        fest_keep, fest_drop, fest_abs, fest_whole = festival_keep(floor, fd, has, onset_day, step, pre_lvl)

    nan_if = lambda a: np.where(has, a, np.nan)  # noqa: E731
    return Block(
        n_valid=n_valid,
        n_days=n_days,
        mean_kw=mean_kw,
        peak_kw=peak_kw,
        split_day=np.where(has, kk, -1),
        onset_day=onset_day,
        onset_slot=np.where(has, onset_slot, -1),
        gain_t=gain_t,
        step_kw=nan_if(step),
        shift_kw=nan_if(shift_kw),
        shift_mean_kw=nan_if(shift_mean_kw),
        uniform=nan_if(uniform),
        rough_added=nan_if(rough_added),
        temp_frac=nan_if(temp_frac),
        drift=drift,
        load_factor=load_factor,
        night_day=night_day,
        weekend_ratio=weekend_ratio,
        daily_cv=daily_cv,
        pre_kw=nan_if(pre_lvl),
        post_kw=nan_if(post_lvl),
        curtailed_frac=nan_if(curtailed_frac),
        additive=nan_if(additive),
        floor_share=floor_share,
        hourly_rough=hourly_rough,
        dow_amp=dow_amp,
        added_spread=nan_if(added_spread),
        persist=nan_if(persist),
        fest_keep=fest_keep,
        fest_drop=fest_drop,
        fest_abs=fest_abs,
        fest_whole=fest_whole,
        fill_corr=nan_if(fill_corr),
        pre_night_day=nan_if(pre_night_day),
        slots_per_day=np.full(m, float(S)),
        recovery=nan_if(recovery),
        closure_days=closure_days,
        ep_kw=nan_if(ep_kw),
        ep_uniform=nan_if(ep_uniform),
        ep_rough=nan_if(ep_rough),
        ep_host=nan_if(ep_host),
        ep_after=nan_if(ep_after),
        ep_end=np.where(has, ep_end, -1),
        rest_dip=nan_if(rest_dip),
        **band_features(x, dayok, temp_daily),
    )


BAND_MIN_H = 6  #: shortest band of hours judged (a Chinese valley tariff period is 8 h, some 6-10 h)
BAND_MAX_H = 20  #: longest: a load off for 4 h or less lifts the daily floor and is the step path's
BAND_CAND = 3  #: candidate days per meter for a band step
BAND_CHUNK = 128  #: meters per pass of the per-hour step scan (bounds its temporaries)
#: daily mean °C below which buildings are heated (northern China heats from 15 November, at about 5 °C)
BAND_COLD_C = 12.0
BAND_RUNS = 2  #: runs of hours a band may have (on through the night, off in the morning and evening peaks)
#: 00:00-06:00 is inside every provincial valley period (23-07, 22-06, 00-08, ...): a band must hold 5 of them
VALLEY_CORE = np.arange(0, 6)


def _runs(up: np.ndarray) -> np.ndarray:
    """Number of runs of True per row of (rows, S), wrapping midnight (a full row is one run)."""
    starts = up & ~np.roll(up, 1, axis=1)
    n = starts.sum(axis=1)
    return np.where(up.all(axis=1), 1, n)


def band_hours(mask: np.ndarray | float) -> list[tuple[int, int]]:
    """(first hour, hours) of each run of a band given as its 24-bit mask (features.band_features),
    in order from the run that follows the longest gap (so 23:00-07:00 is one run starting at 23)."""
    bits = int(mask)
    on = [(bits >> h) & 1 == 1 for h in range(24)]
    if all(on) or not any(on):
        return [(0, 24)] if all(on) else []
    h0 = next(h for h in range(24) if on[h] and not on[h - 1])
    out: list[tuple[int, int]] = []
    for k in range(24):
        h = (h0 + k) % 24
        if on[h] and not on[h - 1]:
            out.append((h, 0))
        if on[h]:
            out[-1] = (out[-1][0], out[-1][1] + 1)
    return out


def band_features(x: np.ndarray, dayok: np.ndarray, temp_daily: np.ndarray | None) -> dict[str, np.ndarray]:
    """`_band_features` over chunks of BAND_CHUNK meters: its (meters, days, hours) temporaries stay small
    (a 2,000-meter year of them is several hundred MB), and every meter's result is its own."""
    m = x.shape[0]
    if m <= BAND_CHUNK:
        return _band_features(x, dayok, temp_daily)
    parts = [_band_features(x[a : a + BAND_CHUNK], dayok[a : a + BAND_CHUNK],
                            None if temp_daily is None else temp_daily[a : a + BAND_CHUNK])
             for a in range(0, m, BAND_CHUNK)]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _band_features(x: np.ndarray, dayok: np.ndarray, temp_daily: np.ndarray | None) -> dict[str, np.ndarray]:
    """A constant load added in one band of hours only: valley-hours mining under a time-of-use tariff.

    Why: under Chinese time-of-use tariffs (valley price a third or a quarter of the peak) a rig that
    runs 23:00-07:00, or stops in the peaks, is the normal way to mine; it never lifts the day's floor
    (a low quantile of the 24 hours), so the floor's step scan cannot see it. Here each hour of the day
    is its own daily series: the same step scan runs on every hour (vectorised over meters x hours),
    candidate days are those where at least BAND_MIN_H hours stepped up together, and at each the
    band is the longest run of hours (wrapping midnight) that rose by at least half the upper level.
    What makes it a rig and not an honest night load (storage heaters, EV charging, night irrigation,
    battery charging): the added kW is the same in every hour of the band (`band_flat`; a heater's
    charge or a charging queue ramps), the other hours did not move (`band_quiet`; a battery discharges
    in the peaks, a business that grows grows by day too), it is the same every night
    (`band_rough`; charging needs and heating follow the day), does not follow temperature
    (`band_temp`) and persists to the end of the data (`band_persist`; irrigation and heating have
    seasons). Only for hourly grids (S = 24); NaN otherwise.
    """
    m, D, S = x.shape
    nan = np.full(m, np.nan)
    out = {k: nan.copy() for k in ("band_mask", "band_len", "band_fill", "band_kw", "band_gain_t", "band_flat", "band_quiet",
                                   "band_persist", "band_rough", "band_temp", "band_cold")}
    out["band_onset_day"] = np.full(m, -1.0)
    out["band_onset_slot"] = np.full(m, -1.0)
    if S != 24 or D < 2 * SCAN_W + SCAN_GAP or m == 0:
        return out
    rows = np.arange(m)
    xd = np.where(dayok[:, :, None], x, np.nan)
    # every hour of the day as its own daily series, (meters*24, days), in chunks of meters so the
    # temporaries stay in cache and memory stays bounded; per day, the BAND_MIN_H-th largest z over the
    # hours: the days where at least BAND_MIN_H hours stepped up together
    kth = np.full((m, D), np.nan)
    for a in range(0, m, BAND_CHUNK):
        xc = xd[a : a + BAND_CHUNK]
        mc = xc.shape[0]
        _st, zh = step_scan(np.ascontiguousarray(xc.transpose(0, 2, 1)).reshape(mc * S, D), fast=True)
        zs = np.where(np.isnan(zh), -np.inf, zh).reshape(mc, S, D)
        kc = np.partition(zs, S - BAND_MIN_H, axis=1)[:, S - BAND_MIN_H, :]
        kth[a : a + mc] = np.where(np.isfinite(kc), kc, np.nan)
    cands = candidate_days(kth, k=BAND_CAND)
    hh = np.arange(S)
    best_q = np.full(m, -np.inf)
    res = {k: nan.copy() for k in ("mask", "cand")}
    for j in range(cands.shape[1]):
        c = cands[:, j]
        okc = c >= 0
        cc = np.where(okc, c, 0)
        sh = _profile_shift(xd, cc)  # (m, S)
        shs = np.where(np.isnan(sh), -np.inf, sh)
        top = -np.partition(-shs, BAND_MIN_H - 1, axis=1)[:, BAND_MIN_H - 1]
        top = np.where(np.isfinite(top) & (top > 0), top, np.nan)
        with np.errstate(invalid="ignore"):
            upper = np.where(sh >= 0.5 * top[:, None], sh, np.nan)
            lvl = np.nanmedian(upper, axis=1)
            up = sh > 0.5 * lvl[:, None]
        # the band: the hours that rose by at least half the upper level, in at most BAND_RUNS runs
        # (a rig that stops in the morning and the evening peaks runs in two), covering the night
        # hours every valley period holds (a rig is confined to hours to save money)
        length = up.sum(axis=1)
        inb = up
        out_med = np.nanmedian(np.where(~inb, sh, np.nan), axis=1)
        kb = np.nanmedian(np.where(inb, sh, np.nan), axis=1) - out_med
        with np.errstate(invalid="ignore", divide="ignore"):
            flat = np.sum(inb & (np.abs(sh - out_med[:, None] - kb[:, None]) <= 0.3 * kb[:, None]), axis=1) \
                / np.maximum(length, 1)
            quiet = np.sum(~inb & (np.abs(sh - out_med[:, None]) <= 0.3 * kb[:, None]), axis=1) \
                / np.maximum(S - length, 1)
        night = inb[:, VALLEY_CORE].sum(axis=1) >= len(VALLEY_CORE) - 1
        good = okc & (length >= BAND_MIN_H) & (length <= BAND_MAX_H) & (np.nan_to_num(kb) > 0) & night \
            & (_runs(inb) <= BAND_RUNS)
        q = np.where(good, np.nan_to_num(kth[rows, cc]) * flat**2 * quiet**2, -np.inf)
        better = q > best_q
        best_q = np.where(better, q, best_q)
        res["mask"] = np.where(better, inb @ (1 << hh), res["mask"])
        res["cand"] = np.where(better, cc, res["cand"])
    has = np.isfinite(best_q)
    if not has.any():
        return out
    bits = np.where(has, res["mask"], 0).astype(np.int64)
    cand = np.where(has, res["cand"], 0).astype(np.int64)
    inb = ((bits[:, None] >> hh[None, :]) & 1).astype(bool)
    length = inb.sum(axis=1)
    # the band's daily mean, its own step scan (the band was chosen from the hours, so its strength is
    # measured again on the band as one series) and the least-squares split around the candidate
    with np.errstate(invalid="ignore", divide="ignore"):
        bm = np.nansum(np.where(inb[:, None, :], xd, 0.0), axis=2) / np.sum(inb[:, None, :] & ~np.isnan(xd), axis=2)
    _bs, bz = step_scan(bm)
    gain = bz[rows, cand]
    c0 = cand - SCAN_W
    loc = _window(bm, c0, 2 * SCAN_W + SCAN_GAP)
    kl, _g = best_split(loc, min_seg=7)
    k = np.clip(np.where(kl > 0, c0 + kl, cand + 1), 1, D - 1)
    # size: plateau against the customer's own hour profile before (as the step path)
    pre_x = _window(xd, k - PRE_DAYS, PRE_DAYS)
    prof_pre = _nanq_sorted(pre_x, 0.5, axis=1)
    post_x = _window(xd, k + POST_GAP, POST_DAYS)
    sh = _nanq_sorted(post_x, 0.5, axis=1) - prof_pre
    with np.errstate(invalid="ignore", divide="ignore"):
        # the band's kW over the other hours' common shift (a feeder's own wander moves every hour alike)
        out_med = np.nanmedian(np.where(~inb, sh, np.nan), axis=1)
        kw = np.nanmedian(np.where(inb, sh, np.nan), axis=1) - out_med
        flat = np.sum(inb & (np.abs(sh - out_med[:, None] - kw[:, None]) <= 0.3 * kw[:, None]), axis=1) \
            / np.maximum(length, 1)
        quiet = np.sum(~inb & (np.abs(sh - out_med[:, None]) <= 0.3 * kw[:, None]), axis=1) \
            / np.maximum(S - length, 1)
        # the load after the step in the band against the other hours: a shop or a line that now runs the
        # night as it runs the day makes the two equal (1); machines have no reason to
        prof_post = _nanq_sorted(post_x, 0.5, axis=1)
        fill = np.nanmedian(np.where(inb, prof_post, np.nan), axis=1) / np.nanmedian(
            np.where(~inb, prof_post, np.nan), axis=1)
        # every night's band excess over the old profile
        exc = np.nanmean(np.where(inb[:, None, :], xd - prof_pre[:, None, :], np.nan), axis=2)  # (m, D)
        dd = np.arange(D)[None, :]
        later = (dd >= (k + SCAN_GAP)[:, None]) & ~np.isnan(exc)
        n_later = later.sum(axis=1)
        persist = np.where(n_later > 0, (later & (exc > 0.5 * kw[:, None])).sum(axis=1) / np.maximum(n_later, 1),
                           np.nan)
        plate = (dd >= (k + POST_GAP)[:, None]) & (dd < (k + POST_GAP + POST_DAYS)[:, None])
        # night-to-night change the band ADDED: its robust SD on the plateau beyond the same before the
        # step (a feeder's own nights wander; machines add nothing to that, charging queues and heaters do)
        def night_sd(mask: np.ndarray) -> np.ndarray:
            de = np.diff(np.where(mask, exc, np.nan), axis=1)
            return 1.4826 * _nanq_sorted(np.abs(de - _nanq_sorted(de, 0.5)[:, None]), 0.5) / np.sqrt(2)

        pre_m = (dd >= (k - PRE_DAYS)[:, None]) & (dd < k[:, None])
        sd_post, sd_pre = night_sd(plate), np.nan_to_num(night_sd(pre_m))
        rough = np.sqrt(np.clip(sd_post**2 - sd_pre**2, 0.0, None)) / kw
        if temp_daily is not None:
            # short-term sensitivity (deviations from a 7-day mean), as temp_frac: a heater's charge follows
            # the day's cold, while the customer's own seasonal drift must not count
            t = np.asarray(temp_daily, dtype=np.float64)[:, :D]
            post_all = later & (dd >= (k + POST_GAP)[:, None])
            b, sd = _slope(t - _roll_mean(t, 7), exc - _roll_mean(exc, 7), post_all)
            temp = np.abs(b) * 2 * sd / kw
            # a storage heater at full charge is flat and the same every night; what gives it away is that
            # the band has only lived in the cold: share of its days (from the step on) colder than BAND_COLD_C
            since = (dd >= k[:, None]) & ~np.isnan(t)
            cold = np.where(since.sum(axis=1) >= MIN_SEG,
                            (since & (t < BAND_COLD_C)).sum(axis=1) / np.maximum(since.sum(axis=1), 1), np.nan)
        else:
            temp = cold = nan
    # onset: the first band hour, from the day before the split on, whose excess is above half the band
    # kW and stays so for the rest of that night's band (at least 2 hours), in time order
    two = np.concatenate([_window(xd, k - 1, 1)[:, 0, :], _window(xd, k, 1)[:, 0, :]], axis=1)  # (m, 48)
    ex2 = two - np.concatenate([prof_pre, prof_pre], axis=1)
    inb2 = np.concatenate([inb, inb], axis=1)
    above = inb2 & (ex2 > 0.5 * kw[:, None])
    nxt = np.concatenate([above[:, 1:], np.zeros((m, 1), bool)], axis=1) | ~np.concatenate(
        [inb2[:, 1:], np.zeros((m, 1), bool)], axis=1)
    first = np.argmax(above & nxt, axis=1)
    found = (above & nxt).any(axis=1)
    onset_day = np.where(found, k - 1 + first // S, k)
    start = np.argmax(inb & ~np.roll(inb, 1, axis=1), axis=1)
    onset_slot = np.where(found, first % S, start)
    ok = has & np.isfinite(kw) & (kw > 0)
    f = lambda a: np.where(ok, a, np.nan)  # noqa: E731
    return {
        "band_mask": f(bits.astype(np.float64)), "band_len": f(length.astype(np.float64)), "band_kw": f(kw),
        "band_fill": f(fill),
        "band_gain_t": f(gain), "band_flat": f(flat), "band_quiet": f(quiet), "band_persist": f(persist),
        "band_rough": f(rough), "band_temp": f(temp), "band_cold": f(cold),
        "band_onset_day": np.where(ok, onset_day, -1).astype(np.float64),
        "band_onset_slot": np.where(ok, onset_slot, -1).astype(np.float64),
    }


def festival_keep(
    floor: np.ndarray, fd: np.ndarray, has: np.ndarray, onset_day: np.ndarray, step: np.ndarray,
    host: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(keep, drop, absolute, whole): the share of the candidate load still drawn over the core Spring Festival days
    `fd`, and its fall in units of the meter's usual weekly change of the floor (NaN: not judged).

    Most businesses close for the festival, a rig keeps hashing. The test reads the daily floor (a low
    quantile of the day's readings), not the mean: an office, a shop or a day-shift workshop that
    closes loses its daytime load, but its floor is its night-time standby, which a closed business
    draws too. So the floor over the festival should keep the floor of the 5th to 2nd week before it,
    rig included; what leaves the floor is load that ran around the clock and stopped: a production
    line, not a rig. With a step at least a week before the festival the candidate is the step
    (kept share = 1 - fall of the floor / step); without a step it is the whole floor (festival floor /
    floor before). A step after the festival leaves the meter unjudged. `absolute` is the festival
    floor, less what the host keeps of its floor `host` before the step after a dip of HOST_DIP_MAX, over
    the step (step case only): the host's own holiday dip must not be charged to the candidate. `whole` is
    the festival floor over the floor before it, wherever the step lies (review 7): when the step is too
    weak to be the candidate, the whole load is what the shape points judged, and a plant's closure is read
    on it (a plant's own "step" is often its reopening after the festival).
    """
    m = floor.shape[0]
    host = np.full(m, np.inf) if host is None else host  # unknown host floor: no absolute check
    f0 = int(np.argmax(fd))
    on = floor[:, fd]
    ref = _window(floor, np.full(m, f0 - 35), 28)
    s7 = _scan(floor, 7, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        fest = np.where(np.sum(~np.isnan(on), axis=1) >= 3, np.nanmedian(on, axis=1), np.nan)
        before = np.where(np.sum(~np.isnan(ref), axis=1) >= 14, np.nanmedian(ref, axis=1), np.nan)
        scale = 1.4826 * np.nanmedian(np.abs(s7 - np.nanmedian(s7, axis=1, keepdims=True)), axis=1)
        scale = np.fmax(scale, 0.01 * np.abs(np.nanmedian(floor, axis=1)) + 1e-3)
        known = np.isfinite(fest) & (np.nan_to_num(before) > 0)
        stepcase = known & has & (onset_day >= 0) & (onset_day <= f0 - 7) & (np.nan_to_num(step) > 0)
        nscase = known & ~has
        fall = before - fest
        keep = np.where(stepcase, 1.0 - fall / step, np.where(nscase, fest / before, np.nan))
        drop = np.where(known, fall / scale, np.nan)  # the step case's keep is NaN when the step is later
        # what a running rig cannot do: draw less than itself. The festival floor holds the rig's kW
        # plus what the host keeps of its own floor; forgiving the host a dip of up to HOST_DIP_MAX of
        # its floor before the step (real feeders dip 18-46 % over the festival), a floor still at the
        # step kept the added load; a stopped line leaves only the host's standby
        absolute = np.where(stepcase, (fest - (1.0 - HOST_DIP_MAX) * host) / step, np.nan)
        whole = np.where(known, fest / before, np.nan)
    return keep, drop, absolute, whole


def choose_split(
    floor: np.ndarray, x: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The most rig-like of the meter's candidate steps: large against its own history *and* additive.

    A rig adds the same kW to every hour; a business's own level change (more staff, a transferred
    feeder, a season) scales its daily shape. So each candidate's hour-of-day shift is compared with
    its median: the share of hours within 30 % of it (`additive`) weights the candidate's z. And a
    rig keeps running: the share of all later days whose floor stays above half the step (`persist`)
    weights it too, so a feeder's own wander, a temporary job or a season that comes back loses to a
    smaller step that stays. A step that only brings the floor back to where it was before a dip (a
    plant reopening after a closure) is a recovery, not an onset: its z counts only the part above the
    level before the dip. Returns (split day, z, additive, persist, recovery) of the chosen candidate.
    """
    m, D, S = x.shape
    rows = np.arange(m)
    step, z = step_scan(floor)
    cands = candidate_days(z)
    pre_mean = _scan_pre(floor, SCAN_W)
    dd = np.arange(D)[None, :]
    best_q = np.full(m, -np.inf)
    best_k = np.full(m, -1, dtype=np.int64)
    best_z = np.full(m, np.nan)
    best_a = np.full(m, np.nan)
    best_p = np.full(m, np.nan)
    best_r = np.full(m, np.nan)
    for j in range(cands.shape[1]):
        c = cands[:, j]
        okc = c >= 0
        cc = np.where(okc, c, 0)
        sh = _profile_shift(x, cc)
        med = _nanq_sorted(sh, 0.5, axis=1)
        with np.errstate(invalid="ignore"):
            add = np.nanmean(np.abs(sh - med[:, None]) <= 0.3 * np.abs(med)[:, None], axis=1) if S > 1 else \
                np.ones(m)
        add = np.where(med > 0, add, 0.0)
        zc = z[rows, cc]
        # persistence: share of all later days whose floor stays above half the step (rigs keep
        # running to the end of the data; a feeder's own wander comes back)
        thr = pre_mean[rows, cc] + 0.5 * step[rows, cc]
        later = (dd >= (cc + SCAN_GAP)[:, None]) & ~np.isnan(floor)
        n_later = later.sum(axis=1)
        stay = np.where(n_later > 0, (later & (floor > thr[:, None])).sum(axis=1) / np.maximum(n_later, 1), 0.0)
        # recovery: a plant that closed (Spring Festival, a maintenance turnaround) and reopens steps up
        # against the closure, back to where it was. Only the part of the step above the level before
        # the dip is new load: the reference is the median floor of the REF_DAYS before the candidate,
        # longer than any closure, so the closure's days are a minority in it.
        ref = _nanq_sorted(_window(floor, cc - REF_DAYS, REF_DAYS), 0.5, axis=1)
        st = step[rows, cc]
        with np.errstate(invalid="ignore", divide="ignore"):
            rec = np.where(st > 0, np.clip((ref - pre_mean[rows, cc]) / st, 0.0, 1.0), 0.0)
        rec = np.nan_to_num(rec)
        zc = zc * (1.0 - rec)
        q = np.where(okc, np.nan_to_num(zc) * add**2 * stay, -np.inf)
        better = q > best_q
        best_q = np.where(better, q, best_q)
        best_k = np.where(better & okc, cc + 1, best_k)  # k = first day of the new level (cf. best_split)
        best_z = np.where(better & okc, zc, best_z)
        best_a = np.where(better & okc, add, best_a)
        best_p = np.where(better & okc, stay, best_p)
        best_r = np.where(better & okc, rec, best_r)
    # refine: the least-squares split of the floor around the chosen candidate (the scan's maximum
    # is flat over the ramp-up week, the l2 split is not)
    has = best_k > 0
    c0 = np.where(has, best_k - 1 - SCAN_W, 0)
    loc = _window(floor, c0, 2 * SCAN_W + SCAN_GAP)
    kl, _g = best_split(loc, min_seg=7)
    refined = np.where(has & (kl > 0), c0 + kl, best_k)
    return np.where(has, np.clip(refined, 1, D - 1), -1), best_z, best_a, best_p, best_r


#: an episode's load ended when less than this share of the days after its weeks still hold half of its kW
EP_ENDED = 0.5
#: ... and it ended on the first day that does not hold it and from which at most this share of the next SCAN_W
#: days do
EP_END_SHARE = 0.1


def episode_features(
    x: np.ndarray, floor: np.ndarray, k: np.ndarray, prof_pre: np.ndarray, pre_x: np.ndarray, noise: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(kW, uniform share, roughness, size against the host, share kept after, end day) of the load a step added
    in its first weeks.

    Why: the plateau (`shift_kw`) is read from POST_GAP days on over POST_DAYS, so a fleet that ran a few
    weeks and then died or was taken away (two S19s on a household that failed after five weeks) has no
    plateau there and no step points. What it left is itself evidence: for SCAN_W days after the ramp-up
    week the load rose by the same kW in every hour of the day, and the floor held it from day to day
    (machines draw the same every day; a heater follows the weather). `x` is (meters, days, slots), `k`
    the first day of the new level, `prof_pre`/`pre_x` the customer's hour profile and readings before it.

    Whether the load went is measured, not assumed (review 11: the evidence said "the load later went" of rigs
    that ran on): `ep_after` is the share of the days after those weeks whose floor still holds half of `ep_kw`
    above the floor before; below EP_ENDED the load ended, on `ep_end`: the first day from the step on that does
    not hold it and from which at most EP_END_SHARE of the next SCAN_W days do (-1 when it did not end). Its energy is counted
    to that day only.
    """
    m, D, S = x.shape
    ep_x = _window(x, k + SCAN_GAP, SCAN_W)
    ep_shift = np.nanmedian(ep_x, axis=1) - prof_pre
    ep_kw = np.nanmedian(ep_shift, axis=1)
    tol = 0.25 * np.abs(ep_kw)[:, None] + 2 * noise[:, None]
    ep_uniform = np.mean(np.abs(ep_shift - ep_kw[:, None]) <= tol, axis=1) if S > 1 else np.full(m, np.nan)
    fl = _window(floor, k + SCAN_GAP, SCAN_W)
    d = np.diff(fl, axis=1)
    sd = 1.4826 * np.nanmedian(np.abs(d - np.nanmedian(d, axis=1, keepdims=True)), axis=1) / np.sqrt(2)
    with np.errstate(invalid="ignore", divide="ignore"):
        ep_rough = sd / np.abs(ep_kw)
        ep_host = ep_kw / np.nanmean(pre_x.reshape(m, -1), axis=1)
        pre_fl = np.nanmedian(_window(floor, k - PRE_DAYS, PRE_DAYS), axis=1) if D else np.full(m, np.nan)
        ok = ~np.isnan(floor)
        held = ok & (floor - pre_fl[:, None] > 0.5 * np.abs(ep_kw)[:, None])
        day = np.arange(D)[None, :]
        later = ok & (day >= (k + SCAN_GAP + SCAN_W)[:, None])
        n_later = later.sum(axis=1)
        ep_after = np.where(n_later >= MIN_SEG, (held & later).sum(axis=1) / np.maximum(n_later, 1), np.nan)
        # the first read day from the step on that does not hold it, nor do the next SCAN_W read days but
        # EP_END_SHARE of them (a day's dropout inside the episode is followed by held days)
        cn = np.concatenate([np.zeros((m, 1)), np.cumsum(ok, axis=1)], axis=1)
        ch = np.concatenate([np.zeros((m, 1)), np.cumsum(held, axis=1)], axis=1)
        hi = np.minimum(np.arange(D) + SCAN_W, D)
        n_next, h_next = cn[:, hi] - cn[:, :D], ch[:, hi] - ch[:, :D]
        quiet = ok & ~held & (h_next <= EP_END_SHARE * n_next) & (day >= k[:, None])
        ended = (ep_after < EP_ENDED) & quiet.any(axis=1) & (k > 0)
        ep_end = np.where(ended, np.argmax(quiet, axis=1), -1)
    return ep_kw, ep_uniform, ep_rough, ep_host, ep_after, ep_end


#: the working day: hours whose load a staffed schedule sets (a day shift, a maintenance slot)
REST_HOURS = (8, 17)


#: a run of at least this many days whose customer's own daytime level fell below CLOSED_FRAC of its usual one is a
#: closure (a festival, a holiday week, a turnaround), left out of the weekday medians; a rest day or a weekend
#: (one to three days) is not
REST_CLOSED_RUN = 4
#: fewest days left of a weekday for its median to count
REST_MIN_DAYS = 3


def _closed_runs(low: np.ndarray, min_run: int) -> np.ndarray:
    """The days of `low` (rows of days) that lie in a run of at least `min_run` consecutive low days."""
    n = low.shape[1]
    idx = np.arange(1, n + 1)[None, :]

    def run_so_far(a: np.ndarray) -> np.ndarray:  # low days up to and including each day, back to the last break
        return np.where(a, idx - np.maximum.accumulate(np.where(a, 0, idx), axis=1), 0)

    full = run_so_far(low) + run_so_far(low[:, ::-1])[:, ::-1] - 1  # the whole run through each low day
    return low & (full >= min_run)


def rest_day_dip(
    pre_x: np.ndarray, post_x: np.ndarray, k: np.ndarray, first_weekday: int, shift_kw: np.ndarray,
    festival: np.ndarray | None = None,
) -> np.ndarray:
    """How far the added load's daytime level falls on its lowest weekday, below its median weekday, per kW added.

    Why: a production line or a workshop runs to its workforce's week: on the rest day (a day shift off, the
    weekly maintenance slot) its daytime load drops; machines hash seven days a week, and a fleet's own
    curtailment (evening peaks on weekdays) lies outside these hours. Per weekday the median daytime mean of
    the plateau (`post_x`, from POST_GAP days after the step `k`) minus that of the PRE_DAYS before (so the
    customer's own weekly cycle cancels); medians over the 6-8 weeks, so a single holiday does not count.
    Hourly grids only (NaN otherwise).

    Review 11: a closure of the host that is not a whole number of weeks (a workshop shut 22-25 days over the
    Spring Festival) puts more closed days into some weekdays' medians than others and read as the added load's
    rest day. Left out of the medians, in both windows: the core Spring Festival days (`festival`, (days,)), and
    every run of at least REST_CLOSED_RUN days whose customer's own daytime level (the day's daytime mean, less
    `shift_kw` in the plateau) fell below CLOSED_FRAC of its median before the step (a closure, as in
    `closure_run`; a weekly rest day is one to three days). A weekday with fewer than REST_MIN_DAYS days left
    has no median.
    """
    m, _n, S = post_x.shape
    if S < 24:
        return np.full(m, np.nan)
    hh = np.arange(S) * 24 // S
    day_h = (hh >= REST_HOURS[0]) & (hh < REST_HOURS[1])
    out = np.zeros((m, 7))
    ref = np.nanmedian(np.nanmean(pre_x[:, :, day_h], axis=2), axis=1)  # the customer's usual daytime level
    for x, start, added in ((pre_x, k - PRE_DAYS, 0.0), (post_x, k + POST_GAP, np.nan_to_num(shift_kw))):
        dm = np.nanmean(x[:, :, day_h], axis=2)  # (m, days) daytime mean
        days = start[:, None] + np.arange(dm.shape[1])[None, :]
        with np.errstate(invalid="ignore"):
            own = dm - (added[:, None] if np.ndim(added) else added)
            low = own < CLOSED_FRAC * ref[:, None]
        drop = _closed_runs(low, REST_CLOSED_RUN)
        if festival is not None and festival.size:
            drop = drop | festival[np.clip(days, 0, festival.size - 1)] & (days >= 0) & (days < festival.size)
        dm = np.where(drop, np.nan, dm)
        wd = (first_weekday + days) % 7
        sign = -1.0 if x is pre_x else 1.0
        for j in range(7):
            # the true median (mean of the two middle days): of 6-8 days the lower one alone is a noisier pick
            dj = np.where(wd == j, dm, np.nan)
            enough = np.sum(~np.isnan(dj), axis=1) >= REST_MIN_DAYS
            out[:, j] += sign * np.where(enough, np.nanmedian(dj, axis=1), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (_nanq_sorted(out, 0.5) - np.nanmin(out, axis=1)) / np.abs(shift_kw)


def _tail_run(excess: np.ndarray, thr: np.ndarray, share: float = 0.8, min_slots: int = 2) -> np.ndarray:
    """Per row, the first slot from which the rest of the day stays above `thr` (rows of slots;
    -1: none). "Stays": the slot itself is above, and at least `share` of the valid slots from it to
    the end of the day (at least `min_slots` of them) are. The earliest such slot is the start of
    the load that runs into the next day, i.e. a rig switched on that day."""
    m, S = excess.shape
    above = (excess > thr) & ~np.isnan(excess)
    valid = ~np.isnan(excess)
    n_above = np.cumsum(above[:, ::-1], axis=1)[:, ::-1]  # above from slot s to the end
    n_valid = np.cumsum(valid[:, ::-1], axis=1)[:, ::-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = above & (n_valid >= min_slots) & (n_above >= share * n_valid)
    # the run must reach the end of the day: the last valid slot is above too
    last_valid = S - 1 - np.argmax(valid[:, ::-1], axis=1)
    ends_up = above[np.arange(m), last_valid]
    first = np.argmax(ok, axis=1)
    return np.where(ok.any(axis=1) & ends_up, first, -1)


def _row_corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of a with the same row of b over the columns both have (NaN-aware)."""
    ok = ~np.isnan(a) & ~np.isnan(b)
    n = ok.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ma = np.where(ok, a, 0).sum(axis=1) / n
        mb = np.where(ok, b, 0).sum(axis=1) / n
        da = np.where(ok, a - ma[:, None], 0.0)
        db = np.where(ok, b - mb[:, None], 0.0)
        r = (da * db).sum(axis=1) / np.sqrt((da * da).sum(axis=1) * (db * db).sum(axis=1))
    return np.where(n >= 6, r, np.nan)


def _robust_sd(a: np.ndarray) -> np.ndarray:
    """1.4826 x median absolute deviation per row, NaN-aware (a failure day or outage does not count)."""
    med = _nanq_sorted(a, 0.5)
    return 1.4826 * _nanq_sorted(np.abs(a - med[:, None]), 0.5)


def _roll_mean(a: np.ndarray, w: int) -> np.ndarray:
    """Centred running mean over w days ignoring NaN (NaN where the window has no value)."""
    v = ~np.isnan(a)
    x = np.where(v, a, 0.0)
    pad = w // 2
    cx = np.cumsum(np.pad(x, ((0, 0), (pad + 1, pad))), axis=1)
    cv = np.cumsum(np.pad(v.astype(np.float64), ((0, 0), (pad + 1, pad))), axis=1)
    sx = cx[:, w:] - cx[:, :-w]
    sv = cv[:, w:] - cv[:, :-w]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sv > 0, sx / sv, np.nan)


def _slope(t: np.ndarray, y: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares slope of y on t per row over mask (and where both exist), plus sd of t."""
    ok = mask & ~np.isnan(t) & ~np.isnan(y)
    n = ok.sum(axis=1)
    tt = np.where(ok, t, 0.0)
    yy = np.where(ok, y, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mt = tt.sum(axis=1) / n
        my = yy.sum(axis=1) / n
        dt = np.where(ok, t - mt[:, None], 0.0)
        dy = np.where(ok, y - my[:, None], 0.0)
        var = (dt * dt).sum(axis=1)
        b = (dt * dy).sum(axis=1) / var
        sd = np.sqrt(var / n)
    enough = n >= 20
    return np.where(enough, b, np.nan), np.where(enough, sd, np.nan)


def to_day_grid(
    kw: np.ndarray, start_s: int, interval_s: int
) -> tuple[np.ndarray, int, int, int]:
    """Pad one meter's grid with NaN to whole local days: (row, steps_per_day, day0_s, weekday0).

    Padding is NaN (unknown), never a value, so it cannot look like load or like curtailment.
    """
    S = max(1, 86400 // interval_s)
    day0 = start_s - (start_s % 86400)
    lead = (start_s - day0) // interval_s
    n = lead + kw.size
    total = -(-n // S) * S
    row = np.full(total, np.nan)
    row[lead : lead + kw.size] = kw
    weekday0 = int(((day0 // 86400) + 3) % 7)  # 1970-01-01 was a Thursday (3)
    return row, S, int(day0), weekday0


#: weeks of exact zeros before the first load: a meter waiting for its customer, not a load switching on
MIN_UNCONNECTED_DAYS = 14


def mask_unconnected(kw: np.ndarray, step_s: int) -> tuple[np.ndarray, int]:
    """(readings with a not-yet-connected start made unknown, index of the connection slot or 0).

    Why: a meter installed before its customer is connected reads exact zeros for weeks; the first
    load after them is the customer starting, not a rig's step, so those slots are unknown rather than
    a zero floor. Missing slots inside the zero run do not end it; a shorter run is left as read.
    """
    nz = np.flatnonzero(~np.isnan(kw) & (kw != 0.0))
    if nz.size == 0:
        return kw, 0
    first = int(nz[0])
    if np.count_nonzero(kw[:first] == 0.0) * step_s < MIN_UNCONNECTED_DAYS * 86400:
        return kw, 0
    out = kw.copy()
    out[:first] = np.nan
    return out, first


def hourly(kw: np.ndarray, start_s: int, interval_s: int) -> tuple[np.ndarray, int, int]:
    """Sub-hourly grids averaged to hours (an hour with no valid slot stays NaN); others unchanged."""
    if interval_s >= 3600 or 3600 % interval_s:
        return kw, start_s, interval_s
    k = 3600 // interval_s
    lead = (start_s % 3600) // interval_s
    pad_front = np.full(lead, np.nan)
    a = np.concatenate([pad_front, kw])
    tail = (-a.size) % k
    a = np.concatenate([a, np.full(tail, np.nan)]).reshape(-1, k)
    cnt = np.sum(~np.isnan(a), axis=1)
    with np.errstate(invalid="ignore"):
        h = np.where(cnt > 0, np.nansum(a, axis=1) / np.maximum(cnt, 1), np.nan)
    return h, start_s - lead * interval_s, 3600


def analyse_block(*args: Any, **kwargs: Any) -> Block:
    """`_analyse_block` with NumPy's all-NaN warnings silenced: a meter with a gap spanning a whole
    window legitimately yields NaN there (unknown stays unknown), which is not worth a warning per meter."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return _analyse_block(*args, **kwargs)
