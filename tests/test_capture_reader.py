"""Reading pcap / pcapng / gzip captures, and what happens on bad input (exact byte offsets)."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

import minewatch.sources.pcap as pcapmod
from minewatch.errors import InputError
from minewatch.sources.pcap import open_capture
from test_capture_writer import ipv4, pcap_bytes, pcapng_bytes, tcp, tcp_session, udp, write


def _read(path):
    r = open_capture(path)
    ts, lts, caps, origs, frames = [], [], [], [], []
    for b in r:
        ts.extend(b.ts.tolist())
        lts.extend(b.linktype.tolist())
        caps.extend(b.caplen.tolist())
        origs.extend(b.origlen.tolist())
        for o, c in zip(b.data_off.tolist(), b.caplen.tolist(), strict=True):
            frames.append(bytes(b.buf[o : o + c]))
    return r, ts, lts, caps, origs, frames


@pytest.mark.parametrize("big", [False, True])
@pytest.mark.parametrize("ns", [False, True])
def test_pcap_byte_orders_and_resolutions(tmp_path, big, ns):
    frames = tcp_session()
    stamps = [1_700_000_000.123457 + k * 0.25 for k in range(len(frames))]
    pk = [(t, f) for t, (_, f) in zip(stamps, frames, strict=True)]
    r, ts, lts, _, _, got = _read(write(tmp_path / "a.pcap", pcap_bytes(pk, ns=ns, big=big)))
    assert r.format == ("pcap-ns" if ns else "pcap")
    assert got == [f for _, f in frames]
    assert lts == [1] * len(frames)
    assert np.allclose(ts, stamps, atol=2e-6, rtol=0)
    assert r.errors == []


def test_pcap_nanoseconds_keep_precision(tmp_path):
    # 123456789 ns must not be rounded to microseconds
    data = pcap_bytes([(0, b"x" * 20)], ns=True, linktype=101)
    data = data[:24] + struct.pack("<II", 1_700_000_000, 123_456_789) + data[32:]
    _, ts, *_ = _read(write(tmp_path / "n.pcap", data))
    # float64 resolves ~0.24 µs at this epoch: closer to the ns value than a µs rounding would be
    assert abs(ts[0] - 1_700_000_000.123456789) < 3e-7


def test_pcapng_two_interfaces_linktypes_and_tsresol(tmp_path):
    f_eth = tcp_session()[0][1]
    f_raw = ipv4("10.1.1.1", "10.2.2.2", 17, udp(1234, 53, b"q"))
    ng = pcapng_bytes(
        [(1, None), (101, 9), (101, 0x80 | 20)],
        [
            (0, 1_700_000_000_250_000, f_eth),  # µs
            (1, 1_700_000_001_500_000_000, f_raw),  # ns
            (2, (1_700_000_002 << 20) + (1 << 19), f_raw),  # 2^-20 s units: .5 s
        ],
    )
    for big in (False, True):
        ng = pcapng_bytes(
            [(1, None), (101, 9), (101, 0x80 | 20)],
            [(0, 1_700_000_000_250_000, f_eth), (1, 1_700_000_001_500_000_000, f_raw),
             (2, (1_700_000_002 << 20) + (1 << 19), f_raw)],
            big=big,
        )
        r, ts, lts, _, _, got = _read(write(tmp_path / f"a{big}.pcapng", ng))
        assert r.format == "pcapng"
        assert lts == [1, 101, 101]
        assert got == [f_eth, f_raw, f_raw]
        assert ts == pytest.approx([1_700_000_000.25, 1_700_000_001.5, 1_700_000_002.5], abs=1e-6)


def test_gzip_is_transparent_and_progress_reaches_size(tmp_path):
    frames = tcp_session(requests=(b"a" * 1000,) * 200, responses=(b"b" * 1000,) * 200)
    raw = pcap_bytes(frames)
    p = write(tmp_path / "a.pcap.gz", raw, gz=True)
    r, _, _, _, _, got = _read(p)
    assert r.compressed
    assert got == [f for _, f in frames]
    assert r.bytes_read() == p.stat().st_size
    ng = pcapng_bytes([(1, None)], [(0, 1_700_000_000_000_000 + k, f) for k, (_, f) in enumerate(frames)])
    _r2, _, _, _, _, got2 = _read(write(tmp_path / "b.pcapng.gz", ng, gz=True))
    assert got2 == got


def test_small_chunks_give_identical_packets(tmp_path, monkeypatch):
    """Records straddling chunk and batch boundaries must come out whole and in order."""
    frames = tcp_session(requests=tuple(bytes([65 + k % 26]) * (k * 7 % 300) for k in range(60)),
                         responses=tuple(b"r" * k for k in range(60)))
    p = write(tmp_path / "a.pcap", pcap_bytes(frames))
    q = write(tmp_path / "a.pcapng", pcapng_bytes([(1, None)], [(0, k, f) for k, (_, f) in enumerate(frames)]))
    _, _, _, _, _, want = _read(p)
    monkeypatch.setattr(pcapmod, "CHUNK_BYTES", 37)
    monkeypatch.setattr(pcapmod, "BATCH_PACKETS", 3)
    progress = []
    r = open_capture(p)
    got = []
    for b in r:
        progress.append(r.bytes_read())
        got.extend(bytes(b.buf[o : o + c]) for o, c in zip(b.data_off.tolist(), b.caplen.tolist(), strict=True))
    assert got == want == [f for _, f in frames]
    assert progress == sorted(progress) and progress[-1] <= p.stat().st_size
    assert r.bytes_read() == p.stat().st_size
    _, _, _, _, _, got_ng = _read(q)
    assert got_ng == want


def test_snaplen_cut_lengths(tmp_path):
    full = tcp_session(requests=(b"x" * 500,))[3][1]
    _r, _, _, caps, origs, _ = _read(write(tmp_path / "c.pcap", pcap_bytes([(1.0, full[:100], len(full))],
                                                                           snaplen=100)))
    assert caps == [100] and origs == [len(full)]


# ------------------------------------------------------------------------------------------ bad input
def test_empty_file(tmp_path):
    with pytest.raises(InputError) as ei:
        open_capture(write(tmp_path / "e.pcap", b""))
    assert ei.value.offset == 0 and "empty" in str(ei.value)


def test_wrong_magic(tmp_path):
    with pytest.raises(InputError) as ei:
        open_capture(write(tmp_path / "w.pcap", b"GET / HTTP/1.1\r\n\r\n" * 3))
    assert ei.value.offset == 0 and "magic" in ei.value.message
    assert str(tmp_path / "w.pcap") in str(ei.value)


def test_truncated_file_header(tmp_path):
    data = pcap_bytes([])[:10]
    with pytest.raises(InputError) as ei:
        open_capture(write(tmp_path / "t.pcap", data))
    assert ei.value.offset == 10 and "truncated" in ei.value.message


def test_missing_file(tmp_path):
    with pytest.raises(InputError):
        open_capture(tmp_path / "nope.pcap")


@pytest.mark.parametrize("cut", [5, 16, 30])
def test_truncated_tail_keeps_earlier_packets(tmp_path, cut):
    frames = tcp_session()
    data = pcap_bytes(frames)
    last_start = len(data) - (16 + len(frames[-1][1]))
    data = data[: last_start + cut]
    r, *_, got = _read(write(tmp_path / "t.pcap", data))
    assert got == [f for _, f in frames[:-1]]
    assert len(r.errors) == 1
    assert r.errors[0].offset == last_start
    assert r.rejects.counts["truncated record"] == 1
    assert f"read {len(frames) - 1} packets" in r.errors[0].message


def test_absurd_caplen_stops_at_exact_offset(tmp_path):
    frames = tcp_session()
    data = bytearray(pcap_bytes(frames))
    third = 24 + sum(16 + len(f) for _, f in frames[:2])
    struct.pack_into("<I", data, third + 8, 0x7FFFFFF0)
    r, *_, got = _read(write(tmp_path / "a.pcap", bytes(data)))
    assert len(got) == 2
    assert r.errors[0].offset == third
    assert "claims" in r.errors[0].message


def test_pcapng_inconsistent_block_length(tmp_path):
    frames = tcp_session()
    ng = bytearray(pcapng_bytes([(1, None)], [(0, k, f) for k, (_, f) in enumerate(frames)]))
    # find the 4th enhanced packet block and corrupt its trailing length
    pos, seen = 0, 0
    while True:
        btype, blen = struct.unpack_from("<II", ng, pos)
        if btype == 6:
            seen += 1
            if seen == 4:
                break
        pos += blen
    struct.pack_into("<I", ng, pos + blen - 4, blen + 4)
    r, *_, got = _read(write(tmp_path / "b.pcapng", bytes(ng)))
    assert len(got) == 3
    assert r.errors[0].offset == pos


def test_pcapng_truncated_block(tmp_path):
    frames = tcp_session()
    ng = pcapng_bytes([(1, None)], [(0, k, f) for k, (_, f) in enumerate(frames)])
    r, *_, got = _read(write(tmp_path / "c.pcapng", ng[:-7]))
    assert len(got) == len(frames) - 1
    assert r.errors and r.errors[0].offset == len(ng) - (12 + 20 + len(frames[-1][1]) + (-len(frames[-1][1]) % 4))


def test_pcapng_bad_byte_order_magic(tmp_path):
    ng = bytearray(pcapng_bytes([(1, None)], []))
    ng[8:12] = b"XXXX"
    with pytest.raises(InputError) as ei:
        open_capture(write(tmp_path / "d.pcapng", bytes(ng)))
    assert ei.value.offset == 8


def test_truncated_gzip_keeps_packets(tmp_path):
    frames = tcp_session(requests=(b"a" * 1400,) * 400, responses=(b"b" * 20,) * 400)
    raw = pcap_bytes(frames)
    gz = gzip.compress(raw)
    r, *_, got = _read(write(tmp_path / "g.pcap.gz", gz[: len(gz) * 2 // 3]))
    assert 0 < len(got) < len(frames)
    assert got == [f for _, f in frames[: len(got)]]
    assert r.errors and r.errors[0].offset is not None


def test_zero_length_records_and_non_ip_are_fine(tmp_path):
    data = pcap_bytes([(1.0, b""), (2.0, b"\x01" * 3), (3.0, ipv4("1.1.1.1", "2.2.2.2", 6, tcp(1, 2, 3)))],
                      linktype=101)
    r, *_, got = _read(write(tmp_path / "z.pcap", data))
    assert len(got) == 3 and r.errors == []
