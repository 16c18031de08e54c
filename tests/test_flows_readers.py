"""Zeek and Suricata EVE readers, format sniffing and the content-keyed import ledger."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from minewatch.errors import InputError, Rejects
from minewatch.model import DNS_SCHEMA, FLOW_SCHEMA
from minewatch.sources.eve import ALERT_SCHEMA, read_eve
from minewatch.sources.ledger import ImportLedger
from minewatch.sources.zeek import (
    TLS_SCHEMA,
    log_type_from_name,
    parse_time_us,
    read_zeek,
    sniff_format,
    x509_index,
)

T0 = 1_700_000_000.25  # 2023-11-14T22:13:20.25Z


def us(x: float) -> int:
    return round(x * 1_000_000)


def ts(x: float) -> datetime:
    return datetime.fromtimestamp(x, tz=UTC)


CONN_FIELDS = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "service", "duration", "orig_bytes", "resp_bytes", "conn_state", "local_orig", "local_resp", "missed_bytes", "history", "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes", "tunnel_parents"]
CONN_TYPES = ["time", "string", "addr", "port", "addr", "port", "enum", "string", "interval", "count", "count", "string", "bool", "bool", "count", "string", "count", "count", "count", "count", "set[string]"]


def tsv_header(path: str, fields: list[str], types: list[str]) -> str:
    return (
        "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n"
        f"#path\t{path}\n#open\t2023-11-14-22-13-20\n#fields\t" + "\t".join(fields) + "\n#types\t"
        + "\t".join(types) + "\n"
    )


def conn_line(t: float, orig_p: int, duration: str, ob: str, tunnel: str) -> str:
    vals = [f"{t:.6f}", "C1", "10.0.0.5", str(orig_p), "198.51.100.7", "3333", "tcp", "-", duration, ob, "2048",
            "SF", "-", "-", "0", "ShADadFf", "40", "4000", "38", "5000", tunnel]
    return "\t".join(vals) + "\n"


def test_zeek_tsv_conn_two_header_blocks_gzip_rotated_name(tmp_path):
    text = tsv_header("conn", CONN_FIELDS, CONN_TYPES)
    text += conn_line(T0, 40001, "120.5", "1024", "(empty)")
    text += conn_line(T0 + 1, 40002, "-", "-", "Cparent1,Cparent2")
    text += "#close\t2023-11-14-23-00-00\n"
    # second block with a reordered column set (as after a Zeek restart with another script set)
    f2 = ["ts", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "duration", "orig_pkts"]
    t2 = ["time", "addr", "port", "addr", "port", "enum", "interval", "count"]
    text += tsv_header("conn", f2, t2)
    text += "\t".join([f"{T0 + 2:.6f}", "10.0.0.6", "5353", "224.0.0.251", "5353", "udp", "0.5", "3"]) + "\n"
    text += "this line is broken\n"
    p = tmp_path / "conn.00:10:00-00:20:00.log.gz"
    p.write_bytes(gzip.compress(text.encode()))
    assert sniff_format(p) == "zeek-tsv"
    seen: list[tuple[int, int]] = []
    r = read_zeek(p, progress=lambda done, total: seen.append((done, total)))
    assert r.log_type == "conn"
    t = pa.Table.from_batches(list(r), schema=FLOW_SCHEMA)
    assert t.num_rows == 3
    rows = t.to_pylist()
    assert rows[0]["first_seen"] == ts(T0) and rows[0]["duration_ms"] == pytest.approx(120_500)
    assert rows[0]["last_seen"] == ts(T0 + 120.5)
    assert rows[0]["payload_bytes_fwd"] == 1024 and rows[0]["bytes_fwd"] == 4000 and rows[0]["packets_rev"] == 38
    # "-" stays null, never 0
    assert rows[1]["duration_ms"] is None and rows[1]["last_seen"] is None and rows[1]["payload_bytes_fwd"] is None
    assert rows[1]["application"] is None
    assert rows[2]["transport"] == "udp" and rows[2]["packets_fwd"] == 3 and rows[2]["bytes_fwd"] is None
    assert r.rejects.total == 1 and r.rejects.examples[0].startswith(f"{p}:21:")
    assert seen and seen[-1] == (p.stat().st_size, p.stat().st_size)


def test_zeek_json_epoch_millis_iso_and_underscored_keys(tmp_path):
    base = {"uid": "C1", "proto": "tcp", "conn_state": "SF", "orig_pkts": 10, "resp_pkts": 9,
            "orig_ip_bytes": 900, "resp_ip_bytes": 800}
    lines = [
        {**base, "ts": T0, "id.orig_h": "10.0.0.5", "id.orig_p": 1, "id.resp_h": "192.0.2.1", "id.resp_p": 3333,
         "duration": 2.0},
        {**base, "ts": int(T0 * 1000), "id_orig_h": "10.0.0.5", "id_orig_p": 2, "id_resp_h": "192.0.2.1",
         "id_resp_p": 3333},
        {**base, "ts": "2023-11-14T22:13:20.250000Z", "id": {"orig_h": "10.0.0.5", "orig_p": 3,
                                                              "resp_h": "192.0.2.1", "resp_p": 3333}},
    ]
    p = tmp_path / "whatever.json"
    p.write_text("\n".join(json.dumps(x) for x in lines) + "\n{not json\n[1,2]\n")
    assert sniff_format(p) == "zeek-json"
    r = read_zeek(p)
    assert r.log_type == "conn"
    rows = pa.Table.from_batches(list(r)).to_pylist()
    assert [x["src_port"] for x in rows] == [1, 2, 3]
    assert {x["first_seen"] for x in rows} == {ts(T0)}
    assert rows[0]["duration_ms"] == 2000.0 and rows[1]["duration_ms"] is None  # omitted = unset = null
    assert rows[2]["dst_ip"] == "192.0.2.1"
    assert r.rejects.total == 2 and all("malformed conn line" in e for e in r.rejects.examples)
    assert [e.split(":")[1] for e in r.rejects.examples] == ["4", "5"]


def test_zeek_dns_answers_ttls_and_empty_vs_unset(tmp_path):
    fields = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "query", "qtype", "qtype_name", "answers", "TTLs"]
    types = ["time", "string", "addr", "port", "addr", "port", "enum", "string", "count", "string", "vector[string]", "vector[interval]"]
    text = tsv_header("dns", fields, types)
    text += "\t".join([f"{T0}", "D1", "10.0.0.5", "5000", "10.0.0.1", "53", "udp", "xmr.pool.example", "1", "A",
                       "203.0.113.1,203.0.113.2", "60.0,30.0"]) + "\n"
    text += "\t".join([f"{T0}", "D2", "10.0.0.5", "5001", "10.0.0.1", "53", "udp", "nx.example", "1", "A",
                       "(empty)", "(empty)"]) + "\n"
    text += "\t".join([f"{T0}", "D3", "10.0.0.5", "5002", "10.0.0.1", "53", "udp", "x.example", "1", "A",
                       "-", "-"]) + "\n"
    p = tmp_path / "dns.log"
    p.write_text(text)
    r = read_zeek(p)
    rows = pa.Table.from_batches(list(r), schema=DNS_SCHEMA).to_pylist()
    assert rows[0]["answers"] == ["203.0.113.1", "203.0.113.2"] and rows[0]["ttl_s"] == 30.0
    assert rows[0]["qtype"] == "A" and rows[0]["client_ip"] == "10.0.0.5"
    assert rows[1]["answers"] == [] and rows[1]["ttl_s"] is None
    assert rows[2]["answers"] is None


def test_zeek_ssl_joined_with_x509(tmp_path):
    x = tmp_path / "x509.log"
    x.write_text(json.dumps({"ts": T0, "fingerprint": "fp1", "certificate.subject": "CN=pool.example",
                             "certificate.issuer": "CN=Test CA", "san.dns": ["pool.example"]}) + "\n")
    s = tmp_path / "ssl.log"
    s.write_text(json.dumps({"ts": T0, "uid": "C9", "id.orig_h": "10.0.0.5", "id.orig_p": 40000,
                             "id.resp_h": "192.0.2.9", "id.resp_p": 443, "version": "TLSv13", "cipher": "X",
                             "server_name": "pool.example", "established": True, "cert_chain_fps": ["fp1"],
                             "ja3": "abc"}) + "\n")
    idx = x509_index(x)
    assert idx == {"fp1": ("CN=pool.example", "CN=Test CA")}
    r = read_zeek(s, x509=idx)
    assert r.log_type == "ssl"
    (row,) = pa.Table.from_batches(list(r), schema=TLS_SCHEMA).to_pylist()
    assert row["server_name"] == "pool.example" and row["cert_subject"] == "CN=pool.example"
    assert row["ja3"] == "abc" and row["ja3s"] is None and row["established"] is True and row["flow_key"] == "C9"


def test_log_type_from_rotated_names(tmp_path):
    from pathlib import Path

    assert log_type_from_name(Path("conn.00:10:00-00:20:00.log.gz")) == "conn"
    assert log_type_from_name(Path("dns.log")) == "dns"
    assert log_type_from_name(Path("ssl.2024-01-01-00-00-00.log")) == "ssl"
    assert log_type_from_name(Path("notes.txt")) is None


def test_parse_time_us_forms():
    assert parse_time_us(T0) == us(T0)
    assert parse_time_us(int(T0 * 1000)) == us(T0)
    assert parse_time_us("2023-11-14T23:13:20.25+0100") == us(T0)
    assert parse_time_us("-") is None and parse_time_us(None) is None


def eve(**kw) -> str:
    return json.dumps(kw)


def test_eve_flow_dns_v2_v3_tls_alert(tmp_path):
    env = {"src_ip": "10.0.0.5", "src_port": 40000, "dest_ip": "192.0.2.9", "dest_port": 443, "proto": "TCP"}
    lines = [
        eve(timestamp="2023-11-14T23:59:59.000000+0000", flow_id=1, event_type="flow", app_proto="tls",
            flow={"pkts_toserver": 10, "pkts_toclient": 8, "bytes_toserver": 1500, "bytes_toclient": 900,
                  "start": "2023-11-14T22:13:20.250000+0000", "end": "2023-11-14T22:23:20.250000+0000"},
            tcp={"tcp_flags_ts": "1b", "tcp_flags_tc": "1a"}, **env),
        eve(timestamp="2023-11-14T22:13:21+0000", event_type="dns", src_ip="10.0.0.5", src_port=5000,
            dest_ip="10.0.0.1", dest_port=53, proto="UDP", dns={"version": 2, "type": "query", "rrname": "a.example",
                                                                "rrtype": "A"}),
        eve(timestamp="2023-11-14T22:13:21+0000", event_type="dns", src_ip="10.0.0.1", src_port=53,
            dest_ip="10.0.0.5", dest_port=5000, proto="UDP",
            dns={"version": 2, "type": "answer", "rrname": "a.example", "rrtype": "A", "rcode": "NOERROR",
                 "answers": [{"rrname": "a.example", "rrtype": "A", "ttl": 120, "rdata": "203.0.113.1"}]}),
        eve(timestamp="2023-11-14T22:13:21+0000", event_type="dns", src_ip="10.0.0.1", src_port=53,
            dest_ip="10.0.0.5", dest_port=5001, proto="UDP",
            dns={"version": 2, "type": "answer", "rrname": "b.example", "rrtype": "A", "grouped": {"A": ["1.2.3.4"]}}),
        eve(timestamp="2023-11-14T22:13:22+0000", event_type="dns", src_ip="10.0.0.5", src_port=5002,
            dest_ip="10.0.0.1", dest_port=53, proto="UDP",
            dns={"version": 3, "type": "response", "rcode": "NOERROR",
                 "queries": [{"rrname": "c.example", "rrtype": "AAAA"}],
                 "answers": [{"rrname": "c.example", "rrtype": "AAAA", "ttl": 30, "rdata": "2001:db8::1"}]}),
        eve(timestamp="2023-11-14T22:13:22+0000", event_type="dns", src_ip="10.0.0.5", src_port=5003,
            dest_ip="10.0.0.1", dest_port=53, proto="UDP",
            dns={"version": 3, "type": "request", "rcode": "NOERROR", "queries": [{"rrname": "d.example",
                                                                                   "rrtype": "A"}]}),
        eve(timestamp="2023-11-14T22:13:20.5+0000", event_type="tls", flow_id=1,
            tls={"sni": "pool.example", "version": "TLS 1.3", "subject": "CN=pool.example", "issuerdn": "CN=CA",
                 "ja3": {"hash": "j3"}, "ja3s": {"hash": "j3s"}}, **env),
        eve(timestamp="2023-11-14T22:13:21+0000", event_type="alert", flow_id=1,
            alert={"action": "allowed", "signature_id": 2024792, "signature": "ET POLICY Cryptocurrency Miner",
                   "category": "Potential Corporate Privacy Violation", "severity": 1}, **env),
        eve(timestamp="2023-11-14T22:13:21+0000", event_type="stats", stats={}),
        '{"event_type": "flow", "flow": "oops"}',
        "not json at all",
    ]
    p = tmp_path / "eve.json.gz"
    p.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    assert sniff_format(p) == "eve"
    rej = Rejects()
    skipped: dict[str, int] = {}
    out = read_eve(p, rejects=rej, skipped=skipped)
    (flow,) = out["flow"].to_pylist()
    assert flow["first_seen"] == ts(T0) and flow["last_seen"] == ts(T0 + 600)  # not the record timestamp
    assert flow["duration_ms"] == 600_000 and flow["packets_fwd"] == 10 and flow["bytes_rev"] == 900
    assert flow["tcp_flags_fwd"] == 0x1B and flow["transport"] == "tcp" and flow["payload_bytes_fwd"] is None
    dns = out["dns"].to_pylist()
    assert [d["query"] for d in dns] == ["a.example", "a.example", "b.example", "c.example", "d.example"]
    assert dns[0]["answers"] is None and dns[1]["answers"] == ["203.0.113.1"] and dns[1]["ttl_s"] == 120
    assert dns[1]["client_ip"] == "10.0.0.5" and dns[1]["server_ip"] == "10.0.0.1"
    assert dns[2]["answers"] == ["1.2.3.4"] and dns[3]["qtype"] == "AAAA" and dns[3]["answers"] == ["2001:db8::1"]
    assert dns[4]["answers"] is None  # v3 request carries rcode but is not an answer
    (tls,) = out["tls"].to_pylist()
    assert (tls["server_name"], tls["ja3"], tls["ja3s"], tls["cert_issuer"]) == ("pool.example", "j3", "j3s", "CN=CA")
    (alert,) = out["alert"].to_pylist()
    assert alert["signature_id"] == 2024792 and alert["severity"] == 1 and alert["category"].startswith("Potential")
    assert out["alert"].schema == ALERT_SCHEMA
    assert skipped == {"stats": 1}
    assert rej.total == 2 and [e.split(":")[1] for e in rej.examples] == ["10", "11"]


def test_sniff_format_other_kinds(tmp_path):
    (tmp_path / "a.pcap").write_bytes(b"\xd4\xc3\xb2\xa1" + b"\0" * 20)
    (tmp_path / "b.pcapng").write_bytes(b"\x0a\x0d\x0d\x0a" + b"\0" * 20)
    (tmp_path / "c.txt").write_text("hello\n")
    (tmp_path / "d.tsv").write_text("ts\tuid\tid.orig_h\n1.0\tC1\t10.0.0.1\n")
    assert sniff_format(tmp_path / "a.pcap") == "pcap"
    assert sniff_format(tmp_path / "b.pcapng") == "pcapng"
    assert sniff_format(tmp_path / "c.txt") is None
    assert sniff_format(tmp_path / "d.tsv") == "zeek-tsv"
    with pytest.raises(InputError, match="not a Zeek log"):
        read_zeek(tmp_path / "c.txt")


def test_sniff_netflow_parquet(tmp_path):
    from minewatch.sources.collector import PartitionedWriter

    w = PartitionedWriter(tmp_path / "nf")
    w.add([{"src_ip": "10.0.0.1", "src_port": 1, "dst_ip": "10.0.0.2", "dst_port": 2, "proto": 6,
            "transport": "tcp", "packets": 1, "bytes": 40, "tcp_flags": 2, "start": us(T0), "end": us(T0),
            "sampling_interval": None, "exporter": "e", "observation_domain": 0, "version": 9, "sequence": 1,
            "template_id": 256, "extra": None}], us(T0), 0.0)
    w.flush()
    assert sniff_format(tmp_path / "nf") == "netflow-parquet"
    (part,) = (tmp_path / "nf").rglob("part-*.parquet")
    assert sniff_format(part) == "netflow-parquet"


def test_ledger_skip_resume_full(tmp_path):
    led = ImportLedger(tmp_path / "ledger.json")
    log = tmp_path / "conn.log"
    head = tsv_header("conn", CONN_FIELDS, CONN_TYPES)
    log.write_text(head + conn_line(T0, 1, "1.0", "1", "(empty)"))
    plan = led.plan(log)
    assert plan.action == "full"
    assert sum(b.num_rows for b in read_zeek(log, start_line=plan.start_line)) == 1
    led.record(log, plan, "zeek-tsv")
    # same content under another name: skipped
    copy = tmp_path / "copy.log"
    copy.write_bytes(log.read_bytes())
    assert ImportLedger(tmp_path / "ledger.json").plan(copy).action == "skip"
    # appended: resume reads only the new line
    with open(log, "a") as f:
        f.write(conn_line(T0 + 5, 2, "1.0", "1", "(empty)"))
    led = ImportLedger(tmp_path / "ledger.json")
    plan = led.plan(log)
    assert plan.action == "resume"
    rows = [r for b in read_zeek(log, start_line=plan.start_line) for r in b.to_pylist()]
    assert [r["src_port"] for r in rows] == [2]
    led.record(log, plan, "zeek-tsv")
    # rewritten in place with different content: full import
    log.write_text(head + conn_line(T0, 9, "1.0", "1", "(empty)"))
    assert ImportLedger(tmp_path / "ledger.json").plan(log).action == "full"
