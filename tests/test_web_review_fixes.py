"""Defects a review of the dashboard and the API found, each held down by a test: parallel requests
(log-in throttle, case transitions), log-out, final cases, the API documentation under the app's own
Content-Security-Policy, exports, overview totals, re-uploads, paging limits, Chinese pages and the
documented API shapes."""

from __future__ import annotations

from collections import Counter

import pytest
from fastapi.testclient import TestClient

from minewatch.store import cases as C
from minewatch.store.backend import connect
from parallel import run_together
from web_helpers import csrf_of, finding, make_env


@pytest.fixture
def env(tmp_path):
    fs = [finding(i, src=f"10.1.2.{i % 200}", coin="XMR" if i % 3 else "BTC", score=50 + i % 50) for i in range(60)]
    return make_env(tmp_path, fs, login_max_failures=5, login_max_failures_per_address=20, login_window_s=900)


def _parallel(n: int, work) -> list[object]:
    return run_together(n, work)


def _audit(env) -> list[C.AuditEntry]:
    db = connect(env.db_path)
    try:
        return C.audit_log(db, limit=10_000)[1]
    finally:
        db.close()


# -- 2: log-in throttle under parallel requests ----------------------------------------------------------
def test_parallel_wrong_passwords_get_no_more_than_the_limit_checked(env):
    def guess(i: int) -> int:
        c = TestClient(env.app, base_url="https://testserver", follow_redirects=False, client=("192.0.2.7", 40000 + i))
        tok = csrf_of(c.get("/login").text)
        return c.post("/login", data={"username": "viewer", "password": f"wrong guess {i}", "csrf": tok,
                                      "next": "/"}).status_code  # fmt: skip

    codes = Counter(_parallel(24, guess))
    assert codes == {303: 5, 429: 19}, codes
    actions = Counter(e.action for e in _audit(env))
    assert actions["login.fail"] == 5
    assert actions["login.lockout"] == 1  # once per lock, not once per failure


def test_a_successful_log_in_does_not_count_against_the_address(env):
    lim = env.app.state.login_limiter
    for _ in range(25):
        env.login("viewer")
    assert lim.check("someone", "testclient") is None


