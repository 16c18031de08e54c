"""More mining dialects and wrappers, written from public protocol descriptions (review 6).

Why a separate module: `dialects.py` holds the dialects the first releases claimed; these are the
ones a later review found missing or half-recognised, and the proxy preambles a miner's traffic can
sit behind. Like `dialects.py` this module is independent of the dissectors in `minewatch.net`.

Sources: grin-miner's and the Grin node's stratum server (`login`, `getjobtemplate`, `job` with
`pre_pow`, `submit` with `edge_bits`/`nonce`/`pow`, replies that echo `method`); RFC 9110 §9.3.6
(HTTP CONNECT), RFC 1928 (SOCKS5 greeting, CONNECT by domain name) and RFC 6455 (WebSocket framing).
"""

from __future__ import annotations

import random
from typing import Any

from minewatch.synth.dialects import Session, _Clock, _hex, _j, _share_loop, job_times
from minewatch.synth.tcp import C2S, S2C, Msg


def grin_stratum(
    duration: float,
    rng: random.Random,
    login: str = "alice",
    worker: str | None = "rig8",
    agent: str | None = "grin-miner",
    share_rate: float = 0.05,
    block_time: float = 60.0,
    reject_rate: float = 0.0,
    rtt: float = 0.03,
    keepalive: float | None = None,
) -> Session:
    """A grin-miner session: login, getjobtemplate, `job` pushes carrying `pre_pow`, Cuckatoo submits.

    Grin's stratum server echoes the request's `method` in every reply (`{"id":..,"method":"submit",
    "result":"ok"}`). The hashrate is in graphs per second and not derived here (`hashrate` None).
    `agent=None` omits the agent field (a login with nothing specific to mining in it).
    """
    k = _Clock(rng, rtt)
    height = rng.randint(2_500_000, 2_900_000)

    def req(i: int, method: str, params: Any) -> bytes:
        return _j({"id": str(i), "jsonrpc": "2.0", "method": method, "params": params}, True)

    def reply(i: int, method: str, result: Any, error: Any = None) -> bytes:
        return _j({"id": str(i), "jsonrpc": "2.0", "method": method, "result": result, "error": error}, True)

    def job(jid: int, h: int) -> dict[str, Any]:
        return {"difficulty": 4, "height": h, "job_id": jid, "pre_pow": _hex(rng, 222)}

    params: dict[str, Any] = {"login": login if worker is None else f"{login}.{worker}", "pass": "x"}
    if agent is not None:
        params["agent"] = agent
    t = 0.05
    k.c(t, req(0, "login", params))
    k.s(k.reply_t(t), reply(0, "login", "ok"))
    t += 0.2
    k.c(t, req(1, "getjobtemplate", None))
    t = k.reply_t(t)
    k.s(t, reply(1, "getjobtemplate", job(0, height)))
    k.next_id = 2
    jobs = [(t, "0")]
    for n, jt in enumerate(job_times(block_time, None, duration, rng, t)[1:], start=1):
        jobs.append((jt, str(n)))
        k.s(jt, _j({"id": "Stratum", "jsonrpc": "2.0", "method": "job", "params": job(n, height + n)}, True))

    def submit(st: float, i: int, jid: str) -> bytes:
        pw = sorted(rng.getrandbits(32) for _ in range(42))
        return req(i, "submit", {"edge_bits": 32, "height": height, "job_id": int(jid),
                                  "nonce": rng.getrandbits(64), "pow": pw})  # fmt: skip

    shares, rej = _share_loop(
        k, jobs, share_rate, duration, reject_rate, submit,
        lambda i: reply(i, "submit", "ok"),
        lambda i: reply(i, "submit", None, {"code": -32502, "message": "Failed to validate solution"}),
    )  # fmt: skip
    if keepalive:
        kt = keepalive
        while kt < duration:
            i = k.nid()
            k.c(kt, req(i, "keepalive", None))
            k.s(k.reply_t(kt), reply(i, "keepalive", "ok"))
            kt += keepalive
    k.msgs.sort(key=lambda m: m[0])
    return Session(k.msgs, "mining", "grin", "GRIN", worker, None, agent, None, None, None, shares, rej,
                   server_port=3416)  # fmt: skip


