"""Real exporters, real reference collector: softflowd replays shared captures as v5, v9 and IPFIX to
`minewatch collect` and to nfdump's `nfcapd` on 127.0.0.1; flows, packets, bytes and time range must agree.

softflowd 1.1.0 in `-r` mode waits on its control socket before and after reading the file, so the
tests drive it with `softflowctl statistics` until the packet count settles, then `shutdown`, which
exports every flow still in its table.
"""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest

pytestmark = [pytest.mark.tools, pytest.mark.slow, pytest.mark.shared]

TOOLS = ("softflowd", "softflowctl", "nfcapd", "nfdump", "capinfos")
missing = [t for t in TOOLS if shutil.which(t) is None and not Path(f"/usr/sbin/{t}").exists()]
if missing:
    pytest.skip(f"Debian tools absent: {', '.join(missing)}", allow_module_level=True)

MINEWATCH = [sys.executable, "-m", "minewatch.cli"]


def _tool(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def softflowd_replay(pcap: Path, dest: str, version: str, work: Path, timeout: float = 60,
                     extra: tuple[str, ...] = ()) -> str:
    """Replay `pcap` through softflowd to `dest` and wait until it has exported everything and exited.
    `extra` adds softflowd options (e.g. "-b": RFC 5103 biflow records, with -v 10)."""
    ctl = work / f"sf-{version}.ctl"
    proc = subprocess.Popen(
        [_tool("softflowd"), "-r", str(pcap), "-n", dest, "-v", version, "-d", "-a",
         "-p", str(work / "sf.pid"), "-c", str(ctl), *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + timeout
        while not ctl.exists():
            assert time.monotonic() < deadline, "softflowd did not create its control socket"
            time.sleep(0.05)
        last, summary = -1, ""
        while time.monotonic() < deadline and proc.poll() is None:
            out = subprocess.run([_tool("softflowctl"), "-c", str(ctl), "statistics"],
                                 capture_output=True, text=True, timeout=10).stdout
            m = re.search(r"Packets processed: (\d+)", out)
            n = int(m.group(1)) if m else -1
            if n > 0 and re.search(r"Number of active flows: 0\b", out):
                summary = out  # with -a, softflowd flushes and exits by itself at end of file
            if n == last and n > 0:
                summary = subprocess.run([_tool("softflowctl"), "-c", str(ctl), "shutdown"],
                                         capture_output=True, text=True, timeout=10).stdout
                break
            last = n
            time.sleep(0.2)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode is not None
    return summary


class Receivers:
    """minewatch collect and nfcapd, each on its own loopback port, stopped with SIGTERM."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.nf_dir = work / "nfcapd"
        self.nf_dir.mkdir()
        self.out = work / "parquet"
        self.nf_port = free_udp_port()
        self.nfcapd = subprocess.Popen(
            [_tool("nfcapd"), "-w", str(self.nf_dir), "-p", str(self.nf_port), "-b", "127.0.0.1",
             "-B", str(16 << 20)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self.mw_err = open(work / "collect.log", "w+")  # noqa: SIM115 - closed in stop()
        self.mw = subprocess.Popen(
            [*MINEWATCH, "collect", "--listen", "127.0.0.1:0", "--out", str(self.out)],
            stdout=subprocess.DEVNULL, stderr=self.mw_err,
        )
        self.mw_port = self._wait_port()

    def _wait_port(self) -> int:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            self.mw_err.seek(0)
            m = re.search(r"127\.0\.0\.1:(\d+)", self.mw_err.read())
            if m:
                return int(m.group(1))
            assert self.mw.poll() is None, "minewatch collect exited early"
            time.sleep(0.1)
        raise AssertionError("minewatch collect did not report its port")

    def stop(self) -> str:
        time.sleep(0.5)  # let the last datagrams reach both sockets
        for p in (self.mw, self.nfcapd):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in (self.mw, self.nfcapd):
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.mw_err.seek(0)
        log = self.mw_err.read()
        self.mw_err.close()
        return log


def nfdump_totals(nf_dir: Path) -> dict[str, int]:
    out = subprocess.run([_tool("nfdump"), "-R", str(nf_dir), "-I"], capture_output=True, text=True,
                         timeout=60).stdout
    vals = dict(re.findall(r"^(\w+): (\d+)$", out, re.M))
    return {k: int(vals[k]) for k in ("Flows", "Packets", "Bytes", "First", "Last")}


def parquet_totals(out: Path) -> dict[str, int]:
    t = ds.dataset(out, format="parquet", partitioning="hive").to_table()
    return {
        "Flows": t.num_rows,
        "Packets": pc.sum(t["packets"]).as_py(),
        "Bytes": pc.sum(t["bytes"]).as_py(),
        "First": int(pc.min(t["start"]).as_py().timestamp()),
        "Last": int(pc.max(t["end"]).as_py().timestamp()),
        "null_start": t["start"].null_count,
    }


def capture_span(pcap: Path) -> tuple[float, float]:
    out = subprocess.run(["capinfos", "-a", "-e", "-S", str(pcap)], capture_output=True, text=True,
                         timeout=60).stdout
    first = float(re.search(r"First packet time:\s+([\d.]+)", out).group(1))
    last = float(re.search(r"Last packet time:\s+([\d.]+)", out).group(1))
    return first, last


CAPTURES = ["nesfit__cgminer.g2.pcapng", "ndpi__bitcoin.pcap", "nesfit__xmr-eu1.nanopool.org.pcapng"]


@pytest.mark.parametrize("version", ["5", "9", "10"])
def test_softflowd_to_collector_and_nfcapd_agree(shared, tmp_path, version):
    pcaps = [shared / "pcap" / n for n in CAPTURES if (shared / "pcap" / n).exists()]
    assert pcaps, "none of the shared captures used here is present"
    rx = Receivers(tmp_path)
    try:
        for pcap in pcaps:
            for port in (rx.nf_port, rx.mw_port):
                softflowd_replay(pcap, f"127.0.0.1:{port}", version, tmp_path)
    finally:
        log = rx.stop()
    ours = parquet_totals(rx.out)
    ref = nfdump_totals(rx.nf_dir)
    assert ref["Flows"] > 1000, ref
    assert ours["Flows"] == ref["Flows"], log
    assert ours["Packets"] == ref["Packets"]
    assert ours["Bytes"] == ref["Bytes"]
    assert ours["null_start"] == 0
    # Times come from uptime fields (v5/v9 header uptime; IPFIX systemInitTimeMilliseconds from an
    # options record): every flow must lie within the captures' own packet time span.
    span = [capture_span(p) for p in pcaps]
    # v9 and IPFIX headers carry whole export seconds, so times may be up to 1 s early.
    assert ours["First"] >= min(a for a, _ in span) - 2 and ours["Last"] <= max(b for _, b in span) + 1
    assert ours["First"] <= min(a for a, _ in span) + 1
    if version != "10":  # nfdump 1.7.1 places IPFIX uptime times ~2 s late; v5/v9 must match it
        assert abs(ours["First"] - ref["First"]) <= 1 and abs(ours["Last"] - ref["Last"]) <= 1
    assert "rejects 0" in log and "sequence gaps 0" in log
    stats = list((rx.out / "_stats").glob("collector-*.json"))
    assert len(stats) == 1
    parts = list(rx.out.glob("date=*/hour=*/part-*.parquet"))
    assert parts and not list(rx.out.rglob("*.tmp"))
