"""Hosts that looked up pool names, from DNS alone: resolver logs, Zeek dns.log, captures of DNS traffic.

A campus often keeps nothing but its resolvers' logs. These tests check the named parts of the score
(a mining host looked up again and again is reported, one lookup or a pool's web site is only a
suspect), that a lookup explained by a flagged connection adds no second finding, and that BIND,
dnsmasq and Unbound query logs are read with their clocks.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from minewatch.cli import app
from minewatch.errors import Rejects
from minewatch.net.intel import PoolIntel
from minewatch.net.lookups import MAX_PAIRS, PoolLookups
from minewatch.sources.resolver import read_resolver_log
from minewatch.sources.zeek import sniff_format

T0 = 1_700_000_000.0


@pytest.fixture(scope="module")
def intel() -> PoolIntel:
    return PoolIntel.builtin()


def test_score_parts(intel):
    lk = PoolLookups(intel)
    for k in range(4):  # a running miner re-resolves over two hours
        lk.add("10.0.0.1", "XMR.F2Pool.com.", T0 + k * 2400, ["203.0.113.9"])
    lk.add("10.0.0.2", "btc.f2pool.com", T0, ["203.0.113.10"])  # once
    for k in range(4):
        lk.add("10.0.0.3", "www.f2pool.com", T0 + k * 2400)  # the pool's web site, often
    lk.add("10.0.0.4", "www.example.com", T0)  # not a pool
    got = {f.src_ip: f for f in lk.findings(set())}
    assert set(got) == {"10.0.0.1", "10.0.0.2", "10.0.0.3"}
    a = got["10.0.0.1"]
    assert a.subscores == {"pool_domain": 40.0, "repeated_lookups": 10.0} and a.score == 50.0
    assert a.pool_host == "xmr.f2pool.com" and a.dst_ip == "203.0.113.9" and a.kind == "mining"
    assert a.extra["dns_lookups"] == 4 and a.detector == "net.dns"
    assert (a.last_seen - a.first_seen).total_seconds() == 3 * 2400
    assert "looked up xmr.f2pool.com" in a.evidence[0].text and "解析了 4 次" in a.evidence[0].text_zh
    assert got["10.0.0.2"].score == 40.0
    assert got["10.0.0.3"].subscores["pool_web_name"] == -20.0 and got["10.0.0.3"].score == 30.0
    # a lookup explained by a flagged connection (by name or by the address it answered) is not repeated
    assert {f.src_ip for f in lk.findings({("10.0.0.1", "203.0.113.9"), ("10.0.0.2", "btc.f2pool.com")})} == \
        {"10.0.0.3"}


def test_imported_list_counts_less_and_memory_is_bounded(intel, tmp_path):
    lst = tmp_path / "extra.txt"
    lst.write_text("pool.private-example.net\n")
    intel2 = PoolIntel.builtin()
    intel2.import_list(lst, name="extra")
    lk = PoolLookups(intel2)
    lk.add("10.0.0.9", "eu.pool.private-example.net", T0)
    (f,) = lk.findings(set())
    assert f.subscores == {"pool_domain": 30.0}
    many = PoolLookups(intel)
    for i in range(MAX_PAIRS + 5):
        many.add(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", "xmr.f2pool.com", T0)
    assert len(many.seen) == MAX_PAIRS and many.dropped == 5


BIND = """22-Nov-2026 06:00:01.120 general: info: managed-keys-zone: loaded serial 12
22-Nov-2026 06:00:05.123 client @0x7f8b2c0a1b20 10.1.2.3#53211 (xmr.f2pool.com): query: xmr.f2pool.com IN A +E(0)K (10.0.0.1)
22-Nov-2026 06:40:05.500 client @0x7f8b2c0a1b20 10.1.2.3#53212 (xmr.f2pool.com): query: xmr.f2pool.com IN A +E(0)K (10.0.0.1)
22-Nov-2026 07:15:05.000 client 10.1.2.3#53213: query: xmr.f2pool.com IN AAAA + (10.0.0.1)
22-Nov-2026 07:16:00.000 client 10.1.2.9#41000 (www.baidu.com): query: www.baidu.com IN A + (10.0.0.1)
"""
SYSLOG_BIND = """Nov 22 06:00:05 ns1 named[812]: client @0x7f 10.1.2.3#53211 (xmr.f2pool.com): query: xmr.f2pool.com IN A +E(0)K (10.0.0.1)
Nov 22 06:40:05 ns1 named[812]: client @0x7f 10.1.2.3#53212 (xmr.f2pool.com): query: xmr.f2pool.com IN A +E(0)K (10.0.0.1)
Nov 22 07:15:05 ns1 named[812]: client @0x7f 10.1.2.3#53213 (xmr.f2pool.com): query: xmr.f2pool.com IN A +E(0)K (10.0.0.1)
Nov 22 07:15:06 ns1 named[812]: client @0x7f 10.1.2.3#53214 (xmr.f2pool.com): query: xmr.f2pool.com IN A +E(0)K (10.0.0.1)
"""
DNSMASQ = """Nov 22 06:00:00 gw dnsmasq[311]: started, version 2.89 cachesize 150
Nov 22 06:00:05 gw dnsmasq[311]: query[A] btc.viabtc.io from 192.168.1.20
Nov 22 06:00:05 gw dnsmasq[311]: forwarded btc.viabtc.io to 114.114.114.114
Nov 22 06:00:05 gw dnsmasq[311]: reply btc.viabtc.io is 203.0.113.77
Nov 22 07:00:05 gw dnsmasq[311]: query[A] btc.viabtc.io from 192.168.1.20
Nov 22 07:00:05 gw dnsmasq[311]: cached btc.viabtc.io is 203.0.113.77
Nov 22 08:00:05 gw dnsmasq[311]: query[A] btc.viabtc.io from 192.168.1.20
"""
UNBOUND = """[1763794357] unbound[1:0] info: start of service (unbound 1.17.1).
[1763794400] unbound[1:0] info: 172.16.0.5 pool.supportxmr.com. A IN
[1763796400] unbound[1:0] info: 172.16.0.5 pool.supportxmr.com. A IN
[1763799400] unbound[1:0] info: 172.16.0.5 pool.supportxmr.com. AAAA IN
"""


def _write(tmp_path: Path, name: str, text: str, mtime: str | None = None) -> Path:
    p = tmp_path / name
    p.write_text(text)
    if mtime:
        from datetime import datetime

        t = datetime.fromisoformat(mtime).timestamp()
        os.utime(p, (t, t))
    return p


def _scan(*args: str):
    r = CliRunner().invoke(app, ["scan", *args, "--no-store", "--format", "jsonl"])
    assert r.exit_code == 0, r.output
    return [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")], r.stderr


@pytest.mark.parametrize(("name", "text", "client", "host", "first_utc"), [
    ("named.log", BIND, "10.1.2.3", "xmr.f2pool.com", "2026-11-21T22:00:05.123000Z"),
    ("messages", SYSLOG_BIND, "10.1.2.3", "xmr.f2pool.com", "2026-11-21T22:00:05Z"),
    ("dnsmasq.log", DNSMASQ, "192.168.1.20", "btc.viabtc.io", "2026-11-21T22:00:05Z"),
    ("unbound.log", UNBOUND, "172.16.0.5", "pool.supportxmr.com", "2025-11-22T06:53:20Z"),
])
def test_resolver_logs_name_the_host_that_keeps_resolving_a_pool(tmp_path, tmp_home, name, text, client, host,
                                                                  first_utc):
    p = _write(tmp_path, name, text, mtime="2026-11-22T12:00:00")
    assert sniff_format(p) == "resolver-log"
    got, err = _scan(str(p), "--tz-offset", "8")
    assert [(f["src_ip"], f["pool_host"], f["score"]) for f in got] == [(client, host, 50.0)]
    assert got[0]["first_seen"] == first_utc  # local wall clock at UTC+8 (epoch seconds for Unbound)
    assert "DNS queries read from resolver logs" in err
    if name == "dnsmasq.log":
        assert got[0]["dst_ip"] == "203.0.113.77"  # the reply line answers the latest query of the name


def test_resolver_log_counts_other_lines_and_rejects_untimed_queries(tmp_path):
    text = BIND + "garbled client 10.9.9.9#1 (x.f2pool.com): query: x.f2pool.com IN A + (10.0.0.1)\n"
    p = _write(tmp_path, "named.log", text)
    rej, counts = Rejects(), {}
    rows = [r for b in read_resolver_log(p, rej, counts=counts) for r in b.to_pylist()]
    assert len(rows) == 4 and counts == {"queries": 4, "other_lines": 1}
    assert rej.counts == {"resolver log query without a readable time": 1}
    assert rej.examples and rej.examples[0].endswith(f"{p}:6: resolver log query without a readable time")


def test_syslog_dates_from_last_year(tmp_path):
    # December lines in a file last changed in January belong to the year before
    p = _write(tmp_path, "dnsmasq.log", DNSMASQ.replace("Nov 22", "Dec 31"), mtime="2027-01-01T03:00:00")
    (row, *_rest) = [r for b in read_resolver_log(p) for r in b.to_pylist()]
    assert row["ts"].year == 2026 and row["ts"].month == 12


def test_zeek_dns_log_alone_and_with_the_connection(tmp_path, tmp_home):
    head = ["#separator \\x09", "#set_separator\t,", "#empty_field\t(empty)", "#unset_field\t-", "#path\tdns",
            "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tquery\tanswers\tTTLs",
            "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tvector[string]\tvector[interval]"]
    rows = [f"{T0 + k * 1800:.6f}\tD{k}\t10.1.2.3\t5353\t10.0.0.53\t53\tudp\txmr.f2pool.com\t203.0.113.9\t600.0"
            for k in range(4)]
    dns = tmp_path / "dns.log"
    dns.write_text("\n".join([*head, *rows]) + "\n")
    got, _ = _scan(str(dns))
    assert [(f["src_ip"], f["detector"]) for f in got] == [("10.1.2.3", "net.dns")]
    # with the connection in conn.log, the session finding carries the name and no DNS finding is added
    ch = ["#separator \\x09", "#set_separator\t,", "#empty_field\t(empty)", "#unset_field\t-", "#path\tconn",
          "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes"
          "\tresp_bytes\tconn_state\thistory\torig_pkts\tresp_pkts",
          "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tstring"
          "\tcount\tcount"]
    conn = tmp_path / "conn.log"
    conn.write_text("\n".join([*ch, f"{T0 + 2:.6f}\tC1\t10.1.2.3\t50000\t203.0.113.9\t3333\ttcp\t-\t7200.0\t90000"
                                    "\t400000\tSF\tShADadFf\t1500\t1600"]) + "\n")
    got, _ = _scan(str(dns), str(conn))
    assert [(f["src_ip"], f["dst_port"]) for f in got] == [("10.1.2.3", 3333)]
    assert got[0]["detector"] != "net.dns" and got[0]["pool_host"] == "xmr.f2pool.com"


def test_capture_of_dns_traffic_only(tmp_path, tmp_home):
    from minewatch.synth.pcapwriter import LinkSpec, write_capture
    from minewatch.synth.scenario import ScenarioSpec, SessionSpec, build_scenario

    # a sensor on the resolver's port sees only DNS: one host keeps resolving a pool, one visits its site
    sessions = [SessionSpec("dns", "10.20.1.7", "10.20.0.53", 10 + k * 1500, 1, 53,
                            kwargs={"name": "pool.supportxmr.com", "ips": ["203.0.113.21"]}) for k in range(4)]
    sessions.append(SessionSpec("dns", "10.20.1.8", "10.20.0.53", 20, 1, 53,
                                kwargs={"name": "www.supportxmr.com", "ips": ["203.0.113.80"]}))
    pkts, _ = build_scenario(ScenarioSpec(sessions, seed=2))
    cap = write_capture(tmp_path / "dns.pcap", pkts, "pcap", LinkSpec())
    got, err = _scan(str(cap))
    assert [(f["src_ip"], f["pool_host"], f["dst_ip"]) for f in got] == \
        [("10.20.1.7", "pool.supportxmr.com", "203.0.113.21")]
    assert "1 host(s) looked up pool names only once or only the pools' web sites" in err
    with_suspects, _ = _scan(str(cap), "--suspects")
    assert {f["src_ip"] for f in with_suspects} == {"10.20.1.7", "10.20.1.8"}
