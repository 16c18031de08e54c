"""`minewatch user|site|case ...`: manage users, sites and cases from the command line.

The first administrator has to come from here (the web pages need a log-in), and scripts on the
server use these commands to open cases and move them along without the browser.
"""

from __future__ import annotations

import json
import os
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
) -> None:
    """Create a user. 创建用户。"""
    from minewatch.errors import MinewatchError
    from minewatch.store import cases as C

    d = _db(db)
    try:
        u = C.create_user(d, username, password, role, actor=ACTOR)
        typer.echo(json.dumps(u.to_dict(), ensure_ascii=False))
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
              db: str = typer.Option(None, "--db", help=DB_HELP)) -> None:  # fmt: skip
    """Change a user's role (or disable the account). 修改角色或停用账号。"""
    from minewatch.errors import MinewatchError
    from minewatch.store import cases as C

    d = _db(db)
    try:
        u = C.user_by_name(d, username)
        if u is None:
            raise C.NotFound(f"no user {username!r}")
        typer.echo(json.dumps(C.set_role(d, u.user_id, role, actor=ACTOR, disabled=disable).to_dict()))
    except MinewatchError as e:
        _fail(e)
    finally:
        d.close()


@user_app.command("list")
def user_list(db: str = typer.Option(None, "--db", help=DB_HELP)) -> None:
    """List users. 列出用户。"""
    from minewatch.store import cases as C

    d = _db(db)
    try:
        for u in C.list_users(d):
            typer.echo(json.dumps(u.to_dict()))
    finally:
        d.close()


@site_app.command("add")
def site_add(
    name: str = typer.Argument(..., help=tr("Site name (a building, a room, a farm).", "场所名称（楼宇、机房、场地）。")),
    ip_range: list[str] = typer.Option([], "--range", help=tr("CIDR range (repeat).", "CIDR 地址段（可重复）。")),
    meter: list[str] = typer.Option([], "--meter", help=tr("Meter id (repeat).", "电表号（可重复）。")),
    address: str = typer.Option(None, "--address", help=tr("Postal address, for the visit.", "地址（供现场核查）。")),
    db: str = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Create a site; stored findings inside it are attached at once. 创建场所。"""
    from minewatch.errors import MinewatchError
    from minewatch.store import cases as C

    d = _db(db)
    try:
        typer.echo(json.dumps(C.create_site(d, name, ip_ranges=ip_range, meter_ids=meter, address=address,
                                            actor=ACTOR).to_dict(), ensure_ascii=False))  # fmt: skip
    except MinewatchError as e:
        _fail(e)
    finally:
        d.close()


@site_app.command("list")
def site_list(db: str = typer.Option(None, "--db", help=DB_HELP)) -> None:
    """List sites. 列出场所。"""
    from minewatch.store import cases as C

    d = _db(db)
    try:
        C.attach_new(d)
        for s in C.list_sites(d):
            typer.echo(json.dumps(s.to_dict(), ensure_ascii=False))
    finally:
        d.close()


@case_app.command("open")
def case_open(title: str = typer.Argument(..., help=tr("Case title.", "案件标题。")),
              site: int = typer.Option(None, "--site", help=tr("Site id: the case takes all its findings.", "场所编号：案件纳入该场所的全部发现。")),
              finding: list[str] = typer.Option([], "--finding", help=tr("Finding id (repeat).", "发现编号（可重复）。")),
              db: str = typer.Option(None, "--db", help=DB_HELP)) -> None:  # fmt: skip
    """Open a case for a site and/or findings. 立案。"""
    from minewatch.errors import MinewatchError
    from minewatch.store import cases as C

    d = _db(db)
    try:
        typer.echo(json.dumps(C.open_case(d, title, site_id=site, finding_ids=finding, actor=ACTOR).to_dict(),
                              ensure_ascii=False))  # fmt: skip
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
               db: str = typer.Option(None, "--db", help=DB_HELP)) -> None:  # fmt: skip
    """Move a case to a new state. 变更案件状态。"""
    from minewatch.errors import MinewatchError
    from minewatch.store import cases as C

    d = _db(db)
    try:
        typer.echo(json.dumps(C.transition(d, case_id, state, actor=ACTOR, reason=reason).to_dict(), ensure_ascii=False))
    except MinewatchError as e:
        _fail(e)
    finally:
        d.close()


@case_app.command("list")
def case_list(state: str = typer.Option(None, "--state", help=tr("Only cases in this state.", "仅列出该状态的案件。")), db: str = typer.Option(None, "--db", help=DB_HELP)) -> None:
    """List cases. 列出案件。"""
    from minewatch.store import cases as C

    d = _db(db)
    try:
        for c in C.list_cases(d, state=state):
            typer.echo(json.dumps(c.to_dict(), ensure_ascii=False))
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
