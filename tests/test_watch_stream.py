"""The live source's pieces: streaming pcap parser on arbitrarily cut input, batch merging, the rotating
tee, and LiveCapture driven by a program that writes a pcap stream (no privileges needed)."""

from __future__ import annotations

import io
import random
import shutil
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from minewatch.errors import InputError
from minewatch.sources.live import (
    CaptureToolError,
    LiveCapture,
    PcapStream,
    RotatingPcapWriter,
    dumpcap_command,
    merge_batches,
)
from minewatch.sources.pcap import PacketBatch, open_capture
from minewatch.synth.pcapwriter import LinkSpec, PcapngWriter, PcapWriter
from minewatch.synth.tcp import tcp_session


def _capture_bytes(n_msgs: int = 6, *, big_endian: bool = False, nanosecond: bool = False, seed: int = 1) -> tuple[bytes, int]:
    rng = random.Random(seed)
    msgs = [(0.05 * i, "c2s" if i % 2 == 0 else "s2c", f"line {i} {'x' * (i * 37 % 300)}\n".encode())
            for i in range(n_msgs)]
    pk = tcp_session(("10.0.0.1", 40000 + seed), ("10.0.0.2", 3333), msgs, 1.7e9 + seed, rng)
    bio = io.BytesIO()
    w = PcapWriter(bio, big_endian=big_endian, nanosecond=nanosecond)
    link = LinkSpec()
    for p in pk:
        w.write(p.ts_ns, link.frame(p.data))
    return bio.getvalue(), len(pk)


def _frames(batches: list[PacketBatch]) -> list[tuple[bytes, float, int, int]]:
    out = []
    for b in batches:
        for o, c, t, lt, ol in zip(b.data_off.tolist(), b.caplen.tolist(), b.ts.tolist(), b.linktype.tolist(),
                                   b.origlen.tolist(), strict=True):
            out.append((bytes(b.buf[o : o + c]), round(t, 9), lt, ol))
    return out


def _reference(data: bytes, tmp_path: Path) -> list[tuple[bytes, float, int, int]]:
    p = tmp_path / "ref.pcap"
    p.write_bytes(data)
    with open_capture(p) as r:
        return _frames(list(r))


def test_split_at_every_byte_position_matches_file_reader(tmp_path: Path) -> None:
    data, n = _capture_bytes()
    ref = _reference(data, tmp_path)
    assert len(ref) == n > 10
    for cut in range(len(data) + 1):
        ps = PcapStream("test")
        got = [b for b in (ps.feed(data[:cut]), ps.feed(data[cut:])) if b is not None]
        assert _frames(got) == ref, f"split at byte {cut}"
        assert ps.packets == n and ps.pending_bytes == 0 and not ps.errors
        assert ps.bytes == len(data)


@pytest.mark.parametrize(("big", "ns"), [(True, False), (False, True), (True, True)])
def test_three_way_splits_other_byte_orders_and_resolutions(tmp_path: Path, big: bool, ns: bool) -> None:
    data, n = _capture_bytes(4, big_endian=big, nanosecond=ns, seed=2)
    ref = _reference(data, tmp_path)
    rng = random.Random(5)
    for _ in range(200):
        a, b = sorted(rng.sample(range(len(data) + 1), 2))
        ps = PcapStream()
        got = [x for x in (ps.feed(data[:a]), ps.feed(data[a:b]), ps.feed(data[b:])) if x is not None]
        assert _frames(got) == ref
        assert ps.packets == n


def test_one_byte_at_a_time_and_merge(tmp_path: Path) -> None:
    data, n = _capture_bytes(8, seed=3)
    ps = PcapStream()
    got = [b for i in range(len(data)) if (b := ps.feed(data[i : i + 1])) is not None]
    assert len(got) == n  # every record completes on its own last byte
    merged = merge_batches(got)
    assert len(merged) == n
    assert _frames([merged]) == _reference(data, tmp_path)
    assert np.all(np.diff(merged.ts) >= 0)


def test_batch_stays_valid_after_later_feeds() -> None:
    data, _ = _capture_bytes(4, seed=4)
    ps = PcapStream()
    first = ps.feed(data[:400])
    assert first is not None
    before = _frames([first])
    ps.feed(data[400:])
    assert _frames([first]) == before


def test_pcapng_and_garbage_headers_are_refused_with_offset(tmp_path: Path) -> None:
    bio = io.BytesIO()
    with PcapngWriter(bio) as w:
        w.write(1_700_000_000 * 10**9, b"\x00" * 60)
    with pytest.raises(InputError, match="pcapng") as ei:
        PcapStream("s").feed(bio.getvalue())
    assert ei.value.offset == 0 and ei.value.path == "s"
    with pytest.raises(InputError, match="not a pcap"):
        PcapStream().feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")


def test_absurd_record_length_keeps_earlier_packets_and_names_offset() -> None:
    data, _ = _capture_bytes(4, seed=6)
    # find the third record's header and corrupt its caplen
    off = 24
    for _ in range(2):
        cap = struct.unpack_from("<I", data, off + 8)[0]
        off += 16 + cap
    bad = data[:off] + data[off : off + 8] + struct.pack("<I", 0x7FFFFFFF) + data[off + 12 :]
    ps = PcapStream("wire")
    got = [b for b in (ps.feed(bad[: off + 5]), ps.feed(bad[off + 5 :])) if b is not None]
    assert sum(len(b) for b in got) == 2
    assert ps.broken and ps.errors and ps.errors[0].offset == off
    assert "wire" in str(ps.errors[0]) and f"byte {off}" in str(ps.errors[0])
    assert ps.rejects.counts["absurd record length"] == 1
    assert ps.feed(b"more") is None  # framing lost: nothing more is trusted
    assert ps.rejects.counts["bytes after a broken record"] > 0


