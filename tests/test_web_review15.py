"""Review 15 of the web layer: the job pages say "1 file failed" / "3 files failed" (not "file(s)") and
name the kinds of an upload of a few kinds ("packet capture, Zeek log (TSV)") instead of "several kinds",
in English and Chinese."""

from __future__ import annotations

import html
from pathlib import Path

import pytest

from minewatch.web.jobs import Job, JobFile
from web_helpers import make_env


@pytest.fixture
def env(tmp_path):
    return make_env(tmp_path)


def _job(env, tmp_path: Path, kinds: list[str | None], failed: int, findings: int = 1) -> Job:
    files = []
    for i, k in enumerate(kinds):
        f = JobFile(f"f{i}.bin", tmp_path / f"f{i}.bin", f"{i:064x}", 10, kind=k)
        if i < failed:
            f.error = f.error_zh = f"f{i}.bin, byte 0: unreadable"
        files.append(f)
    ks = {k for k in kinds if k}
    job = Job(job_id=f"j{len(kinds)}{failed}", filename="f0.bin", owner="analyst", path=tmp_path / "f0.bin",
              sha256="0" * 64, size_bytes=10 * len(kinds), files=files, findings=findings,
              state="done_with_errors" if failed else "done", kind=ks.pop() if len(ks) == 1 else "mixed")
    env.app.state.jobs.jobs[job.job_id] = job
    return job


def _text(c, url: str, lang: str) -> str:
    r = c.get(url, params={"lang": lang})
    assert r.status_code == 200, r.text
    return " ".join(html.unescape(r.text).split())


def test_one_failed_file_is_singular_and_three_are_plural(env, tmp_path):
    c = env.login("analyst")
    one = _job(env, tmp_path, ["capture", "meter"], failed=1)
    en = _text(c, f"/jobs/{one.job_id}", "en")
    assert "1 of 2 files could not be read" in en and "1 file failed (see above)." in en and "1 finding," in en
    assert "file(s)" not in en and "finding(s)" not in en
    three = _job(env, tmp_path, ["meter"] * 4, failed=3, findings=2)
    en = _text(c, f"/jobs/{three.job_id}", "en")
    assert "3 of 4 files could not be read" in en and "3 files failed (see above)." in en and "2 findings," in en
    listing = _text(c, "/upload", "en")
    assert "(1 file failed)" in listing and "(3 files failed)" in listing and "file(s)" not in listing
    zh = _text(c, f"/jobs/{three.job_id}", "zh")
    assert "4 个文件中有 3 个无法读取" in zh and "3 个文件失败（见上）。" in zh
    assert "3 个文件失败" in _text(c, "/upload", "zh")


def test_a_job_of_a_few_kinds_names_them(env, tmp_path):
    c = env.login("analyst")
    job = _job(env, tmp_path, ["capture", "zeek-tsv", "zeek-tsv"], failed=0)
    assert 'id="job-kind">packet capture, Zeek log (TSV)<' in _text(c, f"/jobs/{job.job_id}", "en")
    assert 'id="job-kind">抓包文件、Zeek 日志（TSV）<' in _text(c, f"/jobs/{job.job_id}", "zh")
    many = _job(env, tmp_path, ["capture", "zeek-tsv", "eve", "meter"], failed=0)
    en = _text(c, f"/jobs/{many.job_id}", "en")
    assert 'id="job-kind">4 kinds<' in en and "several kinds" not in en
    assert 'id="job-kind">4 种类型<' in _text(c, f"/jobs/{many.job_id}", "zh")
    # the API keeps its stable key
    assert env.api("analyst").get(f"/api/v1/jobs/{many.job_id}").json()["kind"] == "mixed"


def test_a_job_of_one_kind_names_it():
    job = Job(job_id="x", filename="a", owner="o", path=Path("a"), sha256="0" * 64, size_bytes=1, kind="meter",
              files=[JobFile("a", Path("a"), "0" * 64, 1, kind="meter")])
    assert job.kind_label("en") == "meter data" and job.kind_label("zh") == "电表数据"


# -- 6. the JSON API's error texts follow the caller's language ------------------------------------------
def _api_errors(env, headers: dict[str, str], q: str = "") -> list[tuple[int, str | None, object]]:
    viewer, analyst, raw = env.api("viewer"), env.api("analyst"), env.client()
    calls = [
        (raw.get, "/api/v1/me", {}),
        (viewer.post, "/api/v1/cases", {"json": {"title": "x"}}),
        (viewer.get, "/api/v1/findings/nope", {}),
        (viewer.get, "/api/v1/jobs/nope", {}),
        (viewer.get, "/api/v1/cases/999", {}),
        (analyst.delete, "/api/v1/allow/99", {}),
        (analyst.post, "/api/v1/uploads", {"files": [("file", (f"f{i}.csv", b"x")) for i in range(25)]}),
        (analyst.post, "/api/v1/uploads", {"files": {"file": ("m.csv", b"meter_id,ts,kwh\n")},
                                           "data": {"meter_interval": "7min"}}),
    ]
    out = []
    for call, url, kw in calls:
        r = call(url + q, headers=headers, **kw)
        out.append((r.status_code, r.headers.get("x-error-code"), r.json()["detail"]))
    return out


