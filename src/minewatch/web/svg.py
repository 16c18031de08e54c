"""Pictures as inline SVG drawn on the server: trend bars, a flow timeline, a load curve.

Why server-side SVG and no chart library: the pages must work with no resource from the internet
and no JavaScript, and an SVG string is also what the case report embeds in its HTML and PDF.
All text placed in the SVG is XML-escaped (it can come from captures an attacker controls).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from html import escape

from minewatch.model import Evidence, Finding, reader_time

MARK_GAP_PX = 12  #: timeline marks closer than this are drawn as one, labelled with the range


def _e(s: object) -> str:
    return escape(str(s), quote=True)


def trend_bars(points: Sequence[tuple[str, int]], *, width: int = 720, height: int = 160, label: str = "") -> str:
    """Bars per day; the tallest bar is labelled with its count so the scale is readable."""
    if not points:
        return ""
    top = max(c for _, c in points) or 1
    pad_l, pad_b, pad_t = 34, 22, 14
    w = (width - pad_l - 6) / len(points)
    out = [f'<svg class="chart" role="img" aria-label="{_e(label)}" viewBox="0 0 {width} {height}" '
           f'width="100%" xmlns="http://www.w3.org/2000/svg">']  # fmt: skip
    h_avail = height - pad_b - pad_t
    out.append(f'<line x1="{pad_l}" y1="{height - pad_b}" x2="{width - 4}" y2="{height - pad_b}" class="axis"/>')
    out.append(f'<text x="{pad_l - 4}" y="{pad_t + 4}" text-anchor="end" class="tick">{top}</text>')
    out.append(f'<text x="{pad_l - 4}" y="{height - pad_b}" text-anchor="end" class="tick">0</text>')
    for i, (day, c) in enumerate(points):
        bh = h_avail * c / top
        x = pad_l + i * w
        out.append(f'<rect x="{x + 1:.1f}" y="{height - pad_b - bh:.1f}" width="{max(w - 2, 1):.1f}" '
                   f'height="{bh:.1f}" class="bar"><title>{_e(day)}: {c}</title></rect>')  # fmt: skip
        if i in (0, len(points) - 1) or (len(points) > 10 and i == len(points) // 2):
            out.append(f'<text x="{x + w / 2:.1f}" y="{height - 6}" text-anchor="middle" class="tick">{_e(day[5:])}</text>')
    out.append("</svg>")
    return "".join(out)


def duration_text(seconds: float, lang: str = "en") -> str:
    """A span as people say it: 45 s, 12 min, 3.5 h, 101 d (not "8,769,600 s")."""
    zh = lang == "zh"
    if seconds < 120:
        return f"{seconds:,.0f} 秒" if zh else f"{seconds:,.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:,.0f} 分钟" if zh else f"{seconds / 60:,.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:,.1f} 小时" if zh else f"{seconds / 3600:,.1f} h"
    return f"{seconds / 86400:,.1f} 天" if zh else f"{seconds / 86400:,.1f} d"


def flow_timeline(f: Finding, *, width: int = 720, height: int = 90, label: str = "", lang: str = "en") -> str:
    """The session from first to last packet, with one mark per timed evidence item (the protocol
    messages: login, jobs, shares)."""
    t0, t1 = f.first_seen, f.last_seen
    times = [e.ts for e in f.evidence if e.ts is not None]
    if t0 is None and times:
        t0 = min(times)
    if t1 is None and times:
        t1 = max(times)
    if t0 is None or t1 is None:
        return ""
    span = max((t1 - t0).total_seconds(), 1e-3)
    x0, x1 = 20, width - 20

    def x(t: datetime) -> float:
        return x0 + (x1 - x0) * max(0.0, min(1.0, (t - t0).total_seconds() / span))

    out = [f'<svg class="chart" role="img" aria-label="{_e(label)}" viewBox="0 0 {width} {height}" '
           f'width="100%" xmlns="http://www.w3.org/2000/svg">',
           f'<line x1="{x0}" y1="40" x2="{x1}" y2="40" class="flow"/>']  # fmt: skip
    # Items closer than MARK_GAP_PX share one mark labelled "first–last": numbers drawn on top of each
    # other cannot be read, and evidence often comes in bursts (a login, its answer, the first job).
    # in time order (a second detector's evidence is appended after the first's), keeping each item's number
    dated = sorted(enumerate(ev for ev in f.evidence if ev.ts is not None), key=lambda p: p[1].ts)  # type: ignore[arg-type,return-value]
    groups: list[list[tuple[int, Evidence]]] = []
    for i, e in dated:
        if groups and x(e.ts) - x(groups[-1][0][1].ts) < MARK_GAP_PX:  # type: ignore[arg-type]
            groups[-1].append((i, e))
        else:
            groups.append([(i, e)])
    for g, members in enumerate(groups):
        y = 40 - 14 if g % 2 else 40 + 14
        cx = x(members[0][1].ts)  # type: ignore[arg-type]
        title = "; ".join(f"{i + 1}: {reader_time(e.ts)} {e.code}" for i, e in members)  # type: ignore[arg-type]
        nums = sorted(i + 1 for i, _ in members)
        label = str(nums[0]) if len(nums) == 1 else (f"{nums[0]}–{nums[-1]}" if nums[-1] - nums[0] == len(nums) - 1
                                                      else ",".join(map(str, nums)))
        out.append(f'<circle cx="{cx:.1f}" cy="40" r="5" class="mark"><title>{_e(title)}</title></circle>')
        out.append(f'<text x="{cx:.1f}" y="{y + 4}" text-anchor="middle" class="tick">{label}</text>')
    out.append(f'<text x="{x0}" y="{height - 4}" class="tick">{_e(t0.strftime("%Y-%m-%d %H:%M:%S"))}</text>')
    # the end's date too when the session crosses midnight (a 101-day span read "00:00:00")
    end = t1.strftime("%H:%M:%S") if t1.date() == t0.date() else t1.strftime("%Y-%m-%d %H:%M:%S")
    out.append(f'<text x="{x1}" y="{height - 4}" text-anchor="end" class="tick">{_e(end)} '
               f'({_e(duration_text(span, lang))})</text>')  # fmt: skip
    out.append("</svg>")
    return "".join(out)


def _daily_points(f: Finding) -> list[tuple[str, float | None]]:
    """Daily mean kW the scan kept: `extra["daily_kw"]` (the power scan's profile, on the meter's clock)
    when the finding has it, else the web's `extra["load_curve"]`. A day without readings is None: the
    line breaks there instead of running straight across the gap."""

    def num(v: object) -> float | None:
        return float(v) if isinstance(v, int | float) and not isinstance(v, bool) and v == v else None

    prof = f.extra.get("daily_kw") if f.extra else None
    if isinstance(prof, dict) and isinstance(prof.get("mean"), list) and len(prof["mean"]) >= 2:
        try:
            start = date.fromisoformat(str(prof.get("start")))
            per = max(1, int(prof.get("days_per_point") or 1))
        except (TypeError, ValueError):
            start = None
        if start is not None:
            return [((start + timedelta(days=i * per)).isoformat(), num(v)) for i, v in enumerate(prof["mean"])]
    pts: list[tuple[str, float | None]] = []
    curve = f.extra.get("load_curve") if f.extra else None
    if isinstance(curve, list):
        for p in curve:
            if isinstance(p, list | tuple) and len(p) == 2 and (p[1] is None or num(p[1]) is not None):
                pts.append((str(p[0]), num(p[1])))
    return pts


def load_curve(f: Finding, *, width: int = 720, height: int = 180, label: str = "", lang: str = "en") -> str:
    """Daily mean kW when the scan kept the curve (`extra['daily_kw']`, else `extra['load_curve']`; days
    without readings are gaps), else the step the detector measured (`pre_kw` before the onset,
    `post_kw` after), drawn as such and labelled so."""
    pts = _daily_points(f)
    curve = bool(pts)
    if not any(v is not None for _, v in pts):
        pts = []
    step = next((e.data for e in f.evidence if e.code == "power.step"), None)
    if not pts and step and isinstance(step.get("pre_kw"), int | float) and isinstance(step.get("post_kw"), int | float):
        day = f.onset.date().isoformat() if f.onset else "onset"
        before, after = ("之前", "之后") if lang == "zh" else ("before", "after")
        pts = [(before, float(step["pre_kw"])), (day, float(step["pre_kw"])), (day, float(step["post_kw"])),
               (after, float(step["post_kw"]))]  # fmt: skip
        curve = False
    if len(pts) < 2:
        return ""
    known = [v for _, v in pts if v is not None]
    lo = min(0.0, *known)
    hi = max(known) or 1.0
    # room for a label such as "1,234.5 kW" left of the axis (44 px cut "14.6 kW" to "6 kW" in the PDF)
    pad_l, pad_b, pad_t = 72, 22, 12
    n = len(pts)

    def xy(i: int, v: float) -> tuple[float, float]:
        x = pad_l + (width - pad_l - 8) * i / (n - 1)
        y = height - pad_b - (height - pad_b - pad_t) * (v - lo) / (hi - lo or 1)
        return x, y

    # a new sub-path (M) after every gap: days without readings are not drawn across; a day with readings
    # between two gaps (or a gap and an end) is a sub-path of one point, which draws nothing: it gets a dot
    moves, dots, gap = [], [], True
    for i, (_, v) in enumerate(pts):
        if v is None:
            gap = True
            continue
        x, y = xy(i, v)
        moves.append(f"{'M' if gap else 'L'}{x:.1f},{y:.1f}")
        if gap and (i + 1 >= n or pts[i + 1][1] is None):
            dots.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" class="load-point" fill="#c0392b"/>')
        gap = False
    path = " ".join(moves)
    out = [f'<svg class="chart" role="img" aria-label="{_e(label)}" viewBox="0 0 {width} {height}" '
           f'width="100%" xmlns="http://www.w3.org/2000/svg">',
           f'<line x1="{pad_l}" y1="{height - pad_b}" x2="{width - 4}" y2="{height - pad_b}" class="axis"/>',
           f'<text x="{pad_l - 4}" y="{pad_t + 4}" text-anchor="end" class="tick">{hi:.1f} kW</text>',
           f'<text x="{pad_l - 4}" y="{height - pad_b}" text-anchor="end" class="tick">{lo:.0f}</text>',
           # stroke and no fill on the element itself: a renderer without the page's CSS (the PDF
           # report) filled the open path black
           f'<path d="{path}" class="load" fill="none" stroke="#c0392b" stroke-width="2"/>', *dots,
           f'<text x="{pad_l}" y="{height - 5}" class="tick">{_e(pts[0][0])}</text>',
           f'<text x="{width - 8}" y="{height - 5}" text-anchor="end" class="tick">{_e(pts[-1][0])}</text>']  # fmt: skip
    if f.onset is not None and curve:
        prof = f.extra.get("daily_kw") if f.extra else None
        tz = float(prof.get("tz_offset_h") or 0.0) if isinstance(prof, dict) else 0.0
        day = (f.onset + timedelta(hours=tz)).date().isoformat()  # the profile's days are the meter's clock
        idx = next((i for i, (d, _) in enumerate(pts) if d >= day), None)
        if idx is not None:
            x, _ = xy(idx, lo)
            out.append(f'<line x1="{x:.1f}" y1="{pad_t}" x2="{x:.1f}" y2="{height - pad_b}" class="onset"/>')
    out.append("</svg>")
    return "".join(out)
