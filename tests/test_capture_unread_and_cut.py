"""Captures that must not pass for clean ones: unsupported link types, snaplen cuts, gzip offsets.

From the fourth capture review (items 5 and 9): an 802.11 capture read as "0 flows, nothing found"
with exit 0, a capture taken with `-s 96` found nothing and said nothing, and a truncated gzip file
named a decompressed offset as if it were a byte of the 796-byte file.
"""

from __future__ import annotations

import gzip
import json

import pytest
from typer.testing import CliRunner

from minewatch.cli import app
from minewatch.errors import InputError
from minewatch.net.engine import SNAPLEN_REJECT, FlowEngine
from minewatch.net.pipeline import CaptureScanner
from minewatch.sources.pcap import DecompressedInputError, open_capture
from test_capture_writer import pcap_bytes, pcapng_bytes, tcp_session, write

BTC = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"


def _line(obj: dict) -> bytes:
    return (json.dumps(obj) + "\n").encode()


def stratum_frames() -> list[tuple[float, bytes]]:
    """A short Stratum v1 session as Ethernet frames (each JSON line well past 96 bytes)."""
    reqs = (
        _line({"id": 1, "method": "mining.subscribe", "params": ["cgminer/4.10.0"]}),
        _line({"id": 2, "method": "mining.authorize", "params": [f"{BTC}.rig7", "x"]}),
        _line({"id": 3, "method": "mining.submit", "params": [f"{BTC}.rig7", "j1", "00000001", "5f5e1000", "ab"]}),
    )
    resps = (
        _line({"id": 1, "result": [[["mining.notify", "ae6812eb4cd7735a"]], "08000002", 4], "error": None}),
        _line({"id": 2, "result": True, "error": None}),
        _line({"id": 3, "result": True, "error": None}),
    )
    return tcp_session(client="10.1.1.5", server="198.51.100.7", requests=reqs, responses=resps)


def cli(*args: str):
    return CliRunner().invoke(app, [*args])


def _scanner() -> CaptureScanner:
    from minewatch.scan_cli import _load_intel

    return CaptureScanner(_load_intel(None, []))


# ---------------------------------------------------------------------------------------------- link types
def test_unsupported_link_type_packets_are_counted_as_rejects(tmp_path):
    frames = stratum_frames()
    data = pcapng_bytes(
        [(1, None), (105, None)],
        [(0, int(t * 1e6), f) for t, f in frames] + [(1, int(t * 1e6), f) for t, f in frames[:4]],
    )
    p = write(tmp_path / "mixed.pcapng", data)
    eng = FlowEngine(lambda info: None)
    eng.process(open_capture(p))
    eng.finish()
    assert eng.stats.unsupported_link == 4 and eng.stats.non_ip == 0
    assert eng.rejects.counts["packet of unsupported link type 105 (IEEE 802.11)"] == 4
    assert any("mixed.pcapng@" in ex and "802.11" in ex for ex in eng.rejects.examples)


def test_a_capture_of_an_unsupported_link_type_is_an_input_error(tmp_path, tmp_home):
    p = write(tmp_path / "wifi.pcap", pcap_bytes(stratum_frames(), linktype=105))
    sc = _scanner()
    with pytest.raises(InputError) as ei:
        sc.scan_file(p)
    assert "link type 105 (IEEE 802.11) is not supported" in str(ei.value) and str(p) in str(ei.value)
    assert sc.stats.rejects.counts["packet of unsupported link type 105 (IEEE 802.11)"] == len(stratum_frames())
    r = cli("scan", str(p), "--no-store", "-q", "--format", "jsonl")
    assert r.exit_code == 4, r.output  # README: an input that could not be read at all exits 4
    assert "could not be read" in r.stderr and "packet of unsupported link type 105" in r.stderr


def test_one_supported_interface_keeps_the_file_readable(tmp_path, tmp_home):
    frames = stratum_frames()
    data = pcapng_bytes(
        [(1, None), (127, None)],
        [(0, int(t * 1e6), f) for t, f in frames] + [(1, int(t * 1e6), f) for t, f in frames[:2]],
    )
    p = write(tmp_path / "two.pcapng", data)
    r = cli("scan", str(p), "--no-store", "-q", "--format", "jsonl")
    assert r.exit_code == 0, r.output
    assert "packet of unsupported link type 127 (IEEE 802.11 radiotap): 2" in r.stderr
    assert any(json.loads(x)["kind"] == "mining" for x in r.stdout.splitlines() if x.startswith("{"))


# ---------------------------------------------------------------------------------------------- snaplen
def test_snaplen_cut_payloads_are_counted_and_stated(tmp_path, tmp_home):
    frames = stratum_frames()
    cut = [(t, f[:96], len(f)) for t, f in frames]
    p = write(tmp_path / "snap96.pcap", pcap_bytes(cut, snaplen=96))
    sc = _scanner()
    assert sc.scan_file(p) == []
    n_payload = sum(1 for _, f in frames if len(f) > 96)
    assert sc.stats.snaplen_cut == n_payload and sc.stats.rejects.counts[SNAPLEN_REJECT] == n_payload
    r = cli("scan", str(p), "--no-store", "-q")
    assert r.exit_code == 0, r.output  # the file was read; what it lacks is stated, not an error
    assert f"{n_payload} packets had payload cut by the capture's snaplen; content detection may miss" in r.stderr
    # a full-length capture of the same session says nothing of the kind
    full = write(tmp_path / "full.pcap", pcap_bytes(frames))
    r2 = cli("scan", str(full), "--no-store", "-q")
    assert "snaplen" not in r2.stderr


# ---------------------------------------------------------------------------------------------- gzip offsets
def test_gzip_errors_name_the_decompressed_stream(tmp_path, tmp_home):
    frames = tcp_session(requests=(b"a" * 1400,) * 200, responses=(b"b" * 20,) * 200)
    gz = gzip.compress(pcap_bytes(frames))
    p = write(tmp_path / "cut.pcap.gz", gz[: len(gz) // 2])
    r = open_capture(p)
    for _ in r:
        pass
    assert r.errors and isinstance(r.errors[0], DecompressedInputError)
    e = r.errors[0]
    assert e.offset is not None and e.offset > p.stat().st_size  # an offset no byte of the file has
    assert f"byte {e.offset} of the decompressed stream" in str(e)
    assert f"compressed file read up to byte {p.stat().st_size}" in str(e)
    out = cli("scan", str(p), "--no-store", "-q")
    assert f"byte {e.offset} of the decompressed stream" in out.stderr
    assert f"{p}@{e.offset} (decompressed)" in out.stderr
    # an uncompressed file keeps the plain wording
    raw = write(tmp_path / "cut.pcap", pcap_bytes(frames)[:-37])
    r2 = open_capture(raw)
    for _ in r2:
        pass
    assert "decompressed" not in str(r2.errors[0]) and f"byte {r2.errors[0].offset}:" in str(r2.errors[0])
