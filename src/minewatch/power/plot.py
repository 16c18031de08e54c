"""One picture per suspect: the load curve with the onset and both plateaus marked.

Why daily bands and not every reading: a year of hourly data is 8,760 points; a person checking a
suspect needs the daily floor, mean and peak, the day it changed and the old and new levels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from minewatch.i18n import tr
from minewatch.model import Finding
from minewatch.plotting import use_cjk_fonts
from minewatch.power.detect import clock_label, local_day, machine_word
from minewatch.power.features import hourly, to_day_grid
from minewatch.power.readers import MeterSeries


def plot_suspect(series: MeterSeries, finding: Finding, out_dir: str | Path, *, tz_offset_h: float = 0.0) -> Path:
    """Write `power_<meter>.png` and return its path.

    The day axis is the meter's wall clock (local), while `finding.onset` is UTC (the scan moved it by
    `tz_offset_h`); the onset line is moved back by the same offset so it sits on the step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    use_cjk_fonts(matplotlib)
    kw, st, step = hourly(series.kw, series.start_s, series.interval_s)
    row, S, day0, _ = to_day_grid(kw, st, step)
    d = row.reshape(-1, S)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lo, mean, hi = np.nanmin(d, axis=1), np.nanmean(d, axis=1), np.nanmax(d, axis=1)
    days = (day0 + np.arange(d.shape[0]) * 86400).astype("datetime64[s]")
    fig, ax = plt.subplots(figsize=(11, 4))
    ax.fill_between(days, lo, hi, color="#c6dbef", label=tr("daily min–max", "每日最小–最大"), step="mid")
    ax.plot(days, mean, color="#08519c", lw=1, label=tr("daily mean", "每日平均"))
    ax.plot(days, lo, color="#6baed6", lw=0.6)
    step_ev = next((e for e in finding.evidence if e.code == "power.step"), None)
    if finding.onset is not None:
        on = np.datetime64(int(finding.onset.timestamp() + tz_offset_h * 3600), "s")
        # the axis is the meter's clock, so is the day in the legend (and it says which clock)
        day = f"{local_day(finding.onset, tz_offset_h)} ({clock_label(tz_offset_h)})"
        ax.axvline(on, color="#cb181d", lw=1.5, label=tr(f"onset {day}", f"开始 {day}"))
        if step_ev and step_ev.data.get("pre_kw") is not None:
            ax.hlines(step_ev.data["pre_kw"], days[0], on, colors="#636363", linestyles="--", label=tr("floor before", "之前的基底负荷"))
            ax.hlines(step_ev.data["post_kw"], on, days[-1], colors="#cb181d", linestyles="--",
                      label=tr(f"floor after (+{finding.kw_mining or 0:.1f} kW)",
                                                                            f"之后的基底负荷（+{finding.kw_mining or 0:.1f} kW）"))
    ax.set_ylabel("kW")
    machines = finding.machines_est
    ax.set_title(tr(f"meter {finding.meter_id} — score {finding.score:.0f}"
                    + (f", ≈{machines:g} {machine_word(machines)}" if machines else ""),
                    f"电表 {finding.meter_id} — 评分 {finding.score:.0f}" + (f"，约 {machines:g} 台矿机" if machines else "")))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(finding.meter_id))
    path = out / f"power_{safe}.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
