"""`minewatch watch`: the capture-scan pipeline run continuously on a live interface.

Why a subclass of `CaptureScanner` and not a second pipeline: the per-flow logic (which dissector a
flow gets, how DNS names, pool lists, content-blind timing and protocol facts combine into a finding)
must be the same live and offline, or a finding seen in a capture would be missed on the wire. What
differs is only time:

* A file ends; a wire does not. Flows end on idle timeout or FIN/RST, and their findings are written
  to the store at once. A mining session can last for weeks, so a flow whose Stratum/XMRig dissector
  has already decided `mining` is reported while still open (`extra.live_state = "open"`), refreshed
  in the store every `refresh_every_s`, and replaced by its final version (same `finding_id`, so the
  store upserts) when it ends.
* An encrypted session gives the dissectors nothing, and the content-blind timing kernel
  (`minewatch.net.behavior.score_timeline`, the one the capture scan runs at flow end) needs minutes
  of rhythm. So long-lived open TCP flows are scored on their packet timeline so far: first when
  `behavior_first_s` old, then every `behavior_every_s`; a flow that passes the threshold is
  announced as open and refreshed, and the flow end gives the final verdict (same id). If that final
  verdict falls below the threshold, the open row is rewritten as `live_state = "withdrawn"` so the
  store never keeps an alarm the full evidence did not support. Only TCP flows older than the first
  check are looked at (one numpy selection in the engine), and at most `behavior_budget` are scored
  per pass, most overdue first, so a network with thousands of long-lived connections costs a
  bounded amount of CPU per pass and nothing is starved.
* The end-of-file endpoint rules (other flows to a confirmed pool endpoint, a miner walking its
  failover list) run over a rolling window (`window_s`, default 1 h) of recent confirmed sessions and
  recent undecided flows, both capped in count.
* Packet time drives flow expiry. On a silent link no packet advances it, so between packets the
  engine's clock is advanced by wall time elapsed since the last packet (offset learnt from the
  packets themselves, so a replayed capture with old timestamps works the same).

Memory over days is bounded by: the engine's idle expiry (and, when more than `max_flows` flows are
open, a temporarily shortened idle timeout — aggressive ageing as routers do for NetFlow), the name
cache's LRU cap, the caps of the rolling windows and of the set of ids already announced. A stats
line on stderr every `stats_every_s` shows each of them and the process's resident memory.
"""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import typer

from minewatch.i18n import error_line, tr
from minewatch.messages_zh import error_text
from minewatch.model import STABLE_KEYS, Evidence, Finding, endpoint, iso
from minewatch.net.findings import FlowView, endpoint_findings, session_finding
from minewatch.net.pipeline import CaptureScanner, timing_still_judges
from minewatch.scan_cli import Format, apply_allowlist

#: Rolling window of the endpoint rules (seconds of capture time).
WINDOW_S = 3600.0
#: Most undecided flows kept for the endpoint rules inside the window.
MAX_UNDECIDED = 50_000
#: Most confirmed mining sessions kept as references for the endpoint rules.
MAX_CONFIRMED = 10_000
#: Open flows above which the idle timeout is shortened (halved per tick, not below MIN_IDLE_S).
MAX_FLOWS = 200_000
MIN_IDLE_S = 15.0
#: Finding ids remembered so endpoint findings are announced once; must exceed MAX_UNDECIDED.
MAX_EMITTED = 200_000
#: Age (s of packet time) at which an open TCP flow's timing is first judged, then the re-check period.
BEHAVIOR_FIRST_S = 600.0
BEHAVIOR_EVERY_S = 600.0
#: Most open flows scored by the timing kernel in one pass: 3-5 ms of CPU per flow (full 4,096-packet
#: timeline), so at most ~1 s per pass, every BEHAVIOR_SCAN_EVERY_S (about 3 % of a core at worst).
BEHAVIOR_BUDGET = 200
#: Wall seconds between passes over the open flows.
BEHAVIOR_SCAN_EVERY_S = 30.0
#: Wall seconds between judgements of the pool-name lookups (DNS-only findings, `net.lookups`).
DNS_EVERY_S = 300.0
#: A (client, pool) pair of lookups not asked for again for this long (packet time) is forgotten.
DNS_KEEP_S = 86_400.0
#: (host, pool name or address) pairs of announced sessions kept to explain later lookups.
MAX_COVERING = 200_000


def advance_clock(engine: Any, now: float) -> None:
    """Move the engine's packet clock to `now` and expire flows idle since before `now - timeout`.

    FlowEngine advances its clock only from packet timestamps; this uses its public `advance(now)`
    when it has one, and otherwise sets the clock and runs its idle expiry directly (the same two
    steps `process_batch` ends with).
    """
    adv = getattr(engine, "advance", None)
    if callable(adv):
        adv(now)
        return
    if now > engine._now:
        engine._now = now
        engine._expire_idle()


def _rss_mb() -> float | None:
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, ValueError, IndexError):
        return None


#: how long a lone mining hello waits for its host to mine before it is dropped, and how many wait
HELLO_WAIT_S = 3600.0
MAX_PENDING_HELLOS = 10_000


