"""The NetFlow/IPFIX UDP collector: receive, decode, buffer, write hive-partitioned Parquet.

Why one thread: decoding is columnar (`netflow.ColumnBuffer`), so a datagram costs a few
microseconds of Python and a batch of them one pass of numpy/Arrow; a second thread would mostly
contend for the GIL on a 2-core machine. The loop drains everything the kernel has queued
(non-blocking, until EAGAIN: on Linux with `recvmmsg(2)` through ctypes, up to 64 datagrams per system
call; elsewhere, or if that fails, one `recvfrom` per datagram; `Counters.receive_path` says which),
converts to Arrow only every `take_rows` records or second,
and sleeps a few milliseconds when traffic is light so that datagrams arrive in bursts rather than
one wake-up each. The socket asks for a large receive buffer (SO_RCVBUF, then SO_RCVBUFFORCE when
allowed) so a Parquet flush or a pause waits in the kernel instead of being dropped.

Why "nothing buffered lost" holds on SIGTERM: the stop flag is only read between batches; on stop
the loop first drains what the kernel already queued, then converts and writes every buffered row,
then writes the counters next to the data. Data still held for a template that never came cannot
be decoded and is reported as such (`held_dropped_at_shutdown`), never silently forgotten.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import mmap
import os
import select
import socket
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from minewatch.errors import InputError, Rejects
from minewatch.sources.netflow import (
    ColumnBuffer,
    Event,
    Record,
    TemplateCache,
    decode_into,
    records_to_batch,
)
from minewatch.sources.sflow import is_sflow

#: Linux's SO_RCVBUFFORCE (lets a privileged collector exceed net.core.rmem_max); absent elsewhere.
_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33 if sys.platform.startswith("linux") else None)
_HOUR_US = 3_600_000_000
_MIN_S, _MAX_S = -62_135_596_800, 253_402_300_799  # what datetime can represent (years 1-9999)
#: Parquet columns written without min/max statistics: the `extra` map's keys and values are every record's
#: few names and values mixed, so their min/max prunes nothing, and computing them was ~20 % of writing
#: a v5 or sFlow file (measured: 51 -> 41 ms per 100,000 v5 records); every other column keeps them
_NO_STATISTICS = frozenset({"extra"})


@dataclass
class Counters:
    """What the collector saw; printed at the end and written to `_stats/` beside the Parquet.

    Units, because a total of mixed things misleads: `records` counts flow records decoded (held
    ones when released), and after shutdown `records == rows_written + records_rejected`. `rejects`
    counts what was thrown away, by reason, one per thing the reason names: a datagram for header
    and length problems, a data set for held data ("no template and hold buffer full", "held data
    expired without its template", "held data without template at shutdown": a set without its
    template cannot be split into records), a template record for template problems, and a record
    for "truncated variable-length record" and "decoder error: ... converting a record" (those also
    in `records_rejected`). `values_nulled` counts values, by column, written as null because the
    column cannot hold them (a port above 2^31, a time outside 1970-9999); their records are kept.
    `held`, `held_expired` and `held_dropped_at_shutdown` count data sets.
    """

    datagrams: int = 0
    datagram_bytes: int = 0
    records: int = 0
    rows_written: int = 0
    records_rejected: int = 0
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
    #: "recvmmsg" (many datagrams per system call, Linux) or "recvfrom" (portable, one per call).
    receive_path: str = "recvfrom"
    #: Why recvmmsg is not used (None when it is, or when recvfrom was asked for).
    receive_fallback: str | None = None
    #: System calls that returned data: datagrams / receive_calls is the mean batch size.
    receive_calls: int = 0
    #: sFlow (`sources.sflow`): flow samples (one row each) and counter samples (passed over) received, and
    #: samples the agents said they dropped (the rise of their cumulative drop counters)
    sflow_flow_samples: int = 0
    sflow_counter_samples: int = 0
    sflow_agent_drops: int = 0
    #: datagrams by export protocol: NetFlow's version number (5, 9, 10) or "sflow5"
    by_version: Counter[int | str] = field(default_factory=Counter)
    values_nulled: Counter[str] = field(default_factory=Counter)
    rejects: Rejects = field(default_factory=Rejects)

    def reject(self, reason: str, where: str | None, n: int = 1) -> None:
        """Count `n` rejected things of one reason, keeping `where` as an example."""
        self.rejects.add(reason, where, n)

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k not in ("rejects", "by_version", "values_nulled")}
        d["by_version"] = {str(k): v for k, v in sorted(self.by_version.items(), key=lambda kv: str(kv[0]))}
        d["values_nulled"] = dict(sorted(self.values_nulled.items()))
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
        self.buf: dict[tuple[str, str], list[pa.Table]] = {}
        self.buffered = 0
        self.oldest: float | None = None
        self.files = 0
        self.rows = 0
        self._seq = 0
        out.mkdir(parents=True, exist_ok=True)

    def add(self, rows: pa.Table | pa.RecordBatch | list[Record], arrived_us: int, now: float) -> None:
        """Buffer a NETFLOW_SCHEMA table (or a list of row dicts) under the hours its rows belong to."""
        if isinstance(rows, list):
            if not rows:
                return
            rows = pa.Table.from_batches([records_to_batch(rows)])
        elif isinstance(rows, pa.RecordBatch):
            rows = pa.Table.from_batches([rows])
        n = rows.num_rows
        if n == 0:
            return
        when = pc.coalesce(rows.column("end"), rows.column("start")).cast(pa.int64())
        ts = when.fill_null(arrived_us).to_numpy()
        bad = (ts < _MIN_S * 1_000_000) | (ts > _MAX_S * 1_000_000)
        if bad.any():
            ts = np.where(bad, arrived_us, ts)
        hours = ts // _HOUR_US
        # Nearly every batch lies within one hour: two reductions instead of a hash/sort pass.
        uniq = hours[:1] if hours.min() == hours.max() else np.unique(hours)
        for h in uniq.tolist():
            part = rows if len(uniq) == 1 else rows.filter(pa.array(hours == h))
            dt = datetime.fromtimestamp(h * 3600, tz=UTC)
            self.buf.setdefault((dt.strftime("%Y-%m-%d"), dt.strftime("%H")), []).append(part)
        if self.oldest is None:
            self.oldest = now
        self.buffered += n

    def due(self, now: float) -> bool:
        return self.buffered >= self.max_rows or (
            self.oldest is not None and now - self.oldest >= self.max_age_s
        )

    def flush(self) -> int:
        written = 0
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        for (date, hour), tables in sorted(self.buf.items()):
            d = self.out / f"date={date}" / f"hour={hour}"
            d.mkdir(parents=True, exist_ok=True)
            self._seq += 1
            name = f"part-{stamp}-{os.getpid()}-{self._seq:06d}.parquet"
            tmp = d / f".{name}.tmp"
            table = pa.concat_tables(tables)
            pq.write_table(table, tmp, compression="zstd",
                           write_statistics=[c for c in table.column_names if c not in _NO_STATISTICS])
            os.replace(tmp, d / name)
            written += table.num_rows
            self.files += 1
        self.rows += written
        self.buf.clear()
        self.buffered = 0
        self.oldest = None
        return written


def parse_listen(listen: str) -> tuple[str, int]:
    """HOST:PORT (IPv6 as [::1]:PORT) -> (host, port); port 0 picks a free one."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise InputError(f"--listen expects HOST:PORT, got {listen!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def _big_rcvbuf(sock: socket.socket, size: int) -> int:
    """Ask for `size` bytes of kernel receive buffer; returns what the kernel granted."""
    with contextlib.suppress(OSError):  # the kernel caps it at net.core.rmem_max
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    got = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    if got < size and _SO_RCVBUFFORCE is not None:
        with contextlib.suppress(OSError):  # needs CAP_NET_ADMIN; without it the capped buffer stays
            sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, size)
            got = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    return got