def rename_methods(messages: list[Msg], names: dict[str, str]) -> list[Msg]:
    """The same messages with JSON method names replaced: a dialect the dissector has never seen."""
    out: list[Msg] = []
    for t, d, b in messages:
        for old, new in names.items():
            b = b.replace(f'"method":"{old}"'.encode(), f'"method":"{new}"'.encode())
        out.append((t, d, b))
    return out


def with_keepalive(messages: list[Msg], every: float, body: bytes, duration: float) -> list[Msg]:
    """Add a client keepalive line (e.g. a generic JSON-RPC `ping`) every `every` seconds."""
    out = list(messages)
    t = every
    while t < duration:
        out.append((t, C2S, body))
        t += every
    out.sort(key=lambda m: m[0])
    return out


def via_http_connect(messages: list[Msg], target: str, rtt: float = 0.02) -> list[Msg]:
    """The session behind an HTTP CONNECT proxy: `CONNECT host:port` answered `200`, then the tunnel.

    The `200` reply carries no Content-Length (RFC 9110 §9.3.6: the tunnel begins right after the
    empty line), which is what a parser reading HTTP must not take for a body read until close.
    """
    t0 = messages[0][0] if messages else 0.0
    connect = f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nProxy-Connection: keep-alive\r\n\r\n"
    pre: list[Msg] = [
        (t0 - 2 * rtt - 0.01, C2S, connect.encode()),
        (t0 - rtt - 0.005, S2C, b"HTTP/1.1 200 Connection established\r\n\r\n"),
    ]
    return pre + list(messages)


def via_socks5(messages: list[Msg], host: str, port: int, rtt: float = 0.02) -> list[Msg]:
    """The session behind a SOCKS5 proxy (RFC 1928): greeting, no-auth choice, CONNECT by domain, success.

    The client's first application bytes follow the proxy's success reply in the same direction's
    stream, so a parser that does not know the preamble glues it to the first JSON line.
    """
    t0 = messages[0][0] if messages else 0.0
    h = host.encode()
    connect = b"\x05\x01\x00\x03" + bytes([len(h)]) + h + port.to_bytes(2, "big")
    ok = b"\x05\x00\x00\x01" + bytes([10, 0, 0, 1]) + (40000).to_bytes(2, "big")
    pre: list[Msg] = [
        (t0 - 4 * rtt - 0.02, C2S, b"\x05\x01\x00"),
        (t0 - 3 * rtt - 0.015, S2C, b"\x05\x00"),
        (t0 - 2 * rtt - 0.01, C2S, connect),
        (t0 - rtt - 0.005, S2C, ok),
    ]
    return pre + list(messages)


def ws_frame(payload: bytes, rng: random.Random, mask: bool, opcode: int = 1) -> bytes:
    """One final RFC 6455 frame; client frames are masked with a random key, server frames are not."""
    n = len(payload)
    hdr = bytes([0x80 | opcode])
    mbit = 0x80 if mask else 0
    if n < 126:
        hdr += bytes([mbit | n])
    elif n < 65536:
        hdr += bytes([mbit | 126]) + n.to_bytes(2, "big")
    else:
        hdr += bytes([mbit | 127]) + n.to_bytes(8, "big")
    if not mask:
        return hdr + payload
    key = rng.randbytes(4)
    return hdr + key + bytes(c ^ key[i & 3] for i, c in enumerate(payload))


def via_websocket(messages: list[Msg], host: str, rng: random.Random, path: str = "/") -> list[Msg]:
    """The session tunnelled through a WebSocket: HTTP Upgrade answered 101, then one text frame per
    message (what browser miners and websocket-to-TCP Stratum proxies do)."""
    t0 = messages[0][0] if messages else 0.0
    up = (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")  # fmt: skip
    switch = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")  # fmt: skip
    out: list[Msg] = [(t0 - 0.05, C2S, up.encode()), (t0 - 0.03, S2C, switch)]
    for t, d, b in messages:
        out.append((t, d, ws_frame(b.rstrip(b"\n"), rng, mask=d == C2S)))
    return out
