"""The web upload scan uses the pool lists imported into the store, on DuckDB and on PostgreSQL.

The pool name below is in no built-in list, so only the imported list can make its session mining:
the same upload before the import finds nothing, after it finds the session."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from minewatch.net.intel import parse_list_lines
from minewatch.store import cases as C
from minewatch.store.backend import connect, store_like
from minewatch.web.app import Settings, create_app
from minewatch.web.jobs import load_intel_db
from test_cases_postgres import pg_url  # noqa: F401 - the fixture that starts a PostgreSQL server
from test_web_uploads import _CONN_FIELDS, _CONN_TYPES, _SSL_FIELDS, _SSL_TYPES, T0, zeek_tsv

PRIVATE_POOL = "stratum.blockyard-pool.test"
LIST_LINES = ["# our feed", PRIVATE_POOL, "bad entry with spaces", "203.0.113.77:8443"]


def logs(tmp: Path) -> list[tuple[str, tuple[str, bytes, str]]]:
    conn = zeek_tsv(tmp / "conn.log", "conn", _CONN_FIELDS, _CONN_TYPES, [
        [T0, "Cp1", "172.20.1.5", 52000, "203.0.113.77", 8443, "tcp", "ssl", 5000.0, 600000, 1500000, "SF",
         "ShADadFf", 6000, 6500]])  # fmt: skip
    ssl = zeek_tsv(tmp / "ssl.log", "ssl", _SSL_FIELDS, _SSL_TYPES, [
        [T0 + 0.1, "Cp1", "172.20.1.5", 52000, "203.0.113.77", 8443, "TLSv13", PRIVATE_POOL, "T"]])  # fmt: skip
    return [("file", ("conn.log", conn.read_bytes(), "text/plain")), ("file", ("ssl.log", ssl.read_bytes(), "text/plain"))]


def import_list_duckdb(db_path: Path) -> None:
    from minewatch.store.intel_tables import save_list

    db = connect(db_path)
    try:
        save_list(db.store, parse_list_lines(LIST_LINES, "auto", name="blockyard"))
    finally:
        db.close()


def import_list_pg(db) -> None:
    """What `save_list` writes (its bulk insert is DuckDB-only: `con.register`), row by row."""
    res = parse_list_lines(LIST_LINES, "auto", name="blockyard")
    lid = int(db.one("SELECT nextval('intel_list_ids')")[0])
    db.execute("INSERT INTO intel_lists VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
               [lid, res.name, None, res.fmt, None, datetime.now(UTC), res.accepted, res.rejected,
                '{"domain": 1}', "[]"])  # fmt: skip
    for e in res.entries:
        db.execute("INSERT INTO intel_entries VALUES (?, ?, ?, ?, ?, ?)", [lid, e.kind, e.value, e.port, e.line, e.reference])


def run_upload(app, token: str, tmp: Path) -> object:
    c = TestClient(app, base_url="https://testserver")
    c.headers["Authorization"] = f"Bearer {token}"
    r = c.post("/api/v1/uploads", files=logs(tmp))
    assert r.status_code == 202, r.text
    job = app.state.jobs.wait(r.json()["job_id"], timeout=180)
    assert job.state == "done", job.error
    return job


def test_imported_list_is_used_on_duckdb(tmp_path):
    db_path = tmp_path / "w.duckdb"
    db = connect(db_path)
    u = C.create_user(db, "ana", "long enough password", "analyst", actor="t")
    tok = C.create_api_token(db, u.user_id, actor="t")
    db.close()
    app = create_app(Settings(db=db_path, data_dir=tmp_path / "d", secret_key="s" * 32))
    assert run_upload(app, tok, tmp_path).findings == 0
    import_list_duckdb(db_path)
    job = run_upload(app, tok, tmp_path)
    assert job.findings == 1


def test_backend_reader_matches_the_duckdb_reader(tmp_path):
    """`load_intel_db` (through the backend) and `intel_tables.load_intel` (the DuckDB store) agree."""
    from minewatch.store.intel_tables import load_intel

    db_path = tmp_path / "w.duckdb"
    import_list_duckdb(db_path)
    db = connect(db_path)
    try:
        a, b = load_intel(store_like(db)), load_intel_db(db)
    finally:
        db.close()
    assert sorted(a.lists) == sorted(b.lists) == ["blockyard"]
    for host in (PRIVATE_POOL, "x." + PRIVATE_POOL, "pool.hashvault.pro", "www.example.com"):
        ma, mb = a.match_host(host), b.match_host(host)
        assert (ma and (ma.source, ma.entry)) == (mb and (mb.source, mb.entry)), host
    assert b.match_host(PRIVATE_POOL) is not None and b.match_host(PRIVATE_POOL).source == "blockyard"
    assert b.match_ip("203.0.113.77", 8443) is not None and b.match_ip("203.0.113.78", 8443) is None


@pytest.mark.slow
def test_imported_list_is_used_on_postgres(pg_url, tmp_path):  # noqa: F811 - the imported fixture
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute("DROP SCHEMA public CASCADE")
        con.execute("CREATE SCHEMA public")
    db = connect(pg_url)
    try:
        u = C.create_user(db, "ana", "long enough password", "analyst", actor="t")
        tok = C.create_api_token(db, u.user_id, actor="t")
    finally:
        db.close()
    app = create_app(Settings(db=pg_url, data_dir=tmp_path / "d", secret_key="s" * 32))
    assert run_upload(app, tok, tmp_path).findings == 0  # built-in pools only: the private pool is unknown
    db = connect(pg_url)
    try:
        import_list_pg(db)
        intel = load_intel_db(db)
        assert intel.match_host(PRIVATE_POOL).source == "blockyard"
    finally:
        db.close()
    job = run_upload(app, tok, tmp_path)
    assert job.findings == 1 and job.new_findings == 1
    c = TestClient(app, base_url="https://testserver")
    c.headers["Authorization"] = f"Bearer {tok}"
    f = c.get("/api/v1/findings", params={"ip": "172.20.1.5"}).json()["items"][0]
    assert f["sni"] == PRIVATE_POOL and f["kind"] == "mining"
    assert any("blockyard" in (e.get("text") or "") or "blockyard" in str(e.get("data")) for e in f["evidence"])
