"""The one Finding schema every detector emits, and the Arrow schemas of normalised records.

Why one schema: the CLI, the store, the web pages and every export read findings only, so a new
detector becomes visible everywhere the moment it returns `Finding` objects. Why Arrow schemas for
records: sources (pcap, NetFlow, Zeek, meters) and kernels (local or Spark) meet on columnar batches,
with units in field names (`duration_ms`, `bytes_fwd`) so a number never travels without its unit.

Nulls stay null: an unknown value is `None` here and a null in Arrow/DuckDB, never 0 or 1970.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import pyarrow as pa

FindingKind = Literal["mining", "node"]

#: Keys of a finding as JSON lines / CSV. Stable: tools downstream parse them. More may be appended.
STABLE_KEYS: tuple[str, ...] = (
    "kind",
    "src_ip",
    "src_port",
    "dst_ip",
    "dst_port",
    "transport",
    "first_seen",
    "last_seen",
    "coin",
    "algorithm",
    "variant",
    "encrypted",
    "pool_host",
    "worker",
    "wallet",
    "agent",
    "hashrate_hs",
    "score",
    "subscores",
    "evidence",
    "source",
)


@dataclass(slots=True)
class Evidence:
    """One fact a person can check, in English and (when the detector provides it) Chinese.

    `data` carries the machine-readable part (the raw message, the statistic and its threshold) so
    the web page and exports can show it without parsing prose.
    """

    code: str
    text: str
    text_zh: str | None = None
    ts: datetime | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def render(self, lang: str = "en") -> str:
        """Text in the reader's language, falling back to English when no translation exists."""
        if lang.startswith("zh") and self.text_zh:
            return self.text_zh
        return self.text

    def to_dict(self) -> dict[str, Any]:
        d = {"code": self.code, "text": self.text, "text_zh": self.text_zh, "data": self.data}
        d["ts"] = iso(self.ts)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Evidence:
        return cls(
            code=d["code"],
            text=d["text"],
            text_zh=d.get("text_zh"),
            ts=parse_iso(d.get("ts")),
            data=d.get("data") or {},
        )


def combine_subscores(subscores: dict[str, float]) -> float:
    """Score 0-100 as the capped sum of named sub-scores (points).

    Additive points (RITA-style) keep every score explainable: the evidence names each part and the
    parts add up to the total a reader sees. Negative parts (e.g. an allow-list hint) are allowed.
    """
    total = sum(v for v in subscores.values() if v is not None)
    return round(max(0.0, min(100.0, total)), 1)


@dataclass(slots=True)
class Finding:
    """What was found, where, when, how sure, why, and what it means.

    Network findings fill the 5-tuple and protocol facts; power findings fill `meter_id`, `onset`,
    `kw_mining` and `machines_est`. `impact` holds an assessment (machines, kW, kWh, coal, CO2,
    money) with its assumptions once `minewatch.assess` has produced one.
    """

    kind: FindingKind
    detector: str
    score: float
    subscores: dict[str, float]
    evidence: list[Evidence]
    source: str | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    src_ip: str | None = None
    src_port: int | None = None
    dst_ip: str | None = None
    dst_port: int | None = None
    transport: str | None = None
    coin: str | None = None
    algorithm: str | None = None
    variant: str | None = None
    encrypted: bool | None = None
    pool_host: str | None = None
    worker: str | None = None
    wallet: str | None = None
    wallet_type: str | None = None
    agent: str | None = None
    hashrate_hs: float | None = None
    share_difficulty: float | None = None
    shares_accepted: int | None = None
    shares_rejected: int | None = None
    sni: str | None = None
    community_id: str | None = None
    meter_id: str | None = None
    onset: datetime | None = None
    kw_mining: float | None = None
    machines_est: float | None = None
    site: str | None = None
    impact: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    finding_id: str = ""

    def __post_init__(self) -> None:
        if not self.finding_id:
            self.finding_id = self.natural_id()

    def natural_id(self) -> str:
        """Content-derived id: the same session or meter seen again maps to the same id.

        Built from what identifies the thing found (who, whom, since when, which detector), not from
        mutable facts such as the score, so re-scanning a file never creates a second row.
        """
        key = "|".join(
            str(x)
            for x in (
                self.detector,
                self.kind,
                self.src_ip,
                self.src_port,
                self.dst_ip,
                self.dst_port,
                self.transport,
                iso(self.first_seen),
                self.meter_id,
                self.source,
            )
        )
        return hashlib.sha256(key.encode()).hexdigest()[:20]

    def to_record(self) -> dict[str, Any]:
        """Flat JSON-able dict: stable keys first, timestamps ISO-8601 UTC, nulls as None."""
        d = asdict(self)
        d["evidence"] = [e.to_dict() for e in self.evidence]
        for k in ("first_seen", "last_seen", "onset"):
            d[k] = iso(getattr(self, k))
        ordered = {k: d.pop(k) for k in STABLE_KEYS}
        ordered.update(d)
        return ordered

    def to_json(self) -> str:
        return json.dumps(self.to_record(), ensure_ascii=False, sort_keys=False, default=str)

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> Finding:
        d = dict(d)
        d["evidence"] = [Evidence.from_dict(e) for e in d.get("evidence") or []]
        for k in ("first_seen", "last_seen", "onset"):
            d[k] = parse_iso(d.get(k))
        known = set(cls.__dataclass_fields__)
        extra = {k: v for k, v in d.items() if k not in known}
        kwargs = {k: v for k, v in d.items() if k in known}
        if extra:
            kwargs.setdefault("extra", {}).update(extra)
        return cls(**kwargs)


