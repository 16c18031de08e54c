"""TCP stream reassembly, good enough for line-delimited JSON and HTTP.

Why this much and no more: mining protocols (Stratum, getwork, CryptoNote login) are request/response
text over long-lived TCP sessions; the dissectors need the bytes of each direction in order, and to be
told when bytes are missing so they can resynchronise on the next newline. So this handles
retransmissions and overlaps (trimmed), out-of-order segments (held up to a byte window), captures that
start mid-session (a `gap` before the first bytes), and snaplen-cut segments (the captured part, then a
`gap`). It does not try to be an IDS-grade reassembler: overlapping segments with different contents
keep the first copy seen, and urgent data is ordinary data.
"""

from __future__ import annotations

from typing import Protocol

SEQ_MOD = 1 << 32
HALF = 1 << 31
SYN = 0x02
FIN = 0x01


class _Sink(Protocol):
    def feed(self, direction: int, ts: float, data: bytes) -> None: ...
    def gap(self, direction: int, ts: float) -> None: ...


def seq_diff(a: int, b: int) -> int:
    """a - b in sequence space (signed, wraps at 2**32)."""
    d = (a - b) % SEQ_MOD
    return d - SEQ_MOD if d >= HALF else d


class _Half:
    __slots__ = ("next_seq", "pending", "pending_bytes", "started")

    def __init__(self) -> None:
        self.next_seq = 0
        self.started = False
        # seq -> (ts, captured bytes, wire length)
        self.pending: dict[int, tuple[float, bytes, int]] = {}
        self.pending_bytes = 0


class TcpReassembler:
    """Per-flow, two directions. `segment()` for every SYN or payload-bearing packet, `flush()` at the end."""

    __slots__ = ("gaps", "halves", "sink", "window")

    def __init__(self, sink: _Sink, window_bytes: int = 256 * 1024) -> None:
        self.sink = sink
        self.window = window_bytes
        self.halves = (_Half(), _Half())
        self.gaps = 0

    def segment(self, d: int, ts: float, seq: int, flags: int, data: bytes, wire_len: int) -> None:
        h = self.halves[d]
        if flags & SYN:
            seq = (seq + 1) % SEQ_MOD
            if not h.started:
                h.started = True
                h.next_seq = seq
        if wire_len <= 0:
            return
        if not h.started:
            # Capture began mid-session: whatever came before is lost to us.
            h.started = True
            h.next_seq = seq
            self._gap(d, ts)
        rel = (seq - h.next_seq) % SEQ_MOD  # seq_diff, inline: this runs for every segment of a flow
        if rel >= HALF:
            rel -= SEQ_MOD
        if rel < 0:
            if rel + wire_len <= 0:
                return  # pure retransmission
            data = data[-rel:]
            wire_len += rel
            seq = h.next_seq
            rel = 0
        if rel == 0:
            self._deliver(h, d, ts, data, wire_len)
            if h.pending:
                self._drain(h, d)
            return
        if rel > self.window:
            # Too far ahead to be reordering: the bytes in between were not captured.
            self._gap(d, ts)
            h.next_seq = seq
            self._deliver(h, d, ts, data, wire_len)
            self._drain(h, d)
            return
        old = h.pending.get(seq)
        if old is None or old[2] < wire_len:
            if old is not None:
                h.pending_bytes -= old[2]
            h.pending[seq] = (ts, data, wire_len)
            h.pending_bytes += wire_len
        if h.pending_bytes > self.window:
            self._skip_hole(h, d)

    def _skip_hole(self, h: _Half, d: int) -> None:
        """The hole before the earliest held segment will not be filled: jump over it."""
        first = min(h.pending, key=lambda s: seq_diff(s, h.next_seq))
        self._gap(d, h.pending[first][0])
        h.next_seq = first
        self._drain(h, d)

    def _gap(self, d: int, ts: float) -> None:
        self.gaps += 1
        self.sink.gap(d, ts)

    def _deliver(self, h: _Half, d: int, ts: float, data: bytes, wire_len: int) -> None:
        if data:
            self.sink.feed(d, ts, data[:wire_len])
        if len(data) < wire_len:  # snaplen cut: the rest was sent but not captured
            self._gap(d, ts)
        h.next_seq = (h.next_seq + wire_len) % SEQ_MOD

    def _drain(self, h: _Half, d: int) -> None:
        while h.pending:
            best = None
            best_rel = 0
            for s in h.pending:
                r = seq_diff(s, h.next_seq)
                if best is None or r < best_rel:
                    best, best_rel = s, r
            if best is None or best_rel > 0:
                return
            ts, data, wire_len = h.pending.pop(best)
            h.pending_bytes -= wire_len
            if best_rel + wire_len <= 0:
                continue
            self._deliver(h, d, ts, data[-best_rel:] if best_rel else data, wire_len + best_rel)

    def flush(self) -> None:
        """Deliver what is still held (after gaps) so a dissector sees every captured byte once."""
        for d, h in enumerate(self.halves):
            while h.pending:
                self._skip_hole(h, d)

    def drop(self) -> None:
        """Forget held segments (the consumer wants no more)."""
        for h in self.halves:
            h.pending.clear()
            h.pending_bytes = 0
