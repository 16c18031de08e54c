"""Records per second: `minewatch collect` against nfdump's `nfcapd` (NetFlow/IPFIX) or pmacct's `sfacctd`
(sFlow, `--version sflow`), on loopback.

What is measured (say it when quoting numbers):
1. decode-only: `decode_into` over the generated datagrams in-process, an Arrow table taken every
   2,000 datagrams as the collector does (no socket, no Parquet);
2. live, CPU-normalised: the same datagrams are sent, paced, to both collectors on 127.0.0.1; each
   collector's CPU time (utime+stime from /proc) is read once it has gone idle, and records/CPU-second
   is reported with the ratio nfcapd/minewatch. Pacing keeps the offered load fixed, so wall-clock
   throughput would only measure the sender; CPU seconds are the fair unit. The records that reached
   each collector's output are counted and the loss printed per rate (loss makes the CPU comparison
   unfair: dropped datagrams cost the kernel, not the collector). Two CPU figures per collector:
   "running" = from the first datagram until it has gone idle after the last (every full batch
   converted and written on the way), and "to exit" = that plus SIGTERM, the final flush and process
   exit (minewatch skips Python's interpreter teardown with os._exit since session 10; it was
   0.22-0.30 CPU-s of that figure before). The headline ratio uses
   "to exit", the stricter one; "running" is what a collector that runs for days pays per record.

Datagrams are generated: NetFlow v5, v9 or IPFIX, 30 IPv4 records per datagram with the field layout
softflowd uses (addresses, ports, proto, packets, bytes, uptimes), templates re-sent every 100; or sFlow
v5, 7 flow samples per datagram (what fits a 1,500-byte datagram with 128-byte Ethernet headers), each a
TCP packet of one of 200 x 30 connections, one in ten carrying a Stratum share (so the payload check
runs), sampling rate 1. A record is a flow record (NetFlow) or a flow sample (sFlow); sfacctd's count is
the sum of the packets its print plugin writes (aggregated by address, port and protocol, 1 s refresh).

    .venv/bin/python bench/bench_netflow.py --datagrams 20000 --rates 1000,2500,5000 --version 9
    .venv/bin/python bench/bench_netflow.py --skip-decode --receiver recvfrom   # the portable path, A/B
    .venv/bin/python bench/bench_netflow.py --skip-decode --rounds 3 --baseline-src /tmp/old/src  # old vs new

`--baseline-src DIR` also runs the minewatch found in DIR (a copy of an older `src/`, put first on
PYTHONPATH) right before the current one, for every round: interleaved runs on this noisy VM are
the only fair before/after comparison.
"""

from __future__ import annotations

import argparse
import json
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

FIELDS = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (6, 1), (2, 4), (1, 4), (22, 4), (21, 4)]
REC = struct.Struct(">4s4sHHBBIIII")
UPTIME = 86_400_000
EXPORT_S = 1_700_000_000
V5_REC = struct.Struct(">4s4s4sHHIIIIHHxBBBHHBBxx")


def make_v5(n: int, per: int = 30) -> list[bytes]:
    out = []
    for k in range(n):
        hdr = struct.pack(">HHIIIIBBH", 5, per, UPTIME, EXPORT_S, 0, k * per, 0, 1, 0)
        body = b"".join(
            V5_REC.pack(socket.inet_aton(f"10.{k % 200}.{j}.1"), socket.inet_aton("192.0.2.7"), b"\0" * 4, 1, 2,
                        3 + j, 200 + 40 * j, UPTIME - 30_000, UPTIME - 1_000, 1024 + j, 443, 0x1B, 6, 0, 0, 0, 24,
                        24)
            for j in range(per)
        )
        out.append(hdr + body)
    return out


SFLOW_PER = 7


def make_sflow(n: int, per: int = SFLOW_PER) -> list[bytes]:
    from minewatch.synth.pcapwriter import LinkSpec, ip_packet, tcp_header
    from minewatch.synth.sflow import Datagram, FlowSample, sampled_header

    link = LinkSpec()
    share = b'{"id": 9, "method": "mining.submit", "params": ["rig1", "1a2b", "00000000", "6553f1a0", "0f0e"]}'
    frames = []
    for k in range(200):
        for j in range(30):
            src, dst = f"10.{k}.{j}.1", "192.0.2.7"
            pl = share if j % 10 == 0 else b"\x17\x03\x03" + bytes(97)
            frames.append(link.frame(ip_packet(src, dst, 6, tcp_header(src, dst, 1024 + j, 3333, 1, 1, 0x18, pl))))
    out = []
    for k in range(n):
        samples = [FlowSample([sampled_header(frames[(k * per + i) % len(frames)])], rate=1, seq=k * per + i + 1)
                   for i in range(per)]
        out.append(Datagram(samples, agent="192.0.2.1", seq=k + 1).encode())
    return out


