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


# -- review of 2026-11-22 (evening): folders with flow files among captures, dead collector folders, bad gzip --


def test_a_capture_beside_a_collector_parquet_file_is_scanned_too(demo, tmp_path, tmp_home):
    """One `*.parquet` (or `nfcapd.*`) file beside a capture made the whole folder "collector output": the
    capture was never read and the verdict was "No mining found"."""
    from test_fuzz_readers import _collector_dir

    _, part = _collector_dir(tmp_path)
    d = tmp_path / "case"
    d.mkdir()
    shutil.copy(demo, d / "demo.pcap")
    shutil.copy(part, d / "flows-part.parquet")
    r = run("scan", str(d), "--no-store", "-q", "--format", "jsonl")
    assert r.exit_code == 0, r.output
    sources = {x["source"] for x in rows(r.stdout)}
    assert str(d / "demo.pcap") in sources, r.output
    assert "2 capture or log input(s)" in r.stderr and "2 file(s)" in r.stderr
    assert "10 long-lived connection(s) in the NetFlow records" in r.stderr  # the Parquet file read too


def test_a_capture_beside_an_nfcapd_file_is_scanned_too(demo, tmp_path, tmp_home):
    from minewatch.sources.nfcapd import NFCAPD_HEADS
    from minewatch.sources.zeek import sniff_format

    d = tmp_path / "case"
    d.mkdir()
    shutil.copy(demo, d / "demo.pcap")
    (d / "nfcapd.202611221100").write_bytes(next(iter(NFCAPD_HEADS)) + b"\0" * 60)  # an nfcapd head, damaged
    assert sniff_format(d) is None  # not an nfcapd folder: a folder of inputs
    r = run("scan", str(d), "--no-store", "-q", "--format", "jsonl")
    assert any(x["source"] == str(d / "demo.pcap") and x["kind"] == "mining" for x in rows(r.stdout)), r.output
    assert str(d / "nfcapd.202611221100") in r.stderr  # read on its own, named when it cannot be


def test_a_pure_collector_or_nfcapd_folder_stays_one_input(tmp_path, tmp_home):
    from minewatch.sources.nfcapd import NFCAPD_HEADS
    from minewatch.sources.zeek import sniff_format
    from test_fuzz_readers import _collector_dir

    out, _ = _collector_dir(tmp_path)
    (out / "_stats").mkdir()
    (out / "_stats" / "collector-20261122T080000-1.json").write_text('{\n "rows_written": 10\n}\n')
    assert sniff_format(out) == "netflow-parquet"
    r = run("scan", str(out), "--no-store", "-q", "--format", "jsonl")
    assert r.exit_code == 0 and " 10 flows" in r.stderr and "1 file(s)" in r.stderr, r.output
    nf = tmp_path / "nf" / "2026" / "11"
    nf.mkdir(parents=True)
    (nf / "nfcapd.202611221100").write_bytes(next(iter(NFCAPD_HEADS)) + b"\0" * 60)
    (nf / "README").write_text("router 1\n")
    assert sniff_format(tmp_path / "nf") == "nfcapd"


def test_a_collector_folder_with_no_readable_file_is_unread(tmp_path, tmp_home):
    """Every Parquet file damaged: "No mining found", a warning and exit 0 before; README: exit 4."""
    d = tmp_path / "flows" / "date=2025-11-22" / "hour=08"
    d.mkdir(parents=True)
    (d / "part-1.parquet").write_bytes(b"PAR1" + bytes(range(256)) * 3)
    r = run("scan", str(tmp_path / "flows"), "--no-store")
    assert r.exit_code == 4, r.output
    assert "No mining" not in r.stdout and "No input could be read" in r.stdout
    assert "error:" in r.stderr and "unreadable Parquet file" in r.stderr
    zh = run("--lang", "zh", "scan", str(tmp_path / "flows"), "--no-store")
    assert zh.exit_code == 4 and "无法读取的 Parquet 文件" in zh.stderr


def test_a_collector_folder_with_one_good_file_is_still_read(tmp_path, tmp_home):
    from test_fuzz_readers import _collector_dir

    out, good = _collector_dir(tmp_path)
    good.with_name("part-0.parquet").write_bytes(b"PAR1" + b"\0" * 50)
    r = run("scan", str(out), "--no-store")
    assert r.exit_code == 0 and " 10 flows" in r.stderr and "warning:" in r.stderr, r.output


BAD_GZ = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\xff" * 12  # "invalid block type" in its first block


@pytest.mark.parametrize("name", ["bad.gz", "conn.log.gz", "x.pcap.gz"])
def test_a_corrupt_gzip_file_is_named_unread_not_a_traceback(demo, tmp_path, tmp_home, name):
    d = tmp_path / "case"
    d.mkdir()
    shutil.copy(demo, d / "demo.pcap")
    (d / name).write_bytes(BAD_GZ)
    for args in ([str(d)], [str(d / name)]):
        r = run("scan", *args, "--no-store", "-q", "--format", "jsonl")
        assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
        assert r.exit_code == 4, r.output
        assert f"{d / name}, byte" in r.stderr and "error:" in r.stderr, r.stderr
    r = run("scan", str(d), "--no-store", "-q", "--format", "jsonl")
    assert any(x["source"] == str(d / "demo.pcap") for x in rows(r.stdout))  # the rest scanned


