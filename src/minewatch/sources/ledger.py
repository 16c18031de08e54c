"""Incremental import of log files, keyed by their content.

Why content and not path or mtime: the same log copied, renamed or rotated must not be imported
twice, and a log that grew by appending (a live `conn.log`, an `eve.json`) should cost only its
new lines. So each import records the SHA-256 of the bytes read, their length, and the number of
complete lines. Next time:
- the whole file hashes to a known digest -> skip it;
- its first `size` bytes hash to a digest recorded for the same path and the file is longer ->
  resume after the recorded line (readers take `start_line=`);
- anything else (rewritten, truncated, a different file) -> import it from the start.
Gzip files are compared the same way on their compressed bytes; a grown gzip is re-read in full
(its stream cannot be resumed), but an identical one is still skipped.

The ledger is a small JSON file (one per store directory) so that it works without the DuckDB
store and can be inspected by hand.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

Action = Literal["skip", "resume", "full"]


@dataclass
class LedgerEntry:
    path: str
    sha256: str
    size: int
    lines: int
    kind: str
    imported_at: str
    gzip: bool = False


@dataclass
class ImportPlan:
    action: Action
    start_line: int
    sha256: str
    size: int
    lines: int
    reason: str


def _digest(path: Path, limit: int | None = None) -> tuple[str, int, int, bool]:
    """SHA-256, byte count and complete-line count of the first `limit` bytes (all when None)."""
    h = hashlib.sha256()
    n = lines = 0
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
        f.seek(0)
        while True:
            want = 1 << 20 if limit is None else min(1 << 20, limit - n)
            if want <= 0:
                break
            block = f.read(want)
            if not block:
                break
            h.update(block)
            n += len(block)
            lines += block.count(b"\n")
    return h.hexdigest(), n, lines, gz


class ImportLedger:
    """What was imported, by content; `plan()` before reading, `record()` after a complete read."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.entries: dict[str, LedgerEntry] = {}
        if self.path.exists():
            for d in json.loads(self.path.read_text() or "[]"):
                e = LedgerEntry(**d)
                self.entries[e.sha256] = e

    def plan(self, file: str | Path) -> ImportPlan:
        p = Path(file)
        sha, size, lines, gz = _digest(p)
        if sha in self.entries:
            return ImportPlan("skip", 0, sha, size, lines, f"same content imported from {self.entries[sha].path}")
        here = str(p.resolve())
        for e in sorted(self.entries.values(), key=lambda e: -e.size):
            if e.path != here or e.size >= size:
                continue
            prefix, _, _, _ = _digest(p, e.size)
            if prefix == e.sha256:
                if gz or e.gzip:
                    return ImportPlan("full", 0, sha, size, lines, "gzip file grew; re-read in full")
                return ImportPlan("resume", e.lines, sha, size, lines, f"file grew; resume after line {e.lines}")
        return ImportPlan("full", 0, sha, size, lines, "new content")

    def record(self, file: str | Path, plan: ImportPlan, kind: str) -> None:
        p = Path(file)
        _, _, _, gz = _digest(p, 2)
        self.entries[plan.sha256] = LedgerEntry(
            str(p.resolve()), plan.sha256, plan.size, plan.lines, kind,
            datetime.now(UTC).isoformat().replace("+00:00", "Z"), gz,
        )
        tmp = self.path.with_suffix(".tmp")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps([asdict(e) for e in self.entries.values()], indent=1))
        os.replace(tmp, self.path)
