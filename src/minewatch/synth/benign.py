"""Non-mining traffic chosen to look like mining to a careless detector.

Why these: JSON-RPC over HTTP to Ethereum and Bitcoin nodes, LSP (Content-Length framed JSON-RPC),
web APIs and cryptocurrency P2P (Bitcoin on 8333, Monero Levin) share vocabulary, ports or framing
with mining; long-lived TLS and SSH sessions with keepalives share its periodicity. A detector that
flags any of these is wrong, and the labels say so ("benign", or "node" for full-node traffic).
DNS answers for pool names let the DNS-to-IP tie be tested.
"""

from __future__ import annotations

import hashlib
import json
import random
import struct
import time
from typing import Any

from minewatch.synth.dialects import Session, poisson_times
from minewatch.synth.tcp import C2S, S2C, Msg, tls_wrap

_WORDS = [
    "the",
    "report",
    "grid",
    "power",
    "station",
    "district",
    "meter",
    "data",
    "office",
    "school",
    "hospital",
    "network",
    "river",
    "city",
    "energy",
    "budget",
    "policy",
    "water",
    "road",
    "market",
    "service",
    "public",
    "notice",
    "annual",
    "review",
    "plan",
]


def _text(rng: random.Random, n: int) -> bytes:
    out: list[str] = []
    size = 0
    while size < n:
        w = rng.choice(_WORDS)
        out.append(w)
        size += len(w) + 1
    return " ".join(out).encode()[:n]


def _http_get(host: str, path: str, agent: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {agent}\r\n"
        "Accept: text/html,application/xhtml+xml,*/*;q=0.8\r\nAccept-Language: zh-CN,zh;q=0.9,en;q=0.8\r\n"
        "Accept-Encoding: identity\r\n"
        "Connection: keep-alive\r\n\r\n"
    ).encode()


def _http_resp(body: bytes, ctype: str = "text/html; charset=utf-8") -> bytes:
    return (
        f"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
        "Connection: keep-alive\r\nCache-Control: max-age=600\r\n\r\n"
    ).encode() + body


_BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Safari/537.36"
)


def http_browsing(
    rng: random.Random, host: str = "news.example.cn", pages: int = 6, think: float = 4.0
) -> Session:
    msgs: list[Msg] = []
    t = 0.0
    for _ in range(pages):
        path = "/" + "/".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 3))) + ".html"
        msgs.append((t, C2S, _http_get(host, path, _BROWSER)))
        body = (
            b"<html><head><title>"
            + _text(rng, 30)
            + b"</title></head><body><p>"
            + _text(rng, rng.randint(2000, 60000))
            + b"</p></body></html>"
        )
        msgs.append((t + 0.04 + rng.uniform(0, 0.05), S2C, _http_resp(body)))
        t += rng.expovariate(1.0 / think) + 0.2
    return Session(msgs, "benign", "http", server_port=80, transport="tcp", host=host)


def tls_browsing(
    rng: random.Random,
    sni: str = "www.example.com",
    requests: int = 5,
    alpn: tuple[str, ...] = ("h2", "http/1.1"),
    max_response: int = 120000,
) -> Session:
    msgs: list[Msg] = []
    t = 0.0
    for _ in range(requests):
        msgs.append((t, C2S, b"\0" * rng.randint(300, 900)))
        msgs.append((t + 0.05, S2C, b"\0" * rng.randint(min(3000, max_response), max_response)))
        t += rng.expovariate(0.3) + 0.2
    return Session(tls_wrap(msgs, sni, alpn, rng), "benign", "tls", server_port=443, transport="tls", sni=sni)


