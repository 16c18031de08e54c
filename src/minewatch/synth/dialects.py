"""Mining sessions in every dialect we claim to detect, written from the public specifications.

Sources (see network.md §5): BIP-310 (mining.configure / version rolling), the NiceHash
EthereumStratum/1.0.0 and extranonce-subscribe documents, EIP-1571 (EthereumStratum/2.0.0),
xmrig-proxy doc/STRATUM.md (login/job/submit/keepalived), the Stratum V2 spec (Noise NX handshake
sizes, 6-byte frame header, AEAD overhead) and the getwork / getblocktemplate JSON-RPC over HTTP.
This module is deliberately independent of the dissectors in `minewatch.net`, so each checks the other.

Timing model (the ground truth a hashrate estimator is tested against): server jobs arrive as a
Poisson process at the coin's block rate plus a periodic refresh; client shares are a Poisson
process with rate `hashrate / hashes_per_share`, where `hashes_per_share` follows from the stated
pool difficulty in that dialect's units (difficulty * 2^32 for Bitcoin-style and EthereumStratum/1.0.0
difficulty, 2^256/target for boundary targets, 0xFFFFFFFF/target32 for CryptoNote compact targets).
Replies come one RTT later; a chosen fraction of shares is rejected.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import json
import random
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from Crypto.Hash import keccak

from minewatch.synth.tcp import C2S, S2C, Msg, tls_wrap

TWO32 = 2.0**32
TWO256 = 2**256


# ---- wallets ---------------------------------------------------------------------------------------
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _sha256d(b: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(b).digest()).digest()


def keccak256(b: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=b).digest()


def b58encode(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = _B58[r] + out
    pad = len(data) - len(data.lstrip(b"\0"))
    return "1" * pad + out


def base58check(version: bytes, payload: bytes) -> str:
    raw = version + payload
    return b58encode(raw + _sha256d(raw)[:4])


def btc_p2pkh(rng: random.Random) -> str:
    """Legacy Bitcoin address (version byte 0x00): starts with '1'."""
    return base58check(b"\x00", rng.randbytes(20))


_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _bech32_polymod(values: list[int]) -> int:
    gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for v in values:
        top = chk >> 25
        chk = ((chk & 0x1FFFFFF) << 5) ^ v
        for i in range(5):
            if (top >> i) & 1:
                chk ^= gen[i]
    return chk


def bech32_encode(hrp: str, data5: list[int]) -> str:
    """BIP-173 bech32 (constant 1), used for witness version 0."""
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    pm = _bech32_polymod([*expanded, *data5, 0, 0, 0, 0, 0, 0]) ^ 1
    checksum = [(pm >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_BECH32[d] for d in data5 + checksum)


def _to5bits(data: bytes) -> list[int]:
    acc, bits, out = 0, 0, []
    for b in data:
        acc = (acc << 8) | b
        bits += 8
        while bits >= 5:
            bits -= 5
            out.append((acc >> bits) & 31)
    if bits:
        out.append((acc << (5 - bits)) & 31)
    return out


def btc_bech32(rng: random.Random) -> str:
    """Native segwit P2WPKH address: bc1q + 20-byte program."""
    return bech32_encode("bc", [0, *_to5bits(rng.randbytes(20))])


def eth_address(rng: random.Random) -> str:
    return eip55(rng.randbytes(20))


def eip55(raw20: bytes) -> str:
    """EIP-55 mixed-case checksummed address: a letter is upper-case when its keccak nibble >= 8."""
    raw = raw20.hex()
    h = keccak256(raw.encode()).hex()
    return "0x" + "".join(c.upper() if c.isalpha() and int(h[i], 16) >= 8 else c for i, c in enumerate(raw))


_XMR_BLOCK_SIZES = (0, 2, 3, 5, 6, 7, 9, 10, 11)


def monero_b58(data: bytes) -> str:
    """Monero's base58: 8-byte blocks to 11 characters, the last partial block to a table size."""
    out = ""
    for i in range(0, len(data), 8):
        block = data[i : i + 8]
        n = int.from_bytes(block, "big")
        chars = ""
        while n:
            n, r = divmod(n, 58)
            chars = _B58[r] + chars
        out += chars.rjust(_XMR_BLOCK_SIZES[len(block)], "1")
    return out


def monero_address(rng: random.Random, prefix: int = 18) -> str:
    """Standard mainnet address (network byte 18 -> '4...', 95 chars) with the keccak checksum."""
    body = bytes([prefix]) + rng.randbytes(64)
    return monero_b58(body + keccak256(body)[:4])


# ---- sessions --------------------------------------------------------------------------------------
@dataclass(slots=True)
class Session:
    """One application session plus its ground truth.

    label: "mining", "node" or "benign". hashes_per_share and share_rate are None for non-mining.
    transport: "tcp", "udp", "tls" (already wrapped) or "http" (TCP carrying HTTP).
    """

    messages: list[Msg]
    label: str
    variant: str
    coin: str | None = None
    worker: str | None = None
    wallet: str | None = None
    agent: str | None = None
    hashrate: float | None = None
    difficulty: float | None = None
    hashes_per_share: float | None = None
    shares: int | None = None
    rejected: int | None = None
    server_port: int = 3333
    transport: str = "tcp"
    sni: str | None = None
    host: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def share_rate(self) -> float | None:
        if self.hashrate is None or not self.hashes_per_share:
            return None
        return self.hashrate / self.hashes_per_share


