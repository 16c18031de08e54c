"""Chinese wording of the English messages the lower layers raise and count, for whoever shows them.

Why one catalogue at the display and not `tr()` at each `raise`: an error or a reject reason is made
deep in a reader that does not know who will read it. The same text is a JSON key (`rejected` counts
in `--format jsonl`, `summary.json`, the collector's `_stats`), a log line, an API `detail` and a line
on a terminal or a web page; the web serves readers of both languages from one process. So messages
are raised and counted in stable English, and the display (CLI summary, error line, job page) words
them for its reader at the last moment with `say()` / `error_text()`.

Each rule matches a *whole* message and carries its values (file names, line and byte numbers,
counts, ids) over into the Chinese. A message no rule knows is shown as it is: better English than a
wrong guess. Raw Python exception text inside a message (`invalid literal for int()`, json's
`Expecting property name ...`) stays English, in parentheses, inside a Chinese sentence.

The position an `InputError` carries (`file, byte N`, `line N`, `byte N of the decompressed stream`)
is worded here too, from the exception's fields (`error_text`) or from its English string (`to_zh`),
since scan summaries keep errors as strings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from minewatch.errors import InputError
from minewatch.i18n import current

# -- helpers used by the rules -------------------------------------------------------------------------

#: case states (kept here, not imported from the store, so that importing this module stays cheap)
_STATE_ZH = {
    "suspected": "疑似", "investigating": "调查中", "confirmed": "已确认", "network_cut": "已断网",
    "power_cut": "已断电", "closed": "已结案", "dismissed": "已排除（误报）",
}  # fmt: skip

#: power data-quality kinds (`DataIssue.kind`, the engines' `issue:<kind>` tally keys)
ISSUE_NAMES: dict[str, tuple[str, str]] = {
    "gap": ("missing slots (gaps)", "缺失时段（缺数）"),
    "duplicate": ("duplicates", "重复"),
    "dst_jump": ("DST jumps", "夏令时跳变"),
    "meter_reset": ("meter resets", "表码回零"),
    "negative": ("negative readings", "负值读数"),
    "unparsable": ("unparsable rows", "无法解析的行"),
    "unit_assumed": ("unit assumptions", "单位假定"),
    "off_grid": ("off-grid timestamps", "不在采集网格上的时间戳"),
    "far_timestamp": ("timestamps far outside the meter's readings", "远离该表其余读数的时间戳"),
    "resolution_change": ("changes of reading interval", "采集间隔变化"),
    "register_suspect": ("meters that look like cumulative registers", "疑似累计表码的电表"),
    "meta_duplicate": ("duplicate metadata rows", "重复的档案行"),
    "meta_bad_value": ("metadata cells not used", "未采用的档案单元格"),
    "sheet_skipped": ("spreadsheet sheets skipped", "跳过的工作表"),
    "name_clash": ("one meter id in several files that disagree (read as separate meters)",
                   "同一电表编号在多个文件中数据不一致（按不同电表读取）"),
    "not_read": ("parts of a file not read (other data items, a repeated 24:00 column)", "未读取的部分（其他数据项、重复的 24:00 列）"),
}

_WHAT_ZH = {"meter id": "电表编号", "value": "数值", "timestamp": "时间戳", "time": "时间", "date": "日期",
            "line": "行"}

_EXC_ZH = {
    "ConnectionRefusedError": "连接被拒绝",
    "ConnectionResetError": "连接被对方重置",
    "ConnectionAbortedError": "连接被中止",
    "TimeoutError": "超时",
    "timeout": "超时",
    "gaierror": "无法解析主机名",
    "SSLError": "TLS 错误",
    "SSLZeroReturnError": "TLS 连接被关闭",
    "SSLEOFError": "TLS 握手时连接被关闭",
    "SSLCertVerificationError": "TLS 证书校验失败",
    "OSError": "系统错误",
    "BrokenPipeError": "连接已断开",
    "PermissionError": "没有权限",
    "FileNotFoundError": "文件不存在",
    "IsADirectoryError": "这是一个目录",
}


def _state(s: str) -> str:
    return _STATE_ZH.get(s.strip(), s.strip())


def _states(text: str) -> str:
    return "、".join(_state(x) for x in text.split(",") if x.strip()) or text


def _list(text: str) -> str:
    """An English comma list ("a, b, c") as a Chinese one ("a、b、c")."""
    return "、".join(x.strip() for x in text.split(",")) if text else text


def _detail(text: str) -> str:
    """A detail after a colon: in Chinese when a rule knows it, else the raw text in parentheses."""
    zh = _whole(text)
    return f"：{zh}" if zh is not None else f"（{text}）"


def _where_zh(text: str) -> str:
    """A position inside a reject example or a data-quality detail ("f.csv line 12", "x@40 (decompressed)")."""
    text = re.sub(r"^datagram (\d+) from (.+)$", r"来自 \2 的第 \1 个数据报", text)
    text = re.sub(r"^batch of (\d+) records$", r"一批 \1 条记录", text)
    text = re.sub(r" \(decompressed\)$", "（解压后）", text)
    text = re.sub(r"(^|\s)(?:line|row) (\d+)", r"\1第 \2 行", text)
    text = re.sub(r" column ('[^']*'|\"[^\"]*\")", r" 列 \1", text)
    text = re.sub(r" meter (\S+)$", r" 电表 \1", text)
    return text


def _examples_zh(text: str) -> str:
    """`_examples()` of the power reader: "2023-01-05 00:17:00 (f.csv line 9); …"."""
    return "；".join(re.sub(r" \((.+)\)$", r"（\1）", _where_zh(x.strip())) for x in text.split(";"))


def _lines_list(text: str) -> str:
    return text.replace(", …", "，…").replace(", ", "、")


# -- the catalogue -------------------------------------------------------------------------------------

Word = Callable[[re.Match[str]], str]


@dataclass(frozen=True)
class Rule:
    """One whole-message pattern, its Chinese, and an example message (the catalogue test uses it).

    `worded` names groups whose English value is itself translated (states, kinds, nested messages),
    so the test does not expect to find it verbatim.
    """

    pattern: re.Pattern[str]
    word: Word
    example: str
    worded: tuple[int, ...] = field(default=())


RULES: list[Rule] = []


#: why a compressed meter or metadata file broke off, as `power.readers` words it (zlib's and pyarrow's own
#: texts are kept as they are)
_CUT_ZH = {
    "compressed file ended before the end-of-stream marker was reached": "压缩文件在数据流结束标记之前就已结束",
    "data after the end of the gzip stream": "gzip 数据流结束后还有多余数据",
}


def _sheet_zh(item: str) -> str:
    """One "sheet: why it was skipped" of a workbook's list, in Chinese."""
    name, sep, why = item.partition(": ")
    return f"{name}：{to_zh(why)}" if sep else to_zh(item)


#: role names as the web's pages say them (`store.cases.ROLE_NAMES`)
_ROLE_ZH = {"viewer": "查看者", "analyst": "分析员", "admin": "管理员"}


def _r(pattern: str, word: Word, example: str, worded: tuple[int, ...] = ()) -> None:
    RULES.append(Rule(re.compile(pattern, re.S), word, example, worded))


# store, cases, users, sites, web (moved from web/messages.py; the web error page uses them)
_r(r"no finding (.+)", lambda m: f"没有发现 {m[1]}", "no finding nonexist")
_r(r"no case (\d+)", lambda m: f"没有案件 {m[1]}", "no case 99")
_r(r"no site (\d+)", lambda m: f"没有场所 {m[1]}", "no site 99")
_r(r"no user (.+)", lambda m: f"没有用户 {m[1]}", "no user 'nobody'")
_r(r"no attachment (\d+)", lambda m: f"没有附件 {m[1]}", "no attachment 3")
_r(r"no job (.+)", lambda m: f"没有扫描任务 {m[1]}", "no job abc")
# the HTTP API's own refusals (web/api.py)
_r(r"missing or unknown API token", lambda m: "缺少 API 令牌，或令牌未知", "missing or unknown API token")
_r(r"this needs the (viewer|analyst|admin) role", lambda m: f"此操作需要{_ROLE_ZH[m[1]]}角色",
   "this needs the analyst role", (1,))
