"""The findings list's fast paths (seek for deep pages, id lists for site/case filters) must return
exactly what the plain SQL (ORDER BY ... OFFSET, a sub-query on the link table) returns."""

from __future__ import annotations

import pytest

from minewatch.store import cases as C
from minewatch.store.backend import connect
from minewatch.web import queries as Q
from web_helpers import finding


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory):
    # One store for the module (600 findings take seconds to add); tests only add sites, each its own.
    d = connect(tmp_path_factory.mktemp("q") / "q.duckdb")
    # Many ties in score (7 values over 600 rows) so the seek has to use the id tie-break.
    d.add_findings(finding(i, src=f"10.0.{i % 3}.{i % 200}", coin=("XMR", "BTC")[i % 2], score=float(50 + i % 7))
                   for i in range(600))  # fmt: skip
    yield d
    d.close()


def _plain(db, flt: Q.FindingFilter, limit: int, offset: int) -> list[str]:
    where, params = flt.where()  # no db: the sub-query form, the reference
    return [r[0] for r in db.execute(
        f"SELECT finding_id FROM findings{where} ORDER BY {Q.SORTS[flt.sort]} LIMIT ? OFFSET ?",
        [*params, limit, offset])]  # fmt: skip


@pytest.mark.parametrize("offset", [0, 49, 83, 85, 86, 170, 299, 550, 599, 600, 650])
@pytest.mark.parametrize("coin", [None, "XMR"])
def test_seek_pages_match_plain_offset(db, monkeypatch, offset: int, coin: str | None) -> None:
    monkeypatch.setattr(Q, "SEEK_OFFSET", 1)  # take the seek path even on a small store
    monkeypatch.setattr(Q, "PLAIN_MAX", 0)
    flt = Q.FindingFilter(coin=coin)
    total, page = Q.query_findings(db, flt, limit=40, offset=offset)
    want = _plain(db, flt, 40, offset)
    assert total == (600 if coin is None else 300)
    assert [f.finding_id for f in page] == want
    assert len(page) == max(0, min(40, total - offset))


def test_seek_order_is_the_score_order(db, monkeypatch) -> None:
    monkeypatch.setattr(Q, "SEEK_OFFSET", 1)
    monkeypatch.setattr(Q, "PLAIN_MAX", 0)
    seen: list[tuple[float, str]] = []
    for off in range(0, 600, 50):
        seen += [(-f.score, f.finding_id) for f in Q.query_findings(db, Q.FindingFilter(), limit=50, offset=off)[1]]
    assert len(seen) == 600 and len(set(seen)) == 600 and seen == sorted(seen)


@pytest.mark.parametrize("cap", [0, 5, 10_000])
def test_site_filter_by_id_list_or_subquery_agree(db, monkeypatch, cap: int) -> None:
    site = C.create_site(db, "s", ip_ranges=["10.0.1.0/24"], actor="t")
    monkeypatch.setattr(Q, "MAX_LINKED_LIST", cap)  # 0 and 5: too many -> sub-query; 10,000: id list
    flt = Q.FindingFilter(site_id=site.site_id, min_score=53)
    where, _ = flt.where(db)
    assert ("SELECT finding_id FROM site_findings" in where) == (cap < 200)
    total, page = Q.query_findings(db, flt, limit=30, offset=10)
    ref_total = db.one("SELECT count(*) FROM findings WHERE src_ip LIKE '10.0.1.%' AND score >= 53")
    assert total == ref_total[0] > 40
    assert [f.finding_id for f in page] == _plain(db, flt, 30, 10)
    assert all(f.src_ip.startswith("10.0.1.") and f.score >= 53 for f in page)


def test_empty_site_matches_nothing(db) -> None:
    site = C.create_site(db, "empty", ip_ranges=["192.0.2.0/24"], actor="t")
    assert Q.query_findings(db, Q.FindingFilter(site_id=site.site_id)) == (0, [])
