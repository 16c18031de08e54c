"""Zeek logs (conn, dns, ssl, x509; TSV or JSON, plain or gzip) as streaming Arrow batches.

Why one line-oriented reader for both wire formats: rotated and concatenated logs mix header
blocks, and shippers rewrite keys (`id.orig_h` -> `id_orig_h`) or timestamps (epoch, millis,
ISO-8601); handling all of it per line keeps memory flat and lets a bad line cost one line.

Nulls stay null: TSV `-` (unset) and keys missing from JSON become null; `(empty)` becomes an
empty string or list. A number is never invented.

Also here: the text-file helpers EVE shares (open with gzip sniffing, progress by bytes, timestamp
parsing) and `sniff_format`, which the scan command uses to pick a reader.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

from minewatch.errors import InputError, Rejects
from minewatch.model import DNS_SCHEMA, FLOW_SCHEMA, TS

Progress = Callable[[int, int], None]

#: A TLS handshake as Zeek ssl.log and Suricata EVE tls describe it; cert facts from x509 when joined.
TLS_SCHEMA = pa.schema(
    [
        ("ts", TS),
        ("client_ip", pa.string()),
        ("client_port", pa.int32()),
        ("server_ip", pa.string()),
        ("server_port", pa.int32()),
        ("server_name", pa.string()),
        ("ja3", pa.string()),
        ("ja3s", pa.string()),
        ("version", pa.string()),
        ("cipher", pa.string()),
        ("established", pa.bool_()),
        ("cert_subject", pa.string()),
        ("cert_issuer", pa.string()),
        ("flow_key", pa.string()),
        ("source", pa.string()),
        # the server certificate's key in x509.log (fingerprint or file id): Zeek >= 5 writes only the
        # chain's keys in ssl.log, so subject and issuer are joined from x509.log, which may come later
        ("cert_key", pa.string()),
    ]
)

#: One certificate from Zeek x509.log, keyed by file id (older Zeek) or fingerprint (Zeek >= 6).
X509_SCHEMA = pa.schema(
    [
        ("ts", TS),
        ("cert_key", pa.string()),
        ("subject", pa.string()),
        ("issuer", pa.string()),
        ("not_valid_before", TS),
        ("not_valid_after", TS),
        ("san_dns", pa.list_(pa.string())),
        ("source", pa.string()),
    ]
)

KNOWN_TYPES = ("conn", "dns", "ssl", "x509")
SCHEMAS = {"conn": FLOW_SCHEMA, "dns": DNS_SCHEMA, "ssl": TLS_SCHEMA, "x509": X509_SCHEMA}

_ROTATED = re.compile(r"^([A-Za-z0-9_]+)(?:\.[0-9:_\-T]+)?\.log(?:\.[0-9:_\-T]+)?(?:\.gz)?$")


# ---------------------------------------------------------------------------------------------------
# Shared text-file helpers


class ByteCountingReader(io.RawIOBase):
    """Wraps the raw file so progress can be reported in bytes of the file on disk, gzip or not."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = self.raw.readinto(b)  # type: ignore[attr-defined]
        self.pos += n or 0
        return n or 0


def open_text_lines(path: Path) -> tuple[Iterator[bytes], ByteCountingReader, int]:
    """Lines (bytes, newline stripped) of a plain or gzip file, the byte counter, and the file size."""
    size = path.stat().st_size
    raw = open(path, "rb")  # noqa: SIM115 - closed when the iterator ends
    counter = ByteCountingReader(raw)
    buffered = io.BufferedReader(counter, 1 << 20)
    head = buffered.peek(2)[:2]
    stream: IO[bytes] = gzip.GzipFile(fileobj=buffered) if head == b"\x1f\x8b" else buffered

    def lines() -> Iterator[bytes]:
        try:
            first = next(stream, b"")
            # a byte-order mark (a log saved by a Windows editor) hid the first header line, and with it
            # the log type: every line of the file was rejected as another log's
            yield first.removeprefix(b"\xef\xbb\xbf").rstrip(b"\r\n")
            for line in stream:
                yield line.rstrip(b"\r\n")
        except (OSError, EOFError) as exc:
            raise InputError(f"cannot read further: {exc}", path=str(path), offset=counter.pos) from exc
        finally:
            raw.close()

    return lines(), counter, size


