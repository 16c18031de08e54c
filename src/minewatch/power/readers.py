"""Read meter data in the layouts grid companies actually hand over, and say what is wrong with it.

Why one reader for three layouts: inspection teams get long exports from the acquisition system
(meter, time, value), wide tables (one column per meter, as in the UCI load diagrams) and daily
tables (one row per customer, one column per day, as in the State Grid theft set). They all end
up as one regular grid per meter (`MeterSeries`), so the detector never sees the layout.

Why the readings of a meter are joined before its grid is built: acquisition systems export a
month per file, so one meter arrives in twelve pieces. Judged piece by piece, a rig is a step in one
month at best; joined, it is a step in a year. `read_files` collects every file's readings per meter
id and builds each meter's grid once (`ReadResult.build`); readings of one slot in two files are
duplicates like any other.

Why report and never fill: a gap filled with zeros looks like curtailment and a gap filled with the
previous value looks like a flat miner. Missing slots stay NaN (null) and every gap, duplicate,
daylight-saving jump, meter reset, negative value, off-grid or far-off timestamp and unparsable cell is
counted (`DataIssue.count` is the true number; the detail names the first few with file and line).

Timestamps are taken as wall-clock local time of the meter (they label the interval as the file
does; nothing is shifted). Hour-of-day features need local time; `tz_offset_h` only moves the
onset reported in findings to UTC.
"""

from __future__ import annotations

import csv
import html
import inspect
import io
import math
import re
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from minewatch.errors import InputError, Rejects

#: column names, English and as Chinese grid systems export them (电表编号/户号, 采集时间, 有功电量 ...);
#: a trailing unit in brackets ("有功电量(kWh)", "Power [kW]") is ignored when matching
METER_COLS = ("meter_id", "meter", "customer_id", "customer", "cons_no", "id", "mp_id", "account",
              "meterid", "meter_no", "meter_number", "customerid", "lclid", "dataid", "house_id", "household_id",
              "building_id", "site_id", "mpan", "nmi", "icp", "esiid",
              "电表编号", "电表号", "表号", "户号", "用户编号", "计量点编号", "表计编号", "电能表编号", "用户号")
TS_COLS = ("ts", "timestamp", "time", "datetime", "reading_datetime", "date", "date_time", "interval_end",
           "day", "read_date", "reading_date", "data_date", "local_15min", "localminute",
           "时间", "采集时间", "数据时间", "抄表时间", "日期", "时刻", "数据日期", "采集日期", "抄表日期")
VALUE_COLS = ("kwh", "kw", "value", "general_supply_kwh", "energy_kwh", "power_kw", "load", "consumption",
              "kwh/hh", "kwh_hh", "energy(kwh/hh)",
              "电量", "有功电量", "正向有功电量", "用电量", "功率", "有功功率", "负荷")
TEMP_COLS = ("temp_c", "temperature", "temp", "ot", "t_ambient", "temp_f", "temperature_f", "温度", "气温")
#: Chinese value names that say their unit: energy per interval or power
_ZH_ENERGY = ("电量", "用电量")
_ZH_POWER = ("功率", "负荷")

Layout = str  # "long" | "wide" | "daily" | "points"

#: Day-by-points layout, the usual export of Chinese load-acquisition systems (96点负荷曲线): one row per
#: meter and day, one column per time of day ("00:15" … "24:00", "0:00" … "23:45") or per numbered point
#: ("P1" … "P96", "第1点", "H01" … "H24"). Numbered point k of N is the slot starting (k - first) × 24 h / N
#: after midnight; named times are taken as written (interval-end labels stay end labels, as elsewhere).
_TOD_RE = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
_TOD_COMPACT_RE = re.compile(r"^(\d{2})(\d{2})()$")  # 0015 … 2400
_RANGE_RE = re.compile(r"^(\d{1,2}:?\d{2}(?::\d{2})?)\s*[-~～—–至]\s*(\d{1,2}:?\d{2}(?::\d{2})?)$")
#: share of a day's points a points table must have (the others become gaps)
MIN_POINT_SHARE = 0.9
_POINT_RE = re.compile(r"^(p|pt|point|v|val|value|h|hour|t|u|第|点)?[_\s-]?(\d{1,3})(点|时)?$", re.IGNORECASE)
POINTS_PER_DAY = (24, 48, 96, 288)
#: Cell texts that mean "no reading" in exports (LCL writes Null, others NA, N/A, - or 无): missing, like an
#: empty cell, so they become gaps instead of unparsable values.
MISSING_TOKENS = ("null", "na", "n/a", "none", "-", "--", "#n/a", "无", "空")

#: A timestamp within this share of the interval of a whole slot is that slot (AMI clocks drift by
#: seconds; a reading 6 minutes off an hourly grid is still that hour's reading). Farther: off-grid.
SNAP_TOL = 0.1
#: Readings separated from the rest of their meter by more than this (and by more than the span of
#: the rest) are taken as mistyped timestamps and rejected: one "2203-01-06" among 2023 readings
#: must not build a 180-year grid.
FAR_GAP_S = 92 * 86400
#: ... when they are at most this share of the meter's readings (a real second season of data is not).
FAR_SHARE = 0.01
#: A change of reading interval counts as a change of resolution when each interval runs unbroken
#: for at least this long (and 24 readings): a 15-min meter that lost readings is not an hourly one.
RES_RUN_S = 2 * 86400
#: Intervals readings are snapped to when their spacing is within SNAP_TOL of one (seconds).
_NICE = np.array([1, 2, 5, 10, 15, 20, 30, 60, 120, 180, 300, 600, 900, 1200, 1800, 3600, 7200, 10800,
                  14400, 21600, 43200, 86400], dtype=np.int64)  # fmt: skip
#: How many examples (file and line) an issue's text names; its count is always the true number.
EXAMPLES = 5


@dataclass(slots=True)
class DataIssue:
    """One data problem a person can look up: which meter, when, what, and how many readings."""

    # gap | duplicate | dst_jump | meter_reset | negative | unparsable | unit_assumed | off_grid |
    # far_timestamp | resolution_change | register_suspect | meta_duplicate | meta_bad_value | sheet_skipped |
    # not_read (other data items of a points export, its duplicate 24:00 column) | name_clash (one meter id
    # in two files that disagree on the same times: read as two meters)
    kind: str
    meter_id: str | None
    ts: datetime | None
    detail: str
    count: int = 1


@dataclass(slots=True)
class MeterSeries:
    """A meter's load on a regular grid: mean kW per slot, NaN where nothing valid was read.

    `start_s` is the wall-clock time of the first slot as seconds since 1970 (local, not UTC).
    """

    meter_id: str
    start_s: int
    interval_s: int
    kw: np.ndarray
    source: str = ""
    unit_in: str = "kwh"
    #: readings behind the valid slots (more than the slots when finer readings were averaged into a
    #: coarser grid after a change of resolution); -1: not counted (series not built by `regularise`)
    readings_used: int = -1

    @property
    def n_valid(self) -> int:
        return int(np.count_nonzero(~np.isnan(self.kw)))

    def times(self) -> np.ndarray:
        return self.start_s + np.arange(self.kw.size, dtype=np.int64) * self.interval_s


@dataclass(slots=True)
class _Piece:
    """One file's readings of one meter, before any grid: joined with the meter's other pieces first."""

    t: np.ndarray  # wall-clock seconds
    v: np.ndarray  # value as read (kWh per interval or kW)
    line: np.ndarray  # line (CSV) or row (Parquet) of each reading in its file
    path: Path
    unit: str
    interval_s: int | None
    temp: np.ndarray | None = None


@dataclass(slots=True)
class Origin:
    """Where each reading of a meter came from, so a problem can be named by file and line."""

    files: list[Path]
    file_idx: np.ndarray
    line: np.ndarray

    @staticmethod
    def unknown(p: Path, n: int) -> Origin:
        return Origin([p], np.zeros(n, np.int64), np.zeros(n, np.int64))

    def take(self, idx: np.ndarray) -> Origin:
        return Origin(self.files, self.file_idx[idx], self.line[idx])

    def where(self, i: int) -> str:
        p = self.files[int(self.file_idx[i])]
        ln = int(self.line[i])
        if ln <= 0:
            return p.name
        return f"{p.name} {_row_word(p)} {ln}"

    def label(self) -> str:
        names = list(dict.fromkeys(str(p) for p in self.files))
        if len(names) <= 2:
            return ", ".join(names)
        return f"{names[0]} … {names[-1]} ({len(names)} files)"


@dataclass
class ReadResult:
    series: list[MeterSeries] = field(default_factory=list)
    temperature: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # key -> (ts_s, °C)
    issues: list[DataIssue] = field(default_factory=list)
    rejects: Rejects = field(default_factory=Rejects)
    readings: int = 0  #: readings read: data rows (long) or non-empty cells (wide, daily) that name a meter
    #: readings in lines or rows rejected before they could be read (a line polars refused, a row whose time,
    #: date or meter id cannot be read: the readings its row held in its layout), not in `readings`; the
    #: summary's "N of M readings used" counts them in M (review 15: a wide line lost went unsaid there)
    lost: int = 0
    layout: str = ""
    pieces: dict[str, list[_Piece]] = field(default_factory=dict)  #: readings per meter not yet on a grid

    @property
    def readings_used(self) -> int:
        """Readings behind the meters' valid slots: what is left after duplicates, off-grid, far-off and
        unparsable readings, negatives and register differencing."""
        return sum(used_readings(s) for s in self.series)

    def merge(self, other: ReadResult) -> None:
        self.series.extend(other.series)
        for k, (t, v) in other.temperature.items():
            if k in self.temperature:
                t0, v0 = self.temperature[k]
                tt, vv = np.concatenate([t0, t]), np.concatenate([v0, v])
                o = np.argsort(tt, kind="stable")
                self.temperature[k] = (tt[o], vv[o])
            else:
                self.temperature[k] = (t, v)
        self.issues.extend(other.issues)
        self.rejects.merge(other.rejects)
        self.readings += other.readings
        self.lost += other.lost
        for mid, ps in other.pieces.items():
            self.pieces.setdefault(mid, []).extend(ps)

    def build(self) -> None:
        """Join each meter's pieces (from every file read so far) and put the meter on its grid."""
        split: dict[str, list[_Piece]] = {}
        for mid, ps in self.pieces.items():
            for name, group in _split_name_clashes(mid, ps, self.issues).items():
                split.setdefault(name, []).extend(group)
        for mid, ps in split.items():
            files = list(dict.fromkeys(p.path for p in ps))
            fidx = {p: i for i, p in enumerate(files)}
            t = np.concatenate([p.t for p in ps])
            v = np.concatenate([p.v for p in ps])
            kwh = np.concatenate([np.full(p.t.size, p.unit == "kwh") for p in ps])
            origin = Origin(files, np.concatenate([np.full(p.t.size, fidx[p.path], np.int64) for p in ps]),
                            np.concatenate([p.line for p in ps]))
            forced = {p.interval_s for p in ps}
            step = forced.pop() if len(forced) == 1 else None
            units = {p.unit for p in ps}
            unit = units.pop() if len(units) == 1 else "mixed"
            self.series.append(regularise(mid, t, v, files[0], self, interval_s=step, unit=unit,
                                          origin=origin, kwh=kwh))
            temps = [(p.t, p.temp) for p in ps if p.temp is not None]
            if temps:
                tt = np.concatenate([a for a, _ in temps])
                vv = np.concatenate([b for _, b in temps])
                o = np.argsort(tt, kind="stable")
                self.temperature[mid] = (tt[o], vv[o])
        self.pieces = {}


#: Two files' readings of one meter id clash when at least this many timestamps appear in both, and they
#: are at least CLASH_OVERLAP of the smaller file's (monthly exports overlap by a day: one meter) ...
CLASH_MIN_SHARED = 24
CLASH_OVERLAP = 0.5
#: ... and on at least this share of them the values differ by more than CLASH_REL_TOL (relative)
CLASH_SHARE = 0.5
CLASH_REL_TOL = 0.01


def _split_name_clashes(mid: str, ps: list[_Piece], issues: list[DataIssue]) -> dict[str, list[_Piece]]:
    """A meter id whose files disagree on the same timestamps is not one meter: each disagreeing file's
    readings become a meter of their own, named `<file stem>:<id>`.

    Why: wide tables name meters by column, and two sites' exports reuse the same column names (the ETT
    transformer files both call their feeders HUFL, MUFL, LUFL); joined as one meter, every reading of the
    second file was a "duplicate, first kept" and a whole site vanished (user review). Monthly exports of
    one meter overlap by a day at most (their differing values stay duplicates, first kept), and an
    overlap that repeats the same values (an export re-run) is one meter: both stay joined. The split is said as a data issue naming both files.
    """
    files = list(dict.fromkeys(p.path for p in ps))
    if len(files) < 2:
        return {mid: ps}
    by_file = {f: [p for p in ps if p.path == f] for f in files}
    groups: list[tuple[Path, list[_Piece], np.ndarray, np.ndarray]] = []  # (first file, pieces, t, v)
    out: dict[str, list[_Piece]] = {}
    for f in files:
        fp = by_file[f]
        t = np.concatenate([p.t for p in fp])
        v = np.concatenate([p.v.astype(np.float64, copy=False) for p in fp])
        home = None
        for gi, (_f0, _gp, gt, gv) in enumerate(groups):
            shared, ia, ib = np.intersect1d(gt, t, assume_unique=False, return_indices=True)
            if shared.size < max(CLASH_MIN_SHARED, CLASH_OVERLAP * min(gt.size, t.size)):
                home = gi
                break
            a, b = gv[ia], v[ib]
            ok = np.isfinite(a) & np.isfinite(b)
            if not ok.any():
                home = gi
                break
            differ = np.abs(a[ok] - b[ok]) > CLASH_REL_TOL * np.maximum(np.abs(a[ok]), np.abs(b[ok])) + 1e-9
            if differ.mean() < CLASH_SHARE:
                home = gi
                break
        if home is None:
            groups.append((f, list(fp), t, v))
            if len(groups) > 1:
                f0 = groups[0][0]
                issues.append(DataIssue(
                    "name_clash", mid, None,
                    f"meter {mid} in {f.name} disagrees with {mid} in {f0.name} on the same times; read as "
                    f"meter {f.stem}:{mid}", count=int(t.size)))
        else:
            f0, gp, gt, gv = groups[home]
            groups[home] = (f0, gp + list(fp), np.concatenate([gt, t]), np.concatenate([gv, v]))
    for gi, (f0, gp, _t, _v) in enumerate(groups):
        out[mid if gi == 0 else f"{f0.stem}:{mid}"] = gp
    return out


