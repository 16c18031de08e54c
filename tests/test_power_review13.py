"""Review 13 of `minewatch power scan`: a stray NUL is no binary file, directories are read, the CLI
options are checked as the web form checks them, scores below the threshold never show it, wording."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from minewatch.cli import app


def _hourly(path: Path, meter: str = "R1", kw: float = 7.0, days: int = 150) -> Path:
    """Hourly kWh, start-labelled, a rig switched on after 91 days."""
    rng = np.random.default_rng(1)
    t0 = dt.datetime(2023, 9, 1)
    n = days * 24
    x = 0.5 + 0.1 * rng.standard_normal(n)
    x[91 * 24 :] += kw
    rows = [f"{meter},{t0 + dt.timedelta(hours=k):%Y-%m-%d %H:%M:%S},{x[k]:.4f}" for k in range(n)]
    path.write_text("meter_id,ts,kwh\n" + "\n".join(rows) + "\n")
    return path


def _flat(text: str) -> str:
    """Output as one line, without the error box's borders."""
    return " ".join(text.replace("│", " ").split())


def _jsonl(r) -> list[dict]:
    return [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]


def test_one_nul_byte_is_an_unparsable_line_not_a_binary_file(tmp_path, tmp_home):
    """One NUL on line 51 made the whole export "not a meter file (binary data …)", exit 4."""
    data = _hourly(tmp_path / "m.csv")
    lines = data.read_bytes().split(b"\n")
    lines[50] = lines[50][:-3] + b"\x00" + lines[50][-2:]
    data.write_bytes(b"\n".join(lines))
    r = CliRunner().invoke(app, ["power", "scan", str(data), "--unit", "kwh", "--no-store", "--format", "jsonl"])
    assert r.exit_code == 0, r.output
    assert "binary" not in r.stderr and "3,599 of 3,600 readings used" in r.stderr
    assert "unparsable rows: 1" in r.stderr and len(_jsonl(r)) == 1


def test_utf16_text_is_text_and_captures_stay_binary(tmp_path):
    from minewatch.power.cli import is_binary_input
    from test_power_review12 import _binaries

    text = "meter_id,ts,kwh\n" + "".join(f"R1,2024-01-01 {h:02d}:00,1.0\n" for h in range(24))
    for enc in ("utf-16-le", "utf-16-be"):  # Excel "Unicode text" without its BOM
        (tmp_path / f"{enc}.csv").write_bytes(text.encode(enc))
        assert not is_binary_input(tmp_path / f"{enc}.csv")
    noisy = tmp_path / "noisy.csv"
    noisy.write_bytes(text.encode() + bytes(range(256)) * 40)  # mostly control bytes
    assert is_binary_input(noisy)
    assert all(is_binary_input(p) for p in _binaries(tmp_path))


def test_a_directory_is_read_file_by_file(tmp_path, tmp_home):
    """`power scan adir h_start.csv` was an IsADirectoryError traceback and lost the good file."""
    d = tmp_path / "exports"
    d.mkdir()
    _hourly(d / "b.csv", meter="B1")
    _hourly(d / "a.csv", meter="A1", kw=0.0)
    (d / "notes.pdf").write_bytes(b"%PDF-1.4\n")
    (d / "sub").mkdir()
    _hourly(d / "sub" / "c.csv", meter="C1")
    other = _hourly(tmp_path / "h.csv", meter="H1")
    r = CliRunner().invoke(app, ["power", "scan", str(d), str(other), "--unit", "kwh", "--no-store", "--format",
                                 "jsonl", "--all"])
    assert r.exit_code == 0, r.output
    assert sorted(rec["meter_id"] for rec in _jsonl(r)) == ["A1", "B1", "H1"]  # not recursive
    err = " ".join(r.stderr.split())
    assert "3 meters (" in err and "0 files failed" in err
    assert f"{d}: 2 entries are not a meter file and were skipped (notes.pdf, sub/; sub-folders are not read)" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    r2 = CliRunner().invoke(app, ["power", "scan", str(empty), "--no-store"])
    assert r2.exit_code == 4 and f"{empty}: no meter file in this directory" in " ".join(r2.stderr.split())
    zh = CliRunner().invoke(app, ["--lang", "zh", "power", "scan", str(empty), "--no-store"])
    assert zh.exit_code == 4 and "此文件夹中没有电表数据文件" in zh.stderr


