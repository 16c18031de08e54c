"""`minewatch assess ...` and `minewatch data ...` through typer's CliRunner."""

from __future__ import annotations

import json
import urllib.error
from datetime import UTC, date, datetime, timedelta

import pytest
from typer.testing import CliRunner

from minewatch.assess import network as net
from minewatch.cli import app
from minewatch.i18n import set_lang
from minewatch.model import Evidence, Finding
from minewatch.store import Store

runner = CliRunner()
HEADER = "time,BlkCnt,DiffMean,HashRate,IssTotNtv,IssTotUSD,FeeTotNtv,FeeTotUSD,PriceUSD\n"


@pytest.fixture
def metrics(tmp_path):
    """60 days at hashprice 0.4 USD/TH/day (revenue 4e7 USD, 1e8 TH/s)."""
    p = tmp_path / "m.csv"
    start = date(2021, 7, 1)
    rows = [f"{start + timedelta(days=i)},144,2e13,100000000,900,39000000,25,1000000,40000\n" for i in range(60)]
    p.write_text(HEADER + "".join(rows), encoding="utf-8")
    return p


@pytest.fixture(autouse=True)
def _english():
    set_lang("en")
    yield
    set_lang("en")


def test_site_text_has_units_and_assumptions(metrics, tmp_home):
    r = runner.invoke(app, ["assess", "site", "--kw", "3250", "--tariff", "0.40", "--currency", "CNY",
                            "--model", "S19", "--metrics", str(metrics), "--fx", "7"])  # fmt: skip
    assert r.exit_code == 0, r.output
    out = r.output
    for needle in ("Antminer S19 (95Th)", "kWh/year", "tce/year", "CO2", "CNY/day", "CNY/kWh", "Assumptions:",
                   "hashprice = 0.4 USD/(TH/s)/day [2021-08-29]",
                   "coal_factor_equivalent (等价值 equivalent value: coal burnt to supply one kWh) = 0.3055 kgce/kWh"):  # fmt: skip
        assert needle in out, needle
    assert "28,489,500 kWh/year" in out  # 3250 kW x 8766 h


def test_site_json_and_chinese(metrics, tmp_home):
    r = runner.invoke(app, ["assess", "site", "--hashrate", "1e17", "--algorithm", "btc", "--metrics",
                            str(metrics), "--currency", "USD", "--tariff", "0.05", "--json"])  # fmt: skip
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["basis"] == "hashrate" and d["currency"] == "USD"
    assert d["revenue_per_day"] == pytest.approx(100_000 * 0.4)
    r = runner.invoke(app, ["--lang", "zh", "assess", "site", "--kw", "100", "--metrics", str(metrics)])
    assert r.exit_code == 0, r.output
    assert "标准煤" in r.output and "假设" in r.output


def test_site_argument_errors(metrics):
    r = runner.invoke(app, ["assess", "site", "--metrics", str(metrics)])
    assert r.exit_code == 2 and "exactly one" in r.output
    r = runner.invoke(app, ["assess", "site", "--kw", "100", "--province", "atlantis", "--metrics", str(metrics)])
    assert r.exit_code == 2 and "atlantis" in r.output
    for bad in (["--kw", "nan"], ["--kw", "inf"], ["--kw", "100", "--pue", "0"], ["--kw", "100", "--pue", "-1"],
                ["--kw", "100", "--tariff", "-1"], ["--kw", "100", "--fx", "0"], ["--hashrate", "nan"]):
        r = runner.invoke(app, ["assess", "site", *bad, "--json", "--metrics", str(metrics)])
        assert r.exit_code == 2 and "error" in r.output and "NaN" not in r.output, (bad, r.output)


def test_models_list_their_release_dates():
    r = runner.invoke(app, ["assess", "models", "--algorithm", "sha256d"])
    assert r.exit_code == 0 and "<10" not in r.output
    assert any(len(c) == 10 and c[4] == "-" for line in r.output.splitlines() for c in line.split()), r.output


