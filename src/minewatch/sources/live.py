"""Live packets from a network interface, as the same `PacketBatch`es the capture-file reader yields.

Why dumpcap and not a raw socket of our own: Debian's `dumpcap` (package tshark) already does the
privileged part well — it compiles libpcap filter syntax into a kernel BPF program, sizes the kernel
ring buffer, counts drops, and can run with file capabilities instead of as root. It writes a classic
pcap stream to its stdout; we parse that stream incrementally, so the flow engine and every detector
see exactly what they see when scanning a file.

Why a streaming parser here rather than `CaptureReader`: the reader pulls fixed chunks from a file and
treats a short read as end of file; a pipe delivers a few hundred bytes at a time, cut anywhere. The
record walker itself (`minewatch.sources.pcap._walk_pcap`, compiled) is reused unchanged.

Why batch by count *or* time: the engine has a per-batch cost, so at high rates packets are handed
over in large batches; on a quiet link a single mining share must still reach the detectors within
about half a second, so a batch is also cut when its oldest packet has waited `batch_seconds`.
When nothing arrives at all the source yields `None` ("tick"), so the caller can expire idle flows
and write their findings even on a silent link.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import shutil
import struct
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from minewatch.errors import InputError, MinewatchError, Rejects
from minewatch.i18n import tr
from minewatch.sources.pcap import (
    HARD_MAX_CAPLEN,
    PCAP_MAGIC_NS,
    PCAP_MAGIC_US,
    PCAPNG_SHB,
    STANDARD_MAX_CAPLEN,
    PacketBatch,
    _walk_pcap,
)

#: Cut a batch when this many packets are waiting ...
BATCH_PACKETS = 8192
#: ... or when the oldest waiting packet has waited this long (seconds of wall time).
BATCH_SECONDS = 0.5
#: With no packets at all, yield a tick this often so idle flows still expire.
TICK_SECONDS = 1.0
#: Bytes read from the pipe per system call.
READ_BYTES = 1 << 20


class CaptureToolError(MinewatchError):
    """The capture program could not start or stopped with an error (no such interface, bad filter,
    missing privileges); the message carries what the tool said."""


# ------------------------------------------------------------------------------------------ parser
class PcapStream:
    """Incremental parser of a classic pcap byte stream (either byte order, µs or ns timestamps).

    `feed(data)` takes bytes cut at arbitrary positions and returns one `PacketBatch` of every record
    completed so far (or None). Each batch owns its bytes, so it stays valid after later feeds.
    A record with an impossible length means the stream lost its framing; there is no way to find the
    next record boundary in pcap, so the parser records an `InputError` (stream name and byte offset)
    in `errors`, counts the rejected bytes, and ignores the rest (`broken` becomes True).
    `on_records(header, records)` if given receives the file header and every run of whole records,
    in order: a tee to disk that never splits a record.
    """

    def __init__(self, name: str = "-", on_records: Callable[[bytes, bytes], None] | None = None) -> None:
        self.name = name
        self.on_records = on_records
        self.header: bytes | None = None
        self.linktype = -1
        self.packets = 0
        self.bytes = 0  # stream bytes consumed (header + whole records)
        self.errors: list[InputError] = []
        self.rejects = Rejects()
        self.broken = False
        self._big = False
        self._frac_scale = 1e-6
        self._max_caplen = STANDARD_MAX_CAPLEN
        self._carry = b""
        self._base = 0  # stream offset of self._carry[0]

    @property
    def pending_bytes(self) -> int:
        """Bytes of an incomplete record (or header) held until more data comes."""
        return len(self._carry)

    def _fail(self, message: str, offset: int, reason: str) -> None:
        self.errors.append(InputError(message, path=self.name, offset=offset))
        self.rejects.add(reason, f"{self.name}@{offset}")
        self.broken = True
        self._carry = b""

    def _parse_header(self, buf: bytes) -> None:
        magic_le = struct.unpack_from("<I", buf, 0)[0]
        magic_be = struct.unpack_from(">I", buf, 0)[0]
        if magic_le == PCAPNG_SHB:
            raise InputError(
                "this is a pcapng stream; the live reader expects classic pcap (run dumpcap with -P)",
                path=self.name, offset=0,
            )  # fmt: skip
        if magic_le in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
            self._big, magic = False, magic_le
        elif magic_be in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
            self._big, magic = True, magic_be
        else:
            raise InputError(f"not a pcap stream (magic 0x{magic_be:08x})", path=self.name, offset=0)
        e = ">" if self._big else "<"
        snaplen, network = struct.unpack_from(e + "II", buf, 16)
        self._frac_scale = 1e-9 if magic == PCAP_MAGIC_NS else 1e-6
        self.linktype = network & 0xFFFF
        self._max_caplen = max(STANDARD_MAX_CAPLEN, min(snaplen, HARD_MAX_CAPLEN))
        self.header = bytes(buf[:24])

    def feed(self, data: bytes) -> PacketBatch | None:
        if self.broken:
            if data:
                self.rejects.counts["bytes after a broken record"] += len(data)
            return None
        buf = self._carry + data if self._carry else bytes(data)
        base = self._base
        start = 0
        if self.header is None:
            if len(buf) < 24:
                self._carry = buf
                return None
            self._parse_header(buf)  # InputError: nothing usable was ever read, the caller stops
            start = 24
            self.bytes += 24
        arr = np.frombuffer(buf, dtype=np.uint8)
        room = max(1, (len(buf) - start) // 16)
        o_off = np.empty(room, np.int64)
        o_cap = np.empty(room, np.int64)
        o_orig = np.empty(room, np.int64)
        o_sec = np.empty(room, np.int64)
        o_frac = np.empty(room, np.int64)
        k, pos, status = _walk_pcap(arr, start, self._big, self._max_caplen, o_off, o_cap, o_orig, o_sec, o_frac)
        if status == 2:  # absurd length: framing is lost
            cap = struct.unpack_from(">I" if self._big else "<I", buf, pos + 8)[0]
            bad_at = self._base + pos
            rest = len(buf) - pos
            if k and self.on_records is not None and self.header is not None:
                self.on_records(self.header, buf[start:pos])
            self.bytes += pos - start
            self._fail(
                f"record header claims {cap} captured bytes (max {self._max_caplen}); the stream lost its "
                f"framing after {self.packets + k} packets",
                bad_at, "absurd record length",
            )  # fmt: skip
            self.rejects.counts["bytes after a broken record"] += rest
        else:
            if k and self.on_records is not None and self.header is not None:
                self.on_records(self.header, buf[start:pos])
            self.bytes += pos - start
            self._carry = buf[pos:]
            self._base += pos
        if not k:
            return None
        self.packets += k
        ts = o_sec[:k] + o_frac[:k] * self._frac_scale
        return PacketBatch(
            buf, arr, o_off[:k].copy(), o_cap[:k].copy(), o_orig[:k].copy(), ts,
            np.full(k, self.linktype, np.int32), base,
        )  # fmt: skip

    def close(self) -> None:
        """End of stream: a partial record left over is a truncated tail, counted and reported."""
        if self._carry and not self.broken:
            what = "pcap header" if self.header is None else "pcap record"
            self.errors.append(
                InputError(f"stream ended inside a {what} ({len(self._carry)} bytes)", path=self.name,
                           offset=self._base)
            )
            self.rejects.add("truncated record", f"{self.name}@{self._base}")
        self._carry = b""


def merge_batches(batches: Sequence[PacketBatch]) -> PacketBatch:
    """One batch out of several consecutive ones: the engine's cost is per batch, not per packet."""
    if len(batches) == 1:
        return batches[0]
    raws = [b.raw for b in batches]
    shifts = np.cumsum([0] + [len(r) for r in raws[:-1]])
    raw = b"".join(raws)
    return PacketBatch(
        raw,
        np.frombuffer(raw, dtype=np.uint8),
        np.concatenate([b.data_off + s for b, s in zip(batches, shifts, strict=True)]),
        np.concatenate([b.caplen for b in batches]),
        np.concatenate([b.origlen for b in batches]),
        np.concatenate([b.ts for b in batches]),
        np.concatenate([b.linktype for b in batches]),
        batches[0].base_offset,
    )


