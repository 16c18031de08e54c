"""Confirm a suspected pool by speaking to it: Stratum v1 subscribe, then an XMRig login.

Why a probe: timing-based detection of encrypted mining raises suspicions, not proof. Asking the
endpoint "are you a pool?" in its own protocol is what let MineShark discard over 99 % of its
false alarms and what CESNET's miner_detector and sMaSheD do. It is never run automatically — it
contacts a third party, so a person asks for it (`minewatch probe HOST:PORT`), and it sends only a
subscribe and a login with the obviously fake worker name below (no hashing, no shares).

Verdicts: `stratum-v1` (subscribe answered with a subscription tuple), `xmrig` (login answered
with a job or a JSON-RPC error naming the login), `json-rpc` (some JSON-RPC answer, not a pool
handshake), `not-a-pool` (answered otherwise), `silent` (connected, said nothing), `tls-failed` (connected,
but no TLS handshake), `unreachable`.
"""

from __future__ import annotations

import hashlib
import json
import math
import socket
import ssl
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import typer
from rich.text import Text

from minewatch.errors import InputError
from minewatch.i18n import current, tr

PROBE_WORKER = "minewatch-probe"
PROBE_AGENT = "minewatch-probe/0.1"
POOL_VERDICTS = ("stratum-v1", "xmrig")


@dataclass(slots=True)
class ProbeResult:
    """What answered at HOST:PORT; `answers` keeps the first bytes of each reply for the record."""

    host: str
    port: int
    tls_requested: bool
    verdict: str = "unreachable"
    tls_version: str | None = None
    tls_cipher: str | None = None
    cert_sha256: str | None = None
    cert_subject: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    answers: list[str] = field(default_factory=list)
    error: str | None = None
    elapsed_s: float | None = None

    @property
    def is_pool(self) -> bool:
        return self.verdict in POOL_VERDICTS

    def to_record(self) -> dict[str, Any]:
        d = asdict(self)
        d["is_pool"] = self.is_pool
        return d


#: URL schemes of a pool address as miners configure it, and whether each one means TLS
TARGET_SCHEMES = {"stratum+tcp://": False, "stratum+ssl://": True, "stratum+tls://": True, "stratum://": False,
                  "tcp://": False, "ssl://": True, "tls://": True}  # fmt: skip


def target_wants_tls(target: str) -> bool:
    """A pool URL copied from a miner's config says whether the pool speaks TLS (stratum+ssl://)."""
    t = target.strip().lower()
    return any(t.startswith(k) and v for k, v in TARGET_SCHEMES.items())


def parse_target(target: str) -> tuple[str, int]:
    """HOST:PORT, [v6]:PORT or a stratum+tcp:// / stratum+ssl:// URL (see `target_wants_tls`)."""
    t = target.strip()
    for scheme in TARGET_SCHEMES:
        if t.lower().startswith(scheme):
            t = t[len(scheme) :]
            break
    t = t.rstrip("/")
    if t.startswith("["):
        host, _, rest = t[1:].partition("]")
        port_s = rest.lstrip(":")
    else:
        host, _, port_s = t.rpartition(":")
    if not host or not port_s.isdigit() or not 0 < int(port_s) < 65536:
        raise InputError(f"expected HOST:PORT, got {target!r}")
    return host, int(port_s)


class TlsFailed(Exception):
    """TCP connected but the TLS handshake did not complete: the endpoint is reachable, just not TLS."""


def _connect(host: str, port: int, tls: bool, timeout_s: float, res: ProbeResult) -> socket.socket:
    raw = socket.create_connection((host, port), timeout=timeout_s)
    if not tls:
        return raw
    ctx = ssl.create_default_context()
    # a pool's certificate is usually self-signed; the probe records it instead of trusting it
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        s = ctx.wrap_socket(raw, server_hostname=host if not host.replace(".", "").isdigit() else None)
    except (OSError, ssl.SSLError) as e:
        raw.close()
        raise TlsFailed(f"{type(e).__name__}: {e}") from e
    res.tls_version = s.version()
    c = s.cipher()
    res.tls_cipher = c[0] if c else None
    der = s.getpeercert(binary_form=True)
    if der:
        res.cert_sha256 = hashlib.sha256(der).hexdigest()
    return s


