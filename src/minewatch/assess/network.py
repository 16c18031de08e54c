"""Bitcoin network economics by day: read Coin Metrics-style CSVs, refresh them when online, halvings.

Why Coin Metrics' layout: CBECI itself takes hashrate and miner revenue (`IssTotUSD + FeeTotUSD`) from
Coin Metrics, so the same columns let our index reproduce theirs; and the community CSVs can be kept on
disk, so everything works offline on the last data fetched (`minewatch data update` refreshes the cache
in `minewatch.paths.data_dir()/network/btc.csv` when a network is reachable).
"""

from __future__ import annotations

import csv
import io
import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from minewatch.errors import InputError, Rejects
from minewatch.i18n import tr
from minewatch.paths import data_dir, shared_data

API_URL = "https://community-api.coinmetrics.io/v4/timeseries/asset-metrics"
METRICS = ("BlkCnt", "DiffMean", "HashRate", "IssTotNtv", "IssTotUSD", "FeeTotNtv", "FeeTotUSD", "PriceUSD")
ATTRIBUTION = "Coin Metrics Community Network Data (github.com/coinmetrics/data), CC BY-NC 4.0"

HALVING_INTERVAL = 210_000
INITIAL_SUBSIDY_BTC = 50.0
#: (height, UTC day the block was mined) for halvings that happened.
HALVINGS: tuple[tuple[int, date], ...] = (
    (210_000, date(2012, 11, 28)),
    (420_000, date(2016, 7, 9)),
    (630_000, date(2020, 5, 11)),
    (840_000, date(2024, 4, 20)),
)


def subsidy_at_height(height: int) -> float:
    """Block subsidy in BTC: 50 BTC halved (integer satoshi shift, as Bitcoin Core does) every 210,000."""
    halvings = height // HALVING_INTERVAL
    if halvings >= 64:
        return 0.0
    return ((50 * 100_000_000) >> halvings) / 1e8


def halving_schedule(count: int = 8) -> list[dict[str, Any]]:
    """Past halvings with their dates, later ones with a date expected at 10-minute blocks."""
    out: list[dict[str, Any]] = []
    last_h, last_d = HALVINGS[-1]
    for n in range(1, count + 1):
        h = n * HALVING_INTERVAL
        known = dict(HALVINGS).get(h)
        if known is None:
            known = last_d + timedelta(minutes=10 * (h - last_h))
        out.append(
            {
                "height": h,
                "date": known.isoformat(),
                "expected": h > last_h,
                "subsidy_btc": subsidy_at_height(h),
            }
        )
    return out


def subsidy_on(day: date) -> float:
    """Subsidy in force at the end of `day` (expected dates after the last known halving)."""
    height = 0
    for row in halving_schedule(12):
        if date.fromisoformat(row["date"]) <= day:
            height = row["height"]
    return subsidy_at_height(height)


@dataclass(slots=True)
class NetworkDay:
    """One UTC day of network data. None means the source did not say (never 0)."""

    day: date
    hashrate_ths: float | None = None
    difficulty: float | None = None
    blocks: float | None = None
    issuance_btc: float | None = None
    issuance_usd: float | None = None
    fees_btc: float | None = None
    fees_usd: float | None = None
    price_usd: float | None = None

    @property
    def revenue_usd(self) -> float | None:
        """Miner revenue (subsidy + fees) in USD/day, CBECI's definition."""
        iss = self.issuance_usd
        if iss is None and self.issuance_btc is not None and self.price_usd is not None:
            iss = self.issuance_btc * self.price_usd
        fee = self.fees_usd
        if fee is None and self.fees_btc is not None and self.price_usd is not None:
            fee = self.fees_btc * self.price_usd
        if iss is None or fee is None:
            return None
        return iss + fee

    @property
    def revenue_btc(self) -> float | None:
        if self.issuance_btc is None or self.fees_btc is None:
            return None
        return self.issuance_btc + self.fees_btc

    @property
    def hashprice_usd(self) -> float | None:
        """USD per TH/s per day."""
        rev = self.revenue_usd
        if rev is None or not self.hashrate_ths:
            return None
        return rev / self.hashrate_ths


