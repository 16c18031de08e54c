"""Web upload jobs after review 14.

1. A meter file read again does not delete a finding that another file of the same name still backs
   (finding ids include the source name, so same-name files share ids): it is kept and marked superseded.
2. A damaged `.gz` beside a good capture: that file is marked unread (named, both languages), the
   capture's finding is stored, the job ends `done_with_errors`.
3. A re-read whose options read nothing usable keeps the earlier findings and warns.
4. "Scan again" of the logs alone folds into the stored capture finding instead of adding a second row.
5. Two logs uploaded under one name: each finding under its own log's import, ids as uploaded alone.
6. UTF-16 and zstd meter files are taken on upload, as the CLI reads them.
7. The load curve draws a day with readings between two gaps.
"""

from __future__ import annotations

import gzip

import pytest

from minewatch.store.backend import connect, jload
from test_web_meter_options import _api_upload, meter_96
from test_web_review13 import SHARED_PCAP, _sha, _stored, _upload, conn_log, dns_log
from web_helpers import make_env


@pytest.fixture
def env(tmp_path):
    return make_env(tmp_path)


def _meter_rows(env, meter: str = "310001") -> list[tuple]:
    db = connect(env.db_path)
    try:
        return db.execute("SELECT finding_id, import_sha256, extra FROM findings WHERE meter_id = ?", [meter])
    finally:
        db.close()


def test_a_reread_keeps_a_finding_another_file_of_the_same_name_backs(env, tmp_path):
    v1 = meter_96(tmp_path / "v1.csv", days=70).read_bytes()
    v2 = meter_96(tmp_path / "v2.csv", days=80).read_bytes()  # the next export: same meter, same onset
    _api_upload(env, v1, "p96.csv", meter_unit="kwh")
    _api_upload(env, v2, "p96.csv", meter_unit="kwh")  # same finding id: the row now names v2's import
    (fid,) = {r[0] for r in _meter_rows(env)}
    job = _api_upload(env, v2, "p96.csv", meter_unit="kwh", meter_tz_offset="8")  # v2 read with another clock
    rows = {r[0]: r for r in _meter_rows(env)}
    assert fid in rows and len(rows) == 2, "v1 still gives the tz-0 finding: it must not be deleted"
    assert "superseded_by" in (jload(rows[fid][2]) or {})
    assert any("same name" in w for w in job.warnings) and len(job.warnings_zh) == len(job.warnings)


def test_a_reread_of_a_file_alone_still_replaces_its_earlier_finding(env, tmp_path):
    data = meter_96(tmp_path / "p96.csv").read_bytes()
    _api_upload(env, data, "p96.csv", meter_unit="kwh")
    _api_upload(env, data, "p96.csv", meter_unit="kwh", meter_tz_offset="8")
    assert len(_meter_rows(env)) == 1


def _damaged_gz() -> bytes:
    b = gzip.compress(b"hello world" * 1000)
    return b[:20] + b"\x00" * 30 + b[50:]


def test_a_damaged_gzip_beside_a_capture_is_marked_and_the_capture_kept(env):
    _, job = _upload(env, [("x.pcapng", SHARED_PCAP.read_bytes()), ("bad.log.gz", _damaged_gz())])
    assert job.state == "done_with_errors" and job.findings == 1, (job.state, job.error)
    bad = next(f for f in job.files if f.filename == "bad.log.gz")
    assert "bad.log.gz" in bad.error and "broken gzip" in bad.error
    assert "bad.log.gz" in bad.error_zh and "gzip 文件已损坏" in bad.error_zh and "Error -3" not in bad.error_zh


def test_a_damaged_gzip_alone_fails_naming_the_file_in_both_languages(env):
    _, job = _upload(env, [("bad.csv.gz", _damaged_gz())])
    assert job.state == "failed"
    assert "bad.csv.gz" in job.error and "bad.csv.gz" in job.error_zh and "gzip 文件已损坏" in job.error_zh


def test_a_meter_gzip_cut_short_in_its_first_block_is_not_a_job_failure(env, tmp_path):
    data = gzip.compress(b"time,meter_id,kw\n" + b"2024-01-01 00:00,1,1.0\n" * 50)
    _, job = _upload(env, [("x.pcapng", SHARED_PCAP.read_bytes()), ("m.csv.gz", data[: len(data) - 12])])
    assert job.state in ("done", "done_with_errors") and job.findings >= 1, (job.state, job.error)
    assert all(f.error is None or "m.csv.gz" in f.error for f in job.files)


def test_a_reread_that_read_nothing_keeps_the_earlier_finding_and_says_so(env, tmp_path):
    data = meter_96(tmp_path / "p96.csv").read_bytes()
    _api_upload(env, data, "p96.csv", meter_unit="kwh")
    assert len(_meter_rows(env)) == 1
    job = _api_upload(env, data, "p96.csv", meter_unit="kwh", meter_interval="7")  # a typo: 7 s
    assert len(_meter_rows(env)) == 1, "a reading that used no reading must not wipe the earlier finding"
    assert any("read nothing usable" in w for w in job.warnings)
    assert any("保持不变" in w for w in job.warnings_zh)


