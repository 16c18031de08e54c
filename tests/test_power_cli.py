"""`minewatch power scan` end to end: files in, ranked findings, store rows, pictures, data problems."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from minewatch.cli import app
from minewatch.store import Store


def _write(tmp_path):
    rng = np.random.default_rng(11)
    hours = 200 * 24
    lines = ["meter_id,ts,kwh"]
    import datetime as dt

    t0 = dt.datetime(2024, 1, 1)
    for mid in ("SHOP1", "RIG1"):
        hod = np.arange(hours) % 24
        x = 20 * (0.3 + 0.7 * ((hod >= 8) & (hod < 20))) * (1 + 0.05 * rng.standard_normal(hours))
        if mid == "RIG1":
            x[120 * 24 :] += 6 * 3.3
        for h in range(hours):
            if mid == "SHOP1" and 500 <= h < 503:
                continue  # a gap the summary must name
            lines.append(f"{mid},{(t0 + dt.timedelta(hours=h)).isoformat(sep=' ')},{x[h]:.4f}")
    data = tmp_path / "meters.csv"
    data.write_text("\n".join(lines) + "\n")
    meta = tmp_path / "meta.csv"
    meta.write_text("meter_id,tariff_class,business,contracted_kw\nSHOP1,commercial,retail,40\n"
                    "RIG1,commercial,retail,40\n")
    return data, meta


def test_power_scan_jsonl_store_and_plot(tmp_path, tmp_home):
    data, meta = _write(tmp_path)
    db = tmp_path / "f.duckdb"
    r = CliRunner().invoke(app, ["power", "scan", str(data), "--meta", str(meta), "--format", "jsonl",
                                 "--db", str(db), "--plot", str(tmp_path / "png")])
    assert r.exit_code == 0, r.output
    recs = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert [x["meter_id"] for x in recs] == ["RIG1"]  # suspects only, as the table and the store
    every = CliRunner().invoke(app, ["power", "scan", str(data), "--meta", str(meta), "--format", "jsonl",
                                     "--no-store", "--all"])
    ranked = [json.loads(line) for line in every.stdout.splitlines() if line.startswith("{")]
    assert [x["meter_id"] for x in ranked] == ["RIG1", "SHOP1"]
    assert ranked[0]["score"] >= 50 > ranked[1]["score"]
    assert [x["extra"]["suspect"] for x in ranked] == [True, False]
    assert 5 <= recs[0]["machines_est"] <= 8
    assert recs[0]["onset"].startswith("2024-04-")
    assert (tmp_path / "png" / "power_RIG1.png").stat().st_size > 5000
    with Store(db) as st:
        got = st.findings(kind="mining")
    assert [f.meter_id for f in got] == ["RIG1"]
    assert got[0].impact is None or "kwh" in json.dumps(got[0].impact).lower()
    assert "missing slots (gaps): 3" in r.stderr and "SHOP1" in r.stderr
    assert "2 meters" in r.stderr


def test_power_scan_table_in_chinese_and_bad_file(tmp_path, tmp_home):
    data, _meta = _write(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    r = CliRunner().invoke(app, ["--lang", "zh", "power", "scan", str(data), str(bad), "--no-store"])
    assert r.exit_code == 4  # an input that could not be read, as `minewatch scan` (review 12)
    assert "疑似挖矿负荷" in r.stdout
    assert "bad.csv" in r.stderr


# review 2: monthly files, short meters, true counts, files that cannot be read -------------------------


def _err(r) -> str:
    """stderr with the console's line wrapping undone."""
    return " ".join(r.stderr.split())


def _split_by_month(data, tmp_path):
    lines = data.read_text().splitlines()
    months: dict[str, list[str]] = {}
    for ln in lines[1:]:
        months.setdefault(ln.split(",")[1][:7], []).append(ln)
    out = []
    for m, rows in sorted(months.items()):
        p = tmp_path / f"export_{m}.csv"
        p.write_text("\n".join([lines[0], *rows]) + "\n")
        out.append(str(p))
    return out


def test_monthly_exports_are_joined_per_meter(tmp_path, tmp_home, monkeypatch):
    data, meta = _write(tmp_path)
    parts = _split_by_month(data, tmp_path)
    assert len(parts) >= 6
    drawn: dict[str, int] = {}
    import minewatch.power.plot as plot_mod

    monkeypatch.setattr(plot_mod, "plot_suspect", lambda s, f, out, **kw: drawn.__setitem__(s.meter_id, s.kw.size))
    r = CliRunner().invoke(app, ["power", "scan", *parts, "--meta", str(meta), "--format", "jsonl", "--no-store",
                                 "--plot", str(tmp_path / "png"), "--all"])
    assert r.exit_code == 0, r.output
    recs = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert [x["meter_id"] for x in recs] == ["RIG1", "SHOP1"]
    assert recs[0]["score"] >= 50 and recs[0]["onset"].startswith("2024-04-")
    assert "2 meters" in _err(r)
    assert drawn == {"RIG1": 200 * 24}  # the whole meter, not the last month


