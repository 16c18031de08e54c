"""Whole-network Bitcoin electricity, CBECI-compatible (two methods), plus a top-down comparison.

Why rebuild CBECI rather than quote it: an analyst needs the figure for any day and any electricity
price, with a hardware list they can inspect and change, and offline. The bottom-up model follows
Cambridge's published code:

* profitability threshold θ [J/GH] = (revenue per TH hashed) / (price of a joule) / 1000, with a
  14-day trailing mean applied to θ;
* a model counts when it was released before the day (strictly) and θ > its efficiency (strictly);
  if none counts, the previous day's estimate is kept (CBECI Assumption 2);
* lower = min ε × H × 1.01, upper = max ε × H × 1.20, guess = ε_guess × H × 1.10 (PUEs);
* annualised TWh = GW × 365.25 × 24 / 1000; a 7-day trailing mean is applied to every output.

`cbeci-2019` (the original) takes ε_guess as the equal-weighted mean of profitable models.
`cbeci-2023` (Cambridge's August 2023 revision) keeps a model only for 5 years after release and
weights it by age counted from release + 2 months: <12 months 1.0, <24 0.8, <36 0.6, <48 0.4, <60 0.2.
The Digiconomist-style estimate is top-down: revenue × 60 % spent on power / electricity price.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from minewatch.assess.economics import profitability_threshold_j_per_gh
from minewatch.assess.hardware import Catalog, read_models
from minewatch.assess.network import NetworkDay
from minewatch.errors import InputError, Rejects

Method = Literal["cbeci-2019", "cbeci-2023"]
METHODS: tuple[str, ...] = ("cbeci-2019", "cbeci-2023")
PUE_LOWER, PUE_GUESS, PUE_UPPER = 1.01, 1.10, 1.20
DEFAULT_PRICE = 0.05
HOURS_PER_YEAR = 365.25 * 24
FIVE_YEARS_S = 157_680_000  # 5 x 365 days, as CBECI's code
DEPLOY_LAG_S = 61 * 86400  # "release + 2 months"
MONTH_S = 30.4375 * 86400
AGE_WEIGHTS: tuple[tuple[float, float], ...] = ((12, 1.0), (24, 0.8), (36, 0.6), (48, 0.4), (60, 0.2))
OUTPUT_COLUMNS = ("date", "lower_twh", "guess_twh", "upper_twh", "lower_gw", "guess_gw", "upper_gw")
_PLACEHOLDER = re.compile(r"^(worst|best) (cpu|gpu)$|^fpga$|^early asics$", re.I)


@dataclass(frozen=True, slots=True)
class IndexModel:
    """A SHA-256 model as the index needs it: efficiency (J/GH) and release instant (UNIX s)."""

    name: str
    release_ts: int
    j_per_gh: float
    manufacturer: bool = True


@dataclass(slots=True)
class IndexRow:
    date: date
    lower_twh: float | None
    guess_twh: float | None
    upper_twh: float | None
    lower_gw: float | None
    guess_gw: float | None
    upper_gw: float | None
    threshold_j_gh: float | None = None
    guess_j_gh: float | None = None
    profitable: int | None = None
    digiconomist_twh: float | None = None
    hashrate_ths: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["date"] = self.date.isoformat()
        return d


@dataclass(slots=True)
class IndexResult:
    rows: list[IndexRow]
    method: str
    price: float
    hardware: str
    models: int
    assumptions: list[dict[str, Any]] = field(default_factory=list)

    def by_date(self) -> dict[date, IndexRow]:
        return {r.date: r for r in self.rows}

    def yearly_mean(self, year: int, column: str = "guess_twh") -> float | None:
        vals = [getattr(r, column) for r in self.rows if r.date.year == year and getattr(r, column) is not None]
        return sum(vals) / len(vals) if vals else None


def _ts(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp())


def index_models(source: Catalog | Sequence[Any] | str | Path | None = None) -> tuple[list[IndexModel], str]:
    """SHA-256 models for the index from a catalog, a model list, or a file (project or Cambridge layout)."""
    label = "built-in catalog"
    if source is None:
        from minewatch.assess.hardware import load_catalog

        models = load_catalog().models
    elif isinstance(source, str | Path):
        models = read_models(source, Rejects())
        label = str(source)
    elif isinstance(source, Catalog):
        models = source.models
    else:
        models = list(source)
    out = []
    for m in models:
        if m.algorithm != "sha256d" or m.release is None:
            continue
        out.append(
            IndexModel(
                name=m.model,
                release_ts=_ts(m.release),
                j_per_gh=m.j_per_gh,
                manufacturer=not _PLACEHOLDER.match(m.model.strip()),
            )
        )
    if not out:
        raise InputError("hardware list has no SHA-256 model with a release date", path=label)
    return out, label


def _trailing_mean(values: Sequence[float | None], window: int) -> list[float | None]:
    """pandas' rolling(window, min_periods=1).mean(): mean of the non-missing values in the window."""
    out: list[float | None] = []
    for i in range(len(values)):
        w = [v for v in values[max(0, i - window + 1) : i + 1] if v is not None]
        out.append(sum(w) / len(w) if w else None)
    return out


