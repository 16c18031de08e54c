"""`minewatch intel`: import pool lists, look at them, keep the allow-list, test a name or address.

Why the allow-list lives behind its own commands with a mandatory reason: a rule hides findings
from every later report, so each one must say who may mine there and why, and each change is kept as
a version that a reviewer can look back at (`allow list --history`).
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from minewatch.errors import InputError
from minewatch.i18n import tr
from minewatch.messages_zh import error_prefix, error_text, say
from minewatch.net.intel import FORMATS, AllowRule, match_to_dict, pool_keywords, read_list
from minewatch.store import Store, file_sha256
from minewatch.store import intel_tables as tables

#: `intel import --format` choices as an Enum, so the help lists them (the reader keeps plain names)
ListFormat = StrEnum("ListFormat", {f: f for f in FORMATS})  # type: ignore[misc]

app = typer.Typer(
    help=tr(
        "Pool intelligence: built-in and imported pool lists, and the allow-list.",
        "矿池情报：内置与导入的矿池列表，以及白名单。",
    ),
    no_args_is_help=True,
    add_completion=False,
)
allow_app = typer.Typer(
    help=tr(
        "Allow-list: hosts and networks whose findings are hidden when results are shown.",
        "白名单：显示结果时隐藏其发现的主机与网段。",
    ),
    no_args_is_help=True,
)
app.add_typer(allow_app, name="allow")

_DB_HELP = tr("Store: a DuckDB file (default: the per-user store) or a postgresql:// URL.",
             "数据库：DuckDB 文件（默认：用户数据目录中的库）或 postgresql:// 地址。")


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)


@contextmanager
def _open(db: str | None) -> Iterator[Any]:
    """The store the intel tables live in: a DuckDB file, or a team's PostgreSQL server (the same
    tables through the backend adapter), so a list imported once serves every scan and web job."""
    from minewatch.store.backend import is_postgres_url

    target = db or os.environ.get("MINEWATCH_DB") or None
    if target and is_postgres_url(target):
        from minewatch.store.backend import connect_for_cli, store_like

        pg = connect_for_cli(target)
        try:
            yield store_like(pg)
        finally:
            pg.close()
        return
    if target is None:
        from minewatch.paths import default_db

        path = default_db()
    else:
        path = Path(target)
    from minewatch.store.backend import StoreBusy, StoreUnreadable

    try:
        opened = Store(path)
    except (StoreBusy, StoreUnreadable) as e:  # one line, not a driver traceback
        _fail(e)
        raise  # _fail exits; this keeps the type checker informed
    with opened as store:
        yield store


#: a built-in pool's status (the YAML value stays in JSON output)
_POOL_STATUS_ZH = {"active": "运营中", "closed": "已关闭"}


def _fail(msg: str | Exception) -> None:
    """One error line (`错误：…` / `error: …`) and exit 2; an exception from the lists is worded here."""
    typer.echo(f"{error_prefix()}{error_text(msg) if isinstance(msg, Exception) else msg}", err=True)
    raise typer.Exit(2)


@app.command(
    "import",
    help=tr(
        "Import a pool list (hosts, plain domains, maltrail, nDPI, IP list).",
        "导入矿池列表（hosts、纯域名、maltrail、nDPI、IP 列表）。",
    ),
)
def import_cmd(
    file: Path = typer.Argument(..., help=tr("List file to import.", "要导入的列表文件。")),
    fmt: ListFormat = typer.Option(  # type: ignore[valid-type]
        "auto", "--format", "-f",
        help=tr("List format: " + ", ".join(FORMATS) + ".", "列表格式：" + "、".join(FORMATS) + "。"),
    ),
    name: str = typer.Option(None, "--name", help=tr("Name for the list (default: file name).", "列表名称（默认：文件名）。")),
    db: str = typer.Option(None, "--db", help=_DB_HELP),
) -> None:  # fmt: skip
    """Import a pool list (hosts, plain domains, maltrail, nDPI, IP list)."""
    try:
        res = read_list(file, str(fmt), name)
        sha = file_sha256(file)
    except InputError as exc:
        _fail(exc)
        return
    with _open(db) as store:
        list_id, is_new = tables.save_list(store, res, sha)
    con = _console()
    c = res.counts()
    if not is_new:
        con.print(tr(f"{file}: this content is already stored as list #{list_id} ({res.name}); nothing changed.",
                     f"{file}：相同内容已保存为列表 #{list_id}（{res.name}），未作改动。"))  # fmt: skip
        return
    con.print(
        tr(
            f"list #{list_id} {res.name!r} ({res.fmt}): {c['accepted']} entries kept "
            f"({c['domain']} domains, {c['ip']} addresses, {c['ip_port']} address:port, {c['cidr']} networks), "
            f"{c['rejected']} lines rejected, {c['duplicates']} duplicates folded, {c['comments']} comment lines",
            f"列表 #{list_id}“{res.name}”（{res.fmt}）：保留 {c['accepted']} 条"
            f"（域名 {c['domain']}，地址 {c['ip']}，地址:端口 {c['ip_port']}，网段 {c['cidr']}），"
            f"拒绝 {c['rejected']} 行，合并重复 {c['duplicates']} 条，注释 {c['comments']} 行",
        )
    )
    for line, text, reason in res.rejects[:10]:  # the reason is English in the store; worded for the screen
        shown = tr(f"  line {line}: {reason}", f"  第 {line} 行：{say(reason)}") + (tr(f": {text}", f"：{text}") if text else "")
        con.print(shown, markup=False, highlight=False)
    if res.rejected > 10:
        con.print(tr(f"  ... and {res.rejected - 10} more", f"  ……另有 {res.rejected - 10} 行"))


@app.command(
    "list",
    help=tr(
        "Show imported lists, or the built-in pool list with --builtin.",
        "显示已导入的列表；加 --builtin 显示内置矿池列表。",
    ),
)
def list_cmd(
    builtin: bool = typer.Option(
        False, "--builtin", help=tr("Show the built-in pools.", "显示内置矿池列表。")
    ),
    as_json: bool = typer.Option(False, "--json", help=tr("Print JSON.", "输出 JSON。")),
    db: str = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Show imported lists, or the built-in pool list with --builtin."""
    con = _console()
    if builtin:
        from minewatch.net.intel import load_builtin_entries

        pools = load_builtin_entries()
        if as_json:
            typer.echo(json.dumps([{
                "name": p.name, "operator": p.operator, "country": p.country, "coins": list(p.coins),
                "domains": list(p.domains), "ports": list(p.ports), "tls_ports": list(p.tls_ports),
                "status": p.status, "source": p.source, "notes": p.notes,
            } for p in pools], ensure_ascii=False, indent=1))  # fmt: skip
            return
        t = Table(title=tr(f"Built-in pools ({len(pools)})", f"内置矿池（{len(pools)} 个）"))
        for col in (tr("pool", "矿池"), tr("country", "国家"), tr("coins", "币种"), tr("domains", "域名"),
                    tr("ports", "端口"), tr("TLS ports", "TLS 端口"), tr("status", "状态")):  # fmt: skip
            t.add_column(col)
        for p in pools:
            t.add_row(p.name, p.country or "", " ".join(p.coins), " ".join(p.domains),
                      " ".join(map(str, p.ports)), " ".join(map(str, p.tls_ports)),
                      tr(p.status, _POOL_STATUS_ZH.get(p.status, p.status)))  # fmt: skip
        con.print(t)
        return
    with _open(db) as store:
        lists = tables.stored_lists(store)
    if as_json:
        typer.echo(json.dumps([{
            "list_id": s.list_id, "name": s.name, "path": s.path, "format": s.fmt, "sha256": s.content_sha256,
            "imported_at": s.imported_at.isoformat(), "accepted": s.accepted, "rejected": s.rejected,
            "counts": s.counts,
        } for s in lists], ensure_ascii=False, indent=1))  # fmt: skip
        return
    if not lists:
        con.print(
            tr(
                "No imported lists. Use `minewatch intel import FILE`.",
                "尚未导入列表。请用 `minewatch intel import FILE`。",
            )
        )
        return
    t = Table(title=tr("Imported pool lists", "已导入的矿池列表"))
    for col in ("#", tr("name", "名称"), tr("format", "格式"), tr("kept", "保留"), tr("rejected", "拒绝"),
                tr("imported", "导入时间"), tr("file", "文件")):  # fmt: skip
        t.add_column(col)
    for s in lists:
        t.add_row(str(s.list_id), s.name, s.fmt, str(s.accepted), str(s.rejected),
                  s.imported_at.strftime("%Y-%m-%d %H:%M"), s.path or "")  # fmt: skip
    con.print(t)


