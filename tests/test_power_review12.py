"""Review 12 of `minewatch power scan`: the data's end in UTC, unreadable inputs and the exit status, the
onset's clock, one machine model for detection and assessment, the report's meter chart, wording."""

from __future__ import annotations

import datetime as dt
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from minewatch.cli import app
from minewatch.power.readers import MeterSeries
from minewatch.power.scan import data_end_s, scan_series


def _rig_15min(path: Path, kw: float = 7.0) -> Path:
    """15-min kWh labelled by the end of the interval (00:15 … 24:00), meter clock UTC+8: a rig switched on
    at local 2023-12-01 00:00; the last reading is 2024-01-29 00:00 (the 28th's 24:00 point)."""
    rng = np.random.default_rng(1)
    t0 = dt.datetime(2023, 9, 1)
    n = 150 * 96
    x = 0.5 + 0.1 * rng.standard_normal(n)
    x[91 * 96 :] += kw
    rows = [f"R1,{t0 + dt.timedelta(minutes=15 * (k + 1)):%Y-%m-%d %H:%M:%S},{x[k] / 4:.4f}" for k in range(n)]
    path.write_text("meter_id,ts,kwh\n" + "\n".join(rows) + "\n")
    return path


def _jsonl(r) -> list[dict]:
    return [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]


def test_energy_since_onset_ends_where_the_data_end_in_utc(tmp_path, tmp_home):
    """`until` was the meter's local end read as UTC (8 h of kW too many at --tz-offset 8), and one interval
    past the 24:00 point that ends the data."""
    data = _rig_15min(tmp_path / "m.csv")
    r = CliRunner().invoke(app, ["power", "scan", str(data), "--unit", "kwh", "--tz-offset", "8", "--no-store",
                                 "--format", "jsonl"])
    assert r.exit_code == 0, r.output
    (rec,) = _jsonl(r)
    assert rec["onset"] == "2023-11-30T16:00:00Z"
    end = "2024-01-28T16:00:00Z"  # local 2024-01-29 00:00, the end of the last 15 minutes read
    assert rec["last_seen"] == end and rec["impact"]["until"] == end
    hours = (dt.datetime(2024, 1, 28, 16) - dt.datetime(2023, 11, 30, 16)).total_seconds() / 3600
    assert rec["impact"]["kwh_since_onset"] == pytest.approx(rec["impact"]["kw"] * hours)


def test_data_end_is_the_end_of_the_last_reading():
    day = 86_400
    t0 = 1_700_000_000 // day * day
    # end labels 00:15 … 24:00: the last point at midnight ends the data
    assert data_end_s(MeterSeries("a", t0 + 900, 900, np.ones(96))) == t0 + day
    # start labels 00:00 … 23:45 (or hourly 23:00): the last slot runs one interval on
    assert data_end_s(MeterSeries("b", t0, 900, np.ones(96))) == t0 + day
    assert data_end_s(MeterSeries("c", t0, 3600, np.ones(24))) == t0 + day
    # daily readings cover their day; trailing empty slots are no data
    assert data_end_s(MeterSeries("d", t0, day, np.ones(3))) == t0 + 3 * day
    assert data_end_s(MeterSeries("e", t0, 3600, np.r_[np.ones(20), np.full(4, np.nan)])) == t0 + 20 * 3600


