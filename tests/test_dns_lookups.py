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


def _all(lk, covered=frozenset()):
    reported, suspects = lk.judge(set(covered))
    return reported, suspects, {f.src_ip: f for f in [*reported, *suspects]}


def test_score_parts(intel):
    lk = PoolLookups(intel)
    for k in range(4):  # a running miner re-resolves over two hours
        lk.add("10.0.0.1", "XMR.F2Pool.com.", T0 + k * 2400, ["203.0.113.9"])
    lk.add("10.0.0.2", "btc.f2pool.com", T0, ["203.0.113.10"])  # once
    for k in range(4):
        lk.add("10.0.0.3", "www.f2pool.com", T0 + k * 2400)  # the pool's web site, often
    lk.add("10.0.0.4", "www.example.com", T0)  # not a pool
    reported, _suspects, got = _all(lk)
    assert set(got) == {"10.0.0.1", "10.0.0.2", "10.0.0.3"} and [f.src_ip for f in reported] == ["10.0.0.1"]
    a = got["10.0.0.1"]
    assert a.subscores == {"pool_domain": 40.0, "repeated_lookups": 10.0} and a.score == 50.0
    assert a.pool_host == "xmr.f2pool.com" and a.dst_ip == "203.0.113.9" and a.kind == "mining"
    assert a.extra["dns_lookups"] == 4 and a.detector == "net.dns"
    assert (a.last_seen - a.first_seen).total_seconds() == 3 * 2400
    assert "looked up xmr.f2pool.com" in a.evidence[0].text and "4 次解析" in a.evidence[0].text_zh
    assert got["10.0.0.2"].score == 40.0
    assert got["10.0.0.3"].subscores["pool_web_name"] == -20.0 and got["10.0.0.3"].score == 30.0
    # a lookup explained by a flagged connection (by name or by the address it answered) is not repeated
    lk2 = PoolLookups(intel)
    for k in range(4):
        lk2.add("10.0.0.1", "xmr.f2pool.com", T0 + k * 2400, ["203.0.113.9"])
    lk2.add("10.0.0.2", "btc.f2pool.com", T0, ["203.0.113.10"])
    assert _all(lk2, {("10.0.0.1", "203.0.113.9"), ("10.0.0.2", "btc.f2pool.com")})[2] == {}


def test_review8_counting_keys_and_web_names(intel):
    lk = PoolLookups(intel)
    # a browser's A, AAAA and HTTPS queries within seconds are one occasion; twice 40 min apart is not repeated
    for t in (T0, T0 + 2400):
        for k in range(3):  # A, AAAA and HTTPS
            lk.add("10.0.1.1", "xmr.nanopool.org", t + k * 0.2)
    # one host asking for 50,000 random names of one pool holds one entry; names are kept as a sample
    for i in range(50_000):
        lk.add("10.0.1.2", f"x{i}.f2pool.com", T0 + i)
    # a miner switching between two hosts of its pool adds up: four occasions over 3 hours
    for k, n in enumerate(("xmr-eu1.nanopool.org", "xmr-eu2.nanopool.org") * 2):
        lk.add("10.0.1.3", n, T0 + k * 3600, ["198.51.100.7", "pool.cdn.example"])  # a CNAME is no address
    # web names by label; a list entry that is itself a host is never one
    for k in range(4):
        lk.add("10.0.1.4", "api.moneroocean.stream", T0 + k * 2400)
        lk.add("10.0.1.5", "ss.btc.com", T0 + k * 2400)
    # loopback, and a forwarder asking upstream for what a client asked it, are not clients
    for k in range(4):
        lk.add("127.0.0.1", "xmr.f2pool.com", T0 + k * 2400)
        lk.add("10.0.1.9", "xmr.f2pool.com", T0 + k * 2400, server_ip="10.0.0.53")
        lk.add("10.0.0.53", "xmr.f2pool.com", T0 + k * 2400 + 0.01)
    _reported, _suspects, got = _all(lk)
    assert got["10.0.1.1"].extra["dns_lookups"] == 2 and "repeated_lookups" not in got["10.0.1.1"].subscores
    assert len([k for k in lk.seen if k[0] == "10.0.1.2"]) == 1 and lk.dropped == 0
    m = got["10.0.1.3"]
    assert m.score == 50.0 and m.extra["dns_lookups"] == 4 and m.dst_ip == "198.51.100.7"
    assert got["10.0.1.4"].subscores.get("pool_web_name") == -20.0
    assert "pool_web_name" not in got["10.0.1.5"].subscores and got["10.0.1.5"].score == 50.0
    assert "127.0.0.1" not in got and "10.0.0.53" not in got and got["10.0.1.9"].score == 50.0


