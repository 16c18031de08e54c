"""Electricity to kWh, standard coal and CO2, with the factor and its provenance always attached.

Why the coal default is the *equivalent value* (~0.3055 kgce/kWh, coal burnt to supply a kWh) and not the
*calorific value* (0.1229 kgce/kWh, the heat content of a kWh): Chinese policy statements on mining
closures use the former — "5.2 billion kWh, about 1.6 million tonnes of standard coal" is 0.308 kgce/kWh —
and an inspector's report must be comparable with them. Both are in `factors.yaml`; `coal_factor()`
picks either convention or takes a number.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from minewatch.errors import InputError
from minewatch.model import parse_iso
from minewatch.paths import package_data

HOURS_PER_YEAR = 365.25 * 24  # CBECI's year; keeps site and network figures on the same basis


@dataclass(frozen=True, slots=True)
class Factor:
    """A number with its unit and where it comes from; the building block of `Assessment.assumptions`."""

    name: str
    value: float
    unit: str
    source: str
    as_of: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@lru_cache(maxsize=1)
def _builtin() -> dict[str, Any]:
    with package_data("factors.yaml").open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        else:
            base[k] = v
    return base


def load_factors(extra: str | Path | None = None) -> dict[str, Any]:
    """Built-in factors, deep-merged with a user YAML that changes only the keys it names."""
    d = copy.deepcopy(_builtin())
    if extra is not None:
        p = Path(extra)
        try:
            over = yaml.safe_load(p.read_text(encoding="utf-8"))
        except OSError as e:
            raise InputError(f"cannot read factors: {e.strerror}", path=str(p)) from e
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            raise InputError("invalid YAML", path=str(p), line=(mark.line + 1) if mark else None) from e
        if not isinstance(over, dict):
            raise InputError("factors YAML must be a mapping", path=str(p))
        _merge(d, over)
    return d


def coal_factor(convention: str | float | None = None, factors: dict[str, Any] | None = None) -> Factor:
    """kgce per kWh: a convention name ('equivalent' / 'calorific'), a number, or the configured default."""
    f = factors or load_factors()
    coal = f["coal"]
    if isinstance(convention, int | float):
        return Factor("coal_factor", float(convention), "kgce/kWh", "given by the user")
    name = (convention or coal["default"]).lower()
    try:
        c = coal["conventions"][name]
    except KeyError as e:
        raise ValueError(f"unknown coal convention {name!r}; known: {', '.join(coal['conventions'])}") from e
    return Factor(f"coal_factor_{name}", float(c["value"]), c["unit"], str(c["source"]).strip(), str(c["as_of"]))


def _province_key(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def co2_factor(
    province: str | None = None,
    country: str | None = "CN",
    value: float | None = None,
    factors: dict[str, Any] | None = None,
) -> Factor:
    """kg CO2 per kWh for a Chinese province (its own factor or its regional grid's), a country, or a value."""
    if value is not None:
        return Factor("co2_factor", float(value), "kgCO2/kWh", "given by the user")
    f = (factors or load_factors())["co2"]
    country = (country or f["default_country"]).upper()
    if province and country == "CN":
        key = _province_key(province)
        if key in f.get("provinces", {}):
            c = f["provinces"][key]
            return Factor(f"co2_factor_{key}", float(c["value"]), c["unit"], c["source"], str(c["as_of"]))
        region = f.get("province_region", {}).get(key)
        if region is None:
            raise ValueError(f"unknown province {province!r}; give --co2-factor or a factors file")
        c = f["regions"][region]
        return Factor(
            f"co2_factor_{key}", float(c["value"]), c["unit"], f"{c['source']} (province {key})", str(c["as_of"])
        )
    try:
        c = f["countries"][country]
    except KeyError as e:
        raise ValueError(f"no CO2 factor for country {country!r}; give --co2-factor or a factors file") from e
    return Factor(f"co2_factor_{country}", float(c["value"]), c["unit"], c["source"], str(c["as_of"]))


def kwh_per_year(kw: float, uptime: float = 1.0) -> float:
    """kW drawn continuously for a (365.25-day) year, times the share of time running."""
    return kw * HOURS_PER_YEAR * uptime


def kwh_between(kw: float, start: datetime | str, end: datetime | str, uptime: float = 1.0) -> float:
    """Energy of a constant load between two instants (kWh); an end before the start is an error."""
    s, e = parse_iso(start), parse_iso(end)
    if s is None or e is None:
        raise ValueError("start and end are required")
    hours = (e - s).total_seconds() / 3600.0
    if hours < 0:
        raise ValueError(f"end {e} is before start {s}")
    return kw * hours * uptime


def coal_tonnes(kwh: float, kgce_per_kwh: float) -> float:
    """Tonnes of standard coal (tce) for an amount of electricity."""
    return kwh * kgce_per_kwh / 1000.0


def co2_tonnes(kwh: float, kg_per_kwh: float) -> float:
    return kwh * kg_per_kwh / 1000.0
