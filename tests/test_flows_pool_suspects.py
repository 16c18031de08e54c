"""Flow records to an address on an imported pool list: too little to report, never lost (user review).

An imported list's address alone earns 20 points and a pool-shaped connection 15; under the report line.
Before, such a connection vanished even with `--suspects`, although the operator had imported the list
to find exactly these hosts. Now it is counted in the summary and listed with `--suspects`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from typer.testing import CliRunner

from minewatch.cli import app
from test_flows_oneway import _collector_dir

POOL = "198.51.100.66"


def _flows(tmp_path):
    t0 = datetime(2024, 6, 10, 6, 0, tzinfo=UTC)
    recs = []
    for k in range(3):  # three short cgminer-like connections to the listed address, both directions
        s = t0 + timedelta(minutes=10 * k)
        e = s + timedelta(seconds=0.7)
        recs.append({"src_ip": "10.0.0.5", "src_port": 62000 + k, "dst_ip": POOL, "dst_port": 8008,
                     "packets_fwd": 5, "bytes_fwd": 388, "slice_start": s, "slice_end": e})
        recs.append({"src_ip": POOL, "src_port": 8008, "dst_ip": "10.0.0.5", "dst_port": 62000 + k,
                     "packets_fwd": 5, "bytes_fwd": 353, "slice_start": s, "slice_end": e})
    recs.append({"src_ip": "10.0.0.6", "src_port": 50000, "dst_ip": "203.0.113.9", "dst_port": 8008,
                 "packets_fwd": 5, "bytes_fwd": 388, "slice_start": t0, "slice_end": t0 + timedelta(seconds=1)})
    return _collector_dir(tmp_path, [("x", recs)])


def test_a_connection_to_an_imported_pool_address_is_counted_and_listed_with_suspects(tmp_path, tmp_home):
    lst = tmp_path / "ips.txt"
    lst.write_text(f"# mining servers\n{POOL}\n")
    out = _flows(tmp_path)
    r = CliRunner().invoke(app, ["scan", str(out), "--no-store", "--format", "jsonl", "--intel", str(lst)])
    assert r.exit_code == 0, r.output
    assert not [x for x in r.stdout.splitlines() if x.startswith("{")]
    assert "3 connection(s) in the flow logs went to a name or address on a pool list" in " ".join(r.stderr.split())
    r = CliRunner().invoke(app, ["scan", str(out), "--no-store", "--format", "jsonl", "--suspects", "--intel", str(lst)])
    assert r.exit_code == 0, r.output
    got = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert sorted(f["src_port"] for f in got) == [62000, 62001, 62002]
    for f in got:
        assert f["dst_ip"] == POOL and f["src_ip"] == "10.0.0.5" and "pool_ip" in f["subscores"]
        assert f["score"] < 50
    # without the list they are nobody's business: no finding, no line
    r = CliRunner().invoke(app, ["scan", str(out), "--no-store", "--format", "jsonl", "--suspects"])
    assert r.exit_code == 0 and not [x for x in r.stdout.splitlines() if x.startswith("{")]
    assert "pool list" not in r.stderr


def test_no_store_still_applies_the_lists_imported_into_the_store(tmp_path, tmp_home):
    """`intel import` then `scan --no-store`: the imported list applies (the store is read, not written)."""
    lst = tmp_path / "ips.txt"
    lst.write_text(f"{POOL}\n")
    assert CliRunner().invoke(app, ["intel", "import", str(lst)]).exit_code == 0
    out = _flows(tmp_path)
    r = CliRunner().invoke(app, ["scan", str(out), "--no-store", "--format", "jsonl", "--suspects"])
    assert r.exit_code == 0, r.output
    assert sorted(f["src_port"] for f in map(json.loads, (x for x in r.stdout.splitlines() if x.startswith("{")))) \
        == [62000, 62001, 62002]
    r = CliRunner().invoke(app, ["findings", "--format", "jsonl"])
    assert not [x for x in r.stdout.splitlines() if x.startswith("{")]  # nothing was written
