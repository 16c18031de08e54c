"""A real sFlow agent and a real reference collector: pmacct's `pmacctd` (sfprobe plugin, 1 in 1) replays a
shared capture as sFlow v5 to `minewatch collect` and to pmacct's `sfacctd` on 127.0.0.1. Every packet
sampled must arrive once with the same addresses, ports and frame length, and the scan of what the
collector wrote must find the capture's plaintext Stratum sessions from the sampled headers alone,
with no benign connection among them."""

from __future__ import annotations

import csv
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from minewatch.synth.sflow import sfacctd_config

pytestmark = [pytest.mark.tools, pytest.mark.slow, pytest.mark.shared]

TOOLS = ("pmacctd", "sfacctd")
missing = [t for t in TOOLS if shutil.which(t) is None and not Path(f"/usr/sbin/{t}").exists()]
if missing:
    pytest.skip(f"Debian tools absent (package pmacct): {', '.join(missing)}", allow_module_level=True)

MINEWATCH = [sys.executable, "-m", "minewatch.cli"]
CAPTURE = "nesfit__cgminer.s1.pcapng"
ICMP_NAMES = {"icmp": "icmp", "icmpv6": "ipv6-icmp"}  #: ours -> pmacct's protocol names


def _tool(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


def _free_udp_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _replay(pcap: Path, ports: tuple[int, int], work: Path) -> None:
    """pmacctd reads the capture once and sends every packet's sample to both receivers (two sfprobe
    plugins fed by the same core), then exits at the end of the file."""
    conf = work / "pmacctd.conf"
    conf.write_text("\n".join([
        "daemonize: false",
        "plugins: sfprobe[a], sfprobe[b]",
        f"sfprobe_receiver[a]: 127.0.0.1:{ports[0]}",
        f"sfprobe_receiver[b]: 127.0.0.1:{ports[1]}",
        "sfprobe_agentip: 127.0.0.1",
        "sampling_rate: 1",
        "plugin_pipe_size: 10240000",
        "plugin_buffer_size: 10240",
        f"pcap_savefile: {pcap}",
        "",
    ]))
    subprocess.run([_tool("pmacctd"), "-f", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=120, check=False)


def _sfacctd(port: int, work: Path) -> tuple[subprocess.Popen[bytes], Path]:
    out = work / "sfacctd.csv"
    conf = work / "sfacctd.conf"
    conf.write_text(sfacctd_config(port, str(out)))
    proc = subprocess.Popen([_tool("sfacctd"), "-f", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, out


def test_pmacct_sflow_to_collector_and_sfacctd_agree_and_scan_finds_stratum(shared, tmp_path):
    pcap = shared / "pcap" / CAPTURE
    if not pcap.exists():
        pytest.skip(f"{CAPTURE} is not in the shared data")
    sf_port = _free_udp_port()
    sfa, sfa_csv = _sfacctd(sf_port, tmp_path)
    out = tmp_path / "parquet"
    err = open(tmp_path / "collect.log", "w+")  # noqa: SIM115 - closed below
    mw = subprocess.Popen([*MINEWATCH, "collect", "--listen", "127.0.0.1:0", "--out", str(out)],
                          stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 30
        port = None
        while port is None and time.monotonic() < deadline:
            err.seek(0)
            m = re.search(r"127\.0\.0\.1:(\d+)", err.read())
            port = int(m.group(1)) if m else None
            assert mw.poll() is None, "minewatch collect exited early"
            time.sleep(0.1)
        assert port is not None, "minewatch collect did not report its port"
        time.sleep(1.0)  # sfacctd binds its socket
        _replay(pcap, (port, sf_port), tmp_path)
        time.sleep(3.0)  # the last datagrams, and sfacctd's one-second print refresh
    finally:
        for p in (mw, sfa):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM if p is mw else signal.SIGINT)
        for p in (mw, sfa):
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        err.seek(0)
        log = err.read()
        err.close()

    rows = ds.dataset(out, format="parquet", partitioning="hive").to_table().to_pylist()
    ours: Counter[tuple] = Counter()
    our_frames: Counter[tuple] = Counter()
    for r in rows:
        k = (r["src_ip"], r["dst_ip"], r["src_port"] or 0, r["dst_port"] or 0, r["transport"])
        if r["transport"] in ICMP_NAMES:  # ICMP type and code sit in the port columns; pmacct leaves them 0
            k = (r["src_ip"], r["dst_ip"], 0, 0, ICMP_NAMES[r["transport"]])
        ours[k] += r["packets"]
        our_frames[k] += int(dict(r["extra"])["frame_length"])
        assert r["version"] == 6343 and r["sampling_interval"] == 1
    ref: Counter[tuple] = Counter()
    ref_frames: Counter[tuple] = Counter()
    with open(sfa_csv) as fh:
        for r in csv.DictReader(fh):
            if r["SRC_IP"] == "SRC_IP":  # a header line repeated by each appended refresh
                continue
            k = (r["SRC_IP"], r["DST_IP"], int(r["SRC_PORT"]), int(r["DST_PORT"]), r["PROTOCOL"])
            ref[k] += int(r["PACKETS"])
            ref_frames[k] += int(r["BYTES"])
    assert sum(ref.values()) > 8000, "sfacctd received too little to compare"
    # no datagram was lost on our side: the agent's sequence numbers have no gap and nothing was rejected
    assert "rejects 0" in log and "sequence gaps 0" in log
    if sum(ref.values()) < sum(ours.values()):
        # the reference lost samples on a loaded machine (UDP on loopback to a busy sfacctd: once in CI, some
        # flows each one sample short): then it may only be short, never over, and by a datagram or two
        short = sum(ours.values()) - sum(ref.values())
        assert all(ref[k] <= n for k, n in ours.items()) and not set(ref) - set(ours), (ours - ref, ref - ours)
        assert short <= 32, f"sfacctd is {short} samples short: more than a couple of datagrams"
        assert all(ref_frames[k] <= n for k, n in our_frames.items())
    else:
        assert ours == ref, log
        assert our_frames == ref_frames  # sfacctd counts the sampled frame's length, as the row's extra keeps it
    # pmacct sends a counter sample now and then, as its interval comes round during the replay
    assert re.search(rf"sFlow: {len(rows)} flow samples, \d+ counter samples passed over, 0 samples dropped", log)
    stats = json.loads(next((out / "_stats").glob("collector-*.json")).read_text())
    assert stats["by_version"] == {"sflow5": stats["datagrams"]}
    assert stats["sflow_flow_samples"] == len(rows)

    # the scan: packet samples judged by names and sampled content only; the capture's labels say which
    # connections are mining (the detector never reads them)
    labels = {}
    with open(shared / "pcap" / "labels.csv") as fh:
        for r in csv.DictReader(fh):
            if r["file_name"] == CAPTURE:
                labels[(r["src_ip"], int(r["src_port"]), r["dst_ip"], int(r["dst_port"]))] = r["label"]
    scan = subprocess.run([*MINEWATCH, "scan", str(out), "--db", str(tmp_path / "s.duckdb"), "--format", "jsonl"],
                          capture_output=True, text=True, timeout=300)
    assert scan.returncode == 0, scan.stderr
    found = [json.loads(line) for line in scan.stdout.splitlines() if line.startswith("{")]
    mining = [f for f in found if f.get("kind") == "mining"]
    verdicts = Counter(labels.get((f["src_ip"], f["src_port"], f["dst_ip"], f["dst_port"]), "unlabelled")
                       for f in mining)
    n_mining = sum(v == "mining" for v in labels.values())
    assert verdicts["benign"] == 0 and verdicts["unlabelled"] == 0, verdicts
    # measured 843 of 981: a connection whose sampled packets all begin past the method name is not seen
    assert verdicts["mining"] >= 0.8 * n_mining, (verdicts, n_mining)
    assert all(f["detector"] == "net.stratum" and "sampled_protocol" in f["subscores"] for f in mining)
    assert "judged by pool names, addresses, ports and sampled content" in scan.stderr + scan.stdout
