"""Block times from a local node (`--blocks-rpc`): the JSON-RPC client against small bitcoind- and
monerod-like servers on 127.0.0.1 that the test starts, and a scan whose TLS pool session is matched
to the node's blocks (MineHunter's test) — and is not matched to a node whose blocks are elsewhere."""

from __future__ import annotations

import base64
import json
import random
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from minewatch.cli import app
from minewatch.errors import InputError
from minewatch.net.blocks import NodeRPC, merge_feeds
from minewatch.synth import dialects
from minewatch.synth.pcapwriter import write_capture
from minewatch.synth.tcp import tcp_session

T0 = 1_700_000_000.0


class FakeNode:
    """A chain of header times served as bitcoind (batch JSON-RPC, Basic auth) or monerod (json_rpc)."""

    def __init__(self, kind: str, times: list[float], auth: tuple[str, str] | None = None) -> None:
        self.kind, self.times, self.auth = kind, [float(t) for t in times], auth
        self.requests = 0
        node = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a: object) -> None:
                pass

            def do_POST(self) -> None:
                node.requests += 1
                if node.auth is not None:
                    want = "Basic " + base64.b64encode(f"{node.auth[0]}:{node.auth[1]}".encode()).decode()
                    if self.headers.get("Authorization") != want:
                        self.send_response(401)
                        self.end_headers()
                        return
                req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                out = [node.answer(r) for r in req] if isinstance(req, list) else node.answer(req)
                body = json.dumps(out).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, r: dict) -> dict:
        m, p = r["method"], r.get("params") or []
        if self.kind == "bitcoind":
            res = {"getblockcount": lambda: len(self.times) - 1,
                   "getblockhash": lambda: f"h{p[0]:064d}",
                   "getblockheader": lambda: {"time": int(self.times[int(p[0][1:])])}}[m]()  # fmt: skip
        elif m == "get_block_count":
            res = {"count": len(self.times), "status": "OK"}
        else:  # get_block_headers_range
            a, b = int(p["start_height"]), int(p["end_height"])
            res = {"headers": [{"height": h, "timestamp": int(self.times[h])} for h in range(a, b + 1)]}
        return {"jsonrpc": "2.0", "id": r.get("id"), "result": res, "error": None}

    def __enter__(self) -> FakeNode:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


def chain_around(inside: np.ndarray, t0: float, t1: float, spacing: float, rng: np.random.Generator) -> list[float]:
    """Blocks every `spacing` s for days before and after [t0, t1], and exactly `inside` within it."""
    before = np.arange(t0 - 3 * 86400, t0 - 1, spacing) + rng.uniform(0, 5, int(np.ceil((3 * 86400 - 1) / spacing)))
    after = np.arange(t1 + spacing, t1 + 86400, spacing)
    return sorted(np.concatenate([before[before < t0], inside, after]).tolist())


def test_window_from_either_node_kind_is_exact() -> None:
    rng = np.random.default_rng(3)
    inside = np.sort(rng.uniform(T0, T0 + 4 * 3600, 100)).round()
    chain = chain_around(inside, T0, T0 + 4 * 3600, 120.0, rng)
    for kind, auth in (("bitcoind", ("rpc", "s3cret")), ("monerod", None)):
        with FakeNode(kind, chain, auth) as node:
            url = node.url.replace("http://", "http://rpc:s3cret@") if auth else node.url
            rpc = NodeRPC.from_spec(f"{kind}={url}")
            assert rpc.auth == auth and "s3cret" not in rpc.url  # credentials go to the header, not the URL
            got = rpc.block_times_between(T0, T0 + 4 * 3600)
            assert np.array_equal(got, inside), kind
            assert rpc.coin == {"bitcoind": "BTC", "monerod": "XMR"}[kind]
            # bisection and chunked fetches: far fewer requests than blocks on the chain
            assert node.requests < 150


def test_spec_errors_and_a_node_that_refuses() -> None:
    for bad in ("bitcoind", "bitcoind=ftp://x", "geth=http://127.0.0.1:1"):
        with pytest.raises(InputError):
            NodeRPC.from_spec(bad)
    assert NodeRPC.from_spec("bitcoind:ltc=http://127.0.0.1:9332").coin == "LTC"
    with FakeNode("bitcoind", [T0, T0 + 600], auth=("rpc", "right")) as node:
        rpc = NodeRPC.from_spec(f"bitcoind={node.url.replace('http://', 'http://rpc:wrong@')}")
        with pytest.raises(InputError, match="bitcoind RPC"):
            rpc.block_times_between(T0, T0 + 600)
    assert merge_feeds(None, None) is None
    m = merge_feeds({"BTC": np.array([1.0, 3.0])}, {"BTC": np.array([2.0, 3.0]), "XMR": np.array([5.0])})
    assert m is not None and m["BTC"].tolist() == [1.0, 2.0, 3.0] and m["XMR"].tolist() == [5.0]


