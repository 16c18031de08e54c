"""Review 6, defect 5: a site's meter assessment and the assessments of the hosts behind that meter are
not added up (the meter measures the miners' load too); the report shows the hosts on their own line."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from minewatch.export.report import case_report_html, split_meter_and_hosts
from minewatch.model import Evidence, Finding
from minewatch.store import cases as C
from minewatch.store.backend import connect
from web_helpers import T0, finding, make_env


def _meter(kw: float, machines: float) -> Finding:
    return Finding(kind="mining", detector="power.plateau", score=80.0, subscores={"plateau": 80.0},
                   evidence=[Evidence("plateau", "flat load")], meter_id="M-1", onset=T0, last_seen=T0,
                   kw_mining=kw,
                   impact={"kw": kw, "machines": machines, "kwh_per_year": kw * 8766, "co2_t_per_year": kw * 4.7,
                           "coal_t_per_year": kw * 2.7, "model": "Antminer S19 XP (140Th)",
                           "assumptions": [{"name": "co2_factor_CN", "value": 0.5366, "unit": "kgCO2/kWh",
                                            "source": "meter-assessment-source", "as_of": "2022"}]})  # fmt: skip


def _host(i: int, kw: float, machines: float) -> Finding:
    f = finding(i, src=f"10.0.0.{i}")
    f.impact = {"kw": kw, "machines": machines, "kwh_per_year": kw * 8766, "co2_t_per_year": kw * 4.7,
                "coal_t_per_year": kw * 2.7, "model": "Antminer L9",
                "assumptions": [{"name": "model_typical", "value": "Antminer L9", "unit": "",
                                 "source": "host-assessment-source", "as_of": "2024"}]}  # fmt: skip
    return f


def test_split_keeps_the_meter_and_sets_its_sites_hosts_apart():
    rows = [("M-1", {"kw": 500.0}, None, 1, True), ("10.0.0.5", {"kw": 50.0}, None, 1, False),
            ("10.9.9.9", {"kw": 7.0}, None, 2, False), ("10.8.8.8", {"kw": 3.0}, None, None, False)]  # fmt: skip
    counted, behind = split_meter_and_hosts(rows)
    assert set(counted) == {"M-1", "10.9.9.9", "10.8.8.8"}  # site 2 has no meter; .8 has no site
    assert set(behind) == {"10.0.0.5"}


def _bundle(fs: list[Finding]) -> SimpleNamespace:
    case = SimpleNamespace(case_id=1, title="t", state="investigating", reason=None, created_at=T0, updated_at=T0,
                           created_by="ana")  # fmt: skip
    return SimpleNamespace(case=case, site=None, findings=fs, notes=[], attachments=[], history=[])


def test_case_report_total_is_the_meter_and_hosts_are_a_separate_line():
    fs = [_meter(500.0, 150.0), _host(5, 40.0, 12.0), _host(6, 16.1, 4.0)]
    html = case_report_html(_bundle(fs), lang="en")
    assert "500.0 kW" in html and "556.1 kW" not in html
    assert "impact-behind-meter" in html and "2 host(s): 56.1 kW, 16 machines" in html
    # the assumptions shown are those of the counted (meter) assessment, named as such
    assert "meter-assessment-source" in html and "host-assessment-source" not in html
    assert "Assumptions of the assessment of M-1" in html


def test_case_report_without_a_meter_still_adds_the_hosts():
    html = case_report_html(_bundle([_host(5, 40.0, 12.0), _host(6, 16.1, 4.0)]), lang="en")
    assert "56.1 kW" in html and "impact-behind-meter" not in html


def test_overview_does_not_add_a_sites_meter_and_its_hosts(tmp_path):
    m, a, b, other = _meter(500.0, 150.0), _host(5, 40.0, 12.0), _host(6, 16.1, 4.0), _host(7, 2.0, 1.0)
    other.src_ip = "192.168.9.9"  # not in the site's range: counted
    env = make_env(tmp_path, [m, a, b, other])
    db = connect(env.db_path)
    try:
        site = C.create_site(db, "Lab", ip_ranges=["10.0.0.0/24"], meter_ids=["M-1"], actor="test")
        C.attach_findings(db, site_ids=[site.site_id])
    finally:
        db.close()
    ov = env.api("viewer").get("/api/v1/overview").json()
    assert ov["kwh_per_year"] == pytest.approx((500.0 + 2.0) * 8766)
    assert ov["assessed"] == 2
