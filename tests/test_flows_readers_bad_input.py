"""Flow-log readers on hostile input: one bad line costs that line only, damaged files keep what came
before the damage, and nothing is turned into a fake value (a missing time stays null, not 1970)."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from minewatch.cli import app
from minewatch.errors import InputError, Rejects
from minewatch.model import FLOW_SCHEMA
from minewatch.net.logscan import FlowLogScanner
from minewatch.sources.eve import iter_eve
from minewatch.sources.zeek import _unescape, parse_time_us, read_zeek, sniff_format
from test_flows_readers import CONN_FIELDS, CONN_TYPES, conn_line, tsv_header

T0 = 1_700_000_000.0


def conn_json(i: int, **over: object) -> dict[str, object]:
    row: dict[str, object] = {"ts": T0 + i, "uid": f"C{i}", "id.orig_h": "10.0.0.5", "id.orig_p": 40000 + i,
                              "id.resp_h": "198.51.100.7", "id.resp_p": 3333, "proto": "tcp", "duration": 600.0,
                              "orig_bytes": 1000, "resp_bytes": 2000, "orig_pkts": 10, "resp_pkts": 12,
                              "conn_state": "SF"}  # fmt: skip
    row.update(over)
    return row


def write_json_lines(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def read_all(path):
    rejects = Rejects()
    reader = read_zeek(path, rejects=rejects)
    rows = [r for b in reader for r in b.to_pylist()]
    return rows, rejects


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"orig_pkts": 2**64}, "out of range"),
        ({"id.orig_p": 2**40}, "out of range"),
        ({"orig_pkts": 1e300}, "out of range"),
        ({"orig_bytes": -5}, "out of range"),
        ({"ts": 3e14}, "time out of range"),  # read as epoch milliseconds: year 11476
        ({"duration": -5.0}, "duration"),
    ],
)
def test_a_value_that_cannot_be_a_count_port_or_time_costs_only_its_line(tmp_path, bad, reason):
    path = write_json_lines(tmp_path / "conn.log", [conn_json(1), conn_json(2, **bad), conn_json(3)])
    rows, rejects = read_all(path)
    assert [r["src_port"] for r in rows] == [40001, 40003]
    assert rejects.total == 1 and reason in next(iter(rejects.counts))
    assert rejects.examples[0].startswith(f"{path}:2")


def test_eve_out_of_range_values_are_rejected_per_line(tmp_path):
    def flow(i, **over):
        d = {"timestamp": "2023-11-14T22:13:20Z", "event_type": "flow", "src_ip": "10.0.0.5", "src_port": 40000 + i,
             "dest_ip": "198.51.100.7", "dest_port": 3333, "proto": "TCP",
             "flow": {"start": "2023-11-14T22:13:20Z", "end": "2023-11-14T22:23:20Z", "pkts_toserver": 10,
                      "pkts_toclient": 12, "bytes_toserver": 1000, "bytes_toclient": 2000}}  # fmt: skip
        for k, v in over.items():
            (d["flow"] if k.startswith("flow.") else d)[k.removeprefix("flow.")] = v
        return d

    alert = {"timestamp": "2023-11-14T22:13:20Z", "event_type": "alert", "src_ip": "10.0.0.5", "src_port": 1,
             "dest_ip": "198.51.100.7", "dest_port": 3333, "proto": "TCP",
             "alert": {"signature": "ET COINMINER x", "signature_id": 1, "severity": 2**33}}  # fmt: skip
    path = write_json_lines(tmp_path / "eve.json", [
        flow(1), flow(2, **{"flow.bytes_toserver": 2**63}), flow(3, src_port=40001.9), flow(4, src_port=2**40),
        alert, flow(5)])  # fmt: skip
    rejects = Rejects()
    got = {et: [r for b in bs for r in b.to_pylist()] for et, bs in _group(iter_eve(path, rejects=rejects)).items()}
    assert [r["src_port"] for r in got["flow"]] == [40001, 40005]
    assert "alert" not in got
    assert rejects.total == 4
    assert sorted(int(e.split(":")[1]) for e in rejects.examples) == [2, 3, 4, 5]


def _group(pairs):
    out: dict[str, list[pa.RecordBatch]] = {}
    for et, b in pairs:
        out.setdefault(et, []).append(b)
    return out


def test_a_row_arrow_still_refuses_costs_only_that_row(tmp_path, monkeypatch):
    """The last line of defence: a value the line checks let through but the column refuses."""
    import minewatch.sources.zeek as Z

    real = Z.conn_row

    def sloppy(d, source):
        row = real(d, source)
        if d.get("uid") == "C2":
            row["packets_fwd"] = "not a number"  # what a missed check would let through
        return row

    monkeypatch.setattr(Z, "conn_row", sloppy)
    path = write_json_lines(tmp_path / "conn.log", [conn_json(1), conn_json(2), conn_json(3)])
    rows, rejects = read_all(path)
    assert [r["src_port"] for r in rows] == [40001, 40003]
    assert rejects.total == 1 and rejects.examples[0].startswith(f"{path}:2")


def test_truncated_gzip_keeps_what_came_before_the_damage(tmp_path):
    body = tsv_header("conn", CONN_FIELDS, CONN_TYPES) + "".join(
        conn_line(T0 + i, 40000 + i, "600.0", "1000", "(empty)") for i in range(3000))
    blob = gzip.compress(body.encode())
    path = tmp_path / "conn.log.gz"
    path.write_bytes(blob[: len(blob) * 2 // 3])
    scanner = FlowLogScanner(None)
    with pytest.raises(InputError, match="cannot read further"):
        scanner.add_file(path, "zeek-tsv")
    kept = scanner.counts["flows"]
    assert 1000 < kept < 3000  # the lines before the cut, not zero


def test_a_damaged_log_is_not_recorded_as_imported(tmp_path, tmp_home):
    lines = [json.dumps(conn_json(i)) for i in range(2000)]
    blob = gzip.compress(("\n".join(lines) + "\n").encode())
    path = tmp_path / "conn.2024-01-01-00-00-00.log.gz"
    path.write_bytes(blob[: len(blob) // 2])
    db = tmp_path / "s.duckdb"
    runner = CliRunner()
    first = runner.invoke(app, ["scan", str(path), "--db", str(db), "-q"])
    second = runner.invoke(app, ["scan", str(path), "--db", str(db), "-q"])
    for r in (first, second):
        assert "cannot read further" in r.stderr and "already imported" not in r.stderr
        assert " 0 flows" not in r.stderr


def test_sniffing_looks_past_a_long_first_event_and_a_non_object_line(tmp_path):
    stats = {"timestamp": "2023-11-14T22:13:20Z", "event_type": "stats", "stats": {"x": "y" * 20_000}}
    tls = {"timestamp": "2023-11-14T22:13:21Z", "event_type": "tls", "src_ip": "10.0.0.5", "src_port": 1,
           "dest_ip": "198.51.100.7", "dest_port": 443, "tls": {"sni": "pool.example.net"}}  # fmt: skip
    a = write_json_lines(tmp_path / "a.json", [stats, tls])
    b = write_json_lines(tmp_path / "b.json", ["[]", tls])
    c = write_json_lines(tmp_path / "c.json", [{"note": "metadata"}, conn_json(1)])
    assert sniff_format(a) == "eve" and sniff_format(b) == "eve" and sniff_format(c) == "zeek-json"
    huge = write_json_lines(tmp_path / "d.json", [{**stats, "stats": {"x": "y" * 1_500_000}}, tls])  # > 1 MB line
    assert sniff_format(huge) == "eve"


def test_bare_zeek_header_lines_do_not_crash(tmp_path):
    body = tsv_header("conn", CONN_FIELDS, CONN_TYPES).replace("#path\tconn\n", "#path\n").replace(
        "#separator \\x09\n", "#separator \\x09\n#separator \n") + conn_line(T0, 40001, "600.0", "1000", "(empty)")
    path = tmp_path / "conn.log"
    path.write_text(body)
    rows, rejects = read_all(path)
    assert [r["src_port"] for r in rows] == [40001]
    assert rejects.total == 1 and "#separator without a value" in next(iter(rejects.counts))


def test_a_second_log_type_in_one_file_is_not_read_as_the_first(tmp_path):
    dns_fields = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "query", "answers"]
    dns_types = ["time", "string", "addr", "port", "addr", "port", "enum", "string", "vector[string]"]
    body = (tsv_header("conn", CONN_FIELDS, CONN_TYPES) + conn_line(T0, 40001, "600.0", "1000", "(empty)")
            + tsv_header("dns", dns_fields, dns_types)
            + "\t".join([f"{T0:.6f}", "D1", "10.0.0.5", "5000", "10.0.0.1", "53", "udp", "a.example", "1.2.3.4"])
            + "\n")  # fmt: skip
    path = tmp_path / "mixed.log"
    path.write_text(body)
    rows, rejects = read_all(path)
    assert [r["src_port"] for r in rows] == [40001]
    assert rejects.total == 1 and "dns lines inside a conn log" in next(iter(rejects.counts))


def test_zeek_escapes_are_utf8_bytes_and_iso_times_exact():
    assert _unescape(r"\xe4\xb8\xad.pool.cn") == "中.pool.cn"
    assert _unescape(r"tab\x09here") == "tab\there"
    assert parse_time_us("1987-05-17T08:49:36.034035Z") == 548_239_776_034_035
    with pytest.raises(ValueError, match="out of range"):
        parse_time_us("10000000000000000")


def test_a_flow_without_times_keeps_null_times_in_its_finding(tmp_path, tmp_home):
    eve = write_json_lines(tmp_path / "eve.json", [
        {"timestamp": "2023-11-14T22:13:20Z", "event_type": "flow", "src_ip": "10.0.0.5", "src_port": 40001,
         "dest_ip": "198.51.100.7", "dest_port": 3333, "proto": "TCP",
         "flow": {"pkts_toserver": 10, "pkts_toclient": 12, "bytes_toserver": 1000, "bytes_toclient": 2000}},
        {"timestamp": "2023-11-14T22:13:20Z", "event_type": "tls", "src_ip": "10.0.0.5", "src_port": 40001,
         "dest_ip": "198.51.100.7", "dest_port": 3333, "tls": {"sni": "xmr.2miners.com"}},
    ])  # fmt: skip
    r = CliRunner().invoke(app, ["scan", str(eve), "--format", "jsonl", "--no-store", "-q"])
    rows = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert rows and all(x["first_seen"] is None and x["last_seen"] is None for x in rows)
    assert "1970" not in r.stdout


def test_x509_log_given_after_ssl_log_names_the_certificate(tmp_path, tmp_home):
    fp = "a1b2c3"
    conn = write_json_lines(tmp_path / "conn.log", [conn_json(1, **{"id.resp_p": 14433, "duration": 5400.0})])
    ssl = write_json_lines(tmp_path / "ssl.log", [
        {"ts": T0 + 1, "uid": "C1", "id.orig_h": "10.0.0.5", "id.orig_p": 40001, "id.resp_h": "198.51.100.7",
         "id.resp_p": 14433, "version": "TLSv13", "server_name": "xmr-eu1.nanopool.org", "established": True,
         "cert_chain_fps": [fp]}])  # fmt: skip
    x509 = write_json_lines(tmp_path / "x509.log", [
        {"ts": T0 + 1, "fingerprint": fp, "certificate.subject": "CN=proxy", "certificate.issuer": "CN=proxy",
         "certificate.serial": "01"}])  # fmt: skip
    r = CliRunner().invoke(app, ["scan", str(conn), str(ssl), str(x509), "--format", "jsonl", "--no-store", "-q"])
    rows = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    ctx = [e for x in rows for e in x["evidence"] if e["code"] == "tls.context"]
    assert ctx and "certificate CN=proxy (self-signed)" in ctx[0]["text"]


def test_summary_names_rejected_lines_and_counts_names_without_connections(tmp_path, tmp_home):
    dns = write_json_lines(tmp_path / "dns.log", [
        {"ts": T0, "uid": "D1", "id.orig_h": "10.0.0.5", "id.orig_p": 5353, "id.resp_h": "10.0.0.53", "id.resp_p": 53,
         "proto": "udp", "query": "a.example", "qtype_name": "A", "rcode_name": "NOERROR", "answers": ["1.2.3.4"],
         "TTLs": [60.0]},
        "{not json",
    ])  # fmt: skip
    r = CliRunner().invoke(app, ["scan", str(dns), "--no-store", "-q"])
    assert r.exit_code == 0, r.output
    assert "1 DNS answers" in r.stderr
    assert f"{dns}:2" in r.stderr and "not valid JSON" in r.stderr


def test_flow_schema_is_what_the_reader_writes(tmp_path):
    rows, _ = read_all(write_json_lines(tmp_path / "conn.log", [conn_json(1)]))
    assert set(rows[0]) == set(FLOW_SCHEMA.names)