class LiveScanner(CaptureScanner):
    """Feed `PacketBatch`es with `process()`, call `tick()` when none came, `finish()` at the end.

    `sink(findings, announce)` receives every finding as soon as it is made; `announce=False` marks a
    periodic refresh of a still-open session (store it, do not print it again).
    """

    def __init__(
        self,
        intel: Any,
        sink: Callable[[list[Finding], bool], None],
        *,
        source_name: str = "live",
        idle_timeout_s: float = 300.0,
        blocks: Any = None,
        window_s: float = WINDOW_S,
        max_undecided: int = MAX_UNDECIDED,
        max_confirmed: int = MAX_CONFIRMED,
        max_flows: int = MAX_FLOWS,
        min_idle_s: float = MIN_IDLE_S,
        max_emitted: int = MAX_EMITTED,
        tick_every_s: float = 1.0,
        endpoint_every_s: float = 5.0,
        refresh_every_s: float = 600.0,
        name_cache_ips: int | None = None,
        behavior_first_s: float = BEHAVIOR_FIRST_S,
        behavior_every_s: float = BEHAVIOR_EVERY_S,
        behavior_budget: int = BEHAVIOR_BUDGET,
        behavior_scan_every_s: float = BEHAVIOR_SCAN_EVERY_S,
        block_feed: Any = None,
        dns_every_s: float = DNS_EVERY_S,
        dns_keep_s: float = DNS_KEEP_S,
    ) -> None:
        from minewatch.net.engine import FlowEngine

        super().__init__(intel, idle_timeout_s=idle_timeout_s, blocks=blocks)
        self.block_feed = block_feed  # a `blocks.LiveBlockFeed`: refreshed from local nodes on ticks
        if name_cache_ips is not None:
            self.names.max_ips = name_cache_ips
        self.sink = sink
        self._source = source_name
        self._analyzers: dict[int, Any] = {}
        self._findings: list[Finding] = []
        self._undecided: list[tuple[FlowView, Any]] = []
        self.engine = FlowEngine(self._live_consumer, idle_timeout_s=idle_timeout_s, on_flow_end=self._flow_end)
        self.exports = None  # flow export datagrams on the wire are `minewatch collect`'s, not the watch's
        # DNS-only findings (`net.lookups`): a scan judges them once at its end; a watch has no end, so
        # they are judged every `dns_every_s` against the sessions found lately, announced when a host
        # first reaches the threshold, refreshed in the store as its lookups go on, and forgotten
        # `dns_keep_s` after its last lookup (memory bounded over days). After the firewall blocks a
        # pool, this is how the miners still trying to reach it show up.
        from minewatch.net.lookups import PoolLookups

        self.lookups = PoolLookups(intel)
        self.dns_every_s = dns_every_s
        self.dns_keep_s = dns_keep_s
        self._last_dns = -math.inf
        #: (client, pool entry) -> (finding id, lookups counted when it was last sent, still open)
        self._dns_sent: dict[tuple[str, str], tuple[str, int, bool]] = {}
        #: (host, pool name or address) of every session finding announced (bounded, oldest first): lookups
        #: they explain are no DNS-only finding, as in `scan`, for longer than the confirmed window
        self._covering: OrderedDict[tuple[str, str], None] = OrderedDict()
        self.window_s = window_s
        self.max_undecided = max_undecided
        self.max_confirmed = max_confirmed
        self.max_flows = max_flows
        self.min_idle_s = min(min_idle_s, idle_timeout_s)
        self.max_emitted = max(max_emitted, max_undecided + 1)
        self.tick_every_s = tick_every_s
        self.endpoint_every_s = endpoint_every_s
        self.refresh_every_s = refresh_every_s
        self.recent_undecided: deque[tuple[FlowView, Any]] = deque()
        self.recent_confirmed: OrderedDict[str, Finding] = OrderedDict()
        self.emitted: OrderedDict[str, None] = OrderedDict()
        self.open_reported: dict[int, Finding] = {}
        self.opened = 0
        self.ended = 0
        self.counts = {"session": 0, "open": 0, "endpoint": 0, "undecided_evicted": 0, "pressure_events": 0,
                       "behavior_checks": 0, "behavior_open": 0, "behavior_withdrawn": 0, "behavior_deferred": 0,
                       "hellos_dropped": 0, "dns_only": 0, "dns_expired": 0}
        #: hosts that ran a mining session lately (bounded): a lone mining hello from one of them is a
        #: miner walking its pool list, from anyone else a probe (`CaptureScanner._release_hellos`)
        self._miner_hosts: OrderedDict[str, None] = OrderedDict()
        self.behavior_first_s = behavior_first_s
        self.behavior_every_s = behavior_every_s
        self.behavior_budget = behavior_budget
        self.behavior_scan_every_s = behavior_scan_every_s
        #: id(FlowInfo) -> packet time of the next timing check (inf: a dissector decided, never again)
        self._behavior_due: dict[int, float] = {}
        #: id(FlowInfo) -> the timing finding announced while the flow is open
        self.behavior_reported: dict[int, Finding] = {}
        self._last_behavior = -math.inf
        self._withdrawn: list[Finding] = []
        self._offset: float | None = None  # packet time minus wall time at the last packet
        self._last_tick = -math.inf
        self._last_endpoint = -math.inf
        self._last_refresh: float | None = None
        self._endpoint_dirty = False

    # -- per flow -------------------------------------------------------------------------------
    def _live_consumer(self, info: Any) -> Any:
        self.opened += 1
        return self._consumer(info)

    def _flow_end(self, summary: Any) -> None:
        self.ended += 1
        key = id(summary.info)
        prov = self.open_reported.pop(key, None)
        bprov = self.behavior_reported.pop(key, None)
        self._behavior_due.pop(key, None)
        if prov is not None or bprov is not None:
            # keep the id of the finding already announced: same first_seen as when it was open
            summary.first_ts = summary.info.first_ts
        before = len(self._findings)
        super()._flow_end(summary)
        if bprov is None:
            return
        final = self._findings[before:]
        if any(f.finding_id == bprov.finding_id for f in final):
            return
        if final:
            # a dissector decided the flow after its timing was reported: that finding is the verdict
            import dataclasses

            done = dataclasses.replace(bprov, extra={**bprov.extra, "live_state": "closed",
                                                     "superseded_by": final[0].finding_id})
            self.recent_confirmed.pop(done.finding_id, None)
            self._withdrawn.append(done)
        else:
            self._withdraw(bprov, summary)

    def _withdraw(self, prov: Finding, summary: Any) -> None:
        """The whole flow scored below the threshold after its open part passed: say so in the same row."""
        import dataclasses

        from minewatch.model import Evidence, combine_subscores, utc_from_epoch
        from minewatch.net.behavior import THRESHOLD

        # a copy: the announced object may still be held by a sink or a caller
        prov = dataclasses.replace(prov, subscores=dict(prov.subscores), evidence=list(prov.evidence),
                                   extra=dict(prov.extra))
        res, _window = self._timing_score(summary, summary.first_ts, summary.last_ts)
        if res is not None:
            prov.subscores = dict(res.subscores)
            prov.evidence = list(res.evidence)
            prov.score = combine_subscores(prov.subscores)
        final = f"{prov.score:.0f}" if res is not None else tr("not judged", "未判定")
        prov.evidence.append(Evidence(
            code="behavior.withdrawn",
            text=f"the whole session scored {final} at its end, below the threshold {THRESHOLD:.0f} its open "
                 "part had passed: the alarm raised while it was open is withdrawn",
            text_zh=f"会话结束时整体评分为 {final}，低于进行中时曾超过的阈值 {THRESHOLD:.0f}：撤回进行中发出的告警",
            data={"final_score": None if res is None else prov.score, "threshold": THRESHOLD},
        ))  # fmt: skip
        prov.last_seen = utc_from_epoch(summary.last_ts)
        prov.extra["live_state"] = "withdrawn"
        self.recent_confirmed.pop(prov.finding_id, None)
        self.counts["behavior_withdrawn"] += 1
        self._withdrawn.append(prov)

    @property
    def active_flows(self) -> int:
        return self.opened - self.ended

    # -- input ----------------------------------------------------------------------------------
    def process(self, batch: Any, wall: float | None = None) -> None:
        wall = time.time() if wall is None else wall
        if len(batch):
            tmax = float(np.nanmax(batch.ts)) if np.isfinite(batch.ts).any() else math.nan
            if math.isfinite(tmax):
                self._offset = tmax - wall
        self.engine.process_batch(batch)
        self._drain()
        self.tick(wall)

    def clock(self, wall: float) -> float | None:
        """Packet time corresponding to this wall time (None before the first timestamped packet)."""
        return None if self._offset is None else wall + self._offset

    def tick(self, wall: float | None = None, *, force: bool = False) -> None:
        wall = time.time() if wall is None else wall
        if not force and wall - self._last_tick < self.tick_every_s:
            return
        self._last_tick = wall
        self._pressure()
        now = self.clock(wall)
        if now is not None:
            advance_clock(self.engine, now)
            self._drain(now)
        self._report_open(now)
        if now is not None and (force or wall - self._last_behavior >= self.behavior_scan_every_s):
            self._last_behavior = wall
            self._behavior_open(now)
        if now is not None:
            self._evict(now)
        if force or wall - self._last_endpoint >= self.endpoint_every_s:
            self._last_endpoint = wall
            self._endpoint_pass()
        if force or wall - self._last_dns >= self.dns_every_s:
            self._last_dns = wall
            self._dns_pass(now)
        feed = self.block_feed
        if feed is not None and now is not None:
            failures = feed.failures
            if feed.refresh(wall):
                self.blocks = feed.blocks()
            elif feed.failures > failures:
                print(tr(f"block feed: {feed.last_error} (asked again in {feed.every_s:.0f} s)",
                         f"出块数据：{feed.last_error}（{feed.every_s:.0f} 秒后重试）"), file=sys.stderr)
        if self._last_refresh is None:
            self._last_refresh = wall
        elif wall - self._last_refresh >= self.refresh_every_s:
            self._last_refresh = wall
            self._refresh_open(now)

    def finish(self) -> None:
        """End every open flow, then run the endpoint rules once more: nothing found is left unsaid."""
        self.engine.finish()
        self._drain(final=True)
        self._endpoint_pass()
        self._dns_pass(None)

    # -- findings -------------------------------------------------------------------------------
    def _announce(self, findings: list[Finding], announce: bool = True) -> None:
        if not findings:
            return
        cover = self._covering
        for f in findings:
            self.emitted[f.finding_id] = None
            self.emitted.move_to_end(f.finding_id)
            if f.kind == "mining" and f.detector != "net.dns" and f.src_ip:
                withdrawn = f.extra.get("live_state") == "withdrawn"  # the alarm was taken back: it explains nothing
                for x in (f.pool_host, f.sni, f.dst_ip):
                    if x and withdrawn:
                        cover.pop((f.src_ip, x), None)
                    elif x:
                        cover[(f.src_ip, x)] = None
                        cover.move_to_end((f.src_ip, x))
        while len(cover) > MAX_COVERING:
            cover.popitem(last=False)
        while len(self.emitted) > self.max_emitted:
            self.emitted.popitem(last=False)
        self.sink(findings, announce)

    def _confirm(self, f: Finding) -> None:
        if f.kind != "mining" or f.detector == "net.endpoint":
            return
        if f.src_ip and not any(e.code == "net.stratum.hello_of_a_miner" for e in f.evidence):
            self._miner_hosts[f.src_ip] = None
            self._miner_hosts.move_to_end(f.src_ip)
            while len(self._miner_hosts) > self.max_confirmed:
                self._miner_hosts.popitem(last=False)
        self.recent_confirmed[f.finding_id] = f
        self.recent_confirmed.move_to_end(f.finding_id)
        while len(self.recent_confirmed) > self.max_confirmed:
            self.recent_confirmed.popitem(last=False)
        self._endpoint_dirty = True

    def _live_hellos(self, now: float | None, final: bool) -> list[Finding]:
        """Lone mining hellos of flows that ended: kept when their host mined lately, dropped (and
        counted) once they are `HELLO_WAIT_S` old without that, or at the end of the watch.

        Why a wait and not the capture's end as in `scan`: a live watch has no end, and the miner's
        session at its main pool may start after it tried a dead backup pool. Bounded by
        `MAX_PENDING_HELLOS` (the oldest go first), so a port scanner cannot grow the memory.
        """
        from minewatch.net.pipeline import hello_of_a_miner

        out: list[Finding] = []
        keep: list[Finding] = []
        for f in self._hellos:
            seen = f.last_seen.timestamp() if f.last_seen else None
            if f.src_ip in self._miner_hosts:
                f.extra["live_state"] = "closed"
                out.append(hello_of_a_miner(f))
            elif final or (now is not None and seen is not None and now - seen > HELLO_WAIT_S):
                self.counts["hellos_dropped"] += 1
            else:
                keep.append(f)
        if len(keep) > MAX_PENDING_HELLOS:
            self.counts["hellos_dropped"] += len(keep) - MAX_PENDING_HELLOS
            keep = keep[-MAX_PENDING_HELLOS:]
        self._hellos = keep
        return out

    def _drain(self, now: float | None = None, *, final: bool = False) -> None:
        found, self._findings = self._findings, []
        for f in found:
            f.extra["live_state"] = "closed"
            self._confirm(f)
        found.extend(self._live_hellos(now, final))
        self.counts["session"] += len(found)
        if self._withdrawn:
            found.extend(self._withdrawn)
            self._withdrawn = []
        und, self._undecided = self._undecided, []
        if und:
            # the endpoint rules read only the flow (its facts decided nothing); keeping the
            # dissector's facts would multiply the window's memory for no use
            self.recent_undecided.extend((view, None) for view, _facts in und)
            self._endpoint_dirty = True
            while len(self.recent_undecided) > self.max_undecided:
                self.recent_undecided.popleft()
                self.counts["undecided_evicted"] += 1
        self._announce(found)

    def _dns_pass(self, now: float | None) -> None:
        """Hosts whose pool-name lookups no session found (and announced) explains (`net.lookups`).

        The id of a host's finding stays the one it was first announced with (the most frequent answer,
        part of the natural id, can change as lookups go on), so the store upserts one row per host and
        pool. A finding is announced once; later passes refresh it silently when its lookups grew. It is
        closed (`live_state = "closed"`) when a session found later explains it, before its pair is
        forgotten (`dns_keep_s` after the last lookup), and when the watch stops (`now` None).
        """
        lk = self.lookups
        assert lk is not None
        covered = self._covering
        reported, _ = lk.judge(covered, suspects=False)
        new: list[Finding] = []
        again: list[Finding] = []
        live: set[tuple[str, str]] = set()
        for f in reported:
            key = (f.src_ip or "", str(f.extra.get("pool_entry")))
            live.add(key)
            n = int(f.extra.get("dns_lookups") or 0)
            sent = self._dns_sent.get(key)
            if sent is not None:
                if n <= sent[1] and sent[2] and now is not None:  # at the end every one is sent again, closed
                    continue
                f.finding_id = sent[0]
                again.append(f)
            else:
                new.append(f)
            f.extra["live_state"] = "open" if now is not None else "closed"
            self._dns_sent[key] = (f.finding_id, n, now is not None)
        # announced pairs a session explains now: closed, and said why (reopened should that session be
        # forgotten while the lookups go on: same id)
        for key, (fid, n, is_open) in list(self._dns_sent.items()):
            if key in live or not is_open or key not in lk.seen:
                continue
            explained = lk.explained(key, covered)
            if not explained and now is not None:
                continue  # no longer judged for another reason (the host answered DNS): left until it ends
            f = lk.finding_for(key)
            f.finding_id = fid
            f.extra["live_state"] = "closed"
            if explained:
                f.evidence.append(Evidence(
                    code="dns.explained", text="a mining session of this host found later explains these lookups",
                    text_zh="之后发现的该主机挖矿会话解释了这些解析", data={}))
            again.append(f)
            self._dns_sent[key] = (fid, n, False)
        if now is not None:
            gone = lk.expire(now - self.dns_keep_s)
            self.counts["dns_expired"] += len(gone)
            for k, seen in gone.items():  # the last word on a pair it forgot
                sent = self._dns_sent.pop(k, None)
                if sent is not None and sent[2]:
                    f = lk.finding_for(k, seen)
                    f.finding_id = sent[0]
                    f.extra["live_state"] = "closed"
                    again.append(f)
        self.counts["dns_only"] += len(new)
        self.stats.mining_sessions += len(new)
        self._announce(new)
        self._announce(again, announce=False)

    def _open_finding(self, info: Any, facts: Any, now: float | None) -> Finding | None:
        """The finding a still-open flow earns from what its dissector has decided so far."""
        last = getattr(facts, "last_ts", None) or now or info.first_ts
        view = FlowView(
            src_ip=info.src_ip, src_port=info.src_port, dst_ip=info.dst_ip, dst_port=info.dst_port,
            transport=info.transport, first_ts=info.first_ts, last_ts=max(float(last), info.first_ts),
            direction_certain=info.direction_certain, source=self._source,
        )  # fmt: skip
        server_ip = info.dst_ip if getattr(facts, "client_is_src", None) is not False else info.src_ip
        view.dns_names = self.names.lookup(server_ip, info.first_ts)
        if view.dns_names:
            from minewatch.net.stratum import refine_with_pool_name

            refine_with_pool_name(facts, view.dns_names[0])
        f = session_finding(view, facts, self._intel_parts(view, facts, server_ip))
        if f is not None:
            f.extra["live_state"] = "open"
        return f

    def _report_open(self, now: float | None) -> None:
        """Announce flows whose dissector decided `mining` before they ended."""
        new: list[Finding] = []
        for key, an in list(self._analyzers.items()):
            if key in self.open_reported:
                continue
            gate = getattr(an, "_mining_variant", None)  # cheap pre-check; facts() builds everything
            if callable(gate) and gate() is None:
                continue
            facts = an.facts()
            if getattr(facts, "kind", None) != "mining":
                continue
            if getattr(facts, "probe_only", False) and an.info.src_ip not in self._miner_hosts:
                continue  # a lone hello: decided when the flow ends (`_live_hellos`)
            f = self._open_finding(an.info, facts, now)
            if f is None or f.kind != "mining":
                continue
            self.open_reported[key] = f
            self._confirm(f)
            new.append(f)
        self.counts["open"] += len(new)
        self._announce(new)

    def _behavior_open(self, now: float) -> None:
        """Judge the timing of long-lived open TCP flows the dissectors could not decide (TLS, proxies).

        At most `behavior_budget` flows per pass, the most overdue first; each is judged again
        `behavior_every_s` later, so the verdict follows the session while it lasts.
        """
        eng = self.engine
        due_at = self._behavior_due
        first = self.behavior_first_s
        due: list[tuple[float, int, Any]] = []
        for slot, info in eng.open_flows(now - first):
            key = id(info)
            if key in self.open_reported:
                continue  # a dissector already called it mining
            t = due_at.get(key)
            if t is None:
                t = info.first_ts + first
            if t <= now:
                due.append((t, slot, info))
        if not due:
            return
        due.sort(key=lambda x: x[0])
        if len(due) > self.behavior_budget:
            self.counts["behavior_deferred"] += len(due) - self.behavior_budget
            due = due[: self.behavior_budget]
        new: list[Finding] = []
        upd: list[Finding] = []
        for _t, slot, info in due:
            key = id(info)
            an = self._analyzers.get(key)
            facts = an.facts() if an is not None else None
            kind = getattr(facts, "kind", None)
            # only a mining verdict's strength needs the finding built (a node verdict is read from its facts)
            content = self._open_finding(info, facts, now) if kind == "mining" else None
            if kind is not None and not timing_still_judges(kind, content, facts):
                due_at[key] = math.inf  # the dissector decided firmly; timing is for what it could not
                continue
            due_at[key] = now + self.behavior_every_s
            summary = eng.snapshot(slot)
            if summary is None:
                continue
            self.counts["behavior_checks"] += 1
            f = self._judge_open(summary, facts)
            if f is None or f.kind != "mining":
                continue
            f.extra["live_state"] = "open"
            announced = key in self.behavior_reported
            self.behavior_reported[key] = f
            self._confirm(f)
            (upd if announced else new).append(f)
        self.counts["open"] += len(new)
        self.counts["behavior_open"] += len(new)
        self._announce(new)
        if upd:
            self.sink(upd, False)

    def _judge_open(self, summary: Any, facts: Any) -> Finding | None:
        """What the capture scan's flow-end logic would say about this flow if it ended now.

        Mirrors `CaptureScanner._flow_end` (session finding from intel, merged with the timing verdict)
        so the open finding has the id the final one will have.
        """
        from minewatch.net.findings import merge_findings

        info = summary.info
        summary.first_ts = info.first_ts  # the id keys on the flow's first packet, as `_flow_end` does
        view = FlowView(
            src_ip=info.src_ip, src_port=info.src_port, dst_ip=info.dst_ip, dst_port=info.dst_port,
            transport=info.transport, first_ts=info.first_ts, last_ts=summary.last_ts,
            direction_certain=info.direction_certain, packets_fwd=summary.packets_fwd,
            packets_rev=summary.packets_rev, payload_bytes_fwd=summary.payload_bytes_fwd,
            payload_bytes_rev=summary.payload_bytes_rev, syn_seen=bool((summary.tcp_flags_fwd or 0) & 0x02),
            tcp_flags_fwd=summary.tcp_flags_fwd, community_id=summary.community_id, source=self._source,
        )  # fmt: skip
        server_ip = info.dst_ip if getattr(facts, "client_is_src", None) is not False else info.src_ip
        view.dns_names = self.names.lookup(server_ip, info.first_ts)
        g = self._behavior(summary, view, facts)
        if g is None:
            return None
        f = session_finding(view, facts, self._intel_parts(view, facts, server_ip))
        return merge_findings(f, g) if f is not None else g

    def _refresh_open(self, now: float | None) -> None:
        """Rewrite still-open sessions in the store with their latest facts (last_seen, shares)."""
        upd: list[Finding] = []
        for key, an in list(self._analyzers.items()):
            if key not in self.open_reported:
                continue
            f = self._open_finding(an.info, an.facts(), now)
            if f is not None:
                self.open_reported[key] = f
                self._confirm(f)
                upd.append(f)
        if upd:
            self.sink(upd, False)

    def _evict(self, now: float) -> None:
        cut = now - self.window_s
        q = self.recent_undecided
        while q and q[0][0].last_ts < cut:
            q.popleft()
            self.counts["undecided_evicted"] += 1
        rc = self.recent_confirmed
        while rc:
            fid, f = next(iter(rc.items()))
            if f.last_seen is not None and f.last_seen.timestamp() >= cut:
                break
            rc.popitem(last=False)
            del fid

    def _endpoint_pass(self) -> None:
        if not self._endpoint_dirty:
            return
        self._endpoint_dirty = False
        if not self.recent_confirmed or not self.recent_undecided:
            return
        out = endpoint_findings(list(self.recent_undecided), list(self.recent_confirmed.values()))
        new = [f for f in out if f.finding_id not in self.emitted]
        for f in new:
            f.extra["live_state"] = "closed"
        self.counts["endpoint"] += len(new)
        self.stats.mining_sessions += len(new)
        self._announce(new)

    def _pressure(self) -> None:
        """Shorten the idle timeout while too many flows are open (a scan or flood), restore it after."""
        eng = self.engine
        if self.active_flows > self.max_flows:
            shorter = max(self.min_idle_s, eng.idle_timeout_s / 2)
            if shorter < eng.idle_timeout_s:
                eng.idle_timeout_s = shorter
                self.counts["pressure_events"] += 1
        elif self.active_flows < self.max_flows // 2 and eng.idle_timeout_s < self.idle_timeout_s:
            eng.idle_timeout_s = min(self.idle_timeout_s, eng.idle_timeout_s * 2)

    # -- reporting ------------------------------------------------------------------------------
    def memory_stats(self) -> dict[str, int]:
        """Sizes of everything that could grow with time; each has a cap."""
        return {
            "active_flows": self.active_flows,
            "engine_slots": int(self.engine.fi.shape[0]),
            "analyzers": len(self._analyzers),
            "undecided_window": len(self.recent_undecided),
            "confirmed_window": len(self.recent_confirmed),
            "announced_ids": len(self.emitted),
            "open_reported": len(self.open_reported),
            "behavior_tracked": len(self._behavior_due),
            "behavior_reported": len(self.behavior_reported),
            "dns_cache_ips": len(self.names),
            "dns_lookup_pairs": len(self.lookups.seen) if self.lookups is not None else 0,
            "dns_servers": len(self.lookups.servers) if self.lookups is not None else 0,
            "dns_covering": len(self._covering),
        }

    def stats_line(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        es = self.engine.stats
        d: dict[str, Any] = {
            "packets": es.packets,
            "bytes": es.bytes,
            "flows": self.opened,
            "idle_timeout_s": self.engine.idle_timeout_s,
            "findings_session": self.counts["session"],
            "findings_open": self.counts["open"],
            "findings_endpoint": self.counts["endpoint"],
            "dns_answers": self.stats.dns_answers,
            "undecided_evicted": self.counts["undecided_evicted"],
            "pressure_events": self.counts["pressure_events"],
            "behavior_checks": self.counts["behavior_checks"],
            "behavior_deferred": self.counts["behavior_deferred"],
            "findings_withdrawn": self.counts["behavior_withdrawn"],
            "findings_dns_only": self.counts["dns_only"],
            "dns_pairs_expired": self.counts["dns_expired"],
            "dns_lookups_dropped": self.lookups.dropped if self.lookups is not None else 0,
            "blocks_known": None if self.blocks is None else int(sum(v.size for v in self.blocks.values())),
            **self.memory_stats(),
            "rss_mb": None if (r := _rss_mb()) is None else round(r, 1),
        }
        if extra:
            d.update(extra)
        return d


def run_watch(
    source: Iterable[Any],
    scanner: LiveScanner,
    *,
    duration_s: float | None = None,
    stats_every_s: float | None = 60.0,
    on_stats: Callable[[dict[str, Any]], None] | None = None,
    clock: Callable[[], float] = time.time,
) -> None:
    """Drive the scanner from a source of `PacketBatch | None` until it ends or `duration_s` passes.

    A source with a `stop()` method (LiveCapture) is asked to stop and drained, so packets already
    captured are still scanned; a plain iterable is simply left.
    """
    t0 = time.monotonic()
    last_stats = t0
    stopper = getattr(source, "stop", None)
    stopping = False
    for item in source:
        wall = clock()
        if item is not None:
            scanner.process(item, wall)
        else:
            scanner.tick(wall)
        mono = time.monotonic()
        if duration_s is not None and not stopping and mono - t0 >= duration_s:
            if callable(stopper):
                stopper()
                stopping = True
            else:
                break
        if stats_every_s and on_stats is not None and mono - last_stats >= stats_every_s:
            last_stats = mono
            on_stats(scanner.stats_line(_capture_extra(source)))
    scanner.finish()
    if on_stats is not None:
        on_stats(scanner.stats_line(_capture_extra(source)))


def _capture_extra(source: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if getattr(source, "dropped", None) is not None:
        out["capture_dropped"] = source.dropped
    tee = getattr(source, "tee", None)
    if tee is not None and tee.current is not None:
        out["rotating_file"] = str(tee.current)
    return out


# ------------------------------------------------------------------------------------------ output
@dataclass
class FindingSink:
    """Findings to the store (opened per write, so other processes can read it in between) and out.

    DuckDB lets one process hold a database file; a watcher that kept it open for days would lock the
    web pages and `minewatch findings` out. Writes are rare (findings, not packets), so the store is
    opened for each write; if another process holds it, the findings wait (bounded) for the next try.
    """

    db: str | Path | None  # a DuckDB file or a postgresql:// URL
    fmt: Format
    out: TextIO
    allow: Any = None
    no_store: bool = False
    max_pending: int = 100_000
    stored_new: int = 0
    written: int = 0
    hidden: int = 0
    store_errors: int = 0
    _csv: Any = None
    _pending: list[Finding] | None = None

    def __call__(self, findings: list[Finding], announce: bool = True) -> None:
        self.store(findings)
        if announce:
            self.show(findings)

    def store(self, findings: list[Finding]) -> None:
        if self.no_store:
            return
        pending = (self._pending or []) + list(findings)
        if not pending:
            return
        import duckdb

        from minewatch.store.backend import StoreBusy, as_db, open_store
        from minewatch.store.cases import attach_new

        busy: tuple[type[BaseException], ...] = (duckdb.Error, OSError, StoreBusy)
        try:
            import psycopg

            busy += (psycopg.Error,)
        except ImportError:  # pragma: no cover - psycopg is a dependency; only the DuckDB path then
            pass
        try:
            # no waiting: this runs on the capture thread, and the sink keeps findings for the next try
            with open_store(self.db, wait_s=0) as st:
                new = st.add_findings(pending)
                self.stored_new += new
                if new:  # new findings join the sites whose ranges they fall in, and their open cases
                    attach_new(as_db(st))
            self.written += len(pending)
            self._pending = None
        except busy as e:  # duckdb.IOException when another process holds the file; a server that is down
            self.store_errors += 1
            self._pending = pending[-self.max_pending :]
            print(tr(f"store busy, {len(self._pending)} finding(s) kept for the next write: {e}",
                     f"存储被占用，{len(self._pending)} 条结果留待下次写入：{e}"), file=sys.stderr)

    def flush(self) -> None:
        if self._pending:
            self.store([])

    def show(self, findings: list[Finding]) -> None:
        shown, hidden = apply_allowlist(findings, self.allow)
        self.hidden += len(hidden)
        for f in shown:
            rec = f.to_record()
            if self.fmt is Format.jsonl:
                self.out.write(json.dumps(rec, ensure_ascii=False, default=str) + "\n")
            elif self.fmt is Format.csv:
                from minewatch.scan_cli import _record_for_csv

                if self._csv is None:
                    keys = [*STABLE_KEYS, "finding_id", "detector"]
                    self._csv = csv.DictWriter(self.out, fieldnames=keys, extrasaction="ignore", lineterminator="\n")
                    self._csv.writeheader()
                self._csv.writerow(_record_for_csv(rec))
            else:
                self.out.write(_human_line(f) + "\n")
        self.out.flush()


def _human_line(f: Finding) -> str:
    state = f.extra.get("live_state")
    what = tr("mining", "挖矿") if f.kind == "mining" else tr("node", "节点")
    status = (tr(" (session open)", "（会话进行中）") if state == "open"
              else tr(" (withdrawn at session end)", "（会话结束时撤回）") if state == "withdrawn" else "")
    pool = endpoint(f.pool_host or f.dst_ip, f.dst_port)
    parts = [f"{iso(f.first_seen) or '—'}", f"{what}{status}", f"{endpoint(f.src_ip, f.src_port)} → {pool}"]
    for label_en, label_zh, v in (
        ("variant", "协议", f.variant), ("coin", "币种", f.coin), ("worker", "矿工名", f.worker),
        ("wallet", "钱包", f.wallet), ("score", "评分", f"{f.score:.0f}"),
    ):  # fmt: skip
        if v:
            parts.append(f"{tr(label_en, label_zh)}={v}")
    return "  ".join(parts)


def _print_stats(d: dict[str, Any]) -> None:
    rss = d.get("rss_mb")
    print(
        tr(
            f"[watch] {d['packets']:,} packets, {d['bytes'] / 1e6:.1f} MB, {d['flows']:,} flows "
            f"({d['active_flows']:,} open, idle timeout {d['idle_timeout_s']:.0f} s), findings: "
            f"{d['findings_session']} sessions, {d['findings_open']} open sessions, {d['findings_endpoint']} "
            f"endpoint; windows: {d['undecided_window']:,} undecided, {d['confirmed_window']} confirmed; "
            f"DNS cache {d['dns_cache_ips']:,} IPs; RSS {rss if rss is not None else '?'} MB"
            + (f"; capture dropped {d['capture_dropped']:,}" if d.get("capture_dropped") is not None else ""),
            f"[watch] {d['packets']:,} 个数据包，{d['bytes'] / 1e6:.1f} MB，{d['flows']:,} 条流"
            f"（{d['active_flows']:,} 条进行中，空闲超时 {d['idle_timeout_s']:.0f} 秒），结果：会话 "
            f"{d['findings_session']} 个，进行中会话 {d['findings_open']} 个，端点 {d['findings_endpoint']} 个；"
            f"窗口：未判定流 {d['undecided_window']:,} 条，已确认 {d['confirmed_window']} 个；"
            f"DNS 缓存 {d['dns_cache_ips']:,} 个 IP；内存 {rss if rss is not None else '?'} MB"
            + (f"；抓包丢弃 {d['capture_dropped']:,} 个" if d.get("capture_dropped") is not None else ""),
        ),
        file=sys.stderr,
        flush=True,
    )


# ------------------------------------------------------------------------------------------ command
def watch(
    interface: str = typer.Option(..., "--interface", "-i", help=tr(
        "Network interface to capture on (e.g. a mirror/SPAN port).", "抓包的网络接口（例如镜像/SPAN 端口）。")),
    bpf: str = typer.Option(None, "--bpf", help=tr(
        "Capture filter in libpcap syntax, e.g. 'tcp or udp port 53'.", "libpcap 语法的抓包过滤器，例如 'tcp or udp port 53'。")),
    rotate_mb: float = typer.Option(None, "--rotate-mb", min=0.01, help=tr(
        "Also keep the raw capture in rotating pcap files of this many MB.", "同时把原始数据包保存为每个若干 MB 的轮转 pcap 文件。")),
    rotate_keep: int = typer.Option(10, "--rotate-keep", min=1, help=tr(
        "How many rotated pcap files to keep (oldest deleted).", "保留的轮转 pcap 文件数量（删除最旧的）。")),
    rotate_dir: Path = typer.Option(None, "--rotate-dir", help=tr(
        "Directory of the rotated pcap files (default: captures/ in the data directory).",
        "轮转 pcap 文件的目录（默认：数据目录下的 captures/）。")),
    db: str = typer.Option(None, "--db", help=tr(
        "Store: a DuckDB file (default: in the user data directory) or a postgresql:// URL (env MINEWATCH_DB).",
        "存储：DuckDB 文件（默认在用户数据目录）或 postgresql:// 地址（环境变量 MINEWATCH_DB）。")),
    no_store: bool = typer.Option(False, "--no-store", help=tr("Do not write to the store.", "不写入存储。")),
    fmt_out: Format = typer.Option(Format.table, "--format", help=tr(
        "How findings are printed as they arrive: table (one line each), jsonl or csv.",
        "结果出现时的输出格式：table（每条一行）、jsonl 或 csv。")),
    idle_timeout: float = typer.Option(300.0, "--idle-timeout", min=1.0, help=tr(
        "Seconds without packets after which a flow ends and is judged.", "流在无数据包多少秒后结束并被判定。")),
    duration: float = typer.Option(None, "--duration", min=0.1, help=tr(
        "Stop after this many seconds (default: until SIGINT/SIGTERM).", "运行若干秒后停止（默认：直到收到 SIGINT/SIGTERM）。")),
    stats_every: float = typer.Option(60.0, "--stats-every", min=1.0, help=tr(
        "Seconds between status lines on stderr.", "stderr 状态行的间隔秒数。")),
    intel_files: list[Path] = typer.Option([], "--intel", exists=True, help=tr(
        "Extra pool list for this run (hosts, domains, maltrail).", "本次附加的矿池列表（hosts、域名、maltrail 格式）。")),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=tr(
        "No start message and no status lines.", "不显示启动信息和状态行。")),
    blocks_file: Path = typer.Option(None, "--blocks", exists=True, dir_okay=False, help=tr(
        "Block-time feed (CSV: coin,height,timestamp) to correlate server pushes with real blocks.",
        "区块时间数据（CSV：coin,height,timestamp），用于将服务器推送与真实出块对照。")),
    blocks_rpc: list[str] = typer.Option([], "--blocks-rpc", help=tr(
        "Local node asked every 5 min for new blocks: KIND[:COIN]=URL (bitcoind=..., monerod=...).",
        "每 5 分钟向本地节点获取新区块：KIND[:COIN]=URL（bitcoind=...、monerod=...）。")),
) -> None:
    """Watch an interface live and report mining as it happens, into the store and to stdout.

    实时监视网络接口，发现挖矿即写入存储并输出。
    """
    from minewatch.paths import data_dir
    from minewatch.scan_cli import _allowlist, _load_intel
    from minewatch.sources.live import CaptureToolError, LiveCapture, RotatingPcapWriter
    from minewatch.store.backend import open_store

    if no_store:
        intel, allow = _load_intel(None, intel_files), None
    else:
        with open_store(db) as st:
            intel, allow = _load_intel(st, intel_files), _allowlist(st)
    tee = None
    if rotate_mb:
        directory = rotate_dir or (data_dir() / "captures")
        tee = RotatingPcapWriter(directory, int(rotate_mb * 1e6), keep=rotate_keep, prefix=interface)
    sink = FindingSink(db, fmt_out, sys.stdout, allow=allow, no_store=no_store)
    from minewatch.errors import InputError
    from minewatch.net.blocks import LiveBlockFeed, read_blocks_csv

    try:
        csv_blocks = read_blocks_csv(blocks_file) if blocks_file is not None else None
        feed = LiveBlockFeed(blocks_rpc, csv_blocks) if blocks_rpc else None
    except InputError as e:
        print(error_line(error_text(e)), file=sys.stderr)
        raise typer.Exit(2) from e
    scanner = LiveScanner(intel, sink, source_name=f"live:{interface}", idle_timeout_s=idle_timeout,
                          blocks=csv_blocks, block_feed=feed)  # fmt: skip
    try:
        capture = LiveCapture(interface, bpf, tee=tee)
        capture.start()
    except CaptureToolError as e:
        print(error_line(error_text(e)), file=sys.stderr)
        raise typer.Exit(2) from e

    received: list[int] = []

    def _stop(signum: int, _frame: Any) -> None:
        received.append(signum)
        if len(received) > 1:
            raise KeyboardInterrupt  # a second Ctrl-C: stop without flushing
        capture.stop()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
    if not quiet:
        print(tr(
            f"Watching {interface}" + (f" (filter: {bpf})" if bpf else "") + "; findings go to "
            + ("stdout only" if no_store else str(db or "the default store"))
            + (f"; raw packets to {tee.directory} ({rotate_mb} MB x {rotate_keep} files)" if tee else "")
            + ". Stop with Ctrl-C.",
            f"正在监视 {interface}" + (f"（过滤器：{bpf}）" if bpf else "") + "；结果写入"
            + ("标准输出" if no_store else str(db or "默认存储"))
            + (f"；原始数据包保存到 {tee.directory}（{rotate_mb} MB × {rotate_keep} 个文件）" if tee else "")
            + "。按 Ctrl-C 停止。",
        ), file=sys.stderr)  # fmt: skip
    code = 0
    try:
        run_watch(capture, scanner, duration_s=duration, stats_every_s=stats_every,
                  on_stats=None if quiet else _print_stats)
    except CaptureToolError as e:
        print(error_line(error_text(e)), file=sys.stderr)
        code = 2
        scanner.finish()
    finally:
        sink.flush()
    for err in capture.parser.errors:
        print(error_line(error_text(err)), file=sys.stderr)
    if not quiet and not code:
        print(tr(
            f"Stopped: {scanner.counts['session'] + scanner.counts['endpoint']} finding(s) from ended flows, "
            f"{scanner.counts['open']} reported while open; {sink.stored_new} new in the store"
            + (f"; {sink.hidden} hidden by the allow-list" if sink.hidden else "") + ".",
            f"已停止：已结束流的结果 {scanner.counts['session'] + scanner.counts['endpoint']} 条，"
            f"进行中报告 {scanner.counts['open']} 条；新存入 {sink.stored_new} 条"
            + (f"；白名单隐藏 {sink.hidden} 条" if sink.hidden else "") + "。",
        ), file=sys.stderr)  # fmt: skip
    if code:
        raise typer.Exit(code)


__all__ = ["FindingSink", "LiveScanner", "advance_clock", "run_watch", "watch"]
