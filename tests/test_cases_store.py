"""Sites, cases, users and the audit log on the embedded store (PostgreSQL runs the same checks in
test_cases_postgres.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from minewatch.errors import InputError
from minewatch.model import Evidence, Finding
from minewatch.store import MIGRATIONS, Store
from minewatch.store import cases as C
from minewatch.store.backend import DuckDb, connect

T0 = datetime(2024, 6, 10, 6, 0, tzinfo=UTC)


def mk(src: str, dst: str = "203.0.113.7", *, meter: str | None = None, score: float = 90.0, n: int = 0) -> Finding:
    if meter:
        return Finding(kind="mining", detector="power.load", score=score, subscores={"step": score}, evidence=[],
                       meter_id=meter, onset=T0 + timedelta(days=n), kw_mining=12.5, source="m.csv")
    return Finding(kind="mining", detector="net.stratum", score=score, subscores={"protocol": score},
                   evidence=[Evidence("net.stratum.login", "login seen", "看到登录")], src_ip=src, src_port=40000 + n,
                   dst_ip=dst, dst_port=3333, transport="tcp", first_seen=T0 + timedelta(minutes=n), coin="XMR")


@pytest.fixture
def db(tmp_path):
    d = connect(tmp_path / "s.duckdb")
    yield d
    d.close()


def test_case_walks_the_state_machine_and_refuses_shortcuts(db):
    db.add_findings([mk("10.1.2.3")])
    fid = db.one("SELECT finding_id FROM findings")[0]
    c = C.open_case(db, "Rigs in building 3", actor="ana", finding_ids=[fid])
    assert c.state == "suspected" and c.findings == 1
    with pytest.raises(C.TransitionError):
        C.transition(db, c.case_id, "power_cut", actor="ana")  # nobody confirmed it
    with pytest.raises(C.TransitionError):
        C.transition(db, c.case_id, "closed", actor="ana")
    with pytest.raises(C.TransitionError):
        C.transition(db, c.case_id, "no-such-state", actor="ana")
    for s in ("investigating", "confirmed", "network_cut", "power_cut", "closed"):
        c = C.transition(db, c.case_id, s, actor="ana")
        assert c.state == s
    with pytest.raises(C.TransitionError):  # final
        C.transition(db, c.case_id, "investigating", actor="ana")
    _, log = C.audit_log(db, object_type="case", object_id=c.case_id)
    states = [e.after["state"] for e in reversed(log) if e.action == "case.state"]
    assert states == ["investigating", "confirmed", "network_cut", "power_cut", "closed"]
    assert log[0].before == {"state": "power_cut"} and log[0].actor == "ana"


def test_dismissal_needs_a_reason(db):
    c = C.open_case(db, "Maybe a node", actor="ana")
    with pytest.raises(C.TransitionError):
        C.transition(db, c.case_id, "dismissed", actor="ana", reason="  ")
    c = C.transition(db, c.case_id, "dismissed", actor="ana", reason="our own Bitcoin node, approved by IT")
    assert c.state == "dismissed" and c.reason.startswith("our own")


def test_site_attaches_old_and_new_findings_and_feeds_open_cases(db):
    db.add_findings([mk("10.1.2.3", n=1), mk("10.9.9.9", n=2), mk("", meter="M-77")])
    site = C.create_site(db, "Factory A", ip_ranges=["10.1.0.0/16"], meter_ids=["M-77"], address="1 Road", actor="ana")
    assert site.findings == 2  # one by address, one by meter; 10.9.9.9 is elsewhere
    case = C.open_case(db, "Factory A mining", site_id=site.site_id, actor="ana")
    assert case.findings == 2
    C.attach_new(db)  # sets the watermark
    db.add_findings([mk("10.1.200.4", n=3), mk("192.0.2.1", n=4)])
    assert C.attach_new(db) == 1
    assert C.get_case(db, case.case_id).findings == 3
    assert C.attach_new(db) == 0
    # a closed case gets no more findings
    C.transition(db, case.case_id, "dismissed", actor="ana", reason="lab test rigs")
    db.add_findings([mk("10.1.7.7", n=5)])
    assert C.attach_new(db) == 1
    assert C.get_case(db, case.case_id).findings == 3
    assert C.get_site(db, site.site_id).findings == 4


def test_site_input_is_checked(db):
    with pytest.raises(InputError, match=r"10\.1\.2\.300"):
        C.create_site(db, "x", ip_ranges=["10.1.2.300/24"], actor="ana")
    with pytest.raises(InputError):
        C.create_site(db, "x", actor="ana")
    with pytest.raises(InputError):
        C.create_site(db, " ", ip_ranges=["10.0.0.0/8"], actor="ana")


def test_passwords_are_salted_kdf_hashes(db):
    u = C.create_user(db, "li.wei", "correct horse battery", "analyst", actor="admin")
    h1 = db.one("SELECT pw_hash FROM users WHERE user_id = ?", [u.user_id])[0]
    assert h1.startswith("scrypt$") and "correct" not in h1
    C.create_user(db, "zhang", "correct horse battery", "viewer", actor="admin")
    h2 = db.one("SELECT pw_hash FROM users WHERE username = 'zhang'")[0]
    assert h1 != h2  # per-user salt
    assert C.authenticate(db, "li.wei", "correct horse battery").role == "analyst"
    assert C.authenticate(db, "li.wei", "wrong password!!") is None
    assert C.authenticate(db, "nobody", "correct horse battery") is None
    with pytest.raises(InputError):
        C.create_user(db, "short", "2short", "viewer", actor="admin")
    with pytest.raises(InputError):
        C.create_user(db, "bad name'; --", "long enough password", "viewer", actor="admin")
    with pytest.raises(InputError):
        C.create_user(db, "x", "long enough password", "root", actor="admin")
    C.set_role(db, u.user_id, "viewer", actor="admin", disabled=True)
    assert C.authenticate(db, "li.wei", "correct horse battery") is None


def test_roles_are_ordered():
    mk_user = lambda role: C.User(1, "u", role, False, T0)  # noqa: E731
    assert mk_user("admin").can("analyst") and mk_user("analyst").can("viewer")
    assert not mk_user("viewer").can("analyst") and not mk_user("analyst").can("admin")
    assert not C.User(1, "u", "admin", True, T0).can("viewer")


def test_api_tokens_are_stored_hashed(db):
    u = C.create_user(db, "soc", "a long service password", "viewer", actor="admin")
    tok = C.create_api_token(db, u.user_id, actor="admin")
    assert C.user_for_token(db, tok).username == "soc"
    stored = db.one("SELECT token_sha256 FROM users WHERE user_id = ?", [u.user_id])[0]
    assert tok not in stored
    assert C.user_for_token(db, tok + "x") is None
    tok2 = C.create_api_token(db, u.user_id, actor="admin")
    assert C.user_for_token(db, tok) is None and C.user_for_token(db, tok2) is not None


def test_audit_chain_detects_edits_behind_the_api(db):
    c = C.open_case(db, "t", actor="ana")
    C.add_note(db, c.case_id, "visited the site, 40 machines", actor="insp")
    C.transition(db, c.case_id, "investigating", actor="ana")
    assert C.verify_audit(db) is None
    total, log = C.audit_log(db)
    assert total == 3 and [e.actor for e in log] == ["ana", "insp", "ana"]
    db.execute("UPDATE audit_log SET actor = 'mallory' WHERE audit_id = ?", [log[1].audit_id])
    assert C.verify_audit(db) == log[1].audit_id


def test_attachments_are_content_addressed_and_limited(db, tmp_path):
    c = C.open_case(db, "t", actor="ana")
    a = C.add_attachment(db, c.case_id, "../../etc/passwd", b"photo bytes", actor="ana", data_dir=tmp_path)
    assert a.filename == "passwd"
    p = C.blob_path(tmp_path, a.content_sha256)
    assert p.read_bytes() == b"photo bytes" and tmp_path in p.parents
    with pytest.raises(InputError, match="limit"):
        C.add_attachment(db, c.case_id, "big.bin", b"x" * 101, actor="ana", data_dir=tmp_path, max_bytes=100)
    with pytest.raises(InputError):
        C.blob_path(tmp_path, "../" * 10 + "etc/passwd")
    assert [x.attachment_id for x in C.attachments(db, c.case_id)] == [a.attachment_id]


def test_old_store_upgrades_in_place(tmp_path):
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_version (version INTEGER, applied_at TIMESTAMPTZ)")
    for number, sql in enumerate(MIGRATIONS[:2], start=1):
        con.execute(sql)
        con.execute("INSERT INTO schema_version VALUES (?, ?)", [number, T0])
    con.close()
    with Store(path) as old:
        assert old.schema_version == len(MIGRATIONS)  # migrated on open
    # build the old store again, this time with data in it, then upgrade
    path2 = tmp_path / "old2.duckdb"
    con = duckdb.connect(str(path2))
    con.execute("CREATE TABLE schema_version (version INTEGER, applied_at TIMESTAMPTZ)")
    for number, sql in enumerate(MIGRATIONS[:2], start=1):
        con.execute(sql)
        con.execute("INSERT INTO schema_version VALUES (?, ?)", [number, T0])
    con.close()
    import minewatch.store as S

    saved = list(S.MIGRATIONS)
    try:
        S.MIGRATIONS[:] = saved[:2]
        with Store(path2) as s:
            s.add_findings([mk("10.1.2.3"), mk("10.1.2.4", n=1)])
            assert s.schema_version == 2
    finally:
        S.MIGRATIONS[:] = saved
    db = DuckDb(Store(path2))
    try:
        assert db.store.schema_version == len(saved)
        assert db.store.count() == 2
        site = C.create_site(db, "A", ip_ranges=["10.1.2.0/24"], actor="ana")
        assert site.findings == 2
    finally:
        db.close()


def test_every_audited_action_has_a_name_in_both_languages():
    """The audit page and case history showed codes such as case.open; each code written anywhere must
    have a name people read."""
    import re
    from pathlib import Path

    import minewatch

    src = Path(minewatch.__file__).parent
    codes = set()
    for p in src.rglob("*.py"):
        codes |= set(re.findall(r'audit\(\s*\w+,\s*[^,]+,\s*"([a-z_.]+)"', p.read_text()))
    assert len(codes) >= 15
    missing = sorted(c for c in codes if c not in C.ACTION_NAMES)
    assert not missing, missing
    assert all(re.search(r"[\u4e00-\u9fff]", C.action_name(c, "zh")) for c in codes)