def _binaries(tmp_path: Path) -> list[Path]:
    pcap = tmp_path / "capture.pcap"
    pcap.write_bytes(bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000"))
    pcapng = tmp_path / "capture.pcapng"
    pcapng.write_bytes(bytes.fromhex("0a0d0d0a1c0000004d3c2b1a01000000ffffffffffffffff1c000000"))
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(np.random.default_rng(3).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    return [pcap, pcapng, garbage]


def test_unreadable_inputs_exit_4_and_binaries_are_named_for_what_they_are(tmp_path, tmp_home):
    """"4 file(s) failed" with exit status 0, a pcap called an "empty file" and random bytes "malformed CSV"."""
    data = _rig_15min(tmp_path / "meters.csv")
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n")
    bins = _binaries(tmp_path)
    r = CliRunner().invoke(app, ["power", "scan", "--no-store", str(data), *map(str, bins), str(notes)])
    err = " ".join(r.stderr.split())
    assert r.exit_code == 4, r.output
    for p in bins:
        assert f"{p}: not a meter file (binary data; captures go to `minewatch scan`)" in err
    assert "empty file" not in err and "malformed CSV" not in err
    assert "4 files failed" in err and "R1" in r.stdout  # the meter file is scanned all the same
    zh = CliRunner().invoke(app, ["--lang", "zh", "power", "scan", "--no-store", str(bins[2])])
    assert zh.exit_code == 4 and "不是电表数据文件（二进制数据；抓包文件请用 `minewatch scan`）" in zh.stderr
    # a path that does not exist is a usage error, as in `minewatch scan`
    assert CliRunner().invoke(app, ["power", "scan", "--no-store", str(tmp_path / "nope.csv")]).exit_code == 2


def test_compressed_and_gbk_meter_files_are_not_called_binary(tmp_path):
    import gzip

    from minewatch.power.cli import is_binary_input

    text = "电表编号,采集时间,有功电量\nA,2024-01-01 00:00,1.0\n"
    (tmp_path / "a.csv").write_bytes(text.encode("gbk"))
    (tmp_path / "a.csv.gz").write_bytes(gzip.compress(text.encode("utf-8")))
    assert not is_binary_input(tmp_path / "a.csv") and not is_binary_input(tmp_path / "a.csv.gz")
    assert all(is_binary_input(p) for p in _binaries(tmp_path))


def test_onset_column_names_the_meter_clock(tmp_path, tmp_home):
    """A rig switched on at local 2023-12-01 00:00 showed "起始 2023-11-30" (its UTC day, unlabelled)."""
    data = _rig_15min(tmp_path / "m.csv")
    zh = CliRunner().invoke(app, ["--lang", "zh", "power", "scan", str(data), "--unit", "kwh", "--tz-offset", "8",
                                  "--no-store"])
    assert zh.exit_code == 0, zh.output
    assert "起始（UTC+8）" in zh.stdout and "2023-12-01" in zh.stdout and "2023-11-30" not in zh.stdout
    en = CliRunner().invoke(app, ["--lang", "en", "power", "scan", str(data), "--unit", "kwh", "--no-store"])
    assert "onset (UTC)" in en.stdout


def _office(rng: np.random.Generator, days: int = 365) -> np.ndarray:
    hod = np.arange(days * 24) % 24
    return 20 * (0.3 + 0.7 * ((hod >= 8) & (hod < 20))) * (1 + 0.05 * rng.standard_normal(days * 24))


def _scan_at(year: int, mid: str = "M") -> tuple:
    rng = np.random.default_rng(9)
    x = _office(rng)
    x[120 * 24 :] += 10 * 3.0
    start = int(dt.datetime(year, 1, 2, tzinfo=dt.UTC).timestamp())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = scan_series([MeterSeries(mid, start, 3600, x, "t.csv", "kw")])
    return res.scores[0].finding


@pytest.mark.parametrize("shared", [True, False])
def test_an_onset_before_the_catalog_is_assessed_with_its_earliest_models(tmp_home, monkeypatch, shared):
    """Onset 2013: the evidence named a 2022 model and the assessment failed ("no sha256d model … before").
    With or without the shared metrics (a plain install has only the built-in snapshot of 2022-12-31), the
    kW-based figures stand and the revenue is unknown (review 13)."""
    import minewatch.assess.network as netmod

    if not shared:
        monkeypatch.setattr(netmod, "default_metrics_path", lambda: None)
    f = _scan_at(2013)
    assert f.onset is not None and f.onset.year == 2013
    assert "impact_error" not in f.extra, f.extra.get("impact_error")
    assert f.impact is not None and f.impact["kwh_since_onset"] > 0
    assert "catalog_starts_later" in [w["code"] for w in f.impact["warnings"]]
    assert f.impact["co2_t_since_onset"] > 0
    if not shared:  # the data end 2014-01-02: the shared metrics (from 2014-01-01) cover it, the snapshot not
        assert "network_not_covered" in [w["code"] for w in f.impact["warnings"]]
        assert f.impact["revenue_per_day"] is None
    assert f.impact["model"] == f.extra["machine_model"]
    assert "the catalog starts" in f.evidence[0].text


def test_detection_and_assessment_name_one_model(tmp_home):
    """A 2021 case: model_chosen was the detector's unit (its onset day), model_typical another (the end day)."""
    f = _scan_at(2021)
    assert f.impact is not None, f.extra.get("impact_error")
    names = {a["name"]: a for a in f.impact["assumptions"]}
    assert "model_chosen" not in names
    assert f.impact["model"] == names["model_typical"]["value"] == f.extra["machine_model"]
    assert names["fleet_day"]["value"] == f.onset.date().isoformat()
    # one count (review 13): the assessment's fraction is kept, the finding's whole count is the impact's
    exact = f.kw_mining / (f.extra["unit_kw"] * names["pue"]["value"])
    assert f.impact["machines_kw_equivalent"] == pytest.approx(exact)
    assert f.impact["machines"] == f.machines_est == round(exact)


def test_power_scan_takes_a_hardware_file(tmp_path, tmp_home):
    """`assess site --hardware` existed; `power scan` divided by the built-in catalog only."""
    hw = tmp_path / "hw.csv"
    hw.write_text("model,vendor,algorithm,hashrate,hashrate_unit,power_w,release,cooling,source\n"
                  + "".join(f"Test Rig {i},Acme,sha256d,100,TH/s,3450,2023-06,air,test\n" for i in range(60)))
    data = _rig_15min(tmp_path / "m.csv", kw=14.0)
    r = CliRunner().invoke(app, ["power", "scan", str(data), "--unit", "kwh", "--no-store", "--format", "jsonl",
                                 "--hardware", str(hw)])
    assert r.exit_code == 0, r.output
    (rec,) = _jsonl(r)
    assert rec["extra"]["machine_model"].startswith("Test Rig") and rec["machines_est"] == 4


def test_wording_singular_machine_no_negative_zero_and_thousands(tmp_path, tmp_home):
    data = _rig_15min(tmp_path / "m.csv", kw=3.0)
    r = CliRunner().invoke(app, ["power", "scan", str(data), "--unit", "kwh", "--no-store", "--format", "jsonl"])
    (rec,) = _jsonl(r)
    assert rec["machines_est"] == 1 and "≈ 1 machine of" in rec["evidence"][0]["text"]
    assert "1 machines" not in r.stdout
    office = _scan_at(2021)  # its added scatter rounds to "-0 %", its sub-scores to -0.0
    for subs, texts in ((rec["subscores"], [e["text"] for e in rec["evidence"]]),
                        (office.subscores, [e.text for e in office.evidence] + [e.text_zh for e in office.evidence])):
        assert not any(str(v) == "-0.0" for v in subs.values())
        assert not re.search(r"-0(\.0+)?(?![\d.])", " ".join(texts)), texts
    assert "14,400 of 14,400 readings used" in r.stderr and "1 meter (" in r.stderr


def test_finding_keeps_a_bounded_daily_profile_with_nulls(tmp_home):
    from minewatch.power.scan import DAILY_POINTS, daily_profile

    f = _scan_at(2021)
    prof = f.extra["daily_kw"]
    assert prof["start"] == "2021-01-02" and prof["clock"] == "UTC" and prof["days_per_point"] == 1
    assert len(prof["mean"]) == len(prof["min"]) == len(prof["max"]) == 365
    assert prof["max"][200] >= prof["mean"][200] >= prof["min"][200] > 25  # the rig's 30 kW under the office
    row = np.r_[np.full(24, np.nan), np.ones(24 * 1999)]
    long = daily_profile(row, 24, 0, 8.0)
    assert long["days_per_point"] == 3 and len(long["mean"]) <= DAILY_POINTS and long["clock"] == "UTC+8"
    assert daily_profile(row[: 24 * 10], 24, 0, 0.0)["mean"][0] is None  # a day without readings stays null


def _report_of(f, tmp_path, lang: str = "en") -> str:
    from minewatch.export.report import case_report_html
    from minewatch.store import cases as C
    from minewatch.store.backend import connect
    from minewatch.web.service import case_bundle

    db = connect(tmp_path / "r.duckdb")
    db.add_findings([f])
    site = C.create_site(db, "Farm", meter_ids=[f.meter_id], actor="ana")
    case = C.open_case(db, "Farm rigs", site_id=site.site_id, actor="ana")
    b = case_bundle(db, case.case_id)
    db.close()
    return case_report_html(b, lang=lang)


def test_case_report_draws_the_meters_own_daily_curve(tmp_path, tmp_home):
    """The report drew a straight ramp from 0 to the floor after ("6.6 kW") while the evidence said 6.9 kW."""
    f = _scan_at(2021, mid="M-9")
    html = _report_of(f, tmp_path)
    chart = html[html.index('<svg class="chart"'):]
    chart = chart[: chart.index("</svg>")]
    assert "<polygon" in chart and 'stroke="#08519c"' in chart  # the min-max band and the mean line
    assert "Schematic" not in html
    top = max(v for v in f.extra["daily_kw"]["max"] if v is not None)
    assert f"{top:,.1f} kW" in chart
    assert f"onset {f.onset.date()}" in chart and f"+{f.kw_mining:,.1f} kW" in chart


def test_an_old_finding_gets_a_schematic_said_to_be_one(tmp_path, tmp_home):
    f = _scan_at(2021, mid="M-8")
    del f.extra["daily_kw"]
    html = _report_of(f, tmp_path)
    step = next(e.data for e in f.evidence if e.code == "power.step")
    assert "Schematic, not meter data" in html and f"+{step['kw']:,.1f} kW" in html
    zh = _report_of(f, tmp_path / "zh", lang="zh")
    assert "示意图（非电表数据）" in zh and "Schematic" not in zh


def test_assess_site_says_one_machine(tmp_home):
    """"≈ 1 machines" / "0.53-1 machines": the noun follows the number printed next to it."""
    from minewatch.assess.cli import render_assessment
    from minewatch.assess.network import NetworkSnapshot
    from minewatch.assess.site import assess_from_power

    net = NetworkSnapshot(day=dt.date(2021, 6, 1), hashrate_ths=1e8, price_usd=40_000, revenue_usd_per_day=4e7,
                          source="test")
    a = assess_from_power(3.25, model="S19", until="2021-06-01", network=net, pue=1.0)
    text = "\n".join(render_assessment(a))
    assert "Point estimate on Antminer S19 (95Th): 1 machine," in text
    assert re.search(r"Range over model classes: [\d.]+-1 machine,", text) or "1 machines" not in text
    assert "1 machines" not in text
