"""`minewatch scan`, `minewatch demo` and `minewatch findings`: the administrator's first commands.

Machine formats (jsonl, csv) go to stdout with stable English keys and nothing else, so they can be
piped; the progress bar, stage timings and the closing summary go to stderr.
"""

from __future__ import annotations

import csv
import functools
import json
import math
import sys
import tempfile
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from minewatch.i18n import current, tr
from minewatch.messages_zh import error_prefix, error_text, example_text, reasons_text, say
from minewatch.model import STABLE_KEYS, Finding, endpoint, iso
from minewatch.net.findings import fold_same_connections, rollup_by_host
from minewatch.net.hashrate import format_rate

err = Console(stderr=True, soft_wrap=True)


def _error(e: Exception | str) -> None:
    """One error line on stderr in the reader's language (`错误：…` / `error: …`); the message is
    never read as Rich markup (file names and parser text may hold brackets)."""
    text = error_text(e) if isinstance(e, Exception) else say(e)
    err.print(f"[red]{error_prefix().strip()}[/red]{' ' if current() != 'zh' else ''}{escape(text)}")


class Format(StrEnum):
    table = "table"
    jsonl = "jsonl"
    csv = "csv"


class Group(StrEnum):
    session = "session"
    host = "host"


def parse_time(value: str | None) -> datetime | None:
    """ISO-8601 (naive = UTC) or a relative age like `24h`, `7d`, `30m`."""
    if not value:
        return None
    v = value.strip()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    if v[-1:] in units and v[:-1].replace(".", "", 1).isdigit():
        return datetime.now(UTC) - timedelta(seconds=float(v[:-1]) * units[v[-1]])
    try:
        dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError as e:
        raise typer.BadParameter(tr(f"not a time: {value!r}", f"无法识别的时间：{value!r}")) from e
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _load_intel(store: Any, extra_lists: list[Path]) -> Any:
    """Built-in pools, plus every list imported into the store, plus lists given for this run."""
    from minewatch.store.intel_tables import load_intel

    intel = load_intel(store)
    for p in extra_lists:
        intel.import_list(p)
    return intel


@functools.cache
def _hasher() -> Any:
    """One worker thread that hashes a capture while it is read (hashlib releases the GIL on large blocks)."""
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="minewatch-sha256")


def _read_only_store(db: str | None) -> Any:
    """The DuckDB store opened read-only for its pool lists and allow rules, when `--no-store` keeps a scan
    from writing; None when there is none yet, it is a PostgreSQL URL, or another process holds it.

    Why: `intel import` puts lists into the store, and a user who then scans with `--no-store` expects them
    to apply (user review: flows to an imported list's address were not even suspects)."""
    import os

    from minewatch.paths import default_db
    from minewatch.store import Store
    from minewatch.store.backend import StoreBusy, StoreUnreadable, is_postgres_url

    target = db or os.environ.get("MINEWATCH_DB") or None
    if target is not None and is_postgres_url(str(target)):
        return None
    path = Path(target) if target is not None else default_db()
    if not path.is_file():
        return None
    try:
        return Store(path, read_only=True, wait_s=2.0)
    except (StoreBusy, StoreUnreadable, OSError):
        return None


def _allowlist(store: Any) -> Any:
    if store is None:
        return None
    from minewatch.store.intel_tables import load_allowlist

    return load_allowlist(store)


def apply_allowlist(findings: list[Finding], allow: Any) -> tuple[list[Finding], list[tuple[Finding, Any]]]:
    """Split findings into shown and suppressed; the rule that suppressed each one is kept for the summary."""
    if allow is None:
        return findings, []
    return allow.filter(findings)


def _record_for_csv(rec: dict[str, Any]) -> dict[str, Any]:
    from minewatch.export import csv_record  # text a spreadsheet would evaluate is quoted (OWASP)

    return csv_record(rec)


