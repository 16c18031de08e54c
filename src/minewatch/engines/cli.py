"""`minewatch spark power|flows INPUT --out DIR`: the detectors over Parquet with Spark (or in process).

Needs no cluster to try: the default master `local[2]` starts Spark inside this process. On a real
cluster run the same command through spark-submit (docs/spark.md). `--engine local` runs the
reference engine instead, which must give the same findings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from minewatch.errors import InputError, MinewatchError
from minewatch.i18n import current, tr
from minewatch.messages_zh import error_prefix, error_text, issue_name, say

app = typer.Typer(
    help=tr("Run the detectors over Parquet data with Spark (the cluster path).",
            "用 Spark 在 Parquet 数据上运行检测器（集群路径）。"),
    no_args_is_help=True,
    add_completion=False,
)

_MASTER = typer.Option("local[2]", "--master", help=tr(
    "Spark master URL; local[2] needs no cluster. Ignored with --engine local.",
    "Spark 主节点地址；local[2] 无需集群。--engine local 时忽略。"))
_ENGINE = typer.Option("spark", "--engine", help=tr("spark, or local (the in-process reference).",
                                                    "spark，或 local（进程内参考实现）。"))
_OUT = typer.Option(..., "--out", help=tr("Folder for findings/ (JSON lines) and summary.json.",
                                          "输出目录：findings/（JSON 行）和 summary.json。"))
_ALL = typer.Option(False, "--all", help=tr("Write every scored meter/connection, not only flagged ones.",
                                            "输出全部评分结果，而不只是被标记的。"))
_CONF = typer.Option(None, "--conf", help=tr("Extra Spark setting KEY=VALUE (repeatable).",
                                             "额外的 Spark 配置 KEY=VALUE（可重复）。"))


def _conf(items: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for it in items or []:
        k, sep, v = it.partition("=")
        if not sep or not k:
            raise typer.BadParameter(tr(f"--conf {it!r}: use KEY=VALUE", f"--conf {it!r}：请使用 KEY=VALUE"))
        out[k.strip()] = v.strip()
    return out


def _finish(res: Any, out: Path, what: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    summary = res.summary()
    (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    err = Console(stderr=True, soft_wrap=True)  # paths and meter ids in messages are never broken
    n_in = res.tally.get("meters" if what == "meters" else "rows", 0)
    unit_en, unit_zh = ("meters", "块电表") if what == "meters" else ("flow rows", "条流记录")
    err.print(tr(
        f"{res.engine}: {n_in} {unit_en} scored, {res.flagged} flagged, {res.seconds:.1f} s; "
        f"findings in {out / 'findings'}",
        f"{res.engine}：评分 {n_in:,} {unit_zh}，标记 {res.flagged:,} {unit_zh[0]}，用时 {res.seconds:.1f} 秒；结果在 {out / 'findings'}"))
    rejected = {k: v for k, v in res.tally.items() if k.startswith(("rejected:", "issue:"))}
    for k, v in sorted(rejected.items()):  # tally keys stay English in summary.json; worded for the screen
        kind, _, what = k.partition(":")
        if current() != "zh":
            err.print(f"  {k}: {v}", markup=False, highlight=False)
        elif kind == "issue":
            err.print(f"  数据问题：{issue_name(what)}：{v:,}", markup=False, highlight=False)
        else:
            err.print(f"  拒收：{say(what)}：{v:,}", markup=False, highlight=False)
    err.print(tr("load into the store: minewatch spark load " + str(out),
                 "导入数据库：minewatch spark load " + str(out)))


def _fail(e: Exception) -> typer.Exit:
    """One error line in the reader's language (`错误：…` / `error: …`); the engines raise in English."""
    text = escape(error_text(e))
    Console(stderr=True, soft_wrap=True).print(f"[red]{error_prefix().strip()}[/red]{'' if current() == 'zh' else ' '}{text}")
    return typer.Exit(2)


def _session(master: str, conf: list[str] | None) -> Any:
    from minewatch.engines.spark import session

    sp = session(master, conf=_conf(conf))
    sp.sparkContext.setLogLevel("ERROR")
    return sp


@app.command("power", help=tr("Score every meter of a long meter table; write flagged meters as findings.", "为长格式电表数据中的每块电表评分；将被标记的电表写为结果。"))
def power(
    input: Path = typer.Argument(..., help=tr("Long-format meter Parquet (meter_id, ts, kwh|kw), file or folder.",
                                              "长格式电表 Parquet（meter_id、ts、kwh|kw），文件或目录。")),
    out: Path = _OUT,
    master: str = _MASTER,
    engine: str = _ENGINE,
    meta: Path | None = typer.Option(None, "--meta", help=tr(
        "Customer metadata CSV (meter_id, tariff_class, business, contracted_kw, site).",
        "用户档案 CSV（meter_id、电价类别、行业、合同容量、站点）。")),
    tz_offset: float = typer.Option(0.0, "--tz-offset", help=tr(
        "Hours the meter clock is ahead of UTC (8 for China); only moves reported onsets.",
        "电表时钟相对 UTC 的时差（中国为 8）；仅用于换算起始时间。")),
    threshold: float = typer.Option(50.0, "--threshold", help=tr("Suspect score threshold.", "嫌疑得分阈值。")),
    impact: bool = typer.Option(False, "--impact", help=tr(
        "Assess machines, kWh, coal, CO2 and money for suspects on the workers.",
        "在工作节点上为嫌疑用户评估矿机、电量、煤耗、CO2 和金额。")),
    all_rows: bool = _ALL,
    conf: list[str] | None = _CONF,
) -> None:
    """Score every meter of a long meter table; write flagged meters as findings."""
    from minewatch.engines.kernels import PowerConfig, meta_tuples

    if engine not in ("spark", "local"):
        raise typer.BadParameter(tr("must be spark or local", "应为 spark 或 local"), param_hint="--engine")
    try:
        cfg = PowerConfig(tz_offset_h=tz_offset, threshold=threshold, with_impact=impact, keep_all=all_rows)
        if meta is not None:
            from minewatch.power.readers import read_meta

            cfg.meta = meta_tuples(read_meta(meta))
        if engine == "local":
            from minewatch.engines.local import default_workers, run_power

            res = run_power(input, cfg, out=out, workers=default_workers())
        else:
            from minewatch.engines.spark import run_power as spark_power

            sp = _session(master, conf)
            try:
                res = spark_power(sp, input, cfg, out=out)
            finally:
                sp.stop()
    except MinewatchError as e:
        raise _fail(e) from e
    _finish(res, out, "meters")


