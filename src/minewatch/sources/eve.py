"""Suricata EVE JSON (flow, dns v2/v3, tls, alert) as Arrow batches per event type.

Why flow timing comes from `flow.start`/`flow.end`: the envelope `timestamp` of a flow event is
when Suricata wrote the record (at timeout or shutdown), not when the traffic happened; timing
analytics built on it see every flow end at the same moment.

Why DNS branches on `dns.version` and `dns.type`: EVE DNS v2 logs queries and answers as separate
records with `rrname` at the top; v3 (Suricata 8 default) logs `request`/`response` records with the
question in `queries[]` and the answers in `answers[]`. Presence of a field such as `rcode` says
nothing about the version.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from minewatch.errors import InputError, Rejects
from minewatch.model import DNS_SCHEMA, FLOW_SCHEMA, TS
from minewatch.sources.zeek import (
    COUNT_MAX,
    TLS_SCHEMA,
    Progress,
    _int,
    open_text_lines,
    parse_time_us,
    rows_to_batch,
)

#: An IDS alert, kept with what an analyst triages by.
ALERT_SCHEMA = pa.schema(
    [
        ("ts", TS),
        ("src_ip", pa.string()),
        ("src_port", pa.int32()),
        ("dst_ip", pa.string()),
        ("dst_port", pa.int32()),
        ("transport", pa.string()),
        ("signature", pa.string()),
        ("signature_id", pa.int64()),
        ("category", pa.string()),
        ("severity", pa.int32()),
        ("action", pa.string()),
        ("app_proto", pa.string()),
        ("flow_id", pa.string()),
        ("source", pa.string()),
    ]
)

EVE_SCHEMAS = {"flow": FLOW_SCHEMA, "netflow": FLOW_SCHEMA, "dns": DNS_SCHEMA, "tls": TLS_SCHEMA,
               "alert": ALERT_SCHEMA}
_DNS_PORTS = {53, 5353, 853}


def _i(v: Any, lo: int = 0, hi: int = COUNT_MAX) -> int | None:
    """A whole number in [lo, hi] (counts by default), or ValueError: the line is rejected, naming it."""
    if (v is not None and not isinstance(v, int | float | str)) or isinstance(v, bool):
        raise ValueError(f"not an integer: {v!r}")
    return _int(v, lo, hi)


def _port(v: Any) -> int | None:
    return _i(v, 0, 65_535)


def _s(v: Any) -> str | None:
    return None if v is None else str(v)


def _obj(d: dict[str, Any], key: str) -> dict[str, Any]:
    v = d.get(key)
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise ValueError(f"{key} is not an object")
    return v


def _flags(v: Any) -> int | None:
    """EVE writes TCP flags as hex strings ("1b")."""
    if v is None:
        return None
    n = int(v, 16) if isinstance(v, str) else _i(v)
    if n is not None and not 0 <= n <= 0xFFFF:
        raise ValueError(f"TCP flags out of range: {v!r}")
    return n


def _flow_dict(d: dict[str, Any], source: str | None, times: tuple[int | None, int | None],
               counts: tuple[int | None, int | None, int | None, int | None],
               flags: tuple[int | None, int | None], sliced: bool) -> dict[str, Any]:
    """One FLOW_SCHEMA row from an EVE event's endpoints and the given times, counters and flags.
    `sliced`: the row is one direction's record (netflow events), paired later by its slice times."""
    first, last = times
    return {
        "src_ip": _s(d.get("src_ip")),
        "src_port": _port(d.get("src_port")),
        "dst_ip": _s(d.get("dest_ip")),
        "dst_port": _port(d.get("dest_port")),
        "transport": _s(d.get("proto")).lower() if d.get("proto") is not None else None,
        "first_seen": first,
        "last_seen": last,
        "duration_ms": None if first is None or last is None else (last - first) / 1000.0,
        "packets_fwd": counts[0],
        "packets_rev": counts[1],
        "bytes_fwd": counts[2],
        "bytes_rev": counts[3],
        "payload_bytes_fwd": None,
        "payload_bytes_rev": None,
        "tcp_flags_fwd": flags[0],
        "tcp_flags_rev": flags[1],
        "sni": None,
        "dns_name": None,
        "application": _s(d.get("app_proto")),
        "community_id": _s(d.get("community_id")),
        "source": source,
        "slice_start": first if sliced else None,
        "slice_end": last if sliced else None,
    }


