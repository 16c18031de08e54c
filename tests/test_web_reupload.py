"""Uploading a capture the store already has: the import ledger is consulted by content (as the CLI
does), stored impact assessments survive, and a capture scanned by the CLI and then uploaded under the
same name gives the same finding ids, not a second row per session."""

from __future__ import annotations

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


def test_findings_are_named_after_the_uploaded_file_with_the_ids_the_cli_makes():
    """Renaming keeps the ids a scan of a file called NAME makes: ids are made at creation, so a
    finding two detectors merged keeps its first detector's id; references follow."""
    from minewatch.model import Evidence, Finding
    from minewatch.net.findings import merge_findings
    from minewatch.web.jobs import _name_sources

    def scan(source: str) -> list[Finding]:
        a = Finding(kind="mining", detector="net.intel", score=60.0, subscores={"pool_domain": 40.0}, evidence=[],
                    src_ip="10.0.0.5", src_port=50000, dst_ip="203.0.113.9", dst_port=3333, transport="tcp",
                    source=source)  # fmt: skip
        b = Finding(kind="mining", detector="net.behavior", score=50.0, subscores={"timing": 50.0}, evidence=[],
                    src_ip="10.0.0.5", src_port=50000, dst_ip="203.0.113.9", dst_port=3333, transport="tcp",
                    source=source)  # fmt: skip
        merged = merge_findings(a, b)
        ref = Finding(kind="mining", detector="net.endpoint", score=55.0, subscores={"pool_endpoint": 55.0},
                      evidence=[Evidence("x", "t", "t", data={"confirmed_finding": merged.finding_id})],
                      src_ip="10.0.0.6", src_port=50001, dst_ip="203.0.113.9", dst_port=3333, transport="tcp",
                      source=source)  # fmt: skip
        return [merged, ref]

    cli = scan("demo.pcap")
    web = scan("/srv/minewatch/uploads/38fc934c")
    _name_sources(web, lambda _x: "demo.pcap")
    assert [f.finding_id for f in web] == [f.finding_id for f in cli]
    assert [f.source for f in web] == ["demo.pcap", "demo.pcap"]
    assert web[1].evidence[0].data["confirmed_finding"] == cli[0].finding_id


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
