"""Hosts that looked up mining-pool names: findings from DNS alone.

Why: the cheapest evidence a campus or an ISP has is its resolvers' logs, and a miner must resolve its
pool before it connects (xmrig re-resolves on every reconnect). A DNS answer used to name only a
connection seen in the same scan; with the resolver's log alone every lookup was read and nothing was
reported. Here lookups of names on a pool list are counted per client and pool entry, and a client
whose lookups no connection finding explains gets a finding of its own, scored from named parts:

* `pool_domain`: 40 for a built-in pool name, 30 for an imported list (as for connections);
* `repeated_lookups`: 10 when the client looked the pool up on at least REPEAT_MIN occasions over at
  least REPEAT_SPAN_S: a running miner re-resolves whenever it reconnects or its cache runs out, a
  visit or a typo does not. An occasion is a burst of records: a browser's A, AAAA and HTTPS queries,
  or an EVE query and its answer, within EVENT_GAP_S count once;
* `pool_web_name`: -20 when every name looked up is the pool's web site — the bare domain, `www.` or
  another web label (`api.`, `stats.`, `dashboard.` …): where an owner checks earnings, not where a
  miner connects. A list entry that is itself a host (`ss.btc.com`, `donate.v2.xmrig.com`) is never
  a web name.

So a few lookups of a mining host (40) are a suspect, listed with `--suspects`; repeated lookups (50)
are reported; a pool's web site alone never reaches the threshold. Loopback clients (the resolver
talking to itself) and resolvers are not clients of their own: a host seen answering DNS (`servers`) is
a resolver for a pool entry when it answered that entry to another host (it forwarded a client's lookup),
or for every entry when it answered at least RESOLVER_CLIENTS other hosts (a network's resolver whose
clients the sensor may not all see). One answer to one host does not make a resolver: before review 12's
fix a miner that answered a single query was never judged again. Memory: one entry per (client, pool entry) — a host that asks for 200,000 random names
of one pool holds one — at most MAX_PAIRS; what does not fit is counted in `dropped` and said.
The kernel is pure: `add` takes what a DNS record says, `judge` returns Findings.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Container, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from minewatch.model import Evidence, Finding, combine_subscores

DETECTOR = "net.dns"
REPEAT_MIN = 3
REPEAT_SPAN_S = 1800.0
EVENT_GAP_S = 10.0
#: (client, pool entry) pairs kept at most
MAX_PAIRS = 200_000
#: hosts seen answering DNS kept at most (the oldest go first): a network has a few resolvers, but a watch
#: that sees every answer of days of traffic must not grow with spoofed or stray ones
MAX_SERVERS = 65_536
#: distinct hosts a server must have answered to be a resolver for every pool entry (see the module text)
RESOLVER_CLIENTS = 3
#: pool entries kept per server as forwarded (beyond this it forwards so many that it is a resolver)
MAX_SERVED_ENTRIES = 256
#: distinct names and answer addresses kept per pair for the evidence (the count of lookups is always exact)
MAX_NAMES = 8
MAX_ANSWERS = 32
WEB_PTS = -20.0
REPEAT_PTS = 10.0
REPORT_THRESHOLD = 50.0
#: first labels of a pool's web pages rather than its mining hosts
WEB_LABELS = frozenset({"www", "api", "app", "stats", "stat", "dashboard", "m", "static", "cdn", "blog",
                        "help", "support", "docs", "doc", "explorer", "wallet", "account", "accounts", "login",
                        "web", "status", "news", "forum", "download", "downloads", "img", "assets", "mail"})


def _is_web_name(name: str, entry: str) -> bool:
    if entry.count(".") >= 2:  # the list names a host, not a registrable domain: it is where miners connect
        return False
    if name == entry:
        return True
    sub = name[: -len(entry) - 1] if name.endswith("." + entry) else name
    return sub.split(".")[0] in WEB_LABELS


def _ip(text: str) -> str | None:
    try:
        return ipaddress.ip_address(text).compressed
    except ValueError:
        return None


@dataclass(slots=True)
class _Served:
    """What a host seen answering DNS answered: up to RESOLVER_CLIENTS other hosts, and the pool entries."""

    clients: set[str] = field(default_factory=set)
    entries: set[str] = field(default_factory=set)


@dataclass(slots=True)
class _Seen:
    pool: str
    entry: str
    list_name: str
    builtin: bool
    origin: str | None = None  #: the log the first lookup came from (the finding's `source`)
    records: int = 0
    events: int = 0
    first: float = float("inf")
    last: float = float("-inf")
    last_event: float = float("-inf")
    names: Counter[str] = field(default_factory=Counter)
    web_only: bool = True
    answers: Counter[str] = field(default_factory=Counter)


class PoolLookups:
    """Lookups of pool names per client, from any DNS source (captures, Zeek, EVE, resolver logs)."""

    def __init__(self, intel: Any, since: float | None = None, until: float | None = None) -> None:
        self.intel = intel
        self.since, self.until = since, until
        self.seen: dict[tuple[str, str], _Seen] = {}
        #: hosts seen answering DNS, with whom they answered and which pool entries (`resolves`); the oldest
        #: dropped first (MAX_SERVERS)
        self.servers: dict[str, _Served] = {}
        #: pool-list verdict per name: a capture repeats the same few thousand names in 100,000 answers
        self._match: dict[str, Any] = {}
        self.dropped = 0  #: lookups of pool names not kept because MAX_PAIRS was reached (counted, not silent)

    def add(self, client_ip: str | None, query: str | None, ts: float | None, answers: Iterable[str] = (),
            source: str | None = None, server_ip: str | None = None) -> None:
        served = None
        if server_ip and server_ip != client_ip:
            served = self.servers.get(server_ip)
            if served is None:
                if len(self.servers) >= MAX_SERVERS:
                    del self.servers[next(iter(self.servers))]
                served = self.servers[server_ip] = _Served()
            if client_ip and len(served.clients) < RESOLVER_CLIENTS:
                served.clients.add(client_ip)
        if not client_ip or not query or ts is None:
            return
        if (self.since is not None and ts < self.since) or (self.until is not None and ts > self.until):
            return
        name = query.rstrip(".").lower()
        m = self._match.get(name, False)
        if m is False:
            if len(self._match) >= MAX_PAIRS:
                self._match.clear()
            m = self._match[name] = self.intel.match_host(name)
        if m is None:
            return
        if served is not None and len(served.entries) < MAX_SERVED_ENTRIES:
            served.entries.add(m.entry)
        key = (client_ip, m.entry)
        s = self.seen.get(key)
        if s is None:
            if len(self.seen) >= MAX_PAIRS:
                self.dropped += 1
                return
            s = self.seen[key] = _Seen(m.pool, m.entry, m.source, m.is_builtin, source)
        s.records += 1
        if abs(ts - s.last_event) > EVENT_GAP_S:
            s.events += 1
            s.last_event = ts
        s.first = min(s.first, ts)
        s.last = max(s.last, ts)
        if name in s.names or len(s.names) < MAX_NAMES:
            s.names[name] += 1
        s.web_only = s.web_only and _is_web_name(name, m.entry)
        for a in answers:
            ip = _ip(a) if a else None
            if ip is not None and (ip in s.answers or len(s.answers) < MAX_ANSWERS):
                s.answers[ip] += 1

    def judge(self, covered: Container[tuple[str, str]],
              suspects: bool = True) -> tuple[list[Finding], list[Finding]]:
        """(reported, suspects): a finding per (client, pool) that no connection finding already covers.

        `covered` holds (client, name) and (client, address) pairs of the findings made from
        connections: a lookup that led to a flagged connection adds nothing new. `suspects=False`
        builds no finding for the pairs under the threshold (`watch` judges every few minutes).
        """
        reported: list[Finding] = []
        under: list[Finding] = []
        for key, s in self.seen.items():
            if not self.judged(key, covered):
                continue
            if not suspects and self.points(s) < REPORT_THRESHOLD:
                continue
            f = self._finding(key[0], s)
            (reported if f.score >= REPORT_THRESHOLD else under).append(f)
        return reported, under

    def judged(self, key: tuple[str, str], covered: Container[tuple[str, str]]) -> bool:
        """Whether a pair is judged: its client is a host (not loopback, not a resolver), and no connection
        finding in `covered` explains it."""
        client = key[0]
        ip = _ip(client)
        if ip is None or ipaddress.ip_address(ip).is_loopback or self.resolves(client, key[1]):
            return False
        return not self.explained(key, covered)

    def resolves(self, host: str, entry: str) -> bool:
        """Whether `host`'s lookups of a pool entry are a resolver's on behalf of others (module text)."""
        served = self.servers.get(host)
        if served is None:
            return False
        return (len(served.clients) >= RESOLVER_CLIENTS or entry in served.entries
                or len(served.entries) >= MAX_SERVED_ENTRIES)

    def explained(self, key: tuple[str, str], covered: Container[tuple[str, str]]) -> bool:
        """Whether a connection finding in `covered` (pairs of host and pool name or address) explains a pair."""
        client = key[0]
        s = self.seen[key]
        return any((client, n) in covered for n in s.names) or any((client, a) in covered for a in s.answers)

    @staticmethod
    def subscores(s: _Seen) -> dict[str, float]:
        """The named parts of a pair's score (the finding's evidence explains each)."""
        sub = {"pool_domain": 40.0 if s.builtin else 30.0}
        if s.events >= REPEAT_MIN and s.last - s.first >= REPEAT_SPAN_S:
            sub["repeated_lookups"] = REPEAT_PTS
        if s.web_only:
            sub["pool_web_name"] = WEB_PTS
        return sub

    def points(self, s: _Seen) -> float:
        """The score `_finding` gives, without building it."""
        return combine_subscores(self.subscores(s))

    def finding_for(self, key: tuple[str, str], seen: _Seen | None = None) -> Finding:
        """The finding of one (client, pool entry) pair as it stands (whatever its score); `seen` for a pair
        already forgotten (`expire`)."""
        return self._finding(key[0], seen if seen is not None else self.seen[key])

    def _finding(self, client: str, s: _Seen) -> Finding:
        sub = self.subscores(s)
        ev: list[Evidence] = []
        first = datetime.fromtimestamp(s.first, tz=UTC)
        last = datetime.fromtimestamp(s.last, tz=UTC)
        name = s.names.most_common(1)[0][0]
        names = ", ".join(n for n, _ in s.names.most_common(MAX_NAMES))
        pts = sub["pool_domain"]
        where = "the built-in pool list" if s.builtin else f"imported list {s.list_name!r}"
        where_zh = "内置矿池列表" if s.builtin else f"导入列表“{s.list_name}”"
        answered = ", ".join(a for a, _ in s.answers.most_common(5))
        ans_en = f"; answers {answered}" if answered else ""
        ans_zh = f"；应答 {answered}" if answered else ""
        span_h = (s.last - s.first) / 3600
        ev.append(Evidence(
            code="dns.pool_lookup",
            text=f"{client} looked up {names} ({s.pool}, entry {s.entry} of {where}) on {s.events} occasion(s) "
                 f"({s.records} DNS record(s)) between {first:%Y-%m-%d %H:%M:%S} and {last:%Y-%m-%d %H:%M:%S} "
                 f"UTC{ans_en}; no connection record in this scan shows the session itself",
            text_zh=f"{client} 在 {first:%Y-%m-%d %H:%M:%S} 至 {last:%Y-%m-%d %H:%M:%S} UTC 之间 {s.events} 次解析 "
                    f"{names}（{s.pool}，{where_zh}条目 {s.entry}；DNS 记录 {s.records} 条）{ans_zh}；"
                    "本次扫描中没有显示该会话本身的连接记录",
            ts=first,
            data={"names": list(s.names), "pool": s.pool, "entry": s.entry, "list": s.list_name,
                  "builtin": s.builtin, "lookups": s.events, "records": s.records,
                  "answers": [a for a, _ in s.answers.most_common(20)], "points": pts},
        ))  # fmt: skip
        if "repeated_lookups" in sub:
            ev.append(Evidence(
                code="dns.repeated_lookups",
                text=f"looked up again and again over {span_h:.1f} h, as a running miner re-resolves its pool "
                     "when it reconnects",
                text_zh=f"在 {span_h:.1f} 小时内反复解析，与运行中的矿机重连时重新解析矿池域名的行为一致",
                data={"lookups": s.events, "span_s": s.last - s.first, "points": REPEAT_PTS},
            ))  # fmt: skip
        if "pool_web_name" in sub:
            ev.append(Evidence(
                code="dns.pool_web_name",
                text=f"{names}: the pool's web site (where earnings are checked), not a mining host",
                text_zh=f"{names}：矿池网站（查看收益之处），不是挖矿主机",
                data={"points": WEB_PTS},
            ))  # fmt: skip
        top = s.answers.most_common(1)
        return Finding(
            kind="mining", detector=DETECTOR, score=combine_subscores(sub), subscores=sub, evidence=ev,
            source=s.origin, first_seen=first, last_seen=last, src_ip=client,
            dst_ip=top[0][0] if top else None, pool_host=name,
            extra={"dns_lookups": s.events, "dns_records": s.records, "pool": s.pool, "pool_entry": s.entry},
        )  # fmt: skip

    def expire(self, before: float) -> dict[tuple[str, str], _Seen]:
        """Forget the (client, pool) pairs whose last lookup is older than `before`; returns them.

        Why: `minewatch watch` judges lookups as they come and runs for days; a pair a host stopped
        asking for is done (its finding, if any, was stored), and keeping it would let the table fill
        MAX_PAIRS and drop new lookups. A host that asks again starts a new count.
        """
        old = {k: s for k, s in self.seen.items() if s.last < before}
        for k in old:
            del self.seen[k]
        return old
