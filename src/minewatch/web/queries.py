"""Read-side queries for the dashboard and the API: filtered, paged findings and overview totals.

Why the total is always counted: a page of 50 out of 1 million must say so, or a reader takes the
page for the whole picture. Why every filter is a bound parameter: the values come from a query
string anyone can type, so they never become SQL text (only whitelisted column names do).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from minewatch.model import Finding
from minewatch.store import _JSON_COLS, _TS_COLS, Store
from minewatch.store.backend import Db, jload, utc

MAX_PAGE = 500

#: sort keys offered to users -> SQL (never user text in SQL)
SORTS: dict[str, str] = {
    "score": "score DESC, finding_id",
    "newest": "coalesce(last_seen, first_seen, onset) DESC NULLS LAST, finding_id",
    "oldest": "coalesce(first_seen, onset) ASC NULLS LAST, finding_id",
}


@dataclass
class FindingFilter:
    since: datetime | None = None
    until: datetime | None = None
    kind: str | None = None
    coin: str | None = None
    min_score: float | None = None
    max_score: float | None = None
    site_id: int | None = None
    case_id: int | None = None
    ip: str | None = None
    meter_id: str | None = None
    sort: str = "score"
    ids: list[str] | None = field(default=None)

    def where(self) -> tuple[str, list[Any]]:
        w: list[str] = []
        p: list[Any] = []
        if self.since is not None:
            w.append("coalesce(last_seen, first_seen, onset) >= ?")
            p.append(self.since)
        if self.until is not None:
            w.append("coalesce(first_seen, onset) <= ?")
            p.append(self.until)
        if self.kind:
            w.append("kind = ?")
            p.append(self.kind)
        if self.coin:
            w.append("lower(coin) = lower(?)")
            p.append(self.coin)
        if self.min_score is not None:
            w.append("score >= ?")
            p.append(float(self.min_score))
        if self.max_score is not None:
            w.append("score <= ?")
            p.append(float(self.max_score))
        if self.site_id is not None:
            w.append("finding_id IN (SELECT finding_id FROM site_findings WHERE site_id = ?)")
            p.append(int(self.site_id))
        if self.case_id is not None:
            w.append("finding_id IN (SELECT finding_id FROM case_findings WHERE case_id = ?)")
            p.append(int(self.case_id))
        if self.ip:
            w.append("(src_ip = ? OR dst_ip = ?)")
            p += [self.ip, self.ip]
        if self.meter_id:
            w.append("meter_id = ?")
            p.append(self.meter_id)
        if self.ids is not None:
            if not self.ids:
                w.append("FALSE")
            else:
                w.append(f"finding_id IN ({', '.join('?' for _ in self.ids)})")
                p += list(self.ids)
        return (" WHERE " + " AND ".join(w)) if w else "", p


def row_to_finding(row: tuple[Any, ...]) -> Finding:
    d = dict(zip(Store._COLUMNS, row, strict=True))
    for c in _JSON_COLS:
        d[c] = jload(d[c])
    for c in _TS_COLS:
        d[c] = utc(d[c])
    d["extra"] = d["extra"] or {}
    if d.get("encrypted") is not None:
        d["encrypted"] = bool(d["encrypted"])
    return Finding.from_record(d)


def query_findings(db: Db, flt: FindingFilter, *, limit: int = 50, offset: int = 0) -> tuple[int, list[Finding]]:
    """(how many match in total, this page)."""
    limit = max(1, min(int(limit), MAX_PAGE))
    offset = max(0, int(offset))
    where, params = flt.where()
    total_row = db.one(f"SELECT count(*) FROM findings{where}", params)
    total = int(total_row[0]) if total_row else 0
    order = SORTS.get(flt.sort, SORTS["score"])
    # Two steps: sort and skip on narrow columns only, then read the wide rows (JSON evidence) of the
    # one page. A deep page (offset 50,000 of 1 million) otherwise drags every skipped row's JSON along.
    if offset < 2000:
        rows = db.execute(
            f"SELECT {', '.join(Store._COLUMNS)} FROM findings{where} ORDER BY {order} LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return total, [row_to_finding(r) for r in rows]
    ids = [r[0] for r in db.execute(
        f"SELECT finding_id FROM findings{where} ORDER BY {order} LIMIT ? OFFSET ?", [*params, limit, offset])]  # fmt: skip
    if not ids:
        return total, []
    rows = db.execute(
        f"SELECT {', '.join(Store._COLUMNS)} FROM findings WHERE finding_id IN ({', '.join('?' for _ in ids)})", ids
    )
    by_id = {r[0]: r for r in rows}
    return total, [row_to_finding(by_id[i]) for i in ids if i in by_id]


def all_findings(db: Db, flt: FindingFilter, cap: int = 200_000) -> tuple[int, list[Finding]]:
    """Every match up to `cap` (exports); the total tells the caller when the cap cut the list."""
    where, params = flt.where()
    total_row = db.one(f"SELECT count(*) FROM findings{where}", params)
    rows = db.execute(
        f"SELECT {', '.join(Store._COLUMNS)} FROM findings{where} ORDER BY {SORTS['score']} LIMIT ?",
        [*params, cap],
    )
    return int(total_row[0]) if total_row else 0, [row_to_finding(r) for r in rows]


def get_finding(db: Db, finding_id: str) -> Finding | None:
    r = db.one(f"SELECT {', '.join(Store._COLUMNS)} FROM findings WHERE finding_id = ?", [finding_id])
    return row_to_finding(r) if r else None


def coins(db: Db) -> list[str]:
    return [r[0] for r in db.execute("SELECT DISTINCT coin FROM findings WHERE coin IS NOT NULL ORDER BY coin")]


@dataclass
class Overview:
    findings_total: int
    findings_new: int  # stored in the last `new_days` days
    mining_hosts: int
    sites_active: int
    cases_open: int
    cases_by_state: dict[str, int]
    kwh_per_year: float | None  # None: no finding carries an impact assessment
    co2_t_per_year: float | None
    coal_t_per_year: float | None
    assessed: int
    trend: list[tuple[str, int]]  # (day, findings first seen that day), oldest first
    new_days: int = 7

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["trend"] = [{"day": a, "findings": b} for a, b in self.trend]
        return d


def overview(db: Db, *, new_days: int = 7, trend_days: int = 30) -> Overview:
    from minewatch.store.cases import ACTIVE_STATES

    def one(sql: str, params: list[Any] | None = None) -> Any:
        r = db.one(sql, params or [])
        return r[0] if r else None

    now = datetime.now(UTC)
    total = int(one("SELECT count(*) FROM findings") or 0)
    new = int(one("SELECT count(*) FROM findings WHERE stored_at >= ?", [now - timedelta(days=new_days)]) or 0)
    hosts = int(one("SELECT count(DISTINCT coalesce(src_ip, meter_id)) FROM findings WHERE kind = 'mining'") or 0)
    states = {r[0]: int(r[1]) for r in db.execute("SELECT state, count(*) FROM cases GROUP BY state")}
    marks = ", ".join("?" for _ in ACTIVE_STATES)
    sites_active = int(
        one(f"SELECT count(DISTINCT site_id) FROM cases WHERE site_id IS NOT NULL AND state IN ({marks})",
            list(ACTIVE_STATES)) or 0
    )  # fmt: skip
    # Impact per site is counted once per meter/host: the latest assessment of each, summed.
    kwh = co2 = coal = None
    n = 0
    for (imp,) in db.execute("SELECT impact FROM findings WHERE impact IS NOT NULL AND kind = 'mining'"):
        d = jload(imp) or {}
        if not isinstance(d, dict):
            continue
        n += 1
        for key in ("kwh_per_year", "co2_t_per_year", "coal_t_per_year"):
            v = d.get(key)
            if isinstance(v, int | float):
                if key == "kwh_per_year":
                    kwh = (kwh or 0.0) + v
                elif key == "co2_t_per_year":
                    co2 = (co2 or 0.0) + v
                else:
                    coal = (coal or 0.0) + v
    # The trend runs up to the newest finding (captures are often older than today).
    last = utc(one("SELECT max(coalesce(first_seen, onset)) FROM findings"))
    trend: list[tuple[str, int]] = []
    if last is not None:
        start = (last - timedelta(days=trend_days - 1)).date()
        got = {
            str(r[0]): int(r[1])
            for r in db.execute(
                "SELECT CAST(timezone('UTC', coalesce(first_seen, onset)) AS DATE) AS d, count(*) FROM findings "
                "WHERE coalesce(first_seen, onset) >= ? GROUP BY d ORDER BY d",
                [datetime(start.year, start.month, start.day, tzinfo=UTC)],
            )
        }
        trend = [(str(start + timedelta(days=i)), got.get(str(start + timedelta(days=i)), 0)) for i in range(trend_days)]
    return Overview(total, new, hosts, sites_active, sum(states.get(s, 0) for s in ACTIVE_STATES), states,
                    kwh, co2, coal, n, trend, new_days)  # fmt: skip


def finding_json(f: Finding) -> dict[str, Any]:
    return json.loads(f.to_json())
