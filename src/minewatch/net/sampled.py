"""Mining content in packet samples: the JSON-RPC message at the start of a sampled packet's payload.

Why: an sFlow agent sends the first ~128 bytes of every N-th packet, which leaves 60-90 bytes of TCP
payload. A Stratum message starts its segment, and its first bytes say what it is: the method name
(`{"id":4,"method":"mining.submit",...`, `{"jsonrpc":"2.0","method":"job","params":{"blob":...`) or, in
the cgminer family (cgminer, bmminer on Antminers, ckpool), the params before it, whose shape is the
method's own (`{"params": ["rig1", "6a7b", "00000001", "5f5e1000", "1a2b3c4d"], ...` is a share;
`{"params": ["6a7b", "<64-hex previous block hash>", ...` is a job). The capture dissector
(`net.stratum`) cannot judge such a fragment, the JSON is cut, so this reads only that much, with the
dissector's rules where they apply: the message must open the payload (a JSON object, not a Redis
RESP frame or a log line that quotes one), every top-level key before the method must belong to a
JSON-RPC envelope (a log record's `time`, `level`, `msg` do not), and the points are the dissector's
per kind of message (`net.stratum._P_*`), so one sampled `mining.submit` weighs what one seen in a
capture does. Names that ordinary JSON-RPC applications also use (`login`, `submit`) count only with a
key only miners send beside them.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from minewatch.model import Evidence, Finding, combine_subscores, utc_from_epoch
from minewatch.net import stratum as st

#: CryptoNote (XMRig) methods and the key beside them that makes them a miner's: a job's `blob`, a log-in
#: whose params start with the wallet (`"params":{"login":`), a submit's `job_id`/`nonce`
_CN_KEYS = {
    "job": (rb'"blob"', rb'"job_id"'),
    "login": (rb'"params"\s*:\s*\{\s*"login"', rb'"agent"\s*:\s*"XMRig', rb'"rigid"'),
    "submit": (rb'"job_id"', rb'"nonce"'),
    "getjob": (rb'"job_id"',),
}
#: XMRig's keepalive method name; no other JSON-RPC application is known to use it, but alone it stays
#: under the report threshold (a suspect) like a bare log-in shape
_CN_ALONE = {"keepalived": st._P_CN_LOGIN_SHAPE}
_CN_POINTS = {"job": st._P_CN_JOB, "login": st._P_CN_LOGIN, "submit": st._P_CN_SUBMIT, "getjob": st._P_CN_SUBMIT}
_CLIENT_CN = frozenset({"login", "submit", "getjob", "keepalived"})
_S = rb"\s*"
_STR = rb'"[^"\\]{1,128}"'
#: cgminer's params-first share: worker, job id, extranonce2 (an even number of hex digits, 4-32), ntime (a
#: block time in hex: 2020-2038 is 5e0be100-7fffffff, so it starts 5, 6 or 7) [, nonce]
_SUBMIT_SHAPE = re.compile(rb'\{\s*"params"' + _S + rb":" + _S + rb"\[" + _S + _STR + _S + rb"," + _S
                           + rb'"[0-9a-fA-F]{1,64}"' + _S + rb"," + _S + rb'"(?:[0-9a-fA-F]{2}){2,16}"' + _S + rb","
                           + _S + rb'"[5-7][0-9a-fA-F]{7}"')
#: ... and a params-first job: a hex job id, then the 64-hex-digit previous block hash (at least 40 of its
#: digits visible: a 62-byte fragment cuts it). Whole, a block hash in Stratum's word order ends in zeros
#: (a block's hash is below its target): `_NOTIFY_WHOLE`; cut, the shape alone is a suspect's weight.
_NOTIFY_SHAPE = re.compile(rb'\{\s*"params"' + _S + rb":" + _S + rb"\[" + _S + rb'"[0-9a-fA-F]{1,16}"' + _S
                           + rb"," + _S + rb'"[0-9a-fA-F]{40}(?:[0-9a-fA-F]{24}"|[0-9a-fA-F]{0,23}$)')
_NOTIFY_WHOLE = re.compile(rb'\{\s*"params"' + _S + rb":" + _S + rb"\[" + _S + rb'"[0-9a-fA-F]{1,16}"' + _S
                           + rb"," + _S + rb'"[0-9a-fA-F]{56}00000000"')
#: names given to the shapes (the method they are), with their points: a share with a block time and a job
#: whose hash ends as block hashes do are as specific as a method name; a job cut before its hash's end is
#: a suspect's weight (a file's SHA-256 after a hex id looks the same)
SUBMIT_SHAPE = "mining.submit (params first)"
NOTIFY_SHAPE = "mining.notify (params first)"
NOTIFY_CUT = "mining.notify (params first, hash cut)"
_SHAPE_POINTS = {SUBMIT_SHAPE: st._P_CN_JOB, NOTIFY_SHAPE: st._P_CN_JOB, NOTIFY_CUT: st._P_PROBE_ONLY}
_TOKEN = re.compile(rb'\s*(?:"((?:[^"\\]|\\.)*)"|([{}\[\],:])|([^\s{}\[\],:"]+))')


def _top_level(payload: bytes) -> tuple[list[str], str | None]:
    """(top-level keys in order, the method's value if a top-level `method` key's string is complete) of
    the JSON object a fragment starts with; stops where the fragment ends."""
    keys: list[str] = []
    depth = 0
    expect_key = False
    after_method = False
    pos = 0
    n = len(payload)
    while pos < n:
        m = _TOKEN.match(payload, pos)
        if m is None or m.end() == pos:
            break
        pos = m.end()
        s, punct = m.group(1), m.group(2)
        if punct is not None:
            p = punct
            if p in (b"{", b"["):
                depth += 1
                expect_key = p == b"{" and depth == 1
            elif p in (b"}", b"]"):
                depth -= 1
                if depth <= 0:
                    break
            elif p == b"," and depth == 1:
                expect_key = True
            continue
        if depth != 1:
            continue
        if s is not None and expect_key:
            key = s.decode("ascii", "replace")
            keys.append(key)
            expect_key = False
            after_method = key == "method"
            continue
        if after_method:
            if s is not None:  # group 1 matches only a string whose closing quote is in the fragment
                return keys, s.decode("ascii", "replace")
            after_method = False
    return keys, None


def fragment_method(payload: bytes) -> str | None:
    """The mining message a payload fragment starts with (None: none, or one others send too)."""
    body = payload.lstrip()
    if not body.startswith(b"{"):  # a RESP frame, an HTTP request, a log line: not a message of its own
        return None
    keys, name = _top_level(body) if b'"method"' in body else ([], None)
    if name is None and (body.startswith(b'{"params"') or body.startswith(b'{ "params"')):
        # the shapes count only while the method is out of sight: a visible method decides by its name
        if _NOTIFY_WHOLE.match(body):
            return NOTIFY_SHAPE
        if _NOTIFY_SHAPE.match(body):
            return NOTIFY_CUT
        if _SUBMIT_SHAPE.match(body):
            return SUBMIT_SHAPE
    if name is None:
        return None
    if name is None or any(k not in st._RPC_ENVELOPE for k in keys):
        return None  # a log record or document that quotes a method is not a JSON-RPC message
    if name in st.STRATUM_KNOWN or name in st.ETH_CLIENT or name in _CN_ALONE:
        return name
    ks = _CN_KEYS.get(name)
    if ks and any(re.search(k, body) for k in ks):
        return name
    return None


def method_points(name: str) -> float:
    """Points of one sampled message, the dissector's for the same kind of message."""
    if name in _SHAPE_POINTS:
        return _SHAPE_POINTS[name]
    if name in st.STRATUM_CORE:
        return st._P_STRATUM_CORE
    if name in st.STRATUM_KNOWN:
        return st._P_STRATUM_OTHER
    if name in ("eth_submitLogin", "eth_login"):
        return st._P_ETH_LOGIN
    if name in st.ETH_CLIENT:
        return st._P_ETH_WORK
    if name in _CN_ALONE:
        return _CN_ALONE[name]
    return _CN_POINTS.get(name, 0.0)


