"""The HTTP API: token authentication, roles, paging, case updates, and attacks on every input."""

from __future__ import annotations

import pytest

from web_helpers import csrf_of, finding, make_env

INJECTIONS = [
    "' OR '1'='1", "1; DROP TABLE findings; --", "\" OR 1=1 --", "XMR') UNION SELECT * FROM users --",
    "../../../../etc/passwd", "%00", "<script>alert(1)</script>", "1e309", "-1", "９９",
]  # fmt: skip


@pytest.fixture
def env(tmp_path):
    fs = [finding(i, src=f"10.1.2.{i}", coin="XMR" if i % 2 else "BTC", score=60 + i) for i in range(30)]
    return make_env(tmp_path, fs, max_upload_bytes=4096, max_attachment_bytes=1000)


def test_tokens_are_required_and_checked(env):
    c = env.client()
    assert c.get("/api/v1/findings").status_code == 401
    c.headers["Authorization"] = "Bearer mw_not-a-token"
    assert c.get("/api/v1/findings").status_code == 401
    c.headers["Authorization"] = "Basic dXNlcjpwYXNz"
    assert c.get("/api/v1/findings").status_code == 401
    assert env.api("viewer").get("/api/v1/me").json()["role"] == "viewer"


def test_api_pages_report_the_total(env):
    a = env.api("viewer")
    got = a.get("/api/v1/findings", params={"limit": 7, "offset": 28}).json()
    assert got["total"] == 30 and len(got["items"]) == 2
    ids = []
    for off in range(0, 30, 7):
        ids += [x["finding_id"] for x in a.get("/api/v1/findings", params={"limit": 7, "offset": off}).json()["items"]]
    assert len(ids) == len(set(ids)) == 30
    assert a.get("/api/v1/findings", params={"coin": "btc"}).json()["total"] == 15
    assert a.get("/api/v1/findings", params={"min_score": 80}).json()["total"] == 10
    assert a.get("/api/v1/findings", params={"limit": 501}).status_code == 422


def test_case_updates_through_the_api(env):
    an = env.api("analyst")
    fid = an.get("/api/v1/findings", params={"limit": 1}).json()["items"][0]["finding_id"]
    site = an.post("/api/v1/sites", json={"name": "Block 7", "ip_ranges": ["10.1.2.0/29"]}).json()
    assert site["findings"] == 8
    case = an.post("/api/v1/cases", json={"title": "Block 7 rigs", "site_id": site["site_id"]}).json()
    assert case["findings"] == 8 and case["allowed_next"] == ["investigating", "dismissed"]
    cid = case["case_id"]
    assert an.post(f"/api/v1/cases/{cid}/transition", json={"state": "closed"}).status_code == 409
    r = an.post(f"/api/v1/cases/{cid}/transition", json={"state": "investigating"})
    assert r.status_code == 200 and r.json()["state"] == "investigating"
    assert an.post(f"/api/v1/cases/{cid}/notes", json={"body": "grid work order 2024-118"}).status_code == 201
    assert an.post(f"/api/v1/cases/{cid}/findings", json={"finding_ids": [fid]}).json()["added"] in (0, 1)
    full = env.api("viewer").get(f"/api/v1/cases/{cid}").json()
    assert [h["action"] for h in full["history"]][:2] == ["case.open", "case.state"]
    assert full["notes"][0]["body"] == "grid work order 2024-118"
    assert env.api("viewer").post(f"/api/v1/cases/{cid}/transition", json={"state": "confirmed"}).status_code == 403
    rep = env.api("viewer").get(f"/api/v1/cases/{cid}/report", params={"lang": "zh"})
    assert rep.status_code == 200 and "案件报告" in rep.text and "grid work order" in rep.text


def test_only_admins_manage_users(env):
    body = {"username": "new.user", "password": "yet another password", "role": "viewer"}
    assert env.api("analyst").post("/api/v1/users", json=body).status_code == 403
    assert env.api("analyst").get("/api/v1/users").status_code == 403
    assert env.api("admin").post("/api/v1/users", json=body).status_code == 201
    names = [u["username"] for u in env.api("admin").get("/api/v1/users").json()]
    assert "new.user" in names and all("pw_hash" not in u for u in env.api("admin").get("/api/v1/users").json())


