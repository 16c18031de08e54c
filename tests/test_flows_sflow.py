"""sFlow v5: the decoder on datagrams laid out word by word (every sample and record kind a collector
meets, and damage), the collector's counters, and the scan's rule that packet samples are names only."""

from __future__ import annotations

import struct
from pathlib import Path

import pyarrow as pa
import pytest

from minewatch.sources.netflow import TemplateCache, decode_datagram
from minewatch.sources.sflow import SFLOW_VERSION, is_sflow
from minewatch.synth.pcapwriter import LinkSpec, ip_packet, tcp_header, udp_header
from minewatch.synth.sflow import (
    CounterSample,
    Datagram,
    FlowSample,
    opaque_record,
    sampled_header,
    sampled_ip,
)

WALL = 1_763_800_000.25


def tcp_frame(src: str, dst: str, sport: int, dport: int, payload: bytes = b"", flags: int = 0x18) -> bytes:
    return LinkSpec().frame(ip_packet(src, dst, 6, tcp_header(src, dst, sport, dport, 1, 1, flags, payload)))


def decode(dg: Datagram | bytes, cache: TemplateCache | None = None, wall: float | None = WALL):
    data = dg.encode() if isinstance(dg, Datagram) else dg
    return decode_datagram(data, "127.0.0.1:5000", cache or TemplateCache(), wall_s=wall)


def kinds(events) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in events:
        out[e.kind] = out.get(e.kind, 0) + e.count
    return out


def test_sflow_is_told_from_netflow_v5() -> None:
    assert is_sflow(Datagram().encode())
    v5 = struct.pack(">HHIIIIBBH", 5, 1, 0, 0, 0, 0, 0, 0, 0)
    assert not is_sflow(v5)


def test_compact_sample_with_ethernet_header() -> None:
    frame = tcp_frame("10.1.2.3", "203.0.113.9", 51000, 3333, b'{"id":4,"method":"mining.submit"}' * 4)
    dg = Datagram([FlowSample([opaque_record(1001, b"\0" * 16), sampled_header(frame)], rate=512, drops=0)])
    rows, events = decode(dg)
    assert kinds(events) == {"sflow_flow_samples": 1}
    (r,) = rows
    assert (r["src_ip"], r["src_port"], r["dst_ip"], r["dst_port"]) == ("10.1.2.3", 51000, "203.0.113.9", 3333)
    assert r["transport"] == "tcp" and r["proto"] == 6 and r["tcp_flags"] == 0x18
    assert r["packets"] == 1
    assert r["bytes"] == len(frame) - 14  # the IP length, as NetFlow counts octets, though only 128 B were kept
    assert r["sampling_interval"] == 512
    assert r["version"] == SFLOW_VERSION and r["template_id"] is None
    assert r["start"] == r["end"] == round(WALL * 1e6)
    assert r["extra"]["agent"] == "192.0.2.1" and r["extra"]["frame_length"] == str(len(frame))


def test_expanded_sample_ipv6_agent_raw_ip_header_and_ip_records() -> None:
    l3 = ip_packet("2001:db8::5", "2001:db8::9", 17, udp_header("2001:db8::5", "2001:db8::9", 5353, 53, b"x" * 20))
    samples = [
        FlowSample([sampled_header(l3, protocol=12)], expanded=True, rate=100, input_if=70000, output_if=7),
        FlowSample([sampled_ip("10.0.0.1", "198.51.100.7", 6, 40000, 443, 1500, 0x10)], rate=100),
        FlowSample([sampled_ip("2001:db8::1", "2001:db8::2", 58, 128, 0, 64)], rate=100),
    ]
    rows, events = decode(Datagram(samples, agent="2001:db8::ff", sub_agent=3))
    assert kinds(events) == {"sflow_flow_samples": 3}
    # row order is not arrival order (header samples are decoded together at take()): found by address
    a, b, c = (next(r for r in rows if r["src_ip"] == ip) for ip in ("2001:db8::5", "10.0.0.1", "2001:db8::1"))
    assert (a["src_ip"], a["dst_ip"], a["dst_port"], a["transport"]) == ("2001:db8::5", "2001:db8::9", 53, "udp")
    assert a["extra"]["input_if"] == "70000" and a["extra"]["agent"] == "2001:db8::ff"
    assert a["observation_domain"] == 3
    assert (b["src_ip"], b["dst_port"], b["bytes"], b["tcp_flags"]) == ("10.0.0.1", 443, 1500, 0x10)
    # ICMPv6 has no ports: null, not the record's zero fields read as ports
    assert c["transport"] == "icmpv6" and c["src_port"] is None and c["dst_port"] is None


def test_counter_samples_vendor_records_and_unknown_headers_are_counted_not_rows() -> None:
    frame = tcp_frame("10.1.2.3", "203.0.113.9", 51000, 443)
    samples = [
        CounterSample(),
        FlowSample([opaque_record((9 << 12) | 7, b"vendor data!"), sampled_header(frame)]),
        FlowSample([sampled_header(b"\x11" * 40, protocol=3)]),  # token ring: not decoded
        FlowSample([opaque_record(1002, b"\0" * 12)]),  # an extended router record alone: no packet
    ]
    rows, events = decode(Datagram(samples))
    assert len(rows) == 1 and rows[0]["dst_port"] == 443
    k = kinds(events)
    assert k["sflow_counter_samples"] == 1 and k["sflow_flow_samples"] == 3
    reasons = [e.detail for e in events if e.kind == "reject"]
    assert "sFlow sampled header of token ring not decoded" in reasons
    assert "sFlow flow sample without a packet header or IP record" in reasons


