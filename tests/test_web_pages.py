"""The dashboard pages through FastAPI's test client: log-in, findings, cases, uploads, exports."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from minewatch.store import cases as C
from minewatch.store.backend import connect
from web_helpers import PASSWORD, csrf_of, finding, make_env


@pytest.fixture
def env(tmp_path):
    fs = [finding(i, src=f"10.1.2.{i % 200}", coin="XMR" if i % 3 else "BTC", score=50 + i % 50) for i in range(120)]
    fs.append(finding(500, src="10.9.0.1", kind="node", coin=None, score=75))
    return make_env(tmp_path, fs)


def test_everything_needs_a_login(env):
    c = env.client()
    for path in ("/", "/findings", "/cases", "/sites", "/allow", "/upload", "/exports/nft", "/audit", "/users"):
        r = c.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/login"), path
    assert c.get("/api/v1/findings").status_code == 401


def test_login_sets_a_hardened_cookie_and_rejects_wrong_passwords(env):
    c = env.client()
    page = c.get("/login")
    r = c.post("/login", data={"username": "analyst", "password": "wrong password", "csrf": csrf_of(page.text)})
    assert r.status_code == 303 and "error=1" in r.headers["location"]
    assert "mw_session" not in r.cookies
    page = c.get("/login")
    r = c.post("/login", data={"username": "analyst", "password": PASSWORD, "csrf": csrf_of(page.text)})
    cookie = r.headers["set-cookie"].lower()
    assert "mw_session=" in cookie and "httponly" in cookie and "secure" in cookie and "samesite=strict" in cookie
    home = c.get("/")
    assert home.status_code == 200 and "analyst" in home.text
    # the log-in form itself is CSRF-protected
    c2 = env.client()
    c2.get("/login")
    assert c2.post("/login", data={"username": "analyst", "password": PASSWORD, "csrf": "forged"}).status_code == 403


def test_open_redirect_after_login_is_refused(env):
    c = env.client()
    page = c.get("/login")
    r = c.post("/login", data={"username": "viewer", "password": PASSWORD, "csrf": csrf_of(page.text),
                               "next": "//evil.example/x"})  # fmt: skip
    assert r.headers["location"] == "/"


def test_findings_list_counts_and_pages_without_truncating(env):
    c = env.login("viewer")
    r = c.get("/findings", params={"per_page": 50})
    assert "Showing 1–50 of 121 findings" in r.text
    assert len(re.findall(r'class="finding-link"', r.text)) == 50
    last = c.get("/findings", params={"per_page": 50, "page": 3})
    assert "Showing 101–121 of 121 findings" in last.text
    assert len(re.findall(r'class="finding-link"', last.text)) == 21
    ids = set()
    for p in (1, 2, 3):
        ids |= set(re.findall(r'href="/findings/([0-9a-f]+)"', c.get("/findings", params={"per_page": 50, "page": p}).text))
    assert len(ids) == 121  # every finding reachable, none twice


def test_filters_narrow_the_list(env):
    c = env.login("viewer")
    assert "of 1 findings" in c.get("/findings", params={"kind": "node"}).text
    btc = c.get("/findings", params={"coin": "BTC"}).text
    assert f"of {len([i for i in range(120) if i % 3 == 0])} findings" in btc
    hi = c.get("/findings", params={"min_score": "95"}).text
    assert f"of {len([i for i in range(120) if 50 + i % 50 >= 95])} findings" in hi
    assert "of 0 findings" in c.get("/findings", params={"window": "24h"}).text  # data is from 2024
    bad = c.get("/findings", params={"min_score": "lots"})
    assert bad.status_code == 200 and "min_score=lots" in bad.text


def test_language_switch(env):
    c = env.login("viewer")
    zh = c.get("/findings", params={"lang": "zh"})
    assert "共 121 条" in zh.text and "发现" in zh.text
    assert "共 121 条" in c.get("/findings").text  # remembered in a cookie
    assert "of 121 findings" in c.get("/findings", params={"lang": "en"}).text


def test_case_flow_through_the_pages(env):
    c = env.login("analyst")
    fid = re.search(r'href="/findings/([0-9a-f]+)"', c.get("/findings").text).group(1)
    page = c.get(f"/findings/{fid}")
    assert page.status_code == 200 and "login #" in page.text and "<svg" in page.text  # timeline picture
    r = c.post(f"/findings/{fid}/case", data={"title": "Rigs in lab 2", "csrf": csrf_of(page.text)})
    assert r.status_code == 303
    case_url = r.headers["location"]
    case = c.get(case_url)
    assert "Rigs in lab 2" in case.text and "suspected" in case.text
    tok = csrf_of(case.text)
    bad = c.post(case_url + "/state", data={"state": "power_cut", "csrf": tok})
    assert bad.status_code == 409 and "not allowed" in bad.text
    assert c.post(case_url + "/state", data={"state": "dismissed", "csrf": tok}).status_code == 409  # no reason
    for s in ("investigating", "confirmed", "network_cut"):
        assert c.post(case_url + "/state", data={"state": s, "csrf": tok}).status_code == 303
    assert c.post(case_url + "/notes", data={"body": "Visited: 12 machines behind the lab", "csrf": tok}).status_code == 303
    case = c.get(case_url)
    assert 'id="case-state">network cut' in case.text and "12 machines" in case.text
    html = c.get(case_url + "/report.html")
    assert html.status_code == 200 and "Case report / 案件报告" in html.text and "12 machines" in html.text


def test_site_attaches_findings_and_allow_rule_from_finding(env):
    c = env.login("analyst")
    tok = csrf_of(c.get("/sites").text)
    r = c.post("/sites", data={"name": "Lab", "ip_ranges": "10.1.2.0/28", "meter_ids": "", "csrf": tok})
    assert r.status_code == 303
    site = c.get(r.headers["location"])
    n = len({i % 200 for i in range(120) if i % 200 < 16})
    assert f"({n})" in site.text  # findings of 10.1.2.0-15
    bad = c.post("/sites", data={"name": "X", "ip_ranges": "10.1.2.0/33", "csrf": tok})
    assert bad.status_code == 400 and "10.1.2.0/33" in bad.text
    # allow-list from the node finding
    fid = re.search(r'href="/findings/([0-9a-f]+)"', c.get("/findings", params={"kind": "node"}).text).group(1)
    page = c.get(f"/findings/{fid}")
    r = c.post(f"/findings/{fid}/allow", data={"value": "cidr:10.9.0.1", "reason": "our own node", "csrf": csrf_of(page.text)})
    assert r.status_code == 303
    assert "our own node" in c.get("/allow").text
    assert "allowed" in c.get("/findings", params={"kind": "node"}).text
    forged = c.post(f"/findings/{fid}/allow", data={"value": "cidr:0.0.0.0/0", "reason": "x", "csrf": csrf_of(page.text)})
    assert forged.status_code == 400  # only the finding's own values


def test_upload_scans_a_capture_in_the_background(env, tmp_path):
    scenario = pytest.importorskip("minewatch.synth.scenario")
    cap = scenario.write_demo_capture(tmp_path / "demo.pcapng")
    c = env.login("analyst")
    tok = csrf_of(c.get("/upload").text)
    with open(cap, "rb") as fh:
        r = c.post("/upload", data={"csrf": tok}, files={"file": ("../../demo.pcapng", fh, "application/octet-stream")})
    assert r.status_code == 303 and r.headers["location"].startswith("/jobs/")
    job_id = r.headers["location"].rsplit("/", 1)[1]
    job = env.app.state.jobs.wait(job_id, timeout=120)
    assert job.state == "done", job.error
    assert job.filename == "demo.pcapng" and job.findings > 0
    page = c.get(f"/jobs/{job_id}")
    assert 'id="job-state" class="job-done"' in page.text and page.text.count('class="finding-link"') == min(job.findings, 50)
    stored = list((env.data_dir / "uploads").iterdir())
    assert [p.name for p in stored] == [job.sha256]  # kept under its hash, nowhere else


def test_unknown_files_fail_clearly(env):
    c = env.login("analyst")
    tok = csrf_of(c.get("/upload").text)
    r = c.post("/upload", data={"csrf": tok}, files={"file": ("x.bin", b"\x00\xff\xfe\x01" * 10, "application/octet-stream")})
    job = env.app.state.jobs.wait(r.headers["location"].rsplit("/", 1)[1])
    assert job.state == "failed" and "capture" in job.error


def test_exports_from_the_web_match_the_registry(env):
    from minewatch.export import EXPORTERS

    c = env.login("viewer")
    for kind in EXPORTERS:
        r = c.get(f"/exports/{kind}", params={"min_score": 60})
        assert r.status_code == 200, kind
        assert r.headers["content-disposition"].startswith(f'attachment; filename="minewatch-{kind}.')
    nft = c.get("/exports/nft", params={"min_score": 60}).text
    assert "203.0.113.7" not in nft or "minewatch" in nft
    assert c.get("/exports/no-such-kind").status_code == 404


def test_viewer_reads_but_cannot_change(env):
    c = env.login("viewer")
    tok = csrf_of(c.get("/sites").text)
    assert c.post("/sites", data={"name": "X", "ip_ranges": "10.0.0.0/8", "csrf": tok}).status_code == 403
    assert c.get("/users").status_code == 403
    a = env.login("analyst")
    assert a.get("/users").status_code == 403
    adm = env.login("admin")
    page = adm.get("/users")
    assert page.status_code == 200
    r = adm.post("/users", data={"username": "inspector", "password": "another long password", "role": "analyst",
                                 "csrf": csrf_of(page.text)})  # fmt: skip
    assert r.status_code == 303 and "inspector" in adm.get("/users").text


def test_server_does_not_lock_the_cli_out(env):
    c = env.login("viewer")
    assert c.get("/findings").status_code == 200
    code = (
        "import sys; from minewatch.store import Store; from minewatch.model import Finding;"
        f"s = Store({str(env.db_path)!r});"
        "s.add_findings([Finding(kind='mining', detector='t', score=99.0, subscores={'x': 99.0}, evidence=[], src_ip='10.7.7.7')]);"
        "s.close(); print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr
    assert "of 122 findings" in c.get("/findings").text
    db = connect(env.db_path)
    try:
        assert C.verify_audit(db) is None
    finally:
        db.close()


def test_busy_store_page_retries_by_itself_and_the_api_says_503(env, monkeypatch):
    """With a DuckDB file a scan holds the store for a moment: a page (a job page refreshing itself)
    must keep trying instead of stopping on an error page; the API answers 503 with Retry-After."""
    from minewatch.store.backend import StoreBusy
    from minewatch.web import app as web_app

    page, api = env.login("analyst"), env.api("analyst")
    assert page.get("/findings").status_code == 200

    def busy(*_a, **_k):
        raise StoreBusy("w.duckdb: the store is in use by another process")

    monkeypatch.setattr(web_app, "connect", busy)
    r = page.get("/findings")
    assert r.status_code == 503 and r.headers["retry-after"] == "2"
    assert '<meta http-equiv="refresh" content="2">' in r.text and 'id="store-busy"' in r.text
    r = api.get("/api/v1/findings")
    assert r.status_code == 503 and r.headers["retry-after"] == "5" and "in use" in r.json()["detail"]
    monkeypatch.undo()
    assert page.get("/findings").status_code == 200  # and the next refresh gets the page


def test_finding_page_says_when_the_parts_exceed_the_capped_score(tmp_path):
    capped = finding(1, score=100.0)
    capped.subscores = {"protocol": 60.0, "pool_domain": 40.0, "wallet": 10.0}
    capped.encrypted = False
    exact = finding(2, src="10.1.2.9", score=70.0)
    exact.subscores = {"protocol": 60.0, "wallet": 10.0}
    env = make_env(tmp_path, [capped, exact])
    c = env.login("viewer")
    fids = set(re.findall(r'href="/findings/([0-9a-f]+)"', c.get("/findings").text))
    pages = {re.search(r"<h1>[^:]*: (10\.1\.2\.\d+)", p.text).group(1): p for p in (c.get(f"/findings/{i}") for i in fids)}
    assert set(pages) == {"10.1.2.3", "10.1.2.9"}
    row = re.search(r'id="score-parts">(.*?)</td>', pages["10.1.2.3"].text, re.S).group(1)
    assert "<b>100</b> ←" in row and "add up to 110" in row
    assert "<th>Encrypted</th><td class=\"mono\">no</td>" in pages["10.1.2.3"].text
    row = re.search(r'id="score-parts">(.*?)</td>', pages["10.1.2.9"].text, re.S).group(1)
    assert "<b>70</b> =" in row and "add up to" not in row
    zh = c.get(pages["10.1.2.3"].url, params={"lang": "zh"}).text
    assert "各项合计 110" in zh and "<td class=\"mono\">否</td>" in zh
