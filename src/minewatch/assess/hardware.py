"""The mining-hardware catalog: what a machine hashes, what it draws, and since when it exists.

Why a catalog and not one "typical miner" constant: a site's kW means very different machine counts and
hashrates depending on the generation installed (an S9 needs ~98 J/TH, an S21 ~17.5), so every estimate
is given as a range over model classes, and every class names the model and the spec it rests on.

The built-in list is `minewatch/data/hardware.csv` (typed from vendor specifications, one `source` per
row). Users add or override models (matched by model name, case-insensitive) with their own CSV or YAML
in the same columns; Cambridge's `miners.csv` layout is read too, for the network index.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml

from minewatch.errors import InputError, Rejects
from minewatch.paths import package_data

#: Multipliers from a hashrate unit to H/s. Equihash counts solutions (Sol/s); treated as the "hash" unit.
HASH_UNITS: dict[str, float] = {
    "H/s": 1.0,
    "kH/s": 1e3,
    "MH/s": 1e6,
    "GH/s": 1e9,
    "TH/s": 1e12,
    "PH/s": 1e15,
    "EH/s": 1e18,
    "Sol/s": 1.0,
    "kSol/s": 1e3,
    "MSol/s": 1e6,
}

#: Efficiency units as joules per this many hashes.
EFF_UNITS: dict[str, float] = {
    "J/H": 1.0,
    "J/kH": 1e3,
    "J/MH": 1e6,
    "J/GH": 1e9,
    "J/TH": 1e12,
    "J/Sol": 1.0,
    "J/kSol": 1e3,
}

#: The display unit per algorithm (hashrates of a family are printed in one unit).
ALGO_UNIT: dict[str, str] = {
    "sha256d": "TH/s",
    "scrypt": "MH/s",
    "ethash": "MH/s",
    "etchash": "MH/s",
    "kheavyhash": "TH/s",
    "equihash": "kSol/s",
    "randomx": "kH/s",
}

#: Other spellings people and detectors use for the same algorithm.
ALGO_ALIASES: dict[str, str] = {
    "sha256": "sha256d",
    "sha-256": "sha256d",
    "sha-256d": "sha256d",
    "bitcoin": "sha256d",
    "btc": "sha256d",
    "ltc": "scrypt",
    "litecoin": "scrypt",
    "eth": "ethash",
    "etc": "etchash",
    "kaspa": "kheavyhash",
    "kas": "kheavyhash",
    "zec": "equihash",
    "zcash": "equihash",
    "xmr": "randomx",
    "monero": "randomx",
    "rx/0": "randomx",
    "cryptonight": "randomx",
    "cryptonote": "randomx",  # the hashrate family net/hashrate.py stores for Monero-style sessions
    "equihash-200-9": "equihash",  # Zcash's parameters, as net/coins.py names them
}

COOLING = ("air", "hydro", "immersion")

CSV_COLUMNS = (
    "model",
    "vendor",
    "series",
    "generation",
    "algorithm",
    "hashrate",
    "hashrate_unit",
    "power_w",
    "efficiency",
    "efficiency_unit",
    "release",
    "cooling",
    "launch_price_usd",
    "source",
)


def normalise_algorithm(algo: str) -> str:
    """The catalog's name for an algorithm, an alias, or a coin (name or ticker) as the detectors store them.

    Why coins too: a network finding often knows only the coin ("ethereum", "dogecoin"); the coin table of
    `minewatch.net.coins` gives its algorithm. Algorithms with no model in the catalog (x11, kawpow, ...)
    come back unchanged, so the catalog lookup refuses them by name.
    """
    a = algo.strip().lower()
    if a in ALGO_ALIASES:
        return ALGO_ALIASES[a]
    from minewatch.net.coins import COINS

    coin = COINS.get(a) or next((c for c in COINS.values() if c.symbol.lower() == a), None)
    if coin is not None:
        return ALGO_ALIASES.get(coin.algorithm, coin.algorithm)
    return a


@dataclass(frozen=True, slots=True)
class HardwareModel:
    """One machine model as its vendor specifies it (nominal, at the wall, stock settings)."""

    model: str
    vendor: str
    algorithm: str
    hashrate: float
    hashrate_unit: str
    power_w: float
    release: date | None
    cooling: str = "air"
    series: str | None = None
    generation: int | None = None
    efficiency: float | None = None
    efficiency_unit: str | None = None
    launch_price_usd: float | None = None
    source: str = ""

    @property
    def hashrate_hs(self) -> float:
        return self.hashrate * HASH_UNITS[self.hashrate_unit]

    @property
    def j_per_hash(self) -> float:
        """Efficiency from power and hashrate: the spec's own efficiency is only checked against it."""
        return self.power_w / self.hashrate_hs

    @property
    def j_per_th(self) -> float:
        return self.j_per_hash * 1e12

    @property
    def j_per_gh(self) -> float:
        return self.j_per_hash * 1e9

    @property
    def kw(self) -> float:
        return self.power_w / 1000.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["release"] = self.release.isoformat() if self.release else None
        d["j_per_hash"] = self.j_per_hash
        return d


