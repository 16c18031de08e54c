"""Meter files uploaded to the web are read with the options `minewatch power scan` takes (`--unit`,
`--interval`, `--tz-offset`, `--meta`), and the unit the reader assumed is said plainly on the job page.

Review finding: a 96-point export of kWh per interval with a 13 kW rig was read as kW on the web (the
job said 3.2 kW, 1 machine) while `minewatch power scan FILE --unit kwh` said 13 kW, 4 machines; the
form had no unit, interval, clock or metadata field and the assumption was hidden as "1 data issue(s)".
"""

from __future__ import annotations

import html
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from web_helpers import csrf_of, make_env

RIG_KW = 13.0
RIG_DAY = 40


def meter_96(path: Path, *, kwh: bool = True, days: int = 70) -> Path:
    """Three meters, one value per 15 minutes in a day-by-points export (户号, 日期, 00:15 … 24:00);
    meter 310001 gets a constant 13 kW from day 40. `kwh`: values are energy per interval (kW / 4)."""
    rng = np.random.default_rng(3)
    names = [f"{900 * (k + 1) // 3600:02d}:{900 * (k + 1) % 3600 // 60:02d}" for k in range(96)]
    lines = [",".join(["户号", "日期", *names])]
    for m in range(3):
        for d in range(days):
            kw = np.abs(rng.normal(2.0, 0.8, 96)) + 0.5 * np.sin(np.linspace(0, 2 * np.pi, 96, endpoint=False))
            if m == 1 and d >= RIG_DAY:
                kw = kw + RIG_KW
            kw = np.abs(kw)
            v = kw / 4 if kwh else kw
            day = date(2024, 3, 1) + timedelta(days=d)
            lines.append(",".join([f"3100{m:02d}", f"{day:%Y-%m-%d}", *(f"{x:.4f}" for x in v)]))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


META = "meter_id,tariff_class,business,contracted_kw\n310001,residential,home,8\n399999,residential,home,5\n"


@pytest.fixture
def env(tmp_path):
    return make_env(tmp_path)


@pytest.fixture(scope="module")
def kwh_file(tmp_path_factory) -> Path:
    return meter_96(tmp_path_factory.mktemp("meter") / "p96-kwh.csv")


def _api_upload(env, data: bytes, name: str, meta: bytes | None = None, **form: str):
    files = [("file", (name, data, "text/csv"))]
    if meta is not None:
        files.append(("meta", ("meta.csv", meta, "text/csv")))
    r = env.api("analyst").post("/api/v1/uploads", files=files, data=form)
    assert r.status_code == 202, r.text
    job = env.app.state.jobs.wait(r.json()["job_id"], timeout=180)
    assert job.state == "done", job.error
    return job


def _rig(env) -> dict:
    got = env.api("viewer").get("/api/v1/findings", params={"meter_id": "310001"}).json()
    assert got["total"] == 1, got
    return got["items"][0]


def test_kwh_per_interval_upload_gives_the_clis_load_and_machines(env, kwh_file):
    from minewatch.power.readers import read_files
    from minewatch.power.scan import scan_series

    job = _api_upload(env, kwh_file.read_bytes(), "p96-kwh.csv", meter_unit="kwh")
    got = _rig(env)
    # what `minewatch power scan p96-kwh.csv --unit kwh` computes
    total, errors = read_files([kwh_file], unit="kwh")
    (cli,) = [f for f in scan_series(total.series).suspects() if f.meter_id == "310001"]
    assert not errors and cli.kw_mining == pytest.approx(RIG_KW, abs=0.3)
    assert got["kw_mining"] == pytest.approx(cli.kw_mining, abs=0.01) and got["machines_est"] == cli.machines_est == 4
    api = env.api("analyst").get(f"/api/v1/jobs/{job.job_id}").json()
    assert api["meter"] == {"unit": "kwh", "interval_s": None, "tz_offset": 0.0, "meta": None}
    assert api["warnings"] == []  # told, not assumed
    assert any("values read as kWh per interval (as chosen on upload)" in n for n in api["notes"])


def test_an_assumed_unit_is_said_plainly_and_a_new_unit_scans_the_file_again(env, kwh_file):
    data = kwh_file.read_bytes()
    first = _api_upload(env, data, "p96-kwh.csv")
    assert _rig(env)["kw_mining"] == pytest.approx(RIG_KW / 4, abs=0.2)  # read as kW: the reviewer's 3.3 kW
    assert len(first.warnings) == 1 and "unit assumed: points of the day taken as kW (load curve)" in first.warnings[0]
    assert "meter unit set to kWh" in first.warnings[0] and "--unit" not in first.warnings[0]
    assert not any("data issue(s)" in n for n in first.notes)
    c = env.login("viewer")
    en = c.get(f"/jobs/{first.job_id}", params={"lang": "en"}).text
    assert 'id="job-warnings"' in en and "unit assumed" in en and "values read as kW (power) (assumed" in en
    zh = c.get(f"/jobs/{first.job_id}", params={"lang": "zh"}).text
    assert "单位系假定" in zh and "请把电表单位设为 kWh 后重新上传" in zh and "unit assumed" not in zh
    assert "电表文件读取选项" in zh and "依据文件" in zh
    # the same file with its unit: not "already imported" (its findings depend on the unit), read as kWh
    again = _api_upload(env, data, "p96-kwh.csv", meter_unit="kwh")
    assert any("imported before with other meter options; scanned again" in n for n in again.notes)
    assert not any("already imported" in n for n in again.notes)
    fixed = _rig(env)  # the same finding (same meter and onset), now with the right load
    assert fixed["kw_mining"] == pytest.approx(RIG_KW, abs=0.3) and fixed["machines_est"] == 4
    # and the same options once more: the ledger knows it
    third = _api_upload(env, data, "p96-kwh.csv", meter_unit="kwh")
    assert any("already imported" in n for n in third.notes)


