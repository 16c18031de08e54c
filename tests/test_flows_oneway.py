"""One-way NetFlow records (v5/v9, IPFIX without biflow): both directions of a connection are brought
together and judged, from slices when an active timeout cut them, from totals when nothing did.

The end-to-end test replays a capture through Debian's softflowd into `minewatch collect` and scans the
collector's output, as an operator would.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from typer.testing import CliRunner

from collector_proc import CollectorProcess
from minewatch.cli import app
from minewatch.engines.kernels import FlowConfig, to_flow_table
from minewatch.evaluate import encrypted as E
from minewatch.net import behavior as B
from minewatch.sources.collector import PartitionedWriter
from minewatch.sources.netflow import NETFLOW_SCHEMA


def _rec(src: tuple[str, int], dst: tuple[str, int], t0: float, t1: float, packets: int, nbytes: int) -> dict:
    return {"src_ip": src[0], "src_port": src[1], "dst_ip": dst[0], "dst_port": dst[1], "transport": "tcp",
            "source": None, "slice_start": datetime.fromtimestamp(t0, tz=UTC),
            "slice_end": datetime.fromtimestamp(t1, tz=UTC), "packets_fwd": packets, "bytes_fwd": nbytes,
            "packets_rev": None, "bytes_rev": None}


def test_one_way_slices_orient_the_connection_and_keep_unknown_halves_unknown():
    c, s = ("10.0.0.2", 50123), ("192.0.2.9", 3333)
    recs = [_rec(s, c, 100.5, 160.0, 3, 300), _rec(c, s, 100.0, 160.0, 6, 900), _rec(c, s, 160.0, 220.0, 5, 700)]
    rows = B.one_way_slices(recs)
    assert len(rows) == 3
    # the client is the side that spoke first; every row is the client's connection
    assert {(r["src_ip"], r["src_port"], r["dst_port"]) for r in rows} == {(c[0], c[1], s[1])}
    assert sum(r["packets_fwd"] for r in rows) == 11 and sum(r["packets_rev"] for r in rows) == 3
    assert sum(r["bytes_rev"] for r in rows) == 300
    # same first time: the higher port is the client (servers listen low)
    tie = [_rec(s, c, 100.0, 160.0, 3, 300), _rec(c, s, 100.0, 160.0, 6, 900)]
    assert all(r["src_port"] == c[1] for r in B.one_way_slices(tie))
    # one direction only (asymmetric routing): the other half is unknown, not zero, so nothing is judged
    assert B.one_way_slices([_rec(c, s, 100.0, 160.0, 6, 900)]) == []


def test_spread_splits_a_record_by_time():
    k, w, src = B._spread(np.array([30.0, 0.0, 125.0]), np.array([90.0, 0.0, 125.0]), 60.0, 4)
    # record 0 covers 30 s of bin 0 and 30 s of bin 1; the instant records go whole into their bin
    assert list(zip(src.tolist(), k.tolist(), w.round(3).tolist(), strict=True)) == [
        (0, 0, 0.5), (0, 1, 0.5), (1, 0, 1.0), (2, 2, 1.0)]
    assert np.allclose(np.bincount(src, weights=w), 1.0)


def _oneway_sessions(n_mining: int, n_benign: int, seed: int):
    rng = np.random.default_rng(seed + 1)
    for i, sc in enumerate(E.make_scripts(n_mining, n_benign, seed, dur=(1200.0, 2400.0), extended=False)):
        mt, md, ml = E.script_messages(sc, rng)
        t, d, ln = E.wire_packets(mt, md, ml, sc.rtt)
        recs = E.oneway_records(t + 1.7e9 + 3600 * i, d, ln)
        client, server = (f"10.0.1.{i + 2}", 40000 + i), (f"198.51.100.{i % 50 + 1}", 443)
        for r in recs:
            fwd = r["src_port"] == 50000
            r.update(zip(("src_ip", "src_port"), client if fwd else server, strict=True))
            r.update(zip(("dst_ip", "dst_port"), server if fwd else client, strict=True))
        yield sc, recs


def test_one_way_records_of_mining_are_found_and_benign_channels_are_not():
    found, flagged_benign, n_mining = 0, [], 0
    for sc, recs in _oneway_sessions(12, 24, seed=11):
        rows = B.one_way_slices(recs)
        res = B.score_slices(
            np.array([r["slice_start"].timestamp() for r in rows]), np.array([r["slice_end"].timestamp() for r in rows]),
            np.array([r["packets_fwd"] for r in rows]), np.array([r["packets_rev"] for r in rows]),
            np.array([r["bytes_fwd"] for r in rows]), np.array([r["bytes_rev"] for r in rows]), aligned=False)
        hit = res is not None and res.is_mining
        if sc.label:
            n_mining += 1
            found += hit
        elif hit:
            flagged_benign.append(sc.kind)
    assert n_mining == 12 and found >= 10, found
    assert flagged_benign == []


def _collector_dir(tmp_path: Path, sessions) -> Path:
    rows = [r for _, recs in sessions for r in recs]
    n = len(rows)
    cols = {f.name: pa.nulls(n, f.type) for f in NETFLOW_SCHEMA}
    cols.update({
        "src_ip": pa.array([r["src_ip"] for r in rows]), "src_port": pa.array([r["src_port"] for r in rows]),
        "dst_ip": pa.array([r["dst_ip"] for r in rows]), "dst_port": pa.array([r["dst_port"] for r in rows]),
        "transport": pa.array(["tcp"] * n), "packets": pa.array([r["packets_fwd"] for r in rows]),
        "bytes": pa.array([r["bytes_fwd"] for r in rows]),
        "start": pa.array([r["slice_start"] for r in rows]), "end": pa.array([r["slice_end"] for r in rows]),
    })
    table = pa.table({k: cols[k].cast(f.type) if hasattr(cols[k], "cast") else cols[k]
                      for k, f in zip(NETFLOW_SCHEMA.names, NETFLOW_SCHEMA, strict=True)}, schema=NETFLOW_SCHEMA)
    out = tmp_path / "nf"
    w = PartitionedWriter(out)
    w.add(table, arrived_us=0, now=0.0)
    w.flush()
    return out


def test_scan_reports_timing_found_in_a_collectors_sliced_records(tmp_path, tmp_home):
    sessions = list(_oneway_sessions(4, 4, seed=3))
    out = _collector_dir(tmp_path, sessions)
    r = CliRunner().invoke(app, ["scan", str(out), "--no-store", "--format", "jsonl", "-q"])
    assert r.exit_code == 0, r.output
    got = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    ports = {f["src_port"] for f in got}
    mining_ports = {40000 + i for i, (sc, _) in enumerate(sessions) if sc.label}
    # slice verdicts are reported without --suspects, oriented client -> server, only for mining sessions
    assert ports and ports <= mining_ports, (ports, mining_ports)
    assert len(ports) >= 3
    assert all(f["extra"]["behavior_view"] == "slices" and f["dst_port"] == 443 for f in got)


def _sessions_pcap(tmp_path: Path, scripts: list[E.Script], rng: np.random.Generator) -> Path:
    """A capture of the scripts' simulated TLS sessions, one client address each, server port 443."""
    from minewatch.synth.pcapwriter import LinkSpec, PcapWriter, ipv4_packet, tcp_header

    packets = []
    for i, sc in enumerate(scripts):
        mt, md, ml = E.script_messages(sc, rng)
        t, d, ln = E.wire_packets(mt, md, ml, sc.rtt)
        t = t + 1.7e9
        c, s = f"10.1.0.{i + 2}", "198.51.100.7"
        seq = {0: 1000, 1: 5000}
        t0 = float(t.min()) - 0.2
        packets += [(t0, c, s, 40000 + i, 443, 999, 0, 0x02, 0), (t0 + 0.05, s, c, 443, 40000 + i, 4999, 1000, 0x12, 0),
                    (t0 + 0.1, c, s, 40000 + i, 443, 1000, 5000, 0x10, 0)]
        for tt, dd, ll in zip(t.tolist(), d.tolist(), ln.tolist(), strict=True):
            a, b, pa_, pb = (c, s, 40000 + i, 443) if dd == 0 else (s, c, 443, 40000 + i)
            packets.append((tt, a, b, pa_, pb, seq[dd], seq[1 - dd], 0x18 if ll else 0x10, int(ll)))
            seq[dd] += int(ll)
    packets.sort(key=lambda p: p[0])
    pcap = tmp_path / "sessions.pcap"
    link = LinkSpec()
    ts_opt = b"\x01\x01\x08\x0a" + bytes(8)  # NOP NOP timestamps: the usual 52 B of IPv4 + TCP headers
    with PcapWriter(pcap) as w:
        for tt, a, b, pa_, pb, sq, ack, fl, ll in packets:
            w.write(int(tt * 1e9), link.frame(ipv4_packet(a, b, 6, tcp_header(a, b, pa_, pb, sq, ack, fl, bytes(ll),
                                                                               options=ts_opt))))
    return pcap


