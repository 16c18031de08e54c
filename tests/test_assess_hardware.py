"""The hardware catalog: coverage, internal consistency, lookups and user overrides."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date

import pytest

from minewatch.assess.hardware import EFF_UNITS, HASH_UNITS, load_catalog, read_models
from minewatch.errors import InputError, Rejects
from minewatch.paths import package_data


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    with package_data("hardware.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_catalog_size_and_coverage():
    cat = load_catalog()
    assert len(cat) >= 60
    algos = {m.algorithm for m in cat.models}
    assert {"sha256d", "scrypt", "ethash", "etchash", "kheavyhash", "equihash", "randomx"} <= algos
    names = " | ".join(m.model for m in cat.models)
    for needle in ("S9", "S21 XP Hyd", "M20S", "M66S", "AvalonMiner 1047", "A15", "Ebit", "L7", "L9", "E9 Pro",
                   "KS3", "KS5", "Z15", "Ryzen"):  # fmt: skip
        assert needle in names, needle
    assert {m.cooling for m in cat.models} == {"air", "hydro", "immersion"}


def test_efficiency_equals_power_over_hashrate(rows):
    """The typed efficiency column must agree with power / hashrate (within rounding of the spec sheet)."""
    for r in rows:
        assert r["hashrate_unit"] in HASH_UNITS, r["model"]
        assert r["efficiency_unit"] in EFF_UNITS, r["model"]
        j_per_hash = float(r["power_w"]) / (float(r["hashrate"]) * HASH_UNITS[r["hashrate_unit"]])
        stated = float(r["efficiency"]) / EFF_UNITS[r["efficiency_unit"]]
        assert j_per_hash == pytest.approx(stated, rel=0.01), r["model"]


def test_every_row_has_source_release_and_sane_ranges(rows):
    for r in rows:
        assert r["source"].strip(), r["model"]
        assert r["release"].strip(), r["model"]
        assert date(2014, 1, 1) <= date.fromisoformat(r["release"] + "-01") <= date(2026, 1, 1)
        assert 50 <= float(r["power_w"]) <= 10_000, r["model"]
    sha = [r for r in rows if r["algorithm"] == "sha256d"]
    for r in sha:  # SHA-256 ASICs: 10-300 J/TH across 2015-2025
        assert 10 <= float(r["power_w"]) / float(r["hashrate"]) <= 300, r["model"]
    assert len({r["model"].lower() for r in rows}) == len(rows), "duplicate model names"


def test_release_dates_ordered_within_series(rows):
    """A later generation of a series never appears before an earlier one."""
    first: dict[str, dict[int, date]] = defaultdict(dict)
    for r in rows:
        if not r["generation"]:
            continue
        d = date.fromisoformat(r["release"] + "-01")
        g = int(r["generation"])
        s = first[r["series"]]
        s[g] = min(s.get(g, d), d)
    checked = 0
    for series, gens in first.items():
        ordered = [gens[g] for g in sorted(gens)]
        assert ordered == sorted(ordered), series
        checked += len(gens) > 1
    assert checked >= 5


def test_efficiency_improves_across_antminer_generations():
    cat = load_catalog()
    best = {}
    for m in cat.by_algorithm("sha256d"):
        if m.series == "Antminer S":
            best[m.generation] = min(best.get(m.generation, 1e9), m.j_per_th)
    gens = sorted(best)
    assert [best[g] for g in gens] == sorted((best[g] for g in gens), reverse=True)


def test_get_by_short_name_and_aliases():
    cat = load_catalog()
    assert cat.get("S19").model == "Antminer S19 (95Th)"
    assert cat.get("antminer s19 pro (110th)").hashrate == 110
    assert cat.get("M30S++").power_w == 3472
    assert cat.by_algorithm("xmr") == cat.by_algorithm("randomx")
    with pytest.raises(KeyError):
        cat.get("no such miner 9000")


def test_typical_and_classes_depend_on_date():
    cat = load_catalog()
    c2019 = cat.classes("sha256d", date(2019, 6, 1))
    assert all(m.release <= date(2019, 6, 1) for m in c2019.values())
    assert c2019["efficient"].j_per_th <= c2019["typical"].j_per_th <= c2019["legacy"].j_per_th
    t2024 = cat.typical("sha256d", date(2024, 6, 1))
    assert t2024.j_per_th < c2019["typical"].j_per_th
    assert t2024.cooling == "air"


def test_user_csv_overrides_and_extends(tmp_path):
    p = tmp_path / "mine.csv"
    p.write_text(
        "model,vendor,algorithm,hashrate,hashrate_unit,power_w,release,cooling,source\n"
        "Antminer S19 (95Th),Bitmain,sha256d,95,TH/s,3000,2020-05,air,my measurement\n"
        "Homebrew X1,me,sha256,10,TH/s,500,2023-01-15,immersion,lab\n"
        "Broken,me,sha256d,abc,TH/s,500,2023-01,air,oops\n",
        encoding="utf-8",
    )
    rej = Rejects()
    cat = load_catalog(p, rejects=rej)
    assert cat.get("Antminer S19 (95Th)").power_w == 3000
    assert cat.get("Homebrew X1").algorithm == "sha256d"
    assert cat.get("Homebrew X1").j_per_th == pytest.approx(50)
    assert rej.total == 1 and "mine.csv:4" in rej.examples[0]
    assert len(cat) == len(load_catalog()) + 1


def test_user_yaml(tmp_path):
    p = tmp_path / "mine.yaml"
    p.write_text(
        "models:\n  - {model: Rig Z, vendor: me, algorithm: ethash, hashrate: 500, hashrate_unit: MH/s,"
        " power_w: 1200, release: 2021-03, cooling: air, source: test}\n",
        encoding="utf-8",
    )
    m = load_catalog(p).get("Rig Z")
    assert m.hashrate_hs == 500e6 and m.release == date(2021, 3, 1)


def test_bad_files_raise_input_error(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("foo,bar\n1,2\n", encoding="utf-8")
    with pytest.raises(InputError) as e:
        read_models(p)
    assert "x.csv" in str(e.value) and "line 1" in str(e.value)
    y = tmp_path / "x.yaml"
    y.write_text("models: [\n", encoding="utf-8")
    with pytest.raises(InputError):
        read_models(y)


@pytest.mark.shared
def test_reads_cambridge_layout(shared):
    ms = read_models(shared / "cbeci" / "miners.csv")
    assert len(ms) == 90
    s19 = next(m for m in ms if m.model == "Bitmain Antminer S19 Pro (110Th)")
    assert s19.j_per_gh == pytest.approx(0.02955)
    assert s19.release == date(2020, 5, 1)


def test_ambiguous_model_names_are_refused_with_the_candidates():
    """`--model S1` silently took the S15 and `KS3` the IceRiver over the Antminer (shortest name won)."""
    import pytest

    from minewatch.assess.hardware import load_catalog

    cat = load_catalog()
    for name in ("S1", "KS3"):
        with pytest.raises(KeyError, match="ambiguous") as e:
            cat.get(name)
        assert name in e.value.args[0]
    with pytest.raises(KeyError, match="Antminer KS3"):
        cat.get("KS3")
    # a whole series word or run of words still means that series' base model
    assert cat.get("S19").model.startswith("Antminer S19 (")
    assert cat.get("S19 XP").model.startswith("Antminer S19 XP (")
    assert cat.get("IceRiver KS3").model.startswith("IceRiver KS3")
