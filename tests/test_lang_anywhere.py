"""`--lang` is accepted anywhere on the command line, not only before the command (review item 4).

Before: `minewatch scan --lang zh x.pcap` answered "没有选项 --lang。" (exit 2), because `--lang` is
the root command's option and Click reads options per command.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from minewatch.cli import app, hoist_lang


def _cli(*args: str, home: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MINEWATCH_HOME": home, "COLUMNS": "200"}
    env.pop("MINEWATCH_LANG", None)
    return subprocess.run([sys.executable, "-m", "minewatch.cli", *args], capture_output=True, text=True, env=env)


def test_hoist_moves_the_first_lang_to_the_front_and_leaves_file_names_alone():
    assert hoist_lang(["scan", "--lang", "zh", "a.pcap"]) == ["--lang", "zh", "scan", "a.pcap"]
    assert hoist_lang(["power", "scan", "x.csv", "--lang=zh"]) == ["--lang=zh", "power", "scan", "x.csv"]
    assert hoist_lang(["scan", "--", "--lang", "zh"]) == ["scan", "--", "--lang", "zh"]
    assert hoist_lang(["scan", "--lang", "zh", "--lang", "en"]) == ["--lang", "zh", "scan"]
    assert hoist_lang(["scan", "--lang"]) == ["scan", "--lang"]  # no value: left where it is (not "--lang scan")


@pytest.mark.parametrize(
    "args, expect_out, expect_err",
    [
        (("scan", "--lang", "zh", "-q", "--no-store", "{junk}"), "", "错误"),
        (("scan", "-q", "--no-store", "{junk}", "--lang=zh"), "", "汇总"),
        (("findings", "--db", "{missing}", "--lang", "zh"), "", "不存在"),
        (("power", "scan", "--lang", "zh", "--help"), "用法", ""),
        (("export", "--help", "--lang", "zh"), "用法", ""),
        (("assess", "site", "--kw", "100", "--lang", "zh"), "假设", ""),
    ],
)
def test_lang_after_the_command_is_accepted(tmp_path, args, expect_out, expect_err):
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"not a capture at all" * 4)
    filled = [a.format(junk=junk, missing=tmp_path / "no.duckdb") for a in args]
    r = _cli(*filled, home=str(tmp_path / "home"))
    assert "--lang" not in r.stderr, r.stderr  # never "no such option --lang"
    assert expect_out in r.stdout and expect_err in r.stderr, (r.stdout, r.stderr)


def test_lang_after_the_command_in_process(tmp_path, tmp_home):
    r = CliRunner().invoke(app, ["findings", "--db", str(tmp_path / "no.duckdb"), "--lang", "zh"])
    assert r.exit_code == 2 and "不存在" in r.stderr, r.output
    bad = CliRunner().invoke(app, ["findings", "--lang", "fr"])
    assert bad.exit_code == 2 and "'fr'" in bad.output  # refused by the root option, as before it
