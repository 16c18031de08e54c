"""Review 15 of the meter readers and `minewatch power scan`: a title row holding a delimiter does not
decide a file's delimiter; the summary's "N of M readings used" counts readings lost to rejected lines; a
cut gzip names where it ended and a compressed `--meta` is read; a workbook's sheet of notes is named."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from minewatch.cli import app
from minewatch.power.readers import read_file, read_files, read_meta


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


# -- 3. a cut gzip names where it ended; a compressed --meta is read --------------------------------------
def _gz_text(rows: int = 2000) -> bytes:
    return ("meter_id,ts,kwh\n" + "\n".join(_long_rows(rows)) + "\n").encode()


def test_a_cut_gzip_meter_file_names_the_byte_of_the_file_and_the_text_where_it_ended(tmp_path):
    from minewatch.sources.pcap import DecompressedInputError

    text = _gz_text()
    whole = gzip.compress(text)
    p = tmp_path / "m.csv.gz"
    p.write_bytes(whole[: len(whole) // 2])
    _res, errors = read_files([p])
    (e,) = errors
    assert isinstance(e, DecompressedInputError) and e.path == str(p)
    assert e.compressed_at == len(whole) // 2  # the file ends there
    assert 0 < e.offset < len(text) and text.startswith(text[: e.offset])
    got = text[: e.offset]
    line = got.count(b"\n") + (0 if got.endswith(b"\n") else 1)
    assert f"byte {e.offset} of the decompressed stream (compressed file read up to byte {len(whole) // 2})" in str(e)
    assert f"the text ends in line {line})" in str(e)


def test_a_damaged_gzip_meter_file_names_the_damaged_byte(tmp_path):
    from minewatch.sources.pcap import DecompressedInputError

    raw = bytearray(gzip.compress(_gz_text(), mtime=0))
    raw[10] |= 0x06  # the first deflate block (after the 10-byte gzip header) of a type that does not exist
    p = tmp_path / "m.csv.gz"
    p.write_bytes(bytes(raw))
    _res, errors = read_files([p])
    (e,) = errors
    assert isinstance(e, DecompressedInputError) and e.compressed_at == 10 and e.offset == 0, str(e)


def test_a_cut_zstd_meter_file_names_the_text_position(tmp_path):
    import pyarrow as pa

    from minewatch.sources.pcap import DecompressedInputError

    full = tmp_path / "full.zst"
    text = _gz_text(40_000)
    with pa.output_stream(str(full), compression="zstd") as out:
        out.write(text)
    z = full.read_bytes()
    p = tmp_path / "m.csv.zst"
    p.write_bytes(z[: len(z) * 3 // 4])
    _res, errors = read_files([p])
    (e,) = errors
    assert isinstance(e, DecompressedInputError) and e.offset is not None and e.offset > 0
    got = text[: e.offset]
    line = got.count(b"\n") + (0 if got.endswith(b"\n") else 1)
    assert f"the text ends in line {line})" in str(e)


def test_power_scan_names_the_cut_gzip_in_both_languages(tmp_path, tmp_home):
    whole = gzip.compress(_gz_text())
    p = tmp_path / "m.csv.gz"
    p.write_bytes(whole[:400])
    r = CliRunner().invoke(app, ["--lang", "en", "power", "scan", str(p), "--no-store"])
    assert r.exit_code == 4, r.output
    assert f"{p}, byte " in r.stderr and "(compressed file read up to byte 400)" in _flat(r.stderr), r.stderr
    zh = CliRunner().invoke(app, ["--lang", "zh", "power", "scan", str(p), "--no-store"])
    out = _flat(zh.stderr).replace(" ", "")
    assert "（压缩文件已读到第400字节）" in out and "压缩文件在数据流结束标记之前就已结束；文本止于第" in out, zh.stderr


@pytest.mark.parametrize("kind", ["gz", "zst"])
def test_a_compressed_meta_file_is_read(tmp_path, tmp_home, kind):
    import pyarrow as pa

    text = b"meter_id,tariff_class,contracted_kw\nA,residential,8\nB,commercial,50\n"
    p = tmp_path / f"meta.csv.{kind}"
    if kind == "gz":
        p.write_bytes(gzip.compress(text))
    else:
        with pa.output_stream(str(p), compression="zstd") as out:
            out.write(text)
    meta = read_meta(p)
    assert sorted(meta) == ["A", "B"] and meta["A"].tariff_class == "residential"
    data = tmp_path / "long.csv"
    data.write_text("meter_id,ts,kwh\n" + "\n".join(_long_rows(480)) + "\n")
    r = CliRunner().invoke(app, ["--lang", "en", "power", "scan", str(data), "--meta", str(p), "--no-store"])
    assert r.exit_code == 0 and "metadata rows for meters not in the data: 1 (B)" in r.stderr, r.output


def test_a_cut_gzip_meta_file_is_named_with_its_position(tmp_path, tmp_home):
    whole = gzip.compress(("meter_id,tariff_class\n" + "".join(f"M{k},residential\n" for k in range(3000))).encode())
    p = tmp_path / "meta.csv.gz"
    p.write_bytes(whole[: len(whole) // 2])
    data = tmp_path / "long.csv"
    data.write_text("meter_id,ts,kwh\n" + "\n".join(_long_rows(48)) + "\n")
    r = CliRunner().invoke(app, ["--lang", "en", "power", "scan", str(data), "--meta", str(p), "--no-store"])
    assert r.exit_code == 2, r.output
    assert f"(compressed file read up to byte {len(whole) // 2})" in _flat(r.stderr), r.stderr


# -- 5. a workbook's sheet of notes is named with why it was skipped ---------------------------------------
def _book(path: Path, notes: list[list[str]] | None, name: str = "Notes", values: bool = True) -> Path:
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Readings")
    ws.write_row(0, 0, ["meter_id", "ts", "kwh"])
    for i, row in enumerate(_long_rows(480)):
        m, t, v = row.split(",")
        ws.write_row(i + 1, 0, [m, t, float(v) if values else ""])
    if notes is not None:
        n = wb.add_worksheet(name)
        for i, r in enumerate(notes):
            n.write_row(i, 0, r)
    wb.close()
    return path


def _skipped(res) -> list[str]:
    return [i.detail for i in res.issues if i.kind == "sheet_skipped"]


@pytest.mark.parametrize(("notes", "why"), [
    ([["Exported from the AMI head-end"]],
     "no table of readings (a header and data rows), its first cell reads 'Exported from the AMI head-end'"),
    ([["meter_id", "date", "remark"], ["A", "2024-01-03", "meter replaced"], ["A", "2024-01-09", "estimated"]],
     "holds no readings: no number in column(s) 'remark' (a sheet of notes?)"),
    ([], "empty sheet"),
])
def test_a_sheet_of_notes_is_named_with_why(tmp_path, notes, why):
    res = read_file(_book(tmp_path / "book.xlsx", notes))
    assert _skipped(res) == [f"book.xlsx: sheet Notes: {why}; skipped"]
    # the notes do not reach the meter: no duplicate, unparsable value or unit assumed from them
    assert res.readings == 480 and res.readings_used == 480 and not res.rejects.total
    assert not any("[Notes]" in i.detail for i in res.issues)


def test_power_scan_names_the_notes_sheet_in_both_languages(tmp_path, tmp_home):
    p = _book(tmp_path / "book.xlsx", [["户号", "日期", "备注"], ["A", "2024-01-03", "换表"]], name="说明")
    en = CliRunner().invoke(app, ["--lang", "en", "power", "scan", str(p), "--no-store"])
    assert en.exit_code == 0, en.output
    out = _flat(en.stderr)
    assert "spreadsheet sheets skipped: 1" in out and "480 of 480 readings used" in out
    assert "book.xlsx: sheet 说明: holds no readings: no number in column(s) '备注' (a sheet of notes?); skipped" in out
    zh = CliRunner().invoke(app, ["--lang", "zh", "power", "scan", str(p), "--no-store"])
    assert "book.xlsx：工作表 说明：没有读数：列 '备注' 中没有数字（可能是说明页）；已跳过" in _flat(zh.stderr), zh.stderr


def test_a_sheet_with_empty_value_cells_is_still_read_as_gaps(tmp_path):
    res = read_file(_book(tmp_path / "book.xlsx", None, values=False))
    assert [s.meter_id for s in res.series] == ["A"] and not _skipped(res)


def test_a_workbook_of_notes_only_names_each_sheet(tmp_path):
    import xlsxwriter

    from minewatch.errors import InputError
    from minewatch.messages_zh import error_text

    p = tmp_path / "notes.xlsx"
    wb = xlsxwriter.Workbook(str(p))
    wb.add_worksheet("Sheet1")
    wb.add_worksheet("说明").write(0, 0, "备注")
    wb.close()
    with pytest.raises(InputError) as e:
        read_file(p)
    assert e.value.message == ("spreadsheet has no sheet with a header and data rows (Sheet1: empty sheet; 说明: no "
                               "table of readings (a header and data rows), its first cell reads '备注')")
    assert error_text(e.value, "zh").endswith("电子表格中没有带表头和数据行的工作表（Sheet1：空工作表；说明：没有读数表格"
                                              "（表头和数据行），第一个单元格为 '备注'）")
