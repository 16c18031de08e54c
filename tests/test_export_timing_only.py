"""Timing-only findings stay out of the enforcing exports unless asked for, the same way in the CLI,
on the exports page and through the API (they used to be filtered by the CLI alone)."""

from __future__ import annotations

from datetime import UTC, datetime

from typer.testing import CliRunner

from minewatch.cli import app
from minewatch.model import Evidence, Finding
from web_helpers import make_env

T = datetime(2024, 6, 10, 6, 0, tzinfo=UTC)


def _findings() -> list[Finding]:
    timing = Finding(kind="mining", detector="net.behavior", score=80.0, subscores={"share_poisson": 20.0},
                     evidence=[Evidence("behavior.share_poisson", "shares arrive as a Poisson process", "份额按泊松过程到达")],
                     src_ip="10.9.0.5", src_port=40001, dst_ip="52.16.0.10", dst_port=8883, transport="tcp",
                     first_seen=T, last_seen=T, source="t.pcap")  # fmt: skip
    content = Finding(kind="mining", detector="net.stratum", score=95.0, subscores={"protocol": 95.0},
                      evidence=[Evidence("net.stratum.login", "mining.authorize", "mining.authorize")],
                      src_ip="10.9.0.6", src_port=40002, dst_ip="45.77.1.20", dst_port=3333, transport="tcp",
                      first_seen=T, last_seen=T, source="t.pcap")  # fmt: skip
    return [timing, content]


def test_enforcing_exports_agree_on_timing_only_findings(tmp_path, tmp_home):
    env = make_env(tmp_path, _findings())
    page, api = env.login("viewer"), env.api("viewer")
    db = str(env.db_path)
    for kind in ("nft", "ipset", "jsonl"):
        for flag in (False, True):
            args = ["export", kind, "--db", db] + (["--include-timing-only"] if flag else [])
            cli = CliRunner().invoke(app, args)
            assert cli.exit_code == 0, cli.output
            params = {"include_timing_only": "1"} if flag else {}
            p = page.get(f"/exports/{kind}", params=params)
            a = api.get(f"/api/v1/exports/{kind}", params={"include_timing_only": "true"} if flag else {})
            has = [("52.16.0.10" in t) for t in (cli.stdout, p.text, a.text)]
            want = flag or kind == "jsonl"  # listing formats keep every finding
            assert has == [want, want, want], (kind, flag, has)
            assert all("45.77.1.20" in t for t in (cli.stdout, p.text, a.text))
            assert p.headers["x-findings-used"] == a.headers["x-findings-used"] == ("2" if want else "1")
