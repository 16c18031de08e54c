"""Synthetic inputs for trying the engines without real data: long meter Parquet and flow Parquet.

Why here and not in the tests only: `minewatch spark sample DIR` lets an operator check a cluster
set-up end to end (spark-submit, wheel, Java, memory) before pointing it at customer data. The
curves come from `power.inject` (rigs with ramp-up, failures, curtailment; honest look-alikes such
as EV chargers, greenhouses, cold stores and data centres) and the connections from
`evaluate.encrypted` (pool sessions and benign long-lived TLS, as NetFlow-style 60 s slices and as
connection totals). Nothing here is read by a detector.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from minewatch.model import FLOW_SCHEMA

_DAY = 86400
_KINDS = ("household", "mining", "household", "ev_charger", "mining", "cold_storage", "greenhouse", "data_centre")
#: Tariff class and declared business per kind (for peer groups and tariff context).
_META = {
    "household": ("residential", None), "mining": ("residential", None), "ev_charger": ("residential", None),
    "cold_storage": ("commercial", "cold storage"), "greenhouse": ("agricultural", "greenhouse"),
    "data_centre": ("commercial", "data center"),
}  # fmt: skip


def meter_table(n_meters: int = 200, days: int = 200, seed: int = 3,
                start: str = "2023-01-01") -> tuple[pa.Table, dict[str, tuple[str | None, str | None, float | None, str | None]]]:
    """Hourly long table (meter_id, ts, kwh, temp_c) and per-meter (tariff, business, contracted_kw, site)."""
    from datetime import UTC, datetime

    from minewatch.power.inject import confounder_load, mining_load

    rng = np.random.default_rng(seed)
    t0 = int(datetime.fromisoformat(start).replace(tzinfo=UTC).timestamp())
    n = days * 24
    hours = np.arange(n)
    hod = hours % 24
    doy = ((t0 // _DAY) + hours // 24) % 365
    temp = 12 - 10 * np.cos(2 * np.pi * (doy - 15) / 365) + 4 * np.sin(2 * np.pi * (hod - 9) / 24)
    temp = temp + rng.normal(0, 1.5, n)
    ids: list[str] = []
    loads: list[np.ndarray] = []
    meta: dict[str, tuple[str | None, str | None, float | None, str | None]] = {}
    for i in range(n_meters):
        kind = _KINDS[i % len(_KINDS)]
        mid = f"M{i:05d}"
        base_mean = float(rng.uniform(0.3, 2.5))
        shape = 1 + 0.8 * np.clip(np.sin(np.pi * (hod - 7) / 14), 0, None) + 0.5 * ((hod >= 18) & (hod < 23))
        load = base_mean * shape * np.clip(1 + rng.normal(0, 0.2, n), 0, None)
        if kind == "mining":
            lo = min(60, days // 3)
            onset = int(rng.integers(lo, max(lo + 1, days - 70))) * 24 + int(rng.integers(0, 24))
            load = load + mining_load(rng, n, t0, onset, int(rng.integers(1, 5)), 3.25)
        elif kind != "household":
            extra, _decl = confounder_load(rng, kind, n, t0, temp, base_mean * 3)
            load = load + extra
        load[rng.random(n) < 0.005] = np.nan  # missing readings stay missing
        ids.append(mid)
        loads.append(load)
        tariff, business = _META[kind]
        meta[mid] = (tariff, business, None, f"site-{i % 4}")
    ts_us = (t0 + hours * 3600).astype(np.int64) * 1_000_000
    table = pa.table({
        "meter_id": pa.array(np.repeat(ids, n)),
        "ts": pa.array(np.tile(ts_us, n_meters), pa.timestamp("us", tz="UTC")),
        "kwh": pa.array(np.concatenate(loads), pa.float64(), from_pandas=True),
        "temp_c": pa.array(np.tile(np.round(temp, 1), n_meters), pa.float64()),
    })  # fmt: skip
    return table, meta


def flow_table(n_mining: int = 40, n_benign: int = 40, seed: int = 5, epoch: float = 1.7e9) -> pa.Table:
    """FLOW_SCHEMA rows: each connection as 60 s slices, plus the same session as one totals row."""
    from minewatch.evaluate.encrypted import (
        conn_view,
        make_scripts,
        script_messages,
        slice_view,
        wire_packets,
    )

    rng = np.random.default_rng(seed)
    scripts = make_scripts(n_mining, n_benign, seed, dur=(600.0, 3600.0))
    rows: list[dict[str, Any]] = []
    for i, sc in enumerate(scripts):
        mt, md, ml = script_messages(sc, rng)
        t, d, ln = wire_packets(mt, md, ml, sc.rtt)
        t = t + epoch + i * 7.0
        base: dict[str, Any] = {
            "src_ip": f"10.0.{i // 200}.{i % 200 + 1}", "dst_ip": f"198.51.100.{i % 50 + 1}",
            "dst_port": (3333, 443, 8883, 5222)[i % 4], "transport": "tcp",
            # a pool name on some sessions, mining or not, so the name check has work to do
            "sni": "eu.f2pool.com" if i % 5 == 0 else None,
        }  # fmt: skip
        sv = slice_view(t, d, ln, float(t.min()))
        for k in range(sv["slice_start"].size):
            s0, s1 = float(sv["slice_start"][k]), float(sv["slice_end"][k])
            rows.append(base | {
                "src_port": 40000 + i, "first_seen": s0, "last_seen": s1, "slice_start": s0, "slice_end": s1,
                "duration_ms": (s1 - s0) * 1000.0, "packets_fwd": int(sv["packets_fwd"][k]),
                "packets_rev": int(sv["packets_rev"][k]), "bytes_fwd": int(sv["bytes_fwd"][k]),
                "bytes_rev": int(sv["bytes_rev"][k]),
            })  # fmt: skip
        cv = conn_view(t, d, ln)
        rows.append(base | {
            "src_port": 50000 + i, "first_seen": float(t.min()), "last_seen": float(t.max()),
            "duration_ms": cv["duration_s"] * 1000.0, "packets_fwd": int(cv["packets_fwd"]),
            "packets_rev": int(cv["packets_rev"]), "payload_bytes_fwd": int(cv["payload_fwd"]),
            "payload_bytes_rev": int(cv["payload_rev"]),
        })  # fmt: skip
    arrays = []
    for f in FLOW_SCHEMA:
        vals = [r.get(f.name) for r in rows]
        if pa.types.is_timestamp(f.type):
            arrays.append(pa.array([None if v is None else round(v * 1e6) for v in vals], pa.int64()).cast(f.type))
        else:
            arrays.append(pa.array(vals, f.type))
    return pa.Table.from_arrays(arrays, schema=FLOW_SCHEMA)


def write_samples(out: str | Path, *, n_meters: int = 200, days: int = 200, seed: int = 3) -> dict[str, Path]:
    """meters.parquet, meters_meta.csv and flows.parquet under OUT."""
    import csv

    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    mt, meta = meter_table(n_meters, days, seed)
    pq.write_table(mt, d / "meters.parquet")
    with open(d / "meters_meta.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["meter_id", "tariff_class", "business", "contracted_kw", "site"])
        for k, (t, b, c, s) in meta.items():
            w.writerow([k, t or "", b or "", "" if c is None else c, s or ""])
    pq.write_table(flow_table(seed=seed), d / "flows.parquet")
    return {"meters": d / "meters.parquet", "meta": d / "meters_meta.csv", "flows": d / "flows.parquet"}
