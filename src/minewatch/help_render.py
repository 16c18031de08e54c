"""How `--help` is drawn: Chinese that wraps like English, and value placeholders people can read.

Why this module exists (review 13):

* Rich wraps text at spaces only (Textualize/rich#2494: "Rich isn't aware of the rules regarding
  wrapping Chinese"). A Chinese sentence has no spaces, so Rich measures the whole sentence as one
  unbreakable word; in Typer's help tables (columns overflow with "ellipsis") such a word wider
  than its column was cut with "…", and the option help of `watch`, `scan`, `spark flows`... was
  lost at 80 columns. `install()` teaches Rich's word splitter that a line may break between CJK
  characters (keeping closing punctuation such as "，。）" off the start of a line and opening
  brackets off its end) and measures the narrowest width of a CJK text by those units, so Chinese
  fills and wraps like English does. Text without CJK characters splits exactly as before.
* Typer 0.29 shows each value's Python annotation as its placeholder (`<bool>` for flags that take
  no value, `<list[Path]>`, `<str>`). `metavar()` gives what a user types instead: nothing for a
  flag, `FILE`/`DIR`/`PATH` for paths, the choices `table|jsonl|csv`, `TEXT`/`INTEGER`/`NUMBER`
  otherwise, with "…" when the option may be repeated or the argument takes several values. An
  explicit `metavar=` on an option still wins.
* A word wider than its column (a URL in an example) is folded onto the next line, not cut.

Both are installed once, before any help is built, in both languages.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

#: characters that may start or end a line next to any other (ideographs, kana, bopomofo, CJK
#: punctuation and full-width forms)
_CJK = (
    "\u2e80-\u2fff\u3000-\u303f\u3040-\u30ff\u3100-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
)
#: never at the end of a line: they stay with the character after them
_OPEN = "（《“‘「『【〔〈［｛"
#: never at the start of a line: they stay with the character before them
_CLOSE = "，。、；：！？）》”’」』】〕〉］｝…—·"
#: one unit a line may not be broken inside: optional openers, then a run of non-CJK text (an English
#: word, a number, an option name) or one CJK character, then closers, then the spaces after it
_UNIT = re.compile(
    rf"\s*[{_OPEN}]*(?:[^\s{_CJK}{_OPEN}{_CLOSE}]+|(?![{_CLOSE}])[{_CJK}]|[{_OPEN}])[{_CLOSE}]*\s*|\s*\S+?\s*"
)
_HAS_CJK = re.compile(rf"[{_CJK}]")
_PLAIN_WORD = re.compile(r"\s*\S+\s*")


def words(text: str) -> Iterable[tuple[int, int, str]]:
    """Rich's `_wrap.words` (start, end, unit) with break chances between CJK characters as well."""
    pattern = _UNIT if _HAS_CJK.search(text) else _PLAIN_WORD
    position = 0
    match = pattern.match(text, position)
    while match is not None and match.end() > position:
        yield match.start(), match.end(), match.group(0)
        position = match.end()
        match = pattern.match(text, position)


def min_width(text: str) -> int:
    """The narrowest column a text fits without cutting a unit (a CJK character, an English word)."""
    from rich.cells import cell_len

    return max((cell_len(w.strip()) for line in text.splitlines() for _, _, w in words(line)), default=0)


def _install_cjk_wrap() -> None:
    import rich._wrap
    from rich.measure import Measurement
    from rich.text import Text

    if getattr(rich._wrap.words, "_minewatch_cjk", False):
        return
    words._minewatch_cjk = True  # type: ignore[attr-defined]
    rich._wrap.words = words  # divide_line looks the name up in its module at call time
    measure = Text.__rich_measure__

    def rich_measure(self: Text, console: Any, options: Any) -> Measurement:
        m = measure(self, console, options)
        if not _HAS_CJK.search(self.plain):
            return m
        return Measurement(min(min_width(self.plain), m.maximum), m.maximum)

    Text.__rich_measure__ = rich_measure  # type: ignore[method-assign]


#: placeholder of a scalar annotation by name (Typer's `bare_type`)
_SCALARS = {"str": "TEXT", "int": "INTEGER", "float": "NUMBER", "bool": "BOOLEAN", "datetime": "DATETIME",
            "UUID": "UUID", "Path": "PATH"}  # fmt: skip
_PATHS = {"file": "FILE", "directory": "DIR", "dir": "DIR", "path": "PATH"}


def metavar(param: Any, ctx: Any) -> str | None:
    """The placeholder shown after an option or argument in help, or None for a flag.

    Derived from Typer's type descriptor so every command reads the same way: choices are listed,
    paths say whether a file or a directory is wanted, and a repeatable value ends in "…".
    """
    if getattr(param, "metavar", None) is not None:
        # an argument's metavar is already its name in the first column: not twice
        return None if getattr(param, "param_type_name", "") == "argument" else str(param.metavar)
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return None
    desc = getattr(param, "type_descriptor", None)
    if desc is None:
        return None
    if desc.is_choice:
        from typer._param_types import normalize_choice_value

        label = "|".join(str(normalize_choice_value(c, desc.case_sensitive, ctx)) for c in desc.choices or ())
    elif desc.is_file:
        label = "FILE"
    elif desc.is_path:
        label = _PATHS.get(str(desc.path_type).lower(), "PATH")
    elif desc.is_datetime and desc.parameter_info.formats:
        label = "|".join(desc.parameter_info.formats)
    elif desc.is_tuple:
        from typing import get_args

        label = " ".join(
            _SCALARS.get(getattr(a, "__name__", str(a)), "VALUE") for a in get_args(desc.annotation)
        )
    else:
        annotation = desc.annotation
        from typing import get_args, get_origin

        while get_origin(annotation) is not None and get_args(annotation):  # list[X], X | None
            annotation = next((a for a in get_args(annotation) if a is not type(None)), str)
        label = _SCALARS.get(getattr(annotation, "__name__", ""), "VALUE")
        if desc.is_ranged:
            label = "INTEGER" if "int" in str(desc.ranged_type_name).lower() else "NUMBER"
    many = desc.is_list or getattr(param, "multiple", False) or getattr(param, "nargs", 1) != 1
    return f"{label}…" if many else label


def _install_metavars() -> None:
    from typer import core

    for cls in (core.TyperOption, core.TyperArgument):
        current = cls.display_type_rich
        if getattr(current, "_minewatch", False):
            continue

        def display_type_rich(self: Any, ctx: Any) -> str | None:
            return metavar(self, ctx)

        display_type_rich._minewatch = True  # type: ignore[attr-defined]
        cls.display_type_rich = display_type_rich  # type: ignore[method-assign]


def _install_fold() -> None:
    """Help text folds a word wider than its column (a URL in an example) instead of ending in "…".

    Typer's help tables leave Rich's column overflow at "ellipsis"; a Text's own overflow wins.
    """
    import typer.rich_utils
    from rich.text import Text

    make = typer.rich_utils._make_rich_text
    if getattr(make, "_minewatch", False):
        return

    def make_rich_text(*, text: str, style: str = "", markup_mode: Any) -> Any:
        out = make(text=text, style=style, markup_mode=markup_mode)
        if isinstance(out, Text):
            out.overflow = "fold"
        return out

    make_rich_text._minewatch = True  # type: ignore[attr-defined]
    typer.rich_utils._make_rich_text = make_rich_text


def install() -> None:
    """CJK-aware wrapping in Rich and readable placeholders in Typer's help, from now on."""
    _install_cjk_wrap()
    _install_fold()
    _install_metavars()
