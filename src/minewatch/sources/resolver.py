"""DNS resolver query logs (BIND, dnsmasq, Unbound) as DNS records: who asked for which name, when.

Why: the resolvers of a campus, a company or an ISP log every query, and those logs are often the only
record a network team keeps for months. A miner must resolve its pool; `net.lookups` turns lookups of
pool names into findings, and the names also name later connections when flow logs are scanned too.

Formats (one query per line; other lines of the same log — dnsmasq's `forwarded`, BIND's start-up
messages — are counted as not queries, never rejected as damage):

* BIND 9 query logging (`category queries`), to a file (`22-Nov-2026 06:52:37.123 client @0x7f..
  10.1.2.3#53211 (pool.example): query: pool.example IN A +E(0)K (10.0.0.1)`) or through syslog
  (`Nov 22 06:52:37 ns1 named[812]: client ...`); older versions without `@0x...`;
* dnsmasq `log-queries` (`Nov 22 06:52:37 dnsmasq[311]: query[A] pool.example from 10.1.2.3`), its
  `reply pool.example is 203.0.113.9` lines give the answers of the latest query of that name;
* Unbound `log-queries: yes` (`[1763794357] unbound[1:0] info: 10.1.2.3 pool.example. A IN`).

Times: syslog and BIND write the resolver host's local wall-clock time without a zone (syslog not even
the year); they are read as `tz_offset_h` hours ahead of UTC (the `scan --tz-offset` value, default 0 =
UTC) and a syslog date takes the year of the file's last change (the year before when that would put
it in the future). Unbound writes epoch seconds.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import pyarrow as pa

from minewatch.errors import Rejects
from minewatch.model import DNS_SCHEMA

BATCH_ROWS = 65_536
_IP = r"(?P<client>[0-9a-fA-F:.]+)"
_NAME = r"(?P<name>[A-Za-z0-9_.*-]+?)\.?"
_MON = {m: i + 1 for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                                        "Nov", "Dec"))}
#: BIND: "client [@0x...] IP#PORT [(name)]: [view v: ]query: NAME CLASS TYPE ..."
BIND_RE = re.compile(r"client (?:@0x[0-9a-f]+ )?" + _IP + r"#\d+(?: \([^)]*\))?: (?:view [^:]+: )?query: "
                     + _NAME + r" (?:IN|CH|HS|ANY) (?P<qtype>[A-Z0-9]+)\b")
DNSMASQ_QUERY_RE = re.compile(r"dnsmasq\[\d+\]: (?:\d+ [0-9a-fA-F:.]+/\d+ )?query\[(?P<qtype>[A-Z0-9]+)\] " + _NAME
                              + r" from " + _IP + r"\s*$")
DNSMASQ_REPLY_RE = re.compile(r"dnsmasq\[\d+\]: (?:\d+ [0-9a-fA-F:.]+/\d+ )?reply " + _NAME
                              + r" is (?P<answer>[0-9a-fA-F:.]+)\s*$")
UNBOUND_RE = re.compile(r"^\[(?P<epoch>\d{9,11})\] unbound\[[\d:]+\] info: " + _IP + r" " + _NAME
                        + r" (?P<qtype>[A-Z0-9]+) IN\s*$")
_BIND_TIME = re.compile(r"^(?P<d>\d{2})-(?P<mon>[A-Z][a-z]{2})-(?P<y>\d{4}) (?P<t>\d{2}:\d{2}:\d{2})(?:\.(?P<ms>\d+))?")
_SYSLOG_TIME = re.compile(r"^(?P<mon>[A-Z][a-z]{2}) +(?P<d>\d{1,2}) (?P<t>\d{2}:\d{2}:\d{2})")
_ISO_TIME = re.compile(r"^(?P<iso>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?)")


def resolver_kind(line: str) -> str | None:
    """'bind' | 'dnsmasq' | 'unbound' for a query line of one of those logs, else None."""
    if BIND_RE.search(line):
        return "bind"
    if DNSMASQ_QUERY_RE.search(line):
        return "dnsmasq"
    if UNBOUND_RE.search(line):
        return "unbound"
    return None


class _Clock:
    """Wall-clock stamps at the start of a line, to UTC epoch seconds."""

    def __init__(self, year: int, tz_offset_h: float, latest: datetime) -> None:
        self.year = year
        self.offset = timedelta(hours=tz_offset_h)
        self.latest = latest

    def __call__(self, line: str) -> float | None:
        m = _BIND_TIME.match(line)
        if m and m["mon"] in _MON:
            wall = datetime.strptime(f"{m['y']}-{_MON[m['mon']]:02d}-{m['d']} {m['t']}", "%Y-%m-%d %H:%M:%S")
            wall += timedelta(milliseconds=int((m["ms"] or "0")[:3].ljust(3, "0")))
        else:
            m = _SYSLOG_TIME.match(line)
            if m and m["mon"] in _MON:
                wall = datetime.strptime(f"{self.year}-{_MON[m['mon']]:02d}-{int(m['d']):02d} {m['t']}",
                                         "%Y-%m-%d %H:%M:%S")
                if wall - self.offset > self.latest + timedelta(days=1):  # December lines read in January
                    wall = wall.replace(year=self.year - 1)
            else:
                m = _ISO_TIME.match(line)
                if not m:
                    return None
                wall = datetime.fromisoformat(m["iso"].replace(" ", "T"))
        return (wall - self.offset).replace(tzinfo=UTC).timestamp()


def _open(p: Path) -> IO[str]:
    with p.open("rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    if gz:
        return gzip.open(p, "rt", encoding="utf-8", errors="replace")
    return p.open("r", encoding="utf-8", errors="replace")


def read_resolver_log(path: str | Path, rejects: Rejects | None = None, tz_offset_h: float = 0.0,
                      counts: dict[str, int] | None = None) -> Iterator[pa.RecordBatch]:
    """DNS_SCHEMA batches of the queries in a BIND, dnsmasq or Unbound log (see the module docstring).

    `counts` (when given) receives `queries` and `other_lines`; a query line whose time cannot be read
    is rejected with its line number.
    """
    p = Path(path)
    rejects = rejects if rejects is not None else Rejects()
    counts = counts if counts is not None else {}
    changed = datetime.fromtimestamp(p.stat().st_mtime, tz=UTC).replace(tzinfo=None)
    clock = _Clock(changed.year, tz_offset_h, changed)
    rows: list[dict[str, object]] = []
    last_of_name: dict[str, dict[str, object]] = {}  # dnsmasq replies belong to the latest query of a name
    source = str(p)
    with _open(p) as fh:
        for lineno, line in enumerate(fh, start=1):
            m = BIND_RE.search(line) or DNSMASQ_QUERY_RE.search(line) or UNBOUND_RE.search(line)
            if m is None:
                r = DNSMASQ_REPLY_RE.search(line)
                q = last_of_name.get(r["name"].lower()) if r else None
                if q is not None:
                    q["answers"].append(r["answer"])  # type: ignore[union-attr]
                else:
                    counts["other_lines"] = counts.get("other_lines", 0) + 1
                continue
            ts = float(m["epoch"]) if "epoch" in m.groupdict() and m["epoch"] else clock(line)
            if ts is None:
                rejects.add("resolver log query without a readable time", f"{p}:{lineno}")
                continue
            row: dict[str, object] = {"ts": round(ts * 1e6), "client_ip": m["client"], "server_ip": None,
                                      "query": m["name"].lower(), "qtype": m["qtype"], "answers": [],
                                      "ttl_s": None, "source": source}
            rows.append(row)
            last_of_name[row["query"]] = row  # type: ignore[index]
            counts["queries"] = counts.get("queries", 0) + 1
            if len(rows) >= BATCH_ROWS:
                yield _batch(rows)
                rows = []
                last_of_name.clear()
    if rows:
        yield _batch(rows)


def _batch(rows: list[dict[str, object]]) -> pa.RecordBatch:
    arrays = []
    for f in DNS_SCHEMA:
        vals = [r.get(f.name) for r in rows]
        if f.name == "answers":
            vals = [v or None for v in vals]
        arrays.append(pa.array(vals, pa.int64()).cast(f.type) if pa.types.is_timestamp(f.type)
                      else pa.array(vals, f.type))
    return pa.RecordBatch.from_arrays(arrays, schema=DNS_SCHEMA)
