"""`minewatch user|site|case ...`: manage users, sites and cases from the command line.

The first administrator has to come from here (the web pages need a log-in), and scripts on the
server use these commands to open cases and move them along without the browser.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from minewatch.i18n import tr

app = typer.Typer(help=tr("Users, sites and cases.", "用户、场所与案件。"), no_args_is_help=True, add_completion=False)
user_app = typer.Typer(help=tr("Dashboard users.", "面板用户。"), no_args_is_help=True)
site_app = typer.Typer(help=tr("Sites (address ranges, meters).", "场所（地址段、电表）。"), no_args_is_help=True)
case_app = typer.Typer(help=tr("Cases.", "案件。"), no_args_is_help=True)

DB_HELP = tr("DuckDB file or postgresql:// URL.", "DuckDB 文件或 postgresql:// 地址。")
ACTOR = os.environ.get("USER", "cli")
_USER_HELP = tr("User name.", "用户名。")
_ROLE_HELP = tr("Role: viewer, analyst or admin.", "角色：viewer（查看者）、analyst（分析员）或 admin（管理员）。")
_CASE_HELP = tr("Case number.", "案件编号。")


class OutFormat(StrEnum):
    """How a command shows what it made or listed: for people (default) or for scripts."""

    table = "table"
    jsonl = "jsonl"


def _format_option() -> Any:
    """`--format table|jsonl`: a table or sentence in the chosen language, or the stable English JSON.

    Why a flag and not always JSON: `--lang zh` users got raw English JSON from these commands while
    every other command answers in their language; scripts that parse the output ask for jsonl.
    """
    return typer.Option(OutFormat.table, "--format", help=tr(
        "table (for people, in the chosen language) or jsonl (one JSON object per line, English keys, for scripts).",
        "table（供人阅读，使用所选语言）或 jsonl（每行一个 JSON 对象，键为英文，供脚本使用）。"))  # fmt: skip


def _named(names: dict[str, tuple[str, str]], code: str | None) -> str:
    """A state or role code as a person reads it in the active language (the code itself if unknown)."""
    if not code:
        return "—"
    en, zh = names.get(code, (code, code))
    return tr(en, zh)


def _joined(items: Iterable[str]) -> str:
    return tr(", ", "、").join(items) or "—"


def _when(ts: Any) -> str:
    """A stored time for a table: minutes are enough to tell entries apart (jsonl keeps the full time)."""
    return ts.strftime("%Y-%m-%d %H:%M") if ts else ""


def _emit_json(objs: Iterable[Any]) -> None:
    for o in objs:
        typer.echo(json.dumps(o.to_dict(), ensure_ascii=False))


def _print_table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    if not rows:
        typer.echo(tr(f"{title}: none.", f"{title}：无。"))
        return
    t = Table(title=title)
    for c in columns:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*r)
    Console().print(t)


def _case_sentence(c: Any) -> str:
    """One case as a sentence: number, title, state and where it may go next."""
    from minewatch.store.cases import STATE_NAMES

    nxt = _joined(_named(STATE_NAMES, s) for s in c.to_dict()["allowed_next"])
    state = _named(STATE_NAMES, c.state)
    return tr(f"case {c.case_id} “{c.title}”: {state}, {c.findings} finding(s); next: {nxt}",
              f"案件 {c.case_id}「{c.title}」：{state}，{c.findings} 个发现；可转为：{nxt}")


def _site_sentence(s: Any) -> str:
    ranges, meters = _joined(s.ip_ranges), _joined(s.meter_ids)
    return tr(f"site {s.site_id} “{s.name}”: ranges {ranges}; meters {meters}; {s.findings} finding(s) attached",
              f"场所 {s.site_id}「{s.name}」：地址段 {ranges}；电表 {meters}；已关联 {s.findings} 个发现")


def _user_sentence(u: Any) -> str:
    from minewatch.store.cases import ROLE_NAMES

    role = _named(ROLE_NAMES, u.role)
    return tr(f"user {u.username}: {role}{', disabled' if u.disabled else ''}",
              f"用户 {u.username}：{role}{'，已停用' if u.disabled else ''}")


def _db(db: str | None) -> Any:
    # a busy, missing or unreadable store ends the command in one line, not a driver traceback
    from minewatch.store.backend import connect_for_cli

    target = db or os.environ.get("MINEWATCH_DB") or None
    if target and not target.startswith(("postgres://", "postgresql://")):
        return connect_for_cli(Path(target))
    return connect_for_cli(target)


def _fail(e: Exception) -> None:
    """One error line (`错误：…` / `error: …`) and exit 2; the store raises in English, worded here."""
    from minewatch.messages_zh import error_prefix, error_text

    typer.echo(f"{error_prefix()}{error_text(e)}", err=True)
    raise typer.Exit(2)


@user_app.command("add")
def user_add(
    username: str = typer.Argument(..., help=_USER_HELP),
    role: str = typer.Option("viewer", "--role", help=_ROLE_HELP),
    password: str = typer.Option(..., "--password", prompt=True, hide_input=True, confirmation_prompt=True,
                                 envvar="MINEWATCH_PASSWORD", help=tr("At least 10 characters.", "至少 10 个字符。")),
    db: str = typer.Option(None, "--db", help=DB_HELP),
    fmt: OutFormat = _format_option(),
) -> None:
    """Create a user. 创建用户。"""
    from minewatch.errors import MinewatchError
    from minewatch.store import cases as C

    d = _db(db)
    try:
        u = C.create_user(d, username, password, role, actor=ACTOR)
        typer.echo(json.dumps(u.to_dict(), ensure_ascii=False) if fmt is OutFormat.jsonl else _user_sentence(u))
    except MinewatchError as e:
        _fail(e)
    finally:
        d.close()


@user_app.command("token")
def user_token(username: str = typer.Argument(..., help=_USER_HELP), db: str = typer.Option(None, "--db", help=DB_HELP)) -> None:
    """Print a new API token for a user (the old one stops working). 生成新的 API 令牌。"""
    from minewatch.store import cases as C

    d = _db(db)
    try:
        u = C.user_by_name(d, username)
        if u is None:
            _fail(C.NotFound(f"no user {username!r}"))
        else:
            typer.echo(C.create_api_token(d, u.user_id, actor=ACTOR))
    finally:
        d.close()


@user_app.command("role")
def user_role(username: str = typer.Argument(..., help=_USER_HELP), role: str = typer.Argument(..., help=_ROLE_HELP),
              disable: bool | None = typer.Option(None, "--disable/--enable", help=tr(
                  "Disable or re-enable the account; without either, it stays as it is.",
                  "停用或重新启用账号；两者都不给时保持原状。")),
              db: str = typer.Option(None, "--db", help=DB_HELP), fmt: OutFormat = _format_option()) -> None:  # fmt: skip
    """Change a user's role (or disable the account). 修改角色或停用账号。"""
    from minewatch.errors import MinewatchError
    from minewatch.store import cases as C

    d = _db(db)
    try:
        u = C.user_by_name(d, username)
        if u is None:
            raise C.NotFound(f"no user {username!r}")
        u = C.set_role(d, u.user_id, role, actor=ACTOR, disabled=disable)
        typer.echo(json.dumps(u.to_dict()) if fmt is OutFormat.jsonl else _user_sentence(u))
    except MinewatchError as e:
        _fail(e)
    finally:
        d.close()


