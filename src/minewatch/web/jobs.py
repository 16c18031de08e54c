"""Scanning an uploaded file in the background, with progress a page or an API client can poll.

Why one worker thread: the machine doing the web pages is small, and two multi-GB scans at once only
make both slow. Why the store is opened only after the scan: with a DuckDB file, an open connection
locks other processes out, and a scan can take minutes; the findings are written in one short step.
Uploads are kept under their content hash, so the same file uploaded twice is recognised (the store's
import ledger) and a crafted file name cannot choose where the bytes land.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
import time
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from minewatch.errors import InputError
from minewatch.store.backend import DuckDb, connect

_PCAP_MAGIC = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x0a\x0d\x0d\x0a")


def sniff(path: Path) -> str:
    """'capture' or 'meter' from the first bytes (gzip is opened to look inside)."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head[:2] == b"\x1f\x8b":
        with gzip.open(path, "rb") as g:
            head = g.read(8)
    if head[:4] in _PCAP_MAGIC:
        return "capture"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError("neither a packet capture nor a text meter file", path=str(path), offset=0) from e
    return "meter"


@dataclass
class Job:
    job_id: str
    filename: str
    owner: str
    path: Path
    sha256: str
    size_bytes: int
    state: str = "queued"  # queued, running, done, failed
    kind: str | None = None
    done_bytes: int = 0
    findings: int = 0
    new_findings: int = 0
    attached: int = 0
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    finished: float | None = None

    @property
    def percent(self) -> float:
        if self.state == "done":
            return 100.0
        return round(100.0 * self.done_bytes / self.size_bytes, 1) if self.size_bytes else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id, "filename": self.filename, "owner": self.owner, "sha256": self.sha256,
            "size_bytes": self.size_bytes, "state": self.state, "kind": self.kind, "done_bytes": self.done_bytes,
            "percent": self.percent, "findings": self.findings, "new_findings": self.new_findings,
            "attached": self.attached, "error": self.error, "notes": self.notes,
        }  # fmt: skip


class JobManager:
    def __init__(self, db_target: Any, data_dir: Path) -> None:
        self.db_target = db_target
        self.upload_dir = Path(data_dir) / "uploads"
        self.upload_dir.mkdir(parents=True, exist_ok=True)
        self.jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="minewatch-scan")

    def submit_file(self, tmp: Path, filename: str, owner: str) -> Job:
        """Take over a finished upload (already size-checked), keep it under its hash, queue the scan."""
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
        job = Job(uuid.uuid4().hex, filename, owner, dest, sha, dest.stat().st_size)
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
            if j is None or j.state in ("done", "failed"):
                return j
            time.sleep(0.05)
        return self.jobs.get(job_id)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    # -- the work -----------------------------------------------------------------------------
    def _run(self, job: Job) -> None:
        job.state = "running"
        try:
            job.kind = sniff(job.path)
            findings = self._scan_capture(job) if job.kind == "capture" else self._scan_meter(job)
            job.findings = len(findings)
            db = connect(self.db_target, wait_s=30.0)
            try:
                job.new_findings = db.add_findings(findings, import_sha256=job.sha256)
                if isinstance(db, DuckDb):
                    db.store.record_import(job.sha256, job.filename, job.size_bytes, job.kind,
                                           {"findings": len(findings), "via": "web"})  # fmt: skip
                from minewatch.store.cases import attach_new

                job.attached = attach_new(db)
            finally:
                db.close()
            job.state = "done"
        except Exception as e:  # a bad upload must not kill the worker; the job page shows why
            job.error = str(e) or type(e).__name__
            job.state = "failed"
        finally:
            job.done_bytes = job.size_bytes if job.state == "done" else job.done_bytes
            job.finished = time.time()

    def _intel(self) -> Any:
        from minewatch.store.intel_tables import load_intel

        if isinstance(self.db_target, str) and self.db_target.startswith(("postgres://", "postgresql://")):
            return load_intel(None)  # imported lists live in the DuckDB intel tables only (for now)
        db = connect(self.db_target, read_only=False, wait_s=30.0)
        try:
            assert isinstance(db, DuckDb)
            return load_intel(db.store)
        finally:
            db.close()

    def _scan_capture(self, job: Job) -> list[Any]:
        from minewatch.net.pipeline import CaptureScanner

        scanner = CaptureScanner(self._intel())

        def progress(n: int) -> None:
            job.done_bytes = min(int(n), job.size_bytes)

        found = scanner.scan_file(job.path, progress=progress)
        for f in found:
            f.source = job.filename
        stats = scanner.stats.as_dict()
        if stats.get("errors"):
            job.notes.extend(str(e) for e in stats["errors"][:10])
        if stats.get("rejected"):
            job.notes.append("rejected: " + ", ".join(f"{k} {v}" for k, v in sorted(stats["rejected"].items())))
        return found

    def _scan_meter(self, job: Job) -> list[Any]:
        import numpy as np

        from minewatch.power.readers import read_file
        from minewatch.power.scan import scan_series

        res = read_file(job.path)
        job.done_bytes = job.size_bytes // 2
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out = scan_series(res.series, temperature=res.temperature)
        suspects = out.suspects()
        by_id = {s.meter_id: s for s in res.series}
        for f in suspects:
            f.source = job.filename
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
                f.extra["load_curve"] = [
                    [time.strftime("%Y-%m-%d", time.gmtime(day0 + i * 86400)), round(float(v), 3)]
                    for i, v in enumerate(daily) if np.isfinite(v)
                ]  # fmt: skip
        if res.issues:
            job.notes.append(f"{sum(i.count for i in res.issues)} data issue(s) in the meter file")
        return suspects