def test_one_answer_does_not_make_a_resolver(intel):
    """Review 12: a host seen answering a single DNS query was never judged again, so a miner could hide its
    pool lookups by answering one. A resolver is a host that answered the pool entry to another host, or
    that answered RESOLVER_CLIENTS hosts (its other clients may be out of the sensor's sight)."""
    from minewatch.net.lookups import RESOLVER_CLIENTS

    lk = PoolLookups(intel)
    lk.add("10.0.1.20", "printer.local.example", T0, server_ip="10.0.1.66")  # the miner answers once
    for k in range(4):
        lk.add("10.0.1.66", "xmr.f2pool.com", T0 + k * 2400)
    lk.add("10.0.1.21", "www.example.com", T0, server_ip="10.0.0.54")  # a resolver of a few hosts ...
    for j in range(RESOLVER_CLIENTS - 1):
        lk.add(f"10.0.2.{j}", "www.example.org", T0 + 1, server_ip="10.0.0.54")
    for k in range(4):  # ... resolving a pool for a client the sensor does not see
        lk.add("10.0.0.54", "xmr.f2pool.com", T0 + k * 2400)
    got = _all(lk)[2]
    assert got["10.0.1.66"].score == 50.0
    assert "10.0.0.54" not in got
    assert lk.resolves("10.0.0.54", "f2pool.com") and not lk.resolves("10.0.1.66", "f2pool.com")


def test_time_window(intel):
    lk = PoolLookups(intel, since=T0 + 3600, until=T0 + 7200)
    for k in range(6):
        lk.add("10.0.2.1", "xmr.f2pool.com", T0 + k * 1800)
    (f,) = _all(lk)[0]
    assert f.extra["dns_lookups"] == 3 and f.first_seen.timestamp() == T0 + 3600


def test_imported_list_counts_less_and_memory_is_bounded(intel, tmp_path):
    lst = tmp_path / "extra.txt"
    lst.write_text("pool.private-example.net\n")
    intel2 = PoolIntel.builtin()
    intel2.import_list(lst, name="extra")
    lk = PoolLookups(intel2)
    lk.add("10.0.0.9", "eu.pool.private-example.net", T0)
    (f,) = _all(lk)[1]
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
    text = BIND + "31-Nov-2026 06:00:05.123 client 10.9.9.9#1 (x.f2pool.com): query: x.f2pool.com IN A + (10.0.0.1)\n"
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
    assert "1 host(s) looked up pool names but stayed under the threshold" in err
    with_suspects, _ = _scan(str(cap), "--suspects")
    assert {f["src_ip"] for f in with_suspects} == {"10.20.1.7", "10.20.1.8"}


# --- review 8 -------------------------------------------------------------------------------------------------


def test_an_eve_file_with_resolver_words_in_it_stays_an_eve_file(tmp_path):
    ev = [{"timestamp": "2023-11-14T22:00:00.000000+0000", "event_type": "http", "src_ip": "10.0.0.9",
           "http": {"http_user_agent": "client 10.0.0.1#1: query: a.f2pool.com IN A"}},
          {"timestamp": "2023-11-14T22:00:01.000000+0000", "event_type": "flow", "src_ip": "10.0.0.9"}]
    p = tmp_path / "eve.json"
    p.write_text("".join(json.dumps(e) + "\n" for e in ev))
    assert sniff_format(p) == "eve"
    bare = tmp_path / "notes.txt"  # the words without a resolver's time stamp at the start of the line
    bare.write_text("see: client 10.0.0.1#1 (a): query: a.f2pool.com IN A +\n")
    assert sniff_format(bare) is None


