"""The band seek of the findings list (page keys or key histogram, then a sort of the band only) must
give exactly the plain `ORDER BY ... LIMIT/OFFSET` rows, for every sort, with ties, rows without a
time (NULLS LAST), filters, and page boundaries that fall inside and across histogram buckets."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from minewatch.store.backend import connect
from minewatch.web import queries as Q
from test_cases_postgres import pg_url  # noqa: F401 - the fixture that starts a PostgreSQL server
from web_helpers import T0, finding

N = 400


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory):
    path: Path = tmp_path_factory.mktemp("seek") / "seek.duckdb"
    d = connect(path)
    fs = []
    for i in range(N):
        # 9 score values (ties), times with repeats (i // 3), and every 37th finding without any time
        f = finding(i, src=f"10.0.{i % 4}.{i % 250}", coin=("XMR", "BTC")[i % 2], score=float(40 + (i * 7) % 9 * 5))
        f.first_seen = T0 + timedelta(minutes=i // 3)
        f.last_seen = f.first_seen + timedelta(minutes=(i * 13) % 11)
        if i % 37 == 0:
            f.first_seen = f.last_seen = None
        fs.append(f)
    d.add_findings(fs)
    yield d
    d.close()


def _plain(db, flt: Q.FindingFilter, limit: int, offset: int) -> list[str]:
    where, params = flt.where()
    return [r[0] for r in db.execute(
        f"SELECT finding_id FROM findings{where} ORDER BY {Q.SORTS[flt.sort]} LIMIT ? OFFSET ?",
        [*params, limit, offset])]  # fmt: skip


@pytest.mark.parametrize("path", ["page-keys", "histogram"])
@pytest.mark.parametrize("sort", ["score", "newest", "oldest"])
@pytest.mark.parametrize("coin", [None, "BTC"])
def test_every_seek_path_matches_the_plain_query(db, monkeypatch, path: str, sort: str, coin: str | None) -> None:
    monkeypatch.setattr(Q, "PLAIN_MAX", 0)  # never the small-result shortcut
    monkeypatch.setattr(Q, "SEEK_OFFSET", 0 if path == "histogram" else 10**9)
    monkeypatch.setattr(Q, "HIST_BUCKETS", 7)  # few buckets: pages start and end inside and across them
    flt = Q.FindingFilter(coin=coin, sort=sort)
    total = N if coin is None else N // 2
    for limit in (1, 23, 50):
        for offset in (0, 1, 22, 57, 100, 173, total - 60, total - limit, total - 1, total, total + 5):
            if offset < 0:
                continue
            got_total, page = Q.query_findings(db, flt, limit=limit, offset=offset)
            assert got_total == total
            assert [f.finding_id for f in page] == _plain(db, flt, limit, offset), (limit, offset)


def test_histogram_walk_agrees_with_a_full_sort(db, monkeypatch) -> None:
    """Paging through everything by histogram gives each finding once, in the sort order."""
    monkeypatch.setattr(Q, "PLAIN_MAX", 0)
    monkeypatch.setattr(Q, "SEEK_OFFSET", 0)
    monkeypatch.setattr(Q, "HIST_BUCKETS", 5)
    seen: list[str] = []
    for off in range(0, N, 31):
        seen += [f.finding_id for f in Q.query_findings(db, Q.FindingFilter(sort="newest"), limit=31, offset=off)[1]]
    assert seen == _plain(db, Q.FindingFilter(sort="newest"), N, 0)


def test_hist_band_declines_when_the_page_reaches_rows_without_a_key(db, monkeypatch) -> None:
    _where, params = Q.FindingFilter().where()
    nulls = sum(1 for i in range(N) if i % 37 == 0)
    band = Q._hist_band(db, "coalesce(last_seen, first_seen, onset)", "DESC", " WHERE", params,
                        limit=10, offset=N - nulls - 5, total=N)  # fmt: skip
    assert band is None
    band = Q._hist_band(db, "score", "DESC", " WHERE", params, limit=10, offset=N - 10, total=N)
    assert band is not None and band[0] <= band[1]


@pytest.mark.parametrize("flt", [Q.FindingFilter(ids=[]), Q.FindingFilter(case_id=999)])
def test_empty_id_sets_count_zero(db, flt) -> None:
    assert Q.query_findings(db, flt, limit=10, offset=0) == (0, [])


@pytest.mark.slow
def test_seek_paths_on_postgres(pg_url, monkeypatch) -> None:  # noqa: F811 - the imported fixture
    """The same SQL on PostgreSQL (no row ids there: the band is selected directly)."""
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute("DROP SCHEMA public CASCADE")
        con.execute("CREATE SCHEMA public")
    pdb = connect(pg_url)
    try:
        fs = []
        for i in range(150):
            f = finding(i, score=float(40 + (i * 7) % 9 * 5))
            f.first_seen = T0 + timedelta(minutes=i // 3)
            f.last_seen = f.first_seen + timedelta(minutes=(i * 13) % 11)
            if i % 37 == 0:
                f.first_seen = f.last_seen = None
            fs.append(f)
        pdb.add_findings(fs)
        monkeypatch.setattr(Q, "PLAIN_MAX", 0)
        monkeypatch.setattr(Q, "HIST_BUCKETS", 6)
        for seek in (0, 10**9):
            monkeypatch.setattr(Q, "SEEK_OFFSET", seek)
            for sort in ("score", "newest", "oldest"):
                flt = Q.FindingFilter(sort=sort)
                for offset in (0, 17, 60, 120, 140, 149):
                    total, page = Q.query_findings(pdb, flt, limit=20, offset=offset)
                    assert total == 150
                    assert [f.finding_id for f in page] == _plain(pdb, flt, 20, offset), (seek, sort, offset)
    finally:
        pdb.close()