def poisson_times(rate: float, duration: float, rng: random.Random, start: float = 0.0) -> list[float]:
    out: list[float] = []
    if rate <= 0:
        return out
    t = start
    while True:
        t += rng.expovariate(rate)
        if t >= duration:
            return out
        out.append(t)


def job_times(
    block_time: float, refresh: float | None, duration: float, rng: random.Random, first: float
) -> list[float]:
    """New-block jobs (Poisson) merged with periodic refresh jobs, after the first job at `first`."""
    times = set(poisson_times(1.0 / block_time, duration, rng, first))
    if refresh:
        t = first + refresh
        while t < duration:
            times.add(t + rng.uniform(-0.3, 0.3))
            t += refresh
    return sorted([first, *[t for t in times if first < t < duration]])


def _j(obj: Any, compact: bool) -> bytes:
    if compact:
        return json.dumps(obj, separators=(",", ":")).encode() + b"\n"
    return json.dumps(obj).encode() + b"\n"


def _hex(rng: random.Random, nbytes: int) -> str:
    return rng.randbytes(nbytes).hex()


class _Clock:
    """Bookkeeping shared by the dialects: ids, the current job at time t, message list."""

    def __init__(self, rng: random.Random, rtt: float) -> None:
        self.rng, self.rtt, self.next_id = rng, rtt, 1
        self.msgs: list[Msg] = []

    def c(self, t: float, b: bytes) -> None:
        self.msgs.append((t, C2S, b))

    def s(self, t: float, b: bytes) -> None:
        self.msgs.append((t, S2C, b))

    def reply_t(self, t: float) -> float:
        return t + self.rtt + self.rng.uniform(0.0005, 0.004)

    def nid(self) -> int:
        i = self.next_id
        self.next_id += 1
        return i


def _current_job(jobs: list[tuple[float, str]], t: float) -> str | None:
    cur = None
    for jt, jid in jobs:
        if jt <= t:
            cur = jid
        else:
            break
    return cur


def _share_loop(
    k: _Clock,
    jobs: list[tuple[float, str]],
    rate: float,
    duration: float,
    reject_rate: float,
    submit: Callable[[float, int, str], bytes],
    accept: Callable[[int], bytes],
    reject: Callable[[int], bytes],
) -> tuple[int, int]:
    shares = rejected = 0
    start = jobs[0][0] if jobs else 0.0
    for t in poisson_times(rate, duration, k.rng, start):
        jid = _current_job(jobs, t)
        if jid is None:
            continue
        i = k.nid()
        k.c(t, submit(t, i, jid))
        shares += 1
        if k.rng.random() < reject_rate:
            rejected += 1
            k.s(k.reply_t(t), reject(i))
        else:
            k.s(k.reply_t(t), accept(i))
    return shares, rejected


# ---- Stratum v1 (Bitcoin-style) --------------------------------------------------------------------
def _btc_notify(jid: str, rng: random.Random, clean: bool, t: float, compact: bool) -> bytes:
    params = [
        jid,
        _hex(rng, 32),
        "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff" + _hex(rng, 24),
        _hex(rng, 8) + "ffffffff02" + _hex(rng, 50),
        [_hex(rng, 32) for _ in range(rng.randint(9, 12))],
        "20000000",
        "17034219",
        f"{int(1_700_000_000 + t):08x}",
        clean,
    ]
    return _j({"params": params, "id": None, "method": "mining.notify"}, compact)


