"""Streaming reader for pcap and pcapng captures, plain or gzip-compressed.

Why batches and numba: a multi-GB capture has tens of millions of records, and a Python loop over
them costs more than the whole scan is allowed to. The file is read in fixed-size chunks; a compiled
walker finds the record boundaries of one chunk at a time and fills flat arrays (offset, lengths,
timestamp, link type), so Python touches each chunk, never each packet. Memory stays flat: only the
current chunk (plus a partial record carried over) is held.

Bad input policy: what cannot be read is an `InputError` naming the file and the byte offset. A
problem in the header stops `open_capture`; a problem later (truncated tail, absurd length, broken
gzip stream) ends reading at that point, is appended to `reader.errors` and tallied in
`reader.rejects`, and every packet before it has already been delivered. Offsets inside gzip files
are offsets in the decompressed stream, and the messages say so ("byte N of the decompressed
stream"): a gzip member has no record boundaries to point at, and a decompressed offset can lie far
past the end of the file on disk.
"""

from __future__ import annotations

import gzip
import math
import queue
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from numba import njit

from minewatch.errors import InputError, Rejects

PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_BOM = 0x1A2B3C4D

#: Bytes read per chunk. Large enough that per-chunk Python overhead vanishes, small enough to stay flat.
CHUNK_BYTES = 8 * 1024 * 1024
GZIP_PIECE = 256 * 1024
#: Most packets handed over in one batch.
BATCH_PACKETS = 1 << 17
#: A record longer than this is taken as corruption, not as a packet (Wireshark's standard maximum
#: is 256 KiB; some link types allow more, so the file's own snaplen may raise it up to 64 MiB).
STANDARD_MAX_CAPLEN = 262144
HARD_MAX_CAPLEN = 64 * 1024 * 1024

_ST_OK = 0  # output arrays full, more may follow in this chunk
_ST_NEED = 1  # the chunk ends inside a record
_ST_BAD = 2  # absurd or inconsistent length
_ST_SHB = 3  # pcapng: a section header block, Python handles it
_ST_IDB = 4  # pcapng: an interface description block, Python handles it


class DecompressedInputError(InputError):
    """An `InputError` in a gzip-compressed capture: `offset` counts bytes of the decompressed stream.

    Why its own wording: "file.pcap.gz, byte 2590" on a 796-byte file reads as nonsense; the message
    names the stream the offset belongs to, and where known how far the compressed file was read.
    """

    def __init__(
        self, message: str, *, path: str | None = None, offset: int | None = None, compressed_at: int | None = None
    ) -> None:
        self.compressed_at = compressed_at
        super().__init__(message, path=path, offset=offset)

    def __str__(self) -> str:
        where = [str(self.path)] if self.path else []
        if self.offset is not None:
            at = f"byte {self.offset} of the decompressed stream"
            if self.compressed_at is not None:
                at += f" (compressed file read up to byte {self.compressed_at})"
            where.append(at)
        return f"{', '.join(where)}: {self.message}" if where else self.message


class _ReadAhead:
    """Reads the next chunks of a plain (uncompressed) capture in a thread while the scan works on
    the current one.

    Why: the scan is single-threaded Python, and the file read (a disk read, or at least a copy out
    of the page cache) stood still while packets were dissected. `read()` lets go of the GIL, so on
    a second core the next chunk is usually there when it is asked for. At most `depth` chunks wait
    (bounded memory); an error while reading is handed over and raised where the read was asked for,
    so the bad-input policy is the same as without the thread.
    """

    def __init__(self, fh: BinaryIO, piece: int, depth: int = 2) -> None:
        self._q: queue.Queue[bytes | BaseException] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(fh, piece), name="capture-read-ahead",
                                        daemon=True)
        self._thread.start()

    def _run(self, fh: BinaryIO, piece: int) -> None:
        try:
            while not self._stop.is_set():
                data = fh.read(piece)
                if not self._put(data) or not data:
                    return
        except BaseException as e:  # handed to the reading thread, raised there
            self._put(e)

    def _put(self, item: bytes | BaseException) -> bool:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def read(self) -> bytes:
        """The next chunk (b"" at end of file); raises what reading it raised."""
        item = self._q.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