def sent_by_client(name: str) -> bool:
    """Whether a miner (not its pool) sends this message."""
    if name in _SHAPE_POINTS:
        return name == SUBMIT_SHAPE
    return name in st.STRATUM_CLIENT or name in st.ETH_CLIENT or name in _CLIENT_CN


#: messages a miner sends before it logs in (and a port scanner or a pool monitor sends alone): a sampled
#: connection that showed only these is a hello, weighed as the dissector weighs a lone hello
HELLOS = frozenset({"mining.subscribe", "mining.configure", "mining.hello", "mining.extranonce.subscribe",
                    "mining.suggest_difficulty", "mining.suggest_target", "mining.multi_version",
                    "mining.capabilities", "mining.noop"})


def _variant(name: str) -> str:
    if name.startswith(("mining.", "client.")):
        return "stratum-v1"
    if name.startswith("eth_"):
        return "ethproxy"
    return "cryptonote-login"


Endpoint = tuple[Any, Any]


@dataclass
class SampledContent:
    """Facts for `net.findings.session_finding` from one connection's sampled packets."""

    methods: dict[str, list[Any]] = field(default_factory=dict)  #: name -> [count, first time]
    sampling: int | None = None
    client: Endpoint | None = None  #: (address, port) of the miner, from the first message's direction
    client_is_src: bool | None = None  #: set against the row the facts are given with
    kind: str = "mining"
    encrypted: bool = False
    sni: str | None = None
    #: a hello-only connection whose host showed mining on another connection of the same input
    miner_host: bool = False

    @property
    def hello_only(self) -> bool:
        return all(n in HELLOS for n in self.methods)

    def add(self, name: str, ts: float | None, src: Endpoint, dst: Endpoint) -> None:
        seen = self.methods.setdefault(name, [0, ts])
        seen[0] += 1
        if ts is not None and (seen[1] is None or ts < seen[1]):
            seen[1] = ts
        if self.client is None:
            self.client = src if sent_by_client(name) else dst

    @property
    def variant(self) -> str:
        return _variant(max(self.methods, key=method_points))

    @property
    def subscores(self) -> dict[str, float]:
        pts = max(method_points(n) for n in self.methods)
        if self.hello_only and not self.miner_host:
            pts = min(pts, st._P_PROBE_ONLY)  # a scanner, a pool monitor, or a miner trying its next pool
        return {"sampled_protocol": pts}

    @property
    def evidence(self) -> list[Evidence]:
        names = sorted(self.methods, key=lambda n: (-method_points(n), n))
        listed = ", ".join(f"{n} ×{self.methods[n][0]}" for n in names)
        first = min((t for _, t in self.methods.values() if t is not None), default=None)
        hello = []
        if self.hello_only:
            hello = [Evidence(
                code="net.sampled_hello_of_a_miner" if self.miner_host else "net.sampled_hello_only",
                text="only a hello was sampled; the same host mined on another connection (a miner trying a pool)"
                if self.miner_host else "only a hello was sampled: a port scanner, a pool monitor or a miner trying "
                "a pool (counted as a suspect)",
                text_zh="仅抽样到握手消息；同一主机在另一连接上挖矿（矿机在尝试矿池）" if self.miner_host
                else "仅抽样到握手消息：可能是端口扫描、矿池监测或矿机在尝试矿池（记为可疑）",
                data={"miner_host": self.miner_host})]
        return [Evidence(
            code="net.sampled_protocol",
            text=f"sampled packets of this connection began with mining JSON-RPC: {listed}",
            text_zh=f"该连接的抽样报文以挖矿 JSON-RPC 开头：{listed}",
            ts=utc_from_epoch(first) if first is not None else None,
            data={"methods": {n: c for n, (c, _) in self.methods.items()}},
        ), *hello]


