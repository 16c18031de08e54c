"""Race tests: start `n` threads at the same moment, so their critical sections really overlap."""

from __future__ import annotations

import threading
from collections.abc import Callable


def run_together(n: int, work: Callable[[int], object], timeout_s: float = 120) -> list[object]:
    """`work(i)` for i < n in threads released by one barrier; each slot holds the result or what was raised."""
    gate = threading.Barrier(n)
    out: list[object] = [None] * n

    def run(i: int) -> None:
        try:
            gate.wait()
            out[i] = work(i)
        except BaseException as e:  # returned to the test, which asserts on it
            out[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout_s)
    return out


def raised(results: list[object]) -> list[BaseException]:
    return [r for r in results if isinstance(r, BaseException)]
