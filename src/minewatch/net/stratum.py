"""Follow one TCP/UDP flow and say whether it is mining (and which dialect) or node traffic, with facts.

Why a stream analyser and not a first-packet matcher: nDPI and the ET rules look only at the first
payload packet and at fixed byte patterns, so they miss captures that start mid-session, modern
XMRig logins, compact or "worker"-first eth-proxy JSON, EthereumStratum/2.0.0 (gzip after the
hello) and Stratum V2. Here every line in both directions is parsed as JSON (`json.loads`, never
substring matching), classified by method name *and* parameter shape, and the session's facts are
accumulated: dialect, agent, worker, wallet (checksum-validated), pool host, difficulty, shares and
their acceptance, and a hashrate estimate.

Confidence is a set of named sub-scores (points, summed and capped by `model.combine_subscores`):

* ``protocol``        strongest single piece of dialect evidence (see `_P_*` constants below);
* ``both_directions`` +15 when the two sides play consistent roles (requests one way, matching
                      replies or server notifications the other way);
* ``share_flow``      +10 when at least one share was submitted;
* ``work_flow``       +5 when the server pushed two or more jobs;
* ``wallet``          +10 for a checksum-validated payout address (+5 when only the format could be
                      checked, e.g. a lower-case Ethereum address);
* ``agent``           +5 when the client names a known miner program;
* ``mining_header``   +10 for the HTTP X-Mining-Extensions / X-Stratum headers;
* ``sv2_reply``       +15 when a 64-byte Noise act-1 is answered by exactly 234 (or legacy 170) bytes;
* ``sv2_frames``      +5 when encrypted frames keep flowing after that handshake.

Node traffic gets ``protocol`` (from `minewatch.net.nodes`) and ``both_directions`` only.

Look-alikes are kept under the report threshold by the ``protocol`` points themselves, so the reason
stays readable in the sub-scores: only documented Stratum method names score (`STRATUM_KNOWN`; a
``mining.`` prefix is also a data-mining API's namespace); a CryptoNote ``login`` with nothing specific
to mining (no miner agent, valid wallet or XMRig algorithm list) gets 30, which ``both_directions``
lifts to 45, and a real job (`_cn_job`: hex blob of header size, 4- or 8-byte hex target) or an
XMRig-shaped submit is needed on top; a bare ``getblocktemplate`` poll is node RPC (see `_build`).
getwork fetches (no params) are tracked apart from getwork submits, so only submits count as shares.

Memory is bounded per flow: line buffers are capped at `MAX_LINE` (longer lines are dropped and the
parser resyncs at the next newline, counted in `SessionFacts.lines_overflow`), per-share events at
`MAX_EVENTS` (totals keep counting), pending request ids at `MAX_PENDING`.
"""

from __future__ import annotations

import base64
import functools
import json
import math
import re
import zlib
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from minewatch.model import Evidence, combine_subscores, endpoint, utc_from_epoch
from minewatch.net import nodes, tls
from minewatch.net.coins import (
    AGENT_HINTS,
    ALGORITHMS,
    family_of,
    host_algorithm,
    host_coin,
    infer_coin,
    is_marketplace,
)
from minewatch.net.findings import REPORT_THRESHOLD
from minewatch.net.hashrate import (
    HASHES_PER_DIFF1,
    HashrateEstimate,
    ShareAccumulator,
    cryptonote_target_difficulty,
    hashes_per_share,
    target256_hashes,
)
from minewatch.net.wallets import LoginParts, split_login, validate_address, worker_from_password

MAX_LINE = 64 * 1024
MAX_EVENTS = 5000
MAX_PENDING = 1024
#: Seconds after which a request still unanswered, with a newer one under the same id, is given up
#: (XMRig gives up on a reply after 20 s, pools answer within a second or two).
PENDING_STALE_S = 60.0
MAX_EVIDENCE = 40
#: Bytes per flow with nothing recognised after which the flow is no longer followed.
GIVE_UP_BYTES = 64 * 1024
RAW_CHARS = 300

# Points for the `protocol` sub-score, by strength of the single message.
_P_STRATUM_CORE = (
    60.0  # mining.subscribe/authorize/submit/notify/set_difficulty/set_target/configure/hello/set
)
_P_STRATUM_OTHER = 45.0  # other known Stratum methods (extranonce.subscribe, suggest_difficulty, ...)
_P_ETH_LOGIN = 60.0  # eth_submitLogin
_P_ETH_WORK = 50.0  # eth_getWork / eth_submitWork / eth_submitHashrate
_P_ETH_PUSH = 30.0  # a work package reply (3 x 0x-hex) with nothing else
_P_GETWORK_HTTP = 50.0
_P_GBT_MINING = 55.0  # getblocktemplate with mining context (coinbasetxn, X-Mining, submitblock, miner UA)
_P_GETWORK_PUSH = 35.0  # getwork work (128-byte header data, 256-bit target) pushed on a long-poll connection
_P_GBT_BARE = 35.0  # getblocktemplate alone: pool software polls its node so; reported as node
_P_SUBMITBLOCK = 45.0
_P_CN_LOGIN_AGENT = 50.0  # CryptoNote login naming an agent, with a miner agent, wallet or algorithm list
_P_CN_LOGIN = 40.0  # ... without an agent, with a wallet or an algorithm list
_P_CN_LOGIN_SHAPE = 30.0  # {login, pass, ...} and nothing specific to mining (a web app log-in looks so)
_P_CN_JOB = 55.0
_P_CN_SUBMIT = 50.0
_P_XMR_DAEMON_GBT = 50.0  # monerod get_block_template with a wallet_address (solo mining / pool)
_P_SV2_PLAIN = 65.0
_P_SV2_NOISE = 35.0  # a 64-byte high-entropy first client message alone
_P_NODE_RPC = 60.0
#: minewatch's own probe: 30 + both_directions 15 stays under the report threshold.
_P_PROBE_ONLY = 30.0
#: Keys of a JSON-RPC message; Stratum dialects add `worker` (eth-proxy) and little else.
_RPC_ENVELOPE = frozenset({"id", "method", "params", "jsonrpc", "result", "error", "worker"})
#: A RESP (Redis protocol) array or bulk-string header line: JSON after it is a value being stored or
#: published (a pool backend's queue), not a message between miner and pool.
_RESP_RE = re.compile(rb"^[*$]-?\d{1,10}$")
#: The agent minewatch's own `probe` command announces (minewatch.net.probe.PROBE_AGENT).
_OWN_PROBE_AGENT = "minewatch-probe/"
#: Plaintext dialects where a log-in, a job or a share is visible when a session goes past hello
_PROBE_VARIANTS = frozenset({"stratum-v1", "ethstratum-1", "ethstratum-2", "ethproxy", "cryptonote-login"})

STRATUM_CORE = frozenset(
    {
        "mining.subscribe", "mining.authorize", "mining.submit", "mining.notify", "mining.set_difficulty",
        "mining.set_target", "mining.configure", "mining.hello", "mining.set",
    }
)  # fmt: skip
STRATUM_CLIENT = frozenset(
    {
        "mining.subscribe", "mining.authorize", "mining.configure", "mining.submit", "mining.hello",
        "mining.extranonce.subscribe", "mining.suggest_difficulty", "mining.suggest_target",
        "mining.get_transactions", "mining.multi_version", "mining.noop", "mining.hashrate", "mining.bye",
        "mining.capabilities",
    }
)  # fmt: skip
STRATUM_SERVER = frozenset(
    {
        "mining.notify", "mining.set_difficulty", "mining.set_target", "mining.set_extranonce", "mining.set",
        "mining.reconnect", "mining.set_version_mask", "mining.set_goal", "mining.ping", "client.reconnect",
        "client.get_version", "client.show_message",
    }
)  # fmt: skip
#: Every Stratum method name with a published meaning: Stratum v1 (slush's documentation), BIP 310
#: (configure, set_version_mask), NiceHash (extranonce.subscribe, set_extranonce), ASICBoost
#: (multi_version), ZIP 301 (set_target, suggest_target), EthereumStratum/1.0.0 and 2.0.0 (EIP-1571:
#: hello, bye, noop, set, hashrate), the cpuminer server ping. Only these score: "mining." is also
#: the namespace of data-mining and process-mining APIs.
STRATUM_KNOWN = STRATUM_CORE | STRATUM_CLIENT | STRATUM_SERVER
ETH_CLIENT = frozenset(
    {"eth_submitLogin", "eth_login", "eth_getWork", "eth_submitWork", "eth_submitHashrate"}
)
MINING_VARIANTS = frozenset(
    {
        "stratum-v1", "ethproxy", "ethstratum-1", "ethstratum-2", "cryptonote-login", "getwork-http",
        "getblocktemplate-http", "stratum-v2",
    }
)  # fmt: skip
NODE_VARIANTS = frozenset({"bitcoin-p2p", "devp2p", "monero-p2p", "node-jsonrpc-http", "node-jsonrpc"})
#: Node and wallet RPC method names that are also ordinary words of any JSON-RPC application (MCP and
#: LSP `ping`, a web app's `get_info`, `get_balance` or `transfer`): they are node context when a
#: blockchain-specific method appears in the same flow, never a node verdict on their own. Otherwise a
#: miner adding a `ping` keepalive, or a web app, would be called a node (and a node verdict turns the
#: timing detector off).
GENERIC_RPC_METHODS = frozenset(
    {
        "ping", "help", "uptime", "getinfo", "get_info", "get_version", "transfer", "get_balance",
        "getbalance", "getbalances", "get_address", "get_transfers", "get_height", "listwallets",
        "loadwallet", "validateaddress", "sync_info", "get_connections",
    }
)  # fmt: skip

_HTTP_REQ_RE = re.compile(rb"^(GET|POST|PUT|HEAD|OPTIONS|DELETE|PATCH) (\S+) HTTP/1\.[01]$")
_HTTP_RESP_RE = re.compile(rb"^HTTP/1\.[01] (\d{3})(?: .*)?$")
#: HTTP CONNECT (RFC 9110 §9.3.6): the request target is the authority host:port of the tunnel.
_PROXY_V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
_HTTP_CONNECT_RE = re.compile(rb"^CONNECT (\S+) HTTP/1\.[01]$")
_HEX64_RE = re.compile(r"^0x[0-9a-fA-F]{64}$")
_HEX_RE = re.compile(r"^(0x)?[0-9a-fA-F]+$")
#: CryptoNote block hashing blob: at least a block header (two version bytes, a timestamp varint, the
#: 32-byte previous-block hash and the 4-byte nonce = 39 bytes; Monero's blob is 76 bytes), and far
#: less than a whole block template.
_CN_BLOB_RE = re.compile(r"^[0-9a-fA-F]{78,2048}$")
#: CryptoNote share target: 4 bytes (compact) or 8 bytes (64-bit) of little-endian hex.
_CN_TARGET_RE = re.compile(r"^(?:[0-9a-fA-F]{8}|[0-9a-fA-F]{16})$")
#: XMRig submit: a 4-byte nonce (8 hex digits; 16 for 64-bit nonces) and a 32-byte result hash.
_CN_NONCE_RE = re.compile(r"^(?:[0-9a-fA-F]{8}|[0-9a-fA-F]{16})$")
_CN_RESULT_RE = re.compile(r"^[0-9a-fA-F]{64}$")
#: Algorithm families in XMRig's naming ("rx/0", "cn-heavy/xhv", "argon2/chukwa").
_CN_ALGO_PREFIXES = frozenset(
    {"rx", "cn", "cn-lite", "cn-heavy", "cn-pico", "cn-femto", "argon2", "astrobwt", "ghostrider", "kawpow"}
)


@dataclass(slots=True)
class SessionFacts:
    """What one flow revealed. Unknown stays None; counts are None when nothing was seen to count."""

    kind: str | None = None
    variant: str | None = None
    coin: str | None = None
    algorithm: str | None = None
    coin_reason: str | None = None
    agent: str | None = None
    worker: str | None = None
    wallet: str | None = None
    wallet_type: str | None = None
    email: str | None = None
    pool_host: str | None = None
    sni: str | None = None
    alpn: list[str] = field(default_factory=list)
    ja3: str | None = None
    encrypted: bool | None = None
    client_is_src: bool | None = None
    share_difficulty: float | None = None
    share_work_hashes: float | None = None
    share_events: list[tuple[float, float | None, bool | None]] = field(default_factory=list)
    shares_accepted: int | None = None
    shares_rejected: int | None = None
    submitted: int | None = None
    reported_hashrate_hs: float | None = None
    first_ts: float | None = None
    last_ts: float | None = None
    gzip_switched: bool = False
    messages_seen: dict[str, int] = field(default_factory=dict)
    evidence: list[Evidence] = field(default_factory=list)
    subscores: dict[str, float] = field(default_factory=dict)
    hashrate: HashrateEstimate | None = None
    node_detail: str | None = None
    stated_algorithm: str | None = None
    lines_bad: int = 0
    lines_overflow: int = 0
    #: blockchain-specific node RPC calls, and JSON messages nothing recognised: a node verdict whose
    #: calls are a minority of the flow's JSON is weak, and the timing detector still judges the flow
    node_calls: int = 0
    unrecognised_json: int = 0
    #: only a client hello was seen (no log-in, job or share): judged with the rest of the capture
    probe_only: bool = False
    #: the hashrate family is Bitcoin's by default (no coin or algorithm was named), not by evidence
    family_assumed: bool = False
    #: the coin is the eth-proxy dialect's default (ETH for a 0x wallet), not named by any evidence:
    #: a pool name learned later (DNS) may still say etc
    coin_assumed: bool = False
    #: recomputes shares and hashrate for another family (set on mining facts with shares only)
    rehash: Any = field(default=None, repr=False, compare=False)

    @property
    def score(self) -> float:
        return combine_subscores(self.subscores)