def stratum_v1(
    duration: float,
    rng: random.Random,
    flavor: str = "asic",
    coin: str = "BTC",
    hashrate: float = 100e12,
    difficulty: float = 65536.0,
    reject_rate: float = 0.01,
    worker: str | None = None,
    wallet: str | None = None,
    rtt: float = 0.03,
    block_time: float = 600.0,
    refresh: float | None = 30.0,
) -> Session:
    """Stratum v1. flavor: "asic" (mining.configure version rolling first, BIP-310), "cgminer"
    (subscribe/authorize, spaced JSON like jansson) or "nicehash" (NiceHash/1.0.0 subscribe with ms
    timestamp and HMAC, extranonce.subscribe)."""
    k = _Clock(rng, rtt)
    wallet = wallet or (btc_bech32(rng) if flavor != "cgminer" else btc_p2pkh(rng))
    worker = worker or f"rig{rng.randint(1, 99):02d}"
    user = f"{wallet}.{worker}"
    compact = flavor == "nicehash"
    t = 0.01
    agent = {"asic": "bmminer/2.0.0", "cgminer": "cgminer/4.10.0", "nicehash": "NiceHash/1.0.0"}[flavor]
    if flavor == "asic":
        i = k.nid()
        k.c(
            t,
            _j(
                {
                    "id": i,
                    "method": "mining.configure",
                    "params": [
                        ["version-rolling", "minimum-difficulty"],
                        {
                            "version-rolling.mask": "1fffe000",
                            "version-rolling.min-bit-count": 2,
                            "minimum-difficulty.value": 2048,
                        },
                    ],
                },
                compact,
            ),
        )
        t = k.reply_t(t)
        k.s(
            t,
            _j(
                {
                    "id": i,
                    "result": {
                        "version-rolling": True,
                        "version-rolling.mask": "1fffe000",
                        "minimum-difficulty": True,
                    },
                    "error": None,
                },
                compact,
            ),
        )
        t += 0.002
    i = k.nid()
    if flavor == "nicehash":
        ms = str(1_700_000_000_000 + int(t * 1000))
        mac = hmac.new(rng.randbytes(16), ms.encode(), hashlib.sha256).hexdigest()
        k.c(t, _j({"id": i, "method": "mining.subscribe", "params": [agent, ms, mac]}, compact))
    else:
        k.c(t, _j({"id": i, "method": "mining.subscribe", "params": [agent]}, compact))
    t = k.reply_t(t)
    sid = _hex(rng, 8)
    en1 = _hex(rng, 4)
    k.s(
        t,
        _j(
            {
                "id": i,
                "result": [[["mining.set_difficulty", sid], ["mining.notify", sid]], en1, 8],
                "error": None,
            },
            compact,
        ),
    )
    t += 0.001
    if flavor == "nicehash":
        i = k.nid()
        k.c(t, _j({"id": i, "method": "mining.extranonce.subscribe", "params": []}, compact))
        k.s(k.reply_t(t), _j({"id": i, "result": True, "error": None}, compact))
        t += 0.001
    i = k.nid()
    k.c(t, _j({"id": i, "method": "mining.authorize", "params": [user, "x"]}, compact))
    t = k.reply_t(t)
    k.s(t, _j({"id": i, "result": True, "error": None}, compact))
    k.s(t + 0.0005, _j({"id": None, "method": "mining.set_difficulty", "params": [difficulty]}, compact))
    jobs = []
    for n, jt in enumerate(job_times(block_time, refresh, duration, rng, t + 0.001)):
        jid = f"{rng.getrandbits(32):x}"
        jobs.append((jt, jid))
        k.s(jt, _btc_notify(jid, rng, n == 0 or rng.random() < 0.05, jt, compact))
    vr = flavor == "asic"

    def submit(st: float, sid_: int, jid: str) -> bytes:
        p = [user, jid, _hex(rng, 8), f"{int(1_700_000_000 + st):08x}", _hex(rng, 4)]
        if vr:
            p.append(f"{rng.getrandbits(16) << 13 & 0x1FFFE000:08x}")
        return _j({"params": p, "id": sid_, "method": "mining.submit"}, compact)

    shares, rej = _share_loop(
        k,
        jobs,
        hashrate / (difficulty * TWO32),
        duration,
        reject_rate,
        submit,
        lambda i: _j({"id": i, "result": True, "error": None}, compact),
        lambda i: _j({"id": i, "result": None, "error": [23, "Low difficulty share", None]}, compact),
    )
    return Session(
        k.msgs,
        "mining",
        f"stratum1-{flavor}",
        coin,
        worker,
        wallet,
        agent,
        hashrate,
        difficulty,
        difficulty * TWO32,
        shares,
        rej,
        server_port=3333,
    )


