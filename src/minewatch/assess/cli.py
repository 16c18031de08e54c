"""`minewatch assess ...` and `minewatch data ...`: impact of a site, of a stored finding, of the network.

Why every line carries its unit and the assumption list is always printed: these figures go into penalty
decisions and reports, where a number without its basis (model, efficiency, factor, price and its date)
cannot be defended.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import typer

from minewatch.assess import network as netmod
from minewatch.assess import network_index as ni
from minewatch.assess.hardware import ALGO_UNIT, HASH_UNITS, load_catalog, normalise_algorithm
from minewatch.assess.labels import assumption_label, assumption_source
from minewatch.assess.site import (
    Assessment,
    assess_from_hashrate,
    assess_from_power,
    site_pue,
    with_finding_count,
)
from minewatch.errors import InputError, MinewatchError, Rejects
from minewatch.i18n import current, tr

app = typer.Typer(
    help=tr(
        "Impact: machines, kWh, standard coal, CO2 and money for a site, a finding or the Bitcoin network.",
        "影响评估：矿场、检测结果或整个比特币网络的矿机数、电量、标准煤、二氧化碳和收益。",
    ),
    no_args_is_help=True,
    add_completion=False,
)
data_app = typer.Typer(
    help=tr("Network data (Coin Metrics) used by the assessments.", "评估所用的网络数据（Coin Metrics）。"),
    no_args_is_help=True,
    add_completion=False,
)


def _n(v: float | None, digits: int = 0) -> str:
    if v is None:
        return tr("unknown", "未知")
    if abs(v) >= 1e15 or (v != 0 and abs(v) < 10 ** (-digits)):
        return f"{v:.3g}"
    return f"{v:,.{digits}f}"


def _machines(v: float | None) -> str:
    """The English noun for a count as printed: "1 machine", "0.53 machines", "0.53-1 machine" (the noun
    follows the number next to it). Chinese has no plural (台)."""
    return "machine" if _n(v) == "1" else "machines"


def _hr(hs: float, algo: str) -> str:
    unit = ALGO_UNIT.get(algo, "H/s")
    return f"{_n(hs / HASH_UNITS[unit], 1)} {unit}"


_CLASS_ZH = {"chosen": "选定", "efficient": "高效", "typical": "典型", "legacy": "老旧"}


def render_assessment(a: Assessment) -> list[str]:
    """Human-readable lines in the current language; every figure has its unit."""
    cur = a.currency
    basis = tr("from power", "按功率") if a.basis == "power" else tr("from hashrate", "按算力")
    lines = [
        tr(f"Site assessment ({basis}), algorithm {a.algorithm}", f"矿场评估（{basis}），算法 {a.algorithm}"),
        tr(
            f"  Point estimate on {a.model}: {_n(a.machines)} {_machines(a.machines)}, {_n(a.kw, 1)} kW, "
            f"{_hr(a.hashrate_hs, a.algorithm)}",
            f"  按 {a.model} 估算：{_n(a.machines)} 台，{_n(a.kw, 1)} kW，{_hr(a.hashrate_hs, a.algorithm)}",
        ),
        tr(
            f"  Range over model classes: {_n(a.machines_range[0])}-{_n(a.machines_range[1])} "
            f"{_machines(a.machines_range[1])}, "
            f"{_n(a.kw_range[0], 1)}-{_n(a.kw_range[1], 1)} kW, "
            f"{_hr(a.hashrate_range_hs[0], a.algorithm)}-{_hr(a.hashrate_range_hs[1], a.algorithm)}",
            f"  按机型类别的范围：{_n(a.machines_range[0])}-{_n(a.machines_range[1])} 台，"
            f"{_n(a.kw_range[0], 1)}-{_n(a.kw_range[1], 1)} kW，"
            f"{_hr(a.hashrate_range_hs[0], a.algorithm)}-{_hr(a.hashrate_range_hs[1], a.algorithm)}",
        ),
        tr("  By model class:", "  按机型类别："),
    ]
    if a.warnings:
        warn = [tr("Warnings:", "警告：")] + [f"  ! {tr(w['message'], w.get('message_zh') or w['message'])}"
                                             for w in a.warnings]  # fmt: skip
        lines = lines[:1] + warn + lines[1:]
    for m in a.by_model:
        lines.append(
            f"    {tr(m.model_class, _CLASS_ZH.get(m.model_class, m.model_class)):<9} {m.model:<32} {_n(m.machines):>8} "
            + tr(_machines(m.machines), "台")
            + f"  {_n(m.kw, 1):>10} kW  {_hr(m.hashrate_hs, a.algorithm):>16}  {m.efficiency:.4g} {m.efficiency_unit}"
            + tr("  break-even ", "  盈亏平衡电价 ")
            + f"{_n(m.break_even_tariff, 3)} {cur}/kWh"
            + tr("  payback ", "  回本 ")
            + (f"{_n(m.payback_days)} " + tr("days", "天") if m.payback_days is not None else tr("unknown", "未知"))
        )
    lines += [
        tr(f"  Electricity: {_n(a.kwh_per_year)} kWh/year", f"  用电量：{_n(a.kwh_per_year)} kWh/年"),
        tr(
            f"  Since onset: {_n(a.kwh_since_onset)} kWh",
            f"  自开始以来：{_n(a.kwh_since_onset)} kWh",
        ),
        tr(
            f"  Standard coal: {_n(a.coal_t_per_year, 1)} tce/year; since onset {_n(a.coal_t_since_onset, 1)} tce",
            f"  标准煤：{_n(a.coal_t_per_year, 1)} 吨标煤/年；自开始以来 {_n(a.coal_t_since_onset, 1)} 吨标煤",
        ),
        *([tr("    by convention: " + "; ".join(f"{_n(v, 1)} tce/year {_COAL_NAMES.get(k, (k, k))[0]}"
                                                 for k, v in a.coal_t_per_year_by_convention.items()),
              "    按折算方法：" + "；".join(f"{_COAL_NAMES.get(k, (k, k))[1]} {_n(v, 1)} 吨标煤/年"
                                     for k, v in a.coal_t_per_year_by_convention.items()))]
          if len(a.coal_t_per_year_by_convention) > 1 else []),
        tr(
            f"  CO2: {_n(a.co2_t_per_year, 1)} t/year; since onset {_n(a.co2_t_since_onset, 1)} t",
            f"  二氧化碳：{_n(a.co2_t_per_year, 1)} 吨/年；自开始以来 {_n(a.co2_t_since_onset, 1)} 吨",
        ),
        tr(
            f"  Revenue: {_n(a.revenue_per_day)} {cur}/day, {_n(a.revenue_per_year)} {cur}/year; "
            f"since onset {_n(a.revenue_since_onset)} {cur}",
            f"  收入：{_n(a.revenue_per_day)} {cur}/天，{_n(a.revenue_per_year)} {cur}/年；"
            f"自开始以来 {_n(a.revenue_since_onset)} {cur}",
        ),
        tr(
            f"  Electricity cost: {_n(a.cost_per_day)} {cur}/day at {_n(a.tariff, 3)} {cur}/kWh",
            f"  电费：{_n(a.cost_per_day)} {cur}/天，电价 {_n(a.tariff, 3)} {cur}/kWh",
        ),
        tr(
            f"  Profit: {_n(a.profit_per_day)} {cur}/day, {_n(a.profit_per_year)} {cur}/year",
            f"  利润：{_n(a.profit_per_day)} {cur}/天，{_n(a.profit_per_year)} {cur}/年",
        ),
        tr(
            f"  Break-even electricity price ({a.model}): {_n(a.break_even_tariff, 3)} {cur}/kWh",
            f"  盈亏平衡电价（{a.model}）：{_n(a.break_even_tariff, 3)} {cur}/kWh",
        ),
        tr("Assumptions:", "假设："),
    ]
    for x in a.assumptions:
        val = x["value"] if not isinstance(x["value"], float) else f"{x['value']:.6g}"
        as_of = f" [{x['as_of']}]" if x.get("as_of") else ""
        label = assumption_label(x["name"], current())
        src = assumption_source(x, current())
        lines.append(f"  - {label} = {val} {x.get('unit') or ''}{as_of}: {src}")
    return lines


#: coal conventions as people name them (the keys are the factors file's)
_COAL_NAMES = {"equivalent": ("(等价值 equivalent value)", "等价值"), "calorific": ("(当量值 calorific value)", "当量值")}


def _fail(e: Exception) -> None:
    # a KeyError's str() is its repr ("'no finding x'"): show the message itself
    msg = e.args[0] if isinstance(e, KeyError) and e.args else e
    typer.echo(tr(f"error: {msg}", f"错误：{msg}"), err=True)
    raise typer.Exit(2)


_OPT_TARIFF = typer.Option(None, "--tariff", help=tr("Electricity price per kWh in --currency.", "电价（每千瓦时，单位为 --currency）。"))
_OPT_CUR = typer.Option("CNY", "--currency", help=tr("Currency: CNY or USD (or any in the factors file).", "货币：CNY 或 USD。"))
_OPT_MODEL = typer.Option(None, "--model", help=tr("Machine model, e.g. S19 (see `assess models`).", "矿机型号，如 S19。"))
_OPT_PROV = typer.Option(None, "--province", help=tr("Chinese province for the CO2 factor, e.g. sichuan.", "用于碳排放因子的省份，如 sichuan。"))
_OPT_COUNTRY = typer.Option("CN", "--country", help=tr("Country code for the CO2 factor.", "碳排放因子的国家代码。"))
_OPT_COAL = typer.Option(None, "--coal", help=tr("Coal convention (equivalent|calorific) or kgce/kWh.", "折标煤方法（equivalent 等价值|calorific 当量值）或 kgce/kWh。"))
_OPT_CO2 = typer.Option(None, "--co2-factor", help=tr("CO2 factor in kg/kWh, or a named official series such as cn_2021_national (overrides province/country).", "碳排放因子 kg/kWh，或官方系列名称，如 cn_2021_national（优先于省份/国家）。"))
_OPT_FX = typer.Option(None, "--fx", help=tr("Currency units per USD.", "每美元兑换的货币单位。"))
_OPT_PUE = typer.Option(None, "--pue", help=tr("Site overhead factor (default from factors file).", "场地能耗系数。"))
_OPT_METRICS = typer.Option(None, "--metrics", help=tr("Coin Metrics-style CSV (default: cache, then shared data).", "Coin Metrics 格式的 CSV。"))
_OPT_FACTORS = typer.Option(None, "--factors", help=tr("YAML overriding factors.yaml.", "覆盖默认因子的 YAML 文件。"))
_OPT_HW = typer.Option(None, "--hardware", help=tr("Extra hardware CSV/YAML (overrides by model).", "额外的矿机清单 CSV/YAML。"))
_OPT_JSON = typer.Option(False, "--json", help=tr("Print JSON instead of text.", "输出 JSON。"))


def _coal_arg(coal: str | None) -> str | float | None:
    if coal is None:
        return None
    try:
        return float(coal)
    except ValueError:
        return coal


@app.command("site")
def site(
    kw: float = typer.Option(None, "--kw", help=tr("Mining load in kW.", "挖矿负荷（kW）。")),
    hashrate: float = typer.Option(None, "--hashrate", help=tr("Hashrate in H/s (instead of --kw).", "算力 H/s（代替 --kw）。")),
    algorithm: str = typer.Option("sha256d", "--algorithm", help=tr("Mining algorithm or coin.", "挖矿算法或币种。")),
    tariff: float = _OPT_TARIFF,
    currency: str = _OPT_CUR,
    model: str = _OPT_MODEL,
    onset: str = typer.Option(None, "--onset", help=tr("When mining started (ISO-8601).", "开始挖矿的时间（ISO-8601）。")),
    until: str = typer.Option(None, "--until", help=tr("End of the period (default now).", "统计截止时间（默认现在）。")),
    province: str = _OPT_PROV,
    country: str = _OPT_COUNTRY,
    coal: str = _OPT_COAL,
    co2_factor: str = _OPT_CO2,
    fx: float = _OPT_FX,
    pue: float = _OPT_PUE,
    metrics: Path = _OPT_METRICS,
    factors: Path = _OPT_FACTORS,
    hardware: Path = _OPT_HW,
    as_json: bool = _OPT_JSON,
) -> None:
    """Assess a mining site from its power (kW) or hashrate.

    按功率（kW）或算力评估一个矿场。
    """
    if (kw is None) == (hashrate is None):
        _fail(ValueError(tr("give exactly one of --kw and --hashrate", "请只给出 --kw 或 --hashrate 之一")))
    try:
        opts: dict[str, Any] = dict(
            onset=onset, until=until, tariff=tariff, currency=currency, model=model, province=province,
            country=country, coal=_coal_arg(coal), co2=co2_factor, fx=fx, pue=pue, metrics=metrics,
            factors=factors, catalog=load_catalog(hardware) if hardware else None,
        )  # fmt: skip
        if kw is not None:
            a = assess_from_power(kw, algorithm=algorithm, **opts)
        else:
            a = assess_from_hashrate(hashrate, algorithm=algorithm, **opts)
    except (MinewatchError, ValueError, KeyError) as e:
        _fail(e)
    typer.echo(json.dumps(a.to_dict(), ensure_ascii=False, indent=2, default=str) if as_json else "\n".join(render_assessment(a)))


@app.command("finding")
def finding(
    finding_id: str = typer.Argument(..., help=tr("Finding id.", "检测结果 ID。")),
    db: str = typer.Option(None, "--db", help=tr(
        "Store: a DuckDB file or a postgresql:// URL (env MINEWATCH_DB; default: the user's store).",
        "数据库：DuckDB 文件或 postgresql:// 地址（环境变量 MINEWATCH_DB；默认用户数据库）。")),
    algorithm: str = typer.Option(None, "--algorithm", help=tr("Algorithm if the finding has none.", "检测结果未给出时的算法。")),
    tariff: float = _OPT_TARIFF,
    currency: str = _OPT_CUR,
    model: str = _OPT_MODEL,
    province: str = _OPT_PROV,
    country: str = _OPT_COUNTRY,
    coal: str = _OPT_COAL,
    co2_factor: str = _OPT_CO2,
    fx: float = _OPT_FX,
    metrics: Path = _OPT_METRICS,
    factors: Path = _OPT_FACTORS,
    as_json: bool = _OPT_JSON,
) -> None:
    """Assess a stored finding (from kw_mining or hashrate_hs) and attach the result to it.

    评估一条已存储的检测结果（依据 kw_mining 或 hashrate_hs），并把评估结果附在其上。
    """
    from minewatch.store.backend import open_store_for_cli

    # the same store as every other command (a team's PostgreSQL too); it only adds to a finding that
    # must already be there, so a mistyped --db is an error, not a new empty store
    with open_store_for_cli(db, must_exist=True) as store:
        f = store.get(finding_id)
        if f is None:
            _fail(KeyError(tr(f"no finding {finding_id}", f"没有检测结果 {finding_id}")))
        assert f is not None
        onset_src, onset_src_zh = _onset_source(f)
        opts: dict[str, Any] = dict(
            onset=f.onset or f.first_seen, until=f.last_seen, tariff=tariff, currency=currency, model=model,
            province=province, country=country, coal=_coal_arg(coal), co2=co2_factor, fx=fx, metrics=metrics,
            factors=factors, onset_source=onset_src, onset_source_zh=onset_src_zh, provenance=_provenance(f),
        )  # fmt: skip
        algo = algorithm or f.algorithm or f.coin
        try:
            if f.kw_mining:
                a = assess_from_power(f.kw_mining, algorithm=normalise_algorithm(algo or "sha256d"), **opts)
            elif f.hashrate_hs:
                if not algo:
                    raise ValueError(
                        tr("finding has a hashrate but no algorithm or coin; give --algorithm",
                           "检测结果有算力但无算法或币种；请给出 --algorithm")
                    )  # fmt: skip
                a = assess_from_hashrate(f.hashrate_hs, algorithm=normalise_algorithm(algo), **opts)
            else:
                raise ValueError(
                    tr("finding has neither kw_mining nor hashrate_hs", "检测结果既无挖矿功率也无算力")
                )
        except (MinewatchError, ValueError, KeyError) as e:
            _fail(e)
        # a meter finding keeps one machine count: its evidence's (review 13; `site.with_finding_count`)
        d = a.to_dict()
        if f.kw_mining:
            # the detector's PUE (findings stored before it was kept used the default factors' one)
            d = with_finding_count(d, f.machines_est, (f.extra or {}).get("machine_model"),
                                   (f.extra or {}).get("machine_pue") or site_pue())
        store.set_impact(finding_id, d)
    typer.echo(json.dumps(d, ensure_ascii=False, indent=2, default=str) if as_json else "\n".join(render_assessment(a)))
    if not as_json:
        typer.echo(tr(f"Impact stored on finding {finding_id}.", f"评估结果已保存到检测结果 {finding_id}。"))


def _onset_source(f: Any) -> tuple[str, str]:
    """Where a finding's onset comes from: a meter's detected onset, or a capture's first packet.

    Why it matters: for a network finding the period is the capture (often minutes), so "since onset"
    figures cover the capture only, not the time the site has been mining.
    """
    if f.onset is not None:
        return ("onset of mining detected in the data of the finding", "检测结果数据中识别出的开始挖矿时间")
    return ("first packet of the captured session: the 'since onset' figures cover the capture only, not how long "
            "the site has been mining", "所捕获会话的第一个数据包：“自开始以来”的数字只覆盖捕获时段，而非矿场实际挖矿时长")  # fmt: skip


def _provenance(f: Any) -> list[dict[str, Any]]:
    """The hashrate estimate of a network finding, with its 95 % interval, share count and premises."""
    if f.kw_mining or not f.hashrate_hs:
        return []
    extra = f.extra or {}
    lo, hi = (extra.get("hashrate_interval_hs") or [None, None])[:2]
    interval = f"95 % interval {lo:.4g}..{hi:.4g} H/s" if lo and hi else "no interval stored"
    interval_zh = f"95% 置信区间 {lo:.4g}..{hi:.4g} H/s" if lo and hi else "未存储置信区间"
    shares = f"{f.shares_accepted} accepted shares" if f.shares_accepted else "share count not stored"
    shares_zh = f"{f.shares_accepted} 个被接受的份额" if f.shares_accepted else "未存储份额数"
    formula = extra.get("hashrate_formula") or ""
    return [{
        "name": "hashrate_estimate", "value": f.hashrate_hs, "unit": "H/s", "as_of": "",
        "source": f"estimated from pool shares x difficulty ({formula}); {interval}; {shares}; assumes Poisson share "
                  "arrivals, all of the host's work going to this one pool, and a constant rate",
        "source_zh": f"由矿池份额 × 难度估计（{formula}）；{interval_zh}；{shares_zh}；假定份额按泊松过程到达、主机全部算力"
                     "都提交给该矿池且算力恒定",
    }]  # fmt: skip


@app.command("network")
def network(
    metrics: Path = _OPT_METRICS,
    method: str = typer.Option("cbeci-2019", "--method", help=tr("cbeci-2019 (original) or cbeci-2023 (age-weighted).", "cbeci-2019（原方法）或 cbeci-2023（按机龄加权）。")),
    price: float = typer.Option(ni.DEFAULT_PRICE, "--price", help=tr("Electricity price, USD/kWh.", "电价（美元/千瓦时）。")),
    hardware: Path = typer.Option(None, "--hardware", help=tr("Hardware list: Cambridge miners.csv layout or the project's.", "矿机清单：剑桥 miners.csv 格式或本项目格式。")),
    out: Path = typer.Option(None, "--out", help=tr("Write the daily CSV here.", "输出逐日 CSV。")),
    plot: Path = typer.Option(None, "--plot", help=tr("Write a PNG chart here.", "输出 PNG 图表。")),
    countries: Path = typer.Option(None, "--countries", help=tr("Monthly hashrate shares CSV (date,country,share).", "各国月度算力份额 CSV。")),
    countries_out: Path = typer.Option(None, "--countries-out", help=tr("Write the country split CSV here.", "输出分国家 CSV。")),
    on: str = typer.Option(None, "--date", help=tr("Day to print (default: last).", "要显示的日期（默认最后一天）。")),
) -> None:
    """Network-wide electricity (CBECI-compatible lower / best guess / upper) and a top-down comparison.

    全网耗电量（与 CBECI 一致的下限 / 最佳估计 / 上限）及自上而下的对比。
    """
    rejects = Rejects()
    try:
        want = _iso_day(on, "--date") if on else None
        if countries_out and not countries:
            raise ValueError(tr("--countries-out needs --countries (the shares to split by)",
                                "--countries-out 需要 --countries（用于拆分的份额）"))  # fmt: skip
        path = metrics or netmod.default_metrics_path()
        if path is None:
            raise InputError(tr("no metrics file: give --metrics or run `minewatch data update`",
                                "没有网络数据：请给出 --metrics 或运行 `minewatch data update`"))  # fmt: skip
        days = netmod.read_metrics(path, rejects)
        models, label = ni.index_models(hardware)
        res = ni.compute_index(days, models, method=method, price=price, hardware_label=label)
        shares = ni.read_shares(countries, rejects) if countries else {}
        split = ni.country_split(res, shares) if countries else []
    except (MinewatchError, ValueError) as e:
        _fail(e)
    rows = [r for r in res.rows if r.guess_twh is not None]
    if not rows:
        _fail(ValueError(tr("no day has an estimate", "没有任何一天可估算")))
    row = rows[-1]
    if want is not None:
        match = [r for r in rows if r.date == want]
        if not match:
            _fail(ValueError(tr(f"no estimate for {on}", f"{on} 没有估算值")))
        row = match[0]
    typer.echo(tr(f"Bitcoin network electricity on {row.date} ({method}, {price:g} USD/kWh):",
                  f"{row.date} 比特币网络用电（{method}，电价 {price:g} 美元/千瓦时）："))  # fmt: skip
    typer.echo(tr(
        f"  lower {_n(row.lower_twh, 2)}  best guess {_n(row.guess_twh, 2)}  upper {_n(row.upper_twh, 2)} TWh/year",
        f"  下限 {_n(row.lower_twh, 2)}  最佳估计 {_n(row.guess_twh, 2)}  上限 {_n(row.upper_twh, 2)} 太瓦时/年",
    ))  # fmt: skip
    typer.echo(tr(
        f"  lower {_n(row.lower_gw, 2)}  best guess {_n(row.guess_gw, 2)}  upper {_n(row.upper_gw, 2)} GW",
        f"  下限 {_n(row.lower_gw, 2)}  最佳估计 {_n(row.guess_gw, 2)}  上限 {_n(row.upper_gw, 2)} GW",
    ))  # fmt: skip
    typer.echo(tr(
        f"  profitability threshold {_n(row.threshold_j_gh, 4)} J/GH (14-day mean); {row.profitable} profitable models;"
        f" network {_n(row.hashrate_ths)} TH/s",
        f"  盈利阈值 {_n(row.threshold_j_gh, 4)} J/GH（14 日均值）；盈利机型 {row.profitable} 种；全网算力 {_n(row.hashrate_ths)} TH/s",
    ))  # fmt: skip
    typer.echo(tr(f"  top-down (Digiconomist-style): {_n(row.digiconomist_twh, 2)} TWh/year",
                  f"  自上而下估算（Digiconomist 方法）：{_n(row.digiconomist_twh, 2)} 太瓦时/年"))  # fmt: skip
    extra: list[dict[str, Any]] = [{"name": "metrics", "value": str(path), "unit": "", "source": netmod.ATTRIBUTION,
                                    "as_of": f"{days[0].day}..{days[-1].day}"}]  # fmt: skip
    if countries:
        extra += _country_lines(row.date, split, shares, countries)
    typer.echo(tr("Assumptions:", "假设："))
    for x in [*res.assumptions, *extra]:
        as_of = f" [{x['as_of']}]" if x.get("as_of") else ""
        label = tr(x["name"], f"{_NET_ASSUMPTION_ZH.get(x['name'], x['name'])}（{x['name']}）")
        src = tr(x["source"], x.get("source_zh") or x["source"])
        typer.echo(f"  - {label} = {x['value']} {x.get('unit') or ''}{as_of}: {src}")
    try:
        if out:
            ni.write_csv(res, out)
            typer.echo(tr(f"Wrote {out}", f"已写入 {out}"))
        if countries_out or (countries and out):
            target = countries_out or out.with_name(out.stem + "_countries.csv")
            ni.write_country_csv(split, target)
            typer.echo(tr(f"Wrote {target}", f"已写入 {target}"))
        if plot:
            ni.plot(res, plot)
            typer.echo(tr(f"Wrote {plot}", f"已写入 {plot}"))
    except OSError as e:
        _fail(ValueError(tr(f"cannot write {e.filename}: {e.strerror}", f"无法写入 {e.filename}：{e.strerror}")))
    if rejects.total:
        typer.echo(tr(f"Skipped {rejects.total} bad rows: {rejects.as_dict()}", f"跳过 {rejects.total} 行错误数据：{rejects.as_dict()}"), err=True)


_NET_ASSUMPTION_ZH = {
    "method": "方法", "electricity_price": "电价", "pue": "电能利用效率 PUE", "smoothing": "平滑窗口",
    "hardware": "矿机清单", "digiconomist_electricity_share": "Digiconomist 电费占收入比例", "metrics": "网络数据",
    "country_shares": "各国算力份额", "country_efficiency": "各国矿机能效",
}  # fmt: skip


def _country_lines(day: date, split: list[dict[str, Any]], shares: dict[str, dict[str, float]],
                   path: Path) -> list[dict[str, Any]]:  # fmt: skip
    """Print the day's country split (or why there is none) and return its assumptions.

    Why all this is said: a country figure is the network figure times a share from someone else's
    survey of some months; without the file, its months, the sum of the shares and the efficiency
    assumption, the figure cannot be checked.
    """
    months = sorted(shares)
    month = day.isoformat()[:7]
    lines = [r for r in split if r["date"] == day.isoformat()]
    if not lines:
        typer.echo(tr(f"  no country shares for {month}: the shares file covers {months[0]}..{months[-1]}",
                      f"  没有 {month} 的各国份额：份额文件覆盖 {months[0]} 至 {months[-1]}"))  # fmt: skip
    for r in lines:
        typer.echo(f"    {r['country']:<20} {r['share'] * 100:6.2f} %  {_n(r['guess_twh'], 2)} " + tr("TWh/year", "太瓦时/年"))
    total = sum(shares.get(month, {}).values())
    if lines:
        typer.echo(tr(f"    {'unattributed':<20} {max(0.0, 1 - total) * 100:6.2f} %  (shares sum to {total * 100:.2f} %)",
                      f"    {'未归属':<20} {max(0.0, 1 - total) * 100:6.2f} %  （份额合计 {total * 100:.2f} %）"))  # fmt: skip
        if total > 1.005:
            typer.echo(tr(f"warning: the shares of {month} sum to {total * 100:.2f} %, more than 100 %",
                          f"警告：{month} 的份额合计 {total * 100:.2f} %，超过 100 %"), err=True)  # fmt: skip
    return [
        {"name": "country_shares", "value": str(path), "unit": "", "as_of": f"{months[0]}..{months[-1]}",
         "source": "monthly hashrate shares from the file given (e.g. CCAF Cambridge Bitcoin Mining Map); not re-normalised",
         "source_zh": "所给文件中的月度算力份额（如剑桥 CCAF 比特币挖矿地图）；未重新归一化"},
        {"name": "country_efficiency", "value": "network average", "unit": "", "as_of": "",
         "source": "each country's fleet is assumed to have the network-average efficiency (share x network figure)",
         "source_zh": "假定各国矿机能效等于全网平均（份额 × 全网数值）"},
    ]  # fmt: skip


def _iso_day(text: str, option: str) -> date:
    """A YYYY-MM-DD option value, or a one-line error naming the option."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(tr(f"{option} must be a date YYYY-MM-DD, got {text!r}",
                            f"{option} 必须是 YYYY-MM-DD 格式的日期，实际为 {text!r}")) from None  # fmt: skip