def flow_row(d: dict[str, Any], source: str | None) -> dict[str, Any]:
    f = _obj(d, "flow")
    tcp = _obj(d, "tcp")
    times = (parse_time_us(f.get("start")), parse_time_us(f.get("end")))
    counts = (_i(f.get("pkts_toserver")), _i(f.get("pkts_toclient")), _i(f.get("bytes_toserver")),
              _i(f.get("bytes_toclient")))
    return _flow_dict(d, source, times, counts, (_flags(tcp.get("tcp_flags_ts")), _flags(tcp.get("tcp_flags_tc"))),
                      sliced=False)


def netflow_row(d: dict[str, Any], source: str | None) -> dict[str, Any]:
    """EVE `netflow` events: one direction of a flow each (src/dest are that direction's), like a
    NetFlow record. The reverse side is unknown here (null, not 0); the two events of a connection
    are paired later as one-way records (`behavior.one_way_slices`), so they carry slice times."""
    nf = _obj(d, "netflow")
    tcp = _obj(d, "tcp")
    times = (parse_time_us(nf.get("start")), parse_time_us(nf.get("end")))
    if times[0] is not None and times[1] is not None and times[1] < times[0]:
        # a record that ends before it starts cannot be laid on the slice grid (it once stopped the scan)
        raise ValueError("netflow end before start")
    counts = (_i(nf.get("pkts")), None, _i(nf.get("bytes")), None)
    return _flow_dict(d, source, times, counts, (_flags(tcp.get("tcp_flags")), None), sliced=True)


def _answers(dns: dict[str, Any]) -> tuple[list[str] | None, float | None]:
    """Answer data and the smallest TTL from detailed `answers[]` or `grouped{type: [..]}`."""
    out: list[str] = []
    ttls: list[float] = []
    seen = False
    ans = dns.get("answers")
    if isinstance(ans, list):
        seen = True
        for a in ans:
            if isinstance(a, dict):
                if a.get("rdata") is not None:
                    out.append(str(a["rdata"]))
                if isinstance(a.get("ttl"), int | float):
                    ttls.append(float(a["ttl"]))
    grouped = dns.get("grouped")
    if isinstance(grouped, dict):
        seen = True
        for vals in grouped.values():
            if isinstance(vals, list):
                out.extend(str(v) if not isinstance(v, dict) else json.dumps(v) for v in vals)
    return (out if seen else None), (min(ttls) if ttls else None)


def dns_row(d: dict[str, Any], source: str | None) -> dict[str, Any] | None:
    dns = _obj(d, "dns")
    version = dns.get("version")
    rtype = dns.get("type")
    if version == 3 or rtype in ("request", "response") or "queries" in dns:
        q = dns.get("queries")
        q0 = q[0] if isinstance(q, list) and q and isinstance(q[0], dict) else {}
        name, qtype = q0.get("rrname"), q0.get("rrtype")
        is_answer = rtype == "response"
    else:  # v2 (and v1): one record per query or per answer, question at top level
        name, qtype = dns.get("rrname"), dns.get("rrtype")
        is_answer = rtype == "answer"
    answers, ttl = _answers(dns) if is_answer else (None, None)
    src, dst = _s(d.get("src_ip")), _s(d.get("dest_ip"))
    sport, dport = d.get("src_port"), d.get("dest_port")
    if sport in _DNS_PORTS and dport not in _DNS_PORTS:
        server, client = src, dst
    elif dport in _DNS_PORTS and sport not in _DNS_PORTS:
        server, client = dst, src
    else:
        server, client = (src, dst) if is_answer else (dst, src)
    return {
        "ts": parse_time_us(d.get("timestamp")),
        "client_ip": client,
        "server_ip": server,
        "query": _s(name),
        "qtype": _s(qtype),
        "answers": answers,
        "ttl_s": ttl,
        "source": source,
    }


def tls_row(d: dict[str, Any], source: str | None) -> dict[str, Any]:
    t = _obj(d, "tls")
    ja3 = t.get("ja3") if isinstance(t.get("ja3"), dict) else {}
    ja3s = t.get("ja3s") if isinstance(t.get("ja3s"), dict) else {}
    return {
        "ts": parse_time_us(d.get("timestamp")),
        "client_ip": _s(d.get("src_ip")),
        "client_port": _port(d.get("src_port")),
        "server_ip": _s(d.get("dest_ip")),
        "server_port": _port(d.get("dest_port")),
        "server_name": _s(t.get("sni")),
        "ja3": _s(ja3.get("hash")),
        "ja3s": _s(ja3s.get("hash")),
        "version": _s(t.get("version")),
        "cipher": None,
        "established": None,
        "cert_subject": _s(t.get("subject")),
        "cert_issuer": _s(t.get("issuerdn")),
        "flow_key": _s(d.get("flow_id")),
        "source": source,
    }