def test_scan_again_of_the_logs_alone_keeps_the_capture_and_log_fold(env):
    pcap = SHARED_PCAP.read_bytes()
    _upload(env, [("xmr.pcapng", pcap), ("conn.log", conn_log()), ("dns.log", dns_log())])

    def miner() -> list[tuple]:
        return [r for r in _stored(env) if r[1] == "147.229.13.222" and r[2] == "185.71.66.20"]

    (before,) = miner()
    _, job = _upload(env, [("conn.log", conn_log()), ("dns.log", dns_log())], rescan="1")
    assert job.state == "done", job.error
    (after,) = miner()  # one connection, one finding: still the capture's, under the capture's import
    assert after[3] == before[3] == "xmr.pcapng" and after[4] == _sha(pcap)
    db = connect(env.db_path)
    try:
        ev, extra = (jload(v) for v in db.one("SELECT evidence, extra FROM findings WHERE src_ip = '147.229.13.222' "
                                                "AND dst_ip = '185.71.66.20'"))
    finally:
        db.close()
    assert "conn.log" in extra["also_seen_in"]
    keys = [(e["code"], e["text"]) for e in ev]
    assert len(keys) == len(set(keys)), "evidence taken in again is not doubled"


def _conn_b() -> bytes:
    return conn_log().replace(b"147.229.13.222", b"10.20.30.40").replace(b"CAbc1", b"CZzz9")


def test_two_logs_uploaded_under_one_name_are_filed_under_their_own_imports(env, tmp_path):
    a, b = conn_log(), _conn_b()
    _, job = _upload(env, [("conn.log", a), ("conn.log", b), ("dns.log", dns_log())])
    assert job.state == "done", job.error
    rows = [r for r in _stored(env) if r[0] != "dns"]
    assert {r[4] for r in rows} == {_sha(a), _sha(b)}, "each log's finding under its own import"
    assert {r[3] for r in rows} == {"conn.log"}, "shown under the name it was uploaded as"
    db = connect(env.db_path)
    try:
        ids = {r[0] for r in db.execute("SELECT finding_id FROM findings WHERE kind <> 'dns'")}
    finally:
        db.close()
    (tmp_path / "alone").mkdir()
    env2 = make_env(tmp_path / "alone")  # the same content uploaded alone gives the same ids
    _upload(env2, [("conn.log", b), ("dns.log", dns_log())])
    db = connect(env2.db_path)
    try:
        alone = {r[0] for r in db.execute("SELECT finding_id FROM findings WHERE kind <> 'dns'")}
    finally:
        db.close()
    assert alone and alone <= ids


def _zstd(data: bytes) -> bytes:
    import pyarrow as pa

    return pa.compress(data, codec="zstd", asbytes=True)


@pytest.mark.parametrize("name,conv", [
    ("p96_u16.csv", lambda t: t.encode("utf-16")),  # Excel's "Unicode text": UTF-16 with BOM
    ("p96_u16.txt", lambda t: t.replace(",", "\t").encode("utf-16")),
    ("p96.csv.zst", lambda t: _zstd(t.encode())),
])  # fmt: skip
def test_utf16_and_zstd_meter_files_are_read_as_the_cli_reads_them(env, tmp_path, name, conv):
    text = meter_96(tmp_path / "p96.csv").read_text()
    job = _api_upload(env, conv(text), name, meter_unit="kwh")
    assert job.state == "done" and job.kind == "meter" and job.findings >= 1, (job.state, job.error)


def test_a_broken_zstd_file_is_named_in_both_languages(env):
    _, job = _upload(env, [("x.pcapng", SHARED_PCAP.read_bytes()), ("m.csv.zst", b"\x28\xb5\x2f\xfd" + b"\xff" * 64)])
    assert job.state == "done_with_errors" and job.findings == 1
    bad = next(f for f in job.files if f.filename == "m.csv.zst")
    assert "m.csv.zst" in bad.error and "m.csv.zst" in bad.error_zh and "zstd" in bad.error_zh


def test_the_load_curve_shows_a_day_with_data_between_two_gaps():
    from datetime import UTC, datetime

    from minewatch.model import Finding
    from minewatch.web import svg

    f = Finding(detector="power", kind="power", score=80.0, subscores={}, evidence=[], meter_id="m1",
                onset=datetime(2024, 3, 3, tzinfo=UTC), kw_mining=10.0,
                extra={"daily_kw": {"start": "2024-03-01", "clock": "UTC", "tz_offset_h": 0.0, "days_per_point": 1,
                                    "min": [1, 2, None, 12, None, 12], "mean": [2, 3, None, 13, None, 13],
                                    "max": [3, 4, None, 14, None, 14]}})  # fmt: skip
    out = svg.load_curve(f)
    assert out.count("<circle") == 2, "the two isolated days are drawn as dots; the first two days as a line"
    assert "L" in out.split('d="', 1)[1].split('"', 1)[0]