def _models_header() -> str:
    """The header row of `assess models`, each name over its column (widths of the rows below).

    Padded by terminal cells, not characters: a Chinese name is two cells per character, so
    `str.ljust` would push the following names out of line.
    """
    from rich.cells import cell_len

    def cell(text: str, width: int) -> str:
        return text + " " * max(0, width - cell_len(text))

    return " ".join([
        cell(tr("Algorithm", "算法"), 10), cell(tr("Model", "型号"), 34), cell(tr("Hashrate", "算力"), 16),
        cell(tr("Power", "功率"), 8), cell(tr("Efficiency", "能效"), 15), cell(tr("Released", "上市"), 10),
        tr("Cooling", "散热"),
    ]).rstrip()  # fmt: skip


@app.command("models")
def models(
    algorithm: str = typer.Option(None, "--algorithm", help=tr("Only this algorithm.", "仅此算法。")),
    hardware: Path = _OPT_HW,
) -> None:
    """List the hardware catalog.

    列出矿机型号目录。
    """
    try:
        cat = load_catalog(hardware)
        ms = cat.by_algorithm(algorithm) if algorithm else cat.models
        if not ms:
            known = sorted({m.algorithm for m in cat.models})
            raise ValueError(tr(f"no model for algorithm {algorithm!r}; known: {', '.join(known)}",
                                f"没有算法 {algorithm!r} 的机型；可选：{', '.join(known)}"))  # fmt: skip
    except (MinewatchError, ValueError) as e:
        _fail(e)
    typer.echo(_models_header())
    for m in sorted(ms, key=lambda m: (m.algorithm, m.release or date.min, m.model)):
        unit = ALGO_UNIT.get(m.algorithm, "H/s")
        typer.echo(
            f"{m.algorithm:<10} {m.model:<34} {m.hashrate:>9g} {m.hashrate_unit:<6} {m.power_w:>6g} W "
            f"{m.j_per_hash * HASH_UNITS[unit]:>8.4g} J/{unit.split('/')[0]:<4} {m.release.isoformat() if m.release else '':<10} "
            f"{m.cooling}"
        )


