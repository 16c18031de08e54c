"""nfcapd archives scanned directly: the records nfdump holds must be the ones `minewatch collect` would hold.

Real components: softflowd exports a generated capture (a miner among ordinary sessions) to nfcapd
and to `minewatch collect` on 127.0.0.1; `minewatch scan` then reads the nfcapd directory (through
nfdump) and the collector's Parquet, and both must give the same flows, packets, bytes and verdicts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from minewatch.errors import InputError, Rejects
from minewatch.sources.nfcapd import parse_line, read_nfcapd
from minewatch.sources.zeek import sniff_format
from minewatch.synth.pcapwriter import LinkSpec, write_capture
from minewatch.synth.scenario import ScenarioSpec, SessionSpec, build_scenario


def test_parse_line_reads_nfdump_records():
    one_way = "1699999999.800|           0.437|6    |        10.1.0.2| 40000|    198.51.100.7|   443|       5|     468|" \
              "       0|       0|...AP.S.|         0.0.0.0"
    r = parse_line(one_way)
    assert (r["src_ip"], r["src_port"], r["dst_ip"], r["dst_port"], r["transport"]) == \
        ("10.1.0.2", 40000, "198.51.100.7", 443, "tcp")
    assert r["start"] == 1_699_999_999_800_000 and r["end"] == 1_700_000_000_237_000  # start + duration
    assert r["tcp_flags"] == 0x10 | 0x08 | 0x02
    assert r["packets_rev"] is None and r["bytes_rev"] is None  # one-way: unknown, not 0
    biflow = one_way.replace("       0|       0|...AP.S.", "       3|     210|.......F")
    r = parse_line(biflow)
    assert (r["packets_rev"], r["bytes_rev"], r["tcp_flags"]) == (3, 210, 0x01)
    long_flow = one_way.replace("           0.437", "01:02:03.500")
    assert parse_line(long_flow)["end"] - parse_line(long_flow)["start"] == 3_723_500_000
    for bad in ("garbage", one_way.replace("|6    |", "|tcp|"), one_way.rsplit("|", 1)[0]):
        with pytest.raises(ValueError):
            parse_line(bad)


TOOLS = ("softflowd", "softflowctl", "nfcapd", "nfdump")
need_tools = pytest.mark.skipif(
    any(shutil.which(t) is None and not os.path.exists(f"/usr/sbin/{t}") for t in TOOLS),
    reason="Debian softflowd/nfdump not installed",
)

S = SessionSpec
SESSIONS = [
    S("xmrig", "10.1.0.7", "198.18.0.7", 1, 2400, 3333, kwargs={"worker": "pc7", "hashrate": 9000.0,
                                                             "difficulty": 50000.0}),
    S("stratum1-asic", "10.1.0.1", "198.18.0.1", 2, 2400, 4444, kwargs={"worker": "asic1", "hashrate": 100e12,
                                                                      "difficulty": 65536.0}),
    S("tls", "10.2.0.2", "198.18.1.2", 5, 60, kwargs={"sni": "www.example.cn", "requests": 3}),
    S("ssh", "10.2.0.11", "10.2.9.3", 4, 1800),
]


def _scan_jsonl(path, *extra):
    r = subprocess.run([sys.executable, "-m", "minewatch.cli", "scan", str(path), "--no-store", "--format", "jsonl",
                        "--suspects", *extra], capture_output=True, text=True, timeout=300)
    assert r.returncode in (0, 3), r.stderr
    return [json.loads(x) for x in r.stdout.splitlines() if x.strip()], r.stderr


@need_tools
@pytest.mark.tools
def test_nfcapd_archive_scans_like_collector_output(tmp_path):
    from test_flows_netflow_live import Receivers, nfdump_totals, softflowd_replay

    pkts, _labels = build_scenario(ScenarioSpec(SESSIONS, seed=4))
    pcap = write_capture(tmp_path / "mix.pcap", pkts, "pcap", LinkSpec())
    rx = Receivers(tmp_path)
    try:
        for port in (rx.nf_port, rx.mw_port):
            softflowd_replay(pcap, f"127.0.0.1:{port}", "9", tmp_path)
    finally:
        rx.stop()
    files = sorted(p for p in rx.nf_dir.rglob("nfcapd.*") if p.is_file())
    assert files and sniff_format(files[0]) == "nfcapd" and sniff_format(rx.nf_dir) == "nfcapd"
    rejects = Rejects()
    table = pa.Table.from_batches(list(read_nfcapd(rx.nf_dir, rejects)))
    ref = nfdump_totals(rx.nf_dir)
    assert table.num_rows == ref["Flows"] > 0
    assert pc.sum(table["packets"]).as_py() == ref["Packets"]
    assert pc.sum(table["bytes"]).as_py() == ref["Bytes"]
    assert rejects.total == 0
    ours, err_nf = _scan_jsonl(rx.nf_dir)
    theirs, err_pq = _scan_jsonl(rx.out)

    def key(f):
        return (f["kind"], f["src_ip"], f["src_port"], f["dst_ip"], f["dst_port"], round(f["score"]))

    assert sorted(map(key, ours)) == sorted(map(key, theirs))
    assert any(f["src_ip"] == "10.1.0.1" and f["dst_port"] == 4444 for f in ours)  # the ASIC's 40-min session
    assert f"{ref['Flows']:,} flows" in err_nf and f"{ref['Flows']:,} flows" in err_pq


@need_tools
@pytest.mark.tools
def _one_nfcapd_file(tmp_path):
    """An nfcapd file holding softflowd's v9 export of two ordinary sessions."""
    from test_flows_netflow_live import Receivers, softflowd_replay

    pkts, _labels = build_scenario(ScenarioSpec(SESSIONS[2:], seed=4))
    pcap = write_capture(tmp_path / "b.pcap", pkts, "pcap", LinkSpec())
    rx = Receivers(tmp_path)
    try:
        softflowd_replay(pcap, f"127.0.0.1:{rx.nf_port}", "9", tmp_path)
    finally:
        rx.stop()
    return next(p for p in rx.nf_dir.rglob("nfcapd.*") if p.is_file())