def emit(findings: list[Finding], fmt: Format, group: Group, out: Any = None, *, inputs: int | None = None,
         unread: int = 0) -> None:
    """Findings on stdout in `fmt`. `inputs` and `unread` (how many inputs a scan had, and how many of
    them could not be read at all) decide the table's verdict when nothing was found: "nothing found"
    only about inputs that were read (see `_verdict_when_empty`)."""
    out = out or sys.stdout
    if group is Group.host:
        records = [r.to_record() for r in rollup_by_host(findings)]
    else:
        records = [f.to_record() for f in findings]
    if fmt is Format.jsonl:
        for r in records:
            out.write(json.dumps(r, ensure_ascii=False, default=str) + "\n")
    elif fmt is Format.csv:
        if group is Group.host:
            keys = list(records[0]) if records else ["host", "kind"]
        else:
            keys = list(STABLE_KEYS) + [k for k in (records[0] if records else {}) if k not in STABLE_KEYS]
        w = csv.DictWriter(out, fieldnames=keys, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for r in records:
            w.writerow(_record_for_csv(r))
    else:
        _print_tables(findings, inputs=inputs, unread=unread)


def _verdict_when_empty(inputs: int | None, unread: int) -> str:
    """What the table says when there is no finding to show.

    Why not always "nothing found": a file that could not be read at all (not a capture, unreadable)
    was never looked at, and a reader of stdout alone (a report, a ticket) would take "no mining" for
    a clean result. When no input was read there is no verdict; when some were, it is said which.
    """
    if unread and inputs is not None and unread >= inputs:
        return tr(
            f"No input could be read ({unread} of {inputs}), so nothing was scanned: no verdict (errors on stderr).",
            f"没有任何输入能够读取（{inputs} 个中 {unread} 个无法读取），未进行扫描，无法给出结论（错误信息见标准错误输出）。",
        )
    if unread:
        read = (inputs or unread) - unread
        return tr(
            f"No mining and no blockchain node traffic found in the {read} input(s) that could be read; "
            f"{unread} could not be read (errors on stderr).",
            f"在可读取的 {read} 个输入中未发现挖矿或区块链节点流量；另有 {unread} 个无法读取（错误信息见标准错误输出）。",
        )
    return tr("No mining and no blockchain node traffic found.", "未发现挖矿或区块链节点流量。")


def _print_tables(findings: list[Finding], *, inputs: int | None = None, unread: int = 0) -> None:
    # Piped or captured output gets a wide page instead of rich's 80 columns, so tables stay readable.
    probe = Console()
    con = probe if probe.is_terminal else Console(width=170)
    lang = current()
    hosts = rollup_by_host(findings)
    if not findings:
        con.print(_verdict_when_empty(inputs, unread))
        return
    t = Table(title=tr("Hosts", "主机"), show_lines=False)
    for col in (
        tr("host", "主机"), tr("kind", "类型"), tr("sessions", "会话"), tr("pools", "矿池"),
        tr("coin", "币种"), tr("workers", "矿工名"), tr("wallets", "钱包"), tr("agent", "程序"),
        tr("hashrate", "算力"), tr("first seen (UTC)", "首次出现 (UTC)"), tr("score", "评分"),
    ):  # fmt: skip
        t.add_column(col, overflow="fold")
    for h in hosts:
        t.add_row(
            h.host,
            tr("mining", "挖矿") if h.kind == "mining" else tr("node", "节点"),
            str(h.sessions),
            ", ".join(sorted(h.pools)[:3]) + (" …" if len(h.pools) > 3 else ""),
            ", ".join(sorted(h.coins)) or "—",
            ", ".join(sorted(h.workers)[:3]) or "—",
            ", ".join(sorted(h.wallets)[:2]) or "—",
            ", ".join(sorted(h.agents)[:2]) or "—",
            host_rates_text(h),
            iso(h.first_seen) or "—",
            f"{h.max_score:.0f}",
        )
    con.print(t)
    s = Table(title=tr("Sessions (strongest first)", "会话（按评分排序）"))
    for col in (
        tr("miner", "矿机"), tr("pool", "矿池"), tr("variant", "协议"), tr("coin", "币种"),
        tr("worker", "矿工名"), tr("hashrate", "算力"), tr("score", "评分"), tr("evidence", "证据"),
    ):  # fmt: skip
        s.add_column(col, overflow="fold")
    shown = sorted(findings, key=lambda f: (f.kind != "mining", -f.score, f.first_seen or datetime.min.replace(tzinfo=UTC)))
    for f in shown[:40]:
        s.add_row(
            endpoint(f.src_ip, f.src_port),
            endpoint(f.pool_host or f.dst_ip, f.dst_port),
            (f.variant or "—") + (" 🔒" if f.encrypted else ""),
            f.coin or "—",
            f.worker or "—",
            format_rate(f.hashrate_hs, f.algorithm, f.coin),
            f"{f.score:.0f}",
            _first_words(headline(f).render(lang), 240) if f.evidence else "—",
        )
    con.print(s)
    if len(shown) > 40:
        con.print(
            tr(
                f"… {len(shown) - 40} more sessions; use --format jsonl or csv for all of them.",
                f"… 另有 {len(shown) - 40} 个会话；使用 --format jsonl 或 csv 查看全部。",
            )
        )


def host_rates_text(h: Any) -> str:
    """A host's hashrate per algorithm, each in its own unit ("equihash-200-9 480 Sol/s; ethash
    31.20 MH/s"): rates of different algorithms are never added (`findings.rollup_by_host`)."""
    if not h.hashrates:
        return "—"
    parts = []
    for a in h.hashrates:
        rate = format_rate(a.rate, a.algorithm)
        if a.algorithm:
            parts.append(f"{a.algorithm} {rate}")
        elif len(h.hashrates) > 1:
            parts.append(tr(f"unknown algorithm {rate}", f"未知算法 {rate}"))
        else:
            parts.append(rate)
    return "; ".join(parts) if current() != "zh" else "；".join(parts)


#: Evidence codes that say most about a session, best first (the login names worker and wallet).
_HEADLINE = (
    "net.msg.mining.authorize", "net.msg.login", "net.msg.eth_submitLogin", "net.msg.mining.hello",
    "net.msg.mining.subscribe", "net.node", "intel.pool_domain",
)  # fmt: skip


def headline(f: Finding) -> Any:
    """The one evidence item a table row shows: the most telling one, not merely the earliest."""
    for prefix in _HEADLINE:
        for ev in f.evidence:
            if ev.code.startswith(prefix):
                return ev
    return f.evidence[0]


def _first_words(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + " …"


_STAGE_ZH = {"compile (first run)": "编译（仅首次运行）", "read+dissect": "读取与解析", "findings": "生成结果",
             "logs:read": "读取日志", "logs:score": "日志评分"}

#: rejected lines named in the closing summary (the web job page and `--format jsonl` runs see the same)
MAX_REJECT_EXAMPLES = 5
#: share of packets with a snaplen-cut payload above which the summary warns that content was lost
SNAPLEN_WARN_SHARE = 0.01


def _warning(text: str) -> None:
    """One warning line on stderr (`警告：…` / `warning: …`): for input that was read, but not whole."""
    prefix = "警告：" if current() == "zh" else "warning: "
    err.print(f"[yellow]{prefix.strip()}[/yellow]{' ' if current() != 'zh' else ''}{escape(say(text))}")


def _print_summary(stats: Any, stored: int | None, suppressed: int, skipped: list[str],
                   fatal: Collection[str] | None = None) -> None:
    """The closing summary on stderr. Errors in `fatal` (inputs that could not be read at all, exit 4)
    are printed as `error:`; every other error of `stats` is damage met part-way through an input
    that was read up to it (a truncated capture, a log cut mid-line), printed as `warning:` because
    the scan used what came before it and the exit status is not 4 (README: exit status). Without
    `fatal` (callers that do not tell the two apart) every error stays an error."""
    d = stats.as_dict()
    mb = d["bytes"] / 1e6
    n_unread = d.get("files_unread", 0)
    unread_en = f" ({n_unread} could not be read)" if n_unread else ""
    unread_zh = f"（其中 {n_unread} 个无法读取）" if n_unread else ""
    err.print(
        tr(
            f"[bold]Summary[/bold]: {d['files']} file(s){unread_en}, {mb:.1f} MB, {d['packets']:,} packets, "
            f"{d['flows']:,} flows ({d['tcp_flows']:,} TCP, {d['udp_flows']:,} UDP), "
            f"{d['mining_sessions']:,} mining and {d['node_sessions']:,} node sessions, "
            f"{d['tls_flows']:,} TLS flows with a server name, {d['dns_answers']:,} DNS answers, "
            f"{d['ip_fragments']:,} IP fragments counted.",
            f"[bold]汇总[/bold]：{d['files']} 个文件{unread_zh}，{mb:.1f} MB，{d['packets']:,} 个数据包，"
            f"{d['flows']:,} 条流（TCP {d['tcp_flows']:,}，UDP {d['udp_flows']:,}），"
            f"挖矿会话 {d['mining_sessions']:,} 个，节点会话 {d['node_sessions']:,} 个，"
            f"带服务器名的 TLS 流 {d['tls_flows']:,} 条，DNS 应答 {d['dns_answers']:,} 个，IP 分片 {d['ip_fragments']:,} 个。",
        )
    )
    stages = ", ".join(f"{k} {v:.2f} s" for k, v in d["stage_seconds"].items())
    if stages:
        stages_zh = "，".join(f"{_STAGE_ZH.get(k, k)} {v:.2f} 秒" for k, v in d["stage_seconds"].items())
        err.print(tr(f"Time per stage: {stages}", f"各阶段耗时：{stages_zh}"))
    if d["rejected"]:
        parts = reasons_text(d["rejected"])
        err.print(tr(f"Rejected: {parts}", f"拒绝：{parts}"), markup=False, highlight=False)
        examples = stats.rejects.examples[:MAX_REJECT_EXAMPLES]
        if examples:
            err.print(tr("First rejected (file:line or byte):", "最先被拒绝的记录（文件:行号或字节）："))
            for ex in examples:
                err.print(f"  {example_text(ex, d['rejected'])}", markup=False, highlight=False)
    tunnels = d.get("tunnelled_packets") or {}
    if tunnels:
        # Said aloud because the flows listed are the inner ones: the switch-to-sensor tunnel itself
        # (ERSPAN, VXLAN ...) is not a flow of the report, and a user must know why it is missing.
        kinds = ", ".join(f"{k} {v:,}" for k, v in tunnels.items())
        total = sum(tunnels.values())
        err.print(tr(f"Tunnels: {total:,} packets were read from inside tunnels ({kinds}); flows are the inner ones.",
                     f"隧道：{total:,} 个数据包取自隧道内部（{kinds}）；所列的流为内层流。"))
    cut = d.get("payload_cut_by_snaplen", 0)
    if cut and cut >= SNAPLEN_WARN_SHARE * max(1, d["packets"]):
        # A capture taken with a small snaplen (tcpdump -s 96) keeps headers and drops the JSON a
        # dissector reads: "nothing found" then means "not looked at", and the user must know.
        err.print(
            tr(
                f"[yellow]{cut:,} packets had payload cut by the capture's snaplen; content detection may miss "
                "sessions.[/yellow]",
                f"[yellow]{cut:,} 个数据包的载荷被抓包的 snaplen 截断；基于内容的检测可能漏掉会话。[/yellow]",
            )
        )
    for e in d["errors"]:
        if fatal is None or str(e) in fatal:
            _error(str(e))
        else:
            _warning(str(e))
    if d["undecided_flows_dropped"]:
        err.print(
            tr(
                f"{d['undecided_flows_dropped']:,} flows exceeded the endpoint-rule memory cap and were not re-checked.",
                f"{d['undecided_flows_dropped']:,} 条流超出端点规则的内存上限，未被复查。",
            )
        )
    if suppressed:
        err.print(tr(f"{suppressed} finding(s) hidden by the allow-list.", f"{suppressed} 条结果被白名单隐藏。"))
    for s in skipped:
        err.print(s)
    if stored is not None:
        err.print(tr(f"{stored} new finding(s) stored.", f"新存入 {stored} 条结果。"))


def scan(
    paths: list[Path] = typer.Argument(..., exists=True, help=tr(
        "Captures (pcap, pcapng, gzip), Zeek logs (conn, dns, ssl; TSV or JSON), Suricata EVE files, DNS "
        "resolver query logs (BIND, dnsmasq, Unbound, Windows DNS debug), nfcapd files or directories (read with nfdump), a "
        "directory written by `minewatch collect`, or any other directory: the captures and logs in it, recursively.",
        "抓包文件（pcap、pcapng、gzip）、Zeek 日志（conn、dns、ssl；TSV 或 JSON）、Suricata EVE 文件、"
        "DNS 解析服务器查询日志（BIND、dnsmasq、Unbound、Windows DNS 调试日志）、nfcapd 文件或目录（用 nfdump 读取）、"
        "`minewatch collect` 输出的目录，或其他任意目录（递归扫描其中的抓包与日志文件）。")),
    fmt_out: Format = typer.Option(Format.table, "--format", help=tr("Output format.", "输出格式。")),
    group: Group = typer.Option(Group.session, "--group", help=tr(
        "jsonl/csv rows per session or per internal host.", "jsonl/csv 按会话或按内部主机输出。")),
    since: str = typer.Option(None, "--since", help=tr(
        "Only sessions still active after this time (ISO-8601 UTC, or 24h / 7d ago); a session that overlaps "
        "the window is reported whole.",
        "只报告在此时间之后仍在进行的会话（ISO-8601 UTC，或 24h / 7d 之前）；与时间窗重叠的会话整体报告。")),
    until: str = typer.Option(None, "--until", help=tr(
        "Only sessions that began before this time.", "只报告在此时间之前开始的会话。")),
    db: str = typer.Option(None, "--db", help=tr(
        "Store: a DuckDB file (default: in the user data directory) or a postgresql:// URL (env MINEWATCH_DB).",
        "存储：DuckDB 文件（默认在用户数据目录）或 postgresql:// 地址（环境变量 MINEWATCH_DB）。")),
    no_store: bool = typer.Option(False, "--no-store", help=tr("Do not write to the store.", "不写入存储。")),
    rescan: bool = typer.Option(False, "--rescan", help=tr(
        "Scan files already in the import ledger again.", "重新扫描已导入过的文件。")),
    intel_files: list[Path] = typer.Option([], "--intel", exists=True, help=tr(
        "Extra pool list for this run (hosts, domains, maltrail).", "本次附加的矿池列表（hosts、域名、maltrail 格式）。")),
    fail_on_detect: bool = typer.Option(False, "--fail-on-detect", help=tr(
        "Exit with status 3 when mining was found.", "发现挖矿时以状态码 3 退出。")),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=tr("No progress bar.", "不显示进度条。")),
    blocks_file: Path = typer.Option(None, "--blocks", exists=True, dir_okay=False, help=tr(
        "Block-time feed (CSV: coin,height,timestamp) to correlate server pushes with real blocks.",
        "区块时间数据（CSV：coin,height,timestamp），用于将服务器推送与真实出块对照。")),
    blocks_rpc: list[str] = typer.Option([], "--blocks-rpc", help=tr(
        "Block times from a local node for the inputs' time span: KIND[:COIN]=URL, e.g. "
        "bitcoind=http://user:pass@127.0.0.1:8332, bitcoind:LTC=http://127.0.0.1:9332, monerod=http://127.0.0.1:18081.",
        "从本地节点获取输入时间范围内的出块时间：KIND[:COIN]=URL，如 bitcoind=http://user:pass@127.0.0.1:8332、"
        "bitcoind:LTC=http://127.0.0.1:9332、monerod=http://127.0.0.1:18081。")),
    suspects: bool = typer.Option(False, "--suspects", help=tr(
        "Also report flow-log connections whose totals alone look like a pool session (slice verdicts are "
        "always reported), flow-log connections to a pool-list address or name with too little else behind "
        "them, and hosts whose lookups of pool names alone stay under the threshold.",
        "同时报告仅凭连接总量看似矿池会话的流日志连接（时间片判定总是报告）、通往矿池列表地址或域名但佐证不足的"
        "流日志连接，以及仅凭矿池域名解析记录未达阈值的主机。")),
    tz_offset: float = typer.Option(0.0, "--tz-offset", help=tr(
        "Hours the clock of DNS resolver logs (BIND, dnsmasq) is ahead of UTC: they write local time without "
        "a zone (8 for China).",
        "DNS 解析服务器日志（BIND、dnsmasq）时钟比 UTC 快几小时：这类日志写本地时间且不带时区（中国为 8）。")),
) -> None:
    """Scan packet captures and flow logs (Zeek, Suricata EVE, NetFlow/IPFIX/sFlow, nfcapd) for mining and node traffic.

    扫描抓包文件和流日志（Zeek、Suricata EVE、NetFlow/IPFIX/sFlow、nfcapd），找出挖矿会话和区块链节点流量。
    """
    from minewatch.errors import InputError
    from minewatch.net.logscan import FLOW_LOG_FORMATS, FlowLogScanner
    from minewatch.net.pipeline import CaptureScanner
    from minewatch.sources.zeek import sniff_format
    from minewatch.store.backend import open_store_for_cli

    if not (math.isfinite(tz_offset) and -14 <= tz_offset <= 14):
        _error(tr(f"--tz-offset must be between -14 and 14 hours, got {tz_offset}",
                  f"--tz-offset 须在 -14 到 14 小时之间，实际为 {tz_offset}"))
        raise typer.Exit(2)
    paths, dir_notes, dir_errors = expand_directories(paths)
    store = None if no_store else open_store_for_cli(db)
    shown: list[Finding] = []
    #: errors that made an input unread (printed as errors; the rest are damage part-way: warnings)
    fatal: list[str] = []
    try:
        # --no-store writes nothing, but the pool lists and allow rules imported into the store still apply
        lists_from = store if store is not None else _read_only_store(db)
        try:
            intel = _load_intel(lists_from, intel_files)
            allow_rules = _allowlist(lists_from)
        finally:
            if lists_from is not None and lists_from is not store:
                lists_from.close()
        t_since, t_until = parse_time(since), parse_time(until)
        blocks = None
        if blocks_file is not None:
            from minewatch.net.blocks import read_blocks_csv

            try:
                blocks = read_blocks_csv(blocks_file)
            except InputError as e:
                _error(e)
                raise typer.Exit(2) from None
        if blocks_rpc:
            window = _capture_window(paths, t_since, t_until)
            if window is not None:
                blocks = _with_rpc_blocks(blocks, blocks_rpc, *window)
        scanner = CaptureScanner(intel, since=t_since, until=t_until, blocks=blocks)
        # one count of pool lookups for every capture and log of the run, judged once at the end
        logs = FlowLogScanner(intel, since=t_since, until=t_until, include_suspects=suspects, tz_offset_h=tz_offset,
                              lookups=scanner.lookups, names=scanner.names)
        capture_shas: dict[str, str] = {}
        # each log's import, by the name its connections carry (`source`): a finding is filed under the
        # log its connection came from, not under whichever log was named first
        log_shas: dict[str, str] = {}
        # Grown logs (a live conn.log, eve.json) are read from where the last import stopped.
        from minewatch.sources.ledger import ImportLedger

        ledger = ImportLedger(_ledger_path(store)) if store is not None else None
        findings: list[Finding] = []
        skipped: list[str] = list(dir_notes)
        for e in dir_errors:  # a directory with nothing scan reads: an input that could not be read
            scanner.stats.errors.append(e)
            fatal.append(e)
            scanner.stats.files += 1
            scanner.stats.files_unread += 1
        stored = 0 if store is not None else None
        total = sum(_size(p) for p in paths)
        progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
            TimeRemainingColumn(), console=err, disable=quiet or not err.is_terminal, transient=True,
        )  # fmt: skip
        with progress:
            task = progress.add_task(tr("scanning", "扫描中"), total=total)
            done_before = 0
            for p in paths:
                size = _size(p)
                if p.is_file() and size == 0:  # e.g. a log rotated before anything was written to it
                    scanner.stats.files += 1
                    skipped.append(tr(f"{p}: empty file, nothing to read.", f"{p}：空文件，没有可读取的内容。"))
                    continue
                fmt = sniff_format(p) if p.is_file() or p.is_dir() else None
                sha_job = None
                if store is not None and fmt not in FLOW_LOG_FORMATS and p.is_file() and not store.imported_size(size):
                    # no import of this size: it cannot have been imported, so the capture is read while another
                    # core hashes it (the hash only files its findings; 0.9 s of a 1 GB capture's 13 s)
                    sha_job = _hasher().submit(_content_sha, p)
                    sha = None
                else:
                    sha = _content_sha(p) if store is not None else None
                if fmt in FLOW_LOG_FORMATS:
                    plan = ledger.plan(p) if ledger is not None and p.is_file() else None
                    action = "full" if plan is None or rescan else plan.action
                    start = plan.start_line if plan is not None and action == "resume" else 0
                    if action == "resume":
                        skipped.append(tr(f"{p}: grew since the last import; reading connections from line {start + 1}.",
                                          f"{p}：自上次导入后有新增内容，从第 {start + 1} 行读取连接记录。"))
                    elif action == "skip":
                        skipped.append(tr(f"{p}: already imported; its names are used, its connections not read again.",
                                          f"{p}：已导入过；仅使用其中的域名信息，不再重复读取连接记录。"))
                    complete = True
                    rows_before = _flow_rows(logs)
                    try:
                        logs.add_file(p, fmt, start_line=start, flows=action != "skip")
                    except InputError as e:
                        # what came before the damage was read; the file is not recorded as imported,
                        # so the next scan reads it again rather than skipping connections never seen
                        scanner.stats.errors.append(str(e))
                        complete = False
                        if fmt in ("netflow-parquet", "nfcapd") and _flow_rows(logs) == rows_before:
                            # not one record of a collector folder or file, or of an nfcapd file, could be read
                            # (every Parquet file damaged, nfdump refusing the file): an input that could not
                            # be read, not a clean "nothing found"
                            fatal.append(str(e))
                            scanner.stats.files_unread += 1
                    scanner.stats.files += 1  # logs and collector output count as inputs like captures
                    scanner.stats.bytes += size
                    if sha and complete:
                        log_shas[str(p)] = sha
                        store.record_import(sha, p, size, fmt, {})
                    if plan is not None and complete:
                        ledger.record(p, plan, fmt)
                    done_before += size
                    progress.update(task, completed=done_before)
                    continue
                if p.is_dir():  # expand_directories leaves only collector and nfcapd directories: defensive
                    msg = f"{p}: a directory without collector Parquet files or nfcapd files"
                    scanner.stats.errors.append(msg)
                    fatal.append(msg)
                    scanner.stats.files += 1
                    scanner.stats.files_unread += 1
                    done_before += size
                    continue
                prior = store.already_imported(sha) if store is not None and sha else None
                if prior and not rescan:
                    # stored sessions, with the same window a fresh scan applies: overlapping sessions only
                    stored_here = [f for f in store.findings_of_import(sha) if _overlaps(f, t_since, t_until)]
                    findings.extend(stored_here)
                    scanner.stats.files += 1
                    scanner.stats.mining_sessions += sum(1 for f in stored_here if f.kind == "mining")
                    scanner.stats.node_sessions += sum(1 for f in stored_here if f.kind == "node")
                    skipped.append(
                        tr(
                            f"{p}: already imported on {prior['imported_at']:%Y-%m-%d %H:%M} UTC; showing stored "
                            "findings (use --rescan to scan again).",
                            f"{p}：已于 {prior['imported_at']:%Y-%m-%d %H:%M} UTC 导入，显示已存结果（--rescan 可重新扫描）。",
                        )
                    )
                    done_before += size
                    progress.update(task, completed=done_before)
                    continue
                base = done_before
                try:
                    got = scanner.scan_file(p, progress=lambda n, base=base: progress.update(task, completed=base + n))
                except InputError as e:
                    scanner.stats.errors.append(str(e))
                    fatal.append(str(e))
                    scanner.stats.files += 1
                    scanner.stats.files_unread += 1
                    got = []
                    if looks_like_meter_table(p):
                        skipped.append(tr(f"{p}: looks like a meter table; meter data goes to `minewatch power scan`.",
                                          f"{p}：看起来是电表数据表；电表数据请用 `minewatch power scan` 扫描。"))
                    elif (hint := unread_hint(p)) is not None:
                        skipped.append(tr(f"{p}: {hint[0]}", f"{p}：{hint[1]}"))
                findings.extend(got)
                if sha_job is not None:
                    sha = sha_job.result()
                if sha:
                    capture_shas[str(p)] = sha
                exported = scanner.exports.take() if scanner.exports is not None else None
                if exported is not None and exported.num_rows:
                    # flow export datagrams the capture held: read as collector output, named by the capture
                    logs.add_netflow_table(exported, str(p))
                    if sha:
                        log_shas[str(p)] = sha
                done_before += size
                if store is not None and sha:
                    stored = (stored or 0) + store.add_findings(got, import_sha256=sha)
                    store.record_import(sha, p, size, "capture", {"findings": len(got)})
        # names read from logs count whether or not any connection records came with them
        scanner.stats.dns_answers += logs.counts["dns_answers"]
        scanner.stats.tls_flows += logs.counts["tls_records"]
        if logs.has_input:
            if blocks_rpc:
                window = _log_window(logs.flow_tables, t_since, t_until)
                if window is not None:
                    blocks = _with_rpc_blocks(blocks, blocks_rpc, *window)
            got = logs.findings(blocks=blocks)
            # a connection both a capture and a log (or the capture's own flow exports) saw is one finding
            got, refreshed = fold_same_connections(findings, got)
            findings.extend(got)
            if store is not None and refreshed:
                by_capture: dict[str | None, list[Finding]] = {}
                for f in refreshed:
                    by_capture.setdefault(capture_shas.get(f.source or ""), []).append(f)
                for sha_c, group_c in by_capture.items():
                    store.add_findings(group_c, import_sha256=sha_c)
            scanner.stats.mining_sessions += sum(1 for f in got if f.kind == "mining")
            scanner.stats.flows += logs.counts["flows"]
            scanner.stats.tcp_flows += logs.counts["tcp_flows"]
            scanner.stats.udp_flows += logs.counts["udp_flows"]
            scanner.stats.rejects.merge(logs.rejects)
            for k, v in logs.stage_s.items():
                scanner.stats.add_time(f"logs:{k}", v)
            if store is not None:
                first = next(iter(log_shas.values()), None)
                by_import: dict[str | None, list[Finding]] = {}
                for f in got:
                    by_import.setdefault(log_shas.get(f.source or "", first), []).append(f)
                for imp, group in by_import.items():
                    stored = (stored or 0) + store.add_findings(group, import_sha256=imp)
        elif logs.rejects.total:
            scanner.stats.rejects.merge(logs.rejects)
        # hosts that looked up pool names that no finding of any capture or log explains
        dns_found = scanner.judge_lookups(findings)
        if suspects:
            dns_found += scanner.lookup_suspects
            scanner.stats.mining_sessions += len(scanner.lookup_suspects)
            scanner.lookup_suspects = []
        findings.extend(dns_found)
        if store is not None and dns_found:
            shas = {**capture_shas, **log_shas}
            by_sha: dict[str | None, list[Finding]] = {}
            for f in dns_found:
                by_sha.setdefault(shas.get(f.source or ""), []).append(f)
            for sha_, group_ in by_sha.items():
                stored = (stored or 0) + store.add_findings(group_, import_sha256=sha_)
        if store is not None and stored:
            # New findings join the sites whose ranges they fall in, and those sites' open cases.
            from minewatch.store.backend import as_db
            from minewatch.store.cases import attach_new

            attach_new(as_db(store))
        allow = allow_rules
        shown, hidden = apply_allowlist(findings, allow)
        emit(shown, fmt_out, group, inputs=scanner.stats.files, unread=scanner.stats.files_unread)
        if logs.counts.get("one_direction_only"):
            n1 = logs.counts["one_direction_only"]
            skipped.append(tr(
                f"{n1} long-lived connection(s) in the NetFlow records were seen in one direction only (asymmetric "
                "routing or a one-way tap); their other half is unknown, so their timing was not judged.",
                f"NetFlow 记录中有 {n1} 条长连接只见到单向流量（非对称路由或单向镜像），另一半未知，未判断其时序。"))
        if logs.counts.get("sampled_records"):
            ns = logs.counts["sampled_records"]
            skipped.append(tr(
                f"{ns} NetFlow record(s) come from sampled exports (one packet in N counted, or sFlow packet samples): "
                "they were judged by pool names, addresses, ports and sampled content, not by timing.",
                f"有 {ns} 条 NetFlow 记录来自抽样导出（每 N 个包计 1 个，或 sFlow 抽样报文）：只按矿池域名、地址、端口和抽样内容判断，"
                "未判断其时序。"))
        ex = scanner.exports
        if ex is not None and ex.datagrams:
            skipped.append(tr(
                f"{ex.datagrams:,} flow export datagram(s) (NetFlow, IPFIX, sFlow) inside the captures gave {ex.records:,} "
                "record(s), read as collector output.",
                f"抓包中有 {ex.datagrams:,} 个流导出数据报（NetFlow、IPFIX、sFlow），得到 {ex.records:,} 条记录，按采集器输出读取。"))
            scanner.stats.rejects.merge(ex.rejects)
        if logs.counts.get("dns_queries"):
            nq = logs.counts["dns_queries"]
            skipped.append(tr(f"{nq:,} DNS queries read from resolver logs.", f"从解析服务器日志读取 DNS 查询 {nq:,} 条。"))
        from minewatch.net.lookups import MAX_PAIRS

        lookup_suspects = scanner.lookup_suspects
        if scanner.lookups.dropped:
            nd = scanner.lookups.dropped
            skipped.append(tr(
                f"{nd:,} lookups of pool names were not kept: more than {MAX_PAIRS:,} (client, pool) pairs; the "
                "hosts behind them are not judged.",
                f"有 {nd:,} 次矿池域名解析未保留：超过 {MAX_PAIRS:,} 个（主机，矿池）组合；其主机未被判断。"))
        if lookup_suspects and not suspects:
            nl = len({f.src_ip for f in lookup_suspects})
            skipped.append(tr(
                f"{nl} host(s) looked up pool names but stayed under the threshold (too few lookups over too short a "
                "time, only a pool's web site, or a name from an imported list); they are not reported (use "
                "--suspects to list them).",
                f"有 {nl} 台主机解析过矿池域名但未达阈值（次数太少或时间太短、只访问了矿池网站，或仅为导入列表中的域名），"
                "未作报告（使用 --suspects 列出）。"))
        if logs.counts.get("dns_alerts"):
            na = logs.counts["dns_alerts"]
            skipped.append(tr(
                f"{na:,} mining IDS alert(s) were on DNS lookups with no connection record: they name the host "
                "that asked and its resolver, not a pool, so they are not findings of their own.",
                f"有 {na:,} 条挖矿入侵检测告警针对 DNS 查询且无对应连接记录：它们指向发起查询的主机及其解析服务器，"
                "而非矿池，因此不单独生成结果。"))
        if logs.pool_suspects:
            n = len(logs.pool_suspects)
            skipped.append(tr(
                f"{n} connection(s) in the flow logs went to a name or address on a pool list with too little "
                "behind it to report (an imported list's address alone); use --suspects to list them, "
                "`minewatch probe` to check.",
                f"流日志中有 {n} 条连接通往矿池列表中的域名或地址，但佐证不足、未作报告（如仅命中导入列表中的地址）；"
                "使用 --suspects 列出，使用 `minewatch probe` 核实。"))
        if logs.suspects:
            n = len(logs.suspects)
            skipped.append(tr(
                f"{n} long-lived connection(s) in the flow logs have pool-like totals but no pool name or "
                "IDS alert behind them; they are not reported (use --suspects to list them, `minewatch probe` to check).",
                f"流日志中有 {n} 条长连接的总量类似矿池会话，但没有矿池域名或入侵检测告警佐证，未作报告"
                "（使用 --suspects 列出，使用 `minewatch probe` 核实）。"))
        _print_summary(scanner.stats, stored, len(hidden), skipped, fatal=fatal)
    finally:
        if store is not None:
            store.close()
    if fail_on_detect and any(f.kind == "mining" for f in shown):
        raise typer.Exit(3)
    if scanner.stats.files_unread:
        # a pipeline must not mistake "could not read it" for "nothing found" (README: exit codes)
        raise typer.Exit(EXIT_UNREAD)


