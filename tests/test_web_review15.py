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