def test_bad_dates_and_a_cut_gzip_do_not_stop_the_scan(tmp_path, tmp_home):
    import gzip

    from minewatch.errors import InputError

    text = BIND.replace("22-Nov-2026 07:16:00", "29-Feb-2026 07:16:00") + \
        "22-Nov-2026 25:00:00.000 client 10.1.2.3#1: query: xmr.f2pool.com IN A + (10.0.0.1)\n"
    p = _write(tmp_path, "named.log", text)
    rej = Rejects()
    rows = [r for b in read_resolver_log(p, rej) for r in b.to_pylist()]
    assert len(rows) == 3 and rej.counts["resolver log query without a readable time"] == 2
    cut = tmp_path / "named.log.1.gz"
    cut.write_bytes(gzip.compress((BIND * 200).encode())[:-40])
    got = []
    with pytest.raises(InputError) as e:
        for b in read_resolver_log(cut):
            got.extend(b.to_pylist())
    assert got and "cut short" in str(e.value) and str(cut) in str(e.value)
    findings, err = _scan(str(cut), str(p))  # the good file still gives its finding
    assert [f["src_ip"] for f in findings] == ["10.1.2.3"] and "cut short" in err


def test_stamps_that_state_their_zone_ignore_tz_offset(tmp_path):
    p = _write(tmp_path, "messages", "2026-11-22T06:00:05.250+08:00 ns1 named[812]: client @0x7f 10.1.2.3#53211 "
               "(xmr.f2pool.com): query: xmr.f2pool.com IN A +E(0)K (10.0.0.1)\n")
    (row,) = [r for b in read_resolver_log(p, tz_offset_h=-5) for r in b.to_pylist()]
    assert row["ts"].isoformat() == "2026-11-21T22:00:05.250000+00:00"


def test_dnsmasq_cached_answers_and_cname_chains(tmp_path):
    text = ("Nov 22 06:00:05 gw dnsmasq[311]: query[A] xmr.f2pool.com from 192.168.1.20\n"
            "Nov 22 06:00:05 gw dnsmasq[311]: reply xmr.f2pool.com is <CNAME>\n"
            "Nov 22 06:00:05 gw dnsmasq[311]: reply xmr.f2pool.com.edge.example is 203.0.113.50\n"
            "Nov 22 07:00:05 gw dnsmasq[311]: query[A] xmr.f2pool.com from 192.168.1.20\n"
            "Nov 22 07:00:05 gw dnsmasq[311]: cached xmr.f2pool.com is 203.0.113.51\n")
    p = _write(tmp_path, "dnsmasq.log", text, mtime="2026-11-22T12:00:00")
    rows = [r for b in read_resolver_log(p) for r in b.to_pylist()]
    assert [r["answers"] for r in rows] == [["203.0.113.50"], ["203.0.113.51"]]


def test_unbound_through_syslog_and_named_lines_after_others(tmp_path, tmp_home):
    ub = "".join(f"Nov 22 0{h}:00:00 gw unbound: [812:0] info: 172.16.0.5 pool.supportxmr.com. A IN\n"
                 for h in range(4))
    p = _write(tmp_path, "syslog", ub, mtime="2026-11-22T12:00:00")
    assert sniff_format(p) == "resolver-log"
    noise = "".join(f"Nov 22 05:{i % 60:02d}:00 gw cron[9]: job {i} done\n" for i in range(300))
    q = _write(tmp_path, "messages", noise + SYSLOG_BIND, mtime="2026-11-22T12:00:00")
    assert sniff_format(q) == "resolver-log"
    got, _ = _scan(str(q))
    assert [f["src_ip"] for f in got] == ["10.1.2.3"]


