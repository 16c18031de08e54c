"""`minewatch export KIND`: write enforcement and sharing formats from the stored findings."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from minewatch.i18n import current, tr


def export(
    kind: str = typer.Argument(..., help=tr(
        "nft, ipset, rpz, suricata, suricata-dataset, sigma, stix, ecs, csv or jsonl.",
        "nft、ipset、rpz、suricata、suricata-dataset、sigma、stix、ecs、csv 或 jsonl。")),
    out: Path = typer.Option(None, "--out", "-o", help=tr("Output file (default: stdout).", "输出文件（默认标准输出）。")),
    db: str = typer.Option(None, "--db", help=tr(
        "Store: a DuckDB file or a postgresql:// URL (env MINEWATCH_DB).", "存储：DuckDB 文件或 postgresql:// 地址（环境变量 MINEWATCH_DB）。")),
    min_score: float = typer.Option(70.0, "--min-score", help=tr(
        "Lowest score turned into a blocking indicator.", "转为封堵指标的最低评分。")),
    since: str = typer.Option(None, "--since", help=tr("Only findings after this time.", "只导出此时间之后的结果。")),
) -> None:
    """Export findings for firewalls, DNS, IDS, threat-intel platforms and SIEMs.

    导出结果，供防火墙、DNS、入侵检测、威胁情报平台和 SIEM 使用。
    """
    from minewatch.export import EXPORTERS
    from minewatch.scan_cli import _allowlist, apply_allowlist, parse_time
    from minewatch.store.backend import open_store

    if kind not in EXPORTERS:
        raise typer.BadParameter(tr(f"unknown export kind {kind!r}; choose from {', '.join(EXPORTERS)}",
                                    f"未知导出类型 {kind!r}；可选：{', '.join(EXPORTERS)}"))
    with open_store(db) as store:
        allow = _allowlist(store)
        rows, _hidden = apply_allowlist(store.findings(since=parse_time(since)), allow)
    text = EXPORTERS[kind](rows, min_score=min_score, allow=allow, lang=current())
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(tr(f"wrote {out}", f"已写入 {out}"), err=True)