def used_readings(s: MeterSeries) -> int:
    """Readings a series stands on (its valid slots when it was not built from readings)."""
    return s.readings_used if s.readings_used >= 0 else s.n_valid


def _dt(seconds: int | float) -> datetime:
    return datetime.fromtimestamp(int(seconds), tz=UTC).replace(tzinfo=None)


def _is_parquet(p: Path) -> bool:
    return p.suffix.lower() in (".parquet", ".pq")


#: Peak memory of `power scan` per reading of its input, measured (`/usr/bin/time -v`, docs/power.md
#: "Speed"): a long hourly Parquet of 2,000 and 5,000 meters x 8,760 h peaked at 268 and 260 bytes a
#: reading. Why so many: the whole input is read into one polars frame, then per-meter NumPy arrays,
#: grids and the block kernel's copies, all held until the scan ends (meters are joined across files
#: and compared with their peers). Used only to refuse an input that cannot fit, so rounded down.
SCAN_BYTES_PER_READING = 250


def estimate_readings(p: Path) -> int | None:
    """About how many readings a meter file holds, without reading it (None: cannot tell cheaply).

    Why: `power scan` holds every reading in memory, and a file of 876 M readings needs some 230 GB;
    the command should say so before it runs out of memory, not after. Parquet: rows from the footer
    (times the value columns of a wide table: every column but meter and time). Plain CSV: the file's
    size over the mean length of its first lines, times its value columns. Compressed files and
    workbooks are not estimated (workbooks cannot hold enough rows to matter)."""
    try:
        with p.open("rb") as fh:
            head = fh.read(65536)
    except OSError:
        return None
    try:
        size = p.stat().st_size
        if head.startswith(b"PAR1"):
            import pyarrow.parquet as pq

            pf = pq.ParquetFile(p)
            return int(pf.metadata.num_rows) * _readings_per_row(list(pf.schema_arrow.names))
    except Exception:  # an unreadable footer is the reader's to name, with its position
        return None
    if head.startswith(_NOT_TEXT_MAGIC) or not head:
        return None
    lines = head.splitlines()[1:-1] if size > len(head) else head.splitlines()[1:]
    if not lines:
        return 0
    mean = sum(len(x) + 1 for x in lines) / len(lines)
    text = head.decode("utf-8", errors="replace")
    delim = max((",", ";", "\t", "|"), key=text.count)
    first = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
    header = [c.strip().strip('"') for c in first.split(delim)]
    fields = lines[-1].decode("utf-8", errors="replace").count(delim) + 1
    per_row = _readings_per_row(header, fields)
    return int(size / mean) * per_row


def _readings_per_row(cols: list[str], n_fields: int | None = None) -> int:
    """Readings a row stands for: one in a long table (`_long_header`; its other columns are other quantities or
    context, e.g. kvarh, voltage, status), else every column but the first two (a wide, daily or points table). Review 16: counting every extra column of a long export made `power scan` refuse files that fit."""
    if _long_header(cols):
        return 1
    n = len(cols) if n_fields is None else n_fields  # a CSV's data line: the header may be a title row
    return max(1, n - 2 if n > 4 else 1)


def _long_header(cols: list[str]) -> bool:
    """A long table's header: a meter, a time and a named value column (a day-by-points table has the first two
    and numbered or clock-time columns instead of a value)."""
    return bool(_find(cols, METER_COLS) and _find(cols, TS_COLS) and _find(cols, VALUE_COLS))


#: how files that are no plain text begin: gzip, zstd, zip (xlsx, ods), OLE2 (xls)
_NOT_TEXT_MAGIC = (b"\x1f\x8b", b"\x28\xb5\x2f\xfd", b"PK\x03\x04", b"\xd0\xcf\x11\xe0")


#: Spreadsheets read with calamine (fastexcel): what grid staff export from acquisition systems.
SHEET_SUFFIXES = (".xlsx", ".xlsm", ".xlsb", ".xls", ".ods")


def _is_sheet(p: Path) -> bool:
    """A spreadsheet by its name, or one sheet of one (named `book.xlsx[sheet]` in messages)."""
    return p.suffix.lower() in SHEET_SUFFIXES or bool(re.search(r"\[[^\]]*\]$", p.name))


def is_spreadsheet(p: Path) -> bool:
    """A spreadsheet by its content (an upload is stored under its hash, without its name): an OLE2
    file (.xls) or a zip holding an Excel workbook or an OpenDocument spreadsheet."""
    import zipfile

    try:
        with p.open("rb") as fh:
            head = fh.read(8)
        if head == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
            return True
        if head[:4] != b"PK\x03\x04":
            return False
        with zipfile.ZipFile(p) as z:
            names = set(z.namelist()[:200])
            if "xl/workbook.xml" in names or "xl/workbook.bin" in names:
                return True
            return "mimetype" in names and z.read("mimetype").startswith(b"application/vnd.oasis.opendocument.spreadsheet")
    except (OSError, zipfile.BadZipFile, KeyError):
        return False


def _row_word(p: Path) -> str:
    return "row" if _is_parquet(p) or _is_sheet(p) else "line"


#: Excel stores a time of day as a date-time on its epoch day; a header cell "00:15" reads as this.
_EXCEL_TIME = re.compile(r"^1899-12-3[01][ T](\d\d:\d\d(?::\d\d)?)(?:\.0+)?$")
#: Excel's 1.0 (a typed "24:00") read back as a date-time
_EXCEL_24H = re.compile(r"^1900-01-01[ T]00:00(?::00)?(?:\.0+)?$")
#: Memory a spreadsheet may take while it is loaded (its own process): calamine builds a dense grid of
#: the used range, so a 5 kB file with cells in A1 and XFD1048576 asks for 512 GB and aborts the process
SHEET_MEMORY_BYTES = 3 << 30
SHEET_TIMEOUT_S = 600


def _dump_sheets(path: str, out_dir: str) -> None:
    """Child side of `load_sheets`: every sheet as strings, written as Arrow IPC files (index.json names
    them). Run in its own process so that calamine's abort on an oversized grid ends only this one."""
    import json

    import fastexcel

    book = fastexcel.read_excel(path)
    names = list(book.sheet_names)
    for i, name in enumerate(names):
        book.load_sheet(name, header_row=None, dtypes="string").to_polars().write_ipc(f"{out_dir}/{i}.arrow")
    Path(out_dir, "index.json").write_text(json.dumps(names))


def _first_rows(path: Path) -> dict[str, int]:
    """Row number of each sheet's first row with a cell, for .xlsx (from its XML); 1 where unknown."""
    import zipfile

    out: dict[str, int] = {}
    try:
        with zipfile.ZipFile(path) as z:
            wb = z.read("xl/workbook.xml").decode("utf-8", "replace")
            rels = z.read("xl/_rels/workbook.xml.rels").decode("utf-8", "replace")
            target = {m[0]: m[1] for m in re.findall(r'<Relationship[^>]*?Id="([^"]+)"[^>]*?Target="([^"]+)"', rels)}
            target.update({m[1]: m[0] for m in re.findall(r'<Relationship[^>]*?Target="([^"]+)"[^>]*?Id="([^"]+)"',
                                                              rels)})
            for name, rid in re.findall(r'<sheet[^>]*?name="([^"]+)"[^>]*?r:id="([^"]+)"', wb):
                t = target.get(rid)
                if not t:
                    continue
                member = t.lstrip("/") if t.startswith("/") else f"xl/{t}"
                with z.open(member) as fh:
                    head = fh.read(1 << 20).decode("utf-8", "replace")
                m = re.search(r'<c[^>]*?r="[A-Z]+(\d+)"', head)  # the first cell (a styled empty row has none)
                if m:
                    out[html.unescape(name)] = int(m.group(1))
    except (OSError, KeyError, zipfile.BadZipFile, ValueError):
        return {}
    return out


def _limit_memory() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (SHEET_MEMORY_BYTES, SHEET_MEMORY_BYTES))


def _sheet_without_table(df: pl.DataFrame) -> str:
    """Why a sheet holds no table (a header and data rows): empty, or what its first cell says."""
    for row in df.head(_TITLE_SCAN).iter_rows():
        for cell in row:
            text = " ".join(str(cell or "").split())
            if text:
                return ("no table of readings (a header and data rows), its first cell reads "
                        f"{(text[:60] + '…') if len(text) > 60 else text!r}")
    return "empty sheet"


def load_sheets(path: Path, skipped: list[tuple[str, str]] | None = None) -> list[tuple[str, pl.DataFrame]]:
    """Every sheet of a spreadsheet that holds a table as (name, table of strings), header from its first
    row; the others (empty, a note of a line or two) go to `skipped` with why, so the reader names them
    (review 15: a one-line notes sheet was passed over without a word).

    Why not `pl.read_excel`: it drops header cells that are not text, and 96-point exports head their
    columns with Excel times ("00:15" is a number formatted as a time). Here the header row is read as
    text like the rest; a time-of-day cell comes back on Excel's epoch day and is cut to the time, and
    Excel's 1.0 (a typed 24:00) becomes "24:00". The workbook is read in a child process with at most
    SHEET_MEMORY_BYTES of memory: a hostile or broken file ends that process, not the caller (a web
    server reading an upload).
    """
    import json
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="mw-sheets-") as td:
        code = "import sys; from minewatch.power.readers import _dump_sheets; _dump_sheets(sys.argv[1], sys.argv[2])"
        try:
            r = subprocess.run([sys.executable, "-c", code, str(path), td], capture_output=True, text=True,
                               timeout=SHEET_TIMEOUT_S, preexec_fn=_limit_memory)
        except subprocess.TimeoutExpired as e:
            raise InputError(f"spreadsheet not read within {SHEET_TIMEOUT_S} s", path=str(path)) from e
        if r.returncode != 0:
            lines = r.stderr.strip().splitlines() or ["no message"]
            last = next((x for x in lines if "memory allocation" in x), lines[-1]).strip()
            if r.returncode < 0 or "memory" in r.stderr.lower():
                raise InputError(f"spreadsheet needs more than {SHEET_MEMORY_BYTES >> 30} GB to load (a sheet whose "
                                 f"used range is far larger than its data?): {last}", path=str(path))
            raise InputError(f"not a readable spreadsheet ({last})", path=str(path))
        names = json.loads(Path(td, "index.json").read_text())
        first_rows = _first_rows(path)
        sheets = [(name, pl.read_ipc(io.BytesIO(Path(td, f"{i}.arrow").read_bytes()))) for i, name in enumerate(names)]
    out = []
    for name, df in sheets:
        if df.height < 2:
            if skipped is not None:
                skipped.append((name, _sheet_without_table(df)))
            continue
        top = df.head(_TITLE_SCAN)
        h = _header_index([sum(1 for c in top.row(i) if c is not None and str(c).strip()) for i in range(top.height)])
        if df.height < h + 2:
            if skipped is not None:
                skipped.append((name, _sheet_without_table(df)))
            continue
        # rows are counted from the sheet's first non-empty row (calamine reads the used range); where
        # the sheet says its data start lower, the header's row number is moved by as much
        _set_header_line(str(path.with_name(f"{path.name}[{name.replace('/', '／')}]")),
                         first_rows.get(name, 1) + h)
        header: list[str] = []
        for i, cell in enumerate(df.row(h)):
            text = (cell or "").strip()
            m = _EXCEL_TIME.match(text)
            if m:  # "01:00:00" as the export shows it: "01:00"
                text = m.group(1)[:5] if m.group(1).endswith(":00") or len(m.group(1)) == 5 else m.group(1)
            elif _EXCEL_24H.match(text):
                text = "24:00"
            text = text or f"column_{i + 1}"
            while text in header:
                text += "_"
            header.append(text)
        body = df.slice(h + 1)
        body.columns = header
        out.append((name, body.with_columns(pl.all().str.strip_chars())))
    if not out:
        raise InputError("spreadsheet has no sheet with a header and data rows", path=str(path))
    return out


_UNIT_SUFFIX = re.compile(r"\s*[\(（\[【].*?[\)）\]】]\s*$")


def _find(cols: list[str], names: tuple[str, ...]) -> str | None:
    low = {c.lower().strip(): c for c in cols}
    for n in names:
        if n in low:
            return low[n]
    bare = {_UNIT_SUFFIX.sub("", c.lower().strip()): c for c in cols}
    for n in names:
        if n in bare:
            return bare[n]
    return None


def _fahrenheit(name: str) -> bool:
    """A temperature column in °F by its name (temp_f, Temperature (°F), 温度(℉)): converted, not read as °C."""
    n = name.lower()
    return bool(re.search(r"(?:_f$|°f|℉|\(f\)|\[f\]|fahrenheit)", n))


def _celsius(values: pl.Series, name: str) -> pl.Series:
    f = _to_float(values)
    return (f - 32.0) * (5.0 / 9.0) if _fahrenheit(name) else f


_DATE_RE = re.compile(r"^\d{4}[-/]\d{1,2}[-/]\d{1,2}")


def _decode(raw: bytes) -> tuple[str, str] | None:
    """Text and encoding name: UTF-16 (a BOM, or the NUL of every other byte of ASCII text: Excel's and
    WPS's "Unicode text"), UTF-8 (with or without BOM), else GB18030 (a superset of GBK, which Chinese
    grid systems export), else None."""
    enc = _utf16(raw[:65536])
    if enc is not None:
        # a lone byte at the end or an unpaired surrogate: a replacement character in its cell, named there
        return raw.decode("utf-16" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else enc, "replace"), enc
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(enc), enc
        except UnicodeDecodeError:
            continue
    return None


