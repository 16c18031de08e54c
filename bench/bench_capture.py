"""Capture-scan throughput: minewatch's engine (and `minewatch scan`) against tshark and NFStream.

Every tool runs as its own process under /usr/bin/time -v on the same file, so wall time and peak RSS
are measured the same way for all. Prints packets/s, MB/s, peak RSS and the speed ratios: the full
`minewatch scan` against tshark `-z conv,tcp` (target >= 1.5x) and NFStream (target >= 1x), which are
the headline figures, and the flow engine alone (reader + flow table + 16 KiB heads) against each.

    python bench/bench_capture.py --input big.pcap
    python bench/bench_capture.py --make-big /tmp/big.pcap --size-mb 1024   # synth, or shared pcaps
    python bench/bench_capture.py --input big.pcap --rounds 3 --baseline-src /tmp/old/src   # old vs new

CPU seconds (user + system, children included) are printed beside wall seconds: on a machine shared
with other jobs, wall time says as much about the others as about the tool. `--baseline-src DIR` also
runs `minewatch scan` from an older copy of `src/` (first on PYTHONPATH), and `--rounds N` repeats every
tool N times, interleaved (old and new scan alternate which goes first), so both see the same load;
medians are reported.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PY = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv" / "bin" / "python").exists() else sys.executable


# ------------------------------------------------------------------------------------------ input
def make_big_from_shared(out: Path, size_bytes: int) -> int:
    """Concatenate the Ethernet packets of the shared captures, shifting each round's timestamps by a
    day so every round's flows are new flows (the old ones expire)."""
    sys.path.insert(0, str(REPO / "src"))
    from minewatch.paths import shared_data
    from minewatch.sources.pcap import open_capture

    root = shared_data()
    if root is None:
        raise SystemExit("no shared data to build a big capture from; pass --input")
    recs: list[tuple[float, bytes, int]] = []
    for p in sorted((root / "pcap").iterdir()):
        if p.name == "labels.csv":
            continue
        try:
            r = open_capture(p)
        except Exception:
            continue
        for b in r:
            for o, c, ol, t, lt in zip(b.data_off.tolist(), b.caplen.tolist(), b.origlen.tolist(),
                                       b.ts.tolist(), b.linktype.tolist(), strict=True):
                if lt == 1 and t == t:
                    recs.append((t, b.raw[o : o + c], ol))
    recs.sort(key=lambda x: x[0])
    t0 = recs[0][0]
    written = 0
    packets = 0
    with open(out, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        written = 24
        rnd = 0
        while written < size_bytes:
            shift = 1_600_000_000 + rnd * 86400 * 30
            parts = []
            for t, frame, ol in recs:
                ts = (t - t0) % (86400 * 30) + shift
                sec = int(ts)
                parts.append(struct.pack("<IIII", sec, int((ts - sec) * 1e6), len(frame), ol))
                parts.append(frame)
            blob = b"".join(parts)
            fh.write(blob)
            written += len(blob)
            packets += len(recs)
            rnd += 1
    return packets


def make_big(out: Path, size_bytes: int) -> None:
    try:
        sys.path.insert(0, str(REPO / "src"))
        from minewatch.synth.big import write_big_capture

        write_big_capture(out, size_bytes)
        print(f"made {out} with minewatch.synth ({out.stat().st_size / 1e6:.0f} MB)")
    except ImportError:
        n = make_big_from_shared(out, size_bytes)
        print(f"made {out} from the shared captures: {n} packets, {out.stat().st_size / 1e6:.0f} MB")


# ------------------------------------------------------------------------------------------ engine run
class _Head:
    """A consumer like the dissectors: takes the first 16 KiB of each flow, then wants no more."""

    def __init__(self) -> None:
        self.n = 0

    def feed(self, direction: int, ts: float, data: bytes) -> None:
        self.n += len(data)

    def gap(self, direction: int, ts: float) -> None:
        pass

    def datagram(self, direction: int, ts: float, payload: bytes) -> None:
        self.n += len(payload)

    def wants_more(self) -> bool:
        return self.n < 16384

    def close(self) -> None:
        pass


def engine_only(path: str, consumers: bool) -> None:
    sys.path.insert(0, str(REPO / "src"))
    from minewatch.net.engine import FlowEngine
    from minewatch.sources.pcap import open_capture

    t = time.perf_counter()
    flows = 0

    def end(_s: object) -> None:
        nonlocal flows
        flows += 1

    eng = FlowEngine((lambda info: _Head()) if consumers else (lambda info: None), on_flow_end=end)
    reader = open_capture(path)
    eng.process(reader)
    eng.finish()
    print(json.dumps({"packets": eng.stats.packets, "flows": flows, "seconds": time.perf_counter() - t,
                      "errors": [str(e) for e in reader.errors]}))


NFSTREAM_CODE = """
import sys, json
from nfstream import NFStreamer
n = 0; pk = 0
for f in NFStreamer(source=sys.argv[1], n_dissections=20):
    n += 1; pk += f.bidirectional_packets
print(json.dumps({"flows": n, "packets": pk}))
"""


# ------------------------------------------------------------------------------------------ timing
def timed(cmd: list[str], env: dict[str, str] | None = None) -> dict:
    """Run under /usr/bin/time -v; wall seconds, peak RSS (MB), stdout."""
    if shutil.which("time") or Path("/usr/bin/time").exists():
        full = ["/usr/bin/time", "-v", *cmd]
    else:
        full = cmd
    t = time.perf_counter()
    p = subprocess.run(full, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    rss = int(m.group(1)) / 1024 if m else None
    user = re.search(r"User time \(seconds\): ([\d.]+)", p.stderr)
    sys_ = re.search(r"System time \(seconds\): ([\d.]+)", p.stderr)
    cpu = float(user.group(1)) + float(sys_.group(1)) if user and sys_ else None
    return {"wall": wall, "cpu": cpu, "rss_mb": rss, "stdout": p.stdout, "rc": p.returncode,
            "stderr": p.stderr[-2000:]}


def median_run(runs: list[dict]) -> dict:
    """The runs of one tool as one: median wall and CPU seconds, largest peak RSS, the last run's output."""
    ok = [r for r in runs if r["rc"] == 0]
    if not ok:
        return runs[-1]
    out = dict(ok[-1])
    out["wall"] = statistics.median(r["wall"] for r in ok)
    cpus = [r["cpu"] for r in ok if r["cpu"] is not None]
    out["cpu"] = statistics.median(cpus) if cpus else None
    rss = [r["rss_mb"] for r in ok if r["rss_mb"] is not None]
    out["rss_mb"] = max(rss) if rss else None
    out["runs"] = [(round(r["wall"], 2), None if r["cpu"] is None else round(r["cpu"], 2)) for r in ok]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", help="capture to scan")
    ap.add_argument("--make-big", help="write a big capture here first (synth, else shared pcaps)")
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--skip", default="", help="comma list of tools to skip: engine,scan,tshark,nfstream")
    ap.add_argument("--rounds", type=int, default=1, help="run every tool this many times, interleaved (medians)")
    ap.add_argument("--baseline-src", help="also run `minewatch scan` from this older src/ directory (A/B)")
    ap.add_argument("--engine-only", help=argparse.SUPPRESS)
    ap.add_argument("--no-consumers", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.engine_only:
        engine_only(a.engine_only, not a.no_consumers)
        return
    if a.make_big:
        make_big(Path(a.make_big), a.size_mb * 1024 * 1024)
        a.input = a.input or a.make_big
    if not a.input:
        raise SystemExit("give --input FILE or --make-big FILE")
    path = a.input
    size_mb = os.path.getsize(path) / 1e6
    skip = set(filter(None, a.skip.split(",")))
    results: dict[str, dict] = {}
    packets = None

    # warm numba's cache so compile time is not billed to the scan
    with tempfile.TemporaryDirectory() as tmp:
        tiny = Path(tmp) / "warm.pcap"
        frame = bytes(12) + b"\x08\x00" + bytes.fromhex("4500001c0001000040110000") + bytes(8) + bytes(8)
        tiny.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
                         + struct.pack("<IIII", 1, 0, len(frame), len(frame)) + frame)
        subprocess.run([PY, __file__, "--engine-only", str(tiny)], capture_output=True)
    runs: dict[str, list[dict]] = {}

    def note(label: str, r: dict) -> None:
        runs.setdefault(label, []).append(r)

    minewatch = str(REPO / ".venv" / "bin" / "minewatch")
    for rnd in range(a.rounds):
        if "engine" not in skip:
            for label, extra in (("engine", []), ("engine (no dissectors)", ["--no-consumers"])):
                r = timed([PY, __file__, "--engine-only", path, *extra])
                if r["rc"] == 0:
                    out = json.loads(r["stdout"].strip().splitlines()[-1])
                    packets = out["packets"]
                    r["info"] = f"{out['flows']} flows"
                note(label, r)
        if "scan" not in skip and Path(minewatch).exists():
            sides = [("minewatch scan", None)]
            if a.baseline_src:
                sides.append(("minewatch scan (baseline)", a.baseline_src))
                if rnd % 2:
                    sides.reverse()  # neither side always runs first
            for label, src in sides:
                with tempfile.TemporaryDirectory() as home:
                    env = dict(os.environ, MINEWATCH_HOME=home)
                    if src:
                        env["PYTHONPATH"] = src
                    note(label, timed([minewatch, "scan", path], env=env))
        if "tshark" not in skip and shutil.which("tshark"):
            r = timed(["tshark", "-r", path, "-q", "-z", "conv,tcp"])
            r["info"] = f"{sum(1 for x in r['stdout'].splitlines() if '<->' in x)} TCP conversations"
            note("tshark conv,tcp", r)
        if "nfstream" not in skip:
            r = timed([PY, "-c", NFSTREAM_CODE, path])
            if r["rc"] == 0:
                out = json.loads(r["stdout"].strip().splitlines()[-1])
                r["info"] = f"{out['flows']} flows"
                packets = packets or out["packets"]
            note("nfstream", r)
    results = {k: median_run(v) for k, v in runs.items()}

    print(f"\ninput: {path}  {size_mb:.1f} MB  {packets or '?'} packets\n")
    if a.rounds > 1:
        print(f"{a.rounds} rounds, interleaved: medians (every run's wall and CPU seconds at the end)")
    print(f"{'tool':<28}{'seconds':>9}{'CPU s':>8}{'Mpkt/s':>9}{'MB/s':>9}{'peak RSS MB':>13}  note")
    for k, r in results.items():
        if r["rc"] != 0:
            print(f"{k:<28} failed (rc {r['rc']}): {r['stderr'][-300:]!r}")
            continue
        pps = packets / r["wall"] / 1e6 if packets else float("nan")
        rss = f"{r['rss_mb']:.0f}" if r["rss_mb"] is not None else "?"
        cpu = f"{r['cpu']:.2f}" if r.get("cpu") is not None else "?"
        print(f"{k:<28}{r['wall']:>9.2f}{cpu:>8}{pps:>9.3f}{size_mb / r['wall']:>9.1f}{rss:>13}  {r.get('info', '')}")
    # Packets are the same for every tool, so a packets/s ratio is the inverse ratio of the seconds.
    def ok(name: str) -> dict | None:
        r = results.get(name)
        return r if r and r["rc"] == 0 else None

    print("\nspeed ratios, packets/s of the first tool / packets/s of the second (> 1: the first is faster):")
    if size_mb < 500:
        print("  (a small input: start-up times dominate; the targets are judged on the ~1 GB capture)")
    scan = ok("minewatch scan")
    for other, target in (("tshark conv,tcp", 1.5), ("nfstream", 1.0)):
        o = ok(other)
        if scan and o:
            x = o["wall"] / scan["wall"]
            verdict = "met" if x >= target else "NOT met"
            print(f"  minewatch scan / {other}: {x:.2f}x  (target >= {target:g}x: {verdict})")
    base = ok("minewatch scan (baseline)")
    if scan and base:
        cpu = (f", CPU {base['cpu']:.2f} -> {scan['cpu']:.2f} s ({base['cpu'] / scan['cpu']:.2f}x)"
               if base.get("cpu") and scan.get("cpu") else "")
        print(f"  minewatch scan, baseline -> now: wall {base['wall']:.2f} -> {scan['wall']:.2f} s "
              f"({base['wall'] / scan['wall']:.2f}x){cpu}")
    eng = ok("engine")
    if eng:
        for other in ("tshark conv,tcp", "nfstream"):
            o = ok(other)
            if o:
                print(f"  engine alone / {other}: {o['wall'] / eng['wall']:.2f}x")
        if scan:
            print(f"  engine alone / minewatch scan: {scan['wall'] / eng['wall']:.2f}x  (the full scan's "
                  "start-up, dissectors, DNS, intel, timing detector and store writes cost the difference)")

    if a.rounds > 1:
        print("\nevery run (wall s, CPU s):")
        for k, r in results.items():
            print(f"  {k:<28}{r.get('runs')}")


if __name__ == "__main__":
    main()
