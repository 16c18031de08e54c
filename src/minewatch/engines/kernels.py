"""Engine-neutral adapters: Arrow tables of complete groups in, Arrow tables of findings out.

Why a layer between the detectors and the engines: the detector kernels (`power.features`,
`power.detect`, `net.behavior`, `net.intel`) take NumPy arrays per meter or per connection, while
engines move Arrow record batches that an engine has grouped for us. These functions are the only
code the local engine and Spark both call, so "the same kernel on Spark" is true by construction:
an engine decides *which rows travel together* (all readings of a meter, all slices of a
connection), never *how they are scored*.

Three rules make the results independent of how an engine cuts the data:
- every function needs complete groups only (no meter or connection split across two calls) and
  sorts its rows itself, because Spark gives no row order inside a group;
- the only statistic across groups (the median load factor of a meter's peers) is a separate step,
  `power_peers`, run once per peer group;
- outputs are one row per finding with the Finding as JSON (`FINDING_ROWS`), which is what
  `Finding.from_record` and `Store.add_findings` load.

Pure by default: no file or network I/O here; the hardware catalog and the pool list are package
data, read once per process and cached. The exception is `PowerConfig.with_impact` (`--impact`):
`power_score` then calls `power.scan.assess_impact`, i.e. `minewatch.assess`, which is not pure. It
reads the factor file, the network-metrics cache (the user data directory, else ../shared/data, else
a built-in snapshot) and the clock, so on Spark each executor's files decide the impact figures and
the assessment carries the executor's time. That is why the engines leave it off unless asked.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from minewatch.model import FLOW_SCHEMA, TS, Finding
from minewatch.power.features import Block

#: One row per finding; `finding` is `Finding.to_json()`. `rank_score` is what flagging uses (the
#: power scan ranks by the unrounded total of the sub-scores, flows by the finding's score).
FINDING_ROWS = pa.schema(
    [
        ("finding_id", pa.string()),
        ("detector", pa.string()),
        ("subject", pa.string()),
        ("score", pa.float64()),
        ("rank_score", pa.float64()),
        ("flagged", pa.bool_()),
        ("finding", pa.string()),
    ]
)

_BLOCK_FIELDS = [f.name for f in fields(Block)]
_BLOCK_INT = ("n_valid", "n_days", "split_day", "onset_day", "onset_slot")

#: Per-meter features: everything the scoring step needs, so it can run on any row subset.
POWER_FEATURES = pa.schema(
    [
        ("meter_id", pa.string()),
        ("source", pa.string()),
        ("day0_s", pa.int64()),
        ("steps_per_day", pa.int64()),
        ("end_s", pa.int64()),
        ("tariff_class", pa.string()),
        ("business", pa.string()),
        ("contracted_kw", pa.float64()),
        ("site", pa.string()),
        ("peer_group", pa.string()),
    ]
    + [(n, pa.int64() if n in _BLOCK_INT else pa.float64()) for n in _BLOCK_FIELDS]
)

#: The peer statistic joined back to each meter.
POWER_PEERS = pa.schema([("meter_id", pa.string()), ("peer_lf", pa.float64())])


def finding_rows(items: list[tuple[Finding, str, float, bool]]) -> pa.Table:
    """(finding, subject, rank_score, flagged) tuples as a `FINDING_ROWS` table."""
    return pa.Table.from_pylist(
        [
            {
                "finding_id": f.finding_id,
                "detector": f.detector,
                "subject": subject,
                "score": float(f.score),
                "rank_score": float(rank),
                "flagged": bool(flag),
                "finding": f.to_json(),
            }
            for f, subject, rank, flag in items
        ],
        schema=FINDING_ROWS,
    )


def utc_ts(arr: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Any Arrow timestamp as microseconds UTC; naive ones are taken as UTC (as `model.iso` does)."""
    t = arr.type
    if not pa.types.is_timestamp(t):
        return pc.cast(arr, TS)
    if t.tz is None:
        arr = pc.assume_timezone(arr, "UTC")
    return pc.cast(arr, TS)


