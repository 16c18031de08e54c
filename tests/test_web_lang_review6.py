"""The web pages speak the reader's language in the corners the review found English or garbled."""

from __future__ import annotations

import pytest

from minewatch.web.app import accepted_lang
from web_helpers import csrf_of, finding, make_env


@pytest.mark.parametrize(("header", "default", "want"), [
    ("en;q=0.1, zh-CN;q=0.9", "en", "zh"),
    ("de-DE,zh-CN;q=0.8", "en", "zh"),
    ("zh-CN,zh;q=0.9,en;q=0.8", "en", "zh"),
    ("en-US,en;q=0.9,zh;q=0.5", "zh", "en"),
    ("fr-FR", "zh", "zh"),
    ("", "zh", "zh"),
    ("zh;q=0, en", "zh", "en"),
    ("zh;q=bogus, en;q=0.2", "zh", "en"),
    ("en;q=nan, zh;q=0.5", "en", "zh"),
    ("zh;q=inf, en", "zh", "zh"),
    ("en;q=2, zh", "en", "en"),
])  # fmt: skip
def test_accept_language_weights_and_the_server_default(header, default, want):
    assert accepted_lang(header, default) == want


def test_a_reader_who_states_nothing_gets_the_servers_language(tmp_path):
    env = make_env(tmp_path, default_lang="zh")
    r = env.client().get("/login")
    assert r.status_code == 200 and 'lang="zh-CN"' in r.text
    r = env.client().get("/login", headers={"Accept-Language": "en-GB"})
    assert 'lang="en"' in r.text


def test_busy_page_follows_the_reader_not_the_server(tmp_path, monkeypatch):
    from minewatch.store.backend import StoreBusy
    from minewatch.web import app as web_app

    env = make_env(tmp_path, default_lang="zh")

    def busy(*_a, **_k):
        raise StoreBusy("/x.duckdb", holder=None, waited_s=3)

    monkeypatch.setattr(web_app, "connect", busy)
    en = env.client().get("/findings?lang=en")
    zh = env.client().get("/findings", headers={"Accept-Language": "zh-CN"})
    assert en.status_code == zh.status_code == 503
    assert "The store is busy" in en.text and "存储正忙" in zh.text


def test_oversized_attachment_gets_a_page_in_the_readers_language(tmp_path):
    env = make_env(tmp_path, [finding(1)], max_attachment_bytes=2048, max_upload_bytes=4096)
    c = env.login("analyst")
    r = c.post("/cases/1/attachments?lang=zh", files={"file": ("big.bin", b"\0" * (200 * 1024))},
               data={"csrf": "x"})
    assert r.status_code == 413 and r.headers["content-type"].startswith("text/html")
    assert "文件过大" in r.text and '{"detail"' not in r.text
    # the language cookie is read as the pages read it, even beside a cookie the strict parser rejects
    raw = env.client()  # the limit answers before any log-in check
    r = raw.post("/cases/1/attachments", files={"file": ("big.bin", b"\0" * (200 * 1024))}, data={"csrf": "x"},
                 headers={"Cookie": 'x={"a":1}; mw_lang=zh'})
    assert r.status_code == 413 and "文件过大" in r.text
    api = env.api("analyst").post("/api/v1/uploads?lang=zh", files={"file": ("x.pcap", b"\0" * (200 * 1024))})
    assert api.status_code == 413 and api.headers["content-type"].startswith("application/json")
    assert "larger than 4096" in api.json()["detail"]  # the API keeps English JSON whatever the language


def test_bad_address_values_get_the_error_page_not_json(tmp_path):
    env = make_env(tmp_path, [finding(1)])
    c = env.login("viewer")
    for url in ("/cases/abc?lang=zh", "/findings?page=abc&lang=zh"):
        r = c.get(url)
        assert r.status_code == 422 and r.headers["content-type"].startswith("text/html"), url
        assert "取值无效" in r.text and '"int_parsing"' not in r.text
    api = env.api("viewer").get("/api/v1/cases/abc")
    assert api.status_code == 422 and isinstance(api.json()["detail"], list)


def test_change_records_show_chinese_names_as_characters(tmp_path):
    env = make_env(tmp_path)
    c = env.login("admin")
    page = c.get("/sites?lang=zh")
    r = c.post("/sites", data={"csrf": csrf_of(page.text), "name": "二号实验楼", "ip_ranges": "10.9.0.0/24",
                               "meter_ids": "", "address": "北京"})
    assert r.status_code in (200, 303), r.text
    for url in ("/audit", "/sites/1"):
        text = c.get(url).text
        assert "二号实验楼" in text and "\\u4e8c" not in text, url


def test_language_link_on_an_error_page_after_a_post_is_a_page_that_exists(tmp_path):
    env = make_env(tmp_path, [finding(1)])
    c = env.login("analyst")
    case_page = c.get("/cases/1")
    r = c.post("/cases/1/state", data={"csrf": csrf_of(case_page.text), "state": "closed", "reason": ""},
               headers={"Referer": "https://testserver/cases/1"})
    assert r.status_code >= 400
    assert 'href="/cases/1?lang=zh"' in r.text and 'href="/cases/1/state?' not in r.text