#: first bytes of pcap (µs and ns, both byte orders) and pcapng files
_CAPTURE_MAGIC = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x0a\x0d\x0d\x0a")
#: how many skipped file names a directory's note shows
SKIPPED_EXAMPLES = 5


def _is_capture(path: Path) -> bool:
    """A pcap/pcapng file, gzip-compressed or not, by its first bytes (names are not trusted)."""
    from minewatch.sources.zeek import read_head

    try:
        head, _broken = read_head(path, 4)
    except OSError:
        return False
    return head in _CAPTURE_MAGIC


#: header words of meter tables: a meter or customer id, an energy or load value, a time (English and Chinese)
_METER_WORDS = ("meter", "电表", "表号", "户号", "用户编号", "customer")
_ENERGY_WORDS = ("kwh", "kw", "energy", "load", "reading", "电量", "负荷", "读数", "功率", "示数")
_TIME_WORDS = ("time", "date", "timestamp", "时间", "日期", "00:15", "p1")


#: first bytes of compressions minewatch does not open (it reads gzip), with the command that opens them
_OTHER_COMPRESSION = ((b"BZh", "bzip2", "bunzip2 -k"), (b"\xfd7zXZ\x00", "xz", "unxz -k"),
                      (b"(\xb5/\xfd", "zstd", "unzstd"), (b"PK\x03\x04", "zip", "unzip"),
                      (b"7z\xbc\xaf\x27\x1c", "7z", "7z x"), (b"\x04\x22\x4d\x18", "lz4", "unlz4"))