def iso(ts: datetime | None) -> str | None:
    """ISO-8601 UTC with a trailing Z, or None. Naive datetimes are taken as UTC."""
    if ts is None:
        return None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_iso(s: str | datetime | None) -> datetime | None:
    if s is None or s == "":
        return None
    if isinstance(s, datetime):
        return s if s.tzinfo else s.replace(tzinfo=UTC)
    dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def reader_time(ts: datetime | None) -> str | None:
    """Whole seconds in UTC for a person ("2024-06-10 06:13:28 UTC"): reports, pictures. JSON keeps `iso`."""
    if ts is None:
        return None
    return (ts if ts.tzinfo else ts.replace(tzinfo=UTC)).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def endpoint(host: str | None, port: int | None) -> str:
    """host:port for people; an IPv6 address in brackets ([2001:db8::1]:3333), or the port would read
    as part of the address."""
    h = "?" if host is None else f"[{host}]" if ":" in host else host
    return h if port is None else f"{h}:{port}"


def utc_from_epoch(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, tz=UTC)


TS = pa.timestamp("us", tz="UTC")

#: A bidirectional flow as every network source normalises it. `fwd` is the initiator (src) side.
FLOW_SCHEMA = pa.schema(
    [
        ("src_ip", pa.string()),
        ("src_port", pa.int32()),
        ("dst_ip", pa.string()),
        ("dst_port", pa.int32()),
        ("transport", pa.string()),
        ("first_seen", TS),
        ("last_seen", TS),
        ("duration_ms", pa.float64()),
        ("packets_fwd", pa.int64()),
        ("packets_rev", pa.int64()),
        ("bytes_fwd", pa.int64()),
        ("bytes_rev", pa.int64()),
        ("payload_bytes_fwd", pa.int64()),
        ("payload_bytes_rev", pa.int64()),
        ("tcp_flags_fwd", pa.int32()),
        ("tcp_flags_rev", pa.int32()),
        ("sni", pa.string()),
        ("dns_name", pa.string()),
        ("application", pa.string()),
        ("community_id", pa.string()),
        ("source", pa.string()),
        ("slice_start", TS),
        ("slice_end", TS),
    ]
)

#: DNS answer tying a name to addresses; lets later flows inherit the pool name.
DNS_SCHEMA = pa.schema(
    [
        ("ts", TS),
        ("client_ip", pa.string()),
        ("server_ip", pa.string()),
        ("query", pa.string()),
        ("qtype", pa.string()),
        ("answers", pa.list_(pa.string())),
        ("ttl_s", pa.float64()),
        ("source", pa.string()),
    ]
)

#: One meter reading. `kwh` is the energy in the interval ending at `ts`; `kw` the mean power.
METER_SCHEMA = pa.schema(
    [
        ("meter_id", pa.string()),
        ("ts", TS),
        ("interval_s", pa.int32()),
        ("kwh", pa.float64()),
        ("kw", pa.float64()),
    ]
)