# ------------------------------------------------------------------------------------------ rotation
class RotatingPcapWriter:
    """The raw capture in pcap files of about `max_bytes` each under `directory`; only the newest `keep`
    files are kept, so disk use is bounded (about keep x max_bytes) however long the watch runs.

    Files are cut between records and each starts with the stream's own pcap header, so every file is
    a complete capture that `minewatch scan`, Wireshark or tcpdump can open on its own.
    """

    def __init__(self, directory: str | Path, max_bytes: int, keep: int = 10, prefix: str = "live") -> None:
        if max_bytes < 4096:
            raise ValueError("rotation size must be at least 4 KiB")
        if keep < 1:
            raise ValueError("keep at least one file")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = int(max_bytes)
        self.keep = keep
        self.prefix = re.sub(r"[^A-Za-z0-9_.-]", "_", prefix)
        self.files: deque[Path] = deque()
        self.rotations = 0
        self._fh: object | None = None
        self._size = 0
        self._seq = 0

    @property
    def current(self) -> Path | None:
        return self.files[-1] if self.files else None

    def _open_next(self, header: bytes) -> None:
        self._close_current()
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self._seq += 1
        path = self.directory / f"{self.prefix}-{stamp}-{self._seq:05d}.pcap"
        fh = open(path, "wb")  # noqa: SIM115 - closed on rotation or close()
        fh.write(header)
        self._fh = fh
        self._size = len(header)
        self.files.append(path)
        if len(self.files) > 1:
            self.rotations += 1
        while len(self.files) > self.keep:
            old = self.files.popleft()
            with contextlib.suppress(OSError):
                old.unlink()

    def _close_current(self) -> None:
        if self._fh is not None:
            self._fh.close()  # type: ignore[attr-defined]
            self._fh = None

    def __call__(self, header: bytes, records: bytes) -> None:
        if not records:
            return
        if self._fh is None or (self._size + len(records) > self.max_bytes and self._size > len(header)):
            self._open_next(header)
        self._fh.write(records)  # type: ignore[attr-defined]
        self._size += len(records)

    def flush(self) -> None:
        if self._fh is not None:
            self._fh.flush()  # type: ignore[attr-defined]

    def close(self) -> None:
        self._close_current()


