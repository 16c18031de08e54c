"""English and Simplified Chinese for people; JSON/CSV keys stay English.

Why decide the language once at start-up: CLI help is built when commands are declared, so the
language must be known before Typer sees the arguments. `--lang` on the command line wins, then
`MINEWATCH_LANG`, then GNU `LANGUAGE`, then the locale (`LC_ALL`, `LC_MESSAGES`, `LANG`); anything
else is English.
"""

from __future__ import annotations

import inspect
import os
import re
import sys

SUPPORTED = ("en", "zh")


def detect_lang(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> str:
    argv = sys.argv if argv is None else argv
    env = os.environ if environ is None else environ
    for i, a in enumerate(argv):
        if a == "--lang" and i + 1 < len(argv):
            return normalise(argv[i + 1])
        if a.startswith("--lang="):
            return normalise(a.split("=", 1)[1])
    if env.get("MINEWATCH_LANG"):
        return normalise(env["MINEWATCH_LANG"])
    # GNU's LANGUAGE (a priority list such as "zh_CN:en") comes before the locale, as gettext reads it
    for entry in env.get("LANGUAGE", "").split(":"):
        if entry.lower().startswith(("zh", "en")):
            return normalise(entry)
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if env.get(var):
            return normalise(env[var])
    return "en"


def is_supported(value: str) -> bool:
    """`--lang` takes en or zh (with any region: zh_CN, zh-CN, en_GB ...); anything else is a typo."""
    return value.lower().startswith(("zh", "en"))


def normalise(value: str) -> str:
    return "zh" if value.lower().startswith("zh") else "en"


_current = detect_lang()


def current() -> str:
    return _current


def set_lang(lang: str) -> None:
    global _current
    _current = normalise(lang)


def tr(en: str, zh: str, lang: str | None = None) -> str:
    """Pick the text for the active language; both texts sit side by side at the call site."""
    return zh if (lang or _current) == "zh" else en


def error_prefix(lang: str | None = None) -> str:
    """The one prefix of an error line: `错误：` (full-width colon, no space) in Chinese, `error: ` in English.

    Why one function: commands printed "error:", "错误: " (ASCII colon) and "错误：" depending on who
    wrote them; every one-line error goes through here (or `error_line`) so they read the same.
    """
    return "错误：" if (lang or _current) == "zh" else "error: "


def error_line(message: str, lang: str | None = None) -> str:
    """A one-line error for stderr: the prefix of `error_prefix` and the message."""
    return f"{error_prefix(lang)}{message}"


_CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
_SENTENCE_END = re.compile(r"[.!?:)]\s+")


def pick(doc: str | None, lang: str | None = None) -> str | None:
    """The active language's part of a bilingual docstring (help text of a command).

    Commands keep both languages in their docstring, English paragraphs first, then Chinese ones
    (or one line "English sentence. 中文句子。"), so the code reads the same to everyone; the help
    screen shows one language. Paragraphs with Chinese characters are the Chinese part; a one-line
    mixture is cut at the last sentence end before the first Chinese character.
    """
    if not doc:
        return doc
    text = inspect.cleandoc(doc)
    paras = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    zh = [p for p in paras if _CJK.search(p)]
    en = [p for p in paras if not _CJK.search(p)]
    if not en and len(zh) == 1:  # "English. 中文。" on one line
        m = _CJK.search(zh[0])
        cut = [e.end() for e in _SENTENCE_END.finditer(zh[0], 0, m.start() if m else 0)]
        if cut:
            en, zh = [zh[0][: cut[-1]].strip()], [zh[0][cut[-1] :].strip()]
    chosen = zh if (lang or _current) == "zh" else en
    return "\n\n".join(chosen) if chosen else text
