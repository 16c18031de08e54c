"""Records per second: `minewatch collect` against nfdump's `nfcapd`, on loopback.

What is measured (say it when quoting numbers):
1. decode-only: `decode_datagram` over the generated datagrams in-process (no socket, no Parquet);
2. live, CPU-normalised: the same datagrams are sent, paced, to both collectors on 127.0.0.1; each
   collector's CPU time (utime+stime from /proc) is read once it has gone idle, and records/CPU-second
   is reported with the ratio nfcapd/minewatch. Pacing keeps both below their saturation point, so
   wall-clock throughput would only measure the sender; CPU seconds are the fair unit. Counts that
   arrived at each collector are printed too (a loss makes the comparison invalid and is reported).

Datagrams are generated: NetFlow v9 or IPFIX, 30 IPv4 records per datagram with the field layout
softflowd uses (addresses, ports, proto, packets, bytes, uptimes), templates re-sent every 100.

    .venv/bin/python bench/bench_netflow.py --datagrams 20000 --rate 4000 --version 9
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from minewatch.sources.netflow import TemplateCache, decode_datagram

FIELDS = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (6, 1), (2, 4), (1, 4), (22, 4), (21, 4)]
REC = struct.Struct(">4s4sHHBBIIII")
UPTIME = 86_400_000
EXPORT_S = 1_700_000_000


def make_datagrams(n: int, version: int, per: int = 30) -> list[bytes]:
    tmpl = struct.pack(">HH", 300, len(FIELDS)) + b"".join(struct.pack(">HH", i, ln) for i, ln in FIELDS)
    out = []
    seq = 0
    for k in range(n):
        body = b"".join(
            REC.pack(socket.inet_aton(f"10.{k % 200}.{j}.1"), socket.inet_aton("192.0.2.7"), 1024 + j, 443, 6,
                     0x1B, 3 + j, 200 + 40 * j, UPTIME - 30_000, UPTIME - 1_000)
            for j in range(per)
        )
        sets = ([(0 if version == 9 else 2, tmpl)] if k % 100 == 0 else []) + [(300, body)]
        payload = b"".join(struct.pack(">HH", sid, 4 + len(p)) + p for sid, p in sets)
        if version == 9:
            out.append(struct.pack(">HHIIII", 9, len(sets), UPTIME, EXPORT_S, k, 1) + payload)
        else:
            # IPFIX uptimes need systemInitTimeMilliseconds; use absolute ms times instead (IE 152/153)
            out.append(struct.pack(">HHIII", 10, 16 + len(payload), EXPORT_S, seq, 1) + payload)
            seq += per
    if version == 10:
        return [_ipfix_abs(d) for d in out]
    return out


def _ipfix_abs(d: bytes) -> bytes:
    # same records but with flowStart/EndSysUpTime (22/21) read relative to a system init time:
    # prepend an options template + record carrying systemInitTimeMilliseconds (IE 160) when the
    # template is (re)sent, which is what softflowd does.
    if struct.unpack_from(">H", d, 16)[0] != 2:
        return d
    opt_t = struct.pack(">HHH", 256, 2, 1) + struct.pack(">HHHH", 149, 4, 160, 8)
    opt_d = struct.pack(">IQ", 1, EXPORT_S * 1000 - UPTIME)
    extra = struct.pack(">HH", 3, 4 + len(opt_t)) + opt_t + struct.pack(">HH", 256, 4 + len(opt_d)) + opt_d
    body = d[16:] + extra
    return struct.pack(">HHIII", 10, 16 + len(body), *struct.unpack_from(">III", d, 4)) + body


def decode_only(dgs: list[bytes]) -> tuple[int, float]:
    cache = TemplateCache()
    t = time.perf_counter()
    n = 0
    for d in dgs:
        recs, _ = decode_datagram(d, "127.0.0.1:9", cache)
        n += len(recs)
    return n, time.perf_counter() - t


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_idle(pid: int, settle: float = 1.0, limit: float = 300) -> float:
    end = time.monotonic() + limit
    last = cpu_s(pid)
    while time.monotonic() < end:
        time.sleep(settle)
        now = cpu_s(pid)
        if now - last < 0.02:
            return now
        last = now
    return last


def send_paced(port: int, dgs: list[bytes], rate: float) -> float:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("127.0.0.1", port))
        t0 = time.monotonic()
        for i, d in enumerate(dgs):
            s.send(d)
            if i % 50 == 49:
                ahead = t0 + (i + 1) / rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
        return time.monotonic() - t0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def live(dgs: list[bytes], rate: float, work: Path) -> dict[str, tuple[int, float]]:
    res: dict[str, tuple[int, float]] = {}
    # minewatch
    out = work / "mw"
    p = subprocess.Popen([sys.executable, "-m", "minewatch.cli", "collect", "--listen", "127.0.0.1:0", "--out",
                          str(out), "--flush-rows", "100000"], stderr=subprocess.PIPE, text=True)
    port = int(re.search(r":(\d+),", p.stderr.readline()).group(1))
    time.sleep(0.5)
    c0 = cpu_s(p.pid)
    send_paced(port, dgs, rate)
    c1 = wait_idle(p.pid)
    p.send_signal(signal.SIGTERM)
    err = p.communicate(timeout=120)[1]
    m = re.search(r"records (\d+)", err)
    res["minewatch"] = (int(m.group(1)) if m else -1, c1 - c0)
    # nfcapd
    nf = shutil.which("nfcapd")
    if nf:
        d = work / "nf"
        d.mkdir()
        port = free_port()
        p = subprocess.Popen([nf, "-w", str(d), "-p", str(port), "-b", "127.0.0.1", "-B", str(16 << 20)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        c0 = cpu_s(p.pid)
        send_paced(port, dgs, rate)
        c1 = wait_idle(p.pid)
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)
        info = subprocess.run(["nfdump", "-R", str(d), "-I"], capture_output=True, text=True).stdout
        m = re.search(r"^Flows: (\d+)", info, re.M)
        res["nfcapd"] = (int(m.group(1)) if m else -1, c1 - c0)
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datagrams", type=int, default=20_000)
    ap.add_argument("--rate", type=float, default=3000.0, help="datagrams per second sent to each collector")
    ap.add_argument("--version", type=int, choices=(9, 10), default=9)
    ap.add_argument("--skip-live", action="store_true")
    a = ap.parse_args()
    dgs = make_datagrams(a.datagrams, a.version)
    n, dt = decode_only(dgs)
    print(f"v{a.version}: {len(dgs)} datagrams, {n} records")
    print(f"decode-only (minewatch, in-process): {n / dt:,.0f} records/s")
    if a.skip_live:
        return
    with tempfile.TemporaryDirectory() as tmp:
        res = live(dgs, a.rate, Path(tmp))
    for name, (recs, cpu) in res.items():
        ok = "" if recs == n else f"  (received {recs} of {n}: comparison invalid)"
        print(f"live {name:9s}: {recs} records, {cpu:.2f} CPU-s, {recs / max(cpu, 1e-9):,.0f} records/CPU-s{ok}")
    if "nfcapd" in res and res["nfcapd"][1] > 0 and res["minewatch"][1] > 0:
        mw = res["minewatch"][0] / res["minewatch"][1]
        nf = res["nfcapd"][0] / res["nfcapd"][1]
        print(f"ratio nfcapd / minewatch (records per CPU-second): {nf / mw:.1f}x")


if __name__ == "__main__":
    main()