def parse_time_us(v: Any) -> int | None:
    """Epoch seconds (float/int/str), epoch milliseconds (numbers above ~1e11) or ISO-8601 -> epoch µs."""
    if v is None or v == "" or v == "-":
        return None
    if isinstance(v, bool):
        raise ValueError("boolean is not a time")
    if isinstance(v, int | float):
        x = float(v)
    else:
        s = str(v)
        try:
            x = float(s)
        except ValueError:
            dt = datetime.fromisoformat(s.replace("Z", "+00:00") if s.endswith("Z") else s)
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=UTC)
            # integer arithmetic: the float product `timestamp() * 1e6` is off by 1 µs for some times
            return _in_time_range((dt - _EPOCH) // timedelta(microseconds=1))
    if not math.isfinite(x):
        raise ValueError(f"not a time: {v!r}")
    if abs(x) > 1e11:  # JSON::TS_MILLIS (no epoch-seconds time is that large before year 5138)
        return _in_time_range(round(x * 1000))
    return _in_time_range(round(x * 1_000_000))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Times a row may carry: from the epoch to the end of year 9999, the range every later step (Python
#: datetimes, Parquet readers, the store) can represent. A log time outside it is a broken line.
TIME_MIN_US = 0
TIME_MAX_US = 253_402_300_799_999_999


def _in_time_range(us: int) -> int:
    if not TIME_MIN_US <= us <= TIME_MAX_US:
        raise ValueError("time out of range (before 1970 or after 9999)")
    return us


def log_type_from_name(path: Path) -> str | None:
    """`conn.log`, `conn.00:10:00-00:20:00.log.gz`, `dns.2024-01-01-00-00-00.log` -> conn / dns."""
    m = _ROTATED.match(path.name)
    return m.group(1) if m else None


# ---------------------------------------------------------------------------------------------------
# Field access tolerant of dotted, underscored and nested keys


def _get(d: dict[str, Any], key: str) -> Any:
    if key in d:
        return d[key]
    if "." in key:
        alt = key.replace(".", "_")
        if alt in d:
            return d[alt]
        cur: Any = d
        for part in key.split("."):
            if not isinstance(cur, dict) or part not in cur:
                return None
            cur = cur[part]
        return cur
    return None


#: Largest count a row column holds (int64): a bigger value is a broken line, not a number to wrap.
COUNT_MAX = 2**63 - 1


def _int(v: Any, lo: int = -COUNT_MAX - 1, hi: int = COUNT_MAX) -> int | None:
    """An integer in [lo, hi], or ValueError (the caller rejects the line, naming it)."""
    if v is None:
        return None
    if isinstance(v, bool):
        raise ValueError("boolean where a count was expected")
    if isinstance(v, float):
        if not math.isfinite(v) or v != int(v):
            raise ValueError(f"not an integer: {v}")
        n = int(v)
    elif isinstance(v, int):
        n = v
    else:
        n = int(str(v))
    if not lo <= n <= hi:
        raise ValueError(f"number out of range: {n} (allowed {lo}..{hi})")
    return n


def _count(v: Any) -> int | None:
    """Packets and bytes: never negative."""
    return _int(v, 0)


def _port(v: Any) -> int | None:
    return _int(v, 0, 65_535)


def _float(v: Any) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool):
        raise ValueError("boolean where a number was expected")
    return float(v)


def _str(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, list):
        return ",".join(str(x) for x in v)
    return str(v)


def _bool(v: Any) -> bool | None:
    if v is None or isinstance(v, bool):
        return v
    s = str(v)
    if s in ("T", "true", "True", "1"):
        return True
    if s in ("F", "false", "False", "0"):
        return False
    raise ValueError(f"not a boolean: {s!r}")


def _list(v: Any) -> list[str] | None:
    if v is None:
        return None
    if isinstance(v, list):
        return [str(x) for x in v]
    return [str(v)]


# ---------------------------------------------------------------------------------------------------
# Normalisers: one Zeek record (dict of field -> Python value) -> one schema row


def conn_row(d: dict[str, Any], source: str | None) -> dict[str, Any]:
    first = parse_time_us(_get(d, "ts"))
    dur = _float(_get(d, "duration"))
    if dur is not None and not (math.isfinite(dur) and dur >= 0):
        raise ValueError(f"duration is not a non-negative number: {dur}")
    last = None if first is None or dur is None else _in_time_range(first + round(dur * 1_000_000))
    return {
        "src_ip": _str(_get(d, "id.orig_h")),
        "src_port": _port(_get(d, "id.orig_p")),
        "dst_ip": _str(_get(d, "id.resp_h")),
        "dst_port": _port(_get(d, "id.resp_p")),
        "transport": _str(_get(d, "proto")),
        "first_seen": first,
        "last_seen": last,
        "duration_ms": None if dur is None else dur * 1000.0,
        "packets_fwd": _count(_get(d, "orig_pkts")),
        "packets_rev": _count(_get(d, "resp_pkts")),
        "bytes_fwd": _count(_get(d, "orig_ip_bytes")),
        "bytes_rev": _count(_get(d, "resp_ip_bytes")),
        "payload_bytes_fwd": _count(_get(d, "orig_bytes")),
        "payload_bytes_rev": _count(_get(d, "resp_bytes")),
        "tcp_flags_fwd": None,
        "tcp_flags_rev": None,
        "sni": None,
        "dns_name": None,
        "application": _str(_get(d, "service")),
        "community_id": _str(_get(d, "community_id")),
        "source": source,
        "slice_start": None,  # a conn record covers the whole connection, not a time slice
        "slice_end": None,
    }


def dns_row(d: dict[str, Any], source: str | None) -> dict[str, Any]:
    ttls = _get(d, "TTLs")
    ttl = None
    if isinstance(ttls, list) and ttls:
        ttl = min(float(x) for x in ttls)
    elif ttls is not None and not isinstance(ttls, list):
        ttl = float(ttls)
    return {
        "ts": parse_time_us(_get(d, "ts")),
        "client_ip": _str(_get(d, "id.orig_h")),
        "server_ip": _str(_get(d, "id.resp_h")),
        "query": _str(_get(d, "query")),
        "qtype": _str(_get(d, "qtype_name")) or _str(_get(d, "qtype")),
        "answers": _list(_get(d, "answers")),
        "ttl_s": ttl,
        "source": source,
    }


def ssl_row(d: dict[str, Any], source: str | None, x509: dict[str, tuple[str | None, str | None]] | None) -> dict[str, Any]:
    subject, issuer = _str(_get(d, "subject")), _str(_get(d, "issuer"))
    chain = _get(d, "cert_chain_fps") or _get(d, "cert_chain_fuids")
    cert_key: str | None = None  # the server's own certificate: the first of the chain
    if isinstance(chain, list) and chain:
        cert_key = str(chain[0])
    elif isinstance(chain, str) and chain:
        cert_key = chain.split(",")[0]
    if x509 and subject is None and cert_key is not None:
        subject, issuer = x509.get(cert_key, (None, None))
    return {
        "ts": parse_time_us(_get(d, "ts")),
        "client_ip": _str(_get(d, "id.orig_h")),
        "client_port": _port(_get(d, "id.orig_p")),
        "server_ip": _str(_get(d, "id.resp_h")),
        "server_port": _port(_get(d, "id.resp_p")),
        "server_name": _str(_get(d, "server_name")),
        "ja3": _str(_get(d, "ja3")),
        "ja3s": _str(_get(d, "ja3s")),
        "version": _str(_get(d, "version")),
        "cipher": _str(_get(d, "cipher")),
        "established": _bool(_get(d, "established")),
        "cert_subject": subject,
        "cert_issuer": issuer,
        "flow_key": _str(_get(d, "uid")),
        "source": source,
        "cert_key": cert_key,
    }


def x509_row(d: dict[str, Any], source: str | None) -> dict[str, Any]:
    return {
        "ts": parse_time_us(_get(d, "ts")),
        "cert_key": _str(_get(d, "fingerprint")) or _str(_get(d, "id")),
        "subject": _str(_get(d, "certificate.subject")),
        "issuer": _str(_get(d, "certificate.issuer")),
        "not_valid_before": parse_time_us(_get(d, "certificate.not_valid_before")),
        "not_valid_after": parse_time_us(_get(d, "certificate.not_valid_after")),
        "san_dns": _list(_get(d, "san.dns")),
        "source": source,
    }


# ---------------------------------------------------------------------------------------------------
# TSV values


_CONTAINER = re.compile(r"^(set|vector|table)\[")


def _tsv_value(raw: str, ztype: str, unset: str, empty: str, set_sep: str) -> Any:
    """One TSV cell as a Python value; `-` is None and `(empty)` an empty container or string."""
    if raw == unset:
        return None
    if _CONTAINER.match(ztype):
        if raw == empty:
            return []
        inner = ztype[ztype.index("[") + 1 : -1]
        return [_tsv_value(x, inner, unset, "\0never", set_sep) for x in raw.split(set_sep)]
    if raw == empty:
        return ""
    if ztype in ("count", "int", "port"):
        return int(raw)
    if ztype in ("double", "interval"):
        return float(raw)
    if ztype == "time":
        return float(raw)
    if ztype == "bool":
        return _bool(raw)
    return _unescape(raw)


_HEX_ESCAPE = re.compile(rb"\\x([0-9a-fA-F]{2})")


def _unescape(s: str) -> str:
    """Zeek writes each non-printable byte as `\\xNN`; the bytes together are UTF-8 (a name like
    中.pool.cn arrives as six escapes), so they are decoded as bytes, not one character each."""
    if "\\x" not in s:
        return s
    raw = _HEX_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), s.encode("utf-8", "surrogateescape"))
    return raw.decode("utf-8", "backslashreplace")


