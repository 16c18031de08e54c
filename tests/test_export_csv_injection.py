"""CSV files people open in a spreadsheet: text from the traffic that starts like a formula is
neutralised with a leading quote (OWASP "CSV Injection"), on the CLI, the page and the API; JSON
exports keep the text as it was."""

from __future__ import annotations

import csv
import io
import json

import pytest

from minewatch.export import EXPORTERS, csv_cell, csv_record
from minewatch.model import Evidence, Finding
from web_helpers import T0, make_env

HOSTILE = {
    "agent": "=cmd|' /C calc'!A0",
    "worker": "+SUM(1+1)*cmd|' /C calc'!A0",
    "pool_host": "@SUM(1)",
    "sni": "-2+3+cmd|' /C calc'!A0",
    "wallet": "\t=1+1",
    "variant": "\r=1+1",
}


def hostile() -> Finding:
    return Finding(kind="mining", detector="net.stratum", score=95.0, subscores={"protocol": 95.0},
                   evidence=[Evidence("net.stratum.login", "=HYPERLINK(\"http://x\")", "登录")], src_ip="10.30.1.17",
                   src_port=40001, dst_ip="203.0.113.7", dst_port=3333, transport="tcp", first_seen=T0, coin="XMR",
                   source="csvinj.pcap", **HOSTILE)  # fmt: skip


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_formula_cells_get_a_leading_quote():
    assert csv_cell("=1+1") == "'=1+1" and csv_cell("@x") == "'@x" and csv_cell("\t=1") == "'\t=1"
    assert csv_cell("\r=1") == "'\n=1" and csv_cell("a\r\n=1") == "a\n=1"
    assert csv_cell("pool.example.net") == "pool.example.net"
    assert csv_cell(-1.5) == -1.5 and csv_cell(None) is None  # numbers and nulls are not text
    assert csv_record({"subscores": {"a": 1}, "worker": "-x"}) == {"subscores": '{"a": 1}', "worker": "'-x"}


def test_csv_export_neutralises_every_hostile_field_and_jsonl_keeps_them():
    (row,) = _rows(EXPORTERS["csv"]([hostile()]))
    for key, value in HOSTILE.items():
        assert row[key] == "'" + value.replace("\r", "\n"), key  # a bare CR would start a new row
    assert all(not v.startswith(("=", "+", "-", "@", "\t", "\r")) for v in row.values())
    assert row["score"] == "95.0"
    rec = json.loads(EXPORTERS["jsonl"]([hostile()]))
    assert all(rec[k] == v for k, v in HOSTILE.items())


@pytest.fixture
def env(tmp_path):
    return make_env(tmp_path, [hostile()])


def test_csv_from_the_page_and_the_api_is_neutralised(env):
    page = env.login("viewer").get("/exports/csv")
    api = env.api("viewer").get("/api/v1/exports/csv")
    for r in (page, api):
        assert r.status_code == 200
        (row,) = _rows(r.text)
        assert row["agent"] == "'" + HOSTILE["agent"]
    assert page.text.split("\n", 1)[1] == api.text.split("\n", 1)[1]


def test_findings_listed_as_csv_by_the_cli_are_neutralised(tmp_path, tmp_home):
    from typer.testing import CliRunner

    from minewatch.cli import app
    from minewatch.store import Store

    db = tmp_path / "s.duckdb"
    with Store(db) as s:
        s.add_findings([hostile()])
    r = CliRunner().invoke(app, ["findings", "--db", str(db), "--format", "csv"])
    assert r.exit_code == 0, r.output
    row = _rows(r.stdout)[0]
    assert row["agent"] == "'" + HOSTILE["agent"] and row["worker"].startswith("'+")
