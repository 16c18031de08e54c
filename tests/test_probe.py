"""`probe` against the local pool emulator only (127.0.0.1), plain and TLS, with negative controls."""

from __future__ import annotations

import socket

import pytest
import typer
from typer.testing import CliRunner

from minewatch.errors import InputError
from minewatch.net.pool_emulator import PoolEmulator, free_port
from minewatch.net.probe import parse_target, probe, probe_endpoint


def test_plain_stratum_pool_is_recognised():
    with PoolEmulator(protocol="stratum") as pool:
        res = probe_endpoint("127.0.0.1", pool.port, timeout_s=3)
    assert res.verdict == "stratum-v1" and res.is_pool
    assert res.details["extranonce2_size"] == 4
    assert res.tls_version is None


def test_tls_xmrig_pool_is_recognised_and_certificate_recorded():
    with PoolEmulator(protocol="xmrig", tls=True) as pool:
        res = probe_endpoint("127.0.0.1", pool.port, tls=True, timeout_s=3)
    assert res.verdict == "xmrig", res
    assert res.details["job_algo"] == "rx/0"
    assert res.tls_version and res.tls_version.startswith("TLS")
    assert res.cert_sha256 and len(res.cert_sha256) == 64


def test_plain_probe_of_tls_pool_does_not_claim_a_pool():
    with PoolEmulator(protocol="auto", tls=True) as pool:
        res = probe_endpoint("127.0.0.1", pool.port, tls=False, timeout_s=1)
    assert not res.is_pool


@pytest.mark.parametrize(("protocol", "verdict"), [("silent", "silent"), ("http", "not-a-pool")])
def test_negative_controls(protocol, verdict):
    with PoolEmulator(protocol=protocol) as pool:
        res = probe_endpoint("127.0.0.1", pool.port, timeout_s=0.7)
    assert res.verdict == verdict and not res.is_pool


def test_closed_port_is_unreachable():
    res = probe_endpoint("127.0.0.1", free_port(), timeout_s=1)
    assert res.verdict == "unreachable" and res.error


def test_parse_target():
    assert parse_target("stratum+ssl://127.0.0.1:3333") == ("127.0.0.1", 3333)
    assert parse_target("[::1]:14444") == ("::1", 14444)
    for bad in ("127.0.0.1", "host:0", "host:port", ":80"):
        with pytest.raises(InputError):
            parse_target(bad)


def test_cli_exit_codes():
    app = typer.Typer()
    app.command()(probe)
    app.command("noop")(lambda: None)
    runner = CliRunner()
    with PoolEmulator(protocol="stratum") as pool:
        ok = runner.invoke(app, ["probe", f"127.0.0.1:{pool.port}", "--timeout", "2"])
    assert ok.exit_code == 0, ok.output
    assert "stratum-v1" in ok.output
    with socket.create_server(("127.0.0.1", 0)) as srv:  # accepts, never answers
        port = srv.getsockname()[1]
        silent = runner.invoke(app, ["probe", f"127.0.0.1:{port}", "--timeout", "0.5"])
    assert silent.exit_code == 3
    assert runner.invoke(app, ["probe", "nonsense"]).exit_code == 2
