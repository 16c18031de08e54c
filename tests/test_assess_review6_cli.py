"""Review 6 of the impact module, defects 7-11 and 13: bad network rows, country shares, Chinese output,
coin names, clear errors and the provenance of a hashrate finding. Each test fails on the code before."""
# ruff: noqa: F811 - the `metrics` and `_english` fixtures are the CLI tests' own, imported, not redefined

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from typer.testing import CliRunner

from minewatch.assess.hardware import normalise_algorithm
from minewatch.assess.network import read_metrics
from minewatch.assess.network_index import read_shares
from minewatch.cli import app
from minewatch.errors import Rejects
from minewatch.i18n import set_lang
from minewatch.model import Finding
from minewatch.store import Store
from test_assess_cli import _english, metrics  # noqa: F401 - the CLI tests' fixtures, shared

runner = CliRunner()


# --- 7: NaN and negative metrics are rejected rows, never NaN in the output ------------------------------


def test_nan_and_negative_metric_rows_are_rejected(metrics, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(metrics.read_text() + "2021-08-30,156,nan,nan,975,nan,1,nan,nan\n"
                   "2021-08-31,156,1,-5,975,16111112,1,1,16524\n", encoding="utf-8")  # fmt: skip
    rej = Rejects()
    days = read_metrics(bad, rej)
    assert rej.total == 2 and days[-1].day == date(2021, 8, 29)
    r = runner.invoke(app, ["assess", "site", "--kw", "100", "--tariff", "0.3", "--metrics", str(bad), "--json",
                            "--until", "2021-08-31"])  # fmt: skip
    assert r.exit_code == 0, r.output
    d = json.loads(r.output, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert d["hashprice_usd"] == pytest.approx(0.4)
    assert "metrics_rows_rejected" in [w["code"] for w in d["warnings"]]


# --- 8: country shares ------------------------------------------------------------------------------------


def test_shares_one_typo_does_not_switch_the_file_to_percent_and_duplicates_are_counted(tmp_path):
    p = tmp_path / "frac.csv"
    p.write_text("date,country,share\n2021-05-01,China,0.44\n2021-05-01,United States,0.17\n"
                 "2021-05-01,Kazakhstan,1.2\n2021-05-01,China,0.50\n", encoding="utf-8")  # fmt: skip
    rej = Rejects()
    got = read_shares(p, rej)
    assert got == {"2021-05": {"China": 0.44, "United States": 0.17}}
    assert rej.total == 2


def test_country_split_names_its_source_sum_and_missing_months(metrics, tmp_path):
    hw = tmp_path / "miners.csv"
    hw.write_text("Miner_name,UNIX_date_of_release,Efficiency_J_Gh,Qty\nX,1577836800,0.05,1\n")
    over = tmp_path / "over.csv"
    over.write_text("date,country,share\n2021-08-01,China,80\n2021-08-01,United States,50\n")
    r = runner.invoke(app, ["assess", "network", "--metrics", str(metrics), "--hardware", str(hw),
                            "--countries", str(over), "--date", "2021-08-10"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "country_shares" in r.output and "2021-08..2021-08" in r.output and "network-average" in r.output
    assert "130.00 %" in r.output and "more than 100 %" in r.output
    r = runner.invoke(app, ["assess", "network", "--metrics", str(metrics), "--hardware", str(hw),
                            "--countries", str(over), "--date", "2021-07-20"])  # fmt: skip
    assert r.exit_code == 0 and "no country shares for 2021-07" in r.output
    r = runner.invoke(app, ["assess", "network", "--metrics", str(metrics), "--countries-out", str(tmp_path / "c.csv")])
    assert r.exit_code == 2 and "--countries" in r.output and not (tmp_path / "c.csv").exists()


# --- 9: Chinese output ----------------------------------------------------------------------------------


def test_chinese_site_output_names_the_coal_convention_and_translates_sources(metrics):
    r = runner.invoke(app, ["--lang", "zh", "assess", "site", "--kw", "3250", "--model", "S19", "--province",
                            "sichuan", "--onset", "2021-07-01", "--until", "2021-08-10", "--metrics", str(metrics)])  # fmt: skip
    assert r.exit_code == 0, r.output
    out = r.output
    assert "等价值" in out and "供电标准煤耗" in out and "开始时间（onset）" in out and "截止时间（until）" in out
    assert "onset（onset）" not in out and "China Electricity Council" not in out
    assert "生态环境部" in out and "国家统计局" in out  # the 2021 rate's source (review 12: annual rates)
    set_lang("en")
    r = runner.invoke(app, ["assess", "site", "--kw", "3250", "--coal", "calorific", "--metrics", str(metrics)])
    assert "当量值" in r.output and "calorific value" in r.output
    r = runner.invoke(app, ["--lang", "zh", "assess", "site", "--kw", "-1"])
    assert r.exit_code == 2 and "必须" in r.output


def test_chinese_network_assumptions(metrics):
    r = runner.invoke(app, ["--lang", "zh", "assess", "network", "--metrics", str(metrics)])
    assert r.exit_code == 0, r.output
    assert "方法（method）" in r.output and "剑桥" in r.output


# --- 10: coin and algorithm names the detectors store -----------------------------------------------------


@pytest.mark.parametrize(("name", "algo"), [("equihash-200-9", "equihash"), ("ethereum-classic", "etchash"),
                                            ("bitcoin-cash", "sha256d"), ("bitcoin-sv", "sha256d"),
                                            ("dogecoin", "scrypt"), ("ethereum", "ethash"), ("cryptonote", "randomx"),
                                            ("zephyr", "randomx"), ("haven", "randomx"), ("BCH", "sha256d")])  # fmt: skip
def test_detector_names_map_to_catalog_algorithms(name, algo):
    assert normalise_algorithm(name) == algo


@pytest.mark.parametrize("name", ["x11", "kawpow", "autolykos2", "dash", "alephium"])
def test_unknown_algorithms_stay_unknown(name):
    assert normalise_algorithm(name) not in {"sha256d", "scrypt", "ethash", "etchash", "equihash", "randomx",
                                             "kheavyhash"}  # fmt: skip


# --- 11: clear errors instead of tracebacks ---------------------------------------------------------------


@pytest.mark.parametrize("args", [["assess", "network", "--date", "garbage"],
                                  ["assess", "models", "--hardware", "/nonexistent.csv"],
                                  ["assess", "models", "--algorithm", "foo"],
                                  ["data", "update", "--start", "garbage"],
                                  ["assess", "finding", "x", "--db", "/nonexistent/dir/s.duckdb"]])  # fmt: skip
def test_bad_arguments_give_one_line_errors(args, metrics, tmp_home):
    if args[1] == "network":
        args = [*args, "--metrics", str(metrics)]
    r = runner.invoke(app, args)
    assert r.exit_code == 2, (args, r.output)
    assert r.exception is None or isinstance(r.exception, SystemExit)
    assert "error" in r.output.lower()


def test_unwritable_plot_is_an_error(metrics, tmp_path):
    r = runner.invoke(app, ["assess", "network", "--metrics", str(metrics), "--plot", str(tmp_path / "no" / "x.png")])
    assert r.exit_code == 2 and "cannot write" in r.output


# --- 13: units and provenance of a hashrate finding -------------------------------------------------------


def test_finding_assessment_carries_the_hashrate_interval_and_capture_onset(metrics, tmp_path):
    db = tmp_path / "s.duckdb"
    t0 = datetime(2021, 8, 1, tzinfo=UTC)
    f = Finding(kind="mining", detector="net.test", score=90.0, subscores={}, evidence=[], src_ip="10.0.0.5",
                hashrate_hs=2e15, algorithm="sha256d", first_seen=t0, last_seen=t0 + timedelta(minutes=20),
                shares_accepted=40, extra={"hashrate_interval_hs": [1.4e15, 2.8e15], "hashrate_formula": "d x 2^32"})  # fmt: skip
    with Store(db) as s:
        s.add_findings([f])
    r = runner.invoke(app, ["assess", "finding", f.finding_id, "--db", str(db), "--metrics", str(metrics), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["hashrate_hs_unit"] == "H/s" and d["hashrate_display_unit"] == "TH/s"
    est = next(a for a in d["assumptions"] if a["name"] == "hashrate_estimate")
    assert "1.4e+15" in est["source"] and "40 accepted shares" in est["source"] and "Poisson" in est["source"]
    onset = next(a for a in d["assumptions"] if a["name"] == "onset")
    assert "capture" in onset["source"]
