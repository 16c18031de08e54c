"""A small local Stratum v1 / XMRig pool, plain or TLS, for tests, the probe and the TLS benchmark.

Why an emulator: the probe may only ever be tested against 127.0.0.1, and the encrypted-mining
benchmark needs real TLS sessions whose job timing we control (block arrivals drawn from a coin's
exponential block time, a refresh timer). The message builders here are also what the synthetic
generator measures, so simulated and captured message sizes come from the same JSON.

Speaks just enough of each protocol for a miner and a prober to believe it:
Stratum v1 — mining.subscribe, mining.authorize (then set_difficulty + notify), mining.submit,
mining.configure, mining.extranonce.subscribe; XMRig/CryptoNote — login (result with a job),
submit, keepalived, getjob. The self-signed certificate is made at runtime with the openssl CLI.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# ----------------------------------------------------------------------------------------------
# message builders (one JSON object per line, compact like XMRig/rapidjson and most pools)
# ----------------------------------------------------------------------------------------------


def _line(obj: dict[str, Any]) -> bytes:
    return (json.dumps(obj, separators=(",", ":")) + "\n").encode()


def _hex(nbytes: int, rnd: Any = None) -> str:
    if rnd is None:
        return secrets.token_hex(nbytes)
    return bytes(rnd.getrandbits(8) for _ in range(nbytes)).hex()


def stratum_subscribe(agent: str = "cgminer/4.12.1", msg_id: int = 1) -> bytes:
    return _line({"id": msg_id, "method": "mining.subscribe", "params": [agent]})


def stratum_subscribe_result(msg_id: Any, extranonce1: str, en2_size: int = 4) -> bytes:
    subs = [["mining.set_difficulty", "d1"], ["mining.notify", "n1"]]
    return _line({"id": msg_id, "result": [subs, extranonce1, en2_size], "error": None})


def stratum_authorize(worker: str, msg_id: int = 2, password: str = "x") -> bytes:
    return _line({"id": msg_id, "method": "mining.authorize", "params": [worker, password]})


def stratum_set_difficulty(diff: float) -> bytes:
    return _line({"id": None, "method": "mining.set_difficulty", "params": [diff]})


def stratum_notify(job_id: str, n_merkle: int, clean: bool, rnd: Any = None) -> bytes:
    params = [
        job_id,
        _hex(32, rnd),
        _hex(48, rnd),
        _hex(40, rnd),
        [_hex(32, rnd) for _ in range(n_merkle)],
        "20000000",
        "1703a30c",
        f"{int(time.time()):08x}",
        clean,
    ]
    return _line({"id": None, "method": "mining.notify", "params": params})


def stratum_submit(worker: str, job_id: str, msg_id: int, rnd: Any = None) -> bytes:
    params = [worker, job_id, _hex(4, rnd), f"{int(time.time()):08x}", _hex(4, rnd)]
    return _line({"id": msg_id, "method": "mining.submit", "params": params})


def result_true(msg_id: Any) -> bytes:
    return _line({"id": msg_id, "result": True, "error": None})


def xmrig_login(wallet: str, agent: str = "XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0") -> bytes:
    params = {"login": wallet, "pass": "x", "agent": agent, "algo": ["rx/0", "cn/r", "cn/2"]}
    return _line({"id": 1, "jsonrpc": "2.0", "method": "login", "params": params})


def xmrig_job(job_id: str, height: int, rnd: Any = None) -> dict[str, Any]:
    return {
        "blob": _hex(76, rnd),
        "job_id": job_id,
        "target": "b88d0600",
        "algo": "rx/0",
        "height": height,
        "seed_hash": _hex(32, rnd),
    }


def xmrig_login_result(msg_id: Any, rpc_id: str, job: dict[str, Any]) -> bytes:
    res = {"id": rpc_id, "job": job, "extensions": ["algo", "nicehash", "connect", "tls", "keepalive"], "status": "OK"}
    return _line({"id": msg_id, "jsonrpc": "2.0", "error": None, "result": res})


def xmrig_job_push(job: dict[str, Any]) -> bytes:
    return _line({"jsonrpc": "2.0", "method": "job", "params": job})


def xmrig_submit(msg_id: int, rpc_id: str, job_id: str, rnd: Any = None) -> bytes:
    params = {"id": rpc_id, "job_id": job_id, "nonce": _hex(4, rnd), "result": _hex(32, rnd), "algo": "rx/0"}
    return _line({"id": msg_id, "jsonrpc": "2.0", "method": "submit", "params": params})


def xmrig_status(msg_id: Any, status: str = "OK") -> bytes:
    return _line({"id": msg_id, "jsonrpc": "2.0", "error": None, "result": {"status": status}})


def xmrig_keepalived(msg_id: int, rpc_id: str) -> bytes:
    return _line({"id": msg_id, "jsonrpc": "2.0", "method": "keepalived", "params": {"id": rpc_id}})


def error_reply(msg_id: Any, code: int, message: str) -> bytes:
    return _line({"id": msg_id, "jsonrpc": "2.0", "error": {"code": code, "message": message}})


# ----------------------------------------------------------------------------------------------
# TLS material
# ----------------------------------------------------------------------------------------------


def make_self_signed(directory: str | Path, cn: str = "pool.invalid") -> tuple[Path, Path]:
    """A throw-away EC certificate and key made with the openssl CLI (no extra Python dependency)."""
    exe = shutil.which("openssl")
    if exe is None:
        raise RuntimeError("openssl CLI not found: needed to create the emulator's TLS certificate")
    d = Path(directory)
    cert, key = d / "pool-cert.pem", d / "pool-key.pem"
    subprocess.run(
        [exe, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-days", "2", "-subj", f"/CN={cn}", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return cert, key


# ----------------------------------------------------------------------------------------------
# the server
# ----------------------------------------------------------------------------------------------


class PoolEmulator:
    """A threaded pool on 127.0.0.1 (use as a context manager).

    `protocol`: "auto" answers both dialects, "stratum" or "xmrig" only one (the other gets a
    JSON-RPC error, as a real pool of the other kind would), "silent" accepts and never answers,
    "http" answers like a web server — the last two are the probe's negative controls.
    `push_schedule(session_name)` may return job push times in seconds after login; the
    benchmark uses it to replay a coin's block arrivals in compressed time.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = False,
        protocol: str = "auto",
        push_schedule: Callable[[str], list[float]] | None = None,
        n_merkle: int = 10,
    ) -> None:
        self.host = host
        self.tls = tls
        self.protocol = protocol
        self.push_schedule = push_schedule
        self.n_merkle = n_merkle
        self._sock = socket.create_server((host, port))
        self.port = self._sock.getsockname()[1]
        self._ctx: ssl.SSLContext | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if tls:
            self._tmp = tempfile.TemporaryDirectory(prefix="mw-pool-")
            cert, key = make_self_signed(self._tmp.name)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            self._ctx = ctx
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.sessions: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    # context management ------------------------------------------------------------------
    def __enter__(self) -> PoolEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> None:
        t = threading.Thread(target=self._accept_loop, name="pool-accept", daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._sock.close()
        for t in self._threads:
            t.join(timeout=2.0)
        if self._tmp is not None:
            self._tmp.cleanup()

    def _accept_loop(self) -> None:
        self._sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            self._threads.append(t)

    # one connection ----------------------------------------------------------------------
    def _serve(self, raw: socket.socket) -> None:
        conn: socket.socket = raw
        try:
            if self._ctx is not None:
                raw.settimeout(5.0)
                conn = self._ctx.wrap_socket(raw, server_side=True)
            conn.settimeout(0.02)  # push timing granularity: 20 ms (1.2 s at 60x compression)
            self._session(conn)
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def _session(self, conn: socket.socket) -> None:
        state: dict[str, Any] = {"name": None, "pushes": [], "start": None, "jobs": 0, "shares": 0}
        with self._lock:
            self.sessions.append(state)
        send_lock = threading.Lock()

        def send(data: bytes) -> None:
            with send_lock:
                conn.sendall(data)

        buf = b""
        while not self._stop.is_set():
            self._due_pushes(state, send)
            try:
                chunk = conn.recv(65536)
            except (TimeoutError, ssl.SSLWantReadError):
                continue
            if not chunk:
                return
            if self.protocol == "silent":
                continue
            if self.protocol == "http":
                send(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.strip():
                    self._handle(line, state, send)
            if len(buf) > 65536:
                return

    def _due_pushes(self, state: dict[str, Any], send: Callable[[bytes], None]) -> None:
        if state["start"] is None or not state["pushes"]:
            return
        now = time.monotonic() - state["start"]
        while state["pushes"] and state["pushes"][0] <= now:
            state["pushes"].pop(0)
            state["jobs"] += 1
            if state.get("dialect") == "xmrig":
                send(xmrig_job_push(xmrig_job(f"j{state['jobs']}", 3_100_000 + state["jobs"])))
            else:
                send(stratum_notify(f"{state['jobs']:x}", self.n_merkle, clean=True))

    def _begin(self, state: dict[str, Any], name: str, dialect: str) -> None:
        state["name"] = name
        state["dialect"] = dialect
        state["start"] = time.monotonic()
        if self.push_schedule is not None:
            state["pushes"] = sorted(self.push_schedule(name))

    def _handle(self, line: bytes, state: dict[str, Any], send: Callable[[bytes], None]) -> None:
        try:
            msg = json.loads(line)
        except ValueError:
            send(error_reply(None, -32700, "Parse error"))
            return
        if not isinstance(msg, dict):
            send(error_reply(None, -32600, "Invalid request"))
            return
        method, mid, params = msg.get("method"), msg.get("id"), msg.get("params")
        stratum_ok = self.protocol in ("auto", "stratum")
        xmrig_ok = self.protocol in ("auto", "xmrig")
        if method == "mining.subscribe" and stratum_ok:
            send(stratum_subscribe_result(mid, secrets.token_hex(4)))
        elif method == "mining.configure" and stratum_ok:
            send(_line({"id": mid, "result": {"version-rolling": False}, "error": None}))
        elif method == "mining.extranonce.subscribe" and stratum_ok:
            send(result_true(mid))
        elif method == "mining.authorize" and stratum_ok:
            worker = params[0] if isinstance(params, list) and params else "?"
            self._begin(state, str(worker), "stratum")
            send(result_true(mid))
            send(stratum_set_difficulty(65536))
            state["jobs"] += 1
            send(stratum_notify(f"{state['jobs']:x}", self.n_merkle, clean=True))
        elif method == "mining.submit" and stratum_ok:
            state["shares"] += 1
            send(result_true(mid))
        elif method == "login" and xmrig_ok:
            login = params.get("login") if isinstance(params, dict) else None
            self._begin(state, str(login), "xmrig")
            state["jobs"] += 1
            state["rpc_id"] = secrets.token_hex(8)
            send(xmrig_login_result(mid, state["rpc_id"], xmrig_job("j1", 3_100_000)))
        elif method == "submit" and xmrig_ok:
            state["shares"] += 1
            send(xmrig_status(mid, "OK"))
        elif method == "keepalived" and xmrig_ok:
            send(xmrig_status(mid, "KEEPALIVED"))
        elif method == "getjob" and xmrig_ok:
            send(_line({"id": mid, "jsonrpc": "2.0", "error": None, "result": xmrig_job("j0", 3_100_000)}))
        else:
            send(error_reply(mid, -32601, "Method not found"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


if __name__ == "__main__":  # manual use: python -m minewatch.net.pool_emulator [tls]
    import sys

    with PoolEmulator(tls="tls" in sys.argv[1:], port=int(os.environ.get("PORT", "0"))) as pool:
        print(f"pool emulator on {pool.address} (tls={pool.tls}); Ctrl-C to stop")
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
