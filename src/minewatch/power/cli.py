"""`minewatch power scan`: rank meters by how much their load looks like hidden mining rigs."""

from __future__ import annotations

import csv
import json
import math
import sys
import warnings
from collections import Counter
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from minewatch.errors import InputError
from minewatch.i18n import current, tr
from minewatch.messages_zh import ISSUE_NAMES, error_prefix, error_text, position_zh, say
from minewatch.power.detect import REPORT_THRESHOLD, clock_label, local_day
from minewatch.power.readers import (
    SCAN_BYTES_PER_READING,
    SHEET_SUFFIXES,
    DataIssue,
    estimate_readings,
    read_files,
    read_meta,
    read_temperature,
    text_encoding,
    used_readings,
)
from minewatch.scan_cli import Format, first_of_each  # the CLI's one --format list and input dedupe


class Unit(StrEnum):
    """`--unit` choices: energy per interval or mean power."""

    kwh = "kwh"
    kw = "kw"


app = typer.Typer(
    help=tr("Find mining loads in electricity meter data.", "在电表数据中发现挖矿负荷。"),
    no_args_is_help=True,
    add_completion=False,
)

_INTERVALS = {"15min": 900, "30min": 1800, "1h": 3600, "hourly": 3600, "1d": 86400, "daily": 86400}

#: exit status when at least one input could not be read at all, as `minewatch scan` (scan_cli.EXIT_UNREAD,
#: README "exit codes"): a pipeline must not take "could not read it" for "nothing found". An empty file is
#: "nothing to read", not 4; 2 stays for usage errors (an unknown option, a path that does not exist).
EXIT_UNREAD = 4

#: how the files the meter readers open themselves begin: gzip and zstd (polars inflates them), Parquet,
#: zip (xlsx, ods), OLE2 (xls), and UTF-16 text (its NULs are characters; the reader names the encoding)
_READER_MAGIC = (b"\x1f\x8b", b"\x28\xb5\x2f\xfd", b"PAR1", b"PK\x03\x04", b"\xd0\xcf\x11\xe0", b"\xff\xfe", b"\xfe\xff")

#: how files that are certainly no meter export begin: pcap (both byte orders, micro- and nanosecond),
#: pcapng, ELF, Mach-O, xz, 7z, rar, PNG, JPEG, PDF (short magics a CSV header could begin with are left to
#: the share of control bytes)
_BINARY_MAGIC = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d",
                 b"\x0a\x0d\x0d\x0a", b"\x7fELF", b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe",
                 b"\xfd7zXZ\x00", b"7z\xbc\xaf\x27\x1c", b"Rar!\x1a\x07", b"\x89PNG", b"\xff\xd8\xff", b"%PDF")


def is_binary_input(path: Path) -> bool:
    """Whether a file is binary data that no meter reader takes (a capture, an executable, random bytes).

    Why before the reader: the CSV reader saw a pcap's header as an "empty file" and random bytes as
    "malformed CSV (invalid utf-8 sequence)" (review 12); neither tells a person that the file is no
    meter export at all, nor where it belongs. Binary means mostly non-text: a capture's or an
    executable's magic, or what `readers.text_encoding` (the readers' own rule) finds no text encoding
    for (control bytes above 1 % of the first 8 KiB and on more than a tenth of its lines). One NUL in a
    text file is not (review 13: a meter export with one NUL on line 51 lost all 3,600 readings as
    "binary"); that line is the reader's, an unparsable row. UTF-16 text, with or without BOM, is text. Files the readers open by
    their magic (compressed CSV, Parquet, workbooks) are not binary."""
    try:
        with path.open("rb") as fh:
            head = fh.read(8192)
    except OSError:
        return False  # the reader names why it cannot be opened
    if not head or head.startswith(_READER_MAGIC):
        return False
    return head.startswith(_BINARY_MAGIC) or text_encoding(head) is None


