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
  and nfdump prints 0 for both; those become null (unknown), not 0, as in the collector;
- `%exp`: the exporter's SysID, nfcapd's own number for it, valid within one file only (every nfcapd
  run numbers its exporters afresh). It is the only link nfdump 1.7.1 prints between a record and the
  samplers its exporter announced: the record format has no sampling token, and `-o json` has only a
  yes/no `sampled` flag.

Sampling: one `nfdump -E FILE` per file (run beside the record stream, not per record) lists each
SysID's samplers: "Generic" (announced for the whole exporter: v9/IPFIX samplingInterval 34, v5's
header), "Assigned" (announced as a sampler id: samplerRandomInterval 50, samplingPacketInterval 305
with samplingPacketSpace 306), and the operator's own "Static default" / "Static overwrite" (nfcapd
`-s N` / `-s -N`). nfcapd has already multiplied such records' packets and bytes by the rate (measured,
and `nfcapd(1)` on `-s`), so they are estimates: the rows get `sampling_interval` (and are never timed
downstream, `engines.kernels.sampled_mask`) and `extra["nfcapd_upscaled"]` with the factor. An exporter
with no sampler in the file keeps null: nothing is guessed.

Bad input: a line nfdump printed that does not parse is rejected and counted with its record number;
what nfdump says on stderr about a damaged file becomes an InputError naming the file, raised after
the records before the damage were delivered (as a truncated capture is read up to the damage).
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from minewatch.errors import InputError, Rejects
from minewatch.sources.netflow import NETFLOW_SCHEMA

#: First bytes of an nfcapd file: magic 0xA50C (little-endian) and layout version 1 (nfdump <= 1.6)
#: or 2 (nfdump 1.7).
NFCAPD_HEADS = (b"\x0c\xa5\x01\x00", b"\x0c\xa5\x02\x00")
#: The record format asked of nfdump (see the module docstring); `|` never occurs in a field.
FIELDS = ("%tsr", "%td", "%pr", "%sa", "%sp", "%da", "%dp", "%ipkt", "%ibyt", "%opkt", "%obyt", "%flg", "%ra")
#: ... followed by the exporter's SysID (`%exp`), split off before `parse_line`, for `nfdump -E`'s samplers.
FMT = "fmt:" + "|".join(FIELDS) + "|%exp"
BATCH_ROWS = 65_536
#: Batches held back while `nfdump -E` is still listing samplers (a BZ2 file takes it as long as the
#: records: it decompresses every block); past this many the reader waits for it instead of holding more.
MAX_PENDING_BATCHES = 16
#: `extra` key of a row whose packets and bytes nfcapd multiplied by its exporter's sampling rate.
UPSCALED_KEY = "nfcapd_upscaled"
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
    """One record line of FIELDS (without `%exp`) into collector columns; raises ValueError when it is not one."""
    f = [x.strip() for x in line.split("|")]
    if len(f) != len(FIELDS):
        raise ValueError(f"{len(f)} fields, expected {len(FIELDS)}")
    return _parse_fields(f)


def _parse_fields(f: list[str]) -> dict[str, object]:
    """The FIELDS of one record, already split and stripped (the reader splits `%exp` off the same list)."""
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


_SYSID_RE = re.compile(r"SysID: (\d+),")
_SAMPLER_RE = re.compile(
    r"\s+Sampler: (Generic|Assigned|Static default|Static overwrite) Sampler: (?:id: (-?\d+), )?"
    r"algorithm: (\d+), packet interval: (\d+), packet space: (\d+)")
#: Which sampler nfcapd applies when an exporter has several (`nfcapd -s`: the operator's default yields
#: to an announced rate, `-s -N` overrides it); among announced ids the lowest (nfcapd 1.7.1 only ever
#: kept id 0 in our measurements).
_SAMPLER_RANK = {"Static overwrite": 0, "Generic": 1, "Assigned": 2, "Static default": 3}


def parse_samplers(text: str) -> dict[int, int]:
    """`nfdump -E` output as {exporter SysID: 1-in-N rate}, for the exporters that have a sampler.

    nfdump states a sampler as `packet interval` packets taken, then `packet space` skipped (a
    samplingInterval of 100 is stored as 1 and 99), so the rate is (interval + space) / interval.
    A sampler line before any SysID line, or with interval 0, says nothing usable and is skipped.
    """
    best: dict[int, tuple[tuple[int, int], int]] = {}
    sysid: int | None = None
    for line in text.splitlines():
        m = _SYSID_RE.match(line)
        if m:
            sysid = int(m[1])
            continue
        m = _SAMPLER_RE.match(line)
        if m is None or sysid is None:
            continue
        interval, space = int(m[4]), int(m[5])
        if interval <= 0:
            continue
        rank = (_SAMPLER_RANK[m[1]], int(m[2] or 0))
        rate = max(1, round((interval + space) / interval))
        if sysid not in best or rank < best[sysid][0]:
            best[sysid] = (rank, rate)
    return {k: rate for k, (_, rate) in best.items()}


