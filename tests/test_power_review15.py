"""Review 15 of the meter readers and `minewatch power scan`: a title row holding a delimiter does not
decide a file's delimiter; the summary's "N of M readings used" counts readings lost to rejected lines; a
cut gzip names where it ended and a compressed `--meta` is read; a workbook's sheet of notes is named."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from typer.testing import CliRunner

from minewatch.cli import app
from minewatch.power.readers import read_file, read_meta


def _long_rows(n: int = 48, delim: str = ",", dec: str = ".") -> list[str]:
    t0 = dt.datetime(2024, 1, 1)
    return [delim.join(["A", f"{t0 + dt.timedelta(hours=h):%Y-%m-%d %H:%M:%S}", f"1{dec}{h % 3 + 1}"])
            for h in range(n)]


def _flat(text: str) -> str:
    return " ".join(text.replace("│", " ").split())


# -- 1. a title row holding a comma (or semicolon) does not decide the delimiter -------------------------
@pytest.mark.parametrize(("title", "delim", "dec"), [
    ("Load report, site 3", ";", ","),       # semicolon table with decimal commas below a comma title
    ("Load report, site 3", ";", "."),
    ("Load report, site 3", "\t", "."),
    ("Report; unit kWh", ",", "."),           # comma table below a semicolon title
    ("用电报表, 台区 3; 导出", "\t", ","),
])
def test_a_title_row_with_a_delimiter_does_not_decide_the_delimiter(tmp_path, title, delim, dec):
    text = title + "\n" + "\n".join([delim.join(["meter_id", "ts", "kwh"]), *_long_rows(48, delim, dec)]) + "\n"
    p = tmp_path / "t.csv"
    p.write_text(text, encoding="utf-8")
    res = read_file(p)
    assert [s.meter_id for s in res.series] == ["A"] and res.readings == 48
    (s,) = res.series
    assert res.readings_used == 48
    v = s.kw
    assert sorted(set(np.round(v[np.isfinite(v)], 3).tolist())) == [1.1, 1.2, 1.3]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_a_bom_and_a_title_with_a_comma_above_a_tab_table(tmp_path, encoding):
    text = "Load data, exported 2024-05-01\n" + "\n".join(["meter_id\tts\tkwh", *_long_rows(48, "\t")]) + "\n"
    p = tmp_path / "unicode.txt"
    p.write_bytes(text.encode(encoding))
    res = read_file(p)
    assert [s.meter_id for s in res.series] == ["A"] and res.readings == 48 and res.readings_used == 48


def test_a_title_with_a_comma_above_a_semicolon_meta_file(tmp_path):
    p = tmp_path / "meta.csv"
    p.write_text("Customer list, site 3\nmeter_id;tariff_class;contracted_kw\nA;residential;8\nB;commercial;50\n",
                 encoding="utf-8")
    meta = read_meta(p)
    assert sorted(meta) == ["A", "B"] and meta["B"].contracted_kw == 50.0


def test_power_scan_reads_a_semicolon_table_below_a_comma_title(tmp_path, tmp_home):
    p = tmp_path / "t.csv"
    p.write_text("Load report, site 3\n" + "\n".join(["meter_id;ts;kwh", *_long_rows(480, ";", ",")]) + "\n")
    r = CliRunner().invoke(app, ["power", "scan", str(p), "--no-store"])
    assert r.exit_code == 0, r.output
    assert "480 of 480 readings used" in _flat(r.stderr), r.stderr