def test_page_form_takes_interval_clock_and_a_metadata_file(env, kwh_file):
    c = env.login("analyst")
    page = c.get("/upload").text
    for name in ('name="meter_unit"', 'name="meter_interval"', 'name="meter_tz_offset"', 'name="meta"'):
        assert name in page
    r = c.post("/upload", data={"csrf": csrf_of(page), "meter_unit": "kwh", "meter_interval": "15min",
                                "meter_tz_offset": "8"},
               files=[("file", ("p96-kwh.csv", kwh_file.read_bytes(), "text/csv")),
                      ("meta", ("customers.csv", META.encode(), "text/csv"))])  # fmt: skip
    assert r.status_code == 303, r.text
    job = env.app.state.jobs.wait(r.headers["location"].rsplit("/", 1)[1], timeout=180)
    assert job.state == "done", job.error
    assert [f.filename for f in job.files] == ["p96-kwh.csv"]  # the metadata is not a meter file of the job
    assert job.meter.unit == "kwh" and job.meter.interval_s == 900 and job.meter.tz_offset == 8.0
    assert job.meter.meta is not None and job.meter.meta.filename == "customers.csv"
    assert any("metadata rows for meters not in the data: 1 (399999)" in n for n in job.notes)  # it was read
    got = _rig(env)
    assert got["kw_mining"] == pytest.approx(RIG_KW, abs=0.3)
    assert "(UTC+8)" in got["evidence"][0]["text"]  # onsets on the meter's clock, as `--tz-offset 8`
    shown = c.get(f"/jobs/{job.job_id}", params={"lang": "en"}).text
    assert "Meter files read with" in shown and "15 min" in shown and "UTC+8" in shown and "customers.csv" in shown
    api = env.api("analyst").get(f"/api/v1/jobs/{job.job_id}").json()["meter"]
    assert api["interval_s"] == 900 and api["meta"]["filename"] == "customers.csv"


def test_an_empty_metadata_field_from_a_browser_is_no_metadata(env, kwh_file):
    c = env.login("analyst")
    r = c.post("/upload", data={"csrf": csrf_of(c.get("/upload").text)},
               files=[("file", ("p96-kwh.csv", kwh_file.read_bytes(), "text/csv")),
                      ("meta", ("", b"", "application/octet-stream"))])  # fmt: skip
    assert r.status_code == 303, r.text
    job = env.app.state.jobs.wait(r.headers["location"].rsplit("/", 1)[1], timeout=180)
    assert job.state == "done" and job.meter.meta is None


@pytest.mark.parametrize(("form", "en", "zh"), [
    ({"meter_unit": "mwh"}, "the meter unit must be kwh or kw, got 'mwh'", "电表单位应为 kwh 或 kw"),
    ({"meter_interval": "7min"}, "the meter interval must be 15min, 30min, 1h, 1d or seconds", "电表采集间隔应为"),
    ({"meter_interval": "0"}, "the meter interval must be", "电表采集间隔应为"),
    ({"meter_tz_offset": "99"}, "the meter clock must be between -14 and 14 hours, got '99'", "电表时钟与 UTC 的时差"),
    ({"meter_tz_offset": "nan"}, "the meter clock must be between -14 and 14 hours", "电表时钟与 UTC 的时差"),
])
def test_bad_meter_options_are_a_clear_error_in_both_languages(env, kwh_file, form, en, zh):
    c = env.login("analyst")
    for lang, text in (("en", en), ("zh", zh)):
        r = c.post(f"/upload?lang={lang}", data={"csrf": csrf_of(c.get("/upload").text), **form},
                   files={"file": ("p96-kwh.csv", kwh_file.read_bytes(), "text/csv")})
        assert r.status_code == 400 and text in html.unescape(r.text), r.text[-2000:]
    assert env.app.state.jobs.jobs == {}  # nothing queued
    api = env.api("analyst").post("/api/v1/uploads", files={"file": ("p96-kwh.csv", kwh_file.read_bytes())},
                                  data={"meter_interval": "7min"})
    assert api.status_code == 400 and "meter interval" in api.json()["detail"]
    api = env.api("analyst").post("/api/v1/uploads", files={"file": ("p96-kwh.csv", kwh_file.read_bytes())},
                                  data={"meter_unit": "mwh"})
    assert api.status_code == 422


def test_a_bad_metadata_file_is_refused_on_upload_naming_it(env, kwh_file):
    c = env.login("analyst")
    for lang, text in (("en", "customers.csv, line 1: metadata needs a meter_id column"), ("zh", "档案需要 meter_id 列")):
        r = c.post(f"/upload?lang={lang}", data={"csrf": csrf_of(c.get("/upload").text)},
                   files=[("file", ("p96-kwh.csv", kwh_file.read_bytes(), "text/csv")),
                          ("meta", ("customers.csv", b"name,tariff\nx,y\n", "text/csv"))])  # fmt: skip
        assert r.status_code == 400 and text in html.unescape(r.text), r.text[-2000:]
    assert env.app.state.jobs.jobs == {}
    r = env.api("analyst").post("/api/v1/uploads", files=[("file", ("p96-kwh.csv", kwh_file.read_bytes())),
                                                          ("meta", ("customers.csv", b"name\nx\n"))])
    assert r.status_code == 400 and r.json()["detail"] == "customers.csv, line 1: metadata needs a meter_id column"
