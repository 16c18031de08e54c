"""`assess models` starts with a header row naming its columns, in the chosen language (review 13)."""

from __future__ import annotations

from rich.cells import cell_len
from typer.testing import CliRunner

from minewatch.cli import app


def _lines(lang: str) -> list[str]:
    r = CliRunner().invoke(app, ["--lang", lang, "assess", "models", "--algorithm", "sha256d"])
    assert r.exit_code == 0, r.output
    return r.stdout.splitlines()


def test_models_have_a_header_row_in_both_languages():
    en, zh = _lines("en"), _lines("zh")
    assert en[0].split() == ["Algorithm", "Model", "Hashrate", "Power", "Efficiency", "Released", "Cooling"]
    assert zh[0].split() == ["算法", "型号", "算力", "功率", "能效", "上市", "散热"]
    assert en[1].startswith("sha256d ") and zh[1].startswith("sha256d ")
    # each name starts over its column, counted in terminal cells (a Chinese character takes two)
    row = en[1]
    model_at = row.index("Antminer")
    release_at = next(i for i in range(len(row) - 10) if row[i : i + 4].isdigit() and row[i + 4] == "-")
    for header in (en[0], zh[0]):
        names = header.split()
        assert cell_len(header[: header.index(names[1])]) == model_at
        assert cell_len(header[: header.index(names[5])]) == release_at
