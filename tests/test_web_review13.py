"""Web upload jobs after review 13: a log read part-way, a capture and a log of one connection, a meter
file read again with other options, and the load curve's gaps.

1. A log damaged part-way (a gzip cut short) is read up to the damage, as `minewatch scan` reads it
   (a warning, exit 0): the file is marked with a warning, not failed, and its findings are stored
   under its own import (they were lost when it came alone, and stored under `dns.log` beside it).
2. A capture and the Zeek log of the same traffic give one finding with `also_seen_in`, as the CLI.
3. A meter file uploaded again with another clock replaces its earlier reading's finding (the onset
   moved, so the id changed and the rig was counted twice); one in a case is kept, marked superseded.
4. The load curve keeps days without readings as gaps and prefers the scan's `extra["daily_kw"]`.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import json
from pathlib import Path

import pytest

from minewatch.model import Evidence, Finding
from minewatch.store import cases as C
from minewatch.store.backend import connect, imported, jload
from minewatch.web import svg
from test_web_meter_options import RIG_KW, _api_upload, meter_96
from web_helpers import csrf_of, make_env

SHARED_PCAP = Path("/work/shared/data/pcap/nesfit__xmr-eu1.nanopool.org.pcapng")

_H = ("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\t{p}\n"
      "#open\t2017-01-16-16-11-59\n#fields\t{f}\n#types\t{t}\n")  # fmt: skip
_CONN_F = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "service", "duration", "orig_bytes", "resp_bytes", "conn_state", "local_orig", "local_resp", "missed_bytes", "history", "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes", "tunnel_parents"]  # fmt: skip
_CONN_T = ["time", "string", "addr", "port", "addr", "port", "enum", "string", "interval", "count", "count", "string", "bool", "bool", "count", "string", "count", "count", "count", "count", "set[string]"]  # fmt: skip
_DNS_F = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "trans_id", "rtt", "query", "qclass", "qclass_name", "qtype", "qtype_name", "rcode", "rcode_name", "AA", "TC", "RD", "RA", "Z", "answers", "TTLs", "rejected"]  # fmt: skip
_DNS_T = ["time", "string", "addr", "port", "addr", "port", "enum", "count", "interval", "string", "count", "string", "count", "string", "count", "string", "bool", "bool", "bool", "bool", "count", "vector[string]", "vector[interval]", "bool"]  # fmt: skip
#: the nesfit xmr-eu1 capture's mining connection, as Zeek logs it
_MINER = ["1484583119.911586", "CAbc1", "147.229.13.222", "55758", "185.71.66.20", "14444", "tcp", "-", "156.17",
          "900", "3000", "SF", "-", "-", "0", "ShADadFf", "11", "1400", "10", "3500", "-"]  # fmt: skip


def conn_log(extra_rows: int = 0) -> bytes:
    rows = [_MINER] + [[f"{1484583200 + i}.0", f"C{i}", f"10.9.{i % 250}.{i % 200 + 1}", str(40000 + i % 20000),
                        "93.184.216.34", "443", "tcp", "-", "1.0", "100", "200", "SF", "-", "-", "0", "ShADadFf", "3",
                        "300", "3", "400", "-"] for i in range(extra_rows)]  # fmt: skip
    head = _H.format(p="conn", f="\t".join(_CONN_F), t="\t".join(_CONN_T))
    return (head + "".join("\t".join(r) + "\n" for r in rows)).encode()


def dns_log() -> bytes:
    row = ["1484583119.5", "Cdns1", "147.229.13.222", "5353", "147.229.13.1", "53", "udp", "1", "0.01",
           "xmr-eu1.nanopool.org", "1", "C_INTERNET", "1", "A", "0", "NOERROR", "F", "F", "T", "T", "0",
           "185.71.66.20", "60.0", "F"]  # fmt: skip
    return (_H.format(p="dns", f="\t".join(_DNS_F), t="\t".join(_DNS_T)) + "\t".join(row) + "\n").encode()


def cut(data: bytes) -> bytes:
    """gzip of `data` cut at two thirds: the reader reads the start, then stops with an error."""
    blob = gzip.compress(data)
    return blob[: len(blob) * 2 // 3]


def eve_cut() -> bytes:
    """An EVE log with a COINMINER alert and its flow first, then 20,000 benign flows; gzip cut short."""
    base = {"src_ip": "10.1.2.3", "src_port": 51000, "dest_ip": "185.71.66.20", "dest_port": 14444, "proto": "TCP",
            "flow_id": 1234}  # fmt: skip
    ev = [{**base, "timestamp": "2017-01-16T16:12:00.000000+0000", "event_type": "alert",
           "alert": {"signature": "ET COINMINER CoinMiner Known Pool DNS Lookup (xmr-eu1.nanopool.org)",
                     "signature_id": 2027180, "category": "Crypto Currency Mining Activity Detected", "severity": 1}},
          {**base, "timestamp": "2017-01-16T16:20:00.000000+0000", "event_type": "flow",
           "flow": {"pkts_toserver": 50, "pkts_toclient": 60, "bytes_toserver": 6000, "bytes_toclient": 9000,
                    "start": "2017-01-16T16:11:59.000000+0000", "end": "2017-01-16T16:20:00.000000+0000",
                    "state": "closed"}}]  # fmt: skip
    ev += [{"src_ip": f"10.9.{i % 250}.{i % 200 + 1}", "src_port": 40000 + i % 20000, "dest_ip": "93.184.216.34",
            "dest_port": 443, "proto": "TCP", "flow_id": 10**6 + i, "timestamp": "2017-01-16T16:30:00.000000+0000",
            "event_type": "flow", "flow": {"pkts_toserver": 3, "pkts_toclient": 3, "bytes_toserver": 300,
                                           "bytes_toclient": 400, "start": "2017-01-16T16:29:59.000000+0000",
                                           "end": "2017-01-16T16:30:00.000000+0000", "state": "closed"}}
           for i in range(20000)]  # fmt: skip
    return cut("".join(json.dumps(e) + "\n" for e in ev).encode())


@pytest.fixture
def env(tmp_path):
    return make_env(tmp_path)


def _upload(env, parts: list[tuple[str, bytes]], **form: str):
    c = env.login("analyst")
    r = c.post("/upload?lang=en", data={"csrf": csrf_of(c.get("/upload").text), **form},
               files=[("file", (n, d, "application/octet-stream")) for n, d in parts])
    assert r.status_code == 303, r.text
    return c, env.app.state.jobs.wait(r.headers["location"].rsplit("/", 1)[1], timeout=240)


def _stored(env) -> list[tuple]:
    db = connect(env.db_path)
    try:
        return db.execute("SELECT kind, src_ip, dst_ip, source, import_sha256, extra FROM findings ORDER BY source")
    finally:
        db.close()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- 1. a log read part-way -------------------------------------------------------------------------
def test_a_log_cut_short_alone_is_read_up_to_the_damage_and_its_finding_stored(env):
    data = eve_cut()
    c, job = _upload(env, [("eve_cut.json.gz", data)])
    assert job.state == "done", (job.state, job.error)  # as the CLI: a warning, not a failure
    (f,) = job.files
    assert f.error is None and job.failed_files == 0
    assert f.warning.startswith("eve_cut.json.gz, byte ") and "cannot read further" in f.warning
    assert "无法继续读取" in f.warning_zh
    rows = _stored(env)
    assert [(r[0], r[1], r[3], r[4]) for r in rows] == [("mining", "10.1.2.3", "eve_cut.json.gz", _sha(data))]
    assert job.findings == 1 and job.new_findings == 1
    db = connect(env.db_path)
    try:  # not entered as imported: uploaded again (whole) it is read again
        assert imported(db, _sha(data)) is None
    finally:
        db.close()
    api = env.api("viewer").get(f"/api/v1/jobs/{job.job_id}").json()
    assert api["state"] == "done" and api["files"][0]["warning"] == f.warning and api["files"][0]["error"] is None
    en = html.unescape(c.get(f"/jobs/{job.job_id}", params={"lang": "en"}).text)
    assert "read up to this damage" in en and "could not be read" not in en and "finding-link" in en
    zh = html.unescape(c.get(f"/jobs/{job.job_id}", params={"lang": "zh"}).text)
    assert "文件已读取到损坏处为止" in zh and "无法继续读取" in zh and "read up to" not in zh


def test_a_cut_conn_log_beside_its_dns_log_keeps_its_finding_under_its_own_import(env):
    conn, dns = cut(conn_log(20000)), dns_log()
    c, job = _upload(env, [("conn_cut.log.gz", conn), ("dns.log", dns)])
    assert job.state == "done", (job.state, job.error)
    by_name = {f.filename: f for f in job.files}
    assert by_name["conn_cut.log.gz"].warning and by_name["conn_cut.log.gz"].error is None
    assert by_name["dns.log"].warning is None and by_name["dns.log"].error is None
    rows = _stored(env)
    # stored under the log the connection came from, not under dns.log's import
    assert [(r[0], r[1], r[2], r[3], r[4]) for r in rows] == [
        ("mining", "147.229.13.222", "185.71.66.20", "conn_cut.log.gz", _sha(conn))]
    assert not any("were not scanned" in n for n in job.notes)
    db = connect(env.db_path)
    try:
        assert imported(db, _sha(dns)) is not None and imported(db, _sha(conn)) is None
    finally:
        db.close()
    en = html.unescape(c.get(f"/jobs/{job.job_id}", params={"lang": "en"}).text)
    assert "conn_cut.log.gz (Zeek log (TSV)" in en and "read up to a damage" in en
    zh = html.unescape(c.get(f"/jobs/{job.job_id}", params={"lang": "zh"}).text)
    assert "读取至损坏处" in zh


def test_each_log_finding_is_stored_under_the_log_it_came_from(env):
    """Two logs with findings of their own, uploaded with the name log first: each under its own import."""
    eve = b"".join(json.dumps(e).encode() + b"\n" for e in [
        {"timestamp": "2023-11-14T22:00:02.000000+0000", "event_type": "alert", "src_ip": "172.16.9.9",
         "src_port": 46000, "dest_ip": "198.51.100.200", "dest_port": 14444, "proto": "TCP", "flow_id": 77,
         "alert": {"signature_id": 2000001, "severity": 2, "signature": "ET COINMINER stratum login",
                   "category": "Crypto Currency Mining Activity Detected"}},
        {"timestamp": "2023-11-14T22:40:00.000000+0000", "event_type": "flow", "src_ip": "172.16.9.9",
         "src_port": 46000, "dest_ip": "198.51.100.200", "dest_port": 14444, "proto": "TCP", "flow_id": 77,
         "flow": {"pkts_toserver": 500, "pkts_toclient": 520, "bytes_toserver": 70000, "bytes_toclient": 99000,
                  "start": "2023-11-14T22:00:00.000000+0000", "end": "2023-11-14T22:40:00.000000+0000"}}])  # fmt: skip
    conn, dns = conn_log(), dns_log()
    _, job = _upload(env, [("dns.log", dns), ("eve.json", eve), ("conn.log", conn)])
    assert job.state == "done", job.error
    got = {(r[3], r[4]) for r in _stored(env)}
    assert got == {("eve.json", _sha(eve)), ("conn.log", _sha(conn))}


def test_a_log_with_nothing_readable_before_its_damage_still_fails(env):
    """The warning is for damage met part-way: a gzip cut in its first bytes is not read at all."""
    good = dns_log()
    _, job = _upload(env, [("dns.log", good), ("conn.log.gz", gzip.compress(conn_log(2000))[:12])])
    by_name = {f.filename: f for f in job.files}
    assert job.state == "done_with_errors" and by_name["conn.log.gz"].error and by_name["conn.log.gz"].warning is None


# -- 2. a capture and a log of one connection -------------------------------------------------------
@pytest.mark.skipif(not SHARED_PCAP.exists(), reason=f"shared capture {SHARED_PCAP} is not on this machine")
def test_a_capture_and_its_zeek_log_are_one_finding(env):
    pcap = SHARED_PCAP.read_bytes()
    _, job = _upload(env, [("xmr.pcapng", pcap), ("conn.log", conn_log()), ("dns.log", dns_log())])
    assert job.state == "done", job.error
    rows = [r for r in _stored(env) if r[1] == "147.229.13.222" and r[2] == "185.71.66.20"]
    assert len(rows) == 1, rows
    assert rows[0][3] == "xmr.pcapng" and rows[0][4] == _sha(pcap)  # under the capture's own import
    assert jload(rows[0][5])["also_seen_in"] == ["conn.log"]
    assert job.findings == 1


@pytest.mark.skipif(not SHARED_PCAP.exists(), reason=f"shared capture {SHARED_PCAP} is not on this machine")
def test_a_log_uploaded_after_its_capture_folds_into_the_stored_finding(env):
    pcap = SHARED_PCAP.read_bytes()
    _upload(env, [("xmr.pcapng", pcap)])
    _, job = _upload(env, [("xmr.pcapng", pcap), ("conn.log", conn_log()), ("dns.log", dns_log())])
    assert job.state == "done", job.error
    assert any("already imported" in n for n in job.notes)
    rows = [r for r in _stored(env) if r[1] == "147.229.13.222" and r[2] == "185.71.66.20"]
    assert len(rows) == 1, rows
    assert rows[0][4] == _sha(pcap) and jload(rows[0][5])["also_seen_in"] == ["conn.log"]


# -- 3. a meter file read again with other options --------------------------------------------------
def _rigs(env) -> list[dict]:
    return env.api("viewer").get("/api/v1/findings", params={"meter_id": "310001"}).json()["items"]


def test_a_meter_file_read_again_with_another_clock_replaces_its_earlier_finding(env, tmp_path):
    data = meter_96(tmp_path / "p96-kwh.csv").read_bytes()
    _api_upload(env, data, "p96-kwh.csv", meter_unit="kwh")
    (first,) = _rigs(env)
    job = _api_upload(env, data, "p96-kwh.csv", meter_unit="kwh", meter_tz_offset="8")
    rigs = _rigs(env)
    assert len(rigs) == 1, [(r["finding_id"], r["onset"]) for r in rigs]  # one rig, not two
    assert rigs[0]["finding_id"] != first["finding_id"] and rigs[0]["kw_mining"] == pytest.approx(RIG_KW, abs=0.3)
    assert any("1 finding(s) of an earlier reading of this file" in n for n in job.notes)
    assert any("此前以其他电表选项读取本文件所得的 1 条发现" in n for n in job.notes_zh)
    assert not job.warnings
    db = connect(env.db_path)
    try:
        (entry,) = db.execute("SELECT object_id, before_state FROM audit_log WHERE action = 'findings.replace'")
        assert jload(entry[1])["removed"] == [first["finding_id"]]
    finally:
        db.close()
    # the same options again: nothing is removed (the same ids are stored again)
    _api_upload(env, data, "p96-kwh.csv", meter_unit="kw")
    assert len(_rigs(env)) == 1


def test_an_earlier_finding_in_a_case_is_kept_and_marked_superseded(env, tmp_path):
    data = meter_96(tmp_path / "p96-kwh.csv").read_bytes()
    _api_upload(env, data, "p96-kwh.csv", meter_unit="kwh")
    (first,) = _rigs(env)
    db = connect(env.db_path)
    try:
        case = C.open_case(db, "meter 310001", actor="analyst", finding_ids=[first["finding_id"]])
    finally:
        db.close()
    job = _api_upload(env, data, "p96-kwh.csv", meter_unit="kwh", meter_tz_offset="8")
    rigs = {r["finding_id"]: r for r in _rigs(env)}
    assert len(rigs) == 2 and first["finding_id"] in rigs  # the case keeps its evidence
    (new_id,) = [i for i in rigs if i != first["finding_id"]]
    db = connect(env.db_path)
    try:
        extra = jload(db.one("SELECT extra FROM findings WHERE finding_id = ?", [first["finding_id"]])[0])
        assert C.case_finding_ids(db, case.case_id) == [first["finding_id"]]
    finally:
        db.close()
    assert extra["superseded_by"]["findings"] == [new_id] and extra["superseded_by"]["job_id"] == job.job_id
    assert extra["superseded_by"]["meter_options"]["tz_offset"] == 8.0
    assert any("an earlier reading of this file left 1 finding(s) in cases" in w for w in job.warnings)
    assert any("1 条发现已在案件中" in w for w in job.warnings_zh)
    en = html.unescape(env.login("viewer").get(f"/jobs/{job.job_id}", params={"lang": "en"}).text)
    assert "left 1 finding(s) in cases" in en


# -- 4. the load curve ------------------------------------------------------------------------------
def _meter_finding(extra: dict) -> Finding:
    from datetime import UTC, datetime

    return Finding(kind="mining", detector="power.step", score=80.0, subscores={}, meter_id="m1",
                   onset=datetime(2024, 3, 3, tzinfo=UTC), extra=extra,
                   evidence=[Evidence("power.step", "step", "阶跃", data={"pre_kw": 1.0, "post_kw": 5.0})])  # fmt: skip


def test_the_load_curve_breaks_at_days_without_readings_and_prefers_daily_kw():
    old = _meter_finding({"load_curve": [["2024-03-01", 1.0], ["2024-03-02", None], ["2024-03-03", 5.0],
                                         ["2024-03-04", 5.2]]})  # fmt: skip
    path = svg.load_curve(old).split(' d="', 1)[1].split('"', 1)[0]
    assert path.count("M") == 2 and path.count("L") == 1  # two runs: the gap is not drawn across
    prof = {"start": "2024-02-28", "clock": "UTC", "tz_offset_h": 0.0, "days_per_point": 1,
            "min": [0.5, None, 0.9, 4.0, 4.1], "mean": [1.0, None, 1.1, 5.0, 5.1], "max": [1.5, None, 1.3, 6, 6]}
    both = _meter_finding({"daily_kw": prof, "load_curve": [["2024-03-01", 9.0], ["2024-03-02", 9.0]]})
    drawn = svg.load_curve(both)
    assert "2024-02-28" in drawn and "2024-03-03" in drawn and "9.0 kW" not in drawn  # daily_kw, not load_curve
    path = drawn.split(' d="', 1)[1].split('"', 1)[0]
    assert path.count("M") == 2 and path.count("L") == 2


def test_an_uploaded_meter_file_with_missing_days_keeps_them_as_gaps(env, tmp_path):
    f = meter_96(tmp_path / "p96.csv")
    lines = f.read_text(encoding="utf-8").splitlines()
    gone = {"2024-03-20", "2024-03-21", "2024-03-22"}
    f.write_text("\n".join(x for x in lines if x.split(",")[1] not in gone) + "\n", encoding="utf-8")
    _api_upload(env, f.read_bytes(), "p96.csv", meter_unit="kwh")
    (rig,) = _rigs(env)
    db = connect(env.db_path)
    try:
        extra = jload(db.one("SELECT extra FROM findings WHERE finding_id = ?", [rig["finding_id"]])[0])
    finally:
        db.close()
    curve = dict(extra["load_curve"])
    assert all(curve[d] is None for d in gone) and curve["2024-03-19"] is not None
    page = env.login("viewer").get(f"/findings/{rig['finding_id']}").text
    path = page.split('class="load"', 1)[0].rsplit(' d="', 1)[1].split('"', 1)[0]
    assert path.count("M") >= 2  # the line breaks at the missing days
