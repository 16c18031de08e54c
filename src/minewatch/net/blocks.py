"""Block-arrival feed for push/block correlation: a CSV file or a local bitcoind/monerod over JSON-RPC.

Why a feed: a pool pushes a new job within seconds of every block on its coin's chain. Knowing
when the blocks really arrived turns the "exponential gaps with the right mean" guess into a
direct test (MineHunter, ACSAC 2021, does this with a monerod log). The CSV form keeps the feed
usable offline: `coin,height,timestamp` with the timestamp as epoch seconds (int or float) or
ISO-8601. Node header timestamps are miner-set and can be off by minutes; a node's own arrival log
is better, so the CSV is the preferred input and the RPC client a convenience.

Output: `dict[coin, np.ndarray]` of sorted epoch seconds, the form `behavior` kernels accept.
"""

from __future__ import annotations

import base64
import csv
import gzip
import io
import json
import urllib.request
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from minewatch.errors import InputError, Rejects


def _parse_ts(s: str) -> float:
    s = s.strip()
    try:
        v = float(s)
    except ValueError:
        dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
        if dt.tzinfo is None:
            raise ValueError("ISO timestamp without a time zone") from None
        return dt.timestamp()
    return v / 1000.0 if v > 1e11 else v  # milliseconds


def read_blocks_csv(path: str | Path, rejects: Rejects | None = None) -> dict[str, np.ndarray]:
    """Read `coin,height,timestamp` rows (header required, extra columns ignored, .gz accepted).

    A missing column stops the read with an `InputError` naming the file and line; a bad row is
    skipped and counted in `rejects` with its line number.
    """
    p = Path(path)
    rejects = rejects if rejects is not None else Rejects()
    opener = gzip.open if p.suffix == ".gz" else open
    out: dict[str, list[float]] = defaultdict(list)
    try:
        fh = opener(p, "rt", encoding="utf-8", newline="")
    except OSError as e:
        raise InputError(f"cannot open block feed: {e}", path=str(p)) from None
    with fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise InputError("empty block feed (expected header coin,height,timestamp)", path=str(p), line=1)
        cols = [h.strip().lower() for h in header]
        missing = [c for c in ("coin", "height", "timestamp") if c not in cols]
        if missing:
            raise InputError(
                f"block feed header lacks {', '.join(missing)} (expected coin,height,timestamp)", path=str(p), line=1
            )
        ic, ih, it = cols.index("coin"), cols.index("height"), cols.index("timestamp")
        for row in reader:
            line = reader.line_num
            if not row or all(not x.strip() for x in row):
                continue
            try:
                coin = row[ic].strip().upper()
                int(row[ih])
                ts = _parse_ts(row[it])
                if not coin:
                    raise ValueError("empty coin")
            except (IndexError, ValueError) as e:
                rejects.add(f"bad block row ({e})", f"{p}:{line}")
                continue
            out[coin].append(ts)
    return {c: np.unique(np.asarray(v, dtype=float)) for c, v in out.items()}


#: default coin of each node kind (a fork of bitcoind names its coin in the spec: `bitcoind:LTC=URL`)
NODE_COINS = {"bitcoind": "BTC", "monerod": "XMR"}
#: block headers fetched per request (bitcoind batch size; monerod header range)
RPC_CHUNK = 500
#: most blocks one feed fetches for a scan (30 days of Monero; far more than any capture needs)
MAX_RPC_BLOCKS = 25_000
#: header times are set by miners and may run up to 2 h ahead (Bitcoin's rule); the search pads by it
HEADER_SLACK_S = 7200.0