def alert_row(d: dict[str, Any], source: str | None) -> dict[str, Any]:
    a = _obj(d, "alert")
    return {
        "ts": parse_time_us(d.get("timestamp")),
        "src_ip": _s(d.get("src_ip")),
        "src_port": _port(d.get("src_port")),
        "dst_ip": _s(d.get("dest_ip")),
        "dst_port": _port(d.get("dest_port")),
        "transport": _s(d.get("proto")).lower() if d.get("proto") is not None else None,
        "signature": _s(a.get("signature")),
        "signature_id": _i(a.get("signature_id"), 0, COUNT_MAX),
        "category": _s(a.get("category")),
        "severity": _i(a.get("severity"), -(2**31), 2**31 - 1),
        "action": _s(a.get("action")),
        "app_proto": _s(d.get("app_proto")),
        "flow_id": _s(d.get("flow_id")),
        "source": source,
    }


_ROW = {"flow": flow_row, "netflow": netflow_row, "dns": dns_row, "tls": tls_row, "alert": alert_row}


def iter_eve(
    path: str | Path,
    *,
    rejects: Rejects | None = None,
    progress: Progress | None = None,
    batch_rows: int = 65_536,
    start_line: int = 0,
    skipped: dict[str, int] | None = None,
) -> Iterator[tuple[str, pa.RecordBatch]]:
    """Stream (event_type, batch) pairs; event types other than flow/netflow/dns/tls/alert are counted in
    `skipped` (not rejected: they are valid, just not used)."""
    p = Path(path)
    rejects = rejects if rejects is not None else Rejects()
    lines, counter, size = open_text_lines(p)
    bufs: dict[str, list[dict[str, Any]]] = {k: [] for k in _ROW}
    lines_of: dict[str, list[int]] = {k: [] for k in _ROW}
    src = str(p)

    def flush(et: str) -> Iterator[tuple[str, pa.RecordBatch]]:
        if not bufs[et]:
            return
        batch = rows_to_batch(bufs[et], lines_of[et], EVE_SCHEMAS[et], rejects, src, f"malformed EVE {et} event")
        bufs[et], lines_of[et] = [], []
        if batch is not None:
            yield et, batch

    try:
        for lineno, line in enumerate(lines, start=1):
            if lineno <= start_line or not line.strip():
                continue
            try:
                d = json.loads(line)
                if not isinstance(d, dict):
                    raise ValueError("line is not a JSON object")
                et = d.get("event_type")
                if not isinstance(et, str):
                    raise ValueError("no event_type")
                fn = _ROW.get(et)
                if fn is None:
                    if skipped is not None:
                        skipped[et] = skipped.get(et, 0) + 1
                    continue
                row = fn(d, src)
            except json.JSONDecodeError as exc:
                rejects.add("malformed EVE line: not valid JSON", f"{src}:{lineno}: {exc}")
                continue
            except (ValueError, TypeError, AttributeError, OverflowError) as exc:
                rejects.add(f"malformed EVE line: {exc}"[:160], f"{src}:{lineno}")
                continue
            if row is None:
                continue
            bufs[et].append(row)
            lines_of[et].append(lineno)
            if len(bufs[et]) >= batch_rows:
                yield from flush(et)
                if progress:
                    progress(counter.pos, size)
    except InputError:
        # a damaged file (a gzip cut short): the events read before the damage are still good
        for et in list(bufs):
            yield from flush(et)
        raise
    for et in list(bufs):
        yield from flush(et)
    if progress:
        progress(counter.pos, size)


def read_eve(path: str | Path, **kwargs: Any) -> dict[str, pa.Table]:
    """Every flow/dns/tls/alert event of one EVE file as a table per event type (empty when absent)."""
    parts: dict[str, list[pa.RecordBatch]] = {k: [] for k in EVE_SCHEMAS}
    for et, batch in iter_eve(path, **kwargs):
        parts[et].append(batch)
    return {k: pa.Table.from_batches(v, schema=EVE_SCHEMAS[k]) for k, v in parts.items()}