def _rpc_post(host: str, path: str, body: bytes, auth: str | None = None) -> bytes:
    a = f"Authorization: Basic {auth}\r\n" if auth else ""
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: python-requests/2.31.0\r\n{a}"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def eth_node_rpc(rng: random.Random, duration: float = 120.0, every: float = 4.0) -> Session:
    """A dApp backend polling a node's JSON-RPC on 8545 (JSON-RPC 2.0 with eth_* methods, like eth-proxy)."""
    msgs: list[Msg] = []
    block = rng.randint(18_000_000, 20_000_000)
    i = 1
    t = 0.0
    while t < duration:
        method = rng.choice(
            ["eth_blockNumber", "eth_call", "eth_getBalance", "eth_getBlockByNumber", "eth_gasPrice"]
        )
        params: list[Any] = []
        if method == "eth_call":
            params = [
                {
                    "to": "0x" + rng.randbytes(20).hex(),
                    "data": "0x70a08231" + "0" * 24 + rng.randbytes(20).hex(),
                },
                "latest",
            ]
            result: Any = "0x" + rng.randbytes(32).hex()
        elif method == "eth_getBalance":
            params = ["0x" + rng.randbytes(20).hex(), "latest"]
            result = hex(rng.getrandbits(70))
        elif method == "eth_getBlockByNumber":
            params = [hex(block), False]
            result = {
                "number": hex(block),
                "hash": "0x" + rng.randbytes(32).hex(),
                "parentHash": "0x" + rng.randbytes(32).hex(),
                "timestamp": hex(1_700_000_000 + int(t)),
                "transactions": ["0x" + rng.randbytes(32).hex() for _ in range(rng.randint(5, 40))],
            }
        elif method == "eth_gasPrice":
            result = hex(rng.randint(10**9, 10**11))
        else:
            result = hex(block)
        body = json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": i}).encode()
        msgs.append((t, C2S, _rpc_post("10.0.5.20:8545", "/", body)))
        msgs.append(
            (
                t + 0.003,
                S2C,
                _http_resp(
                    json.dumps({"jsonrpc": "2.0", "id": i, "result": result}).encode(), "application/json"
                ),
            )
        )
        i += 1
        if rng.random() < 0.1:
            block += 1
        t += every + rng.uniform(-0.5, 0.5)
    return Session(msgs, "node", "eth-node-rpc", coin="ETH", server_port=8545)


def bitcoin_rpc(rng: random.Random, duration: float = 120.0, every: float = 10.0) -> Session:
    """Bitcoin Core RPC (JSON-RPC 1.0 with Basic auth on 8332), as a wallet or explorer polls it."""
    import base64

    auth = base64.b64encode(b"__cookie__:" + rng.randbytes(16).hex().encode()).decode()
    msgs: list[Msg] = []
    t = 0.0
    i = 0
    height = 840_000
    while t < duration:
        method = rng.choice(["getblockchaininfo", "getbestblockhash", "getmempoolinfo", "getnetworkinfo"])
        body = json.dumps({"jsonrpc": "1.0", "id": f"curltest{i}", "method": method, "params": []}).encode()
        msgs.append((t, C2S, _rpc_post("127.0.0.1:8332", "/", body, auth)))
        if method == "getblockchaininfo":
            result: Any = {
                "chain": "main",
                "blocks": height,
                "headers": height,
                "bestblockhash": rng.randbytes(32).hex(),
                "difficulty": 8.6e13,
                "verificationprogress": 0.99999,
                "pruned": False,
            }
        elif method == "getbestblockhash":
            result = rng.randbytes(32).hex()
        elif method == "getmempoolinfo":
            result = {"loaded": True, "size": rng.randint(1000, 90000), "bytes": rng.randint(10**6, 10**8)}
        else:
            result = {"version": 260000, "subversion": "/Satoshi:26.0.0/", "connections": rng.randint(8, 125)}
        msgs.append(
            (
                t + 0.002,
                S2C,
                _http_resp(
                    json.dumps({"result": result, "error": None, "id": f"curltest{i}"}).encode(),
                    "application/json",
                ),
            )
        )
        i += 1
        t += every + rng.uniform(-1, 1)
    return Session(msgs, "node", "bitcoin-rpc", coin="BTC", server_port=8332)


def _lsp(obj: dict[str, Any]) -> bytes:
    body = json.dumps(obj).encode()
    return f"Content-Length: {len(body)}\r\n\r\n".encode() + body