_r(r"no report format (.+)", lambda m: f"没有报告格式 {m[1]}", "no report format 'doc'")
_r(r"unknown export (.+)", lambda m: f"未知导出类型 {m[1]}", "unknown export 'xml'")
_r(r"no active allow rule with id (\d+)", lambda m: f"没有编号为 {m[1]} 的有效白名单规则",
   "no active allow rule with id 99")
_r(r"case (\d+): (\w+) -> (\w+) is not allowed; next: none \(final state\)",
   lambda m: f"案件 {m[1]}：不允许从“{_state(m[2])}”转为“{_state(m[3])}”；该状态为最终状态",
   "case 2: dismissed -> investigating is not allowed; next: none (final state)", (2, 3))
_r(r"case (\d+): (\w+) -> (\w+) is not allowed; next: (.+)",
   lambda m: f"案件 {m[1]}：不允许从“{_state(m[2])}”转为“{_state(m[3])}”；可转为：{_states(m[4])}",
   "case 1: suspected -> confirmed is not allowed; next: investigating, dismissed", (2, 3, 4))
_r(r"case (\d+) is (\w+) \(a final state\): .*",
   lambda m: f"案件 {m[1]} 已处于“{_state(m[2])}”（最终状态），不能再添加发现；新的证据请新建案件",
   "case 4 is closed (a final state): open a new case for new evidence", (2,))
_r(r"case (\d+) was changed by someone else meanwhile.*", lambda m: f"案件 {m[1]} 刚被他人修改；请刷新后重试",
   "case 5 was changed by someone else meanwhile; reload and try again")
_r(r"unknown state (.+?); states: (.+)", lambda m: f"未知状态 {m[1]}；可用状态：{_states(m[2])}",
   "unknown state 'bogus'; states: suspected, investigating, confirmed", (2,))
_r(r"a dismissal needs the reason it was a false alarm", lambda m: "排除案件需要说明误报的原因",
   "a dismissal needs the reason it was a false alarm")
_r(r"case title is empty", lambda m: "案件标题为空", "case title is empty")
_r(r"site name is empty", lambda m: "场所名称为空", "site name is empty")
_r(r"a site needs at least one address range or meter id", lambda m: "场所至少需要一个地址段或电表编号",
   "a site needs at least one address range or meter id")
_r(r"not an address or CIDR range: (.+)", lambda m: f"不是地址或 CIDR 地址段：{m[1]}",
   "not an address or CIDR range: '10.20.0.0/99'")
_r(r"not an address or CIDR: (.+)", lambda m: f"不是地址或 CIDR 地址段：{m[1]}", "not an address or CIDR: '1.2.3.4/99'")
_r(r"note is empty", lambda m: "备注为空", "note is empty")
_r(r"note is longer than (\d+) characters", lambda m: f"备注超过 {m[1]} 个字符", "note is longer than 20000 characters")
_r(r"not a content hash: (.+)", lambda m: f"不是内容哈希：{m[1]}", "not a content hash: 'abc'")
_r(r"attachment is empty", lambda m: "附件为空", "attachment is empty")
_r(r"attachment is (\d+) bytes; the limit is (\d+)", lambda m: f"附件大小 {m[1]} 字节，上限为 {m[2]} 字节",
   "attachment is 30 bytes; the limit is 20")
_r(r"an allow rule needs a reason", lambda m: "白名单规则需要填写原因", "an allow rule needs a reason")
_r(r"(\S+) (.*) is not a value of finding (.+)", lambda m: f"{m[1]} {m[2]} 不是发现 {m[3]} 中的值",
   "ip '1.2.3.4' is not a value of finding 91fe")
_r(r"user (.+) exists", lambda m: f"用户 {m[1]} 已存在", "user 'admin' exists")
_r(r"user name (.+?): use 1-64 letters, digits, _ \. @ -", lambda m: f"用户名 {m[1]}：请使用 1-64 个字母、数字或 _ . @ -",
   "user name 'bad name!': use 1-64 letters, digits, _ . @ -")
_r(r"role (.+?): choose from (.+)", lambda m: f"角色 {m[1]}：可选 {_list(m[2])}", "role 'boss': choose from viewer, analyst, admin")
_r(r"password: at least (\d+) characters", lambda m: f"密码至少需要 {m[1]} 个字符", "password: at least 10 characters")
_r(r"bad export parameter (.+?)(?:: .*)?", lambda m: f"导出参数有误：{m[1]}", "bad export parameter min_score=500: 0 to 100")
_r(r"upload larger than (\d+) bytes", lambda m: f"上传文件超过 {m[1]} 字节", "upload larger than 100 bytes")
_r(r"request body larger than (\d+) bytes", lambda m: f"请求内容超过 {m[1]} 字节", "request body larger than 100 bytes")
_r(r"the uploaded file is empty", lambda m: "上传的文件为空", "the uploaded file is empty")
_r(r"at most (\d+) files in one upload", lambda m: f"一次上传最多 {m[1]} 个文件", "at most 20 files in one upload")
_r(r"no file in the upload", lambda m: "上传中没有文件", "no file in the upload")
_r(r"CSRF token missing or wrong; reload the log-in page", lambda m: "CSRF 令牌缺失或错误；请刷新登录页",
   "CSRF token missing or wrong; reload the log-in page")
_r(r"Not Found", lambda m: "页面不存在", "Not Found")
_r(r"Method Not Allowed", lambda m: "不支持此请求方法", "Method Not Allowed")

# case report and other CLI checks
_r(r"--report-lang must be en, zh or both, not (.+)", lambda m: f"--report-lang 应为 en、zh 或 both，而不是 {m[1]}",
   "--report-lang must be en, zh or both, not 'fr'")
_r(r"(.+): the report is written as \.html or \.pdf; give one of those names",
   lambda m: f"{m[1]}：报告只能写成 .html 或 .pdf；请使用这两种文件名之一",
   "case.docx: the report is written as .html or .pdf; give one of those names")
_r(r"(.+): the directory (.+) does not exist", lambda m: f"{m[1]}：目录 {m[2]} 不存在", "out/x.html: the directory out does not exist")
_r(r"(.+): cannot write the report: (.+)", lambda m: f"{m[1]}：无法写入报告（{m[2]}）", "x.html: cannot write the report: Permission denied")
_r(r"--kind must be mining or node, not (.+)", lambda m: f"--kind 应为 mining 或 node，而不是 {m[1]}",
   "--kind must be mining or node, not 'foo'")

# captures (sources/pcap.py, sources/live.py, net/pipeline.py, web/jobs.py sniffing)
_r(r"not a pcap/pcapng capture \(magic (0x[0-9a-f]+)\)", lambda m: f"不是 pcap/pcapng 抓包文件（文件头魔数 {m[1]}）",
   "not a pcap/pcapng capture (magic 0x95bfefbf)")
_r(r"not a pcap stream \(magic (0x[0-9a-f]+)\)", lambda m: f"不是 pcap 数据流（文件头魔数 {m[1]}）", "not a pcap stream (magic 0x12345678)")
_r(r"this is a pcapng stream; the live reader expects classic pcap \(run dumpcap with -P\)",
   lambda m: "这是 pcapng 数据流；实时读取只接受经典 pcap 格式（请用 dumpcap -P 运行）",
   "this is a pcapng stream; the live reader expects classic pcap (run dumpcap with -P)")