@pytest.fixture(scope="module")
def tls_ltc_capture(tmp_path_factory) -> Iterator[tuple[Path, np.ndarray, list]]:
    rng = random.Random(21)
    s = dialects.stratum_v1(3 * 3600, rng, coin="LTC", block_time=150.0, refresh=None)
    notify = [t for t, d, b in s.messages if d == "s2c" and b"mining.notify" in b]
    blocks = T0 + np.array(notify[1:]) - 1.0  # the pool pushes a job ~1 s after each block
    s = dialects.over_tls(s, None, rng, port=443)
    pkts = tcp_session(("10.1.0.5", 40001), ("198.51.100.7", 443), s.messages, T0, random.Random(2))
    path = write_capture(tmp_path_factory.mktemp("rpc") / "ltc-tls.pcap", pkts)
    yield path, blocks, pkts


def _scan(cap: Path, *extra: str) -> tuple[int, list[dict], str]:
    r = CliRunner().invoke(app, ["scan", str(cap), "--no-store", "-q", "--format", "jsonl", *extra])
    rows = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    return r.exit_code, rows, r.stderr


def test_scan_correlates_pushes_with_the_nodes_blocks(tls_ltc_capture, tmp_home) -> None:
    cap, blocks, _ = tls_ltc_capture
    assert len(blocks) >= 30
    rng = np.random.default_rng(9)
    real = chain_around(blocks, T0, T0 + 3 * 3600, 150.0, rng)
    elsewhere = chain_around(np.sort(rng.uniform(T0, T0 + 3 * 3600, len(blocks))), T0, T0 + 3 * 3600, 150.0, rng)
    with FakeNode("bitcoind", real, auth=("rpc", "pw")) as good, FakeNode("bitcoind", elsewhere) as bad:
        code, rows, stderr = _scan(cap, "--blocks-rpc", f"bitcoind:LTC={good.url.replace('http://', 'http://rpc:pw@')}")
        assert code == 0, stderr
        assert "Block times from local node(s): LTC" in stderr
        (f,) = [x for x in rows if x["dst_port"] == 443]
        assert f["subscores"].get("block_correlation", 0) > 0 and f["coin"] == "litecoin"  # named by the feed
        code, rows, stderr = _scan(cap, "--blocks-rpc", f"bitcoind:LTC={bad.url}")
        assert code == 0, stderr
        assert all("block_correlation" not in x["subscores"] for x in rows)


def test_scan_stops_with_a_clear_error_when_the_node_is_down(tls_ltc_capture, tmp_home) -> None:
    cap, _, _ = tls_ltc_capture
    with FakeNode("bitcoind", [T0]) as node:
        url = node.url
    code, _rows, stderr = _scan(cap, "--blocks-rpc", f"bitcoind={url}")
    assert code == 2 and "bitcoind RPC at http://127.0.0.1" in stderr


def test_live_feed_asks_when_due_keeps_a_bounded_window_and_survives_a_node_outage() -> None:
    from minewatch.net.blocks import LiveBlockFeed

    chain = list(np.arange(T0 - 86400, T0 + 5 * 86400, 600.0))
    with FakeNode("bitcoind", chain) as node:
        feed = LiveBlockFeed([f"bitcoind={node.url}"], {"XMR": np.array([T0])}, every_s=300, keep_s=86400,
                             first_window_s=3600)  # fmt: skip
        assert feed.refresh(T0) and feed.blocks()["BTC"].tolist() == [T0 - 3600 + k * 600 for k in range(7)]
        asked = node.requests
        assert not feed.refresh(T0 + 100) and node.requests == asked  # not due: no request at all
        assert feed.refresh(T0 + 2 * 86400)
        btc = feed.blocks()["BTC"]
        assert btc.min() >= T0 + 86400 and btc.max() == T0 + 2 * 86400  # only the last day is kept
        assert feed.blocks()["XMR"].tolist() == [T0]  # the CSV feed stays as given
        url = node.url
    feed.nodes[0].url = url  # the node is gone now
    assert not feed.refresh(T0 + 3 * 86400) and feed.failures == 1 and "bitcoind RPC" in (feed.last_error or "")
    assert feed.blocks()["BTC"].size == btc.size  # what was known stays usable


def test_live_watch_uses_the_nodes_blocks_for_an_open_session(tls_ltc_capture) -> None:
    """The live scanner refreshes its feed on ticks; the open TLS session is tied to the node's blocks."""
    from minewatch.net.blocks import LiveBlockFeed
    from minewatch.scan_cli import _load_intel
    from test_watch_behavior import _play, _scanner

    _cap, blocks, pkts = tls_ltc_capture
    chain = chain_around(blocks, T0, T0 + 3 * 3600, 150.0, np.random.default_rng(4))
    with FakeNode("bitcoind", chain) as node:
        feed = LiveBlockFeed([f"bitcoind:LTC={node.url}"], every_s=300)
        sc, sink = _scanner(_load_intel(None, []), block_feed=feed)
        log = _play(sc, sink, pkts, until=3 * 3600 + 120)
    opened = [f for t, announce, f in log if announce and f.extra.get("live_state") == "open"]
    assert opened, "the session is announced while open"
    later = [f for _t, _a, f in log if f.finding_id == opened[0].finding_id]
    assert any(f.subscores.get("block_correlation", 0) > 0 for f in later)
    assert sc.stats_line()["blocks_known"] >= len(blocks) // 2