@dataclass(slots=True)
class PacketBatch:
    """Up to BATCH_PACKETS records of one chunk. Valid only until the reader yields the next batch.

    `buf` is the chunk as uint8 (zero-copy view of `raw`); packet i's captured bytes are
    `buf[data_off[i] : data_off[i] + caplen[i]]`. `ts` is seconds since the epoch (float64, NaN when
    the format has no timestamp, e.g. pcapng simple packet blocks). `base_offset` is the (decompressed)
    file offset of `buf[0]`.
    """

    raw: bytes
    buf: np.ndarray
    data_off: np.ndarray
    caplen: np.ndarray
    origlen: np.ndarray
    ts: np.ndarray
    linktype: np.ndarray
    base_offset: int

    def __len__(self) -> int:
        return int(self.data_off.shape[0])


@njit(cache=True, inline="always")
def _u32(buf: np.ndarray, p: int, big: bool) -> int:
    b0 = np.uint32(buf[p])
    b1 = np.uint32(buf[p + 1])
    b2 = np.uint32(buf[p + 2])
    b3 = np.uint32(buf[p + 3])
    if big:
        return np.int64((b0 << 24) | (b1 << 16) | (b2 << 8) | b3)
    return np.int64((b3 << 24) | (b2 << 16) | (b1 << 8) | b0)


@njit(cache=True, inline="always")
def _u16(buf: np.ndarray, p: int, big: bool) -> int:
    if big:
        return (np.int64(buf[p]) << 8) | np.int64(buf[p + 1])
    return (np.int64(buf[p + 1]) << 8) | np.int64(buf[p])


@njit(cache=True)
def _walk_pcap(
    buf: np.ndarray,
    pos: int,
    big: bool,
    max_caplen: int,
    o_off: np.ndarray,
    o_cap: np.ndarray,
    o_orig: np.ndarray,
    o_sec: np.ndarray,
    o_frac: np.ndarray,
) -> tuple[int, int, int]:
    n = buf.shape[0]
    k = 0
    maxk = o_off.shape[0]
    status = _ST_OK
    while k < maxk:
        if pos + 16 > n:
            status = _ST_NEED
            break
        cap = _u32(buf, pos + 8, big)
        if cap > max_caplen:
            status = _ST_BAD
            break
        if pos + 16 + cap > n:
            status = _ST_NEED
            break
        o_sec[k] = _u32(buf, pos, big)
        o_frac[k] = _u32(buf, pos + 4, big)
        o_cap[k] = cap
        o_orig[k] = _u32(buf, pos + 12, big)
        o_off[k] = pos + 16
        pos += 16 + cap
        k += 1
    return k, pos, status