#: control bytes that do not occur in text (tab, LF, FF, CR and ESC do)
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 12, 13, 27)) + b"\x7f"


def _utf16(head: bytes) -> str | None:
    """"utf-16-le" or "utf-16-be" when the bytes are UTF-16 text: a BOM, or (no BOM) ASCII-range text
    whose every other byte is NUL and that decodes to text without control characters; else None."""
    if head[:2] == b"\xff\xfe" and head[:4] != b"\xff\xfe\x00\x00":
        return "utf-16-le"
    if head[:2] == b"\xfe\xff":
        return "utf-16-be"
    n = min(len(head), 4096) // 2 * 2
    if n < 4:
        return None
    even, odd = head[0:n:2], head[1:n:2]
    half = n // 2
    for enc, zeros, other in (("utf-16-le", odd, even), ("utf-16-be", even, odd)):
        # ASCII-range text: nearly every high byte NUL, and the text has a line break or a delimiter (40 bytes
        # of "\x00\xff\xfe\x01" junk passed the old half-NUL rule as UTF-16-BE; web review 14)
        if zeros.count(0) >= 0.9 * half and other.count(0) <= 0.02 * half:
            text = head[:n].decode(enc, "replace")
            ctrl = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\x0c\x1b")
            if ctrl <= 0.01 * len(text) and any(c in text for c in "\n,;\t"):
                return enc
    return None


def _decodes(head: bytes, enc: str) -> bool:
    """Whether `head` is text in `enc`, a character cut by the end of a partial read allowed."""
    for cut in range(4):
        try:
            head[: len(head) - cut].decode(enc)
            return True
        except UnicodeDecodeError:
            continue
    return False


def text_encoding(head: bytes) -> str | None:
    """The text encoding of a file from its first bytes (a few KiB; a character cut at the end is fine),
    or None when they are not text (a capture, an archive, an image): "utf-8" (ASCII, UTF-8 with or
    without BOM, and text with a few undecodable bytes, which the meter readers name by line),
    "gb18030" (GBK exports), "utf-16-le" or "utf-16-be" (Excel's and WPS's "Unicode text", with or
    without BOM: the NUL bytes of UTF-16 do not make it binary). An empty head is "utf-8".

    For callers that must tell a meter table from a binary file before they read it (`power scan`):
    everything but None is read by `load_table`. A few NUL or control bytes in a text file (a
    damaged line) leave it text: it is binary when more than 1 % of the bytes are control bytes *and* they
    sit on more than a tenth of its lines (one line of 120 NULs in a meter export is a damaged line, review
    14; a capture's control bytes are on nearly every "line")."""
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8"
    u16 = _utf16(head)
    if u16 is not None:
        return u16
    if not head:
        return "utf-8"
    ctrl = len(head) - len(head.translate(None, _CONTROL))
    if ctrl > 0.01 * len(head):
        lines = head.split(b"\n")
        damaged = sum(1 for ln in lines if len(ln) != len(ln.translate(None, _CONTROL)))
        if len(lines) < 3 or damaged > 0.1 * len(lines):
            return None
    if _decodes(head, "utf-8"):
        return "utf-8"
    if _decodes(head, "gb18030"):
        return "gb18030"
    bad = head.decode("utf-8", "replace").count("\ufffd")
    return "utf-8" if bad <= 0.01 * len(head) else None


def _cut(p: Path, e: BaseException, text: bytes, compressed_at: int | None) -> InputError:
    """The error for a compressed file whose stream broke off: where, in the text it gave (byte and line)
    and, for gzip, in the file itself (review 15: a cut `.csv.gz` was named without any position)."""
    from minewatch.sources.pcap import DecompressedInputError

    why = str(e) or type(e).__name__
    line = max(1, text.count(b"\n") + (0 if text.endswith(b"\n") else 1))
    return DecompressedInputError(f"compressed stream is broken or truncated ({why}; the text ends in line "
                                  f"{line})", path=str(p), offset=len(text),
                                  compressed_at=compressed_at)


def _gunzip(p: Path) -> bytes:
    """A gzip file's content (every member, trailing NUL padding allowed, as `gzip.decompress`), or an
    error naming the byte of the file where the stream broke off or was damaged and how far the text got."""
    raw = p.read_bytes()
    out: list[bytes] = []
    got = 0
    pos = 0  # compressed bytes fed so far
    step = 1 << 16
    while pos < len(raw):
        d = zlib.decompressobj(wbits=31)
        while not d.eof:
            if pos >= len(raw):  # the stream ends before its end marker: cut short at the end of the file
                text = b"".join(out)
                raise _cut(p, EOFError("compressed file ended before the end-of-stream marker was reached"), text,
                           len(raw))
            chunk = raw[pos:pos + step]
            saved = d.copy()
            try:
                part = d.decompress(chunk)
            except zlib.error as e:
                # the damaged byte: the same chunk again a byte at a time from the state before it
                at, text = pos, b"".join(out)
                for k in range(len(chunk)):
                    try:
                        text += saved.decompress(chunk[k:k + 1])
                    except zlib.error:
                        at = pos + k
                        break
                raise _cut(p, e, text, at) from e
            out.append(part)
            got += len(part)
            pos += len(chunk) - len(d.unused_data)
        rest = raw[pos:]
        if not rest.strip(b"\0"):
            break
        if rest[:2] != b"\x1f\x8b":
            raise _cut(p, ValueError("data after the end of the gzip stream"), b"".join(out), pos)
    return b"".join(out)


def _inflate(p: Path) -> bytes | None:
    """The content of a gzip or zstd compressed file (sniffing, title rows and encoding need the text,
    not the compressed bytes), None for a file that is not compressed (polars reads it in place). A
    stream that breaks off is an error naming the byte where it did, in the text and (gzip) in the file."""
    with p.open("rb") as fh:
        magic = fh.read(4)
    if magic[:2] == b"\x1f\x8b":
        return _gunzip(p)
    if magic == b"\x28\xb5\x2f\xfd":
        import pyarrow as pa

        parts: list[bytes] = []
        try:
            with pa.input_stream(str(p), compression="zstd") as stream:
                while piece := stream.read(1 << 16):  # small reads: the position of a break is close
                    parts.append(bytes(piece))
        except Exception as e:  # pyarrow's own errors for a broken zstd frame
            raise _cut(p, e, b"".join(parts), None) from e
        return b"".join(parts)
    return None


def _head_text(src: Path | io.BytesIO) -> str:
    """The first 64 KiB of what polars is handed, as text (for the delimiter and the title rows)."""
    if isinstance(src, io.BytesIO):
        head = src.getvalue()[:65536]
    else:
        with src.open("rb") as fh:
            head = fh.read(65536)
    return head.decode("utf-8", "replace")


def _fields(line: str, delim: str) -> int:
    """Number of fields of one line split by `delim` (quotes honoured; an unbalanced quote: plain split)."""
    try:
        return len(next(csv.reader([line], delimiter=delim)))
    except (csv.Error, StopIteration):
        return line.count(delim) + 1


def _table_run(widths: list[int]) -> tuple[int, int, int]:
    """(length, width, start) of the longest run of consecutive lines with the same number of fields, 2 or
    more (the wider run on a tie): where the lines look like a table."""
    best, i = (0, 0, 0), 0
    while i < len(widths):
        j = i
        while j < len(widths) and widths[j] == widths[i]:
            j += 1
        if widths[i] >= 2 and (j - i, widths[i]) > best[:2]:
            best = (j - i, widths[i], i)
        i = j
    return best


def _sniff_text(head: str) -> tuple[str, bool]:
    """Delimiter (`,` `;` or tab: Excel's "Unicode text" is tab separated) and whether decimals use commas.

    The delimiter is the one that splits the longest run of consecutive lines (of the first 50 that are
    not blank) into the same number of fields, 2 or more, the wider on a tie: the lines that look like a
    table (header and data rows) decide it, not a title row above them (review 15: a title `Load report,
    site 3` above a semicolon- or tab-separated table made it comma separated, and the file was refused;
    a run and not a count of lines, since decimal commas split every data row of a `;` table alike, and
    only the header breaks their run). When no delimiter makes such a run (a header alone), the one the
    first line holding any has most of. Decimal commas are looked for from the table's first line on."""
    lines = [ln for ln in head.splitlines() if ln.strip()][:50]
    first = next((ln for ln in lines if any(d in ln for d in ",;\t")), lines[0] if lines else "")
    best: tuple[int, int, int] = (-1, -1, -1)
    delim, start = ",", 0
    for d in (",", ";", "\t"):
        run, width, at = _table_run([_fields(ln, d) for ln in lines])
        score = (run if run >= 2 else 0, width if run >= 2 else 0, first.count(d))
        if score > best:
            best, delim, start = score, d, at
    table = head[head.find(lines[start]):] if lines else head
    comma_dec = delim != "," and bool(re.search(r"\d,\d", table))
    return delim, comma_dec


#: Bytes of a CSV looked at to settle its encoding before it is parsed.
_HEAD_BYTES = 1 << 20


def _utf8_head(head: bytes, full: bool) -> bool:
    """Whether the first bytes of a file are UTF-8 (a character cut by the end of a partial read is fine)."""
    try:
        head.decode("utf-8")
        return True
    except UnicodeDecodeError as e:
        return not full and e.start >= len(head) - 3


#: Line of the header where it is not line 1 (title rows above it: "XX供电公司用电信息采集系统 数据导出"), by
#: file (or `book.xlsx[sheet]`), so messages name the lines and rows of the file as a person sees them.
_HEADER_LINE: dict[str, int] = {}
#: lines looked at for title rows
_TITLE_SCAN = 20


#: whether this polars reads `skip_lines` (raw lines, blank ones counted as a person counts them)
_SKIP_LINES = "skip_lines" in inspect.signature(pl.read_csv).parameters


def _skip(title: int, header_line: int) -> dict[str, int]:
    """How to tell polars where the header is: by raw lines (`skip_lines`) where polars has it, else by
    rows (`skip_rows` passes over leading blank lines)."""
    if _SKIP_LINES:
        return {"skip_lines": header_line - 1} if header_line > 1 else {}
    return {"skip_rows": title} if title else {}


def _set_header_line(key: str, line: int) -> None:
    """Record (or, for line 1, forget) where a file's or sheet's header is: every read sets it anew, so a
    file read again after its title rows were removed is numbered as it is now."""
    if line == 1:
        _HEADER_LINE.pop(key, None)
    else:
        if len(_HEADER_LINE) > 10_000:
            _HEADER_LINE.clear()
        _HEADER_LINE[key] = line


def _header_index(widths: list[int]) -> int:
    """Index of the header among the first rows, given each row's number of non-empty fields: the first
    row at least as wide as 80 % of the usual width (the commonest of rows of 2 fields or more, the
    wider on a tie; 3 fields or more), when every row above it holds one cell at most (a title, an
    export date, a unit line). 0 when the first row already is the header (UCI's header leaves its first
    cell empty: two cells is a header, not a title). The usual width and not the widest: one data line
    with a field too many must not pass over the header and make the title the header."""
    counts = Counter(w for w in widths if w >= 2)
    if not counts:
        return 0
    wide = max(counts, key=lambda w: (counts[w], w))
    if wide < 3:
        return 0
    for i, w in enumerate(widths):
        if w >= 0.8 * wide:
            return i if all(x <= 1 for x in widths[:i]) else 0
    return 0


def _title_lines(src: Path | io.BytesIO, delim: str) -> tuple[int, int]:
    """(title lines above a CSV's header, the header's line number in the file; see `_header_index`).

    Blank lines are not title lines: polars passes over them without counting them in `skip_rows`,
    but they do count in the line numbers a person sees."""
    lines = _head_text(src).splitlines()
    filled = [(i, ln) for i, ln in enumerate(lines) if ln.strip()][:_TITLE_SCAN]
    rows = list(csv.reader([ln for _, ln in filled], delimiter=delim))
    h = _header_index([sum(1 for c in r if c.strip()) for r in rows])
    return h, (filled[h][0] + 1 if filled else 1)


#: Lines `_salvage` took out of a CSV, by file: data row -> (line in the file, its cells as far as they
#: can be read, or None). Every `load_table` sets it anew; the layout readers count and name them.
_RESCUED: dict[str, dict[int, tuple[int, list[str] | None]]] = {}
#: what `_salvage` writes into the first cell of a line it takes out, with the line's number after it
_RESCUE_MARK = "\x1emw-rescued-line:"


def load_table(path: str | Path) -> pl.DataFrame:
    """CSV or Parquet into a DataFrame of strings/numbers; parse errors name the file and line.

    A CSV that is not UTF-8 is tried as UTF-16 (Excel's "Unicode text") and GB18030 (GBK exports are
    common in Chinese grid data); a gzip or zstd compressed CSV is read like a plain one. Lines polars
    refuses are taken out by `_salvage` and listed in `_RESCUED`."""
    p = Path(path)
    _RESCUED.pop(str(p), None)
    if not p.exists():
        raise InputError("file not found", path=str(p))
    if _is_parquet(p):
        try:
            return pl.read_parquet(p)
        except Exception as e:  # pyarrow/polars raise many types for a broken file
            raise InputError(f"not a readable Parquet file ({e})", path=str(p), offset=0) from e
    if p.stat().st_size == 0:
        raise InputError("empty file", path=str(p))
    data = _inflate(p)  # the fast path (a plain UTF-8 file) hands polars the path, read in place
    if data is None:
        with p.open("rb") as fh:
            head = fh.read(_HEAD_BYTES)
        full = len(head) < _HEAD_BYTES
    else:
        if not data:
            raise InputError("empty file", path=str(p))
        head, full = data[:_HEAD_BYTES], len(data) <= _HEAD_BYTES
    src: Path | io.BytesIO = p if data is None else io.BytesIO(data)
    text: str | None = None
    if not _utf8_head(head, full) or _utf16(head) is not None:
        # polars reads a GBK header as replacement characters without complaint (only the ASCII
        # digits below it are safe), and UTF-16 as NULs between letters, so the encoding is settled
        # before it reads anything
        dec = _decode(data if data is not None else p.read_bytes())
        if dec is not None and dec[1] != "utf-8-sig":
            text = dec[0]
            src = io.BytesIO(text.encode("utf-8"))
    delim, comma_dec = _sniff_text(_head_text(src))
    title, header_line = _title_lines(src, delim)
    _set_header_line(str(p), header_line)
    try:
        # strings: bad cells are counted, not fatal; title and blank lines above the header are skipped
        df = pl.read_csv(src, separator=delim, infer_schema=False, **_skip(title, header_line))
    except pl.exceptions.NoDataError as e:
        raise InputError("empty file", path=str(p)) from e
    except OSError as e:  # a read error of the file itself
        raise InputError(f"compressed stream is broken or truncated ({e})", path=str(p)) from e
    except pl.exceptions.ComputeError as e:
        raw = data if data is not None else p.read_bytes()
        if text is None and ("utf-8" in str(e).lower() or "utf8" in str(e).lower()):
            dec = _decode(raw)  # GBK below the first MiB
            if dec is not None and dec[1] != "utf-8-sig":
                text = dec[0]
                delim, comma_dec = _sniff_text(text[:65536])
        df = _salvage(p, text if text is not None else raw, delim, e)
    if comma_dec:
        df = df.with_columns(pl.all().str.replace(",", ".", literal=True))
    return df.with_columns(pl.all().str.strip_chars())