@user_app.command("list")
def user_list(db: str = typer.Option(None, "--db", help=DB_HELP), fmt: OutFormat = _format_option()) -> None:
    """List users. 列出用户。"""
    from minewatch.store import cases as C

    d = _db(db)
    try:
        users = C.list_users(d)
        if fmt is OutFormat.jsonl:
            _emit_json(users)
            return
        _print_table(tr("Users", "用户"), [tr("User", "用户名"), tr("Role", "角色"), tr("Disabled", "已停用"),
                                          tr("Created", "创建时间")],
                     [[u.username, _named(C.ROLE_NAMES, u.role), tr("yes", "是") if u.disabled else "",
                       _when(u.created_at)] for u in users])  # fmt: skip
    finally:
        d.close()


@site_app.command("add")
def site_add(
    name: str = typer.Argument(..., help=tr("Site name (a building, a room, a farm).", "场所名称（楼宇、机房、场地）。")),
    ip_range: list[str] = typer.Option([], "--range", help=tr("CIDR range (repeat).", "CIDR 地址段（可重复）。")),
    meter: list[str] = typer.Option([], "--meter", help=tr("Meter id (repeat).", "电表号（可重复）。")),
    address: str = typer.Option(None, "--address", help=tr("Postal address, for the visit.", "地址（供现场核查）。")),
    db: str = typer.Option(None, "--db", help=DB_HELP),
    fmt: OutFormat = _format_option(),
) -> None:
    """Create a site; stored findings inside it are attached at once. 创建场所。"""
    from minewatch.errors import MinewatchError
    from minewatch.store import cases as C

    d = _db(db)
    try:
        site = C.create_site(d, name, ip_ranges=ip_range, meter_ids=meter, address=address, actor=ACTOR)
        typer.echo(json.dumps(site.to_dict(), ensure_ascii=False) if fmt is OutFormat.jsonl else _site_sentence(site))
    except MinewatchError as e:
        _fail(e)
    finally:
        d.close()