# ---------------------------------------------------------------------------------------------------
# Reader


class ZeekReader:
    """Iterate Arrow batches of one Zeek log; `log_type` is known after construction.

    `start_line` resumes an incremental import: header lines before it are still read (a TSV block
    needs its `#fields`), data lines are skipped unparsed. `lines_read` tells the ledger where to
    resume next time.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        rejects: Rejects | None = None,
        progress: Progress | None = None,
        batch_rows: int = 65_536,
        x509: dict[str, tuple[str | None, str | None]] | None = None,
        start_line: int = 0,
        log_type: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.rejects = rejects if rejects is not None else Rejects()
        self.progress = progress
        self.batch_rows = batch_rows
        self.x509 = x509
        self.start_line = start_line
        self.lines_read = 0
        self.rows = 0
        self.format = None if not self.path.exists() else sniff_format(self.path)
        if self.format not in ("zeek-tsv", "zeek-json"):
            raise InputError(f"not a Zeek log (looks like {self.format})", path=str(self.path))
        self.log_type = log_type or self._detect_type()
        self.schema = SCHEMAS.get(self.log_type)

    def _detect_type(self) -> str:
        lines, _, _ = open_text_lines(self.path)
        try:
            for i, line in enumerate(lines):
                if i > 200:
                    break
                if line.startswith(b"#path"):
                    value = line[len(b"#path"):].decode("utf-8", "replace").strip()
                    if value:
                        return value
                    continue  # a bare `#path`: the name or the fields decide
                if line.startswith(b"{"):
                    try:
                        d = json.loads(line)
                    except ValueError:
                        continue
                    if "_path" in d:
                        return str(d["_path"])
                    return _type_from_keys(d) or log_type_from_name(self.path) or "unknown"
                if not line.startswith(b"#") and line:
                    break
        finally:
            lines.close()  # type: ignore[attr-defined]
        return log_type_from_name(self.path) or "unknown"

    def _row(self, d: dict[str, Any]) -> dict[str, Any]:
        src = str(self.path)
        t = self.log_type
        if t == "conn":
            return conn_row(d, src)
        if t == "dns":
            return dns_row(d, src)
        if t == "ssl":
            return ssl_row(d, src, self.x509)
        if t == "x509":
            return x509_row(d, src)
        return {k: (json.dumps(v) if isinstance(v, list | dict) else _str(v)) for k, v in d.items()}

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        lines, counter, size = open_text_lines(self.path)
        where = str(self.path)
        sep, set_sep, empty, unset = "\t", ",", "(empty)", "-"
        fields: list[str] | None = None
        types: list[str] | None = None
        rows: list[dict[str, Any]] = []
        linenos: list[int] = []
        other_path: str | None = None  # a later header block of another log type (`cat conn.log dns.log`)
        #: a Zeek `#` header was seen: the columns come from `#fields`, so a line before it is data that
        #: cannot be read (until 2026-11 it was taken as the column names and lost without a count)
        zeek_header = False
        headerless_at: int | None = None  # the line taken as column names of a headerless TSV
        try:
            for lineno, line in enumerate(lines, start=1):
                self.lines_read = lineno
                if not line:
                    continue
                if line.startswith(b"#"):
                    text = line.decode("utf-8", "replace")
                    if text.startswith("#separator"):
                        val = text[len("#separator"):].strip()
                        if not val:
                            self.rejects.add("Zeek header #separator without a value (tab kept)", f"{where}:{lineno}")
                            continue
                        try:
                            sep = val.encode().decode("unicode_escape")
                        except UnicodeDecodeError:  # "\x" cut short: the line is damaged, not the file
                            self.rejects.add("Zeek header #separator not readable (tab kept)", f"{where}:{lineno}")
                            continue
                        zeek_header = True
                        continue
                    key, _, val = text[1:].partition(sep)
                    zeek_header = zeek_header or key in ("fields", "types", "path", "open")
                    if key == "set_separator":
                        set_sep = val
                    elif key == "empty_field":
                        empty = val
                    elif key == "unset_field":
                        unset = val
                    elif key == "fields":
                        if headerless_at is not None:  # that line was data, not the column names
                            self.rejects.add(f"malformed {self.log_type} line: data line before the #fields header",
                                             f"{where}:{headerless_at}")
                            headerless_at = None
                        fields, types = val.split(sep), None
                    elif key == "types":
                        types = val.split(sep)
                    elif key == "path":
                        path_type = val.strip() or None
                        other_path = path_type if path_type not in (None, self.log_type) else None
                    continue
                if lineno <= self.start_line:
                    continue
                if other_path is not None:
                    self.rejects.add(f"{other_path} lines inside a {self.log_type} log (give each log its own file)",
                                     f"{where}:{lineno}")
                    continue
                try:
                    if self.format == "zeek-json":
                        d = json.loads(line)
                        if not isinstance(d, dict):
                            raise ValueError("JSON line is not an object")
                    else:
                        text = line.decode("utf-8", "replace")
                        if fields is None and zeek_header:
                            raise ValueError("data line before the #fields header")
                        if fields is None:  # headerless TSV (`tsv=T`): first line names the columns
                            fields, headerless_at = text.split(sep), lineno
                            continue
                        cells = text.split(sep)
                        if len(cells) != len(fields):
                            raise ValueError(f"{len(cells)} fields where the header has {len(fields)}")
                        if types is not None:
                            d = {f: _tsv_value(c, ty, unset, empty, set_sep)
                                 for f, c, ty in zip(fields, cells, types, strict=True)}
                        else:
                            d = {f: (None if c == unset else "" if c == empty else c)
                                 for f, c in zip(fields, cells, strict=True)}
                    rows.append(self._row(d))
                    linenos.append(lineno)
                except json.JSONDecodeError as exc:
                    self.rejects.add(f"malformed {self.log_type} line: not valid JSON", f"{where}:{lineno}: {exc}")
                    continue
                except (ValueError, TypeError, OverflowError) as exc:
                    self.rejects.add(f"malformed {self.log_type} line: {exc}"[:160], f"{where}:{lineno}")
                    continue
                if len(rows) >= self.batch_rows:
                    yield from self._emit(rows, linenos)
                    rows, linenos = [], []
                    if self.progress:
                        self.progress(counter.pos, size)
        except InputError:
            # a damaged file (a gzip cut short): what was read before the damage is still good
            if rows:
                yield from self._emit(rows, linenos)
            raise
        if rows:
            yield from self._emit(rows, linenos)
        if self.progress:
            self.progress(counter.pos, size)

    def _emit(self, rows: list[dict[str, Any]], linenos: list[int]) -> Iterator[pa.RecordBatch]:
        batch = rows_to_batch(rows, linenos, self.schema, self.rejects, str(self.path), f"malformed {self.log_type} line")
        if batch is not None:
            self.rows += batch.num_rows
            yield batch


def rows_to_batch(
    rows: list[dict[str, Any]], linenos: list[int], schema: pa.Schema | None, rejects: Rejects, where: str, reason: str
) -> pa.RecordBatch | None:
    """Rows as one Arrow batch; a row whose value does not fit its column is rejected with its line.

    Why: the readers check ranges line by line, but any value they let through that Arrow still
    refuses must cost that one line, not the 65,536 good lines converted with it (`convert_or_split`).
    """
    from minewatch.sources.convert import convert_or_split, halves

    def bad(part: list[tuple[dict[str, Any], int]], exc: Exception) -> None:
        for _row, lineno in part:
            rejects.add(f"{reason}: value does not fit its column", f"{where}:{lineno}: {str(exc)[:120]}")

    batches: list[pa.RecordBatch] = []
    convert_or_split(list(zip(rows, linenos, strict=True)),
                     lambda part: pa.RecordBatch.from_pylist([r for r, _ in part], schema=schema), halves, bad, batches)
    if not batches:
        return None
    return batches[0] if len(batches) == 1 else pa.Table.from_batches(batches).combine_chunks().to_batches()[0]


def _type_from_keys(d: dict[str, Any]) -> str | None:
    keys = set(d)
    if keys & {"conn_state", "orig_ip_bytes", "history"}:
        return "conn"
    if keys & {"qtype_name", "rcode_name", "TTLs"} or ("query" in keys and "trans_id" in keys):
        return "dns"
    if keys & {"certificate.subject", "certificate_subject", "certificate"}:
        return "x509"
    if keys & {"cipher", "server_name", "ssl_history", "ja3"}:
        return "ssl"
    return None


def read_zeek(path: str | Path, **kwargs: Any) -> ZeekReader:
    """A Zeek log as an iterator of Arrow batches (`.log_type`, `.rejects`, `.rows` on the reader).

    conn -> FLOW_SCHEMA (fwd = originator), dns -> DNS_SCHEMA, ssl -> TLS_SCHEMA, x509 ->
    X509_SCHEMA; other log types come through with their own columns as strings.
    """
    return ZeekReader(path, **kwargs)


def x509_index(path: str | Path, rejects: Rejects | None = None) -> dict[str, tuple[str | None, str | None]]:
    """cert key (fuid or fingerprint) -> (subject, issuer), to join into ssl rows via `x509=`."""
    return x509_from_batches(read_zeek(path, rejects=rejects, log_type="x509"))


def x509_from_batches(batches: Iterable[pa.RecordBatch]) -> dict[str, tuple[str | None, str | None]]:
    """cert key -> (subject, issuer) from X509_SCHEMA batches (later certificates win)."""
    out: dict[str, tuple[str | None, str | None]] = {}
    for b in batches:
        for k, s, i in zip(b.column("cert_key").to_pylist(), b.column("subject").to_pylist(),
                           b.column("issuer").to_pylist(), strict=True):
            if k:
                out[k] = (s, i)
    return out


# ---------------------------------------------------------------------------------------------------
# Format sniffing


_PCAP_MAGIC = {b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d"}

#: what reading the first bytes of a file can raise: the file unreadable (OSError, gzip.BadGzipFile among
#: them), a gzip stream cut short (EOFError) or damaged (zlib.error: "invalid block type", a bad CRC).
#: Every sniff and hint that reads a gzip head catches all of them: one corrupt .gz in a scanned folder
#: ended `scan DIR` in a traceback (review); the reader names the file and its byte instead.
GZIP_HEAD_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, zlib.error)


def read_head(path: str | Path, n: int = 4096) -> tuple[bytes, bool]:
    """The first `n` bytes of a file, decompressed when it is gzip, and whether its gzip stream broke off
    before giving them (cut short, or damaged: zlib's error). What came out before the break is kept.

    Why one function: the sniffers and hints of `scan`, the web's upload sniffing and `damaged_gzip` each
    opened gzip heads their own way, and each had to learn separately that zlib raises neither OSError
    nor EOFError (review: a corrupt .gz ended `scan DIR`, then a web job, in a traceback). OSError from
    opening or reading the file itself propagates."""
    with open(path, "rb") as f:
        raw = f.read(n)
    if raw[:2] != b"\x1f\x8b":
        return raw, False
    d = zlib.decompressobj(wbits=31)
    out = b""
    try:
        with open(path, "rb") as f:
            while len(out) < n and not d.eof:
                chunk = f.read(1 << 16)
                if not chunk:
                    return out[:n], True  # the stream ends before its end marker: cut short
                out += d.decompress(chunk)
    except zlib.error:
        return out[:n], True
    return out[:n], False


def sniff_format(path: str | Path) -> str | None:
    """"pcap" | "pcapng" | "zeek-tsv" | "zeek-json" | "eve" | "netflow-parquet" | "nfcapd" | "resolver-log" | None,
    from content.

    Reads at most SNIFF_LINES non-empty lines, SNIFF_MAX_BYTES (4 MiB) in all, decompressing gzip; file
    names are not trusted, because rotated and renamed logs are the normal case.
    """
    p = Path(path)
    if p.is_dir():
        fmt = _sniff_directory(p)
        # a folder of captures or logs with flow files among them is not one input: each file is read
        return None if fmt is not None and holds_other_inputs(p) else fmt
    try:
        with open(p, "rb") as f:
            head = f.read(4)
            f.seek(0)
            if head in _PCAP_MAGIC:
                return "pcap"
            if head == b"\x0a\x0d\x0d\x0a":
                return "pcapng"
            from minewatch.sources.nfcapd import is_nfcapd

            if is_nfcapd(head):
                return "nfcapd"
            if head == b"PAR1":
                import pyarrow.parquet as pq

                try:
                    names = set(pq.read_schema(p).names)
                except (pa.ArrowException, OSError):  # a damaged footer: not known to be ours
                    return None
                return "netflow-parquet" if {"exporter", "observation_domain"} <= names else None
            stream: IO[bytes] = gzip.GzipFile(fileobj=f) if head[:2] == b"\x1f\x8b" else f
            first_lines: list[bytes] = []
            budget = SNIFF_MAX_BYTES
            while len(first_lines) < SNIFF_LINES and budget > 0:
                raw = stream.readline(min(budget, SNIFF_MAX_LINE))
                if not raw:
                    break
                budget -= len(raw)
                if not raw.endswith(b"\n"):  # longer than a line we parse: skip the rest of it
                    while budget > 0:
                        rest = stream.readline(min(budget, SNIFF_MAX_LINE))
                        budget -= len(rest)
                        if not rest or rest.endswith(b"\n"):
                            break
                    continue
                if raw.strip():
                    first_lines.append(raw)
    except GZIP_HEAD_ERRORS:  # unreadable, or a gzip stream damaged in its first bytes: not known to be a log
        return None
    from minewatch.sources.resolver import resolver_kind

    plain = False  # a line that is neither JSON nor a Zeek header: the file is no Zeek or EVE log
    for raw in first_lines:
        line = raw.strip()
        if line.startswith((b"#separator", b"#fields", b"#path")):
            return "zeek-tsv"
        if line.startswith(b"{"):
            try:
                d = json.loads(line)
            except ValueError:
                continue  # a line cut at the sniffing limit, or one bad line: the next ones decide
            if "event_type" in d:
                return "eve"
            if "_path" in d or _type_from_keys(d) or "uid" in d or "id.orig_h" in d or "id_orig_h" in d:
                return "zeek-json"
            continue  # an object of neither kind (a log's own metadata line): look further
        if line.startswith(b"["):
            if resolver_kind(raw.decode("utf-8", "replace")):  # Unbound's "[epoch] unbound[...]" lines
                return "resolver-log"
            if re.match(rb"^\[\d{9,11}\] ", line):
                plain = True  # Unbound's own start-up lines: a resolver's log whose queries come later
            continue  # a JSON array line is not a log record, but one such line does not decide the file
        if b"\t" in line:
            cols = line.decode("utf-8", "replace").split("\t")
            if "ts" in cols and ("uid" in cols or "id.orig_h" in cols):
                return "zeek-tsv"
        plain = True
        if resolver_kind(raw.decode("utf-8", "replace")):
            return "resolver-log"
    if plain:
        # a resolver's log whose queries come after other lines: start-up (BIND, Unbound), other daemons
        # (syslog), a Windows DNS debug log's 30-line header
        return "resolver-log" if _resolver_lines_later(p) else None
    return None


#: names that say "capture" (after a ".gz"): a file named so is an input even when it cannot be read
CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap")


def named_as_input(path: Path) -> bool:
    """Whether the file's name says capture (`CAPTURE_SUFFIXES`, gzip-compressed or not): such a file is an
    input even when it cannot be read (an unread input, exit status 4).

    Why not ".log" and ".json": those names are worn by every kind of text file (a capture's manifest.json,
    a notes.log, Suricata's fast.log, stats.log and suricata.log beside its eve.json). Taking them as inputs
    by name sent them to the capture reader: "not a pcap/pcapng capture" per file and exit 4 on an ordinary
    folder (review 14, regression of f22495f). A log is known by its content (`sniff_format`); a ".log.gz"
    or ".json.gz" whose gzip is damaged is unread through `damaged_gzip`.
    """
    return path.name.lower().removesuffix(".gz").endswith(CAPTURE_SUFFIXES)


def damaged_gzip(path: Path) -> bool:
    """Whether the file starts as gzip but its first bytes cannot be decompressed (a damaged or cut stream):
    an input that cannot be read, not a file of another kind."""
    try:
        return read_head(path)[1]
    except OSError:
        return True


def holds_other_inputs(directory: Path) -> bool:
    """Whether a folder holds, besides collector Parquet files and nfcapd files, a file that is a capture
    or a log itself (by content, a gzip file, or a file named as a capture): then it is no collector or
    nfcapd folder but a folder of inputs, each read (`scan_cli.expand_directories`). A text file that is no
    log (a README, nfcapd's own daemon log) leaves the folder what it is.

    Why: one `nfcapd.*` or `*.parquet` file beside a capture made the whole folder "nfcapd output" or
    "collector output", read by that reader alone: the capture was never read and the verdict was
    "No mining found" (review). Hidden files and folders (".name") and the collector's own "_stats" folder
    are not looked at, as the readers do not read them either.
    """
    import os

    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith((".", "_"))]
        for name in files:
            if name.startswith(".") or name.lower().endswith(".parquet") or name.startswith("nfcapd."):
                continue
            q = Path(root) / name
            if not q.is_file():
                continue
            # a damaged file named as a capture counts; a text ".log" that is no log does not (nfcapd's own
            # daemon log beside its files)
            if named_as_input(q) or sniff_format(q) is not None:
                return True
            try:
                with open(q, "rb") as f:
                    if f.read(2) == b"\x1f\x8b":  # gzip (damaged or not): a compressed capture or log
                        return True
            except OSError:
                continue
    return False


def _sniff_directory(p: Path) -> str | None:
    """"netflow-parquet" (collector output) or "nfcapd" (an nfcapd/nfsen archive) for a folder holding such
    files, else None; whether it holds anything else is `holds_other_inputs`."""
    laid_out = list(p.glob("date=*/hour=*/part-*.parquet"))[:20]
    # the first file that can be read says; a damaged one is named later by the reader, not here
    for part in laid_out or list(p.glob("*.parquet"))[:20]:
        fmt = sniff_format(part)
        if fmt is not None:
            return fmt
    if laid_out:  # the collector's layout, but no file's schema could be read: still its folder
        return "netflow-parquet"
    # an nfcapd or nfsen directory (nfcapd.YYYYMMDDhhmm files, possibly in dated subdirectories)
    from minewatch.sources.nfcapd import nfcapd_files

    return "nfcapd" if any(sniff_format(q) == "nfcapd" for q in nfcapd_files(p)[:20]) else None


#: lines of a text log searched for a resolver's query line when its first lines hold none
SNIFF_SYSLOG_LINES = 5000


def _resolver_lines_later(p: Path) -> bool:
    from minewatch.sources.resolver import resolver_kind

    try:
        with open(p, "rb") as f:
            head = f.read(2)
            f.seek(0)
            stream: IO[bytes] = gzip.GzipFile(fileobj=f) if head == b"\x1f\x8b" else f
            for _ in range(SNIFF_SYSLOG_LINES):
                raw = stream.readline(SNIFF_MAX_LINE)
                if not raw:
                    return False
                if resolver_kind(raw.decode("utf-8", "replace")):
                    return True
    except GZIP_HEAD_ERRORS:
        return False
    return False


#: Sniffing reads up to SNIFF_LINES non-empty lines of at most SNIFF_MAX_LINE (longer ones are skipped),
#: SNIFF_MAX_BYTES in all:
#: Suricata's first event is often a `stats` record of tens of kB, so a few kB would not reach a decision.
SNIFF_LINES = 20
SNIFF_MAX_LINE = 1 << 20
SNIFF_MAX_BYTES = 4 << 20