APP_PREFIX = "stratum:"  #: FLOW_SCHEMA `application` of a sampled packet whose payload named a mining method


def _ts(v: Any) -> float | None:
    return v.timestamp() if v is not None else None


def _faced(rs: list[dict[str, Any]], src: Endpoint) -> dict[str, Any]:
    """One connection's samples as one row whose source is `src`: counters added up each way, times spanning
    them all."""
    fwd = [r for r in rs if (r.get("src_ip"), r.get("src_port")) == src]
    rev = [r for r in rs if (r.get("src_ip"), r.get("src_port")) != src]
    face = fwd[0] if fwd else {**rev[0], "src_ip": rev[0].get("dst_ip"), "src_port": rev[0].get("dst_port"),
                               "dst_ip": rev[0].get("src_ip"), "dst_port": rev[0].get("src_port")}
    starts = [t for r in rs for t in (r.get("first_seen"), r.get("slice_start")) if t is not None]
    ends = [t for r in rs for t in (r.get("last_seen"), r.get("slice_end")) if t is not None]

    def total(side: list[dict[str, Any]], name: str) -> int | None:
        vals = [r.get(name) for r in side if r.get(name) is not None]
        return sum(vals) if vals else None

    row = {**face, "first_seen": min(starts) if starts else None, "last_seen": max(ends) if ends else None,
           "slice_start": None, "slice_end": None, "application": None,
           "packets_fwd": total(fwd, "packets_fwd"), "bytes_fwd": total(fwd, "bytes_fwd"),
           "packets_rev": total(rev, "packets_fwd"), "bytes_rev": total(rev, "bytes_fwd"),
           "sni": next((r["sni"] for r in rs if r.get("sni")), None),
           "dns_name": next((r["dns_name"] for r in rs if r.get("dns_name")), None)}
    if row["first_seen"] is not None and row["last_seen"] is not None:
        row["duration_ms"] = (row["last_seen"] - row["first_seen"]).total_seconds() * 1000
    return row