@site_app.command("list")
def site_list(db: str = typer.Option(None, "--db", help=DB_HELP), fmt: OutFormat = _format_option()) -> None:
    """List sites. 列出场所。"""
    from minewatch.store import cases as C

    d = _db(db)
    try:
        C.attach_new(d)
        sites = C.list_sites(d)
        if fmt is OutFormat.jsonl:
            _emit_json(sites)
            return
        _print_table(tr("Sites", "场所"), [tr("ID", "编号"), tr("Name", "名称"), tr("Ranges", "地址段"),
                                          tr("Meters", "电表"), tr("Findings", "发现数"), tr("Open cases", "未结案件")],
                     [[str(x.site_id), x.name, _joined(x.ip_ranges), _joined(x.meter_ids), str(x.findings),
                       str(x.open_cases)] for x in sites])  # fmt: skip
    finally:
        d.close()


@case_app.command("open")
def case_open(title: str = typer.Argument(..., help=tr("Case title.", "案件标题。")),
              site: int = typer.Option(None, "--site", help=tr("Site id: the case takes all its findings.", "场所编号：案件纳入该场所的全部发现。")),
              finding: list[str] = typer.Option([], "--finding", help=tr("Finding id (repeat).", "发现编号（可重复）。")),
              db: str = typer.Option(None, "--db", help=DB_HELP), fmt: OutFormat = _format_option()) -> None:  # fmt: skip
    """Open a case for a site and/or findings. 立案。"""
    from minewatch.errors import MinewatchError
    from minewatch.store import cases as C

    d = _db(db)
    try:
        c = C.open_case(d, title, site_id=site, finding_ids=finding, actor=ACTOR)
        typer.echo(json.dumps(c.to_dict(), ensure_ascii=False) if fmt is OutFormat.jsonl else _case_sentence(c))
    except MinewatchError as e:
        _fail(e)
    finally:
        d.close()