def test_short_meter_is_named_and_skipped_the_others_still_scanned(tmp_path, tmp_home):
    data, _meta = _write(tmp_path)
    tiny = tmp_path / "tiny.csv"
    tiny.write_text("meter_id,ts,kwh\nTINY,2024-01-01 00:00,0.1\nTINY,2024-01-01 01:00,0.2\nTINY,2024-01-01 02:00,0.3\n")
    r = CliRunner().invoke(app, ["power", "scan", str(data), str(tiny), "--format", "csv", "--no-store"])
    assert r.exit_code == 0, r.output
    assert "RIG1" in r.stdout and "TINY" not in r.stdout
    assert "3 meters (1 skipped)" in _err(r) and "meters skipped: 1" in _err(r)
    assert "meter TINY: 3 readings" in _err(r) and "too little data" in _err(r)


def test_summary_counts_every_rejected_row_and_used_readings(tmp_path, tmp_home):
    lines = ["meter_id,ts,kwh"]
    import datetime as dt

    t0 = dt.datetime(2024, 1, 1)
    for h in range(24 * 60):
        v = "#VALUE!" if 10 <= h < 210 else "1.0"  # an Excel error: garbage, not a missing-value word
        ts = "31.01.2024 10:00" if 300 <= h < 350 else (t0 + dt.timedelta(hours=h)).isoformat(sep=" ")
        lines.append(f"G,{ts},{v}")
    lines += [f"G,{(t0 + dt.timedelta(hours=h, minutes=30)).isoformat(sep=' ')},1.0" for h in range(400, 430)]
    p = tmp_path / "g.csv"
    p.write_text("\n".join(lines) + "\n")
    r = CliRunner().invoke(app, ["power", "scan", str(p), "--no-store", "--format", "csv"])
    assert r.exit_code == 0, r.output
    assert "unparsable rows: 250" in _err(r)
    assert "off-grid timestamps: 30" in _err(r)
    assert "rejected readings: 280" in _err(r)
    n_read = 24 * 60 + 30  # the 50 rows with a bad timestamp are in it (review 15), as they are in the rejects
    assert f"{24 * 60 - 250:,} of {n_read:,} readings used" in _err(r)  # separators as in Chinese (review 12)


def test_empty_file_is_an_error_and_the_other_files_are_scanned(tmp_path, tmp_home):
    data, _meta = _write(tmp_path)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    r = CliRunner().invoke(app, ["power", "scan", str(empty), str(data), "--format", "csv", "--no-store"])
    assert r.exit_code == 0, r.output  # an empty file is "nothing to read", not a failure (as `minewatch scan`)
    assert "empty.csv: empty file, nothing to read" in _err(r) and "0 files failed, 1 empty" in _err(r)
    assert "RIG1" in r.stdout
    r = CliRunner().invoke(app, ["power", "scan", str(empty), "--no-store"])
    assert r.exit_code == 0 and "empty file" in _err(r)


def test_meta_missing_gbk_duplicated_and_unmatched(tmp_path, tmp_home):
    data, _meta = _write(tmp_path)
    r = CliRunner().invoke(app, ["power", "scan", str(data), "--meta", str(tmp_path / "nope.csv"), "--no-store"])
    assert r.exit_code == 2 and "nope.csv" in _err(r) and "Traceback" not in r.output
    meta = tmp_path / "meta_gbk.csv"
    meta.write_bytes("meter_id,tariff_class,business,contracted_kw\nRIG1,商业,零售,40\nRIG1,商业,零售,400\n"
                     "GHOST,居民,家庭,5\n".encode("gbk"))
    r = CliRunner().invoke(app, ["power", "scan", str(data), "--meta", str(meta), "--no-store", "--format", "csv"])
    assert r.exit_code == 0, r.output
    assert "duplicate metadata rows: 1" in _err(r) and "lines 2, 3" in _err(r) and "line 2 used" in _err(r)
    assert "metadata rows for meters not in the data: 1 (GHOST)" in _err(r)


def test_top_must_be_positive(tmp_path, tmp_home):
    data, _meta = _write(tmp_path)
    for bad in ("0", "-1"):
        r = CliRunner().invoke(app, ["power", "scan", str(data), "--no-store", "--format", "csv", f"--top={bad}"])
        assert r.exit_code == 2
    r = CliRunner().invoke(app, ["power", "scan", str(data), "--no-store", "--format", "csv", "--top=1"])
    assert r.exit_code == 0 and len(r.stdout.strip().splitlines()) == 2