# -- 7: log-out ends the session on the server ----------------------------------------------------------
def test_logged_out_session_cookie_is_refused_and_the_log_out_is_audited(env):
    c = env.login("analyst")
    cookie = c.cookies.get("mw_session")
    page = c.get("/findings")
    assert page.status_code == 200
    r = c.post("/logout", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 303
    assert cookie
    replay = env.client()
    r = replay.get("/findings", headers={"cookie": f"mw_session={cookie}"})
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert any(e.action == "logout" and e.actor == "analyst" for e in _audit(env))
    # other sessions of the same user are not ended by this log-out
    other = env.login("analyst")
    live = other.cookies.get("mw_session")
    assert env.client().get("/findings", headers={"cookie": f"mw_session={live}"}).status_code == 200


# -- 8: final cases take no new findings ------------------------------------------------------------------
def test_findings_cannot_be_added_to_a_dismissed_case(env):
    an = env.api("analyst")
    ids = [x["finding_id"] for x in an.get("/api/v1/findings", params={"limit": 2}).json()["items"]]
    case = an.post("/api/v1/cases", json={"title": "false alarm", "finding_ids": ids[:1]}).json()
    cid = case["case_id"]
    assert an.post(f"/api/v1/cases/{cid}/transition", json={"state": "dismissed", "reason": "lab test"}).status_code == 200
    r = an.post(f"/api/v1/cases/{cid}/findings", json={"finding_ids": ids[1:]})
    assert r.status_code == 409 and "new case" in r.json()["detail"]
    page = env.login("analyst")
    tok = csrf_of(page.get(f"/findings/{ids[1]}").text)
    r = page.post(f"/findings/{ids[1]}/case", data={"case_id": str(cid), "csrf": tok})
    assert r.status_code == 409 and "new case" in r.text
    assert env.api("viewer").get(f"/api/v1/cases/{cid}").json()["finding_ids"] == ids[:1]


# -- 9: two transitions at once -------------------------------------------------------------------------------
def test_simultaneous_transitions_answer_409_json_never_500(env):
    an = env.api("analyst")
    for round_ in range(4):
        cid = an.post("/api/v1/cases", json={"title": f"race {round_}"}).json()["case_id"]
        bodies = [{"state": "investigating"}, {"state": "dismissed", "reason": "test traffic"}]

        def move(i: int, cid: int = cid, bodies: list = bodies) -> tuple[int, str]:
            r = env.api("analyst").post(f"/api/v1/cases/{cid}/transition", json=bodies[i])
            return r.status_code, r.headers["content-type"]

        got = _parallel(2, move)
        codes = sorted(code for code, _ in got)
        assert codes in ([200, 200], [200, 409]), got
        assert all(ct.startswith("application/json") for _, ct in got)


# -- 6: energy counted once per host ---------------------------------------------------------------------------
def test_overview_counts_each_hosts_latest_assessment_once(tmp_path):
    a, b = finding(1, src="10.30.1.17"), finding(2, src="10.30.1.17")  # one miner, two sessions
    c = finding(3, src="10.30.1.18")
    a.impact = {"kwh_per_year": 600.0, "co2_t_per_year": 0.3, "coal_t_per_year": 0.2, "assessed_at": "2024-06-11T00:00:00Z"}
    b.impact = {"kwh_per_year": 622.77, "co2_t_per_year": 0.35, "coal_t_per_year": 0.25, "assessed_at": "2024-06-12T00:00:00Z"}
    c.impact = {"kwh_per_year": 100.0, "co2_t_per_year": 0.05, "coal_t_per_year": 0.04}
    env = make_env(tmp_path, [a, b, c])
    ov = env.api("viewer").get("/api/v1/overview").json()
    assert ov["kwh_per_year"] == pytest.approx(722.77)  # 622.77 (latest of .17) + 100, not 1322.77
    assert ov["co2_t_per_year"] == pytest.approx(0.40) and ov["assessed"] == 2


# -- 10: the API documentation -----------------------------------------------------------------------------------
def test_api_docs_work_under_our_csp_and_need_a_log_in(env):
    anon = env.client()
    assert anon.get("/api/openapi.json").status_code == 401
    r = anon.get("/api/docs")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    spec = env.api("viewer").get("/api/openapi.json")
    assert spec.status_code == 200 and "/api/v1/findings" in spec.json()["paths"]
    page = env.login("viewer")
    assert page.get("/api/openapi.json").status_code == 200
    docs = page.get("/api/docs")
    assert docs.status_code == 200
    assert "<script" not in docs.text and "cdn." not in docs.text and "http://" not in docs.text.lower().replace(
        "http://www.w3.org", "")
    assert "/api/v1/cases/{case_id}/transition" in docs.text and 'href="/api/openapi.json"' in docs.text
    assert "script-src 'none'" in docs.headers["content-security-policy"]


# -- 11: the same export parameters give the same file everywhere -----------------------------------------
def test_exports_from_page_and_api_agree_for_the_same_parameters(env):
    page, api = env.login("viewer"), env.api("viewer")
    for kind in ("csv", "jsonl", "nft"):
        for params in ({}, {"min_score": 70}, {"min_score": 90}, {"min_score": 0}):
            p, a = page.get(f"/exports/{kind}", params=params), api.get(f"/api/v1/exports/{kind}", params=params)
            assert p.status_code == a.status_code == 200
            assert p.headers["x-findings-used"] == a.headers["x-findings-used"], (kind, params)
            if kind != "nft":  # nft carries its time of making
                assert p.text == a.text, (kind, params)
    # min_score is the blocking threshold, not a filter: the listing formats hold every finding
    assert len(page.get("/exports/jsonl", params={"min_score": 90}).text.splitlines()) == 60
    form = page.get("/exports/download", params={"kind": "jsonl", "min_score": "90", "site_id": "", "case_id": "",
                                                 "since": ""})  # fmt: skip
    assert form.status_code == 200 and form.text == page.get("/exports/jsonl").text
    assert page.get("/exports/download", params={"kind": "nope"}).status_code == 404
    assert page.get("/exports/csv", params={"min_score": "x"}).status_code == 400


def test_exports_page_has_a_submit_button_every_kind_and_true_text(env):
    from minewatch.export import EXPORTERS

    text = env.login("viewer").get("/exports").text
    assert 'action="/exports/download"' in text and 'id="export-button"' in text and 'type="submit"' in text
    for kind in EXPORTERS:
        assert f'<option value="{kind}">' in text
    assert "Links export everything at score" not in text  # the old, untrue sentence is gone
    assert "ecs, csv, jsonl" in text and "whatever its score" in text


# -- 12: X-Findings-Used leaves allow-listed findings out ---------------------------------------------------------
def test_export_counts_leave_allow_listed_findings_out(env):
    an = env.api("analyst")
    items = an.get("/api/v1/findings", params={"ip": "10.1.2.5"}).json()["items"]
    assert an.post(f"/api/v1/findings/{items[0]['finding_id']}/allow",
                   json={"kind": "cidr", "value": "10.1.2.5", "reason": "our lab node"}).status_code == 201  # fmt: skip
    for r in (env.login("viewer").get("/exports/jsonl"), env.api("viewer").get("/api/v1/exports/jsonl")):
        assert r.headers["x-findings-matched"] == "60"
        assert r.headers["x-findings-used"] == str(60 - len(items)) == str(len(r.text.splitlines()))
    exports = [e for e in _audit(env) if e.action == "export"]
    assert exports and all(e.after["findings"] == 60 - len(items) for e in exports)


# -- 13: a report fetched through the API is audited ------------------------------------------------------------
def test_api_report_download_is_audited(env):
    cid = env.api("analyst").post("/api/v1/cases", json={"title": "report me"}).json()["case_id"]
    assert env.api("viewer").get(f"/api/v1/cases/{cid}/report").status_code == 200
    hits = [e for e in _audit(env) if e.action == "case.report" and e.object_id == str(cid)]
    assert len(hits) == 1 and hits[0].actor == "viewer" and hits[0].after["via"] == "api"


# -- 14: page numbers past anything --------------------------------------------------------------------------------
def test_huge_page_numbers_give_an_empty_page_not_500(env):
    c = env.login("viewer")
    site = env.api("analyst").post("/api/v1/sites", json={"name": "S", "ip_ranges": ["10.1.2.0/24"]}).json()
    case = env.api("analyst").post("/api/v1/cases", json={"title": "C", "site_id": site["site_id"]}).json()
    huge = "99999999999999999999"
    for path, params in (("/audit", {}), ("/findings", {}), ("/findings", {"site_id": site["site_id"]}),
                         ("/findings", {"case_id": case["case_id"]})):  # fmt: skip
        r = c.get(path, params={**params, "page": huge})
        assert r.status_code == 200, (path, params, r.status_code)
    assert c.get("/findings", params={"site_id": site["site_id"], "page": huge}).text.count('class="finding-link"') == 0


# -- 15: Chinese pages -------------------------------------------------------------------------------------------------
def test_chinese_pages_have_no_english_sorts_errors_or_refusals(env):
    zh = env.login("viewer")
    zh.get("/", params={"lang": "zh"})
    page = zh.get("/findings")
    assert ">score<" not in page.text and ">newest<" not in page.text and "最新在前" in page.text
    r = zh.get("/cases/999")
    assert r.status_code == 404 and "没有案件 999" in r.text and "no case" not in r.text
    r = zh.get("/findings/nope")
    assert r.status_code == 404 and "没有发现 nope" in r.text
    # a form post the role does not allow: an HTML page in Chinese, not a JSON body
    r = zh.post("/sites", data={"name": "X", "ip_ranges": "10.0.0.0/8", "csrf": csrf_of(page.text)})
    assert r.status_code == 403 and r.headers["content-type"].startswith("text/html") and "分析员" in r.text
    r = zh.post("/sites", data={"name": "X", "ip_ranges": "10.0.0.0/8", "csrf": "wrong"})
    assert r.status_code == 403 and r.headers["content-type"].startswith("text/html") and "CSRF 令牌" in r.text
    an = env.login("analyst")
    an.get("/", params={"lang": "zh"})
    cid = env.api("analyst").post("/api/v1/cases", json={"title": "zh"}).json()["case_id"]
    tok = csrf_of(an.get(f"/cases/{cid}").text)
    r = an.post(f"/cases/{cid}/state", data={"state": "closed", "csrf": tok})
    assert r.status_code == 409 and "不允许从“疑似”转为“已结案”" in r.text and "not allowed" not in r.text
    # the API keeps English JSON
    r = env.api("viewer").get("/api/v1/cases/999")
    assert r.status_code == 404 and r.json() == {"detail": "no case 999"}


def test_job_page_names_the_finding_kind_in_chinese(env, tmp_path):
    scenario = pytest.importorskip("minewatch.synth.scenario")
    cap = scenario.write_demo_capture(tmp_path / "demo.pcap")
    r = env.api("analyst").post("/api/v1/uploads", files={"file": ("demo.pcap", cap.read_bytes(), "application/octet-stream")})
    job = env.app.state.jobs.wait(r.json()["job_id"], timeout=180)
    assert job.state == "done"
    text = env.login("viewer").get(f"/jobs/{job.job_id}", params={"lang": "zh"}).text
    assert "<td>挖矿</td>" in text and "<td>mining</td>" not in text


# -- 16: documented API shapes and codes ------------------------------------------------------------------------------
def test_audit_list_has_the_documented_paging_fields(env):
    got = env.api("viewer").get("/api/v1/audit", params={"limit": 2, "offset": 1}).json()
    assert {"total", "offset", "limit", "items", "chain_broken_at"} <= set(got)
    assert got["offset"] == 1 and got["limit"] == 2 and len(got["items"]) == 2


def test_chunked_upload_over_the_limit_is_413(tmp_path):
    env = make_env(tmp_path, max_upload_bytes=4096)

    def body():
        yield b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.pcap\"\r\n\r\n"
        for _ in range(20):
            yield b"\0" * 1024
        yield b"\r\n--b--\r\n"

    r = env.api("analyst").post("/api/v1/uploads", content=body(),
                                headers={"content-type": "multipart/form-data; boundary=b"})  # fmt: skip
    assert r.status_code == 413 and "larger than 4096" in r.json()["detail"]


def test_busy_store_answer_does_not_show_the_path_or_the_holder(env, monkeypatch):
    from minewatch.store.backend import StoreBusy
    from minewatch.web import app as web_app

    def busy(*_a, **_k):
        raise StoreBusy("/srv/secret/place.duckdb", holder="python3.11, PID 4711: minewatch scan", waited_s=3)

    monkeypatch.setattr(web_app, "connect", busy)
    for r in (env.client().get("/api/v1/findings"), env.client().get("/findings")):
        assert r.status_code == 503
        assert "/srv/secret" not in r.text and "4711" not in r.text


def test_web_and_cli_exports_are_the_same_file(env, tmp_path):
    """Rows with tied scores too: the page and the API list findings in the CLI's order."""
    from typer.testing import CliRunner

    from minewatch.cli import app

    out = tmp_path / "cli.jsonl"
    r = CliRunner().invoke(app, ["export", "jsonl", "--db", str(env.db_path), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert env.api("viewer").get("/api/v1/exports/jsonl").text == out.read_text(encoding="utf-8")
    assert env.login("viewer").get("/exports/jsonl").text == out.read_text(encoding="utf-8")