@app.command("flows", help=tr("Score every connection of a flow table; write flagged connections as findings.", "为流量表中的每个连接评分；将被标记的连接写为结果。"))
def flows(
    input: Path = typer.Argument(..., help=tr(
        "Flow Parquet: the NetFlow collector's hive-partitioned output or FLOW_SCHEMA rows.",
        "流量 Parquet：NetFlow 采集器的分区输出或 FLOW_SCHEMA 行。")),
    out: Path = _OUT,
    master: str = _MASTER,
    engine: str = _ENGINE,
    intel: bool = typer.Option(True, "--intel/--no-intel", help=tr(
        "Check server names and addresses against the built-in pool list.", "用内置矿池列表核对服务器名称和地址。")),
    timing_only: bool = typer.Option(False, "--include-timing-only", help=tr(
        "Also flag connections whose only evidence is the timing of their totals (slice verdicts are always "
        "flagged; totals give more false alarms).",
        "仅凭连接总量时序证据的连接也标记（时间片判定总是标记；总量误报更多）。")),
    all_rows: bool = _ALL,
    conf: list[str] | None = _CONF,
) -> None:
    """Score every connection of a flow table; write flagged connections as findings."""
    from minewatch.engines.kernels import FlowConfig

    if engine not in ("spark", "local"):
        raise typer.BadParameter(tr("must be spark or local", "应为 spark 或 local"), param_hint="--engine")
    cfg = FlowConfig(source=None, intel=intel, include_timing_only=timing_only)
    try:
        if engine == "local":
            from minewatch.engines.local import run_flows

            res = run_flows(input, cfg, out=out, keep_all=all_rows)
        else:
            from minewatch.engines.spark import run_flows as spark_flows

            sp = _session(master, conf)
            try:
                res = spark_flows(sp, input, cfg, out=out, keep_all=all_rows)
            finally:
                sp.stop()
    except MinewatchError as e:
        raise _fail(e) from e
    _finish(res, out, "connections")


@app.command("load", help=tr("Load the findings an engine wrote into the store.", "将引擎写出的结果导入数据库。"))
def load(
    out: Path = typer.Argument(..., help=tr("A folder written by `minewatch spark power|flows`.",
                                            "由 `minewatch spark power|flows` 写出的目录。")),
    db: str | None = typer.Option(None, "--db", help=tr(
        "Store: a DuckDB file or a postgresql:// URL (env MINEWATCH_DB).",
        "数据库：DuckDB 文件或 postgresql:// 地址（环境变量 MINEWATCH_DB）。")),
) -> None:
    """Load the findings an engine wrote into the store."""
    from minewatch.engines.local import read_findings
    from minewatch.store.backend import as_db, open_store_for_cli
    from minewatch.store.cases import attach_new

    try:
        found = read_findings(out)
    except InputError as e:
        raise _fail(e) from e
    # the same store as every other command (a team's PostgreSQL too), and loaded findings join the
    # sites that list their meters or addresses, and those sites' open cases, as a local scan's do
    with open_store_for_cli(db) as st:
        new = st.add_findings(found)
        if new:
            attach_new(as_db(st))
    Console(stderr=True, soft_wrap=True).print(tr(f"{len(found)} findings read, {new} new in store",
                                  f"读取 {len(found)} 条结果，新入库 {new} 条"))


@app.command("sample", help=tr("Write synthetic meter and flow Parquet to try the engines (no real data needed).", "生成合成的电表和流量 Parquet 以试用引擎（无需真实数据）。"))
def sample(
    out: Path = typer.Argument(..., help=tr("Folder to write sample inputs into.", "样例输入的输出目录。")),
    meters: int = typer.Option(200, "--meters", help=tr("Number of meters.", "电表数量。")),
    days: int = typer.Option(200, "--days", min=120, help=tr(
        "Days of hourly readings (at least 120: look-alike loads switch on 45-60 days from either end).",
        "逐时读数的天数（至少 120 天：形似挖矿的负荷在距两端 45–60 天处开启）。")),
) -> None:
    """Write synthetic meter and flow Parquet to try the engines (no real data needed)."""
    from minewatch.engines.samples import write_samples

    paths = write_samples(out, n_meters=meters, days=days)
    names = {"meters": ("meters", "电表数据"), "meta": ("meta", "用户档案"), "flows": ("flows", "流量数据")}
    for k, p in paths.items():
        en, zh = names.get(k, (k, k))
        Console(stderr=True, soft_wrap=True).print(tr(f"{en}: {p}", f"{zh}：{p}"), markup=False, highlight=False)
