"""The store under concurrent use: the audit chain, case transitions and notes written by parallel
threads (the web server's request threads), the CLI waiting for a DuckDB file another process
holds, and re-storing findings without losing what an analyst added to them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from minewatch.model import Evidence, Finding
from minewatch.store import Store
from minewatch.store import cases as C
from minewatch.store.backend import StoreBusy, connect, open_store
from parallel import raised, run_together

T0 = datetime(2024, 6, 10, 6, 0, tzinfo=UTC)


def mk(n: int = 0, *, src: str = "10.1.2.3") -> Finding:
    return Finding(kind="mining", detector="net.stratum", score=90.0, subscores={"protocol": 90.0},
                   evidence=[Evidence("net.stratum.login", "login seen", "看到登录")], src_ip=src,
                   src_port=40000 + n, dst_ip="203.0.113.7", dst_port=3333, transport="tcp", first_seen=T0,
                   coin="XMR", source="c.pcap")  # fmt: skip


def _parallel(n: int, work) -> list[BaseException]:
    """Run `work(i)` in `n` threads released at the same moment; returns what they raised."""
    return raised(run_together(n, work, timeout_s=60))


def test_parallel_notes_keep_one_unbroken_audit_chain(tmp_path):
    path = tmp_path / "a.duckdb"
    db = connect(path)
    cid = C.open_case(db, "parallel notes", actor="ana").case_id
    db.close()

    def note(i: int) -> None:
        d = connect(path, wait_s=30)
        try:
            C.add_note(d, cid, f"note {i}", actor="ana")
        finally:
            d.close()

    assert _parallel(16, note) == []
    db = connect(path)
    try:
        total, rows = C.audit_log(db, limit=100)
        assert total == 17
        assert C.verify_audit(db) is None
        assert len({r.prev_hash for r in rows}) == 17  # nobody links to the same predecessor twice
    finally:
        db.close()


def test_parallel_transitions_of_one_case_never_fail_with_a_database_error(tmp_path):
    """Two analysts move a case at the same moment: one wins, the other is refused by the case rules
    (a CaseError, which the web maps to 409), never a raw database conflict."""
    path = tmp_path / "t.duckdb"
    for round_ in range(5):
        db = connect(path)
        cid = C.open_case(db, f"race {round_}", actor="ana").case_id
        db.close()
        outcome: list[str] = []

        def move(i: int, cid: int = cid, outcome: list[str] = outcome) -> None:
            d = connect(path, wait_s=30)
            try:
                if i == 0:
                    C.transition(d, cid, "investigating", actor="a")
                else:
                    C.transition(d, cid, "dismissed", actor="b", reason="test traffic")
                outcome.append("ok")
            except C.CaseError:
                outcome.append("refused")
            finally:
                d.close()

        assert _parallel(2, move) == []
        assert sorted(outcome) in (["ok", "refused"], ["ok", "ok"])
    db = connect(path)
    try:
        assert C.verify_audit(db) is None
    finally:
        db.close()


def test_linking_findings_to_a_final_case_is_refused(tmp_path):
    db = connect(tmp_path / "l.duckdb")
    try:
        db.add_findings([mk(1), mk(2)])
        a, b = (r[0] for r in db.execute("SELECT finding_id FROM findings ORDER BY finding_id"))
        c = C.open_case(db, "false alarm", actor="ana", finding_ids=[a])
        C.transition(db, c.case_id, "dismissed", actor="ana", reason="our own test rig")
        with pytest.raises(C.CaseError, match="dismissed"):
            C.link_findings(db, c.case_id, [b], actor="ana")
        assert C.case_finding_ids(db, c.case_id) == [a]
    finally:
        db.close()


# -- re-storing findings -----------------------------------------------------------------------------------
def test_storing_a_finding_again_keeps_its_impact_assessment(tmp_path):
    with Store(tmp_path / "i.duckdb") as s:
        f = mk(1)
        assert s.add_findings([f], import_sha256="a" * 64) == 1
        first = s.con.execute("SELECT stored_at FROM findings").fetchone()[0]
        s.set_impact(f.finding_id, {"kwh_per_year": 622.77, "assessed_at": "2024-06-11T00:00:00Z"})
        again = mk(1)
        again.score = 95.0
        assert s.add_findings([again], import_sha256="a" * 64) == 0
        got = s.get(f.finding_id)
        assert got is not None and got.impact == {"kwh_per_year": 622.77, "assessed_at": "2024-06-11T00:00:00Z"}
        assert got.score == 95.0  # what the scanner knows is updated
        assert s.con.execute("SELECT stored_at FROM findings").fetchone()[0] == first  # first stored, not re-stored


# -- waiting for a DuckDB file another process holds ---------------------------------------------------------
def _hold(path: Path, seconds: float) -> subprocess.Popen[str]:
    code = (
        "import sys, time, duckdb\n"
        f"con = duckdb.connect({str(path)!r})\n"
        "print('held', flush=True)\n"
        f"time.sleep({seconds})\n"
        "con.close()\n"
    )
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None and p.stdout.readline().strip() == "held"
    return p


def test_open_store_waits_for_a_process_that_holds_the_file(tmp_path):
    path = tmp_path / "held.duckdb"
    Store(path).close()
    holder = _hold(path, 1.0)
    try:
        t0 = time.monotonic()
        store = open_store(path)
        waited = time.monotonic() - t0
        try:
            assert store.add_findings([mk(1)]) == 1
        finally:
            store.close()
        assert waited > 0.3  # it did have to wait for the holder
    finally:
        holder.wait(30)


def test_open_store_gives_up_with_one_line_naming_the_store_and_the_holder(tmp_path, monkeypatch):
    path = tmp_path / "held.duckdb"
    Store(path).close()
    holder = _hold(path, 10.0)
    try:
        monkeypatch.setenv("MINEWATCH_DB_WAIT", "0.5")
        t0 = time.monotonic()
        with pytest.raises(StoreBusy) as e:
            open_store(path)
        assert time.monotonic() - t0 < 5
        msg = str(e.value)
        assert "\n" not in msg and str(path) in msg and f"PID {holder.pid}" in msg
        assert "Traceback" not in msg
        with pytest.raises(StoreBusy):
            open_store(path, wait_s=0.2)
    finally:
        holder.kill()
        holder.wait(30)


def test_cli_readers_that_meet_a_held_store_print_one_line(tmp_path):
    """`export` and `findings` wait like every command, then end with one line on stderr naming the
    file and the holder, not a traceback. (`scan` opens the store the same way, `open_store`.)"""
    path = tmp_path / "held.duckdb"
    Store(path).close()
    holder = _hold(path, 30.0)
    try:
        env = {**os.environ, "MINEWATCH_DB_WAIT": "0.5", "HOME": str(tmp_path), "COLUMNS": "500"}
        for args in (["export", "csv"], ["findings"]):
            out = subprocess.run([sys.executable, "-m", "minewatch.cli", *args, "--db", str(path)],
                                 capture_output=True, text=True, timeout=120, env=env)  # fmt: skip
            assert out.returncode != 0, args
            assert "Traceback" not in out.stderr, out.stderr
            line = " ".join(out.stderr.split())
            assert str(path) in line and f"PID {holder.pid}" in line, out.stderr
    finally:
        holder.kill()
        holder.wait(30)


def test_open_store_for_cli_ends_a_command_with_one_line(tmp_path, capsys):
    """What `scan` and `power scan` use: exit status 2 and one line on stderr, no traceback."""
    from minewatch.store.backend import open_store_for_cli

    path = tmp_path / "held.duckdb"
    Store(path).close()
    holder = _hold(path, 30.0)
    try:
        with pytest.raises(SystemExit) as e:
            open_store_for_cli(path, wait_s=0.3)
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(path) in err and f"PID {holder.pid}" in err
    finally:
        holder.kill()
        holder.wait(30)
    with open_store_for_cli(path) as s:  # free again: opens at once
        assert s.count() == 0
