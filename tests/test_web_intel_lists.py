"""The web upload scan uses the pool lists imported into the store, on DuckDB and on PostgreSQL.

The pool name below is in no built-in list, so only the imported list can make its session mining:
the same upload before the import finds nothing, after it finds the session."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from minewatch.store import cases as C
from minewatch.store.backend import connect, store_like
from minewatch.web.app import Settings, create_app
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


def import_list_cli(target: str, tmp: Path) -> str:
    """`minewatch intel import` into the given store (DuckDB file or postgresql:// URL), as a user would."""
    from typer.testing import CliRunner

    from minewatch.net.intel_cli import app as intel_app

    f = tmp / "blockyard.txt"
    f.write_text("\n".join(LIST_LINES) + "\n")
    r = CliRunner().invoke(intel_app, ["import", str(f), "--name", "blockyard", "--db", target])
    assert r.exit_code == 0, r.output
    return r.output


def run_upload(app, token: str, tmp: Path) -> object:
    """Upload the logs; with "rescan", because the same content uploaded again after a list import is
    otherwise recognised by the import ledger and not scanned again (as `minewatch scan` without --rescan)."""
    c = TestClient(app, base_url="https://testserver")
    c.headers["Authorization"] = f"Bearer {token}"
    r = c.post("/api/v1/uploads", files=logs(tmp), data={"rescan": "true"})
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
    import_list_cli(str(db_path), tmp_path)
    job = run_upload(app, tok, tmp_path)
    assert job.findings == 1


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
    import_list_cli(pg_url, tmp_path)
    db = connect(pg_url)
    try:
        from minewatch.store.intel_tables import list_rejects, load_intel, stored_lists

        (lst,) = stored_lists(store_like(db))
        assert (lst.name, lst.accepted, lst.rejected) == ("blockyard", 2, 1)
        assert list_rejects(store_like(db), lst.list_id)[0]["line"] == 3  # the entry with spaces
        pg_intel = load_intel(store_like(db))
    finally:
        db.close()
    duck = tmp_path / "same.duckdb"
    import_list_cli(str(duck), tmp_path)
    ddb = connect(duck)
    try:
        duck_intel = load_intel(store_like(ddb))
    finally:
        ddb.close()
    # the same list read back from either backend matches the same names and addresses
    for host in (PRIVATE_POOL, "x." + PRIVATE_POOL, "pool.hashvault.pro", "www.example.com"):
        a, b = pg_intel.match_host(host), duck_intel.match_host(host)
        assert (a and (a.source, a.entry)) == (b and (b.source, b.entry)), host
    assert pg_intel.match_host(PRIVATE_POOL).source == "blockyard"
    assert pg_intel.match_ip("203.0.113.77", 8443) is not None and pg_intel.match_ip("203.0.113.78", 8443) is None
    job = run_upload(app, tok, tmp_path)
    assert job.findings == 1 and job.new_findings == 1
    c = TestClient(app, base_url="https://testserver")
    c.headers["Authorization"] = f"Bearer {tok}"
    f = c.get("/api/v1/findings", params={"ip": "172.20.1.5"}).json()["items"][0]
    assert f["sni"] == PRIVATE_POOL and f["kind"] == "mining"
    assert any("blockyard" in (e.get("text") or "") or "blockyard" in str(e.get("data")) for e in f["evidence"])