# ---------------------------------------------------------------------------------------------
# meter data
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class PowerConfig:
    """How the long meter table is read and scored; shipped to every worker with the kernel.

    `meta` maps meter id to (tariff_class, business, contracted_kw, site), the customer context of
    `power.readers.MeterMeta`; it travels as plain tuples so it pickles cheaply.
    """

    meter_col: str = "meter_id"
    ts_col: str = "ts"
    value_col: str = "kwh"
    unit: str = "kwh"
    temp_col: str | None = None
    interval_s: int | None = None
    source: str = ""
    tz_offset_h: float = 0.0
    threshold: float = 50.0
    with_impact: bool = False
    keep_all: bool = True
    meta: dict[str, tuple[str | None, str | None, float | None, str | None]] = field(default_factory=dict)


def meta_tuples(meta: dict[str, Any]) -> dict[str, tuple[str | None, str | None, float | None, str | None]]:
    """`readers.MeterMeta` objects as the tuples `PowerConfig.meta` carries."""
    return {k: (m.tariff_class, m.business, m.contracted_kw, m.site) for k, m in meta.items()}


def _peer_group(m: tuple[str | None, str | None, float | None, str | None] | None) -> str | None:
    """Same rule as `power.scan.scan_series`: tariff class and business, lower-cased; unknown = no group."""
    if m is None or (m[0] is None and m[1] is None):
        return None
    return f"{(m[0] or '').lower()}|{(m[1] or '').lower()}"


def _epoch_s(arr: pa.ChunkedArray) -> np.ndarray:
    """Seconds since 1970 of a timestamp column (floored), for the reader's integer grid."""
    us = pc.cast(utc_ts(arr), pa.int64()).to_numpy(zero_copy_only=False)
    return np.floor_divide(us, 1_000_000)


def _in_order(t: pa.Table) -> bool:
    """Whether rows are already in ascending (m, t, v) order, equal keys allowed; a NaN or null among
    a meter's repeated time stamps counts as out of order (the sort then decides, as before)."""
    if t.num_rows < 2:
        return True
    m, ts, v = (t.column(c).combine_chunks() for c in ("m", "t", "v"))
    a, b = slice(1, None), slice(0, -1)

    def pair(col: pa.Array, fn: str) -> pa.Array:
        return pc.fill_null(pc.call_function(fn, [col[a], col[b]]), False)

    later = pc.or_(pair(m, "greater"), pc.and_(pair(m, "equal"),
                   pc.or_(pair(ts, "greater"), pc.and_(pair(ts, "equal"), pair(v, "greater_equal")))))
    return bool(pc.all(later).as_py())