def unread_hint(path: Path) -> tuple[str, str] | None:
    """(English, Chinese) words on why a file that is neither a capture nor a log was not read, or None.

    Why: "not a pcap/pcapng capture (magic 0x425a6839)" is all a user saw for a bzip2 log, and for a Zeek
    log whose gzip was cut inside its header (fuzz campaign, session 9); the reader's error stays (it names
    the byte), this says what the file is and what to do. Only a hint: nothing is decided from it.
    """
    from minewatch.sources.zeek import read_head

    try:
        with open(path, "rb") as f:
            magic_bytes = f.read(8)
        for magic, kind, cmd in _OTHER_COMPRESSION:
            if magic_bytes.startswith(magic):
                return (f"{kind}-compressed; minewatch reads plain and gzip files: decompress it first (`{cmd}`).",
                        f"为 {kind} 压缩文件；minewatch 只读取未压缩和 gzip 文件，请先解压（`{cmd}`）。")
        raw, cut = read_head(path)
    except OSError:
        return None
    text = raw.decode("utf-8", errors="replace").lstrip("\ufeff")
    if not text or sum(c == "\ufffd" or (c < " " and c not in "\t\r\n") for c in text) > len(text) // 20:
        return None  # binary: the reader's error says it all
    what, what_zh = (("a Zeek log header", "Zeek 日志头") if text.startswith("#") else
                     ("JSON lines", "JSON 行") if text.lstrip().startswith("{") else ("text", "文本"))
    if cut:
        return (f"{what} whose gzip stream ends after {len(raw)} bytes: the file was cut short.",
                f"内容为{what_zh}，但 gzip 数据在 {len(raw)} 字节后中断：文件不完整。")
    return (f"{what}, but not a log minewatch recognises (Zeek TSV/JSON conn/dns/ssl/x509, Suricata EVE, "
            "resolver logs); see README.",
            f"为{what_zh}，但不是 minewatch 可识别的日志（Zeek TSV/JSON conn/dns/ssl/x509、Suricata EVE、"
            "解析服务器日志）；见 README。")