def make_datagrams(n: int, version: int, per: int = 30) -> list[bytes]:
    if version == 0:
        return make_sflow(n)
    if version == 5:
        return make_v5(n, per)
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
    from minewatch.sources.netflow import ColumnBuffer, TemplateCache, decode_into

    cache = TemplateCache()
    buf = ColumnBuffer()
    t = time.perf_counter()
    n = 0
    for i, d in enumerate(dgs):
        decode_into(d, "127.0.0.1:9", cache, buf)
        if i % 2000 == 1999 or i == len(dgs) - 1:
            table = buf.take()
            n += table.num_rows if table is not None else 0
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


def stop_cpu(p: subprocess.Popen[bytes], c0: float) -> float:
    """SIGTERM, reap with wait4 and return the CPU seconds used since `c0`, shutdown work included."""
    p.send_signal(signal.SIGTERM)
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return ru.ru_utime + ru.ru_stime - c0


def live(dgs: list[bytes], rate: float, work: Path, receiver: str = "auto",
         nfcapd: bool = True, baseline_src: str | None = None,
         sflow: bool = False) -> dict[str, tuple[int, float, float]]:
    """Records that reached each collector's output, its CPU seconds from first datagram to exit, and
    from first datagram until idle after the last."""
    res: dict[str, tuple[int, float, float]] = {}
    if baseline_src:
        res["baseline"] = live_minewatch(dgs, rate, work / "base", receiver, baseline_src)
    res["minewatch"] = live_minewatch(dgs, rate, work / "new", receiver, None)
    if sflow:
        sfa = shutil.which("sfacctd") or ("/usr/sbin/sfacctd" if Path("/usr/sbin/sfacctd").exists() else None)
        if sfa and nfcapd:
            res["sfacctd"] = live_sfacctd(sfa, dgs, rate, work)
        return res
    # nfcapd
    nf = shutil.which("nfcapd") if nfcapd else None
    if nf:
        d = work / "nf"
        d.mkdir()
        port = free_port()
        p = subprocess.Popen([nf, "-w", str(d), "-p", str(port), "-b", "127.0.0.1", "-B", str(16 << 20)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        c0 = cpu_s(p.pid)
        send_paced(port, dgs, rate)
        running = wait_idle(p.pid) - c0
        cpu = stop_cpu(p, c0)
        info = subprocess.run(["nfdump", "-R", str(d), "-I"], capture_output=True, text=True).stdout
        m = re.search(r"^Flows: (\d+)", info, re.M)
        res["nfcapd"] = (int(m.group(1)) if m else -1, cpu, running)
    return res


def live_sfacctd(exe: str, dgs: list[bytes], rate: float, work: Path) -> tuple[int, float, float]:
    """pmacct's sFlow collector with a print plugin (the lightest it has) aggregating by 5-tuple to CSV."""
    from minewatch.synth.sflow import sfacctd_config

    d = work / "sfa"
    d.mkdir()
    port = free_port()
    out = d / "out.csv"
    conf = d / "sfacctd.conf"
    conf.write_text(sfacctd_config(port, str(out)))
    p = subprocess.Popen([exe, "-f", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    # sfacctd forks its print plugin: the work is the core's and the plugin's, both counted
    kids_file = Path(f"/proc/{p.pid}/task/{p.pid}/children")
    kids = [int(x) for x in kids_file.read_text().split()] if kids_file.exists() else []

    def total() -> float:
        return cpu_s(p.pid) + sum(cpu_s(k) for k in kids if Path(f"/proc/{k}/stat").exists())

    c0 = total()
    send_paced(port, dgs, rate)
    time.sleep(2.0)  # its print plugin writes once a second
    last = total()
    while True:
        time.sleep(1.0)
        now = total()
        if now - last < 0.02:
            break
        last = now
    running = now - c0
    p.send_signal(signal.SIGINT)
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    # wait4's usage covers the core and the children it reaped (its plugin) since the start; the part
    # before the first datagram is taken off
    cpu = max(running, ru.ru_utime + ru.ru_stime - c0)
    recs = 0
    if out.exists():
        for line in out.read_text().splitlines():
            f = line.split(",")
            if len(f) >= 7 and f[5].isdigit():
                recs += int(f[5])
    return recs, cpu, running


def live_minewatch(dgs: list[bytes], rate: float, work: Path, receiver: str,
                   src: str | None) -> tuple[int, float, float]:
    """One `minewatch collect` process (from `src` when given): rows written, CPU to exit, CPU running."""
    work.mkdir(parents=True, exist_ok=True)
    out = work / "mw"
    log = work / "mw.log"
    env = {**os.environ, "MINEWATCH_COLLECTOR_RECEIVER": receiver}
    if src:
        env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [os.environ.get("PYTHONPATH")])])
    with open(log, "w") as err:
        p = subprocess.Popen([sys.executable, "-m", "minewatch.cli", "collect", "--listen", "127.0.0.1:0", "--out",
                              str(out), "--flush-rows", "100000"], stderr=err, env=env)
    deadline = time.monotonic() + 60
    while not (m := re.search(r":(\d+),", log.read_text())) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert m, log.read_text()
    port = int(m.group(1))
    time.sleep(0.5)
    c0 = cpu_s(p.pid)
    send_paced(port, dgs, rate)
    running = wait_idle(p.pid) - c0
    cpu = stop_cpu(p, c0)
    m = re.search(r"rows written (\d+)", log.read_text())
    for st in (out / "_stats").glob("collector-*.json"):
        s = json.loads(st.read_text())
        calls = s.get("receive_calls") or 0
        print(f"minewatch{' (' + src + ')' if src else ''} receive path {s.get('receive_path', '?')} "
              f"({s.get('receive_fallback') or 'chosen'}), {s['datagrams'] / max(calls, 1):.1f} datagrams per receive call")
    return (int(m.group(1)) if m else -1, cpu, running)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datagrams", type=int, default=20_000)
    ap.add_argument("--rates", default="3000", help="datagrams per second sent to each collector, comma-separated")
    ap.add_argument("--version", choices=("5", "9", "10", "sflow"), default="9")
    ap.add_argument("--skip-live", action="store_true")
    ap.add_argument("--skip-decode", action="store_true", help="live only (e.g. to measure an older minewatch)")
    ap.add_argument("--receiver", choices=("auto", "recvmmsg", "recvfrom"), default="auto",
                    help="minewatch's receive path (sets MINEWATCH_COLLECTOR_RECEIVER)")
    ap.add_argument("--no-nfcapd", action="store_true", help="minewatch only (A/B runs of its receive paths)")
    ap.add_argument("--baseline-src", help="also run the minewatch in this src/ directory (before/after A/B)")
    ap.add_argument("--rounds", type=int, default=1, help="repeat every rate this many times, interleaved")
    a = ap.parse_args()
    version = 0 if a.version == "sflow" else int(a.version)
    dgs = make_datagrams(a.datagrams, version)
    n = len(dgs) * (SFLOW_PER if version == 0 else 30)
    print(f"{'sFlow v5' if version == 0 else 'v' + a.version}: {len(dgs)} datagrams, {n} records")
    if not a.skip_decode:
        n, dt = decode_only(dgs)
        print(f"decode-only (minewatch, in-process): {n / dt:,.0f} records/s")
    if a.skip_live:
        return
    for rnd, rate in ((r, float(x)) for r in range(a.rounds) for x in a.rates.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            res = live(dgs, rate, Path(tmp), a.receiver, not a.no_nfcapd, a.baseline_src, sflow=version == 0)
        print(f"-- round {rnd + 1}: {rate:,.0f} datagrams/s offered ({rate * n / len(dgs):,.0f} records/s)")
        for name, (recs, cpu, running) in res.items():
            loss = 1 - recs / n
            print(f"live {name:9s}: {recs} of {n} records (loss {loss:.1%}), {cpu:.2f} CPU-s to exit, "
                  f"{recs / max(cpu, 1e-9):,.0f} records/CPU-s; running {running:.2f} CPU-s, "
                  f"{recs / max(running, 1e-9):,.0f} records/CPU-s")
        if "baseline" in res and min(res["baseline"][1], res["minewatch"][1], res["baseline"][2]) > 0:
            b, m = res["baseline"], res["minewatch"]
            print(f"minewatch now / baseline (records per CPU-second): to exit {(m[0] / m[1]) / (b[0] / b[1]):.2f}x, "
                  f"running {(m[0] / max(m[2], 1e-9)) / (b[0] / b[2]):.2f}x")
        ref = "sfacctd" if "sfacctd" in res else "nfcapd"
        if ref in res and res[ref][1] > 0 and res["minewatch"][1] > 0:
            mw = res["minewatch"][0] / res["minewatch"][1]
            nf = res[ref][0] / res[ref][1]
            print(f"ratio {ref} / minewatch (records per CPU-second, to exit): {nf / mw:.2f}x")
            if res[ref][2] > 0 and res["minewatch"][2] > 0:
                mwr = res["minewatch"][0] / res["minewatch"][2]
                nfr = res[ref][0] / res[ref][2]
                print(f"ratio {ref} / minewatch (records per CPU-second, running): {nfr / mwr:.2f}x")


if __name__ == "__main__":
    main()