def power_features(table: pa.Table, cfg: PowerConfig) -> tuple[pa.Table, dict[str, int]]:
    """Load-shape features of every meter in `table` (all readings of each meter it names).

    Returns the `POWER_FEATURES` rows and a tally (readings, meters, rejected rows by reason, data
    issues by kind). Why the grid is built here and not by the engine: `readers.regularise` is what
    turns readings into a grid for `minewatch power scan` too, with the same rules for duplicates,
    gaps, registers and negative values.

    Rows already in that order (the local engine's DuckDB `ORDER BY` gives it) are not sorted again:
    the string sort was a tenth of this function's time on a year of hourly readings, the check a
    few vectorised comparisons.
    """
    from datetime import UTC, datetime

    from minewatch.power.calendar import festival_mask
    from minewatch.power.features import analyse_block, hourly, judged_days, mask_unconnected, to_day_grid
    from minewatch.power.readers import ReadResult, regularise
    from minewatch.power.scan import MIN_JUDGE_DAYS, _daily_temp

    tally: dict[str, int] = defaultdict(int)
    mid_all = pc.cast(table.column(cfg.meter_col), pa.string())
    ts_all = table.column(cfg.ts_col)
    ok = pc.and_(pc.is_valid(mid_all), pc.is_valid(ts_all))
    bad = table.num_rows - pc.sum(pc.cast(ok, pa.int64())).as_py() if table.num_rows else 0
    if bad:
        tally["rejected:row without meter id or timestamp"] += int(bad)
    cols = {"m": mid_all, "t": ts_all, "v": pc.cast(table.column(cfg.value_col), pa.float64())}
    if cfg.temp_col:
        cols["temp"] = pc.cast(table.column(cfg.temp_col), pa.float64())
    t = pa.table(cols).filter(ok)
    # (meter, time, value) order: Spark gives none, and a duplicate timestamp keeps the first row
    if not _in_order(t):
        t = t.sort_by([("m", "ascending"), ("t", "ascending"), ("v", "ascending")])
    tally["readings"] += t.num_rows
    mids = t.column("m").to_numpy(zero_copy_only=False)
    secs = _epoch_s(t.column("t"))
    vals = t.column("v").to_numpy(zero_copy_only=False).astype(np.float64)
    temps = t.column("temp").to_numpy(zero_copy_only=False).astype(np.float64) if cfg.temp_col else None
    starts = np.flatnonzero(np.r_[True, mids[1:] != mids[:-1]]) if mids.size else np.zeros(0, np.int64)
    ends = np.r_[starts[1:], mids.size] if starts.size else starts
    res = ReadResult()
    src = Path(cfg.source) if cfg.source else Path("")
    Item = tuple[str, np.ndarray, int, int, tuple[np.ndarray, np.ndarray] | None]
    groups: dict[tuple[int, int, int], list[Item]] = defaultdict(list)
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        mid = str(mids[a])
        s = regularise(mid, secs[a:b], vals[a:b], src, res, interval_s=cfg.interval_s, unit=cfg.unit)
        kw, st, step = hourly(s.kw, s.start_s, s.interval_s)
        if kw.size == 0 or np.all(np.isnan(kw)):
            tally["meters without valid readings"] += 1
            continue
        kw, connected = mask_unconnected(kw, step)
        if connected:
            tally["issue:not yet connected"] += 1
        row, S, day0, wd = to_day_grid(kw, st, step)
        n_days = judged_days(row, S)
        if n_days < MIN_JUDGE_DAYS:  # the same rule as `power scan`: too little data to judge, counted
            tally["meters too short to judge"] += 1
            continue
        end_s = s.start_s + s.kw.size * s.interval_s
        tv = None if temps is None else (secs[a:b], temps[a:b])
        groups[(day0, S, row.size)].append((mid, row, wd, end_s, tv))
    for issue in res.issues:
        tally[f"issue:{issue.kind}"] += issue.count
    for reason, n in res.rejects.counts.items():
        tally[f"rejected:{reason}"] += n
    out: list[pa.RecordBatch] = []
    for (day0, S, _n), items in sorted(groups.items()):
        x = np.vstack([r for _, r, _, _, _ in items])
        days = x.shape[1] // S
        td = None
        if temps is not None:
            tl = [_daily_temp({m: tv}, [m], day0, days) if tv is not None else None for m, _, _, _, tv in items]
            if any(v is not None for v in tl):
                td = np.vstack([v if v is not None else np.full(days, np.nan) for v in tl])
        fest = festival_mask(datetime.fromtimestamp(day0, tz=UTC).date(), days)
        blk = analyse_block(x, S, first_weekday=items[0][2], temp_daily=td, festival=fest)
        ids = [m for m, *_ in items]
        meta = [cfg.meta.get(m) for m in ids]
        cols_out: dict[str, Any] = {
            "meter_id": ids,
            "source": [cfg.source or None] * len(ids),
            "day0_s": [day0] * len(ids),
            "steps_per_day": [S] * len(ids),
            "end_s": [e for _, _, _, e, _ in items],
            "tariff_class": [m[0] if m else None for m in meta],
            "business": [m[1] if m else None for m in meta],
            "contracted_kw": [m[2] if m else None for m in meta],
            "site": [m[3] if m else None for m in meta],
            "peer_group": [_peer_group(m) for m in meta],
        }
        for name in _BLOCK_FIELDS:
            arr = np.asarray(getattr(blk, name))
            cols_out[name] = arr.astype(np.int64) if name in _BLOCK_INT else arr.astype(np.float64)
        out.append(pa.RecordBatch.from_pydict(cols_out, schema=POWER_FEATURES))
        tally["meters"] += len(ids)
    return pa.Table.from_batches(out, schema=POWER_FEATURES), dict(tally)


