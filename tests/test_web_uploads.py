"""Uploading flow logs (Zeek TSV/JSON, Suricata EVE) to the web: recognised by content, scanned by
the CLI's `FlowLogScanner`, several logs of one upload read together, rejects reported in the job."""

from __future__ import annotations

import gzip
import json
from datetime import date
from pathlib import Path

import pytest

from minewatch.errors import InputError
from minewatch.web.jobs import sniff
from web_helpers import csrf_of, make_env

T0 = 1_700_000_000.0
POOL_SNI = "pool.hashvault.pro"  # a public pool from the built-in list

_CONN_FIELDS = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "service", "duration",
                "orig_bytes", "resp_bytes", "conn_state", "history", "orig_pkts", "resp_pkts"]  # fmt: skip
_CONN_TYPES = ["time", "string", "addr", "port", "addr", "port", "enum", "string", "interval", "count", "count",
               "string", "string", "count", "count"]  # fmt: skip
_SSL_FIELDS = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "version", "server_name", "established"]
_SSL_TYPES = ["time", "string", "addr", "port", "addr", "port", "string", "string", "bool"]


def zeek_tsv(path: Path, log: str, fields: list[str], types: list[str], rows: list[list[object]]) -> Path:
    head = ["#separator \\x09", "#set_separator\t,", "#empty_field\t(empty)", "#unset_field\t-", f"#path\t{log}",
            "#open\t2023-11-14-22-13-20", "#fields\t" + "\t".join(fields), "#types\t" + "\t".join(types)]  # fmt: skip
    body = ["\t".join("-" if v is None else str(v) for v in r) for r in rows]
    path.write_text("\n".join([*head, *body, "#close\t2023-11-15-00-00-00"]) + "\n")
    return path


def zeek_pair(tmp: Path) -> tuple[Path, Path]:
    """A TLS session to a pool (named only by its SNI in ssl.log) and a plain web visit."""
    conn = zeek_tsv(tmp / "conn.log", "conn", _CONN_FIELDS, _CONN_TYPES, [
        [T0, "Cmine1", "172.16.5.21", 51000, "198.51.100.44", 443, "tcp", "ssl", 6000.0, 800000, 2100000, "SF",
         "ShADadFf", 8000, 8600],
        [T0 + 3, "Cweb1", "172.16.5.22", 51001, "198.51.100.80", 443, "tcp", "ssl", 20.0, 15000, 700000, "SF",
         "ShADadFf", 40, 500],
    ])  # fmt: skip
    ssl = zeek_tsv(tmp / "ssl.log", "ssl", _SSL_FIELDS, _SSL_TYPES, [
        [T0 + 0.2, "Cmine1", "172.16.5.21", 51000, "198.51.100.44", 443, "TLSv13", POOL_SNI, "T"],
        [T0 + 3.1, "Cweb1", "172.16.5.22", 51001, "198.51.100.80", 443, "TLSv13", "www.example.com", "T"],
    ])  # fmt: skip
    return conn, ssl


def eve_lines(broken: bool = True) -> bytes:
    ev = [
        {"timestamp": "2023-11-14T22:40:00.000000+0000", "event_type": "flow", "src_ip": "172.16.9.9",
         "src_port": 46000, "dest_ip": "198.51.100.200", "dest_port": 14444, "proto": "TCP", "flow_id": 77,
         "flow": {"pkts_toserver": 500, "pkts_toclient": 520, "bytes_toserver": 70000, "bytes_toclient": 99000,
                  "start": "2023-11-14T22:00:00.000000+0000", "end": "2023-11-14T22:40:00.000000+0000",
                  "state": "closed"}},
        {"timestamp": "2023-11-14T22:00:02.000000+0000", "event_type": "alert", "src_ip": "172.16.9.9",
         "src_port": 46000, "dest_ip": "198.51.100.200", "dest_port": 14444, "proto": "TCP", "flow_id": 77,
         "alert": {"action": "allowed", "signature_id": 2000001, "rev": 1, "severity": 2,
                   "signature": "ET COINMINER stratum login", "category": "Crypto Currency Mining Activity Detected"}},
        {"timestamp": "2023-11-14T22:00:03.000000+0000", "event_type": "stats", "stats": {"uptime": 5}},
    ]  # fmt: skip
    text = "".join(json.dumps(e) + "\n" for e in ev)
    if broken:
        text += '{"event_type": "flow", "src_ip": \n'
    return text.encode()


