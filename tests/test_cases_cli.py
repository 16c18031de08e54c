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
    assert json.loads(_ok("user", "role", "bob", "viewer", "--disable", "--db", db))["disabled"] is True
    assert json.loads(_ok("user", "role", "bob", "analyst", "--db", db))["disabled"] is True  # still disabled
    assert json.loads(_ok("user", "role", "bob", "analyst", "--enable", "--db", db))["disabled"] is False


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