def _dns_cap(tmp_path, name, sessions):
    from minewatch.synth.pcapwriter import LinkSpec, write_capture
    from minewatch.synth.scenario import ScenarioSpec, build_scenario

    pkts, _ = build_scenario(ScenarioSpec(sessions, seed=2))
    return write_capture(tmp_path / name, pkts, "pcap", LinkSpec())


def test_rotated_captures_add_up_and_a_connection_in_any_file_covers_the_lookups(tmp_path, tmp_home):
    from minewatch.synth.scenario import SessionSpec

    def lookup(t):
        return SessionSpec("dns", "10.20.1.7", "10.20.0.53", t, 1, 53,
                           kwargs={"name": "pool.supportxmr.com", "ips": ["203.0.113.21"]})

    a = _dns_cap(tmp_path, "a.pcap", [lookup(10), lookup(1500)])  # two lookups per 30-min capture file
    b = _dns_cap(tmp_path, "b.pcap", [lookup(3010), lookup(4500)])
    got, _ = _scan(str(a), str(b))
    assert [(f["src_ip"], f["score"]) for f in got] == [("10.20.1.7", 50.0)]
    # the same lookups in a resolver-side log, the miner's connection in a capture: one finding, the session
    miner = SessionSpec("xmrig", "10.20.1.7", "203.0.113.21", 5, 900, 3333,
                        kwargs={"worker": "pc7", "hashrate": 9000.0, "difficulty": 50000.0})
    c = _dns_cap(tmp_path, "c.pcap", [miner])
    got, _ = _scan(str(a), str(b), str(c))
    assert [(f["src_ip"], f["detector"] != "net.dns") for f in got] == [("10.20.1.7", True)]


def test_nxdomain_answers_in_captures_still_name_the_asker(tmp_path, tmp_home):
    import struct

    from minewatch.synth.benign import dns_query
    from minewatch.synth.pcapwriter import PROTO_UDP, LinkSpec, Pkt, ip_packet, udp_header, write_capture

    pkts = []
    for k in range(4):
        q = dns_query("xmr.f2pool.com", 0x100 + k)
        resp = q[:2] + struct.pack("!HHHHH", 0x8183, 1, 0, 0, 0) + q[12:]  # response, NXDOMAIN, no answers
        t = 1_700_000_000_000_000_000 + k * 1_800_000_000_000
        pkts.append(Pkt(t, ip_packet("10.20.1.9", "10.20.0.53", PROTO_UDP, udp_header("10.20.1.9", "10.20.0.53",
                                                                                      40000 + k, 53, q))))
        pkts.append(Pkt(t + 1_000_000, ip_packet("10.20.0.53", "10.20.1.9", PROTO_UDP,
                                                 udp_header("10.20.0.53", "10.20.1.9", 53, 40000 + k, resp))))
    cap = write_capture(tmp_path / "nx.pcap", pkts, "pcap", LinkSpec())
    got, _ = _scan(str(cap))
    assert [(f["src_ip"], f["dst_ip"]) for f in got] == [("10.20.1.9", None)]


def test_tz_offset_is_checked(tmp_path, tmp_home):
    p = _write(tmp_path, "named.log", BIND)
    for bad in ("nan", "30", "-15"):
        r = CliRunner().invoke(app, ["scan", str(p), "--no-store", "--tz-offset", bad])
        assert r.exit_code == 2 and "--tz-offset" in r.stderr