_r(r"cannot open capture: (.+)", lambda m: f"无法打开抓包文件（{m[1]}）", "cannot open capture: Permission denied")
_r(r"empty file: not a capture", lambda m: "空文件：不是抓包文件", "empty file: not a capture")
_r(r"truncated (.+?): need (\d+) bytes, file has (\d+)",
   lambda m: f"{_PART_ZH.get(m[1], m[1])}不完整：需要 {m[2]} 字节，文件只有 {m[3]} 字节",
   "truncated pcap file header: need 24 bytes, file has 10", (1,))
_r(r"truncated (.+?): (\d+) bytes at end of file, record incomplete \(read (\d+) packets before it\)",
   lambda m: f"{_PART_ZH.get(m[1], m[1])}被截断：文件末尾的 {m[2]} 字节不构成完整记录（此前已读取 {m[3]} 个数据包）",
   "truncated pcap record: 367 bytes at end of file, record incomplete (read 353 packets before it)", (1,))
_r(r"stream ended inside a (.+?) \((\d+) bytes\)",
   lambda m: f"数据流在{_PART_ZH.get(m[1], m[1])}中途结束（{m[2]} 字节）", "stream ended inside a pcap record (12 bytes)", (1,))
_r(r"compressed stream is broken or truncated \((.*); the text ends in line (\d+)\)",
   lambda m: f"压缩数据流损坏或被截断（{_CUT_ZH.get(m[1], m[1])}；文本止于第 {m[2]} 行）",
   "compressed stream is broken or truncated (compressed file ended before the end-of-stream marker was reached; "
   "the text ends in line 9750)", (1,))
_r(r"compressed stream is broken or truncated \((.*)\)", lambda m: f"压缩数据流损坏或被截断（{m[1]}）",
   "compressed stream is broken or truncated (Compressed file ended before the end-of-stream marker was reached)")
_r(r"record header at this offset claims (\d+) captured bytes \(max (\d+)\); stopping after (\d+) packets",
   lambda m: f"此处的记录头声称捕获了 {m[1]} 字节（上限 {m[2]}）；读取 {m[3]} 个数据包后停止",
   "record header at this offset claims 999999999 captured bytes (max 262144); stopping after 12 packets")
_r(r"record header claims (\d+) captured bytes \(max (\d+)\); the stream lost its framing after (\d+) packets",
   lambda m: f"记录头声称捕获了 {m[1]} 字节（上限 {m[2]}）；数据流在 {m[3]} 个数据包后失去了分帧",
   "record header claims 999999 captured bytes (max 262144); the stream lost its framing after 7 packets")
_r(r"pcapng section header has no valid byte-order magic", lambda m: "pcapng 节头没有有效的字节序标记",
   "pcapng section header has no valid byte-order magic")
_r(r"pcapng section header has impossible length (\d+)", lambda m: f"pcapng 节头长度 {m[1]} 不可能成立",
   "pcapng section header has impossible length 12")
_r(r"pcapng interface block too short", lambda m: "pcapng 接口描述块过短", "pcapng interface block too short")
_r(r"pcapng interface block options are cut", lambda m: "pcapng 接口描述块的选项被截断", "pcapng interface block options are cut")
_r(r"pcapng block at this offset has an impossible or inconsistent length; stopping after (\d+) packets",
   lambda m: f"此处的 pcapng 块长度不可能成立或前后不一致；读取 {m[1]} 个数据包后停止",
   "pcapng block at this offset has an impossible or inconsistent length; stopping after 3 packets")
_r(r"link types? (.+?) (?:is|are) not supported: none of the ([\d,]+) packets could be decoded \(supported: (.+)\)",
   lambda m: f"不支持链路类型 {m[1]}：{m[2]} 个数据包都无法解码（支持：{_LINKS_ZH}）",
   "link type 105 (IEEE 802.11) is not supported: none of the 5 packets could be decoded "
   "(supported: Ethernet, Linux cooked SLL/SLL2, raw IP, BSD loopback, PPP, Cisco HDLC)", (3,))
_r(r"a broken gzip file \((.*)\)", lambda m: f"gzip 文件已损坏（{m[1]}）", "a broken gzip file (Not a gzipped file (b'xx'))")
_r(r"a Parquet file, but not flow records written by `minewatch collect`",
   lambda m: "这是 Parquet 文件，但不是 `minewatch collect` 写出的流记录",
   "a Parquet file, but not flow records written by `minewatch collect`")
_r(r"neither a packet capture, a flow log nor a text meter file", lambda m: "既不是抓包文件、流日志，也不是文本电表文件",
   "neither a packet capture, a flow log nor a text meter file")
# capture reject reasons (Rejects keys)
_r(r"truncated record", lambda m: "记录被截断", "truncated record")
_r(r"broken gzip stream", lambda m: "gzip 数据流损坏", "broken gzip stream")
_r(r"absurd record length", lambda m: "记录长度不合理", "absurd record length")
_r(r"bad pcapng block", lambda m: "pcapng 块损坏", "bad pcapng block")
_r(r"bad pcapng section header", lambda m: "pcapng 节头损坏", "bad pcapng section header")
_r(r"packet for undeclared pcapng interface", lambda m: "数据包属于未声明的 pcapng 接口", "packet for undeclared pcapng interface")
_r(r"bytes after a broken record", lambda m: "损坏记录之后的字节", "bytes after a broken record")
_r(r"packet of unsupported link type (.+)", lambda m: f"链路类型不受支持的数据包：{m[1]}",
   "packet of unsupported link type 105 (IEEE 802.11)")
_r(r"payload cut by the capture's snaplen", lambda m: "载荷被抓包的 snaplen 截断", "payload cut by the capture's snaplen")
_r(r"packet cut inside its headers", lambda m: "数据包在协议头内被截断", "packet cut inside its headers")
_r(r"malformed IP header", lambda m: "IP 头格式错误", "malformed IP header")

# block feeds and node RPC (net/blocks.py)
_r(r"cannot open block feed: (.+)", lambda m: f"无法打开区块时间数据（{m[1]}）", "cannot open block feed: [Errno 2] No such file")
_r(r"empty block feed \(expected header coin,height,timestamp\)", lambda m: "区块时间数据为空（应有表头 coin,height,timestamp）",
   "empty block feed (expected header coin,height,timestamp)")
_r(r"block feed header lacks (.+) \(expected coin,height,timestamp\)",
   lambda m: f"区块时间数据的表头缺少 {_list(m[1])}（应为 coin,height,timestamp）",
   "block feed header lacks coin, height, timestamp (expected coin,height,timestamp)")
_r(r"bad block row \((.*)\)", lambda m: f"区块数据行有误{_detail(m[1])}", "bad block row (empty coin)", (1,))
_r(r"empty coin", lambda m: "币种为空", "empty coin")
_r(r"ISO timestamp without a time zone", lambda m: "ISO 时间没有时区", "ISO timestamp without a time zone")
_r(r"unknown node kind (.+) \(bitcoind or monerod\)", lambda m: f"未知节点类型 {m[1]}（应为 bitcoind 或 monerod）",
   "unknown node kind 'geth' (bitcoind or monerod)")
_r(r"node RPC spec (.+?): expected KIND\[:COIN\]=URL, e\.g\. (.+)",
   lambda m: f"节点 RPC 设置 {m[1]} 有误：应为 KIND[:COIN]=URL，例如 {m[2]}",
   "node RPC spec 'foo': expected KIND[:COIN]=URL, e.g. bitcoind=http://127.0.0.1:8332")
_r(r"node RPC spec (.+?): the URL must be http\(s\)://host:port",
   lambda m: f"节点 RPC 设置 {m[1]} 有误：URL 必须是 http(s)://主机:端口", "node RPC spec 'bitcoind=ftp://x': the URL must be http(s)://host:port")
