"""Read meter data in the layouts grid companies actually hand over, and say what is wrong with it.

Why one reader for three layouts: inspection teams get long exports from the acquisition system
(meter, time, value), wide tables (one column per meter, as in the UCI load diagrams) and daily
tables (one row per customer, one column per day, as in the State Grid theft set). They all end
up as one regular grid per meter (`MeterSeries`), so the detector never sees the layout.

Why report and never fill: a gap filled with zeros looks like curtailment and a gap filled with the
previous value looks like a flat miner. Missing slots stay NaN (null) and every gap, duplicate,
daylight-saving jump, meter reset and negative value is listed with the meter and time.

Timestamps are taken as wall-clock local time of the meter (they label the interval as the file
does; nothing is shifted). Hour-of-day features need local time; `tz_offset_h` only moves the
onset reported in findings to UTC.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from minewatch.errors import InputError, Rejects

METER_COLS = ("meter_id", "meter", "customer_id", "customer", "cons_no", "id", "mp_id", "account")
TS_COLS = ("ts", "timestamp", "time", "datetime", "reading_datetime", "date", "date_time", "interval_end")
VALUE_COLS = ("kwh", "kw", "value", "general_supply_kwh", "energy_kwh", "power_kw", "load", "consumption")
TEMP_COLS = ("temp_c", "temperature", "temp", "ot", "t_ambient")

Layout = str  # "long" | "wide" | "daily"


@dataclass(slots=True)
class DataIssue:
    """One data problem a person can look up: which meter, when, what."""

    kind: str  # gap | duplicate | dst_jump | meter_reset | negative | unparsable | unit_assumed
    meter_id: str | None
    ts: datetime | None
    detail: str
    count: int = 1


@dataclass(slots=True)
class MeterSeries:
    """A meter's load on a regular grid: mean kW per slot, NaN where nothing valid was read.

    `start_s` is the wall-clock time of the first slot as seconds since 1970 (local, not UTC).
    """

    meter_id: str
    start_s: int
    interval_s: int
    kw: np.ndarray
    source: str = ""
    unit_in: str = "kwh"

    @property
    def n_valid(self) -> int:
        return int(np.count_nonzero(~np.isnan(self.kw)))

    def times(self) -> np.ndarray:
        return self.start_s + np.arange(self.kw.size, dtype=np.int64) * self.interval_s


@dataclass
class ReadResult:
    series: list[MeterSeries] = field(default_factory=list)
    temperature: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # key -> (ts_s, °C)
    issues: list[DataIssue] = field(default_factory=list)
    rejects: Rejects = field(default_factory=Rejects)
    readings: int = 0
    layout: str = ""

    def merge(self, other: ReadResult) -> None:
        self.series.extend(other.series)
        self.temperature.update(other.temperature)
        self.issues.extend(other.issues)
        self.rejects.merge(other.rejects)
        self.readings += other.readings


def _dt(seconds: int | float) -> datetime:
    return datetime.fromtimestamp(int(seconds), tz=UTC).replace(tzinfo=None)


def _find(cols: list[str], names: tuple[str, ...]) -> str | None:
    low = {c.lower().strip(): c for c in cols}
    for n in names:
        if n in low:
            return low[n]
    return None


_DATE_RE = re.compile(r"^\d{4}[-/]\d{1,2}[-/]\d{1,2}")


def _sniff(path: Path) -> tuple[str, bool]:
    """Delimiter and whether decimals use commas (UCI writes `;` and `0,5`)."""
    with open(path, "rb") as f:
        head = f.read(65536).decode("utf-8", errors="replace")
    first = head.splitlines()[0] if head else ""
    delim = max([",", ";", "\t"], key=first.count)
    comma_dec = delim != "," and bool(re.search(r"\d,\d", head))
    return delim, comma_dec


def load_table(path: str | Path) -> pl.DataFrame:
    """CSV or Parquet into a DataFrame of strings/numbers; parse errors name the file and line."""
    p = Path(path)
    if not p.exists():
        raise InputError("file not found", path=str(p))
    if p.suffix.lower() in (".parquet", ".pq"):
        try:
            return pl.read_parquet(p)
        except Exception as e:  # pyarrow/polars raise many types for a broken file
            raise InputError(f"not a readable Parquet file ({e})", path=str(p), offset=0) from e
    delim, comma_dec = _sniff(p)
    try:
        df = pl.read_csv(p, separator=delim, infer_schema=False)  # strings: bad cells are counted, not fatal
        if comma_dec:
            df = df.with_columns(pl.all().str.replace(",", ".", literal=True))
        return df.with_columns(pl.all().str.strip_chars())
    except pl.exceptions.ComputeError as e:
        line = None
        m = re.search(r"line (\d+)", str(e))
        if m:
            line = int(m.group(1))
        raise InputError(f"malformed CSV ({str(e).splitlines()[0]})", path=str(p), line=line) from e


def detect_layout(df: pl.DataFrame) -> Layout:
    cols = df.columns
    date_like = [c for c in cols if _DATE_RE.match(c.strip())]
    if len(date_like) >= 3 and len(date_like) >= 0.5 * len(cols):
        return "daily"
    if _find(cols, METER_COLS) and _find(cols, TS_COLS) and (
        _find(cols, VALUE_COLS) or len(cols) == 3
    ):
        return "long"
    if _find(cols, TS_COLS) or (cols and _DATE_RE.match(str(df[cols[0]][0] if df.height else ""))):
        return "wide"
    raise InputError(
        "cannot tell the layout: expected long (meter, time, value), wide (time + one column per meter) "
        "or daily (customer + one column per date) columns; got " + ", ".join(cols[:8]),
        line=1,
    )


def _parse_ts(s: pl.Series) -> pl.Series:
    s = s.cast(pl.Utf8).str.replace_all("/", "-").str.replace("T", " ").str.replace(r"(Z|[+-]\d\d:?\d\d)$", "")
    out = s.str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False, time_unit="us")
    for fmt in ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d"):
        out = out.fill_null(s.str.to_datetime(fmt, strict=False, time_unit="us"))
    return out


def _to_float(s: pl.Series) -> pl.Series:
    if s.dtype in (pl.Float64, pl.Float32, pl.Int64, pl.Int32):
        return s.cast(pl.Float64)
    return s.cast(pl.Utf8).str.strip_chars().cast(pl.Float64, strict=False)


def _unit_from_name(name: str, declared: str | None) -> str | None:
    if declared:
        return declared
    n = name.lower()
    if "kwh" in n:
        return "kwh"
    if re.search(r"(^|_)kw($|_)", n) or n in ("kw", "power_kw"):
        return "kw"
    return None


def read_file(
    path: str | Path,
    *,
    interval_s: int | None = None,
    unit: str | None = None,
    layout: Layout | None = None,
) -> ReadResult:
    """Read one file of meter data in any supported layout into regular per-meter grids."""
    p = Path(path)
    df = load_table(p)
    try:
        lay = layout or detect_layout(df)
    except InputError as e:
        raise InputError(e.message, path=str(p), line=1) from e
    res = ReadResult(layout=lay)
    if lay == "long":
        _read_long(df, p, res, interval_s, unit)
    elif lay == "wide":
        _read_wide(df, p, res, interval_s, unit)
    elif lay == "daily":
        _read_daily(df, p, res, unit)
    else:
        raise InputError(f"unknown layout {lay!r}", path=str(p))
    return res


def _bad_rows(mask: np.ndarray, p: Path, what: str, res: ReadResult, header_lines: int = 1) -> None:
    for i in np.flatnonzero(mask)[:5]:
        res.issues.append(DataIssue("unparsable", None, None, f"{p.name} line {int(i) + 1 + header_lines}: {what}"))
    for i in np.flatnonzero(mask):
        res.rejects.add(f"unparsable {what}", f"{p} line {int(i) + 1 + header_lines}")


def _read_long(df: pl.DataFrame, p: Path, res: ReadResult, interval_s: int | None, unit: str | None) -> None:
    cols = df.columns
    mcol = _find(cols, METER_COLS) or cols[0]
    tcol = _find(cols, TS_COLS) or cols[1]
    vcol = _find(cols, VALUE_COLS) or next(c for c in cols if c not in (mcol, tcol))
    u = _unit_from_name(vcol, unit)
    if u is None:
        u = "kwh"
        res.issues.append(DataIssue("unit_assumed", None, None, f"{p.name}: column {vcol!r} taken as kWh per interval"))
    ts = _parse_ts(df[tcol])
    val = _to_float(df[vcol])
    raw_v = df[vcol].cast(pl.Utf8)
    bad_ts = ts.is_null().to_numpy()
    _bad_rows(bad_ts, p, "timestamp", res)
    bad_v = (val.is_null() & raw_v.is_not_null() & (raw_v.str.len_chars() > 0)).to_numpy()
    _bad_rows(bad_v & ~bad_ts, p, "value", res)
    tcol_name = _find(cols, TEMP_COLS)
    frame = pl.DataFrame(
        {"m": df[mcol].cast(pl.Utf8), "t": ts.dt.epoch("s"), "v": val, "row": np.arange(df.height)}
    ).filter(~pl.Series(bad_ts))
    if tcol_name:
        frame = frame.with_columns(temp=_to_float(df[tcol_name]).filter(~pl.Series(bad_ts)))
    res.readings += frame.height
    for (mid,), g in frame.group_by(["m"], maintain_order=True):
        g = g.sort("t", maintain_order=True)
        t = g["t"].to_numpy().astype(np.int64)
        v = g["v"].to_numpy().astype(np.float64)
        res.series.append(regularise(str(mid), t, v, p, res, interval_s=interval_s, unit=u))
        if tcol_name:
            res.temperature[str(mid)] = (t, g["temp"].to_numpy().astype(np.float64))


def _read_wide(df: pl.DataFrame, p: Path, res: ReadResult, interval_s: int | None, unit: str | None) -> None:
    cols = df.columns
    tcol = _find(cols, TS_COLS) or cols[0]
    ts = _parse_ts(df[tcol])
    bad_ts = ts.is_null().to_numpy()
    _bad_rows(bad_ts, p, "timestamp", res)
    t = ts.dt.epoch("s").to_numpy()[~bad_ts].astype(np.int64)
    order = np.argsort(t, kind="stable")
    t = t[order]
    temp_col = _find([c for c in cols if c != tcol], TEMP_COLS)
    for c in cols:
        if c == tcol:
            continue
        v = _to_float(df[c]).to_numpy()[~bad_ts].astype(np.float64)[order]
        if c == temp_col:
            res.temperature["*"] = (t, v)
            continue
        u = _unit_from_name(c, unit)
        if u is None:
            u = "kw"  # wide exports (UCI, ETT) carry power per slot
            if not any(i.kind == "unit_assumed" and p.name in i.detail for i in res.issues):
                res.issues.append(DataIssue("unit_assumed", None, None, f"{p.name}: wide columns taken as kW"))
        res.readings += int(np.count_nonzero(~np.isnan(v)))
        res.series.append(regularise(str(c), t, v, p, res, interval_s=interval_s, unit=u))


def _read_daily(df: pl.DataFrame, p: Path, res: ReadResult, unit: str | None) -> None:
    cols = df.columns
    idcol = _find(cols, METER_COLS) or cols[0]
    dcols = [c for c in cols if _DATE_RE.match(c.strip())]
    days = _parse_ts(pl.Series([c.strip() for c in dcols]))
    if days.null_count():
        raise InputError("daily table has unparsable date columns", path=str(p), line=1)
    t = days.dt.epoch("s").to_numpy().astype(np.int64)
    order = np.argsort(t, kind="stable")
    t = t[order]
    ids = df[idcol].cast(pl.Utf8).to_list()
    mat = np.column_stack([_to_float(df[c]).to_numpy().astype(np.float64) for c in dcols])[:, order]
    u = unit or "kwh"
    for i, mid in enumerate(ids):
        v = mat[i]
        res.readings += int(np.count_nonzero(~np.isnan(v)))
        res.series.append(regularise(str(mid), t, v, p, res, interval_s=86400, unit=u))


def infer_interval(t: np.ndarray) -> int | None:
    d = np.diff(t)
    d = d[d > 0]
    if d.size == 0:
        return None
    vals, counts = np.unique(d, return_counts=True)
    return int(vals[np.argmax(counts)])


def _looks_cumulative(v: np.ndarray) -> bool:
    """A register (running kWh total) rather than interval energy: almost never decreases and
    climbs far beyond a typical reading. Interval energy of a real load is not monotone."""
    ok = v[~np.isnan(v)]
    if ok.size < 48:
        return False
    d = np.diff(ok)
    return float(np.mean(d > 0)) > 0.9 and float(np.mean(d < 0)) < 0.02


def regularise(
    meter_id: str,
    t: np.ndarray,
    v: np.ndarray,
    p: Path,
    res: ReadResult,
    *,
    interval_s: int | None,
    unit: str,
) -> MeterSeries:
    """Put one meter's sorted readings on its grid, recording every problem on the way."""
    step = interval_s or infer_interval(t) or 3600
    if t.size == 0:
        return MeterSeries(meter_id, 0, step, np.empty(0), str(p), unit)
    # duplicates: same timestamp twice. A repeated local hour in autumn is a DST fall-back.
    dup = np.flatnonzero(np.diff(t) == 0)
    if dup.size:
        runs = _runs(dup)
        for a, b in runs:
            t0 = int(t[a])
            kind = "dst_jump" if _dst_window(t0, fall=True) and (b - a + 1) * step >= 3600 * 0.5 else "duplicate"
            conflict = np.any(v[a + 1 : b + 2] != v[a : b + 1])
            res.issues.append(
                DataIssue(
                    kind,
                    meter_id,
                    _dt(t0),
                    f"{b - a + 1} repeated timestamp(s){' with different values' if conflict else ''}; "
                    "first kept, others dropped",
                    b - a + 1,
                )
            )
        keep = np.ones(t.size, bool)
        keep[dup + 1] = False
        t, v = t[keep], v[keep]
    off = t - t[0]
    misaligned = off % step != 0
    if misaligned.any():
        for i in np.flatnonzero(misaligned)[:3]:
            res.issues.append(DataIssue("off_grid", meter_id, _dt(int(t[i])), f"not on the {step}s grid; dropped"))
        res.rejects.add("off-grid timestamp", f"{p} meter {meter_id}")
        t, v = t[~misaligned], v[~misaligned]
    idx = ((t - t[0]) // step).astype(np.int64)
    grid = np.full(int(idx[-1]) + 1, np.nan)
    grid[idx] = v
    # gaps: missing slots between readings (and NaN cells in the file)
    missing = np.isnan(grid)
    if missing.any():
        for a, b in _runs(np.flatnonzero(missing)):
            t0 = int(t[0]) + a * step
            n = b - a + 1
            kind = "dst_jump" if n * step == 3600 and _dst_window(t0, fall=False) else "gap"
            res.issues.append(DataIssue(kind, meter_id, _dt(t0), f"{n} slot(s) missing ({n * step / 3600:g} h)", n))
    if unit == "kwh" and step < 86400 and _looks_cumulative(grid):
        d = np.diff(grid, prepend=np.nan)
        for i in np.flatnonzero(d < 0):
            res.issues.append(
                DataIssue("meter_reset", meter_id, _dt(int(t[0]) + int(i) * step), f"register fell by {-d[i]:.3f} kWh")
            )
        d[d < 0] = np.nan
        grid = d
    neg = grid < 0
    if neg.any():
        for a, b in _runs(np.flatnonzero(neg)):
            res.issues.append(
                DataIssue(
                    "negative",
                    meter_id,
                    _dt(int(t[0]) + a * step),
                    f"{b - a + 1} negative reading(s), min {np.nanmin(grid[a : b + 1]):.3f}; set to null",
                    b - a + 1,
                )
            )
        grid = np.where(neg, np.nan, grid)
    kw = grid * (3600.0 / step) if unit == "kwh" else grid
    return MeterSeries(meter_id, int(t[0]), int(step), kw, str(p), unit)


def _runs(idx: np.ndarray) -> list[tuple[int, int]]:
    if idx.size == 0:
        return []
    br = np.flatnonzero(np.diff(idx) != 1)
    starts = np.r_[idx[0], idx[br + 1]]
    ends = np.r_[idx[br], idx[-1]]
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def _dst_window(t0: int, *, fall: bool) -> bool:
    """A local-time hour that daylight saving skips (spring) or repeats (autumn): a Sunday night,
    01:00-03:59, in March/April/October/November (north or south). Heuristic, said as such."""
    d = _dt(t0)
    months = (3, 4, 10, 11)
    return d.weekday() == 6 and 1 <= d.hour <= 3 and d.month in months


def read_temperature(path: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A temperature file: (time, temp) for everyone, or (meter/site, time, temp) per key."""
    p = Path(path)
    df = load_table(p)
    cols = df.columns
    tcol = _find(cols, TS_COLS) or cols[0]
    vcol = _find(cols, TEMP_COLS) or cols[-1]
    kcol = _find(cols, (*METER_COLS, "site", "station", "region"))
    ts = _parse_ts(df[tcol])
    ok = ts.is_not_null()
    if not ok.any():
        raise InputError("no parsable timestamps in temperature file", path=str(p), line=2)
    f = pl.DataFrame({"k": df[kcol].cast(pl.Utf8) if kcol else pl.repeat("*", df.height, eager=True),
                      "t": ts.dt.epoch("s"), "v": _to_float(df[vcol])}).filter(ok)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for (k,), g in f.sort("t").group_by(["k"], maintain_order=True):
        out[str(k)] = (g["t"].to_numpy().astype(np.int64), g["v"].to_numpy().astype(np.float64))
    return out


@dataclass(slots=True)
class MeterMeta:
    """What the customer file says about a meter: the context honest flat loads are judged in."""

    meter_id: str
    tariff_class: str | None = None
    business: str | None = None
    contracted_kw: float | None = None
    transformer: str | None = None
    role: str | None = None  # "transformer" when the row is a transformer's own meter
    site: str | None = None


def read_meta(path: str | Path) -> dict[str, MeterMeta]:
    """Customer metadata CSV: meter_id plus any of tariff_class, business, contracted_kw,
    transformer, role, site. Unknown columns are ignored; empty cells stay None."""
    p = Path(path)
    text = p.read_text(encoding="utf-8-sig")
    rdr = csv.DictReader(io.StringIO(text))
    if not rdr.fieldnames:
        raise InputError("empty metadata file", path=str(p), line=1)
    low = {c.lower().strip(): c for c in rdr.fieldnames}
    idc = next((low[c] for c in METER_COLS if c in low), None)
    if idc is None:
        raise InputError("metadata needs a meter_id column", path=str(p), line=1)

    def g(row: dict[str, str], *names: str) -> str | None:
        for n in names:
            if n in low and (row.get(low[n]) or "").strip():
                return row[low[n]].strip()
        return None

    out: dict[str, MeterMeta] = {}
    for lineno, row in enumerate(rdr, start=2):
        mid = (row.get(idc) or "").strip()
        if not mid:
            raise InputError("row without meter_id", path=str(p), line=lineno)
        cap = g(row, "contracted_kw", "capacity_kw", "contract_kw")
        try:
            capf = float(cap) if cap is not None else None
        except ValueError as e:
            raise InputError(f"contracted_kw {cap!r} is not a number", path=str(p), line=lineno) from e
        out[mid] = MeterMeta(
            mid,
            tariff_class=g(row, "tariff_class", "tariff", "class"),
            business=g(row, "business", "declared_business", "industry"),
            contracted_kw=capf,
            transformer=g(row, "transformer", "transformer_id", "area"),
            role=g(row, "role", "type"),
            site=g(row, "site", "station", "region"),
        )
    return out


def iter_files(paths: list[str | Path], **kw: object) -> Iterator[tuple[Path, ReadResult]]:
    """Read files one by one so memory follows the largest file, not the sum."""
    for path in paths:
        yield Path(path), read_file(path, **kw)  # type: ignore[arg-type]
