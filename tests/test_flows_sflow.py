"""sFlow v5: the decoder on datagrams laid out word by word (every sample and record kind a collector
meets, and damage), the collector's counters, and the scan's rule that packet samples are names only."""

from __future__ import annotations

import struct

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