def power_peers(features: pa.Table) -> pa.Table:
    """Median load factor of each meter's peer group (NaN below five peers), via `detect.peer_flatness`.

    Correct on any set of rows that holds whole peer groups: Spark calls it once per group, the
    local engine once on all meters.
    """
    from minewatch.power.detect import peer_flatness

    lf = features.column("load_factor").to_numpy(zero_copy_only=False).astype(np.float64)
    nd = features.column("night_day").to_numpy(zero_copy_only=False).astype(np.float64)
    groups = features.column("peer_group").to_pylist()
    peer_lf, _ = peer_flatness(lf, nd, groups)
    return pa.table({"meter_id": features.column("meter_id"), "peer_lf": pa.array(peer_lf, pa.float64())},
                    schema=POWER_PEERS)


def power_score(features: pa.Table, cfg: PowerConfig) -> pa.Table:
    """Sub-scores, score and Finding of every meter row (needs a `peer_lf` column; NaN = no peers).

    Row-local, so any engine may cut the rows anywhere. Findings are built exactly as
    `power.scan.scan_series` builds them (same catalog machine, same impact rule).
    """
    from minewatch.power.detect import build_finding, subscores_block, total_score
    from minewatch.power.scan import assess_impact, sized_unit

    if features.num_rows == 0:
        return finding_rows([])
    from datetime import UTC, datetime

    arr = {n: features.column(n).to_numpy(zero_copy_only=False) for n in _BLOCK_FIELDS}
    blk = Block(**{n: (a.astype(np.int64) if n in _BLOCK_INT else a.astype(np.float64)) for n, a in arr.items()})
    cap = np.array([np.nan if v is None else float(v) for v in features.column("contracted_kw").to_pylist()])
    peer = features.column("peer_lf").to_numpy(zero_copy_only=False).astype(np.float64)
    sub = subscores_block(
        blk,
        tariff=features.column("tariff_class").to_pylist(),
        business=features.column("business").to_pylist(),
        contracted_kw=cap,
        peer_lf=peer,
        unbilled=np.array([str(i).endswith(":unaccounted") for i in features.column("meter_id").to_pylist()]),
    )
    tot = total_score(sub)
    ids = features.column("meter_id").to_pylist()
    day0s = features.column("day0_s").to_pylist()
    spds = features.column("steps_per_day").to_pylist()
    ends = features.column("end_s").to_pylist()
    sources = features.column("source").to_pylist()
    tariffs = features.column("tariff_class").to_pylist()
    sites = features.column("site").to_pylist()
    items: list[tuple[Finding, str, float, bool]] = []
    for i, mid in enumerate(ids):
        flagged = bool(float(tot[i]) >= cfg.threshold)
        if not (cfg.keep_all or flagged):
            continue
        onset_day = None
        if blk.split_day[i] >= 0:
            onset_day = datetime.fromtimestamp(day0s[i] + int(blk.onset_day[i]) * 86400, tz=UTC).date().isoformat()
        end_day = datetime.fromtimestamp(ends[i], tz=UTC)
        unit = sized_unit(blk, i, tariffs[i], onset_day or end_day.date().isoformat())
        f = build_finding(blk, i, sub, meter_id=mid, day0_s=day0s[i], steps_per_day=spds[i], unit=unit,
                          source=sources[i] or "", tz_offset_h=cfg.tz_offset_h, end_s=ends[i])
        if cfg.with_impact and flagged:
            f.impact, why = assess_impact(f.kw_mining, f.onset, end_day, unit)
            if why:
                f.extra["impact_error"] = why
        if sites[i]:
            f.site = sites[i]
        items.append((f, mid, float(tot[i]), flagged))
    return finding_rows(items)


