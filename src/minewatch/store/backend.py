"""One small database interface over the embedded DuckDB file and a PostgreSQL server.

Why both: one analyst works on a DuckDB file, but DuckDB lets only one process write a file, so a
team (a scanner, an import job and web users at the same time) needs a server. The case tables, the
findings list and the web pages are written once against this interface, with `?` placeholders and
column types that both engines accept; the PostgreSQL side translates the few spellings that differ.

Why open and close per unit of work for DuckDB (see `connect`): a web server that held the file open
would lock every `minewatch scan` out of the store for as long as it runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import duckdb

from minewatch.errors import MinewatchError
from minewatch.model import Finding, parse_iso


class StoreBusy(MinewatchError, duckdb.IOException):
    """The DuckDB file is held by another process (a running scan, the dashboard) for longer than we
    waited; retry later or use PostgreSQL.

    The message is one line that names the file and, when DuckDB says, the process holding it, so a
    command line user sees what to wait for. It is for the operator: the web server answers its
    clients with a generic text instead (a file path and a process id are nothing a client needs).
    It is also a `duckdb.IOException` (DuckDB's lock error, after waiting), so code that catches
    DuckDB's errors to try again later (the live watch keeps its findings for the next write) still does.
    """

    def __init__(self, target: str | Path, *, holder: str | None = None, waited_s: float | None = None) -> None:
        from minewatch.i18n import tr

        self.path = str(target)
        self.holder = holder
        self.waited_s = waited_s
        who = holder or tr("holder unknown", "占用者未知")
        waited = "" if waited_s is None else tr(f"; waited {waited_s:g} s", f"；已等待 {waited_s:g} 秒")
        super().__init__(tr(
            f"the store {self.path} is in use by another process ({who}){waited}. Try again when it has "
            "finished, wait longer with MINEWATCH_DB_WAIT=SECONDS, or use a PostgreSQL store for several "
            "processes at once",
            f"存储 {self.path} 正被另一个进程占用（{who}）{waited}。请待其结束后重试，或用 MINEWATCH_DB_WAIT=秒数 "
            "延长等待，多个进程同时使用时请改用 PostgreSQL 存储"))


class StoreMissing(MinewatchError):
    """A command that only reads the store was pointed at a DuckDB file that does not exist.

    Why an error and not a new empty store: `export` and `findings` on a mistyped `--db` would otherwise
    create the file (and its directories) and answer "nothing found"; an empty blocklist loaded with
    exit status 0 silently lifts every block.
    """

    def __init__(self, path: str | Path) -> None:
        from minewatch.i18n import tr

        self.path = str(path)
        super().__init__(tr(
            f"no store at {self.path} (the file does not exist); check --db or MINEWATCH_DB, "
            "or run `minewatch scan` first to create it",
            f"存储 {self.path} 不存在（没有这个文件）；请检查 --db 或 MINEWATCH_DB，或先运行 `minewatch scan` 创建存储"))


class StoreUnreadable(MinewatchError):
    """The store named by --db / MINEWATCH_DB cannot be opened: a file that is not a DuckDB database (a
    capture given to --db by mistake), or a PostgreSQL server that refuses or cannot be reached.

    Why its own error: both used to end the command in a driver traceback; the user needs one line
    naming the store and what to check, and the command's other errors keep their meaning."""

    def __init__(self, target: str, reason: str) -> None:
        from minewatch.i18n import tr

        self.target, self.reason = target, reason
        if is_postgres_url(target):
            shown = _redact_url(target)
            text = tr(f"cannot reach the PostgreSQL store {shown}: {reason}; check the URL, the server and the "
                      "credentials", f"无法连接 PostgreSQL 存储 {shown}：{reason}；请检查地址、服务器和凭据")
        else:
            why = f" ({reason})" if reason else ""
            text = tr(f"{target} is not a minewatch store (not a DuckDB database file){why}; check --db or "
                      "MINEWATCH_DB", f"{target} 不是 minewatch 存储（不是 DuckDB 数据库文件）{why}；"
                      "请检查 --db 或 MINEWATCH_DB")
        super().__init__(text)


def _redact_url(url: str) -> str:
    """A PostgreSQL URL without its password (error lines end up in logs and screenshots)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ""
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


def _require_store_file(target: str | Path | None) -> None:
    """Raise `StoreMissing` unless the DuckDB file `target` (default: the per-user store) exists."""
    if target is not None and str(target) == ":memory:":
        return
    if target is None:
        from minewatch.paths import default_db

        target = default_db()
    if not Path(target).is_file():
        raise StoreMissing(target)


class Db(Protocol):
    dialect: str

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None: ...

    def tx(self) -> Any: ...

    def add_findings(self, findings: Iterable[Finding], import_sha256: str | None = None) -> int: ...

    def close(self) -> None: ...


def jload(v: Any) -> Any:
    """JSON columns come back as text from DuckDB and as objects from PostgreSQL."""
    if v is None or not isinstance(v, str | bytes):
        return v
    return json.loads(v)


def jdump(v: Any) -> str | None:
    return None if v is None else json.dumps(v, ensure_ascii=False, default=str, sort_keys=True)


def utc(v: Any) -> datetime | None:
    if v is None:
        return None
    if isinstance(v, datetime):
        return v.astimezone(UTC) if v.tzinfo else v.replace(tzinfo=UTC)
    return parse_iso(str(v))


class DuckDb:
    """The embedded store (a `minewatch.store.Store`), seen through the common interface."""

    dialect = "duckdb"

    def __init__(self, store: Any) -> None:
        self.store = store
        self.con = store.con

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = self.con.execute(sql, list(params))
        try:
            return cur.fetchall()
        except Exception:  # statements without a result set
            return []

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        return self.con.execute(sql, list(params)).fetchone()

    @contextmanager
    def tx(self) -> Iterator[None]:
        """One transaction (`Store.transaction`): nested calls join the outer one, and the outermost
        holds the store's write lock (`minewatch.store.write_lock`) from before BEGIN to after COMMIT,
        so the writers of one process take turns: the audit chain gets one end, and a case read and
        changed in here is not changed by another request in between."""
        with self.store.transaction():
            yield

    def add_findings(self, findings: Iterable[Finding], import_sha256: str | None = None) -> int:
        return int(self.store.add_findings(findings, import_sha256=import_sha256))

    def close(self) -> None:
        self.store.close()


_PG_TYPES = [(re.compile(r"\bDOUBLE\b(?! PRECISION)"), "DOUBLE PRECISION")]


def pg_sql(sql: str) -> str:
    """DuckDB-flavoured DDL/DML to PostgreSQL: `?` to `%s`, DOUBLE to DOUBLE PRECISION."""
    for pat, rep in _PG_TYPES:
        sql = pat.sub(rep, sql)
    return sql.replace("%", "%%").replace("?", "%s")


class PgDb:
    """A PostgreSQL server with the same tables, applied by the same numbered migrations."""

    dialect = "postgres"

    def __init__(self, dsn: str) -> None:
        import psycopg

        self.dsn = dsn
        try:
            self.con = psycopg.connect(dsn, autocommit=True)
        except psycopg.OperationalError as e:
            # the driver's message names host, port and the cause; its first line is the useful part
            raise StoreUnreadable(dsn, str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__) from None
        self._tx: Any = None
        self.migrate()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = self.con.execute(pg_sql(sql), list(params))  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        rows = self.execute(sql, params)
        return rows[0] if rows else None

    @contextmanager
    def tx(self) -> Iterator[None]:
        with self.con.transaction():
            yield

    def migrate(self) -> None:
        from minewatch.store import MIGRATIONS

        self.con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER, applied_at TIMESTAMPTZ)")
        with self.con.transaction():
            # One migrator at a time: a scanner and the web server may start together.
            self.con.execute("SELECT pg_advisory_xact_lock(727001)")
            row = self.con.execute("SELECT max(version) FROM schema_version").fetchone()
            have = int(row[0] or 0) if row else 0
            for number, sql in enumerate(MIGRATIONS, start=1):
                if number <= have:
                    continue
                for stmt in _statements(sql):
                    self.con.execute(pg_sql(stmt).replace("%%", "%"))  # DDL takes no parameters
                self.con.execute(
                    "INSERT INTO schema_version VALUES (%s, %s)", [number, datetime.now(UTC)]
                )

    @property
    def schema_version(self) -> int:
        row = self.one("SELECT max(version) FROM schema_version")
        return int(row[0] or 0) if row else 0

    def add_findings(self, findings: Iterable[Finding], import_sha256: str | None = None) -> int:
        """Upsert, as `Store.add_findings` does (analyst columns and the first `stored_at` kept)."""
        from minewatch.store import _JSON_COLS, _TS_COLS, Store, upsert_set_clause

        cols = [*Store._COLUMNS, "import_sha256", "stored_at"]
        rows = []
        for f in findings:
            rec = f.to_record()
            row: list[Any] = []
            for c in Store._COLUMNS:
                v = rec.get(c)
                if c in _JSON_COLS:
                    v = jdump(v)
                elif c in _TS_COLS:
                    v = parse_iso(v)
                row.append(v)
            rows.append([*row, import_sha256, datetime.now(UTC)])
        if not rows:
            return 0
        sql = (
            f"INSERT INTO findings ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))}) "
            f"ON CONFLICT (finding_id) DO UPDATE SET {upsert_set_clause()} RETURNING (xmax = 0)"
        )
        new = 0
        with self.con.transaction(), self.con.cursor() as cur:
            for r in rows:
                cur.execute(sql, r)
                got = cur.fetchone()
                new += 1 if got and got[0] else 0
        return new

    def close(self) -> None:
        self.con.close()


def _statements(sql: str) -> list[str]:
    return [s.strip() for s in sql.split(";") if s.strip()]


def is_postgres_url(target: str | Path | None) -> bool:
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def connect(
    target: str | Path | None = None, *, read_only: bool = False, wait_s: float | None = None, must_exist: bool = False
) -> Db:
    """Open the store named by `target`: a PostgreSQL URL, a DuckDB file, or the default file.

    A DuckDB file held by another process is retried for `wait_s` seconds (default `MINEWATCH_DB_WAIT`,
    else 30 s: a command waits for the dashboard or a scan to let go), then `StoreBusy`. The web
    server passes a short wait per request and answers 503 when it runs out. With `must_exist`
    (commands that only read) a missing DuckDB file is `StoreMissing` instead of being created;
    commands that write create it on first use.
    """
    if is_postgres_url(target):
        return PgDb(str(target))
    if must_exist:
        _require_store_file(target)
    from minewatch.store import Store

    return DuckDb(Store(target, read_only=read_only, wait_s=wait_s))


def imported(db: Db, sha256: str) -> dict[str, Any] | None:
    """The import ledger's entry for content `sha256` (path it came from, when, summary), or None; on
    either backend (the web upload job checks it before it scans, as `minewatch scan` does)."""
    row = db.one("SELECT path, imported_at, summary FROM imports WHERE content_sha256 = ?", [sha256])
    if not row:
        return None
    return {"path": row[0], "imported_at": utc(row[1]), "summary": jload(row[2])}


def record_import(db: Db, sha256: str, path: str | Path, size: int, kind: str, summary: dict[str, Any]) -> None:
    """Enter content `sha256` in the import ledger (replacing an older entry), on either backend."""
    db.execute(
        "INSERT INTO imports VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (content_sha256) DO UPDATE SET "
        "path = EXCLUDED.path, size_bytes = EXCLUDED.size_bytes, kind = EXCLUDED.kind, "
        "imported_at = EXCLUDED.imported_at, summary = EXCLUDED.summary",
        [sha256, str(path), size, kind, datetime.now(UTC), jdump(summary)],
    )


class _PgCursor:
    def __init__(self, cur: Any) -> None:
        self._cur = cur

    def fetchone(self) -> Any:
        return self._cur.fetchone() if self._cur.description else None

    def fetchall(self) -> list[Any]:
        return self._cur.fetchall() if self._cur.description else []


class _PgCon:
    """Just enough of a DuckDB connection (`execute(sql, params)` with `?`) for the store helpers
    written against `Store.con` (the allow-list tables), so they run unchanged on PostgreSQL."""

    def __init__(self, con: Any) -> None:
        self._con = con

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> _PgCursor:
        return _PgCursor(self._con.execute(pg_sql(sql), list(params or [])))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._con.cursor() as cur:
            cur.executemany(pg_sql(sql), [list(r) for r in rows])


class _StoreLike:
    def __init__(self, con: Any, db: Any) -> None:
        self.con = con
        self._db = db

    def transaction(self) -> Any:
        """The `Store.transaction` of `minewatch.store.intel_tables`: the server's transaction."""
        return self._db.tx()


def as_db(store: Any) -> Db:
    """The `Db` behind a store `open_store` gave (for `store.cases`, which is written against `Db`)."""
    return store.db if isinstance(store, PgStore) else DuckDb(store)


def store_like(db: Db) -> Any:
    """An object with `.con` for `minewatch.store.intel_tables` functions, on either backend."""
    if isinstance(db, DuckDb):
        return db.store
    return _StoreLike(_PgCon(db.con), db)  # type: ignore[attr-defined]


def finding_from_row(row: Sequence[Any]) -> Finding:
    """A findings-table row (columns `Store._COLUMNS`) as a Finding, from either backend."""
    from minewatch.store import _JSON_COLS, _TS_COLS, Store

    d = dict(zip(Store._COLUMNS, row, strict=True))
    for c in _JSON_COLS:
        d[c] = jload(d[c])
    for c in _TS_COLS:
        d[c] = utc(d[c])
    d["extra"] = d["extra"] or {}
    if d.get("encrypted") is not None:
        d["encrypted"] = bool(d["encrypted"])
    return Finding.from_record(d)


class PgStore:
    """What a scan needs of `Store` (import ledger, findings, the intel and allow-list tables through
    `.con`), on a team's PostgreSQL server. Why: a team runs scans while the web server and other
    analysts use the same catalogue; one DuckDB file takes only one writing process, a server takes all."""

    path: str | None = None

    def __init__(self, url: str) -> None:
        self.url = url
        self.db = PgDb(url)
        self.con = _PgCon(self.db.con)

    def transaction(self) -> Any:
        """A transaction on the server, as `Store.transaction` gives on DuckDB (for `intel_tables`)."""
        return self.db.tx()

    def __enter__(self) -> PgStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def already_imported(self, sha256: str) -> dict[str, Any] | None:
        row = self.db.one("SELECT path, imported_at, summary FROM imports WHERE content_sha256 = ?", [sha256])
        if not row:
            return None
        return {"path": row[0], "imported_at": utc(row[1]), "summary": jload(row[2])}

    def imported_size(self, size: int) -> bool:
        """As `Store.imported_size`: whether any import had exactly this many bytes."""
        return self.db.one("SELECT 1 FROM imports WHERE size_bytes = ? LIMIT 1", [size]) is not None

    def record_import(self, sha256: str, path: str | Path, size: int, kind: str, summary: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO imports VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (content_sha256) DO UPDATE SET "
            "path = EXCLUDED.path, size_bytes = EXCLUDED.size_bytes, kind = EXCLUDED.kind, "
            "imported_at = EXCLUDED.imported_at, summary = EXCLUDED.summary",
            [sha256, str(path), size, kind, datetime.now(UTC), jdump(summary)],
        )

    def add_findings(self, findings: Iterable[Finding], import_sha256: str | None = None) -> int:
        return self.db.add_findings(findings, import_sha256=import_sha256)

    def findings(self, **filters: Any) -> list[Finding]:
        """Same filters as `Store.findings` (kind, since, until, min_score, limit, offset)."""
        from minewatch.store import Store, findings_sql

        sql, params = findings_sql(Store._COLUMNS, **filters)
        return [finding_from_row(r) for r in self.db.execute(sql, params)]

    def findings_of_import(self, sha256: str) -> list[Finding]:
        return self.findings(import_sha256=sha256)

    def get(self, finding_id: str) -> Finding | None:
        """One finding by id, as `Store.get` (for `assess finding` on a team's server)."""
        from minewatch.store import Store

        row = self.db.one(f"SELECT {', '.join(Store._COLUMNS)} FROM findings WHERE finding_id = ?", [finding_id])
        return finding_from_row(row) if row else None

    def set_impact(self, finding_id: str, impact: dict[str, Any]) -> None:
        self.db.execute("UPDATE findings SET impact = ? WHERE finding_id = ?", [jdump(impact), finding_id])

    def close(self) -> None:
        self.db.close()


def open_store(target: str | Path | None, *, must_exist: bool = False, wait_s: float | None = None) -> Any:
    """The store a scan writes to: `Store` on a DuckDB file (default: the per-user one) or `PgStore` on a
    postgresql:// URL; `MINEWATCH_DB` names it when the command line does not.

    `must_exist=True` is for commands that only read (`export`, `findings`): a DuckDB file that is not
    there raises `StoreMissing` naming the path, instead of a new empty store being created.

    A DuckDB file another process holds (the dashboard between two requests, another scan) is waited
    for, up to `wait_s` seconds (default `MINEWATCH_DB_WAIT`, else 30 s), then `StoreBusy`: one line
    naming the file and the holder.
    """
    import os

    from minewatch.store import Store

    target = target or os.environ.get("MINEWATCH_DB") or None
    if target is not None and is_postgres_url(str(target)):
        return PgStore(str(target))
    if must_exist:
        _require_store_file(target)
    return Store(Path(target) if target is not None else None, wait_s=wait_s)


def open_store_for_cli(target: str | Path | None, *, must_exist: bool = False, wait_s: float | None = None) -> Any:
    """`open_store` for a command: a store that stays busy, or is missing when it must exist, ends the
    command with one line on stderr (`error: the store X is in use by another process (python3.11,
    PID 4711: minewatch serve ...)...`) and exit status 2, instead of a traceback."""
    import sys

    from minewatch.i18n import error_line

    try:
        return open_store(target, must_exist=must_exist, wait_s=wait_s)
    except (StoreBusy, StoreMissing, StoreUnreadable) as e:
        print(error_line(str(e)), file=sys.stderr)
        raise SystemExit(2) from None


def connect_for_cli(target: str | Path | None, *, read_only: bool = False, must_exist: bool = False) -> Db:
    """`connect` for a command (sites, cases, users, intel): the same one-line error and exit status 2
    as `open_store_for_cli` when the store is busy, missing or not a store, instead of a traceback."""
    import sys

    from minewatch.i18n import error_line

    try:
        return connect(target, read_only=read_only, must_exist=must_exist)
    except (StoreBusy, StoreMissing, StoreUnreadable) as e:
        print(error_line(str(e)), file=sys.stderr)
        raise SystemExit(2) from None