@dataclass(slots=True)
class NetworkSnapshot:
    """The network figures a site assessment needs, with where and when they come from."""

    day: date
    hashrate_ths: float
    price_usd: float
    revenue_usd_per_day: float
    source: str
    subsidy_btc: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def hashprice_usd(self) -> float:
        """Revenue per TH/s per day, USD (Luxor's hashprice; = revenue / hashrate)."""
        return self.revenue_usd_per_day / self.hashrate_ths

    @classmethod
    def from_day(cls, d: NetworkDay, source: str) -> NetworkSnapshot:
        if d.hashrate_ths is None or d.price_usd is None or d.revenue_usd is None:
            raise ValueError(f"network data of {d.day} lacks hashrate, price or revenue")
        return cls(
            day=d.day,
            hashrate_ths=d.hashrate_ths,
            price_usd=d.price_usd,
            revenue_usd_per_day=d.revenue_usd,
            subsidy_btc=subsidy_on(d.day),
            source=source,
        )


def _num(text: str | None) -> float | None:
    """A metric value; empty is None. NaN, infinity and negatives raise ValueError (the row is rejected):
    no network metric can be negative, and one NaN day would poison every 7- and 14-day mean it is in
    and make the JSON output invalid."""
    if text is None:
        return None
    t = text.strip()
    if not t:
        return None
    x = float(t)
    if not math.isfinite(x) or x < 0:
        raise ValueError(f"value must be a finite number >= 0, got {t}")
    return x


def _day_from_values(day: date, get: Callable[[str], float | None]) -> NetworkDay:
    d = NetworkDay(
        day=day,
        hashrate_ths=get("HashRate"),
        difficulty=get("DiffMean"),
        blocks=get("BlkCnt"),
        issuance_btc=get("IssTotNtv"),
        issuance_usd=get("IssTotUSD"),
        fees_btc=get("FeeTotNtv"),
        fees_usd=get("FeeTotUSD"),
        price_usd=get("PriceUSD"),
    )
    # Fill what follows from the others (HashRate = BlkCnt * DiffMean * 2^32 / 86400 / 1e12).
    if d.hashrate_ths is None and d.blocks is not None and d.difficulty is not None:
        d.hashrate_ths = d.blocks * d.difficulty * 2**32 / 86400 / 1e12
    if d.difficulty is None and d.hashrate_ths and d.blocks:
        d.difficulty = d.hashrate_ths * 1e12 * 86400 / (d.blocks * 2**32)
    return d


def read_metrics(path: str | Path, rejects: Rejects | None = None) -> list[NetworkDay]:
    """Read a Coin Metrics-style daily CSV (`time` plus any of METRICS), sorted by day, one row per day.

    A row with an unparseable date or number is counted in `rejects` and skipped; a missing header or
    no usable row raises InputError naming the file and line.
    """
    p = Path(path)
    rejects = rejects if rejects is not None else Rejects()
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise InputError(f"cannot read metrics: {e.strerror}", path=str(p)) from e
    reader = csv.DictReader(io.StringIO(text))
    fields = reader.fieldnames or []
    if "time" not in fields:
        raise InputError("metrics CSV needs a 'time' column (Coin Metrics layout)", path=str(p), line=1)
    if "HashRate" not in fields and not {"BlkCnt", "DiffMean"} <= set(fields):
        raise InputError("metrics CSV needs HashRate (or BlkCnt and DiffMean)", path=str(p), line=1)
    days: dict[date, NetworkDay] = {}
    for row in reader:
        line = reader.line_num
        try:
            day = date.fromisoformat(str(row["time"]).strip()[:10])
            d = _day_from_values(day, lambda k, r=row: _num(r.get(k)))
        except (ValueError, TypeError) as e:
            rejects.add(f"bad metrics row: {e}", f"{p}:{line}")
            continue
        if day in days:
            rejects.add("duplicate day (later row kept)", f"{p}:{line}")
        days[day] = d
    if not days:
        raise InputError("no usable row in metrics CSV", path=str(p))
    return [days[k] for k in sorted(days)]


def write_metrics(days: Iterable[NetworkDay], path: str | Path) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["time", *METRICS])
        for d in days:
            vals = [d.blocks, d.difficulty, d.hashrate_ths, d.issuance_btc, d.issuance_usd, d.fees_btc,
                    d.fees_usd, d.price_usd]  # fmt: skip
            w.writerow([d.day.isoformat(), *["" if v is None else repr(float(v)) for v in vals]])
    tmp.replace(p)