_r(r"(\w+) RPC at (\S+): (.+)", lambda m: f"无法访问 {m[2]} 的 {m[1]} RPC（{m[3]}）",
   "bitcoind RPC at http://127.0.0.1:1: <urlopen error [Errno 111] Connection refused>")
_r(r"(\w+) RPC: (\d+) blocks between the capture's start and end is more than (\d+); give --since/--until or a CSV block feed",
   lambda m: f"{m[1]} RPC：抓包起止之间有 {m[2]} 个区块，超过上限 {m[3]}；请给出 --since/--until 或 CSV 区块时间数据",
   "bitcoind RPC: 5000 blocks between the capture's start and end is more than 2000; give --since/--until or a CSV block feed")
_r(r"(\w+) RPC (\S+?): batch request not answered with a list", lambda m: f"{m[1]} RPC {m[2]}：批量请求的应答不是列表",
   "bitcoind RPC getblockhash: batch request not answered with a list")
_r(r"(\w+) RPC (\S+): (.+)", lambda m: f"{m[1]} RPC {m[2]} 返回错误（{m[3]}）", "bitcoind RPC getblockcount: {'code': -28}")

# Zeek / EVE logs (sources/zeek.py, sources/eve.py, net/logscan.py)
_r(r"cannot read further: (.+)", lambda m: f"无法继续读取（{m[1]}）", "cannot read further: Compressed file ended")
_r(r"not a Zeek log \(looks like (.+)\)", lambda m: f"不是 Zeek 日志（看起来是 {m[1]}）", "not a Zeek log (looks like eve)")
_r(r"malformed (\w+) line: (.+)", lambda m: f"{m[1]} 行格式错误{_detail(m[2])}", "malformed conn line: not valid JSON", (2,))
_r(r"malformed EVE (\w+) event", lambda m: f"EVE {m[1]} 事件格式错误", "malformed EVE flow event")
_r(r"malformed EVE line: (.+)", lambda m: f"EVE 行格式错误{_detail(m[1])}", "malformed EVE line: no event_type", (1,))
_r(r"not valid JSON", lambda m: "不是有效的 JSON", "not valid JSON")
_r(r"(?:JSON )?line is not (?:a JSON )?(?:an )?object", lambda m: "该行不是 JSON 对象", "line is not a JSON object")
_r(r"no event_type", lambda m: "没有 event_type", "no event_type")
_r(r"netflow end before start", lambda m: "netflow 结束时间早于开始时间", "netflow end before start")
_r(r"(\w+) is not an object", lambda m: f"{m[1]} 不是对象", "flow is not an object")
_r(r"not an integer: (.+)", lambda m: f"不是整数：{m[1]}", "not an integer: 'x'")
_r(r"not a time: (.+)", lambda m: f"不是时间：{m[1]}", "not a time: 'x'")
_r(r"not a boolean: (.+)", lambda m: f"不是布尔值：{m[1]}", "not a boolean: 'x'")
_r(r"boolean is not a time", lambda m: "布尔值不是时间", "boolean is not a time")
_r(r"boolean where a count was expected", lambda m: "此处应为计数，却是布尔值", "boolean where a count was expected")
_r(r"boolean where a number was expected", lambda m: "此处应为数字，却是布尔值", "boolean where a number was expected")
_r(r"TCP flags out of range: (.+)", lambda m: f"TCP 标志超出范围：{m[1]}", "TCP flags out of range: 999")
_r(r"time out of range \(before 1970 or after 9999\)", lambda m: "时间超出范围（早于 1970 年或晚于 9999 年）",
   "time out of range (before 1970 or after 9999)")
_r(r"(\S+) out of range \(before 1970 or after 9999\): set to null", lambda m: f"{m[1]} 超出范围（早于 1970 年或晚于 9999 年）：已置为空",
   "ts out of range (before 1970 or after 9999): set to null")
_r(r"number out of range: (-?\d+) \(allowed (-?\d+)\.\.(-?\d+)\)", lambda m: f"数字超出范围：{m[1]}（允许 {m[2]}..{m[3]}）",
   "number out of range: -5 (allowed 0..9223372036854775807)")
_r(r"duration is not a non-negative number: (.+)", lambda m: f"时长不是非负数：{m[1]}", "duration is not a non-negative number: -1.0")
_r(r"data line before the #fields header", lambda m: "数据行出现在 #fields 表头之前", "data line before the #fields header")
_r(r"(\d+) fields where the header has (\d+)", lambda m: f"该行有 {m[1]} 个字段，而表头有 {m[2]} 个", "1 fields where the header has 10")
_r(r"Zeek header #separator without a value \(tab kept\)", lambda m: "Zeek 表头 #separator 没有值（沿用制表符）",
   "Zeek header #separator without a value (tab kept)")
_r(r"Zeek header #separator not readable \(tab kept\)", lambda m: "Zeek 表头 #separator 无法读取（沿用制表符）",
   "Zeek header #separator not readable (tab kept)")
_r(r"(\S+) lines inside a (\S+) log \(give each log its own file\)",
   lambda m: f"{m[2]} 日志中混有 {m[1]} 行（请每种日志各用一个文件）", "dns lines inside a conn log (give each log its own file)")
_r(r"(.+): value does not fit its column", lambda m: f"{_whole(m[1]) or m[1]}：值不符合其列类型", "malformed conn line: value does not fit its column", (1,))

# NetFlow / IPFIX collector (sources/netflow.py, sources/collector.py)
_r(r"--listen expects HOST:PORT, got (.+)", lambda m: f"--listen 应为 主机:端口，实际为 {m[1]}", "--listen expects HOST:PORT, got 'garbage'")
_r(r"receiver must be auto, recvmmsg or recvfrom, got (.+)", lambda m: f"接收方式应为 auto、recvmmsg 或 recvfrom，实际为 {m[1]}",
   "receiver must be auto, recvmmsg or recvfrom, got 'x'")
_r(r"held data without template at shutdown", lambda m: "停止时仍缺模板的暂存数据", "held data without template at shutdown")
_r(r"held data expired without its template", lambda m: "暂存数据超时仍未等到模板", "held data expired without its template")
_r(r"unknown NetFlow version (\d+)", lambda m: f"未知 NetFlow 版本 {m[1]}", "unknown NetFlow version 26465")
_r(r"v5 datagram shorter than its record count", lambda m: "v5 数据报短于其记录数所需长度", "v5 datagram shorter than its record count")
_r(r"v5 header truncated", lambda m: "v5 报头被截断", "v5 header truncated")
_r(r"v5 count (\d+) out of range 1-30", lambda m: f"v5 记录数 {m[1]} 超出范围 1-30", "v5 count 99 out of range 1-30")
_r(r"v9 header truncated", lambda m: "v9 报头被截断", "v9 header truncated")
_r(r"IPFIX header truncated", lambda m: "IPFIX 报头被截断", "IPFIX header truncated")
_r(r"IPFIX length (\d+) does not match datagram of (\d+) bytes", lambda m: f"IPFIX 长度 {m[1]} 与 {m[2]} 字节的数据报不符",
   "IPFIX length 100 does not match datagram of 90 bytes")
_r(r"datagram shorter than 4 bytes", lambda m: "数据报短于 4 字节", "datagram shorter than 4 bytes")
# sFlow v5 (sources/sflow.py)
_r(r"sFlow datagram truncated", lambda m: "sFlow 数据报被截断", "sFlow datagram truncated")
_r(r"sFlow version is not 5", lambda m: "sFlow 版本不是 5", "sFlow version is not 5")
_r(r"sFlow agent address type (\d+)", lambda m: f"sFlow 代理地址类型 {m[1]} 无效", "sFlow agent address type 9")
_r(r"sFlow sample count (\d+) out of range", lambda m: f"sFlow 样本数 {m[1]} 超出范围", "sFlow sample count 1000000 out of range")
_r(r"sFlow flow record count (\d+) out of range", lambda m: f"sFlow 流记录数 {m[1]} 超出范围",
   "sFlow flow record count 99999 out of range")
