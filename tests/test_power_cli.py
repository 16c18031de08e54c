"""`minewatch power scan` end to end: files in, ranked findings, store rows, pictures, data problems."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from minewatch.cli import app
from minewatch.store import Store


def _write(tmp_path):
    rng = np.random.default_rng(11)
    hours = 200 * 24
    lines = ["meter_id,ts,kwh"]
    import datetime as dt

    t0 = dt.datetime(2024, 1, 1)
    for mid in ("SHOP1", "RIG1"):
        hod = np.arange(hours) % 24
        x = 20 * (0.3 + 0.7 * ((hod >= 8) & (hod < 20))) * (1 + 0.05 * rng.standard_normal(hours))
        if mid == "RIG1":
            x[120 * 24 :] += 6 * 3.3
        for h in range(hours):
            if mid == "SHOP1" and 500 <= h < 503:
                continue  # a gap the summary must name
            lines.append(f"{mid},{(t0 + dt.timedelta(hours=h)).isoformat(sep=' ')},{x[h]:.4f}")
    data = tmp_path / "meters.csv"
    data.write_text("\n".join(lines) + "\n")
    meta = tmp_path / "meta.csv"
    meta.write_text("meter_id,tariff_class,business,contracted_kw\nSHOP1,commercial,retail,40\n"
                    "RIG1,commercial,retail,40\n")
    return data, meta


def test_power_scan_jsonl_store_and_plot(tmp_path, tmp_home):
    data, meta = _write(tmp_path)
    db = tmp_path / "f.duckdb"
    r = CliRunner().invoke(app, ["power", "scan", str(data), "--meta", str(meta), "--format", "jsonl",
                                 "--db", str(db), "--plot", str(tmp_path / "png")])
    assert r.exit_code == 0, r.output
    recs = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert recs[0]["meter_id"] == "RIG1"
    assert recs[0]["score"] >= 50 > recs[1]["score"]
    assert 5 <= recs[0]["machines_est"] <= 8
    assert recs[0]["onset"].startswith("2024-04-")
    assert (tmp_path / "png" / "power_RIG1.png").stat().st_size > 5000
    with Store(db) as st:
        got = st.findings(kind="mining")
    assert [f.meter_id for f in got] == ["RIG1"]
    assert got[0].impact is None or "kwh" in json.dumps(got[0].impact).lower()
    assert "missing slots (gaps): 3" in r.stderr and "SHOP1" in r.stderr
    assert "2 meters" in r.stderr


def test_power_scan_table_in_chinese_and_bad_file(tmp_path, tmp_home):
    data, _meta = _write(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    r = CliRunner().invoke(app, ["--lang", "zh", "power", "scan", str(data), str(bad), "--no-store"])
    assert r.exit_code == 0
    assert "疑似挖矿负荷" in r.stdout
    assert "bad.csv" in r.stderr
