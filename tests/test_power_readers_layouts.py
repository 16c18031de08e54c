"""Meter exports as they come from the field: the day-by-points layout (96点负荷曲线) and the London LCL layout.

Why: a provincial grid's acquisition system exports one row per meter and day with 96 (or 24, 48, 288)
point columns, and the best-known public smart-meter set (UK Power Networks' LCL) names its meter
`LCLid`, its value `KWH/hh (per half hour) ` and writes `Null` for a missing reading. Both were
misread as wide tables (every point column taken for a meter). These tests write such files with a
known rig and check the readings land on the right meter, time and unit, and that bad cells are
named while missing-value words stay gaps.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from minewatch.power.readers import point_columns, read_file
from minewatch.power.scan import scan_series

RIG_KW = 6.6
RIG_DAY = 40


def _day_rows(rng: np.random.Generator, meters: int, days: int, n: int, rig_meter: int) -> list[tuple[str, date, np.ndarray]]:
    out = []
    for m in range(meters):
        for d in range(days):
            v = np.abs(rng.normal(2.0, 0.8, n)) + 0.5 * np.sin(np.linspace(0, 2 * np.pi, n, endpoint=False))
            if m == rig_meter and d >= RIG_DAY:
                v = v + RIG_KW
            out.append((f"3100{m:02d}", date(2024, 3, 1) + timedelta(days=d), v))
    return out


def test_96_point_export_with_time_names_in_gb18030(tmp_path):
    rng = np.random.default_rng(5)
    names = [f"{(15 * (k + 1)) // 60:02d}:{(15 * (k + 1)) % 60:02d}" for k in range(96)]  # 00:15 … 24:00
    lines = ["户号,日期," + ",".join(names)]
    for mid, day, v in _day_rows(rng, 4, 70, 96, rig_meter=2):
        cells = [f"{x:.3f}" for x in v]
        lines.append(f"{mid},{day:%Y/%m/%d}," + ",".join(cells))
    lines[5] = lines[5].replace(",", ",abc", 3).replace(",abc", ",", 2)  # one bad cell in data row 4
    lines[7] = ",".join([*lines[7].split(",")[:10], "Null", "-", *lines[7].split(",")[12:]])  # missing words
    p = tmp_path / "p96.csv"
    p.write_bytes(("\n".join(lines) + "\n").encode("gb18030"))
    r = read_file(p)
    assert r.layout == "points"
    assert sorted(s.meter_id for s in r.series) == ["310000", "310001", "310002", "310003"]
    s = next(s for s in r.series if s.meter_id == "310002")
    assert s.interval_s == 900 and s.kw.size == 70 * 96
    # slot 0 is 2024-03-01 00:15 (the first column's name), kW as written (a load curve)
    assert s.start_s == int(np.datetime64("2024-03-01T00:15", "s").astype(np.int64))
    assert np.nanmean(s.kw[RIG_DAY * 96:]) - np.nanmean(s.kw[: RIG_DAY * 96]) == pytest.approx(RIG_KW, abs=0.15)
    bad = [i for i in r.issues if i.kind == "unparsable"]
    assert len(bad) == 1 and bad[0].count == 1 and "line 6" in bad[0].detail
    assert r.rejects.counts["unparsable value"] == 1  # "Null" and "-" are gaps, not unparsable values
    gaps = sum(i.count for i in r.issues if i.kind == "gap")
    assert gaps == 3  # the bad cell and the two missing words
    assert any(i.kind == "unit_assumed" for i in r.issues)
    found = scan_series(r.series, with_impact=False)
    top = max(found.scores, key=lambda x: x.score)
    assert top.meter_id == "310002" and top.finding is not None
    assert abs((top.finding.onset.date() - date(2024, 3, 1)).days - RIG_DAY) <= 1


def test_numbered_points_with_an_energy_data_item(tmp_path):
    rng = np.random.default_rng(6)
    lines = ["meter_no,data_date,数据项," + ",".join(f"P{k}" for k in range(1, 97))]
    for mid, day, v in _day_rows(rng, 3, 50, 96, rig_meter=0):
        lines.append(f"{mid},{day:%Y-%m-%d},正向有功电量," + ",".join(f"{x / 4:.4f}" for x in v))  # kWh per 15 min
    p = tmp_path / "p96_energy.csv"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = read_file(p)
    assert r.layout == "points"
    assert not any(i.kind == "unit_assumed" for i in r.issues)  # the data item says energy
    s = next(s for s in r.series if s.meter_id == "310000")
    assert s.start_s == int(np.datetime64("2024-03-01T00:00", "s").astype(np.int64))  # P1 starts the day
    assert np.nanmean(s.kw[RIG_DAY * 96:]) - np.nanmean(s.kw[: RIG_DAY * 96]) == pytest.approx(RIG_KW, abs=0.15)


def test_24_points_make_an_hourly_grid_and_a_bad_date_is_named(tmp_path):
    rng = np.random.default_rng(7)
    lines = ["用户编号,日期," + ",".join(f"H{k:02d}" for k in range(1, 25))]
    for mid, day, v in _day_rows(rng, 2, 30, 24, rig_meter=9):
        lines.append(f"{mid},{day:%Y-%m-%d}," + ",".join(f"{x:.2f}" for x in v))
    lines[3] = lines[3].replace("2024-03-03", "2024-13-45")
    p = tmp_path / "p24.csv"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = read_file(p)
    assert r.layout == "points"
    assert {s.interval_s for s in r.series} == {3600}
    bad = [i for i in r.issues if i.kind == "unparsable" and "date" in i.detail]
    # the row held a day's 24 readings: all of them are counted as lost (review 15: it counted as one)
    assert len(bad) == 1 and bad[0].detail.endswith("in 1 line(s) holding 24 reading(s): 4") and bad[0].count == 24
    assert r.rejects.counts["unparsable date"] == 24 and r.lost == 24


def test_point_columns_are_strict():
    assert point_columns([f"{h}:00" for h in range(24)]) is not None  # 0:00 … 23:00
    assert point_columns([f"P{k}" for k in range(1, 96)]) is None  # 95 points: not a day
    assert point_columns([f"P{k}" for k in (*range(1, 48), 49, 50)]) is None  # a hole in the numbering
    assert point_columns([f"{h}:00" for h in range(0, 24, 2)] + [f"{h}:30" for h in range(12)]) is None


@pytest.mark.parametrize("id_col", [False, True])
def test_a_wide_table_with_numbered_meters_stays_wide(tmp_path, id_col):
    # meters named 1..24 in a wide table: not points of a day, with or without a row-id column beside them
    # (review 7: with an `id` column it was read as 720 "meters" of 24 points)
    lines = [("id," if id_col else "") + "timestamp," + ",".join(str(k) for k in range(1, 25))]
    for h in range(72):
        lines.append((f"{h}," if id_col else "") + f"2024-03-{1 + h // 24:02d} {h % 24:02d}:00:00,"
                     + ",".join("1.5" for _ in range(24)))
    p = tmp_path / "wide.csv"
    p.write_text("\n".join(lines) + "\n")
    r = read_file(p)
    assert r.layout == "wide" and len(r.series) == 24 + id_col


def test_london_lcl_layout_with_null_readings(tmp_path):
    lines = ["LCLid,stdorToU,DateTime,KWH/hh (per half hour) "]
    rng = np.random.default_rng(8)
    nulls = 0
    for m in range(3):
        for k in range(48 * 40):
            t = np.datetime64("2013-01-01T00:00") + np.timedelta64(30 * k, "m")
            v = f" {abs(rng.normal(0.2, 0.1)) + (1.65 if m == 1 and k >= 48 * 20 else 0):.3f}"
            if k % 500 == 7:
                v, nulls = "Null", nulls + 1
            lines.append(f"MAC{m:06d},Std,{str(t).replace('T', ' ')}:00.0000000,{v}")
    p = tmp_path / "lcl.csv"
    p.write_text("\n".join(lines) + "\n")
    r = read_file(p)
    assert r.layout == "long"
    assert sorted(s.meter_id for s in r.series) == ["MAC000000", "MAC000001", "MAC000002"]
    assert {s.interval_s for s in r.series} == {1800}
    s = next(s for s in r.series if s.meter_id == "MAC000001")
    assert np.nanmean(s.kw[48 * 20:]) - np.nanmean(s.kw[: 48 * 20]) == pytest.approx(3.3, abs=0.1)  # kWh/hh → kW
    assert not any(i.kind == "unparsable" for i in r.issues)
    assert sum(i.count for i in r.issues if i.kind == "gap") == nulls


def test_chinese_customer_file_columns(tmp_path):
    from minewatch.power.readers import read_meta

    text = ("户号,户名,用电类别,行业分类,合同容量(kVA),台区编号,表计类型\n"
            "3100001,张三,居民生活用电,城乡居民,8,T01,用户表\n"
            "3100002,某冷库,一般工商业用电,冷藏仓储,315 kVA,T01,用户表\n"
            "T01-Z,台区总表,,,,T01,台区总表\n")
    p = tmp_path / "档案.csv"
    p.write_bytes(text.encode("gb18030"))
    meta = read_meta(p)
    assert meta["3100001"].tariff_class == "居民生活用电" and meta["3100001"].business == "城乡居民"
    assert meta["3100001"].contracted_kw == 8.0 and meta["3100001"].transformer == "T01"
    assert meta["3100002"].contracted_kw == 315.0 and meta["3100002"].business == "冷藏仓储"
    assert meta["T01-Z"].role == "transformer" and meta["3100001"].role == "用户表"


def _xlsx_96(path, months: dict[str, tuple[date, int]], rig_meter: int, bad_cell: bool = False) -> None:
    """A 96-point workbook as acquisition systems export it: time-formatted header cells (Excel times,
    not text), one sheet per month, a notes sheet first."""
    import datetime as dt

    import xlsxwriter

    rng = np.random.default_rng(9)
    wb = xlsxwriter.Workbook(str(path))
    notes = wb.add_worksheet("说明")
    notes.write(0, 0, "备注")
    notes.write(1, 0, "数据来源：用电信息采集系统")
    tfmt = wb.add_format({"num_format": "hh:mm"})
    dfmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    for name, (first, days) in months.items():
        ws = wb.add_worksheet(name)
        ws.write(0, 0, "户号")
        ws.write(0, 1, "日期")
        for k in range(95):
            m = 15 * (k + 1)
            ws.write_datetime(0, 2 + k, dt.time(m // 60, m % 60), tfmt)
        ws.write(0, 97, "24:00")  # Excel has no 24:00 time: exports write it as text
        row = 1
        for mid in range(3):
            for d in range(days):
                day = first + timedelta(days=d)
                ws.write(row, 0, f"3100{mid:02d}")
                ws.write_datetime(row, 1, dt.datetime(day.year, day.month, day.day), dfmt)
                v = np.abs(rng.normal(2.0, 0.8, 96))
                if mid == rig_meter and (day - date(2024, 3, 1)).days >= RIG_DAY:
                    v = v + RIG_KW
                for k in range(96):
                    ws.write_number(row, 2 + k, round(float(v[k]), 3))
                row += 1
        if bad_cell:
            ws.write(3, 5, "故障")
    wb.close()


def test_excel_96_point_workbook_joins_month_sheets_and_skips_notes(tmp_path):
    p = tmp_path / "负荷曲线.xlsx"
    _xlsx_96(p, {"三月": (date(2024, 3, 1), 31), "四月": (date(2024, 4, 1), 30)}, rig_meter=1, bad_cell=True)
    r = read_file(p)
    assert r.layout == "points"
    s = next(s for s in r.series if s.meter_id == "310001")
    assert s.interval_s == 900 and s.kw.size == 61 * 96  # both month sheets joined into one grid
    assert s.start_s == int(np.datetime64("2024-03-01T00:15", "s").astype(np.int64))
    assert np.nanmean(s.kw[RIG_DAY * 96:]) - np.nanmean(s.kw[: RIG_DAY * 96]) == pytest.approx(RIG_KW, abs=0.15)
    skipped = [i for i in r.issues if i.kind == "sheet_skipped"]
    assert len(skipped) == 1 and "说明" in skipped[0].detail
    bad = [i for i in r.issues if i.kind == "unparsable"]
    assert len(bad) == 2  # one per month sheet, each named by sheet and row
    assert any("负荷曲线.xlsx[三月]" in i.detail and "row 4 column '01:00'" in i.detail for i in bad), bad
    found = scan_series(r.series, with_impact=False)
    top = max(found.scores, key=lambda x: x.score)
    assert top.meter_id == "310001" and abs((top.finding.onset.date() - date(2024, 3, 1)).days - RIG_DAY) <= 1


def test_excel_upload_is_recognised_by_its_content(tmp_path):
    from minewatch.power.readers import is_spreadsheet

    p = tmp_path / "book.xlsx"
    _xlsx_96(p, {"三月": (date(2024, 3, 1), 5)}, rig_meter=9)
    stored = tmp_path / "0f3a9c"  # an upload is kept under its hash, without its name
    stored.write_bytes(p.read_bytes())
    assert is_spreadsheet(stored)
    r = read_file(stored)
    assert r.layout == "points" and len(r.series) == 3
    other_zip = tmp_path / "x.zip"
    import zipfile

    with zipfile.ZipFile(other_zip, "w") as z:
        z.writestr("readme.txt", "not a workbook")
    assert not is_spreadsheet(other_zip)


# --- review 7 of these readers --------------------------------------------------------------------------------


def _p96_lines(header_fn, rig_meter: int = 1, days: int = 45, extra_cols: tuple[str, ...] = (),
               extra_vals=None) -> list[str]:
    rng = np.random.default_rng(11)
    names = [header_fn(k) for k in range(96)]
    lines = [",".join(["户号", "日期", *extra_cols, *names])]
    for mid, day, v in _day_rows(rng, 3, days, 96, rig_meter=rig_meter):
        ex = list(extra_vals(mid, day)) if extra_vals else []
        lines.append(",".join([mid, f"{day:%Y-%m-%d}", *ex, *(f"{x:.3f}" for x in v)]))
    return lines


def _hm(sec: int) -> str:
    return f"{sec // 3600:02d}:{sec % 3600 // 60:02d}"


@pytest.mark.parametrize("header_fn", [
    lambda k: f"{_hm(900 * k)}-{_hm(900 * (k + 1))}",  # range headers 00:00-00:15 … 23:45-24:00
    lambda k: _hm(900 * (k + 1)).replace(":", ""),  # compact 0015 … 2400
])
def test_points_header_variants(tmp_path, header_fn):
    p = tmp_path / "v.csv"
    p.write_text("\n".join(_p96_lines(header_fn)) + "\n", encoding="utf-8")
    r = read_file(p)
    assert r.layout == "points"
    s = next(s for s in r.series if s.meter_id == "310001")
    assert s.interval_s == 900 and s.start_s == int(np.datetime64("2024-03-01T00:15", "s").astype(np.int64))
    assert np.nanmean(s.kw[RIG_DAY * 96:]) - np.nanmean(s.kw[: RIG_DAY * 96]) == pytest.approx(RIG_KW, abs=0.2)


def test_97_points_drop_the_repeated_24h_and_a_missing_column_is_a_gap(tmp_path):
    lines = _p96_lines(lambda k: _hm(900 * (k + 1)))
    # both ends of the day: add 00:00 in front (the same reading as the day before's 24:00)
    both = [ln.replace("户号,日期,", "户号,日期,00:00,", 1) if i == 0 else
            ",".join([*ln.split(",")[:2], "2.0", *ln.split(",")[2:]]) for i, ln in enumerate(lines)]
    p = tmp_path / "p97.csv"
    p.write_text("\n".join(both) + "\n", encoding="utf-8")
    r = read_file(p)
    assert r.layout == "points" and {s.interval_s for s in r.series} == {900}
    assert any(i.kind == "not_read" and "24:00" in i.detail for i in r.issues)
    # the same with compact headers (0000 … 2400): the left-out column is named as it is written
    compact = [ln.replace(":", "") if i == 0 else ln for i, ln in enumerate(both)]
    q2 = tmp_path / "p97c.csv"
    q2.write_text("\n".join(compact) + "\n", encoding="utf-8")
    r2 = read_file(q2)
    assert r2.layout == "points" and any(i.kind == "not_read" and "column 2400 " in i.detail for i in r2.issues)
    # one point column missing from the export (01:00): still the points of a day, that slot is a gap
    cut = [",".join(c for j, c in enumerate(ln.split(",")) if j != 5) for ln in lines]
    q = tmp_path / "p95.csv"
    q.write_text("\n".join(cut) + "\n", encoding="utf-8")
    r = read_file(q)
    assert r.layout == "points"
    s = r.series[0]
    assert np.isnan(s.kw[3]) and not np.isnan(s.kw[2])


def test_points_near_miss_is_an_error_not_a_wide_table(tmp_path):
    names = [_hm(1200 * (k + 1)) for k in range(40)]  # 20-min points, and not a whole day
    p = tmp_path / "odd.csv"
    p.write_text("户号,日期," + ",".join(names) + "\n310000,2024-03-01," + ",".join("1" for _ in names) + "\n")
    with pytest.raises(Exception) as e:
        read_file(p)
    assert "looks like a day-by-points export" in str(e.value)


def test_data_items_keep_the_load_and_registers_are_differenced(tmp_path):
    def items(mid, day):
        return ()

    rng = np.random.default_rng(12)
    names = [_hm(900 * (k + 1)) for k in range(96)]
    lines = [",".join(["户号", "日期", "数据项", *names])]
    reg = 12000.0
    for d in range(20):
        day = date(2024, 3, 1) + timedelta(days=d)
        kw = 2.0 + 0.3 * rng.random(96)
        lines.append(",".join(["310000", f"{day}", "A相电压", *(f"{220 + rng.normal():.1f}" for _ in range(96))]))
        lines.append(",".join(["310000", f"{day}", "有功功率", *(f"{x:.3f}" for x in kw)]))
        lines.append(",".join(["310000", f"{day}", "无功功率", *(f"{0.4:.3f}" for _ in range(96))]))
        lines.append(",".join(["310001", f"{day}", "正向有功总电能示值",
                               *(f"{(reg := reg + x / 4):.2f}" for x in kw)]))
    p = tmp_path / "items.csv"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = read_file(p)
    load = next(s for s in r.series if s.meter_id == "310000")
    assert np.nanmean(load.kw) == pytest.approx(2.15, abs=0.05)  # not 220 (a voltage) nor 0.4 (reactive)
    skipped = [i for i in r.issues if i.kind == "not_read"]
    assert skipped and "A相电压 20" in skipped[0].detail and "无功功率 20" in skipped[0].detail
    register = next(s for s in r.series if s.meter_id == "310001")
    assert np.nanmean(register.kw) == pytest.approx(2.15, abs=0.05)  # a register read, then differenced


def test_title_rows_above_the_header_are_skipped_and_lines_stay_true(tmp_path):
    lines = _p96_lines(lambda k: _hm(900 * (k + 1)), days=20)
    lines[3] = lines[3].replace(",", ",abc", 3).replace(",abc", ",", 2)  # a bad cell on data row 3
    p = tmp_path / "title.csv"
    p.write_text("\n".join(["XX供电公司用电信息采集系统 负荷数据导出,,,", "导出时间：2024-04-01", *lines]) + "\n",
                 encoding="utf-8")
    r = read_file(p)
    assert r.layout == "points" and len(r.series) == 3
    bad = [i for i in r.issues if i.kind == "unparsable"]
    assert len(bad) == 1 and "line 6 column" in bad[0].detail  # line 6 of the file as a person counts it


def test_excel_serial_dates_24h_time_cells_and_a_slash_in_a_sheet_name(tmp_path):
    import datetime as dt

    import xlsxwriter

    p = tmp_path / "serial.xlsx"
    wb = xlsxwriter.Workbook(str(p))
    ws = wb.add_worksheet("SHEETX")  # renamed to "3/2024" below: Excel refuses a slash, a generator need not
    tf = wb.add_format({"num_format": "hh:mm"})
    ws.write(0, 0, "户号")
    ws.write(0, 1, "日期")
    for k in range(96):
        m = 15 * (k + 1)
        ws.write_number(0, 2 + k, m / 1440, tf)  # 24:00 is Excel's 1.0 (it reads back as 1900-01-01 00:00)
    for d in range(16):
        ws.write(1 + d, 0, "310000")
        ws.write_number(1 + d, 1, 45352 + d)  # the date as a plain serial number (2024-03-01 + d)
        for k in range(96):
            ws.write_number(1 + d, 2 + k, 2.0)
    wb.close()
    import zipfile

    with zipfile.ZipFile(p) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    parts["xl/workbook.xml"] = parts["xl/workbook.xml"].replace(b"SHEETX", b"3/2024")
    with zipfile.ZipFile(p, "w") as z:
        for n, b in parts.items():
            z.writestr(n, b)
    r = read_file(p)
    assert r.layout == "points"
    s = r.series[0]
    assert s.kw.size == 16 * 96 and s.start_s == int(np.datetime64("2024-03-01T00:15", "s").astype(np.int64))
    assert dt.datetime.fromtimestamp(int(s.times()[-1]), dt.UTC).replace(tzinfo=None) == dt.datetime(2024, 3, 17)


def test_an_oversized_sheet_is_an_input_error_not_a_crash(tmp_path):
    import xlsxwriter

    from minewatch.errors import InputError

    p = tmp_path / "bomb.xlsx"
    wb = xlsxwriter.Workbook(str(p))
    ws = wb.add_worksheet()
    ws.write(0, 0, "x")
    ws.write(1048575, 16383, "y")  # A1 and XFD1048576: calamine would allocate the whole grid
    wb.close()
    with pytest.raises(InputError) as e:
        read_file(p)
    assert "spreadsheet needs more than" in str(e.value)


def test_a_text_file_named_xls_is_read_as_text(tmp_path):
    p = tmp_path / "export.xls"  # a CSV that an export tool named .xls
    p.write_text("meter_id,timestamp,kw\n" + "".join(f"M1,2024-03-01 {h:02d}:00:00,1.5\n" for h in range(24)))
    r = read_file(p)
    assert r.layout == "long" and r.series[0].kw.size == 24


def test_blank_lines_above_the_header_and_excel_tables_that_start_lower(tmp_path):
    import xlsxwriter

    rows = ["meter_id,timestamp,kw", *(f"M1,2026-11-01 {h:02d}:00:00,{'x' if h == 4 else '1.0'}" for h in range(24))]
    for lead, bad_line in (("", 6), ("\n\n", 8), ("XX供电公司 数据导出\n\n", 8), ("XX供电公司 数据导出\n,,\n", 8)):
        p = tmp_path / f"c{len(lead)}.csv"
        p.write_text(lead + "\n".join(rows) + "\n", encoding="utf-8")
        r = read_file(p)
        (bad,) = [i for i in r.issues if i.kind == "unparsable"]
        assert bad.detail.endswith(f"line(s): {bad_line}"), (lead, bad.detail)
    # a sheet whose table starts on row 3 (two empty rows above): rows are numbered as Excel shows them
    x = tmp_path / "low.xlsx"
    wb = xlsxwriter.Workbook(str(x))
    ws = wb.add_worksheet("S1")
    for i, line in enumerate(rows):
        ws.write_row(2 + i, 0, line.split(","))
    wb.close()
    (bad,) = [i for i in read_file(x).issues if i.kind == "unparsable"]
    assert bad.detail.endswith("row(s): 8"), bad.detail  # header on row 3, the bad hour 04:00 on row 8
