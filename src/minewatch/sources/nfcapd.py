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

import ipaddress
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


def _ms(text: str) -> int:
    """Seconds with a decimal fraction ("18446744073709544.000") as whole milliseconds, exactly: a float
    cannot hold a 20-digit count of milliseconds."""
    whole, _, frac = text.strip().partition(".")
    return int(whole or "0") * 1000 + int((frac + "000")[:3])


def _duration_ms(text: str) -> int:
    """`%td` in milliseconds: seconds with ms ("0.437"); long flows may print as [dd]HH:MM:SS.mmm."""
    t = text.strip()
    if ":" not in t:
        return _ms(t)
    *hm, sec = t.split(":")
    ms = 0
    for x in hm:
        ms = ms * 60 + int(x)
    return ms * 60_000 + _ms(sec)


#: nfdump 1.7.1 prints some IPFIX records (softflowd's) with start and end swapped: the duration comes out
#: as the unsigned 64-bit wrap of a negative number of milliseconds (18446744073709544.000 s for -7.6 s)
_WRAP_MS = 2**64
#: a flow record longer than this is not one (routers cut long flows at their active timeout)
MAX_DURATION_MS = 366 * 86_400_000
_TS_MAX_MS = 253_402_300_799_000  # 9999-12-31


def _port(text: str, proto: int) -> int:
    """A port; for ICMP nfdump prints the destination 'port' as type.code (8.0): type × 256 + code, as
    NetFlow stores it."""
    if proto in (1, 58) and "." in text:
        t, c = text.split(".", 1)
        v = int(t) * 256 + int(c)
    else:
        v = int(text)
    if not 0 <= v <= 65535:
        raise ValueError(f"port {text} out of range")
    return v


def _address(text: str) -> str:
    """An address as nfdump prints it with -6 (full IPv6): checked, so a shortened or garbled one is rejected."""
    return ipaddress.ip_address(text).compressed


def parse_line(line: str) -> dict[str, object]:
    """One record line of FMT into collector columns; raises ValueError when it is not one."""
    f = [x.strip() for x in line.split("|")]
    if len(f) != len(FIELDS):
        raise ValueError(f"{len(f)} fields, expected {len(FIELDS)}")
    start_ms = _ms(f[0])
    dur_ms = _duration_ms(f[1])
    if dur_ms > _WRAP_MS // 2:  # start and end swapped by nfdump: the printed start is the end
        dur_ms -= _WRAP_MS
        start_ms, dur_ms = start_ms + dur_ms, -dur_ms
    if not 0 <= dur_ms <= MAX_DURATION_MS:
        raise ValueError(f"implausible duration {f[1]} s")
    if not 0 <= start_ms <= _TS_MAX_MS - dur_ms:
        raise ValueError(f"time {f[0]} out of range")
    proto = int(f[2])
    if not 0 <= proto <= 255:
        raise ValueError(f"protocol {proto} out of range")
    counts = [int(x) for x in (f[7], f[8], f[9], f[10])]
    if any(not 0 <= c < 2**63 for c in counts):
        raise ValueError("counter out of range")
    opkt, obyt = counts[2], counts[3]
    biflow = opkt > 0 or obyt > 0
    return {
        "src_ip": _address(f[3]), "src_port": _port(f[4], proto), "dst_ip": _address(f[5]),
        "dst_port": _port(f[6], proto),
        "proto": proto, "transport": _PROTO_NAMES.get(proto, str(proto)),
        "packets": counts[0], "bytes": counts[1], "tcp_flags": _flags(f[11]),
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
    cmd = [exe, "-q", "-N", "-6", "-r", str(p), "-o", FMT]  # -6: IPv6 addresses in full, not shortened
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
