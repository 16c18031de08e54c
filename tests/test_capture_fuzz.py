"""Random and mutated bytes: the reader and engine raise nothing but InputError, and never hang."""

from __future__ import annotations

import gzip

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minewatch.errors import InputError
from minewatch.net.engine import FlowEngine
from minewatch.sources.pcap import open_capture
from test_capture_writer import ETH_IPV6, eth, ipv4, ipv6, pcap_bytes, pcapng_bytes, tcp_session, udp

_FRAMES = [*tcp_session(requests=(b"a" * 50, b"b" * 3), responses=(b"c" * 7, b"d")), (1700000001.0, eth(ipv6("2001:db8::1", "2001:db8::2", 17, udp(1, 2, b"x"), ext=[(0, b""), (60, b"")]), ETH_IPV6)), (1700000001.5, eth(ipv4("10.0.0.1", "10.0.0.2", 17, b"frag", frag_off=8)))]
SEEDS = [
    pcap_bytes(_FRAMES),
    pcap_bytes(_FRAMES, ns=True, big=True),
    pcap_bytes([(t, f[14:]) for t, f in _FRAMES], linktype=101),
    pcapng_bytes([(1, None), (101, 9)], [(k % 2, 1_700_000_000_000 + k, f if k % 2 == 0 else f[14:])
                                         for k, (_, f) in enumerate(_FRAMES)]),
]


class _Eater:
    def feed(self, direction, ts, data):
        pass

    def gap(self, direction, ts):
        pass

    def datagram(self, direction, ts, payload):
        pass

    def wants_more(self):
        return True

    def close(self):
        pass


def _scan(path) -> None:
    try:
        reader = open_capture(path)
    except InputError:
        return
    eng = FlowEngine(lambda info: _Eater(), initial_slots=4)
    eng.process(reader)
    eng.finish()
    for e in reader.errors:
        assert isinstance(e, InputError) and e.offset is not None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400))
def test_random_bytes(tmp_path, data):
    p = tmp_path / "r.pcap"
    p.write_bytes(data)
    _scan(p)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.sampled_from(range(len(SEEDS))),
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8),
    cut=st.one_of(st.none(), st.integers(0, 10_000)),
    gz=st.booleans(),
)
def test_mutated_captures(tmp_path, seed, edits, cut, gz):
    data = bytearray(SEEDS[seed])
    for pos, val in edits:
        data[pos % len(data)] = val
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    raw = bytes(data)
    if gz:
        raw = gzip.compress(raw)
        if cut is not None and cut % 3 == 0:
            raw = raw[: len(raw) // 2]
    p = tmp_path / "m.pcap"
    p.write_bytes(raw)
    _scan(p)
