"""The one entry point: `minewatch <command>`.

Sub-command groups live beside the code they drive (`assess/cli.py`, `power/cli.py`, ...) and are
registered here by name, so adding a group never means editing another group's module.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

import click
import typer
from typer.core import TyperGroup

from minewatch import __version__, help_render
from minewatch.i18n import current, is_supported, pick, set_lang, tr

#: The CLI framework's own words that Typer lets us set (panel titles, default/required marks, the help
#: hint) in Chinese under `--lang zh`; the usage line, `--help`'s own line and parse errors of Typer's
#: vendored Click are translated where they are shown (`cli_zh.py`).
_TYPER_ZH = {
    "OPTIONS_PANEL_TITLE": "选项", "COMMANDS_PANEL_TITLE": "命令", "ARGUMENTS_PANEL_TITLE": "参数",
    "ERRORS_PANEL_TITLE": "错误", "DEFAULT_STRING": "[默认：{}]", "REQUIRED_LONG_STRING": "[必填]",
    "ENVVAR_STRING": "[环境变量：{}]", "ABORTED_TEXT": "已中止。",
    "RICH_HELP": "运行 [blue]'{command_path} {help_option}'[/] 查看帮助。",
}  # fmt: skip


def _framework_in_chinese() -> None:
    import typer.rich_utils

    from minewatch import cli_zh

    for name, text in _TYPER_ZH.items():
        if hasattr(typer.rich_utils, name):
            setattr(typer.rich_utils, name, text)
    cli_zh.install()


help_render.install()  # CJK wraps in help tables; placeholders such as FILE…, table|jsonl|csv
if current() == "zh":
    _framework_in_chinese()

def hoist_lang(args: list[str]) -> list[str]:
    """`--lang X` / `--lang=X` moved to the front of the arguments, wherever they were written.

    Why: `--lang` is the root command's option, so Click refused it after the sub-command
    (`minewatch scan --lang zh x.pcap` said "no such option --lang"), although `i18n.detect_lang`
    already read it from anywhere in argv to build the help in that language. Moving it before Click
    parses works for every command and group, present and future, without declaring it on each.
    Only the first one is kept, the one `detect_lang` chose at start-up; arguments after `--` are
    file names and are left alone.
    """
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            rest.extend(args[i:])
            break
        if a == "--lang" and i + 1 < len(args):
            if not front:
                front = [a, args[i + 1]]
            i += 2
            continue
        if a.startswith("--lang="):
            if not front:
                front = [a]
            i += 1
            continue
        rest.append(a)
        i += 1
    return front + rest


class _LangAnywhereGroup(TyperGroup):
    """The root group: hoists `--lang` (see `hoist_lang`) before Click reads the command line."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_lang(list(args)))


app = typer.Typer(
    cls=_LangAnywhereGroup,
    name="minewatch",
    help=tr(
        "Find hidden cryptocurrency mining in captures, flow logs and meter data, and measure its cost.",
        "在抓包、流日志和电表数据中发现隐蔽的加密货币挖矿，并评估其代价。",
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: (command name, module, attribute) of sub-apps (typer.Typer) registered as groups.
SUBAPPS: list[tuple[str, str, str]] = [
    ("assess", "minewatch.assess.cli", "app"),
    ("data", "minewatch.assess.cli", "data_app"),
    ("power", "minewatch.power.cli", "app"),
    ("intel", "minewatch.net.intel_cli", "app"),
    ("user", "minewatch.cases_cli", "user_app"),
    ("site", "minewatch.cases_cli", "site_app"),
    ("case", "minewatch.cases_cli", "case_app"),
    ("spark", "minewatch.engines.cli", "app"),
]

#: (command name, module, attribute) of single commands (plain functions).
COMMANDS: list[tuple[str, str, str]] = [
    ("scan", "minewatch.scan_cli", "scan"),
    ("demo", "minewatch.scan_cli", "demo"),
    ("findings", "minewatch.scan_cli", "findings"),
    ("collect", "minewatch.sources.netflow_cli", "collect"),
    ("export", "minewatch.export.cli", "export"),
    ("probe", "minewatch.net.probe", "probe"),
    ("watch", "minewatch.net.watch", "watch"),
    ("serve", "minewatch.web.cli", "serve"),
]


def _show_version(value: bool) -> None:
    """`minewatch --version` alone: eager, so it answers before a command is asked for."""
    if value:
        typer.echo(f"minewatch {__version__}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    lang: str = typer.Option(
        None, "--lang", help=tr("Language: en or zh (default from locale); may be written after the command too.",
                                "语言：en 或 zh（默认取自系统区域设置）；也可写在子命令之后。")
    ),
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_show_version,
                                 help=tr("Show the version.", "显示版本。")),
) -> None:
    if lang:
        if not is_supported(lang):
            raise typer.BadParameter(tr(f"{lang!r}: choose en or zh", f"{lang!r}：请选择 en 或 zh"), param_hint="--lang")
        set_lang(lang)
    if ctx.invoked_subcommand is None:  # `minewatch --lang zh` alone: the help, as `minewatch` alone gives
        typer.echo(ctx.get_help())
        raise typer.Exit()


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def _one_language(sub: typer.Typer) -> None:
    """Help of a group's commands in the active language only (docstrings carry both)."""
    if sub.info.help:
        sub.info.help = pick(sub.info.help)
    for cmd in sub.registered_commands:
        doc = cmd.help or (cmd.callback.__doc__ if cmd.callback else None)
        if doc:
            cmd.help = pick(doc)
    for group in sub.registered_groups:
        if group.typer_instance is not None:
            _one_language(group.typer_instance)


def _register() -> None:
    for name, module, attr in SUBAPPS:
        if _module_exists(module):
            sub = getattr(importlib.import_module(module), attr, None)
            if sub is not None:
                _one_language(sub)
                app.add_typer(sub, name=name)
    for name, module, attr in COMMANDS:
        if _module_exists(module):
            fn = getattr(importlib.import_module(module), attr, None)
            if fn is not None:
                app.command(name, help=pick(fn.__doc__))(fn)


_register()


def main() -> None:
    app(prog_name="minewatch")


if __name__ == "__main__":
    sys.exit(main())