# ---- Ethereum: eth-proxy (Claymore), EthereumStratum/1.0.0, EthereumStratum/2.0.0 ------------------
def eth_proxy(
    duration: float,
    rng: random.Random,
    hashrate: float = 500e6,
    share_hashes: float = 4e9,
    reject_rate: float = 0.01,
    worker: str | None = None,
    wallet: str | None = None,
    rtt: float = 0.03,
    coin: str = "ETC",
    block_time: float = 13.0,
    getwork_every: float = 5.0,
    hashrate_every: float = 30.0,
) -> Session:
    """Claymore-style eth-proxy: "worker" is the first JSON key, eth_submitLogin, polling
    eth_getWork, server-pushed work with id 0, eth_submitHashrate, eth_submitWork."""
    k = _Clock(rng, rtt)
    wallet = wallet or eth_address(rng)
    worker = worker or f"rig{rng.randint(1, 99)}"
    target = int(TWO256 / share_hashes)

    def work() -> list[str]:
        return ["0x" + _hex(rng, 32), "0x" + _hex(rng, 32), f"0x{target:064x}"]

    def cl(method: str, params: list[Any], i: int, w: str = "eth1.0") -> bytes:
        return (
            json.dumps({"worker": w, "jsonrpc": "2.0", "params": params, "id": i, "method": method}).encode()
            + b"\n"
        )

    t = 0.01
    k.c(t, cl("eth_submitLogin", [f"{wallet}.{worker}", "x"], 2))
    t = k.reply_t(t)
    k.s(t, _j({"id": 2, "jsonrpc": "2.0", "result": True}, True))
    t += 0.001
    k.c(t, cl("eth_getWork", [], 3, ""))
    t = k.reply_t(t)
    k.s(t, _j({"id": 3, "jsonrpc": "2.0", "result": work()}, True))
    jobs = [(t, "w0")]
    for n, jt in enumerate(job_times(block_time, None, duration, rng, t)[1:]):
        jobs.append((jt, f"w{n + 1}"))
        k.s(jt, _j({"id": 0, "jsonrpc": "2.0", "result": work()}, True))
    tt = t + getwork_every
    while tt < duration:
        k.c(tt, cl("eth_getWork", [], 3, ""))
        k.s(k.reply_t(tt), _j({"id": 3, "jsonrpc": "2.0", "result": work()}, True))
        tt += getwork_every + rng.uniform(-0.2, 0.2)
    hid = "0x" + _hex(rng, 32)
    tt = t + 2.0
    while tt < duration:
        k.c(tt, cl("eth_submitHashrate", [f"0x{int(hashrate * rng.uniform(0.97, 1.03)):x}", hid], 6))
        k.s(k.reply_t(tt), _j({"id": 6, "jsonrpc": "2.0", "result": True}, True))
        tt += hashrate_every
    shares, rej = _share_loop(
        k,
        jobs,
        hashrate / share_hashes,
        duration,
        reject_rate,
        lambda st, i, jid: cl(
            "eth_submitWork", ["0x" + _hex(rng, 8), "0x" + _hex(rng, 32), "0x" + _hex(rng, 32)], 4
        ),
        lambda i: _j({"id": 4, "jsonrpc": "2.0", "result": True}, True),
        lambda i: _j({"id": 4, "jsonrpc": "2.0", "result": False, "error": "stale share"}, True),
    )
    return Session(
        k.msgs,
        "mining",
        "eth-proxy",
        coin,
        worker,
        wallet,
        "Claymore",
        hashrate,
        share_hashes,
        float(share_hashes),
        shares,
        rej,
        server_port=8008,
    )


def ethstratum1(
    duration: float,
    rng: random.Random,
    hashrate: float = 500e6,
    difficulty: float = 1.0,
    reject_rate: float = 0.01,
    worker: str | None = None,
    wallet: str | None = None,
    rtt: float = 0.03,
    coin: str = "ETC",
    block_time: float = 13.0,
    agent: str = "lolMiner/1.76",
) -> Session:
    """NiceHash EthereumStratum/1.0.0: difficulty 1 = 2^32 hashes per share."""
    k = _Clock(rng, rtt)
    wallet = wallet or eth_address(rng)
    worker = worker or f"rig{rng.randint(1, 99)}"
    user = f"{wallet}.{worker}"
    t = 0.01
    k.c(t, _j({"id": 1, "method": "mining.subscribe", "params": [agent, "EthereumStratum/1.0.0"]}, False))
    t = k.reply_t(t)
    en = _hex(rng, 2)
    k.s(
        t,
        _j(
            {
                "id": 1,
                "result": [["mining.notify", _hex(rng, 16), "EthereumStratum/1.0.0"], en],
                "error": None,
            },
            False,
        ),
    )
    t += 0.001
    k.c(t, _j({"id": 2, "method": "mining.extranonce.subscribe", "params": []}, False))
    k.s(k.reply_t(t), _j({"id": 2, "result": True, "error": None}, False))
    t += 0.002
    k.c(t, _j({"id": 3, "method": "mining.authorize", "params": [user, "x"]}, False))
    t = k.reply_t(t)
    k.s(t, _j({"id": 3, "result": True, "error": None}, False))
    k.s(t + 0.0005, _j({"id": None, "method": "mining.set_difficulty", "params": [difficulty]}, False))
    k.next_id = 4
    seed = "0x" + _hex(rng, 32) if rng.random() < 0.5 else _hex(rng, 32)
    jobs = []
    for n, jt in enumerate(job_times(block_time, None, duration, rng, t + 0.001)):
        jid = _hex(rng, 3)
        jobs.append((jt, jid))
        k.s(
            jt,
            _j({"id": None, "method": "mining.notify", "params": [jid, seed, _hex(rng, 32), n == 0]}, False),
        )
    shares, rej = _share_loop(
        k,
        jobs,
        hashrate / (difficulty * TWO32),
        duration,
        reject_rate,
        lambda st, i, jid: _j(
            {"id": i, "method": "mining.submit", "params": [user, jid, _hex(rng, 6)]}, False
        ),
        lambda i: _j({"id": i, "result": True, "error": None}, False),
        lambda i: _j({"id": i, "result": False, "error": [21, "Job not found", None]}, False),
    )
    return Session(
        k.msgs,
        "mining",
        "ethstratum1",
        coin,
        worker,
        wallet,
        agent,
        hashrate,
        difficulty,
        difficulty * TWO32,
        shares,
        rej,
        server_port=4444,
    )


def _gz(b: bytes) -> bytes:
    return gzip.compress(b, compresslevel=6, mtime=0)