def looks_like_meter_table(path: Path) -> bool:
    """Whether a file that is not a capture or log looks like meter data: a CSV whose header names a
    meter (or customer) or an energy value, and a time.

    Why: meter exports are CSV files beside the captures on an inspector's disk, and "not a pcap/pcapng
    capture (magic 0x63757374)" alone does not tell them that `minewatch power scan` reads them.
    Only a hint: nothing is decided from it.
    """
    from minewatch.sources.zeek import read_head

    try:
        raw, _broken = read_head(path)
    except OSError:
        return False
    for enc in ("utf-8-sig", "gbk"):
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:
        return False
    header = text.splitlines()[0].lower() if text.strip() else ""
    if not any(sep in header for sep in (",", ";", "\t")):
        return False
    has = [any(w in header for w in words) for words in (_METER_WORDS, _ENERGY_WORDS, _TIME_WORDS)]
    return (has[0] or has[1]) and has[2]


def expand_directories(paths: list[Path]) -> tuple[list[Path], list[str], list[str]]:
    """Directories given to `scan` that are not collector output, replaced by the files in them.

    Why: `scan DIR` is what a user types for a folder of captures, and it answered "give capture or
    log files by name". A collector Parquet directory or an nfcapd/nfsen tree stays one input (read
    as before) when that is all it holds: a folder with a capture or log beside its Parquet or nfcapd
    files is walked like any other (`zeek.holds_other_inputs`), its flow files read one by one. Any
    other directory is walked recursively in sorted order (the same order every run), and each file is taken by content, as a file named on the command line is: captures (pcap,
    pcapng, gzip), Zeek, Suricata EVE, resolver logs, collector Parquet and nfcapd files; collector
    and nfcapd folders inside it stay one input each. A file whose name says capture (.pcap, .pcapng,
    .cap, gzip or not) or a damaged gzip file (a ".log.gz" too) is an input even when it cannot be read:
    the scan names it as unread (exit status 4), as when it is named alone. A readable text file that is
    no log by its content is skipped whatever its name (a manifest.json, a notes.log, Suricata's fast.log). Each file is scanned
    once, however often it was named (`scan D D/sub`). Hidden files and folders (".name") and files
    that are none of these are skipped and counted in a note. A directory with nothing to scan is
    an input that could not be read (an error, exit status 4), as a lone unreadable file is.

    Returns the inputs, the notes for the summary and the errors of directories with nothing to scan.
    """
    import os

    from minewatch.net.logscan import FLOW_LOG_FORMATS
    from minewatch.sources.zeek import damaged_gzip, named_as_input, sniff_format

    out: list[Path] = []
    notes: list[str] = []
    errors: list[str] = []
    for top in paths:
        if not top.is_dir() or sniff_format(top) in FLOW_LOG_FORMATS:
            out.append(top)
            continue
        found: list[Path] = []
        hidden: list[str] = []
        other: list[str] = []
        meters: list[str] = []
        for root, dirs, files in os.walk(top):
            here = Path(root)
            keep = []
            for d in sorted(dirs):
                sub = here / d
                if d.startswith(".") or (d == "_stats" and _collector_stats(sub)):
                    hidden.append(str(sub.relative_to(top)) + "/")
                elif sniff_format(sub) in FLOW_LOG_FORMATS:  # collector or nfcapd folder: one input
                    found.append(sub)
                else:
                    keep.append(d)
            dirs[:] = keep  # os.walk descends into these, in this (sorted) order
            for name in sorted(files):
                f = here / name
                rel = str(f.relative_to(top))
                if name.startswith("."):
                    hidden.append(rel)
                elif not f.is_file() or name.startswith("nfcapd.current"):  # nfcapd.current: still written
                    other.append(rel)
                elif (f.stat().st_size == 0 or _is_capture(f) or sniff_format(f) in FLOW_LOG_FORMATS
                      or named_as_input(f) or damaged_gzip(f)):
                    # an empty file is said as such by the scan; a file named as a capture, or a damaged
                    # gzip, that cannot be read is an input that could not be read (an error, exit status 4),
                    # as when named alone; a readable ".log"/".json" that is no log is skipped below
                    found.append(f)
                else:
                    other.append(rel)
                    if looks_like_meter_table(f):
                        meters.append(rel)
        found.sort(key=lambda q: str(q.relative_to(top)))
        out.extend(found)
        n_skip = len(hidden) + len(other)
        ex = ", ".join((other + hidden)[:SKIPPED_EXAMPLES]) + (" …" if n_skip > SKIPPED_EXAMPLES else "")
        skip_en = (f"skipped {n_skip}: {len(hidden)} hidden, {len(other)} not a capture or log ({ex})"
                   if n_skip else "nothing skipped")
        skip_zh = (f"跳过 {n_skip} 个：隐藏 {len(hidden)} 个，非抓包或日志 {len(other)} 个（{ex}）" if n_skip else "无跳过")
        if meters:
            skip_en += f"; {len(meters)} look like meter data: meter data goes to `minewatch power scan`"
            skip_zh += f"；其中 {len(meters)} 个看起来是电表数据：电表数据请用 `minewatch power scan` 扫描"
        if found:
            notes.append(tr(f"{top}: directory: {len(found)} capture or log input(s) scanned in name order; {skip_en}.",
                            f"{top}：目录：按名称顺序扫描 {len(found)} 个抓包或日志输入；{skip_zh}。"))
        else:
            errors.append(tr(f"{top}: a directory with no capture or log file in it (and no collector Parquet or nfcapd "
                             f"files); {skip_en}",
                             f"{top}：该目录中没有抓包或日志文件（也没有采集器 Parquet 或 nfcapd 文件）；{skip_zh}"))
    return first_of_each(out), notes, errors