class _IOVec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class _MsgHdr(ctypes.Structure):
    _fields_ = [
        ("msg_name", ctypes.c_void_p), ("msg_namelen", ctypes.c_uint32),
        ("msg_iov", ctypes.c_void_p), ("msg_iovlen", ctypes.c_size_t),
        ("msg_control", ctypes.c_void_p), ("msg_controllen", ctypes.c_size_t), ("msg_flags", ctypes.c_int),
    ]


class _MMsgHdr(ctypes.Structure):
    _fields_ = [("msg_hdr", _MsgHdr), ("msg_len", ctypes.c_uint)]


_NAME_LEN = 28  # sizeof(struct sockaddr_in6), which also holds a sockaddr_in
_RETRY = (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR)


class MMsgReceiver:
    """Linux `recvmmsg(2)` through ctypes: up to `slots` datagrams per system call, no compiled code.

    Why: Python's `recvfrom` pays one system call, one address string and one tuple per datagram.
    Here one call fills preallocated buffers and the kernel writes each sender's raw sockaddr beside
    them; lengths and address lengths are read for the whole batch through one numpy view of the
    mmsghdr array. Each message has two iovecs: a dense `SMALL`-byte slot (all of them together stay
    in cache; 64 KiB slots put every datagram on its own cold page, in the same cache set, and
    measured no faster than recvfrom) and a 62 KiB overflow slot (anonymous memory, only touched by
    a datagram longer than `SMALL`, which then costs one join), so no UDP payload can be truncated. The buffers are reused by
    the next call, so the caller copies each payload out (`small[a:b]` and `payload()` give `bytes`)
    before calling `recv` again: the decoder keeps slices of what it is given until
    `ColumnBuffer.take()`.

    Raises OSError/AttributeError at construction when libc has no recvmmsg (non-Linux, a libc
    without it, ctypes unavailable) or when the start-up self-test misreads; the collector then
    falls back to `recvfrom`.
    """

    SMALL = 2048  # an Ethernet-MTU export datagram fits
    BIG = (1 << 16) - SMALL

    def __init__(self, fd: int, slots: int = 64) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.recvmmsg  # AttributeError where libc lacks it
        fn.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p]
        fn.restype = ctypes.c_int
        self._fn = fn
        self.fd = fd
        self.slots = slots
        self.small = ctypes.create_string_buffer(slots * self.SMALL)
        self._big_map = mmap.mmap(-1, slots * self.BIG)  # pages appear only when written
        self.big = (ctypes.c_char * (slots * self.BIG)).from_buffer(self._big_map)
        self.names = ctypes.create_string_buffer(slots * _NAME_LEN)
        self._iov = (_IOVec * (2 * slots))()
        self._hdrs = (_MMsgHdr * slots)()
        base, bbase = ctypes.addressof(self.small), ctypes.addressof(self.big)
        nbase = ctypes.addressof(self.names)
        for i in range(slots):
            self._iov[2 * i].iov_base = base + i * self.SMALL
            self._iov[2 * i].iov_len = self.SMALL
            self._iov[2 * i + 1].iov_base = bbase + i * self.BIG
            self._iov[2 * i + 1].iov_len = self.BIG
            h = self._hdrs[i].msg_hdr
            h.msg_name = nbase + i * _NAME_LEN
            h.msg_namelen = _NAME_LEN
            h.msg_iov = ctypes.addressof(self._iov[2 * i])
            h.msg_iovlen = 2
        self._addr = ctypes.addressof(self._hdrs)
        nl = _MMsgHdr.msg_hdr.offset + _MsgHdr.msg_namelen.offset
        dt = np.dtype({"names": ["namelen", "len"], "formats": [np.uint32, np.uint32],
                       "offsets": [nl, _MMsgHdr.msg_len.offset], "itemsize": ctypes.sizeof(_MMsgHdr)})
        raw = (ctypes.c_char * ctypes.sizeof(self._hdrs)).from_buffer(self._hdrs)
        self._view = np.frombuffer(raw, dtype=dt)
        self._namelen = self._view["namelen"]
        self._len = self._view["len"]
        self._self_test()

    def _self_test(self) -> None:
        """Receive two known datagrams on a private socket pair before trusting the struct layout.

        The ctypes structures follow glibc; a libc with another msghdr layout would otherwise read
        garbage silently. Raising OSError here makes "auto" fall back to recvfrom instead.
        """
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        fd = self.fd
        try:
            a.send(b"minewatch")
            a.send(b"\x00\x0a-probe")
            self.fd = b.fileno()
            k = self.recv(2)
            lens, _ = self.batch(max(k, 0))
            got = [self.payload(i, n) for i, n in enumerate(lens)]
        finally:
            self.fd = fd
            a.close()
            b.close()
        if got != [b"minewatch", b"\x00\x0a-probe"]:
            raise OSError(f"recvmmsg self-test read {got!r}")

    def recv(self, limit: int | None = None) -> int:
        """One system call, non-blocking: how many datagrams arrived (0 when none were queued)."""
        n = self.slots if limit is None or limit <= 0 else min(limit, self.slots)
        self._namelen[:n] = _NAME_LEN  # value-result: the kernel shrank it to each sender's length
        k = self._fn(self.fd, self._addr, n, socket.MSG_DONTWAIT, None)
        if k < 0:
            err = ctypes.get_errno()
            if err in _RETRY:
                return 0
            raise OSError(err, os.strerror(err))
        return k

    def batch(self, k: int) -> tuple[list[int], list[int]]:
        """Payload and sockaddr lengths of the first `k` slots of the last `recv`."""
        return self._len[:k].tolist(), self._namelen[:k].tolist()

    def payload(self, i: int, n: int) -> bytes:
        """Slot `i`'s datagram of `n` bytes, joined from both iovecs when it is longer than SMALL."""
        a = i * self.SMALL
        if n <= self.SMALL:
            return self.small[a : a + n]
        b = i * self.BIG
        return self.small[a : a + self.SMALL] + self.big[b : b + n - self.SMALL]