@pytest.fixture
def env(tmp_path):
    return make_env(tmp_path)


# -- recognising the files -------------------------------------------------------------------------------
def test_sniff_tells_logs_from_captures_and_meter_files(tmp_path):
    conn, ssl = zeek_pair(tmp_path)
    assert sniff(conn) == sniff(ssl) == "zeek-tsv"
    zj = tmp_path / "conn.json"
    zj.write_text(json.dumps({"ts": T0, "uid": "C1", "id.orig_h": "172.16.0.1", "id.orig_p": 1,
                              "id.resp_h": "198.51.100.1", "id.resp_p": 2, "proto": "tcp"}) + "\n")  # fmt: skip
    assert sniff(zj) == "zeek-json"
    eve = tmp_path / "eve.json"
    eve.write_bytes(eve_lines())
    assert sniff(eve) == "eve"
    gz = tmp_path / "eve.json.gz"
    gz.write_bytes(gzip.compress(eve_lines()))
    assert sniff(gz) == "eve"
    meter = tmp_path / "m.csv"
    meter.write_text("meter_id,timestamp,kw\nM1,2024-01-01T00:00:00Z,3.5\n")
    assert sniff(meter) == "meter"
    cap = tmp_path / "x.pcap"
    cap.write_bytes(b"\xd4\xc3\xb2\xa1" + b"\0" * 20)
    assert sniff(cap) == "capture"
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x00\xff\xfe\x01" * 10)
    with pytest.raises(InputError) as e:
        sniff(junk)
    assert "flow log" in str(e.value) and "byte 0" in str(e.value)


# -- through the API and the pages ------------------------------------------------------------------------
def test_zeek_conn_and_ssl_uploaded_together_find_the_pool_session(env, tmp_path):
    conn, ssl = zeek_pair(tmp_path)
    an = env.api("analyst")
    files = [("file", ("conn.log", conn.read_bytes(), "text/plain")), ("file", ("ssl.log", ssl.read_bytes(), "text/plain"))]
    r = an.post("/api/v1/uploads", files=files)
    assert r.status_code == 202, r.text
    job = env.app.state.jobs.wait(r.json()["job_id"], timeout=120)
    assert job.state == "done", job.error
    got = an.get(f"/api/v1/jobs/{job.job_id}").json()
    assert got["kind"] == "zeek-tsv" and got["percent"] == 100.0 and got["done_bytes"] == got["size_bytes"]
    assert [f["filename"] for f in got["files"]] == ["conn.log", "ssl.log"]
    assert any("read 2 connection(s)" in n and "2 TLS name(s)" in n for n in got["notes"])
    assert got["findings"] == 1 and got["new_findings"] == 1
    found = an.get("/api/v1/findings", params={"ip": "172.16.5.21"}).json()
    assert found["total"] == 1
    f = found["items"][0]
    assert f["kind"] == "mining" and f["sni"] == POOL_SNI and f["source"] == "conn.log"
    assert an.get("/api/v1/findings", params={"ip": "172.16.5.22"}).json()["total"] == 0  # the web visit is not mining
    # the same conn.log uploaded again is recognised by the import ledger, not scanned a second time
    r = an.post("/api/v1/uploads", files={"file": ("again-conn.log", conn.read_bytes())})
    again = env.app.state.jobs.wait(r.json()["job_id"], timeout=120)
    assert again.state == "done" and again.new_findings == 0 and any("already imported" in n for n in again.notes)
    # a conn.log alone (new content) has no names: nothing to call mining, and the job says what it read
    alone = conn.read_bytes().replace(b"#open\t2023-11-14-22-13-20", b"#open\t2023-11-14-22-13-21")
    r = an.post("/api/v1/uploads", files={"file": ("only-conn.log", alone)})
    job2 = env.app.state.jobs.wait(r.json()["job_id"], timeout=120)
    assert job2.state == "done" and job2.findings == 0, (job2.error, job2.notes)