def _flow_rows(logs: Any) -> int:
    """Connection records a `FlowLogScanner` holds so far (timed and sampled)."""
    return sum(t.num_rows for t in (*logs.flow_tables, *logs.untimed_tables))


def first_of_each(paths: list[Path]) -> list[Path]:
    """The inputs with each file or folder once (by resolved path), the first mention kept: `scan D D/sub`
    read D/sub's files twice, and their sessions were counted twice (`power scan D D/file` too)."""
    seen: set[Path] = set()
    out: list[Path] = []
    for p in paths:
        try:
            key = p.resolve()
        except (OSError, RuntimeError):
            key = p
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def _collector_stats(d: Path) -> bool:
    """The `_stats` folder `minewatch collect` writes beside its hour folders (collector-*.json run totals)."""
    return all(q.name.startswith("collector-") and q.suffix == ".json" for q in d.iterdir() if q.is_file())


def _overlaps(f: Finding, since: datetime | None, until: datetime | None) -> bool:
    """Whether a stored session overlaps the window, the rule a fresh scan keeps sessions by (unknown
    times pass: nothing says the session lies outside)."""
    first, last = f.first_seen or f.onset, f.last_seen or f.first_seen or f.onset
    if since is not None and last is not None and last < since:
        return False
    return not (until is not None and first is not None and first > until)