@pytest.mark.parametrize("value", INJECTIONS)
def test_injection_in_every_filter_is_just_data(env, value):
    a = env.api("viewer")
    for key in ("coin", "ip", "meter_id", "object_type"):
        path = "/api/v1/audit" if key == "object_type" else "/api/v1/findings"
        r = a.get(path, params={key: value})
        assert r.status_code in (200, 422), (key, r.text)
        if r.status_code == 200 and path.endswith("findings"):
            assert r.json()["total"] == 0
    for key in ("min_score", "max_score", "site_id", "case_id", "since", "until", "kind", "sort"):
        assert a.get("/api/v1/findings", params={key: value}).status_code in (200, 422), key
    assert a.get("/api/v1/findings").json()["total"] == 30  # the table is still there
    p = env.login("viewer")
    for key in ("coin", "ip", "meter_id", "min_score", "site_id", "case_id", "kind", "sort", "window", "since"):
        r = p.get("/findings", params={key: value})
        assert r.status_code == 200, (key, r.status_code)
        assert "<script>alert(1)</script>" not in r.text  # escaped when echoed
    assert p.get("/cases", params={"state": value}).status_code == 200


def test_csrf_is_checked_on_every_form(env):
    c = env.login("admin")
    cid = env.api("analyst").post("/api/v1/cases", json={"title": "t"}).json()["case_id"]
    posts = [
        ("/sites", {"name": "x", "ip_ranges": "10.0.0.0/8"}), (f"/cases/{cid}/state", {"state": "investigating"}),
        (f"/cases/{cid}/notes", {"body": "x"}), ("/users", {"username": "u2", "password": "long password 123", "role": "viewer"}),
        ("/users/1/role", {"role": "viewer"}), ("/users/1/token", {}), ("/logout", {}), ("/allow/1/remove", {}),
    ]  # fmt: skip
    for path, data in posts:
        assert c.post(path, data=data).status_code == 403, path
        assert c.post(path, data={**data, "csrf": "wrong"}).status_code == 403, path
    assert env.api("viewer").get(f"/api/v1/cases/{cid}").json()["state"] == "suspected"
    # the user's table cell, not a bare substring: the page's random CSRF token may contain "u2"
    assert "<td>u2</td>" not in c.get("/users").text
    assert "<td>admin</td>" in c.get("/users").text


def test_upload_and_attachment_size_limits(env):
    c = env.login("analyst")
    tok = csrf_of(c.get("/upload").text)
    r = c.post("/upload", data={"csrf": tok}, files={"file": ("big.pcap", b"\xd4\xc3\xb2\xa1" + b"\0" * 10000, "x")})
    assert r.status_code == 413
    assert env.api("analyst").post("/api/v1/uploads", files={"file": ("b.pcap", b"\0" * 10000)}).status_code == 413
    cid = env.api("analyst").post("/api/v1/cases", json={"title": "t"}).json()["case_id"]
    r = env.api("analyst").post(f"/api/v1/cases/{cid}/attachments", files={"file": ("p.jpg", b"x" * 1500)})
    assert r.status_code == 413
    ok = env.api("analyst").post(f"/api/v1/cases/{cid}/attachments", files={"file": ("../../../etc/cron.d/x", b"x" * 10)})
    assert ok.status_code == 201 and ok.json()["filename"] == "x"
    assert not (env.data_dir.parent / "etc").exists()


def test_path_traversal_in_exports_and_downloads(env):
    c = env.login("viewer")
    for path in ("/exports/..%2F..%2Fetc%2Fpasswd", "/exports/../../etc/passwd", "/attachments/..%2F1",
                 "/static/../web-secret.key", "/static/..%2Fweb-secret.key"):  # fmt: skip
        r = c.get(path)
        assert r.status_code in (404, 422), path
        assert "k" * 32 not in r.text
    a = env.api("viewer")
    assert a.get("/api/v1/exports/..%2F..%2Fetc%2Fpasswd").status_code in (404, 422)
    assert a.get("/api/v1/exports/nft", params={"min_score": 0}).status_code == 200


def test_security_headers(env):
    r = env.login("viewer").get("/")
    assert "script-src 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"
    assert "http://" not in r.text.replace("http://www.w3.org/2000/svg", "")  # nothing from the internet