def test_eve_upload_through_the_page_reports_rejects_and_the_alert(env):
    c = env.login("analyst")
    tok = csrf_of(c.get("/upload").text)
    r = c.post("/upload", data={"csrf": tok}, files={"file": ("eve.json", eve_lines(), "application/json")})
    assert r.status_code == 303 and r.headers["location"].startswith("/jobs/")
    job = env.app.state.jobs.wait(r.headers["location"].rsplit("/", 1)[1], timeout=120)
    assert job.state == "done", job.error
    assert job.kind == "eve" and job.findings == 1 and job.rejected == 1
    page = c.get(f"/jobs/{job.job_id}")
    assert 'id="job-kind">Suricata EVE log' in page.text and "1 rejected" in page.text
    assert "eve.json:4" in page.text  # the broken line, named by the uploaded file and its line
    assert str(env.data_dir) not in page.text and job.sha256 not in page.text.replace(f"/jobs/{job.job_id}", "")
    assert page.text.count('class="finding-link"') == 1
    f = env.api("viewer").get("/api/v1/findings", params={"ip": "172.16.9.9"}).json()["items"][0]
    assert "ids_alert" in f["subscores"] and f["source"] == "eve.json"
    zh = c.get(f"/jobs/{job.job_id}", params={"lang": "zh"}).text
    assert "Suricata EVE 日志" in zh and "拒收 1 行" in zh and "读取连接 1 条" in zh


def test_names_without_connections_say_so(env, tmp_path):
    _, ssl = zeek_pair(tmp_path)
    r = env.api("analyst").post("/api/v1/uploads", files={"file": ("ssl.log.gz", gzip.compress(ssl.read_bytes()))})
    job = env.app.state.jobs.wait(r.json()["job_id"], timeout=60)
    assert job.state == "done" and job.kind == "zeek-tsv" and job.findings == 0
    assert any("no connection records" in n for n in job.notes)


def test_log_uploads_need_the_analyst_role_and_the_csrf_token(env, tmp_path):
    conn, _ = zeek_pair(tmp_path)
    assert env.api("viewer").post("/api/v1/uploads", files={"file": ("conn.log", conn.read_bytes())}).status_code == 403
    v = env.login("viewer")
    tok = csrf_of(v.get("/upload").text)
    assert v.post("/upload", data={"csrf": tok}, files={"file": ("conn.log", conn.read_bytes())}).status_code == 403
    a = env.login("analyst")
    a.get("/upload")
    assert a.post("/upload", files={"file": ("conn.log", conn.read_bytes())}).status_code == 403
    assert a.post("/upload", data={"csrf": "forged"}, files={"file": ("conn.log", conn.read_bytes())}).status_code == 403
    assert env.app.state.jobs.jobs == {}


def test_too_many_files_in_one_upload_are_refused(env):
    files = [("file", (f"f{i}.log", f"#fields\tts\tuid\n{i}\tC{i}\n".encode())) for i in range(21)]
    r = env.api("analyst").post("/api/v1/uploads", files=files)
    assert r.status_code == 400 and "at most 20 files" in r.json()["detail"]
    assert list((env.data_dir / "uploads").glob("*")) == []  # nothing kept from a refused upload


def test_log_progress_is_reported_by_bytes(env, tmp_path, monkeypatch):
    """The readers report their position in the file; the job adds the bytes of the files already read,
    so the bar moves across several logs without going back."""
    from minewatch.net import logscan

    seen: list[tuple[str, int, int, int]] = []
    real = logscan.FlowLogScanner.add_file

    def add_file(self, path, fmt, *, start_line=0, flows=True, progress=None, source=None):
        def spy(pos: int, size: int) -> None:
            progress(pos, size)
            seen.append((Path(path).name, pos, size, next(iter(env.app.state.jobs.jobs.values())).done_bytes))

        return real(self, path, fmt, start_line=start_line, flows=flows, progress=spy, source=source)

    monkeypatch.setattr(logscan.FlowLogScanner, "add_file", add_file)
    conn, ssl = zeek_pair(tmp_path)
    files = [("file", ("conn.log", conn.read_bytes())), ("file", ("ssl.log", ssl.read_bytes()))]
    r = env.api("analyst").post("/api/v1/uploads", files=files)
    job = env.app.state.jobs.wait(r.json()["job_id"], timeout=120)
    assert job.state == "done", job.error
    a, b = conn.stat().st_size, ssl.stat().st_size
    by_file: dict[str, list[tuple[int, int, int]]] = {}
    for name, pos, size, done in seen:
        by_file.setdefault(name, []).append((pos, size, done))
    assert len(by_file) == 2, seen  # both logs reported progress (stored under their hashes)
    first, second = sorted(by_file.values(), key=lambda v: v[0][1] != a)  # conn.log is read first
    assert first[-1][0] == a and {s for _, s, _ in first} == {a}
    assert second[-1][0] == b and {s for _, s, _ in second} == {b}
    assert [d for _, _, d in first + second] == sorted(d for _, _, d in first + second)  # never goes back
    assert second[-1][2] == a + b
    assert job.done_bytes == a + b and job.findings == 1