def _available_memory() -> int | None:
    """Bytes of memory the system can give without swapping (`MemAvailable`), None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _too_big_for_memory(paths: list[Path]) -> str | None:
    """Why the inputs cannot be scanned here (in the reader's language), or None when they can.

    Why refuse up front: `power scan` holds every reading until the end (meters are joined across
    files and compared with their peers), about `SCAN_BYTES_PER_READING` bytes each, so 100,000 meters
    of a year of hourly readings need some 230 GB. Out of memory, the system kills the process after
    minutes with no word, or takes memory others on the machine need. The in-process engine of
    `minewatch spark power --engine local` sorts out of core and keeps memory bounded, with the same
    scores and findings (without the impact assessment and the daily profile of each suspect)."""
    avail = _available_memory()
    if avail is None:
        return None
    sizes = [(p, estimate_readings(p)) for p in paths if p.is_file()]
    n = sum(k for _, k in sizes if k)
    need = n * SCAN_BYTES_PER_READING
    if need <= avail:
        return None
    gb_need, gb_avail = need / 1e9, avail / 1e9
    parquet = [p for p, k in sizes if k and p.suffix.lower() in (".parquet", ".pq")]
    first = str(parquet[0]) if len(parquet) == 1 else "FILE.parquet"
    return tr(
        f"about {n:,} readings in {len(sizes)} file(s): `power scan` holds every reading in memory, about "
        f"{gb_need:,.0f} GB here, and {gb_avail:,.0f} GB are available. Scan large inputs with "
        f"`minewatch spark power {first} --engine local --out DIR`, which sorts out of core in bounded memory "
        f"and gives the same scores (a folder of Parquet files is one input; convert CSV to Parquet first, "
        f"e.g. with DuckDB: COPY (SELECT * FROM 'in.csv') TO 'in.parquet'); "
        f"or split the meters into smaller files",
        f"共 {len(sizes)} 个文件，约 {n:,} 条读数：`power scan` 须把全部读数放入内存，此处约需 {gb_need:,.0f} GB，"
        f"可用 {gb_avail:,.0f} GB。大数据请用 `minewatch spark power {first} --engine local --out 目录`："
        f"它在磁盘上排序、内存有界，得分相同（Parquet 文件夹可作为一个输入；CSV 请先转为 Parquet，"
        f"例如用 DuckDB：COPY (SELECT * FROM 'in.csv') TO 'in.parquet'）；或把电表拆分到较小的文件中")


def _not_meter(err: Console, p: Path) -> None:
    """The error line for a binary input, in the reader's language (raised nowhere: made and shown here)."""
    where = position_zh(str(p), None, None, False, None) if current() == "zh" else str(p)
    msg = tr("not a meter file (binary data; captures go to `minewatch scan`)",
             "不是电表数据文件（二进制数据；抓包文件请用 `minewatch scan`）")
    sep = "：" if current() == "zh" else ": "
    err.print(f"[red]{error_prefix().strip()}[/red]{'' if current() == 'zh' else ' '}{escape(where + sep + msg)}")


def _error(err: Console, e: Exception) -> None:
    """One error line in the reader's language (`错误：…` / `error: …`), the message never read as markup."""
    err.print(f"[red]{error_prefix().strip()}[/red]{'' if current() == 'zh' else ' '}{escape(error_text(e))}")


def _count(n: int, word: str) -> str:
    """"1 meter", "2,345 meters": the English summary with thousands separators, as the Chinese one."""
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _below(score: float, threshold: float) -> str:
    """A score below the threshold, never shown as the threshold itself (review 13: 83.6 was "84" under
    "highest scores below 84"): whole when that stays below, else one decimal rounded down."""
    whole = f"{score:.0f}"
    if float(whole) < threshold:
        return whole
    return f"{math.floor(score * 10) / 10:.1f}"


def _interval(text: str | None) -> int | None:
    """`--interval`: a name or seconds from 1 to 86,400 that divide a day (review 13: -900 reached numpy as
    "can only specify one unknown dimension"; review 14: 7 was taken silently)."""
    if text is None:
        return None
    if text.strip().lower() in _INTERVALS:
        return _INTERVALS[text.strip().lower()]
    try:
        step = int(text)
    except ValueError:
        step = 0
    if not 1 <= step <= 86_400:
        raise typer.BadParameter(tr(f"use 15min, 30min, 1h, 1d or seconds from 1 to 86400, got {text!r}",
                                    f"请使用 15min、30min、1h、1d 或 1 至 86400 之间的秒数，收到 {text!r}"),
                                 param_hint="--interval")
    if 86_400 % step:
        # readings are laid on a grid of whole days (slots per day, the daily profile): 7 s gave
        # 12,342.86 slots a day, accepted silently (review 14)
        raise typer.BadParameter(tr(f"the interval must divide a day (86400 s) evenly, as 60, 300, 900 or 3600 do; "
                                    f"got {text!r}",
                                    f"采集间隔须能整除一天（86400 秒），如 60、300、900 或 3600；收到 {text!r}"),
                                 param_hint="--interval")
    return step


def _tz_offset(hours: float) -> float:
    """`--tz-offset`: finite and within ±14 h, as the web form checks it (review 13: nan was a traceback,
    1e6 a clock labelled "UTC+1000000")."""
    if not (math.isfinite(hours) and -14 <= hours <= 14):
        raise typer.BadParameter(tr(f"the meter clock must be between -14 and 14 hours, got {hours:g}",
                                    f"电表时钟与 UTC 的时差应在 -14 至 14 小时之间，收到 {hours:g}"),
                                 param_hint="--tz-offset")
    return hours


#: what a meter file in a directory is named like: the CSV and text exports, Parquet and workbooks, and
#: compressed CSV (the readers inflate gzip and zstd)
_METER_SUFFIXES = (".csv", ".txt", ".tsv", ".parquet", ".pq", *SHEET_SUFFIXES)


def _is_meter_name(p: Path) -> bool:
    sfx = [x.lower() for x in p.suffixes[-2:]]
    if sfx and sfx[-1] in (".gz", ".zst"):
        sfx = sfx[:-1]
    return bool(sfx) and sfx[-1] in _METER_SUFFIXES


def expand_directories(paths: list[Path]) -> tuple[list[Path], list[str], list[Path]]:
    """Directories given to `power scan`, replaced by the meter files in them (review 13: a directory was
    an IsADirectoryError traceback, and the good file beside it was lost).

    As `minewatch scan DIR`: a folder of monthly exports is what a person gives. Not recursive: the
    files directly in the directory, in sorted order (the same every run), those named like a meter
    export (.csv, .txt, .tsv, .parquet, .xlsx/.xls/.ods, .csv.gz, .csv.zst). Hidden files, sub-folders
    and other files are skipped and said in a note. A directory with no meter file is an input that
    could not be read (exit status 4), as a lone unreadable file is. Each file is read once however often
    it is named (`power scan D D/file`, as `minewatch scan`), the first mention kept.

    Returns the files, the notes and the directories with nothing to read."""
    out: list[Path] = []
    notes: list[str] = []
    empty: list[Path] = []
    for top in paths:
        if not top.is_dir():
            out.append(top)
            continue
        found: list[Path] = []
        skipped: list[str] = []
        for f in sorted(top.iterdir()):
            if not f.name.startswith(".") and f.is_file() and _is_meter_name(f):
                found.append(f)
            else:
                skipped.append(f.name + ("/" if f.is_dir() else ""))
        out.extend(found)
        if not found:
            empty.append(top)
        if skipped:
            names = ", ".join(skipped[:5]) + (", …" if len(skipped) > 5 else "")
            names_zh = "、".join(skipped[:5]) + ("……" if len(skipped) > 5 else "")
            n = len(skipped)
            notes.append(tr(f"{top}: {n} {'entry is' if n == 1 else 'entries are'} not a meter file and "
                            f"{'was' if n == 1 else 'were'} skipped ({names}; sub-folders are not read)",
                            f"{top}：{n} 项不是电表数据文件，已跳过（{names_zh}；不读取子文件夹）"))
    return first_of_each(out), notes, empty


@app.command("scan")
def scan(
    files: list[Path] = typer.Argument(..., exists=True, help=tr("Meter data files (CSV, Parquet or Excel: every sheet is read).", "电表数据文件（CSV、Parquet 或 Excel：逐个工作表读取）。")),
    meta: Path | None = typer.Option(None, "--meta", help=tr(
        "Customer metadata CSV (meter_id, tariff_class, business, contracted_kw, transformer, role).",
        "用户档案 CSV（meter_id、电价类别、行业、合同容量、台区变压器、角色）。")),
    temperature: Path | None = typer.Option(None, "--temperature", help=tr(
        "Temperature CSV (time, temp_c[, meter_id|site]).", "气温 CSV（时间、温度[、电表或站点]）。")),
    fmt: Format = typer.Option(Format.table, "--format", help=tr("table, jsonl or csv.", "table、jsonl 或 csv。")),
    top: int | None = typer.Option(None, "--top", help=tr(
        "List and plot only the N highest scores (every suspect is still stored).",
        "仅列出并绘制得分最高的 N 个（全部嫌疑用户仍会入库）。")),
    plot: Path | None = typer.Option(None, "--plot", help=tr("Write one PNG per suspect here.", "为每个嫌疑用户生成 PNG 图。")),
    db: str | None = typer.Option(None, "--db", help=tr(
        "Store findings here: a DuckDB file or a postgresql:// URL (env MINEWATCH_DB).",
        "结果存入：DuckDB 文件或 postgresql:// 地址（环境变量 MINEWATCH_DB）。")),
    interval: str | None = typer.Option(None, "--interval", help=tr(
        "Reading interval (15min, 30min, 1h, 1d); detected when omitted.", "采集间隔（15min、30min、1h、1d）；省略则自动识别。")),
    unit: Unit | None = typer.Option(None, "--unit", help=tr("kwh (energy per interval) or kw.", "kwh（每间隔电量）或 kw。")),
    tz_offset: float = typer.Option(0.0, "--tz-offset", help=tr(
        "Hours the meter clock is ahead of UTC (8 for China): onsets are reported in UTC, and times that "
        "state their offset (Z, +08:00) or epoch numbers are put on this clock.",
        "电表时钟相对 UTC 的时差（中国为 8）：起始时间按 UTC 报告；带时区偏移（Z、+08:00）的时间或纪元秒数换算到此时钟。")),
    threshold: float = typer.Option(REPORT_THRESHOLD, "--threshold", help=tr("Suspect score threshold.", "嫌疑得分阈值。")),
    no_store: bool = typer.Option(False, "--no-store", help=tr("Do not write to the store.", "不写入数据库。")),
    all_meters: bool = typer.Option(False, "--all", help=tr(
        "jsonl/csv: list every meter ranked by score (extra.suspect says which reach the threshold), "
        "not only the suspects.",
        "jsonl/csv：按得分列出全部电表（extra.suspect 标明是否达到阈值），而不只是嫌疑用户。")),
    hardware: Path | None = typer.Option(None, "--hardware", help=tr(
        "Extra hardware CSV/YAML (overrides by model), as in `assess site`: machines and impact both use it.",
        "额外的矿机清单 CSV/YAML（按型号覆盖），与 `assess site` 相同：矿机数和影响评估都使用它。")),
) -> None:
    """Scan meter files and list suspected mining loads with evidence.

    扫描电表数据文件，列出疑似挖矿负荷及其证据。
    """
    if top is not None and top < 1:
        raise typer.BadParameter(tr("--top must be at least 1", "--top 至少为 1"), param_hint="--top")
    err = Console(stderr=True, soft_wrap=True)  # paths and meter ids in messages are never broken
    out = Console()
    step = _interval(interval)
    tz_offset = _tz_offset(tz_offset)
    meta_issues: list[DataIssue] = []
    try:
        meta_d = read_meta(meta, meta_issues) if meta else {}
        temps = read_temperature(temperature, tz_offset) if temperature else {}
        from minewatch.assess.hardware import load_catalog

        catalog = load_catalog(hardware) if hardware else None
    except InputError as e:
        _error(err, e)
        raise typer.Exit(2) from e
    # a directory is the meter files in it (not recursive); what is skipped is said before the results
    files, dir_notes, no_meter_dirs = expand_directories(files)
    for n in dir_notes:
        err.print(n, markup=False, highlight=False)
    for d in no_meter_dirs:
        where = position_zh(str(d), None, None, False, None) if current() == "zh" else str(d)
        sep = "：" if current() == "zh" else ": "
        msg = tr("no meter file in this directory", "此文件夹中没有电表数据文件")
        err.print(f"[red]{error_prefix().strip()}[/red]{'' if current() == 'zh' else ' '}{escape(where + sep + msg)}")
    # binary files are named for what they are before any reader guesses at them
    binary = [p for p in files if p.is_file() and is_binary_input(p)]
    for p in binary:
        _not_meter(err, p)
    readable = [p for p in files if p not in binary]
    too_big = _too_big_for_memory(readable)
    if too_big:
        err.print(f"[red]{error_prefix().strip()}[/red]{'' if current() == 'zh' else ' '}{escape(too_big)}")
        raise typer.Exit(2)
    # every file first, then each meter's readings joined across files (monthly exports) onto one grid
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        total, errors = read_files(readable, interval_s=step, unit=unit, tz_offset_h=tz_offset)
    empty = [e for e in errors if e.message == "empty file"]
    for e in errors:
        if e in empty:  # nothing to read: said, not an error (as `minewatch scan` says it)
            err.print(tr(f"{e.path}: empty file, nothing to read", f"{position_zh(e.path)}：空文件，没有可读内容"),
                      markup=False, highlight=False)
        else:
            _error(err, e)
    failed = len(errors) - len(empty) + len(binary) + len(no_meter_dirs)
    if not total.series and len(errors) + len(binary) == len(files):
        raise typer.Exit(EXIT_UNREAD if failed else 0)
    total.temperature.update(temps)
    from minewatch.power.scan import scan_series

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = scan_series(total.series, meta=meta_d, temperature=total.temperature, tz_offset_h=tz_offset,
                          catalog=catalog)
    # every suspect is stored (a case must not lose a meter because the screen showed 20); --top only
    # limits what is listed and plotted
    suspects = res.suspects(threshold, None)
    listed = res.suspects(threshold, top)
    ranked = sorted(res.scores, key=lambda m: (-m.score, m.meter_id))
    if all_meters and fmt != "table":
        shown = [m.finding for m in (ranked[:top] if top else ranked)]
        for fd in shown:  # every meter is listed; only those at the threshold are suspects
            fd.extra["suspect"] = fd.score >= threshold
    else:
        shown = listed
    if fmt == "jsonl":
        for fd in shown:
            sys.stdout.write(fd.to_json() + "\n")
    elif fmt == "csv":
        from minewatch.export import csv_cell  # meter ids come from customers' files: no formulas

        w = csv.writer(sys.stdout)
        w.writerow(["meter_id", "score", "onset", "kw_mining", "machines_est", "subscores", "evidence"])
        for fd in shown:
            rec = fd.to_record()
            w.writerow([csv_cell(x) for x in (fd.meter_id, fd.score, rec["onset"], fd.kw_mining, fd.machines_est,
                                              json.dumps(fd.subscores), " | ".join(e.render() for e in fd.evidence[:1]))])
    else:
        t = Table(title=tr("Suspected mining loads", "疑似挖矿负荷"))
        # the onset's day on the meter's clock, and the column says which clock (a rig switched on at local
        # 00:00 on 1 December is 30 November in UTC; the network tables say "(UTC)" too)
        clock = clock_label(tz_offset)
        for c in (tr("meter", "电表"), tr("score", "得分"), tr(f"onset ({clock})", f"起始（{clock}）"),
                  tr("kW mining", "挖矿功率 kW"), tr("machines", "矿机数"), tr("evidence", "证据")):
            t.add_column(c)
        for fd in listed:
            t.add_row(str(fd.meter_id), f"{fd.score:.0f}", local_day(fd.onset, tz_offset) if fd.onset else "—",
                      f"{fd.kw_mining:.1f}" if fd.kw_mining is not None else "—",
                      f"{fd.machines_est:g}" if fd.machines_est is not None else "—",
                      fd.evidence[0].render(current()) if fd.evidence else "")
        out.print(t)
    if plot:
        from minewatch.power.plot import plot_suspect

        by_id = {s.meter_id: s for s in total.series}
        for fd in listed:
            if fd.meter_id in by_id:
                plot_suspect(by_id[fd.meter_id], fd, plot, tz_offset_h=tz_offset)
    stored = 0
    if not no_store and suspects:
        from minewatch.store.backend import as_db, open_store_for_cli
        from minewatch.store.cases import attach_new

        with open_store_for_cli(db) as st:
            stored = st.add_findings(suspects)
            if stored:  # new suspects join the sites that list their meters, and those sites' open cases
                attach_new(as_db(st))
    # closing summary: every data problem, with meter and time; counts are the true numbers (each
    # issue carries how many readings it stands for), only the examples are capped
    issues = total.issues + meta_issues
    kinds: Counter[str] = Counter()
    for i in issues:
        kinds[i.kind] += i.count
    judged = [s for s in total.series if s.meter_id not in res.skipped]
    used = sum(used_readings(s) for s in judged)
    n_skip = sum(1 for s in total.series if s.meter_id in res.skipped)
    # of every reading the files held, those lost with a line or row that could not be read included
    # (review 15: a wide line polars refused stood for a reading per meter and was left out of "of M")
    n_in = total.readings + total.lost
    n_empty = f", {len(empty)} empty" if empty else ""
    n_empty_zh = f"，{len(empty)} 个空文件" if empty else ""
    err.print(tr(
        f"{_count(len(total.series), 'meter')} ({n_skip:,} skipped), {used:,} of {n_in:,} readings used, "
        f"{_count(len(suspects), 'suspect')} (score ≥ {threshold:g}), {stored:,} new in store, "
        f"{_count(failed, 'file')} failed"
        f"{n_empty}",
        f"{len(total.series):,} 块电表（跳过 {n_skip:,} 块），使用 {used:,} / {n_in:,} 条读数，"
        f"{len(suspects):,} 块嫌疑电表（得分 ≥ {threshold:g}），新入库 {stored:,} 条，{failed} 个文件失败{n_empty_zh}"))
    if not suspects and ranked and ranked[0].score > 0:
        # nothing reached the line: say what came closest, so an inspector is not left with an empty table
        near = [f"{m.meter_id} {_below(m.score, threshold)}" for m in ranked[:5]]
        daily = sum(1 for s in judged if s.interval_s >= 86_400)
        err.print(tr(f"  highest scores below {threshold:g}: {', '.join(near)} (`--format jsonl --all` ranks every meter)",
                     f"  未达 {threshold:g} 分的最高得分：{'、'.join(near)}（`--format jsonl --all` 列出全部电表排名）"),
                  markup=False, highlight=False)
        if daily:
            err.print(tr(
                f"  {_count(daily, 'meter')} {'has' if daily == 1 else 'have'} one reading a day: whether a load "
                "runs all day and night cannot be "
                "seen, so their scores stay lower; hourly or finer readings, or a tariff class in --meta, "
                "give more evidence",
                f"  {daily:,} 块电表每天只有一个读数：看不出负荷是否昼夜运行，得分因此偏低；"
                "小时或更细的读数，或在 --meta 中给出电价类别，可提供更多证据"), markup=False, highlight=False)
    names = ISSUE_NAMES
    always = ("gap", "duplicate", "dst_jump", "meter_reset", "negative", "unparsable", "off_grid", "unit_assumed")
    for k in (*always, "far_timestamp", "resolution_change", "register_suspect", "meta_duplicate", "meta_bad_value",
              "sheet_skipped", "not_read", "name_clash"):
        items = [i for i in issues if i.kind == k]
        if k not in always and not items:
            continue
        en, zh = names[k]
        err.print(tr(f"  {en}: {kinds.get(k, 0):,}", f"  {zh}：{kinds.get(k, 0):,}"), markup=False, highlight=False)
        for i in items[:5]:
            # the detail is made in English by the reader (it is also a log line); worded here
            text = " ".join(x for x in (i.meter_id, i.ts.isoformat() if i.ts else None, say(i.detail)) if x)
            err.print("    " + text, markup=False, highlight=False)
        if len(items) > 5:  # the count is of entries (a gap entry stands for many slots), so it says so
            err.print(tr(f"    … and {len(items) - 5} more", f"    …… 另有 {len(items) - 5} 处"))
    if total.rejects.total:
        # "reason: count" ("unparsable line 192" read as a line number; review 14)
        parts = "; ".join(f"{r}: {n:,}" for r, n in sorted(total.rejects.counts.items()))
        parts_zh = "；".join(f"{say(r, 'zh')}：{n:,}" for r, n in sorted(total.rejects.counts.items()))
        err.print(tr(f"  rejected readings: {total.rejects.total:,} ({parts})",
                     f"  被拒读数：{total.rejects.total:,}（{parts_zh}）"), markup=False, highlight=False)
    if meta:
        ids = {s.meter_id for s in total.series}
        ghost = sorted(m for m in meta_d if m not in ids)
        if ghost:
            names_g = ", ".join(ghost[:5]) + (", …" if len(ghost) > 5 else "")
            err.print(tr(f"  metadata rows for meters not in the data: {len(ghost)} ({names_g})",
                         f"  数据中没有的电表的档案行：{len(ghost)}（{names_g}）"))
    if res.skipped:
        err.print(tr(f"  meters skipped: {len(res.skipped)}", f"  跳过的电表：{len(res.skipped)}"))
    skipped_notes = set(res.skipped.values())
    notes = list(res.skipped.values()) + [n for n in res.notes if n not in skipped_notes]
    for n in notes[:10]:
        err.print(f"  {n}")
    if len(notes) > 10:
        err.print(tr(f"  … and {len(notes) - 10} more notes", f"  …… 另有 {len(notes) - 10} 条说明"))
    if failed:
        # after everything was said: a pipeline must not take an unreadable input for a clean scan
        raise typer.Exit(EXIT_UNREAD)