# ---------------------------------------------------------------------------------------------
# flows
# ---------------------------------------------------------------------------------------------

#: What identifies one connection; `findings_from_flow_table` groups slices by the same key.
FLOW_KEY = ("src_ip", "src_port", "dst_ip", "dst_port", "transport", "source")
#: Columns of the collector's NetFlow/IPFIX Parquet that `netflow_to_flows` reads.
NETFLOW_COLUMNS = ("src_ip", "src_port", "dst_ip", "dst_port", "transport", "packets", "bytes", "tcp_flags",
                   "start", "end")
#: ... and the RFC 5103 reverse counters, which Parquet from before they existed does not have
NETFLOW_REVERSE_COLUMNS = ("packets_rev", "bytes_rev", "tcp_flags_rev")


#: ... and what says a record is sampled (a 1-in-N NetFlow record or an sFlow packet sample): such records
#: carry names and addresses but no timing the behaviour views can read (cf. `net.logscan`)
NETFLOW_SAMPLING_COLUMNS = ("sampling_interval", "version", "extra")


def netflow_columns(available: Sequence[str]) -> list[str]:
    """The collector columns to read from an input that has `available`: the reverse counters and the
    sampling columns only when present (Parquet written before they existed lacks them)."""
    return [*NETFLOW_COLUMNS, *(c for c in (*NETFLOW_REVERSE_COLUMNS, *NETFLOW_SAMPLING_COLUMNS) if c in available)]


def sampled_mask(t: pa.Table) -> pa.ChunkedArray | None:
    """Per collector record, whether it is sampled (None when the input cannot say, or none is).

    Why apart: a 1-in-N record's packets and timing are a thinned copy of the connection's, and an sFlow row
    is a single packet, so the timing views would read noise as rhythm; their names and addresses still
    count (`net.intel`), as `net.logscan` reads them.
    """
    from minewatch.sources.sflow import SFLOW_VERSION

    mask = None
    if "sampling_interval" in t.column_names:
        mask = pc.fill_null(pc.greater(t.column("sampling_interval"), 1), False)
    if "version" in t.column_names:
        sf = pc.fill_null(pc.equal(t.column("version"), SFLOW_VERSION), False)
        mask = sf if mask is None else pc.or_(mask, sf)
    if mask is None or not pc.any(mask).as_py():
        return None
    return mask


@dataclass(slots=True)
class FlowConfig:
    """How flow rows are scored. `source` names the input for collector Parquet (which has none);
    `include_timing_only` flags timing-only verdicts too (like `FlowLogScanner(include_suspects=True)`)."""

    source: str | None = None
    intel: bool = True
    include_timing_only: bool = False


def is_netflow(names: list[str]) -> bool:
    """Collector output (NETFLOW_SCHEMA, one-way records) rather than FLOW_SCHEMA rows."""
    return "slice_start" not in names and {"start", "end", "packets"} <= set(names)


