"""The case report's figures: hashrate is given per algorithm (hashes of different algorithms are
different units of work), and each host's power is counted once (its latest assessment), however
many findings (reconnects, detectors) it has."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from minewatch.export.report import case_report_html, hashrate_by_algorithm, latest_per_host
from minewatch.model import Finding
from web_helpers import T0, finding


def _miner(i: int, src: str, algorithm: str, rate: float, **kw: object) -> Finding:
    f = finding(i, src=src)
    f.algorithm, f.hashrate_hs = algorithm, rate
    for k, v in kw.items():
        setattr(f, k, v)
    return f


def _bundle(fs: list[Finding]) -> SimpleNamespace:
    case = SimpleNamespace(case_id=1, title="t", state="investigating", reason=None, created_at=T0, updated_at=T0,
                           created_by="ana")  # fmt: skip
    return SimpleNamespace(case=case, site=None, findings=fs, notes=[], attachments=[], history=[])


def test_hashrate_is_per_algorithm_and_per_host_latest_session():
    fs = [
        _miner(1, "10.0.0.1", "sha256d", 110e12),
        _miner(2, "10.0.0.1", "sha256d", 100e12, last_seen=T0 - timedelta(days=1)),  # an older session of .1
        _miner(3, "10.0.0.2", "sha256d", 90e12),
        _miner(4, "10.0.0.3", "randomx", 12_000.0),
        _miner(5, "10.0.0.4", "etchash", 500e6),
    ]
    assert hashrate_by_algorithm(fs) == {"etchash": 500e6, "randomx": 12_000.0, "sha256d": 200e12}
    html = case_report_html(_bundle(fs), lang="en")
    assert "sha256d: 200.00 TH/s" in html and "randomx: 12.00 kH/s" in html and "etchash: 500.00 MH/s" in html
    assert "200,000,000,512,000" not in html and "(sum)" not in html


def test_impact_counts_each_host_once_with_its_latest_assessment():
    a = _miner(1, "10.30.1.17", "randomx", 1e4, impact={"kw": 0.07, "kwh_per_year": 600.0, "machines": 1.0,
                                                        "assessed_at": "2024-06-11T00:00:00Z"})  # fmt: skip
    b = _miner(2, "10.30.1.17", "randomx", 1e4, impact={"kw": 0.071, "kwh_per_year": 622.77, "machines": 1.0,
                                                        "assessed_at": "2024-06-12T00:00:00Z"})  # fmt: skip
    assert latest_per_host([("h", a.impact, None), ("h", b.impact, None)]) == {"h": b.impact}
    html = case_report_html(_bundle([a, b]), lang="en")
    assert "623 kWh" in html and "1,223 kWh" not in html and "1,245 kWh" not in html
    assert "the latest of each of their 1 host(s)" in html
