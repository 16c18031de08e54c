"""The case report: bilingual HTML with the evidence, impact and actions; the same as a PDF that renders."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from minewatch.export.report import case_report_html, case_report_pdf
from minewatch.model import Finding
from minewatch.store import cases as C
from minewatch.store.backend import connect
from minewatch.web.service import case_bundle
from web_helpers import finding


@pytest.fixture
def bundle(tmp_path):
    db = connect(tmp_path / "r.duckdb")
    fs = [finding(i, src="10.1.2.3") for i in range(3)]
    power = Finding(kind="mining", detector="power.load", score=88.0, subscores={"step": 88.0}, evidence=[],
                    meter_id="M-0042", kw_mining=35.0, source="m.csv",
                    impact={"kw": 35.0, "kwh_per_year": 306600.0, "co2_t_per_year": 175.3, "coal_t_per_year": 37.7,
                            "machines": 10.0, "currency": "CNY", "cost_per_year": 183960.0,
                            "assumptions": [{"name": "grid_factor", "value": 0.5703, "unit": "tCO2/MWh",
                                             "source": "MEE 2022"}]})  # fmt: skip
    db.add_findings([*fs, power])
    site = C.create_site(db, "Warehouse 9", ip_ranges=["10.1.2.0/24"], meter_ids=["M-0042"], address="9 Dock Rd",
                         actor="ana")  # fmt: skip
    case = C.open_case(db, "Warehouse 9 mining", site_id=site.site_id, actor="ana")
    C.transition(db, case.case_id, "investigating", actor="ana")
    C.add_note(db, case.case_id, "Inspector counted 10 machines <b>bold</b>", actor="insp")
    b = case_bundle(db, case.case_id)
    db.close()
    return b


def test_html_report_holds_the_facts_in_both_languages(bundle):
    html = case_report_html(bundle)
    for text in ("Case report / 案件报告", "Warehouse 9", "9 Dock Rd", "M-0042", "306,600 kWh", "175.3 t",
                 "grid_factor", "pool.example.net", "Cut the power", "断电", "10.1.2.3", "under investigation / 调查中",
                 "login #0 / 登录 #0"):  # fmt: skip
        assert text in html, text
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold" in html  # notes are escaped
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    # times for a reader: whole seconds in UTC (the store keeps microseconds; JSON exports keep them too)
    assert "2024-06-10 06:00:00 UTC" in html and "First seen" in html
    assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d", html) and not re.search(r"T\d{2}:\d{2}:\d{2}", html)
    zh = case_report_html(bundle, lang="zh")
    assert "案件报告" in zh and "Case report" not in zh


def test_pdf_report_renders(bundle, tmp_path):
    pytest.importorskip("weasyprint")
    pdf = case_report_pdf(case_report_html(bundle))
    assert pdf[:5] == b"%PDF-" and len(pdf) > 5000
    if not shutil.which("pdftoppm"):
        pytest.skip("pdftoppm (poppler-utils) not installed")
    p = tmp_path / "case.pdf"
    p.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", str(p), str(tmp_path / "page")], check=True)
    png = next(tmp_path.glob("page*.png"))
    assert png.stat().st_size > 3000
    text = subprocess.run(["pdftotext", str(p), "-"], capture_output=True, text=True).stdout
    assert "Warehouse 9" in text and "M-0042" in text
    if shutil.which("fc-list") and subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True).stdout:
        assert "案件报告" in text  # a Chinese font is installed, so the Chinese text is in the PDF
    art = __import__("pathlib").Path(__file__).resolve().parents[1] / "test-artifacts"
    art.mkdir(exist_ok=True)
    shutil.copy(png, art / "case-report-page1.png")


@pytest.fixture
def power_bundle(tmp_path):
    from minewatch.model import Evidence

    db = connect(tmp_path / "p.duckdb")
    power = Finding(kind="mining", detector="power.load", score=88.0, subscores={"step": 88.0}, meter_id="M-7",
                    evidence=[Evidence("power.step", "stepped up", "阶跃上升",
                                       data={"kw": 14.6, "pre_kw": 3.0, "post_kw": 14.6})],
                    kw_mining=11.6, source="m.csv",
                    impact={"kw": 11.6, "kwh_per_year": 101_600.0, "machines": 3.0, "currency": "CNY",
                            "assumptions": [{"name": "pue", "value": 1.05, "unit": "", "source":
                                             "assumed site overhead (fans, transformers, cooling) on top of the "
                                             "machines' rated power for an air-cooled farm"},
                                            {"name": "hashprice", "value": 0.060452468086615245,
                                             "unit": "USD/(TH/s)/day", "source": "network revenue / hashrate"}]})
    db.add_findings([power])
    site = C.create_site(db, "Farm", meter_ids=["M-7"], actor="ana")
    case = C.open_case(db, "Farm rigs", site_id=site.site_id, actor="ana")
    b = case_bundle(db, case.case_id)
    db.close()
    return b


def test_chinese_report_names_assumptions_history_and_chart_in_chinese(power_bundle):
    """The zh report printed its assumptions, the history's action codes and the chart's labels in English,
    and 17-digit values; the bilingual one declared itself English."""
    zh = case_report_html(power_bundle, lang="zh")
    assert "电能利用效率 PUE（pue）" in zh and "假定风冷矿场" in zh and "assumed site overhead" not in zh
    assert "0.0604525" in zh and "0.060452468086615245" not in zh
    assert "立案" in zh and "case.open" not in zh
    assert "之前" in zh and ">before<" not in zh
    en = case_report_html(power_bundle, lang="en")
    assert "case opened" in en and ">before<" in en and "立案" not in en
    assert '<html lang="zh-CN"' in case_report_html(power_bundle) and '<html lang="en"' in en


def test_load_curve_draws_an_unfilled_line_with_room_for_its_label(power_bundle):
    """WeasyPrint ignores the page CSS inside inline SVG: the load path was filled black and "14.6 kW" was
    cut at the left edge."""
    from minewatch.web.svg import load_curve

    svg = load_curve(power_bundle.findings[0])
    path = re.search(r"<path [^>]*class=\"load\"[^>]*>", svg).group(0)
    assert 'fill="none"' in path and "stroke=" in path
    tick = re.search(r'<text x="([\d.]+)"[^>]*>14\.6 kW</text>', svg)
    assert tick and float(tick.group(1)) >= 7 * 7  # about 7 px per character of "14.6 kW" left of the axis
