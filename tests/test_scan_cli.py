"""`minewatch scan` as an administrator runs it: formats, filters, exit codes, bad input, language."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from minewatch.cli import app
from minewatch.model import STABLE_KEYS
from minewatch.synth.scenario import read_labels_csv, write_demo_capture


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    path = write_demo_capture(tmp_path_factory.mktemp("demo") / "demo.pcap")
    labels = read_labels_csv(path.with_suffix(".labels.csv"))
    return path, labels


def run(*args):
    return CliRunner().invoke(app, [*args])


def jsonl(out):
    return [json.loads(x) for x in out.splitlines() if x.startswith("{")]


def test_jsonl_has_stable_keys_and_every_demo_miner(demo, tmp_home):
    path, labels = demo
    r = run("scan", str(path), "--format", "jsonl", "--no-store", "-q")
    assert r.exit_code == 0, r.output
    rows = jsonl(r.stdout)
    assert rows and all(list(x)[: len(STABLE_KEYS)] == list(STABLE_KEYS) for x in rows)
    miners = {x["src_ip"] for x in rows if x["kind"] == "mining"}
    truth = {lab["src_ip"] for lab in labels if lab["label"] == "mining" and lab["proto"].lower() == "tcp"}
    assert truth <= miners
    nodes = {x["src_ip"] for x in rows if x["kind"] == "node"}
    assert not nodes & miners
    assert "Summary" in r.stderr and "packets" in r.stderr and "Time per stage" in r.stderr


def test_csv_and_host_rollup(demo, tmp_home):
    path, _ = demo
    r = run("scan", str(path), "--format", "csv", "--no-store", "-q")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert list(rows[0])[: len(STABLE_KEYS)] == list(STABLE_KEYS)
    r = run("scan", str(path), "--format", "jsonl", "--group", "host", "--no-store", "-q")
    hosts = jsonl(r.stdout)
    assert len({(h["host"], h["kind"]) for h in hosts}) == len(hosts)
    assert all(h["sessions"] >= 1 for h in hosts)


def test_fail_on_detect_exit_code(demo, tmp_home):
    path, _ = demo
    assert run("scan", str(path), "--no-store", "-q", "--fail-on-detect", "--format", "jsonl").exit_code == 3
    assert run("scan", str(path), "--no-store", "-q", "--format", "jsonl").exit_code == 0


def test_time_window_filters(demo, tmp_home):
    path, labels = demo
    start = min(float(lab["start_ts"]) for lab in labels)
    r = run("scan", str(path), "--no-store", "-q", "--format", "jsonl", "--until", "2000-01-01T00:00:00")
    assert jsonl(r.stdout) == []
    from datetime import UTC, datetime

    late = datetime.fromtimestamp(start + 3600 * 24, tz=UTC).isoformat()
    r = run("scan", str(path), "--no-store", "-q", "--format", "jsonl", "--since", late)
    assert jsonl(r.stdout) == []


def test_truncated_capture_keeps_findings_and_names_the_offset(demo, tmp_path, tmp_home):
    path, _ = demo
    data = path.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[: len(data) - 37])  # mid-record
    r = run("scan", str(cut), "--no-store", "-q", "--format", "jsonl")
    assert r.exit_code == 0, r.output
    assert "byte" in r.stderr and str(cut) in r.stderr
    assert any(x["kind"] == "mining" for x in jsonl(r.stdout))


def test_bad_files_are_reported_and_the_rest_scanned(demo, tmp_path, tmp_home):
    path, _ = demo
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"this is not a capture at all" * 10)
    r = run("scan", str(empty), str(junk), str(path), "--no-store", "-q", "--format", "jsonl")
    assert r.exit_code == 4, r.output  # an unreadable input is not "nothing found" (README: exit status)
    assert f"{empty}: empty file, nothing to read" in r.stderr and str(junk) in r.stderr
    assert "3 file(s) (1 could not be read)" in r.stderr
    assert any(x["kind"] == "mining" for x in jsonl(r.stdout))
    # an empty file alone is not an error: a log rotated before anything was written to it
    assert run("scan", str(empty), "--no-store", "-q").exit_code == 0
    # mining found with --fail-on-detect (3) wins over an unreadable input (4)
    assert run("scan", str(junk), str(path), "--no-store", "-q", "--fail-on-detect").exit_code == 3


def test_a_directory_with_nothing_to_scan_is_an_input_error(demo, tmp_path, tmp_home):
    path, _ = demo
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "notes.txt").write_text("not flows")
    r = run("scan", str(stray), str(path), "--no-store", "-q", "--format", "jsonl")
    assert r.exit_code == 4, r.output  # the capture given beside it is still scanned; the dir was unreadable
    assert f"{stray}: a directory with no capture or log file in it" in r.stderr
    assert any(x["kind"] == "mining" for x in jsonl(r.stdout))


def test_store_then_findings_command_and_allow_list(demo, tmp_path, tmp_home):
    path, _ = demo
    db = tmp_path / "s.duckdb"
    r = run("scan", str(path), "--db", str(db), "-q", "--format", "jsonl")
    stored = jsonl(r.stdout)
    r = run("findings", "--db", str(db), "--format", "jsonl", "--kind", "mining")
    listed = jsonl(r.stdout)
    assert {x["src_ip"] for x in listed} == {x["src_ip"] for x in stored if x["kind"] == "mining"}
    victim = next(x for x in listed if x.get("pool_host"))
    r = run("intel", "allow", "add", "--domain", victim["pool_host"], "--reason", "test", "--db", str(db))
    assert r.exit_code == 0, r.output
    r = run("findings", "--db", str(db), "--format", "jsonl", "--kind", "mining")
    assert victim["src_ip"] not in {x["src_ip"] for x in jsonl(r.stdout) if x.get("pool_host") == victim["pool_host"]}
    assert "allow-list" in r.stderr


def test_chinese_table(demo, tmp_home):
    path, _ = demo
    r = run("--lang", "zh", "scan", str(path), "--no-store", "-q")
    assert r.exit_code == 0
    assert "矿池" in r.stdout and "汇总" in r.stderr


def test_findings_on_a_store_that_does_not_exist_fails_and_creates_nothing(tmp_path, tmp_home):
    missing = tmp_path / "no" / "such.duckdb"
    r = run("findings", "--db", str(missing))
    assert r.exit_code == 2 and str(missing) in r.stderr
    assert not missing.parent.exists()


def test_every_finding_carries_evidence_in_both_languages(demo, tmp_home):
    """README: every finding has evidence a colleague can check, also the encrypted Stratum V2 session
    (judged from its Noise handshake sizes) and node traffic (protocol names translated, not left in English)."""
    path, _ = demo
    rows = jsonl(run("scan", str(path), "--no-store", "-q", "--format", "jsonl").stdout)
    assert rows and all(x["evidence"] for x in rows)
    sv2 = [x for x in rows if x["variant"] == "stratum-v2"]
    assert sv2 and {"net.sv2.noise_act1", "net.sv2.noise_act2"} <= {e["code"] for e in sv2[0]["evidence"]}
    # dated by the turns they describe, within the session (not 1970)
    assert all(sv2[0]["first_seen"][:10] == e["ts"][:10] for e in sv2[0]["evidence"]), sv2[0]["evidence"]
    node_zh = [e["text_zh"] for x in rows if x["kind"] == "node" for e in x["evidence"] if e["code"].startswith("net.node.")]
    assert node_zh and not any("message" in t or "command" in t for t in node_zh)


def test_a_stored_capture_is_shown_with_the_window_and_counted(demo, tmp_path, tmp_home):
    path, _ = demo
    db = str(tmp_path / "w.duckdb")
    assert run("scan", str(path), "--db", db, "-q").exit_code == 0
    later = run("scan", str(path), "--db", db, "-q", "--format", "jsonl", "--since", "2030-01-01T00:00",
                "--fail-on-detect")
    assert later.exit_code == 0 and not jsonl(later.stdout)  # the stored sessions all lie before the window
    again = run("scan", str(path), "--db", db, "-q", "--format", "jsonl")
    n_mining = sum(1 for x in jsonl(again.stdout) if x["kind"] == "mining")
    assert n_mining and f"{n_mining:,} mining" in again.stderr and "1 file(s)" in again.stderr


def test_version_alone_and_a_bad_kind(tmp_home):
    r = run("--version")
    assert r.exit_code == 0 and r.stdout.startswith("minewatch ")
    assert run("findings", "--kind", "bogus").exit_code == 2


def test_a_malformed_block_feed_is_a_clean_error(demo, tmp_path, tmp_home):
    path, _ = demo
    bad = tmp_path / "bad.csv"
    bad.write_text("foo,bar\n1,2\n")
    r = run("scan", str(path), "--no-store", "-q", "--blocks", str(bad))
    assert r.exit_code == 2 and "bad.csv" in r.stderr and "Traceback" not in r.stderr
