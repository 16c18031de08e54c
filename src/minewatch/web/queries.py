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
from minewatch.store import Store
from minewatch.store.backend import Db, finding_from_row, jload, utc
from minewatch.store.cases import MAX_OFFSET

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

    def where(self, db: Db | None = None) -> tuple[str, list[Any]]:
        """SQL condition and its parameters. Given `db`, a site or case filter is resolved to its
        (bounded) list of finding ids first: an id list probes the findings table in a few ms where
        the sub-query on the link table costs a hash join over every finding id (1M strings)."""
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
        for col, table, value in (("site_id", "site_findings", self.site_id), ("case_id", "case_findings", self.case_id)):
            if value is None:
                continue
            linked = _linked_ids(db, table, col, int(value)) if db is not None else None
            if linked is None:
                w.append(f"finding_id IN (SELECT finding_id FROM {table} WHERE {col} = ?)")
                p.append(int(value))
            elif not linked:
                w.append("FALSE")
            else:
                w.append(f"finding_id IN ({', '.join('?' for _ in linked)})")
                p += linked
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


#: a site or case with more linked findings than this is filtered by a sub-query instead of an id list
MAX_LINKED_LIST = 2000


def _linked_ids(db: Db, table: str, col: str, value: int) -> list[str] | None:
    """The finding ids linked to a site or case, or None when there are too many for a parameter list.
    `table` and `col` come from the code above, never from the request."""
    rows = db.execute(f"SELECT finding_id FROM {table} WHERE {col} = ? LIMIT ?", [value, MAX_LINKED_LIST + 1])
    return None if len(rows) > MAX_LINKED_LIST else [r[0] for r in rows]


row_to_finding = finding_from_row  # one row reader for both backends (store.backend)


def query_findings(db: Db, flt: FindingFilter, *, limit: int = 50, offset: int = 0) -> tuple[int, list[Finding]]:
    """(how many match in total, this page).

    A filter on a set of finding ids (site, case, job) costs a scan of the id column per query, so
    its total and page come from one query (a window count beside the page). Other filters are
    counted on their own narrow columns first, and the page is then found by `page_ids`."""
    limit = max(1, min(int(limit), MAX_PAGE))
    offset = max(0, min(int(offset), MAX_OFFSET))  # a huge page number is an empty page, not an int64 overflow
    where, params = flt.where(db)
    if flt.site_id is not None or flt.case_id is not None or flt.ids is not None:
        order = SORTS.get(flt.sort, SORTS["score"])
        rows = db.execute(f"SELECT finding_id, count(*) OVER () FROM findings{where} ORDER BY {order} LIMIT ? OFFSET ?",
                          [*params, limit, offset])  # fmt: skip
        if rows:
            return int(rows[0][1]), fetch_findings(db, [r[0] for r in rows])
        total_row = db.one(f"SELECT count(*) FROM findings{where}", params)
        return (int(total_row[0]) if total_row else 0), []
    total_row = db.one(f"SELECT count(*) FROM findings{where}", params)
    total = int(total_row[0]) if total_row else 0
    if offset >= total:
        return total, []
    cols = ", ".join(Store._COLUMNS)
    rows = _page(db, cols, flt.sort, where, params, limit=limit, offset=offset, total=total)
    return total, [row_to_finding(r) for r in rows]


#: up to this many matching rows the plain ORDER BY/OFFSET is as cheap as any seek
PLAIN_MAX = 10_000


#: from this offset on, the page's position is found from a histogram of the sort key instead of a
#: top-N/skip over the key column (which sorts `offset` keys: ~80-150 ms at 1M rows)
SEEK_OFFSET = 2000

#: buckets of the histogram seek (equal width between the smallest and largest key)
HIST_BUCKETS = 1024

#: sort -> (key expression, direction) for the seeks; the finding_id tie-break comes from SORTS
SORT_KEYS: dict[str, tuple[str, str]] = {
    "score": ("score", "DESC"),
    "newest": ("coalesce(last_seen, first_seen, onset)", "DESC"),
    "oldest": ("coalesce(first_seen, onset)", "ASC"),
}