def test_damaged_nfcapd_file_is_named_and_the_rest_is_read(tmp_path):
    good = _one_nfcapd_file(tmp_path)
    cut = tmp_path / "nfcapd.202401010000"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(InputError) as e:
        list(read_nfcapd(cut))
    assert str(cut) in str(e.value) and "nfdump could not read" in str(e.value)
    # nfdump reads none of it: an input that could not be read (exit 4, "no input could be read"), not a
    # clean "nothing found" (review 13)
    r = subprocess.run([sys.executable, "-m", "minewatch.cli", "scan", str(cut), "--no-store", "--format", "jsonl"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 4 and str(cut) in r.stderr and "error" in r.stderr.lower(), r.stderr
    _both, err2 = _scan_jsonl(good)
    assert "error" not in err2.lower()


@need_tools
@pytest.mark.tools
def test_directory_is_read_file_by_file_around_foreign_and_unfinished_files(tmp_path):
    good = _one_nfcapd_file(tmp_path)
    n_good = pa.Table.from_batches(list(read_nfcapd(good))).num_rows
    arch = tmp_path / "nfsen" / "2024" / "01" / "01"
    arch.mkdir(parents=True)
    (arch / "nfcapd.202401010000").write_bytes(good.read_bytes())
    (arch / "nfcapd.current.4242").write_bytes(good.read_bytes())  # still being written by nfcapd
    (arch / "README").write_text("archive of router 1\n")  # `nfdump -R` stops at this with nothing read
    (arch / "nfcapd.202401010005").write_bytes(b"not an nfcapd file")
    root = tmp_path / "nfsen"
    assert sniff_format(root) == "nfcapd"
    got: list[pa.RecordBatch] = []
    with pytest.raises(InputError) as e:
        for b in read_nfcapd(root):
            got.append(b)
    assert sum(b.num_rows for b in got) == n_good > 0  # the finished file only, once
    assert "nfcapd.202401010005: not an nfcapd file" in str(e.value) and "1 nfcapd file(s)" in str(e.value)


def test_parse_line_repairs_swapped_ipfix_times_and_reads_icmp_and_full_ipv6():
    base = "1700000008.097|18446744073709544.000|6    |        10.1.0.2| 40000|    198.51.100.7|   443|       5|" \
           "     468|       0|       0|...AP.S.|         0.0.0.0"
    r = parse_line(base)  # nfdump 1.7.1 printed the end as the start and a wrapped negative duration
    assert r["end"] - r["start"] == pytest.approx(7_616_000, abs=2000) and r["end"] == 1_700_000_008_097_000
    icmp = base.replace("18446744073709544.000", "1.000").replace("|6    |", "|1    |") \
        .replace("| 40000|", "|     0|").replace("|   443|", "|   8.0|")
    assert parse_line(icmp)["dst_port"] == 8 * 256  # echo request: type 8, code 0
    v6 = base.replace("18446744073709544.000", "1.000").replace("10.1.0.2", "2001:db8:1234:5678:9abc:def0:1234:5678")
    assert parse_line(v6)["src_ip"] == "2001:db8:1234:5678:9abc:def0:1234:5678"
    for bad in (base.replace("10.1.0.2", "2001:db..34:5678"),  # shortened by nfdump without -6
                base.replace("18446744073709544.000", "99999999.000")):  # three years long
        with pytest.raises(ValueError):
            parse_line(bad)
