"""Electricity to kWh, standard coal and CO2, with the factor and its provenance always attached.

Why the coal default is the *equivalent value* (~0.3055 kgce/kWh, coal burnt to supply a kWh) and not the
*calorific value* (0.1229 kgce/kWh, the heat content of a kWh): Chinese policy statements on mining
closures use the former — "5.2 billion kWh, about 1.6 million tonnes of standard coal" is 0.308 kgce/kWh —
and an inspector's report must be comparable with them. Both are in `factors.yaml`; `coal_factor()`
picks either convention or takes a number.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from minewatch.errors import InputError
from minewatch.i18n import tr
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
    source_zh: str = ""
    #: (English, Chinese) texts a reader must see next to the figure, e.g. "regional value used for the province".
    warnings: tuple[tuple[str, str], ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """The assumption record: name, value, unit, source, as_of (and source_zh when there is one)."""
        d: dict[str, Any] = {"name": self.name, "value": self.value, "unit": self.unit, "source": self.source,
                             "as_of": self.as_of}  # fmt: skip
        if self.source_zh:
            d["source_zh"] = self.source_zh
        return d


def check_factor(name: str, value: Any, *, minimum: float = 0.0, strict: bool = True, maximum: float | None = None) -> float:
    """A factor value, whether typed on the command line or read from a factors file, as a finite float in range.

    Why one check for both: a factors file is just another way of typing a number, and a NaN or a negative
    factor there would flow into every figure (and NaN is not valid JSON) exactly as a typed one would.
    """
    try:
        x = float(value)
    except (TypeError, ValueError) as e:
        raise ValueError(tr(f"{name} must be a number, got {value!r}", f"{name} 必须是数字，实际为 {value!r}")) from e
    if not math.isfinite(x):
        raise ValueError(tr(f"{name} must be a finite number, got {value}", f"{name} 必须是有限数值，实际为 {value}"))
    if (strict and x <= minimum) or (not strict and x < minimum):
        op = ">" if strict else ">="
        raise ValueError(tr(f"{name} must be {op} {minimum:g}, got {value}", f"{name} 必须 {op} {minimum:g}，实际为 {value}"))
    if maximum is not None and x > maximum:
        raise ValueError(tr(f"{name} must be at most {maximum:g}, got {value}", f"{name} 不能大于 {maximum:g}，实际为 {value}"))
    return x


@lru_cache(maxsize=1)
def _builtin() -> dict[str, Any]:
    with package_data("factors.yaml").open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def _merge(base: dict[str, Any], over: dict[str, Any], origin: str = "") -> dict[str, Any]:
    """Deep-merge `over` into `base`. A factor whose value is changed without a new source is re-attributed
    to the file that changed it: keeping the built-in source text would print "assumed 24/7 operation"
    next to an uptime of 0.5."""
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            old = base[k]
            if origin and "value" in v and "source" not in v and v.get("value") != old.get("value"):
                old["source"] = f"set in factors file {origin}"
                old["source_zh"] = f"由因子文件 {origin} 设定"
                old["as_of"] = str(v.get("as_of", ""))
            elif "source" in v:
                old.pop("source_zh", None)
            _merge(old, v, origin)
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
        _merge(d, over, str(p))
    return d


def coal_factor(convention: str | float | None = None, factors: dict[str, Any] | None = None) -> Factor:
    """kgce per kWh: a convention name ('equivalent' / 'calorific'), a number, or the configured default."""
    f = factors or load_factors()
    coal = f["coal"]
    if isinstance(convention, int | float):
        return Factor("coal_factor", check_factor("coal", convention), "kgce/kWh", "given by the user", "",
                      "由用户给定")  # fmt: skip
    name = (convention or coal["default"]).lower()
    try:
        c = coal["conventions"][name]
    except KeyError as e:
        raise ValueError(tr(f"unknown coal convention {name!r}; known: {', '.join(coal['conventions'])}",
                            f"未知的折标煤方法 {name!r}；可选：{', '.join(coal['conventions'])}")) from e  # fmt: skip
    value = check_factor(f"coal.conventions.{name}.value", c.get("value"))
    return Factor(f"coal_factor_{name}", value, str(c.get("unit", "kgce/kWh")), str(c.get("source", "")).strip(),
                  str(c.get("as_of", "")), str(c.get("source_zh", "")).strip())  # fmt: skip


def _province_key(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def co2_factor(
    province: str | None = None,
    country: str | None = "CN",
    value: float | str | None = None,
    factors: dict[str, Any] | None = None,
) -> Factor:
    """kg CO2 per kWh for a Chinese province (its own factor or its regional grid's), a country, a named
    official series (`co2.named`, e.g. cn_2021_national), or a value.

    Why a warning on the regional fallback: the provincial factors of one grid differ up to four-fold
    (Qinghai 0.16 against the Northwest grid's 0.59), so a figure resting on the regional mean must say so.
    """
    f = (factors or load_factors())["co2"]
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            named = f.get("named", {})
            key = value.strip().lower()
            if key not in named:
                raise ValueError(tr(f"unknown CO2 factor {value!r}; give kg/kWh or one of: {', '.join(named)}",
                                    f"未知的碳排放因子 {value!r}；请给出 kg/kWh 数值或以下之一：{', '.join(named)}")) from None  # fmt: skip
            c = named[key]
            return Factor(f"co2_factor_{key}", check_factor(f"co2.named.{key}.value", c.get("value")),
                          str(c.get("unit", "kgCO2/kWh")), str(c.get("source", "")), str(c.get("as_of", "")),
                          str(c.get("source_zh", "")))  # fmt: skip
    if value is not None:
        return Factor("co2_factor", check_factor("co2", value, strict=False), "kgCO2/kWh", "given by the user", "",
                      "由用户给定")  # fmt: skip
    country = (country or f["default_country"]).upper()
    if province and country == "CN":
        key = _province_key(province)
        key = f.get("province_aliases", {}).get(key, key)
        provinces = f.get("provinces", {})
        if key in provinces:
            c = provinces[key]
            return Factor(
                f"co2_factor_{key}", check_factor(f"co2.provinces.{key}.value", c.get("value"), strict=False),
                str(c.get("unit", "kgCO2/kWh")), str(c.get("source") or f.get("province_source", "")),
                str(c.get("as_of", "")), str(c.get("source_zh") or ("" if c.get("source") else f.get("province_source_zh", ""))),
            )  # fmt: skip
        region = f.get("province_region", {}).get(key)
        if region is None or region not in f.get("regions", {}):
            known = sorted({*provinces, *f.get("province_region", {})})
            raise ValueError(tr(f"unknown province {province!r}; known: {', '.join(known)}; or give --co2-factor",
                                f"未知的省份 {province!r}；可选：{', '.join(known)}；或给出 --co2-factor"))  # fmt: skip
        c = f["regions"][region]
        rname, rname_zh = str(c.get("name", region)), str(c.get("name_zh", region))
        src = str(c.get("source") or f.get("region_source", ""))
        src_zh = str(c.get("source_zh") or ("" if c.get("source") else f.get("region_source_zh", "")))
        return Factor(
            f"co2_factor_{key}", check_factor(f"co2.regions.{region}.value", c.get("value"), strict=False),
            str(c.get("unit", "kgCO2/kWh")), f"{src}; {rname} average used for province {key}",
            str(c.get("as_of", "")), f"{src_zh}；省份 {key} 采用{rname_zh}平均值" if src_zh else "",
            warnings=((
                f"no provincial CO2 factor for {key} on record: the {rname} average "
                f"({c.get('value')} kg/kWh, {c.get('as_of', '')}) is used; give --co2-factor for the provincial value",
                f"没有 {key} 的省级二氧化碳排放因子：采用{rname_zh}平均值（{c.get('value')} kg/kWh，"
                f"{c.get('as_of', '')}）；如有省级因子请用 --co2-factor 给出",
            ),),
        )  # fmt: skip
    try:
        c = f["countries"][country]
    except KeyError as e:
        raise ValueError(tr(f"no CO2 factor for country {country!r}; give --co2-factor or a factors file",
                            f"没有国家 {country!r} 的碳排放因子；请给出 --co2-factor 或因子文件")) from e  # fmt: skip
    warn: tuple[tuple[str, str], ...] = ()
    if c.get("approximate"):
        warn = ((f"the CO2 factor for {country} is an approximate grid average ({c.get('value')} kg/kWh); verify it "
                 "before using the CO2 figure in a report",
                 f"{country} 的碳排放因子是近似的电网平均值（{c.get('value')} kg/kWh）；在报告中使用前请核实"),)  # fmt: skip
    if province:
        warn += ((f"--province {province} is ignored: provincial factors exist only for China (country {country})",
                  f"--province {province} 被忽略：仅中国有省级因子（当前国家 {country}）"),)  # fmt: skip
    return Factor(f"co2_factor_{country}", check_factor(f"co2.countries.{country}.value", c.get("value"), strict=False),
                  str(c.get("unit", "kgCO2/kWh")), str(c.get("source", "")), str(c.get("as_of", "")),
                  str(c.get("source_zh", "")), warnings=warn)  # fmt: skip


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