def _exchange(sock: socket.socket, payload: bytes, timeout_s: float) -> list[dict[str, Any] | str]:
    """Send one line, collect reply lines until a JSON-RPC answer with an id arrives or time runs out."""
    sock.sendall(payload)
    deadline = time.monotonic() + timeout_s
    buf = b""
    out: list[dict[str, Any] | str] = []
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, ssl.SSLError, OSError):
            break
        if not chunk:
            break
        buf += chunk
        if b"\n" not in buf and len(buf) < 4096:
            continue
        lines = buf.split(b"\n")
        buf = lines.pop() if b"\n" in buf else b""
        done = False
        for line in lines or [buf]:
            text = line.decode("utf-8", "replace").strip()
            if not text:
                continue
            try:
                obj = json.loads(text)
            except (ValueError, RecursionError):  # a hostile server can nest "[" thousands deep
                out.append(text[:200])
                done = True
                continue
            if isinstance(obj, dict):
                out.append(obj)
                if obj.get("id") is not None and ("result" in obj or "error" in obj):
                    done = True
            else:
                out.append(text[:200])
        if done or len(out) >= 8:
            break
    if buf.strip():
        out.append(buf.decode("utf-8", "replace").strip()[:200])
    return out


def _short(x: dict[str, Any] | str) -> str:
    s = x if isinstance(x, str) else json.dumps(x, separators=(",", ":"))
    return s[:300]


def probe_endpoint(host: str, port: int, *, tls: bool = False, timeout_s: float = 5.0) -> ProbeResult:
    """Ask HOST:PORT whether it is a Stratum v1 or XMRig pool; never raises for network trouble."""
    res = ProbeResult(host=host, port=port, tls_requested=tls)
    t0 = time.monotonic()
    try:
        sock = _connect(host, port, tls, timeout_s, res)
    except TlsFailed as e:
        res.verdict = "tls-failed"
        res.error = str(e)
        res.elapsed_s = round(time.monotonic() - t0, 3)
        return res
    except (OSError, ssl.SSLError) as e:
        res.error = f"{type(e).__name__}: {e}"
        res.elapsed_s = round(time.monotonic() - t0, 3)
        return res
    verdict = "silent"
    try:
        with sock:
            replies = _exchange(sock, _line({"id": 1, "method": "mining.subscribe", "params": [PROBE_AGENT]}), timeout_s)
            res.answers.extend(_short(r) for r in replies)
            v = _judge_subscribe(replies, res)
            verdict = v or ("not-a-pool" if replies else "silent")
    except (OSError, ssl.SSLError) as e:
        res.error = f"{type(e).__name__}: {e}"
    if verdict not in POOL_VERDICTS:
        try:
            sock = _connect(host, port, tls, timeout_s, res)
            with sock:
                login = {"login": PROBE_WORKER, "pass": "x", "agent": PROBE_AGENT, "algo": ["rx/0"]}
                replies = _exchange(
                    sock, _line({"id": 1, "jsonrpc": "2.0", "method": "login", "params": login}), timeout_s
                )
                res.answers.extend(_short(r) for r in replies)
                v = _judge_login(replies, res)
                if v is not None:
                    verdict = v
                elif replies and verdict == "silent":
                    verdict = "not-a-pool"
        except (OSError, ssl.SSLError, TlsFailed) as e:
            res.error = res.error or f"{type(e).__name__}: {e}"
    res.verdict = verdict
    res.elapsed_s = round(time.monotonic() - t0, 3)
    return res


#: Chinese labels of the answer fields a pool sent (the protocol's own names stay, explained)
_DETAIL_ZH = {"extranonce1": "extranonce1（矿池分配的前缀）", "extranonce2_size": "extranonce2 长度（字节）",
              "subscriptions": "订阅", "extensions": "扩展", "login_error": "登录错误"}


def _detail_label_zh(key: str) -> str:
    """A probe detail key for a Chinese reader: known keys explained, `job_X` as `任务 X`."""
    if key in _DETAIL_ZH:
        return _DETAIL_ZH[key]
    return f"任务 {key[4:]}" if key.startswith("job_") else key


def _safe(text: str) -> Text:
    """Server text for the terminal: control characters (ESC, BEL, ...) shown as escapes, no markup."""
    cleaned = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
    return Text(cleaned)


def _line(obj: dict[str, Any]) -> bytes:
    return (json.dumps(obj, separators=(",", ":")) + "\n").encode()


def _judge_subscribe(replies: list[dict[str, Any] | str], res: ProbeResult) -> str | None:
    json_rpc = False
    for r in replies:
        if not isinstance(r, dict):
            continue
        json_rpc = json_rpc or "id" in r or "method" in r
        result = r.get("result")
        if r.get("id") == 1 and isinstance(result, list) and len(result) >= 2:
            subs = result[0]
            if isinstance(result[1], str):
                res.details["extranonce1"] = result[1]
            if len(result) >= 3 and isinstance(result[2], int):
                res.details["extranonce2_size"] = result[2]
            if isinstance(subs, list):
                res.details["subscriptions"] = subs
            return "stratum-v1"
        if r.get("method") in ("mining.notify", "mining.set_difficulty"):
            return "stratum-v1"
    return "json-rpc" if json_rpc else None