#: exit status when at least one input could not be read at all (unrecognised or unreadable; an empty file is
#: "nothing to read", not 4); 3 (mining found, --fail-on-detect) takes precedence
EXIT_UNREAD = 4

#: how far past a capture's first packet the node is asked for blocks (captures rarely span more)
RPC_SPAN_S = 31 * 86400.0


def _capture_window(paths: list[Path], since: datetime | None, until: datetime | None) -> tuple[float, float] | None:
    """The time span to ask a node for: from the earliest first packet of the captures (read from
    each file's first batch, not the whole file) to `until`, or `RPC_SPAN_S` later, or now."""
    import math
    import time

    import numpy as np

    from minewatch.errors import InputError
    from minewatch.sources.pcap import open_capture
    from minewatch.sources.zeek import sniff_format

    firsts: list[float] = []
    for p in paths:
        if not p.is_file() or sniff_format(p) not in ("pcap", "pcapng"):
            continue
        try:
            with open_capture(p) as r:
                for batch in r:
                    ok = batch.ts[~np.isnan(batch.ts)] if len(batch) else batch.ts
                    if ok.size:
                        firsts.append(float(ok[0]))
                        break
        except (InputError, OSError):  # a broken capture is reported by the scan itself
            continue
    start = since.timestamp() if since is not None else (min(firsts) if firsts else None)
    if start is None or not math.isfinite(start):
        return None
    end = until.timestamp() if until is not None else min(time.time(), start + RPC_SPAN_S)
    return start, max(start, end)


def _log_window(tables: list[Any], since: datetime | None, until: datetime | None) -> tuple[float, float] | None:
    """The time span of the connection records read from flow logs (their first and last times)."""
    import pyarrow.compute as pc

    lo: list[float] = []
    hi: list[float] = []
    for t in tables:
        for col, acc, fn in (("first_seen", lo, pc.min), ("last_seen", hi, pc.max)):
            if col in t.column_names:
                v = fn(t[col]).as_py()
                if v is not None:
                    acc.append(v.timestamp())
    if not lo:
        return None
    start = since.timestamp() if since is not None else min(lo)
    end = until.timestamp() if until is not None else max(hi or lo)
    return start, max(start, end)


