"""Every command's help is in one language at a time: Chinese with --lang zh, English otherwise."""

from __future__ import annotations

import re
import subprocess
import sys

from minewatch.i18n import pick

CJK = re.compile(r"[\u4e00-\u9fff]")


HELPS = """
import json, sys
import typer.main
from minewatch.cli import app

def walk(c, p=()):
    for n, s in getattr(c, "commands", {}).items():
        yield " ".join((*p, n)), s.help or ""
        yield from walk(s, (*p, n))

print(json.dumps(dict(walk(typer.main.get_command(app)))))
"""


def _helps(lang: str) -> dict[str, str]:
    import json

    out = subprocess.run([sys.executable, "-c", HELPS, "--lang", lang], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_every_command_help_is_in_the_chosen_language_only():
    zh, en = _helps("zh"), _helps("en")
    assert set(zh) == set(en) and len(zh) > 40
    assert not [k for k, v in zh.items() if not CJK.search(v)], "English-only help in --lang zh"
    assert not [k for k, v in en.items() if CJK.search(v)], "Chinese in --lang en help"


def test_pick_splits_paragraphs_and_one_line_mixtures():
    assert pick("Scan files.\n\n扫描文件。", "zh") == "扫描文件。"
    assert pick("Scan files.\n\n扫描文件。", "en") == "Scan files."
    assert pick("Open a case. 立案。", "zh") == "立案。" and pick("Open a case. 立案。", "en") == "Open a case."
    assert pick("Only English.", "zh") == "Only English."  # nothing better to show


def test_top_level_help_in_chinese_has_no_english_descriptions():
    out = subprocess.run([sys.executable, "-m", "minewatch.cli", "--lang", "zh", "--help"], capture_output=True,
                         text=True, env={"COLUMNS": "200", "PATH": ""}, check=True).stdout
    rows = [line for line in out.splitlines() if re.match(r"^│ [a-z]+ {2,}", line)]
    assert len(rows) >= 15
    assert all(CJK.search(r) for r in rows), [r for r in rows if not CJK.search(r)]


def test_chinese_assessment_names_its_assumptions_in_chinese(tmp_home):
    out = subprocess.run([sys.executable, "-m", "minewatch.cli", "--lang", "zh", "assess", "site", "--kw", "3250",
                          "--tariff", "0.4", "--model", "S19"], capture_output=True, text=True, check=True).stdout
    tail = out[out.index("假设："):]
    assert "电能利用效率 PUE（pue）" in tail and "假定全天候运行" in tail and "电价（tariff）" in tail and "由用户给定" in tail
    table = out[: out.index("假设：")]
    assert "    选定 " in table and "chosen" not in table


def test_an_unknown_finding_is_named_without_python_quotes(tmp_path, tmp_home):
    from minewatch.store.backend import connect

    db = tmp_path / "s.duckdb"
    connect(db).close()
    r = subprocess.run([sys.executable, "-m", "minewatch.cli", "--lang", "zh", "assess", "finding", "nosuch",
                        "--db", str(db)], capture_output=True, text=True)
    assert r.returncode == 2 and "错误：没有检测结果 nosuch" in r.stderr and "'" not in r.stderr


def test_a_chinese_meter_name_is_drawn_in_a_chinese_plot(tmp_path):
    import warnings
    from datetime import UTC, datetime

    import numpy as np

    from minewatch import i18n
    from minewatch.model import Finding
    from minewatch.power.plot import plot_suspect
    from minewatch.power.readers import MeterSeries

    kw = np.r_[np.full(24 * 30, 1.0), np.full(24 * 30, 4.2)]
    series = MeterSeries("电表-3", 1_700_006_400, 3600, kw, "t.csv", "kw")
    f = Finding(kind="mining", detector="power.load", score=90.0, subscores={"step": 90.0}, evidence=[],
                meter_id="电表-3", onset=datetime.fromtimestamp(1_700_006_400 + 30 * 86400, tz=UTC), kw_mining=3.2,
                machines_est=1)  # fmt: skip
    old = i18n.current()
    i18n.set_lang("zh")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            path = plot_suspect(series, f, tmp_path)
    finally:
        i18n.set_lang(old)
    assert path.stat().st_size > 5000
    assert not [w for w in caught if "Glyph" in str(w.message)], [str(w.message) for w in caught]


def test_help_panels_and_marks_follow_the_language():
    env = {"COLUMNS": "200", "PATH": ""}
    zh = subprocess.run([sys.executable, "-m", "minewatch.cli", "--lang", "zh", "scan", "--help"], capture_output=True,
                        text=True, env=env, check=True).stdout
    en = subprocess.run([sys.executable, "-m", "minewatch.cli", "--lang", "en", "scan", "--help"], capture_output=True,
                        text=True, env=env, check=True).stdout
    assert "─ 选项 ─" in zh and "[默认：" in zh and "Options" not in zh and "[default:" not in zh
    assert "─ Options ─" in en and "[default:" in en


#: (arguments, a Chinese phrase the error must carry): the framework's own parse errors under --lang zh
FRAMEWORK_ERRORS = [
    (["power", "scan", "--top", "x", "f.csv"], "应为整数"),
    (["findings", "--min-score", "abc"], "应为数字"),
    (["power", "scan", "--top"], "需要一个取值"),
    (["scna"], "您是否想用 'scan'"),
    (["case", "show"], "没有命令 'show'"),
    (["probe"], "缺少参数 'target'"),
    (["scan", "--group", "foo", "f.pcap"], "不是 'session', 'host' 之一"),
    (["scan", "/nonexistent-minewatch-path"], "不存在"),
    (["scan", "--bogus", "f.pcap"], "没有选项 --bogus"),
    (["serve", "--port", "99999999"], "应不大于 65535"),
    (["scan", "a.pcap", "--fail-on-detect=3"], "不接受取值"),
]


def _run(args: list[str], lang: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "minewatch.cli", "--lang", lang, *args], capture_output=True,
                          text=True, env={"COLUMNS": "200", "PATH": "", "LANG": "C.UTF-8"})


