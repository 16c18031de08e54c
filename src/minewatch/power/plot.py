"""One picture per suspect: the load curve with the onset and both plateaus marked.

Why daily bands and not every reading: a year of hourly data is 8,760 points; a person checking a
suspect needs the daily floor, mean and peak, the day it changed and the old and new levels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from minewatch.model import Finding
from minewatch.power.features import hourly, to_day_grid
from minewatch.power.readers import MeterSeries


def plot_suspect(series: MeterSeries, finding: Finding, out_dir: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

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
    ax.fill_between(days, lo, hi, color="#c6dbef", label="daily min–max", step="mid")
    ax.plot(days, mean, color="#08519c", lw=1, label="daily mean")
    ax.plot(days, lo, color="#6baed6", lw=0.6)
    step_ev = next((e for e in finding.evidence if e.code == "power.step"), None)
    if finding.onset is not None:
        on = np.datetime64(int(finding.onset.timestamp()), "s")
        ax.axvline(on, color="#cb181d", lw=1.5, label=f"onset {finding.onset.date()}")
        if step_ev and step_ev.data.get("pre_kw") is not None:
            ax.hlines(step_ev.data["pre_kw"], days[0], on, colors="#636363", linestyles="--", label="floor before")
            ax.hlines(step_ev.data["post_kw"], on, days[-1], colors="#cb181d", linestyles="--",
                      label=f"floor after (+{finding.kw_mining or 0:.1f} kW)")
    ax.set_ylabel("kW")
    ax.set_title(f"meter {finding.meter_id} — score {finding.score:.0f}"
                 + (f", ≈{finding.machines_est:g} machines" if finding.machines_est else ""))
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