def test_cli_options_are_checked_as_the_web_form_checks_them(tmp_path, tmp_home):
    """--tz-offset nan was a traceback, 1e6 was "UTC+1000000", --interval -900 a numpy error."""
    data = _hourly(tmp_path / "m.csv", days=20)
    for opt in (["--tz-offset", "nan"], ["--tz-offset", "1e6"], ["--tz-offset", "-14.5"], ["--tz-offset", "inf"]):
        r = CliRunner().invoke(app, ["power", "scan", str(data), "--no-store", *opt])
        assert r.exit_code == 2 and "Traceback" not in r.output, r.output
        assert "between -14 and 14 hours" in _flat(r.output), r.output
    for iv in ("-900", "0", "86401", "abc"):
        r = CliRunner().invoke(app, ["power", "scan", str(data), "--no-store", "--interval", iv])
        assert r.exit_code == 2, r.output
        assert "seconds from 1 to 86400" in _flat(r.output), r.output
    zh = CliRunner().invoke(app, ["--lang", "zh", "power", "scan", str(data), "--no-store", "--tz-offset", "nan"])
    assert zh.exit_code == 2 and "电表时钟与UTC的时差应在-14至14小时之间" in _flat(zh.output).replace(" ", "")
    ok = CliRunner().invoke(app, ["power", "scan", str(data), "--no-store", "--interval", "3600", "--tz-offset", "14",
                                  "--unit", "kwh"])
    assert ok.exit_code == 0, ok.output


def test_a_score_below_the_threshold_is_never_shown_as_the_threshold():
    from minewatch.power.cli import _below

    assert _below(83.6, 84) == "83.6" and _below(83.96, 84) == "83.9" and _below(83.4, 84) == "83"
    assert _below(49.5, 50) == "49.5" and float(_below(83.99, 84)) < 84