@data_app.command("update")
def update(
    start: str = typer.Option(None, "--start", help=tr("First day to fetch (default: after the cache).", "起始日期（默认接续缓存）。")),
) -> None:
    """Fetch fresh daily BTC metrics from the Coin Metrics community API into the local cache.

    从 Coin Metrics 社区 API 获取最新的比特币每日指标，存入本地缓存。
    """
    try:
        first = _iso_day(start, "--start") if start else None
    except ValueError as e:
        _fail(e)
    res = netmod.update(start=first)
    typer.echo(tr(res.message, res.message_zh))
    if not res.online and res.path is None:
        raise typer.Exit(1)


@data_app.command("status")
def status() -> None:
    """Which network data the assessments will use, and how fresh it is.

    评估将使用哪份网络数据，以及它有多新。
    """
    p = netmod.default_metrics_path()
    if p is None:
        typer.echo(tr("No metrics file; the built-in fallback snapshot is used.", "没有网络数据文件；使用内置备用快照。"))
        return
    days = netmod.read_metrics(p)
    typer.echo(tr(f"{p}: {len(days)} days, {days[0].day} .. {days[-1].day}", f"{p}：{len(days)} 天，{days[0].day} 至 {days[-1].day}"))
    snap = netmod.snapshot(p)
    typer.echo(tr(
        f"Hashprice {snap.hashprice_usd:.4f} USD/(TH/s)/day on {snap.day} (7-day mean); BTC {snap.price_usd:,.2f} USD",
        f"{snap.day} 算力价格 {snap.hashprice_usd:.4f} 美元/(TH/s)/天（7 日均值）；BTC {snap.price_usd:,.2f} 美元",
    ))  # fmt: skip
