"""`minewatch export KIND`: write enforcement and sharing formats from the stored findings."""

from __future__ import annotations

import contextlib
import sys
from enum import StrEnum
from pathlib import Path

import typer

from minewatch.export import DEFAULT_MIN_SCORE
from minewatch.i18n import current, error_line, tr


class Ports(StrEnum):
    """`--ports` of the firewall exports (`minewatch.export.PORT_MODES`)."""

    all = "all"
    observed = "observed"


def _fail(message: str) -> None:
    """One line on stderr and exit status 2, instead of a traceback (as `scan` does for bad input)."""
    typer.echo(error_line(message), err=True)
    raise typer.Exit(2)


def _skipped_warning(skipped: dict[str, set[str]]) -> str | None:
    from minewatch.export import SKIP_INVALID, SKIP_TOO_LONG

    bad, long_ = sorted(skipped.get(SKIP_INVALID, ())), sorted(skipped.get(SKIP_TOO_LONG, ()))
    if not bad and not long_:
        return None
    parts_en, parts_zh = [], []
    if bad:
        ex = ", ".join(repr(x) for x in bad[:3])
        parts_en.append(f"{len(bad)} not a valid DNS name (e.g. {ex})")
        parts_zh.append(f"{len(bad)} 个不是有效的 DNS 名称（例如 {ex}）")
    if long_:
        ex = ", ".join(repr(x[:40] + "…") for x in long_[:3])
        parts_en.append(f"{len(long_)} too long for an RPZ owner name (e.g. {ex})")
        parts_zh.append(f"{len(long_)} 个超出 RPZ 记录名长度上限（例如 {ex}）")
    n = len(bad) + len(long_)
    return tr(f"warning: {n} pool name(s) left out of the export: {'; '.join(parts_en)}",
              f"警告：{n} 个矿池域名未导出：{'；'.join(parts_zh)}")


def export(
    kind: str = typer.Argument(..., metavar="KIND", help=tr(
        "nft, ipset, rpz, suricata, suricata-dataset, sigma, stix, ecs, csv or jsonl.",
        "nft、ipset、rpz、suricata、suricata-dataset、sigma、stix、ecs、csv 或 jsonl。")),
    out: Path = typer.Option(None, "--out", "-o", help=tr("Output file (default: stdout).", "输出文件（默认标准输出）。")),
    db: str = typer.Option(None, "--db", help=tr(
        "Store: a DuckDB file or a postgresql:// URL (env MINEWATCH_DB); it must exist.",
        "存储：DuckDB 文件或 postgresql:// 地址（环境变量 MINEWATCH_DB）；必须已存在。")),
    min_score: float = typer.Option(DEFAULT_MIN_SCORE, "--min-score", help=tr(
        "Lowest score turned into a blocking indicator.", "转为封堵指标的最低评分。")),
    since: str = typer.Option(None, "--since", help=tr("Only findings after this time.", "只导出此时间之后的结果。")),
    include_timing_only: bool = typer.Option(False, "--include-timing-only", help=tr(
        "Blocking formats (nft, ipset, rpz, suricata): also use findings from timing alone (no payload, "
        "pool-list or IDS evidence); off by default: timing says 'shaped like a pool session', which a benign "
        "flow can be.",
        "封堵格式（nft、ipset、rpz、suricata）：同时使用仅凭时序（无载荷、矿池列表或入侵检测证据）的结果；默认关闭：时序只说明"
        "“形似矿池会话”，良性流量也可能如此。")),
    quarantine_hosts: bool = typer.Option(False, "--quarantine-hosts", help=tr(
        "nft and ipset: also cut all routed traffic of the internal hosts of strong mining findings "
        "(off by default: only pools are blocked).",
        "nft 和 ipset：同时切断强挖矿结果中内部主机的全部转发流量（默认关闭：只封堵矿池）。")),
    ports: Ports = typer.Option(Ports.all, "--ports", help=tr(
        "nft and ipset: all blocks every port of a pool address (a pool listens on several and miners fall back "
        "from one to the next); observed blocks only the address, protocol and port seen in findings, for pools "
        "on shared addresses such as a web host.",
        "nft 和 ipset：all 封堵矿池地址的全部端口（矿池通常监听多个端口，矿机会轮换尝试）；observed 只封堵检测结果中出现过的"
        "地址、协议与端口组合，适用于与网站等共用地址的矿池。")),
) -> None:
    """Export findings for firewalls, DNS, IDS, threat-intel platforms and SIEMs.

    导出结果，供防火墙、DNS、入侵检测、威胁情报平台和 SIEM 使用。
    """
    from minewatch.errors import MinewatchError
    from minewatch.export import EXPORTERS, rpz_serial_of, select_for_export
    from minewatch.scan_cli import _allowlist, apply_allowlist, parse_time
    from minewatch.store.backend import open_store

    if kind not in EXPORTERS:
        raise typer.BadParameter(tr(f"unknown export kind {kind!r}; choose from {', '.join(EXPORTERS)}",
                                    f"未知导出类型 {kind!r}；可选：{', '.join(EXPORTERS)}"))
    if quarantine_hosts and kind not in ("nft", "ipset"):
        raise typer.BadParameter(tr("--quarantine-hosts applies to nft and ipset only",
                                    "--quarantine-hosts 只适用于 nft 和 ipset"))
    if ports is not Ports.all and kind not in ("nft", "ipset"):
        raise typer.BadParameter(tr("--ports applies to nft and ipset only", "--ports 只适用于 nft 和 ipset"))
    if out is not None and not out.parent.is_dir():  # before any work: fail fast, name the path
        _fail(tr(f"cannot write {out}: directory {out.parent} does not exist",
                 f"无法写入 {out}：目录 {out.parent} 不存在"))
    try:
        # read-only: a mistyped --db must not create an empty store and export an empty blocklist
        with open_store(db, must_exist=True) as store:
            allow = _allowlist(store)
            rows, _hidden = apply_allowlist(store.findings(since=parse_time(since)), allow)
        rows = select_for_export(kind, rows, include_timing_only=include_timing_only)
    except MinewatchError as e:
        _fail(str(e))
    except Exception as e:  # a PostgreSQL server that is down or refuses us: say so in one line
        if type(e).__module__.split(".")[0] != "psycopg":
            raise
        msg = " ".join(str(e).split())
        _fail(tr(f"cannot open the store: {msg}", f"无法打开存储：{msg}"))
    skipped: dict[str, set[str]] = {}
    opts: dict[str, object] = {"min_score": min_score, "allow": allow, "lang": current(),
                               "quarantine_hosts": quarantine_hosts, "skipped": skipped, "ports": ports.value}
    if kind == "rpz" and out is not None and out.is_file():
        with contextlib.suppress(OSError):  # keep the SOA serial increasing over the zone being replaced
            opts["previous_serial"] = rpz_serial_of(out.read_text(encoding="utf-8", errors="replace"))
    text = EXPORTERS[kind](rows, **opts)
    warning = _skipped_warning(skipped)
    if warning:
        typer.echo(warning, err=True)
    if out is None:
        sys.stdout.write(text)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as e:
        _fail(tr(f"cannot write {out}: {e.strerror or e}", f"无法写入 {out}：{e.strerror or e}"))
    typer.echo(tr(f"wrote {out}", f"已写入 {out}"), err=True)
