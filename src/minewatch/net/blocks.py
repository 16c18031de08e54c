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


class NodeRPC:
    """Minimal JSON-RPC client for a *local* bitcoind (or fork) or monerod to list block times.

    Only header timestamps are available over RPC; they are miner-set and may be skewed, which the
    correlation window tolerates poorly — prefer an arrival log when one exists.
    """

    def __init__(self, url: str, *, kind: str, user: str | None = None, password: str | None = None) -> None:
        if kind not in ("bitcoind", "monerod"):
            raise InputError(f"unknown node kind {kind!r} (bitcoind or monerod)")
        self.url = url
        self.kind = kind
        self.auth = (user, password) if user is not None else None

    def _call(self, method: str, params: Any = None) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "id": "mw", "method": method, "params": params or []}).encode()
        url = self.url.rstrip("/") + ("/json_rpc" if self.kind == "monerod" else "/")
        req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
        if self.auth:
            token = base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(req, timeout=10) as r:
            resp = json.load(io.TextIOWrapper(r, encoding="utf-8"))
        if resp.get("error"):
            raise InputError(f"{self.kind} RPC {method}: {resp['error']}", path=self.url)
        return resp["result"]

    def block_times(self, count: int = 200) -> np.ndarray:
        """Header timestamps of the last `count` blocks, sorted."""
        if self.kind == "monerod":
            top = int(self._call("get_block_count")["count"]) - 1
            res = self._call("get_block_headers_range", {"start_height": max(0, top - count + 1), "end_height": top})
            return np.sort(np.array([h["timestamp"] for h in res["headers"]], dtype=float))
        tip = int(self._call("getblockcount"))
        times = []
        for h in range(max(0, tip - count + 1), tip + 1):
            times.append(self._call("getblockheader", [self._call("getblockhash", [h])])["time"])
        return np.sort(np.array(times, dtype=float))