def ethstratum2(
    duration: float,
    rng: random.Random,
    hashrate: float = 500e6,
    share_hashes: float = 4e9,
    reject_rate: float = 0.01,
    worker: str | None = None,
    wallet: str | None = None,
    rtt: float = 0.03,
    coin: str = "ETC",
    block_time: float = 13.0,
    encoding: str = "gzip",
    agent: str = "ethminer-0.19.0",
    host: str = "etc.pool.example",
    port: int = 4444,
) -> Session:
    """EIP-1571: the client's mining.hello; the server answers with encoding "gzip" and from then on
    every message in both directions is one gzip member (RFC 1952) of the JSON line."""
    k = _Clock(rng, rtt)
    wallet = wallet or eth_address(rng)
    worker = worker or f"rig{rng.randint(1, 99)}"
    z = _gz if encoding == "gzip" else (lambda b: b)
    t = 0.01
    k.c(
        t,
        _j(
            {
                "id": 0,
                "method": "mining.hello",
                "params": {
                    "agent": agent,
                    "host": host,
                    "port": f"{port:x}",
                    "proto": "EthereumStratum/2.0.0",
                },
            },
            True,
        ),
    )
    t = k.reply_t(t)
    k.s(
        t,
        _j(
            {
                "id": 0,
                "result": {
                    "proto": "EthereumStratum/2.0.0",
                    "encoding": encoding,
                    "resume": "1",
                    "timeout": "b4",
                    "maxerrors": "5",
                    "node": "core-geth/v1.12.17",
                },
            },
            True,
        ),
    )
    t += 0.001
    k.c(t, z(_j({"id": 1, "method": "mining.subscribe"}, True)))
    t = k.reply_t(t)
    k.s(t, z(_j({"id": 1, "result": f"s-{rng.getrandbits(24):x}"}, True)))
    t += 0.001
    k.c(t, z(_j({"id": 2, "method": "mining.authorize", "params": [f"{wallet}.{worker}", "x"]}, True)))
    t = k.reply_t(t)
    token = f"w-{rng.getrandbits(12):x}"
    k.s(t, z(_j({"id": 2, "result": token}, True)))
    target = int(TWO256 / share_hashes)
    k.s(
        t + 0.0005,
        z(
            _j(
                {
                    "method": "mining.set",
                    "params": {
                        "epoch": f"{rng.randint(100, 400):x}",
                        "target": f"{target:064x}",
                        "algo": "etchash",
                        "extranonce": _hex(rng, 2),
                    },
                },
                True,
            )
        ),
    )
    k.next_id = 3
    height = rng.randint(18_000_000, 20_000_000)
    jobs = []
    for n, jt in enumerate(job_times(block_time, None, duration, rng, t + 0.001)):
        jid = _hex(rng, 3)
        jobs.append((jt, jid))
        k.s(
            jt,
            z(
                _j(
                    {
                        "method": "mining.notify",
                        "params": [jid, f"{height + n:x}", _hex(rng, 32), "1" if n == 0 else "0"],
                    },
                    True,
                )
            ),
        )
    tt = t + 60.0
    while tt < duration:
        i = k.nid()
        k.c(tt, z(_j({"id": i, "method": "mining.hashrate", "params": [f"{int(hashrate):x}", token]}, True)))
        k.s(k.reply_t(tt), z(_j({"id": i}, True)))
        tt += 60.0
    shares, rej = _share_loop(
        k,
        jobs,
        hashrate / share_hashes,
        duration,
        reject_rate,
        lambda st, i, jid: z(
            _j({"id": i, "method": "mining.submit", "params": [jid, _hex(rng, 6), token]}, True)
        ),
        lambda i: z(_j({"id": i}, True)),
        lambda i: z(_j({"id": i, "error": {"code": 406, "message": "Bad nonce"}}, True)),
    )
    return Session(
        k.msgs,
        "mining",
        "ethstratum2" + ("-gzip" if encoding == "gzip" else ""),
        coin,
        worker,
        wallet,
        agent,
        hashrate,
        share_hashes,
        float(share_hashes),
        shares,
        rej,
        server_port=port,
        host=host,
    )


# ---- XMRig / CryptoNote ----------------------------------------------------------------------------
def xmr_target(difficulty: float) -> tuple[str, float]:
    """Compact 4-byte little-endian target and the hashes per share it implies (XMRig's rule)."""
    t32 = max(1, min(0xFFFFFFFF, int(0xFFFFFFFF / difficulty)))
    return struct.pack("<I", t32).hex(), 0xFFFFFFFF / t32