def test_a_header_without_ip_is_rejected_by_name() -> None:
    arp = b"\xff" * 6 + b"\x02" * 6 + b"\x08\x06" + b"\0" * 28
    rows, events = decode(Datagram([FlowSample([sampled_header(arp)])]))
    assert rows == []
    assert [e.detail for e in events if e.kind == "reject"] == ["sFlow sampled header carries no IP packet"]


def test_truncated_datagram_keeps_the_complete_samples_before_the_cut() -> None:
    s1 = FlowSample([sampled_header(tcp_frame("10.0.0.1", "10.0.0.2", 1000, 2000))])
    s2 = FlowSample([sampled_header(tcp_frame("10.0.0.3", "10.0.0.4", 1001, 2001))], seq=2)
    data = Datagram([s1, s2]).encode()
    rows, events = decode(data[:-30])
    assert [r["src_ip"] for r in rows] == ["10.0.0.1"]
    assert "sFlow datagram truncated" in [e.detail for e in events if e.kind == "reject"]


@pytest.mark.parametrize("data", [
    b"\x00\x00\x00\x05",
    b"\x00\x00\x00\x05" + b"\x00\x00\x00\x09" + b"\0" * 40,  # agent address type 9
    Datagram().encode()[:-4] + struct.pack(">I", 10**6),  # a million samples announced
])
def test_garbage_never_raises_and_is_rejected(data: bytes) -> None:
    rows, events = decode(data)
    assert rows == []
    assert any(e.kind == "reject" and e.detail.startswith("sFlow") for e in events)


def test_sequence_gaps_and_agent_drops_are_counted_per_agent() -> None:
    cache = TemplateCache()
    frame = tcp_frame("10.0.0.1", "10.0.0.2", 1000, 2000)
    _, e1 = decode(Datagram([FlowSample([sampled_header(frame)], drops=5)], seq=10), cache)
    _, e2 = decode(Datagram([FlowSample([sampled_header(frame)], drops=9)], seq=14), cache)
    # another agent's numbering is its own
    _, e3 = decode(Datagram([FlowSample([sampled_header(frame)], drops=0)], seq=1, agent="192.0.2.2"), cache)
    assert "seq_gap" not in kinds(e1)
    assert kinds(e2)["seq_gap"] == 3  # datagrams 11, 12, 13 lost
    assert kinds(e2)["sflow_agent_drops"] == 4
    assert "seq_gap" not in kinds(e3) and "sflow_agent_drops" not in kinds(e3)


def test_no_arrival_time_means_null_times() -> None:
    rows, _ = decode(Datagram([FlowSample([sampled_header(tcp_frame("10.0.0.1", "10.0.0.2", 1, 2))])]), wall=None)
    assert rows[0]["start"] is None and rows[0]["end"] is None


def test_vxlan_inside_a_sample_is_opened() -> None:
    from minewatch.synth.pcapwriter import encapsulate

    inner = ip_packet("10.9.0.5", "198.51.100.20", 6, tcp_header("10.9.0.5", "198.51.100.20", 40000, 4444, 1, 1,
                                                                   0x18, b"{}"))
    outer = LinkSpec().frame(encapsulate(inner, "vxlan", "192.0.2.10", "192.0.2.11"))
    rows, _ = decode(Datagram([FlowSample([sampled_header(outer, max_header=256)])]))
    assert (rows[0]["src_ip"], rows[0]["dst_port"], rows[0]["extra"]["tunnel"]) == ("10.9.0.5", 4444, "vxlan")


def _netflow_like(rows: list[dict]) -> pa.Table:
    from minewatch.sources.netflow import records_to_batch

    return pa.Table.from_batches([records_to_batch(rows)])