def page_ids(db: Db, sort: str, where: str, params: list[Any], *, limit: int, offset: int,
             total: int | None = None) -> list[str]:  # fmt: skip
    """The finding ids of one page (see `_page`)."""
    return [r[0] for r in _page(db, "finding_id", sort, where, params, limit=limit, offset=offset, total=total)]


def _page(db: Db, select: str, sort: str, where: str, params: list[Any], *, limit: int, offset: int,
          total: int | None = None) -> list[tuple[Any, ...]]:  # fmt: skip
    """The `select` columns of one page's rows, the page found on narrow columns only.

    Why not `ORDER BY key, finding_id LIMIT/OFFSET`: with the id tie-break the sort reads the 20-byte
    id of every matching row (1M strings) even for the first page, and since each request opens the
    store afresh nothing of that stays cached. Instead a "band seek":
    1. locate the page on the key column alone: for a shallow page the page's own keys (a small
       top-N); for a deep one a histogram of the key (`HIST_BUCKETS` equal-width buckets with their
       counts and key ranges), walked in sort order to the buckets holding the page's first and last row;
    2. count the rows ranked before that band;
    3. sort only the band's rows (the page plus its ties, or the page's buckets) with the tie-break,
       skipping the band rows that belong to earlier pages. On DuckDB the band is selected by row id
       first (a semi-join), so the id column and the wide columns (`select`: the evidence JSON...)
       are read for the band's rows only, and no second query by id is needed.
    Same rows and order as the plain query (tests/test_web_queries.py compares them on every path);
    a page that reaches rows with no sort key (NULLS LAST) takes the plain query.
    """
    sort = sort if sort in SORTS else "score"
    order = SORTS[sort]
    key, direction = SORT_KEYS[sort]
    joint = where + " AND" if where else " WHERE"
    band: tuple[Any, Any, int] | None = None  # (lowest key, highest key, rows before the band)
    if total is not None and total <= PLAIN_MAX:
        return db.execute(f"SELECT {select} FROM findings{where} ORDER BY {order} LIMIT ? OFFSET ?",
                          [*params, limit, offset])  # fmt: skip
    if offset >= SEEK_OFFSET:
        band = _hist_band(db, key, direction, joint, params, limit=limit, offset=offset, total=total)
    if band is None:
        keys = [r[0] for r in db.execute(
            f"SELECT {key} AS k FROM findings{where} ORDER BY k {direction} NULLS LAST LIMIT ? OFFSET ?",
            [*params, limit, offset])]  # fmt: skip
        if not keys:
            return []
        if all(k is not None for k in keys):
            first, last = keys[0], keys[-1]
            before = db.one(f"SELECT count(*) FROM findings{joint} {key} {'>' if direction == 'DESC' else '<'} ?",
                            [*params, first])  # fmt: skip
            lo, hi = (last, first) if direction == "DESC" else (first, last)
            band = (lo, hi, int(before[0]) if before else 0)
    if band is not None:
        lo, hi, before_n = band
        cond = f"{joint} {key} BETWEEN ? AND ?"
        if db.dialect == "duckdb":
            sql = f"SELECT {select} FROM findings WHERE rowid IN (SELECT rowid FROM findings{cond}) ORDER BY {order}"
        else:
            sql = f"SELECT {select} FROM findings{cond} ORDER BY {order}"
        return db.execute(sql + " LIMIT ? OFFSET ?", [*params, lo, hi, limit, offset - before_n])
    return db.execute(f"SELECT {select} FROM findings{where} ORDER BY {order} LIMIT ? OFFSET ?",
                      [*params, limit, offset])  # fmt: skip