class NodeRPC:
    """JSON-RPC client for a *local* bitcoind (or a fork: litecoind, dogecoind ...) or monerod, to list
    block times for a time window.

    Only header timestamps are available over RPC; they are miner-set and may be skewed by minutes,
    which the correlation window tolerates poorly — prefer a node's arrival log as CSV when one exists.
    Heights for a window are found by bisection on header times (padded by `HEADER_SLACK_S`, since
    those times are not strictly increasing), then the headers are fetched in chunks: batch requests
    for bitcoind, `get_block_headers_range` for monerod.
    """

    def __init__(self, url: str, *, kind: str, user: str | None = None, password: str | None = None,
                 coin: str | None = None, timeout_s: float = 10.0) -> None:  # fmt: skip
        if kind not in NODE_COINS:
            raise InputError(f"unknown node kind {kind!r} (bitcoind or monerod)")
        self.url = url
        self.kind = kind
        self.coin = (coin or NODE_COINS[kind]).upper()
        self.auth = (user, password) if user is not None else None
        self.timeout_s = timeout_s
        self.calls = 0

    @classmethod
    def from_spec(cls, spec: str) -> NodeRPC:
        """`KIND[:COIN]=URL`, e.g. `bitcoind=http://user:pass@127.0.0.1:8332`, `bitcoind:LTC=http://127.0.0.1:9332`,
        `monerod=http://127.0.0.1:18081`. Credentials in the URL are taken out of it (sent as Basic auth)."""
        from urllib.parse import unquote, urlsplit, urlunsplit

        head, sep, url = spec.partition("=")
        if not sep or not url:
            raise InputError(f"node RPC spec {spec!r}: expected KIND[:COIN]=URL, e.g. bitcoind=http://127.0.0.1:8332")
        kind, _, coin = head.strip().partition(":")
        u = urlsplit(url.strip())
        if u.scheme not in ("http", "https") or not u.hostname:
            raise InputError(f"node RPC spec {spec!r}: the URL must be http(s)://host:port")
        user = unquote(u.username) if u.username is not None else None
        password = unquote(u.password) if u.password is not None else None
        netloc = u.hostname if u.port is None else f"{u.hostname}:{u.port}"
        if ":" in u.hostname:  # IPv6 literal
            netloc = f"[{u.hostname}]" + (f":{u.port}" if u.port is not None else "")
        clean = urlunsplit((u.scheme, netloc, u.path, "", ""))
        return cls(clean, kind=kind.strip().lower(), user=user, password=password, coin=coin.strip() or None)

    def _post(self, body: Any) -> Any:
        url = self.url.rstrip("/") + ("/json_rpc" if self.kind == "monerod" else "/")
        req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        if self.auth:
            token = base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        self.calls += 1
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as r:
                return json.load(io.TextIOWrapper(r, encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise InputError(f"{self.kind} RPC at {self.url}: {e}", path=self.url) from None

    def _call(self, method: str, params: Any = None) -> Any:
        resp = self._post({"jsonrpc": "2.0", "id": "mw", "method": method, "params": params or []})
        if resp.get("error"):
            raise InputError(f"{self.kind} RPC {method}: {resp['error']}", path=self.url)
        return resp["result"]

    def _batch(self, method: str, params: list[Any]) -> list[Any]:
        """bitcoind's JSON-RPC batch: one round trip for many calls, answers matched by id."""
        out: list[Any] = []
        for k in range(0, len(params), RPC_CHUNK):
            part = params[k : k + RPC_CHUNK]
            resp = self._post([{"jsonrpc": "2.0", "id": j, "method": method, "params": p} for j, p in enumerate(part)])
            if not isinstance(resp, list):
                raise InputError(f"{self.kind} RPC {method}: batch request not answered with a list", path=self.url)
            by_id = {r.get("id"): r for r in resp}
            for j in range(len(part)):
                r = by_id.get(j)
                if r is None or r.get("error"):
                    raise InputError(f"{self.kind} RPC {method}{part[j]}: {r and r.get('error')}", path=self.url)
                out.append(r["result"])
        return out

    def tip(self) -> int:
        if self.kind == "monerod":
            return int(self._call("get_block_count")["count"]) - 1
        return int(self._call("getblockcount"))

    def _times(self, lo: int, hi: int) -> list[float]:
        """Header times of heights lo..hi (inclusive), in height order."""
        if hi < lo:
            return []
        if self.kind == "monerod":
            out: list[float] = []
            for a in range(lo, hi + 1, RPC_CHUNK):
                b = min(hi, a + RPC_CHUNK - 1)
                res = self._call("get_block_headers_range", {"start_height": a, "end_height": b})
                out += [float(h["timestamp"]) for h in res["headers"]]
            return out
        hashes = self._batch("getblockhash", [[h] for h in range(lo, hi + 1)])
        return [float(h["time"]) for h in self._batch("getblockheader", [[x] for x in hashes])]

    def _height_at(self, ts: float, tip: int) -> int:
        """The first height whose header time is >= ts (by bisection; times are nearly increasing)."""
        lo, hi = 0, tip + 1
        while lo < hi:
            mid = (lo + hi) // 2
            if self._times(mid, mid)[0] < ts:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def block_times_between(self, t0: float, t1: float) -> np.ndarray:
        """Sorted header times in [t0, t1]. More than `MAX_RPC_BLOCKS` heights is refused with the reason."""
        tip = self.tip()
        lo = self._height_at(t0 - HEADER_SLACK_S, tip)
        hi = min(tip, self._height_at(t1 + HEADER_SLACK_S, tip))
        if hi - lo + 1 > MAX_RPC_BLOCKS:
            raise InputError(
                f"{self.kind} RPC: {hi - lo + 1} blocks between the capture's start and end is more than "
                f"{MAX_RPC_BLOCKS}; give --since/--until or a CSV block feed", path=self.url)  # fmt: skip
        times = np.asarray(self._times(lo, hi), dtype=float)
        return np.sort(times[(times >= t0) & (times <= t1)])

    def block_times(self, count: int = 200) -> np.ndarray:
        """Header times of the last `count` blocks, sorted (live watch: the recent past)."""
        tip = self.tip()
        return np.sort(np.asarray(self._times(max(0, tip - count + 1), tip), dtype=float))


def rpc_feed(nodes: list[str] | list[NodeRPC], t0: float, t1: float) -> dict[str, np.ndarray]:
    """Block times per coin from local nodes (specs or clients) for [t0, t1], merged per coin, in the
    form the kernels take."""
    out: dict[str, list[np.ndarray]] = defaultdict(list)
    for n in nodes:
        node = NodeRPC.from_spec(n) if isinstance(n, str) else n
        out[node.coin].append(node.block_times_between(t0, t1))
    return {c: np.unique(np.concatenate(v)) for c, v in out.items()}


def merge_feeds(*feeds: dict[str, np.ndarray] | None) -> dict[str, np.ndarray] | None:
    """One feed from several (CSV and RPC); None when none was given."""
    got = [f for f in feeds if f is not None]
    if not got:
        return None
    coins = {c for f in got for c in f}
    return {c: np.unique(np.concatenate([f[c] for f in got if c in f])) for c in coins}


class LiveBlockFeed:
    """Block times for a live watch: the CSV feed (fixed) plus local nodes asked every `every_s` for
    the blocks since the last ask. Only the last `keep_s` are kept (a watch runs for days), which is
    more than any open flow's judged stretch. A node that fails is reported and asked again later:
    a live watch does not stop because the node restarts."""

    def __init__(self, specs: list[str], csv_feed: dict[str, np.ndarray] | None = None, *,
                 every_s: float = 300.0, keep_s: float = 2 * 86400.0, first_window_s: float = 6 * 3600.0) -> None:  # fmt: skip
        self.nodes = [NodeRPC.from_spec(s) for s in specs]
        self.csv_feed = csv_feed
        self.every_s, self.keep_s, self.first_window_s = every_s, keep_s, first_window_s
        self._have: dict[str, np.ndarray] = {}
        self._asked_until: float | None = None
        self._last_try: float | None = None
        self.failures = 0
        self.last_error: str | None = None

    def blocks(self) -> dict[str, np.ndarray] | None:
        return merge_feeds(self.csv_feed, self._have or None)

    def refresh(self, now: float) -> bool:
        """Ask the nodes when due; True when the feed changed."""
        if self._last_try is not None and now - self._last_try < self.every_s:
            return False
        self._last_try = now
        t0 = (self._asked_until - HEADER_SLACK_S) if self._asked_until is not None else now - self.first_window_s
        try:
            got = rpc_feed(self.nodes, t0, now)
        except InputError as e:
            self.failures += 1
            self.last_error = str(e)
            return False
        self._asked_until = now
        merged = merge_feeds(self._have or None, got) or {}
        self._have = {c: v[v >= now - self.keep_s] for c, v in merged.items()}
        return True