def _judge_login(replies: list[dict[str, Any] | str], res: ProbeResult) -> str | None:
    json_rpc = False
    for r in replies:
        if not isinstance(r, dict):
            continue
        json_rpc = True
        result = r.get("result")
        if isinstance(result, dict) and isinstance(result.get("job"), dict):
            job = result["job"]
            for k in ("algo", "height", "target"):
                if k in job:
                    res.details[f"job_{k}"] = job[k]
            if "extensions" in result:
                res.details["extensions"] = result["extensions"]
            return "xmrig"
        err = r.get("error")
        msg = str(err.get("message", "")) if isinstance(err, dict) else str(err or "")
        # a CryptoNote pool rejects the fake wallet but says so in pool words
        if any(w in msg.lower() for w in ("address", "wallet", "login", "miner", "worker")):
            res.details["login_error"] = msg[:200]
            return "xmrig"
        if r.get("method") == "job":
            return "xmrig"
    return "json-rpc" if json_rpc else None


def probe(
    target: str = typer.Argument(..., help=tr("Suspected pool as HOST:PORT", "可疑矿池地址 HOST:PORT")),
    tls: bool = typer.Option(False, "--tls", help=tr("Speak TLS first (stratum+ssl)", "先建立 TLS（stratum+ssl）")),
    timeout_s: float = typer.Option(5.0, "--timeout", help=tr("Seconds to wait per step", "每一步等待的秒数")),
) -> None:
    """Ask one endpoint, on request only, whether it answers as a mining pool (Stratum v1 / XMRig).

    仅在请求时询问一个端点，看它是否以矿池身份应答（Stratum v1 / XMRig）。
    """
    from rich.console import Console
    from rich.table import Table

    console = Console()
    try:
        host, port = parse_target(target)
        if not (timeout_s > 0 and math.isfinite(timeout_s)):
            raise InputError(f"--timeout must be a positive number of seconds, got {timeout_s}")
    except InputError as e:
        from rich.markup import escape

        from minewatch.messages_zh import error_prefix, error_text

        sep = "" if current() == "zh" else " "
        console.print(f"[red]{error_prefix().strip()}[/red]{sep}{escape(error_text(e))}", markup=True, highlight=False)
        raise typer.Exit(2) from None
    tls = tls or target_wants_tls(target)
    res = probe_endpoint(host, port, tls=tls, timeout_s=timeout_s)
    verdict_text = {
        "stratum-v1": tr("a Stratum v1 mining pool answered", "Stratum v1 矿池作出了应答"),
        "xmrig": tr("an XMRig/CryptoNote mining pool answered", "XMRig/CryptoNote 矿池作出了应答"),
        "json-rpc": tr("a JSON-RPC service answered, but not as a pool", "JSON-RPC 服务作出了应答，但不是矿池"),
        "not-a-pool": tr("something answered, not a mining pool", "有应答，但不是矿池"),
        "silent": tr("connected, but nothing answered", "已连接，但没有应答"),
        "unreachable": tr("could not connect", "无法连接"),
        "tls-failed": tr("connected, but the TLS handshake failed (try without --tls / stratum+tcp://)",
                         "已连接，但 TLS 握手失败（可去掉 --tls 或改用 stratum+tcp:// 重试）"),
    }[res.verdict]
    table = Table(title=tr(f"Probe of {host}:{port}", f"探测 {host}:{port}"), show_header=False)
    table.add_row(tr("Verdict", "结论"), tr(f"{res.verdict}: {verdict_text}", f"{verdict_text}（{res.verdict}）"))
    if tls:
        table.add_row("TLS", f"{res.tls_version or '-'} {res.tls_cipher or ''}")
        table.add_row(tr("Certificate SHA-256", "证书 SHA-256"), res.cert_sha256 or "-")
    # what the server sent is shown, never interpreted: no Rich markup, no terminal escape sequences
    for k, v in res.details.items():
        table.add_row(_safe(tr(k, _detail_label_zh(k))), _safe(str(v)[:120]))
    for a in res.answers[:4]:
        table.add_row(tr("Answer", "应答"), _safe(a[:160]))
    if res.error:  # "ConnectionRefusedError: ..." in English; the kind of failure worded for the reader
        from minewatch.messages_zh import say

        table.add_row(tr("Error", "错误"), _safe(say(res.error)))
    table.add_row(tr("Time", "耗时"), tr(f"{res.elapsed_s} s", f"{res.elapsed_s} 秒"))
    console.print(table)
    raise typer.Exit(0 if res.is_pool else 3)
