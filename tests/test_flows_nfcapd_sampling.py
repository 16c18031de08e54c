"""nfcapd files honour the sampling their exporters announced: sampled records are never timed.

Why: a router exporting 1 in N counts a thinned copy of each connection, and nfcapd multiplies those
counts by N on top; timing such records reads noise as rhythm (`tests/test_flows_sampled.py` for the
collector's own output). nfdump's record format cannot print a sampling rate, so `sources.nfcapd` maps
each record's exporter SysID (`%exp`) to the samplers `nfdump -E` lists for the file.

Real components: Debian's nfcapd on 127.0.0.1 receives NetFlow v5, v9 and IPFIX datagrams built here
(the builders of `test_flows_netflow`), with options records announcing sampling (samplingInterval 34,
samplerRandomInterval 50, samplingPacketInterval/Space 305/306, v5's header) and without.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import stat
import struct
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from minewatch.cli import app
from minewatch.errors import InputError
from minewatch.sources.nfcapd import UPSCALED_KEY, parse_samplers, read_nfcapd
from test_flows_netflow import FIELDS, data_rec, ip4, tmpl
from test_flows_oneway import _oneway_sessions

TOOLS = ("nfcapd", "nfdump")
need_tools = pytest.mark.skipif(
    any(shutil.which(t) is None and not os.path.exists(f"/usr/bin/{t}") for t in TOOLS),
    reason="Debian's nfcapd and nfdump (package nfdump) are not installed: no real nfcapd files to read",
)

UPTIME = 5_000_000  # ms since the exporter booted, in the v5/v9 headers
#: IPFIX data template: 5-tuple, packets (4), bytes (8), flowStart/EndMilliseconds (absolute)
IPFIX_FIELDS = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (2, 4), (1, 8), (152, 8), (153, 8)]
IPFIX_REC = struct.Struct(">4s4sHHBIQQQ")


def _v9(flowsets: list[tuple[int, bytes]], seq: int, source_id: int, export_s: int, uptime: int = UPTIME) -> bytes:
    body = b""
    for fid, payload in flowsets:
        pad = (-len(payload)) % 4
        body += struct.pack(">HH", fid, 4 + len(payload) + pad) + payload + b"\0" * pad
    return struct.pack(">HHIIII", 9, len(flowsets), uptime, export_s, seq, source_id) + body


def _ipfix(sets: list[tuple[int, bytes]], seq: int, domain: int, export_s: int) -> bytes:
    body = b"".join(struct.pack(">HH", sid, 4 + len(p)) + p for sid, p in sets)
    return struct.pack(">HHIII", 10, 16 + len(body), export_s, seq, domain) + body


def _v9_sampling(rate: int, field: int = 34) -> list[tuple[int, bytes]]:
    """v9 options template 400 (scope: system) and its record: `field` (34 or 50) = rate."""
    return [(1, struct.pack(">HHHHHHH", 400, 4, 4, 1, 4, field, 4)), (400, struct.pack(">II", 0, rate))]


def _ipfix_template() -> tuple[int, bytes]:
    return 2, struct.pack(">HH", 257, len(IPFIX_FIELDS)) + b"".join(struct.pack(">HH", i, n) for i, n in IPFIX_FIELDS)


def _ipfix_sampling(domain: int, fields: list[tuple[int, int]]) -> list[tuple[int, bytes]]:
    """IPFIX options template 256 (scope: observationDomainId) and its record: (IE, value) pairs of 4 bytes."""
    t = struct.pack(">HHH", 256, 1 + len(fields), 1) + struct.pack(">HH", 149, 4)
    t += b"".join(struct.pack(">HH", ie, 4) for ie, _ in fields)
    return [(3, t), (256, struct.pack(">I", domain) + b"".join(struct.pack(">I", v) for _, v in fields))]


def _ipfix_rec(src: str, sp: int, dst: str, dp: int, packets: int, nbytes: int, start_ms: int, end_ms: int) -> bytes:
    return IPFIX_REC.pack(ip4(src), ip4(dst), sp, dp, 6, packets, nbytes, start_ms, end_ms)


def _v5(src: str, sp: int, packets: int, nbytes: int, export_s: int, sampling: int, engine_id: int) -> bytes:
    hdr = struct.pack(">HHIIIIBBH", 5, 1, UPTIME, export_s, 0, 0, 0, engine_id, sampling)
    return hdr + struct.pack(">4s4s4sHHIIIIHHxBBBHHBBxx", ip4(src), ip4("198.51.100.9"), ip4("0.0.0.0"), 1, 2,
                             packets, nbytes, UPTIME - 5_000, UPTIME - 1_000, sp, 3333, 0x18, 6, 0, 0, 0, 24, 24)


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Nfcapd:
    """Debian's nfcapd on 127.0.0.1, writing to `directory`; stopped with SIGTERM (which closes its file)."""

    def __init__(self, directory: Path, rotate_s: int = 3600) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = _free_udp_port()
        self.log = directory.parent / f"{directory.name}.log"
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(
                [shutil.which("nfcapd") or "/usr/bin/nfcapd", "-w", str(self.dir), "-p", str(self.port),
                 "-b", "127.0.0.1", "-t", str(rotate_s), "-B", str(8 << 20)],
                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while "Startup nfcapd" not in self.log.read_text():
            assert self.proc.poll() is None, f"nfcapd exited: {self.log.read_text()}"
            assert time.monotonic() < deadline, "nfcapd did not start"
            time.sleep(0.05)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def send(self, datagrams: Iterable[bytes]) -> None:
        for i, d in enumerate(datagrams):
            self.sock.sendto(d, ("127.0.0.1", self.port))
            if i % 20 == 19:
                time.sleep(0.002)  # nfcapd's socket buffer is large, but a burst of thousands is not needed

    def stop(self) -> list[Path]:
        time.sleep(0.3)  # the last datagrams reach the socket
        self.sock.close()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return sorted(p for p in self.dir.glob("nfcapd.*") if p.is_file() and "current" not in p.name)


def test_parse_samplers_reads_every_sampler_kind_of_nfdump_1_7():
    text = """Exporters:

SysID: 1, IP:        127.0.0.1, version: 9, ID:  1, Sequence failures: 0, packets: 2, flows: 1
    Sampler: Generic Sampler: algorithm: 0, packet interval: 1, packet space: 99
SysID: 2, IP:        127.0.0.1, version: 9, ID:  2, Sequence failures: 0, packets: 1, flows: 1
SysID: 3, IP:        127.0.0.1, version: 10, ID:  4 - no flows sent
    Sampler: Assigned Sampler: id: 0, algorithm: 0, packet interval: 1, packet space: 9
SysID: 4, IP:    2001:db8::1, version: 10, ID:  5, Sequence failures: 0, packets: 2, flows: 1
    Sampler: Static default Sampler: algorithm: 0, packet interval: 1, packet space: 9
    Sampler: Generic Sampler: algorithm: 0, packet interval: 1, packet space: 499
SysID: 5, IP:        127.0.0.1, version: 5, ID:  9, Sequence failures: 0, packets: 1, flows: 1
    Sampler: Generic Sampler: algorithm: 1, packet interval: 1, packet space: 63
    Sampler: Static overwrite Sampler: algorithm: 0, packet interval: 2, packet space: 18
SysID: 6, IP:        127.0.0.1, version: 9, ID:  7, Sequence failures: 0, packets: 1, flows: 1
    Sampler: Generic Sampler: algorithm: 0, packet interval: 0, packet space: 0
"""
    # announced beats the operator's default (nfcapd -s N), an overwrite (-s -N) beats announced;
    # interval 2, space 18 is 2 in 20: 1 in 10; a zero interval says nothing
    assert parse_samplers(text) == {1: 100, 3: 10, 4: 500, 5: 10}
    assert parse_samplers("Exporters:\nNo Exporter records found\n") == {}


@need_tools
@pytest.mark.tools
def test_announced_sampling_reaches_the_rows_of_that_exporter_only(tmp_path):
    now = int(time.time())
    nf = Nfcapd(tmp_path / "nf")
    try:
        dgs = [
            # v9 source 1: samplingInterval 34 = 100, then a record
            _v9([*_v9_sampling(100), (0, tmpl(300, FIELDS)),
                 (300, data_rec("10.0.1.1", "198.51.100.9", 40001, 3333, 3, 400, UPTIME - 5_000, UPTIME - 1_000))],
                0, 1, now),
            # v9 source 2: announces nothing
            _v9([(0, tmpl(300, FIELDS)),
                 (300, data_rec("10.0.2.1", "198.51.100.9", 40002, 3333, 3, 400, UPTIME - 5_000, UPTIME - 1_000))],
                0, 2, now),
            # v9 source 5: samplerRandomInterval 50 = 40
            _v9([*_v9_sampling(40, field=50), (0, tmpl(300, FIELDS)),
                 (300, data_rec("10.0.5.1", "198.51.100.9", 40005, 3333, 3, 400, UPTIME - 5_000, UPTIME - 1_000))],
                0, 5, now),
            # IPFIX domain 3: samplingPacketInterval 1, samplingPacketSpace 9 (1 in 10)
            _ipfix([*_ipfix_sampling(3, [(305, 1), (306, 9)]), _ipfix_template(),
                    (257, _ipfix_rec("10.0.3.1", 40003, "198.51.100.9", 3333, 3, 400, now * 1000 - 5_000,
                                     now * 1000 - 1_000))], 0, 3, now),
            # IPFIX domain 4: announces nothing
            _ipfix([_ipfix_template(),
                    (257, _ipfix_rec("10.0.4.1", 40004, "198.51.100.9", 3333, 3, 400, now * 1000 - 5_000,
                                     now * 1000 - 1_000))], 0, 4, now),
            # v5 engine 9: header sampling mode 1, interval 64
            _v5("10.0.9.1", 40009, 3, 400, now, (1 << 14) | 64, 9),
        ]
        nf.send(dgs)
    finally:
        files = nf.stop()
    assert len(files) == 1, files
    t = pa.Table.from_batches(list(read_nfcapd(files[0])))
    got = {r["src_ip"]: (r["sampling_interval"], r["packets"], r["bytes"], r["extra"])
           for r in t.select(["src_ip", "sampling_interval", "packets", "bytes", "extra"]).to_pylist()}
    # nfcapd multiplied the counts of the sampled exporters' records by the rate (3 packets, 400 bytes sent)
    assert got == {
        "10.0.1.1": (100, 300, 40_000, [(UPSCALED_KEY, "100")]),
        "10.0.2.1": (None, 3, 400, None),
        "10.0.5.1": (40, 120, 16_000, [(UPSCALED_KEY, "40")]),
        "10.0.3.1": (10, 30, 4_000, [(UPSCALED_KEY, "10")]),
        "10.0.4.1": (None, 3, 400, None),
        "10.0.9.1": (64, 192, 25_600, [(UPSCALED_KEY, "64")]),
    }


@need_tools
@pytest.mark.tools
def test_rotated_files_keep_the_sampling_announced_before_the_rotation(tmp_path):
    """nfcapd writes its exporter and sampler list again into each new file, so a file whose records came
    after the rotation (no options record of its own) is still read as sampled; a directory is read
    file by file, each with its own `nfdump -E` (SysIDs are per run, not global)."""
    now = int(time.time())
    nf = Nfcapd(tmp_path / "nf", rotate_s=2)

    def recs(seq: int) -> list[bytes]:
        a = data_rec(f"10.0.1.{seq + 1}", "198.51.100.9", 41000 + seq, 3333, 3, 400, UPTIME - 5_000, UPTIME - 1_000)
        b = data_rec(f"10.0.2.{seq + 1}", "198.51.100.9", 42000 + seq, 3333, 3, 400, UPTIME - 5_000, UPTIME - 1_000)
        return [_v9([(300, a)], seq + 1, 1, now), _v9([(300, b)], seq + 1, 2, now)]

    try:
        nf.send([_v9([*_v9_sampling(1000), (0, tmpl(300, FIELDS))], 0, 1, now), _v9([(0, tmpl(300, FIELDS))], 0, 2, now)])
        nf.send(recs(0))
        deadline = time.monotonic() + 15
        while len([p for p in nf.dir.glob("nfcapd.2*")]) < 1:
            assert time.monotonic() < deadline, "nfcapd did not rotate"
            time.sleep(0.1)
        time.sleep(0.2)
        nf.send(recs(1))
    finally:
        files = nf.stop()
    with_records = [f for f in files if sum(b.num_rows for b in read_nfcapd(f))]  # a rotation may leave one empty
    assert len(with_records) == 2, files
    t = pa.Table.from_batches(list(read_nfcapd(nf.dir)))
    got = sorted(zip(t["src_ip"].to_pylist(), t["sampling_interval"].to_pylist(), strict=True))
    assert got == [("10.0.1.1", 1000), ("10.0.1.2", 1000), ("10.0.2.1", None), ("10.0.2.2", None)]


def _session_datagrams(sessions, domain: int, export_s: int, sampling: int | None) -> list[bytes]:
    """The sessions' one-way records as IPFIX from observation domain `domain`, 20 to a message;
    with `sampling`, an options record announcing 1 in `sampling` goes first."""
    rows = [r for _, recs in sessions for r in recs]
    out = [_ipfix([*(_ipfix_sampling(domain, [(34, sampling)]) if sampling else []), _ipfix_template()], 0,
                  domain, export_s)]
    seq = 1 if sampling else 0
    for i in range(0, len(rows), 20):
        body = b"".join(
            _ipfix_rec(r["src_ip"], r["src_port"], r["dst_ip"], r["dst_port"], r["packets_fwd"], r["bytes_fwd"],
                       round(r["slice_start"].timestamp() * 1000), round(r["slice_end"].timestamp() * 1000))
            for r in rows[i:i + 20])
        out.append(_ipfix([(257, body)], seq, domain, export_s))
        seq += len(rows[i:i + 20])
    return out


def _scan(path: Path) -> tuple[set[int], str]:
    r = CliRunner().invoke(app, ["scan", str(path), "--no-store", "--format", "jsonl", "--suspects"])
    assert r.exit_code == 0, r.output
    return {json.loads(x)["src_port"] for x in r.stdout.splitlines() if x.startswith("{")}, r.stderr


@need_tools
@pytest.mark.tools
def test_mining_rhythm_from_a_sampling_exporter_gets_no_timing_verdict(tmp_path, tmp_home):
    sessions = list(_oneway_sessions(4, 4, seed=3))
    n_records = sum(len(recs) for _, recs in sessions)
    export_s = math.ceil(max(r["slice_end"].timestamp() for _, recs in sessions for r in recs)) + 1
    mining_ports = {40000 + i for i, (sc, _) in enumerate(sessions) if sc.label}
    files = {}
    # 1 in 2 as well as 1 in 1000: at 2, timing nfcapd's doubled counts would still give a verdict (measured),
    # so an empty answer there shows the records were kept from the timing views, not merely garbled
    for name, sampling in (("plain", None), ("sampled2", 2), ("sampled1000", 1000)):
        nf = Nfcapd(tmp_path / name)
        try:
            nf.send(_session_datagrams(sessions, 7, export_s, sampling))
        finally:
            (files[name],) = nf.stop()
    plain = pa.Table.from_batches(list(read_nfcapd(files["plain"])))
    assert plain.num_rows == n_records and plain["sampling_interval"].null_count == n_records
    found, err = _scan(files["plain"])
    assert len(found & mining_ports) >= 3, (found, err)  # the same records, unsampled, give timing verdicts
    assert "sampled exports" not in err
    for name, rate in (("sampled2", 2), ("sampled1000", 1000)):
        sampled = pa.Table.from_batches(list(read_nfcapd(files[name])))
        assert sampled.num_rows == n_records and set(sampled["sampling_interval"].to_pylist()) == {rate}
        found_s, err_s = _scan(files[name])
        assert found_s == set(), (name, found_s)
        assert f"{n_records} NetFlow record(s) come from sampled exports" in err_s

@need_tools
@pytest.mark.tools
def test_a_sampler_list_nfdump_cannot_give_is_an_error_naming_the_file(tmp_path):
    """Records read without their exporters' sampling could be timed when they must not be: that is said,
    with the file, after the records were delivered (as for a damaged file)."""
    now = int(time.time())
    nf = Nfcapd(tmp_path / "nf")
    try:
        nf.send([_v9([*_v9_sampling(100), (0, tmpl(300, FIELDS)),
                      (300, data_rec("10.0.1.1", "198.51.100.9", 40001, 3333, 3, 400, UPTIME - 5_000, UPTIME - 1_000))],
                     0, 1, now)])
    finally:
        (good,) = nf.stop()
    real = shutil.which("nfdump") or "/usr/bin/nfdump"
    fake = tmp_path / "bin" / "nfdump"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\nif [ "$1" = "-E" ]; then echo "Corrupt sampler record in $2 line 1" >&2; exit 0; fi\n'
                    f'exec {real} "$@"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    mp = pytest.MonkeyPatch()
    mp.setattr("minewatch.sources.nfcapd.nfdump_binary", lambda: str(fake))
    try:
        got: list[pa.RecordBatch] = []
        with pytest.raises(InputError) as e:
            for b in read_nfcapd(good):
                got.append(b)
    finally:
        mp.undo()
    assert sum(b.num_rows for b in got) == 1
    assert str(good) in str(e.value) and "nfdump -E" in str(e.value) and "Corrupt sampler record" in str(e.value)