# ------------------------------------------------------------------------------------------ source
def dumpcap_command(
    interface: str, bpf: str | None = None, *, snaplen: int | None = None, buffer_mb: int | None = None,
    dumpcap: str = "dumpcap",
) -> list[str]:
    """dumpcap writing classic pcap to stdout (`-P`), quiet (`-q`), flushed per packet to the pipe."""
    cmd = [dumpcap, "-q", "-i", interface, "-P", "-w", "-"]
    if bpf:
        cmd += ["-f", bpf]
    if snaplen:
        cmd += ["-s", str(int(snaplen))]
    if buffer_mb:
        cmd += ["-B", str(int(buffer_mb))]
    return cmd


_DROPS = re.compile(r"received/dropped on interface '[^']*':\s*(\d+)/(\d+)")


class LiveCapture:
    """Iterate `PacketBatch | None` from a capture program's pcap stdout (None = tick, nothing new).

    `command` defaults to dumpcap on `interface` with `bpf`; any program that writes a pcap stream to
    stdout works (tests use `cat` on a file). `stop()` (from a signal handler or another thread) ends
    the iteration after the packets already read are handed over; the capture program is terminated.
    """

    def __init__(
        self,
        interface: str,
        bpf: str | None = None,
        *,
        command: Sequence[str] | None = None,
        batch_packets: int = BATCH_PACKETS,
        batch_seconds: float = BATCH_SECONDS,
        tick_seconds: float = TICK_SECONDS,
        tee: RotatingPcapWriter | None = None,
        snaplen: int | None = None,
        buffer_mb: int | None = None,
    ) -> None:
        self.interface = interface
        self.bpf = bpf
        if command is None:
            exe = shutil.which("dumpcap")
            if exe is None:
                raise CaptureToolError(tr(
                    "dumpcap is not installed (Debian/Ubuntu: apt install tshark); it does the live capture",
                    "未安装 dumpcap（Debian/Ubuntu：apt install tshark），实时抓包需要它",
                ))
            command = dumpcap_command(interface, bpf, snaplen=snaplen, buffer_mb=buffer_mb, dumpcap=exe)
        self.command = list(command)
        self.batch_packets = batch_packets
        self.batch_seconds = batch_seconds
        self.tick_seconds = tick_seconds
        self.tee = tee
        self.parser = PcapStream(f"live:{interface}", on_records=tee)
        self.proc: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None
        self.dropped: int | None = None  # packets the kernel/dumpcap dropped, when the tool said so
        self.received: int | None = None
        self._stderr: deque[str] = deque(maxlen=50)
        self._stop = threading.Event()
        self._err_thread: threading.Thread | None = None

    # -- control --------------------------------------------------------------------------------
    def start(self) -> None:
        try:
            self.proc = subprocess.Popen(
                self.command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                start_new_session=True,  # Ctrl-C reaches us only; we stop the tool after flushing
            )  # fmt: skip
        except OSError as e:
            raise CaptureToolError(tr(f"cannot start {self.command[0]}: {e.strerror}",
                                      f"无法启动 {self.command[0]}：{e.strerror}")) from e
        self._err_thread = threading.Thread(target=self._drain_stderr, name="capture-stderr", daemon=True)
        self._err_thread.start()

    def stop(self) -> None:
        """Ask the capture to end; safe from a signal handler."""
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def tool_messages(self) -> list[str]:
        return list(self._stderr)

    def _drain_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").strip()
            if not line:
                continue
            self._stderr.append(line)
            m = _DROPS.search(line)
            if m:
                self.received, self.dropped = int(m.group(1)), int(m.group(2))

    def _terminate(self, grace_s: float = 0.0) -> None:
        """End the capture program. `grace_s`: after end of stream, a program that closed its output
        is usually about to exit by itself; give it that moment so its own exit status (not our
        SIGTERM) is what we report."""
        p = self.proc
        if p is None:
            return
        if grace_s > 0 and p.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=grace_s)
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                p.terminate()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.returncode = p.returncode
        if self._err_thread is not None:
            self._err_thread.join(timeout=2)
        if p.stdout is not None:
            p.stdout.close()
        if self.tee is not None:
            self.tee.close()

    # -- reading --------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[PacketBatch | None]:
        if self.proc is None:
            self.start()
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        pending: list[PacketBatch] = []
        n_pending = 0
        first_wait = 0.0
        last_yield = time.monotonic()
        eof = False
        stop_sent = 0.0
        try:
            while not eof:
                if self._stop.is_set():
                    # Let the tool flush what it holds: terminate it and read on to end of stream.
                    if not stop_sent:
                        stop_sent = time.monotonic()
                        if self.proc.poll() is None:
                            with contextlib.suppress(ProcessLookupError):
                                self.proc.terminate()
                    elif time.monotonic() - stop_sent > 3.0:
                        break
                now = time.monotonic()
                if pending:
                    wait = max(0.0, first_wait + self.batch_seconds - now)
                else:
                    wait = max(0.0, last_yield + self.tick_seconds - now)
                ready, _, _ = select.select([fd], [], [], min(wait, 0.25))
                if ready:
                    data = os.read(fd, READ_BYTES)
                    if not data:
                        eof = True
                    else:
                        try:
                            b = self.parser.feed(data)
                        except InputError as e:
                            raise CaptureToolError(tr(f"{self.command[0]} did not write a pcap stream: {e}",
                                                      f"{self.command[0]} 输出的不是 pcap 数据流：{e}")) from e
                        if b is not None:
                            if not pending:
                                first_wait = time.monotonic()
                            pending.append(b)
                            n_pending += len(b)
                        if self.parser.broken:
                            eof = True
                now = time.monotonic()
                if pending and (n_pending >= self.batch_packets or now - first_wait >= self.batch_seconds or eof):
                    yield merge_batches(pending)
                    pending, n_pending = [], 0
                    last_yield = time.monotonic()
                elif not pending and now - last_yield >= self.tick_seconds and not stop_sent:
                    yield None
                    last_yield = time.monotonic()
            if pending:
                yield merge_batches(pending)
        finally:
            self._terminate(grace_s=2.0 if eof and not self._stop.is_set() else 0.0)
            if not self.parser.broken:
                self.parser.close()
        if eof and not self._stop.is_set() and self.returncode not in (0, None) and self.parser.packets == 0:
            said = "; ".join(self.tool_messages()[-5:]) or f"exit status {self.returncode}"
            raise CaptureToolError(tr(f"capture on {self.interface} failed: {said}",
                                      f"在 {self.interface} 上抓包失败：{said}"))
