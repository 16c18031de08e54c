"""Seconds numba has spent compiling in this process, so first-run compilation is not billed to a stage.

Why: the capture kernels (`sources.pcap`, `net.decode`, `net.engine`) are compiled on their first call
and cached on disk (`cache=True`). On a fresh install the first scan of a 1.6 MB capture took ~20 s of
which ~19 s were compilation, and the timing line blamed "read+dissect" for it (user review, session 9).
Stages subtract what this counter grew by and report it as its own stage.
"""

from __future__ import annotations

from typing import Any

_timer: Any = None


def compile_seconds() -> float:
    """Total numba compile time in this process so far (0.0 when numba is not importable)."""
    global _timer
    if _timer is None:
        try:
            from numba.core import event
        except ImportError:  # pragma: no cover - numba is a dependency; stay usable without it
            return 0.0
        _timer = event.TimingListener()
        event.register("numba:compile", _timer)
    return float(_timer.duration) if _timer.done else 0.0