@case_app.command("state")
def case_state(case_id: int = typer.Argument(..., help=_CASE_HELP),
               state: str = typer.Argument(..., help=tr(
                   "New state: investigating, confirmed, network_cut, power_cut, closed, dismissed.",
                   "新状态：investigating（调查中）、confirmed（已确认）、network_cut（已断网）、power_cut（已断电）、"
                   "closed（已结案）、dismissed（已排除）。")),
               reason: str = typer.Option(None, "--reason", help=tr(
                   "Why (required to dismiss: the reason it was a false alarm).", "原因（排除时必填：误报原因）。")),
               db: str = typer.Option(None, "--db", help=DB_HELP), fmt: OutFormat = _format_option()) -> None:  # fmt: skip
    """Move a case to a new state. 变更案件状态。"""
    from minewatch.errors import MinewatchError
    from minewatch.store import cases as C

    d = _db(db)
    try:
        c = C.transition(d, case_id, state, actor=ACTOR, reason=reason)
        typer.echo(json.dumps(c.to_dict(), ensure_ascii=False) if fmt is OutFormat.jsonl else _case_sentence(c))
    except MinewatchError as e:
        _fail(e)
    finally:
        d.close()


@case_app.command("list")
def case_list(state: str = typer.Option(None, "--state", help=tr("Only cases in this state.", "仅列出该状态的案件。")),
              db: str = typer.Option(None, "--db", help=DB_HELP), fmt: OutFormat = _format_option()) -> None:  # fmt: skip
    """List cases. 列出案件。"""
    from minewatch.store import cases as C

    d = _db(db)
    try:
        cases = C.list_cases(d, state=state)
        if fmt is OutFormat.jsonl:
            _emit_json(cases)
            return
        _print_table(tr("Cases", "案件"), [tr("ID", "编号"), tr("Title", "标题"), tr("State", "状态"), tr("Site", "场所"),
                                          tr("Findings", "发现数"), tr("Next", "可转为"), tr("Updated", "更新时间")],
                     [[str(c.case_id), c.title, _named(C.STATE_NAMES, c.state),
                       "" if c.site_id is None else str(c.site_id), str(c.findings),
                       _joined(_named(C.STATE_NAMES, x) for x in C.TRANSITIONS[c.state]), _when(c.updated_at)]
                      for c in cases])  # fmt: skip
    finally:
        d.close()


@case_app.command("report")
def case_report(case_id: int = typer.Argument(..., help=_CASE_HELP), out: Path = typer.Option(..., "--out", "-o", help=tr(".html or .pdf", ".html 或 .pdf")),
                lang: str = typer.Option("both", "--report-lang", help=tr(
                    "Report language: en, zh or both.", "报告语言：en（英文）、zh（中文）或 both（双语）。")),
                db: str = typer.Option(None, "--db", help=DB_HELP)) -> None:  # fmt: skip
    """Write the case report (HTML or PDF, bilingual). 生成案件报告。"""
    from minewatch.errors import InputError, MinewatchError
    from minewatch.export.report import case_report_html, case_report_pdf
    from minewatch.web.service import case_bundle

    if lang not in ("en", "zh", "both"):
        _fail(InputError(f"--report-lang must be en, zh or both, not {lang!r}"))
    if out.suffix.lower() not in (".html", ".htm", ".pdf"):
        _fail(InputError(f"{out}: the report is written as .html or .pdf; give one of those names"))
    if not out.parent.is_dir():
        _fail(InputError(f"{out}: the directory {out.parent} does not exist"))
    d = _db(db)
    try:
        text = case_report_html(case_bundle(d, case_id), lang=lang)
    except MinewatchError as e:
        _fail(e)
        return
    finally:
        d.close()
    try:
        if out.suffix.lower() == ".pdf":
            out.write_bytes(case_report_pdf(text))
        else:
            out.write_text(text, encoding="utf-8")
    except OSError as e:
        _fail(InputError(f"{out}: cannot write the report: {e.strerror or e}"))
    typer.echo(tr(f"wrote {out}", f"已写入 {out}"), err=True)


app.add_typer(user_app, name="user")
app.add_typer(site_app, name="site")
app.add_typer(case_app, name="case")