def lsp_session(rng: random.Random, duration: float = 120.0) -> Session:
    """A language server over TCP (e.g. a remote IDE): Content-Length framed JSON-RPC 2.0."""
    msgs: list[Msg] = [
        (
            0.0,
            C2S,
            _lsp(
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "initialize",
                    "params": {
                        "processId": rng.randint(1000, 60000),
                        "rootUri": "file:///home/dev/project",
                        "capabilities": {},
                    },
                }
            ),
        )
    ]
    msgs.append(
        (
            0.05,
            S2C,
            _lsp(
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "result": {
                        "capabilities": {
                            "textDocumentSync": 2,
                            "completionProvider": {"triggerCharacters": ["."]},
                            "hoverProvider": True,
                        }
                    },
                }
            ),
        )
    )
    msgs.append((0.1, C2S, _lsp({"jsonrpc": "2.0", "method": "initialized", "params": {}})))
    i = 2
    for t in poisson_times(0.5, duration, rng, 0.2):
        kind = rng.choice(["completion", "hover", "didChange"])
        uri = "file:///home/dev/project/main.py"
        pos = {"line": rng.randint(0, 400), "character": rng.randint(0, 80)}
        if kind == "didChange":
            msgs.append(
                (
                    t,
                    C2S,
                    _lsp(
                        {
                            "jsonrpc": "2.0",
                            "method": "textDocument/didChange",
                            "params": {
                                "textDocument": {"uri": uri, "version": i},
                                "contentChanges": [
                                    {"range": {"start": pos, "end": pos}, "text": rng.choice(_WORDS)}
                                ],
                            },
                        }
                    ),
                )
            )
            msgs.append(
                (
                    t + 0.2,
                    S2C,
                    _lsp(
                        {
                            "jsonrpc": "2.0",
                            "method": "textDocument/publishDiagnostics",
                            "params": {"uri": uri, "diagnostics": []},
                        }
                    ),
                )
            )
        else:
            msgs.append(
                (
                    t,
                    C2S,
                    _lsp(
                        {
                            "jsonrpc": "2.0",
                            "id": i,
                            "method": f"textDocument/{kind}",
                            "params": {"textDocument": {"uri": uri}, "position": pos},
                        }
                    ),
                )
            )
            res: Any = (
                {"items": [{"label": w, "kind": 3} for w in rng.sample(_WORDS, 8)]}
                if kind == "completion"
                else {"contents": {"kind": "markdown", "value": _text(rng, 200).decode()}}
            )
            msgs.append((t + 0.03, S2C, _lsp({"jsonrpc": "2.0", "id": i, "result": res})))
        i += 1
    return Session(msgs, "benign", "lsp", server_port=2087)


def json_api(rng: random.Random, duration: float = 60.0, host: str = "api.weather.example.cn") -> Session:
    msgs: list[Msg] = []
    for t in poisson_times(0.2, duration, rng):
        city = rng.choice(["beijing", "shanghai", "urumqi", "chengdu", "ordos"])
        msgs.append(
            (
                t,
                C2S,
                f"GET /v2/forecast?city={city} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n"
                "User-Agent: okhttp/4.12.0\r\n\r\n".encode(),
            )
        )
        body = json.dumps(
            {
                "city": city,
                "id": rng.randint(1, 10**6),
                "result": [
                    {"hour": h, "temp": round(rng.uniform(-10, 35), 1), "wind": round(rng.uniform(0, 12), 1)}
                    for h in range(24)
                ],
            }
        ).encode()
        msgs.append((t + 0.04, S2C, _http_resp(body, "application/json")))
    return Session(msgs, "benign", "json-api", server_port=80, host=host)


# ---- Bitcoin P2P -----------------------------------------------------------------------------------
BTC_MAGIC = bytes.fromhex("f9beb4d9")


def btc_msg(command: str, payload: bytes, magic: bytes = BTC_MAGIC) -> bytes:
    """Bitcoin P2P message: magic, 12-byte command, length, first 4 bytes of sha256d(payload)."""
    ck = hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    return magic + command.encode().ljust(12, b"\0") + struct.pack("<I", len(payload)) + ck + payload


def _netaddr(ip: str, port: int) -> bytes:
    import ipaddress

    a = ipaddress.ip_address(ip)
    raw = a.packed if a.version == 6 else b"\0" * 10 + b"\xff\xff" + a.packed
    return struct.pack("<Q", 1033) + raw + struct.pack(">H", port)


def _varstr(s: bytes) -> bytes:
    return bytes([len(s)]) + s


def btc_version(
    rng: random.Random, me: str, peer: str, height: int, agent: str = "/Satoshi:26.0.0/"
) -> bytes:
    payload = (
        struct.pack("<iQq", 70016, 1033, int(time.mktime((2024, 3, 1, 0, 0, 0, 0, 0, 0))))
        + _netaddr(peer, 8333)
        + _netaddr(me, 8333)
        + rng.randbytes(8)
        + _varstr(agent.encode())
        + struct.pack("<i", height)
        + b"\x01"
    )
    return btc_msg("version", payload)


def bitcoin_p2p(
    rng: random.Random, duration: float = 300.0, me: str = "10.0.0.1", peer: str = "203.0.113.9"
) -> Session:
    h = 840_000 + rng.randint(0, 1000)
    msgs: list[Msg] = [
        (0.0, C2S, btc_version(rng, me, peer, h)),
        (0.06, S2C, btc_version(rng, peer, me, h, "/Satoshi:25.1.0/") + btc_msg("verack", b"")),
        (0.061, C2S, btc_msg("verack", b"") + btc_msg("getaddr", b"")),
    ]
    for t in poisson_times(0.5, duration, rng, 1.0):
        n = rng.randint(1, 8)
        inv = bytes([n]) + b"".join(struct.pack("<I", 1) + rng.randbytes(32) for _ in range(n))
        msgs.append((t, rng.choice([C2S, S2C]), btc_msg("inv", inv)))
    t = 60.0 + rng.uniform(0, 60)
    while t < duration:
        nonce = rng.randbytes(8)
        msgs.append((t, C2S, btc_msg("ping", nonce)))
        msgs.append((t + 0.06, S2C, btc_msg("pong", nonce)))
        t += 120.0
    return Session(msgs, "node", "bitcoin-p2p", coin="BTC", server_port=8333)


