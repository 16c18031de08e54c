"""Uploading a capture the store already has: the import ledger is consulted by content (as the CLI
does), stored impact assessments survive, and a capture scanned by the CLI and then uploaded under the
same name gives the same finding ids, not a second row per session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from minewatch.store import Store
from minewatch.store.backend import connect
from web_helpers import make_env

scenario = pytest.importorskip("minewatch.synth.scenario")


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    return scenario.write_demo_capture(tmp_path_factory.mktemp("cap") / "demo.pcap")


@pytest.fixture
def env(tmp_path):
    return make_env(tmp_path)


def _upload(env, data: bytes, name: str, **form: str):
    r = env.api("analyst").post("/api/v1/uploads", files={"file": (name, data, "application/octet-stream")}, data=form)
    assert r.status_code == 202, r.text
    job = env.app.state.jobs.wait(r.json()["job_id"], timeout=180)
    assert job.state == "done", job.error
    return job


def _rows(env) -> list[tuple]:
    db = connect(env.db_path)
    try:
        return db.execute("SELECT finding_id, source, impact, stored_at FROM findings ORDER BY finding_id")
    finally:
        db.close()


def test_uploading_the_same_capture_again_keeps_the_impact_assessment(env, capture):
    data = capture.read_bytes()
    first = _upload(env, data, "demo.pcap")
    assert first.findings > 0 and first.new_findings == first.findings
    fid = _rows(env)[0][0]
    with Store(env.db_path) as s:
        s.set_impact(fid, {"kwh_per_year": 622.77})
    before = _rows(env)
    again = _upload(env, data, "copy-of-demo.pcap")
    assert again.new_findings == 0 and again.findings == first.findings
    assert any("already imported" in n for n in again.notes)
    after = _rows(env)
    assert after == before  # same rows: impact, source and stored_at untouched
    assert next(r for r in after if r[0] == fid)[2] is not None
    # asked to scan again (after a pool list import): scanned, and still nothing an analyst added is lost
    forced = _upload(env, data, "demo.pcap", rescan="true")
    assert forced.rescan and forced.new_findings == 0 and not any("already imported" in n for n in forced.notes)
    assert _rows(env) == before


def test_findings_are_named_after_the_uploaded_file_with_the_ids_the_cli_makes(capture, tmp_path, monkeypatch):
    """A copy under the server's upload folder scanned with `source=` its uploaded name gives the ids,
    sources and cross-references a CLI scan of a file called that name gives (names are set where the
    findings are made, not rewritten afterwards)."""
    import shutil

    from minewatch.net.intel import PoolIntel
    from minewatch.net.pipeline import CaptureScanner

    upload = tmp_path / "uploads" / "38fc934c"
    upload.parent.mkdir()
    shutil.copy(capture, upload)
    monkeypatch.chdir(capture.parent)
    intel = PoolIntel.builtin()
    cli = CaptureScanner(intel).scan_file(Path(capture.name))
    web = CaptureScanner(intel).scan_file(upload, source=capture.name)
    assert cli and sorted(f.finding_id for f in web) == sorted(f.finding_id for f in cli)
    assert {f.source for f in web} == {capture.name}
    refs = {json.dumps(e.data, sort_keys=True, default=str) for f in web for e in f.evidence}
    assert refs == {json.dumps(e.data, sort_keys=True, default=str) for f in cli for e in f.evidence}


def test_a_capture_scanned_by_the_cli_then_uploaded_gives_no_second_row(env, capture, tmp_path, monkeypatch):
    monkeypatch.chdir(capture.parent)
    from minewatch.cli import app

    r = CliRunner().invoke(app, ["scan", "demo.pcap", "--db", str(env.db_path), "--format", "jsonl", "-q"])
    assert r.exit_code == 0, r.output
    cli_rows = _rows(env)
    assert cli_rows and {row[1] for row in cli_rows} == {"demo.pcap"}
    job = _upload(env, capture.read_bytes(), "demo.pcap")
    assert job.new_findings == 0 and job.findings == len(cli_rows)
    assert _rows(env) == cli_rows
    # Even when the ledger does not know the content (a store from before the ledger, a cleared one),
    # the upload names its findings as the CLI did, so the sessions map to the same rows.
    db = connect(env.db_path)
    try:
        db.execute("DELETE FROM imports")
    finally:
        db.close()
    job = _upload(env, capture.read_bytes(), "demo.pcap")
    assert job.new_findings == 0
    assert [row[0] for row in _rows(env)] == [row[0] for row in cli_rows]
