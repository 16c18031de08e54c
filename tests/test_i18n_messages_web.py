"""The web job page words the scanner's English errors and reject reasons for its reader.

One server serves both languages, so the job keeps English (and the API's `error`/`notes` stay
English) and the page shows the Chinese to a `?lang=zh` reader.
"""

from __future__ import annotations

import json

import pytest

from web_helpers import csrf_of, make_env

EVE_FLOW = {"timestamp": "2023-11-14T22:40:00.000000+0000", "event_type": "flow", "src_ip": "172.16.9.9",
            "src_port": 46000, "dest_ip": "198.51.100.200", "dest_port": 14444, "proto": "TCP", "flow_id": 77,
            "flow": {"pkts_toserver": 5, "pkts_toclient": 5, "bytes_toserver": 700, "bytes_toclient": 990,
                     "start": "2023-11-14T22:00:00.000000+0000", "end": "2023-11-14T22:40:00.000000+0000",
                     "state": "closed"}}  # fmt: skip


@pytest.fixture
def env(tmp_path):
    return make_env(tmp_path)


def _upload(env, name: str, data: bytes):
    c = env.login("analyst")
    r = c.post("/upload", data={"csrf": csrf_of(c.get("/upload").text)}, files={"file": (name, data)})
    assert r.status_code == 303, r.text
    job = env.app.state.jobs.wait(r.headers["location"].rsplit("/", 1)[1], timeout=120)
    return c, job


def test_failed_job_error_is_chinese_for_a_chinese_reader_only(env):
    c, job = _upload(env, "junk.bin", b"\x00\xff\xfe\x01" * 50)
    assert job.state == "failed"
    assert job.error == "junk.bin, byte 0: neither a packet capture, a flow log nor a text meter file"
    zh = c.get(f"/jobs/{job.job_id}", params={"lang": "zh"}).text
    assert "文件 junk.bin，第 0 字节：既不是抓包文件、流日志，也不是文本电表文件" in zh
    assert "neither a packet capture" not in zh
    en = c.get(f"/jobs/{job.job_id}", params={"lang": "en"}).text
    assert job.error in en and "既不是" not in en
    api = env.api("analyst").get(f"/api/v1/jobs/{job.job_id}").json()
    assert api["error"] == job.error  # the API keeps the English


def test_job_reject_reasons_and_examples_are_chinese_on_the_page(env):
    data = (json.dumps(EVE_FLOW) + "\n{broken\n").encode()
    c, job = _upload(env, "eve.json", data)
    assert job.state == "done" and job.rejected == 1, job.error
    zh = c.get(f"/jobs/{job.job_id}", params={"lang": "zh"}).text
    assert "拒收 1 行：EVE 行格式错误：不是有效的 JSON（1 行）" in zh
    assert "eve.json:2（" in zh and "）：EVE 行格式错误：不是有效的 JSON" in zh
    assert "malformed EVE line" not in zh
    en = c.get(f"/jobs/{job.job_id}", params={"lang": "en"}).text
    assert "malformed EVE line: not valid JSON (1)" in en and "EVE 行格式错误" not in en
    api = env.api("analyst").get(f"/api/v1/jobs/{job.job_id}").json()
    assert any("malformed EVE line: not valid JSON" in n for n in api["notes"])
