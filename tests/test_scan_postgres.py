"""`minewatch scan` and `minewatch findings` against a team's PostgreSQL store, as against a DuckDB file:
findings, the import ledger (a second scan of the same file is recognised), imported pool lists and
the attachment of new findings to existing sites all live on the server."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from minewatch.cli import app
from minewatch.store import cases as C
from minewatch.store.backend import connect
from minewatch.synth.scenario import read_labels_csv, write_demo_capture
from test_cases_postgres import pg_url  # noqa: F401 - the fixture that starts a PostgreSQL server

pytestmark = pytest.mark.slow


def run(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture()
def fresh_pg(pg_url):  # noqa: F811 - the imported fixture
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute("DROP SCHEMA public CASCADE")
        con.execute("CREATE SCHEMA public")
    return pg_url


def test_scan_into_postgres_with_ledger_and_sites(fresh_pg, tmp_path, tmp_home):
    cap = write_demo_capture(tmp_path / "demo.pcap")
    labels = read_labels_csv(cap.with_suffix(".labels.csv"))
    miners = sorted({lab["src_ip"] for lab in labels if lab["label"] == "mining" and lab["proto"].lower() == "tcp"})
    db = connect(fresh_pg)
    try:  # a site made before the scan: the scan's findings must join it
        site = C.create_site(db, "lab A", ip_ranges=[miners[0] + "/32"], actor="t")
    finally:
        db.close()

    r = run("scan", str(cap), "--db", fresh_pg, "--format", "jsonl", "-q")
    assert r.exit_code == 0, r.output
    first = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert {x["src_ip"] for x in first if x["kind"] == "mining"} >= set(miners)

    db = connect(fresh_pg)
    try:
        stored = {row[0] for row in db.execute("SELECT finding_id FROM findings")}
        imports = db.execute("SELECT kind, size_bytes FROM imports")
        (s,) = [x for x in C.list_sites(db) if x.site_id == site.site_id]
    finally:
        db.close()
    assert stored == {x["finding_id"] for x in first}
    assert imports == [("capture", cap.stat().st_size)]
    assert s.findings == sum(1 for x in first if x["src_ip"] == miners[0])  # attached on the server

    again = run("scan", str(cap), "--db", fresh_pg, "--format", "jsonl", "-q")
    assert again.exit_code == 0, again.output
    assert "already imported" in again.stderr
    assert sorted(json.loads(x)["finding_id"] for x in again.stdout.splitlines() if x.startswith("{")) == sorted(stored)

    listed = run("findings", "--db", fresh_pg, "--format", "jsonl", "--kind", "mining")
    assert listed.exit_code == 0, listed.output
    rows = [json.loads(x) for x in listed.stdout.splitlines() if x.startswith("{")]
    assert {x["finding_id"] for x in rows} == {x["finding_id"] for x in first if x["kind"] == "mining"}


def test_allow_rule_on_postgres_hides_a_host(fresh_pg, tmp_path, tmp_home):
    cap = write_demo_capture(tmp_path / "demo.pcap")
    assert run("scan", str(cap), "--db", fresh_pg, "--format", "jsonl", "-q").exit_code == 0
    r = run("findings", "--db", fresh_pg, "--format", "jsonl", "--kind", "node")
    nodes = {json.loads(x)["src_ip"] for x in r.stdout.splitlines() if x.startswith("{")}
    assert nodes
    host = sorted(nodes)[0]
    r = run("intel", "allow", "add", "--cidr", host, "--reason", "our own node", "--db", fresh_pg)
    assert r.exit_code == 0, r.output
    r = run("findings", "--db", fresh_pg, "--format", "jsonl", "--kind", "node")
    after = {json.loads(x)["src_ip"] for x in r.stdout.splitlines() if x.startswith("{")}
    assert host not in after and after == nodes - {host}
    assert "hidden by the allow-list" in r.stderr


def test_power_scan_and_export_on_postgres(fresh_pg, tmp_path, tmp_home):
    """Meter suspects land on the server, join the site that lists their meter, and the exports read them."""
    from test_power_cli import _write

    data, meta = _write(tmp_path)
    db = connect(fresh_pg)
    try:
        site = C.create_site(db, "farm shed", meter_ids=["RIG1"], actor="t")
    finally:
        db.close()
    r = run("power", "scan", str(data), "--meta", str(meta), "--format", "jsonl", "--db", fresh_pg)
    assert r.exit_code == 0, r.output
    recs = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    rig = [x for x in recs if x["meter_id"] == "RIG1" and x["score"] >= 50]
    assert rig
    db = connect(fresh_pg)
    try:
        (s,) = [x for x in C.list_sites(db) if x.site_id == site.site_id]
        stored = db.execute("SELECT meter_id FROM findings")
    finally:
        db.close()
    assert ("RIG1",) in stored and s.findings == 1
    out = run("export", "csv", "--db", fresh_pg)
    assert out.exit_code == 0, out.output
    assert "RIG1" in out.stdout


def test_live_watch_sink_writes_to_postgres_and_attaches_to_sites(fresh_pg, tmp_path, tmp_home):
    """`minewatch watch --db postgresql://...`: live findings reach the team's server and their site."""
    import io

    from minewatch.net.watch import FindingSink, LiveScanner
    from minewatch.scan_cli import Format, _load_intel
    from test_watch_loop import T0, Feed, _stratum

    db = connect(fresh_pg)
    try:
        site = C.create_site(db, "rack 7", ip_ranges=["10.1.0.0/24"], actor="t")
    finally:
        db.close()
    out = io.StringIO()
    sink = FindingSink(fresh_pg, Format.jsonl, out)
    sc = LiveScanner(_load_intel(None, []), sink, idle_timeout_s=30, tick_every_s=0.0)
    pk, sess = _stratum(("10.1.0.5", 40011), ("10.2.0.9", 3333), T0, seed=11, duration=60)
    sc.process(Feed().batch(pk), wall=0.0)
    sc.finish()
    assert sink.store_errors == 0 and sink.stored_new >= 1
    db = connect(fresh_pg)
    try:
        rows = db.execute("SELECT worker, src_ip FROM findings")
        (s,) = [x for x in C.list_sites(db) if x.site_id == site.site_id]
    finally:
        db.close()
    assert rows == [(sess.worker, "10.1.0.5")] and s.findings == 1


def test_assess_finding_on_a_postgres_store(fresh_pg, tmp_path, tmp_home):
    """`assess finding` opened a DuckDB file whatever --db said: on a team's server it could not assess."""
    from minewatch.model import Finding

    db = connect(fresh_pg)
    try:
        db.add_findings([Finding(kind="mining", detector="power.load", score=90.0, subscores={"step": 90.0},
                                 evidence=[], meter_id="M-1", kw_mining=100.0, source="m.csv")])
        fid = db.execute("SELECT finding_id FROM findings")[0][0]
    finally:
        db.close()
    r = run("assess", "finding", fid, "--db", fresh_pg, "--json")
    assert r.exit_code == 0, r.output
    kwh = json.loads(r.stdout[: r.stdout.rindex("}") + 1])["kwh_per_year"]
    db = connect(fresh_pg)
    try:
        stored = db.execute("SELECT impact FROM findings WHERE finding_id = ?", [fid])[0][0]
    finally:
        db.close()
    stored = json.loads(stored) if isinstance(stored, str) else stored
    assert stored["kwh_per_year"] == pytest.approx(kwh) and kwh > 100 * 8000
    missing = run("assess", "finding", fid, "--db", str(tmp_path / "nope.duckdb"))
    assert missing.exit_code == 2 and not (tmp_path / "nope.duckdb").exists()