def test_collector_parquet_upload_reports_timing_from_one_way_slices(env, tmp_path):
    """A file of `minewatch collect` (one-way NetFlow records sliced by a 60 s active timeout)."""
    from test_flows_oneway import _collector_dir, _oneway_sessions

    sessions = list(_oneway_sessions(3, 3, seed=3))
    parts = sorted(_collector_dir(tmp_path, sessions).glob("date=*/hour=*/*.parquet"))
    assert 1 < len(parts) <= 20  # hourly partitions: a connection may span two files, read together
    an = env.api("analyst")
    files = [("file", (f"flows-{i}.parquet", p.read_bytes(), "application/octet-stream")) for i, p in enumerate(parts)]
    r = an.post("/api/v1/uploads", files=files)
    assert r.status_code == 202, r.text
    job = env.app.state.jobs.wait(r.json()["job_id"], timeout=120)
    assert job.state == "done", job.error
    assert job.kind == "netflow-parquet"
    mining = {f"10.0.1.{i + 2}" for i, (sc, _) in enumerate(sessions) if sc.label}
    items = an.get("/api/v1/findings", params={"limit": 50}).json()["items"]
    assert items and {f["src_ip"] for f in items} <= mining
    assert all(f["detector"] == "net.behavior" and f["source"].startswith("flows-") for f in items)


