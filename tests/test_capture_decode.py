"""Header decoding for every supported link type, IPv6 extension headers and IPv4 fragments."""

from __future__ import annotations

import struct

import pytest

from minewatch.net.decode import FRAG_FIRST, FRAG_LATER, VER_CUT, VER_MALFORMED, addr_bytes, decode_batch
from minewatch.sources.pcap import open_capture
from test_capture_writer import (
    ETH_IPV6,
    SYN,
    eth,
    ipv4,
    ipv6,
    null_lo,
    pcap_bytes,
    sll,
    sll2,
    tcp,
    udp,
    write,
)

V4 = ipv4("192.0.2.1", "198.51.100.7", 6, tcp(40001, 3333, 77, flags=SYN))
V6 = ipv6("2001:db8::1", "2001:db8::2", 17, udp(5353, 53, b"hello"))


def _decode_one(tmp_path, frame, linktype, orig=None):
    pk = [(1.0, frame)] if orig is None else [(1.0, frame, orig)]
    r = open_capture(write(tmp_path / "x.pcap", pcap_bytes(pk, linktype=linktype)))
    batches = list(r)
    return decode_batch(batches[0]), 0


def _tuple(d, i=0):
    v = int(d.ver[i])
    import ipaddress

    s = ipaddress.ip_address(addr_bytes(v, int(d.s_hi[i]), int(d.s_lo[i])))
    t = ipaddress.ip_address(addr_bytes(v, int(d.d_hi[i]), int(d.d_lo[i])))
    return v, str(s), int(d.sport[i]), str(t), int(d.dport[i]), int(d.proto[i])


V4_T = (4, "192.0.2.1", 40001, "198.51.100.7", 3333, 6)
V6_T = (6, "2001:db8::1", 5353, "2001:db8::2", 53, 17)


@pytest.mark.parametrize(
    ("linktype", "frame", "want"),
    [
        (1, eth(V4), V4_T),
        (1, eth(V6, ETH_IPV6), V6_T),
        (1, eth(V4, vlans=((0x8100, 10),)), V4_T),
        (1, eth(V6, ETH_IPV6, vlans=((0x88A8, 100), (0x8100, 200))), V6_T),  # QinQ
        (1, eth(V4, vlans=((0x9100, 1), (0x8100, 2))), V4_T),
        (113, sll(V4), V4_T),
        (113, sll(V6, ETH_IPV6), V6_T),
        (276, sll2(V4), V4_T),
        (276, sll2(V6, ETH_IPV6), V6_T),
        (101, V4, V4_T),
        (101, V6, V6_T),
        (228, V4, V4_T),
        (229, V6, V6_T),
        (0, null_lo(V4, 2), V4_T),
        (0, null_lo(V4, 2, big=True), V4_T),
        (0, null_lo(V6, 30), V6_T),
        (0, null_lo(V6, 24, big=True), V6_T),
        (108, null_lo(V4, 2, big=True), V4_T),
    ],
    ids=["eth-v4", "eth-v6", "vlan", "qinq-v6", "9100-tags", "sll-v4", "sll-v6", "sll2-v4", "sll2-v6",
         "raw-v4", "raw-v6", "ipv4-228", "ipv6-229", "null-le-v4", "null-be-v4", "null-le-v6-30",
         "null-be-v6-24", "loop-108"],
)
def test_link_types(tmp_path, linktype, frame, want):
    d, i = _decode_one(tmp_path, frame, linktype)
    assert _tuple(d, i) == want


def test_tcp_payload_and_ethernet_padding(tmp_path):
    # a short segment padded to the Ethernet minimum: padding is not payload
    frame = eth(ipv4("1.2.3.4", "5.6.7.8", 6, tcp(1, 2, 3, payload=b"ab"))) + b"\0" * 10
    d, _ = _decode_one(tmp_path, frame, 1)
    assert int(d.pay_len[0]) == 2 and int(d.pay_cap[0]) == 2
    start = int(d.pay_off[0]) - (24 + 16)  # offsets are into the chunk: file header + record header
    assert frame[start : start + 2] == b"ab"


def test_ipv6_extension_headers(tmp_path):
    pkt = ipv6("2001:db8::a", "2001:db8::b", 6, tcp(5555, 80, 9, payload=b"GET / HTTP/1.1\r\n"),
               ext=[(0, b"\x01\x04\0\0\0\0"), (43, b"\0\0\0\0\0\0" + bytes(16)), (60, b"\x01\x02\0\0"),
                    (51, bytes(10))])
    d, _ = _decode_one(tmp_path, eth(pkt, ETH_IPV6), 1)
    assert _tuple(d) == (6, "2001:db8::a", 5555, "2001:db8::b", 80, 6)
    assert int(d.pay_len[0]) == 16


def test_ipv6_fragments(tmp_path):
    first = ipv6("2001:db8::a", "2001:db8::b", 17, udp(1000, 2000, b"x" * 16),
                 ext=[(44, struct.pack("!HI", 1, 7))])
    later = ipv6("2001:db8::a", "2001:db8::b", 17, b"y" * 16, ext=[(44, struct.pack("!HI", (3 << 3), 7))])
    r = open_capture(write(tmp_path / "f.pcap", pcap_bytes([(1.0, first), (2.0, later)], linktype=101)))
    d = decode_batch(next(iter(r)))
    assert list(d.frag) == [FRAG_FIRST, FRAG_LATER]
    assert int(d.sport[0]) == 1000 and int(d.sport[1]) == -1
    assert list(d.proto) == [17, 17]


def test_ipv4_fragments(tmp_path):
    payload = udp(53, 4444, b"z" * 40)
    f1 = ipv4("10.0.0.1", "10.0.0.2", 17, payload[:24], mf=True)
    f2 = ipv4("10.0.0.1", "10.0.0.2", 17, payload[24:], frag_off=24)
    r = open_capture(write(tmp_path / "f.pcap", pcap_bytes([(1.0, f1), (2.0, f2)], linktype=101)))
    d = decode_batch(next(iter(r)))
    assert list(d.frag) == [FRAG_FIRST, FRAG_LATER]
    assert int(d.dport[0]) == 4444 and int(d.dport[1]) == -1


def test_cut_and_malformed_headers(tmp_path):
    good = ipv4("10.0.0.1", "10.0.0.2", 6, tcp(1, 2, 3))
    bad_ihl = bytes([0x42]) + good[1:]
    frames = [(1.0, good[:30], len(good)), (2.0, good[:12], len(good)), (3.0, bad_ihl)]
    r = open_capture(write(tmp_path / "c.pcap", pcap_bytes(frames, linktype=101)))
    d = decode_batch(next(iter(r)))
    assert list(d.ver) == [VER_CUT, VER_CUT, VER_MALFORMED]


def test_snaplen_cut_payload(tmp_path):
    full = eth(ipv4("10.0.0.1", "10.0.0.2", 6, tcp(1, 2, 3, payload=b"p" * 1000)))
    d, _ = _decode_one(tmp_path, full[:200], 1, orig=len(full))
    assert int(d.pay_len[0]) == 1000
    assert int(d.pay_cap[0]) == 200 - 14 - 40