WINDOWS = """DNS Server log file creation at 11/22/2026 6:00:00 AM UTC

Message logging key (for packets - other items use a subset of these fields):
11/22/2026 6:52:37 AM 0E6C PACKET  000000A1B2C3D4E0 UDP Rcv 10.1.2.3        c5e3   Q [0001   D   NOERROR] A      (3)xmr(6)f2pool(3)com(0)
11/22/2026 6:52:37 AM 0E6C PACKET  000000A1B2C3D4E0 UDP Snd 10.1.2.3        c5e3 R Q [8081   DR  NOERROR] A      (3)xmr(6)f2pool(3)com(0)
11/22/2026 7:32:37 AM 0E6C PACKET  000000A1B2C3D4E0 UDP Rcv 10.1.2.3        c5e4   Q [0001   D   NOERROR] A      (3)xmr(6)f2pool(3)com(0)
11/22/2026 1:12:37 PM 0E6C PACKET  000000A1B2C3D4E0 UDP Rcv 10.1.2.3        c5e5   Q [0001   D   NOERROR] AAAA   (3)xmr(6)f2pool(3)com(0)
2026/11/22 14:00:01 0E6C PACKET  000000A1B2C3D4E0 UDP Rcv 10.1.2.8        c5e6   Q [0001   D   NOERROR] A      (3)www(5)baidu(3)com(0)
"""


def test_windows_dns_debug_log(tmp_path, tmp_home):
    p = _write(tmp_path, "dns.log", WINDOWS)
    assert sniff_format(p) == "resolver-log"
    rows = [r for b in read_resolver_log(p, tz_offset_h=8) for r in b.to_pylist()]
    assert [(r["client_ip"], r["query"], r["ts"].isoformat()) for r in rows] == [
        ("10.1.2.3", "xmr.f2pool.com", "2026-11-21T22:52:37+00:00"),  # the R (response) line is not a query
        ("10.1.2.3", "xmr.f2pool.com", "2026-11-21T23:32:37+00:00"),
        ("10.1.2.3", "xmr.f2pool.com", "2026-11-22T05:12:37+00:00"),  # 1:12 PM
        ("10.1.2.8", "www.baidu.com", "2026-11-22T06:00:01+00:00"),  # YYYY/M/D, as zh-CN servers write it
    ]
    got, _ = _scan(str(p), "--tz-offset", "8")
    assert [(f["src_ip"], f["pool_host"], f["score"]) for f in got] == [("10.1.2.3", "xmr.f2pool.com", 50.0)]


# --- review 9 -------------------------------------------------------------------------------------------------


def test_a_real_windows_header_and_start_up_lines_before_the_queries(tmp_path, tmp_home):
    header = "".join(f"\tField #{k}  Information line of the debug-log key\n" for k in range(30))
    w = _write(tmp_path, "dns.log", "DNS Server log file creation at 11/22/2026 6:00:00 AM UTC\n" + header
               + WINDOWS.split("\n", 3)[3])
    assert sniff_format(w) == "resolver-log"
    startup = "".join(f"22-Nov-2026 05:59:{k % 60:02d}.000 general: info: loading configuration line {k}\n"
                      for k in range(25))
    b = _write(tmp_path, "named.log", startup + BIND)
    assert sniff_format(b) == "resolver-log"
    u = _write(tmp_path, "unbound.log", "".join(f"[1763794300] unbound[1:0] notice: init module {k}\n"
                                               for k in range(25)) + UNBOUND)
    assert sniff_format(u) == "resolver-log"
    two_digit = _write(tmp_path, "dns2.log", WINDOWS.replace("11/22/2026", "11/22/26"))
    rej = Rejects()
    rows = [r for x in read_resolver_log(two_digit, rej) for r in x.to_pylist()]
    assert [r["query"] for r in rows] == ["www.baidu.com"] and rej.counts[
        "resolver log query without a readable time"] == 3


def test_suspects_count_as_sessions_when_listed(tmp_path, tmp_home):
    p = _write(tmp_path, "named.log", BIND.split("\n", 2)[0] + "\n" + BIND.split("\n", 2)[1] + "\n")  # one lookup
    r = CliRunner().invoke(app, ["scan", str(p), "--no-store", "--suspects", "--format", "jsonl"])
    assert r.exit_code == 0 and len([x for x in r.stdout.splitlines() if x.startswith("{")]) == 1
    assert "1 mining and" in r.stderr