class _Samplers:
    """`nfdump -E FILE`, started before the record stream and read when its answer is first needed, so
    listing the samplers overlaps reading the records instead of adding to it."""

    def __init__(self, exe: str, p: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([exe, "-E", str(p)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, errors="replace", env=env)
        self._rates: dict[int, int] | None = None
        self.error = ""

    def done(self) -> bool:
        return self._rates is not None or self.proc.poll() is not None

    def rates(self) -> dict[int, int]:
        if self._rates is None:
            out, err = self.proc.communicate()
            self._rates = parse_samplers(out)
            if self.proc.returncode or err.strip():
                self.error = (err.strip() or f"exit status {self.proc.returncode}").splitlines()[0]
        return self._rates

    def close(self) -> None:
        """Stop it if no batch ever needed its answer (no records, or the reader was abandoned)."""
        if self._rates is None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.communicate()
            self._rates = {}


def _rate_of(text: str, rates: dict[int, int]) -> int | None:
    return rates.get(int(text)) if text.isdigit() else None


def _with_sampling(batch: pa.RecordBatch, sysids: list[str], rates: dict[int, int]) -> pa.RecordBatch:
    """The batch with each row's sampling rate by its exporter's SysID (`%exp` as printed: converted once
    per distinct value, not per row); rows nfcapd upscaled say so in `extra`, since their packets and
    bytes are the counted ones times the rate, not counts."""
    if not rates:
        return batch
    by_text = {t: _rate_of(t, rates) for t in set(sysids)}
    rate = pa.array([by_text[t] for t in sysids], pa.int64())
    if rate.null_count == len(rate):
        return batch
    i = NETFLOW_SCHEMA.get_field_index("sampling_interval")
    batch = batch.set_column(i, NETFLOW_SCHEMA.field(i), rate)
    scaled = pc.fill_null(pc.greater(rate, 1), False)
    n_scaled = pc.sum(scaled).as_py() or 0
    if n_scaled:
        j = NETFLOW_SCHEMA.get_field_index("extra")
        offsets = pa.array(np.concatenate([[0], np.cumsum(scaled.to_numpy(zero_copy_only=False))]), pa.int32())
        keys = pa.repeat(pa.scalar(UPSCALED_KEY, pa.string()), n_scaled)
        items = pc.cast(rate.filter(scaled), pa.string())
        extra = pa.MapArray.from_arrays(offsets, keys, items, type=NETFLOW_SCHEMA.field(j).type,
                                        mask=pc.invert(scaled))
        batch = batch.set_column(j, NETFLOW_SCHEMA.field(j), extra)
    return batch


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
    env = {"TZ": "UTC", "PATH": "/usr/bin:/bin"}
    samplers = _Samplers(exe, p, env)
    cmd = [exe, "-q", "-N", "-6", "-r", str(p), "-o", FMT]  # -6: IPv6 addresses in full, not shortened
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                            env=env)
    assert proc.stdout is not None and proc.stderr is not None
    rows: list[dict[str, object]] = []
    sysids: list[str] = []  # each row's `%exp`, as printed
    # batches made while `nfdump -E` still runs wait here for their exporters' sampling rates
    pending: list[tuple[pa.RecordBatch, list[str]]] = []

    def release(wait: bool) -> Iterator[pa.RecordBatch]:
        if not pending or not (wait or samplers.done() or len(pending) >= MAX_PENDING_BATCHES):
            return
        rates = samplers.rates()
        for b, ids in pending:
            yield _with_sampling(b, ids, rates)
        pending.clear()

    n = 0
    try:
        for line in proc.stdout:
            s = line.strip()
            if not s or s == "No matching flows":
                continue
            n += 1
            f = [x.strip() for x in s.split("|")]
            try:
                if len(f) != len(FIELDS) + 1:
                    raise ValueError(f"{len(f)} fields, expected {len(FIELDS) + 1}")
                exp = f.pop()
                rows.append(_parse_fields(f))
            except ValueError as e:
                rejects.add(f"unreadable nfdump record ({e})", f"{p} record {n}")
                continue
            sysids.append(exp)
            if len(rows) >= BATCH_ROWS:
                pending.append((_batch(rows), sysids))
                rows, sysids = [], []
                yield from release(wait=False)
        if rows:
            pending.append((_batch(rows), sysids))
        yield from release(wait=True)
    finally:
        if proc.poll() is None:
            proc.stdout.close()
        err = proc.stderr.read().strip()
        proc.wait()
        samplers.close()
    if err:
        first = err.splitlines()[0]
        raise InputError(f"nfdump could not read all of it after {n} record(s): {first}", path=str(p))
    if samplers.error:
        raise InputError(f"nfdump could not list its exporters' sampling (nfdump -E): {samplers.error}; "
                         "its records were read without it", path=str(p))