def sockaddr_name(raw: bytes) -> str:
    """A raw sockaddr_in/sockaddr_in6 -> "host:port" exactly as `recvfrom`'s address would print.

    Python formats addresses with getnameinfo(NI_NUMERICHOST) (link-local IPv6 gets its "%zone");
    doing the same keeps exporter names, and so template keys and Parquet rows, identical between
    the two receive paths.
    """
    fam = int.from_bytes(raw[:2], sys.byteorder)
    port = int.from_bytes(raw[2:4], "big")
    if fam == socket.AF_INET and len(raw) >= 8:
        return f"{socket.inet_ntop(socket.AF_INET, raw[4:8])}:{port}"
    if fam == socket.AF_INET6 and len(raw) >= 28:
        flow = int.from_bytes(raw[4:8], "big")
        scope = int.from_bytes(raw[24:28], sys.byteorder)
        host = socket.inet_ntop(socket.AF_INET6, raw[8:24])
        if scope:
            host = socket.getnameinfo((host, port, flow, scope), socket.NI_NUMERICHOST | socket.NI_NUMERICSERV)[0]
        return f"{host}:{port}"
    return f"family{fam}:{raw.hex()}"


def _version_key(data: bytes) -> int | str:
    """NetFlow's 16-bit version, or "sflow5" for an sFlow v5 datagram (whose first 16 bits are 0)."""
    v = (data[0] << 8) | data[1]
    return "sflow5" if v == 0 and is_sflow(data) else v


