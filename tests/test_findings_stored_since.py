"""`findings --since` reads the traffic's time, `--stored-since` the store's (review item 6).

Before: `findings --since 7d` gave 0 rows for a capture of 2017 scanned today, while the dashboard said
"203 new in the last 7 days" (it counts `stored_at`), and nothing told the user about the two clocks.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from typer.testing import CliRunner

from minewatch.cli import app
from minewatch.model import Evidence, Finding
from minewatch.store.backend import connect

OLD = datetime(2017, 1, 16, 16, 0, tzinfo=UTC)


def _store_old_findings(db) -> None:
    con = connect(db)
    try:
        con.add_findings([
            Finding(kind="mining", detector="net.stratum", score=95.0, subscores={"protocol": 60.0},
                    evidence=[Evidence("net.msg.login", "sent login")], first_seen=OLD + timedelta(minutes=i),
                    last_seen=OLD + timedelta(minutes=i + 3), src_ip="10.0.0.5", src_port=40000 + i,
                    dst_ip="203.0.113.7", dst_port=3333, transport="tcp")
            for i in range(3)
        ])
    finally:
        con.close()


def rows(out: str) -> list[dict]:
    return [json.loads(x) for x in out.splitlines() if x.startswith("{")]


def test_since_is_traffic_time_and_stored_since_is_store_time(tmp_path, tmp_home):
    db = tmp_path / "s.duckdb"
    _store_old_findings(db)
    r = CliRunner().invoke(app, ["findings", "--db", str(db), "--since", "7d", "--format", "jsonl"])
    assert r.exit_code == 0 and rows(r.stdout) == []
    assert "3 finding(s) were stored since then" in r.stderr and "--stored-since 7d" in r.stderr
    s = CliRunner().invoke(app, ["findings", "--db", str(db), "--stored-since", "7d", "--format", "jsonl"])
    assert s.exit_code == 0 and len(rows(s.stdout)) == 3
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    none = CliRunner().invoke(app, ["findings", "--db", str(db), "--stored-since", later, "--format", "jsonl"])
    assert rows(none.stdout) == []
    both = CliRunner().invoke(app, ["findings", "--db", str(db), "--stored-since", "7d", "--since", "2017-01-16T16:01",
                                    "--until", "2017-01-16T16:01:30", "--format", "jsonl"])
    assert len(rows(both.stdout)) == 2  # the two clocks combine: sessions active in the window, stored this week
