"""`power scan` holds every reading in memory: an input that cannot fit is refused before it is read,
with the bounded-memory command to use instead, in both languages."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from typer.testing import CliRunner

from minewatch.cli import app
from minewatch.power import cli as power_cli
from minewatch.power.readers import SCAN_BYTES_PER_READING, estimate_readings


def _long(tmp_path: Path, meters: int = 3, days: int = 60) -> tuple[Path, Path]:
    hours = days * 24
    rng = np.random.default_rng(5)
    t0 = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp()) * 1_000_000
    t = pa.table({
        "meter_id": np.repeat([f"M{i}" for i in range(meters)], hours),
        "ts": pa.array(np.tile(t0 + 3_600_000_000 * np.arange(hours), meters), pa.timestamp("us", tz="UTC")),
        "kwh": rng.random(meters * hours) + 1.0,
    })
    pq.write_table(t, tmp_path / "m.parquet")
    csv = tmp_path / "m.csv"
    with csv.open("w") as fh:
        fh.write("meter_id,ts,kwh\n")
        for m, ts, v in zip(*(t.column(c).to_pylist() for c in ("meter_id", "ts", "kwh")), strict=True):
            fh.write(f"{m},{ts.strftime('%Y-%m-%d %H:%M')},{v:.3f}\n")
    return tmp_path / "m.parquet", csv


def test_estimate_readings(tmp_path):
    pqf, csv = _long(tmp_path)
    assert estimate_readings(pqf) == 3 * 60 * 24
    assert abs(estimate_readings(csv) - 3 * 60 * 24) <= 0.02 * 3 * 60 * 24
    wide = tmp_path / "wide.csv"
    wide.write_text("meter_id,date," + ",".join(f"h{i}" for i in range(24)) + "\n"
                    + "".join(f"M1,2024-01-{d:02d}," + ",".join(["1.5"] * 24) + "\n" for d in range(1, 11)))
    assert estimate_readings(wide) == 10 * 24
    # a long export with more quantities beside the energy is one reading a row, not one per column (review 16:
    # 20 meters x 2,000 rows were estimated at 162,000 readings and could be refused)
    extra = tmp_path / "extra.csv"
    extra.write_text("meter,time,kwh,kvarh,voltage,status\n" + "".join(
        f"M{m},2024-01-01 {h % 24:02d}:00,1.5,0.2,230.1,ok\n" for m in range(20) for h in range(100)))
    assert abs(estimate_readings(extra) - 2000) <= 0.02 * 2000
    t = pa.table({"meter": ["a"] * 10, "time": list(range(10)), "kwh": [1.0] * 10, "kvarh": [0.1] * 10,
                  "voltage": [230.0] * 10})
    pq.write_table(t, tmp_path / "extra.parquet")
    assert estimate_readings(tmp_path / "extra.parquet") == 10
    gz = tmp_path / "x.csv.gz"
    gz.write_bytes(b"\x1f\x8b\x08\x00rest")
    assert estimate_readings(gz) is None


def test_input_too_big_for_memory_is_refused_with_the_bounded_command(tmp_path, tmp_home, monkeypatch):
    pqf, _ = _long(tmp_path)
    # as if the machine had memory for half the readings
    monkeypatch.setattr(power_cli, "_available_memory", lambda: 3 * 60 * 24 * SCAN_BYTES_PER_READING // 2)
    r = CliRunner().invoke(app, ["power", "scan", str(pqf), "--no-store", "--format", "jsonl"])
    assert r.exit_code == 2, r.output
    assert "4,320 readings" in r.output and "holds every reading in memory" in r.output
    assert f"minewatch spark power {pqf} --engine local --out DIR" in r.output.replace("\n", "")
    r = CliRunner().invoke(app, ["--lang", "zh", "power", "scan", str(pqf), "--no-store", "--format", "jsonl"])
    assert r.exit_code == 2
    assert "错误" in r.output and "4,320 条读数" in r.output and "--engine local" in r.output


def test_input_that_fits_is_scanned(tmp_path, tmp_home, monkeypatch):
    pqf, _ = _long(tmp_path)
    monkeypatch.setattr(power_cli, "_available_memory", lambda: 3 * 60 * 24 * SCAN_BYTES_PER_READING * 2)
    r = CliRunner().invoke(app, ["power", "scan", str(pqf), "--no-store", "--format", "jsonl", "--all"])
    assert r.exit_code == 0, r.output
    ids = {json.loads(line)["meter_id"] for line in r.stdout.splitlines() if line.startswith("{")}
    assert ids == {"M0", "M1", "M2"}