def _with_rpc_blocks(blocks: Any, specs: list[str], t0: float, t1: float) -> Any:
    """The CSV feed (if any) plus block times from local nodes for [t0, t1]."""
    from minewatch.errors import InputError
    from minewatch.net.blocks import merge_feeds, rpc_feed

    try:
        got = rpc_feed(specs, t0, t1)
    except InputError as e:  # asked for explicitly: a scan without it would quietly lose evidence
        _error(e)
        raise typer.Exit(2) from None
    n = ", ".join(f"{c} {v.size}" for c, v in sorted(got.items()))
    err.print(tr(f"Block times from local node(s): {n} block(s) between {datetime.fromtimestamp(t0, UTC):%Y-%m-%d %H:%M} "
                 f"and {datetime.fromtimestamp(t1, UTC):%Y-%m-%d %H:%M} UTC.",
                 f"已从本地节点获取出块时间：{n} 个区块，时间范围 {datetime.fromtimestamp(t0, UTC):%Y-%m-%d %H:%M} 至 "
                 f"{datetime.fromtimestamp(t1, UTC):%Y-%m-%d %H:%M} UTC。"))  # fmt: skip
    return merge_feeds(blocks, got)


def _ledger_path(store: Any) -> Path:
    """Where the read positions of growing flow logs are kept: beside a DuckDB file; for a server
    store, in this machine's data directory (the positions are of files on this machine), one ledger
    per server."""
    if getattr(store, "path", None):
        return Path(store.path).with_suffix(".flow-imports.json")
    import hashlib

    from minewatch.paths import data_dir

    tag = hashlib.sha256(str(getattr(store, "url", "")).encode()).hexdigest()[:12]
    return data_dir() / f"flow-imports-{tag}.json"


def _size(p: Path) -> int:
    if p.is_dir():
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return p.stat().st_size


def _content_sha(p: Path) -> str:
    """File content hash; for a collector directory, a hash over its files' hashes and names."""
    import hashlib

    from minewatch.store import file_sha256

    if not p.is_dir():
        return file_sha256(p)
    h = hashlib.sha256()
    for f in sorted(x for x in p.rglob("*") if x.is_file()):
        h.update(str(f.relative_to(p)).encode() + b"\0" + file_sha256(f).encode())
    return h.hexdigest()


def findings(
    fmt: Format = typer.Option(Format.table, "--format", help=tr("Output format.", "输出格式。")),
    group: Group = typer.Option(Group.session, "--group", help=tr("Rows per session or per host.", "按会话或按主机输出。")),
    kind: str = typer.Option(None, "--kind", help=tr("mining or node.", "mining 或 node。")),
    since: str = typer.Option(None, "--since", help=tr(
        "Only findings whose session was still active after this time (ISO-8601 UTC, or 24h / 7d ago): the time "
        "of the traffic, not of the scan that stored it (see --stored-since).",
        "只看会话在此时间之后仍在进行的结果（ISO-8601 UTC，或 24h / 7d 之前）：按流量发生的时间，而非存入时间"
        "（见 --stored-since）。")),
    until: str = typer.Option(None, "--until", help=tr(
        "Only findings whose session began before this time (time of the traffic).",
        "只看会话在此时间之前开始的结果（按流量发生的时间）。")),
    stored_since: str = typer.Option(None, "--stored-since", help=tr(
        "Only findings stored (first imported) after this time, e.g. 7d: what the dashboard counts as new.",
        "只看在此时间之后存入（首次导入）的结果，如 7d：即网页控制台计为新增的结果。")),
    stored_until: str = typer.Option(None, "--stored-until", help=tr(
        "Only findings stored before this time.", "只看在此时间之前存入的结果。")),
    min_score: float = typer.Option(None, "--min-score", help=tr("Lowest score shown.", "最低显示评分。")),
    db: str = typer.Option(None, "--db", help=tr(
        "Store: a DuckDB file or a postgresql:// URL (env MINEWATCH_DB).",
        "存储：DuckDB 文件或 postgresql:// 地址（环境变量 MINEWATCH_DB）。")),
) -> None:
    """List stored findings, with the current allow-list applied.

    列出已存储的结果（应用当前白名单）。
    """
    from minewatch.errors import MinewatchError
    from minewatch.store.backend import open_store

    if kind is not None and kind not in ("mining", "node"):
        _error(f"--kind must be mining or node, not {kind!r}")
        raise typer.Exit(2)
    try:
        # only reads: a mistyped --db must not create an empty store and report "nothing found"
        with open_store(db, must_exist=True) as store:
            t_since = parse_time(since)
            rows = store.findings(kind=kind, since=t_since, until=parse_time(until), min_score=min_score)
            s_since, s_until = parse_time(stored_since), parse_time(stored_until)
            if s_since is not None or s_until is not None:
                ids = _stored_between(store, s_since, s_until)
                rows = [f for f in rows if f.finding_id in ids]
            elif t_since is not None and not rows:
                newer = len(_stored_between(store, t_since, None))
                if newer:
                    # the usual surprise: a capture of last year scanned today is "new" on the dashboard
                    err.print(tr(
                        f"{newer} finding(s) were stored since then, but their traffic is older: --since is the time "
                        f"of the traffic; use --stored-since {since} for what was stored since.",
                        f"自该时间以来存入了 {newer} 条结果，但其流量更早：--since 按流量发生的时间筛选；"
                        f"查看此后存入的结果请用 --stored-since {since}。"))
            shown, hidden = apply_allowlist(rows, _allowlist(store))
    except MinewatchError as e:
        _error(e)
        raise typer.Exit(2) from None
    emit(shown, fmt, group)
    if hidden:
        err.print(tr(f"{len(hidden)} finding(s) hidden by the allow-list.", f"{len(hidden)} 条结果被白名单隐藏。"))


def _stored_between(store: Any, since: datetime | None, until: datetime | None) -> set[str]:
    """Ids of the findings first stored in [since, until] (`stored_at`, kept on later upserts).

    Why two clocks: `--since`/`--until` ask about the traffic (when the session ran); the dashboard's
    "new" count asks when a finding reached the store. A capture of last month scanned today is new
    to the store and old as traffic; each option says which clock it reads.
    """
    from minewatch.store.backend import as_db

    where, params = [], []
    if since is not None:
        where.append("stored_at >= ?")
        params.append(since)
    if until is not None:
        where.append("stored_at <= ?")
        params.append(until)
    sql = "SELECT finding_id FROM findings" + (" WHERE " + " AND ".join(where) if where else "")
    return {r[0] for r in as_db(store).execute(sql, params)}


def demo(
    out: Path = typer.Option(None, "--out", help=tr(
        "Where to write the generated demo capture.", "生成的演示抓包文件的保存位置。")),
    fmt: Format = typer.Option(Format.table, "--format", help=tr("Output format.", "输出格式。")),
) -> None:
    """Generate a small capture with miners of several dialects hidden in ordinary traffic, and scan it.

    生成一个把多种协议的矿机藏在普通流量中的小型抓包文件，并对其进行扫描。
    """
    from minewatch.net.pipeline import CaptureScanner
    from minewatch.synth.scenario import write_demo_capture

    tmp = None
    if out is None:
        tmp = tempfile.TemporaryDirectory(prefix="minewatch-demo-")
        out = Path(tmp.name) / "demo.pcapng"
    path = write_demo_capture(out)
    err.print(tr(f"Demo capture written to {path}", f"演示抓包已写入 {path}"))
    scanner = CaptureScanner(_load_intel(None, []))
    found = scanner.scan_file(path)
    emit(found, fmt, Group.session)
    _print_summary(scanner.stats, None, 0, [])
    if tmp is not None:
        tmp.cleanup()


__all__ = ["demo", "emit", "findings", "parse_time", "scan"]
