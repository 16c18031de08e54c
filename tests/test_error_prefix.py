"""Every one-line error starts the same way: `error: ` in English, `错误：` in Chinese (review 13).

Commands printed "error:", "错误: " (ASCII colon and a space) and "错误：" depending on who wrote
them; `minewatch.i18n.error_prefix` is now the one place that decides.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from minewatch import i18n, messages_zh


def test_one_prefix_for_both_languages():
    assert i18n.error_prefix("zh") == "错误：" and i18n.error_prefix("en") == "error: "
    assert messages_zh.error_prefix("zh") == i18n.error_prefix("zh")
    assert i18n.error_line("x", "zh") == "错误：x" and i18n.error_line("x", "en") == "error: x"


def _commands(tmp_path) -> list[list[str]]:
    not_a_store = tmp_path / "uplink.pcap"
    not_a_store.write_bytes(b"\xd4\xc3\xb2\xa1" + b"\0" * 60)
    missing = str(tmp_path / "typo.duckdb")
    return [
        ["export", "nft", "--db", missing],  # export's own error line
        ["findings", "--db", missing],  # store opened for a command (open_store_for_cli)
        ["case", "list", "--db", str(not_a_store)],  # store connected for a command (connect_for_cli)
        ["case", "state", "1", "nosuch", "--db", str(tmp_path / "c.duckdb")],
        ["assess", "site"],
    ]


@pytest.mark.parametrize("lang, prefix", [("zh", "错误："), ("en", "error: ")])
def test_commands_print_the_same_prefix(tmp_path, tmp_home, lang, prefix):
    for args in _commands(tmp_path):
        r = subprocess.run([sys.executable, "-m", "minewatch.cli", "--lang", lang, *args], capture_output=True,
                           text=True, env={"MINEWATCH_HOME": str(tmp_home), "PATH": "", "COLUMNS": "200"})  # fmt: skip
        assert r.returncode == 2, (args, r.stderr)
        first = r.stderr.lstrip().splitlines()[0]
        assert first.startswith(prefix), (args, first)
        assert not first.startswith(("错误: ", "Error:", "错误:")), (args, first)


def test_watch_and_intel_errors_use_the_one_prefix(tmp_path, tmp_home) -> None:
    """`watch` (a bad --blocks file) and `intel` (a store it cannot open) printed `错误: ` with an ASCII colon."""
    from typer.testing import CliRunner

    from minewatch.cli import app

    bad = tmp_path / "blocks.csv"
    bad.write_text("not,a,blocks,file\n\x00\x01\n")
    r = CliRunner().invoke(app, ["--lang", "zh", "watch", "--interface", "lo", "--blocks", str(bad), "--no-store"])
    first = r.stderr.strip().splitlines()[0] if r.stderr.strip() else ""
    assert r.exit_code == 2 and first.startswith("错误：") and "错误: " not in r.stderr, r.stderr
