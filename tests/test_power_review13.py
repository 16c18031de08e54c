"""Review 13 of `minewatch power scan`: a stray NUL is no binary file, directories are read, the CLI
options are checked as the web form checks them, scores below the threshold never show it, wording."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from minewatch.cli import app


def _hourly(path: Path, meter: str = "R1", kw: float = 7.0, days: int = 150) -> Path:
    """Hourly kWh, start-labelled, a rig switched on after 91 days."""
    rng = np.random.default_rng(1)
    t0 = dt.datetime(2023, 9, 1)
    n = days * 24
    x = 0.5 + 0.1 * rng.standard_normal(n)
    x[91 * 24 :] += kw
    rows = [f"{meter},{t0 + dt.timedelta(hours=k):%Y-%m-%d %H:%M:%S},{x[k]:.4f}" for k in range(n)]
    path.write_text("meter_id,ts,kwh\n" + "\n".join(rows) + "\n")
    return path


def _flat(text: str) -> str:
    """Output as one line, without the error box's borders."""
    return " ".join(text.replace("│", " ").split())


def _jsonl(r) -> list[dict]:
    return [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]


def test_one_nul_byte_is_an_unparsable_line_not_a_binary_file(tmp_path, tmp_home):
    """One NUL on line 51 made the whole export "not a meter file (binary data …)", exit 4."""
    data = _hourly(tmp_path / "m.csv")
    lines = data.read_bytes().split(b"\n")
    lines[50] = lines[50][:-3] + b"\x00" + lines[50][-2:]
    data.write_bytes(b"\n".join(lines))
    r = CliRunner().invoke(app, ["power", "scan", str(data), "--unit", "kwh", "--no-store", "--format", "jsonl"])
    assert r.exit_code == 0, r.output
    assert "binary" not in r.stderr and "3,599 of 3,600 readings used" in r.stderr
    assert "unparsable rows: 1" in r.stderr and len(_jsonl(r)) == 1


def test_utf16_text_is_text_and_captures_stay_binary(tmp_path):
    from minewatch.power.cli import is_binary_input, text_encoding

    text = "meter_id,ts,kwh\n" + "".join(f"R1,2024-01-01 {h:02d}:00,1.0\n" for h in range(24))
    for enc in ("utf-16-le", "utf-16-be"):
        assert text_encoding(text.encode(enc)) == enc  # Excel "Unicode text" without its BOM
        (tmp_path / f"{enc}.csv").write_bytes(text.encode(enc))
        assert not is_binary_input(tmp_path / f"{enc}.csv")
    assert text_encoding(text.encode()) == "utf-8"
    assert text_encoding("电表编号,时间\n".encode("gbk")) == "gb18030"
    noisy = bytearray(text.encode()) + bytes(range(256)) * 40  # mostly control bytes
    assert text_encoding(bytes(noisy)) is None


def test_a_directory_is_read_file_by_file(tmp_path, tmp_home):
    """`power scan adir h_start.csv` was an IsADirectoryError traceback and lost the good file."""
    d = tmp_path / "exports"
    d.mkdir()
    _hourly(d / "b.csv", meter="B1")
    _hourly(d / "a.csv", meter="A1", kw=0.0)
    (d / "notes.pdf").write_bytes(b"%PDF-1.4\n")
    (d / "sub").mkdir()
    _hourly(d / "sub" / "c.csv", meter="C1")
    other = _hourly(tmp_path / "h.csv", meter="H1")
    r = CliRunner().invoke(app, ["power", "scan", str(d), str(other), "--unit", "kwh", "--no-store", "--format",
                                 "jsonl", "--all"])
    assert r.exit_code == 0, r.output
    assert sorted(rec["meter_id"] for rec in _jsonl(r)) == ["A1", "B1", "H1"]  # not recursive
    err = " ".join(r.stderr.split())
    assert "3 meters (" in err and "0 files failed" in err
    assert f"{d}: 2 entries are not a meter file and were skipped (notes.pdf, sub/; sub-folders are not read)" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    r2 = CliRunner().invoke(app, ["power", "scan", str(empty), "--no-store"])
    assert r2.exit_code == 4 and f"{empty}: no meter file in this directory" in " ".join(r2.stderr.split())
    zh = CliRunner().invoke(app, ["--lang", "zh", "power", "scan", str(empty), "--no-store"])
    assert zh.exit_code == 4 and "此文件夹中没有电表数据文件" in zh.stderr


def test_cli_options_are_checked_as_the_web_form_checks_them(tmp_path, tmp_home):
    """--tz-offset nan was a traceback, 1e6 was "UTC+1000000", --interval -900 a numpy error."""
    data = _hourly(tmp_path / "m.csv", days=20)
    for opt in (["--tz-offset", "nan"], ["--tz-offset", "1e6"], ["--tz-offset", "-14.5"], ["--tz-offset", "inf"]):
        r = CliRunner().invoke(app, ["power", "scan", str(data), "--no-store", *opt])
        assert r.exit_code == 2 and "Traceback" not in r.output, r.output
        assert "between -14 and 14 hours" in _flat(r.output), r.output
    for iv in ("-900", "0", "86401", "abc"):
        r = CliRunner().invoke(app, ["power", "scan", str(data), "--no-store", "--interval", iv])
        assert r.exit_code == 2, r.output
        assert "seconds from 1 to 86400" in _flat(r.output), r.output
    zh = CliRunner().invoke(app, ["--lang", "zh", "power", "scan", str(data), "--no-store", "--tz-offset", "nan"])
    assert zh.exit_code == 2 and "电表时钟与UTC的时差应在-14至14小时之间" in _flat(zh.output).replace(" ", "")
    ok = CliRunner().invoke(app, ["power", "scan", str(data), "--no-store", "--interval", "3600", "--tz-offset", "14",
                                  "--unit", "kwh"])
    assert ok.exit_code == 0, ok.output


def test_a_score_below_the_threshold_is_never_shown_as_the_threshold():
    from minewatch.power.cli import _below

    assert _below(83.6, 84) == "83.6" and _below(83.96, 84) == "83.9" and _below(83.4, 84) == "83"
    assert _below(49.5, 50) == "49.5" and float(_below(83.99, 84)) < 84


def test_wording_singular_plural_and_the_chinese_list(tmp_path, tmp_home):
    flat = tmp_path / "flat.csv"  # two daily meters, nothing to find
    t0 = dt.date(2023, 1, 1)
    flat.write_text("meter_id,date,kwh\n" + "".join(
        f"{m},{t0 + dt.timedelta(days=k)},{10 + (k * 7 + i) % 3}\n" for i, m in enumerate(("D1", "D2"))
        for k in range(200)))
    bad = tmp_path / "bad.bin"
    bad.write_bytes(np.random.default_rng(3).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    r = CliRunner().invoke(app, ["power", "scan", str(flat), str(bad), "--no-store", "--threshold", "99"])
    err = " ".join(r.stderr.split())
    assert r.exit_code == 4 and "1 file failed" in err and "file(s)" not in err, err
    assert "highest scores below 99: D1 9, D2 9" in err
    assert "2 meters have one reading a day" in err and "meter(s)" not in err
    one = CliRunner().invoke(app, ["power", "scan", str(flat), "--no-store", "--threshold", "99", "--all",
                                   "--format", "jsonl"])
    assert "0 files failed" in " ".join(one.stderr.split())
    zh = CliRunner().invoke(app, ["--lang", "zh", "power", "scan", str(flat), "--no-store", "--threshold", "99"])
    assert "未达 99 分的最高得分：D1 9、D2 9（" in zh.stderr
