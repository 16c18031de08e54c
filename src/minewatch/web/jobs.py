"""Scanning an uploaded file in the background, with progress a page or an API client can poll.

Why one worker thread: the machine doing the web pages is small, and two multi-GB scans at once only
make both slow. Why the store is opened only after the scan: with a DuckDB file, an open connection
locks other processes out, and a scan can take minutes; the findings are written in one short step.
Uploads are kept under their content hash, so a crafted file name cannot choose where the bytes land,
and the store's import ledger (keyed by content, as `minewatch scan` uses it) is consulted before a
file is scanned: the same capture uploaded again, or scanned by the CLI before, is not scanned again
(its stored findings are shown), so nothing is duplicated and nothing an analyst added (an impact
assessment) is rewritten. Findings are named after the uploaded file's name, not the server's copy
(`Finding.natural_id` includes the source), so a capture the CLI scanned as `NAME` and one uploaded
as `NAME` give the same finding ids.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import threading
import time
import uuid
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from minewatch.errors import InputError
from minewatch.messages_zh import ISSUE_NAMES, error_text, example_text, position_zh, reasons_text, to_zh
from minewatch.store.backend import connect, imported, record_import
from minewatch.web.messages import Worded

_PCAP_MAGIC = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x0a\x0d\x0d\x0a")

#: the flow-log formats the CLI's `FlowLogScanner` reads (kept literal so sniffing stays import-light)
LOG_KINDS = ("zeek-tsv", "zeek-json", "eve", "netflow-parquet", "nfcapd", "resolver-log")

#: at most this many files in one upload (one job): a Zeek conn.log with its dns.log and ssl.log is 3
MAX_FILES_PER_JOB = 20

#: (en, zh) label per upload kind, for the job pages
KIND_NAMES: dict[str, tuple[str, str]] = {
    "capture": ("packet capture", "抓包文件"),
    "meter": ("meter data", "电表数据"),
    "zeek-tsv": ("Zeek log (TSV)", "Zeek 日志（TSV）"),
    "zeek-json": ("Zeek log (JSON)", "Zeek 日志（JSON）"),
    "eve": ("Suricata EVE log", "Suricata EVE 日志"),
    "netflow-parquet": ("NetFlow/IPFIX (collected)", "NetFlow/IPFIX（采集数据）"),
    "nfcapd": ("NetFlow/IPFIX (nfcapd file)", "NetFlow/IPFIX（nfcapd 文件）"),
    "resolver-log": ("DNS resolver log", "DNS 解析服务器日志"),
    "mixed": ("several kinds", "多种类型"),
}
#: a job page names the kinds of an upload up to this many, else counts them (`Job.kind_label`)
KIND_LABEL_MAX = 3


def sniff(path: Path) -> str:
    """'capture', a flow-log format (`LOG_KINDS`) or 'meter', from the content (gzip is opened to
    look inside; the name is the uploader's and proves nothing). Flow logs are recognised by the
    same sniffer the CLI uses (`sources.zeek.sniff_format`: a Zeek `#separator`/`#fields` header,
    JSON lines with Zeek keys such as `id.orig_h`/`uid`, EVE lines with `event_type`); a spreadsheet
    and any other UTF-8 text are taken for meter readings, whose reader then says what is wrong."""
    from minewatch.sources.zeek import sniff_format

    with open(path, "rb") as fh:
        head = fh.read(8)
    if head[:2] == b"\x1f\x8b":
        head = _gunzip_head(path, 8)
    if head[:4] in _PCAP_MAGIC:
        return "capture"
    fmt = sniff_format(path)
    if fmt in LOG_KINDS:
        return fmt
    if head[:4] == b"PAR1":
        raise InputError("a Parquet file, but not flow records written by `minewatch collect`", path=str(path), offset=0)
    from minewatch.power.readers import is_spreadsheet

    if is_spreadsheet(path):
        return "meter"
    # text in an encoding the meter reader takes (`power.readers.text_encoding`: UTF-8, GB18030/GBK, UTF-16
    # with or without BOM, as Excel's "Unicode text"), plain, gzip or zstd compressed, as `power scan` reads it
    from minewatch.power.readers import text_encoding

    with open(path, "rb") as fh:
        text = fh.read(4096)
    if text[:2] == b"\x1f\x8b":
        text = _gunzip_head(path, 4096)
    elif text[:4] == _ZSTD_MAGIC:
        text = _unzstd_head(path, 4096)
    if text_encoding(text) is not None:  # (UTF-16 without a BOM needs line breaks or delimiters there)
        return "meter"
    raise InputError("neither a packet capture, a flow log nor a text meter file", path=str(path), offset=0)


_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def _unzstd_head(path: Path, n: int) -> bytes:
    """Up to `n` decompressed bytes from the start of a zstd file (a meter export compressed as the CLI
    reads it); a frame that cannot be decompressed from its start is a broken file, in both languages."""
    import pyarrow as pa

    try:
        with pa.input_stream(str(path), compression="zstd") as stream:
            return bytes(stream.read(n))
    except Exception as e:  # pyarrow's own errors for a broken zstd frame
        raise Worded(f"a broken zstd file: its start cannot be decompressed ({e})",
                     "zstd 文件已损坏：其开头无法解压", path=str(path), offset=0) from e  # fmt: skip


def _broken_gzip(path: str, e: BaseException, start: bool = True) -> Worded:
    """A gzip file whose start (or, `start` false, some part) cannot be decompressed (zlib's "Error -3
    while decompressing data", a file cut short), as an error naming the file, in both languages."""
    if start:
        return Worded(f"a broken gzip file: its start cannot be decompressed ({e})",
                      "gzip 文件已损坏：其开头无法解压", path=path, offset=0)  # fmt: skip
    return Worded(f"a broken gzip file: its compressed data is damaged ({e})", "gzip 文件已损坏：压缩数据有损坏",
                  path=path)  # fmt: skip


def _gunzip_head(path: Path, n: int) -> bytes:
    """Up to `n` decompressed bytes from the start of a gzip file. Damage after some bytes came out
    leaves what came before it (the readers then say where it is); damage before any byte came out
    is a broken file (`sources.zeek.GZIP_HEAD_ERRORS`: zlib's error as well as OSError and EOFError)."""
    from minewatch.sources.zeek import read_head

    try:
        out, broken = read_head(path, n)
    except OSError as e:
        raise _broken_gzip(str(path), e) from e
    if broken and not out:
        raise _broken_gzip(str(path), EOFError("no byte could be decompressed"))
    return out


@dataclass
class JobFile:
    """One uploaded file of a job, kept under its content hash."""

    filename: str
    path: Path
    sha256: str
    size_bytes: int
    kind: str | None = None
    #: why this file could not be read (naming it and the position), in English and Chinese; the job's
    #: other files are scanned regardless, as `minewatch scan` goes on past a bad file
    error: str | None = None
    error_zh: str | None = None
    #: damage met part-way (a log whose gzip was cut short): the file was read up to it and its findings
    #: are kept, as `minewatch scan` warns and goes on; it is not entered in the import ledger, so the
    #: whole file is read when it is uploaded again
    warning: str | None = None
    warning_zh: str | None = None
    #: a meter file read now: the meters its reading judged (not skipped for too little usable data);
    #: only their earlier findings may be replaced by this reading's
    judged: set[str] | None = None
    #: the name a log is read under inside the job (`Finding.source` while scanning): its upload name, or
    #: for a second log uploaded under the same name that name with a number, so each log finding can be
    #: filed under the log it came from; stored findings get the upload name back (`_unkey`), so their ids
    #: are those of the same content uploaded alone
    source_key: str = ""

    @property
    def key(self) -> str:
        return self.source_key or self.filename

    def damaged(self, e: BaseException) -> None:
        """Mark the file read up to a damage (a warning, not a failure): its error names the file as
        uploaded and the position, in both languages."""
        self.fail(e)
        self.warning, self.warning_zh = self.error, self.error_zh
        self.error = self.error_zh = None

    def fail(self, e: BaseException) -> None:
        """Mark the file unreadable. The error names the file as uploaded (not the server's copy)."""
        if isinstance(e, zlib.error | EOFError | gzip.BadGzipFile):
            e = _broken_gzip(self.filename, e, start=False)  # zlib's own words name no file and have no Chinese
        if isinstance(e, InputError):
            path = e.path if e.path and not e.path.startswith(str(self.path)) else self.filename
            path = self.filename if path == self.key else path
            named: InputError = InputError(e.message, path=_named(path, {str(self.path): self.filename}),
                                           offset=e.offset, line=e.line)  # fmt: skip
            if isinstance(e, Worded):
                named = Worded(e.message, e.zh, path=named.path, offset=e.offset, line=e.line)
            if hasattr(e, "compressed_at"):  # a position inside gzip is worded as such
                if isinstance(named, Worded):
                    named.compressed_at = e.compressed_at  # type: ignore[attr-defined]
                else:  # in English too: "byte 11857" of a 2 kB file read as nonsense (review 15)
                    from minewatch.sources.pcap import DecompressedInputError

                    named = DecompressedInputError(e.message, path=named.path, offset=e.offset,
                                                   compressed_at=e.compressed_at)  # type: ignore[attr-defined]
            e = named
        by_path = {str(self.path): self.filename, self.path.name: self.filename}
        if self.key != self.filename:
            by_path[self.key] = self.filename
        self.error = _named(str(e) or type(e).__name__, by_path)
        if not isinstance(e, InputError) and self.filename not in self.error:
            self.error = f"{self.filename}: {self.error}"
        if isinstance(e, Worded):
            at = position_zh(e.path, e.offset, e.line, hasattr(e, "compressed_at"), getattr(e, "compressed_at", None))
            self.error_zh = _named(f"{at}：{e.zh}" if at else e.zh, by_path)
        else:
            self.error_zh = _named(error_text(e, "zh"), by_path)
        if not isinstance(e, InputError) and self.filename not in self.error_zh:
            self.error_zh = f"{self.filename}：{self.error_zh}"

    def to_dict(self) -> dict[str, Any]:
        return {"filename": self.filename, "sha256": self.sha256, "size_bytes": self.size_bytes, "kind": self.kind,
                "error": self.error, "error_zh": self.error_zh, "warning": self.warning,
                "warning_zh": self.warning_zh}  # fmt: skip


#: a job in one of these has finished with its findings stored (`done_with_errors`: some of its files
#: could not be read and are marked so; the others were scanned, as `minewatch scan` goes on past a bad file)
DONE_STATES = ("done", "done_with_errors")
#: a job in one of these is over
FINAL_STATES = (*DONE_STATES, "failed")

#: (en, zh) label per job state, for the pages
STATE_NAMES: dict[str, tuple[str, str]] = {
    "queued": ("queued", "排队中"), "running": ("running", "扫描中"), "done": ("done", "完成"),
    "done_with_errors": ("done with errors", "完成（有错误）"), "failed": ("failed", "失败"),
}

#: the reading intervals `minewatch power scan --interval` names, in seconds
METER_INTERVALS = {"15min": 900, "30min": 1800, "1h": 3600, "hourly": 3600, "1d": 86400, "daily": 86400}

#: (en, zh) words for the unit meter values were read in
UNIT_WORDS: dict[str, tuple[str, str]] = {
    "kwh": ("kWh per interval", "每个间隔的电量（kWh）"),
    "kw": ("kW (power)", "功率（kW）"),
    "mixed": ("kWh or kW by column", "按列分别为 kWh 或 kW"),
}


@dataclass(frozen=True)
class MeterOptions:
    """What `minewatch power scan` is told with `--unit`, `--interval`, `--tz-offset` and `--meta`.

    Why the web needs them: a 96-point export of kWh per interval looks exactly like a kW load curve,
    and without being told the reader takes it for kW (4x too low at 15 minutes); only the person
    who exported the file knows. They are kept on the job and in the import ledger, so the same
    file uploaded again with other options is scanned again instead of "already imported"."""

    unit: str | None = None  #: "kwh", "kw", or None: from the file (column names), else the reader's assumption
    interval_s: int | None = None  #: None: detected from the timestamps
    tz_offset: float = 0.0  #: hours the meter clock is ahead of UTC
    meta: JobFile | None = None  #: the customer metadata CSV (meter_id, tariff_class, ...), never scanned as meters

    @staticmethod
    def parse(unit: str | None = None, interval: str | None = None, tz_offset: str | float | None = None) -> MeterOptions:
        """The form's or the API's text, checked as the CLI checks it; a bad value is a `Worded` error
        naming the field, so the page can say it in the reader's language instead of failing the job."""
        u = (unit or "").strip().lower()
        if u in ("", "auto"):
            u_opt = None
        elif u in ("kwh", "kw"):
            u_opt = u
        else:
            raise Worded(f"the meter unit must be kwh or kw, got {unit!r}", f"电表单位应为 kwh 或 kw，收到 {unit!r}")
        step: int | None = None
        iv = (interval or "").strip().lower()
        if iv not in ("", "auto"):
            step = METER_INTERVALS.get(iv)
            if step is None:
                try:
                    step = int(iv)
                except ValueError:
                    step = 0
                if not 1 <= step <= 86400:
                    raise Worded(f"the meter interval must be 15min, 30min, 1h, 1d or seconds from 1 to 86400, "
                                 f"got {interval!r}",
                                 f"电表采集间隔应为 15min、30min、1h、1d 或 1 至 86400 之间的秒数，收到 {interval!r}")
        try:
            tz = float(tz_offset) if tz_offset is not None and str(tz_offset).strip() else 0.0
        except ValueError:
            tz = float("nan")
        if not (tz == tz and -14 <= tz <= 14):
            raise Worded(f"the meter clock must be between -14 and 14 hours, got {tz_offset!r}",
                         f"电表时钟与 UTC 的时差应在 -14 至 14 小时之间，收到 {tz_offset!r}")
        return MeterOptions(u_opt, step, tz)

    @property
    def given(self) -> bool:
        return self != MeterOptions()

    def ledger_key(self) -> dict[str, Any]:
        """What a meter file's findings depend on besides its content, as recorded in the import ledger."""
        return {"unit": self.unit, "interval_s": self.interval_s, "tz_offset": self.tz_offset,
                "meta_sha256": self.meta.sha256 if self.meta else None}  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {"unit": self.unit, "interval_s": self.interval_s, "tz_offset": self.tz_offset,
                "meta": self.meta.to_dict() if self.meta else None}  # fmt: skip


@dataclass
class Job:
    job_id: str
    filename: str
    owner: str
    path: Path
    sha256: str
    size_bytes: int
    state: str = "queued"  # queued, running, done, done_with_errors (some files unreadable), failed
    kind: str | None = None
    done_bytes: int = 0
    findings: int = 0
    new_findings: int = 0
    attached: int = 0
    error: str | None = None
    #: the same error for a Chinese reader (worded from the exception, so its position is worded too)
    error_zh: str | None = None
    notes: list[str] = field(default_factory=list)
    notes_zh: list[str] = field(default_factory=list)
    rejected: int = 0
    created: float = field(default_factory=time.time)
    finished: float | None = None
    files: list[JobFile] = field(default_factory=list)
    #: scan even the files the import ledger knows (`minewatch scan --rescan`), e.g. after a pool list import
    rescan: bool = False
    #: hours the clock of uploaded resolver logs is ahead of UTC (`minewatch scan --tz-offset`)
    tz_offset: float = 0.0
    #: how meter files are read (`minewatch power scan --unit/--interval/--tz-offset/--meta`)
    meter: MeterOptions = field(default_factory=MeterOptions)
    #: what the reader had to assume (a meter file's unit): shown above the notes, as it changes every number
    warnings: list[str] = field(default_factory=list)
    warnings_zh: list[str] = field(default_factory=list)

    @property
    def percent(self) -> float:
        if self.state in DONE_STATES:
            return 100.0
        return round(100.0 * self.done_bytes / self.size_bytes, 1) if self.size_bytes else 0.0

    @property
    def shas(self) -> list[str]:
        return [f.sha256 for f in self.files] or [self.sha256]

    @property
    def failed_files(self) -> int:
        return sum(1 for f in self.files if f.error is not None)

    def kind_label(self, lang: str) -> str:
        """What the upload holds, for its page: a kind's name, or the kinds named when there are a few
        (`packet capture, Zeek log (TSV)` / `抓包文件、Zeek 日志（TSV）`), in file order. Why: "several
        kinds" (the `mixed` of `kind`, which the API keeps) said nothing; past `KIND_LABEL_MAX` kinds the
        number of kinds is said and the file list below names each file's."""
        zh = lang == "zh"
        kinds = list(dict.fromkeys(f.kind for f in self.files if f.kind)) or ([self.kind] if self.kind else [])
        names = [KIND_NAMES.get(k, (k, k))[1 if zh else 0] for k in kinds]
        if len(names) <= KIND_LABEL_MAX:
            return ("、" if zh else ", ").join(names)
        return f"{len(names)} 种类型" if zh else f"{len(names)} kinds"

    def note(self, en: str, zh: str | None = None) -> None:
        """A line for the job page in both languages. Scanner messages are made in English only; without
        a `zh` they are worded through the message catalogue (unknown ones stay English)."""
        self.notes.append(en)
        self.notes_zh.append(zh if zh is not None else to_zh(en))

    def warn(self, en: str, zh: str) -> None:
        """A line the job page shows prominently, in both languages."""
        self.warnings.append(en)
        self.warnings_zh.append(zh)

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id, "filename": self.filename, "owner": self.owner, "sha256": self.sha256,
            "size_bytes": self.size_bytes, "state": self.state, "kind": self.kind, "done_bytes": self.done_bytes,
            "percent": self.percent, "findings": self.findings, "new_findings": self.new_findings,
            "attached": self.attached, "error": self.error, "error_zh": self.error_zh, "notes": self.notes, "notes_zh": self.notes_zh,
            "rejected": self.rejected, "files": [f.to_dict() for f in self.files], "rescan": self.rescan, "tz_offset": self.tz_offset,
            "meter": self.meter.to_dict(), "warnings": self.warnings, "warnings_zh": self.warnings_zh,
            "failed_files": self.failed_files,
        }  # fmt: skip


class JobManager:
    def __init__(self, db_target: Any, data_dir: Path) -> None:
        self.db_target = db_target
        self.upload_dir = Path(data_dir) / "uploads"
        self.upload_dir.mkdir(parents=True, exist_ok=True)
        self.jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="minewatch-scan")

    def _keep(self, tmp: Path, filename: str) -> JobFile:
        h = hashlib.sha256()
        with open(tmp, "rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
        sha = h.hexdigest()
        dest = self.upload_dir / sha
        if dest.exists():
            tmp.unlink(missing_ok=True)
        else:
            tmp.replace(dest)
        return JobFile(filename, dest, sha, dest.stat().st_size)

    def submit_file(self, tmp: Path, filename: str, owner: str, *, rescan: bool = False) -> Job:
        """Take over a finished upload (already size-checked), keep it under its hash, queue the scan."""
        return self.submit_files([(tmp, filename)], owner, rescan=rescan)

    def keep_meta(self, tmp: Path, filename: str) -> JobFile:
        """Check an uploaded customer metadata CSV now (a bad one is the uploader's error on the form,
        not a failed job minutes later) and keep it under its hash."""
        from minewatch.power.readers import read_meta

        try:
            read_meta(tmp)
        except InputError as e:
            tmp.unlink(missing_ok=True)
            raise InputError(e.message, path=filename, line=e.line, offset=e.offset) from e
        return self._keep(tmp, filename)

    def submit_files(self, uploads: list[tuple[Path, str]], owner: str, *, rescan: bool = False,
                     tz_offset: float = 0.0, meter: MeterOptions | None = None) -> Job:
        """One job for several files of one upload: flow logs are read together (a conn.log needs the
        dns.log and ssl.log beside it to name its servers), captures and meter files one by one. With
        `rescan`, files the import ledger knows are scanned again (as `minewatch scan --rescan`).
        `meter` says how meter files are read (its metadata file already kept by `keep_meta`)."""
        if not uploads:
            raise InputError("no file in the upload")
        if len(uploads) > MAX_FILES_PER_JOB:
            for tmp, _ in uploads:
                tmp.unlink(missing_ok=True)
            raise InputError(f"at most {MAX_FILES_PER_JOB} files in one upload")
        files: list[JobFile] = []
        for tmp, name in uploads:
            jf = self._keep(tmp, name)
            if all(f.sha256 != jf.sha256 for f in files):
                files.append(jf)
        first = files[0]
        name = first.filename if len(files) == 1 else f"{first.filename} (+{len(files) - 1})"
        job = Job(uuid.uuid4().hex, name, owner, first.path, first.sha256, sum(f.size_bytes for f in files),
                  files=files, rescan=rescan, tz_offset=tz_offset, meter=meter or MeterOptions())  # fmt: skip
        with self._lock:
            self.jobs[job.job_id] = job
        self._pool.submit(self._run, job)
        return job

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def wait(self, job_id: str, timeout: float = 60.0) -> Job | None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            j = self.jobs.get(job_id)
            if j is None or j.state in FINAL_STATES:
                return j
            time.sleep(0.05)
        return self.jobs.get(job_id)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    # -- the work -----------------------------------------------------------------------------
    def _run(self, job: Job) -> None:
        job.state = "running"
        try:
            if not job.files:
                job.files = [JobFile(job.filename, job.path, job.sha256, job.size_bytes)]
            every = job.files
            for f in every:
                try:
                    f.kind = sniff(f.path)
                except InputError as e:
                    f.fail(e)
            kinds = {f.kind for f in every if f.kind}
            job.kind = kinds.pop() if len(kinds) == 1 else "mixed" if kinds else None
            files = [f for f in every if f.error is None]  # an unreadable file is marked, the others are scanned
            prior = {} if job.rescan else self._ledger(files)
            for f in files:
                if f.sha256 in prior and f.kind == "meter" and _meter_key(prior[f.sha256]) != job.meter.ledger_key():
                    # its findings depend on the unit, interval, clock and metadata it was read with
                    del prior[f.sha256]
                    job.note(f"{f.filename}: imported before with other meter options; scanned again with these",
                             f"{f.filename}：此前以不同的电表选项导入过；按本次选项重新扫描")
                if f.sha256 in prior:
                    _note_prior(job, f, prior[f.sha256])
            meta = self._meta(job) if any(f.kind == "meter" and f.sha256 not in prior for f in files) else {}
            if job.meter.meta is not None and not any(f.kind == "meter" for f in files):
                job.note(f"{job.meter.meta.filename}: customer metadata not used: no meter file in the upload",
                         f"{job.meter.meta.filename}：未使用用户档案：本次上传中没有电表文件")
            meters_seen: set[str] = set()
            batches: list[tuple[JobFile, list[Any]]] = []  # (file whose sha the findings are stored under, findings)
            logs = [f for f in files if f.kind in LOG_KINDS]
            taken = {f.filename for f in every}
            names: set[str] = set()
            for f in logs:  # each log read under a name of its own inside the job (`JobFile.source_key`)
                if f.filename in names:
                    n = 2
                    while f"{f.filename} ({n})" in taken:
                        n += 1
                    f.source_key = f"{f.filename} ({n})"
                    taken.add(f.source_key)
                names.add(f.filename)
            from minewatch.net.lookups import PoolLookups

            intel = self._intel()  # the store's pool lists, read once for every file of the job
            job_lookups = PoolLookups(intel)  # one count of pool lookups over the job's files
            base = 0
            for f in files:
                if f.kind in LOG_KINDS:
                    continue
                if f.sha256 not in prior:
                    try:
                        got = self._scan_capture(job, f, base, job_lookups, intel) if f.kind == "capture" \
                            else self._scan_meter(job, f, meta, meters_seen)
                    except Exception as e:  # this file's fault (or a reader's bug): the others are still scanned
                        f.fail(e)
                    else:
                        batches.append((f, got))
                base += f.size_bytes
                job.done_bytes = base
            if meta and meters_seen:
                ghost = sorted(m for m in meta if m not in meters_seen)
                if ghost:
                    shown = ", ".join(ghost[:5]) + (", …" if len(ghost) > 5 else "")
                    job.note(f"metadata rows for meters not in the data: {len(ghost)} ({shown})",
                             f"数据中没有的电表的档案行：{len(ghost)}（{shown}）")
            restore: list[tuple[str, Any]] = []  # (import sha, finding) stored before that took a log's evidence in
            if logs and not all(f.sha256 in prior for f in logs):
                # names of every log are read (later connections need them), connections of new logs only
                found_logs = self._scan_logs(job, logs, base, known=set(prior), lookups=job_lookups, intel=intel)
                origin = _unkey(found_logs, logs)
                # a connection a capture of the job (scanned now or stored before) also saw is one finding, as `scan`
                found_logs, restore = self._fold(batches, [f for f in files if f.kind == "capture" and f.sha256 in prior],
                                                 found_logs, logs)
                batches.extend(_by_log(found_logs, [f for f in logs if f.error is None], prior, origin))
                for f in logs:
                    if f.warning is not None:
                        job.warn(f"{f.warning}. The file was read up to this damage: the records before it were "
                                 "scanned and their findings kept, the rest was not read. It is not marked as "
                                 "imported, so uploading it again (whole) reads it again.",
                                 f"{f.warning_zh}。文件已读取到损坏处为止：此前的记录已扫描、其发现已保存，其后的内容未读取。"
                                 "该文件未登记为已导入，重新上传（完整文件）时会再次读取。")  # fmt: skip
            files = [f for f in files if f.error is None]
            if job_lookups.seen:
                found_all = [x for _, b in batches for x in b]
                covered = {(x.src_ip, v) for x in found_all for v in (x.pool_host, x.sni, x.dst_ip) if v}
                if prior:  # files stored before: their findings explain lookups as the CLI's do
                    covered |= self._stored_pairs(list(prior))
                reported, under = job_lookups.judge(covered)
                by_name = {f.filename: f for f in reversed(files)} | {f.key: f for f in files}
                for g in reported:
                    if files:
                        batches.append((by_name.get(g.source or "", files[0]), [g]))
                _unkey(reported, files)
                if under:
                    nl = len({g.src_ip for g in under})
                    job.note(f"{nl} host(s) looked up pool names but stayed under the threshold (too few lookups over "
                             "too short a time, only a pool's web site, or a name from an imported list); not reported",
                             f"有 {nl} 台主机解析过矿池域名但未达阈值（次数太少或时间太短、只访问了矿池网站，或仅为导入列表中的域名）；"
                             "未作报告")
            db = connect(self.db_target, wait_s=30.0)
            try:
                for f in files:  # a meter file read again (other options) replaces what its earlier reading stored
                    if f.kind == "meter" and any(g is f for g, _ in batches):
                        _replace_earlier(db, job, f, [x for g, b in batches if g is f for x in b])
                for f, found in batches:
                    job.new_findings += db.add_findings(found, import_sha256=f.sha256)
                for sha, x in restore:  # stored before, now with the log's evidence: under its own import again
                    db.add_findings([x], import_sha256=sha)
                for f in files:
                    if f.sha256 not in prior and f.warning is None:  # a file read part-way is read whole next time
                        summary: dict[str, Any] = {"findings": sum(len(b) for g, b in batches if g is f), "via": "web"}
                        if f.kind == "meter":
                            summary["meter_options"] = job.meter.ledger_key()
                        record_import(db, f.sha256, f.filename, f.size_bytes, f.kind or "?", summary)
                stored_before = [sha for sha in prior if all(g.sha256 != sha for g, _ in batches)]
                if stored_before:
                    marks = ", ".join("?" for _ in stored_before)
                    row = db.one(f"SELECT count(*) FROM findings WHERE import_sha256 IN ({marks})", stored_before)
                    job.findings += int(row[0]) if row else 0
                from minewatch.store.cases import attach_new

                job.attached = attach_new(db)
            finally:
                db.close()
            job.findings += sum(len(b) for _, b in batches)
            bad = [f for f in every if f.error is not None]
            if bad and len(bad) == len(every):  # nothing could be read: the job failed, each file says why
                job.error = "; ".join(f.error or "" for f in bad)
                job.error_zh = "；".join(f.error_zh or "" for f in bad)
                job.state = "failed"
            elif bad:
                job.note(f"{len(bad)} of {len(every)} file{'' if len(every) == 1 else 's'} could not be read and "
                         "were not scanned; "
                         "the findings are those of the others",
                         f"{len(every)} 个文件中有 {len(bad)} 个无法读取，未扫描；所列发现来自其余文件")
                job.state = "done_with_errors"
            else:
                job.state = "done"
        except Exception as e:  # a bad upload must not kill the worker; the job page shows why
            job.error = str(e) or type(e).__name__
            job.error_zh = error_text(e, "zh")
            job.state = "failed"
        finally:
            job.done_bytes = job.size_bytes if job.state in DONE_STATES else job.done_bytes
            job.finished = time.time()

    def _fold(self, batches: list[tuple[JobFile, list[Any]]], stored: list[JobFile],
              found_logs: list[Any], logs: list[JobFile] | None = None) -> tuple[list[Any], list[tuple[str, Any]]]:
        """The log findings that stand alone, and the stored findings (import sha, finding) that took a
        log finding's evidence in. A capture and a log of the same traffic see one connection: it is one
        finding with both views' evidence and `also_seen_in` (as `minewatch scan` folds them, with
        `fold_same_connections`), not two that double every count. Captures' findings are the primary
        ones, those scanned now (stored with their batch) and those of captures stored before."""
        from minewatch.net.findings import fold_same_connections

        primary = [x for g, b in batches if g.kind == "capture" for x in b]
        owner: dict[int, str] = {}
        if stored:
            for sha, x in self._stored_findings([f.sha256 for f in stored]):
                primary.append(x)
                owner[id(x)] = sha
        if found_logs:
            # a capture stored by an earlier upload or scan (not in this job: "scan again" of the logs alone)
            # that saw the same connection, or took this log's evidence in before: the fold is kept, not undone
            skip = {f.sha256 for f in stored} | {f.sha256 for f in logs or []}
            have = {x.finding_id for x in primary}
            for sha, x in self._stored_near(found_logs, skip, {f.filename for f in logs or []}):
                if x.finding_id not in have:
                    have.add(x.finding_id)
                    primary.append(x)
                    owner[id(x)] = sha
        if not primary or not found_logs:
            return found_logs, []
        alone, took = fold_same_connections(primary, found_logs)
        restore = [(owner[id(x)], x) for x in took if id(x) in owner]
        for _, x in restore:  # a stored finding that took this log in before: its evidence is not doubled
            seen: set[tuple[Any, ...]] = set()
            ev = []
            for e in x.evidence:
                k = (e.code, e.text, e.ts.timestamp() if e.ts is not None else None)
                if k not in seen:
                    seen.add(k)
                    ev.append(e)
            x.evidence = ev
        return alone, restore

    def _stored_near(self, found_logs: list[Any], skip: set[str], log_names: set[str]) -> list[tuple[str, Any]]:
        """(import sha, finding) of stored findings between the log findings' addresses that a log
        finding may fold into: those of captures (the ledger's kind), and any that names one of these
        logs in `extra.also_seen_in`; not those stored under the `skip` imports (read by the job itself).
        `fold_same_connections` then keeps those of the same 5-tuple and time."""
        from minewatch.store import Store
        from minewatch.store.backend import finding_from_row

        ips = sorted({str(v) for g in found_logs for v in (g.src_ip, g.dst_ip) if v})
        if not ips:
            return []
        marks = ", ".join("?" for _ in ips)
        db = connect(self.db_target, wait_s=30.0)
        try:
            rows = db.execute(f"SELECT f.import_sha256, i.kind, {', '.join('f.' + c for c in Store._COLUMNS)} "
                              "FROM findings f LEFT JOIN imports i ON i.content_sha256 = f.import_sha256 "
                              f"WHERE f.src_ip IN ({marks}) AND f.dst_ip IN ({marks})", [*ips, *ips])  # fmt: skip
        finally:
            db.close()
        out = []
        for r in rows:
            if r[0] is None or r[0] in skip:
                continue
            x = finding_from_row(r[2:])
            seen_in = (x.extra or {}).get("also_seen_in") or []
            if r[1] == "capture" or any(n in seen_in for n in log_names):
                out.append((r[0], x))
        return out

    def _stored_findings(self, shas: list[str]) -> list[tuple[str, Any]]:
        """(import sha, finding) of the findings stored with these imports."""
        from minewatch.store import Store
        from minewatch.store.backend import finding_from_row

        db = connect(self.db_target, wait_s=30.0)
        try:
            marks = ", ".join("?" for _ in shas)
            rows = db.execute(f"SELECT import_sha256, {', '.join(Store._COLUMNS)} FROM findings "
                              f"WHERE import_sha256 IN ({marks})", shas)  # fmt: skip
        finally:
            db.close()
        return [(r[0], finding_from_row(r[1:])) for r in rows]

    def _stored_pairs(self, shas: list[str]) -> set[tuple[str, str]]:
        """(client, name or address) pairs of the findings stored with these imports."""
        db = connect(self.db_target, wait_s=30.0)
        try:
            marks = ", ".join("?" for _ in shas)
            rows = db.execute(f"SELECT src_ip, pool_host, sni, dst_ip FROM findings WHERE import_sha256 IN ({marks})",
                              shas)
        finally:
            db.close()
        return {(r[0], v) for r in rows for v in r[1:] if r[0] and v}

    def _ledger(self, files: list[JobFile]) -> dict[str, dict[str, Any]]:
        """The import ledger's entries for the job's files that were stored before (by content)."""
        db = connect(self.db_target, wait_s=30.0)
        try:
            found = {f.sha256: imported(db, f.sha256) for f in files}
        finally:
            db.close()
        return {sha: entry for sha, entry in found.items() if entry is not None}

    def _intel(self) -> Any:
        """Built-in pools plus the lists imported into the store, on either backend."""
        from minewatch.store.backend import store_like
        from minewatch.store.intel_tables import load_intel

        db = connect(self.db_target, read_only=False, wait_s=30.0)
        try:
            return load_intel(store_like(db))
        finally:
            db.close()

    def _scan_logs(self, job: Job, files: list[JobFile], base: int, known: set[str] | None = None,
                   lookups: Any = None, intel: Any = None) -> list[Any]:
        """The CLI's flow-log scan (`FlowLogScanner`) over the job's logs, names read before flows; the
        connections of logs in `known` (content hashes stored before) are not read again."""
        from minewatch.net.logscan import FlowLogScanner

        scanner = FlowLogScanner(intel or self._intel(), lookups=lookups, tz_offset_h=job.tz_offset)
        by_path = {str(f.path): f.filename for f in files} | {f.key: f.filename for f in files if f.key != f.filename}
        for f in files:
            def progress(pos: int, size: int, start: int = base) -> None:
                job.done_bytes = min(start + int(pos), job.size_bytes)

            before = _read_so_far(scanner)
            try:
                scanner.add_file(f.path, f.kind or "", progress=progress, flows=f.sha256 not in (known or set()),
                                 source=f.key)
            except InputError as e:
                if _read_so_far(scanner) != before:
                    # damage met part-way (a gzip cut short): what came before it was read and is used, as
                    # `minewatch scan` warns and goes on; the file is said to be incomplete, not failed
                    f.damaged(e)
                else:  # nothing could be read: this log is marked failed; the others are still read
                    f.fail(e)
            base += f.size_bytes
            job.done_bytes = base
        found = scanner.findings() if scanner.has_input else []
        if not scanner.has_flows and scanner.lookups.seen:
            job.note("no connection records (Zeek conn.log, EVE flow events or NetFlow) in the logs: hosts that "
                     "looked up pool names are judged from the DNS records alone",
                     "日志中没有连接记录（Zeek conn.log、EVE flow 事件或 NetFlow）：仅凭 DNS 记录判断解析过矿池域名的主机")  # fmt: skip
        elif not scanner.has_flows:
            job.note("no connection records (Zeek conn.log, EVE flow events or NetFlow) in the logs: "
                     "names and alerts were read, but there is nothing to score",
                     "日志中没有连接记录（Zeek conn.log、EVE flow 事件或 NetFlow）：已读取域名和告警，但没有可评分的连接")  # fmt: skip
        c = scanner.counts
        job.note(f"read {c['flows']} connection(s), {c['dns_answers']} DNS answer(s), {c['tls_records']} TLS name(s), "
                 f"{c['alerts']} mining alert(s)",
                 f"读取连接 {c['flows']} 条、DNS 应答 {c['dns_answers']} 条、TLS 服务器名 {c['tls_records']} 条、"
                 f"挖矿告警 {c['alerts']} 条")  # fmt: skip
        rej = scanner.rejects
        if rej.total:
            job.rejected += rej.total
            top = rej.counts.most_common(5)
            reasons = ", ".join(f"{k} ({v})" for k, v in top)
            reasons_zh = "；".join(f"{to_zh(k)}（{v:,} 行）" for k, v in top)
            job.note(f"rejected {rej.total} line(s): {reasons}", f"拒收 {rej.total:,} 行：{reasons_zh}")
            for ex in rej.examples[:5]:
                shown = _named(ex, by_path)
                job.note(shown, example_text(shown, rej.counts, "zh"))
        if scanner.suspects:
            n = len(scanner.suspects)
            job.note(f"{n} long-lived connection(s) have a pool-like rhythm but no pool name or IDS alert behind "
                     "them; not reported", f"{n} 条长连接具有类似矿池的节奏，但没有矿池域名或入侵检测告警佐证，未作报告")  # fmt: skip
        return found

    def _scan_capture(self, job: Job, f: JobFile, base: int, lookups: Any = None, intel: Any = None) -> list[Any]:
        from minewatch.net.pipeline import CaptureScanner

        scanner = CaptureScanner(intel or self._intel())
        if lookups is not None:
            scanner.lookups = lookups

        def progress(n: int) -> None:
            job.done_bytes = min(base + int(n), job.size_bytes)

        found = scanner.scan_file(f.path, progress=progress, source=f.filename)
        stats = scanner.stats.as_dict()
        by_path = {str(f.path): f.filename}
        if stats.get("errors"):
            for e in stats["errors"][:10]:
                job.note(_named(str(e), by_path))
        if stats.get("rejected"):
            n = sum(int(v) for v in stats["rejected"].values())
            job.rejected += n
            reasons = ", ".join(f"{k} {v}" for k, v in sorted(stats["rejected"].items()))
            job.note(f"rejected: {reasons}", f"拒收：{reasons_text(stats['rejected'], 'zh')}")
        ex = scanner.exports
        exported = ex.take() if ex is not None else None
        if ex is not None and exported is not None and exported.num_rows:
            # flow export datagrams in the capture (taken at a collector): read as collector output (as `scan`)
            from minewatch.net.findings import fold_same_connections
            from minewatch.net.logscan import FlowLogScanner

            logs = FlowLogScanner(intel or self._intel(), lookups=scanner.lookups, names=scanner.names)
            logs.add_netflow_table(exported, f.filename)
            # the capture's packets and its flow exports may both show one connection: one finding (as `scan`)
            alone, _ = fold_same_connections(found, logs.findings())
            found = found + alone
            if ex.rejects.total:  # what the decoder refused, as the CLI says it
                job.rejected += ex.rejects.total
                top = ", ".join(f"{k} ({v})" for k, v in ex.rejects.counts.most_common(5))
                job.note(f"rejected {ex.rejects.total} flow export item(s): {top}",
                         f"拒收 {ex.rejects.total:,} 个流导出条目：{top}")
            job.note(f"{ex.datagrams:,} flow export datagram(s) (NetFlow, IPFIX, sFlow) in the capture gave "
                     f"{ex.records:,} record(s), read as collector output",
                     f"抓包中有 {ex.datagrams:,} 个流导出数据报（NetFlow、IPFIX、sFlow），得到 {ex.records:,} 条记录，"
                     "按采集器输出读取")  # fmt: skip
        tunnels = stats.get("tunnelled_packets") or {}
        if tunnels:  # the flows listed are the inner ones: say why the switch-to-sensor tunnel is not among them
            kinds = ", ".join(f"{k} {v:,}" for k, v in tunnels.items())
            job.note(f"{sum(tunnels.values()):,} packets were read from inside tunnels ({kinds}); flows are the inner ones",
                     f"{sum(tunnels.values()):,} 个数据包取自隧道内部（{kinds}）；所列的流为内层流")
        return found

    def _meta(self, job: Job) -> dict[str, Any]:
        """The upload's customer metadata by meter id (checked on upload; its data issues become notes)."""
        mf = job.meter.meta
        if mf is None:
            return {}
        from minewatch.power.readers import DataIssue, read_meta

        issues: list[DataIssue] = []
        try:
            meta = read_meta(mf.path, issues)
        except InputError as e:
            raise InputError(e.message, path=mf.filename, line=e.line, offset=e.offset) from e
        _note_issues(job, mf.filename, issues, {str(mf.path): mf.filename, mf.path.name: mf.filename})
        return meta

    def _scan_meter(self, job: Job, jf: JobFile, meta: dict[str, Any] | None = None,
                    seen: set[str] | None = None) -> list[Any]:
        """`minewatch power scan` of one meter file with the job's meter options; what unit the values
        were read in is always said, and said loudly when the reader had to assume it."""
        import numpy as np

        from minewatch.power.readers import read_file
        from minewatch.power.scan import scan_series

        opts = job.meter
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = read_file(jf.path, interval_s=opts.interval_s, unit=opts.unit, tz_offset_h=opts.tz_offset)
        for s in res.series:  # findings (and their ids) name the file as uploaded, not the server's copy
            s.source = jf.filename
        if seen is not None:
            seen.update(s.meter_id for s in res.series)
        job.done_bytes += jf.size_bytes // 2
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out = scan_series(res.series, meta=meta or {}, temperature=res.temperature, tz_offset_h=opts.tz_offset)
        suspects = out.suspects()
        jf.judged = {s.meter_id for s in res.series if s.meter_id not in out.skipped}
        by_id = {s.meter_id: s for s in res.series}
        for f in suspects:
            s = by_id.get(f.meter_id or "")
            if s is None:
                continue
            per_day = max(1, 86400 // max(s.interval_s, 1))
            n = s.kw.size // per_day
            if n >= 2:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    daily = np.nanmean(s.kw[: n * per_day].reshape(n, per_day), axis=1)
                day0 = s.start_s - s.start_s % 86400
                # a day without readings is null (a gap in the drawn line), as in `extra["daily_kw"]`: dropping
                # it drew a straight line across an outage and put the days after it in the wrong place
                f.extra["load_curve"] = [
                    [time.strftime("%Y-%m-%d", time.gmtime(day0 + i * 86400)),
                     round(float(v), 3) if np.isfinite(v) else None]
                    for i, v in enumerate(daily)
                ]  # fmt: skip
        _note_units(job, jf.filename, res)
        _note_issues(job, jf.filename, res.issues, {str(jf.path): jf.filename, jf.path.name: jf.filename})
        return suspects


def _unkey(found: list[Any], files: list[JobFile]) -> dict[int, JobFile]:
    """The file each finding came from (by `id()`), from the name it was read under (`JobFile.key`);
    the findings get the upload name back as their source, and with it the id the same content gives
    when it is uploaded alone (ids include the source)."""
    by_key: dict[str, JobFile] = {}
    for f in files:
        by_key.setdefault(f.filename, f)
    by_key.update({f.key: f for f in files})
    by_key.update({str(f.path): f for f in files})
    origin: dict[int, JobFile] = {}
    for x in found:
        f = by_key.get(x.source or "")
        if f is None:
            continue
        origin[id(x)] = f
        if x.source != f.filename and x.source == f.key:
            natural = x.finding_id == x.natural_id()
            x.source = f.filename
            if natural:
                x.finding_id = x.natural_id()
            for e in x.evidence:
                e.text = e.text.replace(f.key, f.filename)
                if e.text_zh:
                    e.text_zh = e.text_zh.replace(f.key, f.filename)
    return origin


def _by_log(found: list[Any], logs: list[JobFile], prior: dict[str, Any],
            origin: dict[int, JobFile] | None = None) -> list[tuple[JobFile, list[Any]]]:
    """Log findings grouped under the log each came from (`origin`, from the name each log was read
    under: two logs uploaded under one name are told apart), as `minewatch scan` files them by
    `log_shas`: a finding is stored under its own file's import, not under whichever log was named
    first. One whose source is no log of the job (none expected) goes to the first log read now."""
    if not logs:
        return []
    by_source: dict[str, JobFile] = {}
    for f in logs:
        by_source[f.filename] = by_source.get(f.filename, f)
        by_source[str(f.path)] = f
    fallback = next((f for f in logs if f.sha256 not in prior), logs[0])
    out: dict[str, tuple[JobFile, list[Any]]] = {}
    for x in found:
        f = (origin or {}).get(id(x)) or by_source.get(x.source or "", fallback)
        if all(g is not f for g in logs):
            f = fallback
        out.setdefault(f.sha256, (f, []))[1].append(x)
    return list(out.values())


def _replace_earlier(db: Any, job: Job, f: JobFile, found: list[Any]) -> None:
    """Before the findings of a meter file read again are stored: what its earlier reading stored and
    this one no longer gives (another clock moved the onset, so the finding id changed) is removed, so
    one rig is not counted twice. A finding an analyst works with (in a case: notes and attachments
    belong to cases) is kept but marked `extra.superseded_by` (this reading's findings of the same
    meter, the options, the job), and the job says how many were kept. The meter scan fills `impact`
    itself, so it is no sign of an analyst's work here. The removal is audited."""
    from minewatch.store.backend import jdump, jload
    from minewatch.store.cases import audit

    new_ids = {x.finding_id for x in found}
    rows = [r for r in db.execute("SELECT finding_id, extra, meter_id FROM findings WHERE import_sha256 = ?",
                                  [f.sha256]) if r[0] not in new_ids]  # fmt: skip
    if f.judged is not None:  # a meter this reading could not judge (no usable readings) says nothing new of it
        unjudged = [r for r in rows if r[2] not in f.judged]
        rows = [r for r in rows if r[2] in f.judged]
        if unjudged and not f.judged:
            job.warn(f"{f.filename}: these meter options read nothing usable from the file (every meter was "
                     f"skipped); the {len(unjudged)} finding(s) of its earlier reading stay as they were: check the "
                     "unit, interval and clock",
                     f"{f.filename}：按本次电表选项未能从文件中读到可用数据（所有电表均被跳过）；此前读取所得的 "
                     f"{len(unjudged)} 条发现保持不变：请核查单位、采集间隔和时钟")
        elif unjudged:
            ms = sorted({str(r[2]) for r in unjudged})
            shown = ", ".join(ms[:5]) + (", …" if len(ms) > 5 else "")
            job.warn(f"{f.filename}: this reading could not judge meter(s) {shown} (too little usable data with "
                     f"these options); the {len(unjudged)} finding(s) of the earlier reading for them stay",
                     f"{f.filename}：按本次选项无法判断电表 {shown}（可用数据太少）；此前读取所得的 "
                     f"{len(unjudged)} 条相关发现保持不变")
    if not rows:
        return
    marks = ", ".join("?" for _ in rows)
    in_case = {r[0] for r in db.execute(f"SELECT DISTINCT finding_id FROM case_findings WHERE finding_id IN ({marks})",
                                        [r[0] for r in rows])}  # fmt: skip
    shared = _backed_elsewhere(db, f, {r[2] for r in rows if r[2]})
    drop = [r[0] for r in rows if r[0] not in in_case and r[2] not in shared]
    keep = [r for r in rows if r[0] in in_case or r[2] in shared]
    kept_shared = sum(1 for r in keep if r[0] not in in_case)
    by_meter: dict[str | None, list[str]] = {}
    for x in found:
        by_meter.setdefault(x.meter_id, []).append(x.finding_id)
    with db.tx():
        for fid in drop:
            db.execute("DELETE FROM site_findings WHERE finding_id = ?", [fid])
            db.execute("DELETE FROM findings WHERE finding_id = ?", [fid])
        for fid, extra, meter in keep:
            e = jload(extra) or {}
            e["superseded_by"] = {"findings": by_meter.get(meter, []), "job_id": job.job_id,
                                  "meter_options": job.meter.ledger_key()}  # fmt: skip
            db.execute("UPDATE findings SET extra = ? WHERE finding_id = ?", [jdump(e), fid])
        audit(db, job.owner, "findings.replace", "import", f.sha256,
              before={"file": f.filename, "removed": drop, "kept_superseded": [r[0] for r in keep]},
              after={"findings": sorted(new_ids), "meter_options": job.meter.ledger_key()})
    if drop:
        job.note(f"{f.filename}: {len(drop)} finding(s) of an earlier reading of this file (other meter options) "
                 "were replaced by this reading's",
                 f"{f.filename}：此前以其他电表选项读取本文件所得的 {len(drop)} 条发现已由本次读取的结果取代")
    if kept_shared:
        job.warn(f"{f.filename}: {kept_shared} earlier finding(s) of its meters that this reading no longer gives "
                 "may also come from another imported file of the same name (or another file of these meters); "
                 "they are kept, marked as superseded by this reading: check them and remove what is stale",
                 f"{f.filename}：本次读取不再得出的 {kept_shared} 条此前的电表发现，可能也来自另一个同名的已导入文件"
                 "（或这些电表的其他文件）；予以保留，并标记为已被本次读取结果取代；请核查并删除过时的发现")
    if len(keep) > kept_shared:
        job.warn(f"{f.filename}: an earlier reading of this file left {len(keep) - kept_shared} finding(s) in cases; "
                 "they are kept, marked as superseded by this reading: check the cases that hold them",
                 f"{f.filename}：此前读取本文件所得的 {len(keep) - kept_shared} 条发现已在案件中，予以保留，"
                 "并标记为已被本次读取结果取代；请核查包含它们的案件")


def _backed_elsewhere(db: Any, f: JobFile, meters: set[str]) -> set[str]:
    """The meters among `meters` whose earlier finding another import may also back, so a new reading of
    `f` must not delete it: a finding's id includes the source name, so two files uploaded under one name
    (two exports of one meter) give the same ids, and the stored row names only the newest import. A
    meter that another import's findings name, or any meter when the ledger holds another file of this
    name (whose findings cannot be told apart), counts as backed elsewhere; such findings are kept and
    marked superseded, never deleted."""
    if not meters:
        return set()
    name = re.split(r"[\\/]", f.filename)[-1]
    same_name = any(re.split(r"[\\/]", str(r[0]))[-1] == name
                    for r in db.execute("SELECT path FROM imports WHERE content_sha256 <> ?", [f.sha256]))
    if same_name:
        return set(meters)
    ms = sorted(meters)
    marks = ", ".join("?" for _ in ms)
    return {r[0] for r in db.execute(f"SELECT DISTINCT meter_id FROM findings WHERE meter_id IN ({marks}) "
                                     "AND (import_sha256 IS NULL OR import_sha256 <> ?)", [*ms, f.sha256])}


def _read_so_far(scanner: Any) -> tuple[int, int, int]:
    """How much a `FlowLogScanner` has taken in (records of every kind, rejected lines, certificates):
    a log whose reading raised after this grew was damaged part-way, not unreadable."""
    return (sum(int(v) for v in scanner.counts.values()), int(scanner.rejects.total), len(scanner.x509 or ()))


def _meter_key(entry: dict[str, Any]) -> dict[str, Any]:
    """The meter options a ledger entry was scanned with (an entry from before they were recorded:
    the defaults, which is what the web read every meter file with then)."""
    summary = entry.get("summary") or {}
    key = summary.get("meter_options") if isinstance(summary, dict) else None
    return key if isinstance(key, dict) else MeterOptions().ledger_key()


def _note_units(job: Job, name: str, res: Any) -> None:
    """Say what unit and interval a meter file's values were read in, and warn when the unit was
    assumed: a kWh-per-interval export read as kW gives 1/4 of the load at 15 minutes, and nothing
    else on the page would show it (the CLI lists it under "unit assumptions")."""
    units = sorted({s.unit_in for s in res.series})
    steps = sorted({s.interval_s for s in res.series})
    assumed = [i for i in res.issues if i.kind == "unit_assumed"]
    if job.meter.unit:
        how_en, how_zh = "as chosen on upload", "按上传时的选择"
    elif assumed:
        how_en, how_zh = "assumed: the file does not say", "系假定：文件中未标明"
    else:
        how_en, how_zh = "from the column names", "依据列名"
    unit_en = ", ".join(UNIT_WORDS.get(u, (u, u))[0] for u in units) or "?"
    unit_zh = "、".join(UNIT_WORDS.get(u, (u, u))[1] for u in units) or "?"
    every = ", ".join(step_words(x)[0] for x in steps) or "?"
    every_zh = "、".join(step_words(x)[1] for x in steps) or "?"
    job.note(f"{name}: {len(res.series)} meter(s), one reading every {every}, values read as {unit_en} ({how_en})",
             f"{name}：{len(res.series)} 块电表，每 {every_zh}一个读数，数值按{unit_zh}读取（{how_zh}）")
    for i in assumed:
        took_kwh = "taken as kWh" in i.detail
        other = UNIT_WORDS["kw" if took_kwh else "kwh"]
        other_word = "kW" if took_kwh else "kWh"
        what = i.detail.split(": ", 1)[-1].replace("; --unit kwh for energy", "")
        what_zh = to_zh(i.detail).split("：", 1)[-1].replace("；如为电量请用 --unit kwh", "")
        job.warn(f"{name}: unit assumed: {what}. If the values are {other[0]}, upload the file again with the "
                 f"meter unit set to {other_word}: every kW figure (and the machine count) depends on it.",
                 f"{name}：单位系假定：{what_zh}。如数值实为{other[1]}，请把电表单位设为 {other_word} 后重新上传："
                 "所有功率数字（以及矿机数）都取决于此。")


def step_words(seconds: int) -> tuple[str, str]:
    """A reading interval for a person (15 min, 1 h), in English and Chinese."""
    if seconds % 86400 == 0:
        return (f"{seconds // 86400} day(s)", f"{seconds // 86400} 天")
    if seconds % 3600 == 0:
        return (f"{seconds // 3600} h", f"{seconds // 3600} 小时")
    if seconds % 60 == 0:
        return (f"{seconds // 60} min", f"{seconds // 60} 分钟")
    return (f"{seconds} s", f"{seconds} 秒")


def _note_issues(job: Job, name: str, issues: list[Any], by_path: dict[str, str]) -> None:
    """The reader's data issues by kind with their true counts and the first examples, as `power
    scan` lists them (a bare "N data issue(s)" told the user nothing they could check)."""
    kinds: dict[str, list[Any]] = {}
    for i in issues:
        if i.kind != "unit_assumed":  # said by `_note_units`, with what to do about it
            kinds.setdefault(i.kind, []).append(i)
    for kind, items in kinds.items():
        en, zh = ISSUE_NAMES.get(kind, (kind, kind))
        n = sum(i.count for i in items)
        ex = [_named(" ".join(x for x in (i.meter_id, i.ts.isoformat() if i.ts else None, i.detail) if x), by_path)
              for i in items[:3]]
        ex_zh = [_named(" ".join(x for x in (i.meter_id, i.ts.isoformat() if i.ts else None, to_zh(i.detail)) if x),
                        by_path) for i in items[:3]]
        more = f"; … and {len(items) - 3} more" if len(items) > 3 else ""
        more_zh = f"；…… 另有 {len(items) - 3} 处" if len(items) > 3 else ""
        job.note(f"{name}: {en}: {n:,} ({'; '.join(ex)}{more})", f"{name}：{zh}：{n:,}（{'；'.join(ex_zh)}{more_zh}）")


def _note_prior(job: Job, f: JobFile, entry: dict[str, Any]) -> None:
    """A line for a file the ledger knows: when, and under which name (the name only: a CLI import
    records the path on the server, which is not for the web page)."""
    when = entry.get("imported_at")
    at = f"{when:%Y-%m-%d %H:%M} UTC" if when is not None else "?"
    name = re.split(r"[\\/]", str(entry.get("path") or "?"))[-1]
    job.note(f"{f.filename}: already imported on {at} (as {name}); its stored findings are shown, "
             "it is not scanned again (upload it with \"scan again\" after importing a pool list)",
             f"{f.filename}：已于 {at} 导入（当时名为 {name}）；显示已存的发现，不再重复扫描"
             "（导入矿池列表后如需重新扫描，请勾选“重新扫描”后上传）")  # fmt: skip


def _named(text: str, by_path: dict[str, str]) -> str:
    """A scanner message with the stored upload path (a hash under the data directory) replaced by the
    name the user uploaded: the user knows the one, and should not learn the other."""
    for path, name in by_path.items():
        text = text.replace(path, name)
    return text
