"""Readers: layouts, units, and every data problem reported with meter and time, never filled."""

from __future__ import annotations

import numpy as np
import pytest

from minewatch.errors import InputError
from minewatch.power.readers import read_file, read_meta


def _kinds(r):
    return {i.kind for i in r.issues}


def test_long_csv_gaps_duplicates_negatives(tmp_path):
    rows = ["meter_id,ts,kwh"]
    for h in range(48):
        if h in (10, 11):  # a two-hour gap
            continue
        v = "-0.5" if h == 20 else "1.0"
        rows.append(f"A,2024-01-01 {h % 24:02d}:00:00,{v}".replace("2024-01-01", "2024-01-02") if h >= 24
                    else f"A,2024-01-01 {h:02d}:00:00,{v}")
    rows.append("A,2024-01-01 05:00:00,9.0")  # duplicate, conflicting value
    p = tmp_path / "long.csv"
    p.write_text("\n".join(rows) + "\n")
    r = read_file(p)
    assert r.layout == "long"
    s = r.series[0]
    assert s.interval_s == 3600
    assert s.kw.size == 48
    assert np.isnan(s.kw[10]) and np.isnan(s.kw[11])  # gap stays null
    assert np.isnan(s.kw[20])  # negative set to null, reported
    assert s.kw[5] == 1.0  # first of the duplicates kept
    kinds = _kinds(r)
    assert {"gap", "duplicate", "negative"} <= kinds
    gap = next(i for i in r.issues if i.kind == "gap")
    assert gap.meter_id == "A" and gap.ts.hour == 10 and gap.count == 2


def test_cumulative_register_and_reset(tmp_path):
    vals = np.cumsum(np.full(100, 0.5)) + 1000
    vals[60:] -= 1000  # register replaced: falls back near zero
    p = tmp_path / "reg.csv"
    p.write_text("meter,timestamp,energy_kwh\n" + "".join(
        f"R,2024-03-01 {h // 4 % 24:02d}:{h % 4 * 15:02d}:00,{v}\n".replace("2024-03-01", f"2024-03-{1 + h // 96:02d}")
        for h, v in enumerate(vals)))
    r = read_file(p)
    s = r.series[0]
    assert s.interval_s == 900
    assert "meter_reset" in _kinds(r)
    # 0.5 kWh per 15 min = 2 kW; the reset slot is null, not a huge negative
    assert np.nanmedian(s.kw) == pytest.approx(2.0)
    assert np.isnan(s.kw[60])


def test_wide_uci_style_semicolon_comma_decimals(tmp_path):
    lines = ['"";"MT_001";"MT_002"']
    for q in range(8):
        lines.append(f'"2012-01-01 {q // 4:02d}:{q % 4 * 15:02d}:00";{q},5;3,25')
    p = tmp_path / "LD.txt"
    p.write_text("\n".join(lines) + "\n")
    r = read_file(p, layout="wide")
    ids = [s.meter_id for s in r.series]
    assert ids == ["MT_001", "MT_002"]
    assert r.series[0].kw[1] == pytest.approx(1.5)
    assert r.series[1].interval_s == 900


def test_daily_table_sgcc_style(tmp_path):
    p = tmp_path / "daily.csv"
    p.write_text("CONS_NO,2014/1/1,2014/1/2,2014/1/3\nC1,24,,48\nC2,1,2,3\n")
    r = read_file(p)
    assert r.layout == "daily"
    c1 = r.series[0]
    assert c1.interval_s == 86400
    assert c1.kw[0] == pytest.approx(1.0)  # 24 kWh/day = 1 kW
    assert np.isnan(c1.kw[1])
    assert any(i.kind == "gap" and i.meter_id == "C1" for i in r.issues)


def test_dst_spring_gap_is_named(tmp_path):
    # 2024-03-31 is a Sunday (EU spring forward): 02:00 local does not exist
    rows = ["meter_id,ts,kw"] + [f"D,2024-03-31 {h:02d}:00:00,1" for h in range(24) if h != 2]
    p = tmp_path / "dst.csv"
    p.write_text("\n".join(rows) + "\n")
    r = read_file(p)
    assert "dst_jump" in _kinds(r)
    assert "gap" not in _kinds(r)


def test_bad_value_counted_not_fatal(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("meter_id,ts,kw\nA,2024-01-01 00:00:00,1\nA,2024-01-01 01:00:00,abc\nA,not-a-date,1\n")
    r = read_file(p)
    assert r.rejects.total == 2
    assert any("line 3" in e for e in r.rejects.examples)


def test_missing_file_and_unknown_layout(tmp_path):
    with pytest.raises(InputError):
        read_file(tmp_path / "nope.csv")
    p = tmp_path / "x.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(InputError) as e:
        read_file(p)
    assert "x.csv" in str(e.value)


def test_meta_bad_number_names_line(tmp_path):
    """A contract that is no number is reported with its line and left unknown; the row is kept."""
    p = tmp_path / "meta.csv"
    p.write_text("meter_id,tariff_class,business,contracted_kw\nA,commercial,retail,100\nB,,,lots\n")
    issues: list = []
    got = read_meta(p, issues)
    assert got["A"].contracted_kw == 100.0 and got["B"].contracted_kw is None
    assert [i.detail for i in issues] == ["meta.csv: line 3: contracted_kw 'lots' is not a positive number of kW; "
                                          "left unknown"]


@pytest.mark.shared
def test_shared_sgsc_reads_and_reports_gaps(shared):
    r = read_file(shared / "power" / "sgsc_smart_meter10.csv")
    assert len(r.series) == 10
    assert r.readings == 293874
    assert all(s.interval_s == 1800 for s in r.series)
    assert sum(i.count for i in r.issues if i.kind in ("gap", "dst_jump")) > 0


def test_same_meter_names_in_files_that_disagree_are_separate_meters(tmp_path):
    """Two sites' wide exports reuse column names (ETT's HUFL, MUFL ...): joined as one meter, every reading
    of the second file was a "duplicate, first kept" and a site vanished (user review). Files that disagree
    on the same times are two meters; monthly files and a repeated export of one meter stay one."""
    import datetime as dt

    from minewatch.power.readers import read_files

    def wide(path, start, hours, scale):
        t0 = dt.datetime(2024, 1, 1) + dt.timedelta(hours=start)
        rows = ["date,F1,F2"]
        for h in range(hours):
            x = 10 + (h % 24)
            rows.append(f"{(t0 + dt.timedelta(hours=h)).isoformat(sep=' ')},{x * scale:.3f},{x * scale + 1:.3f}")
        path.write_text("\n".join(rows) + "\n")
        return path

    a = wide(tmp_path / "siteA.csv", 0, 24 * 30, 1.0)
    b = wide(tmp_path / "siteB.csv", 0, 24 * 30, 2.5)
    res, errors = read_files([a, b])
    assert not errors
    assert sorted(s.meter_id for s in res.series) == ["F1", "F2", "siteB:F1", "siteB:F2"]
    clash = [i for i in res.issues if i.kind == "name_clash"]
    assert len(clash) == 2 and sum(i.count for i in clash) == 2 * 24 * 30
    assert not [i for i in res.issues if i.kind == "duplicate"]
    # a second month of the same meters, and the first month exported again: one meter each
    c = wide(tmp_path / "feb.csv", 24 * 31, 24 * 29, 1.0)
    again = wide(tmp_path / "again.csv", 0, 24 * 30, 1.0)
    res, _ = read_files([a, c, again])
    assert sorted(s.meter_id for s in res.series) == ["F1", "F2"]
    assert not [i for i in res.issues if i.kind == "name_clash"]
