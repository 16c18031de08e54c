"""Chinese for what the CLI framework itself prints: the usage line, parse errors, `--help`'s own text.

Why here and how: Typer (0.29+) parses with a vendored copy of Click whose messages are fixed
English f-strings ("No such option: --tpo", "Invalid value for '--top': Input should be a valid
integer ..."), and its value checks word their errors like pydantic. A user who asked for
`--lang zh` got a Chinese help screen and then an English error for a typo. There is no catalogue
to hand the framework, so the finished message is translated where it is shown: the error printer
(`typer.rich_utils.rich_format_error`) sees the message through `translate`, the usage line gets a
Chinese prefix, and the help option's own line is Chinese. The patterns are keyed to the
framework's English wording; a message no pattern knows is shown in English rather than guessed,
and a test runs the common mistakes under `--lang zh`, so a framework upgrade that rewords one is
noticed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

USAGE_ZH = "用法："
HELP_OPTION_ZH = "显示本帮助并退出。"

_LABELS = {"path": "路径", "file": "文件", "directory": "目录"}


def _label(word: str) -> str:
    return _LABELS.get(word.lower(), word)


#: the reason inside "Invalid value for X: <reason>" (pydantic-worded value checks and the vendored
#: Click's path checks), most specific first
_REASONS: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r"Value error, (?P<m>.*)", re.S), lambda m: translate_reason(m["m"])),
    (re.compile(r"Input should be a valid integer(?:, .*)?", re.S), lambda m: "应为整数"),
    (re.compile(r"Input should be a valid number(?:, .*)?", re.S), lambda m: "应为数字"),
    (re.compile(r"Input should be a valid boolean(?:, .*)?", re.S), lambda m: "应为布尔值（true/false、yes/no、1/0）"),
    (re.compile(r"Input should be a valid (?:datetime|date)(?:, .*)?", re.S), lambda m: "应为有效的日期或时间"),
    (re.compile(r"Input should be greater than or equal to (?P<n>\S+)", re.S), lambda m: f"应不小于 {m['n']}"),
    (re.compile(r"Input should be less than or equal to (?P<n>\S+)", re.S), lambda m: f"应不大于 {m['n']}"),
    (re.compile(r"Input should be greater than (?P<n>\S+)", re.S), lambda m: f"应大于 {m['n']}"),
    (re.compile(r"Input should be less than (?P<n>\S+)", re.S), lambda m: f"应小于 {m['n']}"),
    (re.compile(r"(?P<v>.+) is not one of (?P<c>.+)\.", re.S), lambda m: f"{m['v']} 不是 {m['c']} 之一"),
    (re.compile(r"(?P<l>\w+) (?P<v>.+) does not exist\.", re.S), lambda m: f"{_label(m['l'])} {m['v']} 不存在"),
    (re.compile(r"(?P<l>\w+) (?P<v>.+) is a file\.", re.S), lambda m: f"{_label(m['l'])} {m['v']} 是文件，不是目录"),
    (re.compile(r"(?P<l>\w+) (?P<v>.+) is a directory\.", re.S), lambda m: f"{_label(m['l'])} {m['v']} 是目录，不是文件"),
    (re.compile(r"(?P<l>\w+) (?P<v>.+) is not readable\.", re.S), lambda m: f"{_label(m['l'])} {m['v']} 不可读"),
    (re.compile(r"(?P<l>\w+) (?P<v>.+) is not writable\.", re.S), lambda m: f"{_label(m['l'])} {m['v']} 不可写"),
    (re.compile(r"Value (?P<v>.+) is not a valid (?P<t>\w+)\.", re.S), lambda m: f"{m['v']} 不是有效的 {m['t']}"),
]  # fmt: skip

#: whole messages of the vendored Click
_MESSAGES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r"Invalid value for (?P<p>.+?): (?P<r>.*)", re.S),
     lambda m: f"{m['p']} 的取值无效：{translate_reason(m['r'])}"),
    (re.compile(r"Invalid value: (?P<r>.*)", re.S), lambda m: f"取值无效：{translate_reason(m['r'])}"),
    (re.compile(r"Option (?P<o>\S+) requires an argument\.", re.S), lambda m: f"选项 {m['o']} 需要一个取值。"),
    (re.compile(r"Option (?P<o>\S+) requires (?P<n>\d+) arguments\.", re.S),
     lambda m: f"选项 {m['o']} 需要 {m['n']} 个取值。"),
    (re.compile(r"Option (?P<o>\S+) does not take a value\.", re.S), lambda m: f"选项 {m['o']} 不接受取值。"),
    (re.compile(r"No such command (?P<c>\S+?)\.(?: Did you mean (?P<s>.+)\?)?", re.S),
     lambda m: f"没有命令 {m['c']}。" + (f"您是否想用 {m['s']}？" if m["s"] else "")),
    (re.compile(r"No such option: (?P<o>\S+)(?: \(Possible options: (?P<s>.+)\))?", re.S),
     lambda m: f"没有选项 {m['o']}。" + (f"可能的选项：{m['s']}" if m["s"] else "")),
    (re.compile(r"Missing (?P<k>argument|option|parameter) (?P<p>.+?)\.(?: (?P<r>.*))?", re.S),
     lambda m: f"缺少{ {'argument': '参数', 'option': '选项', 'parameter': '参数'}[m['k']]} {m['p']}。"
     + (translate_reason(m["r"]) if m["r"] else "")),
    (re.compile(r"Missing command\.", re.S), lambda m: "缺少命令。"),
    (re.compile(r"Got unexpected extra argument\(s\) \((?P<a>.*)\)", re.S), lambda m: f"多余的参数：{m['a']}"),
]  # fmt: skip


def _apply(rules: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]], text: str) -> str | None:
    for pat, make in rules:
        m = pat.fullmatch(text.strip())
        if m:
            return make(m)
    return None


def translate_reason(text: str) -> str:
    """The reason part of a value error in Chinese, or unchanged when its wording is not known."""
    return _apply(_REASONS, text) or text


def translate(message: str) -> str:
    """A framework error message in Chinese, or unchanged when its wording is not known."""
    return _apply(_MESSAGES, message) or message


def install() -> None:
    """Show the framework's usage line, help-option line and parse errors in Chinese from now on."""
    import typer.rich_utils
    from typer._click import decorators, formatting

    show: Callable[[Any], None] = typer.rich_utils.rich_format_error
    if not getattr(show, "_minewatch_zh", False):

        def rich_format_error_zh(exc: Any) -> None:
            original = exc.format_message
            exc.format_message = lambda: translate(original())
            try:
                show(exc)
            finally:
                exc.format_message = original

        rich_format_error_zh._minewatch_zh = True  # type: ignore[attr-defined]
        typer.rich_utils.rich_format_error = rich_format_error_zh

    write_usage: Callable[..., None] = formatting.HelpFormatter.write_usage
    if not getattr(write_usage, "_minewatch_zh", False):

        def write_usage_zh(self: Any, prog: str, args: str = "", prefix: str | None = None) -> None:
            write_usage(self, prog, args, USAGE_ZH if prefix is None else prefix)

        write_usage_zh._minewatch_zh = True  # type: ignore[attr-defined]
        formatting.HelpFormatter.write_usage = write_usage_zh  # type: ignore[method-assign]

    help_option: Callable[..., Any] = decorators.help_option
    if not getattr(help_option, "_minewatch_zh", False):

        def help_option_zh(*args: Any, **kwargs: Any) -> Any:
            decorate = help_option(*args, **kwargs)

            def apply(target: Any) -> Any:
                out = decorate(target)
                params = getattr(out, "params", None) or getattr(out, "__click_params__", None) or []
                for p in params:
                    if getattr(p, "help", None) == "Show this message and exit.":
                        p.help = HELP_OPTION_ZH
                return out

            return apply

        help_option_zh._minewatch_zh = True  # type: ignore[attr-defined]
        decorators.help_option = help_option_zh