TOOLS = ("softflowd", "softflowctl")


@pytest.mark.slow
@pytest.mark.skipif(any(shutil.which(t) is None for t in TOOLS), reason="Debian's softflowd is not installed")
def test_softflowd_records_of_a_capture_are_judged_from_totals(tmp_path, tmp_home):
    """A capture of 3 mining and 3 benign TLS-sized sessions of one hour, replayed by softflowd (which,
    reading a file, does not cut connections at an active timeout: long records per direction) into `minewatch collect`:
    the scan judges the connections from their totals, so mining is a suspect until asked for."""
    scripts = E.make_scripts(3, 3, 21, dur=(3600.0, 3600.0), extended=False)
    pcap = _sessions_pcap(tmp_path, scripts, np.random.default_rng(22))
    out = tmp_path / "nf"
    from test_flows_netflow_live import softflowd_replay

    with CollectorProcess(out) as col:
        softflowd_replay(pcap, f"127.0.0.1:{col.port}", "9", tmp_path)
        time.sleep(0.5)
        rc, err = col.stop()
    assert rc == 0, err
    runner = CliRunner()
    plain = runner.invoke(app, ["scan", str(out), "--no-store", "--format", "jsonl"])
    assert plain.exit_code == 0, plain.output
    assert not [x for x in plain.stdout.splitlines() if x.startswith("{")]
    mining = {40000 + i for i, sc in enumerate(scripts) if sc.label}
    assert f"{len(mining)} long-lived connection(s)" in plain.output
    r = runner.invoke(app, ["scan", str(out), "--no-store", "--format", "jsonl", "--suspects", "-q"])
    got = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert {f["src_port"] for f in got} == mining
    assert all(f["extra"]["behavior_view"] == "conn" for f in got)


