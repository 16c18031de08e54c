"""Review 14 of `minewatch power scan`: a file named twice (`power scan D D/file`) is read once, and an
`--interval` that does not divide a day is refused."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from typer.testing import CliRunner

from minewatch.cli import app


def _hourly(path: Path, days: int = 20) -> Path:
    t0 = dt.datetime(2023, 9, 1)
    path.write_text("meter_id,ts,kwh\n" + "".join(
        f"R1,{t0 + dt.timedelta(hours=k):%Y-%m-%d %H:%M:%S},{0.5 + (k % 5) / 10:.2f}\n" for k in range(days * 24)))
    return path


def _flat(text: str) -> str:
    return " ".join(text.replace("│", " ").split())


def test_a_file_named_twice_is_read_once(tmp_path, tmp_home):
    """`power scan D D/file` read the file twice: 40,320 readings and 20,160 "duplicates" (scan dedupes)."""
    d = tmp_path / "sub"
    d.mkdir()
    data = _hourly(d / "m.csv")
    once = CliRunner().invoke(app, ["power", "scan", str(d), "--no-store"])
    assert once.exit_code == 0, once.output
    assert "480 of 480 readings used" in _flat(once.stderr), once.stderr
    for args in ([str(d), str(data)], [str(data), str(d)], [str(data), str(tmp_path / "sub" / ".." / "sub" / "m.csv")]):
        r = CliRunner().invoke(app, ["power", "scan", *args, "--no-store"])
        assert r.exit_code == 0, r.output
        err = _flat(r.stderr)
        assert "480 of 480 readings used" in err and "duplicates: 480" not in err, err


def test_the_first_mention_is_kept():
    from minewatch.scan_cli import first_of_each

    a, b = Path("x/a.csv"), Path("x/b.csv")
    assert first_of_each([b, a, Path("x/../x/b.csv"), a]) == [b, a]


@pytest.mark.parametrize("iv", ["7", "1000", "86399", "50000"])
def test_an_interval_that_does_not_divide_a_day_is_refused(tmp_path, tmp_home, iv):
    data = _hourly(tmp_path / "m.csv")
    r = CliRunner().invoke(app, ["power", "scan", str(data), "--no-store", "--interval", iv])
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert "divide a day" in _flat(r.output) and repr(iv) in r.output, r.output
    zh = CliRunner().invoke(app, ["--lang", "zh", "power", "scan", str(data), "--no-store", "--interval", iv])
    assert zh.exit_code == 2 and "整除一天" in _flat(zh.output).replace(" ", ""), zh.output


@pytest.mark.parametrize("iv", ["1", "60", "300", "900", "3600", "7200", "43200", "86400", "15min", "1d"])
def test_an_interval_that_divides_a_day_is_taken(iv):
    from minewatch.power.cli import _interval

    step = _interval(iv)
    assert step is not None and 86_400 % step == 0
