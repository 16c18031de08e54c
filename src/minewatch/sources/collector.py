"""The NetFlow/IPFIX UDP collector: receive, decode, buffer, write hive-partitioned Parquet.

Why one thread and a short receive timeout: decoding is pure Python and the machine is small, so
a second thread would only contend for the GIL; the timeout lets the loop notice a stop request
and flush on time even when no datagram arrives. The socket gets a large receive buffer so that a
burst waits in the kernel instead of being dropped.

Why "nothing buffered lost" holds on SIGTERM: the stop flag is only read between datagrams; on
stop the loop first drains what the kernel already queued, then writes every buffered row, then
writes the counters next to the data. Data still held for a template that never came cannot be
decoded and is reported as such (`held_dropped_at_shutdown`), never silently forgotten.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from minewatch.errors import InputError, Rejects
from minewatch.sources.netflow import Record, TemplateCache, decode_datagram, records_to_batch


@dataclass
class Counters:
    """What the collector saw; printed at the end and written to `_stats/` beside the Parquet."""

    datagrams: int = 0
    datagram_bytes: int = 0
    records: int = 0
    rows_written: int = 0
    files_written: int = 0
    seq_gaps: int = 0
    seq_lost: int = 0
    seq_reorder: int = 0
    templates: int = 0
    options_records: int = 0
    held: int = 0
    released: int = 0
    held_expired: int = 0
    held_dropped_at_shutdown: int = 0
    by_version: Counter[int] = field(default_factory=Counter)
    rejects: Rejects = field(default_factory=Rejects)

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k not in ("rejects", "by_version")}
        d["by_version"] = {str(k): v for k, v in sorted(self.by_version.items())}
        d["rejects"] = self.rejects.as_dict()
        d["reject_examples"] = list(self.rejects.examples)
        return d


class PartitionedWriter:
    """Buffers rows per hour and writes `out/date=YYYY-MM-DD/hour=HH/part-*.parquet` atomically.

    Partitioned by the flow slice's end time (start, then arrival time, when the exporter did not
    say), so a query over a day reads only that day's folders. Files appear under a temporary name
    and are renamed when complete: a reader never sees half a file.
    """

    def __init__(self, out: Path, max_rows: int = 200_000, max_age_s: float = 60.0) -> None:
        self.out = out
        self.max_rows = max_rows
        self.max_age_s = max_age_s
        self.buf: dict[tuple[str, str], list[Record]] = {}
        self.buffered = 0
        self.oldest: float | None = None
        self.files = 0
        self.rows = 0
        self._seq = 0
        out.mkdir(parents=True, exist_ok=True)

    def add(self, records: list[Record], arrived_us: int, now: float) -> None:
        for r in records:
            ts = r["end"] if r["end"] is not None else r["start"] if r["start"] is not None else arrived_us
            try:
                dt = datetime.fromtimestamp(ts / 1e6, tz=UTC)
            except (OverflowError, OSError, ValueError):
                dt = datetime.fromtimestamp(arrived_us / 1e6, tz=UTC)
            self.buf.setdefault((dt.strftime("%Y-%m-%d"), dt.strftime("%H")), []).append(r)
        if records and self.oldest is None:
            self.oldest = now
        self.buffered += len(records)

    def due(self, now: float) -> bool:
        return self.buffered >= self.max_rows or (
            self.oldest is not None and now - self.oldest >= self.max_age_s
        )

    def flush(self) -> int:
        written = 0
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        for (date, hour), rows in sorted(self.buf.items()):
            d = self.out / f"date={date}" / f"hour={hour}"
            d.mkdir(parents=True, exist_ok=True)
            self._seq += 1
            name = f"part-{stamp}-{os.getpid()}-{self._seq:06d}.parquet"
            tmp = d / f".{name}.tmp"
            pq.write_table(
                pa_table(rows), tmp, compression="zstd"
            )
            os.replace(tmp, d / name)
            written += len(rows)
            self.files += 1
        self.rows += written
        self.buf.clear()
        self.buffered = 0
        self.oldest = None
        return written


def pa_table(rows: list[Record]) -> Any:
    import pyarrow as pa

    return pa.Table.from_batches([records_to_batch(rows)])


def parse_listen(listen: str) -> tuple[str, int]:
    """HOST:PORT (IPv6 as [::1]:PORT) -> (host, port); port 0 picks a free one."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise InputError(f"--listen expects HOST:PORT, got {listen!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


class Collector:
    """A UDP NetFlow/IPFIX listener writing Parquet; `request_stop()` is safe from a signal handler."""

    def __init__(
        self,
        listen: str,
        out: Path,
        *,
        flush_rows: int = 200_000,
        flush_seconds: float = 60.0,
        rcvbuf: int = 16 << 20,
        max_held: int = 20_000,
    ) -> None:
        host, port = parse_listen(listen)
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_DGRAM)
        with contextlib.suppress(OSError):  # the kernel caps it; a smaller buffer still works
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.bind((host, port))
        self.sock.settimeout(0.2)
        self.bound: tuple[str, int] = self.sock.getsockname()[:2]
        self.out = out
        self.writer = PartitionedWriter(out, flush_rows, flush_seconds)
        self.cache = TemplateCache(max_held=max_held)
        self.counters = Counters()
        self._stop = False
        self._last_expire = time.monotonic()

    def request_stop(self) -> None:
        self._stop = True

    def handle(self, data: bytes, exporter: str, now: float) -> None:
        c = self.counters
        c.datagrams += 1
        c.datagram_bytes += len(data)
        records, events = decode_datagram(data, exporter, self.cache, now)
        if len(data) >= 2:
            c.by_version[int.from_bytes(data[:2], "big")] += 1
        for e in events:
            k = e.kind
            if k == "reject":
                c.rejects.add(e.detail, f"datagram {c.datagrams} from {exporter}")
            elif k == "seq_gap":
                c.seq_gaps += 1
                c.seq_lost += e.count
            elif k == "seq_reorder":
                c.seq_reorder += 1
            elif k == "template":
                c.templates += 1
            elif k == "options":
                c.options_records += e.count
            elif k == "held":
                c.held += 1
            elif k == "released":
                c.released += e.count
        if records:
            c.records += len(records)
            self.writer.add(records, int(time.time() * 1e6), now)

    def _recv_one(self) -> bool:
        try:
            data, addr = self.sock.recvfrom(65535)
        except (TimeoutError, BlockingIOError):
            return False
        self.handle(data, f"{addr[0]}:{addr[1]}", time.monotonic())
        return True

    def _housekeeping(self, now: float) -> None:
        if self.writer.due(now):
            self.counters.rows_written += self.writer.flush()
            self.counters.files_written = self.writer.files
        if now - self._last_expire > 60:
            self._last_expire = now
            n = self.cache.expire_held(time.monotonic())
            if n:
                self.counters.held_expired += n
                self.counters.rejects.add("held data expired without its template", None)

    def serve(self, max_seconds: float | None = None) -> Counters:
        """Run until `request_stop()` (or `max_seconds`), then drain, flush and write the counters."""
        t_end = None if max_seconds is None else time.monotonic() + max_seconds
        while not self._stop:
            self._recv_one()
            now = time.monotonic()
            self._housekeeping(now)
            if t_end is not None and now >= t_end:
                break
        return self.close()

    def close(self) -> Counters:
        self.sock.setblocking(False)
        while self._recv_one():  # what the kernel already queued belongs to this run
            pass
        self.sock.close()
        c = self.counters
        c.rows_written += self.writer.flush()
        c.files_written = self.writer.files
        dropped = self.cache.drain_held()
        if dropped:
            c.held_dropped_at_shutdown += dropped
            c.rejects.counts["held data without template at shutdown"] += dropped
        stats = self.out / "_stats"
        stats.mkdir(parents=True, exist_ok=True)
        name = f"collector-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.json"
        (stats / name).write_text(json.dumps(c.as_dict(), indent=1))
        return c
