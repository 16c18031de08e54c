"""sFlow v5 datagrams built from packets, for the tests and the benchmark (`sources.sflow` reads them).

Why our own writer: the real agent the tests run (pmacct's sfprobe) sends one shape of datagram only
(compact flow samples with a sampled Ethernet header); the decoder must also be checked on expanded
samples, raw-IP headers, sampled IPv4/IPv6 records, counter samples, vendor records, IPv6 agents and
damaged datagrams, which only a writer that lays the words out itself can produce.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field


def _opaque(b: bytes) -> bytes:
    return struct.pack(">I", len(b)) + b + b"\0" * (-len(b) % 4)


def _address(addr: str | None) -> bytes:
    if addr is None:
        return struct.pack(">I", 0)
    ip = ipaddress.ip_address(addr)
    return struct.pack(">I", 1 if ip.version == 4 else 2) + ip.packed


def sampled_header(frame: bytes, *, protocol: int = 1, frame_length: int | None = None,
                   max_header: int = 128) -> bytes:
    """Flow record 0:1 (sampled packet header): the first `max_header` bytes of `frame`."""
    head = frame[:max_header]
    body = struct.pack(">III", protocol, frame_length if frame_length is not None else len(frame), 0) + _opaque(head)
    return struct.pack(">I", 1) + _opaque(body)


def sampled_ip(src: str, dst: str, proto: int, sport: int, dport: int, length: int, tcp_flags: int = 0) -> bytes:
    """Flow record 0:3 or 0:4 (sampled IPv4 / IPv6), what agents send when they keep no header."""
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    fmt = 3 if s.version == 4 else 4
    body = struct.pack(">II", length, proto) + s.packed + d.packed + struct.pack(">IIII", sport, dport, tcp_flags, 0)
    return struct.pack(">I", fmt) + _opaque(body)


def opaque_record(tag: int, body: bytes) -> bytes:
    """Any flow record by its tag (`enterprise << 12 | format`), e.g. a vendor record a reader must skip."""
    return struct.pack(">I", tag) + _opaque(body)


@dataclass
class FlowSample:
    records: list[bytes]
    rate: int = 1
    seq: int = 1
    source_index: int = 1
    drops: int = 0
    input_if: int = 1
    output_if: int = 2
    expanded: bool = False

    def encode(self) -> bytes:
        pool = self.seq * self.rate
        if self.expanded:
            head = struct.pack(">IIIIIIIIII", self.seq, 0, self.source_index, self.rate, pool, self.drops,
                               0, self.input_if, 0, self.output_if)
            tag = 3
        else:
            head = struct.pack(">IIIIIII", self.seq, self.source_index, self.rate, pool, self.drops,
                               self.input_if, self.output_if)
            tag = 1
        body = head + struct.pack(">I", len(self.records)) + b"".join(self.records)
        return struct.pack(">I", tag) + _opaque(body)


@dataclass
class CounterSample:
    """A generic interface counter sample (0:2) with no counter records: read and passed over."""

    seq: int = 1

    def encode(self) -> bytes:
        return struct.pack(">I", 2) + _opaque(struct.pack(">III", self.seq, 1, 0))


@dataclass
class Datagram:
    samples: list[FlowSample | CounterSample] = field(default_factory=list)
    agent: str | None = "192.0.2.1"
    sub_agent: int = 0
    seq: int = 1
    uptime_ms: int = 1000

    def encode(self) -> bytes:
        return (struct.pack(">I", 5) + _address(self.agent)
                + struct.pack(">IIII", self.sub_agent, self.seq, self.uptime_ms, len(self.samples))
                + b"".join(s.encode() for s in self.samples))


def sfacctd_config(port: int, out_csv: str) -> str:
    """pmacct's sFlow collector as the reference the tests and the benchmark compare with: its print
    plugin appends, once a second, per-5-tuple packet and byte counts to `out_csv`.

    The plugin pipe is sized as pmacct's CONFIG-KEYS advises for bursts (`plugin_pipe_size` with a
    1:1000 `plugin_buffer_size`): with the small default, a CI machine under load once left sfacctd one
    datagram's samples short of what it received (several flows each one sample below minewatch's count)."""
    return "\n".join([
        "daemonize: false", "sfacctd_ip: 127.0.0.1", f"sfacctd_port: {port}", "sfacctd_pipe_size: 33554432",
        "plugin_pipe_size: 10240000", "plugin_buffer_size: 10240",
        "plugins: print", "aggregate: src_host, dst_host, src_port, dst_port, proto", "print_output: csv",
        f"print_output_file: {out_csv}", "print_output_file_append: true", "print_refresh_time: 1", "",
    ])
