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


class _OneReply:
    """A local server that answers every connection with fixed bytes (what a hostile endpoint might send)."""

    def __init__(self, payload: bytes) -> None:
        import threading

        self.payload = payload
        self.srv = socket.create_server(("127.0.0.1", 0))
        self.port = self.srv.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            with conn:
                try:
                    conn.recv(4096)
                    conn.sendall(self.payload)
                except OSError:
                    pass

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.srv.close()


@pytest.mark.parametrize(
    "payload",
    [b"[/oops] hello [bold]\n", b"[" * 5000 + b"\n", b'{"id":1,"result":null,"error":{"message":123}}\n',
     b"\x1b[2J\x1b[31mCLEARED\x1b]0;pwned\x07\n"],
    ids=["rich-markup", "deep-nesting", "non-string-error", "terminal-escapes"],
)
def test_hostile_answers_are_shown_not_obeyed(payload):
    app = typer.Typer()
    app.command()(probe)
    app.command("noop")(lambda: None)
    with _OneReply(payload) as srv:
        r = CliRunner().invoke(app, ["probe", f"127.0.0.1:{srv.port}", "--timeout", "1"])
    assert r.exit_code == 3, r.output  # answered, not a pool; never a crash
    assert "\x1b" not in r.output and "\x07" not in r.output


def test_a_stratum_ssl_url_is_probed_over_tls_and_a_failed_handshake_is_named():
    app = typer.Typer()
    app.command()(probe)
    app.command("noop")(lambda: None)
    runner = CliRunner()
    with PoolEmulator(protocol="xmrig", tls=True) as pool:
        r = runner.invoke(app, ["probe", f"stratum+ssl://127.0.0.1:{pool.port}", "--timeout", "3"])
    assert r.exit_code == 0 and "xmrig" in r.output
    with PoolEmulator(protocol="stratum") as plain:
        res = probe_endpoint("127.0.0.1", plain.port, tls=True, timeout_s=1)
    assert res.verdict == "tls-failed" and not res.is_pool and res.error
    assert runner.invoke(app, ["probe", "127.0.0.1:3333", "--timeout", "-1"]).exit_code == 2