def parse_api_response(payload: bytes | str | dict[str, Any]) -> tuple[list[NetworkDay], str | None]:
    """Days from one page of the Coin Metrics v4 `timeseries/asset-metrics` JSON, and the next-page URL.

    The API writes numbers as strings and leaves out metrics it has no value for; both are handled.
    """
    if isinstance(payload, bytes | str):
        try:
            payload = json.loads(payload)
        except json.JSONDecodeError as e:
            raise InputError(f"Coin Metrics answer is not JSON: {e.msg}", offset=e.pos) from e
    if not isinstance(payload, dict) or "data" not in payload:
        err = payload.get("error") if isinstance(payload, dict) else None
        raise InputError(f"Coin Metrics answer has no 'data'{f': {err}' if err else ''}")
    days = []
    for i, row in enumerate(payload["data"]):
        try:
            day = date.fromisoformat(str(row["time"])[:10])
        except (KeyError, ValueError) as e:
            raise InputError(f"Coin Metrics row {i} has no valid time", offset=i) from e
        try:
            days.append(_day_from_values(day, lambda k, r=row: _num(None if r.get(k) is None else str(r.get(k)))))
        except ValueError as e:
            raise InputError(f"Coin Metrics row {i}: {e}", offset=i) from e
    return days, payload.get("next_page_url")


def cache_path() -> Path:
    return data_dir() / "network" / "btc.csv"


def default_metrics_path() -> Path | None:
    """The freshest metrics file available offline: the update cache, else the shared development copy."""
    c = cache_path()
    if c.is_file():
        return c
    sd = shared_data()
    if sd is not None and (sd / "btc" / "btc.csv").is_file():
        return sd / "btc" / "btc.csv"
    return None


@dataclass(slots=True)
class UpdateResult:
    online: bool
    path: Path | None
    days: int
    last_day: date | None
    new_days: int
    message: str
    message_zh: str


Fetcher = Callable[[str], bytes]