def to_flow_table(batch: pa.Table | pa.RecordBatch, cfg: FlowConfig) -> pa.Table:
    """Any input batch as FLOW_SCHEMA (collector records converted, other columns dropped)."""
    from minewatch.sources.netflow import netflow_to_flows

    t = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
    if is_netflow(t.column_names):
        cols = {c: t.column(c) for c in netflow_columns(t.column_names)}
        cols["start"], cols["end"] = utc_ts(cols["start"]), utc_ts(cols["end"])
        t = pa.Table.from_batches([netflow_to_flows(pa.table(cols), cfg.source)])
    arrays = []
    for f in FLOW_SCHEMA:
        if f.name in t.column_names:
            c = t.column(f.name)
            arrays.append(utc_ts(c) if pa.types.is_timestamp(f.type) else pc.cast(c, f.type))
        else:
            arrays.append(pa.nulls(t.num_rows, f.type))
    out = pa.Table.from_arrays(arrays, schema=FLOW_SCHEMA)
    if cfg.source is not None:
        src = pc.fill_null(out.column("source"), cfg.source)
        out = out.set_column(out.schema.get_field_index("source"), "source", src)
    return out


@lru_cache(maxsize=1)
def _builtin_intel() -> Any:
    from minewatch.net.intel import PoolIntel

    return PoolIntel.builtin()


class _NameFacts:
    """What a flow record says about content: at most the TLS server name (cf. `net.logscan`)."""

    kind = None
    variant = "tls"
    client_is_src = None
    subscores: dict[str, float] = {}  # noqa: RUF012 - read-only default
    evidence: list[Any] = []  # noqa: RUF012 - read-only default

    def __init__(self, sni: str) -> None:
        self.sni = sni
        self.encrypted = True


def _conn_key(f: Finding) -> tuple[Any, ...]:
    return (f.src_ip, f.src_port, f.dst_ip, f.dst_port, f.transport, f.source, f.first_seen)


def _intel_findings(rows: list[dict[str, Any]], sliced: bool, intel: bool = True) -> list[Finding]:
    """Pool-list findings (`net.intel` + `net.findings.session_finding`) for one connection's rows."""
    return _intel_one(rows, sliced, intel, None)


def _sampled_findings(rows: list[dict[str, Any]], intel: bool, keep_pending: bool) -> list[Finding]:
    """Findings of packet samples and sampled records: names, addresses and what the samples showed of mining
    content (`net.sampled`), never timing.

    All samples of the table go through `collapse_samples` together, as in `net.logscan`: one row per
    connection facing the miner when a sampled message said which side it is, and a hello-only connection
    counts as its host's next pool when the host mined on another connection. With `keep_pending`, a
    hello-only connection whose host showed no mining *here* is kept as a pending finding
    (`HELLO_PENDING`): the engines partition by connection, so the host's mining may be in another
    partition, and `resolve_hellos` decides once every partition is in. Content beyond a hello that stays
    under the report line (an XMRig keepalive alone) is kept pending too (`CONTENT_PENDING`): it is not
    reported, but it makes its host a miner for the hellos of other partitions, as `collapse_samples`
    does in one table (review 13).
    """
    from minewatch.net.findings import REPORT_THRESHOLD
    from minewatch.net.sampled import collapse_samples

    rows_c, found = collapse_samples(rows)
    out: list[Finding] = []
    for i, row in enumerate(rows_c):
        content = found.get(i)
        hello = keep_pending and content is not None and content.hello_only and not content.miner_host
        other = keep_pending and content is not None and not content.hello_only
        for f in _intel_one([row], False, intel, content, threshold=0.0 if hello or other else None):
            if f.score < REPORT_THRESHOLD and (hello or other):
                f.extra[HELLO_PENDING if hello else CONTENT_PENDING] = True
            out.append(f)
    return out


#: `Finding.extra` mark of a sampled hello-only connection the engines keep until they know whether its host
#: mined on another connection (`resolve_hellos`); never in a finding that leaves the engine.
HELLO_PENDING = "sampled_hello_pending"
#: ... and of sampled mining content under the report line, kept only to name its host a miner
CONTENT_PENDING = "sampled_content_pending"


