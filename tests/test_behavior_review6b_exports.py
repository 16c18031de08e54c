"""Review 6 (D3 follow-up): `minewatch export --include-timing-only` leaves timing-only findings out of the
blocking formats by default and puts them in when asked; SIEM formats keep them."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from minewatch.cli import app
from minewatch.model import Evidence
from test_exports import F

TIMING_IP = "45.77.10.99"  # the pool address only a timing-only finding names
CONTENT_IP = "45.77.10.20"


def _timing_finding():
    """A mining verdict from timing alone (all evidence `behavior.*`): shaped like a pool session, no payload."""
    return F(
        detector="net.behavior", src_ip="10.1.2.11", dst_ip=TIMING_IP, dst_port=443, pool_host=None, coin=None,
        worker=None, score=75.0, subscores={"steady": 75.0},
        evidence=[Evidence("behavior.poisson_counts", "client packets vary like Poisson counts",
                           "客户端包数符合泊松计数")],
    )


@pytest.fixture
def store(tmp_path, tmp_home) -> Path:
    from minewatch.store import Store

    p = tmp_path / "s.duckdb"
    with Store(p) as st:
        st.add_findings([F(), _timing_finding()])
    return p


def _export(store: Path, kind: str, *extra: str) -> str:
    r = CliRunner().invoke(app, ["export", kind, "--db", str(store), *extra])
    assert r.exit_code == 0, r.output
    return r.stdout


@pytest.mark.parametrize("kind", ["nft", "ipset", "suricata"])
def test_blocking_exports_leave_timing_only_findings_out_unless_asked(store, kind):
    """Timing says 'shaped like a pool session', which a benign flow can be: a block list built on it would
    cut benign services, so the enforcing formats need `--include-timing-only` to use such a finding."""
    default = _export(store, kind)
    assert CONTENT_IP in default and TIMING_IP not in default
    included = _export(store, kind, "--include-timing-only")
    assert CONTENT_IP in included and TIMING_IP in included


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_siem_exports_keep_timing_only_findings(store, kind):
    """A SIEM wants every finding, with its basis visible in the evidence codes; no flag needed."""
    out = _export(store, kind)
    assert CONTENT_IP in out and TIMING_IP in out