class Collector:
    """A UDP NetFlow/IPFIX/sFlow listener writing Parquet; `request_stop()` is safe from a signal handler."""

    def __init__(
        self,
        listen: str,
        out: Path,
        *,
        flush_rows: int = 200_000,
        flush_seconds: float = 60.0,
        rcvbuf: int = 32 << 20,
        max_held: int = 20_000,
        take_rows: int = 50_000,
        take_seconds: float = 1.0,
        receiver: str | None = None,
        mmsg_slots: int = 64,
    ) -> None:
        host, port = parse_listen(listen)
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_DGRAM)
        self.rcvbuf = _big_rcvbuf(self.sock, rcvbuf)
        # Light traffic: nap so a burst gathers in the kernel instead of one wake-up per datagram.
        # Each wake-up cost ~10-15 % of the collector's CPU at 5 000 datagrams/s with 5 ms naps
        # (mostly system time); 20 ms naps are taken only when the granted buffer holds 20 ms of a
        # sudden 100 k datagrams/s burst (~2.6 MB) with room to spare.
        self.nap_s = 0.02 if self.rcvbuf >= 4 << 20 else 0.005
        self.sock.bind((host, port))
        self.sock.setblocking(False)
        self.bound: tuple[str, int] = self.sock.getsockname()[:2]
        self.out = out
        self.writer = PartitionedWriter(out, flush_rows, flush_seconds)
        self.cache = TemplateCache(max_held=max_held)
        self.buf = ColumnBuffer()
        self.take_rows = max(1, min(take_rows, flush_rows))
        self.take_seconds = take_seconds
        self.counters = Counters()
        self._stop = False
        self._last_expire = time.monotonic()
        self._pending_since: float | None = None
        self._names: dict[Any, str] = {}
        self._raw_names: dict[bytes, str] = {}
        self.mmsg: MMsgReceiver | None = None
        self._choose_receiver(receiver or os.environ.get("MINEWATCH_COLLECTOR_RECEIVER", "auto"), mmsg_slots)

    def _choose_receiver(self, want: str, slots: int) -> None:
        """recvmmsg when asked for or available ("auto"), else the portable recvfrom loop.

        The choice and, for "auto", why recvmmsg was not used are in the counters (and `_stats/`), so
        a slow collector on an unusual platform says which path it runs. `MINEWATCH_COLLECTOR_RECEIVER`
        sets it for the CLI (A/B measurements, or a way out should a libc misbehave).
        """
        if want not in ("auto", "recvmmsg", "recvfrom"):
            self.sock.close()
            raise InputError(f"receiver must be auto, recvmmsg or recvfrom, got {want!r}")
        c = self.counters
        if want == "recvfrom":
            return
        try:
            if not sys.platform.startswith("linux"):
                raise OSError(f"recvmmsg is Linux-only (platform {sys.platform})")
            self.mmsg = MMsgReceiver(self.sock.fileno(), slots)
            c.receive_path = "recvmmsg"
        except (OSError, AttributeError, TypeError, ValueError) as exc:
            if want == "recvmmsg":
                self.sock.close()
                raise
            c.receive_fallback = f"{type(exc).__name__}: {exc}"

    def request_stop(self) -> None:
        self._stop = True

    def _exporter(self, addr: Any) -> str:
        name = self._names.get(addr)
        if name is None:
            if len(self._names) > 65_536:  # spoofed sources must not grow this without bound
                self._names.clear()
            name = self._names[addr] = f"{addr[0]}:{addr[1]}"
        return name

    def handle(self, data: bytes, exporter: str, now: float) -> None:
        """Decode one datagram into the pending buffer and count what it said."""
        c = self.counters
        c.datagrams += 1
        c.datagram_bytes += len(data)
        before = self.buf.rows
        events = decode_into(data, exporter, self.cache, self.buf, now, time.time())
        c.records += self.buf.rows - before
        if len(data) >= 2:
            c.by_version[_version_key(data)] += 1
        if events:
            self._count(events, exporter)

    def _count(self, events: list[Event], exporter: str) -> None:
        c = self.counters
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
            elif k == "sflow_flow_samples":
                c.sflow_flow_samples += e.count
            elif k == "sflow_counter_samples":
                c.sflow_counter_samples += e.count
            elif k == "sflow_agent_drops":
                c.sflow_agent_drops += e.count

    def _drain(self, limit: int | None = 4096) -> int:
        """Receive and decode until the kernel queue is empty (or `limit` datagrams); returns how many.

        The same work as `handle()` per datagram, inlined with the counters summed once per call:
        at 30 records per datagram the per-datagram Python (attribute lookups, calls, counter
        updates) cost as much as decoding the records. `recvfrom` is kept over `recvfrom_into` a
        preallocated buffer: measured on loopback, into + copying out the bytes the decoder keeps was
        slower (1.24 vs 0.91 us per datagram).
        """
        if self.mmsg is not None:
            return self._drain_mmsg(limit)
        recv = self.sock.recvfrom
        now = time.monotonic()
        wall = time.time()  # an sFlow sample's only time is its arrival (sources.sflow)
        c = self.counters
        buf, cache, names = self.buf, self.cache, self._names
        versions = c.by_version
        rows_before = buf.rows
        n = nbytes = 0
        limit = -1 if limit is None else limit
        try:
            while n != limit:
                try:
                    data, addr = recv(65535)
                except (BlockingIOError, InterruptedError):
                    break
                n += 1
                nbytes += len(data)
                exporter = names.get(addr) or self._exporter(addr)
                c.receive_calls += 1
                c.datagrams += 1  # before decoding: reject examples name the datagram's number
                if len(data) >= 2:
                    versions[_version_key(data)] += 1
                events = decode_into(data, exporter, cache, buf, now, wall)
                if events:
                    self._count(events, exporter)
        finally:
            c.datagram_bytes += nbytes
            c.records += buf.rows - rows_before
        return n

    def _drain_mmsg(self, limit: int | None) -> int:
        """`_drain` with recvmmsg: one system call per up to `mmsg_slots` datagrams.

        Per datagram the Python left is a copy out of the shared buffer (the decoder keeps slices
        until `take()`), an exporter lookup by the raw sockaddr bytes (no address string or tuple is
        built), and the decoder call; everything is counted as in the recvfrom loop, in arrival order.
        """
        rx = self.mmsg
        assert rx is not None
        now = time.monotonic()
        wall = time.time()
        c = self.counters
        buf, cache, names = self.buf, self.cache, self._raw_names
        versions = c.by_version
        small, name_buf, slot = rx.small, rx.names, rx.SMALL
        payload = rx.payload
        rows_before = buf.rows
        n = nbytes = 0
        left = -1 if limit is None else limit
        try:
            while left != 0:
                k = rx.recv(left)
                if k == 0:
                    break
                c.receive_calls += 1
                lens, name_lens = rx.batch(k)
                for i in range(k):
                    ln = lens[i]
                    off = i * slot
                    data = small[off : off + ln] if ln <= slot else payload(i, ln)
                    noff = i * _NAME_LEN
                    raw = name_buf[noff : noff + name_lens[i]]
                    exporter = names.get(raw)
                    if exporter is None:
                        if len(names) > 65_536:  # spoofed sources must not grow this without bound
                            names.clear()
                        exporter = names[raw] = sockaddr_name(raw)
                    n += 1
                    nbytes += len(data)
                    c.datagrams += 1  # before decoding: reject examples name the datagram's number
                    if len(data) >= 2:
                        versions[_version_key(data)] += 1
                    events = decode_into(data, exporter, cache, buf, now, wall)
                    if events:
                        self._count(events, exporter)
                if left > 0:
                    left -= k
        finally:
            c.datagram_bytes += nbytes
            c.records += buf.rows - rows_before
        return n

    def _recv_one(self) -> bool:
        """Wait up to 0.2 s for one datagram and decode it (tests and slow paths)."""
        if self._drain(1):
            return True
        select.select([self.sock], [], [], 0.2)
        return self._drain(1) == 1

    def _take(self, now: float) -> None:
        """Turn pending decoded data into an Arrow table and hand it to the writer.

        `take()` leaves out only records it cannot convert (named by exporter, domain, template and
        message sequence in the reject examples) and notes values it wrote as null; both are counted
        here. Should the whole conversion still fail, the batch is counted as rejected records.
        """
        c = self.counters
        pending = self.buf.rows
        try:
            table = self.buf.take()
        except Exception as exc:  # a conversion bug costs this batch, counted, not the collector
            c.reject(f"decoder error: {type(exc).__name__}", f"batch of {pending} records", pending)
            c.records_rejected += pending
            table = None
        nulled, failed = self.buf.take_notes()
        c.values_nulled.update(nulled)
        for (reason, where), n in failed.items():
            c.reject(reason, where, n)
            c.records_rejected += n
        self._pending_since = None
        if table is not None:
            self.writer.add(table, int(time.time() * 1e6), now)

    def _housekeeping(self, now: float) -> None:
        if self.buf.rows:
            if self._pending_since is None:
                self._pending_since = now
            if (self.buf.rows >= self.take_rows or now - self._pending_since >= self.take_seconds
                    or self.writer.due(now)):
                self._take(now)
        if self.writer.due(now):
            self.counters.rows_written += self.writer.flush()
            self.counters.files_written = self.writer.files
        if now - self._last_expire > 60:
            self._last_expire = now
            n = self.cache.expire_held(time.monotonic())
            if n:  # n data sets: counted in the same unit as `held` and the shutdown drop
                self.counters.held_expired += n
                self.counters.reject("held data expired without its template", None, n)

    def serve(self, max_seconds: float | None = None) -> Counters:
        """Run until `request_stop()` (or `max_seconds`), then drain, flush and write the counters."""
        t_end = None if max_seconds is None else time.monotonic() + max_seconds
        sock = self.sock
        while not self._stop:
            got = self._drain()
            now = time.monotonic()
            self._housekeeping(now)
            if t_end is not None and now >= t_end:
                break
            if got == 0:
                select.select([sock], [], [], 0.2)
            elif got < 64:
                time.sleep(self.nap_s)  # light traffic: let a burst gather instead of waking per datagram
        return self.close()

    def close(self) -> Counters:
        self._drain(None)  # what the kernel already queued belongs to this run
        self.sock.close()
        self._take(time.monotonic())
        c = self.counters
        c.rows_written += self.writer.flush()
        c.files_written = self.writer.files
        dropped = self.cache.drain_held()
        if dropped:
            c.held_dropped_at_shutdown += dropped
            c.reject("held data without template at shutdown", None, dropped)
        stats = self.out / "_stats"
        stats.mkdir(parents=True, exist_ok=True)
        name = f"collector-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.json"
        (stats / name).write_text(json.dumps({**c.as_dict(), "socket_rcvbuf": self.rcvbuf}, indent=1))
        return c


