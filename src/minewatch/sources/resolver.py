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
* Unbound `log-queries: yes` (`[1763794357] unbound[1:0] info: 10.1.2.3 pool.example. A IN`);
* Windows Server DNS debug logging (`11/22/2026 6:52:37 AM 0E6C PACKET ... UDP Rcv 10.1.2.3 c5e3   Q
  [0001   D   NOERROR] A (3)xmr(6)f2pool(3)com(0)`), dates as M/D/YYYY with AM/PM or YYYY/M/D.

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

from minewatch.errors import InputError, Rejects
from minewatch.model import DNS_SCHEMA
from minewatch.sources.zeek import TIME_MAX_US, TIME_MIN_US

BATCH_ROWS = 65_536
_IP = r"(?P<client>[0-9a-fA-F:.]+)"
_NAME = r"(?P<name>[A-Za-z0-9_.*-]+?)\.?"
_MON = {m: i + 1 for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                                        "Nov", "Dec"))}
#: what starts a resolver's log line: BIND's own time stamp, a syslog one (RFC 3164, or RFC 3339 with its
#: zone) followed by the host name, or Unbound's epoch in brackets. Anchored, so that the same words in
#: the middle of another log (an HTTP User-Agent in an EVE record) never make that log a resolver's.
_STAMP = (r"^(?:\d{2}-[A-Z][a-z]{2}-\d{4} \d{2}:\d{2}:\d{2}(?:\.\d+)? "
          r"|[A-Z][a-z]{2} +\d{1,2} \d{2}:\d{2}:\d{2} (?:\S+ )?"
          r"|\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})? (?:\S+ )?"
          r"|\[\d{9,11}\] )")
#: BIND: "[named[pid]: ][queries: ][info: ]client [@0x...] IP#PORT [(name)]: [view v: ]query: NAME CLASS TYPE"
BIND_RE = re.compile(_STAMP + r"(?:named\[\d+\]: )?(?:queries: )?(?:info: )?client (?:@0x[0-9a-f]+ )?" + _IP
                     + r"#\d+(?: \([^)]*\))?: (?:view [^:]+: )?query: " + _NAME
                     + r" (?:IN|CH|HS|ANY) (?P<qtype>[A-Z0-9]+)\b")
DNSMASQ_QUERY_RE = re.compile(_STAMP + r"dnsmasq\[\d+\]: (?:\d+ [0-9a-fA-F:.]+/\d+ )?query\[(?P<qtype>[A-Z0-9]+)\] "
                              + _NAME + r" from " + _IP + r"\s*$")
#: "reply NAME is ADDR" and "cached NAME is ADDR" give answers; "is <CNAME>" says an alias follows
DNSMASQ_REPLY_RE = re.compile(_STAMP + r"dnsmasq\[\d+\]: (?:\d+ [0-9a-fA-F:.]+/\d+ )?(?:reply|cached) " + _NAME
                              + r" is (?P<answer>\S+)\s*$")
#: Unbound: its own file ("[epoch] unbound[pid:tid] info: IP NAME. TYPE IN"), through syslog or with
#: log-time-ascii ("... unbound[pid:tid] info: ..." / "unbound: [pid:tid] info: ..."), log-tag-queryreply
#: ("query: IP NAME. TYPE IN")
UNBOUND_RE = re.compile(_STAMP + r"unbound(?:\[[\d:]+\])?:? ?(?:\[[\d:]+\] )?(?:info|query): (?:query: )?" + _IP
                        + r" " + _NAME + r" (?P<qtype>[A-Z0-9]+) IN\s*$")