def test_engines_keep_sampled_and_sflow_rows_from_the_timing_views(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engines (local and Spark share `flow_findings`) read packet samples and 1-in-N records by
    name only: the behaviour kernel never sees them, the unsampled rows still reach it."""
    import minewatch.net.behavior as behavior
    from minewatch.engines.kernels import FlowConfig, flow_findings

    frame = tcp_frame("10.0.0.1", "10.0.0.2", 1000, 2000)
    sf_rows, _ = decode(Datagram([FlowSample([sampled_header(frame)], rate=1)]))
    plain = dict(sf_rows[0], version=9, template_id=256, src_ip="10.0.0.7", extra=None)
    thinned = dict(plain, src_ip="10.0.0.8", sampling_interval=100)
    seen: list[set[str]] = []
    real = behavior.findings_from_flow_table

    def spy(t: pa.Table, *a, **k):
        seen.append(set(t.column("src_ip").to_pylist()) | set(t.column("dst_ip").to_pylist()))
        return real(t, *a, **k)

    monkeypatch.setattr(behavior, "findings_from_flow_table", spy)
    flow_findings(_netflow_like([*sf_rows, plain, thinned]), FlowConfig(source="t"))
    assert seen and "10.0.0.7" in seen[0]
    assert "10.0.0.1" not in seen[0] and "10.0.0.8" not in seen[0]


# --- sampled content: the method at the start of a sampled payload -----------------------------------

@pytest.mark.parametrize(("payload", "method"), [
    (b'{"id": 4, "method": "mining.submit", "params": ["wk1", "0000', "mining.submit"),
    (b'{"params": ["00d3", "6a7b"], "id": null, "method": "mining.notify"}', "mining.notify"),
    (b'{"jsonrpc":"2.0","method":"job","params":{"blob":"0e0ea5c7d0a2', "job"),
    (b'{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":"44AFFq5kSiGBoZ', "login"),
    (b'{"id":3,"jsonrpc":"2.0","method":"keepalived","params":{"id":"1', "keepalived"),
    (b'{"worker":"rig","jsonrpc":"2.0","method":"eth_submitLogin","params":["0x', "eth_submitLogin"),
])
def test_fragment_methods_of_miners_are_named(payload: bytes, method: str) -> None:
    from minewatch.net.sampled import fragment_method

    assert fragment_method(payload) == method


@pytest.mark.parametrize("payload", [
    b'{"id":1,"jsonrpc":"2.0","method":"login","params":{"username":"alice","password":"',  # a web app
    b'{"id":7,"method":"submit","params":{"form":"contact","fields":[1,2',  # a form, no job_id/nonce
    b'{"id":2,"method":"mining.train_model","params":{"dataset":"s3://',  # data mining's namespace
    b'{"jsonrpc":"2.0","method":"textDocument/didOpen","params":{"text',  # LSP
    b"GET /api/mining.submit HTTP/1.1\r\nHost: example.org\r\n",  # the word, not a method
])
def test_fragments_of_other_json_rpc_are_not_mining(payload: bytes) -> None:
    from minewatch.net.sampled import fragment_method

    assert fragment_method(payload) is None


def _session_rows(rate: int = 1000, benign: bool = False) -> list[dict]:
    """Packet samples of one connection in both directions: a share from the miner, a job from the pool
    (or, benign, a web app's JSON-RPC log-in and its reply)."""
    cli, srv = (("10.1.2.4", 52000), ("198.51.100.21", 8080)) if benign else \
        (("10.1.2.3", 51000), ("198.51.100.20", 3333))
    if benign:
        up = b'{"id":1,"jsonrpc":"2.0","method":"login","params":{"username":"alice"}}'
        down = b'{"id":1,"jsonrpc":"2.0","result":{"token":"abc"}}'
    else:
        up = b'{"id": 9, "method": "mining.submit", "params": ["w", "1a2b", "00", "6553", "0f"]}'
        down = b'{"id": null, "method": "mining.notify", "params": ["1a2c", "00", "01"]}'
    rows = []
    for i, (a, b, pl) in enumerate([(cli, srv, up), (srv, cli, down), (cli, srv, b""), (cli, srv, up)]):
        frame = tcp_frame(a[0], b[0], a[1], b[1], pl, 0x18 if pl else 0x10)
        r, _ = decode(Datagram([FlowSample([sampled_header(frame)], rate=rate)], seq=i + 1), wall=WALL + 60 * i)
        rows.extend(r)
    return rows


def test_sampled_stratum_makes_one_finding_per_connection_in_the_engines() -> None:
    from minewatch.engines.kernels import FlowConfig, findings_from_rows, flow_findings

    rows = _session_rows()
    assert [r["extra"].get("stratum_method") for r in rows] == ["mining.submit", "mining.notify", None,
                                                               "mining.submit"]
    (f,) = findings_from_rows(flow_findings(_netflow_like(rows), FlowConfig(source="sflow")))
    assert (f.kind, f.detector, f.variant) == ("mining", "net.stratum", "stratum-v1")
    assert (f.src_ip, f.src_port, f.dst_ip, f.dst_port) == ("10.1.2.3", 51000, "198.51.100.20", 3333)
    assert f.subscores["sampled_protocol"] == 60.0 and f.score >= 50
    (ev,) = [e for e in f.evidence if e.code == "net.sampled_protocol"]
    assert ev.data["methods"] == {"mining.submit": 2, "mining.notify": 1}
    assert "1 in 1000" not in ev.text  # the engines see no sampling rate per row: not claimed
    assert "mining.submit ×2" in ev.text and "mining.submit ×2" in ev.text_zh
    # the same connection's samples of a web app's log-in: nothing
    assert findings_from_rows(flow_findings(_netflow_like(_session_rows(benign=True)), FlowConfig(source="s"))) == []


def test_sampled_stratum_is_found_by_the_scan_of_a_collector_folder(tmp_path) -> None:
    from minewatch.net.intel import PoolIntel
    from minewatch.net.logscan import FlowLogScanner
    from minewatch.sources.collector import PartitionedWriter

    out = tmp_path / "flows"
    w = PartitionedWriter(out)
    w.add(_netflow_like([*_session_rows(), *_session_rows(benign=True)]), arrived_us=0, now=0.0)
    w.flush()
    logs = FlowLogScanner(PoolIntel.builtin())
    logs.add_file(out, "netflow-parquet")
    found = logs.findings()
    assert logs.counts["sampled_records"] == 8
    (f,) = found
    assert f.src_ip == "10.1.2.3" and f.dst_port == 3333 and f.subscores["sampled_protocol"] == 60.0


# --- review 10 -----------------------------------------------------------------------------------------

def _resp(*parts: bytes) -> bytes:
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


@pytest.mark.parametrize("payload", [
    _resp(b"PUBLISH", b"jobs", b'{"id": null, "method": "mining.notify", "params": ["j1", "00"]}'),
    b'{"time": "2026-11-22T09:00:00Z", "level": "debug", "method": "mining.notify", "job": "j"}\n',
    b'{"msg": "forwarded", "method": "mining.submit", "params": ["w", "1"]}',
])
def test_quoted_stratum_in_redis_frames_and_log_records_is_not_a_message(payload: bytes) -> None:
    from minewatch.net.sampled import fragment_method

    assert fragment_method(payload[:74]) is None


def test_cgminer_params_first_shares_and_jobs_are_recognised_in_short_fragments() -> None:
    from minewatch.net.sampled import (
        NOTIFY_CUT,
        NOTIFY_SHAPE,
        SUBMIT_SHAPE,
        fragment_method,
        method_points,
        sent_by_client,
    )

    submit = b'{"params": ["acct.rig1", "1a2b3c", "00000001", "5f5e1000", "abcd1234"], "id": 9, "method": "mining.submit"}'
    prevhash = b"4d16b6f85af6e2198f44ae2a6de67f78487ae5611b77c6c0440b921e00000000"  # ends as block hashes do
    notify = b'{"params":["4f2a","' + prevhash + b'","01000000"],"id":null,"method":"mining.notify"}'
    assert fragment_method(submit[:62]) == SUBMIT_SHAPE and sent_by_client(SUBMIT_SHAPE)
    assert fragment_method(notify[:90]) == NOTIFY_SHAPE and not sent_by_client(NOTIFY_SHAPE)
    # cut before the hash's end: the shape alone weighs a suspect's points (a file's SHA-256 looks the same)
    assert fragment_method(notify[:62]) == NOTIFY_CUT and method_points(NOTIFY_CUT) < 50
    # an array of words, a date where the block time goes, a file name for a job id, a hash too short to be a
    # block's, or a visible non-mining method: no job or share
    assert fragment_method(b'{"params": ["alice", "bob", "carol", "dave"], "id": 1, "method": "chat"}') is None
    assert fragment_method(b'{"params": ["alice", "42", "1700", "20231122"], "id": 1, "method": "reports.get"}') is None
    assert fragment_method(b'{"params": ["backup.tar", "' + prevhash + b'"], "id": 3}') is None
    assert fragment_method(b'{"params":["4f2a","' + b"0" * 30 + b'"],"id":1}') is None
    assert fragment_method(b'{"params": ["acct.rig1", "1a2b3c", "00000001", "5f5e1000"], "method": "x.y"}') is None


def test_scan_makes_one_finding_per_connection_facing_the_miner_with_the_pool_name(tmp_path) -> None:
    """Ten samples of one miner, the first with a method the pool's job: one finding, client -> pool, named
    by the DNS answer in the same scan (each sample used to be a finding, a job's facing the pool)."""
    import json

    from minewatch.net.intel import PoolIntel
    from minewatch.net.logscan import FlowLogScanner
    from minewatch.sources.collector import PartitionedWriter

    cli, srv = ("10.1.2.3", 51000), ("198.51.100.20", 3333)
    job = b'{"id": null, "method": "mining.notify", "params": ["1a2c", "00", "01"]}'
    share = b'{"id": 9, "method": "mining.submit", "params": ["w", "1a2b", "00", "6553", "0f"]}'
    rows = []
    for i in range(10):
        a, b, pl = (srv, cli, job) if i == 0 else (cli, srv, share) if i % 2 else (srv, cli, b"\x00" * 8)
        r, _ = decode(Datagram([FlowSample([sampled_header(tcp_frame(a[0], b[0], a[1], b[1], pl))], rate=1000)],
                               seq=i + 1), wall=WALL + 30 * i)
        rows += r
    out = tmp_path / "flows"
    w = PartitionedWriter(out)
    w.add(_netflow_like(rows), arrived_us=0, now=0.0)
    w.flush()
    eve = tmp_path / "eve.json"
    eve.write_text(json.dumps({"timestamp": "2025-11-22T08:26:30.000000+0000", "event_type": "dns",
                               "src_ip": "10.0.0.53", "dest_ip": "10.1.2.3", "proto": "UDP",
                               "dns": {"version": 2, "type": "answer", "rrname": "xmr.f2pool.com",
                                       "answers": [{"rrname": "xmr.f2pool.com", "rrtype": "A",
                                                    "rdata": "198.51.100.20"}]}}) + "\n")
    logs = FlowLogScanner(PoolIntel.builtin())
    logs.add_file(eve, "eve")
    logs.add_file(out, "netflow-parquet")
    (f,) = logs.findings()
    assert (f.src_ip, f.src_port, f.dst_ip, f.dst_port) == ("10.1.2.3", 51000, "198.51.100.20", 3333)
    assert f.pool_host == "xmr.f2pool.com" and "pool_domain" in f.subscores and "sampled_protocol" in f.subscores
    (ev,) = [e for e in f.evidence if e.code == "net.sampled_protocol"]
    assert ev.data["methods"] == {"mining.notify": 1, "mining.submit": 5}


def test_out_of_range_fields_of_an_ip_record_are_nulled_and_the_sample_kept() -> None:
    buf_rows, events = decode(Datagram([FlowSample([sampled_ip("10.0.0.1", "10.0.0.2", 6, 70_000, 443, 60)])]))
    assert [(r["src_port"], r["dst_port"], r["transport"]) for r in buf_rows] == [(None, 443, "tcp")]
    assert not [e for e in events if e.kind == "reject"]


def test_a_64_byte_ipv6_header_still_gives_addresses_and_ports() -> None:
    frame = LinkSpec().frame(ip_packet("2001:db8::5", "2001:db8::9", 6,
                                       tcp_header("2001:db8::5", "2001:db8::9", 40000, 3333, 1, 1, 0x18, b"x" * 200)))
    rows, events = decode(Datagram([FlowSample([sampled_header(frame, max_header=64)])]))
    (r,) = rows
    assert (r["src_ip"], r["src_port"], r["dst_port"], r["tcp_flags"]) == ("2001:db8::5", 40000, 3333, None)
    assert r["bytes"] == len(frame) - 14 and r["extra"]["header_cut"] == "transport"
    assert not [e for e in events if e.kind == "reject"]


def test_a_rejected_datagram_is_not_also_counted_lost() -> None:
    cache = TemplateCache()
    frame = tcp_frame("10.0.0.1", "10.0.0.2", 1000, 2000)
    decode(Datagram([FlowSample([sampled_header(frame)])], seq=1), cache)
    bad = bytearray(Datagram([FlowSample([sampled_header(frame)])], seq=2).encode())
    bad[24:28] = struct.pack(">I", 5000)  # the sample count of a datagram with an IPv4 agent
    _, e2 = decode(bytes(bad), cache)
    assert "sFlow sample count 5000 out of range" in [e.detail for e in e2]
    _, e3 = decode(Datagram([FlowSample([sampled_header(frame)])], seq=3), cache)
    assert "seq_gap" not in kinds(e3)


def test_mixed_ipv4_and_ipv6_samples_keep_their_own_addresses() -> None:
    l6 = ip_packet("2001:db8::5", "2001:db8::9", 17, udp_header("2001:db8::5", "2001:db8::9", 5353, 53, b"x"))
    samples = [FlowSample([sampled_header(tcp_frame(f"10.0.0.{k}", "10.9.9.9", 1000 + k, 443))]) for k in range(1, 4)]
    samples.insert(1, FlowSample([sampled_header(l6, protocol=12)]))
    rows, _ = decode(Datagram(samples))
    assert sorted((r["src_ip"], r["dst_ip"]) for r in rows) == [
        ("10.0.0.1", "10.9.9.9"), ("10.0.0.2", "10.9.9.9"), ("10.0.0.3", "10.9.9.9"), ("2001:db8::5", "2001:db8::9")]


def test_the_drop_and_sequence_tables_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import minewatch.sources.netflow as nf
    import minewatch.sources.sflow as sf

    monkeypatch.setattr(sf, "MAX_DROP_SOURCES", 50)
    monkeypatch.setattr(nf, "MAX_SEQ_KEYS", 50)
    cache = TemplateCache()
    frame = tcp_frame("10.0.0.1", "10.0.0.2", 1000, 2000)
    for k in range(400):  # forged sub-agents and data sources
        decode(Datagram([FlowSample([sampled_header(frame)], source_index=k)], sub_agent=k), cache)
    assert len(cache.sflow_drops) <= 50 and len(cache.next_seq) <= 50


def test_a_sampled_hello_alone_is_a_suspect_unless_its_host_mined_elsewhere(tmp_path) -> None:
    """Only a `mining.subscribe` sampled: a scanner or a pool monitor (30 points, not reported), unless the
    same host showed shares on another connection of the input (a miner trying its next pool)."""
    from minewatch.net.intel import PoolIntel
    from minewatch.net.logscan import FlowLogScanner
    from minewatch.sources.collector import PartitionedWriter

    hello = b'{"id": 1, "method": "mining.subscribe", "params": ["cgminer/4.10.0"]}'
    share = b'{"id": 9, "method": "mining.submit", "params": ["w", "1a2b", "00", "6553", "0f"]}'

    def samples(cli: tuple[str, int], srv: tuple[str, int], pl: bytes, seq: int) -> list[dict]:
        r, _ = decode(Datagram([FlowSample([sampled_header(tcp_frame(cli[0], srv[0], cli[1], srv[1], pl))])],
                               seq=seq), wall=WALL + seq)
        return r

    rows = samples(("192.0.2.77", 40001), ("10.20.0.6", 3333), hello, 1)  # a scanner
    rows += samples(("10.1.2.3", 50200), ("198.51.100.99", 3333), hello, 2)  # a miner's backup pool
    rows += samples(("10.1.2.3", 50123), ("198.51.100.20", 3333), share, 3)  # ... and its main pool
    out = tmp_path / "flows"
    w = PartitionedWriter(out)
    w.add(_netflow_like(rows), arrived_us=0, now=0.0)
    w.flush()
    logs = FlowLogScanner(PoolIntel.builtin())
    logs.add_file(out, "netflow-parquet")
    found = {(f.src_ip, f.dst_ip): f for f in logs.findings()}
    assert set(found) == {("10.1.2.3", "198.51.100.99"), ("10.1.2.3", "198.51.100.20")}
    codes = {e.code for e in found[("10.1.2.3", "198.51.100.99")].evidence}
    assert "net.sampled_hello_of_a_miner" in codes


def exports_capture(path: Path) -> Path:
    """A capture taken at a collector: three sFlow datagrams from an agent, each sampling a miner's share
    (1 in 1,000), and three NetFlow v5 datagrams of 30 web connections."""
    from minewatch.synth.pcapwriter import Pkt, write_capture
    from test_flows_netflow import UPTIME, v5

    share = b'{"id": 9, "method": "mining.submit", "params": ["w", "1a2b", "00", "6553", "0f"]}'
    agent, collector = "10.0.9.1", "10.0.9.200"
    pkts = []
    for k in range(3):
        frame = tcp_frame("10.1.2.3", "198.51.100.20", 51000, 3333, share)
        dg = Datagram([FlowSample([sampled_header(frame)], rate=1000, seq=k + 1)], agent=agent, seq=k + 1).encode()
        pkts.append(Pkt(round((WALL + 60 * k) * 1e9), ip_packet(agent, collector, 17, udp_header(agent, collector, 40000,
                                                                                                6343, dg))))
    recs = [(f"10.5.0.{j}", "192.0.2.9", 40000 + j, 443, 6, 12, 3456, UPTIME - 60_000, UPTIME - 1_000)
            for j in range(1, 31)]
    for k, dg in enumerate(v5(recs, seq=30 * k) for k in range(3)):
        pkts.append(Pkt(round((WALL + 5 + k) * 1e9), ip_packet("10.0.9.2", collector, 17,
                                                               udp_header("10.0.9.2", collector, 40001, 2055, dg))))
    return write_capture(path, sorted(pkts, key=lambda p: p.ts_ns))


def test_flow_exports_inside_a_capture_are_read_as_collector_output(tmp_path, tmp_home) -> None:
    """`tcpdump -w exports.pcap udp port 6343 or udp port 2055` at a collector: the sFlow samples and the
    NetFlow records in it are read as `minewatch collect` would have read them, under the capture's name."""
    import json

    from typer.testing import CliRunner

    from minewatch.cli import app

    cap = exports_capture(tmp_path / "exports.pcap")
    r = CliRunner().invoke(app, ["scan", str(cap), "--no-store", "--format", "jsonl"])
    assert r.exit_code == 0, r.output
    found = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    (f,) = [x for x in found if x["kind"] == "mining"]
    assert (f["src_ip"], f["dst_port"], f["source"]) == ("10.1.2.3", 3333, str(cap))
    assert "sampled_protocol" in f["subscores"]
    assert "6 flow export datagram(s) (NetFlow, IPFIX, sFlow) inside the captures gave 93 record(s)" in r.output


def test_sampled_records_of_an_unknown_client_side_are_read_both_ways() -> None:
    """Without content to say which side is the miner, one-way records in either order must still let the
    pool list read the server's side (review 12: the pool->miner record first hid the finding)."""
    from minewatch.engines.kernels import FlowConfig, to_flow_table
    from minewatch.net.sampled import collapse_samples

    frame_up = tcp_frame("10.1.2.3", "198.51.100.20", 50123, 3333, b"\x17\x03\x03" + bytes(40))
    frame_down = tcp_frame("198.51.100.20", "10.1.2.3", 3333, 50123, b"\x17\x03\x03" + bytes(40))
    for order in ((frame_down, frame_up), (frame_up, frame_down)):
        rows = []
        for i, fr in enumerate(order):
            r, _ = decode(Datagram([FlowSample([sampled_header(fr)], rate=100)], seq=i + 1))
            rows += r
        flows = to_flow_table(_netflow_like(rows), FlowConfig(source="s")).to_pylist()
        out, contents = collapse_samples(flows)
        assert not contents
        assert {(r["src_ip"], r["dst_ip"]) for r in out} == {("10.1.2.3", "198.51.100.20"),
                                                            ("198.51.100.20", "10.1.2.3")}


def test_export_ports_are_exports_only_when_the_first_datagram_is_one(tmp_path, tmp_home) -> None:
    """DNS from an ephemeral source port that happens to be 4739, and a game on UDP 9996, stay what they are
    (review 12: both were decoded as flow exports)."""
    from typer.testing import CliRunner

    from minewatch.cli import app
    from minewatch.net.pipeline import looks_like_export
    from minewatch.synth.benign import dns_answer, dns_query
    from minewatch.synth.pcapwriter import Pkt, write_capture
    from test_flows_netflow import UPTIME, v5

    assert looks_like_export(v5([("10.0.0.1", "10.0.0.2", 1, 2, 6, 1, 40, UPTIME - 10, UPTIME - 5)]))
    assert looks_like_export(Datagram().encode())
    assert not looks_like_export(bytes(range(200)))
    pkts = []
    for k in range(4):  # a host resolving a pool from source port 4739 over an hour
        t = WALL + 900 * k
        q = udp_header("10.0.0.5", "10.0.0.53", 4739, 53, dns_query("xmr.f2pool.com", k))
        a = udp_header("10.0.0.53", "10.0.0.5", 53, 4739, dns_answer("xmr.f2pool.com", k, ["203.0.113.9"]))
        pkts += [Pkt(round(t * 1e9), ip_packet("10.0.0.5", "10.0.0.53", 17, q)),
                 Pkt(round((t + 0.01) * 1e9), ip_packet("10.0.0.53", "10.0.0.5", 17, a))]
    for k in range(50):  # a game's datagrams to 9996
        pkts.append(Pkt(round((WALL + 1 + k) * 1e9), ip_packet("10.0.0.7", "198.51.100.7", 17, udp_header(
            "10.0.0.7", "198.51.100.7", 40000, 9996, bytes((k * 7 + j) % 256 for j in range(120))))))
    cap = write_capture(tmp_path / "mixed.pcap", sorted(pkts, key=lambda p: p.ts_ns))
    r = CliRunner().invoke(app, ["scan", str(cap), "--no-store", "--format", "jsonl"])
    assert r.exit_code == 0, r.output
    assert "4 DNS answers" in r.output and "flow export" not in r.output
    assert '"src_ip": "10.0.0.5"' in r.output  # the DNS-only finding of the host that kept resolving the pool


def test_samples_of_one_connection_over_rotated_captures_are_one_finding(tmp_path, tmp_home) -> None:
    """Rotated captures of export traffic: the samples of one miner in three files are one connection, as
    `minewatch collect` would have kept them (review 12: one finding per file)."""
    import json

    from typer.testing import CliRunner

    from minewatch.cli import app
    from minewatch.synth.pcapwriter import Pkt, write_capture

    share = b'{"id": 9, "method": "mining.submit", "params": ["w", "1a2b", "00", "6553", "0f"]}'
    caps = []
    for part in range(3):
        pkts = []
        for k in range(2):
            seq = 2 * part + k + 1
            frame = tcp_frame("10.1.2.3", "198.51.100.20", 51000, 3333, share)
            dg = Datagram([FlowSample([sampled_header(frame)], rate=1000, seq=seq)], agent="10.0.9.1", seq=seq).encode()
            pkts.append(Pkt(round((WALL + 60 * seq) * 1e9), ip_packet("10.0.9.1", "10.0.9.200", 17,
                                                                      udp_header("10.0.9.1", "10.0.9.200", 40000, 6343, dg))))
        caps.append(write_capture(tmp_path / f"rot_{part}.pcap", pkts))
    r = CliRunner().invoke(app, ["scan", *map(str, caps), "--no-store", "--format", "jsonl"])
    assert r.exit_code == 0, r.output
    found = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    (f,) = [x for x in found if x["kind"] == "mining"]
    assert "mining.submit ×6" in " ".join(e["text"] for e in f["evidence"])


#: what the miner's main-pool connection showed: a share (a finding of its own), or an XMRig keepalive
#: alone (mining content under the report line, which still makes the host a miner; review 13)
MAIN_POOL_SAMPLES = {
    "share": b'{"id": 9, "method": "mining.submit", "params": ["w", "1a2b", "00", "6553", "0f"]}',
    "keepalived": b'{"id": 2, "jsonrpc": "2.0", "method": "keepalived", "params": {"id": "x"}}',
}


def sampled_hello_dir(tmp_path: Path, main: str = "share") -> Path:
    """Collector output of three sampled connections: a scanner's lone `mining.subscribe`, a miner's lone
    `mining.subscribe` to its backup pool, and the same miner's `main` sample to its main pool."""
    from minewatch.sources.collector import PartitionedWriter

    hello = b'{"id": 1, "method": "mining.subscribe", "params": ["cgminer/4.10.0"]}'
    share = MAIN_POOL_SAMPLES[main]

    def samples(cli: tuple[str, int], srv: tuple[str, int], pl: bytes, seq: int) -> list[dict]:
        r, _ = decode(Datagram([FlowSample([sampled_header(tcp_frame(cli[0], srv[0], cli[1], srv[1], pl))])],
                               seq=seq), wall=WALL + seq)
        return r

    rows = samples(("192.0.2.77", 40001), ("10.20.0.6", 3333), hello, 1)
    # port 50206: Spark's bucket hash puts this connection apart from the main pool's (checked by the test)
    rows += samples(("10.1.2.3", 50206), ("198.51.100.99", 3333), hello, 2)
    rows += samples(("10.1.2.3", 50123), ("198.51.100.20", 3333), share, 3)
    out = tmp_path / f"hello_flows_{main}"
    w = PartitionedWriter(out)
    w.add(_netflow_like(rows), arrived_us=0, now=0.0)
    w.flush()
    return out


@pytest.mark.parametrize("main", sorted(MAIN_POOL_SAMPLES))
def test_engines_judge_a_sampled_hello_by_its_host_as_scan_does(tmp_path, main) -> None:
    """Review 12: the engines read each batch of connections apart, so a miner's hello to its backup pool
    and its shares to the main pool can land in different batches; the hello must still be reported as
    the miner's next pool, with `scan`'s points and evidence, and the scanner's hello must not."""
    from minewatch.engines import local
    from minewatch.engines.kernels import CONTENT_PENDING, HELLO_PENDING, FlowConfig, findings_from_rows
    from minewatch.net.intel import PoolIntel
    from minewatch.net.logscan import FlowLogScanner

    out = sampled_hello_dir(tmp_path, main)
    logs = FlowLogScanner(PoolIntel.builtin())
    logs.add_file(out, "netflow-parquet")
    want = {(f.src_ip, f.dst_ip): (f.score, sorted(e.code for e in f.evidence)) for f in logs.findings()}
    assert ("10.1.2.3", "198.51.100.99") in want and ("192.0.2.77", "10.20.0.6") not in want
    for batch_rows in (1, 100_000):  # every connection in a batch of its own, then all in one
        res = local.run_flows(out, FlowConfig(source="t"), batch_rows=batch_rows)
        got = {(f.src_ip, f.dst_ip): (f.score, sorted(e.code for e in f.evidence))
               for f in findings_from_rows(res.rows)}
        assert got == want, batch_rows
        assert not any(HELLO_PENDING in s or CONTENT_PENDING in s for s in res.rows.column("finding").to_pylist())


def test_a_connection_in_a_capture_and_in_its_sflow_samples_is_one_finding(tmp_path, tmp_home) -> None:
    """A sensor beside a router holds the miner's packets and the router's sFlow samples of them (review 12:
    two findings for one connection). One finding with both views' evidence, also in the store."""
    import json

    from typer.testing import CliRunner

    from minewatch.cli import app
    from minewatch.store import Store
    from minewatch.synth.pcapwriter import Pkt, write_capture
    from minewatch.synth.scenario import ScenarioSpec, SessionSpec, build_scenario

    pkts, labels = build_scenario(ScenarioSpec([SessionSpec("stratum1-asic", "10.1.2.3", "198.51.100.20",
                                                            server_port=3333, client_port=51000, duration=600)],
                                               t0=WALL))
    lab = labels[-1]
    share = b'{"id": 9, "method": "mining.submit", "params": ["w", "1a2b", "00", "6553", "0f"]}'
    for k in range(3):
        frame = tcp_frame(lab.src_ip, lab.dst_ip, lab.src_port, lab.dst_port, share)
        dg = Datagram([FlowSample([sampled_header(frame)], rate=1000, seq=k + 1)], agent="10.0.9.1", seq=k + 1).encode()
        pkts.append(Pkt(round((WALL + 100 + 60 * k) * 1e9), ip_packet("10.0.9.1", "10.0.9.200", 17, udp_header(
            "10.0.9.1", "10.0.9.200", 40000, 6343, dg))))
    cap = write_capture(tmp_path / "both.pcap", sorted(pkts, key=lambda p: p.ts_ns))
    r = CliRunner().invoke(app, ["scan", str(cap), "--format", "jsonl"])
    assert r.exit_code == 0, r.output
    mining = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{") and '"mining"' in x]
    (f,) = [x for x in mining if x["kind"] == "mining"]
    assert (f["src_ip"], f["src_port"], f["dst_ip"], f["dst_port"]) == ("10.1.2.3", 51000, "198.51.100.20", 3333)
    assert "net.sampled_protocol" in {e["code"] for e in f["evidence"]}
    assert {"protocol", "sampled_protocol"} <= set(f["subscores"])  # the capture's dissector and the samples
    st = Store(read_only=True)
    rows = st.con.execute("SELECT subscores FROM findings WHERE kind = 'mining'").fetchall()
    st.close()
    assert len(rows) == 1 and "sampled_protocol" in rows[0][0]
    # a different connection of the same host (another source port) keeps its own finding
    pkts2 = list(pkts)
    frame = tcp_frame(lab.src_ip, lab.dst_ip, 51999, lab.dst_port, share)
    dg = Datagram([FlowSample([sampled_header(frame)], rate=1000, seq=9)], agent="10.0.9.1", seq=9).encode()
    pkts2.append(Pkt(round((WALL + 400) * 1e9), ip_packet("10.0.9.1", "10.0.9.200", 17, udp_header(
        "10.0.9.1", "10.0.9.200", 40000, 6343, dg))))
    cap2 = write_capture(tmp_path / "both2.pcap", sorted(pkts2, key=lambda p: p.ts_ns))
    r = CliRunner().invoke(app, ["scan", str(cap2), "--no-store", "--format", "jsonl"])
    ports = sorted(json.loads(x)["src_port"] for x in r.stdout.splitlines()
                   if x.startswith("{") and json.loads(x)["kind"] == "mining")
    assert ports == [51000, 51999]
