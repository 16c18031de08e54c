"""Detection on the shared labelled captures: minewatch against nDPI (through NFStream), per variant.

nDPI is what ntopng and NFStream users run; its Mining protocol (id 42) looks only at the first
payload packet for a few strings (research note network.md §1.2). This prints, for every labelled
mining variant, how many flows each tool flags, and how many node or benign flows each flags as mining.

    python bench/bench_detection.py            # needs ../shared/data and `pip install nfstream`
"""

from __future__ import annotations

import csv
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def key(proto: str, a: str, ap: object, b: str, bp: object) -> tuple:
    ends = sorted([(a, int(ap or 0)), (b, int(bp or 0))])
    return (proto.lower(), *ends[0], *ends[1])


def main() -> int:
    from minewatch.net.pipeline import CaptureScanner
    from minewatch.paths import shared_data
    from minewatch.store.intel_tables import load_intel

    root = shared_data()
    if root is None:
        print("no ../shared/data: nothing to measure")
        return 0
    try:
        from nfstream import NFStreamer
    except ImportError:
        print("nfstream is not installed (pip install nfstream); only minewatch is measured")
        NFStreamer = None
    pcap = root / "pcap"
    with (pcap / "labels.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    by_file: dict[str, dict[tuple, dict]] = defaultdict(dict)
    for r in rows:
        by_file[r["file_name"]][key(r["proto"], r["src_ip"], r["src_port"], r["dst_ip"], r["dst_port"])] = r
    intel = load_intel(None)
    found = {"minewatch": Counter(), "nDPI": Counter()}
    false = {"minewatch": Counter(), "nDPI": Counter()}
    total: Counter = Counter()
    seconds = Counter()
    for name, labels in sorted(by_file.items()):
        path = pcap / name
        if not path.exists():
            continue
        for r in labels.values():
            if r["label"] == "mining":
                total[r["variant"]] += 1
        t0 = time.perf_counter()
        flagged_mw = {key(f.transport or "", f.src_ip, f.src_port, f.dst_ip, f.dst_port)
                      for f in CaptureScanner(intel).scan_file(path) if f.kind == "mining"}
        seconds["minewatch"] += time.perf_counter() - t0
        flagged_ndpi: set = set()
        if NFStreamer is not None:
            t0 = time.perf_counter()
            try:
                for fl in NFStreamer(source=str(path), n_dissections=20):
                    if "mining" in (fl.application_name or "").lower() or fl.application_category_name == "Mining":
                        proto = {6: "tcp", 17: "udp"}.get(fl.protocol, str(fl.protocol))
                        flagged_ndpi.add(key(proto, fl.src_ip, fl.src_port, fl.dst_ip, fl.dst_port))
            except Exception as e:  # NFStream refuses some link types; count the file as unread
                print(f"nDPI could not read {name}: {e}", file=sys.stderr)
            seconds["nDPI"] += time.perf_counter() - t0
        for tool, flagged in (("minewatch", flagged_mw), ("nDPI", flagged_ndpi)):
            for k in flagged:
                r = labels.get(k)
                if r is not None and r["label"] == "mining":
                    found[tool][r["variant"]] += 1
                else:
                    false[tool][r["label"] if r else "benign (unlisted)"] += 1
    print(f"{'variant':<20}{'labelled':>10}{'minewatch':>12}{'nDPI':>10}")
    for v in sorted(total):
        print(f"{v:<20}{total[v]:>10}{found['minewatch'][v]:>12}{found['nDPI'][v]:>10}")
    print(f"{'all mining':<20}{sum(total.values()):>10}{sum(found['minewatch'].values()):>12}"
          f"{sum(found['nDPI'].values()):>10}")
    for tool in ("minewatch", "nDPI"):
        print(f"{tool}: flows wrongly flagged as mining: {dict(false[tool]) or 0}; scan time {seconds[tool]:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