_r(r"sFlow flow sample without a packet header or IP record", lambda m: "sFlow 流样本既无报文头也无 IP 记录",
   "sFlow flow sample without a packet header or IP record")
_r(r"sFlow sampled header of (.+) not decoded", lambda m: f"未解码 {m[1]} 类型的 sFlow 抽样报文头",
   "sFlow sampled header of token ring not decoded")
_r(r"sFlow sampled header carries no IP packet", lambda m: "sFlow 抽样报文头中没有 IP 报文",
   "sFlow sampled header carries no IP packet")
_r(r"sFlow sampled header is cut inside its IP or transport header", lambda m: "sFlow 抽样报文头在 IP 或传输层头部内被截断",
   "sFlow sampled header is cut inside its IP or transport header")
_r(r"sFlow sampled header has a malformed IP header", lambda m: "sFlow 抽样报文头的 IP 头部格式错误",
   "sFlow sampled header has a malformed IP header")
_r(r"v9 options template malformed", lambda m: "v9 选项模板格式错误", "v9 options template malformed")
_r(r"options template truncated", lambda m: "选项模板被截断", "options template truncated")
_r(r"template truncated", lambda m: "模板被截断", "template truncated")
_r(r"template id (\d+) below 256", lambda m: f"模板编号 {m[1]} 小于 256", "template id 12 below 256")
_r(r"v9 template with variable length field", lambda m: "v9 模板含变长字段", "v9 template with variable length field")
_r(r"template (\d+) has no fields or a zero-length field", lambda m: f"模板 {m[1]} 没有字段或含零长度字段",
   "template 300 has no fields or a zero-length field")
_r(r"truncated variable-length record", lambda m: "变长记录被截断", "truncated variable-length record")
_r(r"set (\d+) length (\d+) overruns the message", lambda m: f"数据集 {m[1]} 的长度 {m[2]} 超出报文", "set 2 length 900 overruns the message")
_r(r"reserved set id (\d+)", lambda m: f"保留的数据集编号 {m[1]}", "reserved set id 5")
_r(r"trailing bytes after last set", lambda m: "最后一个数据集之后有多余字节", "trailing bytes after last set")
_r(r"no template and hold buffer full", lambda m: "没有模板且暂存缓冲区已满", "no template and hold buffer full")
_r(r"decoder error: (\w+)", lambda m: f"解码错误：{m[1]}", "decoder error: KeyError")
_r(r"decoder error: (\w+) converting a record", lambda m: f"转换记录时解码错误：{m[1]}",
   "decoder error: ArrowInvalid converting a record")

# pool lists and the allow-list (net/intel.py)
_r(r"unknown list format (.+) \(one of (.+)\)", lambda m: f"未知列表格式 {m[1]}（可用：{_list(m[2])}）",
   "unknown list format 'x' (one of auto, hosts, domains)")
_r(r"cannot read list: (.+)", lambda m: f"无法读取列表（{m[1]}）", "cannot read list: Permission denied")
_r(r"(pool #\d+(?: .+?)?): not a mapping", lambda m: f"{m[1]}：不是键值映射", "pool #3: not a mapping")
_r(r"(pool #\d+(?: .+?)?): missing (.+)", lambda m: f"{m[1]}：缺少 {_list(m[2])}", "pool #3 'x': missing coins, ports")
_r(r"(pool #\d+(?: .+?)?): bad domain (.+)", lambda m: f"{m[1]}：域名 {m[2]} 有误", "pool #3 'x': bad domain 'a..b'")
_r(r"(pool #\d+(?: .+?)?): port out of range", lambda m: f"{m[1]}：端口超出范围", "pool #3 'x': port out of range")
_r(r"not a domain name: (.+)", lambda m: f"不是域名：{m[1]}", "not a domain name: 'a..b'")
_r(r"exception (.+) would cancel the whole rule for (.+)", lambda m: f"例外 {m[1]} 会使 {m[2]} 的整条规则失效",
   "exception 'example.org' would cancel the whole rule for example.org")
_r(r"not UTF-8 text", lambda m: "不是 UTF-8 文本", "not UTF-8 text")
_r(r"hosts line without a name", lambda m: "hosts 行没有主机名", "hosts line without a name")
_r(r"hosts line does not start with an address", lambda m: "hosts 行不是以地址开头", "hosts line does not start with an address")
_r(r"nDPI line is not host<TAB>category", lambda m: "nDPI 行不是“主机<TAB>类别”格式", "nDPI line is not host<TAB>category")
_r(r"more than one field on the line", lambda m: "该行有不止一个字段", "more than one field on the line")
_r(r"unreadable", lambda m: "无法识别", "unreadable")
_r(r"an address in a domain list", lambda m: "域名列表中出现了地址", "an address in a domain list")
_r(r"a name in an address list", lambda m: "地址列表中出现了名称", "a name in an address list")
_r(r"an address where a host name belongs", lambda m: "此处应为主机名，却是地址", "an address where a host name belongs")
_r(r"bad port", lambda m: "端口有误", "bad port")
_r(r"bad CIDR", lambda m: "CIDR 有误", "bad CIDR")
_r(r"CIDR too wide to be a pool", lambda m: "CIDR 范围太大，不可能是矿池", "CIDR too wide to be a pool")
_r(r"unspecified or loopback address", lambda m: "未指定地址或环回地址", "unspecified or loopback address")
_r(r"malformed IPv4 address", lambda m: "IPv4 地址格式错误", "malformed IPv4 address")
_r(r"not a host name", lambda m: "不是主机名", "not a host name")
_r(r"single-label name \(a TLD or local name\)", lambda m: "单标签名称（顶级域或本地名称）", "single-label name (a TLD or local name)")

# probe (net/probe.py)
_r(r"expected HOST:PORT, got (.+)", lambda m: f"应为 主机:端口，实际为 {m[1]}", "expected HOST:PORT, got 'nohostport'")
_r(r"--timeout must be a positive number of seconds, got (.+)", lambda m: f"--timeout 应为正的秒数，实际为 {m[1]}",
   "--timeout must be a positive number of seconds, got -1.0")
_r(r"(\w*(?:Error|timeout|gaierror)): (.*)", lambda m: f"{_EXC_ZH[m[1]]}（{m[1]}: {m[2]}）" if m[1] in _EXC_ZH
   else f"{m[1]}: {m[2]}", "ConnectionRefusedError: [Errno 111] Connection refused")

# engines (engines/local.py, engines/spark.py)
_r(r"no such file or folder", lambda m: "没有这个文件或目录", "no such file or folder")
_r(r"not readable as Parquet \((.*)\)", lambda m: f"无法作为 Parquet 读取（{m[1]}）",
   "not readable as Parquet (Invalid Input Error: No magic bytes found at end of file 'garbage.pcap')")
_r(r"no findings folder here \(run `minewatch spark` with --out first\)",
   lambda m: "这里没有 findings 目录（请先用 --out 运行 `minewatch spark`）",
   "no findings folder here (run `minewatch spark` with --out first)")
_r(r"not a finding record \((.*)\)", lambda m: f"不是结果记录（{m[1]}）", "not a finding record ('kind')")
_r(r"a long meter table needs meter, time and value columns; found (.*)",
   lambda m: f"长格式电表数据需要电表、时间和数值三列；实际列：{_list(m[1])}",
   "a long meter table needs meter, time and value columns; found a, b")
_r(r"not a flow table: missing (.+)", lambda m: f"不是流量表：缺少 {_list(m[1])}", "not a flow table: missing dst_ip, dst_port")

