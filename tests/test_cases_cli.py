"""`minewatch user/case` on the command line: account state kept unless asked, report paths checked."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from minewatch.cli import app

runner = CliRunner()


def _ok(*args: str) -> str:
    r = runner.invoke(app, list(args))
    assert r.exit_code == 0, r.output
    return r.stdout


def test_changing_a_role_keeps_a_disabled_account_disabled(tmp_path, tmp_home):
    db = str(tmp_path / "c.duckdb")
    r = runner.invoke(app, ["user", "add", "bob", "--role", "viewer", "--password", "a long test password", "--db", db])
    assert r.exit_code == 0, r.output
    jl = ("--format", "jsonl", "--db", db)
    assert json.loads(_ok("user", "role", "bob", "viewer", "--disable", *jl))["disabled"] is True
    assert json.loads(_ok("user", "role", "bob", "analyst", *jl))["disabled"] is True  # still disabled
    assert json.loads(_ok("user", "role", "bob", "analyst", "--enable", *jl))["disabled"] is False


def test_case_report_refuses_a_path_it_cannot_write(tmp_path, tmp_home):
    db = str(tmp_path / "c.duckdb")
    _ok("case", "open", "Lab 3", "--db", db)
    for out, why in ((tmp_path / "no" / "r.html", "does not exist"), (tmp_path / "r.txt", ".html or .pdf")):
        r = runner.invoke(app, ["case", "report", "1", "--out", str(out), "--db", db])
        assert r.exit_code == 2 and why in r.output, r.output
    r = runner.invoke(app, ["case", "report", "1", "--out", str(tmp_path / "r.html"), "--report-lang", "xx", "--db", db])
    assert r.exit_code == 2 and "--report-lang" in r.output
    _ok("case", "report", "1", "--out", str(tmp_path / "r.html"), "--db", db)
    assert "Lab 3" in (tmp_path / "r.html").read_text()


def test_case_and_site_commands_answer_in_the_chosen_language_and_keep_json_behind_the_flag(tmp_path, tmp_home):
    """Review 13: `case list/open/state` and `site add` printed raw English JSON even with --lang zh."""
    db = str(tmp_path / "c.duckdb")
    out = _ok("--lang", "zh", "site", "add", "实验楼 2", "--range", "10.20.0.0/16", "--meter", "M-0042", "--db", db)
    assert out.strip() == "场所 1「实验楼 2」：地址段 10.20.0.0/16；电表 M-0042；已关联 0 个发现"
    out = _ok("--lang", "zh", "case", "open", "实验楼矿机", "--site", "1", "--db", db)
    assert "案件 1「实验楼矿机」：疑似" in out and "可转为：调查中、已排除（误报）" in out and "{" not in out
    out = _ok("--lang", "zh", "case", "state", "1", "investigating", "--db", db)
    assert "调查中" in out and "suspected" not in out and "{" not in out
    out = _ok("--lang", "zh", "case", "list", "--db", db)
    assert "案件" in out and "状态" in out and "调查中" in out and "investigating" not in out and "{" not in out
    out = _ok("--lang", "zh", "site", "list", "--db", db)
    assert "地址段" in out and "10.20.0.0/16" in out and "{" not in out
    en = _ok("--lang", "en", "case", "list", "--db", db)
    assert "Cases" in en and "State" in en and "under" in en and "{" not in en
    # the JSON for scripts: keys and state codes unchanged, one object per line
    rows = [json.loads(x) for x in _ok("--lang", "zh", "case", "list", "--format", "jsonl", "--db", db).splitlines()]
    assert rows[0]["state"] == "investigating" and rows[0]["allowed_next"] == ["confirmed", "dismissed"]
    c = json.loads(_ok("--lang", "zh", "case", "state", "1", "confirmed", "--format", "jsonl", "--db", db))
    assert c["state"] == "confirmed" and c["allowed_next"] == ["network_cut", "power_cut"]
    s = json.loads(_ok("site", "add", "B", "--range", "10.30.0.0/16", "--format", "jsonl", "--db", db))
    assert s["site_id"] == 2 and s["ip_ranges"] == ["10.30.0.0/16"]
    assert json.loads(_ok("case", "open", "x", "--format", "jsonl", "--db", db))["state"] == "suspected"
