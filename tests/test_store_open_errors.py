"""A store that cannot be opened ends a command in one line naming it, never in a driver traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

COMMANDS = [
    ["findings"],
    ["export", "nft"],
    ["case", "list"],
    ["site", "list"],
    ["intel", "list"],
]


def _run(args: list[str], tmp_home, lang: str = "en") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "minewatch.cli", "--lang", lang, *args], capture_output=True,
                          text=True, env={"MINEWATCH_HOME": str(tmp_home), "PATH": "", "COLUMNS": "200"})


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: " ".join(c))
def test_a_file_that_is_not_a_store(cmd, tmp_path, tmp_home):
    bogus = tmp_path / "uplink.pcap"
    bogus.write_bytes(b"\xd4\xc3\xb2\xa1" + b"\0" * 60)
    r = _run([*cmd, "--db", str(bogus)], tmp_home)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and str(bogus) in r.stderr and "not a minewatch store" in r.stderr
    assert bogus.read_bytes()[:4] == b"\xd4\xc3\xb2\xa1"  # the file was not touched


@pytest.mark.parametrize("cmd", [["findings"], ["case", "list"], ["intel", "list"]], ids=lambda c: " ".join(c))
def test_a_postgres_server_that_refuses(cmd, tmp_home):
    url = "postgresql://analyst:s3cret@127.0.0.1:1/minewatch"  # port 1: nothing listens on loopback there
    r = _run([*cmd, "--db", url], tmp_home)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "cannot reach the PostgreSQL store" in r.stderr
    assert "s3cret" not in r.stderr and "analyst:***@127.0.0.1:1" in r.stderr


def test_the_line_is_chinese_under_lang_zh(tmp_path, tmp_home):
    bogus = tmp_path / "x.csv"
    bogus.write_text("meter_id,ts,kwh\n")
    r = _run(["findings", "--db", str(bogus)], tmp_home, "zh")
    assert r.returncode == 2 and "不是 minewatch 存储" in r.stderr and "Traceback" not in r.stderr


def test_an_empty_file_becomes_a_new_store(tmp_path, tmp_home):
    """`touch store.duckdb` then `--db store.duckdb`: DuckDB refuses a 0-byte file; the docstring said it
    becomes a new store (review 6 diff)."""
    from minewatch.model import Evidence, Finding
    from minewatch.store import Store

    p = tmp_path / "store.duckdb"
    p.touch()
    with Store(p) as st:
        st.add_findings([Finding(kind="mining", detector="t", score=90.0, subscores={}, evidence=[
            Evidence("t", "x", "x")], src_ip="10.0.0.1", source="t")])
        assert st.count() == 1
    assert p.stat().st_size > 0
