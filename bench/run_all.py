"""Run every benchmark in one go and keep their reports under bench/results/ (`make bench`).

The capture, NetFlow and power benchmarks run minewatch and the tool a user would pick instead
(tshark and NFStream, nfcapd, tsfresh) on the same input in the same run and print the ratios. The
detection benchmark counts labelled mining flows found by minewatch and by nDPI (counts, no ratio),
and the web benchmark times the findings list against its 300 ms target (no competing tool). This
runner only sequences them and makes the big capture (1024 MiB by default, the documented file).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def run(name: str, args: list[str]) -> int:
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{name}.txt"
    print(f"== {name}: {' '.join(args)}", flush=True)
    t0 = time.time()
    with out.open("w") as fh:
        proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            fh.write(line)
        rc = proc.wait()
    print(f"== {name}: exit {rc} after {time.time() - t0:.0f} s, report in {out}\n", flush=True)
    return rc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--capture-mb", type=int, default=1024, help="size of the generated capture in MiB (>= 1 GB)")
    ap.add_argument("--only", default="", help="comma list: capture,detection,netflow,sflow,power,web")
    a = ap.parse_args()
    only = {x for x in a.only.split(",") if x}
    big = RESULTS / "big.pcap"
    rcs = []
    if not only or "capture" in only:
        if not big.exists() or big.stat().st_size < a.capture_mb * 2**20 * 0.95:
            RESULTS.mkdir(exist_ok=True)
            sys.path.insert(0, str(HERE.parent / "src"))
            from minewatch.synth.big import write_big_capture

            write_big_capture(big, a.capture_mb * 2**20, seed=0)
        rcs.append(run("capture", [str(HERE / "bench_capture.py"), "--input", str(big)]))
    if not only or "detection" in only:
        rcs.append(run("detection", [str(HERE / "bench_detection.py")]))
    for name in ("netflow", "power", "web"):
        script = HERE / f"bench_{name}.py"
        if (not only or name in only) and script.exists():
            rcs.append(run(name, [str(script)]))
    if not only or "sflow" in only:
        rcs.append(run("sflow", [str(HERE / "bench_netflow.py"), "--version", "sflow", "--rates", "2000,5000"]))
    return max(rcs, default=0)


if __name__ == "__main__":
    raise SystemExit(main())
