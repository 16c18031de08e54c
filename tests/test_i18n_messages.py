"""Messages made in the lower layers (errors, reject reasons, data-quality details) reach a Chinese
reader in Chinese, with their values, while JSON keys and English output stay as they were.

The commands run through Typer's runner with `--lang zh` first, as a user types it (the root
callback sets the language); `conftest` puts English back after each test.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from minewatch.cli import app
from minewatch.errors import InputError
from minewatch.messages_zh import RULES, error_text, example_text, reasons_text, say, to_zh
from minewatch.sources.pcap import DecompressedInputError
from minewatch.synth.scenario import write_demo_capture

CJK = re.compile(r"[\u4e00-\u9fff]")


def run(*args: str) -> object:
    return CliRunner().invoke(app, [*args])


def err_lines(r: object) -> list[str]:
    return [x for x in r.stderr.splitlines() if x.strip()]  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo_capture(tmp_path_factory.mktemp("demo") / "demo.pcap")


#: English position words inside a carried value ("f.csv line 12") that the Chinese words itself ("第 12 行")
POSITION_WORDS = {"line", "row", "column", "meter", "…"}


# -- the catalogue -------------------------------------------------------------------------------------
def test_every_rule_matches_its_example_and_keeps_its_values():
    for rule in RULES:
        m = rule.pattern.fullmatch(rule.example)
        assert m, f"rule {rule.pattern.pattern!r} does not match its own example"
        zh = rule.word(m)
        assert CJK.search(zh) or zh == rule.example, rule.example  # an unknown exception name stays as it is
        for i, value in enumerate(m.groups(), start=1):
            if value is None or i in rule.worded:
                continue
            for token in re.findall(r"[^\s,;()]+", value):
                if token not in POSITION_WORDS:
                    assert token in zh, f"{rule.example!r}: value {token!r} lost in {zh!r}"


def test_worded_values_are_worded_not_dropped():
    assert to_zh("case 1: suspected -> confirmed is not allowed; next: investigating, dismissed") == (
        "案件 1：不允许从“疑似”转为“已确认”；可转为：调查中、已排除（误报）")
    assert to_zh("malformed conn line: number out of range: -5 (allowed 0..9)") == "conn 行格式错误：数字超出范围：-5（允许 0..9）"


def test_raw_python_text_stays_english_in_parentheses_inside_chinese():
    zh = to_zh("malformed conn line: invalid literal for int() with base 10: 'port'")
    assert zh == "conn 行格式错误（invalid literal for int() with base 10: 'port'）"


def test_unknown_messages_come_back_unchanged_and_english_is_untouched():
    assert to_zh("something nobody wrote a rule for") == "something nobody wrote a rule for"
    assert to_zh("x.csv: something nobody wrote a rule for") == "x.csv: something nobody wrote a rule for"
    assert say("empty file", "en") == "empty file" and say("empty file", "zh") == "空文件"


def test_input_error_position_is_worded_from_the_exception_and_from_its_string():
    e = InputError("not a pcap/pcapng capture (magic 0x95bfefbf)", path="g.pcap", offset=0)
    want = "文件 g.pcap，第 0 字节：不是 pcap/pcapng 抓包文件（文件头魔数 0x95bfefbf）"
    assert error_text(e, "zh") == want and to_zh(str(e)) == want
    assert error_text(e, "en") == str(e) == "g.pcap, byte 0: not a pcap/pcapng capture (magic 0x95bfefbf)"
    line = InputError("metadata needs a meter_id column", path="m.csv", line=1)
    assert error_text(line, "zh") == "文件 m.csv，第 1 行：档案需要 meter_id 列" == to_zh(str(line))
    gz = DecompressedInputError("compressed stream is broken or truncated (CRC check failed)", path="t.pcap.gz",
                                offset=163559, compressed_at=50000)
    want = ("文件 t.pcap.gz，解压后数据流的第 163559 字节（压缩文件已读到第 50000 字节）："
            "压缩数据流损坏或被截断（CRC check failed）")
    assert error_text(gz, "zh") == want and to_zh(str(gz)) == want


def test_reject_examples_and_counts_are_worded_but_the_counts_keep_their_keys():
    counts = {"malformed conn line: not valid JSON": 2, "truncated record": 1}
    ex = "conn.log:2: Expecting value: line 1 column 1 (char 0): malformed conn line: not valid JSON"
    assert example_text(ex, counts, "zh") == "conn.log:2（Expecting value: line 1 column 1 (char 0)）：conn 行格式错误：不是有效的 JSON"
    assert example_text("t.pcap.gz@40 (decompressed): truncated record", counts, "zh") == "t.pcap.gz@40（解压后）：记录被截断"
    assert example_text(ex, counts, "en") == ex
    assert reasons_text(counts, "zh") == "conn 行格式错误：不是有效的 JSON（2 条）；记录被截断（1 条）"
    assert reasons_text(counts, "en") == "malformed conn line: not valid JSON: 2, truncated record: 1"


# -- the CLI -------------------------------------------------------------------------------------------
def test_scan_input_error_is_chinese_with_file_and_byte(tmp_path, tmp_home):
    junk = tmp_path / "garbage.pcap"
    junk.write_bytes(b"\x95\xbf\xef\xbf" + b"\x00" * 60)
    zh = run("--lang", "zh", "scan", "--no-store", "-q", str(junk))
    assert f"错误：文件 {junk}，第 0 字节：不是 pcap/pcapng 抓包文件（文件头魔数 0x95bfefbf）" in zh.stderr
    assert "输入错误" not in zh.stderr and "not a pcap" not in zh.stderr
    en = run("--lang", "en", "scan", "--no-store", "-q", str(junk))
    assert f"error: {junk}, byte 0: not a pcap/pcapng capture (magic 0x95bfefbf)" in en.stderr
    assert not CJK.search(en.stderr)


def test_truncated_capture_rejects_are_chinese_and_json_keeps_english_counts(demo, tmp_path, tmp_home):
    cut = tmp_path / "cut.pcap"
    data = demo.read_bytes()
    cut.write_bytes(data[: len(data) - 37])
    zh = run("--lang", "zh", "scan", "--no-store", "-q", "--format", "jsonl", str(cut))
    assert zh.exit_code == 0, zh.output
    lines = err_lines(zh)
    assert "拒绝：记录被截断（1 条）" in lines
    off = re.search(rf"{re.escape(str(cut))}@(\d+)：记录被截断", zh.stderr)
    assert off, zh.stderr
    assert f"警告：文件 {cut}，第 {off[1]} 字节：pcap 记录被截断：" in zh.stderr  # read up to the damage: a warning
    assert "truncated" not in zh.stderr.replace(str(tmp_path), "")  # no English reason left
    en = run("--lang", "en", "scan", "--no-store", "-q", "--format", "jsonl", str(cut))
    assert "Rejected: truncated record: 1" in en.stderr and f"{cut}@{off[1]}: truncated record" in en.stderr
    assert [json.loads(x) for x in zh.stdout.splitlines() if x.startswith("{")] == [
        json.loads(x) for x in en.stdout.splitlines() if x.startswith("{")]


def test_zeek_rejects_are_chinese_with_line_numbers(tmp_path, tmp_home):
    log = tmp_path / "conn.log"
    good = {"ts": 1700000000.0, "uid": "C1", "id.orig_h": "10.0.0.1", "id.orig_p": 5000, "id.resp_h": "10.0.0.2",
            "id.resp_p": 80, "proto": "tcp", "duration": 1.0, "orig_bytes": 10, "resp_bytes": 10}
    log.write_text("\n".join([json.dumps(good), "{bad", json.dumps({**good, "id.orig_p": -5})]) + "\n")
    zh = run("--lang", "zh", "scan", "--no-store", "-q", str(log))
    assert "conn 行格式错误：不是有效的 JSON（1 条）" in zh.stderr
    assert "conn 行格式错误：数字超出范围：-5（允许 0..65535）（1 条）" in zh.stderr or "数字超出范围：-5" in zh.stderr
    assert f"{log}:2（" in zh.stderr and f"{log}:3：conn 行格式错误：数字超出范围：-5" in zh.stderr
    assert "malformed" not in zh.stderr


def test_blocks_feed_error_is_chinese(demo, tmp_path, tmp_home):
    bad = tmp_path / "blocks.csv"
    bad.write_text("a,b\n1,2\n")
    zh = run("--lang", "zh", "scan", "--no-store", "-q", "--blocks", str(bad), str(demo))
    assert zh.exit_code == 2
    assert (f"错误：文件 {bad}，第 1 行：区块时间数据的表头缺少 coin、height、timestamp（应为 coin,height,timestamp）"
            in zh.stderr)
    rpc = run("--lang", "zh", "scan", "--no-store", "-q", "--blocks-rpc", "foo", str(demo))
    assert "错误：节点 RPC 设置 'foo' 有误：应为 KIND[:COIN]=URL" in rpc.stderr


def test_findings_kind_check_is_chinese(tmp_home):
    r = run("--lang", "zh", "findings", "--kind", "foo")
    assert r.exit_code == 2 and "错误：--kind 应为 mining 或 node，而不是 'foo'" in r.stderr


BAD_METER = """meter_id,time,kwh
A1,2023-01-01T00:00:00,1.0
A1,2023-01-01T01:00:00,1.0
A1,2023-01-01T02:00:00,-3.0
A1,2023-01-01T03:00:00,1.0
A1,2023-01-01T03:00:00,1.0
A1,2023-01-01T06:00:00,1.0
A1,2023-01-01T06:17:00,1.0
A1,2023-01-01T07:00:00,abc
,2023-01-01T08:00:00,1.0
"""


def test_power_details_and_rejects_are_chinese_with_meter_file_and_line(tmp_path, tmp_home):
    f = tmp_path / "bad_meter.csv"
    f.write_text(BAD_METER)
    zh = run("--lang", "zh", "power", "scan", "--no-store", "--format", "jsonl", str(f))
    assert zh.exit_code == 0, zh.output
    out = zh.stderr
    assert "A1 2023-01-01T04:00:00 缺 2 个时段（2 小时）" in out
    assert "1 个重复时间戳；保留第一个（bad_meter.csv 第 5 行），其余丢弃（bad_meter.csv 第 6 行）" in out
    assert "2 个负值读数" not in out and "1 个负值读数，最小 -3.000（bad_meter.csv 第 4 行）；已置为空" in out
    assert "bad_meter.csv：1 行的数值无法解析：第 9 行" in out and "bad_meter.csv：1 行的电表编号无法解析：第 10 行" in out
    assert "1 个读数偏离 3600 秒采集网格超过间隔的 10%，已丢弃：2023-01-01 06:17:00（bad_meter.csv 第 8 行）" in out
    assert "被拒读数：3（不在采集网格上的时间戳：1；无法解析的电表编号：1；无法解析的数值：1）" in out
    for english in ("slot(s)", "repeated", "negative reading", "unparsable", "off-grid", "dropped"):
        assert english not in out, english
    en = run("--lang", "en", "power", "scan", "--no-store", "--format", "jsonl", str(f))
    assert "1 repeated timestamp(s); first kept (bad_meter.csv line 5), others dropped (bad_meter.csv line 6)" in en.stderr
    assert "rejected readings: 3 (off-grid timestamp: 1; unparsable meter id: 1; unparsable value: 1)" in en.stderr
    assert not CJK.search(en.stderr)


def test_power_file_errors_are_chinese(tmp_path, tmp_home):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    junk = tmp_path / "junk.csv"
    junk.write_text("foo,bar\n1,2\n")
    r = run("--lang", "zh", "power", "scan", "--no-store", str(empty))
    # an empty file is "nothing to read", not an error (review 12: exit statuses as `minewatch scan`)
    assert r.exit_code == 0 and f"文件 {empty}：空文件，没有可读内容" in r.stderr
    r = run("--lang", "zh", "power", "scan", "--no-store", str(junk))
    assert f"错误：文件 {junk}，第 1 行：无法判断数据布局：" in r.stderr and "实际列：foo、bar" in r.stderr
    ok = tmp_path / "m.csv"
    ok.write_text(BAD_METER)
    r = run("--lang", "zh", "power", "scan", "--no-store", "--meta", str(junk), str(ok))
    assert f"错误：文件 {junk}，第 1 行：档案需要 meter_id 列" in r.stderr


def test_case_site_and_user_errors_are_chinese_in_the_terminal_too(tmp_path, tmp_home):
    db = str(tmp_path / "c.duckdb")
    r = run("--lang", "zh", "site", "add", "bad", "--range", "10.20.0.0/99", "--db", db)
    assert r.exit_code == 2 and "错误：不是地址或 CIDR 地址段：'10.20.0.0/99'" in r.stderr
    assert "错误：没有场所 99" in run("--lang", "zh", "case", "open", "x", "--site", "99", "--db", db).stderr
    assert run("--lang", "zh", "site", "add", "s", "--range", "10.0.0.0/8", "--db", db).exit_code == 0
    assert run("--lang", "zh", "case", "open", "y", "--site", "1", "--db", db).exit_code == 0
    r = run("--lang", "zh", "case", "state", "1", "confirmed", "--db", db)
    assert "错误：案件 1：不允许从“疑似”转为“已确认”；可转为：调查中、已排除（误报）" in r.stderr
    r = run("--lang", "zh", "case", "state", "1", "bogus", "--db", db)
    assert "错误：未知状态 'bogus'；可用状态：疑似、" in r.stderr
    r = run("--lang", "zh", "case", "report", "1", "--out", str(tmp_path / "c.docx"), "--db", db)
    assert f"错误：{tmp_path / 'c.docx'}：报告只能写成 .html 或 .pdf" in r.stderr
    assert "错误：没有用户 'nobody'" in run("--lang", "zh", "user", "token", "nobody", "--db", db).stderr
    en = run("--lang", "en", "case", "state", "1", "confirmed", "--db", db)
    assert "error: case 1: suspected -> confirmed is not allowed; next: investigating, dismissed" in en.stderr


def test_intel_import_reasons_and_allow_errors_are_chinese(tmp_path, tmp_home):
    db = str(tmp_path / "i.duckdb")
    lst = tmp_path / "pools.txt"
    lst.write_text("pool.example.org\nbad..domain\n")
    r = run("--lang", "zh", "intel", "import", str(lst), "--format", "domains", "--db", db)
    assert r.exit_code == 0, r.output
    assert "第 2 行：不是主机名：bad..domain" in r.stdout
    r = run("--lang", "zh", "intel", "allow", "add", "--cidr", "10.20.5.0/99", "--reason", "x", "--db", db)
    assert r.exit_code == 2 and "错误：不是地址或 CIDR 地址段：'10.20.5.0/99'" in r.stderr
    r = run("--lang", "zh", "intel", "allow", "remove", "99", "--db", db)
    assert "错误：没有编号为 99 的有效白名单规则" in r.stderr
    en = run("--lang", "en", "intel", "allow", "remove", "99", "--db", db)
    assert "error: no active allow rule with id 99" in en.stderr


def test_probe_target_error_and_refused_connection_are_chinese(tmp_home):
    r = run("--lang", "zh", "probe", "nohostport")
    assert r.exit_code == 2 and "错误：应为 主机:端口，实际为 'nohostport'" in r.output and "目标无效" not in r.output
    r = run("--lang", "zh", "probe", "127.0.0.1:1", "--timeout", "2")
    assert "无法连接（unreachable）" in r.output and "连接被拒绝（ConnectionRefusedError" in r.output
    assert " 秒" in r.output
    en = run("--lang", "en", "probe", "127.0.0.1:1", "--timeout", "2")
    assert "unreachable: could not connect" in en.output and "ConnectionRefusedError" in en.output


def test_spark_errors_and_issue_codes_are_chinese(tmp_path, tmp_home):
    pytest.importorskip("pyarrow")
    r = run("--lang", "zh", "spark", "power", str(tmp_path / "nonexist.parquet"), "--out", str(tmp_path / "o"),
            "--engine", "local")
    assert r.exit_code == 2 and f"错误：文件 {tmp_path / 'nonexist.parquet'}：没有这个文件或目录" in r.stderr
    r = run("--lang", "zh", "spark", "load", str(tmp_path))
    assert "这里没有 findings 目录" in r.stderr


def test_spark_issue_codes_and_sample_names_are_chinese_and_summary_json_keeps_the_codes(tmp_path, tmp_home):
    pytest.importorskip("pyarrow")
    r = run("--lang", "zh", "spark", "sample", str(tmp_path / "s"), "--meters", "8", "--days", "120")
    assert r.exit_code == 0, r.output
    assert f"电表数据：{tmp_path / 's' / 'meters.parquet'}" in r.stderr and "meters:" not in r.stderr
    r = run("--lang", "zh", "spark", "power", str(tmp_path / "s" / "meters.parquet"), "--out", str(tmp_path / "o"),
            "--engine", "local")
    assert r.exit_code == 0, r.output
    gaps = re.search(r"数据问题：缺失时段（缺数）：([\d,]+)", r.stderr)
    assert gaps and "issue:" not in r.stderr and re.search(r"标记 \d+ 块，", r.stderr)
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["tally"]["issue:gap"] == int(gaps[1].replace(",", ""))


def test_collect_listen_error_is_chinese(tmp_path, tmp_home):
    r = run("--lang", "zh", "collect", "--listen", "garbage", "--out", str(tmp_path / "f"))
    assert r.exit_code == 2 and "无法监听 garbage：--listen 应为 主机:端口，实际为 'garbage'" in r.stderr
    en = run("--lang", "en", "collect", "--listen", "garbage", "--out", str(tmp_path / "f"))
    assert "cannot listen on garbage: --listen expects HOST:PORT, got 'garbage'" in en.stderr


def test_long_messages_cost_a_bounded_number_of_rule_passes(monkeypatch):
    """One rule pass per ": " made a 110 kB message take 53 s (review 6 diff): the passes are bounded."""
    from minewatch import messages_zh as M

    calls = []
    real = M._whole
    monkeypatch.setattr(M, "_whole", lambda text: calls.append(len(text)) or real(text))
    msg = "x: " * 40_000 + "end"
    assert M.to_zh(msg) == msg
    assert len(calls) <= M.MAX_SPLITS + 1
