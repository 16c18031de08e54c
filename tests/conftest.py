"""Shared test fixtures: where the public data lives, and a guard that keeps tests off the network."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from minewatch.paths import shared_data


@pytest.fixture(scope="session")
def shared() -> Path:
    """../shared/data, or skip: a user's fresh clone does not have it."""
    p = shared_data()
    if p is None:
        pytest.skip("shared data folder ../shared/data is absent (set MINEWATCH_SHARED_DATA)")
    return p


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch):
    """Fail any test that tries to reach beyond 127.0.0.0/8 (or ::1)."""
    real_connect = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else None
        if host is not None and not (
            str(host).startswith("127.") or host in ("::1", "localhost") or self.family == socket.AF_UNIX
        ):
            raise RuntimeError(f"test tried to connect to {host}: tests stay on loopback")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture
def tmp_home(tmp_path, monkeypatch) -> Path:
    """A private MINEWATCH_HOME so tests never touch the user's store."""
    monkeypatch.setenv("MINEWATCH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture(autouse=True)
def _english_unless_asked():
    """`--lang zh` sets the process-wide language; restore English so one test cannot leak it into the next."""
    from minewatch.i18n import set_lang

    set_lang("en")
    yield
    set_lang("en")
