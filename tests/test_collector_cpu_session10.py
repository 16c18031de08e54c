"""Session 10's CPU savings in the collector keep its output: each saving is checked for what it does (a
kept array is reused, statistics are left out where they prune nothing, the sFlow walk keeps a datagram
once, only JSON-looking payloads are read for a method, the process skips only the interpreter's
teardown) and that the rows are still what the plain construction gives."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import minewatch.sources.netflow as nf
from collector_proc import CollectorProcess
from minewatch.sources.collector import PartitionedWriter
from minewatch.sources.netflow import ColumnBuffer, TemplateCache, decode_into, table_to_records
from minewatch.synth.pcapwriter import LinkSpec, encapsulate, ip_packet, tcp_header, udp_header
from minewatch.synth.sflow import CounterSample, Datagram, FlowSample, sampled_header

WALL = 1_763_800_000.25
V5_REC = struct.Struct(">4s4s4sHHIIIIHHxBBBHHBBxx")
KEYS = ["ipNextHopIPv4Address", "ingressInterface", "", "é"]


def _v5(k: int, per: int = 3) -> bytes:
    hdr = struct.pack(">HHIIIIBBH", 5, per, 86_400_000, 1_700_000_000, 0, k * per, 0, 1, 0)
    body = b"".join(
        V5_REC.pack(socket.inet_aton(f"10.{k % 256}.{j}.1"), socket.inet_aton("192.0.2.7"), socket.inet_aton("198.51.100.1"),
                    3 + j, 4, 5 + j, 500 * j + 1, 86_390_000, 86_399_000, 1024 + j, 443, 0x1B, 6, j, 64500 + j, 64510,
                    24, 16)
        for j in range(per)
    )
    return hdr + body


def test_repeated_texts_are_kept_and_sliced_for_the_next_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nf, "_REPEATS", {})
    monkeypatch.setattr(nf, "_REPEATS_BYTES", [0])
    first = nf._repeat_text(KEYS, 100)
    again = nf._repeat_text(KEYS, 60)
    assert first.to_pylist() == KEYS * 100 and again.to_pylist() == KEYS * 60
    # the second is a view of the first's text buffer, not a new one
    assert again.buffers()[2].address == first.buffers()[2].address
    bigger = nf._repeat_text(KEYS, 400)
    assert bigger.to_pylist() == KEYS * 400
    per = sum(len(k.encode()) for k in KEYS)
    assert nf._REPEATS_BYTES[0] == nf._REPEATS[tuple(KEYS)][1] * per  # the replaced one is not counted twice
    assert nf._repeat_text(["127.0.0.1:9"], 0).to_pylist() == []


def test_repeated_texts_past_the_byte_bound_are_built_and_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nf, "_REPEATS", {})
    monkeypatch.setattr(nf, "_REPEATS_BYTES", [0])
    monkeypatch.setattr(nf, "_REPEATS_MAX_BYTES", 64)
    assert nf._repeat_text(KEYS, 50).to_pylist() == KEYS * 50
    assert nf._REPEATS == {} and nf._REPEATS_BYTES[0] == 0
    assert nf._repeat_text(["ab"], 20).to_pylist() == ["ab"] * 20  # 25 repetitions (with headroom), 50 bytes: kept
    assert nf._repeat_text(["cd"], 20).to_pylist() == ["cd"] * 20  # no room beside it: the kept are dropped
    assert list(nf._REPEATS) == [("cd",)] and nf._REPEATS_BYTES[0] == 50


def test_v5_batches_of_shrinking_and_growing_size_keep_their_extra_maps() -> None:
    cache = TemplateCache()
    for sizes in ((40, 7, 90, 1),):
        for k, n in enumerate(sizes):
            buf = ColumnBuffer()
            for i in range(n):
                decode_into(_v5(k * 100 + i % 50), f"192.0.2.{k}:2055", cache, buf)
            rows = table_to_records(buf.take())
            assert len(rows) == 3 * n
            for r in rows:
                assert r["exporter"] == f"192.0.2.{k}:2055"
                assert list(r["extra"]) == ["ipNextHopIPv4Address", "ingressInterface", "egressInterface",
                                            "ipClassOfService", "bgpSourceAsNumber", "bgpDestinationAsNumber",
                                            "sourceIPv4PrefixLength", "destinationIPv4PrefixLength"]


def test_parquet_keeps_statistics_except_for_the_extra_map(tmp_path: Path) -> None:
    buf = ColumnBuffer()
    for k in range(5):
        decode_into(_v5(k), "192.0.2.1:2055", TemplateCache(), buf)
    table = buf.take()
    w = PartitionedWriter(tmp_path)
    w.add(table, 0, 0.0)
    assert w.flush() == 15
    (f,) = tmp_path.rglob("*.parquet")
    meta = pq.ParquetFile(f).metadata.row_group(0)
    stats = {meta.column(i).path_in_schema: meta.column(i).is_stats_set for i in range(meta.num_columns)}
    assert stats["extra.key_value.key"] is False and stats["extra.key_value.value"] is False
    assert all(v for k, v in stats.items() if not k.startswith("extra."))
    assert pq.read_table(f, partitioning=None).equals(table)


def _frame(src: str, dst: str, payload: bytes, sport: int = 40000, dport: int = 3333) -> bytes:
    return LinkSpec().frame(ip_packet(src, dst, 6, tcp_header(src, dst, sport, dport, 1, 1, 0x18, payload)))


def test_sflow_pending_keeps_a_datagram_once_and_its_facts_once() -> None:
    frames = [_frame("10.0.0.1", "10.0.0.2", b"x"), _frame("10.0.0.3", "10.0.0.4", b"y")]
    dg = Datagram([FlowSample([sampled_header(f)], seq=i) for i, f in enumerate(frames * 2)]
                  + [CounterSample()]).encode()
    buf = ColumnBuffer()
    decode_into(dg, "127.0.0.1:6343", TemplateCache(), buf, wall_s=WALL)
    decode_into(Datagram([CounterSample()], seq=2).encode(), "127.0.0.1:6343", TemplateCache(), buf, wall_s=WALL)
    pend = buf.sflow
    assert len(pend) == 4 and len(pend.dgrams) == 1 and bytes(pend.raw) == dg  # the counters-only one adds nothing
    rows = table_to_records(buf.take())
    assert [r["src_ip"] for r in rows] == ["10.0.0.1", "10.0.0.3", "10.0.0.1", "10.0.0.3"]


def test_only_payloads_that_can_open_json_are_read_for_a_method(monkeypatch: pytest.MonkeyPatch) -> None:
    import minewatch.net.sampled as sampled

    seen: list[bytes] = []
    real = sampled.fragment_method

    def counting(payload: bytes) -> str | None:
        seen.append(payload)
        return real(payload)

    monkeypatch.setattr(sampled, "fragment_method", counting)
    share = b'{"id": 9, "method": "mining.submit", "params": ["rig1", "1a2b", "00000000", "6553f1a0", "0f0e"]}'
    payloads = [b"\x17\x03\x03" + bytes(40), b"GET / HTTP/1.1\r\n", share, b" \r\n\t" + share, b'{"a": 1}', b""]
    dg = Datagram([FlowSample([sampled_header(_frame("10.0.0.1", "10.0.0.2", p, sport=1000 + i))], seq=i)
                   for i, p in enumerate(payloads)]).encode()
    buf = ColumnBuffer()
    decode_into(dg, "127.0.0.1:6343", TemplateCache(), buf, wall_s=WALL)
    rows = table_to_records(buf.take())
    # (a 128-byte sampled header keeps the first ~60 bytes of each payload)
    assert sorted(x[:4] for x in seen) == sorted([share[:4], b" \r\n\t", b'{"a"'])
    assert [r["extra"].get("stratum_method") for r in rows] == [None, None, "mining.submit", "mining.submit", None,
                                                                 None]
    assert all(real(p.lstrip()) is None for p in payloads[:2])  # what was skipped could not have been a message


def test_sflow_extra_maps_are_the_per_sample_facts_in_order() -> None:
    share = b'{"id": 1, "method": "mining.subscribe", "params": []}'
    inner = ip_packet("10.9.0.5", "198.51.100.20", 6, tcp_header("10.9.0.5", "198.51.100.20", 40000, 4444, 1, 1,
                                                                   0x18, share))
    vx = LinkSpec().frame(encapsulate(inner, "vxlan", "192.0.2.10", "192.0.2.11"))
    six = LinkSpec().frame(ip_packet("2001:db8::5", "2001:db8::9", 17,
                                     udp_header("2001:db8::5", "2001:db8::9", 5353, 53, b"q")))
    samples = [
        FlowSample([sampled_header(_frame("10.0.0.1", "10.0.0.2", share))], source_index=3, input_if=7, output_if=9),
        FlowSample([sampled_header(vx, max_header=256)], source_index=5, input_if=1, output_if=0x3FFFFFFF,
                   expanded=True),
        FlowSample([sampled_header(six, frame_length=1500)], source_index=0, input_if=0, output_if=2),
    ]
    buf = ColumnBuffer()
    decode_into(Datagram(samples, agent="2001:db8::1", seq=7).encode(), "127.0.0.1:6343", TemplateCache(), buf,
                wall_s=WALL)
    decode_into(Datagram(samples[:1], agent=None, seq=8).encode(), "127.0.0.2:6343", TemplateCache(), buf,
                wall_s=None)
    rows = table_to_records(buf.take())
    assert [r["extra"] for r in rows] == [
        {"agent": "2001:db8::1", "source_id": "0:3", "input_if": "7", "output_if": "9", "frame_length": str(len(
            _frame("10.0.0.1", "10.0.0.2", share))), "stratum_method": "mining.subscribe"},
        {"agent": "2001:db8::1", "source_id": "0:5", "input_if": "1", "output_if": str(0x3FFFFFFF),
         "frame_length": str(len(vx)), "tunnel": "vxlan", "stratum_method": "mining.subscribe"},
        {"agent": "2001:db8::1", "source_id": "0:0", "input_if": "0", "output_if": "2", "frame_length": "1500"},
        {"agent": "", "source_id": "0:3", "input_if": "7", "output_if": "9", "frame_length": str(len(
            _frame("10.0.0.1", "10.0.0.2", share))), "stratum_method": "mining.subscribe"},
    ]
    assert [(r["exporter"], r["sequence"], r["start"]) for r in rows] == [
        ("127.0.0.1:6343", 7, round(WALL * 1e6))] * 3 + [("127.0.0.2:6343", 8, None)]
    assert [r["src_ip"] for r in rows] == ["10.0.0.1", "10.9.0.5", "2001:db8::5", "10.0.0.1"]


def _teardown_hook(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A sitecustomize that marks interpreter teardown (atexit) in a file, put first on PYTHONPATH."""
    hook = tmp_path / "hook"
    hook.mkdir()
    mark = tmp_path / "teardown-ran"
    (hook / "sitecustomize.py").write_text(
        f"import atexit\natexit.register(lambda: open({str(mark)!r}, 'w').close())\n")
    return {"PYTHONPATH": os.pathsep.join([str(hook), *filter(None, [os.environ.get("PYTHONPATH")])])}, mark