class _Dir:
    """Parser state of one direction."""

    __slots__ = (
        "after_gap",
        "body",
        "buf",
        "chunk_left",
        "gapped",
        "head",
        "http",
        "mode",
        "skip_line",
        "state",
        "total",
        "ws_msg",
    )

    def __init__(self) -> None:
        self.buf = bytearray()
        self.after_gap = False
        self.head = bytearray()  # first bytes, for node-magic scans
        self.mode = "auto"  # auto | text | tls | gzip | sv2 | socks | ws | skip
        self.state = (
            "line"  # line | headers | body | chunk_size | chunk_data | chunk_crlf | chunk_trailer | close
        )
        self.skip_line = False
        self.gapped = False
        self.total = 0
        self.http: dict[str, Any] | None = None
        self.body = bytearray()
        self.chunk_left = 0
        self.ws_msg = bytearray()  # a WebSocket text message being reassembled from its frames


class SessionAnalyzer:
    """Per-flow consumer for the capture engine (see module docstring); never raises on bad input."""

    def __init__(self, info: Any) -> None:
        self.info = info
        self.src_ip = str(getattr(info, "src_ip", "?"))
        self.dst_ip = str(getattr(info, "dst_ip", "?"))
        self.src_port = getattr(info, "src_port", None)
        self.dst_port = getattr(info, "dst_port", None)
        self.transport = getattr(info, "transport", "tcp")
        self._dirs = (_Dir(), _Dir())
        self._closed = False
        self._stopped = False
        self._turns: list[list[Any]] = []  # [direction, size, head bytes, first ts] of the first turns
        self._flow_start_clean = True
        self._datagrams = 0
        # facts being built
        self._f = SessionFacts()
        self._seen_codes: set[str] = set()
        self._messages: Counter[str] = Counter()
        self._flags: set[str] = set()
        self._protocol_pts: dict[str, float] = {}
        self._node_pts = 0.0
        self._node_variant: str | None = None
        self._votes = [[0, 0], [0, 0]]  # [direction][0=client role, 1=server role]
        # (direction, id) -> FIFO of (method, share event, request time): miners that reuse an id
        # (ethminer submits with 40 + GPU index) pipeline requests whose replies come back in order.
        self._pending: dict[tuple[int, Any], deque[tuple[str, int, float]]] = {}
        self._n_pending = 0
        self._msg_ts = 0.0  # time of the JSON message being handled
        self._replied_roles = 0
        self._jobs = 0
        self._json_msgs = 0
        self._mining_msgs = 0
        self._node_msgs = 0
        self._generic_rpc = 0  # node-RPC-named calls whose names any JSON-RPC app uses (GENERIC_RPC_METHODS)
        self._other_json = 0
        self._login: LoginParts | None = None
        self._reply_code: int | None = None  # Beam's `code` of the reply being handled
        self._resp_lines = 0  # RESP (Redis) array/bulk headers seen
        self._logins = 0  # authorize / login / open-channel requests (a session beyond a hello)
        self._agent_known = False
        self._algo_field: str | None = None
        # (name, from an HTTP Host header): a Host header only names the web server asked, so it is
        # context for a flow already decided to be mining, never a pool name of its own.
        self._hosts: list[tuple[str, bool]] = []
        self._stratum_diff: float | None = None  # last set_difficulty (family units)
        self._target_hashes: float | None = None  # last target as expected hashes per share
        self._cn_jobs: dict[str, float] = {}  # job_id -> CryptoNote difficulty
        self._cn_diff: float | None = None
        self._events: list[tuple[float, float | None, bool | None]] = []
        self._event_work: list[tuple[str, float] | None] = []
        self._submitted = 0
        self._accepted = 0
        self._rejected = 0
        self._results_seen = False
        self._gbt_context = False
        self._mining_header = False
        self._tls_done = False
        self._lsp = False
        self._sv2_plain = False
        self._gzip_errors = 0
        self._sv2_resolved = 0
        self._late_work = ShareAccumulator()  # shares beyond MAX_EVENTS (target-based work only)
        self._http_requests = 0
        self._http_posts = 0
        # A proxy preamble (HTTP CONNECT, SOCKS4/4a/5) before the tunnelled stream: "socks5"/"socks4"
        # while the handshake is being read, "connect" once a CONNECT was sent, "tunnel" when open.
        self._proxy: str | None = None
        self._socks_client_dir: int | None = None
        self._ws_asked = False  # an HTTP Upgrade: websocket request was seen
        self._ws_open = False  # ... and answered 101: both directions carry RFC 6455 frames

    # ------------------------------------------------------------------ engine interface
    def feed(self, direction: int, ts: float, data: bytes) -> None:
        if self._closed or not data or direction not in (0, 1):
            return
        try:
            self._feed(direction, ts, bytes(data))
        except Exception as exc:  # a parser bug must never stop a capture scan
            self._f.lines_bad += 1
            self._flags.add(f"internal-error:{type(exc).__name__}")

    def gap(self, direction: int, ts: float) -> None:
        if direction not in (0, 1):
            return
        d = self._dirs[direction]
        if d.total == 0 and not self._turns:
            self._flow_start_clean = False
        d.gapped = True
        d.buf.clear()
        d.body.clear()
        d.state = "line"
        d.http = None
        if d.mode in ("text", "auto"):
            # Resync at the next newline: the partial line before it is still tried, because a
            # capture that starts mid-session often begins exactly at a message boundary, and a
            # truncated JSON fragment never parses (it is then not counted as a bad line).
            d.mode = "text"
            d.skip_line = False
            d.after_gap = True
        elif d.mode == "sv2":
            d.mode = "skip"  # frame boundaries are lost; the facts so far stand

    def datagram(self, direction: int, ts: float, payload: bytes) -> None:
        if self._closed or direction not in (0, 1):
            return
        try:
            self._datagrams += 1
            hit = nodes.discovery_v4_packet(bytes(payload))
            if hit is not None:
                self._node_hit(direction, ts, hit, bytes(payload))
        except Exception as exc:
            self._flags.add(f"internal-error:{type(exc).__name__}")

    def wants_more(self) -> bool:
        if self._closed or self._stopped:
            return False
        if self.transport == "udp":
            return self._node_variant is None and self._datagrams < 8
        if self._node_variant is not None and not self._json_msgs:
            return False
        if self._mining_variant() is not None and not self._flags & {"sv2-noise"}:
            return True
        if self._lsp:
            return False
        if (
            self._http_requests >= 1
            and self._votes[1 - self._request_dir()][1] >= 1
            and not self._http_posts
            and not self._json_msgs
            and not self._mining_header
            and not self._node_msgs
            and not self._ws_asked
        ):
            # Plain web browsing (GET/HEAD, no miner headers): getwork, getblocktemplate and node
            # RPC are POSTs, so following the rest of the flow cannot change the verdict.
            return False
        if "tls" in self._flags:
            return not self._tls_done
        total = self._dirs[0].total + self._dirs[1].total
        if "sv2-noise" in self._flags:
            return len(self._turns) < 8
        if self._json_msgs and self._other_json + self._node_msgs > 200:
            return False
        return total < GIVE_UP_BYTES

    def _request_dir(self) -> int:
        """Direction the HTTP requests came from (0 unless the flow's sides were guessed the wrong way)."""
        return 0 if self._votes[0][0] >= self._votes[1][0] else 1

    def close(self) -> None:
        if self._closed:
            return
        try:
            for direction, d in enumerate(self._dirs):
                if d.mode in ("text", "auto") and d.buf and not d.skip_line and d.state == "line":
                    self._line(direction, self._f.last_ts or 0.0, bytes(d.buf))
                elif d.state == "close" and d.body:
                    self._http_done(direction, self._f.last_ts or 0.0)
                d.buf.clear()
        except Exception as exc:
            self._flags.add(f"internal-error:{type(exc).__name__}")
        self._closed = True

    # ------------------------------------------------------------------ dispatch
    def _feed(self, direction: int, ts: float, data: bytes) -> None:
        d = self._dirs[direction]
        if not d.gapped and len(self._turns) < 12:
            if self._turns and self._turns[-1][0] == direction:
                t = self._turns[-1]
                t[1] += len(data)
                if len(t[2]) < 64:
                    t[2] += data[: 64 - len(t[2])]
            else:
                self._turns.append([direction, len(data), bytearray(data[:64]), ts])
        d.total += len(data)
        if len(d.head) < 4096:
            d.head += data[: 4096 - len(d.head)]
            # Rescan while the head grows: a Bitcoin header seen before its payload scores 70, and
            # 85 once the payload's checksum can be verified.
            if self._node_pts < 85.0 and self._mining_variant() is None:
                self._scan_node_magic(direction, ts, d)
        if self._stopped:
            return
        d.buf += data
        if d.mode == "auto":
            self._sniff(direction, ts, d)
            if d.mode == "auto":
                return
        self._pump(direction, ts, d)
        if 2 <= len(self._turns) <= 4 and not self._json_msgs and self._node_variant is None:
            self._binary_handshakes()

    def _sniff(self, direction: int, ts: float, d: _Dir) -> None:
        b = bytes(d.buf[:8])
        if not d.gapped and b[:1] in (b"\x04", b"\x05", b"\x00"):
            socks = self._socks_start(direction, d)
            if socks is None:
                return  # a SOCKS handshake may be starting: wait for its first message
            if socks:
                d.mode = "socks"
                return
        if not d.gapped and b[:1] == b"\r" and d.total == len(d.buf):
            # HAProxy PROXY protocol v2: a 12-byte signature, version/command, family, 2-byte length,
            # then the addresses; the client's own first message follows it.
            if len(d.buf) < 16:
                if _PROXY_V2_SIG.startswith(bytes(d.buf[:12])):
                    return
            elif bytes(d.buf[:12]) == _PROXY_V2_SIG:
                n = 16 + int.from_bytes(d.buf[14:16], "big")
                if len(d.buf) < n:
                    return
                del d.buf[:n]
                if not d.buf:
                    return
                b = bytes(d.buf[:8])
        if len(b) < 3:
            return
        if not d.gapped and b[0] == 0x16 and b[1] == 3 and b[2] <= 4:
            d.mode = "tls"
            self._flags.add("tls")
            self._f.encrypted = True
            return
        if not d.gapped and b[0] == 0x17 and b[1] == 3 and b[2] <= 4:
            d.mode = "skip"
            self._flags.add("tls")
            self._f.encrypted = True
            self._tls_done = True
            return
        if len(b) < 6:
            if b[:1] in (b"{", b"[") or b[:1].isalpha():
                d.mode = "text"
            return
        if not d.gapped and b[2] == 0 and int.from_bytes(b[0:2], "little") & 0x7FFF == 0:
            want = 6 + int.from_bytes(b[3:6], "little")
            if len(d.buf) < min(want, 2048):
                return  # maybe a plaintext SV2 SetupConnection: wait for the whole frame
        if not d.gapped and self._sv2_setup(direction, ts, bytes(d.buf)):
            d.mode = "sv2"
            self._dirs[1 - direction].mode = "sv2" if self._dirs[1 - direction].total == 0 else "skip"
            return
        d.mode = "text"

    def _pump(self, direction: int, ts: float, d: _Dir) -> None:
        for _ in range(4):  # a mode switch mid-buffer (gzip) re-dispatches the rest
            mode = d.mode
            if mode == "text":
                self._text(direction, ts, d)
            elif mode == "gzip":
                self._gzip(direction, ts, d)
            elif mode == "tls":
                self._tls(direction, ts, d)
            elif mode == "sv2":
                self._sv2(direction, ts, d)
            elif mode == "socks":
                self._socks(direction, ts, d)
            elif mode == "ws":
                self._ws(direction, ts, d)
            elif mode == "auto":
                # a proxy tunnel just opened: what follows is a fresh stream, sniffed like a new flow
                self._sniff(direction, ts, d)
                if d.mode == "auto":
                    return
            else:
                d.buf.clear()
            if d.mode == mode:
                return

    # ------------------------------------------------------------------ TLS
    def _tls(self, direction: int, ts: float, d: _Dir) -> None:
        data = bytes(d.buf)
        # On the responder side this is normally a ServerHello ("not_tls" here); a ClientHello there
        # means the flow's direction was guessed wrongly, and the vote below corrects it.
        status, hello = tls.client_hello_status(data)
        if status == "need_more":
            if len(data) > tls.MAX_CLIENT_HELLO:
                d.mode = "skip"
                d.buf.clear()
            return
        d.mode = "skip"
        d.buf.clear()
        if status == "not_tls" or hello is None:
            if tls.is_server_hello(data):
                self._votes[direction][1] += 1
            self._tls_done = self._tls_done or direction == 0 or self._dirs[0].mode != "tls"
            return
        self._tls_done = True
        ja3 = hello.ja3  # a property that hashes: worked out once
        self._f.sni = hello.sni
        self._f.alpn = hello.alpn
        self._f.ja3 = ja3
        self._votes[direction][0] += 1
        if hello.sni:
            self._add_host(hello.sni)
        self._evidence(
            "net.tls.client_hello",
            ts,
            direction,
            f"TLS ClientHello with server name '{hello.sni or '-'}'"
            + (f", ALPN {','.join(hello.alpn)}" if hello.alpn else ""),
            f"TLS ClientHello，服务器名称 '{hello.sni or '-'}'"
            + (f"，ALPN {','.join(hello.alpn)}" if hello.alpn else ""),
            {"sni": hello.sni, "alpn": hello.alpn, "ja3": ja3, "ech": hello.ech},
        )

    # ------------------------------------------------------------------ text: JSON lines and HTTP
    def _text(self, direction: int, ts: float, d: _Dir) -> None:
        buf = d.buf
        pos = 0
        n = len(buf)
        while pos < n and d.mode == "text":
            if d.state in ("body", "chunk_data", "close"):
                left = d.chunk_left
                take = min(left, n - pos)
                if len(d.body) < MAX_LINE:
                    d.body += buf[pos : pos + min(take, MAX_LINE - len(d.body))]
                pos += take
                d.chunk_left -= take
                if d.chunk_left > 0:
                    break
                if d.state == "body":
                    self._http_done(direction, ts)
                elif d.state == "chunk_data":
                    d.state = "chunk_crlf"
                else:  # read-until-close cap reached
                    self._http_done(direction, ts)
                continue
            i = buf.find(b"\n", pos)
            if i < 0:
                if n - pos > MAX_LINE:
                    self._f.lines_overflow += 1
                    pos = n
                    d.skip_line = True
                break
            line = bytes(buf[pos:i])
            pos = i + 1
            if d.skip_line:
                d.skip_line = False
                continue
            if len(line) > MAX_LINE:
                self._f.lines_overflow += 1
                continue
            if line.endswith(b"\r"):
                line = line[:-1]
            if d.after_gap:
                d.after_gap = False
                bad = self._f.lines_bad
                self._text_line(direction, ts, d, line)
                self._f.lines_bad = bad
                continue
            self._text_line(direction, ts, d, line)
        del buf[:pos]

    def _text_line(self, direction: int, ts: float, d: _Dir, line: bytes) -> None:
        st = d.state
        if st == "line":
            self._line(direction, ts, line)
        elif st == "headers":
            if line == b"":
                self._http_headers_done(direction, ts, d)
            elif d.http is not None and len(d.http["headers"]) < 100:
                k, sep, v = line.partition(b":")
                if sep:
                    d.http["headers"][k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
        elif st == "chunk_size":
            try:
                size = int(line.split(b";", 1)[0].strip() or b"x", 16)
            except ValueError:
                d.state = "line"
                return
            if size == 0:
                d.state = "chunk_trailer"
            else:
                d.state = "chunk_data"
                d.chunk_left = size
        elif st == "chunk_crlf":
            d.state = "chunk_size"
            if line.strip():
                self._text_line(direction, ts, d, line)
        elif st == "chunk_trailer" and line == b"":
            self._http_done(direction, ts)

    def _line(self, direction: int, ts: float, line: bytes) -> None:
        s = line.strip()
        if not s:
            return
        c = s[:1]
        if c in (b"{", b"["):
            try:
                obj = json.loads(s)
            except (ValueError, RecursionError):
                self._f.lines_bad += 1
                return
            if self._resp_lines >= 2:
                self._other_json += 1  # a value inside Redis bulk strings (see _RESP_RE)
                return
            self._json(direction, ts, obj, s, None)
            return
        if c in (b"*", b"$") and _RESP_RE.match(s):
            self._resp_lines += 1
            return
        d = self._dirs[direction]
        m = _HTTP_REQ_RE.match(s)
        if m:
            verb = m.group(1).decode()
            d.http = {
                "request": True,
                "verb": verb,
                "target": m.group(2).decode("latin-1"),
                "headers": {},
            }
            d.state = "headers"
            self._http_requests += 1
            if verb == "POST":
                self._http_posts += 1
            return
        m = _HTTP_CONNECT_RE.match(s)
        if m and self._proxy is None:
            d.http = {"request": True, "verb": "CONNECT", "target": m.group(1).decode("latin-1"), "headers": {}}
            d.state = "headers"
            return
        m = _HTTP_RESP_RE.match(s)
        if m:
            d.http = {"request": False, "status": int(m.group(1)), "headers": {}}
            d.state = "headers"
            return
        if s.lower().startswith(b"content-length:"):
            # LSP / JSON-RPC-over-stdio style framing: headers then a length-delimited body.
            d.http = {"request": None, "headers": {}}
            _, _, v = s.partition(b":")
            d.http["headers"]["content-length"] = v.strip().decode("latin-1")
            d.state = "headers"
            return
        self._f.lines_bad += 1

    def _http_headers_done(self, direction: int, ts: float, d: _Dir) -> None:
        h = d.http or {"headers": {}}
        hdr = h["headers"]
        if h.get("verb") == "CONNECT":
            self._connect_sent(direction, ts, h["target"])
            d.http, d.state, d.mode = None, "line", "auto"  # the client's tunnelled bytes follow at once
            return
        if h.get("request") and "websocket" in hdr.get("upgrade", "").lower():
            self._ws_asked = True
            self._http_head(direction, ts, h)
            d.http, d.state, d.mode = None, "line", "ws"  # a GET upgrade has no body; frames follow
            return
        if self._ws_asked and h.get("request") is False and h.get("status") == 101:
            self._ws_open = True
            self._role(direction, 1)
            d.http, d.state, d.mode = None, "line", "ws"
            return
        if self._proxy == "connect" and h.get("request") is False:
            self._role(direction, 1)
            if 200 <= int(h.get("status") or 0) < 300:
                d.http, d.state = None, "line"
                self._proxy = "tunnel"
                d.mode = "auto"  # RFC 9110: the tunnel begins right after the empty line, no body
                return
            # refused (407 asking for credentials, 502): the client may ask again on this connection,
            # and the refusal's body is HTTP to skip, not protocol lines
            self._proxy = None
        if h.get("request") is not None:
            self._http_head(direction, ts, h)
        te = hdr.get("transfer-encoding", "").lower()
        cl = hdr.get("content-length")
        d.body.clear()
        if "chunked" in te:
            d.state = "chunk_size"
        elif cl is not None:
            try:
                n = int(cl)
            except ValueError:
                n = 0
            if n > 0:
                d.state = "body"
                d.chunk_left = n
            else:
                self._http_done(direction, ts)
        elif h.get("request") is False and h.get("status") not in (204, 304):
            d.state = "close"
            d.chunk_left = MAX_LINE
        else:
            self._http_done(direction, ts)

    def _http_head(self, direction: int, ts: float, h: dict[str, Any]) -> None:
        """Mining facts from HTTP headers: Host, User-Agent, X-Mining-Extensions, Basic auth, URL."""
        hdr = h["headers"]
        if h.get("request"):
            self._votes[direction][0] += 1
            host = hdr.get("host", "").strip()
            hostname = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
            if hostname and not _is_ip_literal(hostname):
                self._add_host(hostname.lower(), http=True)
            ua = hdr.get("user-agent")
            if ua and self._f.agent is None and _miner_agent(ua):
                self._set_agent(ua)
            if "x-mining-extensions" in hdr:
                self._mining_header = True
                self._gbt_context = True
                self._evidence(
                    "net.http.x_mining_extensions",
                    ts,
                    direction,
                    f"HTTP request with the miner header X-Mining-Extensions: {hdr['x-mining-extensions'][:80]}",
                    f"HTTP 请求带有矿机头 X-Mining-Extensions: {hdr['x-mining-extensions'][:80]}",
                    {"header": hdr["x-mining-extensions"][:200]},
                )
            auth = hdr.get("authorization", "")
            if auth.lower().startswith("basic "):
                try:
                    user = base64.b64decode(auth[6:].strip(), validate=False).decode("utf-8", "replace")
                    login = user.split(":", 1)[0]
                    if login:
                        h["basic_login"] = login
                except (ValueError, UnicodeDecodeError):
                    pass
            target = h.get("target", "")
            h["url_logins"] = _url_logins(target)
        else:
            self._votes[direction][1] += 1
            if "x-stratum" in hdr:
                self._mining_header = True
                self._evidence(
                    "net.http.x_stratum",
                    ts,
                    direction,
                    f"HTTP reply advertises a Stratum endpoint (X-Stratum: {hdr['x-stratum'][:80]})",
                    f"HTTP 响应公布了 Stratum 端点 (X-Stratum: {hdr['x-stratum'][:80]})",
                    {"header": hdr["x-stratum"][:200]},
                )
                url = hdr["x-stratum"]
                try:
                    host = urlsplit(url).hostname
                except ValueError:
                    host = None
                if host and not _is_ip_literal(host):
                    self._add_host(host)

    def _http_done(self, direction: int, ts: float) -> None:
        d = self._dirs[direction]
        h = d.http or {"request": None, "headers": {}}
        body = bytes(d.body)
        d.body.clear()
        d.state = "line"
        d.chunk_left = 0
        d.http = None
        enc = h["headers"].get("content-encoding", "").lower()
        if enc in ("gzip", "deflate") and body:
            try:
                body = zlib.decompressobj(wbits=47).decompress(body, MAX_LINE)
            except zlib.error:
                body = b""
        s = body.strip()
        parsed = False
        if s[:1] in (b"{", b"["):
            try:
                obj = json.loads(s)
                parsed = True
            except (ValueError, RecursionError):
                # Several JSON lines in one body (rare): try them one by one.
                for ln in s.splitlines():
                    ln = ln.strip()
                    if ln[:1] in (b"{", b"["):
                        try:
                            self._json(direction, ts, json.loads(ln), ln, h)
                        except (ValueError, RecursionError):
                            self._f.lines_bad += 1
            if parsed:
                self._json(direction, ts, obj, s, h)
        if h.get("request"):
            for login in [h.get("basic_login"), *h.get("url_logins", [])]:
                if login and self._mining_seen():
                    self._apply_login(direction, ts, login, "HTTP credentials")

    # ------------------------------------------------------------------ proxies (CONNECT, SOCKS)
    def _connect_sent(self, direction: int, ts: float, target: str) -> None:
        """An HTTP CONNECT: name the tunnel's host (a pool name for intel) and expect the tunnel."""
        self._proxy = "connect"
        self._role(direction, 0)
        host, _, port = target.rpartition(":") if target.count(":") == 1 else (target, "", "")
        self._proxy_target(direction, ts, host.strip("[]").lower(), port, "HTTP CONNECT")

    def _proxy_target(self, direction: int, ts: float, host: str, port: str, how: str) -> None:
        if host and _hostname(host):
            self._add_host(host)
        where = f"{host}:{port}" if port else host
        self._evidence(
            "net.proxy.tunnel", ts, direction,
            f"a {how} proxy request for a tunnel to '{_clip(where, 120)}' (the tunnelled stream is read as its own)",
            f" {how} 代理隧道请求，目标 '{_clip(where, 120)}'（隧道内的数据流按独立会话解析）",
            {"proxy": how, "target": _clip(where, RAW_CHARS)},
        )  # fmt: skip

    def _socks_start(self, direction: int, d: _Dir) -> bool | None:
        """Does this direction's stream start with a SOCKS handshake (RFC 1928 v5, SOCKS4/4a)?

        Only at the very start of a stream whose other side has not spoken (client), or as the
        answer of a server to a client already known to speak SOCKS. None: too few bytes to say.
        """
        if d.total != len(d.buf) or self._proxy not in (None, "socks5", "socks4"):
            return False
        b = bytes(d.buf[:16])
        other = self._dirs[1 - direction]
        if self._proxy is None and other.total == 0:
            if b[0] == 5:
                if len(b) < 3 or len(b) < 2 + b[1]:
                    return None if len(b) < 2 or 1 <= b[1] <= 8 else False
                methods = b[2 : 2 + b[1]]
                if 1 <= b[1] <= 8 and all(m <= 9 or 0x80 <= m <= 0xFE for m in methods):
                    self._proxy, self._socks_client_dir = "socks5", direction
                    return True
                return False
            if b[0] == 4:
                if len(b) >= 2 and b[1] not in (1, 2):
                    return False
                if len(d.buf) < 9 or b"\x00" not in d.buf[8:264]:
                    return None if len(d.buf) < 264 else False
                self._proxy, self._socks_client_dir = "socks4", direction
                return True
            return False
        if self._proxy == "socks5":
            return b[0] == 5
        return self._proxy == "socks4" and b[0] == 0

    def _socks(self, direction: int, ts: float, d: _Dir) -> None:
        """Read one side's SOCKS handshake; the bytes after it are a fresh stream ("auto" again)."""
        client = direction == self._socks_client_dir
        res = _socks_client_preamble(bytes(d.buf)) if client else _socks_server_preamble(bytes(d.buf))
        if res is None or (res[0] == 0 and len(d.buf) > 600):
            d.mode = "text"  # not SOCKS after all: read the rest as text
            return
        used, host, port = res
        if used == 0:
            return  # incomplete: wait for more bytes
        del d.buf[:used]
        self._role(direction, 0 if client else 1)
        if client:
            self._proxy_target(direction, ts, host or "", str(port or ""), "SOCKS")
        d.mode = "auto"

    # ------------------------------------------------------------------ WebSocket (RFC 6455)
    def _ws(self, direction: int, ts: float, d: _Dir) -> None:
        """Unframe WebSocket frames (client frames are masked) and read each text message as lines.

        Why: browser miners (Coinhive-style webminers) and Stratum tunnelled through a WebSocket
        proxy carry plain JSON inside frames; without unframing only the timing detector could see
        a long session, and short ones were missed.
        """
        buf = d.buf
        while len(buf) >= 2:
            b0, b1 = buf[0], buf[1]
            opcode, masked, n = b0 & 0x0F, b1 & 0x80, b1 & 0x7F
            pos = 2
            if n == 126:
                if len(buf) < 4:
                    return
                n, pos = int.from_bytes(buf[2:4], "big"), 4
            elif n == 127:
                if len(buf) < 10:
                    return
                n, pos = int.from_bytes(buf[2:10], "big"), 10
            if b0 & 0x70 or opcode in (3, 4, 5, 6, 7) or opcode > 10 or n > 16 * MAX_LINE:
                d.mode = "skip"  # not WebSocket framing (or an extension we cannot read)
                buf.clear()
                return
            key = bytes(buf[pos : pos + 4]) if masked else b""
            pos += 4 if masked else 0
            if len(buf) < pos + n:
                return
            payload = bytes(buf[pos : pos + n])
            del buf[: pos + n]
            if key:
                payload = bytes(c ^ key[i & 3] for i, c in enumerate(payload))
            if opcode in (0, 1):
                if len(d.ws_msg) + len(payload) <= MAX_LINE:
                    d.ws_msg += payload
                else:
                    self._f.lines_overflow += 1
                    d.ws_msg.clear()
                if b0 & 0x80:  # FIN: the message is whole
                    for line in bytes(d.ws_msg).split(b"\n"):
                        self._line(direction, ts, line.rstrip(b"\r"))
                    d.ws_msg.clear()

    def _webminer(self, direction: int, ts: float, kind: str, params: dict[str, Any], raw: bytes) -> bool:
        """Coinhive-style browser miners over WebSocket: `{"type": "job"|"submit"|"auth"|
        "hash_accepted", "params": {...}}`. The job and submit carry XMRig's fields (`_cn_job`,
        `_cn_submit_shape`); an accepted hash count answers the oldest share."""
        if kind == "job" and self._cn_job(params):
            self._role(direction, 1)
            self._jobs += 1
            self._points("cryptonote-login", _P_CN_JOB)
        elif kind == "submit" and _cn_submit_shape(params):
            self._role(direction, 0)
            diff = self._cn_jobs.get(str(params.get("job_id")), self._cn_diff)
            self._share(direction, ts, None, "submit", ("cn", diff) if diff else None)
            self._points("cryptonote-login", _P_CN_SUBMIT)
        elif kind == "auth" and ("site_key" in params or "user" in params):
            self._logins += 1
            self._role(direction, 0)
            self._points("cryptonote-login", _P_CN_LOGIN_SHAPE)
        elif kind in ("hash_accepted", "error") and self._submitted:
            self._role(direction, 1)
            self._results_seen = True
            ok = kind == "hash_accepted"
            self._accepted += ok
            self._rejected += not ok
            self._mark_oldest(1, ok)
        else:
            return False
        self._mining_msgs += 1
        self._flags.add("cryptonote-login")
        self._evidence_msg(direction, ts, f"{kind} (WebSocket)", raw, "")
        return True

    # ------------------------------------------------------------------ gzip (EthereumStratum/2.0.0)
    def _gzip(self, direction: int, ts: float, d: _Dir) -> None:
        buf = d.buf
        while buf:
            i = 0
            while i < len(buf) and buf[i] in b"\r\n \t":
                i += 1
            if i:
                del buf[:i]
                continue
            if buf[:2] == b"\x1f\x8b":
                dobj = zlib.decompressobj(wbits=31)
                try:
                    out = dobj.decompress(bytes(buf), MAX_LINE)
                except zlib.error:
                    self._gzip_errors += 1
                    j = buf.find(b"\x1f\x8b\x08", 1)
                    del buf[: j if j > 0 else len(buf)]
                    continue
                if dobj.eof:
                    consumed = len(buf) - len(dobj.unused_data)
                    del buf[:consumed]
                    self._messages["(gzip member)"] += 1
                    for ln in out.split(b"\n"):
                        if ln.strip():
                            self._line(direction, ts, ln.rstrip(b"\r"))
                    continue
                if dobj.unconsumed_tail or len(buf) > MAX_LINE:
                    # Decompression bomb or an endless member: drop it and resync.
                    self._f.lines_overflow += 1
                    buf.clear()
                break
            if buf[:1] in (b"{", b"["):
                j = buf.find(b"\n")
                if j < 0:
                    if len(buf) > MAX_LINE:
                        buf.clear()
                    break
                self._line(direction, ts, bytes(buf[:j]).rstrip(b"\r"))
                del buf[: j + 1]
                continue
            j = buf.find(b"\x1f\x8b\x08", 1)
            if j < 0:
                del buf[: max(0, len(buf) - 2)]
                break
            del buf[:j]

    # ------------------------------------------------------------------ JSON messages
    def _json(self, direction: int, ts: float, obj: Any, raw: bytes, http: dict[str, Any] | None) -> None:
        items = obj if isinstance(obj, list) else [obj]
        for item in items[:50]:
            if not isinstance(item, dict):
                self._f.lines_bad += 1
                continue
            self._json_msgs += 1
            self._msg_ts = ts
            if self._f.first_ts is None:
                self._f.first_ts = ts
            self._f.last_ts = ts if self._f.last_ts is None else max(self._f.last_ts, ts)
            method = item.get("method")
            if isinstance(method, str) and self._echoed_reply(direction, item):
                # Grin, Beam and the Alephium reference pool name the method in their replies
                self._messages["(response)"] += 1
                self._response(direction, ts, item, raw, http)
            elif isinstance(method, str):
                self._messages[method] += 1
                self._method(direction, ts, method, item, raw, http)
            elif (
                self._ws_open and isinstance(item.get("type"), str) and isinstance(item.get("params"), dict)
                and self._webminer(direction, ts, item["type"], item["params"], raw)
            ):  # fmt: skip
                self._messages[item["type"]] += 1
            elif "result" in item or "error" in item or ("id" in item and len(item) <= 2):
                self._messages["(response)"] += 1
                self._response(direction, ts, item, raw, http)
            else:
                self._other_json += 1

    def _echoed_reply(self, direction: int, item: dict[str, Any]) -> bool:
        """Is a message with a `method` a reply to a request of the other side? It carries `result`
        or `error` (Beam: `code`), no `params`, and its id answers a request still waiting."""
        if "params" in item or not ({"result", "error"} & item.keys() or item.get("method") == "result"):
            return False
        rid = item.get("id")
        return isinstance(rid, (int, str, float)) and (1 - direction, rid) in self._pending

    def _track(self, direction: int, msg: dict[str, Any], method: str, event: int = -1) -> None:
        """Remember a request id so the other side's reply can be tied to it.

        Requests that share an id queue up (first in, first out): JSON-RPC peers answer a pipelined
        stream in order, and miners that use one id per GPU or per method send several before the
        first reply. `id: null` is a JSON-RPC 1.0 notification, owed no reply: only the latest is
        kept. At most `MAX_PENDING` requests are held; the oldest id's queue loses its head first.
        """
        if "id" not in msg:
            return
        rid = msg.get("id")
        if not isinstance(rid, (int, str, float, type(None))):
            return
        key = (direction, rid)
        q = self._pending.get(key)
        if q is None:
            q = self._pending[key] = deque()
        elif rid is None:
            self._n_pending -= len(q)
            q.clear()
        q.append((method, event, self._msg_ts))
        self._n_pending += 1
        while self._n_pending > MAX_PENDING:
            oldest = next(iter(self._pending))
            oq = self._pending[oldest]
            oq.popleft()
            self._n_pending -= 1
            if not oq:
                del self._pending[oldest]

    def _take_pending(self, key: tuple[int, Any], ts: float) -> tuple[str, int] | None:
        """The request a reply answers: the oldest one queued under its id.

        A queued request older than `PENDING_STALE_S` with a newer one behind it was never answered
        (a lost packet, a pool that ignores a method): it is dropped rather than let it take the
        reply meant for the newer request and shift every later match.
        """
        q = self._pending.get(key)
        if not q:
            return None
        while len(q) > 1 and q[0][2] < ts - PENDING_STALE_S:
            q.popleft()
            self._n_pending -= 1
        method, event, _ = q.popleft()
        self._n_pending -= 1
        if not q:
            del self._pending[key]
        return method, event

    def _role(self, direction: int, role: int) -> None:
        self._votes[direction][role] += 1

    def _points(self, variant: str, pts: float) -> None:
        if pts > self._protocol_pts.get(variant, 0.0):
            self._protocol_pts[variant] = pts

    def _method(
        self, direction: int, ts: float, m: str, msg: dict[str, Any], raw: bytes, http: dict[str, Any] | None
    ) -> None:
        params = msg.get("params")
        over_http = http is not None
        if m in STRATUM_KNOWN:
            self._stratum_method(direction, ts, m, msg, params, raw)
            return
        if m in ETH_CLIENT:
            self._eth_method(direction, ts, m, msg, params, raw, over_http)
            return
        if m in ("login", "job", "submit", "keepalived", "getjob") and self._cryptonote_method(
            direction, ts, m, msg, params, raw
        ):
            return
        if m in ("getjobtemplate", "job", "submit", "keepalive") and self._grin_method(direction, ts, m, msg, params, raw):
            return
        if m in ("login", "job", "solution", "result") and self._beam_method(direction, ts, m, msg, raw):
            return
        if m == "getwork":
            self._role(direction, 0)
            self._mining_msgs += 1
            self._flags.add("getwork-http")
            self._points("getwork-http", _P_GETWORK_HTTP)
            if isinstance(params, list) and params:
                # getwork with the solved block header as its one parameter submits a share
                self._share(direction, ts, msg, "getwork", self._current_work())
            else:
                # getwork without parameters fetches work: its reply carries data and target, and
                # says nothing about any share (tracked apart so it is not counted as accepted)
                self._track(direction, msg, "getwork-fetch")
            self._evidence_msg(direction, ts, m, raw, "")
            return
        if m in (
            "getblocktemplate",
            "submitblock",
            "get_block_template",
            "submit_block",
            "getblocktemplate_mining",
        ):
            self._gbt_method(direction, ts, m, msg, params, raw, http)
            return
        if nodes.node_rpc_method(m) and m in GENERIC_RPC_METHODS:
            self._generic_rpc += 1
            self._track(direction, msg, m)
            self._other_json += 1
            return
        if nodes.node_rpc_method(m):
            self._node_msgs += 1
            if m.endswith("_subscription"):  # a node's push to a subscriber (eth_subscription): server role
                self._role(direction, 1)
            else:
                self._role(direction, 0)
                self._track(direction, msg, m)
            self._flags.add("node-rpc-http" if over_http else "node-rpc")
            self._evidence(
                f"net.node_rpc.{m}",
                ts,
                direction,
                f"node JSON-RPC call {m}",
                f"节点 JSON-RPC 调用 {m}",
                {"raw": _raw(raw), "method": m},
                sent=True,
            )
            return
        if "/" in m and m.split("/", 1)[0] in (
            "textDocument",
            "workspace",
            "window",
            "$",
            "telemetry",
            "notebookDocument",
        ):
            self._lsp = True
        self._other_json += 1

    # -- Stratum v1 / EthereumStratum 1 and 2
    def _stratum_method(
        self, direction: int, ts: float, m: str, msg: dict[str, Any], params: Any, raw: bytes
    ) -> None:
        if params is not None and not isinstance(params, (list, dict, str)):
            self._other_json += 1
            return
        if ("params" not in msg and "id" not in msg) or len(msg.keys() - _RPC_ENVELOPE) > 2:
            # A log record that names a method ({"time":..,"level":..,"msg":"share accepted",
            # "method":"mining.submit","worker":..}) is not a message: a Stratum message is a JSON-RPC
            # envelope (id, method, params) with at most a key or two of a pool's own added.
            self._other_json += 1
            return
        self._mining_msgs += 1
        role = 0 if m in STRATUM_CLIENT else 1 if m in STRATUM_SERVER else None
        if role is not None:
            self._role(direction, role)
        self._flags.add("stratum")
        pts = _P_STRATUM_CORE if m in STRATUM_CORE else _P_STRATUM_OTHER
        detail_en = detail_zh = ""
        plist = params if isinstance(params, list) else []
        if m == "mining.subscribe":
            self._track(direction, msg, m)
            if plist and isinstance(plist[0], str) and plist[0] and not _HEX_RE.match(plist[0]):
                self._set_agent(plist[0])
            if any(isinstance(p, str) and p.startswith("EthereumStratum/1") for p in plist):
                self._flags.add("ethstratum-1")
            if any(isinstance(p, str) and p.startswith("EthereumStratum/2") for p in plist):
                self._flags.add("ethstratum-2")
            if len(plist) >= 3 and isinstance(plist[2], str) and _hostname(plist[2]):
                self._add_host(plist[2].lower())
            if isinstance(params, dict):  # EthereumStratum/2.0.0 draft form
                self._flags.add("ethstratum-2")
                self._hello_params(params)
            if self._f.agent:
                detail_en, detail_zh = f" (agent '{self._f.agent}')", f"（程序 '{self._f.agent}'）"
        elif m == "mining.authorize":
            self._logins += 1
            self._track(direction, msg, m)
            if plist and isinstance(plist[0], str):
                self._apply_login(direction, ts, plist[0], m)
                detail_en, detail_zh = _login_detail(self._login)
        elif m == "mining.submit":
            if plist and isinstance(plist[0], str) and self._login is None and len(plist) >= 4:
                self._apply_login(direction, ts, plist[0], m)
            elif isinstance(params, dict) and isinstance(params.get("worker"), str) and self._login is None:
                self._apply_login(direction, ts, params["worker"], m)  # the Alephium reference pool
            self._share(direction, ts, msg, m, self._current_work())
        elif m == "mining.notify":
            self._jobs += 1
            if self._stratum_diff is None and self._target_hashes is None:
                self._notify_target(plist)
        elif m == "mining.set_difficulty":
            if (
                plist
                and isinstance(plist[0], (int, float))
                and not isinstance(plist[0], bool)
                and plist[0] > 0
            ):
                self._stratum_diff = float(plist[0])
                self._target_hashes = None
                detail_en = detail_zh = f" {plist[0]:g}"
        elif m == "mining.set_target":
            if plist and isinstance(plist[0], str):
                hh = target256_hashes(plist[0])
                if hh:
                    self._target_hashes = hh
                    self._stratum_diff = None
        elif m == "mining.set":
            if isinstance(params, dict):
                self._flags.add("ethstratum-2")
                tgt = params.get("target")
                if isinstance(tgt, str):
                    hh = target256_hashes(tgt)
                    if hh:
                        self._target_hashes = hh
                        self._stratum_diff = None
                algo = params.get("algo")
                if isinstance(algo, str) and algo:
                    self._algo_field = algo
        elif m == "mining.hello":
            self._flags.add("ethstratum-2")
            self._track(direction, msg, m)
            if isinstance(params, dict):
                self._hello_params(params)
                if "agent" not in params and ("node" in params or "resume" in params):
                    # Draft EthereumStratum/2.0.0: the *server* says hello first.
                    self._votes[direction][0] -= 1
                    self._votes[direction][1] += 1
        elif m in ("client.reconnect", "mining.reconnect"):
            host = None
            if plist and isinstance(plist[0], str):
                host = plist[0]
            elif isinstance(params, dict) and isinstance(params.get("host"), str):
                host = params["host"]
            if host:
                detail_en, detail_zh = f" to '{host[:100]}'", f"，重定向到 '{host[:100]}'"
        elif m in ("mining.configure", "mining.extranonce.subscribe", "mining.suggest_difficulty"):
            self._track(direction, msg, m)
        self._points("stratum", pts)
        self._evidence_msg(direction, ts, m, raw, detail_en, detail_zh)

    def _notify_target(self, plist: list[Any]) -> None:
        """A share target sent inside the job when the pool sends no difficulty (Conflux's
        `[jobId, hash, boundary]`, KawPow pools' `params[3]`): a 256-bit value below 2^236 (five
        leading zero nibbles), which a header or seed hash (uniformly random) almost never is."""
        for p in plist[1:8]:
            if not isinstance(p, str):
                continue
            h = p[2:] if p[:2] in ("0x", "0X") else p
            # a 0x-number may drop its leading zeros (Conflux's boundary); bare hex is 32 bytes
            if not (len(h) == 64 or (h is not p and 8 <= len(h) < 64)) or not _HEX_RE.match(h):
                continue
            val = int(h, 16)
            if 0 < val < 1 << 236:
                self._target_hashes = 2.0**256 / val
                return

    def _hello_params(self, params: dict[str, Any]) -> None:
        agent = params.get("agent")
        if isinstance(agent, str) and agent:
            self._set_agent(agent)
        host = params.get("host")
        if isinstance(host, str) and _hostname(host):
            self._add_host(host.lower())

    # -- eth-proxy (and eth getwork over HTTP)
    def _eth_method(
        self, direction: int, ts: float, m: str, msg: dict[str, Any], params: Any, raw: bytes, over_http: bool
    ) -> None:
        self._mining_msgs += 1
        self._role(direction, 0)
        variant = "getwork-http" if over_http else "ethproxy"
        self._flags.add(variant)
        plist = params if isinstance(params, list) else []
        detail_en = detail_zh = ""
        if m in ("eth_submitLogin", "eth_login"):
            self._logins += 1
            self._points(variant, _P_ETH_LOGIN)
            self._track(direction, msg, m)
            if plist and isinstance(plist[0], str):
                self._apply_login(direction, ts, plist[0], m)
            w = msg.get("worker")
            if isinstance(w, str) and w.strip() and self._f.worker is None:
                self._f.worker = w.strip()[:64]
            detail_en, detail_zh = _login_detail(self._login)
        elif m == "eth_getWork":
            self._points(variant, _P_ETH_WORK if not over_http else _P_GETWORK_HTTP)
            self._track(direction, msg, m)
        elif m == "eth_submitWork":
            self._points(variant, _P_ETH_WORK if not over_http else _P_GETWORK_HTTP)
            self._share(direction, ts, msg, m, self._current_work())
        elif m == "eth_submitHashrate":
            self._points(variant, _P_ETH_WORK if not over_http else _P_GETWORK_HTTP)
            if plist and isinstance(plist[0], str):
                try:
                    rate = int(plist[0], 16)
                except ValueError:
                    rate = None
                if rate is not None and rate > 0:
                    self._f.reported_hashrate_hs = float(rate)
                    detail_en = detail_zh = f" {rate / 1e6:.2f} MH/s"
            self._track(direction, msg, m)
        w = msg.get("worker")
        if isinstance(w, str) and w.strip() and self._f.worker is None:
            self._f.worker = w.strip()[:64]
        self._evidence_msg(direction, ts, m, raw, detail_en, detail_zh)

    # -- CryptoNote / XMRig
    def _cryptonote_method(
        self, direction: int, ts: float, m: str, msg: dict[str, Any], params: Any, raw: bytes
    ) -> bool:
        if not isinstance(params, dict):
            return False
        detail_en = detail_zh = ""
        if m == "login":
            login = params.get("login")
            if not isinstance(login, str) or not ({"pass", "agent", "algo", "rigid"} & params.keys()):
                return False
            agent = params.get("agent")
            self._logins += 1
            self._role(direction, 0)
            self._track(direction, msg, m)
            if isinstance(agent, str) and agent:
                self._set_agent(agent)
            self._apply_login(direction, ts, login, m)
            rigid = params.get("rigid")
            if isinstance(rigid, str) and rigid.strip() and self._f.worker is None:
                self._f.worker = rigid.strip()[:64]
            if self._f.worker is None:
                self._f.worker = worker_from_password(params.get("pass"))
            algo = params.get("algo")
            if isinstance(algo, list) and algo and isinstance(algo[0], str) and self._algo_field is None:
                self._algo_field = algo[0]
            basis = _cn_login_basis(agent, split_login(login).wallet, algo)
            if basis is None:
                # The shape {login, pass} is every web app's log-in too: on its own it stays under the
                # report threshold (30 + both_directions 15) until a job, a submit or a wallet shows up.
                self._points("cryptonote-login", _P_CN_LOGIN_SHAPE)
            else:
                self._points(
                    "cryptonote-login",
                    _P_CN_LOGIN_AGENT if isinstance(agent, str) and agent.strip() else _P_CN_LOGIN,
                )
            detail_en, detail_zh = _login_detail(self._login)
            if basis is None:
                detail_en += " (nothing in it is specific to mining: no miner agent, wallet or algorithm)"
                detail_zh += "（其中没有挖矿特有的内容：无矿机程序、钱包地址或算法）"
        elif m == "job":
            if not self._cn_job(params):
                return False
            self._role(direction, 1)
            self._jobs += 1
            self._points("cryptonote-login", _P_CN_JOB)
        elif m == "submit":
            if not _cn_submit_shape(params):
                return False
            self._role(direction, 0)
            job = params.get("job_id")
            diff = self._cn_jobs.get(str(job), self._cn_diff)
            self._share(direction, ts, msg, m, ("cn", diff) if diff else None)
            self._points("cryptonote-login", _P_CN_SUBMIT)
        elif m in ("keepalived", "getjob"):
            if "id" not in params and m == "keepalived":
                return False
            self._role(direction, 0)
            self._track(direction, msg, m)
            # On its own a keepalive proves little; it counts once the session is known to be CryptoNote.
        self._mining_msgs += 1
        self._flags.add("cryptonote-login")
        self._evidence_msg(direction, ts, m, raw, detail_en, detail_zh)
        return True

    # -- Grin (grin-miner and the Grin node's stratum server) and Beam (beam-node stratum)
    def _grin_method(
        self, direction: int, ts: float, m: str, msg: dict[str, Any], params: Any, raw: bytes
    ) -> bool:
        """Grin: `job` carries `pre_pow` (the header before the proof of work) and `submit` a Cuckoo
        cycle (`pow`: 42 edge indices, `edge_bits` 29-32). The log-in is XMRig's shape (see
        `_cryptonote_method`); replies echo the method (see `_echoed_reply`)."""
        if m == "job":
            if not _grin_job(params):
                return False
            self._role(direction, 1)
            self._jobs += 1
            self._points("cryptonote-login", _P_CN_JOB)
        elif m == "submit":
            if not (isinstance(params, dict) and isinstance(params.get("pow"), list) and len(params["pow"]) == 42
                    and isinstance(params.get("edge_bits"), int) and "job_id" in params):  # fmt: skip
                return False
            if self._algo_field is None:
                self._algo_field = "cuckatoo32" if params["edge_bits"] >= 31 else "cuckaroo29"
            self._share(direction, ts, msg, m, None)
            self._points("cryptonote-login", _P_CN_SUBMIT)
        else:  # getjobtemplate, keepalive: count once the session is known to be Grin
            if not self._protocol_pts.get("cryptonote-login") and not self._logins:
                return False
            self._role(direction, 0)
            self._track(direction, msg, m)
        self._mining_msgs += 1
        self._flags.add("cryptonote-login")
        self._evidence_msg(direction, ts, m, raw, "")
        return True

    def _beam_method(self, direction: int, ts: float, m: str, msg: dict[str, Any], raw: bytes) -> bool:
        """Beam's stratum (beam-node, miningcore): top-level fields, no `params`. `login` with
        `api_key`, `job` with a 32-byte hex `input`, `solution` with hex `nonce` and `output`,
        answered by `result` messages whose `code` 0 is success."""
        if "params" in msg:
            return False
        if m == "login":
            if not isinstance(msg.get("api_key"), str):
                return False
            self._logins += 1
            self._role(direction, 0)
            self._track(direction, msg, "beam-login")
            self._points("cryptonote-login", _P_CN_LOGIN_SHAPE)
        elif m == "job":
            inp = msg.get("input")
            if not (isinstance(inp, str) and len(inp) == 64 and _HEX_RE.match(inp) and "id" in msg):
                return False
            self._role(direction, 1)
            self._jobs += 1
            self._algo_field = self._algo_field or "beamhash3"
            self._points("cryptonote-login", _P_CN_JOB)
        elif m == "solution":
            nonce, out = msg.get("nonce"), msg.get("output")
            if not (isinstance(nonce, str) and isinstance(out, str) and _HEX_RE.match(nonce) and _HEX_RE.match(out)
                    and len(out) >= 64):  # fmt: skip
                return False
            self._share(direction, ts, msg, "beam-solution", None)
            self._points("cryptonote-login", _P_CN_SUBMIT)
        else:  # an unmatched `result` (its request not seen)
            return False
        self._mining_msgs += 1
        self._flags.add("cryptonote-login")
        self._evidence_msg(direction, ts, m, raw, "")
        return True

    def _cn_job(self, job: Any) -> bool:
        """Record a CryptoNote job (blob + job_id + target); False when the shape does not fit.

        XMRig's protocol (xmrig-proxy doc/STRATUM.md) sends the block hashing blob as hex and the
        share target as 4 or 8 little-endian bytes of hex. A game's or a job queue's `job` with a
        short token as blob or a word as target is not a mining job.
        """
        if not isinstance(job, dict):
            return False
        blob, jid, target = job.get("blob"), job.get("job_id"), job.get("target")
        if not (isinstance(blob, str) and _CN_BLOB_RE.match(blob) and len(blob) % 2 == 0 and jid is not None):
            return False
        if not (isinstance(target, str) and _CN_TARGET_RE.match(target)):
            return False
        diff = cryptonote_target_difficulty(target)
        if diff:
            self._cn_diff = diff
            if len(self._cn_jobs) >= 256:
                self._cn_jobs.pop(next(iter(self._cn_jobs)))
            self._cn_jobs[str(jid)] = diff
        algo = job.get("algo")
        if isinstance(algo, str) and algo:
            self._algo_field = algo
        return True

    # -- getblocktemplate family
    def _gbt_method(
        self,
        direction: int,
        ts: float,
        m: str,
        msg: dict[str, Any],
        params: Any,
        raw: bytes,
        http: dict[str, Any] | None,
    ) -> None:
        self._role(direction, 0)
        self._mining_msgs += 1
        self._track(direction, msg, m)
        # names the node variant should the flow turn out to be a bare template poll (see `_build`)
        self._flags.add("node-rpc-http" if http is not None else "node-rpc")
        if m in ("submitblock", "submit_block"):
            self._gbt_context = True
            self._points("getblocktemplate-http", _P_SUBMITBLOCK)
            self._share(direction, ts, msg, m, None)
        elif m == "get_block_template":
            if isinstance(params, dict) and isinstance(params.get("wallet_address"), str):
                self._apply_login(direction, ts, params["wallet_address"], m)
                self._gbt_context = True
                self._points("getblocktemplate-http", _P_XMR_DAEMON_GBT)
            else:
                self._points("getblocktemplate-http", _P_GBT_BARE)
        else:
            req = params[0] if isinstance(params, list) and params and isinstance(params[0], dict) else {}
            caps = req.get("capabilities") if isinstance(req, dict) else None
            if isinstance(caps, list) and {"coinbasetxn", "workid", "coinbase/append", "longpoll"} & {
                c for c in caps if isinstance(c, str)
            }:
                self._gbt_context = True
            if http is not None and _miner_agent(http["headers"].get("user-agent", "")):
                self._gbt_context = True
            self._points("getblocktemplate-http", _P_GBT_BARE)
        self._flags.add("getblocktemplate-http")
        self._evidence_msg(direction, ts, m, raw, "")

    # ------------------------------------------------------------------ responses
    def _response(
        self, direction: int, ts: float, msg: dict[str, Any], raw: bytes, http: dict[str, Any] | None
    ) -> None:
        rid = msg.get("id")
        key = (1 - direction, rid) if isinstance(rid, (int, str, float, type(None))) else None
        pending = self._take_pending(key, ts) if key is not None else None
        if pending is None and key is not None and isinstance(rid, (int, str)) and not isinstance(rid, bool):
            # a pool that echoes a string id "7" as the number 7, or the other way round
            alt = str(rid) if isinstance(rid, int) else int(rid) if rid.isdigit() and len(rid) < 19 else None
            if alt is not None:
                pending = self._take_pending((1 - direction, alt), ts)
        code = msg.get("code")
        self._reply_code = code if isinstance(code, int) and not isinstance(code, bool) else None
        result = msg.get("result")
        error = msg.get("error")
        if pending is not None:
            method, event = pending
            self._replied_roles += 1
            self._role(direction, 1)
            self._on_reply(direction, ts, method, result, error, event, raw)
            return
        # Unsolicited or unmatched replies identified by their shape.
        if (
            isinstance(result, list)
            and len(result) >= 3
            and all(isinstance(x, str) and _HEX64_RE.match(x) for x in result[:2])
        ):
            # eth-proxy work package [header, seed, target] (pushed with id 0 or answering eth_getWork)
            tgt = result[2] if isinstance(result[2], str) else None
            hh = target256_hashes(tgt) if tgt else None
            if hh:
                self._target_hashes = hh
                self._stratum_diff = None
            self._jobs += 1
            self._role(direction, 1)
            self._mining_msgs += 1
            self._flags.add("getwork-http" if http is not None else "ethproxy")
            self._points("getwork-http" if http is not None else "ethproxy", _P_ETH_PUSH)
            self._evidence(
                "net.msg.eth_work_package",
                ts,
                direction,
                "an Ethereum work package [header, seed, target]",
                "以太坊工作包 [header, seed, target]",
                {"raw": _raw(raw)},
                sent=True,
            )
        elif http is not None and _getwork_work(result):
            # getwork work pushed on a long-poll connection (GET /LP, X-Long-Polling): block header
            # data of 128 bytes and a 256-bit target, which nothing but getwork sends
            self._getwork_target(result["target"])
            self._role(direction, 1)
            self._jobs += 1
            self._mining_msgs += 1
            self._flags.add("getwork-http")
            self._points("getwork-http", _P_GETWORK_PUSH)
            self._evidence_msg(direction, ts, "getwork work (long poll)", raw, "", zh_name="getwork 工作（长轮询）")
        elif isinstance(result, dict) and isinstance(result.get("job"), dict) and self._cn_job(result["job"]):
            self._role(direction, 1)
            self._jobs += 1
            self._mining_msgs += 1
            self._flags.add("cryptonote-login")
            self._points("cryptonote-login", _P_CN_JOB)
            self._evidence_msg(direction, ts, "login (reply)", raw, "")
        elif self._mining_seen() and (result is not None or error is not None):
            # Mid-session: a reply to a request we did not see (e.g. share results).
            self._role(direction, 1)

    def _on_reply(
        self, direction: int, ts: float, method: str, result: Any, error: Any, event: int, raw: bytes
    ) -> None:
        ok = error in (None, False, 0) and result is not False
        if method in ("beam-solution", "beam-login"):
            code = self._reply_code or 0
            if method == "beam-solution":
                self._results_seen = True
                self._resolve_share(event, code == 0)
            return
        if method == "getjobtemplate" and _grin_job(result):
            self._jobs += 1
            self._points("cryptonote-login", _P_CN_JOB)
            return
        if method in ("mining.submit", "eth_submitWork", "submit", "getwork", "submitblock", "submit_block"):
            if method == "submit" and isinstance(result, dict):
                ok = ok and str(result.get("status", "OK")).upper() in ("OK", "ACCEPTED")
            if isinstance(result, list) and result and result[0] in (False, "false"):
                ok = False  # Conflux: ["false", "invalid nonce"]
            if method == "getwork" and result is None and error is None:
                ok = False
            self._results_seen = True
            self._resolve_share(event, ok)
            if not ok:
                self._evidence_msg(direction, ts, f"{method} rejected", raw, "")
            return
        if method == "mining.subscribe":
            flat = json.dumps(result)[:2000] if result is not None else ""
            if "EthereumStratum/1" in flat:
                self._flags.add("ethstratum-1")
            self._evidence_msg(direction, ts, "mining.subscribe (reply)", raw, "")
        elif method == "mining.hello":
            if isinstance(result, dict):
                enc = result.get("encoding")
                proto = result.get("proto")
                if isinstance(proto, str) and proto.startswith("EthereumStratum/2"):
                    self._flags.add("ethstratum-2")
                if enc == "gzip":
                    self._switch_gzip(direction, ts, raw)
                else:
                    self._evidence_msg(direction, ts, "mining.hello (reply)", raw, "")
        elif method == "login":
            if (
                isinstance(result, dict)
                and isinstance(result.get("job"), dict)
                and self._cn_job(result["job"])
            ):
                self._jobs += 1
                self._points("cryptonote-login", _P_CN_JOB)
            self._evidence_msg(direction, ts, "login (reply)", raw, "")
        elif method == "mining.authorize":
            en = "accepted" if ok and result is not None else "refused"
            zh = "通过" if ok and result is not None else "被拒绝"
            self._evidence_msg(
                direction, ts, f"mining.authorize {en}", raw, "", "", zh_name=f"mining.authorize {zh}"
            )
        elif method == "getwork-fetch":
            if isinstance(result, dict) and isinstance(result.get("target"), str):
                self._getwork_target(result["target"])
                self._jobs += 1
        elif method in ("getblocktemplate", "get_block_template"):
            if isinstance(result, dict) and ("coinbasetxn" in result or "blocktemplate_blob" in result):
                self._gbt_context = True
        elif method == "eth_getWork" and isinstance(result, list) and len(result) >= 3:
            tgt = result[2]
            hh = target256_hashes(tgt) if isinstance(tgt, str) else None
            if hh:
                self._target_hashes = hh
                self._stratum_diff = None
            self._jobs += 1

    def _getwork_target(self, t: str) -> None:
        """getwork targets are 256-bit little-endian hex."""
        try:
            val = int.from_bytes(bytes.fromhex(t), "little")
        except ValueError:
            return
        if val:
            self._target_hashes = 2.0**256 / val
            self._stratum_diff = None

    def _switch_gzip(self, direction: int, ts: float, raw: bytes) -> None:
        if self._f.gzip_switched:
            return
        self._f.gzip_switched = True
        for dd in self._dirs:
            if dd.mode in ("text", "auto"):
                dd.mode = "gzip"
        self._evidence(
            "net.ethstratum2.gzip",
            ts,
            direction,
            "EthereumStratum/2.0.0 hello answered with encoding gzip: the rest of the session is compressed",
            "EthereumStratum/2.0.0 握手回复 encoding 为 gzip：之后的会话内容均被压缩",
            {"raw": _raw(raw)},
            sent=True,
        )

    # ------------------------------------------------------------------ shares
    def _current_work(self) -> tuple[str, float] | None:
        if self._cn_diff and "cryptonote-login" in self._flags and not self._target_hashes:
            return ("cn", self._cn_diff)
        if self._target_hashes:
            return ("hashes", self._target_hashes)
        if self._stratum_diff:
            return ("diff", self._stratum_diff)
        return None

    def _share(
        self,
        direction: int,
        ts: float,
        msg: dict[str, Any] | None,
        method: str,
        work: tuple[str, float] | None,
    ) -> None:
        """Count a submitted share; its reply (matched by id) later marks it accepted or rejected."""
        self._role(direction, 0)
        self._submitted += 1
        idx = self._add_event(ts, work)
        if msg is not None:
            self._track(direction, msg, method, idx)

    def _add_event(self, ts: float, work: tuple[str, float] | None) -> int:
        """Append a share event (bounded); returns its index or -1 once the list is full."""
        if len(self._events) >= MAX_EVENTS:
            self._late_work.add(ts, _work_hashes(work, None) or 0.0) if work and work[0] != "diff" else None
            return -1
        self._events.append((ts, None, None))
        self._event_work.append(work)
        return len(self._events) - 1

    def _resolve_share(self, event: int, ok: bool) -> None:
        if ok:
            self._accepted += 1
        else:
            self._rejected += 1
        if 0 <= event < len(self._events):
            t, dval, _ = self._events[event]
            self._events[event] = (t, dval, ok)

    # ------------------------------------------------------------------ logins, agents, hosts
    def _apply_login(self, direction: int, ts: float, login: str, source: str) -> None:
        parts = split_login(login)
        if self._login is None or (parts.wallet and not self._login.wallet):
            self._login = parts
        if parts.wallet and self._f.wallet is None:
            self._f.wallet = parts.wallet
            self._f.wallet_type = parts.wallet_type
        if parts.worker and self._f.worker is None:
            self._f.worker = parts.worker
        if parts.email and self._f.email is None:
            self._f.email = parts.email
        if parts.account and self._f.worker is None:
            self._f.worker = parts.account
        if parts.unchecked_candidate:
            self._evidence(
                "net.wallet.unchecked", ts, direction,
                f"login '{_clip(login, 120)}' contains an address-like string of a form minewatch cannot check "
                "(unchecked: not reported as a wallet, not known to be invalid)",
                f"登录名 '{_clip(login, 120)}' 中类似地址的字符串格式无法校验（未校验：不作为钱包地址报告，但也不能断定无效）",
                {"login": _clip(login, RAW_CHARS), "source": source},
            )  # fmt: skip
        if parts.invalid_candidate and "invalid-wallet" not in self._flags:
            self._flags.add("invalid-wallet")
            self._evidence(
                "net.wallet.invalid",
                ts,
                direction,
                f"login '{_clip(login, 120)}' contains an address-like string that fails its checksum (not reported as a wallet)",
                f"登录名 '{_clip(login, 120)}' 中类似地址的字符串校验失败（不作为钱包地址报告）",
                {"login": _clip(login, RAW_CHARS), "source": source},
                sent=True,
            )

    def _add_host(self, name: str | None, http: bool = False) -> None:
        if name and len(self._hosts) < 64:
            self._hosts.append((name, http))

    def _set_agent(self, agent: str) -> None:
        agent = agent.strip()[:100]
        if not agent or self._f.agent is not None:
            return
        self._f.agent = agent
        self._agent_known = _miner_agent(agent)

    def _mining_seen(self) -> bool:
        return bool(self._protocol_pts)

    def _mining_variant(self) -> str | None:
        fl = self._flags
        if fl.isdisjoint(_VARIANT_FLAGS):
            return None  # the common case, asked at every segment of a flow's head
        if "sv2-plain" in fl:
            return "stratum-v2"
        if "ethstratum-2" in fl:
            return "ethstratum-2"
        if "ethstratum-1" in fl:
            return "ethstratum-1"
        if "stratum" in fl:
            return "stratum-v1"
        if "cryptonote-login" in fl and self._protocol_pts.get("cryptonote-login"):
            return "cryptonote-login"
        if "ethproxy" in fl:
            return "ethproxy"
        if "getwork-http" in fl:
            return "getwork-http"
        if "getblocktemplate-http" in fl:
            return "getblocktemplate-http"
        if "sv2-noise" in fl:
            return "stratum-v2"
        return None

    # ------------------------------------------------------------------ node traffic
    def _scan_node_magic(self, direction: int, ts: float, d: _Dir) -> None:
        head = bytes(d.head)
        hit = nodes.find_bitcoin_message(head) or nodes.find_levin_message(head)
        if hit is not None:
            self._node_hit(direction, ts, hit, head[hit.offset : hit.offset + 64])

    def _node_hit(self, direction: int, ts: float, hit: nodes.NodeHit, raw: bytes) -> None:
        if self._node_variant is None:
            self._node_variant = hit.variant
            self._f.node_detail = hit.detail
        self._node_pts = max(self._node_pts, hit.strength)
        self._messages[hit.detail] += 1
        if self._f.first_ts is None:
            self._f.first_ts = ts
        self._f.last_ts = ts
        self._evidence(
            f"net.node.{hit.variant}",
            ts,
            direction,
            f"{hit.detail} (blockchain node traffic, not mining)",
            f" {hit.detail_zh or hit.detail}（区块链节点流量，不是挖矿）",
            {"hex": raw[:64].hex()},
            sent=True,
        )

    def _binary_handshakes(self) -> None:
        """Stratum V2 Noise and Ethereum RLPx are encrypted from byte one: judge by turn sizes."""
        t = self._turns
        if not t or not self._flow_start_clean or t[0][0] != 0:
            return
        d0 = self._dirs[0]
        if d0.mode not in ("text", "auto") or self._json_msgs or self._node_variant is not None:
            return
        size0, head0 = t[0][1], bytes(t[0][2])
        # Ethereum RLPx
        shape = nodes.rlpx_handshake_shape(head0, size0)
        if shape is not None:
            ack = len(t) > 1 and nodes.rlpx_handshake_shape(bytes(t[1][2]), t[1][1]) is not None
            port = nodes.DEVP2P_PORT in (self.src_port, self.dst_port)
            if ack or port:
                pts = 40.0 + (20.0 if ack else 0.0) + (15.0 if port else 0.0)
                self._node_variant = "devp2p"
                self._node_pts = max(self._node_pts, pts)
                self._f.node_detail = f"Ethereum RLPx handshake ({shape}{', ack seen' if ack else ''})"
                return
        if size0 == 64 and len(set(head0)) >= 40:
            self._flags.add("sv2-noise")
            self._points("stratum-v2", _P_SV2_NOISE)
            self._evidence(
                "net.sv2.noise_act1", t[0][3], 0,
                "a 64-byte random first message, the size of a Stratum V2 Noise handshake (act 1)",
                " 64 字节的随机首条消息，与 Stratum V2 Noise 握手（第一步）的长度一致",
                {"size_bytes": size0})

    # ------------------------------------------------------------------ Stratum V2 plaintext
    def _sv2_setup(self, direction: int, ts: float, data: bytes) -> bool:
        """Plaintext SV2 SetupConnection at the stream start (ext 0, msg 0x00, protocol 0 = mining)."""
        if len(data) < 6 + 1 + 4 + 4:
            return False
        ext = int.from_bytes(data[0:2], "little")
        mtype = data[2]
        length = int.from_bytes(data[3:6], "little")
        if ext & 0x7FFF != 0 or mtype != 0x00 or not 11 <= length <= 2048:
            return False
        p = data[6 : 6 + length]
        if len(p) < 9:
            return False
        protocol, vmin, vmax = p[0], int.from_bytes(p[1:3], "little"), int.from_bytes(p[3:5], "little")
        return protocol <= 2 and vmin == 2 and 2 <= vmax < 16

    def _sv2(self, direction: int, ts: float, d: _Dir) -> None:
        buf = d.buf
        while len(buf) >= 6:
            ext = int.from_bytes(buf[0:2], "little")
            mtype = buf[2]
            length = int.from_bytes(buf[3:6], "little")
            if length > (1 << 20):
                d.mode = "skip"
                buf.clear()
                return
            if len(buf) < 6 + length:
                return
            payload = bytes(buf[6 : 6 + length])
            del buf[: 6 + length]
            self._sv2_msg(direction, ts, ext, mtype, payload)

    def _sv2_msg(self, direction: int, ts: float, ext: int, mtype: int, p: bytes) -> None:
        names = {
            0x00: "SetupConnection", 0x01: "SetupConnection.Success", 0x02: "SetupConnection.Error",
            0x10: "OpenStandardMiningChannel", 0x11: "OpenStandardMiningChannel.Success",
            0x13: "OpenExtendedMiningChannel", 0x14: "OpenExtendedMiningChannel.Success",
            0x1A: "SubmitSharesStandard", 0x1B: "SubmitSharesExtended", 0x1C: "SubmitShares.Success",
            0x1D: "SubmitShares.Error", 0x1E: "NewMiningJob", 0x1F: "NewExtendedMiningJob",
            0x20: "SetNewPrevHash", 0x21: "SetTarget",
        }  # fmt: skip
        name = names.get(mtype, f"sv2-msg-0x{mtype:02x}")
        self._messages[name] += 1
        if self._f.first_ts is None:
            self._f.first_ts = ts
        self._f.last_ts = ts
        detail_en = detail_zh = ""
        try:
            if mtype == 0x00:
                protocol = p[0]
                r = 9
                host, r = _str0_255(p, r)
                r += 2
                vendor, r = _str0_255(p, r)
                _hw, r = _str0_255(p, r)
                fw, r = _str0_255(p, r)
                self._role(direction, 0)
                if protocol == 0:
                    self._sv2_plain = True
                    self._flags.add("sv2-plain")
                    self._points("stratum-v2", _P_SV2_PLAIN)
                if host and _hostname(host):
                    self._add_host(host.lower())
                if vendor:
                    self._set_agent(f"{vendor} {fw}".strip())
                detail_en = f" (protocol {protocol}, vendor '{vendor}', endpoint '{host}')"
                detail_zh = f"（协议 {protocol}，厂商 '{vendor}'，端点 '{host}'）"
            elif mtype in (0x01, 0x02, 0x11, 0x14, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0x21):
                self._role(direction, 1)
                if mtype in (0x1E, 0x1F):
                    self._jobs += 1
                if mtype == 0x11 and len(p) >= 40:
                    self._sv2_target(p[8:40])
                elif mtype == 0x21 and len(p) >= 36:
                    self._sv2_target(p[4:36])
                elif mtype == 0x1C and len(p) >= 12:
                    n = int.from_bytes(p[8:12], "little")
                    self._results_seen = True
                    # SV2 acknowledges shares in batches: mark the oldest unresolved ones accepted.
                    self._accepted += n
                    self._mark_oldest(n, True)
                elif mtype == 0x1D:
                    self._results_seen = True
                    self._rejected += 1
                    self._mark_oldest(1, False)
            elif mtype in (0x10, 0x13):
                self._logins += 1
                self._role(direction, 0)
                user, r = _str0_255(p, 4)
                if user:
                    self._apply_login(direction, ts, user, name)
                    detail_en, detail_zh = _login_detail(self._login)
                if len(p) >= r + 4:
                    import struct

                    rate = struct.unpack("<f", p[r : r + 4])[0]
                    if math.isfinite(rate) and rate > 0:
                        self._f.reported_hashrate_hs = float(rate)
            elif mtype in (0x1A, 0x1B):
                self._share(direction, ts, None, name, self._current_work())
        except IndexError:
            self._f.lines_bad += 1
        if mtype in (0x00, 0x01, 0x10, 0x13, 0x1A, 0x1B, 0x1C, 0x1D):
            self._evidence_msg(
                direction, ts, f"Stratum V2 {name}", p[:150].hex().encode(), detail_en, detail_zh
            )

    def _mark_oldest(self, n: int, ok: bool) -> None:
        i = self._sv2_resolved
        while n > 0 and i < len(self._events):
            t, dval, acc = self._events[i]
            if acc is None:
                self._events[i] = (t, dval, ok)
                n -= 1
            i += 1
        self._sv2_resolved = i

    def _sv2_target(self, t: bytes) -> None:
        val = int.from_bytes(t, "little")
        if val:
            self._target_hashes = 2.0**256 / val
            self._stratum_diff = None

    # ------------------------------------------------------------------ evidence
    def _endpoints(self, direction: int) -> tuple[str, str]:
        if direction == 0:
            return self.src_ip, endpoint(self.dst_ip, self.dst_port)
        return self.dst_ip, endpoint(self.src_ip, self.src_port)

    def _evidence(
        self,
        code: str,
        ts: float,
        direction: int,
        what_en: str,
        what_zh: str,
        data: dict[str, Any],
        sent: bool = True,
    ) -> None:
        if code in self._seen_codes or len(self._f.evidence) >= MAX_EVIDENCE:
            return
        self._seen_codes.add(code)
        who, peer = self._endpoints(direction)
        data = dict(data)
        data.setdefault("direction", "src->dst" if direction == 0 else "dst->src")
        when = utc_from_epoch(ts) if ts else None
        stamp = f"{when:%Y-%m-%d %H:%M:%S}" if when else ""  # formatted once for both languages
        at_en = f" at {stamp} UTC" if when else ""
        at_zh = f"（{stamp} UTC）" if when else ""
        self._f.evidence.append(
            Evidence(
                code=code,
                text=f"{who} sent {what_en} to {peer}{at_en}",
                text_zh=f"{who} 向 {peer} 发送了{what_zh}{at_zh}",
                ts=when,
                data=data,
            )
        )

    def _evidence_msg(
        self,
        direction: int,
        ts: float,
        method: str,
        raw: bytes,
        detail_en: str,
        detail_zh: str = "",
        zh_name: str | None = None,
    ) -> None:
        if zh_name is None:
            zh_name = method.replace(" (reply)", " 回复").replace(" rejected", " 被拒绝")
        self._evidence(
            f"net.msg.{method}",
            ts,
            direction,
            f"{method}{detail_en}",
            f" {zh_name}{detail_zh or detail_en}",
            {"raw": _raw(raw), "method": method},
        )

    # ------------------------------------------------------------------ results
    def facts(self) -> SessionFacts:
        """The facts so far (callable before close; cheap enough to call once per flow)."""
        try:
            return self._build()
        except Exception as exc:  # never let one odd flow break a scan
            f = self._f
            self._flags.add(f"internal-error:{type(exc).__name__}")
            return f

    def _build(self) -> SessionFacts:
        self._binary_handshakes()
        f = self._f
        f.messages_seen = dict(self._messages)
        variant = self._mining_variant()
        mining_pts = max(self._protocol_pts.values(), default=0.0)
        sub: dict[str, float] = {}
        # getblocktemplate with nothing of a miner around it (no coinbasetxn/workid/longpoll
        # capabilities, no X-Mining-Extensions, no miner User-Agent, no submitblock, no coinbasetxn in
        # the reply) is how pool software and block explorers poll their own node: node RPC, like
        # the same call next to getblockchaininfo.
        bare_gbt = variant == "getblocktemplate-http" and not self._gbt_context
        if (
            variant is not None
            and not bare_gbt
            and not (self._node_msgs and mining_pts < 50 and not self._gbt_context)
        ):
            f.kind = "mining"
            f.variant = variant
            pts = mining_pts
            if variant == "getblocktemplate-http" and self._gbt_context:
                pts = max(pts, _P_GBT_MINING)
            if variant in _PROBE_VARIANTS and self._own_probe():
                pts = min(pts, _P_PROBE_ONLY)
            f.probe_only = variant in _PROBE_VARIANTS and self._hello_only()
            sub["protocol"] = pts
            if self._both_directions():
                sub["both_directions"] = 15.0
            if self._submitted:
                sub["share_flow"] = 10.0
            if self._jobs >= 2:
                sub["work_flow"] = 5.0
            if f.wallet:
                a = validate_address(f.wallet)
                sub["wallet"] = 10.0 if a is not None and a.checked == "checksum" else 5.0
            if self._agent_known:
                sub["agent"] = 5.0
            if self._mining_header:
                sub["mining_header"] = 10.0
            if variant == "stratum-v2" and "sv2-noise" in self._flags and not self._sv2_plain:
                t = self._turns
                if len(t) > 1 and t[1][0] == 1 and t[1][1] in (234, 170):
                    sub["sv2_reply"] = 15.0
                    self._evidence(
                        "net.sv2.noise_act2", t[1][3], 1,
                        f"a {t[1][1]}-byte answer, the size of a Stratum V2 Noise act 2 (ephemeral key, "
                        "certificate, MACs)",
                        f" {t[1][1]} 字节的应答，与 Stratum V2 Noise 握手第二步（临时公钥、证书、MAC）的长度一致",
                        {"size_bytes": t[1][1]})
                    if len(t) >= 4:
                        sub["sv2_frames"] = 5.0
                        self._evidence(
                            "net.sv2.frames", t[2][3], 0,
                            "encrypted frames after the handshake",
                            "握手之后持续的加密帧（与挖矿通道一致）",
                            {"turns": len(t)})
                f.encrypted = True
            elif f.encrypted is None:
                f.encrypted = False
        elif self._node_variant is not None or self._node_msgs or bare_gbt:
            f.kind = "node"
            if self._node_variant is not None:
                f.variant = self._node_variant
                sub["protocol"] = self._node_pts
            else:
                f.variant = "node-jsonrpc-http" if "node-rpc-http" in self._flags else "node-jsonrpc"
                sub["protocol"] = _P_NODE_RPC
                if self._replied_roles:
                    sub["both_directions"] = 15.0
            f.encrypted = f.variant == "devp2p" or None
        elif "tls" in self._flags:
            f.kind = None
            f.variant = "tls"
            f.encrypted = True
        else:
            f.kind = None
            f.variant = None
        f.subscores = sub
        f.node_calls = self._node_msgs
        f.unrecognised_json = self._other_json
        f.client_is_src = self._client_is_src()
        # pool host: SNI first (what the client asked for on the wire), then protocol-named hosts;
        # an HTTP Host header only for a flow reported as mining on its own evidence (on a web app's
        # log-in it names the web app, and must not be looked up as a pool or shown as one).
        reported = f.kind == "mining" and combine_subscores(sub) >= REPORT_THRESHOLD
        hosts = [h for h, from_http in self._hosts if h and (reported or not from_http)]
        f.pool_host = f.sni or next(iter(hosts), None)
        if f.kind is None:
            # Nothing mining-like was seen: no coin to infer, no shares to count. Most flows of a
            # capture end here, so this is kept cheap.
            f.evidence.sort(key=lambda e: (e.ts is None, e.ts))
            return f
        # difficulty, shares, hashrate
        guess = infer_coin(
            wallet_coin=_wallet_coin(f.wallet_type),
            algo=self._algo_field,
            hosts=(f.sni, *hosts),
            agent=f.agent,
            variant=f.variant,
        )
        f.stated_algorithm = self._algo_field
        if f.kind == "mining":
            f.coin, f.algorithm, f.coin_reason = guess.coin, guess.algorithm, guess.reason
            _ethproxy_default(f)
        family = self._family(f, guess.family, guess.algorithm)
        self._finish_shares(f, family)
        if f.kind == "mining" and self._events:
            # a pool name learned outside the flow (DNS, later) may still change the family
            f.rehash = self._rehash
        f.evidence.sort(key=lambda e: (e.ts is None, e.ts))
        return f

    def _family(self, f: SessionFacts, family: str | None, algorithm: str | None) -> str | None:
        """The hashrate family: the coin/algorithm's, else Bitcoin's for Bitcoin-style Stratum
        difficulty when no algorithm at all was named (the commonest case), never when one was
        named whose convention is unknown here (a wrong K is off by up to 2^16)."""
        if f.kind != "mining":
            return None
        if family is None and algorithm is None and self._stratum_diff is not None and f.variant in (
            "stratum-v1", "getwork-http", "getblocktemplate-http", "stratum-v2",
        ):  # fmt: skip
            family = "sha256d"
            f.family_assumed = True
        if f.variant == "cryptonote-login":
            family = "cryptonote"
        return family

    def _rehash(self, f: SessionFacts, family: str | None, algorithm: str | None) -> None:
        """Recompute difficulty and hashrate once the coin is learned from a pool name (see
        `refine_with_pool_name`): the family decides K, and scrypt's K is 2^16 times smaller."""
        f.family_assumed = False
        self._finish_shares(f, self._family(f, family, algorithm))

    def _finish_shares(self, f: SessionFacts, family: str | None) -> None:
        cur = self._current_work()
        if f.variant == "cryptonote-login" and self._cn_diff:
            f.share_difficulty = self._cn_diff
            f.share_work_hashes = self._cn_diff
        elif cur is not None:
            f.share_work_hashes = _work_hashes(cur, family)
            f.share_difficulty = _display_difficulty(cur, family)
        f.share_events = [
            (ts, _display_difficulty(w, family), ok)
            for (ts, _, ok), w in zip(self._events, self._event_work, strict=False)
        ]
        if f.kind != "mining":
            f.submitted = f.shares_accepted = f.shares_rejected = None
            f.hashrate = None
            return
        f.submitted = self._submitted
        if self._results_seen or self._accepted or self._rejected:
            f.shares_accepted = self._accepted
            f.shares_rejected = self._rejected
        acc = ShareAccumulator()
        for (ts, _dval, ok), work in zip(self._events, self._event_work, strict=False):
            if ok is False or work is None:
                continue
            hashes = _work_hashes(work, family)
            if hashes:
                acc.add(ts, hashes)
        if self._late_work.n:
            acc.n += self._late_work.n
            acc.work_total += self._late_work.work_total
            if self._late_work.t_last is not None:
                acc.t_last = max(acc.t_last or self._late_work.t_last, self._late_work.t_last)
        basis = "accepted shares" if self._results_seen else "submitted shares (pool replies not seen)"
        fam = family if family else None
        f.hashrate = acc.estimate(fam, basis=basis)
        if f.hashrate is not None and fam is None:
            f.hashrate.assumptions.append(
                "algorithm family unknown: shares counted from 256-bit targets only"
            )
        elif f.hashrate is not None and f.family_assumed:
            f.hashrate.assumptions.append(
                "no coin or algorithm named: Bitcoin's 2^32 hashes per difficulty 1 assumed (scrypt pools: 2^16)"
            )

    def _own_probe(self) -> bool:
        """minewatch's own `probe` (its agent) and no share: never a mining session, even when the
        pool it asked answered with work."""
        if self._submitted or not (self._f.agent or "").lower().startswith(_OWN_PROBE_AGENT):
            return False
        self._evidence(
            "net.stratum.own_probe", self._f.first_ts or 0.0, 0,
            "a mining hello from minewatch's own probe (agent minewatch-probe): not a mining session",
            "来自 minewatch 自身探测程序（minewatch-probe）的挖矿握手：不是挖矿会话",
            {"agent": self._f.agent},
        )  # fmt: skip
        return True

    def _hello_only(self) -> bool:
        """Did the client only say hello? No log-in, no job, no difficulty and no share: a port
        scanner, a pool monitor, or a miner trying the next pool of its list. Which one needs the
        rest of the capture (see `minewatch.net.pipeline`), so the flow is only marked here."""
        return not (
            self._submitted or self._logins or self._jobs or self._stratum_diff or self._target_hashes
            or self._cn_diff
        )  # fmt: skip

    def _both_directions(self) -> bool:
        v = self._votes
        return (v[0][0] > 0 and v[1][1] > 0) or (v[1][0] > 0 and v[0][1] > 0)

    def _client_is_src(self) -> bool | None:
        v = self._votes
        src_client = v[0][0] + v[1][1]
        dst_client = v[1][0] + v[0][1]
        if src_client == dst_client == 0:
            return None
        return src_client >= dst_client


def refine_with_pool_name(facts: SessionFacts, name: str | None) -> SessionFacts:
    """Use a pool name learned outside the flow (e.g. a cached DNS answer for the server address).

    Fills `pool_host` when the flow named none, and the coin/algorithm when the flow's own evidence
    did not decide them. The hashrate is recomputed when the family changes: one assumed by
    default (Bitcoin's, for a Stratum session that named no coin) gives way to the name's.
    """
    if not name or facts.kind != "mining":
        return facts
    if facts.pool_host is None:
        facts.pool_host = name
    telling = bool(host_algorithm(name) or is_marketplace(name))  # the name overrules a payout wallet
    # a coin taken from the eth-proxy dialect's default is a guess the pool's name may correct (an etc pool)
    telling = telling or (facts.coin_assumed and host_coin(name) is not None)
    if facts.coin is None or (facts.algorithm is None and facts.stated_algorithm is None) or telling:
        g = infer_coin(
            wallet_coin=_wallet_coin(facts.wallet_type),
            algo=facts.stated_algorithm,
            hosts=(facts.sni, facts.pool_host, name),
            agent=facts.agent,
            variant=facts.variant,
        )
        if g.coin is not None or g.algorithm is not None:
            old_family = None if facts.family_assumed else family_of(facts.algorithm, facts.coin)
            facts.coin = g.coin if telling else facts.coin or g.coin
            facts.algorithm, facts.coin_reason = g.algorithm, g.reason
            facts.coin_assumed = False
            _ethproxy_default(facts)
            if facts.rehash is not None and (facts.family_assumed or g.family != old_family):
                # The family was Bitcoin's by default; the name says otherwise (a scrypt pool's
                # difficulty is worth 2^16 hashes, not 2^32): recompute rather than contradict.
                facts.rehash(facts, g.family, g.algorithm)
    return facts


# ---------------------------------------------------------------------------------------------- helpers


def _work_hashes(work: tuple[str, float] | None, family: str | None) -> float | None:
    """Expected hashes of one share: target-derived work is already in hashes, Stratum difficulty
    needs the family's K (see minewatch.net.hashrate)."""
    if work is None:
        return None
    kind, val = work
    if kind in ("hashes", "cn"):
        return val
    return hashes_per_share(family, val)


def _display_difficulty(work: tuple[str, float] | None, family: str | None) -> float | None:
    """Share difficulty as pools quote it: the Stratum/CryptoNote difficulty as sent, or for a target
    its expected work divided by the family's difficulty-1 work (2^32 when the family is unknown)."""
    if work is None:
        return None
    kind, val = work
    if kind != "hashes":
        return val
    return val / (HASHES_PER_DIFF1.get(family or "", 0.0) or 2.0**32)


def _ethproxy_default(f: SessionFacts) -> None:
    """Coin and algorithm of an eth-proxy session that logged in with a 0x wallet and named neither.

    Why a default here and not in `infer_coin`: a 0x address is valid on every EVM chain, so the
    wallet alone decides nothing; but eth-proxy (`eth_submitLogin`/`eth_getWork`) is the getwork
    bridge of Ethash miners (Claymore, ethminer, PhoenixMiner) and was spoken to Ethereum and
    Ethereum Classic pools only. Ethereum's (historic) Ethash is the reading; a pool name naming
    ETC already made the coin ETC (`infer_coin`'s host tokens), and a name naming another coin or
    algorithm leaves both as that name says. `coin_assumed` lets a pool name learned later
    (`refine_with_pool_name`) still correct it.
    """
    if f.variant != "ethproxy" or _wallet_coin(f.wallet_type) != "ethereum":
        return
    if f.coin is not None or f.algorithm not in (None, "ethash"):
        return
    f.coin, f.algorithm, f.coin_assumed = "ethereum", "ethash", True
    why = "eth-proxy dialect with an Ethereum-format (0x) wallet: Ethash, Ethereum (no pool name says another chain)"
    f.coin_reason = f"{f.coin_reason}; {why}" if f.coin_reason else why


def _wallet_coin(wallet_type: str | None) -> str | None:
    if not wallet_type:
        return None
    return wallet_type.split("-", 1)[0] if not wallet_type.startswith("bitcoin-cash") else "bitcoin-cash"


def _raw(raw: bytes) -> str:
    s = raw.decode("utf-8", "replace")
    return s if len(s) <= RAW_CHARS else s[:RAW_CHARS] + "…"


def _clip(s: str, n: int) -> str:
    return s if len(s) <= n else s[:n] + "…"


def _str0_255(p: bytes, r: int) -> tuple[str, int]:
    n = p[r]
    s = p[r + 1 : r + 1 + n]
    if len(s) != n:
        raise IndexError("short string")
    return s.decode("utf-8", "replace"), r + 1 + n


#: every flag `SessionAnalyzer._mining_variant` turns into a variant
_VARIANT_FLAGS = frozenset({"sv2-plain", "ethstratum-2", "ethstratum-1", "stratum", "cryptonote-login", "ethproxy",
                            "getwork-http", "getblocktemplate-http", "sv2-noise"})


@functools.lru_cache(maxsize=4096)
def _is_ip_literal(host: str) -> bool:
    """Cached: every HTTP request's Host header is checked, the same few hosts over and over, and
    `ipaddress` answers "not an address" by raising (~30 µs each)."""
    import ipaddress

    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


def _hostname(s: str) -> bool:
    s = s.strip().lower()
    return (
        0 < len(s) <= 253
        and "." in s
        and not _is_ip_literal(s)
        and all(c.isalnum() or c in "-." for c in s)
        and not s.startswith((".", "-"))
    )


def _miner_agent(agent: str) -> bool:
    a = agent.strip().lower()
    if not a:
        return False
    if any(a.startswith(prefix) for prefix, _, _ in AGENT_HINTS):
        return True
    return "miner" in a or a.startswith(
        ("nicehash", "teamredminer", "lolminer", "gminer", "nbminer", "t-rex", "bzminer")
    )


def _cn_login_basis(agent: Any, wallet: str | None, algo: Any) -> str | None:
    """What makes a CryptoNote `login` mining-specific, or None when only its shape fits.

    XMRig and its kin log in with a payout address (checksum-validated) as `login`, name themselves in
    `agent` and list the algorithms they can hash in `algo`; a web app's or a job queue's log-in has
    none of these.
    """
    if isinstance(agent, str) and _miner_agent(agent):
        return "agent"
    if wallet:
        return "wallet"
    if isinstance(algo, list) and any(isinstance(a, str) and _mining_algo(a) for a in algo[:64]):
        return "algo"
    return None


def _mining_algo(name: str) -> bool:
    n = name.strip().lower()
    return n in ALGORITHMS or ("/" in n and n.split("/", 1)[0] in _CN_ALGO_PREFIXES)


def _cn_submit_shape(params: dict[str, Any]) -> bool:
    """An XMRig `submit`: job_id, a hex nonce of 4 (or 8) bytes and, when present, a 32-byte hex result."""
    nonce = params.get("nonce")
    if "job_id" not in params or not (isinstance(nonce, str) and _CN_NONCE_RE.match(nonce)):
        return False
    if "result" in params:
        result = params["result"]
        return isinstance(result, str) and bool(_CN_RESULT_RE.match(result))
    return "id" in params


def _login_detail(login: LoginParts | None) -> tuple[str, str]:
    if login is None:
        return "", ""
    bits_en: list[str] = []
    bits_zh: list[str] = []
    if login.worker:
        bits_en.append(f"worker '{login.worker}'")
        bits_zh.append(f"矿工名 '{login.worker}'")
    if login.wallet:
        bits_en.append(f"wallet {login.wallet} ({login.wallet_type})")
        bits_zh.append(f"钱包 {login.wallet}（{login.wallet_type}）")
    if login.account and not login.wallet:
        bits_en.append(f"account '{login.account}'")
        bits_zh.append(f"账户 '{login.account}'")
    if not bits_en:
        return f" (login '{_clip(login.raw, 60)}')", f"（登录名 '{_clip(login.raw, 60)}'）"
    return " for " + ", ".join(bits_en), "（" + "，".join(bits_zh) + "）"


def _url_logins(target: str) -> list[str]:
    """Login-like values in an HTTP request target ('/?miner=30@0x..@rig', '/0xW/rig')."""
    return list(_url_logins_of(target))


@functools.lru_cache(maxsize=4096)
def _url_logins_of(target: str) -> tuple[str, ...]:
    """`_url_logins`, cached: clients ask for the same URLs over and over (an API polled every few
    seconds), and splitting and unquoting each one cost more than the rest of its request line."""
    if len(target) < 25:
        return ()  # every value kept is at least 25 characters, and unquoting only shortens text
    out: list[str] = []
    try:
        parts = urlsplit(target)
    except ValueError:
        return ()
    for _, v in parse_qsl(parts.query, keep_blank_values=False)[:20]:
        if len(v) >= 25:
            out.append(v)
    segs = [unquote(s) for s in parts.path.split("/") if s]
    for i, s in enumerate(segs[:10]):
        if len(s) >= 25:
            out.append("/".join(segs[i : i + 2]))
    return tuple(out)


def _socks_client_preamble(b: bytes) -> tuple[int, str | None, int | None] | None:
    """(bytes used, target host, port) of a client's SOCKS handshake; (0, None, None) when more bytes
    are needed; None when the bytes are not SOCKS. SOCKS5 (RFC 1928) with the optional RFC 1929
    user/password exchange, SOCKS4 and SOCKS4a (domain after the user id)."""
    if not b:
        return 0, None, None
    if b[0] == 5:
        if len(b) < 2 or len(b) < 2 + b[1]:
            return 0, None, None
        pos = 2 + b[1]
        if len(b) > pos and b[pos] == 1:  # RFC 1929 sub-negotiation
            if len(b) < pos + 2 or len(b) < pos + 3 + b[pos + 1]:
                return 0, None, None
            ulen = b[pos + 1]
            plen = b[pos + 2 + ulen]
            pos += 3 + ulen + plen
        if len(b) < pos + 5:
            return 0, None, None
        if b[pos] != 5 or b[pos + 1] not in (1, 2, 3) or b[pos + 2] != 0:
            return None
        atyp = b[pos + 3]
        if atyp == 1:
            end, host = pos + 8, ".".join(str(x) for x in b[pos + 4 : pos + 8])
        elif atyp == 3:
            end = pos + 5 + b[pos + 4]
            host = b[pos + 5 : end].decode("latin-1").lower()
        elif atyp == 4:
            end, host = pos + 20, None
        else:
            return None
        if len(b) < end + 2:
            return 0, None, None
        return end + 2, host, int.from_bytes(b[end : end + 2], "big")
    if b[0] == 4:
        if len(b) < 9:
            return 0, None, None
        port = int.from_bytes(b[2:4], "big")
        nul = b.find(b"\x00", 8)
        if nul < 0:
            return (0, None, None) if len(b) < 264 else None
        if b[4:7] == b"\x00\x00\x00" and b[7] != 0:  # SOCKS4a: the domain follows the user id
            nul2 = b.find(b"\x00", nul + 1)
            if nul2 < 0:
                return (0, None, None) if len(b) < 520 else None
            return nul2 + 1, b[nul + 1 : nul2].decode("latin-1").lower(), port
        return nul + 1, ".".join(str(x) for x in b[4:8]), port
    return None


def _socks_server_preamble(b: bytes) -> tuple[int, str | None, int | None] | None:
    """Bytes used by a SOCKS server's answers (method choice, RFC 1929 status, CONNECT reply)."""
    if not b:
        return 0, None, None
    if b[0] == 0:  # SOCKS4 reply: VN=0, CD, port, address
        return (8, None, None) if len(b) >= 8 else (0, None, None)
    if b[0] != 5 or len(b) < 2:
        return (0, None, None) if b[0] == 5 else None
    pos = 2
    if b[1] == 2:  # user/password chosen: a 2-byte sub-negotiation status follows
        if len(b) < 4:
            return 0, None, None
        pos = 4
    if len(b) < pos + 5:
        return 0, None, None
    if b[pos] != 5:
        return None
    atyp = b[pos + 3]
    end = {1: pos + 8, 4: pos + 20}.get(atyp, pos + 5 + b[pos + 4] if atyp == 3 else -1)
    if end < 0:
        return None
    if len(b) < end + 2:
        return 0, None, None
    return end + 2, None, None


def _grin_job(job: Any) -> bool:
    """A Grin job: `pre_pow` (hex header without its proof), `job_id`, `height` and `difficulty`."""
    if not isinstance(job, dict):
        return False
    pre = job.get("pre_pow")
    return (
        isinstance(pre, str) and 200 <= len(pre) <= 2048 and bool(_HEX_RE.match(pre))
        and "job_id" in job and isinstance(job.get("height"), int)
    )  # fmt: skip


def _getwork_work(result: Any) -> bool:
    """getwork work: `data` (a 128-byte block header, hex) and a 32-byte hex `target`."""
    if not isinstance(result, dict):
        return False
    data, target = result.get("data"), result.get("target")
    return (
        isinstance(data, str) and len(data) == 256 and bool(_HEX_RE.match(data))
        and isinstance(target, str) and len(target) == 64 and bool(_HEX_RE.match(target))
    )  # fmt: skip