def test_excel_meter_workbook_upload_finds_the_rig(env, tmp_path):
    # a 96-point workbook (one sheet per month, time-formatted header cells) as a grid inspector has it
    from test_power_readers_layouts import _xlsx_96

    book = tmp_path / "负荷.xlsx"
    _xlsx_96(book, {"三月": (date(2024, 3, 1), 31), "四月": (date(2024, 4, 1), 30)}, rig_meter=2)
    assert sniff(book) == "meter"
    an = env.api("analyst")
    r = an.post("/api/v1/uploads", files={"file": ("负荷.xlsx", book.read_bytes(),
                                                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")})
    assert r.status_code == 202, r.text
    job = env.app.state.jobs.wait(r.json()["job_id"], timeout=120)
    assert job.state == "done", job.error
    got = an.get("/api/v1/findings", params={"meter_id": "310002"}).json()
    assert got["total"] == 1 and got["items"][0]["kind"] == "mining"
    assert an.get("/api/v1/findings", params={"meter_id": "310000"}).json()["total"] == 0


def test_capture_from_a_mirror_tunnel_upload_names_the_tunnel(env, tmp_path):
    from minewatch.synth.pcapwriter import LinkSpec, Pkt, encapsulate, write_capture
    from minewatch.synth.scenario import ScenarioSpec, SessionSpec, build_scenario

    miner = SessionSpec("xmrig", "10.1.0.7", "198.18.0.7", 1, 600, 3333,
                        kwargs={"worker": "pc7", "hashrate": 9000.0, "difficulty": 50000.0})
    pkts, _ = build_scenario(ScenarioSpec([miner], seed=5))
    wrapped = [Pkt(p.ts_ns, encapsulate(p.data, "erspan2", "192.0.2.1", "192.0.2.2")) for p in pkts]
    cap = write_capture(tmp_path / "span.pcap", wrapped, "pcap", LinkSpec())
    an = env.api("analyst")
    r = an.post("/api/v1/uploads", files={"file": ("span.pcap", cap.read_bytes(), "application/octet-stream")})
    job = env.app.state.jobs.wait(r.json()["job_id"], timeout=120)
    assert job.state == "done", job.error
    assert any(f"{len(pkts):,} packets were read from inside tunnels (erspan {len(pkts):,})" in n for n in job.notes)
    assert any("隧道" in n for n in job.notes_zh)
    found = an.get("/api/v1/findings", params={"ip": "10.1.0.7"}).json()
    assert found["total"] == 1 and found["items"][0]["worker"] == "pc7"


@pytest.mark.parametrize("enc", ["utf-8", "gb18030"])
def test_meter_files_with_a_chinese_header_are_meter_files(tmp_path, enc):
    p = tmp_path / f"m-{enc}"
    p.write_bytes(("电表编号,采集时间,有功功率\n" + "".join(f"M1,2024-03-01 {h:02d}:00:00,1.5\n" for h in range(24)))
                  .encode(enc))
    assert sniff(p) == "meter"


def test_resolver_log_upload_with_its_clock(env, tmp_path):
    log = ("Nov 22 06:00:05 gw dnsmasq[311]: query[A] btc.viabtc.io from 192.168.1.20\n"
           "Nov 22 07:00:05 gw dnsmasq[311]: query[A] btc.viabtc.io from 192.168.1.20\n"
           "Nov 22 08:00:05 gw dnsmasq[311]: query[A] btc.viabtc.io from 192.168.1.20\n")
    assert sniff(_write_text(tmp_path / "dnsmasq.log", log)) == "resolver-log"
    an = env.api("analyst")
    r = an.post("/api/v1/uploads", files={"file": ("dnsmasq.log", log.encode(), "text/plain")}, data={"tz_offset": "8"})
    assert r.status_code == 202, r.text
    job = env.app.state.jobs.wait(r.json()["job_id"], timeout=60)
    assert job.state == "done" and job.kind == "resolver-log" and job.tz_offset == 8.0
    (f,) = an.get("/api/v1/findings", params={"ip": "192.168.1.20"}).json()["items"]
    assert f["detector"] == "net.dns" and f["first_seen"].endswith("22:00:05Z")  # 06:00 at UTC+8
    assert an.post("/api/v1/uploads", files={"file": ("x.log", log.encode())}, data={"tz_offset": "30"}).status_code == 422


def _write_text(p: Path, text: str) -> Path:
    p.write_text(text)
    return p


def test_a_capture_imported_before_explains_the_lookups_of_a_later_resolver_log(env, tmp_path):
    # review 9: the stored findings of a capture uploaded earlier must cover its miner's lookups, as in the CLI
    from minewatch.synth.scenario import write_demo_capture

    cap = write_demo_capture(tmp_path / "demo.pcap")
    an = env.api("analyst")
    j1 = env.app.state.jobs.wait(an.post("/api/v1/uploads", files={"file": ("demo.pcap", cap.read_bytes())})
                                 .json()["job_id"], timeout=120)
    assert j1.state == "done"
    log = "".join(f"22-Nov-2026 0{h}:00:05.123 client 10.20.1.16#53211 (pool.supportxmr.com): query: "
                  "pool.supportxmr.com IN A + (10.0.0.1)\n" for h in range(4))
    files = [("file", ("demo.pcap", cap.read_bytes())), ("file", ("named.log", log.encode()))]
    j2 = env.app.state.jobs.wait(an.post("/api/v1/uploads", files=files).json()["job_id"], timeout=120)
    assert j2.state == "done", j2.error
    items = an.get("/api/v1/findings", params={"ip": "10.20.1.16", "limit": 50}).json()["items"]
    assert items and not [f for f in items if f["detector"] == "net.dns"]


def test_a_capture_of_flow_exports_upload_reads_them_as_collector_output(env, tmp_path):
    from test_flows_sflow import exports_capture

    cap = exports_capture(tmp_path / "exports.pcap")
    an = env.api("analyst")
    r = an.post("/api/v1/uploads", files={"file": ("exports.pcap", cap.read_bytes(), "application/octet-stream")})
    job = env.app.state.jobs.wait(r.json()["job_id"], timeout=120)
    assert job.state == "done", job.error
    assert any("6 flow export datagram(s) (NetFlow, IPFIX, sFlow) in the capture gave 93 record(s)" in n
               for n in job.notes)
    assert any("流导出数据报" in n for n in job.notes_zh)
    found = an.get("/api/v1/findings", params={"ip": "10.1.2.3"}).json()
    assert found["total"] == 1 and found["items"][0]["dst_port"] == 3333
    assert found["items"][0]["source"] == "exports.pcap"