WANT_EN = [
    (401, "token_missing_or_unknown", "missing or unknown API token"),
    (403, "role_required", "this needs the analyst role"),
    (404, "not_found", "no finding nope"),
    (404, "not_found", "no job nope"),
    (404, "not_found", "no case 999"),
    (404, "not_found", "no active allow rule with id 99"),
    (400, "bad_input", "at most 20 files in one upload"),
]
WANT_ZH = [
    (401, "token_missing_or_unknown", "缺少 API 令牌，或令牌未知"),
    (403, "role_required", "此操作需要分析员角色"),
    (404, "not_found", "没有发现 nope"),
    (404, "not_found", "没有扫描任务 nope"),
    (404, "not_found", "没有案件 999"),
    (404, "not_found", "没有编号为 99 的有效白名单规则"),
    (400, "bad_input", "一次上传最多 20 个文件"),
]


def test_api_errors_are_english_by_default_and_carry_a_code(tmp_path):
    env = make_env(tmp_path, default_lang="zh")  # the pages' default is not the API's: scripts keep English
    got = _api_errors(env, {})
    assert got[:-1] == WANT_EN
    assert got[-1][:2] == (400, "bad_input") and "meter interval" in got[-1][2]
    assert _api_errors(env, {"Accept-Language": "de-DE, en;q=0.5"})[:-1] == WANT_EN


@pytest.mark.parametrize(("headers", "q"), [({"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}, ""), ({}, "?lang=zh"),
                                            ({"Accept-Language": "en"}, "?lang=zh")])
def test_api_errors_follow_accept_language_or_the_lang_parameter(env, headers, q):
    got = _api_errors(env, headers, q)
    assert got[:-1] == WANT_ZH
    # a check the web words itself (`Worded`) answers in its own Chinese
    assert got[-1][:2] == (400, "bad_input") and "采集间隔" in str(got[-1][2]) and "meter interval" not in str(got[-1][2])
    assert _api_errors(env, {"Accept-Language": "zh"}, "?lang=en")[:-1] == WANT_EN


def test_api_case_rule_refusals_are_worded_and_coded(tmp_path):
    from web_helpers import finding

    env = make_env(tmp_path, [finding(1)])
    a = env.api("analyst")
    case = a.post("/api/v1/cases", json={"title": "c", "finding_ids": []}).json()
    r = a.post(f"/api/v1/cases/{case['case_id']}/transition", json={"state": "confirmed"},
               headers={"Accept-Language": "zh"})
    assert r.status_code == 409 and r.headers["x-error-code"] == "case_transition_refused"
    assert "不允许" in r.json()["detail"] and set(r.json()) == {"detail"}
    # FastAPI's own 422 list is left as it is
    r = a.get("/api/v1/cases/abc", headers={"Accept-Language": "zh"})
    assert r.status_code == 422 and isinstance(r.json()["detail"], list)


# -- 3 (web). a cut .csv.gz meter upload names where it ended, in both languages ----------------------------
def test_a_cut_gzip_meter_upload_names_the_decompressed_and_the_file_byte(env):
    import datetime as dt
    import gzip

    t0 = dt.datetime(2024, 1, 1)
    text = ("meter_id,ts,kwh\n" + "".join(f"A,{t0 + dt.timedelta(hours=h):%Y-%m-%d %H:%M:%S},1.{h % 3}\n"
                                          for h in range(24 * 40))).encode()
    g = gzip.compress(text)
    r = env.api("analyst").post("/api/v1/uploads", files={"file": ("m.csv.gz", g[: len(g) // 2])})
    job = env.app.state.jobs.wait(r.json()["job_id"], timeout=120)
    (f,) = job.files
    assert f.error is not None and f.error.startswith("m.csv.gz, byte ")
    assert f" of the decompressed stream (compressed file read up to byte {len(g) // 2}): " in f.error, f.error
    assert "the text ends in line" in f.error
    assert f"（压缩文件已读到第 {len(g) // 2} 字节）" in f.error_zh and "文本止于第" in f.error_zh, f.error_zh


def test_a_gzip_metadata_upload_is_read(env):
    import datetime as dt
    import gzip

    t0 = dt.datetime(2024, 1, 1)
    text = ("meter_id,ts,kwh\n" + "".join(f"A,{t0 + dt.timedelta(hours=h):%Y-%m-%d %H:%M:%S},1.{h % 3}\n"
                                          for h in range(24 * 20))).encode()
    meta = gzip.compress(b"meter_id,tariff_class\nA,residential\nB,shop\n")
    r = env.api("analyst").post("/api/v1/uploads", files=[("file", ("m.csv", text)), ("meta", ("meta.csv.gz", meta))])
    assert r.status_code == 202, r.text
    job = env.app.state.jobs.wait(r.json()["job_id"], timeout=120)
    assert job.state == "done" and "metadata rows for meters not in the data: 1 (B)" in job.notes, job.notes
    assert ".gz" in env.login("analyst").get("/upload").text.split('id="upload-meta"')[1].split(">")[0]


def test_the_login_lock_says_minute_or_minutes(env):
    from fastapi.testclient import TestClient

    from web_helpers import PASSWORD, csrf_of

    t = [1000.0]
    env.app.state.login_limiter.clock = lambda: t[0]
    c = TestClient(env.app, base_url="https://testserver", follow_redirects=False, client=("192.0.2.77", 40000))

    def attempt(password: str):
        return c.post("/login", data={"username": "analyst", "password": password,
                                      "csrf": csrf_of(c.get("/login").text), "next": "/"})

    for _ in range(5):
        attempt("wrong password!")
    r = attempt(PASSWORD)
    assert r.status_code == 429 and "Try again in 15 minutes." in r.text
    t[0] += int(r.headers["retry-after"]) - 30  # half a minute left
    r = attempt(PASSWORD)
    assert r.status_code == 429 and "Try again in 1 minute." in r.text and "minute(s)" not in r.text, r.text