def test_plot_draws_the_onset_on_the_local_day_axis(tmp_path, monkeypatch):
    """The finding's onset is UTC; the plot's axis is the meter's wall clock: with --tz-offset 8 the line
    must sit at the local time of the step, not 8 h before it."""
    import datetime as dt

    import matplotlib.axes

    from minewatch.model import Finding
    from minewatch.power.plot import plot_suspect
    from minewatch.power.readers import MeterSeries

    start = int(dt.datetime(2024, 1, 1, tzinfo=dt.UTC).timestamp())
    s = MeterSeries("P", start, 3600, np.ones(24 * 30), "x", "kw")
    local_step = dt.datetime(2024, 1, 10, 12, tzinfo=dt.UTC)
    f = Finding(kind="mining", detector="power.load", score=80.0, subscores={}, evidence=[], meter_id="P",
                onset=local_step - dt.timedelta(hours=8))
    seen = []
    real = matplotlib.axes.Axes.axvline
    monkeypatch.setattr(matplotlib.axes.Axes, "axvline", lambda self, x=0, *a, **k: (seen.append(x), real(self, x, *a, **k))[1])
    plot_suspect(s, f, tmp_path, tz_offset_h=8)
    assert seen == [np.datetime64(int(local_step.timestamp()), "s")]


def test_a_power_finding_ends_where_the_data_ends_and_is_assessed_to_there(tmp_path, tmp_home):
    """200 days of hourly data from 2024-01-01: last_seen is 2024-07-19 00:00 (the end of the last
    hour), so `assess finding` run today charges energy from the onset to then, not to today."""
    data, meta = _write(tmp_path)
    db = tmp_path / "f.duckdb"
    r = CliRunner().invoke(app, ["power", "scan", str(data), "--meta", str(meta), "--format", "jsonl", "--db", str(db)])
    rec = next(json.loads(x) for x in r.stdout.splitlines() if x.startswith("{"))
    assert rec["meter_id"] == "RIG1" and rec["last_seen"] == "2024-07-19T00:00:00Z"
    a = CliRunner().invoke(app, ["assess", "finding", rec["finding_id"], "--db", str(db), "--json"])
    assert a.exit_code == 0, a.output
    impact = json.loads(a.stdout[a.stdout.index("{"): a.stdout.rindex("}") + 1])
    onset = np.datetime64(rec["onset"].rstrip("Z"))
    hours = (np.datetime64("2024-07-19T00:00") - onset) / np.timedelta64(1, "h")
    assert abs(impact["kwh_since_onset"] - impact["kw"] * hours) / (impact["kw"] * hours) < 0.02


def test_top_limits_the_listing_not_the_store(tmp_path, tmp_home):
    """`--top 1` used to store (and plot) only one suspect: a second rig vanished from the case file
    because the screen was asked to show one line."""
    data, _meta = _write(tmp_path)
    text = data.read_text().splitlines()
    rig2 = [ln.replace("RIG1,", "RIG2,", 1) for ln in text if ln.startswith("RIG1,")]
    data.write_text("\n".join(text + rig2) + "\n")
    db = tmp_path / "top.duckdb"
    r = CliRunner().invoke(app, ["power", "scan", str(data), "--format", "jsonl", "--db", str(db), "--top", "1",
                                 "--plot", str(tmp_path / "png")])
    assert r.exit_code == 0, r.output
    listed = [json.loads(line)["meter_id"] for line in r.stdout.splitlines() if line.startswith("{")]
    assert len(listed) == 1 and listed[0] in ("RIG1", "RIG2")
    assert len(list((tmp_path / "png").glob("*.png"))) == 1
    with Store(db) as st:
        assert sorted(f.meter_id for f in st.findings(kind="mining")) == ["RIG1", "RIG2"]


def test_no_suspect_names_the_closest_meters_and_why_daily_scores_stay_low(tmp_path, tmp_home):
    """A State Grid-style daily table (one column per day, a FLAG column) without metadata: a 4 kW rig on a
    household cannot reach 50 without within-day evidence; the summary must still name the closest meters
    instead of leaving an inspector with an empty table, and say why daily scores stay low."""
    import datetime as dt

    rng = np.random.default_rng(5)
    days = [dt.date(2015, 1, 1) + dt.timedelta(d) for d in range(200)]
    lines = ["CONS_NO,FLAG," + ",".join(f"{d.year}/{d.month}/{d.day}" for d in days)]
    for i in range(12):
        v = rng.uniform(5, 30) * (1 + 0.3 * rng.random(len(days)))
        if i == 7:
            v[90:] += 100.0  # ~4.2 kW from 1 April
        lines.append(f"C{i:04d},{int(i == 7)}," + ",".join(f"{x:.2f}" for x in v))
    p = tmp_path / "sgcc.csv"
    p.write_text("\n".join(lines) + "\n")
    r = CliRunner().invoke(app, ["power", "scan", str(p), "--no-store"])
    assert r.exit_code == 0, r.output
    err = _err(r)
    assert "0 suspects" in err
    assert "highest scores below 50: C0007 " in err
    assert "12 meters have one reading a day" in err
    hourly, _meta = _write(tmp_path)  # hourly data with a suspect: no such note
    r = CliRunner().invoke(app, ["power", "scan", str(hourly), "--no-store"])
    assert r.exit_code == 0 and "highest scores below" not in _err(r)
