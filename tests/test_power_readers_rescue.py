"""Meter files that polars refuses or misreads as they are: a line with a field too many or a stray quote
in any layout, a GBK file with such a line, gzip/zstd compressed CSVs, UTF-16 ("Unicode text") CSVs,
a title row above a ragged line, and a metadata file with a stray quote (review of 2026-11-22).

Each line taken out is counted with the readings it stood for and named by file and line; a meter whose
row it was stays, its readings there as gaps; nothing else of the file is lost.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from minewatch.cli import app
from minewatch.errors import InputError
from minewatch.power.readers import read_file, read_files, read_meta, text_encoding


def _long_text(n: int = 72, header: str = "meter_id,ts,kwh") -> str:
    rows = [f"A,2024-01-{1 + h // 24:02d} {h % 24:02d}:00:00,{1.0 + (h % 3) / 10:.1f}" for h in range(n)]
    return header + "\n" + "\n".join(rows) + "\n"


def _unparsable(res) -> list[str]:
    return [i.detail for i in res.issues if i.kind == "unparsable"]


# -- 1. a line taken out is counted with its readings, in every layout ---------------------------------
def _points_csv(meters: int = 3, days: int = 5) -> tuple[str, list[str]]:
    cols = [f"{(k + 1) * 15 // 60:02d}:{(k + 1) * 15 % 60:02d}" for k in range(96)]
    lines = ["户号,日期," + ",".join(cols)]
    for m in range(meters):
        for d in range(days):
            lines.append(f"M{m},2024-01-{d + 1:02d}," + ",".join("1.5" for _ in cols))
    return "\n".join(lines) + "\n", lines


def test_a_ragged_points_line_is_96_rejected_readings_named_and_its_meter_kept(tmp_path):
    text, lines = _points_csv()
    good = read_file(_write(tmp_path / "p96.csv", text), unit="kwh")
    lines[7] += ",9"  # M1's 2024-01-02, line 8
    res = read_file(_write(tmp_path / "p96_ragged.csv", "\n".join(lines) + "\n"), unit="kwh")
    assert res.rejects.counts["unparsable line"] == 96
    assert good.readings - res.readings == 96
    (d,) = _unparsable(res)
    assert "96 reading(s) lost: line(s) 8" in d and "meter(s) M1 kept" in d
    assert sum(i.count for i in res.issues if i.kind == "unparsable") == 96
    m1 = next(s for s in res.series if s.meter_id == "M1")
    assert m1.kw.size == next(s for s in good.series if s.meter_id == "M1").kw.size
    assert int(np.isnan(m1.kw).sum()) == 96  # that day as gaps, nothing filled


def test_a_points_meter_whose_only_row_is_ragged_is_kept_as_gaps_not_lost(tmp_path):
    _text, lines = _points_csv(meters=2, days=1)
    lines[2] = lines[2].replace(",1.5,", ',"1.5,', 1)  # M1's only day: a stray quote
    res = read_file(_write(tmp_path / "p.csv", "\n".join(lines) + "\n"), unit="kwh")
    assert sorted(s.meter_id for s in res.series) == ["M0", "M1"]
    assert res.rejects.counts["unparsable line"] == 96
    assert "line(s) 3; meter(s) M1 kept" in _unparsable(res)[0]


def test_a_ragged_daily_row_is_its_days_of_readings_and_the_meter_stays(tmp_path):
    days = [f"2024-01-{d:02d}" for d in range(1, 31)]
    lines = ["CONS_NO," + ",".join(days)] + [f"C{m}," + ",".join("12.5" for _ in days) for m in range(4)]
    lines[2] += ",x"  # C1
    res = read_file(_write(tmp_path / "daily.csv", "\n".join(lines) + "\n"))
    assert res.rejects.counts["unparsable line"] == 30
    assert "unparsable meter id" not in res.rejects.counts
    assert sorted(s.meter_id for s in res.series) == ["C0", "C1", "C2", "C3"]
    c1 = next(s for s in res.series if s.meter_id == "C1")
    assert np.isnan(c1.kw).all()
    assert "30 reading(s) lost: line(s) 3; meter(s) C1 kept with these readings as gaps" in _unparsable(res)[0]


def test_a_ragged_wide_line_is_one_reading_per_meter_column(tmp_path):
    lines = ["ts,M1,M2,M3"] + [f"2024-01-01 {h:02d}:00,1.0,2.0,3.0" for h in range(24)]
    lines[5] += ",4.0"
    res = read_file(_write(tmp_path / "wide.csv", "\n".join(lines) + "\n"))
    assert res.rejects.counts["unparsable line"] == 3
    assert "3 reading(s) lost: line(s) 6" in _unparsable(res)[0]
    assert "unparsable timestamp" not in res.rejects.counts


def test_the_rescued_line_is_worded_in_chinese(tmp_path, tmp_home):
    _text, lines = _points_csv(meters=1, days=2)
    lines[1] += ",9"
    p = _write(tmp_path / "p.csv", "\n".join(lines) + "\n")
    r = CliRunner().invoke(app, ["--lang", "zh", "power", "scan", str(p), "--unit", "kwh", "--no-store"])
    assert r.exit_code == 0, r.output
    assert "无法按表格行读取" in r.stderr and "无法解析的行：96" in r.stderr, r.stderr


# -- 2. metadata: a stray quote ------------------------------------------------------------------------
def test_a_stray_quote_in_the_metadata_names_its_line_and_merges_nothing(tmp_path):
    meta = _write(tmp_path / "meta.csv", 'meter_id,tariff_class,business,contracted_kw\nR1,residential,home,8\n'
                  'R2,residential,home,5\nR3,"residential,home,5\nR4,residential,home,5\nR5,residential,home,5\n')
    with pytest.raises(InputError) as ei:
        read_meta(meta, [])
    assert ei.value.line == 4 and "malformed CSV" in str(ei.value)


def test_metadata_lines_are_numbered_as_the_file_has_them(tmp_path):
    meta = _write(tmp_path / "meta.csv", "meter_id,contracted_kw\n\nR1,abc\nR2,5\n")
    issues: list = []
    d = read_meta(meta, issues)
    assert sorted(d) == ["R1", "R2"] and d["R2"].contracted_kw == 5
    assert any("line 3" in i.detail for i in issues)


# -- 3. GBK with a ragged line -------------------------------------------------------------------------
def test_a_gbk_file_with_a_ragged_line_keeps_its_chinese_header_and_the_other_lines(tmp_path):
    text = _long_text(48, "电表编号,时间,功率")
    lines = text.splitlines()
    lines[9] += ",x"
    p = tmp_path / "gbk.csv"
    p.write_bytes(("\n".join(lines) + "\n").encode("gbk"))
    res = read_file(p)
    assert [s.meter_id for s in res.series] == ["A"]
    assert res.readings == 47 and res.rejects.counts["unparsable line"] == 1
    assert "line(s) 10" in _unparsable(res)[0]


# -- 4. compressed CSVs --------------------------------------------------------------------------------
def test_a_gzip_csv_reads_like_the_plain_one_title_rows_and_all(tmp_path):
    text = "XX供电公司用电信息采集系统 数据导出\n\n" + _long_text()
    plain = read_file(_write(tmp_path / "m.csv", text))
    gz = tmp_path / "m.csv.gz"
    gz.write_bytes(gzip.compress(text.encode()))
    res = read_file(gz)
    assert res.readings == plain.readings == 72
    assert np.array_equal(res.series[0].kw, plain.series[0].kw)


def test_a_gzip_csv_with_a_ragged_line_is_rescued_and_numbered_in_its_text(tmp_path):
    lines = _long_text().splitlines()
    lines[4] += ",x"
    gz = tmp_path / "m.csv.gz"
    gz.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode("gbk")))
    res = read_file(gz)
    assert res.readings == 71 and "line(s) 5" in _unparsable(res)[0]


def test_a_zstd_csv_is_read(tmp_path):
    pa = pytest.importorskip("pyarrow")
    p = tmp_path / "m.csv.zst"
    with pa.output_stream(str(p), compression="zstd") as out:
        out.write(("XX供电公司 数据导出\n\n" + _long_text()).encode())
    assert read_file(p).readings == 72


def test_a_truncated_gzip_csv_is_an_input_error(tmp_path):
    gz = tmp_path / "m.csv.gz"
    gz.write_bytes(gzip.compress(_long_text(500).encode())[:300])
    _res, errors = read_files([gz])
    assert errors and "compressed stream is broken or truncated" in str(errors[0])


# -- 5. UTF-16 -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("enc,bom", [("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff"), ("utf-16-le", b""),
                                     ("utf-16-be", b"")])
def test_excel_unicode_text_is_read_with_or_without_bom(tmp_path, enc, bom):
    text = _long_text(48, "电表编号\t时间\t功率").replace(",", "\t")
    p = tmp_path / "unicode.txt"
    p.write_bytes(bom + text.encode(enc))
    assert text_encoding(p.read_bytes()[:4096]) == enc
    res = read_file(p)
    assert [s.meter_id for s in res.series] == ["A"] and res.readings == 48


def test_text_encoding_tells_text_from_binary():
    assert text_encoding(b"meter_id,ts,kwh\nA,2024-01-01,1\n") == "utf-8"
    assert text_encoding("电表编号,时间\n".encode()) == "utf-8"
    assert text_encoding("电表编号,时间\n".encode("gbk")) == "gb18030"
    assert text_encoding("meter_id,ts\n".encode("utf-16")) in ("utf-16-le", "utf-16-be")
    assert text_encoding("meter_id,ts\n".encode("utf-16-le")) == "utf-16-le"
    assert text_encoding("meter_id,ts\n".encode("utf-16-be")) == "utf-16-be"
    assert text_encoding("电表编号,时间\n".encode()[:-2]) == "utf-8"  # a character cut by the read
    assert text_encoding(b"A,2024-01-01,1\n" * 100 + b"\x00" + b"A,2024-01-01,1\n") == "utf-8"  # one NUL
    # review 14: one line of 120 NULs among 40 is a damaged line (more than 1 % of the bytes, one line of 40)
    assert text_encoding(b"A,2024-01-01,1\n" * 20 + b"\x00" * 120 + b"\n" + b"A,2024-01-01,1\n" * 20) == "utf-8"
    pcap = b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00" + b"\x00" * 16 + bytes(range(256)) * 4
    assert text_encoding(pcap) is None
    assert text_encoding(gzip.compress(b"x" * 1000)) is None
    assert text_encoding(b"\x00\xff\xfe\x01" * 10) is None  # junk with NULs in every other byte is no UTF-16


# -- 6. a title row above a ragged line ----------------------------------------------------------------
def test_a_title_row_and_a_ragged_line_in_the_first_lines_keep_the_header(tmp_path):
    lines = ["XX供电公司用电信息采集系统 数据导出", "", *_long_text(48, "meter_id,ts,kw").splitlines()]
    lines[15] += ",x"
    lines[20] = lines[20].replace("A,", 'A,"', 1)
    res = read_file(_write(tmp_path / "g.csv", "\n".join(lines) + "\n"))
    assert [s.meter_id for s in res.series] == ["A"]
    assert res.readings == 46 and res.rejects.counts["unparsable line"] == 2
    assert "line(s) 16, 21" in _unparsable(res)[0]


def _write(p: Path, text: str) -> Path:
    p.write_text(text, encoding="utf-8")
    return p


def test_a_long_meter_whose_only_line_is_ragged_is_kept_as_a_gap(tmp_path):
    text = _long_text(48) + "B,2024-01-01 05:00:00,2.0,x\n"
    res = read_file(_write(tmp_path / "long.csv", text))
    assert sorted(s.meter_id for s in res.series) == ["A", "B"]
    assert res.rejects.counts["unparsable line"] == 1 and res.readings == 48
    assert "1 reading(s) lost: line(s) 50; meter(s) B kept with these readings as gaps" in _unparsable(res)[0]


def test_a_tab_separated_unicode_text_with_a_title_row_is_read(tmp_path):
    text = "XX供电公司用电信息采集系统 数据导出\n\n" + _long_text(48, "meter_id\tts\tkwh").replace(",", "\t")
    p = tmp_path / "unicode.txt"
    p.write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    res = read_file(p)
    assert [s.meter_id for s in res.series] == ["A"] and res.readings == 48