def sampled_miner_hosts(rows: pa.Table) -> set[str]:
    """Sources of findings whose packet samples showed mining beyond a hello (`net.sampled`), from
    `FINDING_ROWS`: the hosts whose hello-only connections are their next pool."""
    if rows.num_rows == 0:
        return set()
    js = rows.column("finding")
    mask = pc.and_(pc.match_substring(js, '"net.sampled_protocol"'),
                   pc.invert(pc.match_substring(js, '"net.sampled_hello_')))
    return {f["src_ip"] for f in map(json.loads, rows.filter(mask).column("finding").to_pylist())
            if f.get("src_ip")}


def resolve_hellos(rows: pa.Table, miner_hosts: set[str]) -> pa.Table:
    """Pending hello-only findings (`HELLO_PENDING`) of `FINDING_ROWS`: promoted to a miner trying a pool
    when their host is in `miner_hosts`, else dropped (a scanner or a pool monitor, below the report line).
    Content kept only to name its host (`CONTENT_PENDING`) is dropped. Rows without a mark pass untouched."""
    from minewatch.net.sampled import promote_hello

    if rows.num_rows == 0:
        return rows
    js = rows.column("finding")
    pending = pc.match_substring(js, f'"{HELLO_PENDING}"')
    content_only = pc.match_substring(js, f'"{CONTENT_PENDING}"')
    if not pc.any(pc.or_(pending, content_only)).as_py():
        return rows
    kept = rows.filter(pc.invert(pc.or_(pending, content_only)))
    items = []
    for s in rows.filter(pending).column("finding").to_pylist():
        f = Finding.from_record(json.loads(s))
        f.extra.pop(HELLO_PENDING, None)
        if f.src_ip in miner_hosts:
            g = promote_hello(f)
            items.append((g, _subject(g), float(g.score), True))
    return pa.concat_tables([kept, finding_rows(items)]) if items else kept


def _intel_one(rows: list[dict[str, Any]], sliced: bool, intel: bool, content: Any,
               threshold: float | None = None) -> list[Finding]:
    from minewatch.net.findings import FlowView, session_finding
    from minewatch.net.intel import intel_subscores

    r0 = rows[0]
    sni = next((r["sni"] for r in rows if r.get("sni")), None)
    dns = next((r["dns_name"] for r in rows if r.get("dns_name")), None)
    sub, ev = intel_subscores(dns, sni, r0["dst_ip"], r0["dst_port"], _builtin_intel()) if intel else ({}, [])
    if not sub and content is None:
        return []
    if sliced:
        first = min(r["slice_start"] for r in rows).timestamp()
        last = max(r["slice_end"] for r in rows).timestamp()
    else:
        first = r0["first_seen"].timestamp() if r0.get("first_seen") else 0.0
        last = r0["last_seen"].timestamp() if r0.get("last_seen") else first

    def tot(*names: str) -> int:
        return int(sum((next((r[n] for n in names if r.get(n)), 0) or 0) for r in rows))

    view = FlowView(
        src_ip=r0["src_ip"], src_port=r0["src_port"], dst_ip=r0["dst_ip"], dst_port=r0["dst_port"],
        transport=(r0.get("transport") or "").lower(), first_ts=first, last_ts=last, direction_certain=True,
        packets_fwd=tot("packets_fwd"), packets_rev=tot("packets_rev"),
        payload_bytes_fwd=tot("payload_bytes_fwd", "bytes_fwd"), payload_bytes_rev=tot("payload_bytes_rev", "bytes_rev"),
        syn_seen=bool((r0.get("tcp_flags_fwd") or 0) & 0x02), tcp_flags_fwd=r0.get("tcp_flags_fwd"),
        community_id=r0.get("community_id"), source=r0.get("source"),
    )  # fmt: skip
    facts: Any = content if content is not None else (_NameFacts(sni) if sni else None)
    f = session_finding(view, facts, (sub, ev) if sub else None,
                        **({} if threshold is None else {"threshold": threshold}))
    if f is None:
        return []
    if dns and not f.pool_host:
        f.pool_host = dns
    return [f]


