"""English and Simplified Chinese for people; JSON/CSV keys stay English.

Why decide the language once at start-up: CLI help is built when commands are declared, so the
language must be known before Typer sees the arguments. `--lang` on the command line wins, then
`MINEWATCH_LANG`, then the locale (`LC_ALL`, `LC_MESSAGES`, `LANG`); anything else is English.
"""

from __future__ import annotations

import os
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
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if env.get(var):
            return normalise(env[var])
    return "en"


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
