"""Mining content in packet samples: the JSON-RPC method at the start of a sampled packet's payload.

Why: an sFlow agent sends the first ~128 bytes of every N-th packet, which leaves 60-90 bytes of TCP
payload. Plaintext Stratum puts its method name there (`{"id":4,"method":"mining.submit",...`,
`{"jsonrpc":"2.0","method":"job","params":{"blob":...`), and a miner sends a share every few seconds
to minutes, so even at 1 in 1,000 a day of samples shows the protocol. The capture dissector
(`net.stratum`) cannot judge such a fragment: the JSON is cut. This reads only the method name and
the keys beside it that make it a mining method, and scores it with the dissector's own points per
kind of message (`net.stratum._P_*`), so one sampled `mining.submit` weighs what one seen in a capture
does. Names that ordinary JSON-RPC applications also use (`login`, `submit`) count only with a key only
miners send beside them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from minewatch.model import Evidence, utc_from_epoch
from minewatch.net import stratum as st

_METHOD = re.compile(rb'"method"\s*:\s*"([A-Za-z0-9_.]{1,40})"')
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


def fragment_method(payload: bytes) -> str | None:
    """The mining method a payload fragment names (None: none, or a name others use too)."""
    if b'"method"' not in payload:
        return None
    m = _METHOD.search(payload)
    if m is None:
        return None
    name = m.group(1).decode("ascii")
    if name in st.STRATUM_KNOWN or name in st.ETH_CLIENT or name in _CN_ALONE:
        return name
    keys = _CN_KEYS.get(name)
    if keys and any(re.search(k, payload) for k in keys):
        return name
    return None


def method_points(name: str) -> float:
    """Points of one sampled message, the dissector's for the same kind of message."""
    if name in st.STRATUM_CORE:
        return st._P_STRATUM_CORE
    if name in st.STRATUM_KNOWN:
        return st._P_STRATUM_OTHER
    if name == "eth_submitLogin" or name == "eth_login":
        return st._P_ETH_LOGIN
    if name in st.ETH_CLIENT:
        return st._P_ETH_WORK
    if name in _CN_ALONE:
        return _CN_ALONE[name]
    return _CN_POINTS.get(name, 0.0)


def sent_by_client(name: str) -> bool:
    """Whether a miner (not its pool) sends this method."""
    return name in st.STRATUM_CLIENT or name in st.ETH_CLIENT or name in _CLIENT_CN


def _variant(name: str) -> str:
    if name.startswith(("mining.", "client.")):
        return "stratum-v1"
    if name.startswith("eth_"):
        return "ethproxy"
    return "cryptonote-login"


@dataclass
class SampledContent:
    """Facts for `net.findings.session_finding` from one connection's sampled packets."""

    methods: dict[str, list[float | None]] = field(default_factory=dict)  #: name -> [count, first time]
    sampling: int | None = None
    row: int = -1  #: the row (of the caller's list) the facts belong to: the first sample that named a method
    client_is_src: bool | None = None
    kind: str = "mining"
    encrypted: bool = False
    sni: str | None = None

    def add(self, name: str, ts: float | None, sender_is_src: bool) -> None:
        seen = self.methods.setdefault(name, [0, ts])
        seen[0] = (seen[0] or 0) + 1
        if self.client_is_src is None:
            self.client_is_src = sent_by_client(name) == sender_is_src

    @property
    def variant(self) -> str:
        best = max(self.methods, key=method_points)
        return _variant(best)

    @property
    def subscores(self) -> dict[str, float]:
        return {"sampled_protocol": max(method_points(n) for n in self.methods)}

    @property
    def evidence(self) -> list[Evidence]:
        names = sorted(self.methods, key=lambda n: (-method_points(n), n))
        listed = ", ".join(f"{n} ×{int(self.methods[n][0] or 0)}" for n in names)
        rate = f" (1 in {self.sampling})" if self.sampling and self.sampling > 1 else ""
        rate_zh = f"（每 {self.sampling} 个包抽 1 个）" if self.sampling and self.sampling > 1 else ""
        first = min((t for _, t in self.methods.values() if t is not None), default=None)
        return [Evidence(
            code="net.sampled_protocol",
            text=f"sampled packets{rate} of this connection began with mining JSON-RPC: {listed}",
            text_zh=f"该连接的抽样报文{rate_zh}以挖矿 JSON-RPC 开头：{listed}",
            ts=utc_from_epoch(first) if first is not None else None,
            data={"methods": {n: int(c or 0) for n, (c, _) in self.methods.items()}, "sampling_interval": self.sampling},
        )]


APP_PREFIX = "stratum:"  #: FLOW_SCHEMA `application` of a sampled packet whose payload named a mining method


def sampled_content(rows: list[dict[str, Any]]) -> dict[tuple[Any, ...], SampledContent]:
    """Per connection (both directions, one key), what its sampled packets named, from FLOW_SCHEMA rows
    whose `application` is `stratum:<method>` (set by `sources.netflow.netflow_to_flows` from sFlow)."""
    out: dict[tuple[Any, ...], SampledContent] = {}
    for i, r in enumerate(rows):
        app = r.get("application")
        if not app or not app.startswith(APP_PREFIX):
            continue
        a, b = (r.get("src_ip"), r.get("src_port")), (r.get("dst_ip"), r.get("dst_port"))
        key = (*min(a, b, key=str), *max(a, b, key=str), r.get("transport"))
        c = out.get(key)
        if c is None:
            c = out[key] = SampledContent(row=i)
        first = r.get("first_seen")
        # the facts are read against their own row (`row`): its source sent the first method named
        c.add(app[len(APP_PREFIX):], first.timestamp() if first is not None else None,
              sender_is_src=(a == (rows[c.row].get("src_ip"), rows[c.row].get("src_port"))))
    return out
