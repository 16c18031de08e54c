"""DNS wire parser and the IP -> name cache, on hand-built messages."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from minewatch.net.dns import NameCache, parse_dns


def name(n: str) -> bytes:
    out = b""
    for label in n.split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def header(ident=0x1234, flags=0x8180, qd=1, an=0, ns=0, ar=0) -> bytes:
    return struct.pack("!HHHHHH", ident, flags, qd, an, ns, ar)


def rr(owner: bytes, rtype: int, ttl: int, rdata: bytes) -> bytes:
    return owner + struct.pack("!HHIH", rtype, 1, ttl, len(rdata)) + rdata


def response_with_cname() -> bytes:
    """xmr.pool.example CNAME lb.cdn.example (compressed), lb.cdn.example A 203.0.113.7, AAAA 2001:db8::7."""
    q = name("xmr.pool.example") + struct.pack("!HH", 1, 1)
    msg = header(an=3) + q
    # answer 1: owner = pointer to offset 12 (the question name)
    example_at = 12 + len(b"\x03xmr\x04pool")  # where the question's "example" label starts
    cname_target = b"\x02lb\x03cdn" + struct.pack("!H", 0xC000 | example_at)
    ans1 = rr(b"\xc0\x0c", 5, 60, cname_target)
    msg += ans1
    lb_offset = len(msg) - len(cname_target)
    ans2 = rr(struct.pack("!H", 0xC000 | lb_offset), 1, 30, bytes([203, 0, 113, 7]))
    ans3 = rr(
        struct.pack("!H", 0xC000 | lb_offset), 28, 30, bytes.fromhex("20010db8000000000000000000000007")
    )
    return msg + ans2 + ans3


def test_parse_cname_chain_and_addresses():
    msg = parse_dns(response_with_cname())
    assert msg is not None and msg.complete and msg.is_response
    assert msg.qname == "xmr.pool.example"
    assert [(r.type_name, r.name, r.value) for r in msg.answers] == [
        ("CNAME", "xmr.pool.example", "lb.cdn.example"),
        ("A", "lb.cdn.example", "203.0.113.7"),
        ("AAAA", "lb.cdn.example", "2001:db8::7"),
    ]
    assert [r.ttl for r in msg.answers] == [60, 30, 30]


def _fixed() -> bytes:
    return response_with_cname()


def test_compression_loop_is_rejected_not_followed():
    # the answer owner points at itself; a forward pointer too
    q = name("a.example") + struct.pack("!HH", 1, 1)
    base = header(an=1) + q
    self_ptr = struct.pack("!H", 0xC000 | len(base))
    msg = parse_dns(base + rr(self_ptr, 1, 10, b"\x01\x02\x03\x04"))
    assert msg is not None and not msg.complete and msg.answers == []
    assert msg.qname == "a.example"
    fwd = struct.pack("!H", 0xC000 | (len(base) + 40))
    msg2 = parse_dns(base + rr(fwd, 1, 10, b"\x01\x02\x03\x04") + b"\x00" * 50)
    assert msg2 is not None and not msg2.complete


def test_pointer_chain_going_backwards_twice_is_fine_but_a_cycle_is_not():
    # name at 12: "\x01a" + ptr to 12 would be a cycle (target not below the lowest position read)
    body = b"\x01a" + struct.pack("!H", 0xC000 | 12)
    msg = parse_dns(header(qd=1, an=0) + body + struct.pack("!HH", 1, 1))
    assert msg is None or not msg.complete


def test_every_truncation_is_handled():
    data = _fixed()
    full = parse_dns(data)
    assert full is not None and len(full.answers) == 3
    for cut in range(len(data)):
        msg = parse_dns(data[:cut])
        if cut < 12:
            assert msg is None
            continue
        if msg is not None:
            assert len(msg.answers) <= 3
            assert not msg.complete or cut == len(data)
    # cutting inside the AAAA record keeps the CNAME and the A answer
    part = parse_dns(data[:-3])
    assert part is not None and not part.complete
    assert [r.value for r in part.answers] == ["lb.cdn.example", "203.0.113.7"]


def test_tcp_length_prefix():
    data = _fixed()
    msg = parse_dns(struct.pack("!H", len(data)) + data, tcp=True)
    assert msg is not None and len(msg.answers) == 3


def test_garbage_and_wrong_types():
    assert parse_dns(b"") is None
    assert parse_dns(b"\x00" * 11) is None
    assert parse_dns("not bytes") is None  # type: ignore[arg-type]
    # header claims 65535 questions in 20 bytes: not DNS
    assert parse_dns(header(qd=0xFFFF) + b"\x00" * 8) is None
    # label type 0x40 (extended) is refused
    msg = parse_dns(header(qd=1) + b"\x41abc\x00" + b"\x00\x01\x00\x01")
    assert msg is None or not msg.complete


def test_odd_label_bytes_are_escaped_and_top_bit_ttl_is_zero():
    q = b"\x03a\x00b\x07example\x00" + struct.pack("!HH", 1, 1)
    base = header(an=1) + q
    msg = parse_dns(base + rr(b"\xc0\x0c", 1, 0x80000001, b"\x0a\x00\x00\x01"))
    assert msg is not None and msg.complete
    assert msg.qname == "a\\000b.example"
    assert msg.answers[0].ttl == 0


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_never_raise(data):
    msg = parse_dns(data)
    if msg is not None:
        assert isinstance(msg.answers, list)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=8))
def test_mutated_valid_message_never_raises(edits):
    data = bytearray(_fixed())
    for pos, val in edits:
        data[pos % len(data)] = val
    msg = parse_dns(bytes(data))
    cache = NameCache()
    if msg is not None:
        cache.feed(msg, 0.0)


# --- NameCache ---------------------------------------------------------------------------------
def test_cache_maps_ip_to_queried_and_canonical_name():
    cache = NameCache(min_ttl_s=0)
    msg = parse_dns(_fixed())
    assert msg is not None
    assert cache.feed(msg, 1000.0) == 2
    assert cache.lookup("203.0.113.7", 1010.0) == ["xmr.pool.example", "lb.cdn.example"]
    assert cache.lookup("2001:0db8:0::7", 1010.0) == ["xmr.pool.example", "lb.cdn.example"]
    # TTL: the chain's lowest TTL (30 s) bounds both names
    assert cache.lookup("203.0.113.7", 1031.0) == []


def test_cache_ttl_floor_and_cap():
    cache = NameCache(min_ttl_s=300, max_ttl_s=3600)
    cache.add("198.51.100.1", "pool.example", 0.0, 0)
    assert cache.lookup("198.51.100.1", 299.0) == ["pool.example"]
    assert cache.lookup("198.51.100.1", 301.0) == []
    cache.add("198.51.100.2", "Pool.Example.", 0.0, 10**9)
    assert cache.lookup("198.51.100.2", 3600.0) == ["pool.example"]
    assert cache.lookup("198.51.100.2", 3601.0) == []


def test_cache_is_lru_bounded():
    cache = NameCache(max_ips=3, min_ttl_s=1000)
    for i in range(3):
        cache.add(f"192.0.2.{i}", f"h{i}.example", 0.0, 1000)
    assert cache.lookup("192.0.2.0", 1.0) == ["h0.example"]  # touch .0 so .1 is now the oldest
    cache.add("192.0.2.9", "h9.example", 0.0, 1000)
    assert len(cache) == 3
    assert cache.lookup("192.0.2.1", 1.0) == []
    assert cache.lookup("192.0.2.0", 1.0) == ["h0.example"]
    assert cache.expire(5000.0) == 3 and len(cache) == 0


def test_cache_ignores_queries_and_errors():
    data = bytearray(_fixed())
    query = bytes(data[:2]) + b"\x01\x00" + bytes(data[4:])  # QR bit off
    nx = bytes(data[:2]) + b"\x81\x83" + bytes(data[4:])  # NXDOMAIN
    cache = NameCache()
    for payload in (query, nx):
        m = parse_dns(payload)
        assert m is not None
        assert cache.feed(m, 0.0) == 0
    assert len(cache) == 0
