"""Errors that name where the input went wrong, and a tally of what was rejected.

Why a tally and not just exceptions: a multi-GB capture with one bad record must still be scanned,
and the user must still learn that something was skipped. Readers raise `InputError` for what
stops them and `Rejects.add()` for what they step over; the CLI prints both in its summary.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


class MinewatchError(Exception):
    """Base of every error minewatch raises on purpose."""


class InputError(MinewatchError):
    """Bad input at a known place: file plus byte offset or line number."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        offset: int | None = None,
        line: int | None = None,
    ) -> None:
        self.message = message
        self.path = path
        self.offset = offset
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.path:
            where.append(str(self.path))
        if self.offset is not None:
            where.append(f"byte {self.offset}")
        if self.line is not None:
            where.append(f"line {self.line}")
        return f"{': '.join([', '.join(where), self.message]) if where else self.message}"


@dataclass
class Rejects:
    """Counts of skipped input by reason, plus the first few examples with their position."""

    counts: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    max_examples: int = 20

    def add(self, reason: str, where: str | None = None, n: int = 1) -> None:
        """Count `n` rejected things of one reason (one example kept, where given)."""
        if n <= 0:
            return
        self.counts[reason] += n
        if where is not None and len(self.examples) < self.max_examples:
            self.examples.append(f"{where}: {reason}")

    def merge(self, other: Rejects) -> None:
        self.counts.update(other.counts)
        room = self.max_examples - len(self.examples)
        self.examples.extend(other.examples[: max(0, room)])

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, int]:
        return dict(self.counts)