@pytest.mark.slow
@pytest.mark.tools
@pytest.mark.skipif(any(shutil.which(t) is None for t in (*TOOLS, "nfcapd", "nfdump")),
                    reason="Debian's softflowd and nfdump are not installed")
def test_softflowd_biflow_ipfix_reverse_counts_agree_with_nfdump_and_are_judged(tmp_path, tmp_home):
    """softflowd -b exports RFC 5103 biflow IPFIX (the reverse direction's counters under enterprise
    29305). The collector keeps them as packets_rev/bytes_rev, equal to what nfdump decodes from the
    same export, and the scan judges each connection from its two-way totals (no pairing needed)."""
    from test_flows_netflow_live import Receivers, softflowd_replay

    scripts = E.make_scripts(3, 3, 21, dur=(3600.0, 3600.0), extended=False)
    pcap = _sessions_pcap(tmp_path, scripts, np.random.default_rng(22))
    rx = Receivers(tmp_path)
    try:
        for port in (rx.nf_port, rx.mw_port):
            softflowd_replay(pcap, f"127.0.0.1:{port}", "10", tmp_path, extra=("-b",))
    finally:
        log = rx.stop()
    assert "rejects 0" in log, log
    ref = subprocess.run([shutil.which("nfdump"), "-R", str(rx.nf_dir), "-q", "-o",  # type: ignore[list-item]
                          "fmt:%sp %ipkt %opkt %ibyt %obyt"], capture_output=True, text=True, timeout=60).stdout
    want = {int(a): tuple(map(int, rest)) for a, *rest in (ln.split() for ln in ref.splitlines() if ln.strip())}
    t = ds.dataset(rx.out, partitioning="hive").to_table()
    got = {r["src_port"]: (r["packets"], r["packets_rev"], r["bytes"], r["bytes_rev"]) for r in t.to_pylist()}
    assert len(want) == 6 and got == want
    r = CliRunner().invoke(app, ["scan", str(rx.out), "--no-store", "--format", "jsonl", "--suspects", "-q"])
    assert r.exit_code == 0, r.output
    found = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert {f["src_port"] for f in found} == {40000 + i for i, sc in enumerate(scripts) if sc.label}
    assert all(f["extra"]["behavior_view"] == "conn" for f in found)