# meter files (power/readers.py): errors
_r(r"file not found", lambda m: "文件不存在", "file not found")
_r(r"empty file", lambda m: "空文件", "empty file")
_r(r"not a readable Parquet file \((.*)\)", lambda m: f"不是可读取的 Parquet 文件（{m[1]}）", "not a readable Parquet file (bad magic)")
_r(r"malformed CSV \((.*)\)", lambda m: f"CSV 格式错误（{m[1]}）", "malformed CSV (invalid utf-8 sequence)")
_r(r"cannot tell the layout: expected long \(meter, time, value\), wide \(time \+ one column per meter\), "
   r"daily \(customer \+ one column per date\) or points \(meter, date \+ one column per point of the day: "
   r"00:15 … 24:00 or P1 … P96\) columns; got (.*)",
   lambda m: "无法判断数据布局：应为长格式（电表、时间、数值）、宽格式（时间 + 每块电表一列）、"
   f"日格式（用户 + 每天一列）或点格式（电表、日期 + 每个时点一列：00:15 … 24:00 或 P1 … P96）；实际列：{_list(m[1])}",
   "cannot tell the layout: expected long (meter, time, value), wide (time + one column per meter), "
   "daily (customer + one column per date) or points (meter, date + one column per point of the day: "
   "00:15 … 24:00 or P1 … P96) columns; got foo, bar")
_r(r"unknown layout (.+)", lambda m: f"未知布局 {m[1]}", "unknown layout 'x'")
_r(r"daily table has unparsable date columns", lambda m: "日格式表中有无法解析的日期列", "daily table has unparsable date columns")
_r(r"no parsable timestamps in temperature file", lambda m: "气温文件中没有可解析的时间戳", "no parsable timestamps in temperature file")
_r(r"metadata file not found", lambda m: "档案文件不存在", "metadata file not found")
_r(r"metadata path is a directory", lambda m: "档案路径是一个目录", "metadata path is a directory")
_r(r"metadata is neither UTF-8 nor GB18030/GBK text", lambda m: "档案既不是 UTF-8 也不是 GB18030/GBK 文本",
   "metadata is neither UTF-8 nor GB18030/GBK text")
_r(r"empty metadata file", lambda m: "档案文件为空", "empty metadata file")
_r(r"metadata needs a meter_id column", lambda m: "档案需要 meter_id 列", "metadata needs a meter_id column")
_r(r"row without meter_id", lambda m: "该行没有 meter_id", "row without meter_id")
_r(r"contracted_kw (.+) is not a number", lambda m: f"contracted_kw {m[1]} 不是数字", "contracted_kw 'abc' is not a number")
# meter files: reject reasons
_r(r"unparsable (meter id|value|timestamp|date|line)", lambda m: f"无法解析的{_WHAT_ZH[m[1]]}", "unparsable meter id", (1,))
_r(r"timestamp far outside the meter's readings", lambda m: "远离该表其余读数的时间戳", "timestamp far outside the meter's readings")
_r(r"off-grid timestamp", lambda m: "不在采集网格上的时间戳", "off-grid timestamp")
# meter files: data-quality details (DataIssue.detail)
_r(r"(\d+) slot\(s\) missing \(([\d.e+]+) h\)", lambda m: f"缺 {m[1]} 个时段（{m[2]} 小时）", "10 slot(s) missing (10 h)")
_r(r"(\d+) repeated timestamp\(s\)( with different values)?; first kept \((.+?)\), others dropped \((.+?)(, …)?\)",
   lambda m: f"{m[1]} 个重复时间戳{'（取值不同）' if m[2] else ''}；保留第一个（{_where_zh(m[3])}），"
   f"其余丢弃（{_where_zh(m[4])}{'，…' if m[5] else ''}）",
   "1 repeated timestamp(s); first kept (bad_meter.csv line 1832), others dropped (bad_meter.csv line 1833)", (2,))
_r(r"(\d+) negative reading\(s\), min (-?[\d.]+) \((.+)\); set to null",
   lambda m: f"{m[1]} 个负值读数，最小 {m[2]}（{_where_zh(m[3])}）；已置为空",
   "2 negative reading(s), min -3.000 (bad_meter.csv line 192); set to null")
_r(r"(.+?): unparsable (meter id|value|timestamp|date)(?: in column (.+?))? in (\d+) (?:line|row)\(s\): (.+)",
   lambda m: f"{m[1]}：{m[4]} 行的{_WHAT_ZH[m[2]]}无法解析{f'（列 {m[3]}）' if m[3] else ''}：第 {_lines_list(m[5])} 行",
   "bad_meter.csv: unparsable value in column 'kwh' in 1 line(s): 1732", (2,))
_r(r"(.+?): unparsable (meter id|value|timestamp|date) in (\d+) (?:line|row)\(s\) holding (\d+) reading\(s\): (.+)",
   lambda m: f"{m[1]}：{m[3]} 行的{_WHAT_ZH[m[2]]}无法解析（共 {m[4]} 个读数）：第 {_lines_list(m[5])} 行",
   "p24.csv: unparsable date in 1 line(s) holding 24 reading(s): 4", (2,))
_r(r"(.+?): (\d+) line\(s\) not readable as table rows \(a field too many, a stray quote\), (\d+) reading\(s\) "
   r"lost: line\(s\) (.+?)(?:; meter\(s\) (.+) kept with these readings as gaps)?",
   lambda m: f"{m[1]}：{m[2]} 行无法按表格行读取（多出字段或引号不成对），丢失 {m[3]} 个读数：第 {_lines_list(m[4])} 行"
   + (f"；电表 {_lines_list(m[5])} 已保留，这些读数记为缺失" if m[5] else ""),
   "p96.csv: 1 line(s) not readable as table rows (a field too many, a stray quote), 96 reading(s) lost: line(s) 6; "
   "meter(s) 310000 kept with these readings as gaps")
_r(r"(.+?): unparsable value in (\d+) cell\(s\): (.+)",
   lambda m: f"{m[1]}：{m[2]} 个单元格的数值无法解析：{_where_zh(' ' + m[3]).strip().replace(', ', '，')}",
   "daily.csv: unparsable value in 1 cell(s): line 3 column '2023-01-02'")
_r(r"(\d+) reading\(s\) more than (\d+)% of the interval off the (\d+) s grid, dropped: (.+)",
   lambda m: f"{m[1]} 个读数偏离 {m[3]} 秒采集网格超过间隔的 {m[2]}%，已丢弃：{_examples_zh(m[4])}",
   "1 reading(s) more than 10% of the interval off the 3600 s grid, dropped: 2023-01-05 00:17:00 (bad_meter.csv line 2875)")
_r(r"(\d+) reading\(s\) far outside the meter's other readings \((.+?) … (.+?)\), dropped: (.+)",
   lambda m: f"{m[1]} 个读数远离该表其余读数（{m[2]} … {m[3]}），已丢弃：{_examples_zh(m[4])}",
   "1 reading(s) far outside the meter's other readings (2023-01-01 … 2023-03-01), dropped: "
   "2203-01-06 00:00:00 (bad_meter.csv line 2876)")
_r(r"register fell by ([\d.]+) kWh \((.+)\)", lambda m: f"表码下降 {m[1]} kWh（{_where_zh(m[2])}）",
   "register fell by 1444.100 kWh (reset_meter.csv line 302)")
_r(r"(\d+) more register reset\(s\)", lambda m: f"另有 {m[1]} 次表码回零", "4 more register reset(s)")
_r(r"values rise in (\d+)% and fall in (\d+)% of the steps, like a running total \(cumulative register\) rather than "
   r"energy per interval; taken as energy per interval: check the export",
   lambda m: f"数值在 {m[1]}% 的步长上升、{m[2]}% 的步长下降，像是累计表码而不是每个间隔的电量；"
   "仍按每个间隔的电量处理：请检查导出设置",
   "values rise in 60% and fall in 40% of the steps, like a running total (cumulative register) rather than "
   "energy per interval; taken as energy per interval: check the export")