_EPOCH = re.compile(r"^\[(?P<epoch>\d{9,11})\]")
_BIND_TIME = re.compile(r"^(?P<d>\d{2})-(?P<mon>[A-Z][a-z]{2})-(?P<y>\d{4}) (?P<t>\d{2}:\d{2}:\d{2})(?:\.(?P<ms>\d+))?")
_SYSLOG_TIME = re.compile(r"^(?P<mon>[A-Z][a-z]{2}) +(?P<d>\d{1,2}) (?P<t>\d{2}:\d{2}:\d{2})")
_ISO_TIME = re.compile(r"^(?P<iso>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?)(?P<zone>Z|[+-]\d{2}:?\d{2})?")
#: words one of which every query line holds: lines without any are passed over before the regexes run
#: Windows Server DNS debug log ("Log packets for debugging"): a query received from a client is a
#: "Rcv" packet without the response flag R; the name is written as (3)xmr(6)f2pool(3)com(0). Dates are
#: written in the server's short-date format: M/D/YYYY with AM/PM (en-US) or YYYY/M/D (zh-CN, ISO-like).
WINDOWS_RE = re.compile(r"^(?P<date>\d{1,4}/\d{1,2}/\d{1,4}) (?:(?P<ampm1>AM|PM|上午|下午) ?)?(?P<time>\d{1,2}:\d{2}:\d{2})"
                        r"(?: (?P<ampm>AM|PM))? [0-9A-F]+ PACKET +[0-9A-F]+ (?:UDP|TCP) Rcv " + _IP
                        + r" +[0-9a-f]+ {3}Q \[[^\]]*\] +(?P<qtype>[A-Z0-9]+) +(?P<wname>(?:\(\d+\)[^(\s]*)+)\s*$")
_WLABEL = re.compile(r"\((\d+)\)")
_QUICK_RE = re.compile(r"query|info: |reply |cached | Rcv ")


def resolver_kind(line: str) -> str | None:
    """'bind' | 'dnsmasq' | 'unbound' for a query line of one of those logs, else None."""
    if BIND_RE.match(line):
        return "bind"
    if DNSMASQ_QUERY_RE.match(line):
        return "dnsmasq"
    if UNBOUND_RE.match(line):
        return "unbound"
    if WINDOWS_RE.match(line):
        return "windows"
    return None


def _windows_name(text: str) -> str:
    """(3)xmr(6)f2pool(3)com(0) -> xmr.f2pool.com"""
    return ".".join(p for p in (x.strip() for x in _WLABEL.split(text)[2::2]) if p)


def _windows_ts(m: re.Match[str], offset: timedelta) -> float | None:
    """The time of a Windows DNS debug line: M/D/YYYY h:mm:ss AM/PM or YYYY/M/D H:mm:ss, local time."""
    a, b, c = (int(x) for x in m["date"].split("/"))
    year, month, day = (a, b, c) if a > 31 else (c, a, b)
    if year < 1000:  # a two-digit year (11/22/26): the century is a guess, the line's time unreadable
        return None
    hh, mm, ss = (int(x) for x in m["time"].split(":"))
    ampm = m["ampm"] or m["ampm1"]
    if ampm in ("PM", "下午") and hh < 12:
        hh += 12
    elif ampm in ("AM", "上午") and hh == 12:
        hh = 0
    try:
        wall = datetime(year, month, day, hh, mm, ss)
    except ValueError:
        return None
    return (wall - offset).replace(tzinfo=UTC).timestamp()


