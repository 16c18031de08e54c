"""Turn per-flow protocol facts and pool intelligence into Findings; roll findings up per host.

This is the one place where evidence from different detectors meets, so the scoring rules live
here and are spelled out: a finding's score is the capped sum of named sub-scores, each sub-score
comes with the evidence that earned it, and a flow is reported as mining only when it has protocol
evidence, a pool-name match on a mining-shaped flow, or a tie to a pool endpoint confirmed in the
same capture. Everything here is pure: facts in, Findings out.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from minewatch.model import Evidence, Finding, combine_subscores, endpoint, utc_from_epoch

#: A mining finding below this score is dropped (kept in the flow table, not shown as mining).
REPORT_THRESHOLD = 50.0


@dataclass(slots=True)
class FlowView:
    """What findings need of a finished flow, whatever source produced it."""

    src_ip: str
    src_port: int | None
    dst_ip: str
    dst_port: int | None
    transport: str
    first_ts: float | None  # None: the log did not say (a flow record without times); never 0
    last_ts: float | None
    direction_certain: bool
    packets_fwd: int = 0
    packets_rev: int = 0
    payload_bytes_fwd: int = 0
    payload_bytes_rev: int = 0
    syn_seen: bool = False
    tcp_flags_fwd: int | None = None
    community_id: str | None = None
    dns_names: list[str] = field(default_factory=list)
    source: str | None = None


def is_public(ip: str) -> bool:
    try:
        a = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return a.is_global


def _swap(flow: FlowView) -> FlowView:
    return FlowView(
        src_ip=flow.dst_ip,
        src_port=flow.dst_port,
        dst_ip=flow.src_ip,
        dst_port=flow.src_port,
        transport=flow.transport,
        first_ts=flow.first_ts,
        last_ts=flow.last_ts,
        direction_certain=flow.direction_certain,
        packets_fwd=flow.packets_rev,
        packets_rev=flow.packets_fwd,
        payload_bytes_fwd=flow.payload_bytes_rev,
        payload_bytes_rev=flow.payload_bytes_fwd,
        syn_seen=flow.syn_seen,
        tcp_flags_fwd=None,
        community_id=flow.community_id,
        dns_names=flow.dns_names,
        source=flow.source,
    )


def session_finding(
    flow: FlowView,
    facts: Any,
    intel_parts: tuple[dict[str, float], list[Evidence]] | None,
    *,
    threshold: float = REPORT_THRESHOLD,
) -> Finding | None:
    """A finding for one flow whose dissector decided `mining` or `node`, or whose names hit the pool list.

    `facts` is a `minewatch.net.stratum.SessionFacts`. Node traffic becomes a `node` finding so that
    nobody mistakes a full node for a miner; a pool-name hit alone only counts on a flow that does
    not look like a web visit (TLS to 443 with ordinary volumes is a visit to the pool's web site).
    `threshold` is lowered only to merge a weak content verdict into a timing verdict (pipeline).
    """
    kind = getattr(facts, "kind", None) if facts is not None else None
    if facts is not None and getattr(facts, "client_is_src", None) is False:
        flow = _swap(flow)
    subscores: dict[str, float] = {}
    evidence: list[Evidence] = []
    if facts is not None:
        subscores.update(getattr(facts, "subscores", {}) or {})
        evidence.extend(getattr(facts, "evidence", []) or [])
    intel_sub, intel_ev = intel_parts or ({}, [])
    if kind is None:
        if not intel_sub or not ({"pool_domain", "pool_ip"} & set(intel_sub)):
            return None
        if not _pool_shaped(flow, facts):
            return None
        kind = "mining"
        subscores["pool_session_shape"] = 15.0
        dur = _duration_s(flow)
        length, length_zh = (f"{dur:.0f} s ", f"{dur:.0f} 秒的") if dur is not None else ("", "时长未知的")
        evidence.append(
            Evidence(
                code="net.pool_session_shape",
                text=(
                    f"{flow.src_ip} kept a {length}{'TLS ' if getattr(facts, 'sni', None) else ''}connection to "
                    f"{endpoint(flow.dst_ip, flow.dst_port)}, a mining port of that pool, carrying "
                    f"{flow.payload_bytes_fwd + flow.payload_bytes_rev:,} payload bytes"
                ),
                text_zh=(
                    f"{flow.src_ip} 与该矿池的挖矿端口 {endpoint(flow.dst_ip, flow.dst_port)} 保持了{length_zh}连接，"
                    f"载荷 {flow.payload_bytes_fwd + flow.payload_bytes_rev:,} 字节"
                ),
                ts=utc_from_epoch(flow.first_ts),
                data={"duration_s": None if dur is None else round(dur, 3), "dst_port": flow.dst_port},
            )
        )
    if kind == "mining":
        subscores.update(intel_sub)
        evidence.extend(intel_ev)
    score = combine_subscores(subscores)
    if kind == "mining" and score < threshold:
        return None
    f = flow_finding(
        flow,
        kind,
        "net.stratum" if getattr(facts, "kind", None) else "net.intel",
        subscores,
        sorted(evidence, key=lambda e: (e.ts is None, e.ts.timestamp() if e.ts else 0.0)),
    )
    if facts is not None:
        for name in (
            "coin", "algorithm", "variant", "encrypted", "pool_host", "worker", "wallet", "wallet_type",
            "agent", "share_difficulty", "shares_accepted", "shares_rejected", "sni",
        ):  # fmt: skip
            v = getattr(facts, name, None)
            if v is not None:
                setattr(f, name, v)
        hr = getattr(facts, "hashrate", None)
        if hr is not None:
            f.hashrate_hs = getattr(hr, "hashrate_hs", None)
            f.extra["hashrate_interval_hs"] = [getattr(hr, "low_hs", None), getattr(hr, "high_hs", None)]
            f.extra["hashrate_formula"] = getattr(hr, "formula", None)
        # what the miner says of itself (eth_submitHashrate, SV2 nominal_hash_rate): shown beside the
        # estimate from shares, never mixed into it (a miner's own figure is unverified, and some lie)
        rep = getattr(facts, "reported_hashrate_hs", None)
        if rep is not None:
            f.extra["reported_hashrate_hs"] = rep
    if f.pool_host is None and flow.dns_names:
        f.pool_host = flow.dns_names[0]
    if f.pool_host and f.pool_host != f.dst_ip and f.dst_ip:
        # Name the pool the way a colleague knows it, keeping the address beside it.
        ep, named = endpoint(f.dst_ip, f.dst_port), f"{f.pool_host}:{f.dst_port} ({f.dst_ip})"
        for ev in f.evidence:
            if ep in ev.text and named not in ev.text:
                ev.text = ev.text.replace(ep, named, 1)
                if ev.text_zh:
                    ev.text_zh = ev.text_zh.replace(ep, named, 1)
    if f.coin is None and kind == "mining":
        from minewatch.net.coins import host_coin

        for name in (f.sni, f.pool_host):
            hit = host_coin(name)
            if hit:
                f.coin = hit[0]
                break
    if f.variant is None and kind == "mining" and f.sni:
        f.variant = "tls"
        f.encrypted = True
    return f


def _pool_shaped(flow: FlowView, facts: Any) -> bool:
    """Is a pool-name hit on this flow plausibly a mining session rather than a web visit?"""
    if flow.transport != "tcp":
        return False
    if flow.dst_port in (80, 443) and (getattr(facts, "variant", None) in (None, "tls")):
        # A pool's web site and its stratum-over-TLS port differ by port for nearly every pool;
        # on 443 demand the long, low-volume shape of a mining session before trusting the name.
        duration = _duration_s(flow)
        if duration is None:  # a log without times cannot show the shape
            return False
        total = flow.payload_bytes_fwd + flow.payload_bytes_rev
        return duration >= 300 and total / max(duration, 1.0) < 2000
    return True


def _duration_s(flow: FlowView) -> float | None:
    return None if flow.first_ts is None or flow.last_ts is None else flow.last_ts - flow.first_ts


def merge_findings(a: Finding, b: Finding) -> Finding:
    """One finding per connection when two detectors both spoke: sub-scores add (each keeps its
    name, the first detector wins a name clash), evidence from both is kept, facts fill gaps."""
    for k, v in b.subscores.items():
        a.subscores.setdefault(k, v)
    a.score = combine_subscores(a.subscores)
    a.evidence = a.evidence + b.evidence
    for name in ("coin", "algorithm", "pool_host", "sni", "encrypted", "variant"):
        if getattr(a, name) is None and getattr(b, name) is not None:
            setattr(a, name, getattr(b, name))
    a.extra.update(b.extra)
    if b.detector not in a.detector.split("+"):
        a.detector = f"{a.detector}+{b.detector}"
    return a


#: How far apart two views of one connection may date it: sFlow samples carry the collector's arrival time,
#: flow records their exporter's clock, a capture its sensor's; one connection seen by two of them overlaps
#: within this (a pair of random 5-tuples almost never recurs inside it).
SAME_CONNECTION_SLACK_S = 120.0


def fold_same_connections(primary: Sequence[Finding], extra: Sequence[Finding],
                          slack_s: float = SAME_CONNECTION_SLACK_S) -> tuple[list[Finding], list[Finding]]:
    """Findings of `extra` about a connection a `primary` finding already reports, merged into that finding.

    Why: one run can see a connection twice, e.g. a capture taken beside a router holds both the
    miner's packets and the router's sFlow samples of them (review 12), or a capture is scanned with the
    Zeek log of the same traffic. That is one connection, one finding, with both views' evidence: two
    would double every count downstream (sessions, machines, kW). Same connection: the same 5-tuple in
    either orientation, the same kind, and times overlapping within `slack_s`.
    Returns (the `extra` findings that stand alone, the `primary` findings that took evidence in).
    """
    def key(f: Finding) -> tuple[Any, ...] | None:
        if f.src_ip is None or f.dst_ip is None:
            return None
        a, b = (str(f.src_ip), f.src_port), (str(f.dst_ip), f.dst_port)
        return (f.kind, (f.transport or "").lower(), *sorted((a, b), key=str))

    def span(f: Finding) -> tuple[float, float] | None:
        if f.first_seen is None:
            return None
        t0 = f.first_seen.timestamp()
        return t0, f.last_seen.timestamp() if f.last_seen is not None else t0

    index: dict[tuple[Any, ...], list[Finding]] = defaultdict(list)
    for f in primary:
        k = key(f)
        if k is not None:
            index[k].append(f)
    alone: list[Finding] = []
    changed: dict[int, Finding] = {}
    for g in extra:
        k = key(g)
        gs = span(g)
        host = None
        for f in index.get(k, []) if k is not None else []:
            fs = span(f)
            if gs is None or fs is None or (gs[0] <= fs[1] + slack_s and fs[0] <= gs[1] + slack_s):
                host = f
                break
        if host is None:
            alone.append(g)
            continue
        was_timing_only = host.extra.get("timing_only")
        merge_findings(host, g)
        if not was_timing_only:  # the other view's timing verdict does not make content evidence timing-only
            host.extra.pop("timing_only", None)
        host.extra.setdefault("also_seen_in", [])
        if g.source and g.source not in host.extra["also_seen_in"] and g.source != host.source:
            host.extra["also_seen_in"].append(g.source)
        if not host.extra["also_seen_in"]:
            del host.extra["also_seen_in"]
        changed[id(host)] = host
    return alone, list(changed.values())


#: Evidence that only describes a flow for the person confirming it (no verdict of its own).
_CONTEXT_CODES = ("tls.context", "dns.unresolved")


def timing_only(f: Finding) -> bool:
    """A mining verdict from the content-blind timing detector alone: no payload, pool-list or IDS evidence.

    Why it matters: timing says "shaped like a pool session", which a benign flow can be (review 6: an
    event sensor on a cloud IoT broker, a gRPC publisher); such a verdict must not condemn other flows to
    the same endpoint, nor feed block lists by default (`export --include-timing-only`).
    """
    codes = [e.code for e in f.evidence]
    return bool(codes) and all(c.startswith("behavior.") or c in _CONTEXT_CODES for c in codes)


def endpoint_findings(
    flows: Iterable[tuple[FlowView, Any]],
    confirmed: Sequence[Finding],
) -> list[Finding]:
    """Flows tied to pool endpoints or miner hosts that mining sessions in the same capture revealed.

    Two rules, both learned from the capture itself (nothing is memorised):
    * `pool_endpoint`: any other flow to an (IP, port) where a mining session was confirmed — failed
      reconnects, TLS attempts to a plaintext port, payload the dissector could not decode.
    * `miner_failover`: a host confirmed mining that opens connections (SYN seen) to public
      endpoints and never gets payload back during its mining period — a miner walking its
      failover pool list. Private destinations and flows that carried data are left alone.
    Only sessions confirmed by content or intelligence spread: a timing-only verdict (`timing_only`)
    stays on its own flow (review 6, D3: one false timing verdict on a cloud endpoint made every other
    flow to it `mining`).
    """
    endpoints: dict[tuple[str, int | None], Finding] = {}
    miner_windows: dict[str, tuple[float, float, Finding]] = {}
    for f in confirmed:
        if f.kind != "mining" or f.dst_ip is None or timing_only(f):
            continue
        endpoints.setdefault((f.dst_ip, f.dst_port), f)
        if f.src_ip and f.first_seen and f.last_seen:
            a, b = f.first_seen.timestamp(), f.last_seen.timestamp()
            if f.src_ip in miner_windows:
                a0, b0, ref = miner_windows[f.src_ip]
                miner_windows[f.src_ip] = (min(a, a0), max(b, b0), ref)
            else:
                miner_windows[f.src_ip] = (a, b, f)
    out: list[Finding] = []
    tried_ips: dict[str, set[str]] = defaultdict(set)  # miner host -> addresses it probed with a SYN
    second_pass: list[tuple[FlowView, tuple[float, float, Finding]]] = []
    for flow, facts in flows:
        if getattr(facts, "kind", None) is not None or flow.transport != "tcp":
            continue
        ref = endpoints.get((flow.dst_ip, flow.dst_port))
        if ref is None and not flow.direction_certain:
            swapped = endpoints.get((flow.src_ip, flow.src_port))
            if swapped is not None:
                flow, ref = _swap(flow), swapped
        if ref is not None:
            out.append(_endpoint_finding(flow, ref))
            continue
        win = miner_windows.get(flow.src_ip)
        if (
            win is None
            or flow.payload_bytes_fwd + flow.payload_bytes_rev > 0
            or not is_public(flow.dst_ip)
            or flow.first_ts is None
            or not (win[0] - 60 <= flow.first_ts <= win[1] + 60)
        ):
            continue
        if flow.syn_seen:
            tried_ips[flow.src_ip].add(flow.dst_ip)
            out.append(_failover_finding(flow, win[2], also_tried=False))
        elif _aborted_to_service_less_port(flow):
            out.append(_failover_finding(flow, win[2], also_tried=False))
        else:
            second_pass.append((flow, win))
    # Aborted attempts whose SYN fell outside the capture (only an RST or ACK is left) count when the
    # same miner host also opened connections to that address: it was walking that pool's ports.
    for flow, win in second_pass:
        if flow.dst_ip in tried_ips.get(flow.src_ip, ()):
            out.append(_failover_finding(flow, win[2], also_tried=True))
    return out


#: Ports where a reset without payload is the ordinary end of a web, mail, remote-access or
#: update connection; an aborted attempt to one of them says nothing about pools.
COMMON_SERVICE_PORTS = frozenset(
    {20, 21, 22, 23, 25, 53, 80, 110, 123, 135, 137, 138, 139, 143, 389, 443, 445, 465, 587, 636, 853, 993,
     995, 1194, 1433, 1521, 1723, 1883, 3306, 3389, 5060, 5222, 5223, 5228, 5432, 5900, 7680, 8080, 8443,
     8883, 9243}
)


def _aborted_to_service_less_port(flow: FlowView) -> bool:
    """Only a reset came from the host (its SYN predates the capture) to a port no common service uses."""
    return (
        flow.packets_rev == 0
        and flow.tcp_flags_fwd is not None
        and bool(flow.tcp_flags_fwd & 0x04)
        and flow.dst_port is not None
        and flow.dst_port >= 1024
        and flow.dst_port not in COMMON_SERVICE_PORTS
    )


def _endpoint_finding(flow: FlowView, ref: Finding) -> Finding:
    ts = utc_from_epoch(flow.first_ts)
    what = "no payload" if flow.payload_bytes_fwd + flow.payload_bytes_rev == 0 else "payload without a mining signature"
    what_zh = "无载荷" if what == "no payload" else "载荷中无挖矿特征"
    ev = Evidence(
        code="net.pool_endpoint",
        text=(
            f"{flow.src_ip} connected to {endpoint(flow.dst_ip, flow.dst_port)} ({what}), an endpoint where "
            f"{ref.src_ip} ran a {ref.variant or 'mining'} session at {ref.first_seen:%Y-%m-%d %H:%M:%S} UTC"
        ),
        text_zh=(
            f"{flow.src_ip} 连接了 {endpoint(flow.dst_ip, flow.dst_port)}（{what_zh}），"
            f"该端点在同一抓包中与 {ref.src_ip} 有 {ref.variant or '挖矿'} 会话"
        ),
        ts=ts,
        data={"endpoint": endpoint(flow.dst_ip, flow.dst_port), "confirmed_finding": ref.finding_id},
    )
    return _tied_finding(flow, ref, {"pool_endpoint": 55.0}, ev, same_endpoint=True)


def _failover_finding(flow: FlowView, ref: Finding, *, also_tried: bool) -> Finding:
    ts = utc_from_epoch(flow.first_ts)
    extra = " (it also opened connections to other ports of this address)" if also_tried else ""
    extra_zh = "（该主机还连接了此地址的其他端口）" if also_tried else ""
    ev = Evidence(
        code="net.miner_failover",
        text=(
            f"{flow.src_ip}, mining since {ref.first_seen:%H:%M:%S} UTC, tried {endpoint(flow.dst_ip, flow.dst_port)} "
            f"and got no data back{extra}: a miner walking its pool failover list"
        ),
        text_zh=(
            f"{flow.src_ip} 在挖矿期间尝试连接 {endpoint(flow.dst_ip, flow.dst_port)} 但未收到数据{extra_zh}："
            "矿机在轮询备用矿池列表"
        ),
        ts=ts,
        data={"miner_finding": ref.finding_id, "syn_seen": flow.syn_seen},
    )
    return _tied_finding(flow, ref, {"miner_failover": 50.0}, ev, same_endpoint=False)


def _tied_finding(
    flow: FlowView, ref: Finding, subscores: dict[str, float], ev: Evidence, *, same_endpoint: bool
) -> Finding:
    f = flow_finding(flow, "mining", "net.endpoint", subscores, [ev])
    f.variant = "unknown"
    if same_endpoint:
        f.coin, f.pool_host = ref.coin, ref.pool_host
    return f


def flow_finding(
    flow: FlowView, kind: str, detector: str, subscores: dict[str, float], evidence: list[Evidence]
) -> Finding:
    """A Finding about one flow: who, whom, when, and the score its sub-scores add up to."""
    return Finding(
        kind=kind,  # type: ignore[arg-type]
        detector=detector,
        score=combine_subscores(subscores),
        subscores=subscores,
        evidence=evidence,
        source=flow.source,
        first_seen=utc_from_epoch(flow.first_ts),
        last_seen=utc_from_epoch(flow.last_ts),
        src_ip=flow.src_ip,
        src_port=flow.src_port,
        dst_ip=flow.dst_ip,
        dst_port=flow.dst_port,
        transport=flow.transport,
        community_id=flow.community_id,
    )


@dataclass(slots=True)
class AlgorithmRate:
    """One algorithm's hashrate on one host, in that algorithm's unit (rates of two algorithms are
    never added: 348 Sol/s of Equihash and 30 MH/s of Ethash are not 30,000,348 of anything)."""

    algorithm: str | None
    rate: float
    unit: str
    sessions: int

    def to_record(self) -> dict[str, Any]:
        return {"algorithm": self.algorithm, "rate": self.rate, "unit": self.unit, "sessions": self.sessions}


@dataclass(slots=True)
class HostRollup:
    """Everything one internal host did, as an administrator asks about it."""

    host: str
    kind: str
    sessions: int = 0
    pools: set[str] = field(default_factory=set)
    coins: set[str] = field(default_factory=set)
    workers: set[str] = field(default_factory=set)
    wallets: set[str] = field(default_factory=set)
    agents: set[str] = field(default_factory=set)
    #: the rate when every rated session of the host runs one algorithm (in that algorithm's unit, as a
    #: session's `hashrate_hs` is); None when there are several: see `hashrates`
    hashrate_hs: float | None = None
    #: per algorithm, sorted by name: the peak rate of its concurrent sessions, with its unit
    hashrates: list[AlgorithmRate] = field(default_factory=list)
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    max_score: float = 0.0
    encrypted: bool = False

    def to_record(self) -> dict[str, Any]:
        from minewatch.model import iso

        return {
            "host": self.host,
            "kind": self.kind,
            "sessions": self.sessions,
            "pools": sorted(self.pools),
            "coins": sorted(self.coins),
            "workers": sorted(self.workers),
            "wallets": sorted(self.wallets),
            "agents": sorted(self.agents),
            "hashrate_hs": self.hashrate_hs,
            "hashrates": [h.to_record() for h in self.hashrates],
            "first_seen": iso(self.first_seen),
            "last_seen": iso(self.last_seen),
            "max_score": self.max_score,
            "encrypted": self.encrypted,
        }


def session_algorithm(f: Finding) -> str | None:
    """The algorithm a session's rate is counted in: its own, else its coin's, else unknown (None), in
    one spelling per algorithm (`coins.canonical_algorithm`): "rx/0" and "randomx" are one algorithm,
    and a session named only by its coin meets one that stated the algorithm."""
    from minewatch.net.coins import COINS, canonical_algorithm

    if f.algorithm and f.algorithm.strip():
        return canonical_algorithm(f.algorithm)
    return canonical_algorithm(COINS[f.coin].algorithm) if f.coin in COINS else None


def rollup_by_host(findings: Iterable[Finding]) -> list[HostRollup]:
    """Per (host, kind): the pools, coins, workers, wallets and the hashrate of its sessions per algorithm.

    Rates are kept apart per algorithm, each in its own unit (H/s, Sol/s, G/s): adding a Zcash
    Sol/s to an Ethereum H/s means nothing. Within one algorithm, sessions are added only while
    they run at the same time: the host's rate is the peak over time of the sum of its concurrent
    sessions (`hashrate.peak_concurrent_rate`). A miner that moves from one pool to the next, or
    reconnects, is the same machines measured again and is not counted twice; a rig split across
    pools at the same time is. See docs/hashrate.md.
    """
    from minewatch.net.hashrate import peak_concurrent_rate, unit_of

    acc: dict[tuple[str, str], HostRollup] = {}
    timed: dict[tuple[str, str], dict[str | None, list[tuple[float | None, float | None, float]]]] = defaultdict(dict)
    for f in findings:
        if not f.src_ip:
            continue
        key = (f.src_ip, f.kind)
        r = acc.get(key)
        if r is None:
            r = acc[key] = HostRollup(host=f.src_ip, kind=f.kind)
        r.sessions += 1
        pool = f.pool_host or (endpoint(f.dst_ip, f.dst_port) if f.dst_ip else None)
        if pool:
            r.pools.add(pool)
        for attr, bucket in (("coin", r.coins), ("worker", r.workers), ("wallet", r.wallets), ("agent", r.agents)):
            v = getattr(f, attr)
            if v:
                bucket.add(v)
        if f.hashrate_hs:
            start = f.first_seen or f.onset
            end = f.last_seen or start
            timed[key].setdefault(session_algorithm(f), []).append(
                (start.timestamp() if start else None, end.timestamp() if end else None, f.hashrate_hs)
            )
        if f.first_seen and (r.first_seen is None or f.first_seen < r.first_seen):
            r.first_seen = f.first_seen
        if f.last_seen and (r.last_seen is None or f.last_seen > r.last_seen):
            r.last_seen = f.last_seen
        r.max_score = max(r.max_score, f.score)
        r.encrypted = r.encrypted or bool(f.encrypted)
    for key, per_algo in timed.items():
        rates = [
            AlgorithmRate(algo, rate, unit_of(algo), len(sessions))
            for algo, sessions in per_algo.items()
            if (rate := peak_concurrent_rate(sessions))
        ]
        rates.sort(key=lambda a: (a.algorithm is None, a.algorithm or ""))
        acc[key].hashrates = rates
        acc[key].hashrate_hs = rates[0].rate if len(rates) == 1 else None
    return sorted(acc.values(), key=lambda r: (r.kind != "mining", -r.max_score, r.host))
