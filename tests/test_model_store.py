"""The Finding schema and the DuckDB store: round trips, nulls, idempotent imports, migrations."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import duckdb
import pytest

from minewatch.i18n import detect_lang
from minewatch.model import STABLE_KEYS, Evidence, Finding, combine_subscores, iso, parse_iso
from minewatch.store import MIGRATIONS, Store, file_sha256


def make_finding(**kw) -> Finding:
    base = dict(
        kind="mining",
        detector="net.stratum",
        score=85.0,
        subscores={"protocol": 70.0, "both_directions": 15.0},
        evidence=[Evidence("stratum.authorize", "10.0.0.7 sent mining.authorize", "10.0.0.7 发送了 mining.authorize",
                           ts=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), data={"worker": "rig07"})],
        source="x.pcap",
        first_seen=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        last_seen=datetime(2024, 1, 2, 4, 0, 0, tzinfo=UTC),
        src_ip="10.0.0.7", src_port=50000, dst_ip="203.0.113.5", dst_port=3333, transport="tcp",
        worker="rig07",
    )
    base.update(kw)
    return Finding(**base)


def test_combine_subscores_is_capped_sum():
    assert combine_subscores({"a": 30, "b": 25.5}) == 55.5
    assert combine_subscores({"a": 90, "b": 40}) == 100.0
    assert combine_subscores({"a": 10, "allow": -30}) == 0.0


def test_record_has_stable_keys_first_and_nulls_stay_null():
    rec = make_finding().to_record()
    assert list(rec)[: len(STABLE_KEYS)] == list(STABLE_KEYS)
    assert rec["hashrate_hs"] is None and rec["wallet"] is None and rec["coin"] is None
    assert rec["first_seen"] == "2024-01-02T03:04:05Z"
    json.loads(make_finding().to_json())


def test_roundtrip_through_record():
    f = make_finding(hashrate_hs=1.5e12, encrypted=False)
    g = Finding.from_record(json.loads(f.to_json()))
    assert g == f
    assert g.evidence[0].render("zh").startswith("10.0.0.7 发送")
    assert g.evidence[0].render("en").startswith("10.0.0.7 sent")


def test_natural_id_ignores_score_but_not_identity():
    a, b = make_finding(score=50.0), make_finding(score=99.0)
    assert a.finding_id == b.finding_id
    assert make_finding(src_port=50001).finding_id != a.finding_id


def test_iso_helpers_treat_naive_as_utc():
    assert iso(datetime(2020, 1, 1)) == "2020-01-01T00:00:00Z"
    assert parse_iso("2020-01-01T00:00:00Z") == datetime(2020, 1, 1, tzinfo=UTC)
    assert iso(None) is None and parse_iso(None) is None and parse_iso("") is None


def test_store_upsert_is_idempotent_and_reads_back(tmp_path):
    db = tmp_path / "s.duckdb"
    with Store(db) as s:
        assert s.add_findings([make_finding(), make_finding(src_port=1)]) == 2
        assert s.add_findings([make_finding(score=60.0)]) == 0
        rows = s.findings()
        assert len(rows) == 2
        got = s.get(make_finding().finding_id)
        assert got is not None and got.score == 60.0 and got.worker == "rig07" and got.wallet is None
        assert s.findings(min_score=99) == []
        assert len(s.findings(since=datetime(2024, 1, 2, 3, 30, tzinfo=UTC))) == 2
        assert s.findings(since=datetime(2025, 1, 1, tzinfo=UTC)) == []


def test_import_ledger_keys_on_content(tmp_path):
    a = tmp_path / "a.bin"
    a.write_bytes(b"hello")
    b = tmp_path / "renamed.bin"
    b.write_bytes(b"hello")
    assert file_sha256(a) == file_sha256(b)
    with Store(tmp_path / "s.duckdb") as s:
        assert s.already_imported(file_sha256(a)) is None
        s.record_import(file_sha256(a), a, 5, "capture", {"findings": 0})
        assert s.already_imported(file_sha256(b))["path"] == str(a)


def test_migrations_upgrade_an_old_store_in_place(tmp_path):
    db = tmp_path / "old.duckdb"
    with Store(db) as s:
        s.add_findings([make_finding()])
        assert s.schema_version == len(MIGRATIONS)
    con = duckdb.connect(str(db))
    con.execute("DELETE FROM schema_version WHERE version > 1")
    con.close()
    with Store(db) as s:
        assert s.schema_version == len(MIGRATIONS)
        assert s.count() == 1


@pytest.mark.parametrize(
    ("argv", "env", "want"),
    [
        (["minewatch", "--lang", "zh"], {}, "zh"),
        (["minewatch", "--lang=en"], {"LANG": "zh_CN.UTF-8"}, "en"),
        (["minewatch"], {"LANG": "zh_CN.UTF-8"}, "zh"),
        (["minewatch"], {"MINEWATCH_LANG": "zh", "LANG": "en_US.UTF-8"}, "zh"),
        (["minewatch"], {}, "en"),
    ],
)
def test_language_detection(argv, env, want):
    assert detect_lang(argv, env) == want


def test_threads_opening_and_closing_one_store_file_do_not_collide(tmp_path) -> None:
    """The web server opens the store per request while its scan job opens it too: DuckDB's per-file
    instance must not be torn down by one thread while another attaches it ("Unique file handle
    conflict"; without the store's open/close lock this loop fails within a second here)."""
    import threading

    from minewatch.store import Store

    path = tmp_path / "web.duckdb"
    Store(path).close()
    errors: list[str] = []

    def worker() -> None:
        for _ in range(400):
            try:
                s = Store(path)
                s.con.execute("SELECT count(*) FROM findings").fetchall()
                s.close()
            except Exception as e:  # any failure is what the test counts
                errors.append(f"{type(e).__name__}: {e}")

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_opening_an_up_to_date_store_does_not_wait_for_a_running_write(tmp_path) -> None:
    """Every web request opens the store: with no migration due, opening must not queue behind a
    write transaction another thread holds (the version is read without the write lock)."""
    import threading

    from minewatch.store import write_lock

    db = tmp_path / "s.duckdb"
    Store(db).close()
    held, release = threading.Event(), threading.Event()

    def writer() -> None:
        with write_lock(str(db)):
            held.set()
            release.wait(10)

    t = threading.Thread(target=writer)
    t.start()
    try:
        assert held.wait(5)
        opened = threading.Event()

        def reader() -> None:
            Store(db).close()
            opened.set()

        threading.Thread(target=reader, daemon=True).start()
        assert opened.wait(5), "opening the store waited for the write lock"
    finally:
        release.set()
        t.join()
