"""First-run compilation of the capture kernels is its own stage of the scan timing, not "read+dissect"."""

from __future__ import annotations

import itertools

from minewatch import jit
from minewatch.net import pipeline


def test_compile_seconds_grows_when_numba_compiles() -> None:
    from numba import njit

    before = jit.compile_seconds()

    @njit
    def _fresh(x: int) -> int:  # a function no cache holds: compiled now
        return x * 3 + 1

    assert _fresh(2) == 7
    assert jit.compile_seconds() > before


def test_scan_bills_compilation_to_its_own_stage(tmp_path, monkeypatch) -> None:
    from minewatch.net.intel import PoolIntel
    from minewatch.synth.pcapwriter import write_capture
    from minewatch.synth.scenario import ScenarioSpec, SessionSpec, build_scenario

    pkts, _ = build_scenario(ScenarioSpec([SessionSpec("stratum1-asic", "10.1.2.3", "198.51.100.20",
                                                       server_port=3333, client_port=51000, duration=120)],
                                          t0=1.7e9))
    cap = write_capture(tmp_path / "s.pcap", pkts)
    ticks = itertools.count(0.0, 1000.0)  # every reading of the counter is 1,000 s later
    monkeypatch.setattr(pipeline, "compile_seconds", lambda: next(ticks))
    s = pipeline.CaptureScanner(PoolIntel.builtin())
    s.scan_file(cap)
    assert s.stats.stage_s[pipeline.JIT_STAGE] == 1000.0
    assert s.stats.stage_s["read+dissect"] < 0  # wall time minus the pretend 1,000 s of compilation