def xmrig(
    duration: float,
    rng: random.Random,
    hashrate: float = 8000.0,
    difficulty: float = 40000.0,
    reject_rate: float = 0.01,
    worker: str | None = None,
    wallet: str | None = None,
    rtt: float = 0.03,
    agent: str | None = "XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/11.4.0",
    style: str = "xmrig",
    coin: str = "XMR",
    block_time: float = 120.0,
    keepalive: float = 60.0,
) -> Session:
    """XMRig login/job/submit/keepalived. style "xmrig" = compact JSON in XMRig's key order;
    style "legacy" = method-first with spaces (xmr-stak and custom droppers). agent=None omits it."""
    k = _Clock(rng, rtt)
    wallet = wallet or monero_address(rng)
    worker = worker or f"w{rng.randint(1, 999)}"
    compact = style == "xmrig"
    target, hps = xmr_target(difficulty)
    rpcid = f"{rng.getrandbits(128):032x}"[:32]

    def req(i: int, method: str, params: dict[str, Any]) -> bytes:
        if compact:
            return _j({"id": i, "jsonrpc": "2.0", "method": method, "params": params}, True)
        return _j({"method": method, "params": params, "id": i}, False)

    def job(jid: str, h: int) -> dict[str, Any]:
        return {
            "blob": _hex(rng, 76),
            "job_id": jid,
            "target": target,
            "algo": "rx/0",
            "height": h,
            "seed_hash": seed,
        }

    seed = _hex(rng, 32)
    height = rng.randint(3_000_000, 3_300_000)
    params: dict[str, Any] = {"login": wallet, "pass": worker}
    if agent is not None:
        params["agent"] = agent
    if compact:
        params["rigid"] = worker
        params["algo"] = [
            "rx/0",
            "cn/2",
            "cn/r",
            "cn/fast",
            "cn/half",
            "cn/xao",
            "cn/rto",
            "cn/rwz",
            "cn/zls",
            "cn/double",
            "cn/ccx",
            "cn-lite/1",
            "cn-heavy/xhv",
            "rx/wow",
            "rx/arq",
            "rx/sfx",
        ]
    t = 0.01
    k.c(t, req(1, "login", params))
    t = k.reply_t(t)
    j0 = f"{rng.getrandbits(40):x}"
    k.s(
        t,
        _j(
            {
                "id": 1,
                "jsonrpc": "2.0",
                "error": None,
                "result": {
                    "id": rpcid,
                    "job": job(j0, height),
                    "extensions": ["algo", "nicehash", "connect", "tls", "keepalive"],
                    "status": "OK",
                },
            },
            True,
        ),
    )
    k.next_id = 2
    jobs = [(t, j0)]
    for n, jt in enumerate(job_times(block_time, None, duration, rng, t)[1:]):
        jid = f"{rng.getrandbits(40):x}"
        jobs.append((jt, jid))
        k.s(jt, _j({"jsonrpc": "2.0", "method": "job", "params": job(jid, height + n + 1)}, True))

    def submit(st: float, i: int, jid: str) -> bytes:
        p: dict[str, Any] = {"id": rpcid, "job_id": jid, "nonce": _hex(rng, 4), "result": _hex(rng, 32)}
        if compact:
            p["algo"] = "rx/0"
        return req(i, "submit", p)

    shares, rej = _share_loop(
        k,
        jobs,
        hashrate / hps,
        duration,
        reject_rate,
        submit,
        lambda i: _j({"id": i, "jsonrpc": "2.0", "error": None, "result": {"status": "OK"}}, True),
        lambda i: _j(
            {"id": i, "jsonrpc": "2.0", "error": {"code": -1, "message": "Low difficulty share"}}, True
        ),
    )
    # keepalived whenever the client has been silent for `keepalive` seconds
    sends = sorted(m[0] for m in k.msgs if m[1] == C2S)
    last = sends[0]
    extra: list[float] = []
    for st in [*sends[1:], duration]:
        while st - last > keepalive:
            last += keepalive
            extra.append(last)
        last = max(last, st)
    for kt in extra:
        i = k.nid()
        k.c(kt, req(i, "keepalived", {"id": rpcid}))
        k.s(
            k.reply_t(kt),
            _j({"id": i, "jsonrpc": "2.0", "error": None, "result": {"status": "KEEPALIVED"}}, True),
        )
    variant = "xmrig" if style == "xmrig" else "xmrig-legacy"
    return Session(
        k.msgs,
        "mining",
        variant,
        coin,
        worker,
        wallet,
        agent,
        hashrate,
        difficulty,
        hps,
        shares,
        rej,
        server_port=3333,
        extras={"keepalives": len(extra)},
    )


# ---- getwork / getblocktemplate over HTTP ----------------------------------------------------------
def _http_post(host: str, body: bytes, auth: str, agent: str, extensions: str) -> bytes:
    head = (
        f"POST / HTTP/1.1\r\nAuthorization: Basic {base64.b64encode(auth.encode()).decode()}\r\n"
        f"Host: {host}\r\nAccept: */*\r\nAccept-Encoding: deflate, gzip\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nUser-Agent: {agent}\r\nX-Mining-Extensions: {extensions}\r\n\r\n"
    )
    return head.encode() + body


def _http_ok(body: bytes, extra: str = "") -> bytes:
    return (
        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}"
        "Connection: keep-alive\r\n\r\n"
    ).encode() + body


