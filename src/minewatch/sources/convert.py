"""Arrow conversion that costs only the bad rows: the readers' and the collector's last line of defence.

The readers check ranges line by line and the collector turns unfit values into null, but a value nothing
foresaw may still make Arrow refuse a batch. Bisecting the batch finds the rows at fault, so those rows are
rejected (named by the caller's `bad`) and every other row converted with them is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import pyarrow as pa

T = TypeVar("T")

#: Conversions one failing batch may spend looking for its bad rows (about 2 log2(n) each, so dozens of
#: bad rows are isolated), while a failure that hits every row (a bug, not a value) is not bisected down
#: to 2n single-row conversions on a receive thread; what is left when the budget runs out is rejected
#: whole (and counted by `bad`).
SPLIT_BUDGET = 1024


def halves(items: list[T]) -> list[list[T]] | None:
    """The two halves of a list; None for a single item (nothing left to split)."""
    h = len(items) // 2
    return [items[:h], items[h:]] if h else None


def convert_or_split(item: T, convert: Callable[[T], pa.RecordBatch], split: Callable[[T], list[T] | None],
                     bad: Callable[[T, Exception], None], out: list[pa.RecordBatch],
                     budget: list[int] | None = None) -> None:
    """Convert `item` into `out`; when that raises, convert its halves (`split`) until only the bad rows are
    left, each reported to `bad`. A good batch converts in one call; each bad row costs about log2(batch)
    extra conversions, `SPLIT_BUDGET` in all."""
    budget = [SPLIT_BUDGET] if budget is None else budget
    try:
        out.append(convert(item))
    except Exception as exc:
        parts = split(item) if budget[0] > 0 else None
        if parts is None:
            bad(item, exc)
            return
        budget[0] -= len(parts)
        for part in parts:
            convert_or_split(part, convert, split, bad, out, budget)