def _salvage(p: Path, content: str | bytes, delim: str, exc: Exception) -> pl.DataFrame:
    """The error path of `load_table`: a file polars refused for a few bad lines, read without them.

    Why: one line with a field too many, an unbalanced quote or a byte that is neither UTF-8 nor GBK
    made polars refuse the whole file, and every meter in it was lost. Each such line is kept in its
    place as a row of empty cells, so the rows after it keep their line numbers, and is listed in
    `_RESCUED` (its line and the cells that could be read) for the layout readers, which count it as
    unparsable with the readings it stood for and keep its meter; a byte that cannot be decoded becomes
    a replacement character in its cell, which is then unparsable the same way. `content`: the text as
    `load_table` decoded it, or the raw bytes when no encoding decodes all of them (decoded here as the
    encoding of their first bytes, bad bytes replaced). Python per line, but only for a file that failed.
    """
    if isinstance(content, bytes):
        raw = content.removeprefix(b"\xef\xbb\xbf")
        enc = text_encoding(raw[:65536]) or "utf-8"
        text = raw.decode(enc, "replace")
        delim = _sniff_text(text[:65536])[0]
    else:
        text = content
    lines = text.split("\n")
    src = io.BytesIO(text.encode("utf-8"))
    title, header_line = _title_lines(src, delim)
    hdr = header_line - 1
    try:
        width = len(next(csv.reader([lines[hdr].rstrip("\r")], delimiter=delim)))
    except (IndexError, StopIteration, csv.Error):
        width = 0
    if width < 2:
        m = re.search(r"line (\d+)", str(exc))
        raise InputError(f"malformed CSV ({str(exc).splitlines()[0]})", path=str(p),
                         line=int(m.group(1)) if m else None) from exc
    cells_of: dict[int, list[str] | None] = {}
    for i in range(hdr + 1, len(lines)):
        body = lines[i].rstrip("\r")
        if not body:
            continue
        try:
            cells = next(csv.reader([body], delimiter=delim, strict=True))
        except csv.Error:
            cells = None
        if cells is None or len(cells) > width or body.count('"') % 2:
            try:  # what can be read of it (its meter id, its date), for the layout readers
                cells_of[i + 1] = [c.strip() for c in next(csv.reader([body.replace('"', "")], delimiter=delim))]
            except (csv.Error, StopIteration):
                cells_of[i + 1] = None
            lines[i] = f"{_RESCUE_MARK}{i + 1}" + delim * (width - 1)
    _set_header_line(str(p), header_line)
    try:
        df = pl.read_csv(io.BytesIO("\n".join(lines).encode("utf-8")), separator=delim, infer_schema=False,
                         **_skip(title, header_line))
    except pl.exceptions.PolarsError as e2:
        raise InputError(f"malformed CSV ({str(exc).splitlines()[0]})", path=str(p)) from e2
    if cells_of and df.width:
        first = df.columns[0]
        hit = df[first].str.starts_with(_RESCUE_MARK).fill_null(False)
        rows = np.flatnonzero(hit.to_numpy())
        marks = df[first].gather(rows).to_list()
        _RESCUED[str(p)] = {int(r): (ln, cells_of.get(ln)) for r, m in zip(rows.tolist(), marks, strict=True)
                            for ln in [int(m[len(_RESCUE_MARK):])]}
        df = df.with_columns(pl.when(hit).then(None).otherwise(pl.col(first)).alias(first))
    return df


def _time_of_day(name: str) -> int | None:
    """Seconds after midnight a points column stands for: `00:15`, `0015`, `00:15:00`, or a range
    `00:00-00:15` (its end: the same slot as an end-labelled `00:15` column); None otherwise."""
    t = name.strip()
    m = _RANGE_RE.match(t)
    if m:
        t = m.group(2)
    m = _TOD_RE.match(t) or _TOD_COMPACT_RE.match(t)
    if not m:
        return None
    sec = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3) or 0)
    return sec if sec <= 86400 and int(m.group(2)) < 60 else None


def point_columns(cols: list[str]) -> list[tuple[str, int]] | None:
    """The day-by-points columns and each one's seconds after midnight, or None when there are none.

    Why strict: only evenly spaced points of one day count (24, 48, 96 or 288 a day, in order, at least
    MIN_POINT_SHARE of them — an export missing a column keeps a gap there), so a wide table whose
    meters happen to be numbered is never taken for one. Both `00:00` and `24:00` present (97 columns of
    instantaneous readings): `24:00` is the next day's `00:00` and is left out (`_read_points` says so).
    """
    tod = [(c, sec) for c in cols if (sec := _time_of_day(c)) is not None]
    if len(tod) >= min(POINTS_PER_DAY) * MIN_POINT_SHARE:
        secs = np.array([x for _, x in tod])
        diffs = np.diff(secs)
        if diffs.size and np.all(diffs > 0):
            step = int(np.min(diffs))
            n = 86400 // step if step > 0 else 0
            if n in POINTS_PER_DAY and 86400 % step == 0 and np.all(secs % step == 0) \
                    and len(tod) >= n * MIN_POINT_SHARE:
                if secs[0] == 0 and secs[-1] == 86400:
                    tod = tod[:-1]
                return tod
    groups: dict[tuple[str, str], list[tuple[str, int]]] = {}
    for c in cols:
        m = _POINT_RE.match(c.strip())
        if m:
            key = ((m.group(1) or "").lower(), (m.group(3) or ""))
            groups.setdefault(key, []).append((c, int(m.group(2))))
    for found in groups.values():
        n = len(found)
        nums = [k for _, k in found]
        if n in POINTS_PER_DAY and nums in (list(range(1, n + 1)), list(range(n))):
            step = 86400 // n
            return [(c, (k - nums[0]) * step) for c, k in found]
    return None


def _whole_days(values: pl.Series) -> bool:
    """Whether a column holds dates (days at midnight): a points table has one row per meter and day."""
    sample = values.drop_nulls().head(200)
    if sample.len() == 0:
        return False
    parsed = _parse_ts(sample.cast(pl.Utf8))
    ok = parsed.drop_nulls()
    if ok.len() < 0.8 * sample.len():
        return False
    midnight = ((ok.dt.hour() == 0) & (ok.dt.minute() == 0) & (ok.dt.second() == 0)).sum()
    return midnight >= 0.8 * ok.len()


def _points_keys(df: pl.DataFrame, pts: list[tuple[str, int]]) -> tuple[str, str] | None:
    """(meter column, date column) of a points table, or None when it has no such pair."""
    used = {c for c, _ in pts}
    rest = [c for c in df.columns if c not in used]
    mcol = _find(rest, METER_COLS)
    if mcol is None:
        return None
    for dcol in (_find([c for c in rest if c != mcol], TS_COLS),
                 *[c for c in rest if c != mcol]):
        if dcol is not None and _whole_days(df[dcol]):
            return mcol, dcol
    return None


def detect_layout(df: pl.DataFrame) -> Layout:
    cols = df.columns
    pts = point_columns(cols)
    if pts is not None and _points_keys(df, pts) is not None:
        return "points"
    timeish = [c for c in cols if _time_of_day(c) is not None or _POINT_RE.match(c.strip())]
    if pts is None and len(timeish) >= 12 and _find(cols, METER_COLS) and _find(cols, TS_COLS) \
            and not _find(cols, VALUE_COLS):
        # a near miss: reading it as wide would make every time column a "meter" of one reading a day
        raise InputError(
            f"looks like a day-by-points export ({len(timeish)} time-of-day columns beside a meter and a date "
            "column), but the columns are not the evenly spaced points of one day (24, 48, 96 or 288 a day, in "
            f"order): {', '.join(timeish[:4])} … {timeish[-1]}", line=1)
    date_like = [c for c in cols if _DATE_RE.match(c.strip())]
    if len(date_like) >= 3 and len(date_like) >= 0.5 * len(cols):
        return "daily"
    if _find(cols, METER_COLS) and _find(cols, TS_COLS) and (
        _find(cols, VALUE_COLS) or len(cols) == 3
    ):
        return "long"
    if _find(cols, TS_COLS) or (cols and _DATE_RE.match(str(df[cols[0]][0] if df.height else ""))):
        return "wide"
    raise InputError(
        "cannot tell the layout: expected long (meter, time, value), wide (time + one column per meter), "
        "daily (customer + one column per date) or points (meter, date + one column per point of the day: "
        "00:15 … 24:00 or P1 … P96) columns; got " + ", ".join(cols[:8]),
        line=1,
    )


#: a UTC offset after a time of day (Z, +08:00, +0800, -05): a date alone ("2024-01-05") has none
_OFFSET_RE = r"(\d\d:\d\d(?::\d\d(?:\.\d+)?)?)\s*(Z|[+-]\d\d(?::?\d\d)?)$"


def _parse_ts(s: pl.Series, local_offset_s: int = 0) -> pl.Series:
    """`_parse_times`, with years outside 1970-9998 as null (counted as unparsable, with their lines).

    Why: the text parser takes "0000-01-30" and "99999-..." as dates, and a year Python's datetime
    cannot hold (0, or 10000 after the --tz-offset shift) ended the whole run in a ValueError where the
    report names a far timestamp. No meter reading is that old or that late: it is a damaged cell.
    """
    out = _parse_times(s, local_offset_s)
    year = out.dt.year()
    if year.is_between(1970, 9998).fill_null(True).all():
        return out
    return pl.select(pl.when(year.is_between(1970, 9998)).then(out)).to_series().alias(out.name)