def test_sniffing_and_hints_survive_a_corrupt_gzip(tmp_path):
    from minewatch.scan_cli import _is_capture, looks_like_meter_table, unread_hint
    from minewatch.sources.zeek import sniff_format

    p = tmp_path / "bad.gz"
    p.write_bytes(BAD_GZ)
    assert sniff_format(p) is None and not _is_capture(p) and not looks_like_meter_table(p)
    assert unread_hint(p) is None


def test_a_damaged_file_named_as_a_capture_in_a_folder_is_unread(demo, tmp_path, tmp_home):
    """Named alone, garbage.pcap is an error (exit 4); in a folder it was "not a capture or log", exit 0."""
    d = tmp_path / "case"
    (d / "sub").mkdir(parents=True)
    shutil.copy(demo, d / "sub" / "a.pcap")
    (d / "garbage.pcap").write_bytes(b"this is not a capture at all" * 10)
    (d / "readme.txt").write_text("notes\n")
    r = run("scan", str(d), "--no-store", "-q", "--format", "jsonl")
    assert r.exit_code == 4, r.output
    assert f"{d / 'garbage.pcap'}, byte 0: not a pcap/pcapng capture" in r.stderr
    assert "1 not a capture or log (readme.txt)" in r.stderr
    assert any(x["source"] == str(d / "sub" / "a.pcap") for x in rows(r.stdout))


def test_a_file_named_twice_is_scanned_once(demo, tmp_path, tmp_home):
    d = tmp_path / "case"
    (d / "sub").mkdir(parents=True)
    shutil.copy(demo, d / "sub" / "a.pcap")
    once = run("scan", str(d), "--no-store", "-q", "--format", "jsonl")
    twice = run("scan", str(d), str(d / "sub"), str(d / "sub" / "a.pcap"), "--no-store", "-q", "--format", "jsonl")
    assert twice.exit_code == 0, twice.output
    assert rows(twice.stdout) == rows(once.stdout) and "1 file(s)" in twice.stderr


def test_a_text_file_beside_nfcapd_files_leaves_the_folder_one_input(tmp_path):
    from minewatch.sources.nfcapd import NFCAPD_HEADS
    from minewatch.sources.zeek import sniff_format

    nf = tmp_path / "nf"
    nf.mkdir()
    (nf / "nfcapd.202611221100").write_bytes(next(iter(NFCAPD_HEADS)) + b"\0" * 60)
    (tmp_path / "nfcapd-daemon.log").write_text("Add extension: 2 byte input/output interface index\n")
    assert sniff_format(tmp_path) == "nfcapd"
    (tmp_path / "cut.pcap").write_bytes(b"not a capture")  # a capture by its name: a folder of inputs
    assert sniff_format(tmp_path) is None


# -- review 14: ordinary text files named .log/.json in a folder are skipped, not unread captures --


def test_a_manifest_json_and_a_notes_log_beside_a_capture_are_skipped(demo, tmp_path, tmp_home):
    """f22495f made any `.log`/`.json` name an input: a manifest.json and a notes.log went to the capture
    reader ("not a pcap/pcapng capture"), exit 4; before, and now, they are skipped with a note."""
    d = tmp_path / "case"
    d.mkdir()
    shutil.copy(demo, d / "x.pcap")
    (d / "manifest.json").write_text('{"capture": "x.pcap", "site": "lab"}\n')
    (d / "notes.log").write_text("tcpdump started 2024-01-01\n")
    r = run("scan", str(d), "--no-store", "-q", "--format", "jsonl")
    assert r.exit_code == 0, r.output
    assert "not a pcap/pcapng capture" not in r.stderr and "error:" not in r.stderr, r.stderr
    assert "1 capture or log input(s)" in r.stderr
    assert "2 not a capture or log (manifest.json, notes.log)" in r.stderr, r.stderr
    assert any(x["source"] == str(d / "x.pcap") for x in rows(r.stdout))
    zh = run("--lang", "zh", "scan", str(d), "--no-store", "-q", "--format", "jsonl")
    assert zh.exit_code == 0 and "非抓包或日志 2 个" in zh.stderr, zh.stderr


