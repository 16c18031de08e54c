"""Dialect sessions follow their specs, wallets validate, and share timing carries the hashrate truth."""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import math
import random

import pytest
from Crypto.Hash import keccak

from minewatch.synth import dialects as d
from minewatch.synth.tcp import C2S, S2C

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


# ---- independent wallet validators (decoders, not the encoders under test) -------------------------
def b58check_decode(s: str) -> bytes:
    n = 0
    for ch in s:
        n = n * 58 + B58.index(ch)
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    raw = b"\0" * (len(s) - len(s.lstrip("1"))) + raw
    body, ck = raw[:-4], raw[-4:]
    assert hashlib.sha256(hashlib.sha256(body).digest()).digest()[:4] == ck
    return body


def bech32_valid(addr: str) -> bool:
    charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
    hrp, data = addr.rsplit("1", 1)
    vals = [charset.index(c) for c in data]
    gen = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for v in [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + vals:
        b = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (b >> i) & 1 else 0
    return chk == 1


def kec(b: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=b).digest()


def monero_decode(addr: str) -> bytes:
    sizes = {2: 1, 3: 2, 5: 3, 6: 4, 7: 5, 9: 6, 10: 7, 11: 8}
    out = b""
    for i in range(0, len(addr), 11):
        blk = addr[i : i + 11]
        n = 0
        for ch in blk:
            n = n * 58 + B58.index(ch)
        out += n.to_bytes(sizes[len(blk)], "big")
    return out


def test_wallet_known_vectors():
    # BIP-173 example: P2WPKH of 751e76e8199196d454941c45d1b3a323f1433bd6
    prog = bytes.fromhex("751e76e8199196d454941c45d1b3a323f1433bd6")
    assert d.bech32_encode("bc", [0, *d._to5bits(prog)]) == "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
    # EIP-55 examples from the EIP
    for a in ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"):
        assert d.eip55(bytes.fromhex(a[2:])) == a
    assert d.base58check(b"\x00", b"\0" * 20) == "1111111111111111111114oLvT2"


def test_random_wallets_validate():
    rng = random.Random(11)
    for _ in range(20):
        a = d.btc_p2pkh(rng)
        assert a[0] == "1" and b58check_decode(a)[0] == 0
        b = d.btc_bech32(rng)
        assert b.startswith("bc1q") and len(b) == 42 and bech32_valid(b)
        e = d.eth_address(rng)
        h = kec(e[2:].lower().encode()).hex()
        assert all(c == (c.upper() if int(h[i], 16) >= 8 else c.lower()) for i, c in enumerate(e[2:]))
        x = d.monero_address(rng)
        assert len(x) == 95 and x[0] == "4"
        raw = monero_decode(x)
        assert raw[0] == 18 and kec(raw[:-4])[:4] == raw[-4:]


def _json_lines(msgs, direction):
    buf = b"".join(m[2] for m in sorted(msgs) if m[1] == direction)
    return [json.loads(ln) for ln in buf.split(b"\n") if ln.strip()]


def _poisson_ok(observed: int, expected: float) -> bool:
    return abs(observed - expected) <= 4 * math.sqrt(expected) + 2


@pytest.mark.parametrize("flavor", ["asic", "cgminer", "nicehash"])
def test_stratum_v1_flavors_and_hashrate_truth(flavor):
    rng = random.Random(21)
    s = d.stratum_v1(3600, rng, flavor=flavor, hashrate=50e12, difficulty=32768, reject_rate=0.1)
    c = _json_lines(s.messages, C2S)
    sv = _json_lines(s.messages, S2C)
    first = c[0]["method"]
    assert (
        first
        == {"asic": "mining.configure", "cgminer": "mining.subscribe", "nicehash": "mining.subscribe"}[flavor]
    )
    if flavor == "asic":
        assert "version-rolling" in c[0]["params"][0]
    if flavor == "nicehash":
        assert c[0]["params"][0] == "NiceHash/1.0.0" and len(c[0]["params"][2]) == 64
        assert any(m["method"] == "mining.extranonce.subscribe" for m in c)
    submits = [m for m in c if m["method"] == "mining.submit"]
    assert len(submits) == s.shares
    # estimate the hashrate from what is on the wire, as a dissector would
    diff = next(m["params"][0] for m in sv if m.get("method") == "mining.set_difficulty")
    est = len(submits) * diff * 2**32 / 3600
    assert abs(est - 50e12) / 50e12 < 0.15
    assert _poisson_ok(len(submits), 50e12 / (32768 * 2**32) * 3600)
    rejected = sum(1 for m in sv if m.get("error"))
    assert rejected == s.rejected and 0.04 < rejected / len(submits) < 0.18
    notifies = [m for m in sv if m.get("method") == "mining.notify"]
    assert len(notifies) >= 3600 / 30 - 2  # periodic refresh every 30 s
    assert all(len(m["params"]) == 9 for m in notifies)
    auth = next(m for m in c if m["method"] == "mining.authorize")
    assert auth["params"][0] == f"{s.wallet}.{s.worker}"


def test_eth_proxy_worker_first_and_submit_hashrate():
    s = d.eth_proxy(600, random.Random(2), hashrate=300e6, share_hashes=2e9)
    lines = [m[2] for m in sorted(s.messages) if m[1] == C2S]
    assert lines[0].startswith(b'{"worker": ')
    c = _json_lines(s.messages, C2S)
    assert c[0]["method"] == "eth_submitLogin" and c[0]["params"][0] == f"{s.wallet}.{s.worker}"
    hr = [int(m["params"][0], 16) for m in c if m["method"] == "eth_submitHashrate"]
    assert hr and all(abs(h - 300e6) / 300e6 < 0.05 for h in hr)
    target = int(_json_lines(s.messages, S2C)[1]["result"][2], 16)
    work = [m for m in c if m["method"] == "eth_submitWork"]
    assert _poisson_ok(len(work), 300e6 * target / 2**256 * 600)


def test_ethstratum1_messages():
    s = d.ethstratum1(600, random.Random(3), hashrate=400e6, difficulty=1.5)
    c = _json_lines(s.messages, C2S)
    assert c[0]["params"][1] == "EthereumStratum/1.0.0"
    sv = _json_lines(s.messages, S2C)
    assert sv[0]["result"][0][2] == "EthereumStratum/1.0.0" and len(sv[0]["result"][1]) <= 6
    n = [m for m in sv if m.get("method") == "mining.notify"]
    assert n and all(len(m["params"]) == 4 for m in n)
    sub = [m for m in c if m["method"] == "mining.submit"]
    assert _poisson_ok(len(sub), 400e6 / (1.5 * 2**32) * 600)


def test_ethstratum2_hello_then_gzip():
    s = d.ethstratum2(600, random.Random(4), hashrate=400e6, share_hashes=4e9)
    msgs = sorted(s.messages)
    hello = json.loads(msgs[0][2])
    assert msgs[0][1] == C2S and hello["method"] == "mining.hello"
    assert hello["params"]["proto"] == "EthereumStratum/2.0.0" and hello["params"]["port"] == "115c"
    assert json.loads(msgs[1][2])["result"]["encoding"] == "gzip"
    rest = msgs[2:]
    assert all(m[2][:2] == b"\x1f\x8b" for m in rest)
    objs = [json.loads(gzip.decompress(m[2])) for m in rest]
    assert all("jsonrpc" not in o for o in objs)
    sets = [o for o in objs if o.get("method") == "mining.set"]
    target = int(sets[0]["params"]["target"], 16)
    subs = [o for o in objs if o.get("method") == "mining.submit"]
    assert _poisson_ok(len(subs), 400e6 * target / 2**256 * 600)


@pytest.mark.parametrize("kind", ["xmrig", "xmrig-custom", "xmrig-noagent"])
def test_xmrig_variants(kind):
    s = d.DIALECTS[kind](1800, random.Random(5), hashrate=2000.0, difficulty=50000.0)
    first = sorted(s.messages)[0][2]
    login = json.loads(first)
    assert login["method"] == "login" and login["params"]["login"] == s.wallet
    if kind == "xmrig":
        assert first.startswith(b'{"id":1,"jsonrpc":"2.0","method":"login"') and b" " not in first.replace(
            b"XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/11.4.0", b""
        )
        assert login["params"]["agent"].startswith("XMRig/6.")
    elif kind == "xmrig-custom":
        assert first.startswith(b'{"method": "login"') and login["params"]["agent"] == "SysUpdate/2.1"
    else:
        assert "agent" not in login["params"]
    sv = _json_lines(s.messages, S2C)
    tgt = sv[0]["result"]["job"]["target"]
    hps = 0xFFFFFFFF / int.from_bytes(bytes.fromhex(tgt), "little")
    assert abs(hps - 50000) / 50000 < 0.001
    c = _json_lines(s.messages, C2S)
    subs = [m for m in c if m["method"] == "submit"]
    assert all(len(m["params"]["nonce"]) == 8 and len(m["params"]["result"]) == 64 for m in subs)
    assert _poisson_ok(len(subs), 2000 / hps * 1800)
    keep = [m for m in c if m["method"] == "keepalived"]
    assert keep and len(keep) == s.extras["keepalives"]
    # with keepalives the client is never silent for more than 60 s (+ slack)
    times = sorted(m[0] for m in s.messages if m[1] == C2S)
    assert max(b - a for a, b in itertools.pairwise(times)) <= 61


@pytest.mark.parametrize("kind", ["getwork", "getblocktemplate"])
def test_http_mining(kind):
    s = d.DIALECTS[kind](300, random.Random(6), hashrate=3e9)
    reqs = [m[2] for m in sorted(s.messages) if m[1] == C2S]
    assert all(r.startswith(b"POST / HTTP/1.1\r\n") and b"\r\nX-Mining-Extensions: " in r for r in reqs)
    head, body = reqs[0].split(b"\r\n\r\n", 1)
    cl = int(next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[1])
    assert cl == len(body)
    assert json.loads(body)["method"] == kind
    resp = [m[2] for m in sorted(s.messages) if m[1] == S2C]
    assert all(r.startswith(b"HTTP/1.1 200 OK") for r in resp)


def test_stratum_v2_sizes():
    s = d.stratum_v2(900, random.Random(7), hashrate=100e12, difficulty=65536.0)
    msgs = sorted(s.messages)
    assert (msgs[0][1], len(msgs[0][2])) == (C2S, 64)
    assert (msgs[1][1], len(msgs[1][2])) == (S2C, 234)
    assert all(len(m[2]) >= 22 + 16 for m in msgs[2:])
    submits = [m for m in msgs[2:] if m[1] == C2S and len(m[2]) == 22 + 24 + 16]
    assert _poisson_ok(len(submits), 100e12 / (65536 * 2**32) * 900)
    # high entropy: no JSON, no newline framing
    assert b'"method"' not in b"".join(m[2] for m in msgs)


def test_over_tls_hides_payload_but_keeps_truth():
    rng = random.Random(8)
    s = d.over_tls(d.xmrig(300, rng), "pool.example.net", rng, port=443)
    assert s.variant == "xmrig+tls" and s.server_port == 443 and s.wallet
    wire = b"".join(m[2] for m in s.messages)
    assert s.wallet.encode() not in wire and b"pool.example.net" in wire
    assert sorted(s.messages)[0][2][:3] == b"\x16\x03\x01"


def test_deterministic():
    a = d.stratum_v1(300, random.Random(99))
    b = d.stratum_v1(300, random.Random(99))
    assert a.messages == b.messages and a.wallet == b.wallet