def _subject(f: Finding) -> str:
    return f"{f.src_ip}:{f.src_port}>{f.dst_ip}:{f.dst_port}/{f.transport}"


def flow_findings(table: pa.Table, cfg: FlowConfig, *, keep_pending: bool = False) -> pa.Table:
    """Findings of every connection in `table` (FLOW_SCHEMA rows holding whole connections).

    Behaviour (`net.behavior.findings_from_flow_table`): sliced rows scored per connection, totals
    per row. Names (`net.intel`, when `cfg.intel`): a pool-list hit on a mining-shaped connection.
    When both speak for one connection they merge into one finding (`net.findings.merge_findings`);
    a timing-only verdict is marked `extra.timing_only`; from connection totals, without a name behind
    it, it is a suspect rather than a finding (`net.behavior.reported_alone`, the same rule as
    `net.logscan`; measured rates in docs/behavior.md). `keep_pending`: the caller sees only part of the
    input and resolves sampled hellos itself (`resolve_hellos`).
    """
    from minewatch.net.behavior import findings_from_flow_table, reported_alone
    from minewatch.net.findings import merge_findings

    raw = table if isinstance(table, pa.Table) else pa.Table.from_batches([table])
    sampled = sampled_mask(raw) if is_netflow(raw.column_names) else None
    untimed = None
    if sampled is not None:  # sampled records: names and addresses only, never timing
        untimed = to_flow_table(raw.filter(sampled), cfg)
        raw = raw.filter(pc.invert(sampled))
    t = to_flow_table(raw, cfg)
    if t.num_rows == 0 and (untimed is None or untimed.num_rows == 0):
        return finding_rows([])
    order = [(k, "ascending") for k in (*FLOW_KEY, "slice_start", "slice_end", "first_seen", "last_seen",
                                         "packets_fwd", "bytes_fwd", "packets_rev", "bytes_rev", "sni", "dns_name")]
    t = t.sort_by(order)
    behaviour = findings_from_flow_table(t) if t.num_rows else []
    n_timed = t.num_rows
    if untimed is not None:
        t = pa.concat_tables([t, untimed.sort_by(order)])
    by_key: dict[tuple[Any, ...], Finding] = {}
    if cfg.intel or untimed is not None:
        # without pool lists only the samples are read here (their content), not every timed row
        base = 0 if cfg.intel else n_timed
        rows = (t if cfg.intel else t.slice(n_timed)).to_pylist()
        conns: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        samples: list[dict[str, Any]] = []
        for i, r in enumerate(rows, start=base):
            if i >= n_timed:  # packet samples and sampled records: judged together below
                samples.append(r)
            elif r.get("slice_start") is not None and r.get("slice_end") is not None:
                conns.setdefault(tuple(r[k] for k in FLOW_KEY), []).append(r)
            else:
                conns[("row", i)] = [r]
        for k, rs in conns.items():
            for f in _intel_findings(rs, sliced=k[0] != "row", intel=cfg.intel):
                by_key.setdefault(_conn_key(f), f)
        for f in _sampled_findings(samples, cfg.intel, keep_pending) if samples else []:
            by_key.setdefault(_conn_key(f), f)
    for g in behaviour:
        k = _conn_key(g)
        if k in by_key:
            by_key[k] = merge_findings(by_key[k], g)
        else:
            g.extra["timing_only"] = True
            by_key[k] = g
    items = [(f, _subject(f), float(f.score),
              cfg.include_timing_only or not f.extra.get("timing_only") or reported_alone(f))
             for f in by_key.values()]
    return finding_rows(items)


def findings_from_rows(rows: pa.Table) -> list[Finding]:
    """The Findings of a `FINDING_ROWS` table."""
    return [Finding.from_record(json.loads(s)) for s in rows.column("finding").to_pylist()]