@njit(cache=True)
def _walk_pcapng(
    buf: np.ndarray,
    pos: int,
    big: bool,
    max_block: int,
    o_off: np.ndarray,
    o_cap: np.ndarray,
    o_orig: np.ndarray,
    o_if: np.ndarray,
    o_tsraw: np.ndarray,
) -> tuple[int, int, int]:
    n = buf.shape[0]
    k = 0
    maxk = o_off.shape[0]
    status = _ST_OK
    while k < maxk:
        if pos + 8 > n:
            status = _ST_NEED
            break
        btype = _u32(buf, pos, big)
        if btype == PCAPNG_SHB:
            status = _ST_SHB
            break
        blen = _u32(buf, pos + 4, big)
        if blen < 12 or blen % 4 != 0 or blen > max_block:
            status = _ST_BAD
            break
        if pos + blen > n:
            status = _ST_NEED
            break
        if _u32(buf, pos + blen - 4, big) != blen:
            status = _ST_BAD
            break
        if btype == 1:
            status = _ST_IDB
            break
        if btype == 6 or btype == 2:  # enhanced / obsolete packet block
            if blen < 32:
                status = _ST_BAD
                break
            if btype == 6:
                iface = _u32(buf, pos + 8, big)
            else:
                iface = _u16(buf, pos + 8, big)
            cap = _u32(buf, pos + 20, big)
            if 28 + cap + 4 > blen:
                status = _ST_BAD
                break
            o_if[k] = iface
            o_tsraw[k] = np.uint64(np.uint64(_u32(buf, pos + 12, big)) << np.uint64(32)) | np.uint64(
                _u32(buf, pos + 16, big)
            )
            o_cap[k] = cap
            o_orig[k] = _u32(buf, pos + 24, big)
            o_off[k] = pos + 28
            k += 1
        elif btype == 3:  # simple packet block: no timestamp, interface 0
            orig = _u32(buf, pos + 8, big)
            cap = min(orig, blen - 16)
            o_if[k] = 0
            o_tsraw[k] = np.uint64(0xFFFFFFFFFFFFFFFF)
            o_cap[k] = cap
            o_orig[k] = orig
            o_off[k] = pos + 12
            k += 1
        pos += blen
    return k, pos, status


@dataclass(slots=True)
class _Iface:
    linktype: int
    units_per_s: float
    offset_s: int


def _parse_idb(block: bytes, big: bool) -> _Iface:
    """Link type, timestamp resolution (if_tsresol, default microseconds) and if_tsoffset."""
    e = ">" if big else "<"
    linktype = struct.unpack_from(e + "H", block, 8)[0]
    units = 1e6
    offset = 0
    p = 16
    end = len(block) - 4
    while p + 4 <= end:
        code, olen = struct.unpack_from(e + "HH", block, p)
        p += 4
        if code == 0:
            break
        val = block[p : p + olen]
        if code == 9 and olen >= 1:
            v = val[0]
            units = float(2 ** (v & 0x7F)) if v & 0x80 else float(10 ** (v & 0x7F))
        elif code == 14 and olen == 8:
            offset = struct.unpack(e + "q", val)[0]
        p += (olen + 3) & ~3
    return _Iface(linktype, units, offset)