_r(r"reading interval changes from (\d+) s to (\d+) s \((.+?)\); each reading converted by its own interval, "
   r"series on the (\d+) s grid",
   lambda m: f"采集间隔从 {m[1]} 秒变为 {m[2]} 秒（{_where_zh(m[3])}）；每条读数按其自身间隔换算，序列使用 {m[4]} 秒网格",
   "reading interval changes from 900 s to 3600 s (m.csv line 40); each reading converted by its own interval, "
   "series on the 3600 s grid")
_r(r"(.+?): column (.+) taken as kWh per interval", lambda m: f"{m[1]}：列 {m[2]} 按每个间隔的电量（kWh）处理",
   "m.csv: column 'reading' taken as kWh per interval")
_r(r"(.+?): points of the day taken as kW \(load curve\); --unit kwh for energy",
   lambda m: f"{m[1]}：各时点数值按功率（kW，负荷曲线）处理；如为电量请用 --unit kwh",
   "p96.csv: points of the day taken as kW (load curve); --unit kwh for energy")
_r(r"(.+?): column (\S+) is the next day's 00:00 \(both ends of the day are exported\); not read",
   lambda m: f"{m[1]}：{m[2]} 列即次日 00:00（导出同时含一天的首尾两点）；未读取",
   "p97.csv: column 24:00 is the next day's 00:00 (both ends of the day are exported); not read")
_r(r"(.+?): (\d+) row\(s\) of other data items in column (.+?) not read \((.*)\)",
   lambda m: f"{m[1]}：列 {m[3]} 中其他数据项的 {m[2]} 行未读取（{m[4]}）",
   "items.csv: 40 row(s) of other data items in column '数据项' not read (A相电压 20, 正向有功电量 20)")
_r(r"looks like a day-by-points export \((\d+) time-of-day columns beside a meter and a date column\), but the "
   r"columns are not the evenly spaced points of one day \(24, 48, 96 or 288 a day, in order\): (.*)",
   lambda m: f"看似按天分点的导出格式（电表、日期列旁有 {m[1]} 个时点列），但这些列不是一天中等间隔的时点"
   f"（每天 24、48、96 或 288 点，按顺序）：{m[2]}",
   "looks like a day-by-points export (40 time-of-day columns beside a meter and a date column), but the columns "
   "are not the evenly spaced points of one day (24, 48, 96 or 288 a day, in order): 00:15, 00:20 … 23:00")
_r(r"not a points table: no full day of point columns beside a meter and a date column",
   lambda m: "不是按天分点的表：电表和日期列旁没有一整天的时点列",
   "not a points table: no full day of point columns beside a meter and a date column")
_r(r"spreadsheet needs more than (\d+) GB to load \(a sheet whose used range is far larger than its data\?\): (.*)",
   lambda m: f"电子表格加载需要超过 {m[1]} GB 内存（某工作表的使用区域远大于其数据？）：{m[2]}",
   "spreadsheet needs more than 3 GB to load (a sheet whose used range is far larger than its data?): "
   "memory allocation of 549755813888 bytes failed")
_r(r"spreadsheet not read within (\d+) s", lambda m: f"电子表格未能在 {m[1]} 秒内读取", "spreadsheet not read within 600 s")
_r(r"(.+?): wide columns taken as kW", lambda m: f"{m[1]}：宽格式各列按功率（kW）处理", "wide.csv: wide columns taken as kW")
_r(r"(.+?): meter listed (\d+) times, lines (.+?)( with different values)?; line (\d+) used",
   lambda m: f"{m[1]}：电表出现 {m[2]} 次（第 {_lines_list(m[3])} 行）{'，取值不同' if m[4] else ''}；使用第 {m[5]} 行",
   "meta.csv: meter listed 2 times, lines 3, 7 with different values; line 3 used", (4,))

_r(r"(.+?): line (\d+): contracted_kw (.+) is not a positive number of kW; left unknown",
   lambda m: f"{m[1]}：第 {m[2]} 行：合同容量 {m[3]} 不是正的千瓦数；按未知处理",
   "meta.csv: line 4: contracted_kw 'n/a' is not a positive number of kW; left unknown")
_r(r"(.+?): sheet (.+?): (.+); skipped",
   lambda m: f"{m[1]}：工作表 {m[2]}：{to_zh(m[3])}；已跳过",
   "book.xlsx: sheet 说明: cannot tell the layout: expected long (meter, time, value), wide (time + one column per "
   "meter), daily (customer + one column per date) or points (meter, date + one column per point of the day: "
   "00:15 … 24:00 or P1 … P96) columns; got 备注; skipped", worded=(3,))
_r(r"the resolver-log clock must be between -14 and 14 hours, got (.*)",
   lambda m: f"解析服务器日志的时钟须在 -14 到 14 小时之间，实际为 {m[1]}",
   "the resolver-log clock must be between -14 and 14 hours, got '30'")
_r(r"resolver log cut short after line (\d+) \((.*)\)", lambda m: f"解析服务器日志在第 {m[1]} 行后被截断（{m[2]}）",
   "resolver log cut short after line 120 (Compressed file ended before the end-of-stream marker was reached)")
_r(r"unreadable Parquet file \((.*)\)", lambda m: f"无法读取的 Parquet 文件（{m[1]}）",
   "unreadable Parquet file (Parquet magic bytes not found in footer.)")
_r(r"records of an unreadable Parquet file", lambda m: "无法读取的 Parquet 文件中的记录",
   "records of an unreadable Parquet file")
_r(r"Parquet column (\S+) cannot be (\S+): the file's records", lambda m: f"Parquet 列 {m[1]} 无法转换为 {m[2]}：该文件的记录",
   "Parquet column src_port cannot be int32: the file's records")
_r(r"resolver log query without a readable time", lambda m: "解析服务器日志中时间无法读取的查询",
   "resolver log query without a readable time")
_r(r"resolver log query time out of range \(before 1970 or after 9999\)",
   lambda m: "解析服务器日志中时间超出范围（早于 1970 年或晚于 9999 年）的查询",
   "resolver log query time out of range (before 1970 or after 9999)")
_r(r"unreadable nfdump record \((.*)\)", lambda m: f"无法读取的 nfdump 记录（{m[1]}）",
   "unreadable nfdump record (3 fields, expected 13)")
_r(r"nfdump could not read all of it after (\d+) record\(s\): (.*)",
   lambda m: f"nfdump 读取 {m[1]} 条记录后无法继续：{m[2]}",
   "nfdump could not read all of it after 0 record(s): Short read from file: /x/nfcapd.1")
_r(r"nfdump could not list its exporters' sampling \(nfdump -E\): (.*); its records were read without it",
   lambda m: f"nfdump 无法列出导出器的抽样设置（nfdump -E）：{m[1]}；其记录已在不含抽样信息的情况下读取",
   "nfdump could not list its exporters' sampling (nfdump -E): bad magic: 0x6F72; its records were read without it")
_r(r"an nfcapd file: reading it needs nfdump \(Debian package nfdump\)",
   lambda m: "这是 nfcapd 文件：需要 nfdump 才能读取（Debian 软件包 nfdump）",
   "an nfcapd file: reading it needs nfdump (Debian package nfdump)")
_r(r"(\d+) nfcapd file\(s\) not read: (.+?)(?: \(and (\d+) more\))?",
   lambda m: f"{m[1]} 个 nfcapd 文件未读取：{to_zh(m[2])}" + (f"（另有 {m[3]} 个）" if m[3] else ""),
   "2 nfcapd file(s) not read: /a/nfcapd.2: not an nfcapd file (and 1 more)", worded=(2,))
