"""Meter inputs as they arrive from the field (review 2): monthly exports, clock jitter, coarse registers,
changes of resolution, garbage cells, odd headers and mistyped years. Each problem is counted, named
with file and line, and never silently changes the load."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pytest

from minewatch.errors import InputError
from minewatch.power.readers import _unit_from_name, read_file, read_files, read_meta

warnings.filterwarnings("ignore", category=RuntimeWarning)

T0 = dt.datetime(2023, 1, 2)  # a Monday


def _long(path, mid, times, values, header="meter_id,ts,kwh"):
    rows = [header] + [f"{mid},{t},{v}" for t, v in zip(times, values, strict=True)]
    path.write_text("\n".join(rows) + "\n")
    return path


def _hours(n, start=T0, step_s=3600):
    return [start + dt.timedelta(seconds=i * step_s) for i in range(n)]


def _fmt(ts):
    return [t.strftime("%Y-%m-%d %H:%M:%S") for t in ts]


def _count(r, kind):
    return sum(i.count for i in r.issues if i.kind == kind)


# H2: one meter in several files ---------------------------------------------------------------------


def test_meter_split_over_monthly_files_is_joined_and_overlaps_are_duplicates(tmp_path):
    ts = _hours(24 * 60)
    v = np.full(len(ts), 0.5)
    a = _long(tmp_path / "m01.csv", "M", _fmt(ts[: 24 * 31]), v[: 24 * 31])
    # the second export repeats the last day of the first (a usual overlap of monthly exports)
    b = _long(tmp_path / "m02.csv", "M", _fmt(ts[24 * 30 :]), v[24 * 30 :] + 0.1)
    r, errors = read_files([a, b])
    assert not errors
    assert [s.meter_id for s in r.series] == ["M"]
    s = r.series[0]
    assert s.kw.size == 24 * 60 and s.n_valid == 24 * 60
    assert s.kw[24 * 30 + 5] == pytest.approx(0.5)  # the first file's reading is kept
    dup = [i for i in r.issues if i.kind == "duplicate"]
    assert sum(i.count for i in dup) == 24
    assert "m01.csv" in dup[0].detail and "m02.csv" in dup[0].detail
    assert "different values" in dup[0].detail
    assert r.readings == 24 * 61 and r.readings_used == 24 * 60


# H3: cumulative registers ---------------------------------------------------------------------------


def _register(n, step_h, resolution, kw, start_kwh=12345.0, reset_at=None, seed=0):
    rng = np.random.default_rng(seed)
    e = np.cumsum(kw * step_h * (0.5 + rng.random(n))) + start_kwh
    reg = np.floor(e / resolution) * resolution
    if reset_at is not None:
        reg[reset_at:] -= reg[reset_at]
    return np.round(reg, 3)


def test_coarse_register_with_many_zero_increments_is_differenced_and_reset_reported(tmp_path):
    n = 96 * 60  # 60 days of 15-min readings of a 0.3 kW household, register in 0.1 kWh
    reg = _register(n, 0.25, 0.1, 0.3, reset_at=3000)
    d = np.diff(reg)
    assert np.mean(d == 0) > 0.2  # many increments are 0: the old test (> 90 % rising) missed it
    p = _long(tmp_path / "reg.csv", "R", _fmt(_hours(n, step_s=900)), reg)
    r = read_file(p)
    s = r.series[0]
    assert 0.25 < np.nanmean(s.kw) < 0.35  # kW of the household, not 12,345 kWh per 15 min
    resets = [i for i in r.issues if i.kind == "meter_reset"]
    assert len(resets) == 1 and "line 3002" in resets[0].detail
    assert np.isnan(s.kw[3000])


def test_hourly_register_in_whole_kwh_is_recognised(tmp_path):
    n = 24 * 90
    reg = _register(n, 1.0, 1.0, 0.6, start_kwh=8000.0)
    p = _long(tmp_path / "reg.csv", "R", _fmt(_hours(n)), reg)
    s = read_file(p).series[0]
    assert 0.5 < np.nanmean(s.kw) < 0.7


def test_flat_load_at_coarse_resolution_is_not_taken_for_a_register(tmp_path):
    """A rig read as a constant 0.8 kWh per 15 min (never falls, never rises) and one step up: interval
    energy, not a register; differencing it would make the rig vanish."""
    n = 96 * 60
    v = np.full(n, 0.8)
    v[n // 2 :] = 1.6
    p = _long(tmp_path / "flat.csv", "F", _fmt(_hours(n, step_s=900)), v)
    r = read_file(p)
    assert np.nanmedian(r.series[0].kw[: n // 2]) == pytest.approx(3.2)
    assert _count(r, "meter_reset") == 0 and _count(r, "register_suspect") == 0


def test_noisy_register_that_fails_the_test_is_named_in_a_warning(tmp_path):
    n = 24 * 60
    reg = _register(n, 1.0, 0.01, 1.0, start_kwh=500.0)
    reg[::20] -= 5.0  # a glitchy read-out: 5 % of the values dip below the reading before
    p = _long(tmp_path / "reg.csv", "GLITCH", _fmt(_hours(n)), reg)
    r = read_file(p)
    warn = [i for i in r.issues if i.kind == "register_suspect"]
    assert len(warn) == 1 and warn[0].meter_id == "GLITCH"


@pytest.mark.shared
def test_no_register_warning_on_real_interval_data(shared):
    for name in ("sgsc_smart_meter10.csv", "ETTh1.csv", "ETTh2.csv"):
        r = read_file(shared / "power" / name)
        assert not [i for i in r.issues if i.kind in ("register_suspect", "meter_reset", "resolution_change",
                                                       "off_grid", "far_timestamp")], name


# H4: the grid is anchored on whole slots ------------------------------------------------------------


def test_clock_jitter_of_seconds_keeps_every_reading(tmp_path):
    rng = np.random.default_rng(4)
    ts = [t + dt.timedelta(seconds=int(j)) for t, j in zip(_hours(24 * 60), rng.integers(0, 5, 24 * 60), strict=True)]
    ts[0] = ts[0] + dt.timedelta(seconds=3)  # the first reading is late too
    p = _long(tmp_path / "j.csv", "J", _fmt(ts), np.full(len(ts), 1.0))
    r = read_file(p)
    s = r.series[0]
    assert s.start_s % 3600 == 0 and s.interval_s == 3600
    assert s.n_valid == 24 * 60
    assert _count(r, "off_grid") == 0 and _count(r, "gap") == 0 and _count(r, "dst_jump") == 0


def test_off_grid_first_row_and_off_grid_readings_are_each_counted(tmp_path):
    ts = _fmt(_hours(24 * 40))
    ts[0] = "2023-01-02 00:07:00"  # 7 min off an hourly grid: beyond the 6 min tolerance
    for i in range(100, 130):
        ts.append(f"{ts[i][:14]}30:00")  # 30 extra readings at :30
    v = [1.0] * len(ts)
    p = _long(tmp_path / "o.csv", "O", ts, v)
    r = read_file(p)
    s = r.series[0]
    assert s.n_valid == 24 * 40 - 1
    assert _count(r, "off_grid") == 31
    assert r.rejects.counts["off-grid timestamp"] == 31
    assert "line 2" in next(i for i in r.issues if i.kind == "off_grid").detail


def test_meter_labelling_its_hours_at_half_past_keeps_its_grid(tmp_path):
    ts = [t + dt.timedelta(minutes=30) for t in _hours(24 * 20)]
    p = _long(tmp_path / "h.csv", "H", _fmt(ts), np.full(len(ts), 1.0))
    r = read_file(p)
    assert r.series[0].n_valid == 24 * 20 and _count(r, "off_grid") == 0


def test_sunday_night_gap_outside_a_dst_change_is_a_gap(tmp_path):
    ts = _hours(24 * 200)
    # 2023-04-23 (a Sunday, no DST change anywhere common) and 2023-03-26 (EU spring-forward)
    skip = {dt.datetime(2023, 4, 23, 2), dt.datetime(2023, 3, 26, 2)}
    ts = [t for t in ts if t not in skip]
    r = read_file(_long(tmp_path / "g.csv", "G", _fmt(ts), [1.0] * len(ts)))
    dst = [i.ts for i in r.issues if i.kind == "dst_jump"]
    gaps = [i.ts for i in r.issues if i.kind == "gap"]
    assert dst == [dt.datetime(2023, 3, 26, 2)]
    assert gaps == [dt.datetime(2023, 4, 23, 2)]


# L1: a 15-min fall-back is one DST jump --------------------------------------------------------------


def test_fifteen_minute_dst_fall_back_is_a_dst_jump_not_duplicates(tmp_path):
    start = dt.datetime(2023, 10, 28)
    ts = _fmt(_hours(96 * 2, start=start, step_s=900))
    i = ts.index("2023-10-29 03:00:00")
    ts = ts[:i] + ts[i - 4 : i] + ts[i:]  # 02:00-02:45 twice, as a wall clock writes it
    r = read_file(_long(tmp_path / "b.csv", "B", ts, [0.25] * len(ts)))
    assert _count(r, "duplicate") == 0
    assert _count(r, "dst_jump") == 4


# M1 / M6 / L2: every unparsable cell is counted --------------------------------------------------------


def test_every_unparsable_row_is_counted_not_only_the_first_five(tmp_path):
    ts = _fmt(_hours(24 * 30))
    v: list[object] = [1.0] * len(ts)
    for i in range(10, 210):
        v[i] = "#VALUE!"  # an Excel error: garbage
    v[300] = "inf"
    v[301] = "1e400"
    for i in range(500, 520):
        v[i] = "n/a"  # a missing-value word: a gap like an empty cell, not an unparsable value
    for i in range(400, 450):
        ts[i] = "31.01.2023 10:00"
    r = read_file(_long(tmp_path / "g.csv", "G", ts, v))
    assert _count(r, "unparsable") == 252
    assert r.rejects.counts == {"unparsable value": 202, "unparsable timestamp": 50}
    assert not np.isinf(r.series[0].kw).any()
    assert np.isnan(r.series[0].kw[500:520]).all()


def test_garbage_cells_in_wide_and_daily_tables_are_counted_with_their_line(tmp_path):
    ts = _fmt(_hours(24 * 20))
    rows = ["time,m1,m2"] + [f"{t},{'ERR' if 10 <= i < 110 else 1.0},2.0" for i, t in enumerate(ts)]
    wide = tmp_path / "wide.csv"
    wide.write_text("\n".join(rows) + "\n")
    r = read_file(wide)
    iss = [i for i in r.issues if i.kind == "unparsable"]
    assert sum(i.count for i in iss) == 100 and iss[0].meter_id == "m1" and "12" in iss[0].detail
    daily = tmp_path / "daily.csv"
    daily.write_text("CONS_NO,2014/1/1,2014/1/2,2014/1/3\nC1,24,x,48\nC2,1,2,?\n")
    r = read_file(daily)
    assert _count(r, "unparsable") == 2
    assert "line 2" in next(i for i in r.issues if i.kind == "unparsable").detail


def test_rows_without_meter_id_are_unparsable_not_a_meter_called_none(tmp_path):
    ts = _fmt(_hours(24 * 20))
    mids = ["A"] * len(ts)
    for i in range(5, 10):
        mids[i] = ""
    p = tmp_path / "e.csv"
    p.write_text("meter_id,ts,kwh\n" + "".join(f"{m},{t},1.0\n" for m, t in zip(mids, ts, strict=True)))
    r = read_file(p)
    assert [s.meter_id for s in r.series] == ["A"]
    iss = [i for i in r.issues if i.kind == "unparsable"]
    assert sum(i.count for i in iss) == 5 and "meter id" in iss[0].detail and "7, 8, 9" in iss[0].detail


# M2: a change of resolution -----------------------------------------------------------------------------


def test_change_from_15_min_to_hourly_kwh_is_converted_per_reading_and_reported(tmp_path):
    fine = _hours(96 * 40, step_s=900)
    coarse = _hours(24 * 40, start=fine[-1] + dt.timedelta(minutes=15))
    ts = _fmt(fine) + _fmt(coarse)
    v = [0.25] * len(fine) + [1.0] * len(coarse)  # the same 1 kW load throughout
    r = read_file(_long(tmp_path / "mix.csv", "X", ts, v))
    s = r.series[0]
    assert s.interval_s == 3600
    assert np.nanmax(np.abs(s.kw - 1.0)) < 1e-9  # not 4 kW after the change
    ch = [i for i in r.issues if i.kind == "resolution_change"]
    assert len(ch) == 1 and ch[0].meter_id == "X" and ch[0].ts == coarse[0]
    assert f"line {len(fine) + 2}" in ch[0].detail


# M3 / M4 / M5: files ------------------------------------------------------------------------------------


def test_empty_file_is_a_clean_error_naming_it(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_text("")
    with pytest.raises(InputError) as e:
        read_file(p)
    assert "empty.csv" in str(e.value) and "empty" in e.value.message
    good = _long(tmp_path / "ok.csv", "A", _fmt(_hours(48)), [1.0] * 48)
    r, errors = read_files([p, good])
    assert [s.meter_id for s in r.series] == ["A"] and len(errors) == 1


def test_meta_missing_or_gbk_encoded(tmp_path):
    with pytest.raises(InputError) as e:
        read_meta(tmp_path / "nope.csv")
    assert "nope.csv" in str(e.value)
    p = tmp_path / "meta_gbk.csv"
    p.write_bytes("meter_id,tariff_class,business\nA,居民,家庭\n".encode("gbk"))
    m = read_meta(p)
    assert m["A"].business == "家庭"
    bad = tmp_path / "bin.csv"
    bad.write_bytes(b"meter_id\n\xff\xfe\xfd\x80\x81\n")
    with pytest.raises(InputError):
        read_meta(bad)


def test_duplicate_meta_ids_first_row_used_and_reported_with_lines(tmp_path):
    p = tmp_path / "meta.csv"
    p.write_text("meter_id,tariff_class,contracted_kw\nM,residential,5\nX,commercial,10\nM,commercial,500\n")
    issues: list = []
    m = read_meta(p, issues)
    assert m["M"].tariff_class == "residential" and m["M"].contracted_kw == 5
    assert len(issues) == 1 and issues[0].meter_id == "M"
    assert "lines 2, 4" in issues[0].detail and "different" in issues[0].detail


# M7: units in headers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "unit"), [("Power (kW)", "kw"), ("load [kW]", "kw"), ("kW", "kw"),
                                             ("power_kw", "kw"), ("Energy (kWh)", "kwh"), ("kWh", "kwh"),
                                             ("value", None), ("kwatts", None)])
def test_unit_from_column_name(name, unit):
    assert _unit_from_name(name, None) == unit


# L5: a mistyped year -----------------------------------------------------------------------------------


def test_mistyped_year_is_rejected_with_its_line_not_a_huge_grid(tmp_path):
    ts = _fmt(_hours(24 * 60))
    ts[100] = "2203-01-06 04:00:00"
    r = read_file(_long(tmp_path / "y.csv", "Y", ts, [1.0] * len(ts)))
    s = r.series[0]
    assert s.kw.size == 24 * 60
    far = [i for i in r.issues if i.kind == "far_timestamp"]
    assert len(far) == 1 and far[0].count == 1 and "line 102" in far[0].detail


def test_one_bad_metadata_cell_does_not_stop_the_scan(tmp_path, tmp_home):
    """A contract written "50kW", "1,250" or "n/a", or a row without a meter id, stopped the whole scan."""
    from typer.testing import CliRunner

    from minewatch.cli import app
    from minewatch.power.readers import contracted_kw_value, read_meta

    assert contracted_kw_value("50kW") == 50.0 and contracted_kw_value("1,250") == 1250.0
    assert contracted_kw_value("80 千瓦") == 80.0 and contracted_kw_value("n/a") is None
    assert contracted_kw_value("-5") is None and contracted_kw_value("inf") is None
    meta = tmp_path / "meta.csv"
    meta.write_text("meter_id,tariff_class,contracted_kw\nA,commercial,50kW\nB,commercial,n/a\n,commercial,40\n"
                    "C,commercial,1,250\n".replace("1,250", '"1,250"'))
    issues: list = []
    got = read_meta(meta, issues)
    assert got["A"].contracted_kw == 50.0 and got["B"].contracted_kw is None and got["C"].contracted_kw == 1250.0
    assert sorted(i.detail.split(": ", 1)[1] for i in issues if i.kind == "meta_bad_value") == [
        "line 3: contracted_kw 'n/a' is not a positive number of kW; left unknown",
        "line 4: row without meter_id; skipped"]
    data = tmp_path / "m.csv"
    rows = ["meter_id,ts,kwh"] + [f"A,2024-01-{1 + h // 24:02d} {h % 24:02d}:00:00,1.0" for h in range(24 * 20)]
    data.write_text("\n".join(rows) + "\n")
    r = CliRunner().invoke(app, ["power", "scan", str(data), "--meta", str(meta), "--no-store", "--format", "csv"])
    assert r.exit_code == 0, r.output
    assert "metadata cells not used: 2" in r.stderr


def test_utc_and_epoch_times_are_put_on_the_meter_clock_once(tmp_path, tmp_home):
    """A UTC export (…Z) was read on the UTC clock and its onset then moved by --tz-offset a second time;
    epoch numbers were unparsable. The same rig, written three ways, must give the same UTC onset."""
    import datetime as dt
    import json

    import numpy as np
    from typer.testing import CliRunner

    from minewatch.cli import app

    rng = np.random.default_rng(5)
    t0 = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)  # local midnight in China is 16:00 UTC the day before
    hours = 150 * 24
    x = 0.4 + 0.05 * rng.standard_normal(hours)
    on = 90 * 24 + 5  # switched on at 05:00 UTC = 13:00 in China
    x[on:] += 3.3
    utc = [t0 + dt.timedelta(hours=h) for h in range(hours)]
    ways = {
        "local": [(t + dt.timedelta(hours=8)).strftime("%Y-%m-%d %H:%M:%S") for t in utc],
        "zulu": [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in utc],
        "epoch": [str(int(t.timestamp())) for t in utc],
    }
    onsets = {}
    for name, stamps in ways.items():
        f = tmp_path / f"{name}.csv"
        f.write_text("meter_id,ts,kwh\n" + "".join(f"R,{s},{v:.4f}\n" for s, v in zip(stamps, x, strict=True)))
        r = CliRunner().invoke(app, ["power", "scan", str(f), "--tz-offset", "8", "--no-store", "--format", "jsonl"])
        assert r.exit_code == 0, r.output
        rec = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
        assert rec, (name, r.stderr)
        onsets[name] = rec[0]["onset"]
    want = utc[on]
    for name, got in onsets.items():
        d = abs(dt.datetime.fromisoformat(got.replace("Z", "+00:00")) - want)
        assert d <= dt.timedelta(hours=1), (name, got, want)


def test_chinese_columns_fahrenheit_and_end_of_day_stamps(tmp_path):
    """Chinese grid exports (电表编号, 采集时间, 有功电量(kWh)), °F temperatures and 24:00 stamps were refused
    or misread (°F taken as °C, 24:00 rejected)."""
    import polars as pl

    from minewatch.power.readers import _parse_ts, read_file, read_temperature

    f = tmp_path / "zh.csv"
    rows = ["电表编号,采集时间,有功电量(kWh)"]
    for d in range(1, 3):
        for h in range(1, 25):  # interval-ending stamps 01:00 … 24:00
            rows.append(f"M甲,2024-01-{d:02d} {h:02d}:00,2.0")
    f.write_text("\n".join(rows) + "\n", encoding="utf-8")
    r = read_file(f)
    assert [s.meter_id for s in r.series] == ["M甲"] and r.series[0].unit_in == "kwh"
    assert r.series[0].interval_s == 3600 and abs(float(r.series[0].kw[5]) - 2.0) < 1e-9
    assert not [i for i in r.issues if i.kind == "unparsable"]
    ts = _parse_ts(pl.Series(["2024-01-01 24:00", "2024-01-01 24:00:00", "2024-01-02 00:00"]))
    assert ts[0] == ts[1] == ts[2]
    p = tmp_path / "power.csv"
    p.write_text("表号,时间,有功功率\nA,2024-01-01 00:00,3.0\nA,2024-01-01 01:00,3.0\n", encoding="utf-8")
    assert read_file(p).series[0].unit_in == "kw"
    t = tmp_path / "t.csv"
    t.write_text("time,temp_f\n2024-01-01 00:00,212\n2024-01-01 01:00,32\n")
    assert list(read_temperature(t)["*"][1]) == [100.0, 0.0]


def test_compact_digit_dates_are_dates_not_epoch_numbers():
    """`202403011000` was read as an epoch number (1976) once epochs were accepted (review 6 diff)."""
    import datetime as dt

    import polars as pl

    from minewatch.power.readers import _parse_ts

    got = _parse_ts(pl.Series(["202403011000", "2024030110", "20240301", "20240301100000", "1701010100",
                               "1704067200000", "20241399"])).to_list()
    d = dt.datetime
    assert got == [d(2024, 3, 1, 10), d(2024, 3, 1, 10), d(2024, 3, 1), d(2024, 3, 1, 10),
                   d(2023, 11, 26, 14, 48, 20), d(2024, 1, 1), None]
