"""The embedded store: findings plus an import ledger keyed by file content, in one DuckDB file.

Why key imports by content (SHA-256 of the bytes) rather than path: the same capture copied,
renamed or re-uploaded must not add its findings twice, while a file that grew (a rotated log
appended to) is new content and is scanned again. Findings themselves have content-derived ids
(`Finding.natural_id`), so a re-scan of overlapping data updates rows instead of duplicating them.

Schema changes go through numbered migrations recorded in `schema_version`, so an existing store is
upgraded in place and keeps its data.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from minewatch.model import Finding, parse_iso

MIGRATIONS: list[str] = [
    # 1: findings and the import ledger
    """
    CREATE TABLE IF NOT EXISTS imports (
        content_sha256 VARCHAR PRIMARY KEY,
        path VARCHAR NOT NULL,
        size_bytes BIGINT NOT NULL,
        kind VARCHAR NOT NULL,
        imported_at TIMESTAMPTZ NOT NULL,
        summary JSON
    );
    CREATE TABLE IF NOT EXISTS findings (
        finding_id VARCHAR PRIMARY KEY,
        kind VARCHAR NOT NULL,
        detector VARCHAR NOT NULL,
        score DOUBLE NOT NULL,
        subscores JSON NOT NULL,
        evidence JSON NOT NULL,
        source VARCHAR,
        first_seen TIMESTAMPTZ,
        last_seen TIMESTAMPTZ,
        src_ip VARCHAR, src_port INTEGER, dst_ip VARCHAR, dst_port INTEGER, transport VARCHAR,
        coin VARCHAR, algorithm VARCHAR, variant VARCHAR, encrypted BOOLEAN,
        pool_host VARCHAR, worker VARCHAR, wallet VARCHAR, wallet_type VARCHAR, agent VARCHAR,
        hashrate_hs DOUBLE, share_difficulty DOUBLE, shares_accepted BIGINT, shares_rejected BIGINT,
        sni VARCHAR, community_id VARCHAR,
        meter_id VARCHAR, onset TIMESTAMPTZ, kw_mining DOUBLE, machines_est DOUBLE, site VARCHAR,
        impact JSON, extra JSON,
        import_sha256 VARCHAR,
        stored_at TIMESTAMPTZ NOT NULL
    );
    CREATE INDEX IF NOT EXISTS findings_seen ON findings(first_seen);
    CREATE INDEX IF NOT EXISTS findings_src ON findings(src_ip);
    """,
    # 2: imported pool lists and the versioned allow-list (minewatch.store.intel_tables)
    """
    CREATE SEQUENCE IF NOT EXISTS intel_list_ids START 1;
    CREATE TABLE IF NOT EXISTS intel_lists (
        list_id INTEGER PRIMARY KEY,
        name VARCHAR NOT NULL,
        path VARCHAR,
        fmt VARCHAR NOT NULL,
        content_sha256 VARCHAR,
        imported_at TIMESTAMPTZ NOT NULL,
        accepted INTEGER NOT NULL,
        rejected INTEGER NOT NULL,
        counts JSON,
        rejects JSON
    );
    CREATE TABLE IF NOT EXISTS intel_entries (
        list_id INTEGER NOT NULL,
        kind VARCHAR NOT NULL,
        value VARCHAR NOT NULL,
        port INTEGER,
        line INTEGER,
        reference VARCHAR
    );
    CREATE TABLE IF NOT EXISTS allow_rules (
        rule_id INTEGER PRIMARY KEY,
        kind VARCHAR NOT NULL,
        value VARCHAR NOT NULL,
        exceptions JSON,
        subdomains BOOLEAN NOT NULL,
        reason VARCHAR NOT NULL,
        added_version INTEGER NOT NULL,
        removed_version INTEGER,
        created_at TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE IF NOT EXISTS allow_versions (
        version INTEGER PRIMARY KEY,
        changed_at TIMESTAMPTZ NOT NULL,
        action VARCHAR NOT NULL,
        rule_id INTEGER NOT NULL,
        summary VARCHAR
    );
    """,
    # 3: sites, cases, notes, attachments, audit log, users (minewatch.store.cases). Portable SQL: the
    # same text runs on PostgreSQL (minewatch.store.backend).
    """
    CREATE SEQUENCE IF NOT EXISTS site_ids START 1;
    CREATE SEQUENCE IF NOT EXISTS case_ids START 1;
    CREATE SEQUENCE IF NOT EXISTS note_ids START 1;
    CREATE SEQUENCE IF NOT EXISTS attachment_ids START 1;
    CREATE SEQUENCE IF NOT EXISTS audit_ids START 1;
    CREATE SEQUENCE IF NOT EXISTS user_ids START 1;
    CREATE TABLE IF NOT EXISTS sites (
        site_id INTEGER PRIMARY KEY,
        name VARCHAR NOT NULL,
        address VARCHAR,
        ip_ranges JSON NOT NULL,
        meter_ids JSON NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        created_by VARCHAR NOT NULL
    );
    CREATE TABLE IF NOT EXISTS site_findings (
        site_id INTEGER NOT NULL,
        finding_id VARCHAR NOT NULL,
        added_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (site_id, finding_id)
    );
    CREATE INDEX IF NOT EXISTS site_findings_f ON site_findings(finding_id);
    CREATE TABLE IF NOT EXISTS cases (
        case_id INTEGER PRIMARY KEY,
        title VARCHAR NOT NULL,
        state VARCHAR NOT NULL,
        site_id INTEGER,
        reason VARCHAR,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
        created_by VARCHAR NOT NULL
    );
    CREATE TABLE IF NOT EXISTS case_findings (
        case_id INTEGER NOT NULL,
        finding_id VARCHAR NOT NULL,
        added_at TIMESTAMPTZ NOT NULL,
        added_by VARCHAR NOT NULL,
        PRIMARY KEY (case_id, finding_id)
    );
    CREATE TABLE IF NOT EXISTS notes (
        note_id INTEGER PRIMARY KEY,
        case_id INTEGER NOT NULL,
        author VARCHAR NOT NULL,
        body VARCHAR NOT NULL,
        created_at TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE IF NOT EXISTS attachments (
        attachment_id INTEGER PRIMARY KEY,
        case_id INTEGER NOT NULL,
        filename VARCHAR NOT NULL,
        content_sha256 VARCHAR NOT NULL,
        size_bytes BIGINT NOT NULL,
        content_type VARCHAR,
        uploaded_by VARCHAR NOT NULL,
        created_at TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE IF NOT EXISTS audit_log (
        audit_id BIGINT PRIMARY KEY,
        changed_at TIMESTAMPTZ NOT NULL,
        actor VARCHAR NOT NULL,
        action VARCHAR NOT NULL,
        object_type VARCHAR NOT NULL,
        object_id VARCHAR,
        before_state JSON,
        after_state JSON,
        prev_hash VARCHAR NOT NULL,
        entry_hash VARCHAR NOT NULL
    );
    CREATE TABLE IF NOT EXISTS users (
        user_id INTEGER PRIMARY KEY,
        username VARCHAR NOT NULL UNIQUE,
        role VARCHAR NOT NULL,
        pw_hash VARCHAR NOT NULL,
        token_sha256 VARCHAR,
        disabled BOOLEAN NOT NULL,
        created_at TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE IF NOT EXISTS attach_state (
        name VARCHAR PRIMARY KEY,
        stored_at TIMESTAMPTZ
    );
    """,
    # 4: web sessions ended by log-out (minewatch.store.cases.revoke_session). A session cookie is signed,
    # so without this a copied cookie would stay valid until it expires even after its owner logged out.
    """
    CREATE TABLE IF NOT EXISTS revoked_sessions (
        session_sha256 VARCHAR PRIMARY KEY,
        user_id INTEGER NOT NULL,
        revoked_at TIMESTAMPTZ NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL
    );
    """,
]

_JSON_COLS = ("subscores", "evidence", "impact", "extra")
_TS_COLS = ("first_seen", "last_seen", "onset")

#: The columns `Finding.natural_id` is made of: equal for every row a given id can have, so an upsert
#: leaves them alone (and DuckDB need not touch the indexes on `first_seen` and `src_ip`).
_IDENTITY_COLS = ("finding_id", "detector", "kind", "src_ip", "src_port", "dst_ip", "dst_port", "transport",
                  "first_seen", "meter_id", "source")  # fmt: skip

#: Columns an analyst sets after the scan (`minewatch assess` writes `impact`). A scanner never knows
#: them, so storing the same finding again (a re-upload, `scan --rescan`, a live watch updating its
#: session) keeps what is stored; only a row that has none takes the incoming value.
_ANALYST_COLS = ("impact",)


def upsert_set_clause() -> str:
    """`SET ...` of the findings upsert, for DuckDB and PostgreSQL alike (`EXCLUDED` is the incoming
    row): scanner facts are refreshed, analyst columns and the first `stored_at` are kept, and the
    import a row came from is kept when the incoming row names none."""
    sets = [f"{c} = EXCLUDED.{c}" for c in Store._COLUMNS if c not in _IDENTITY_COLS and c not in _ANALYST_COLS]
    sets += [f"{c} = coalesce(findings.{c}, EXCLUDED.{c})" for c in _ANALYST_COLS]
    sets.append("import_sha256 = coalesce(EXCLUDED.import_sha256, findings.import_sha256)")
    return ", ".join(sets)


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


#: DuckDB shares one database instance per file within a process; a connect racing the close of the
#: file's last connection in another thread fails with "Unique file handle conflict" (seen with the web
#: server's request threads and its scan job). Opening and closing are serialised; queries are not.
_OPEN_CLOSE = threading.Lock()

_WRITE_LOCKS: dict[str, threading.RLock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def write_lock(path: str) -> threading.RLock:
    """The lock every write transaction on the DuckDB file `path` holds in this process, from before
    its BEGIN to after its COMMIT.

    Why: DuckDB allows one writing process, but within it the web server's request threads each have
    their own connection and transaction. Two of them appending to the audit log would each read the
    same last entry and both link to it (a forked hash chain that `verify_audit` reports as tampering),
    and two changing one case would fail with "Conflict on update". Taken before BEGIN, so the
    transaction's snapshot already holds everything the previous writer committed. PostgreSQL needs
    no such lock (several processes write there; `cases.audit` locks the audit table instead).
    A private in-memory database is its own store, so it gets a lock of its own.
    """
    if path == ":memory:":
        return threading.RLock()
    key = str(Path(path).resolve())
    with _WRITE_LOCKS_GUARD:
        lock = _WRITE_LOCKS.get(key)
        if lock is None:
            lock = _WRITE_LOCKS[key] = threading.RLock()
        return lock


#: how long a command waits for a DuckDB file another process holds, unless told (`MINEWATCH_DB_WAIT`)
DEFAULT_WAIT_S = 30.0


def default_wait_s() -> float:
    """`MINEWATCH_DB_WAIT` (seconds) or `DEFAULT_WAIT_S`."""
    import os

    raw = os.environ.get("MINEWATCH_DB_WAIT")
    try:
        return max(0.0, float(raw)) if raw else DEFAULT_WAIT_S
    except ValueError:
        return DEFAULT_WAIT_S


def _lock_holder(message: str) -> str | None:
    """"python3.11, PID 4711: minewatch serve --db x.duckdb" from DuckDB's lock error, when it names
    the process; the command line comes from /proc where the system shows it."""
    import re

    m = re.search(r"held in (.+?) \(PID (\d+)\)", message)
    if not m:
        return None
    exe, pid = m.group(1), m.group(2)
    holder = f"{Path(exe).name}, PID {pid}"
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        cmd = " ".join(" ".join(a.decode(errors="replace") for a in argv if a).split())  # one line
    except OSError:
        cmd = ""
    if cmd:
        holder += ": " + (cmd if len(cmd) <= 120 else cmd[:117] + "...")
    return holder


def _check_duckdb_file(path: str, read_only: bool = False) -> None:
    """Refuse an existing file that is not a DuckDB database before DuckDB opens it.

    Why: DuckDB opens some other files too (a `.csv` or `.parquet` becomes a read-only view of itself),
    so `--db readings.csv` answered "nothing found" from an empty in-memory store instead of saying
    the file is not a store. A DuckDB file carries "DUCK" at byte 8. An empty file (`touch
    store.duckdb`) holds nothing: DuckDB itself refuses it, so it is removed and a new store is made
    in its place when the store is opened for writing.
    """
    if path == ":memory:":
        return
    with contextlib.suppress(OSError):
        if not read_only and os.path.isfile(path) and os.path.getsize(path) == 0:
            os.remove(path)
            return
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
    except FileNotFoundError:
        return
    except IsADirectoryError:
        head = b"dir"
    except OSError:
        return  # unreadable for another reason: DuckDB's own error says which
    if head and head[8:12] != b"DUCK":
        from minewatch.store.backend import StoreUnreadable

        raise StoreUnreadable(path, "")


def open_duckdb(path: str, *, read_only: bool = False, wait_s: float | None = None) -> duckdb.DuckDBPyConnection:
    """A connection to the DuckDB file, waiting up to `wait_s` seconds (default `default_wait_s()`)
    while another process holds it, with a growing pause between tries (50 ms up to 1 s).

    Why wait: the dashboard opens the store for each request and a scan holds it while it stores its
    findings, so each side usually needs the other to let go for well under a second; failing at
    once made `minewatch scan` crash beside a busy dashboard. Why bounded: a process that keeps the
    file (another long scan, a forgotten `duckdb` shell) must end in a clear `StoreBusy` that names
    the file and the holder, not in a hang.
    """
    from minewatch.store.backend import StoreBusy

    _check_duckdb_file(path, read_only)
    wait = default_wait_s() if wait_s is None else max(0.0, float(wait_s))
    deadline = time.monotonic() + wait
    pause = 0.05
    while True:
        try:
            with _OPEN_CLOSE:
                return duckdb.connect(path, read_only=read_only)
        except duckdb.IOException as e:
            if "lock" not in str(e).lower():
                from minewatch.store.backend import StoreUnreadable

                # "exists, but it is not a valid DuckDB database file": a capture or a CSV given as --db
                detail = str(e).split("\n")[0].removeprefix("IO Error: ")
                raise StoreUnreadable(path, "" if "not a valid DuckDB database file" in detail else detail) from None
            left = deadline - time.monotonic()
            if left <= 0:
                raise StoreBusy(path, holder=_lock_holder(str(e)), waited_s=wait) from None
            time.sleep(min(pause, left))
            pause = min(pause * 2, 1.0)


class Store:
    """A DuckDB catalog of findings and imports. One writer process at a time (DuckDB's rule)."""

    def __init__(self, path: str | Path | None = None, *, read_only: bool = False,
                 wait_s: float | None = None) -> None:  # fmt: skip
        """Open (and migrate) the store; a file another process holds is waited for (`open_duckdb`)."""
        if path is None:
            from minewatch.paths import default_db

            path = default_db()
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.write_lock = write_lock(self.path)
        self._tx_depth = 0
        self.con = open_duckdb(self.path, read_only=read_only, wait_s=wait_s)
        if not read_only:
            self._migrate()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction holding the store's write lock (`write_lock`) from before BEGIN to
        after COMMIT or ROLLBACK, so the writers of one process take turns (ids taken as max()+1, the
        audit chain's last entry). A nested call (same thread, same store) joins the outer transaction;
        the lock is re-entrant, so a transaction opened inside another one never waits on itself."""
        with self.write_lock:
            if self._tx_depth:
                self._tx_depth += 1
                try:
                    yield
                finally:
                    self._tx_depth -= 1
                return
            self._tx_depth = 1
            self.con.execute("BEGIN")
            try:
                yield
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            else:
                self.con.execute("COMMIT")
            finally:
                self._tx_depth = 0

    def _stored_version(self) -> int:
        try:
            row = self.con.execute("SELECT max(version) FROM schema_version").fetchone()
        except duckdb.CatalogException:  # a new file: no schema_version table yet
            return 0
        return int(row[0] or 0) if row else 0

    def _migrate(self) -> None:
        """Apply the migrations the file lacks. The version is read without the write lock, so opening
        an up-to-date store (every web request does) never waits behind a running write; the lock is
        taken only when a migration is due, and the version read again under it."""
        if self._stored_version() >= len(MIGRATIONS):
            return
        with self.write_lock:
            self.con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER, applied_at TIMESTAMPTZ)")
            have = self._stored_version()
            for number, sql in enumerate(MIGRATIONS, start=1):
                if number <= have:
                    continue
                with self.transaction():
                    self.con.execute(sql)
                    self.con.execute("INSERT INTO schema_version VALUES (?, ?)", [number, datetime.now(UTC)])

    @property
    def schema_version(self) -> int:
        row = self.con.execute("SELECT max(version) FROM schema_version").fetchone()
        return int(row[0] or 0) if row else 0

    def close(self) -> None:
        with _OPEN_CLOSE:
            self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- import ledger ---------------------------------------------------------------------
    def already_imported(self, sha256: str) -> dict[str, Any] | None:
        row = self.con.execute(
            "SELECT path, imported_at, summary FROM imports WHERE content_sha256 = ?", [sha256]
        ).fetchone()
        if not row:
            return None
        return {"path": row[0], "imported_at": row[1], "summary": json.loads(row[2]) if row[2] else None}

    def imported_size(self, size: int) -> bool:
        """Whether any import had exactly this many bytes: when none did, a file cannot be one already
        imported, and a scan need not wait for its hash before reading it."""
        return self.con.execute("SELECT 1 FROM imports WHERE size_bytes = ? LIMIT 1", [size]).fetchone() is not None

    def record_import(
        self, sha256: str, path: str | Path, size: int, kind: str, summary: dict[str, Any]
    ) -> None:
        self.con.execute(
            "INSERT OR REPLACE INTO imports VALUES (?, ?, ?, ?, ?, ?)",
            [sha256, str(path), size, kind, datetime.now(UTC), json.dumps(summary, default=str)],
        )

    # -- findings ----------------------------------------------------------------------------
    _COLUMNS: Sequence[str] = (
        "finding_id", "kind", "detector", "score", "subscores", "evidence", "source",
        "first_seen", "last_seen", "src_ip", "src_port", "dst_ip", "dst_port", "transport",
        "coin", "algorithm", "variant", "encrypted", "pool_host", "worker", "wallet", "wallet_type",
        "agent", "hashrate_hs", "share_difficulty", "shares_accepted", "shares_rejected", "sni",
        "community_id", "meter_id", "onset", "kw_mining", "machines_est", "site", "impact", "extra",
    )  # fmt: skip

    def add_findings(self, findings: Iterable[Finding], import_sha256: str | None = None) -> int:
        """Upsert findings; returns how many rows were new. A finding stored before keeps its impact
        assessment and the time it was first stored (`upsert_set_clause`)."""
        rows = []
        for f in findings:
            rec = f.to_record()
            row = []
            for c in self._COLUMNS:
                v = rec.get(c)
                if c in _JSON_COLS:
                    v = None if v is None else json.dumps(v, ensure_ascii=False, default=str)
                elif c in _TS_COLS:
                    v = parse_iso(v)
                row.append(v)
            row += [import_sha256, datetime.now(UTC)]
            rows.append(row)
        if not rows:
            return 0
        cols = ", ".join([*self._COLUMNS, "import_sha256", "stored_at"])
        marks = ", ".join(["?"] * (len(self._COLUMNS) + 2))
        sql = f"INSERT INTO findings ({cols}) VALUES ({marks}) ON CONFLICT (finding_id) DO UPDATE SET {upsert_set_clause()}"
        with self.transaction():
            before = self.count()
            self.con.executemany(sql, rows)
            return self.count() - before

    def count(self) -> int:
        row = self.con.execute("SELECT count(*) FROM findings").fetchone()
        return int(row[0]) if row else 0

    def findings(
        self,
        *,
        kind: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        min_score: float | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Finding]:
        sql, params = findings_sql(self._COLUMNS, kind=kind, since=since, until=until, min_score=min_score,
                                   limit=limit, offset=offset)  # fmt: skip
        return [self._row_to_finding(r) for r in self.con.execute(sql, params).fetchall()]

    def findings_of_import(self, sha256: str) -> list[Finding]:
        """Findings stored by one import (to show them again when the same file is scanned twice)."""
        sql, params = findings_sql(self._COLUMNS, import_sha256=sha256)
        return [self._row_to_finding(r) for r in self.con.execute(sql, params).fetchall()]

    def get(self, finding_id: str) -> Finding | None:
        row = self.con.execute(
            f"SELECT {', '.join(self._COLUMNS)} FROM findings WHERE finding_id = ?", [finding_id]
        ).fetchone()
        return self._row_to_finding(row) if row else None

    def set_impact(self, finding_id: str, impact: dict[str, Any]) -> None:
        self.con.execute(
            "UPDATE findings SET impact = ? WHERE finding_id = ?",
            [json.dumps(impact, ensure_ascii=False, default=str), finding_id],
        )

    def _row_to_finding(self, row: Sequence[Any]) -> Finding:
        from minewatch.store.backend import finding_from_row

        return finding_from_row(row)

def findings_sql(
    columns: Sequence[str],
    *,
    kind: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    min_score: float | None = None,
    limit: int | None = None,
    offset: int = 0,
    import_sha256: str | None = None,
) -> tuple[str, list[Any]]:
    """The stored-findings listing as SQL with `?` parameters, shared by the DuckDB and PostgreSQL stores."""
    where: list[str] = []
    params: list[Any] = []
    if import_sha256 is not None:
        where.append("import_sha256 = ?")
        params.append(import_sha256)
    if kind:
        where.append("kind = ?")
        params.append(kind)
    if since:
        where.append("coalesce(last_seen, first_seen, onset) >= ?")
        params.append(since)
    if until:
        where.append("coalesce(first_seen, onset) <= ?")
        params.append(until)
    if min_score is not None:
        where.append("score >= ?")
        params.append(min_score)
    sql = f"SELECT {', '.join(columns)} FROM findings"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY score DESC, first_seen NULLS LAST, finding_id"
    if limit is not None:
        sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
    return sql, params
