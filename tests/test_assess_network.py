"""Coin Metrics reading, the API parser on a saved response, and offline fallback to the cache."""

from __future__ import annotations

import json
import urllib.error
from datetime import date

import pytest

from minewatch.assess import network as net
from minewatch.errors import InputError, Rejects

HEADER = "time,BlkCnt,DiffMean,HashRate,IssTotNtv,IssTotUSD,FeeTotNtv,FeeTotUSD,PriceUSD\n"


def _response() -> dict:
    """What the v4 API answers (numbers as strings; FeeTotUSD and DiffMean omitted on one row)."""
    return {
        "data": [
            {"asset": "btc", "time": "2023-01-01T00:00:00.000000000Z", "BlkCnt": "144", "DiffMean": "3.5e13",
             "HashRate": "250000000", "IssTotNtv": "900", "IssTotUSD": "14940000", "FeeTotNtv": "10",
             "FeeTotUSD": "166000", "PriceUSD": "16600"},
            {"asset": "btc", "time": "2023-01-02T00:00:00.000000000Z", "BlkCnt": "150",
             "HashRate": "260000000", "IssTotNtv": "937.5", "IssTotUSD": "15562500", "FeeTotNtv": "12",
             "PriceUSD": "16600"},
        ],
        "next_page_url": "https://example.invalid/next",
    }  # fmt: skip


def test_parse_saved_api_response(tmp_path):
    saved = tmp_path / "resp.json"
    saved.write_text(json.dumps(_response()), encoding="utf-8")
    days, nxt = net.parse_api_response(saved.read_bytes())
    assert nxt == "https://example.invalid/next"
    assert [d.day for d in days] == [date(2023, 1, 1), date(2023, 1, 2)]
    d0, d1 = days
    assert d0.revenue_usd == pytest.approx(14_940_000 + 166_000)
    assert d1.fees_usd is None
    assert d1.revenue_usd == pytest.approx(15_562_500 + 12 * 16_600)  # fees priced from FeeTotNtv
    assert d1.difficulty == pytest.approx(260e6 * 1e12 * 86400 / (150 * 2**32))
    with pytest.raises(InputError):
        net.parse_api_response(b"{not json")
    with pytest.raises(InputError):
        net.parse_api_response({"error": {"type": "forbidden"}})


def test_update_writes_cache_then_falls_back_offline(tmp_home, monkeypatch):
    monkeypatch.setattr(net, "shared_data", lambda: None)
    pages = {"first": _response() | {"next_page_url": "page2"},
             "page2": {"data": [{"time": "2023-01-03T00:00:00Z", "HashRate": "1", "PriceUSD": "1"}]}}  # fmt: skip
    calls = []

    def fake(url: str) -> bytes:
        calls.append(url)
        return json.dumps(pages["page2" if url == "page2" else "first"]).encode()

    r = net.update(fetch=fake)
    assert r.online and r.new_days == 3 and r.path == net.cache_path()
    assert "community-api.coinmetrics.io" in calls[0] and "start_time=2010-07-18" in calls[0]
    cached = net.read_metrics(net.cache_path())
    assert [d.day for d in cached][-1] == date(2023, 1, 3)
    assert cached[0].revenue_usd == pytest.approx(15_106_000)

    def offline(url: str) -> bytes:
        raise urllib.error.URLError("no route to host")

    r2 = net.update(fetch=offline)
    assert not r2.online and r2.path == net.cache_path() and r2.days == 3
    assert "cached data" in r2.message and "2023-01-03" in r2.message and "缓存" in r2.message_zh
    # the next online update asks only for days after the cache
    n = len(calls)
    net.update(fetch=fake)
    assert "start_time=2023-01-04" in calls[n]
    assert net.default_metrics_path() == net.cache_path()


def test_update_offline_without_cache(tmp_home, monkeypatch):
    monkeypatch.setattr(net, "shared_data", lambda: None)

    def offline(url: str) -> bytes:
        raise OSError("network unreachable")

    r = net.update(fetch=offline)
    assert not r.online and r.path is None and "no cache" in r.message and "fallback" in r.message


def test_read_metrics_rejects_and_errors(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text(
        HEADER
        + "2021-01-01,144,2e13,100000000,900,27000000,10,300000,30000\n"
        + "2021-01-02,144,2e13,oops,900,27000000,10,300000,30000\n"
        + "2021-01-03,144,2e13,100000000,900,,10,,30000\n",
        encoding="utf-8",
    )
    rej = Rejects()
    days = net.read_metrics(p, rej)
    assert [d.day.day for d in days] == [1, 3]
    assert rej.total == 1 and "m.csv:3" in rej.examples[0]
    assert days[1].issuance_usd is None and days[1].revenue_usd == pytest.approx(900 * 30000 + 10 * 30000)
    bad = tmp_path / "bad.csv"
    bad.write_text("day,x\n", encoding="utf-8")
    with pytest.raises(InputError, match="line 1"):
        net.read_metrics(bad)


def test_snapshot_averages_last_week(tmp_path):
    p = tmp_path / "m.csv"
    lines = [f"2021-01-{d:02d},144,2e13,{100_000_000 + d},900,{1e6 * d},10,0,30000\n" for d in range(1, 11)]
    p.write_text(HEADER + "".join(lines), encoding="utf-8")
    s = net.snapshot(p)
    assert s.day == date(2021, 1, 10)
    assert s.revenue_usd_per_day == pytest.approx(1e6 * sum(range(4, 11)) / 7)
    s5 = net.snapshot(p, at=date(2021, 1, 5))
    assert s5.day == date(2021, 1, 5) and s5.subsidy_btc == 6.25


@pytest.mark.shared
def test_shared_btc_csv(shared):
    days = net.read_metrics(shared / "btc" / "btc.csv")
    assert len(days) == 3287
    d = next(x for x in days if x.day == date(2021, 5, 10))
    assert d.hashrate_ths == pytest.approx(184_404_830.11)
    assert all(x.revenue_usd is not None for x in days)