def test_wording_singular_plural_and_the_chinese_list(tmp_path, tmp_home):
    flat = tmp_path / "flat.csv"  # two daily meters, nothing to find
    t0 = dt.date(2023, 1, 1)
    flat.write_text("meter_id,date,kwh\n" + "".join(
        f"{m},{t0 + dt.timedelta(days=k)},{10 + (k * 7 + i) % 3}\n" for i, m in enumerate(("D1", "D2"))
        for k in range(200)))
    bad = tmp_path / "bad.bin"
    bad.write_bytes(np.random.default_rng(3).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    r = CliRunner().invoke(app, ["power", "scan", str(flat), str(bad), "--no-store", "--threshold", "99"])
    err = " ".join(r.stderr.split())
    assert r.exit_code == 4 and "1 file failed" in err and "file(s)" not in err, err
    assert "highest scores below 99: D1 9, D2 9" in err
    assert "2 meters have one reading a day" in err and "meter(s)" not in err
    one = CliRunner().invoke(app, ["power", "scan", str(flat), "--no-store", "--threshold", "99", "--all",
                                   "--format", "jsonl"])
    assert "0 files failed" in " ".join(one.stderr.split())
    zh = CliRunner().invoke(app, ["--lang", "zh", "power", "scan", str(flat), "--no-store", "--threshold", "99"])
    assert "未达 99 分的最高得分：D1 9、D2 9（" in zh.stderr


# --- one machine count per finding; assessments without network data; end labels; FX of the hashprice --


def _scan(year: int, kw: float, days: int = 365, mid: str = "M", end_labelled: bool = False):
    import warnings

    from minewatch.power.readers import MeterSeries
    from minewatch.power.scan import scan_series

    rng = np.random.default_rng(9)
    hod = np.arange(days * 24) % 24
    x = 20 * (0.3 + 0.7 * ((hod >= 8) & (hod < 20))) * (1 + 0.05 * rng.standard_normal(days * 24))
    x[120 * 24 :] += kw
    start = int(dt.datetime(year, 1, 2, tzinfo=dt.UTC).timestamp()) + (3600 if end_labelled else 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = scan_series([MeterSeries(mid, start, 3600, x, "t.csv", "kw")])
    return res.scores[0].finding


def test_one_finding_has_one_machine_count(tmp_path, tmp_home):
    """Evidence "≈ 4 machines of 2.52 kW", assessment 3.40 machines, case report total beside neither:
    the detector divided by the unit's kW, the assessment by the unit's kW × PUE (1.05)."""
    f = _scan(2022, 10.3, mid="K-1")  # 3.56 units of 2.89 kW: 4 without the PUE, 3 with it
    assert f.impact is not None, f.extra.get("impact_error")
    pue = next(a["value"] for a in f.impact["assumptions"] if a["name"] == "pue")
    exact = f.kw_mining / (f.extra["unit_kw"] * pue)
    assert f.machines_est == max(1, round(exact)) and f.impact["machines"] == f.machines_est
    assert f.impact["machines_kw_equivalent"] == pytest.approx(exact)
    assert f"≈ {f.machines_est:g} machines of {f.extra['unit_kw']:.2f} kW" in f.evidence[0].text
    assert f"site overhead × {pue:g}" in f.evidence[0].text
    assert f.evidence[0].data["machines"] == f.machines_est

    from test_power_review12 import _report_of

    html = _report_of(f, tmp_path)
    row = html[html.index("Machines (estimate)"):]
    assert row[: row.index("</tr>")].endswith(f"<td>{f.machines_est:g}</td>")


@pytest.mark.parametrize("shared", [True, False])
def test_a_load_from_2013_keeps_its_kw_based_assessment(tmp_home, monkeypatch, shared):
    """Data ending 2013-05: "no network data on or before 2013-05-30" took machines, kWh, coal and CO2 too."""
    import minewatch.assess.network as netmod

    if not shared:
        monkeypatch.setattr(netmod, "default_metrics_path", lambda: None)
    f = _scan(2013, 30.0, days=240)
    assert "impact_error" not in f.extra, f.extra.get("impact_error")
    imp = f.impact
    assert imp is not None and imp["kwh_since_onset"] > 0 and imp["co2_t_since_onset"] > 0 and imp["machines"] >= 1
    assert imp["hashprice_usd"] is None and imp["revenue_per_day"] is None and imp["revenue_since_onset"] is None
    w = {x["code"]: x for x in imp["warnings"]}
    assert "hashprice, revenue, profit and break-even are unknown" in w["network_not_covered"]["message"]
    assert "算力价格、收入、利润和盈亏平衡电价未知" in w["network_not_covered"]["message_zh"]


def test_assess_site_before_the_network_data_is_assessed_without_revenue(tmp_home):
    r = CliRunner().invoke(app, ["assess", "site", "--kw", "100", "--onset", "2012-01-01", "--until", "2012-06-01",
                                 "--tariff", "0.5"])
    assert r.exit_code == 0, r.output
    assert "876,600 kWh/year" in r.stdout and "no network data on or before 2012-06-01" in _flat(r.output)


def test_the_daily_profile_ends_where_the_data_end():
    from minewatch.power.scan import daily_profile

    day = 86_400
    row = np.r_[np.ones(48), 7.0, np.full(23, np.nan)]  # two days and the 24:00 point of the second
    assert len(daily_profile(row, 24, 0, 0.0)["mean"]) == 3
    prof = daily_profile(row, 24, 0, 0.0, end_s=2 * day)
    assert len(prof["mean"]) == 2 and prof["max"][-1] == 1.0


def test_end_labelled_readings_onset_and_profile(tmp_path, tmp_home):
    """Hourly readings labelled 01:00 … 24:00: the onset was one slot late (17:00Z vs 16:00Z), and the
    last 24:00 point made a day of its own in the daily profile."""
    rng = np.random.default_rng(1)
    n = 150 * 24
    x = 0.5 + 0.1 * rng.standard_normal(n)
    x[91 * 24 :] += 7.0  # a rig switched on at local 2023-12-01 00:00
    t0 = dt.datetime(2023, 9, 1)
    onsets = []
    for name, lag in (("start.csv", 0), ("end.csv", 1)):
        p = tmp_path / name
        p.write_text("meter_id,ts,kwh\n" + "".join(
            f"R1,{t0 + dt.timedelta(hours=k + lag):%Y-%m-%d %H:%M:%S},{x[k]:.4f}\n" for k in range(n)))
        r = CliRunner().invoke(app, ["power", "scan", str(p), "--unit", "kwh", "--tz-offset", "8", "--no-store",
                                     "--format", "jsonl"])
        (rec,) = _jsonl(r)
        onsets.append(rec["onset"])
        assert len(rec["extra"]["daily_kw"]["mean"]) == 150
        assert rec["last_seen"] == "2024-01-28T16:00:00Z"
    assert onsets == ["2023-11-30T16:00:00Z", "2023-11-30T16:00:00Z"]


def test_fx_is_of_the_hashprices_year_and_the_fixed_rate_is_the_factors_files(tmp_path, tmp_home):
    from minewatch.assess import economics as eco
    from minewatch.assess.energy import load_factors
    from minewatch.assess.site import assess_from_power
    from test_assess_review6 import _metrics

    m = _metrics(tmp_path / "m.csv", dt.date(2021, 1, 1), [3e7] * 365)  # ends 2021-12-31
    a = assess_from_power(100, onset="2023-06-01", metrics=m)
    fx = next(x for x in a.assumptions if x["name"].startswith("fx_"))
    assert fx["as_of"] == "2021" and "annual average of 2021" in fx["source"]
    (en, zh), = eco.fx_factor("CNY", load_factors(), year=2031).warnings
    assert "the fixed rate 7.2 of factors.yaml is used" in en and "7.2 of 2024" not in en
    assert "按 factors.yaml 的固定汇率 7.2 计算" in zh


def test_a_given_fx_is_said_to_apply_to_every_year(tmp_path, tmp_home):
    from minewatch.assess.site import assess_from_power
    from test_assess_review6 import _metrics

    m = _metrics(tmp_path / "m.csv", dt.date(2020, 1, 1), [3e7] * 730)
    a = assess_from_power(100, onset="2020-06-01", until="2021-06-01", fx=7.0, metrics=m)
    by = next(x for x in a.assumptions if x["name"] == "fx_by_year")
    assert by["value"] == "7 (every year)" and "applies to all years" in by["source"]
    assert "2020: 7" not in str(by["value"])


def test_assess_finding_keeps_the_findings_machine_count(tmp_path, tmp_home):
    """Assessing a stored meter finding again stored the assessment's fraction beside its evidence's count."""
    from minewatch.store import Store

    f = _scan(2022, 10.3, mid="K-2")
    db = tmp_path / "s.duckdb"
    with Store(db) as st:
        st.add_findings([f])
    r = CliRunner().invoke(app, ["assess", "finding", f.finding_id, "--db", str(db), "--json"])
    assert r.exit_code == 0, r.output
    with Store(db) as st:
        got = st.get(f.finding_id)
    assert got.impact["machines"] == f.machines_est == 3
    assert got.impact["machines_kw_equivalent"] == pytest.approx(f.kw_mining / (f.extra["unit_kw"] * 1.05))
    other = CliRunner().invoke(app, ["assess", "finding", f.finding_id, "--db", str(db), "--json",
                                     "--model", "Antminer S9 (13.5Th)"])
    assert other.exit_code == 0, other.output  # another machine named: its own count, not the detector's
    assert json.loads(other.stdout[other.stdout.index("{"):other.stdout.rindex("}") + 1])["machines"] > 7
    # review 14: a factors file with another PUE sizes the fleet its own way; the stored count must agree
    # with the figures beside it, not be the detector's count at PUE 1.05
    import yaml

    from minewatch.paths import package_data

    fac = yaml.safe_load(package_data("factors.yaml").read_text())
    fac["site"]["pue"]["value"] = 1.6
    ff = tmp_path / "fac16.yaml"
    ff.write_text(yaml.safe_dump(fac, allow_unicode=True))
    r = CliRunner().invoke(app, ["assess", "finding", f.finding_id, "--db", str(db), "--json", "--factors", str(ff)])
    assert r.exit_code == 0, r.output
    with Store(db) as st:
        got = st.get(f.finding_id)
    assert got.impact["machines"] == pytest.approx(f.kw_mining / (f.extra["unit_kw"] * 1.6))
    assert "machines_kw_equivalent" not in got.impact and f.extra["machine_pue"] == 1.05


def test_start_labelled_data_ending_on_a_midnight_reading_stay_start_labelled():
    """Review 14: hourly readings from 00:00 that end with one 00:00 reading of the next day were taken as
    end-labelled, so every reading moved back an hour and the profile began the day before the data."""
    from minewatch.power.readers import MeterSeries
    from minewatch.power.scan import end_labelled

    day = 86_400
    kw = np.ones(24 * 10 + 1)
    start = 1_709_251_200  # 2024-03-01 00:00
    assert not end_labelled(MeterSeries("S", start, 3600, kw))  # 00:00 ... 00:00: start labels
    assert end_labelled(MeterSeries("E", start + 3600, 3600, kw[:-1]))  # 01:00 ... 24:00: end labels
    assert not end_labelled(MeterSeries("D", start, day, np.ones(10)))  # daily readings: never
