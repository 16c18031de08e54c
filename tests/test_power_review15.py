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


# -- 2. "N of M readings used" counts the readings lost to rejected lines ---------------------------------
def _wide_text(rows: int = 24 * 20, meters: int = 3) -> list[str]:
    t0 = dt.datetime(2024, 3, 1)
    head = "timestamp," + ",".join(f"M{k + 1}" for k in range(meters))
    return [head] + [f"{t0 + dt.timedelta(hours=h):%Y-%m-%d %H:%M}," + ",".join(f"{k + 1}.0" for k in range(meters))
                     for h in range(rows)]


def test_a_wide_line_polars_refuses_counts_in_the_readings_of_the_summary(tmp_path, tmp_home):
    lines = _wide_text()
    lines[100] += ",9.0"  # a field too many: the line stands for 3 readings, one per meter
    p = tmp_path / "wide.csv"
    p.write_text("\n".join(lines) + "\n")
    res = read_file(p)
    assert res.readings == 3 * 479 and res.lost == 3
    for lang, want in (("en", "1,437 of 1,440 readings used"), ("zh", "使用 1,437 / 1,440 条读数")):
        r = CliRunner().invoke(app, ["--lang", lang, "power", "scan", str(p), "--no-store"])
        assert r.exit_code == 0, r.output
        assert want in _flat(r.stderr), r.stderr


def test_a_wide_row_with_a_bad_timestamp_counts_its_readings(tmp_path, tmp_home):
    lines = _wide_text()
    lines[50] = "not a time," + lines[50].split(",", 1)[1]
    lines[60] = "31.02.2024 99:00,1.0,,3.0"  # two readings in the row, one cell empty
    p = tmp_path / "wide.csv"
    p.write_text("\n".join(lines) + "\n")
    res = read_file(p)
    assert res.rejects.counts["unparsable timestamp"] == 5 and res.lost == 5
    (issue,) = [i for i in res.issues if "timestamp" in i.detail]
    assert issue.count == 5 and "in 2 line(s) holding 5 reading(s): 51, 61" in issue.detail
    r = CliRunner().invoke(app, ["--lang", "zh", "power", "scan", str(p), "--no-store"])
    assert "2行的时间戳无法解析（共5个读数）：第51、61行" in _flat(r.stderr).replace(" ", ""), r.stderr
    r = CliRunner().invoke(app, ["--lang", "en", "power", "scan", str(p), "--no-store"])
    assert "1,434 of 1,439 readings used" in _flat(r.stderr), r.stderr  # 1,440 cells, one of them empty


def test_a_long_row_without_meter_id_counts_as_one_reading_lost(tmp_path):
    lines = ["meter_id,ts,kwh", *_long_rows(48)]
    lines[5] = "," + lines[5].split(",", 1)[1]
    p = tmp_path / "long.csv"
    p.write_text("\n".join(lines) + "\n")
    res = read_file(p)
    assert res.readings == 47 and res.lost == 1 and res.rejects.counts["unparsable meter id"] == 1