class _Clock:
    """Stamps at the start of a line, to UTC epoch seconds (None when there is none or it is no date)."""

    def __init__(self, year: int, tz_offset_h: float, latest: datetime) -> None:
        self.year = year
        self.offset = timedelta(hours=tz_offset_h)
        self.latest = latest
        #: seconds of a stamp's whole-second text: a busy resolver writes thousands of lines a second, and
        #: strptime was most of the reading time
        self._seen: dict[str, float | None] = {}

    def __call__(self, line: str) -> float | None:
        # BIND's stamp with its milliseconds, second already seen: the cache answers without a regex
        # (the key is the one the regex path below stores: the stamp up to the whole second)
        if line[20:21] == "." and line[2:3] == "-":
            base = self._seen.get(line[:20], -1.0)
            ms = line[21:24]
            if base is not None and base != -1.0 and ms.isdigit() and len(ms) == 3:
                return base + int(ms) / 1000
        m = _BIND_TIME.match(line)
        if m:  # the whole second from the cache, the milliseconds from the line
            key = line[: m.start("ms") - 1] if m["ms"] else m.group(0)
            base = self._seen.get(key, -1.0)
            if base == -1.0:
                if len(self._seen) > 100_000:
                    self._seen.clear()
                base = self._seen[key] = self._safe(key)
            return None if base is None else base + int((m["ms"] or "0")[:3].ljust(3, "0")) / 1000
        m = _SYSLOG_TIME.match(line)
        if m:
            key = m.group(0)
            base = self._seen.get(key, -1.0)
            if base == -1.0:
                if len(self._seen) > 100_000:
                    self._seen.clear()
                base = self._seen[key] = self._safe(key)
            return base
        return self._safe(line)

    def _safe(self, line: str) -> float | None:
        try:
            return self._read(line)
        except ValueError:  # "31-Nov-2026", hour 25, 29 Feb in a common year: the line's time is unreadable
            return None

    def _read(self, line: str) -> float | None:
        m = _EPOCH.match(line)
        if m:
            return float(m["epoch"])
        m = _BIND_TIME.match(line)
        if m and m["mon"] in _MON:
            wall = datetime.strptime(f"{m['y']}-{_MON[m['mon']]:02d}-{m['d']} {m['t']}", "%Y-%m-%d %H:%M:%S")
            wall += timedelta(milliseconds=int((m["ms"] or "0")[:3].ljust(3, "0")))
            return (wall - self.offset).replace(tzinfo=UTC).timestamp()
        m = _SYSLOG_TIME.match(line)
        if m and m["mon"] in _MON:
            wall = datetime.strptime(f"{self.year}-{_MON[m['mon']]:02d}-{int(m['d']):02d} {m['t']}",
                                     "%Y-%m-%d %H:%M:%S")
            if wall - self.offset > self.latest + timedelta(days=1):  # December lines read in January
                wall = wall.replace(year=self.year - 1)
            return (wall - self.offset).replace(tzinfo=UTC).timestamp()
        m = _ISO_TIME.match(line)
        if not m:
            return None
        wall = datetime.fromisoformat(m["iso"].replace(" ", "T"))
        if m["zone"]:  # a stamp that states its zone is an instant: --tz-offset does not apply
            z = m["zone"]
            if z == "Z":
                return wall.replace(tzinfo=UTC).timestamp()
            sign = -1 if z[0] == "-" else 1
            hh, mm = int(z[1:3]), int(z[-2:])
            return (wall - sign * timedelta(hours=hh, minutes=mm)).replace(tzinfo=UTC).timestamp()
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
    is rejected with its line number. A compressed log cut short raises InputError naming the file
    after the queries before the cut were delivered.

    Why the loop is written as it is (a resolver's day is tens of millions of lines): one regex search
    passes over lines that hold none of the query words, the pattern that matched the last query line
    is tried first (a log has one format), a match's groups are read in one call, and rows are kept
    as columns, not dicts (~80 k lines/s before, see docs/benchmarks.md for now).
    """
    p = Path(path)
    rejects = rejects if rejects is not None else Rejects()
    counts = counts if counts is not None else {}
    changed = datetime.fromtimestamp(p.stat().st_mtime, tz=UTC).replace(tzinfo=None)
    clock = _Clock(changed.year, tz_offset_h, changed)
    cols = _Columns()
    # dnsmasq replies belong to the latest query of a name, and the answers of its CNAME target to that
    # query: both are held as the answer list of that row
    last_of_name: dict[str, list[str]] = {}
    last_query: list[str] | None = None
    source = str(p)
    lineno = 0
    other = queries = 0
    quick = _QUICK_RE.search
    reply = DNSMASQ_REPLY_RE.match
    patterns = (BIND_RE, DNSMASQ_QUERY_RE, UNBOUND_RE)
    first = BIND_RE
    try:
        with _open(p) as fh:
            for lineno, line in enumerate(fh, start=1):
                if quick(line) is None:
                    other += 1
                    continue
                m = first.match(line)
                if m is None:
                    for rx in patterns:
                        if rx is not first:
                            m = rx.match(line)
                            if m is not None:
                                first = rx
                                break
                w = WINDOWS_RE.match(line) if m is None and " Rcv " in line else None
                if m is None and w is None:
                    r = reply(line)
                    if r is not None:
                        q = last_of_name.get(r["name"].lower())
                        if q is None:  # (an empty answer list is a query of that name: not "or")
                            q = last_query
                        if q is not None and r["answer"] != "<CNAME>":
                            q.append(r["answer"])
                    else:
                        other += 1
                    continue
                ts = clock(line) if w is None else _windows_ts(w, clock.offset)
                if ts is None:
                    rejects.add("resolver log query without a readable time", f"{p}:{lineno}")
                    continue
                # the range every reader keeps (zeek.TIME_MIN_US..TIME_MAX_US): a damaged year (1600,
                # 9999) is one broken line, not a time later steps cannot represent or order
                if not TIME_MIN_US <= ts * 1e6 <= TIME_MAX_US:
                    rejects.add("resolver log query time out of range (before 1970 or after 9999)",
                                f"{p}:{lineno}")
                    continue
                if m is not None:
                    client, name, qtype = m.group("client", "name", "qtype")
                else:
                    assert w is not None
                    client, wname, qtype = w.group("client", "wname", "qtype")
                    name = _windows_name(wname)
                name = name.lower()
                answers: list[str] = []
                cols.ts.append(round(ts * 1e6))
                cols.client.append(client)
                cols.query.append(name)
                cols.qtype.append(qtype)
                cols.answers.append(answers)
                last_of_name[name] = answers
                last_query = answers
                queries += 1
                if len(cols.ts) >= BATCH_ROWS:
                    counts["queries"] = counts.get("queries", 0) + queries
                    counts["other_lines"] = counts.get("other_lines", 0) + other
                    queries = other = 0
                    yield cols.batch(source)
                    cols = _Columns()
                    last_of_name.clear()
                    last_query = None
    except (EOFError, OSError, gzip.BadGzipFile) as e:
        counts["queries"] = counts.get("queries", 0) + queries
        counts["other_lines"] = counts.get("other_lines", 0) + other
        if cols.ts:
            yield cols.batch(source)
        raise InputError(f"resolver log cut short after line {lineno} ({e})", path=str(p)) from e
    counts["queries"] = counts.get("queries", 0) + queries
    counts["other_lines"] = counts.get("other_lines", 0) + other
    if cols.ts:
        yield cols.batch(source)


class _Columns:
    """The rows of one batch as columns."""

    __slots__ = ("answers", "client", "qtype", "query", "ts")

    def __init__(self) -> None:
        self.ts: list[int] = []
        self.client: list[str] = []
        self.query: list[str] = []
        self.qtype: list[str] = []
        self.answers: list[list[str]] = []

    def batch(self, source: str) -> pa.RecordBatch:
        n = len(self.ts)
        arrays = {
            "ts": pa.array(self.ts, pa.int64()).cast(DNS_SCHEMA.field("ts").type),
            "client_ip": pa.array(self.client, pa.string()),
            "server_ip": pa.nulls(n, pa.string()),
            "query": pa.array(self.query, pa.string()),
            "qtype": pa.array(self.qtype, pa.string()),
            "answers": pa.array([a or None for a in self.answers], DNS_SCHEMA.field("answers").type),
            "ttl_s": pa.nulls(n, pa.float64()),
            "source": pa.array([source] * n, pa.string()),
        }
        return pa.RecordBatch.from_arrays([arrays[f.name].cast(f.type) for f in DNS_SCHEMA], schema=DNS_SCHEMA)
