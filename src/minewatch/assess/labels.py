"""How an assessment's assumptions are named for people, in English and Chinese.

Why a module of its own: the CLI (`assess`), the case report and the web pages all print the same
assumption records (`energy.Assumption.to_dict`); their keys stay English (they are what `--factors`
files and JSON use), and each reader gets the name and the source in their language from here.
"""

from __future__ import annotations

from typing import Any

#: Chinese names of the assumptions an assessment prints; the English key stays beside it (it is
#: what `--factors` files and JSON use). Prefixes cover the per-model, per-country and per-convention keys.
_ASSUMPTION_ZH = {
    "pue": "电能利用效率 PUE", "uptime": "运行时间占比", "hashprice": "单位算力收益", "btc_price": "比特币价格",
    "network_hashrate": "全网算力", "tariff": "电价", "model_chosen": "选定机型", "model_efficient": "高效机型",
    "model_typical": "典型机型", "model_legacy": "老旧机型",
    "coal_factor_equivalent": "标准煤折算系数，等价值（每供一千瓦时电消耗的标准煤）",
    "coal_factor_calorific": "标准煤折算系数，当量值（一千瓦时电的热当量）", "coal_factor": "标准煤折算系数",
    "co2_factor": "二氧化碳排放因子", "fx": "汇率", "onset": "开始时间", "until": "截止时间",
    "revenue_since_onset_method": "自开始以来收入的算法", "hashrate_estimate": "算力估计",
    "fleet_day": "机群日期", "fx_by_year": "各年汇率",
}  # fmt: skip
#: English labels where the key alone is ambiguous: "equivalent value" also renders 当量值 in Chinese, so the
#: convention is named in both languages with what it means.
_ASSUMPTION_EN = {
    "coal_factor_equivalent": "coal_factor_equivalent (等价值 equivalent value: coal burnt to supply one kWh)",
    "coal_factor_calorific": "coal_factor_calorific (当量值 calorific value: heat content of one kWh)",
}
#: Fixed English source notes (factors.yaml and assess/) and their Chinese; citations of data sets stay as
#: written (names of publishers, files and licences are not translated).
_SOURCE_ZH = {
    "given by the user": "由用户给定",
    "assumed site overhead (fans, transformers, cooling) on top of the machines' rated power for an "
    "air-cooled farm": "假定风冷矿场在矿机额定功率之外的场地开销（风扇、变压器、散热）",
    "assumed 24/7 operation (mining sites run continuously)": "假定全天候运行（矿场连续运转）",
    "network revenue / hashrate": "全网收入 / 全网算力",
}


def assumption_zh(name: str) -> str:
    if name in _ASSUMPTION_ZH:
        return _ASSUMPTION_ZH[name]
    for key, zh in _ASSUMPTION_ZH.items():
        if name.startswith(key + "_"):
            return f"{zh} {name[len(key) + 1:]}"
    return name


def source_zh(source: str) -> str:
    for en, zh in _SOURCE_ZH.items():
        source = source.replace(en, zh)
    return source




def assumption_label(name: str, lang: str) -> str:
    """The assumption's name as printed: English (ambiguous keys explained), or Chinese with the key."""
    if lang == "zh":
        return f"{assumption_zh(name)}（{name}）"
    return _ASSUMPTION_EN.get(name, name)


def assumption_source(a: dict[str, Any], lang: str) -> str:
    """Where the value comes from, in the reader's language (citations stay as written)."""
    src = str(a.get("source") or "")
    if lang == "zh":
        return str(a.get("source_zh") or source_zh(src))
    return src