def _hist_band(db: Db, key: str, direction: str, joint: str, params: list[Any], *, limit: int, offset: int,
               total: int | None) -> tuple[Any, Any, int] | None:  # fmt: skip
    """(lowest key, highest key, rows before) of the buckets that hold rows offset .. offset+limit-1,
    or None when the histogram cannot help (no key range, rows without a key on the page)."""
    x = key if key == "score" else (f"epoch({key})" if db.dialect == "duckdb" else f"extract(epoch FROM {key})")
    got = db.one(f"SELECT min({x}), max({x}), count({x}) FROM findings{joint} {key} IS NOT NULL", params)
    if not got or got[0] is None:
        return None
    mn, mx, nn = float(got[0]), float(got[1]), int(got[2])
    if mx <= mn or offset >= nn or (offset + limit > nn and (total is None or total > nn)):
        return None
    width = (mx - mn) / HIST_BUCKETS
    b = f"least(CAST(floor(({x} - ?) / ?) AS INTEGER), {HIST_BUCKETS - 1})"
    rows = db.execute(
        f"SELECT {b} AS b, count(*), min({key}), max({key}) FROM findings{joint} {key} IS NOT NULL GROUP BY b",
        [mn, width, *params],
    )
    rows.sort(key=lambda r: int(r[0]), reverse=direction == "DESC")
    end = min(offset + limit, nn) - 1
    seen = 0
    before = None
    lo = hi = None
    for _, n, kmin, kmax in rows:
        n = int(n)
        if before is None and offset < seen + n:
            before = seen
        if before is not None:
            lo = kmin if lo is None or kmin < lo else lo
            hi = kmax if hi is None or kmax > hi else hi
            if end < seen + n:
                return lo, hi, before
        seen += n
    return None


def fetch_findings(db: Db, ids: list[str]) -> list[Finding]:
    """The full rows of a page's ids, in the page's order."""
    if not ids:
        return []
    rows = db.execute(
        f"SELECT {', '.join(Store._COLUMNS)} FROM findings WHERE finding_id IN ({', '.join('?' for _ in ids)})", ids
    )
    by_id = {r[0]: r for r in rows}
    return [row_to_finding(by_id[i]) for i in ids if i in by_id]


#: the order of `minewatch export` (`store.findings_sql`), so the page, the API and the CLI write
#: their files row for row alike, ties in the score included
EXPORT_ORDER = "score DESC, first_seen NULLS LAST, finding_id"


def all_findings(db: Db, flt: FindingFilter, cap: int = 200_000) -> tuple[int, list[Finding]]:
    """Every match up to `cap` (exports); the total tells the caller when the cap cut the list."""
    where, params = flt.where(db)
    total_row = db.one(f"SELECT count(*) FROM findings{where}", params)
    rows = db.execute(
        f"SELECT {', '.join(Store._COLUMNS)} FROM findings{where} ORDER BY {EXPORT_ORDER} LIMIT ?",
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
    assessed: int  # hosts/meters whose (latest) assessment is counted in the totals
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
    # Impact is counted once per meter/host: the latest assessment of each, summed (one rig seen in
    # several sessions carries several assessments of the same machines). A site's meter measures the
    # miners behind it too: where a site has a meter assessment, its hosts' assessments are not added
    # (export.report.split_meter_and_hosts).
    from minewatch.export.report import split_meter_and_hosts

    kwh = co2 = coal = None
    site_of = {str(fid): int(sid) for fid, sid in db.execute(
        "SELECT finding_id, min(site_id) FROM site_findings GROUP BY finding_id")}  # fmt: skip
    per_host, _behind = split_meter_and_hosts(
        (str(host), jload(imp) or {}, utc(seen), site_of.get(str(fid)), meter is not None)
        for host, imp, seen, fid, meter in db.execute(
            "SELECT coalesce(meter_id, src_ip, finding_id), impact, coalesce(last_seen, first_seen, onset), "
            "finding_id, meter_id FROM findings WHERE impact IS NOT NULL AND kind = 'mining'")
    )  # fmt: skip
    n = len(per_host)
    for d in per_host.values():
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