@app.command(
    "match",
    help=tr(
        "Test a name or address against the pool lists and the allow-list.",
        "用矿池列表和白名单检查一个主机名或地址。",
    ),
)
def match_cmd(
    target: str = typer.Argument(
        ..., help=tr("Host name, IP or IP:port to test.", "要检查的主机名、IP 或 IP:端口。")
    ),
    as_json: bool = typer.Option(False, "--json", help=tr("Print JSON.", "输出 JSON。")),
    db: str = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Test a name or address against the pool lists and the allow-list."""
    ip: str | None = None
    port: int | None = None
    host: str | None = None
    text = target.strip()
    try:
        ip = str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        if text.count(":") == 1 or text.startswith("["):
            h, _, p = text.rpartition(":")
            h = h.strip("[]")
            try:
                ip = str(ipaddress.ip_address(h))
                port = int(p)
            except ValueError:
                host = h if p.isdigit() else text
                port = int(p) if p.isdigit() else None
        else:
            host = text
    with _open(db) as store:
        intel = tables.load_intel(store)
        allow = tables.load_allowlist(store)
    m = intel.match_host(host) if host else intel.match_ip(ip, port)
    kw = pool_keywords(host) if host and m is None else None
    rule = allow.is_allowed(ip=ip, host=host)
    if as_json:
        typer.echo(json.dumps({
            "target": target, "match": match_to_dict(m),
            "keywords": None if kw is None else {"pool_words": list(kw.pool_words), "coin_words": list(kw.coin_words),
                                                 "strength": kw.strength},
            "allowed_by": None if rule is None else {"rule_id": rule.rule_id, "kind": rule.kind, "value": rule.value,
                                                     "exceptions": list(rule.exceptions), "reason": rule.reason},
            "allow_version": allow.version,
        }, ensure_ascii=False, indent=1))  # fmt: skip
        return
    con = _console()
    if m is not None:
        where = (
            tr("built-in list", "内置列表")
            if m.is_builtin
            else tr(f"imported list {m.source!r}", f"导入列表“{m.source}”")
        )
        con.print(tr(f"{target}: pool {m.pool} via {m.entry} ({where}), confidence {m.confidence:.1f}",
                     f"{target}：矿池 {m.pool}，命中条目 {m.entry}（{where}），置信度 {m.confidence:.1f}"))  # fmt: skip
        if m.coins:
            con.print(tr("  coins: ", "  币种：") + " ".join(m.coins))
        if m.ports or m.tls_ports:
            con.print(tr("  published ports: ", "  公布端口：") + " ".join(map(str, m.ports))
                      + (tr("; TLS: ", "；TLS：") + " ".join(map(str, m.tls_ports)) if m.tls_ports else ""))  # fmt: skip
        if m.reference:
            con.print(tr("  source: ", "  来源：") + m.reference)
    elif kw is not None:
        words = ", ".join((*kw.pool_words, *kw.coin_words))
        con.print(tr(f"{target}: on no list; pool-like words {words} (weak signal, strength {kw.strength:.1f})",
                     f"{target}：不在任何列表中；含矿池相关词 {words}（弱信号，强度 {kw.strength:.1f}）"))  # fmt: skip
    else:
        con.print(tr(f"{target}: no pool match", f"{target}：未匹配任何矿池"))
    if rule is not None:
        con.print(tr(f"  allowed by rule #{rule.rule_id} ({rule.describe()}): {rule.reason}",
                     f"  被白名单规则 #{rule.rule_id}（{rule.describe('zh')}）放行：{rule.reason}"))  # fmt: skip


@allow_app.command(
    "add",
    help=tr(
        "Add an allow rule; every change becomes a new allow-list version.",
        "添加白名单规则；每次变更都生成新的白名单版本。",
    ),
)
def allow_add(
    domain: str = typer.Option(None, "--domain", help=tr("Domain to allow (with its subdomains).", "放行的域名（含子域名）。")),
    except_: list[str] = typer.Option(
        None, "--except",
        help=tr("Subdomain NOT allowed (repeatable), e.g. pool.example.com or just 'pool'.",
                "不放行的子域名（可重复），如 pool.example.com 或简写 pool。"),
    ),
    exact: bool = typer.Option(False, "--exact", help=tr("Allow only the domain itself, not its subdomains.", "只放行该域名本身，不含子域名。")),
    cidr: str = typer.Option(None, "--cidr", help=tr("Address or network (IPv4/IPv6 CIDR) to allow.", "放行的地址或网段（IPv4/IPv6 CIDR）。")),
    reason: str = typer.Option(..., "--reason", help=tr("Why this is allowed (kept with the rule).", "放行理由（随规则保存）。")),
    db: str = typer.Option(None, "--db", help=_DB_HELP),
) -> None:  # fmt: skip
    """Add an allow rule; every change becomes a new allow-list version."""
    if (domain is None) == (cidr is None):
        _fail(tr("give exactly one of --domain or --cidr", "--domain 与 --cidr 须且只能给一个"))
    if not reason.strip():
        _fail(tr("--reason must not be empty", "--reason 不能为空"))
    if cidr is not None and (except_ or exact):
        _fail(tr("--except and --exact apply to --domain only", "--except 与 --exact 只适用于 --domain"))
    try:
        rule = (
            AllowRule.domain(domain, reason.strip(), except_ or (), subdomains=not exact)
            if domain is not None
            else AllowRule.cidr(cidr, reason.strip())
        )
    except InputError as exc:
        _fail(exc)
        return
    with _open(db) as store:
        rule_id, version = tables.add_allow_rule(store, rule)
    _console().print(tr(f"rule #{rule_id} added ({rule.kind} {rule.describe()}); allow-list is now version {version}",
                        f"已添加规则 #{rule_id}（{rule.kind} {rule.describe('zh')}）；白名单现为第 {version} 版"))  # fmt: skip


@allow_app.command(
    "list",
    help=tr(
        "Show the allow-list (now, at a past version, or its history).",
        "显示白名单（当前、历史版本或变更记录）。",
    ),
)
def allow_list(
    version: int = typer.Option(None, "--version", help=tr("Show the list as of this version.", "显示指定版本的白名单。")),
    history: bool = typer.Option(False, "--history", help=tr("Show every change instead.", "改为显示全部变更记录。")),
    as_json: bool = typer.Option(False, "--json", help=tr("Print JSON.", "输出 JSON。")),
    db: str = typer.Option(None, "--db", help=_DB_HELP),
) -> None:  # fmt: skip
    """Show the allow-list (now, at a past version, or its history)."""
    con = _console()
    with _open(db) as store:
        if history:
            hist = tables.allow_history(store)
            if as_json:
                typer.echo(json.dumps([{"version": h.version, "changed_at": h.changed_at.isoformat(), "action": h.action,
                                        "rule_id": h.rule_id, "summary": h.summary} for h in hist],
                                      ensure_ascii=False, indent=1))  # fmt: skip
                return
            t = Table(title=tr("Allow-list history", "白名单变更记录"))
            for col in (tr("version", "版本"), tr("time (UTC)", "时间（UTC）"), tr("action", "操作"),
                        tr("rule", "规则"), tr("what", "内容")):  # fmt: skip
                t.add_column(col)
            for h in hist:
                act = {"add": tr("add", "添加"), "remove": tr("remove", "删除")}.get(h.action, h.action)
                t.add_row(
                    str(h.version),
                    h.changed_at.strftime("%Y-%m-%d %H:%M:%S"),
                    act,
                    f"#{h.rule_id}",
                    h.summary or "",
                )
            con.print(t)
            return
        allow = tables.load_allowlist(store, version)
    if as_json:
        typer.echo(json.dumps({"version": allow.version, "rules": [{
            "rule_id": r.rule_id, "kind": r.kind, "value": r.value, "exceptions": list(r.exceptions),
            "subdomains": r.subdomains, "reason": r.reason, "added_version": r.version,
            "created_at": r.created_at.isoformat() if r.created_at else None,
        } for r in allow.rules]}, ensure_ascii=False, indent=1))  # fmt: skip
        return
    if not allow.rules:
        con.print(tr(f"Allow-list version {allow.version}: empty.", f"白名单第 {allow.version} 版：空。"))
        return
    t = Table(title=tr(f"Allow-list, version {allow.version}", f"白名单（第 {allow.version} 版）"))
    for col in (
        "#",
        tr("kind", "类型"),
        tr("rule", "规则"),
        tr("reason", "理由"),
        tr("since version", "起始版本"),
    ):
        t.add_column(col)
    lang = tr("en", "zh")
    for r in allow.rules:
        t.add_row(str(r.rule_id), r.kind, r.describe(lang), r.reason, str(r.version))
    con.print(t)


@allow_app.command(
    "remove", help=tr("Retire an allow rule; older versions keep it.", "停用一条白名单规则；旧版本中仍保留。")
)
def allow_remove(
    rule_id: int = typer.Argument(
        ..., help=tr("Rule number (see `allow list`).", "规则编号（见 `allow list`）。")
    ),
    db: str = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Retire an allow rule; older versions keep it."""
    with _open(db) as store:
        try:
            version = tables.remove_allow_rule(store, rule_id)
        except InputError as exc:
            _fail(exc)
            return
    _console().print(tr(f"rule #{rule_id} removed; allow-list is now version {version}",
                        f"已删除规则 #{rule_id}；白名单现为第 {version} 版"))  # fmt: skip
