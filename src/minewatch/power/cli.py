"""`minewatch power scan`: rank meters by how much their load looks like hidden mining rigs."""

from __future__ import annotations

import csv
import json
import sys
import warnings
from collections import Counter
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from minewatch.errors import InputError
from minewatch.i18n import tr
from minewatch.power.detect import REPORT_THRESHOLD
from minewatch.power.readers import ReadResult, read_file, read_meta, read_temperature

app = typer.Typer(
    help=tr("Find mining loads in electricity meter data.", "在电表数据中发现挖矿负荷。"),
    no_args_is_help=True,
    add_completion=False,
)

_INTERVALS = {"15min": 900, "30min": 1800, "1h": 3600, "hourly": 3600, "1d": 86400, "daily": 86400}


def _interval(text: str | None) -> int | None:
    if text is None:
        return None
    if text in _INTERVALS:
        return _INTERVALS[text]
    try:
        return int(text)
    except ValueError as e:
        raise typer.BadParameter(tr("use 15min, 30min, 1h, 1d or seconds", "请使用 15min、30min、1h、1d 或秒数")) from e


@app.command("scan")
def scan(
    files: list[Path] = typer.Argument(..., help=tr("Meter data files (CSV or Parquet).", "电表数据文件（CSV 或 Parquet）。")),
    meta: Path | None = typer.Option(None, "--meta", help=tr(
        "Customer metadata CSV (meter_id, tariff_class, business, contracted_kw, transformer, role).",
        "用户档案 CSV（meter_id、电价类别、行业、合同容量、台区变压器、角色）。")),
    temperature: Path | None = typer.Option(None, "--temperature", help=tr(
        "Temperature CSV (time, temp_c[, meter_id|site]).", "气温 CSV（时间、温度[、电表或站点]）。")),
    fmt: str = typer.Option("table", "--format", help=tr("table, jsonl or csv.", "table、jsonl 或 csv。")),
    top: int | None = typer.Option(None, "--top", help=tr("Show only the N highest scores.", "仅显示得分最高的 N 个。")),
    plot: Path | None = typer.Option(None, "--plot", help=tr("Write one PNG per suspect here.", "为每个嫌疑用户生成 PNG 图。")),
    db: str | None = typer.Option(None, "--db", help=tr(
        "Store findings here: a DuckDB file or a postgresql:// URL (env MINEWATCH_DB).",
        "结果存入：DuckDB 文件或 postgresql:// 地址（环境变量 MINEWATCH_DB）。")),
    interval: str | None = typer.Option(None, "--interval", help=tr(
        "Reading interval (15min, 30min, 1h, 1d); detected when omitted.", "采集间隔（15min、30min、1h、1d）；省略则自动识别。")),
    unit: str | None = typer.Option(None, "--unit", help=tr("kwh (energy per interval) or kw.", "kwh（每间隔电量）或 kw。")),
    tz_offset: float = typer.Option(0.0, "--tz-offset", help=tr(
        "Hours the meter clock is ahead of UTC (8 for China); only moves reported onsets.",
        "电表时钟相对 UTC 的时差（中国为 8）；仅用于换算起始时间。")),
    threshold: float = typer.Option(REPORT_THRESHOLD, "--threshold", help=tr("Suspect score threshold.", "嫌疑得分阈值。")),
    no_store: bool = typer.Option(False, "--no-store", help=tr("Do not write to the store.", "不写入数据库。")),
) -> None:
    """Scan meter files and list suspected mining loads with evidence."""
    if fmt not in ("table", "jsonl", "csv"):
        raise typer.BadParameter("--format table|jsonl|csv")
    if unit is not None and unit not in ("kwh", "kw"):
        raise typer.BadParameter("--unit kwh|kw")
    err = Console(stderr=True)
    out = Console()
    total = ReadResult()
    step = _interval(interval)
    try:
        meta_d = read_meta(meta) if meta else {}
        temps = read_temperature(temperature) if temperature else {}
    except InputError as e:
        err.print(f"[red]{tr('error', '错误')}:[/red] {e}")
        raise typer.Exit(2) from e
    failed = 0
    for f in files:
        try:
            r = read_file(f, interval_s=step, unit=unit)
        except InputError as e:
            err.print(f"[red]{tr('error', '错误')}:[/red] {e}")
            failed += 1
            continue
        total.merge(r)
    total.temperature.update(temps)
    from minewatch.power.scan import scan_series

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = scan_series(total.series, meta=meta_d, temperature=total.temperature, tz_offset_h=tz_offset)
    suspects = res.suspects(threshold, top)
    ranked = sorted(res.scores, key=lambda m: (-m.score, m.meter_id))
    shown = [m.finding for m in (ranked[:top] if top else ranked)] if fmt != "table" else suspects
    if fmt == "jsonl":
        for fd in shown:
            sys.stdout.write(fd.to_json() + "\n")
    elif fmt == "csv":
        w = csv.writer(sys.stdout)
        w.writerow(["meter_id", "score", "onset", "kw_mining", "machines_est", "subscores", "evidence"])
        for fd in shown:
            rec = fd.to_record()
            w.writerow([fd.meter_id, fd.score, rec["onset"], fd.kw_mining, fd.machines_est,
                        json.dumps(fd.subscores), " | ".join(e.render() for e in fd.evidence[:1])])
    else:
        from minewatch.i18n import current

        t = Table(title=tr("Suspected mining loads", "疑似挖矿负荷"))
        for c in (tr("meter", "电表"), tr("score", "得分"), tr("onset", "起始"), tr("kW mining", "挖矿功率 kW"),
                  tr("machines", "矿机数"), tr("evidence", "证据")):
            t.add_column(c)
        for fd in suspects:
            t.add_row(str(fd.meter_id), f"{fd.score:.0f}", fd.onset.date().isoformat() if fd.onset else "—",
                      f"{fd.kw_mining:.1f}" if fd.kw_mining is not None else "—",
                      f"{fd.machines_est:g}" if fd.machines_est is not None else "—",
                      fd.evidence[0].render(current()) if fd.evidence else "")
        out.print(t)
    if plot:
        from minewatch.power.plot import plot_suspect

        by_id = {s.meter_id: s for s in total.series}
        for fd in suspects:
            if fd.meter_id in by_id:
                plot_suspect(by_id[fd.meter_id], fd, plot)
    stored = 0
    if not no_store and suspects:
        from minewatch.store.backend import as_db, open_store
        from minewatch.store.cases import attach_new

        with open_store(db) as st:
            stored = st.add_findings(suspects)
            if stored:  # new suspects join the sites that list their meters, and those sites' open cases
                attach_new(as_db(st))
    # closing summary: every data problem, with meter and time
    kinds = Counter()
    for i in total.issues:
        kinds[i.kind] += i.count
    err.print(tr(
        f"{len(total.series)} meters, {total.readings} readings, {len(suspects)} suspects "
        f"(score ≥ {threshold:g}), {stored} new in store, {failed} file(s) failed",
        f"{len(total.series)} 块电表，{total.readings} 条读数，{len(suspects)} 个嫌疑（得分 ≥ {threshold:g}），"
        f"新入库 {stored} 条，{failed} 个文件失败"))
    names = {"gap": ("missing slots (gaps)", "缺失时段（缺数）"), "duplicate": ("duplicates", "重复"), "dst_jump": ("DST jumps", "夏令时跳变"),
             "meter_reset": ("meter resets", "表码回零"), "negative": ("negative readings", "负值读数"),
             "unparsable": ("unparsable rows", "无法解析的行"), "unit_assumed": ("unit assumptions", "单位假定"),
             "off_grid": ("off-grid timestamps", "不在采集网格上的时间戳")}
    for k in ("gap", "duplicate", "dst_jump", "meter_reset", "negative", "unparsable", "off_grid", "unit_assumed"):
        en, zh = names[k]
        items = [i for i in total.issues if i.kind == k]
        err.print(f"  {tr(en, zh)}: {kinds.get(k, 0)}")
        for i in items[:5]:
            err.print(f"    {i.meter_id or ''} {i.ts.isoformat() if i.ts else ''} {i.detail}")
        if len(items) > 5:
            err.print(tr(f"    … and {len(items) - 5} more", f"    …… 另有 {len(items) - 5} 条"))
    for n in res.notes[:10]:
        err.print(f"  {n}")
    if failed and failed == len(files):
        raise typer.Exit(2)