def test_a_suricata_log_folder_reads_eve_and_skips_the_text_logs(tmp_path, tmp_home):
    d = tmp_path / "suricata"
    d.mkdir()
    (d / "eve.json").write_text(json.dumps({
        "timestamp": "2017-01-16T16:12:00.000000+0000", "event_type": "alert", "src_ip": "10.1.2.3",
        "src_port": 51000, "dest_ip": "185.71.66.20", "dest_port": 14444, "proto": "TCP", "flow_id": 1,
        "alert": {"signature": "ET COINMINER CoinMiner Known Pool DNS Lookup (xmr-eu1.nanopool.org)",
                  "signature_id": 2027180, "category": "Crypto Currency Mining Activity Detected",
                  "severity": 1}}) + "\n")
    (d / "fast.log").write_text(
        "01/16/2017-16:12:00.000000  [**] [1:2027180:1] ET COINMINER CoinMiner Known Pool DNS Lookup [**] "
        "[Classification: Crypto Currency Mining Activity Detected] [Priority: 1] {TCP} "
        "10.1.2.3:51000 -> 185.71.66.20:14444\n")
    (d / "stats.log").write_text(
        "-" * 84 + "\nDate: 1/16/2017 -- 16:12:00 (uptime: 0d, 00h 00m 08s)\n" + "-" * 84 + "\n"
        "Counter                                       | TM Name                   | Value\n"
        "capture.kernel_packets                        | Total                     | 1234\n")
    (d / "suricata.log").write_text(
        "16/1/2017 -- 16:11:52 - <Notice> - This is Suricata version 6.0.1 RELEASE running in SYSTEM mode\n")
    r = run("scan", str(d), "--no-store", "-q", "--format", "jsonl")
    assert r.exit_code == 0, r.output
    assert "error:" not in r.stderr and "1 capture or log input(s)" in r.stderr, r.stderr
    assert "3 not a capture or log (fast.log, stats.log, suricata.log)" in r.stderr, r.stderr


@pytest.mark.parametrize("name", ["eve.json.gz", "notes.log.gz", "cut.cap", "cut.pcapng.gz"])
def test_a_damaged_gzip_log_or_a_capture_by_name_in_a_folder_stays_unread(demo, tmp_path, tmp_home, name):
    d = tmp_path / "case"
    d.mkdir()
    shutil.copy(demo, d / "demo.pcap")
    (d / name).write_bytes(BAD_GZ if name.endswith(".gz") else b"not a capture, cut" * 8)
    r = run("scan", str(d), "--no-store", "-q", "--format", "jsonl")
    assert r.exit_code == 4, r.output
    assert f"{d / name}, byte" in r.stderr and "2 capture or log input(s)" in r.stderr, r.stderr


def test_a_readable_gzip_of_plain_text_named_log_is_skipped(demo, tmp_path, tmp_home):
    d = tmp_path / "case"
    d.mkdir()
    shutil.copy(demo, d / "demo.pcap")
    with gzip.open(d / "old-notes.log.gz", "wt") as z:
        z.write("rotated daemon notes\n")
    r = run("scan", str(d), "--no-store", "-q", "--format", "jsonl")
    assert r.exit_code == 0, r.output
    assert "1 not a capture or log (old-notes.log.gz)" in r.stderr, r.stderr


def test_only_capture_names_make_an_unreadable_file_an_input(tmp_path):
    from minewatch.sources.zeek import named_as_input

    for name in ("a.pcap", "a.PCAPNG", "a.cap", "a.pcap.gz", "a.cap.gz"):
        assert named_as_input(tmp_path / name), name
    for name in ("notes.log", "manifest.json", "conn.log.gz", "eve.json.gz", "readme.txt"):
        assert not named_as_input(tmp_path / name), name


def test_a_new_capture_is_hashed_while_it_is_read_and_filed_under_its_hash(demo, tmp_path, tmp_home):
    """No import of its size yet: the capture is read while another thread hashes it; its findings must still
    be filed under its content hash, and a second scan must find it already imported."""
    from minewatch.store import Store, file_sha256

    cap = tmp_path / "d.pcap"
    shutil.copy(demo, cap)
    r = run("scan", str(cap), "--format", "jsonl")
    assert r.exit_code == 0, r.output
    st = Store(read_only=True)
    try:
        assert st.imported_size(cap.stat().st_size)
        rows = st.con.execute("SELECT DISTINCT import_sha256 FROM findings").fetchall()
    finally:
        st.close()
    assert rows == [(file_sha256(cap),)]
    r = run("scan", str(cap), "--format", "jsonl")
    assert "already imported" in " ".join(r.stderr.split())


def test_read_head_gives_what_a_gzip_head_holds_and_whether_it_broke(tmp_path):
    """The one gzip-head reader the sniffers, hints and web uploads share (`sources.zeek.read_head`)."""
    from minewatch.sources.zeek import read_head

    body = b"#separator \\x09\n" + b"x" * 10_000
    plain, whole, cut, bad = (tmp_path / n for n in ("a.log", "a.log.gz", "cut.gz", "bad.gz"))
    plain.write_bytes(body)
    whole.write_bytes(gzip.compress(body))
    cut.write_bytes(gzip.compress(body)[:40])
    z = bytearray(gzip.compress(body))
    z[12:20] = b"\xff" * 8
    bad.write_bytes(bytes(z))
    assert read_head(plain, 100) == (body[:100], False)
    assert read_head(whole, 4096) == (body[:4096], False)
    got, broken = read_head(cut)
    assert broken and body.startswith(got)
    got, broken = read_head(bad)
    assert broken and body.startswith(got)