def age_weight(day_ts: int, release_ts: int) -> float:
    months = (day_ts - (release_ts + DEPLOY_LAG_S)) / MONTH_S
    for limit, w in AGE_WEIGHTS:
        if months < limit:
            return w
    return 0.0


def compute_index(
    days: Sequence[NetworkDay],
    models: Sequence[IndexModel],
    *,
    method: str = "cbeci-2019",
    price: float = DEFAULT_PRICE,
    threshold_window: int = 14,
    output_window: int = 7,
    electricity_share: float = 0.60,
    hardware_label: str = "",
) -> IndexResult:
    """Daily lower / best-guess / upper network power and annualised energy for `days` (sorted by day)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}")
    if price <= 0:
        raise ValueError("price must be > 0")
    theta_raw: list[float | None] = []
    for d in days:
        rev = d.revenue_usd
        theta_raw.append(
            profitability_threshold_j_per_gh(rev, d.hashrate_ths, price)
            if rev is not None and d.hashrate_ths
            else None
        )
    theta = _trailing_mean(theta_raw, threshold_window)
    lo_gw: list[float | None] = []
    gu_gw: list[float | None] = []
    up_gw: list[float | None] = []
    guess_eff: list[float | None] = []
    counts: list[int | None] = []
    prev: tuple[float, float, float, float, int] | None = None
    for d, th in zip(days, theta, strict=True):
        t = _ts(d.day)
        h = d.hashrate_ths
        effs: list[float] = []
        weights: list[float] = []
        if th is not None:
            for m in models:
                if method == "cbeci-2023":
                    if not m.manufacturer or not (m.release_ts < t < m.release_ts + FIVE_YEARS_S):
                        continue
                elif not t > m.release_ts:
                    continue
                if th > m.j_per_gh:
                    effs.append(m.j_per_gh)
                    weights.append(age_weight(t, m.release_ts) if method == "cbeci-2023" else 1.0)
        if effs and sum(weights) > 0:
            e_guess = sum(w * e for w, e in zip(weights, effs, strict=True)) / sum(weights)
            cur = (min(effs), e_guess, max(effs), e_guess, len(effs))
            prev = cur
        else:
            cur = prev  # nothing profitable: keep the last profitable set (CBECI Assumption 2)
        if cur is None or h is None:
            lo_gw.append(None)
            gu_gw.append(None)
            up_gw.append(None)
            guess_eff.append(None)
            counts.append(None if cur is None else 0)
            continue
        lo_gw.append(cur[0] * h / 1e6 * PUE_LOWER)
        gu_gw.append(cur[1] * h / 1e6 * PUE_GUESS)
        up_gw.append(cur[2] * h / 1e6 * PUE_UPPER)
        guess_eff.append(cur[3])
        counts.append(cur[4] if effs else 0)
    digi_raw = [
        None if d.revenue_usd is None else d.revenue_usd * 365.25 * electricity_share / price / 1e9 for d in days
    ]
    lo_s, gu_s, up_s = (_trailing_mean(x, output_window) for x in (lo_gw, gu_gw, up_gw))
    digi_s = _trailing_mean(digi_raw, output_window)
    rows = []
    for i, d in enumerate(days):

        def twh(gw: float | None) -> float | None:
            return None if gw is None else gw * HOURS_PER_YEAR / 1000.0

        rows.append(
            IndexRow(
                date=d.day,
                lower_twh=twh(lo_s[i]),
                guess_twh=twh(gu_s[i]),
                upper_twh=twh(up_s[i]),
                lower_gw=lo_s[i],
                guess_gw=gu_s[i],
                upper_gw=up_s[i],
                threshold_j_gh=theta[i],
                guess_j_gh=guess_eff[i],
                profitable=counts[i],
                digiconomist_twh=digi_s[i],
                hashrate_ths=d.hashrate_ths,
            )
        )
    newest_ts = max((m.release_ts for m in models), default=None)
    newest = None if newest_ts is None else datetime.fromtimestamp(newest_ts, tz=UTC).date()
    assumptions = [
        {"name": "method", "value": method, "unit": "", "source": "CBECI (Cambridge) published code and methodology",
         "source_zh": "剑桥大学 CBECI 公开的代码与方法", "as_of": ""},
        {"name": "electricity_price", "value": price, "unit": "USD/kWh", "source": "CBECI default 0.05 unless given",
         "source_zh": "CBECI 默认 0.05，除非另行给定", "as_of": ""},
        {"name": "pue", "value": [PUE_LOWER, PUE_GUESS, PUE_UPPER], "unit": "",
         "source": "CBECI assumptions 4a-4c (lower, guess, upper)", "source_zh": "CBECI 假设 4a-4c（下限、最佳估计、上限）", "as_of": ""},
        {"name": "smoothing", "value": [threshold_window, output_window], "unit": "days",
         "source": "trailing mean on threshold, then on outputs (CBECI)", "source_zh": "先对盈利阈值、再对输出取滑动平均（CBECI）", "as_of": ""},
        {"name": "hardware", "value": len(models), "unit": "models",
         "source": f"{hardware_label}; newest release {newest}" if newest else hardware_label,
         "source_zh": f"{hardware_label}；最新机型发布于 {newest}" if newest else hardware_label,
         "as_of": newest.isoformat() if newest else ""},
        {"name": "digiconomist_electricity_share", "value": electricity_share, "unit": "",
         "source": "Digiconomist BECI (de Vries 2018)", "source_zh": "Digiconomist BECI（de Vries 2018）", "as_of": ""},
    ]  # fmt: skip
    return IndexResult(rows, method, price, hardware_label, len(models), assumptions)


def write_csv(result: IndexResult, path: str | Path) -> None:
    """Daily rows: the seven required columns first, then diagnostics."""
    extra = ("threshold_j_gh", "guess_j_gh", "profitable", "digiconomist_twh", "hashrate_ths")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow([*OUTPUT_COLUMNS, *extra])
        for r in result.rows:
            d = r.to_dict()
            w.writerow([("" if d[c] is None else (d[c] if c == "date" else _fmt(d[c]))) for c in (*OUTPUT_COLUMNS, *extra)])


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}" if abs(v) >= 1e6 else f"{v:.4f}"
    return str(v)


# -- country split -------------------------------------------------------------------------------------


def read_shares(path: str | Path, rejects: Rejects | None = None) -> dict[str, dict[str, float]]:
    """Monthly hashrate shares by country: {'YYYY-MM': {country: fraction}}.

    Accepts `date,country,share` (fraction or percent) and Cambridge's download layout
    `date,country,monthly_hashrate_%[,...]`. Percent is assumed when the column name has '%' or pct,
    or when most values exceed 1; a value outside 0..1 (0..100) or a repeated (month, country) is rejected.
    """
    p = Path(path)
    rejects = rejects if rejects is not None else Rejects()
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise InputError(f"cannot read shares: {e.strerror}", path=str(p)) from e
    reader = csv.DictReader(text.splitlines())
    fields = reader.fieldnames or []
    share_col = next((c for c in fields if c.lower() in ("share", "share_pct", "monthly_hashrate_%")), None)
    if "date" not in fields or "country" not in fields or share_col is None:
        raise InputError("shares CSV needs columns date,country,share (or monthly_hashrate_%)", path=str(p), line=1)
    raw: list[tuple[str, str, float]] = []
    lines: list[int] = []
    for row in reader:
        try:
            month = str(row["date"]).strip()[:7]
            date.fromisoformat(month + "-01")
            v = float(row[share_col])
            if not math.isfinite(v):
                raise ValueError(f"share must be finite, got {row[share_col]}")
            raw.append((month, str(row["country"]).strip(), v))
            lines.append(reader.line_num)
        except (ValueError, TypeError) as e:
            rejects.add(f"bad share row: {e}", f"{p}:{reader.line_num}")
    if not raw:
        raise InputError("no usable row in shares CSV", path=str(p))
    # Percent when the column says so, else when most values exceed 1: one typo above 1 in a fraction file
    # must not turn every other share into a hundredth of itself (it is rejected instead).
    values = sorted(v for _, _, v in raw)
    pct = "%" in share_col or "pct" in share_col.lower() or values[len(values) // 2] > 1.0
    top = 100.0 if pct else 1.0
    out: dict[str, dict[str, float]] = {}
    for (month, country, v), line in zip(raw, lines, strict=True):
        if not (0.0 <= v <= top):
            rejects.add(f"share {v:g} outside 0..{top:g} ({'percent' if pct else 'fraction'} file)", f"{p}:{line}")
            continue
        if country in out.get(month, {}):
            rejects.add(f"duplicate share for {country} in {month} (first row kept)", f"{p}:{line}")
            continue
        out.setdefault(month, {})[country] = v / 100.0 if pct else v
    if not out:
        raise InputError("no usable row in shares CSV", path=str(p))
    return out


def country_split(result: IndexResult, shares: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """Each day's bounds and best guess shared out by that month's hashrate shares (days without shares skipped).

    Shares are not re-normalised: what the share file does not attribute stays unattributed.
    """
    out = []
    for r in result.rows:
        month = r.date.isoformat()[:7]
        if month not in shares or r.guess_twh is None:
            continue
        for country, s in sorted(shares[month].items(), key=lambda kv: -kv[1]):
            out.append(
                {
                    "date": r.date.isoformat(),
                    "country": country,
                    "share": s,
                    "lower_twh": None if r.lower_twh is None else r.lower_twh * s,
                    "guess_twh": r.guess_twh * s,
                    "upper_twh": None if r.upper_twh is None else r.upper_twh * s,
                    "guess_gw": None if r.guess_gw is None else r.guess_gw * s,
                }
            )
    return out


def write_country_csv(rows: list[dict[str, Any]], path: str | Path) -> None:
    cols = ("date", "country", "share", "lower_twh", "guess_twh", "upper_twh", "guess_gw")
    with Path(path).open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in rows:
            w.writerow(["" if r[c] is None else (_fmt(r[c]) if isinstance(r[c], float) else r[c]) for c in cols])


def plot(result: IndexResult, path: str | Path, title: str | None = None, lang: str | None = None) -> None:
    """PNG chart: the lower-upper band, the best guess and the top-down comparison, labelled in `lang`
    (default: the active language)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from minewatch.i18n import tr
    from minewatch.plotting import use_cjk_fonts

    use_cjk_fonts(matplotlib)
    rows = [r for r in result.rows if r.guess_twh is not None]
    if not rows:
        raise ValueError(tr("nothing to plot: no day has an estimate", "无可绘制内容：没有任何一天有估计值", lang))
    x = [r.date for r in rows]
    fig, ax = plt.subplots(figsize=(10, 5), dpi=100)
    ax.fill_between(x, [r.lower_twh for r in rows], [r.upper_twh for r in rows], alpha=0.25,
                    label=tr("lower-upper bound", "下限–上限", lang))
    ax.plot(x, [r.guess_twh for r in rows], lw=1.5,
            label=tr(f"best guess ({result.method})", f"最佳估计（{result.method}）", lang))
    dg = [(r.date, r.digiconomist_twh) for r in rows if r.digiconomist_twh is not None]
    if dg:
        ax.plot([a for a, _ in dg], [b for _, b in dg], ls="--", lw=1,
                label=tr("top-down (60% of revenue)", "自上而下（收入的 60%）", lang))
    ax.set_ylabel(tr("TWh per year (annualised)", "太瓦时/年（年化）", lang))
    ax.set_title(title or tr(f"Bitcoin network electricity, {result.price:g} USD/kWh",
                             f"比特币网络耗电量，电价 {result.price:g} 美元/千瓦时", lang))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