def _http_get(url: str) -> bytes:
    req = urllib.request.Request(url, headers={"User-Agent": "minewatch"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read()


def update(
    *,
    start: date | None = None,
    fetch: Fetcher | None = None,
    path: Path | None = None,
    max_pages: int = 50,
) -> UpdateResult:
    """Fetch daily BTC metrics from the Coin Metrics community API into the cache; offline, keep the cache.

    Starts from the day after the cache's last day (or `start`, default 2010-07-18 like CBECI) so an
    update only downloads what is new. Any network failure leaves the cache untouched and says so.
    """
    fetch = fetch or _http_get
    path = path or cache_path()
    existing: dict[date, NetworkDay] = {}
    if path.is_file():
        try:
            existing = {d.day: d for d in read_metrics(path)}
        except InputError:
            existing = {}
    begin = start or (max(existing) + timedelta(days=1) if existing else date(2010, 7, 18))
    query = urllib.parse.urlencode(
        {
            "assets": "btc",
            "metrics": ",".join(METRICS),
            "frequency": "1d",
            "start_time": begin.isoformat(),
            "page_size": 10000,
        }
    )
    url: str | None = f"{API_URL}?{query}"
    fetched: list[NetworkDay] = []
    try:
        pages = 0
        while url and pages < max_pages:
            days, url = parse_api_response(fetch(url))
            fetched.extend(days)
            pages += 1
    except (urllib.error.URLError, OSError, TimeoutError, InputError) as e:
        reason = getattr(e, "reason", None) or str(e)
        if existing:
            last = max(existing)
            return UpdateResult(
                False, path, len(existing), last, 0,
                f"offline or source unavailable ({reason}); using cached data {path} "
                f"({len(existing)} days, last {last})",
                f"无法联网或数据源不可用（{reason}）；使用缓存 {path}（{len(existing)} 天，最后 {last}）",
            )  # fmt: skip
        fallback = default_metrics_path()
        return UpdateResult(
            False, fallback, 0, None, 0,
            f"offline or source unavailable ({reason}); no cache yet"
            + (f"; using {fallback}" if fallback else "; built-in fallback snapshot only"),
            f"无法联网或数据源不可用（{reason}）；尚无缓存"
            + (f"；使用 {fallback}" if fallback else "；仅有内置的备用快照"),
        )  # fmt: skip
    today = datetime.now(UTC).date()
    new = 0
    for d in fetched:
        if d.day >= today:  # today's row is partial
            continue
        if d.day not in existing:
            new += 1
        existing[d.day] = d
    if existing:
        write_metrics([existing[k] for k in sorted(existing)], path)
    last = max(existing) if existing else None
    return UpdateResult(
        True, path, len(existing), last, new,
        f"updated {path}: {new} new days, {len(existing)} in total, last {last}. Source: {ATTRIBUTION}",
        f"已更新 {path}：新增 {new} 天，共 {len(existing)} 天，最后 {last}。来源：{ATTRIBUTION}",
    )  # fmt: skip


def _metrics_file(metrics: str | Path | None) -> Path | None:
    """The metrics file to use: the one named (which must exist), else the default, else None.

    Why a named file that does not exist is an error and not a quiet fallback: the built-in snapshot is of
    a fixed day, and a typo in `--metrics` would otherwise price a site at that day's hashprice unnoticed.
    """
    if metrics:
        path = Path(metrics)
        if not path.is_file():
            raise InputError(tr("cannot read metrics: no such file", "无法读取网络数据：文件不存在"), path=str(path))
        return path
    return default_metrics_path()


class NetworkNotCovered(InputError):
    """The network data has no day on or before the assessed one: the hashprice and revenue are unknown
    (the kW-based figures are not: `assess.site` goes on without them). `first` is the data's first day."""

    def __init__(self, message: str, *, at: date | None, first: date | None, path: str | None = None) -> None:
        self.at, self.first = at, first
        super().__init__(message, path=path)


def snapshot(metrics: str | Path | None = None, at: date | None = None) -> NetworkSnapshot:
    """The network on day `at` (default: the latest complete day on file), or the built-in fallback.

    Revenue is averaged over the 7 days up to that day: a single day's block luck swings revenue by
    +-20 %, which should not swing a penalty figure. A file with no day on or before `at` is an error
    (a later day's price would be time travel); only when there is no file at all is the built-in
    snapshot used, and `extra["fallback"]` says so.
    """
    path = _metrics_file(metrics)
    if path is not None:
        rejects = Rejects()
        all_days = [d for d in read_metrics(path, rejects) if d.revenue_usd is not None and d.hashrate_ths and d.price_usd]
        days = [d for d in all_days if at is None or d.day <= at]
        if not days:
            span = f"{all_days[0].day}..{all_days[-1].day}" if all_days else tr("no usable day", "没有可用的日期")
            raise NetworkNotCovered(tr(f"no network data on or before {at}: the metrics cover {span}",
                                       f"{at} 及之前没有网络数据：数据覆盖 {span}"), at=at,
                                    first=all_days[0].day if all_days else None, path=str(path))  # fmt: skip
        week = days[-7:]
        last = week[-1]
        snap = NetworkSnapshot.from_day(last, source=f"{ATTRIBUTION}; file {path}")
        snap.revenue_usd_per_day = sum(d.revenue_usd or 0.0 for d in week) / len(week)
        snap.hashrate_ths = sum(d.hashrate_ths or 0.0 for d in week) / len(week)
        snap.extra["averaged_days"] = len(week)
        snap.extra["path"] = str(path)
        snap.extra["first_day"] = all_days[0].day.isoformat()
        snap.extra["rejected_rows"] = rejects.total
        return snap
    from minewatch.assess.energy import load_factors

    fb = load_factors()["network_fallback"]
    return NetworkSnapshot(
        day=date.fromisoformat(str(fb["date"])),
        hashrate_ths=float(fb["hashrate_ths"]),
        price_usd=float(fb["price_usd"]),
        revenue_usd_per_day=float(fb["revenue_usd_per_day"]),
        subsidy_btc=float(fb["subsidy_btc"]),
        source=f"built-in fallback snapshot: {fb['source']}",
        extra={"fallback": True},
    )


def daily_hashprice(path: str | Path) -> dict[date, float]:
    """USD per TH/s for each day of a metrics file that has revenue and hashrate (that day's own value).

    Why a day's own value and not the 7-day mean: summed over a period the block luck averages out by
    itself, and a trailing mean would shift the period by three days.
    """
    out: dict[date, float] = {}
    for d in read_metrics(path):
        hp = d.hashprice_usd
        if hp is not None:
            out[d.day] = hp
    return out