def read_partitions(path: str | Path, rejects: Rejects) -> tuple[pa.Table, InputError | None]:
    """Every Parquet file of a `minewatch collect --out` folder as one NETFLOW_SCHEMA table.

    Why file by file and not `pyarrow.dataset(...).to_table()`: the dataset reads the first file for the
    schema and stops at the first damaged one, so one cut or foreign file (a disk filled mid-flush
    before files were renamed into place, a file copied in by hand) lost the whole folder in a
    traceback. Here a file that cannot be read is named and skipped; a file whose columns cannot be the
    collector's (a column of another type, a value out of its column's range) costs its rows, counted
    under its name; a column a file lacks is null (unknown), as for Parquet written before it existed.
    Returns the table and the error of the first unreadable file (None: all read), to be raised after
    the table was used, as the line readers do with a file cut short.
    """
    from minewatch.sources.netflow import NETFLOW_SCHEMA

    root = Path(path)
    tables: list[pa.Table] = []
    damage: InputError | None = None
    files = [root] if root.is_file() else sorted(f for f in root.rglob("*.parquet")
                                                  if f.is_file() and not f.name.startswith("."))
    for f in files:
        try:
            t = pq.read_table(f, partitioning=None)
        except (pa.ArrowException, OSError) as e:
            rejects.add("records of an unreadable Parquet file", str(f), _footer_rows(f))
            damage = damage or InputError(f"unreadable Parquet file ({str(e).splitlines()[0] if str(e) else e!r})",
                                          path=str(f))
            continue
        cols = []
        try:
            for fld in NETFLOW_SCHEMA:
                if fld.name in t.column_names:
                    cols.append(t.column(fld.name).cast(fld.type))
                else:
                    cols.append(pa.chunked_array([pa.nulls(t.num_rows, fld.type)]))
        except (pa.ArrowException, ValueError):
            rejects.add(f"Parquet column {fld.name} cannot be {fld.type}: the file's records", str(f), t.num_rows)
            continue
        tables.append(_null_unrepresentable(pa.Table.from_arrays(cols, schema=NETFLOW_SCHEMA), rejects))
    if not tables:
        return NETFLOW_SCHEMA.empty_table(), damage
    return pa.concat_tables(tables), damage


def _footer_rows(f: Path) -> int:
    """The rows a damaged file's footer still names (1 when even the footer is gone: the file)."""
    try:
        return max(1, pq.read_metadata(f).num_rows)
    except (pa.ArrowException, OSError):
        return 1


def _null_unrepresentable(t: pa.Table, rejects: Rejects) -> pa.Table:
    """Start and end times outside 1970..9999 set to null and counted, before a duration is made of
    them: a damaged file's year-146000 end gave a span float64 cannot hold (and a wrapped subtraction)."""
    from minewatch.sources.zeek import TIME_MAX_US, TIME_MIN_US

    for name in ("start", "end"):
        col = t.column(name)
        us = pc.cast(col, pa.int64())
        bad = pc.fill_null(pc.or_(pc.less(us, TIME_MIN_US), pc.greater(us, TIME_MAX_US)), False)
        n = pc.sum(bad).as_py() or 0
        if n:
            rejects.add(f"{name} out of range (before 1970 or after 9999): set to null", None, n)
            t = t.set_column(t.schema.get_field_index(name), name, pc.if_else(bad, pa.scalar(None, col.type), col))
    return t
