"""Every command's `--help` is readable in full at 80 columns in both languages (review 13).

Rich wraps only at spaces, so a Chinese sentence was one unbreakable "word" that Typer's help
tables cut with "…"; and Typer showed Python annotations (`<bool>`, `<list[Path]>`, `<str>`) as
value placeholders. These tests render every help page the way a user sees it and compare the
words of the declared help with what was drawn.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter

import pytest

from minewatch.help_render import min_width, words

RENDER = r"""
import json, sys
import typer.main
from typer.testing import CliRunner
from minewatch.cli import app
from minewatch.i18n import current

root = typer.main.get_command(app)
runner = CliRunner()

def first_para(text):
    return (text or "").split("\n\n")[0]

def walk(c, p=()):
    yield p, c
    for n, s in getattr(c, "commands", {}).items():
        yield from walk(s, (*p, n))

pages = {}
for path, cmd in walk(root):
    r = runner.invoke(app, ["--lang", current(), *path, "--help"], env={"COLUMNS": "80", "TERMINAL_WIDTH": "80"})
    texts = [cmd.help or ""]
    texts += [getattr(p, "help", None) or "" for p in cmd.params if not getattr(p, "hidden", False)]
    texts += [s.short_help or first_para(s.help) for s in getattr(cmd, "commands", {}).values() if not s.hidden]
    pages[" ".join(path) or "(top)"] = {"out": r.stdout, "code": r.exit_code, "texts": texts}
print(json.dumps(pages))
"""

CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_]*")


def _pages(lang: str) -> dict[str, dict]:
    out = subprocess.run([sys.executable, "-c", RENDER, "--lang", lang], capture_output=True, text=True, check=True,
                         env={"PATH": "", "LANG": "C.UTF-8", "COLUMNS": "80"})  # fmt: skip
    return json.loads(out.stdout)


@pytest.fixture(scope="module", params=["en", "zh"])
def pages(request: pytest.FixtureRequest) -> dict[str, dict]:
    return _pages(request.param)


def _tokens(text: str) -> Counter[str]:
    return Counter(CJK.findall(text)) + Counter(WORD.findall(text))


def test_no_help_line_is_cut_at_80_columns(pages):
    assert len(pages) > 40
    cut = [
        (k, line)
        for k, p in pages.items()
        for line in p["out"].splitlines()
        if line.rstrip(" │╮╯").endswith("…")
    ]
    assert not cut, cut[:10]
    assert all(p["code"] == 0 for p in pages.values())


def test_every_word_of_the_declared_help_is_drawn(pages):
    lost = {}
    for name, p in pages.items():
        want = _tokens(" ".join(p["texts"]))
        # a word wider than its column (a URL) is folded across lines: look for it in the joined lines too
        joined = "".join(line.strip(" │") for line in p["out"].splitlines())
        missing = {w: n for w, n in (want - _tokens(p["out"])).items() if w not in joined}
        if missing:
            lost[name] = dict(missing)
    assert not lost, lost


def test_placeholders_are_what_a_user_types(pages):
    hints = {k: sorted(set(re.findall(r"<[a-zA-Z][\w\[\], ]*>", p["out"]))) for k, p in pages.items()}
    assert not {k: v for k, v in hints.items() if v}, hints
    watch = pages["watch"]["out"]
    assert re.search(r"--no-store +\S*[^\x00-\x7f]", watch) or re.search(r"--no-store +[A-Z][a-z]", watch)
    assert re.search(r"--format +table\|jsonl\|csv", watch)
    assert re.search(r"--intel +PATH…", watch)
    assert re.search(r"--blocks +FILE ", watch)
    assert re.search(r"paths\.\.\. +PATH…", pages["scan"]["out"])


def test_cjk_text_breaks_between_characters_not_inside_words_or_before_closing_marks():
    units = [w.strip() for _, _, w in words("抓包的网络接口（例如镜像/SPAN 端口）。")]
    assert units[:3] == ["抓", "包", "的"]
    assert "（例" in units and "镜" in units and "像/SPAN" not in units and "/SPAN" in units
    assert units[-1] == "口）。"  # closing marks stay with the character before them
    assert [w for _, _, w in words("plain English  text")] == ["plain ", "English  ", "text"]
    assert min_width("每 5 分钟向本地节点获取新区块") == 2 and min_width("libpcap 语法") == 7


#: `--format` options whose help may not list their choices (none: every one is declared with its choices)
FORMAT_AS_TEXT: dict[str, str] = {}


def test_every_format_option_lists_its_choices(pages):
    shown = {k: m.group(1) for k, p in pages.items() if (m := re.search(r"--format(?: +-f)? +(\S+)", p["out"]))}
    assert len(shown) >= 5
    text = {k: v for k, v in shown.items() if "|" not in v}
    assert set(text) <= set(FORMAT_AS_TEXT), text  # a new one must be declared with its choices
    for k in set(shown) - set(FORMAT_AS_TEXT):
        assert "|" in shown[k], (k, shown[k])