class Catalog:
    """A list of models with lookups by name, algorithm and date."""

    def __init__(self, models: Iterable[HardwareModel]) -> None:
        self.models: list[HardwareModel] = list(models)
        self._by_key = {_key(m.model): m for m in self.models}

    def __len__(self) -> int:
        return len(self.models)

    def get(self, name: str) -> HardwareModel:
        """Exact name, else a unique prefix/substring match ("S19" finds "Antminer S19 (95Th)").

        Why fuzzy: an inspector types "S19" or "M30S++", not the catalog's full label. A name that is
        a whole series word ("S19": the S19 family) or a whole run of words ("S19 XP") means its
        shortest model, the base one. A name that only matches inside words ("S1": S15, S17, S19 ...)
        or the same series of two vendors ("KS3": Antminer and IceRiver) is ambiguous: a KeyError lists
        the candidates instead of silently taking one (the S15 for "S1" used to be taken). Nothing
        found raises KeyError too.
        """
        import re

        from minewatch.i18n import tr

        k = _key(name)
        if k in self._by_key:
            return self._by_key[k]
        hits = [m for m in self.models if k in _key(m.model)]
        if not hits:
            raise KeyError(tr(f"no hardware model matches {name!r}", f"没有与 {name!r} 匹配的矿机型号"))
        bound = re.compile(r"(?:^|\s)" + re.escape(k) + r"(?:\s|\(|$)")
        pool = [m for m in hits if bound.search(_key(m.model))]
        vendors = {m.model.split()[0] for m in pool}
        if not pool and len(hits) == 1:
            pool = hits
        if not pool or len(vendors) > 1:
            shown = ", ".join(m.model for m in sorted(pool or hits, key=lambda m: m.model)[:8])
            more = len(pool or hits) - 8
            tail = f" … (+{more})" if more > 0 else ""
            raise KeyError(tr(f"model name {name!r} is ambiguous: {shown}{tail}; give more of the name",
                              f"型号 {name!r} 有歧义：{shown}{tail}；请写出更完整的型号"))
        return sorted(pool, key=lambda m: (len(m.model), m.model))[0]

    def by_algorithm(self, algo: str) -> list[HardwareModel]:
        a = normalise_algorithm(algo)
        return [m for m in self.models if m.algorithm == a]

    def available(self, algorithm: str, at: date | None = None) -> list[HardwareModel]:
        """Models of an algorithm released on or before `at` (all of them when `at` is None)."""
        ms = self.by_algorithm(algorithm)
        if at is not None:
            ms = [m for m in ms if m.release is None or m.release <= at]
        return ms

    def typical(self, algorithm: str = "sha256d", at: date | None = None) -> HardwareModel:
        """The median-efficiency model among those released in the 4 years before `at`.

        Why median of recent models: a fleet is a mix of the last few generations (machines are
        written off in ~4-5 years, which is also CBECI 2023's cut-off), so neither the newest nor the
        oldest model describes it; the median is robust to one exotic flagship.
        """
        return self.classes(algorithm, at)["typical"]

    def classes(self, algorithm: str = "sha256d", at: date | None = None) -> dict[str, HardwareModel]:
        """Three model classes that bracket a fleet: efficient (best), typical (median), legacy (worst).

        Only models of the 4 years before `at` (or before the newest release when `at` is None) count,
        so a 2024 site is not bracketed by a 2015 S7. Only air-cooled models count when there are any:
        hydro and immersion need plant that a hidden site rarely has; name such a model explicitly.
        """
        ms = self.available(algorithm, at)
        ms = [m for m in ms if m.cooling == "air"] or ms
        if not ms:
            raise KeyError(f"no hardware model for algorithm {algorithm!r}" + (f" before {at}" if at else ""))
        dated = [m for m in ms if m.release is not None]
        newest = max(m.release for m in dated if m.release) if dated else None
        # The window ends at `at`, or at the newest release when the catalog stops more than 4 years earlier:
        # falling back to *all* models would make a 2015 S7 the legacy class of a 2029 site.
        ref = newest if at is None or (newest is not None and newest < _years_before(at, 4)) else at
        recent = ms
        if ref is not None:
            cut = _years_before(ref, 4)
            recent = [m for m in ms if m.release is None or m.release >= cut] or ms
        by_eff = sorted(recent, key=lambda m: (m.j_per_hash, m.model))
        return {"efficient": by_eff[0], "typical": by_eff[(len(by_eff) - 1) // 2], "legacy": by_eff[-1]}


def fleet_day(onset: datetime | date | None, until: datetime | date | None) -> date | None:
    """The day whose catalog describes a found fleet: its onset, else the end of the period (None: today).

    Why the onset: the machines behind a step in a meter's load, or behind a miner's first connection,
    were running on that day, so they are models released by then. The power detector (machines in its
    evidence) and the impact assessment (machines, hashrate, revenue) both take the fleet from this day,
    so the two never name different machines for one finding (review 12: the detector sized a 2021 load
    with the typical model at its onset, the assessment with the one at the end of the data)."""
    d = onset if onset is not None else until
    if d is None:
        return None
    return d.date() if isinstance(d, datetime) else d


def fleet_classes(catalog: Catalog, algorithm: str, day: date | None) -> tuple[dict[str, HardwareModel], date | None]:
    """The model classes of a fleet running on `day`, and the catalog's first release when `day` precedes it.

    Why not an error before the first model: a meter's kW gives the kWh, coal and CO2 whatever the machines
    are, and a load switched on in 2013 must not lose them because the catalog starts in 2015. The earliest
    models stand in, and the returned first-release date makes the caller say so: they are more efficient
    than the machines of that time, so the hashrate (and revenue) from a kW is an upper bound. Raises
    KeyError when the algorithm has no dated model at all."""
    try:
        return catalog.classes(algorithm, day), None
    except KeyError:
        dated = [m.release for m in catalog.by_algorithm(algorithm) if m.release is not None]
        if day is None or not dated:
            raise
        first = min(dated)
        return catalog.classes(algorithm, first), first


def _years_before(day: date, years: int) -> date:
    return date(day.year - years, day.month, min(day.day, 28))


def newest_release(catalog: Catalog, algorithm: str, at: date | None = None) -> date | None:
    """The latest release date among the catalog's models of `algorithm` released by `at`."""
    dates = [m.release for m in catalog.available(algorithm, at) if m.release is not None]
    return max(dates) if dates else None


def _key(name: str) -> str:
    return " ".join(name.lower().split())


def _parse_release(text: str) -> date | None:
    t = text.strip()
    if not t:
        return None
    if t.isdigit() and len(t) >= 9:  # UNIX seconds (Cambridge layout)
        return datetime.fromtimestamp(int(t), tz=UTC).date()
    parts = t.split("-")
    if len(parts) == 2:
        return date(int(parts[0]), int(parts[1]), 1)
    return date.fromisoformat(t)


def _opt_float(text: Any) -> float | None:
    if text is None:
        return None
    t = str(text).strip()
    return float(t) if t else None


def _row_to_model(row: dict[str, Any]) -> HardwareModel:
    """A project-layout row to a model; raises ValueError/KeyError with the reason."""
    if "Efficiency_J_Gh" in row:  # Cambridge miners.csv layout: efficiency and date only
        eff = float(row["Efficiency_J_Gh"])
        if eff <= 0:
            raise ValueError("efficiency must be > 0")
        # Cambridge gives no hashrate; 1 TH/s at the stated efficiency keeps power/hashrate = efficiency.
        return HardwareModel(
            model=str(row["Miner_name"]).strip(),
            vendor=str(row["Miner_name"]).split()[0],
            algorithm="sha256d",
            hashrate=1.0,
            hashrate_unit="TH/s",
            power_w=eff * 1000.0,
            release=_parse_release(str(row["UNIX_date_of_release"])),
            efficiency=eff,
            efficiency_unit="J/GH",
            source="CBECI miners.csv",
        )
    hr_unit = str(row["hashrate_unit"]).strip()
    if hr_unit not in HASH_UNITS:
        raise ValueError(f"unknown hashrate_unit {hr_unit!r}")
    eff_unit = str(row.get("efficiency_unit") or "").strip() or None
    if eff_unit is not None and eff_unit not in EFF_UNITS:
        raise ValueError(f"unknown efficiency_unit {eff_unit!r}")
    hashrate = float(row["hashrate"])
    power = float(row["power_w"])
    if hashrate <= 0 or power <= 0:
        raise ValueError("hashrate and power_w must be > 0")
    cooling = str(row.get("cooling") or "air").strip().lower()
    if cooling not in COOLING:
        raise ValueError(f"cooling must be one of {COOLING}")
    gen = str(row.get("generation") or "").strip()
    return HardwareModel(
        model=str(row["model"]).strip(),
        vendor=str(row.get("vendor") or "").strip(),
        algorithm=normalise_algorithm(str(row["algorithm"])),
        hashrate=hashrate,
        hashrate_unit=hr_unit,
        power_w=power,
        release=_parse_release(str(row.get("release") or "")),
        cooling=cooling,
        series=(str(row.get("series") or "").strip() or None),
        generation=int(gen) if gen else None,
        efficiency=_opt_float(row.get("efficiency")),
        efficiency_unit=eff_unit,
        launch_price_usd=_opt_float(row.get("launch_price_usd")),
        source=str(row.get("source") or "").strip(),
    )


def read_models(path: str | Path, rejects: Rejects | None = None) -> list[HardwareModel]:
    """Read a hardware list: project CSV, Cambridge `miners.csv`, or YAML (a list, or {models: [...]}).

    Bad rows are counted in `rejects` and skipped; a file with no usable row at all raises InputError.
    """
    p = Path(path)
    rejects = rejects if rejects is not None else Rejects()
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise InputError(f"cannot read hardware list: {e.strerror}", path=str(p)) from e
    rows: list[tuple[int, dict[str, Any]]]
    if p.suffix.lower() in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            raise InputError(
                "invalid YAML", path=str(p), line=(mark.line + 1) if mark else None
            ) from e
        if isinstance(data, dict):
            data = data.get("models")
        if not isinstance(data, list):
            raise InputError("YAML hardware list must be a list of models or {models: [...]}", path=str(p))
        rows = [(i + 1, r) for i, r in enumerate(data) if isinstance(r, dict)]
    else:
        reader = csv.DictReader(io.StringIO(text))
        fields = set(reader.fieldnames or [])
        if not ({"model", "algorithm", "hashrate", "hashrate_unit", "power_w"} <= fields
                or {"Miner_name", "UNIX_date_of_release", "Efficiency_J_Gh"} <= fields):  # fmt: skip
            raise InputError(
                "hardware CSV needs columns model,algorithm,hashrate,hashrate_unit,power_w "
                "(or Cambridge's Miner_name,UNIX_date_of_release,Efficiency_J_Gh)",
                path=str(p),
                line=1,
            )
        rows = [(reader.line_num, r) for r in reader]
    models: list[HardwareModel] = []
    for line, r in rows:
        try:
            models.append(_row_to_model(r))
        except (KeyError, ValueError, TypeError) as e:
            rejects.add(f"bad hardware row: {e}", f"{p}:{line}")
    if not models:
        raise InputError("no usable hardware model in file", path=str(p))
    return models


def load_catalog(extra: str | Path | None = None, rejects: Rejects | None = None) -> Catalog:
    """The built-in catalog, with the models of `extra` (CSV or YAML) added or replacing same-named ones."""
    models = {_key(m.model): m for m in read_models(package_data("hardware.csv"), rejects)}
    if extra is not None:
        for m in read_models(extra, rejects):
            models[_key(m.model)] = m
    return Catalog(models.values())
