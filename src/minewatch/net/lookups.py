"""Hosts that looked up mining-pool names: findings from DNS alone.

Why: the cheapest evidence a campus or an ISP has is its resolvers' logs, and a miner must resolve its
pool before it connects (xmrig re-resolves on every reconnect). A DNS answer used to name only a
connection seen in the same scan; with the resolver's log alone every lookup was read and nothing was
reported. Here each (client, name) pair that matches a pool list is counted, and a client whose
lookups no connection record explains gets a finding of its own, scored from named parts:

* `pool_domain`: 40 for a built-in pool name, 30 for an imported list (as for connections);
* `repeated_lookups`: 10 when the name was looked up at least REPEAT_MIN times over at least
  REPEAT_SPAN_S: a running miner re-resolves whenever it reconnects or its cache runs out, a
  visit or a typo does not;
* `pool_web_name`: -20 when the name is the pool's bare domain or its `www.` name: its web site, where
  an owner checks earnings, not the host a miner connects to.

So one lookup of a mining host (40) is a suspect, listed with `--suspects`; repeated lookups of a
mining host (50) are reported; lookups of a pool's web site never reach the threshold on their own.
The kernel is pure: `PoolLookups.add` takes what a DNS record says, `findings` returns Findings.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from minewatch.model import Evidence, Finding, combine_subscores

DETECTOR = "net.dns"
REPEAT_MIN = 3
REPEAT_SPAN_S = 1800.0
#: (client, name) pairs kept at most; a resolver log of a large network holds millions of lookups, but
#: only those of pool names are kept, and a flood of distinct names must not grow memory without bound
MAX_PAIRS = 200_000
WEB_PTS = -20.0
REPEAT_PTS = 10.0


@dataclass(slots=True)
class _Seen:
    pool: str
    entry: str
    source: str
    builtin: bool
    coins: tuple[str, ...]
    origin: str | None = None  #: the log the first lookup came from (the finding's `source`)
    count: int = 0
    first: float = float("inf")
    last: float = float("-inf")
    answers: Counter[str] = field(default_factory=Counter)


class PoolLookups:
    """Lookups of pool names per client, from any DNS source (captures, Zeek, EVE, resolver logs)."""

    def __init__(self, intel: Any) -> None:
        self.intel = intel
        self.seen: dict[tuple[str, str], _Seen] = {}
        #: pool-list verdict per name: a capture repeats the same few thousand names in 100,000 answers
        self._match: dict[str, Any] = {}
        self.dropped = 0  #: pool lookups not kept because MAX_PAIRS was reached (counted, not silent)

    def add(self, client_ip: str | None, query: str | None, ts: float | None, answers: Iterable[str] = (),
            source: str | None = None) -> None:
        if not client_ip or not query or ts is None:
            return
        name = query.rstrip(".").lower()
        key = (client_ip, name)
        s = self.seen.get(key)
        if s is None:
            if name in self._match:
                m = self._match[name]
            else:
                if len(self._match) >= MAX_PAIRS:
                    self._match.clear()
                m = self._match[name] = self.intel.match_host(name)
            if m is None:
                return
            if len(self.seen) >= MAX_PAIRS:
                self.dropped += 1
                return
            s = self.seen[key] = _Seen(m.pool, m.entry, m.source, m.is_builtin, tuple(m.coins), source)
        s.count += 1
        s.first = min(s.first, ts)
        s.last = max(s.last, ts)
        s.answers.update(a for a in answers if a)

    def findings(self, covered: set[tuple[str, str]]) -> list[Finding]:
        """A finding per (client, pool name) that no connection finding already covers.

        `covered` holds (client, name) and (client, address) pairs of the findings made from
        connections: a lookup that led to a flagged connection adds nothing new.
        """
        out: list[Finding] = []
        for (client, name), s in self.seen.items():
            if (client, name) in covered or any((client, a) in covered for a in s.answers):
                continue
            out.append(self._finding(client, name, s))
        return out

    def _finding(self, client: str, name: str, s: _Seen) -> Finding:
        sub: dict[str, float] = {}
        ev: list[Evidence] = []
        first = datetime.fromtimestamp(s.first, tz=UTC)
        last = datetime.fromtimestamp(s.last, tz=UTC)
        pts = 40.0 if s.builtin else 30.0
        sub["pool_domain"] = pts
        where = "the built-in pool list" if s.builtin else f"imported list {s.source!r}"
        where_zh = "内置矿池列表" if s.builtin else f"导入列表“{s.source}”"
        answered = ", ".join(a for a, _ in s.answers.most_common(5))
        ans_en = f"; answers {answered}" if answered else ""
        ans_zh = f"；应答 {answered}" if answered else ""
        span_h = (s.last - s.first) / 3600
        ev.append(Evidence(
            code="dns.pool_lookup",
            text=f"{client} looked up {name} ({s.pool}, entry {s.entry} of {where}) {s.count} time(s) between "
                 f"{first:%Y-%m-%d %H:%M:%S} and {last:%Y-%m-%d %H:%M:%S} UTC{ans_en}; no connection record "
                 "in this scan shows the session itself",
            text_zh=f"{client} 在 {first:%Y-%m-%d %H:%M:%S} 至 {last:%Y-%m-%d %H:%M:%S} UTC 之间解析了 {s.count} 次 "
                    f"{name}（{s.pool}，{where_zh}条目 {s.entry}）{ans_zh}；本次扫描中没有显示该会话本身的连接记录",
            ts=first,
            data={"name": name, "pool": s.pool, "entry": s.entry, "list": s.source, "builtin": s.builtin,
                  "lookups": s.count, "answers": [a for a, _ in s.answers.most_common(20)], "points": pts},
        ))  # fmt: skip
        if s.count >= REPEAT_MIN and s.last - s.first >= REPEAT_SPAN_S:
            sub["repeated_lookups"] = REPEAT_PTS
            ev.append(Evidence(
                code="dns.repeated_lookups",
                text=f"looked up again and again over {span_h:.1f} h, as a running miner re-resolves its pool "
                     "when it reconnects",
                text_zh=f"在 {span_h:.1f} 小时内反复解析，与运行中的矿机重连时重新解析矿池域名的行为一致",
                data={"lookups": s.count, "span_s": s.last - s.first, "points": REPEAT_PTS},
            ))  # fmt: skip
        if name in (s.entry, f"www.{s.entry}"):
            sub["pool_web_name"] = WEB_PTS
            ev.append(Evidence(
                code="dns.pool_web_name",
                text=f"{name} is the pool's web site (where earnings are checked), not a mining host",
                text_zh=f"{name} 是矿池网站（查看收益之处），不是挖矿主机",
                data={"points": WEB_PTS},
            ))  # fmt: skip
        top = s.answers.most_common(1)
        return Finding(
            kind="mining", detector=DETECTOR, score=combine_subscores(sub), subscores=sub, evidence=ev,
            source=s.origin, first_seen=first, last_seen=last, src_ip=client,
            dst_ip=top[0][0] if top else None, pool_host=name,
            extra={"dns_lookups": s.count, "pool": s.pool},
        )  # fmt: skip