def test_framework_parse_errors_are_chinese_under_lang_zh():
    assert "用法：minewatch probe" in _run(["probe"], "zh").stderr
    for args, phrase in FRAMEWORK_ERRORS:
        r = _run(args, "zh")
        assert r.returncode == 2, (args, r.stderr)
        assert "Usage:" not in r.stderr and "Try '" not in r.stderr, (args, r.stderr)
        assert phrase in r.stderr, (args, r.stderr)
        body = [line for line in r.stderr.splitlines() if line.startswith("│")]
        # the message itself carries no English words beyond option names, values and paths
        words = re.findall(r"\b[A-Za-z]{4,}\b", " ".join(body))
        assert not [w for w in words if w.lower() in {"invalid", "missing", "such", "option", "requires", "input",
                                                      "should", "does", "exist", "value", "possible"}], (args, body)


def test_framework_parse_errors_stay_english_under_lang_en():
    r = _run(["power", "scan", "--top", "x", "f.csv"], "en")
    assert r.returncode == 2 and "Usage: minewatch" in r.stderr and "Invalid value for '--top'" in r.stderr
    assert not CJK.search(r.stderr)


def test_help_option_line_is_chinese_under_lang_zh():
    r = subprocess.run([sys.executable, "-m", "minewatch.cli", "--lang", "zh", "scan", "--help"], capture_output=True,
                       text=True, env={"COLUMNS": "200", "PATH": ""}, check=True)
    assert "显示本帮助并退出" in r.stdout and "Show this message" not in r.stdout
    assert "用法：minewatch scan" in r.stdout


def test_gnu_language_list_and_lang_validation():
    from minewatch.i18n import detect_lang

    assert detect_lang([], {"LANGUAGE": "zh_CN:en", "LANG": "C.UTF-8"}) == "zh"
    assert detect_lang([], {"LANGUAGE": "de:en", "LANG": "zh_CN.UTF-8"}) == "en"
    assert detect_lang(["x", "--lang", "en"], {"LANGUAGE": "zh_CN"}) == "en"
    r = _run(["findings"], "xx")
    assert r.returncode == 2 and "choose en or zh" in r.stderr


def test_lang_alone_shows_the_help_in_that_language():
    r = _run([], "zh")
    assert r.returncode == 0 and "用法：minewatch" in r.stdout and "缺少命令" not in r.stdout + r.stderr


PARAM_HELPS = """
import json, sys
import typer.main
from minewatch.cli import app

def walk(c, p=()):
    for n, s in getattr(c, "commands", {}).items():
        if not getattr(s, "commands", None):
            yield " ".join((*p, n)), [(x.name, getattr(x, "help", None) or "") for x in s.params if x.name != "help"]
        yield from walk(s, (*p, n))

print(json.dumps(dict(walk(typer.main.get_command(app)))))
"""


def test_every_argument_and_option_has_help_in_chinese():
    import json

    out = subprocess.run([sys.executable, "-c", PARAM_HELPS, "--lang", "zh"], capture_output=True, text=True,
                         check=True)
    missing = [f"{cmd} {name}" for cmd, params in json.loads(out.stdout).items() for name, text in params
               if not CJK.search(text)]
    assert not missing, missing