NFDUMP_TOOLS = ("nfpcapd", "nfreplay")


@pytest.mark.slow
@pytest.mark.tools
@pytest.mark.skipif(any(shutil.which(t) is None for t in NFDUMP_TOOLS), reason="Debian's nfdump is not installed")
@pytest.mark.parametrize("version", ["9", "5"])
def test_nfpcapd_60s_records_replayed_as_netflow_are_judged_from_slices(tmp_path, tmp_home, version):
    """The sliced path with real tools: nfdump's own flow cache (nfpcapd, 60 s active and 15 s inactive
    timeout, one record per direction) cuts the capture, nfreplay exports the records as NetFlow to
    `minewatch collect`, and the scan reports the mining connections from their slices, by default."""
    scripts = E.make_scripts(3, 3, 21, dur=(3600.0, 3600.0), extended=False)
    pcap = _sessions_pcap(tmp_path, scripts, np.random.default_rng(22))
    flows = tmp_path / "nfcapd"
    flows.mkdir()
    subprocess.run([shutil.which("nfpcapd"), "-r", str(pcap), "-e", "60,15", "-w", str(flows)],  # type: ignore[list-item]
                   check=True, capture_output=True, timeout=120)
    files = sorted(flows.glob("nfcapd.*"))
    assert files
    out = tmp_path / "nf"
    with CollectorProcess(out) as col:
        for f in files:
            subprocess.run([shutil.which("nfreplay"), "-r", str(f), "-H", "127.0.0.1", "-p", str(col.port),  # type: ignore[list-item]
                            "-v", version], check=True, capture_output=True, timeout=60)
        time.sleep(0.5)
        rc, err = col.stop()
    assert rc == 0, err
    recs = ds.dataset(out, partitioning="hive").to_table()
    # the exporter sliced: an hour-long connection arrives as dozens of records per direction
    per_conn = Counter(zip(recs.column("src_port").to_pylist(), recs.column("dst_port").to_pylist(), strict=True))
    assert min(per_conn.values()) >= 30, per_conn
    r = CliRunner().invoke(app, ["scan", str(out), "--no-store", "--format", "jsonl", "-q"])
    assert r.exit_code == 0, r.output
    got = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    mining = {40000 + i for i, sc in enumerate(scripts) if sc.label}
    assert {f["src_port"] for f in got} == mining
    assert all(f["extra"]["behavior_view"] == "slices" and f["dst_port"] == 443 for f in got)


def test_connections_seen_one_way_are_counted_not_judged(tmp_path, tmp_home):
    sessions = list(_oneway_sessions(2, 0, seed=3))
    # drop the server's records of the first session: asymmetric routing
    first = sessions[0][1]
    client = first[0]["src_ip"] if first[0]["src_port"] >= 40000 else first[0]["dst_ip"]
    sessions[0] = (sessions[0][0], [r for r in first if r["src_ip"] == client])
    out = _collector_dir(tmp_path, sessions)
    tally: dict[str, int] = {}
    got = B.findings_from_flow_table(to_flow_table(ds.dataset(out, partitioning="hive").to_table(), FlowConfig()),
                                     tally=tally)
    assert tally == {"one_direction_only": 1}
    assert {f.src_port for f in got} <= {40001}
    r = CliRunner().invoke(app, ["scan", str(out), "--no-store", "--format", "jsonl"])
    assert r.exit_code == 0 and "1 long-lived connection(s) in the NetFlow records were seen in one direction" \
        in r.output, r.output


def test_spread_keeps_every_count_when_the_grid_is_rounded_down():
    # 150 s of records on a 60 s grid rounded to 2 bins: the tail record still counts in full
    k, w, src = B._spread(np.array([0.0, 60.0, 120.0]), np.array([60.0, 120.0, 150.0]), 60.0, 2)
    assert k.max() == 1
    assert np.allclose(np.bincount(src, weights=w), 1.0)