# ---- Monero Levin ----------------------------------------------------------------------------------
LEVIN_SIGNATURE = 0x0101010101012101


def _ps_varint(n: int) -> bytes:
    if n < 1 << 6:
        return bytes([n << 2])
    if n < 1 << 14:
        return struct.pack("<H", (n << 2) | 1)
    if n < 1 << 30:
        return struct.pack("<I", (n << 2) | 2)
    return struct.pack("<Q", (n << 2) | 3)


def _ps_section(fields: dict[str, Any]) -> bytes:
    """Epee portable-storage section: count, then name, type tag, value (u64/u32/string/bool/object)."""
    out = _ps_varint(len(fields))
    for name, v in fields.items():
        out += bytes([len(name)]) + name.encode()
        if isinstance(v, bool):
            out += b"\x0b" + (b"\x01" if v else b"\x00")
        elif isinstance(v, int):
            out += b"\x05" + struct.pack("<Q", v)
        elif isinstance(v, bytes):
            out += b"\x0a" + _ps_varint(len(v)) + v
        elif isinstance(v, dict):
            out += b"\x0c" + _ps_section(v)
        else:
            raise TypeError(type(v))
    return out


def levin_msg(command: int, body: dict[str, Any], expect_response: bool, flags: int) -> bytes:
    payload = struct.pack("<IIB", 0x01011101, 0x01020101, 1) + _ps_section(body)
    return (
        struct.pack("<QQ?IiII", LEVIN_SIGNATURE, len(payload), expect_response, command, 0, flags, 1)
        + payload
    )


def monero_levin(rng: random.Random, duration: float = 300.0) -> Session:
    height = 3_100_000 + rng.randint(0, 10000)
    node = {
        "network_id": rng.randbytes(16),
        "my_port": 18080,
        "peer_id": rng.getrandbits(64),
        "rpc_port": 0,
        "support_flags": 1,
    }

    def sync() -> dict[str, Any]:
        return {
            "current_height": height,
            "top_id": rng.randbytes(32),
            "top_version": 16,
            "cumulative_difficulty": rng.getrandbits(63),
            "pruning_seed": 0,
        }

    msgs: list[Msg] = [(0.0, C2S, levin_msg(1001, {"node_data": node, "payload_data": sync()}, True, 1))]
    peers = b"".join(rng.randbytes(38) for _ in range(rng.randint(50, 250)))
    msgs.append(
        (
            0.08,
            S2C,
            levin_msg(
                1001,
                {
                    "node_data": dict(node, peer_id=rng.getrandbits(64)),
                    "payload_data": sync(),
                    "local_peerlist_new": peers,
                },
                False,
                2,
            ),
        )
    )
    t = 60.0
    while t < duration:
        msgs.append((t, C2S, levin_msg(1002, {"payload_data": sync()}, True, 1)))
        msgs.append(
            (
                t + 0.08,
                S2C,
                levin_msg(1002, {"payload_data": sync(), "local_peerlist_new": peers[: 38 * 20]}, False, 2),
            )
        )
        t += 60.0 + rng.uniform(-2, 2)
    for bt in poisson_times(1 / 120, duration, rng):
        height += 1
        msgs.append(
            (
                bt,
                S2C,
                levin_msg(
                    2001,
                    {
                        "b": {"block": rng.randbytes(rng.randint(200, 4000))},
                        "current_blockchain_height": height,
                    },
                    False,
                    1,
                ),
            )
        )
    return Session(msgs, "node", "monero-levin", coin="XMR", server_port=18080)


