"""nfcapd files (nfdump's NetFlow/IPFIX archive) as collector records, read through Debian's `nfdump`.

Why: an operator with NetFlow almost always runs nfcapd already, and the history a hunt needs sits in
its five-minute files (`nfcapd.202411220000`, nfsen's `profiles-data/...`). Replaying them into
`minewatch collect` is not practical, and re-implementing nfdump's binary layouts (two file versions,
LZO/LZ4/ZSTD/BZ2 blocks, extension records) would be a second nfdump to maintain. nfdump itself
prints every record in a format we choose; this module reads that stream line by line into Arrow
batches of the collector's NETFLOW_SCHEMA, so `netflow_to_flows` and every detector downstream see
exactly what `minewatch collect` would have written for the same export.

What is asked of nfdump and why:
- `%tsr` (start, seconds since 1970 with ms) and `%td` (duration): nfdump 1.7.1's `%ter` prints the
  end's milliseconds wrongly (an end of .237 is printed .037, before the start), so the end is start +
  duration;
- `-N` numbers, `-q` no header or summary; `%ra` (the exporter's address) names the exporter;
- `%opkt`/`%obyt`: the reverse counters of biflow (NSEL, RFC 5103) records. One-way records have none
  and nfdump prints 0 for both; those become null (unknown), not 0, as in the collector.

Bad input: a line nfdump printed that does not parse is rejected and counted with its record number;
what nfdump says on stderr about a damaged file becomes an InputError naming the file, raised after
the records before the damage were delivered (as a truncated capture is read up to the damage).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from minewatch.errors import InputError, Rejects
from minewatch.sources.netflow import NETFLOW_SCHEMA

#: First bytes of an nfcapd file: magic 0xA50C (little-endian) and layout version 1 (nfdump <= 1.6)
#: or 2 (nfdump 1.7).
NFCAPD_HEADS = (b"\x0c\xa5\x01\x00", b"\x0c\xa5\x02\x00")
#: The record format asked of nfdump (see the module docstring); `|` never occurs in a field.
FIELDS = ("%tsr", "%td", "%pr", "%sa", "%sp", "%da", "%dp", "%ipkt", "%ibyt", "%opkt", "%obyt", "%flg", "%ra")
FMT = "fmt:" + "|".join(FIELDS)
BATCH_ROWS = 65_536
#: nfdump's TCP flag letters, most significant bit first (CWR ECE URG ACK PSH RST SYN FIN).
_FLAG_BITS = (0x80, 0x40, 0x20, 0x10, 0x08, 0x04, 0x02, 0x01)
_PROTO_NAMES = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmp6", 132: "sctp", 47: "gre", 50: "esp"}


def is_nfcapd(head: bytes) -> bool:
    return head[:4] in NFCAPD_HEADS


def nfdump_binary() -> str | None:
    return shutil.which("nfdump") or (str(Path("/usr/bin/nfdump")) if Path("/usr/bin/nfdump").exists() else None)


def _flags(text: str) -> int | None:
    t = text.strip()
    if t.lower().startswith("0x"):
        return int(t, 16)
    if len(t) != 8:
        return None
    return sum(b for b, c in zip(_FLAG_BITS, t, strict=True) if c != ".")


def _duration_s(text: str) -> float:
    """`%td`: seconds with ms ("0.437"); long flows may print as [dd]HH:MM:SS.mmm."""
    t = text.strip()
    if ":" not in t:
        return float(t)
    parts = [float(x) for x in t.split(":")]
    secs = 0.0
    for p in parts:
        secs = secs * 60 + p
    return secs


def parse_line(line: str) -> dict[str, object]:
    """One record line of FMT into collector columns; raises ValueError when it is not one."""
    f = [x.strip() for x in line.split("|")]
    if len(f) != len(FIELDS):
        raise ValueError(f"{len(f)} fields, expected {len(FIELDS)}")
    start_ms = round(float(f[0]) * 1000)
    dur_ms = round(_duration_s(f[1]) * 1000)
    if dur_ms < 0:
        raise ValueError("negative duration")
    proto = int(f[2])
    opkt, obyt = int(f[9]), int(f[10])
    biflow = opkt > 0 or obyt > 0
    return {
        "src_ip": f[3], "src_port": int(f[4]), "dst_ip": f[5], "dst_port": int(f[6]),
        "proto": proto, "transport": _PROTO_NAMES.get(proto, str(proto)),
        "packets": int(f[7]), "bytes": int(f[8]), "tcp_flags": _flags(f[11]),
        "start": start_ms * 1000, "end": (start_ms + dur_ms) * 1000,
        "exporter": f[12] or None,
        "packets_rev": opkt if biflow else None, "bytes_rev": obyt if biflow else None,
    }  # fmt: skip


def _batch(rows: list[dict[str, object]]) -> pa.RecordBatch:
    cols = {name: [r.get(name) for r in rows] for name in NETFLOW_SCHEMA.names}
    arrays = []
    for field in NETFLOW_SCHEMA:
        vals = cols[field.name]
        if pa.types.is_timestamp(field.type):
            arrays.append(pa.array(vals, pa.int64()).cast(field.type))
        else:
            arrays.append(pa.array(vals, field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=NETFLOW_SCHEMA)


def nfcapd_files(directory: Path) -> list[Path]:
    """The finished nfcapd files under a directory (nfsen's dated subdirectories included), oldest name
    first. `nfcapd.current.*` is the file nfcapd is still writing: it is left for the next scan."""
    return sorted(q for q in directory.rglob("nfcapd.*")
                  if q.is_file() and not q.name.startswith("nfcapd.current"))


def read_nfcapd(path: str | Path, rejects: Rejects | None = None) -> Iterator[pa.RecordBatch]:
    """Records of one nfcapd file, or of every nfcapd file under a directory, in NETFLOW_SCHEMA.

    A directory is read file by file rather than with `nfdump -R`: one foreign file in it (a README,
    a half-copied file) makes `nfdump -R` stop with nothing read. A file that is not an nfcapd file
    or that nfdump cannot read is reported by name after the others were read.
    """
    p = Path(path)
    rejects = rejects if rejects is not None else Rejects()
    if not p.is_dir():
        yield from _read_one(p, rejects)
        return
    failed: list[str] = []
    for q in nfcapd_files(p):
        with q.open("rb") as fh:
            if not is_nfcapd(fh.read(4)):
                failed.append(f"{q}: not an nfcapd file")
                continue
        try:
            yield from _read_one(q, rejects)
        except InputError as e:
            failed.append(str(e))
    if failed:
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        raise InputError(f"{len(failed)} nfcapd file(s) not read: {failed[0]}{more}", path=str(p))


def _read_one(p: Path, rejects: Rejects) -> Iterator[pa.RecordBatch]:
    exe = nfdump_binary()
    if exe is None:
        raise InputError("an nfcapd file: reading it needs nfdump (Debian package nfdump)", path=str(p))
    cmd = [exe, "-q", "-N", "-r", str(p), "-o", FMT]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                            env={"TZ": "UTC", "PATH": "/usr/bin:/bin"})
    assert proc.stdout is not None and proc.stderr is not None
    rows: list[dict[str, object]] = []
    n = 0
    try:
        for line in proc.stdout:
            s = line.strip()
            if not s or s == "No matching flows":
                continue
            n += 1
            try:
                rows.append(parse_line(s))
            except ValueError as e:
                rejects.add(f"unreadable nfdump record ({e})", f"{p} record {n}")
                continue
            if len(rows) >= BATCH_ROWS:
                yield _batch(rows)
                rows = []
        if rows:
            yield _batch(rows)
    finally:
        if proc.poll() is None:
            proc.stdout.close()
        err = proc.stderr.read().strip()
        proc.wait()
    if err:
        first = err.splitlines()[0]
        raise InputError(f"nfdump could not read all of it after {n} record(s): {first}", path=str(p))