def _parse_times(s: pl.Series, local_offset_s: int = 0) -> pl.Series:
    """Wall-clock times of the meter (naive), from text or epoch numbers.

    Naive text is the meter's clock as written. A time that states its UTC offset (`...Z`,
    `+08:00`) or an epoch number (seconds or milliseconds since 1970, UTC) is an instant: it is put
    on the clock `--tz-offset` names (`local_offset_s`), so the day grid and the onset the finding
    reports (local minus the offset) agree. Until review 6 the offset was cut off and a UTC export
    was read on the UTC clock, and then moved by `--tz-offset` a second time; epoch numbers were
    unparsable."""
    if s.dtype in (pl.Int64, pl.Int32, pl.UInt64, pl.UInt32, pl.Float64):
        s = s.cast(pl.Int64, strict=False).cast(pl.Utf8)
    txt = s.cast(pl.Utf8).str.strip_chars()
    norm = txt.str.replace_all("/", "-").str.replace("T", " ")
    off = norm.str.extract(_OFFSET_RE, 2)
    bare = norm.str.replace(_OFFSET_RE, "${1}").str.strip_chars()
    # "24:00" ends a day in many meter exports (interval-ending stamps): the next day's 00:00
    end_of_day = bare.str.contains(r" 24:00(?::00)?$").fill_null(False)
    bare = bare.str.replace(r" 24:00(:00)?$", " 00:00:00")
    out = bare.str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False, time_unit="us")
    for fmt in ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d"):
        out = out.fill_null(bare.str.to_datetime(fmt, strict=False, time_unit="us"))
    # the usual file (naive text times) stops here; the rest is paid only by files that need it
    if off.is_not_null().any() or end_of_day.any():
        # explicit offsets: written time - offset = UTC; + the local offset = the meter's clock
        sign = pl.select(pl.when(off.str.starts_with("-")).then(-1).otherwise(1)).to_series()
        digits = off.str.replace_all(r"[^0-9]", "")
        hh = digits.str.slice(0, 2).cast(pl.Int64, strict=False).fill_null(0)
        mm = digits.str.slice(2, 2).cast(pl.Int64, strict=False).fill_null(0)
        off_s = pl.select(pl.when(off.is_null()).then(None).otherwise(sign * (hh * 3600 + mm * 60))).to_series()
        shift = pl.select(pl.when(off_s.is_null()).then(0).otherwise(local_offset_s - off_s)
                          + pl.when(end_of_day).then(86400).otherwise(0)).to_series()
        out = pl.select(out + pl.duration(seconds=shift)).to_series()
    serial = txt.str.contains(r"^\d{5}(?:\.\d+)?$").fill_null(False)
    if serial.any():
        # an Excel date kept as its serial number (45352 = 2024-03-01): days since 1899-12-30, read only
        # for 1954-2119 (20000-80000), where no epoch or compact date is five digits long
        days = txt.cast(pl.Float64, strict=False)
        ok = serial & days.is_between(20000, 80000).fill_null(False)
        from_serial = pl.select(pl.lit(datetime(1899, 12, 30)).cast(pl.Datetime("us"))
                                + pl.duration(microseconds=(days * 86_400_000_000).round(0).cast(pl.Int64))).to_series()
        out = pl.select(pl.when(ok).then(from_serial).otherwise(out)).to_series()
    if not txt.str.contains(r"^\d{8,14}$").any():
        return out.alias(s.name)
    # digits only: a compact date first (20240301, 2024030110, 202403011000, 20240301100000 as
    # grid systems write them), an epoch number (seconds or ms) only when it is none of those
    compact = None
    for fmt, n, pad in (("%Y%m%d%H%M%S", 14, ""), ("%Y%m%d%H%M", 12, ""), ("%Y%m%d%H%M", 10, "00"),
                        ("%Y%m%d", 8, "")):  # fmt: skip
        cand = pl.select(pl.when(txt.str.contains(rf"^\d{{{n}}}$")).then(txt + pad)).to_series()
        got = cand.str.to_datetime(fmt, strict=False, time_unit="us")
        compact = got if compact is None else compact.fill_null(got)
    assert compact is not None
    # "1701010100" is an epoch second of 2023, not 1 Jan 1701: compact dates are taken in 1990-2100 only
    compact = pl.select(pl.when(compact.dt.year().is_between(1990, 2100)).then(compact)).to_series()
    out = out.fill_null(compact)
    epoch = (txt.str.contains(r"^\d{9,13}$").fill_null(False) & compact.is_null()).fill_null(False)
    num = txt.cast(pl.Int64, strict=False)
    epoch_s = pl.select(pl.when(num > 10**11).then(num // 1000).otherwise(num)).to_series()
    from_epoch = pl.select(pl.from_epoch(epoch_s + local_offset_s, time_unit="s").cast(pl.Datetime("us"))).to_series()
    return pl.select(pl.when(epoch).then(from_epoch).otherwise(out)).to_series().alias(s.name)


def _to_float(s: pl.Series) -> pl.Series:
    """Numbers; text that is no number and non-finite values (inf, 1e400) become null, so they are
    counted as unparsable instead of entering the grid as infinite kW."""
    if s.dtype in (pl.Float64, pl.Float32, pl.Int64, pl.Int32):
        f = s.cast(pl.Float64)
    else:
        f = s.cast(pl.Utf8).str.strip_chars().cast(pl.Float64, strict=False)
    return pl.select(pl.when(f.is_infinite()).then(None).otherwise(f)).to_series().alias(s.name)


def _filled_expr(raw: pl.Series) -> pl.Series:
    r = raw.cast(pl.Utf8).str.strip_chars()
    return r.is_not_null() & (r.str.len_chars() > 0) & ~r.str.to_lowercase().is_in(MISSING_TOKENS)


def _bad_cells(raw: pl.Series, val: pl.Series) -> np.ndarray:
    """Cells that hold something (not empty, not a missing-value word) that is no finite number."""
    return (val.is_null() & _filled_expr(raw)).fill_null(False).to_numpy()


def _filled(raw: pl.Series) -> np.ndarray:
    return _filled_expr(raw).fill_null(False).to_numpy()


def _unit_from_name(name: str, declared: str | None) -> str | None:
    """kWh or kW from a column name: `kWh`, `energy_kwh`, `Power (kW)`, `load [kW]`, `kW` ..."""
    if declared:
        return declared
    n = name.lower()
    if "kwh" in n or "千瓦时" in n:
        return "kwh"
    if re.search(r"(?<![a-z])kw(?![a-z])", n) or "千瓦" in n:
        return "kw"
    base = _UNIT_SUFFIX.sub("", n)
    if any(base.endswith(z) for z in _ZH_ENERGY):
        return "kwh"
    if any(base.endswith(z) for z in _ZH_POWER):
        return "kw"
    return None


def read_file(
    path: str | Path,
    *,
    interval_s: int | None = None,
    unit: str | None = None,
    layout: Layout | None = None,
    tz_offset_h: float = 0.0,
) -> ReadResult:
    """Read one file of meter data in any supported layout into regular per-meter grids
    (`tz_offset_h`: the meter clock that times with a UTC offset or epoch numbers are put on)."""
    res = _read_pieces(Path(path), interval_s=interval_s, unit=unit, layout=layout, tz_offset_h=tz_offset_h)
    res.build()
    return res


def read_files(
    paths: list[str | Path] | list[Path],
    *,
    interval_s: int | None = None,
    unit: str | None = None,
    layout: Layout | None = None,
    tz_offset_h: float = 0.0,
) -> tuple[ReadResult, list[InputError]]:
    """Read several files and join each meter's readings across them before its grid is built.

    Returns the result and the errors of the files that could not be read (each names its file);
    the other files are read regardless. Memory follows the readings of all files (a meter's
    grid needs all of its readings), not the largest file."""
    total = ReadResult()
    errors: list[InputError] = []
    for p in paths:
        try:
            r = _read_pieces(Path(p), interval_s=interval_s, unit=unit, layout=layout, tz_offset_h=tz_offset_h)
        except InputError as e:
            errors.append(e if e.path else InputError(e.message, path=str(p), line=e.line, offset=e.offset))
            continue
        total.layout = total.layout or r.layout
        total.merge(r)
    total.build()
    return total, errors


def _read_pieces(p: Path, *, interval_s: int | None, unit: str | None, layout: Layout | None,
                 tz_offset_h: float = 0.0) -> ReadResult:  # fmt: skip
    local_s = round(tz_offset_h * 3600)
    if is_spreadsheet(p):  # by content: a CSV or an HTML table saved as ".xls" is still read as text
        return _read_sheets(p, interval_s=interval_s, unit=unit, layout=layout, local_s=local_s)
    df = load_table(p)
    try:
        lay = layout or detect_layout(df)
    except InputError as e:
        raise InputError(e.message, path=str(p), line=1) from e
    res = ReadResult(layout=lay)
    _read_table(df, p, res, lay, interval_s, unit, local_s)
    return res


def _read_sheets(p: Path, *, interval_s: int | None, unit: str | None, layout: Layout | None,
                 local_s: int) -> ReadResult:  # fmt: skip
    """Each sheet read as a table of its own (exports put a month or a meter group per sheet); a
    sheet whose layout cannot be told (notes, a summary) is named and skipped, not fatal."""
    res = ReadResult()
    read = 0
    no_table: list[tuple[str, str]] = []
    try:
        sheets = load_sheets(p, no_table)
    except InputError as e:
        if no_table and e.message == "spreadsheet has no sheet with a header and data rows":
            raise InputError(f"{e.message} ({'; '.join(f'{n}: {why}' for n, why in no_table)})", path=str(p)) from e
        raise
    skipped = [f"{name}: {why}" for name, why in no_table]
    for name, df in sheets:
        sp = p.with_name(f"{p.name}[{name.replace('/', '／')}]")  # a sheet named "3/2024" is no directory
        try:
            lay = layout or detect_layout(df)
        except InputError as e:
            skipped.append(f"{name}: {e.message}")
            continue
        text_only = _text_only(df, lay)
        if text_only:  # a sheet of notes laid out like a table (meter, date, remark): no reading to take
            skipped.append(f"{name}: holds no readings: no number in column(s) {', '.join(map(repr, text_only))} "
                           "(a sheet of notes?)")
            continue
        res.layout = res.layout or lay
        _read_table(df, sp, res, lay, interval_s, unit, local_s)
        read += 1
    if not read:
        raise InputError("no sheet holds meter readings (" + "; ".join(skipped) + ")", path=str(p))
    for why in skipped:
        res.issues.append(DataIssue("sheet_skipped", None, None, f"{p.name}: sheet {why}; skipped"))
    return res


def _long_columns(cols: list[str]) -> tuple[str, str, str]:
    """(meter, time, value) columns of a long table, by name, else by position."""
    mcol = _find(cols, METER_COLS) or cols[0]
    tcol = _find(cols, TS_COLS) or cols[1]
    vcol = _find(cols, VALUE_COLS) or next(c for c in cols if c not in (mcol, tcol))
    return mcol, tcol, vcol


def _text_only(df: pl.DataFrame, lay: Layout) -> list[str]:
    """The value columns of a sheet in layout `lay` when they hold text and not one number (a sheet of
    notes with a meter, a date and a remark column), else []. Value columns that are only empty are not
    text: a month without readings is read, as gaps."""
    cols = df.columns
    try:
        if lay == "long":
            vals = [_long_columns(cols)[2]]
        elif lay == "wide":
            tcol = _find(cols, TS_COLS) or cols[0]
            vals = [c for c in cols if c != tcol]
        elif lay == "daily":
            vals = [c for c in cols if _DATE_RE.match(c.strip())]
        else:
            vals = [c for c, _ in point_columns(cols) or []]
    except (IndexError, StopIteration):
        return []
    if not vals or any(_to_float(df[c]).is_finite().fill_null(False).any() for c in vals):
        return []
    return vals if any(_filled(df[c]).any() for c in vals) else []


def _read_table(df: pl.DataFrame, p: Path, res: ReadResult, lay: Layout, interval_s: int | None,
                unit: str | None, local_s: int) -> None:  # fmt: skip
    if lay == "points":
        _read_points(df, p, res, interval_s, unit, local_s)
    elif lay == "long":
        _read_long(df, p, res, interval_s, unit, local_s)
    elif lay == "wide":
        _read_wide(df, p, res, interval_s, unit, local_s)
    elif lay == "daily":
        _read_daily(df, p, res, unit)
    else:
        raise InputError(f"unknown layout {lay!r}", path=str(p))


def _reject(res: ReadResult, reason: str, where: Iterator[str] | list[str], n: int) -> None:
    """Count n rejected readings under `reason` (the true number) and keep examples while there is room;
    the example texts are only built for the ones kept (a file can hold millions of bad rows)."""
    res.rejects.counts[reason] += n
    it = iter(where)
    while len(res.rejects.examples) < res.rejects.max_examples:
        w = next(it, None)
        if w is None:
            break
        res.rejects.examples.append(f"{w}: {reason}")


def _line0(p: Path) -> int:
    """Line (CSV, header on line 1) or row (Parquet) number of data row 0."""
    # a sheet's rows count like a CSV's lines: the header is row 1 unless title rows sit above it
    return 1 if _is_parquet(p) else _HEADER_LINE.get(str(p), 1) + 1


def _bad_rows(mask: np.ndarray, p: Path, what: str, res: ReadResult, column: str | None = None,
              meter_id: str | None = None, unread: np.ndarray | None = None) -> None:
    """Count every bad row (rejects and one issue whose count is the true number, naming the first lines).

    `unread`: the rows are not read at all (a time, date or meter id that cannot be read), and each stood
    for this many readings (1 in a long table, its filled cells in a wide, daily or points table): those
    are counted as rejected readings and in `res.lost`; without it each row is one reading already read."""
    bad = np.flatnonzero(mask)
    if bad.size == 0:
        return
    word = _row_word(p)
    lines = [int(i) + _line0(p) for i in bad]
    col = f" in column {column!r}" if column is not None else ""
    shown = ", ".join(str(x) for x in lines[:EXAMPLES]) + (", …" if len(lines) > EXAMPLES else "")
    n = len(lines) if unread is None else int(np.asarray(unread)[bad].sum())
    held = f" holding {n} reading(s)" if n != len(lines) else ""
    res.issues.append(DataIssue("unparsable", meter_id, None, f"{p.name}: unparsable {what}{col} in {len(lines)} "
                                f"{word}(s){held}: {shown}", n))
    if unread is not None:
        res.lost += n
    if n:
        _reject(res, f"unparsable {what}", (f"{p} {word} {ln}" for ln in lines), n)


def _rescued(p: Path, n: int) -> tuple[np.ndarray, dict[int, tuple[int, list[str] | None]]]:
    """Rows of a table that are lines `_salvage` took out (a mask over its n rows, and each one's line and
    readable cells): they are counted by `_rescued_issue`, never read as blank lines."""
    got = {r: v for r, v in _RESCUED.get(str(p), {}).items() if r < n}
    mask = np.zeros(n, dtype=bool)
    if got:
        mask[list(got)] = True
    return mask, got


def _rescued_cell(cells: list[str] | None, cols: list[str], col: str) -> str | None:
    """The cell of column `col` in a taken-out line, when the line could be read that far."""
    i = cols.index(col)
    if cells is None or i >= len(cells) or not cells[i] or _RESCUE_MARK in cells[i]:
        return None
    return cells[i]


def _rescued_issue(res: ReadResult, p: Path, got: dict[int, tuple[int, list[str] | None]], per_line: int,
                   kept: list[str]) -> None:  # fmt: skip
    """Count the lines `_salvage` took out as unparsable, each with the readings it stood for (the cells of
    its row that hold readings in this layout), and name them; `kept`: meters of those lines kept, with
    the line's readings as gaps."""
    if not got:
        return
    lines = sorted(ln for ln, _ in got.values())
    n = per_line * len(lines)
    shown = ", ".join(str(x) for x in lines[:EXAMPLES]) + (", …" if len(lines) > EXAMPLES else "")
    names = list(dict.fromkeys(kept))
    keep_txt = (f"; meter(s) {', '.join(names[:EXAMPLES])}{', …' if len(names) > EXAMPLES else ''} kept with "
                "these readings as gaps") if names else ""
    res.issues.append(DataIssue("unparsable", None, None,
                                f"{p.name}: {len(lines)} line(s) not readable as table rows (a field too many, "
                                f"a stray quote), {n} reading(s) lost: line(s) {shown}{keep_txt}", n))
    _reject(res, "unparsable line", (f"{p} line {ln}" for ln in lines), n)
    res.lost += n


def _read_long(df: pl.DataFrame, p: Path, res: ReadResult, interval_s: int | None, unit: str | None,
               local_s: int = 0) -> None:  # fmt: skip
    cols = df.columns
    mcol, tcol, vcol = _long_columns(cols)
    u = _unit_from_name(vcol, unit)
    if u is None:
        u = "kwh"
        res.issues.append(DataIssue("unit_assumed", None, None, f"{p.name}: column {vcol!r} taken as kWh per interval"))
    ts = _parse_ts(df[tcol], local_s)
    val = _to_float(df[vcol])
    mid_s = df[mcol].cast(pl.Utf8).str.strip_chars()
    resc, got = _rescued(p, df.height)
    bad_ts = ts.is_null().to_numpy() & ~resc
    one = np.ones(df.height, dtype=np.int64)
    _bad_rows(bad_ts, p, "timestamp", res, unread=one)
    # a row without a meter id belongs to no meter: it is counted, not scanned as a meter called "None"
    bad_m = (mid_s.is_null() | (mid_s.str.len_chars() == 0)).to_numpy() & ~bad_ts & ~resc
    _bad_rows(bad_m, p, "meter id", res, unread=one)
    bad_v = _bad_cells(df[vcol], val) & ~bad_ts & ~bad_m
    _bad_rows(bad_v, p, "value", res)
    keep = ~bad_ts & ~bad_m & ~resc
    # a line taken out is one reading; a meter that has no other line here stays (that reading a gap)
    # when its id and time can be read
    kept: list[str] = []
    if got:
        others = set(mid_s.filter(pl.Series(keep)).unique().to_list())
        for _i, (ln, cells) in sorted(got.items()):
            mid_r, ts_r = _rescued_cell(cells, cols, mcol), _rescued_cell(cells, cols, tcol)
            t_r = _parse_ts(pl.Series([ts_r]), local_s) if mid_r is not None and ts_r is not None else None
            if mid_r is None or mid_r in others or t_r is None or t_r.null_count():
                continue
            kept.append(mid_r)
            res.pieces.setdefault(mid_r, []).append(_Piece(
                t_r.dt.epoch("s").to_numpy().astype(np.int64), np.full(1, np.nan), np.full(1, ln, np.int64), p,
                u, interval_s))
    _rescued_issue(res, p, got, 1, kept)
    tcol_name = _find(cols, TEMP_COLS)
    cols_d: dict[str, object] = {"m": mid_s, "t": ts.dt.epoch("s"), "v": val, "row": np.arange(df.height)}
    if tcol_name:
        cols_d["temp"] = _celsius(df[tcol_name], tcol_name)
    frame = pl.DataFrame(cols_d).filter(pl.Series(keep))
    res.readings += frame.height
    l0 = _line0(p)
    for (mid,), g in frame.group_by(["m"], maintain_order=True):
        res.pieces.setdefault(str(mid), []).append(_Piece(
            g["t"].to_numpy().astype(np.int64), g["v"].to_numpy().astype(np.float64),
            g["row"].to_numpy().astype(np.int64) + l0, p, u, interval_s,
            g["temp"].to_numpy().astype(np.float64) if tcol_name else None,
        ))


def _read_wide(df: pl.DataFrame, p: Path, res: ReadResult, interval_s: int | None, unit: str | None,
               local_s: int = 0) -> None:  # fmt: skip
    cols = df.columns
    tcol = _find(cols, TS_COLS) or cols[0]
    ts = _parse_ts(df[tcol], local_s)
    resc, got = _rescued(p, df.height)
    bad_ts = ts.is_null().to_numpy() & ~resc
    temp_col = _find([c for c in cols if c != tcol], TEMP_COLS)
    meter_cols = [c for c in cols if c not in (tcol, temp_col)]
    per_row = (np.sum([_filled(df[c]) for c in meter_cols], axis=0, dtype=np.int64) if meter_cols
               else np.zeros(df.height, np.int64))
    _bad_rows(bad_ts, p, "timestamp", res, unread=per_row)
    # a line taken out held one reading per meter column; the meters are columns, none is lost with it
    _rescued_issue(res, p, got, sum(1 for c in cols if c not in (tcol, temp_col)), [])
    bad_ts |= resc
    t = ts.dt.epoch("s").to_numpy()[~bad_ts].astype(np.int64)
    rows = np.flatnonzero(~bad_ts)
    for c in cols:
        if c == tcol:
            continue
        f = _celsius(df[c], c) if c == temp_col else _to_float(df[c])
        v = f.to_numpy().astype(np.float64)[~bad_ts]
        if c == temp_col:
            o = np.argsort(t, kind="stable")
            res.temperature["*"] = (t[o], v[o])
            continue
        _bad_rows(_bad_cells(df[c], f) & ~bad_ts, p, "value", res, column=c, meter_id=str(c))
        u = _unit_from_name(c, unit)
        if u is None:
            u = "kw"  # wide exports (UCI, ETT) carry power per slot
            if not any(i.kind == "unit_assumed" and p.name in i.detail for i in res.issues):
                res.issues.append(DataIssue("unit_assumed", None, None, f"{p.name}: wide columns taken as kW"))
        res.readings += int(np.count_nonzero(_filled(df[c])[~bad_ts]))
        res.pieces.setdefault(str(c), []).append(_Piece(t, v, rows + _line0(p), p, u, interval_s))


def _read_daily(df: pl.DataFrame, p: Path, res: ReadResult, unit: str | None) -> None:
    cols = df.columns
    idcol = _find(cols, METER_COLS) or cols[0]
    dcols = [c for c in cols if _DATE_RE.match(c.strip())]
    days = _parse_ts(pl.Series([c.strip() for c in dcols]))
    if days.null_count():
        raise InputError("daily table has unparsable date columns", path=str(p), line=1)
    t = days.dt.epoch("s").to_numpy().astype(np.int64)
    ids = df[idcol].cast(pl.Utf8).str.strip_chars().to_list()
    resc, got = _rescued(p, df.height)
    # a line taken out is one meter's row: its meter stays (its days as gaps) when its id can be read
    kept: dict[int, str] = {}
    for i, (_ln, cells) in got.items():
        mid = _rescued_cell(cells, cols, idcol)
        if mid is not None:
            kept[i] = mid
    _rescued_issue(res, p, got, len(dcols), list(kept.values()))
    bad_m = np.array([not m for m in ids], dtype=bool) & ~resc
    filled = np.column_stack([_filled(df[c]) for c in dcols])
    _bad_rows(bad_m, p, "meter id", res, unread=filled.sum(axis=1))
    bad_m |= resc
    floats = [_to_float(df[c]) for c in dcols]
    mat = np.column_stack([f.to_numpy().astype(np.float64) for f in floats])
    bad = np.column_stack([_bad_cells(df[c], f) for c, f in zip(dcols, floats, strict=True)]) & ~bad_m[:, None]
    _bad_cell_issue(bad, dcols, p, res)
    u = unit or "kwh"
    for i, mid in enumerate(ids):
        if bad_m[i]:
            continue
        res.readings += int(np.count_nonzero(filled[i]))
        res.pieces.setdefault(str(mid), []).append(
            _Piece(t, mat[i], np.full(t.size, i + _line0(p), np.int64), p, u, 86400))
    for i, mid in kept.items():
        res.pieces.setdefault(mid, []).append(
            _Piece(t, np.full(t.size, np.nan), np.full(t.size, got[i][0], np.int64), p, u, 86400))


def _bad_cell_issue(bad: np.ndarray, cols: list[str], p: Path, res: ReadResult) -> None:
    """One issue for a table with a column per day or per point, every bad cell counted and the first named."""
    if not bad.any():
        return
    r, c = np.nonzero(bad)
    word = _row_word(p)

    def cells() -> Iterator[str]:
        for i, j in zip(r.tolist(), c.tolist(), strict=True):
            yield f"{word} {i + _line0(p)} column {cols[j]!r}"

    shown = [w for w, _ in zip(cells(), range(EXAMPLES), strict=False)]
    res.issues.append(DataIssue("unparsable", None, None, f"{p.name}: unparsable value in {r.size} cell(s): "
                                + ", ".join(shown) + (", …" if r.size > EXAMPLES else ""), int(r.size)))
    _reject(res, "unparsable value", (f"{p} {w}" for w in cells()), int(r.size))


#: Data items (数据项) of acquisition exports. One file often holds several per meter and day — power and
#: its phases, voltages, currents, power factor, register readings; only the load is read.
_ITEM_NOT_LOAD = ("无功", "视在", "功率因数", "电压", "电流", "频率", "reactive", "apparent", "power factor",
                  "voltage", "current", "frequency")
_ITEM_REGISTER = ("示值", "读数", "表码", "底码", "register", "meter reading")
_ITEM_PHASE = re.compile(r"[ABCＡＢＣabc]\s*相|phase\s*[abc123]|l[123]\b", re.IGNORECASE)


def _item_class(text: str) -> tuple[int, str] | None:
    """(preference, unit) of a data item, lower preference first: whole active power, energy, register
    readings (cumulative kWh: `regularise` takes their differences), then per-phase power; None for an
    item that is not the load (voltage, current, reactive power ...)."""
    t = text.strip().lower()
    if not t or any(w in t for w in _ITEM_NOT_LOAD):
        return None
    phase = bool(_ITEM_PHASE.search(t))
    if any(w in t for w in _ITEM_REGISTER):
        return (2, "kwh") if not phase else None
    u = _unit_from_name(t, None) or ("kw" if any(w in t for w in ("功率", "负荷", "power", "load")) else
                                     "kwh" if any(w in t for w in ("电量", "电能", "energy")) else None)
    if u is None:
        return None
    return (3 if phase else 0 if u == "kw" else 1), u


def _data_items(df: pl.DataFrame, cols: list[str], mcol: str) -> tuple[str, np.ndarray, np.ndarray, Counter[str]] | None:
    """(item column, rows to read, unit of each row, rows of the other items by name) when a column names
    the data item of each row; None when none does (every row is then the load).

    Per meter the best item it has is read (`_item_class`): one meter of an export may have its power,
    another only its register readings.
    """
    for c in cols:
        col = df[c].cast(pl.Utf8).str.strip_chars()
        vals = [v for v in col.drop_nulls().unique().to_list() if v]
        if not vals or len(vals) > 50 or any(re.fullmatch(r"[-+0-9.eE]+", v) for v in vals):
            continue
        classes = {v: _item_class(v) for v in vals}
        if not any(k is not None for k in classes.values()):
            continue
        counts = Counter(col.drop_nulls().to_list())
        # rank of each item: its class, then the more frequent item of a class first
        order = sorted((k[0], -counts[v], v) for v, k in classes.items() if k is not None)
        rank = {v: i for i, (_p, _n, v) in enumerate(order)}
        t = pl.DataFrame({"m": df[mcol].cast(pl.Utf8), "item": col}).with_columns(
            pl.col("item").replace_strict(rank, default=None, return_dtype=pl.Int64).alias("rank"))
        best = t.group_by("m").agg(pl.col("rank").min().alias("best"))
        t = t.join(best, on="m", how="left", maintain_order="left")
        keep = (t["rank"] == t["best"]).fill_null(False).to_numpy()
        units = np.array([classes[v][1] if v in classes and classes[v] is not None else "" for v in
                          col.fill_null("").to_list()], dtype=object)
        chosen = set(col.filter(pl.Series(keep)).unique().to_list())
        others = Counter({v: n for v, n in counts.items() if v not in chosen})
        return c, keep, units, others
    return None


def _read_points(df: pl.DataFrame, p: Path, res: ReadResult, interval_s: int | None, unit: str | None,
                 local_s: int = 0) -> None:  # fmt: skip
    """One row per meter and day, one column per point of the day (see `point_columns`)."""
    pts = point_columns(df.columns)
    keys = _points_keys(df, pts) if pts is not None else None
    if pts is None or keys is None:
        raise InputError("not a points table: no full day of point columns beside a meter and a date column",
                         path=str(p), line=1)
    mcol, dcol = keys
    pcols = [c for c, _ in pts]
    rest = [c for c in df.columns if c not in set(pcols)]
    # the end-of-day column `point_columns` leaves out when the day's start is there too, whatever its name
    # (24:00, 2400, 23:45-24:00)
    for c in (c for c in rest if _time_of_day(c) == 86400 and pts[0][1] == 0):
        res.issues.append(DataIssue("not_read", None, None, f"{p.name}: column {c.strip()} is the next day's "
                                    "00:00 (both ends of the day are exported); not read"))
    # rows with nothing in them (an export's blank lines) hold no reading to lose
    # (a line `_salvage` took out is empty too, but it is counted, not passed over)
    resc, got = _rescued(p, df.height)
    empty = np.logical_and.reduce([~_filled(df[c]) for c in df.columns]) if df.width else np.zeros(0, bool)
    empty |= resc
    day = _parse_ts(df[dcol], local_s)
    filled = np.column_stack([_filled(df[c]) for c in pcols])
    bad_d = day.is_null().to_numpy() & ~empty
    _bad_rows(bad_d, p, "date", res, unread=filled.sum(axis=1))
    ids = df[mcol].cast(pl.Utf8).str.strip_chars()
    bad_m = (ids.is_null() | (ids.str.len_chars() == 0)).to_numpy() & ~bad_d & ~empty
    _bad_rows(bad_m, p, "meter id", res, unread=filled.sum(axis=1))
    keep = ~bad_d & ~bad_m & ~empty
    items = _data_items(df, [c for c in rest if c not in (mcol, dcol)], mcol)
    u = unit
    row_unit: np.ndarray | None = None
    if items is not None:
        icol, is_load, row_unit, others = items
        skipped_rows = int(np.count_nonzero(keep & ~is_load))
        if skipped_rows:
            named = ", ".join(f"{v} {n}" for v, n in others.most_common(6))
            res.issues.append(DataIssue("not_read", None, None,
                                        f"{p.name}: {skipped_rows} row(s) of other data items in column {icol!r} "
                                        f"not read ({named})", skipped_rows))
        keep &= is_load
    floats = [_to_float(df[c]) for c in pcols]
    mat = np.column_stack([f.to_numpy().astype(np.float64) for f in floats])
    bad = np.column_stack([_bad_cells(df[c], f) for c, f in zip(pcols, floats, strict=True)]) & keep[:, None]
    _bad_cell_issue(bad, pcols, p, res)
    if u is None and row_unit is None:
        u = "kw"  # 96-point load curves are power; energy curves say so (数据项 电量) or take --unit kwh
        res.issues.append(DataIssue("unit_assumed", None, None,
                                    f"{p.name}: points of the day taken as kW (load curve); --unit kwh for energy"))
    off = np.array([x for _, x in pts], dtype=np.int64)
    t0 = day.dt.epoch("s").fill_null(0).to_numpy().astype(np.int64)
    step = interval_s or (int(np.min(np.diff(off))) if off.size > 1 else 86400)
    rows_of: dict[str, list[int]] = {}
    for i, mid in enumerate(ids.to_list()):
        if keep[i]:
            rows_of.setdefault(str(mid), []).append(i)
    # a line taken out is one meter's day: the meter stays, that day's points as gaps, when its id and
    # date can be read
    kept: list[str] = []
    cols = df.columns
    for _i, (ln, cells) in sorted(got.items()):
        mid_r = _rescued_cell(cells, cols, mcol)
        day_r = _rescued_cell(cells, cols, dcol)
        d = _parse_ts(pl.Series([day_r]), local_s) if mid_r is not None and day_r is not None else None
        if d is None or d.null_count():
            continue
        kept.append(mid_r)  # type: ignore[arg-type]
        own = rows_of.get(mid_r)  # type: ignore[arg-type]
        mu_r = u or (str(row_unit[own[0]]) if row_unit is not None and own else "kw")
        res.pieces.setdefault(mid_r, []).append(_Piece(  # type: ignore[arg-type]
            int(d.dt.epoch("s")[0]) + off, np.full(off.size, np.nan), np.full(off.size, ln, np.int64), p,
            mu_r, step))
    _rescued_issue(res, p, got, len(pcols), kept)
    for mid, rows in rows_of.items():
        r = np.asarray(rows, dtype=np.int64)
        res.readings += int(np.count_nonzero(filled[r]))
        mu = u or (str(row_unit[r[0]]) if row_unit is not None else "kw")
        res.pieces.setdefault(mid, []).append(_Piece(
            (t0[r, None] + off[None, :]).ravel(), mat[r].ravel(), np.repeat(r + _line0(p), off.size), p, mu, step))


def _nice(d: np.ndarray) -> np.ndarray:
    """Each spacing snapped to the standard interval it is within SNAP_TOL of, else 0."""
    j = np.clip(np.searchsorted(_NICE, d), 1, _NICE.size - 1)
    lo, hi = _NICE[j - 1], _NICE[j]
    near = np.where(np.abs(d - lo) <= np.abs(hi - d), lo, hi)
    return np.where(np.abs(d - near) <= SNAP_TOL * near, near, 0)


def infer_interval(t: np.ndarray) -> int | None:
    """The meter's reading interval: the most common spacing, snapped to a standard interval so that
    a few seconds of clock jitter (3596 … 3604 s) still give 3600 s."""
    t = np.asarray(t, np.int64)
    d = np.diff(t if t.size < 2 or np.all(t[1:] >= t[:-1]) else np.sort(t))
    d = d[d > 0]
    if d.size == 0:
        return None
    mid = int(np.partition(d, d.size // 2)[d.size // 2])
    if int(_nice(np.array([mid]))[0]) == mid and np.count_nonzero(d == mid) * 2 > d.size:
        return mid  # most spacings are exactly one standard interval: that is the mode (the usual case)
    vals, counts = np.unique(d, return_counts=True)
    raw, raw_n = int(vals[np.argmax(counts)]), int(counts.max())
    nice = _nice(vals)  # per distinct spacing (few), weighted by how often it occurs
    ok = nice > 0
    if ok.any():
        nv, inv = np.unique(nice[ok], return_inverse=True)
        nc = np.bincount(inv, weights=counts[ok])
        if int(nc.max()) >= raw_n:
            return int(nv[np.argmax(nc)])
    return raw


def _looks_cumulative(v: np.ndarray) -> bool:
    """A register (running kWh total) rather than interval energy.

    A register never decreases except at a reset, but at a coarse resolution (0.1 kWh per 15 min,
    whole kWh per hour) many of its increments are 0, so the test is the share of steps that do not
    decrease (not of steps that rise). Plausibility, so that a flat load read at a coarse resolution
    (a constant 0.8 kWh every slot) or a vacant meter (0, 0, 0.1, 0, ...) is not differenced away:
    the register must rise often (at least 2 % of the steps and 10 in all), fall far less often than
    it rises, and its level must be far above one step's increment (a total, not a per-slot energy).
    """
    ok = v[np.isfinite(v)]
    if ok.size < 48:
        return False
    d = np.diff(ok)
    n_up = int(np.count_nonzero(d > 0))
    n_down = int(np.count_nonzero(d < 0))
    if float(np.mean(d >= 0)) <= 0.98 or n_up < max(10, 0.02 * d.size) or n_down > 0.1 * n_up:
        return False
    return bool(np.median(np.abs(ok)) >= 20 * np.median(d[d > 0]))


def _looks_like_register(v: np.ndarray) -> tuple[float, float] | None:
    """(share of rising steps, share of falling steps) when interval values climb like a running total
    without passing `_looks_cumulative` (a noisy register or one with many resets); else None.

    Real interval energy rises and falls about equally often (a load goes up and comes back down),
    so a series that rises five times as often as it falls, and falls in under 10 % of steps, is
    worth a warning that names the meter."""
    ok = v[np.isfinite(v)]
    if ok.size < 48:
        return None
    d = np.diff(ok)
    up, down = float(np.mean(d > 0)), float(np.mean(d < 0))
    if down < 0.1 and up >= 5 * down and up >= 0.3:
        return up, down
    return None


def _far_outliers(t: np.ndarray) -> np.ndarray:
    """Mask of readings (t sorted) far from the rest of the meter: a mistyped year or day.

    Clusters are split at gaps over FAR_GAP_S; the largest is the meter's data; a small cluster
    (≤ FAR_SHARE of the readings, or one reading) farther from it than both FAR_GAP_S and the
    largest cluster's span is rejected."""
    far = np.zeros(t.size, dtype=bool)
    if t.size < 3:
        return far
    br = np.flatnonzero(np.diff(t) > FAR_GAP_S) + 1
    if br.size == 0:
        return far
    starts = np.r_[0, br]
    ends = np.r_[br, t.size]
    sizes = ends - starts
    k = int(np.argmax(sizes))
    lo, hi = int(t[starts[k]]), int(t[ends[k] - 1])
    span = hi - lo
    for a, b, n in zip(starts.tolist(), ends.tolist(), sizes.tolist(), strict=True):
        if a == starts[k]:
            continue
        dist = lo - int(t[b - 1]) if b <= starts[k] else int(t[a]) - hi
        if n <= max(1.0, FAR_SHARE * t.size) and dist > max(FAR_GAP_S, span):
            far[a:b] = True
    return far


def _own_spacing(t: np.ndarray, step: int) -> tuple[np.ndarray, list[int]]:
    """The interval each reading covers, and the reading indices where the resolution changes.

    One interval per meter (the mode) is the normal case. An export that switches from 15-min to
    hourly values shows as two long unbroken runs of different spacings; then each reading covers
    the spacing of the run it belongs to (a reading labels the interval it starts, as the grid
    does), and kWh are converted by that, not by the meter's mode (which would scale the hourly half
    by 4)."""
    n = t.size
    same = np.full(n, step, dtype=np.int64)
    if n < 48:
        return same, []
    d = np.diff(t)
    if np.count_nonzero(np.abs(d - step) > SNAP_TOL * step) < 24:  # no room for a run of another interval
        return same, []
    cls = _nice(d)
    br = np.flatnonzero(np.diff(cls) != 0) + 1
    starts = np.r_[0, br]
    ends = np.r_[br, cls.size]
    c = cls[starts]
    long = (c > 0) & ((ends - starts) * c >= RES_RUN_S) & ((ends - starts) >= 24)
    if np.unique(c[long]).size <= 1:
        return same, []
    run = np.zeros(cls.size, dtype=np.int64)
    for a, b, cc in zip(starts[long].tolist(), ends[long].tolist(), c[long].tolist(), strict=True):
        run[a:b] = cc
    # readings between the long runs (gaps, short bursts) take the run before them, or the first run
    pos = np.where(run > 0, np.arange(run.size), -1)
    pos = np.maximum.accumulate(pos)
    first = int(np.flatnonzero(run > 0)[0])
    run = np.where(pos >= 0, run[np.maximum(pos, 0)], run[first])
    own = np.r_[run, run[-1]]
    return own, (np.flatnonzero(np.diff(own) != 0) + 1).tolist()


def _phase(t: np.ndarray, step: int) -> int:
    """Offset of the meter's slots from whole multiples of the interval since midnight.

    0 (slots at :00, :15, …, whole days at midnight) when most readings sit within SNAP_TOL of
    such a slot; otherwise the most common offset, in whole minutes (a meter that labels its hours
    at :30 keeps its own grid instead of losing every reading)."""
    tf = t.astype(np.float64)  # exact for seconds since 1970; float division is several times faster
    o = tf - np.floor(tf / step) * step
    dist = np.minimum(o, step - o)
    if np.mean(dist <= SNAP_TOL * step) >= 0.5:
        return 0
    r = 60 if step >= 600 else 1
    rounded = np.mod(np.round(o / r).astype(np.int64) * r, step)
    vals, counts = np.unique(rounded, return_counts=True)
    return int(vals[np.argmax(counts)])


def _examples(idx: np.ndarray, t: np.ndarray, origin: Origin) -> str:
    shown = [f"{_dt(int(t[i])).isoformat(sep=' ')} ({origin.where(int(i))})" for i in idx[:3]]
    return "; ".join(shown) + ("; …" if idx.size > 3 else "")


def regularise(
    meter_id: str,
    t: np.ndarray,
    v: np.ndarray,
    p: Path,
    res: ReadResult,
    *,
    interval_s: int | None,
    unit: str,
    origin: Origin | None = None,
    kwh: np.ndarray | None = None,
) -> MeterSeries:
    """Put one meter's readings on its grid, recording every problem on the way.

    The grid is anchored on whole slots (multiples of the interval since midnight, see `_phase`),
    and each reading is snapped to the nearest slot when it is within SNAP_TOL of it, so clock
    jitter of seconds or one odd first row no longer shifts the grid under every other reading.
    `kwh` (per reading; default from `unit`) says which readings are energy per interval; `origin`
    names each reading's file and line for the report.
    """
    t = np.asarray(t, dtype=np.int64)
    v = np.asarray(v, dtype=np.float64)
    if kwh is None:
        kwh = np.full(t.size, unit == "kwh")
    if origin is None:
        origin = Origin.unknown(Path(p), t.size)
    src = origin.label()
    if t.size == 0:
        return MeterSeries(meter_id, 0, interval_s or 3600, np.empty(0), src, unit)
    if t.size > 1 and np.any(t[1:] < t[:-1]):
        order = np.argsort(t, kind="stable")  # ties keep file order: the first file's reading is "first"
        t, v, kwh, origin = t[order], v[order], kwh[order], origin.take(order)

    far = _far_outliers(t)
    if far.any():
        bad = np.flatnonzero(far)
        res.issues.append(DataIssue(
            "far_timestamp", meter_id, _dt(int(t[bad[0]])),
            f"{bad.size} reading(s) far outside the meter's other readings "
            f"({_dt(int(t[~far][0])).date()} … {_dt(int(t[~far][-1])).date()}), dropped: {_examples(bad, t, origin)}",
            int(bad.size)))
        _reject(res, "timestamp far outside the meter's readings", (origin.where(int(i)) for i in bad), int(bad.size))
        t, v, kwh, origin = t[~far], v[~far], kwh[~far], origin.take(np.flatnonzero(~far))

    step = int(interval_s or infer_interval(t) or 3600)
    if interval_s:
        own, changes = np.full(t.size, step, dtype=np.int64), []
    else:
        own, changes = _own_spacing(t, step)
    for j in changes:
        res.issues.append(DataIssue(
            "resolution_change", meter_id, _dt(int(t[j])),
            f"reading interval changes from {int(own[j - 1])} s to {int(own[j])} s ({origin.where(j)}); "
            f"each reading converted by its own interval, series on the {int(own.max())} s grid"))
    phase = _phase(t, int(own.min()))
    q = np.floor((t - phase).astype(np.float64) / own + 0.5)  # nearest slot (float: exact at these sizes)
    snapped = phase + q.astype(np.int64) * own
    off = np.abs(t - snapped) > SNAP_TOL * own
    if off.any():
        bad = np.flatnonzero(off)
        res.issues.append(DataIssue(
            "off_grid", meter_id, _dt(int(t[bad[0]])),
            f"{bad.size} reading(s) more than {SNAP_TOL:.0%} of the interval off the {int(own.min())} s grid, "
            f"dropped: {_examples(bad, t, origin)}", int(bad.size)))
        _reject(res, "off-grid timestamp", (f"{origin.where(int(i))} meter {meter_id}" for i in bad), int(bad.size))
        keep = ~off
        t, v, kwh, own, snapped = t[keep], v[keep], kwh[keep], own[keep], snapped[keep]
        origin = origin.take(np.flatnonzero(keep))
    if t.size == 0:
        return MeterSeries(meter_id, 0, step, np.empty(0), src, unit)

    # duplicates: two readings of one slot (jittered ones included). A valid value is preferred to an
    # empty cell, then file order; a repeated local hour in autumn is a DST fall-back.
    if np.any(snapped[1:] <= snapped[:-1]):
        o = np.lexsort((origin.file_idx * (1 << 40) + origin.line, np.isnan(v), snapped))  # file, then line
        t, v, kwh, own, snapped = t[o], v[o], kwh[o], own[o], snapped[o]
        origin = origin.take(o)
        rep = np.r_[False, snapped[1:] == snapped[:-1]]
    else:
        rep = np.zeros(t.size, dtype=bool)
    if rep.any():
        first_of = np.maximum.accumulate(np.where(~rep, np.arange(t.size), 0))
        members_all = np.flatnonzero(rep)
        dslots = np.unique(snapped[members_all])
        gid = np.r_[0, np.cumsum(np.diff(dslots) != step)]  # runs of consecutive repeated slots
        mgid = gid[np.searchsorted(dslots, snapped[members_all])]
        mstart = np.r_[0, np.flatnonzero(np.diff(mgid)) + 1]
        for a, b in zip(mstart.tolist(), np.r_[mstart[1:], members_all.size].tolist(), strict=True):
            members = members_all[a:b]
            grp = np.unique(snapped[members])
            kept = first_of[members]
            conflict = bool(np.any((v[members] != v[kept]) & ~np.isnan(v[members])))
            t0 = int(grp[0])
            kind = "dst_jump" if _dst_window(t0, fall=True) and 1800 <= grp.size * step <= 3600 else "duplicate"
            res.issues.append(DataIssue(
                kind, meter_id, _dt(t0),
                f"{members.size} repeated timestamp(s){' with different values' if conflict else ''}; first kept "
                f"({origin.where(int(kept[0]))}), others dropped ({origin.where(int(members[0]))}"
                f"{', …' if members.size > 1 else ''})", int(members.size)))
        keep = ~rep
        t, v, kwh, own, snapped = t[keep], v[keep], kwh[keep], own[keep], snapped[keep]
        origin = origin.take(np.flatnonzero(keep))

    kw = np.where(kwh, v * (3600.0 / own), v)
    valid = ~np.isnan(v)  # read with a value: a slot whose energy a reset or a negative makes unknown is no gap
    if kwh.all() and step < 86400 and _looks_cumulative(v):
        # a register: energy of a slot is the rise since the reading before; a fall is a reset (reported,
        # and that slot is unknown); the rise across a gap is known only in total, so it is not spread
        vi = np.flatnonzero(valid)
        d = np.diff(v[vi])
        dt = np.diff(snapped[vi])
        kw = np.full(v.size, np.nan)
        span = (dt == own[vi[1:]]) | (dt == own[vi[:-1]])
        kw[vi[1:]] = np.where(span & (d >= 0), d * 3600.0 / np.maximum(dt, 1), np.nan)
        fell = np.flatnonzero(d < 0)
        for i in fell[:EXAMPLES]:
            j = int(vi[i + 1])
            res.issues.append(DataIssue("meter_reset", meter_id, _dt(int(snapped[j])),
                                        f"register fell by {-d[i]:.3f} kWh ({origin.where(j)})"))
        if fell.size > EXAMPLES:
            res.issues.append(DataIssue("meter_reset", meter_id, _dt(int(snapped[int(vi[fell[EXAMPLES] + 1])])),
                                        f"{fell.size - EXAMPLES} more register reset(s)", int(fell.size - EXAMPLES)))
    elif kwh.any():
        climb = _looks_like_register(v[kwh])
        if climb is not None:
            res.issues.append(DataIssue(
                "register_suspect", meter_id, None,
                f"values rise in {climb[0]:.0%} and fall in {climb[1]:.0%} of the steps, like a running total "
                "(cumulative register) rather than energy per interval; taken as energy per interval: check the export"))
    neg = kw < 0
    if neg.any():
        for a, b in _runs(np.flatnonzero(neg)):
            res.issues.append(DataIssue(
                "negative", meter_id, _dt(int(snapped[a])),
                f"{b - a + 1} negative reading(s), min {np.nanmin(v[a : b + 1]):.3f} ({origin.where(a)}); set to null",
                b - a + 1))
        kw = np.where(neg, np.nan, kw)

    coarse = int(own.max())
    idx = np.floor((snapped - phase).astype(np.float64) / coarse).astype(np.int64)
    base = int(idx.min())
    idx = idx - base
    n = int(idx.max()) + 1
    ok = ~np.isnan(kw)
    cnt = np.bincount(idx[ok], minlength=n)
    tot = np.bincount(idx[ok], weights=kw[ok], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        grid = np.where(cnt > 0, tot / np.maximum(cnt, 1), np.nan)
    start = phase + base * coarse
    # gaps: missing slots between readings (and empty cells in the file); slots nulled for a reason of
    # their own (register reset, negative value) are reported as that, the first slot of a register too
    missing = np.bincount(idx[valid], minlength=n) == 0
    if missing.any():
        for a, b in _runs(np.flatnonzero(missing)):
            t0 = start + a * coarse
            k = b - a + 1
            kind = "dst_jump" if k * coarse == 3600 and _dst_window(t0, fall=False) else "gap"
            res.issues.append(DataIssue(kind, meter_id, _dt(t0), f"{k} slot(s) missing ({k * coarse / 3600:g} h)", k))
    u = unit if unit in ("kwh", "kw") else ("kwh" if kwh.all() else "kw" if not kwh.any() else "mixed")
    return MeterSeries(meter_id, int(start), coarse, grid, src, u, int(np.count_nonzero(ok)))


def _runs(idx: np.ndarray) -> list[tuple[int, int]]:
    if idx.size == 0:
        return []
    br = np.flatnonzero(np.diff(idx) != 1)
    starts = np.r_[idx[0], idx[br + 1]]
    ends = np.r_[idx[br], idx[-1]]
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def _nth_sunday(year: int, month: int, n: int) -> int:
    """Day of the month of its n-th Sunday (n = -1: the last)."""
    if n > 0:
        d = date(year, month, 1)
        return 1 + (6 - d.weekday()) % 7 + 7 * (n - 1)
    nxt = date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)
    return nxt.day - (nxt.weekday() + 1) % 7


#: (month, n-th Sunday) of the usual rules: the hour that is skipped in spring / repeated in autumn.
#: EU (last Sunday of March / October), US and Canada (2nd Sunday of March / 1st of November),
#: Australia (1st Sunday of October / April), New Zealand (last Sunday of September / 1st of April).
_DST_SPRING = ((3, -1), (3, 2), (10, 1), (9, -1))
_DST_FALL = ((10, -1), (11, 1), (4, 1))


def _dst_window(t0: int, *, fall: bool) -> bool:
    """A local-time hour that daylight saving skips (spring) or repeats (autumn): 01:00-03:59 on the
    Sunday one of the common rules (EU, US/Canada, Australia, New Zealand) changes the clock. Other
    Sunday nights are gaps, not DST jumps. A heuristic, said as such: the file does not name its zone."""
    d = _dt(t0)
    if d.weekday() != 6 or not 1 <= d.hour <= 3:
        return False
    return any(d.month == m and d.day == _nth_sunday(d.year, m, n) for m, n in (_DST_FALL if fall else _DST_SPRING))


def read_temperature(path: str | Path, tz_offset_h: float = 0.0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A temperature file: (time, temp) for everyone, or (meter/site, time, temp) per key."""
    p = Path(path)
    df = load_table(p)
    cols = df.columns
    tcol = _find(cols, TS_COLS) or cols[0]
    vcol = _find(cols, TEMP_COLS) or cols[-1]
    kcol = _find(cols, (*METER_COLS, "site", "station", "region"))
    ts = _parse_ts(df[tcol], round(tz_offset_h * 3600))
    ok = ts.is_not_null()
    if not ok.any():
        raise InputError("no parsable timestamps in temperature file", path=str(p), line=2)
    f = pl.DataFrame({"k": df[kcol].cast(pl.Utf8) if kcol else pl.repeat("*", df.height, eager=True),
                      "t": ts.dt.epoch("s"), "v": _celsius(df[vcol], vcol)}).filter(ok)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for (k,), g in f.sort("t").group_by(["k"], maintain_order=True):
        out[str(k)] = (g["t"].to_numpy().astype(np.int64), g["v"].to_numpy().astype(np.float64))
    return out


@dataclass(slots=True)
class MeterMeta:
    """What the customer file says about a meter: the context honest flat loads are judged in."""

    meter_id: str
    tariff_class: str | None = None
    business: str | None = None
    contracted_kw: float | None = None
    transformer: str | None = None
    role: str | None = None  # "transformer" when the row is a transformer's own meter
    site: str | None = None


_KW_TEXT = re.compile(r"^\s*([0-9]{1,3}(?:,[0-9]{3})+|[0-9]*\.?[0-9]+)\s*(?:kw|千瓦|kva)?\s*$", re.I)


def contracted_kw_value(text: str | None) -> float | None:
    """kW from a contract cell as customer files write it ("50", "50kW", "1,250", "80 千瓦"); None when it
    is no positive finite number (the cell is then reported, not guessed)."""
    if text is None:
        return None
    m = _KW_TEXT.match(text)
    if not m:
        return None
    v = float(m.group(1).replace(",", ""))
    return v if math.isfinite(v) and v > 0 else None


#: Metadata column names, English and as Chinese customer files (营销档案) name them. A capacity in kVA
#: (合同容量 is usually kVA) is taken as kW: at a power factor below 1 that is an upper bound, which is
#: what the contracted-capacity test needs.
META_TARIFF = ("tariff_class", "tariff", "class", "用电类别", "电价类别", "电价类型", "用户类别", "用电性质")
META_BUSINESS = ("business", "declared_business", "industry", "行业分类", "行业类别", "行业", "所属行业", "用电行业",
                 "经营范围")
META_CAPACITY = ("contracted_kw", "capacity_kw", "contract_kw", "contracted_kva", "capacity_kva", "合同容量",
                 "运行容量", "报装容量", "契约容量")
META_TRANSFORMER = ("transformer", "transformer_id", "area", "台区", "台区编号", "台区名称", "所属台区", "变压器",
                    "变压器编号")
META_ROLE = ("role", "type", "表计类型", "计量点类型", "计量点分类")
META_SITE = ("site", "station", "region", "供电单位", "供电所", "站点")
#: role values that mean a transformer's own meter (台区总表, 考核表) in Chinese files
_TRANSFORMER_ROLES = ("总表", "考核表", "台区总", "配变", "变压器")


def _role(text: str | None) -> str | None:
    if text is None:
        return None
    return "transformer" if any(w in text for w in _TRANSFORMER_ROLES) else text


def read_meta(path: str | Path, issues: list[DataIssue] | None = None) -> dict[str, MeterMeta]:
    """Customer metadata CSV: meter_id plus any of tariff_class, business, contracted_kw,
    transformer, role, site. Unknown columns are ignored; empty cells stay None.

    UTF-8, UTF-16 or GB18030/GBK text (customer files from Chinese grid systems are often GBK), `,` `;` or
    tab separated, plain or gzip/zstd compressed. A meter id listed twice: the **first** row is used, as the data reader keeps the first
    of two readings, so the result does not depend on which copy a later export appended; each such
    id is reported in `issues` (when given) with its line numbers and whether the rows differ."""
    p = Path(path)
    if not p.exists():
        raise InputError("metadata file not found", path=str(p))
    if p.is_dir():
        raise InputError("metadata path is a directory", path=str(p))
    # gzip/zstd compressed like the meter files it goes with (review 15: `--meta meta.csv.gz` was "neither
    # UTF-8 nor GB18030/GBK text")
    raw = _inflate(p)
    dec = _decode(raw if raw is not None else p.read_bytes())
    if dec is None:
        raise InputError("metadata is neither UTF-8 nor GB18030/GBK text", path=str(p))
    text = dec[0]
    delim = _sniff_text(text)[0]
    # Line by line, each line its own row: a stray quote must not join the lines after it into one
    # multi-line value (rows silently gone, a tariff class holding three rows); a value with a newline
    # is malformed in a metadata table. The line is named, as a bare CR inside a field is.
    parsed: list[tuple[int, list[str]]] = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        body = line.removesuffix("\r")
        if not body:
            continue
        try:
            cells = next(csv.reader([body], delimiter=delim, strict=True))
        except csv.Error as e:
            raise InputError(f"malformed CSV ({e})", path=str(p), line=lineno) from e
        parsed.append((lineno, cells))
    if not parsed:
        raise InputError("empty metadata file", path=str(p), line=1)
    # title rows above the header (an export's name and date, one cell each) are passed over, as in meter files
    parsed = parsed[_header_index([sum(1 for c in cells if c.strip()) for _, cells in parsed[:_TITLE_SCAN]]):]
    fieldnames = parsed[0][1]
    low = {c.lower().strip(): c for c in fieldnames}
    # "合同容量(kVA)", "Contract [kW]": the bracketed unit does not change what the column is
    for c in fieldnames:
        low.setdefault(_UNIT_SUFFIX.sub("", c.lower().strip()), c)
    idc = next((low[c] for c in METER_COLS if c in low), None)
    if idc is None:
        raise InputError("metadata needs a meter_id column", path=str(p), line=parsed[0][0])

    def g(row: dict[str, str], *names: str) -> str | None:
        for n in names:
            if n in low and (row.get(low[n]) or "").strip():
                return row[low[n]].strip()
        return None

    out: dict[str, MeterMeta] = {}
    lines: dict[str, list[int]] = {}
    differs: set[str] = set()
    rows = [(ln, {h: (cells[k] if k < len(cells) else "") for k, h in enumerate(fieldnames)})
            for ln, cells in parsed[1:]]
    for lineno, row in rows:
        mid = (row.get(idc) or "").strip()
        if not mid:
            # one bad row must not stop the scan of every meter: named, counted, skipped
            if issues is not None:
                issues.append(DataIssue("meta_bad_value", None, None, f"{p.name}: line {lineno}: row without meter_id; skipped"))
            continue
        cap = g(row, *META_CAPACITY)
        capf = contracted_kw_value(cap)
        if cap is not None and capf is None and issues is not None:
            issues.append(DataIssue("meta_bad_value", mid, None,
                                    f"{p.name}: line {lineno}: contracted_kw {cap!r} is not a positive number "
                                    "of kW; left unknown"))
        mm = MeterMeta(
            mid,
            tariff_class=g(row, *META_TARIFF),
            business=g(row, *META_BUSINESS),
            contracted_kw=capf,
            transformer=g(row, *META_TRANSFORMER),
            role=_role(g(row, *META_ROLE)),
            site=g(row, *META_SITE),
        )
        lines.setdefault(mid, []).append(lineno)
        if mid in out:
            if out[mid] != mm:
                differs.add(mid)
            continue
        out[mid] = mm
    if issues is not None:
        for mid, ls in lines.items():
            if len(ls) > 1:
                issues.append(DataIssue(
                    "meta_duplicate", mid, None,
                    f"{p.name}: meter listed {len(ls)} times, lines {', '.join(map(str, ls))}"
                    f"{' with different values' if mid in differs else ''}; line {ls[0]} used", len(ls) - 1))
    return out


def iter_files(paths: list[str | Path], **kw: object) -> Iterator[tuple[Path, ReadResult]]:
    """Read files one by one so memory follows the largest file, not the sum (each file's meters on
    their own grids; `read_files` joins a meter's files instead)."""
    for path in paths:
        yield Path(path), read_file(path, **kw)  # type: ignore[arg-type]