class CaptureReader:
    """Iterate `PacketBatch`es of a capture; `bytes_read()` gives progress in bytes of the file on disk."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        p = Path(path)
        try:
            self.size_bytes = p.stat().st_size
        except OSError as e:
            raise InputError(f"cannot open capture: {e.strerror}", path=self.path) from e
        self.errors: list[InputError] = []
        self.rejects = Rejects()
        self.packets = 0
        self.format = ""
        self.compressed = False
        self._consumed = 0
        self._raw_fh: BinaryIO = open(p, "rb")  # noqa: SIM115 - closed in close()/__del__
        head = self._raw_fh.read(4)
        if len(head) == 0:
            self.close()
            raise InputError("empty file: not a capture", path=self.path, offset=0)
        self._raw_fh.seek(0)
        if head[:2] == b"\x1f\x8b":
            self.compressed = True
            self._fh: BinaryIO = gzip.GzipFile(fileobj=self._raw_fh, mode="rb")
        else:
            self._fh = self._raw_fh
        self._pos = 0  # decompressed offset of self._data[0]
        self._data = b""
        self._ahead: _ReadAhead | None = None  #: started when the packets are iterated (plain files)
        self._eof = False
        self._broken = False
        try:
            self._read_header()
        except BaseException:
            self.close()
            raise

    # -- low-level reading ----------------------------------------------------------------------
    def _read_more(self, want: int) -> bool:
        """Append at least `want` bytes (or until EOF) to the carried-over data; False at EOF."""
        if self._eof:
            return False
        parts = [self._data]
        got = 0
        if self.compressed:
            want = max(want, CHUNK_BYTES)
        while got < want:
            try:
                if self.compressed:
                    # small reads: a broken stream then loses at most one piece, not a whole chunk
                    piece = self._fh.read1(GZIP_PIECE)  # type: ignore[attr-defined]
                elif self._ahead is not None:
                    piece = self._ahead.read()
                else:
                    piece = self._fh.read(max(want - got, CHUNK_BYTES))
            except (EOFError, OSError, zlib.error) as e:
                self._eof = True
                self._broken = True
                off = self._pos + len(self._data) + got
                self._fail(
                    f"compressed stream is broken or truncated ({e})", off, "broken gzip stream", stream_broke=True
                )
                break
            if not piece:
                self._eof = True
                break
            parts.append(piece)
            got += len(piece)
        self._data = b"".join(parts)
        return got > 0

    def _error(self, message: str, offset: int | None, stream_broke: bool = False) -> InputError:
        """An `InputError` at `offset`, worded for the decompressed stream when the file is gzip.

        When the gzip stream itself broke, how far the compressed file had been read is added: that
        is where the damage is on disk (give or take the decompressor's read-ahead).
        """
        if not self.compressed:
            return InputError(message, path=self.path, offset=offset)
        at: int | None = None
        if stream_broke:
            try:
                at = self._raw_fh.tell()
            except (OSError, ValueError):
                at = None
        return DecompressedInputError(message, path=self.path, offset=offset, compressed_at=at)

    def _where(self, offset: int | None) -> str:
        """Position of a rejected record for the summary's examples."""
        return f"{self.path}@{offset}" + (" (decompressed)" if self.compressed else "")

    def _fail(self, message: str, offset: int, reason: str, stream_broke: bool = False) -> None:
        self.errors.append(self._error(message, offset, stream_broke))
        self.rejects.add(reason, self._where(offset))

    def _need(self, n: int, what: str) -> None:
        while len(self._data) < n and self._read_more(n - len(self._data)):
            pass
        if len(self._data) < n:
            if self.errors:
                raise self.errors[-1]
            raise self._error(
                f"truncated {what}: need {n} bytes, file has {len(self._data)}", self._pos + len(self._data)
            )

    def _read_header(self) -> None:
        self._need(4, "capture header")
        magic_le = struct.unpack_from("<I", self._data, 0)[0]
        magic_be = struct.unpack_from(">I", self._data, 0)[0]
        if magic_le == PCAPNG_SHB:
            self.format = "pcapng"
            self._ifaces: list[_Iface] = []
            self._big = False
            self._start = 0
            self._parse_shb(0)
            return
        if magic_le in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
            self._big = False
            magic = magic_le
        elif magic_be in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
            self._big = True
            magic = magic_be
        else:
            raise self._error(f"not a pcap/pcapng capture (magic 0x{magic_be:08x})", 0)
        self._need(24, "pcap file header")
        e = ">" if self._big else "<"
        _vmaj, _vmin, _zone, _sig, snaplen, network = struct.unpack_from(e + "HHiIII", self._data, 4)
        self.format = "pcap-ns" if magic == PCAP_MAGIC_NS else "pcap"
        self._frac_scale = 1e-9 if magic == PCAP_MAGIC_NS else 1e-6
        # The top bits of the link-type field carry FCS information (LINKTYPE_FCS); the type is 16 bits.
        self.linktype = network & 0xFFFF
        self._max_caplen = max(STANDARD_MAX_CAPLEN, min(snaplen, HARD_MAX_CAPLEN))
        self._start = 24

    def _parse_shb(self, at: int) -> int:
        """Parse a section header at `at` in self._data; return its length. Resets the interfaces."""
        self._need(at + 12, "pcapng section header")
        bom = self._data[at + 8 : at + 12]
        if bom == b"\x4d\x3c\x2b\x1a":
            self._big = False
        elif bom == b"\x1a\x2b\x3c\x4d":
            self._big = True
        else:
            raise self._error("pcapng section header has no valid byte-order magic", self._pos + at + 8)
        blen = struct.unpack_from(">I" if self._big else "<I", self._data, at + 4)[0]
        if blen < 28 or blen % 4 or blen > HARD_MAX_CAPLEN:
            raise self._error(
                f"pcapng section header has impossible length {blen}", self._pos + at + 4
            )
        self._need(at + blen, "pcapng section header")
        self._ifaces = []
        return blen

    # -- public ---------------------------------------------------------------------------------
    def bytes_read(self) -> int:
        """Bytes of the file on disk consumed so far (compressed bytes for gzip): for a progress bar."""
        if self.compressed:
            try:
                return min(self.size_bytes, self._raw_fh.tell())
            except (OSError, ValueError):
                return self.size_bytes if self._eof else 0
        return self._consumed

    def close(self) -> None:
        ahead = getattr(self, "_ahead", None)
        if ahead is not None:
            self._ahead = None
            ahead.close()
        fh = getattr(self, "_fh", None)
        if fh is not None and fh is not self._raw_fh:
            fh.close()
        self._raw_fh.close()

    def __enter__(self) -> CaptureReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[PacketBatch]:
        try:
            if not self.compressed and not self._eof and self._ahead is None:
                self._ahead = _ReadAhead(self._fh, CHUNK_BYTES)
            if self.format == "pcapng":
                yield from self._iter_pcapng()
            else:
                yield from self._iter_pcap()
        finally:
            self._consumed = self.size_bytes
            self.close()

    def _drop_consumed(self, pos: int) -> None:
        self._data = self._data[pos:]
        self._pos += pos
        if not self.compressed:
            self._consumed = self._pos

    def _tail_error(self, what: str) -> None:
        if self._data and not self._broken:
            self._fail(
                f"truncated {what}: {len(self._data)} bytes at end of file, record incomplete "
                f"(read {self.packets} packets before it)",
                self._pos,
                "truncated record",
            )

    def _iter_pcap(self) -> Iterator[PacketBatch]:
        pos = self._start
        big = self._big
        lt = self.linktype
        o_off = np.empty(BATCH_PACKETS, np.int64)
        o_cap = np.empty(BATCH_PACKETS, np.int64)
        o_orig = np.empty(BATCH_PACKETS, np.int64)
        o_sec = np.empty(BATCH_PACKETS, np.int64)
        o_frac = np.empty(BATCH_PACKETS, np.int64)
        while True:
            buf = np.frombuffer(self._data, dtype=np.uint8)
            k, pos, status = _walk_pcap(buf, pos, big, self._max_caplen, o_off, o_cap, o_orig, o_sec, o_frac)
            if k:
                self.packets += k
                ts = o_sec[:k] + o_frac[:k] * self._frac_scale
                yield PacketBatch(
                    self._data,
                    buf,
                    o_off[:k].copy(),
                    o_cap[:k].copy(),
                    o_orig[:k].copy(),
                    ts,
                    np.full(k, lt, np.int32),
                    self._pos,
                )
            if status == _ST_OK:
                continue
            if status == _ST_BAD:
                cap = struct.unpack_from(">I" if big else "<I", self._data, pos + 8)[0]
                self._fail(
                    f"record header at this offset claims {cap} captured bytes (max {self._max_caplen}); "
                    f"stopping after {self.packets} packets",
                    self._pos + pos,
                    "absurd record length",
                )
                self._drop_consumed(pos)
                return
            # need more data
            self._drop_consumed(pos)
            pos = 0
            if not self._read_more(CHUNK_BYTES):
                self._tail_error("pcap record")
                return

    def _iter_pcapng(self) -> Iterator[PacketBatch]:
        pos = self._start
        o_off = np.empty(BATCH_PACKETS, np.int64)
        o_cap = np.empty(BATCH_PACKETS, np.int64)
        o_orig = np.empty(BATCH_PACKETS, np.int64)
        o_if = np.empty(BATCH_PACKETS, np.int64)
        o_tsraw = np.empty(BATCH_PACKETS, np.uint64)
        last_ts = math.nan
        while True:
            buf = np.frombuffer(self._data, dtype=np.uint8)
            k, pos, status = _walk_pcapng(
                buf, pos, self._big, HARD_MAX_CAPLEN, o_off, o_cap, o_orig, o_if, o_tsraw
            )
            if k:
                batch = self._ng_batch(buf, k, o_off, o_cap, o_orig, o_if, o_tsraw, last_ts)
                if batch is not None:
                    if len(batch):
                        last_ts = float(batch.ts[-1])
                        self.packets += len(batch)
                        yield batch
                else:
                    return
            if status == _ST_OK:
                continue
            if status == _ST_SHB:
                self._drop_consumed(pos)
                pos = 0
                try:
                    pos = self._parse_shb(0)
                except InputError as e:
                    self.errors.append(e)
                    self.rejects.add("bad pcapng section header", self._where(e.offset))
                    return
                continue
            if status == _ST_IDB:
                blen = struct.unpack_from(">I" if self._big else "<I", self._data, pos + 4)[0]
                block = self._data[pos : pos + blen]
                if blen < 20:
                    self._fail("pcapng interface block too short", self._pos + pos, "bad pcapng block")
                    return
                try:
                    self._ifaces.append(_parse_idb(block, self._big))
                except struct.error:
                    self._fail("pcapng interface block options are cut", self._pos + pos, "bad pcapng block")
                    return
                pos += blen
                continue
            if status == _ST_BAD:
                self._fail(
                    f"pcapng block at this offset has an impossible or inconsistent length; "
                    f"stopping after {self.packets} packets",
                    self._pos + pos,
                    "bad pcapng block",
                )
                return
            self._drop_consumed(pos)
            pos = 0
            if not self._read_more(CHUNK_BYTES):
                self._tail_error("pcapng block")
                return

    def _ng_batch(
        self,
        buf: np.ndarray,
        k: int,
        o_off: np.ndarray,
        o_cap: np.ndarray,
        o_orig: np.ndarray,
        o_if: np.ndarray,
        o_tsraw: np.ndarray,
        last_ts: float,
    ) -> PacketBatch | None:
        iface = o_if[:k]
        nif = len(self._ifaces)
        bad = iface >= nif
        if bad.any():
            first_bad = int(np.argmax(bad))
            self.rejects.add(
                "packet for undeclared pcapng interface", self._where(self._pos + int(o_off[first_bad])), int(bad.sum())
            )
            keep = ~bad
        else:
            keep = None
        if nif == 0:
            return PacketBatch(self._data, buf, *(np.empty(0, np.int64) for _ in range(3)),
                               np.empty(0), np.empty(0, np.int32), self._pos)
        units = np.array([f.units_per_s for f in self._ifaces])
        offs = np.array([f.offset_s for f in self._ifaces], dtype=np.float64)
        lts = np.array([f.linktype for f in self._ifaces], dtype=np.int32)
        safe_if = np.minimum(iface, nif - 1)
        raw = o_tsraw[:k]
        u = units[safe_if]
        # Split into whole seconds and remainder so nanosecond counts keep their precision in float64.
        secs = raw // u.astype(np.uint64) if np.all(u == np.round(u)) else None
        if secs is not None:
            ts = secs.astype(np.float64) + (raw - secs * u.astype(np.uint64)).astype(np.float64) / u
        else:
            ts = raw.astype(np.float64) / u
        ts = ts + offs[safe_if]
        nots = raw == np.uint64(0xFFFFFFFFFFFFFFFF)
        if nots.any():
            ts[nots] = np.nan if math.isnan(last_ts) else last_ts
        sel = slice(0, k) if keep is None else keep
        return PacketBatch(
            self._data,
            buf,
            o_off[:k][sel].copy(),
            o_cap[:k][sel].copy(),
            o_orig[:k][sel].copy(),
            ts[sel],
            lts[safe_if][sel],
            self._pos,
        )


def open_capture(path: str | Path) -> CaptureReader:
    """Open a pcap (µs or ns, either byte order), pcapng or gzip-compressed capture by its magic."""
    return CaptureReader(path)
