"""What `scan` says about its inputs: no verdict on unread input, warnings for damage part-way,
directories scanned file by file, meter tables pointed to `power scan` (review items 2 and 3)."""

from __future__ import annotations

import gzip
import json
import shutil

import pytest
from typer.testing import CliRunner

from minewatch.cli import app
from minewatch.synth.scenario import write_demo_capture


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return write_demo_capture(tmp_path_factory.mktemp("demo") / "demo.pcap")


def run(*args: str):
    return CliRunner().invoke(app, [*args])


def rows(out: str) -> list[dict]:
    return [json.loads(x) for x in out.splitlines() if x.startswith("{")]


METER_CSV = "meter_id,timestamp,kwh\nM-0042,2024-03-01 00:00,1.25\nM-0042,2024-03-01 00:15,1.31\n"


def test_a_file_that_could_not_be_read_gets_no_nothing_found_verdict(tmp_path, tmp_home):
    junk = tmp_path / "garbage.pcap"
    junk.write_bytes(b"this is not a capture at all" * 10)
    r = run("scan", "-q", "--no-store", str(junk))
    assert r.exit_code == 4, r.output
    assert "No mining" not in r.stdout and "No input could be read" in r.stdout
    assert "error:" in r.stderr
    zh = run("--lang", "zh", "scan", "-q", "--no-store", str(junk))
    assert "未发现" not in zh.stdout and "没有任何输入能够读取" in zh.stdout


def test_nothing_found_is_said_only_of_the_inputs_that_were_read(tmp_path, tmp_home):
    junk = tmp_path / "garbage.pcap"
    junk.write_bytes(b"this is not a capture at all" * 10)
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    r = run("scan", "-q", "--no-store", str(empty), str(junk))
    assert r.exit_code == 4
    assert "in the 1 input(s) that could be read; 1 could not be read" in r.stdout


def test_a_truncated_capture_is_a_warning_not_an_error(demo, tmp_path, tmp_home):
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(demo.read_bytes()[:-37])  # mid-record
    r = run("scan", str(cut), "--no-store", "-q", "--format", "jsonl")
    assert r.exit_code == 0, r.output  # read up to the damage: not 4 (README: exit status)
    assert "warning:" in r.stderr and "byte" in r.stderr and "error:" not in r.stderr
    assert any(x["kind"] == "mining" for x in rows(r.stdout))


def test_a_directory_is_scanned_file_by_file(demo, tmp_path, tmp_home):
    d = tmp_path / "captures"
    (d / "b-sub").mkdir(parents=True)
    (d / ".cache").mkdir()
    shutil.copy(demo, d / "a.pcap")
    with gzip.open(d / "b-sub" / "again.pcap.gz", "wb") as z:  # sniffed by content, gzip too
        z.write(demo.read_bytes())
    (d / "notes.txt").write_text("not flows")
    (d / "meters.csv").write_text(METER_CSV)
    (d / ".hidden.pcap").write_bytes(demo.read_bytes())
    (d / ".cache" / "x.pcap").write_bytes(demo.read_bytes())
    r = run("scan", str(d), "--no-store", "-q", "--format", "jsonl")
    assert r.exit_code == 0, r.output
    got = rows(r.stdout)
    sources = {x["source"] for x in got}
    assert sources == {str(d / "a.pcap"), str(d / "b-sub" / "again.pcap.gz")}
    assert "2 capture or log input(s) scanned in name order" in r.stderr
    assert "skipped 4: 2 hidden, 2 not a capture or log (meters.csv, notes.txt, .cache/, .hidden.pcap)" in r.stderr
    assert "meter data goes to `minewatch power scan`" in r.stderr
    assert "2 file(s)" in r.stderr


def test_a_directory_with_nothing_to_scan_is_unread(demo, tmp_path, tmp_home):
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "notes.txt").write_text("not flows")
    r = run("scan", str(stray), str(demo), "--no-store", "-q", "--format", "jsonl")
    assert r.exit_code == 4, r.output
    assert f"{stray}: a directory with no capture or log file in it" in r.stderr and "error:" in r.stderr
    assert any(x["kind"] == "mining" for x in rows(r.stdout))


def test_a_meter_table_named_to_scan_gets_the_power_scan_hint(tmp_path, tmp_home):
    m = tmp_path / "readings.csv"
    m.write_text(METER_CSV)
    r = run("scan", "-q", "--no-store", str(m))
    assert r.exit_code == 4
    assert "not a pcap/pcapng capture" in r.stderr and "meter data goes to `minewatch power scan`" in r.stderr
    other = tmp_path / "hosts.csv"
    other.write_text("name,address\nweb,10.0.0.1\n")
    assert "power scan" not in run("scan", "-q", "--no-store", str(other)).stderr


def test_an_unread_file_is_said_what_it_is(tmp_path, tmp_home):
    """A bzip2 log, a Zeek log whose gzip was cut inside its header, and a text file got only "not a
    pcap/pcapng capture (magic ...)"; the reader's error stays and a line says what the file is."""
    import bz2
    import os

    zeek = b"#separator \\x09\n#set_separator\t,\n#path\tconn\n#fields\tts\tuid\n1.0\tC1\n"
    (tmp_path / "conn.log.bz2").write_bytes(bz2.compress(zeek))
    (tmp_path / "cut.log.gz").write_bytes(gzip.compress(zeek)[:30])
    (tmp_path / "notes.txt").write_text("hello\nthis is text\n")
    (tmp_path / "junk.bin").write_bytes(os.urandom(2000))
    err = {}
    for name in ("conn.log.bz2", "cut.log.gz", "notes.txt", "junk.bin"):
        r = run("scan", str(tmp_path / name), "--no-store")
        assert r.exit_code == 4, (name, r.output)
        err[name] = " ".join(r.stderr.split())
    assert "bzip2-compressed" in err["conn.log.bz2"] and "bunzip2 -k" in err["conn.log.bz2"]
    assert "a Zeek log header whose gzip stream ends after" in err["cut.log.gz"]
    assert "not a log minewatch recognises" in err["notes.txt"]
    assert "junk.bin: " not in err["junk.bin"].replace("junk.bin, byte", "")  # binary: only the reader's error
    r = run("--lang", "zh", "scan", str(tmp_path / "conn.log.bz2"), "--no-store")
    assert "为 bzip2 压缩文件" in r.stderr
