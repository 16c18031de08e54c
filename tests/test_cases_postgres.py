"""The same case rules on a real PostgreSQL server that the test starts (Debian's postgresql:
initdb + pg_ctl in a temporary directory on 127.0.0.1, as the `postgres` user when run as root)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _bin(name: str) -> str | None:
    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (d / name).exists():
            return str(d / name)
    return shutil.which(name)


@pytest.fixture(scope="module")
def pg_url():
    pytest.importorskip("psycopg")
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL server binaries (Debian postgresql) are not installed")
    as_user: list[str] = []
    if os.geteuid() == 0:
        if not shutil.which("runuser"):
            pytest.skip("running as root without runuser: cannot start PostgreSQL as an unprivileged user")
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("no postgres system user to run the server as")
        as_user = ["runuser", "-u", "postgres", "--"]
    base = Path(tempfile.mkdtemp(prefix="minewatch-pg-"))
    os.chmod(base, 0o777)
    data = base / "data"
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    subprocess.run([*as_user, initdb, "-D", str(data), "-U", "mw", "--auth=trust", "-E", "UTF8", "--no-locale"],
                   check=True, capture_output=True)  # fmt: skip
    opts = f"-h 127.0.0.1 -p {port} -k {base} -c fsync=off -c full_page_writes=off"
    subprocess.run([*as_user, pg_ctl, "-D", str(data), "-o", opts, "-l", str(base / "log"), "-w", "start"],
                   check=True, capture_output=True)  # fmt: skip
    try:
        yield f"postgresql://mw@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pdb(pg_url):
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute("DROP SCHEMA public CASCADE")
        con.execute("CREATE SCHEMA public")
    from minewatch.store.backend import connect

    db = connect(pg_url)
    yield db
    db.close()


def test_same_migrations_and_case_rules_on_postgres(pdb, pg_url):
    from minewatch.store import MIGRATIONS
    from minewatch.store import cases as C
    from minewatch.store.backend import connect
    from minewatch.web.queries import FindingFilter, query_findings
    from web_helpers import finding

    assert pdb.dialect == "postgres" and pdb.schema_version == len(MIGRATIONS)
    assert pdb.add_findings([finding(i, src=f"10.1.2.{i}") for i in range(20)]) == 20
    assert pdb.add_findings([finding(0, src="10.1.2.0")]) == 0  # upsert, not a second row
    site = C.create_site(pdb, "Site P", ip_ranges=["10.1.2.0/29"], actor="ana")
    assert site.findings == 8
    case = C.open_case(pdb, "P", site_id=site.site_id, actor="ana")
    with pytest.raises(C.TransitionError):
        C.transition(pdb, case.case_id, "power_cut", actor="ana")
    C.transition(pdb, case.case_id, "investigating", actor="ana")
    u = C.create_user(pdb, "pg.user", "long enough password", "analyst", actor="admin")
    assert C.authenticate(pdb, "pg.user", "long enough password").user_id == u.user_id
    assert C.verify_audit(pdb) is None
    total, rows = query_findings(pdb, FindingFilter(site_id=site.site_id, coin="xmr"), limit=5)
    assert total == 8 and len(rows) == 5 and rows[0].evidence[0].text_zh
    # a second client (a CLI import) works while the first connection stays open
    other = connect(pg_url)
    try:
        other.add_findings([finding(99, src="10.1.2.5")])
        assert C.attach_new(other) >= 1
    finally:
        other.close()
    assert C.get_case(pdb, case.case_id).findings == 9


def test_web_app_on_postgres(pg_url, pdb, tmp_path):
    from fastapi.testclient import TestClient

    from minewatch.store import cases as C
    from minewatch.web.app import Settings, create_app
    from web_helpers import finding

    pdb.add_findings([finding(i) for i in range(5)])
    u = C.create_user(pdb, "api", "long enough password", "analyst", actor="t")
    tok = C.create_api_token(pdb, u.user_id, actor="t")
    app = create_app(Settings(db=pg_url, data_dir=tmp_path, secret_key="s" * 32))
    c = TestClient(app, base_url="https://testserver")
    c.headers["Authorization"] = f"Bearer {tok}"
    assert c.get("/api/v1/findings").json()["total"] == 5
    fid = c.get("/api/v1/findings").json()["items"][0]["finding_id"]
    r = c.post(f"/api/v1/findings/{fid}/allow", json={"kind": "cidr", "value": "10.1.2.3", "reason": "lab node"})
    assert r.status_code == 201, r.text
    assert c.get("/api/v1/allow").json()["rules"][0]["value"] == "10.1.2.3/32"
    assert c.get("/api/v1/overview").json()["findings_total"] == 5


def test_review_fixes_hold_on_postgres(pdb, pg_url):
    """Re-stored findings keep their impact, final cases take no findings, parallel notes and
    transitions keep one audit chain and end in the case rules (never a database error), and a
    revoked session is known: the same as on DuckDB (tests/test_store_concurrency.py)."""
    import threading
    from datetime import UTC, datetime, timedelta

    from minewatch.store import cases as C
    from minewatch.store.backend import connect
    from web_helpers import finding

    f = finding(1)
    pdb.add_findings([f])
    pdb.execute("UPDATE findings SET impact = ? WHERE finding_id = ?", ['{"kwh_per_year": 622.77}', f.finding_id])
    assert pdb.add_findings([finding(1)]) == 0
    assert pdb.one("SELECT impact FROM findings WHERE finding_id = ?", [f.finding_id])[0] == {"kwh_per_year": 622.77}

    case = C.open_case(pdb, "race", actor="ana")
    results: list[str] = []

    def work(i: int) -> None:
        db = connect(pg_url)
        try:
            if i < 8:
                C.add_note(db, case.case_id, f"note {i}", actor="ana")
            else:
                state, reason = ("investigating", None) if i % 2 else ("dismissed", "lab test")
                C.transition(db, case.case_id, state, actor="ana", reason=reason)
            results.append("ok")
        except C.CaseError:
            results.append("refused")
        except Exception as e:
            results.append(repr(e))
        finally:
            db.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert set(results) <= {"ok", "refused"}, results
    assert C.verify_audit(pdb) is None
    closed = C.open_case(pdb, "false alarm", actor="ana")
    C.transition(pdb, closed.case_id, "dismissed", actor="ana", reason="lab test")
    with pytest.raises(C.TransitionError):
        C.link_findings(pdb, closed.case_id, [f.finding_id], actor="ana")
    C.revoke_session(pdb, "sid-1", 1, datetime.now(UTC) + timedelta(hours=1), actor="ana")
    assert C.session_revoked(pdb, "sid-1") and not C.session_revoked(pdb, "sid-2")