_r(r"(.+): not an nfcapd file", lambda m: f"{m[1]}：不是 nfcapd 文件", "/a/nfcapd.2: not an nfcapd file")
_r(r"spreadsheet has no sheet with a header and data rows", lambda m: "电子表格中没有带表头和数据行的工作表",
   "spreadsheet has no sheet with a header and data rows")
_r(r"spreadsheet has no sheet with a header and data rows \((.*)\)",
   lambda m: f"电子表格中没有带表头和数据行的工作表（{'；'.join(_sheet_zh(x) for x in m[1].split('; '))}）",
   "spreadsheet has no sheet with a header and data rows (Sheet1: empty sheet; 说明: no table of readings (a header "
   "and data rows), its first cell reads '备注')", worded=(1,))
_r(r"empty sheet", lambda m: "空工作表", "empty sheet")
_r(r"no table of readings \(a header and data rows\), its first cell reads (.+)",
   lambda m: f"没有读数表格（表头和数据行），第一个单元格为 {m[1]}",
   "no table of readings (a header and data rows), its first cell reads 'Exported from the AMI head-end'")
_r(r"holds no readings: no number in column\(s\) (.+) \(a sheet of notes\?\)",
   lambda m: f"没有读数：列 {m[1]} 中没有数字（可能是说明页）",
   "holds no readings: no number in column(s) 'remark' (a sheet of notes?)")
_r(r"no sheet holds meter readings \((.*)\)", lambda m: f"没有任何工作表含有电表读数（{to_zh(m[1])}）",
   "no sheet holds meter readings (说明: no data)", worded=(1,))
_r(r"not a readable spreadsheet \((.*)\)", lambda m: f"不是可读取的电子表格（{m[1]}）",
   "not a readable spreadsheet (invalid zip header)")
_r(r"(.+?): line (\d+): row without meter_id; skipped", lambda m: f"{m[1]}：第 {m[2]} 行：缺少电表编号；已跳过",
   "meta.csv: line 5: row without meter_id; skipped")

#: pcap parts named in "truncated ..." messages
_PART_ZH = {"pcap record": "pcap 记录", "pcapng block": "pcapng 块", "pcap file header": "pcap 文件头",
            "pcap header": "pcap 文件头", "pcapng section header": "pcapng 节头"}
_LINKS_ZH = "以太网、Linux cooked SLL/SLL2、原始 IP、BSD 环回、PPP、Cisco HDLC"

# -- wording -------------------------------------------------------------------------------------------

_POSITION = re.compile(
    r"(?P<path>.*?)"
    r"(?:, byte (?P<byte>\d+)(?P<dec> of the decompressed stream(?: \(compressed file read up to byte (?P<cat>\d+)\))?)?)?"
    r"(?:, line (?P<line>\d+))?"
)


def _whole(message: str) -> str | None:
    """The Chinese of a message some rule matches whole, else None."""
    for rule in RULES:
        m = rule.pattern.fullmatch(message)
        if m:
            return rule.word(m)
    return None


def position_zh(path: str | None, offset: int | None = None, line: int | None = None,
                decompressed: bool = False, compressed_at: int | None = None) -> str:
    """Where an `InputError` happened, in Chinese: `文件 X，第 N 字节` / `第 N 行` / `解压后数据流的第 N 字节`."""
    parts = []
    if path:
        parts.append(str(path) if "://" in str(path) else f"文件 {path}")
    if offset is not None:
        if decompressed:
            at = f"解压后数据流的第 {offset} 字节"
            if compressed_at is not None:
                at += f"（压缩文件已读到第 {compressed_at} 字节）"
        else:
            at = f"第 {offset} 字节"
        parts.append(at)
    if line is not None:
        parts.append(f"第 {line} 行")
    return "，".join(parts)


#: how many ": " split points, within how many leading characters, `to_zh` tries (review 6: one try per
#: ": " made a 110 kB message take 53 s)
MAX_SPLITS = 8
MAX_HEAD = 2048


def to_zh(message: str) -> str:
    """`message` in Chinese where the catalogue knows it; unknown messages come back unchanged.

    A whole-message rule is tried first; then the message is read as an `InputError` string
    ("PATH, byte N: MESSAGE"), split at the first ": " whose remainder a rule knows.
    """
    zh = _whole(message)
    if zh is not None:
        return zh
    start = 0
    # the position prefix ("PATH, byte N") is short: only the first few ": " within the first
    # MAX_HEAD characters are tried, so a long message costs a few rule passes, not one per ": " in it
    for _ in range(MAX_SPLITS):
        i = message.find(": ", start, MAX_HEAD)
        if i <= 0:
            break
        head, tail = message[:i], message[i + 2 :]
        start = i + 1
        tail_zh = _whole(tail)
        if tail_zh is None:
            continue
        pm = _POSITION.fullmatch(head)
        if pm is None:  # pragma: no cover - the pattern matches any text
            continue
        at = position_zh(pm["path"], int(pm["byte"]) if pm["byte"] else None, int(pm["line"]) if pm["line"] else None,
                         bool(pm["dec"]), int(pm["cat"]) if pm["cat"] else None)
        return f"{at}：{tail_zh}" if at else tail_zh
    return message


def say(message: str, lang: str | None = None) -> str:
    """`message` in the active language (or `lang`): English as made, Chinese through the catalogue."""
    return to_zh(message) if (lang or current()) == "zh" else message


def error_text(e: BaseException, lang: str | None = None) -> str:
    """An exception for a person: for an `InputError` the position and the message both worded."""
    if (lang or current()) != "zh":
        return str(e) or type(e).__name__
    if isinstance(e, InputError):
        msg = to_zh(e.message)
        at = position_zh(e.path, e.offset, e.line, hasattr(e, "compressed_at"), getattr(e, "compressed_at", None))
        return f"{at}：{msg}" if at else msg
    return to_zh(str(e)) if str(e) else type(e).__name__


def error_prefix(lang: str | None = None) -> str:
    """The one prefix of an error line (`minewatch.i18n.error_prefix`, kept here for its callers)."""
    from minewatch.i18n import error_prefix as prefix

    return prefix(lang)


def reason_text(reason: str, lang: str | None = None) -> str:
    """A reject reason (a JSON key, English) for a person."""
    return say(reason, lang)


def example_text(example: str, reasons: Iterable[str], lang: str | None = None) -> str:
    """A `Rejects` example ("WHERE: REASON") for a person: the reason and the position words in Chinese."""
    if (lang or current()) != "zh":
        return example
    for r in sorted(reasons, key=len, reverse=True):
        if example.endswith(": " + r) and len(example) > len(r) + 2:
            where = example[: -len(r) - 2]
            m = re.fullmatch(r"(.*?:\d+): (.+)", where)  # "file:line: raw parser text"
            where = f"{m[1]}（{m[2]}）" if m else _where_zh(where)
            return f"{where}：{to_zh(r)}"
    return to_zh(example)


def reasons_text(counts: Mapping[str, int], lang: str | None = None, *, sep: str | None = None) -> str:
    """Reject counts as one line: "reason: n, ..." in English, "原因（n 条）；..." in Chinese, sorted by reason."""
    zh = (lang or current()) == "zh"
    items = sorted(counts.items())
    if zh:  # the count after the reason, in brackets: reasons themselves hold colons
        return (sep or "；").join(f"{to_zh(k)}（{v:,} 条）" for k, v in items)
    return (sep or ", ").join(f"{k}: {v:,}" for k, v in items)


def issue_name(kind: str, lang: str | None = None) -> str:
    """A power data-quality kind ("gap", "off_grid") as its name for a person."""
    en, zh = ISSUE_NAMES.get(kind, (kind, kind))
    return zh if (lang or current()) == "zh" else en


__all__ = [
    "ISSUE_NAMES", "RULES", "Rule", "error_prefix", "error_text", "example_text", "issue_name", "position_zh",
    "reason_text", "reasons_text", "say", "to_zh",
]  # fmt: skip
