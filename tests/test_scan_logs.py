"""`minewatch scan` on flow logs: Zeek conn/dns/ssl and Suricata EVE, joined by names and timings."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from minewatch.cli import app

T0 = 1_717_000_000.0


def zeek_json(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def conn(uid, orig, oport, resp, rport, start, duration, ob, rb, op, rp, service=None):
    return {"ts": start, "uid": uid, "id.orig_h": orig, "id.orig_p": oport, "id.resp_h": resp, "id.resp_p": rport,
            "proto": "tcp", "service": service, "duration": duration, "orig_bytes": ob, "resp_bytes": rb,
            "conn_state": "SF", "history": "ShADadFf", "orig_pkts": op, "resp_pkts": rp}


def write_logs(tmp_path):
    dns = zeek_json(tmp_path / "dns.log", [
        {"ts": T0, "uid": "D1", "id.orig_h": "10.0.0.5", "id.orig_p": 5353, "id.resp_h": "10.0.0.53", "id.resp_p": 53,
         "proto": "udp", "query": "btc.f2pool.com", "qtype_name": "A", "rcode_name": "NOERROR",
         "answers": ["45.77.1.10"], "TTLs": [600.0]},
        {"ts": T0, "uid": "D2", "id.orig_h": "10.0.0.9", "id.orig_p": 5354, "id.resp_h": "10.0.0.53", "id.resp_p": 53,
         "proto": "udp", "query": "www.example.org", "qtype_name": "A", "rcode_name": "NOERROR",
         "answers": ["93.184.1.1"], "TTLs": [600.0]},
    ])
    ssl = zeek_json(tmp_path / "ssl.log", [
        {"ts": T0 + 5, "uid": "C2", "id.orig_h": "10.0.0.6", "id.orig_p": 40002, "id.resp_h": "45.77.1.20",
         "id.resp_p": 14433, "version": "TLSv13", "server_name": "xmr-eu1.nanopool.org", "established": True},
        {"ts": T0 + 5, "uid": "C4", "id.orig_h": "10.0.0.8", "id.orig_p": 40004, "id.resp_h": "45.77.1.30",
         "id.resp_p": 443, "version": "TLSv13", "server_name": "www.f2pool.com", "established": True},
    ])
    cn = zeek_json(tmp_path / "conn.log", [
        conn("C1", "10.0.0.5", 40001, "45.77.1.10", 3333, T0 + 2, 7200.0, 900_000, 2_400_000, 9000, 9500),
        conn("C2", "10.0.0.6", 40002, "45.77.1.20", 14433, T0 + 5, 5400.0, 700_000, 1_900_000, 7000, 7400, "ssl"),
        conn("C3", "10.0.0.9", 40003, "93.184.1.1", 443, T0 + 1, 30.0, 20_000, 900_000, 60, 700, "ssl"),
        conn("C4", "10.0.0.8", 40004, "45.77.1.30", 443, T0 + 5, 12.0, 3_000, 80_000, 20, 70, "ssl"),
    ])
    return dns, ssl, cn


def test_zeek_logs_in_any_order_find_pool_sessions(tmp_path, tmp_home):
    dns, ssl, cn = write_logs(tmp_path)
    r = CliRunner().invoke(app, ["scan", str(cn), str(ssl), str(dns), "--format", "jsonl", "--no-store", "-q"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    by_port = {x["src_port"]: x for x in rows if x["kind"] == "mining"}
    assert set(by_port) == {40001, 40002}  # the pool's web site visit (C4) and plain web (C3) are not mining
    assert by_port[40001]["pool_host"] == "btc.f2pool.com"
    assert "pool_domain" in by_port[40001]["subscores"]
    assert by_port[40002]["sni"] == "xmr-eu1.nanopool.org" and by_port[40002]["encrypted"] is True
    assert "4 flows (4 TCP, 0 UDP)" in r.stderr  # log connections are counted like a capture's flows


def test_eve_coinminer_alert_flags_its_flow(tmp_path, tmp_home):
    eve = tmp_path / "eve.json"
    lines = [
        {"timestamp": "2024-05-29T16:26:40.000000+0000", "event_type": "flow", "src_ip": "10.0.0.7", "src_port": 50000,
         "dest_ip": "45.77.2.2", "dest_port": 7777, "proto": "TCP", "flow_id": 11,
         "flow": {"pkts_toserver": 400, "pkts_toclient": 420, "bytes_toserver": 60000, "bytes_toclient": 90000,
                  "start": "2024-05-29T16:00:00.000000+0000", "end": "2024-05-29T16:26:40.000000+0000", "state": "closed"}},
        {"timestamp": "2024-05-29T16:00:01.000000+0000", "event_type": "alert", "src_ip": "10.0.0.7", "src_port": 50000,
         "dest_ip": "45.77.2.2", "dest_port": 7777, "proto": "TCP", "flow_id": 11,
         "alert": {"action": "allowed", "signature_id": 2024792, "rev": 5, "severity": 2,
                   "signature": "ET POLICY Cryptocurrency Miner Checkin", "category": "Crypto Currency Mining Activity Detected"}},
    ]
    eve.write_text("".join(json.dumps(x) + "\n" for x in lines) + "{not json\n")
    r = CliRunner().invoke(app, ["scan", str(eve), "--format", "jsonl", "--no-store", "-q"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert len(rows) == 1 and rows[0]["src_ip"] == "10.0.0.7" and "ids_alert" in rows[0]["subscores"]
    assert rows[0]["first_seen"] == "2024-05-29T16:00:00Z"  # flow timing from flow.start, not the record
    assert "Rejected" in r.stderr  # the broken line is counted, not silently dropped


def test_scan_twice_adds_nothing_and_shows_stored(tmp_path, tmp_home):
    dns, ssl, cn = write_logs(tmp_path)
    db = tmp_path / "s.duckdb"
    runner = CliRunner()
    first = runner.invoke(app, ["scan", str(dns), str(ssl), str(cn), "--db", str(db), "--format", "jsonl", "-q"])
    assert first.exit_code == 0, first.output
    assert "2 new finding(s) stored" in first.stderr
    again = runner.invoke(app, ["scan", str(dns), str(ssl), str(cn), "--db", str(db), "--format", "jsonl", "-q"])
    assert "already imported" in again.stderr
    assert [x for x in again.stdout.splitlines() if x.startswith("{")] == []  # nothing read twice


def test_grown_log_is_read_from_where_the_last_import_stopped(tmp_path, tmp_home):
    dns, ssl, cn = write_logs(tmp_path)
    db = tmp_path / "s.duckdb"
    runner = CliRunner()
    r = runner.invoke(app, ["scan", str(dns), str(ssl), str(cn), "--db", str(db), "--format", "jsonl", "-q"])
    assert r.exit_code == 0, r.output
    with cn.open("a") as fh:
        fh.write(json.dumps(conn("C9", "10.0.0.5", 40009, "45.77.1.10", 3333, T0 + 300, 7200.0,
                                 900_000, 2_400_000, 9000, 9500)) + "\n")
    r = runner.invoke(app, ["scan", str(dns), str(ssl), str(cn), "--db", str(db), "--format", "jsonl", "-q"])
    assert r.exit_code == 0, r.output
    assert "from line 5" in r.stderr
    rows = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert [x["src_port"] for x in rows if x["kind"] == "mining"] == [40009]  # only the new connection


def test_tls_handshake_facts_are_evidence_on_the_finding_without_points(tmp_path, tmp_home):
    """ssl.log's certificate and version reach the finding as a bilingual `tls.context` line; the score
    is the same as without them (no weight is given to facts the benchmark cannot measure)."""
    dns, ssl, cn = write_logs(tmp_path)
    runner = CliRunner()
    plain = runner.invoke(app, ["scan", str(cn), str(ssl), str(dns), "--format", "jsonl", "--no-store", "-q"])
    rows = [json.loads(x) for x in ssl.read_text().splitlines()]
    rows[0].update(subject="CN=xmrig-proxy", issuer="CN=xmrig-proxy", ja3="e7d705a3286e19ea42f587b344ee6865")
    zeek_json(ssl, rows)
    r = runner.invoke(app, ["scan", str(cn), str(ssl), str(dns), "--format", "jsonl", "--no-store", "-q"])
    assert r.exit_code == 0, r.output
    got = {x["src_port"]: x for x in map(json.loads, (y for y in r.stdout.splitlines() if y.startswith("{")))}
    before = {x["src_port"]: x for x in map(json.loads, (y for y in plain.stdout.splitlines() if y.startswith("{")))}
    ctx = [e for e in got[40002]["evidence"] if e["code"] == "tls.context"]
    assert len(ctx) == 1
    assert ctx[0]["data"]["self_signed"] is True and ctx[0]["data"]["version"] == "TLSv13"
    assert "self-signed" in ctx[0]["text"] and "自签名" in ctx[0]["text_zh"] and "xmr-eu1.nanopool.org" in ctx[0]["text"]
    assert got[40002]["score"] == before[40002]["score"]
    # a connection without an ssl.log line gets no such line
    assert not [e for e in got[40001]["evidence"] if e["code"] == "tls.context"]


def test_eve_tls_certificate_reaches_the_finding(tmp_path, tmp_home):
    eve = tmp_path / "eve.json"
    flow_key = {"src_ip": "10.0.0.7", "src_port": 50001, "dest_ip": "45.77.2.3", "dest_port": 443, "proto": "TCP",
                "flow_id": 12}
    lines = [
        {"timestamp": "2024-05-29T16:00:01.000000+0000", "event_type": "tls", **flow_key,
         "tls": {"sni": "xmr-eu1.nanopool.org", "version": "TLS 1.2", "subject": "CN=pool", "issuerdn": "CN=Some CA",
                 "ja3": {"hash": "0123456789abcdef0123456789abcdef"}}},
        {"timestamp": "2024-05-29T17:00:00.000000+0000", "event_type": "flow", **flow_key,
         "flow": {"pkts_toserver": 4000, "pkts_toclient": 4200, "bytes_toserver": 600000, "bytes_toclient": 900000,
                  "start": "2024-05-29T16:00:00.000000+0000", "end": "2024-05-29T17:00:00.000000+0000",
                  "state": "closed"}},
    ]
    eve.write_text("".join(json.dumps(x) + "\n" for x in lines))
    r = CliRunner().invoke(app, ["scan", str(eve), "--format", "jsonl", "--no-store", "-q"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert len(rows) == 1 and rows[0]["sni"] == "xmr-eu1.nanopool.org"
    ctx = [e for e in rows[0]["evidence"] if e["code"] == "tls.context"]
    assert len(ctx) == 1 and ctx[0]["data"]["self_signed"] is False
    assert "issued by CN=Some CA" in ctx[0]["text"] and "JA3 0123456789abcdef" in ctx[0]["text"]


def test_eve_netflow_events_are_paired_per_connection_and_judged(tmp_path, tmp_home):
    """Suricata's `netflow` events describe one direction each; the two of a connection are paired like
    NetFlow records and judged from their totals (a suspect: totals alone are not reported by default)."""
    from datetime import UTC, datetime

    import numpy as np

    from minewatch.evaluate import encrypted as E

    def iso(t: float) -> str:
        return datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+0000")

    scripts = E.make_scripts(2, 2, 21, dur=(3600.0, 3600.0), extended=False)
    rng = np.random.default_rng(22)
    lines = []
    for i, sc in enumerate(scripts):
        mt, md, ml = E.script_messages(sc, rng)
        t, d, ln = E.wire_packets(mt, md, ml, sc.rtt)
        t = t + T0
        client, server = (f"10.3.0.{i + 2}", 40000 + i), ("198.51.100.20", 443)
        for direction, (a, b) in ((0, (client, server)), (1, (server, client))):
            m = d == direction
            lines.append({"timestamp": iso(float(t[m].max())), "event_type": "netflow", "flow_id": 100 + i,
                          "src_ip": a[0], "src_port": a[1], "dest_ip": b[0], "dest_port": b[1], "proto": "TCP",
                          "netflow": {"pkts": int(m.sum()), "bytes": int(ln[m].sum() + 52 * m.sum()),
                                      "start": iso(float(t[m].min())), "end": iso(float(t[m].max())), "age": 3600}})
    eve = tmp_path / "eve.json"
    eve.write_text("".join(json.dumps(x) + "\n" for x in lines))
    runner = CliRunner()
    plain = runner.invoke(app, ["scan", str(eve), "--format", "jsonl", "--no-store", "-q"])
    assert plain.exit_code == 0, plain.output
    assert not [x for x in plain.stdout.splitlines() if x.startswith("{")]
    r = runner.invoke(app, ["scan", str(eve), "--format", "jsonl", "--no-store", "-q", "--suspects"])
    got = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert {f["src_port"] for f in got} == {40000 + i for i, sc in enumerate(scripts) if sc.label}
    assert all(f["src_ip"].startswith("10.3.0.") and f["extra"]["behavior_view"] == "conn" for f in got)
    assert "8 flows" in r.stderr and "Rejected" not in r.stderr


def test_a_suspect_to_an_address_no_dns_answer_resolved_says_so(tmp_path, tmp_home):
    """With a DNS log read, a flagged connection to an address that no answer resolved gets a
    `dns.unresolved` line (evidence only); one whose address was resolved does not."""
    import numpy as np

    from minewatch.evaluate import encrypted as E

    sc = next(s for s in E.make_scripts(4, 0, 21, dur=(3600.0, 3600.0), extended=False) if s.kind.startswith("stratum"))
    mt, md, ml = E.script_messages(sc, np.random.default_rng(3))
    cv = E.conn_view(*E.wire_packets(mt, md, ml, sc.rtt))
    assert E.behavior.score_conn(cv["duration_s"], cv["packets_fwd"], cv["packets_rev"], cv["payload_fwd"],
                                 cv["payload_rev"]).is_mining  # the totals of this session look like a pool

    def totals(uid: str, oport: int, resp: str) -> dict:
        return conn(uid, "10.0.0.5", oport, resp, 443, T0 + 10, cv["duration_s"], int(cv["payload_fwd"]),
                    int(cv["payload_rev"]), int(cv["packets_fwd"]), int(cv["packets_rev"]), "ssl")

    dns = zeek_json(tmp_path / "dns.log", [
        {"ts": T0, "uid": "D1", "id.orig_h": "10.0.0.5", "id.orig_p": 5353, "id.resp_h": "10.0.0.53", "id.resp_p": 53,
         "proto": "udp", "query": "chat.example.net", "qtype_name": "A", "rcode_name": "NOERROR",
         "answers": ["198.51.100.80"], "TTLs": [600.0]}])
    cn = zeek_json(tmp_path / "conn.log", [totals("B1", 41001, "203.0.113.77"), totals("B2", 41002, "198.51.100.80")])
    r = CliRunner().invoke(app, ["scan", str(cn), str(dns), "--format", "jsonl", "--no-store", "-q", "--suspects"])
    assert r.exit_code == 0, r.output
    got = {x["src_port"]: x for x in map(json.loads, (y for y in r.stdout.splitlines() if y.startswith("{")))}
    assert set(got) == {41001, 41002}
    bare = [e for e in got[41001]["evidence"] if e["code"] == "dns.unresolved"]
    assert len(bare) == 1 and "203.0.113.77" in bare[0]["text"] and bare[0]["text_zh"]
    assert not [e for e in got[41002]["evidence"] if e["code"] == "dns.unresolved"]
    # without a DNS log there is nothing to say
    r2 = CliRunner().invoke(app, ["scan", str(cn), "--format", "jsonl", "--no-store", "-q", "--suspects"])
    assert all(e["code"] != "dns.unresolved" for x in r2.stdout.splitlines() if x.startswith("{")
               for e in json.loads(x)["evidence"])


def test_a_log_read_under_another_name_gives_its_findings_that_name(tmp_path):
    """An upload saved under the server's data directory is named as uploaded, in the rows the
    findings (and their ids) are made from."""
    from minewatch.net.intel import PoolIntel
    from minewatch.net.logscan import FlowLogScanner

    dns, ssl, cn = write_logs(tmp_path)

    def scan(conn_source):
        s = FlowLogScanner(PoolIntel.builtin())
        for p in (dns, ssl):
            s.add_file(p, "zeek-json")
        s.add_file(cn, "zeek-json", source=conn_source)
        return s.findings()

    plain, named = scan(None), scan("conn.log")
    assert plain and {f.source for f in plain} == {str(cn)}
    assert {f.source for f in named} == {"conn.log"}
    assert {f.finding_id for f in named}.isdisjoint({f.finding_id for f in plain})


def test_findings_of_several_logs_are_filed_under_their_own_log(tmp_path, tmp_home):
    """Every finding of a multi-log scan used to be stored under the first log's import, so re-scanning
    the second log alone showed nothing of its own."""
    from minewatch.store import Store, file_sha256

    dns, _ssl, cn = write_logs(tmp_path)
    other = tmp_path / "b"
    other.mkdir()
    cn2 = zeek_json(other / "conn.log", [
        conn("E1", "10.0.1.5", 41001, "45.77.1.10", 3333, T0 + 9, 7200.0, 900_000, 2_400_000, 9000, 9500),
    ])
    db = tmp_path / "s.duckdb"
    r = CliRunner().invoke(app, ["scan", str(dns), str(cn), str(cn2), "--db", str(db), "--format", "jsonl", "-q"])
    assert r.exit_code == 0, r.output
    with Store(db) as st:
        first = {f.src_ip for f in st.findings_of_import(file_sha256(cn))}
        second = {f.src_ip for f in st.findings_of_import(file_sha256(cn2))}
        names = {f.src_ip for f in st.findings_of_import(file_sha256(dns))}
    assert first == {"10.0.0.5"} and second == {"10.0.1.5"} and names == set()
    again = CliRunner().invoke(app, ["scan", str(cn2), "--db", str(db), "--format", "jsonl", "-q"])
    assert [json.loads(x)["src_ip"] for x in again.stdout.splitlines() if x.startswith("{")] == []


def test_a_mining_alert_without_a_flow_record_is_a_finding_but_not_on_dns(tmp_path, tmp_home):
    """Review 14: an EVE file of alerts only (flow logging off) had its ET COINMINER alert read, counted
    and dropped. An alert alone is a finding; an alert on a DNS lookup names the resolver, never a pool."""
    import json as _json

    from typer.testing import CliRunner

    from minewatch.cli import app

    def alert(src, sport, dst, dport, sig):
        return _json.dumps({"timestamp": "2024-06-10T06:12:00.000000+0000", "event_type": "alert", "src_ip": src,
                            "src_port": sport, "dest_ip": dst, "dest_port": dport, "proto": "TCP", "flow_id": 1,
                            "alert": {"signature": sig, "signature_id": 2027180,
                                      "category": "Crypto Currency Mining Activity Detected", "severity": 1}})

    eve = tmp_path / "eve.json"
    eve.write_text("\n".join([
        alert("10.1.2.3", 51000, "198.51.100.20", 14444, "ET COINMINER JSON stratum login"),
        alert("10.1.2.4", 40000, "10.0.0.53", 53, "ET COINMINER CoinMiner Known Pool DNS Lookup"),
    ]) + "\n")
    r = CliRunner().invoke(app, ["scan", str(eve), "--no-store", "--format", "jsonl"])
    assert r.exit_code == 0, r.output
    got = [_json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert [(f["src_ip"], f["dst_ip"], f["dst_port"]) for f in got] == [("10.1.2.3", "198.51.100.20", 14444)]
    assert got[0]["subscores"] == {"ids_alert": 60.0} and got[0]["source"] == str(eve)
    assert "1 mining IDS alert(s) were on DNS lookups" in " ".join(r.stderr.split())
