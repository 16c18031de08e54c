"""Where minewatch keeps its store and where the shared development data lives."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_dir


def data_dir() -> Path:
    """Per-user data directory (override with MINEWATCH_HOME), created on first use."""
    base = os.environ.get("MINEWATCH_HOME")
    p = Path(base) if base else Path(user_data_dir("minewatch", appauthor=False))
    p.mkdir(parents=True, exist_ok=True)
    return p


def default_db() -> Path:
    return data_dir() / "minewatch.duckdb"


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def shared_data() -> Path | None:
    """The shared public data set for development (MINEWATCH_SHARED_DATA or ../shared/data)."""
    env = os.environ.get("MINEWATCH_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(repo_root().parent / "shared" / "data")
    for c in candidates:
        if c.is_dir():
            return c
    return None


def package_data(name: str) -> Path:
    return Path(__file__).resolve().parent / "data" / name