def getwork_http(
    duration: float,
    rng: random.Random,
    hashrate: float = 2e9,
    reject_rate: float = 0.02,
    worker: str | None = None,
    wallet: str | None = None,
    rtt: float = 0.03,
    poll: float = 5.0,
    mode: str = "getwork",
    coin: str = "BTC",
    host: str = "pool.example:8332",
) -> Session:
    """Legacy HTTP mining on one keep-alive connection. mode "getwork": difficulty-1 work units,
    each found share sent back as getwork(data); mode "gbt": getblocktemplate polling with
    submitblock for shares (difficulty 1 as well)."""
    k = _Clock(rng, rtt)
    wallet = wallet or btc_p2pkh(rng)
    worker = worker or f"cpu{rng.randint(1, 9)}"
    auth = f"{wallet}.{worker}:x"
    agent = "cgminer/2.7.1" if mode == "getwork" else "bfgminer/5.5.0"
    ext = "longpoll midstate rollntime submitold" if mode == "getwork" else "longpoll"

    def work_req(i: int) -> bytes:
        if mode == "getwork":
            body = json.dumps({"method": "getwork", "params": [], "id": i}).encode()
        else:
            body = json.dumps(
                {
                    "id": i,
                    "method": "getblocktemplate",
                    "params": [
                        {"capabilities": ["coinbasetxn", "workid", "coinbase/append"], "rules": ["segwit"]}
                    ],
                }
            ).encode()
        return _http_post(host, body, auth, agent, ext)

    def work_resp(i: int, tnow: float) -> bytes:
        if mode == "getwork":
            res: dict[str, Any] = {
                "midstate": _hex(rng, 32),
                "data": _hex(rng, 80) + "000000800000000000000000"
                "00000000000000000000000000000000000000000000000080020000",
                "hash1": "00" * 28 + "000000800000000000000000000000000000000000000000000000000000010000",
                "target": "ff" * 28 + "00000000",
            }
            return _http_ok(
                _j({"result": res, "error": None, "id": i}, True),
                "X-Long-Polling: /LP\r\nX-Roll-NTime: Y\r\n",
            )
        txs = [
            {
                "data": _hex(rng, rng.randint(120, 400)),
                "txid": _hex(rng, 32),
                "hash": _hex(rng, 32),
                "depends": [],
                "fee": rng.randint(200, 20000),
                "sigops": 4,
                "weight": 800,
            }
            for _ in range(rng.randint(3, 12))
        ]
        res = {
            "capabilities": ["proposal"],
            "version": 536870912,
            "rules": ["csv", "!segwit", "taproot"],
            "previousblockhash": _hex(rng, 32),
            "transactions": txs,
            "coinbasevalue": 312500000,
            "longpollid": _hex(rng, 32) + "1",
            "target": "00000000ffff" + "0" * 52,
            "mintime": int(1_700_000_000 + tnow),
            "mutable": ["time", "transactions", "prevblock"],
            "noncerange": "00000000ffffffff",
            "sigoplimit": 80000,
            "sizelimit": 4000000,
            "curtime": int(1_700_000_000 + tnow),
            "bits": "17034219",
            "height": 840000 + int(tnow // 600),
        }
        return _http_ok(_j({"result": res, "error": None, "id": i}, True))

    t = 0.01
    jobs: list[tuple[float, str]] = []
    while t < duration:
        i = k.nid()
        k.c(t, work_req(i))
        rt = k.reply_t(t)
        k.s(rt, work_resp(i, t))
        jobs.append((rt, str(i)))
        t = rt + poll + rng.uniform(-0.3, 0.3)

    def submit(st: float, i: int, jid: str) -> bytes:
        if mode == "getwork":
            body = json.dumps({"method": "getwork", "params": [_hex(rng, 128)], "id": i}).encode()
        else:
            body = json.dumps(
                {"id": i, "method": "submitblock", "params": [_hex(rng, 80) + "01" + _hex(rng, 120)]}
            ).encode()
        return _http_post(host, body, auth, agent, ext)

    ok = (
        (lambda i: _http_ok(_j({"result": True, "error": None, "id": i}, True)))
        if mode == "getwork"
        else (lambda i: _http_ok(_j({"result": None, "error": None, "id": i}, True)))
    )
    bad = (
        (lambda i: _http_ok(_j({"result": False, "error": None, "id": i}, True)))
        if mode == "getwork"
        else (lambda i: _http_ok(_j({"result": "high-hash", "error": None, "id": i}, True)))
    )
    shares, rej = _share_loop(k, jobs, hashrate / TWO32, duration, reject_rate, submit, ok, bad)
    return Session(
        k.msgs,
        "mining",
        "getwork" if mode == "getwork" else "getblocktemplate",
        coin,
        worker,
        wallet,
        agent,
        hashrate,
        1.0,
        TWO32,
        shares,
        rej,
        server_port=8332,
        transport="http",
        host=host,
    )


# ---- Stratum V2 --------------------------------------------------------------------------------------
SV2_ACT1, SV2_ACT2, SV2_HDR_ENC = 64, 234, 22


def sv2_frame(payload_len: int, rng: random.Random) -> bytes:
    """An encrypted SV2 frame: 6-byte header + 16-byte tag, then the payload + 16-byte tag."""
    return rng.randbytes(SV2_HDR_ENC + payload_len + 16)


def stratum_v2(
    duration: float,
    rng: random.Random,
    hashrate: float = 100e12,
    difficulty: float = 65536.0,
    reject_rate: float = 0.01,
    worker: str | None = None,
    wallet: str | None = None,
    rtt: float = 0.03,
    coin: str = "BTC",
    block_time: float = 600.0,
    refresh: float | None = 30.0,
    success_batch: float = 10.0,
) -> Session:
    """SV2 standard channel over Noise NX: act 1 (64 B), act 2 (234 B), then AEAD frames whose sizes
    follow the plaintext messages (SetupConnection, OpenStandardMiningChannel, NewMiningJob,
    SetNewPrevHash, SubmitSharesStandard, batched SubmitShares.Success)."""
    k = _Clock(rng, rtt)
    wallet = wallet or btc_bech32(rng)
    worker = worker or f"rig{rng.randint(1, 99)}"
    ident = f"{wallet}.{worker}"
    t = 0.01
    k.c(t, rng.randbytes(SV2_ACT1))
    t = k.reply_t(t)
    k.s(t, rng.randbytes(SV2_ACT2))
    t += 0.001
    k.c(
        t, sv2_frame(1 + 2 + 2 + 4 + 1 + 16 + 2 + 1 + 10 + 1 + 8 + 1 + 12 + 1 + 16 + 1 + 8, rng)
    )  # SetupConnection
    t = k.reply_t(t)
    k.s(t, sv2_frame(6, rng))  # SetupConnection.Success
    t += 0.001
    k.c(t, sv2_frame(4 + 1 + len(ident) + 4 + 32, rng))  # OpenStandardMiningChannel
    t = k.reply_t(t)
    k.s(
        t, sv2_frame(4 + 4 + 32 + 1 + 4 + 4, rng)
    )  # .Success: request id, channel id, target, extranonce prefix, group
    jobs = []
    for n, jt in enumerate(job_times(block_time, refresh, duration, rng, t + 0.001)):
        jid = str(n)
        jobs.append((jt, jid))
        if n == 0 or rng.random() < 0.05:
            k.s(jt, sv2_frame(4 + 4 + 1 + 4 + 4 + 32, rng))  # NewMiningJob (future) ...
            k.s(jt + 0.0002, sv2_frame(4 + 4 + 32 + 4 + 4, rng))  # ... + SetNewPrevHash
        else:
            k.s(jt, sv2_frame(4 + 4 + 1 + 4 + 4 + 32, rng))  # NewMiningJob
    acc: list[float] = []

    def submit(st: float, i: int, jid: str) -> bytes:
        acc.append(st)
        return sv2_frame(4 + 4 + 4 + 4 + 4 + 4, rng)  # SubmitSharesStandard

    shares, rej = _share_loop(
        k,
        jobs,
        hashrate / (difficulty * TWO32),
        duration,
        reject_rate,
        submit,
        lambda i: b"",
        lambda i: sv2_frame(4 + 4 + 1 + 19, rng),
    )
    tt = t + success_batch
    while tt < duration:  # SubmitShares.Success is batched, not per share
        k.s(tt, sv2_frame(4 + 4 + 4 + 8, rng))
        tt += success_batch
    k.msgs = [m for m in k.msgs if m[2]]
    return Session(
        k.msgs,
        "mining",
        "stratum2",
        coin,
        worker,
        wallet,
        None,
        hashrate,
        difficulty,
        difficulty * TWO32,
        shares,
        rej,
        server_port=34254,
    )


# ---- TLS wrapper -----------------------------------------------------------------------------------
def over_tls(
    session: Session, sni: str | None, rng: random.Random, alpn: tuple[str, ...] = (), port: int | None = None
) -> Session:
    """The same session inside TLS 1.3 (stratum+ssl:// or XMRig `tls: true`). The plaintext facts
    stay in the labels; on the wire only the ClientHello (SNI, ALPN) and record sizes remain."""
    session.messages = tls_wrap(session.messages, sni, alpn, rng)
    session.variant += "+tls"
    session.transport = "tls"
    session.sni = sni
    if port is not None:
        session.server_port = port
    return session


#: Builders by name, for scenario specs.
DIALECTS: dict[str, Callable[..., Session]] = {
    "stratum1-asic": lambda d, r, **kw: stratum_v1(d, r, flavor="asic", **kw),
    "stratum1-cgminer": lambda d, r, **kw: stratum_v1(d, r, flavor="cgminer", **kw),
    "stratum1-nicehash": lambda d, r, **kw: stratum_v1(d, r, flavor="nicehash", **kw),
    "eth-proxy": eth_proxy,
    "ethstratum1": ethstratum1,
    "ethstratum2": ethstratum2,
    "xmrig": xmrig,
    "xmrig-custom": lambda d, r, **kw: xmrig(
        d, r, agent=kw.pop("agent", "SysUpdate/2.1"), style="legacy", **kw
    ),
    "xmrig-noagent": lambda d, r, **kw: xmrig(d, r, agent=None, **kw),
    "getwork": lambda d, r, **kw: getwork_http(d, r, mode="getwork", **kw),
    "getblocktemplate": lambda d, r, **kw: getwork_http(d, r, mode="gbt", **kw),
    "stratum2": stratum_v2,
}