def test_the_collector_process_skips_only_the_teardown_after_writing_everything(tmp_path: Path) -> None:
    env, mark = _teardown_hook(tmp_path)
    subprocess.run([sys.executable, "-c", "pass"], env={**env}, check=True)
    assert mark.exists(), "the hook must work, or the check below proves nothing"
    mark.unlink()
    out = tmp_path / "out"
    with CollectorProcess(out, env=env) as col:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("127.0.0.1", col.port))
            for k in range(20):
                s.send(_v5(k))
        rc, err = col.stop()  # what the kernel queued is read before the collector stops
    assert rc == 0, err
    assert "rows written 60 in" in err
    assert sum(pq.read_table(f, partitioning=None).num_rows for f in out.rglob("*.parquet")) == 60
    assert list((out / "_stats").glob("collector-*.json"))
    assert not mark.exists()


def test_collect_called_as_a_function_returns(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from minewatch.cli import app

    r = CliRunner().invoke(app, ["collect", "--listen", "127.0.0.1:0", "--out", str(tmp_path / "o"),
                                 "--duration", "0.3"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "o" / "_stats").is_dir()
    assert pa.array([1]).to_pylist() == [1]  # this process is still here


def _tmpl(tid: int, fields: list[tuple[int, int]]) -> bytes:
    return struct.pack(">HH", tid, len(fields)) + b"".join(struct.pack(">HH", i, ln) for i, ln in fields)


def _sets(sets: list[tuple[int, bytes]]) -> bytes:
    return b"".join(struct.pack(">HH", sid, 4 + len(p)) + p for sid, p in sets)


@pytest.mark.parametrize("up_len", [4, 8, 2])
def test_one_group_of_v9_and_ipfix_sets_dates_each_by_its_own_clock(up_len: int) -> None:
    """v9 sets carry the header's uptime, IPFIX sets need systemInitTime: one exporter sending both with the
    same template id and fields lands in one conversion group, where the IPFIX-only shortcut must not apply.
    Odd and short field sizes check the one-pass widening of ports and uptimes."""
    from minewatch.sources.netflow import _Ctx, _time_us

    export_s, uptime = 1_700_000_000, 7_000_000
    fields = [(8, 4), (7, 3), (11, 2), (4, 1), (22, up_len), (21, up_len)]
    ups = [v & ((1 << 8 * up_len) - 1) for v in (0, 1, uptime - 1, uptime + 1, (1 << 32) - 1, 65_535, 1 << 33)]
    body = b"".join(socket.inet_aton("10.0.0.1") + (70_000 + i).to_bytes(3, "big") + struct.pack(">HB", 443, 6)
                    + v.to_bytes(up_len, "big") + ups[-1 - i].to_bytes(up_len, "big") for i, v in enumerate(ups))
    init = export_s * 1000 - uptime + 5
    cache, buf = TemplateCache(), ColumnBuffer()
    v9 = struct.pack(">HHIIII", 9, 2, uptime, export_s, 0, 4) + _sets([(0, _tmpl(300, fields)), (300, body)])
    decode_into(v9, "e", cache, buf)
    cache.system_init_ms[("e", 4)] = init
    ipfix_body = _sets([(2, _tmpl(300, fields)), (300, body)])
    decode_into(struct.pack(">HHIII", 10, 16 + len(ipfix_body), export_s, 0, 4) + ipfix_body, "e", cache, buf)
    rows = table_to_records(buf.take())
    assert len(rows) == 2 * len(ups) and len(buf.groups) == 0
    v9_ctx, ipfix_ctx = _Ctx(9, 4, export_s * 1000, uptime, 0), _Ctx(10, 4, export_s * 1000, None, 0)
    want = ([_time_us(22, v, v9_ctx, None) for v in ups] + [_time_us(22, v, ipfix_ctx, init) for v in ups])
    assert [r["start"] for r in rows] == want
    assert [r["end"] for r in rows] == ([_time_us(21, v, v9_ctx, None) for v in ups[::-1]]
                                        + [_time_us(21, v, ipfix_ctx, init) for v in ups[::-1]])
    assert [r["src_port"] for r in rows] == [70_000 + i for i in range(len(ups))] * 2
    assert {(r["dst_port"], r["proto"], r["transport"]) for r in rows} == {(443, 6, "tcp")}
