"""Chinese wording of the English error messages the store and the web layer raise, for the error page.

Why here and not at each `raise`: the store's messages are also the CLI's, its log's and the API's
(`{"detail": ...}` stays English, like every JSON key), and the store does not know who reads them.
The page knows its reader's language, so it words the message at the last moment. Each pattern
matches a whole message; values inside it (ids, names, states) are carried over, states in their
Chinese names. A message no pattern knows is shown as it is (better English than nothing).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from minewatch.store.cases import STATE_NAMES


def _state(s: str) -> str:
    return STATE_NAMES.get(s, (s, s))[1]


def _states(text: str) -> str:
    return "、".join(_state(x.strip()) for x in text.split(",") if x.strip()) or text


_Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], str]]

_RULES: list[_Rule] = [
    (re.compile(r"no finding (.+)"), lambda m: f"没有发现 {m[1]}"),
    (re.compile(r"no case (\d+)"), lambda m: f"没有案件 {m[1]}"),
    (re.compile(r"no site (\d+)"), lambda m: f"没有场所 {m[1]}"),
    (re.compile(r"no user (\d+)"), lambda m: f"没有用户 {m[1]}"),
    (re.compile(r"no attachment (\d+)"), lambda m: f"没有附件 {m[1]}"),
    (re.compile(r"no job (.+)"), lambda m: f"没有扫描任务 {m[1]}"),
    (re.compile(r"no report format (.+)"), lambda m: f"没有报告格式 {m[1]}"),
    (re.compile(r"unknown export (.+)"), lambda m: f"未知导出类型 {m[1]}"),
    (re.compile(r"no active allow rule with id (\d+)"), lambda m: f"没有编号为 {m[1]} 的有效白名单规则"),
    (re.compile(r"case (\d+): (\w+) -> (\w+) is not allowed; next: none \(final state\)"),
     lambda m: f"案件 {m[1]}：不允许从“{_state(m[2])}”转为“{_state(m[3])}”；该状态为最终状态"),
    (re.compile(r"case (\d+): (\w+) -> (\w+) is not allowed; next: (.+)"),
     lambda m: f"案件 {m[1]}：不允许从“{_state(m[2])}”转为“{_state(m[3])}”；可转为：{_states(m[4])}"),
    (re.compile(r"case (\d+) is (\w+) \(a final state\): .*"),
     lambda m: f"案件 {m[1]} 已处于“{_state(m[2])}”（最终状态），不能再添加发现；新的证据请新建案件"),
    (re.compile(r"case (\d+) was changed by someone else meanwhile.*"),
     lambda m: f"案件 {m[1]} 刚被他人修改；请刷新后重试"),
    (re.compile(r"unknown state (.+?); states: .*"), lambda m: f"未知状态 {m[1]}"),
    (re.compile(r"a dismissal needs the reason it was a false alarm"), lambda m: "排除案件需要说明误报的原因"),
    (re.compile(r"case title is empty"), lambda m: "案件标题为空"),
    (re.compile(r"site name is empty"), lambda m: "场所名称为空"),
    (re.compile(r"a site needs at least one address range or meter id"), lambda m: "场所至少需要一个地址段或电表编号"),
    (re.compile(r"not an address or CIDR range: (.+)"), lambda m: f"不是地址或 CIDR 地址段：{m[1]}"),
    (re.compile(r"note is empty"), lambda m: "备注为空"),
    (re.compile(r"note is longer than (\d+) characters"), lambda m: f"备注超过 {m[1]} 个字符"),
    (re.compile(r"attachment is empty"), lambda m: "附件为空"),
    (re.compile(r"attachment is (\d+) bytes; the limit is (\d+)"), lambda m: f"附件大小 {m[1]} 字节，上限为 {m[2]} 字节"),
    (re.compile(r"an allow rule needs a reason"), lambda m: "白名单规则需要填写原因"),
    (re.compile(r"(\w+) (.+) is not a value of finding (.+)"), lambda m: f"{m[1]} {m[2]} 不是发现 {m[3]} 中的值"),
    (re.compile(r"user (.+) exists"), lambda m: f"用户 {m[1]} 已存在"),
    (re.compile(r"user name (.+?): use 1-64 letters, digits, _ \. @ -"),
     lambda m: f"用户名 {m[1]}：请使用 1-64 个字母、数字或 _ . @ -"),
    (re.compile(r"role (.+?): choose from (.+)"), lambda m: f"角色 {m[1]}：可选 {m[2]}"),
    (re.compile(r"password: at least (\d+) characters"), lambda m: f"密码至少需要 {m[1]} 个字符"),
    (re.compile(r"bad export parameter (.+?)(?:: .*)?"), lambda m: f"导出参数有误：{m[1]}"),
    (re.compile(r"upload larger than (\d+) bytes"), lambda m: f"上传文件超过 {m[1]} 字节"),
    (re.compile(r"the uploaded file is empty"), lambda m: "上传的文件为空"),
    (re.compile(r"at most (\d+) files in one upload"), lambda m: f"一次上传最多 {m[1]} 个文件"),
    (re.compile(r"no file in the upload"), lambda m: "上传中没有文件"),
    (re.compile(r"CSRF token missing or wrong; reload the log-in page"), lambda m: "CSRF 令牌缺失或错误；请刷新登录页"),
    (re.compile(r"Not Found"), lambda m: "页面不存在"),
    (re.compile(r"Method Not Allowed"), lambda m: "不支持此请求方法"),
]


def localise(message: str, lang: str) -> str:
    """`message` for a reader of `lang`: as it is in English, in Chinese where a rule knows it."""
    if lang != "zh":
        return message
    for pattern, word in _RULES:
        m = pattern.fullmatch(message)
        if m:
            return word(m)
    return message


__all__ = ["localise"]