def test_assess_finding_stores_impact(metrics, tmp_path):
    db = tmp_path / "s.duckdb"
    onset = datetime(2021, 8, 1, tzinfo=UTC)
    f = Finding(kind="mining", detector="power.test", score=80.0, subscores={"plateau": 80.0},
                evidence=[Evidence("plateau", "flat load")], meter_id="m1", onset=onset, kw_mining=500.0,
                last_seen=onset + timedelta(days=10))  # fmt: skip
    with Store(db) as s:
        s.add_findings([f])
    r = runner.invoke(app, ["assess", "finding", f.finding_id, "--db", str(db), "--tariff", "0.5",
                            "--metrics", str(metrics)])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "Impact stored" in r.output
    with Store(db) as s:
        got = s.get(f.finding_id)
    assert got is not None and got.impact is not None
    assert got.impact["kw"] == pytest.approx(500)
    assert got.impact["kwh_since_onset"] == pytest.approx(500 * 240)
    assert any(a["name"] == "coal_factor_equivalent" for a in got.impact["assumptions"])
    r = runner.invoke(app, ["assess", "finding", "nope", "--db", str(db)])
    assert r.exit_code == 2


def test_assess_finding_from_hashrate_needs_algorithm(metrics, tmp_path):
    db = tmp_path / "s.duckdb"
    f = Finding(kind="mining", detector="net.test", score=90.0, subscores={}, evidence=[], src_ip="10.0.0.5",
                hashrate_hs=2e15)  # fmt: skip
    with Store(db) as s:
        s.add_findings([f])
    r = runner.invoke(app, ["assess", "finding", f.finding_id, "--db", str(db), "--metrics", str(metrics)])
    assert r.exit_code == 2 and "--algorithm" in r.output
    r = runner.invoke(app, ["assess", "finding", f.finding_id, "--db", str(db), "--metrics", str(metrics),
                            "--algorithm", "sha256d", "--json"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["hashrate_hs"] == pytest.approx(2e15)


def test_network_command(metrics, tmp_path):
    hw = tmp_path / "miners.csv"
    hw.write_text("Miner_name,UNIX_date_of_release,Efficiency_J_Gh,Qty\nX,1577836800,0.05,1\nY,1588291200,0.03,1\n")
    shares = tmp_path / "shares.csv"
    shares.write_text("date,country,share\n2021-08-01,United States,35.4\n2021-08-01,Kazakhstan,18.1\n")
    out, png = tmp_path / "o.csv", tmp_path / "o.png"
    r = runner.invoke(app, ["assess", "network", "--metrics", str(metrics), "--hardware", str(hw), "--price", "0.05",
                            "--out", str(out), "--plot", str(png), "--countries", str(shares),
                            "--date", "2021-08-10"])  # fmt: skip
    assert r.exit_code == 0, r.output
    # threshold = 4e7 / (1e8 * 86400) / (0.05 / 3.6e6) / 1000 = 0.333 J/GH: both profitable, so
    # lower 0.03*100*1.01 = 3.03 GW, guess 0.04*100*1.1 = 4.4 GW, upper 0.05*100*1.2 = 6 GW; x 8.766 -> TWh/yr
    assert "lower 26.56  best guess 38.57  upper 52.60 TWh/year" in r.output
    assert "lower 3.03  best guess 4.40  upper 6.00 GW" in r.output
    assert "United States" in r.output and "TWh/year" in r.output and "USD/kWh" in r.output
    assert out.read_text().startswith("date,lower_twh,guess_twh,upper_twh,lower_gw,guess_gw,upper_gw")
    assert (tmp_path / "o_countries.csv").read_text().count("United States") == 29  # Aug 1..29
    assert png.stat().st_size > 1000
    r = runner.invoke(app, ["assess", "network", "--metrics", str(metrics), "--method", "cbeci-2023"])
    assert r.exit_code == 0 and "cbeci-2023" in r.output


def test_models_listing():
    r = runner.invoke(app, ["assess", "models", "--algorithm", "scrypt"])
    assert r.exit_code == 0 and "Antminer L7" in r.output and "J/MH" in r.output and "S19" not in r.output


def test_data_update_offline_uses_cache(tmp_home, monkeypatch, metrics):
    net.cache_path().parent.mkdir(parents=True, exist_ok=True)
    net.cache_path().write_bytes(metrics.read_bytes())

    def offline(url: str) -> bytes:
        raise urllib.error.URLError("unreachable")

    monkeypatch.setattr(net, "_http_get", offline)
    r = runner.invoke(app, ["data", "update"])
    assert r.exit_code == 0, r.output
    assert "cached data" in r.output and "2021-08-29" in r.output
    r = runner.invoke(app, ["data", "status"])
    assert r.exit_code == 0 and "60 days" in r.output and "0.4000 USD/(TH/s)/day" in r.output