def collapse_samples(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[int, SampledContent]]:
    """One FLOW_SCHEMA row per connection (both directions) from packet samples or sampled records, and the
    content facts of the connections whose samples named a mining message, by index into that list.

    Why: each sample is a row, and judging rows one by one made a finding per sampled packet (ten for one
    miner in an hour of 1-in-1,000 samples) and gave a pool's `mining.notify` the direction of the pool.
    The row faces client -> server, the miner's side, when a message said which it is; otherwise each
    direction seen is a row of its own (one-way records come in any order, and the pool list must read
    the server's side). Counters add up the samples each way; times span them.
    """
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in rows:
        a, b = (r.get("src_ip"), r.get("src_port")), (r.get("dst_ip"), r.get("dst_port"))
        key = (*min(a, b, key=str), *max(a, b, key=str), r.get("transport"))
        groups.setdefault(key, []).append(r)
    out: list[dict[str, Any]] = []
    contents: dict[int, SampledContent] = {}
    for rs in groups.values():
        content: SampledContent | None = None
        for r in rs:
            app = r.get("application")
            if app and app.startswith(APP_PREFIX):
                content = content or SampledContent()
                content.add(app[len(APP_PREFIX):], _ts(r.get("first_seen")), (r.get("src_ip"), r.get("src_port")),
                            (r.get("dst_ip"), r.get("dst_port")))
        if content is not None and content.client is not None:
            sides = [content.client]
        else:  # which side is the client is unknown: each direction seen is a row (the pool list reads both)
            sides = list(dict.fromkeys((r.get("src_ip"), r.get("src_port")) for r in rs))
        for src in sides:
            row = _faced(rs, src)
            if content is not None:
                content.client_is_src = True  # the row faces the miner's side
                contents[len(out)] = content
            out.append(row)
    # a hello-only connection of a host that mined on another connection is that miner trying a pool
    miners = {out[i].get("src_ip") for i, c in contents.items() if not c.hello_only}
    for i, c in contents.items():
        if c.hello_only and out[i].get("src_ip") in miners:
            c.miner_host = True
    return out, contents


def promote_hello(f: Finding) -> Finding:
    """A hello-only sampled finding (`net.sampled_hello_only`) rewritten as its host's next pool
    (`net.sampled_hello_of_a_miner`), once the host is known to have mined on another connection.

    Why from the finding and not the samples: the engines judge each partition of connections apart, and
    only after all of them know which hosts mined (`engines.kernels.resolve_hellos`). The finding's
    `net.sampled_protocol` evidence keeps the method counts and the first time, which is all the points
    and the wording depend on, so the result is what `collapse_samples` gives when both connections are
    judged together.
    """
    proto = next((e for e in f.evidence if e.code == "net.sampled_protocol"), None)
    methods = (proto.data or {}).get("methods") if proto is not None else None
    if not methods:
        return f
    first = proto.ts.timestamp() if proto is not None and proto.ts is not None else None
    content = SampledContent(methods={n: [int(c), first] for n, c in methods.items()}, miner_host=True)
    if not content.hello_only:
        return f
    sub = {**f.subscores, **content.subscores}
    keep = [e for e in f.evidence if not e.code.startswith("net.sampled_")]
    evidence = sorted([*keep, *content.evidence], key=lambda e: (e.ts is None, e.ts.timestamp() if e.ts else 0.0))
    return dataclasses.replace(f, subscores=sub, evidence=evidence, score=combine_subscores(sub))