def test_truncated_tail_is_reported_on_close() -> None:
    data, n = _capture_bytes(4, seed=7)
    ps = PcapStream("s")
    b = ps.feed(data[:-10])
    assert b is not None and len(b) == n - 1
    ps.close()
    assert ps.rejects.counts["truncated record"] == 1
    assert ps.errors[0].offset == _last_record(data)


def _last_record(data: bytes) -> int:
    off, last = 24, 24
    while off < len(data):
        last = off
        off += 16 + struct.unpack_from("<I", data, off + 8)[0]
    return last


def test_rotating_writer_bounds_files_and_each_file_is_a_capture(tmp_path: Path) -> None:
    chunks = [_capture_bytes(10, seed=s)[0] for s in range(1, 30)]
    w = RotatingPcapWriter(tmp_path / "rot", max_bytes=8000, keep=3, prefix="veth/x")
    total = 0
    for c in chunks:
        ps = PcapStream(on_records=w)
        # different seeds -> different sessions but the same header; feed in odd pieces
        for i in range(0, len(c), 333):
            ps.feed(c[i : i + 333])
        total += ps.packets
    w.close()
    files = sorted((tmp_path / "rot").iterdir())
    assert len(files) == 3 and w.rotations > 3
    assert all("/" not in f.name and f.name.startswith("veth_x-") for f in files)
    kept = 0
    for f in files:
        assert f.stat().st_size <= 8000 + 2000  # never more than one write past the limit
        with open_capture(f) as r:
            kept += sum(len(b) for b in r)
            assert not r.errors
    assert 0 < kept < total


def test_live_capture_from_a_program_writing_pcap(tmp_path: Path) -> None:
    data, n = _capture_bytes(20, seed=8)
    p = tmp_path / "in.pcap"
    p.write_bytes(data)
    rot = RotatingPcapWriter(tmp_path / "tee", max_bytes=1 << 20, keep=2)
    cap = LiveCapture("test0", command=["cat", str(p)], batch_packets=7, batch_seconds=0.2, tee=rot)
    items = list(cap)
    batches = [b for b in items if b is not None]
    assert sum(len(b) for b in batches) == n
    assert max(len(b) for b in batches) >= 7  # count-based batching merged reads
    assert _frames(batches) == _reference(data, tmp_path)
    assert cap.returncode == 0
    (teed,) = list((tmp_path / "tee").iterdir())
    assert teed.read_bytes() == data  # the tee is byte-identical to the stream


def test_live_capture_slow_writer_gets_time_batches_and_ticks(tmp_path: Path) -> None:
    data, n = _capture_bytes(3, seed=9)
    p = tmp_path / "in.pcap"
    p.write_bytes(data)
    script = (
        "import sys,time\n"
        f"d=open({str(p)!r},'rb').read()\n"
        "sys.stdout.buffer.write(d[:200]);sys.stdout.flush();time.sleep(1.6)\n"
        "sys.stdout.buffer.write(d[200:]);sys.stdout.flush()\n"
    )
    cap = LiveCapture("t", command=[sys.executable, "-c", script], batch_packets=10_000, batch_seconds=0.2,
                      tick_seconds=0.5)
    items = list(cap)
    assert None in items  # the silent second produced ticks
    assert sum(len(b) for b in items if b is not None) == n
    first = next(i for i, b in enumerate(items) if b is not None)
    assert first < items.index(None)  # the first packets were handed over before the pause ended


def test_live_capture_stop_ends_iteration(tmp_path: Path) -> None:
    script = "import time\ntime.sleep(30)\n"
    cap = LiveCapture("t", command=[sys.executable, "-c", script], tick_seconds=0.1)
    for seen, item in enumerate(cap, start=1):
        assert item is None
        if seen == 2:
            cap.stop()
    assert cap.proc is not None and cap.proc.poll() is not None


def test_failing_tool_is_a_clear_error() -> None:
    cap = LiveCapture("nope0", command=[sys.executable, "-c", "import sys; sys.stderr.write('no such device\\n'); sys.exit(2)"])
    with pytest.raises(CaptureToolError, match="no such device"):
        list(cap)
    with pytest.raises(CaptureToolError, match="cannot start"):
        LiveCapture("x", command=["/nonexistent/dumpcap"]).start()


def test_dumpcap_command_shape() -> None:
    cmd = dumpcap_command("eth1", "tcp port 3333", snaplen=256, buffer_mb=16, dumpcap="dumpcap")
    assert cmd[:7] == ["dumpcap", "-q", "-i", "eth1", "-P", "-w", "-"]
    assert cmd[cmd.index("-f") + 1] == "tcp port 3333"
    assert cmd[cmd.index("-s") + 1] == "256" and cmd[cmd.index("-B") + 1] == "16"


@pytest.mark.tools
def test_dumpcap_on_missing_interface_fails_clearly() -> None:
    if shutil.which("dumpcap") is None:
        pytest.skip("dumpcap (Debian package tshark) is not installed")
    cap = LiveCapture("mw-no-such-if0", tick_seconds=0.2)
    with pytest.raises(CaptureToolError, match="mw-no-such-if0"):
        for _ in cap:
            pass