# ---- DNS -------------------------------------------------------------------------------------------
def _qname(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"


def dns_query(name: str, txid: int, qtype: int = 1) -> bytes:
    return struct.pack("!HHHHHH", txid, 0x0100, 1, 0, 0, 0) + _qname(name) + struct.pack("!HH", qtype, 1)


def dns_answer(name: str, txid: int, ips: list[str], ttl: int = 300, cname: str | None = None) -> bytes:
    """Response with name compression (pointer 0xc00c to the question); optional CNAME first."""
    import ipaddress

    answers = b""
    n = 0
    owner = b"\xc0\x0c"
    if cname:
        target = _qname(cname)
        answers += owner + struct.pack("!HHIH", 5, 1, ttl, len(target)) + target
        owner = struct.pack("!H", 0xC000 | (12 + len(_qname(name)) + 4 + 12))  # the CNAME target just written
        n += 1
    for ip in ips:
        a = ipaddress.ip_address(ip)
        rtype = 28 if a.version == 6 else 1
        answers += owner + struct.pack("!HHIH", rtype, 1, ttl, len(a.packed)) + a.packed
        n += 1
    qtype = 28 if ips and ":" in ips[0] else 1
    return (
        struct.pack("!HHHHHH", txid, 0x8180, 1, n, 0, 0)
        + _qname(name)
        + struct.pack("!HH", qtype, 1)
        + answers
    )


def dns_lookup(rng: random.Random, name: str, ips: list[str], cname: str | None = None) -> Session:
    txid = rng.getrandbits(16)
    qtype = 28 if ips and ":" in ips[0] else 1
    msgs: list[Msg] = [
        (0.0, C2S, dns_query(name, txid, qtype)),
        (0.012 + rng.uniform(0, 0.02), S2C, dns_answer(name, txid, ips, cname=cname)),
    ]
    return Session(msgs, "benign", "dns", server_port=53, transport="udp", host=name, extras={"answers": ips})


# ---- long-lived sessions with keepalives -----------------------------------------------------------
def websocket_tls(rng: random.Random, duration: float = 600.0, sni: str = "push.im.example.cn") -> Session:
    """A chat/push websocket inside TLS: server pushes at random, ping/pong every 30 s."""
    msgs: list[Msg] = [(0.0, C2S, b"\0" * 520), (0.05, S2C, b"\0" * 180)]  # HTTP upgrade + 101
    t = 30.0
    while t < duration:
        msgs.append((t, C2S, b"\0" * 6))
        msgs.append((t + 0.05, S2C, b"\0" * 2))
        t += 30.0
    for pt in poisson_times(1 / 45, duration, rng, 1.0):
        msgs.append((pt, S2C, b"\0" * rng.randint(60, 2000)))
    return Session(
        tls_wrap(msgs, sni, ("http/1.1",), rng),
        "benign",
        "websocket-tls",
        server_port=443,
        transport="tls",
        sni=sni,
    )


def mqtt_tls(
    rng: random.Random, duration: float = 600.0, sni: str = "iot.meter.example.cn", keepalive: float = 60.0
) -> Session:
    """An IoT meter on MQTT over TLS (8883): CONNECT, periodic PUBLISH, PINGREQ every keepalive."""
    msgs: list[Msg] = [(0.0, C2S, b"\0" * 60), (0.05, S2C, b"\0" * 4)]
    t = keepalive
    while t < duration:
        msgs.append((t, C2S, b"\xc0\x00"))
        msgs.append((t + 0.05, S2C, b"\xd0\x00"))
        t += keepalive
    t = 15.0
    while t < duration:
        msgs.append((t, C2S, b"\0" * rng.randint(80, 160)))
        t += 15.0 + rng.uniform(-0.1, 0.1)
    return Session(
        tls_wrap(msgs, sni, ("mqtt",), rng), "benign", "mqtt-tls", server_port=8883, transport="tls", sni=sni
    )


def ssh_session(rng: random.Random, duration: float = 600.0, keepalive: float = 60.0) -> Session:
    """An idle SSH session: banners, KEXINIT, encrypted packets, ServerAliveInterval keepalives."""

    def enc(n: int) -> bytes:
        return rng.randbytes(4 + n + 16)

    msgs: list[Msg] = [
        (0.0, C2S, b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u2\r\n"),
        (0.04, S2C, b"SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6\r\n"),
        (0.05, C2S, rng.randbytes(1500)),
        (0.09, S2C, rng.randbytes(1080)),
        (0.1, C2S, enc(48)),
        (0.14, S2C, enc(560)),
        (0.3, C2S, enc(80)),
        (0.34, S2C, enc(48)),
    ]
    t = keepalive
    while t < duration:
        msgs.append((t, C2S, enc(48)))
        msgs.append((t + 0.04, S2C, enc(16)))
        t += keepalive
    for bt in poisson_times(1 / 20, duration, rng, 1.0):
        msgs.append((bt, C2S, enc(16)))
        msgs.append((bt + 0.04, S2C, enc(rng.choice([16, 32, 64, 400]))))
    return Session(msgs, "benign", "ssh", server_port=22)
